//! Alerts: a filterable, paginated list and a detail page with the evidence.

use super::overview::narrowed;
use super::{
    empty, fmt_time, fmt_time_secs, layout, pager, severity_badge, tenant_choices, tenant_select,
    with_query, Ctx, Nav,
};
use crate::i18n;
use crate::{AppState, ConsoleError};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use mamori_core::{Engine, Severity, Ulid};
use mamori_store::AlertQuery;
use maud::html;
use serde::Deserialize;

/// The filters shared by the alerts page and `GET /api/v1/alerts`.
#[derive(Deserialize, Default, Clone)]
pub struct AlertFilters {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub engine: String,
    #[serde(default)]
    pub asset: String,
    #[serde(default)]
    pub q: String,
    /// `24h`, `7d`, `30d` or empty for any time.
    #[serde(default)]
    pub range: String,
    /// RFC 3339 bounds (API); they win over `range`.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub incident: String,
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl AlertFilters {
    /// Turns the filters into a store query; a malformed value is a clear error.
    pub fn to_query(&self) -> Result<AlertQuery, ConsoleError> {
        let bad =
            |what: &str, v: &str| ConsoleError::BadRequest(format!("{what}: {v:?} is not valid"));
        let (from, to) = super::time_bounds(&self.range, &self.from, &self.to)?;
        Ok(AlertQuery {
            tenant: None,
            from,
            to,
            min_severity: if self.severity.is_empty() {
                None
            } else {
                Some(
                    self.severity
                        .parse::<Severity>()
                        .map_err(ConsoleError::BadRequest)?,
                )
            },
            engine: if self.engine.is_empty() {
                None
            } else {
                Some(
                    self.engine
                        .parse::<Engine>()
                        .map_err(ConsoleError::BadRequest)?,
                )
            },
            asset: (!self.asset.trim().is_empty()).then(|| self.asset.trim().to_lowercase()),
            incident: if self.incident.is_empty() {
                None
            } else {
                Some(
                    Ulid::from_string(&self.incident)
                        .map_err(|_| bad("incident", &self.incident))?,
                )
            },
            text: (!self.q.trim().is_empty()).then(|| self.q.trim().to_string()),
            cursor: (!self.cursor.is_empty()).then(|| self.cursor.clone()),
            limit: self.limit.unwrap_or(50),
        })
    }

    fn link(&self, cursor: &str) -> String {
        with_query(
            "/alerts",
            &[
                ("tenant", &self.tenant),
                ("severity", &self.severity),
                ("engine", &self.engine),
                ("asset", &self.asset),
                ("q", &self.q),
                ("range", &self.range),
                ("incident", &self.incident),
                ("cursor", cursor),
            ],
        )
    }
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<AlertFilters>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let scope = narrowed(ctx.user.scope(), &f.tenant);
    let page = state.store.alerts(&scope, &f.to_query()?).await?;
    let tenants = tenant_choices(&state, &ctx).await?;
    let provider = ctx.user.is_provider();
    let body = html! {
        h1 { (t.alerts) }
        div.card {
            form.filters method="get" action="/alerts" {
                (tenant_select(t, &tenants, &f.tenant))
                label { (t.min_severity) select name="severity" {
                    option value="" { (t.all) }
                    @for s in Severity::ALL { option value=(s.as_str()) selected[s.as_str() == f.severity] { (i18n::severity(lang, s)) } }
                } }
                label { (t.engine) select name="engine" {
                    option value="" { (t.all) }
                    @for e in Engine::ALL { option value=(e.as_str()) selected[e.as_str() == f.engine] { (i18n::engine(lang, e)) } }
                } }
                label { (t.range) select name="range" {
                    @for (v, l) in [("", t.any_time), ("24h", t.last_24h), ("7d", t.last_7d), ("30d", t.last_30d)] {
                        option value=(v) selected[v == f.range] { (l) }
                    }
                } }
                label { (t.asset) input type="text" name="asset" value=(f.asset) placeholder="host:192.168.1.10" size="18"; }
                label { (t.search) input type="search" name="q" value=(f.q) size="18"; }
                @if !f.incident.is_empty() { input type="hidden" name="incident" value=(f.incident); }
                button type="submit" { (t.apply) }
            }
        }
        div.card {
            @if page.items.is_empty() { (empty(t.no_alerts)) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.time) } th { (t.severity) } th.opt { (t.engine) }
                        @if provider { th.opt { (t.tenant) } }
                        th { (t.summary) } th.opt { (t.asset) } th.opt { (t.source) " → " (t.destination) }
                    } }
                    tbody {
                        @for s in &page.items {
                            @let a = &s.alert;
                            tr {
                                td.nowrap { (fmt_time(a.time)) }
                                td { (severity_badge(lang, a.severity)) }
                                td.opt.nowrap { (i18n::engine(lang, a.engine)) }
                                @if provider { td.opt { (a.tenant) } }
                                td { a href={ "/alerts/" (a.id) } { (a.headline()) } }
                                td.opt { (a.asset().map(|x| x.key()).unwrap_or_default()) }
                                td.opt { (a.src.label()) @if !a.dst.is_empty() { " → " (a.dst.label()) } }
                            }
                        }
                    }
                } }
            }
            (pager(t, (!f.cursor.is_empty()).then(|| f.link("")), page.next.as_deref().map(|n| f.link(n))))
        }
    };
    Ok(layout(&ctx, t.alerts, Nav::Alerts, body))
}

pub async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let stored = state
        .store
        .alert(&ctx.user.scope(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let a = &stored.alert;
    let evidence = serde_json::to_string_pretty(&a.evidence).unwrap_or_default();
    let body = html! {
        p.muted { a href="/alerts" { "← " (t.alerts) } }
        h1 { (severity_badge(lang, a.severity)) " " (a.headline()) }
        div.grid {
            div.card {
                h2 { (t.alert_detail) }
                dl.facts {
                    dt { (t.time) } dd { (fmt_time_secs(a.time)) }
                    dt { (t.tenant) } dd { (a.tenant) }
                    dt { (t.engine) } dd { (i18n::engine(lang, a.engine)) }
                    dt { (t.rule) } dd { code { (a.rule_id) } " " (a.rule_name) }
                    @if let Some(c) = &a.category { dt { (t.category) } dd { (c) } }
                    @if !a.sensor.is_empty() { dt { (t.sensor) } dd { (a.sensor) } }
                    @if let Some(asset) = a.asset() { dt { (t.asset) } dd { a href=(with_query("/alerts", &[("asset", &asset.key())])) { (asset.key()) } } }
                    @if !a.src.is_empty() { dt { (t.source) } dd { (a.src.label()) } }
                    @if !a.dst.is_empty() { dt { (t.destination) } dd { (a.dst.label()) } }
                    @if let Some(i) = stored.incident { dt { (t.incident) } dd { a href={ "/incidents/" (i) } { (i) } } }
                    dt { "ID" } dd { code { (a.id) } }
                }
            }
            div.card {
                h2 { (t.summary) }
                p { (a.summary) }
            }
        }
        div.card {
            h2 { (t.evidence) }
            pre.evidence { (evidence) }
        }
    };
    Ok(layout(&ctx, a.headline(), Nav::Alerts, body))
}
