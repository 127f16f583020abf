//! Arbitrary bytes as a DNS message (UDP), and as a DNS-over-TCP stream split in two at a
//! position taken from the first byte. Nothing may panic; parsed messages must render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::app::{dns, AppConfig, AppEvent, AppState};
use std::time::UNIX_EPOCH;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = dns::parse_message(data, 0) {
        let _ = message.to_eve();
        let _ = message.buffers();
    }
    let mut udp = AppState::new_udp(AppConfig::default(), 53);
    let _ = udp.feed_datagram(true, data, UNIX_EPOCH);
    let _ = udp.feed_datagram(false, data, UNIX_EPOCH);

    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(stream.len());
    let mut tcp = AppState::new(AppConfig::default(), 53);
    let mut events = tcp.feed(true, &stream[..split], UNIX_EPOCH);
    events.extend(tcp.feed(true, &stream[split..], UNIX_EPOCH));
    events.extend(tcp.finish());
    for event in &events {
        if let AppEvent::Dns(message) = event {
            let _ = message.to_eve();
        }
    }
});
