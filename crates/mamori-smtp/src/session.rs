//! One server-side SMTP conversation: the state machine of RFC 5321 with the extensions the
//! server offers (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, AUTH).
//!
//! Input comes from a client on the network and is untrusted: every line is bounded, every
//! wait has a timeout, and every way of misbehaving (commands out of order, oversized lines
//! or messages, too many recipients, errors or failed logins) has its reply and, where it
//! repeats, an end.
//!
//! The states are implicit in two fields: `info.helo` (greeted or not) and `envelope`
//! (inside a mail transaction or not). Order rules: MAIL needs HELO/EHLO and no open
//! transaction, RCPT needs MAIL, DATA needs a recipient, AUTH needs EHLO and no transaction
//! (503 otherwise). EHLO, HELO, RSET and STARTTLS end a transaction; STARTTLS also forgets
//! the greeting and the login (RFC 3207 section 4.2).
//!
//! Replies are queued and go out when the client has sent everything it had (see
//! `transport.rs`), which is what PIPELINING needs.
//!
//! Not here: parsing (`command.rs`), dot-unstuffing (`data.rs`), decisions (the
//! [`Handler`]).

use crate::auth;
use crate::command::{Body, Command, MailParams, Mechanism, ParseContext};
use crate::data::DataDecoder;
use crate::handler::{Envelope, Handler, SessionInfo};
use crate::reply::Reply;
use crate::server::ServerConfig;
use crate::transport::{LineRead, Transport};
use crate::Error;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

/// RFC 4954 section 4: AUTH responses may be up to 12288 octets.
const MAX_AUTH_LINE: usize = 12288;

/// Runs a session; see [`crate::serve_connection`].
pub(crate) async fn run<H: Handler + ?Sized>(
    tcp: TcpStream,
    peer: SocketAddr,
    config: &ServerConfig,
    handler: &H,
    shutdown: Option<watch::Receiver<bool>>,
) -> Result<(), Error> {
    let session = Session {
        config,
        handler,
        transport: Transport::new(tcp),
        info: SessionInfo::new(peer),
        envelope: None,
        deadline: Instant::now() + config.session_timeout,
        shutdown,
        acceptor: config
            .tls
            .as_ref()
            .map(|tls| tokio_rustls::TlsAcceptor::from(tls.clone())),
        line: Vec::new(),
        errors: 0,
        auth_failures: 0,
    };
    session.run().await
}

/// Whether the conversation goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

/// What reading the next line gave.
enum Input {
    /// A line is in `Session::line`.
    Line,
    /// The line was over the limit and has been dropped.
    TooLong,
    /// The session is over: the client left, or it timed out or the server is shutting
    /// down and the 421 is queued.
    End,
}

/// The outcome of one SASL challenge.
enum Step {
    Response(String),
    /// The exchange failed with this reply; the session goes on.
    Abort(Reply),
    End,
}

struct Session<'a, H: ?Sized> {
    config: &'a ServerConfig,
    handler: &'a H,
    transport: Transport,
    info: SessionInfo,
    envelope: Option<Envelope>,
    deadline: Instant,
    shutdown: Option<watch::Receiver<bool>>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    line: Vec<u8>,
    errors: u32,
    auth_failures: u32,
}

impl<H: Handler + ?Sized> Session<'_, H> {
    async fn run(mut self) -> Result<(), Error> {
        let peer = self.info.peer;
        tracing::debug!("connected");
        if let Err(reply) = self.handler.connect(peer).await {
            tracing::info!(code = reply.code, "connection refused by handler");
            self.reply(reply);
            self.close().await;
            return Ok(());
        }
        self.reply(Reply::greeting(&self.config.hostname));
        let result = self.converse().await;
        self.close().await;
        tracing::debug!("disconnected");
        result
    }

    async fn converse(&mut self) -> Result<(), Error> {
        loop {
            let max = self.config.max_command_line.saturating_sub(2);
            let next = match self.read_input(max).await? {
                Input::Line => self.command().await?,
                Input::TooLong => self.error(Reply::line_too_long()),
                Input::End => Next::Close,
            };
            if next == Next::Close {
                return Ok(());
            }
        }
    }

    fn reply(&mut self, reply: Reply) {
        self.transport.queue_reply(&reply);
    }

    /// Answers a refused command, and ends a session that keeps sending them.
    fn error(&mut self, reply: Reply) -> Next {
        self.reply(reply);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            tracing::info!(errors = self.errors, "closing: too many errors");
            self.reply(Reply::too_many(&self.config.hostname, "errors"));
            return Next::Close;
        }
        Next::Continue
    }

    /// Sends what is queued and closes, without waiting long for a client that is gone.
    async fn close(&mut self) {
        let limit = self
            .config
            .command_timeout
            .min(std::time::Duration::from_secs(30));
        let _ = tokio::time::timeout(limit, self.transport.shutdown()).await;
    }

    fn io_error(&self, during: &str, source: std::io::Error) -> Error {
        Error::Io {
            peer: self.info.peer.to_string(),
            during: during.to_string(),
            source,
        }
    }

    /// Queues the 421 for a wait that ran out: the session's own limit, or the client's
    /// silence (`waiting`).
    fn time_out(&mut self, waiting: &'static str) {
        let why = if Instant::now() >= self.deadline {
            "session time limit exceeded"
        } else {
            waiting
        };
        tracing::info!(reason = why, "closing on timeout");
        self.reply(Reply::timeout(&self.config.hostname, why));
    }

    /// Reads the next line (at most `max` octets without CRLF) within the command timeout
    /// and the session deadline, and gives up early when the server shuts down.
    async fn read_input(&mut self, max: usize) -> Result<Input, Error> {
        let now = Instant::now();
        let limit = (now + self.config.command_timeout).min(self.deadline);
        let read = timeout_at(limit, self.transport.read_line(&mut self.line, max));
        let result = match &mut self.shutdown {
            Some(stopped) => tokio::select! {
                biased;
                result = read => Some(result),
                _ = shutting_down(stopped) => None,
            },
            None => Some(read.await),
        };
        match result {
            Some(Ok(Ok(LineRead::Line))) => Ok(Input::Line),
            Some(Ok(Ok(LineRead::TooLong))) => Ok(Input::TooLong),
            Some(Ok(Ok(LineRead::Eof))) => {
                tracing::debug!("client closed the connection");
                Ok(Input::End)
            }
            Some(Ok(Err(e))) => Err(self.io_error("reading a command", e)),
            Some(Err(_elapsed)) => {
                self.time_out("timeout waiting for a command");
                Ok(Input::End)
            }
            None => {
                self.reply(Reply::shutting_down(&self.config.hostname));
                Ok(Input::End)
            }
        }
    }

    async fn command(&mut self) -> Result<Next, Error> {
        let context = ParseContext {
            max_line: self.config.max_command_line,
            smtputf8: self.envelope.as_ref().is_some_and(|e| e.smtputf8),
        };
        let command = match Command::parse(&self.line, &context) {
            Ok(command) => command,
            Err(e) => {
                tracing::debug!(error = %e, "command refused");
                return Ok(self.error(e.reply()));
            }
        };
        // Log the verb only: AUTH lines carry credentials, addresses are logged on success.
        tracing::trace!(command = verb(&command), "command");
        Ok(match command {
            Command::Ehlo { domain } => self.helo(domain, true).await,
            Command::Helo { domain } => self.helo(domain, false).await,
            Command::Mail { from, params } => self.mail(from, params).await,
            Command::Rcpt { to } => self.rcpt(to).await,
            Command::Data => return self.data().await,
            Command::Rset => {
                self.envelope = None;
                self.reply(Reply::ok());
                Next::Continue
            }
            Command::Noop => {
                self.reply(Reply::ok());
                Next::Continue
            }
            Command::Vrfy { .. } => {
                self.reply(Reply::cannot_verify());
                Next::Continue
            }
            Command::Help { .. } => {
                self.reply(Reply::help());
                Next::Continue
            }
            Command::Quit => {
                self.reply(Reply::closing(&self.config.hostname));
                Next::Close
            }
            Command::StartTls => return self.starttls().await,
            Command::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response).await,
        })
    }

    async fn helo(&mut self, domain: String, esmtp: bool) -> Next {
        if let Err(reply) = self.handler.helo(self.info.peer, &domain).await {
            self.reply(reply);
            return Next::Continue;
        }
        // RFC 5321 section 4.1.4: a new greeting ends any transaction, like RSET.
        self.envelope = None;
        let first = format!(
            "{} Hello {} [{}]",
            self.config.hostname,
            domain,
            self.info.peer.ip()
        );
        let reply = if esmtp {
            let mut lines = vec![
                first,
                "PIPELINING".to_string(),
                format!("SIZE {}", self.config.max_message_bytes),
                "8BITMIME".to_string(),
                "SMTPUTF8".to_string(),
                "ENHANCEDSTATUSCODES".to_string(),
            ];
            if self.acceptor.is_some() && !self.info.tls {
                lines.push("STARTTLS".to_string());
            }
            if self.auth_offered() {
                lines.push("AUTH PLAIN LOGIN".to_string());
            }
            Reply::with_lines(250, None, lines)
        } else {
            Reply::new(250, None, first)
        };
        self.info.helo = Some(domain);
        self.info.esmtp = esmtp;
        self.reply(reply);
        Next::Continue
    }

    fn auth_offered(&self) -> bool {
        self.config.advertise_auth && (self.info.tls || !self.config.require_tls_for_auth)
    }

    async fn mail(&mut self, from: Option<String>, params: MailParams) -> Next {
        if self.info.helo.is_none() {
            return self.error(Reply::bad_sequence("Send HELO or EHLO first"));
        }
        if self.envelope.is_some() {
            return self.error(Reply::bad_sequence("Sender already specified"));
        }
        if self.config.auth_required && self.info.authenticated.is_none() {
            return self.error(Reply::auth_required());
        }
        if !self.info.esmtp && params != MailParams::default() {
            return self.error(Reply::new(
                555,
                Some((5, 5, 4)),
                "MAIL parameters need EHLO",
            ));
        }
        if let Some(size) = params.size {
            if size > self.config.max_message_bytes {
                self.reply(Reply::message_too_big(self.config.max_message_bytes));
                return Next::Continue;
            }
        }
        if let Err(reply) = self.handler.mail_from(&self.info, from.as_deref()).await {
            self.reply(reply);
            return Next::Continue;
        }
        self.envelope = Some(Envelope {
            mail_from: from,
            rcpt_to: Vec::new(),
            body_8bit: params.body == Some(Body::EightBitMime),
            smtputf8: params.smtputf8,
            size_hint: params.size,
        });
        self.reply(Reply::sender_ok());
        Next::Continue
    }

    async fn rcpt(&mut self, to: String) -> Next {
        let Some(envelope) = &self.envelope else {
            return self.error(Reply::bad_sequence("Need MAIL command first"));
        };
        if envelope.rcpt_to.len() >= self.config.max_recipients {
            self.reply(Reply::too_many_recipients());
            return Next::Continue;
        }
        match self.handler.rcpt_to(&self.info, envelope, &to).await {
            Ok(()) => {
                if let Some(envelope) = &mut self.envelope {
                    envelope.rcpt_to.push(to);
                }
                self.reply(Reply::recipient_ok());
            }
            Err(reply) => self.reply(reply),
        }
        Next::Continue
    }

    async fn data(&mut self) -> Result<Next, Error> {
        let Some(envelope) = &self.envelope else {
            return Ok(self.error(Reply::bad_sequence("Need MAIL command first")));
        };
        if envelope.rcpt_to.is_empty() {
            return Ok(self.error(Reply::no_valid_recipients()));
        }
        self.reply(Reply::start_data());
        let mut decoder = DataDecoder::new(self.config.max_line, self.config.max_message_bytes);
        loop {
            let used = decoder.feed(self.transport.buffered());
            self.transport.consume(used);
            if decoder.is_done() {
                break;
            }
            // A transaction in DATA is not cut short by a shutdown; only by time.
            let limit = (Instant::now() + self.config.command_timeout).min(self.deadline);
            match timeout_at(limit, self.transport.fill()).await {
                Ok(Ok(0)) => {
                    tracing::info!("client closed the connection during DATA");
                    return Ok(Next::Close);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.io_error("reading DATA", e)),
                Err(_elapsed) => {
                    self.time_out("timeout waiting for message data");
                    return Ok(Next::Close);
                }
            }
        }
        let Some(envelope) = self.envelope.take() else {
            return Ok(Next::Close);
        };
        let received = decoder.finish();
        let reply = if received.too_big {
            tracing::info!(size = received.size, "message refused: too big");
            Reply::message_too_big(self.config.max_message_bytes)
        } else if received.line_too_long {
            tracing::info!(size = received.size, "message refused: line too long");
            Reply::line_too_long()
        } else {
            let reply = self
                .handler
                .data(&self.info, &envelope, received.message)
                .await;
            tracing::info!(
                from = envelope.mail_from.as_deref().unwrap_or(""),
                recipients = envelope.rcpt_to.len(),
                size = received.size,
                code = reply.code,
                "message received"
            );
            reply
        };
        self.reply(reply);
        Ok(Next::Continue)
    }

    async fn starttls(&mut self) -> Result<Next, Error> {
        let Some(acceptor) = self.acceptor.clone() else {
            return Ok(self.error(Reply::not_implemented("STARTTLS not available")));
        };
        if self.info.tls {
            return Ok(self.error(Reply::bad_sequence("TLS already active")));
        }
        self.reply(Reply::ready_for_tls());
        let handshake = tokio::time::timeout(
            self.config.command_timeout,
            self.transport.accept_tls(&acceptor),
        )
        .await;
        match handshake {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(Error::Tls {
                    peer: self.info.peer.to_string(),
                    source,
                })
            }
            Err(_elapsed) => {
                return Err(Error::Timeout {
                    peer: self.info.peer.to_string(),
                    during: "TLS handshake".to_string(),
                })
            }
        }
        // RFC 3207 section 4.2: forget everything learnt before TLS; the client starts over
        // with EHLO (no new greeting is sent).
        let mut info = SessionInfo::new(self.info.peer);
        info.tls = true;
        info.tls_description = self.transport.tls_description();
        tracing::debug!(
            tls = info.tls_description.as_deref().unwrap_or(""),
            "TLS established"
        );
        self.info = info;
        self.envelope = None;
        Ok(Next::Continue)
    }

    async fn auth(
        &mut self,
        mechanism: Mechanism,
        initial_response: Option<String>,
    ) -> Result<Next, Error> {
        if !self.config.advertise_auth {
            return Ok(self.error(Reply::not_implemented("AUTH not available")));
        }
        if !self.info.esmtp {
            return Ok(self.error(Reply::bad_sequence("Send EHLO first")));
        }
        if self.config.require_tls_for_auth && !self.info.tls {
            return Ok(self.error(Reply::encryption_required()));
        }
        if self.info.authenticated.is_some() {
            return Ok(self.error(Reply::bad_sequence("Already authenticated")));
        }
        if self.envelope.is_some() {
            return Ok(self.error(Reply::bad_sequence(
                "AUTH not allowed during a mail transaction",
            )));
        }
        let credentials = match mechanism {
            Mechanism::Plain => {
                let response = match initial_response {
                    Some(response) => response,
                    None => match self.challenge("").await? {
                        Step::Response(response) => response,
                        Step::Abort(reply) => return Ok(self.error(reply)),
                        Step::End => return Ok(Next::Close),
                    },
                };
                match auth::decode_plain(&response) {
                    Ok(credentials) => credentials,
                    Err(_) => return Ok(self.error(Reply::auth_malformed())),
                }
            }
            Mechanism::Login => {
                let user = match initial_response {
                    Some(response) => response,
                    None => match self.challenge(&auth::encode_text("Username:")).await? {
                        Step::Response(response) => response,
                        Step::Abort(reply) => return Ok(self.error(reply)),
                        Step::End => return Ok(Next::Close),
                    },
                };
                let user = match auth::decode_text(&user) {
                    Ok(user) if !user.is_empty() => user,
                    _ => return Ok(self.error(Reply::auth_malformed())),
                };
                let password = match self.challenge(&auth::encode_text("Password:")).await? {
                    Step::Response(response) => response,
                    Step::Abort(reply) => return Ok(self.error(reply)),
                    Step::End => return Ok(Next::Close),
                };
                match auth::decode_text(&password) {
                    Ok(password) => auth::Credentials { user, password },
                    Err(_) => return Ok(self.error(Reply::auth_malformed())),
                }
            }
        };
        let accepted = self
            .handler
            .authenticate(&self.info, &credentials.user, &credentials.password)
            .await;
        if accepted {
            tracing::info!(user = %credentials.user, %mechanism, "authenticated");
            self.info.authenticated = Some(credentials.user);
            self.reply(Reply::auth_succeeded());
            return Ok(Next::Continue);
        }
        self.auth_failures += 1;
        tracing::warn!(
            user = %credentials.user,
            %mechanism,
            failures = self.auth_failures,
            "authentication failed"
        );
        self.reply(Reply::auth_failed());
        if self.auth_failures >= self.config.max_auth_failures {
            self.reply(Reply::too_many(&self.config.hostname, "failed logins"));
            return Ok(Next::Close);
        }
        Ok(Next::Continue)
    }

    /// Sends a `334` challenge and reads the client's response line.
    async fn challenge(&mut self, challenge: &str) -> Result<Step, Error> {
        self.reply(Reply::auth_challenge(challenge));
        Ok(match self.read_input(MAX_AUTH_LINE).await? {
            Input::Line if self.line == b"*" => Step::Abort(Reply::auth_cancelled()),
            Input::Line => match String::from_utf8(std::mem::take(&mut self.line)) {
                Ok(response) => Step::Response(response),
                Err(_) => Step::Abort(Reply::auth_malformed()),
            },
            Input::TooLong => Step::Abort(Reply::line_too_long()),
            Input::End => Step::End,
        })
    }
}

/// Completes once the listener asks sessions to stop; never if it went away without asking.
async fn shutting_down(stopped: &mut watch::Receiver<bool>) {
    if stopped.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn verb(command: &Command) -> &'static str {
    match command {
        Command::Helo { .. } => "HELO",
        Command::Ehlo { .. } => "EHLO",
        Command::Mail { .. } => "MAIL",
        Command::Rcpt { .. } => "RCPT",
        Command::Data => "DATA",
        Command::Rset => "RSET",
        Command::Noop => "NOOP",
        Command::Quit => "QUIT",
        Command::Vrfy { .. } => "VRFY",
        Command::Help { .. } => "HELP",
        Command::StartTls => "STARTTLS",
        Command::Auth { .. } => "AUTH",
    }
}
