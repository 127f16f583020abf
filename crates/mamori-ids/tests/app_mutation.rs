//! Deterministic pseudo-random mutations of valid conversations through every
//! application-layer parser, on the stable toolchain: no input may panic a parser, every
//! record must render as EVE, and nothing grows past its limits. The fuzz targets
//! (`fuzz/fuzz_targets/app_*.rs`) explore further on nightly.

use mamori_ids::app::{dns, tls, x509, AppConfig, AppEvent, AppState};
use std::time::UNIX_EPOCH;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One random edit: flip, overwrite with an interesting byte, insert, delete, duplicate.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    const INTERESTING: &[u8] = &[
        0, 0xff, 0x7f, 0x80, b'\r', b'\n', b' ', b':', b'.', 0xc0, 0x3f, b'0',
    ];
    let len = input.len();
    match rng.below(6) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let i = rng.below(len + 1);
            input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = rng.below(len - i).min(16) + 1;
            input.drain(i..(i + n).min(len));
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = rng.below(len - i).min(64) + 1;
            let copy: Vec<u8> = input[i..(i + n).min(len)].to_vec();
            let at = rng.below(input.len() + 1);
            input.splice(at..at, copy);
        }
        _ => input.truncate(rng.below(len + 1)),
    }
}

/// Renders every record the way the pipeline will, so rendering is exercised too.
fn render(events: &[AppEvent]) {
    for event in events {
        match event {
            AppEvent::Http(tx) | AppEvent::HttpRequest(tx) => {
                let _ = tx.to_eve(true);
                let _ = tx.buffers();
            }
            AppEvent::Dns(m) => {
                let _ = m.to_eve();
                let _ = m.buffers();
            }
            AppEvent::Tls(s, _) => {
                let _ = s.to_eve();
                let _ = s.buffers();
            }
            AppEvent::Smtp(tx) => {
                let _ = tx.to_eve();
                let _ = tx.buffers();
            }
            AppEvent::Ssh(s) => {
                let _ = s.to_eve();
                let _ = s.buffers();
            }
            AppEvent::Ftp(c) => {
                let _ = c.to_eve();
            }
            AppEvent::Detected(_) | AppEvent::Stopped(_) => {}
        }
    }
}

/// Feeds a mutated conversation in random chunks with the odd gap; returns the events.
fn run_flow(rng: &mut Rng, port: u16, conversation: &[(bool, &[u8])]) -> Vec<AppEvent> {
    let config = AppConfig {
        max_buffer: 2048,
        request_body_limit: 64,
        response_body_limit: 64,
        ..AppConfig::default()
    };
    let mut state = AppState::new(config, port);
    let mut events = Vec::new();
    for (to_server, message) in conversation {
        let mut bytes = message.to_vec();
        for _ in 0..rng.below(4) {
            mutate(rng, &mut bytes);
        }
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = rng.below(rest.len()) + 1;
            events.extend(state.feed(*to_server, &rest[..n], UNIX_EPOCH));
            rest = &rest[n..];
            if rng.below(50) == 0 {
                events.extend(state.gap(*to_server, rng.below(100) as u64 + 1));
            }
        }
    }
    events.extend(state.finish());
    render(&events);
    events
}

const ROUNDS: usize = 1500;

#[test]
fn app_mutated_http_conversations_never_panic() {
    let mut rng = Rng(0x1234_5678);
    let conversation: [(bool, &[u8]); 4] = [
        (true, b"POST /a/../b?x=%41 HTTP/1.1\r\nHost: h:81\r\nContent-Length: 5\r\nX: y\r\n z\r\n\r\nhello"),
        (false, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"),
        (true, b"GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.0\r\n\r\n"),
        (false, b"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"),
    ];
    let mut transactions = 0;
    for _ in 0..ROUNDS {
        let events = run_flow(&mut rng, 80, &conversation);
        transactions += events
            .iter()
            .filter(|e| matches!(e, AppEvent::Http(_)))
            .count();
        for e in &events {
            if let AppEvent::Http(tx) = e {
                for m in [
                    tx.request.as_ref().map(|r| &r.msg),
                    tx.response.as_ref().map(|r| &r.msg),
                ]
                .into_iter()
                .flatten()
                {
                    assert!(m.body.len() <= 64);
                    assert!(m.start.len() <= 2048);
                }
            }
        }
    }
    assert!(
        transactions > ROUNDS,
        "mutations should leave most flows parseable"
    );
}

fn tls_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[1; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 6, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2b]);
    body.extend_from_slice(&[1, 0]);
    let sni = b"\x00\x00\x00\x10\x00\x0e\x00\x00\x0bexample.com";
    let alpn = b"\x00\x10\x00\x05\x00\x03\x02h2";
    let versions = b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03";
    let groups = b"\x00\x0a\x00\x06\x00\x04\x00\x1d\x00\x17";
    let exts = [&sni[..], alpn, versions, groups].concat();
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, (hs.len() >> 8) as u8, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

/// A tiny certificate: version, serial 5, issuer CN=CA, validity, empty subject.
const CERT: &[u8] = b"\x30\x3d\x30\x3b\xa0\x03\x02\x01\x02\x02\x01\x05\x30\x00\
\x30\x0d\x31\x0b\x30\x09\x06\x03\x55\x04\x03\x13\x02CA\
\x30\x1e\x17\x0d240101000000Z\x17\x0d250101000000Z\x30\x00";

/// ServerHello, Certificate, ServerHelloDone, then ChangeCipherSpec.
fn tls_server_flight() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[2; 32]);
    body.extend_from_slice(&[0, 0xc0, 0x2b, 0, 0, 5, 0xff, 0x01, 0, 1, 0]);
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let entry = [&[0u8, 0, CERT.len() as u8][..], CERT].concat();
    let list = [&[0u8, 0, entry.len() as u8][..], &entry].concat();
    hs.extend_from_slice(&[11, 0, 0, list.len() as u8]);
    hs.extend_from_slice(&list);
    hs.extend_from_slice(&[14, 0, 0, 0]);
    let mut record = vec![0x16, 0x03, 0x03, (hs.len() >> 8) as u8, hs.len() as u8];
    record.extend_from_slice(&hs);
    record.extend_from_slice(b"\x14\x03\x03\x00\x01\x01");
    record
}

#[test]
fn app_mutated_tls_handshakes_never_panic() {
    let mut rng = Rng(0xdead_beef);
    let cert = x509::parse_certificate(CERT).expect("the seed certificate is valid");
    assert_eq!(cert.issuer, "CN=CA");
    let client = tls_client_hello();
    let server = tls_server_flight();
    let ccs = b"\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x02hi";
    let conversation: [(bool, &[u8]); 3] = [(true, &client), (false, &server), (true, ccs)];
    let mut sessions = 0;
    for _ in 0..ROUNDS {
        let events = run_flow(&mut rng, 443, &conversation);
        sessions += events
            .iter()
            .filter(|e| matches!(e, AppEvent::Tls(_, _)))
            .count();
    }
    assert!(sessions > 0);
    for _ in 0..ROUNDS * 4 {
        let mut bytes = client[9..].to_vec();
        mutate(&mut rng, &mut bytes);
        if let Ok(ch) = tls::parse_client_hello(&bytes) {
            let _ = (tls::ja3(&ch), tls::ja4(&ch));
        }
        let mut der = CERT.to_vec();
        mutate(&mut rng, &mut der);
        let _ = x509::parse_certificate(&der);
    }
}

fn dns_response() -> Vec<u8> {
    let mut m = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 3, 0, 1, 0, 0];
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    m.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x06\x03cdn\xc0\x10");
    m.extend_from_slice(b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x5d\xb8\xd8\x22");
    m.extend_from_slice(b"\xc0\x2d\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x04\x03abc");
    m.extend_from_slice(b"\xc0\x10\x00\x06\x00\x01\x00\x00\x00\x3c\x00\x1b\x02ns\xc0\x10\xc0\x10");
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
    m
}

#[test]
fn app_mutated_dns_messages_never_panic() {
    let mut rng = Rng(0x0bad_cafe);
    let response = dns_response();
    assert!(
        dns::parse_message(&response, 0).is_ok(),
        "the seed must be valid"
    );
    let mut parsed = 0;
    for _ in 0..ROUNDS * 4 {
        let mut bytes = response.clone();
        for _ in 0..rng.below(4) + 1 {
            mutate(&mut rng, &mut bytes);
        }
        if let Ok(m) = dns::parse_message(&bytes, 0) {
            parsed += 1;
            let _ = m.to_eve();
        }
        let mut state = AppState::new_udp(AppConfig::default(), 53);
        render(&state.feed_datagram(false, &bytes, UNIX_EPOCH));
    }
    assert!(parsed > 0);
    let framed = [&(response.len() as u16).to_be_bytes()[..], &response].concat();
    let query = b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    let conversation: [(bool, &[u8]); 2] = [(true, query), (false, &framed)];
    for _ in 0..ROUNDS {
        run_flow(&mut rng, 53, &conversation);
    }
}

#[test]
fn app_mutated_mail_ssh_and_ftp_sessions_never_panic() {
    let mut rng = Rng(0x5eed);
    let smtp: [(bool, &[u8]); 4] = [
        (false, b"220 mx ESMTP\r\n"),
        (
            true,
            b"EHLO c\r\nMAIL FROM:<a@b> SIZE=1\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        ),
        (false, b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        (
            true,
            b"Subject: x\r\n\r\nbody\r\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
        ),
    ];
    let ssh: [(bool, &[u8]); 2] = [
        (false, b"SSH-2.0-OpenSSH_9.6 x\r\n\x00\x00\x00\x0c"),
        (true, b"SSH-2.0-Go\r\n"),
    ];
    let ftp: [(bool, &[u8]); 4] = [
        (false, b"220 FTP\r\n"),
        (true, b"USER a\r\nPASV\r\nEPRT |1|1.2.3.4|5|\r\n"),
        (
            false,
            b"331 pw\r\n227 Entering Passive Mode (1,2,3,4,5,6)\r\n200-x\r\n200 ok\r\n",
        ),
        (true, b"AUTH TLS\r\n"),
    ];
    for _ in 0..ROUNDS {
        run_flow(&mut rng, 25, &smtp);
        run_flow(&mut rng, 22, &ssh);
        run_flow(&mut rng, 21, &ftp);
    }
}

#[test]
fn app_random_bytes_on_common_ports_never_panic() {
    let mut rng = Rng(42);
    for port in [0u16, 21, 22, 25, 53, 80, 443] {
        for _ in 0..ROUNDS / 4 {
            let len = rng.below(300);
            let a: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            run_flow(&mut rng, port, &[(true, &a), (false, &b)]);
        }
    }
}
