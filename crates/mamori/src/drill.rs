//! `mamori drill …`: targeted-mail training from the command line (the console's Training
//! page does the same). Data is in `DATA/drill.db`; `mamori up` sends due campaigns and serves
//! the tracking endpoints under each campaign's base URL.

use anyhow::{Context, Result};
use clap::Subcommand;
use mamori_core::Scope;
use mamori_drill::{Drill, NewCampaign, SmtpProfile};
use std::path::PathBuf;

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum DrillCommand {
    /// Import staff from a CSV (name, email, department, position; UTF-8 or Shift_JIS) into a
    /// group; prints the group id.
    Import {
        file: PathBuf,
        #[arg(long)]
        tenant: String,
        /// The group's name (default: the file's name).
        #[arg(long)]
        group: Option<String>,
    },
    /// Campaigns: create, start, pause, resume, complete, list.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// The built-in templates, one per line, id first.
    Templates,
    /// A campaign's results (counts of people).
    Results {
        id: String,
        #[arg(long)]
        json: bool,
        /// One line per recipient as CSV instead.
        #[arg(long)]
        csv: bool,
    },
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Create a campaign (draft); prints its id.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// A template id (mamori drill templates).
        #[arg(long)]
        template: String,
        /// Group ids (repeatable).
        #[arg(long, required = true)]
        group: Vec<String>,
        /// SMTP server that sends the mails, HOST:PORT.
        #[arg(long)]
        smtp: String,
        #[arg(long)]
        starttls: bool,
        #[arg(long)]
        smtp_user: Option<String>,
        #[arg(long, env = "MAMORI_DRILL_SMTP_PASSWORD", hide_env_values = true)]
        smtp_password: Option<String>,
        /// The sender address the mails show.
        #[arg(long)]
        from: String,
        #[arg(long)]
        from_name: Option<String>,
        /// Where the tracking links point (mamori up's console URL as staff reach it).
        #[arg(long)]
        base_url: String,
        /// When sending starts once the campaign is started (RFC 3339, e.g.
        /// 2026-12-01T09:00:00+09:00; default: at once).
        #[arg(long)]
        start: Option<String>,
        /// Spread the sending over this many hours.
        #[arg(long, default_value_t = 0)]
        spread_hours: u32,
        /// At most this many mails a minute.
        #[arg(long, default_value_t = 60)]
        per_minute: u32,
    },
    Start {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Complete {
        id: String,
    },
    /// One line per campaign: id, tenant, state, name.
    List,
}

fn open(g: &crate::cli::Global) -> Result<Drill> {
    Drill::open(&g.data).with_context(|| format!("opening {}", g.data.join("drill.db").display()))
}

pub async fn run(g: &crate::cli::Global, cmd: DrillCommand) -> Result<std::process::ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, cmd)).await?
}

fn run_blocking(g: &crate::cli::Global, cmd: DrillCommand) -> Result<std::process::ExitCode> {
    match cmd {
        DrillCommand::Templates => {
            for t in Drill::templates() {
                println!("{}\t{}\t{}", t.id, t.title, t.subject);
            }
        }
        DrillCommand::Import {
            file,
            tenant,
            group,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = group.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "staff".into())
            });
            let out = open(g)?.import_csv(&tenant, &bytes, &name)?;
            for (line, message) in &out.errors {
                eprintln!("{}:{line}: {message}", file.display());
            }
            eprintln!("imported {} people into group {name:?}", out.imported);
            println!("{}", out.group_id);
            if !out.errors.is_empty() {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        DrillCommand::Campaign(c) => campaign(g, c)?,
        DrillCommand::Results { id, json, csv } => {
            let drill = open(g)?;
            if csv {
                print!("{}", drill.export_csv(&Scope::All, &id)?);
            } else {
                let r = drill.results(&Scope::All, &id)?;
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{} ({:?}): sent {} opened {} clicked {} submitted {} reported {} (scanner clicks {})",
                        r.name, r.state, r.sent, r.opened, r.clicked, r.submitted, r.reported, r.bot_clicks
                    );
                    for d in &r.departments {
                        println!(
                            "  {}: sent {} clicked {} ({:.0}%) reported {} ({:.0}%)",
                            d.department,
                            d.funnel.sent,
                            d.funnel.clicked,
                            d.funnel.click_rate * 100.0,
                            d.funnel.reported,
                            d.funnel.report_rate * 100.0
                        );
                    }
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn campaign(g: &crate::cli::Global, cmd: CampaignCommand) -> Result<()> {
    let drill = open(g)?;
    let scope = Scope::All;
    match cmd {
        CampaignCommand::Create {
            tenant,
            name,
            template,
            group,
            smtp,
            starttls,
            smtp_user,
            smtp_password,
            from,
            from_name,
            base_url,
            start,
            spread_hours,
            per_minute,
        } => {
            let start_at = start
                .map(|s| {
                    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                        .with_context(|| format!("--start {s:?}: e.g. 2026-12-01T09:00:00+09:00"))
                })
                .transpose()?;
            let (host, port) = smtp
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .with_context(|| format!("--smtp {smtp:?}: give HOST:PORT"))?;
            let id = drill.create_campaign(
                &tenant,
                NewCampaign {
                    name,
                    template_id: template,
                    group_ids: group,
                    smtp: SmtpProfile {
                        host,
                        port,
                        starttls,
                        user: smtp_user.unwrap_or_default(),
                        password: smtp_password.unwrap_or_default(),
                    },
                    from_addr: from,
                    from_name,
                    base_url,
                    start_at,
                    spread_hours,
                    per_minute,
                    ..NewCampaign::default()
                },
            )?;
            println!("{id}");
        }
        CampaignCommand::Start { id } => println!("{:?}", drill.start(&scope, &id)?),
        CampaignCommand::Pause { id } => println!("{:?}", drill.pause(&scope, &id)?),
        CampaignCommand::Resume { id } => println!("{:?}", drill.resume(&scope, &id)?),
        CampaignCommand::Complete { id } => println!("{:?}", drill.complete(&scope, &id)?),
        CampaignCommand::List => {
            for c in drill.campaigns(&scope)? {
                println!("{}\t{}\t{:?}\t{}", c.id, c.tenant, c.state, c.name);
            }
        }
    }
    Ok(())
}

/// The training database for `mamori up`, with `[drill]`'s settings.
pub fn open_for_up(
    data: &std::path::Path,
    config: &mamori_core::config::Config,
) -> Result<Option<Drill>> {
    let mut settings = mamori_drill::Settings::default();
    let cfg = &config.drill;
    if !cfg.report_address.is_empty() {
        settings.report_address = Some(cfg.report_address.clone());
    }
    for net in &cfg.scanner_networks {
        settings.bot.networks.push(
            mamori_drill::Cidr::parse(net)
                .with_context(|| format!("drill.scanner_networks: {net:?} is not a network"))?,
        );
    }
    settings.trust_forwarded_for = cfg.trust_forwarded_for;
    let drill = Drill::open_with(data, settings)
        .with_context(|| format!("opening {}", data.join("drill.db").display()))?;
    Ok(Some(drill))
}
