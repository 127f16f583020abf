//! Flow tracking: direction, TCP state, counters, timeouts and the memcap.

use mamori_ids::capture::{PacketBuilder, Side, TcpSession};
use mamori_ids::decode::{decode, TcpFlags, LINKTYPE_ETHERNET};
use mamori_ids::flow::{
    Direction, FlowConfig, FlowEnd, FlowPacket, FlowState, FlowTable, TcpState,
};

const T0: u64 = 1_700_000_000_000_000;
const SEC: u64 = 1_000_000;

fn fp(frame: &[u8], ts: u64) -> FlowPacket {
    FlowPacket::from_decoded(&decode(LINKTYPE_ETHERNET, frame), ts).expect("ip packet")
}

/// Tracks every packet and returns (direction, established, tcp state) per packet.
fn replay(
    table: &mut FlowTable<()>,
    packets: &[(u64, Vec<u8>)],
) -> Vec<(Direction, bool, TcpState)> {
    packets
        .iter()
        .map(|(ts, f)| {
            let t = table.track(&fp(f, *ts), || ()).expect("tracked");
            (t.direction, t.established(), t.flow.tcp_state)
        })
        .collect()
}

#[test]
fn tcp_handshake_data_and_close_follow_the_state_machine() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    s.handshake()
        .client_sends(b"GET /")
        .server_sends(b"200 OK")
        .close();
    let mut table = FlowTable::new(FlowConfig::default());
    let seen = replay(&mut table, s.packets());
    use Direction::*;
    use TcpState::*;
    let expect = [
        (ToServer, false, SynSent),
        (ToClient, false, SynRecv),
        (ToServer, true, Established),
        (ToServer, true, Established), // data
        (ToClient, true, Established), // ack
        (ToClient, true, Established), // data
        (ToServer, true, Established), // ack
        (ToServer, true, FinWait),
        (ToClient, true, Closing),
        (ToServer, true, Closed),
    ];
    assert_eq!(seen, expect);
    assert_eq!(table.len(), 1);
    let mut ended = Vec::new();
    table.drain(|f, why| ended.push((f, why)));
    let (f, why) = &ended[0];
    assert_eq!(*why, FlowEnd::Shutdown);
    assert_eq!((f.pkts_toserver, f.pkts_toclient), (6, 4));
    let bytes_ts: u64 = s.packets().iter().map(|(_, b)| b.len() as u64).sum();
    assert_eq!(f.bytes_toserver + f.bytes_toclient, bytes_ts);
    assert_eq!(f.src_port, 40000);
    assert_eq!(format!("{:?}", f.tcp_flags_toserver), "FSPA");
    assert_eq!(f.first_ts_us, s.packets()[0].0);
    assert_eq!(f.last_ts_us, s.packets()[9].0);
}

#[test]
fn rst_closes_and_syn_ack_first_makes_the_receiver_the_client() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    s.handshake().reset(Side::Server);
    let mut table = FlowTable::new(FlowConfig::default());
    let seen = replay(&mut table, s.packets());
    assert_eq!(seen[3], (Direction::ToClient, true, TcpState::Closed));

    // Capture starting at the SYN/ACK: the SYN's sender is still the client.
    let mut table = FlowTable::new(FlowConfig::default());
    let seen = replay(&mut table, &s.packets()[1..3]);
    assert_eq!(seen[0].0, Direction::ToClient);
    assert_eq!(seen[1], (Direction::ToServer, true, TcpState::Established));
    let mut src = None;
    table.drain(|f, _| src = Some((f.src, f.src_port)));
    assert_eq!(src, Some(("10.0.0.1".parse().expect("ip"), 40000)));
}

#[test]
fn midstream_pickup_is_off_by_default_like_suricata() {
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
    s.handshake().client_sends(b"x");
    let late = &s.packets()[3..];
    let mut table = FlowTable::new(FlowConfig::default());
    assert!(replay(&mut table, late).iter().all(|(_, est, _)| !est));
    let mut table = FlowTable::new(FlowConfig {
        midstream: true,
        ..FlowConfig::default()
    });
    assert!(replay(&mut table, late).iter().all(|(_, est, _)| *est));
}

#[test]
fn udp_is_established_once_both_directions_were_seen() {
    let q = PacketBuilder::udp(([10, 0, 0, 5], 5353), ([8, 8, 8, 8], 53))
        .payload(b"q")
        .build();
    let a = PacketBuilder::udp(([8, 8, 8, 8], 53), ([10, 0, 0, 5], 5353))
        .payload(b"a")
        .build();
    let mut table: FlowTable<u32> = FlowTable::new(FlowConfig::default());
    let t = table.track(&fp(&q, T0), || 7).expect("flow");
    assert!(t.is_new && !t.established() && t.direction == Direction::ToServer);
    t.flow.user += 1;
    let t = table.track(&fp(&a, T0 + 10), || 0).expect("flow");
    assert!(!t.is_new && t.established() && t.direction == Direction::ToClient);
    assert_eq!(t.flow.user, 8, "the user value lives with the flow");
    assert_eq!(t.flow.state(), FlowState::Established);
}

#[test]
fn vlan_ids_separate_flows_and_flow_ids_are_distinct_and_stable() {
    let a = PacketBuilder::udp(([10, 0, 0, 5], 1000), ([10, 0, 0, 6], 53))
        .vlan(10)
        .build();
    let b = PacketBuilder::udp(([10, 0, 0, 5], 1000), ([10, 0, 0, 6], 53))
        .vlan(20)
        .build();
    let ids = |_: ()| {
        let mut table = FlowTable::new(FlowConfig::default());
        let x = table.track(&fp(&a, T0), || ()).expect("a").flow.id;
        let y = table.track(&fp(&b, T0), || ()).expect("b").flow.id;
        assert_eq!(table.track(&fp(&a, T0 + 1), || ()).expect("a").flow.id, x);
        (x, y)
    };
    let (x, y) = ids(());
    assert_ne!(x, y);
    assert!(x < 1 << 51 && x > 0);
    assert_eq!(ids(()), (x, y), "same input, same ids");
}

#[test]
fn flows_time_out_by_state_and_protocol() {
    let udp = PacketBuilder::udp(([10, 0, 0, 5], 1000), ([10, 0, 0, 6], 53)).build();
    let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80)).starting_at(T0);
    s.handshake();
    let mut table = FlowTable::new(FlowConfig::default());
    replay(&mut table, s.packets());
    table.track(&fp(&udp, T0), || ()).expect("udp");
    let mut ended = Vec::new();
    table.expire(T0 + 29 * SEC, |f, why| ended.push((f.proto, why)));
    assert!(ended.is_empty());
    table.expire(T0 + 31 * SEC, |f, why| ended.push((f.proto, why)));
    assert_eq!(ended, vec![(17, FlowEnd::Timeout)], "udp new: 30 s");
    table.expire(T0 + 599 * SEC, |f, why| ended.push((f.proto, why)));
    assert_eq!(ended.len(), 1, "tcp established: 600 s");
    table.expire(T0 + 601 * SEC, |f, why| ended.push((f.proto, why)));
    assert_eq!(ended[1], (6, FlowEnd::Timeout));
    let c = table.counters();
    assert_eq!(
        (
            c.created,
            c.created_tcp,
            c.created_udp,
            c.timed_out,
            c.active
        ),
        (2, 1, 1, 2, 0)
    );
    assert_eq!(FlowEnd::Timeout.eve_reason(), "timeout");
}

#[test]
fn memcap_triggers_emergency_expiry_then_drops_and_counts() {
    let per_flow = {
        let mut t: FlowTable<()> = FlowTable::new(FlowConfig::default());
        let f = PacketBuilder::udp(([10, 9, 0, 1], 1), ([10, 9, 0, 2], 2)).build();
        t.track(&fp(&f, T0), || ());
        t.counters().memuse as usize
    };
    let mut table = FlowTable::new(FlowConfig {
        memcap: per_flow * 10,
        ..FlowConfig::default()
    });
    let flow = |i: u16| PacketBuilder::udp(([10, 9, 0, 1], 1000 + i), ([10, 9, 0, 2], 53)).build();
    for i in 0..10 {
        assert!(table.track(&fp(&flow(i), T0), || ()).is_some());
    }
    // Full, and nothing idle yet: refused and counted.
    assert!(table.track(&fp(&flow(10), T0 + 1), || ()).is_none());
    let c = table.counters();
    assert_eq!((c.memcap_drops, c.active, c.emergency_entered), (1, 10, 1));
    assert!(table.is_emergency());
    // 11 s later the emergency "new" timeout (10 s) frees the idle flows.
    let t = table
        .track(&fp(&flow(11), T0 + 11 * SEC), || ())
        .expect("room after emergency expiry");
    assert!(t.is_new);
    let c = table.counters();
    assert_eq!((c.emergency_evicted, c.active), (10, 1));
    let mut ended = Vec::new();
    table.expire(T0 + 11 * SEC, |_, why| ended.push(why));
    assert_eq!(ended.len(), 10);
    assert!(ended.iter().all(|w| *w == FlowEnd::Emergency));
    assert!(!table.is_emergency(), "usage fell below the recovery mark");
}

#[test]
fn icmp_echo_request_and_reply_share_a_flow() {
    let req = PacketBuilder::icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 77, 1).build();
    let rep = PacketBuilder::icmp([10, 0, 0, 2], [10, 0, 0, 1], 0, 0, [0, 77, 0, 1]).build();
    let mut table = FlowTable::new(FlowConfig::default());
    table.track(&fp(&req, T0), || ()).expect("req");
    let t = table.track(&fp(&rep, T0 + 5), || ()).expect("rep");
    assert_eq!(t.direction, Direction::ToClient);
    assert!(t.established());
    assert_eq!(table.len(), 1);
    let syn = PacketBuilder::tcp(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 2))
        .flags(TcpFlags::SYN)
        .build();
    table.track(&fp(&syn, T0), || ()).expect("tcp");
    assert_eq!(table.len(), 2);
}
