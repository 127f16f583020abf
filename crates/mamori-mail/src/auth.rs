//! Sender authentication: SPF, DKIM, DMARC and ARC through the `mail-auth` crate.
//!
//! [`authenticate`] is the one async step of the mail engine: it looks up DNS records, so
//! the SMTP gateway runs it once per message (it needs the client's IP, HELO and MAIL FROM,
//! which only the SMTP session knows) and puts the [`AuthResults`] into the
//! [`CheckContext`](crate::CheckContext) for the synchronous [`crate::check`].
//!
//! DNS goes through a [`Resolver`]: [`Resolver::system`] uses `/etc/resolv.conf` with an
//! in-memory cache; [`Resolver::local`] answers only from a [`LocalZone`] given in code and
//! never sends a packet, so tests can publish SPF, DKIM and DMARC records for
//! `example.co.jp` and check pass and fail without touching the network. Names missing from
//! a local zone are answered as not existing.

use crate::Error;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::resolver::ToFqdn;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::{Dmarc, Policy as DmarcPolicy};
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::spf::Spf;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, DnsError, DnssecStatus, MessageAuthenticator,
    Parameters, RecordSet, ResolverCache, SpfResult, Txt, MX,
};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The outcome of one authentication method (RFC 8601 words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStatus {
    /// Not checked, or nothing to check (no record, no signature).
    #[default]
    None,
    Pass,
    Fail,
    SoftFail,
    Neutral,
    TempError,
    PermError,
}

impl AuthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::None => "none",
            AuthStatus::Pass => "pass",
            AuthStatus::Fail => "fail",
            AuthStatus::SoftFail => "softfail",
            AuthStatus::Neutral => "neutral",
            AuthStatus::TempError => "temperror",
            AuthStatus::PermError => "permerror",
        }
    }
}

/// SPF, DKIM, DMARC and ARC results for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthResults {
    pub spf: AuthStatus,
    /// The domain SPF was checked for (MAIL FROM's, or HELO's for bounces).
    pub spf_domain: String,
    /// Pass when any signature verifies; otherwise the first signature's result.
    pub dkim: AuthStatus,
    /// Signing domains (`d=`) of the signatures that verified.
    pub dkim_domains: Vec<String>,
    pub dmarc: AuthStatus,
    /// The From domain's published policy: `none`, `quarantine` or `reject`.
    pub dmarc_policy: Option<String>,
    /// The RFC 5322 From domain DMARC was evaluated for.
    pub from_domain: String,
    pub arc: AuthStatus,
}

/// A cache that `mail-auth` consults before DNS. In a local zone it is authoritative:
/// a miss answers `miss` instead of going to the network.
struct ZoneCache<K, V> {
    map: Mutex<HashMap<K, (V, Option<Instant>)>>,
    miss: Option<V>,
    max_entries: usize,
}

impl<K: Hash + Eq, V: Clone> ZoneCache<K, V> {
    fn new(miss: Option<V>) -> Self {
        ZoneCache {
            map: Mutex::new(HashMap::new()),
            miss,
            max_entries: 50_000,
        }
    }

    fn put(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, (value, None));
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for ZoneCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(name) {
            Some((v, until)) if until.is_none_or(|t| t > Instant::now()) => Some(v.clone()),
            _ => self.miss.clone(),
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max_entries {
            map.clear();
        }
        map.insert(key, (value, Some(valid_until)));
    }
}

struct Caches {
    txt: ZoneCache<Box<str>, Txt>,
    mx: ZoneCache<Box<str>, RecordSet<MX>>,
    ipv4: ZoneCache<Box<str>, RecordSet<Ipv4Addr>>,
    ipv6: ZoneCache<Box<str>, RecordSet<Ipv6Addr>>,
    ptr: ZoneCache<IpAddr, RecordSet<Box<str>>>,
}

fn empty<T>() -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(Vec::new().into_boxed_slice()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

fn set<T>(items: Vec<T>) -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(items.into_boxed_slice()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

impl Caches {
    fn new(authoritative: bool) -> Caches {
        let not_found = || {
            Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
                ResponseCode::NXDomain,
            )))
        };
        Caches {
            txt: ZoneCache::new(authoritative.then(not_found)),
            mx: ZoneCache::new(authoritative.then(empty)),
            ipv4: ZoneCache::new(authoritative.then(empty)),
            ipv6: ZoneCache::new(authoritative.then(empty)),
            ptr: ZoneCache::new(authoritative.then(empty)),
        }
    }
}

/// DNS records given in code, for tests and offline checks.
#[derive(Debug, Clone, Default)]
pub struct LocalZone {
    txt: Vec<(String, String)>,
    a: Vec<(String, Ipv4Addr)>,
    aaaa: Vec<(String, Ipv6Addr)>,
    mx: Vec<(String, u16, String)>,
    ptr: Vec<(IpAddr, String)>,
}

impl LocalZone {
    pub fn new() -> LocalZone {
        LocalZone::default()
    }

    /// A TXT record: SPF (`v=spf1 …`), a DKIM key at `selector._domainkey.domain`, or a
    /// DMARC policy at `_dmarc.domain`.
    pub fn txt(mut self, name: &str, value: &str) -> LocalZone {
        self.txt.push((name.into(), value.into()));
        self
    }

    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> LocalZone {
        self.a.push((name.into(), ip));
        self
    }

    pub fn aaaa(mut self, name: &str, ip: Ipv6Addr) -> LocalZone {
        self.aaaa.push((name.into(), ip));
        self
    }

    pub fn mx(mut self, name: &str, preference: u16, exchange: &str) -> LocalZone {
        self.mx.push((name.into(), preference, exchange.into()));
        self
    }

    pub fn ptr(mut self, ip: IpAddr, name: &str) -> LocalZone {
        self.ptr.push((ip, name.into()));
        self
    }
}

fn key(name: &str) -> Box<str> {
    name.to_fqdn().into_owned().into_boxed_str()
}

fn parse_txt(name: &str, value: &str) -> Txt {
    let lname = name.to_ascii_lowercase();
    if lname.starts_with("_dmarc.") {
        Txt::from(Dmarc::parse(value.as_bytes()))
    } else if lname.contains("._domainkey.") {
        Txt::from(DomainKey::parse(value.as_bytes()))
    } else if value
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("v=spf1")
    {
        Txt::from(Spf::parse(value.as_bytes()))
    } else {
        Txt::Error(mail_auth::Error::Dns(DnsError::InvalidRecordType))
    }
}

/// The DNS side of authentication.
pub struct Resolver {
    authenticator: MessageAuthenticator,
    caches: Caches,
    /// This gateway's host name, for SPF macros.
    host_name: String,
}

impl Resolver {
    /// The system's resolvers (`/etc/resolv.conf`), with a cache.
    pub fn system() -> Result<Resolver, Error> {
        let authenticator = MessageAuthenticator::new_system_conf().map_err(|e| {
            Error::Resolver(format!("reading the system resolver configuration: {e}"))
        })?;
        Ok(Resolver::with_authenticator(authenticator))
    }

    /// A resolver the caller configured (other servers, options).
    pub fn with_authenticator(authenticator: MessageAuthenticator) -> Resolver {
        Resolver {
            authenticator,
            caches: Caches::new(false),
            host_name: "mamori.localhost".into(),
        }
    }

    /// Answers only from `zone`; no query ever leaves the process.
    pub fn local(zone: LocalZone) -> Result<Resolver, Error> {
        let authenticator = MessageAuthenticator::new(
            ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
            ResolverOpts::default(),
        )
        .map_err(|e| Error::Resolver(format!("building the local resolver: {e}")))?;
        let caches = Caches::new(true);
        for (name, value) in &zone.txt {
            caches.txt.put(key(name), parse_txt(name, value));
        }
        let mut a: HashMap<Box<str>, Vec<Ipv4Addr>> = HashMap::new();
        for (name, ip) in &zone.a {
            a.entry(key(name)).or_default().push(*ip);
        }
        for (k, v) in a {
            caches.ipv4.put(k, set(v));
        }
        let mut aaaa: HashMap<Box<str>, Vec<Ipv6Addr>> = HashMap::new();
        for (name, ip) in &zone.aaaa {
            aaaa.entry(key(name)).or_default().push(*ip);
        }
        for (k, v) in aaaa {
            caches.ipv6.put(k, set(v));
        }
        let mut mx: HashMap<Box<str>, Vec<MX>> = HashMap::new();
        for (name, preference, exchange) in &zone.mx {
            mx.entry(key(name)).or_default().push(MX {
                exchanges: vec![key(exchange)].into_boxed_slice(),
                preference: *preference,
            });
        }
        for (k, v) in mx {
            caches.mx.put(k, set(v));
        }
        let mut ptr: HashMap<IpAddr, Vec<Box<str>>> = HashMap::new();
        for (ip, name) in &zone.ptr {
            ptr.entry(*ip).or_default().push(key(name));
        }
        for (k, v) in ptr {
            caches.ptr.put(k, set(v));
        }
        Ok(Resolver {
            authenticator,
            caches,
            host_name: "mamori.localhost".into(),
        })
    }

    /// The hosts that take mail for `domain`, best first: its MX hosts by preference, or the
    /// domain itself when it has none (RFC 5321 section 5.1). A null MX (`.`) means none.
    pub async fn mail_exchangers(&self, domain: &str) -> Vec<String> {
        match self
            .authenticator
            .mx_lookup(domain, Some(&self.caches.mx))
            .await
        {
            Ok(mxs) => {
                let mut list: Vec<(u16, String)> = mxs
                    .rrset
                    .iter()
                    .flat_map(|mx| {
                        mx.exchanges
                            .iter()
                            .map(move |h| (mx.preference, h.trim_end_matches('.').to_string()))
                    })
                    .filter(|(_, h)| !h.is_empty())
                    .collect();
                list.sort();
                list.into_iter().map(|(_, h)| h).collect()
            }
            Err(_) => vec![domain.to_string()],
        }
    }

    /// Sets the host name used in SPF macro expansion.
    pub fn host_name(mut self, name: &str) -> Resolver {
        self.host_name = name.to_string();
        self
    }
}

/// Checks SPF (for `mail_from`, or `helo` when MAIL FROM is empty), every DKIM signature,
/// the ARC chain, and DMARC for the From domain.
pub async fn authenticate(
    raw: &[u8],
    client_ip: IpAddr,
    helo: &str,
    mail_from: &str,
    resolver: &Resolver,
) -> AuthResults {
    let c = &resolver.caches;
    macro_rules! params {
        ($p:expr) => {
            Parameters::new($p)
                .with_txt_cache(&c.txt)
                .with_mx_cache(&c.mx)
                .with_ipv4_cache(&c.ipv4)
                .with_ipv6_cache(&c.ipv6)
                .with_ptr_cache(&c.ptr)
        };
    }
    let auth = &resolver.authenticator;
    let mail_from = mail_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let spf_params = if mail_from.contains('@') {
        SpfParameters::verify_mail_from(client_ip, helo, &resolver.host_name, mail_from)
    } else {
        SpfParameters::verify_ehlo(client_ip, helo, &resolver.host_name)
    };
    let spf = auth.verify_spf(params!(spf_params)).await;
    let mut results = AuthResults {
        spf: match spf.result() {
            SpfResult::Pass => AuthStatus::Pass,
            SpfResult::Fail => AuthStatus::Fail,
            SpfResult::SoftFail => AuthStatus::SoftFail,
            SpfResult::Neutral => AuthStatus::Neutral,
            SpfResult::TempError => AuthStatus::TempError,
            SpfResult::PermError => AuthStatus::PermError,
            SpfResult::None => AuthStatus::None,
        },
        spf_domain: spf.domain().to_string(),
        ..AuthResults::default()
    };
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return results;
    };
    let dkim = auth.verify_dkim(params!(&message)).await;
    let statuses: Vec<AuthStatus> = dkim.iter().map(|d| dkim_status(d.result())).collect();
    results.dkim = if statuses.contains(&AuthStatus::Pass) {
        AuthStatus::Pass
    } else {
        statuses.first().copied().unwrap_or(AuthStatus::None)
    };
    results.dkim_domains = dkim
        .iter()
        .filter(|d| matches!(d.result(), DkimResult::Pass))
        .filter_map(|d| d.signature().map(|s| s.d.to_lowercase()))
        .collect();
    let arc = auth.verify_arc(params!(&message)).await;
    results.arc = if arc.sets().is_empty() {
        AuthStatus::None
    } else {
        dkim_status(arc.result())
    };
    let mail_from_domain = mail_from
        .rsplit_once('@')
        .map_or(helo, |(_, d)| d)
        .to_string();
    let dmarc = auth
        .verify_dmarc(params!(DmarcParameters::new(
            &message,
            &dkim,
            &mail_from_domain,
            &spf
        )))
        .await;
    results.from_domain = dmarc.domain().to_string();
    let parts = [dmarc.spf_result(), dmarc.dkim_result()];
    results.dmarc = if dmarc.dmarc_record().is_none() {
        if parts.iter().any(|r| matches!(r, DmarcResult::TempError(_))) {
            AuthStatus::TempError
        } else {
            AuthStatus::None
        }
    } else if parts.iter().any(|r| matches!(r, DmarcResult::Pass)) {
        AuthStatus::Pass
    } else if parts.iter().any(|r| matches!(r, DmarcResult::TempError(_))) {
        AuthStatus::TempError
    } else if parts.iter().any(|r| matches!(r, DmarcResult::PermError(_))) {
        AuthStatus::PermError
    } else {
        AuthStatus::Fail
    };
    results.dmarc_policy = dmarc.dmarc_record().map(|_| {
        match dmarc.policy() {
            DmarcPolicy::Reject => "reject",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::None | DmarcPolicy::Unspecified => "none",
        }
        .to_string()
    });
    results
}

fn dkim_status(result: &DkimResult) -> AuthStatus {
    match result {
        DkimResult::Pass => AuthStatus::Pass,
        DkimResult::Neutral(_) => AuthStatus::Neutral,
        DkimResult::Fail(_) => AuthStatus::Fail,
        DkimResult::PermError(_) => AuthStatus::PermError,
        DkimResult::TempError(_) => AuthStatus::TempError,
        DkimResult::None => AuthStatus::None,
    }
}
