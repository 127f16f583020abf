//! Beaconing (`ids.beacon`): an internal host calling the same outside server at a steady
//! rhythm with requests of the same size, the way malware checks in with its command server.
//!
//! The score follows RITA's (Active Countermeasures) classic beacon analysis, re-expressed:
//! for each pair (internal source → outside address) and (internal source → server name,
//! for C2 behind rotating CDN addresses) the detector keeps the start time and the bytes
//! sent of the last connections, then scores
//!
//! - **timing**, the mean of three parts: symmetry of the intervals between connections
//!   (1 − |Bowley skewness|, treated as symmetric when the interquartile range is under
//!   10 s, which is only clock noise), their dispersion (1 − median absolute deviation /
//!   `jitter_secs`, 0 beyond it), and how densely the pair connected over the observation
//!   window (connections / (window / `count_divisor_secs`), at most 1);
//! - **size**, the mean of symmetry of the bytes sent, their dispersion (1 − MAD /
//!   `size_jitter_bytes`) and smallness (1 − most common size / 65,535);
//!
//! and the beacon score is the mean of all six parts, 0 to 1. A pair is reported when the
//! score reaches `threshold` with at least `min_connections` connections spread over at
//! least `min_span_secs`, once per `realert_secs`.
//!
//! What it does not do: RITA's newer histogram and duration scores (they need a whole day
//! of data at once); long-lived single connections (one flow, no rhythm) are not beacons
//! here. Time synchronisation (UDP 123) is ignored by default because it is a perfect,
//! harmless beacon.

use super::{
    describe_peer, evict_oldest, human_duration_en, human_duration_ja, is_group_address,
    normalize_name, rfc3339, thousands, Dedup, Finding, FlowEnd, FlowRecord, HomeNet, SECOND_US,
};
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// `[ids.detect.beacon]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconConfig {
    pub enabled: bool,
    /// Score (0–1) at which a pair is reported.
    pub threshold: f64,
    /// Fewer connections than this are never scored.
    pub min_connections: usize,
    /// The connections must spread over at least this long.
    pub min_span_secs: u64,
    /// The observation window: connections older than this are forgotten.
    pub window_secs: u64,
    /// Connections kept per pair (the most recent ones).
    pub max_history: usize,
    /// Pairs tracked at once; the least recently seen are evicted beyond this.
    pub max_pairs: usize,
    /// Interval dispersion at which the dispersion part of the score reaches 0.
    pub jitter_secs: f64,
    /// Size dispersion at which the size dispersion part reaches 0.
    pub size_jitter_bytes: f64,
    /// One connection per this many seconds over the window gives a full count score.
    pub count_divisor_secs: f64,
    /// Score a pair again after this many new connections.
    pub rescore_every: u32,
    /// Report the same pair at most once per this period.
    pub realert_secs: u64,
    /// Destination ports never treated as beacons (NTP by default).
    pub ignore_ports: Vec<u16>,
    /// Server names (and their subdomains) never treated as beacons, e.g. update services.
    pub ignore_names: Vec<String>,
}

impl Default for BeaconConfig {
    fn default() -> BeaconConfig {
        BeaconConfig {
            enabled: true,
            threshold: 0.8,
            min_connections: 20,
            min_span_secs: 600,
            window_secs: 24 * 3600,
            max_history: 300,
            max_pairs: 10_000,
            jitter_secs: 30.0,
            size_jitter_bytes: 32.0,
            count_divisor_secs: 90.0,
            rescore_every: 10,
            realert_secs: 24 * 3600,
            ignore_ports: vec![123],
            ignore_names: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PairKey {
    Ip(IpAddr, IpAddr),
    Name(IpAddr, Box<str>),
}

/// One connection: start in Unix seconds and bytes sent, eight bytes in all.
#[derive(Debug, Clone, Copy)]
struct Conn {
    t: u32,
    bytes: u32,
}

struct Pair {
    conns: VecDeque<Conn>,
    total: u64,
    first_seen_us: u64,
    last_seen_us: u64,
    pending: u32,
    dst: IpAddr,
    dport: u16,
    name: Option<Box<str>>,
}

/// The parts of a beacon score, kept for the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BeaconScore {
    pub score: f64,
    pub ts_score: f64,
    pub ds_score: f64,
    pub ts_skew: f64,
    pub ts_mad_secs: f64,
    pub count_score: f64,
    pub median_interval_secs: f64,
    pub ds_skew: f64,
    pub ds_mad_bytes: f64,
    pub median_bytes: f64,
    pub mode_bytes: u32,
    pub connections: usize,
}

pub struct BeaconDetector {
    config: BeaconConfig,
    pairs: HashMap<PairKey, Pair>,
    alerted: Dedup<PairKey>,
    observed_since_us: Option<u64>,
    evicted: u64,
}

impl BeaconDetector {
    pub fn new(config: BeaconConfig) -> BeaconDetector {
        let cap = config.max_pairs.max(1);
        BeaconDetector {
            config,
            pairs: HashMap::new(),
            alerted: Dedup::new(cap),
            observed_since_us: None,
            evicted: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.pairs.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records one finished connection; reports the pair when it now scores as a beacon.
    /// `name` is the flow's server name, or the one last seen for that server.
    pub fn on_flow(
        &mut self,
        flow: &FlowRecord,
        name: Option<&str>,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        if !self.config.enabled || flow.state == FlowEnd::Ongoing {
            return;
        }
        let since = self.observed_since_us.get_or_insert(flow.start_us);
        *since = (*since).min(flow.start_us);
        if !home.contains(flow.src)
            || home.contains(flow.dst)
            || is_group_address(flow.dst)
            || self.config.ignore_ports.contains(&flow.dport)
        {
            return;
        }
        let name = name.map(normalize_name).filter(|n| !n.is_empty());
        if let Some(n) = &name {
            if self
                .config
                .ignore_names
                .iter()
                .any(|i| super::blocklist::is_same_or_subdomain(n, i))
            {
                return;
            }
        }
        let conn = Conn {
            t: u32::try_from(flow.start_us / SECOND_US).unwrap_or(u32::MAX),
            bytes: u32::try_from(flow.bytes_to_server).unwrap_or(u32::MAX),
        };
        let ip_key = PairKey::Ip(flow.src, flow.dst);
        let name_key = name.as_deref().map(|n| PairKey::Name(flow.src, n.into()));
        for key in [Some(ip_key.clone()), name_key.clone()]
            .into_iter()
            .flatten()
        {
            let Some(score) = self.record(key.clone(), flow, name.as_deref(), conn) else {
                continue;
            };
            // One story per connection: the address and the name of the same beacon
            // are not reported twice.
            let period = self.config.realert_secs.saturating_mul(SECOND_US);
            let other = match &key {
                PairKey::Ip(..) => name_key.as_ref(),
                PairKey::Name(..) => Some(&ip_key),
            };
            if other.is_some_and(|o| self.alerted.recently(o, flow.start_us, period)) {
                continue;
            }
            if !self.alerted.allow(key.clone(), flow.start_us, period) {
                continue;
            }
            if let Some(pair) = self.pairs.get(&key) {
                out.push(self.finding(flow, &key, pair, &score));
            }
        }
    }

    /// Adds the connection to the pair and scores it when due.
    fn record(
        &mut self,
        key: PairKey,
        flow: &FlowRecord,
        name: Option<&str>,
        conn: Conn,
    ) -> Option<BeaconScore> {
        if !self.pairs.contains_key(&key) && self.pairs.len() >= self.config.max_pairs.max(1) {
            self.evicted += evict_oldest(&mut self.pairs, |p| p.last_seen_us);
        }
        let max_history = self.config.max_history.max(4);
        let window = self.config.window_secs;
        let pair = self.pairs.entry(key).or_insert_with(|| Pair {
            conns: VecDeque::new(),
            total: 0,
            first_seen_us: flow.start_us,
            last_seen_us: flow.start_us,
            pending: 0,
            dst: flow.dst,
            dport: flow.dport,
            name: None,
        });
        if pair.conns.len() >= max_history {
            pair.conns.pop_front();
        }
        pair.conns.push_back(conn);
        pair.total += 1;
        pair.pending = pair.pending.saturating_add(1);
        pair.first_seen_us = pair.first_seen_us.min(flow.start_us);
        pair.last_seen_us = pair.last_seen_us.max(flow.start_us);
        pair.dst = flow.dst;
        pair.dport = flow.dport;
        if let Some(n) = name {
            if pair.name.as_deref() != Some(n) {
                pair.name = Some(n.into());
            }
        }
        let now_s = pair.last_seen_us / SECOND_US;
        let oldest = now_s.saturating_sub(window);
        while pair.conns.front().is_some_and(|c| u64::from(c.t) < oldest) {
            pair.conns.pop_front();
        }
        if pair.conns.len() < self.config.min_connections.max(4)
            || pair.pending < self.config.rescore_every.max(1)
        {
            return None;
        }
        pair.pending = 0;
        let observed = now_s.saturating_sub(self.observed_since_us.unwrap_or(0) / SECOND_US);
        let full = pair.conns.len() >= max_history;
        let score = score_pair(&pair.conns, observed.min(window), full, &self.config)?;
        (score.score >= self.config.threshold).then_some(score)
    }

    fn finding(
        &self,
        flow: &FlowRecord,
        key: &PairKey,
        pair: &Pair,
        score: &BeaconScore,
    ) -> Finding {
        let name = pair.name.as_deref();
        let peer = describe_peer(pair.dst, name);
        let every_en = human_duration_en(score.median_interval_secs);
        let every_ja = human_duration_ja(score.median_interval_secs);
        let count = thousands(pair.total);
        let severity = if score.score >= 0.9 {
            Severity::High
        } else {
            Severity::Medium
        };
        let summary_en = format!(
            "Internal host {src} has connected to {peer} about every {every_en}, {count} times \
             (suspected beaconing to a command server). Check this PC for malware and consider \
             blocking the destination.",
            src = flow.src
        );
        let summary_ja = format!(
            "社内の {src} が {peer} に約 {every_ja}ごと、{count} 回接続しています（ビーコン通信の疑い）。\
             この PC のマルウェア感染を確認し、接続先の遮断を検討してください。",
            src = flow.src
        );
        let sizes: Vec<u32> = pair.conns.iter().rev().take(10).map(|c| c.bytes).collect();
        Finding {
            code: "ids.beacon",
            severity,
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: Some(pair.dst),
            dst_port: Some(pair.dport),
            host: name.map(str::to_string),
            summary_en,
            summary_ja,
            evidence: serde_json::json!({
                "grouped_by": match key { PairKey::Ip(..) => "address", PairKey::Name(..) => "server_name" },
                "dst": pair.dst,
                "dst_port": pair.dport,
                "server_name": name,
                "connections": pair.total,
                "connections_scored": score.connections,
                "median_interval_s": round2(score.median_interval_secs),
                "jitter_s": round2(score.ts_mad_secs),
                "median_bytes": score.median_bytes,
                "mode_bytes": score.mode_bytes,
                "bytes_jitter": round2(score.ds_mad_bytes),
                "recent_sizes": sizes,
                "interval": every_en,
                "first_seen": rfc3339(pair.first_seen_us),
                "last_seen": rfc3339(pair.last_seen_us),
                "score": round3(score.score),
                "ts_score": round3(score.ts_score),
                "ds_score": round3(score.ds_score),
                "ts_skew": round3(score.ts_skew),
                "ds_skew": round3(score.ds_skew),
                "count_score": round3(score.count_score),
                "window_s": self.config.window_secs,
            }),
        }
    }

    /// Forgets pairs idle for longer than the window.
    pub fn tick(&mut self, now_us: u64) {
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        self.pairs
            .retain(|_, p| now_us.saturating_sub(p.last_seen_us) <= window);
        self.alerted
            .forget_older_than(now_us, self.config.realert_secs.saturating_mul(SECOND_US));
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Scores a pair's connections. `observed_secs` is how long the detector has been watching
/// (at most the window); `full` says the history is capped, so density is measured over
/// the span the kept connections cover instead. `None` with fewer than three distinct
/// intervals, or when the connections span less than `min_span_secs`.
fn score_pair(
    conns: &VecDeque<Conn>,
    observed_secs: u64,
    full: bool,
    config: &BeaconConfig,
) -> Option<BeaconScore> {
    let mut times: Vec<f64> = conns.iter().map(|c| f64::from(c.t)).collect();
    times.sort_by(f64::total_cmp);
    let first = *times.first()?;
    let last = *times.last()?;
    let span = last - first;
    if span < config.min_span_secs as f64 {
        return None;
    }
    // Intervals between distinct start times, as RITA does: parallel connections opened
    // in the same second are one check-in.
    let mut intervals: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .collect();
    if intervals.len() < 3 {
        return None;
    }
    intervals.sort_by(f64::total_cmp);
    let (ts_skew, ts_median, ts_mad) = robust_shape(&intervals);
    let ts_skew_score = 1.0 - ts_skew.abs();
    let ts_mad_score = (1.0 - ts_mad / config.jitter_secs.max(1e-9)).max(0.0);
    let density_span = if full {
        span
    } else {
        (observed_secs as f64).max(span)
    };
    let expected = (density_span / config.count_divisor_secs.max(1e-9)).max(1.0);
    let count_score = (conns.len() as f64 / expected).min(1.0);
    let ts_sum = ts_skew_score + ts_mad_score + count_score;

    let mut sizes: Vec<f64> = conns.iter().map(|c| f64::from(c.bytes)).collect();
    sizes.sort_by(f64::total_cmp);
    let (ds_skew, ds_median, ds_mad) = robust_shape(&sizes);
    let ds_skew_score = 1.0 - ds_skew.abs();
    let ds_mad_score = (1.0 - ds_mad / config.size_jitter_bytes.max(1e-9)).max(0.0);
    let mode = mode_of(conns.iter().map(|c| c.bytes));
    let smallness = (1.0 - f64::from(mode) / 65535.0).max(0.0);
    let ds_sum = ds_skew_score + ds_mad_score + smallness;

    Some(BeaconScore {
        score: ((ts_sum + ds_sum) / 6.0).clamp(0.0, 1.0),
        ts_score: ts_sum / 3.0,
        ds_score: ds_sum / 3.0,
        ts_skew,
        ts_mad_secs: ts_mad,
        count_score,
        median_interval_secs: ts_median,
        ds_skew,
        ds_mad_bytes: ds_mad,
        median_bytes: ds_median,
        mode_bytes: mode,
        connections: conns.len(),
    })
}

/// Bowley skewness, median and median absolute deviation of sorted, non-empty values.
/// Skewness is taken as 0 when the interquartile range is under 10 units or the median
/// sits on a quartile: the quotient is then noise.
fn robust_shape(sorted: &[f64]) -> (f64, f64, f64) {
    let q1 = quantile(sorted, 0.25);
    let q2 = quantile(sorted, 0.5);
    let q3 = quantile(sorted, 0.75);
    let iqr = q3 - q1;
    let skew = if iqr >= 10.0 && q2 != q1 && q2 != q3 {
        ((q1 + q3 - 2.0 * q2) / iqr).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - q2).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    (skew, q2, quantile(&deviations, 0.5))
}

/// Linear-interpolation quantile of sorted values; 0 for an empty slice.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (Some(a), Some(b)) = (sorted.get(lo), sorted.get(hi)) else {
        return 0.0;
    };
    a + (b - a) * (pos - lo as f64)
}

/// The most common value (the smallest on a tie).
fn mode_of(values: impl Iterator<Item = u32>) -> u32 {
    let mut v: Vec<u32> = values.collect();
    v.sort_unstable();
    let (mut best, mut best_n) = (0, 0);
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        if j - i > best_n {
            best_n = j - i;
            best = v[i];
        }
        i = j;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// A tiny deterministic generator so tests need no crates.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    fn conn_flow(src: &str, dst: &str, t_us: u64, bytes: u64) -> FlowRecord {
        let mut f = flow(src, dst, 443, 0, FlowEnd::Established);
        f.start_us = t_us;
        f.end_us = t_us + 300_000;
        f.bytes_to_server = bytes;
        f
    }

    const T0: u64 = 1_700_000_000 * SECOND_US;

    #[test]
    fn steady_sixty_second_calls_are_a_beacon() {
        let mut d = BeaconDetector::new(BeaconConfig::default());
        let home = HomeNet::default();
        let mut rng = Lcg(7);
        let mut out = Vec::new();
        for i in 0..120u64 {
            let jitter = rng.next() % 4_000_000;
            let f = conn_flow(
                "192.168.1.23",
                "203.0.113.5",
                T0 + i * 60 * SECOND_US + jitter,
                310,
            );
            d.on_flow(&f, Some("c2.example"), &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!(f.code, "ids.beacon");
        assert_eq!(f.dst, Some(ip("203.0.113.5")));
        assert_eq!(f.host.as_deref(), Some("c2.example"));
        let interval = f.evidence["median_interval_s"].as_f64().unwrap_or(0.0);
        assert!((55.0..65.0).contains(&interval), "{interval}");
        assert!(
            f.summary_ja
                .contains("社内の 192.168.1.23 が 203.0.113.5 (c2.example) に約 60 秒ごと"),
            "{}",
            f.summary_ja
        );
        assert!(
            f.summary_en.contains("about every 60 s"),
            "{}",
            f.summary_en
        );
    }

    #[test]
    fn random_browsing_is_not_a_beacon() {
        let mut d = BeaconDetector::new(BeaconConfig::default());
        let home = HomeNet::default();
        let mut rng = Lcg(42);
        let mut out = Vec::new();
        let mut t = T0;
        for _ in 0..400 {
            // Exponential-ish gaps around five minutes, sizes from 300 B to 40 KB.
            let u = (rng.next() % 10_000 + 1) as f64 / 10_000.0;
            t += (-u.ln() * 300.0 * SECOND_US as f64) as u64 + SECOND_US;
            let bytes = 300 + rng.next() % 40_000;
            d.on_flow(
                &conn_flow("192.168.1.50", "198.51.100.9", t, bytes),
                None,
                &home,
                &mut out,
            );
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn outbound_only_from_inside_to_outside() {
        let mut d = BeaconDetector::new(BeaconConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..100u64 {
            let t = T0 + i * 60 * SECOND_US;
            d.on_flow(
                &conn_flow("192.168.1.23", "192.168.1.1", t, 100),
                None,
                &home,
                &mut out,
            );
            d.on_flow(
                &conn_flow("203.0.113.5", "192.168.1.23", t, 100),
                None,
                &home,
                &mut out,
            );
        }
        assert!(out.is_empty());
        assert_eq!(d.tracked(), 0);
    }

    #[test]
    fn reported_once_per_period_and_not_twice_for_name_and_address() {
        let mut d = BeaconDetector::new(BeaconConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..600u64 {
            let f = conn_flow("10.0.0.8", "203.0.113.5", T0 + i * 60 * SECOND_US, 200);
            d.on_flow(&f, Some("c2.example"), &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
    }

    #[test]
    fn a_beacon_behind_rotating_addresses_is_found_by_name() {
        let mut d = BeaconDetector::new(BeaconConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..60u64 {
            let dst = format!("203.0.113.{}", i % 7 + 1);
            let f = conn_flow("10.0.0.8", &dst, T0 + i * 120 * SECOND_US, 500);
            d.on_flow(&f, Some("cdn-c2.example"), &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].evidence["grouped_by"], "server_name");
    }

    #[test]
    fn pairs_are_bounded_and_evictions_counted() {
        let config = BeaconConfig {
            max_pairs: 100,
            ..BeaconConfig::default()
        };
        let mut d = BeaconDetector::new(config);
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..1000u64 {
            let dst = format!("198.51.{}.{}", i / 250, i % 250);
            d.on_flow(
                &conn_flow("10.0.0.8", &dst, T0 + i * SECOND_US, 100),
                None,
                &home,
                &mut out,
            );
        }
        assert!(d.tracked() <= 100);
        assert!(d.evicted() >= 900);
    }

    #[test]
    fn bowley_skewness_and_mad() {
        let (skew, median, mad) = robust_shape(&[60.0, 60.0, 60.0, 61.0, 59.0]);
        assert_eq!(skew, 0.0);
        assert_eq!(median, 60.0);
        assert_eq!(mad, 0.0);
        // Right-skewed: a long tail of big values.
        let v: Vec<f64> = (0..100).map(|i| f64::from(i * i)).collect();
        let (skew, _, _) = robust_shape(&v);
        assert!(skew > 0.0);
        assert_eq!(mode_of([5, 3, 5, 3, 9].into_iter()), 3);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
