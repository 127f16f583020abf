//! The SMTP listener: configuration, the accept loop, and one connection.
//!
//! [`listen`] accepts connections until its shutdown future completes, runs each in its own
//! task (at most [`ServerConfig::max_connections`] at once; more are told `421` and closed),
//! and on shutdown tells idle sessions `421 4.3.2` while letting a transaction that is
//! already in DATA finish, then returns once every session has ended.
//! [`serve_connection`] runs one already-accepted connection, for callers with their own
//! accept loop (a test, or a listener that passes sockets from systemd).
//!
//! The conversation itself (state machine, STARTTLS, AUTH, DATA) is in `session.rs`;
//! decisions are the [`Handler`]'s.
//!
//! Not here: deciding which mail to accept (the handler), storing it (the queue behind the
//! handler), or loading certificates (the caller builds the `rustls::ServerConfig`).

use crate::handler::Handler;
use crate::reply::Reply;
use crate::session;
use crate::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Settings of one SMTP listener. [`ServerConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name in the greeting and replies (`220 mx.example.jp ESMTP Mamori`).
    pub hostname: String,
    /// The largest message accepted, advertised as `SIZE` (default 25 MiB).
    pub max_message_bytes: u64,
    /// Recipients per transaction; one more gets `452 4.5.3` (default 100, the minimum
    /// RFC 5321 section 4.5.3.1.8 requires a server to accept).
    pub max_recipients: usize,
    /// Longest line inside a message in octets, counting CRLF (default 4096; RFC 5322 allows
    /// 998 + CRLF, and tolerance beyond that keeps mail from sloppy senders). Longer lines get
    /// `500 5.5.6` after the message. The message is never held line by line, so this is a
    /// policy, not a memory bound.
    pub max_line: usize,
    /// Longest command line in octets, counting CRLF (default 2048; RFC 5321 requires 512,
    /// and tolerance beyond it helps clients with long AUTH responses). Longer lines are read
    /// to their end, dropped, and answered `500 5.5.6`.
    pub max_command_line: usize,
    /// Total time a connection may last; then `421 4.4.2` and close (default 30 minutes).
    pub session_timeout: Duration,
    /// Time to wait for each command or each piece of a message (default 5 minutes, RFC 5321
    /// section 4.5.3.2.7); then `421 4.4.2` and close. Also bounds the TLS handshake.
    pub command_timeout: Duration,
    /// Certificate and key for STARTTLS; `None` means STARTTLS is not offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// AUTH only after STARTTLS: not advertised before, answered `538 5.7.11` if tried
    /// (default true; passwords never cross the network in clear).
    pub require_tls_for_auth: bool,
    /// MAIL FROM only after a successful AUTH (`530 5.7.0` otherwise): a submission listener
    /// for staff (default false).
    pub auth_required: bool,
    /// Offer AUTH PLAIN and LOGIN in EHLO and accept the AUTH command (default false).
    pub advertise_auth: bool,
    /// Failed AUTH attempts per connection before `421 4.7.0` and close (default 3).
    pub max_auth_failures: u32,
    /// Refused commands (syntax, order, too long) per connection before `421 4.7.0` and
    /// close (default 20), so a client that speaks something else is not kept around.
    pub max_errors: u32,
    /// Concurrent connections in [`listen`] (default 256); more are told `421 4.7.0`.
    pub max_connections: usize,
}

impl ServerConfig {
    /// The defaults, with the name this server gives itself.
    pub fn new(hostname: impl Into<String>) -> Self {
        ServerConfig {
            hostname: hostname.into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line: 4096,
            max_command_line: 2048,
            session_timeout: Duration::from_secs(30 * 60),
            command_timeout: Duration::from_secs(5 * 60),
            tls: None,
            require_tls_for_auth: true,
            auth_required: false,
            advertise_auth: false,
            max_auth_failures: 3,
            max_errors: 20,
            max_connections: 256,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new("localhost")
    }
}

/// Runs one SMTP conversation on an accepted connection until QUIT, a timeout, or the peer
/// closing. Protocol problems are answered on the connection and end in `Ok`; `Err` is for
/// the connection itself failing (I/O error, TLS handshake).
pub async fn serve_connection<H: Handler + ?Sized>(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> Result<(), Error> {
    session::run(stream, peer, &config, &*handler, None)
        .instrument(tracing::info_span!("smtp", %peer))
        .await
}

/// Accepts connections on `listener` until `shutdown` completes, then ends the sessions as
/// described in the module documentation and returns.
pub async fn listen<H: Handler + ?Sized>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Usually out of file descriptors; pausing lets sessions finish.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let config = Arc::clone(&config);
                match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        let handler = Arc::clone(&handler);
                        let stopped = stopped.clone();
                        sessions.spawn(
                            async move {
                                let _slot = slot;
                                let result =
                                    session::run(tcp, peer, &config, &*handler, Some(stopped)).await;
                                if let Err(error) = result {
                                    tracing::info!(%error, "session ended with an error");
                                }
                            }
                            .instrument(tracing::info_span!("smtp", %peer)),
                        );
                    }
                    Err(_) => {
                        tracing::warn!(%peer, limit = config.max_connections, "connection refused: too many connections");
                        sessions.spawn(refuse_busy(tcp, config));
                    }
                }
            }
            Some(finished) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(e) = finished {
                    tracing::error!(error = %e, "SMTP session task failed");
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while let Some(finished) = sessions.join_next().await {
        if let Err(e) = finished {
            tracing::error!(error = %e, "SMTP session task failed");
        }
    }
}

/// Tells a connection over the limit to come back later.
async fn refuse_busy(mut tcp: TcpStream, config: Arc<ServerConfig>) {
    let reply = Reply::too_many(&config.hostname, "connections").to_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = tcp.write_all(&reply).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}
