//! Obvious SQL injection and cross-site scripting in request URLs: the URI is percent-decoded
//! (twice, for double encoding; `+` as space), lowercased, and matched against a short list of
//! signatures no legitimate URL carries (`union select`, `sleep(5)`, `' or 1=1`, `<script`,
//! `onerror=`...). One detection per (address, kind) episode with the signatures seen and a
//! sample URL.
//!
//! Deliberately small: request bodies are not in access logs, and the WAF's rule engine does
//! the real inspection. Encodings beyond percent (HTML entities, Unicode escapes, comments
//! inside keywords) are not undone.

use super::client;
use crate::analytics::episode::{cut, Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;
use regex::RegexSet;
use std::sync::LazyLock;

pub const SQLI: Rule = Rule {
    id: "logs.web.sqli",
    title: "SQL injection attempt in a URL",
};
pub const XSS: Rule = Rule {
    id: "logs.web.xss",
    title: "Cross-site scripting attempt in a URL",
};

const SQLI_SIGNATURES: &[(&str, &str)] = &[
    ("union select", r"union(\s|/\*.*?\*/)+(all(\s)+)?select"),
    (
        "boolean tautology",
        r#"['"]\s*(or|and)\s+['"]?\w+['"]?\s*=\s*['"]?\w+"#,
    ),
    (
        "numeric tautology",
        r"\b(or|and)\s+\d+\s*=\s*\d+(\s|--|#|$)",
    ),
    (
        "time delay",
        r"\b(sleep|pg_sleep)\s*\(\s*\d+|waitfor\s+delay\s+'|benchmark\s*\(\s*\d+",
    ),
    (
        "schema probe",
        r"information_schema|\bsysobjects\b|\bsqlite_master\b|\bpg_catalog\b",
    ),
    ("file access", r"\bload_file\s*\(|\binto\s+(out|dump)file\b"),
    (
        "stacked query",
        r";\s*(drop|truncate|shutdown|exec|insert|update|delete)\s",
    ),
    (
        "error-based",
        r"\b(extractvalue|updatexml)\s*\(|\bconvert\s*\(\s*int\s*,",
    ),
    ("comment terminator", r"'\s*(--|#)"),
];

const XSS_SIGNATURES: &[(&str, &str)] = &[
    ("script tag", r"<\s*script\b"),
    ("javascript url", r"javascript\s*:"),
    (
        "event handler",
        r"\bon(error|load|mouseover|focus|click|toggle|animationstart)\s*=",
    ),
    ("svg/iframe tag", r"<\s*(svg|iframe|object|embed)\b"),
    ("cookie theft", r"document\.cookie|document\.domain"),
    ("alert call", r"\b(alert|prompt|confirm)\s*\("),
];

static SQLI_SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(SQLI_SIGNATURES.iter().map(|(_, r)| *r)).ok());
static XSS_SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(XSS_SIGNATURES.iter().map(|(_, r)| *r)).ok());

/// Percent-decoding of a URL (and `+` as a space); invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'%' {
            let h = b.get(i + 1).and_then(|x| (*x as char).to_digit(16));
            let l = b.get(i + 2).and_then(|x| (*x as char).to_digit(16));
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if c == b'+' { b' ' } else { c });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL as the signatures read it.
fn normalize(uri: &str) -> String {
    // Long URLs are cut: signatures sit early, and regexes over 64 kB lines cost.
    let once = percent_decode(cut(uri, 8192));
    percent_decode(&once).to_lowercase()
}

pub struct Injections {
    open: Episodes<(String, &'static str)>,
}

impl Injections {
    pub fn new(c: &AnalyticsConfig) -> Injections {
        Injections {
            open: Episodes::new(c.max_keys, 3_600_000, 86_400_000),
        }
    }
}

fn emit(ep: Episode, out: &mut Vec<Detection>) {
    let sqli = ep.extra == 1;
    let details = format!(
        "{} sent {} request(s) with {} signatures ({}), {}; e.g. {}",
        ep.sources.summary(1),
        ep.count,
        if sqli { "SQL injection" } else { "XSS" },
        ep.targets.summary(5),
        ep.span_text(),
        ep.note
    );
    let (rule, tags): (&Rule, &[&str]) = if sqli {
        (&SQLI, &["attack.initial_access", "attack.t1190"])
    } else {
        (
            &XSS,
            &["attack.initial_access", "attack.t1189", "attack.t1190"],
        )
    };
    out.push(ep.detection(rule, Level::Medium, details, tags));
}

impl Analytic for Injections {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(ip) = client(ev) else { return };
        let Some(uri) = ev.get("uri").or_else(|| ev.get("request")) else {
            return;
        };
        // Fast exit for the common clean URL: every signature needs one of these characters.
        if !uri.bytes().any(|c| {
            matches!(
                c,
                b'%' | b'\'' | b'"' | b'<' | b'(' | b'+' | b' ' | b';' | b':'
            )
        }) {
            return;
        }
        let text = normalize(uri);
        let mut closed = Vec::new();
        for (kind, set, names) in [
            ("sqli", &*SQLI_SET, SQLI_SIGNATURES),
            ("xss", &*XSS_SET, XSS_SIGNATURES),
        ] {
            let Some(set) = set else { continue };
            let hits: Vec<&str> = set
                .matches(&text)
                .iter()
                .filter_map(|i| names.get(i).map(|(n, _)| *n))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let ep = self.open.at((ip.to_string(), kind), ts, &mut closed);
            ep.add(ev, ts);
            ep.heat(ts);
            ep.extra = u64::from(kind == "sqli");
            ep.sources.add(ip, ts);
            for h in hits {
                ep.targets.add(h, ts);
            }
            if ep.note.is_empty() {
                ep.note = cut(&text, 300).to_string();
            }
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
    use super::*;
    use crate::analytics::testing::*;
    use crate::event::SourceKind;

    fn req(ts: i64, uri: &str) -> Event {
        line(
            ts,
            SourceKind::WebAccess,
            &[
                ("src_ip", "198.51.100.66"),
                ("method", "GET"),
                ("uri", uri),
                ("status", "200"),
            ],
        )
    }

    #[test]
    fn signatures_compile() {
        assert!(SQLI_SET.is_some());
        assert!(XSS_SET.is_some());
    }

    #[test]
    fn encoded_sqli_and_xss_are_found_once_per_episode() {
        let d = run(&[
            req(
                T0,
                "/item.php?id=1%20UNION%20SELECT%20user,password%20FROM%20users--",
            ),
            req(T0 + 1000, "/item.php?id=1%2527%20or%20%25271%2527%3D%25271"),
            req(T0 + 2000, "/item.php?id=1;%20WAITFOR%20DELAY%20'0:0:5'--"),
            req(
                T0 + 3000,
                "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
            ),
            req(T0 + 4000, "/p?x=\"><img src=x onerror=alert(1)>"),
        ]);
        let s = of(&d, "logs.web.sqli");
        assert_eq!(s.len(), 1, "{d:#?}");
        assert!(
            s[0].details
                .contains("sent 3 request(s) with SQL injection signatures (union select"),
            "{}",
            s[0].details
        );
        let x = of(&d, "logs.web.xss");
        assert_eq!(x.len(), 1);
        assert!(x[0].details.contains("script tag"), "{}", x[0].details);
    }

    #[test]
    fn ordinary_urls_are_clean() {
        let d = run(&[
            req(T0, "/blog/2024/05/select-your-union-rep"),
            req(T0, "/search?q=rock+and+roll"),
            req(T0, "/api/items?sort=name&order=asc&filter=price%3E10"),
            req(T0, "/wiki/Script_(Unicode)"),
            req(T0, "/docs/on-error-handling?section=onload"),
        ]);
        assert!(d.is_empty(), "{d:#?}");
    }

    #[test]
    fn decoding_handles_bad_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz+%41"), "%zz A");
    }
}
