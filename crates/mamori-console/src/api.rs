//! The JSON API under `/api/v1`, described in [`crate::openapi`].
//!
//! Callers authenticate with `Authorization: Bearer <token>` (a tenant's token) or a console
//! session cookie (then changes need `X-CSRF-Token`). Answers are JSON, errors too:
//! `{"error": "…"}` with a fitting status.
//!
//! `POST /api/v1/events` takes NDJSON: Mamori alerts or Suricata EVE records, one per line.
//! Each line stands alone: a malformed one is reported with its line number and the others
//! are stored. The answer comes after the alerts are committed to the store.

use crate::auth::ApiCaller;
use crate::pages::alerts::AlertFilters;
use crate::pages::incidents::IncidentFilters;
use crate::pages::overview::narrowed;
use crate::{AppState, ConsoleError};
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mamori_core::eve::{parse_line, Line};
use mamori_core::incident::IncidentChange;
use mamori_core::{IncidentState, Scope, Ulid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

/// A console error answered as JSON.
pub struct ApiError(pub ConsoleError);

impl<E: Into<ConsoleError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            ConsoleError::NotFound | ConsoleError::Store(mamori_store::Error::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "not found".to_string())
            }
            ConsoleError::Store(mamori_store::Error::Invalid(m)) => {
                (StatusCode::BAD_REQUEST, m.clone())
            }
            ConsoleError::Store(mamori_store::Error::Conflict(m)) => {
                (StatusCode::CONFLICT, format!("{m} already exists"))
            }
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ConsoleError::Forbidden => (StatusCode::FORBIDDEN, "forbidden".into()),
            ConsoleError::Csrf => (StatusCode::FORBIDDEN, self.0.to_string()),
            ConsoleError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.to_string()),
            ConsoleError::LoginRequired(_) => (
                StatusCode::UNAUTHORIZED,
                "log in or send a Bearer token".into(),
            ),
            other => {
                tracing::error!(error = %other, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the console log has the details".into(),
                )
            }
        };
        let mut resp = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            if let Ok(v) = "Bearer".parse() {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// [`ApiCaller`] with JSON rejections.
pub struct Caller(pub ApiCaller);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            ApiCaller::from_request_parts(parts, state)
                .await
                .map_err(ApiError)?,
        ))
    }
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub error: String,
}

#[derive(Serialize, Debug, Default)]
pub struct IngestAnswer {
    pub stored: usize,
    pub duplicates: usize,
    /// EVE records that are not alerts (flow, dns, stats …): accepted, not stored.
    pub skipped: usize,
    pub errors: Vec<LineError>,
}

/// Splits an NDJSON body into alerts and per-line errors. `tenant` is the token's tenant: a
/// line naming another tenant is refused, a line naming none gets it.
pub fn parse_ndjson(body: &[u8], tenant: &str) -> (Vec<mamori_core::Alert>, IngestAnswer) {
    let mut alerts = Vec::new();
    let mut answer = IngestAnswer::default();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                answer.errors.push(LineError {
                    line: line_no,
                    error: format!("not UTF-8: {e}"),
                });
                continue;
            }
        };
        match parse_line(text) {
            Ok(Line::Alert(mut alert)) => {
                if !alert.tenant.is_empty() && alert.tenant != tenant {
                    answer.errors.push(LineError {
                        line: line_no,
                        error: format!(
                            "tenant {:?} does not match the token's tenant {tenant:?}",
                            alert.tenant
                        ),
                    });
                    continue;
                }
                alert.tenant = tenant.to_string();
                alerts.push(*alert);
            }
            Ok(Line::Skipped(_)) => answer.skipped += 1,
            Err(e) => answer.errors.push(LineError {
                line: line_no,
                error: e,
            }),
        }
    }
    (alerts, answer)
}

pub async fn ingest(
    State(state): State<AppState>,
    Caller(caller): Caller,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(tenant) = caller.token_tenant.clone() else {
        return Err(ApiError(ConsoleError::BadRequest(
            "events are sent with a tenant's token (mamori token create)".into(),
        )));
    };
    let limit = state.config.console.ingest_max_bytes;
    let too_large = || {
        let answer = IngestAnswer {
            errors: vec![LineError {
                line: 0,
                error: format!("the body is larger than {limit} bytes; send smaller batches"),
            }],
            ..IngestAnswer::default()
        };
        (StatusCode::PAYLOAD_TOO_LARGE, Json(answer)).into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(too_large());
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return Ok(too_large()),
    };
    // Parsing a large body takes milliseconds of CPU: off the async workers, so other
    // requests and the bus writer keep going meanwhile.
    let (alerts, mut answer) = {
        let tenant = tenant.clone();
        tokio::task::spawn_blocking(move || parse_ndjson(&bytes, &tenant))
            .await
            .map_err(|e| ConsoleError::Internal(e.to_string()))?
    };
    if !alerts.is_empty() {
        let receipt = state
            .bus
            .publish_and_wait(alerts)
            .await
            .map_err(|e| ConsoleError::Internal(e.to_string()))?;
        answer.stored = receipt.stored;
        answer.duplicates = receipt.duplicates;
    }
    if let Some(name) = headers.get("x-mamori-sensor").and_then(|v| v.to_str().ok()) {
        let number = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let contact = mamori_store::SensorContact {
            tenant: tenant.clone(),
            name: name
                .chars()
                .take(mamori_store::sensors::MAX_SENSOR_NAME)
                .collect(),
            last_contact: time::OffsetDateTime::now_utc(),
            backlog: number("x-mamori-backlog").unwrap_or(0).max(0),
            oldest_unsent: number("x-mamori-oldest-ms").map(mamori_core::from_unix_ms),
            address: peer.map(|p| p.0 .0.ip().to_string()).unwrap_or_default(),
        };
        if let Err(e) = state.store.sensor_contact(&contact).await {
            tracing::warn!(error = %e, sensor = %contact.name, "sensor contact not recorded");
        }
    }
    let nothing_valid = answer.stored == 0 && answer.duplicates == 0 && answer.skipped == 0;
    let status = if !answer.errors.is_empty() && nothing_valid {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if !answer.errors.is_empty() {
        tracing::info!(%tenant, errors = answer.errors.len(), stored = answer.stored, "ingest with refused lines");
    }
    Ok((status, Json(answer)).into_response())
}

fn scope_for(caller: &ApiCaller, tenant: &str) -> Scope {
    narrowed(caller.scope.clone(), tenant)
}

pub async fn alerts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(f): Query<AlertFilters>,
) -> Result<Response, ApiError> {
    let page = state
        .store
        .alerts(&scope_for(&caller, &f.tenant), &f.to_query()?)
        .await?;
    Ok(Json(page).into_response())
}

/// `GET /api/v1/incidents/{id}/evidence`: the evidence archive (as the incident page's button).
pub async fn incident_evidence(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    Ok(
        crate::pages::incidents::evidence_download(&state, &caller.scope, id, &caller.actor)
            .await?,
    )
}

/// `GET /api/v1/log-events`: the log search of the events page.
pub async fn log_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(f): Query<crate::pages::events::EventFilters>,
) -> Result<Response, ApiError> {
    let page = state
        .store
        .events(&scope_for(&caller, &f.tenant), &f.to_query()?)
        .await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize, Default)]
pub struct TenantFilter {
    #[serde(default)]
    pub tenant: String,
}

/// `GET /api/v1/sensors`: each sensor's last contact, backlog and lag.
pub async fn sensors(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(f): Query<TenantFilter>,
) -> Result<Response, ApiError> {
    let items: Vec<serde_json::Value> = state
        .store
        .sensors(&scope_for(&caller, &f.tenant))
        .await?
        .into_iter()
        .map(|s| {
            let lag = s.lag().whole_seconds();
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["lag_seconds"] = lag.into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

#[derive(Deserialize, Default)]
pub struct ActionFilters {
    #[serde(default)]
    pub tenant: String,
    /// `all`: released and expired ones too.
    #[serde(default)]
    pub show: String,
    #[serde(default)]
    pub incident: String,
}

/// `GET /api/v1/actions`: response actions in force (or all with `show=all`), newest first.
pub async fn actions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(f): Query<ActionFilters>,
) -> Result<Response, ApiError> {
    let incident = if f.incident.is_empty() {
        None
    } else {
        Some(Ulid::from_string(&f.incident).map_err(|_| ConsoleError::NotFound)?)
    };
    let items = state
        .store
        .actions(
            &scope_for(&caller, &f.tenant),
            &mamori_store::ActionQuery {
                active_only: f.show != "all",
                incident,
                limit: 500,
                ..Default::default()
            },
        )
        .await?;
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
pub struct ActionBody {
    #[serde(default)]
    pub tenant: Option<String>,
    pub kind: String,
    pub target: String,
    /// `90s`, `30m`, `12h`, `7d`; absent: until released.
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub incident: Option<String>,
}

/// `POST /api/v1/actions`: take a response action (201 with the action).
pub async fn take_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.check_change(&headers)?;
    let b: ActionBody = serde_json::from_slice(&body)
        .map_err(|e| ConsoleError::BadRequest(format!("body: {e}")))?;
    let incident = match b.incident.as_deref() {
        None | Some("") => None,
        Some(i) => Some(Ulid::from_string(i).map_err(|_| ConsoleError::NotFound)?),
    };
    let req = crate::respond::Request {
        tenant: b.tenant,
        kind: b.kind.parse().map_err(ConsoleError::from)?,
        target: b.target,
        ttl: crate::respond::parse_ttl(b.ttl.as_deref().unwrap_or(""))?,
        reason: b.reason,
        incident,
    };
    let action = crate::respond::take(&state.store, &caller.scope, &caller.actor, req).await?;
    Ok((StatusCode::CREATED, Json(action)).into_response())
}

#[derive(Deserialize)]
pub struct ActionStatusBody {
    pub status: String,
    #[serde(default)]
    pub sensor: String,
}

/// `POST /api/v1/actions/{id}/status`: a sensor's report on applying an action (204).
pub async fn action_status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.check_change(&headers)?;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    // Another tenant's action is not found, whatever the body says.
    state
        .store
        .action(&caller.scope, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let b: ActionStatusBody = serde_json::from_slice(&body)
        .map_err(|e| ConsoleError::BadRequest(format!("body: {e}")))?;
    let status = b.status.trim();
    let known = matches!(status, "applied" | "pending") || status.starts_with("error: ");
    if !known || status.len() > 500 || status.chars().any(char::is_control) {
        return Err(ConsoleError::BadRequest(
            "status: applied, pending, or \"error: \" and the reason (at most 500 characters)"
                .into(),
        )
        .into());
    }
    state.store.set_action_status(id, status).await?;
    // Debug formatting: the sensor's name comes from the request, so it is quoted and escaped.
    tracing::info!(action = %id, sensor = ?b.sensor, %status, "a sensor reported on an action");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
pub struct ReleaseBody {
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/actions/{id}/release`.
pub async fn release_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.check_change(&headers)?;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let b: ReleaseBody = if body.is_empty() {
        ReleaseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ConsoleError::BadRequest(format!("body: {e}")))?
    };
    let action =
        crate::respond::release(&state.store, &caller.scope, &caller.actor, id, &b.reason).await?;
    Ok(Json(action).into_response())
}

pub async fn alert(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let found = state
        .store
        .alert(&caller.scope, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok(Json(found).into_response())
}

pub async fn incidents(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(f): Query<IncidentFilters>,
) -> Result<Response, ApiError> {
    let page = state
        .store
        .incidents(&scope_for(&caller, &f.tenant), &f.to_query()?)
        .await?;
    Ok(Json(page).into_response())
}

pub async fn incident(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let inc = state
        .store
        .incident(&caller.scope, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let timeline = state.store.timeline(&caller.scope, id).await?;
    Ok(Json(json!({ "incident": inc, "timeline": timeline })).into_response())
}

/// A change to an incident; any combination of fields, applied in this order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    #[serde(default)]
    state: Option<IncidentState>,
    /// A name or email; an empty string unassigns.
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn update_incident(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.check_change(&headers)?;
    let id = Ulid::from_string(&id).map_err(|_| ConsoleError::NotFound)?;
    let patch: IncidentPatch = serde_json::from_slice(&body)
        .map_err(|e| ConsoleError::BadRequest(format!("body: {e}")))?;
    let mut changes = Vec::new();
    if let Some(s) = patch.state {
        changes.push(IncidentChange::State(s));
    }
    if let Some(a) = patch.assignee {
        let a = a.trim().to_string();
        changes.push(IncidentChange::Assign((!a.is_empty()).then_some(a)));
    }
    if let Some(n) = patch.note {
        changes.push(IncidentChange::Note(n));
    }
    if changes.is_empty() {
        return Err(ConsoleError::BadRequest(
            "nothing to change: send state, assignee or note".into(),
        )
        .into());
    }
    if state.store.incident(&caller.scope, id).await?.is_none() {
        return Err(ConsoleError::NotFound.into());
    }
    let mut last = None;
    for change in changes {
        last = Some(
            state
                .store
                .update_incident(&caller.scope, id, change, &caller.actor)
                .await?,
        );
    }
    Ok(Json(last).into_response())
}

#[derive(Deserialize)]
pub struct OverviewParams {
    #[serde(default)]
    range: String,
    #[serde(default)]
    tenant: String,
}

pub async fn overview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(p): Query<OverviewParams>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let (since, bucket) = match p.range.as_str() {
        "" | "24h" => (now - time::Duration::hours(24), time::Duration::hours(1)),
        "30d" => (now - time::Duration::days(30), time::Duration::days(1)),
        other => {
            return Err(ConsoleError::BadRequest(format!("range {other:?}: use 24h or 30d")).into())
        }
    };
    let counts = state
        .store
        .alert_counts(&scope_for(&caller, &p.tenant), since, bucket)
        .await?;
    Ok(Json(counts).into_response())
}

pub async fn tenants(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let tenants = state.store.tenants(&caller.scope).await?;
    Ok(Json(json!({ "items": tenants })).into_response())
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_line_is_named_and_the_good_ones_kept() {
        let good =
            r#"{"engine":"ids","rule_id":"x","rule_name":"x","severity":"low","summary":"s"}"#;
        let body = format!("{good}\n{{oops\n\n{good}\r\n\u{0}\n");
        let (alerts, answer) = parse_ndjson(body.as_bytes(), "acme");
        assert_eq!(alerts.len(), 2);
        assert!(alerts.iter().all(|a| a.tenant == "acme"));
        let lines: Vec<_> = answer.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 5]);
    }

    #[test]
    fn a_line_for_another_tenant_is_refused() {
        let line = r#"{"tenant":"other","engine":"ids","rule_id":"x","rule_name":"x","severity":"low","summary":"s"}"#;
        let (alerts, answer) = parse_ndjson(line.as_bytes(), "acme");
        assert!(alerts.is_empty());
        assert!(answer.errors[0].error.contains("does not match"));
    }
}
