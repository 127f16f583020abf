//! `bench/store`: starts a real `mamori up`, ingests N generated alerts through
//! `POST /api/v1/events` from several connections, then logs in and measures the latency of
//! the alerts and incidents pages (and their API twins) at that size.
//!
//! Usage: mamori-bench-store --mamori target/release/mamori [--alerts 1000000]
//!        [--store postgres://…] [--parallel 3] [--batch 10000] [--samples 200]

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    mamori: PathBuf,
    alerts: usize,
    store: Option<String>,
    parallel: usize,
    batch: usize,
    samples: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        mamori: PathBuf::from("target/release/mamori"),
        alerts: 1_000_000,
        store: None,
        parallel: 3,
        batch: 10_000,
        samples: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mamori" => a.mamori = PathBuf::from(val()?),
            "--alerts" => a.alerts = val()?.parse()?,
            "--store" => a.store = Some(val()?),
            "--parallel" => a.parallel = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--samples" => a.samples = val()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

fn mamori(a: &Args, data: &std::path::Path, cmd: &[&str]) -> Result<String> {
    let mut c = Command::new(&a.mamori);
    c.arg("--data").arg(data).args(cmd);
    if let Some(s) = &a.store {
        c.arg("--store").arg(s);
    }
    let out = c
        .output()
        .with_context(|| format!("running {}", a.mamori.display()))?;
    if !out.status.success() {
        bail!("mamori {cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Generated alerts over the last 30 days from 2,000 hosts, a realistic mix, sent in time
/// order as sensors send them.
fn bodies(n: usize, batch: usize) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(7);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let engines = ["ids", "waf", "mail", "logs", "ids", "ids", "waf"];
    let sev = ["info", "low", "low", "medium", "medium", "high", "critical"];
    let mut out = Vec::new();
    let mut body = Vec::with_capacity(batch * 400);
    let span = 30 * 86_400_000u64;
    for i in 0..n {
        let t = now_ms - span + (i as u64 * span / n as u64) + rng.random_range(0..1000);
        let id = ulid_text(t, i as u64);
        let host = rng.random_range(1..2000);
        let e = engines[rng.random_range(0..engines.len())];
        let s = sev[rng.random_range(0..sev.len())];
        let line = format!(
            r#"{{"id":"{id}","time":"{}","engine":"{e}","rule_id":"bench.{}","rule_name":"Benchmark rule {}","severity":"{s}","summary":"Generated alert {i} on host {host}","src":{{"ip":"10.{}.{}.{}","port":{}}},"dst":{{"ip":"203.0.113.{}","port":443}},"evidence":{{"payload":"GET /index.php?id=1 HTTP/1.1","bytes":{}}}}}"#,
            rfc3339(t),
            i % 500,
            i % 500,
            host / 250,
            host % 250,
            1 + host % 7,
            1024 + i % 50000,
            rng.random_range(1..255),
            rng.random_range(100..100000)
        );
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
        if (i + 1) % batch == 0 {
            out.push(std::mem::take(&mut body));
        }
    }
    if !body.is_empty() {
        out.push(body);
    }
    out
}

/// A ULID from a millisecond time and a counter, in Crockford base32.
fn ulid_text(ms: u64, counter: u64) -> String {
    const ALPHA: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let v: u128 = ((ms as u128) << 80) | ((counter as u128) << 16) | 0xBEEF;
    (0..26)
        .rev()
        .map(|i| ALPHA[((v >> (i * 5)) & 31) as usize] as char)
        .collect()
}

fn rfc3339(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let data = std::env::temp_dir().join(format!("mamori-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(&a.mamori);
    cmd.arg("--data")
        .arg(&data)
        .args(["up", "--listen", &listen])
        .env("MAMORI_LOG", "warn")
        .stdout(Stdio::piped());
    if let Some(s) = &a.store {
        cmd.arg("--store").arg(s);
    }
    let mut child = cmd.spawn().context("starting mamori up")?;
    let stdout = child.stdout.take().context("stdout")?;
    // Keep reading stdout for the server's whole life so it never writes into a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = line.trim().strip_prefix("password:") {
                let _ = tx.send(p.trim().to_string());
            }
        }
    });
    let password = rx
        .recv_timeout(Duration::from_secs(120))
        .context("no admin password printed")?;
    while std::net::TcpStream::connect(&listen).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    mamori(&a, &data, &["tenant", "add", "bench"])?;
    let token = mamori(&a, &data, &["token", "create", "--tenant", "bench"])?
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    let base = format!("http://{listen}");
    let backend = if a.store.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    eprintln!("generating {} alerts…", a.alerts);
    let bodies = bodies(a.alerts, a.batch);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut bodies = bodies;
    bodies.reverse(); // workers pop from the end: oldest batch first
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.parallel {
        let (q, client, url, token) = (
            queue.clone(),
            client.clone(),
            format!("{base}/api/v1/events"),
            token.clone(),
        );
        tasks.spawn(async move {
            let mut stored = 0u64;
            loop {
                let body = q.lock().ok().and_then(|mut v| v.pop());
                let Some(body) = body else { break };
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .body(body)
                    .send()
                    .await?;
                let v: serde_json::Value = resp.json().await?;
                stored += v["stored"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(stored)
        });
    }
    let mut stored = 0;
    while let Some(r) = tasks.join_next().await {
        stored += r??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("[{backend}] ingest: {stored} alerts in {secs:.1} s = {:.0} alerts/s (target ≥ 50,000 on SQLite)", stored as f64 / secs);

    // Log in as the first admin.
    let nr = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = nr.get(format!("{base}/login")).send().await?;
    let login_cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mamori_login_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_string();
    let csrf = login_cookie
        .trim_start_matches("mamori_login_csrf=")
        .to_string();
    let resp = nr
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "admin@mamori.local"),
            ("password", password.as_str()),
        ])
        .send()
        .await?;
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mamori_session="))
        .and_then(|v| v.split(';').next())
        .context("login failed")?
        .to_string();

    for path in [
        "/alerts",
        "/incidents",
        "/alerts?severity=high&engine=waf",
        "/",
        "/api/v1/alerts?limit=50",
        "/api/v1/incidents?limit=50",
    ] {
        let mut times = Vec::with_capacity(a.samples);
        let mut next: Option<String> = None;
        for i in 0..a.samples {
            // Every fourth request walks to a deeper page through the cursor, as a person paging does.
            let url = match (&next, i % 4) {
                (Some(n), 3) if path.starts_with("/api/") => format!("{base}{path}&cursor={n}"),
                _ => format!("{base}{path}"),
            };
            let t = Instant::now();
            let resp = nr.get(&url).header("cookie", &session).send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            times.push(t.elapsed());
            if !status.is_success() {
                bail!("GET {path}: {status}");
            }
            if path.starts_with("/api/") {
                next = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["next"].as_str().map(str::to_string));
            }
        }
        times.sort();
        println!(
            "[{backend}] GET {path:<38} p50 {:6.1} ms  p99 {:6.1} ms  (target p99 < 100 ms)",
            pct(&times, 0.5),
            pct(&times, 0.99)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
