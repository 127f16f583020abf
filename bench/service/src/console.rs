//! Part A: the provider's console on PostgreSQL at scale. Starts `mamori up` once so that
//! it creates the schema and the provider admin, generates the month of alerts in the
//! database ([`crate::generate`]), restarts the console, checks that it answers as if it
//! had ingested them itself, then measures the triage queue, tenant overviews and the
//! provider's pages as a logged-in provider admin.

use crate::generate::{self, Plan, OPEN};
use crate::latency::{self, Endpoint};
use crate::server::{self, Auth, Mamori};
use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Duration;

pub struct Args {
    pub mamori: PathBuf,
    pub store: String,
    pub pgdata: String,
    pub tenants: usize,
    pub alerts: u64,
    pub samples: usize,
    pub clients: usize,
}

/// Runs part A; answers whether every endpoint met the target.
pub async fn run(a: &Args) -> Result<bool> {
    if a.tenants == 0 || a.alerts < a.tenants as u64 {
        bail!("need at least one tenant and one alert per tenant");
    }
    let data = std::env::temp_dir().join(format!("mamori-bench-console-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let result = run_in(a, &data).await;
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn run_in(a: &Args, data: &std::path::Path) -> Result<bool> {
    let mamori = Mamori {
        bin: a.mamori.clone(),
        data: data.to_path_buf(),
        store: Some(a.store.clone()),
    };
    server::mark_reports_made(data, (1..=a.tenants).map(|i| format!("t{i}")))?;
    let listen = format!("127.0.0.1:{}", server::free_port()?);
    let base = format!("http://{listen}");

    // The first start creates the schema and prints the provider admin's password.
    let first = mamori.up(&listen, &[])?;
    let password = first
        .password
        .clone()
        .context("mamori up printed no admin password: the database must be empty")?;
    first.stop(Duration::from_secs(30))?;

    let db = generate::connect(&a.store).await?;
    let plan = Plan {
        tenants: a.tenants,
        alerts: a.alerts,
        end_ms: now_ms() - 60_000,
        pgdata: a.pgdata.clone(),
    };
    eprintln!(
        "generating {} alerts for {} tenants over {} days in PostgreSQL…",
        a.alerts,
        a.tenants,
        generate::DAYS
    );
    let loaded = generate::load(&db, &plan).await?;
    generate::add_sensors(&db, now_ms()).await?;
    println!(
        "[console] loaded {} alerts, {} incidents ({} open) for {} tenants in {:.0} s; database {:.2} GiB ({:.0} bytes per alert)",
        a.alerts,
        loaded.incidents,
        loaded.open_incidents,
        a.tenants,
        loaded.seconds,
        loaded.bytes as f64 / (1u64 << 30) as f64,
        loaded.bytes as f64 / a.alerts as f64
    );
    check_bodies(&db).await?;

    let _console = mamori.up(&listen, &[])?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let auth = Auth::Session(server::login(&client, &base, "admin@mamori.local", &password).await?);
    check_counts(&client, &base, &auth, &db, a, loaded.open_incidents).await?;

    let first_page = server::get_json(
        &client,
        &format!("{base}/api/v1/incidents?order=triage&limit=50"),
        &auth,
    )
    .await?;
    let cursor = first_page["next"]
        .as_str()
        .context("the triage queue has no second page")?;
    let mut rng = StdRng::seed_from_u64(11);
    let random_tenants: Vec<String> = (0..a.samples.max(1))
        .map(|_| format!("t{}", rng.random_range(1..=a.tenants)))
        .collect();
    let big = "t1";
    let endpoints = [
        Endpoint {
            name: "GET /api/v1/incidents?order=triage&limit=50".into(),
            urls: vec![format!("{base}/api/v1/incidents?order=triage&limit=50")],
        },
        Endpoint {
            name: "  … second page (cursor)".into(),
            urls: vec![format!(
                "{base}/api/v1/incidents?order=triage&limit=50&cursor={cursor}"
            )],
        },
        Endpoint {
            name: format!("  … tenant={big} (the biggest)"),
            urls: vec![format!(
                "{base}/api/v1/incidents?order=triage&limit=50&tenant={big}"
            )],
        },
        Endpoint {
            name: "GET /api/v1/overview?tenant=(random)".into(),
            urls: random_tenants
                .iter()
                .map(|t| format!("{base}/api/v1/overview?tenant={t}"))
                .collect(),
        },
        Endpoint {
            name: "GET /api/v1/overview?tenant=(random)&range=30d".into(),
            urls: random_tenants
                .iter()
                .map(|t| format!("{base}/api/v1/overview?tenant={t}&range=30d"))
                .collect(),
        },
        Endpoint {
            name: "GET /api/v1/overview?range=30d (all tenants)".into(),
            urls: vec![format!("{base}/api/v1/overview?range=30d")],
        },
        Endpoint {
            name: "GET /queue (HTML)".into(),
            urls: vec![format!("{base}/queue")],
        },
        Endpoint {
            name: "GET /tenants (HTML, health per tenant)".into(),
            urls: vec![format!("{base}/tenants")],
        },
        Endpoint {
            name: "GET /?tenant=(random) (HTML overview)".into(),
            urls: random_tenants
                .iter()
                .map(|t| format!("{base}/?tenant={t}"))
                .collect(),
        },
    ];
    let mut all_met = true;
    let mut runs = vec![1];
    if a.clients > 1 {
        runs.push(a.clients);
    }
    for clients in runs {
        for e in &endpoints {
            let s = latency::measure(&client, e, &auth, a.samples, clients).await?;
            all_met &= s.p99 < latency::TARGET_P99_MS;
            println!("[console] {}", latency::line(&e.name, clients, &s));
        }
    }
    println!(
        "[console] {} tenants, {} alerts: target p99 < {:.0} ms {}",
        a.tenants,
        a.alerts,
        latency::TARGET_P99_MS,
        if all_met { "met" } else { "MISSED" }
    );
    Ok(all_met)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A sample of generated rows read back as the store reads them: each body decodes to an
/// alert that serialises to the same text, with the row's id, time, tenant and asset.
async fn check_bodies(db: &tokio_postgres::Client) -> Result<()> {
    let rows = db
        .query(
            "SELECT id, tenant, time_ms, asset, body FROM alerts TABLESAMPLE SYSTEM (1) LIMIT 500",
            &[],
        )
        .await?;
    for row in &rows {
        let (id, tenant, time_ms, asset, body): (String, String, i64, Option<String>, String) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        );
        let alert: mamori_core::Alert = serde_json::from_str(&body)
            .with_context(|| format!("generated body does not decode: {body}"))?;
        let again = serde_json::to_string(&alert)?;
        if again != body
            || alert.id.to_string() != id
            || alert.tenant != tenant
            || mamori_core::unix_ms(alert.time) != time_ms
            || alert.asset().map(|a| a.key()) != asset
        {
            bail!("generated alert differs from what the store writes:\n  row  {id} {tenant} {time_ms} {asset:?}\n  body {body}\n  as stored {again}");
        }
    }
    let incidents = db
        .query(
            "SELECT i.id, i.alert_count, (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id)
             FROM incidents i TABLESAMPLE SYSTEM (1) LIMIT 20",
            &[],
        )
        .await?;
    for row in &incidents {
        let (id, count, actual): (String, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if count != actual {
            bail!("incident {id} counts {count} alerts but holds {actual}");
        }
    }
    println!(
        "[console] checked {} generated alert bodies against the store's serialisation and {} incidents' alert counts",
        rows.len(),
        incidents.len()
    );
    Ok(())
}

/// The console's own answers agree with what was generated: alerts over all tenants and
/// for the biggest one, open incidents, and the queue's head.
async fn check_counts(
    client: &reqwest::Client,
    base: &str,
    auth: &Auth,
    db: &tokio_postgres::Client,
    a: &Args,
    open: i64,
) -> Result<()> {
    let all = server::get_json(client, &format!("{base}/api/v1/overview?range=30d"), auth).await?;
    let t1_expected = generate::shares(a.tenants, a.alerts)[0].alerts;
    let t1 = server::get_json(
        client,
        &format!("{base}/api/v1/overview?range=30d&tenant=t1"),
        auth,
    )
    .await?;
    let t1_open: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM incidents WHERE tenant = 't1' AND {OPEN}"),
            &[],
        )
        .await?
        .try_get(0)?;
    let head = server::get_json(
        client,
        &format!("{base}/api/v1/incidents?order=triage&limit=1"),
        auth,
    )
    .await?;
    let checks = [
        (
            "alerts, all tenants",
            all["total"].as_i64(),
            a.alerts as i64,
        ),
        (
            "open incidents, all tenants",
            all["open_incidents"].as_i64(),
            open,
        ),
        ("alerts, t1", t1["total"].as_i64(), t1_expected),
        ("open incidents, t1", t1["open_incidents"].as_i64(), t1_open),
    ];
    for (what, got, want) in checks {
        if got != Some(want) {
            bail!("the console reports {got:?} {what}, {want} were generated");
        }
    }
    let first = &head["items"][0];
    println!(
        "[console] the console counts {} alerts and {} open incidents as generated; queue head: {} {} {}",
        a.alerts,
        open,
        first["severity"].as_str().unwrap_or("?"),
        first["tenant"].as_str().unwrap_or("?"),
        first["title"].as_str().unwrap_or("?")
    );
    Ok(())
}
