//! Log readers (owned by the readers work; see lib.rs).
