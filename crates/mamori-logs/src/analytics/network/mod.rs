//! Network log analytics over firewall, proxy (Squid), authentication and JSON-lines events:
//! [`beacon`] (regular callbacks to one destination), [`upload`] (large uploads to a rare new
//! external destination), [`blocklist`] (listed addresses and domains, Windows network events
//! included) and [`auth`] (SSH/VPN/mail brute force and success after failures).
//!
//! Reads `src_ip`, `dst_ip`, `dst_host`, `bytes`, `bytes_out`, `action`, `user`, `program`;
//! web server access logs are the [`super::web`] analytics' business.

pub mod auth;
pub mod beacon;
pub mod blocklist;
pub mod upload;

use super::{Analytic, AnalyticsConfig, ConfigError, Shared};
use crate::event::{Event, SourceKind};

pub(crate) fn build(
    config: &AnalyticsConfig,
    shared: &Shared,
    errors: &mut Vec<ConfigError>,
) -> Vec<Box<dyn Analytic>> {
    vec![
        Box::new(beacon::Beacons::new(config, shared, errors)),
        Box::new(upload::Uploads::new(config, shared)),
        Box::new(blocklist::Blocklist::new(config, errors)),
        Box::new(auth::AuthBrute::new(config)),
    ]
}

/// Connection-like logs (a destination per record).
pub(crate) fn is_flow(ev: &Event) -> bool {
    matches!(
        ev.source,
        SourceKind::Firewall | SourceKind::Squid | SourceKind::JsonLines
    )
}

/// A non-empty, non-placeholder field.
pub(crate) fn field<'a>(ev: &'a Event, name: &str) -> Option<&'a str> {
    ev.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-")
}

/// The destination of a flow: the host name the proxy was asked for, else the address.
pub(crate) fn destination(ev: &Event) -> Option<String> {
    field(ev, "dst_host")
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .or_else(|| field(ev, "dst_ip").map(str::to_string))
}

/// A byte count field.
pub(crate) fn number(ev: &Event, name: &str) -> Option<u64> {
    field(ev, name).and_then(|v| v.parse::<u64>().ok())
}
