//! `mamori mail` as a user runs it: `check --json` on a file, and `serve` relaying to a sink,
//! holding a risky mail until `mamori mail queue release`, with the alert in the console's store.

mod common;

use common::*;
use mamori_smtp::client::{Client, ClientConfig};
use mamori_smtp::Envelope;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SPOOF: &str = "From: \"Yamada Taro\" <yamada.taro@freemail-example.com>\r\nTo: sato@acme.co.jp\r\nSubject: RE: invoice\r\nMessage-ID: <1@freemail-example.com>\r\n\r\nPlease see the attached invoice.\r\n";

#[test]
fn check_json_has_the_documented_shape() {
    let data = temp_dir("mailcheck");
    let file = data.join("m.eml");
    std::fs::write(&file, SPOOF).unwrap();
    let (ok, out, err) = mamori(
        &data,
        &["mail", "check", "--json", file.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(["deliver", "tag", "quarantine", "reject"].contains(&v["verdict"].as_str().unwrap()));
    assert!(v["score"].is_number());
    for r in v["reasons"].as_array().unwrap() {
        assert!(r["code"].as_str().unwrap().starts_with("mail."));
        assert!(
            r["message_ja"].is_string() && r["message_en"].is_string() && r["score"].is_number()
        );
    }
}

async fn send(port: u16, from: &str, to: &str, message: &str) {
    let client = Client::new(ClientConfig::new("client.test")).unwrap();
    let env = Envelope {
        mail_from: Some(from.into()),
        rcpt_to: vec![to.into()],
        body_8bit: true,
        smtputf8: false,
        size_hint: None,
    };
    let d = client
        .deliver("127.0.0.1", port, &env, message.as_bytes())
        .await
        .unwrap();
    assert!(d.all_accepted());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_relays_holds_and_releases() {
    let data = temp_dir("mailserve");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (sink, sink_port) = Sink::start().await;

    let port = free_port();
    let mut child = Command::new(bin())
        .arg("--data")
        .arg(&data)
        .args([
            "mail",
            "serve",
            "--direction",
            "outbound",
            "--tenant",
            "acme",
            "--domain",
            "acme.co.jp",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--next-hop",
            &format!("127.0.0.1:{sink_port}"),
        ])
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mamori mail serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ok = "From: sato@acme.co.jp\r\nTo: tanaka@partner.co.jp\r\nSubject: hello\r\n\r\nbody\r\n";
    send(port, "sato@acme.co.jp", "tanaka@partner.co.jp", ok).await;
    let mut rows = String::from("name,phone\r\n");
    for i in 0..40 {
        rows.push_str(&format!(
            "customer{i},090-{:04}-{:04}\r\n",
            1000 + i,
            5000 + i
        ));
    }
    let leak =
        format!("From: sato@acme.co.jp\r\nTo: someone@other.co.jp\r\nSubject: list\r\n\r\n{rows}");
    send(port, "sato@acme.co.jp", "someone@other.co.jp", &leak).await;

    let wait = |n: usize| {
        let sink = sink.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while sink.0.lock().unwrap().len() < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sink.0.lock().unwrap().len()
        }
    };
    // The ordinary mail and the sender's hold notice leave; the customer list does not.
    assert_eq!(wait(2).await, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let got = sink.0.lock().unwrap();
        assert_eq!(got.len(), 2, "the list of customers is held");
        assert!(got.iter().any(|m| m == ok.as_bytes()));
        assert!(
            got.iter()
                .any(|m| String::from_utf8_lossy(m).contains("Auto-Submitted: auto-generated")),
            "the sender is told"
        );
    }

    let (_, list, _) = mamori(&data, &["mail", "queue"], "");
    let held = list
        .lines()
        .find(|l| l.contains("\theld\t"))
        .unwrap_or_else(|| panic!("no held mail in {list}"));
    let id = held.split('\t').next().unwrap();
    assert!(mamori(&data, &["mail", "queue", "release", id], "").0);
    // The running gateway sees the release on its next look at the spool (within seconds).
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.0.lock().unwrap().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        sink.0.lock().unwrap().len(),
        3,
        "the released mail is delivered"
    );

    let _ = child.kill();
    let _ = child.wait();
    // The hold raised an alert in the console's store.
    let store = mamori_store::open("", &data.join("mamori.db"))
        .await
        .unwrap();
    let alerts = store
        .alerts(
            &mamori_core::Scope::Tenant("acme".into()),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(
        alerts
            .items
            .iter()
            .any(|a| a.alert.engine == mamori_core::Engine::Mail),
        "the held mail is an alert in the console"
    );
}

fn start_gateway(data: &std::path::Path, port: u16, next_hop_port: u16) -> std::process::Child {
    let child = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args([
            "mail",
            "serve",
            "--direction",
            "outbound",
            "--tenant",
            "acme",
            "--domain",
            "acme.co.jp",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--next-hop",
            &format!("127.0.0.1:{next_hop_port}"),
        ])
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mamori mail serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `kill -9` while clients are sending: every message that got `250` is delivered after a
/// restart, and none is lost.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_acknowledged_is_lost_when_the_gateway_is_killed() {
    let data = temp_dir("mailkill");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    // The next hop is down while the gateway runs: everything it accepts stays in its spool.
    let down = free_port();
    let port = free_port();
    let mut child = start_gateway(&data, port, down);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for c in 0..4 {
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            let client = Client::new(ClientConfig::new("client.test")).unwrap();
            for i in 0..2000 {
                let subject = format!("msg-{c}-{i}");
                let body = format!("From: sato@acme.co.jp\r\nTo: tanaka@partner.co.jp\r\nSubject: {subject}\r\n\r\nbody\r\n");
                let env = Envelope { mail_from: Some("sato@acme.co.jp".into()), rcpt_to: vec!["tanaka@partner.co.jp".into()], body_8bit: false, smtputf8: false, size_hint: None };
                match client.deliver("127.0.0.1", port, &env, body.as_bytes()).await {
                    Ok(d) if d.all_accepted() => acked.lock().unwrap().push(subject),
                    _ => break,
                }
            }
        }));
    }
    // Let some hundreds through, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} messages were accepted before the kill",
        acked.len()
    );

    // Restart with the next hop up: every acknowledged message arrives.
    let (sink, sink_port) = Sink::start().await;
    let mut child = start_gateway(&data, port, sink_port);
    let (_, list, _) = mamori(&data, &["mail", "queue"], "");
    for id in list.lines().filter_map(|l| l.split('\t').next()) {
        mamori(&data, &["mail", "queue", "retry", id], "");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered = loop {
        let got: std::collections::HashSet<String> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                String::from_utf8_lossy(m)
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
            })
            .collect();
        if acked.iter().all(|s| got.contains(s)) || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let lost: Vec<_> = acked.iter().filter(|s| !delivered.contains(*s)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages were lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// `mamori up` runs the gateway configured in `[mail_gateway]` next to the console.
#[tokio::test(flavor = "multi_thread")]
async fn up_runs_the_configured_mail_gateway() {
    let data = temp_dir("upmail");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (sink, sink_port) = Sink::start().await;
    let smtp = free_port();
    std::fs::write(
        data.join("mamori.toml"),
        format!("[mail_gateway]\nenabled = true\nlisten = \"127.0.0.1:{smtp}\"\nnext_hop = \"127.0.0.1:{sink_port}\"\ntenant = \"acme\"\ndomains = [\"acme.co.jp\"]\n"),
    )
    .unwrap();
    let _server = up(&data, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", smtp)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the gateway did not start with mamori up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = "From: sato@acme.co.jp\r\nTo: tanaka@partner.co.jp\r\nSubject: hi\r\n\r\nbody\r\n";
    send(smtp, "sato@acme.co.jp", "tanaka@partner.co.jp", m).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.0.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sink.0.lock().unwrap().first().map(Vec::as_slice),
        Some(m.as_bytes())
    );
}

/// `mamori mail check DIR`: every .eml below the directory, one JSON line each in a stable
/// order, a summary on stderr; a broken message is reported and the rest still checked.
#[test]
fn check_over_a_directory_prints_one_line_per_message() {
    let data = temp_dir("mailcheckdir");
    let dir = data.join("corpus");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.eml"), SPOOF).unwrap();
    std::fs::write(
        dir.join("sub/b.eml"),
        "From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n\r\nhello\r\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/empty.eml"), "").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a message").unwrap();
    let (ok, out, err) = mamori(
        &data,
        &[
            "mail",
            "check",
            "--repeat",
            "2",
            "--jobs",
            "2",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert!(!ok, "a broken message makes the run fail: {err}");
    assert!(
        err.contains("messages: 6") && err.contains("errors: 2"),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files: Vec<&str> = lines.iter().map(|v| v["file"].as_str().unwrap()).collect();
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["a.eml", "b.eml", "empty.eml", "a.eml", "b.eml", "empty.eml"]
    );
    assert_eq!(lines[0]["verdict"], lines[3]["verdict"]);
    assert!(lines[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"].as_str().unwrap().starts_with("mail.")));
    assert!(lines[1]["score"].is_number());
    assert!(lines[2]["error"].is_string(), "{}", lines[2]);
}
