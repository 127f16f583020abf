//! `mamori respond …` and the applier `mamori up` runs.
//!
//! The store holds the actions (who, when, why, until when); the firewall is made to match
//! it. The CLI records an action and applies it at once; the applier in `mamori up` syncs
//! nftables with the actions in force every few seconds, so actions taken in the console,
//! expired or released anywhere, and everything after a restart reach the kernel.

use anyhow::{Context, Result};
use clap::Subcommand;
use mamori_console::respond::{self, Request};
use mamori_core::config::RespondConfig;
use mamori_core::Scope;
use mamori_store::{ActionKind, ActionQuery, DynStore, ResponseAction};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum RespondCommand {
    /// Block an address or network (--ip), or a domain's DNS lookups (--domain).
    Block {
        /// IP address or CIDR, e.g. 203.0.113.9 or 198.51.100.0/24.
        #[arg(long, required_unless_present = "domain", conflicts_with = "domain")]
        ip: Option<String>,
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Cut a PC off from everything but the console (respond.allow) and DNS.
    Isolate {
        /// The PC's IP address.
        #[arg(long)]
        host: String,
        #[command(flatten)]
        common: Common,
    },
    /// List the actions in force (with --all: released and expired ones too).
    List {
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End an action (its id from `list`).
    Release {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Make nftables match the actions in force now (what `mamori up` does every few seconds).
    Sync,
}

#[derive(clap::Args, Debug)]
pub struct Common {
    /// How long: 90s, 30m, 12h, 7d (default: until released).
    #[arg(long, default_value = "")]
    ttl: String,
    /// Why (kept in the audit trail).
    #[arg(long, default_value = "")]
    reason: String,
    /// The tenant it is for (default: the gateway itself).
    #[arg(long)]
    tenant: Option<String>,
    /// The incident it answers (the action is noted in its timeline).
    #[arg(long)]
    incident: Option<String>,
}

/// Who a command-line action is recorded as.
fn cli_actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "root".into());
    format!("cli:{user}")
}

pub async fn run(g: &crate::cli::Global, cmd: RespondCommand) -> Result<std::process::ExitCode> {
    let (config, _) = crate::load_config(g)?;
    let store = crate::open_store(&g.data, &config).await?;
    let scope = Scope::All;
    match cmd {
        RespondCommand::Block { ip, domain, common } => {
            let (kind, target) = match (ip, domain) {
                (Some(ip), _) => (ActionKind::BlockIp, ip),
                (None, Some(d)) => (ActionKind::BlockDomain, d),
                (None, None) => anyhow::bail!("give --ip or --domain"),
            };
            take(&store, &config.respond, kind, target, common).await
        }
        RespondCommand::Isolate { host, common } => {
            take(&store, &config.respond, ActionKind::Isolate, host, common).await
        }
        RespondCommand::List { all, json } => {
            let actions = store
                .actions(
                    &scope,
                    &ActionQuery {
                        active_only: !all,
                        limit: 500,
                        ..ActionQuery::default()
                    },
                )
                .await?;
            let now = OffsetDateTime::now_utc();
            for a in &actions {
                if json {
                    println!("{}", serde_json::to_string(a)?);
                } else {
                    println!("{}", line(a, now));
                }
            }
            if !json && actions.is_empty() {
                eprintln!(
                    "no actions{}",
                    if all {
                        ""
                    } else {
                        " in force (--all for history)"
                    }
                );
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        RespondCommand::Release { id, reason } => {
            let id = mamori_core::Ulid::from_string(&id)
                .map_err(|_| anyhow::anyhow!("{id:?} is not an action id (mamori respond list)"))?;
            let action = respond::release(&store, &scope, &cli_actor(), id, &reason)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if config.respond.enabled {
                if let Some(fw_action) = fw_action_for_revoke(&action) {
                    let fw = firewall(&config.respond)?;
                    tokio::task::spawn_blocking(move || fw.revoke(&fw_action))
                        .await?
                        .context("removing it from nftables")?;
                }
            }
            println!("released {} ({})", action.id, respond::describe(&action));
            Ok(std::process::ExitCode::SUCCESS)
        }
        RespondCommand::Sync => {
            let mut applier =
                Applier::new(ActionSource::Store(store), config.respond.clone(), None)?;
            applier.sync(true).await?;
            println!("{} action(s) in force applied", applier.applied);
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

async fn take(
    store: &DynStore,
    cfg: &RespondConfig,
    kind: ActionKind,
    target: String,
    common: Common,
) -> Result<std::process::ExitCode> {
    let incident = common
        .incident
        .as_deref()
        .map(|i| {
            mamori_core::Ulid::from_string(i)
                .map_err(|_| anyhow::anyhow!("{i:?} is not an incident id"))
        })
        .transpose()?;
    let req = Request {
        tenant: common.tenant,
        kind,
        target,
        ttl: respond::parse_ttl(&common.ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?,
        reason: common.reason,
        incident,
    };
    let action = respond::take(store, &Scope::All, &cli_actor(), req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", action.id);
    if !cfg.enabled {
        eprintln!("recorded; not applied (respond.enabled = false)");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let now = OffsetDateTime::now_utc();
    let Some(fw_action) = respond::firewall_action(&action, now) else {
        return Ok(std::process::ExitCode::SUCCESS);
    };
    let fw = firewall(cfg)?;
    let result = tokio::task::spawn_blocking(move || {
        fw.available()?;
        fw.apply(&fw_action)
    })
    .await?;
    match result {
        Ok(()) => {
            store.set_action_status(action.id, "applied").await?;
            eprintln!("applied: {}", respond::describe(&action));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            store
                .set_action_status(action.id, &format!("error: {e}"))
                .await?;
            eprintln!("recorded, but not applied: {e}");
            Ok(std::process::ExitCode::FAILURE)
        }
    }
}

/// The firewall action to remove for a released one (its TTL does not matter).
fn fw_action_for_revoke(a: &ResponseAction) -> Option<mamori_respond::Action> {
    let mut copy = a.clone();
    copy.expires_at = None;
    respond::firewall_action(&copy, OffsetDateTime::now_utc())
}

/// One line of `respond list`.
fn line(a: &ResponseAction, now: OffsetDateTime) -> String {
    let state = if a.released_at.is_some() {
        format!("released by {}", a.released_by.as_deref().unwrap_or("?"))
    } else if !a.is_active(now) {
        "expired".into()
    } else {
        a.status.clone()
    };
    format!(
        "{}  {:<12} {:<20} tenant={} by={} reason={:?} {}  [{}]",
        a.id,
        a.kind.as_str(),
        a.target,
        a.tenant.as_deref().unwrap_or("-"),
        a.created_by,
        a.reason,
        a.expires_at
            .map(|e| format!(
                "until {}",
                e.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ))
            .unwrap_or_else(|| "until released".into()),
        state
    )
}

/// The firewall the configuration describes.
pub fn firewall(cfg: &RespondConfig) -> Result<mamori_respond::Firewall> {
    let allow = cfg
        .allow
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| anyhow::anyhow!("respond.allow: {a:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(mamori_respond::Firewall::new(
        mamori_respond::FirewallConfig {
            table: cfg.table.clone(),
            netns: (!cfg.netns.is_empty()).then(|| cfg.netns.clone()),
            isolate_allow: allow,
            allow_dns: cfg.allow_dns,
        },
    )?)
}

/// Where an applier reads the actions in force and reports how applying them went.
pub enum ActionSource {
    /// The local store: `mamori up` as a console, and the CLI.
    Store(DynStore),
    /// The provider's console, through its API with the sensor's token: `up --role sensor`
    /// applies its tenant's actions on the SME's own gateway.
    Console(RemoteActions),
}

impl ActionSource {
    async fn active(&self) -> Result<Vec<ResponseAction>> {
        match self {
            ActionSource::Store(store) => Ok(store
                .actions(
                    &Scope::All,
                    &ActionQuery {
                        active_only: true,
                        limit: 500,
                        ..ActionQuery::default()
                    },
                )
                .await?),
            ActionSource::Console(remote) => remote.active().await,
        }
    }

    async fn report(&self, id: mamori_core::Ulid, status: &str) -> Result<()> {
        match self {
            ActionSource::Store(store) => Ok(store.set_action_status(id, status).await?),
            ActionSource::Console(remote) => remote.report(id, status).await,
        }
    }
}

/// A sensor's view of its console's response actions (`GET /api/v1/actions`, and
/// `POST /api/v1/actions/{id}/status` for what applying them gave).
pub struct RemoteActions {
    client: reqwest::Client,
    base: String,
    token: String,
    sensor: String,
}

impl RemoteActions {
    /// `ca`: trust only the certificates in this PEM file (a private CA), as the forwarder does.
    pub fn new(
        console: &str,
        token: &str,
        ca: Option<&std::path::Path>,
        sensor: &str,
    ) -> Result<RemoteActions> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5));
        if let Some(path) = ca {
            let pem =
                std::fs::read(path).with_context(|| format!("reading --ca {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--ca {}: not PEM certificates", path.display()))?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        Ok(RemoteActions {
            client: builder
                .build()
                .context("the HTTPS client for response actions")?,
            base: console.trim_end_matches('/').to_string(),
            token: token.to_string(),
            sensor: sensor.to_string(),
        })
    }

    async fn active(&self) -> Result<Vec<ResponseAction>> {
        #[derive(serde::Deserialize)]
        struct Answer {
            items: Vec<ResponseAction>,
        }
        let url = format!("{}/api/v1/actions", self.base);
        let r = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = r.status();
        if !status.is_success() {
            anyhow::bail!("GET {url}: {status}");
        }
        let answer: Answer = r
            .json()
            .await
            .with_context(|| format!("GET {url}: the answer"))?;
        // Only what the console says is in force now (the list may be a moment old).
        let now = OffsetDateTime::now_utc();
        Ok(answer
            .items
            .into_iter()
            .filter(|a| a.is_active(now))
            .collect())
    }

    async fn report(&self, id: mamori_core::Ulid, status: &str) -> Result<()> {
        let url = format!("{}/api/v1/actions/{id}/status", self.base);
        let r = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "status": status, "sensor": self.sensor }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if !r.status().is_success() {
            anyhow::bail!("POST {url}: {}", r.status());
        }
        Ok(())
    }
}

/// Keeps nftables equal to the actions in force.
pub struct Applier {
    source: ActionSource,
    fw: mamori_respond::Firewall,
    /// The WAF's bans file, kept equal to the blocked addresses (the WAF refuses them with 403
    /// even where nftables cannot apply, e.g. behind a load balancer).
    waf_bans: Option<std::path::PathBuf>,
    /// The last status written per action, so unchanged ones are not rewritten.
    status: HashMap<mamori_core::Ulid, String>,
    /// What was last applied (ids), to skip syncs when nothing changed.
    last: Option<Vec<mamori_core::Ulid>>,
    last_sync: Option<std::time::Instant>,
    /// Actions applied by the last sync.
    pub applied: usize,
}

/// Even with nothing changed, the table is rewritten this often (someone may have flushed it).
const RESYNC: Duration = Duration::from_secs(60);

impl Applier {
    pub fn new(
        source: ActionSource,
        cfg: RespondConfig,
        waf_bans: Option<std::path::PathBuf>,
    ) -> Result<Applier> {
        Ok(Applier {
            source,
            fw: firewall(&cfg)?,
            waf_bans,
            status: HashMap::new(),
            last: None,
            last_sync: None,
            applied: 0,
        })
    }

    /// One round: reads the actions in force and, when they changed (or `force`, or a minute
    /// passed), makes nftables match them and records each one's status.
    pub async fn sync(&mut self, force: bool) -> Result<()> {
        let actions = self.source.active().await?;
        let ids: Vec<_> = actions.iter().map(|a| a.id).collect();
        let due = self.last_sync.is_none_or(|t| t.elapsed() >= RESYNC);
        if !force && !due && self.last.as_ref() == Some(&ids) {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        if let Some(path) = &self.waf_bans {
            if let Err(e) = write_bans(path, &actions) {
                tracing::warn!(error = %format!("{e:#}"), "WAF bans not written");
            }
        }
        // A gateway that never took an action keeps its firewall untouched.
        if actions.is_empty() && self.last.as_ref().is_none_or(|l| l.is_empty()) && !force {
            self.last = Some(ids);
            self.last_sync = Some(std::time::Instant::now());
            return Ok(());
        }
        let pairs: Vec<(mamori_core::Ulid, mamori_respond::Action)> = actions
            .iter()
            .filter_map(|a| respond::firewall_action(a, now).map(|f| (a.id, f)))
            .collect();
        let fw_actions: Vec<_> = pairs.iter().map(|(_, f)| f.clone()).collect();
        let fw = self.fw.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            fw.available()?;
            fw.sync(&fw_actions)
        })
        .await?;
        let mut statuses: Vec<(mamori_core::Ulid, String)> = Vec::new();
        match outcome {
            Ok(refused) => {
                self.applied = pairs.len() - refused.len();
                for (id, f) in &pairs {
                    let status = match refused.iter().find(|(r, _)| r == f) {
                        Some((_, e)) => format!("error: {e}"),
                        None => "applied".to_string(),
                    };
                    statuses.push((*id, status));
                }
            }
            Err(e) => {
                self.applied = 0;
                for (id, _) in &pairs {
                    statuses.push((*id, format!("error: {e}")));
                }
            }
        }
        for (id, status) in statuses {
            if self.status.get(&id) != Some(&status) {
                if status != "applied" {
                    tracing::warn!(action = %id, %status, "response action not applied");
                }
                self.source.report(id, &status).await?;
                self.status.insert(id, status);
            }
        }
        self.status.retain(|id, _| ids.contains(id));
        self.last = Some(ids);
        self.last_sync = Some(std::time::Instant::now());
        Ok(())
    }
}

/// Writes the blocked addresses for the WAF (atomically: a temporary file renamed).
fn write_bans(path: &std::path::Path, actions: &[ResponseAction]) -> Result<()> {
    let bans: Vec<serde_json::Value> = actions
        .iter()
        .filter(|a| a.kind == ActionKind::BlockIp)
        .map(|a| {
            serde_json::json!({
                "net": a.target,
                "until": a.expires_at.map(|e| e.unix_timestamp()),
            })
        })
        .collect();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&bans)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The applier task of `mamori up`: a sync every two seconds until the process stops.
pub async fn run_applier(
    source: ActionSource,
    cfg: RespondConfig,
    waf_bans: Option<std::path::PathBuf>,
) {
    let mut applier = match Applier::new(source, cfg, waf_bans) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "response actions will not be applied");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    // A failure is logged when it starts or changes, not every round (a sensor's console may
    // be down for hours), and the recovery once.
    let mut failing: Option<String> = None;
    loop {
        tick.tick().await;
        match applier.sync(false).await {
            Ok(()) => {
                if failing.take().is_some() {
                    tracing::info!("syncing response actions works again");
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                if failing.as_ref() != Some(&message) {
                    tracing::warn!(error = %message, "syncing response actions failed; retrying every 2 s");
                    failing = Some(message);
                }
            }
        }
    }
}
