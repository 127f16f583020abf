//! Web server access log analytics (nginx/Apache, `SourceKind::WebAccess`): [`stuffing`]
//! (credential stuffing on login URLs), [`scanner`] (404 storms and known scanner agents) and
//! [`injection`] (obvious SQL injection and XSS signatures in URLs).
//!
//! Reads `src_ip`, `method`, `uri`, `path`, `status`, `user`, `user_agent`. The WAF
//! (`mamori-waf`) is the real request inspection; these analytics read what already happened.

pub mod injection;
pub mod scanner;
pub mod stuffing;

use super::{Analytic, AnalyticsConfig, Shared};
use crate::event::{Event, SourceKind};

pub(crate) fn build(config: &AnalyticsConfig, _shared: &Shared) -> Vec<Box<dyn Analytic>> {
    vec![
        Box::new(stuffing::Stuffing::new(config)),
        Box::new(scanner::Scanners::new(config)),
        Box::new(injection::Injections::new(config)),
    ]
}

/// A web access event's client address, if it is one.
pub(crate) fn client(ev: &Event) -> Option<&str> {
    if ev.source != SourceKind::WebAccess {
        return None;
    }
    ev.get("src_ip")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
}

/// The request path without the query.
pub(crate) fn path(ev: &Event) -> Option<&str> {
    ev.get("path")
        .or_else(|| ev.get("uri").map(|u| u.split('?').next().unwrap_or(u)))
}

pub(crate) fn status(ev: &Event) -> Option<u16> {
    ev.get("status").and_then(|s| s.trim().parse().ok())
}
