//! The command line: what each command does, in `--help`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mamori",
    version,
    about = "Mamori (守り): security gateway and monitoring for small businesses",
    long_about = "Mamori watches a small company's network, website, mail and logs, turns what it \
                  sees into alerts, correlates them into incidents, and gives the company and its \
                  service provider one console.\n\nStart with `mamori up`: it creates the data \
                  directory and an embedded SQLite database, prints the first admin's password \
                  once, and serves the console on http://127.0.0.1:8080."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Data directory (database, state).
    #[arg(
        long,
        global = true,
        default_value = "./mamori-data",
        env = "MAMORI_DATA"
    )]
    pub data: PathBuf,
    /// Configuration file. Default: mamori.toml in the data directory, else ./mamori.toml,
    /// else built-in defaults.
    #[arg(long, global = true, env = "MAMORI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Store URL, overriding the config: empty for embedded SQLite, or postgres://…
    #[arg(long, global = true, env = "MAMORI_STORE")]
    pub store: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented mamori.toml with every key and its default.
    Init {
        /// Where to write it (default: mamori.toml in the data directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Start the console and every enabled engine; Ctrl-C stops them after storing what is queued.
    Up {
        /// Listen address of the console, overriding console.listen.
        #[arg(long)]
        listen: Option<String>,
        /// Also create two demo tenants with a month of realistic alerts and incidents.
        #[arg(long)]
        demo: bool,
        /// `console` (default): the console, the store and the engines. `sensor`: the engines
        /// only, forwarding what they find to --console through a durable spool.
        #[arg(long, default_value = "console", value_parser = ["console", "sensor"])]
        role: String,
        /// The provider's console a sensor forwards to, e.g. https://console.example.jp.
        #[arg(long, required_if_eq("role", "sensor"))]
        console: Option<String>,
        /// The tenant's token (mamori token create on the console).
        #[arg(
            long,
            env = "MAMORI_TOKEN",
            hide_env_values = true,
            required_if_eq("role", "sensor")
        )]
        token: Option<String>,
        /// PEM certificate(s) to trust for the console (a private CA or a self-signed one).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// This sensor's name on the console (default: the host name).
        #[arg(long)]
        sensor_name: Option<String>,
    },
    /// Manage tenants (the companies a provider serves).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens that sensors and scripts use to send events and read alerts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The mail gateway: check a message, serve SMTP, work the queue.
    #[command(subcommand)]
    Mail(crate::mail::MailCommand),
    /// The network IDS/IPS: read pcaps, check rules, watch an interface, sit inline.
    #[command(subcommand)]
    Ids(crate::ids::IdsCommand),
    /// The WAF: reverse proxy with the OWASP Core Rule Set and login protection.
    #[command(subcommand)]
    Waf(crate::waf::WafCommand),
    /// Log analytics: hunt through EVTX and text logs with Sigma rules and built-in analytics.
    #[command(subcommand)]
    Logs(crate::logs::LogsCommand),
    /// Website diagnosis: scan a site from outside; register sites for weekly scans.
    Scan(crate::scan::ScanArgs),
    /// Targeted-mail training: import staff, run campaigns, read results.
    #[command(subcommand)]
    Drill(crate::drill::DrillCommand),
    /// A tenant's monthly report: report.html, and report.pdf when Chromium is installed.
    Report {
        #[arg(long)]
        tenant: String,
        /// YYYY-MM (months run in Japan time).
        #[arg(long)]
        month: String,
        /// Directory to write into (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// ja (default) or en.
        #[arg(long, default_value = "ja")]
        lang: String,
        /// Also mail it to the tenant's admins through [notify].smtp (as on the 1st).
        #[arg(long)]
        mail: bool,
    },
    /// Response actions: block an address or domain, isolate a PC, list and release them.
    #[command(subcommand)]
    Respond(crate::respond::RespondCommand),
    /// Send NDJSON events (Mamori events or Suricata EVE lines) from a file or stdin to a console.
    Send {
        /// NDJSON file; `-` or absent reads stdin.
        file: Option<PathBuf>,
        /// Console base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "MAMORI_URL")]
        url: String,
        /// The tenant's token (from `mamori token create`).
        #[arg(long, env = "MAMORI_TOKEN", hide_env_values = true)]
        token: String,
        /// Lines per request.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Add a tenant. NAME is short and stable: lowercase letters, digits and dashes.
    Add {
        name: String,
        /// The company's name as people write it.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List tenants, one name per line.
    List,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a console user. The password is read from stdin with --password-stdin, or generated
    /// and printed once.
    Add {
        #[arg(long)]
        email: String,
        /// provider_admin, tenant_admin or viewer.
        #[arg(long)]
        role: String,
        /// The user's tenant (required for tenant_admin and viewer).
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: email, role and tenant.
    List,
    /// Set a user's password (from stdin with --password-stdin, else generated and printed).
    Passwd {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a tenant; the token is printed alone on the last line, once.
    Create {
        #[arg(long)]
        tenant: String,
        /// A name that says where the token is used (default: a generated one).
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a tenant's token by name.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// List tokens: tenant, name, state.
    List,
}
