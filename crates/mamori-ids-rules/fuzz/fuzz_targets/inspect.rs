//! A rule (first line of the input) and a payload (the rest) → engine: never panics.
//! The payload is also offered as stream data and as every app-layer buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids_rules::{parse_rules, AppProto, Buffer, Buffers, Engine, FlowState, Input, Thresholds, Vars};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let rule = String::from_utf8_lossy(&data[..split]);
    let payload = data.get(split + 1..).unwrap_or(&[]);
    let parsed = parse_rules(&rule, "fuzz.rules", &Vars::default());
    if parsed.rules.is_empty() {
        return;
    }
    let engine = Engine::build(parsed.rules);
    let mut buffers = Buffers::new();
    for b in Buffer::ALL {
        buffers.set(b, payload);
    }
    let mut flow = FlowState::default();
    let mut thresholds = Thresholds::default();
    let mut out = Vec::new();
    for app in [None, Some(AppProto::Http), Some(AppProto::Dns), Some(AppProto::Tls)] {
        for to_server in [true, false] {
            let mut i = Input::tcp("10.0.0.1".parse().unwrap(), 1234, "8.8.8.8".parse().unwrap(), 80, payload);
            i.stream = Some(payload);
            i.app_proto = app;
            i.to_server = to_server;
            i.buffers = buffers;
            engine.inspect(&i, &mut flow, &mut thresholds, &mut out);
        }
    }
});
