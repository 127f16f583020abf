//! Personal data in outbound mail: `mail.pii_my_number`, `mail.pii_card`,
//! `mail.pii_phone`, `mail.pii_address`, `mail.pii_mail_list`.
//!
//! The text of the body and of every attachment that has text — CSV and plain text in any
//! Japanese encoding, XLSX/DOCX/PPTX parts, PDF strings, HTML, and the same inside ZIPs —
//! is folded (full-width digits and dashes to ASCII) and handed to one detector per kind
//! of data. Each detector counts *distinct* values, so a signature quoted ten times in a
//! thread counts once. A kind at or above its threshold in the policy holds the mail.
//!
//! Numbers are read as *runs*: digits with single spaces or hyphens between groups, not
//! touching letters or other digits. A 16-digit card number never counts as a 12-digit My
//! Number and a phone number never as a postal code.

pub mod address;
pub mod card;
pub mod mail_list;
pub mod my_number;
pub mod phone;

use super::thousands;
use crate::content::text::{fold, strip_tags};
use crate::content::{extract_text, Budget, Files};
use crate::mime::Mail;
use crate::policy::Policy;
use crate::report::Reason;
use std::collections::HashSet;

/// A number as written: its digits, the lengths of its groups, whether a `+` preceded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub digits: String,
    pub groups: Vec<usize>,
    pub plus: bool,
}

/// Every maximal digit run of `text`. Digits and separators are ASCII, which never occurs
/// inside a multi-byte UTF-8 sequence, so the text is scanned as bytes.
pub fn digit_runs(text: &str) -> Vec<Run> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let before = i.checked_sub(1).map(|b| bytes[b]);
        let glued = before.is_some_and(|c| c.is_ascii_alphabetic() || c == b'_');
        let mut run = Run {
            digits: String::new(),
            groups: Vec::new(),
            plus: before == Some(b'+'),
        };
        let mut group = 0usize;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                run.digits.push(char::from(bytes[i]));
                group += 1;
                i += 1;
            }
            let sep = bytes.get(i).is_some_and(|c| *c == b' ' || *c == b'-');
            if sep && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) && run.digits.len() < 40 {
                run.groups.push(group);
                group = 0;
                i += 1;
                continue;
            }
            break;
        }
        run.groups.push(group);
        let after_glued = bytes
            .get(i)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
        if !glued && !after_glued {
            out.push(run);
        }
    }
    out
}

/// Where something was found: the body or an attachment path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Body,
    File(String),
}

#[derive(Default)]
struct Tally {
    values: HashSet<String>,
    sources: Vec<Source>,
}

impl Tally {
    fn add(&mut self, found: Vec<String>, source: &Source) {
        if found.is_empty() {
            return;
        }
        self.values.extend(found);
        if !self.sources.contains(source) {
            self.sources.push(source.clone());
        }
    }

    fn place(&self) -> (String, String) {
        let shown: Vec<&Source> = self.sources.iter().take(3).collect();
        let ja: Vec<String> = shown
            .iter()
            .map(|s| match s {
                Source::Body => "本文".to_string(),
                Source::File(p) => format!("添付ファイル「{p}」"),
            })
            .collect();
        let en: Vec<String> = shown
            .iter()
            .map(|s| match s {
                Source::Body => "the body".to_string(),
                Source::File(p) => format!("the attachment \"{p}\""),
            })
            .collect();
        let more = self.sources.len().saturating_sub(3);
        let (mut ja, mut en) = (ja.join("、"), en.join(", "));
        if more > 0 {
            ja.push_str(&format!("ほか{more}件"));
            en.push_str(&format!(" and {more} more"));
        }
        (ja, en)
    }
}

/// The text of the body and every readable attachment, each with where it came from.
fn texts(mail: &Mail, files: &Files, policy: &Policy) -> Vec<(Source, String)> {
    let limits = &policy.limits;
    let mut remaining = limits.max_text_bytes;
    let mut take = |text: String| -> Option<String> {
        if remaining == 0 {
            return None;
        }
        let mut text = text;
        if text.len() > remaining {
            let mut cut = remaining;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        remaining -= text.len();
        Some(fold(&text))
    };
    let mut out = Vec::new();
    let mut body = mail.text_bodies.join("\n");
    if body.trim().is_empty() {
        body = mail
            .html_bodies
            .iter()
            .map(|h| strip_tags(h))
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Some(t) = take(body) {
        out.push((Source::Body, t));
    }
    let mut budget = Budget::new(limits.max_total_unpacked_bytes);
    for file in &files.files {
        if let Some(text) = extract_text(files, file, limits, &mut budget) {
            // OOXML parts are reported as the document they belong to.
            let label = match files.parent(file) {
                Some(p) if p.kind == crate::content::Kind::Ooxml => p.path.clone(),
                _ => file.path.clone(),
            };
            if let Some(t) = take(text) {
                out.push((Source::File(label), t));
            }
        }
    }
    out
}

pub fn check(mail: &Mail, files: &Files, policy: &Policy) -> Vec<Reason> {
    let mut my_numbers = Tally::default();
    let mut cards = Tally::default();
    let mut phones = Tally::default();
    let mut addresses = Tally::default();
    let mut mails = Tally::default();
    let mut says_my_number = false;
    for (source, text) in texts(mail, files, policy) {
        says_my_number |= my_number::mentioned(&text);
        let runs = digit_runs(&text);
        my_numbers.add(my_number::find(&runs), &source);
        cards.add(card::find(&runs), &source);
        phones.add(phone::find(&runs), &source);
        addresses.add(address::find(&text), &source);
        mails.add(mail_list::find(&text), &source);
    }
    let t = &policy.pii;
    let my_number_threshold = if says_my_number {
        1
    } else {
        t.my_number.max(1)
    };
    let hold_ja =
        "誤送信すると個人情報の漏えいになるため、送信を保留しました。承認されると送信されます。";
    let hold_en = "The mail is held until it is approved.";
    let mut out = Vec::new();
    let mut push =
        |code: &str, score: f64, tally: &Tally, threshold: usize, what_ja: &str, what_en: &str| {
            let n = tally.values.len();
            if n == 0 || n < threshold.max(1) {
                return;
            }
            let (place_ja, place_en) = tally.place();
            let count = thousands(n);
            out.push(Reason::new(
                code,
                policy.score(code, score),
                format!("{place_ja}に{what_ja}が {count} 件含まれています。{hold_ja}"),
                format!("{place_en} contains {count} {what_en}. {hold_en}"),
            ));
        };
    push(
        my_number::CODE,
        10.0,
        &my_numbers,
        my_number_threshold,
        "個人番号（マイナンバー）と思われる番号",
        "individual numbers (My Number) with a valid check digit",
    );
    push(
        card::CODE,
        10.0,
        &cards,
        t.card,
        "クレジットカード番号と思われる番号",
        "payment card numbers",
    );
    push(
        phone::CODE,
        6.0,
        &phones,
        t.phone,
        "電話番号",
        "Japanese phone numbers",
    );
    push(
        address::CODE,
        6.0,
        &addresses,
        t.address,
        "住所（郵便番号・都道府県）",
        "postal addresses",
    );
    push(
        mail_list::CODE,
        6.0,
        &mails,
        t.mail_list,
        "メールアドレス",
        "mail addresses",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_on_other_characters_and_keep_groups() {
        let runs =
            digit_runs("tel 03-1234-5678, card 4111 1111 1111 1111; id A123456 +81-90-1111-2222");
        let shown: Vec<(&str, Vec<usize>, bool)> = runs
            .iter()
            .map(|r| (r.digits.as_str(), r.groups.clone(), r.plus))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("0312345678", vec![2, 4, 4], false),
                ("4111111111111111", vec![4, 4, 4, 4], false),
                ("819011112222", vec![2, 2, 4, 4], true),
            ]
        );
    }
}
