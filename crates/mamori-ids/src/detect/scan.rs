//! Scans: a host probing many ports of one machine (`ids.port_scan`), one port on many
//! machines (`ids.host_scan`), or failing to reach the machines it contacts far more often
//! than a normal client does (`ids.scan_sequential`).
//!
//! The first two count distinct probed ports or hosts per source over a sliding window
//! (default 20 in 60 s). A probe is a flow that was refused, unanswered, half-open, or a
//! TCP handshake after which the server never had to speak (see
//! [`FlowRecord::is_probe`]); ordinary conversations never count, so a browser opening
//! twenty sites a minute is not a sweep.
//!
//! The third is Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan, "Fast Portscan
//! Detection Using Sequential Hypothesis Testing", IEEE S&P 2004). For each source, every
//! *first contact* — a connection to a host of the home net the source has not tried
//! before — is a Bernoulli trial: a benign host's first contacts succeed with probability
//! θ0 = 0.8, a scanner's with θ1 = 0.2. The likelihood ratio is multiplied by θ1/θ0 on
//! success and (1−θ1)/(1−θ0) on failure; reaching η1 = PD/PF (PD = 0.99, PF = 0.01)
//! declares a scanner, reaching η0 = (1−PD)/(1−PF) declares the source benign and restarts
//! the walk (so a worm cannot buy lasting trust with a few good connections). With the
//! standard values four more failures than successes suffice, whatever the pace — which
//! is what catches slow scans that never fill a window.
//!
//! Sources inside the home net are reported with high severity (a PC scanning its own
//! network is the sign of a worm or of ransomware looking for shares); outside sources
//! with low severity (the Internet's background noise, worth counting, not waking anyone).

use super::{
    evict_oldest, human_duration_en, human_duration_ja, is_group_address, who_en, who_ja, Dedup,
    Finding, FlowEnd, FlowRecord, HomeNet, PROTO_TCP, SECOND_US,
};
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;

/// `[ids.detect.scan]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    pub enabled: bool,
    /// Sliding window for the port and host counts.
    pub window_secs: u64,
    /// Distinct ports of one host probed within the window.
    pub port_threshold: usize,
    /// Distinct hosts probed on one port within the window.
    pub host_threshold: usize,
    /// Report the same source and target at most once per this period.
    pub realert_secs: u64,
    /// Sources (and source/target keys) tracked at once.
    pub max_tracked: usize,
    /// Ports or hosts listed in the evidence.
    pub sample: usize,
    pub trw: TrwConfig,
}

impl Default for ScanConfig {
    fn default() -> ScanConfig {
        ScanConfig {
            enabled: true,
            window_secs: 60,
            port_threshold: 20,
            host_threshold: 20,
            realert_secs: 3600,
            max_tracked: 10_000,
            sample: 20,
            trw: TrwConfig::default(),
        }
    }
}

/// `[ids.detect.scan.trw]`: the sequential hypothesis test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrwConfig {
    pub enabled: bool,
    /// Probability that a benign source's first contact succeeds.
    pub theta0: f64,
    /// Probability that a scanner's first contact succeeds.
    pub theta1: f64,
    /// Desired detection probability.
    pub detection: f64,
    /// Tolerated false-positive probability.
    pub false_positive: f64,
    /// Only TCP first contacts count (UDP "failures" are mostly silence, not refusal).
    pub tcp_only: bool,
    /// Hosts remembered per source to tell first contacts from repeats.
    pub max_hosts_per_source: usize,
}

impl Default for TrwConfig {
    fn default() -> TrwConfig {
        TrwConfig {
            enabled: true,
            theta0: 0.8,
            theta1: 0.2,
            detection: 0.99,
            false_positive: 0.01,
            tcp_only: true,
            max_hosts_per_source: 128,
        }
    }
}

/// Distinct values seen for one key, each with when it was last seen.
struct Distinct<V> {
    last: HashMap<V, u64>,
    last_seen_us: u64,
}

impl<V: Eq + Hash + Copy> Distinct<V> {
    fn new() -> Distinct<V> {
        Distinct {
            last: HashMap::new(),
            last_seen_us: 0,
        }
    }

    /// Adds `v` at `t` and returns how many distinct values the window holds. The map is
    /// pruned only when it looks big enough to matter, and never grows beyond `cap`.
    fn insert(&mut self, v: V, t: u64, window_us: u64, threshold: usize, cap: usize) -> usize {
        self.last_seen_us = self.last_seen_us.max(t);
        let now = self.last_seen_us;
        if self.last.len() + 1 >= threshold || self.last.len() >= cap {
            self.last
                .retain(|_, seen| now.saturating_sub(*seen) <= window_us);
        }
        let len = self.last.len();
        match self.last.get_mut(&v) {
            Some(seen) => *seen = (*seen).max(t),
            None if len < cap => {
                self.last.insert(v, t);
            }
            None => {}
        }
        self.last.len()
    }

    fn sample(&self, n: usize) -> Vec<V>
    where
        V: Ord,
    {
        let mut v: Vec<V> = self.last.keys().copied().collect();
        v.sort_unstable();
        v.truncate(n);
        v
    }
}

/// The random walk of one source.
struct Walk {
    log_ratio: f64,
    contacted: HashSet<IpAddr>,
    first_contacts: u64,
    failures: u64,
    failed_sample: Vec<IpAddr>,
    started_us: u64,
    last_seen_us: u64,
}

pub struct ScanDetector {
    config: ScanConfig,
    ports: HashMap<(IpAddr, IpAddr), Distinct<(u8, u16)>>,
    hosts: HashMap<(IpAddr, u8, u16), Distinct<IpAddr>>,
    walks: HashMap<IpAddr, Walk>,
    alerted: Dedup<(&'static str, IpAddr, Option<IpAddr>, u16)>,
    evicted: u64,
}

impl ScanDetector {
    pub fn new(config: ScanConfig) -> ScanDetector {
        let cap = config.max_tracked.max(1);
        ScanDetector {
            config,
            ports: HashMap::new(),
            hosts: HashMap::new(),
            walks: HashMap::new(),
            alerted: Dedup::new(cap),
            evicted: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.ports.len() + self.hosts.len() + self.walks.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn on_flow(&mut self, flow: &FlowRecord, home: &HomeNet, out: &mut Vec<Finding>) {
        if !self.config.enabled || flow.state == FlowEnd::Ongoing || is_group_address(flow.dst) {
            return;
        }
        if self.config.trw.enabled {
            self.walk(flow, home, out);
        }
        if !flow.is_probe() {
            return;
        }
        self.count_ports(flow, home, out);
        self.count_hosts(flow, home, out);
    }

    fn cap(&self) -> usize {
        self.config.max_tracked.max(1)
    }

    fn count_ports(&mut self, flow: &FlowRecord, home: &HomeNet, out: &mut Vec<Finding>) {
        let cap = self.cap();
        if !self.ports.contains_key(&(flow.src, flow.dst)) && self.ports.len() >= cap {
            self.evicted += evict_oldest(&mut self.ports, |d| d.last_seen_us);
        }
        let threshold = self.config.port_threshold.max(2);
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        let d = self
            .ports
            .entry((flow.src, flow.dst))
            .or_insert_with(Distinct::new);
        let n = d.insert(
            (flow.proto, flow.dport),
            flow.start_us,
            window,
            threshold,
            threshold.saturating_mul(4).max(64),
        );
        if n < threshold {
            return;
        }
        let sample: Vec<u16> = d
            .sample(self.config.sample)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let key = ("port", flow.src, Some(flow.dst), 0);
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        if !self.alerted.allow(key, flow.start_us, period) {
            return;
        }
        let internal = home.contains(flow.src);
        let win_en = human_duration_en(self.config.window_secs as f64);
        let win_ja = human_duration_ja(self.config.window_secs as f64);
        let advice_en = advice_en(internal);
        let advice_ja = advice_ja(internal);
        out.push(Finding {
            code: "ids.port_scan",
            severity: if internal { Severity::High } else { Severity::Low },
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: Some(flow.dst),
            dst_port: None,
            host: None,
            summary_en: format!(
                "{} probed {n} different ports of {} within {win_en} (port scan). {advice_en}",
                who_en(flow.src, home),
                flow.dst
            ),
            summary_ja: format!(
                "{} が {} の {n} 個のポートを {win_ja}以内に調べています（ポートスキャン）。{advice_ja}",
                who_ja(flow.src, home),
                flow.dst
            ),
            evidence: serde_json::json!({
                "distinct_ports": n,
                "window_s": self.config.window_secs,
                "ports_sample": sample,
                "target": flow.dst,
                "source_internal": internal,
            }),
        });
    }

    fn count_hosts(&mut self, flow: &FlowRecord, home: &HomeNet, out: &mut Vec<Finding>) {
        let cap = self.cap();
        let key = (flow.src, flow.proto, flow.dport);
        if !self.hosts.contains_key(&key) && self.hosts.len() >= cap {
            self.evicted += evict_oldest(&mut self.hosts, |d| d.last_seen_us);
        }
        let threshold = self.config.host_threshold.max(2);
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        let d = self.hosts.entry(key).or_insert_with(Distinct::new);
        let n = d.insert(
            flow.dst,
            flow.start_us,
            window,
            threshold,
            threshold.saturating_mul(4).max(64),
        );
        if n < threshold {
            return;
        }
        let sample = d.sample(self.config.sample);
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        if !self
            .alerted
            .allow(("host", flow.src, None, flow.dport), flow.start_us, period)
        {
            return;
        }
        let internal = home.contains(flow.src);
        let port_en = port_words_en(flow.proto, flow.dport);
        let port_ja = port_words_ja(flow.proto, flow.dport);
        let win_en = human_duration_en(self.config.window_secs as f64);
        let win_ja = human_duration_ja(self.config.window_secs as f64);
        out.push(Finding {
            code: "ids.host_scan",
            severity: if internal { Severity::High } else { Severity::Low },
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: None,
            dst_port: Some(flow.dport),
            host: None,
            summary_en: format!(
                "{} probed {port_en} on {n} different hosts within {win_en} (host scan). {}",
                who_en(flow.src, home),
                advice_en(internal)
            ),
            summary_ja: format!(
                "{} が {n} 台のホストの{port_ja} を {win_ja}以内に調べています（ホストスキャン）。{}",
                who_ja(flow.src, home),
                advice_ja(internal)
            ),
            evidence: serde_json::json!({
                "distinct_hosts": n,
                "port": flow.dport,
                "proto": flow.proto,
                "window_s": self.config.window_secs,
                "hosts_sample": sample,
                "source_internal": internal,
            }),
        });
    }

    fn walk(&mut self, flow: &FlowRecord, home: &HomeNet, out: &mut Vec<Finding>) {
        let trw = &self.config.trw;
        if !home.contains(flow.dst) || (trw.tcp_only && flow.proto != PROTO_TCP) {
            return;
        }
        let success = flow.state.answered();
        let (up, down, upper, lower) = walk_steps(trw);
        let max_hosts = trw.max_hosts_per_source.max(1);
        let cap = self.cap();
        if !self.walks.contains_key(&flow.src) && self.walks.len() >= cap {
            self.evicted += evict_oldest(&mut self.walks, |w| w.last_seen_us);
        }
        let w = self.walks.entry(flow.src).or_insert_with(|| Walk {
            log_ratio: 0.0,
            contacted: HashSet::new(),
            first_contacts: 0,
            failures: 0,
            failed_sample: Vec::new(),
            started_us: flow.start_us,
            last_seen_us: flow.start_us,
        });
        w.last_seen_us = w.last_seen_us.max(flow.start_us);
        if w.contacted.contains(&flow.dst) {
            return;
        }
        if w.contacted.len() >= max_hosts {
            // Forgetting makes old hosts first contacts again; they mostly succeed, which
            // only pulls the walk towards "benign".
            w.contacted.clear();
        }
        w.contacted.insert(flow.dst);
        w.first_contacts += 1;
        if success {
            w.log_ratio += down;
        } else {
            w.log_ratio += up;
            w.failures += 1;
            if w.failed_sample.len() < self.config.sample {
                w.failed_sample.push(flow.dst);
            }
        }
        if w.log_ratio <= lower {
            restart(w, flow.start_us);
            return;
        }
        if w.log_ratio < upper {
            return;
        }
        let (first_contacts, failures, sample, started) = (
            w.first_contacts,
            w.failures,
            std::mem::take(&mut w.failed_sample),
            w.started_us,
        );
        restart(w, flow.start_us);
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        if !self
            .alerted
            .allow(("trw", flow.src, None, 0), flow.start_us, period)
        {
            return;
        }
        let internal = home.contains(flow.src);
        let span = flow.start_us.saturating_sub(started) as f64 / SECOND_US as f64;
        out.push(Finding {
            code: "ids.scan_sequential",
            severity: if internal { Severity::High } else { Severity::Low },
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: None,
            dst_port: None,
            host: None,
            summary_en: format!(
                "{} failed to reach {failures} of the {first_contacts} hosts it tried for the first time \
                 over {} — far more failures than a normal client (slow scan suspected). {}",
                who_en(flow.src, home),
                human_duration_en(span),
                advice_en(internal)
            ),
            summary_ja: format!(
                "{} が初めて接続を試みた {first_contacts} 台のうち {failures} 台に接続できていません（{}間）。\
                 通常の端末より失敗が多く、時間をかけたスキャンの疑いがあります。{}",
                who_ja(flow.src, home),
                human_duration_ja(span),
                advice_ja(internal)
            ),
            evidence: serde_json::json!({
                "test": "threshold_random_walk",
                "first_contacts": first_contacts,
                "failed_first_contacts": failures,
                "failed_sample": sample,
                "since": super::rfc3339(started),
                "theta0": trw_value(self.config.trw.theta0),
                "theta1": trw_value(self.config.trw.theta1),
                "detection": self.config.trw.detection,
                "false_positive": self.config.trw.false_positive,
                "source_internal": internal,
            }),
        });
    }

    /// Forgets keys idle longer than the window (walks: a day).
    pub fn tick(&mut self, now_us: u64) {
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        self.ports
            .retain(|_, d| now_us.saturating_sub(d.last_seen_us) <= window);
        self.hosts
            .retain(|_, d| now_us.saturating_sub(d.last_seen_us) <= window);
        let day = 24 * 3600 * SECOND_US;
        self.walks
            .retain(|_, w| now_us.saturating_sub(w.last_seen_us) <= day);
        self.alerted
            .forget_older_than(now_us, self.config.realert_secs.saturating_mul(SECOND_US));
    }
}

fn trw_value(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn restart(w: &mut Walk, now_us: u64) {
    w.log_ratio = 0.0;
    w.first_contacts = 0;
    w.failures = 0;
    w.failed_sample.clear();
    w.started_us = now_us;
}

/// Log-likelihood steps (failure, success) and thresholds (upper, lower) of the walk.
fn walk_steps(c: &TrwConfig) -> (f64, f64, f64, f64) {
    let clamp = |p: f64| p.clamp(1e-6, 1.0 - 1e-6);
    let (t0, t1) = (clamp(c.theta0), clamp(c.theta1));
    let (pd, pf) = (clamp(c.detection), clamp(c.false_positive));
    let failure = ((1.0 - t1) / (1.0 - t0)).ln();
    let success = (t1 / t0).ln();
    let upper = (pd / pf).ln();
    let lower = ((1.0 - pd) / (1.0 - pf)).ln();
    (failure, success, upper, lower)
}

fn advice_en(internal: bool) -> &'static str {
    if internal {
        "A PC scanning the network is a typical sign of a worm or ransomware: disconnect it and check it."
    } else {
        "Make sure only the services you need are reachable from the Internet."
    }
}

fn advice_ja(internal: bool) -> &'static str {
    if internal {
        "社内の端末によるスキャンはワームやランサムウェアの典型的な兆候です。ネットワークから切り離して確認してください。"
    } else {
        "インターネットから接続できるサービスが必要なものだけになっているか確認してください。"
    }
}

fn port_words_en(proto: u8, port: u16) -> String {
    match proto {
        1 => "ping".to_string(),
        17 => format!("UDP port {port}"),
        _ => format!("port {port}"),
    }
}

fn port_words_ja(proto: u8, port: u16) -> String {
    match proto {
        1 => "ping 応答".to_string(),
        17 => format!("UDP ポート {port}"),
        _ => format!("ポート {port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn many_ports_of_one_host_is_a_port_scan() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for port in 1..=100u16 {
            let f = flow(
                "192.168.1.66",
                "192.168.1.10",
                port,
                1000,
                FlowEnd::Rejected,
            );
            d.on_flow(&f, &home, &mut out);
        }
        let ports: Vec<_> = out.iter().filter(|f| f.code == "ids.port_scan").collect();
        assert_eq!(ports.len(), 1, "{out:#?}");
        assert_eq!(ports[0].severity, Severity::High);
        assert_eq!(ports[0].evidence["distinct_ports"], 20);
        assert!(ports[0].summary_ja.contains("ポートスキャン"));
    }

    #[test]
    fn ports_spread_beyond_the_window_are_not_a_port_scan() {
        let config = ScanConfig {
            trw: TrwConfig {
                enabled: false,
                ..TrwConfig::default()
            },
            ..ScanConfig::default()
        };
        let mut d = ScanDetector::new(config);
        let home = HomeNet::default();
        let mut out = Vec::new();
        for port in 1..=100u16 {
            let f = flow(
                "203.0.113.9",
                "192.168.1.10",
                port,
                u64::from(port) * 10,
                FlowEnd::Unanswered,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn one_port_on_many_hosts_is_a_host_scan() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for h in 1..=60u16 {
            let f = flow(
                "203.0.113.9",
                &format!("198.51.100.{h}"),
                3389,
                1000,
                FlowEnd::Unanswered,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].code, "ids.host_scan");
        assert_eq!(out[0].severity, Severity::Low);
        assert_eq!(out[0].dst_port, Some(3389));
    }

    #[test]
    fn browsing_many_sites_is_not_a_host_scan() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for h in 1..=200u16 {
            let f = flow(
                "192.168.1.20",
                &format!("198.51.{}.{}", h / 100, h % 100),
                443,
                1000,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn sequential_test_needs_four_net_failures_with_standard_values() {
        let (fail, ok, upper, lower) = walk_steps(&TrwConfig::default());
        assert!((fail - 4f64.ln()).abs() < 1e-9);
        assert!((ok + 4f64.ln()).abs() < 1e-9);
        assert!(3.0 * fail < upper && 4.0 * fail >= upper);
        assert!(4.0 * ok <= lower);
    }

    #[test]
    fn slow_failed_first_contacts_trip_the_sequential_test() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        // One probe every five minutes: never more than one per window.
        for h in 1..=6u64 {
            let f = flow(
                "192.168.1.66",
                &format!("192.168.5.{h}"),
                445,
                h * 300,
                FlowEnd::Unanswered,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].code, "ids.scan_sequential");
        assert_eq!(out[0].evidence["failed_first_contacts"], 4);
    }

    #[test]
    fn a_client_that_mostly_succeeds_is_benign() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for h in 1..=200u64 {
            // One failure in five: the benign hypothesis.
            let state = if h % 5 == 0 {
                FlowEnd::Rejected
            } else {
                FlowEnd::Established
            };
            let f = flow(
                "192.168.1.20",
                &format!("10.0.{}.{}", h / 200, h % 200),
                80,
                h * 30,
                state,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn repeated_failures_to_the_same_host_are_not_first_contacts() {
        let mut d = ScanDetector::new(ScanConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..50u64 {
            let f = flow(
                "192.168.1.20",
                "192.168.1.99",
                445,
                i * 120,
                FlowEnd::Unanswered,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn tracked_keys_are_bounded() {
        let config = ScanConfig {
            max_tracked: 50,
            ..ScanConfig::default()
        };
        let mut d = ScanDetector::new(config);
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..2000u64 {
            let src = format!("203.0.{}.{}", i / 250, i % 250);
            let f = flow(&src, "192.168.1.10", 22, i, FlowEnd::Established);
            d.on_flow(&f, &home, &mut out);
        }
        assert!(d.tracked() <= 150);
        assert!(d.evicted() > 0);
    }
}
