//! The provider's triage queue: every open incident of every tenant, most severe first and
//! oldest first within a severity, with the help-desk SLA clocks — time to first response
//! (the first change a person made) and time to contain — against targets per severity.

use super::incidents::IncidentFilters;
use super::overview::narrowed;
use super::{
    empty, fmt_time, layout, pager, severity_badge, state_badge, tenant_choices, tenant_select, tr,
    with_query, Ctx, Nav,
};
use crate::i18n::{self, Lang};
use crate::{AppState, ConsoleError};
use axum::extract::{Query, State};
use axum::response::Response;
use mamori_core::{Incident, Severity};
use maud::{html, Markup};
use time::{Duration, OffsetDateTime};

/// Service-level targets: first response and containment, by severity.
pub fn sla_targets(s: Severity) -> (Duration, Duration) {
    match s {
        Severity::Critical => (Duration::minutes(15), Duration::hours(4)),
        Severity::High => (Duration::minutes(30), Duration::hours(8)),
        Severity::Medium => (Duration::hours(4), Duration::hours(72)),
        Severity::Low | Severity::Info => (Duration::hours(24), Duration::days(7)),
    }
}

/// `3h12m`, `45m`, `2d4h`.
pub fn fmt_span(d: Duration) -> String {
    let m = d.whole_minutes().max(0);
    match m {
        0..=59 => format!("{m}m"),
        60..=1439 => format!("{}h{:02}m", m / 60, m % 60),
        _ => format!("{}d{}h", m / 1440, m % 1440 / 60),
    }
}

/// One SLA clock: done (how long it took, red when late) or running (how long so far).
fn clock(
    lang: Lang,
    started: OffsetDateTime,
    done: Option<OffsetDateTime>,
    target: Duration,
    now: OffsetDateTime,
) -> Markup {
    let (took, finished) = match done {
        Some(d) => (d - started, true),
        None => (now - started, false),
    };
    let late = took > target;
    let class = match (finished, late) {
        (true, false) => "state state-resolved",
        (true, true) => "state state-investigating",
        (false, false) => "state state-contained",
        (false, true) => "state state-new",
    };
    html! {
        span class=(class) title={ (tr(lang, "目標 ", "target ")) (fmt_span(target)) } {
            @if !finished { (tr(lang, "経過 ", "")) }
            (fmt_span(took))
            @if !finished { (tr(lang, "", " so far")) }
            @if late { " ⚠" }
        }
    }
}

pub fn row(ctx: &Ctx, i: &Incident, now: OffsetDateTime) -> Markup {
    let lang = ctx.lang;
    let (respond, contain) = sla_targets(i.severity);
    html! {
        tr {
            td { (severity_badge(lang, i.severity)) }
            @if ctx.user.is_provider() { td { a href={ "/queue?tenant=" (i.tenant) } { (i.tenant) } } }
            td { a href={ "/incidents/" (i.id) } { (i.title) } br; span.muted { (i.asset) } }
            td { (state_badge(lang, i.state)) @if let Some(a) = &i.assignee { br; span.muted { (a) } } }
            td.nowrap { (fmt_span(now - i.first_seen)) br; span.muted { (fmt_time(i.first_seen)) } }
            td.nowrap { (clock(lang, i.first_seen, i.first_response, respond, now)) }
            td.nowrap { (clock(lang, i.first_seen, i.contained, contain, now)) }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(mut f): Query<IncidentFilters>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    f.order = "triage".into();
    f.state = "open".into();
    let scope = narrowed(ctx.user.scope(), &f.tenant);
    let page = state.store.incidents(&scope, &f.to_query()?).await?;
    let tenants = tenant_choices(&state, &ctx).await?;
    let now = OffsetDateTime::now_utc();
    let link = |cursor: &str| {
        with_query(
            "/queue",
            &[
                ("tenant", &f.tenant),
                ("severity", &f.severity),
                ("cursor", cursor),
            ],
        )
    };
    let title = tr(lang, "対応キュー", "Triage queue");
    let body = html! {
        h1 { (title) }
        div.card {
            form.filters method="get" action="/queue" {
                (tenant_select(t, &tenants, &f.tenant))
                label { (t.min_severity) select name="severity" {
                    option value="" { (t.all) }
                    @for s in Severity::ALL { option value=(s.as_str()) selected[s.as_str() == f.severity] { (i18n::severity(lang, s)) } }
                } }
                button type="submit" { (t.apply) }
            }
            p.hint { (tr(lang,
                "未解決のインシデントを、重要度の高い順・古い順に並べています。初動（担当者が最初に操作するまで）と封じ込めの時間を、重要度ごとの目標（緊急: 15分・4時間、高: 30分・8時間、中: 4時間・72時間）と比べて表示します。",
                "Open incidents of every tenant, most severe and oldest first. First response (until a person first acts) and containment are shown against targets per severity (critical: 15 min and 4 h, high: 30 min and 8 h, medium: 4 h and 72 h).")) }
        }
        div.card {
            @if page.items.is_empty() { (empty(tr(lang, "未解決のインシデントはありません。", "No open incident."))) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.severity) } @if ctx.user.is_provider() { th { (t.tenant) } }
                        th { (t.summary) } th { (t.state) } th { (tr(lang, "経過", "Age")) }
                        th { (tr(lang, "初動", "First response")) } th { (tr(lang, "封じ込め", "Contained")) }
                    } }
                    tbody { @for i in &page.items { (row(&ctx, i, now)) } }
                } }
            }
            (pager(t, (!f.cursor.is_empty()).then(|| link("")), page.next.as_deref().map(link)))
        }
    };
    Ok(layout(&ctx, title, Nav::Queue, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_short() {
        assert_eq!(fmt_span(Duration::minutes(45)), "45m");
        assert_eq!(fmt_span(Duration::minutes(192)), "3h12m");
        assert_eq!(fmt_span(Duration::hours(52)), "2d4h");
        assert_eq!(fmt_span(Duration::minutes(-3)), "0m");
    }
}
