//! The scan itself: runs the check families in order against one target and gathers their
//! findings and errors into a [`ScanReport`]. A failing phase records its error and the
//! scan goes on, so partial results are kept.

use crate::checks::{
    admin, exposure, headers, mail, personal_data, services, soft404, software, tls,
};
use crate::error::Error;
use crate::finding::{Finding, ScanReport};
use crate::http::{host_port, Http, Response};
use crate::templates::{self, TemplateSet};
use crate::vulndb::VulnDb;
use crate::ScanConfig;
use regex::Regex;
use reqwest::Url;
use rustls::RootCertStore;
use std::sync::{Arc, LazyLock};
use time::OffsetDateTime;

/// The phase a scan is in, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Tls,
    Headers,
    Files,
    Admin,
    Software,
    PersonalData,
    Templates,
    Services,
    Mail,
    Done,
}

impl Phase {
    pub const COUNT: usize = 11;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Headers => "headers",
            Phase::Files => "exposed files",
            Phase::Admin => "admin pages",
            Phase::Software => "software versions",
            Phase::PersonalData => "personal data",
            Phase::Templates => "templates",
            Phase::Services => "services",
            Phase::Mail => "mail domain",
            Phase::Done => "done",
        }
    }
}

/// A progress report: the phase and how much of the request budget is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub requests_sent: usize,
    pub max_requests: usize,
    pub findings: usize,
}

/// A configured scanner; one can scan many targets.
pub struct Scanner {
    config: ScanConfig,
    db: VulnDb,
    templates: TemplateSet,
    roots: Arc<RootCertStore>,
}

impl Scanner {
    /// Checks the configuration and loads the vulnerability data, templates and trust
    /// anchors. Templates that cannot be used are kept as errors of every report.
    pub fn new(config: ScanConfig) -> Result<Scanner, Error> {
        config.validate()?;
        let db = match &config.vulndb_path {
            Some(p) => VulnDb::load(p)?,
            None => VulnDb::embedded(),
        };
        let templates = match &config.templates_dir {
            Some(d) => templates::load_dir(d)?,
            None => TemplateSet::default(),
        };
        let roots = Arc::new(tls::root_store(&config.trust_anchors)?);
        Ok(Scanner {
            config,
            db,
            templates,
            roots,
        })
    }

    pub fn config(&self) -> &ScanConfig {
        &self.config
    }

    /// Templates loaded, and those skipped with the reason.
    pub fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    /// Scans `url` (a site's address; `https://` is assumed without a scheme).
    pub async fn scan(&self, url: &str, mut progress: impl FnMut(Progress) + Send) -> ScanReport {
        let started = OffsetDateTime::now_utc();
        let mut report = ScanReport {
            target: url.to_string(),
            started,
            finished: started,
            requests_sent: 0,
            findings: Vec::new(),
            errors: self
                .templates
                .skipped
                .iter()
                .map(|e| e.to_string())
                .collect(),
        };
        let target = match parse_target(url, self.config.allow_http) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(e.to_string());
                report.finished = OffsetDateTime::now_utc();
                return report;
            }
        };
        report.target = target.to_string();
        let host = target.host_str().unwrap_or_default().to_string();
        let http = match Http::new(&host, &self.config) {
            Ok(h) => h,
            Err(e) => {
                report.errors.push(e.to_string());
                return report;
            }
        };
        tracing::info!(target = %target, "scan started");
        let mut run = Run {
            scanner: self,
            http: &http,
            findings: Vec::new(),
            errors: Vec::new(),
            progress: &mut progress,
        };
        run.all(&target, &host).await;
        let Run {
            findings, errors, ..
        } = run;
        report.findings = dedupe(findings);
        report.errors.extend(errors);
        report.requests_sent = http.gate.sent();
        report.finished = OffsetDateTime::now_utc();
        progress(Progress {
            phase: Phase::Done,
            requests_sent: report.requests_sent,
            max_requests: self.config.max_requests,
            findings: report.findings.len(),
        });
        tracing::info!(
            target = %report.target,
            findings = report.findings.len(),
            requests = report.requests_sent,
            errors = report.errors.len(),
            "scan finished"
        );
        report
    }
}

/// Parses the target; only http(s) URLs with a host are scanned.
pub fn parse_target(url: &str, allow_http: bool) -> Result<Url, Error> {
    let bad = |reason: &str| Error::InvalidTarget {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = url.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let u = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    match u.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad(
                "plain HTTP targets are not allowed by the configuration",
            ))
        }
        _ => return Err(bad("only http:// and https:// URLs can be scanned")),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("credentials in the URL are not allowed"));
    }
    Ok(u)
}

fn dedupe(mut findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert((f.id.clone(), f.url.clone())));
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.url.cmp(&b.url))
    });
    findings
}

static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:href|src)\s*=\s*["']([^"'#\s]{1,500})["']"#).expect("static regex")
});

/// Same-origin links of a page: pages (for the personal-data crawl) and directories of
/// every linked resource (for the listing probes).
fn links(page: &Response) -> (Vec<Url>, Vec<String>) {
    let Ok(base) = Url::parse(&page.url) else {
        return (Vec::new(), Vec::new());
    };
    let text = page.text();
    let mut pages = Vec::new();
    let mut dirs = Vec::new();
    for c in HREF.captures_iter(&text).take(2000) {
        let Ok(mut u) = base.join(&c[1]) else {
            continue;
        };
        if u.origin() != base.origin() {
            continue;
        }
        u.set_fragment(None);
        let path = u.path().to_string();
        if let Some(cut) = path.rfind('/') {
            let dir = &path[..=cut];
            if dir.len() > 1 && !dir.starts_with("/wp-") && !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_string());
            }
        }
        let ext = path
            .rsplit('/')
            .next()
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        let pagey = match ext.as_deref() {
            None => true,
            Some(e) => ["html", "htm", "php", "asp", "aspx", "jsp", "cgi", "shtml"].contains(&e),
        };
        if pagey && c[0].to_ascii_lowercase().starts_with("href") && !pages.contains(&u) {
            pages.push(u);
        }
    }
    (pages, dirs)
}

struct Run<'a, P: FnMut(Progress) + Send> {
    scanner: &'a Scanner,
    http: &'a Http,
    findings: Vec<Finding>,
    errors: Vec<String>,
    progress: &'a mut P,
}

impl<P: FnMut(Progress) + Send> Run<'_, P> {
    fn report(&mut self, phase: Phase) {
        (self.progress)(Progress {
            phase,
            requests_sent: self.http.gate.sent(),
            max_requests: self.scanner.config.max_requests,
            findings: self.findings.len(),
        });
    }

    async fn all(&mut self, target: &Url, host: &str) {
        let config = &self.scanner.config;
        self.report(Phase::Connect);
        let home = match self.http.get_following(target).await {
            Ok((resp, _)) => Some(resp),
            Err(e) => {
                self.errors.push(format!("cannot load the start page: {e}"));
                None
            }
        };
        let origin = home
            .as_ref()
            .and_then(|h| Url::parse(&h.url).ok())
            .filter(|u| u.host_str() == Some(host))
            .unwrap_or_else(|| target.clone());
        let mut root = origin.clone();
        root.set_path("/");
        root.set_query(None);
        let https = root.scheme() == "https";

        self.report(Phase::Tls);
        self.tls_phase(target, &root, host, home.is_some()).await;

        self.report(Phase::Headers);
        if let Some(h) = &home {
            self.findings.extend(headers::header_findings(h, https));
        }

        if home.is_some() {
            let profile = self.not_found_profile(&root).await;
            let (pages, dirs) = home.as_ref().map(links).unwrap_or_default();
            let http = self.http;
            let db = &self.scanner.db;
            let gate = &http.gate;
            let max = config.max_requests;

            self.report(Phase::Files);
            let found = {
                let progress = &mut *self.progress;
                let mut tick = || {
                    progress(Progress {
                        phase: Phase::Files,
                        requests_sent: gate.sent(),
                        max_requests: max,
                        findings: 0,
                    })
                };
                exposure::run(http, &root, &profile, &dirs, &mut self.errors, &mut tick).await
            };
            self.findings.extend(found);

            self.report(Phase::Admin);
            let found = {
                let progress = &mut *self.progress;
                let mut tick = || {
                    progress(Progress {
                        phase: Phase::Admin,
                        requests_sent: gate.sent(),
                        max_requests: max,
                        findings: 0,
                    })
                };
                admin::run(http, &root, &profile, &mut self.errors, &mut tick).await
            };
            self.findings.extend(found);

            self.report(Phase::Software);
            if let Some(h) = &home {
                let found = {
                    let progress = &mut *self.progress;
                    let mut tick = || {
                        progress(Progress {
                            phase: Phase::Software,
                            requests_sent: gate.sent(),
                            max_requests: max,
                            findings: 0,
                        })
                    };
                    software::run(http, h, &root, db, &profile, &mut self.errors, &mut tick).await
                };
                self.findings.extend(found);
            }

            self.report(Phase::PersonalData);
            if let Some(h) = &home {
                self.personal_data(h, &root, pages).await;
            }

            self.report(Phase::Templates);
            for t in &self.scanner.templates.templates {
                let found = templates::run(http, t, &root, &mut self.errors).await;
                self.findings.extend(found);
            }
        }

        self.report(Phase::Services);
        if !config.ports.is_empty() {
            let found = services::run(
                &self.http.gate,
                host,
                &config.ports,
                config.connect_timeout,
                &mut self.errors,
            )
            .await;
            self.findings.extend(found);
        }

        self.report(Phase::Mail);
        let domain = config.mail_domain.clone().or_else(|| {
            let h = host.trim_start_matches("www.");
            (h.parse::<std::net::IpAddr>().is_err() && !h.starts_with('[') && h.contains('.'))
                .then(|| h.to_string())
        });
        if let Some(domain) = domain {
            match config.dns_server.or_else(mail::system_resolver) {
                Some(server) => {
                    let found =
                        mail::run(server, &domain, config.connect_timeout, &mut self.errors).await;
                    self.findings.extend(found);
                }
                None => self.errors.push(
                    "mail domain not checked: no DNS server configured or in /etc/resolv.conf"
                        .into(),
                ),
            }
        }
    }

    async fn tls_phase(&mut self, target: &Url, root: &Url, host: &str, reachable: bool) {
        let config = &self.scanner.config;
        let gate = &self.http.gate;
        if root.scheme() == "https" {
            let addr = host_port(root);
            self.check_certificate(&addr, host, root.as_str()).await;
            if config.probe_old_tls {
                let found = tls::old_version_findings(
                    gate,
                    host,
                    &addr,
                    root.as_str(),
                    config.connect_timeout,
                    &mut self.errors,
                )
                .await;
                self.findings.extend(found);
            }
            if target.scheme() == "https" {
                // Does plain HTTP on the same host send visitors to HTTPS?
                let mut plain = root.clone();
                let _ = plain.set_scheme("http");
                let _ = plain.set_port(Some(config.http_port));
                match self.http.get(&plain).await {
                    Ok(resp) => {
                        let to_https = resp.is_redirect()
                            && resp
                                .header("location")
                                .and_then(|l| plain.join(l).ok())
                                .is_some_and(|u| {
                                    u.scheme() == "https" && u.host_str() == Some(host)
                                });
                        if !to_https {
                            self.findings.push(Finding::builtin(
                                "no_https_redirect",
                                plain.as_str(),
                                resp.header_evidence(&["Location"]),
                            ));
                        }
                    }
                    // Nothing listening on plain HTTP is fine.
                    Err(e) => tracing::debug!(error = %e, "plain HTTP not reachable"),
                }
            }
        } else if reachable {
            // A plain-HTTP site: is there an HTTPS version it should redirect to?
            let mut secure = root.clone();
            let _ = secure.set_scheme("https");
            let _ = secure.set_port(Some(config.https_port));
            let addr = host_port(&secure);
            if self.check_certificate(&addr, host, secure.as_str()).await {
                self.findings.push(Finding::builtin(
                    "no_https_redirect",
                    root.as_str(),
                    format!(
                        "GET {} → served over plain HTTP although {} answers",
                        root.path(),
                        secure
                    ),
                ));
            } else {
                self.findings.push(Finding::builtin(
                    "no_https",
                    root.as_str(),
                    format!(
                        "GET {} over HTTP → HTTP 200; no TLS answer at {addr}",
                        root.path()
                    ),
                ));
            }
        }
    }

    /// Fetches and judges the certificate at `addr`; whether a TLS handshake happened.
    async fn check_certificate(&mut self, addr: &str, host: &str, url: &str) -> bool {
        let config = &self.scanner.config;
        if let Err(e) = self.http.gate.permit(host, addr).await {
            self.errors.push(e.to_string());
            return false;
        }
        match tls::fetch_certificate(
            addr,
            host,
            self.scanner.roots.clone(),
            config.connect_timeout,
        )
        .await
        {
            Ok(report) => {
                self.findings.extend(tls::certificate_findings(
                    &report,
                    url,
                    OffsetDateTime::now_utc(),
                ));
                true
            }
            Err(e) => {
                self.errors.push(e.to_string());
                false
            }
        }
    }

    async fn not_found_profile(&mut self, root: &Url) -> soft404::NotFoundProfile {
        let mut profile = soft404::NotFoundProfile::default();
        for ext in ["", ".php"] {
            let path = format!("{}{ext}", soft404::random_path());
            let Ok(url) = root.join(&path) else { continue };
            match self.http.get(&url).await {
                Ok(resp) => profile.add(&resp, &path),
                Err(e) => self.errors.push(e.to_string()),
            }
        }
        if profile.is_catch_all() {
            tracing::info!(root = %root, "site answers unknown paths with a success page (soft 404)");
        }
        profile
    }

    async fn personal_data(&mut self, home: &Response, root: &Url, pages: Vec<Url>) {
        let robots = match root.join("/robots.txt") {
            Ok(u) => match self.http.get(&u).await {
                Ok(r) if r.status == 200 && !r.is_html() => personal_data::Robots::parse(&r.text()),
                Ok(_) => personal_data::Robots::default(),
                Err(e) => {
                    self.errors.push(e.to_string());
                    personal_data::Robots::default()
                }
            },
            Err(_) => personal_data::Robots::default(),
        };
        let indexable = |u: &Url| {
            let mut p = u.path().to_string();
            if let Some(q) = u.query() {
                p.push('?');
                p.push_str(q);
            }
            robots.allows(&p)
        };
        let mut checked = 0;
        if let Ok(h) = Url::parse(&home.url) {
            if indexable(&h) && !personal_data::noindex(home) && home.status == 200 {
                self.findings.extend(personal_data::page_findings(home));
            }
            checked += 1;
        }
        for page in pages {
            if checked >= self.scanner.config.max_pages {
                break;
            }
            if page.as_str() == home.url || !indexable(&page) {
                continue;
            }
            checked += 1;
            match self.http.get(&page).await {
                Ok(resp) => {
                    if resp.status == 200 && resp.is_html() && !personal_data::noindex(&resp) {
                        self.findings.extend(personal_data::page_findings(&resp));
                    }
                }
                Err(e @ Error::Budget { .. }) => {
                    self.errors.push(e.to_string());
                    break;
                }
                Err(e) => self.errors.push(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary spawns scans on the runtime, so the future must be Send.
    #[allow(dead_code)]
    fn scan_future_is_send(s: &Scanner) {
        fn is_send<T: Send>(_: T) {}
        is_send(s.scan("https://example.jp/", |_| {}));
    }

    #[test]
    fn targets_are_parsed_strictly() {
        assert_eq!(
            parse_target("example.jp", true).unwrap().as_str(),
            "https://example.jp/"
        );
        assert!(parse_target("ftp://example.jp", true).is_err());
        assert!(parse_target("http://example.jp", false).is_err());
        assert!(parse_target("https://user:pw@example.jp", true).is_err());
        assert!(parse_target("https://", true).is_err());
    }
}
