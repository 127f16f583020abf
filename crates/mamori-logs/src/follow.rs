//! Following files like tail -F.
