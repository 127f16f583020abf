//! `mamori logs …`: investigations over log files (`hunt`) with Sigma rules and the built-in
//! analytics, and a rule-set check (`rules check`).
//!
//! `hunt` reads every file under the given paths on one thread per core, matches each event
//! against the Sigma rules as it is read (stateless), keeps the events the stateful parts need
//! (correlations, analytics), sorts those by time and runs them in order, then prints the
//! timeline and a summary and writes JSON lines or CSV.

use crate::logs_out;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mamori_logs::{Detection, Event};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Subcommand, Debug)]
pub enum LogsCommand {
    /// Hunt through log files (EVTX and text logs; files or directories, recursively).
    Hunt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Sigma rule files or directories (repeatable); without: built-in analytics only.
        #[arg(long)]
        rules: Vec<PathBuf>,
        /// Write one JSON line per detection here (`-` for stdout).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Also store the detections as alerts of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// With --tenant: also keep every event read in the store, for the console's log
        /// search (Log search page, GET /api/v1/log-events).
        #[arg(long, requires = "tenant")]
        events: bool,
        /// Do not print the timeline (summary only).
        #[arg(long)]
        quiet: bool,
    },
    /// Follow log files like `tail -F` (and receive syslog) and report detections as they
    /// happen, until Ctrl-C. Positions are remembered across restarts.
    Watch {
        paths: Vec<PathBuf>,
        /// Sigma rule files or directories (repeatable).
        #[arg(long)]
        rules: Vec<PathBuf>,
        /// Where positions are kept (default: logs-follow.json in the data directory).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Read files seen for the first time from their start (default: only new lines).
        #[arg(long)]
        from_start: bool,
        /// Receive syslog over UDP on this address (e.g. 0.0.0.0:514).
        #[arg(long)]
        syslog_udp: Option<std::net::SocketAddr>,
        /// Receive syslog over TCP on this address.
        #[arg(long)]
        syslog_tcp: Option<std::net::SocketAddr>,
        /// Store the detections as alerts of this tenant, and the events read for the
        /// console's log search.
        #[arg(long)]
        tenant: Option<String>,
        /// With --tenant: store detections only, not the events.
        #[arg(long)]
        no_events: bool,
    },
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load Sigma rules and print what loaded, what did not and why.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The coverage as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(g: &crate::cli::Global, cmd: LogsCommand) -> Result<std::process::ExitCode> {
    match cmd {
        LogsCommand::Hunt {
            paths,
            rules,
            json,
            csv,
            tenant,
            events,
            quiet,
        } => {
            let keeper = match (&tenant, events) {
                (Some(t), true) => Some(EventKeeper::start(g, t).await?),
                _ => None,
            };
            let keep = keeper.as_ref().map(|k| (k.tenant.clone(), k.tx.clone()));
            let detections = tokio::task::spawn_blocking(move || -> Result<Vec<Detection>> {
                let out = hunt(&paths, &rules, quiet, keep)?;
                if let Some(p) = json {
                    write_lines(&p, None, out.iter().map(logs_out::json_line))?;
                }
                if let Some(p) = csv {
                    write_lines(
                        &p,
                        Some(logs_out::CSV_HEADER),
                        out.iter().map(logs_out::csv_line),
                    )?;
                }
                Ok(out)
            })
            .await??;
            if let Some(k) = keeper {
                eprintln!("stored {} new events for search", k.finish().await?);
            }
            if let Some(t) = tenant {
                let alerts: Vec<_> = detections
                    .iter()
                    .map(|d| logs_out::to_alert(d, &t, "logs"))
                    .collect();
                store_alerts(g, alerts).await?;
            }
        }
        LogsCommand::Watch {
            paths,
            rules,
            state,
            from_start,
            syslog_udp,
            syslog_tcp,
            tenant,
            no_events,
        } => {
            let state = state.unwrap_or_else(|| g.data.join("logs-follow.json"));
            let opts = WatchOptions {
                state,
                from_start,
                syslog_udp,
                syslog_tcp,
                tenant,
                keep_events: !no_events,
            };
            watch(g, paths, rules, opts).await?
        }
        LogsCommand::Rules(RulesCommand::Check { paths, json }) => {
            return rules_check(&paths, json)
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn write_lines(
    path: &Path,
    header: Option<&str>,
    lines: impl Iterator<Item = String>,
) -> Result<()> {
    let mut w: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ))
    };
    if let Some(h) = header {
        w.write_all(h.as_bytes())?;
    }
    for mut l in lines {
        if !l.ends_with('\n') {
            l.push('\n');
        }
        w.write_all(l.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}

async fn store_alerts(g: &crate::cli::Global, alerts: Vec<mamori_core::Alert>) -> Result<()> {
    let (config, _) = crate::load_config(g)?;
    let store = crate::open_store(&g.data, &config).await?;
    let window = time::Duration::minutes(config.incidents.window_minutes as i64);
    let mut stored = 0;
    for chunk in alerts.chunks(5000) {
        stored += store.ingest(chunk, window).await?.stored;
    }
    eprintln!("stored {stored} alerts");
    Ok(())
}

/// Events read, sent in batches to the store for the console's log search.
type EventBatches = tokio::sync::mpsc::Sender<Vec<mamori_store::LogEvent>>;

/// Events per batch written to the store.
const EVENT_BATCH: usize = 2000;

/// Writes batches of log events to the store on its own task; readers wait when it is behind.
struct EventKeeper {
    tenant: String,
    tx: EventBatches,
    task: tokio::task::JoinHandle<Result<u64>>,
}

impl EventKeeper {
    async fn start(g: &crate::cli::Global, tenant: &str) -> Result<EventKeeper> {
        let (config, _) = crate::load_config(g)?;
        let store = crate::open_store(&g.data, &config).await?;
        if store
            .tenant(&mamori_core::Scope::All, tenant)
            .await?
            .is_none()
        {
            bail!("unknown tenant {tenant:?} (mamori tenant create)");
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<mamori_store::LogEvent>>(8);
        let task = tokio::spawn(async move {
            let mut stored = 0u64;
            while let Some(batch) = rx.recv().await {
                stored += store
                    .ingest_events(&batch)
                    .await
                    .context("storing log events")? as u64;
            }
            Ok(stored)
        });
        Ok(EventKeeper {
            tenant: tenant.to_string(),
            tx,
            task,
        })
    }

    /// Waits for every batch sent so far; answers how many events were new.
    async fn finish(self) -> Result<u64> {
        drop(self.tx);
        self.task.await?
    }
}

/// Every file under `paths` (directories recursively), sorted.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
        let meta = std::fs::metadata(p)?;
        if meta.is_dir() {
            if depth > 32 {
                return Ok(());
            }
            let mut entries: Vec<_> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                walk(&e, out, depth + 1)?;
            }
        } else if meta.is_file() {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    for p in paths {
        walk(p, &mut out, 0).with_context(|| format!("reading {}", p.display()))?;
    }
    Ok(out)
}

/// Reads one file of any supported format into `sink`.
fn read_any(
    path: &Path,
    sink: &mut mamori_logs::reader::Sink<'_>,
) -> Result<u64, mamori_logs::reader::ReadError> {
    read_file(path, sink)
}

/// The built-in and Sigma detection for a hunt.
struct Detectors {
    sigma: crate::logs_engine::Sigma,
    analytics: crate::logs_engine::Analytics,
}

fn hunt(
    paths: &[PathBuf],
    rules: &[PathBuf],
    quiet: bool,
    keep_events: Option<(String, EventBatches)>,
) -> Result<Vec<Detection>> {
    let now_ms = mamori_core::now_ms();
    let started = std::time::Instant::now();
    let files = files(paths)?;
    if files.is_empty() {
        bail!("no files under {paths:?}");
    }
    let sigma = crate::logs_engine::Sigma::load(rules)?;
    let det = Detectors {
        sigma,
        analytics: crate::logs_engine::Analytics::new(),
    };
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let events = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let detections: Mutex<Vec<Detection>> = Mutex::new(Vec::new());
    let kept: Mutex<Vec<Event>> = Mutex::new(Vec::new());
    let progress = Mutex::new(logs_out::Progress::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(files.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let mut local = Vec::new();
                let mut keep = Vec::new();
                let mut n = 0u64;
                let mut errs = 0u64;
                let mut batch = Vec::new();
                let result = read_any(path, &mut |r| match r {
                    Ok(ev) => {
                        n += 1;
                        if let Some((tenant, tx)) = &keep_events {
                            batch.push(logs_out::to_log_event(&ev, tenant, now_ms));
                            if batch.len() >= EVENT_BATCH {
                                // A closed channel means the store failed; finish() reports it.
                                let _ = tx.blocking_send(std::mem::take(&mut batch));
                            }
                        }
                        det.sigma.matches(&ev, &mut local);
                        if det.analytics.wants(&ev) || det.sigma.correlates(&ev) {
                            keep.push(ev);
                        }
                    }
                    Err(e) => {
                        errs += 1;
                        if errs <= 5 {
                            tracing::warn!(error = %e, "record skipped");
                        }
                    }
                });
                if let Err(e) = result {
                    errs += 1;
                    tracing::warn!(error = %e, "file skipped");
                }
                if let (Some((_, tx)), false) = (&keep_events, batch.is_empty()) {
                    let _ = tx.blocking_send(batch);
                }
                events.fetch_add(n, Ordering::Relaxed);
                errors.fetch_add(errs, Ordering::Relaxed);
                detections
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(local);
                kept.lock().unwrap_or_else(|e| e.into_inner()).extend(keep);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                let count = detections.lock().map(|v| v.len()).unwrap_or(0);
                progress.lock().unwrap_or_else(|e| e.into_inner()).update(
                    d,
                    files.len(),
                    events.load(Ordering::Relaxed),
                    count,
                );
            });
        }
    });
    progress.lock().unwrap_or_else(|e| e.into_inner()).finish();
    let mut detections = detections.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut kept = kept.into_inner().unwrap_or_else(|e| e.into_inner());
    // The stateful parts see the events in time order, whatever file they came from.
    kept.sort_by_key(|e| e.timestamp.unwrap_or(i64::MIN));
    let mut analytics = det.analytics;
    let mut correlator = det.sigma.correlator();
    for ev in &kept {
        analytics.process(ev, &mut detections);
        correlator.feed(ev, &mut detections);
    }
    analytics.finish(&mut detections);
    correlator.finish(&mut detections);
    detections.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then(a.rule_id.cmp(&b.rule_id))
    });
    if !quiet {
        let mut out = std::io::stdout().lock();
        for d in &detections {
            let _ = out.write_all(logs_out::timeline_line(d).as_bytes());
        }
    }
    eprint!(
        "{}",
        logs_out::summary(
            &detections,
            events.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            files.len(),
            started.elapsed().as_secs_f64()
        )
    );
    Ok(detections)
}

/// How `logs watch` runs (its flags).
struct WatchOptions {
    state: PathBuf,
    from_start: bool,
    syslog_udp: Option<std::net::SocketAddr>,
    syslog_tcp: Option<std::net::SocketAddr>,
    tenant: Option<String>,
    keep_events: bool,
}

async fn watch(
    g: &crate::cli::Global,
    paths: Vec<PathBuf>,
    rules: Vec<PathBuf>,
    opts: WatchOptions,
) -> Result<()> {
    let WatchOptions {
        state,
        from_start,
        syslog_udp,
        syslog_tcp,
        tenant,
        keep_events,
    } = opts;
    use mamori_logs::follow::{FollowOptions, Follower, StartAt};
    if paths.is_empty() && syslog_udp.is_none() && syslog_tcp.is_none() {
        bail!("nothing to watch: give log files or --syslog-udp/--syslog-tcp");
    }
    if let Some(dir) = state.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let sigma = crate::logs_engine::Sigma::load(&rules)?;
    let (bus, writer) = match &tenant {
        Some(_) => {
            let (config, _) = crate::load_config(g)?;
            let store = crate::open_store(&g.data, &config).await?;
            let (bus, subscriber) = mamori_core::bus::channel(config.bus.capacity);
            let writer = tokio::spawn(mamori_store::writer::run(
                subscriber,
                store,
                crate::up::writer_config(&config),
            ));
            (Some(bus), Some(writer))
        }
        None => (None, None),
    };
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<Result<Event, mamori_logs::reader::ReadError>>(10_000);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if !paths.is_empty() {
        let opts = FollowOptions {
            start_at: if from_start {
                StartAt::Beginning
            } else {
                StartAt::End
            },
            ..FollowOptions::default()
        };
        let follower = Follower::with_options(paths.clone(), Some(state), None, opts)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let tx = tx.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let sink = move |r| {
                // The channel is large; a full one means the matcher is behind: wait for it.
                let _ = tx.try_send(r);
            };
            if let Err(e) = follower
                .run(sink, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
            {
                tracing::error!(error = %e, "following stopped");
            }
        }));
        eprintln!("following {} file(s)", paths.len());
    }
    if syslog_udp.is_some() || syslog_tcp.is_some() {
        let listener =
            mamori_logs::listen::SyslogListener::bind(syslog_udp, syslog_tcp, Default::default())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!(
            "syslog on udp {:?} tcp {:?}",
            listener.udp_addr(),
            listener.tcp_addr()
        );
        let tx = tx.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = listener
                .run(tx, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
            {
                tracing::error!(error = %e, "syslog listener stopped");
            }
        }));
    }
    drop(tx);
    let keeper = match (&tenant, keep_events) {
        (Some(t), true) => Some(EventKeeper::start(g, t).await?),
        _ => None,
    };
    let mut pending = Vec::new();
    let mut flush = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut analytics = crate::logs_engine::Analytics::new();
    let mut correlator = sigma.correlator();
    let shutdown = crate::up::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let item = tokio::select! {
            _ = &mut shutdown => break,
            _ = flush.tick() => {
                keep(&keeper, &mut pending).await;
                continue;
            }
            item = rx.recv() => item,
        };
        let Some(item) = item else { break };
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "record skipped");
                continue;
            }
        };
        if let Some(k) = &keeper {
            pending.push(logs_out::to_log_event(
                &ev,
                &k.tenant,
                mamori_core::now_ms(),
            ));
            if pending.len() >= EVENT_BATCH {
                keep(&keeper, &mut pending).await;
            }
        }
        let mut found = Vec::new();
        sigma.matches(&ev, &mut found);
        analytics.process(&ev, &mut found);
        correlator.feed(&ev, &mut found);
        report(&found, bus.as_ref(), tenant.as_deref()).await;
    }
    let mut found = Vec::new();
    analytics.finish(&mut found);
    correlator.finish(&mut found);
    report(&found, bus.as_ref(), tenant.as_deref()).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    keep(&keeper, &mut pending).await;
    if let Some(k) = keeper {
        eprintln!("stored {} new events for search", k.finish().await?);
    }
    drop(bus);
    if let Some(w) = writer {
        let _ = w.await;
    }
    Ok(())
}

/// Sends the pending events to the store (waiting when it is behind).
async fn keep(keeper: &Option<EventKeeper>, pending: &mut Vec<mamori_store::LogEvent>) {
    if let (Some(k), false) = (keeper, pending.is_empty()) {
        if k.tx.send(std::mem::take(pending)).await.is_err() {
            tracing::error!("log events are no longer stored (the store failed; see above)");
        }
    }
}

async fn report(
    found: &[Detection],
    bus: Option<&mamori_core::bus::Publisher>,
    tenant: Option<&str>,
) {
    if found.is_empty() {
        return;
    }
    {
        let mut out = std::io::stdout().lock();
        for d in found {
            let _ = out.write_all(logs_out::timeline_line(d).as_bytes());
        }
        let _ = out.flush();
    }
    if let (Some(bus), Some(t)) = (bus, tenant) {
        let alerts = found
            .iter()
            .map(|d| logs_out::to_alert(d, t, "logs"))
            .collect();
        if let Err(e) = bus.publish(alerts).await {
            tracing::warn!(error = %e, "log alerts not published");
        }
    }
}

fn rules_check(paths: &[PathBuf], json: bool) -> Result<std::process::ExitCode> {
    let report = crate::logs_engine::Sigma::check(paths)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Dispatches a file to its reader by name and content.
fn read_file(
    path: &Path,
    sink: &mut mamori_logs::reader::Sink<'_>,
) -> Result<u64, mamori_logs::reader::ReadError> {
    crate::logs_engine::read_file(path, sink)
}
