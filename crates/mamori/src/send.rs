//! `mamori send`: posts NDJSON events from a file or stdin to a console in batches, several
//! requests at a time, and reports what was stored and which input lines were refused.

use anyhow::{Context, Result};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::task::JoinSet;

#[derive(serde::Deserialize, Default)]
struct Answer {
    #[serde(default)]
    stored: usize,
    #[serde(default)]
    duplicates: usize,
    #[serde(default)]
    skipped: usize,
    #[serde(default)]
    errors: Vec<LineError>,
}

#[derive(serde::Deserialize)]
struct LineError {
    line: usize,
    error: String,
}

pub async fn send(
    file: Option<PathBuf>,
    url: &str,
    token: &str,
    batch: usize,
    parallel: usize,
) -> Result<ExitCode> {
    let endpoint = format!("{}/api/v1/events", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let auth = Arc::new(format!("Bearer {token}"));
    let reader: Box<dyn BufRead + Send> = match file.as_ref().filter(|f| f.as_os_str() != "-") {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Vec<u8>)>(parallel.max(1));
    // Reading happens on a blocking thread so a slow stdin never stalls the requests.
    let reading = tokio::task::spawn_blocking(move || -> Result<usize> {
        let mut first_line = 1;
        let mut body = Vec::new();
        let mut lines = 0;
        let mut total = 0;
        for line in reader.split(b'\n') {
            let line = line.context("reading events")?;
            body.extend_from_slice(&line);
            body.push(b'\n');
            lines += 1;
            total += 1;
            if lines == batch.max(1) {
                if tx
                    .blocking_send((first_line, std::mem::take(&mut body)))
                    .is_err()
                {
                    break;
                }
                first_line += lines;
                lines = 0;
            }
        }
        if lines > 0 {
            let _ = tx.blocking_send((first_line, body));
        }
        Ok(total)
    });
    let mut inflight = JoinSet::new();
    let mut sum = Answer::default();
    let mut failed_requests = 0;
    let started = std::time::Instant::now();
    let mut collect = |res: Result<Result<(usize, Answer)>, tokio::task::JoinError>,
                       sum: &mut Answer| match res {
        Ok(Ok((first, a))) => {
            sum.stored += a.stored;
            sum.duplicates += a.duplicates;
            sum.skipped += a.skipped;
            for e in a.errors {
                let line = if e.line == 0 {
                    first
                } else {
                    first + e.line - 1
                };
                sum.errors.push(LineError {
                    line,
                    error: e.error,
                });
            }
        }
        Ok(Err(e)) => {
            failed_requests += 1;
            eprintln!("error: {e:#}");
        }
        Err(e) => {
            failed_requests += 1;
            eprintln!("error: {e}");
        }
    };
    while let Some((first, body)) = rx.recv().await {
        while inflight.len() >= parallel.max(1) {
            if let Some(res) = inflight.join_next().await {
                collect(res, &mut sum);
            }
        }
        let (client, endpoint, auth) = (client.clone(), endpoint.clone(), auth.clone());
        inflight.spawn(async move {
            let resp = client
                .post(&endpoint)
                .header("authorization", auth.as_str())
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .with_context(|| format!("posting lines from {first} to {endpoint}"))?;
            let status = resp.status();
            let text = resp.text().await.context("reading the answer")?;
            match serde_json::from_str::<Answer>(&text) {
                Ok(a) if status.is_success() || !a.errors.is_empty() => Ok((first, a)),
                _ => anyhow::bail!(
                    "lines from {first}: the console answered {status}: {}",
                    text.trim()
                ),
            }
        });
    }
    while let Some(res) = inflight.join_next().await {
        collect(res, &mut sum);
    }
    let total = reading.await.context("reading events")??;
    sum.errors.sort_by_key(|e| e.line);
    for e in &sum.errors {
        eprintln!("line {}: {}", e.line, e.error);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "read {total} lines: stored {}, duplicates {}, skipped {}, refused {} ({:.0} lines/s)",
        sum.stored,
        sum.duplicates,
        sum.skipped,
        sum.errors.len(),
        total as f64 / secs.max(1e-9)
    );
    Ok(if sum.errors.is_empty() && failed_requests == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
