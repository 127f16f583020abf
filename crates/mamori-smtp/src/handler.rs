//! What the server asks of the application: the [`Handler`] trait, and the facts about a
//! session ([`SessionInfo`]) and a transaction ([`Envelope`]) it passes along.
//!
//! The server does the protocol; the handler decides. It is called at each point where a
//! gateway has something to say: a new connection, HELO/EHLO, a login, each sender and
//! recipient, and finally the message. Each decision is a [`Reply`]; the server sends it as
//! it is. The handler is where the durable queue plugs in: `data` must store the message
//! (written and fsynced) before it returns a 250, because the client deletes its copy when
//! it sees 250.
//!
//! The trait uses `async-trait`, so it works both as a generic parameter and as
//! `Arc<dyn Handler>` (the server functions take `H: Handler + ?Sized`). All methods except
//! [`Handler::data`] have defaults that accept.
//!
//! Not here: protocol checks (syntax, order, limits) — the server has made them before it
//! calls the handler.

use crate::reply::Reply;
use async_trait::async_trait;
use std::net::SocketAddr;

/// What the server knows about the client at the time of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The argument of the last accepted HELO/EHLO (cleared by STARTTLS, RFC 3207).
    pub helo: Option<String>,
    /// EHLO (rather than HELO) was used.
    pub esmtp: bool,
    /// STARTTLS has completed on this connection.
    pub tls: bool,
    /// The TLS version and cipher suite, for `Received:` headers and logs.
    pub tls_description: Option<String>,
    /// The user name of a successful AUTH.
    pub authenticated: Option<String>,
}

impl SessionInfo {
    /// A session that has just connected: nothing known but the address.
    pub fn new(peer: SocketAddr) -> Self {
        SessionInfo {
            peer,
            helo: None,
            esmtp: false,
            tls: false,
            tls_description: None,
            authenticated: None,
        }
    }
}

/// One mail transaction: the envelope built by MAIL FROM and RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path; `None` for the null sender `<>` of bounces and auto-replies, which
    /// must never be answered with another bounce.
    pub mail_from: Option<String>,
    /// Accepted recipients, in order, as the client wrote them.
    pub rcpt_to: Vec<String>,
    /// `BODY=8BITMIME` was given.
    pub body_8bit: bool,
    /// `SMTPUTF8` was given: addresses and headers may be UTF-8.
    pub smtputf8: bool,
    /// The client's `SIZE=` estimate, if any.
    pub size_hint: Option<u64>,
}

/// The application behind an SMTP listener; see the module documentation.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A new connection, before the greeting. `Err(reply)` sends that reply instead of the
    /// greeting (use a 421 or 554) and closes; for instance for a banned address.
    async fn connect(&self, peer: SocketAddr) -> Result<(), Reply> {
        let _ = peer;
        Ok(())
    }

    /// HELO/EHLO with the name the client gave. `Err(reply)` refuses it; the client may try
    /// again.
    async fn helo(&self, peer: SocketAddr, name: &str) -> Result<(), Reply> {
        let _ = (peer, name);
        Ok(())
    }

    /// AUTH PLAIN or LOGIN: true if the password is right for the user. The session carries
    /// the peer address, so failures can be counted per address (brute force) and per user.
    async fn authenticate(&self, session: &SessionInfo, user: &str, password: &str) -> bool {
        let _ = (session, user, password);
        false
    }

    /// MAIL FROM, after the server's own checks. `from` is `None` for `<>`.
    async fn mail_from(&self, session: &SessionInfo, from: Option<&str>) -> Result<(), Reply> {
        let _ = (session, from);
        Ok(())
    }

    /// RCPT TO, after the server's own checks (including the recipient limit). `envelope`
    /// holds the sender and the recipients accepted so far. This is where an inbound
    /// listener refuses relaying (`Reply::policy_rejection`) and unknown users
    /// (`Reply::no_such_user`).
    async fn rcpt_to(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        to: &str,
    ) -> Result<(), Reply> {
        let _ = (session, envelope, to);
        Ok(())
    }

    /// The complete message, dot-unstuffed and exactly as sent, within the size limit. The
    /// reply is sent to the client as is: 250 only once the message is durably stored, 4xx to
    /// have the client retry, 5xx to refuse for good.
    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply;
}
