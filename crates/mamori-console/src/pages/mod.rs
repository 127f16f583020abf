//! The console's HTML pages, rendered on the server with maud (escaping by default).
//!
//! One module per area: [`login`], [`overview`], [`alerts`], [`incidents`], [`admin`]
//! (tenants, users, tokens). This module holds the shared frame: the layout with its
//! navigation, the request context ([`Ctx`]), and small formatting helpers.

pub mod admin;
pub mod alerts;
pub mod drill;
pub mod events;
pub mod incidents;
pub mod login;
pub mod mail;
pub mod notifications;
pub mod overview;
pub mod queue;
pub mod reports;
pub mod response;
pub mod scans;
pub mod waf;

use crate::auth::{SessionUser, LANG_COOKIE};
use crate::i18n::{self, Lang, Text};
use crate::{AppState, ConsoleError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use mamori_core::{IncidentState, Severity};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use time::OffsetDateTime;

pub const STYLESHEET: &str = include_str!("app.css");

/// Everything a page needs to render its frame: who, in which language, on which path.
pub struct Ctx {
    pub user: SessionUser,
    pub lang: Lang,
    pub path: String,
}

impl Ctx {
    pub fn t(&self) -> &'static Text {
        self.lang.text()
    }
}

pub fn lang_of(headers: &HeaderMap, state: &AppState) -> Lang {
    crate::auth::cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .or_else(|| Lang::parse(&state.config.console.language))
        .unwrap_or(Lang::Ja)
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = SessionUser::from_request_parts(parts, state).await?;
        Ok(Ctx {
            user,
            lang: lang_of(&parts.headers, state),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Queue,
    Incidents,
    Alerts,
    Events,
    Mail,
    Response,
    Reports,
    Scans,
    Drill,
    Notifications,
    Waf,
    Tenants,
    Users,
    Tokens,
}

/// The page frame: header with navigation, the user, the language switch and logout.
pub fn layout(ctx: &Ctx, title: &str, active: Nav, body: Markup) -> Response {
    let t = ctx.t();
    let mut items = vec![
        (Nav::Overview, "/", t.overview),
        (Nav::Queue, "/queue", tr(ctx.lang, "対応キュー", "Queue")),
        (Nav::Incidents, "/incidents", t.incidents),
        (Nav::Alerts, "/alerts", t.alerts),
        (
            Nav::Events,
            "/events",
            tr(ctx.lang, "ログ検索", "Log search"),
        ),
        (Nav::Mail, "/mail", t.mail),
        (Nav::Waf, "/waf", "WAF"),
        (Nav::Response, "/response", tr(ctx.lang, "対応", "Response")),
        (
            Nav::Reports,
            "/reports",
            tr(ctx.lang, "レポート", "Reports"),
        ),
    ];
    if ctx.user.is_provider() {
        items.push((Nav::Tenants, "/tenants", t.tenants));
    }
    if ctx.user.is_admin() {
        items.push((Nav::Users, "/users", t.users));
        items.push((Nav::Tokens, "/tokens", t.tokens));
    }
    let other = ctx.lang.other();
    let page = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Mamori" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                header.top {
                    a.brand href="/" { span.mark { "守" } span { "Mamori" } }
                    nav.main {
                        @for (nav, href, label) in &items {
                            a href=(href) class=[(*nav == active).then_some("active")] { (label) }
                        }
                    }
                    div.who {
                        span.user title=(i18n::role(ctx.lang, ctx.user.user.role)) { (ctx.user.user.email) }
                        a.lang href={ "/lang/" (other.code()) "?next=" (url_encode(&ctx.path)) } { (other.text().language_name) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(ctx.user.csrf);
                            button.link type="submit" { (t.logout) }
                        }
                    }
                }
                main { (body) }
                footer { (t.times_in) " · Mamori " (env!("CARGO_PKG_VERSION")) }
            }
        }
    };
    Html(page.into_string()).into_response()
}

/// A bare page for errors and the login screen.
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Mamori" }
                link rel="stylesheet" href="/static/app.css";
            }
            body.bare { (body) }
        }
    }
}

/// Errors are shown in both languages: they can happen before we know the user's choice.
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let (ja, en) = match status {
        StatusCode::NOT_FOUND => (i18n::JA.not_found, i18n::EN.not_found),
        StatusCode::FORBIDDEN => (i18n::JA.forbidden, i18n::EN.forbidden),
        _ => (i18n::JA.error, i18n::EN.error),
    };
    let page = bare(
        Lang::Ja,
        en,
        html! {
            div.card.narrow {
                h1 { (status.as_u16()) " " (ja) }
                p.muted { (en) }
                p { (message) }
                p { a href="/" { (i18n::JA.back_to_overview) " / " (i18n::EN.back_to_overview) } }
            }
        },
    );
    Html(page.into_string())
}

pub fn severity_badge(lang: Lang, s: Severity) -> Markup {
    html! { span class={ "sev sev-" (s.as_str()) } { (i18n::severity(lang, s)) } }
}

pub fn state_badge(lang: Lang, s: IncidentState) -> Markup {
    html! { span class={ "state state-" (s.as_str()) } { (i18n::state(lang, s)) } }
}

const JST: time::UtcOffset = time::macros::offset!(+9);

/// `2026-10-03 09:14` in JST.
pub fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(JST);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub fn fmt_time_secs(t: OffsetDateTime) -> String {
    format!("{}:{:02}", fmt_time(t), t.to_offset(JST).second())
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `path?k=v&…` from the non-empty pairs.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// Only local paths are followed after login or a language switch (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// The tenants a provider admin can pick from to narrow a page; empty for everyone else.
pub async fn tenant_choices(
    state: &AppState,
    ctx: &Ctx,
) -> Result<Vec<mamori_core::Tenant>, ConsoleError> {
    if ctx.user.is_provider() {
        Ok(state.store.tenants(&ctx.user.scope()).await?)
    } else {
        Ok(Vec::new())
    }
}

/// The tenant filter of a list page (shown only when there is a choice).
pub fn tenant_select(t: &Text, tenants: &[mamori_core::Tenant], selected: &str) -> Markup {
    html! {
        @if !tenants.is_empty() {
            label { (t.tenant) select name="tenant" {
                option value="" { (t.all_tenants) }
                @for tn in tenants { option value=(tn.name) selected[tn.name == selected] { (tn.display_name) } }
            } }
        }
    }
}

/// Links to the first page (when not on it) and to the next one (when there is one).
pub fn pager(t: &Text, first: Option<String>, next: Option<String>) -> Markup {
    html! {
        div.pager {
            @if let Some(f) = first { a href=(f) { (t.first_page) } } @else { span {} }
            @if let Some(n) = next { a href=(n) { (t.next_page) } }
        }
    }
}

/// The time bounds of a list's filters: RFC 3339 `from`/`to` (the API's), which win over a
/// `range` of `24h`, `7d`, `30d` (or empty / `all`: any time). A malformed value is a clear
/// error.
pub fn time_bounds(
    range: &str,
    from: &str,
    to: &str,
) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), ConsoleError> {
    let bad = |what: &str, v: &str| ConsoleError::BadRequest(format!("{what}: {v:?} is not valid"));
    let parse = |v: &str, what: &str| {
        OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad(what, v))
    };
    let now = OffsetDateTime::now_utc();
    let start = if !from.is_empty() {
        Some(parse(from, "from")?)
    } else {
        match range {
            "" | "all" => None,
            "24h" => Some(now - time::Duration::hours(24)),
            "7d" => Some(now - time::Duration::days(7)),
            "30d" => Some(now - time::Duration::days(30)),
            other => return Err(bad("range", other)),
        }
    };
    let end = if to.is_empty() {
        None
    } else {
        Some(parse(to, "to")?)
    };
    Ok((start, end))
}

/// The tenant a page or form is for: a tenant's user gets their own (asking for another is
/// 404); a provider names one or none.
pub fn tenant_for(scope: &mamori_core::Scope, asked: &str) -> Result<Option<String>, ConsoleError> {
    match scope {
        mamori_core::Scope::Tenant(t) if !asked.is_empty() && asked != t => {
            Err(ConsoleError::NotFound)
        }
        mamori_core::Scope::Tenant(t) => Ok(Some(t.clone())),
        mamori_core::Scope::All => Ok((!asked.is_empty()).then(|| asked.to_string())),
    }
}

/// A phrase used by one page only, in the user's language.
pub fn tr(lang: crate::i18n::Lang, ja: &'static str, en: &'static str) -> &'static str {
    if lang == crate::i18n::Lang::Ja {
        ja
    } else {
        en
    }
}

/// An empty-state line inside a card.
pub fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// A trusted, static SVG or HTML fragment.
pub fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
