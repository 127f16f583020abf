//! Logging in and out, and the language switch.

use super::{bare, lang_of, safe_next};
use crate::auth::{
    self, cookie, set_cookie, CsrfForm, MaybeUser, Posted, LANG_COOKIE, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
};
use crate::i18n::Lang;
use crate::{AppState, ConsoleError};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use mamori_store::Session;
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;
use time::OffsetDateTime;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(
    lang: Lang,
    csrf: &str,
    next: &str,
    email: &str,
    problem: Option<&str>,
) -> Html<String> {
    let t = lang.text();
    let other = lang.other();
    Html(
        bare(
            lang,
            t.login_title,
            html! {
                div.card.narrow.login {
                    div.brand-big { "守 Mamori" }
                    p.muted { (t.product_tagline) }
                    h1 { (t.login_title) }
                    @if let Some(p) = problem { div.flash.error { (p) } }
                    form.stack method="post" action="/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="next" value=(next);
                        label { (t.email) input type="text" name="email" value=(email) autocomplete="username" required autofocus; }
                        label { (t.password) input type="password" name="password" autocomplete="current-password" required; }
                        button type="submit" { (t.sign_in) }
                    }
                    p.muted { a href={ "/lang/" (other.code()) "?next=/login" } { (other.text().language_name) } }
                }
            },
        )
        .into_string(),
    )
}

/// The login page. It sets a fresh double-submit CSRF cookie for the form.
pub async fn page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    let csrf = auth::random_hex(16);
    let lang = lang_of(&headers, &state);
    (
        [(
            header::SET_COOKIE,
            set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, state.secure),
        )],
        login_form(lang, &csrf, &next, "", None),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let lang = lang_of(&headers, &state);
    let t = lang.text();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    let sent = form.csrf.as_deref().unwrap_or("");
    if expected.is_empty() || !auth::same_secret(sent, expected) {
        return Err(ConsoleError::Csrf);
    }
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_lowercase();
    let ip = peer.ip().to_string();
    let again = |status: StatusCode, problem: &str| {
        (
            status,
            login_form(lang, expected, &next, &email, Some(problem)),
        )
            .into_response()
    };
    if auth::throttled(&state, &email, &ip).await? {
        tracing::warn!(%ip, "login refused: too many failures");
        return Ok(again(StatusCode::TOO_MANY_REQUESTS, t.login_throttled));
    }
    let user = state.store.user_by_email(&email).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or(auth::decoy_hash());
    let password = form.password.clone();
    let hash = hash.to_string();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            state
                .store
                .record_login_failure(&email, &ip, OffsetDateTime::now_utc())
                .await?;
            tracing::info!(%ip, "login failed");
            return Ok(again(StatusCode::UNAUTHORIZED, t.login_failed));
        }
    };
    state.store.clear_login_failures(&email).await?;
    let secret = auth::random_hex(32);
    let hours = state.config.console.session_hours as i64;
    state
        .store
        .create_session(Session {
            id_hash: auth::sha256_hex(&secret),
            user_id: user.id,
            csrf: auth::random_hex(16),
            expires_at: OffsetDateTime::now_utc() + time::Duration::hours(hours),
        })
        .await?;
    tracing::info!(user = %user.email, %ip, "logged in");
    let mut resp = Redirect::to(&next).into_response();
    let headers = resp.headers_mut();
    for c in [
        set_cookie(SESSION_COOKIE, &secret, hours * 3600, state.secure),
        set_cookie(LOGIN_CSRF_COOKIE, "", 0, state.secure),
    ] {
        if let Ok(v) = c.parse() {
            headers.append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

impl CsrfForm for LogoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn logout(
    State(state): State<AppState>,
    Posted { user, .. }: Posted<LogoutForm>,
) -> Result<Response, ConsoleError> {
    state.store.delete_session(&user.session_hash).await?;
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", 0, state.secure),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

/// Switches the language (a preference cookie) and goes back where the user was.
pub async fn switch_language(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, ConsoleError> {
    let lang = Lang::parse(&code).ok_or(ConsoleError::NotFound)?;
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
        lang.code(),
        if state.secure { "; Secure" } else { "" }
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&safe_next(q.next.as_deref())),
    )
        .into_response())
}
