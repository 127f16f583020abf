//! Who is asking: console sessions, API tokens, passwords, CSRF and login throttling.
//!
//! - Passwords are argon2id hashes; a wrong password and an unknown account take the same
//!   time and give the same answer.
//! - A session is a random 256-bit cookie value; the store keeps only its SHA-256. The cookie
//!   is `HttpOnly; SameSite=Strict`, and `Secure` when the console serves HTTPS.
//! - Every form carries the session's CSRF token; [`Posted`] refuses a form without it.
//!   The login form, which has no session yet, uses a double-submit cookie.
//! - API clients send `Authorization: Bearer <token>`; tokens belong to one tenant and are
//!   stored hashed. The API also accepts a session cookie, and then wants the CSRF token in
//!   the `X-CSRF-Token` header for changes.

use crate::{AppState, ConsoleError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use mamori_core::{Role, Scope, User};
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub const SESSION_COOKIE: &str = "mamori_session";
pub const LOGIN_CSRF_COOKIE: &str = "mamori_login_csrf";
pub const LANG_COOKIE: &str = "mamori_lang";

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ConsoleError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ConsoleError::Internal(format!("hashing password: {e}")))
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the account does not exist, so that unknown accounts cost
/// the same time as wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-for-timing").unwrap_or_default())
}

/// `bytes` random bytes from the OS generator, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // ThreadRng is a CSPRNG seeded and periodically reseeded from the OS.
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// A new API token: `mmr_` and 64 hex digits. Only its hash is stored.
pub fn new_token() -> String {
    format!("mmr_{}", random_hex(32))
}

/// Compares secrets without leaking where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the console's cookie rules.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A logged-in console user, from the session cookie.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub csrf: String,
    pub session_hash: String,
}

impl SessionUser {
    pub fn scope(&self) -> Scope {
        self.user.scope()
    }

    pub fn can_write(&self) -> bool {
        self.user.role.can_write()
    }

    pub fn is_provider(&self) -> bool {
        self.user.role == Role::ProviderAdmin
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.user.role, Role::ProviderAdmin | Role::TenantAdmin)
    }

    /// Refuses a change by a viewer.
    pub fn require_write(&self) -> Result<(), ConsoleError> {
        if self.can_write() {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

async fn session_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SessionUser>, ConsoleError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = sha256_hex(value);
    let found = state
        .store
        .session(&hash, OffsetDateTime::now_utc())
        .await?;
    Ok(found.map(|(session, user)| SessionUser {
        user,
        csrf: session.csrf,
        session_hash: hash,
    }))
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session_from_headers(state, &parts.headers).await? {
            Some(s) => Ok(s),
            None => Err(ConsoleError::LoginRequired(
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
            )),
        }
    }
}

/// A session user who may be absent (the login page, the language switch).
pub struct MaybeUser(pub Option<SessionUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(
            session_from_headers(state, &parts.headers).await?,
        ))
    }
}

/// A form that carries the session's CSRF token in its `csrf` field.
pub trait CsrfForm {
    fn csrf(&self) -> &str;
}

/// A form posted by a logged-in user with a valid CSRF token.
pub struct Posted<T> {
    pub user: SessionUser,
    pub form: T,
}

impl<T> FromRequest<AppState> for Posted<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = SessionUser::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, 1024 * 1024)
            .await
            .map_err(|_| ConsoleError::BadRequest("the form is too large".into()))?;
        // The token is checked before anything else in the form is looked at.
        let form_of = |bytes: axum::body::Bytes| {
            let mut req = Request::new(axum::body::Body::from(bytes));
            *req.method_mut() = parts.method.clone();
            if let Some(ct) = parts.headers.get(axum::http::header::CONTENT_TYPE) {
                req.headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, ct.clone());
            }
            req
        };
        let axum::Form(token) = axum::Form::<CsrfOnly>::from_request(form_of(bytes.clone()), state)
            .await
            .map_err(|_| ConsoleError::Csrf)?;
        if !same_secret(token.csrf.as_deref().unwrap_or(""), &user.csrf) {
            return Err(ConsoleError::Csrf);
        }
        let axum::Form(form) = axum::Form::<T>::from_request(form_of(bytes), state)
            .await
            .map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        Ok(Posted { user, form })
    }
}

#[derive(serde::Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

/// Who is calling the JSON API.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub scope: Scope,
    /// Recorded in incident timelines: the user's email or `token:NAME`.
    pub actor: String,
    pub can_write: bool,
    /// Set when the caller used a token: the token's tenant.
    pub token_tenant: Option<String>,
    /// Set for cookie sessions: the CSRF token changes must carry.
    pub csrf: Option<String>,
}

impl ApiCaller {
    /// Changes through a cookie session need the CSRF header; tokens do not (they are not
    /// sent by browsers on their own).
    pub fn check_change(&self, headers: &HeaderMap) -> Result<(), ConsoleError> {
        if !self.can_write {
            return Err(ConsoleError::Forbidden);
        }
        if let Some(csrf) = &self.csrf {
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent, csrf) {
                return Err(ConsoleError::Csrf);
            }
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let value = auth.to_str().unwrap_or("");
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or(ConsoleError::Unauthorized(
                    "expected \"Authorization: Bearer <token>\"",
                ))?;
            let found = state.store.token_by_hash(&sha256_hex(token)).await?;
            let token = found.ok_or(ConsoleError::Unauthorized("unknown or revoked token"))?;
            return Ok(ApiCaller {
                scope: Scope::Tenant(token.tenant.clone()),
                actor: format!("token:{}", token.name),
                can_write: true,
                token_tenant: Some(token.tenant),
                csrf: None,
            });
        }
        match session_from_headers(state, &parts.headers).await? {
            Some(s) => Ok(ApiCaller {
                scope: s.scope(),
                actor: s.user.email.clone(),
                can_write: s.can_write(),
                token_tenant: None,
                csrf: Some(s.csrf),
            }),
            None => Err(ConsoleError::Unauthorized("log in or send a Bearer token")),
        }
    }
}

/// Whether a login from this account or address must wait.
pub async fn throttled(state: &AppState, email: &str, ip: &str) -> Result<bool, ConsoleError> {
    let cfg = &state.config.console;
    let since =
        OffsetDateTime::now_utc() - time::Duration::minutes(cfg.login_lockout_minutes as i64);
    let (by_email, by_ip) = state.store.login_failures(email, ip, since).await?;
    let max = cfg.login_max_failures as i64;
    // One address may try a few accounts (an office behind one NAT), but not many.
    Ok(by_email >= max || by_ip >= max * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse!", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; mamori_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(set_cookie("x", "y", 1, true).ends_with("; Secure"));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 68);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
    }
}
