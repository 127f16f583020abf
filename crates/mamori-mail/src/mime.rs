//! A bounded walk over one parsed message.
//!
//! mail-parser does the RFC 5322/MIME work (RFC 2047 encoded words, RFC 2231 parameters,
//! ISO-2022-JP, Shift_JIS and other charsets, transfer encodings). This module turns its
//! result into the flat [`Mail`] the checks read: the sender and recipients with display
//! names, the decoded subject, threading headers, text and HTML bodies, and attachments with
//! their bytes. Attached messages (message/rfc822) are opened up to
//! [`Limits::max_depth`](crate::Limits) deep: their bodies and attachments join the list,
//! marked with their depth, because a forwarded mail carries the same risks as a direct one.
//!
//! It does no I/O. A panic inside the third-party parser is caught and reported as
//! [`Error::Parse`], so that a hostile message cannot take the gateway down.

use crate::policy::Limits;
use crate::Error;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Address, Encoding, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Where a raw message's header block ends: the offset of the blank line that ends it
/// (CRLF, or a bare LF from a sloppy client), searched in the first 256 KiB; `None` when
/// there is no blank line there (all header, or a header block too large to show).
pub fn header_end(message: &[u8]) -> Option<usize> {
    let head = &message[..message.len().min(256 * 1024)];
    memmem(head, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| memmem(head, b"\n\n").map(|i| i + 1))
}

fn memmem(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A display name and an address, as in `"山田 太郎" <taro@example.co.jp>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn domain(&self) -> Option<String> {
        crate::domain::of_address(&self.address)
    }
}

/// One attached file (or an attached message as a whole), decoded from its transfer
/// encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type (RFC 2231/2047 decoded); empty
    /// when the sender gave none.
    pub name: String,
    /// Declared MIME type, lower-cased (`application/zip`).
    pub content_type: Option<String>,
    pub data: Vec<u8>,
    /// 0 for the mail's own attachments, 1 inside an attached message, and so on.
    pub depth: usize,
}

/// What the checks need from one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Decoded subject; empty when there is none.
    pub subject: String,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text_bodies: Vec<String>,
    pub html_bodies: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// What was not looked at because a limit was reached.
    pub notes: Vec<String>,
}

impl Mail {
    /// Parses and walks a raw message within `limits`.
    pub fn parse(raw: &[u8], limits: &Limits) -> Result<Mail, Error> {
        if raw.is_empty() {
            return Err(Error::Empty);
        }
        if raw.len() > limits.max_message_bytes {
            return Err(Error::TooLarge {
                size: raw.len(),
                limit: limits.max_message_bytes,
            });
        }
        let parsed = catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse(raw)))
            .map_err(|panic| Error::Parse {
                part: "message".into(),
                offset: 0,
                reason: format!("the MIME parser gave up: {}", panic_text(&panic)),
            })?;
        let Some(message) = parsed else {
            return Err(no_header(raw));
        };
        if message.headers().is_empty() {
            return Err(no_header(raw));
        }
        let mut mail = Mail {
            from: first_mailbox(message.from()),
            sender: first_mailbox(message.sender()),
            reply_to: mailboxes(message.reply_to()),
            to: mailboxes(message.to()),
            cc: mailboxes(message.cc()),
            bcc: mailboxes(message.bcc()),
            subject: message.subject().unwrap_or_default().trim().to_string(),
            message_id: message.message_id().map(strip_brackets),
            in_reply_to: id_list(message.in_reply_to()),
            references: id_list(message.references()),
            ..Mail::default()
        };
        let mut walker = Walker {
            limits,
            mail: &mut mail,
            attachments_seen: 0,
        };
        walker.walk(&message, 0);
        Ok(mail)
    }

    /// To, Cc and Bcc together.
    pub fn recipients(&self) -> impl Iterator<Item = &Mailbox> {
        self.to.iter().chain(&self.cc).chain(&self.bcc)
    }

    /// The From address's domain.
    pub fn from_domain(&self) -> Option<String> {
        self.from.as_ref().and_then(Mailbox::domain)
    }
}

struct Walker<'a> {
    limits: &'a Limits,
    mail: &'a mut Mail,
    attachments_seen: usize,
}

impl Walker<'_> {
    fn walk(&mut self, message: &Message<'_>, depth: usize) {
        for id in &message.text_body {
            if let Some(part) = message.parts.get(*id as usize) {
                if let PartType::Text(text) = &part.body {
                    self.mail.text_bodies.push(text_of(message, part, text));
                }
            }
        }
        for id in &message.html_body {
            if let Some(part) = message.parts.get(*id as usize) {
                if let PartType::Html(html) = &part.body {
                    self.mail.html_bodies.push(text_of(message, part, html));
                }
            }
        }
        for id in &message.attachments {
            let Some(part) = message.parts.get(*id as usize) else {
                continue;
            };
            if self.attachments_seen >= self.limits.max_attachments {
                self.mail.notes.push(format!(
                    "more than {} attachments: the rest were not inspected",
                    self.limits.max_attachments
                ));
                return;
            }
            self.attachments_seen += 1;
            let name = part
                .attachment_name()
                .unwrap_or_default()
                .trim()
                .to_string();
            let content_type = part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
                None => ct.ctype().to_lowercase(),
            });
            match &part.body {
                PartType::Message(inner) => {
                    let data = inner.raw_message.to_vec();
                    let name = if name.is_empty() {
                        "attached-message.eml".to_string()
                    } else {
                        name
                    };
                    self.mail.attachments.push(Attachment {
                        name,
                        content_type,
                        data,
                        depth,
                    });
                    if depth < self.limits.max_depth {
                        self.walk(inner, depth + 1);
                    } else {
                        self.mail.notes.push(format!(
                            "attached message nested deeper than {}: not opened",
                            self.limits.max_depth
                        ));
                    }
                }
                PartType::Multipart(_) => {}
                body => {
                    let data = match body {
                        PartType::Text(t) | PartType::Html(t) => {
                            if lost_charset(part, t) {
                                raw_body(message, part).unwrap_or_else(|| t.as_bytes().to_vec())
                            } else {
                                t.as_bytes().to_vec()
                            }
                        }
                        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
                        PartType::Message(_) | PartType::Multipart(_) => Vec::new(),
                    };
                    // Inline text and HTML without a file name are bodies, already taken.
                    let is_body = name.is_empty()
                        && matches!(body, PartType::Text(_) | PartType::Html(_))
                        && (message.text_body.contains(id) || message.html_body.contains(id));
                    if !is_body {
                        self.mail.attachments.push(Attachment {
                            name,
                            content_type,
                            data,
                            depth,
                        });
                    }
                }
            }
        }
    }
}

/// Text parts without a charset parameter are decoded by mail-parser as UTF-8; Japanese
/// mail (and CSV from Excel) is often Shift_JIS without saying so. Then the replacement
/// characters show, and the bytes are decoded again with a guess.
fn lost_charset(part: &MessagePart<'_>, text: &str) -> bool {
    text.contains('\u{FFFD}')
        && part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .is_none()
}

fn text_of(message: &Message<'_>, part: &MessagePart<'_>, text: &str) -> String {
    if lost_charset(part, text) {
        if let Some(raw) = raw_body(message, part) {
            return crate::content::text::decode(&raw);
        }
    }
    text.to_string()
}

/// The part's body with only the transfer encoding undone.
fn raw_body(message: &Message<'_>, part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        Encoding::Base64 => base64_decode(raw),
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::None => Some(raw.to_vec()),
    }
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    mailboxes(address).into_iter().next()
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|a| {
            let addr = a.address()?.trim();
            if addr.is_empty() {
                return None;
            }
            Some(Mailbox {
                name: a
                    .name()
                    .map(|n| n.trim().trim_matches('"').trim().to_string())
                    .filter(|n| !n.is_empty()),
                address: addr.to_string(),
            })
        })
        .collect()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => t.split_whitespace().map(strip_brackets).collect(),
        HeaderValue::TextList(list) => list.iter().map(|t| strip_brackets(t)).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn no_header(raw: &[u8]) -> Error {
    let start: String = String::from_utf8_lossy(&raw[..raw.len().min(24)]).into_owned();
    Error::NoHeader { start }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Mail {
        Mail::parse(raw.as_bytes(), &Limits::default()).expect("parses")
    }

    #[test]
    fn iso_2022_jp_display_name_and_subject_are_decoded() {
        // "山田 太郎" and "RE: お見積り" in ISO-2022-JP, base64 encoded words.
        let m = parse(concat!(
            "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <taro@example.net>\r\n",
            "To: hanako@example.co.jp\r\n",
            "Subject: RE: =?ISO-2022-JP?B?GyRCJCo4K0BRJGobKEI=?=\r\n",
            "Message-ID: <abc@example.net>\r\n",
            "\r\n",
            "body\r\n"
        ));
        let from = m.from.expect("from");
        assert_eq!(from.name.as_deref(), Some("山田 太郎"));
        assert_eq!(from.address, "taro@example.net");
        assert_eq!(m.subject, "RE: お見積り");
        assert_eq!(m.message_id.as_deref(), Some("abc@example.net"));
        assert!(m.in_reply_to.is_empty());
        assert_eq!(m.text_bodies, vec!["body\r\n".to_string()]);
    }

    #[test]
    fn rfc2231_file_names_and_attached_messages_are_walked() {
        let m = parse(concat!(
            "From: a@example.net\r\nTo: b@example.co.jp\r\nSubject: x\r\n",
            "In-Reply-To: <one@example.co.jp>\r\nReferences: <zero@x> <one@example.co.jp>\r\n",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n",
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n",
            "--b1\r\nContent-Type: application/octet-stream\r\n",
            "Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.zip\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n",
            "--b1\r\nContent-Type: message/rfc822\r\n\r\n",
            "From: c@example.org\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n",
            "--b2\r\nContent-Type: text/plain\r\n\r\ninner body\r\n",
            "--b2\r\nContent-Type: application/x-msdownload; name=\"a.exe\"\r\n",
            "Content-Disposition: attachment; filename=\"a.exe\"\r\n\r\nMZ\r\n--b2--\r\n",
            "--b1--\r\n"
        ));
        assert_eq!(m.in_reply_to, vec!["one@example.co.jp".to_string()]);
        assert_eq!(m.references.len(), 2);
        let names: Vec<(&str, usize)> = m
            .attachments
            .iter()
            .map(|a| (a.name.as_str(), a.depth))
            .collect();
        assert!(names.contains(&("請求書.zip", 0)), "{names:?}");
        assert!(names.contains(&("a.exe", 1)), "{names:?}");
        assert_eq!(m.attachments[0].data.len(), 22);
        assert!(m.text_bodies.iter().any(|t| t.contains("inner body")));
    }

    #[test]
    fn empty_oversized_and_headerless_inputs_are_errors() {
        assert!(matches!(
            Mail::parse(b"", &Limits::default()),
            Err(Error::Empty)
        ));
        let small = Limits {
            max_message_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            Mail::parse(&[b'a'; 11], &small),
            Err(Error::TooLarge {
                size: 11,
                limit: 10
            })
        ));
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let base = concat!(
            "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <t@example.net>\r\n",
            "Subject: =?UTF-8?Q?=E3=81=82?=\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
            "--x\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n",
            "--y\r\nContent-Disposition: attachment; filename*=ISO-2022-JP''%1B%24B\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--y--\r\n--x--\r\n"
        )
        .as_bytes();
        for cut in 0..base.len() {
            let _ = Mail::parse(&base[..cut], &Limits::default());
        }
        let mut seed: u32 = 12345;
        for _ in 0..300 {
            let mut bytes = base.to_vec();
            for _ in 0..8 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (seed as usize >> 8) % bytes.len();
                bytes[at] = (seed >> 16) as u8;
            }
            let _ = Mail::parse(&bytes, &Limits::default());
        }
    }
}
