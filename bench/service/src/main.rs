//! `bench/service`: Mamori as a provider runs it, measured with the real `mamori` binary.
//!
//! - `console`: the provider console on PostgreSQL with 1,000 tenants and tens of millions
//!   of alerts generated in the database (`generate.rs`), then the p50/p95/p99 of the
//!   triage queue (first page, next page, one big tenant), tenant overviews and the
//!   provider's pages as a logged-in provider admin. Target: p99 < 200 ms.
//! - `forward`: a sensor's backlog forwarded to a console over loopback HTTPS, end to end.
//!   Target: ≥ 50,000 events/s.
//!
//! Usage (bench/service/run.sh prepares PostgreSQL and runs both):
//!   mamori-bench-service console --store postgres://… [--mamori target/release/mamori]
//!       [--pgdata /var/lib/postgresql/15/main] [--tenants 1000] [--alerts 50000000]
//!       [--samples 500] [--clients 4]
//!   mamori-bench-service forward [--store postgres://…] [--mamori target/release/mamori]
//!       [--events 1000000] [--batch 5000]
//!
//! `console` needs an empty database it may fill (and the caller drops afterwards); the
//! free space under --pgdata is checked after the first day is loaded. Everything listens
//! on 127.0.0.1 only. The exit status is 0 when every target is met, 2 when one is missed.

mod console;
mod forward;
mod generate;
mod latency;
mod server;

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

fn usage() -> &'static str {
    "usage: mamori-bench-service console --store postgres://… [--mamori PATH] [--pgdata DIR] \
     [--tenants N] [--alerts N] [--samples N] [--clients N]\n       \
     mamori-bench-service forward [--store postgres://…] [--mamori PATH] [--events N] [--batch N]"
}

#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let mut args = std::env::args().skip(1);
    let part = args.next().unwrap_or_default();
    let mut mamori = PathBuf::from("target/release/mamori");
    let mut store: Option<String> = None;
    let mut pgdata = "/var/lib/postgresql".to_string();
    let (mut tenants, mut alerts, mut samples, mut clients) = (1000usize, 50_000_000u64, 500, 4);
    let (mut events, mut batch) = (1_000_000usize, 5_000usize);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{}", usage()))?;
        let number = || -> Result<u64> {
            value
                .replace('_', "")
                .parse()
                .with_context(|| format!("{flag} {value:?}: not a number"))
        };
        match flag.as_str() {
            "--mamori" => mamori = PathBuf::from(&value),
            "--store" => store = Some(value.clone()).filter(|s| !s.is_empty()),
            "--pgdata" => pgdata = value.clone(),
            "--tenants" => tenants = number()? as usize,
            "--alerts" => alerts = number()?,
            "--samples" => samples = number()? as usize,
            "--clients" => clients = number()? as usize,
            "--events" => events = number()? as usize,
            "--batch" => batch = number()?.max(1) as usize,
            other => bail!("unknown flag {other}\n{}", usage()),
        }
    }
    let met = match part.as_str() {
        "console" => {
            let store = store.context("console needs --store postgres://…")?;
            if !store.starts_with("postgres") {
                bail!("console measures the PostgreSQL backend: --store postgres://…");
            }
            console::run(&console::Args {
                mamori,
                store,
                pgdata,
                tenants,
                alerts,
                samples,
                clients,
            })
            .await?
        }
        "forward" => {
            forward::run(&forward::Args {
                mamori,
                store,
                events,
                batch,
            })
            .await?
        }
        _ => bail!("{}", usage()),
    };
    Ok(if met {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}
