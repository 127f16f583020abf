//! `mamori report`: one tenant's monthly report as HTML (and PDF when Chromium is installed),
//! and the run `mamori up` makes on the 1st of every month for every tenant.

use anyhow::{Context, Result};
use mamori_core::Scope;
use mamori_report::{Lang, Month};
use mamori_store::DynStore;
use std::path::{Path, PathBuf};

/// Gathers and writes one report; answers the files written.
pub async fn write(
    store: &DynStore,
    data_dir: &Path,
    tenant: &str,
    month: Month,
    lang: Lang,
    out: &Path,
) -> Result<mamori_report::ReportFiles> {
    let drill = mamori_drill::Drill::open(data_dir).ok();
    let data = mamori_console::report::gather(
        store,
        Some(data_dir),
        drill.as_ref(),
        &Scope::All,
        tenant,
        month,
    )
    .await
    .map_err(|e| match e {
        mamori_console::ConsoleError::NotFound => anyhow::anyhow!("unknown tenant {tenant:?}"),
        e => anyhow::anyhow!("{e}"),
    })?;
    let out = out.to_path_buf();
    let files = tokio::task::spawn_blocking(move || mamori_report::write_report(&data, lang, &out))
        .await??;
    Ok(files)
}

pub async fn run(
    g: &crate::cli::Global,
    tenant: &str,
    month: &str,
    out: &Path,
    lang: &str,
    mail: bool,
) -> Result<std::process::ExitCode> {
    let month: Month = month
        .parse()
        .with_context(|| format!("--month {month:?}"))?;
    let lang: Lang = lang.parse().with_context(|| format!("--lang {lang:?}"))?;
    let (config, _) = crate::load_config(g)?;
    let store = crate::open_store(&g.data, &config).await?;
    let files = write(&store, &g.data, tenant, month, lang, out).await?;
    println!("{}", files.html.display());
    match (&files.pdf, &files.pdf_missing) {
        (Some(pdf), _) => println!("{}", pdf.display()),
        (None, Some(why)) => eprintln!("no PDF: {why}"),
        (None, None) => {}
    }
    if mail {
        let Some(m) = MailOut::configured(&config) else {
            anyhow::bail!("--mail needs [notify].smtp in the configuration");
        };
        let t = store
            .tenant(&Scope::All, tenant)
            .await?
            .with_context(|| format!("unknown tenant {tenant:?}"))?;
        m.send(&store, &t, month, out).await;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where the 1st's run keeps a tenant's report.
pub fn stored_dir(data: &Path, tenant: &str, month: Month) -> PathBuf {
    data.join("reports").join(tenant).join(month.to_string())
}

/// In `mamori up`: once an hour, makes last month's report for every tenant that has none yet
/// (so the 1st's reports appear that morning, and a gateway that was down on the 1st catches up).
pub async fn monthly(store: DynStore, data: PathBuf, lang: Lang, mail: Option<MailOut>) {
    // The first look a minute after start, so starting up is not slowed by Chromium.
    let hour = std::time::Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        hour,
    );
    loop {
        tick.tick().await;
        let Some(month) = mamori_console::report::last_month(time::OffsetDateTime::now_utc())
        else {
            continue;
        };
        let tenants = match store.tenants(&Scope::All).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "monthly reports: listing tenants failed");
                continue;
            }
        };
        for t in tenants {
            let dir = stored_dir(&data, &t.name, month);
            if dir.join("report.html").exists() {
                continue;
            }
            match write(&store, &data, &t.name, month, lang, &dir).await {
                Ok(files) => {
                    tracing::info!(tenant = %t.name, %month, html = %files.html.display(), pdf = files.pdf.is_some(), "monthly report made");
                    if let Some(m) = &mail {
                        m.send(&store, &t, month, &dir).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %t.name, %month, error = %format!("{e:#}"), "monthly report failed")
                }
            }
        }
    }
}

/// How the 1st's reports reach the tenants' contacts: the tenant admins, by mail through
/// `[notify].smtp`, with the figures and a link to the report in the console.
pub struct MailOut {
    pub relay: mamori_notify::SmtpRelay,
    pub console_url: String,
}

impl MailOut {
    /// From the configuration, when a relay is set.
    pub fn configured(config: &mamori_core::config::Config) -> Option<MailOut> {
        let relay = config
            .notify
            .get("smtp")
            .cloned()
            .and_then(|v| v.try_into::<mamori_notify::SmtpRelay>().ok())?;
        Some(MailOut {
            relay,
            console_url: config
                .mail_gateway
                .console_url
                .trim_end_matches('/')
                .to_string(),
        })
    }

    async fn send(&self, store: &DynStore, t: &mamori_core::Tenant, month: Month, dir: &Path) {
        let to: Vec<String> = match store.users(&Scope::Tenant(t.name.clone())).await {
            Ok(users) => users
                .into_iter()
                .filter(|u| u.role == mamori_core::Role::TenantAdmin)
                .map(|u| u.email)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, tenant = %t.name, "monthly report: no contacts");
                return;
            }
        };
        if to.is_empty() {
            return;
        }
        let counts = std::fs::read_to_string(dir.join("report.json"))
            .ok()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            .map(|v| v["counts"].clone())
            .unwrap_or_default();
        let n = |k: &str| counts[k].as_u64().unwrap_or(0);
        let subject = format!(
            "【Mamori】{} 月次セキュリティレポート（{}年{}月）",
            t.display_name,
            month.year(),
            month.month()
        );
        let body = format!(
            "{name} ご担当者さま\n\n{y}年{m}月の月次セキュリティレポートができました。\n\n\
             ・不審なアクセスを遮断: {a} 件\n・マルウェアを無害化: {b} 件\n・C2通信を遮断: {c} 件\n\
             ・保留したメール: {d} 件（うち誤送信を防止 {e} 件）\n・フィッシングメールを隔離: {f} 件\n\n\
             レポート（HTML・PDF）: {url}/reports?tenant={tenant}&month={month}\n\n\
             The monthly security report for {month} is ready: {url}/reports?tenant={tenant}&month={month}\n",
            name = t.display_name,
            y = month.year(),
            m = month.month(),
            a = n("suspicious_access_blocked"),
            b = n("malware_neutralized"),
            c = n("c2_stopped"),
            d = n("mails_held"),
            e = n("misdelivery_prevented"),
            f = n("phishing_quarantined"),
            url = self.console_url,
            tenant = t.name,
        );
        let policy = mamori_notify::RetryPolicy::default();
        match mamori_notify::send_mail(&self.relay, &policy, &to, &subject, &body, &[]).await {
            Ok(()) => {
                tracing::info!(tenant = %t.name, %month, recipients = to.len(), "monthly report mailed")
            }
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "monthly report not mailed"),
        }
    }
}
