//! Data leaving the company (`ids.exfiltration`): an internal host sending far more than
//! usual to the outside — the step of an intrusion that victims most often miss.
//!
//! Two checks, per internal host:
//!
//! - **new destination**: at least `new_destination_bytes` (default 50 MB) sent within
//!   `window_secs` (default 1 h) to an outside address that the host first contacted less
//!   than `new_after_secs` ago (default 1 day), and that the detector had already been
//!   watching the host for `learning_secs` before that (otherwise everything looks new
//!   after a restart). A destination whose server name the host has used before is not
//!   new, so a cloud backup moving to another address of the same service stays quiet;
//! - **unusual daily volume**: the host's outbound total for the current UTC day reaches
//!   `daily_factor` times (default 10×) the median of its previous days (at least
//!   `baseline_min_days` of them) and at least `daily_min_bytes`.
//!
//! Bytes are the client-to-server bytes of flows the host opened. Long flows arrive as
//! [`FlowEnd::Ongoing`] snapshots with cumulative counters; only the growth since the last
//! snapshot is added, so a long upload is seen while it runs, not only when it ends.
//!
//! What it does not do: inspect content (the mail guard does that for mail), or notice
//! data carried out slowly under the thresholds, or over an allowed destination.

use super::{
    describe_peer, evict_oldest, human_bytes, human_duration_en, human_duration_ja, normalize_name,
    rfc3339, Dedup, Finding, FlowEnd, FlowRecord, HomeNet, SECOND_US,
};
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

const DAY_US: u64 = 86_400 * SECOND_US;

/// `[ids.detect.exfiltration]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExfilConfig {
    pub enabled: bool,
    /// Bytes to a new destination within the window that are reported.
    pub new_destination_bytes: u64,
    pub window_secs: u64,
    /// A destination stays "new" this long after the host first contacted it.
    pub new_after_secs: u64,
    /// How long a host must have been watched before its destinations can be "new".
    pub learning_secs: u64,
    /// Today's outbound volume against the median of previous days.
    pub daily_factor: f64,
    pub daily_min_bytes: u64,
    /// Previous days kept for the baseline, and how many are needed.
    pub baseline_days: usize,
    pub baseline_min_days: usize,
    /// Internal hosts tracked, destinations (and names) remembered per host, and in all.
    /// When the total is reached the least recently active hosts are forgotten.
    pub max_hosts: usize,
    pub max_destinations_per_host: usize,
    pub max_destinations: usize,
    /// Report the same host and destination at most once per this period.
    pub realert_secs: u64,
}

impl Default for ExfilConfig {
    fn default() -> ExfilConfig {
        ExfilConfig {
            enabled: true,
            new_destination_bytes: 50_000_000,
            window_secs: 3600,
            new_after_secs: 86_400,
            learning_secs: 86_400,
            daily_factor: 10.0,
            daily_min_bytes: 1_000_000_000,
            baseline_days: 14,
            baseline_min_days: 3,
            max_hosts: 5_000,
            max_destinations_per_host: 2_000,
            max_destinations: 200_000,
            realert_secs: 86_400,
        }
    }
}

struct Destination {
    first_seen_us: u64,
    last_seen_us: u64,
    /// Bytes sent in the current window-long bucket and in the one before: the volume of
    /// the last window is estimated from both, in constant memory.
    bucket_start_us: u64,
    bucket_bytes: u64,
    previous_bytes: u64,
    /// When the current run of sending began (the volume estimate was zero before).
    sending_since_us: u64,
    name: Option<Box<str>>,
}

impl Destination {
    /// Bytes sent over the last window ending at `now`, counting the previous bucket in
    /// proportion to how much of it the window still covers.
    fn window_bytes(&self, now: u64, window: u64) -> u64 {
        let window = window.max(1);
        let elapsed = now.saturating_sub(self.bucket_start_us);
        if elapsed >= 2 * window {
            return 0;
        }
        if elapsed >= window {
            let cover = 1.0 - (elapsed - window) as f64 / window as f64;
            return (self.bucket_bytes as f64 * cover) as u64;
        }
        let cover = 1.0 - elapsed as f64 / window as f64;
        self.bucket_bytes
            .saturating_add((self.previous_bytes as f64 * cover) as u64)
    }

    fn add(&mut self, now: u64, start: u64, bytes: u64, window: u64) {
        let window = window.max(1);
        if self.window_bytes(now, window) == 0 {
            self.sending_since_us = start;
        }
        let elapsed = now.saturating_sub(self.bucket_start_us);
        if elapsed >= 2 * window {
            self.previous_bytes = 0;
            self.bucket_bytes = 0;
            self.bucket_start_us = now;
        } else if elapsed >= window {
            self.previous_bytes = self.bucket_bytes;
            self.bucket_bytes = 0;
            self.bucket_start_us = self.bucket_start_us.saturating_add(window);
        }
        self.bucket_bytes = self.bucket_bytes.saturating_add(bytes);
    }
}

struct Host {
    first_seen_us: u64,
    last_seen_us: u64,
    destinations: HashMap<IpAddr, Destination>,
    /// Server names used, with when they were first used.
    names: HashMap<Box<str>, u64>,
    /// (UTC day number, bytes out) for recent days, oldest first.
    days: VecDeque<(u64, u64)>,
}

pub struct ExfilDetector {
    config: ExfilConfig,
    hosts: HashMap<IpAddr, Host>,
    /// Destinations and names remembered over all hosts.
    entries: usize,
    /// Bytes already counted for flows still running, by flow id.
    running: HashMap<u64, (u64, u64)>,
    alerted: Dedup<(IpAddr, Option<IpAddr>)>,
    evicted: u64,
}

impl ExfilDetector {
    pub fn new(config: ExfilConfig) -> ExfilDetector {
        let cap = config.max_hosts.max(1);
        ExfilDetector {
            config,
            hosts: HashMap::new(),
            entries: 0,
            running: HashMap::new(),
            alerted: Dedup::new(cap.saturating_mul(4)),
            evicted: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.hosts.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes this record adds to what was already counted for its flow.
    fn new_bytes(&mut self, flow: &FlowRecord) -> u64 {
        let counted = self
            .running
            .get(&flow.flow_id)
            .map_or(0, |&(bytes, _)| bytes);
        let delta = flow.bytes_to_server.saturating_sub(counted);
        if flow.state == FlowEnd::Ongoing {
            let cap = self.config.max_hosts.max(1).saturating_mul(20);
            if !self.running.contains_key(&flow.flow_id) && self.running.len() >= cap {
                self.evicted += evict_oldest(&mut self.running, |&(_, t)| t);
            }
            self.running.insert(
                flow.flow_id,
                (flow.bytes_to_server.max(counted), flow.end_us),
            );
        } else {
            self.running.remove(&flow.flow_id);
        }
        delta
    }

    pub fn on_flow(
        &mut self,
        flow: &FlowRecord,
        name: Option<&str>,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        if !self.config.enabled || !home.contains(flow.src) || home.contains(flow.dst) {
            return;
        }
        let bytes = self.new_bytes(flow);
        let now = flow.end_us.max(flow.start_us);
        let cap = self.config.max_hosts.max(1);
        if (!self.hosts.contains_key(&flow.src) && self.hosts.len() >= cap)
            || self.entries >= self.config.max_destinations.max(1)
        {
            self.evicted += evict_oldest(&mut self.hosts, |h| h.last_seen_us);
            self.entries = self
                .hosts
                .values()
                .map(|h| h.destinations.len() + h.names.len())
                .sum();
        }
        let host = self.hosts.entry(flow.src).or_insert_with(|| Host {
            first_seen_us: flow.start_us,
            last_seen_us: now,
            destinations: HashMap::new(),
            names: HashMap::new(),
            days: VecDeque::new(),
        });
        host.first_seen_us = host.first_seen_us.min(flow.start_us);
        host.last_seen_us = host.last_seen_us.max(now);
        let name = name.map(normalize_name).filter(|n| !n.is_empty());

        // Is the destination new? Decided before this flow is remembered.
        let new_after = self.config.new_after_secs.saturating_mul(SECOND_US);
        let learning = self.config.learning_secs.saturating_mul(SECOND_US);
        let dest_first = host
            .destinations
            .get(&flow.dst)
            .map_or(flow.start_us, |d| d.first_seen_us);
        let name_first = name
            .as_deref()
            .and_then(|n| host.names.get(n).copied())
            .unwrap_or(flow.start_us);
        let first_contact = dest_first.min(name_first);
        let is_new = now.saturating_sub(first_contact) < new_after
            && first_contact.saturating_sub(host.first_seen_us) >= learning;

        let before = host.destinations.len() + host.names.len();
        remember(host, flow, name.as_deref(), bytes, now, &self.config);
        self.entries =
            (self.entries + host.destinations.len() + host.names.len()).saturating_sub(before);
        let day_total = add_to_day(host, now, bytes, self.config.baseline_days);
        if bytes == 0 {
            return;
        }
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        let (window_bytes, since, dest_name) = match host.destinations.get(&flow.dst) {
            Some(d) => (
                d.window_bytes(now, window),
                d.sending_since_us,
                d.name.clone(),
            ),
            None => (0, now, None),
        };
        let realert = self.config.realert_secs.saturating_mul(SECOND_US);
        if is_new
            && window_bytes >= self.config.new_destination_bytes
            && self.alerted.allow((flow.src, Some(flow.dst)), now, realert)
        {
            let first_seen = rfc3339(first_contact);
            let peer = describe_peer(flow.dst, dest_name.as_deref());
            let secs = now.saturating_sub(since.min(flow.start_us)) as f64 / SECOND_US as f64;
            let size = human_bytes(window_bytes);
            out.push(Finding {
                code: "ids.exfiltration",
                severity: Severity::High,
                time_us: now,
                src: flow.src,
                src_port: None,
                dst: Some(flow.dst),
                dst_port: Some(flow.dport),
                host: dest_name.as_deref().map(str::to_string),
                summary_en: format!(
                    "Internal host {} sent {size} in {} to {peer}, a destination it had never used \
                     before. Check whether this upload was intended; if not, data may be leaking.",
                    flow.src,
                    human_duration_en(secs.max(1.0))
                ),
                summary_ja: format!(
                    "社内の {} が、これまで通信したことのない {peer} に {}で {size} を送信しました。\
                     意図した送信か確認してください。心当たりがなければ情報漏えいの可能性があります。",
                    flow.src,
                    human_duration_ja(secs.max(1.0))
                ),
                evidence: serde_json::json!({
                    "kind": "new_destination",
                    "bytes": window_bytes,
                    "window_s": self.config.window_secs,
                    "duration_s": secs.round(),
                    "dst": flow.dst,
                    "dst_port": flow.dport,
                    "server_name": dest_name.as_deref(),
                    "first_contact": first_seen,
                    "host_watched_since": rfc3339(host.first_seen_us),
                }),
            });
        }

        if let Some(baseline) = baseline(host, now, self.config.baseline_min_days) {
            let factor = self.config.daily_factor.max(1.0);
            if day_total >= self.config.daily_min_bytes
                && day_total as f64 >= factor * baseline.max(1) as f64
                && self.alerted.allow((flow.src, None), now, realert)
            {
                let ratio = day_total as f64 / baseline.max(1) as f64;
                let today = human_bytes(day_total);
                let usual = human_bytes(baseline);
                out.push(Finding {
                    code: "ids.exfiltration",
                    severity: Severity::Medium,
                    time_us: now,
                    src: flow.src,
                    src_port: None,
                    dst: Some(flow.dst),
                    dst_port: Some(flow.dport),
                    host: dest_name.as_deref().map(str::to_string),
                    summary_en: format!(
                        "Internal host {} has sent {today} to the Internet today, {ratio:.0} times its usual \
                         {usual} a day (latest destination {}). Check what is being uploaded.",
                        flow.src,
                        describe_peer(flow.dst, dest_name.as_deref())
                    ),
                    summary_ja: format!(
                        "社内の {} が本日インターネットへ {today} を送信しています。普段（1 日 {usual}）の約 {ratio:.0} 倍です\
                         （直近の送信先 {}）。何が送信されているか確認してください。",
                        flow.src,
                        describe_peer(flow.dst, dest_name.as_deref())
                    ),
                    evidence: serde_json::json!({
                        "kind": "daily_volume",
                        "bytes_today": day_total,
                        "usual_daily_bytes": baseline,
                        "ratio": (ratio * 10.0).round() / 10.0,
                        "days_in_baseline": host.days.len().saturating_sub(1),
                        "latest_dst": flow.dst,
                        "latest_server_name": dest_name.as_deref(),
                    }),
                });
            }
        }
    }

    /// Forgets hosts silent for the whole baseline period and finished running flows.
    pub fn tick(&mut self, now_us: u64) {
        let keep = DAY_US.saturating_mul(self.config.baseline_days.max(1) as u64);
        self.hosts
            .retain(|_, h| now_us.saturating_sub(h.last_seen_us) <= keep);
        self.entries = self
            .hosts
            .values()
            .map(|h| h.destinations.len() + h.names.len())
            .sum();
        self.running
            .retain(|_, (_, t)| now_us.saturating_sub(*t) <= DAY_US);
        self.alerted
            .forget_older_than(now_us, self.config.realert_secs.saturating_mul(SECOND_US));
    }
}

/// Records the flow in the host's destinations and names, bounded.
fn remember(
    host: &mut Host,
    flow: &FlowRecord,
    name: Option<&str>,
    bytes: u64,
    now: u64,
    config: &ExfilConfig,
) {
    let cap = config.max_destinations_per_host.max(1);
    if !host.destinations.contains_key(&flow.dst) && host.destinations.len() >= cap {
        evict_oldest(&mut host.destinations, |d| d.last_seen_us);
    }
    let d = host
        .destinations
        .entry(flow.dst)
        .or_insert_with(|| Destination {
            first_seen_us: flow.start_us,
            last_seen_us: now,
            bucket_start_us: now,
            bucket_bytes: 0,
            previous_bytes: 0,
            sending_since_us: flow.start_us,
            name: None,
        });
    d.first_seen_us = d.first_seen_us.min(flow.start_us);
    d.last_seen_us = d.last_seen_us.max(now);
    if let Some(n) = name {
        if d.name.as_deref() != Some(n) {
            d.name = Some(n.into());
        }
        if !host.names.contains_key(n) {
            if host.names.len() >= cap {
                evict_oldest(&mut host.names, |t| *t);
            }
            host.names.insert(n.into(), flow.start_us);
        }
    }
    if bytes > 0 {
        d.add(
            now,
            flow.start_us,
            bytes,
            config.window_secs.saturating_mul(SECOND_US),
        );
    }
}

/// Adds bytes to the host's current UTC day and returns the day's total.
fn add_to_day(host: &mut Host, now: u64, bytes: u64, keep_days: usize) -> u64 {
    let day = now / DAY_US;
    if let Some(slot) = host.days.iter_mut().rev().find(|(d, _)| *d == day) {
        slot.1 = slot.1.saturating_add(bytes);
        return slot.1;
    }
    if host.days.back().is_some_and(|(d, _)| *d > day) {
        // A late record for a day no longer kept: too old to matter.
        return 0;
    }
    host.days.push_back((day, bytes));
    while host.days.len() > keep_days.max(1) + 1 {
        host.days.pop_front();
    }
    bytes
}

/// The median of the previous days' totals, when enough days are known.
fn baseline(host: &Host, now: u64, min_days: usize) -> Option<u64> {
    let today = now / DAY_US;
    let mut previous: Vec<u64> = host
        .days
        .iter()
        .filter(|(d, _)| *d < today)
        .map(|(_, b)| *b)
        .collect();
    if previous.len() < min_days.max(1) {
        return None;
    }
    previous.sort_unstable();
    previous.get(previous.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    const MB: u64 = 1_000_000;
    const T0: u64 = 1_700_006_400; // a UTC midnight

    fn upload(src: &str, dst: &str, start_s: u64, secs: u64, bytes: u64) -> FlowRecord {
        let mut f = flow(src, dst, 443, start_s, FlowEnd::Established);
        f.flow_id = start_s * 1000 + bytes % 1000;
        f.end_us = (start_s + secs) * SECOND_US;
        f.bytes_to_server = bytes;
        f
    }

    /// Three weeks of ordinary days: a few MB to the usual places.
    fn history(d: &mut ExfilDetector, home: &HomeNet, out: &mut Vec<Finding>) {
        for day in 0..20u64 {
            for h in 0..10u64 {
                let t = T0 + day * 86_400 + 9 * 3600 + h * 1800;
                d.on_flow(
                    &upload("192.168.1.30", "198.51.100.10", t, 5, 2 * MB),
                    Some("usual.example"),
                    home,
                    out,
                );
            }
        }
    }

    #[test]
    fn big_upload_to_a_new_destination_is_reported() {
        let mut d = ExfilDetector::new(ExfilConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        history(&mut d, &home, &mut out);
        assert!(out.is_empty());
        let t = T0 + 20 * 86_400 + 3 * 3600;
        d.on_flow(
            &upload("192.168.1.30", "203.0.113.99", t, 600, 200 * MB),
            Some("files.example"),
            &home,
            &mut out,
        );
        let new: Vec<_> = out
            .iter()
            .filter(|f| f.evidence["kind"] == "new_destination")
            .collect();
        assert_eq!(new.len(), 1, "{out:#?}");
        assert!(
            new[0].summary_ja.contains("200 MB"),
            "{}",
            new[0].summary_ja
        );
        assert!(new[0].summary_ja.contains("203.0.113.99 (files.example)"));
        assert_eq!(new[0].evidence["bytes"], 200 * MB);
    }

    #[test]
    fn the_same_upload_to_a_usual_destination_is_not_new() {
        let mut d = ExfilDetector::new(ExfilConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        history(&mut d, &home, &mut out);
        let t = T0 + 20 * 86_400 + 3 * 3600;
        d.on_flow(
            &upload("192.168.1.30", "198.51.100.10", t, 600, 200 * MB),
            Some("usual.example"),
            &home,
            &mut out,
        );
        assert!(
            out.iter().all(|f| f.evidence["kind"] != "new_destination"),
            "{out:#?}"
        );
        // A new address of a name the host has long used is not new either.
        d.on_flow(
            &upload("192.168.1.30", "198.51.100.11", t + 60, 600, 200 * MB),
            Some("usual.example"),
            &home,
            &mut out,
        );
        assert!(
            out.iter().all(|f| f.evidence["kind"] != "new_destination"),
            "{out:#?}"
        );
    }

    #[test]
    fn nothing_is_new_while_still_learning() {
        let mut d = ExfilDetector::new(ExfilConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        d.on_flow(
            &upload("192.168.1.30", "198.51.100.10", T0, 5, MB),
            None,
            &home,
            &mut out,
        );
        d.on_flow(
            &upload("192.168.1.30", "203.0.113.99", T0 + 3600, 600, 500 * MB),
            None,
            &home,
            &mut out,
        );
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn snapshots_of_a_running_upload_are_counted_once() {
        let mut d = ExfilDetector::new(ExfilConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        history(&mut d, &home, &mut out);
        let t = T0 + 20 * 86_400;
        let mut f = upload("192.168.1.30", "203.0.113.99", t, 60, 20 * MB);
        f.state = FlowEnd::Ongoing;
        d.on_flow(&f, None, &home, &mut out);
        assert!(out.is_empty());
        f.end_us += 60 * SECOND_US;
        f.bytes_to_server = 40 * MB;
        d.on_flow(&f, None, &home, &mut out);
        assert!(
            out.is_empty(),
            "40 MB counted once is under 50 MB: {out:#?}"
        );
        f.end_us += 60 * SECOND_US;
        f.bytes_to_server = 60 * MB;
        f.state = FlowEnd::Established;
        d.on_flow(&f, None, &home, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].evidence["bytes"], 60 * MB);
    }

    #[test]
    fn a_day_far_above_the_usual_volume_is_reported() {
        let mut d = ExfilDetector::new(ExfilConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        history(&mut d, &home, &mut out);
        let t = T0 + 20 * 86_400 + 10 * 3600;
        for i in 0..12u64 {
            d.on_flow(
                &upload("192.168.1.30", "198.51.100.10", t + i * 600, 300, 100 * MB),
                Some("usual.example"),
                &home,
                &mut out,
            );
        }
        let daily: Vec<_> = out
            .iter()
            .filter(|f| f.evidence["kind"] == "daily_volume")
            .collect();
        assert_eq!(daily.len(), 1, "{out:#?}");
        assert_eq!(daily[0].severity, Severity::Medium);
    }

    #[test]
    fn window_volume_fades_out_after_the_window() {
        let mut d = Destination {
            first_seen_us: 0,
            last_seen_us: 0,
            bucket_start_us: 0,
            bucket_bytes: 0,
            previous_bytes: 0,
            sending_since_us: 0,
            name: None,
        };
        let w = 3600 * SECOND_US;
        d.add(10, 0, 60 * MB, w);
        assert_eq!(d.window_bytes(10, w), 60 * MB);
        d.add(w + 10, w, 10 * MB, w);
        // Just after the bucket turned: nearly all of the previous hour still counts.
        assert!(d.window_bytes(w + 10, w) > 69 * MB);
        assert!(d.window_bytes(2 * w, w) < 11 * MB);
        assert_eq!(d.window_bytes(3 * w, w), 0);
    }

    #[test]
    fn total_destinations_are_bounded() {
        let config = ExfilConfig {
            max_destinations: 500,
            ..ExfilConfig::default()
        };
        let mut d = ExfilDetector::new(config);
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..5000u64 {
            let src = format!("10.0.{}.{}", i % 20, 1 + i % 7);
            let dst = format!("198.51.{}.{}", i / 250, i % 250);
            d.on_flow(&upload(&src, &dst, T0 + i, 1, MB), None, &home, &mut out);
        }
        assert!(d.entries <= 501, "{}", d.entries);
        assert!(d.evicted() > 0);
    }

    #[test]
    fn hosts_are_bounded() {
        let config = ExfilConfig {
            max_hosts: 10,
            ..ExfilConfig::default()
        };
        let mut d = ExfilDetector::new(config);
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..100u64 {
            let src = format!("10.0.0.{}", i + 1);
            d.on_flow(
                &upload(&src, "198.51.100.10", T0 + i, 1, MB),
                None,
                &home,
                &mut out,
            );
        }
        assert!(d.tracked() <= 10);
        assert!(d.evicted() >= 90);
    }
}
