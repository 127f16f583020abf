//! Sigma engine (owned by the Sigma work; see lib.rs).
