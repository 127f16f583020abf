//! Building a training mail: RFC 5322 headers with RFC 2047 encoded words (UTF-8, or
//! ISO-2022-JP for templates that ask for it), `multipart/alternative` text and HTML with
//! the recipient's tracking links and open pixel, and optionally a tracked attachment.
//!
//! Pure: the sender gives the template, the recipient and the URLs; out come the bytes.
//! Everything a recipient's CSV row supplies goes through encoded words (headers) or HTML
//! escaping (HTML body), so no row can add a header or markup.

use crate::pages::escape;
use crate::templates::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Longest encoded text per encoded word, in bytes before base64, so that a word with its
/// charset stays within RFC 2047's 75 characters (45 → 60 + 12 for UTF-8, 42 → 56 + 18
/// for ISO-2022-JP).
const WORD_BYTES: usize = 45;
const ISO_WORD_BYTES: usize = 42;

/// Who gets the mail and how to reach the tracking server for them.
#[derive(Debug, Clone)]
pub struct Addressing<'a> {
    pub campaign_id: &'a str,
    pub token: &'a str,
    pub base_url: &'a str,
    pub from_addr: &'a str,
    pub from_name: &'a str,
    pub to_addr: &'a str,
    pub to_name: &'a str,
    pub department: &'a str,
    pub date: time::OffsetDateTime,
}

/// The tracking URLs of one recipient.
pub fn links(base_url: &str, token: &str) -> (String, String, String) {
    let base = base_url.trim_end_matches('/');
    (
        format!("{base}/t/c/{token}"),
        format!("{base}/t/o/{token}.gif"),
        format!("{base}/t/a/{token}"),
    )
}

/// The whole message, CRLF line endings, 7-bit.
pub fn compose(template: &Template, to: &Addressing<'_>) -> Vec<u8> {
    let (click, pixel, attachment_url) = links(to.base_url, to.token);
    let fill = |s: &str, html: bool| {
        let value = |v: &str| {
            if html {
                escape(v)
            } else {
                v.to_string()
            }
        };
        s.replace("{{name}}", &value(to.to_name))
            .replace("{{email}}", &value(to.to_addr))
            .replace("{{department}}", &value(to.department))
            .replace("{{link}}", &click)
    };
    let subject = fill(&template.subject, false);
    let text = fill(&template.text, false);
    let mut html = fill(&template.html, true);
    let img = format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\">");
    match html.rfind("</body>") {
        Some(at) => html.insert_str(at, &img),
        None => html.push_str(&img),
    }
    let iso = template.iso_2022_jp;
    let domain = to
        .from_addr
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d);
    let date = to
        .date
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();

    let mut out = String::new();
    out.push_str(&format!(
        "From: {} <{}>\r\n",
        phrase(to.from_name, iso),
        to.from_addr
    ));
    out.push_str(&format!(
        "To: {} <{}>\r\n",
        phrase(to.to_name, iso),
        to.to_addr
    ));
    out.push_str(&format!("Subject: {}\r\n", encode_words(&subject, iso)));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{}@{}>\r\n", to.token, domain));
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!("X-Mamori-Drill: {}\r\n", to.campaign_id));
    let alt_boundary = format!("=_alt_{}", to.token);
    let alternative = format!(
        "Content-Type: multipart/alternative; boundary=\"{alt_boundary}\"\r\n\r\n\
         --{alt_boundary}\r\n{}\r\n--{alt_boundary}\r\n{}\r\n--{alt_boundary}--\r\n",
        part("text/plain; charset=UTF-8", None, text.as_bytes()),
        part("text/html; charset=UTF-8", None, html.as_bytes()),
    );
    match &template.attachment {
        None => out.push_str(&alternative),
        Some(attachment) => {
            let mixed = format!("=_mix_{}", to.token);
            let document = attachment_document(&attachment.title, &attachment_url, &click);
            let name = rfc2231(&attachment.filename);
            let disposition =
                format!("Content-Disposition: attachment; filename*=UTF-8''{name}\r\n");
            out.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n--{mixed}\r\n{alternative}\r\n--{mixed}\r\n{}\r\n--{mixed}--\r\n",
                part(
                    &format!(
                        "text/html; charset=UTF-8; name=\"{}\"",
                        encode_words(&attachment.filename, false)
                    ),
                    Some(&disposition),
                    document.as_bytes()
                ),
            ));
        }
    }
    out.into_bytes()
}

/// A body part: headers, blank line, base64 in 76-character lines.
fn part(content_type: &str, extra: Option<&str>, body: &[u8]) -> String {
    let encoded = STANDARD.encode(body);
    let mut s = format!(
        "Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n{}\r\n",
        extra.unwrap_or("")
    );
    for chunk in encoded.as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        s.push_str("\r\n");
    }
    s
}

/// The attached "document": opening it in a browser or mail viewer loads the tracking URL.
fn attachment_document(title: &str, open_url: &str, click_url: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><img src=\"{open_url}\" width=\"1\" height=\"1\" alt=\"\">\
         <p><a href=\"{click_url}\">{t}</a></p></body></html>\n",
        t = escape(title)
    )
}

/// A display name: a quoted string when plain ASCII, encoded words otherwise.
fn phrase(name: &str, iso: bool) -> String {
    let name = one_line(name);
    if name.is_ascii() {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\"")
    } else {
        encode_words(&name, iso)
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// RFC 2047 `B` encoded words for a header value, folded; printable ASCII stays as is.
/// With `iso` the text is ISO-2022-JP, falling back to UTF-8 if a character has no
/// ISO-2022-JP form (emoji, some symbols).
pub fn encode_words(text: &str, iso: bool) -> String {
    let text = one_line(text);
    if text.is_ascii() && !text.contains("=?") {
        return text;
    }
    if iso {
        if let Some(words) = iso_2022_jp_words(&text) {
            return words.join("\r\n ");
        }
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > WORD_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// Each word is encoded on its own, so each ends back in ASCII as RFC 1468 requires.
fn iso_2022_jp_words(text: &str) -> Option<Vec<String>> {
    let encode = |s: &str| -> Option<Vec<u8>> {
        let (bytes, _, had_errors) = encoding_rs::ISO_2022_JP.encode(s);
        (!had_errors).then(|| bytes.into_owned())
    };
    let mut words = Vec::new();
    let mut chunk = String::new();
    let mut encoded = Vec::new();
    for c in text.chars() {
        chunk.push(c);
        let candidate = encode(&chunk)?;
        if candidate.len() > ISO_WORD_BYTES && chunk.chars().count() > 1 {
            chunk.pop();
            words.push(format!("=?ISO-2022-JP?B?{}?=", STANDARD.encode(&encoded)));
            chunk.clear();
            chunk.push(c);
            encoded = encode(&chunk)?;
        } else {
            encoded = candidate;
        }
    }
    if !chunk.is_empty() {
        words.push(format!("=?ISO-2022-JP?B?{}?=", STANDARD.encode(&encoded)));
    }
    Some(words)
}

/// RFC 2231 / RFC 5987 percent-encoding of a file name.
fn rfc2231(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;

    fn subject_of(header_value: &str) -> String {
        let raw = format!("Subject: {header_value}\r\n\r\nbody\r\n");
        mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_default()
    }

    const LONG: &str = "【重要】パスワードの有効期限が本日切れます。引き続きご利用いただくには、24時間以内に更新してください";

    #[test]
    fn utf8_encoded_words_round_trip_and_stay_short() {
        let encoded = encode_words(LONG, false);
        assert!(encoded.starts_with("=?UTF-8?B?"));
        assert!(encoded.split("\r\n ").all(|w| w.len() <= 75), "{encoded}");
        assert_eq!(subject_of(&encoded), LONG);
    }

    #[test]
    fn iso_2022_jp_encoded_words_round_trip() {
        let encoded = encode_words(LONG, true);
        assert!(encoded.starts_with("=?ISO-2022-JP?B?"), "{encoded}");
        assert!(encoded.split("\r\n ").all(|w| w.len() <= 75), "{encoded}");
        for word in encoded.split("\r\n ") {
            let b64 = word
                .trim_start_matches("=?ISO-2022-JP?B?")
                .trim_end_matches("?=");
            let bytes = STANDARD.decode(b64).unwrap();
            assert!(
                bytes.ends_with(b"\x1b(B") || bytes.is_ascii(),
                "word must end in ASCII"
            );
        }
        assert_eq!(subject_of(&encoded), LONG);
    }

    #[test]
    fn iso_2022_jp_falls_back_to_utf8_for_characters_it_lacks() {
        let encoded = encode_words("請求書 🧾", true);
        assert!(encoded.starts_with("=?UTF-8?B?"));
        assert_eq!(subject_of(&encoded), "請求書 🧾");
    }

    #[test]
    fn ascii_stays_plain_and_line_breaks_cannot_add_headers() {
        assert_eq!(encode_words("Invoice", false), "Invoice");
        assert_eq!(encode_words("a\r\nBcc: x@y", false), "a  Bcc: x@y");
    }

    #[test]
    fn composed_mail_parses_with_links_pixel_and_attachment() {
        let template = crate::templates::find("invoice-ja").unwrap();
        let date = time::OffsetDateTime::UNIX_EPOCH;
        let to = Addressing {
            campaign_id: "01CAMPAIGN",
            token: "tok_TOKEN-123",
            base_url: "http://drill.test/",
            from_addr: "billing@vendor.test",
            from_name: &template.sender_name,
            to_addr: "taro@example.jp",
            to_name: "山田 <b>太郎</b>",
            department: "営業部",
            date,
        };
        let raw = compose(&template, &to);
        assert!(raw.is_ascii());
        let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(msg.subject(), Some(template.subject.as_str()));
        assert_eq!(
            msg.header_raw("X-Mamori-Drill").map(str::trim),
            Some("01CAMPAIGN")
        );
        let html = msg.body_html(0).unwrap();
        assert!(html.contains("http://drill.test/t/c/tok_TOKEN-123"));
        assert!(html.contains("http://drill.test/t/o/tok_TOKEN-123.gif"));
        assert!(html.contains("山田 &lt;b&gt;太郎&lt;/b&gt;"));
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("山田 <b>太郎</b> 様"));
        let from = msg.from().and_then(|a| a.first()).unwrap();
        assert_eq!(from.name(), Some("経理部 請求書発行センター"));
        let attachment = msg.attachments().next().unwrap();
        assert_eq!(attachment.attachment_name(), Some("請求書_今月分.html"));
        let doc = String::from_utf8_lossy(attachment.contents());
        assert!(doc.contains("http://drill.test/t/a/tok_TOKEN-123"));
    }
}
