//! End-to-end scenarios for the behavioural detectors: generated traffic in, findings out,
//! through the same `Detectors` API the IDS pipeline uses.

use mamori_core::Severity;
use mamori_ids::detect::{
    BlocklistConfig, DetectConfig, Detectors, Finding, FlowEnd, FlowRecord, PROTO_TCP,
};
use std::net::IpAddr;
use std::path::PathBuf;

const S: u64 = 1_000_000;
/// 2023-11-15 00:00:00 UTC, a Wednesday.
const T0: u64 = 1_700_006_400;
const MB: u64 = 1_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A small deterministic generator: the scenarios need variety, not crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Exponentially distributed with the given mean, as human activity roughly is.
    fn exp(&mut self, mean: f64) -> f64 {
        let u = (self.below(1_000_000) + 1) as f64 / 1_000_001.0;
        -u.ln() * mean
    }
}

struct Net {
    detectors: Detectors,
    findings: Vec<Finding>,
    next_id: u64,
}

impl Net {
    fn new(config: DetectConfig) -> Net {
        Net {
            detectors: Detectors::new(&config).expect("detectors"),
            findings: Vec::new(),
            next_id: 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn flow(
        &mut self,
        src: &str,
        dst: &str,
        dport: u16,
        start_s: f64,
        secs: f64,
        up: u64,
        state: FlowEnd,
        name: Option<&str>,
    ) {
        self.next_id += 1;
        let answered = matches!(state, FlowEnd::Established | FlowEnd::Ongoing);
        let start_us = (start_s * S as f64) as u64;
        let f = FlowRecord {
            flow_id: self.next_id,
            start_us,
            end_us: start_us + (secs * S as f64) as u64,
            proto: PROTO_TCP,
            src: ip(src),
            sport: 40000 + (self.next_id % 20000) as u16,
            dst: ip(dst),
            dport,
            pkts_to_server: 3 + up / 1400,
            bytes_to_server: up,
            pkts_to_client: if answered { 6 } else { 0 },
            bytes_to_client: if answered { 4000 } else { 0 },
            state,
            server_name: name.map(str::to_string),
        };
        self.detectors.on_flow(&f, &mut self.findings);
    }

    fn codes(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.code).collect()
    }

    fn with_code(&self, code: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.code == code).collect()
    }
}

struct Event {
    t: f64,
    src: String,
    dst: String,
    up: u64,
    name: Option<String>,
}

#[test]
fn a_beaconing_pc_among_browsing_colleagues_is_the_only_one_reported() {
    let mut rng = Rng(2024);
    let mut events = Vec::new();
    // The infected PC: every 60 s ± 3 s, the same small request, all day.
    let mut t = T0 as f64;
    while t < (T0 + 86_400) as f64 {
        events.push(Event {
            t: t + rng.below(6000) as f64 / 1000.0 - 3.0,
            src: "192.168.1.23".into(),
            dst: "203.0.113.5".into(),
            up: 310,
            name: Some("c2.example".into()),
        });
        t += 60.0;
    }
    // Ten colleagues browsing thirty sites at random moments with random sizes.
    for h in 0..10 {
        let mut t = T0 as f64;
        loop {
            t += rng.exp(40.0) + 0.5;
            if t >= (T0 + 86_400) as f64 {
                break;
            }
            let site = rng.below(30);
            events.push(Event {
                t,
                src: format!("192.168.1.{}", 100 + h),
                dst: format!("198.51.100.{}", site + 1),
                up: 200 + rng.below(60_000),
                name: Some(format!("site{site}.example")),
            });
        }
    }
    events.sort_by(|a, b| a.t.total_cmp(&b.t));

    let mut net = Net::new(DetectConfig::default());
    let mut next_tick = T0 as f64;
    for e in &events {
        if e.t >= next_tick {
            net.detectors
                .tick((next_tick * S as f64) as u64, &mut net.findings);
            next_tick += 300.0;
        }
        let secs = 0.2 + (e.up as f64 / 1e6);
        net.flow(
            &e.src,
            &e.dst,
            443,
            e.t,
            secs,
            e.up,
            FlowEnd::Established,
            e.name.as_deref(),
        );
    }

    assert!(events.len() > 10_000, "a realistic day: {}", events.len());
    assert_eq!(net.codes(), vec!["ids.beacon"], "{:#?}", net.findings);
    let f = &net.findings[0];
    assert_eq!(f.src, ip("192.168.1.23"));
    assert_eq!(f.dst, Some(ip("203.0.113.5")));
    assert_eq!(f.host.as_deref(), Some("c2.example"));
    assert!(f.severity >= Severity::Medium);
    assert!(
        f.summary_ja
            .starts_with("社内の 192.168.1.23 が 203.0.113.5 (c2.example) に約 60 秒ごと"),
        "{}",
        f.summary_ja
    );
    let interval = f.evidence["median_interval_s"].as_f64().unwrap_or(0.0);
    assert!((57.0..=63.0).contains(&interval), "{interval}");
    // Found within the first hour, not at the end of the day.
    assert!(f.time_us < (T0 + 3600) * S, "{}", f.time_us);

    let alert = f.to_alert();
    assert!(alert.validate().is_ok());
    assert_eq!(alert.category.as_deref(), Some("command-and-control"));
    assert_eq!(
        alert.asset().map(|a| a.key()).as_deref(),
        Some("host:192.168.1.23")
    );
    let stats = net.detectors.stats();
    assert_eq!(stats.flows, events.len() as u64);
    assert_eq!(stats.findings, 1);
}

#[test]
fn a_port_scan_from_the_internet_and_from_inside() {
    let mut net = Net::new(DetectConfig::default());
    for port in 1..=1000u16 {
        let t = (T0 as f64) + f64::from(port) * 0.01;
        net.flow(
            "203.0.113.66",
            "192.168.1.10",
            port,
            t,
            3.0,
            0,
            FlowEnd::Unanswered,
            None,
        );
    }
    let scans = net.with_code("ids.port_scan");
    assert_eq!(scans.len(), 1, "{:#?}", net.findings);
    assert_eq!(scans[0].severity, Severity::Low);
    assert_eq!(scans[0].src, ip("203.0.113.66"));
    assert_eq!(scans[0].dst, Some(ip("192.168.1.10")));

    for port in 1..=100u16 {
        let t = (T0 + 100) as f64 + f64::from(port) * 0.01;
        net.flow(
            "192.168.1.66",
            "192.168.1.20",
            port,
            t,
            0.01,
            0,
            FlowEnd::Rejected,
            None,
        );
    }
    let scans = net.with_code("ids.port_scan");
    assert_eq!(scans.len(), 2);
    assert_eq!(scans[1].severity, Severity::High);
    assert!(scans[1].summary_ja.contains("ランサムウェア"));
}

#[test]
fn a_slow_internal_scan_below_the_window_is_caught_by_the_sequential_test() {
    let mut net = Net::new(DetectConfig::default());
    let mut t = T0 as f64;
    // Ordinary work first: the PC reaches its file server and printer.
    for dst in ["192.168.1.2", "192.168.1.3"] {
        net.flow(
            "192.168.1.66",
            dst,
            445,
            t,
            30.0,
            5000,
            FlowEnd::Established,
            None,
        );
        t += 60.0;
    }
    // Then one SMB probe every three minutes to addresses that never answer, with the
    // odd successful one in between.
    for i in 0..30u32 {
        let dst = format!("192.168.5.{}", i + 1);
        let state = if i % 5 == 4 {
            FlowEnd::Established
        } else {
            FlowEnd::Unanswered
        };
        net.flow("192.168.1.66", &dst, 445, t, 3.0, 0, state, None);
        t += 180.0;
    }
    assert!(
        net.with_code("ids.host_scan").is_empty(),
        "never 20 hosts a minute"
    );
    let seq = net.with_code("ids.scan_sequential");
    assert!(!seq.is_empty(), "{:#?}", net.findings);
    // Caught within the first half hour (ten probes), then reminded at most hourly while
    // the scan goes on.
    assert!(seq[0].time_us < (T0 + 1800) * S, "{}", seq[0].time_us);
    for pair in seq.windows(2) {
        assert!(pair[1].time_us - pair[0].time_us >= 3600 * S);
    }
    assert_eq!(seq[0].src, ip("192.168.1.66"));
    assert_eq!(seq[0].severity, Severity::High);
    assert!(seq[0].evidence["failed_first_contacts"].as_u64() >= Some(4));
}

#[test]
fn rdp_brute_force_from_the_internet() {
    let mut net = Net::new(DetectConfig::default());
    for i in 0..500u64 {
        let t = (T0 + i * 2) as f64;
        net.flow(
            "198.51.100.77",
            "192.168.1.10",
            3389,
            t,
            1.2,
            2500,
            FlowEnd::Established,
            None,
        );
    }
    assert_eq!(net.codes(), vec!["ids.brute_force"], "{:#?}", net.findings);
    let f = &net.findings[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.dst_port, Some(3389));
    assert!(f.summary_en.contains("RDP"), "{}", f.summary_en);
    assert_eq!(f.to_alert().category.as_deref(), Some("credential-access"));
}

#[test]
fn a_large_upload_to_a_new_destination_but_not_to_the_usual_one() {
    let mut net = Net::new(DetectConfig::default());
    // Two weeks of normal days: .30 browses; .31 backs up 200 MB every night to its
    // usual cloud storage.
    for day in 0..14u64 {
        let base = T0 + day * 86_400;
        for k in 0..20u64 {
            net.flow(
                "192.168.1.30",
                &format!("198.51.100.{}", k % 5 + 1),
                443,
                (base + 9 * 3600 + k * 1200) as f64,
                2.0,
                50_000,
                FlowEnd::Established,
                Some("intranet-saas.example"),
            );
        }
        net.flow(
            "192.168.1.31",
            "198.51.100.200",
            443,
            (base + 2 * 3600) as f64,
            900.0,
            200 * MB,
            FlowEnd::Established,
            Some("backup.example"),
        );
    }
    assert!(net.findings.is_empty(), "{:#?}", net.findings);

    let day15 = T0 + 14 * 86_400;
    net.flow(
        "192.168.1.30",
        "203.0.113.250",
        443,
        (day15 + 3 * 3600) as f64,
        900.0,
        200 * MB,
        FlowEnd::Established,
        Some("transfer.example"),
    );
    net.flow(
        "192.168.1.31",
        "198.51.100.200",
        443,
        (day15 + 2 * 3600) as f64,
        900.0,
        200 * MB,
        FlowEnd::Established,
        Some("backup.example"),
    );
    let exfil = net.with_code("ids.exfiltration");
    assert_eq!(exfil.len(), 1, "{:#?}", net.findings);
    let f = exfil[0];
    assert_eq!(f.src, ip("192.168.1.30"));
    assert_eq!(f.dst, Some(ip("203.0.113.250")));
    assert_eq!(f.evidence["bytes"], 200 * MB);
    assert!(f.summary_ja.contains("200 MB"), "{}", f.summary_ja);
    assert!(f.summary_ja.contains("transfer.example"));
    assert_eq!(f.to_alert().category.as_deref(), Some("exfiltration"));
}

/// A directory of its own per test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("mamori-detect-{tag}-{}-{}", std::process::id(), T0));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write list");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn blocklist_config(dir: &TempDir) -> DetectConfig {
    let ips = dir.write(
        "bad-ips.txt",
        "# threat feed\n203.0.113.7\n198.51.100.0/24 ; SBL 42\n2001:db8:bad::/48\n",
    );
    let domains = dir.write("bad-domains.txt", "evil.example\n*.phish.test\n");
    DetectConfig {
        blocklist: BlocklistConfig {
            ip_files: vec![ips],
            domain_files: vec![domains],
            ..BlocklistConfig::default()
        },
        ..DetectConfig::default()
    }
}

#[test]
fn blocklist_hits_for_address_range_and_subdomain() {
    let dir = TempDir::new("hits");
    let mut net = Net::new(blocklist_config(&dir));
    let t = T0 as f64;
    net.flow(
        "192.168.1.5",
        "203.0.113.7",
        443,
        t,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    net.flow(
        "192.168.1.5",
        "198.51.100.44",
        8080,
        t + 1.0,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    net.flow(
        "192.168.1.5",
        "203.0.113.8",
        443,
        t + 2.0,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    let ip_hits = net.with_code("ids.blocklist_ip");
    assert_eq!(ip_hits.len(), 2, "{:#?}", net.findings);
    assert!(ip_hits[1].evidence["entry"]
        .as_str()
        .is_some_and(|e| e.contains("198.51.100.0/24 (bad-ips.txt:3)")));

    let mut out = Vec::new();
    let client = ip("192.168.1.5");
    net.detectors
        .on_dns((T0 + 3) * S, client, "cdn.a.evil.example", &mut out);
    net.detectors
        .on_dns((T0 + 4) * S, client, "notevil.example", &mut out);
    net.detectors.on_name(
        (T0 + 5) * S,
        ip("192.168.1.6"),
        ip("192.0.2.1"),
        "login.phish.test",
        &mut out,
    );
    let v6 = FlowRecord {
        flow_id: 99,
        start_us: (T0 + 6) * S,
        end_us: (T0 + 7) * S,
        proto: PROTO_TCP,
        src: ip("fd00::5"),
        sport: 40000,
        dst: ip("2001:db8:bad:1::1"),
        dport: 443,
        pkts_to_server: 3,
        bytes_to_server: 300,
        pkts_to_client: 3,
        bytes_to_client: 300,
        state: FlowEnd::Established,
        server_name: None,
    };
    net.detectors.on_flow(&v6, &mut out);
    let codes: Vec<_> = out.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        vec![
            "ids.blocklist_domain",
            "ids.blocklist_domain",
            "ids.blocklist_ip"
        ],
        "{out:#?}"
    );
    assert_eq!(out[0].evidence["listed"], "evil.example");
    assert_eq!(out[1].severity, Severity::High);
}

#[test]
fn a_broken_reload_keeps_the_old_list_and_a_good_one_replaces_it() {
    let dir = TempDir::new("reload");
    let config = blocklist_config(&dir);
    let mut net = Net::new(config);
    dir.write("bad-ips.txt", "203.0.113.9\nthis is not an address\n");
    let errors = net.detectors.reload_blocklists().expect_err("broken file");
    assert_eq!(errors.len(), 1);
    let msg = errors[0].to_string();
    assert!(msg.contains("bad-ips.txt:2"), "{msg}");

    // The old list still works; the half-written new one is not used.
    net.flow(
        "192.168.1.5",
        "203.0.113.7",
        443,
        T0 as f64,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    net.flow(
        "192.168.1.5",
        "203.0.113.9",
        443,
        T0 as f64,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    assert_eq!(net.with_code("ids.blocklist_ip").len(), 1);
    assert_eq!(net.findings[0].dst, Some(ip("203.0.113.7")));

    dir.write("bad-ips.txt", "203.0.113.9\n");
    net.detectors.reload_blocklists().expect("good file");
    net.flow(
        "192.168.1.6",
        "203.0.113.7",
        443,
        (T0 + 10) as f64,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    net.flow(
        "192.168.1.6",
        "203.0.113.9",
        443,
        (T0 + 10) as f64,
        1.0,
        500,
        FlowEnd::Established,
        None,
    );
    let hits = net.with_code("ids.blocklist_ip");
    assert_eq!(hits.len(), 2, "{:#?}", net.findings);
    assert_eq!(hits[1].dst, Some(ip("203.0.113.9")));
    assert_eq!(net.detectors.stats().blocklist_ip_entries, 1);
}
