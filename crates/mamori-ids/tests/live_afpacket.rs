//! Live capture with AF_PACKET in network namespaces: traffic sent from namespace A over a
//! veth pair is captured on `b0` inside namespace B, decoded, and checked.

mod live_support;

/// Named `live` so that `cargo test -p mamori-ids live` selects these tests.
mod live {

    use std::net::{Ipv4Addr, UdpSocket};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::live_support::{ping, skip, unusable, Netns, VethPair};
    use mamori_ids::decode::{decode, Transport, LINKTYPE_ETHERNET};
    use mamori_ids::live::{AfPacket, AfPacketConfig, Direction, LiveError, PacketType, Source};

    const UDP_PORT: u16 = 9999;

    fn now_us() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    }

    /// What a capture saw of the test traffic.
    #[derive(Default, Debug)]
    struct Seen {
        udp_payloads: Vec<Vec<u8>>,
        echo_requests: Vec<(u16, u16)>,
        echo_replies_outgoing: usize,
        echo_replies_any: usize,
    }

    impl Seen {
        fn done(&self, udp: usize, want_reply: bool) -> bool {
            self.udp_payloads.len() >= udp
                && !self.echo_requests.is_empty()
                && (!want_reply || self.echo_replies_outgoing > 0)
        }
    }

    /// Reads until `done` or the deadline, checking every frame's metadata on the way.
    fn collect(
        capture: &mut AfPacket,
        a_ip: Ipv4Addr,
        deadline: Instant,
        done: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let mut seen = Seen::default();
        let start_us = now_us().saturating_sub(5_000_000);
        while Instant::now() < deadline && !done(&seen) {
            let Some(p) = capture.next_packet().expect("capture read") else {
                continue;
            };
            assert_eq!(p.linktype, LINKTYPE_ETHERNET, "veth frames are Ethernet");
            assert_eq!(
                p.orig_len as usize,
                p.data.len(),
                "small frames are not cut"
            );
            assert!(
                p.ts_us >= start_us && p.ts_us <= now_us() + 1_000_000,
                "timestamp {} is not now",
                p.ts_us
            );
            let d = decode(p.linktype, p.data);
            match d.transport {
                Transport::Udp(u) if u.dst_port == UDP_PORT && d.src_ip() == Some(a_ip.into()) => {
                    assert_eq!(p.packet_type, PacketType::Host);
                    seen.udp_payloads.push(d.payload.to_vec());
                }
                Transport::Icmpv4(i) if i.kind == 8 && d.src_ip() == Some(a_ip.into()) => {
                    seen.echo_requests.push((i.id, i.seq));
                }
                Transport::Icmpv4(i) if i.kind == 0 && d.dst_ip() == Some(a_ip.into()) => {
                    seen.echo_replies_any += 1;
                    if p.packet_type == PacketType::Outgoing {
                        seen.echo_replies_outgoing += 1;
                    }
                }
                _ => {}
            }
        }
        seen
    }

    /// Sends three UDP datagrams and one ping from namespace A to B.
    fn send_traffic(pair: &VethPair) {
        let b_ip = pair.b_ip;
        pair.a.enter(|| {
            let sock = UdpSocket::bind("0.0.0.0:0").expect("udp bind in A");
            for i in 0..3 {
                sock.send_to(format!("mamori-live-{i}").as_bytes(), (b_ip, UDP_PORT))
                    .expect("udp send");
            }
            ping(b_ip, 0x4d4d, 1, b"mamori ping").expect("ping");
        });
    }

    #[test]
    fn capture_on_veth_sees_udp_and_ping_from_the_other_namespace() {
        if let Some(reason) = unusable() {
            skip(&reason);
            return;
        }
        let pair = match VethPair::new() {
            Ok(p) => p,
            Err(e) => {
                skip(&format!("cannot set up namespaces: {e}"));
                return;
            }
        };
        let mut capture = pair
            .b
            .enter(|| AfPacket::open("b0", &AfPacketConfig::default()))
            .expect("open b0 in B");
        assert_eq!(capture.linktype(), LINKTYPE_ETHERNET);
        assert_eq!(capture.interface(), "b0");

        send_traffic(&pair);
        let seen = collect(
            &mut capture,
            pair.a_ip,
            Instant::now() + Duration::from_secs(10),
            |s| s.done(3, true),
        );

        let mut payloads = seen.udp_payloads.clone();
        payloads.sort();
        payloads.dedup();
        assert_eq!(
            payloads,
            [
                b"mamori-live-0".to_vec(),
                b"mamori-live-1".to_vec(),
                b"mamori-live-2".to_vec()
            ],
            "{seen:?}"
        );
        assert_eq!(seen.echo_requests, [(0x4d4d, 1)], "{seen:?}");
        assert!(
            seen.echo_replies_outgoing > 0,
            "both directions are captured by default: {seen:?}"
        );

        let counters = capture.counters().expect("counters");
        assert!(counters.packets >= 5, "{counters:?}");
        assert!(counters.kernel_packets >= counters.packets, "{counters:?}");
        assert_eq!(counters.kernel_drops, 0, "{counters:?}");
    }

    #[test]
    fn incoming_only_capture_skips_what_the_host_sends() {
        if let Some(reason) = unusable() {
            skip(&reason);
            return;
        }
        let pair = match VethPair::new() {
            Ok(p) => p,
            Err(e) => {
                skip(&format!("cannot set up namespaces: {e}"));
                return;
            }
        };
        let config = AfPacketConfig {
            direction: Direction::Incoming,
            promiscuous: false,
            ..AfPacketConfig::default()
        };
        let mut capture = pair
            .b
            .enter(|| AfPacket::open("b0", &config))
            .expect("open b0 in B");

        send_traffic(&pair);
        // Read until the ping and the datagrams are in, then a little longer for B's reply
        // (which must not show up).
        let seen = collect(
            &mut capture,
            pair.a_ip,
            Instant::now() + Duration::from_secs(10),
            |s| s.done(3, false),
        );
        assert!(seen.done(3, false), "{seen:?}");
        let more = collect(
            &mut capture,
            pair.a_ip,
            Instant::now() + Duration::from_millis(500),
            |_| false,
        );
        assert_eq!(
            seen.echo_replies_any + more.echo_replies_any,
            0,
            "outgoing replies leaked in: {seen:?} {more:?}"
        );
    }

    #[test]
    fn loopback_capture_reports_ethernet_frames_through_the_source_api() {
        if let Some(reason) = unusable() {
            skip(&reason);
            return;
        }
        let ns = match Netns::new("lo") {
            Ok(n) => n,
            Err(e) => {
                skip(&format!("cannot set up a namespace: {e}"));
                return;
            }
        };
        let capture = ns
            .enter(|| AfPacket::open("lo", &AfPacketConfig::default()))
            .expect("open lo");
        let mut source = Source::from(capture);
        assert_eq!(source.name(), "af-packet:lo");
        assert!(!source.is_inline());
        ns.enter(|| {
            let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            tx.send_to(b"over loopback", rx.local_addr().expect("addr"))
                .expect("send");
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = 0;
        while Instant::now() < deadline && found < 2 {
            let Some(p) = source.next_packet().expect("read") else {
                continue;
            };
            assert_eq!(p.linktype, LINKTYPE_ETHERNET);
            assert!(p.ticket.is_none(), "passive capture holds nothing");
            let d = decode(p.linktype, p.data);
            if d.udp().is_some() && d.payload == b"over loopback" {
                found += 1;
            }
        }
        // Loopback shows each packet once leaving and once arriving.
        assert_eq!(found, 2);
        let c = source.counters().expect("counters");
        assert!(c.packets >= 2 && c.bytes > 0, "{c:?}");
    }

    #[test]
    fn unknown_interface_error_names_the_interface_and_the_call() {
        let err = AfPacket::open("mamori-nope0", &AfPacketConfig::default())
            .expect_err("no such interface");
        assert!(
            matches!(&err, LiveError::Interface { iface, call: "if_nametoindex", .. } if iface == "mamori-nope0")
        );
        let text = err.to_string();
        assert!(
            text.contains("mamori-nope0") && text.contains("if_nametoindex"),
            "{text}"
        );

        let err = AfPacket::open("a-name-much-too-long", &AfPacketConfig::default())
            .expect_err("too long");
        assert!(err.to_string().contains("a-name-much-too-long"), "{err}");
    }
}
