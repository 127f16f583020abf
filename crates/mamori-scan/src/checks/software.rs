//! Technology and version fingerprinting: the Server and X-Powered-By headers, the
//! generator meta tag, and WordPress plugin/theme `readme.txt` "Stable tag" lines, judged
//! against the vulnerability data ("known vulnerable" and "outdated" are separate findings).

use crate::checks::soft404::NotFoundProfile;
use crate::finding::Finding;
use crate::http::{Http, Response};
use crate::vulndb::{Kind, Verdict, VulnDb};
use mamori_core::Severity;
use regex::Regex;
use reqwest::Url;
use std::sync::LazyLock;

/// Plugins and themes probed at most, to keep the request count bounded.
const MAX_COMPONENTS: usize = 40;

static VERSIONED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z][A-Za-z0-9_.-]*/\d+(?:\.\d+)+").expect("static regex"));
static META: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<meta\s[^>]{0,500}>").expect("static regex"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(name|content)\s*=\s*["']([^"']{0,200})["']"#).expect("static regex")
});
static COMPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"/wp-content/(plugins|themes)/([a-z0-9_-]{1,64})/").expect("static regex")
});
static STABLE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^\s*(?:Stable tag|Version)\s*:\s*([0-9][0-9A-Za-z.\-]{0,30})\s*$")
        .expect("static regex")
});

/// `Server: Apache/2.4.29` and `X-Powered-By: PHP/7.2.1` style version disclosure.
pub fn disclosed_versions(resp: &Response) -> Option<Finding> {
    let mut shown = Vec::new();
    for name in ["server", "x-powered-by", "x-aspnet-version"] {
        for v in resp.headers_named(name) {
            if VERSIONED.is_match(v) || (name == "x-aspnet-version" && !v.is_empty()) {
                shown.push(format!("{name}: {v}"));
            }
        }
    }
    if shown.is_empty() {
        return None;
    }
    let evidence = format!(
        "{}\n→ HTTP {}\n{}",
        resp.request_line,
        resp.status,
        shown.join("\n")
    );
    Some(Finding::builtin(
        "server_version_disclosed",
        &resp.url,
        evidence,
    ))
}

/// The generator meta tag's content (`WordPress 5.8.1`).
pub fn generator(html: &str) -> Option<String> {
    for tag in META.find_iter(html).take(200) {
        let mut name = None;
        let mut content = None;
        for c in ATTR.captures_iter(tag.as_str()) {
            match c[1].to_ascii_lowercase().as_str() {
                "name" => name = Some(c[2].to_string()),
                _ => content = Some(c[2].to_string()),
            }
        }
        if name.is_some_and(|n| n.eq_ignore_ascii_case("generator")) {
            return content;
        }
    }
    None
}

/// Plugin and theme slugs referenced by a page.
pub fn components(html: &str) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    for c in COMPONENT.captures_iter(html) {
        let kind = if &c[1] == "plugins" {
            Kind::Plugin
        } else {
            Kind::Theme
        };
        let item = (kind, c[2].to_string());
        if !out.contains(&item) {
            out.push(item);
        }
        if out.len() >= MAX_COMPONENTS {
            break;
        }
    }
    out
}

/// The "Stable tag" (or "Version") of a readme.txt / style.css.
pub fn stable_tag(text: &str) -> Option<String> {
    STABLE_TAG.captures(text).map(|c| c[1].to_string())
}

/// The finding for a detected product version, if any.
pub fn judge(
    db: &VulnDb,
    kind: Kind,
    slug: &str,
    version: &str,
    url: &str,
    evidence: String,
) -> Option<Finding> {
    match db.verdict(kind, slug, version) {
        Verdict::Vulnerable(p, vulns) => {
            let severity = vulns
                .iter()
                .map(|v| v.severity)
                .max()
                .unwrap_or(Severity::High);
            let cves: Vec<&str> = vulns
                .iter()
                .flat_map(|v| v.cves.iter().map(String::as_str))
                .collect();
            let fixed = vulns
                .iter()
                .map(|v| v.fixed.as_str())
                .max_by(|a, b| {
                    crate::vulndb::Version::parse(a).cmp(&crate::vulndb::Version::parse(b))
                })
                .unwrap_or("");
            let mut ev = evidence;
            for v in &vulns {
                ev.push_str(&format!(
                    "\n{}: {} (fixed in {})",
                    v.cves.join(", "),
                    v.title,
                    v.fixed
                ));
            }
            Some(
                Finding::builtin("vulnerable_software", url, ev)
                    .severity(severity)
                    .detail(&format!(
                        "{} {version} ({}; fixed in {fixed})",
                        p.name,
                        cves.join(", ")
                    )),
            )
        }
        Verdict::Outdated(p) => Some(Finding::builtin("outdated_software", url, evidence).detail(
            &format!(
                "{} {version} (latest known {})",
                p.name,
                p.latest.as_deref().unwrap_or("?")
            ),
        )),
        Verdict::Current | Verdict::Unknown => None,
    }
}

/// Fingerprints the start page and, on WordPress, the plugins and themes.
pub async fn run(
    http: &Http,
    home: &Response,
    origin: &Url,
    db: &VulnDb,
    profile: &NotFoundProfile,
    errors: &mut Vec<String>,
    tick: &mut (dyn FnMut() + Send),
) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(disclosed_versions(home));
    let html = home.text();
    let gen = generator(&html);
    let mut wordpress = html.contains("/wp-content/") || html.contains("/wp-includes/");
    if let Some(g) = &gen {
        if let Some(v) = g.strip_prefix("WordPress ") {
            wordpress = true;
            let ev = home.evidence(Some("generator"));
            out.extend(judge(
                db,
                Kind::Wordpress,
                "wordpress",
                v.trim(),
                &home.url,
                ev,
            ));
        }
    }
    if !wordpress {
        return out;
    }
    let mut candidates = components(&html);
    for p in &db.products {
        if candidates.len() >= MAX_COMPONENTS {
            break;
        }
        let item = (p.kind, p.slug.clone());
        if p.kind == Kind::Plugin && !candidates.contains(&item) {
            candidates.push(item);
        }
    }
    for (kind, slug) in candidates {
        let dir = if kind == Kind::Plugin {
            "plugins"
        } else {
            "themes"
        };
        let path = format!("/wp-content/{dir}/{slug}/readme.txt");
        let Ok(url) = origin.join(&path) else {
            continue;
        };
        tick();
        let resp = match http.get(&url).await {
            Ok(r) => r,
            Err(e @ crate::Error::Budget { .. }) => {
                errors.push(e.to_string());
                break;
            }
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        if resp.status != 200 || profile.matches(&resp, &path) || resp.is_html() {
            continue;
        }
        let Some(version) = stable_tag(&resp.text()) else {
            continue;
        };
        let ev = format!(
            "{} (version from readme.txt Stable tag)",
            resp.evidence(Some("Stable tag"))
        );
        out.extend(judge(db, kind, &slug, &version, url.as_str(), ev));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_in_either_attribute_order() {
        assert_eq!(
            generator(r#"<head><meta name="generator" content="WordPress 5.8.1" /></head>"#)
                .as_deref(),
            Some("WordPress 5.8.1")
        );
        assert_eq!(
            generator(r#"<meta content='WordPress 6.0' name='Generator'>"#).as_deref(),
            Some("WordPress 6.0")
        );
        assert_eq!(generator("<meta charset=utf-8>"), None);
    }

    #[test]
    fn readme_stable_tag_and_components() {
        let readme =
            "=== Contact Form 7 ===\nRequires at least: 5.5\nStable tag: 5.3.1\nLicense: GPL\n";
        assert_eq!(stable_tag(readme).as_deref(), Some("5.3.1"));
        assert_eq!(stable_tag("Stable tag: trunk\n"), None);
        let html = r#"<link href="/wp-content/plugins/contact-form-7/a.css"><script src="/wp-content/themes/twentyone/x.js"></script>"#;
        assert_eq!(
            components(html),
            vec![
                (Kind::Plugin, "contact-form-7".into()),
                (Kind::Theme, "twentyone".into())
            ]
        );
    }
}
