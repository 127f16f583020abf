//! # mamori-console
//!
//! The console a small company's admin and its service provider log into, and the JSON API
//! sensors and scripts talk to. Server-rendered HTML (no JavaScript build step), Japanese by
//! default and English on request, over the same [`Store`](mamori_store::Store) every engine
//! writes into through the bus.
//!
//! - [`routes`]: the one table of every page and API route (the tenant-isolation test walks it).
//! - [`auth`]: sessions, tokens, passwords, CSRF, login throttling.
//! - [`pages`]: the HTML pages; [`api`]: `/api/v1`; [`openapi`]: its description.
//! - [`serve`]: HTTP, or HTTPS with rustls when a certificate and key are configured.
//!
//! What it does not do: parse packets, mail or logs (engines do), or decide correlation (the
//! store does, as alerts are written).

pub mod api;
pub mod auth;
pub mod chart;
pub mod evidence;
pub mod helpdesk;
pub mod i18n;
pub mod openapi;
pub mod pages;
pub mod report;
pub mod respond;
pub mod routes;
pub mod scans;
pub mod tls;
pub mod zip;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::bus::Publisher;
use mamori_core::config::Config;
use mamori_store::DynStore;
use std::net::SocketAddr;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub bus: Publisher,
    pub config: Arc<Config>,
    /// True when serving HTTPS: cookies get `Secure`.
    pub secure: bool,
    /// The mail gateway's spool (`DATA/mail-spool`), for the hold/quarantine queue page.
    pub mail_spool: Option<std::path::PathBuf>,
    /// The data directory, where the WAF's exclusions and per-site modes are written.
    pub data_dir: Option<std::path::PathBuf>,
    /// Targeted-mail training (`DATA/drill.db`): its pages, its tracking endpoints under
    /// `/t/…`, and the monthly report's training section.
    pub drill: Option<mamori_drill::Drill>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("store: {0}")]
    Store(#[from] mamori_store::Error),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("the form's CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("login required")]
    LoginRequired(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("console I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::Store(mamori_store::Error::NotFound(_)) | ConsoleError::NotFound => {
                StatusCode::NOT_FOUND
            }
            ConsoleError::Store(mamori_store::Error::Invalid(_))
            | ConsoleError::Store(mamori_store::Error::Conflict(_))
            | ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Forbidden | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ConsoleError::LoginRequired(next) => {
                let target = format!("/login?next={}", pages::url_encode(next));
                return Redirect::to(&target).into_response();
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
        }
        let message = match &self {
            ConsoleError::Store(mamori_store::Error::Invalid(m)) => m.clone(),
            ConsoleError::Store(mamori_store::Error::Conflict(m)) => format!("{m} already exists"),
            ConsoleError::Store(_) | ConsoleError::Internal(_) | ConsoleError::Io(_) => {
                "internal error; the console log has the details".to_string()
            }
            other => other.to_string(),
        };
        (status, pages::error_page(status, &message)).into_response()
    }
}

/// Serves the console until `shutdown` resolves. HTTPS when the config has a certificate.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    let app = routes::router(state.clone());
    let cfg = &state.config.console;
    if !cfg.tls_cert.is_empty() {
        let acceptor = tls::acceptor(cfg.tls_cert.as_ref(), cfg.tls_key.as_ref())?;
        return tls::serve(listener, acceptor, app, shutdown).await;
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
