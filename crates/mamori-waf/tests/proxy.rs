//! The reverse proxy end to end on loopback: a real upstream (a small hyper server), real
//! clients (reqwest over HTTP/1.1, HTTP/2 and TLS; raw TCP for what clients won't send).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mamori_waf::proxy::config::{ProxyConfig, SiteConfig};
use mamori_waf::proxy::Proxy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STEP: Duration = Duration::from_secs(20);

/// An upstream that answers `/echo` with what it received (method, headers, body length and a
/// checksum), `/slow` after 3 s, and everything else with its own name.
async fn upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let text = match parts.uri.path() {
                        "/echo" => {
                            let mut s = format!("{} {}\n", parts.method, parts.uri);
                            for (k, v) in &parts.headers {
                                s.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
                            }
                            let sum: u64 = body.iter().map(|&b| b as u64).sum();
                            s.push_str(&format!("body-length: {}\nbody-sum: {sum}\n", body.len()));
                            s
                        }
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            "slow".into()
                        }
                        _ => name.to_string(),
                    };
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(text))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

async fn start(config: ProxyConfig) -> (SocketAddr, Arc<Proxy>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = Proxy::new(config, None).unwrap();
    tokio::spawn(proxy.clone().serve(listener, std::future::pending()));
    (addr, proxy)
}

fn site(up: SocketAddr) -> SiteConfig {
    SiteConfig {
        upstreams: vec![format!("http://{up}")],
        ..SiteConfig::default()
    }
}

fn no_rules() -> ProxyConfig {
    // An empty rules file: these tests are about proxying, not rules.
    let dir = temp_dir("rules");
    let path = dir.join("empty.conf");
    std::fs::write(&path, "# no rules\n").unwrap();
    ProxyConfig {
        rules: path.display().to_string(),
        ..ProxyConfig::default()
    }
}

fn temp_dir(what: &str) -> PathBuf {
    mamori_core::scratch::dir(&format!("waf-{what}"))
}

async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn requests_reach_the_upstream_with_forwarded_headers() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let resp = raw(
        addr,
        b"GET /echo?x=1 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 198.51.100.7\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("GET /echo?x=1"), "{resp}");
    assert!(resp.contains("host: shop.example"), "{resp}");
    assert!(
        resp.contains("x-forwarded-for: 198.51.100.7, 127.0.0.1"),
        "{resp}"
    );
    assert!(
        resp.contains("forwarded: for=127.0.0.1;proto=http;host=\"shop.example\""),
        "{resp}"
    );
    assert!(resp.contains("x-forwarded-proto: http"), "{resp}");
}

#[tokio::test]
async fn http2_clients_are_served() {
    let up = upstream("h2-site").await;
    let mut config = no_rules();
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.text().await.unwrap(), "h2-site");
}

fn certificate(dir: &std::path::Path, host: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{host}.crt")),
        dir.join(format!("{host}.key")),
    );
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={host}"),
            "-addext",
            &format!("subjectAltName=DNS:{host}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-days",
            "2",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn tls_picks_each_sites_certificate_by_sni_and_speaks_http2() {
    let (up_a, up_b) = (upstream("site-a").await, upstream("site-b").await);
    let dir = temp_dir("tls");
    let (cert_a, key_a) = certificate(&dir, "a.test");
    let (cert_b, key_b) = certificate(&dir, "b.test");
    let mut config = no_rules();
    let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_addr = tls.local_addr().unwrap();
    config.tls_listen = tls_addr.to_string();
    config.sites = vec![
        SiteConfig {
            hosts: vec!["a.test".into()],
            tls_cert: cert_a.display().to_string(),
            tls_key: key_a.display().to_string(),
            ..site(up_a)
        },
        SiteConfig {
            hosts: vec!["b.test".into()],
            tls_cert: cert_b.display().to_string(),
            tls_key: key_b.display().to_string(),
            ..site(up_b)
        },
    ];
    let proxy = Proxy::new(config, None).unwrap();
    tokio::spawn(proxy.clone().serve_tls(tls, std::future::pending()));
    for (host, cert, want) in [("a.test", &cert_a, "site-a"), ("b.test", &cert_b, "site-b")] {
        // Each client trusts only its site's certificate: the handshake proves SNI chose it.
        let pem = std::fs::read(cert).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve(host, tls_addr)
            .build()
            .unwrap();
        let resp = client
            .get(format!("https://{host}:{}/", tls_addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_2);
        assert_eq!(resp.text().await.unwrap(), want);
    }
}

#[tokio::test]
async fn large_and_chunked_bodies_stream_through_beyond_the_inspection_limit() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.inspect_body_limit = 64 * 1024;
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| b as u64).sum();
    let client = reqwest::Client::new();
    let text = client
        .post(format!("http://{addr}/echo"))
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("body-length: 3000000"), "{text}");
    assert!(text.contains(&format!("body-sum: {sum}")), "{text}");

    // Chunked, in pieces, over raw TCP.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in body.chunks(100_000).take(5) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw(addr, &req).await;
    assert!(
        resp.contains("body-length: 500000"),
        "{}",
        &resp[..resp.len().min(400)]
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.max_body = 10_000;
    config.inspect_body_limit = 4_000;
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let declared = raw(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    let mut chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", 12_000).as_bytes());
    chunked.extend_from_slice(&vec![b'a'; 12_000]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let resp = raw(addr, &chunked).await;
    assert!(
        resp.starts_with("HTTP/1.1 413"),
        "{}",
        &resp[..resp.len().min(200)]
    );
}

#[tokio::test]
async fn a_dead_upstream_gives_a_502_page_at_once() {
    // A port nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = no_rules();
    config.sites = vec![site(dead)];
    let (addr, _) = start(config).await;
    let started = std::time::Instant::now();
    let resp = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert!(resp.contains("ただいまサイトに接続できません"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

/// An upstream that answers one request per connection and closes it: with `Connection:
/// close` when `says_so`, else silently (as one whose keep-alive timed out). Counts its
/// connections.
async fn one_shot_upstream(says_so: bool) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let close = if says_so { "Connection: close\r\n" } else { "" };
                let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{close}\r\nok");
                let _ = tcp.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn upstream_connections_the_upstream_closes_are_not_reused() {
    for says_so in [true, false] {
        let (up, accepted) = one_shot_upstream(says_so).await;
        let mut config = no_rules();
        config.sites = vec![site(up)];
        let (addr, _) = start(config).await;
        // One client connection, so every request goes through the same serving thread.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        for i in 0..10 {
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"ok") {
                let n = tokio::time::timeout(STEP, tcp.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "request {i}: connection closed");
                got.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200"), "request {i}: {text}");
            // The silent close reaches the proxy before the next request.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 10);
    }
}

#[tokio::test]
async fn a_request_without_host_asks_the_upstream_for_itself() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let resp = raw(addr, b"GET /echo HTTP/1.0\r\n\r\n").await;
    assert!(resp.contains("200"), "{resp}");
    assert!(resp.contains(&format!("host: {up}")), "{resp}");
}

#[tokio::test]
async fn a_slow_upstream_gives_504() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.upstream_timeout_secs = 1;
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let resp = raw(
        addr,
        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 504"), "{resp}");
}

#[tokio::test]
async fn a_client_sending_its_head_too_slowly_is_cut_off() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.header_timeout_secs = 1;
    config.sites = vec![site(up)];
    let (addr, _) = start(config).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let _ = tokio::time::timeout(STEP, tcp.read_to_end(&mut out)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the connection was held open"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[tokio::test]
async fn hostile_headers_are_refused_with_431_and_unknown_hosts_with_421() {
    let up = upstream("a").await;
    let mut config = no_rules();
    config.max_headers = 20;
    config.sites = vec![SiteConfig {
        hosts: vec!["shop.example".into()],
        ..site(up)
    }];
    let (addr, _) = start(config).await;
    let mut req = b"GET / HTTP/1.1\r\nHost: shop.example\r\n".to_vec();
    for i in 0..50 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    let resp = raw(addr, &req).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    let mut huge = b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Big: ".to_vec();
    huge.extend_from_slice(&vec![b'a'; 100_000]);
    huge.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let resp = raw(addr, &huge).await;
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(100)]
    );
    let resp = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 421"), "{resp}");
    let resp = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test]
async fn the_consoles_exclusions_and_mode_switch_reach_the_running_proxy() {
    let up = upstream("a").await;
    let dir = temp_dir("excl");
    let rules = dir.join("rules.conf");
    std::fs::write(
        &rules,
        "SecRuleEngine On\nSecRule ARGS \"@contains attack\" \"id:10,phase:2,deny,status:403,log,msg:'test attack'\"\n",
    )
    .unwrap();
    let exclusions = dir.join("waf-exclusions.conf");
    let mut config = ProxyConfig {
        rules: rules.display().to_string(),
        exclusions: exclusions.display().to_string(),
        ..ProxyConfig::default()
    };
    config.sites = vec![SiteConfig {
        hosts: vec!["shop.example".into()],
        ..site(up)
    }];
    let (addr, proxy) = start(config).await;
    let get = |path: &'static str| async move {
        raw(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
    };
    assert!(get("/search?q=attack").await.starts_with("HTTP/1.1 403"));

    // The console's false-positive button: rule 10 excluded under /search.
    std::fs::write(
        &exclusions,
        "SecRule REQUEST_FILENAME \"@beginsWith /search\" \"id:1900000,phase:1,pass,nolog,ctl:ruleRemoveById=10\"\n",
    )
    .unwrap();
    proxy.reload_if_changed();
    assert!(get("/search?q=attack").await.starts_with("HTTP/1.1 200"));
    assert!(get("/other?q=attack").await.starts_with("HTTP/1.1 403"));

    // The console's DetectionOnly switch for the site.
    std::fs::write(
        dir.join("waf-modes.json"),
        r#"{"shop.example":"DetectionOnly"}"#,
    )
    .unwrap();
    proxy.reload_if_changed();
    assert!(get("/other?q=attack").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn addresses_banned_by_a_response_action_get_403_until_the_ban_ends() {
    let up = upstream("a").await;
    let dir = temp_dir("bans");
    let mut config = no_rules();
    config.exclusions = dir.join("waf-exclusions.conf").display().to_string();
    config.sites = vec![site(up)];
    let (addr, proxy) = start(config).await;
    let get = || async move {
        raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
    };
    assert!(get().await.starts_with("HTTP/1.1 200"));
    let bans = dir.join("waf-bans.json");
    // A network holding 127.0.0.1, a malformed entry that is skipped, an expired ban.
    std::fs::write(
        &bans,
        r#"[{"net":"127.0.0.0/8","until":null},{"net":"nonsense","until":null}]"#,
    )
    .unwrap();
    proxy.reload_if_changed();
    let answer = get().await;
    assert!(
        answer.starts_with("HTTP/1.1 403") && answer.contains("遮断"),
        "{answer}"
    );
    std::fs::write(&bans, r#"[{"net":"127.0.0.1","until":1000}]"#).unwrap();
    proxy.reload_if_changed();
    assert!(
        get().await.starts_with("HTTP/1.1 200"),
        "an expired ban bans nothing"
    );
    std::fs::write(
        &bans,
        r#"[{"net":"10.0.0.0/8","until":null},{"net":"::1","until":null}]"#,
    )
    .unwrap();
    proxy.reload_if_changed();
    assert!(get().await.starts_with("HTTP/1.1 200"));
}
