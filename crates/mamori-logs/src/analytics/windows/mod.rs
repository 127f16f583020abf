//! Windows event log analytics (Security, System and a few operational channels), reading the
//! flattened field names of `event.rs` (`TargetUserName`, `IpAddress`, `LogonType`...).
//!
//! One file per family: [`logon`] (brute force, spraying, success after failures, lockouts),
//! [`accounts`] (new users, privileged groups), [`tamper`] (log cleared, new services),
//! [`rdp`], [`dcsync`], [`files`] (ransomware-like deletions, device then mass reads).
//! Sysmon and PowerShell content is left to Sigma rules.

pub mod accounts;
pub mod dcsync;
pub mod files;
pub mod logon;
pub mod rdp;
pub mod tamper;

use super::{Analytic, AnalyticsConfig, Shared};
use crate::event::Event;

/// Every event id a Windows analytic reads (a hunt keeps only these for the ordered pass).
pub const EVENT_IDS: &[u32] = &[
    104, 1102, 1149, 2003, 2100, 4624, 4625, 4648, 4662, 4663, 4697, 4720, 4728, 4732, 4740, 4756,
    4771, 4776, 5145, 6416, 7045,
];

pub(crate) fn build(config: &AnalyticsConfig, shared: &Shared) -> Vec<Box<dyn Analytic>> {
    vec![
        Box::new(logon::Logons::new(config)),
        Box::new(accounts::Accounts::new(config)),
        Box::new(tamper::Tamper::new(config)),
        Box::new(rdp::Rdp::new(config, shared)),
        Box::new(dcsync::DcSync::new(config)),
        Box::new(files::Files::new(config)),
    ]
}

/// A field's value, or `None` when absent or one of Windows' placeholders (`-`, empty, `NULL`).
pub(crate) fn field<'a>(ev: &'a Event, name: &str) -> Option<&'a str> {
    ev.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-" && !v.eq_ignore_ascii_case("NULL"))
}

/// `DOMAIN\user` (or `user`) from two fields, as written, for display and keys.
pub(crate) fn account(ev: &Event, user: &str, domain: &str) -> Option<String> {
    let u = field(ev, user)?;
    Some(match field(ev, domain) {
        Some(d) => format!("{d}\\{u}"),
        None => u.to_string(),
    })
}

/// A key for an account: case-insensitive, and `EXAMPLE.CORP\bob` the same as `EXAMPLE\bob`
/// (Windows writes the NetBIOS or the DNS domain depending on the event).
pub(crate) fn account_key(ev: &Event, user: &str) -> Option<String> {
    field(ev, user).map(str::to_lowercase)
}

/// Machine accounts end with `$`.
pub(crate) fn is_machine(user: &str) -> bool {
    user.ends_with('$')
}

/// The event's host, for keys and display.
pub(crate) fn host(ev: &Event) -> String {
    ev.host.clone().unwrap_or_else(|| "?".to_string())
}

/// `0x10000` (or a decimal) as a number.
pub(crate) fn hex(v: &str) -> Option<u64> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Where a logon attempt came from: the address, else the workstation name.
pub(crate) fn logon_source(ev: &Event) -> Option<String> {
    if let Some(ip) = field(ev, "IpAddress") {
        return Some(match super::addr::parse_ip(ip) {
            Some(a) => a.to_string(),
            None => ip.to_string(),
        });
    }
    field(ev, "WorkstationName")
        .or_else(|| field(ev, "Workstation"))
        .map(|w| w.trim_start_matches('\\').to_string())
}
