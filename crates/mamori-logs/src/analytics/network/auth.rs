//! SSH, VPN and mail password guessing from authentication logs: failures
//! (`action` = `failure` or `invalid_user`) from one `src_ip` — `auth_failures` within
//! `auth_window` make a brute force, one detection per episode with the services and accounts
//! tried — and a success from that address during the episode, reported at once (the guess
//! worked).
//!
//! Reads what the sshd/PAM/Postfix/Dovecot parsers and JSON-lines mappings produce
//! (`user`, `program` or `service`). Failures without an address (local `sudo`) are not
//! counted. Slow attacks below the rate and botnets spreading one account over thousands of
//! addresses are not found here.

use super::field;
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::{Event, SourceKind};

pub const BRUTE_FORCE: Rule = Rule {
    id: "logs.net.auth_brute_force",
    title: "Password guessing against SSH, VPN or mail",
};
pub const SUCCESS_AFTER_FAILURES: Rule = Rule {
    id: "logs.net.auth_success_after_failures",
    title: "Successful SSH, VPN or mail login after password guessing",
};

pub struct AuthBrute {
    open: Episodes<String>,
    threshold: usize,
    window: i64,
}

impl AuthBrute {
    pub fn new(c: &AnalyticsConfig) -> AuthBrute {
        let window = i64::try_from(c.network.auth_window.saturating_mul(1000)).unwrap_or(i64::MAX);
        AuthBrute {
            open: Episodes::new(c.max_keys, window, 86_400_000),
            threshold: c.network.auth_failures,
            window,
        }
    }
}

fn service(ev: &Event) -> String {
    field(ev, "service")
        .or_else(|| field(ev, "program"))
        .map(str::to_string)
        .unwrap_or_else(|| ev.source.as_str().to_string())
}

fn emit(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} failed logins to {} from {} on {} ({} accounts: {}){}, {}",
        ep.extra2,
        ep.note,
        ep.sources.summary(1),
        ep.last_host(),
        ep.targets.count_text(),
        ep.targets.summary(6),
        if ep.extra > 0 {
            format!(", then {} successful", ep.extra)
        } else {
            String::new()
        },
        ep.span_text()
    );
    out.push(ep.detection(
        &BRUTE_FORCE,
        Level::Medium,
        details,
        &[
            "attack.credential_access",
            "attack.t1110.001",
            "attack.t1110.003",
        ],
    ));
}

impl Analytic for AuthBrute {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        if !matches!(
            ev.source,
            SourceKind::Auth | SourceKind::MailAuth | SourceKind::JsonLines | SourceKind::Syslog
        ) {
            return;
        }
        let (Some(action), Some(src)) = (field(ev, "action"), field(ev, "src_ip")) else {
            return;
        };
        let user = field(ev, "user").unwrap_or("?");
        match action {
            "failure" | "invalid_user" | "failed" | "fail" => {
                let mut closed = Vec::new();
                let ep = self.open.at(src.to_string(), ts, &mut closed);
                ep.add(ev, ts);
                ep.extra2 += 1;
                ep.sources.add(src, ts);
                ep.targets.add(user, ts);
                let svc = service(ev);
                if !ep.note.split(", ").any(|s| s == svc) && ep.note.len() < 200 {
                    if !ep.note.is_empty() {
                        ep.note.push_str(", ");
                    }
                    ep.note.push_str(&svc);
                }
                ep.burst(ts, self.threshold, self.window);
                closed.drain(..).for_each(|(_, ep)| emit(ep, out));
            }
            "success" => {
                let Some(ep) = self.open.get_mut(&src.to_string()) else {
                    return;
                };
                if !ep.hot || ts.saturating_sub(ep.last) > self.window {
                    return;
                }
                ep.add(ev, ts);
                ep.extra += 1;
                if ep.extra > 1 {
                    return;
                }
                // Reported now, with the failures so far; the brute force is reported at its end.
                let mut now = ep.clone();
                now.note = String::new();
                let details = format!(
                    "{} logged in to {} from {} on {} after {} failed attempts on {} accounts, {}",
                    user,
                    service(ev),
                    src,
                    ev.host.as_deref().unwrap_or("?"),
                    ep.extra2,
                    ep.targets.count_text(),
                    ep.span_text()
                );
                out.push(now.detection(
                    &SUCCESS_AFTER_FAILURES,
                    Level::Critical,
                    details,
                    &[
                        "attack.credential_access",
                        "attack.t1110",
                        "attack.initial_access",
                        "attack.t1078",
                    ],
                ));
            }
            _ => {}
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::{Event, SourceKind};

    fn ssh(ts: i64, action: &str, user: &str, ip: &str) -> Event {
        line(
            ts,
            SourceKind::Auth,
            &[
                ("program", "sshd"),
                ("user", user),
                ("src_ip", ip),
                ("action", action),
            ],
        )
    }

    #[test]
    fn ssh_guessing_then_success() {
        let mut events: Vec<Event> = (0..300)
            .map(|i| {
                ssh(
                    T0 + i * 2000,
                    if i % 2 == 0 {
                        "failure"
                    } else {
                        "invalid_user"
                    },
                    &format!("u{}", i % 30),
                    "198.51.100.77",
                )
            })
            .collect();
        events.push(ssh(T0 + 601_000, "success", "u3", "198.51.100.77"));
        let d = run(&events);
        let b = of(&d, "logs.net.auth_brute_force");
        assert_eq!(b.len(), 1, "{d:#?}");
        assert!(
            b[0].details
                .starts_with("300 failed logins to sshd from 198.51.100.77 on gw (30 accounts"),
            "{}",
            b[0].details
        );
        assert!(b[0].details.contains("then 1 successful"));
        let s = of(&d, "logs.net.auth_success_after_failures");
        assert_eq!(s.len(), 1);
        assert!(
            s[0].details
                .starts_with("u3 logged in to sshd from 198.51.100.77"),
            "{}",
            s[0].details
        );
    }

    #[test]
    fn a_few_failures_then_success_is_a_typo() {
        let mut events: Vec<Event> = (0..3)
            .map(|i| ssh(T0 + i * 2000, "failure", "bob", "10.0.0.3"))
            .collect();
        events.push(ssh(T0 + 10_000, "success", "bob", "10.0.0.3"));
        assert!(run(&events).is_empty());
        // Failures without an address (sudo) are not counted.
        let sudo: Vec<Event> = (0..30)
            .map(|i| {
                line(
                    T0 + i,
                    SourceKind::Auth,
                    &[("program", "sudo"), ("user", "bob"), ("action", "failure")],
                )
            })
            .collect();
        assert!(run(&sudo).is_empty());
    }
}
