//! Log events: search the records the log readers kept (`mamori logs watch`, `mamori logs
//! hunt --events`) by field, e.g. `EventID=4625 TargetUserName~admin host=DC01`. The syntax
//! is [`mamori_store::events`]'; the API answers the same search as JSON.

use super::overview::narrowed;
use super::{
    empty, fmt_time_secs, layout, pager, tenant_choices, tenant_select, tr, with_query, Ctx, Nav,
};
use crate::{AppState, ConsoleError};
use axum::extract::{Query, State};
use axum::response::Response;
use mamori_core::from_unix_ms;
use mamori_store::{EventQuery, LogEvent};
use maud::html;
use serde::Deserialize;

/// The filters shared by the events page and `GET /api/v1/log-events`.
#[derive(Deserialize, Default, Clone)]
pub struct EventFilters {
    #[serde(default)]
    pub tenant: String,
    /// The search line (field terms and words).
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
    pub cursor: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl EventFilters {
    /// The store query; a malformed search or time is a clear error.
    pub fn to_query(&self) -> Result<EventQuery, ConsoleError> {
        let (from, to) = super::time_bounds(&self.range, &self.from, &self.to)?;
        let (terms, words) = EventQuery::parse(&self.q)
            .map_err(|e| ConsoleError::BadRequest(format!("search: {e}")))?;
        Ok(EventQuery {
            tenant: None,
            from,
            to,
            terms,
            words,
            cursor: (!self.cursor.is_empty()).then(|| self.cursor.clone()),
            limit: self.limit.unwrap_or(50),
        })
    }

    fn link(&self, cursor: &str) -> String {
        with_query(
            "/events",
            &[
                ("tenant", &self.tenant),
                ("q", &self.q),
                ("range", &self.range),
                ("cursor", cursor),
            ],
        )
    }
}

/// Fields shown in the table row before the rest fold away.
const SHOWN_FIELDS: usize = 6;

/// Fields every Windows row repeats in its own columns.
fn shown_in_columns(name: &str) -> bool {
    matches!(
        name,
        "EventID" | "Channel" | "Computer" | "EventRecordID" | "TimeCreated"
    )
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<EventFilters>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let scope = narrowed(ctx.user.scope(), &f.tenant);
    let query = f.to_query();
    let (page, error) = match query {
        Ok(q) => (Some(state.store.events(&scope, &q).await?), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let tenants = tenant_choices(&state, &ctx).await?;
    let provider = ctx.user.is_provider();
    let title = tr(lang, "ログ検索", "Log search");
    let body = html! {
        h1 { (title) }
        div.card {
            form.filters method="get" action="/events" {
                (tenant_select(t, &tenants, &f.tenant))
                label { (t.range) select name="range" {
                    @for (v, l) in [("", t.any_time), ("24h", t.last_24h), ("7d", t.last_7d), ("30d", t.last_30d)] {
                        option value=(v) selected[v == f.range] { (l) }
                    }
                } }
                label.grow { (t.search) input type="search" name="q" value=(f.q) size="48"
                    placeholder="EventID=4625 TargetUserName~admin host=DC01"; }
                button type="submit" { (t.apply) }
            }
            p.hint { (tr(lang,
                "「項目=値」は一致（大文字小文字を区別しない）、「項目~値」は部分一致、「項目!=値」は除外、「項目=*」は項目があるもの。項目名のない語は元のログ行から探します。値に空白を含めるときは \"…\" で囲みます。host・source・channel・event_id・file はイベント自体の項目です。",
                "field=value matches exactly (ignoring case), field~value contains, field!=value excludes, field=* asks that the field exist. Words without a field are looked for in the original record. Quote values with spaces: \"…\". host, source, channel, event_id and file are the event's own columns."
            )) }
            @if let Some(e) = &error { p.error { (e) } }
        }
        div.card {
            @match &page {
                None => {}
                Some(page) if page.items.is_empty() => {
                    (empty(tr(lang,
                        "条件に合うログはありません。ログは mamori logs watch --tenant か mamori logs hunt --tenant … --events で保存されます。",
                        "No log events match. Events are kept by mamori logs watch --tenant or mamori logs hunt --tenant … --events.")))
                }
                Some(page) => {
                    div.table-wrap { table {
                        thead { tr {
                            th { (t.time) }
                            @if provider { th.opt { (t.tenant) } }
                            th { (tr(lang, "ホスト", "Host")) }
                            th.opt { (tr(lang, "種類", "Source")) }
                            th { (tr(lang, "イベントID", "Event ID")) }
                            th { (tr(lang, "内容", "Fields")) }
                        } }
                        tbody {
                            @for e in &page.items { (row(e, provider, lang)) }
                        }
                    } }
                    (pager(t, (!f.cursor.is_empty()).then(|| f.link("")), page.next.as_deref().map(|n| f.link(n))))
                }
            }
        }
    };
    Ok(layout(&ctx, title, Nav::Events, body))
}

fn row(e: &LogEvent, provider: bool, lang: crate::i18n::Lang) -> maud::Markup {
    let fields: Vec<&(String, String)> = e
        .fields
        .iter()
        .filter(|(k, _)| !shown_in_columns(k))
        .collect();
    html! {
        tr {
            td.nowrap { (fmt_time_secs(from_unix_ms(e.time_ms))) }
            @if provider { td.opt { (e.tenant) } }
            td { (e.host) }
            td.opt { (e.channel.as_deref().unwrap_or(&e.source)) }
            td { (e.event_id.map(|i| i.to_string()).unwrap_or_default()) }
            td {
                @for (k, v) in fields.iter().take(SHOWN_FIELDS) {
                    span.field { b { (k) } "=" (v) } " "
                }
                details {
                    summary { (tr(lang, "すべての項目と元のログ", "All fields and the original record")) }
                    table.kv {
                        @for (k, v) in &e.fields { tr { th { (k) } td { (v) } } }
                        @if let Some(file) = &e.file { tr { th { "file" } td { (file) } } }
                        @if let Some(r) = e.record_id { tr { th { "record_id" } td { (r) } } }
                    }
                    pre.raw { (e.raw) }
                }
            }
        }
    }
}
