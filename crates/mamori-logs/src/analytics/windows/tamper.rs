//! Tampering and persistence on a host: an event log cleared (Security 1102, System 104 — both
//! from the `Microsoft-Windows-Eventlog` provider; other providers reuse 104 for unrelated
//! things) and a new service installed (System 7045, Security 4697).
//!
//! A new service is `high` when its command line looks like an attacker's (a shell, a script
//! host, a pipe, an admin share, a temp directory) — PsExec-likes and Metasploit do that —
//! and `medium` otherwise: software installs create services too. Service changes (7040) and
//! deletions are not covered.

use super::{account, field, host};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const LOG_CLEARED: Rule = Rule {
    id: "logs.win.log_cleared",
    title: "Windows event log cleared",
};
pub const NEW_SERVICE: Rule = Rule {
    id: "logs.win.new_service",
    title: "New Windows service installed",
};

/// Substrings (lowercase) of service command lines that attackers use and installers rarely do.
const SUSPICIOUS_IMAGE: &[&str] = &[
    "cmd.exe",
    "cmd /",
    "%comspec%",
    "powershell",
    "pwsh",
    "mshta",
    "rundll32",
    "regsvr32",
    "wscript",
    "cscript",
    "\\pipe\\",
    "\\\\127.0.0.1\\",
    "admin$",
    "\\temp\\",
    "\\appdata\\",
    "\\users\\public\\",
    "\\programdata\\",
    "-enc",
    "frombase64string",
    "certutil",
    "bitsadmin",
];

pub struct Tamper {
    cleared: Episodes<(String, String)>,
    services: Episodes<(String, String)>,
}

impl Tamper {
    pub fn new(c: &AnalyticsConfig) -> Tamper {
        let gap = i64::try_from(c.windows.episode_gap.saturating_mul(1000)).unwrap_or(i64::MAX);
        Tamper {
            cleared: Episodes::new(c.max_keys, gap, 86_400_000),
            services: Episodes::new(c.max_keys, gap, 86_400_000),
        }
    }
}

fn from_eventlog(ev: &Event) -> bool {
    ev.get("Provider_Name")
        .is_none_or(|p| p.to_ascii_lowercase().contains("eventlog"))
}

/// The cleared log's name: 104 carries it as a `Channel` item of its `UserData`, after the
/// `System` one; 1102 clears the Security log.
fn cleared_channel(ev: &Event) -> String {
    if ev.event_id == Some(1102) {
        return "Security".into();
    }
    ev.fields
        .iter()
        .filter(|(k, _)| *k == "Channel")
        .map(|(_, v)| v)
        .nth(1)
        .or(ev.channel.as_deref())
        .unwrap_or("System")
        .to_string()
}

fn emit_cleared(ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} log cleared on {} by {}{}, {}",
        ep.note,
        ep.last_host(),
        if ep.sources.is_empty() {
            "an unknown account".to_string()
        } else {
            ep.sources.summary(3)
        },
        if ep.count > 1 {
            format!(" ({} times)", ep.count)
        } else {
            String::new()
        },
        ep.span_text()
    );
    out.push(ep.detection(
        &LOG_CLEARED,
        Level::High,
        details,
        &["attack.defense_evasion", "attack.t1070.001"],
    ));
}

fn emit_service(ep: Episode, out: &mut Vec<Detection>) {
    let image = ep.targets.iter().next().unwrap_or("?").to_string();
    let suspicious = {
        let l = image.to_lowercase();
        SUSPICIOUS_IMAGE.iter().any(|s| l.contains(s))
    };
    let details = format!(
        "service {} installed on {} running {}{}{}, {}",
        ep.note,
        ep.last_host(),
        crate::analytics::episode::cut(&image, 300),
        if ep.sources.is_empty() {
            String::new()
        } else {
            format!(" as {}", ep.sources.summary(2))
        },
        if suspicious {
            " (command line typical of remote execution tools)"
        } else {
            ""
        },
        ep.span_text()
    );
    let level = if suspicious {
        Level::High
    } else {
        Level::Medium
    };
    out.push(ep.detection(
        &NEW_SERVICE,
        level,
        details,
        &[
            "attack.persistence",
            "attack.execution",
            "attack.t1543.003",
            "attack.t1569.002",
        ],
    ));
}

impl Analytic for Tamper {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        match ev.event_id {
            Some(1102) | Some(104) if from_eventlog(ev) => {
                let channel = cleared_channel(ev);
                let ep = self.cleared.at(
                    (host(ev).to_lowercase(), channel.to_lowercase()),
                    ts,
                    &mut closed,
                );
                ep.add(ev, ts);
                ep.heat(ts);
                ep.note = channel;
                if let Some(by) = account(ev, "SubjectUserName", "SubjectDomainName") {
                    ep.sources.add(&by, ts);
                }
                closed.drain(..).for_each(|(_, ep)| emit_cleared(ep, out));
            }
            Some(7045) | Some(4697) => {
                let name = field(ev, "ServiceName").unwrap_or("?").to_string();
                let image = field(ev, "ImagePath")
                    .or_else(|| field(ev, "ServiceFileName"))
                    .unwrap_or("?");
                let ep = self.services.at(
                    (host(ev).to_lowercase(), name.to_lowercase()),
                    ts,
                    &mut closed,
                );
                ep.add(ev, ts);
                ep.heat(ts);
                ep.note = name;
                ep.targets.add(image, ts);
                if let Some(a) = field(ev, "AccountName").or_else(|| field(ev, "ServiceAccount")) {
                    ep.sources.add(a, ts);
                }
                closed.drain(..).for_each(|(_, ep)| emit_service(ep, out));
            }
            _ => {}
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.cleared.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_cleared(ep, out));
        self.services.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_service(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.cleared.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_cleared(ep, out));
        self.services.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_service(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::detection::Level;

    #[test]
    fn security_and_system_clears_are_reported() {
        let d = run(&[
            win(
                T0,
                "pc1",
                "Security",
                1102,
                &[
                    ("Provider_Name", "Microsoft-Windows-Eventlog"),
                    ("SubjectUserName", "eve"),
                    ("SubjectDomainName", "CORP"),
                ],
            ),
            win(
                T0 + 1000,
                "pc1",
                "System",
                104,
                &[
                    ("Provider_Name", "Microsoft-Windows-Eventlog"),
                    ("SubjectUserName", "eve"),
                    ("Channel", "Application"),
                ],
            ),
        ]);
        let c = of(&d, "logs.win.log_cleared");
        assert_eq!(c.len(), 2, "{d:#?}");
        assert!(c.iter().any(|x| {
            x.details
                .starts_with("Security log cleared on pc1 by CORP\\eve")
        }));
        assert!(c
            .iter()
            .any(|x| x.details.starts_with("Application log cleared on pc1")));
    }

    #[test]
    fn event_104_of_another_provider_is_not_a_clear() {
        let d = run(&[win(
            T0,
            "pc1",
            "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
            104,
            &[(
                "Provider_Name",
                "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS",
            )],
        )]);
        assert!(d.is_empty());
    }

    #[test]
    fn service_running_a_shell_is_high() {
        let d = run(&[win(
            T0,
            "srv1",
            "System",
            7045,
            &[
                ("Provider_Name", "Service Control Manager"),
                ("ServiceName", "WinPwnage"),
                ("ImagePath", "%COMSPEC% /c echo x > \\\\.\\pipe\\p"),
                ("AccountName", "LocalSystem"),
            ],
        )]);
        let s = of(&d, "logs.win.new_service");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].level, Level::High);
        assert!(
            s[0].details.contains("service WinPwnage installed on srv1"),
            "{}",
            s[0].details
        );
    }

    #[test]
    fn ordinary_service_is_medium_and_reinstalls_are_one() {
        let ev: Vec<_> = (0..3)
            .map(|i| {
                win(
                    T0 + i * 1000,
                    "srv1",
                    "System",
                    7045,
                    &[
                        ("ServiceName", "VendorUpdate"),
                        ("ImagePath", "\"C:\\Program Files\\Vendor\\upd.exe\""),
                    ],
                )
            })
            .collect();
        let s = run(&ev);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].level, Level::Medium);
    }
}
