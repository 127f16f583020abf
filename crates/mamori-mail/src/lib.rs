//! # mamori-mail
//!
//! Mamori's mail engine. This crate reads one RFC 5322 message and says what to do with it:
//! deliver it, tag its subject, quarantine or reject it (inbound), or deliver it, rewrite its
//! visible recipients to Bcc, hold it for approval or delay it (outbound). Every decision
//! comes with [`Reason`]s: a stable code such as `mail.display_name_spoof`, a score, and one
//! plain sentence in Japanese and one in English that names the trick, so that an office
//! manager without a security team understands why a mail was stopped.
//!
//! The stages, one module each:
//! - [`mime`]: a bounded walker over the parsed message (mail-parser) that yields the
//!   headers, decoded bodies and attachments the checks need;
//! - [`content`]: pure parsers for what attachments contain — ZIP (including encryption
//!   flags), OLE/CFB compound files, magic bytes, and text from CSV, XLSX, DOCX, PPTX and PDF;
//! - [`inbound`]: one file per check against Emotet-style and targeted-attack mail;
//! - [`outbound`]: one file per guard against misdelivery and leaks of personal data;
//! - [`auth`]: SPF, DKIM, DMARC and ARC through `mail-auth`, with a resolver that tests can
//!   point at a local zone.
//!
//! - [`gateway`]: the SMTP gateway's handler (on `mamori-smtp`): check, act on the verdict,
//!   spool, answer;
//! - [`queue`]: the durable spool (fsync before `250`), delivery with retries, bounces, and
//!   the held/quarantined mail a person releases or deletes.
//!
//! What it does not do: speak SMTP itself (`mamori-smtp` does) or store alerts (the gateway
//! publishes [`Report::alerts`] on the bus; the binary wires the bus to the store). Input comes from the SMTP gateway or from `mamori mail check FILE.eml`; it is
//! untrusted, so every parser here has size, count and depth limits ([`policy::Limits`]) and
//! [`check`] returns a [`Report`] or an [`Error`] for any bytes, never a panic.

pub mod auth;
pub mod content;
pub mod domain;
mod error;
pub mod gateway;
pub mod inbound;
pub mod mime;
pub mod notice;
pub mod outbound;
pub mod policy;
pub mod queue;
pub mod report;
pub mod takeover;

pub use auth::{authenticate, AuthResults, AuthStatus, LocalZone, Resolver};
pub use error::Error;
pub use policy::{CheckContext, Direction, Limits, OutboundAction, PiiThresholds, Policy};
pub use report::{AttachmentSummary, Reason, Report, Verdict};

/// Analyses one raw message in the given direction and returns the verdict with its reasons.
///
/// The message is parsed once, its attachments are opened within `policy.limits`, and the
/// checks of the direction run over the result. Errors are reserved for input that is not a
/// mail at all (empty, over the size limit, no header); anything odd inside a mail becomes a
/// reason or a note in the report instead, so that nothing is lost.
pub fn check(
    raw: &[u8],
    direction: Direction,
    policy: &Policy,
    ctx: &CheckContext,
) -> Result<Report, Error> {
    let mut mail = mime::Mail::parse(raw, &policy.limits)?;
    let files = content::inspect_attachments(std::mem::take(&mut mail.attachments), &policy.limits);
    let reasons = match direction {
        Direction::Inbound => inbound::run(&mail, &files, policy, ctx),
        Direction::Outbound => outbound::run(&mail, &files, policy, ctx),
    };
    Ok(Report::new(direction, &mail, &files, reasons, policy, ctx))
}
