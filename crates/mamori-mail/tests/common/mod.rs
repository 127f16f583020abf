//! Builders for the end-to-end tests: MIME messages, ZIP archives, OLE compound files,
//! OOXML documents and PDFs, all generated in code so every test input can be read.

#![allow(dead_code)]

use mamori_mail::{CheckContext, Policy};

/// Base64 with 76-character lines (RFC 2045).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 on one line (for DNS records and encoded words).
pub fn base64_line(data: &[u8]) -> String {
    base64(data).replace("\r\n", "")
}

/// An RFC 2047 encoded word in ISO-2022-JP, as Japanese mail clients write headers.
pub fn iso2022jp_word(text: &str) -> String {
    let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(text);
    format!("=?ISO-2022-JP?B?{}?=", base64_line(&bytes))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A small MIME builder: headers, a text and/or HTML body, attachments.
#[derive(Default, Clone)]
pub struct MailBuilder {
    headers: Vec<(String, String)>,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<(String, String, Vec<u8>)>,
}

impl MailBuilder {
    pub fn new() -> Self {
        MailBuilder::default()
            .header("Date", "Mon, 1 Jul 2024 10:00:00 +0900")
            .header("MIME-Version", "1.0")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn from(self, value: &str) -> Self {
        self.header("From", value)
    }

    pub fn to(self, value: &str) -> Self {
        self.header("To", value)
    }

    pub fn subject(self, value: &str) -> Self {
        self.header("Subject", value)
    }

    pub fn text(mut self, body: &str) -> Self {
        self.text = Some(body.into());
        self
    }

    pub fn html(mut self, body: &str) -> Self {
        self.html = Some(body.into());
        self
    }

    pub fn attach(mut self, name: &str, content_type: &str, data: Vec<u8>) -> Self {
        self.attachments
            .push((name.into(), content_type.into(), data));
        self
    }

    fn body_part(content_type: &str, body: &str) -> String {
        format!(
            "Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(body.as_bytes())
        )
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = String::new();
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        let text = self.text.clone().unwrap_or_default();
        if self.attachments.is_empty() && self.html.is_none() {
            out.push_str(&Self::body_part("text/plain", &text));
            return out.into_bytes();
        }
        let boundary = "=_mamori_test_boundary_1";
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a MIME message.\r\n"
        ));
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(&Self::body_part("text/plain", &text));
        if let Some(html) = &self.html {
            out.push_str(&format!("--{boundary}\r\n"));
            out.push_str(&Self::body_part("text/html", html));
        }
        for (name, ctype, data) in &self.attachments {
            out.push_str(&format!("--{boundary}\r\n"));
            let disposition = if name.is_ascii() {
                format!("attachment; filename=\"{name}\"")
            } else {
                format!("attachment; filename*=UTF-8''{}", percent(name))
            };
            out.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                base64(data)
            ));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out.into_bytes()
    }
}

/// Raw deflate, as ZIP stores it.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, 6)
}

/// A ZIP archive: (name, stored bytes, general-purpose flags, method). For method 8 pass
/// deflated bytes; for method 99 an AES extra field (0x9901, real method 8) is written.
pub fn zip(entries: &[(&str, &[u8], u16, u16)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, flags, method) in entries {
        let offset = out.len() as u32;
        let mut extra = Vec::new();
        if *method == 99 {
            extra.extend_from_slice(&[0x01, 0x99, 7, 0, 2, 0, b'A', b'E', 3, 8, 0]);
        }
        let common = |h: &mut Vec<u8>| {
            h.extend_from_slice(&flags.to_le_bytes());
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32 * 4).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        };
        out.extend_from_slice(b"PK\x03\x04\x14\x00");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&extra);
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        common(&mut central);
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A ZIP whose entries are deflated.
pub fn zip_deflated(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let packed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(n, d)| (n.to_string(), deflate(d)))
        .collect();
    let refs: Vec<(&str, &[u8], u16, u16)> = packed
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice(), 0u16, 8u16))
        .collect();
    zip(&refs)
}

/// An OOXML document with the given parts besides `[Content_Types].xml`.
pub fn ooxml(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut all: Vec<(&str, &[u8])> =
        vec![("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>")];
    all.extend_from_slice(parts);
    zip_deflated(&all)
}

/// A minimal OLE compound file (512-byte sectors) whose directory holds the root and the
/// given (name, type) entries: type 1 storage, 2 stream.
pub fn cfb(entries: &[(&str, u8)]) -> Vec<u8> {
    const FREE: u32 = 0xFFFF_FFFF;
    let mut all = vec![("Root Entry", 5u8)];
    all.extend_from_slice(entries);
    let dir_sectors = all.len().div_ceil(4);
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1");
    header[0x18..0x1A].copy_from_slice(&0x3Eu16.to_le_bytes());
    header[0x1A..0x1C].copy_from_slice(&3u16.to_le_bytes());
    header[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
    header[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
    header[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
    header[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes());
    header[0x30..0x34].copy_from_slice(&1u32.to_le_bytes());
    header[0x38..0x3C].copy_from_slice(&4096u32.to_le_bytes());
    header[0x3C..0x40].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    header[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    for i in 0..109 {
        let v: u32 = if i == 0 { 0 } else { FREE };
        header[0x4C + i * 4..0x50 + i * 4].copy_from_slice(&v.to_le_bytes());
    }
    let mut fat = vec![0xFFu8; 512];
    fat[..4].copy_from_slice(&0xFFFF_FFFDu32.to_le_bytes());
    for s in 0..dir_sectors {
        let next = if s + 1 == dir_sectors {
            0xFFFF_FFFE
        } else {
            (s + 2) as u32
        };
        fat[(s + 1) * 4..(s + 2) * 4].copy_from_slice(&next.to_le_bytes());
    }
    let mut dir = vec![0u8; dir_sectors * 512];
    for (i, (name, kind)) in all.iter().enumerate() {
        let e = i * 128;
        let units: Vec<u16> = name.encode_utf16().collect();
        for (k, u) in units.iter().enumerate() {
            dir[e + k * 2..e + k * 2 + 2].copy_from_slice(&u.to_le_bytes());
        }
        dir[e + 64..e + 66].copy_from_slice(&(((units.len() + 1) * 2) as u16).to_le_bytes());
        dir[e + 66] = *kind;
        for field in [68, 72, 76] {
            dir[e + field..e + field + 4].copy_from_slice(&FREE.to_le_bytes());
        }
    }
    let mut out = header;
    out.extend(fat);
    out.extend(dir);
    out
}

/// A one-page PDF showing `lines` in a Flate-compressed content stream.
pub fn pdf(lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 9 Tf 40 800 Td\n");
    for l in lines {
        content.push_str(&format!("({l}) Tj T*\n"));
    }
    content.push_str("ET\n");
    let body = miniz_oxide::deflate::compress_to_vec_zlib(content.as_bytes(), 6);
    let mut out = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
    out.extend_from_slice(
        format!(
            "4 0 obj << /Filter /FlateDecode /Length {} >>\nstream\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    out
}

/// A valid individual number (My Number) from eleven digits, computed the official way
/// (independently of the crate's own implementation).
pub fn my_number(first_eleven: u64) -> String {
    let s = format!("{first_eleven:011}");
    let d: Vec<u32> = s.chars().map(|c| c.to_digit(10).unwrap_or(0)).collect();
    let mut sum = 0;
    for n in 1..=11usize {
        let q = if n <= 6 { n + 1 } else { n - 5 } as u32;
        sum += d[11 - n] * q;
    }
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    format!("{s}{check}")
}

/// The company of the tests: 守り商事, its staff, partners and history.
pub fn company() -> CheckContext {
    CheckContext {
        company_domains: vec!["mamori-shoji.co.jp".into()],
        partner_domains: vec!["tokyo-buhin.co.jp".into(), "osaka-unyu.co.jp".into()],
        colleagues: vec![
            ("山田 太郎".into(), "yamada@mamori-shoji.co.jp".into()),
            ("佐藤 花子".into(), "sato@mamori-shoji.co.jp".into()),
        ],
        known_recipient_domains: vec!["kaikei-jimusho.jp".into()],
        sent_message_ids: vec!["<20240701.1@mamori-shoji.co.jp>".into()],
        ..CheckContext::default()
    }
}

pub fn policy() -> Policy {
    Policy::default()
}
