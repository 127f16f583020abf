//! Response actions: block an address or a domain, isolate a PC — from the incident page or
//! the Response page — and release them. Every action records who took it, when, why and
//! until when; the gateway's applier puts it into nftables within seconds and reports back
//! (the status column).

use super::overview::narrowed;
use super::{empty, fmt_time, layout, tenant_choices, tenant_select, tr, Ctx, Nav};
use crate::auth::{CsrfForm, Posted};
use crate::i18n::Lang;
use crate::respond::{self, Request};
use crate::{AppState, ConsoleError};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::{Incident, Ulid};
use mamori_store::{ActionKind, ActionQuery, ResponseAction, StoredAlert};
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

fn kind_label(lang: Lang, k: ActionKind) -> &'static str {
    match k {
        ActionKind::BlockIp => tr(lang, "IPアドレスを遮断", "Block IP address"),
        ActionKind::BlockDomain => tr(lang, "ドメインを遮断", "Block domain"),
        ActionKind::Isolate => tr(lang, "PCを隔離", "Isolate PC"),
    }
}

fn status_label(lang: Lang, a: &ResponseAction, now: OffsetDateTime) -> Markup {
    let (class, text) = if a.released_at.is_some() {
        (
            "state state-resolved",
            tr(lang, "解除済み", "released").to_string(),
        )
    } else if !a.is_active(now) {
        (
            "state state-resolved",
            tr(lang, "期限切れ", "expired").to_string(),
        )
    } else if a.status == "applied" {
        (
            "state state-contained",
            tr(lang, "適用中", "in force").to_string(),
        )
    } else if a.status == "pending" {
        (
            "state state-new",
            tr(lang, "適用待ち", "pending").to_string(),
        )
    } else {
        ("state state-new", a.status.clone())
    };
    html! { span class=(class) { (text) } }
}

/// The form fields that take an action.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    tenant: String,
    kind: String,
    target: String,
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    incident: String,
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

impl CsrfForm for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl CsrfForm for ReleaseForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The table of actions, with release buttons for writers.
fn table(ctx: &Ctx, actions: &[ResponseAction], back: &str) -> Markup {
    let lang = ctx.lang;
    let t = ctx.t();
    let now = OffsetDateTime::now_utc();
    html! {
        div.table-wrap { table {
            thead { tr {
                th { (t.time) } th { (tr(lang, "対応", "Action")) } th { (tr(lang, "対象", "Target")) }
                @if ctx.user.is_provider() { th.opt { (t.tenant) } }
                th.opt { (tr(lang, "実施者・理由", "By, why")) } th { (tr(lang, "期限", "Until")) }
                th { (tr(lang, "状態", "Status")) } th {}
            } }
            tbody { @for a in actions {
                tr {
                    td.nowrap { (fmt_time(a.created_at)) }
                    td { (kind_label(lang, a.kind)) }
                    td { code { (a.target) } }
                    @if ctx.user.is_provider() { td.opt { (a.tenant.as_deref().unwrap_or("—")) } }
                    td.opt { (a.created_by) @if !a.reason.is_empty() { br; span.muted { (a.reason) } }
                        @if let (Some(at), Some(by)) = (a.released_at, &a.released_by) {
                            br; span.muted { (tr(lang, "解除: ", "Released: ")) (fmt_time(at)) " " (by) " " (a.release_reason.as_deref().unwrap_or("")) }
                        }
                        @if let Some(i) = a.incident { br; a href={ "/incidents/" (i) } { (t.incidents) " ↗" } }
                    }
                    td.nowrap { (a.expires_at.map(fmt_time).unwrap_or_else(|| tr(lang, "解除まで", "until released").to_string())) }
                    td { (status_label(lang, a, now)) }
                    td { @if ctx.user.can_write() && a.is_active(now) {
                        form.inline method="post" action={ "/response/" (a.id) "/release" } {
                            input type="hidden" name="csrf" value=(ctx.user.csrf);
                            input type="hidden" name="back" value=(back);
                            input type="text" name="reason" size="12" placeholder=(tr(lang, "解除の理由", "why release"));
                            button.secondary type="submit" { (tr(lang, "解除", "Release")) }
                        }
                    } }
                }
            } }
        } }
    }
}

/// The "take an action" form; `suggest` pre-fills targets seen in the incident.
fn form(
    ctx: &Ctx,
    tenants: &[mamori_core::Tenant],
    incident: Option<&Incident>,
    suggest: &[(ActionKind, String)],
) -> Markup {
    let lang = ctx.lang;
    let t = ctx.t();
    html! {
        form.filters method="post" action="/response" {
            input type="hidden" name="csrf" value=(ctx.user.csrf);
            @if let Some(inc) = incident {
                input type="hidden" name="incident" value=(inc.id);
                input type="hidden" name="tenant" value=(inc.tenant);
            } @else {
                (tenant_select(t, tenants, ""))
            }
            label { (tr(lang, "対応", "Action")) select name="kind" {
                @for k in ActionKind::ALL { option value=(k.as_str()) { (kind_label(lang, k)) } }
            } }
            label { (tr(lang, "対象", "Target")) input type="text" name="target" required size="20" list="response-targets" placeholder="203.0.113.9 / c2.example / 192.168.1.23"; }
            datalist id="response-targets" { @for (_, v) in suggest { option value=(v) {} } }
            label { (tr(lang, "期間", "For")) select name="ttl" {
                @for (v, l) in [("1h", tr(lang, "1時間", "1 hour")), ("24h", tr(lang, "24時間", "24 hours")), ("7d", tr(lang, "7日", "7 days")), ("", tr(lang, "解除するまで", "until released"))] {
                    option value=(v) selected[v == "24h"] { (l) }
                }
            } }
            label { (tr(lang, "理由", "Reason")) input type="text" name="reason" size="24" required; }
            button type="submit" { (tr(lang, "実行", "Take action")) }
        }
        @if !suggest.is_empty() {
            p.hint { (tr(lang, "このインシデントで見えた対象: ", "Seen in this incident: "))
                @for (k, v) in suggest { code { (v) } " (" (kind_label(lang, *k)) ") " } }
        }
    }
}

/// Targets an incident suggests: its PC to isolate, outside addresses and hosts to block.
pub fn suggestions(inc: &Incident, alerts: &[StoredAlert]) -> Vec<(ActionKind, String)> {
    let mut out: Vec<(ActionKind, String)> = Vec::new();
    let mut push = |k: ActionKind, v: String| {
        if out.len() < 8 && !out.iter().any(|(_, x)| *x == v) {
            out.push((k, v));
        }
    };
    if let Some(ip) = inc
        .asset
        .strip_prefix("host:")
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
    {
        push(ActionKind::Isolate, ip.to_string());
    }
    for s in alerts {
        for ep in [&s.alert.src, &s.alert.dst] {
            if let Some(ip) = ep.ip.filter(|ip| !is_internal(*ip)) {
                push(ActionKind::BlockIp, ip.to_string());
            }
            if let Some(h) = ep
                .host
                .as_deref()
                .filter(|h| h.parse::<std::net::IpAddr>().is_err() && h.contains('.'))
            {
                push(ActionKind::BlockDomain, h.to_lowercase());
            }
        }
    }
    out
}

fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The response card on an incident page.
pub async fn incident_card(
    state: &AppState,
    ctx: &Ctx,
    inc: &Incident,
    alerts: &[StoredAlert],
) -> Result<Markup, ConsoleError> {
    let lang = ctx.lang;
    let actions = state
        .store
        .actions(
            &ctx.user.scope(),
            &ActionQuery {
                incident: Some(inc.id),
                limit: 50,
                ..ActionQuery::default()
            },
        )
        .await?;
    let back = format!("/incidents/{}", inc.id);
    Ok(html! {
        div.card {
            h2 { (tr(lang, "対応（遮断・隔離）", "Response (block, isolate)")) }
            @if ctx.user.can_write() { (form(ctx, &[], Some(inc), &suggestions(inc, alerts))) }
            @if actions.is_empty() { (empty(tr(lang, "このインシデントへの対応はまだありません。", "No action taken on this incident yet."))) }
            @else { (table(ctx, &actions, &back)) }
        }
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    tenant: String,
    /// `all` to include released and expired actions.
    #[serde(default)]
    show: String,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let t = ctx.t();
    let scope = narrowed(ctx.user.scope(), &q.tenant);
    let all = q.show == "all";
    let actions = state
        .store
        .actions(
            &scope,
            &ActionQuery {
                active_only: !all,
                limit: 500,
                ..ActionQuery::default()
            },
        )
        .await?;
    let tenants = tenant_choices(&state, &ctx).await?;
    let title = tr(lang, "対応（遮断・隔離）", "Response actions");
    let body = html! {
        h1 { (title) }
        @if ctx.user.can_write() { div.card { (form(&ctx, &tenants, None, &[])) } }
        div.card {
            p { @if all { a href="/response" { (tr(lang, "適用中のみ表示", "Show only those in force")) } }
                @else { a href="/response?show=all" { (tr(lang, "解除・期限切れも表示", "Show released and expired too")) } } }
            @if actions.is_empty() { (empty(tr(lang, "適用中の対応はありません。", "No action in force."))) }
            @else { (table(&ctx, &actions, if all { "/response?show=all" } else { "/response" })) }
            p.hint { (tr(lang,
                "遮断・隔離はゲートウェイの nftables（mamori テーブル）に数秒で反映されます。状態が「適用待ち」のままなら、mamori up が root 権限で動いているか確認してください。",
                "Blocks and isolations reach the gateway's nftables (table mamori) within seconds. If the status stays pending, check that mamori up runs as root.")) }
            @let _ = t;
        }
    };
    Ok(layout(&ctx, title, Nav::Response, body))
}

pub async fn create(
    State(state): State<AppState>,
    Posted { user, form }: Posted<ActionForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let kind: ActionKind = form.kind.parse()?;
    let incident = if form.incident.is_empty() {
        None
    } else {
        Some(Ulid::from_string(&form.incident).map_err(|_| ConsoleError::NotFound)?)
    };
    let req = Request {
        tenant: (!form.tenant.is_empty()).then(|| form.tenant.clone()),
        kind,
        target: form.target,
        ttl: respond::parse_ttl(&form.ttl)?,
        reason: form.reason,
        incident,
    };
    respond::take(&state.store, &user.scope(), &user.user.email, req).await?;
    Ok(match incident {
        Some(i) => Redirect::to(&format!("/incidents/{i}")),
        None => Redirect::to("/response"),
    }
    .into_response())
}

pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<ReleaseForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    respond::release(
        &state.store,
        &user.scope(),
        &user.user.email,
        id,
        &form.reason,
    )
    .await?;
    let back = super::safe_next(Some(&form.back));
    Ok(Redirect::to(&back).into_response())
}
