//! Mamori's response actions, applied with nftables on Linux.
//!
//! Three actions an analyst takes from an incident: block an IP address or network, block
//! a domain, isolate a host. This crate turns them into state in one `inet` nftables table
//! (`mamori` by default) and reads that state back. It does not keep the audit trail or
//! the list of actions (who, when, why, ids): that is the store's and the console's job,
//! which call [`Firewall::apply`] and [`Firewall::revoke`] as actions are taken and
//! withdrawn, and [`Firewall::sync`] with the active ones after a restart.
//!
//! ```no_run
//! use std::time::Duration;
//! use mamori_respond::{Action, Firewall, FirewallConfig};
//!
//! let fw = Firewall::new(FirewallConfig {
//!     isolate_allow: vec!["192.168.1.1".parse()?], // the console
//!     ..FirewallConfig::default()
//! })?;
//! fw.available()?; // "nft not found" / "needs CAP_NET_ADMIN"
//! fw.apply(&Action::BlockNet { net: "203.0.113.0/24".parse()?, ttl: Some(Duration::from_secs(3600)) })?;
//! fw.apply(&Action::Isolate { host: "192.168.1.23".parse()?, ttl: None })?;
//! fw.apply(&Action::BlockDomain { domain: "c2.example".into(), ttl: None })?;
//! for action in fw.list()? {
//!     println!("{action}"); // with the time each has left
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What each action does
//!
//! - **Block a network**: packets from or to it are dropped in the `input`, `forward` and
//!   `output` hooks, established connections included. Hosts and networks are kept in
//!   separate sets, so a host inside a blocked network can be blocked on its own; two
//!   overlapping networks cannot both be blocked (the kernel's interval sets forbid it) and
//!   the second is refused with [`RespondError::Overlap`]. A network that holds a console
//!   address is refused ([`RespondError::WouldLockOut`]).
//! - **Block a domain**: DNS queries for exactly that name (over UDP, dropped; over TCP,
//!   reset) are stopped wherever they pass the gateway, by matching the question name at
//!   its fixed place in the packet, ignoring letter case. Subdomains are not included
//!   (block each name), nor are DNS-over-TLS/HTTPS, a TCP query split across segments or
//!   the second query on a reused TCP connection. Sinkholing (answering with a safe
//!   address) is the DNS engine's job; this only makes the lookup fail.
//! - **Isolate a host**: it may only talk to the `isolate_allow` addresses (the console),
//!   send DNS queries and get their answers (if `allow_dns`), and keep its address (DHCP,
//!   IPv6 neighbour discovery). Everything else from or to it is dropped, established
//!   connections included.
//!
//! A TTL makes an action end by itself: set elements get a kernel timeout, domain rules a
//! `meta time` bound (the rule stays, inert, until the next change clears it). TTLs count
//! in whole seconds, rounded up, up to ten years.
//!
//! The table only drops; what it lets through is still judged by any other firewall on
//! the machine. Its base chains run at priority `filter - 10`, before the usual filters.
//! See the `script` module source for the exact layout.
//!
//! # Running nft
//!
//! Every change is one `nft -f -` transaction (script on stdin, never a shell), every
//! read `nft -j list table`; with [`FirewallConfig::netns`] set they run under
//! `ip netns exec`. Inputs are validated before they reach a script: networks by type,
//! domains to letters/digits/hyphens, table and namespace names to plain characters.
//! Needs CAP_NET_ADMIN, the `nftables` package (nft with JSON support) and, for a
//! namespace, `iproute2`; domain blocking needs the `@ih` payload base (Linux 5.16,
//! nftables 1.0.1 or later). The caller serialises calls on one table.
//!
//! [`Firewall::ensure_script`] and [`Firewall::sync_script`] give the scripts without
//! running them, for `--dry-run`.

mod domain;
mod error;
mod firewall;
mod listing;
mod net;
mod nft;
mod script;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub use domain::validate_domain;
pub use error::RespondError;
pub use firewall::{Firewall, FirewallConfig};
pub use net::IpNet;
pub use script::MAX_TTL;

/// A response action. `ttl`: how long it stays in effect from when it is applied; `None`
/// for until revoked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Drop all traffic from or to an address or network.
    BlockNet { net: IpNet, ttl: Option<Duration> },
    /// Drop DNS queries for exactly this name (case-insensitive; a trailing dot is fine).
    BlockDomain {
        domain: String,
        ttl: Option<Duration>,
    },
    /// Cut a host off from everything but the console, DNS and its own addressing.
    Isolate { host: IpAddr, ttl: Option<Duration> },
}

impl Action {
    /// The action's time to live.
    pub fn ttl(&self) -> Option<Duration> {
        match self {
            Action::BlockNet { ttl, .. }
            | Action::BlockDomain { ttl, .. }
            | Action::Isolate { ttl, .. } => *ttl,
        }
    }
}

impl fmt::Display for Action {
    /// `block 203.0.113.0/24 for 3600s`, `block domain c2.example`, `isolate 10.0.0.7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::BlockNet { net, .. } => write!(f, "block {net}")?,
            Action::BlockDomain { domain, .. } => write!(f, "block domain {domain}")?,
            Action::Isolate { host, .. } => write!(f, "isolate {host}")?,
        }
        match self.ttl() {
            Some(ttl) => write!(
                f,
                " for {}s",
                script::ttl_secs(ttl).unwrap_or(ttl.as_secs())
            ),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_what_they_do() {
        let block = Action::BlockNet {
            net: "203.0.113.0/24".parse().unwrap(),
            ttl: Some(Duration::from_millis(2500)),
        };
        assert_eq!(block.to_string(), "block 203.0.113.0/24 for 3s");
        let iso = Action::Isolate {
            host: "10.0.0.7".parse().unwrap(),
            ttl: None,
        };
        assert_eq!(iso.to_string(), "isolate 10.0.0.7");
        assert_eq!(iso.ttl(), None);
    }
}
