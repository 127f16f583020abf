//! The crate's one error type.

use std::net::IpAddr;

use crate::IpNet;

/// What went wrong turning response actions into firewall state.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// A network in CIDR notation that does not parse or has host bits set.
    #[error("invalid network {input:?}: {reason}")]
    InvalidNet { input: String, reason: String },

    /// A domain name that DNS (or this crate's matcher) cannot hold.
    #[error("invalid domain {input:?}: {reason}")]
    InvalidDomain { input: String, reason: String },

    /// A table or namespace name that is not a plain identifier.
    #[error("invalid {what} name {input:?}: {reason}")]
    InvalidName {
        what: &'static str,
        input: String,
        reason: &'static str,
    },

    /// A time-to-live the kernel cannot hold.
    #[error("invalid ttl {ttl:?}: {reason}")]
    InvalidTtl {
        ttl: std::time::Duration,
        reason: &'static str,
    },

    /// The kernel keeps blocked networks as non-overlapping intervals, each with its own
    /// expiry, so a network inside (or around) an already blocked one cannot be added.
    #[error("{net} overlaps {existing}, which is already blocked; revoke {existing} first or block a network that does not overlap it")]
    Overlap { net: IpNet, existing: IpNet },

    /// Blocking this network would also cut the console off (it holds an allow-listed
    /// address), locking the admin out of the gateway.
    #[error(
        "refusing to block {net}: it contains {allowed}, which the console is reached through"
    )]
    WouldLockOut { net: IpNet, allowed: IpAddr },

    /// A program (`nft`, `ip`) is not installed.
    #[error("{program} not found: install the {package} package")]
    NotFound {
        program: &'static str,
        package: &'static str,
    },

    /// The configured network namespace does not exist (`ip netns add` it first).
    #[error("network namespace {netns:?} not found: {stderr}")]
    NoNamespace { netns: String, stderr: String },

    /// The kernel refused: nft needs CAP_NET_ADMIN (root) to read or change rules.
    #[error(
        "nft needs CAP_NET_ADMIN (run as root or grant the capability) while {doing}: {stderr}"
    )]
    NotPermitted { doing: String, stderr: String },

    /// Starting or talking to a program failed.
    #[error("running {program} while {doing}: {source}")]
    Spawn {
        program: &'static str,
        doing: String,
        source: std::io::Error,
    },

    /// nft (or `ip netns exec`) ran and reported an error.
    #[error("nft failed while {doing}: {stderr}")]
    Nft { doing: String, stderr: String },

    /// nft's JSON listing did not have the shape this crate writes.
    #[error("reading nft's listing of table {table}: {reason}")]
    Listing { table: String, reason: String },
}
