//! A stand-in console for forwarding tests and the speed example: `POST /api/v1/events`
//! on 127.0.0.1 over HTTP or HTTPS, answering like the real one (`stored`, `duplicates`,
//! `skipped`, `errors`), keeping the set of alert ids it has stored.
//!
//! It can be stopped (every connection cut, like a crashed console) and started again on
//! the same port, and it can misbehave on purpose: answer 500 before or after storing,
//! refuse the token for a while, close fresh connections, refuse a rule id, or enforce a
//! small body limit.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use mamori_core::{Alert, Engine, Severity, Ulid};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

pub const TOKEN: &str = "tenant-token-for-tests";

/// Ways to misbehave, each a probability per request (or connection) from 0 to 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer 500 without storing.
    pub fail: f64,
    /// Store, then answer 500 (the sensor must resend; the store keeps one copy).
    pub fail_after_store: f64,
    /// Close a new connection right after accepting it.
    pub drop_connection: f64,
    /// Answer 401 to this many requests before accepting the token.
    pub refuse_token_times: u64,
    /// Refuse lines whose `rule_id` is this, like the console refuses invalid alerts.
    pub refuse_rule: Option<String>,
    /// Answer 413 above this many bytes (default 10 MiB, the console's default).
    pub max_body: Option<usize>,
}

/// What the console has seen.
#[derive(Default)]
pub struct Seen {
    pub ids: Mutex<HashSet<Ulid>>,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
    pub requests: AtomicU64,
    pub too_large: AtomicU64,
    pub last_headers: Mutex<Option<HeaderMap>>,
    pub faults: Mutex<Faults>,
    refused_tokens: AtomicU64,
}

impl Seen {
    pub fn new(faults: Faults) -> Arc<Seen> {
        Arc::new(Seen {
            faults: Mutex::new(faults),
            ..Seen::default()
        })
    }

    pub fn stored(&self) -> usize {
        self.ids.lock().expect("ids").len()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let headers = self.last_headers.lock().expect("headers");
        headers
            .as_ref()?
            .get(name)?
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

pub struct TestConsole {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    tls: Option<Arc<rustls::ServerConfig>>,
    task: Option<JoinHandle<()>>,
}

impl TestConsole {
    /// Starts on `addr` (port 0 for any free port).
    pub async fn start(
        addr: SocketAddr,
        seen: Arc<Seen>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> TestConsole {
        let listener = TcpListener::bind(addr).await.expect("bind test console");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(serve(listener, seen.clone(), tls.clone()));
        TestConsole {
            addr,
            seen,
            tls,
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Cuts every connection and stops listening, like a console that died.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port with the same memory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "port still busy");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.task = Some(tokio::spawn(serve(
            listener,
            self.seen.clone(),
            self.tls.clone(),
        )));
    }
}

impl Drop for TestConsole {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A free port on 127.0.0.1 with nothing listening on it (yet).
pub async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

async fn serve(listener: TcpListener, seen: Arc<Seen>, tls: Option<Arc<rustls::ServerConfig>>) {
    let app = Router::new()
        .route("/api/v1/events", post(ingest))
        .with_state(seen.clone());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Connections live in this set so that aborting the server cuts them all.
    let mut connections = JoinSet::new();
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(a) => a,
            Err(_) => continue,
        };
        while connections.try_join_next().is_some() {}
        let drop_it = chance(seen.faults.lock().expect("faults").drop_connection);
        if drop_it {
            drop(tcp);
            continue;
        }
        let app = app.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                app.clone().oneshot(req.map(Body::new))
            });
            let builder = Builder::new(TokioExecutor::new());
            match acceptor {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}

fn chance(p: f64) -> bool {
    p > 0.0 && rand_unit() < p
}

/// A cheap random number in [0, 1) from a ULID's random bits.
fn rand_unit() -> f64 {
    (Ulid::new().random() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(serde::Serialize, Default)]
struct Answer {
    stored: usize,
    duplicates: usize,
    skipped: usize,
    errors: Vec<LineError>,
}

#[derive(serde::Serialize)]
struct LineError {
    line: usize,
    error: String,
}

#[derive(serde::Deserialize)]
struct Line {
    id: Ulid,
    rule_id: String,
}

async fn ingest(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Body) -> Response {
    let faults = seen.faults.lock().expect("faults").clone();
    seen.requests.fetch_add(1, Ordering::Relaxed);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !authorized
        || seen.refused_tokens.fetch_add(1, Ordering::Relaxed) < faults.refuse_token_times
    {
        return (StatusCode::UNAUTHORIZED, "{\"error\":\"unknown token\"}").into_response();
    }
    *seen.last_headers.lock().expect("headers") = Some(headers);
    if chance(faults.fail) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"boom\"}").into_response();
    }
    let limit = faults.max_body.unwrap_or(10 << 20);
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        seen.too_large.fetch_add(1, Ordering::Relaxed);
        let answer = Answer {
            errors: vec![LineError {
                line: 0,
                error: format!("the body is larger than {limit} bytes"),
            }],
            ..Answer::default()
        };
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(answer)).into_response();
    };
    let mut answer = Answer::default();
    let mut fresh = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        if raw.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Line>(raw) {
            Ok(line) if Some(&line.rule_id) == faults.refuse_rule.as_ref() => {
                answer.errors.push(LineError {
                    line: i + 1,
                    error: "rule_id is refused by this test".into(),
                });
            }
            Ok(line) => fresh.push(line.id),
            Err(e) => answer.errors.push(LineError {
                line: i + 1,
                error: e.to_string(),
            }),
        }
    }
    {
        let mut ids = seen.ids.lock().expect("ids");
        for id in fresh {
            if ids.insert(id) {
                answer.stored += 1;
            } else {
                answer.duplicates += 1;
            }
        }
    }
    seen.duplicates
        .fetch_add(answer.duplicates as u64, Ordering::Relaxed);
    seen.refused
        .fetch_add(answer.errors.len() as u64, Ordering::Relaxed);
    if chance(faults.fail_after_store) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"lost\"}").into_response();
    }
    let status = if !answer.errors.is_empty() && answer.stored + answer.duplicates == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(answer)).into_response()
}

/// An alert as an engine would publish it.
pub fn alert(n: usize) -> Alert {
    let mut a = Alert::new(
        Engine::Ids,
        "ids.beacon",
        "Regular calls to one destination",
        Severity::Medium,
        format!("host 10.0.0.5 called 203.0.113.7 for the {n}th time"),
    );
    a.src.ip = Some(std::net::Ipv4Addr::new(10, 0, 0, 5).into());
    a.dst.ip = Some(std::net::Ipv4Addr::new(203, 0, 113, 7).into());
    a.dst.port = Some(443);
    a.evidence = serde_json::json!({ "count": n, "interval_s": 60 });
    a
}

/// Logs to the test output when `RUST_LOG` is set (`RUST_LOG=mamori_forward=debug`).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn temp_dir(name: &str) -> PathBuf {
    logs();
    mamori_core::scratch::dir(&format!("forward-{name}"))
}

/// A self-signed certificate for 127.0.0.1 made by `openssl req`: writes `cert.pem` and
/// `key.pem` into `dir` and returns the server configuration and the certificate's path
/// (what a sensor's `ca_file` points at).
pub fn self_signed(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-subj", "/CN=mamori test console"])
        // rustls matches the subjectAltName only, and will not take a CA certificate
        // (openssl's default) as an end-entity one.
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .expect("read certificate")
        .collect::<Result<_, _>>()
        .expect("parse certificate");
    let key = PrivateKeyDer::from_pem_file(&key).expect("read key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (Arc::new(config), cert)
}

/// Waits until `done` holds, checking every 50 ms, or panics after `limit` with `what`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
