//! SMTP for Mamori's mail gateway: a command parser, replies, a server, and a delivery
//! client, written for this project.
//!
//! The gateway sits between the internet and a company's mail server (inbound), and between
//! staff and the internet or a smarthost (outbound). This crate is the protocol part of
//! that path, and nothing else:
//!
//! - [`command`]: a pure, fuzzed parser of one command line ([`Command::parse`]);
//! - [`reply`]: [`Reply`] with RFC 2034 enhanced status codes, multi-line formatting, the
//!   standard replies, and a [`ReplyParser`] for the client;
//! - [`data`]: dot-stuffing and the end of DATA, streaming and bounded;
//! - [`server`]: [`listen`] and [`serve_connection`] — ESMTP with PIPELINING, SIZE,
//!   8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS (rustls) and AUTH PLAIN/LOGIN, with
//!   limits on lines, recipients, message size, errors, logins and session time;
//! - [`handler`]: the [`Handler`] trait through which the application (the queue and the
//!   checks in `mamori-mail`) accepts or refuses connections, logins, senders, recipients
//!   and messages;
//! - [`client`]: [`Client`], which delivers a message to a next hop with opportunistic or
//!   required STARTTLS and optional AUTH, and reports per recipient.
//!
//! Input comes from the network: SMTP clients connecting to the server, and next-hop
//! servers answering the client. Both are untrusted; every read is bounded and timed.
//!
//! Not here: message content (MIME, analysis), the durable spool and retries, MX lookups,
//! DSN generation, and configuration files. Those live in `mamori-mail` and the binary.
//!
//! ```no_run
//! use mamori_smtp::{listen, Envelope, Handler, Reply, ServerConfig, SessionInfo};
//! use std::sync::Arc;
//!
//! struct Sink;
//!
//! #[mamori_smtp::async_trait]
//! impl Handler for Sink {
//!     async fn data(&self, _: &SessionInfo, _: &Envelope, message: Vec<u8>) -> Reply {
//!         // Store durably (write + fsync) before answering 250.
//!         let _ = message;
//!         Reply::queued("1")
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;
//! let config = Arc::new(ServerConfig::new("mx.example.jp"));
//! listen(listener, config, Arc::new(Sink), std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

mod auth;
pub mod client;
pub mod command;
pub mod data;
pub mod handler;
pub mod reply;
pub mod server;
mod session;
pub mod tls;
mod transport;

pub use async_trait::async_trait;
pub use client::{
    Client, ClientConfig, ClientSession, Credentials, Delivery, Extensions, RecipientResult,
    RecipientStatus, StartTls,
};
pub use command::{Command, CommandError, MailParams, Mechanism, ParseContext};
pub use handler::{Envelope, Handler, SessionInfo};
pub use reply::{Reply, ReplyParser};
pub use server::{listen, serve_connection, ServerConfig};
pub use tls::CertificateCheck;

/// What went wrong with a connection, naming the peer and the command or stage.
///
/// The server returns these only when the connection itself fails; a client's protocol
/// errors are answered with replies. The client returns them for failures that concern the
/// whole connection; per-recipient outcomes are in [`Delivery`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing failed.
    #[error("{peer}: I/O error {during}: {source}")]
    Io {
        peer: String,
        during: String,
        #[source]
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("{peer}: timed out {during}")]
    Timeout { peer: String, during: String },
    /// The peer closed the connection.
    #[error("{peer}: connection closed while waiting for the reply to {during}")]
    Closed { peer: String, during: String },
    /// The TLS handshake after STARTTLS failed (certificate, protocol, or I/O).
    #[error("{peer}: TLS handshake failed: {source}")]
    Tls {
        peer: String,
        #[source]
        source: std::io::Error,
    },
    /// The next hop refused a step that concerns the whole session (greeting, EHLO,
    /// STARTTLS, AUTH, RSET).
    #[error("{peer}: {during} refused: {reply}")]
    Refused {
        peer: String,
        during: String,
        reply: Reply,
    },
    /// The next hop sent something that is not an SMTP reply.
    #[error("{peer}: malformed reply to {during}: {line:?}")]
    MalformedReply {
        peer: String,
        during: String,
        line: String,
    },
    /// STARTTLS is required but the next hop does not offer it.
    #[error("{peer}: STARTTLS required but not offered")]
    TlsUnavailable { peer: String },
    /// Credentials are configured but the next hop offers no AUTH PLAIN.
    #[error("{peer}: credentials configured but AUTH PLAIN not offered")]
    AuthUnavailable { peer: String },
    /// Credentials would have crossed the network unencrypted.
    #[error("{peer}: refusing to send credentials without TLS")]
    AuthWithoutTls { peer: String },
    /// The host name cannot be used for TLS.
    #[error("invalid TLS server name {name:?}")]
    ServerName { name: String },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
}

impl Error {
    /// The next hop's reply, when the error is a refusal.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::Refused { reply, .. } => Some(reply),
            _ => None,
        }
    }
}
