//! The analytics' settings: thresholds, windows, the company's networks, blocklists and the
//! web application's login paths. Every field has a default chosen for a small company, so an
//! empty `[logs.analytics]` table (or none) works; times are in seconds.
//!
//! This only holds values; the analytics read them when [`super::Analytics`] is built.

use serde::{Deserialize, Serialize};

/// All settings of the built-in analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Analytic ids to turn off (`logs.win.new_service`, ...).
    pub disabled: Vec<String>,
    /// The company's networks (CIDRs) besides the private ranges, which always count as inside.
    pub home_net: Vec<String>,
    /// Keys (users, addresses, pairs...) each analytic tracks at once; beyond, the quietest
    /// are closed first.
    pub max_keys: usize,
    pub windows: WindowsConfig,
    pub network: NetworkConfig,
    pub web: WebConfig,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            disabled: Vec::new(),
            home_net: Vec::new(),
            max_keys: 10_000,
            windows: WindowsConfig::default(),
            network: NetworkConfig::default(),
            web: WebConfig::default(),
        }
    }
}

/// Windows event log analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowsConfig {
    /// Failed logons (4625) for one account within `brute_force_window` that make a brute force.
    pub brute_force_failures: usize,
    pub brute_force_window: u64,
    /// Distinct accounts tried from one source within `spray_window` that make a spray.
    pub spray_users: usize,
    pub spray_window: u64,
    /// Failures for an account, within `success_window` before a successful logon, that make
    /// the success suspicious.
    pub success_failures: usize,
    pub success_window: u64,
    /// Distinct files deleted or renamed by one account on one host within `file_burst_window`.
    pub file_burst_files: usize,
    pub file_burst_window: u64,
    /// Distinct files read by one account on a host within `device_read_window`, within
    /// `device_window` of a phone or USB storage device connecting to that host.
    pub device_read_files: usize,
    pub device_read_window: u64,
    pub device_window: u64,
    /// Single-event analytics (new user, log cleared...) group events this close together.
    pub episode_gap: u64,
    /// Group names counted as privileged besides the built-in list (case-insensitive).
    pub privileged_groups: Vec<String>,
    /// Accounts allowed to replicate the directory (e.g. Azure AD Connect's `MSOL_...`).
    pub dcsync_allowed: Vec<String>,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        WindowsConfig {
            brute_force_failures: 10,
            brute_force_window: 600,
            spray_users: 10,
            spray_window: 3600,
            success_failures: 10,
            success_window: 3600,
            file_burst_files: 100,
            file_burst_window: 300,
            device_read_files: 100,
            device_read_window: 600,
            device_window: 3600,
            episode_gap: 3600,
            privileged_groups: Vec::new(),
            dcsync_allowed: Vec::new(),
        }
    }
}

/// Firewall, proxy and authentication log analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Connections a (source, destination) pair needs before its regularity is scored.
    pub beacon_min_connections: usize,
    /// Score (0 to 1) from which a pair is reported as beaconing.
    pub beacon_min_score: f64,
    /// Connections this close together count as one (a page load, a retry burst).
    pub beacon_merge: u64,
    /// Also score pairs whose destination is inside the network.
    pub beacon_internal: bool,
    /// Destinations never scored (domains and their subdomains, or addresses/CIDRs): update
    /// and telemetry services that poll on purpose.
    pub beacon_ignore: Vec<String>,
    /// Bytes sent to one rare external destination within `upload_window` that are reported.
    pub upload_bytes: u64,
    pub upload_window: u64,
    /// A destination contacted by more internal hosts than this is not rare.
    pub upload_max_sources: usize,
    /// Blocklisted addresses or CIDRs.
    pub blocklist_ips: Vec<String>,
    /// Blocklisted domains (their subdomains too).
    pub blocklist_domains: Vec<String>,
    /// Authentication failures (SSH, VPN, mail) from one address within `auth_window`.
    pub auth_failures: usize,
    pub auth_window: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            beacon_min_connections: 20,
            beacon_min_score: 0.8,
            beacon_merge: 2,
            beacon_internal: false,
            beacon_ignore: Vec::new(),
            upload_bytes: 100_000_000,
            upload_window: 3600,
            upload_max_sources: 2,
            blocklist_ips: Vec::new(),
            blocklist_domains: Vec::new(),
            auth_failures: 10,
            auth_window: 600,
        }
    }
}

/// Web server access log analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Paths of login forms and APIs (case-insensitive; a path ending with one matches).
    pub login_paths: Vec<String>,
    /// Methods counted as login attempts.
    pub login_methods: Vec<String>,
    /// Statuses of a failed login. Many forms answer a failure with 200 (the form again) and a
    /// success with a redirect, hence the defaults.
    pub login_failure_statuses: Vec<u16>,
    pub login_success_statuses: Vec<u16>,
    /// Failed logins from one address within `stuffing_window` that make credential stuffing.
    pub stuffing_failures: usize,
    pub stuffing_window: u64,
    /// 404 answers to one address within `scanner_window` that make a scanner.
    pub scanner_404s: usize,
    pub scanner_window: u64,
    /// User-agent substrings of scanners (case-insensitive), added to the built-in list.
    pub scanner_agents: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            login_paths: [
                "/login",
                "/signin",
                "/sign-in",
                "/logon",
                "/wp-login.php",
                "/xmlrpc.php",
                "/user/login",
                "/account/login",
                "/accounts/login",
                "/users/sign_in",
                "/auth/login",
                "/api/login",
                "/api/auth",
                "/oauth/token",
                "/owa/auth.owa",
                "/remote/logincheck",
                "/j_security_check",
                "/administrator/index.php",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            login_methods: vec!["POST".into()],
            login_failure_statuses: vec![200, 401, 403],
            login_success_statuses: vec![301, 302, 303, 307],
            stuffing_failures: 20,
            stuffing_window: 600,
            scanner_404s: 50,
            scanner_window: 300,
            scanner_agents: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_config_keeps_defaults() {
        let c: AnalyticsConfig = serde_json::from_str(
            r#"{"home_net": ["203.0.113.0/24"], "windows": {"brute_force_failures": 3}}"#,
        )
        .expect("config");
        assert_eq!(c.windows.brute_force_failures, 3);
        assert_eq!(c.windows.spray_users, 10);
        assert_eq!(c.web.stuffing_failures, 20);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<AnalyticsConfig>(r#"{"windoze": {}}"#).is_err());
    }
}
