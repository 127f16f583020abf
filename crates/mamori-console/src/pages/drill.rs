//! Targeted-mail training: staff lists (CSV), campaigns from the built-in templates, their
//! progress and results by department and position, repeat clickers. The tracking endpoints
//! (`/t/…`) and the sender are `mamori-drill`'s; this page drives them.

use super::{empty, fmt_time, layout, tenant_choices, tr, Ctx, Nav};
use crate::auth::{CsrfForm, Posted};
use crate::{AppState, ConsoleError};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::Scope;
use mamori_drill::{Drill, DrillError, NewCampaign, SmtpProfile};
use maud::html;
use serde::Deserialize;

fn drill(state: &AppState) -> Result<Drill, ConsoleError> {
    state
        .drill
        .clone()
        .ok_or_else(|| ConsoleError::BadRequest("training is not set up on this console".into()))
}

fn err(e: DrillError) -> ConsoleError {
    match e {
        DrillError::NoCampaign(_) | DrillError::NoGroup(_) => ConsoleError::NotFound,
        DrillError::Db(_) | DrillError::Io { .. } | DrillError::Task(_) => {
            ConsoleError::Internal(e.to_string())
        }
        other => ConsoleError::BadRequest(other.to_string()),
    }
}

/// Runs a drill call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DrillError> + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?
        .map_err(err)
}

/// The tenant a form acts for (one must be chosen).
fn tenant_of(scope: &Scope, asked: &str) -> Result<String, ConsoleError> {
    super::tenant_for(scope, asked)?
        .ok_or_else(|| ConsoleError::BadRequest("choose a tenant".into()))
}

#[derive(Deserialize, Default)]
pub struct TenantQuery {
    #[serde(default)]
    tenant: String,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<TenantQuery>,
) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let t = ctx.t();
    let d = drill(&state)?;
    let scope = super::overview::narrowed(ctx.user.scope(), &q.tenant);
    let tenant = match &scope {
        Scope::Tenant(t) => Some(t.clone()),
        Scope::All => None,
    };
    let (campaigns, groups, repeaters) = {
        let (d, scope, tenant) = (d.clone(), scope.clone(), tenant.clone());
        blocking(move || {
            let campaigns = d.campaigns(&scope)?;
            let mut results = Vec::new();
            for c in campaigns.into_iter().take(200) {
                let r = d.results(&scope, &c.id)?;
                results.push((c, r));
            }
            let groups = match &tenant {
                Some(t) => d.groups(t)?,
                None => Vec::new(),
            };
            let repeaters = match &tenant {
                Some(t) => d.repeat_clickers(t)?,
                None => Vec::new(),
            };
            Ok((results, groups, repeaters))
        })
        .await?
    };
    let tenants = tenant_choices(&state, &ctx).await?;
    let csrf = &ctx.user.csrf;
    let title = tr(lang, "標的型メール訓練", "Phishing training");
    let base_url = state.config.mail_gateway.console_url.clone();
    let body = html! {
        h1 { (title) }
        @if !tenants.is_empty() {
            div.card { form.filters method="get" action="/drill" {
                (super::tenant_select(t, &tenants, &q.tenant))
                button type="submit" { (t.apply) }
            } }
        }
        div.card {
            h2 { (tr(lang, "キャンペーン", "Campaigns")) }
            @if campaigns.is_empty() { (empty(tr(lang, "まだキャンペーンはありません。", "No campaign yet."))) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (tr(lang, "名前", "Name")) } @if ctx.user.is_provider() { th { (t.tenant) } }
                        th { (tr(lang, "状態", "State")) } th { (tr(lang, "送信", "Sent")) } th { (tr(lang, "開封", "Opened")) }
                        th { (tr(lang, "クリック", "Clicked")) } th { (tr(lang, "入力", "Submitted")) } th { (tr(lang, "報告", "Reported")) } th {}
                    } }
                    tbody { @for (c, r) in &campaigns {
                        tr {
                            td { a href={ "/drill/campaigns/" (c.id) } { (c.name) } br; span.muted { (c.template_id) } }
                            @if ctx.user.is_provider() { td { (c.tenant) } }
                            td { (c.state.as_str()) }
                            td { (r.sent) "/" (r.recipients) } td { (r.opened) }
                            td { (r.clicked) @if r.bot_clicks > 0 { span.muted { " (+" (r.bot_clicks) " bot)" } } }
                            td { (r.submitted) } td { b { (r.reported) } }
                            td { @if ctx.user.can_write() {
                                @for action in ["start", "pause", "resume", "complete"] {
                                    form.inline method="post" action={ "/drill/campaigns/" (c.id) "/state" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="action" value=(action);
                                        button.secondary type="submit" { (action) }
                                    }
                                }
                            } }
                        }
                    } }
                } }
            }
        }
        @if let (Some(tn), true) = (&tenant, ctx.user.can_write()) {
            div.card {
                h2 { (tr(lang, "新しいキャンペーン", "New campaign")) }
                @if groups.is_empty() { p.hint { (tr(lang, "先に下で対象者を取り込んでください。", "Import staff below first.")) } } @else {
                    form.filters method="post" action="/drill/campaigns" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="tenant" value=(tn);
                        label { (tr(lang, "名前", "Name")) input type="text" name="name" required; }
                        label { (tr(lang, "テンプレート", "Template")) select name="template" {
                            @for tp in Drill::templates() { option value=(tp.id) { (tp.id) " — " (tp.title) } }
                        } }
                        label { (tr(lang, "対象グループ", "Group")) select name="group" {
                            @for g in &groups { option value=(g.id) { (g.name) " (" (g.members) ")" } }
                        } }
                        label { "SMTP" input type="text" name="smtp" required placeholder="127.0.0.1:25"; }
                        label { input type="checkbox" name="starttls" value="on"; " STARTTLS" }
                        label { (tr(lang, "SMTP ユーザー", "SMTP user")) input type="text" name="smtp_user" autocomplete="off"; }
                        label { (tr(lang, "SMTP パスワード", "SMTP password")) input type="password" name="smtp_password" autocomplete="new-password"; }
                        label { (tr(lang, "差出人", "From")) input type="email" name="from" required placeholder="info@delivery-notice.example"; }
                        label { (tr(lang, "リンクの URL", "Base URL")) input type="url" name="base_url" required value=(base_url); }
                        label { (tr(lang, "分散（時間）", "Spread (hours)")) input type="number" name="spread_hours" value="0" min="0" max="168"; }
                        label { (tr(lang, "毎分の上限", "Per minute")) input type="number" name="per_minute" value="60" min="1" max="10000"; }
                        button type="submit" { (t.create) }
                    }
                }
            }
            div.card {
                h2 { (tr(lang, "対象者の取り込み（CSV）", "Import staff (CSV)")) }
                p.hint { (tr(lang, "列: 氏名, メールアドレス, 部署, 役職（1行目は見出し）。Shift_JIS のファイルは mamori drill import で取り込めます。",
                    "Columns: name, email, department, position (first line: headers). Shift_JIS files: mamori drill import.")) }
                form.stack method="post" action="/drill/import" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="tenant" value=(tn);
                    label { (tr(lang, "グループ名", "Group name")) input type="text" name="group" required; }
                    textarea name="csv" rows="6" required placeholder="氏名,メールアドレス,部署,役職\n山田 太郎,yamada@example.co.jp,営業部,課長" {}
                    div { button type="submit" { (tr(lang, "取り込む", "Import")) } }
                }
                @if !groups.is_empty() { ul { @for g in &groups { li { (g.name) " — " (g.members) (tr(lang, " 人", " people")) } } } }
            }
            div.card {
                h2 { (tr(lang, "学習ページの冒頭文", "Education page: opening text")) }
                p.hint { (tr(lang, "リンクを開いた人に表示するページの最初の文章です（空にすると標準の文章）。",
                    "The first words people see after they clicked (empty: the standard text).")) }
                form.stack method="post" action="/drill/education" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="tenant" value=(tn);
                    label { (tr(lang, "言語", "Language")) select name="language" { option value="ja" { "日本語" } option value="en" { "English" } } }
                    textarea name="intro" rows="3" placeholder=(tr(lang, "これは当社の訓練メールでした。あわてず、次の点を確認しましょう。", "This was our training mail. Here is what to look for.")) {}
                    div { button type="submit" { (t.save) } }
                }
            }
            @if !repeaters.is_empty() {
                div.card {
                    h2 { (tr(lang, "繰り返しクリックした人", "Repeat clickers")) }
                    table { tbody { @for r in &repeaters { tr { td { (r.name) } td { (r.department) } td { (r.clicked) " / " (r.received) } } } } }
                }
            }
        }
    };
    Ok(layout(&ctx, title, Nav::Drill, body))
}

#[derive(Deserialize)]
pub struct ImportForm {
    csrf: String,
    #[serde(default)]
    tenant: String,
    group: String,
    csv: String,
}

#[derive(Deserialize)]
pub struct CampaignForm {
    csrf: String,
    #[serde(default)]
    tenant: String,
    name: String,
    template: String,
    group: String,
    smtp: String,
    #[serde(default)]
    starttls: String,
    #[serde(default)]
    smtp_user: String,
    #[serde(default)]
    smtp_password: String,
    from: String,
    base_url: String,
    #[serde(default)]
    spread_hours: u32,
    #[serde(default)]
    per_minute: u32,
}

#[derive(Deserialize)]
pub struct EducationForm {
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    intro: String,
}

impl CsrfForm for EducationForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Sets (or, empty, resets) the tenant's opening text of the education page.
pub async fn education(
    State(state): State<AppState>,
    Posted { user, form }: Posted<EducationForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let tenant = tenant_of(&user.scope(), &form.tenant)?;
    if state.store.tenant(&user.scope(), &tenant).await?.is_none() {
        return Err(ConsoleError::NotFound);
    }
    let language = if form.language == "en" {
        mamori_drill::Language::En
    } else {
        mamori_drill::Language::Ja
    };
    let intro: String = form.intro.trim().chars().take(4000).collect();
    let d = drill(&state)?;
    let t = tenant.clone();
    blocking(move || d.set_education(&t, language, (!intro.is_empty()).then_some(intro.as_str())))
        .await?;
    Ok(Redirect::to(&format!("/drill?tenant={tenant}")).into_response())
}

#[derive(Deserialize)]
pub struct StateForm {
    csrf: String,
    #[serde(default)]
    action: String,
}

impl CsrfForm for ImportForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl CsrfForm for CampaignForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl CsrfForm for StateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn import(
    State(state): State<AppState>,
    Posted { user, form }: Posted<ImportForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let tenant = tenant_of(&user.scope(), &form.tenant)?;
    if state.store.tenant(&user.scope(), &tenant).await?.is_none() {
        return Err(ConsoleError::NotFound);
    }
    let d = drill(&state)?;
    let t = tenant.clone();
    let out = blocking(move || d.import_csv(&t, form.csv.as_bytes(), &form.group)).await?;
    if !out.errors.is_empty() {
        let lines: Vec<String> = out
            .errors
            .iter()
            .map(|(l, m)| format!("line {l}: {m}"))
            .collect();
        return Err(ConsoleError::BadRequest(format!(
            "imported {}; refused: {}",
            out.imported,
            lines.join("; ")
        )));
    }
    Ok(Redirect::to(&format!("/drill?tenant={tenant}")).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    Posted { user, form }: Posted<CampaignForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let tenant = tenant_of(&user.scope(), &form.tenant)?;
    if state.store.tenant(&user.scope(), &tenant).await?.is_none() {
        return Err(ConsoleError::NotFound);
    }
    let (host, port) = form
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| ConsoleError::BadRequest(format!("SMTP {:?}: give HOST:PORT", form.smtp)))?;
    let d = drill(&state)?;
    let t = tenant.clone();
    blocking(move || {
        d.create_campaign(
            &t,
            NewCampaign {
                name: form.name,
                template_id: form.template,
                group_ids: vec![form.group],
                smtp: SmtpProfile {
                    host,
                    port,
                    starttls: form.starttls == "on",
                    user: form.smtp_user.trim().to_string(),
                    password: form.smtp_password,
                },
                from_addr: form.from,
                base_url: form.base_url,
                spread_hours: form.spread_hours,
                per_minute: form.per_minute.max(1),
                ..NewCampaign::default()
            },
        )
    })
    .await?;
    Ok(Redirect::to(&format!("/drill?tenant={tenant}")).into_response())
}

pub async fn set_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<StateForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let d = drill(&state)?;
    let scope = user.scope();
    blocking(move || match form.action.as_str() {
        _ if d.campaign(&scope, &id).is_err() => Err(DrillError::NoCampaign(id.clone())),
        "start" => d.start(&scope, &id),
        "pause" => d.pause(&scope, &id),
        "resume" => d.resume(&scope, &id),
        "complete" => d.complete(&scope, &id),
        other => Err(DrillError::Invalid(format!("no action {other:?}"))),
    })
    .await?;
    Ok(Redirect::to("/drill").into_response())
}

pub async fn campaign(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let d = drill(&state)?;
    let scope = ctx.user.scope();
    let (c, r) = blocking(move || Ok((d.campaign(&scope, &id)?, d.results(&scope, &id)?))).await?;
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let bar = |n: u32| {
        let w = (n * 100).checked_div(r.sent).unwrap_or(0);
        html! { div style={ "background:#3b6fb6;height:.8rem;width:" (w) "%" } {} }
    };
    let body = html! {
        p.muted { a href="/drill" { "← " (tr(lang, "標的型メール訓練", "Phishing training")) } }
        h1 { (c.name) }
        div.card {
            p { (tr(lang, "状態: ", "State: ")) (c.state.as_str()) " · " (c.template_id) " · "
                @if let Some(s) = c.started_at { (fmt_time(s)) } }
            table { tbody {
                @for (label, n) in [(tr(lang, "送信", "Sent"), r.sent), (tr(lang, "開封", "Opened"), r.opened), (tr(lang, "クリック", "Clicked"), r.clicked), (tr(lang, "入力", "Submitted"), r.submitted), (tr(lang, "報告", "Reported"), r.reported)] {
                    tr { th { (label) } td { (n) } td style="width:60%" { (bar(n)) } }
                }
            } }
            p { (tr(lang, "クリック率 ", "Click rate ")) b { (pct(r.click_rate)) } " · "
                (tr(lang, "報告率 ", "Report rate ")) b { (pct(r.report_rate)) } " · "
                (tr(lang, "スキャナーによるクリック（除外）: ", "Scanner clicks (not counted): ")) (r.bot_clicks) " · "
                (tr(lang, "送信エラー: ", "Send errors: ")) (r.errors) }
            p { a.button.secondary href={ "/drill/campaigns/" (c.id) "/export.csv" } { "CSV" } }
        }
        div.card {
            h2 { (tr(lang, "部署別", "By department")) }
            table {
                thead { tr { th { (tr(lang, "部署", "Department")) } th { (tr(lang, "送信", "Sent")) } th { (tr(lang, "クリック率", "Click rate")) } th { (tr(lang, "入力率", "Submit rate")) } th { (tr(lang, "報告率", "Report rate")) } } }
                tbody { @for dpt in &r.departments { tr { td { (dpt.department) } td { (dpt.funnel.sent) } td { (pct(dpt.funnel.click_rate)) } td { (pct(dpt.funnel.submit_rate)) } td { b { (pct(dpt.funnel.report_rate)) } } } } }
            }
            h2 { (tr(lang, "役職別", "By position")) }
            table { tbody { @for p in &r.positions { tr { td { (p.position) } td { (p.funnel.sent) } td { (pct(p.funnel.click_rate)) } td { (pct(p.funnel.report_rate)) } } } } }
        }
        div.card {
            h2 { (tr(lang, "経過", "Timeline")) }
            @if r.timeline.is_empty() { (empty(tr(lang, "まだ反応はありません。", "Nothing yet."))) } @else {
                div.table-wrap { table { tbody {
                    @for e in r.timeline.iter().rev().take(300) {
                        tr {
                            td.nowrap { (fmt_time(e.at)) }
                            td { (e.kind) @if e.bot { span.muted { " (" (tr(lang, "スキャナー", "scanner")) ": " (e.bot_reason.as_deref().unwrap_or("")) ")" } } }
                            td { (e.email) } td { (e.department) }
                        }
                    }
                } } }
            }
            @if !r.send_errors.is_empty() { p.error { (r.send_errors.len()) (tr(lang, " 件の送信エラー", " send errors")) } }
        }
    };
    Ok(layout(&ctx, &c.name, Nav::Drill, body))
}

pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let d = drill(&state)?;
    let scope = ctx.user.scope();
    let name = format!("drill-{id}.csv");
    let csv = blocking(move || d.export_csv(&scope, &id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        csv,
    )
        .into_response())
}
