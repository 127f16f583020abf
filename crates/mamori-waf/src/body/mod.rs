//! Request body processors.
