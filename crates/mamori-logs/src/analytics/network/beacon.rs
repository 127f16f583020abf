//! Beaconing: malware calling home at a steady rhythm, found from proxy and firewall logs the
//! way RITA describes it — per (internal source, external destination) pair, score how regular
//! the time between connections is and how regular their sizes are.
//!
//! For each pair: connections closer than `beacon_merge` are one (a page load is a burst, not
//! a beacon); then over the intervals between connections
//! - **skew score** `1 - |Bowley skewness|` (quartiles: `(Q1 + Q3 - 2·Q2) / (Q3 - Q1)`),
//!   1 for a symmetric distribution such as a period with jitter;
//! - **dispersion score** `1 - MAD / median`, 1 when intervals hardly vary;
//! - **count score** `min(1, connections / 100)`: a handful of regular connections proves
//!   little;
//!
//! and the same skew and dispersion scores over the sizes when the log has them. Score =
//! (2 × interval score + size score) / 3 (interval score alone without sizes). Pairs with at
//! least `beacon_min_connections` and a score ≥ `beacon_min_score` are reported once, with the
//! period (median interval). Scored when the pair reaches 64, 256, 1024... connections, when
//! evicted, and at finish; a confirmed pair is reported when it goes quiet or after six hours. Interval and size samples are capped per pair
//! ([`MAX_SAMPLES`]); pairs are capped at `max_keys`.
//!
//! Not done: long-period beacons (hours) need days of logs to reach the minimum count; DNS
//! beaconing (queries) is not read; destinations inside the network are skipped unless
//! `beacon_internal`.

use super::{destination, field, is_flow, number};
use crate::analytics::addr::{parse_ip, CidrSet, DomainSet};
use crate::analytics::episode::{fmt_duration, Episode, Rule};
use crate::analytics::{Analytic, AnalyticsConfig, ConfigError, Shared};
use crate::detection::{Detection, Level};
use crate::event::Event;
use std::collections::HashMap;

pub const BEACON: Rule = Rule {
    id: "logs.net.beacon",
    title: "Beaconing: regular connections to one destination",
};

/// Intervals and sizes kept per pair.
pub const MAX_SAMPLES: usize = 2048;
/// Record references kept per pair (many pairs are tracked at once).
const PAIR_RECORDS: usize = 200;

struct Pair {
    ep: Episode,
    /// Start of the latest (merged) connection.
    last_conn: i64,
    connections: usize,
    intervals: Vec<u32>,
    sizes: Vec<u64>,
    /// When the score first passed: the pair is a beacon, to be reported.
    confirmed_at: Option<i64>,
    /// Median interval when confirmed (ms).
    period: i64,
}

pub struct Beacons {
    shared: Shared,
    pairs: HashMap<(String, String), Pair>,
    cap: usize,
    merge: i64,
    min_connections: usize,
    min_score: f64,
    internal: bool,
    ignore_domains: DomainSet,
    ignore_nets: CidrSet,
}

impl Beacons {
    pub fn new(c: &AnalyticsConfig, shared: &Shared, errors: &mut Vec<ConfigError>) -> Beacons {
        let n = &c.network;
        let (nets, _) = CidrSet::parse(
            n.beacon_ignore
                .iter()
                .filter(|e| parse_ip(e.split('/').next().unwrap_or("")).is_some()),
        );
        let names: Vec<String> = n
            .beacon_ignore
            .iter()
            .filter(|e| parse_ip(e.split('/').next().unwrap_or("")).is_none())
            .cloned()
            .collect();
        let _ = errors;
        Beacons {
            shared: shared.clone(),
            pairs: HashMap::new(),
            cap: c.max_keys.max(1),
            merge: i64::try_from(n.beacon_merge.saturating_mul(1000)).unwrap_or(i64::MAX),
            min_connections: n.beacon_min_connections.max(3),
            min_score: n.beacon_min_score,
            internal: n.beacon_internal,
            ignore_domains: DomainSet::new(&names),
            ignore_nets: nets,
        }
    }

    fn wanted(&self, src: &str, dst: &str) -> bool {
        // Beacons go from inside out: an outside source is someone else's traffic to us.
        match parse_ip(src) {
            Some(ip) if self.shared.inside(ip) => {}
            _ => return false,
        }
        if let Some(ip) = parse_ip(dst) {
            if self.ignore_nets.contains(ip) || (!self.internal && self.shared.inside(ip)) {
                return false;
            }
        } else if self.ignore_domains.find(dst).is_some() {
            return false;
        }
        true
    }

    fn evict(&mut self, out: &mut Vec<Detection>) {
        let mut ages: Vec<(i64, (String, String))> = self
            .pairs
            .iter()
            .map(|(k, p)| (p.ep.last, k.clone()))
            .collect();
        ages.sort_by_key(|(t, _)| *t);
        for (_, k) in ages.into_iter().take((self.cap / 8).max(1)) {
            if let Some(p) = self.pairs.remove(&k) {
                self.report(k, p, out);
            }
        }
    }

    fn report(&self, key: (String, String), p: Pair, out: &mut Vec<Detection>) {
        if p.connections < self.min_connections {
            return;
        }
        // A confirmed beacon is reported even if later noise lowered its score.
        let min = if p.confirmed_at.is_some() {
            0.0
        } else {
            self.min_score
        };
        if let Some(d) = score(&key, p, min) {
            out.push(d);
        }
    }
}

/// (score, period ms) of a pair, or `None` when it cannot be scored.
fn score_of(p: &Pair) -> Option<(f64, f64, f64)> {
    let mut iv: Vec<f64> = p.intervals.iter().map(|&x| f64::from(x)).collect();
    let (skew, disp, median) = shape(&mut iv)?;
    let count = (p.connections as f64 / 100.0).min(1.0);
    let ts = (skew + disp + count) / 3.0;
    let mut sizes: Vec<f64> = p.sizes.iter().map(|&x| x as f64).collect();
    let total = match shape(&mut sizes) {
        Some((s, d, _)) if sizes.len() + 1 >= p.intervals.len() => (2.0 * ts + (s + d) / 2.0) / 3.0,
        _ => ts,
    };
    Some((total, median, ts))
}

/// (skew score, dispersion score, median) of a sample.
fn shape(v: &mut [f64]) -> Option<(f64, f64, f64)> {
    if v.len() < 2 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| -> f64 {
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v.get(i).copied().unwrap_or(0.0)
    };
    let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
    let bowley = if q3 > q1 {
        (q1 + q3 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    // A very tight spread makes Bowley's ratio unstable (two distinct values give ±1): below
    // 5% of the median the distribution is as regular as it gets.
    let skew = if q3 - q1 <= 0.05 * q2.abs() {
        1.0
    } else {
        1.0 - bowley.abs().min(1.0)
    };
    let mut dev: Vec<f64> = v.iter().map(|x| (x - q2).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = dev.get(dev.len() / 2).copied().unwrap_or(0.0);
    let disp = if q2 > 0.0 {
        1.0 - (mad / q2).min(1.0)
    } else if mad == 0.0 {
        // All sizes zero (firewall logs without sizes): regular, but it says nothing.
        1.0
    } else {
        0.0
    };
    Some((skew, disp, q2))
}

fn score(key: &(String, String), p: Pair, min_score: f64) -> Option<Detection> {
    let (s, period, ts) = score_of(&p)?;
    if s < min_score || period <= 0.0 {
        return None;
    }
    let level = if s >= 0.95 {
        Level::High
    } else {
        Level::Medium
    };
    let details = format!(
        "{} contacted {} {} times about every {} (score {:.2}, interval regularity {:.2}), {}",
        key.0,
        key.1,
        p.connections,
        fmt_duration(period as i64),
        s,
        ts,
        p.ep.span_text()
    );
    Some(p.ep.detection(
        &BEACON,
        level,
        details,
        &["attack.command_and_control", "attack.t1071", "attack.t1573"],
    ))
}

impl Analytic for Beacons {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        if !is_flow(ev) {
            return;
        }
        let (Some(src), Some(dst)) = (field(ev, "src_ip"), destination(ev)) else {
            return;
        };
        if !self.wanted(src, &dst) {
            return;
        }
        let key = (src.to_string(), dst);
        if !self.pairs.contains_key(&key) && self.pairs.len() >= self.cap {
            self.evict(out);
        }
        let merge = self.merge;
        let p = self.pairs.entry(key.clone()).or_insert_with(|| Pair {
            ep: Episode::new(ts),
            last_conn: i64::MIN,
            connections: 0,
            intervals: Vec::new(),
            sizes: Vec::new(),
            confirmed_at: None,
            period: 0,
        });
        p.ep.add_limited(ev, ts, PAIR_RECORDS);
        if p.last_conn != i64::MIN && ts.saturating_sub(p.last_conn) <= merge {
            return;
        }
        if p.last_conn != i64::MIN && p.intervals.len() < MAX_SAMPLES {
            p.intervals
                .push(u32::try_from(ts.saturating_sub(p.last_conn)).unwrap_or(u32::MAX));
        }
        if p.sizes.len() < MAX_SAMPLES {
            if let Some(b) = number(ev, "bytes_out").or_else(|| number(ev, "bytes")) {
                p.sizes.push(b);
            }
        }
        p.last_conn = ts;
        p.connections += 1;
        let n = p.connections;
        // Scored at 64, 256, 1024... connections: a confirmed beacon is reported when it goes
        // quiet or has been running for a while (see `expire`), with its full counts.
        if p.confirmed_at.is_none()
            && n >= self.min_connections
            && n >= 64
            && n.is_power_of_two()
            && n.trailing_zeros() % 2 == 0
        {
            if let Some((s, period, _)) = score_of(p) {
                if s >= self.min_score {
                    p.confirmed_at = Some(ts);
                    p.period = period as i64;
                }
            }
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        // Unconfirmed pairs are kept until evicted or finish: a beacon's period can be longer
        // than any gap. Confirmed ones are reported once quiet for four periods (at least an
        // hour), or after six hours of running, and then start over.
        let due: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(_, p)| {
                p.confirmed_at.is_some_and(|at| {
                    now.saturating_sub(p.last_conn) > (4 * p.period).max(3_600_000)
                        || now.saturating_sub(at) > 6 * 3_600_000
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(p) = self.pairs.remove(&k) {
                self.report(k, p, out);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let pairs: Vec<_> = self.pairs.drain().collect();
        for (k, p) in pairs {
            self.report(k, p, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::{Event, SourceKind};

    fn proxy(ts: i64, src: &str, host: &str, bytes: u64) -> Event {
        line(
            ts,
            SourceKind::Squid,
            &[
                ("src_ip", src),
                ("method", "GET"),
                ("url", &format!("http://{host}/x")),
                ("dst_host", host),
                ("status", "200"),
                ("bytes", &bytes.to_string()),
            ],
        )
    }

    /// A tiny deterministic generator: no `rand` in this crate.
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f64) / ((1u64 << 31) as f64)
    }

    #[test]
    fn jittered_five_minute_callback_is_a_beacon() {
        let mut seed = 7;
        let mut t = T0;
        let mut events = Vec::new();
        for _ in 0..100 {
            // 5 minutes with ±10% jitter, 512 bytes ±8.
            t += (300_000.0 * (0.9 + 0.2 * lcg(&mut seed))) as i64;
            events.push(proxy(
                t,
                "10.0.0.12",
                "cdn-update.example",
                504 + (lcg(&mut seed) * 16.0) as u64,
            ));
        }
        let d = run(&events);
        let b = of(&d, "logs.net.beacon");
        assert_eq!(b.len(), 1, "{d:#?}");
        assert!(
            b[0].details.starts_with(
                "10.0.0.12 contacted cdn-update.example 100 times about every 5 minutes"
            ),
            "{}",
            b[0].details
        );
    }

    #[test]
    fn browsing_is_not_a_beacon() {
        let mut seed = 11;
        let mut t = T0;
        let mut events = Vec::new();
        for _ in 0..150 {
            // Human browsing: bursts and pauses (exponential gaps), varied sizes.
            let gap = -(1.0 - lcg(&mut seed)).ln() * 400_000.0;
            t += gap as i64 + 3000;
            for k in 0..(1 + (lcg(&mut seed) * 5.0) as i64) {
                events.push(proxy(
                    t + k * 300,
                    "10.0.0.12",
                    "news.example",
                    (lcg(&mut seed) * 200_000.0) as u64,
                ));
            }
        }
        let d = run(&events);
        assert!(of(&d, "logs.net.beacon").is_empty(), "{d:#?}");
    }

    #[test]
    fn too_few_connections_or_inbound_are_not_scored() {
        let events: Vec<Event> = (0..10)
            .map(|i| proxy(T0 + i * 60_000, "10.0.0.12", "c2.example", 100))
            .collect();
        assert!(run(&events).is_empty());
        // From an outside address to us: not our beacon.
        let inbound: Vec<Event> = (0..100)
            .map(|i| proxy(T0 + i * 60_000, "198.51.100.1", "c2.example", 100))
            .collect();
        assert!(run(&inbound).is_empty());
    }

    #[test]
    fn firewall_flows_without_sizes_are_scored_on_time() {
        let events: Vec<Event> = (0..80)
            .map(|i| {
                line(
                    T0 + i * 60_000 + (i % 3) * 700,
                    SourceKind::Firewall,
                    &[
                        ("src_ip", "192.168.1.20"),
                        ("dst_ip", "203.0.113.80"),
                        ("dst_port", "443"),
                        ("action", "accept"),
                    ],
                )
            })
            .collect();
        let d = run(&events);
        let b = of(&d, "logs.net.beacon");
        assert_eq!(b.len(), 1, "{d:#?}");
        assert!(b[0].details.contains("about every 6"), "{}", b[0].details);
    }
}
