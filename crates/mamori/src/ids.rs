//! `mamori ids`: read capture files, check rule coverage, watch an interface (AF_PACKET) or
//! sit inline (NFQUEUE). Alerts go to EVE JSON and, with `--tenant`, into the store.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use mamori_ids::detect::{Detectors, HomeNet};
use mamori_ids::live::{AfPacket, AfPacketConfig, NfQueue, NfQueueConfig, Source};
use mamori_ids::pipeline::{self, PipelineConfig, Verdict, Worker};
use mamori_ids_rules::{Coverage, Vars};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum IdsCommand {
    /// Inspect pcap/pcapng files: write EVE JSON and print a summary.
    Read {
        #[arg(value_name = "FILE.pcap", required = true)]
        files: Vec<PathBuf>,
        /// EVE JSON output file (`-` for stdout).
        #[arg(long, default_value = "eve.json")]
        eve: PathBuf,
        /// Inspection threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Rules: check a rule file's coverage.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Watch an interface (AF_PACKET) until stopped.
    Live {
        #[arg(long)]
        iface: String,
        /// EVE JSON output file (appended).
        #[arg(long)]
        eve: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Inline IPS on an NFQUEUE: `drop`/`reject` rules drop the packet and its flow.
    /// Route traffic with e.g. `nft add rule inet filter forward queue num 0 bypass`.
    Inline {
        #[arg(long)]
        queue: u16,
        /// EVE JSON output file (appended).
        #[arg(long)]
        eve: Option<PathBuf>,
        /// Refuse traffic rather than pass it when Mamori cannot keep up (default: pass).
        #[arg(long)]
        fail_closed: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load rule files and print how many rules load and why the others are skipped.
    Check {
        #[arg(value_name = "FILE.rules", required = true)]
        files: Vec<PathBuf>,
        /// Print the coverage as JSON.
        #[arg(long)]
        json: bool,
        /// List every skipped rule (file:line: sid: keyword: reason).
        #[arg(long)]
        verbose: bool,
        /// Set a rule variable: `HOME_NET=[10.0.0.0/8]`. Repeatable.
        #[arg(long = "set", value_name = "VAR=VALUE")]
        set: Vec<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Suricata rule files. Repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Set a rule variable: `HOME_NET=[10.0.0.0/8]`. Repeatable.
    #[arg(long = "set", value_name = "VAR=VALUE")]
    set: Vec<String>,
    /// The company's networks (CIDRs, comma-separated); sets $HOME_NET too.
    #[arg(long)]
    home_net: Option<String>,
    /// Blocklist files of IP addresses/CIDRs. Repeatable.
    #[arg(long = "blocklist-ip", value_name = "FILE")]
    blocklist_ip: Vec<PathBuf>,
    /// Blocklist files of domains. Repeatable.
    #[arg(long = "blocklist-domain", value_name = "FILE")]
    blocklist_domain: Vec<PathBuf>,
    /// Store the alerts in this tenant's console as well.
    #[arg(long)]
    tenant: Option<String>,
    /// Sensor name in stored alerts.
    #[arg(long, default_value = "ids")]
    sensor: String,
}

fn vars(set: &[String], home_net: Option<&str>) -> Result<Vars> {
    let mut vars = Vars::default();
    if let Some(h) = home_net {
        vars.set("HOME_NET", &format!("[{h}]"))
            .with_context(|| format!("--home-net {h}"))?;
    }
    for s in set {
        let (name, value) = s
            .split_once('=')
            .with_context(|| format!("--set {s}: expected VAR=VALUE"))?;
        vars.set(name.trim().trim_start_matches('$'), value.trim())
            .with_context(|| format!("--set {s}"))?;
    }
    Ok(vars)
}

struct Loaded {
    engine: Arc<mamori_ids_rules::Engine>,
    config: PipelineConfig,
    coverage: Coverage,
}

fn load(args: &EngineArgs) -> Result<Loaded> {
    let vars = vars(&args.set, args.home_net.as_deref())?;
    let started = Instant::now();
    let ruleset = pipeline::load_rules(&args.rules, &vars)?;
    for s in ruleset.skipped.iter().take(20) {
        tracing::warn!(rule = %s, "rule skipped");
    }
    if ruleset.skipped.len() > 20 {
        tracing::warn!(
            more = ruleset.skipped.len() - 20,
            "more rules skipped (mamori ids rules check --verbose lists them)"
        );
    }
    tracing::info!(
        loaded = ruleset.coverage.loaded,
        skipped = ruleset.coverage.skipped,
        seconds = started.elapsed().as_secs_f64(),
        "rules loaded"
    );
    let mut config = PipelineConfig::default();
    if let Some(h) = &args.home_net {
        config.detect.home_net =
            HomeNet::parse(h).map_err(|e| anyhow::anyhow!("--home-net {h}: {e}"))?;
    }
    config.detect.blocklist.ip_files = args.blocklist_ip.clone();
    config.detect.blocklist.domain_files = args.blocklist_domain.clone();
    Ok(Loaded {
        engine: ruleset.engine,
        config,
        coverage: ruleset.coverage,
    })
}

pub async fn run(g: &crate::cli::Global, cmd: IdsCommand) -> Result<()> {
    match cmd {
        IdsCommand::Rules(RulesCommand::Check {
            files,
            json,
            verbose,
            set,
        }) => {
            let vars = vars(&set, None)?;
            let parsed = pipeline::parse_rule_files(&files, &vars)?;
            let coverage = Coverage::of(&parsed);
            let mut out = std::io::stdout().lock();
            if json {
                let skipped_sids: Vec<u32> = parsed.skipped.iter().filter_map(|s| s.sid).collect();
                let value = serde_json::json!({
                    "loaded": coverage.loaded,
                    "skipped": coverage.skipped,
                    "skipped_by": coverage.skipped_by,
                    "skipped_sids": skipped_sids,
                });
                writeln!(out, "{value}")?;
            } else {
                write!(out, "{coverage}")?;
            }
            if verbose {
                for s in &parsed.skipped {
                    writeln!(out, "{s}")?;
                }
            }
            Ok(())
        }
        IdsCommand::Read {
            files,
            eve,
            workers,
            engine,
        } => {
            let loaded = load(&engine)?;
            let mut config = loaded.config;
            if let Some(w) = workers {
                config.workers = w.max(1);
            }
            let sink: Box<dyn Write + Send> = if eve == Path::new("-") {
                Box::new(std::io::stdout())
            } else {
                Box::new(
                    std::fs::File::create(&eve)
                        .with_context(|| format!("creating {}", eve.display()))?,
                )
            };
            let engine_rules = loaded.engine.clone();
            let summary = tokio::task::spawn_blocking(move || {
                pipeline::read_files(&files, engine_rules, config, sink)
            })
            .await??;
            let mut out = std::io::stdout().lock();
            writeln!(out, "packets      {}", summary.packets)?;
            writeln!(out, "bytes        {}", summary.bytes)?;
            writeln!(out, "seconds      {:.3}", summary.seconds)?;
            writeln!(out, "packets/s    {:.0}", summary.packets_per_second())?;
            writeln!(out, "alerts       {}", summary.alerts)?;
            writeln!(out, "findings     {}", summary.findings)?;
            writeln!(out, "flows        {}", summary.flows)?;
            writeln!(
                out,
                "rules        {} loaded, {} skipped",
                loaded.coverage.loaded, loaded.coverage.skipped
            )?;
            writeln!(
                out,
                "eve          {} records to {}",
                summary.eve_records,
                eve.display()
            )?;
            for e in &summary.errors {
                writeln!(out, "error        {e}")?;
            }
            drop(out);
            if let Some(tenant) = &engine.tenant {
                let alerts = to_alerts(
                    &summary.alert_lines,
                    &summary.findings_list,
                    tenant,
                    &engine.sensor,
                );
                store_alerts(g, alerts).await?;
            }
            if !summary.errors.is_empty() {
                bail!(
                    "{} capture error(s); everything before them was inspected",
                    summary.errors.len()
                );
            }
            Ok(())
        }
        IdsCommand::Live { iface, eve, engine } => {
            let loaded = load(&engine)?;
            let source = AfPacket::open(&iface, &AfPacketConfig::default())?;
            run_standalone(g, Source::from(source), Some(iface), loaded, eve, &engine).await
        }
        IdsCommand::Inline {
            queue,
            eve,
            fail_closed,
            engine,
        } => {
            let mut loaded = load(&engine)?;
            loaded.config.inline = true;
            let mut qc = NfQueueConfig::new(queue);
            qc.fail_open = !fail_closed;
            let source = NfQueue::open(&qc)?;
            run_standalone(g, Source::from(source), None, loaded, eve, &engine).await
        }
    }
}

/// EVE alert lines and findings as Mamori alerts of `tenant`.
fn to_alerts(
    lines: &[String],
    findings: &[mamori_ids::detect::Finding],
    tenant: &str,
    sensor: &str,
) -> Vec<mamori_core::Alert> {
    let mut alerts = Vec::new();
    for line in lines {
        if let Ok(mamori_core::eve::Line::Alert(a)) = mamori_core::eve::parse_line(line) {
            alerts.push(*a);
        }
    }
    alerts.extend(findings.iter().map(|f| f.to_alert()));
    for a in &mut alerts {
        a.tenant = tenant.to_string();
        a.sensor = sensor.to_string();
    }
    alerts
}

async fn store_alerts(g: &crate::cli::Global, alerts: Vec<mamori_core::Alert>) -> Result<()> {
    let (config, _) = crate::load_config(g)?;
    let store = crate::open_store(&g.data, &config).await?;
    let window = time::Duration::minutes(config.incidents.window_minutes as i64);
    let mut stored = 0;
    for chunk in alerts.chunks(5000) {
        stored += store.ingest(chunk, window).await?.stored;
    }
    println!("stored       {stored} alerts");
    Ok(())
}

/// `mamori ids live|inline` on its own: a store writer when a tenant is given, and the
/// source until SIGINT/SIGTERM.
async fn run_standalone(
    g: &crate::cli::Global,
    source: Source,
    iface: Option<String>,
    loaded: Loaded,
    eve: Option<PathBuf>,
    args: &EngineArgs,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            crate::up::shutdown_signal().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let (bus, writer) = match &args.tenant {
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
    let sensor = Sensor {
        iface,
        eve,
        tenant: args.tenant.clone(),
        sensor: args.sensor.clone(),
    };
    let result = run_source(source, loaded, sensor, bus, stop).await;
    if let Some(w) = writer {
        let _ = w.await;
    }
    result
}

/// Where a live source's output goes.
pub struct Sensor {
    iface: Option<String>,
    eve: Option<PathBuf>,
    tenant: Option<String>,
    sensor: String,
}

/// The `[ids]` sensor of `mamori up`: opens the configured source and inspects until
/// `stop`, publishing alerts on the console's bus.
pub async fn run_configured(
    config: &mamori_core::config::IdsConfig,
    bus: mamori_core::bus::Publisher,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let args = EngineArgs {
        rules: config.rules.iter().map(PathBuf::from).collect(),
        set: Vec::new(),
        home_net: (!config.home_net.is_empty()).then(|| config.home_net.clone()),
        blocklist_ip: config.blocklist_ip.iter().map(PathBuf::from).collect(),
        blocklist_domain: config.blocklist_domain.iter().map(PathBuf::from).collect(),
        tenant: Some(config.tenant.clone()),
        sensor: config.sensor.clone(),
    };
    let mut loaded = load(&args).context("[ids] rules")?;
    let source = if config.mode == "inline" {
        loaded.config.inline = true;
        Source::from(NfQueue::open(&NfQueueConfig::new(config.queue))?)
    } else {
        Source::from(AfPacket::open(&config.iface, &AfPacketConfig::default())?)
    };
    let sensor = Sensor {
        iface: (config.mode != "inline").then(|| config.iface.clone()),
        eve: (!config.eve.is_empty()).then(|| PathBuf::from(&config.eve)),
        tenant: args.tenant.clone(),
        sensor: args.sensor.clone(),
    };
    run_source(source, loaded, sensor, Some(bus), stop).await
}

/// Inspects a live or inline source until `stop`: one worker, EVE appended to the sensor's
/// file, alerts published every second when a bus is given.
async fn run_source(
    mut source: Source,
    loaded: Loaded,
    out: Sensor,
    bus: Option<mamori_core::bus::Publisher>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let name = source.name();
    tracing::info!(source = %name, rules = loaded.coverage.loaded, "inspecting");
    let Sensor {
        iface,
        eve,
        tenant,
        sensor,
    } = out;
    let config = loaded.config.clone();
    let engine = loaded.engine.clone();
    let (alerts_tx, mut alerts_rx) = tokio::sync::mpsc::channel::<Vec<mamori_core::Alert>>(64);
    let stop_reader = stop.clone();
    // SIGHUP re-reads the blocklist files.
    let reload = Arc::new(AtomicBool::new(false));
    let reload_reader = reload.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    reload.store(true, Ordering::SeqCst);
                }
            });
        }
    }
    let reader = tokio::task::spawn_blocking(move || -> Result<pipeline::Counters> {
        let mut detectors = Detectors::new(&config.detect)?;
        let mut worker = Worker::new(
            engine,
            Arc::new(config),
            mamori_ids_rules::Thresholds::default(),
        );
        if let Some(i) = &iface {
            worker.set_interface(i);
        }
        let mut eve_out: Option<std::io::BufWriter<std::fs::File>> = match &eve {
            Some(path) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )),
            None => None,
        };
        let mut last_flush = Instant::now();
        let mut cnt = 0u64;
        while !stop_reader.load(Ordering::SeqCst) {
            if reload_reader.swap(false, Ordering::SeqCst) {
                match detectors.reload_blocklists() {
                    Ok(()) => tracing::info!("blocklists reloaded"),
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!(error = %e, "blocklist not reloaded; the old one stays");
                        }
                    }
                }
            }
            match source.next_packet()? {
                Some(p) => {
                    cnt += 1;
                    let verdict = worker.packet(cnt, p.ts_us, p.linktype, p.data);
                    if let Some(ticket) = p.ticket {
                        let v = match verdict {
                            Verdict::Accept => mamori_ids::live::Verdict::Accept,
                            Verdict::Drop => mamori_ids::live::Verdict::Drop,
                        };
                        source.verdict(ticket, v)?;
                    }
                }
                None => worker.expire(mamori_core::now_ms() as u64 * 1000),
            }
            if last_flush.elapsed() >= Duration::from_secs(1) {
                last_flush = Instant::now();
                flush(
                    &mut worker,
                    &mut detectors,
                    eve_out.as_mut(),
                    &alerts_tx,
                    tenant.as_deref(),
                    &sensor,
                )?;
            }
        }
        worker.finish();
        flush(
            &mut worker,
            &mut detectors,
            eve_out.as_mut(),
            &alerts_tx,
            tenant.as_deref(),
            &sensor,
        )?;
        Ok(worker.counters().clone())
    });
    let publisher = async {
        while let Some(alerts) = alerts_rx.recv().await {
            if let Some(bus) = &bus {
                if let Err(e) = bus.publish(alerts).await {
                    tracing::warn!(error = %e, "IDS alerts not published");
                }
            }
        }
    };
    let (counters, ()) = tokio::join!(reader, publisher);
    let counters = counters??;
    tracing::info!(
        packets = counters.packets,
        alerts = counters.alerts,
        dropped = counters.dropped,
        "stopped"
    );
    Ok(())
}

fn flush(
    worker: &mut Worker,
    detectors: &mut Detectors,
    eve: Option<&mut std::io::BufWriter<std::fs::File>>,
    alerts: &tokio::sync::mpsc::Sender<Vec<mamori_core::Alert>>,
    tenant: Option<&str>,
    sensor: &str,
) -> Result<()> {
    let out = worker.take_output();
    let mut findings = Vec::new();
    pipeline::observe(detectors, &out, &mut findings);
    if let Some(eve) = eve {
        eve.write_all(&out.eve)?;
        for f in &findings {
            writeln!(eve, "{}", pipeline::finding_line(f))?;
        }
        eve.flush()?;
    }
    if let Some(tenant) = tenant {
        let batch = to_alerts(&out.alert_lines, &findings, tenant, sensor);
        if !batch.is_empty() {
            let _ = alerts.blocking_send(batch);
        }
    }
    Ok(())
}
