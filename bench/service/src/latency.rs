//! Response times of one console endpoint: N requests one after another or from several
//! clients at once, each read to its end, summarised as percentiles against the target.

use crate::server::Auth;
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// The target for every page and API call measured here.
pub const TARGET_P99_MS: f64 = 200.0;

/// One endpoint to measure: the URLs are requested in turn (a different tenant each time,
/// say), cycling when there are fewer URLs than samples.
pub struct Endpoint {
    pub name: String,
    pub urls: Vec<String>,
}

pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

pub fn summarise(mut times: Vec<Duration>) -> Summary {
    times.sort();
    Summary {
        p50: percentile(&times, 0.50),
        p95: percentile(&times, 0.95),
        p99: percentile(&times, 0.99),
        max: percentile(&times, 1.0),
    }
}

async fn one(client: &reqwest::Client, url: &str, auth: &Auth) -> Result<Duration> {
    let started = Instant::now();
    let resp = auth
        .apply(client.get(url))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
    let took = started.elapsed();
    if !status.is_success() {
        bail!(
            "GET {url}: {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(took)
}

/// `samples` requests spread over `clients` concurrent clients (1: one after another).
pub async fn measure(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    auth: &Auth,
    samples: usize,
    clients: usize,
) -> Result<Summary> {
    if endpoint.urls.is_empty() {
        bail!("{}: no URL to request", endpoint.name);
    }
    // One unmeasured request per URL kind warms the connection and the server's caches of
    // prepared statements, as a console in service has them.
    one(client, &endpoint.urls[0], auth).await?;
    let clients = clients.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, auth) = (client.clone(), auth.clone());
        let urls: Vec<String> = (0..samples)
            .filter(|i| i % clients == c)
            .map(|i| endpoint.urls[i % endpoint.urls.len()].clone())
            .collect();
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(urls.len());
            for url in &urls {
                times.push(one(&client, url, &auth).await?);
            }
            anyhow::Ok(times)
        });
    }
    let mut times = Vec::with_capacity(samples);
    while let Some(r) = tasks.join_next().await {
        times.extend(r.context("a measuring task failed")??);
    }
    Ok(summarise(times))
}

/// One line of the report, with whether the target is met.
pub fn line(name: &str, clients: usize, s: &Summary) -> String {
    let verdict = if s.p99 < TARGET_P99_MS {
        "met"
    } else {
        "MISSED"
    };
    format!(
        "{name:<46} x{clients}  p50 {:7.1}  p95 {:7.1}  p99 {:7.1}  max {:7.1} ms   target p99 < {TARGET_P99_MS:.0} ms: {verdict}",
        s.p50, s.p95, s.p99, s.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = summarise(times);
        assert_eq!(s.p50.round(), 51.0);
        assert_eq!(s.p99.round(), 99.0);
        assert_eq!(s.max.round(), 100.0);
    }
}
