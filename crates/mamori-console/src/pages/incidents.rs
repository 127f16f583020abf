//! Incidents: the triage list, and the page where someone works one — changes its state,
//! takes it, writes down what they found — with the timeline of every change.

use super::overview::narrowed;
use super::{
    empty, fmt_time, fmt_time_secs, layout, pager, severity_badge, state_badge, tenant_choices,
    tenant_select, with_query, Ctx, Nav,
};
use crate::auth::{CsrfForm, Posted};
use crate::i18n::{self, Lang};
use crate::{AppState, ConsoleError};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::incident::IncidentChange;
use mamori_core::{IncidentState, Severity, TimelineEntry, TimelineKind, Ulid};
use mamori_store::{AlertQuery, IncidentQuery};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default, Clone)]
pub struct IncidentFilters {
    #[serde(default)]
    pub tenant: String,
    /// A state, `open` (the default) or `all`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub asset: String,
    /// `triage`: open incidents, most severe and oldest first (the provider's queue);
    /// otherwise the most recently active first.
    #[serde(default)]
    pub order: String,
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl IncidentFilters {
    pub fn to_query(&self) -> Result<IncidentQuery, ConsoleError> {
        let (state, open_only) = match self.state.as_str() {
            "" | "open" => (None, true),
            "all" => (None, false),
            s => (
                Some(
                    s.parse::<IncidentState>()
                        .map_err(ConsoleError::BadRequest)?,
                ),
                false,
            ),
        };
        let triage = match self.order.as_str() {
            "" | "recent" => false,
            "triage" => true,
            other => {
                return Err(ConsoleError::BadRequest(format!(
                    "order: {other:?} is not recent or triage"
                )))
            }
        };
        Ok(IncidentQuery {
            tenant: None,
            state,
            open_only,
            triage,
            min_severity: if self.severity.is_empty() {
                None
            } else {
                Some(
                    self.severity
                        .parse::<Severity>()
                        .map_err(ConsoleError::BadRequest)?,
                )
            },
            asset: (!self.asset.trim().is_empty()).then(|| self.asset.trim().to_lowercase()),
            cursor: (!self.cursor.is_empty()).then(|| self.cursor.clone()),
            limit: self.limit.unwrap_or(50),
        })
    }

    fn link(&self, cursor: &str) -> String {
        with_query(
            "/incidents",
            &[
                ("tenant", &self.tenant),
                ("state", &self.state),
                ("severity", &self.severity),
                ("asset", &self.asset),
                ("cursor", cursor),
            ],
        )
    }
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<IncidentFilters>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let scope = narrowed(ctx.user.scope(), &f.tenant);
    let page = state.store.incidents(&scope, &f.to_query()?).await?;
    let provider = ctx.user.is_provider();
    let tenants = tenant_choices(&state, &ctx).await?;
    let body = html! {
        h1 { (t.incidents) }
        div.card {
            form.filters method="get" action="/incidents" {
                (tenant_select(t, &tenants, &f.tenant))
                label { (t.state) select name="state" {
                    option value="open" selected[f.state.is_empty() || f.state == "open"] { (t.open_only) }
                    option value="all" selected[f.state == "all"] { (t.all) }
                    @for s in IncidentState::ALL { option value=(s.as_str()) selected[s.as_str() == f.state] { (i18n::state(lang, s)) } }
                } }
                label { (t.min_severity) select name="severity" {
                    option value="" { (t.all) }
                    @for s in Severity::ALL { option value=(s.as_str()) selected[s.as_str() == f.severity] { (i18n::severity(lang, s)) } }
                } }
                label { (t.asset) input type="text" name="asset" value=(f.asset) size="18"; }
                button type="submit" { (t.apply) }
            }
        }
        div.card {
            @if page.items.is_empty() { (empty(t.no_incidents)) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.severity) } th { (t.title) } th.opt { (t.asset) }
                        @if provider { th.opt { (t.tenant) } }
                        th { (t.state) } th.opt { (t.alert_count) } th.opt { (t.assignee) } th { (t.last_seen) }
                    } }
                    tbody {
                        @for i in &page.items {
                            tr {
                                td { (severity_badge(lang, i.severity)) }
                                td { a href={ "/incidents/" (i.id) } { (i.title) } }
                                td.opt { (i.asset) }
                                @if provider { td.opt { (i.tenant) } }
                                td { (state_badge(lang, i.state)) }
                                td.opt { (i.alert_count) }
                                td.opt { (i.assignee.as_deref().unwrap_or("—")) }
                                td.nowrap { (fmt_time(i.last_seen)) }
                            }
                        }
                    }
                } }
            }
            (pager(t, (!f.cursor.is_empty()).then(|| f.link("")), page.next.as_deref().map(|n| f.link(n))))
        }
    };
    Ok(layout(&ctx, t.incidents, Nav::Incidents, body))
}

fn timeline_item(lang: Lang, e: &TimelineEntry) -> Markup {
    let t = lang.text();
    html! {
        li {
            div.when { (fmt_time_secs(e.time)) " · " (e.actor) }
            @match &e.kind {
                TimelineKind::Opened { severity, alert } => {
                    div { (t.tl_opened) " " (severity_badge(lang, *severity)) " " a href={ "/alerts/" (alert) } { "↗" } }
                }
                TimelineKind::SeverityRaised { from, to, alert } => {
                    div { (t.tl_severity_raised) ": " (severity_badge(lang, *from)) " → " (severity_badge(lang, *to)) " " a href={ "/alerts/" (alert) } { "↗" } }
                }
                TimelineKind::StateChanged { from, to } => {
                    div { (t.tl_state_changed) ": " (state_badge(lang, *from)) " → " (state_badge(lang, *to)) }
                }
                TimelineKind::Assigned { to: Some(who) } => { div { (t.tl_assigned) ": " (who) } }
                TimelineKind::Assigned { to: None } => { div { (t.tl_unassigned) } }
                TimelineKind::Note { text } => { div { (t.tl_note) } div.note { (text) } }
                TimelineKind::Message { text, side, via } => {
                    div { (match side {
                        mamori_core::incident::Side::Provider => super::tr(lang, "サポートより", "From support"),
                        mamori_core::incident::Side::Customer => super::tr(lang, "お客さまより", "From the customer"),
                    }) @if via == "mail" { " ✉" } }
                    div class={ "note msg msg-" (if *side == mamori_core::incident::Side::Provider { "provider" } else { "customer" }) } { (text) }
                }
            }
        }
    }
}

pub async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = ctx.t();
    let lang = ctx.lang;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let scope = ctx.user.scope();
    let inc = state
        .store
        .incident(&scope, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let timeline = state.store.timeline(&scope, id).await?;
    let alerts = state
        .store
        .alerts(
            &scope,
            &AlertQuery {
                incident: Some(id),
                limit: 20,
                ..AlertQuery::default()
            },
        )
        .await?;
    let csrf = &ctx.user.csrf;
    let response = super::response::incident_card(&state, &ctx, &inc, &alerts.items).await?;
    let body = html! {
        p.muted { a href="/incidents" { "← " (t.incidents) } }
        h1 { (severity_badge(lang, inc.severity)) " " (inc.title) }
        div.grid {
            div.card {
                dl.facts {
                    dt { (t.state) } dd { (state_badge(lang, inc.state)) }
                    dt { (t.asset) } dd { (inc.asset) }
                    dt { (t.tenant) } dd { (inc.tenant) }
                    dt { (t.alert_count) } dd { (inc.alert_count) }
                    dt { (t.first_seen) } dd { (fmt_time(inc.first_seen)) }
                    dt { (t.last_seen) } dd { (fmt_time(inc.last_seen)) }
                    dt { (t.assignee) } dd { (inc.assignee.as_deref().unwrap_or(t.unassigned)) }
                }
            }
            div.card {
                @if ctx.user.can_write() {
                    h2 { (t.change_state) }
                    div.row {
                        @for next in inc.state.next_states() {
                            form.inline method="post" action={ "/incidents/" (inc.id) "/state" } {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="state" value=(next.as_str());
                                button.secondary type="submit" data-state=(next.as_str()) { (i18n::state(lang, *next)) (t.move_to) }
                            }
                        }
                    }
                    h2 style="margin-top:1rem" { (t.assign) }
                    form.row method="post" action={ "/incidents/" (inc.id) "/assign" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="text" name="assignee" value=(inc.assignee.as_deref().unwrap_or("")) placeholder=(ctx.user.user.email);
                        button.secondary type="submit" { (t.save) }
                    }
                } @else {
                    p.muted { (t.read_only) }
                }
            }
        }
        div.grid {
            div.card {
                h2 { (t.timeline) }
                ol.timeline { @for e in &timeline { (timeline_item(lang, e)) } }
                form.stack method="post" action={ "/incidents/" (inc.id) "/messages" } style="margin-top:.8rem" {
                    input type="hidden" name="csrf" value=(csrf);
                    textarea name="text" placeholder=(super::tr(lang,
                        "相手に送るメッセージ（メールでも届き、返信はここに追加されます）",
                        "A message to the other side (also mailed; replies are added here)")) required {}
                    div { button type="submit" { (super::tr(lang, "メッセージを送る", "Send message")) } }
                }
                @if ctx.user.can_write() {
                    form.stack method="post" action={ "/incidents/" (inc.id) "/notes" } style="margin-top:.8rem" {
                        input type="hidden" name="csrf" value=(csrf);
                        textarea name="text" placeholder=(t.note_placeholder) required {}
                        div { button type="submit" { (t.add_note) } }
                    }
                }
            }
            div.card {
                h2 { (t.alerts_of_incident) }
                @if alerts.items.is_empty() { (empty(t.no_alerts)) }
                div.table-wrap { table { tbody {
                    @for s in &alerts.items {
                        tr {
                            td.nowrap { (fmt_time(s.alert.time)) }
                            td { (severity_badge(lang, s.alert.severity)) }
                            td { a href={ "/alerts/" (s.alert.id) } { (s.alert.headline()) } }
                        }
                    }
                } } }
                p { a href={ "/alerts?incident=" (inc.id) } { (t.view_all_alerts) " (" (inc.alert_count) ")" } }
                p { a.button.secondary href={ "/incidents/" (inc.id) "/evidence.zip" } { (super::tr(lang, "証拠をダウンロード（ZIP）", "Download evidence (ZIP)")) } }
            }
        }
        (response)
    };
    Ok(layout(&ctx, &inc.title, Nav::Incidents, body))
}

#[derive(Deserialize)]
pub struct StateForm {
    csrf: String,
    state: String,
}

#[derive(Deserialize)]
pub struct AssignForm {
    csrf: String,
    #[serde(default)]
    assignee: String,
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    #[serde(default)]
    text: String,
}

impl CsrfForm for StateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl CsrfForm for AssignForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl CsrfForm for NoteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn apply(
    state: &AppState,
    user: &crate::auth::SessionUser,
    id: &str,
    change: IncidentChange,
) -> Result<Response, ConsoleError> {
    user.require_write()?;
    let id = Ulid::from_string(id).map_err(|_| ConsoleError::NotFound)?;
    state
        .store
        .update_incident(&user.scope(), id, change, &user.user.email)
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

pub async fn set_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<StateForm>,
) -> Result<Response, ConsoleError> {
    let to = form
        .state
        .parse::<IncidentState>()
        .map_err(ConsoleError::BadRequest)?;
    apply(&state, &user, &id, IncidentChange::State(to)).await
}

pub async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<AssignForm>,
) -> Result<Response, ConsoleError> {
    let who = form.assignee.trim();
    let who = (!who.is_empty()).then(|| who.chars().take(200).collect::<String>());
    apply(&state, &user, &id, IncidentChange::Assign(who)).await
}

/// `GET /incidents/{id}/evidence.zip`: the incident's evidence for insurers and police; the
/// export is noted in the incident's timeline with the archive's SHA-256.
pub async fn evidence(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    evidence_download(&state, &ctx.user.scope(), id, &ctx.user.user.email).await
}

/// The archive as a download, with the export noted on the incident.
pub async fn evidence_download(
    state: &AppState,
    scope: &mamori_core::Scope,
    id: Ulid,
    actor: &str,
) -> Result<Response, ConsoleError> {
    use sha2::Digest;
    let bytes = crate::evidence::export(&state.store, scope, id, actor).await?;
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let note = format!("evidence exported ({} bytes, SHA-256 {sha})", bytes.len());
    state
        .store
        .update_incident(scope, id, IncidentChange::Note(note), actor)
        .await?;
    tracing::info!(incident = %id, %actor, %sha, "evidence exported");
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/zip".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    crate::evidence::file_name(id)
                ),
            ),
            (axum::http::HeaderName::from_static("x-content-sha256"), sha),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /incidents/{id}/messages`: a help-desk message (any user of the tenant, or the
/// provider), mailed to the other side.
pub async fn add_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<NoteForm>,
) -> Result<Response, ConsoleError> {
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let side = crate::helpdesk::side_of(user.user.role);
    crate::helpdesk::post(
        &state,
        &user.scope(),
        &user.user.email,
        side,
        id,
        &form.text,
        "web",
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

pub async fn add_note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { user, form }: Posted<NoteForm>,
) -> Result<Response, ConsoleError> {
    apply(
        &state,
        &user,
        &id,
        IncidentChange::Note(form.text.trim().to_string()),
    )
    .await
}
