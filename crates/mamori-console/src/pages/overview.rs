//! The overview: how many alerts, how bad, from where, over the last day or month, and the
//! open incidents that need someone.

use super::{empty, fmt_time, layout, raw, severity_badge, state_badge, with_query, Ctx, Nav};
use crate::chart;
use crate::i18n;
use crate::{AppState, ConsoleError};
use axum::extract::{Query, State};
use axum::response::Response;
use mamori_core::{Engine, Scope, Severity};
use mamori_store::IncidentQuery;
use maud::html;
use serde::Deserialize;
use time::OffsetDateTime;

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    #[serde(default)]
    range: String,
    #[serde(default)]
    tenant: String,
}

/// The scope a page works in: the user's, narrowed to one tenant when a provider picks one.
pub fn narrowed(user_scope: Scope, tenant: &str) -> Scope {
    match user_scope {
        Scope::All if !tenant.is_empty() => Scope::Tenant(tenant.to_string()),
        s => s,
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let scope = narrowed(ctx.user.scope(), &q.tenant);
    let month = q.range == "30d";
    let now = OffsetDateTime::now_utc();
    let (since, bucket) = if month {
        let start = now.replace_time(time::Time::MIDNIGHT) - time::Duration::days(29);
        (start, time::Duration::days(1))
    } else {
        let start = now
            .replace_minute(0)
            .unwrap_or(now)
            .replace_second(0)
            .unwrap_or(now)
            - time::Duration::hours(23);
        (
            start.replace_nanosecond(0).unwrap_or(start),
            time::Duration::hours(1),
        )
    };
    let counts = state.store.alert_counts(&scope, since, bucket).await?;
    let sensors = state.store.sensors(&scope).await?;
    let open = state
        .store
        .incidents(
            &scope,
            &IncidentQuery {
                open_only: true,
                limit: 8,
                ..IncidentQuery::default()
            },
        )
        .await?;
    let tenants = super::tenant_choices(&state, &ctx).await?;
    let sev = |s: Severity| counts.by_severity.get(s.as_str()).copied().unwrap_or(0);
    let svg = chart::stacked_bars(
        &counts.buckets,
        lang,
        |ms| {
            let t = mamori_core::from_unix_ms(ms).to_offset(time::macros::offset!(+9));
            if month {
                format!("{}/{}", t.month() as u8, t.day())
            } else {
                format!("{}:00", t.hour())
            }
        },
        if month { 5 } else { 3 },
    );
    let engine_max = counts.by_engine.values().copied().max().unwrap_or(1).max(1);
    let range_link = |r: &str| with_query("/", &[("range", r), ("tenant", &q.tenant)]);
    let body = html! {
        div.row style="justify-content: space-between" {
            h1 { (t.overview) }
            @if ctx.user.is_provider() {
                form.filters method="get" action="/" {
                    input type="hidden" name="range" value=(q.range);
                    label { (t.tenant)
                        select name="tenant" onchange="this.form.submit()" {
                            option value="" { (t.all_tenants) }
                            @for tn in &tenants {
                                option value=(tn.name) selected[tn.name == q.tenant] { (tn.display_name) }
                            }
                        }
                    }
                    noscript { button type="submit" { (t.apply) } }
                }
            }
        }
        div.tabs {
            a href=(range_link("24h")) class=[(!month).then_some("active")] { (t.last_24h) }
            a href=(range_link("30d")) class=[month.then_some("active")] { (t.last_30d) }
        }
        div.stats {
            div.stat { div.n { (counts.total) } div.l { (t.alerts_total) } }
            div.stat.critical { div.n { (sev(Severity::Critical)) } div.l { (i18n::severity(lang, Severity::Critical)) } }
            div.stat.high { div.n { (sev(Severity::High)) } div.l { (i18n::severity(lang, Severity::High)) } }
            div.stat { div.n { (counts.open_incidents) } div.l { a href="/incidents" { (t.open_incidents) } } }
        }
        div.card.chart {
            h2 { (t.alerts_over_time) }
            (raw(svg))
            div.legend {
                @for s in Severity::ALL {
                    span { i style={ "background:" (chart::color(s)) } {} (i18n::severity(lang, s)) " " (sev(s)) }
                }
            }
        }
        div.grid {
            div.card {
                h2 { (t.by_engine) }
                @if counts.by_engine.is_empty() { (empty(t.no_data)) }
                div.bars {
                    @for e in Engine::ALL {
                        @let n = counts.by_engine.get(e.as_str()).copied().unwrap_or(0);
                        @if n > 0 {
                            div.bar {
                                a href=(with_query("/alerts", &[("engine", e.as_str()), ("tenant", &q.tenant)])) { (i18n::engine(lang, e)) }
                                div.track { div.fill style={ "width:" (n * 100 / engine_max) "%" } {} }
                                span.num { (n) }
                            }
                        }
                    }
                }
            }
            div.card {
                h2 { (t.by_severity) }
                div.bars {
                    @for s in Severity::ALL {
                        div.bar {
                            a href=(with_query("/alerts", &[("severity", s.as_str()), ("tenant", &q.tenant)])) { (severity_badge(lang, s)) }
                            div.track { div.fill style={ "width:" (sev(s) * 100 / counts.total.max(1)) "%; background:" (chart::color(s)) } {} }
                            span.num { (sev(s)) }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { (t.open_incidents_needing_action) }
            @if open.items.is_empty() { (empty(t.no_incidents)) } @else {
                div.table-wrap { table {
                    thead { tr { th { (t.severity) } th { (t.title) } th.opt { (t.asset) } @if ctx.user.is_provider() { th.opt { (t.tenant) } } th { (t.state) } th.opt { (t.last_seen) } } }
                    tbody {
                        @for i in &open.items {
                            tr {
                                td { (severity_badge(lang, i.severity)) }
                                td { a href={ "/incidents/" (i.id) } { (i.title) } }
                                td.opt { (i.asset) }
                                @if ctx.user.is_provider() { td.opt { (i.tenant) } }
                                td { (state_badge(lang, i.state)) }
                                td.opt.nowrap { (fmt_time(i.last_seen)) }
                            }
                        }
                    }
                } }
            }
        }
        @if !sensors.is_empty() { (sensor_card(&ctx, &sensors, now)) }
    };
    Ok(layout(&ctx, t.overview, Nav::Overview, body))
}

/// A sensor counts as online when it was heard from within this long (the forwarder sends at
/// least every few seconds while it has events, and retries within 30 s when it has trouble).
const ONLINE: time::Duration = time::Duration::minutes(5);

/// Sensors (`mamori up --role sensor`) with their last contact and lag.
fn sensor_card(
    ctx: &Ctx,
    sensors: &[mamori_store::SensorContact],
    now: OffsetDateTime,
) -> maud::Markup {
    use super::tr;
    let lang = ctx.lang;
    let t = ctx.t();
    html! {
        div.card {
            h2 { (tr(lang, "センサー", "Sensors")) }
            div.table-wrap { table {
                thead { tr {
                    th { (tr(lang, "センサー", "Sensor")) }
                    @if ctx.user.is_provider() { th.opt { (t.tenant) } }
                    th { (tr(lang, "状態", "Status")) } th { (tr(lang, "最終通信", "Last contact")) }
                    th { (tr(lang, "未送信", "Waiting")) } th { (tr(lang, "遅れ", "Lag")) } th.opt { (tr(lang, "送信元", "Address")) }
                } }
                tbody { @for s in sensors {
                    tr {
                        td { (s.name) }
                        @if ctx.user.is_provider() { td.opt { (s.tenant) } }
                        td { @if now - s.last_contact <= ONLINE {
                            span class="state state-resolved" { (tr(lang, "オンライン", "online")) }
                        } @else {
                            span class="state state-new" { (tr(lang, "応答なし", "silent")) }
                        } }
                        td.nowrap { (fmt_time(s.last_contact)) }
                        td { (s.backlog) }
                        td { (s.lag().whole_seconds()) (tr(lang, " 秒", " s")) }
                        td.opt { (s.address) }
                    }
                } }
            } }
        }
    }
}
