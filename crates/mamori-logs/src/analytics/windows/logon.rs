//! Logon attacks in the Security log: brute force (4625 bursts against one account), password
//! spraying (many accounts from one source over 4625/4648/4771/4776), a successful logon (4624)
//! right after many failures for the account, and account lockouts (4740).
//!
//! Failures are 4625 (any), 4771 (Kerberos pre-authentication failed) and 4776 with a non-zero
//! status; 4648 (explicit credentials) counts only for spraying, because one process using
//! many accounts' passwords is the spray even when every attempt works. Machine accounts (`$`)
//! and anonymous logons are ignored: they fail and succeed all day for reasons of their own.
//! Kerberos 4768 and NTLM relay patterns are not looked at here.

use super::{account, account_key, field, host, is_machine, logon_source};
use crate::analytics::episode::{fmt_duration, Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const BRUTE_FORCE: Rule = Rule {
    id: "logs.win.brute_force",
    title: "Brute force against a Windows account",
};
pub const SPRAY: Rule = Rule {
    id: "logs.win.password_spray",
    title: "Password spraying: many Windows accounts tried from one source",
};
pub const SUCCESS_AFTER_FAILURES: Rule = Rule {
    id: "logs.win.success_after_failures",
    title: "Successful Windows logon after many failures",
};
pub const LOCKOUT: Rule = Rule {
    id: "logs.win.account_lockout",
    title: "Windows account locked out",
};

/// Lockouts of one domain controller are grouped within this gap (ms) whatever the setting:
/// a lockout storm is one incident.
const DAY: i64 = 86_400_000;

pub struct Logons {
    brute: Episodes<String>,
    spray: Episodes<String>,
    /// Failures per account, for success after failures (separate from `brute`, whose episode
    /// closes on its own schedule).
    failures: Episodes<String>,
    lockouts: Episodes<String>,
    brute_n: usize,
    brute_window: i64,
    spray_n: usize,
    spray_window: i64,
    success_n: usize,
}

impl Logons {
    pub fn new(c: &AnalyticsConfig) -> Logons {
        let w = &c.windows;
        let brute_window = secs(w.brute_force_window);
        let spray_window = secs(w.spray_window);
        Logons {
            brute: Episodes::new(c.max_keys, brute_window, DAY),
            spray: Episodes::new(c.max_keys, spray_window, DAY),
            failures: Episodes::new(c.max_keys, secs(w.success_window), DAY),
            lockouts: Episodes::new(c.max_keys, secs(w.episode_gap), DAY),
            brute_n: w.brute_force_failures,
            brute_window,
            spray_n: w.spray_users,
            spray_window,
            success_n: w.success_failures,
        }
    }

    fn failure(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(user) = account_key(ev, "TargetUserName") else {
            return;
        };
        if is_machine(&user) || user == "anonymous logon" {
            return;
        }
        let shown = account(ev, "TargetUserName", "TargetDomainName").unwrap_or(user.clone());
        let source = logon_source(ev).unwrap_or_else(|| host(ev));
        let mut closed = Vec::new();
        if ev.event_id == Some(4625) {
            let ep = self.brute.at(user.clone(), ts, &mut closed);
            ep.add(ev, ts);
            ep.sources.add(&source, ts);
            ep.targets.add(&host(ev), ts);
            if ep.note.is_empty() {
                ep.note = shown.clone();
            }
            ep.burst(ts, self.brute_n, self.brute_window);
        }
        for (_, ep) in closed.drain(..) {
            emit_brute(ep, out);
        }
        let spray_n = self.spray_n;
        let spray_window = self.spray_window;
        let ep = self.spray.at(source.to_lowercase(), ts, &mut closed);
        ep.add(ev, ts);
        ep.sources.add(&source, ts);
        ep.distinct_targets(&user, ts, spray_n, spray_window);
        for (_, ep) in closed.drain(..) {
            emit_spray(ep, out);
        }
        let ep = self.failures.at(user, ts, &mut closed);
        ep.add(ev, ts);
        ep.sources.add(&source, ts);
        ep.note = shown;
        // Closed failure runs without a success say nothing more than the brute force does.
        closed.clear();
    }

    fn explicit_credentials(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let (Some(user), Some(subject)) = (
            account_key(ev, "TargetUserName"),
            account(ev, "SubjectUserName", "SubjectDomainName"),
        ) else {
            return;
        };
        if is_machine(&user) {
            return;
        }
        // The spray comes from the account on this host that typed the credentials.
        let source = format!("{} on {}", subject, host(ev));
        let mut closed = Vec::new();
        let ep = self.spray.at(source.to_lowercase(), ts, &mut closed);
        ep.add(ev, ts);
        ep.sources.add(&source, ts);
        ep.distinct_targets(&user, ts, self.spray_n, self.spray_window);
        for (_, ep) in closed {
            emit_spray(ep, out);
        }
    }

    fn success(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(user) = account_key(ev, "TargetUserName") else {
            return;
        };
        if is_machine(&user) {
            return;
        }
        let enough = self.failures.get(&user).is_some_and(|ep| {
            ep.count as usize >= self.success_n.max(1) && ts - ep.last <= self.failures.gap
        });
        if !enough {
            return;
        }
        let Some(mut ep) = self.failures.remove(&user) else {
            return;
        };
        let failures = ep.count;
        let (first, last_failure) = (ep.first, ep.last);
        ep.add(ev, ts);
        let from = logon_source(ev).unwrap_or_else(|| "?".into());
        let logon_type = field(ev, "LogonType").unwrap_or("?");
        let details = format!(
            "{} logged on to {} (logon type {}) from {} after {} failed attempts from {} since {}; last failure {} before the success",
            ep.note,
            host(ev),
            logon_type,
            from,
            failures,
            ep.sources.summary(5),
            crate::analytics::episode::fmt_time(first),
            fmt_duration(ts - last_failure),
        );
        out.push(ep.detection(
            &SUCCESS_AFTER_FAILURES,
            Level::High,
            details,
            &[
                "attack.credential_access",
                "attack.t1110",
                "attack.initial_access",
                "attack.t1078",
            ],
        ));
    }

    fn lockout(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let user = account(ev, "TargetUserName", "TargetDomainName")
            .or_else(|| field(ev, "TargetUserName").map(str::to_string))
            .unwrap_or_else(|| "?".into());
        let mut closed = Vec::new();
        let ep = self.lockouts.at(host(ev).to_lowercase(), ts, &mut closed);
        ep.add(ev, ts);
        ep.heat(ts);
        ep.targets.add(&user, ts);
        // 4740's TargetDomainName is the computer the bad passwords came from.
        if let Some(caller) = field(ev, "TargetDomainName") {
            ep.sources.add(caller, ts);
        }
        for (_, ep) in closed {
            emit_lockout(ep, out);
        }
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn emit_brute(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} failed logons for {} on {} from {} ({}), {}",
        ep.count,
        ep.note,
        ep.targets.summary(3),
        ep.sources.summary(5),
        ep.sources.count_text() + " sources",
        ep.span_text()
    );
    out.push(ep.detection(
        &BRUTE_FORCE,
        Level::Medium,
        details,
        &["attack.credential_access", "attack.t1110.001"],
    ));
}

fn emit_spray(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} accounts tried from {} in {} attempts ({}), {}",
        ep.targets.count_text(),
        ep.sources.summary(3),
        ep.count,
        ep.targets.summary(8),
        ep.span_text()
    );
    out.push(ep.detection(
        &SPRAY,
        Level::High,
        details,
        &["attack.credential_access", "attack.t1110.003"],
    ));
}

fn emit_lockout(ep: Episode, out: &mut Vec<Detection>) {
    let level = if ep.targets.len() >= 5 {
        Level::High
    } else {
        Level::Medium
    };
    let details = format!(
        "{} account(s) locked out ({}){}, {} lockout events {}",
        ep.targets.count_text(),
        ep.targets.summary(8),
        if ep.sources.is_empty() {
            String::new()
        } else {
            format!(" by failed logons from {}", ep.sources.summary(5))
        },
        ep.count,
        ep.span_text()
    );
    out.push(ep.detection(
        &LOCKOUT,
        level,
        details,
        &["attack.credential_access", "attack.t1110"],
    ));
}

impl Analytic for Logons {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        match ev.event_id {
            Some(4625) | Some(4771) => self.failure(ev, ts, out),
            // Status 0x0 is success: NTLM validation of a good password.
            Some(4776) if field(ev, "Status").is_some_and(|s| super::hex(s) != Some(0)) => {
                self.failure(ev, ts, out)
            }
            Some(4648) => self.explicit_credentials(ev, ts, out),
            Some(4624) => self.success(ev, ts, out),
            Some(4740) => self.lockout(ev, ts, out),
            _ => {}
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.brute.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_brute(ep, out));
        self.spray.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_spray(ep, out));
        self.lockouts.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_lockout(ep, out));
        self.failures.expire(now, &mut closed);
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.brute.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_brute(ep, out));
        self.spray.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_spray(ep, out));
        self.lockouts.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_lockout(ep, out));
        self.failures.drain(&mut closed);
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::Event;

    fn fail(ts: i64, user: &str, ip: &str) -> Event {
        win(
            ts,
            "dc1",
            "Security",
            4625,
            &[
                ("TargetUserName", user),
                ("TargetDomainName", "CORP"),
                ("IpAddress", ip),
                ("LogonType", "3"),
                ("Status", "0xc000006d"),
            ],
        )
    }

    fn ok(ts: i64, user: &str, ip: &str) -> Event {
        win(
            ts,
            "dc1",
            "Security",
            4624,
            &[
                ("TargetUserName", user),
                ("IpAddress", ip),
                ("LogonType", "3"),
            ],
        )
    }

    #[test]
    fn burst_of_failures_is_one_brute_force() {
        // Two hours of failures every 10 s: one episode, not 720 detections.
        let events: Vec<Event> = (0..720)
            .map(|i| fail(T0 + i * 10_000, "bob", "203.0.113.9"))
            .collect();
        let d = run(&events);
        let b = of(&d, "logs.win.brute_force");
        assert_eq!(b.len(), 1, "{d:#?}");
        assert!(
            b[0].details.starts_with("720 failed logons for CORP\\bob"),
            "{}",
            b[0].details
        );
        assert!(b[0].details.contains("203.0.113.9"));
        assert_eq!(b[0].records.len(), 720);
    }

    #[test]
    fn a_few_typos_are_not_brute_force() {
        let events: Vec<Event> = (0..9)
            .map(|i| fail(T0 + i * 30_000, "bob", "10.0.0.5"))
            .collect();
        assert!(of(&run(&events), "logs.win.brute_force").is_empty());
        // Ten failures spread over a day (one every 2 hours) are not a burst either.
        let events: Vec<Event> = (0..10)
            .map(|i| fail(T0 + i * 120 * MIN, "bob", "10.0.0.5"))
            .collect();
        assert!(of(&run(&events), "logs.win.brute_force").is_empty());
    }

    #[test]
    fn many_accounts_from_one_source_is_a_spray() {
        let mut events = Vec::new();
        for round in 0..3 {
            for u in 0..15 {
                events.push(fail(
                    T0 + round * 20 * MIN + u * 1000,
                    &format!("user{u}"),
                    "::ffff:198.51.100.7",
                ));
            }
        }
        let d = run(&events);
        let s = of(&d, "logs.win.password_spray");
        assert_eq!(s.len(), 1, "{d:#?}");
        assert!(
            s[0].details
                .starts_with("15 accounts tried from 198.51.100.7 in 45 attempts"),
            "{}",
            s[0].details
        );
        // Three failures per account: no brute force.
        assert!(of(&d, "logs.win.brute_force").is_empty());
    }

    #[test]
    fn kerberos_and_ntlm_failures_count_for_spraying() {
        let mut events = Vec::new();
        for u in 0..6 {
            events.push(win(
                T0 + u * 1000,
                "dc1",
                "Security",
                4771,
                &[
                    ("TargetUserName", &format!("k{u}")),
                    ("IpAddress", "::ffff:10.0.0.66"),
                    ("Status", "0x18"),
                ],
            ));
        }
        for u in 0..6 {
            events.push(win(
                T0 + 10_000 + u * 1000,
                "dc1",
                "Security",
                4776,
                &[
                    ("TargetUserName", &format!("n{u}")),
                    ("Workstation", "KALI"),
                    ("Status", "0xc000006a"),
                ],
            ));
        }
        let d = run(&events);
        // 6 from one address and 6 from one workstation: two sources, neither reaches 10.
        assert!(of(&d, "logs.win.password_spray").is_empty());
        let mut more = events.clone();
        for u in 6..12 {
            more.push(win(
                T0 + 30_000 + u * 1000,
                "dc1",
                "Security",
                4771,
                &[
                    ("TargetUserName", &format!("k{u}")),
                    ("IpAddress", "::ffff:10.0.0.66"),
                    ("Status", "0x18"),
                ],
            ));
        }
        assert_eq!(of(&run(&more), "logs.win.password_spray").len(), 1);
    }

    #[test]
    fn explicit_credentials_for_many_accounts_is_a_spray() {
        let events: Vec<Event> = (0..12)
            .map(|u| {
                win(
                    T0 + u * 2000,
                    "pc7",
                    "Security",
                    4648,
                    &[
                        ("SubjectUserName", "mallory"),
                        ("SubjectDomainName", "CORP"),
                        ("TargetUserName", &format!("victim{u}")),
                        ("TargetServerName", "dc1"),
                    ],
                )
            })
            .collect();
        let d = run(&events);
        let s = of(&d, "logs.win.password_spray");
        assert_eq!(s.len(), 1);
        assert!(
            s[0].details.contains("CORP\\mallory on pc7"),
            "{}",
            s[0].details
        );
        // The same account used for one target is just runas.
        let one: Vec<Event> = (0..12)
            .map(|i| {
                win(
                    T0 + i * 2000,
                    "pc7",
                    "Security",
                    4648,
                    &[("SubjectUserName", "mallory"), ("TargetUserName", "admin")],
                )
            })
            .collect();
        assert!(of(&run(&one), "logs.win.password_spray").is_empty());
    }

    #[test]
    fn success_after_failures_is_reported_once() {
        let mut events: Vec<Event> = (0..12)
            .map(|i| fail(T0 + i * 5000, "alice", "203.0.113.50"))
            .collect();
        events.push(ok(T0 + 70_000, "alice", "203.0.113.50"));
        events.push(ok(T0 + 80_000, "alice", "203.0.113.50"));
        let d = run(&events);
        let s = of(&d, "logs.win.success_after_failures");
        assert_eq!(s.len(), 1, "{d:#?}");
        assert!(
            s[0].details.contains("after 12 failed attempts"),
            "{}",
            s[0].details
        );
        assert_eq!(s[0].records.len(), 13);
    }

    #[test]
    fn success_after_a_few_failures_is_normal() {
        let mut events: Vec<Event> = (0..3)
            .map(|i| fail(T0 + i * 5000, "alice", "10.0.0.8"))
            .collect();
        events.push(ok(T0 + 20_000, "alice", "10.0.0.8"));
        assert!(of(&run(&events), "logs.win.success_after_failures").is_empty());
        // Many failures, but the success comes the next day.
        let mut events: Vec<Event> = (0..12)
            .map(|i| fail(T0 + i * 5000, "alice", "10.0.0.8"))
            .collect();
        events.push(ok(T0 + 26 * 60 * MIN, "alice", "10.0.0.8"));
        assert!(of(&run(&events), "logs.win.success_after_failures").is_empty());
    }

    #[test]
    fn lockout_storm_is_one_detection() {
        let events: Vec<Event> = (0..8)
            .map(|i| {
                win(
                    T0 + i * MIN,
                    "dc1",
                    "Security",
                    4740,
                    &[
                        ("TargetUserName", &format!("u{i}")),
                        ("TargetDomainName", "WS-17"),
                        ("SubjectUserName", "DC1$"),
                    ],
                )
            })
            .collect();
        let d = run(&events);
        let l = of(&d, "logs.win.account_lockout");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].level, crate::detection::Level::High);
        assert!(
            l[0].details.contains("8 account(s) locked out"),
            "{}",
            l[0].details
        );
        assert!(l[0].details.contains("WS-17"));
    }

    #[test]
    fn lockouts_days_apart_are_separate() {
        let events = vec![
            win(T0, "dc1", "Security", 4740, &[("TargetUserName", "a")]),
            win(
                T0 + 5 * 60 * MIN,
                "dc1",
                "Security",
                4740,
                &[("TargetUserName", "b")],
            ),
        ];
        let d = run(&events);
        let l = of(&d, "logs.win.account_lockout");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].level, crate::detection::Level::Medium);
    }

    #[test]
    fn machine_accounts_are_ignored() {
        let events: Vec<Event> = (0..50)
            .map(|i| fail(T0 + i * 1000, "WS1$", "10.0.0.9"))
            .collect();
        assert!(run(&events).is_empty());
    }
}
