//! go-ftw tests.
