//! Files and directories that should never be public: version-control metadata, `.env`,
//! backup copies, dumps, phpinfo, logs, `.DS_Store`, server-status, directory listings.
//!
//! A probe produces a finding only when the answer is a success, does not look like the
//! site's soft-404 page, and its content looks like the file it claims to be (a `.git/config`
//! has a `[core]` section, a `.env` has KEY=VALUE lines, a ZIP starts with `PK\x03\x04`).
//! Secrets are never copied into evidence: for `.env` and config backups only key names are.

use crate::checks::soft404::NotFoundProfile;
use crate::finding::Finding;
use crate::http::{Http, Response};
use regex::Regex;
use reqwest::Url;
use std::sync::LazyLock;

/// What a content check returns: the evidence excerpt proving the file is real.
type Check = fn(&Response) -> Option<String>;

/// One path to try and how to recognise a real hit.
pub struct Probe {
    pub path: String,
    pub id: &'static str,
    pub check: Check,
    /// Stop probing this id's other paths after a hit (one finding is enough).
    pub once: bool,
}

/// The probes for a site whose host is `host` (for `<host>.zip` style backups).
pub fn probes(host: &str) -> Vec<Probe> {
    let p = |path: &str, id: &'static str, check: Check, once: bool| Probe {
        path: path.to_string(),
        id,
        check,
        once,
    };
    let stem = host
        .trim_start_matches("www.")
        .split('.')
        .next()
        .unwrap_or("site");
    let mut v = vec![
        p("/.git/config", "exposed_git", git_config, true),
        p("/.git/HEAD", "exposed_git", git_head, true),
        p("/.svn/wc.db", "exposed_svn", svn_wc_db, true),
        p("/.svn/entries", "exposed_svn", svn_entries, true),
        p("/.env", "exposed_env", env_file, false),
        p("/.env.local", "exposed_env", env_file, false),
        p("/.env.production", "exposed_env", env_file, false),
        p("/.env.bak", "exposed_env", env_file, false),
    ];
    for f in [
        "/wp-config.php.bak",
        "/wp-config.php~",
        "/wp-config.php.old",
        "/wp-config.php.save",
        "/wp-config.bak",
        "/.wp-config.php.swp",
        "/config.php.bak",
        "/config.php~",
        "/config.inc.php.bak",
    ] {
        v.push(p(f, "exposed_config_backup", config_backup, false));
    }
    for f in [
        "/backup.zip",
        "/site.zip",
        "/www.zip",
        "/html.zip",
        "/wordpress.zip",
    ] {
        v.push(p(f, "exposed_backup_archive", zip_file, false));
    }
    v.push(p(
        &format!("/{stem}.zip"),
        "exposed_backup_archive",
        zip_file,
        false,
    ));
    for f in ["/backup.sql", "/dump.sql", "/db.sql", "/database.sql"] {
        v.push(p(f, "exposed_sql_dump", sql_dump, false));
    }
    v.push(p(
        &format!("/{stem}.sql"),
        "exposed_sql_dump",
        sql_dump,
        false,
    ));
    for f in ["/phpinfo.php", "/info.php", "/php_info.php", "/test.php"] {
        v.push(p(f, "exposed_phpinfo", phpinfo, true));
    }
    for f in [
        "/debug.log",
        "/wp-content/debug.log",
        "/error.log",
        "/logs/error.log",
    ] {
        v.push(p(f, "exposed_debug_log", debug_log, false));
    }
    v.push(p("/.DS_Store", "exposed_ds_store", ds_store, true));
    v.push(p(
        "/server-status",
        "exposed_server_status",
        server_status,
        true,
    ));
    v.dedup_by(|a, b| a.path == b.path);
    v
}

/// Directories commonly left listable.
pub const LISTING_DIRS: &[&str] = &[
    "/files/",
    "/uploads/",
    "/wp-content/uploads/",
    "/backup/",
    "/images/",
    "/img/",
    "/data/",
    "/docs/",
    "/tmp/",
];

fn text(resp: &Response) -> Option<String> {
    (!resp.body.is_empty()).then(|| resp.text())
}

fn head_hex(resp: &Response) -> String {
    let head: Vec<String> = resp
        .body
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}\n→ HTTP {}, {} bytes read, starting {}",
        resp.request_line,
        resp.status,
        resp.body.len(),
        head.join(" ")
    )
}

fn git_config(r: &Response) -> Option<String> {
    let t = text(r)?;
    (t.contains("[core]") && (t.contains("repositoryformatversion") || t.contains("bare")))
        .then(|| r.evidence(Some("[core]")))
}

fn git_head(r: &Response) -> Option<String> {
    let t = text(r)?;
    t.starts_with("ref: refs/")
        .then(|| r.evidence(Some("ref:")))
}

fn svn_wc_db(r: &Response) -> Option<String> {
    r.body
        .starts_with(b"SQLite format 3\0")
        .then(|| head_hex(r))
}

fn svn_entries(r: &Response) -> Option<String> {
    let t = text(r)?;
    let first = t.lines().next()?.trim();
    (!first.is_empty()
        && first.len() <= 3
        && first.bytes().all(|b| b.is_ascii_digit())
        && !r.is_html())
    .then(|| r.evidence(None))
}

static ENV_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]{1,63})\s*=").expect("static regex")
});

/// Key names of KEY=VALUE lines when most meaningful lines are such lines.
fn env_keys(t: &str) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    let mut other = 0;
    for line in t.lines().take(500) {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match ENV_LINE.captures(l) {
            Some(c) => keys.push(c[1].to_string()),
            None => other += 1,
        }
    }
    (keys.len() >= 2 && keys.len() >= other).then_some(keys)
}

fn secret_evidence(r: &Response, keys: &[String]) -> String {
    let shown: Vec<&str> = keys.iter().take(12).map(String::as_str).collect();
    format!(
        "{}\n→ HTTP {}, {} bytes\nkeys: {} (values not copied)",
        r.request_line,
        r.status,
        r.body.len(),
        shown.join(", ")
    )
}

fn env_file(r: &Response) -> Option<String> {
    if r.is_html() {
        return None;
    }
    let keys = env_keys(&text(r)?)?;
    Some(secret_evidence(r, &keys))
}

static PHP_DEFINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"define\s*\(\s*['"]([A-Za-z_][A-Za-z0-9_]{0,63})['"]"#).expect("static regex")
});

fn config_backup(r: &Response) -> Option<String> {
    let t = text(r)?;
    if t.contains("<?php") || t.contains("define(") {
        let keys: Vec<String> = PHP_DEFINE
            .captures_iter(&t)
            .take(20)
            .map(|c| c[1].to_string())
            .collect();
        if keys.is_empty() && !t.contains('$') {
            return None;
        }
        return Some(secret_evidence(r, &keys));
    }
    env_file(r)
}

fn zip_file(r: &Response) -> Option<String> {
    r.body.starts_with(b"PK\x03\x04").then(|| head_hex(r))
}

static SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(CREATE TABLE|INSERT INTO|DROP TABLE IF EXISTS|-- MySQL dump|-- PostgreSQL database dump|-- MariaDB dump)")
        .expect("static regex")
});

fn sql_dump(r: &Response) -> Option<String> {
    if r.is_html() {
        return None;
    }
    let t = text(r)?;
    let m = SQL.find(&t)?;
    Some(r.evidence(Some(m.as_str())))
}

fn phpinfo(r: &Response) -> Option<String> {
    let t = text(r)?;
    (t.contains("PHP Version") && (t.contains("phpinfo()") || t.contains("PHP License")))
        .then(|| r.evidence(Some("PHP Version")))
}

static LOG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(PHP (?:Notice|Warning|Fatal error|Parse error|Deprecated)|(?m)^\[\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2})")
        .expect("static regex")
});

fn debug_log(r: &Response) -> Option<String> {
    if r.is_html() {
        return None;
    }
    let t = text(r)?;
    let m = LOG_LINE.find(&t)?;
    Some(r.evidence(Some(m.as_str())))
}

fn ds_store(r: &Response) -> Option<String> {
    r.body
        .starts_with(b"\x00\x00\x00\x01Bud1")
        .then(|| head_hex(r))
}

fn server_status(r: &Response) -> Option<String> {
    let t = text(r)?;
    t.contains("Apache Server Status for")
        .then(|| r.evidence(Some("Apache Server Status")))
}

/// A directory listing page (Apache, nginx, Python, IIS styles).
pub fn listing(r: &Response) -> Option<String> {
    let t = text(r)?;
    [
        "<title>Index of /",
        "<h1>Index of /",
        "Directory listing for /",
        "[To Parent Directory]",
    ]
    .iter()
    .find(|n| t.contains(**n))
    .map(|n| r.evidence(Some(n)))
}

/// Whether a probe answer is a real hit: success, not soft-404, content check passes.
pub fn judge(
    resp: &Response,
    path: &str,
    profile: &NotFoundProfile,
    check: Check,
) -> Option<String> {
    if !matches!(resp.status, 200 | 206) || profile.matches(resp, path) {
        return None;
    }
    check(resp)
}

/// Runs every probe (files, then listing directories) against `origin`.
pub async fn run(
    http: &Http,
    origin: &Url,
    profile: &NotFoundProfile,
    extra_dirs: &[String],
    errors: &mut Vec<String>,
    tick: &mut (dyn FnMut() + Send),
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let host = origin.host_str().unwrap_or_default().to_string();
    for probe in probes(&host) {
        if probe.once && out.iter().any(|f| f.id == probe.id) {
            continue;
        }
        let Ok(url) = origin.join(&probe.path) else {
            continue;
        };
        tick();
        match http.get(&url).await {
            Ok(resp) => {
                if let Some(ev) = judge(&resp, &probe.path, profile, probe.check) {
                    out.push(Finding::builtin(probe.id, url.as_str(), ev));
                }
            }
            Err(e @ crate::Error::Budget { .. }) => {
                errors.push(e.to_string());
                return out;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut dirs: Vec<String> = LISTING_DIRS.iter().map(|d| d.to_string()).collect();
    for d in extra_dirs {
        if !dirs.contains(d) && dirs.len() < LISTING_DIRS.len() + 10 {
            dirs.push(d.clone());
        }
    }
    for dir in dirs {
        let Ok(url) = origin.join(&dir) else { continue };
        tick();
        match http.get(&url).await {
            Ok(resp) => {
                if let Some(ev) = judge(&resp, &dir, profile, listing) {
                    out.push(Finding::builtin("directory_listing", url.as_str(), ev));
                }
            }
            Err(e @ crate::Error::Budget { .. }) => {
                errors.push(e.to_string());
                return out;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(body: &[u8], ctype: &str) -> Response {
        Response {
            url: "https://example.jp/x".into(),
            request_line: "GET /x HTTP/1.1".into(),
            status: 200,
            headers: vec![("content-type".into(), ctype.into())],
            body: body.to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn content_checks_accept_real_files() {
        let git = resp(
            b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
            "text/plain",
        );
        assert!(git_config(&git).is_some());
        let env = resp(
            b"APP_KEY=base64:abc\nDB_PASSWORD=hunter2\n# c\n",
            "text/plain",
        );
        let ev = env_file(&env).unwrap();
        assert!(ev.contains("DB_PASSWORD") && !ev.contains("hunter2"));
        let php = resp(
            b"<?php\ndefine('DB_PASSWORD', 'hunter2');\n",
            "application/octet-stream",
        );
        let ev = config_backup(&php).unwrap();
        assert!(ev.contains("DB_PASSWORD") && !ev.contains("hunter2"));
        assert!(zip_file(&resp(b"PK\x03\x04rest", "application/zip")).is_some());
        assert!(sql_dump(&resp(
            b"-- MySQL dump 10.13\nCREATE TABLE `users`",
            "text/plain"
        ))
        .is_some());
        assert!(ds_store(&resp(
            b"\x00\x00\x00\x01Bud1\x00",
            "application/octet-stream"
        ))
        .is_some());
        assert!(debug_log(&resp(
            b"[01-Jan-2024 10:00:00 UTC] PHP Warning: x",
            "text/plain"
        ))
        .is_some());
        assert!(listing(&resp(b"<html><title>Index of /files</title>", "text/html")).is_some());
    }

    #[test]
    fn content_checks_refuse_html_pages() {
        let page = resp(
            b"<!doctype html><html><body>API_KEY=example\nFOO=bar\nCREATE TABLE docs</body></html>",
            "text/html",
        );
        assert!(env_file(&page).is_none());
        assert!(sql_dump(&page).is_none());
        assert!(git_config(&page).is_none());
        assert!(zip_file(&page).is_none());
        assert!(debug_log(&page).is_none());
    }
}
