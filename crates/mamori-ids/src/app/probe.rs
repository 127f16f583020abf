//! Protocol detection from the first bytes of a direction.
//!
//! Each probe looks for what a protocol must start with: an HTTP method followed by a
//! space, `HTTP/1.` in a reply, a TLS handshake record carrying a ClientHello or
//! ServerHello, an `SSH-` banner, an SMTP or FTP greeting or first command, a DNS message
//! behind a two-byte length prefix. Too few bytes to tell gives [`Detection::NeedMore`].
//! The server port only settles what content cannot: a bare `220` greeting.

use super::AppProto;

/// The verdict of probing one direction's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    Proto(AppProto),
    /// Consistent with a protocol so far; more bytes will tell.
    NeedMore,
    /// None of ours.
    Unknown,
}

/// HTTP methods accepted at the start of a request (those libhtp and Suricata know).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"CHECKOUT",
    b"CHECKIN",
    b"REPORT",
    b"MERGE",
    b"MKACTIVITY",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"UPDATE",
    b"LABEL",
    b"MKWORKSPACE",
    b"UNCHECKOUT",
];

const SMTP_PORTS: &[u16] = &[25, 465, 587, 2525];
const FTP_PORTS: &[u16] = &[21];

/// A probe: direction, first bytes, server port.
type Probe = fn(bool, &[u8], u16) -> Detection;

/// Probes `data`, the first bytes of one direction, by content only.
pub fn detect(to_server: bool, data: &[u8]) -> Detection {
    detect_hinted(to_server, data, 0)
}

/// Probes `data` with the server's port as a hint for ambiguous greetings (0: none).
pub fn detect_hinted(to_server: bool, data: &[u8], server_port: u16) -> Detection {
    if data.is_empty() {
        return Detection::NeedMore;
    }
    let probes: [Probe; 5] = [
        probe_tls,
        probe_http,
        probe_ssh,
        probe_mail_ftp,
        probe_dns_tcp,
    ];
    let mut verdict = Detection::Unknown;
    for probe in probes {
        match probe(to_server, data, server_port) {
            Detection::Proto(p) => return Detection::Proto(p),
            Detection::NeedMore => verdict = Detection::NeedMore,
            Detection::Unknown => {}
        }
    }
    verdict
}

/// `Proto` when `data` starts with `expected`, `NeedMore` while it is a prefix of it.
fn prefix(data: &[u8], expected: &[u8], proto: AppProto) -> Detection {
    if data.starts_with(expected) {
        Detection::Proto(proto)
    } else if expected.starts_with(data) {
        Detection::NeedMore
    } else {
        Detection::Unknown
    }
}

fn probe_http(to_server: bool, data: &[u8], _: u16) -> Detection {
    if !to_server {
        return prefix(data, b"HTTP/1.", AppProto::Http);
    }
    let mut verdict = Detection::Unknown;
    for method in METHODS {
        match data.get(method.len()) {
            Some(b' ') if data.starts_with(method) => return Detection::Proto(AppProto::Http),
            None if method.starts_with(data) => verdict = Detection::NeedMore,
            _ => {}
        }
    }
    verdict
}

fn probe_tls(to_server: bool, data: &[u8], _: u16) -> Detection {
    // Record: type 22 (handshake), version 3.x, length; then the handshake type.
    let expected_hs = if to_server { 1 } else { 2 };
    let header_ok = [0x16, 0x03]
        .iter()
        .zip(data)
        .all(|(expected, b)| expected == b)
        && data.get(2).is_none_or(|minor| *minor <= 0x04);
    if !header_ok {
        return Detection::Unknown;
    }
    match (data.get(3), data.get(4), data.get(5)) {
        (Some(hi), Some(lo), Some(hs)) => {
            let len = u16::from_be_bytes([*hi, *lo]);
            if (4..=16384 + 2048).contains(&len) && *hs == expected_hs {
                Detection::Proto(AppProto::Tls)
            } else {
                Detection::Unknown
            }
        }
        _ => Detection::NeedMore,
    }
}

fn probe_ssh(_: bool, data: &[u8], _: u16) -> Detection {
    match prefix(data, b"SSH-", AppProto::Ssh) {
        Detection::Proto(_) => {
            let rest = &data[4..];
            for version in [&b"2.0-"[..], b"1.99-", b"1.5-"] {
                match prefix(rest, version, AppProto::Ssh) {
                    Detection::Unknown => {}
                    v => return v,
                }
            }
            Detection::Unknown
        }
        v => v,
    }
}

/// SMTP and FTP both greet with `220`; the client's first command or the port decides.
fn probe_mail_ftp(to_server: bool, data: &[u8], port: u16) -> Detection {
    if to_server {
        let upper: Vec<u8> = data.iter().take(5).map(u8::to_ascii_uppercase).collect();
        for (cmd, proto) in [
            (&b"EHLO "[..], AppProto::Smtp),
            (b"HELO ", AppProto::Smtp),
            (b"USER ", AppProto::Ftp),
            // FTPS clients start with AUTH TLS; SMTP clients only AUTH after EHLO.
            (b"AUTH ", AppProto::Ftp),
            (b"FEAT\r", AppProto::Ftp),
            (b"SYST\r", AppProto::Ftp),
        ] {
            match prefix(&upper, cmd, proto) {
                Detection::Unknown => {}
                v => return v,
            }
        }
        return Detection::Unknown;
    }
    match prefix(data, b"220", AppProto::Unknown) {
        Detection::Proto(_) => {}
        v => return v,
    }
    match data.get(3) {
        None => return Detection::NeedMore,
        Some(b' ' | b'-') => {}
        Some(_) => return Detection::Unknown,
    }
    if SMTP_PORTS.contains(&port) {
        return Detection::Proto(AppProto::Smtp);
    }
    if FTP_PORTS.contains(&port) {
        return Detection::Proto(AppProto::Ftp);
    }
    let line_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let banner = data[..line_end].to_ascii_uppercase();
    if memchr::memmem::find(&banner, b"SMTP").is_some() {
        return Detection::Proto(AppProto::Smtp);
    }
    if memchr::memmem::find(&banner, b"FTP").is_some() {
        return Detection::Proto(AppProto::Ftp);
    }
    // Wait for the client's first command.
    Detection::NeedMore
}

fn probe_dns_tcp(to_server: bool, data: &[u8], port: u16) -> Detection {
    let Some(len) = data
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Detection::NeedMore;
    };
    if len < 12 + 5 || !plausible_header(&data[2..], to_server) {
        return Detection::Unknown;
    }
    let Some(message) = data.get(2..2 + len) else {
        // The whole message is needed to be sure; a long one off port 53 is not worth it.
        return if port == 53 || len <= 512 {
            Detection::NeedMore
        } else {
            Detection::Unknown
        };
    };
    match super::dns::parse_message(message, 0) {
        Ok(_) => Detection::Proto(AppProto::Dns),
        Err(_) => Detection::Unknown,
    }
}

/// Whether the (possibly incomplete) `header` looks as queries and responses really do: a
/// standard opcode, the Z bit clear, one question, and for a query no answers.
fn plausible_header(header: &[u8], query: bool) -> bool {
    let byte = |i: usize| header.get(i).copied();
    if let Some(b) = byte(2) {
        let qr = b & 0x80 != 0;
        let opcode = (b >> 3) & 0xf;
        if qr == query || opcode > 5 {
            return false;
        }
    }
    if byte(3).is_some_and(|b| b & 0x40 != 0) {
        return false;
    }
    // qdcount == 1; for a query ancount == nscount == 0.
    let zero_at: &[usize] = if query { &[4, 6, 7, 8, 9] } else { &[4] };
    if zero_at.iter().any(|i| byte(*i).is_some_and(|b| b != 0)) {
        return false;
    }
    byte(5).is_none_or(|b| b == 1)
}

/// Whether a UDP payload is a DNS message: on port 53 any message that parses, elsewhere
/// only a plausible query or response.
pub fn is_dns_datagram(payload: &[u8], server_port: u16) -> bool {
    let Some(header) = payload.get(..12) else {
        return false;
    };
    let plausible = plausible_header(header, true) || plausible_header(header, false);
    if !(plausible || server_port == 53 || server_port == 5353) {
        return false;
    }
    super::dns::parse_message(payload, 0).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(p: AppProto) -> Detection {
        Detection::Proto(p)
    }

    #[test]
    fn http_by_method_and_status_line() {
        assert_eq!(detect(true, b"GET / HTTP/1.1\r\n"), proto(AppProto::Http));
        assert_eq!(detect(true, b"PROPFIND /x"), proto(AppProto::Http));
        assert_eq!(detect(true, b"GE"), Detection::NeedMore);
        assert_eq!(detect(true, b"GETX / HTTP/1.1"), Detection::Unknown);
        assert_eq!(detect(false, b"HTTP/1.1 200 OK\r\n"), proto(AppProto::Http));
        assert_eq!(detect(false, b"HTT"), Detection::NeedMore);
    }

    #[test]
    fn tls_by_handshake_record() {
        let hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00];
        assert_eq!(detect(true, &hello), proto(AppProto::Tls));
        assert_eq!(detect(true, &hello[..3]), Detection::NeedMore);
        // A ServerHello only counts from the server.
        let server = [0x16, 0x03, 0x03, 0x00, 0x50, 0x02];
        assert_eq!(detect(false, &server), proto(AppProto::Tls));
        assert_eq!(detect(true, &server), Detection::Unknown);
        assert_eq!(
            detect(true, &[0x17, 0x03, 0x03, 0, 5, 1]),
            Detection::Unknown
        );
    }

    #[test]
    fn ssh_by_banner() {
        assert_eq!(
            detect(false, b"SSH-2.0-OpenSSH_9.6\r\n"),
            proto(AppProto::Ssh)
        );
        assert_eq!(detect(true, b"SSH-1.99-x"), proto(AppProto::Ssh));
        assert_eq!(detect(true, b"SSH-2"), Detection::NeedMore);
        assert_eq!(detect(true, b"SSH-3.0-x"), Detection::Unknown);
    }

    #[test]
    fn smtp_and_ftp_greetings_need_a_hint_or_a_word() {
        assert_eq!(
            detect(false, b"220 mx.example.com ESMTP Postfix\r\n"),
            proto(AppProto::Smtp)
        );
        assert_eq!(
            detect(false, b"220 ProFTPD Server ready\r\n"),
            proto(AppProto::Ftp)
        );
        assert_eq!(detect(false, b"220 welcome\r\n"), Detection::NeedMore);
        assert_eq!(
            detect_hinted(false, b"220 welcome\r\n", 25),
            proto(AppProto::Smtp)
        );
        assert_eq!(
            detect_hinted(false, b"220 welcome\r\n", 21),
            proto(AppProto::Ftp)
        );
        assert_eq!(detect(true, b"EHLO client\r\n"), proto(AppProto::Smtp));
        assert_eq!(detect(true, b"helo client\r\n"), proto(AppProto::Smtp));
        assert_eq!(detect(true, b"USER anonymous\r\n"), proto(AppProto::Ftp));
        assert_eq!(detect(true, b"AUTH TLS\r\n"), proto(AppProto::Ftp));
        assert_eq!(detect(true, b"FEAT\r\n"), proto(AppProto::Ftp));
        assert_eq!(detect(false, b"221 bye"), Detection::Unknown);
    }

    #[test]
    fn dns_over_tcp_needs_a_whole_plausible_message() {
        let query = super::super::dns::tests::query_bytes(0x1234, "example.com", 1);
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        assert_eq!(detect(true, &framed), proto(AppProto::Dns));
        assert_eq!(detect(true, &framed[..10]), Detection::NeedMore);
        assert_eq!(
            detect(true, &framed[..framed.len() - 1]),
            Detection::NeedMore
        );
        // The same bytes claiming to be a response from the client side are not DNS.
        assert_eq!(detect(false, &framed), Detection::Unknown);
        assert!(is_dns_datagram(&query, 0));
        assert!(!is_dns_datagram(b"hello world, not dns", 53));
    }

    #[test]
    fn random_text_is_unknown() {
        assert_eq!(detect(true, b"\x00\x01hello"), Detection::Unknown);
        assert_eq!(detect(false, b"random banner\r\n"), Detection::Unknown);
    }
}
