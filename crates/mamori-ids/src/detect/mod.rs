//! Behavioural detectors: what a company's traffic *does* over time, not what one packet
//! contains.
//!
//! Signatures (`mamori-ids-rules`) recognise known attacks in single packets or streams.
//! The detectors here look at the shape of many connections instead, to catch the three
//! stories Mamori was built for:
//!
//! - an infected PC calling its command server at a steady rhythm ([`beacon`], `ids.beacon`);
//! - scans and password guessing before a ransomware attack ([`scan`]: `ids.port_scan`,
//!   `ids.host_scan`, `ids.scan_sequential`; [`brute_force`]: `ids.brute_force`);
//! - data leaving the company unnoticed ([`exfil`], `ids.exfiltration`);
//!
//! plus matches against operator-supplied block lists of addresses and domains
//! ([`blocklist`]: `ids.blocklist_ip`, `ids.blocklist_domain`).
//!
//! # Where the input comes from
//!
//! The IDS pipeline's flow table hands each finished flow (and, for long flows, periodic
//! [`FlowEnd::Ongoing`] snapshots) to [`Detectors::on_flow`] as a [`FlowRecord`]. The
//! application-layer parsers hand DNS queries to [`Detectors::on_dns`] and TLS SNI / HTTP
//! Host names to [`Detectors::on_name`]. [`Detectors::tick`] should be called every few
//! seconds to minutes with the capture clock so idle state is dropped. All times are
//! microseconds since the Unix epoch, taken from the packets (so reading a pcap file gives
//! the same findings as watching live).
//!
//! # What comes out
//!
//! [`Finding`]s: a stable code, a severity, the hosts involved, one sentence in English and
//! one in Japanese that a non-expert can act on, and the evidence as JSON.
//! [`Finding::to_alert`] turns one into a [`mamori_core::Alert`].
//!
//! # What this does not do
//!
//! - No packet parsing, no flow tracking: it trusts the pipeline's flow records.
//! - No blocking: findings are advice; response actions live elsewhere.
//! - No persistence: baselines (usual destinations, daily volumes) live in memory and are
//!   learnt again after a restart.
//! - Memory is bounded everywhere: each detector caps the hosts, pairs and keys it tracks
//!   and evicts the least recently seen, counting evictions in [`DetectStats`].

pub mod beacon;
pub mod blocklist;
pub mod brute_force;
pub mod exfil;
pub mod home_net;
pub mod scan;

use mamori_core::{Alert, Endpoint, Engine, Severity};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

pub use beacon::{BeaconConfig, BeaconDetector};
pub use blocklist::{BlocklistConfig, BlocklistDetector, BlocklistError, DomainList, IpList};
pub use brute_force::{BruteForceConfig, BruteForceDetector, Service};
pub use exfil::{ExfilConfig, ExfilDetector};
pub use home_net::{Cidr, HomeNet};
pub use scan::{ScanConfig, ScanDetector, TrwConfig};

/// IP protocol numbers as they appear in [`FlowRecord::proto`].
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

const SECOND_US: u64 = 1_000_000;

/// How a flow's conversation went, as far as the flow table could tell. (Not
/// `crate::flow::FlowEnd`, which says why a flow left the table; [`FlowEnd::classify`]
/// derives this one from the table's counters and TCP state.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEnd {
    /// The handshake completed (TCP) or traffic went both ways (UDP, ICMP).
    Established,
    /// The server answered the SYN with SYN-ACK but the client never completed the
    /// handshake: what a SYN ("half-open") scan of an open port looks like.
    HalfOpen,
    /// Refused: RST in answer to the SYN, or an ICMP unreachable.
    Rejected,
    /// A SYN or datagram that got no answer at all.
    Unanswered,
    /// A snapshot of a flow that is still running (long uploads, long sessions). Counters
    /// are cumulative since the flow started; the final record for the same `flow_id`
    /// carries the final state.
    Ongoing,
}

impl FlowEnd {
    /// Classifies a finished flow from what a flow table records: whether the TCP handshake
    /// completed (or, for other protocols, whether both directions carried packets), whether
    /// the server answered the SYN with SYN-ACK, and whether it reset the connection.
    pub fn classify(
        proto: u8,
        established: bool,
        syn_ack_seen: bool,
        reset_by_server: bool,
        pkts_to_client: u64,
    ) -> FlowEnd {
        if established {
            FlowEnd::Established
        } else if proto == PROTO_TCP && syn_ack_seen {
            FlowEnd::HalfOpen
        } else if proto == PROTO_TCP && (reset_by_server || pkts_to_client > 0) {
            FlowEnd::Rejected
        } else if proto != PROTO_TCP && pkts_to_client > 0 {
            FlowEnd::Established
        } else {
            FlowEnd::Unanswered
        }
    }

    /// The client reached the server: a handshake or a two-way exchange.
    pub fn answered(self) -> bool {
        matches!(
            self,
            FlowEnd::Established | FlowEnd::HalfOpen | FlowEnd::Ongoing
        )
    }
}

/// One flow as the flow table saw it. `src` is the side that opened the flow (the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub flow_id: u64,
    pub start_us: u64,
    pub end_us: u64,
    /// IP protocol number: 6 TCP, 17 UDP, 1 ICMP.
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub pkts_to_server: u64,
    pub bytes_to_server: u64,
    pub pkts_to_client: u64,
    pub bytes_to_client: u64,
    pub state: FlowEnd,
    /// TLS SNI or HTTP Host, when the parsers saw one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl FlowRecord {
    pub fn duration_us(&self) -> u64 {
        self.end_us.saturating_sub(self.start_us)
    }

    /// A scan probe rather than a conversation: refused, unanswered, half-open, or a TCP
    /// handshake after which the server never had to say anything (a connect() scan).
    pub fn is_probe(&self) -> bool {
        match self.state {
            FlowEnd::Rejected | FlowEnd::Unanswered | FlowEnd::HalfOpen => true,
            FlowEnd::Established => self.proto == PROTO_TCP && self.pkts_to_client <= 1,
            FlowEnd::Ongoing => false,
        }
    }
}

/// One thing a detector noticed, with the words to explain it and the evidence to check it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id: `ids.beacon`, `ids.port_scan`, `ids.host_scan`, `ids.scan_sequential`,
    /// `ids.brute_force`, `ids.exfiltration`, `ids.blocklist_ip`, `ids.blocklist_domain`.
    pub code: &'static str,
    pub severity: Severity,
    pub time_us: u64,
    pub src: IpAddr,
    pub src_port: Option<u16>,
    pub dst: Option<IpAddr>,
    pub dst_port: Option<u16>,
    pub host: Option<String>,
    pub summary_en: String,
    pub summary_ja: String,
    pub evidence: serde_json::Value,
}

impl Finding {
    /// The ATT&CK tactic the finding belongs to.
    pub fn category(&self) -> &'static str {
        match self.code {
            "ids.beacon" | "ids.blocklist_ip" | "ids.blocklist_domain" => "command-and-control",
            "ids.port_scan" | "ids.host_scan" | "ids.scan_sequential" => "discovery",
            "ids.brute_force" => "credential-access",
            "ids.exfiltration" => "exfiltration",
            _ => "unknown",
        }
    }

    /// A short English name for the rule, shown where a title is needed.
    pub fn rule_name(&self) -> &'static str {
        match self.code {
            "ids.beacon" => "Regular calls to an outside server (beaconing)",
            "ids.port_scan" => "Port scan",
            "ids.host_scan" => "Host scan (sweep)",
            "ids.scan_sequential" => "Scanning behaviour (sequential test)",
            "ids.brute_force" => "Password guessing (brute force)",
            "ids.exfiltration" => "Unusual upload volume",
            "ids.blocklist_ip" => "Traffic with a block-listed address",
            "ids.blocklist_domain" => "Access to a block-listed domain",
            _ => "Behavioural detection",
        }
    }

    /// The finding as a Mamori alert: the Japanese sentence is the summary (the console's
    /// default language, as for mail alerts), the English one stays in the evidence.
    pub fn to_alert(&self) -> Alert {
        let mut alert = Alert::new(
            Engine::Ids,
            self.code,
            self.rule_name(),
            self.severity,
            self.summary_ja.clone(),
        );
        if let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(self.time_us).saturating_mul(1000),
        ) {
            alert.time = t;
        }
        alert.category = Some(self.category().to_string());
        alert.src = Endpoint {
            ip: Some(self.src),
            port: self.src_port,
            ..Endpoint::default()
        };
        alert.dst = Endpoint {
            ip: self.dst,
            port: self.dst_port,
            host: self.host.clone(),
            ..Endpoint::default()
        };
        let mut evidence = self.evidence.clone();
        if let serde_json::Value::Object(map) = &mut evidence {
            map.insert("summary_en".into(), self.summary_en.clone().into());
            map.insert("summary_ja".into(), self.summary_ja.clone().into());
        }
        alert.evidence = evidence;
        alert
    }
}

/// Every detector's settings: `[ids.detect]` and its sub-tables in `mamori.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// The company's own address ranges; everything else is "outside".
    pub home_net: HomeNet,
    pub beacon: BeaconConfig,
    pub scan: ScanConfig,
    pub brute_force: BruteForceConfig,
    pub exfiltration: ExfilConfig,
    pub blocklist: BlocklistConfig,
    /// How many (client, server address) → name pairs to remember, so that flows without
    /// SNI or Host can still be named in findings.
    pub max_names: usize,
}

/// Counters for operators: how much was looked at, found, and forgotten to stay bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DetectStats {
    pub flows: u64,
    pub dns_queries: u64,
    pub names: u64,
    pub findings: u64,
    pub beacon_pairs: usize,
    pub beacon_evicted: u64,
    pub scan_keys: usize,
    pub scan_evicted: u64,
    pub brute_force_keys: usize,
    pub brute_force_evicted: u64,
    pub exfil_hosts: usize,
    pub exfil_evicted: u64,
    pub names_evicted: u64,
    pub blocklist_ip_entries: usize,
    pub blocklist_domain_entries: usize,
}

/// All detectors behind one API; what the IDS pipeline calls.
pub struct Detectors {
    home: HomeNet,
    beacon: BeaconDetector,
    scan: ScanDetector,
    brute_force: BruteForceDetector,
    exfil: ExfilDetector,
    blocklist: BlocklistDetector,
    names: NameCache,
    stats: DetectStats,
}

impl Detectors {
    /// Builds every detector; fails only when a block-list file cannot be read or parsed.
    pub fn new(config: &DetectConfig) -> Result<Detectors, BlocklistError> {
        Ok(Detectors {
            home: config.home_net.clone(),
            beacon: BeaconDetector::new(config.beacon.clone()),
            scan: ScanDetector::new(config.scan.clone()),
            brute_force: BruteForceDetector::new(config.brute_force.clone()),
            exfil: ExfilDetector::new(config.exfiltration.clone()),
            blocklist: BlocklistDetector::load(config.blocklist.clone())?,
            names: NameCache::new(config.max_names),
            stats: DetectStats::default(),
        })
    }

    /// Looks at one flow record (final or [`FlowEnd::Ongoing`] snapshot).
    pub fn on_flow(&mut self, flow: &FlowRecord, out: &mut Vec<Finding>) {
        self.stats.flows += 1;
        let before = out.len();
        if let Some(name) = &flow.server_name {
            self.names.insert(flow.src, flow.dst, name, flow.end_us);
        }
        let name = flow
            .server_name
            .as_deref()
            .or_else(|| self.names.get(flow.src, flow.dst));
        self.blocklist.on_flow(flow, name, &self.home, out);
        self.beacon.on_flow(flow, name, &self.home, out);
        self.scan.on_flow(flow, &self.home, out);
        self.brute_force.on_flow(flow, &self.home, out);
        self.exfil.on_flow(flow, name, &self.home, out);
        self.stats.findings += (out.len() - before) as u64;
    }

    /// A DNS query seen from `client`.
    pub fn on_dns(&mut self, time_us: u64, client: IpAddr, query: &str, out: &mut Vec<Finding>) {
        self.stats.dns_queries += 1;
        let before = out.len();
        self.blocklist.on_dns(time_us, client, query, out);
        self.stats.findings += (out.len() - before) as u64;
    }

    /// A TLS SNI or HTTP Host name `client` used towards `server`.
    pub fn on_name(
        &mut self,
        time_us: u64,
        client: IpAddr,
        server: IpAddr,
        name: &str,
        out: &mut Vec<Finding>,
    ) {
        self.stats.names += 1;
        let before = out.len();
        self.names.insert(client, server, name, time_us);
        self.blocklist.on_name(time_us, client, server, name, out);
        self.stats.findings += (out.len() - before) as u64;
    }

    /// Drops state that has been idle longer than any detector's window. Findings are
    /// raised as flows arrive; `out` is for detectors that may one day report on time alone.
    pub fn tick(&mut self, now_us: u64, out: &mut Vec<Finding>) {
        let _ = out;
        self.beacon.tick(now_us);
        self.scan.tick(now_us);
        self.brute_force.tick(now_us);
        self.exfil.tick(now_us);
        self.blocklist.tick(now_us);
        self.names.tick(now_us);
    }

    /// Re-reads the block-list files. A file that fails keeps its previous entries; the
    /// errors name each such file and line.
    pub fn reload_blocklists(&mut self) -> Result<(), Vec<BlocklistError>> {
        self.blocklist.reload()
    }

    pub fn stats(&self) -> DetectStats {
        let mut s = self.stats.clone();
        s.beacon_pairs = self.beacon.tracked();
        s.beacon_evicted = self.beacon.evicted();
        s.scan_keys = self.scan.tracked();
        s.scan_evicted = self.scan.evicted();
        s.brute_force_keys = self.brute_force.tracked();
        s.brute_force_evicted = self.brute_force.evicted();
        s.exfil_hosts = self.exfil.tracked();
        s.exfil_evicted = self.exfil.evicted();
        s.names_evicted = self.names.evicted;
        (s.blocklist_ip_entries, s.blocklist_domain_entries) = self.blocklist.sizes();
        s
    }

    pub fn home_net(&self) -> &HomeNet {
        &self.home
    }
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            home_net: HomeNet::default(),
            beacon: BeaconConfig::default(),
            scan: ScanConfig::default(),
            brute_force: BruteForceConfig::default(),
            exfiltration: ExfilConfig::default(),
            blocklist: BlocklistConfig::default(),
            max_names: 50_000,
        }
    }
}

/// Which name a client used for a server address, so that later flows without SNI can be
/// grouped and described by name.
struct NameCache {
    map: HashMap<(IpAddr, IpAddr), (Box<str>, u64)>,
    cap: usize,
    evicted: u64,
}

/// Names are kept this long after they were last seen.
const NAME_TTL_US: u64 = 24 * 3600 * SECOND_US;

impl NameCache {
    fn new(cap: usize) -> NameCache {
        NameCache {
            map: HashMap::new(),
            cap: cap.max(1),
            evicted: 0,
        }
    }

    fn insert(&mut self, client: IpAddr, server: IpAddr, name: &str, time_us: u64) {
        let name = normalize_name(name);
        if name.is_empty() {
            return;
        }
        if let Some(entry) = self.map.get_mut(&(client, server)) {
            if *entry.0 != *name {
                entry.0 = name.into();
            }
            entry.1 = entry.1.max(time_us);
            return;
        }
        if self.map.len() >= self.cap {
            self.evicted += evict_oldest(&mut self.map, |v| v.1);
        }
        self.map.insert((client, server), (name.into(), time_us));
    }

    fn get(&self, client: IpAddr, server: IpAddr) -> Option<&str> {
        self.map.get(&(client, server)).map(|v| &*v.0)
    }

    fn tick(&mut self, now_us: u64) {
        self.map
            .retain(|_, v| now_us.saturating_sub(v.1) <= NAME_TTL_US);
    }
}

/// Lower case, no trailing dot, no surrounding blanks, no port: how names are compared.
pub fn normalize_name(name: &str) -> String {
    let name = name.trim();
    // An HTTP Host may carry a port; an IPv6 literal keeps its brackets and colons.
    let name = match name.rsplit_once(':') {
        Some((host, port))
            if (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => name,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Removes about an eighth of the entries (at least one), those seen longest ago, and
/// returns how many went. Used by every detector when a table reaches its cap, so the cost
/// of an eviction is spread over many inserts.
pub(crate) fn evict_oldest<K, V>(map: &mut HashMap<K, V>, last_seen: impl Fn(&V) -> u64) -> u64
where
    K: Eq + Hash,
{
    let n = map.len();
    if n == 0 {
        return 0;
    }
    let k = (n / 8).max(1);
    let mut times: Vec<u64> = map.values().map(&last_seen).collect();
    let (_, &mut cutoff, _) = times.select_nth_unstable(k - 1);
    let older = times.iter().filter(|&&t| t < cutoff).count();
    let mut equal_budget = k - older;
    map.retain(|_, v| {
        let t = last_seen(v);
        if t < cutoff {
            false
        } else if t == cutoff && equal_budget > 0 {
            equal_budget -= 1;
            false
        } else {
            true
        }
    });
    (n - map.len()) as u64
}

/// Remembers when a finding was last raised for a key, so each is raised once per period.
pub(crate) struct Dedup<K> {
    last: HashMap<K, u64>,
    cap: usize,
}

impl<K: Eq + Hash> Dedup<K> {
    pub(crate) fn new(cap: usize) -> Dedup<K> {
        Dedup {
            last: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// True (and remembered) when nothing was raised for `key` in the last `period_us`.
    pub(crate) fn allow(&mut self, key: K, now_us: u64, period_us: u64) -> bool {
        if let Some(&t) = self.last.get(&key) {
            // A time before the last report (records arrive out of order) is within it.
            if now_us.saturating_sub(t) < period_us {
                return false;
            }
        }
        if self.last.len() >= self.cap && !self.last.contains_key(&key) {
            self.last
                .retain(|_, t| now_us.saturating_sub(*t) < period_us);
            if self.last.len() >= self.cap {
                evict_oldest(&mut self.last, |t| *t);
            }
        }
        self.last.insert(key, now_us);
        true
    }

    pub(crate) fn recently(&self, key: &K, now_us: u64, period_us: u64) -> bool {
        self.last
            .get(key)
            .is_some_and(|&t| now_us.saturating_sub(t) < period_us)
    }

    pub(crate) fn forget(&mut self, key: &K) {
        self.last.remove(key);
    }

    pub(crate) fn forget_older_than(&mut self, now_us: u64, period_us: u64) {
        self.last
            .retain(|_, t| now_us.saturating_sub(*t) < period_us);
    }
}

/// Multicast and broadcast destinations: discovery chatter, never a conversation.
pub(crate) fn is_group_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.octets()[3] == 255,
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// `4126` → `4,126`.
pub(crate) fn thousands(n: u64) -> String {
    let reversed: Vec<char> = n.to_string().chars().rev().collect();
    let groups: Vec<String> = reversed
        .chunks(3)
        .rev()
        .map(|g| g.iter().rev().collect())
        .collect();
    groups.join(",")
}

/// Decimal units, as people read them on a disk or a bill: `200 MB`, `1.5 GB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in the largest unit that keeps it readable: `60 s`, `5 min`, `2 h`.
pub(crate) fn human_duration_en(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 2.0 * 86400.0 {
        format!("{:.0} h", secs / 3600.0)
    } else {
        format!("{:.0} days", secs / 86400.0)
    }
}

/// The same in Japanese: `60 秒`, `5 分`, `2 時間`.
pub(crate) fn human_duration_ja(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 120.0 {
        format!("{secs:.0} 秒")
    } else if secs < 7200.0 {
        format!("{:.0} 分", secs / 60.0)
    } else if secs < 2.0 * 86400.0 {
        format!("{:.0} 時間", secs / 3600.0)
    } else {
        format!("{:.0} 日", secs / 86400.0)
    }
}

/// RFC 3339 for evidence; the raw number when the time is out of range.
pub(crate) fn rfc3339(time_us: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_us).saturating_mul(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| time_us.to_string())
}

/// `203.0.113.5 (c2.example)` or just the address.
pub(crate) fn describe_peer(ip: IpAddr, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{ip} ({n})"),
        None => ip.to_string(),
    }
}

/// Where a host sits, in words: `internal host 192.168.1.23` / `社内の 192.168.1.23`.
pub(crate) fn who_en(ip: IpAddr, home: &HomeNet) -> String {
    if home.contains(ip) {
        format!("Internal host {ip}")
    } else {
        format!("Outside address {ip}")
    }
}

pub(crate) fn who_ja(ip: IpAddr, home: &HomeNet) -> String {
    if home.contains(ip) {
        format!("社内の {ip}")
    } else {
        format!("外部の {ip}")
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// A finished TCP flow of `secs` seconds starting at `start_s`.
    pub fn flow(src: &str, dst: &str, dport: u16, start_s: u64, state: FlowEnd) -> FlowRecord {
        FlowRecord {
            flow_id: start_s ^ u64::from(dport) << 40,
            start_us: start_s * SECOND_US,
            end_us: start_s * SECOND_US + 500_000,
            proto: PROTO_TCP,
            src: ip(src),
            sport: 50000,
            dst: ip(dst),
            dport,
            pkts_to_server: 5,
            bytes_to_server: 400,
            pkts_to_client: if state.answered() { 5 } else { 0 },
            bytes_to_client: if state.answered() { 1200 } else { 0 },
            state,
            server_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn numbers_read_like_a_person_wrote_them() {
        assert_eq!(thousands(4126), "4,126");
        assert_eq!(thousands(181_536), "181,536");
        assert_eq!(thousands(7), "7");
        assert_eq!(human_bytes(200_000_000), "200 MB");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
        assert_eq!(human_duration_en(60.2), "60 s");
        assert_eq!(human_duration_ja(300.0), "5 分");
    }

    #[test]
    fn flow_outcomes_are_classified_from_handshake_and_answers() {
        assert_eq!(
            FlowEnd::classify(PROTO_TCP, true, true, false, 9),
            FlowEnd::Established
        );
        assert_eq!(
            FlowEnd::classify(PROTO_TCP, false, true, true, 2),
            FlowEnd::HalfOpen
        );
        assert_eq!(
            FlowEnd::classify(PROTO_TCP, false, false, true, 1),
            FlowEnd::Rejected
        );
        assert_eq!(
            FlowEnd::classify(PROTO_TCP, false, false, false, 0),
            FlowEnd::Unanswered
        );
        assert_eq!(
            FlowEnd::classify(PROTO_UDP, false, false, false, 1),
            FlowEnd::Established
        );
        assert_eq!(
            FlowEnd::classify(PROTO_UDP, false, false, false, 0),
            FlowEnd::Unanswered
        );
    }

    #[test]
    fn eviction_removes_the_oldest_eighth() {
        let mut m: HashMap<u32, u64> = (0..80).map(|i| (i, u64::from(i))).collect();
        assert_eq!(evict_oldest(&mut m, |v| *v), 10);
        assert!(!m.contains_key(&9) && m.contains_key(&10));
        // All equal: still only an eighth goes.
        let mut m: HashMap<u32, u64> = (0..80).map(|i| (i, 5)).collect();
        assert_eq!(evict_oldest(&mut m, |v| *v), 10);
    }

    #[test]
    fn dedup_raises_once_per_period() {
        let mut d = Dedup::new(2);
        assert!(d.allow("a", 0, 10));
        assert!(!d.allow("a", 5, 10));
        assert!(d.allow("a", 10, 10));
        assert!(d.allow("b", 11, 10));
        assert!(d.allow("c", 12, 10));
        assert!(d.last.len() <= 2);
    }

    #[test]
    fn names_are_compared_without_case_port_or_trailing_dot() {
        assert_eq!(normalize_name("C2.Example.:443"), "c2.example");
        assert_eq!(normalize_name("[2001:db8::1]:8443"), "[2001:db8::1]");
        assert_eq!(normalize_name("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn finding_becomes_an_alert_with_tactic_and_both_languages() {
        let f = Finding {
            code: "ids.beacon",
            severity: Severity::High,
            time_us: 1_700_000_000 * SECOND_US,
            src: ip("192.168.1.23"),
            src_port: None,
            dst: Some(ip("203.0.113.5")),
            dst_port: Some(443),
            host: Some("c2.example".into()),
            summary_en: "en".into(),
            summary_ja: "ja".into(),
            evidence: serde_json::json!({"connections": 4126}),
        };
        let a = f.to_alert();
        assert_eq!(a.rule_id, "ids.beacon");
        assert_eq!(a.category.as_deref(), Some("command-and-control"));
        assert_eq!(a.summary, "ja");
        assert_eq!(a.evidence["summary_en"], "en");
        assert_eq!(a.time.unix_timestamp(), 1_700_000_000);
        assert_eq!(
            a.asset().map(|x| x.key()).as_deref(),
            Some("host:192.168.1.23")
        );
    }

    #[test]
    fn default_config_round_trips_through_json() {
        let c = DetectConfig::default();
        let s = serde_json::to_string(&c).expect("serialize");
        let back: DetectConfig = serde_json::from_str(&s).expect("deserialize");
        assert_eq!(c, back);
        let partial: DetectConfig =
            serde_json::from_str(r#"{"beacon":{"threshold":0.9}}"#).expect("partial");
        assert_eq!(partial.beacon.threshold, 0.9);
        assert_eq!(
            partial.beacon.min_connections,
            BeaconConfig::default().min_connections
        );
    }
}
