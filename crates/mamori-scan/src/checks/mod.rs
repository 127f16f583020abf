//! One module per check family. Each takes responses (or makes its own requests through
//! the [`crate::http::Http`] gate) and returns findings; the pure parts are unit-tested here.

pub mod admin;
pub mod exposure;
pub mod headers;
pub mod mail;
pub mod personal_data;
pub mod services;
pub mod soft404;
pub mod software;
pub mod tls;
