//! HTTP/1.0 and HTTP/1.1: requests and responses, paired into transactions.
//!
//! Each direction is parsed on its own: a start line, header lines (folded continuation
//! lines are joined to the header before them with a space; repeated headers are kept and,
//! for lookups and the normalised header buffer, combined with `, ` as libhtp does), then a
//! body delimited by `Transfer-Encoding: chunked`, `Content-Length`, or — for responses —
//! the end of the connection. Requests may be pipelined; responses are matched to requests
//! in order, interim `1xx` responses (`100 Continue`) are skipped, `HEAD` and `204`/`304`
//! responses have no body. Body bytes are kept up to [`AppConfig::request_body_limit`] and
//! [`AppConfig::response_body_limit`] and counted beyond. A gap inside a body of known length
//! is stepped over; a gap anywhere else stops the flow. A `CONNECT` answered with `2xx`
//! hands the flow to the TLS parser; `101 Switching Protocols` stops it.
//!
//! Not done: HTTP/2, content decoding (gzip), multipart, request smuggling detection
//! beyond refusing conflicting framing it cannot follow.
//!
//! Output: [`HttpTransaction::to_eve`] (Suricata's EVE `http` object) and
//! [`HttpTransaction::buffers`] (the `http.*` sticky buffers and `file_data`).

use super::line::{printable, trim_eol, trim_ws, LineReader};
use super::{AppConfig, AppEvent, Fault, Next, StreamParser, Timestamp};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// One header as received (value trimmed, continuation lines joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// What requests and responses share: start line, headers, body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpMessage {
    /// Start line and header block as received, up to and including the empty line.
    pub start: Vec<u8>,
    line_len: usize,
    headers_at: usize,
    pub headers: Vec<Header>,
    /// Headers past [`AppConfig::max_headers`], counted and not kept.
    pub headers_dropped: u32,
    /// Body bytes kept (dechunked), at most the body limit.
    pub body: Vec<u8>,
    /// Body bytes after dechunking, kept or not.
    pub body_len: u64,
    /// Body bytes on the wire, chunk framing included (EVE `length`).
    pub message_len: u64,
    /// The body went past the limit.
    pub body_truncated: bool,
    /// Bytes of the body were missing (a stream gap).
    pub body_gap: bool,
    pub chunked: bool,
    /// The message ended as its framing says (not cut off by the end of the flow).
    pub complete: bool,
    header_normalized: Vec<u8>,
    header_names: Vec<u8>,
}

impl HttpMessage {
    /// The start line without its line ending.
    pub fn line(&self) -> &[u8] {
        &self.start[..self.line_len.min(self.start.len())]
    }

    /// The header block as received, including the empty line that ends it.
    pub fn header_raw(&self) -> &[u8] {
        self.start.get(self.headers_at..).unwrap_or_default()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.as_slice())
    }

    /// All values of `name` joined with `, `, as libhtp's header table holds them.
    pub fn header_combined(&self, name: &str) -> Option<Vec<u8>> {
        let mut values = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name.as_bytes()));
        let mut out = values.next()?.value.clone();
        for h in values {
            out.extend_from_slice(b", ");
            out.extend_from_slice(&h.value);
        }
        Some(out)
    }

    /// Builds the `http.header` and `http.header_names` buffers once headers are complete.
    fn derive_header_buffers(&mut self, skip: &str) {
        let mut names: Vec<&[u8]> = Vec::new();
        for h in &self.headers {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&h.name)) {
                names.push(&h.name);
            }
        }
        let mut normalized = Vec::new();
        let mut header_names = b"\r\n".to_vec();
        for name in &names {
            header_names.extend_from_slice(name);
            header_names.extend_from_slice(b"\r\n");
            if name.eq_ignore_ascii_case(skip.as_bytes()) {
                continue;
            }
            normalized.extend_from_slice(name);
            normalized.extend_from_slice(b": ");
            let mut first = true;
            for h in self
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
            {
                if !first {
                    normalized.extend_from_slice(b", ");
                }
                first = false;
                normalized.extend_from_slice(&h.value);
            }
            normalized.extend_from_slice(b"\r\n");
        }
        header_names.extend_from_slice(b"\r\n");
        self.header_normalized = normalized;
        self.header_names = header_names;
    }

    fn headers_json(&self) -> Value {
        Value::Array(
            self.headers
                .iter()
                .map(|h| json!({"name": printable(&h.name), "value": printable(&h.value)}))
                .collect(),
        )
    }
}

/// A request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Vec<u8>,
    /// The request target as sent.
    pub uri: Vec<u8>,
    /// `HTTP/1.1`, `HTTP/1.0`; empty for HTTP/0.9.
    pub protocol: Vec<u8>,
    pub msg: HttpMessage,
    /// Path and query, scheme and authority removed, unreserved characters
    /// percent-decoded, dot segments removed and repeated slashes compressed.
    pub uri_normalized: Vec<u8>,
    /// Host from an absolute URI or the `Host` header, lowercase, without port.
    pub host: Option<Vec<u8>>,
    /// The same host as sent, with its port.
    pub host_raw: Option<Vec<u8>>,
    /// The port given with the host, if any.
    pub port: Option<u16>,
}

/// A response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub protocol: Vec<u8>,
    /// The status code as sent.
    pub status: Vec<u8>,
    pub status_code: Option<u16>,
    /// The reason phrase.
    pub message: Vec<u8>,
    pub msg: HttpMessage,
}

/// A request and its response. Either may be missing: a response seen without its
/// request, or a request whose response never came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTransaction {
    /// Number of the transaction in its flow, from 0.
    pub tx_id: u64,
    /// When its first byte was seen.
    pub ts: Timestamp,
    pub request: Option<HttpRequest>,
    pub response: Option<HttpResponse>,
    /// Interim (`1xx`) statuses seen before the final response.
    pub interim: Vec<u16>,
}

/// The sticky buffers of a transaction, named after Suricata's (`http.uri` → `uri`,
/// `file_data` → `file_data`). Request-side buffers first, then response-side ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpBuffers<'a> {
    pub uri: Option<&'a [u8]>,
    pub uri_raw: Option<&'a [u8]>,
    pub method: Option<&'a [u8]>,
    pub protocol: Option<&'a [u8]>,
    pub request_line: Option<&'a [u8]>,
    /// `http.header` for requests: `Name: value\r\n` per header, without `Cookie`.
    pub header: Option<&'a [u8]>,
    pub header_raw: Option<&'a [u8]>,
    pub cookie: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub host_raw: Option<&'a [u8]>,
    /// `http.request_body` (`http_client_body`).
    pub request_body: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub content_len: Option<&'a [u8]>,
    pub accept: Option<&'a [u8]>,
    pub accept_enc: Option<&'a [u8]>,
    pub accept_lang: Option<&'a [u8]>,
    pub referer: Option<&'a [u8]>,
    pub connection: Option<&'a [u8]>,
    pub header_names: Option<&'a [u8]>,
    /// `http.start`: request line and headers as received.
    pub start: Option<&'a [u8]>,
    pub stat_code: Option<&'a [u8]>,
    pub stat_msg: Option<&'a [u8]>,
    pub response_line: Option<&'a [u8]>,
    pub response_protocol: Option<&'a [u8]>,
    /// `http.header` for responses, without `Set-Cookie`.
    pub response_header: Option<&'a [u8]>,
    pub response_header_raw: Option<&'a [u8]>,
    /// `http.cookie` for responses (`Set-Cookie`).
    pub response_cookie: Option<&'a [u8]>,
    /// `file_data` / `http.response_body`: the dechunked response body kept.
    pub file_data: Option<&'a [u8]>,
    pub response_content_type: Option<&'a [u8]>,
    pub response_content_len: Option<&'a [u8]>,
    pub response_connection: Option<&'a [u8]>,
    pub server: Option<&'a [u8]>,
    pub location: Option<&'a [u8]>,
    pub response_header_names: Option<&'a [u8]>,
    pub response_start: Option<&'a [u8]>,
}

impl HttpTransaction {
    pub fn buffers(&self) -> HttpBuffers<'_> {
        let mut b = HttpBuffers::default();
        if let Some(req) = &self.request {
            let m = &req.msg;
            b.uri = Some(&req.uri_normalized);
            b.uri_raw = Some(&req.uri);
            b.method = Some(&req.method);
            b.protocol = Some(&req.protocol);
            b.request_line = Some(m.line());
            b.header = Some(&m.header_normalized);
            b.header_raw = Some(m.header_raw());
            b.cookie = m.header("Cookie");
            b.user_agent = m.header("User-Agent");
            b.host = req.host.as_deref();
            b.host_raw = req.host_raw.as_deref();
            b.request_body = Some(&m.body);
            b.content_type = m.header("Content-Type");
            b.content_len = m.header("Content-Length");
            b.accept = m.header("Accept");
            b.accept_enc = m.header("Accept-Encoding");
            b.accept_lang = m.header("Accept-Language");
            b.referer = m.header("Referer");
            b.connection = m.header("Connection");
            b.header_names = Some(&m.header_names);
            b.start = Some(&m.start);
        }
        if let Some(resp) = &self.response {
            let m = &resp.msg;
            b.stat_code = Some(&resp.status);
            b.stat_msg = Some(&resp.message);
            b.response_line = Some(m.line());
            b.response_protocol = Some(&resp.protocol);
            b.response_header = Some(&m.header_normalized);
            b.response_header_raw = Some(m.header_raw());
            b.response_cookie = m.header("Set-Cookie");
            b.file_data = Some(&m.body);
            b.response_content_type = m.header("Content-Type");
            b.response_content_len = m.header("Content-Length");
            b.response_connection = m.header("Connection");
            b.server = m.header("Server");
            b.location = m.header("Location");
            b.response_header_names = Some(&m.header_names);
            b.response_start = Some(&m.start);
        }
        b
    }

    /// The EVE `http` object; `with_headers` adds `request_headers` and `response_headers`.
    pub fn to_eve(&self, with_headers: bool) -> Value {
        let mut o = Map::new();
        let text = |b: &[u8]| Value::String(printable(b));
        if let Some(req) = &self.request {
            if let Some(host) = &req.host {
                o.insert("hostname".into(), text(host));
            }
            if let Some(port) = req.port {
                o.insert("http_port".into(), json!(port));
            }
            o.insert("url".into(), text(&req.uri));
            if let Some(ua) = req.msg.header("User-Agent") {
                o.insert("http_user_agent".into(), text(ua));
            }
            if let Some(referer) = req.msg.header("Referer") {
                o.insert("http_refer".into(), text(referer));
            }
            o.insert("http_method".into(), text(&req.method));
            if !req.protocol.is_empty() {
                o.insert("protocol".into(), text(&req.protocol));
            }
            if with_headers {
                o.insert("request_headers".into(), req.msg.headers_json());
            }
        }
        if let Some(resp) = &self.response {
            if let Some(ct) = resp.msg.header("Content-Type") {
                let ct = ct.split(|b| *b == b';').next().unwrap_or_default();
                o.insert("http_content_type".into(), text(trim_ws(ct)));
            }
            if let Some(code) = resp.status_code {
                o.insert("status".into(), json!(code));
            }
            if let Some(location) = resp.msg.header("Location") {
                o.insert("redirect".into(), text(location));
            }
            o.insert("length".into(), json!(resp.msg.message_len));
            if with_headers {
                o.insert("response_headers".into(), resp.msg.headers_json());
            }
        }
        Value::Object(o)
    }
}

/// The body framing a message is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The line ending after a chunk's data.
    ChunkEnd,
    Trailer,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Headers,
    Body(Body),
}

/// One direction: its unfinished line and where it is.
struct Side {
    lines: LineReader,
    at: Cursor,
}

/// Where one direction is.
struct Cursor {
    phase: Phase,
    /// The transaction whose message this side is in.
    tx: Option<u64>,
}

struct Pending {
    tx: HttpTransaction,
    request_done: bool,
    response_done: bool,
}

impl Pending {
    /// A side is in the middle of one of this transaction's messages.
    fn in_progress(&self) -> bool {
        let response_started = self.tx.response.is_some() || !self.tx.interim.is_empty();
        (self.tx.request.is_some() && !self.request_done)
            || (response_started && !self.response_done)
    }
}

/// The transactions of a flow, oldest first.
struct Book {
    txs: VecDeque<Pending>,
    next_id: u64,
    max_pending: usize,
    max_headers: usize,
    max_header_bytes: usize,
    body_limit: [usize; 2],
}

impl Book {
    fn get(&mut self, id: u64) -> Option<&mut Pending> {
        self.txs.iter_mut().find(|p| p.tx.tx_id == id)
    }

    /// The transaction a new request (or response) belongs to: the oldest one whose
    /// request (response) has not started, or a new one.
    fn claim(&mut self, to_server: bool, ts: Timestamp, out: &mut Vec<AppEvent>) -> u64 {
        let found = self.txs.iter().find(|p| {
            if to_server {
                p.tx.request.is_none() && !p.request_done
            } else {
                p.tx.response.is_none() && !p.response_done
            }
        });
        if let Some(p) = found {
            return p.tx.tx_id;
        }
        let oldest_busy = self.txs.front().is_some_and(Pending::in_progress);
        if self.txs.len() >= self.max_pending && !oldest_busy {
            // Too many requests without responses: the oldest is logged as it stands.
            if let Some(oldest) = self.txs.pop_front() {
                out.push(AppEvent::Http(Box::new(oldest.tx)));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.txs.push_back(Pending {
            tx: HttpTransaction {
                tx_id: id,
                ts,
                request: None,
                response: None,
                interim: Vec::new(),
            },
            request_done: false,
            response_done: false,
        });
        id
    }

    fn message(&mut self, to_server: bool, id: Option<u64>) -> Option<&mut HttpMessage> {
        let p = self.get(id?)?;
        if to_server {
            p.tx.request.as_mut().map(|r| &mut r.msg)
        } else {
            p.tx.response.as_mut().map(|r| &mut r.msg)
        }
    }

    /// Hands out, in order, the transactions both of whose sides are done.
    fn flush(&mut self, out: &mut Vec<AppEvent>) {
        while self
            .txs
            .front()
            .is_some_and(|p| p.request_done && p.response_done)
        {
            if let Some(p) = self.txs.pop_front() {
                out.push(AppEvent::Http(Box::new(p.tx)));
            }
        }
    }
}

/// The HTTP parser of one flow.
pub(crate) struct HttpParser {
    sides: [Side; 2],
    book: Book,
}

impl HttpParser {
    pub(crate) fn new(config: &AppConfig) -> Self {
        let side = || Side {
            lines: LineReader::new(config.max_buffer),
            at: Cursor {
                phase: Phase::Idle,
                tx: None,
            },
        };
        Self {
            sides: [side(), side()],
            book: Book {
                txs: VecDeque::new(),
                next_id: 0,
                max_pending: config.max_pending_transactions.max(1),
                max_headers: config.max_headers,
                max_header_bytes: config.max_buffer,
                body_limit: [config.response_body_limit, config.request_body_limit],
            },
        }
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits a start line into its first token, second token and the rest.
fn split3(line: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let is_sp = |b: &u8| *b == b' ' || *b == b'\t';
    let line = trim_ws(line);
    let first_end = line.iter().position(is_sp).unwrap_or(line.len());
    let rest = trim_ws(&line[first_end..]);
    let second_end = rest.iter().position(is_sp).unwrap_or(rest.len());
    (
        &line[..first_end],
        &rest[..second_end],
        trim_ws(&rest[second_end..]),
    )
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    let value = trim_ws(value);
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = trim_ws(line);
    let end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(end);
    let rest = trim_ws(rest);
    if digits.is_empty() || digits.len() > 15 || !(rest.is_empty() || rest[0] == b';') {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Splits `host[:port]` (or `[v6]:port`) into a lowercase host and a port.
fn split_host(raw: &[u8]) -> (Vec<u8>, Option<u16>) {
    let raw = trim_ws(raw);
    let (host, port) = if raw.first() == Some(&b'[') {
        match raw.iter().position(|b| *b == b']') {
            Some(end) => (&raw[..=end], raw[end + 1..].strip_prefix(b":")),
            None => (raw, None),
        }
    } else {
        match raw.iter().rposition(|b| *b == b':') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (raw, None),
        }
    };
    let port = port
        .and_then(parse_decimal)
        .and_then(|p| u16::try_from(p).ok());
    let mut host = host.to_ascii_lowercase();
    while host.last() == Some(&b'.') {
        host.pop();
    }
    (host, port)
}

/// `(authority, path-and-query)` of an absolute-form request target.
fn split_absolute(uri: &[u8]) -> Option<(&[u8], &[u8])> {
    let scheme_end = uri.windows(3).position(|w| w == b"://")?;
    let scheme = &uri[..scheme_end];
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return None;
    }
    let rest = &uri[scheme_end + 3..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    // Drop userinfo.
    let authority = match authority.iter().rposition(|b| *b == b'@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    Some((authority, &rest[end..]))
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986: letters, digits, `-._~`);
/// other escapes stay as they are, so the meaning of the URI does not change.
fn decode_unreserved(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex_val),
                input.get(i + 2).copied().and_then(hex_val),
            ) {
                let c = h * 16 + l;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Removes `.` and `..` segments and empty segments (`//`) from a path.
fn clean_path(path: &[u8]) -> Vec<u8> {
    let absolute = path.first() == Some(&b'/');
    let segments: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    let last = segments.len().saturating_sub(1);
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            b"" => trailing = i == last && i > 0,
            b"." => trailing = i == last,
            b".." => {
                kept.pop();
                trailing = i == last;
            }
            s => {
                kept.push(s);
                trailing = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&kept.join(&b'/'));
    if trailing && !kept.is_empty() {
        out.push(b'/');
    }
    out
}

/// The normalised URI Suricata's `http.uri` inspects: path and query only.
pub fn normalize_uri(raw: &[u8]) -> Vec<u8> {
    let target = match split_absolute(raw) {
        Some((_, [])) => &b"/"[..],
        Some((_, rest)) => rest,
        None => raw,
    };
    let (path, query) = match target.iter().position(|b| *b == b'?') {
        Some(i) => target.split_at(i),
        None => (target, &b""[..]),
    };
    let mut out = if path.is_empty() {
        Vec::new()
    } else {
        clean_path(&decode_unreserved(path))
    };
    out.extend_from_slice(&decode_unreserved(query));
    out
}

impl Cursor {
    /// One line of a start line, header block, chunk framing or trailer.
    fn on_line(
        &mut self,
        to_server: bool,
        line: &[u8],
        book: &mut Book,
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Option<Next>, Fault> {
        match self.phase {
            Phase::Idle => self.on_start_line(to_server, line, book, ts, out),
            Phase::Headers => self.on_header_line(to_server, line, book, out),
            Phase::Body(Body::ChunkSize) | Phase::Body(Body::ChunkEnd) => {
                if let Some(m) = book.message(to_server, self.tx) {
                    m.message_len += line.len() as u64;
                }
                let text = trim_eol(line);
                if trim_ws(text).is_empty() {
                    // The line ending after chunk data, or a stray empty line.
                    self.phase = Phase::Body(Body::ChunkSize);
                    return Ok(None);
                }
                let size = parse_chunk_size(text).ok_or(Fault::Malformed("bad chunk size"))?;
                self.phase = Phase::Body(if size == 0 {
                    Body::Trailer
                } else {
                    Body::ChunkData(size)
                });
                Ok(None)
            }
            Phase::Body(Body::Trailer) => {
                if let Some(m) = book.message(to_server, self.tx) {
                    m.message_len += line.len() as u64;
                }
                if trim_eol(line).is_empty() {
                    self.complete(to_server, book, out);
                }
                Ok(None)
            }
            Phase::Body(_) => Ok(None),
        }
    }

    fn on_start_line(
        &mut self,
        to_server: bool,
        line: &[u8],
        book: &mut Book,
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Option<Next>, Fault> {
        let text = trim_eol(line);
        if trim_ws(text).is_empty() {
            // Empty lines between messages are tolerated, as by libhtp.
            return Ok(None);
        }
        let (a, b, c) = split3(text);
        let mut msg = HttpMessage {
            start: line.to_vec(),
            line_len: text.len(),
            headers_at: line.len(),
            ..HttpMessage::default()
        };
        if to_server {
            if !a.iter().all(|x| is_token(*x)) || b.is_empty() {
                return Err(Fault::Malformed("bad request line"));
            }
            // A space inside the URI (`GET /a?x=;cat /etc/passwd HTTP/1.1`, an attack's
            // favourite) leaves the rest in the protocol field; libhtp keeps parsing such a
            // request, and so do we, as long as an `HTTP/` version follows.
            let has_version = c.windows(5).any(|w| w.eq_ignore_ascii_case(b"HTTP/"));
            if !c.is_empty() && !has_version {
                return Err(Fault::Malformed("bad request protocol"));
            }
            let id = book.claim(true, ts, out);
            let http09 = c.is_empty();
            if http09 {
                msg.complete = true;
            }
            // Normalised now, so that a request whose headers never complete (the flow
            // ends first) is still inspected on its URI, as libhtp allows.
            let request = HttpRequest {
                method: a.to_vec(),
                uri: b.to_vec(),
                uri_normalized: normalize_uri(b),
                protocol: c.to_vec(),
                msg,
                ..HttpRequest::default()
            };
            if let Some(p) = book.get(id) {
                p.tx.request = Some(request);
            }
            self.tx = Some(id);
            if http09 {
                // HTTP/0.9: no headers, no body.
                self.finish_headers(true, book, out)?;
            } else {
                self.phase = Phase::Headers;
            }
        } else {
            if !a.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"HTTP/")) {
                return Err(Fault::Malformed("bad status line"));
            }
            let id = match self.tx {
                // After an interim response the final one belongs to the same transaction.
                Some(id) => id,
                None => book.claim(false, ts, out),
            };
            let status_code = if b.len() == 3 {
                parse_decimal(b).and_then(|c| u16::try_from(c).ok())
            } else {
                None
            };
            let response = HttpResponse {
                protocol: a.to_vec(),
                status: b.to_vec(),
                status_code,
                message: c.to_vec(),
                msg,
            };
            if let Some(p) = book.get(id) {
                p.tx.response = Some(response);
            }
            self.tx = Some(id);
            self.phase = Phase::Headers;
        }
        Ok(None)
    }

    fn on_header_line(
        &mut self,
        to_server: bool,
        line: &[u8],
        book: &mut Book,
        out: &mut Vec<AppEvent>,
    ) -> Result<Option<Next>, Fault> {
        let (max_headers, max_bytes) = (book.max_headers, book.max_header_bytes);
        let Some(m) = book.message(to_server, self.tx) else {
            return Err(Fault::Malformed("header without a message"));
        };
        if m.start.len() + line.len() > max_bytes {
            return Err(Fault::TooLong);
        }
        m.start.extend_from_slice(line);
        let text = trim_eol(line);
        if text.is_empty() {
            return self.finish_headers(to_server, book, out);
        }
        if text[0] == b' ' || text[0] == b'\t' {
            if let Some(last) = m.headers.last_mut() {
                let more = trim_ws(text);
                if !more.is_empty() {
                    last.value.push(b' ');
                    last.value.extend_from_slice(more);
                }
            }
            return Ok(None);
        }
        let Some(colon) = text.iter().position(|b| *b == b':') else {
            // Not a header; libhtp flags it and goes on.
            return Ok(None);
        };
        if m.headers.len() >= max_headers {
            m.headers_dropped = m.headers_dropped.saturating_add(1);
            return Ok(None);
        }
        m.headers.push(Header {
            name: trim_ws(&text[..colon]).to_vec(),
            value: trim_ws(&text[colon + 1..]).to_vec(),
        });
        Ok(None)
    }

    /// The header block ended: derive buffers, choose the body framing.
    fn finish_headers(
        &mut self,
        to_server: bool,
        book: &mut Book,
        out: &mut Vec<AppEvent>,
    ) -> Result<Option<Next>, Fault> {
        let Some(id) = self.tx else {
            return Ok(None);
        };
        let Some(p) = book.get(id) else {
            return Ok(None);
        };
        let request_method = p.tx.request.as_ref().map(|r| r.method.clone());
        let (msg, status) = if to_server {
            let Some(req) = p.tx.request.as_mut() else {
                return Ok(None);
            };
            req.msg.derive_header_buffers("Cookie");
            req.uri_normalized = normalize_uri(&req.uri);
            let host_raw = match split_absolute(&req.uri) {
                Some((authority, _)) if !authority.is_empty() => Some(authority.to_vec()),
                _ => req.msg.header("Host").map(<[u8]>::to_vec),
            };
            if let Some(raw) = &host_raw {
                let (host, port) = split_host(raw);
                req.host = Some(host);
                req.port = port;
            }
            req.host_raw = host_raw;
            (&mut req.msg, None)
        } else {
            let Some(resp) = p.tx.response.as_mut() else {
                return Ok(None);
            };
            resp.msg.derive_header_buffers("Set-Cookie");
            (&mut resp.msg, resp.status_code)
        };
        if to_server && msg.complete {
            // HTTP/0.9
            self.complete(to_server, book, out);
            return Ok(None);
        }
        let te = msg.header_combined("Transfer-Encoding");
        let chunked = te.as_deref().is_some_and(|te| contains_ci(te, b"chunked"));
        let length = match msg.header("Content-Length") {
            Some(v) if !chunked => {
                Some(parse_decimal(v).ok_or(Fault::Malformed("bad Content-Length"))?)
            }
            _ => None,
        };
        msg.chunked = chunked;
        let body = if to_server {
            if chunked {
                Some(Body::ChunkSize)
            } else {
                length.filter(|l| *l > 0).map(Body::Length)
            }
        } else {
            let code = status.unwrap_or(0);
            let head = request_method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(b"HEAD"));
            let connect = request_method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(b"CONNECT"));
            if code == 101 {
                self.complete(to_server, book, out);
                return Err(Fault::Tunnel);
            }
            if (100..200).contains(&code) {
                // Interim: the final response follows for the same request.
                if let Some(p) = book.get(id) {
                    if p.tx.interim.len() < 8 {
                        p.tx.interim.push(code);
                    }
                    p.tx.response = None;
                }
                self.phase = Phase::Idle;
                return Ok(None);
            }
            if connect && (200..300).contains(&code) {
                self.complete(to_server, book, out);
                return Ok(Some(Next::StartTls { consumed: 0 }));
            }
            if head || code == 204 || code == 304 {
                None
            } else if chunked {
                Some(Body::ChunkSize)
            } else if let Some(l) = length {
                (l > 0).then_some(Body::Length(l))
            } else {
                Some(Body::UntilClose)
            }
        };
        match body {
            Some(body) => self.phase = Phase::Body(body),
            None => self.complete(to_server, book, out),
        }
        Ok(None)
    }

    /// Body bytes: `data` holds at least one byte the current framing takes.
    fn on_body(
        &mut self,
        to_server: bool,
        data: &[u8],
        book: &mut Book,
        out: &mut Vec<AppEvent>,
    ) -> usize {
        let Phase::Body(body) = self.phase else {
            return 0;
        };
        let take = match body {
            Body::Length(n) | Body::ChunkData(n) => {
                usize::try_from(n).map_or(data.len(), |n| n.min(data.len()))
            }
            Body::UntilClose => data.len(),
            _ => return 0,
        };
        let limit = book.body_limit[usize::from(to_server)];
        if let Some(m) = book.message(to_server, self.tx) {
            let room = limit.saturating_sub(m.body.len());
            m.body.extend_from_slice(&data[..take.min(room)]);
            m.body_truncated |= take > room;
            m.body_len += take as u64;
            m.message_len += take as u64;
        }
        let left = |n: u64| n - take as u64;
        match body {
            Body::Length(n) if left(n) == 0 => self.complete(to_server, book, out),
            Body::Length(n) => self.phase = Phase::Body(Body::Length(left(n))),
            Body::ChunkData(n) if left(n) == 0 => self.phase = Phase::Body(Body::ChunkEnd),
            Body::ChunkData(n) => self.phase = Phase::Body(Body::ChunkData(left(n))),
            _ => {}
        }
        take
    }

    /// The current message ended.
    fn complete(&mut self, to_server: bool, book: &mut Book, out: &mut Vec<AppEvent>) {
        self.phase = Phase::Idle;
        let Some(id) = self.tx.take() else {
            return;
        };
        if let Some(m) = book.message(to_server, Some(id)) {
            m.complete = true;
        }
        if let Some(p) = book.get(id) {
            if to_server {
                p.request_done = true;
                if !p.response_done {
                    out.push(AppEvent::HttpRequest(Box::new(p.tx.clone())));
                }
            } else {
                p.response_done = true;
            }
        }
        book.flush(out);
    }
}

impl StreamParser for HttpParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let Side { lines, at } = &mut self.sides[usize::from(to_server)];
        let mut pos = 0;
        loop {
            let in_body = matches!(
                at.phase,
                Phase::Body(Body::Length(_) | Body::ChunkData(_) | Body::UntilClose)
            );
            if in_body {
                if pos >= data.len() {
                    break;
                }
                pos += at.on_body(to_server, &data[pos..], &mut self.book, out);
                continue;
            }
            let Some(line) = lines.next_line(data, &mut pos)? else {
                break;
            };
            if let Some(Next::StartTls { .. }) =
                at.on_line(to_server, line, &mut self.book, ts, out)?
            {
                // Whatever follows on this side belongs to the tunnel.
                self.book.flush(out);
                return Ok(Next::StartTls { consumed: pos });
            }
        }
        Ok(Next::Continue)
    }

    fn gap(&mut self, to_server: bool, len: u64, out: &mut Vec<AppEvent>) -> Result<(), Fault> {
        let Side { lines, at } = &mut self.sides[usize::from(to_server)];
        let body = match at.phase {
            Phase::Body(b) if lines.pending() == 0 => b,
            _ => return Err(Fault::Gap(len)),
        };
        let next = match body {
            Body::Length(n) if n >= len => Body::Length(n - len),
            Body::ChunkData(n) if n >= len => Body::ChunkData(n - len),
            Body::UntilClose => Body::UntilClose,
            _ => return Err(Fault::Gap(len)),
        };
        if let Some(m) = self.book.message(to_server, at.tx) {
            m.body_gap = true;
            m.body_len += len;
            m.message_len += len;
        }
        at.phase = Phase::Body(next);
        match next {
            Body::Length(0) => at.complete(to_server, &mut self.book, out),
            Body::ChunkData(0) => at.phase = Phase::Body(Body::ChunkEnd),
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<AppEvent>) {
        // A response delimited by the end of the connection is complete now.
        let resp = &mut self.sides[0].at;
        if resp.phase == Phase::Body(Body::UntilClose) {
            resp.complete(false, &mut self.book, out);
        }
        for side in &mut self.sides {
            side.at.phase = Phase::Idle;
            side.at.tx = None;
        }
        while let Some(p) = self.book.txs.pop_front() {
            out.push(AppEvent::Http(Box::new(p.tx)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn parser() -> HttpParser {
        HttpParser::new(&AppConfig::default())
    }

    /// Feeds `(to_server, bytes)` chunks, then finishes; returns completed transactions.
    fn run(p: &mut HttpParser, chunks: &[(bool, &[u8])]) -> (Vec<HttpTransaction>, Vec<AppEvent>) {
        let mut out = Vec::new();
        for (to_server, data) in chunks {
            p.feed(*to_server, data, UNIX_EPOCH, &mut out).unwrap();
        }
        p.finish(&mut out);
        let txs = out
            .iter()
            .filter_map(|e| match e {
                AppEvent::Http(tx) => Some((**tx).clone()),
                _ => None,
            })
            .collect();
        (txs, out)
    }

    const REQ: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n\
User-Agent: curl/8.0\r\nAccept: */*\r\nCookie: a=b\r\nReferer: http://r.example/\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 302 Found\r\nServer: nginx\r\nLocation: /login\r\n\
Content-Type: text/html; charset=utf-8\r\nSet-Cookie: s=1\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn a_space_inside_the_uri_is_parsed_as_libhtp_does() {
        let req = b"GET /cgi-bin/test.cgi?x=;cat /etc/passwd HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.5.0\r\n\r\n";
        let (txs, _) = run(&mut parser(), &[(true, &req[..]), (false, RESP)]);
        assert_eq!(txs.len(), 1);
        let eve = txs[0].to_eve(false);
        assert_eq!(eve["url"], "/cgi-bin/test.cgi?x=;cat");
        assert_eq!(eve["protocol"], "/etc/passwd HTTP/1.1");
        assert_eq!(eve["http_user_agent"], "curl/8.5.0");
    }

    #[test]
    fn request_and_response_make_one_transaction() {
        let (txs, out) = run(&mut parser(), &[(true, REQ), (false, RESP)]);
        assert!(matches!(out[0], AppEvent::HttpRequest(_)));
        assert_eq!(txs.len(), 1);
        let tx = &txs[0];
        let eve = tx.to_eve(false);
        assert_eq!(
            eve,
            json!({
                "hostname": "example.com", "http_port": 8080, "url": "/index.html?q=1",
                "http_user_agent": "curl/8.0", "http_refer": "http://r.example/",
                "http_method": "GET", "protocol": "HTTP/1.1",
                "http_content_type": "text/html", "status": 302, "redirect": "/login",
                "length": 5
            })
        );
        let b = tx.buffers();
        assert_eq!(b.method, Some(&b"GET"[..]));
        assert_eq!(b.uri, Some(&b"/index.html?q=1"[..]));
        assert_eq!(b.host, Some(&b"example.com"[..]));
        assert_eq!(b.host_raw, Some(&b"Example.COM:8080"[..]));
        assert_eq!(b.cookie, Some(&b"a=b"[..]));
        assert_eq!(
            b.header,
            Some(
                &b"Host: Example.COM:8080\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\
Referer: http://r.example/\r\n"[..]
            )
        );
        assert_eq!(
            b.header_names,
            Some(&b"\r\nHost\r\nUser-Agent\r\nAccept\r\nCookie\r\nReferer\r\n\r\n"[..])
        );
        assert_eq!(b.request_line, Some(&b"GET /index.html?q=1 HTTP/1.1"[..]));
        assert_eq!(b.start, Some(REQ));
        assert!(b.header_raw.unwrap().starts_with(b"Host: "));
        assert!(b.header_raw.unwrap().ends_with(b"\r\n\r\n"));
        assert_eq!(b.stat_code, Some(&b"302"[..]));
        assert_eq!(b.stat_msg, Some(&b"Found"[..]));
        assert_eq!(b.response_line, Some(&b"HTTP/1.1 302 Found"[..]));
        assert_eq!(b.server, Some(&b"nginx"[..]));
        assert_eq!(b.location, Some(&b"/login"[..]));
        assert_eq!(b.response_cookie, Some(&b"s=1"[..]));
        assert_eq!(b.file_data, Some(&b"hello"[..]));
        assert!(!b
            .response_header
            .unwrap()
            .windows(10)
            .any(|w| w == b"Set-Cookie"));
        let with_headers = tx.to_eve(true);
        assert_eq!(
            with_headers["request_headers"][0],
            json!({"name": "Host", "value": "Example.COM:8080"})
        );
        assert_eq!(
            with_headers["response_headers"].as_array().unwrap().len(),
            5
        );
    }

    #[test]
    fn split_at_every_byte_gives_the_same_transaction() {
        let (whole, _) = run(&mut parser(), &[(true, REQ), (false, RESP)]);
        for split in 0..=REQ.len() {
            let (txs, _) = run(
                &mut parser(),
                &[(true, &REQ[..split]), (true, &REQ[split..]), (false, RESP)],
            );
            assert_eq!(txs, whole, "request split at {split}");
        }
        for split in 0..=RESP.len() {
            let (txs, _) = run(
                &mut parser(),
                &[
                    (true, REQ),
                    (false, &RESP[..split]),
                    (false, &RESP[split..]),
                ],
            );
            assert_eq!(txs, whole, "response split at {split}");
        }
    }

    #[test]
    fn pipelined_requests_are_matched_in_order() {
        let reqs = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n\
POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\
Content-Length: 1000\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let (txs, _) = run(&mut parser(), &[(true, reqs), (false, resps)]);
        let summary: Vec<(Vec<u8>, Option<u16>)> = txs
            .iter()
            .map(|t| {
                (
                    t.request.as_ref().unwrap().uri.clone(),
                    t.response.as_ref().unwrap().status_code,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (b"/a".to_vec(), Some(200)),
                (b"/b".to_vec(), Some(200)),
                (b"/c".to_vec(), Some(201))
            ]
        );
        assert_eq!(txs[2].request.as_ref().unwrap().msg.body, b"abc");
        assert!(txs
            .iter()
            .all(|t| t.response.as_ref().unwrap().msg.complete));
    }

    #[test]
    fn chunked_bodies_are_dechunked() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let (txs, _) = run(
            &mut parser(),
            &[(true, b"GET / HTTP/1.1\r\n\r\n"), (false, resp)],
        );
        let m = &txs[0].response.as_ref().unwrap().msg;
        assert_eq!(m.body, b"hello, world");
        assert_eq!(m.body_len, 12);
        assert!(m.complete);
        assert!(m.chunked);
        assert!(m.message_len > 12);
        for split in 0..=resp.len() {
            let (again, _) = run(
                &mut parser(),
                &[
                    (true, b"GET / HTTP/1.1\r\n\r\n"),
                    (false, &resp[..split]),
                    (false, &resp[split..]),
                ],
            );
            assert_eq!(again, txs, "split at {split}");
        }
    }

    #[test]
    fn bodies_are_kept_up_to_the_limit() {
        let config = AppConfig {
            request_body_limit: 4,
            response_body_limit: 3,
            ..AppConfig::default()
        };
        let mut p = HttpParser::new(&config);
        let (txs, _) = run(
            &mut p,
            &[
                (
                    true,
                    b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
                ),
                (false, b"HTTP/1.0 200 OK\r\n\r\nabcdefgh"),
            ],
        );
        let req = &txs[0].request.as_ref().unwrap().msg;
        assert_eq!(req.body, b"0123");
        assert!(req.body_truncated);
        assert_eq!(req.body_len, 10);
        let resp = &txs[0].response.as_ref().unwrap().msg;
        // Until close: complete when the flow ends.
        assert_eq!(resp.body, b"abc");
        assert_eq!(resp.body_len, 8);
        assert!(resp.complete);
        assert_eq!(txs[0].to_eve(false)["length"], 8);
    }

    #[test]
    fn continue_responses_are_interim() {
        let (txs, _) = run(
            &mut parser(),
            &[
                (
                    true,
                    b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                ),
                (false, b"HTTP/1.1 100 Continue\r\n\r\n"),
                (true, b"data"),
                (false, b"HTTP/1.1 204 No Content\r\n\r\n"),
            ],
        );
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].interim, vec![100]);
        assert_eq!(txs[0].response.as_ref().unwrap().status_code, Some(204));
        assert_eq!(txs[0].request.as_ref().unwrap().msg.body, b"data");
    }

    #[test]
    fn folded_and_repeated_headers() {
        let req = b"GET / HTTP/1.1\r\nX-Long: a\r\n  b\r\nAccept: text/html\r\naccept: text/plain\r\n\r\n";
        let (txs, _) = run(&mut parser(), &[(true, req)]);
        let r = txs[0].request.as_ref().unwrap();
        assert_eq!(r.msg.header("x-long"), Some(&b"a b"[..]));
        assert_eq!(
            r.msg.header_combined("Accept").unwrap(),
            b"text/html, text/plain"
        );
        assert_eq!(
            txs[0].buffers().header,
            Some(&b"X-Long: a b\r\nAccept: text/html, text/plain\r\n"[..])
        );
        assert!(txs[0].response.is_none());
    }

    #[test]
    fn uri_normalisation() {
        assert_eq!(
            normalize_uri(b"/a/./b/../c//d%2e%41?x=%7e%2F"),
            b"/a/c/d.A?x=~%2F"
        );
        assert_eq!(normalize_uri(b"http://Host:81/p/../q?z"), b"/q?z");
        assert_eq!(normalize_uri(b"http://host"), b"/");
        assert_eq!(normalize_uri(b"/dir/"), b"/dir/");
        assert_eq!(normalize_uri(b"/../../etc/passwd"), b"/etc/passwd");
        assert_eq!(normalize_uri(b"*"), b"*");
        let (txs, _) = run(
            &mut parser(),
            &[(
                true,
                b"GET http://user@Proxy.Example:3128/x HTTP/1.1\r\nHost: other\r\n\r\n",
            )],
        );
        let r = txs[0].request.as_ref().unwrap();
        assert_eq!(r.host.as_deref(), Some(&b"proxy.example"[..]));
        assert_eq!(r.port, Some(3128));
        assert_eq!(split_host(b"[::1]:8443"), (b"[::1]".to_vec(), Some(8443)));
    }

    #[test]
    fn head_and_not_modified_have_no_body() {
        let (txs, _) = run(
            &mut parser(),
            &[
                (true, b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
                (false, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"),
            ],
        );
        assert_eq!(txs.len(), 2);
        assert!(txs
            .iter()
            .all(|t| t.response.as_ref().unwrap().msg.complete));
    }

    #[test]
    fn gaps_in_bodies_are_stepped_over_and_elsewhere_stop() {
        let mut p = parser();
        let mut out = Vec::new();
        p.feed(
            true,
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab",
            UNIX_EPOCH,
            &mut out,
        )
        .unwrap();
        p.gap(true, 5, &mut out).unwrap();
        p.feed(true, b"xyz", UNIX_EPOCH, &mut out).unwrap();
        let AppEvent::HttpRequest(tx) = &out[0] else {
            panic!("no request event: {out:?}");
        };
        let m = &tx.request.as_ref().unwrap().msg;
        assert!(m.body_gap && m.complete);
        assert_eq!(m.body, b"abxyz");
        assert_eq!(m.body_len, 10);
        // A gap between requests cannot be stepped over.
        assert_eq!(p.gap(true, 1, &mut out), Err(Fault::Gap(1)));
        let mut p = parser();
        p.feed(true, b"GET / HTTP/1.1\r\nHo", UNIX_EPOCH, &mut out)
            .unwrap();
        assert_eq!(p.gap(true, 3, &mut out), Err(Fault::Gap(3)));
    }

    #[test]
    fn bogus_input_is_an_error_not_a_panic() {
        for bad in [
            &b"\x00\x01\x02 / HTTP/1.1\r\n"[..],
            b"GET / FTP/1.0\r\n",
            b"GET\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let mut out = Vec::new();
            assert!(
                parser().feed(true, bad, UNIX_EPOCH, &mut out).is_err(),
                "{bad:?}"
            );
        }
        let mut out = Vec::new();
        assert!(parser()
            .feed(false, b"220 smtp\r\n", UNIX_EPOCH, &mut out)
            .is_err());
        // Headers past the buffer limit.
        let config = AppConfig {
            max_buffer: 64,
            ..AppConfig::default()
        };
        let mut p = HttpParser::new(&config);
        let long = [b"GET / HTTP/1.1\r\n".as_slice(), &[b'a'; 100]].concat();
        assert_eq!(
            p.feed(true, &long, UNIX_EPOCH, &mut out),
            Err(Fault::TooLong)
        );
    }

    #[test]
    fn connect_hands_over_and_switching_protocols_stops() {
        let mut p = parser();
        let mut out = Vec::new();
        p.feed(
            true,
            b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n",
            UNIX_EPOCH,
            &mut out,
        )
        .unwrap();
        let next = p
            .feed(
                false,
                b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03",
                UNIX_EPOCH,
                &mut out,
            )
            .unwrap();
        assert_eq!(next, Next::StartTls { consumed: 39 });
        assert!(out.iter().any(|e| matches!(e, AppEvent::Http(_))));
        let mut p = parser();
        p.feed(
            true,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            UNIX_EPOCH,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            p.feed(
                false,
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                UNIX_EPOCH,
                &mut out
            ),
            Err(Fault::Tunnel)
        );
    }

    #[test]
    fn pending_transactions_are_bounded() {
        let config = AppConfig {
            max_pending_transactions: 2,
            ..AppConfig::default()
        };
        let mut p = HttpParser::new(&config);
        let mut out = Vec::new();
        for _ in 0..5 {
            p.feed(true, b"GET / HTTP/1.1\r\n\r\n", UNIX_EPOCH, &mut out)
                .unwrap();
        }
        assert!(p.book.txs.len() <= 2);
        let logged = out
            .iter()
            .filter(|e| matches!(e, AppEvent::Http(_)))
            .count();
        assert_eq!(logged, 3);
    }
}
