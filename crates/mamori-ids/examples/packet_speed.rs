//! Packet-layer throughput: read a capture, decode, defragment, track flows and reassemble
//! TCP streams, then print packets per second and the layer counters.
//!
//! `cargo run --release -p mamori-ids --example packet_speed -- capture.pcap`

use std::time::Instant;

use mamori_ids::capture::CaptureReader;
use mamori_ids::decode::{decode, decode_ip, Defrag, Defragmenter};
use mamori_ids::flow::{FlowConfig, FlowPacket, FlowTable};
use mamori_ids::stream::{Chunk, StreamContext, TcpReassembly};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: packet_speed CAPTURE");
        std::process::exit(2);
    };
    let mut reader = match CaptureReader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let mut defrag = Defragmenter::default();
    let mut flows: FlowTable<Option<TcpReassembly>> = FlowTable::new(FlowConfig::default());
    let mut ctx = StreamContext::default();
    let (mut packets, mut bytes, mut stream_bytes, mut gaps, mut ended) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut last_expire = 0u64;
    loop {
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}");
                break;
            }
        };
        packets += 1;
        bytes += pkt.data.len() as u64;
        let ts = pkt.ts_us;
        let decoded = decode(pkt.linktype, pkt.data);
        let whole = match defrag.insert(&decoded, ts) {
            Defrag::NotFragment => None,
            Defrag::Complete { packet, .. } => Some(packet.to_vec()),
            Defrag::Held { .. } | Defrag::Dropped { .. } => continue,
        };
        let p = match &whole {
            Some(w) => decode_ip(w),
            None => decoded,
        };
        let Some(fp) = FlowPacket::from_decoded(&p, ts) else {
            continue;
        };
        let Some(t) = flows.track(&fp, || None) else {
            continue;
        };
        if let Some(tcp) = p.tcp() {
            let dir = t.direction;
            t.flow.user.get_or_insert_with(TcpReassembly::new).packet(
                &mut ctx,
                dir,
                tcp,
                p.payload,
                |_, c| match c {
                    Chunk::Data(d) => stream_bytes += d.len() as u64,
                    Chunk::Gap(_) => gaps += 1,
                },
            );
        }
        if ts.saturating_sub(last_expire) >= 1_000_000 {
            last_expire = ts;
            flows.expire(ts, |mut f, _| {
                ended += 1;
                if let Some(r) = f.user.as_mut() {
                    r.close(&mut ctx, |_, _| {});
                }
            });
        }
    }
    flows.drain(|mut f, _| {
        ended += 1;
        if let Some(r) = f.user.as_mut() {
            r.close(&mut ctx, |_, _| {});
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{packets} packets, {:.1} MB in {secs:.3} s: {:.0} packets/s, {:.0} Mbit/s",
        bytes as f64 / 1e6,
        packets as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e6
    );
    println!("flows ended {ended}, stream bytes {stream_bytes}, gaps {gaps}");
    println!("flow {:?}", flows.counters());
    println!("stream {:?}", ctx.counters());
    println!("defrag {:?}", defrag.counters());
}
