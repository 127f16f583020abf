//! The request as the engine sees it, and how its parts become rule variables.
//!
//! [`RequestHead`] is what the proxy hands the engine: method, the request target exactly as
//! sent, protocol, headers in order with raw byte values, client and server addresses.
//! [`UriParts::parse`] splits the target as ModSecurity v3 does (`processURI`): the
//! fragment is dropped, `QUERY_STRING` stays raw, `REQUEST_FILENAME` is the percent-decoded
//! path, `REQUEST_BASENAME` its last segment, `REQUEST_URI_RAW` the target as sent.
//! [`parse_query`] gives `ARGS_GET` (and urlencoded bodies): split at the argument
//! separator, names and values percent-decoded with `+` as space, invalid `%` sequences
//! kept as written. [`parse_cookies`] splits `Cookie:` at `;` as ModSecurity v3 does
//! (values as sent).
//!
//! [`parse_http`] is a small lenient HTTP/1.x request parser for test requests (go-ftw's),
//! with chunked bodies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A (name, value) pair of a collection: arguments, headers, cookies.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The request line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target exactly as sent (`/a/b?x=1`, or absolute-form).
    pub target: String,
    /// `HTTP/1.1`.
    pub protocol: String,
    /// In order, names as sent, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    pub remote: SocketAddr,
    pub server: SocketAddr,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: "GET".into(),
            target: "/".into(),
            protocol: "HTTP/1.1".into(),
            headers: Vec::new(),
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            server: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80),
        }
    }
}

impl RequestHead {
    /// A request head with default addresses (loopback) and the given headers.
    pub fn new(
        method: &str,
        target: &str,
        protocol: &str,
        headers: Vec<(String, Vec<u8>)>,
    ) -> RequestHead {
        RequestHead {
            method: method.to_string(),
            target: target.to_string(),
            protocol: protocol.to_string(),
            headers,
            ..RequestHead::default()
        }
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// The parts of a request target the variables need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UriParts {
    /// `REQUEST_URI`: path and query as sent, without the fragment; for an absolute-form
    /// target, from the path on.
    pub uri: Vec<u8>,
    /// `REQUEST_FILENAME` / `PATH_INFO`: the path, percent-decoded.
    pub filename: Vec<u8>,
    /// `REQUEST_BASENAME`: the last segment of the decoded path (after `/` or `\`).
    pub basename: Vec<u8>,
    /// `QUERY_STRING`: after the first `?`, raw.
    pub query: Vec<u8>,
}

impl UriParts {
    pub fn parse(target: &[u8]) -> UriParts {
        let no_frag = match memchr::memchr(b'#', target) {
            Some(p) => &target[..p],
            None => target,
        };
        // Absolute form: keep what follows the authority.
        let mut path_and_query = no_frag;
        if !no_frag.starts_with(b"/") {
            if let Some(p) = memchr::memmem::find(no_frag, b"://") {
                if no_frag[..p]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                {
                    let rest = &no_frag[p + 3..];
                    path_and_query = match rest.iter().position(|&b| b == b'/' || b == b'?') {
                        Some(i) => &rest[i..],
                        None => b"/",
                    };
                }
            }
        }
        let (path, query) = match memchr::memchr(b'?', path_and_query) {
            Some(p) => (&path_and_query[..p], &path_and_query[p + 1..]),
            None => (path_and_query, &b""[..]),
        };
        let filename = uri_decode(path);
        let basename = match filename.iter().rposition(|&b| b == b'/' || b == b'\\') {
            Some(p) => filename[p + 1..].to_vec(),
            None => filename.clone(),
        };
        UriParts {
            uri: path_and_query.to_vec(),
            filename,
            basename,
            query: query.to_vec(),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` decoded; `+` kept; invalid sequences kept as written (ModSecurity's `uri_decode`).
pub fn uri_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// `%XX` decoded and `+` as space, invalid `%` sequences kept (ModSecurity's
/// `urldecode_nonstrict`); also says whether an invalid sequence was seen.
pub fn url_decode_arg(s: &[u8]) -> (Vec<u8>, bool) {
    if !s.iter().any(|&b| b == b'%' || b == b'+') {
        return (s.to_vec(), true);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut valid = true;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 < s.len() {
                    if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                }
                valid = false;
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    (out, valid)
}

/// Splits `a=1&b=2` at `sep` into decoded pairs (at most `limit` in `out`); empty pieces
/// are skipped. Returns false when some `%` sequence was invalid (`URLENCODED_ERROR`).
pub fn parse_query(s: &[u8], sep: u8, out: &mut Vec<Pair>, limit: usize) -> bool {
    let mut ok = true;
    for part in s.split(|&b| b == sep) {
        if part.is_empty() {
            continue;
        }
        if out.len() >= limit {
            break;
        }
        let (k, v) = match memchr::memchr(b'=', part) {
            Some(p) => (&part[..p], &part[p + 1..]),
            None => (part, &b""[..]),
        };
        let (k, ok1) = url_decode_arg(k);
        let (v, ok2) = url_decode_arg(v);
        ok &= ok1 && ok2;
        out.push((k, v));
    }
    ok
}

/// `Cookie: a=1; b=2` → pairs as ModSecurity v3 makes them: split at `;`, the name's
/// leading blanks dropped, empty names skipped, the value as sent (the last pair loses
/// trailing blanks).
pub fn parse_cookies(header: &[u8], out: &mut Vec<Pair>, limit: usize) {
    let mut parts: Vec<&[u8]> = header.split(|&b| b == b';').collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_ascii_end();
    }
    for c in parts {
        if c.is_empty() || out.len() >= limit {
            continue;
        }
        let (k, v) = match memchr::memchr(b'=', c) {
            Some(p) => (&c[..p], &c[p + 1..]),
            None => (c, &b""[..]),
        };
        let k = k.trim_ascii_start();
        if k.is_empty() {
            continue;
        }
        out.push((k.to_vec(), v.to_vec()));
    }
}

/// A whole request as parsed from bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

/// Parses a raw HTTP/1.x request leniently: request line `METHOD TARGET [VERSION]`, header
/// lines until an empty line (a line without `:` is an error; folded lines join the header
/// before), then a body by `Content-Length`, `Transfer-Encoding: chunked`, or else what
/// follows. Line ends may be CRLF or LF.
pub fn parse_http(raw: &[u8]) -> Result<ParsedRequest, String> {
    let mut pos = 0;
    let next_line = |pos: &mut usize| -> Option<&[u8]> {
        if *pos >= raw.len() {
            return None;
        }
        let rest = &raw[*pos..];
        let (line, adv) = match memchr::memchr(b'\n', rest) {
            Some(p) => (&rest[..p], p + 1),
            None => (rest, rest.len()),
        };
        *pos += adv;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    };
    let mut line = next_line(&mut pos).ok_or("empty request")?;
    while line.is_empty() {
        line = next_line(&mut pos).ok_or("empty request")?;
    }
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let method = words.next().ok_or("no method")?.to_string();
    let target = words.next().ok_or("no request target")?.to_string();
    // No version: HTTP/0.9.
    let protocol = words.next().unwrap_or("HTTP/0.9").to_string();
    if words.next().is_some() {
        return Err(format!("malformed request line {text:?}"));
    }
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(line) = next_line(&mut pos) {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((_, v)) = headers.last_mut() {
                v.push(b' ');
                v.extend_from_slice(line.trim_ascii());
                continue;
            }
        }
        if line.contains(&b'\r') {
            // A bare CR inside a header line: web servers refuse the request (400).
            return Err(format!(
                "bare CR in header line {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(format!(
                "malformed header line {:?}",
                String::from_utf8_lossy(line)
            ));
        };
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
        let value = line[colon + 1..].trim_ascii().to_vec();
        headers.push((name, value));
    }
    let rest = raw.get(pos..).unwrap_or_default();
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked"));
    let content_length = header("content-length")
        .and_then(|v| String::from_utf8_lossy(&v).trim().parse::<usize>().ok());
    // As web servers do: with chunked transfer coding, Content-Length is dropped (RFC 9112
    // 6.3); without either, an HTTP/1.1 request has no body.
    let body = if chunked {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        dechunk(rest)
    } else if let Some(n) = content_length {
        rest[..n.min(rest.len())].to_vec()
    } else if protocol.eq_ignore_ascii_case("HTTP/1.1") {
        Vec::new()
    } else {
        rest.to_vec()
    };
    Ok(ParsedRequest {
        head: RequestHead::new(&method, &target, &protocol, headers),
        body,
    })
}

/// A chunked body decoded (leniently: what can be read).
fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = memchr::memchr(b'\n', s) {
        let size_line = String::from_utf8_lossy(&s[..nl]);
        let size_hex = size_line
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let Ok(n) = usize::from_str_radix(&size_hex, 16) else {
            break;
        };
        s = &s[nl + 1..];
        if n == 0 {
            break;
        }
        let take = n.min(s.len());
        out.extend_from_slice(&s[..take]);
        s = &s[take..];
        s = s
            .strip_prefix(b"\r\n")
            .or_else(|| s.strip_prefix(b"\n"))
            .unwrap_or(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parts_as_modsecurity_makes_them() {
        let u = UriParts::parse(b"/a%20b/c.php?x=%41&y#frag");
        assert_eq!(u.uri, b"/a%20b/c.php?x=%41&y");
        assert_eq!(u.filename, b"/a b/c.php");
        assert_eq!(u.basename, b"c.php");
        assert_eq!(u.query, b"x=%41&y");
        let a = UriParts::parse(b"http://example.com/x?q=1");
        assert_eq!(a.filename, b"/x");
        assert_eq!(a.query, b"q=1");
        assert_eq!(uri_decode(b"%41%4"), b"A%4");
    }

    #[test]
    fn query_strings_decode_names_and_values() {
        let mut p = Vec::new();
        assert!(parse_query(b"a=1&b%20c=x+y&&flag", b'&', &mut p, 100));
        assert_eq!(p[1], (b"b c".to_vec(), b"x y".to_vec()));
        assert_eq!(p[2], (b"flag".to_vec(), Vec::new()));
        assert!(!parse_query(b"a=%zz", b'&', &mut Vec::new(), 100));
        let mut p = Vec::new();
        parse_query(b"a=%4", b'&', &mut p, 100);
        assert_eq!(p[0].1, b"%4");
    }

    #[test]
    fn cookies_as_v3_splits_them() {
        let mut p = Vec::new();
        parse_cookies(b"a=1; b=x=y;;  =z; c ", &mut p, 100);
        assert_eq!(
            p,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"x=y".to_vec()),
                (b"c".to_vec(), Vec::new())
            ]
        );
    }

    #[test]
    fn raw_requests_parse() {
        let r = parse_http(b"POST /x?a=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.head.method, "POST");
        assert_eq!(r.head.header("host"), Some(&b"h"[..]));
        assert_eq!(r.body, b"abc");
        let r = parse_http(b"GET /\n\n").unwrap();
        assert_eq!(r.head.protocol, "HTTP/0.9");
        assert!(parse_http(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n").is_err());
        assert!(parse_http(b"GET / HTTP/1.1\r\nbad header\r\n\r\n").is_err());
    }
}
