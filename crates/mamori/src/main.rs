//! `mamori`: the one binary. Parses the command line, loads the configuration, opens the
//! store and wires the console and engines together. Each engine is a library; this crate
//! only connects them.

/// mimalloc: per-thread free lists and no heap-wide consolidation. The proxy allocates and
/// frees the same small buffers on every request, and glibc's malloc spent about a tenth of
/// the WAF's CPU on them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod cli;
mod demo;
mod drill;
mod helpdesk;
mod ids;
mod logs;
mod logs_engine;
mod logs_out;
mod mail;
mod notify;
mod report;
mod respond;
mod scan;
mod send;
mod sensor;
mod up;
mod waf;
mod waf_test;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use mamori_core::config::Config;
use std::path::{Path, PathBuf};

fn main() -> std::process::ExitCode {
    // The local UTC offset can only be read while the process has one thread (for
    // year-less syslog timestamps).
    let _ = mamori_logs::reader::local_offset();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAMORI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let g = cli.global.clone();
    match cli.command {
        Command::Init { out, force } => {
            let path = out.unwrap_or_else(|| g.data.join("mamori.toml"));
            admin::init(&path, force)?;
        }
        Command::Up {
            listen,
            demo,
            role,
            console,
            token,
            ca,
            sensor_name,
        } => {
            let (config, config_path) = load_config(&g)?;
            if role == "sensor" {
                let opts = sensor::SensorOptions {
                    console: console.unwrap_or_default(),
                    token: token.unwrap_or_default(),
                    ca,
                    name: sensor_name.unwrap_or_else(host_name),
                };
                sensor::run(&g.data, config, listen, opts).await?;
            } else {
                up::up(&g.data, config, config_path, listen, demo).await?;
            }
        }
        Command::Tenant(cmd) => admin::tenant(&g, cmd).await?,
        Command::User(cmd) => admin::user(&g, cmd).await?,
        Command::Token(cmd) => admin::token(&g, cmd).await?,
        Command::Mail(cmd) => return mail::run(&g, cmd).await,
        Command::Ids(cmd) => ids::run(&g, cmd).await?,
        Command::Waf(cmd) => return waf::run(&g, cmd).await,
        Command::Logs(cmd) => return logs::run(&g, cmd).await,
        Command::Respond(cmd) => return respond::run(&g, cmd).await,
        Command::Drill(cmd) => return drill::run(&g, cmd).await,
        Command::Scan(args) => return scan::run(&g, args).await,
        Command::Report {
            tenant,
            month,
            out,
            lang,
            mail,
        } => return report::run(&g, &tenant, &month, &out, &lang, mail).await,
        Command::Send {
            file,
            url,
            token,
            batch,
            parallel,
        } => {
            return send::send(file, &url, &token, batch, parallel).await;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// This machine's name, for a sensor that was not given one.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sensor".into())
}

/// The configuration in effect and the file it came from (None for built-in defaults).
pub fn load_config(g: &cli::Global) -> Result<(Config, Option<PathBuf>)> {
    let candidates: Vec<PathBuf> = match &g.config {
        Some(p) => {
            if !p.exists() {
                anyhow::bail!(
                    "config file {} does not exist (mamori init writes one)",
                    p.display()
                );
            }
            vec![p.clone()]
        }
        None => vec![g.data.join("mamori.toml"), PathBuf::from("mamori.toml")],
    };
    let mut found = None;
    for path in candidates {
        if path.exists() {
            found = Some(path);
            break;
        }
    }
    let mut config = match &found {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(url) = &g.store {
        config.store.url = url.clone();
        config
            .validate()
            .map_err(|(key, msg)| anyhow::anyhow!("--store: {key}: {msg}"))?;
    }
    Ok((config, found))
}

/// Creates the data directory readable by its owner only: it holds the mail spool, the
/// store, the drill database (with its SMTP password) and keys. An existing directory that
/// others may read is left as it is, with a warning.
pub fn data_dir(data: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::metadata(data) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            tracing::warn!(
                dir = %data.display(),
                mode = format!("{:o}", m.permissions().mode() & 0o777),
                "the data directory is open to other users: chmod 700 it"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(_) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data)
            .with_context(|| format!("creating data directory {}", data.display())),
    }
}

/// Opens the configured store, creating the data directory for SQLite.
pub async fn open_store(data: &Path, config: &Config) -> Result<mamori_store::DynStore> {
    if config.store.url.is_empty() {
        data_dir(data)?;
    }
    let db = data.join("mamori.db");
    mamori_store::open(&config.store.url, &db)
        .await
        .with_context(|| {
            if config.store.url.is_empty() {
                format!("opening the SQLite store {}", db.display())
            } else {
                "connecting to the PostgreSQL store".to_string()
            }
        })
}
