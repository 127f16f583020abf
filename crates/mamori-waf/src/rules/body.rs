//! Request bodies and the request line turned into rule variables: query strings and
//! urlencoded bodies (`ARGS_GET`/`ARGS_POST`), cookies, multipart (fields, file names and the
//! strictness flags CRS checks), JSON and XML. All bounded: at most [`MAX_ARGS`] arguments,
//! JSON and XML nesting at most [`MAX_DEPTH`].

use crate::transform::Transform;

pub const MAX_ARGS: usize = 1_000;
pub const MAX_DEPTH: usize = 64;

/// (name, value) pairs, in order.
pub type Pairs = Vec<(String, Vec<u8>)>;

fn decode(b: &[u8]) -> Vec<u8> {
    Transform::UrlDecode.apply(b).into_owned()
}

/// `a=1&b=2` → pairs, names and values percent-decoded (`+` is a space).
pub fn urlencoded(s: &[u8], sep: u8, out: &mut Pairs) -> bool {
    let mut ok = true;
    for part in s.split(|&b| b == sep) {
        if part.is_empty() {
            continue;
        }
        if out.len() >= MAX_ARGS {
            return false;
        }
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(p) => (&part[..p], &part[p + 1..]),
            None => (part, &b""[..]),
        };
        if k.contains(&b'%') || v.contains(&b'%') {
            ok &= valid_percent(k) && valid_percent(v);
        }
        out.push((String::from_utf8_lossy(&decode(k)).into_owned(), decode(v)));
    }
    ok
}

fn valid_percent(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// `Cookie: a=1; b=2` → pairs (values as sent).
pub fn cookies(header: &[u8], out: &mut Pairs) {
    for part in header.split(|&b| b == b';') {
        let part = part.trim_ascii();
        if part.is_empty() || out.len() >= MAX_ARGS {
            continue;
        }
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(p) => (&part[..p], &part[p + 1..]),
            None => (part, &b""[..]),
        };
        out.push((
            String::from_utf8_lossy(k.trim_ascii()).into_owned(),
            v.to_vec(),
        ));
    }
}

/// What a multipart body yields.
#[derive(Debug, Default)]
pub struct Multipart {
    pub args: Pairs,
    /// (field name, file name, size)
    pub files: Vec<(String, String, usize)>,
    /// (field name, one header line) for `MULTIPART_PART_HEADERS`.
    pub part_headers: Pairs,
    pub flags: Vec<&'static str>,
    pub error: Option<String>,
}

/// The boundary parameter of a multipart Content-Type, with flags about how it was written.
pub fn boundary(content_type: &str, flags: &mut Vec<&'static str>) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    let idx = lower.find("boundary")?;
    let rest = content_type[idx + 8..].trim_start();
    if !rest.starts_with('=') {
        return None;
    }
    if content_type[..idx].ends_with(' ') && !content_type[..idx].trim_end().ends_with(';') {
        flags.push("MULTIPART_MISSING_SEMICOLON");
    }
    let v = rest[1..].trim_start();
    if rest[1..].starts_with(' ') {
        flags.push("MULTIPART_BOUNDARY_WHITESPACE");
    }
    let b = if let Some(q) = v.strip_prefix('"') {
        flags.push("MULTIPART_BOUNDARY_QUOTED");
        q.split('"').next().unwrap_or("").to_string()
    } else {
        v.split([';', ',', ' ']).next().unwrap_or("").to_string()
    };
    (!b.is_empty() && b.len() <= 200).then_some(b)
}

/// The value of parameter `name` in a `Content-Disposition` value; quotes protect `;`, and
/// `\"` inside quotes is a quote.
fn param(header: &str, name: &str, flags: &mut Vec<&'static str>) -> Option<String> {
    let b = header.as_bytes();
    let mut i = b.iter().position(|&c| c == b';')? + 1;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b';') {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let key = header[key_start..i].trim();
        if i >= b.len() || b[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let mut value = Vec::new();
        if b.get(i) == Some(&b'"') {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'"' {
                    value.push(b'"');
                    i += 2;
                    continue;
                }
                if b[i] == b'"' {
                    closed = true;
                    i += 1;
                    break;
                }
                value.push(b[i]);
                i += 1;
            }
            if !closed {
                flags.push("MULTIPART_INVALID_QUOTING");
            }
        } else {
            if b.get(i) == Some(&b'\'') {
                flags.push("MULTIPART_INVALID_QUOTING");
            }
            while i < b.len() && b[i] != b';' {
                value.push(b[i]);
                i += 1;
            }
            while value.last().is_some_and(|c| *c == b' ') {
                value.pop();
            }
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(String::from_utf8_lossy(&value).into_owned());
        }
    }
    None
}

pub fn multipart(body: &[u8], content_type: &str) -> Multipart {
    let mut m = Multipart::default();
    let Some(b) = boundary(content_type, &mut m.flags) else {
        m.error = Some("multipart: no boundary".into());
        m.flags.push("MULTIPART_STRICT_ERROR");
        return m;
    };
    let delim = format!("--{b}");
    let d = delim.as_bytes();
    let Some(first) = memchr::memmem::find(body, d) else {
        m.error = Some("multipart: boundary not found".into());
        m.flags.push("MULTIPART_UNMATCHED_BOUNDARY");
        m.flags.push("MULTIPART_STRICT_ERROR");
        return m;
    };
    if body[..first].iter().any(|c| !c.is_ascii_whitespace()) {
        m.flags.push("MULTIPART_DATA_BEFORE");
    }
    let mut pos = first + d.len();
    let mut finished = false;
    while m.args.len() + m.files.len() < MAX_ARGS {
        if body[pos..].starts_with(b"--") {
            finished = true;
            if body[pos + 2..].iter().any(|c| !c.is_ascii_whitespace()) {
                m.flags.push("MULTIPART_DATA_AFTER");
            }
            break;
        }
        // Line end after the boundary.
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            m.flags.push("MULTIPART_LF_LINE");
            pos += 1;
        } else {
            m.flags.push("MULTIPART_INVALID_PART");
            break;
        }
        let Some(next) = memchr::memmem::find(&body[pos..], d) else {
            m.flags.push("MULTIPART_UNMATCHED_BOUNDARY");
            break;
        };
        let part = &body[pos..pos + next];
        pos += next + d.len();
        let part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        let (head, data) = match memchr::memmem::find(part, b"\r\n\r\n") {
            Some(p) => (&part[..p], &part[p + 4..]),
            None => match memchr::memmem::find(part, b"\n\n") {
                Some(p) => {
                    m.flags.push("MULTIPART_LF_LINE");
                    (&part[..p], &part[p + 2..])
                }
                None => {
                    m.flags.push("MULTIPART_INVALID_PART");
                    continue;
                }
            },
        };
        let head = String::from_utf8_lossy(head);
        let mut name = None;
        let mut filename = None;
        let mut lines: Vec<String> = Vec::new();
        for line in head.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.starts_with([' ', '\t']) {
                m.flags.push("MULTIPART_HEADER_FOLDING");
                if let Some(last) = lines.last_mut() {
                    last.push_str(line.trim_start());
                }
                continue;
            }
            lines.push(line.to_string());
        }
        for line in &lines {
            let Some((k, v)) = line.split_once(':') else {
                if !line.is_empty() {
                    m.flags.push("MULTIPART_INVALID_PART");
                }
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                let v = v.trim();
                if !v.to_ascii_lowercase().starts_with("form-data") {
                    m.flags.push("MULTIPART_INVALID_PART");
                }
                name = param(v, "name", &mut m.flags);
                filename = param(v, "filename", &mut m.flags)
                    .or_else(|| param(v, "filename*", &mut m.flags));
            }
        }
        let field = name.clone().unwrap_or_default();
        for line in lines {
            if m.part_headers.len() < MAX_ARGS {
                m.part_headers.push((field.clone(), line.into_bytes()));
            }
        }
        match filename {
            Some(f) => m.files.push((field, f, data.len())),
            None => m.args.push((field, data.to_vec())),
        }
    }
    if !finished {
        m.flags.push("MULTIPART_UNMATCHED_BOUNDARY");
    }
    let strict = m.flags.iter().any(|f| {
        matches!(
            *f,
            "MULTIPART_DATA_BEFORE"
                | "MULTIPART_DATA_AFTER"
                | "MULTIPART_HEADER_FOLDING"
                | "MULTIPART_LF_LINE"
                | "MULTIPART_MISSING_SEMICOLON"
                | "MULTIPART_INVALID_QUOTING"
                | "MULTIPART_INVALID_PART"
                | "MULTIPART_INVALID_HEADER_FOLDING"
                | "MULTIPART_UNMATCHED_BOUNDARY"
                | "MULTIPART_BOUNDARY_QUOTED"
                | "MULTIPART_BOUNDARY_WHITESPACE"
        )
    });
    if strict {
        m.flags.push("MULTIPART_STRICT_ERROR");
    }
    m
}

/// JSON into `json.a.b`-named arguments (arrays as `json.a.0`); `Err` with the parser's reason.
pub fn json(body: &[u8], out: &mut Pairs) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("JSON parsing error: {e}"))?;
    fn walk(v: &serde_json::Value, name: &mut String, depth: usize, out: &mut Pairs) {
        if depth > MAX_DEPTH || out.len() >= MAX_ARGS {
            return;
        }
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let len = name.len();
                    name.push('.');
                    name.push_str(k);
                    walk(v, name, depth + 1, out);
                    name.truncate(len);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let len = name.len();
                    name.push('.');
                    name.push_str(&i.to_string());
                    walk(v, name, depth + 1, out);
                    name.truncate(len);
                }
            }
            serde_json::Value::String(s) => out.push((name.clone(), s.as_bytes().to_vec())),
            serde_json::Value::Null => out.push((name.clone(), Vec::new())),
            other => out.push((name.clone(), other.to_string().into_bytes())),
        }
    }
    let mut name = String::from("json");
    walk(&v, &mut name, 0, out);
    Ok(())
}

/// XML text content and attribute values (for `XML:/*`), without entity expansion beyond the
/// five predefined ones; `Err` for a document that is not well formed enough to read.
pub fn xml(body: &[u8]) -> Result<Vec<(bool, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut seen_element = false;
    while i < body.len() {
        if body[i] == b'<' {
            let end =
                memchr::memchr(b'>', &body[i..]).ok_or("XML parsing error: unclosed tag")? + i;
            let tag = &body[i + 1..end];
            if tag.starts_with(b"!DOCTYPE") && memchr::memmem::find(tag, b"ENTITY").is_some() {
                return Err("XML parsing error: entity declarations are refused".into());
            }
            if tag.starts_with(b"/") {
                depth = depth
                    .checked_sub(1)
                    .ok_or("XML parsing error: unbalanced closing tag")?;
            } else if !tag.starts_with(b"?") && !tag.starts_with(b"!") {
                seen_element = true;
                // Attribute values.
                let mut in_q: Option<u8> = None;
                let mut start = 0;
                for (j, &c) in tag.iter().enumerate() {
                    match in_q {
                        Some(q) if c == q => {
                            out.push((
                                true,
                                Transform::HtmlEntityDecode
                                    .apply(&tag[start..j])
                                    .into_owned(),
                            ));
                            in_q = None;
                        }
                        None if c == b'"' || c == b'\'' => {
                            in_q = Some(c);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                if !tag.ends_with(b"/") {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err("XML parsing error: nested too deep".into());
                    }
                }
            }
            i = end + 1;
        } else {
            let end = memchr::memchr(b'<', &body[i..]).map_or(body.len(), |p| p + i);
            let text = body[i..end].trim_ascii();
            if !text.is_empty() {
                out.push((false, Transform::HtmlEntityDecode.apply(text).into_owned()));
            }
            i = end;
        }
        if out.len() > MAX_ARGS {
            break;
        }
    }
    if !seen_element || depth != 0 {
        return Err("XML parsing error: not a complete document".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_names_and_values() {
        let mut p = Vec::new();
        assert!(urlencoded(b"a=1&b%20c=x+y&flag", b'&', &mut p));
        assert_eq!(p[1], ("b c".into(), b"x y".to_vec()));
        assert_eq!(p[2], ("flag".into(), Vec::new()));
        assert!(!urlencoded(b"a=%zz", b'&', &mut Vec::new()));
    }

    #[test]
    fn multipart_fields_files_and_flags() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php\r\n--XX--\r\n";
        let m = multipart(body, "multipart/form-data; boundary=XX");
        assert_eq!(m.args, vec![("a".into(), b"hello".to_vec())]);
        assert_eq!(m.files, vec![("f".into(), "x.php".into(), 5)]);
        assert!(
            !m.flags.contains(&"MULTIPART_STRICT_ERROR"),
            "{:?}",
            m.flags
        );
        let bad = multipart(
            b"junk--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n",
            "multipart/form-data; boundary=XX",
        );
        assert!(bad.flags.contains(&"MULTIPART_STRICT_ERROR"));
        assert!(bad.flags.contains(&"MULTIPART_UNMATCHED_BOUNDARY"));
    }

    #[test]
    fn json_and_xml_give_their_values() {
        let mut p = Vec::new();
        json(br#"{"a":{"b":"x"},"c":[1,"y"]}"#, &mut p).unwrap();
        assert_eq!(p[0], ("json.a.b".into(), b"x".to_vec()));
        assert_eq!(p[2], ("json.c.1".into(), b"y".to_vec()));
        assert!(json(b"{", &mut p).is_err());
        let x = xml(b"<?xml version=\"1.0\"?><a k=\"v\"><b>t &lt;x</b></a>").unwrap();
        assert_eq!(x, vec![(true, b"v".to_vec()), (false, b"t <x".to_vec())]);
        assert!(xml(b"<a><b></a>").is_err());
        assert!(xml(b"<!DOCTYPE x [<!ENTITY e \"z\">]><a>&e;</a>").is_err());
    }
}
