//! Remote Desktop from outside: a successful RDP logon (4624 with LogonType 10, or 1149 of
//! TerminalServices-RemoteConnectionManager, whose `Param3` is the client address) from an
//! address that is neither private nor in `home_net`; and RDP from the machine itself
//! (loopback), the trace of RDP carried through a tunnel or port forward (plink, ngrok,
//! Tunna...), since nobody opens a Remote Desktop session to the host they sit at.
//!
//! One detection per (host, account, address) episode. Failed RDP logons are brute force's
//! business; RDP between internal machines is normal and not reported.

use super::{field, host};
use crate::analytics::addr::parse_ip;
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig, Shared};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const RDP_EXTERNAL: Rule = Rule {
    id: "logs.win.rdp_external",
    title: "Remote Desktop logon from outside the network",
};
pub const RDP_TUNNEL: Rule = Rule {
    id: "logs.win.rdp_tunnel",
    title: "Remote Desktop logon from loopback (tunnelled RDP)",
};

pub struct Rdp {
    shared: Shared,
    external: Episodes<(String, String, String)>,
    tunnel: Episodes<(String, String)>,
}

impl Rdp {
    pub fn new(c: &AnalyticsConfig, shared: &Shared) -> Rdp {
        let gap = i64::try_from(c.windows.episode_gap.saturating_mul(1000)).unwrap_or(i64::MAX);
        Rdp {
            shared: shared.clone(),
            external: Episodes::new(c.max_keys, gap * 8, 86_400_000),
            tunnel: Episodes::new(c.max_keys, gap * 8, 86_400_000),
        }
    }
}

fn emit(rule: &Rule, ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} logged on to {} over Remote Desktop from {}{}, {}",
        ep.note,
        ep.last_host(),
        ep.sources.summary(3),
        if ep.count > 1 {
            format!(" ({} logons)", ep.count)
        } else {
            String::new()
        },
        ep.span_text()
    );
    let tags: &[&str] = if rule.id == RDP_TUNNEL.id {
        &[
            "attack.command_and_control",
            "attack.t1572",
            "attack.lateral_movement",
            "attack.t1021.001",
        ]
    } else {
        &[
            "attack.initial_access",
            "attack.t1133",
            "attack.lateral_movement",
            "attack.t1021.001",
        ]
    };
    out.push(ep.detection(rule, Level::High, details, tags));
}

impl Analytic for Rdp {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let (user, addr) = match ev.event_id {
            Some(4624) if field(ev, "LogonType") == Some("10") => (
                super::account(ev, "TargetUserName", "TargetDomainName"),
                field(ev, "IpAddress"),
            ),
            Some(1149) => (
                super::field(ev, "Param1").map(|u| match field(ev, "Param2") {
                    Some(d) => format!("{d}\\{u}"),
                    None => u.to_string(),
                }),
                field(ev, "Param3"),
            ),
            _ => return,
        };
        let Some(raw_addr) = addr else { return };
        // 1149 writes link-local IPv6 with a zone (`fe80::1%10`).
        let Some(ip) = parse_ip(raw_addr.split('%').next().unwrap_or(raw_addr)) else {
            return;
        };
        let user = user.unwrap_or_else(|| "?".into());
        if ip.is_loopback() {
            let mut closed = Vec::new();
            let ep = self.tunnel.at(
                (host(ev).to_lowercase(), user.to_lowercase()),
                ts,
                &mut closed,
            );
            ep.add(ev, ts);
            ep.heat(ts);
            ep.note = user;
            ep.sources.add(&ip.to_string(), ts);
            closed
                .drain(..)
                .for_each(|(_, ep)| emit(&RDP_TUNNEL, ep, out));
        } else if !self.shared.inside(ip) {
            let mut closed = Vec::new();
            let key = (host(ev).to_lowercase(), user.to_lowercase(), ip.to_string());
            let ep = self.external.at(key, ts, &mut closed);
            ep.add(ev, ts);
            ep.heat(ts);
            ep.note = user;
            ep.sources.add(&ip.to_string(), ts);
            closed
                .drain(..)
                .for_each(|(_, ep)| emit(&RDP_EXTERNAL, ep, out));
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.external.expire(now, &mut closed);
        closed
            .drain(..)
            .for_each(|(_, ep)| emit(&RDP_EXTERNAL, ep, out));
        let mut closed = Vec::new();
        self.tunnel.expire(now, &mut closed);
        closed
            .drain(..)
            .for_each(|(_, ep)| emit(&RDP_TUNNEL, ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.external.drain(&mut closed);
        closed
            .drain(..)
            .for_each(|(_, ep)| emit(&RDP_EXTERNAL, ep, out));
        let mut closed = Vec::new();
        self.tunnel.drain(&mut closed);
        closed
            .drain(..)
            .for_each(|(_, ep)| emit(&RDP_TUNNEL, ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::analytics::AnalyticsConfig;

    fn rdp(ts: i64, ip: &str) -> crate::event::Event {
        win(
            ts,
            "srv1",
            "Security",
            4624,
            &[
                ("TargetUserName", "admin"),
                ("TargetDomainName", "CORP"),
                ("LogonType", "10"),
                ("IpAddress", ip),
            ],
        )
    }

    #[test]
    fn public_address_is_outside() {
        let d = run(&[rdp(T0, "198.51.100.23"), rdp(T0 + MIN, "198.51.100.23")]);
        let r = of(&d, "logs.win.rdp_external");
        assert_eq!(r.len(), 1);
        assert!(
            r[0].details.contains(
                "CORP\\admin logged on to srv1 over Remote Desktop from 198.51.100.23 (2 logons)"
            ),
            "{}",
            r[0].details
        );
    }

    #[test]
    fn private_or_home_net_address_is_inside() {
        assert!(run(&[rdp(T0, "10.0.0.4")]).is_empty());
        let config = AnalyticsConfig {
            home_net: vec!["198.51.100.0/24".into()],
            ..AnalyticsConfig::default()
        };
        assert!(run_with(&config, &[rdp(T0, "198.51.100.23")]).is_empty());
        // Network logons (type 3) from outside are not RDP.
        let t3 = win(
            T0,
            "srv1",
            "Security",
            4624,
            &[
                ("TargetUserName", "admin"),
                ("LogonType", "3"),
                ("IpAddress", "198.51.100.23"),
            ],
        );
        assert!(run(&[t3]).is_empty());
    }

    #[test]
    fn terminal_services_1149_counts_and_loopback_is_a_tunnel() {
        let ch = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational";
        let d = run(&[
            win(
                T0,
                "pc1",
                ch,
                1149,
                &[
                    ("Param1", "admin01"),
                    ("Param2", "example"),
                    ("Param3", "203.0.113.4"),
                ],
            ),
            win(
                T0 + MIN,
                "pc1",
                ch,
                1149,
                &[
                    ("Param1", "admin01"),
                    ("Param2", "example"),
                    ("Param3", "127.0.0.1"),
                ],
            ),
            win(
                T0 + MIN,
                "pc1",
                ch,
                1149,
                &[
                    ("Param1", "admin01"),
                    ("Param3", "fe80::80ac:4126:fa58:1b81%10"),
                ],
            ),
        ]);
        assert_eq!(of(&d, "logs.win.rdp_external").len(), 1);
        assert_eq!(of(&d, "logs.win.rdp_tunnel").len(), 1);
        assert_eq!(d.len(), 2, "{d:#?}");
    }
}
