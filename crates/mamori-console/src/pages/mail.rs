//! The mail queue: what the gateway holds (outbound guard), quarantines (inbound analysis),
//! delays or still has to deliver, with each message's reasons, and release and delete.
//!
//! The spool belongs to `mamori mail serve`; the console only attaches to it. A release here
//! clears the hold in the message's entry and the gateway delivers it on its next look at
//! the spool (within seconds).

use super::{empty, fmt_time, layout, Ctx, Nav};
use crate::auth::{CsrfForm, Posted};
use crate::i18n::{Lang, Text};
use crate::{AppState, ConsoleError};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamori_mail::queue::spool::{Entry, Hold, Spool};
use maud::html;
use serde::Deserialize;

fn spool(state: &AppState) -> Option<Spool> {
    state
        .mail_spool
        .as_deref()
        .and_then(|p| Spool::attach(p).ok())
}

fn state_label(t: &Text, e: &Entry) -> &'static str {
    match &e.hold {
        Some(Hold::Held { .. }) => t.state_held,
        Some(Hold::Quarantined { .. }) => t.state_quarantined,
        Some(Hold::Delayed { .. }) => t.state_delayed,
        None if e.attempts > 0 => t.state_deferred,
        None => t.state_queued,
    }
}

fn subject(e: &Entry) -> String {
    e.report
        .as_ref()
        .and_then(|r| r.get("subject"))
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string()
}

/// The entry with this id, if the user's scope covers its tenant.
fn scoped_entry(
    state: &AppState,
    ctx_scope: &mamori_core::Scope,
    id: &str,
) -> Result<(Spool, Entry), ConsoleError> {
    let spool = spool(state).ok_or(ConsoleError::NotFound)?;
    let entry = spool.entry(id).map_err(|_| ConsoleError::NotFound)?;
    if !ctx_scope.allows(&entry.tenant) {
        return Err(ConsoleError::NotFound);
    }
    Ok((spool, entry))
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let scope = ctx.user.scope();
    let entries: Vec<Entry> = match spool(&state) {
        Some(s) => s
            .entries()
            .map_err(|e| ConsoleError::Internal(e.to_string()))?
            .into_iter()
            .filter(|e| scope.allows(&e.tenant))
            .collect(),
        None => Vec::new(),
    };
    let provider = ctx.user.is_provider();
    let body = html! {
        h1 { (t.mail_queue) }
        div.card {
            @if entries.is_empty() { (empty(t.mail_none)) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.received) } th { (t.mail_state) } th.opt { (t.direction) }
                        @if provider { th.opt { (t.tenant) } }
                        th { (t.mail_subject) } th.opt { (t.mail_from) } th.opt { (t.mail_to) }
                    } }
                    tbody { @for e in entries.iter().rev() {
                        tr {
                            td.nowrap { (fmt_time(mamori_core::from_unix_ms(e.received_ms))) }
                            td { span.state { (state_label(t, e)) } }
                            td.opt { (if e.direction == "inbound" { t.inbound } else { t.outbound }) }
                            @if provider { td.opt { (e.tenant) } }
                            td { a href={ "/mail/" (e.id) } { @let s = subject(e); @if s.is_empty() { "(" (e.id) ")" } @else { (s) } } }
                            td.opt { (e.mail_from) }
                            td.opt { (e.recipients.first().map(|r| r.address.as_str()).unwrap_or("")) @if e.recipients.len() > 1 { " +" (e.recipients.len() - 1) } }
                        }
                    } }
                } }
            }
        }
    };
    Ok(layout(&ctx, t.mail_queue, Nav::Mail, body))
}

fn reason_text(lang: Lang, r: &serde_json::Value) -> String {
    let key = if lang == Lang::Ja {
        "message_ja"
    } else {
        "message_en"
    };
    r.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

pub async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let (spool, e) = scoped_entry(&state, &ctx.user.scope(), &id)?;
    let data = spool.data(&e.id).unwrap_or_default();
    let head_end = mamori_mail::mime::header_end(&data)
        .unwrap_or(data.len())
        .min(64 * 1024);
    let headers = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let reasons = e
        .report
        .as_ref()
        .and_then(|r| r.get("reasons"))
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let verdict = e
        .report
        .as_ref()
        .and_then(|r| r.get("verdict"))
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let body = html! {
        p.muted { a href="/mail" { "← " (t.mail_queue) } }
        h1 { @let s = subject(&e); @if s.is_empty() { (e.id) } @else { (s) } }
        div.grid {
            div.card {
                dl.facts {
                    dt { (t.mail_state) } dd { span.state { (state_label(t, &e)) } }
                    dt { (t.verdict) } dd { code { (verdict) } }
                    dt { (t.direction) } dd { (if e.direction == "inbound" { t.inbound } else { t.outbound }) }
                    dt { (t.tenant) } dd { (e.tenant) }
                    dt { (t.received) } dd { (fmt_time(mamori_core::from_unix_ms(e.received_ms))) }
                    dt { (t.mail_from) } dd { (e.mail_from) }
                    dt { (t.mail_to) } dd { @for r in &e.recipients { div { (r.address) } } }
                    dt { "ID" } dd { code { (e.id) } }
                }
            }
            div.card {
                @if ctx.user.can_write() {
                    div.row {
                        @if e.hold.is_some() {
                            form.inline method="post" action={ "/mail/" (e.id) "/release" } {
                                input type="hidden" name="csrf" value=(ctx.user.csrf);
                                button type="submit" { (t.release) }
                            }
                        }
                        form.inline method="post" action={ "/mail/" (e.id) "/delete" } {
                            input type="hidden" name="csrf" value=(ctx.user.csrf);
                            button.danger type="submit" { (t.delete_mail) }
                        }
                    }
                } @else { p.muted { (t.read_only) } }
            }
        }
        div.card {
            h2 { (t.reasons) }
            @if reasons.is_empty() { (empty(t.no_data)) }
            ul { @for r in &reasons {
                li { code { (r.get("code").and_then(|c| c.as_str()).unwrap_or("")) } " (" (r.get("score").map(|s| s.to_string()).unwrap_or_default()) ") " (reason_text(ctx.lang, r)) }
            } }
        }
        div.card { h2 { (t.headers) } pre.evidence { (headers) } }
    };
    Ok(layout(&ctx, t.mail_queue, Nav::Mail, body))
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
}

impl CsrfForm for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, .. }: Posted<ActionForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let (spool, e) = scoped_entry(&state, &user.scope(), &id)?;
    spool
        .release(&e.id)
        .map_err(|err| ConsoleError::Internal(err.to_string()))?;
    tracing::info!(by = %user.user.email, id = %e.id, "mail released");
    Ok(Redirect::to("/mail").into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, .. }: Posted<ActionForm>,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let (spool, e) = scoped_entry(&state, &user.scope(), &id)?;
    spool
        .remove(&e.id)
        .map_err(|err| ConsoleError::Internal(err.to_string()))?;
    tracing::info!(by = %user.user.email, id = %e.id, "mail deleted");
    Ok(Redirect::to("/mail").into_response())
}

/// The action a signed link in a hold notice names.
fn link_action(action: &str) -> Option<&'static str> {
    match action {
        "release" => Some("release"),
        "cancel" => Some("cancel"),
        _ => None,
    }
}

/// The held message a signed link points at; anything else (bad signature, unknown or no
/// longer held message) is refused the same way.
fn linked_entry(
    state: &AppState,
    id: &str,
    action: &str,
    sig: &str,
) -> Result<(Spool, Entry, &'static str), ConsoleError> {
    let action = link_action(action).ok_or(ConsoleError::Forbidden)?;
    let spool = spool(state).ok_or(ConsoleError::Forbidden)?;
    let secret = spool
        .link_secret()
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    if !mamori_core::sign::verify_mail_action(&secret, id, action, sig) {
        return Err(ConsoleError::Forbidden);
    }
    let entry = spool.entry(id).map_err(|_| ConsoleError::NotFound)?;
    if !matches!(entry.hold, Some(Hold::Held { .. })) {
        return Err(ConsoleError::NotFound);
    }
    Ok((spool, entry, action))
}

#[derive(Deserialize)]
pub struct SigQuery {
    #[serde(default)]
    sig: String,
}

/// The page a sender's link opens: what is held and why, and one button to confirm.
pub async fn action_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path((id, action)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<SigQuery>,
) -> Result<Response, ConsoleError> {
    let lang = super::lang_of(&headers, &state);
    let t = lang.text();
    let (_, e, action) = linked_entry(&state, &id, &action, &q.sig)?;
    let reasons = e
        .report
        .as_ref()
        .and_then(|r| r.get("reasons"))
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let (title, button) = match (lang, action) {
        (Lang::Ja, "release") => ("保留中のメールを送信しますか？", "このまま送信する"),
        (Lang::Ja, _) => ("保留中のメールの送信を取り消しますか？", "送信を取り消す"),
        (Lang::En, "release") => ("Send the held message?", "Send it"),
        (Lang::En, _) => ("Cancel the held message?", "Cancel it"),
    };
    let page = super::bare(
        lang,
        title,
        html! {
            div.card.narrow {
                h1 { (title) }
                dl.facts {
                    dt { (t.mail_subject) } dd { (subject(&e)) }
                    dt { (t.mail_to) } dd { @for r in e.recipients.iter().take(20) { div { (r.address) } } @if e.recipients.len() > 20 { div { "+" (e.recipients.len() - 20) } } }
                }
                h2 { (t.reasons) }
                ul { @for r in &reasons { li { (reason_text(lang, r)) } } }
                form method="post" action={ "/mail/action/" (e.id) "/" (action) } {
                    input type="hidden" name="sig" value=(q.sig);
                    button class=[(action == "cancel").then_some("danger")] type="submit" { (button) }
                }
            }
        },
    );
    Ok(axum::response::Html(page.into_string()).into_response())
}

#[derive(Deserialize)]
pub struct SigForm {
    #[serde(default)]
    sig: String,
}

/// Carries out a confirmed link: the signature is the capability, so no login is needed;
/// it works once, because the message is no longer held afterwards.
pub async fn action_confirm(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<SigForm>,
) -> Result<Response, ConsoleError> {
    let lang = super::lang_of(&headers, &state);
    let (spool, e, action) = linked_entry(&state, &id, &action, &form.sig)?;
    let done = if action == "release" {
        spool
            .release(&e.id)
            .map_err(|err| ConsoleError::Internal(err.to_string()))?;
        if lang == Lang::Ja {
            "メールを送信に回しました。"
        } else {
            "The message is on its way."
        }
    } else {
        spool
            .remove(&e.id)
            .map_err(|err| ConsoleError::Internal(err.to_string()))?;
        if lang == Lang::Ja {
            "メールの送信を取り消しました。"
        } else {
            "The message was cancelled."
        }
    };
    tracing::info!(id = %e.id, action, "held mail handled through a signed link");
    let page = super::bare(lang, done, html! { div.card.narrow { h1 { (done) } } });
    Ok(axum::response::Html(page.into_string()).into_response())
}
