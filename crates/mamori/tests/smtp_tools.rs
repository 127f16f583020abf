//! `mamori mail serve` against SMTP clients other people wrote: `swaks` (STARTTLS, AUTH,
//! exact bytes) and postfix's `smtp-source` (thousands of messages, then `kill -9`).
//!
//! Without the tools (`apt-get install swaks libnet-ssleay-perl postfix`) these tests print
//! why they skip and pass — unless `CI` is set, where they must run and so fail instead.

mod common;

use common::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The program `name` from PATH or the sbin directories postfix installs into; `None` (after
/// saying so) when it is missing outside CI. In CI a missing tool fails the test.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        missing(&format!("{name} (apt-get install {package})"));
    }
    found
}

fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI");
    }
    eprintln!("skipping: {what} is not installed");
}

fn start_gateway(data: &Path, port: u16, next_hop: u16, extra: &[&str]) -> Child {
    let mut child = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args([
            "mail",
            "serve",
            "--tenant",
            "acme",
            "--domain",
            "acme.co.jp",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--next-hop",
            &format!("127.0.0.1:{next_hop}"),
        ])
        .args(extra)
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("mamori mail serve exited: {status}");
        }
        assert!(Instant::now() < deadline, "mamori mail serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A self-signed certificate for 127.0.0.1, made by openssl: (cert.pem, key.pem).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-days", "2", "-keyout"])
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

/// Outbound mail as a staff member's client submits it: STARTTLS, then AUTH PLAIN against the
/// console's users. What the next hop receives is byte for byte what swaks sent between
/// `DATA` and the final dot: 8-bit Japanese text, lines that start with a dot (dot-stuffed on
/// the wire), CRLF line ends.
#[tokio::test(flavor = "multi_thread")]
async fn swaks_submits_over_starttls_with_auth_and_the_bytes_arrive_unchanged() {
    let Some(swaks) = tool("swaks", "swaks") else {
        return;
    };
    let tls_ok = Command::new("perl")
        .args(["-MNet::SSLeay", "-e", "1"])
        .status()
        .is_ok_and(|s| s.success());
    if !tls_ok {
        missing("Net::SSLeay for swaks --tls (apt-get install libnet-ssleay-perl)");
        return;
    }
    let data = temp_dir("swaks");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let password = "correct horse battery staple";
    let (ok, _, err) = mamori(
        &data,
        &[
            "user",
            "add",
            "--email",
            "sato@acme.co.jp",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(ok, "{err}");
    let (cert, key) = certificate(&data);
    let (sink, sink_port) = Sink::start().await;
    let port = free_port();
    let mut gateway = start_gateway(
        &data,
        port,
        sink_port,
        &[
            "--direction",
            "outbound",
            "--auth",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );

    let text = "From: Sato Hanako <sato@acme.co.jp>\n\
To: Tanaka Jiro <tanaka@partner.co.jp>\n\
Subject: =?UTF-8?B?5pel5pys6Kqe44Gu5Lu25ZCN?=\n\
Message-ID: <swaks-1@acme.co.jp>\n\
MIME-Version: 1.0\n\
Content-Type: text/plain; charset=UTF-8\n\
Content-Transfer-Encoding: 8bit\n\
\n\
田中様\n\
お世話になっております。来週の打ち合わせの件、承知いたしました。\n\
.a line that starts with a dot\n\
..and one with two\n\
\n\
Sato";
    let file = data.join("message.eml");
    std::fs::write(&file, text).unwrap();
    let swaks_run = |extra: &[&str]| {
        let out = Command::new(&swaks)
            .args(["--server", "127.0.0.1", "--port", &port.to_string()])
            .args(["--helo", "client.test", "--from", "sato@acme.co.jp"])
            .args(["--to", "tanaka@partner.co.jp", "--timeout", "30"])
            .arg("--data")
            .arg(&file)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    // AUTH is neither offered nor accepted in clear text, and a wrong password is refused.
    let (ok, transcript) = swaks_run(&[
        "--auth",
        "PLAIN",
        "--auth-user",
        "sato@acme.co.jp",
        "--auth-password",
        password,
    ]);
    assert!(!ok, "AUTH without TLS must fail:\n{transcript}");
    let (ok, transcript) = swaks_run(&[
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "sato@acme.co.jp",
        "--auth-password",
        "wrong",
    ]);
    assert!(!ok, "a wrong password must fail:\n{transcript}");
    assert_eq!(sink.len(), 0, "nothing was delivered for a refused client");

    let (ok, transcript) = swaks_run(&[
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "sato@acme.co.jp",
        "--auth-password",
        password,
    ]);
    assert!(
        ok,
        "swaks with STARTTLS and AUTH PLAIN failed:\n{transcript}"
    );
    assert!(transcript.contains("STARTTLS"), "{transcript}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.len() < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = gateway.kill();
    let _ = gateway.wait();
    let got = sink.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one message delivered:\n{transcript}");
    // swaks ends the last line itself (CRLF) before the final dot.
    let sent = format!("{}\r\n", text.replace('\n', "\r\n"));
    assert_eq!(
        String::from_utf8_lossy(&got[0]),
        sent,
        "the next hop got other bytes than swaks sent"
    );
}

/// `kill -9` of the gateway while `smtp-source` sends 5,000 messages over 10 sessions: after
/// a restart every message that got `250` reaches the next hop at least once. smtp-source
/// gives each message its own Message-Id; the acknowledged ones are the `250 … Queued as ID`
/// replies in its transcript.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_source_loses_nothing_acknowledged_when_the_gateway_is_killed() {
    let Some(smtp_source) = tool("smtp-source", "postfix") else {
        return;
    };
    let data = temp_dir("smtpsource");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (sink, sink_port) = Sink::start().await;
    let port = free_port();
    let mut gateway = start_gateway(&data, port, sink_port, &["--direction", "inbound"]);

    let mut source = Command::new(&smtp_source)
        .args(["-v", "-s", "10", "-m", "5000", "-M", "client.test"])
        .args(["-f", "tanaka@partner.co.jp", "-t", "sato@acme.co.jp"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let transcript = BufReader::new(source.stderr.take().unwrap());
    let reader = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            for line in transcript.lines().map_while(Result::ok) {
                if let Some((_, id)) = line.split_once("<<< 250 2.0.0 Queued as ") {
                    acked.lock().unwrap().insert(id.trim().to_string());
                }
            }
        })
    };

    // Let some hundreds through, then kill the gateway without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 500 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill().unwrap(); // SIGKILL
    gateway.wait().unwrap();
    // smtp-source gives up when its sessions break; don't wait for ever if it does not.
    let deadline = Instant::now() + Duration::from_secs(30);
    while source.try_wait().unwrap().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = source.kill();
    let _ = source.wait();
    reader.join().unwrap();
    let acked = acked.lock().unwrap().len();
    assert!(
        (500..5000).contains(&acked),
        "{acked} messages were acknowledged before the kill"
    );

    // Restart: the gateway delivers what its spool holds.
    let mut gateway = start_gateway(&data, port, sink_port, &["--direction", "inbound"]);
    let message_ids = || -> HashSet<String> {
        sink.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                String::from_utf8_lossy(m)
                    .lines()
                    .find_map(|l| l.strip_prefix("Message-Id: ").map(str::to_string))
            })
            .collect()
    };
    let queued = || {
        std::fs::read_dir(data.join("mail-spool/msg"))
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while (queued() > 0 || message_ids().len() < acked) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = gateway.kill();
    let _ = gateway.wait();
    let delivered = message_ids().len();
    assert!(
        delivered >= acked,
        "{} of {acked} acknowledged messages were lost ({delivered} distinct delivered, {} still queued)",
        acked - delivered,
        queued() / 2
    );
    assert!(
        delivered <= 5000,
        "{delivered} distinct messages from 5,000 sent"
    );
}
