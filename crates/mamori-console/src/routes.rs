//! Every route of the console in one table.
//!
//! The router is built from [`ROUTES`], and the tenant-isolation test walks the same table:
//! a route added here without a test of its scoping fails that test.

use crate::{api, pages, AppState};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

/// What a route exposes, which says how the isolation test checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No login needed and no tenant data (login page, stylesheet, OpenAPI document).
    Public,
    /// A list or summary of tenant data for the caller's scope.
    ScopedList,
    /// One tenant object named in the path (`{id}`): another tenant's id must be 404.
    ScopedObject,
    /// A change to one tenant object named in the path.
    ScopedChange,
    /// Administration limited to the caller's scope.
    Admin,
    /// Ingest: writes only into the token's own tenant.
    Ingest,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub handler: fn() -> MethodRouter<AppState>,
}

macro_rules! route {
    ($method:ident $path:literal $access:ident => $handler:path) => {
        Route {
            method: stringify!($method),
            path: $path,
            access: Access::$access,
            handler: || $method($handler),
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(get "/login" Public => pages::login::page),
    route!(post "/login" Public => pages::login::submit),
    route!(post "/logout" Public => pages::login::logout),
    route!(get "/lang/{code}" Public => pages::login::switch_language),
    route!(get "/static/app.css" Public => pages::stylesheet),
    route!(get "/healthz" Public => healthz),
    route!(get "/" ScopedList => pages::overview::page),
    route!(get "/alerts" ScopedList => pages::alerts::list),
    route!(get "/alerts/{id}" ScopedObject => pages::alerts::detail),
    route!(get "/incidents" ScopedList => pages::incidents::list),
    route!(get "/incidents/{id}" ScopedObject => pages::incidents::detail),
    route!(post "/incidents/{id}/state" ScopedChange => pages::incidents::set_state),
    route!(post "/incidents/{id}/assign" ScopedChange => pages::incidents::assign),
    route!(post "/incidents/{id}/notes" ScopedChange => pages::incidents::add_note),
    route!(post "/incidents/{id}/messages" ScopedChange => pages::incidents::add_message),
    route!(get "/incidents/{id}/evidence.zip" ScopedObject => pages::incidents::evidence),
    route!(get "/mail/action/{id}/{action}" Public => pages::mail::action_page),
    route!(post "/mail/action/{id}/{action}" Public => pages::mail::action_confirm),
    route!(get "/mail" ScopedList => pages::mail::list),
    route!(get "/mail/{id}" ScopedObject => pages::mail::detail),
    route!(post "/mail/{id}/release" ScopedChange => pages::mail::release),
    route!(post "/mail/{id}/delete" ScopedChange => pages::mail::delete),
    route!(get "/queue" ScopedList => pages::queue::page),
    route!(get "/events" ScopedList => pages::events::list),
    route!(get "/response" ScopedList => pages::response::list),
    route!(get "/reports" ScopedList => pages::reports::page),
    route!(get "/scans" ScopedList => pages::scans::page),
    route!(post "/scans/sites" Admin => pages::scans::register),
    route!(post "/scans/run" Admin => pages::scans::run),
    route!(get "/drill" ScopedList => pages::drill::page),
    route!(post "/drill/import" Admin => pages::drill::import),
    route!(post "/drill/campaigns" Admin => pages::drill::create),
    route!(post "/drill/education" Admin => pages::drill::education),
    route!(get "/drill/campaigns/{id}" ScopedObject => pages::drill::campaign),
    route!(get "/drill/campaigns/{id}/export.csv" ScopedObject => pages::drill::export),
    route!(post "/drill/campaigns/{id}/state" ScopedChange => pages::drill::set_state),
    route!(get "/notifications" ScopedList => pages::notifications::page),
    route!(get "/reports/view" ScopedList => pages::reports::view),
    route!(post "/response" Admin => pages::response::create),
    route!(post "/response/{id}/release" ScopedChange => pages::response::release),
    route!(get "/waf" ScopedList => pages::waf::overview),
    route!(post "/waf/exclusions" Admin => pages::waf::add_exclusion),
    route!(post "/waf/mode" Admin => pages::waf::set_mode),
    route!(get "/tenants" Admin => pages::admin::tenants),
    route!(post "/tenants" Admin => pages::admin::create_tenant),
    route!(get "/users" Admin => pages::admin::users),
    route!(post "/users" Admin => pages::admin::create_user),
    route!(get "/tokens" Admin => pages::admin::tokens),
    route!(post "/tokens" Admin => pages::admin::create_token),
    route!(post "/tokens/revoke" Admin => pages::admin::revoke_token),
    route!(get "/api/v1/openapi.json" Public => api::openapi),
    route!(post "/api/v1/events" Ingest => api::ingest),
    route!(get "/api/v1/alerts" ScopedList => api::alerts),
    route!(get "/api/v1/log-events" ScopedList => api::log_events),
    route!(get "/api/v1/actions" ScopedList => api::actions),
    route!(get "/api/v1/sensors" ScopedList => api::sensors),
    route!(post "/api/v1/actions" Admin => api::take_action),
    route!(post "/api/v1/actions/{id}/release" ScopedChange => api::release_action),
    route!(post "/api/v1/actions/{id}/status" ScopedChange => api::action_status),
    route!(get "/api/v1/alerts/{id}" ScopedObject => api::alert),
    route!(get "/api/v1/incidents" ScopedList => api::incidents),
    route!(get "/api/v1/incidents/{id}" ScopedObject => api::incident),
    route!(get "/api/v1/incidents/{id}/evidence" ScopedObject => api::incident_evidence),
    route!(post "/api/v1/incidents/{id}" ScopedChange => api::update_incident),
    route!(patch "/api/v1/incidents/{id}" ScopedChange => api::update_incident),
    route!(get "/api/v1/overview" ScopedList => api::overview),
    route!(get "/api/v1/tenants" ScopedList => api::tenants),
];

async fn healthz() -> &'static str {
    "ok"
}

use axum::routing::patch;

/// Builds the router from [`ROUTES`], with security headers on every answer.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        router = router.route(r.path, (r.handler)());
    }
    // The training's tracking endpoints (`/t/…`) carry their own state and pages.
    let tracking = state.drill.as_ref().map(|d| d.router());
    // The ingest route reads its body itself with the configured limit; forms are small.
    let router = router
        .fallback(|| async { crate::ConsoleError::NotFound })
        .layer(DefaultBodyLimit::max(
            state.config.console.ingest_max_bytes.max(64 * 1024),
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state);
    match tracking {
        Some(t) => router.merge(t),
        None => router,
    }
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
