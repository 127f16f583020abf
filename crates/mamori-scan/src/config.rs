//! How a scan behaves: rate, budget, identity, timeouts, bounds and what to check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The User-Agent every request carries, so site owners can recognise the scan.
pub const USER_AGENT: &str = concat!(
    "Mamori-Scan/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/mamori-security/mamori/blob/main/docs/scan.md)"
);

/// What kind of service a probed TCP port is expected to run; decides the probe sent and
/// the finding raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ssh,
    Telnet,
    Smb,
    Rdp,
    Mysql,
    Postgres,
    Redis,
    Mongodb,
    /// An SSL-VPN or IPsec-over-TCP gateway port.
    Vpn,
}

impl std::str::FromStr for Service {
    type Err = String;

    /// `ssh`, `telnet`, `smb`, `rdp`, `mysql`, `postgres`, `redis`, `mongodb`, `vpn`.
    fn from_str(name: &str) -> Result<Service, String> {
        Ok(match name {
            "ssh" => Service::Ssh,
            "telnet" => Service::Telnet,
            "smb" => Service::Smb,
            "rdp" => Service::Rdp,
            "mysql" => Service::Mysql,
            "postgres" => Service::Postgres,
            "redis" => Service::Redis,
            "mongodb" => Service::Mongodb,
            "vpn" => Service::Vpn,
            other => {
                return Err(format!(
                    "{other:?}: ssh, telnet, smb, rdp, mysql, postgres, redis, mongodb or vpn"
                ))
            }
        })
    }
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ssh => "ssh",
            Service::Telnet => "telnet",
            Service::Smb => "smb",
            Service::Rdp => "rdp",
            Service::Mysql => "mysql",
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::Mongodb => "mongodb",
            Service::Vpn => "vpn",
        }
    }
}

/// The ports probed by default.
pub fn default_ports() -> Vec<(u16, Service)> {
    vec![
        (22, Service::Ssh),
        (23, Service::Telnet),
        (445, Service::Smb),
        (3389, Service::Rdp),
        (3306, Service::Mysql),
        (5432, Service::Postgres),
        (6379, Service::Redis),
        (27017, Service::Mongodb),
        (1194, Service::Vpn),
        (10443, Service::Vpn),
    ]
}

/// Scan settings. `ScanConfig::default()` is what `mamori scan URL` uses.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Requests (and TCP/TLS connections) per second to the target.
    pub rate_per_second: f64,
    /// Hard cap on requests and connections; the scan stops sending at this number.
    pub max_requests: usize,
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Response bodies are read up to this many bytes and the rest is dropped.
    pub max_body_bytes: usize,
    /// Pages fetched for the personal-data check (the start page and links from it).
    pub max_pages: usize,
    pub max_redirects: usize,
    /// TCP ports probed on the target host and the service each is expected to run.
    pub ports: Vec<(u16, Service)>,
    /// Scanning a plain-HTTP target is allowed (its lack of HTTPS is still a finding).
    pub allow_http: bool,
    /// Extra trust anchors (PEM files) on top of the public roots, for private CAs.
    pub trust_anchors: Vec<PathBuf>,
    /// The plain-HTTP port checked for an HTTPS redirect, and the HTTPS port checked when
    /// the target is plain HTTP.
    pub http_port: u16,
    pub https_port: u16,
    /// The DNS server asked for SPF and DMARC records; the system resolver when `None`.
    pub dns_server: Option<SocketAddr>,
    /// The mail domain checked; the target host without `www.` when `None`. Checks are
    /// skipped when the target is an IP address and no domain is given.
    pub mail_domain: Option<String>,
    /// Nuclei-style templates loaded from this directory.
    pub templates_dir: Option<PathBuf>,
    /// Vulnerability data replacing the embedded sample.
    pub vulndb_path: Option<PathBuf>,
    /// Probe for TLS 1.0 and 1.1 with our own ClientHello.
    pub probe_old_tls: bool,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            rate_per_second: 5.0,
            max_requests: 500,
            user_agent: USER_AGENT.to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_body_bytes: 2 * 1024 * 1024,
            max_pages: 20,
            max_redirects: 10,
            ports: default_ports(),
            allow_http: true,
            trust_anchors: Vec::new(),
            http_port: 80,
            https_port: 443,
            dns_server: None,
            mail_domain: None,
            templates_dir: None,
            vulndb_path: None,
            probe_old_tls: true,
        }
    }
}

impl ScanConfig {
    /// Refuses settings that would make the scan unbounded or hammer the target.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !(self.rate_per_second.is_finite() && self.rate_per_second > 0.0) {
            return bad("rate_per_second must be a positive number");
        }
        if self.rate_per_second > 1000.0 {
            return bad("rate_per_second above 1000 is not allowed");
        }
        if self.max_requests == 0 {
            return bad("max_requests must be at least 1");
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > 64 * 1024 * 1024 {
            return bad("max_body_bytes must be between 1 and 64 MiB");
        }
        if self.max_redirects > 20 {
            return bad("max_redirects above 20 is not allowed");
        }
        if self.user_agent.is_empty() || self.user_agent.contains(['\r', '\n']) {
            return bad("user_agent must be one non-empty line");
        }
        Ok(())
    }
}
