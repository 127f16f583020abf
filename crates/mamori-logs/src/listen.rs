//! Syslog listeners.
