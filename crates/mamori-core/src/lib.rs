//! # mamori-core
//!
//! The vocabulary every Mamori engine and the console share. An engine (IDS, WAF, mail,
//! logs, scan, drill) turns what it sees into an [`Alert`]; the store keeps alerts and the
//! [`Incident`]s they are correlated into; the console shows both. Nothing here does I/O
//! except reading the configuration file in [`config`].
//!
//! What lives here:
//! - [`alert`]: the one alert shape for every engine, with ULID ids, [`Severity`],
//!   [`Engine`], endpoints, the affected [`Asset`] and JSON evidence.
//! - [`eve`]: reading Suricata EVE `alert` records into that shape, so an existing
//!   Suricata can feed the console.
//! - [`incident`]: incidents, their states and allowed transitions, and timeline entries.
//! - [`tenant`]: tenants, users and roles, and the [`Scope`] every query is limited to.
//! - [`config`]: `mamori.toml`, with a default for every key and errors that name the file,
//!   line and key.

pub mod alert;
pub mod bus;
pub mod config;
pub mod eve;
pub mod incident;
#[doc(hidden)]
pub mod scratch;
pub mod sign;
pub mod tenant;

pub use alert::{Alert, Asset, AssetKind, Endpoint, Engine, Severity};
pub use incident::{Incident, IncidentState, TimelineEntry, TimelineKind};
pub use tenant::{Role, Scope, Tenant, User};
pub use ulid::Ulid;

/// Milliseconds since the Unix epoch: how times are stored and compared.
pub fn unix_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    unix_ms(time::OffsetDateTime::now_utc())
}

/// The inverse of [`unix_ms`]; out-of-range values clamp to the epoch.
pub fn from_unix_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Checks a tenant name: 1–63 characters of `a-z 0-9 -`, starting with a letter or digit.
/// Names are used in URLs, config and the CLI, so they stay plain.
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}
