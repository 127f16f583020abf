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
    tenant: &str,
    month: Month,
    lang: Lang,
    out: &Path,
) -> Result<mamori_report::ReportFiles> {
    let data = mamori_console::report::gather(store, &Scope::All, tenant, month)
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
) -> Result<std::process::ExitCode> {
    let month: Month = month
        .parse()
        .with_context(|| format!("--month {month:?}"))?;
    let lang: Lang = lang.parse().with_context(|| format!("--lang {lang:?}"))?;
    let (config, _) = crate::load_config(g)?;
    let store = crate::open_store(&g.data, &config).await?;
    let files = write(&store, tenant, month, lang, out).await?;
    println!("{}", files.html.display());
    match (&files.pdf, &files.pdf_missing) {
        (Some(pdf), _) => println!("{}", pdf.display()),
        (None, Some(why)) => eprintln!("no PDF: {why}"),
        (None, None) => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where the 1st's run keeps a tenant's report.
pub fn stored_dir(data: &Path, tenant: &str, month: Month) -> PathBuf {
    data.join("reports").join(tenant).join(month.to_string())
}

/// In `mamori up`: once an hour, makes last month's report for every tenant that has none yet
/// (so the 1st's reports appear that morning, and a gateway that was down on the 1st catches up).
pub async fn monthly(store: DynStore, data: PathBuf, lang: Lang) {
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
            match write(&store, &t.name, month, lang, &dir).await {
                Ok(files) => {
                    tracing::info!(tenant = %t.name, %month, html = %files.html.display(), pdf = files.pdf.is_some(), "monthly report made")
                }
                Err(e) => {
                    tracing::warn!(tenant = %t.name, %month, error = %format!("{e:#}"), "monthly report failed")
                }
            }
        }
    }
}
