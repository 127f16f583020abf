//! Flow-level tests: detection, replay into the chosen parser, hand-over and stops.

use super::*;
use std::time::UNIX_EPOCH;

fn feed_all(state: &mut AppState, chunks: &[(bool, &[u8])]) -> Vec<AppEvent> {
    let mut out = Vec::new();
    for (dir, data) in chunks {
        out.extend(state.feed(*dir, data, UNIX_EPOCH));
    }
    out.extend(state.finish());
    out
}

#[test]
fn http_is_detected_and_parsed_from_the_first_byte() {
    let mut state = AppState::new(AppConfig::default(), 8080);
    let out = feed_all(
        &mut state,
        &[
            (true, b"GE"),
            (true, b"T / HTTP/1.1\r\nHost: a\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ],
    );
    assert!(matches!(out[0], AppEvent::Detected(AppProto::Http)));
    assert_eq!(state.proto(), AppProto::Http);
    let tx = out
        .iter()
        .find_map(|e| match e {
            AppEvent::Http(tx) => Some(tx),
            _ => None,
        })
        .unwrap();
    assert_eq!(tx.request.as_ref().unwrap().msg.line(), b"GET / HTTP/1.1");
    assert_eq!(tx.response.as_ref().unwrap().msg.body, b"ok");
}

#[test]
fn a_long_first_chunk_is_parsed_past_the_detection_limit() {
    let config = AppConfig {
        detect_limit: 8,
        ..AppConfig::default()
    };
    let mut state = AppState::new(config, 80);
    let out = feed_all(
        &mut state,
        &[(
            true,
            b"POST /upload HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        )],
    );
    let body = out.iter().find_map(|e| match e {
        AppEvent::HttpRequest(tx) => Some(tx.request.as_ref().unwrap().msg.body.clone()),
        _ => None,
    });
    assert_eq!(body.as_deref(), Some(&b"abc"[..]));
}

#[test]
fn smtp_banner_waits_for_the_client_and_replays_in_order() {
    let mut state = AppState::new(AppConfig::default(), 10025);
    let out = feed_all(
        &mut state,
        &[
            (false, b"220 welcome\r\n"),
            (true, b"EHLO me\r\nMAIL FROM:<a@b>\r\n"),
            (false, b"250 hi\r\n250 ok\r\n"),
            (true, b"QUIT\r\n"),
        ],
    );
    assert!(matches!(out[0], AppEvent::Detected(AppProto::Smtp)));
    let tx = out
        .iter()
        .find_map(|e| match e {
            AppEvent::Smtp(tx) => Some(tx),
            _ => None,
        })
        .unwrap();
    assert_eq!(tx.helo.as_deref(), Some(&b"me"[..]));
}

#[test]
fn starttls_continues_as_tls() {
    let mut state = AppState::new(AppConfig::default(), 25);
    let client_hello = tls::tests::client_flight();
    let out = feed_all(
        &mut state,
        &[
            (false, b"220 mx ESMTP\r\n"),
            (true, b"EHLO me\r\n"),
            (false, b"250 STARTTLS\r\n"),
            (true, b"STARTTLS\r\n"),
            (false, b"220 go ahead\r\n"),
            (true, &client_hello),
        ],
    );
    assert_eq!(state.proto(), AppProto::Smtp);
    assert!(out
        .iter()
        .any(|e| matches!(e, AppEvent::Tls(s, TlsProgress::ClientHello)
            if s.client_hello.as_ref().unwrap().sni.as_deref() == Some(b"www.example.com"))));
}

#[test]
fn gaps_that_cannot_be_stepped_over_stop_and_count() {
    let mut state = AppState::new(AppConfig::default(), 443);
    let mut out = state.feed(true, &tls::tests::client_flight()[..20], UNIX_EPOCH);
    out.extend(state.gap(true, 100));
    assert!(!state.is_active());
    assert_eq!(state.counters().gap_stops, 1);
    assert!(out.iter().any(|e| matches!(
        e,
        AppEvent::Stopped(StopReason::Error(AppError::Gap {
            proto: AppProto::Tls,
            offset: 20,
            len: 100,
            ..
        }))
    )));
    // Nothing more is parsed.
    assert!(state.feed(true, b"more", UNIX_EPOCH).is_empty());
}

#[test]
fn unknown_traffic_fails_detection() {
    let mut state = AppState::new(AppConfig::default(), 9999);
    let out = feed_all(
        &mut state,
        &[(true, b"\x00\x00junk"), (false, b"\xffmore junk")],
    );
    assert!(out
        .iter()
        .any(|e| matches!(e, AppEvent::Stopped(StopReason::NoProtocol))));
    assert_eq!(state.proto(), AppProto::Failed);
}

#[test]
fn malformed_input_stops_with_an_error_naming_the_protocol() {
    let mut state = AppState::new(AppConfig::default(), 80);
    let out = feed_all(
        &mut state,
        &[(true, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")],
    );
    let error = out.iter().find_map(|e| match e {
        AppEvent::Stopped(StopReason::Error(e)) => Some(e.to_string()),
        _ => None,
    });
    assert_eq!(
        error.as_deref(),
        Some("http to server: bad Content-Length (in the chunk at stream offset 0)")
    );
    assert_eq!(state.counters().errors, 1);
}

#[test]
fn dns_over_udp() {
    let mut state = AppState::new_udp(AppConfig::default(), 53);
    let query = dns::tests::query_bytes(7, "example.org", 1);
    let mut out = state.feed_datagram(true, &query, UNIX_EPOCH);
    out.extend(state.feed_datagram(false, &dns::tests::response_bytes(), UNIX_EPOCH));
    out.extend(state.feed_datagram(false, b"garbage", UNIX_EPOCH));
    assert!(matches!(out[0], AppEvent::Detected(AppProto::Dns)));
    let ids: Vec<u64> = out
        .iter()
        .filter_map(|e| match e {
            AppEvent::Dns(m) => Some(m.tx_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![0, 1]);
    assert_eq!(state.counters().errors, 1);
}

#[test]
fn dns_over_tcp() {
    let mut state = AppState::new(AppConfig::default(), 53);
    let query = dns::tests::query_bytes(7, "example.org", 1);
    let framed = [&(query.len() as u16).to_be_bytes()[..], &query].concat();
    let out = feed_all(&mut state, &[(true, &framed[..5]), (true, &framed[5..])]);
    assert!(matches!(out[0], AppEvent::Detected(AppProto::Dns)));
    assert!(matches!(&out[1], AppEvent::Dns(m) if m.queries[0].name == b"example.org"));
}

#[test]
fn ssh_flow() {
    let mut state = AppState::new(AppConfig::default(), 22);
    let out = feed_all(
        &mut state,
        &[
            (false, b"SSH-2.0-OpenSSH_9.6\r\n"),
            (true, b"SSH-2.0-Go\r\n"),
        ],
    );
    assert!(out.iter().any(|e| matches!(e, AppEvent::Ssh(_))));
}
