//! The delivery client: hands a message to the next hop (an MX host or a smarthost) and
//! says, per recipient, whether it was accepted, failed for now (retry) or failed for good
//! (bounce).
//!
//! A [`Client`] holds the settings and the TLS configuration, built once. Each
//! [`Client::connect`] opens a [`ClientSession`]: TCP connect (with a timeout), greeting,
//! EHLO (HELO if the server does not know EHLO), STARTTLS when offered and wanted, EHLO again,
//! and AUTH PLAIN when credentials are configured. [`ClientSession::send`] then runs one
//! transaction, pipelined when the server offers PIPELINING, and can be called again for
//! more messages on the same connection; [`Client::deliver`] does connect, send and quit in
//! one call.
//!
//! The result of a transaction is a [`Delivery`]: one [`RecipientResult`] per recipient with
//! the server's reply, so a queue retries the `TemporaryFailure`s and bounces the
//! `PermanentFailure`s. Failures that concern the whole connection (no route, timeout, TLS
//! required but not offered, greeting refused) are an [`Error`] instead; the queue treats
//! them as temporary for every recipient, and should try the next MX.
//!
//! What the client adds on its own: `SIZE=` when offered (and a local 552 when the message
//! is over the next hop's announced limit), `BODY=8BITMIME` for 8-bit messages when
//! offered, `SMTPUTF8` for UTF-8 addresses or UTF-8 headers (and a local 553 5.6.7 when the
//! next hop lacks it, RFC 6531 section 3.2). 8-bit messages go to servers without 8BITMIME as they are,
//! as most MTAs do; converting to quoted-printable would break DKIM signatures.
//!
//! Not here: MX lookup, retry schedules and bounces (the queue), and connection reuse
//! policy.

use crate::auth;
use crate::command::{Body, Command, MailParams, Mechanism};
use crate::data;
use crate::handler::Envelope;
use crate::reply::{Reply, ReplyParser};
use crate::tls::{self, CertificateCheck};
use crate::transport::{LineRead, Transport};
use crate::Error;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// Longest reply line accepted from a server (RFC 5321 allows 512; be tolerant).
const MAX_REPLY_LINE: usize = 4096;

/// When the client uses STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// Never, even when offered.
    Never,
    /// When the server offers it; otherwise continue unencrypted.
    Opportunistic,
    /// Always; a server that does not offer it, or refuses it, is an error.
    Required,
}

/// A user name and password for AUTH PLAIN at a smarthost.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Settings of the delivery client. [`ClientConfig::new`] gives opportunistic STARTTLS
/// accepting any certificate, which is how MX delivery works today.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name sent in EHLO/HELO: this gateway's public host name.
    pub helo_name: String,
    /// When to use STARTTLS.
    pub starttls: StartTls,
    /// Which certificates to accept after STARTTLS.
    pub certificates: CertificateCheck,
    /// Log in with AUTH PLAIN after STARTTLS (smarthosts).
    pub credentials: Option<Credentials>,
    /// Also send credentials over an unencrypted connection (default false: an error
    /// instead).
    pub auth_without_tls: bool,
    /// Pipeline MAIL, RCPT and DATA when the server offers PIPELINING (default true).
    pub pipelining: bool,
    /// TCP connect timeout (default 30 s).
    pub connect_timeout: Duration,
    /// Timeout for each reply (default 5 minutes, RFC 5321 section 4.5.3.2).
    pub command_timeout: Duration,
    /// Timeout for sending the message and its final reply (default 10 minutes, RFC 5321
    /// section 4.5.3.2.6).
    pub data_timeout: Duration,
}

impl ClientConfig {
    /// The defaults, with the name to send in EHLO.
    pub fn new(helo_name: impl Into<String>) -> Self {
        ClientConfig {
            helo_name: helo_name.into(),
            starttls: StartTls::Opportunistic,
            certificates: CertificateCheck::AcceptAny,
            credentials: None,
            auth_without_tls: false,
            pipelining: true,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(5 * 60),
            data_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// The extensions a server announced in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The server answered EHLO (false after a fallback to HELO).
    pub esmtp: bool,
    pub pipelining: bool,
    /// `SIZE n`; `Some(0)` means offered without a fixed limit.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    pub enhanced_status_codes: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
}

impl Extensions {
    fn from_ehlo(reply: &Reply) -> Self {
        let mut extensions = Extensions {
            esmtp: true,
            ..Extensions::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => extensions.pipelining = true,
                "8BITMIME" => extensions.eight_bit_mime = true,
                "SMTPUTF8" => extensions.smtputf8 = true,
                "STARTTLS" => extensions.starttls = true,
                "ENHANCEDSTATUSCODES" => extensions.enhanced_status_codes = true,
                "SIZE" => {
                    extensions.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0))
                }
                _ => {
                    // `AUTH PLAIN LOGIN`, or the old `AUTH=PLAIN LOGIN` form.
                    let first = if keyword == "AUTH" {
                        None
                    } else if let Some(first) = keyword.strip_prefix("AUTH=") {
                        Some(first.to_string())
                    } else {
                        continue;
                    };
                    for mechanism in first
                        .into_iter()
                        .chain(words.map(|w| w.to_ascii_uppercase()))
                    {
                        if !extensions.auth.contains(&mechanism) {
                            extensions.auth.push(mechanism);
                        }
                    }
                }
            }
        }
        extensions
    }
}

/// How one recipient fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientStatus {
    /// The next hop took responsibility for the message (final 2xx).
    Accepted,
    /// 4xx, or no final answer: try again later.
    TemporaryFailure,
    /// 5xx: do not retry; bounce.
    PermanentFailure,
}

impl RecipientStatus {
    fn of(reply: &Reply) -> Self {
        if reply.is_positive() {
            RecipientStatus::Accepted
        } else if reply.is_permanent() {
            RecipientStatus::PermanentFailure
        } else {
            RecipientStatus::TemporaryFailure
        }
    }
}

/// One recipient's result and the reply it is based on (the RCPT reply if that refused,
/// else the MAIL or final DATA reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub address: String,
    pub status: RecipientStatus,
    pub reply: Reply,
}

/// The outcome of one transaction, recipient by recipient, in envelope order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub recipients: Vec<RecipientResult>,
}

impl Delivery {
    /// Every recipient was accepted.
    pub fn all_accepted(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Accepted)
    }

    /// The recipients with a given status.
    pub fn with_status(&self, status: RecipientStatus) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(move |r| r.status == status)
    }

    fn all(envelope: &Envelope, reply: &Reply) -> Self {
        Delivery {
            recipients: envelope
                .rcpt_to
                .iter()
                .map(|address| RecipientResult {
                    address: address.clone(),
                    status: RecipientStatus::of(reply),
                    reply: reply.clone(),
                })
                .collect(),
        }
    }
}

/// The header section of a message: everything before the first empty line.
fn header_section(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| message.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(message.len());
    &message[..end]
}

/// The delivery client; see the module documentation.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    connector: Option<tokio_rustls::TlsConnector>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client, including its TLS configuration.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let connector = match config.starttls {
            StartTls::Never => None,
            StartTls::Opportunistic | StartTls::Required => Some(tokio_rustls::TlsConnector::from(
                tls::client_config(&config.certificates)?,
            )),
        };
        Ok(Client {
            config: Arc::new(config),
            connector,
        })
    }

    /// Connects to `host:port` (a name is resolved, trying each address) and opens the
    /// session. `host` is also the name the certificate must carry when verified.
    pub async fn connect(&self, host: &str, port: u16) -> Result<ClientSession, Error> {
        let peer = format!("{host}:{port}");
        let tcp = self.tcp_connect((host, port), &peer).await?;
        self.open(tcp, peer, host).await
    }

    /// Connects to an address found by the caller (an MX host's A/AAAA record) and opens
    /// the session; `server_name` is the host name for SNI and certificate checks.
    pub async fn connect_addr(
        &self,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<ClientSession, Error> {
        let peer = format!("{server_name} [{addr}]");
        let tcp = self.tcp_connect(addr, &peer).await?;
        self.open(tcp, peer, server_name).await
    }

    async fn tcp_connect(
        &self,
        target: impl tokio::net::ToSocketAddrs,
        peer: &str,
    ) -> Result<TcpStream, Error> {
        match timeout(self.config.connect_timeout, TcpStream::connect(target)).await {
            Ok(Ok(tcp)) => Ok(tcp),
            Ok(Err(source)) => Err(Error::Io {
                peer: peer.to_string(),
                during: "connecting".into(),
                source,
            }),
            Err(_) => Err(Error::Timeout {
                peer: peer.to_string(),
                during: "connecting".into(),
            }),
        }
    }

    /// Connects, sends one message, and says goodbye.
    pub async fn deliver(
        &self,
        host: &str,
        port: u16,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, Error> {
        let mut session = self.connect(host, port).await?;
        let delivery = session.send(envelope, message).await?;
        if let Err(error) = session.quit().await {
            // The outcome is known; a failed goodbye changes nothing.
            tracing::debug!(%error, "QUIT failed after delivery");
        }
        Ok(delivery)
    }

    async fn open(
        &self,
        tcp: TcpStream,
        peer: String,
        server_name: &str,
    ) -> Result<ClientSession, Error> {
        let mut session = ClientSession {
            transport: Transport::new(tcp),
            peer,
            config: Arc::clone(&self.config),
            greeting: Reply::with_lines(220, None, Vec::new()),
            extensions: Extensions::default(),
            line: Vec::new(),
        };
        let greeting = session
            .read_reply("greeting", self.config.command_timeout)
            .await?;
        if greeting.code != 220 {
            return Err(session.refused("greeting", greeting));
        }
        session.greeting = greeting;
        session.hello().await?;
        let offered = session.extensions.starttls;
        match (self.config.starttls, &self.connector) {
            (StartTls::Required, _) if !offered => {
                return Err(Error::TlsUnavailable { peer: session.peer })
            }
            (StartTls::Opportunistic | StartTls::Required, Some(connector)) if offered => {
                session.starttls(connector, server_name).await?;
            }
            _ => {}
        }
        if let Some(credentials) = &self.config.credentials {
            session.authenticate(credentials).await?;
        }
        Ok(session)
    }
}

/// An open connection to a next hop, ready for transactions.
pub struct ClientSession {
    transport: Transport,
    peer: String,
    config: Arc<ClientConfig>,
    greeting: Reply,
    extensions: Extensions,
    line: Vec<u8>,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("peer", &self.peer)
            .field("tls", &self.is_tls())
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// What the server offered in its (last) EHLO reply.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// STARTTLS has completed.
    pub fn is_tls(&self) -> bool {
        self.transport.is_tls()
    }

    /// The TLS version and cipher suite, when encrypted.
    pub fn tls_description(&self) -> Option<String> {
        self.transport.tls_description()
    }

    /// Sends one message to the envelope's recipients. See [`Delivery`] for the result;
    /// `Err` means the connection failed, and the outcome is unknown for every recipient
    /// (if it failed after the final dot, the next hop may have the message: delivery is
    /// at least once).
    pub async fn send(&mut self, envelope: &Envelope, message: &[u8]) -> Result<Delivery, Error> {
        // SMTPUTF8 is needed for UTF-8 addresses, and for UTF-8 headers of a message that
        // came in with SMTPUTF8; a sender that declared it for an all-ASCII message can
        // still reach an older next hop (as Postfix does).
        let utf8_addresses = envelope
            .mail_from
            .iter()
            .chain(&envelope.rcpt_to)
            .any(|a| !a.is_ascii());
        let utf8_needed =
            utf8_addresses || (envelope.smtputf8 && !header_section(message).is_ascii());
        let utf8 = self.extensions.smtputf8 && (utf8_needed || envelope.smtputf8);
        if utf8_needed && !self.extensions.smtputf8 {
            return Ok(Delivery::all(
                envelope,
                &Reply::new(
                    553,
                    Some((5, 6, 7)),
                    "Non-ASCII addresses, but the next hop does not support SMTPUTF8",
                ),
            ));
        }
        let size = message.len() as u64;
        if let Some(limit) = self.extensions.size.filter(|&limit| limit > 0) {
            if size > limit {
                return Ok(Delivery::all(
                    envelope,
                    &Reply::new(
                        552,
                        Some((5, 3, 4)),
                        format!("Message of {size} octets exceeds the next hop's limit of {limit}"),
                    ),
                ));
            }
        }
        if envelope.rcpt_to.is_empty() {
            return Ok(Delivery {
                recipients: Vec::new(),
            });
        }
        let eight_bit = envelope.body_8bit || !message.is_ascii();
        let mail = Command::Mail {
            from: envelope.mail_from.clone(),
            params: MailParams {
                size: self.extensions.size.map(|_| size),
                body: (eight_bit && self.extensions.eight_bit_mime).then_some(Body::EightBitMime),
                smtputf8: utf8,
                auth: None,
            },
        };
        let pipelined = self.config.pipelining && self.extensions.pipelining;
        let timeout = self.config.command_timeout;

        // MAIL, RCPT…, DATA: all at once when pipelining, one by one otherwise.
        self.queue_command(&mail);
        if !pipelined {
            let reply = self.read_reply("MAIL FROM", timeout).await?;
            if !reply.is_positive() {
                return Ok(Delivery::all(envelope, &reply));
            }
        }
        let mut rcpt_replies = Vec::with_capacity(envelope.rcpt_to.len());
        for to in &envelope.rcpt_to {
            self.queue_command(&Command::Rcpt { to: to.clone() });
            if !pipelined {
                rcpt_replies.push(self.read_reply("RCPT TO", timeout).await?);
            }
        }
        let data_reply = if pipelined {
            self.queue_command(&Command::Data);
            let mail_reply = self.read_reply("MAIL FROM", timeout).await?;
            for _ in &envelope.rcpt_to {
                rcpt_replies.push(self.read_reply("RCPT TO", timeout).await?);
            }
            let data_reply = self.read_reply("DATA", timeout).await?;
            if !mail_reply.is_positive() {
                self.abandon(&data_reply).await?;
                return Ok(Delivery::all(envelope, &mail_reply));
            }
            Some(data_reply)
        } else if rcpt_replies.iter().any(Reply::is_positive) {
            self.queue_command(&Command::Data);
            Some(self.read_reply("DATA", timeout).await?)
        } else {
            None
        };

        let mut results: Vec<RecipientResult> = envelope
            .rcpt_to
            .iter()
            .zip(&rcpt_replies)
            .map(|(address, reply)| RecipientResult {
                address: address.clone(),
                status: RecipientStatus::of(reply),
                reply: reply.clone(),
            })
            .collect();
        let any_accepted = results
            .iter()
            .any(|r| r.status == RecipientStatus::Accepted);
        let final_reply = match data_reply {
            Some(reply) if reply.code == 354 && any_accepted => {
                self.transport.queue(&data::encode(message));
                self.read_reply("end of DATA", self.config.data_timeout)
                    .await?
            }
            Some(reply) => {
                self.abandon(&reply).await?;
                reply
            }
            None => {
                self.reset().await?;
                return Ok(Delivery {
                    recipients: results,
                });
            }
        };
        for result in results
            .iter_mut()
            .filter(|r| r.status == RecipientStatus::Accepted)
        {
            result.status = RecipientStatus::of(&final_reply);
            result.reply = final_reply.clone();
        }
        Ok(Delivery {
            recipients: results,
        })
    }

    /// Ends a transaction that will not send a message: an empty message if the server
    /// nonetheless said 354, then RSET so the connection can be used again.
    async fn abandon(&mut self, data_reply: &Reply) -> Result<(), Error> {
        if data_reply.code == 354 {
            self.transport.queue(b".\r\n");
            self.read_reply("end of DATA", self.config.data_timeout)
                .await?;
        }
        self.reset().await
    }

    async fn reset(&mut self) -> Result<(), Error> {
        self.queue_command(&Command::Rset);
        let reply = self.read_reply("RSET", self.config.command_timeout).await?;
        if reply.is_positive() {
            Ok(())
        } else {
            Err(self.refused("RSET", reply))
        }
    }

    /// Says QUIT and closes.
    pub async fn quit(mut self) -> Result<(), Error> {
        self.queue_command(&Command::Quit);
        let result = self.read_reply("QUIT", self.config.command_timeout).await;
        let _ = timeout(Duration::from_secs(10), self.transport.shutdown()).await;
        result.map(|_| ())
    }

    fn queue_command(&mut self, command: &Command) {
        self.transport.queue(command.to_string().as_bytes());
        self.transport.queue(b"\r\n");
    }

    fn refused(&self, during: &str, reply: Reply) -> Error {
        Error::Refused {
            peer: self.peer.clone(),
            during: during.to_string(),
            reply,
        }
    }

    /// EHLO, or HELO when the server does not know EHLO.
    async fn hello(&mut self) -> Result<(), Error> {
        let timeout = self.config.command_timeout;
        let domain = self.config.helo_name.clone();
        self.queue_command(&Command::Ehlo {
            domain: domain.clone(),
        });
        let reply = self.read_reply("EHLO", timeout).await?;
        if reply.is_positive() {
            self.extensions = Extensions::from_ehlo(&reply);
            return Ok(());
        }
        if !reply.is_permanent() {
            return Err(self.refused("EHLO", reply));
        }
        self.queue_command(&Command::Helo { domain });
        let reply = self.read_reply("HELO", timeout).await?;
        if !reply.is_positive() {
            return Err(self.refused("HELO", reply));
        }
        self.extensions = Extensions::default();
        Ok(())
    }

    async fn starttls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        server_name: &str,
    ) -> Result<(), Error> {
        let name =
            rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|_| {
                Error::ServerName {
                    name: server_name.to_string(),
                }
            })?;
        self.queue_command(&Command::StartTls);
        let reply = self
            .read_reply("STARTTLS", self.config.command_timeout)
            .await?;
        if reply.code != 220 {
            if self.config.starttls == StartTls::Required {
                return Err(self.refused("STARTTLS", reply));
            }
            tracing::info!(peer = %self.peer, %reply, "STARTTLS refused; continuing unencrypted");
            return Ok(());
        }
        match timeout(
            self.config.command_timeout,
            self.transport.connect_tls(connector, name),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(Error::Tls {
                    peer: self.peer.clone(),
                    source,
                })
            }
            Err(_) => {
                return Err(Error::Timeout {
                    peer: self.peer.clone(),
                    during: "TLS handshake".into(),
                })
            }
        }
        // RFC 3207 section 4.2: start over with EHLO.
        self.hello().await
    }

    async fn authenticate(&mut self, credentials: &Credentials) -> Result<(), Error> {
        if !self.is_tls() && !self.config.auth_without_tls {
            return Err(Error::AuthWithoutTls {
                peer: self.peer.clone(),
            });
        }
        if !self.extensions.auth.iter().any(|m| m == "PLAIN") {
            return Err(Error::AuthUnavailable {
                peer: self.peer.clone(),
            });
        }
        let response = auth::encode_plain(&credentials.user, &credentials.password);
        self.queue_command(&Command::Auth {
            mechanism: Mechanism::Plain,
            initial_response: Some(response.clone()),
        });
        let mut reply = self.read_reply("AUTH", self.config.command_timeout).await?;
        if reply.code == 334 {
            // A server that ignores initial responses asks again.
            self.transport.queue(response.as_bytes());
            self.transport.queue(b"\r\n");
            reply = self.read_reply("AUTH", self.config.command_timeout).await?;
        }
        if reply.is_positive() {
            Ok(())
        } else {
            Err(self.refused("AUTH", reply))
        }
    }

    /// Flushes what is queued and reads one reply within `limit`.
    async fn read_reply(&mut self, during: &str, limit: Duration) -> Result<Reply, Error> {
        let deadline = Instant::now() + limit;
        let mut parser = ReplyParser::default();
        loop {
            let read = timeout_at(
                deadline,
                self.transport.read_line(&mut self.line, MAX_REPLY_LINE),
            )
            .await;
            let malformed = |line: String| Error::MalformedReply {
                peer: self.peer.clone(),
                during: during.to_string(),
                line,
            };
            match read {
                Err(_) => {
                    return Err(Error::Timeout {
                        peer: self.peer.clone(),
                        during: during.to_string(),
                    })
                }
                Ok(Err(source)) => {
                    return Err(Error::Io {
                        peer: self.peer.clone(),
                        during: during.to_string(),
                        source,
                    })
                }
                Ok(Ok(LineRead::Eof)) => {
                    return Err(Error::Closed {
                        peer: self.peer.clone(),
                        during: during.to_string(),
                    })
                }
                Ok(Ok(LineRead::TooLong)) => return Err(malformed("(line too long)".into())),
                Ok(Ok(LineRead::Line)) => match parser.push_line(&self.line) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(_) => {
                        let text = String::from_utf8_lossy(&self.line);
                        return Err(malformed(text.chars().take(200).collect()));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_extensions_are_read_case_insensitively() {
        let reply = Reply::with_lines(
            250,
            None,
            [
                "mx.example.jp Hello",
                "pipelining",
                "SIZE 1000",
                "8BITMIME",
                "SMTPUTF8",
                "STARTTLS",
                "ENHANCEDSTATUSCODES",
                "AUTH PLAIN login",
                "AUTH=CRAM-MD5 PLAIN",
                "X-UNKNOWN",
            ]
            .map(String::from)
            .to_vec(),
        );
        let extensions = Extensions::from_ehlo(&reply);
        assert_eq!(
            extensions,
            Extensions {
                esmtp: true,
                pipelining: true,
                size: Some(1000),
                eight_bit_mime: true,
                smtputf8: true,
                starttls: true,
                enhanced_status_codes: true,
                auth: vec!["PLAIN".into(), "LOGIN".into(), "CRAM-MD5".into()],
            }
        );
        let bare = Reply::with_lines(250, None, vec!["mx".into(), "SIZE".into()]);
        assert_eq!(Extensions::from_ehlo(&bare).size, Some(0));
    }

    #[test]
    fn header_section_ends_at_the_first_empty_line() {
        assert_eq!(
            header_section(b"A: 1\r\nB: 2\r\n\r\nbody\r\n"),
            b"A: 1\r\nB: 2"
        );
        assert_eq!(header_section(b"A: 1\n\nbody"), b"A: 1");
        assert_eq!(header_section(b"A: 1\r\n"), b"A: 1\r\n");
    }

    #[test]
    fn recipient_status_follows_the_reply_class() {
        assert_eq!(RecipientStatus::of(&Reply::ok()), RecipientStatus::Accepted);
        assert_eq!(
            RecipientStatus::of(&Reply::too_many_recipients()),
            RecipientStatus::TemporaryFailure
        );
        assert_eq!(
            RecipientStatus::of(&Reply::no_such_user()),
            RecipientStatus::PermanentFailure
        );
    }
}
