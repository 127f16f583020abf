//! Mamori WAF: a reverse proxy for the company website that runs the OWASP Core Rule Set.
//!
//! - [`seclang`] parses ModSecurity's rule language (SecLang) as CRS v3/v4 write it, with
//!   errors that name file, line and word; pure, no I/O but reading the included files.
//! - [`engine`] compiles the parsed rules once (regexes, phrase sets, prefilters) and runs a
//!   [`engine::Transaction`] per request through the phases: request headers, request
//!   body, response headers, response body, logging; anomaly scoring and paranoia levels
//!   come from the rules themselves, as in CRS.
//! - [`transform`] and [`operator`] are the transformations (`t:lowercase`...) and operators
//!   (`@rx`, `@pm`, `@detectSQLi`...) the rules use; [`detect`] is our own SQL-injection and
//!   XSS detection (the job libinjection does for ModSecurity).
//! - [`body`] parses request bodies (urlencoded, multipart, JSON, XML) into the variables.
//! - [`ftw`] reads go-ftw regression tests (CRS's test format).
//! - [`proxy`] is the hyper reverse proxy; [`login`] the login protection against credential
//!   stuffing; [`audit`] the audit log record.

pub mod audit;
pub mod body;
pub mod detect;
pub mod engine;
pub mod error;
pub mod ftw;
pub mod login;
pub mod operator;
pub mod proxy;
pub mod request;
pub mod seclang;
pub mod transform;

pub use error::Error;
