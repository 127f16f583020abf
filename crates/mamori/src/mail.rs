//! `mamori mail`: check a message offline, run the SMTP gateway, and work its queue.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mamori_mail::gateway::Gateway;
use mamori_mail::queue::{NextHop, Queue, QueueConfig};
use mamori_mail::{check, CheckContext, Direction, Policy};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Analyse one message (.eml) and print the verdict and each reason; or several files
    /// and directories (every *.eml below them, in parallel): one JSON line per message on
    /// stdout and a summary (messages, seconds, msg/s, errors) on stderr.
    Check {
        #[arg(value_name = "FILE_OR_DIR", required = true)]
        files: Vec<PathBuf>,
        /// inbound (from the internet) or outbound (from staff).
        #[arg(long, default_value = "inbound")]
        direction: String,
        /// The company's own domain (default: the sender's domain for outbound, the first
        /// recipient's for inbound). Repeatable.
        #[arg(long)]
        domain: Vec<String>,
        /// A usual partner's domain (for lookalike checks). Repeatable.
        #[arg(long)]
        partner: Vec<String>,
        /// Print one JSON object instead of text (several messages: always JSON lines).
        #[arg(long)]
        json: bool,
        /// Threads analysing several messages (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Analyse the whole set this many times (for a stable msg/s figure).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Run the SMTP gateway: accept, check, spool (fsync before 250) and relay.
    Serve {
        #[arg(long, default_value = "outbound")]
        direction: String,
        #[arg(long, default_value = "127.0.0.1:2525")]
        listen: String,
        /// Where accepted mail goes: HOST:PORT of a relay (the company server or a
        /// smarthost), or `mx` to deliver to each recipient domain's MX on port 25.
        #[arg(long)]
        next_hop: String,
        /// Tenant the gateway's alerts belong to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The company's own domains. Repeatable.
        #[arg(long)]
        domain: Vec<String>,
        #[arg(long)]
        partner: Vec<String>,
        /// This gateway's host name (EHLO, bounces).
        #[arg(long, default_value = "mamori.localhost")]
        hostname: String,
        /// PEM certificate and key for STARTTLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// The console's address as staff reach it, for the send/cancel links in hold notices.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        console_url: String,
        /// Require SMTP AUTH (PLAIN/LOGIN after STARTTLS) against the console's users:
        /// for a submission listener that staff's mail clients use.
        #[arg(long)]
        auth: bool,
    },
    /// The spool: list messages, retry, release held or quarantined ones, delete.
    Queue {
        #[command(subcommand)]
        action: Option<QueueAction>,
    },
}

#[derive(Subcommand, Debug)]
pub enum QueueAction {
    /// One line per message: id, direction, state, sender, recipients, attempts, last error.
    List,
    /// Try a deferred message now.
    Retry { id: String },
    /// Let a held, quarantined or delayed message go.
    Release { id: String },
    /// Remove a message from the spool for good.
    Delete { id: String },
}

fn direction(s: &str) -> Result<Direction> {
    match s {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        other => bail!("--direction {other:?}: use inbound or outbound"),
    }
}

/// The `[mail]` policy of the configuration file, or the defaults.
fn policy(config: &mamori_core::config::Config, path: Option<&Path>) -> Result<Policy> {
    if config.mail.is_empty() {
        return Ok(Policy::default());
    }
    toml::Value::Table(config.mail.clone())
        .try_into()
        .with_context(|| {
            format!(
                "{}: [mail]",
                path.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "configuration".into())
            )
        })
}

/// Runs one SMTP gateway listener until `shutdown`: opens (and recovers) its spool, starts
/// the delivery queue, and serves. Used by `mamori mail serve` and by `mamori up` when
/// `[mail_gateway]` is enabled.
pub async fn run_gateway(
    data: &Path,
    settings: &mamori_core::config::MailGatewayConfig,
    policy: Policy,
    store: mamori_store::DynStore,
    bus: mamori_core::bus::Publisher,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let dir = direction(&settings.direction)?;
    let hop = if settings.next_hop == "mx" {
        NextHop::Mx { port: 25 }
    } else {
        let (host, port) = settings
            .next_hop
            .rsplit_once(':')
            .context("next hop: HOST:PORT or mx")?;
        NextHop::Relay {
            host: host.to_string(),
            port: port.parse().context("next hop port")?,
        }
    };
    let resolver = match hop {
        NextHop::Mx { .. } => Some(Arc::new(mamori_mail::Resolver::system()?)),
        NextHop::Relay { .. } => None,
    };
    if store
        .tenant(&mamori_core::Scope::All, &settings.tenant)
        .await?
        .is_none()
    {
        bail!(
            "no tenant {t} (mamori tenant add {t}); the gateway's alerts belong to one",
            t = settings.tenant
        );
    }
    let queue = Queue::open(
        QueueConfig::new(spool_dir(data), hop, &settings.hostname),
        resolver,
    )?;
    let recovered = queue.spool().entries()?.len();
    let mut server = mamori_smtp::ServerConfig::new(&settings.hostname);
    if !settings.tls_cert.is_empty() {
        server.tls = Some(mamori_console::tls::server_config(
            Path::new(&settings.tls_cert),
            Path::new(&settings.tls_key),
        )?);
    }
    server.advertise_auth = settings.auth;
    server.auth_required = settings.auth;
    let takeover = Arc::new(mamori_mail::takeover::Tracker::default());
    queue.report_outcomes_to(takeover.clone());
    let gateway = Gateway {
        direction: dir,
        tenant: settings.tenant.clone(),
        policy,
        context: CheckContext {
            company_domains: settings.domains.clone(),
            partner_domains: settings.partners.clone(),
            ..CheckContext::default()
        },
        queue: queue.clone(),
        bus: Some(bus),
        console_url: Some(settings.console_url.clone()),
        hostname: settings.hostname.clone(),
        takeover,
        accounts: Some(Arc::new(ConsoleAccounts {
            store,
            tenant: settings.tenant.clone(),
        })),
    };
    let addr: SocketAddr = settings
        .listen
        .parse()
        .with_context(|| format!("mail gateway listen address {}", settings.listen))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(%addr, direction = dir.as_str(), spool = %spool_dir(data).display(), recovered, "mail gateway listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(queue.clone().run(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    // On the runtime's workers, not the thread that called block_on: each accepted session
    // then starts on the worker that accepted it instead of waking another thread.
    let serving = tokio::spawn(mamori_smtp::listen(
        listener,
        Arc::new(server),
        Arc::new(gateway),
        shutdown,
    ));
    if let Err(e) = serving.await {
        tracing::error!(error = %e, "the mail gateway's listener stopped");
    }
    let _ = stop_tx.send(true);
    let _ = runner.await;
    Ok(())
}

/// The `[mail]` policy for `mamori up`.
pub fn configured_policy(config: &mamori_core::config::Config) -> Result<Policy> {
    policy(config, None)
}

/// SMTP AUTH against the console's users of the gateway's tenant (and provider admins).
struct ConsoleAccounts {
    store: mamori_store::DynStore,
    tenant: String,
}

#[mamori_smtp::async_trait]
impl mamori_mail::gateway::Accounts for ConsoleAccounts {
    async fn verify(&self, user: &str, password: &str) -> bool {
        let Ok(Some(u)) = self.store.user_by_email(&user.trim().to_lowercase()).await else {
            return false;
        };
        if u.tenant.as_deref().is_some_and(|t| t != self.tenant) {
            return false;
        }
        let (password, hash) = (password.to_string(), u.password_hash);
        tokio::task::spawn_blocking(move || mamori_console::auth::verify_password(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

fn spool_dir(data: &Path) -> PathBuf {
    data.join("mail-spool")
}

pub async fn run(g: &crate::cli::Global, cmd: MailCommand) -> Result<std::process::ExitCode> {
    let (config, path) = crate::load_config(g)?;
    let policy = policy(&config, path.as_deref())?;
    match cmd {
        MailCommand::Check {
            files,
            direction: dir,
            domain,
            partner,
            json,
            jobs,
            repeat,
        } => {
            let dir = direction(&dir)?;
            let single = match files.as_slice() {
                [file] if repeat == 1 && !file.is_dir() => Some(file),
                _ => None,
            };
            let Some(file) = single else {
                let batch = Batch {
                    direction: dir,
                    policy,
                    domains: domain,
                    partners: partner,
                };
                return batch.run(&files, jobs, repeat);
            };
            let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let ctx = check_context(&raw, dir, &policy, &domain, &partner);
            let report = check(&raw, dir, &policy, &ctx)
                .with_context(|| format!("checking {}", file.display()))?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!(
                    "verdict: {} (score {})",
                    report.verdict.as_str(),
                    report.score
                );
                for r in &report.reasons {
                    println!("  {:<28} {:>5}  {}", r.code, r.score, r.message_en);
                    println!("  {:<28} {:>5}  {}", "", "", r.message_ja);
                }
            }
        }
        MailCommand::Serve {
            direction: dir,
            listen,
            next_hop,
            tenant,
            domain,
            partner,
            hostname,
            tls_cert,
            tls_key,
            auth,
            console_url,
        } => {
            let settings = mamori_core::config::MailGatewayConfig {
                enabled: true,
                listen,
                direction: dir,
                next_hop,
                tenant,
                domains: domain,
                partners: partner,
                hostname,
                console_url,
                auth,
                tls_cert: tls_cert
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                tls_key: tls_key.map(|p| p.display().to_string()).unwrap_or_default(),
            };
            // Alerts go through the same bus and writer as every engine's, into the store.
            let store = crate::open_store(&g.data, &config).await?;
            let (bus, subscriber) = mamori_core::bus::channel(config.bus.capacity);
            let writer = tokio::spawn(mamori_store::writer::run(
                subscriber,
                store.clone(),
                crate::up::writer_config(&config),
            ));
            let served = run_gateway(
                &g.data,
                &settings,
                policy,
                store,
                bus,
                crate::up::shutdown_signal(),
            )
            .await;
            let _ = writer.await;
            served?;
        }
        MailCommand::Queue { action } => {
            let queue = Queue::attach(QueueConfig::new(
                spool_dir(&g.data),
                NextHop::Mx { port: 25 },
                "mamori.localhost",
            ))?;
            match action.unwrap_or(QueueAction::List) {
                QueueAction::List => {
                    for e in queue.spool().entries()? {
                        let state = match &e.hold {
                            Some(mamori_mail::queue::spool::Hold::Held { .. }) => "held",
                            Some(mamori_mail::queue::spool::Hold::Quarantined { .. }) => {
                                "quarantined"
                            }
                            Some(mamori_mail::queue::spool::Hold::Delayed { .. }) => "delayed",
                            None if e.attempts > 0 => "deferred",
                            None => "queued",
                        };
                        let rcpts: Vec<_> =
                            e.recipients.iter().map(|r| r.address.as_str()).collect();
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            e.id,
                            e.direction,
                            state,
                            e.mail_from,
                            rcpts.join(","),
                            e.attempts,
                            e.last_error
                        );
                    }
                }
                QueueAction::Retry { id } => queue.retry_now(&id)?,
                QueueAction::Release { id } => {
                    queue.release(&id)?;
                }
                QueueAction::Delete { id } => queue.delete(&id)?,
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// What `mamori mail check` knows about the company when checking `raw`: the given domains,
/// or else the sender's (outbound) or first recipient's (inbound) domain.
fn check_context(
    raw: &[u8],
    dir: Direction,
    policy: &Policy,
    domains: &[String],
    partners: &[String],
) -> CheckContext {
    let mut ctx = CheckContext {
        company_domains: domains.to_vec(),
        partner_domains: partners.to_vec(),
        ..CheckContext::default()
    };
    if ctx.company_domains.is_empty() {
        // From, To and Cc are top-level headers: parsing the header block alone finds them
        // without decoding the body and attachments a second time.
        let head = mamori_mail::mime::header_end(raw).map_or(raw, |end| &raw[..end]);
        if let Ok(mail) = mamori_mail::mime::Mail::parse(head, &policy.limits) {
            let d = match dir {
                Direction::Outbound => mail.from.as_ref().and_then(|m| m.domain()),
                Direction::Inbound => mail.to.iter().chain(&mail.cc).find_map(|m| m.domain()),
            };
            ctx.company_domains.extend(d);
        }
    }
    ctx
}

/// `mamori mail check` over many messages: every file named and every *.eml below the
/// directories named, analysed on all cores, one JSON line per message in input order.
struct Batch {
    direction: Direction,
    policy: Policy,
    domains: Vec<String>,
    partners: Vec<String>,
}

impl Batch {
    fn run(
        &self,
        paths: &[PathBuf],
        jobs: Option<usize>,
        repeat: usize,
    ) -> Result<std::process::ExitCode> {
        use std::io::Write;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let started = std::time::Instant::now();
        let mut files = Vec::new();
        let mut errors = 0usize;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for p in paths {
            if p.is_dir() {
                if let Err(e) = eml_files(p, &mut files) {
                    errors += 1;
                    writeln!(out, "{}", error_line(p, &format!("{e:#}")))?;
                }
            } else {
                files.push(p.clone());
            }
        }
        let total = files.len() * repeat.max(1);
        let jobs = jobs
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .clamp(1, total.max(1));
        let next = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, String, bool)>();
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..jobs {
                let (tx, next, files) = (tx.clone(), &next, &files);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let file = &files[i % files.len()];
                    let (line, failed) = match self.one(file) {
                        Ok(line) => (line, false),
                        Err(e) => (error_line(file, &format!("{e:#}")), true),
                    };
                    if tx.send((i, line, failed)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            // Lines arrive in any order; print them in input order.
            let mut pending = std::collections::BTreeMap::new();
            let mut printed = 0;
            for (i, line, failed) in rx {
                errors += usize::from(failed);
                pending.insert(i, line);
                while let Some(line) = pending.remove(&printed) {
                    writeln!(out, "{line}")?;
                    printed += 1;
                }
            }
            Ok(())
        })?;
        out.flush()?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "messages: {total}  seconds: {secs:.3}  msg/s: {:.1}  errors: {errors}  jobs: {jobs}",
            total as f64 / secs.max(1e-9)
        );
        Ok(if errors == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        })
    }

    /// One message's JSON line: `{"file", "verdict", "score", "reasons"}`.
    fn one(&self, file: &Path) -> Result<String> {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let ctx = check_context(
            &raw,
            self.direction,
            &self.policy,
            &self.domains,
            &self.partners,
        );
        let report = check(&raw, self.direction, &self.policy, &ctx)
            .with_context(|| format!("checking {}", file.display()))?;
        Ok(serde_json::json!({
            "file": file.display().to_string(),
            "verdict": report.verdict,
            "score": report.score,
            "reasons": report.reasons,
        })
        .to_string())
    }
}

fn error_line(file: &Path, error: &str) -> String {
    serde_json::json!({"file": file.display().to_string(), "error": error}).to_string()
}

/// Every *.eml below `dir`, sorted, so that runs and their output compare.
fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry
                .with_context(|| format!("reading {}", d.display()))?
                .path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    out.extend(found);
    Ok(())
}
