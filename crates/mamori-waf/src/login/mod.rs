//! Login protection: slows and blocks credential stuffing on a site's login endpoints.
//!
//! Per-IP limits (the fail2ban/CrowdSec default: 5 failures in 10 minutes → blocked for 10
//! minutes) stop one noisy attacker; stuffing campaigns spread over thousands of addresses with
//! a few tries each, so the guard also watches signals per-IP limits miss:
//!
//! - `waf.login.ip_failures`: failures per IP in the window;
//! - `waf.login.ip_users`: distinct usernames tried from one IP;
//! - `waf.login.user_failures`: failures for one username across IPs;
//! - `waf.login.failure_surge`: the site's failure ratio far above its own baseline — the site
//!   is then "under attack" and addresses that have not logged in successfully must pass the
//!   challenge page before their login attempts reach the site;
//! - `waf.login.country_surge`: failures from one country surging (with a GeoIP CSV);
//! - `waf.login.reset_burst`: bursts of password-reset requests.
//!
//! Real users keep working: an address with a recent successful login is trusted for the
//! window, and a browser passes the challenge (a signed cookie bound to its address) with one
//! click. The guard only decides; the proxy applies the decision and reports the signals.
//! State is bounded: at most [`MAX_KEYS`] addresses and usernames are tracked.

mod geoip;

pub use geoip::GeoIp;

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Addresses (and usernames) tracked at most; beyond it the quietest are forgotten.
pub const MAX_KEYS: usize = 200_000;
/// Usernames remembered per address.
const MAX_USERS_PER_IP: usize = 64;

/// What the guard does once a threshold is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// 403 with a page saying when to retry, for `block_secs`.
    #[default]
    Block,
    /// 429 Too Many Requests with Retry-After.
    #[serde(rename = "429")]
    TooMany,
    /// Answer after `delay_ms` (tarpit), then forward.
    Delay,
    /// The challenge page; a browser continues with one click.
    Challenge,
}

/// `[[waf.site.login]]`: one login endpoint and how its failures look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    pub path: String,
    pub method: String,
    /// Form or JSON field carrying the username.
    pub username_field: String,
    /// Response statuses that mean "wrong credentials".
    pub failure_status: Vec<u16>,
    /// A redirect whose Location contains this means failure (e.g. `/login?error`).
    pub failure_redirect: String,
    /// A response body containing this means failure (e.g. `パスワードが違います`).
    pub failure_text: String,
    pub window_secs: u64,
    pub max_failures_per_ip: u32,
    pub max_users_per_ip: u32,
    pub max_failures_per_user: u32,
    pub block_secs: u64,
    pub response: Response,
    pub delay_ms: u64,
    /// Failure ratio (0–1) above which, with `surge_min_attempts` attempts in the window and
    /// at least 3× the baseline ratio, the site is under attack.
    pub surge_ratio: f64,
    pub surge_min_attempts: u32,
    /// Password-reset requests per IP per window before 429.
    pub max_resets_per_ip: u32,
    /// Password-reset requests per site per window that raise an alert.
    pub max_resets_per_site: u32,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            path: "/login".into(),
            method: "POST".into(),
            username_field: "username".into(),
            failure_status: vec![401, 403],
            failure_redirect: String::new(),
            failure_text: String::new(),
            window_secs: 600,
            max_failures_per_ip: 5,
            max_users_per_ip: 5,
            max_failures_per_user: 20,
            block_secs: 600,
            response: Response::Block,
            delay_ms: 2_000,
            surge_ratio: 0.5,
            surge_min_attempts: 100,
            max_resets_per_ip: 5,
            max_resets_per_site: 100,
        }
    }
}

impl LoginConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.path.starts_with('/') {
            return Err(format!("path {:?} must start with /", self.path));
        }
        if self.window_secs == 0 || self.max_failures_per_ip == 0 {
            return Err("window_secs and max_failures_per_ip must be above 0".into());
        }
        if !(0.0..=1.0).contains(&self.surge_ratio) {
            return Err("surge_ratio is a fraction between 0 and 1".into());
        }
        Ok(())
    }
}

/// What the proxy does with a login attempt before forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Forward after waiting.
    Delay(Duration),
    /// 429 with Retry-After seconds.
    TooMany(u64),
    /// 403 for this many more seconds.
    Blocked(u64),
    /// Show the challenge page.
    Challenge,
}

/// How a login attempt ended, judged from the site's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// Something worth an alert, raised once per episode (per IP, username or site and window).
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: &'static str,
    pub summary: String,
    pub ip: Option<IpAddr>,
    pub user: Option<String>,
    pub count: u64,
}

#[derive(Default)]
struct IpState {
    failures: VecDeque<u64>,
    users: HashSet<String>,
    users_since: u64,
    blocked_until: u64,
    trusted_until: u64,
    resets: VecDeque<u64>,
    last_seen: u64,
    alerted_until: u64,
}

#[derive(Default)]
struct UserState {
    failures: VecDeque<u64>,
    last_seen: u64,
    alerted_until: u64,
}

#[derive(Default)]
struct SiteState {
    /// (second, attempts, failures) buckets over the window.
    buckets: VecDeque<(u64, u32, u32)>,
    /// Long-run failure ratio, updated while not under attack.
    baseline: Option<f64>,
    baseline_updated: u64,
    under_attack_until: u64,
    resets: VecDeque<u64>,
    reset_alert_until: u64,
    surge_alert_until: u64,
    countries: HashMap<String, VecDeque<u64>>,
    country_alert_until: HashMap<String, u64>,
}

#[derive(Default)]
struct State {
    ips: HashMap<IpAddr, IpState>,
    users: HashMap<String, UserState>,
    site: SiteState,
}

/// The guard of one login endpoint.
pub struct LoginGuard {
    pub config: LoginConfig,
    state: Mutex<State>,
}

fn prune(q: &mut VecDeque<u64>, since: u64) {
    while q.front().is_some_and(|&t| t < since) {
        q.pop_front();
    }
}

impl LoginGuard {
    pub fn new(config: LoginConfig) -> LoginGuard {
        LoginGuard {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a request is an attempt at this login endpoint.
    pub fn is_login(&self, method: &str, path: &str) -> bool {
        method.eq_ignore_ascii_case(&self.config.method) && path == self.config.path
    }

    /// The decision for a login attempt from `ip` (`passed`: it carries a valid challenge
    /// cookie), at `now` seconds.
    pub fn before(&self, ip: IpAddr, user: Option<&str>, passed: bool, now: u64) -> Decision {
        let c = &self.config;
        let mut st = self.lock();
        let under_attack = st.site.under_attack_until > now;
        let ip_state = st.ips.get(&ip);
        if let Some(s) = ip_state {
            if s.blocked_until > now {
                return match c.response {
                    Response::Block => Decision::Blocked(s.blocked_until - now),
                    Response::TooMany => Decision::TooMany(s.blocked_until - now),
                    Response::Delay => Decision::Delay(Duration::from_millis(c.delay_ms)),
                    Response::Challenge if passed => {
                        Decision::Delay(Duration::from_millis(c.delay_ms))
                    }
                    Response::Challenge => Decision::Challenge,
                };
            }
            if s.trusted_until > now {
                return Decision::Allow;
            }
        }
        if let Some(u) = user {
            if let Some(us) = st.users.get(u) {
                let recent = us
                    .failures
                    .iter()
                    .filter(|&&t| t + c.window_secs > now)
                    .count();
                if recent as u32 >= c.max_failures_per_user && !passed {
                    return Decision::Challenge;
                }
            }
        }
        if under_attack && !passed {
            return Decision::Challenge;
        }
        st.ips.entry(ip).or_default().last_seen = now;
        Decision::Allow
    }

    /// Records how an attempt ended and returns the signals it raised.
    pub fn after(
        &self,
        ip: IpAddr,
        user: Option<&str>,
        outcome: Outcome,
        country: Option<&str>,
        now: u64,
    ) -> Vec<Signal> {
        let c = self.config.clone();
        let since = now.saturating_sub(c.window_secs);
        let mut signals = Vec::new();
        let mut st = self.lock();
        if st.ips.len() > MAX_KEYS || st.users.len() > MAX_KEYS {
            let cutoff = since;
            st.ips
                .retain(|_, s| s.last_seen >= cutoff || s.blocked_until > now);
            st.users.retain(|_, s| s.last_seen >= cutoff);
        }
        let failed = outcome == Outcome::Failure;
        // Site-wide ratio.
        {
            let site = &mut st.site;
            match site.buckets.back_mut() {
                Some(b) if b.0 == now => {
                    b.1 += 1;
                    b.2 += failed as u32;
                }
                _ => site.buckets.push_back((now, 1, failed as u32)),
            }
            while site.buckets.front().is_some_and(|b| b.0 < since) {
                site.buckets.pop_front();
            }
            let (attempts, failures) = site
                .buckets
                .iter()
                .fold((0u32, 0u32), |(a, f), b| (a + b.1, f + b.2));
            let ratio = failures as f64 / attempts.max(1) as f64;
            // A baseline learnt while an attack was already running would hide it: cap it at
            // a failure ratio no healthy login page has (typos and forgotten passwords).
            let baseline = site.baseline.unwrap_or(0.1).min(0.25);
            let surging = attempts >= c.surge_min_attempts
                && ratio >= c.surge_ratio
                && ratio >= 3.0 * baseline;
            if surging {
                site.under_attack_until = now + c.window_secs;
                if site.surge_alert_until <= now {
                    site.surge_alert_until = now + c.window_secs;
                    signals.push(Signal {
                        id: "waf.login.failure_surge",
                        summary: format!(
                            "{failures} of {attempts} logins on {} failed in {} min (usual: {:.0}%): credential stuffing; unknown addresses now get the challenge page",
                            c.path,
                            c.window_secs / 60,
                            baseline * 100.0
                        ),
                        ip: None,
                        user: None,
                        count: failures as u64,
                    });
                }
            } else if site.under_attack_until <= now
                && attempts >= 20
                && now >= site.baseline_updated + 60
            {
                // At most once a minute, so a slowly starting attack cannot drag the baseline
                // up before it crosses the surge threshold.
                site.baseline_updated = now;
                site.baseline = Some(match site.baseline {
                    Some(b) => b * 0.99 + ratio * 0.01,
                    None => ratio,
                });
            }
            if let (Some(cc), true) = (country, failed) {
                if site.countries.len() < 300 || site.countries.contains_key(cc) {
                    let q = site.countries.entry(cc.to_string()).or_default();
                    q.push_back(now);
                    prune(q, since);
                    let n = q.len() as u32;
                    let alerted = site.country_alert_until.get(cc).copied().unwrap_or(0);
                    if n >= c.surge_min_attempts && alerted <= now {
                        site.country_alert_until
                            .insert(cc.to_string(), now + c.window_secs);
                        signals.push(Signal {
                            id: "waf.login.country_surge",
                            summary: format!(
                                "{n} failed logins from {cc} on {} in {} min",
                                c.path,
                                c.window_secs / 60
                            ),
                            ip: None,
                            user: None,
                            count: n as u64,
                        });
                    }
                }
            }
        }
        // Per IP.
        let s = st.ips.entry(ip).or_default();
        s.last_seen = now;
        if !failed {
            s.trusted_until = now + c.window_secs;
            s.failures.clear();
        } else {
            s.failures.push_back(now);
            prune(&mut s.failures, since);
            if s.users_since < since {
                s.users.clear();
                s.users_since = now;
            }
            if let Some(u) = user {
                if s.users.len() < MAX_USERS_PER_IP {
                    s.users.insert(u.to_string());
                }
            }
            let failures = s.failures.len() as u32;
            let users = s.users.len() as u32;
            let over_failures = failures >= c.max_failures_per_ip;
            let over_users = users >= c.max_users_per_ip;
            if over_failures || over_users {
                s.blocked_until = now + c.block_secs;
                if s.alerted_until <= now {
                    s.alerted_until = now + c.block_secs;
                    signals.push(if over_users {
                        Signal {
                            id: "waf.login.ip_users",
                            summary: format!(
                                "{ip} tried {users} different usernames on {} ({failures} failures): blocked for {} min",
                                c.path,
                                c.block_secs / 60
                            ),
                            ip: Some(ip),
                            user: None,
                            count: users as u64,
                        }
                    } else {
                        Signal {
                            id: "waf.login.ip_failures",
                            summary: format!(
                                "{ip} failed to log in {failures} times on {} in {} min: blocked for {} min",
                                c.path,
                                c.window_secs / 60,
                                c.block_secs / 60
                            ),
                            ip: Some(ip),
                            user: user.map(str::to_string),
                            count: failures as u64,
                        }
                    });
                }
            }
        }
        // Per username.
        if let (Some(u), true) = (user, failed) {
            if st.users.len() < MAX_KEYS || st.users.contains_key(u) {
                let us = st.users.entry(u.to_string()).or_default();
                us.last_seen = now;
                us.failures.push_back(now);
                prune(&mut us.failures, since);
                let n = us.failures.len() as u32;
                if n >= c.max_failures_per_user && us.alerted_until <= now {
                    us.alerted_until = now + c.window_secs;
                    signals.push(Signal {
                        id: "waf.login.user_failures",
                        summary: format!(
                            "{n} failed logins for user {u} on {} in {} min from several addresses: logins for {u} now need the challenge",
                            c.path,
                            c.window_secs / 60
                        ),
                        ip: None,
                        user: Some(u.to_string()),
                        count: n as u64,
                    });
                }
            }
        }
        signals
    }

    /// A request to a password-reset endpoint: `Some(retry_after)` when this IP is over its
    /// limit, and the signals raised.
    pub fn reset_request(&self, ip: IpAddr, now: u64) -> (Option<u64>, Vec<Signal>) {
        let c = &self.config;
        let since = now.saturating_sub(c.window_secs);
        let mut signals = Vec::new();
        let mut st = self.lock();
        let site = &mut st.site;
        site.resets.push_back(now);
        prune(&mut site.resets, since);
        let site_n = site.resets.len() as u32;
        if site_n >= c.max_resets_per_site && site.reset_alert_until <= now {
            site.reset_alert_until = now + c.window_secs;
            signals.push(Signal {
                id: "waf.login.reset_burst",
                summary: format!(
                    "{site_n} password-reset requests in {} min: someone may be forcing resets",
                    c.window_secs / 60
                ),
                ip: None,
                user: None,
                count: site_n as u64,
            });
        }
        let s = st.ips.entry(ip).or_default();
        s.last_seen = now;
        s.resets.push_back(now);
        prune(&mut s.resets, since);
        let over = (s.resets.len() as u32 > c.max_resets_per_ip).then(|| {
            s.resets
                .front()
                .map_or(c.window_secs, |t| t + c.window_secs - now)
        });
        (over, signals)
    }

    /// Judges an attempt from the site's response.
    pub fn outcome(&self, status: u16, location: Option<&str>, body: &[u8]) -> Outcome {
        let c = &self.config;
        if c.failure_status.contains(&status) {
            return Outcome::Failure;
        }
        if !c.failure_redirect.is_empty()
            && location.is_some_and(|l| l.contains(&c.failure_redirect))
        {
            return Outcome::Failure;
        }
        if !c.failure_text.is_empty()
            && memchr::memmem::find(body, c.failure_text.as_bytes()).is_some()
        {
            return Outcome::Failure;
        }
        if status >= 400 {
            return Outcome::Failure;
        }
        Outcome::Success
    }

    /// Whether the outcome needs the response body (a failure text is configured).
    pub fn needs_body(&self) -> bool {
        !self.config.failure_text.is_empty()
    }

    /// The username in a login request body (form or JSON).
    pub fn username(&self, content_type: &str, body: &[u8]) -> Option<String> {
        let field = &self.config.username_field;
        if content_type.contains("json") {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            return v
                .get(field)?
                .as_str()
                .map(|s| s.chars().take(256).collect());
        }
        for pair in body.split(|&b| b == b'&') {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = form_decode(kv.next()?);
            if k == *field {
                let v = form_decode(kv.next().unwrap_or_default());
                return Some(v.chars().take(256).collect());
            }
        }
        None
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn form_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The challenge cookie: `EXPIRY.SIGNATURE`, the signature binding address and expiry.
pub fn challenge_cookie(secret: &[u8], ip: IpAddr, expiry: u64) -> String {
    let mac = mamori_core::sign::hmac_sha256(secret, format!("{ip}|{expiry}").as_bytes());
    let hex: String = mac[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{expiry}.{hex}")
}

/// Whether a `Cookie` header carries a valid, unexpired challenge cookie for `ip`.
pub fn challenge_passed(secret: &[u8], ip: IpAddr, cookie_header: &str, now: u64) -> bool {
    cookie_header
        .split(';')
        .filter_map(|c| {
            c.trim()
                .strip_prefix(CHALLENGE_COOKIE)
                .and_then(|v| v.strip_prefix('='))
        })
        .any(|v| {
            let Some((exp, _)) = v.split_once('.') else {
                return false;
            };
            let Ok(exp) = exp.parse::<u64>() else {
                return false;
            };
            exp > now && challenge_cookie(secret, ip, exp) == v
        })
}

pub const CHALLENGE_COOKIE: &str = "mamori_pass";

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn five_failures_from_one_address_block_it_for_ten_minutes() {
        let g = LoginGuard::new(LoginConfig::default());
        let mut signals = Vec::new();
        for t in 0..5 {
            assert_eq!(g.before(ip(1), Some("alice"), false, t), Decision::Allow);
            signals.extend(g.after(ip(1), Some("alice"), Outcome::Failure, None, t));
        }
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].id, "waf.login.ip_failures");
        assert_eq!(
            g.before(ip(1), Some("alice"), false, 10),
            Decision::Blocked(594)
        );
        assert_eq!(g.before(ip(1), Some("alice"), false, 605), Decision::Allow);
        // Another address is not affected.
        assert_eq!(g.before(ip(2), Some("alice"), false, 10), Decision::Allow);
    }

    #[test]
    fn four_failures_then_success_is_not_blocked() {
        let g = LoginGuard::new(LoginConfig::default());
        for t in 0..4 {
            g.after(ip(1), Some("bob"), Outcome::Failure, None, t);
        }
        assert!(g
            .after(ip(1), Some("bob"), Outcome::Success, None, 5)
            .is_empty());
        assert_eq!(g.before(ip(1), Some("bob"), false, 6), Decision::Allow);
    }

    #[test]
    fn a_surge_of_failures_from_many_addresses_puts_the_site_under_attack() {
        let g = LoginGuard::new(LoginConfig::default());
        // A normal hour: mostly successes establish the baseline.
        for t in 0..200u32 {
            let outcome = if t % 10 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            g.after(ip(t), Some("u"), outcome, None, t as u64);
        }
        // Stuffing: each address tries twice, under every per-IP limit.
        let mut raised = Vec::new();
        for i in 0..300u32 {
            let a = ip(10_000 + i / 2);
            raised.extend(g.after(
                a,
                Some(&format!("victim{i}")),
                Outcome::Failure,
                None,
                1000 + i as u64 / 10,
            ));
        }
        assert!(
            raised.iter().any(|s| s.id == "waf.login.failure_surge"),
            "{raised:?}"
        );
        // A new address must pass the challenge; a known good one is trusted.
        assert_eq!(
            g.before(ip(99_999), Some("x"), false, 1040),
            Decision::Challenge
        );
        assert_eq!(g.before(ip(99_999), Some("x"), true, 1040), Decision::Allow);
        g.after(ip(5000), Some("real"), Outcome::Success, None, 1035);
        assert_eq!(
            g.before(ip(5000), Some("real"), false, 1040),
            Decision::Allow
        );
    }

    #[test]
    fn many_usernames_from_one_address_block_it() {
        let g = LoginGuard::new(LoginConfig {
            max_failures_per_ip: 100,
            ..Default::default()
        });
        let mut raised = Vec::new();
        for i in 0..5 {
            raised.extend(g.after(ip(7), Some(&format!("user{i}")), Outcome::Failure, None, i));
        }
        assert_eq!(raised[0].id, "waf.login.ip_users");
    }

    #[test]
    fn outcome_follows_status_redirect_and_text() {
        let g = LoginGuard::new(LoginConfig {
            failure_status: vec![401],
            failure_redirect: "/login?error".into(),
            failure_text: "パスワードが違います".into(),
            ..Default::default()
        });
        assert_eq!(g.outcome(401, None, b""), Outcome::Failure);
        assert_eq!(
            g.outcome(302, Some("/login?error=1"), b""),
            Outcome::Failure
        );
        assert_eq!(g.outcome(302, Some("/home"), b""), Outcome::Success);
        assert_eq!(
            g.outcome(200, None, "パスワードが違います".as_bytes()),
            Outcome::Failure
        );
        assert_eq!(g.outcome(200, None, b"welcome"), Outcome::Success);
    }

    #[test]
    fn username_comes_from_form_or_json() {
        let g = LoginGuard::new(LoginConfig::default());
        assert_eq!(
            g.username(
                "application/x-www-form-urlencoded",
                b"a=1&username=al%69ce+x&p=2"
            )
            .as_deref(),
            Some("alice x")
        );
        assert_eq!(
            g.username("application/json", br#"{"username":"bob"}"#)
                .as_deref(),
            Some("bob")
        );
        assert_eq!(g.username("application/json", b"{broken"), None);
        assert_eq!(g.username("", b"%"), None);
    }

    #[test]
    fn challenge_cookie_is_bound_to_address_and_expiry() {
        let secret = b"k";
        let c = challenge_cookie(secret, ip(1), 100);
        let header = format!("a=b; {CHALLENGE_COOKIE}={c}");
        assert!(challenge_passed(secret, ip(1), &header, 50));
        assert!(!challenge_passed(secret, ip(2), &header, 50));
        assert!(!challenge_passed(secret, ip(1), &header, 150));
        assert!(!challenge_passed(secret, ip(1), "mamori_pass=1.zz", 0));
    }

    #[test]
    fn password_reset_bursts_are_limited_per_address_and_raised_per_site() {
        let g = LoginGuard::new(LoginConfig {
            max_resets_per_site: 10,
            ..Default::default()
        });
        for t in 0..5 {
            assert_eq!(g.reset_request(ip(1), t).0, None);
        }
        assert!(g.reset_request(ip(1), 6).0.is_some());
        let mut raised = Vec::new();
        for i in 0..10 {
            raised.extend(g.reset_request(ip(100 + i), 7).1);
        }
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].id, "waf.login.reset_burst");
    }
}
