//! TCP reassembly: crafted conversations through decode, flow and stream, and the edge
//! cases — out of order, overlaps (first data wins), retransmissions, sequence wrap-around,
//! gaps, the depth limit and the memcap.

use mamori_ids::capture::{Side, TcpSession};
use mamori_ids::decode::{decode, TcpFlags, LINKTYPE_ETHERNET};
use mamori_ids::flow::{Direction, FlowConfig, FlowPacket, FlowTable};
use mamori_ids::stream::{Chunk, Reassembler, StreamConfig, StreamContext, TcpReassembly};

/// What each direction's consumer saw; gaps rendered as `[gap N]`.
#[derive(Default, Debug)]
struct Seen {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

impl Seen {
    fn push(&mut self, dir: Direction, c: Chunk<'_>) {
        let out = match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        };
        match c {
            Chunk::Data(d) => out.extend_from_slice(d),
            Chunk::Gap(n) => out.extend_from_slice(format!("[gap {n}]").as_bytes()),
        }
    }
}

/// The pipeline in miniature: decode, flow lookup, reassembly kept in the flow's user value.
fn pipeline(packets: &[(u64, Vec<u8>)], ctx: &mut StreamContext) -> Seen {
    let mut flows: FlowTable<TcpReassembly> = FlowTable::new(FlowConfig::default());
    let mut seen = Seen::default();
    for (ts, frame) in packets {
        let p = decode(LINKTYPE_ETHERNET, frame);
        let (Some(fp), Some(tcp)) = (FlowPacket::from_decoded(&p, *ts), p.tcp().copied()) else {
            continue;
        };
        let t = flows.track(&fp, TcpReassembly::new).expect("flow");
        let dir = t.direction;
        t.flow
            .user
            .packet(ctx, dir, &tcp, p.payload, |d, c| seen.push(d, c));
    }
    flows.drain(|mut f, _| f.user.close(ctx, |d, c| seen.push(d, c)));
    seen
}

fn request(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn conversation_is_reassembled_across_segments_both_ways() {
    let req = request(5000);
    let resp = request(12_345);
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).mss(1000);
    s.handshake().client_sends(&req).server_sends(&resp).close();
    let mut ctx = StreamContext::default();
    let seen = pipeline(s.packets(), &mut ctx);
    assert_eq!(seen.to_server, req);
    assert_eq!(seen.to_client, resp);
    let c = ctx.counters();
    assert_eq!((c.gaps, c.out_of_order, c.memuse), (0, 0, 0));
}

#[test]
fn out_of_order_segments_wait_for_the_hole() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).auto_ack(false);
    s.handshake();
    let (seq, ack) = s.numbers(Side::Client);
    s.send(
        Side::Client,
        seq.wrapping_add(10),
        ack,
        TcpFlags::ACK,
        b"KLMNOPQRST",
    );
    s.send(
        Side::Client,
        seq.wrapping_add(5),
        ack,
        TcpFlags::ACK,
        b"FGHIJ",
    );
    s.send(Side::Client, seq, ack, TcpFlags::ACK, b"ABCDE");
    let mut ctx = StreamContext::default();
    let seen = pipeline(s.packets(), &mut ctx);
    assert_eq!(seen.to_server, b"ABCDEFGHIJKLMNOPQRST");
    assert_eq!(ctx.counters().out_of_order, 2);
    assert_eq!(ctx.counters().memuse, 0);
}

#[test]
fn overlaps_and_retransmissions_keep_the_first_data() {
    let mut ctx = StreamContext::default();
    let mut r = Reassembler::new();
    let mut out = Vec::new();
    let mut feed = |r: &mut Reassembler, ctx: &mut StreamContext, seq: u32, data: &[u8]| {
        r.segment(ctx, seq, TcpFlags::ACK, data, |c| {
            if let Chunk::Data(d) = c {
                out.extend_from_slice(d)
            }
        })
    };
    r.segment(&mut ctx, 999, TcpFlags::SYN, b"", |_| {});
    feed(&mut r, &mut ctx, 1000, b"first");
    feed(&mut r, &mut ctx, 1000, b"FIRST"); // retransmission with other bytes
                                            // Overlaps "st".
    feed(&mut r, &mut ctx, 1003, b"STxyz");
    // Held out of order, then overlapped by a later, different copy.
    feed(&mut r, &mut ctx, 1012, b"held");
    feed(&mut r, &mut ctx, 1010, b"--HELD!!");
    feed(&mut r, &mut ctx, 1008, b"..");
    assert_eq!(out, b"firstxyz..--held!!");
    let c = ctx.counters();
    assert_eq!(c.retransmissions, 1);
    assert_eq!(c.overlaps, 2);
}

#[test]
fn sequence_numbers_wrap_around() {
    let req = request(3000);
    let resp = request(4000);
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80))
        .with_isn(u32::MAX - 1500, u32::MAX - 10)
        .mss(1000);
    s.handshake().client_sends(&req).server_sends(&resp).close();
    let mut ctx = StreamContext::default();
    let seen = pipeline(s.packets(), &mut ctx);
    assert_eq!(seen.to_server, req);
    assert_eq!(seen.to_client, resp);
}

#[test]
fn data_lost_by_the_capture_becomes_a_gap_when_acked() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).mss(100);
    s.handshake()
        .client_sends(&request(300))
        .server_sends(b"ok")
        .close();
    let mut pkts = s.take_packets();
    pkts.remove(4); // the second 100-byte segment
    let mut ctx = StreamContext::default();
    let seen = pipeline(&pkts, &mut ctx);
    let mut expect = request(100);
    expect.extend_from_slice(b"[gap 100]");
    expect.extend_from_slice(&request(300)[200..]);
    assert_eq!(seen.to_server, expect);
    assert_eq!(seen.to_client, b"ok");
    let c = ctx.counters();
    assert_eq!((c.gaps, c.gap_bytes), (1, 100));
}

#[test]
fn held_data_is_flushed_after_a_gap_when_the_flow_ends() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80))
        .mss(10)
        .auto_ack(false);
    s.handshake().client_sends(b"0123456789abcdefghij");
    let mut pkts = s.take_packets();
    pkts.remove(3); // "0123456789" never seen, nothing acks past it
    let mut ctx = StreamContext::default();
    let seen = pipeline(&pkts, &mut ctx);
    assert_eq!(seen.to_server, b"[gap 10]abcdefghij");
    assert_eq!(ctx.counters().memuse, 0);
}

#[test]
fn depth_limits_the_bytes_passed_on() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).mss(1000);
    s.handshake().client_sends(&request(10_000)).close();
    let mut ctx = StreamContext::new(StreamConfig {
        depth: 2500,
        ..StreamConfig::default()
    });
    let seen = pipeline(s.packets(), &mut ctx);
    assert!(
        seen.to_server == request(10_000)[..2500],
        "{} bytes passed on",
        seen.to_server.len()
    );
    let c = ctx.counters();
    assert_eq!(c.depth_reached, 1);
    assert_eq!(c.depth_drops, 7);
}

#[test]
fn memcap_drops_held_segments_and_counts_them() {
    let mut ctx = StreamContext::new(StreamConfig {
        memcap: 25,
        ..StreamConfig::default()
    });
    let mut a = Reassembler::new();
    let mut b = Reassembler::new();
    let mut out = Vec::new();
    a.segment(&mut ctx, 0, TcpFlags::SYN, b"", |_| {});
    b.segment(&mut ctx, 0, TcpFlags::SYN, b"", |_| {});
    a.segment(&mut ctx, 11, TcpFlags::ACK, &[b'a'; 20], |_| {});
    assert_eq!(ctx.counters().memuse, 20);
    // Another stream's early data does not fit: this stream gives up its own hole first
    // (it has none held), then drops the segment.
    b.segment(&mut ctx, 11, TcpFlags::ACK, &[b'b'; 10], |c| {
        if let Chunk::Gap(n) = c {
            out.push(n)
        }
    });
    let c = ctx.counters();
    assert_eq!((c.memcap_drops, c.memuse), (1, 20));
    assert!(out.is_empty());
    // The first stream under pressure skips its own hole, passes its held data on, and
    // then has room to hold the new segment.
    let mut got = Vec::new();
    let mut render = |c: Chunk<'_>| match c {
        Chunk::Gap(n) => got.extend_from_slice(format!("[gap {n}]").as_bytes()),
        Chunk::Data(d) => got.extend_from_slice(d),
    };
    a.segment(&mut ctx, 41, TcpFlags::ACK, &[b'c'; 10], &mut render);
    let mut expect = b"[gap 10]".to_vec();
    expect.extend_from_slice(&[b'a'; 20]);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expect)
    );
    assert_eq!(ctx.counters().memuse, 10);
    let mut render = |c: Chunk<'_>| match c {
        Chunk::Gap(n) => got.extend_from_slice(format!("[gap {n}]").as_bytes()),
        Chunk::Data(d) => got.extend_from_slice(d),
    };
    a.close(&mut ctx, &mut render);
    b.close(&mut ctx, &mut render);
    expect.extend_from_slice(b"[gap 10]cccccccccc");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expect)
    );
    assert_eq!(ctx.counters().memuse, 0);
}

#[test]
fn rst_flushes_both_directions() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).auto_ack(false);
    s.handshake();
    let (seq, ack) = s.numbers(Side::Client);
    s.send(
        Side::Client,
        seq.wrapping_add(4),
        ack,
        TcpFlags::ACK,
        b"tail",
    );
    s.reset(Side::Server);
    let mut ctx = StreamContext::default();
    let seen = pipeline(s.packets(), &mut ctx);
    assert_eq!(seen.to_server, b"[gap 4]tail");
    assert_eq!(ctx.counters().memuse, 0);
}
