//! End-to-end: the scanner against a loopback site with planted problems and its clean
//! twin, plus the bad-input cases (unreachable host, redirect loop, budget) and the old-TLS
//! probe against hand-built server answers.

mod common;

use common::site::{self, Certs, Flavor, Site};
use mamori_scan::checks::tls::{old_version_findings, probe_old_version};
use mamori_scan::http::Gate;
use mamori_scan::wire::tls_hello::OldVersion;
use mamori_scan::{diff, Lang, ScanConfig, ScanReport, Scanner, Service};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| site::make_certs(&site::temp_dir("certs")))
}

fn templates_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// The config a test uses: fast but still rate limited, ports and DNS on loopback.
fn config(
    site: &Site,
    ports: Vec<(u16, Service)>,
    dns: std::net::SocketAddr,
    domain: &str,
) -> ScanConfig {
    ScanConfig {
        rate_per_second: 400.0,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        http_port: site.http.port(),
        https_port: site.https.port(),
        ports,
        dns_server: Some(dns),
        mail_domain: Some(domain.into()),
        templates_dir: Some(templates_dir()),
        trust_anchors: vec![certs().ca.clone()],
        ..ScanConfig::default()
    }
}

fn ids(r: &ScanReport) -> BTreeSet<String> {
    r.findings.iter().map(|f| f.id.clone()).collect()
}

fn url_of<'a>(r: &'a ScanReport, id: &str) -> Vec<&'a str> {
    r.findings
        .iter()
        .filter(|f| f.id == id)
        .map(|f| f.url.as_str())
        .collect()
}

async fn planted() -> (Site, ScanConfig) {
    let site = site::serve(Flavor::Planted, &certs().self_signed).await;
    let redis = site::fake_service(b"", b"-NOAUTH Authentication required.\r\n").await;
    let ssh = site::fake_service(b"SSH-2.0-OpenSSH_7.4\r\n", b"").await;
    let closed = site::closed_port().await;
    let dns = site::dns_responder(site::mail_zone()).await;
    let ports = vec![
        (redis.port(), Service::Redis),
        (ssh.port(), Service::Ssh),
        (closed, Service::Rdp),
    ];
    let cfg = config(&site, ports, dns, "example.test");
    (site, cfg)
}

async fn clean() -> (Site, ScanConfig) {
    let site = site::serve(Flavor::Clean, &certs().good).await;
    let dns = site::dns_responder(site::mail_zone()).await;
    let ports = vec![
        (site::closed_port().await, Service::Redis),
        (site::closed_port().await, Service::Ssh),
        (site::closed_port().await, Service::Rdp),
    ];
    let cfg = config(&site, ports, dns, "clean.test");
    (site, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_site_reports_every_planted_problem() {
    let (site, cfg) = planted().await;
    let scanner = Scanner::new(cfg).unwrap();
    let target = format!("https://127.0.0.1:{}/", site.https.port());
    let mut phases = Vec::new();
    let report = scanner.scan(&target, |p| phases.push(p.phase)).await;
    let base = format!("https://127.0.0.1:{}", site.https.port());

    let expected: BTreeSet<String> = [
        "cert_self_signed",
        "cert_expiring",
        "no_https_redirect",
        "hsts_missing",
        "header_csp_missing",
        "header_frame_missing",
        "header_nosniff_missing",
        "header_referrer_missing",
        "header_permissions_missing",
        "cookie_not_secure",
        "cookie_not_httponly",
        "cookie_no_samesite",
        "exposed_git",
        "exposed_env",
        "exposed_config_backup",
        "exposed_backup_archive",
        "directory_listing",
        "admin_wordpress_login",
        "wordpress_xmlrpc",
        "server_version_disclosed",
        "vulnerable_software",
        "personal_data_exposed",
        "service_redis",
        "service_ssh",
        "spf_permissive",
        "dmarc_missing",
        "exposed-sftp-config",
        "exposed-htpasswd",
        "php-error-log",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ids(&report), expected, "errors: {:#?}", report.errors);

    // The exact URL that shows each problem.
    assert_eq!(
        url_of(&report, "exposed_git"),
        [format!("{base}/.git/config")]
    );
    assert_eq!(url_of(&report, "exposed_env"), [format!("{base}/.env")]);
    assert_eq!(
        url_of(&report, "exposed_config_backup"),
        [format!("{base}/wp-config.php.bak")]
    );
    assert_eq!(
        url_of(&report, "exposed_backup_archive"),
        [format!("{base}/backup.zip")]
    );
    assert_eq!(
        url_of(&report, "directory_listing"),
        [format!("{base}/files/")]
    );
    assert_eq!(
        url_of(&report, "personal_data_exposed"),
        [format!("{base}/members.html")]
    );
    assert_eq!(
        url_of(&report, "no_https_redirect"),
        [format!("http://127.0.0.1:{}/", site.http.port())]
    );
    let vulnerable = url_of(&report, "vulnerable_software");
    assert!(vulnerable
        .contains(&format!("{base}/wp-content/plugins/contact-form-7/readme.txt").as_str()));
    assert!(
        vulnerable.contains(&format!("{base}/").as_str()),
        "WordPress core from the generator tag"
    );
    let cf7 = report
        .findings
        .iter()
        .find(|f| f.id == "vulnerable_software" && f.url.ends_with("readme.txt"))
        .unwrap();
    assert!(cf7.title_en.contains("CVE-2020-35489"), "{}", cf7.title_en);
    assert_eq!(cf7.severity, mamori_core::Severity::Critical);

    // Evidence holds the request and the matching part, never the secret itself.
    let env = report
        .findings
        .iter()
        .find(|f| f.id == "exposed_env")
        .unwrap();
    assert!(
        env.evidence.starts_with("GET /.env HTTP/1.1"),
        "{}",
        env.evidence
    );
    assert!(env.evidence.contains("DB_PASSWORD") && !env.evidence.contains("Yamada2024!"));
    let git = report
        .findings
        .iter()
        .find(|f| f.id == "exposed_git")
        .unwrap();
    assert!(git.evidence.contains("[core]"));
    let tpl = report
        .findings
        .iter()
        .find(|f| f.id == "exposed-htpasswd")
        .unwrap();
    assert!(
        tpl.evidence.contains("extracted: admin"),
        "{}",
        tpl.evidence
    );
    assert!(tpl.title_ja.contains(".htpasswd"));
    let redis = report
        .findings
        .iter()
        .find(|f| f.id == "service_redis")
        .unwrap();
    assert!(redis.evidence.contains("NOAUTH"));
    let ssh = report
        .findings
        .iter()
        .find(|f| f.id == "service_ssh")
        .unwrap();
    assert!(ssh.evidence.contains("OpenSSH_7.4"));

    // Bounded, identified, counted.
    let agents = site.log.agents.lock().unwrap().clone();
    assert!(!agents.is_empty() && agents.iter().all(|a| a.starts_with("Mamori-Scan/")));
    let served = site.log.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        served <= report.requests_sent,
        "{served} > {}",
        report.requests_sent
    );
    assert!(report.requests_sent < 200, "{}", report.requests_sent);
    assert_eq!(phases.last(), Some(&mamori_scan::Phase::Done));

    // The CLI's JSON shape.
    let json = report.to_json(Lang::En);
    assert_eq!(json["target"], target.as_str());
    for f in json["findings"].as_array().unwrap() {
        for k in ["id", "severity", "title", "url", "evidence", "advice"] {
            assert!(f[k].is_string(), "{k} in {f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_twin_produces_no_findings() {
    let (site, cfg) = clean().await;
    let scanner = Scanner::new(cfg).unwrap();
    let report = scanner
        .scan(&format!("https://127.0.0.1:{}/", site.https.port()), |_| {})
        .await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    // Starting from plain HTTP follows the redirect and is just as clean.
    let report = scanner
        .scan(&format!("http://127.0.0.1:{}/", site.http.port()), |_| {})
        .await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_without_its_root_is_an_incomplete_chain() {
    let (site, mut cfg) = clean().await;
    cfg.trust_anchors.clear();
    let report = Scanner::new(cfg)
        .unwrap()
        .scan(&format!("https://127.0.0.1:{}/", site.https.port()), |_| {})
        .await;
    assert_eq!(
        ids(&report),
        BTreeSet::from(["cert_chain_incomplete".to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_and_name_mismatch() {
    let site = site::serve(Flavor::Clean, &certs().expired).await;
    let cfg = ScanConfig {
        rate_per_second: 400.0,
        ports: vec![],
        probe_old_tls: false,
        https_port: site.https.port(),
        http_port: site.http.port(),
        ..ScanConfig::default()
    };
    // The certificate is for 127.0.0.1; "localhost" is another name for the same host.
    let report = Scanner::new(cfg)
        .unwrap()
        .scan(&format!("https://localhost:{}/", site.https.port()), |_| {})
        .await;
    let got = ids(&report);
    for id in ["cert_expired", "cert_self_signed", "cert_name_mismatch"] {
        assert!(
            got.contains(id),
            "{id} missing from {got:?}; errors {:?}",
            report.errors
        );
    }
    let expired = report
        .findings
        .iter()
        .find(|f| f.id == "cert_expired")
        .unwrap();
    assert!(
        expired.evidence.contains("notAfter=2021-01-01"),
        "{}",
        expired.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixing_problems_shows_as_fixed_in_the_diff() {
    let (planted_site, planted_cfg) = planted().await;
    let before = Scanner::new(planted_cfg)
        .unwrap()
        .scan(
            &format!("https://127.0.0.1:{}/", planted_site.https.port()),
            |_| {},
        )
        .await;
    let mut after = before.clone();
    after
        .findings
        .retain(|f| f.id != "exposed_env" && f.id != "exposed_git");
    let d = diff(&before, &after);
    assert_eq!(d.fixed.len(), 2);
    assert!(d.new.is_empty());
    assert_eq!(d.still_open.len(), before.findings.len() - 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_host_and_redirect_loop_keep_partial_results() {
    let (site, cfg) = planted().await;
    let scanner = Scanner::new(cfg).unwrap();

    let closed = site::closed_port().await;
    let report = scanner
        .scan(&format!("https://127.0.0.1:{closed}/"), |_| {})
        .await;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("cannot load the start page")),
        "{:?}",
        report.errors
    );
    assert!(report.has("service_redis"), "other checks still ran");

    let report = scanner
        .scan(
            &format!("http://127.0.0.1:{}/loop", site.http.port()),
            |_| {},
        )
        .await;
    assert!(
        report.errors.iter().any(|e| e.contains("redirect loop")),
        "{:?}",
        report.errors
    );
    assert!(report.has("service_redis") && report.has("spf_permissive"));

    let report = scanner.scan("ftp://127.0.0.1/", |_| {}).await;
    assert!(report.findings.is_empty() && report.errors[0].contains("only http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_budget_hold_for_a_whole_scan() {
    let (site, mut cfg) = planted().await;
    cfg.rate_per_second = 20.0;
    cfg.max_requests = 12;
    let start = Instant::now();
    let report = Scanner::new(cfg)
        .unwrap()
        .scan(&format!("https://127.0.0.1:{}/", site.https.port()), |_| {})
        .await;
    let took = start.elapsed();
    assert_eq!(report.requests_sent, 12);
    assert!(
        took >= Duration::from_millis(540),
        "12 requests at 20/s took {took:?}"
    );
    assert!(report
        .errors
        .iter()
        .any(|e| e.contains("budget of 12 requests")));
    assert!(site.log.requests.load(std::sync::atomic::Ordering::SeqCst) <= 12);
}

/// A server that reads a ClientHello and answers with `answer`.
async fn tls_answering(answer: Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&answer).await;
            });
        }
    });
    addr
}

/// A TLS 1.0 ServerHello record, built by hand.
fn server_hello_tls10() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x2f, 0x00]); // AES128-SHA, no compression
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

#[tokio::test]
async fn old_tls_probe_reads_server_hello_alert_and_garbage() {
    let t = Duration::from_secs(2);
    let hello = tls_answering(server_hello_tls10()).await;
    assert!(probe_old_version(&hello, None, OldVersion::Tls10, t)
        .await
        .unwrap());
    // A TLS 1.0-only server answers a 1.1 hello with 1.0: TLS 1.1 is not offered.
    assert!(!probe_old_version(&hello, None, OldVersion::Tls11, t)
        .await
        .unwrap());
    let alert = tls_answering(vec![21, 3, 1, 0, 2, 2, 40]).await;
    assert!(
        !probe_old_version(&alert, Some("example.jp"), OldVersion::Tls10, t)
            .await
            .unwrap()
    );
    let garbage = tls_answering(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()).await;
    assert!(!probe_old_version(&garbage, None, OldVersion::Tls10, t)
        .await
        .unwrap());
    let silent = tls_answering(vec![22, 3]).await; // two bytes, then close
    assert!(!probe_old_version(&silent, None, OldVersion::Tls10, t)
        .await
        .unwrap());
    // rustls refuses both with an alert.
    let site = site::serve(Flavor::Clean, &certs().good).await;
    let rustls = site.https.to_string();
    assert!(!probe_old_version(&rustls, None, OldVersion::Tls10, t)
        .await
        .unwrap());
    assert!(!probe_old_version(&rustls, None, OldVersion::Tls11, t)
        .await
        .unwrap());

    let gate = Gate::new("127.0.0.1", &ScanConfig::default());
    let mut errors = Vec::new();
    let found = old_version_findings(
        &gate,
        "127.0.0.1",
        &hello,
        "https://127.0.0.1/",
        t,
        &mut errors,
    )
    .await;
    let ids: Vec<_> = found.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["tls10_enabled"]);
    assert!(found[0].evidence.contains("ServerHello"));
}
