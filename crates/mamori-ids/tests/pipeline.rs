//! The whole IDS pipeline on pcaps the tests write: rules over reassembled HTTP, DNS in
//! fragments, out-of-order segments, inline drops, a truncated capture, and the behavioural
//! detectors (a beaconing host among normal ones, a port scan, a blocklisted destination).
//! Every check reads the EVE JSON the pipeline wrote, as a user's tools would.

use mamori_ids::capture::{fragment_ipv4, PacketBuilder, PcapWriter, TcpSession};
use mamori_ids::decode::TcpFlags;
use mamori_ids::pipeline::{self, PipelineConfig, Summary, Verdict, Worker};
use mamori_ids_rules::{Thresholds, Vars};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An EVE sink the test can read afterwards.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn records(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every EVE line is JSON"))
            .collect()
    }
}

fn temp(name: &str) -> PathBuf {
    mamori_core::scratch::dir("ids").join(name)
}

fn write_pcap(frames: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = temp("t.pcap");
    let mut w = PcapWriter::create(&path).unwrap();
    for (ts, f) in frames {
        w.write_packet(*ts, f).unwrap();
    }
    w.flush().unwrap();
    path
}

fn engine(rules: &str) -> Arc<mamori_ids_rules::Engine> {
    let parsed = mamori_ids_rules::parse_rules(rules, "test.rules", &Vars::default());
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    Arc::new(mamori_ids_rules::Engine::build(parsed.rules))
}

fn run(frames: &[(u64, Vec<u8>)], rules: &str, config: PipelineConfig) -> (Summary, Vec<Value>) {
    let path = write_pcap(frames);
    let sink = Sink::default();
    let summary =
        pipeline::read_file(&path, engine(rules), config, Box::new(sink.clone())).unwrap();
    (summary, sink.records())
}

fn alerts(records: &[Value], sid: u64) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["event_type"] == "alert" && r["alert"]["signature_id"] == sid)
        .collect()
}

const T0: u64 = 1_700_000_000_000_000;

fn http_session(client: ([u8; 4], u16), request: &[u8], mss: usize) -> TcpSession {
    let mut s = TcpSession::new(client, ([93, 184, 216, 34], 80))
        .starting_at(T0)
        .mss(mss);
    s.handshake()
        .client_sends(request)
        .server_sends(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\n\r\nok")
        .close();
    s
}

const URI_RULE: &str = r#"alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"passwd in URI"; flow:established,to_server; content:"/etc/passwd"; http_uri; classtype:web-application-attack; sid:1000001; rev:1;)"#;

#[test]
fn an_http_request_split_into_tiny_segments_matches_a_uri_rule() {
    let req = b"GET /download?file=../../etc/passwd HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: x\r\n\r\n";
    let s = http_session(([192, 168, 1, 23], 40000), req, 7);
    assert!(s.packets().len() > 15, "the request really is in pieces");
    let (summary, records) = run(s.packets(), URI_RULE, PipelineConfig::default());
    let hits = alerts(&records, 1_000_001);
    assert_eq!(hits.len(), 1, "one alert per transaction: {records:#?}");
    let a = hits[0];
    assert_eq!(a["src_ip"], "192.168.1.23");
    assert_eq!(a["dest_ip"], "93.184.216.34");
    assert_eq!(a["dest_port"], 80);
    assert_eq!(a["app_proto"], "http");
    assert_eq!(a["http"]["url"], "/download?file=../../etc/passwd");
    assert_eq!(a["http"]["hostname"], "shop.example");
    assert_eq!(a["alert"]["category"], "Web Application Attack");
    assert_eq!(a["alert"]["severity"], 1);
    assert_eq!(summary.alerts, 1);
    // The transaction and the flow are logged with Suricata's field names.
    let http = records.iter().find(|r| r["event_type"] == "http").unwrap();
    assert_eq!(http["http"]["status"], 200);
    let flow = records.iter().find(|r| r["event_type"] == "flow").unwrap();
    assert_eq!(flow["app_proto"], "http");
    assert_eq!(flow["flow"]["alerted"], true);
    assert!(flow["flow"]["pkts_toserver"].as_u64().unwrap() > 15);
    let stats = records.last().unwrap();
    assert_eq!(stats["event_type"], "stats");
    assert_eq!(stats["stats"]["detect"]["alert"], 1);
}

#[test]
fn out_of_order_and_retransmitted_segments_are_reassembled() {
    let req = b"GET /etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n";
    let s = http_session(([10, 1, 1, 1], 40001), req, 10);
    let mut frames = s.packets().to_vec();
    // Client data segments are frames 3.. (after the handshake): swap the first two and
    // send the first one twice.
    frames.swap(3, 4);
    let again = frames[4].clone();
    frames.insert(5, again);
    let (_, records) = run(&frames, URI_RULE, PipelineConfig::default());
    assert_eq!(alerts(&records, 1_000_001).len(), 1, "{records:#?}");
}

#[test]
fn a_fragmented_dns_query_is_reassembled_and_matched() {
    let rules = r#"alert dns $HOME_NET any -> any any (msg:"C2 domain"; dns.query; content:"evil-c2.top"; nocase; endswith; sid:1000002;)
alert udp any any -> any 53 (msg:"long label payload"; content:"aaaaaaaaaaaaaaaaaaaa"; sid:1000003;)"#;
    let mut q = Vec::new();
    q.extend_from_slice(&[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let label = vec![b'a'; 60];
    q.push(60);
    q.extend_from_slice(&label);
    q.push(7);
    q.extend_from_slice(b"evil-c2");
    q.push(3);
    q.extend_from_slice(b"top");
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    let frame = PacketBuilder::udp(([192, 168, 1, 50], 53000), ([8, 8, 8, 8], 53))
        .ip_id(777)
        .payload(&q)
        .build();
    let pieces = fragment_ipv4(&frame, 48);
    assert!(pieces.len() >= 2);
    let mut frames: Vec<(u64, Vec<u8>)> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, f)| (T0 + i as u64, f))
        .collect();
    frames.reverse();
    let (_, records) = run(&frames, rules, PipelineConfig::default());
    let hit = alerts(&records, 1_000_002);
    assert_eq!(hit.len(), 1, "{records:#?}");
    assert_eq!(
        hit[0]["dns"]["rrname"],
        format!("{}.evil-c2.top", "a".repeat(60))
    );
    assert_eq!(alerts(&records, 1_000_003).len(), 1);
    let dns = records.iter().find(|r| r["event_type"] == "dns").unwrap();
    assert_eq!(dns["dns"]["type"], "query");
}

#[test]
fn inline_mode_drops_the_matching_flow_and_passes_the_others() {
    let engine = engine(
        r#"drop http any any -> any any (msg:"block webshell"; flow:to_server; content:"cmd.php"; http_uri; sid:1000004;)
drop tcp any any -> any 80 (msg:"block payload"; flow:to_server,established; content:"EVIL"; sid:1000005;)"#,
    );
    let config = PipelineConfig {
        inline: true,
        ..PipelineConfig::default()
    };
    let mut w = Worker::new(engine, Arc::new(config), Thresholds::default());
    let mut verdicts = |s: &TcpSession| -> Vec<Verdict> {
        s.packets()
            .iter()
            .enumerate()
            .map(|(i, (ts, f))| w.packet(i as u64 + 1, *ts, 1, f))
            .collect()
    };
    let bad = http_session(
        ([10, 0, 0, 5], 41000),
        b"GET /x EVIL HTTP/1.1\r\n\r\n",
        1460,
    );
    let v = verdicts(&bad);
    let first_drop = v.iter().position(|v| *v == Verdict::Drop).expect("dropped");
    assert_eq!(first_drop, 3, "the segment with EVIL is the first dropped");
    assert!(
        v[first_drop..].iter().all(|v| *v == Verdict::Drop),
        "and the rest of its flow"
    );
    let good = http_session(
        ([10, 0, 0, 6], 41001),
        b"GET /index.html HTTP/1.1\r\n\r\n",
        1460,
    );
    assert!(verdicts(&good).iter().all(|v| *v == Verdict::Accept));
    let out = String::from_utf8(w.take_output().eve).unwrap();
    assert!(out.contains(r#""action":"blocked""#), "{out}");
    assert_eq!(w.counters().alerts, 1);
}

#[test]
fn a_truncated_capture_reports_where_and_keeps_what_came_before() {
    let s = http_session(
        ([192, 168, 1, 23], 40000),
        b"GET /etc/passwd HTTP/1.1\r\n\r\n",
        1460,
    );
    let path = write_pcap(s.packets());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, &bytes).unwrap();
    let sink = Sink::default();
    let summary = pipeline::read_file(
        &path,
        engine(URI_RULE),
        PipelineConfig::default(),
        Box::new(sink.clone()),
    )
    .unwrap();
    assert_eq!(summary.errors.len(), 1);
    let e = &summary.errors[0];
    let last = s.packets().len();
    // The last record starts after the 24-byte file header and the 16-byte record
    // headers and frames before it; packets are counted from 0.
    let offset: usize = 24
        + s.packets()[..last - 1]
            .iter()
            .map(|(_, f)| 16 + f.len())
            .sum::<usize>();
    assert!(
        e.contains(&format!("packet {}", last - 1)) && e.contains(&format!("offset {offset}")),
        "names the packet and the byte offset: {e}"
    );
    assert_eq!(summary.packets as usize, last - 1);
    assert_eq!(alerts(&sink.records(), 1_000_001).len(), 1);
}

/// One TCP connection from `client` to `server` at `ts`, with `bytes` of data each way.
fn connection(
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    ts: u64,
    bytes: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut s = TcpSession::new(client, server).starting_at(ts);
    s.handshake()
        .client_sends(&vec![b'x'; bytes])
        .server_sends(&vec![b'y'; bytes])
        .close();
    s.take_packets()
}

#[test]
fn a_beaconing_host_among_normal_ones_is_found() {
    let mut frames = Vec::new();
    // 192.168.1.23 calls 203.0.113.5 every 60 s (± 1 s) with the same small request, for
    // four hours; two colleagues browse at random times and sizes.
    let mut seed = 7u64;
    let mut rnd = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for i in 0..240u64 {
        let ts = T0 + i * 60_000_000 + rnd(2_000_000);
        frames.extend(connection(
            ([192, 168, 1, 23], 50000 + i as u16),
            ([203, 0, 113, 5], 443),
            ts,
            180,
        ));
    }
    for i in 0..240u64 {
        let ts = T0 + rnd(4 * 3600) * 1_000_000;
        let host = 1 + (i % 2) as u8;
        frames.extend(connection(
            ([192, 168, 1, 100 + host], 30000 + i as u16),
            ([198, 51, 100, 1 + (rnd(50) as u8)], 443),
            ts,
            100 + rnd(5000) as usize,
        ));
    }
    frames.sort_by_key(|(ts, _)| *ts);
    let (summary, records) = run(&frames, "", PipelineConfig::default());
    let beacons: Vec<&Value> = records
        .iter()
        .filter(|r| r["event_type"] == "alert" && r["mamori"]["code"] == "ids.beacon")
        .collect();
    assert!(!beacons.is_empty(), "the beacon is reported");
    assert!(beacons
        .iter()
        .all(|b| b["src_ip"] == "192.168.1.23" && b["dest_ip"] == "203.0.113.5"));
    assert_eq!(beacons[0]["alert"]["gid"], 9000);
    assert!(beacons[0]["mamori"]["summary_ja"]
        .as_str()
        .unwrap()
        .contains("203.0.113.5"));
    assert!(summary.findings >= 1);
}

#[test]
fn a_port_scan_and_a_blocklisted_destination_are_reported() {
    let mut frames = Vec::new();
    // 10.9.9.9 probes 100 ports of 192.168.1.10 (each answered by RST) within 10 s.
    for port in 1..=100u16 {
        let ts = T0 + u64::from(port) * 100_000;
        let syn = PacketBuilder::tcp(([10, 9, 9, 9], 61000), ([192, 168, 1, 10], port))
            .flags(TcpFlags::SYN)
            .seq(1)
            .build();
        let rst = PacketBuilder::tcp(([192, 168, 1, 10], port), ([10, 9, 9, 9], 61000))
            .flags(TcpFlags::RST | TcpFlags::ACK)
            .ack(2)
            .build();
        frames.push((ts, syn));
        frames.push((ts + 50, rst));
    }
    frames.extend(connection(
        ([192, 168, 1, 30], 45000),
        ([198, 51, 100, 77], 443),
        T0 + 20_000_000,
        300,
    ));
    let list = temp("bad-ips.txt");
    std::fs::write(&list, "# known C2\n198.51.100.0/24\n").unwrap();
    let mut config = PipelineConfig::default();
    config.detect.blocklist.ip_files = vec![list];
    let (_, records) = run(&frames, "", config);
    let codes: Vec<&str> = records
        .iter()
        .filter_map(|r| r["mamori"]["code"].as_str())
        .collect();
    assert!(codes.contains(&"ids.port_scan"), "{codes:?}");
    assert!(codes.contains(&"ids.blocklist_ip"), "{codes:?}");
    let scan = records
        .iter()
        .find(|r| r["mamori"]["code"] == "ids.port_scan")
        .unwrap();
    assert_eq!(scan["src_ip"], "10.9.9.9");
}

#[test]
fn malformed_packets_are_logged_as_decode_anomalies() {
    let good = PacketBuilder::udp(([192, 168, 1, 2], 5000), ([192, 168, 1, 3], 53))
        .payload(b"hello")
        .build();
    // An IPv4 header cut short: 14 bytes of Ethernet and 10 of the 20-byte header.
    let cut = good[..24].to_vec();
    let (summary, records) = run(&[(T0, good), (T0 + 1, cut)], "", PipelineConfig::default());
    let anomaly = records
        .iter()
        .find(|r| r["event_type"] == "anomaly" && r["anomaly"]["type"] == "decode")
        .expect("a decode anomaly record");
    assert!(
        anomaly["anomaly"]["event"]
            .as_str()
            .unwrap()
            .starts_with("decoder.ipv4."),
        "{anomaly}"
    );
    assert_eq!(anomaly["pcap_cnt"], 2);
    assert_eq!(summary.packets, 2);
}

#[test]
fn a_request_cut_off_by_the_end_of_the_flow_is_still_inspected() {
    // Request line and one header, no blank line: the headers never complete.
    let mut s =
        TcpSession::new(([192, 168, 1, 23], 40010), ([93, 184, 216, 34], 80)).starting_at(T0);
    s.handshake()
        .client_sends(b"POST /x/etc/passwd HTTP/1.0\r\nUser-Agent: a\r\n");
    let (_, records) = run(s.packets(), URI_RULE, PipelineConfig::default());
    assert_eq!(alerts(&records, 1_000_001).len(), 1, "{records:#?}");
}
