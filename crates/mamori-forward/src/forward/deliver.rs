//! Delivering one batch: POST it, read the console's answer, retry until it is settled.
//!
//! How answers are treated:
//! - 2xx with the ingest answer: settled. Lines listed in `errors` are refused for good
//!   (invalid, wrong tenant); they are logged and counted, not resent.
//! - 400 with an ingest answer listing errors: every line was refused; same as above.
//! - 413: the batch is split in two at a line boundary and each half sent; a single line
//!   too large for the console is refused.
//! - Anything else (connection failure, timeout, 5xx, 429, 401/403, another 4xx, an answer
//!   that is not the ingest answer): the batch is kept and sent again after an exponential
//!   backoff with jitter. Nothing is dropped because the console is unhappy.

use super::status::Failure;
use super::Ctx;
use crate::Batch;
use rand::Rng;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Larger answers are not read (the real one is a few bytes per refused line).
const MAX_ANSWER: usize = 4 << 20;
/// Refused lines logged one by one per answer; the rest are only counted.
const LOGGED_REFUSALS: usize = 10;

/// The console's answer to `POST /api/v1/events`.
#[derive(Debug, Deserialize)]
struct IngestAnswer {
    #[serde(default)]
    stored: u64,
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    skipped: u64,
    errors: Vec<LineError>,
}

#[derive(Debug, Deserialize)]
struct LineError {
    line: usize,
    error: String,
}

enum Answer {
    Taken(IngestAnswer),
    TooLarge,
    Retry(Failure),
}

/// Sends `batch` until every line in it is taken or refused.
pub(crate) async fn deliver(ctx: Arc<Ctx>, batch: Batch) {
    let mut backoff = Backoff::new(ctx.config.retry_min, ctx.config.retry_max);
    let mut chunks = VecDeque::from([batch.lines]);
    while let Some(chunk) = chunks.pop_front() {
        let events = count_lines(&chunk);
        loop {
            match send(&ctx, &chunk, events).await {
                Answer::Taken(answer) => {
                    ctx.status.success(ctx.url.as_str());
                    report_refusals(&ctx, &chunk, &answer, batch.start);
                    backoff.reset();
                    break;
                }
                Answer::TooLarge if events > 1 => {
                    ctx.status.success(ctx.url.as_str());
                    let (first, second) = split(&chunk);
                    tracing::debug!(
                        bytes = chunk.len(),
                        "console says the batch is too large; splitting it"
                    );
                    chunks.push_front(second);
                    chunks.push_front(first);
                    break;
                }
                Answer::TooLarge => {
                    ctx.status.success(ctx.url.as_str());
                    tracing::warn!(
                        segment = batch.start.segment,
                        offset = batch.start.offset,
                        bytes = chunk.len(),
                        id = line_id(&chunk, 1).unwrap_or_default(),
                        "the console refuses an alert larger than its ingest limit; dropping it"
                    );
                    ctx.status.refused(1);
                    break;
                }
                Answer::Retry(failure) => {
                    ctx.status.failure(ctx.url.as_str(), &failure);
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }
}

/// An empty request: tells the console the sensor is alive and how much it holds. Failures
/// only matter to the next delivery, which reports them.
pub(crate) async fn heartbeat(ctx: &Ctx) {
    if let Answer::Retry(f) = send(ctx, &[], 0).await {
        tracing::debug!(failure = %f.message, "heartbeat not answered");
    }
}

async fn send(ctx: &Ctx, chunk: &[u8], events: u64) -> Answer {
    let spool = ctx.spool.stats();
    let mut request = ctx
        .client
        .post(ctx.url.clone())
        .header(AUTHORIZATION, ctx.auth.clone())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )
        .header("x-mamori-sensor", ctx.sensor.clone())
        .header("x-mamori-backlog", spool.backlog_events);
    if let Some(ms) = spool.oldest_unsent_ms {
        request = request.header("x-mamori-oldest-ms", ms);
    }
    ctx.status.sent(events);
    let mut response = match request.body(chunk.to_vec()).send().await {
        Ok(r) => r,
        Err(e) => return Answer::Retry(transport_failure(&e)),
    };
    let code = response.status();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(part)) if body.len() + part.len() <= MAX_ANSWER => {
                body.extend_from_slice(&part)
            }
            Ok(Some(_)) => break,
            Ok(None) => break,
            Err(e) => return Answer::Retry(transport_failure(&e)),
        }
    }
    let answer = serde_json::from_slice::<IngestAnswer>(&body).ok();
    match (code, answer) {
        (c, Some(a)) if c.is_success() => Answer::Taken(a),
        (StatusCode::BAD_REQUEST, Some(a)) if !a.errors.is_empty() => Answer::Taken(a),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => Answer::TooLarge,
        (c, _) if c.is_success() => Answer::Retry(Failure {
            kind: "unexpected answer".into(),
            message: format!(
                "the console answered {c} but not with an ingest answer: {}",
                excerpt(&body)
            ),
        }),
        (c @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), _) => Answer::Retry(Failure {
            kind: format!("HTTP {}", c.as_u16()),
            message: format!(
                "the console refuses the sensor's token ({c}): {}",
                excerpt(&body)
            ),
        }),
        (c, _) => Answer::Retry(Failure {
            kind: format!("HTTP {}", c.as_u16()),
            message: format!("the console answered {c}: {}", excerpt(&body)),
        }),
    }
}

fn report_refusals(ctx: &Ctx, chunk: &[u8], answer: &IngestAnswer, start: crate::Position) {
    if answer.errors.is_empty() {
        return;
    }
    for e in answer.errors.iter().take(LOGGED_REFUSALS) {
        tracing::warn!(
            line = e.line,
            id = line_id(chunk, e.line).unwrap_or_default(),
            reason = %e.error,
            segment = start.segment,
            offset = start.offset,
            "the console refused an alert; it will not be sent again"
        );
    }
    tracing::debug!(
        stored = answer.stored,
        duplicates = answer.duplicates,
        skipped = answer.skipped,
        refused = answer.errors.len(),
        "batch answered with refusals"
    );
    ctx.status.refused(answer.errors.len() as u64);
}

/// The `id` of the alert on 1-based `line` of `chunk`, for logs.
fn line_id(chunk: &[u8], line: usize) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let text = chunk.split(|b| *b == b'\n').nth(line.checked_sub(1)?)?;
    serde_json::from_slice::<Id>(text).ok().map(|i| i.id)
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "transport"
    };
    // reqwest's own message is terse; the causes say "connection refused" or "invalid
    // peer certificate".
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Failure {
        kind: kind.into(),
        message,
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_string()
}

fn count_lines(chunk: &[u8]) -> u64 {
    let n = chunk.iter().filter(|b| **b == b'\n').count() as u64;
    if chunk.last().is_some_and(|b| *b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// Two halves of a chunk of several lines, split at the newline nearest the middle.
fn split(chunk: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
    let middle = body.len() / 2;
    let cut = body[..middle]
        .iter()
        .rposition(|b| *b == b'\n')
        .or_else(|| {
            body[middle..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| i + middle)
        })
        .map_or(chunk.len(), |i| i + 1);
    (chunk[..cut].to_vec(), chunk[cut..].to_vec())
}

/// Exponential backoff with jitter: each wait is a random time between half and all of the
/// current step, which doubles up to `max`.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            step: min,
        }
    }

    pub fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_splits_at_a_line_boundary() {
        let chunk = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n".to_vec();
        let (a, b) = split(&chunk);
        assert!(a.ends_with(b"\n") && b.ends_with(b"\n"));
        assert!(!a.is_empty() && !b.is_empty());
        assert_eq!([a, b].concat(), chunk);
        assert_eq!(count_lines(&chunk), 3);
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_never_spins() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        let waits: Vec<_> = (0..20).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(30)));
        assert!(waits[19] >= Duration::from_secs(15));
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
