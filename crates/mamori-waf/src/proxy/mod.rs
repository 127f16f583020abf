//! Reverse proxy.
