//! DCSync: a directory replication request (4662 on a domain controller, with one of the
//! replication extended rights in `Properties`: DS-Replication-Get-Changes
//! `1131f6aa-9c07-11d1-f79f-00c04fc2dcd2`, -Get-Changes-All `1131f6ad-...`, -Get-Changes-In-
//! Filtered-Set `89e95b76-444d-4c62-991a-0facbeda640c`) by an account that is not a domain
//! controller's machine account (`$`) — mimikatz `lsadump::dcsync`, secretsdump.
//!
//! Accounts that replicate legitimately (Azure AD Connect's `MSOL_...`) go in
//! `windows.dcsync_allowed`. Granting the right (5136 ACL changes) is not covered here.

use super::{account, field, host, is_machine};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const DCSYNC: Rule = Rule {
    id: "logs.win.dcsync",
    title: "DCSync: directory replication by a non-DC account",
};

const REPLICATION_RIGHTS: &[&str] = &[
    "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
    "89e95b76-444d-4c62-991a-0facbeda640c",
];

pub struct DcSync {
    open: Episodes<(String, String)>,
    allowed: Vec<String>,
}

impl DcSync {
    pub fn new(c: &AnalyticsConfig) -> DcSync {
        let gap = i64::try_from(c.windows.episode_gap.saturating_mul(1000)).unwrap_or(i64::MAX);
        DcSync {
            open: Episodes::new(c.max_keys, gap, 86_400_000),
            allowed: c
                .windows
                .dcsync_allowed
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
        }
    }
}

fn emit(ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} requested directory replication ({}) from {} in {} events, {}",
        ep.note,
        ep.targets.summary(3),
        ep.last_host(),
        ep.count,
        ep.span_text()
    );
    out.push(ep.detection(
        &DCSYNC,
        Level::Critical,
        details,
        &["attack.credential_access", "attack.t1003.006"],
    ));
}

fn right_name(guid: &str) -> &'static str {
    match guid {
        "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2" => "DS-Replication-Get-Changes",
        "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2" => "DS-Replication-Get-Changes-All",
        _ => "DS-Replication-Get-Changes-In-Filtered-Set",
    }
}

impl Analytic for DcSync {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        if ev.event_id != Some(4662) {
            return;
        }
        let Some(props) = field(ev, "Properties") else {
            return;
        };
        let props = props.to_ascii_lowercase();
        let rights: Vec<&str> = REPLICATION_RIGHTS
            .iter()
            .copied()
            .filter(|g| props.contains(g))
            .collect();
        if rights.is_empty() {
            return;
        }
        let Some(user) = field(ev, "SubjectUserName") else {
            return;
        };
        let lower = user.to_lowercase();
        let allowed = self.allowed.iter().any(|a| match a.strip_suffix('*') {
            Some(prefix) => lower.starts_with(prefix),
            None => lower == *a,
        });
        if is_machine(user) || allowed {
            return;
        }
        let shown = account(ev, "SubjectUserName", "SubjectDomainName").unwrap_or(user.to_string());
        let mut closed = Vec::new();
        let ep = self
            .open
            .at((host(ev).to_lowercase(), lower), ts, &mut closed);
        ep.add(ev, ts);
        ep.heat(ts);
        ep.note = shown;
        for r in rights {
            ep.targets.add(right_name(r), ts);
        }
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
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
    use crate::analytics::AnalyticsConfig;

    fn repl(ts: i64, user: &str, guid: &str) -> crate::event::Event {
        let props = format!("%%7688\n\t\t{{{guid}}}\n\t{{19195a5b-6da0-11d0-afd3-00c04fd930c9}}");
        win(
            ts,
            "dc1",
            "Security",
            4662,
            &[
                ("SubjectUserName", user),
                ("SubjectDomainName", "CORP"),
                ("AccessMask", "0x100"),
                ("Properties", &props),
            ],
        )
    }

    #[test]
    fn user_replicating_is_dcsync_once() {
        let d = run(&[
            repl(T0, "bob", "1131F6AA-9C07-11D1-F79F-00C04FC2DCD2"),
            repl(T0 + 10, "bob", "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"),
        ]);
        let x = of(&d, "logs.win.dcsync");
        assert_eq!(x.len(), 1);
        assert!(x[0].details.contains("CORP\\bob requested directory replication (DS-Replication-Get-Changes, DS-Replication-Get-Changes-All) from dc1"), "{}", x[0].details);
    }

    #[test]
    fn domain_controllers_and_allowed_accounts_replicate() {
        assert!(run(&[repl(T0, "DC2$", "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2")]).is_empty());
        let config = AnalyticsConfig {
            windows: crate::analytics::WindowsConfig {
                dcsync_allowed: vec!["MSOL_*".into()],
                ..Default::default()
            },
            ..AnalyticsConfig::default()
        };
        assert!(run_with(
            &config,
            &[repl(
                T0,
                "MSOL_3f2a",
                "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
            )]
        )
        .is_empty());
        // Other directory reads by a user are not replication.
        assert!(run(&[repl(T0, "bob", "bf967a86-0de6-11d0-a285-00aa003049e2")]).is_empty());
    }
}
