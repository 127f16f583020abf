//! `mamori up`: opens the store, starts the bus writer, retention, and the console; stops on
//! Ctrl-C or SIGTERM after storing everything already accepted.

use anyhow::{Context, Result};
use mamori_console::{auth, AppState};
use mamori_core::config::Config;
use mamori_core::Role;
use mamori_store::writer::{self, WriterConfig};
use mamori_store::NewUser;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The first provider admin's login name.
pub const FIRST_ADMIN: &str = "admin@mamori.local";

pub async fn up(
    data: &Path,
    mut config: Config,
    config_path: Option<PathBuf>,
    listen: Option<String>,
    demo: bool,
) -> Result<()> {
    if let Some(l) = listen {
        config.console.listen = l;
        config
            .validate()
            .map_err(|(key, msg)| anyhow::anyhow!("--listen: {key}: {msg}"))?;
    }
    match &config_path {
        Some(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        None => {
            tracing::info!("no mamori.toml found; using built-in defaults (mamori init writes one)")
        }
    }
    let store = crate::open_store(data, &config).await?;
    if store.backend() == "sqlite" {
        tracing::info!(data = %data.display(), database = %data.join("mamori.db").display(), "embedded SQLite store ready");
    } else {
        tracing::info!(backend = store.backend(), "store ready");
    }
    first_admin(&store).await?;

    let (bus, subscriber) = mamori_core::bus::channel(config.bus.capacity);
    let writer = tokio::spawn(writer::run(
        subscriber,
        store.clone(),
        writer_config(&config),
    ));
    let retention = tokio::spawn(retention(store.clone(), config.retention_days));
    let report_lang = if config.console.language == "en" {
        mamori_report::Lang::En
    } else {
        mamori_report::Lang::Ja
    };
    let weekly_scans = tokio::spawn(crate::scan::weekly(
        store.clone(),
        data.to_path_buf(),
        time::Duration::minutes(config.incidents.window_minutes as i64),
    ));
    let reports = tokio::spawn(crate::report::monthly(
        store.clone(),
        data.to_path_buf(),
        report_lang,
        crate::report::MailOut::configured(&config),
    ));
    let notifier = match crate::notify::configured(&config)? {
        Some(cfg) => {
            let (store, data) = (store.clone(), data.to_path_buf());
            Some(tokio::spawn(async move {
                if let Err(e) = crate::notify::run(store, cfg, &data).await {
                    tracing::error!(error = %format!("{e:#}"), "notifications stopped");
                }
            }))
        }
        None => None,
    };
    let waf_bans = waf_bans_file(&config, data)?;
    let applier = config.respond.enabled.then(|| {
        tokio::spawn(crate::respond::run_applier(
            crate::respond::ActionSource::Store(store.clone()),
            config.respond.clone(),
            waf_bans,
        ))
    });

    if demo {
        crate::demo::load(&store, &bus)
            .await
            .context("creating the demo data")?;
    }

    let engines = Engines::start(data, &config, &store, &bus)?;

    let listener = tokio::net::TcpListener::bind(&config.console.listen)
        .await
        .with_context(|| format!("listening on {}", config.console.listen))?;
    let addr = listener.local_addr()?;
    let tls = !config.console.tls_cert.is_empty();
    tracing::info!(url = %format!("{}://{addr}/", mamori_console::tls::scheme(tls)), "console listening");
    tracing::info!(url = %format!("{}://{addr}/api/v1/events", mamori_console::tls::scheme(tls)), "ingest API (Bearer token from `mamori token create`)");
    let drill = crate::drill::open_for_up(data, &config)?;
    let drill_sender = drill
        .clone()
        .map(|d| tokio::spawn(async move { d.run_sender(shutdown_signal()).await }));
    let state = AppState {
        store: store.clone(),
        bus,
        config: Arc::new(config),
        secure: tls,
        mail_spool: Some(data.join("mail-spool")),
        data_dir: Some(data.to_path_buf()),
        drill,
    };
    let helpdesk = (!state.config.helpdesk.listen.is_empty()).then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::helpdesk::run(state).await {
                tracing::error!(error = %format!("{e:#}"), "help desk mail stopped");
            }
        })
    });
    mamori_console::serve(listener, state, shutdown_signal()).await?;
    if let Some(h) = helpdesk {
        let _ = h.await;
    }
    if let Some(d) = drill_sender {
        let _ = d.await;
    }

    tracing::info!("stopping: storing queued events");
    retention.abort();
    reports.abort();
    weekly_scans.abort();
    if let Some(a) = applier {
        a.abort();
    }
    engines.stop().await;
    if let Some(n) = notifier {
        let _ = n.await;
    }
    // The state (and with it the last publisher) is gone once serve returns, so the
    // writer drains the queue and ends.
    writer.await.context("event writer")?;
    tracing::info!("stopped");
    Ok(())
}

/// The engines `mamori up` runs beside the console (or, on a sensor, beside the forwarder).
pub struct Engines {
    gateway: Option<tokio::task::JoinHandle<()>>,
    sensor: Option<tokio::task::JoinHandle<()>>,
    ids_stop: Arc<std::sync::atomic::AtomicBool>,
    waf: Option<tokio::task::JoinHandle<()>>,
    waf_stop: tokio::sync::oneshot::Sender<()>,
}

impl Engines {
    /// Starts every engine the configuration enables, publishing on `bus`.
    pub fn start(
        data: &Path,
        config: &Config,
        store: &mamori_store::DynStore,
        bus: &mamori_core::bus::Publisher,
    ) -> Result<Engines> {
        let gateway = if config.mail_gateway.enabled {
            let policy = crate::mail::configured_policy(config)?;
            let (settings, store, bus, data) = (
                config.mail_gateway.clone(),
                store.clone(),
                bus.clone(),
                data.to_path_buf(),
            );
            Some(tokio::spawn(async move {
                if let Err(e) = crate::mail::run_gateway(
                    &data,
                    &settings,
                    policy,
                    store,
                    bus,
                    shutdown_signal(),
                )
                .await
                {
                    tracing::error!(error = %format!("{e:#}"), "mail gateway stopped");
                }
            }))
        } else {
            None
        };

        let ids_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sensor = if config.ids.enabled {
            let (settings, bus, stop) = (config.ids.clone(), bus.clone(), ids_stop.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = crate::ids::run_configured(&settings, bus, stop).await {
                    tracing::error!(error = %format!("{e:#}"), "IDS sensor stopped");
                }
            }))
        } else {
            None
        };

        let (waf_stop, waf_stopped) = tokio::sync::oneshot::channel::<()>();
        let waf = if config.waf.get("enabled").and_then(|v| v.as_bool()) == Some(true) {
            let settings = crate::waf::configured(config, data)?;
            let bus = bus.clone();
            Some(tokio::spawn(async move {
                let stop = async move {
                    let _ = waf_stopped.await;
                };
                if let Err(e) = crate::waf::run_proxy(settings, Some(bus), stop).await {
                    tracing::error!(error = %format!("{e:#}"), "WAF stopped");
                }
            }))
        } else {
            None
        };
        Ok(Engines {
            gateway,
            sensor,
            ids_stop,
            waf,
            waf_stop,
        })
    }

    /// Stops them after the shutdown signal (the mail gateway and the WAF watch it too).
    pub async fn stop(self) {
        if let Some(g) = self.gateway {
            let _ = g.await;
        }
        self.ids_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(s) = self.sensor {
            let _ = s.await;
        }
        let _ = self.waf_stop.send(());
        if let Some(w) = self.waf {
            let _ = w.await;
        }
    }
}

/// The bus writer's settings from the configuration.
/// The WAF's bans file when `mamori up` runs the WAF: the applier keeps it equal to the
/// blocked addresses.
pub fn waf_bans_file(config: &Config, data: &Path) -> Result<Option<PathBuf>> {
    if config.waf.get("enabled").and_then(|v| v.as_bool()) != Some(true) {
        return Ok(None);
    }
    let waf = crate::waf::configured(config, data)?;
    Ok(Some(PathBuf::from(mamori_waf::proxy::bans_file(&waf))))
}

pub fn writer_config(config: &Config) -> WriterConfig {
    WriterConfig {
        batch_size: config.bus.batch_size,
        flush: Duration::from_millis(config.bus.flush_ms),
        window: time::Duration::minutes(config.incidents.window_minutes as i64),
    }
}

/// On first start, creates the provider admin and prints its password once on stdout.
async fn first_admin(store: &mamori_store::DynStore) -> Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let password = auth::random_hex(10);
    let hash = auth::hash_password(&password)?;
    store
        .create_user(NewUser {
            email: FIRST_ADMIN.into(),
            password_hash: hash,
            role: Role::ProviderAdmin,
            tenant: None,
        })
        .await?;
    // Written to stdout once; a closed stdout (a supervisor that stopped reading) must not
    // take the server down, so write errors are ignored.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout().lock(),
        "\n  First start: a provider admin was created. This password is shown only once.\n    \
         login:    {FIRST_ADMIN}\n    password: {password}\n  \
         Change it with: mamori user passwd --email {FIRST_ADMIN}\n"
    );
    tracing::info!(user = FIRST_ADMIN, "first provider admin created");
    Ok(())
}

/// Deletes what is older than the retention period, once an hour.
async fn retention(store: mamori_store::DynStore, days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(days as i64);
        match store.purge_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, retention_days = days, "old alerts deleted"),
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
