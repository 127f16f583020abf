//! Account changes: a new user (4720) and a member added to a privileged group (4728 global,
//! 4732 local, 4756 universal).
//!
//! A group is privileged by its well-known SID (works on localized Windows, where
//! "Administrators" is "Administrateurs") or by name (built-in list plus
//! `windows.privileged_groups`). One detection per (host, new account) and per (group, member)
//! episode. Removals, 4738 changes and nested-group reasoning are not covered.

use super::{account, field, host, is_machine};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const NEW_USER: Rule = Rule {
    id: "logs.win.new_user",
    title: "New Windows user account created",
};
pub const PRIVILEGED_GROUP: Rule = Rule {
    id: "logs.win.privileged_group_add",
    title: "Member added to a privileged Windows group",
};

/// Built-in local groups (`S-1-5-32-<rid>`) that give control of a machine or a domain.
const BUILTIN_RIDS: &[&str] = &[
    "544", // Administrators
    "548", // Account Operators
    "549", // Server Operators
    "550", // Print Operators
    "551", // Backup Operators
    "555", // Remote Desktop Users
    "562", // Distributed COM Users
    "578", // Hyper-V Administrators
    "580", // Remote Management Users
];

/// Domain group RIDs (`S-1-5-21-...-<rid>`).
const DOMAIN_RIDS: &[&str] = &[
    "512", // Domain Admins
    "518", // Schema Admins
    "519", // Enterprise Admins
    "520", // Group Policy Creator Owners
    "526", // Key Admins
    "527", // Enterprise Key Admins
];

const NAMES: &[&str] = &[
    "administrators",
    "domain admins",
    "enterprise admins",
    "schema admins",
    "account operators",
    "server operators",
    "print operators",
    "backup operators",
    "remote desktop users",
    "remote management users",
    "distributed com users",
    "hyper-v administrators",
    "group policy creator owners",
    "key admins",
    "enterprise key admins",
    "dnsadmins",
    "exchange windows permissions",
    "organization management",
];

pub struct Accounts {
    users: Episodes<(String, String)>,
    groups: Episodes<(String, String)>,
    extra_names: Vec<String>,
}

impl Accounts {
    pub fn new(c: &AnalyticsConfig) -> Accounts {
        let gap = i64::try_from(c.windows.episode_gap.saturating_mul(1000)).unwrap_or(i64::MAX);
        Accounts {
            users: Episodes::new(c.max_keys, gap, 86_400_000),
            groups: Episodes::new(c.max_keys, gap, 86_400_000),
            extra_names: c
                .windows
                .privileged_groups
                .iter()
                .map(|g| g.trim().to_lowercase())
                .collect(),
        }
    }

    fn privileged(&self, ev: &Event) -> bool {
        if let Some(sid) = field(ev, "TargetSid") {
            let sid = sid.to_ascii_uppercase();
            if let Some(rid) = sid.strip_prefix("S-1-5-32-") {
                if BUILTIN_RIDS.contains(&rid) {
                    return true;
                }
            }
            if sid.starts_with("S-1-5-21-") {
                if let Some(rid) = sid.rsplit('-').next() {
                    if DOMAIN_RIDS.contains(&rid) {
                        return true;
                    }
                }
            }
        }
        field(ev, "TargetUserName").is_some_and(|g| {
            let g = g.to_lowercase();
            NAMES.contains(&g.as_str()) || self.extra_names.contains(&g)
        })
    }
}

fn emit_user(ep: Episode, out: &mut Vec<Detection>) {
    let name = ep.note.clone();
    // A "user" named like a computer account (`$`) hides among machines (e.g. noPac).
    let level = if is_machine(&name) {
        Level::High
    } else {
        Level::Medium
    };
    let details = format!(
        "account {} created on {} by {}{}, {}",
        name,
        ep.targets.summary(2),
        ep.sources.summary(3),
        if is_machine(&name) {
            " (a user account named like a computer account)"
        } else {
            ""
        },
        ep.span_text()
    );
    out.push(ep.detection(
        &NEW_USER,
        level,
        details,
        &["attack.persistence", "attack.t1136.001", "attack.t1136.002"],
    ));
}

fn emit_group(ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} added to privileged group {} on {} by {}, {}{}",
        ep.targets.summary(3),
        ep.note,
        ep.last_host(),
        ep.sources.summary(3),
        ep.span_text(),
        if ep.count > 1 {
            format!(" ({} events)", ep.count)
        } else {
            String::new()
        }
    );
    out.push(ep.detection(
        &PRIVILEGED_GROUP,
        Level::High,
        details,
        &[
            "attack.persistence",
            "attack.privilege_escalation",
            "attack.t1098",
        ],
    ));
}

impl Analytic for Accounts {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        match ev.event_id {
            Some(4720) => {
                let name = field(ev, "TargetUserName")
                    .or_else(|| field(ev, "SamAccountName"))
                    .unwrap_or("?")
                    .to_string();
                let shown =
                    account(ev, "TargetUserName", "TargetDomainName").unwrap_or(name.clone());
                let ep = self.users.at(
                    (host(ev).to_lowercase(), shown.to_lowercase()),
                    ts,
                    &mut closed,
                );
                ep.add(ev, ts);
                ep.heat(ts);
                ep.note = name;
                ep.targets.add(&host(ev), ts);
                if let Some(by) = account(ev, "SubjectUserName", "SubjectDomainName") {
                    ep.sources.add(&by, ts);
                }
                closed.drain(..).for_each(|(_, ep)| emit_user(ep, out));
            }
            Some(4728) | Some(4732) | Some(4756) => {
                if !self.privileged(ev) {
                    return;
                }
                let group = account(ev, "TargetUserName", "TargetDomainName")
                    .unwrap_or_else(|| field(ev, "TargetSid").unwrap_or("?").to_string());
                // MemberName is a DN for domain groups and `-` for local ones (then the SID).
                let member = field(ev, "MemberName")
                    .or_else(|| field(ev, "MemberSid"))
                    .unwrap_or("?")
                    .to_string();
                let ep = self.groups.at(
                    (group.to_lowercase(), member.to_lowercase()),
                    ts,
                    &mut closed,
                );
                ep.add(ev, ts);
                ep.heat(ts);
                ep.note = group;
                ep.targets.add(&member, ts);
                if let Some(by) = account(ev, "SubjectUserName", "SubjectDomainName") {
                    ep.sources.add(&by, ts);
                }
                closed.drain(..).for_each(|(_, ep)| emit_group(ep, out));
            }
            _ => {}
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.users.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_user(ep, out));
        self.groups.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_group(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.users.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_user(ep, out));
        self.groups.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_group(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::detection::Level;

    #[test]
    fn new_user_is_reported_with_its_creator() {
        let d = run(&[win(
            T0,
            "dc1",
            "Security",
            4720,
            &[
                ("TargetUserName", "backup2"),
                ("TargetDomainName", "CORP"),
                ("SubjectUserName", "eve"),
                ("SubjectDomainName", "CORP"),
            ],
        )]);
        let n = of(&d, "logs.win.new_user");
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].level, Level::Medium);
        assert!(
            n[0].details
                .contains("account backup2 created on dc1 by CORP\\eve"),
            "{}",
            n[0].details
        );
    }

    #[test]
    fn user_named_like_a_computer_is_high() {
        let d = run(&[win(
            T0,
            "dc1",
            "Security",
            4720,
            &[("TargetUserName", "$"), ("SubjectUserName", "DC1$")],
        )]);
        assert_eq!(of(&d, "logs.win.new_user")[0].level, Level::High);
    }

    #[test]
    fn other_account_events_are_not_new_users() {
        // 4722 (enabled) and 4738 (changed) are not creations.
        let d = run(&[
            win(T0, "dc1", "Security", 4722, &[("TargetUserName", "bob")]),
            win(T0, "dc1", "Security", 4738, &[("TargetUserName", "bob")]),
        ]);
        assert!(d.is_empty());
    }

    #[test]
    fn addition_to_domain_admins_by_sid_or_name() {
        let d = run(&[
            win(
                T0,
                "dc1",
                "Security",
                4728,
                &[
                    ("TargetUserName", "Domänen-Admins"),
                    ("TargetSid", "S-1-5-21-1-2-3-512"),
                    ("MemberName", "CN=eve,CN=Users,DC=corp,DC=local"),
                    ("SubjectUserName", "admin"),
                ],
            ),
            win(
                T0 + 1000,
                "pc1",
                "Security",
                4732,
                &[
                    ("TargetUserName", "Remote Desktop Users"),
                    ("TargetDomainName", "Builtin"),
                    ("MemberSid", "S-1-5-21-1-2-3-1105"),
                ],
            ),
        ]);
        let g = of(&d, "logs.win.privileged_group_add");
        assert_eq!(g.len(), 2, "{d:#?}");
        assert!(g
            .iter()
            .any(|x| x.details.contains("CN=eve") && x.details.contains("Domänen-Admins")));
    }

    #[test]
    fn ordinary_group_is_not_privileged() {
        let d = run(&[win(
            T0,
            "dc1",
            "Security",
            4728,
            &[
                ("TargetUserName", "Accounting"),
                ("TargetSid", "S-1-5-21-1-2-3-1130"),
                ("MemberName", "CN=bob"),
            ],
        )]);
        assert!(d.is_empty());
    }

    #[test]
    fn repeated_additions_are_one_episode() {
        let ev: Vec<_> = (0..5)
            .map(|i| {
                win(
                    T0 + i * 1000,
                    "dc1",
                    "Security",
                    4732,
                    &[
                        ("TargetUserName", "Administrators"),
                        ("MemberSid", "S-1-5-21-9-1111"),
                    ],
                )
            })
            .collect();
        assert_eq!(of(&run(&ev), "logs.win.privileged_group_add").len(), 1);
    }
}
