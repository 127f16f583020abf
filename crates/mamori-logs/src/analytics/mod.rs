//! Built-in analytics (owned by the analytics work; see lib.rs).
