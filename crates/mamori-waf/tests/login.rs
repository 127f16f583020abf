//! Login protection against a scripted credential-stuffing attack, end to end: 30,000 login
//! attempts through the proxy to a real login endpoint, stuffed failures from thousands of
//! addresses (127.1.x.y; all of 127/8 is loopback) mixed with real users' logins from their
//! own addresses (127.2.0.x). The attack must be stopped before it reaches the site while every
//! real user still logs in.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mamori_waf::login::{LoginConfig, Response as Act};
use mamori_waf::proxy::config::{ProxyConfig, SiteConfig};
use mamori_waf::proxy::Proxy;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

const ATTEMPTS: usize = 30_000;
const REAL_USERS: usize = 100;
const LOGINS_PER_USER: usize = 3;

#[derive(Default)]
struct Seen {
    failures: AtomicUsize,
    successes: AtomicUsize,
}

/// The site's login: `username=uN&password=pw-uN` succeeds (302 to /home), anything else 401.
async fn site(seen: Arc<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let form = String::from_utf8_lossy(&body).into_owned();
                        let field = |name: &str| {
                            form.split('&')
                                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                                .unwrap_or("")
                                .to_string()
                        };
                        let user = field("username");
                        let ok = !user.is_empty()
                            && field("password") == format!("pw-{user}")
                            && user.starts_with('u');
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        if ok {
                            seen.successes.fetch_add(1, Ordering::Relaxed);
                            *resp.status_mut() = StatusCode::FOUND;
                            resp.headers_mut()
                                .insert("location", "/home".parse().unwrap());
                        } else {
                            seen.failures.fetch_add(1, Ordering::Relaxed);
                            *resp.status_mut() = StatusCode::UNAUTHORIZED;
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

/// One HTTP/1.1 request from source address `from`; returns (status, raw response).
async fn request(proxy: SocketAddr, from: Ipv4Addr, req: String) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut tcp = socket.connect(proxy).await.unwrap();
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut out))
        .await
        .expect("the proxy answered")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn login_request(user: &str, password: &str, cookie: Option<&str>) -> String {
    let body = format!("username={user}&password={password}");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n{cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A real user's browser: logs in; shown the challenge, presses the button and retries.
async fn real_login(proxy: SocketAddr, from: Ipv4Addr, user: &str) -> bool {
    let password = format!("pw-{user}");
    let mut cookie: Option<String> = None;
    for _ in 0..3 {
        let (status, text) = request(
            proxy,
            from,
            login_request(user, &password, cookie.as_deref()),
        )
        .await;
        match status {
            302 => return text.contains("location: /home"),
            429 if text.contains("/.mamori/challenge") => {
                let form = "next=%2Flogin";
                let (s, t) = request(
                    proxy,
                    from,
                    format!("POST /.mamori/challenge HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}", form.len()),
                )
                .await;
                assert_eq!(s, 303, "{t}");
                cookie = t
                    .lines()
                    .find_map(|l| l.strip_prefix("set-cookie: "))
                    .and_then(|c| c.split(';').next())
                    .map(str::to_string);
            }
            _ => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_stuffing_attack_is_stopped_while_real_users_log_in() {
    let seen = Arc::new(Seen::default());
    let upstream = site(seen.clone()).await;
    let rules = std::env::temp_dir().join(format!("mamori-login-{}.conf", std::process::id()));
    std::fs::write(&rules, "# no rules\n").unwrap();
    let config = ProxyConfig {
        rules: rules.display().to_string(),
        sites: vec![SiteConfig {
            hosts: vec!["shop.example".into()],
            upstreams: vec![format!("http://{upstream}")],
            login: vec![LoginConfig {
                path: "/login".into(),
                failure_status: vec![401],
                response: Act::Block,
                ..LoginConfig::default()
            }],
            ..SiteConfig::default()
        }],
        ..ProxyConfig::default()
    };
    let (bus, mut alerts) = mamori_core::bus::channel(10_000);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let proxy = Proxy::new(config, Some(bus)).unwrap();
    tokio::spawn(proxy.clone().serve(listener, std::future::pending()));

    let attack_attempts = ATTEMPTS - REAL_USERS * LOGINS_PER_USER;
    let limit = Arc::new(tokio::sync::Semaphore::new(48));
    let mut tasks = Vec::new();
    let mut refused = 0usize;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, bool)>();
    for i in 0..ATTEMPTS {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let tx = tx.clone();
        // Every hundredth attempt is a real user's, spread over the whole attack.
        let real = i % (ATTEMPTS / (REAL_USERS * LOGINS_PER_USER)) == 0
            && i / (ATTEMPTS / (REAL_USERS * LOGINS_PER_USER)) < REAL_USERS * LOGINS_PER_USER;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            if real {
                let n = (i / (ATTEMPTS / (REAL_USERS * LOGINS_PER_USER))) % REAL_USERS;
                let ok = real_login(
                    proxy_addr,
                    Ipv4Addr::new(127, 2, 0, n as u8 + 1),
                    &format!("u{n}"),
                )
                .await;
                let _ = tx.send((true, ok));
            } else {
                // 6,000 attacker addresses, five stuffed pairs each, different usernames.
                let a = i % 6_000;
                let from = Ipv4Addr::new(127, 1, (a / 250) as u8, (a % 250) as u8 + 1);
                let (status, _) = request(
                    proxy_addr,
                    from,
                    login_request(&format!("victim{i}@example.jp"), "Passw0rd!", None),
                )
                .await;
                let _ = tx.send((false, status != 401));
            }
        }));
    }
    drop(tx);
    for t in tasks {
        t.await.unwrap();
    }
    let (mut real_ok, mut real_total) = (0, 0);
    while let Some((real, ok)) = rx.recv().await {
        if real {
            real_total += 1;
            real_ok += ok as usize;
        } else {
            refused += ok as usize;
        }
    }
    let reached = seen.failures.load(Ordering::Relaxed);
    println!(
        "attack: {attack_attempts} attempts, {reached} reached the site, {refused} refused by the proxy; real users: {real_ok}/{real_total} logged in"
    );
    assert_eq!(real_total, REAL_USERS * LOGINS_PER_USER);
    assert_eq!(real_ok, real_total, "every real user logs in");
    assert!(
        reached * 20 < attack_attempts,
        "at most 5% of the stuffed logins reach the site ({reached} of {attack_attempts})"
    );
    let mut ids = std::collections::BTreeSet::new();
    while let Some(env) = alerts.try_recv() {
        for a in env.alerts {
            ids.insert(a.rule_id.clone());
        }
    }
    assert!(ids.contains("waf.login.failure_surge"), "{ids:?}");
}
