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
    /// Analyse one message (.eml) and print the verdict and each reason.
    Check {
        file: PathBuf,
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
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
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
    shutdown: impl std::future::Future<Output = ()> + Send,
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
    mamori_smtp::listen(listener, Arc::new(server), Arc::new(gateway), shutdown).await;
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
            file,
            direction: dir,
            domain,
            partner,
            json,
        } => {
            let dir = direction(&dir)?;
            let raw =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut ctx = CheckContext {
                company_domains: domain,
                partner_domains: partner,
                ..CheckContext::default()
            };
            if ctx.company_domains.is_empty() {
                if let Ok(mail) = mamori_mail::mime::Mail::parse(&raw, &policy.limits) {
                    let d = match dir {
                        Direction::Outbound => mail.from.as_ref().and_then(|m| m.domain()),
                        Direction::Inbound => {
                            mail.to.iter().chain(&mail.cc).find_map(|m| m.domain())
                        }
                    };
                    ctx.company_domains.extend(d);
                }
            }
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
