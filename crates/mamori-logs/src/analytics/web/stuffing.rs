//! Credential stuffing: one address posting to a login URL again and again with mostly
//! failures. A request is a login attempt when its path is (or ends with) one of
//! `web.login_paths` and its method is one of `web.login_methods`; its status says failure or
//! success (`login_failure_statuses`, default 200/401/403: a form that fails shows itself
//! again; `login_success_statuses`, default redirects). `stuffing_failures` within
//! `stuffing_window` make an episode; the detection gives attempts, failures, successes, the
//! address's success ratio against all other clients', and distinct users when the log has a
//! `user` field (HTTP basic authentication).
//!
//! Access logs do not show the username of a form login, nor the redirect target: a site whose
//! failed logins redirect to the login page needs its statuses configured.

use super::{client, path, status};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const STUFFING: Rule = Rule {
    id: "logs.web.credential_stuffing",
    title: "Credential stuffing against a web login",
};

pub struct Stuffing {
    open: Episodes<String>,
    paths: Vec<String>,
    methods: Vec<String>,
    failure: Vec<u16>,
    success: Vec<u16>,
    threshold: usize,
    window: i64,
    /// All login attempts and successes seen, for the baseline success ratio.
    attempts: u64,
    successes: u64,
}

impl Stuffing {
    pub fn new(c: &AnalyticsConfig) -> Stuffing {
        let w = &c.web;
        let window = i64::try_from(w.stuffing_window.saturating_mul(1000)).unwrap_or(i64::MAX);
        Stuffing {
            open: Episodes::new(c.max_keys, window, 86_400_000),
            paths: w
                .login_paths
                .iter()
                .map(|p| p.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
            methods: w
                .login_methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            failure: w.login_failure_statuses.clone(),
            success: w.login_success_statuses.clone(),
            threshold: w.stuffing_failures,
            window,
            attempts: 0,
            successes: 0,
        }
    }

    fn is_login(&self, ev: &Event) -> bool {
        let Some(p) = path(ev) else { return false };
        let p = p.trim_end_matches('/').to_ascii_lowercase();
        let method_ok = self.methods.is_empty()
            || ev
                .get("method")
                .is_some_and(|m| self.methods.iter().any(|x| x.eq_ignore_ascii_case(m)));
        method_ok
            && self
                .paths
                .iter()
                .any(|l| p == *l || p.ends_with(l.as_str()))
    }

    fn emit(&self, ep: Episode, out: &mut Vec<Detection>) {
        if !ep.hot {
            return;
        }
        let others_attempts = self.attempts.saturating_sub(ep.count);
        let others_ok = self.successes.saturating_sub(ep.extra);
        let baseline = if others_attempts > 0 {
            format!(
                "; other clients {:.0}%",
                100.0 * others_ok as f64 / others_attempts as f64
            )
        } else {
            String::new()
        };
        let users = if ep.targets.is_empty() {
            String::new()
        } else {
            format!(", {} distinct users", ep.targets.count_text())
        };
        let details = format!(
            "{} login attempts on {} from {}: {} failed, {} succeeded (success ratio {:.0}%{}){}, {}",
            ep.count,
            ep.note,
            ep.sources.summary(1),
            ep.extra2,
            ep.extra,
            100.0 * ep.extra as f64 / ep.count.max(1) as f64,
            baseline,
            users,
            ep.span_text()
        );
        let level = if ep.extra > 0 {
            Level::High
        } else {
            Level::Medium
        };
        out.push(ep.detection(
            &STUFFING,
            level,
            details,
            &[
                "attack.credential_access",
                "attack.t1110.004",
                "attack.t1110.003",
            ],
        ));
    }
}

impl Analytic for Stuffing {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(ip) = client(ev) else { return };
        if !self.is_login(ev) {
            return;
        }
        let Some(code) = status(ev) else { return };
        let failed = self.failure.contains(&code);
        let ok = self.success.contains(&code);
        if !failed && !ok {
            return;
        }
        self.attempts += 1;
        if ok {
            self.successes += 1;
        }
        let mut closed = Vec::new();
        let ep = self.open.at(ip.to_string(), ts, &mut closed);
        ep.add(ev, ts);
        ep.sources.add(ip, ts);
        if let Some(u) = ev.get("user").filter(|u| !u.is_empty() && *u != "-") {
            ep.targets.add(u, ts);
        }
        if ep.note.is_empty() {
            ep.note = path(ev).unwrap_or("?").to_string();
        }
        if ok {
            ep.extra += 1;
        } else {
            ep.extra2 += 1;
            ep.burst(ts, self.threshold, self.window);
        }
        let closed: Vec<_> = closed.into_iter().map(|(_, e)| e).collect();
        for ep in closed {
            self.emit(ep, out);
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.expire(now, &mut closed);
        for (_, ep) in closed {
            self.emit(ep, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.drain(&mut closed);
        for (_, ep) in closed {
            self.emit(ep, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::{Event, SourceKind};

    fn login(ts: i64, ip: &str, status: &str) -> Event {
        line(
            ts,
            SourceKind::WebAccess,
            &[
                ("src_ip", ip),
                ("method", "POST"),
                ("uri", "/wp-login.php"),
                ("path", "/wp-login.php"),
                ("status", status),
            ],
        )
    }

    #[test]
    fn many_failed_logins_from_one_address() {
        let mut events = Vec::new();
        // Normal users: mostly successes.
        for i in 0..20 {
            events.push(login(
                T0 + i * 1000,
                &format!("10.1.0.{i}"),
                if i % 5 == 0 { "200" } else { "302" },
            ));
        }
        for i in 0..500 {
            events.push(login(
                T0 + 30_000 + i * 500,
                "198.51.100.40",
                if i == 250 { "302" } else { "200" },
            ));
        }
        let d = run(&events);
        let s = of(&d, "logs.web.credential_stuffing");
        assert_eq!(s.len(), 1, "{d:#?}");
        assert!(s[0].details.starts_with("500 login attempts on /wp-login.php from 198.51.100.40: 499 failed, 1 succeeded (success ratio 0%; other clients 80%)"), "{}", s[0].details);
        assert_eq!(s[0].level, crate::detection::Level::High);
    }

    #[test]
    fn a_few_failures_or_other_pages_are_quiet() {
        let few: Vec<Event> = (0..10)
            .map(|i| login(T0 + i * 1000, "198.51.100.40", "200"))
            .collect();
        assert!(run(&few).is_empty());
        // GET of the login page is not an attempt.
        let gets: Vec<Event> = (0..100)
            .map(|i| {
                line(
                    T0 + i * 100,
                    SourceKind::WebAccess,
                    &[
                        ("src_ip", "198.51.100.40"),
                        ("method", "GET"),
                        ("path", "/wp-login.php"),
                        ("status", "200"),
                    ],
                )
            })
            .collect();
        assert!(run(&gets).is_empty());
    }
}
