//! `mamori scan`: the website diagnosis from the command line (`mamori-scan`), and the weekly
//! scans of each tenant's registered sites that `mamori up` runs.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use mamori_console::scans;
use mamori_scan::{Lang, ScanConfig, ScanReport, Scanner, Service};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    cmd: Option<ScanCommand>,
    /// The website, e.g. https://www.example.co.jp/
    url: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
    /// Extra checks: a directory of Nuclei-style YAML templates.
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Keep the scan for this tenant (console, monthly report) and store its findings as
    /// alerts on the website.
    #[arg(long)]
    tenant: Option<String>,
    /// Language of titles and advice: ja or en.
    #[arg(long, default_value = "en")]
    lang: String,
    /// Requests per second (default 5).
    #[arg(long)]
    rate: Option<f64>,
    /// Most requests in all (default 500).
    #[arg(long)]
    max_requests: Option<usize>,
    /// Ports to check on the same host, e.g. 22:ssh,3389:rdp,6379:redis (default: the usual).
    #[arg(long)]
    ports: Option<String>,
    /// The mail domain whose SPF and DMARC records are checked (default: the site's).
    #[arg(long)]
    mail_domain: Option<String>,
    /// Extra CA certificates to trust (PEM), e.g. a company's private CA.
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// The DNS server for the mail-domain check (default: the system's).
    #[arg(long)]
    dns: Option<std::net::SocketAddr>,
}

#[derive(Subcommand, Debug)]
pub enum ScanCommand {
    /// Replace the vulnerability data (validated first) used by later scans.
    UpdateDb { file: PathBuf },
    /// Register a site of a tenant for the weekly scans and the console.
    Register {
        #[arg(long)]
        tenant: String,
        url: String,
    },
    /// The registered sites, one per line: tenant, URL.
    Sites,
}

/// The replaced vulnerability data, when `update-db` was run.
fn vulndb(data: &Path) -> Option<PathBuf> {
    let p = data.join("scan-vulndb.json");
    p.exists().then_some(p)
}

/// The scanner's settings for `mamori up`'s scheduled scans.
pub fn default_config(data: &Path) -> ScanConfig {
    ScanConfig {
        vulndb_path: vulndb(data),
        ..ScanConfig::default()
    }
}

pub async fn run(g: &crate::cli::Global, a: ScanArgs) -> Result<std::process::ExitCode> {
    match a.cmd {
        Some(ScanCommand::UpdateDb { file }) => {
            std::fs::create_dir_all(&g.data)?;
            let dest = g.data.join("scan-vulndb.json");
            mamori_scan::update_db(&file, &dest).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", dest.display());
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Some(ScanCommand::Register { tenant, url }) => {
            let (config, _) = crate::load_config(g)?;
            let store = crate::open_store(&g.data, &config).await?;
            if store
                .tenant(&mamori_core::Scope::All, &tenant)
                .await?
                .is_none()
            {
                bail!("unknown tenant {tenant:?}");
            }
            println!(
                "{}",
                scans::register(&g.data, &tenant, &url).map_err(|e| anyhow::anyhow!("{e}"))?
            );
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Some(ScanCommand::Sites) => {
            for (tenant, urls) in scans::all_sites(&g.data) {
                for u in urls {
                    println!("{tenant}\t{u}");
                }
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        None => {}
    }
    let Some(url) = a.url else {
        bail!("give the website to scan: mamori scan https://www.example.co.jp/");
    };
    let lang = match a.lang.as_str() {
        "ja" => Lang::Ja,
        "en" => Lang::En,
        other => bail!("--lang {other:?}: ja or en"),
    };
    let mut config = ScanConfig {
        templates_dir: a.templates,
        vulndb_path: vulndb(&g.data),
        trust_anchors: a.ca,
        dns_server: a.dns,
        mail_domain: a.mail_domain,
        ..ScanConfig::default()
    };
    if let Some(r) = a.rate {
        config.rate_per_second = r;
    }
    if let Some(m) = a.max_requests {
        config.max_requests = m;
    }
    if let Some(p) = a.ports {
        config.ports = p
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|p| {
                let (port, svc) = p
                    .split_once(':')
                    .with_context(|| format!("--ports {p:?}: PORT:SERVICE"))?;
                Ok((
                    port.parse()
                        .with_context(|| format!("--ports {p:?}: port"))?,
                    svc.parse::<Service>()
                        .map_err(|e| anyhow::anyhow!("--ports: {e}"))?,
                ))
            })
            .collect::<Result<_>>()?;
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = move |p: mamori_scan::Progress| {
        if terminal {
            let _ = write!(
                std::io::stderr(),
                "\r[{}/{}] {:<12} requests {}/{}  findings {}   ",
                p.phase.index() + 1,
                mamori_scan::Phase::COUNT,
                p.phase.name(),
                p.requests_sent,
                p.max_requests,
                p.findings
            );
        }
    };
    let report: ScanReport = match &a.tenant {
        Some(tenant) => {
            let (cfg, _) = crate::load_config(g)?;
            let store = crate::open_store(&g.data, &cfg).await?;
            if store
                .tenant(&mamori_core::Scope::All, tenant)
                .await?
                .is_none()
            {
                bail!("unknown tenant {tenant:?}");
            }
            let window = time::Duration::minutes(cfg.incidents.window_minutes as i64);
            scans::scan_and_keep(&store, &g.data, tenant, &url, config, window, progress)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => {
            let scanner = Scanner::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            scanner.scan(&url, progress).await
        }
    };
    if terminal {
        eprintln!();
    }
    if a.json {
        println!("{}", serde_json::to_string(&report.to_json(lang))?);
    } else {
        let mut out = std::io::stdout().lock();
        for f in &report.findings {
            let title = if lang == Lang::Ja {
                &f.title_ja
            } else {
                &f.title_en
            };
            let advice = if lang == Lang::Ja {
                &f.advice_ja
            } else {
                &f.advice_en
            };
            let _ = writeln!(
                out,
                "{:<8} {title}\n         {}\n         {advice}",
                f.severity.as_str(),
                f.url
            );
        }
    }
    for e in &report.errors {
        eprintln!("not checked: {e}");
    }
    eprintln!(
        "{}: {} findings, {} requests, {:.1} s",
        report.target,
        report.findings.len(),
        report.requests_sent,
        (report.finished - report.started).as_seconds_f64()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// In `mamori up`: every hour, scans each registered site whose last scan is a week old or
/// more (the first look ten minutes after start).
pub async fn weekly(store: mamori_store::DynStore, data: PathBuf, window: time::Duration) {
    let hour = std::time::Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + std::time::Duration::from_secs(600),
        hour,
    );
    loop {
        tick.tick().await;
        let week_ago = time::OffsetDateTime::now_utc() - time::Duration::days(7);
        for (tenant, urls) in scans::all_sites(&data) {
            for url in urls {
                let last = scans::history(&data, &tenant, &url, 1);
                if last.first().is_some_and(|r| r.finished > week_ago) {
                    continue;
                }
                match scans::scan_and_keep(
                    &store,
                    &data,
                    &tenant,
                    &url,
                    default_config(&data),
                    window,
                    |_| {},
                )
                .await
                {
                    Ok(r) => {
                        tracing::info!(%tenant, %url, findings = r.findings.len(), "weekly scan done")
                    }
                    Err(e) => tracing::warn!(%tenant, %url, error = %e, "weekly scan failed"),
                }
            }
        }
    }
}
