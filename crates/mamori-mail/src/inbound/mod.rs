//! Inbound analysis: the checks that run on mail arriving from the internet.
//!
//! One file per check, each with a stable code, a default score (overridable in the
//! policy), and sentences in Japanese and English that name the trick:
//!
//! | code | file |
//! | --- | --- |
//! | `mail.spf_fail`, `mail.dkim_fail`, `mail.dmarc_fail` | [`authentication`] |
//! | `mail.display_name_spoof` | [`display_name`] |
//! | `mail.reply_to_mismatch` | [`reply_to`] |
//! | `mail.lookalike_domain` | [`lookalike`] |
//! | `mail.thread_hijack` | [`thread_hijack`] |
//! | `mail.encrypted_zip` | [`encrypted_zip`] |
//! | `mail.nested_archive` | [`nested_archive`] |
//! | `mail.rar_7z` | [`rar_7z`] |
//! | `mail.office_macro` | [`office_macro`] |
//! | `mail.executable` | [`executable`] |
//! | `mail.script` | [`script`] |
//! | `mail.lnk` | [`lnk`] |
//! | `mail.disk_image` | [`disk_image`] |
//! | `mail.html_smuggling` | [`html_smuggling`] |
//! | `mail.double_extension` | [`double_extension`] |
//! | `mail.type_mismatch` | [`type_mismatch`] |
//! | `mail.link_mismatch` | [`link_mismatch`] |
//! | `mail.virus` | [`clamav`] (result of a clamd scan done by the gateway) |
//!
//! The scores add up; the policy's thresholds turn the sum into tag, quarantine or reject.
//! Defaults are set so that one strong sign (a program, a shortcut) quarantines alone and
//! the Emotet pattern (spoofed colleague + "RE:" + encrypted zip) does too.

pub mod authentication;
pub mod clamav;
pub mod disk_image;
pub mod display_name;
pub mod double_extension;
pub mod encrypted_zip;
pub mod executable;
pub mod html_smuggling;
pub mod link_mismatch;
pub mod lnk;
pub mod lookalike;
pub mod nested_archive;
pub mod office_macro;
pub mod rar_7z;
pub mod reply_to;
pub mod script;
pub mod thread_hijack;
pub mod type_mismatch;

use crate::content::{File, Files, Kind};
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

/// Runs every inbound check.
pub fn run(mail: &Mail, files: &Files, policy: &Policy, ctx: &CheckContext) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(auth) = &ctx.auth {
        reasons.extend(authentication::check(auth, policy));
    }
    reasons.extend(clamav::check(ctx, policy));
    reasons.extend(display_name::check(mail, policy, ctx));
    reasons.extend(reply_to::check(mail, policy, ctx));
    reasons.extend(lookalike::check(mail, policy, ctx));
    reasons.extend(thread_hijack::check(mail, policy, ctx));
    reasons.extend(encrypted_zip::check(files, policy));
    reasons.extend(nested_archive::check(files, policy));
    reasons.extend(rar_7z::check(files, policy));
    reasons.extend(office_macro::check(files, policy));
    reasons.extend(executable::check(files, policy));
    reasons.extend(script::check(files, policy));
    reasons.extend(lnk::check(files, policy));
    reasons.extend(disk_image::check(files, policy));
    reasons.extend(html_smuggling::check(files, policy));
    reasons.extend(double_extension::check(files, policy));
    reasons.extend(type_mismatch::check(files, policy));
    reasons.extend(link_mismatch::check(mail, policy));
    reasons
}

/// Files whose names mean something: not the internal parts of an OOXML document.
pub(crate) fn named_files(files: &Files) -> impl Iterator<Item = &File> {
    files
        .files
        .iter()
        .filter(move |f| files.parent(f).is_none_or(|p| p.kind != Kind::Ooxml))
}

/// The quoted paths of the files found, or `None` when there are none.
pub(crate) fn quoted<'a>(found: impl Iterator<Item = &'a File>) -> Option<(String, String)> {
    let paths: Vec<&str> = found.map(|f| f.path.as_str()).collect();
    (!paths.is_empty()).then(|| quote_paths(paths))
}

/// Up to three paths, quoted for a Japanese and an English sentence.
pub(crate) fn quote_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> (String, String) {
    let mut all: Vec<&str> = paths.into_iter().collect();
    all.dedup();
    let more = all.len().saturating_sub(3);
    let shown = &all[..all.len().min(3)];
    let mut ja = shown
        .iter()
        .map(|p| format!("「{p}」"))
        .collect::<Vec<_>>()
        .join("");
    let mut en = shown
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        ja.push_str(&format!("ほか{more}件"));
        en.push_str(&format!(" and {more} more"));
    }
    (ja, en)
}

/// Whether the file's name ends in one of `extensions`.
pub(crate) fn has_extension(file: &File, extensions: &[&str]) -> bool {
    file.extension()
        .is_some_and(|e| extensions.contains(&e.as_str()))
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::content::{inspect_attachments, Files};
    use crate::mime::Attachment;
    use crate::policy::Limits;

    /// Files as [`crate::check`] would see them for these (name, bytes) attachments.
    pub(crate) fn files(attachments: &[(&str, Vec<u8>)]) -> Files {
        let list: Vec<Attachment> = attachments
            .iter()
            .map(|(n, d)| Attachment {
                name: n.to_string(),
                content_type: None,
                data: d.clone(),
                depth: 0,
            })
            .collect();
        inspect_attachments(list, &Limits::default())
    }
}
