//! The decoder over arbitrary bytes with every link type, then the defragmenter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::decode::{decode, decode_ip, Defrag, Defragmenter};

const LINKTYPES: [u32; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 9999];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[usize::from(selector) % LINKTYPES.len()];
    let p = decode(linktype, bytes);
    assert!(p.payload.len() <= bytes.len());
    assert!(p.ip_packet.len() <= bytes.len());
    let _ = (p.src_ip(), p.ports(), p.anomalies.len());
    // Feed the same packet, and the input split at the selector, as fragments.
    let mut defrag = Defragmenter::default();
    for (i, chunk) in [bytes, &bytes[bytes.len() / 2..]].into_iter().enumerate() {
        let q = decode(linktype, chunk);
        if let Defrag::Complete { packet, .. } = defrag.insert(&q, i as u64) {
            let r = decode_ip(packet);
            assert!(!r.is_fragment() || !r.anomalies.is_empty() || r.ip.is_some());
        }
    }
    let _ = defrag.insert(&p, 2);
});
