//! Shared pieces of the end-to-end tests: a handler that keeps messages in memory, a server
//! on 127.0.0.1 with a port of its own, a self-signed certificate made with openssl, and a
//! raw client that speaks SMTP line by line.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use mamori_smtp::{listen, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single step of a test may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(10);

/// A message as the handler received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub session: SessionInfo,
    pub envelope: Envelope,
    pub message: Vec<u8>,
}

/// Keeps accepted messages in memory. Recipients whose local part is `unknown` get 550,
/// `busy` get 450; users and passwords are fixed.
#[derive(Default)]
pub struct MemoryHandler {
    pub messages: Mutex<Vec<Received>>,
    pub users: Vec<(String, String)>,
    failed_logins: Mutex<Vec<(SocketAddr, String)>>,
}

impl MemoryHandler {
    pub fn with_user(user: &str, password: &str) -> Self {
        MemoryHandler {
            users: vec![(user.to_string(), password.to_string())],
            ..MemoryHandler::default()
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    /// The peer and user name of each failed AUTH, in order.
    pub fn failed_logins(&self) -> Vec<(SocketAddr, String)> {
        self.failed_logins.lock().expect("lock").clone()
    }
}

#[mamori_smtp::async_trait]
impl Handler for MemoryHandler {
    async fn authenticate(&self, session: &SessionInfo, user: &str, password: &str) -> bool {
        let ok = self.users.iter().any(|(u, p)| u == user && p == password);
        if !ok {
            self.failed_logins
                .lock()
                .expect("lock")
                .push((session.peer, user.to_string()));
        }
        ok
    }

    async fn rcpt_to(&self, _: &SessionInfo, _: &Envelope, to: &str) -> Result<(), Reply> {
        match to.split('@').next() {
            Some("unknown") => Err(Reply::no_such_user()),
            Some("busy") => Err(Reply::new(450, Some((4, 2, 1)), "Mailbox busy, try later")),
            _ => Ok(()),
        }
    }

    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        let mut messages = self.messages.lock().expect("lock");
        messages.push(Received {
            session: session.clone(),
            envelope: envelope.clone(),
            message,
        });
        Reply::queued(&messages.len().to_string())
    }
}

/// A server on 127.0.0.1 for one test.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handler: Arc<MemoryHandler>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        TestServer::start_with(
            config,
            MemoryHandler::with_user("tanaka", "正しいパスワード"),
        )
        .await
    }

    pub async fn start_with(config: ServerConfig, handler: MemoryHandler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let handler = Arc::new(handler);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(listen(
            listener,
            Arc::new(config),
            Arc::clone(&handler),
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            handler,
            stop: Some(stop),
            task,
        }
    }

    /// Asks the listener to stop and waits until every session has ended.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(STEP, &mut self.task)
            .await
            .expect("listener stops in time")
            .expect("listener task");
    }
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    mamori_core::scratch::dir(&format!("smtp-{name}"))
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (P-256), made by openssl.
pub struct TestCertificate {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestCertificate {
    pub fn generate() -> Self {
        let dir = temp_dir("tls");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
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
                "/CN=localhost",
                // rustls checks the subjectAltName, never the CN, and refuses a CA
                // certificate (openssl's default) as a server's own.
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
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
        let chain = CertificateDer::pem_file_iter(&cert)
            .expect("read certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse certificate");
        let key = PrivateKeyDer::from_pem_file(&key).expect("read key");
        let _ = std::fs::remove_dir_all(&dir);
        TestCertificate { chain, key }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .expect("certificate and key");
        Arc::new(config)
    }

    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &self.chain {
            roots.add(cert.clone()).expect("add root");
        }
        Arc::new(roots)
    }
}

/// Speaks SMTP by hand: send exact bytes, read exact replies. Works over TCP and, after
/// STARTTLS, over a TLS stream.
pub struct Raw<S = TcpStream> {
    pub stream: BufReader<S>,
}

impl Raw<TcpStream> {
    /// Connects and returns the client with the greeting's code checked.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut raw = Raw::connect_without_greeting(addr).await;
        let (code, text) = raw.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        raw
    }

    pub async fn connect_without_greeting(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Raw::new(stream)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub fn new(stream: S) -> Self {
        Raw {
            stream: BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: &str) {
        self.send_bytes(bytes.as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        tokio::time::timeout(STEP, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .expect("write in time")
        .expect("write");
    }

    /// Reads one reply; returns its code and all its lines as received (with CRLF).
    pub async fn reply(&mut self) -> (u16, String) {
        self.reply_within(STEP).await
    }

    pub async fn reply_within(&mut self, limit: Duration) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(limit, self.stream.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read reply");
            assert!(n > 0, "connection closed; got so far: {text:?}");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            text.push_str(&line);
            let bytes = line.as_bytes();
            assert!(bytes.len() >= 5, "short reply line {line:?}");
            if bytes[3] == b' ' {
                let code = line[..3].parse().expect("reply code");
                return (code, text);
            }
            assert_eq!(bytes[3], b'-', "bad reply line {line:?}");
        }
    }

    /// Sends one command line and reads its reply.
    pub async fn command(&mut self, line: &str) -> (u16, String) {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    /// The server closed the connection (after any replies already read).
    pub async fn expect_closed(&mut self) {
        let mut rest = String::new();
        let n = tokio::time::timeout(STEP, self.stream.read_line(&mut rest))
            .await
            .expect("close in time")
            .unwrap_or(0);
        assert_eq!(n, 0, "expected the connection to close, got {rest:?}");
    }
}
