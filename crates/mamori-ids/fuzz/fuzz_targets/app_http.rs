//! Arbitrary bytes through a flow's application layer as HTTP on port 80: split into
//! records of (control byte, length, bytes) — bit 0 of the control byte picks the
//! direction, bit 1 makes the record a gap — then finished. Nothing may panic, and every
//! transaction must render as EVE and expose its buffers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::app::{AppConfig, AppEvent, AppState};
use std::time::UNIX_EPOCH;

fuzz_target!(|data: &[u8]| {
    let config = AppConfig {
        max_buffer: 4096,
        request_body_limit: 512,
        response_body_limit: 512,
        ..AppConfig::default()
    };
    let mut state = AppState::new(config, 80);
    // Start every flow as HTTP so the parser, not only detection, sees the bytes.
    let mut events = state.feed(true, b"GET / HTTP/1.1\r\n", UNIX_EPOCH);
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
        if let AppEvent::Http(tx) | AppEvent::HttpRequest(tx) = event {
            let _ = tx.to_eve(true);
            let _ = tx.buffers();
        }
    }
});
