//! The request as the engine sees it.
