//! `mamori scan` against a small site on loopback with an exposed `.env`: the JSON the
//! interface promises, and with `--tenant` the scan kept for the console and its findings
//! stored as alerts.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};

/// A site that serves `/.env` and the front page, and 404 for anything else.
fn site() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(2000) {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = match path.as_str() {
                "/" => (
                    "200 OK",
                    "<html><head><title>Shop</title></head><body>Welcome</body></html>".to_string(),
                ),
                "/.env" => (
                    "200 OK",
                    "APP_KEY=base64:secret\nDB_PASSWORD=hunter2\nDB_HOST=127.0.0.1\n".to_string(),
                ),
                _ => ("404 Not Found", "not found".to_string()),
            };
            let ctype = if path == "/.env" {
                "text/plain"
            } else {
                "text/html"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn a_scan_reports_the_exposed_env_file_as_json_and_keeps_it_for_the_tenant() {
    let data = temp_dir("scan");
    let port = site();
    let url = format!("http://127.0.0.1:{port}/");
    let args = [
        "scan",
        &url,
        "--json",
        "--rate",
        "200",
        "--ports",
        "",
        "--mail-domain",
        "invalid.test",
        "--dns",
        "127.0.0.1:9",
    ];
    let (ok, out, err) = mamori(&data, &args, "");
    assert!(ok, "{err}");
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        v["target"].as_str().unwrap().contains(&port.to_string()),
        "{v}"
    );
    let findings = v["findings"].as_array().unwrap();
    let env = findings
        .iter()
        .find(|f| f["id"].as_str().is_some_and(|i| i.contains("env")))
        .unwrap_or_else(|| panic!("no .env finding: {v}"));
    assert_eq!(env["url"], format!("http://127.0.0.1:{port}/.env"));
    for key in ["id", "severity", "title", "url", "evidence", "advice"] {
        assert!(env.get(key).is_some(), "{key} missing: {env}");
    }
    assert!(
        !env["evidence"].as_str().unwrap().contains("hunter2"),
        "secrets are not copied"
    );

    // For a tenant: kept for the console and stored as alerts.
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let mut with_tenant = args.to_vec();
    with_tenant.extend(["--tenant", "acme"]);
    let (ok, _, err) = mamori(&data, &with_tenant, "");
    assert!(ok, "{err}");
    let kept = std::fs::read_dir(data.join("scans/acme")).unwrap().count();
    assert_eq!(kept, 1);
    let server = up(&data, &[]);
    let token = token(&data, "acme");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/alerts?engine=scan", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(
        v["items"].as_array().unwrap().iter().any(|a| a["rule_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("scan.") && r.contains("env"))),
        "{v}"
    );
    // A bad target is a clear error.
    let (ok, _, err) = mamori(&data, &["scan", "ftp://example.test/"], "");
    assert!(!ok || err.contains("ftp"), "{err}");
}
