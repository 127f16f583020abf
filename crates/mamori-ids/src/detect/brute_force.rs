//! Password guessing (`ids.brute_force`): many short connections to a login service —
//! remote desktop, SSH, file sharing, VPN, FTP, Telnet — the way ransomware crews get in.
//!
//! Two shapes are counted over sliding windows:
//!
//! - **one source, one service**: at least `threshold` short connections (default 30 in
//!   5 minutes) from one address to one port of one host;
//! - **many sources, one service** (distributed guessing, password spraying from a
//!   botnet): at least `distributed_attempts` short connections from at least
//!   `distributed_sources` different outside addresses to one port of one home-net host
//!   (default 100 from 20 in 10 minutes).
//!
//! A connection counts when its handshake completed and it finished within `short_secs`
//! (a failed login is quick; a working session is not). Refused and unanswered attempts
//! are left to the scan detector: nobody guesses passwords at a closed port, and botnets
//! hammer closed ports all day. After a report, a long session
//! from the same source to the same service is reported again as critical: the guessing
//! may have worked.
//!
//! SSL-VPN and RD Gateway run on 443 like every website, so 443 counts only for hosts
//! listed in `vpn_hosts`. What it does not do: read the login result (encrypted) — the log
//! engine does that from the servers' own logs.

use super::{
    evict_oldest, human_duration_en, human_duration_ja, thousands, who_en, who_ja, Cidr, Dedup,
    Finding, FlowEnd, FlowRecord, HomeNet, SECOND_US,
};
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// A login service watched for guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub port: u16,
    pub name: String,
}

impl Service {
    fn new(port: u16, name: &str) -> Service {
        Service {
            port,
            name: name.to_string(),
        }
    }
}

/// `[ids.detect.brute_force]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceConfig {
    pub enabled: bool,
    pub window_secs: u64,
    /// Short connections from one source to one service within the window.
    pub threshold: usize,
    /// Connections lasting longer are sessions, not attempts.
    pub short_secs: u64,
    /// Services watched on every host (TCP and UDP alike).
    pub services: Vec<Service>,
    /// Hosts whose `vpn_ports` are a VPN or RD Gateway login.
    pub vpn_hosts: Vec<Cidr>,
    pub vpn_ports: Vec<u16>,
    pub distributed_window_secs: u64,
    pub distributed_attempts: usize,
    pub distributed_sources: usize,
    /// Report the same source and service at most once per this period.
    pub realert_secs: u64,
    pub max_tracked: usize,
    pub sample: usize,
}

impl Default for BruteForceConfig {
    fn default() -> BruteForceConfig {
        BruteForceConfig {
            enabled: true,
            window_secs: 300,
            threshold: 30,
            short_secs: 30,
            services: vec![
                Service::new(3389, "RDP"),
                Service::new(22, "SSH"),
                Service::new(445, "SMB"),
                Service::new(139, "SMB (NetBIOS)"),
                Service::new(21, "FTP"),
                Service::new(23, "Telnet"),
                Service::new(500, "IPsec VPN (IKE)"),
                Service::new(4500, "IPsec VPN (NAT-T)"),
                Service::new(1723, "PPTP VPN"),
                Service::new(1194, "OpenVPN"),
                Service::new(5900, "VNC"),
            ],
            vpn_hosts: Vec::new(),
            vpn_ports: vec![443],
            distributed_window_secs: 600,
            distributed_attempts: 100,
            distributed_sources: 20,
            realert_secs: 3600,
            max_tracked: 20_000,
            sample: 20,
        }
    }
}

/// Recent attempt times of one source against one service.
struct Attempts {
    times: VecDeque<u64>,
    total: u64,
    last_seen_us: u64,
}

/// Recent attempts against one service from anywhere outside.
struct Spray {
    times: VecDeque<u64>,
    sources: HashMap<IpAddr, u64>,
    last_seen_us: u64,
}

pub struct BruteForceDetector {
    config: BruteForceConfig,
    single: HashMap<(IpAddr, IpAddr, u16), Attempts>,
    spray: HashMap<(IpAddr, u16), Spray>,
    alerted: Dedup<(IpAddr, IpAddr, u16)>,
    /// Source/service pairs reported recently, to notice a session that follows.
    reported: Dedup<(IpAddr, IpAddr, u16)>,
    evicted: u64,
}

impl BruteForceDetector {
    pub fn new(config: BruteForceConfig) -> BruteForceDetector {
        let cap = config.max_tracked.max(1);
        BruteForceDetector {
            config,
            single: HashMap::new(),
            spray: HashMap::new(),
            alerted: Dedup::new(cap),
            reported: Dedup::new(cap),
            evicted: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.single.len() + self.spray.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The watched service a flow goes to, if any.
    fn service(&self, flow: &FlowRecord) -> Option<&str> {
        if let Some(s) = self.config.services.iter().find(|s| s.port == flow.dport) {
            return Some(&s.name);
        }
        (self.config.vpn_ports.contains(&flow.dport)
            && self.config.vpn_hosts.iter().any(|c| c.contains(flow.dst)))
        .then_some("SSL-VPN / RD Gateway")
    }

    pub fn on_flow(&mut self, flow: &FlowRecord, home: &HomeNet, out: &mut Vec<Finding>) {
        if !self.config.enabled {
            return;
        }
        let Some(service) = self.service(flow).map(str::to_string) else {
            return;
        };
        let short = flow.duration_us() <= self.config.short_secs.saturating_mul(SECOND_US);
        let key = (flow.src, flow.dst, flow.dport);
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        if !short || flow.state == FlowEnd::Ongoing {
            if flow.state.answered() && self.reported.recently(&key, flow.start_us, period) {
                self.possible_success(flow, &service, home, out);
            }
            return;
        }
        // Guessing needs a listening service: refused or unanswered attempts are a scan's
        // business, and counting them would report closed ports hammered by botnets.
        if flow.state != FlowEnd::Established {
            return;
        }
        self.single_source(flow, &service, home, out);
        if home.contains(flow.dst) && !home.contains(flow.src) {
            self.distributed(flow, &service, home, out);
        }
    }

    fn single_source(
        &mut self,
        flow: &FlowRecord,
        service: &str,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        let key = (flow.src, flow.dst, flow.dport);
        let cap = self.config.max_tracked.max(1);
        if !self.single.contains_key(&key) && self.single.len() >= cap {
            self.evicted += evict_oldest(&mut self.single, |a| a.last_seen_us);
        }
        let threshold = self.config.threshold.max(2);
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        let a = self.single.entry(key).or_insert_with(|| Attempts {
            times: VecDeque::new(),
            total: 0,
            last_seen_us: flow.start_us,
        });
        a.total += 1;
        a.last_seen_us = a.last_seen_us.max(flow.start_us);
        if a.times.len() >= threshold {
            a.times.pop_front();
        }
        a.times.push_back(flow.start_us);
        let now = a.last_seen_us;
        while a
            .times
            .front()
            .is_some_and(|&t| now.saturating_sub(t) > window)
        {
            a.times.pop_front();
        }
        if a.times.len() < threshold {
            return;
        }
        let (total, first, n) = (
            a.total,
            a.times.front().copied().unwrap_or(now),
            a.times.len(),
        );
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        if !self.alerted.allow(key, flow.start_us, period) {
            return;
        }
        self.reported.allow(key, flow.start_us, period);
        let (src_in, dst_in) = (home.contains(flow.src), home.contains(flow.dst));
        let severity = if dst_in {
            Severity::High
        } else {
            Severity::Medium
        };
        let span = now.saturating_sub(first) as f64 / SECOND_US as f64;
        let (advice_en, advice_ja) = match (src_in, dst_in) {
            (false, true) => (
                "Block this address, and make sure the service is not open to the Internet or requires multi-factor login.",
                "この送信元を遮断し、サービスをインターネットに公開しないか多要素認証を必須にしてください。",
            ),
            (true, true) => (
                "An internal PC guessing passwords of other machines is a sign of an intrusion spreading: disconnect and check it.",
                "社内端末による他の機器へのパスワード試行は侵入拡大の兆候です。切り離して確認してください。",
            ),
            _ => (
                "Check the internal host: it may be infected and attacking others.",
                "社内の端末が感染し、外部を攻撃している可能性があります。確認してください。",
            ),
        };
        out.push(Finding {
            code: "ids.brute_force",
            severity,
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: Some(flow.dst),
            dst_port: Some(flow.dport),
            host: None,
            summary_en: format!(
                "{} made {n} short connections to {service} on {} within {} ({} in all): \
                 password guessing suspected. {advice_en}",
                who_en(flow.src, home),
                flow.dst,
                human_duration_en(span.max(1.0)),
                thousands(total)
            ),
            summary_ja: format!(
                "{} が {} の {service} に {}の間に {n} 回（累計 {} 回）短い接続を繰り返しています（パスワード総当たりの疑い）。{advice_ja}",
                who_ja(flow.src, home),
                flow.dst,
                human_duration_ja(span.max(1.0)),
                thousands(total)
            ),
            evidence: serde_json::json!({
                "kind": "single_source",
                "service": service,
                "attempts_in_window": n,
                "attempts_total": total,
                "window_s": self.config.window_secs,
                "first_attempt": super::rfc3339(first),
                "last_state": flow.state,
            }),
        });
    }

    fn distributed(
        &mut self,
        flow: &FlowRecord,
        service: &str,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        let key = (flow.dst, flow.dport);
        let cap = self.config.max_tracked.max(1);
        if !self.spray.contains_key(&key) && self.spray.len() >= cap {
            self.evicted += evict_oldest(&mut self.spray, |s| s.last_seen_us);
        }
        let attempts = self.config.distributed_attempts.max(2);
        let sources = self.config.distributed_sources.max(2);
        let window = self
            .config
            .distributed_window_secs
            .saturating_mul(SECOND_US);
        let s = self.spray.entry(key).or_insert_with(|| Spray {
            times: VecDeque::new(),
            sources: HashMap::new(),
            last_seen_us: flow.start_us,
        });
        s.last_seen_us = s.last_seen_us.max(flow.start_us);
        let now = s.last_seen_us;
        if s.times.len() >= attempts {
            s.times.pop_front();
        }
        s.times.push_back(flow.start_us);
        while s
            .times
            .front()
            .is_some_and(|&t| now.saturating_sub(t) > window)
        {
            s.times.pop_front();
        }
        let source_cap = sources.saturating_mul(4).max(64);
        if !s.sources.contains_key(&flow.src) && s.sources.len() >= source_cap {
            s.sources.retain(|_, t| now.saturating_sub(*t) <= window);
        }
        if s.sources.len() < source_cap || s.sources.contains_key(&flow.src) {
            let seen = s.sources.entry(flow.src).or_insert(flow.start_us);
            *seen = (*seen).max(flow.start_us);
        }
        if s.times.len() < attempts {
            return;
        }
        s.sources.retain(|_, t| now.saturating_sub(*t) <= window);
        if s.sources.len() < sources {
            return;
        }
        let mut sample: Vec<IpAddr> = s.sources.keys().copied().collect();
        sample.sort_unstable();
        sample.truncate(self.config.sample);
        let n_sources = s.sources.len();
        let n = s.times.len();
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        let any = IpAddr::from([0u8, 0, 0, 0]);
        if !self
            .alerted
            .allow((any, flow.dst, flow.dport), flow.start_us, period)
        {
            return;
        }
        let win = self.config.distributed_window_secs as f64;
        out.push(Finding {
            code: "ids.brute_force",
            severity: Severity::High,
            time_us: flow.start_us,
            src: flow.src,
            src_port: None,
            dst: Some(flow.dst),
            dst_port: Some(flow.dport),
            host: None,
            summary_en: format!(
                "{n_sources} different outside addresses made {n} short connections to {service} on {} \
                 within {}: distributed password guessing suspected. Make sure the service requires \
                 multi-factor login or is not open to the Internet.",
                who_en(flow.dst, home),
                human_duration_en(win)
            ),
            summary_ja: format!(
                "{} 個の外部アドレスから{} の {service} に {}の間に {n} 回の短い接続がありました（分散型のパスワード総当たりの疑い）。\
                 多要素認証を必須にするか、インターネットへの公開をやめてください。",
                n_sources,
                who_ja(flow.dst, home),
                human_duration_ja(win)
            ),
            evidence: serde_json::json!({
                "kind": "distributed",
                "service": service,
                "attempts_in_window": n,
                "distinct_sources": n_sources,
                "sources_sample": sample,
                "window_s": self.config.distributed_window_secs,
            }),
        });
    }

    fn possible_success(
        &mut self,
        flow: &FlowRecord,
        service: &str,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        // Once per reported pair: forget the report so the session is not re-announced
        // by each snapshot of the same flow.
        let key = (flow.src, flow.dst, flow.dport);
        self.reported.forget(&key);
        let secs = flow.duration_us() as f64 / SECOND_US as f64;
        out.push(Finding {
            code: "ids.brute_force",
            severity: Severity::Critical,
            time_us: flow.start_us,
            src: flow.src,
            src_port: Some(flow.sport),
            dst: Some(flow.dst),
            dst_port: Some(flow.dport),
            host: None,
            summary_en: format!(
                "After guessing passwords, {} kept a {service} session to {} open for {}: \
                 the login may have succeeded. Change that account's password and check the host now.",
                who_en(flow.src, home),
                flow.dst,
                human_duration_en(secs)
            ),
            summary_ja: format!(
                "パスワード総当たりの後、{} が {} の {service} に {}間接続を続けています。ログインに成功した可能性があります。\
                 直ちにアカウントのパスワードを変更し、機器を確認してください。",
                who_ja(flow.src, home),
                flow.dst,
                human_duration_ja(secs)
            ),
            evidence: serde_json::json!({
                "kind": "possible_success",
                "service": service,
                "session_s": (secs * 10.0).round() / 10.0,
                "bytes_to_server": flow.bytes_to_server,
                "bytes_to_client": flow.bytes_to_client,
                "state": flow.state,
            }),
        });
    }

    pub fn tick(&mut self, now_us: u64) {
        let window = self.config.window_secs.saturating_mul(SECOND_US);
        self.single
            .retain(|_, a| now_us.saturating_sub(a.last_seen_us) <= window);
        let window = self
            .config
            .distributed_window_secs
            .saturating_mul(SECOND_US);
        self.spray
            .retain(|_, s| now_us.saturating_sub(s.last_seen_us) <= window);
        let period = self.config.realert_secs.saturating_mul(SECOND_US);
        self.alerted.forget_older_than(now_us, period);
        self.reported.forget_older_than(now_us, period);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn rdp_guessing_from_one_address_is_reported_once() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..200u64 {
            let f = flow(
                "198.51.100.77",
                "192.168.1.10",
                3389,
                1000 + i * 3,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!(f.code, "ids.brute_force");
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.evidence["service"], "RDP");
        assert!(f.summary_ja.contains("パスワード総当たり"));
    }

    #[test]
    fn a_closed_port_hammered_by_a_botnet_is_not_guessing() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..300u64 {
            let src = format!("203.0.113.{}", i % 50 + 1);
            let f = flow(&src, "192.168.1.10", 3389, 1000 + i, FlowEnd::Unanswered);
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn a_few_logins_a_day_are_not_guessing() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..100u64 {
            let f = flow(
                "198.51.100.77",
                "192.168.1.10",
                22,
                1000 + i * 60,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn website_traffic_on_443_is_ignored_unless_the_host_is_a_vpn() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..100u64 {
            let f = flow(
                "198.51.100.77",
                "192.168.1.1",
                443,
                1000 + i,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert!(out.is_empty());
        let config = BruteForceConfig {
            vpn_hosts: vec!["192.168.1.1".parse().expect("cidr")],
            ..BruteForceConfig::default()
        };
        let mut d = BruteForceDetector::new(config);
        for i in 0..100u64 {
            let f = flow(
                "198.51.100.77",
                "192.168.1.1",
                443,
                1000 + i,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].evidence["service"], "SSL-VPN / RD Gateway");
    }

    #[test]
    fn many_sources_against_one_service_is_distributed_guessing() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..150u64 {
            let src = format!("203.0.113.{}", i % 50 + 1);
            let f = flow(
                &src,
                "192.168.1.10",
                3389,
                1000 + i * 2,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].evidence["kind"], "distributed");
        assert_eq!(out[0].evidence["distinct_sources"], 50);
    }

    #[test]
    fn a_long_session_after_guessing_is_critical() {
        let mut d = BruteForceDetector::new(BruteForceConfig::default());
        let home = HomeNet::default();
        let mut out = Vec::new();
        for i in 0..40u64 {
            let f = flow(
                "198.51.100.77",
                "192.168.1.10",
                3389,
                1000 + i * 3,
                FlowEnd::Established,
            );
            d.on_flow(&f, &home, &mut out);
        }
        let mut session = flow(
            "198.51.100.77",
            "192.168.1.10",
            3389,
            1200,
            FlowEnd::Ongoing,
        );
        session.end_us = session.start_us + 600 * SECOND_US;
        d.on_flow(&session, &home, &mut out);
        d.on_flow(&session, &home, &mut out);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert_eq!(out[1].severity, Severity::Critical);
        assert_eq!(out[1].evidence["kind"], "possible_success");
    }
}
