//! External website diagnosis: `mamori scan URL`.
//!
//! Scans a company's own website and host from outside, as an attacker or a search engine
//! would see them, and explains each problem in Japanese and English with the fix:
//! TLS versions and certificates, HTTPS redirect and HSTS, security headers and cookie
//! flags, exposed files (with soft-404 detection), directory listings, admin and VPN login
//! pages, software versions against a vulnerability data file, exposed network services,
//! personal data on indexable pages, the mail domain's SPF and DMARC, and extra checks
//! written as Nuclei-style HTTP templates.
//!
//! What it does not do: attack (no payloads, no logins, no fuzzing), crawl deeply (the
//! start page and the pages it links to), or send anything to a host other than the
//! target's (redirects to other hosts are not followed). Every request is rate limited,
//! counted against a budget and identified by its User-Agent.
//!
//! Input comes from the network and is treated as hostile: bodies, banners, TLS records
//! and DNS answers are read with bounds and timeouts, and parsed by the pure decoders in
//! [`wire`]. Storing findings as alerts and showing scans is the binary's and console's
//! job; this crate returns a [`ScanReport`].

pub mod catalog;
pub mod checks;
pub mod config;
pub mod error;
pub mod finding;
pub mod http;
pub mod limiter;
pub mod scanner;
pub mod templates;
pub mod vulndb;
pub mod wire;

pub use config::{ScanConfig, Service, USER_AGENT};
pub use error::Error;
pub use finding::{diff, Diff, Finding, Lang, ScanReport};
pub use scanner::{parse_target, Phase, Progress, Scanner};
pub use vulndb::{update_db, VulnDb};
