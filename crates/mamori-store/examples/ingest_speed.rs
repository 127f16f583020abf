//! A throughput check to run by hand, not a test: ingests generated alerts in batches into a
//! fresh store and prints alerts per second, then the latency of the console's usual queries
//! at that size.
//!
//! ```text
//! cargo run --release -p mamori-store --example ingest_speed -- [ALERTS] [MODE] [POSTGRES_URL]
//! ```
//!
//! `ALERTS` defaults to 200,000, in batches of 5,000, over 4 tenants and 2,000 hosts, with a
//! one-hour correlation window. `MODE` says how alert times and hosts are drawn:
//!
//! - `ordered` (the default): times rise evenly over 30 days, hosts uniformly. Nearly every
//!   alert is hours from the last one on its host, so most open an incident: the worst case.
//! - `scattered`: as `ordered` but in random time order, as a sensor catching up or the HTTP
//!   benchmark sends them; also a worst case for index locality.
//! - `live`: times rise over the last 24 hours and a tenth of the hosts raise most alerts,
//!   as a day of real traffic looks; most alerts join an open incident.
//!
//! Without a URL the store is SQLite in a temporary directory, deleted afterwards; with one
//! it is PostgreSQL, which must be empty.

use mamori_core::{Alert, Asset, AssetKind, Engine, Scope, Severity};
use mamori_store::{AlertQuery, DynStore, IncidentQuery};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const BATCH: usize = 5_000;
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// xorshift64*: reproducible input without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ordered,
    Scattered,
    Live,
}

fn generate(n: usize, mode: Mode) -> Vec<Alert> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = OffsetDateTime::now_utc();
    let span = if mode == Mode::Live {
        86_400_000i64
    } else {
        30 * 86_400_000i64
    };
    let engines = [
        Engine::Ids,
        Engine::Waf,
        Engine::Mail,
        Engine::Logs,
        Engine::Ids,
        Engine::Ids,
        Engine::Waf,
    ];
    let severities = [
        Severity::Info,
        Severity::Low,
        Severity::Low,
        Severity::Medium,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    (0..n)
        .map(|i| {
            let ago_ms = if mode == Mode::Scattered {
                rng.below(span as u64) as i64
            } else {
                span - span * i as i64 / n as i64
            };
            let engine = engines[rng.below(engines.len() as u64) as usize];
            let severity = severities[rng.below(severities.len() as u64) as usize];
            let host = if mode == Mode::Live && rng.below(10) < 8 {
                rng.below(200)
            } else {
                rng.below(2000)
            };
            let rule = i % 500;
            let mut a = Alert::new(
                engine,
                format!("bench.{rule}"),
                format!("Benchmark rule {rule}"),
                severity,
                format!("Generated alert {i} on host {host}"),
            );
            a.time = now - time::Duration::milliseconds(ago_ms);
            a.tenant = TENANTS[rng.below(TENANTS.len() as u64) as usize].to_string();
            a.asset = Some(Asset::new(
                AssetKind::Host,
                format!("10.{}.{}.{}", host / 250, host % 250, 1 + host % 7),
            ));
            a.dst.ip = Some([203, 0, 113, 7].into());
            a.evidence = serde_json::json!({"payload": "GET /index.php?id=1 HTTP/1.1", "bytes": i});
            a
        })
        .collect()
}

/// Runs `f` `runs` times and answers (median, p99, max).
async fn time_it<F, Fut>(runs: usize, mut f: F) -> (Duration, Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await;
        took.push(start.elapsed());
    }
    took.sort();
    let p99 = took[(runs * 99 / 100).min(runs - 1)];
    (took[runs / 2], p99, took[runs - 1])
}

async fn report_query(store: &DynStore, name: &str, scope: Scope, q: AlertQuery) {
    let first = Instant::now();
    let page = store.alerts(&scope, &q).await.expect("alerts");
    let first = first.elapsed();
    let (p50, p99, max) = time_it(50, || async {
        store.alerts(&scope, &q).await.expect("alerts");
    })
    .await;
    println!(
        "  {name:<44} first {first:>9.2?}  p50 {p50:>9.2?}  p99 {p99:>9.2?}  max {max:>9.2?}  ({} rows)",
        page.items.len()
    );
}

/// Bytes this process has caused to be written to storage (Linux only).
fn written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .and_then(|a| a.replace(['_', ','], "").parse().ok())
        .unwrap_or(200_000);
    let mode = match args.get(1).map(String::as_str) {
        None | Some("ordered") => Mode::Ordered,
        Some("scattered") => Mode::Scattered,
        Some("live") => Mode::Live,
        Some(other) => {
            eprintln!("unknown mode {other:?}: use ordered, scattered or live");
            std::process::exit(2);
        }
    };
    let url = args.get(2).cloned().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("mamori-ingest-speed-{}", ulid::Ulid::new()));
    let store = mamori_store::open(&url, &dir.join("mamori.db"))
        .await
        .expect("open store");
    for t in TENANTS {
        store.create_tenant(t, t).await.expect("create tenant");
    }

    let alerts = generate(n, mode);
    let window = time::Duration::hours(1);
    println!(
        "{}: {n} {} alerts in batches of {BATCH}",
        store.backend(),
        match mode {
            Mode::Ordered => "ordered",
            Mode::Scattered => "scattered",
            Mode::Live => "live",
        }
    );
    let start = Instant::now();
    let mut opened = 0;
    let mut slowest = Duration::ZERO;
    for batch in alerts.chunks(BATCH) {
        let t = Instant::now();
        opened += store
            .ingest(batch, window)
            .await
            .expect("ingest")
            .incidents_opened;
        slowest = slowest.max(t.elapsed());
    }
    let took = start.elapsed();
    println!(
        "ingest: {:.0} alerts/s ({took:.2?} total, slowest batch {slowest:.2?}, {opened} incidents opened)",
        n as f64 / took.as_secs_f64()
    );
    if let Some(bytes) = written_bytes() {
        println!(
            "written to disk so far: {:.0} MiB ({:.1} KiB per alert)",
            bytes as f64 / 1048576.0,
            bytes as f64 / 1024.0 / n as f64
        );
    }

    if !url.is_empty() {
        // Steady-state statistics, as autovacuum would soon gather after a bulk load.
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect for ANALYZE");
        tokio::spawn(conn);
        client.batch_execute("ANALYZE").await.expect("ANALYZE");
    }
    println!("queries (first call, then 50 runs):");
    report_query(
        &store,
        "alerts, first page",
        Scope::All,
        AlertQuery::default(),
    )
    .await;
    report_query(
        &store,
        "alerts, tenant scope",
        Scope::Tenant("acme".into()),
        AlertQuery::default(),
    )
    .await;
    report_query(
        &store,
        "alerts, severity>=high engine=waf",
        Scope::All,
        AlertQuery {
            min_severity: Some(Severity::High),
            engine: Some(Engine::Waf),
            ..Default::default()
        },
    )
    .await;
    report_query(
        &store,
        "alerts, tenant + critical + mail",
        Scope::Tenant("globex".into()),
        AlertQuery {
            min_severity: Some(Severity::Critical),
            engine: Some(Engine::Mail),
            ..Default::default()
        },
    )
    .await;
    report_query(
        &store,
        "alerts, tenant + asset",
        Scope::Tenant("acme".into()),
        AlertQuery {
            asset: Some("host:10.0.17.4".into()),
            ..Default::default()
        },
    )
    .await;
    report_query(
        &store,
        "alerts, text \"rule 42\"",
        Scope::All,
        AlertQuery {
            text: Some("rule 42".into()),
            ..Default::default()
        },
    )
    .await;
    let deep = store
        .alerts(
            &Scope::All,
            &AlertQuery {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .expect("alerts");
    report_query(
        &store,
        "alerts, page after 500",
        Scope::All,
        AlertQuery {
            cursor: deep.next,
            ..Default::default()
        },
    )
    .await;

    let (p50, p99, _) = time_it(50, || async {
        store
            .incidents(&Scope::All, &IncidentQuery::default())
            .await
            .expect("incidents");
    })
    .await;
    println!(
        "  {:<44} p50 {p50:>9.2?}  p99 {p99:>9.2?}",
        "incidents, first page"
    );
    let (p50, p99, _) = time_it(50, || async {
        store
            .incidents(
                &Scope::Tenant("acme".into()),
                &IncidentQuery {
                    open_only: true,
                    min_severity: Some(Severity::High),
                    ..Default::default()
                },
            )
            .await
            .expect("incidents");
    })
    .await;
    println!(
        "  {:<44} p50 {p50:>9.2?}  p99 {p99:>9.2?}",
        "incidents, tenant open high"
    );
    let now = OffsetDateTime::now_utc();
    for (name, since, bucket) in [
        (
            "alert_counts, 24h by hour",
            time::Duration::hours(24),
            time::Duration::hours(1),
        ),
        (
            "alert_counts, 30d by day",
            time::Duration::days(30),
            time::Duration::days(1),
        ),
    ] {
        let (p50, p99, _) = time_it(20, || async {
            store
                .alert_counts(&Scope::All, now - since, bucket)
                .await
                .expect("counts");
        })
        .await;
        println!("  {name:<44} p50 {p50:>9.2?}  p99 {p99:>9.2?}");
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
