//! Web scanners: a 404 storm from one address (`scanner_404s` within `scanner_window`: content
//! discovery, vulnerability probes) and requests whose user agent names a known scanning tool
//! (sqlmap, Nikto, Nmap, masscan, zgrab, WPScan, DirBuster, gobuster, Nuclei... plus
//! `web.scanner_agents`). One detection per address episode for each.
//!
//! Agents are trivially spoofed: a quiet attacker changes them, so the 404 storm is the
//! stronger signal; crawlers of search engines make 404s too, slowly.

use super::{client, path, status};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;

pub const SCANNER: Rule = Rule {
    id: "logs.web.scanner",
    title: "Web scanner: storm of 404 answers to one address",
};
pub const SCANNER_AGENT: Rule = Rule {
    id: "logs.web.scanner_agent",
    title: "Web scanner identified by its user agent",
};

/// Lowercase user-agent substrings of scanning tools.
const AGENTS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "wpscan",
    "dirbuster",
    "gobuster",
    "nuclei",
    "feroxbuster",
    "ffuf",
    "wfuzz",
    "acunetix",
    "netsparker",
    "openvas",
    "nessus",
    "arachni",
    "whatweb",
    "jaeles",
    "hydra",
    "burp collaborator",
    "zmeu",
    "joomscan",
    "commix",
];

pub struct Scanners {
    notfound: Episodes<String>,
    agents: Episodes<(String, String)>,
    names: Vec<String>,
    threshold: usize,
    window: i64,
}

impl Scanners {
    pub fn new(c: &AnalyticsConfig) -> Scanners {
        let w = &c.web;
        let window = i64::try_from(w.scanner_window.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut names: Vec<String> = AGENTS.iter().map(|s| s.to_string()).collect();
        names.extend(
            w.scanner_agents
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty()),
        );
        Scanners {
            notfound: Episodes::new(c.max_keys, window, 86_400_000),
            agents: Episodes::new(c.max_keys, 3_600_000, 86_400_000),
            names,
            threshold: w.scanner_404s,
            window,
        }
    }
}

fn emit_404(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} answered 404 {} times for {} distinct paths, {} (e.g. {})",
        ep.sources.summary(1),
        ep.count,
        ep.targets.count_text(),
        ep.span_text(),
        ep.targets.summary(5)
    );
    out.push(ep.detection(
        &SCANNER,
        Level::Medium,
        details,
        &["attack.reconnaissance", "attack.t1595.003"],
    ));
}

fn emit_agent(ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} scanned with {} in {} requests ({} distinct paths), {}",
        ep.sources.summary(1),
        ep.note,
        ep.count,
        ep.targets.count_text(),
        ep.span_text()
    );
    out.push(ep.detection(
        &SCANNER_AGENT,
        Level::Medium,
        details,
        &["attack.reconnaissance", "attack.t1595.002"],
    ));
}

impl Analytic for Scanners {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(ip) = client(ev) else { return };
        let p = path(ev).unwrap_or("?");
        let mut closed = Vec::new();
        if status(ev) == Some(404) {
            let ep = self.notfound.at(ip.to_string(), ts, &mut closed);
            ep.add(ev, ts);
            ep.sources.add(ip, ts);
            ep.targets.add(crate::analytics::episode::cut(p, 200), ts);
            ep.burst(ts, self.threshold, self.window);
            closed.drain(..).for_each(|(_, ep)| emit_404(ep, out));
        }
        if let Some(ua) = ev.get("user_agent") {
            let ua = ua.to_ascii_lowercase();
            if let Some(tool) = self.names.iter().find(|n| ua.contains(n.as_str())) {
                let mut closed = Vec::new();
                let ep = self
                    .agents
                    .at((ip.to_string(), tool.clone()), ts, &mut closed);
                ep.add(ev, ts);
                ep.heat(ts);
                ep.note = tool.clone();
                ep.sources.add(ip, ts);
                ep.targets.add(crate::analytics::episode::cut(p, 200), ts);
                closed.drain(..).for_each(|(_, ep)| emit_agent(ep, out));
            }
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.notfound.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_404(ep, out));
        let mut closed = Vec::new();
        self.agents.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_agent(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.notfound.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_404(ep, out));
        let mut closed = Vec::new();
        self.agents.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_agent(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::{Event, SourceKind};

    fn get(ts: i64, ip: &str, path: &str, status: &str, ua: &str) -> Event {
        line(
            ts,
            SourceKind::WebAccess,
            &[
                ("src_ip", ip),
                ("method", "GET"),
                ("path", path),
                ("status", status),
                ("user_agent", ua),
            ],
        )
    }

    #[test]
    fn storm_of_404s_is_one_scanner() {
        let events: Vec<Event> = (0..2000)
            .map(|i| {
                get(
                    T0 + i * 100,
                    "198.51.100.9",
                    &format!("/backup{i}.zip"),
                    "404",
                    "Mozilla/5.0",
                )
            })
            .collect();
        let d = run(&events);
        let s = of(&d, "logs.web.scanner");
        assert_eq!(s.len(), 1);
        assert!(
            s[0].details
                .starts_with("198.51.100.9 answered 404 2000 times for 1000+ distinct paths"),
            "{}",
            s[0].details
        );
        assert!(of(&d, "logs.web.scanner_agent").is_empty());
    }

    #[test]
    fn scanner_agent_is_reported_and_normal_404s_are_not() {
        let d = run(&[
            get(T0, "198.51.100.9", "/", "200", "Mozilla/5.00 (Nikto/2.1.6)"),
            get(
                T0 + 1,
                "198.51.100.9",
                "/admin",
                "403",
                "Mozilla/5.00 (Nikto/2.1.6)",
            ),
        ]);
        let a = of(&d, "logs.web.scanner_agent");
        assert_eq!(a.len(), 1);
        assert!(
            a[0].details
                .starts_with("198.51.100.9 scanned with nikto in 2 requests"),
            "{}",
            a[0].details
        );
        // A browser missing a few images.
        let few: Vec<Event> = (0..30)
            .map(|i| {
                get(
                    T0 + i * 1000,
                    "10.0.0.3",
                    &format!("/img{i}.png"),
                    "404",
                    "Mozilla/5.0",
                )
            })
            .collect();
        assert!(run(&few).is_empty());
    }
}
