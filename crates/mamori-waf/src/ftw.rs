//! go-ftw regression tests (CRS's test format) run through the real proxy.
//!
//! A test file has `rule_id` and `tests`, each with `stages`; a stage has an `input` (method,
//! uri, version, headers, data — or a whole `encoded_request`/`raw_request`) and an `output`
//! (`log.expect_ids`, `log.no_expect_ids`, `log.match_regex`, `log.no_match_regex`, `status`,
//! `response_contains`; the older `expect_id`, `log_contains`, `no_log_contains` too). Requests
//! are built as go-ftw builds them: it adds `Content-Type:
//! application/x-www-form-urlencoded` when there is data and no type, `Content-Length`, and
//! `Connection: close`, unless `autocomplete_headers: false`.
//!
//! [`EngineRunner`] runs each stage straight through the rule engine: the stage's raw request
//! bytes are parsed by [`crate::request::parse_http`] (a request it refuses counts as the web
//! server's 400), run through every phase with CRS's test settings ([`CRS_TEST_SETTINGS`]),
//! and judged by [`check`] against the matched rule ids, the ModSecurity-style log lines
//! ([`crate::engine::Audit::log_text`]) and the status.
//!
//! [`Runner`] starts the proxy and a small backend on loopback, configured the way CRS's
//! regression suite requires (its `SecAction id:900005`: detection only, paranoia level 4,
//! the limits), sends each stage over TCP and judges it by the rules the audit records name
//! and the status the client got.

use crate::audit::AuditRecord;
use crate::proxy::config::{ProxyConfig, SiteConfig};
use crate::proxy::Proxy;
use base64::Engine;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yaml_rust2::{Yaml, YamlLoader};

/// CRS's required test settings (`tests/regression/README.md`).
pub const CRS_TEST_SETTINGS: &str = r#"SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,setvar:tx.blocking_paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
"#;

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub expect_ids: Vec<u32>,
    pub no_expect_ids: Vec<u32>,
    pub match_regex: Option<String>,
    pub no_match_regex: Option<String>,
    pub status: Vec<u16>,
    pub response_contains: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub request: Vec<u8>,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub struct FtwTest {
    pub file: PathBuf,
    pub rule_id: u32,
    pub test_id: String,
    pub stages: Vec<Stage>,
}

impl FtwTest {
    /// `942100-3`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.rule_id, self.test_id)
    }
}

fn s(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn ids(y: &Yaml) -> Vec<u32> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(|v| s(v)?.parse().ok()).collect(),
        other => s(other).and_then(|v| v.parse().ok()).into_iter().collect(),
    }
}

/// Reads every test of a go-ftw YAML file.
pub fn load(path: &Path) -> Result<Vec<FtwTest>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for doc in docs {
        let rule_id = s(&doc["rule_id"]).and_then(|v| v.parse().ok()).unwrap_or(0);
        let Yaml::Array(tests) = &doc["tests"] else {
            continue;
        };
        for t in tests {
            let test_id = s(&t["test_id"])
                .or_else(|| s(&t["test_title"]))
                .unwrap_or_default();
            let mut stages = Vec::new();
            if let Yaml::Array(st) = &t["stages"] {
                for stage in st {
                    // Old files nest the stage under `stage:`.
                    let stage = if stage["stage"].is_badvalue() {
                        stage
                    } else {
                        &stage["stage"]
                    };
                    stages.push(Stage {
                        request: build_request(&stage["input"])
                            .map_err(|e| format!("{} test {test_id}: {e}", path.display()))?,
                        expect: expect(&stage["output"]),
                    });
                }
            }
            out.push(FtwTest {
                file: path.to_path_buf(),
                rule_id,
                test_id,
                stages,
            });
        }
    }
    Ok(out)
}

fn expect(o: &Yaml) -> Expect {
    let log = &o["log"];
    let mut e = Expect {
        expect_ids: ids(&log["expect_ids"]),
        no_expect_ids: ids(&log["no_expect_ids"]),
        match_regex: s(&log["match_regex"]),
        no_match_regex: s(&log["no_match_regex"]),
        status: ids(&o["status"]).into_iter().map(|v| v as u16).collect(),
        response_contains: s(&o["response_contains"]),
    };
    e.expect_ids.extend(ids(&o["expect_id"]));
    e.expect_ids.extend(ids(&log["expect_id"]));
    e.no_expect_ids.extend(ids(&o["no_expect_id"]));
    e.no_expect_ids.extend(ids(&log["no_expect_id"]));
    // `log_contains: id "942100"` → an expected id.
    for (key, list) in [("log_contains", 0), ("no_log_contains", 1)] {
        if let Some(v) = s(&o[key]) {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if v.contains("id") && digits.len() == 6 {
                if let Ok(id) = digits.parse() {
                    if list == 0 {
                        e.expect_ids.push(id)
                    } else {
                        e.no_expect_ids.push(id)
                    }
                }
            } else if list == 0 {
                e.match_regex = Some(v);
            } else {
                e.no_match_regex = Some(v);
            }
        }
    }
    e
}

/// The raw HTTP request a stage sends, built as go-ftw builds it: with
/// `autocomplete_headers` (default; `stop_magic: true` is the old way to turn it off), a
/// body gets `Content-Type: application/x-www-form-urlencoded` when it has none and, for
/// that type, its keys and values URL-encoded unless it already is encoded; then
/// `Connection: close`, and `Content-Length` when there is a body or the method may carry
/// one (go-ftw's `^POST|PUT|PATCH|DELETE$`). A `multipart/form-data;` body has its `\n`
/// turned into `\r\n`. `encoded_request`/`raw_request` are sent as they are.
pub fn build_request(input: &Yaml) -> Result<Vec<u8>, String> {
    if let Some(enc) = s(&input["encoded_request"]) {
        return base64::engine::general_purpose::STANDARD
            .decode(enc.split_ascii_whitespace().collect::<String>())
            .map_err(|e| format!("encoded_request: {e}"));
    }
    if let Some(raw) = s(&input["raw_request"]) {
        return Ok(raw.into_bytes());
    }
    let method = s(&input["method"]).unwrap_or_else(|| "GET".into());
    let uri = s(&input["uri"]).unwrap_or_else(|| "/".into());
    let version = s(&input["version"]).unwrap_or_else(|| "HTTP/1.1".into());
    let mut data: Vec<u8> = match &input["data"] {
        Yaml::Array(lines) => lines
            .iter()
            .filter_map(s)
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes(),
        other => s(other).map(|d| expand_template(&d)).unwrap_or_default(),
    };
    if let Some(enc) = s(&input["encoded_data"]) {
        data = base64::engine::general_purpose::STANDARD
            .decode(enc.split_ascii_whitespace().collect::<String>())
            .map_err(|e| format!("encoded_data: {e}"))?;
    }
    let autocomplete = match (&input["autocomplete_headers"], &input["stop_magic"]) {
        (Yaml::Boolean(b), _) => *b,
        (_, Yaml::Boolean(b)) => !*b,
        _ => true,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Yaml::Hash(h) = &input["headers"] {
        for (k, v) in h {
            if let (Some(k), Some(v)) = (s(k), s(v)) {
                headers.push((k, v));
            }
        }
    }
    let has =
        |h: &[(String, String)], name: &str| h.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !data.is_empty() && autocomplete {
        if !has(&headers, "content-type") {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let urlencoded = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type")
                && v.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if urlencoded && query_unescape(&data).as_deref() == Some(data.as_slice()) {
            data = encode_form(&data);
        }
    }
    if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type")
            && v.to_ascii_lowercase().contains("multipart/form-data;")
    }) {
        let mut crlf = Vec::with_capacity(data.len() + 64);
        for &b in &data {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        data = crlf;
    }
    if autocomplete {
        if !has(&headers, "connection") {
            headers.push(("Connection".into(), "close".into()));
        }
        let body_method = method.starts_with("POST")
            || method.contains("PUT")
            || method.contains("PATCH")
            || method.ends_with("DELETE");
        if !has(&headers, "content-length") && (!data.is_empty() || body_method) {
            headers.push(("Content-Length".into(), data.len().to_string()));
        }
    }
    let mut req = if version.is_empty() {
        format!("{method} {uri}\r\n")
    } else {
        format!("{method} {uri} {version}\r\n")
    }
    .into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&data);
    Ok(req)
}

/// The Go templates CRS's tests use in `data`: `{{ "x" | repeat N }}`.
fn expand_template(d: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut rest = d;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let expr = rest[start + 2..start + end].trim();
        let mut parts = expr.split('|').map(str::trim);
        let lit = parts.next().unwrap_or("").trim_matches('"').to_string();
        let mut val = lit;
        for f in parts {
            if let Some(n) = f
                .strip_prefix("repeat")
                .and_then(|n| n.trim().parse::<usize>().ok())
            {
                val = val.repeat(n.min(16 << 20));
            }
        }
        out.push_str(&val);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// Go's `url.QueryUnescape`: `None` on an invalid `%` sequence.
fn query_unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let h = s.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Go's `url.QueryEscape` of each key and value of `k=v&k2=v2`.
fn encode_form(data: &[u8]) -> Vec<u8> {
    fn esc(s: &[u8], out: &mut Vec<u8>) {
        for &b in s {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
                b' ' => out.push(b'+'),
                _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() * 2);
    for (i, token) in data.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match token.iter().position(|&b| b == b'=') {
            Some(eq) => {
                esc(&token[..eq], &mut out);
                out.push(b'=');
                esc(&token[eq + 1..], &mut out);
            }
            None => esc(token, &mut out),
        }
    }
    out
}

/// The ModSecurity-like log line of an audit record's rules (what `match_regex` reads).
pub fn log_text(records: &[AuditRecord]) -> String {
    let mut out = String::new();
    for r in records {
        for h in &r.rules {
            out.push_str(&format!(
                "ModSecurity: Warning. Matched \"{}\" at {}. [file \"mamori\"] [line \"0\"] [id \"{}\"] [msg \"{}\"] [data \"{}\"] [severity \"{}\"] [tag \"{}\"] [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"]\n",
                h.matched_value, h.matched_var, h.id, h.msg, h.data, h.severity, h.tags.join("\"] [tag \""), r.host, r.uri, r.id
            ));
        }
    }
    out
}

/// Judges one stage; `Err` says why it failed.
pub fn check(
    expect: &Expect,
    fired: &[u32],
    log: &str,
    status: Option<u16>,
    body: &str,
) -> Result<(), String> {
    for id in &expect.expect_ids {
        if !fired.contains(id) {
            return Err(format!("expected rule {id} to match; matched {fired:?}"));
        }
    }
    for id in &expect.no_expect_ids {
        if fired.contains(id) {
            return Err(format!("rule {id} matched but should not"));
        }
    }
    if let Some(re) = &expect.match_regex {
        let re = regex::Regex::new(re).map_err(|e| format!("match_regex: {e}"))?;
        if !re.is_match(log) {
            return Err(format!("log does not match {re}"));
        }
    }
    if let Some(re) = &expect.no_match_regex {
        let re = regex::Regex::new(re).map_err(|e| format!("no_match_regex: {e}"))?;
        if re.is_match(log) {
            return Err(format!("log matches {re} but should not"));
        }
    }
    if !expect.status.is_empty() {
        match status {
            Some(s) if expect.status.contains(&s) => {}
            other => return Err(format!("status {other:?}, expected {:?}", expect.status)),
        }
    }
    if let Some(text) = &expect.response_contains {
        if !body.contains(text.as_str()) {
            return Err(format!("response does not contain {text:?}"));
        }
    }
    Ok(())
}

/// Whether a test checks anything but rules (status-only tests depend on the web server).
pub fn is_status_only(t: &FtwTest) -> bool {
    t.stages.iter().all(|s| {
        s.expect.expect_ids.is_empty()
            && s.expect.no_expect_ids.is_empty()
            && s.expect.match_regex.is_none()
            && s.expect.no_match_regex.is_none()
    })
}

/// One test's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub test_id: String,
    pub rule_id: u32,
    pub passed: bool,
    pub reason: String,
}

/// What one stage did in the engine.
#[derive(Debug, Clone, Default)]
pub struct StageResult {
    /// Ids of the rules that matched and log.
    pub fired: Vec<u32>,
    /// ModSecurity-style log lines.
    pub log: String,
    /// The status the client would get: the intervention's, 400 when the request does not
    /// parse, else 200.
    pub status: u16,
    /// The request could not be parsed (the web server would answer 400 before the rules).
    pub refused: Option<String>,
}

/// Runs go-ftw stages through the rule engine (no network).
pub struct EngineRunner {
    rules: crate::engine::RuleSet,
}

impl EngineRunner {
    /// `rules`: a CRS directory or `.conf`; loaded with [`CRS_TEST_SETTINGS`] before it.
    pub fn load(rules: &Path) -> Result<EngineRunner, crate::Error> {
        Ok(EngineRunner {
            rules: crate::engine::RuleSet::load_with(rules, CRS_TEST_SETTINGS, "")?,
        })
    }

    /// Runs with an already loaded rule set.
    pub fn new(rules: crate::engine::RuleSet) -> EngineRunner {
        EngineRunner { rules }
    }

    pub fn rules(&self) -> &crate::engine::RuleSet {
        &self.rules
    }

    pub fn rule_count(&self) -> usize {
        self.rules.rule_count()
    }

    /// One raw request through every phase.
    pub fn run_request(&self, raw: &[u8]) -> StageResult {
        let parsed = match crate::request::parse_http(raw) {
            Ok(p) => p,
            Err(e) => {
                return StageResult {
                    status: 400,
                    refused: Some(e),
                    ..StageResult::default()
                }
            }
        };
        let mut tx = self.rules.transaction(parsed.head);
        let mut stop = tx.process_request_headers();
        if stop.is_none() {
            tx.append_request_body(&parsed.body);
            stop = tx.process_request_body();
        }
        if stop.is_none() {
            let headers = vec![
                ("Content-Type".to_string(), b"text/html".to_vec()),
                ("Content-Length".to_string(), b"2".to_vec()),
            ];
            stop = tx.process_response_headers(200, &headers);
            if stop.is_none() && tx.wants_response_body() {
                tx.append_response_body(b"ok");
                stop = tx.process_response_body();
            }
        }
        let audit = tx.finish();
        StageResult {
            fired: audit.ids(),
            log: audit.log_text(),
            status: stop.map_or(200, |i| i.status),
            refused: None,
        }
    }

    /// Runs one test (all its stages).
    pub fn run(&self, t: &FtwTest) -> Outcome {
        let mut reason = String::new();
        for (i, stage) in t.stages.iter().enumerate() {
            let r = self.run_request(&stage.request);
            if let Err(e) = check(&stage.expect, &r.fired, &r.log, Some(r.status), "") {
                let why = match &r.refused {
                    Some(p) => format!(" (the HTTP parser refused the request: {p})"),
                    None => String::new(),
                };
                reason = format!("stage {}: {e}{why}", i + 1);
                break;
            }
        }
        Outcome {
            test_id: t.name(),
            rule_id: t.rule_id,
            passed: reason.is_empty(),
            reason,
        }
    }
}

/// The proxy and a backend on loopback, configured for CRS's regression suite.
pub struct Runner {
    proxy_addr: SocketAddr,
    proxy: Arc<Proxy>,
    taps: tokio::sync::mpsc::UnboundedReceiver<AuditRecord>,
    /// The test settings and audit files, removed with the runner.
    dir: std::path::PathBuf,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Runner {
    /// `rules`: a CRS directory or `.conf`.
    pub async fn start(rules: &Path) -> Result<Runner, String> {
        let backend = backend().await.map_err(|e| e.to_string())?;
        let dir = std::env::temp_dir().join(format!(
            "mamori-ftw-{}-{}",
            std::process::id(),
            ulid::Ulid::new()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let settings = dir.join("crs-test-settings.conf");
        std::fs::write(&settings, CRS_TEST_SETTINGS).map_err(|e| e.to_string())?;
        let config = ProxyConfig {
            rules: rules.display().to_string(),
            exclusions: settings.display().to_string(),
            inspect_body_limit: 1 << 20,
            max_body: 16 << 20,
            max_headers: 200,
            max_header_bytes: 64 * 1024,
            sites: vec![SiteConfig {
                upstreams: vec![format!("http://{backend}")],
                ..SiteConfig::default()
            }],
            ..ProxyConfig::default()
        };
        let proxy = Proxy::new(config, None).map_err(|e| e.to_string())?;
        let (tx, taps) = tokio::sync::mpsc::unbounded_channel();
        proxy
            .taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let proxy_addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(proxy.clone().serve(listener, std::future::pending()));
        Ok(Runner {
            proxy_addr,
            proxy,
            taps,
            dir,
        })
    }

    pub fn rule_count(&self) -> usize {
        self.proxy.rule_count()
    }

    /// Runs one test (all its stages).
    pub async fn run(&mut self, t: &FtwTest) -> Outcome {
        let mut reason = String::new();
        for (i, stage) in t.stages.iter().enumerate() {
            while self.taps.try_recv().is_ok() {}
            let (status, body) = match send(self.proxy_addr, &stage.request).await {
                Ok(r) => r,
                Err(e) => (None, e),
            };
            // The audit record is written before the response; give a moment for safety.
            let mut records = Vec::new();
            while let Ok(r) = self.taps.try_recv() {
                records.push(r);
            }
            let fired: Vec<u32> = records
                .iter()
                .flat_map(|r| r.rules.iter().map(|h| h.id))
                .collect();
            if let Err(e) = check(&stage.expect, &fired, &log_text(&records), status, &body) {
                let answered = match status {
                    Some(400) if fired.is_empty() => {
                        " (the proxy's HTTP parser refused the request with 400 before the rules)"
                            .to_string()
                    }
                    Some(s) => format!(" (status {s})"),
                    None => " (no answer)".to_string(),
                };
                reason = format!("stage {}: {e}{answered}", i + 1);
                break;
            }
        }
        Outcome {
            test_id: t.name(),
            rule_id: t.rule_id,
            passed: reason.is_empty(),
            reason,
        }
    }
}

/// Sends raw bytes and reads the answer: until the server closes, or 300 ms after the last
/// bytes (a kept-alive connection), or 10 s with nothing.
async fn send(addr: SocketAddr, request: &[u8]) -> Result<(Option<u16>, String), String> {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(request).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut wait = Duration::from_secs(10);
    loop {
        match tokio::time::timeout(wait, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                wait = Duration::from_millis(300);
                if out.len() > 1 << 20 {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok());
    Ok((status, text))
}

/// A backend that answers every request with 200 and a short body.
async fn backend() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        use http_body_util::BodyExt;
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
            });
        }
    });
    Ok(addr)
}

/// YAML files under the given files and directories, sorted.
pub fn test_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>, depth: usize) {
        if p.is_dir() && depth < 8 {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), out, depth + 1);
                }
            }
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p.to_path_buf());
        }
    }
    for p in paths {
        walk(p, &mut out, 0);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_completed_as_go_ftw_does() {
        let y = &YamlLoader::load_from_str(
            "method: POST\nuri: /x\nheaders:\n  Host: localhost\ndata: a=1\n",
        )
        .unwrap()[0];
        let req = String::from_utf8(build_request(y).unwrap()).unwrap();
        assert_eq!(
            req,
            "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: 3\r\n\r\na=1"
        );
        let y = &YamlLoader::load_from_str("method: POST\ndata: a=<b c>&d\n").unwrap()[0];
        let req = String::from_utf8(build_request(y).unwrap()).unwrap();
        assert!(
            req.ends_with("Content-Length: 13\r\n\r\na=%3Cb+c%3E&d"),
            "{req}"
        );
        let y = &YamlLoader::load_from_str("method: POST\n").unwrap()[0];
        assert!(String::from_utf8(build_request(y).unwrap())
            .unwrap()
            .contains("Content-Length: 0\r\n"));
        let raw =
            &YamlLoader::load_from_str("encoded_request: R0VUIC8gSFRUUC8xLjENCg0K\n").unwrap()[0];
        assert_eq!(build_request(raw).unwrap(), b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn stages_pass_or_fail_with_a_reason() {
        let e = Expect {
            expect_ids: vec![942100],
            no_expect_ids: vec![920100],
            ..Expect::default()
        };
        assert!(check(&e, &[942100], "", Some(200), "").is_ok());
        assert!(check(&e, &[], "", Some(200), "")
            .unwrap_err()
            .contains("942100"));
        assert!(check(&e, &[942100, 920100], "", Some(200), "").is_err());
        let r = Expect {
            match_regex: Some(r#"id "9\d+""#.into()),
            status: vec![403],
            ..Expect::default()
        };
        assert!(check(&r, &[], "[id \"949110\"]", Some(403), "").is_ok());
        assert!(check(&r, &[], "[id \"949110\"]", Some(200), "").is_err());
    }
}
