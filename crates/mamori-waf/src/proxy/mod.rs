//! The reverse proxy (hyper 1.x): HTTP/1.1 and HTTP/2 in, HTTP/1.1 to the site's upstreams.
//!
//! Per request: pick the site by `Host`/`:authority`; run the rules on the request head; read
//! up to `inspect_body_limit` bytes of the body and run the rules on them (the rest streams
//! through uninspected, and `max_body` is enforced as it streams); apply login protection;
//! forward with `X-Forwarded-For`/`X-Forwarded-Proto`/`X-Forwarded-Host` and `Forwarded`; run
//! the rules on the response head (and body, when the rules read response bodies of its
//! type); write the audit record and the alert when a rule matched.
//!
//! Limits answer with the status a client expects: 413 for bodies over `max_body`, 431 for too
//! many or too large headers (hyper's limits), 408 for a client that sends its head too slowly,
//! 502 with a page when no upstream answers, 504 when it answers too slowly.

pub mod config;
pub mod conns;
pub mod inspect;
pub mod pages;
pub mod sched;
pub mod tls;
pub mod upstream;

use crate::audit::{Action, AuditLog, AuditRecord};
use crate::login::{self, Decision, GeoIp, LoginGuard, Outcome};
use bytes::{Bytes, BytesMut};
use config::{Mode, ProxyConfig, SiteConfig};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use inspect::{Findings, Head, Inspection, Rules};
use mamori_core::bus::Publisher;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use upstream::Pool;

pub use config::default_rules;

/// Where the challenge page posts to get the pass cookie.
pub const CHALLENGE_PATH: &str = "/.mamori/challenge";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Bodies flowing through the proxy, both ways.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

fn full(b: Bytes) -> ProxyBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

fn page(resp: Response<Bytes>) -> Response<ProxyBody> {
    resp.map(full)
}

/// A site as the proxy serves it.
pub struct Site {
    pub name: String,
    hosts: Vec<String>,
    pool: Arc<Pool>,
    mode: Mode,
    logins: Vec<LoginGuard>,
    reset_paths: Vec<String>,
    geoip: Option<GeoIp>,
}

impl Site {
    fn serves(&self, host: &str) -> bool {
        self.hosts.is_empty()
            || self
                .hosts
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(host))
    }
}

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    config: ProxyConfig,
    sites: Vec<Site>,
    rules: std::sync::RwLock<Option<Arc<Rules>>>,
    /// Per-site mode set from the console (`waf-modes.json` beside the exclusions file).
    modes: std::sync::RwLock<std::collections::HashMap<String, Mode>>,
    /// Addresses banned by response actions (`waf-bans.json` beside the exclusions file).
    bans: std::sync::RwLock<Vec<Ban>>,
    /// Modification times of the exclusions, modes and bans files when last read.
    seen: std::sync::Mutex<(
        Option<std::time::SystemTime>,
        Option<std::time::SystemTime>,
        Option<std::time::SystemTime>,
    )>,
    /// Clients to the upstreams, one per serving thread ([`Proxy::serve_on_thread`]): a
    /// pooled connection is driven by the runtime that opened it, so each thread keeps its own.
    /// Each serving thread's upstream connections.
    clients: Vec<conns::Conns>,
    audit: Option<AuditLog>,
    alerts: Option<Publisher>,
    secret: [u8; 32],
    /// Audit records also go here (tests and `mamori waf test` read them).
    pub taps: std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedSender<AuditRecord>>>,
}

/// Threads that may serve one proxy, each with its own upstream client.
pub const SERVING_THREADS: usize = 16;

/// A connection handed from the serving thread that accepted it to another.
type Handed = (std::net::TcpStream, SocketAddr);

/// Deals accepted connections round-robin over the serving threads. The kernel spreads
/// connections over the threads' `SO_REUSEPORT` sockets by a hash of their addresses, which
/// left one thread with up to half as many again as another: a few long keep-alive
/// connections (a load balancer's, a benchmark's) then queue on one core while the other
/// idles. A connection is handed over once, when accepted; its requests stay on one thread.
pub struct Handoff {
    index: usize,
    next: Arc<std::sync::atomic::AtomicUsize>,
    peers: Arc<[tokio::sync::mpsc::UnboundedSender<Handed>]>,
    inbox: tokio::sync::mpsc::UnboundedReceiver<Handed>,
}

enum Dealt {
    Here(tokio::net::TcpStream),
    Away,
}

impl Handoff {
    /// One for each of `threads` serving threads, in thread order.
    pub fn for_threads(threads: usize) -> Vec<Handoff> {
        let (peers, inboxes): (Vec<_>, Vec<_>) = (0..threads)
            .map(|_| tokio::sync::mpsc::unbounded_channel())
            .unzip();
        let peers: Arc<[_]> = peers.into();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        inboxes
            .into_iter()
            .enumerate()
            .map(|(index, inbox)| Handoff {
                index,
                next: next.clone(),
                peers: peers.clone(),
                inbox,
            })
            .collect()
    }

    /// Keeps `tcp` on this thread or sends it to the thread whose turn it is; a thread that
    /// has stopped, or a socket that cannot be moved, leaves it here.
    fn deal(&self, tcp: tokio::net::TcpStream, peer: SocketAddr) -> Dealt {
        use std::sync::atomic::Ordering;
        let to = self.next.fetch_add(1, Ordering::Relaxed) % self.peers.len();
        tracing::debug!(%peer, from = self.index, to, "connection dealt");
        if to == self.index {
            return Dealt::Here(tcp);
        }
        let std = match tcp.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "a connection could not be handed over");
                return Dealt::Away;
            }
        };
        match self.peers[to].send((std, peer)) {
            Ok(()) => Dealt::Away,
            Err(back) => match tokio::net::TcpStream::from_std(back.0 .0) {
                Ok(tcp) => Dealt::Here(tcp),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "a connection could not be served");
                    Dealt::Away
                }
            },
        }
    }
}

thread_local! {
    /// Which serving thread this is (0 on a shared multi-threaded runtime).
    static SERVING_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("WAF configuration: {0}")]
    Config(String),
    #[error("loading rules from {path}: {reason}")]
    Rules { path: String, reason: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

impl Proxy {
    /// Builds the proxy: loads the rules (with `exclusions` after them), the sites' GeoIP
    /// files and certificates, opens the audit log.
    pub fn new(config: ProxyConfig, alerts: Option<Publisher>) -> Result<Arc<Proxy>, ProxyError> {
        config.validate().map_err(ProxyError::Config)?;
        let rules = load_rules(&config)?;
        let mut sites = Vec::new();
        for (i, s) in config.sites.iter().enumerate() {
            sites.push(build_site(i, s)?);
        }
        let audit = if config.audit_log.is_empty() {
            None
        } else {
            Some(
                AuditLog::open(
                    Path::new(&config.audit_log),
                    crate::audit::Rotation {
                        max_bytes: config.audit_log_max_mb.saturating_mul(1024 * 1024),
                        keep: config.audit_log_keep,
                    },
                )
                .map_err(|e| ProxyError::Io {
                    what: "opening the audit log",
                    path: config.audit_log.clone(),
                    source: e,
                })?,
            )
        };
        let clients = (0..SERVING_THREADS)
            .map(|_| conns::Conns::new(Duration::from_secs(5)))
            .collect();
        let mut secret = [0u8; 32];
        for (i, b) in ulid::Ulid::new()
            .to_bytes()
            .iter()
            .chain(ulid::Ulid::new().to_bytes().iter())
            .enumerate()
        {
            secret[i % 32] ^= b;
        }
        Ok(Arc::new(Proxy {
            config,
            sites,
            rules: std::sync::RwLock::new(rules.map(Arc::new)),
            modes: std::sync::RwLock::new(std::collections::HashMap::new()),
            bans: std::sync::RwLock::new(Vec::new()),
            seen: std::sync::Mutex::new((None, None, None)),
            clients,
            audit,
            alerts,
            secret,
            taps: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// How the serving threads are to be scheduled (`waf.scheduling`).
    pub fn scheduling(&self) -> config::Scheduling {
        self.config.scheduling
    }

    pub fn rule_count(&self) -> usize {
        self.rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |r| r.rule_count())
    }

    /// Starts the health checks of every site's upstreams.
    pub fn spawn_health_checks(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let interval = Duration::from_secs(self.config.health_interval_secs.max(1));
        self.sites
            .iter()
            .zip(&self.config.sites)
            .map(|(s, c)| s.pool.spawn_health_checks(c.health_path.clone(), interval))
            .collect()
    }

    /// The site's mode: the console's switch when set, else the configuration's.
    fn mode_of(&self, site: &Site) -> Mode {
        self.modes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&site.name)
            .copied()
            .unwrap_or(site.mode)
    }

    /// Re-reads the console's files when they changed: rule exclusions (the rules are
    /// reloaded with them; on an error the old rules stay) and per-site modes.
    pub fn reload_if_changed(&self) {
        let mtime = |p: &str| {
            (!p.is_empty())
                .then(|| std::fs::metadata(p).and_then(|m| m.modified()).ok())
                .flatten()
        };
        let modes_path = modes_file(&self.config);
        let bans_path = bans_file(&self.config);
        let now = (
            mtime(&self.config.exclusions),
            mtime(&modes_path),
            mtime(&bans_path),
        );
        let before = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *seen, now)
        };
        if now.0 != before.0 && (now.0.is_some() || before.0.is_some()) {
            match load_rules(&self.config) {
                Ok(rules) => {
                    tracing::info!(
                        rules = rules.as_ref().map_or(0, |r| r.rule_count()),
                        "WAF rules reloaded with the exclusions"
                    );
                    *self.rules.write().unwrap_or_else(|e| e.into_inner()) = rules.map(Arc::new);
                }
                Err(e) => {
                    tracing::error!(error = %e, "WAF exclusions not applied; the previous rules stay")
                }
            }
        }
        if now.1 != before.1 {
            let modes: std::collections::HashMap<String, Mode> = std::fs::read(&modes_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            *self.modes.write().unwrap_or_else(|e| e.into_inner()) = modes;
        }
        if now.2 != before.2 {
            let bans = read_bans(&bans_path);
            tracing::info!(bans = bans.len(), "WAF bans reloaded");
            *self.bans.write().unwrap_or_else(|e| e.into_inner()) = bans;
        }
    }

    /// Whether a response action bans `ip` now.
    fn banned(&self, ip: std::net::IpAddr, now: u64) -> bool {
        self.bans
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|b| b.until.is_none_or(|u| u > now) && b.contains(ip))
    }

    /// Checks the console's files every two seconds until the task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let proxy = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let p = proxy.clone();
                let _ = tokio::task::spawn_blocking(move || p.reload_if_changed()).await;
            }
        })
    }

    fn site(&self, host: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.serves(host))
    }

    /// [`Proxy::serve`] on a thread of its own with its own runtime, the `index`th of up to
    /// [`SERVING_THREADS`]: its requests go upstream over connections of its own. With
    /// `handoff`, the connections it accepts are dealt round-robin over all serving threads.
    pub async fn serve_on_thread(
        self: Arc<Self>,
        index: usize,
        listener: tokio::net::TcpListener,
        handoff: Option<Handoff>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        SERVING_THREAD.set(index);
        // A timer that always expires within a second keeps the runtime's next wake-up close.
        // Each request starts two timers (hyper's header read, the upstream timeout), and one
        // that expires before the runtime's next planned wake-up makes it write its eventfd to
        // wake itself; with this timer pending, neither ever does (one write(2) and one more
        // epoll_wait(2) per POST request before).
        let keep_close = tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
            }
        });
        self.accept_loop(listener, None, handoff, shutdown).await;
        keep_close.abort();
    }

    /// Serves plain HTTP on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.accept_loop(listener, None, None, shutdown).await
    }

    /// Serves HTTPS on `listener` with the sites' certificates.
    pub async fn serve_tls(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProxyError> {
        let certs: Vec<(Vec<String>, &Path, &Path)> = self
            .config
            .sites
            .iter()
            .filter(|s| !s.tls_cert.is_empty())
            .map(|s| {
                (
                    s.hosts.clone(),
                    Path::new(&s.tls_cert),
                    Path::new(&s.tls_key),
                )
            })
            .collect();
        let config = tls::server_config(&certs).map_err(ProxyError::Tls)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        self.accept_loop(listener, Some(acceptor), None, shutdown)
            .await;
        Ok(())
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        mut handoff: Option<Handoff>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        tokio::pin!(shutdown);
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        loop {
            let handed = async {
                match handoff.as_mut() {
                    Some(h) => h.inbox.recv().await,
                    None => std::future::pending().await,
                }
            };
            let (tcp, peer, accepted) = tokio::select! {
                _ = &mut shutdown => return,
                r = listener.accept() => match r {
                    Ok((tcp, peer)) => (tcp, peer, true),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                Some((std, peer)) = handed => match tokio::net::TcpStream::from_std(std) {
                    Ok(tcp) => (tcp, peer, false),
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "a connection handed over could not be served");
                        continue;
                    }
                },
            };
            let tcp = match handoff.as_ref().filter(|_| accepted) {
                Some(h) => match h.deal(tcp, peer) {
                    Dealt::Here(tcp) => tcp,
                    Dealt::Away => continue,
                },
                None => tcp,
            };
            let _ = tcp.set_nodelay(true);
            let proxy = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => {
                        proxy
                            .connection(TokioIo::new(tcp), peer, local, false)
                            .await
                    }
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            Duration::from_secs(proxy.config.header_timeout_secs.max(1)),
                            acceptor.accept(tcp),
                        );
                        match handshake.await {
                            Ok(Ok(stream)) => {
                                proxy
                                    .connection(TokioIo::new(stream), peer, local, true)
                                    .await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    }

    async fn connection<I>(self: Arc<Self>, io: I, peer: SocketAddr, local: SocketAddr, https: bool)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(self.config.header_timeout_secs.max(1)))
            .max_headers(self.config.max_headers.max(1))
            .max_buf_size(self.config.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(self.config.max_header_bytes.max(8192) as u32)
            .max_concurrent_streams(256);
        let proxy = self.clone();
        let conn = Arc::new(Conn {
            peer,
            local,
            https,
            ip: peer.ip().to_string(),
        });
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let proxy = proxy.clone();
            let conn = conn.clone();
            async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, &conn).await) }
        });
        if let Err(e) = builder.serve_connection(io, service).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }

    /// One request, start to finish.
    pub async fn handle(&self, req: Request<Incoming>, conn: &Conn) -> Response<ProxyBody> {
        let Conn {
            peer, local, https, ..
        } = *conn;
        let (parts, body) = req.into_parts();
        let host_full = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let host = strip_port(host_full);
        let Some(site) = self.site(host) else {
            return page(pages::unknown_site(host));
        };
        if self.banned(peer.ip(), now_secs()) {
            return page(pages::banned());
        }
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let path = parts.uri.path();
        let method = parts.method.as_str();
        let now = now_secs();

        if path == CHALLENGE_PATH && parts.method == hyper::Method::POST {
            return self.pass_challenge(peer, body, https).await;
        }

        // Declared bodies over the limit are refused before reading a byte.
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_body) {
            return page(pages::too_large(self.config.max_body));
        }

        let protocol = protocol_name(parts.version);
        let head = Head {
            method,
            target,
            protocol,
            headers: &parts.headers,
            client: peer,
            server: local,
        };
        let mode = self.mode_of(site);
        let rules = if mode == Mode::Off {
            None
        } else {
            self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
        };
        let mut inspection = Inspection::start(rules.as_deref(), mode, &head);
        let mut ctx = Ctx {
            site,
            peer,
            host,
            method,
            target,
            protocol,
            login_signal: None,
        };
        if let Some(stop) = inspection.request_headers() {
            return self.stop(ctx, inspection, stop);
        }

        // Read what the rules inspect; the rest streams through.
        let has_body = declared.is_some_and(|n| n > 0)
            || parts.headers.contains_key(header::TRANSFER_ENCODING)
            || (parts.version == hyper::Version::HTTP_2 && !is_bodiless(&parts.method));
        let mut body = Some(body);
        let mut prefix = Bytes::new();
        let mut complete = true;
        if has_body {
            match read_prefix(
                &mut body,
                self.config.inspect_body_limit,
                self.config.max_body,
            )
            .await
            {
                Ok((p, done)) => {
                    prefix = p;
                    complete = done;
                }
                Err(PrefixError::TooLarge) => {
                    return page(pages::too_large(self.config.max_body));
                }
                Err(PrefixError::Client(e)) => {
                    tracing::debug!(%peer, error = %e, "client body failed");
                    let mut r = Response::new(full(Bytes::from_static(b"bad request body\n")));
                    *r.status_mut() = StatusCode::BAD_REQUEST;
                    return r;
                }
            }
            if let Some(stop) = inspection.request_body(&prefix) {
                return self.stop(ctx, inspection, stop);
            }
        } else if let Some(stop) = inspection.request_body(&[]) {
            return self.stop(ctx, inspection, stop);
        }

        // Login protection.
        let login = site.logins.iter().find(|g| g.is_login(method, path));
        let country = site
            .geoip
            .as_ref()
            .and_then(|g| g.country(peer.ip()))
            .map(str::to_string);
        let mut login_user = None;
        if let Some(guard) = login {
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            login_user = guard.username(ct, &prefix);
            let cookies = cookie_header(&parts.headers);
            let passed = login::challenge_passed(&self.secret, peer.ip(), &cookies, now);
            match guard.before(peer.ip(), login_user.as_deref(), passed, now) {
                Decision::Allow => {}
                Decision::Delay(d) => tokio::time::sleep(d).await,
                Decision::TooMany(secs) => {
                    ctx.login_signal = Some("waf.login.ip_failures".into());
                    return self.refuse_login(
                        ctx,
                        inspection,
                        pages::login_refused(StatusCode::TOO_MANY_REQUESTS, secs),
                    );
                }
                Decision::Blocked(secs) => {
                    ctx.login_signal = Some("waf.login.ip_failures".into());
                    return self.refuse_login(
                        ctx,
                        inspection,
                        pages::login_refused(StatusCode::FORBIDDEN, secs),
                    );
                }
                Decision::Challenge => {
                    ctx.login_signal = Some("waf.login.challenge".into());
                    return self.refuse_login(ctx, inspection, pages::challenge(target));
                }
            }
        }
        if site.reset_paths.iter().any(|p| p == path) {
            if let Some(guard) = site.logins.first() {
                let (over, signals) = guard.reset_request(peer.ip(), now);
                self.signals(&ctx, signals);
                if let Some(secs) = over {
                    ctx.login_signal = Some("waf.login.reset_burst".into());
                    return self.refuse_login(
                        ctx,
                        inspection,
                        pages::login_refused(StatusCode::TOO_MANY_REQUESTS, secs),
                    );
                }
            }
        }

        // Forward.
        let upstream = site.pool.pick();
        let uri = match upstream.origin_form(target) {
            Ok(u) => u,
            Err(e) => return page(pages::bad_gateway(&e.to_string())),
        };
        let mut out = Request::builder().method(parts.method.clone()).uri(uri);
        if let Some(h) = out.headers_mut() {
            copy_request_headers(&parts.headers, h);
            add_forwarded(h, &conn.ip, peer.is_ipv6(), host_full, https);
            if parts.version == hyper::Version::HTTP_2 && !host_full.is_empty() {
                if let Ok(v) = HeaderValue::from_str(host_full) {
                    h.insert(header::HOST, v);
                }
            }
            // An HTTP/1.0 request may come without one; the upstream is asked for itself.
            if !h.contains_key(header::HOST) {
                if let Ok(v) = HeaderValue::from_str(upstream.authority.as_str()) {
                    h.insert(header::HOST, v);
                }
            }
        }
        let fwd_body = if !has_body {
            full(Bytes::new())
        } else if complete {
            full(prefix)
        } else {
            chain_body(prefix, body.take(), self.config.max_body)
        };
        let out = match out.body(fwd_body) {
            Ok(r) => r,
            Err(e) => return page(pages::bad_gateway(&e.to_string())),
        };
        let timeout = Duration::from_secs(self.config.upstream_timeout_secs.max(1));
        let client = &self.clients[SERVING_THREAD.get() % self.clients.len()];
        let resp = match tokio::time::timeout(timeout, client.send(&upstream.authority, out)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                if e.is_connect() {
                    upstream.set_healthy(false);
                }
                tracing::warn!(upstream = %upstream.authority, error = %e, "upstream request failed");
                let findings = inspection.finish();
                self.record(&ctx, findings, 502, mode);
                return page(pages::bad_gateway(&format!(
                    "upstream {} did not answer",
                    upstream.authority
                )));
            }
            Err(_) => {
                let findings = inspection.finish();
                self.record(&ctx, findings, 504, mode);
                return page(pages::gateway_timeout());
            }
        };
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        let status = rparts.status.as_u16();
        if let Some(stop) = inspection.response_headers(status, &rparts.headers) {
            return self.stop(ctx, inspection, stop);
        }
        let content_type = rparts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let want_body =
            inspection.wants_response_body(&content_type) || login.is_some_and(|g| g.needs_body());
        let mut rbody = Some(rbody);
        let out_body = if want_body {
            match read_prefix(&mut rbody, self.config.inspect_body_limit, u64::MAX).await {
                Ok((p, done)) => {
                    if let Some(stop) = inspection.response_body(&p) {
                        return self.stop(ctx, inspection, stop);
                    }
                    if let Some(guard) = login {
                        self.login_outcome(
                            &ctx,
                            guard,
                            &rparts.headers,
                            status,
                            &p,
                            login_user.as_deref(),
                            country.as_deref(),
                            now,
                        );
                    }
                    if done {
                        full(p)
                    } else {
                        chain_body(p, rbody.take(), u64::MAX)
                    }
                }
                Err(_) => {
                    let findings = inspection.finish();
                    self.record(&ctx, findings, 502, mode);
                    return page(pages::bad_gateway("the upstream's response broke off"));
                }
            }
        } else {
            if let Some(guard) = login {
                self.login_outcome(
                    &ctx,
                    guard,
                    &rparts.headers,
                    status,
                    &[],
                    login_user.as_deref(),
                    country.as_deref(),
                    now,
                );
            }
            match rbody.take() {
                Some(b) => b.map_err(|e| Box::new(e) as BoxError).boxed(),
                None => full(Bytes::new()),
            }
        };
        let findings = inspection.finish();
        self.record(&ctx, findings, status, mode);
        Response::from_parts(rparts, out_body)
    }

    #[allow(clippy::too_many_arguments)]
    fn login_outcome(
        &self,
        ctx: &Ctx<'_>,
        guard: &LoginGuard,
        headers: &HeaderMap,
        status: u16,
        body: &[u8],
        user: Option<&str>,
        country: Option<&str>,
        now: u64,
    ) {
        let location = headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
        let outcome = guard.outcome(status, location, body);
        let signals = guard.after(ctx.peer.ip(), user, outcome, country, now);
        if outcome == Outcome::Failure {
            tracing::debug!(ip = %ctx.peer.ip(), user, "login failed");
        }
        self.signals(ctx, signals);
    }

    /// Alerts for login-protection signals.
    fn signals(&self, ctx: &Ctx<'_>, signals: Vec<login::Signal>) {
        if signals.is_empty() {
            return;
        }
        let alerts: Vec<_> = signals
            .into_iter()
            .map(|s| {
                tracing::warn!(signal = s.id, site = %ctx.site.name, summary = %s.summary, "login protection");
                let mut a = mamori_core::alert::Alert::new(
                    mamori_core::alert::Engine::Waf,
                    s.id,
                    "Login protection",
                    mamori_core::alert::Severity::High,
                    s.summary,
                );
                a.tenant = self.config.tenant.clone();
                a.sensor = self.config.sensor.clone();
                a.category = Some("credential-access".into());
                a.src.ip = s.ip;
                a.src.user = s.user;
                a.dst.host = Some(ctx.host.to_string());
                a.dst.url = Some(ctx.target.to_string());
                a.evidence = serde_json::json!({"site": ctx.site.name, "count": s.count});
                a
            })
            .collect();
        self.publish(alerts);
    }

    fn publish(&self, alerts: Vec<mamori_core::alert::Alert>) {
        if let Some(bus) = &self.alerts {
            let bus = bus.clone();
            tokio::spawn(async move {
                if let Err(e) = bus.publish(alerts).await {
                    tracing::warn!(error = %e, "WAF alert not published");
                }
            });
        }
    }

    fn stop(
        &self,
        ctx: Ctx<'_>,
        inspection: Inspection<'_>,
        stop: inspect::Stop,
    ) -> Response<ProxyBody> {
        let findings = inspection.finish();
        let mode = self.mode_of(ctx.site);
        let id = self
            .record(&ctx, findings, stop.status, mode)
            .unwrap_or_else(|| ulid::Ulid::new().to_string());
        if let Some(loc) = stop.redirect.filter(|l| !l.is_empty()) {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        page(pages::blocked(stop.status, &id))
    }

    fn refuse_login(
        &self,
        ctx: Ctx<'_>,
        inspection: Inspection<'_>,
        resp: Response<Bytes>,
    ) -> Response<ProxyBody> {
        let status = resp.status().as_u16();
        let mut findings = inspection.finish();
        findings.hits.retain(|_| true);
        self.record(&ctx, findings, status, self.mode_of(ctx.site));
        page(resp)
    }

    /// Writes the audit log's gathered lines to its file (the serving threads have stopped).
    pub fn flush_audit(&self) {
        if let Some(log) = &self.audit {
            // A failure is logged by the log itself.
            let _ = log.flush();
        }
    }

    /// Writes the audit record and the alert when a rule matched or login protection acted;
    /// returns the record's id (the reference on the block page), `None` when nothing was
    /// recorded (most requests: no id is made for them).
    fn record(&self, ctx: &Ctx<'_>, findings: Findings, status: u16, mode: Mode) -> Option<String> {
        if findings.hits.is_empty() && ctx.login_signal.is_none() {
            return None;
        }
        let id = ulid::Ulid::new().to_string();
        let action = if ctx.login_signal.is_some() {
            Action::LoginRefused
        } else if status == 403
            || (status >= 400
                && findings.inbound_score > 0
                && mode == Mode::On
                && status != 502
                && status != 504
                && findings.hits.iter().any(|h| {
                    (949_000..950_000).contains(&h.id) || (959_000..960_000).contains(&h.id)
                }))
        {
            Action::Blocked
        } else {
            Action::Detected
        };
        let record = AuditRecord {
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            id: id.clone(),
            site: ctx.site.name.clone(),
            client_ip: ctx.peer.ip(),
            client_port: ctx.peer.port(),
            method: ctx.method.to_string(),
            uri: ctx.target.to_string(),
            host: ctx.host.to_string(),
            protocol: ctx.protocol.to_string(),
            status,
            action,
            mode: format!("{mode:?}"),
            inbound_anomaly_score: findings.inbound_score,
            outbound_anomaly_score: findings.outbound_score,
            rules: findings.hits,
            login_signal: ctx.login_signal.clone(),
        };
        if let Some(log) = &self.audit {
            if let Err(e) = log.write(&record) {
                tracing::warn!(error = %e, "audit log write failed");
            }
        }
        {
            let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
            taps.retain(|t| t.send(record.clone()).is_ok());
        }
        // Alerts for attacks, not for every low-score detection on a busy site.
        if record.action != Action::Detected || record.inbound_anomaly_score >= 5 {
            self.publish(vec![
                record.to_alert(&self.config.tenant, &self.config.sensor)
            ]);
        }
        Some(id)
    }

    /// The challenge form's POST: sets the pass cookie and sends the browser back.
    async fn pass_challenge(
        &self,
        peer: SocketAddr,
        body: Incoming,
        https: bool,
    ) -> Response<ProxyBody> {
        let mut b = Some(body);
        let next = match read_prefix(&mut b, 4096, 4096).await {
            Ok((p, _)) => p
                .split(|&c| c == b'&')
                .find_map(|kv| kv.strip_prefix(b"next="))
                .map(percent_decode)
                .filter(|n| n.starts_with('/') && !n.starts_with("//"))
                .unwrap_or_else(|| "/".into()),
            Err(_) => "/".into(),
        };
        let expiry = now_secs() + 3600;
        let cookie = login::challenge_cookie(&self.secret, peer.ip(), expiry);
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::SEE_OTHER;
        let secure = if https { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}={cookie}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax{secure}",
            login::CHALLENGE_COOKIE
        )) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&next) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}

/// A client connection: its addresses, whether it came over TLS, and the client's address
/// as text (written into the forwarded headers of each of its requests).
pub struct Conn {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub https: bool,
    pub ip: String,
}

/// Request facts the audit record needs.
struct Ctx<'s> {
    site: &'s Site,
    peer: SocketAddr,
    host: &'s str,
    method: &'s str,
    target: &'s str,
    protocol: &'s str,
    login_signal: Option<String>,
}

/// `waf-modes.json` beside the exclusions file: `{"site name": "DetectionOnly"}`.
pub fn modes_file(config: &ProxyConfig) -> String {
    if config.exclusions.is_empty() {
        return String::new();
    }
    Path::new(&config.exclusions)
        .with_file_name("waf-modes.json")
        .display()
        .to_string()
}

/// `waf-bans.json` beside the exclusions file: the addresses and networks response actions
/// ban, `[{"net": "203.0.113.0/24", "until": 1795000000}]` (`until` in Unix seconds, or
/// null), written by `mamori up`'s applier.
pub fn bans_file(config: &ProxyConfig) -> String {
    if config.exclusions.is_empty() {
        return String::new();
    }
    Path::new(&config.exclusions)
        .with_file_name("waf-bans.json")
        .display()
        .to_string()
}

/// One banned network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    addr: std::net::IpAddr,
    prefix: u8,
    until: Option<u64>,
}

impl Ban {
    /// `203.0.113.9`, `198.51.100.0/24`, `2001:db8::/32`; `None` when malformed.
    pub fn parse(net: &str, until: Option<u64>) -> Option<Ban> {
        let (addr, prefix) = match net.split_once('/') {
            Some((a, p)) => (a.parse::<std::net::IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a: std::net::IpAddr = net.parse().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Ban {
            addr,
            prefix,
            until,
        })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        match (self.addr, ip) {
            (V4(n), V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (V6(n), V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// The bans file's entries (a missing or unreadable file bans nothing; bad entries are
/// skipped with a warning).
fn read_bans(path: &str) -> Vec<Ban> {
    #[derive(serde::Deserialize)]
    struct Entry {
        net: String,
        until: Option<u64>,
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let entries: Vec<Entry> = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(%path, error = %e, "WAF bans file unreadable; no bans");
            return Vec::new();
        }
    };
    entries
        .into_iter()
        .take(100_000)
        .filter_map(|e| {
            let ban = Ban::parse(&e.net, e.until);
            if ban.is_none() {
                tracing::warn!(%path, net = %e.net, "WAF ban skipped: not an address or network");
            }
            ban
        })
        .collect()
}

/// The rules with the console's exclusions (loaded before the rules, as CRS's
/// REQUEST-900 exclusions are, so `ctl:` removals apply to every later phase).
fn load_rules(config: &ProxyConfig) -> Result<Option<Rules>, ProxyError> {
    let Some(path) = config.rules_path() else {
        tracing::warn!("no WAF rules configured and Debian's modsecurity-crs is not installed: proxying without rules");
        return Ok(None);
    };
    let exclusions = if config.exclusions.is_empty() {
        String::new()
    } else {
        match std::fs::read_to_string(&config.exclusions) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ProxyError::Io {
                    what: "reading rule exclusions",
                    path: config.exclusions.clone(),
                    source: e,
                })
            }
        }
    };
    let rules = Rules::load(&path, &exclusions).map_err(|reason| ProxyError::Rules {
        path: path.display().to_string(),
        reason,
    })?;
    tracing::info!(path = %path.display(), rules = rules.rule_count(), "WAF rules loaded");
    Ok(Some(rules))
}

fn build_site(i: usize, s: &SiteConfig) -> Result<Site, ProxyError> {
    let pool =
        Pool::new(&s.upstreams).map_err(|e| ProxyError::Config(format!("waf.site[{i}]: {e}")))?;
    let geoip = if s.geoip.is_empty() {
        None
    } else {
        Some(
            GeoIp::load(Path::new(&s.geoip))
                .map_err(|e| ProxyError::Config(format!("waf.site[{i}].geoip: {e}")))?,
        )
    };
    Ok(Site {
        name: s
            .hosts
            .first()
            .cloned()
            .unwrap_or_else(|| format!("site{i}")),
        hosts: s.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        pool: Arc::new(pool),
        mode: s.mode,
        logins: s.login.iter().cloned().map(LoginGuard::new).collect(),
        reset_paths: s.reset_paths.clone(),
        geoip,
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn is_bodiless(m: &hyper::Method) -> bool {
    matches!(
        *m,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS | hyper::Method::DELETE
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn cookie_header(headers: &HeaderMap) -> String {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ")
}

fn percent_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' && i + 2 < v.len() {
            let hex = std::str::from_utf8(&v[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if v[i] == b'+' { b' ' } else { v[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// The protocol as the rules see it (`REQUEST_PROTOCOL`): `HTTP/1.1`, `HTTP/2.0`, ….
fn protocol_name(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Whether a header is hop-by-hop by its name (RFC 9110 7.6.1, and `Transfer-Encoding`,
/// which the proxy's own framing replaces).
fn hop_by_hop(n: &HeaderName) -> bool {
    matches!(
        n.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "upgrade"
            | "transfer-encoding"
    )
}

/// The headers a `Connection` header names: hop-by-hop for this message too.
fn connection_named(h: &HeaderMap) -> Vec<HeaderName> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none (or only `Connection: keep-alive`): one pass over the names
    // tells, without looking up each hop-by-hop name.
    if !h.keys().any(hop_by_hop) {
        return;
    }
    let named = connection_named(h);
    for n in named.iter().chain(HOP_BY_HOP.iter()) {
        h.remove(n);
    }
    h.remove(header::TRANSFER_ENCODING);
}

/// Copies the headers to forward: all but the hop-by-hop ones.
fn copy_request_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let named = if from.contains_key(header::CONNECTION) {
        connection_named(from)
    } else {
        Vec::new()
    };
    to.reserve(from.len() + 4);
    for (k, v) in from {
        if !hop_by_hop(k) && !named.contains(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// `prev, next` when the request already had the header (`prev`), else `next` (the
/// concatenation of `parts`), as a header value made from the string without copying it.
fn appended(prev: Option<&HeaderValue>, parts: &[&str]) -> Option<HeaderValue> {
    let prev = prev.and_then(|p| p.to_str().ok());
    let len = prev.map_or(0, |p| p.len() + 2) + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut v = String::with_capacity(len);
    if let Some(prev) = prev {
        v.push_str(prev);
        v.push_str(", ");
    }
    for p in parts {
        v.push_str(p);
    }
    HeaderValue::try_from(v).ok()
}

/// Adds `X-Forwarded-For/-Proto/-Host` and `Forwarded` for a client at `ip` (its text).
fn add_forwarded(h: &mut HeaderMap, ip: &str, ipv6: bool, host: &str, https: bool) {
    let proto = if https { "https" } else { "http" };
    if let Some(v) = appended(h.get(&X_FORWARDED_FOR), &[ip]) {
        h.insert(X_FORWARDED_FOR, v);
    }
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert(X_FORWARDED_HOST, v);
    }
    let quoted_host = !host.is_empty() && host.is_ascii() && !host.contains(['"', ';', ',']);
    let (open, close) = if ipv6 { ("\"[", "]\"") } else { ("", "") };
    let fwd = if quoted_host {
        appended(
            h.get(header::FORWARDED),
            &[
                "for=", open, ip, close, ";proto=", proto, ";host=\"", host, "\"",
            ],
        )
    } else {
        appended(
            h.get(header::FORWARDED),
            &["for=", open, ip, close, ";proto=", proto],
        )
    };
    if let Some(v) = fwd {
        h.insert(header::FORWARDED, v);
    }
}

enum PrefixError {
    TooLarge,
    Client(BoxError),
}

/// Reads body frames until `limit` bytes are buffered or the body ends. `max` bounds the
/// whole body. Returns the buffered bytes and whether the body ended.
async fn read_prefix<B>(
    body: &mut Option<B>,
    limit: usize,
    max: u64,
) -> Result<(Bytes, bool), PrefixError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let Some(b) = body.as_mut() else {
        return Ok((Bytes::new(), true));
    };
    // A body that comes in one frame (most forms) is kept as it came, not copied: the
    // frames are gathered in `buf` from the second one on.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let read = |first: &mut Option<Bytes>, buf: &mut BytesMut| {
        first.take().unwrap_or_else(|| std::mem::take(buf).freeze())
    };
    loop {
        let have = first.as_ref().map_or(0, Bytes::len) + buf.len();
        if have >= limit.max(1) {
            return Ok((read(&mut first, &mut buf), false));
        }
        // A body whose declared length has all come in needs no further read to see its end.
        if b.is_end_stream() {
            return Ok((read(&mut first, &mut buf), true));
        }
        match b.frame().await {
            None => return Ok((read(&mut first, &mut buf), true)),
            Some(Err(e)) => return Err(PrefixError::Client(e.into())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if have as u64 + data.len() as u64 > max {
                        return Err(PrefixError::TooLarge);
                    }
                    match first.take() {
                        None if buf.is_empty() => first = Some(data),
                        earlier => {
                            if let Some(f) = earlier {
                                buf.extend_from_slice(&f);
                            }
                            buf.extend_from_slice(&data);
                        }
                    }
                }
            }
        }
    }
}

/// The inspected prefix followed by the rest of the body, counted against `max`.
fn chain_body<B>(prefix: Bytes, rest: Option<B>, max: u64) -> ProxyBody
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    match rest {
        None => full(prefix),
        Some(rest) => Chained {
            seen: prefix.len() as u64,
            first: Some(prefix),
            rest,
            max,
        }
        .boxed(),
    }
}

/// A body that yields `first`, then the frames of `rest`, failing past `max` bytes (the
/// upstream then sees the request break off rather than an over-long body).
struct Chained<B> {
    first: Option<Bytes>,
    rest: B,
    seen: u64,
    max: u64,
}

impl<B> hyper::body::Body for Chained<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            if !first.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(first))));
            }
        }
        match std::pin::Pin::new(&mut this.rest).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => {
                this.seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if this.seen > this.max {
                    return Poll::Ready(Some(Err("body over the size limit".into())));
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_append_to_what_came_and_quote_ipv6() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        h.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=198.51.100.7"),
        );
        add_forwarded(&mut h, "2001:db8::1", true, "shop.example", true);
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 2001:db8::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(
            h[header::FORWARDED],
            "for=198.51.100.7, for=\"[2001:db8::1]\";proto=https;host=\"shop.example\""
        );

        let mut h = HeaderMap::new();
        add_forwarded(&mut h, "192.0.2.1", false, "bad\"host", false);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(h[header::FORWARDED], "for=192.0.2.1;proto=http");
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_not_forwarded() {
        let map = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            h
        };
        let names = |h: &HeaderMap| {
            let mut n: Vec<_> = h.keys().map(|k| k.as_str().to_string()).collect();
            n.sort();
            n
        };
        let from = map(&[
            ("Host", "shop.example"),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Transfer-Encoding", "chunked"),
            ("Accept", "text/html"),
            ("Accept", "*/*"),
        ]);
        let mut to = HeaderMap::new();
        copy_request_headers(&from, &mut to);
        assert_eq!(names(&to), ["accept", "host"]);
        assert_eq!(to.get_all(header::ACCEPT).iter().count(), 2);
        // A response: the same names go; one without any is left as it is.
        let mut resp = from.clone();
        strip_hop_by_hop(&mut resp);
        assert_eq!(names(&resp), ["accept", "host"]);
        let mut plain = map(&[("Content-Type", "text/html"), ("Content-Length", "5")]);
        strip_hop_by_hop(&mut plain);
        assert_eq!(names(&plain), ["content-length", "content-type"]);
    }

    #[test]
    fn the_protocol_reads_as_hypers_version_does() {
        use hyper::Version;
        for v in [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ] {
            assert_eq!(super::protocol_name(v), format!("{v:?}"));
        }
    }
}
