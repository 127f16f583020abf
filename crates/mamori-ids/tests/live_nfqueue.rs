//! Inline mode with NFQUEUE in network namespaces: a netfilter rule in namespace B queues
//! TCP traffic to port 8000, the test's reader drops segments carrying `EVIL` and accepts
//! the rest, and clients in namespace A see which connections get their echo.

mod live_support;

/// Named `live` so that `cargo test -p mamori-ids live` selects these tests.
mod live {

    use std::io::{ErrorKind, Read, Write};
    use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::live_support::{skip, unusable, Netns, VethPair};
    use mamori_ids::decode::{decode, LINKTYPE_RAW};
    use mamori_ids::live::{LiveError, NfQueue, NfQueueConfig, Source, Verdict};

    const PORT: u16 = 8000;

    fn has(cmd: &str) -> bool {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Adds a rule in `ns` that queues TCP to port 8000 to `queue` with `bypass`. nftables
    /// first; iptables (xt NFQUEUE) when the kernel has no nft queue support.
    fn queue_rule(ns: &Netns, queue: u16) -> Result<(), String> {
        let q = queue.to_string();
        let nft = || -> Result<(), String> {
            ns.exec(&["nft", "add", "table", "inet", "t"])?;
            ns.exec(&[
                "nft",
                "add",
                "chain",
                "inet",
                "t",
                "input",
                "{ type filter hook input priority 0; }",
            ])?;
            ns.exec(&[
                "nft", "add", "rule", "inet", "t", "input", "tcp", "dport", "8000", "queue", "num",
                &q, "bypass",
            ])
        };
        let nft_err = match nft() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let _ = ns.exec(&["nft", "delete", "table", "inet", "t"]);
        if !has("iptables") {
            return Err(format!(
                "nft rule failed ({nft_err}) and iptables is not installed"
            ));
        }
        ns.exec(&[
            "iptables",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "8000",
            "-j",
            "NFQUEUE",
            "--queue-num",
            &q,
            "--queue-bypass",
        ])
        .map_err(|e| format!("nft rule failed ({nft_err}); iptables fallback failed ({e})"))
    }

    /// Namespaces with a queue rule in B, or `None` when the test must be skipped.
    fn setup(queue: u16) -> Option<VethPair> {
        if let Some(reason) = unusable() {
            skip(&reason);
            return None;
        }
        if !has("nft") && !has("iptables") {
            skip("neither nft nor iptables is installed");
            return None;
        }
        let pair = match VethPair::new() {
            Ok(p) => p,
            Err(e) => {
                skip(&format!("cannot set up namespaces: {e}"));
                return None;
            }
        };
        if let Err(e) = queue_rule(&pair.b, queue) {
            skip(&format!("cannot add a queue rule: {e}"));
            return None;
        }
        Some(pair)
    }

    /// An echo server in namespace B that records every byte it receives.
    struct EchoServer {
        stop: Arc<AtomicBool>,
        received: Arc<Mutex<Vec<u8>>>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl EchoServer {
        fn start(ns: &Netns, ip: Ipv4Addr) -> EchoServer {
            let listener = ns
                .enter(|| TcpListener::bind((ip, PORT)))
                .expect("listen in B");
            listener.set_nonblocking(true).expect("nonblocking");
            let stop = Arc::new(AtomicBool::new(false));
            let received = Arc::new(Mutex::new(Vec::new()));
            let (s, r) = (Arc::clone(&stop), Arc::clone(&received));
            let thread = thread::spawn(move || {
                let mut conns = Vec::new();
                while !s.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            let (s, r) = (Arc::clone(&s), Arc::clone(&r));
                            conns.push(thread::spawn(move || {
                                let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
                                let mut buf = [0u8; 4096];
                                while !s.load(Ordering::Relaxed) {
                                    match conn.read(&mut buf) {
                                        Ok(0) => break,
                                        Ok(n) => {
                                            r.lock().expect("lock").extend_from_slice(&buf[..n]);
                                            if conn.write_all(&buf[..n]).is_err() {
                                                break;
                                            }
                                        }
                                        Err(e)
                                            if matches!(
                                                e.kind(),
                                                ErrorKind::WouldBlock | ErrorKind::TimedOut
                                            ) => {}
                                        Err(_) => break,
                                    }
                                }
                            }));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            });
            EchoServer {
                stop,
                received,
                thread: Some(thread),
            }
        }

        fn received(&self) -> Vec<u8> {
            self.received.lock().expect("lock").clone()
        }
    }

    impl Drop for EchoServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Connects from namespace A, sends `msg`, and returns what came back before `deadline`
    /// (or the connect error).
    fn exchange(a: &Netns, to: Ipv4Addr, msg: &[u8], wait: Duration) -> Result<Vec<u8>, String> {
        let addr = SocketAddr::from((to, PORT));
        let mut conn = a
            .enter(|| TcpStream::connect_timeout(&addr, wait))
            .map_err(|e| format!("connect: {e}"))?;
        conn.write_all(msg).map_err(|e| format!("write: {e}"))?;
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while got.len() < msg.len() && Instant::now() < deadline {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(got)
    }

    /// What the inline reader decided.
    #[derive(Default)]
    struct Decisions {
        accepted: AtomicU64,
        dropped: AtomicU64,
    }

    /// Reads the queue through the `Source` API and drops every segment carrying `EVIL`.
    fn run_ips(
        mut source: Source,
        stop: Arc<AtomicBool>,
        decisions: Arc<Decisions>,
    ) -> thread::JoinHandle<Source> {
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (ticket, verdict) = {
                    let Some(p) = source.next_packet().expect("queue read") else {
                        continue;
                    };
                    assert_eq!(p.linktype, LINKTYPE_RAW, "NFQUEUE hands over IP packets");
                    let d = decode(p.linktype, p.data);
                    assert_eq!(
                        d.tcp().map(|t| t.dst_port),
                        Some(PORT),
                        "only the rule's packets are queued"
                    );
                    let evil = d.payload.windows(4).any(|w| w == b"EVIL");
                    (
                        p.ticket.expect("inline packets carry a ticket"),
                        if evil { Verdict::Drop } else { Verdict::Accept },
                    )
                };
                source.verdict(ticket, verdict).expect("verdict");
                let counter = if verdict == Verdict::Drop {
                    &decisions.dropped
                } else {
                    &decisions.accepted
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            source
        })
    }

    #[test]
    fn inline_queue_drops_evil_segments_and_passes_the_rest() {
        let Some(pair) = setup(7) else { return };
        let server = EchoServer::start(&pair.b, pair.b_ip);
        let queue = pair
            .b
            .enter(|| NfQueue::open(&NfQueueConfig::new(7)))
            .expect("bind queue 7 in B");
        let source = Source::from(queue);
        assert!(source.is_inline());
        assert_eq!(source.name(), "nfqueue:7");
        let stop = Arc::new(AtomicBool::new(false));
        let decisions = Arc::new(Decisions::default());
        let reader = run_ips(source, Arc::clone(&stop), Arc::clone(&decisions));

        let wait = Duration::from_secs(5);
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"hello", wait).as_deref(),
            Ok(&b"hello"[..])
        );
        // The connection opens (the SYN has no payload), the data segment is dropped and every
        // retransmission of it too: no echo.
        let evil = exchange(
            &pair.a,
            pair.b_ip,
            b"EVIL payload",
            Duration::from_millis(1500),
        );
        assert_eq!(
            evil.as_deref(),
            Ok(&b""[..]),
            "the EVIL segment reached the server"
        );
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"hello again", wait).as_deref(),
            Ok(&b"hello again"[..]),
            "a normal connection still works after a drop"
        );

        let seen = server.received();
        assert!(
            !seen.windows(4).any(|w| w == b"EVIL"),
            "server saw {:?}",
            String::from_utf8_lossy(&seen)
        );
        assert!(decisions.dropped.load(Ordering::Relaxed) >= 1);
        assert!(
            decisions.accepted.load(Ordering::Relaxed) >= 6,
            "handshakes and data of two connections"
        );

        stop.store(true, Ordering::Relaxed);
        let mut source = reader.join().expect("reader thread");
        let c = source.counters().expect("counters");
        assert_eq!(c.dropped, decisions.dropped.load(Ordering::Relaxed));
        assert_eq!(c.accepted, decisions.accepted.load(Ordering::Relaxed));
        assert_eq!(c.malformed, 0);
        drop(source);

        // With the reader gone, the rule's `bypass` lets traffic through.
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"after shutdown", wait).as_deref(),
            Ok(&b"after shutdown"[..]),
            "bypass keeps traffic flowing without a reader"
        );
    }

    /// The IDS pipeline itself inline: a `drop` rule's match drops the segment and the
    /// rest of its connection; other connections pass.
    #[test]
    fn inline_pipeline_drops_what_a_drop_rule_matches() {
        use mamori_ids::pipeline::{PipelineConfig, Worker};
        let Some(pair) = setup(9) else { return };
        let server = EchoServer::start(&pair.b, pair.b_ip);
        let queue = pair
            .b
            .enter(|| NfQueue::open(&NfQueueConfig::new(9)))
            .expect("bind queue 9 in B");
        let mut source = Source::from(queue);
        let rules = mamori_ids_rules::parse_rules(
            &format!(
                "drop tcp any any -> any {PORT} (msg:\"block EVIL\"; content:\"EVIL\"; sid:1;)"
            ),
            "inline.rules",
            &mamori_ids_rules::Vars::default(),
        );
        let engine = Arc::new(mamori_ids_rules::Engine::build(rules.rules));
        let config = PipelineConfig {
            inline: true,
            ..PipelineConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = Arc::clone(&stop);
        let reader = thread::spawn(move || {
            let mut worker = Worker::new(
                engine,
                Arc::new(config),
                mamori_ids_rules::Thresholds::default(),
            );
            let mut n = 0;
            while !stop_reader.load(Ordering::Relaxed) {
                let Some(p) = source.next_packet().expect("queue read") else {
                    continue;
                };
                n += 1;
                let verdict = match worker.packet(n, p.ts_us, p.linktype, p.data) {
                    mamori_ids::pipeline::Verdict::Accept => Verdict::Accept,
                    mamori_ids::pipeline::Verdict::Drop => Verdict::Drop,
                };
                let ticket = p.ticket.expect("inline packets carry a ticket");
                source.verdict(ticket, verdict).expect("verdict");
            }
            worker
        });
        let wait = Duration::from_secs(5);
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"hello", wait).as_deref(),
            Ok(&b"hello"[..])
        );
        let evil = exchange(
            &pair.a,
            pair.b_ip,
            b"EVIL payload",
            Duration::from_millis(1500),
        );
        assert_eq!(
            evil.as_deref(),
            Ok(&b""[..]),
            "the EVIL segment reached the server"
        );
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"hello again", wait).as_deref(),
            Ok(&b"hello again"[..]),
            "other connections pass"
        );
        assert!(!server.received().windows(4).any(|w| w == b"EVIL"));
        stop.store(true, Ordering::Relaxed);
        let mut worker = reader.join().expect("reader thread");
        assert!(worker.counters().dropped >= 1);
        let eve = String::from_utf8(worker.take_output().eve).unwrap();
        assert!(eve.contains(r#""action":"blocked""#), "{eve}");
    }

    #[test]
    fn full_queue_fails_open_by_default() {
        let Some(pair) = setup(3) else { return };
        let _server = EchoServer::start(&pair.b, pair.b_ip);
        let config = NfQueueConfig {
            max_len: Some(1),
            ..NfQueueConfig::new(3)
        };
        // Bound but never read: the first SYN fills the queue and waits there.
        let queue = pair
            .b
            .enter(|| NfQueue::open(&config))
            .expect("bind queue 3 in B");
        let first = {
            let a = &pair.a;
            let addr = SocketAddr::from((pair.b_ip, PORT));
            thread::scope(|s| {
                let h = s.spawn(|| {
                    a.enter(|| TcpStream::connect_timeout(&addr, Duration::from_millis(300)))
                });
                h.join().expect("connect thread")
            })
        };
        assert!(first.is_err(), "the first SYN should wait in the queue");
        // Later packets find the queue full and the kernel accepts them.
        assert_eq!(
            exchange(&pair.a, pair.b_ip, b"still online", Duration::from_secs(5)).as_deref(),
            Ok(&b"still online"[..])
        );
        drop(queue);
    }

    #[test]
    fn full_queue_drops_when_fail_open_is_off() {
        let Some(pair) = setup(4) else { return };
        let _server = EchoServer::start(&pair.b, pair.b_ip);
        let config = NfQueueConfig {
            max_len: Some(1),
            fail_open: false,
            ..NfQueueConfig::new(4)
        };
        let queue = pair
            .b
            .enter(|| NfQueue::open(&config))
            .expect("bind queue 4 in B");
        let _ = exchange(&pair.a, pair.b_ip, b"x", Duration::from_millis(300));
        let second = exchange(&pair.a, pair.b_ip, b"cut off", Duration::from_millis(1500));
        assert!(
            second.is_err(),
            "a full fail-closed queue lets nothing through: {second:?}"
        );
        drop(queue);
    }

    #[test]
    fn binding_a_taken_queue_names_the_queue_and_the_kernel_reason() {
        if let Some(reason) = unusable() {
            skip(&reason);
            return;
        }
        let ns = match Netns::new("q") {
            Ok(n) => n,
            Err(e) => {
                skip(&format!("cannot set up a namespace: {e}"));
                return;
            }
        };
        let (first, second) = ns.enter(|| {
            (
                NfQueue::open(&NfQueueConfig::new(9)),
                NfQueue::open(&NfQueueConfig::new(9)),
            )
        });
        let _first = first.expect("first bind");
        let err = second.expect_err("queue 9 is taken");
        assert!(
            matches!(
                &err,
                LiveError::QueueRefused {
                    queue: 9,
                    request: "NFQNL_CFG_CMD_BIND",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("NFQUEUE 9"), "{err}");
    }
}
