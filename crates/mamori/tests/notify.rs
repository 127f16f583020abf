//! Notifications from `mamori up`: an incident built from alerts sent to the console is
//! mailed to a real SMTP sink and posted to a webhook once; more alerts on it are throttled;
//! a more severe one is sent again; the log says what happened.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A webhook receiver on loopback: keeps every JSON body posted to it.
fn webhook() -> (Arc<Mutex<Vec<serde_json::Value>>>, u16) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(200) {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            if let Ok(v) = serde_json::from_slice(&body) {
                keep.lock().unwrap().push(v);
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (bodies, port)
}

fn alert(severity: &str, n: usize) -> String {
    format!(
        r#"{{"engine":"ids","rule_id":"ids.beacon","rule_name":"C2 beacon","severity":"{severity}","summary":"PC 192.168.1.23 calls 198.51.100.50 ({n})","src":{{"ip":"192.168.1.23"}},"dst":{{"ip":"198.51.100.50"}}}}"#
    )
}

#[test]
fn an_incident_is_mailed_and_posted_once_then_again_when_it_gets_worse() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink, smtp_port) = rt.block_on(Sink::start());
    let (hooks, hook_port) = webhook();
    let data = temp_dir("notify");
    std::fs::write(
        data.join("mamori.toml"),
        format!(
            "[notify]\nconsole_url = \"http://console.example\"\n\
             smtp = {{ host = \"127.0.0.1\", port = {smtp_port}, starttls = false, from = \"mamori@provider.example\" }}\n\
             [[notify.rules]]\nname = \"acme-admins\"\ntenant = \"acme\"\nmin_severity = \"high\"\n\
             mail = [\"admin@acme.example\"]\n\
             webhook = {{ url = \"http://127.0.0.1:{hook_port}/hook\", format = \"generic\" }}\n"
        ),
    )
    .unwrap();
    let server = up(&data, &[]);
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let token = token(&data, "acme");
    // Let the watcher take its first look (it does not announce what already exists).
    std::thread::sleep(Duration::from_secs(4));
    let send = |lines: Vec<String>| {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        send_lines(&data, &server.base, &token, &lines);
    };

    send(vec![alert("high", 0)]);
    wait_until("the first mail and webhook", 60, || {
        sink.len() == 1 && hooks.lock().unwrap().len() == 1
    });
    let first = hooks.lock().unwrap()[0].clone();
    assert_eq!(first["tenant"], "acme");
    assert_eq!(first["trigger"], "opened");
    assert_eq!(first["severity"], "high");
    let mail = String::from_utf8_lossy(&sink.0.lock().unwrap()[0]).into_owned();
    assert!(
        mail.contains("To: admin@acme.example") && mail.contains("Subject: =?UTF-8?B?"),
        "{mail}"
    );

    // Thirty more alerts on the same PC: nothing new goes out.
    send((1..=30).map(|n| alert("high", n)).collect());
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(hooks.lock().unwrap().len(), 1, "updates are throttled");
    assert_eq!(sink.len(), 1);

    // It gets worse: told again.
    send(vec![alert("critical", 31)]);
    wait_until("the escalation", 60, || {
        hooks.lock().unwrap().len() == 2 && sink.len() == 2
    });
    assert_eq!(hooks.lock().unwrap()[1]["trigger"], "severity_raised");

    let log = std::fs::read_to_string(data.join("notify-log.jsonl")).unwrap();
    assert!(
        log.lines().filter(|l| l.contains("\"sent\"")).count() >= 4,
        "{log}"
    );
    assert!(
        !log.contains(&format!("{hook_port}/hook")),
        "the webhook URL is a secret: {log}"
    );
    drop(server);
}
