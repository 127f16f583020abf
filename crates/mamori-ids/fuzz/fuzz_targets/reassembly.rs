//! Random segment sequences through one TCP connection's reassembly: output never exceeds
//! the depth, memory stays under the cap, and closing returns every held byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::decode::{TcpFlags, TcpHeader};
use mamori_ids::flow::Direction;
use mamori_ids::stream::{Chunk, StreamConfig, StreamContext, TcpReassembly};

fuzz_target!(|data: &[u8]| {
    let config = StreamConfig {
        depth: 64 * 1024,
        memcap: 16 * 1024,
        max_window: 1 << 20,
        max_segments: 64,
    };
    let mut ctx = StreamContext::new(config);
    let mut conn = TcpReassembly::new();
    let mut passed = [0u64; 2];
    // Each record: direction+flags (1), seq (4), ack (4), length (1), then that many bytes.
    let mut rest = data;
    while rest.len() >= 10 {
        let dir = if rest[0] & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let flags = TcpFlags(rest[0] & 0xfe | if rest[0] & 0x80 != 0 { 0x01 } else { 0 });
        let seq = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let ack = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
        let len = usize::from(rest[9]).min(rest.len() - 10);
        let payload = &rest[10..10 + len];
        rest = &rest[10 + len..];
        let tcp = TcpHeader {
            src_port: 1,
            dst_port: 2,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            header_len: 20,
        };
        conn.packet(&mut ctx, dir, &tcp, payload, |d, c| {
            if let Chunk::Data(b) = c {
                passed[usize::from(d == Direction::ToClient)] += b.len() as u64;
            }
        });
        assert!(ctx.counters().memuse <= 16 * 1024);
    }
    conn.close(&mut ctx, |d, c| {
        if let Chunk::Data(b) = c {
            passed[usize::from(d == Direction::ToClient)] += b.len() as u64;
        }
    });
    assert!(passed.iter().all(|&n| n <= 64 * 1024));
    assert_eq!(ctx.counters().memuse, 0);
});
