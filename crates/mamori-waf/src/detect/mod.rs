//! SQLi/XSS detection.
