//! Mamori log analytics.
//!
//! Turns the logs a small company already has — Windows event logs (EVTX, or exported as XML or
//! JSON), syslog, web server and proxy access logs, `auth.log`, Postfix/Dovecot and
//! firewall kernel lines — into one normalized [`event::Event`] each, and reads them with
//! two kinds of detection: **Sigma rules** ([`sigma`], SigmaHQ's rule format including
//! correlation rules) and **built-in analytics** ([`analytics`]: brute force, spraying,
//! ransomware-like file bursts, beaconing, credential stuffing... one detection per episode).
//!
//! Input comes from files (read once for an investigation, or followed like `tail -F`,
//! [`follow`]) and from syslog listeners ([`listen`]). This crate does no storage and no
//! output formatting: the `mamori` binary writes the timeline and the alerts.

pub mod analytics;
pub mod detection;
pub mod event;
pub mod follow;
pub mod listen;
pub mod reader;
pub mod sigma;

pub use detection::{Detection, Level, RecordRef};
pub use event::{Event, Fields, Origin, SourceKind};
