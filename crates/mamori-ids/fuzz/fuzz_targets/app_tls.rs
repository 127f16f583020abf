//! Arbitrary bytes through the TLS parser (records of control byte, length, bytes as in
//! `app_http`, behind a valid record header so the parser is reached), and straight into
//! the ClientHello, ServerHello and certificate readers. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::app::{tls, x509, AppConfig, AppEvent, AppState};
use std::time::UNIX_EPOCH;

fuzz_target!(|data: &[u8]| {
    let _ = tls::parse_client_hello(data);
    let _ = tls::parse_server_hello(data);
    let _ = x509::parse_certificate(data);

    let config = AppConfig {
        max_buffer: 4096,
        ..AppConfig::default()
    };
    let mut state = AppState::new(config, 443);
    // A handshake record header announcing a ClientHello: detection picks TLS.
    let mut events = state.feed(true, &[0x16, 0x03, 0x01, 0x01, 0x00, 0x01], UNIX_EPOCH);
    let mut rest = data;
    while let [ctrl, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let to_server = ctrl & 1 == 0;
        if ctrl & 2 != 0 {
            events.extend(state.gap(to_server, u64::from(*len)));
        } else {
            events.extend(state.feed(to_server, &tail[..n], UNIX_EPOCH));
        }
        rest = &tail[n..];
    }
    events.extend(state.finish());
    for event in &events {
        if let AppEvent::Tls(session, _) = event {
            let _ = session.to_eve();
            let _ = session.buffers();
        }
    }
});
