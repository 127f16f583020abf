//! Deterministic pseudo-random damage to crafted packets and captures: the reader, decoder,
//! defragmenter, flow table and reassembler must never panic and must stay within bounds.
//! (The fuzz targets in `fuzz/` explore further; this runs on every `cargo test`.)

use std::net::Ipv6Addr;

use mamori_ids::capture::{
    fragment_ipv4, fragment_ipv6, CaptureReader, PacketBuilder, PcapNgWriter, PcapWriter,
    TcpSession,
};
use mamori_ids::decode::{decode, decode_ip, Defrag, DefragConfig, Defragmenter, TcpFlags};
use mamori_ids::flow::{FlowConfig, FlowPacket, FlowTable};
use mamori_ids::stream::{Chunk, StreamConfig, StreamContext, TcpReassembly};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            3 if v.len() > 1 => {
                // Interesting values in length-like positions.
                let i = rng.below(v.len() - 1);
                let x: u16 = [0, 1, 7, 8, 20, 40, 0x7fff, 0xffff][rng.below(8)];
                v[i..i + 2].copy_from_slice(&x.to_be_bytes());
            }
            _ => v.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
        }
    }
    v
}

fn corpus() -> Vec<Vec<u8>> {
    let a6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let b6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let mut c = vec![
        PacketBuilder::tcp(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 80))
            .flags(TcpFlags::SYN)
            .build(),
        PacketBuilder::udp(([10, 0, 0, 1], 53), ([10, 0, 0, 2], 53))
            .vlan(5)
            .vlan(6)
            .payload(b"dns")
            .build(),
        PacketBuilder::icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 1, 1).build(),
        PacketBuilder::tcp((a6, 1), (b6, 2))
            .ipv6_ext(0, &[])
            .ipv6_ext(60, &[1, 2])
            .payload(b"x")
            .build(),
        PacketBuilder::icmp_echo(a6, b6, 3, 4).build(),
    ];
    let big = PacketBuilder::udp(([10, 0, 0, 1], 5), ([10, 0, 0, 2], 6))
        .payload(vec![7u8; 3000])
        .build();
    c.extend(fragment_ipv4(&big, 600));
    let big6 = PacketBuilder::udp((a6, 5), (b6, 6))
        .payload(vec![9u8; 3000])
        .build();
    c.extend(fragment_ipv6(&big6, 1280, 7));
    c
}

#[test]
fn mutated_packets_never_panic_the_decoder_defragmenter_or_flows() {
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut defrag = Defragmenter::new(DefragConfig {
        memcap: 256 * 1024,
        ..DefragConfig::default()
    });
    let mut flows: FlowTable<TcpReassembly> = FlowTable::new(FlowConfig {
        memcap: 64 * 1024,
        ..FlowConfig::default()
    });
    let mut ctx = StreamContext::new(StreamConfig {
        memcap: 128 * 1024,
        ..StreamConfig::default()
    });
    let mut delivered = 0usize;
    for i in 0..20_000u64 {
        let seed = &corpus[rng.below(corpus.len())];
        let frame = mutate(&mut rng, seed);
        let linktype = [1, 1, 1, 0, 101, 113, 228, 229, 276, 12, 108][rng.below(11)];
        let bytes: &[u8] = if linktype == 1 {
            &frame
        } else {
            &frame[14.min(frame.len())..]
        };
        let p = decode(linktype, bytes);
        assert!(p.payload.len() <= bytes.len());
        let now = i * 1000;
        let whole = match defrag.insert(&p, now) {
            Defrag::Complete { packet, .. } => Some(packet.to_vec()),
            _ => None,
        };
        let p = match &whole {
            Some(w) => decode_ip(w),
            None => p,
        };
        if let (Some(fp), Some(tcp)) = (FlowPacket::from_decoded(&p, now), p.tcp().copied()) {
            if let Some(t) = flows.track(&fp, TcpReassembly::new) {
                let dir = t.direction;
                t.flow.user.packet(&mut ctx, dir, &tcp, p.payload, |_, c| {
                    if let Chunk::Data(d) = c {
                        delivered += d.len();
                    }
                });
            }
        }
        if i % 1000 == 0 {
            flows.expire(now, |mut f, _| f.user.close(&mut ctx, |_, _| {}));
        }
    }
    assert!(defrag.counters().memuse <= 256 * 1024);
    assert!(ctx.counters().memuse <= 128 * 1024);
    flows.drain(|mut f, _| f.user.close(&mut ctx, |_, _| {}));
    assert_eq!(ctx.counters().memuse, 0, "every held byte is returned");
    assert!(delivered > 0);
}

#[test]
fn mutated_captures_never_panic_the_reader() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    s.handshake()
        .client_sends(b"GET / HTTP/1.1\r\n\r\n")
        .close();
    let mut w = PcapWriter::new(Vec::new()).expect("pcap");
    w.write_all(s.packets()).expect("write");
    let pcap = w.into_inner().expect("bytes");
    let mut w = PcapNgWriter::new(Vec::new(), true).expect("pcapng");
    let i = w.add_interface(1, Some(9)).expect("idb");
    for (ts, f) in s.packets() {
        w.write_epb(i, *ts, f).expect("epb");
    }
    w.write_spb(&s.packets()[0].1).expect("spb");
    let ng = w.into_inner().expect("bytes");
    let mut rng = Rng(42);
    for n in 0..3000 {
        let base = if n % 2 == 0 { &pcap } else { &ng };
        let bytes = mutate(&mut rng, base);
        let Ok(mut r) = CaptureReader::from_reader(&bytes[..]) else {
            continue;
        };
        let mut count = 0;
        loop {
            match r.next_packet() {
                Ok(Some(p)) => {
                    assert!(p.data.len() <= bytes.len());
                    let _ = decode(p.linktype, p.data);
                    count += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(e.index(), Some(count), "{e}");
                    break;
                }
            }
        }
        assert!(count <= 64);
    }
}
