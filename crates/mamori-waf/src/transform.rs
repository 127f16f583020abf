//! Transformations.
