//! `multipart/form-data` bodies: fields, files, part headers and the strictness flags.

use super::Limits;
use crate::request::Pair;

/// A multipart strictness flag (`MULTIPART_*` variables).
pub type MultipartFlag = u32;

/// The flags, in bit order: `MULTIPART_FLAGS[i]` is bit `1 << i`.
pub const MULTIPART_FLAGS: &[&str] = &[
    "MULTIPART_STRICT_ERROR",
    "MULTIPART_UNMATCHED_BOUNDARY",
    "MULTIPART_BOUNDARY_QUOTED",
    "MULTIPART_BOUNDARY_WHITESPACE",
    "MULTIPART_DATA_BEFORE",
    "MULTIPART_DATA_AFTER",
    "MULTIPART_HEADER_FOLDING",
    "MULTIPART_LF_LINE",
    "MULTIPART_CRLF_LF_LINES",
    "MULTIPART_MISSING_SEMICOLON",
    "MULTIPART_INVALID_QUOTING",
    "MULTIPART_INVALID_PART",
    "MULTIPART_INVALID_HEADER_FOLDING",
    "MULTIPART_FILE_LIMIT_EXCEEDED",
];

const STRICT: MultipartFlag = 1 << 0;
const UNMATCHED_BOUNDARY: MultipartFlag = 1 << 1;
const BOUNDARY_QUOTED: MultipartFlag = 1 << 2;
const BOUNDARY_WHITESPACE: MultipartFlag = 1 << 3;
const DATA_BEFORE: MultipartFlag = 1 << 4;
const DATA_AFTER: MultipartFlag = 1 << 5;
const HEADER_FOLDING: MultipartFlag = 1 << 6;
const LF_LINE: MultipartFlag = 1 << 7;
const CRLF_LF_LINES: MultipartFlag = 1 << 8;
const MISSING_SEMICOLON: MultipartFlag = 1 << 9;
const INVALID_QUOTING: MultipartFlag = 1 << 10;
const INVALID_PART: MultipartFlag = 1 << 11;
const FILE_LIMIT: MultipartFlag = 1 << 13;

/// What a multipart body yields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// Fields without a file name (`ARGS_POST`).
    pub args: Vec<Pair>,
    /// (field name, file name, size) of file parts (`FILES`, `FILES_NAMES`, `FILES_SIZES`).
    pub files: Vec<(Vec<u8>, Vec<u8>, usize)>,
    /// (field name, one header line) for `MULTIPART_PART_HEADERS`.
    pub part_headers: Vec<Pair>,
    /// `MULTIPART_*` flags, bits as in [`MULTIPART_FLAGS`].
    pub flags: MultipartFlag,
    /// A parse error (`REQBODY_ERROR`).
    pub error: Option<String>,
}

impl Multipart {
    /// Whether the named flag (`MULTIPART_LF_LINE`) is set.
    pub fn flag(&self, name: &str) -> bool {
        MULTIPART_FLAGS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
            .is_some_and(|i| self.flags & (1 << i) != 0)
    }
}

/// The boundary parameter of a multipart Content-Type, with flags about how it was written.
fn boundary(content_type: &[u8], flags: &mut MultipartFlag) -> Option<Vec<u8>> {
    let lower = content_type.to_ascii_lowercase();
    let idx = memchr::memmem::find(&lower, b"boundary")?;
    let rest = content_type[idx + 8..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?;
    let before = &content_type[..idx];
    if !before.trim_ascii_end().ends_with(b";") && !before.trim_ascii_end().ends_with(b",") {
        *flags |= MISSING_SEMICOLON;
    }
    if rest.first().is_some_and(|c| c.is_ascii_whitespace())
        || content_type[idx + 8..].first() != Some(&b'=')
    {
        *flags |= BOUNDARY_WHITESPACE;
    }
    let v = rest.trim_ascii_start();
    let b: Vec<u8> = if let Some(q) = v.strip_prefix(b"\"") {
        *flags |= BOUNDARY_QUOTED;
        q.split(|&c| c == b'"').next().unwrap_or_default().to_vec()
    } else {
        v.split(|&c| c == b';' || c == b',' || c == b' ')
            .next()
            .unwrap_or_default()
            .to_vec()
    };
    (!b.is_empty() && b.len() <= 200).then_some(b)
}

/// The value of parameter `name` in a `Content-Disposition` value; quotes protect `;`, and
/// `\"` inside quotes is a quote.
fn param(header: &[u8], name: &[u8], flags: &mut MultipartFlag) -> Option<Vec<u8>> {
    let b = header;
    let mut i = b.iter().position(|&c| c == b';')? + 1;
    while i < b.len() {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let key = b[key_start..i].trim_ascii();
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
                if b[i] == b'\\' && i + 1 < b.len() && (b[i + 1] == b'"' || b[i + 1] == b'\\') {
                    value.push(b[i + 1]);
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
                *flags |= INVALID_QUOTING;
            }
        } else {
            if b.get(i) == Some(&b'\'') {
                *flags |= INVALID_QUOTING;
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
            return Some(value);
        }
    }
    None
}

/// Parses a multipart body by the boundary of its Content-Type.
pub fn multipart(body: &[u8], content_type: &[u8], limits: Limits) -> Multipart {
    let mut m = Multipart::default();
    let Some(b) = boundary(content_type, &mut m.flags) else {
        m.error = Some("Multipart: Boundary not found in C-T".into());
        m.flags |= STRICT;
        return m;
    };
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(&b);
    let d = delim.as_slice();
    let Some(first) = memchr::memmem::find(body, d) else {
        m.error = Some("Multipart: final boundary missing".into());
        m.flags |= UNMATCHED_BOUNDARY | STRICT;
        return m;
    };
    if body[..first].iter().any(|c| !c.is_ascii_whitespace()) {
        m.flags |= DATA_BEFORE;
    }
    let mut pos = first + d.len();
    let mut finished = false;
    let (mut crlf_seen, mut lf_seen) = (false, false);
    while m.args.len() + m.files.len() < limits.max_args {
        if body[pos..].starts_with(b"--") {
            finished = true;
            let after = &body[pos + 2..];
            if after.iter().any(|c| !c.is_ascii_whitespace()) {
                m.flags |= DATA_AFTER;
            }
            break;
        }
        // Line end after the boundary (blanks allowed before it).
        let mut p = pos;
        while p < body.len() && matches!(body[p], b' ' | b'\t') {
            p += 1;
        }
        if body[p..].starts_with(b"\r\n") {
            pos = p + 2;
            crlf_seen = true;
        } else if body[p..].starts_with(b"\n") {
            pos = p + 1;
            lf_seen = true;
        } else {
            m.flags |= INVALID_PART;
            m.error = Some("Multipart: Invalid boundary line".into());
            break;
        }
        let Some(next) = memchr::memmem::find(&body[pos..], d) else {
            m.flags |= UNMATCHED_BOUNDARY;
            // What there is of the last part still counts.
            parse_part(&body[pos..], &mut m, limits, &mut crlf_seen, &mut lf_seen);
            break;
        };
        let part = &body[pos..pos + next];
        pos += next + d.len();
        let part = if let Some(p) = part.strip_suffix(b"\r\n") {
            crlf_seen = true;
            p
        } else if let Some(p) = part.strip_suffix(b"\n") {
            lf_seen = true;
            p
        } else {
            part
        };
        parse_part(part, &mut m, limits, &mut crlf_seen, &mut lf_seen);
    }
    if m.args.len() + m.files.len() >= limits.max_args && !finished {
        m.flags |= FILE_LIMIT;
    }
    if !finished {
        m.flags |= UNMATCHED_BOUNDARY;
        m.error
            .get_or_insert_with(|| "Multipart: final boundary missing".into());
    }
    if lf_seen {
        m.flags |= LF_LINE;
        if crlf_seen {
            m.flags |= CRLF_LF_LINES;
        }
    }
    let strict = DATA_BEFORE
        | DATA_AFTER
        | HEADER_FOLDING
        | LF_LINE
        | MISSING_SEMICOLON
        | INVALID_QUOTING
        | INVALID_PART
        | UNMATCHED_BOUNDARY
        | BOUNDARY_QUOTED
        | BOUNDARY_WHITESPACE
        | FILE_LIMIT;
    if m.flags & strict != 0 || m.error.is_some() {
        m.flags |= STRICT;
    }
    m
}

fn parse_part(
    part: &[u8],
    m: &mut Multipart,
    limits: Limits,
    crlf_seen: &mut bool,
    lf_seen: &mut bool,
) {
    let (head, data) = match memchr::memmem::find(part, b"\r\n\r\n") {
        Some(p) => {
            *crlf_seen = true;
            (&part[..p], &part[p + 4..])
        }
        None => match memchr::memmem::find(part, b"\n\n") {
            Some(p) => {
                *lf_seen = true;
                (&part[..p], &part[p + 2..])
            }
            None => {
                // Headers only (or nothing): still record them.
                (part, &b""[..])
            }
        },
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for line in head.split(|&c| c == b'\n') {
        let line = match line.strip_suffix(b"\r") {
            Some(l) => {
                *crlf_seen = true;
                l
            }
            None => line,
        };
        if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            m.flags |= HEADER_FOLDING;
            if let Some(last) = lines.last_mut() {
                last.push(b' ');
                last.extend_from_slice(line.trim_ascii_start());
            }
            continue;
        }
        if !line.is_empty() {
            lines.push(line.to_vec());
        }
    }
    let mut name = None;
    let mut filename = None;
    let mut has_cd = false;
    for line in &lines {
        let Some(colon) = memchr::memchr(b':', line) else {
            m.flags |= INVALID_PART;
            continue;
        };
        let (k, v) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if k.eq_ignore_ascii_case(b"content-disposition") {
            has_cd = true;
            if !v.to_ascii_lowercase().starts_with(b"form-data") {
                m.flags |= INVALID_PART;
            }
            name = param(v, b"name", &mut m.flags);
            filename = param(v, b"filename", &mut m.flags)
                .or_else(|| param(v, b"filename*", &mut m.flags));
        }
    }
    if !has_cd {
        m.flags |= INVALID_PART;
    }
    let field = name.unwrap_or_default();
    for line in lines {
        if m.part_headers.len() < limits.max_args {
            m.part_headers.push((field.clone(), line));
        }
    }
    match filename {
        Some(f) => m.files.push((field, f, data.len())),
        None => m.args.push((field, data.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_files_and_flags() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php\r\n--XX--\r\n";
        let m = multipart(body, b"multipart/form-data; boundary=XX", Limits::default());
        assert_eq!(m.args, vec![(b"a".to_vec(), b"hello".to_vec())]);
        assert_eq!(m.files, vec![(b"f".to_vec(), b"x.php".to_vec(), 5)]);
        assert_eq!(m.part_headers.len(), 3);
        assert!(!m.flag("MULTIPART_STRICT_ERROR"), "{:b}", m.flags);
        let bad = multipart(
            b"junk--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n",
            b"multipart/form-data; boundary=XX",
            Limits::default(),
        );
        assert!(bad.flag("MULTIPART_STRICT_ERROR"));
        assert!(bad.flag("MULTIPART_UNMATCHED_BOUNDARY"));
        assert!(bad.flag("MULTIPART_DATA_BEFORE"));
    }
}
