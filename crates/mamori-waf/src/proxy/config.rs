//! The proxy's settings: listeners, limits and the sites it fronts (`[waf]` in `mamori.toml`,
//! or the flags of `mamori waf serve`).

use crate::login::LoginConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a site's rules act on a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Block requests the rules deny.
    #[default]
    On,
    /// Evaluate and log, never block (the per-site switch for a trial period).
    DetectionOnly,
    /// Do not run the rules.
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Ok(Mode::On),
            "detectiononly" | "detection_only" | "detect" => Ok(Mode::DetectionOnly),
            "off" => Ok(Mode::Off),
            _ => Err(format!(
                "unknown WAF mode {s:?} (expected On, DetectionOnly or Off)"
            )),
        }
    }
}

/// How the kernel schedules the threads that serve plain HTTP ([`super::sched`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduling {
    /// `normal` while a thread is mostly idle, `batch` while it is busy.
    #[default]
    Adaptive,
    /// `SCHED_BATCH`: a serving thread woken by a socket does not preempt the task running on
    /// its core; it runs when that task's slice ends or it sleeps, and then finds several
    /// requests ready instead of one. Fewer context switches on a busy machine; on a quiet
    /// one a woken thread can wait behind another task where it would have preempted it.
    Batch,
    /// `SCHED_OTHER`, the kernel's default: a woken serving thread may preempt at once.
    Normal,
}

impl std::str::FromStr for Scheduling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "adaptive" => Ok(Scheduling::Adaptive),
            "batch" => Ok(Scheduling::Batch),
            "normal" | "other" => Ok(Scheduling::Normal),
            _ => Err(format!(
                "unknown scheduling {s:?} (expected adaptive, batch or normal)"
            )),
        }
    }
}

/// `[waf]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    pub enabled: bool,
    /// Plain HTTP listener (HTTP/1.1, and HTTP/2 with prior knowledge).
    pub listen: String,
    /// TLS listener (HTTP/1.1 and HTTP/2 by ALPN); empty: none. Sites with `tls_cert` are
    /// served on it, chosen by SNI.
    pub tls_listen: String,
    /// The tenant the WAF's alerts belong to.
    pub tenant: String,
    /// A CRS directory or a `.conf` including the rules; empty: Debian's CRS when installed.
    pub rules: String,
    /// Directives added after the rules (rule exclusions); the console appends to this file.
    pub exclusions: String,
    /// JSON-lines audit log of every request a rule matched; empty: none.
    pub audit_log: String,
    /// The audit log is rotated when it reaches this many MiB; 0: never.
    pub audit_log_max_mb: u64,
    /// Rotated audit log files kept (`FILE.1` newest).
    pub audit_log_keep: u32,
    /// Bytes of a request or response body the rules see; the rest streams through.
    pub inspect_body_limit: usize,
    /// Largest request body accepted (413 above it).
    pub max_body: u64,
    /// Most request header fields accepted (431 above it).
    pub max_headers: usize,
    /// Largest request head (request line and headers) in bytes (431 above it).
    pub max_header_bytes: usize,
    /// Seconds a client has to send its request head (slow clients get 408).
    pub header_timeout_secs: u64,
    /// Seconds to wait for the upstream's response head (504 after).
    pub upstream_timeout_secs: u64,
    /// Seconds between upstream health checks.
    pub health_interval_secs: u64,
    /// How the kernel schedules the serving threads ([`Scheduling`]).
    pub scheduling: Scheduling,
    pub sensor: String,
    #[serde(rename = "site")]
    pub sites: Vec<SiteConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: false,
            listen: "127.0.0.1:8081".into(),
            tls_listen: String::new(),
            tenant: String::new(),
            rules: String::new(),
            exclusions: String::new(),
            audit_log: String::new(),
            audit_log_max_mb: 100,
            audit_log_keep: 5,
            inspect_body_limit: 128 * 1024,
            max_body: 10 * 1024 * 1024,
            max_headers: 100,
            max_header_bytes: 16 * 1024,
            header_timeout_secs: 10,
            upstream_timeout_secs: 30,
            health_interval_secs: 5,
            scheduling: Scheduling::Adaptive,
            sensor: "waf".into(),
            sites: Vec::new(),
        }
    }
}

/// `[[waf.site]]`: one website behind the proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Host names served (`Host`/`:authority`, port ignored); `*` or empty: any host.
    pub hosts: Vec<String>,
    /// `http://HOST:PORT` of the web servers; requests go round-robin to the healthy ones.
    pub upstreams: Vec<String>,
    /// Path the health check requests (any answer below 500 counts as up).
    pub health_path: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub mode: Mode,
    /// Login endpoints protected against credential stuffing.
    pub login: Vec<LoginConfig>,
    /// Password-reset endpoints (paths) whose bursts are watched.
    pub reset_paths: Vec<String>,
    /// A GeoIP CSV (`first_ip,last_ip,country`) for surges by country; empty: none.
    pub geoip: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            hosts: Vec::new(),
            upstreams: Vec::new(),
            health_path: "/".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            mode: Mode::On,
            login: Vec::new(),
            reset_paths: Vec::new(),
            geoip: String::new(),
        }
    }
}

impl ProxyConfig {
    /// Reads `[waf]` from the configuration's raw table (keys named in errors).
    pub fn from_table(table: &toml::Table) -> Result<ProxyConfig, String> {
        let config: ProxyConfig = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("[waf]: {}", e.message()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: addresses, URLs, file pairs.
    pub fn validate(&self) -> Result<(), String> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!("waf.listen: {:?} is not ADDR:PORT", self.listen));
        }
        if !self.tls_listen.is_empty() && self.tls_listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "waf.tls_listen: {:?} is not ADDR:PORT",
                self.tls_listen
            ));
        }
        for (i, site) in self.sites.iter().enumerate() {
            if site.upstreams.is_empty() {
                return Err(format!(
                    "waf.site[{i}].upstreams: name at least one upstream"
                ));
            }
            for u in &site.upstreams {
                crate::proxy::upstream::parse_upstream(u)
                    .map_err(|e| format!("waf.site[{i}].upstreams: {e}"))?;
            }
            if site.tls_cert.is_empty() != site.tls_key.is_empty() {
                return Err(format!("waf.site[{i}]: tls_cert and tls_key go together"));
            }
            if !site.tls_cert.is_empty() && self.tls_listen.is_empty() {
                return Err(format!(
                    "waf.site[{i}].tls_cert: set waf.tls_listen to serve TLS"
                ));
            }
            for (j, login) in site.login.iter().enumerate() {
                login
                    .validate()
                    .map_err(|e| format!("waf.site[{i}].login[{j}]: {e}"))?;
            }
        }
        Ok(())
    }

    /// The rules to load: the configured path, else Debian's CRS when installed.
    pub fn rules_path(&self) -> Option<PathBuf> {
        if !self.rules.is_empty() {
            return Some(PathBuf::from(&self.rules));
        }
        default_rules()
    }
}

/// Debian's `modsecurity-crs` package, when installed.
pub fn default_rules() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/share/modsecurity-crs");
    debian.join("rules").is_dir().then_some(debian)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waf(text: &str) -> Result<ProxyConfig, String> {
        ProxyConfig::from_table(&text.parse::<toml::Table>().map_err(|e| e.to_string())?)
    }

    #[test]
    fn waf_scheduling_is_adaptive_unless_set() {
        assert_eq!(waf("").unwrap().scheduling, Scheduling::Adaptive);
        assert_eq!(
            waf("scheduling = \"normal\"").unwrap().scheduling,
            Scheduling::Normal
        );
        let e = waf("scheduling = \"fifo\"").unwrap_err();
        assert!(e.contains("fifo") && e.contains("batch"), "{e}");
        assert_eq!("Batch".parse(), Ok(Scheduling::Batch));
        assert!("rt"
            .parse::<Scheduling>()
            .unwrap_err()
            .contains("batch or normal"));
        assert_eq!("adaptive".parse(), Ok(Scheduling::Adaptive));
    }
}
