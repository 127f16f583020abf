//! `mamori waf …`: the WAF reverse proxy on its own (`serve`), the go-ftw regression runner
//! (`test`) and a rule-set check (`rules check`). `mamori up` runs the proxy from `[waf]`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use mamori_waf::proxy::config::{Mode, ProxyConfig, Scheduling, SiteConfig};
use mamori_waf::proxy::sched;
use mamori_waf::proxy::Proxy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum WafCommand {
    /// Run the reverse proxy in front of a website until Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Run go-ftw regression tests (CRS's format) through the proxy and the rules, configured
    /// as CRS's regression suite requires; one JSON line per test, then "N passed, M failed".
    Test {
        /// A CRS directory or a .conf including the rules (default: Debian's CRS).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Test files (YAML) or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load a rule set and report how many rules it has, or the first error with file and line.
    Check {
        /// A CRS directory or a .conf (default: Debian's CRS).
        path: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Listen address (overrides waf.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Upstream web server, http://HOST:PORT (repeat for several; overrides waf.site).
    #[arg(long)]
    upstream: Vec<String>,
    /// A CRS directory or a .conf including the rules (default: waf.rules, else Debian's CRS).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// On, DetectionOnly or Off, for the site given with --upstream.
    #[arg(long)]
    mode: Option<Mode>,
    /// Host names the --upstream site answers for (default: any).
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// TLS listener address; needs --cert and --key.
    #[arg(long)]
    tls_listen: Option<String>,
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Protect this login path (POST, field `username`, 401/403 = failure) on the --upstream site.
    #[arg(long)]
    login: Vec<String>,
    /// Audit log (JSON lines); default: waf-audit.jsonl in the data directory.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Rotate the audit log at this many MiB, 0: never (overrides waf.audit_log_max_mb;
    /// default 100).
    #[arg(long)]
    audit_log_max_mb: Option<u64>,
    /// Rotated audit log files kept (overrides waf.audit_log_keep; default 5).
    #[arg(long)]
    audit_log_keep: Option<u32>,
    /// Store alerts in the console's store under this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// How the kernel schedules the serving threads: adaptive (default: normal while a thread
    /// is mostly idle, batch while it is busy), batch or normal (overrides waf.scheduling).
    #[arg(long)]
    scheduling: Option<Scheduling>,
}

pub async fn run(g: &crate::cli::Global, cmd: WafCommand) -> Result<std::process::ExitCode> {
    match cmd {
        WafCommand::Serve(args) => serve(g, *args).await?,
        WafCommand::Rules(RulesCommand::Check { path }) => {
            let path = rules_or_default(path)?;
            let started = std::time::Instant::now();
            let rules = mamori_waf::proxy::inspect::Rules::load(&path, "")
                .map_err(|e| anyhow::anyhow!(e))
                .with_context(|| format!("loading rules from {}", path.display()))?;
            println!(
                "{}: {} rules loaded in {} ms ({} settled at load: they read only setup values; \
                 {} replayed while a request leaves the TX keys they read alone)",
                path.display(),
                rules.rule_count(),
                started.elapsed().as_millis(),
                rules.settled_count(),
                rules.replayed_count()
            );
        }
        WafCommand::Test { rules, files } => return crate::waf_test::run(rules, files).await,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn rules_or_default(path: Option<PathBuf>) -> Result<PathBuf> {
    match path.or_else(mamori_waf::proxy::default_rules) {
        Some(p) => Ok(p),
        None => bail!(
            "no rules given and Debian's CRS is not installed (apt-get install modsecurity-crs, or pass --rules DIR)"
        ),
    }
}

/// `[waf]` from the configuration, with the data directory's defaults filled in.
pub fn configured(config: &mamori_core::config::Config, data: &Path) -> Result<ProxyConfig> {
    let mut waf = ProxyConfig::from_table(&config.waf).map_err(|e| anyhow::anyhow!(e))?;
    if waf.audit_log.is_empty() {
        waf.audit_log = data.join("waf-audit.jsonl").display().to_string();
    }
    if waf.exclusions.is_empty() {
        waf.exclusions = data.join("waf-exclusions.conf").display().to_string();
    }
    Ok(waf)
}

async fn serve(g: &crate::cli::Global, args: ServeArgs) -> Result<()> {
    let (config, _) = crate::load_config(g)?;
    let mut waf = configured(&config, &g.data)?;
    if let Some(l) = args.listen {
        waf.listen = l;
    }
    if let Some(r) = args.rules {
        waf.rules = r.display().to_string();
    }
    if let Some(a) = args.audit_log {
        waf.audit_log = a.display().to_string();
    }
    if let Some(m) = args.audit_log_max_mb {
        waf.audit_log_max_mb = m;
    }
    if let Some(k) = args.audit_log_keep {
        waf.audit_log_keep = k;
    }
    if let Some(t) = &args.tenant {
        waf.tenant = t.clone();
    }
    if let Some(t) = args.tls_listen {
        waf.tls_listen = t;
    }
    if let Some(s) = args.scheduling {
        waf.scheduling = s;
    }
    if !args.upstream.is_empty() {
        let mut site = SiteConfig {
            hosts: args.hosts,
            upstreams: args.upstream,
            mode: args.mode.unwrap_or_default(),
            ..SiteConfig::default()
        };
        if let (Some(c), Some(k)) = (args.cert, args.key) {
            site.tls_cert = c.display().to_string();
            site.tls_key = k.display().to_string();
        }
        site.login = args
            .login
            .into_iter()
            .map(|path| mamori_waf::login::LoginConfig {
                path,
                ..Default::default()
            })
            .collect();
        waf.sites = vec![site];
    }
    if waf.sites.is_empty() {
        bail!("no site to protect: pass --upstream http://HOST:PORT or configure [[waf.site]]");
    }
    let (bus, writer) = match &args.tenant {
        Some(_) => {
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
    run_proxy(waf, bus, crate::up::shutdown_signal()).await?;
    if let Some(w) = writer {
        let _ = w.await;
    }
    Ok(())
}

/// Binds the listeners and serves until `shutdown`; used by `waf serve` and `mamori up`.
///
/// Plain HTTP is served by one thread per core, each with its own single-threaded runtime and
/// its own socket on the address (`SO_REUSEPORT`: the kernel spreads connections over them),
/// so a request is read, inspected and forwarded without passing between threads. That costs
/// about a quarter less CPU per request than one shared multi-threaded runtime.
pub async fn run_proxy(
    waf: ProxyConfig,
    bus: Option<mamori_core::bus::Publisher>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listen = waf.listen.clone();
    let tls_listen = waf.tls_listen.clone();
    let proxy = Proxy::new(waf, bus).context("starting the WAF")?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get().min(mamori_waf::proxy::SERVING_THREADS));
    let sockets = reuseport_sockets(&listen, threads)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = sockets[0].local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tls_task = if tls_listen.is_empty() {
        None
    } else {
        let l = tokio::net::TcpListener::bind(&tls_listen)
            .await
            .with_context(|| format!("listening on {tls_listen}"))?;
        tracing::info!(listen = %l.local_addr()?, "WAF listening (TLS)");
        let mut rx = stop_rx.clone();
        let p = proxy.clone();
        Some(tokio::spawn(async move {
            p.serve_tls(l, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        }))
    };
    let mut serving = Vec::with_capacity(sockets.len());
    let mut listening = Vec::with_capacity(sockets.len());
    let mut handoffs = mamori_waf::proxy::Handoff::for_threads(sockets.len()).into_iter();
    let scheduling = proxy.scheduling();
    for (i, socket) in sockets.into_iter().enumerate() {
        let handoff = handoffs.next();
        let mut rx = stop_rx.clone();
        let p: Arc<Proxy> = proxy.clone();
        let (ready, ready_rx) = tokio::sync::oneshot::channel();
        listening.push(ready_rx);
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        if scheduling == Scheduling::Adaptive {
            builder
                .on_thread_park(sched::parked)
                .on_thread_unpark(sched::unparked);
        }
        let runtime = builder.build().context("starting a WAF thread's runtime")?;
        let thread = std::thread::Builder::new()
            .name(format!("mamori-waf-{i}"))
            .spawn(move || {
                if let Err(e) = sched::start(scheduling) {
                    tracing::warn!(error = %e, ?scheduling, "could not set a WAF thread's scheduling");
                }
                runtime.block_on(async move {
                    // The socket becomes a listener on the runtime that serves it.
                    let listener = match socket.listen(1024) {
                        Ok(l) => {
                            let _ = ready.send(Ok(()));
                            l
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    p.serve_on_thread(i, listener, handoff, async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
                })
            })
            .context("starting a WAF thread")?;
        serving.push(thread);
    }
    let mut failed = None;
    for ready in listening {
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = failed.or(Some(anyhow::Error::from(e))),
            Err(_) => failed = failed.or(Some(anyhow::anyhow!("a WAF thread stopped"))),
        }
    }
    if let Some(e) = failed {
        let _ = stop_tx.send(true);
        return Err(e).with_context(|| format!("listening on {listen}"));
    }
    tracing::info!(listen = %local, rules = proxy.rule_count(), threads = serving.len(), ?scheduling, "WAF listening");
    let mut health = proxy.spawn_health_checks();
    health.push(proxy.spawn_reloader());
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || {
        for thread in serving {
            let _ = thread.join();
        }
    })
    .await;
    if let Some(t) = tls_task {
        if let Ok(Err(e)) = t.await {
            tracing::warn!(error = %e, "TLS listener");
        }
    }
    for h in health {
        h.abort();
    }
    proxy.flush_audit();
    Ok(())
}

/// `count` sockets bound to `listen` with `SO_REUSEPORT`, not yet listening (each is made a
/// listener on the runtime that serves it). The address is first taken without
/// `SO_REUSEPORT` and let go, so that a port another process (another Mamori included)
/// listens on is an error, as without the option, rather than shared; port 0 picks a free
/// port there.
async fn reuseport_sockets(listen: &str, count: usize) -> Result<Vec<tokio::net::TcpSocket>> {
    let addr = tokio::net::lookup_host(listen)
        .await?
        .next()
        .with_context(|| format!("{listen} names no address"))?;
    let bind =
        |addr: std::net::SocketAddr, share: bool| -> std::io::Result<tokio::net::TcpSocket> {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(share)?;
            socket.bind(addr)?;
            Ok(socket)
        };
    let bound = bind(addr, false)?.local_addr()?;
    (0..count.max(1)).map(|_| Ok(bind(bound, true)?)).collect()
}
