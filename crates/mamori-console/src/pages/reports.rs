//! Monthly reports: pick a tenant and a month, open the report as HTML or download the PDF
//! (printed by headless Chromium on the server). Reports made on the 1st by `mamori up` are
//! kept in `DATA/reports/TENANT/YYYY-MM/` and listed here too.

use super::{empty, layout, tenant_choices, tr, url_encode, Ctx, Nav};
use crate::{AppState, ConsoleError};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mamori_report::{Lang, Month};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    month: String,
    /// `html` (default) or `pdf`.
    #[serde(default)]
    format: String,
}

fn report_lang(lang: crate::i18n::Lang) -> Lang {
    match lang {
        crate::i18n::Lang::Ja => Lang::Ja,
        crate::i18n::Lang::En => Lang::En,
    }
}

/// Months with a report already made for `tenant`, newest first.
fn stored_months(state: &AppState, tenant: &str) -> Vec<String> {
    let Some(dir) = state
        .data_dir
        .as_ref()
        .map(|d| d.join("reports").join(tenant))
    else {
        return Vec::new();
    };
    let mut months: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|m| m.parse::<Month>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    months.sort_by(|a, b| b.cmp(a));
    months.truncate(24);
    months
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let t = ctx.t();
    let tenant = super::tenant_for(&ctx.user.scope(), &q.tenant)?;
    let tenants = tenant_choices(&state, &ctx).await?;
    let default_month = crate::report::last_month(time::OffsetDateTime::now_utc())
        .map(|m| m.to_string())
        .unwrap_or_default();
    let month = if q.month.is_empty() {
        default_month
    } else {
        q.month.clone()
    };
    let title = tr(lang, "月次レポート", "Monthly reports");
    let link = |tenant: &str, month: &str, format: &str| {
        format!(
            "/reports/view?tenant={}&month={}&format={format}",
            url_encode(tenant),
            url_encode(month)
        )
    };
    let body = html! {
        h1 { (title) }
        div.card {
            form.filters method="get" action="/reports" {
                @if !tenants.is_empty() {
                    label { (t.tenant) select name="tenant" required {
                        option value="" { "—" }
                        @for tn in &tenants { option value=(tn.name) selected[Some(&tn.name) == tenant.as_ref()] { (tn.display_name) } }
                    } }
                }
                label { (tr(lang, "対象月", "Month")) input type="month" name="month" value=(month) required; }
                button type="submit" { (tr(lang, "表示", "Show")) }
            }
            @if let Some(tn) = &tenant {
                p {
                    a.button href=(link(tn, &month, "html")) { (tr(lang, "レポートを開く（HTML）", "Open the report (HTML)")) } " "
                    a.button.secondary href=(link(tn, &month, "pdf")) { (tr(lang, "PDFをダウンロード", "Download PDF")) }
                }
                p.hint { (tr(lang,
                    "レポートは毎月1日に前月分が自動で作成され、連絡先にメールで送られます。ここではいつでも最新の内容で作り直せます。",
                    "Last month's report is made on the 1st of every month and mailed to the contacts; here it is made again from the current data at any time.")) }
            } @else {
                (empty(tr(lang, "テナントを選んでください。", "Choose a tenant.")))
            }
        }
        @if let Some(tn) = &tenant {
            @let months = stored_months(&state, tn);
            @if !months.is_empty() {
                div.card {
                    h2 { (tr(lang, "作成済みのレポート", "Reports made")) }
                    ul { @for m in &months { li { (m) " — " a href=(link(tn, m, "html")) { "HTML" } " · " a href=(link(tn, m, "pdf")) { "PDF" } } } }
                }
            }
        }
    };
    Ok(layout(&ctx, title, Nav::Reports, body))
}

pub async fn view(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let scope = ctx.user.scope();
    let Some(tenant) = super::tenant_for(&scope, &q.tenant)? else {
        return Err(ConsoleError::BadRequest("choose a tenant".into()));
    };
    let month: Month = if q.month.is_empty() {
        crate::report::last_month(time::OffsetDateTime::now_utc())
            .ok_or_else(|| ConsoleError::BadRequest("month".into()))?
    } else {
        q.month
            .parse()
            .map_err(|e: mamori_report::ReportError| ConsoleError::BadRequest(e.to_string()))?
    };
    let data = crate::report::gather(
        &state.store,
        state.data_dir.as_deref(),
        state.drill.as_ref(),
        &scope,
        &tenant,
        month,
    )
    .await?;
    let lang = report_lang(ctx.lang);
    if q.format != "pdf" {
        let html = mamori_report::render_html(&data, lang);
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response());
    }
    let Some(dir) = state.data_dir.as_ref() else {
        return Err(ConsoleError::Internal(
            "no data directory for the PDF".into(),
        ));
    };
    let out = dir.join("reports").join(&tenant).join(month.to_string());
    let files = tokio::task::spawn_blocking(move || mamori_report::write_report(&data, lang, &out))
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    match files.pdf {
        Some(pdf) => {
            let bytes = tokio::fs::read(&pdf).await?;
            let name = format!("mamori-report-{tenant}-{month}.pdf");
            Ok((
                [
                    (header::CONTENT_TYPE, "application/pdf".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        None => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            files
                .pdf_missing
                .unwrap_or_else(|| "no PDF printer (install chromium)".into()),
        )
            .into_response()),
    }
}
