//! Part B: sensor → console forwarding over loopback HTTPS. A console with a self-signed
//! certificate and a sensor (`mamori up --role sensor`) pointing at it; with the console
//! down, N events are pushed into the sensor's local ingest API, where they wait in its
//! spool; then the console starts, the sensor is restarted (so that no retry backoff left
//! over from the outage counts), and the time until the console counts all N gives the
//! throughput end to end: TLS, the sensor's spool reads, the console's parsing, correlation
//! and storage. On PostgreSQL the anchor is the database alone writing the same rows with
//! the same indexes (`postgres_alone`), measured right after on the same busy machine: the
//! store's ceiling, since one tenant's batches are written one at a time by one backend.

use crate::server::{self, Auth, Mamori};
use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The target.
pub const TARGET_EVENTS_PER_S: f64 = 50_000.0;

pub struct Args {
    pub mamori: PathBuf,
    /// The console's store: PostgreSQL URL, or `None` for the embedded SQLite.
    pub store: Option<String>,
    pub events: usize,
    pub batch: usize,
}

pub async fn run(a: &Args) -> Result<bool> {
    let dir = std::env::temp_dir().join(format!("mamori-bench-forward-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(a, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A self-signed certificate for 127.0.0.1: (cert.pem, key.pem).
fn certificate(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .context("running openssl (apt-get install openssl)")?;
    if !out.status.success() {
        bail!(
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((cert, key))
}

/// `n` alerts in NDJSON batches of `batch` lines: a realistic mix from 2,000 hosts over the
/// last ten minutes, each with its id so that a resend is stored once.
fn batches(n: usize, batch: usize) -> Result<Vec<Vec<u8>>> {
    let mut rng = StdRng::seed_from_u64(5);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let engines = ["ids", "ids", "ids", "waf", "mail", "logs"];
    let severities = ["info", "low", "low", "medium", "medium", "high", "critical"];
    let mut out = Vec::new();
    let mut body = Vec::with_capacity(batch * 450);
    for i in 0..n {
        let ms = now_ms - 600_000 + (i as u64 * 600_000 / n as u64);
        let id = ulid::Ulid::from_parts(ms, rng.random::<u128>());
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)?
            .format(&time::format_description::well_known::Rfc3339)?;
        let host = rng.random_range(1..2000u32);
        let engine = engines[rng.random_range(0..engines.len())];
        let severity = severities[rng.random_range(0..severities.len())];
        let rule = rng.random_range(0..40u32);
        let line = serde_json::json!({
            "id": id.to_string(),
            "time": time,
            "sensor": "bench",
            "engine": engine,
            "rule_id": format!("{engine}.bench_{rule}"),
            "rule_name": format!("Benchmark rule {rule}"),
            "severity": severity,
            "src": {"ip": format!("10.1.{}.{}", host / 250, host % 250 + 1), "port": 49152 + (i % 16000)},
            "dst": {"ip": format!("203.0.113.{}", rng.random_range(1..255u32)), "port": 443},
            "summary": format!("Generated alert {i} on host {host}"),
            "evidence": {"payload": "GET /index.php?id=1 HTTP/1.1", "bytes": rng.random_range(100..100_000u32)},
        });
        serde_json::to_writer(&mut body, &line)?;
        body.push(b'\n');
        if (i + 1) % batch == 0 {
            out.push(std::mem::take(&mut body));
        }
    }
    if !body.is_empty() {
        out.push(body);
    }
    Ok(out)
}

async fn run_in(a: &Args, dir: &Path) -> Result<bool> {
    let (cert, key) = certificate(dir)?;
    let console_dir = dir.join("console");
    let sensor_dir = dir.join("sensor");
    std::fs::create_dir_all(&console_dir)?;
    std::fs::write(
        console_dir.join("mamori.toml"),
        format!(
            "[console]\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )?;
    let console = Mamori {
        bin: a.mamori.clone(),
        data: console_dir.clone(),
        store: a.store.clone(),
    };
    console.run(&["tenant", "add", "fwd"])?;
    let token = console.token("fwd")?;
    server::mark_reports_made(&console_dir, std::iter::once("fwd".to_string()))?;
    let console_listen = format!("127.0.0.1:{}", server::free_port()?);
    let console_base = format!("https://{console_listen}");
    let sensor_listen = format!("127.0.0.1:{}", server::free_port()?);
    let sensor_base = format!("http://{sensor_listen}");
    let sensor = Mamori {
        bin: a.mamori.clone(),
        data: sensor_dir,
        store: None,
    };
    let cert_text = cert.display().to_string();
    let sensor_flags = [
        "--role",
        "sensor",
        "--console",
        console_base.as_str(),
        "--token",
        token.as_str(),
        "--ca",
        cert_text.as_str(),
        "--sensor-name",
        "bench",
    ];
    let backend = if a.store.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    // The console is down: everything pushed waits in the sensor's spool.
    let running = sensor.up(&sensor_listen, &sensor_flags)?;
    eprintln!("generating {} events…", a.events);
    let bodies = batches(a.events, a.batch)?;
    let local = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let auth = Auth::Bearer(token.clone());
    let started = Instant::now();
    let mut spooled = 0u64;
    for body in bodies {
        let resp = local
            .post(format!("{sensor_base}/api/v1/events"))
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .context("pushing events into the sensor")?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await.with_context(|| {
            format!("the sensor's answer to a batch of events ({status}) is not JSON")
        })?;
        if !status.is_success() {
            bail!("the sensor refused a batch: {status} {answer}");
        }
        spooled += answer["stored"].as_u64().unwrap_or(0);
    }
    let push_s = started.elapsed().as_secs_f64();
    if spooled != a.events as u64 {
        bail!("the sensor spooled {spooled} of {} events", a.events);
    }
    println!(
        "[forward/{backend}] {spooled} events spooled by the sensor in {push_s:.1} s ({:.0} events/s) with the console down",
        spooled as f64 / push_s
    );
    let status = server::get_json(&local, &format!("{sensor_base}/api/v1/sensor"), &auth).await?;
    println!("[forward/{backend}] sensor status before: {status}");
    running.stop(Duration::from_secs(60))?;

    // The console comes back; the sensor restarts with its backlog.
    let started = Instant::now();
    let _console = console.up(&console_listen, &[])?;
    let console_ready = started.elapsed().as_secs_f64();
    let running = sensor.up(&sensor_listen, &sensor_flags)?;
    let tls = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert)?)?)
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = started + Duration::from_secs(120 + (a.events / 2_000) as u64);
    let mut first: Option<(f64, i64)> = None;
    let total = loop {
        let counts = server::get_json(&tls, &format!("{console_base}/api/v1/overview"), &auth)
            .await
            .context("asking the console over HTTPS")?;
        let total = counts["total"].as_i64().unwrap_or(0);
        if total > 0 && first.is_none() {
            first = Some((started.elapsed().as_secs_f64(), total));
        }
        if total >= a.events as i64 {
            break total;
        }
        if Instant::now() > deadline {
            bail!(
                "the console holds {total} of {} events after {:.0} s",
                a.events,
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = started.elapsed().as_secs_f64();
    let rate = total as f64 / took;
    let status = server::get_json(&local, &format!("{sensor_base}/api/v1/sensor"), &auth).await?;
    println!("[forward/{backend}] sensor status after: {status}");
    if let Some((at, n)) = first {
        println!(
            "[forward/{backend}] console listening after {console_ready:.1} s, first {n} events stored after {at:.1} s; from then {:.0} events/s",
            (total - n) as f64 / (took - at).max(1e-3)
        );
    }
    let met = rate >= TARGET_EVENTS_PER_S;
    println!(
        "[forward/{backend}] {total} events forwarded over HTTPS and stored in {took:.1} s from the console's start: {rate:.0} events/s   target ≥ {TARGET_EVENTS_PER_S:.0} events/s: {}",
        if met { "met" } else { "MISSED" }
    );
    running.stop(Duration::from_secs(30))?;
    if let Some(url) = &a.store {
        let rate = postgres_alone(url).await?;
        println!(
            "[forward/{backend}] anchor: PostgreSQL alone copies the same {total} rows into a table with the same indexes at {rate:.0} rows/s (Mamori end to end: {:.0}% of that)",
            100.0 * (total as f64 / took) / rate
        );
    }
    Ok(met)
}

/// The anchor for the PostgreSQL run, measured on the same machine at the same moment: the
/// rows the console stored, copied by PostgreSQL itself (no network, parsing or
/// correlation) into a table with the same indexes, in one statement. Answers rows/s.
async fn postgres_alone(url: &str) -> Result<f64> {
    let (db, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL for the anchor")?;
    tokio::spawn(connection);
    db.batch_execute(
        "DROP TABLE IF EXISTS bench_anchor;
         CREATE TABLE bench_anchor (LIKE alerts INCLUDING ALL);",
    )
    .await?;
    let started = Instant::now();
    let rows = db
        .execute(
            "INSERT INTO bench_anchor SELECT * FROM alerts ORDER BY time_ms, id",
            &[],
        )
        .await?;
    let took = started.elapsed().as_secs_f64();
    db.batch_execute("DROP TABLE bench_anchor").await?;
    Ok(rows as f64 / took.max(1e-3))
}
