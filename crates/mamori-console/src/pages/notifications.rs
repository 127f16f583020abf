//! The notification log: every mail and webhook sent, held for quiet hours, suppressed by
//! throttling, or failed after its retries — read from `DATA/notify-log.jsonl`, which the
//! notifier of `mamori up` writes.

use super::{empty, fmt_time_secs, layout, tr, Ctx, Nav};
use crate::{AppState, ConsoleError};
use axum::extract::State;
use axum::response::Response;
use mamori_core::Scope;
use mamori_notify::LogOutcome;
use maud::html;

pub async fn page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let t = ctx.t();
    let tenant = match ctx.user.scope() {
        Scope::Tenant(t) => Some(t),
        Scope::All => None,
    };
    let entries = match &state.data_dir {
        Some(dir) => mamori_notify::read_log(dir, tenant.as_deref(), 300)
            .map_err(|e| ConsoleError::Internal(e.to_string()))?,
        None => Vec::new(),
    };
    let title = tr(lang, "通知の記録", "Notifications sent");
    let body = html! {
        h1 { (title) }
        div.card {
            @if entries.is_empty() {
                (empty(tr(lang,
                    "まだ通知はありません。mamori.toml の [notify] に通知先（メール・Webhook）を設定すると、インシデントが起きたときに知らせます。",
                    "Nothing notified yet. Set recipients (mail, webhooks) under [notify] in mamori.toml to be told about incidents.")))
            } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.time) } @if ctx.user.is_provider() { th.opt { (t.tenant) } }
                        th { (tr(lang, "ルール", "Rule")) } th { (tr(lang, "きっかけ", "Trigger")) }
                        th { (tr(lang, "宛先", "To")) } th { (tr(lang, "結果", "Outcome")) } th.opt { (tr(lang, "詳細", "Details")) }
                    } }
                    tbody { @for e in &entries {
                        tr {
                            td.nowrap { (fmt_time_secs(e.time)) }
                            @if ctx.user.is_provider() { td.opt { (e.tenant) } }
                            td { (e.rule) }
                            td { @if let Some(i) = e.incident { a href={ "/incidents/" (i) } { (e.trigger) } } @else { (e.trigger) } }
                            td { (e.target.as_deref().unwrap_or("—")) }
                            td { @match e.outcome {
                                LogOutcome::Sent => span class="state state-resolved" { (tr(lang, "送信", "sent")) },
                                LogOutcome::Held => span class="state state-investigating" { (tr(lang, "保留（夜間）", "held (quiet hours)")) },
                                LogOutcome::Suppressed => span class="state state-contained" { (tr(lang, "抑制", "suppressed")) },
                                LogOutcome::Failed => span class="state state-new" { (tr(lang, "失敗", "failed")) },
                            } }
                            td.opt {
                                @if let Some(r) = &e.reason { (format!("{r:?}")) " " }
                                @if e.attempts > 1 { (e.attempts) (tr(lang, " 回試行 ", " attempts ")) }
                                @if let Some(err) = &e.error { span.muted { (err) } }
                            }
                        }
                    } }
                } }
            }
        }
    };
    Ok(layout(&ctx, title, Nav::Notifications, body))
}
