//! `Firewall`: applies, revokes, lists and re-syncs actions in one nftables table.
//!
//! Every change is one `nft -f -` transaction that starts by (re)declaring the table
//! layout (`script::ensure`), so an action can be applied to a machine where the table
//! was deleted or never made, and the fixed chains are repaired on the way. Reads go
//! through `nft -j list table`. The caller serialises calls: two processes changing the
//! same table at once can race between a read and the write that depends on it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::validate_domain;
use crate::listing::{self, Listing};
use crate::nft::Nft;
use crate::script::{self, BLOCK_DOMAIN};
use crate::{Action, IpNet, RespondError};

/// Where and how the firewall is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// The `inet` table's name: a letter, then letters, digits or `_` (at most 64).
    pub table: String,
    /// Run nft inside this named network namespace (`ip netns exec`); `None` for the
    /// namespace of the calling process.
    pub netns: Option<String>,
    /// What an isolated host may still reach and be reached from: the console's
    /// addresses (and the gateway's resolver, if `allow_dns` is off). Blocking a network
    /// that holds one of these is refused.
    pub isolate_allow: Vec<IpNet>,
    /// Let isolated hosts send DNS queries (UDP/TCP port 53) to any server and receive the
    /// answers. Blocked domains stay blocked. Turn it off and put the gateway's resolver
    /// in `isolate_allow` to keep the host from using port 53 to anyone else.
    pub allow_dns: bool,
}

impl Default for FirewallConfig {
    fn default() -> FirewallConfig {
        FirewallConfig {
            table: "mamori".into(),
            netns: None,
            isolate_allow: Vec::new(),
            allow_dns: true,
        }
    }
}

/// One nftables table holding the active response actions.
#[derive(Debug, Clone)]
pub struct Firewall {
    config: FirewallConfig,
    nft: Nft,
}

impl Firewall {
    /// Checks the names and the allow-list; touches nothing in the kernel.
    pub fn new(config: FirewallConfig) -> Result<Firewall, RespondError> {
        check_name("table", &config.table, true)?;
        if let Some(ns) = &config.netns {
            check_name("network namespace", ns, false)?;
        }
        if let Some((a, b)) = first_overlap(&config.isolate_allow) {
            return Err(RespondError::InvalidNet {
                input: b.to_string(),
                reason: format!("overlaps {a}, also in the isolation allow-list"),
            });
        }
        let nft = Nft::new(config.netns.clone());
        Ok(Firewall { config, nft })
    }

    /// The configuration this firewall was made with.
    pub fn config(&self) -> &FirewallConfig {
        &self.config
    }

    /// Whether nft can be used here: installed (`NotFound`) and permitted to read the
    /// ruleset (`NotPermitted`: it needs CAP_NET_ADMIN).
    pub fn available(&self) -> Result<(), RespondError> {
        self.nft
            .run(&["list", "tables"], "", "checking that nft works")
            .map(|_| ())
    }

    /// Creates the table, its sets and chains if missing, and rewrites the fixed rules and
    /// the allow-list. Idempotent; active actions are kept.
    pub fn ensure(&self) -> Result<(), RespondError> {
        self.nft
            .script(&self.ensure_script(), "creating the table")?;
        tracing::info!(table = %self.config.table, netns = ?self.config.netns, "response table ready");
        Ok(())
    }

    /// Puts an action into effect. Applying one that is already active replaces its TTL.
    pub fn apply(&self, action: &Action) -> Result<(), RespondError> {
        let action = self.check(action)?;
        let table = &self.config.table;
        let mut s = self.ensure_script();
        match &action {
            Action::BlockNet { net, ttl } => {
                let set = script::net_set(net);
                if !net.is_host() {
                    self.check_no_overlap(net, set)?;
                }
                s.push_str(&script::add_element(table, set, &net.to_string(), *ttl)?);
            }
            Action::Isolate { host, ttl } => {
                let set = script::isolated_set(*host);
                s.push_str(&script::add_element(table, set, &host.to_string(), *ttl)?);
            }
            Action::BlockDomain { domain, ttl } => {
                let now = unix_now();
                for d in &self.read()?.domains {
                    // Replace this domain's rules, and clear out rules whose time has passed.
                    if d.domain == *domain || d.until.is_some_and(|u| u <= now) {
                        s.push_str(&script::delete_rules(table, BLOCK_DOMAIN, &d.handles));
                    }
                }
                s.push_str(&script::domain_rules(
                    table,
                    domain,
                    domain_until(now, *ttl)?,
                ));
            }
        }
        self.nft.script(&s, &format!("applying {action}"))?;
        tracing::info!(table = %table, netns = ?self.config.netns, %action, "response action applied");
        Ok(())
    }

    /// Takes an action out of effect. One that is not active (never applied, expired,
    /// or the table is gone) is not an error. The TTL in `action` is ignored.
    pub fn revoke(&self, action: &Action) -> Result<(), RespondError> {
        let action = self.check_target(action)?;
        let Some(s) = self.revoke_script(&action, &self.read()?) else {
            tracing::debug!(%action, "nothing to revoke");
            return Ok(());
        };
        if let Err(e) = self.nft.script(&s, &format!("revoking {action}")) {
            // The element may have expired between reading and deleting.
            if self.revoke_script(&action, &self.read()?).is_some() {
                return Err(e);
            }
        }
        tracing::info!(table = %self.config.table, netns = ?self.config.netns, %action, "response action revoked");
        Ok(())
    }

    /// Makes the table hold exactly `active` (after a restart, or to repair drift), in one
    /// transaction. Each action's TTL counts from now: pass the time each has left; one
    /// with no time left is dropped. Duplicates keep the longest TTL. An action that cannot
    /// be applied (invalid, cutting the console off, a network overlapping one listed
    /// before it) is left out rather than failing the rest; those are returned with why.
    pub fn sync(&self, active: &[Action]) -> Result<Vec<(Action, RespondError)>, RespondError> {
        let (s, skipped) = self.sync_script(active);
        self.nft.script(&s, "syncing the active actions")?;
        for (action, reason) in &skipped {
            tracing::warn!(%action, %reason, "response action left out of sync");
        }
        tracing::info!(
            table = %self.config.table,
            netns = ?self.config.netns,
            actions = active.len().saturating_sub(skipped.len()),
            skipped = skipped.len(),
            "response actions synced"
        );
        Ok(skipped)
    }

    /// The script `sync` runs, for a dry run or a log, and the actions it leaves out.
    pub fn sync_script(&self, active: &[Action]) -> (String, Vec<(Action, RespondError)>) {
        let table = &self.config.table;
        let mut skipped = Vec::new();
        // One entry per target, keeping the longest TTL (None, no expiry, is longest).
        let mut wanted: HashMap<Target, Option<Duration>> = HashMap::new();
        let mut order = Vec::new();
        for action in active {
            if action.ttl().is_some_and(|t| t.is_zero()) {
                continue;
            }
            let checked = match self.check(action) {
                Ok(checked) => checked,
                Err(e) => {
                    skipped.push((action.clone(), e));
                    continue;
                }
            };
            let (target, ttl) = Target::of(checked);
            match wanted.get_mut(&target) {
                Some(kept) => {
                    if kept.is_some() && ttl.is_none_or(|t| kept.is_some_and(|k| t > k)) {
                        *kept = ttl;
                    }
                }
                None => {
                    order.push(target.clone());
                    wanted.insert(target, ttl);
                }
            }
        }

        let mut s = self.ensure_script();
        for set in script::ACTION_SETS {
            let _ = writeln!(s, "flush set inet {table} {set}");
        }
        let _ = writeln!(s, "flush chain inet {table} {BLOCK_DOMAIN}");
        let now = unix_now();
        let mut nets = Disjoint::default();
        for target in order {
            let ttl = wanted.get(&target).copied().flatten();
            let (set, elem) = match &target {
                Target::Net(net) => {
                    if !net.is_host() {
                        if let Err(existing) = nets.insert(*net) {
                            let reason = RespondError::Overlap {
                                net: *net,
                                existing,
                            };
                            skipped.push((target.action(ttl), reason));
                            continue;
                        }
                    }
                    (script::net_set(net), net.to_string())
                }
                Target::Host(host) => (script::isolated_set(*host), host.to_string()),
                Target::Domain(domain) => {
                    // check() has vetted the TTL, so this cannot fail.
                    if let Ok(until) = domain_until(now, ttl) {
                        s.push_str(&script::domain_rules(table, domain, until));
                    }
                    continue;
                }
            };
            if let Ok(elem) = script::element_text(&elem, ttl) {
                let _ = writeln!(s, "add element inet {table} {set} {{ {elem} }}");
            }
        }
        (s, skipped)
    }

    /// The script `ensure` runs, for a dry run or a log.
    pub fn ensure_script(&self) -> String {
        script::ensure(
            &self.config.table,
            &self.config.isolate_allow,
            self.config.allow_dns,
        )
    }

    /// Deletes the whole table (every action goes out of effect). A missing table is fine.
    pub fn remove(&self) -> Result<(), RespondError> {
        let table = &self.config.table;
        let s = format!("add table inet {table}\ndelete table inet {table}\n");
        self.nft.script(&s, "removing the table")?;
        tracing::info!(table = %table, netns = ?self.config.netns, "response table removed");
        Ok(())
    }

    /// The actions the kernel holds now, each with the time it has left as its TTL (whole
    /// seconds, at least one). Expired domain rules are left out. Empty without a table.
    pub fn list(&self) -> Result<Vec<Action>, RespondError> {
        let listing = self.read()?;
        let now = unix_now();
        let mut actions: Vec<Action> = listing
            .elements
            .into_iter()
            .map(|e| {
                if e.set == script::ISOLATED_V4 || e.set == script::ISOLATED_V6 {
                    Action::Isolate {
                        host: e.net.addr(),
                        ttl: e.remaining,
                    }
                } else {
                    Action::BlockNet {
                        net: e.net,
                        ttl: e.remaining,
                    }
                }
            })
            .collect();
        for d in listing.domains {
            let ttl = match d.until {
                Some(until) if until <= now => continue,
                Some(until) => Some(Duration::from_secs(until.abs_diff(now))),
                None => None,
            };
            actions.push(Action::BlockDomain {
                domain: d.domain,
                ttl,
            });
        }
        Ok(actions)
    }

    /// Reads the table; a missing table reads as empty.
    fn read(&self) -> Result<Listing, RespondError> {
        let table = &self.config.table;
        let args = ["-j", "list", "table", "inet", table];
        match self.nft.run(&args, "", "listing the table") {
            Ok(out) => listing::parse(&out.stdout, table),
            Err(RespondError::Nft { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(Listing::default())
            }
            Err(e) => Err(e),
        }
    }

    /// The script that revokes `action` given what the table holds; `None` if not there.
    fn revoke_script(&self, action: &Action, listing: &Listing) -> Option<String> {
        let table = &self.config.table;
        let (set, net) = match action {
            Action::BlockNet { net, .. } => (script::net_set(net), *net),
            Action::Isolate { host, .. } => (script::isolated_set(*host), IpNet::host(*host)),
            Action::BlockDomain { domain, .. } => {
                let d = listing.domains.iter().find(|d| d.domain == *domain)?;
                return Some(script::delete_rules(table, BLOCK_DOMAIN, &d.handles));
            }
        };
        listing
            .elements
            .iter()
            .any(|e| e.set == set && e.net == net)
            .then(|| script::delete_element(table, set, &net.to_string()))
    }

    /// Refuses a network that overlaps a different one already in `set`.
    fn check_no_overlap(&self, net: &IpNet, set: &str) -> Result<(), RespondError> {
        let listing = self.read()?;
        match listing
            .elements
            .iter()
            .find(|e| e.set == set && e.net != *net && e.net.overlaps(net))
        {
            Some(e) => Err(RespondError::Overlap {
                net: *net,
                existing: e.net,
            }),
            None => Ok(()),
        }
    }

    /// Validates an action for applying: the target, its TTL, and that it would not cut
    /// the console off. Returns it with the domain in canonical form.
    fn check(&self, action: &Action) -> Result<Action, RespondError> {
        let action = self.check_target(action)?;
        if let Some(ttl) = action.ttl() {
            script::ttl_secs(ttl)?;
        }
        if let Action::BlockNet { net, .. } = &action {
            if let Some(allowed) = self.config.isolate_allow.iter().find(|a| a.overlaps(net)) {
                return Err(RespondError::WouldLockOut {
                    net: *net,
                    allowed: allowed.addr(),
                });
            }
        }
        Ok(action)
    }

    /// Validates what an action names (networks and hosts are valid by type).
    fn check_target(&self, action: &Action) -> Result<Action, RespondError> {
        Ok(match action {
            Action::BlockDomain { domain, ttl } => Action::BlockDomain {
                domain: validate_domain(domain)?,
                ttl: *ttl,
            },
            other => other.clone(),
        })
    }
}

/// What an action acts on, without its TTL: the key `sync` de-duplicates by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Net(IpNet),
    Host(IpAddr),
    Domain(String),
}

impl Target {
    fn action(&self, ttl: Option<Duration>) -> Action {
        match self {
            Target::Net(net) => Action::BlockNet { net: *net, ttl },
            Target::Host(host) => Action::Isolate { host: *host, ttl },
            Target::Domain(domain) => Action::BlockDomain {
                domain: domain.clone(),
                ttl,
            },
        }
    }

    fn of(action: Action) -> (Target, Option<Duration>) {
        match action {
            Action::BlockNet { net, ttl } => (Target::Net(net), ttl),
            Action::Isolate { host, ttl } => (Target::Host(host), ttl),
            Action::BlockDomain { domain, ttl } => (Target::Domain(domain), ttl),
        }
    }
}

/// Networks that do not overlap, as the kernel's interval sets require.
#[derive(Default)]
struct Disjoint {
    /// (is IPv4, first address) → (last address, network).
    ranges: BTreeMap<(bool, u128), (u128, IpNet)>,
}

impl Disjoint {
    /// Adds `net`, or returns a network already held that it overlaps.
    fn insert(&mut self, net: IpNet) -> Result<(), IpNet> {
        let v4 = net.is_ipv4();
        let (first, last) = net.range();
        // CIDR blocks nest or are apart, so only the neighbours on either side can clash.
        let before = self.ranges.range(..=(v4, first)).next_back();
        let after = self.ranges.range((v4, first)..).next();
        for (&(other_v4, other_first), &(other_last, other)) in before.into_iter().chain(after) {
            if other_v4 == v4 && other_first <= last && first <= other_last {
                return Err(other);
            }
        }
        self.ranges.insert((v4, first), (last, net));
        Ok(())
    }
}

/// The first network in `nets` that overlaps an earlier one, with that earlier one.
fn first_overlap(nets: &[IpNet]) -> Option<(IpNet, IpNet)> {
    let mut seen = Disjoint::default();
    nets.iter()
        .find_map(|n| seen.insert(*n).err().map(|earlier| (earlier, *n)))
}

/// When a domain block with this TTL ends, in Unix seconds.
fn domain_until(now: i64, ttl: Option<Duration>) -> Result<Option<i64>, RespondError> {
    ttl.map(|t| script::ttl_secs(t).map(|secs| now.saturating_add_unsigned(secs)))
        .transpose()
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A namespace name (a file under /run/netns) or a table name (an nft identifier): plain
/// characters only, so neither can change the meaning of a command or script.
fn check_name(what: &'static str, name: &str, identifier: bool) -> Result<(), RespondError> {
    let invalid = |reason| RespondError::InvalidName {
        what,
        input: name.chars().take(80).collect(),
        reason,
    };
    if name.is_empty() || name.len() > 64 {
        return Err(invalid("must be 1 to 64 characters"));
    }
    let ok =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || (!identifier && matches!(c, '-' | '.'));
    if !name.chars().all(ok) {
        return Err(invalid(if identifier {
            "only letters, digits and '_' are allowed"
        } else {
            "only letters, digits, '_', '-' and '.' are allowed"
        }));
    }
    let first = name.chars().next().unwrap_or('_');
    if identifier && !first.is_ascii_alphabetic() {
        return Err(invalid("must start with a letter"));
    }
    if !identifier && (first == '-' || first == '.') {
        return Err(invalid("must not start with '-' or '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn firewall(allow: &[&str]) -> Firewall {
        Firewall::new(FirewallConfig {
            isolate_allow: allow.iter().map(|a| net(a)).collect(),
            ..FirewallConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn names_that_could_inject_are_refused() {
        for (table, netns) in [
            ("mamori; flush ruleset", None),
            ("1table", None),
            ("", None),
            ("mamori", Some("../../etc")),
            ("mamori", Some("-n")),
            ("mamori", Some("gw ns")),
        ] {
            let cfg = FirewallConfig {
                table: table.into(),
                netns: netns.map(String::from),
                ..FirewallConfig::default()
            };
            assert!(Firewall::new(cfg).is_err(), "{table:?} {netns:?}");
        }
        let ok = FirewallConfig {
            table: "mamori_test".into(),
            netns: Some("mr-gw-123.a".into()),
            ..FirewallConfig::default()
        };
        assert!(Firewall::new(ok).is_ok());
    }

    #[test]
    fn overlapping_allow_list_is_refused() {
        let cfg = FirewallConfig {
            isolate_allow: vec![net("10.0.0.0/24"), net("10.0.0.1")],
            ..FirewallConfig::default()
        };
        assert!(matches!(
            Firewall::new(cfg),
            Err(RespondError::InvalidNet { .. })
        ));
    }

    #[test]
    fn finds_overlaps_between_nested_networks_only() {
        assert_eq!(
            first_overlap(&[net("10.0.0.0/24"), net("10.0.1.0/24")]),
            None
        );
        assert_eq!(
            first_overlap(&[net("10.2.0.0/16"), net("10.1.0.0/16"), net("10.0.0.0/8")]),
            Some((net("10.1.0.0/16"), net("10.0.0.0/8")))
        );
        assert_eq!(
            first_overlap(&[net("10.0.0.0/8"), net("11.0.0.0/8"), net("10.9.0.0/16")]),
            Some((net("10.0.0.0/8"), net("10.9.0.0/16")))
        );
        assert_eq!(first_overlap(&[net("10.0.0.0/8"), net("::/0")]), None);
        assert!(first_overlap(&[net("0.0.0.0/0"), net("255.255.255.255")]).is_some());
        assert!(first_overlap(&[net("2001:db8::/32"), net("2001:db8:1::/48")]).is_some());
    }

    #[test]
    fn blocking_the_console_network_is_refused() {
        let fw = firewall(&["10.0.0.1"]);
        let a = Action::BlockNet {
            net: net("10.0.0.0/24"),
            ttl: None,
        };
        assert!(matches!(
            fw.check(&a),
            Err(RespondError::WouldLockOut { .. })
        ));
        let (script, skipped) = fw.sync_script(&[a]);
        assert!(matches!(
            skipped.as_slice(),
            [(_, RespondError::WouldLockOut { .. })]
        ));
        assert!(!script.contains("10.0.0.0/24"));
    }

    #[test]
    fn sync_script_replaces_everything_and_keeps_the_longest_ttl() {
        let fw = firewall(&["10.0.0.1"]);
        let (s, skipped) = fw.sync_script(&[
            Action::BlockNet {
                net: net("192.0.2.0/24"),
                ttl: Some(Duration::from_secs(60)),
            },
            Action::BlockNet {
                net: net("192.0.2.0/24"),
                ttl: Some(Duration::from_secs(600)),
            },
            Action::Isolate {
                host: "10.0.0.9".parse().unwrap(),
                ttl: Some(Duration::from_secs(5)),
            },
            Action::Isolate {
                host: "10.0.0.9".parse().unwrap(),
                ttl: None,
            },
            Action::BlockDomain {
                domain: "C2.Example.".into(),
                ttl: None,
            },
            Action::BlockNet {
                net: net("198.51.100.0/24"),
                ttl: Some(Duration::ZERO),
            },
        ]);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert!(
            !s.contains("198.51.100.0/24"),
            "an expired action was restored"
        );
        assert!(s.contains("flush set inet mamori block_net_v4\n"));
        assert!(s.contains("flush set inet mamori isolated_v6\n"));
        assert!(s.contains("flush chain inet mamori block_domain\n"));
        assert!(s.contains("add element inet mamori block_net_v4 { 192.0.2.0/24 timeout 600s }\n"));
        assert!(!s.contains("timeout 60s"));
        assert!(s.contains("add element inet mamori isolated_v4 { 10.0.0.9 }\n"));
        assert!(s.contains("comment \"block-domain c2.example\""));
    }

    #[test]
    fn sync_leaves_out_a_network_overlapping_an_earlier_one() {
        let fw = firewall(&[]);
        let (s, skipped) = fw.sync_script(&[
            Action::BlockNet {
                net: net("198.51.100.0/24"),
                ttl: None,
            },
            Action::BlockNet {
                net: net("198.51.100.128/25"),
                ttl: None,
            },
            // A host inside a blocked network lives in its own set: no conflict.
            Action::BlockNet {
                net: net("198.51.100.7"),
                ttl: None,
            },
        ]);
        assert!(matches!(
            skipped.as_slice(),
            [(Action::BlockNet { .. }, RespondError::Overlap { .. })]
        ));
        assert!(s.contains("add element inet mamori block_net_v4 { 198.51.100.0/24 }"));
        assert!(!s.contains("198.51.100.128/25"));
        assert!(s.contains("add element inet mamori block_host_v4 { 198.51.100.7 }"));
    }

    #[test]
    fn invalid_domains_never_reach_a_script() {
        let fw = firewall(&[]);
        let a = Action::BlockDomain {
            domain: "x.example\"; flush ruleset; \"".into(),
            ttl: None,
        };
        let (script, skipped) = fw.sync_script(&[a]);
        assert!(matches!(
            skipped.as_slice(),
            [(_, RespondError::InvalidDomain { .. })]
        ));
        assert!(!script.contains("flush ruleset"));
    }
}
