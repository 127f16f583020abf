//! The connections a serving thread keeps to the upstreams: HTTP/1.1 over TCP, opened when
//! no open one is free and reused for later requests.
//!
//! Each serving thread has its own list, so a request goes upstream over a connection its own
//! thread drives. A connection is back on the list as soon as its response head arrived; it is
//! taken again once hyper says it is ready (its response body read), and dropped from the list
//! once closed. A request that could not be written on a kept connection (the upstream closed
//! it meanwhile: hyper hands the request back) goes over another, or a new one.

use super::ProxyBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::http::uri::Authority;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use std::time::Duration;

/// Most connections a thread keeps (busy or free); past it, a finished one is closed.
const MAX_KEPT: usize = 256;
/// Kept connections tried for one request before opening a new one.
const REUSE_TRIES: usize = 3;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connecting to {authority}: {reason}")]
    Connect { authority: String, reason: String },
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl SendError {
    /// The upstream could not be reached at all (it is then marked down).
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect { .. })
    }
}

struct Kept {
    authority: Authority,
    sender: SendRequest<ProxyBody>,
}

/// One serving thread's upstream connections.
pub struct Conns {
    kept: Mutex<Vec<Kept>>,
    connect_timeout: Duration,
}

impl Conns {
    pub fn new(connect_timeout: Duration) -> Conns {
        Conns {
            kept: Mutex::new(Vec::new()),
            connect_timeout,
        }
    }

    /// Sends `req` (origin-form target, `Host` set) to `authority`.
    pub async fn send(
        &self,
        authority: &Authority,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, SendError> {
        for _ in 0..REUSE_TRIES {
            let Some(mut sender) = self.take(authority) else {
                break;
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    self.keep(authority, sender);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the connection closed meanwhile. Another one.
                    Some(back) => req = back,
                    None => return Err(SendError::Http(e.into_error())),
                },
            }
        }
        let mut sender = self.open(authority).await?;
        let resp = sender.send_request(req).await?;
        self.keep(authority, sender);
        Ok(resp)
    }

    /// A kept connection to `authority` that is ready for a request; closed ones it passes
    /// are dropped.
    fn take(&self, authority: &Authority) -> Option<SendRequest<ProxyBody>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let mut i = kept.len();
        while i > 0 {
            i -= 1;
            let k = &kept[i];
            if k.sender.is_closed() {
                kept.swap_remove(i);
            } else if k.sender.is_ready() && k.authority == *authority {
                return Some(kept.swap_remove(i).sender);
            }
        }
        None
    }

    fn keep(&self, authority: &Authority, sender: SendRequest<ProxyBody>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < MAX_KEPT {
            kept.push(Kept {
                authority: authority.clone(),
                sender,
            });
        }
    }

    /// Opens a connection; hyper drives it on a task of this thread.
    async fn open(&self, authority: &Authority) -> Result<SendRequest<ProxyBody>, SendError> {
        let fail = |reason: String| SendError::Connect {
            authority: authority.to_string(),
            reason,
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect((host, port)),
        )
        .await
        .map_err(|_| fail(format!("no answer within {:?}", self.connect_timeout)))?
        .map_err(|e| fail(e.to_string()))?;
        stream.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}
