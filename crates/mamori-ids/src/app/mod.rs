//! Application-layer parsing: which protocol a flow speaks, and what it said.
//!
//! Input comes from the stream reassembler (`crate::stream`): for each TCP flow, the
//! in-order bytes of each direction in chunks (`to_server` tells which way), plus a gap
//! notice when bytes are known to be missing; for UDP, each datagram's payload. Output is
//! a list of [`AppEvent`]s per call: the protocol once it is known, and transactions
//! (an HTTP request/response pair, a DNS message, a TLS handshake, an SMTP envelope, SSH
//! banners) carrying the fields Suricata's EVE JSON writes (`to_eve`) and the sticky
//! buffers Suricata rules inspect (`buffers`).
//!
//! Detection is by content ([`probe`]): HTTP methods and `HTTP/1.` status lines, TLS
//! handshake records, `SSH-` banners, SMTP and FTP greetings and first commands, DNS
//! messages behind a TCP length prefix. The server port is only a hint that settles
//! ambiguous cases (a bare `220` greeting is SMTP on port 25 and FTP on port 21).
//!
//! Every parser is bounded: unparsed bytes kept per direction are limited
//! ([`AppConfig::max_buffer`]), bodies are kept up to a limit, counts of headers, records
//! and pending transactions are capped, and nothing recurses on traffic. A gap that a
//! parser cannot step over (missing bytes inside HTTP headers, a TLS record, a DNS-over-TCP
//! message) stops parsing of that flow; [`AppState::counters`] says so. Parsers never
//! panic on any input.
//!
//! Not done here: HTTP/2, gzip bodies, QUIC, decryption, file extraction, SMB and other
//! protocols. Output formatting beyond the protocol object (`timestamp`, `flow_id`,
//! addresses) is the pipeline's.

pub mod dns;
pub mod ftp;
pub mod http;
mod line;
pub mod probe;
pub mod smtp;
pub mod ssh;
pub mod tls;
pub mod x509;

use std::fmt;
use std::time::SystemTime;

pub use probe::{detect, detect_hinted, Detection};

/// When a chunk was captured (the time of the packet that completed it).
pub type Timestamp = SystemTime;

/// An application protocol, named as Suricata names it in `app_proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProto {
    Http,
    Tls,
    Dns,
    Smtp,
    Ssh,
    Ftp,
    /// Not (yet) known.
    Unknown,
    /// Detection gave up: the flow speaks nothing we parse.
    Failed,
}

impl AppProto {
    /// Suricata's name: `http`, `tls`, `dns`, `smtp`, `ssh`, `ftp`, `unknown`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Dns => "dns",
            AppProto::Smtp => "smtp",
            AppProto::Ssh => "ssh",
            AppProto::Ftp => "ftp",
            AppProto::Unknown => "unknown",
            AppProto::Failed => "failed",
        }
    }
}

impl fmt::Display for AppProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Limits for one flow's parsers. The defaults follow Suricata's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Most unparsed bytes kept per direction (an HTTP header block, a TLS handshake
    /// message, an unfinished line). Past it the flow stops being parsed.
    pub max_buffer: usize,
    /// HTTP request body bytes kept for inspection (Suricata: request-body-limit 100 KiB).
    pub request_body_limit: usize,
    /// HTTP response body bytes kept (Suricata: response-body-limit 100 KiB).
    pub response_body_limit: usize,
    /// Bytes per direction looked at before protocol detection gives up.
    pub detect_limit: usize,
    /// HTTP transactions waiting for their response before the oldest is given up.
    pub max_pending_transactions: usize,
    /// Headers per HTTP message; more are counted but not kept.
    pub max_headers: usize,
    /// Include all request and response headers in HTTP EVE records.
    pub log_http_headers: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_buffer: 64 * 1024,
            request_body_limit: 100 * 1024,
            response_body_limit: 100 * 1024,
            detect_limit: 4096,
            max_pending_transactions: 64,
            max_headers: 256,
            log_http_headers: false,
        }
    }
}

/// What went wrong in a flow's application data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("{proto} {}: {what} (in the chunk at stream offset {offset})", direction(*to_server))]
    Malformed {
        proto: AppProto,
        to_server: bool,
        offset: u64,
        what: &'static str,
    },
    #[error("{proto} {}: more than {limit} unparsed bytes (at stream offset {offset})", direction(*to_server))]
    BufferLimit {
        proto: AppProto,
        to_server: bool,
        offset: u64,
        limit: usize,
    },
    #[error("{proto} {}: {len} bytes missing at stream offset {offset}, cannot resynchronise", direction(*to_server))]
    Gap {
        proto: AppProto,
        to_server: bool,
        offset: u64,
        len: u64,
    },
}

fn direction(to_server: bool) -> &'static str {
    if to_server {
        "to server"
    } else {
        "to client"
    }
}

/// Why a flow's application data is no longer parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Neither direction looked like a protocol we parse.
    NoProtocol,
    /// The parser met something it cannot go on from.
    Error(AppError),
    /// The connection became a tunnel (HTTP `CONNECT`, `101 Switching Protocols`).
    Tunnel,
}

/// How a TLS session record came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProgress {
    ClientHello,
    ServerHello,
    Certificate,
    /// Both sides went encrypted, or the flow ended: the record to log as EVE `tls`.
    Done,
}

/// Something a flow's application data told us.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// The protocol was recognised; sent once per flow.
    Detected(AppProto),
    /// An HTTP request is complete (headers and body); no response yet. For request-side
    /// rule inspection.
    HttpRequest(Box<http::HttpTransaction>),
    /// An HTTP transaction is complete (or given up): log it, inspect response buffers.
    Http(Box<http::HttpTransaction>),
    /// A DNS query or response; `tx_id` counts messages in the flow.
    Dns(Box<dns::DnsMessage>),
    /// The TLS handshake advanced; `Done` comes once per session.
    Tls(Box<tls::TlsSession>, TlsProgress),
    /// An SMTP transaction (envelope) ended: after the message data, RSET or QUIT.
    Smtp(Box<smtp::SmtpTransaction>),
    /// Both SSH banners are known (or the flow ended with one).
    Ssh(Box<ssh::SshSession>),
    /// An FTP command and its reply.
    Ftp(Box<ftp::FtpCommand>),
    /// Parsing of this flow stopped.
    Stopped(StopReason),
}

/// Per-flow counts of trouble, for the pipeline to add up into its statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppCounters {
    /// Gaps that stopped parsing.
    pub gap_stops: u64,
    /// Gaps stepped over (inside a body of known length, after a handshake).
    pub gaps_skipped: u64,
    /// Malformed input that stopped parsing.
    pub errors: u64,
    /// Buffer limits that stopped parsing.
    pub buffer_limits: u64,
}

/// Why a protocol parser could not go on; `AppState` adds protocol, direction and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Malformed(&'static str),
    TooLong,
    Gap(u64),
    Tunnel,
}

impl From<line::LineTooLong> for Fault {
    fn from(_: line::LineTooLong) -> Self {
        Fault::TooLong
    }
}

/// What a protocol parser wants after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// The rest of the flow, from `consumed` bytes into this chunk on, is TLS
    /// (SMTP `STARTTLS` and FTP `AUTH TLS` accepted by the server).
    StartTls {
        consumed: usize,
    },
}

/// The common shape of the stream parsers.
pub(crate) trait StreamParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault>;
    /// `len` bytes are missing; `Err` when the parser cannot step over them.
    fn gap(&mut self, to_server: bool, len: u64, out: &mut Vec<AppEvent>) -> Result<(), Fault>;
    /// The flow ended: hand out what is pending.
    fn finish(&mut self, out: &mut Vec<AppEvent>);
}

enum Parser {
    Detecting(Detector),
    Http(Box<http::HttpParser>),
    Tls(Box<tls::TlsParser>),
    Dns(Box<dns::DnsTcpParser>),
    Smtp(Box<smtp::SmtpParser>),
    Ssh(Box<ssh::SshParser>),
    Ftp(Box<ftp::FtpParser>),
    Stopped,
}

/// Bytes seen before the protocol is known, kept to replay into the chosen parser.
#[derive(Default)]
struct Detector {
    bytes: [Vec<u8>; 2],
    /// Chunks in arrival order: direction and length.
    order: Vec<(bool, usize)>,
    verdict: [Option<Detection>; 2],
}

/// The chunk that completed detection: only its first `taken` bytes went to the detector.
struct Chunk<'a> {
    to_server: bool,
    data: &'a [u8],
    taken: usize,
    start: u64,
}

/// The application layer of one flow: detection, then the chosen parser.
pub struct AppState {
    config: AppConfig,
    server_port: u16,
    udp: bool,
    proto: AppProto,
    parser: Parser,
    counters: AppCounters,
    /// Bytes fed (and skipped) per direction: `[to_client, to_server]`.
    offset: [u64; 2],
    dns_tx: u64,
}

impl AppState {
    /// A TCP flow whose server listens on `server_port` (a detection hint only; 0 for none).
    pub fn new(config: AppConfig, server_port: u16) -> Self {
        Self {
            config,
            server_port,
            udp: false,
            proto: AppProto::Unknown,
            parser: Parser::Detecting(Detector::default()),
            counters: AppCounters::default(),
            offset: [0; 2],
            dns_tx: 0,
        }
    }

    /// A UDP flow: fed with [`AppState::feed_datagram`].
    pub fn new_udp(config: AppConfig, server_port: u16) -> Self {
        Self {
            udp: true,
            ..Self::new(config, server_port)
        }
    }

    /// The protocol detected so far.
    pub fn proto(&self) -> AppProto {
        self.proto
    }

    /// Whether this flow's application data is still parsed.
    pub fn is_active(&self) -> bool {
        !matches!(self.parser, Parser::Stopped)
    }

    pub fn counters(&self) -> AppCounters {
        self.counters
    }

    /// The next in-order bytes of one TCP direction.
    pub fn feed(&mut self, to_server: bool, data: &[u8], ts: Timestamp) -> Vec<AppEvent> {
        let mut out = Vec::new();
        if data.is_empty() || self.udp {
            return out;
        }
        let start = self.offset[usize::from(to_server)];
        self.offset[usize::from(to_server)] += data.len() as u64;
        if let Parser::Detecting(detector) = &mut self.parser {
            let dir = usize::from(to_server);
            let room = self
                .config
                .detect_limit
                .saturating_sub(detector.bytes[dir].len());
            let take = room.min(data.len());
            detector.bytes[dir].extend_from_slice(&data[..take]);
            detector.order.push((to_server, take));
            let verdict = detect_hinted(to_server, &detector.bytes[dir], self.server_port);
            let verdict = match verdict {
                Detection::NeedMore if detector.bytes[dir].len() >= self.config.detect_limit => {
                    Detection::Unknown
                }
                v => v,
            };
            detector.verdict[dir] = Some(verdict);
            match verdict {
                Detection::Proto(proto) => {
                    let detector = std::mem::take(detector);
                    let current = Chunk {
                        to_server,
                        data,
                        taken: take,
                        start,
                    };
                    self.start(proto, detector, current, ts, &mut out);
                }
                Detection::Unknown if detector.verdict[1 - dir] == Some(Detection::Unknown) => {
                    self.stop(StopReason::NoProtocol, &mut out);
                }
                _ => {}
            }
            return out;
        }
        self.run(to_server, data, start, ts, &mut out);
        out
    }

    /// One UDP datagram's payload.
    pub fn feed_datagram(
        &mut self,
        to_server: bool,
        payload: &[u8],
        ts: Timestamp,
    ) -> Vec<AppEvent> {
        // DNS needs neither: the message says whether it is a query or a response.
        let _ = (to_server, ts);
        let mut out = Vec::new();
        if !self.is_active() {
            return out;
        }
        if self.proto == AppProto::Unknown {
            if probe::is_dns_datagram(payload, self.server_port) {
                self.proto = AppProto::Dns;
                out.push(AppEvent::Detected(AppProto::Dns));
            } else {
                return out;
            }
        }
        if let Ok(message) = dns::parse_message(payload, self.dns_tx) {
            self.dns_tx += 1;
            out.push(AppEvent::Dns(Box::new(message)));
        } else {
            self.counters.errors += 1;
        }
        out
    }

    /// `len` bytes of one TCP direction are missing.
    pub fn gap(&mut self, to_server: bool, len: u64) -> Vec<AppEvent> {
        let mut out = Vec::new();
        let dir = usize::from(to_server);
        let offset = self.offset[dir];
        self.offset[dir] += len;
        let proto = self.proto;
        let result = match &mut self.parser {
            Parser::Stopped => return out,
            // Detection and replay need the start of both streams whole.
            Parser::Detecting(_) => Err(Fault::Gap(len)),
            Parser::Http(p) => p.gap(to_server, len, &mut out),
            Parser::Tls(p) => p.gap(to_server, len, &mut out),
            Parser::Dns(p) => p.gap(to_server, len, &mut out),
            Parser::Smtp(p) => p.gap(to_server, len, &mut out),
            Parser::Ssh(p) => p.gap(to_server, len, &mut out),
            Parser::Ftp(p) => p.gap(to_server, len, &mut out),
        };
        match result {
            Ok(()) => self.counters.gaps_skipped += 1,
            Err(fault) => {
                let proto = if proto == AppProto::Unknown {
                    AppProto::Failed
                } else {
                    proto
                };
                self.fail(proto, to_server, offset, fault, &mut out);
            }
        }
        out
    }

    /// The flow ended: pending transactions are handed out.
    pub fn finish(&mut self) -> Vec<AppEvent> {
        let mut out = Vec::new();
        match &mut self.parser {
            Parser::Http(p) => p.finish(&mut out),
            Parser::Tls(p) => p.finish(&mut out),
            Parser::Dns(p) => p.finish(&mut out),
            Parser::Smtp(p) => p.finish(&mut out),
            Parser::Ssh(p) => p.finish(&mut out),
            Parser::Ftp(p) => p.finish(&mut out),
            Parser::Detecting(_) | Parser::Stopped => {}
        }
        self.parser = Parser::Stopped;
        out
    }

    /// Detection chose `proto`: build its parser and replay what was seen so far. The
    /// current chunk was cut to `taken` bytes for detection; the rest follows.
    fn start(
        &mut self,
        proto: AppProto,
        detector: Detector,
        current: Chunk<'_>,
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) {
        self.proto = proto;
        out.push(AppEvent::Detected(proto));
        self.parser = self.parser_for(proto);
        let mut pos = [0usize; 2];
        let mut offset = [0u64; 2];
        for (to_server, len) in detector.order {
            let dir = usize::from(to_server);
            let Some(bytes) = detector.bytes[dir].get(pos[dir]..pos[dir] + len) else {
                continue;
            };
            pos[dir] += len;
            self.run(to_server, bytes, offset[dir], ts, out);
            offset[dir] += len as u64;
            if !self.is_active() {
                return;
            }
        }
        if let Some(rest) = current.data.get(current.taken..) {
            if !rest.is_empty() {
                let offset = current.start + current.taken as u64;
                self.run(current.to_server, rest, offset, ts, out);
            }
        }
    }

    fn parser_for(&self, proto: AppProto) -> Parser {
        let c = &self.config;
        match proto {
            AppProto::Http => Parser::Http(Box::new(http::HttpParser::new(c))),
            AppProto::Tls => Parser::Tls(Box::new(tls::TlsParser::new(c))),
            AppProto::Dns => Parser::Dns(Box::new(dns::DnsTcpParser::new())),
            AppProto::Smtp => Parser::Smtp(Box::new(smtp::SmtpParser::new(c))),
            AppProto::Ssh => Parser::Ssh(Box::new(ssh::SshParser::new())),
            AppProto::Ftp => Parser::Ftp(Box::new(ftp::FtpParser::new(c))),
            AppProto::Unknown | AppProto::Failed => Parser::Stopped,
        }
    }

    fn run(
        &mut self,
        to_server: bool,
        data: &[u8],
        chunk_start: u64,
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) {
        let (proto, result) = match &mut self.parser {
            Parser::Detecting(_) | Parser::Stopped => return,
            Parser::Http(p) => (AppProto::Http, p.feed(to_server, data, ts, out)),
            Parser::Tls(p) => (AppProto::Tls, p.feed(to_server, data, ts, out)),
            Parser::Dns(p) => (AppProto::Dns, p.feed(to_server, data, ts, out)),
            Parser::Smtp(p) => (AppProto::Smtp, p.feed(to_server, data, ts, out)),
            Parser::Ssh(p) => (AppProto::Ssh, p.feed(to_server, data, ts, out)),
            Parser::Ftp(p) => (AppProto::Ftp, p.feed(to_server, data, ts, out)),
        };
        match result {
            Ok(Next::Continue) => {}
            Ok(Next::StartTls { consumed }) => {
                self.parser = Parser::Tls(Box::new(tls::TlsParser::new(&self.config)));
                if let Some(rest) = data.get(consumed..) {
                    if !rest.is_empty() {
                        self.run(to_server, rest, chunk_start + consumed as u64, ts, out);
                    }
                }
            }
            Err(fault) => self.fail(proto, to_server, chunk_start, fault, out),
        }
    }

    fn fail(
        &mut self,
        proto: AppProto,
        to_server: bool,
        offset: u64,
        fault: Fault,
        out: &mut Vec<AppEvent>,
    ) {
        let reason = match fault {
            Fault::Malformed(what) => {
                self.counters.errors += 1;
                StopReason::Error(AppError::Malformed {
                    proto,
                    to_server,
                    offset,
                    what,
                })
            }
            Fault::TooLong => {
                self.counters.buffer_limits += 1;
                StopReason::Error(AppError::BufferLimit {
                    proto,
                    to_server,
                    offset,
                    limit: self.config.max_buffer,
                })
            }
            Fault::Gap(len) => {
                self.counters.gap_stops += 1;
                StopReason::Error(AppError::Gap {
                    proto,
                    to_server,
                    offset,
                    len,
                })
            }
            Fault::Tunnel => StopReason::Tunnel,
        };
        // Whatever was complete before the trouble is still worth logging.
        match &mut self.parser {
            Parser::Http(p) => p.finish(out),
            Parser::Tls(p) => p.finish(out),
            Parser::Smtp(p) => p.finish(out),
            Parser::Ssh(p) => p.finish(out),
            Parser::Ftp(p) => p.finish(out),
            Parser::Dns(_) | Parser::Detecting(_) | Parser::Stopped => {}
        }
        self.stop(reason, out);
    }

    fn stop(&mut self, reason: StopReason, out: &mut Vec<AppEvent>) {
        tracing::debug!(proto = %self.proto, reason = ?reason, "app-layer parsing stopped");
        if self.proto == AppProto::Unknown {
            self.proto = AppProto::Failed;
        }
        self.parser = Parser::Stopped;
        out.push(AppEvent::Stopped(reason));
    }
}

#[cfg(test)]
mod tests;
