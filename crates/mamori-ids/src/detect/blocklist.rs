//! Block lists (`ids.blocklist_ip`, `ids.blocklist_domain`): traffic with addresses and
//! domains the operator (or a threat feed it downloads) has marked as bad.
//!
//! **Address lists**: one entry per line, an IPv4 or IPv6 address or CIDR range; `#` and
//! `;` start comments (so Spamhaus DROP files load as they are). Entries are merged into
//! sorted, disjoint ranges and looked up by binary search.
//!
//! **Domain lists**: one domain per line (`*.` or a leading dot allowed, hosts-file lines
//! such as `0.0.0.0 bad.example` accepted); a listed domain matches itself and every
//! subdomain. Lookup hashes the name and each parent in turn (`a.b.example`,
//! `b.example`, `example`), so its cost is the number of labels, whatever the list size.
//!
//! Lists are read from files; errors name the file and line. [`BlocklistDetector::reload`]
//! re-reads every file; a file that no longer reads or parses keeps its previous entries,
//! so a half-written download never empties the list. Each (source host, indicator) is
//! reported once per `dedupe_secs`.
//!
//! What it does not do: fetch feeds (the operator's timer or cron does), or block.

use super::home_net::{ip_to_u128, Cidr};
use super::{normalize_name, who_en, who_ja, Dedup, Finding, FlowRecord, HomeNet, SECOND_US};
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Why a block list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    #[error("reading block list {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// `[ids.detect.blocklist]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocklistConfig {
    pub enabled: bool,
    /// Files of addresses and CIDR ranges.
    pub ip_files: Vec<PathBuf>,
    /// Files of domains.
    pub domain_files: Vec<PathBuf>,
    /// Report each (source, indicator) at most once per this period.
    pub dedupe_secs: u64,
    /// How many (source, indicator) pairs to remember for that.
    pub max_tracked: usize,
}

impl Default for BlocklistConfig {
    fn default() -> BlocklistConfig {
        BlocklistConfig {
            enabled: true,
            ip_files: Vec::new(),
            domain_files: Vec::new(),
            dedupe_secs: 3600,
            max_tracked: 50_000,
        }
    }
}

/// One line of a list: what it says and where it came from (`bad.txt:12`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<T> {
    value: T,
    origin: Box<str>,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u128,
    hi: u128,
    entry: u32,
}

/// A set of addresses and ranges, IPv4 and IPv6.
#[derive(Debug, Clone, Default)]
pub struct IpList {
    v4: Vec<Range>,
    v6: Vec<Range>,
    labels: Vec<Box<str>>,
    entries: usize,
}

impl IpList {
    /// Parses list text; `source` names it in errors and evidence.
    pub fn parse(source: &str, text: &str) -> Result<IpList, BlocklistError> {
        Ok(IpList::build(parse_ip_entries(Path::new(source), text)?))
    }

    fn build(entries: Vec<Entry<Cidr>>) -> IpList {
        let mut list = IpList {
            entries: entries.len(),
            ..IpList::default()
        };
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for e in entries {
            let (lo, hi) = e.value.bounds();
            let entry = u32::try_from(list.labels.len()).unwrap_or(u32::MAX);
            list.labels
                .push(format!("{} ({})", e.value, e.origin).into_boxed_str());
            let r = Range { lo, hi, entry };
            if e.value.addr().is_ipv4() {
                v4.push(r);
            } else {
                v6.push(r);
            }
        }
        list.v4 = merge(v4);
        list.v6 = merge(v6);
        list
    }

    /// The entry that lists `ip`, as `203.0.113.0/24 (bad.txt:3)`.
    pub fn lookup(&self, ip: IpAddr) -> Option<&str> {
        let ranges = if ip.is_ipv4() { &self.v4 } else { &self.v6 };
        let v = ip_to_u128(ip);
        let i = ranges.partition_point(|r| r.lo <= v);
        let r = ranges.get(i.checked_sub(1)?)?;
        (v <= r.hi).then(|| self.labels.get(r.entry as usize).map_or("", |l| &**l))
    }

    /// Lines loaded (before merging overlapping ranges).
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

/// Sorts and merges overlapping or adjacent ranges; a merged range keeps the label of the
/// one that starts first.
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_by_key(|r| (r.lo, std::cmp::Reverse(r.hi)));
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.lo <= last.hi.saturating_add(1) => last.hi = last.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

/// A set of domains, each matching itself and its subdomains.
#[derive(Debug, Clone, Default)]
pub struct DomainList {
    domains: HashMap<Box<str>, Box<str>>,
}

impl DomainList {
    /// Parses list text; `source` names it in errors and evidence.
    pub fn parse(source: &str, text: &str) -> Result<DomainList, BlocklistError> {
        Ok(DomainList::build(parse_domain_entries(
            Path::new(source),
            text,
        )?))
    }

    fn build(entries: Vec<Entry<String>>) -> DomainList {
        let mut domains = HashMap::with_capacity(entries.len());
        for e in entries {
            domains.entry(e.value.into_boxed_str()).or_insert(e.origin);
        }
        DomainList { domains }
    }

    /// The listed domain that covers `name` and where it was listed.
    pub fn lookup(&self, name: &str) -> Option<(&str, &str)> {
        let name = normalize_name(name);
        let mut rest = name.as_str();
        loop {
            if let Some((k, origin)) = self.domains.get_key_value(rest) {
                return Some((k, origin));
            }
            rest = rest.split_once('.')?.1;
        }
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// True when `name` is `domain` or one of its subdomains (both already normalised).
pub(crate) fn is_same_or_subdomain(name: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches("*.").trim_start_matches('.');
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

/// The text of a line without its comment.
fn strip_comment(line: &str) -> &str {
    let end = line.find(['#', ';']).unwrap_or(line.len());
    line[..end].trim()
}

fn parse_ip_entries(path: &Path, text: &str) -> Result<Vec<Entry<Cidr>>, BlocklistError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let body = strip_comment(line);
        if body.is_empty() {
            continue;
        }
        let mut fields = body.split_whitespace();
        let first = fields.next().unwrap_or_default();
        let err = |message: String| BlocklistError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        if let Some(extra) = fields.next() {
            return Err(err(format!(
                "unexpected {extra:?} after {first:?} (one address or range per line)"
            )));
        }
        let cidr: Cidr = first.parse().map_err(err)?;
        out.push(Entry {
            value: cidr,
            origin: origin(path, i + 1),
        });
    }
    Ok(out)
}

fn parse_domain_entries(path: &Path, text: &str) -> Result<Vec<Entry<String>>, BlocklistError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let body = strip_comment(line);
        if body.is_empty() {
            continue;
        }
        let fields: Vec<&str> = body.split_whitespace().collect();
        // Hosts-file lines: `0.0.0.0 bad.example other.example`.
        let names = match fields.split_first() {
            Some((first, rest)) if !rest.is_empty() && first.parse::<IpAddr>().is_ok() => rest,
            Some((_, [])) => &fields[..],
            _ => {
                return Err(BlocklistError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("expected one domain per line, found {body:?}"),
                })
            }
        };
        for name in names {
            let domain = normalize_name(name.trim_start_matches("*.").trim_start_matches('.'));
            if let Err(message) = check_domain(&domain) {
                return Err(BlocklistError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("{name:?}: {message}"),
                });
            }
            out.push(Entry {
                value: domain,
                origin: origin(path, i + 1),
            });
        }
    }
    Ok(out)
}

fn check_domain(d: &str) -> Result<(), &'static str> {
    if d.is_empty() || d.len() > 253 {
        return Err("not a domain name");
    }
    if d.parse::<IpAddr>().is_ok() {
        return Err("an address belongs in an address list, not a domain list");
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or over-long label");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-' and '_' are allowed (use punycode for IDN)");
        }
    }
    Ok(())
}

fn origin(path: &Path, line: usize) -> Box<str> {
    let name = path
        .file_name()
        .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
    format!("{name}:{line}").into_boxed_str()
}

fn read(path: &Path) -> Result<String, BlocklistError> {
    std::fs::read_to_string(path).map_err(|source| BlocklistError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Matches flows, DNS queries and server names against the loaded lists.
pub struct BlocklistDetector {
    config: BlocklistConfig,
    ips: IpList,
    domains: DomainList,
    /// The last entries that loaded from each file, kept for a failed reload.
    ip_files: Vec<Vec<Entry<Cidr>>>,
    domain_files: Vec<Vec<Entry<String>>>,
    /// Entries given directly rather than from files (tests, inline configuration).
    inline_ips: Vec<Entry<Cidr>>,
    inline_domains: Vec<Entry<String>>,
    alerted: Dedup<(IpAddr, Box<str>)>,
}

impl BlocklistDetector {
    /// Reads every configured file; the first file that fails stops loading.
    pub fn load(config: BlocklistConfig) -> Result<BlocklistDetector, BlocklistError> {
        let mut ip_files = Vec::new();
        for p in &config.ip_files {
            ip_files.push(parse_ip_entries(p, &read(p)?)?);
        }
        let mut domain_files = Vec::new();
        for p in &config.domain_files {
            domain_files.push(parse_domain_entries(p, &read(p)?)?);
        }
        let mut d = BlocklistDetector {
            alerted: Dedup::new(config.max_tracked),
            config,
            ips: IpList::default(),
            domains: DomainList::default(),
            ip_files,
            domain_files,
            inline_ips: Vec::new(),
            inline_domains: Vec::new(),
        };
        d.rebuild();
        Ok(d)
    }

    /// Adds list text that does not come from a configured file (kept across reloads).
    pub fn add_inline(
        &mut self,
        source: &str,
        ip_text: &str,
        domain_text: &str,
    ) -> Result<(), BlocklistError> {
        let ips = parse_ip_entries(Path::new(source), ip_text)?;
        let domains = parse_domain_entries(Path::new(source), domain_text)?;
        self.inline_ips.extend(ips);
        self.inline_domains.extend(domains);
        self.rebuild();
        Ok(())
    }

    /// Re-reads every file. A file that fails keeps its previous entries; the others are
    /// replaced. The errors say which files and lines failed.
    pub fn reload(&mut self) -> Result<(), Vec<BlocklistError>> {
        let mut errors = Vec::new();
        for (i, p) in self.config.ip_files.iter().enumerate() {
            match read(p).and_then(|t| parse_ip_entries(p, &t)) {
                Ok(entries) => {
                    if let Some(slot) = self.ip_files.get_mut(i) {
                        *slot = entries;
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (i, p) in self.config.domain_files.iter().enumerate() {
            match read(p).and_then(|t| parse_domain_entries(p, &t)) {
                Ok(entries) => {
                    if let Some(slot) = self.domain_files.get_mut(i) {
                        *slot = entries;
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        self.rebuild();
        for e in &errors {
            tracing::warn!(error = %e, "block list reload kept the previous entries");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn rebuild(&mut self) {
        let ips = self
            .ip_files
            .iter()
            .flatten()
            .chain(&self.inline_ips)
            .cloned()
            .collect();
        self.ips = IpList::build(ips);
        let domains = self
            .domain_files
            .iter()
            .flatten()
            .chain(&self.inline_domains)
            .cloned()
            .collect();
        self.domains = DomainList::build(domains);
    }

    /// Entries loaded: (address lines, domains).
    pub fn sizes(&self) -> (usize, usize) {
        (self.ips.len(), self.domains.len())
    }

    pub fn ip_list(&self) -> &IpList {
        &self.ips
    }

    pub fn domain_list(&self) -> &DomainList {
        &self.domains
    }

    fn period(&self) -> u64 {
        self.config.dedupe_secs.saturating_mul(SECOND_US)
    }

    pub fn on_flow(
        &mut self,
        flow: &FlowRecord,
        name: Option<&str>,
        home: &HomeNet,
        out: &mut Vec<Finding>,
    ) {
        if !self.config.enabled {
            return;
        }
        let t = flow.start_us;
        let answered = flow.state.answered();
        if let Some(entry) = self.ips.lookup(flow.dst).map(str::to_string) {
            if self
                .alerted
                .allow((flow.src, flow.dst.to_string().into()), t, self.period())
            {
                let severity = match (home.contains(flow.src), answered) {
                    (true, true) => Severity::High,
                    _ => Severity::Medium,
                };
                let verb_en = if answered {
                    "connected to"
                } else {
                    "tried to connect to"
                };
                let verb_ja = if answered {
                    "と通信しました"
                } else {
                    "への接続を試みました"
                };
                out.push(Finding {
                    code: "ids.blocklist_ip",
                    severity,
                    time_us: t,
                    src: flow.src,
                    src_port: Some(flow.sport),
                    dst: Some(flow.dst),
                    dst_port: Some(flow.dport),
                    host: name.map(str::to_string),
                    summary_en: format!(
                        "{} {verb_en} {}, which is on the block list ({entry}). Check that host and block the address.",
                        who_en(flow.src, home),
                        flow.dst
                    ),
                    summary_ja: format!(
                        "{} がブロックリストに載っている {} {verb_ja}（{entry}）。端末を確認し、通信の遮断を検討してください。",
                        who_ja(flow.src, home),
                        flow.dst
                    ),
                    evidence: serde_json::json!({
                        "listed": flow.dst,
                        "direction": "to_listed",
                        "entry": entry,
                        "state": flow.state,
                        "proto": flow.proto,
                        "bytes_to_server": flow.bytes_to_server,
                        "bytes_to_client": flow.bytes_to_client,
                        "server_name": name,
                    }),
                });
            }
        }
        if let Some(entry) = self.ips.lookup(flow.src).map(str::to_string) {
            if self
                .alerted
                .allow((flow.dst, flow.src.to_string().into()), t, self.period())
            {
                let severity = if answered {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                let (en, ja) = if answered {
                    ("reached", "に接続し、応答を得ました")
                } else {
                    ("tried to reach", "への接続を試みました（応答なし）")
                };
                out.push(Finding {
                    code: "ids.blocklist_ip",
                    severity,
                    time_us: t,
                    src: flow.src,
                    src_port: Some(flow.sport),
                    dst: Some(flow.dst),
                    dst_port: Some(flow.dport),
                    host: None,
                    summary_en: format!(
                        "Block-listed address {} {en} {} port {} ({entry}).",
                        flow.src, flow.dst, flow.dport
                    ),
                    summary_ja: format!(
                        "ブロックリストに載っている {} が {} のポート {} {ja}（{entry}）。",
                        flow.src, flow.dst, flow.dport
                    ),
                    evidence: serde_json::json!({
                        "listed": flow.src,
                        "direction": "from_listed",
                        "entry": entry,
                        "state": flow.state,
                        "proto": flow.proto,
                        "bytes_to_server": flow.bytes_to_server,
                        "bytes_to_client": flow.bytes_to_client,
                    }),
                });
            }
        }
        if let Some(name) = flow.server_name.as_deref() {
            self.on_name(t, flow.src, flow.dst, name, out);
        }
    }

    /// A DNS query for a listed domain.
    pub fn on_dns(&mut self, time_us: u64, client: IpAddr, query: &str, out: &mut Vec<Finding>) {
        self.name_hit(time_us, client, None, query, true, out);
    }

    /// A TLS SNI or HTTP Host of a listed domain.
    pub fn on_name(
        &mut self,
        time_us: u64,
        client: IpAddr,
        server: IpAddr,
        name: &str,
        out: &mut Vec<Finding>,
    ) {
        self.name_hit(time_us, client, Some(server), name, false, out);
    }

    fn name_hit(
        &mut self,
        time_us: u64,
        client: IpAddr,
        server: Option<IpAddr>,
        name: &str,
        dns: bool,
        out: &mut Vec<Finding>,
    ) {
        if !self.config.enabled {
            return;
        }
        let Some((listed, origin)) = self.domains.lookup(name) else {
            return;
        };
        let (listed, origin) = (listed.to_string(), origin.to_string());
        let period = self.period();
        if !self
            .alerted
            .allow((client, listed.as_str().into()), time_us, period)
        {
            return;
        }
        let name = normalize_name(name);
        let (en, ja, severity) = if dns {
            ("looked up", "を名前解決しました", Severity::Medium)
        } else {
            ("connected to", "に接続しました", Severity::High)
        };
        out.push(Finding {
            code: "ids.blocklist_domain",
            severity,
            time_us,
            src: client,
            src_port: None,
            dst: server,
            dst_port: None,
            host: Some(name.clone()),
            summary_en: format!(
                "Host {client} {en} {name}, which is on the domain block list ({listed}, {origin}). \
                 Check that host for malware or phishing."
            ),
            summary_ja: format!(
                "{client} がブロックリストに載っているドメイン {name} {ja}（登録: {listed}、{origin}）。\
                 端末のマルウェア感染やフィッシングを確認してください。"
            ),
            evidence: serde_json::json!({
                "name": name,
                "listed": listed,
                "entry": origin,
                "seen_in": if dns { "dns" } else { "server_name" },
                "server": server,
            }),
        });
    }

    pub fn tick(&mut self, now_us: u64) {
        let period = self.period();
        self.alerted.forget_older_than(now_us, period);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::FlowEnd;
    use super::*;

    #[test]
    fn addresses_and_ranges_match_v4_and_v6() {
        let list = IpList::parse(
            "bad.txt",
            "# feed\n203.0.113.0/24 ; SBL1\n198.51.100.7\n2001:db8:bad::/48\n\n203.0.113.128/25\n",
        )
        .expect("parse");
        assert_eq!(list.len(), 4);
        assert_eq!(
            list.lookup(ip("203.0.113.200")),
            Some("203.0.113.0/24 (bad.txt:2)")
        );
        assert!(list.lookup(ip("198.51.100.7")).is_some());
        assert!(list.lookup(ip("198.51.100.8")).is_none());
        assert!(list.lookup(ip("2001:db8:bad:1::1")).is_some());
        assert!(list.lookup(ip("2001:db8:bae::1")).is_none());
        assert!(list.lookup(ip("1.1.1.1")).is_none());
        assert!(IpList::default().lookup(ip("1.1.1.1")).is_none());
    }

    #[test]
    fn nested_and_adjacent_ranges_merge() {
        let list =
            IpList::parse("l", "10.0.0.0/8\n10.1.0.0/16\n11.0.0.0/8\n12.0.0.1\n").expect("parse");
        assert_eq!(list.v4.len(), 2);
        assert!(list.lookup(ip("11.255.255.255")).is_some());
        assert!(list.lookup(ip("12.0.0.0")).is_none());
    }

    #[test]
    fn a_listed_domain_matches_its_subdomains_only() {
        let list = DomainList::parse(
            "d.txt",
            "evil.example\n*.tracker.test # wildcard\n0.0.0.0 ads.example other.example\n",
        )
        .expect("parse");
        assert_eq!(
            list.lookup("evil.example"),
            Some(("evil.example", "d.txt:1"))
        );
        assert_eq!(
            list.lookup("A.B.Evil.Example."),
            Some(("evil.example", "d.txt:1"))
        );
        assert!(list.lookup("notevil.example").is_none());
        assert!(list.lookup("x.tracker.test").is_some());
        assert!(list.lookup("other.example").is_some());
        assert!(list.lookup("example").is_none());
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let e = IpList::parse("bad.txt", "1.2.3.4\n1.2.3.4/40\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad.txt:2: \"1.2.3.4/40\": prefix length must be 0 to 32"
        );
        let e = DomainList::parse("d.txt", "ok.example\nbad domain here\n").unwrap_err();
        assert!(e.to_string().starts_with("d.txt:2: "), "{e}");
        let e = DomainList::parse("d.txt", "10.0.0.1\n").unwrap_err();
        assert!(e.to_string().contains("address list"), "{e}");
    }

    #[test]
    fn flows_queries_and_names_are_reported_once_per_hour() {
        let mut d = BlocklistDetector::load(BlocklistConfig::default()).expect("load");
        d.add_inline("inline", "203.0.113.0/24\n", "evil.example\n")
            .expect("inline");
        let home = HomeNet::default();
        let mut out = Vec::new();
        let f = flow(
            "192.168.1.5",
            "203.0.113.9",
            443,
            1000,
            FlowEnd::Established,
        );
        d.on_flow(&f, None, &home, &mut out);
        d.on_flow(&f, None, &home, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, "ids.blocklist_ip");
        assert_eq!(out[0].severity, Severity::High);
        d.on_dns(
            1_000 * SECOND_US,
            ip("192.168.1.5"),
            "www.evil.example",
            &mut out,
        );
        d.on_dns(
            1_001 * SECOND_US,
            ip("192.168.1.5"),
            "cdn.evil.example",
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].code, "ids.blocklist_domain");
        let later = flow(
            "192.168.1.5",
            "203.0.113.9",
            443,
            1000 + 3601,
            FlowEnd::Established,
        );
        d.on_flow(&later, None, &home, &mut out);
        assert_eq!(out.len(), 3);
        // Inbound from a listed address.
        let inbound = flow(
            "203.0.113.50",
            "192.168.1.10",
            3389,
            5000,
            FlowEnd::Rejected,
        );
        d.on_flow(&inbound, None, &home, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3].evidence["direction"], "from_listed");
        assert_eq!(out[3].severity, Severity::Low);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let config = BlocklistConfig {
            ip_files: vec![PathBuf::from("/nonexistent/mamori-ips.txt")],
            ..BlocklistConfig::default()
        };
        let e = BlocklistDetector::load(config).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("/nonexistent/mamori-ips.txt")));
    }

    #[test]
    fn subdomain_helper() {
        assert!(is_same_or_subdomain("a.b.example", "b.example"));
        assert!(is_same_or_subdomain("b.example", "*.b.example"));
        assert!(!is_same_or_subdomain("ab.example", "b.example"));
    }
}
