//! `mamori up --role sensor`: the engines run on the SME's gateway and everything they find
//! goes to the provider's console over HTTPS, through a durable spool (`DATA/forward-spool`)
//! that holds it while the console is unreachable.
//!
//! With `[respond] enabled` (the default) the sensor also applies its tenant's response
//! actions on this gateway: every few seconds it reads the actions in force from the
//! console's API with its token, keeps its nftables table equal to them and reports back how
//! applying went. The console's addresses are added to what an isolated host may still reach.
//!
//! A sensor serves no console. On its listen address (loopback by default) it answers:
//! - `POST /api/v1/events` — the console's ingest API, for local tools (`mamori send`, EVE
//!   shippers) with the same Bearer token: lines are spooled (fsynced) before the answer;
//! - `GET /api/v1/sensor` — the forwarder's status (backlog, lag, last error);
//! - `GET /healthz`.

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mamori_core::config::Config;
use mamori_forward::{ForwardConfig, Forwarder, Spool, SpoolConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where and how to forward (the `up --role sensor` flags).
#[derive(Debug, Clone)]
pub struct SensorOptions {
    pub console: String,
    pub token: String,
    pub ca: Option<PathBuf>,
    pub name: String,
}

#[derive(Clone)]
struct Local {
    token: Arc<String>,
    bus: mamori_core::bus::Publisher,
    forwarder: Arc<Forwarder>,
    max_bytes: usize,
}

pub async fn run(
    data: &Path,
    config: Config,
    listen: Option<String>,
    opts: SensorOptions,
) -> Result<()> {
    crate::data_dir(data)?;
    // Engines that need a store (the mail gateway's users) keep a local one.
    let store = crate::open_store(data, &config).await?;
    let spool_dir = data.join("forward-spool");
    let spool =
        tokio::task::spawn_blocking(move || Spool::open(&spool_dir, SpoolConfig::default()))
            .await?
            .context("opening the forwarding spool")?;
    let stats = spool.stats();
    tracing::info!(backlog = stats.backlog_events, console = %opts.console, sensor = %opts.name, "sensor forwarding");
    let (bus, subscriber) = mamori_core::bus::channel(config.bus.capacity);
    let writer = tokio::spawn(mamori_forward::spool_writer(subscriber, spool.clone()));
    let mut fcfg = ForwardConfig::new(&opts.console, &opts.token, &opts.name);
    fcfg.ca_file = opts.ca.clone();
    fcfg.batch_bytes = fcfg.batch_bytes.min(config.console.ingest_max_bytes);
    let forwarder = Arc::new(Forwarder::new(spool, fcfg).context("--console/--token/--ca")?);
    let (fwd_stop, fwd_stopped) = tokio::sync::oneshot::channel::<()>();
    let fwd = {
        let f = forwarder.clone();
        tokio::spawn(async move {
            f.run(async move {
                let _ = fwd_stopped.await;
            })
            .await
        })
    };

    let engines = crate::up::Engines::start(data, &config, &store, &bus)?;
    let applier = if config.respond.enabled {
        let mut respond = config.respond.clone();
        respond.allow.extend(console_addresses(&opts.console).await);
        let remote = crate::respond::RemoteActions::new(
            &opts.console,
            &opts.token,
            opts.ca.as_deref(),
            &opts.name,
        )?;
        Some(tokio::spawn(crate::respond::run_applier(
            crate::respond::ActionSource::Console(remote),
            respond,
            crate::up::waf_bans_file(&config, data)?,
        )))
    } else {
        None
    };
    let listen = listen.unwrap_or_else(|| config.console.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "sensor's local ingest API listening");
    let local = Local {
        token: Arc::new(opts.token.clone()),
        bus,
        forwarder: forwarder.clone(),
        max_bytes: config.console.ingest_max_bytes,
    };
    let app = Router::new()
        .route("/api/v1/events", post(ingest))
        .route("/api/v1/sensor", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(local.max_bytes))
        .with_state(local);
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::up::shutdown_signal())
        .await?;

    tracing::info!("stopping: spooling what the engines still hold");
    if let Some(a) = applier {
        // The firewall keeps what is in force; the next start reads the console again.
        a.abort();
    }
    engines.stop().await;
    // The router (and its bus publisher) is gone: the spool writer drains and ends.
    let _ = writer.await;
    let _ = fwd_stop.send(());
    let _ = fwd.await;
    let s = forwarder.status();
    tracing::info!(
        backlog = s.backlog_events,
        "stopped; what is left is sent at the next start"
    );
    Ok(())
}

/// The console's IP addresses (an isolated host may still reach the console); none when the
/// name does not resolve now, which only narrows what isolation lets through.
async fn console_addresses(console: &str) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(console) else {
        return Vec::new();
    };
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_string())
    else {
        return Vec::new();
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return vec![ip.to_string()];
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let found = tokio::net::lookup_host((host.as_str(), port)).await;
    match found {
        Ok(addrs) => {
            let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            ips.sort();
            ips.dedup();
            ips
        }
        Err(e) => {
            tracing::warn!(%host, error = %e, "the console's name does not resolve: isolated hosts will not reach it");
            Vec::new()
        }
    }
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    mamori_console::auth::same_secret(sent.trim(), token)
}

async fn ingest(State(local): State<Local>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers, &local.token) {
        return (
            StatusCode::UNAUTHORIZED,
            "send the sensor's token as Bearer",
        )
            .into_response();
    }
    // Lines naming no tenant get the token's tenant at the console.
    let (alerts, mut answer) = mamori_console::api::parse_ndjson(&body, "");
    if !alerts.is_empty() {
        match local.bus.publish_and_wait(alerts).await {
            Ok(receipt) => answer.stored = receipt.stored,
            Err(e) => {
                return (StatusCode::SERVICE_UNAVAILABLE, format!("not spooled: {e}"))
                    .into_response()
            }
        }
    }
    let status = if !answer.errors.is_empty() && answer.stored == 0 && answer.skipped == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(answer)).into_response()
}

async fn status(State(local): State<Local>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &local.token) {
        return (
            StatusCode::UNAUTHORIZED,
            "send the sensor's token as Bearer",
        )
            .into_response();
    }
    let s = local.forwarder.status();
    Json(serde_json::json!({
        "sent": s.sent,
        "acknowledged": s.acknowledged,
        "refused": s.refused,
        "retries": s.retries,
        "last_success_ms": s.last_success_ms,
        "last_error": s.last_error,
        "backlog_events": s.backlog_events,
        "backlog_bytes": s.backlog_bytes,
        "oldest_unsent_ms": s.oldest_unsent_ms,
    }))
    .into_response()
}
