//! Decoding every supported link type, VLANs, IPv6 extension headers, anomalies, and IP
//! fragment reassembly.

use std::net::{IpAddr, Ipv6Addr};

use mamori_ids::capture::{fragment_ipv4, fragment_ipv6, PacketBuilder};
use mamori_ids::decode::{
    decode, decode_ip, Anomaly, Defrag, DefragConfig, Defragmenter, IpHeader, TcpFlags, Transport,
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW,
};

const V6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const V6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

fn http_syn() -> PacketBuilder {
    PacketBuilder::tcp(([192, 168, 1, 10], 51000), ([192, 168, 1, 1], 443))
        .flags(TcpFlags::SYN)
        .seq(42)
}

#[test]
fn vlan_and_qinq_tags_are_read_outermost_first() {
    let p1 = http_syn().vlan(100).build();
    let d = decode(LINKTYPE_ETHERNET, &p1);
    assert_eq!(d.vlans(), &[100]);
    assert!(d.tcp().is_some());
    let p2 = http_syn().vlan(10).vlan(20).build();
    let d = decode(LINKTYPE_ETHERNET, &p2);
    assert_eq!(d.vlans(), &[10, 20]);
    assert_eq!(d.tcp().map(|t| t.seq), Some(42));
    assert!(d.anomalies.is_empty());
    let p3 = http_syn().vlan(1).vlan(2).vlan(3).build();
    let d = decode(LINKTYPE_ETHERNET, &p3);
    assert!(d.anomalies.contains(Anomaly::VlanTooManyLayers));
    assert!(d.ip.is_none());
}

#[test]
fn ipv6_extension_headers_are_walked_to_tcp() {
    let f = PacketBuilder::tcp((V6_A, 40000), (V6_B, 80))
        .ipv6_ext(0, &[1, 4, 0, 0, 0, 0]) // hop-by-hop with a PadN option
        .ipv6_ext(43, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) // routing, 16 bytes
        .ipv6_ext(60, &[]) // destination options
        .payload(b"payload")
        .build();
    let d = decode(LINKTYPE_ETHERNET, &f);
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
    let Some(IpHeader::V6(h)) = d.ip else {
        panic!("ipv6")
    };
    assert_eq!(h.ext_headers, 3);
    assert_eq!(h.header_len, 40 + 8 + 16 + 8);
    assert_eq!(h.next_header, 6);
    assert_eq!(d.tcp().map(|t| t.dst_port), Some(80));
    assert_eq!(d.payload, b"payload");
    assert_eq!(d.src_ip(), Some(IpAddr::V6(V6_A)));

    // Cut inside the routing header.
    let ip = &f[14..];
    let mut cut = ip[..40 + 8 + 8].to_vec();
    let plen = (cut.len() - 40) as u16;
    cut[4..6].copy_from_slice(&plen.to_be_bytes());
    let d = decode(LINKTYPE_RAW, &cut);
    assert!(
        d.anomalies.contains(Anomaly::Ipv6TruncExthdr),
        "{:?}",
        d.anomalies
    );
    assert_eq!(d.transport, Transport::None);

    // Two hop-by-hop headers.
    let f = PacketBuilder::udp((V6_A, 1), (V6_B, 2))
        .ipv6_ext(0, &[])
        .ipv6_ext(0, &[])
        .build();
    assert!(decode(LINKTYPE_ETHERNET, &f)
        .anomalies
        .contains(Anomaly::Ipv6ExthdrDuplHh));
}

#[test]
fn every_link_type_reaches_the_ip_layer() {
    let ip = http_syn().raw_ip().build();
    let ip6 = PacketBuilder::udp((V6_A, 5353), (V6_B, 53))
        .payload(b"q")
        .raw_ip()
        .build();
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip6);
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&ip);
    let mut null_be6 = 30u32.to_be_bytes().to_vec();
    null_be6.extend_from_slice(&ip6);
    let mut loop6 = 24u32.to_be_bytes().to_vec();
    loop6.extend_from_slice(&ip6);
    let cases: [(u32, &[u8], u8); 8] = [
        (LINKTYPE_RAW, &ip, 6),
        (LINKTYPE_RAW, &ip6, 17),
        (LINKTYPE_IPV4, &ip, 6),
        (LINKTYPE_IPV6, &ip6, 17),
        (LINKTYPE_LINUX_SLL, &sll, 6),
        (LINKTYPE_LINUX_SLL2, &sll2, 17),
        (LINKTYPE_NULL, &null_le, 6),
        (LINKTYPE_NULL, &null_be6, 17),
    ];
    for (lt, bytes, proto) in cases {
        let d = decode(lt, bytes);
        assert!(d.anomalies.is_empty(), "linktype {lt}: {:?}", d.anomalies);
        assert_eq!(d.protocol(), Some(proto), "linktype {lt}");
        assert!(d.ports().is_some(), "linktype {lt}");
    }
    assert_eq!(decode(LINKTYPE_LOOP, &loop6).protocol(), Some(17));
    assert!(decode(LINKTYPE_LINUX_SLL, &sll[..10])
        .anomalies
        .contains(Anomaly::SllPktTooSmall));
    assert!(decode(LINKTYPE_RAW, &[0x50; 30])
        .anomalies
        .contains(Anomaly::IpRawInvalidIpVersion));
    assert!(decode(9999, &ip)
        .anomalies
        .contains(Anomaly::UnsupportedLinktype));
    assert!(decode(LINKTYPE_ETHERNET, &[0; 10])
        .anomalies
        .contains(Anomaly::EthernetPktTooSmall));
}

#[test]
fn icmp_echo_fields_for_both_families() {
    let v4 = PacketBuilder::icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 0x1234, 7)
        .payload(b"ping")
        .build();
    let d = decode(LINKTYPE_ETHERNET, &v4);
    let Transport::Icmpv4(h) = d.transport else {
        panic!("icmp")
    };
    assert_eq!((h.kind, h.code, h.id, h.seq), (8, 0, 0x1234, 7));
    assert_eq!(d.payload, b"ping");
    let v6 = PacketBuilder::icmp_echo(V6_A, V6_B, 9, 1).build();
    let Transport::Icmpv6(h) = decode(LINKTYPE_ETHERNET, &v6).transport else {
        panic!("icmpv6")
    };
    assert_eq!((h.kind, h.id, h.seq), (128, 9, 1));
}

#[test]
fn broken_headers_are_anomalies_named_like_suricata() {
    let f = http_syn().build();
    let mut bad_ver = f.clone();
    bad_ver[14] = 0x55;
    assert!(decode(LINKTYPE_ETHERNET, &bad_ver)
        .anomalies
        .contains(Anomaly::Ipv4WrongIpVersion));
    let mut bad_hlen = f.clone();
    bad_hlen[14] = 0x44;
    assert!(decode(LINKTYPE_ETHERNET, &bad_hlen)
        .anomalies
        .contains(Anomaly::Ipv4HlenTooSmall));
    let mut bad_off = f.clone();
    bad_off[14 + 20 + 12] = 0x20; // TCP data offset 8 bytes
    let d = decode(LINKTYPE_ETHERNET, &bad_off);
    assert!(d.anomalies.contains(Anomaly::TcpHlenTooSmall));
    assert_eq!(
        Anomaly::TcpHlenTooSmall.name(),
        "decoder.tcp.hlen_too_small"
    );
    assert!(d.ip.is_some(), "the IP layer stays usable");
    let mut big_off = f.clone();
    big_off[14 + 20 + 12] = 0xf0;
    assert!(decode(LINKTYPE_ETHERNET, &big_off)
        .anomalies
        .contains(Anomaly::TcpInvalidOptlen));
    let mut udp = PacketBuilder::udp(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 2))
        .payload(b"abc")
        .build();
    udp[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&200u16.to_be_bytes());
    assert!(decode(LINKTYPE_ETHERNET, &udp)
        .anomalies
        .contains(Anomaly::UdpHlenInvalid));
}

fn big_udp(payload_len: usize, id: u16) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i % 251) as u8).collect();
    let f = PacketBuilder::udp(([10, 1, 0, 1], 4000), ([10, 1, 0, 2], 53))
        .ip_id(id)
        .payload(&payload)
        .build();
    (f, payload)
}

fn offer(d: &mut Defragmenter, frame: &[u8], now: u64) -> Option<Vec<u8>> {
    let p = decode(LINKTYPE_ETHERNET, frame);
    match d.insert(&p, now) {
        Defrag::Complete { packet, .. } => Some(packet.to_vec()),
        _ => None,
    }
}

#[test]
fn ipv4_fragments_reassemble_in_any_order() {
    let (frame, payload) = big_udp(3000, 77);
    let frags = fragment_ipv4(&frame, 1000);
    assert_eq!(frags.len(), 4);
    assert!(decode(LINKTYPE_ETHERNET, &frags[1]).is_fragment());
    for order in [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]] {
        let mut d = Defragmenter::default();
        let mut done = None;
        for (n, i) in order.iter().enumerate() {
            let r = offer(&mut d, &frags[*i], 1_000 + n as u64);
            assert_eq!(r.is_some(), n == 3, "order {order:?} step {n}");
            done = done.or(r);
        }
        let whole = done.expect("reassembled");
        let p = decode_ip(&whole);
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert!(!p.is_fragment());
        assert_eq!(p.udp().map(|u| u.dst_port), Some(53));
        assert_eq!(p.payload, &payload[..]);
        // The rebuilt header carries a valid checksum.
        assert_eq!(mamori_ids::capture::craft::checksum(&[&whole[..20]]), 0);
        let c = d.counters();
        assert_eq!((c.reassembled, c.active, c.memuse), (1, 0, 0));
    }
}

#[test]
fn overlapping_fragments_keep_the_first_data() {
    // Fragment A: offset 0, 24 bytes of 'a'; fragment B: offset 16, 16 bytes of 'b', last.
    let a_payload = [b'a'; 16];
    let udp_head = PacketBuilder::udp(([10, 2, 0, 1], 1), ([10, 2, 0, 2], 2))
        .payload(a_payload)
        .ip_id(5)
        .build();
    // Take the UDP header + 16 bytes as the first fragment's data (24 bytes).
    let first = PacketBuilder::ip([10, 2, 0, 1], [10, 2, 0, 2], 17)
        .ip_id(5)
        .fragment(0, true)
        .payload(&udp_head[14 + 20..])
        .build();
    let second = PacketBuilder::ip([10, 2, 0, 1], [10, 2, 0, 2], 17)
        .ip_id(5)
        .fragment(16, false)
        .payload([b'b'; 16])
        .build();
    let mut d = Defragmenter::default();
    let p = decode(LINKTYPE_ETHERNET, &first);
    assert!(matches!(d.insert(&p, 1), Defrag::Held { anomaly: None }));
    let p = decode(LINKTYPE_ETHERNET, &second);
    let Defrag::Complete { packet, anomaly } = d.insert(&p, 2) else {
        panic!("complete")
    };
    assert_eq!(anomaly, Some(Anomaly::Ipv4FragOverlap));
    assert_eq!(packet.len(), 20 + 32);
    assert_eq!(&packet[20 + 8..20 + 24], &[b'a'; 16], "first data wins");
    assert_eq!(&packet[20 + 24..], &[b'b'; 8]);
    assert_eq!(d.counters().overlaps, 1);
}

#[test]
fn incomplete_datagrams_time_out_and_the_memcap_drops_fragments() {
    let (frame, _) = big_udp(3000, 9);
    let frags = fragment_ipv4(&frame, 1000);
    let mut d = Defragmenter::new(DefragConfig {
        timeout_us: 1_000_000,
        ..DefragConfig::default()
    });
    assert!(offer(&mut d, &frags[0], 0).is_none());
    assert_eq!(d.counters().active, 1);
    d.expire(2_000_000);
    let c = d.counters();
    assert_eq!((c.active, c.timeouts, c.memuse), (0, 1, 0));
    // The rest arriving late cannot complete the datagram.
    for f in &frags[1..] {
        assert!(offer(&mut d, f, 2_000_001).is_none());
    }

    let mut d = Defragmenter::new(DefragConfig {
        memcap: 1500,
        ..DefragConfig::default()
    });
    let mut dropped = 0;
    for f in &frags {
        let p = decode(LINKTYPE_ETHERNET, f);
        if matches!(d.insert(&p, 10), Defrag::Dropped { .. }) {
            dropped += 1;
        }
    }
    assert!(dropped >= 2);
    assert_eq!(d.counters().memcap_drops, dropped);
    assert!(d.counters().memuse <= 1500);
}

#[test]
fn ipv6_fragments_reassemble_without_the_fragment_header() {
    let payload: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
    let f = PacketBuilder::udp((V6_A, 7000), (V6_B, 53))
        .ipv6_ext(0, &[])
        .payload(&payload)
        .build();
    let frags = fragment_ipv6(&f, 1280, 0xdead_beef);
    assert_eq!(frags.len(), 3);
    let first = decode(LINKTYPE_ETHERNET, &frags[0]);
    let Some(IpHeader::V6(h)) = first.ip else {
        panic!("v6")
    };
    let fh = h.fragment.expect("fragment header");
    assert_eq!((fh.id, fh.offset, fh.more), (0xdead_beef, 0, true));
    let mut d = Defragmenter::default();
    assert!(offer(&mut d, &frags[2], 1).is_none());
    assert!(offer(&mut d, &frags[0], 2).is_none());
    let whole = offer(&mut d, &frags[1], 3).expect("complete");
    let p = decode_ip(&whole);
    assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
    assert_eq!(p.udp().map(|u| u.src_port), Some(7000));
    assert_eq!(p.payload, &payload[..]);
    let Some(IpHeader::V6(h)) = p.ip else {
        panic!("v6")
    };
    assert_eq!((h.ext_headers, h.fragment), (1, None));
}

#[test]
fn non_fragments_pass_through_the_defragmenter() {
    let f = http_syn().build();
    let mut d = Defragmenter::default();
    let p = decode(LINKTYPE_ETHERNET, &f);
    assert!(matches!(d.insert(&p, 0), Defrag::NotFragment));
    assert_eq!(d.counters().fragments, 0);
}
