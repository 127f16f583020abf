//! Audit log records.
