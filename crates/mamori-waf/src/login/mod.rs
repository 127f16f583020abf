//! Login protection.
