//! Request body processors: `URLENCODED`, `MULTIPART` (with the strictness flags CRS reads),
//! `JSON` (arguments named `json.a.b`, arrays `json.a.0`) and `XML` (text and attribute
//! values for `XML:/*` and `XML://@*`; no DTD, no entity expansion beyond the predefined
//! and numeric ones).
//!
//! All bounded: at most [`Limits::max_args`] arguments (and part headers), JSON and XML
//! nesting at most [`Limits::max_depth`]. The body itself is already cut to the inspection
//! limit by the engine.

mod json;
mod multipart;
mod xml;

pub use json::json;
pub use multipart::{multipart, Multipart, MultipartFlag, MULTIPART_FLAGS};
pub use xml::{xml, Xml};

use crate::request::Pair;

/// Bounds on what a body may yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_args: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_args: 1000,
            max_depth: 64,
        }
    }
}

/// `a=1&b=2` bodies: as the query string (see [`crate::request::parse_query`]). Returns
/// false when a `%` sequence was invalid.
pub fn urlencoded(body: &[u8], sep: u8, limits: Limits, out: &mut Vec<Pair>) -> bool {
    crate::request::parse_query(body, sep, out, limits.max_args)
}

/// The processor a `Content-Type` selects: urlencoded and multipart as ModSecurity does by
/// type, and JSON and XML as the rules 200000/200001 of ModSecurity's recommended
/// configuration (which CRS's test setups and Debian's conf include) select them:
/// `application/json`, `application/*+json`; `application/xml`, `text/xml`,
/// `application/soap+xml`, `application/*+xml`.
pub fn processor_for(content_type: &[u8]) -> Option<&'static str> {
    let lower = content_type.trim_ascii_start().to_ascii_lowercase();
    let mime = lower
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if lower.starts_with(b"application/x-www-form-urlencoded") {
        Some("URLENCODED")
    } else if lower.starts_with(b"multipart/form-data") {
        Some("MULTIPART")
    } else if lower.starts_with(b"application/json")
        || (mime.starts_with(b"application/") && mime.ends_with(b"+json"))
    {
        Some("JSON")
    } else if lower.starts_with(b"application/xml")
        || lower.starts_with(b"text/xml")
        || lower.starts_with(b"application/soap+xml")
        || (mime.starts_with(b"application/") && mime.ends_with(b"+xml"))
    {
        Some("XML")
    } else {
        None
    }
}

/// Decodes the five predefined XML entities and numeric character references.
pub(crate) fn xml_unescape(s: &[u8]) -> Vec<u8> {
    if !s.contains(&b'&') {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'&' {
            if let Some(end) = s[i..].iter().take(12).position(|&c| c == b';') {
                let name = &s[i + 1..i + end];
                let rep: Option<Vec<u8>> = match name {
                    b"lt" => Some(b"<".to_vec()),
                    b"gt" => Some(b">".to_vec()),
                    b"amp" => Some(b"&".to_vec()),
                    b"quot" => Some(b"\"".to_vec()),
                    b"apos" => Some(b"'".to_vec()),
                    _ if name.first() == Some(&b'#') => {
                        let n = if name.get(1).is_some_and(|c| *c == b'x' || *c == b'X') {
                            u32::from_str_radix(&String::from_utf8_lossy(&name[2..]), 16).ok()
                        } else {
                            String::from_utf8_lossy(&name[1..]).parse().ok()
                        };
                        n.and_then(char::from_u32)
                            .map(|c| c.to_string().into_bytes())
                    }
                    _ => None,
                };
                if let Some(r) = rep {
                    out.extend_from_slice(&r);
                    i += end + 1;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}
