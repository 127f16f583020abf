//! Runs the real `mamori` binary: commands to completion, and `mamori up` as a server on a
//! free loopback port, reading the first admin's password from its stdout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mamori")
}

pub fn temp_dir(tag: &str) -> PathBuf {
    mamori_core::scratch::dir(tag)
}

/// Runs `mamori ARGS` with `stdin`, answering (success, stdout, stderr).
pub fn mamori(data: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mamori");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub password: String,
    pub data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mamori up` and waits until it answers.
pub fn up(data: &Path, extra: &[&str]) -> Server {
    up_at(data, &format!("127.0.0.1:{}", free_port()), extra)
}

/// Starts `mamori up` on `listen` (e.g. to restart a console where its sensors expect it).
pub fn up_at(data: &Path, listen: &str, extra: &[&str]) -> Server {
    let listen = listen.to_string();
    // The first admin's password is printed on the first start only.
    let first_start = !data.join("mamori.db").exists();
    let mut child = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(["up", "--listen", &listen])
        .args(extra)
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mamori up");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = line.trim().strip_prefix("password:") {
                let _ = tx.send(p.trim().to_string());
            }
        }
    });
    let password = if first_start {
        rx.recv_timeout(Duration::from_secs(120))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "mamori up did not start listening"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("mamori up exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        child,
        base,
        password,
        data: data.to_path_buf(),
    }
}

/// Starts `mamori up --role sensor` forwarding to `console` (as sensor `gw1`) and waits
/// until its local API answers on `listen`.
pub fn sensor_at(data: &Path, console: &str, token: &str, listen: &str) -> Server {
    let mut child = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args([
            "up",
            "--role",
            "sensor",
            "--console",
            console,
            "--token",
            token,
        ])
        .args(["--listen", listen, "--sensor-name", "gw1"])
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the sensor");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "the sensor did not start listening"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the sensor exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        child,
        base: format!("http://{listen}"),
        password: String::new(),
        data: data.to_path_buf(),
    }
}

/// An SMTP next hop for the gateway under test: keeps every message it is given.
#[derive(Default)]
pub struct Sink(pub std::sync::Mutex<Vec<Vec<u8>>>);

#[mamori_smtp::async_trait]
impl mamori_smtp::Handler for Sink {
    async fn data(
        &self,
        _: &mamori_smtp::SessionInfo,
        _: &mamori_smtp::Envelope,
        message: Vec<u8>,
    ) -> mamori_smtp::Reply {
        self.0.lock().unwrap().push(message);
        mamori_smtp::Reply::queued("sink")
    }
}

impl Sink {
    /// A sink listening on a free loopback port: the sink and its port.
    pub async fn start() -> (std::sync::Arc<Sink>, u16) {
        let sink = std::sync::Arc::new(Sink::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = mamori_smtp::ServerConfig::new("sink.test");
        config.max_connections = 1024;
        tokio::spawn(mamori_smtp::listen(
            listener,
            std::sync::Arc::new(config),
            sink.clone(),
            std::future::pending(),
        ));
        (sink, port)
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Waits (up to `secs`) until `f` holds; the message names what was awaited.
pub fn wait_until(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A new token of `tenant` (the last line `mamori token create` prints).
pub fn token(data: &Path, tenant: &str) -> String {
    let (ok, out, err) = mamori(data, &["token", "create", "--tenant", tenant], "");
    assert!(ok, "{err}");
    out.lines().last().unwrap_or_default().to_string()
}

/// Sends NDJSON `lines` to the console at `base` with `mamori send`.
pub fn send_lines(data: &Path, base: &str, token: &str, lines: &[&str]) {
    let file = data.join(format!("send-{}.ndjson", ulid_like()));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, out, err) = mamori(
        data,
        &[
            "send",
            file.to_str().unwrap(),
            "--url",
            base,
            "--token",
            token,
        ],
        "",
    );
    assert!(ok, "{out}{err}");
}

fn ulid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
