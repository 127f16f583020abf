//! `mail.link_mismatch`: a link whose text shows one address and whose target is another.
//!
//! `<a href="https://login.evil.example/">https://www.mufg.jp/</a>` is the core of
//! phishing. The visible text must itself look like a URL or domain for the link to count;
//! links reading "こちら" or "click here" are ordinary. Domains are compared by
//! organisation, so `www.example.co.jp` showing a link to `mail.example.co.jp` is fine.

use crate::content::text::strip_tags;
use crate::domain::organisation;
use crate::mime::Mail;
use crate::policy::Policy;
use crate::report::Reason;
use regex::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.link_mismatch";
const SCORE: f64 = 4.0;
const MAX_HTML: usize = 4 * 1024 * 1024;

static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>"#)
        .expect("valid regex")
});
static SHOWN_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:https?://)?((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?::\d+)?(?:[/?#]\S*)?\s*$")
        .expect("valid regex")
});

/// The host of an http(s) URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .split_once("://")
        .map(|(s, r)| (s.to_ascii_lowercase(), r))?;
    if rest.0 != "http" && rest.0 != "https" {
        return None;
    }
    let host = rest.1.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?.trim_end_matches('.').to_lowercase();
    (!host.is_empty()).then_some(host)
}

/// (shown host, real host) of each deceptive link in an HTML body.
pub fn deceptive_links(html: &str) -> Vec<(String, String)> {
    let html = match html.char_indices().nth(MAX_HTML) {
        Some((i, _)) => &html[..i],
        None => html,
    };
    let mut out = Vec::new();
    for caps in ANCHOR.captures_iter(html) {
        let href = caps
            .get(1)
            .or(caps.get(2))
            .or(caps.get(3))
            .map_or("", |m| m.as_str());
        let text = strip_tags(caps.get(4).map_or("", |m| m.as_str()));
        let Some(shown) = SHOWN_HOST
            .captures(text.trim())
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_lowercase())
        else {
            continue;
        };
        let Some(real) = url_host(&strip_tags(href)) else {
            continue;
        };
        if organisation(&shown) != organisation(&real) {
            out.push((shown, real));
        }
        if out.len() >= 20 {
            break;
        }
    }
    out
}

pub fn check(mail: &Mail, policy: &Policy) -> Option<Reason> {
    let links: Vec<(String, String)> = mail
        .html_bodies
        .iter()
        .flat_map(|h| deceptive_links(h))
        .collect();
    let (shown, real) = links.first()?;
    let more = links.len() - 1;
    let (more_ja, more_en) = if more > 0 {
        (format!("（ほか{more}件）"), format!(" ({more} more)"))
    } else {
        (String::new(), String::new())
    };
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("本文のリンクは「{shown}」と表示されていますが、実際の行き先は「{real}」です{more_ja}。偽サイトへ誘導するフィッシングの手口です。"),
        format!("A link shows {shown} but leads to {real}{more_en}: the classic phishing disguise."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_domain_must_match_target() {
        let html = r#"<p><a href="https://login.evil.example/mufg">https://www.mufg.jp/login</a>
            <a href='https://www.example.co.jp/a'>example.co.jp</a>
            <a href="https://track.example.net/x">こちら</a>
            <a href=http://mail.example.co.jp>www.example.co.jp</a></p>"#;
        assert_eq!(
            deceptive_links(html),
            vec![("www.mufg.jp".to_string(), "login.evil.example".to_string())]
        );
        let mail = Mail {
            html_bodies: vec![html.into()],
            ..Mail::default()
        };
        let r = check(&mail, &Policy::default()).expect("mismatch");
        assert!(r.message_ja.contains("login.evil.example"));
    }
}
