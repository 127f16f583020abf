//! The tracking server: every link in a training mail leads here.
//!
//! | path | what it records | answer |
//! | --- | --- | --- |
//! | `GET /t/o/{token}.gif` | open | 1×1 GIF |
//! | `GET\|HEAD /t/c/{token}` | click (HEAD and scanners as bot) | landing form or education page |
//! | `POST /t/s/{token}` | submit (that it happened, nothing typed) | education page |
//! | `GET /t/a/{token}` | attachment opened | 1×1 GIF |
//! | `GET\|POST /t/r/{token}` | report | thank-you page |
//! | `GET /t/e/{token}?lang=ja\|en` | nothing | education page |
//!
//! Unknown tokens get a 404 page. The form body is never read, so what a person typed is
//! neither stored nor logged. Bodies are capped at 16 KiB anyway.

use crate::pages;
use crate::templates::{self, Language};
use crate::{Drill, Kind, Origin, TokenOwner};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// Largest request body the tracking routes accept.
pub const MAX_BODY: usize = 16 * 1024;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

impl Drill {
    /// The tracking routes under `/t/…`, with their own state: `.merge` into any router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/t/o/{file}", get(open))
            .route("/t/c/{token}", get(click))
            .route("/t/s/{token}", axum::routing::post(submit))
            .route("/t/a/{token}", get(attachment))
            .route("/t/r/{token}", get(report).post(report))
            .route("/t/e/{token}", get(education))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self.clone())
    }
}

impl FromRequestParts<Drill> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, drill: &Drill) -> Result<Self, Self::Rejection> {
        let mut ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if drill.settings().trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok());
            ip = forwarded.or(ip);
        }
        Ok(Origin {
            ip,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            method: parts.method.as_str().to_string(),
        })
    }
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

async fn record(
    drill: &Drill,
    token: String,
    kind: Kind,
    origin: Origin,
) -> Result<Option<TokenOwner>, Response> {
    let drill = drill.clone();
    match tokio::task::spawn_blocking(move || drill.record(&token, kind, &origin)).await {
        Ok(Ok(owner)) => Ok(owner),
        Ok(Err(error)) => {
            tracing::warn!(%error, kind = kind.as_str(), "drill event not recorded");
            Err(server_error())
        }
        Err(error) => {
            tracing::warn!(%error, "drill event task failed");
            Err(server_error())
        }
    }
}

async fn open(State(drill): State<Drill>, Path(file): Path<String>, origin: Origin) -> Response {
    let token = file.strip_suffix(".gif").unwrap_or(&file).to_string();
    pixel(record(&drill, token, Kind::Open, origin).await)
}

async fn attachment(
    State(drill): State<Drill>,
    Path(token): Path<String>,
    origin: Origin,
) -> Response {
    pixel(record(&drill, token, Kind::AttachmentOpen, origin).await)
}

fn pixel(owner: Result<Option<TokenOwner>, Response>) -> Response {
    match owner {
        Ok(Some(_)) => with_headers(
            (StatusCode::OK, [(header::CONTENT_TYPE, "image/gif")], PIXEL).into_response(),
        ),
        Ok(None) => not_found(),
        Err(response) => response,
    }
}

async fn click(
    State(drill): State<Drill>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let owner = match record(&drill, token.clone(), Kind::Click, origin).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return not_found(),
        Err(response) => return response,
    };
    let landing = templates::find(&owner.template_id).is_some_and(|t| t.landing);
    let language = language(query.lang.as_deref(), &headers, &owner.template_id);
    if landing {
        return html(StatusCode::OK, pages::landing(language, &token));
    }
    education_page(&drill, &owner, language, &token).await
}

async fn submit(
    State(drill): State<Drill>,
    Path(token): Path<String>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    // The body (what was typed) is deliberately not extracted.
    let owner = match record(&drill, token.clone(), Kind::Submit, origin).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return not_found(),
        Err(response) => return response,
    };
    let language = language(None, &headers, &owner.template_id);
    education_page(&drill, &owner, language, &token).await
}

async fn report(
    State(drill): State<Drill>,
    Path(token): Path<String>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    match record(&drill, token, Kind::Report, origin).await {
        Ok(Some(owner)) => html(
            StatusCode::OK,
            pages::thanks(language(None, &headers, &owner.template_id)),
        ),
        Ok(None) => not_found(),
        Err(response) => response,
    }
}

async fn education(
    State(drill): State<Drill>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lookup = drill.clone();
    let t = token.clone();
    let owner = match tokio::task::spawn_blocking(move || lookup.owner(&t)).await {
        Ok(Ok(Some(owner))) => owner,
        Ok(Ok(None)) => return not_found(),
        _ => return server_error(),
    };
    let language = language(query.lang.as_deref(), &headers, &owner.template_id);
    education_page(&drill, &owner, language, &token).await
}

async fn education_page(
    drill: &Drill,
    owner: &TokenOwner,
    language: Language,
    token: &str,
) -> Response {
    let kind = owner
        .template_id
        .rsplit_once('-')
        .map_or(owner.template_id.as_str(), |(k, _)| k);
    let template = templates::find(&format!("{kind}-{}", language.as_str()))
        .or_else(|| templates::find(&owner.template_id));
    let lookup = drill.clone();
    let tenant = owner.tenant.clone();
    let intro = tokio::task::spawn_blocking(move || lookup.education_intro(&tenant, language))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    let report_address = drill.settings().report_address;
    html(
        StatusCode::OK,
        pages::education(
            language,
            template.as_ref(),
            intro.as_deref(),
            report_address.as_deref(),
            token,
        ),
    )
}

/// `?lang=`, else the browser's first choice if Japanese or English, else the mail's.
fn language(query: Option<&str>, headers: &HeaderMap, template_id: &str) -> Language {
    if let Some(lang) = query.and_then(Language::parse) {
        return lang;
    }
    let browser = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|first| first.trim().to_ascii_lowercase());
    match browser.as_deref() {
        Some(l) if l.starts_with("ja") => Language::Ja,
        Some(l) if l.starts_with("en") => Language::En,
        _ if template_id.ends_with("-en") => Language::En,
        _ => Language::Ja,
    }
}

fn html(status: StatusCode, body: String) -> Response {
    with_headers(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, pages::not_found())
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_prefers_query_then_browser_then_mail() {
        let mut h = HeaderMap::new();
        assert_eq!(language(None, &h, "invoice-en"), Language::En);
        assert_eq!(language(None, &h, "invoice-ja"), Language::Ja);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("ja-JP,ja;q=0.9,en;q=0.8"),
        );
        assert_eq!(language(None, &h, "invoice-en"), Language::Ja);
        assert_eq!(language(Some("en"), &h, "invoice-ja"), Language::En);
    }

    #[test]
    fn pixel_is_a_gif() {
        assert!(PIXEL.starts_with(b"GIF89a") && PIXEL.ends_with(b";"));
    }
}
