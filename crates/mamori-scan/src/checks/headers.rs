//! Security headers and cookie flags of the start page. One finding per missing header;
//! redirects are not judged (the page they lead to is).

use crate::finding::Finding;
use crate::http::Response;

/// HSTS max-age below this (180 days) is reported as short.
const HSTS_MIN: u64 = 15_552_000;

/// Findings on the headers of a final (non-redirect) page.
pub fn header_findings(resp: &Response, https: bool) -> Vec<Finding> {
    if resp.is_redirect() || !(200..300).contains(&resp.status) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let url = &resp.url;
    let csp = resp
        .headers_named("content-security-policy")
        .collect::<Vec<_>>()
        .join(", ");
    let missing = |id: &str, names: &[&str]| Finding::builtin(id, url, resp.header_evidence(names));
    if csp.trim().is_empty() {
        out.push(missing("header_csp_missing", &["Content-Security-Policy"]));
    }
    let frame_ancestors = csp.to_ascii_lowercase().contains("frame-ancestors");
    if resp.header("x-frame-options").is_none() && !frame_ancestors {
        out.push(missing(
            "header_frame_missing",
            &["X-Frame-Options", "Content-Security-Policy"],
        ));
    }
    if !resp
        .header("x-content-type-options")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"))
    {
        out.push(missing(
            "header_nosniff_missing",
            &["X-Content-Type-Options"],
        ));
    }
    if resp.header("referrer-policy").is_none() {
        out.push(missing("header_referrer_missing", &["Referrer-Policy"]));
    }
    if resp.header("permissions-policy").is_none() {
        out.push(missing(
            "header_permissions_missing",
            &["Permissions-Policy"],
        ));
    }
    if https {
        match resp.header("strict-transport-security") {
            None => out.push(missing("hsts_missing", &["Strict-Transport-Security"])),
            Some(v) => {
                let max_age = v.split(';').find_map(|p| {
                    let (k, v) = p.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("max-age")
                        .then(|| v.trim().trim_matches('"').parse::<u64>().unwrap_or(0))
                });
                if max_age.unwrap_or(0) < HSTS_MIN {
                    out.push(missing("hsts_short", &["Strict-Transport-Security"]));
                }
            }
        }
    }
    out.extend(cookie_findings(resp, https));
    out
}

/// One finding per missing flag, naming every cookie that lacks it.
pub fn cookie_findings(resp: &Response, https: bool) -> Vec<Finding> {
    let mut no_secure = Vec::new();
    let mut no_httponly = Vec::new();
    let mut no_samesite = Vec::new();
    for raw in resp.headers_named("set-cookie") {
        let mut parts = raw.split(';');
        let name = parts
            .next()
            .and_then(|nv| nv.split_once('='))
            .map(|(n, _)| n.trim().to_string())
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let attrs: Vec<String> = parts
            .map(|a| {
                a.split('=')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let has = |a: &str| attrs.iter().any(|x| x == a);
        if https && !has("secure") {
            no_secure.push((name.clone(), raw));
        }
        if !has("httponly") {
            no_httponly.push((name.clone(), raw));
        }
        if !has("samesite") {
            no_samesite.push((name, raw));
        }
    }
    let mut out = Vec::new();
    for (id, list) in [
        ("cookie_not_secure", no_secure),
        ("cookie_not_httponly", no_httponly),
        ("cookie_no_samesite", no_samesite),
    ] {
        if list.is_empty() {
            continue;
        }
        let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        let mut evidence = format!("{}\n→ HTTP {}", resp.request_line, resp.status);
        for (_, raw) in &list {
            evidence.push_str(&format!("\nSet-Cookie: {raw}"));
        }
        out.push(Finding::builtin(id, &resp.url, evidence).detail(&names.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            url: "https://example.jp/".into(),
            request_line: "GET / HTTP/1.1".into(),
            status,
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body: b"<html></html>".to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn one_finding_per_missing_header_and_none_on_redirects() {
        let ids: Vec<_> = header_findings(&resp(200, &[]), true)
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(
            ids,
            [
                "header_csp_missing",
                "header_frame_missing",
                "header_nosniff_missing",
                "header_referrer_missing",
                "header_permissions_missing",
                "hsts_missing"
            ]
        );
        assert!(header_findings(&resp(301, &[("Location", "/x")]), true).is_empty());
    }

    #[test]
    fn frame_ancestors_counts_and_short_hsts_is_reported() {
        let r = resp(
            200,
            &[
                (
                    "Content-Security-Policy",
                    "default-src 'self'; frame-ancestors 'none'",
                ),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
                ("Permissions-Policy", "camera=()"),
                ("Strict-Transport-Security", "max-age=300"),
            ],
        );
        let ids: Vec<_> = header_findings(&r, true)
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["hsts_short"]);
    }

    #[test]
    fn cookie_flags_are_checked_per_flag() {
        let r = resp(
            200,
            &[
                ("Set-Cookie", "sid=1; Path=/"),
                ("Set-Cookie", "ok=1; Secure; HttpOnly; SameSite=Lax"),
            ],
        );
        let f = cookie_findings(&r, true);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.title_en.ends_with(": sid")));
        assert_eq!(cookie_findings(&r, false).len(), 2);
    }
}
