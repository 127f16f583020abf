//! `mamori waf` as a user runs it: `mamori up` with `[waf]` in front of a small website (a
//! Python http.server on loopback), attacks blocked and their alerts in the console, failed
//! logins blocked by login protection, and the console's exclusion reloaded by the proxy.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A website on loopback: GET serves files, POST /login answers 401 (no one knows the password).
struct Site {
    child: Child,
    port: u16,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site(dir: &Path) -> Site {
    let port = free_port();
    std::fs::write(dir.join("index.html"), "<h1>shop</h1>").unwrap();
    let script = r#"
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(n)
        self.send_response(401); self.send_header('Content-Length', '6'); self.end_headers(); self.wfile.write(b'denied')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the test website");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the test website did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Site { child, port }
}

fn http(port: u16, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    (
        text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
        text,
    )
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the WAF did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn alert_ids(base: &str, token: &str) -> Vec<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/alerts?limit=100&engine=waf"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["rule_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_runs_the_waf_and_login_protection_alerts_reach_the_console() {
    let data = temp_dir("wafup");
    let web = temp_dir("wafsite");
    let site = site(&web);
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let waf_port = free_port();
    let rules = data.join("local.conf");
    std::fs::write(
        &rules,
        "SecRuleEngine On\nSecRule ARGS \"@contains <script>\" \"id:10001,phase:2,deny,status:403,log,msg:'Script tag in a parameter',severity:CRITICAL\"\n",
    )
    .unwrap();
    std::fs::write(
        data.join("mamori.toml"),
        format!(
            "[respond]\nnetns = \"mamori-test-absent\"\n\
             [waf]\nenabled = true\nlisten = \"127.0.0.1:{waf_port}\"\ntenant = \"acme\"\nrules = \"{}\"\n\
             [[waf.site]]\nhosts = [\"shop.example\"]\nupstreams = [\"http://127.0.0.1:{}\"]\n\
             [[waf.site.login]]\npath = \"/login\"\nfailure_status = [401]\n",
            rules.display(),
            site.port
        ),
    )
    .unwrap();
    let server = up(&data, &[]);
    wait_for(waf_port);
    let (ok, out, _) = mamori(
        &data,
        &["token", "create", "--tenant", "acme", "--name", "t"],
        "",
    );
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();

    let (status, body) = http(
        waf_port,
        "GET /index.html HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>shop</h1>"));

    // An attack in a parameter: blocked with the reference page.
    let (status, body) = http(
        waf_port,
        "GET /?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("ブロック"), "{body}");

    // Five failed logins from one address, then the sixth is refused by the proxy itself.
    for _ in 0..5 {
        let form = "username=admin&password=guess";
        let (status, _) = http(waf_port, &format!("POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}", form.len()));
        assert_eq!(status, 401);
    }
    let (status, body) = http(waf_port, "POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("ログインの試行が多すぎます"), "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids = alert_ids(&server.base, &token).await;
        if ids.iter().any(|i| i == "waf.crs.10001")
            && ids.iter().any(|i| i == "waf.login.ip_failures")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "WAF alerts not in the console: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let audit = std::fs::read_to_string(data.join("waf-audit.jsonl")).unwrap();
    assert!(audit.contains("\"id\":10001"), "{audit}");

    // A block taken in the console reaches the WAF's bans (the proxy re-reads them), even
    // where nftables cannot apply it (here: a namespace that does not exist).
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/actions", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"kind": "block_ip", "target": "203.0.113.0/24", "reason": "scanner"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["target"], "203.0.113.0/24", "{answer}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bans = std::fs::read_to_string(data.join("waf-bans.json")).unwrap_or_default();
        if bans.contains("203.0.113.0/24") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ban did not reach the WAF: {bans}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Kills a child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mamori waf serve` on `port` in front of `upstream_port`, logging at `log` to `stderr`,
/// with `more` arguments.
fn serve_waf(
    data: &Path,
    port: u16,
    upstream_port: u16,
    rules: &Path,
    log: &str,
    stderr: Stdio,
    more: &[&str],
) -> Child {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(["waf", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("http://127.0.0.1:{upstream_port}")])
        .arg("--rules")
        .arg(rules)
        .args(more)
        .env("MAMORI_LOG", log)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start mamori waf serve")
}

/// `text` without its ANSI colour sequences (the log's field names are coloured).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `field=` in a log line.
fn log_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {field}="))? + field.len() + 2;
    line[at..].split_whitespace().next()
}

/// A data directory named after `name`, the test website, and a rules file holding `rules`.
fn waf_site(name: &str, rules: &str) -> (std::path::PathBuf, Site, std::path::PathBuf) {
    let data = temp_dir(name);
    let site = site(&temp_dir(&format!("{name}-site")));
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("local.conf");
    std::fs::write(&path, rules).unwrap();
    (data, site, path)
}

#[test]
fn waf_serve_deals_connections_round_robin_over_its_threads() {
    let (data, site, rules) = waf_site("wafdeal", "SecRuleEngine On\n");
    let log = data.join("stderr.log");
    let port = free_port();
    let running = Running(serve_waf(
        &data,
        port,
        site.port,
        &rules,
        "info,mamori_waf::proxy=debug",
        std::fs::File::create(&log).unwrap().into(),
        &[],
    ));
    wait_for(port);
    for i in 0..12 {
        let (status, body) = http(
            port,
            &format!(
                "GET /index.html?n={i} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 200, "request {i}: {body}");
    }
    drop(running);

    // Each accepted connection (the start-up probes too) is dealt to the next thread in turn,
    // so no thread serves more than one connection more than another.
    let text = plain(&std::fs::read_to_string(&log).unwrap());
    let threads: usize = text
        .lines()
        .find(|l| l.contains("WAF listening"))
        .and_then(|l| log_field(l, "threads"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no thread count in the log:\n{text}"));
    let mut dealt = vec![0usize; threads];
    for line in text.lines().filter(|l| l.contains("connection dealt")) {
        let to: usize = log_field(line, "to").and_then(|n| n.parse().ok()).unwrap();
        dealt[to] += 1;
    }
    assert!(dealt.iter().sum::<usize>() >= 12, "{dealt:?}\n{text}");
    let (least, most) = (dealt.iter().min().unwrap(), dealt.iter().max().unwrap());
    assert!(most - least <= 1, "connections per thread: {dealt:?}");
}

#[test]
fn waf_serve_answers_on_every_thread_and_will_not_share_its_port() {
    let (data, site, rules) = waf_site(
        "wafserve",
        "SecRuleEngine On\nSecRule ARGS \"@contains <script>\" \"id:10001,phase:2,deny,status:403,log\"\n",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve = |data: &Path| serve_waf(data, port, site.port, &rules, "warn", Stdio::piped(), &[]);
    let _first = Running(serve(&data));
    wait_for(port);

    // Connections land on the serving threads the kernel picks; every one is answered and
    // inspected the same.
    for i in 0..24 {
        let (status, body) = http(
            port,
            &format!(
                "GET /index.html?n={i} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 200, "request {i}: {body}");
        let (status, _) = http(
            port,
            "GET /?q=%3Cscript%3E HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 403, "attack {i}");
    }

    // A second proxy on the same port is refused, not let in beside the first.
    let second = serve(&temp_dir("wafserve-second"))
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second proxy started: {stderr}");
    assert!(
        stderr.contains(&format!("listening on {listen}")) && stderr.contains("in use"),
        "{stderr}"
    );
}

/// The scheduling policy of each `mamori-waf-N` thread of process `pid` (field 41 of
/// `/proc/PID/task/TID/stat`: 0 SCHED_OTHER, 3 SCHED_BATCH).
fn serving_thread_policies(pid: u32) -> Vec<u32> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !comm.starts_with("mamori-waf-") {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        // `after` starts at field 3 (state), so field 41 is its 39th.
        let policy = after.split_whitespace().nth(38).unwrap().parse().unwrap();
        policies.push(policy);
    }
    policies
}

#[test]
#[cfg(target_os = "linux")]
fn waf_serve_schedules_its_serving_threads_as_told() {
    let web = temp_dir("wafsched-site");
    let site = site(&web);
    // Adaptive (the default) threads start on the default policy and stay there while idle;
    // how they move under load is tested in `mamori_waf::proxy::sched`.
    for (more, policy) in [
        (&[][..], 0),
        (&["--scheduling", "batch"][..], 3),
        (&["--scheduling", "normal"][..], 0),
    ] {
        let data = temp_dir("wafsched");
        std::fs::create_dir_all(&data).unwrap();
        let rules = data.join("local.conf");
        std::fs::write(&rules, "SecRuleEngine On\n").unwrap();
        let port = free_port();
        let running = Running(serve_waf(
            &data,
            port,
            site.port,
            &rules,
            "warn",
            Stdio::null(),
            more,
        ));
        wait_for(port);
        let (status, body) = http(
            port,
            "GET /index.html HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
        // An adaptive thread busy with the start-up's first requests may be batch for a
        // moment; it is judged again within a second of going idle.
        let deadline = Instant::now() + Duration::from_secs(5);
        let policies = loop {
            let policies = serving_thread_policies(running.0.id());
            if policies.iter().all(|&p| p == policy) || Instant::now() > deadline {
                break policies;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(!policies.is_empty(), "no mamori-waf-N threads");
        assert!(
            policies.iter().all(|&p| p == policy),
            "{more:?}: policies {policies:?}, expected {policy}"
        );
    }
}

#[test]
fn waf_serve_rotates_its_audit_log_and_writes_out_what_it_gathered_when_stopped() {
    // Every request matches and logs its URI: a line of about 3 × 4 KB per request.
    let (data, site, rules) = waf_site(
        "wafaudit",
        "SecRuleEngine On\nSecRule REQUEST_URI \"@beginsWith /\" \"id:10002,phase:1,pass,log,msg:'seen',logdata:'%{REQUEST_URI}'\"\n",
    );
    let audit = data.join("audit.jsonl");
    let port = free_port();
    let audit_arg = audit.display().to_string();
    let mut running = Running(serve_waf(
        &data,
        port,
        site.port,
        &rules,
        "warn",
        Stdio::null(),
        &[
            "--audit-log",
            &audit_arg,
            "--audit-log-max-mb",
            "1",
            "--audit-log-keep",
            "1",
        ],
    ));
    wait_for(port);
    let pad = "a".repeat(4000);
    let requests = 300;
    for n in 0..requests {
        let (status, body) = http(
            port,
            &format!("GET /index.html?n={n}&pad={pad} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 200, "request {n}: {body}");
    }
    // SIGTERM: the proxy stops and writes out the lines it still holds.
    let stopped = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while running.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "waf serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let numbered = |i: u32| data.join(format!("audit.jsonl.{i}"));
    let rotated = std::fs::metadata(numbered(1))
        .expect("the log was rotated")
        .len();
    assert!(rotated >= 1024 * 1024, "{rotated} bytes");
    assert!(!numbered(2).exists(), "one rotated file is kept");
    let ns: Vec<u64> = [numbered(1), audit.clone()]
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("a whole JSON line");
                    let uri = v["uri"].as_str().unwrap().to_string();
                    let n = uri.split("n=").nth(1).unwrap().split('&').next().unwrap();
                    n.parse().unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // The newest lines, in order, up to the last request's.
    assert_eq!(
        ns.last(),
        Some(&(requests - 1)),
        "the last line was not written out"
    );
    assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{ns:?}");
    assert!(ns.len() > 80, "{} lines kept", ns.len());
}
