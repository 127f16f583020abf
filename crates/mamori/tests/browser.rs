//! The console in a real browser: Debian's headless Chromium, driven over WebDriver by
//! ChromeDriver, logs in to a `mamori up --demo`, opens an incident and changes its state.
//! With MAMORI_SCREENSHOTS=DIR it also saves screenshots of the pages (the README's picture).

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: std::process::Child,
}

impl Drop for Driver {
    /// Ends the WebDriver session, which closes the browser (killing chromedriver alone
    /// leaves Chromium running), then stops chromedriver; on a pass and on a panic alike.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut c) = std::net::TcpStream::connect(addr) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(15)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if c.write_all(request.as_bytes()).is_ok() {
                // The answer comes once the browser is gone.
                let _ = c.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), &url);
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "{method} {path}: {v}");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            json!({}),
        )
        .await;
    }

    async fn attribute(&self, css: &str, name: &str) -> String {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{el}/attribute/{name}"),
            json!({}),
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// The page's text once `ready` holds for it (pages load after a click; a node read
    /// during the load goes stale, which is retried).
    async fn text_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let found: Value = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": "body"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let el = found["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(el) = el {
                let url = format!("{}/session/{}/element/{el}/text", self.base, self.session);
                let v: Value = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(text) = v["value"].as_str() {
                    if ready(text) || Instant::now() > deadline {
                        return text.to_string();
                    }
                }
            }
            assert!(Instant::now() < deadline, "the page did not load");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("MAMORI_SCREENSHOTS") else {
            return;
        };
        let b64 = self
            .cmd(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            format!("{dir}/{name}.png"),
            base64_decode(b64.as_str().unwrap()),
        )
        .unwrap();
    }

    async fn resize(&self, w: u32, h: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": w, "height": h}),
        )
        .await;
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

async fn start_driver() -> Option<Driver> {
    let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromedriver) = chromedriver else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium-driver for the browser test"
        );
        eprintln!(
            "skipping: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/status")).send().await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = temp_dir("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
    }}}});
    let v: Value = http
        .post(format!("{base}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
        .to_string();
    Some(Driver {
        http,
        base,
        session,
        child,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_logs_in_opens_an_incident_and_changes_its_state() {
    let data = temp_dir("browser");
    let server = up(&data, &["--demo"]);
    let Some(d) = start_driver().await else {
        return;
    };

    d.go(&format!("{}/login", server.base)).await;
    d.type_into("input[name=email]", "admin@mamori.local").await;
    d.type_into("input[name=password]", &server.password).await;
    d.click("button[type=submit]").await;
    let overview = d.text_when(|t| t.contains("アラートの推移")).await;
    assert!(
        overview.contains("概要") && overview.contains("アラートの推移"),
        "{overview}"
    );
    d.screenshot("overview").await;

    d.go(&format!("{}/incidents", server.base)).await;
    d.screenshot("incidents").await;
    d.click("table td a[href^='/incidents/']").await;
    let page = d.text_when(|t| t.contains("対応履歴")).await;
    assert!(
        page.contains("対応履歴"),
        "the incident page shows its timeline: {page}"
    );
    let to = d.attribute("button[data-state]", "data-state").await;
    assert!(!to.is_empty());
    d.click(&format!("button[data-state='{to}']")).await;
    let label = match to.as_str() {
        "investigating" => "調査中",
        "contained" => "封じ込め済み",
        "resolved" => "解決済み",
        "false_positive" => "誤検知",
        other => panic!("unexpected state {other}"),
    };
    let change = format!("→ {label}");
    let after = d.text_when(|t| t.contains(&change)).await;
    assert!(
        after.contains("状態を変更") && after.contains(label),
        "the timeline shows the change to {label}: {after}"
    );
    assert!(
        after.contains("admin@mamori.local"),
        "the timeline names who changed it"
    );
    d.screenshot("incident").await;

    d.resize(390, 844).await;
    d.go(&format!("{}/", server.base)).await;
    d.screenshot("overview-phone").await;
}
