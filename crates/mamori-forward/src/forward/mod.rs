//! The forwarder: sends the spool to the console, in order of acknowledgement.
//!
//! It reads batches of whole lines (at most [`ForwardConfig::batch_bytes`], below the
//! console's `ingest_max_bytes`) from the spool's ack position on and keeps up to
//! [`ForwardConfig::in_flight`] requests going at once. Batches may finish in any order; the
//! spool's ack position advances only over a contiguous run of finished batches, so after a
//! crash everything not yet acknowledged is sent again (the console stores an id once).
//!
//! Each request is `POST {url}/api/v1/events` with:
//! - `Authorization: Bearer <tenant token>`, `Content-Type: application/x-ndjson`;
//! - `X-Mamori-Sensor: <sensor name>`;
//! - `X-Mamori-Backlog: <alerts in the spool not yet acknowledged>`;
//! - `X-Mamori-Oldest-Ms: <time of the oldest of them, Unix ms>` (absent when unknown);
//!
//! so the console can show each sensor's last contact and lag.
//!
//! Transport: HTTPS with rustls, trusting the webpki roots plus, when
//! [`ForwardConfig::ca_file`] is set, the certificates in that PEM file (a private CA or the
//! console's self-signed certificate). Plain `http://` is accepted only for loopback
//! addresses (`127.0.0.0/8`, `::1`, `localhost`), for a console on the same host or behind
//! a local TLS tunnel; anything else is refused when the forwarder is built.

mod deliver;
mod status;

pub use status::ForwardStatus;

use crate::{Error, Position, Spool};
use reqwest::header::HeaderValue;
use status::StatusCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Where and how to forward.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The console's base URL, e.g. `https://console.example.jp`.
    pub url: String,
    /// A tenant token (`mamori token create`).
    pub token: String,
    /// This sensor's name, sent in `X-Mamori-Sensor`.
    pub sensor: String,
    /// PEM certificates to trust in addition to the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Largest request body (4 MiB, about 10,000 alerts: the console stores a request in one
    /// transaction, and fewer, larger ones cost it less per alert). Keep it below the
    /// console's `ingest_max_bytes` (10 MiB by default); a 413 makes the forwarder split the
    /// batch anyway.
    pub batch_bytes: usize,
    /// Requests in flight at once (4).
    pub in_flight: usize,
    /// Time allowed for one request, answer included (30 s).
    pub request_timeout: Duration,
    /// First wait after a failure (250 ms); doubles up to `retry_max` (30 s), with jitter.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// After shutdown is asked, how long to keep sending what is left (5 s).
    pub flush_deadline: Duration,
    /// While there is nothing to send, an empty request this often (30 s) tells the console
    /// the sensor is alive; one also goes out as soon as the spool is drained, so the console
    /// sees the backlog reach zero.
    pub heartbeat: Duration,
}

impl ForwardConfig {
    pub fn new(
        url: impl Into<String>,
        token: impl Into<String>,
        sensor: impl Into<String>,
    ) -> ForwardConfig {
        ForwardConfig {
            url: url.into(),
            token: token.into(),
            sensor: sensor.into(),
            ca_file: None,
            batch_bytes: 4 << 20,
            in_flight: 4,
            request_timeout: Duration::from_secs(30),
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            flush_deadline: Duration::from_secs(5),
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// Sends a spool's alerts to a console. Build it with [`Forwarder::new`], run it once with
/// [`Forwarder::run`], read [`Forwarder::status`] from anywhere.
pub struct Forwarder {
    ctx: Arc<Ctx>,
}

pub(crate) struct Ctx {
    client: reqwest::Client,
    url: reqwest::Url,
    auth: HeaderValue,
    sensor: HeaderValue,
    spool: Spool,
    status: StatusCell,
    config: ForwardConfig,
}

/// A batch on its way, by its place in the spool.
struct InFlight {
    end: Position,
    events: u64,
    done: bool,
}

impl Forwarder {
    /// Checks the URL, token, sensor name and CA file, and builds the HTTPS client.
    pub fn new(spool: Spool, config: ForwardConfig) -> Result<Forwarder, Error> {
        let url = events_url(&config.url)?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.token.trim())).map_err(|_| {
                Error::Header {
                    name: "token",
                    value: "(hidden)".into(),
                }
            })?;
        auth.set_sensitive(true);
        let sensor = HeaderValue::from_str(&config.sensor).map_err(|_| Error::Header {
            name: "sensor name",
            value: config.sensor.clone(),
        })?;
        let mut client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(config.in_flight.max(1))
            .user_agent(concat!("mamori-forward/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| Error::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if certs.is_empty() {
                return Err(Error::CaFile {
                    path: path.clone(),
                    reason: "no PEM certificate in it".into(),
                });
            }
            for cert in certs {
                client = client.add_root_certificate(cert);
            }
        }
        let client = client.build().map_err(|e| Error::Client(e.to_string()))?;
        Ok(Forwarder {
            ctx: Arc::new(Ctx {
                client,
                url,
                auth,
                sensor,
                spool,
                status: StatusCell::default(),
                config,
            }),
        })
    }

    /// Counters plus the spool's backlog.
    pub fn status(&self) -> ForwardStatus {
        let mut status = self.ctx.status.snapshot();
        let spool = self.ctx.spool.stats();
        status.backlog_events = spool.backlog_events;
        status.backlog_bytes = spool.backlog_bytes;
        status.oldest_unsent_ms = spool.oldest_unsent_ms;
        status
    }

    /// Forwards until `shutdown` resolves, then keeps sending what is left for at most
    /// [`ForwardConfig::flush_deadline`] and returns. Run it once at a time: two runs over
    /// one spool would send everything twice.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let ctx = &self.ctx;
        let depth = ctx.config.in_flight.max(1);
        let mut cursor = ctx.spool.ack_position();
        let mut tasks: JoinSet<u64> = JoinSet::new();
        let mut order: BTreeMap<u64, InFlight> = BTreeMap::new();
        let mut next_seq = 0u64;
        // Finished batches whose ack could not be written yet.
        let mut unacked: Option<(Position, u64)> = None;
        let mut deadline: Option<Instant> = None;
        let mut read_failed = false;
        // Whether the console has heard how things stand since the last delivery.
        let mut told = true;
        let mut idle_since = Instant::now();
        tokio::pin!(shutdown);
        tracing::info!(url = %ctx.url, sensor = %ctx.config.sensor, "forwarding events to the console");

        loop {
            let mut drained = false;
            while tasks.len() < depth && !read_failed {
                match ctx.spool.read(cursor, ctx.config.batch_bytes).await {
                    Ok(Some(batch)) => {
                        cursor = batch.end;
                        order.insert(
                            next_seq,
                            InFlight {
                                end: batch.end,
                                events: batch.events,
                                done: false,
                            },
                        );
                        let ctx = ctx.clone();
                        let seq = next_seq;
                        told = false;
                        tasks.spawn(async move {
                            deliver::deliver(ctx, batch).await;
                            seq
                        });
                        next_seq += 1;
                    }
                    Ok(None) => {
                        drained = true;
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reading the spool failed; trying again shortly");
                        ctx.status.spool_error(e.to_string());
                        read_failed = true;
                    }
                }
            }
            if deadline.is_some() && drained && tasks.is_empty() && unacked.is_none() {
                tracing::info!("spool flushed to the console; forwarder stopped");
                return;
            }
            let idle = drained && tasks.is_empty() && unacked.is_none() && deadline.is_none();
            if !idle {
                idle_since = Instant::now();
            } else if !told || idle_since.elapsed() >= ctx.config.heartbeat {
                deliver::heartbeat(ctx).await;
                told = true;
                idle_since = Instant::now();
            }
            let heartbeat_at = idle.then(|| idle_since + ctx.config.heartbeat);
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Some(Ok(seq)) => {
                            if let Some(f) = order.get_mut(&seq) {
                                f.done = true;
                            }
                        }
                        Some(Err(e)) => {
                            // Only a bug gets here; start over from the last ack.
                            tracing::error!(error = %e, "a delivery task failed; resending from the last acknowledged position");
                            tasks.abort_all();
                            while tasks.join_next().await.is_some() {}
                            order.clear();
                            cursor = unacked.map_or_else(|| ctx.spool.ack_position(), |(p, _)| p);
                        }
                        None => {}
                    }
                    while let Some(first) = order.first_entry() {
                        if !first.get().done {
                            break;
                        }
                        let f = first.remove();
                        let events = unacked.map_or(0, |(_, n)| n) + f.events;
                        unacked = Some((f.end, events));
                    }
                    acknowledge(ctx, &mut unacked).await;
                }
                _ = &mut shutdown, if deadline.is_none() => {
                    tracing::info!(flush_deadline = ?ctx.config.flush_deadline, "forwarder stopping; sending what is left");
                    deadline = Some(Instant::now() + ctx.config.flush_deadline);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    tasks.abort_all();
                    acknowledge(ctx, &mut unacked).await;
                    tracing::warn!(
                        backlog_events = ctx.spool.stats().backlog_events,
                        "forwarder stopped before the spool was empty; the rest is sent on the next start"
                    );
                    return;
                }
                _ = ctx.spool.wait_for_data(cursor), if tasks.len() < depth && !read_failed => {}
                _ = sleep_until(heartbeat_at), if heartbeat_at.is_some() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)), if read_failed || unacked.is_some() => {
                    read_failed = false;
                    acknowledge(ctx, &mut unacked).await;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Persists the ack position; on failure keeps it for the next try.
async fn acknowledge(ctx: &Ctx, unacked: &mut Option<(Position, u64)>) {
    let Some((upto, events)) = *unacked else {
        return;
    };
    match ctx.spool.ack(upto, events).await {
        Ok(()) => {
            ctx.status.acknowledged(events);
            *unacked = None;
        }
        Err(e) => {
            tracing::error!(error = %e, "recording the ack position failed; those events may be sent again");
            ctx.status.spool_error(e.to_string());
        }
    }
}

/// `{base}/api/v1/events`, refusing plain http except to loopback.
fn events_url(base: &str) -> Result<reqwest::Url, Error> {
    let refuse = |reason: &str| Error::Url {
        url: base.to_string(),
        reason: reason.to_string(),
    };
    let joined = format!("{}/api/v1/events", base.trim().trim_end_matches('/'));
    let url = reqwest::Url::parse(&joined).map_err(|e| refuse(&e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(refuse(
            "plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost); use https",
        )),
        _ => Err(refuse("the console URL must start with https://")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_only_to_loopback() {
        for ok in [
            "https://console.example.jp",
            "https://console.example.jp/mamori/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            assert!(events_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://console.example.jp",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "console",
        ] {
            assert!(events_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            events_url("https://c.example/base/").expect("url").as_str(),
            "https://c.example/base/api/v1/events"
        );
    }
}
