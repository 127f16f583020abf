//! A loopback test site with planted problems, and its clean twin with the same content
//! done right; plus the fake services (Redis, SSH), a DNS responder and certificates the
//! scan tests and the benchmark need. Everything listens on 127.0.0.1 only.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Which twin a server plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Planted,
    Clean,
}

/// What the site saw: request count and the User-Agents used.
#[derive(Debug, Default)]
pub struct Log {
    pub requests: AtomicUsize,
    pub agents: Mutex<Vec<String>>,
}

/// A running site: its plain-HTTP and HTTPS addresses.
#[derive(Debug, Clone)]
pub struct Site {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub log: Arc<Log>,
}

/// Certificates made with the machine's openssl (3.0 works: the expired one is made with
/// `openssl ca -selfsign -startdate/-enddate`, which older and newer versions share).
#[derive(Debug, Clone)]
pub struct Certs {
    pub dir: PathBuf,
    /// Test CA (trusted by the clean twin's scan config).
    pub ca: PathBuf,
    /// Leaf for 127.0.0.1 signed by the CA, valid a year.
    pub good: (PathBuf, PathBuf),
    /// Self-signed for 127.0.0.1, valid 10 days.
    pub self_signed: (PathBuf, PathBuf),
    /// Self-signed for 127.0.0.1, expired in 2021.
    pub expired: (PathBuf, PathBuf),
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed to make test certificates (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn make_certs(dir: &Path) -> Certs {
    std::fs::create_dir_all(dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // CA
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Mamori Test CA",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &a);
    // Leaf signed by the CA
    let mut a = vec!["req", "-new"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "good.key",
        "-out",
        "good.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &a);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "good.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            "good.pem",
            "-extfile",
            "leaf.ext",
        ],
    );
    // Self-signed, expiring soon
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "self.key",
        "-out",
        "self.pem",
        "-subj",
        "/CN=127.0.0.1",
        "-days",
        "10",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]);
    openssl(dir, &a);
    // Self-signed and expired: `openssl ca` accepts explicit start and end dates.
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    let mut a = vec!["req", "-new"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "expired.key",
        "-out",
        "expired.csr",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]);
    openssl(dir, &a);
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            "expired.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-notext",
        ],
    );
    Certs {
        dir: dir.to_path_buf(),
        ca: dir.join("ca.pem"),
        good: (dir.join("good.pem"), dir.join("good.key")),
        self_signed: (dir.join("self.pem"), dir.join("self.key")),
        expired: (dir.join("expired.pem"), dir.join("expired.key")),
    }
}

pub fn tls_acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A response of the test site.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn resp(status: u16, ctype: &str, body: impl Into<Vec<u8>>) -> Resp {
    Resp {
        status,
        headers: vec![("Content-Type".into(), ctype.into())],
        body: body.into(),
    }
}

fn html(body: &str) -> Resp {
    resp(200, "text/html; charset=utf-8", body.to_string())
}

const CATCH_ALL: &str = "<!doctype html><html><head><title>ようこそ 山田商事</title></head><body><h1>山田商事</h1><p>お探しのページは移動した可能性があります。トップページからお探しください。</p><p>営業時間 9:00-18:00</p></body></html>";

fn home(flavor: Flavor) -> String {
    let generator = match flavor {
        Flavor::Planted => r#"<meta name="generator" content="WordPress 5.8.1" />"#,
        Flavor::Clean => "",
    };
    format!(
        r#"<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>山田商事</title>{generator}
<link rel="stylesheet" href="/wp-content/plugins/contact-form-7/includes/css/styles.css"></head>
<body><h1>山田商事 株式会社</h1>
<a href="/about.html">会社概要</a> <a href="/members.html">会員名簿</a> <a href="/files/catalog.pdf">カタログ</a>
<p>お問い合わせ: info@yamada-shoji.example TEL 03-1234-5678</p></body></html>"#
    )
}

fn members(flavor: Flavor) -> String {
    let robots = match flavor {
        Flavor::Planted => "",
        Flavor::Clean => r#"<meta name="robots" content="noindex, nofollow">"#,
    };
    let people = [
        (
            "佐藤 一郎",
            "ichiro.sato",
            "03-1111-2201",
            "100-0001",
            "東京都千代田区千代田1-1",
        ),
        (
            "鈴木 花子",
            "hanako.suzuki",
            "06-2222-3302",
            "530-0001",
            "大阪府大阪市北区梅田2-2",
        ),
        (
            "高橋 健",
            "ken.takahashi",
            "052-333-4403",
            "450-0002",
            "愛知県名古屋市中村区名駅3-3",
        ),
        (
            "田中 美咲",
            "misaki.tanaka",
            "090-4444-5504",
            "812-0011",
            "福岡県福岡市博多区博多駅前4-4",
        ),
        (
            "伊藤 翔",
            "sho.ito",
            "011-555-6605",
            "060-0005",
            "北海道札幌市中央区北5条西5-5",
        ),
        (
            "渡辺 真由",
            "mayu.watanabe",
            "080-6666-7706",
            "980-0021",
            "宮城県仙台市青葉区中央6-6",
        ),
    ];
    let rows: String = people
        .iter()
        .map(|(n, m, p, z, a)| {
            format!(
                "<tr><td>{n}</td><td>{m}@mail.example</td><td>{p}</td><td>〒{z} {a}</td></tr>\n"
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{robots}<title>会員名簿</title></head><body><table>{rows}</table></body></html>"
    )
}

const ABOUT: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>会社概要</title></head><body><p>山田商事株式会社 〒100-0005 東京都千代田区丸の内1-1-1 TEL 03-1234-5678 info@yamada-shoji.example</p></body></html>";

const LISTING: &str = "<html><head><title>Index of /files</title></head><body><h1>Index of /files</h1><ul><li><a href=\"catalog.pdf\">catalog.pdf</a></li><li><a href=\"customers.xlsx\">customers.xlsx</a></li></ul></body></html>";

fn route(flavor: Flavor, https: bool, https_port: u16, method: &str, path: &str) -> Resp {
    let path = path.split('?').next().unwrap_or("/");
    // The clean twin's plain-HTTP side only redirects.
    if flavor == Flavor::Clean && !https {
        return Resp {
            status: 301,
            headers: vec![(
                "Location".into(),
                format!("https://127.0.0.1:{https_port}{path}"),
            )],
            body: Vec::new(),
        };
    }
    let planted = flavor == Flavor::Planted;
    match (path, planted) {
        ("/", _) => html(&home(flavor)),
        ("/about.html", _) => html(ABOUT),
        ("/members.html", _) => html(&members(flavor)),
        ("/robots.txt", true) => resp(200, "text/plain", "User-agent: *\nDisallow: /wp-admin/\n"),
        ("/robots.txt", false) => resp(200, "text/plain", "User-agent: *\nDisallow: /wp-admin/\nDisallow: /members\n"),
        ("/wp-content/plugins/contact-form-7/readme.txt", _) => {
            let tag = if planted { "5.3.1" } else { "6.0" };
            resp(200, "text/plain", format!("=== Contact Form 7 ===\nContributors: takayukister\nRequires at least: 5.5\nStable tag: {tag}\nLicense: GPLv2\n"))
        }
        ("/loop", _) => Resp { status: 302, headers: vec![("Location".into(), "/loop2".into())], body: vec![] },
        ("/loop2", _) => Resp { status: 302, headers: vec![("Location".into(), "/loop".into())], body: vec![] },
        ("/wp-admin/" | "/xmlrpc.php" | "/files/", false) => resp(403, "text/html", "<html><body>Forbidden</body></html>"),
        ("/.git/config", true) => resp(200, "text/plain", "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.example:yamada/site.git\n"),
        ("/.git/HEAD", true) => resp(200, "text/plain", "ref: refs/heads/main\n"),
        ("/.env", true) => resp(200, "text/plain", "APP_ENV=production\nAPP_KEY=base64:c2VjcmV0\nDB_HOST=127.0.0.1\nDB_PASSWORD=Yamada2024!\n"),
        ("/wp-config.php.bak", true) => resp(200, "application/octet-stream", "<?php\ndefine( 'DB_NAME', 'wp' );\ndefine( 'DB_USER', 'wp' );\ndefine( 'DB_PASSWORD', 'Yamada2024!' );\n$table_prefix = 'wp_';\n"),
        ("/backup.zip", true) => {
            // 3 MiB: larger than the scanner's 2 MiB body bound.
            let mut body = b"PK\x03\x04\x14\x00\x00\x00".to_vec();
            body.resize(3 * 1024 * 1024, b'z');
            resp(200, "application/zip", body)
        }
        ("/files/", true) => html(LISTING),
        ("/wp-admin/", true) => Resp { status: 302, headers: vec![("Location".into(), "/wp-login.php".into())], body: vec![] },
        ("/wp-login.php", true) => html("<html><body><form name=\"loginform\" action=\"/wp-login.php\" method=\"post\"><input type=\"text\" name=\"log\" id=\"user_login\"><input type=\"submit\" name=\"wp-submit\"></form></body></html>"),
        ("/xmlrpc.php", true) if method == "GET" => resp(405, "text/plain", "XML-RPC server accepts POST requests only."),
        ("/sftp-config.json", true) => resp(200, "application/json", "{\n  \"type\": \"sftp\",\n  \"host\": \"ftp.yamada-shoji.example\",\n  \"user\": \"yamada\",\n  \"password\": \"Yamada2024!\"\n}\n"),
        ("/.htpasswd", true) => resp(200, "text/plain", "admin:$apr1$abcdefgh$0123456789abcdefghijkl\n"),
        ("/error_log", true) => resp(200, "text/plain", "[01-Apr-2024 10:00:00 UTC] PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 3\n"),
        _ => html(CATCH_ALL),
    }
}

fn decorate(flavor: Flavor, https: bool, r: &mut Resp) {
    match flavor {
        Flavor::Planted => {
            r.headers
                .push(("Server".into(), "Apache/2.4.29 (Ubuntu)".into()));
            r.headers.push(("X-Powered-By".into(), "PHP/7.2.24".into()));
            if r.status == 200 {
                r.headers
                    .push(("Set-Cookie".into(), "PHPSESSID=abc123; path=/".into()));
            }
        }
        Flavor::Clean => {
            r.headers.push(("Server".into(), "mamori-test".into()));
            if https {
                for (k, v) in [
                    (
                        "Content-Security-Policy",
                        "default-src 'self'; frame-ancestors 'self'",
                    ),
                    ("X-Frame-Options", "SAMEORIGIN"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "strict-origin-when-cross-origin"),
                    (
                        "Permissions-Policy",
                        "camera=(), microphone=(), geolocation=()",
                    ),
                    (
                        "Strict-Transport-Security",
                        "max-age=31536000; includeSubDomains",
                    ),
                ] {
                    r.headers.push((k.into(), v.into()));
                }
                if r.status == 200 {
                    r.headers.push((
                        "Set-Cookie".into(),
                        "PHPSESSID=abc123; Path=/; Secure; HttpOnly; SameSite=Lax".into(),
                    ));
                }
            }
        }
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    flavor: Flavor,
    https: bool,
    https_port: u16,
    log: Arc<Log>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut first = text.lines().next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or("GET").to_string();
    let path = first.next().unwrap_or("/").to_string();
    log.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(ua) = text.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
            .map(|(_, v)| v.trim().to_string())
    }) {
        log.agents.lock().unwrap().push(ua);
    }
    let mut r = route(flavor, https, https_port, &method, &path);
    decorate(flavor, https, &mut r);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.body.len()
    );
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if method != "HEAD" {
        bytes.extend_from_slice(&r.body);
    }
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
}

/// Starts one twin: plain HTTP and HTTPS (with the given certificate) on ephemeral ports.
pub async fn serve(flavor: Flavor, cert: &(PathBuf, PathBuf)) -> Site {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http_addr, https_addr) = (http.local_addr().unwrap(), https.local_addr().unwrap());
    let log = Arc::new(Log::default());
    let acceptor = tls_acceptor(&cert.0, &cert.1);
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = http.accept().await {
            tokio::spawn(handle(s, flavor, false, https_addr.port(), l.clone()));
        }
    });
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = https.accept().await {
            let acceptor = acceptor.clone();
            let l = l.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    handle(tls, flavor, true, https_addr.port(), l).await;
                }
            });
        }
    });
    Site {
        http: http_addr,
        https: https_addr,
        log,
    }
}

/// A listener that answers every connection with `reply(first bytes read)`; `banner` is sent
/// first for services that speak first.
pub async fn fake_service(banner: &'static [u8], reply: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if !banner.is_empty() {
                    let _ = s.write_all(banner).await;
                }
                let mut buf = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut buf)).await
                {
                    if n > 0 && !reply.is_empty() {
                        let _ = s.write_all(reply).await;
                    }
                }
            });
        }
    });
    addr
}

/// A port with nothing listening.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A UDP DNS responder with fixed TXT records; other names get NXDOMAIN.
pub async fn dns_responder(zone: Vec<(&'static str, Vec<&'static str>)>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            if let Some(answer) = dns_answer(&buf[..n], &zone) {
                let _ = sock.send_to(&answer, peer).await;
            }
        }
    });
    addr
}

fn dns_answer(q: &[u8], zone: &[(&str, Vec<&str>)]) -> Option<Vec<u8>> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(pos)? as usize;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(pos + 1..pos + 1 + len)?).to_ascii_lowercase());
        pos += 1 + len;
    }
    let qend = pos + 1 + 4;
    let name = labels.join(".");
    let records = zone
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| r.clone());
    let mut r = q.get(..qend)?.to_vec();
    r[2] = 0x81;
    r[3] = if records.is_some() { 0x80 } else { 0x83 };
    let records = records.unwrap_or_default();
    r[4..6].copy_from_slice(&[0, 1]);
    r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    r[8..12].copy_from_slice(&[0, 0, 0, 0]);
    for t in records {
        r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 0x2c]);
        r.extend_from_slice(&((t.len() + 1) as u16).to_be_bytes());
        r.push(t.len() as u8);
        r.extend_from_slice(t.as_bytes());
    }
    Some(r)
}

/// The mail zone of both twins: the planted domain is permissive and has no DMARC.
pub fn mail_zone() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "example.test",
            vec!["v=spf1 +all", "google-site-verification=abc"],
        ),
        ("clean.test", vec!["v=spf1 include:_spf.mail.example -all"]),
        (
            "_dmarc.clean.test",
            vec!["v=DMARC1; p=reject; rua=mailto:dmarc@clean.test"],
        ),
    ]
}

/// A fresh directory under the target dir's tmp.
pub fn temp_dir(name: &str) -> PathBuf {
    mamori_core::scratch::dir(&format!("scan-{name}"))
}
