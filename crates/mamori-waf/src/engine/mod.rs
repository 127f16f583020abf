//! Rule engine.
