//! Website diagnosis: each tenant's registered sites, the latest scan's findings with their
//! advice and whether each is new, still open or fixed since the scan before, the history,
//! and "scan now" (registered sites only; the weekly scans run on their own).

use super::{empty, fmt_time, layout, severity_badge, tenant_choices, tenant_select, tr, Ctx, Nav};
use crate::auth::{CsrfForm, Posted};
use crate::scans;
use crate::{AppState, ConsoleError};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::Scope;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ScanQuery {
    #[serde(default)]
    tenant: String,
}

fn data(state: &AppState) -> Result<std::path::PathBuf, ConsoleError> {
    state
        .data_dir
        .clone()
        .ok_or_else(|| ConsoleError::Internal("no data directory".into()))
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ScanQuery>,
) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let t = ctx.t();
    let tenant = super::tenant_for(&ctx.user.scope(), &q.tenant)?;
    let tenants = tenant_choices(&state, &ctx).await?;
    let dir = data(&state)?;
    let ja = lang == crate::i18n::Lang::Ja;
    let title = tr(lang, "Webサイト診断", "Website diagnosis");
    let csrf = &ctx.user.csrf;
    let sites = tenant
        .as_deref()
        .map(|tn| scans::sites(&dir, tn))
        .unwrap_or_default();
    let body = html! {
        h1 { (title) }
        @if !tenants.is_empty() {
            div.card { form.filters method="get" action="/scans" {
                (tenant_select(t, &tenants, &q.tenant))
                button type="submit" { (t.apply) }
            } }
        }
        @if let Some(tn) = &tenant {
            @if ctx.user.can_write() {
                div.card {
                    h2 { (tr(lang, "診断するサイト", "Sites to scan")) }
                    p.hint { (tr(lang, "登録したサイトは毎週自動で診断します。診断は外部からの確認のみで、1秒あたり5リクエストまでに抑えます。",
                        "Registered sites are scanned every week, from outside, at most 5 requests a second.")) }
                    form.filters method="post" action="/scans/sites" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="tenant" value=(tn);
                        label { "URL" input type="url" name="url" required placeholder="https://www.example.co.jp/"; }
                        button type="submit" { (tr(lang, "登録", "Register")) }
                    }
                }
            }
            @if sites.is_empty() { div.card { (empty(tr(lang, "登録されたサイトはありません。", "No site registered."))) } }
            @for url in &sites {
                @let history = scans::history(&dir, tn, url, 12);
                div.card {
                    h2 { (url) }
                    @if ctx.user.can_write() {
                        form.inline method="post" action="/scans/run" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="tenant" value=(tn);
                            input type="hidden" name="url" value=(url);
                            button.secondary type="submit" { (tr(lang, "今すぐ診断", "Scan now")) }
                        }
                    }
                    @match history.first() {
                        None => { (empty(tr(lang, "まだ診断していません。", "Not scanned yet."))) }
                        Some(last) => {
                            @let d = match history.get(1) {
                                Some(prev) => mamori_scan::diff(prev, last),
                                None => mamori_scan::Diff { new: last.findings.clone(), ..Default::default() },
                            };
                            p { (tr(lang, "最新の診断: ", "Latest scan: ")) (fmt_time(last.finished)) " · "
                                (last.findings.len()) (tr(lang, " 件の指摘", " findings")) " · "
                                (tr(lang, "新規 ", "new ")) (d.new.len()) " · " (tr(lang, "解消 ", "fixed ")) (d.fixed.len()) }
                            @if last.findings.is_empty() && d.fixed.is_empty() { (empty(tr(lang, "問題は見つかりませんでした。", "No problem found."))) } @else {
                                div.table-wrap { table {
                                    thead { tr { th { (t.severity) } th { (tr(lang, "指摘", "Finding")) } th { (tr(lang, "対策", "What to do")) } th { (tr(lang, "前回から", "Since last")) } } }
                                    tbody {
                                        @for (list, status) in [(&d.new, tr(lang, "新規", "new")), (&d.still_open, tr(lang, "継続", "still open")), (&d.fixed, tr(lang, "解消", "fixed"))] {
                                            @for f in list {
                                                tr {
                                                    td { (severity_badge(lang, f.severity)) }
                                                    td { (if ja { &f.title_ja } else { &f.title_en }) br; code { (f.url) }
                                                        details { summary { (tr(lang, "根拠", "Evidence")) } pre.raw { (f.evidence) } } }
                                                    td { (if ja { &f.advice_ja } else { &f.advice_en }) }
                                                    td { (status) }
                                                }
                                            }
                                        }
                                    }
                                } }
                            }
                            @if !last.errors.is_empty() { p.hint { (tr(lang, "確認できなかった項目: ", "Not checked: ")) (last.errors.join("; ")) } }
                            @if history.len() > 1 {
                                p.muted { (tr(lang, "履歴: ", "History: "))
                                    @for h in &history { (fmt_time(h.finished)) " (" (h.findings.len()) ") " } }
                            }
                        }
                    }
                }
            }
        } @else {
            div.card { (empty(tr(lang, "テナントを選んでください。", "Choose a tenant."))) }
        }
    };
    Ok(layout(&ctx, title, Nav::Scans, body))
}

#[derive(Deserialize)]
pub struct SiteForm {
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    url: String,
}

impl CsrfForm for SiteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn checked_tenant(
    state: &AppState,
    scope: &Scope,
    asked: &str,
) -> Result<String, ConsoleError> {
    let tenant = super::tenant_for(scope, asked)?
        .ok_or_else(|| ConsoleError::BadRequest("choose a tenant".into()))?;
    if state.store.tenant(scope, &tenant).await?.is_none() {
        return Err(ConsoleError::NotFound);
    }
    Ok(tenant)
}

pub async fn register(
    State(state): State<AppState>,
    Posted { user, form }: Posted<SiteForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let tenant = checked_tenant(&state, &user.scope(), &form.tenant).await?;
    scans::register(&data(&state)?, &tenant, &form.url)?;
    Ok(Redirect::to(&format!("/scans?tenant={tenant}")).into_response())
}

/// Starts a scan of a registered site in the background.
pub async fn run(
    State(state): State<AppState>,
    Posted { user, form }: Posted<SiteForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let tenant = checked_tenant(&state, &user.scope(), &form.tenant).await?;
    let dir = data(&state)?;
    if !scans::sites(&dir, &tenant).contains(&form.url) {
        return Err(ConsoleError::BadRequest(
            "only a site registered for the tenant can be scanned from the console".into(),
        ));
    }
    let config = mamori_scan::ScanConfig {
        vulndb_path: Some(dir.join("scan-vulndb.json")).filter(|p| p.exists()),
        ..mamori_scan::ScanConfig::default()
    };
    let window = time::Duration::minutes(state.config.incidents.window_minutes as i64);
    let (store, t, url) = (state.store.clone(), tenant.clone(), form.url.clone());
    tokio::spawn(async move {
        match scans::scan_and_keep(&store, &dir, &t, &url, config, window, |_| {}).await {
            Ok(r) => tracing::info!(tenant = %t, %url, findings = r.findings.len(), "scan done"),
            Err(e) => tracing::warn!(tenant = %t, %url, error = %e, "scan failed"),
        }
    });
    Ok(Redirect::to(&format!("/scans?tenant={tenant}")).into_response())
}
