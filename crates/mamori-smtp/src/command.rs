//! The SMTP command parser: one line from a client in, one [`Command`] or one
//! [`CommandError`] out.
//!
//! Input is a single command line as it arrived on the socket (with or without its CRLF);
//! it is untrusted, so the parser has no I/O, no allocation beyond the result, never panics,
//! and is fuzzed (`fuzz/fuzz_targets/command.rs`). What it checks:
//!
//! - verbs case-insensitively (`mail from:` is `MAIL FROM:`), including the `FROM:`/`TO:`
//!   keywords; extra spaces after the colon and trailing spaces are tolerated because common
//!   clients send them;
//! - paths per RFC 5321 section 4.1.2: angle brackets required, the null reverse-path `<>`
//!   for MAIL only, source routes (`<@a,@b:user@c>`) accepted and dropped, dot-atom or
//!   quoted local parts, domains or address literals (`[192.0.2.1]`, `[IPv6:…]`), and the
//!   special `<Postmaster>` recipient;
//! - UTF-8 addresses only when SMTPUTF8 applies (RFC 6531): given on this MAIL command, or
//!   [`ParseContext::smtputf8`] for the RCPT commands of such a transaction;
//! - limits of RFC 5321 section 4.5.3.1: local part 64 octets, domain 255, path 256, and the
//!   command line [`ParseContext::max_line`] (512 by the RFC; servers may be more tolerant);
//! - MAIL parameters SIZE, BODY=7BIT|8BITMIME, SMTPUTF8 and AUTH= (RFC 4954, accepted and
//!   ignored); no RCPT parameters (DSN is not offered).
//!
//! Each error knows its reply ([`CommandError::reply`]): 500 unknown command or line too
//! long, 501 syntax, 504 unsupported parameter value or AUTH mechanism, 553 non-ASCII address
//! without SMTPUTF8, 555 unknown MAIL/RCPT parameter.
//!
//! Not here: whether a command is allowed *now* (that is the session's state machine), and
//! the SASL exchange after AUTH. [`Command`]'s `Display` writes the canonical command line,
//! which the client uses and which parses back to the same command.

use crate::reply::Reply;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets including CRLF.
pub const RFC_MAX_COMMAND_LINE: usize = 512;
/// RFC 5321 section 4.5.3.1.1.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 section 4.5.3.1.2.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 section 4.5.3.1.3, counting the angle brackets.
pub const MAX_PATH: usize = 256;

/// What the parser needs to know about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseContext {
    /// Longest accepted command line in octets, counting the CRLF.
    pub max_line: usize,
    /// The current transaction's MAIL command carried SMTPUTF8, so RCPT addresses may be
    /// UTF-8.
    pub smtputf8: bool,
}

impl Default for ParseContext {
    fn default() -> Self {
        ParseContext {
            max_line: RFC_MAX_COMMAND_LINE,
            smtputf8: false,
        }
    }
}

/// One parsed SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO domain`.
    Helo { domain: String },
    /// `EHLO domain`.
    Ehlo { domain: String },
    /// `MAIL FROM:<path> params`; `from` is `None` for the null reverse-path `<>` (bounces).
    Mail {
        from: Option<String>,
        params: MailParams,
    },
    /// `RCPT TO:<path>`; `to` is the mailbox as written (`user@example.jp`, `Postmaster`).
    Rcpt { to: String },
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy { argument: String },
    /// `HELP [topic]`.
    Help { topic: Option<String> },
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954); the response stays base64 here, and
    /// `=` stands for an empty initial response.
    Auth {
        mechanism: Mechanism,
        initial_response: Option<String>,
    },
}

/// The ESMTP parameters of MAIL FROM that this server understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870): the client's estimate of the message size; saturates at
    /// `u64::MAX` so an absurd value is refused as too big rather than as a syntax error.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531): addresses and headers may be UTF-8.
    pub smtputf8: bool,
    /// `AUTH=` (RFC 4954 section 5), kept as sent (xtext) and otherwise ignored.
    pub auth: Option<String>,
}

/// The `BODY=` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// SASL mechanisms this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The widely deployed LOGIN mechanism (draft-murchison-sasl-login).
    Login,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        })
    }
}

/// Why a command line was refused. [`CommandError::reply`] gives the SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// 500: not a command this server knows.
    #[error("command unrecognized: {verb:?}")]
    Unrecognized { verb: String },
    /// 500 5.5.6: longer than the configured limit.
    #[error("command line of {len} octets exceeds the limit of {max}")]
    LineTooLong { len: usize, max: usize },
    /// 501: the arguments do not follow the grammar.
    #[error("syntax error in {command}: {reason}")]
    Syntax {
        command: &'static str,
        reason: &'static str,
    },
    /// 501 with 5.1.7 (sender) or 5.1.3 (recipient): the path or mailbox is malformed.
    #[error("bad address in {command}: {reason}")]
    Address {
        command: &'static str,
        reason: &'static str,
    },
    /// 553 5.6.7: a UTF-8 address without SMTPUTF8 (RFC 6531 section 3.5).
    #[error("non-ASCII address in {command} without SMTPUTF8")]
    NonAsciiAddress { command: &'static str },
    /// 555: a MAIL/RCPT parameter this server does not know (RFC 5321 section 4.1.1.11).
    #[error("{command} parameter {keyword:?} not recognized")]
    UnknownParameter {
        command: &'static str,
        keyword: String,
    },
    /// 504: a known parameter with a value this server does not implement (BODY=BINARYMIME).
    #[error("{command} parameter {keyword}={value} not implemented")]
    UnsupportedParameter {
        command: &'static str,
        keyword: &'static str,
        value: String,
    },
    /// 504 5.5.4: an AUTH mechanism other than PLAIN or LOGIN.
    #[error("authentication mechanism {mechanism:?} not supported")]
    UnsupportedMechanism { mechanism: String },
}

impl CommandError {
    /// The reply the server sends for this error.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Unrecognized { .. } => {
                Reply::new(500, Some((5, 5, 1)), "Command unrecognized")
            }
            CommandError::LineTooLong { .. } => Reply::line_too_long(),
            CommandError::Syntax { command, reason } => Reply::new(
                501,
                Some((5, 5, 4)),
                format!("Syntax error in {command} arguments: {reason}"),
            ),
            CommandError::Address { command, reason } => {
                let enhanced = if *command == "MAIL" {
                    (5, 1, 7)
                } else {
                    (5, 1, 3)
                };
                Reply::new(501, Some(enhanced), format!("Bad address syntax: {reason}"))
            }
            CommandError::NonAsciiAddress { .. } => {
                Reply::new(553, Some((5, 6, 7)), "Non-ASCII addresses require SMTPUTF8")
            }
            CommandError::UnknownParameter { command, .. } => Reply::new(
                555,
                Some((5, 5, 4)),
                format!("{command} parameters not recognized or not implemented"),
            ),
            CommandError::UnsupportedParameter { keyword, .. } => Reply::new(
                504,
                Some((5, 5, 4)),
                format!("Parameter {keyword} value not implemented"),
            ),
            CommandError::UnsupportedMechanism { .. } => {
                Reply::new(504, Some((5, 5, 4)), "Unrecognized authentication type")
            }
        }
    }
}

impl Command {
    /// Parses one command line. A trailing CRLF (or bare LF) is ignored.
    pub fn parse(line: &[u8], context: &ParseContext) -> Result<Command, CommandError> {
        let line = strip_line_ending(line);
        // The RFC's limit counts the CRLF.
        if line.len() + 2 > context.max_line {
            return Err(CommandError::LineTooLong {
                len: line.len() + 2,
                max: context.max_line,
            });
        }
        let line = trim_trailing_blanks(line);
        let (verb, rest) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[line.len()..]),
        };
        let verb_is = |name: &str| verb.eq_ignore_ascii_case(name.as_bytes());
        if verb_is("MAIL") {
            parse_mail(rest, context)
        } else if verb_is("RCPT") {
            parse_rcpt(rest, context)
        } else if verb_is("EHLO") {
            Ok(Command::Ehlo {
                domain: helo_argument("EHLO", rest)?,
            })
        } else if verb_is("HELO") {
            Ok(Command::Helo {
                domain: helo_argument("HELO", rest)?,
            })
        } else if verb_is("DATA") {
            no_argument("DATA", rest, Command::Data)
        } else if verb_is("RSET") {
            no_argument("RSET", rest, Command::Rset)
        } else if verb_is("QUIT") {
            no_argument("QUIT", rest, Command::Quit)
        } else if verb_is("STARTTLS") {
            no_argument("STARTTLS", rest, Command::StartTls)
        } else if verb_is("NOOP") {
            // RFC 5321 section 4.1.1.9: a NOOP string is allowed and ignored.
            Ok(Command::Noop)
        } else if verb_is("VRFY") {
            let argument = text_argument("VRFY", rest)?;
            if argument.is_empty() {
                return Err(syntax("VRFY", "a user or mailbox is required"));
            }
            Ok(Command::Vrfy { argument })
        } else if verb_is("HELP") {
            let topic = text_argument("HELP", rest)?;
            Ok(Command::Help {
                topic: (!topic.is_empty()).then_some(topic),
            })
        } else if verb_is("AUTH") {
            parse_auth(rest)
        } else {
            Err(CommandError::Unrecognized {
                verb: String::from_utf8_lossy(&verb[..verb.len().min(16)]).into_owned(),
            })
        }
    }
}

impl fmt::Display for Command {
    /// The canonical command line, without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Helo { domain } => write!(f, "HELO {domain}"),
            Command::Ehlo { domain } => write!(f, "EHLO {domain}"),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:<{}>", from.as_deref().unwrap_or(""))?;
                if let Some(size) = params.size {
                    write!(f, " SIZE={size}")?;
                }
                match params.body {
                    Some(Body::SevenBit) => f.write_str(" BODY=7BIT")?,
                    Some(Body::EightBitMime) => f.write_str(" BODY=8BITMIME")?,
                    None => {}
                }
                if params.smtputf8 {
                    f.write_str(" SMTPUTF8")?;
                }
                if let Some(auth) = &params.auth {
                    write!(f, " AUTH={auth}")?;
                }
                Ok(())
            }
            Command::Rcpt { to } => write!(f, "RCPT TO:<{to}>"),
            Command::Data => f.write_str("DATA"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::Vrfy { argument } => write!(f, "VRFY {argument}"),
            Command::Help { topic: None } => f.write_str("HELP"),
            Command::Help { topic: Some(topic) } => write!(f, "HELP {topic}"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response: None,
            } => write!(f, "AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial_response: Some(response),
            } => write!(f, "AUTH {mechanism} {response}"),
        }
    }
}

fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_trailing_blanks(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

fn trim_leading_blanks(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn syntax(command: &'static str, reason: &'static str) -> CommandError {
    CommandError::Syntax { command, reason }
}

fn address(command: &'static str, reason: &'static str) -> CommandError {
    CommandError::Address { command, reason }
}

fn no_argument(
    command: &'static str,
    rest: &[u8],
    parsed: Command,
) -> Result<Command, CommandError> {
    if rest.is_empty() {
        Ok(parsed)
    } else {
        Err(syntax(command, "no arguments allowed"))
    }
}

/// Printable UTF-8 text without control characters, leading/trailing blanks removed.
fn text_argument(command: &'static str, rest: &[u8]) -> Result<String, CommandError> {
    let text = std::str::from_utf8(rest).map_err(|_| syntax(command, "invalid UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(syntax(command, "control characters not allowed"));
    }
    Ok(text.trim_matches([' ', '\t']).to_string())
}

/// The HELO/EHLO argument. Deliberately lenient: real clients send bare hostnames with
/// underscores, NetBIOS names or address literals, and refusing them loses mail. The
/// handler can judge the name.
fn helo_argument(command: &'static str, rest: &[u8]) -> Result<String, CommandError> {
    let domain = text_argument(command, rest)?;
    if domain.is_empty() {
        return Err(syntax(command, "a domain or address literal is required"));
    }
    if domain.len() > MAX_DOMAIN {
        return Err(syntax(command, "domain too long"));
    }
    Ok(domain)
}

/// Splits `KEYWORD:` off the start of `rest`, case-insensitively.
fn strip_keyword<'a>(rest: &'a [u8], keyword: &str) -> Option<&'a [u8]> {
    let k = keyword.as_bytes();
    if rest.len() >= k.len() && rest[..k.len()].eq_ignore_ascii_case(k) {
        Some(&rest[k.len()..])
    } else {
        None
    }
}

/// Splits `<path>` off the start of `s`, finding the `>` that is not inside a quoted
/// local part. Returns the path without brackets and what follows it.
fn split_path<'a>(
    command: &'static str,
    s: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), CommandError> {
    if s.first() != Some(&b'<') {
        return Err(address(command, "the path must be enclosed in <>"));
    }
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b'>' && !in_quotes {
            if i + 1 > MAX_PATH {
                return Err(address(command, "path longer than 256 octets"));
            }
            return Ok((&s[1..i], &s[i + 1..]));
        }
    }
    Err(address(command, "missing closing >"))
}

/// An ESMTP parameter `keyword[=value]` as written.
struct Param<'a> {
    keyword: &'a str,
    value: Option<&'a str>,
}

/// Parses the parameters after a path (RFC 5321 section 4.1.2 `Mail-parameters`).
fn split_params<'a>(command: &'static str, s: &'a [u8]) -> Result<Vec<Param<'a>>, CommandError> {
    let s = trim_leading_blanks(s);
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let s = std::str::from_utf8(s).map_err(|_| syntax(command, "invalid UTF-8 in parameters"))?;
    let mut params = Vec::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        let (keyword, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        let keyword_ok = keyword
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !keyword_ok {
            return Err(syntax(command, "malformed parameter keyword"));
        }
        if let Some(value) = value {
            // esmtp-value = 1*(%d33-60 / %d62-126); RFC 6531 adds UTF-8, which no parameter
            // we accept needs, so it is refused rather than half-supported.
            if value.is_empty() || !value.bytes().all(|b| (33..=126).contains(&b) && b != b'=') {
                return Err(syntax(command, "malformed parameter value"));
            }
        }
        params.push(Param { keyword, value });
    }
    Ok(params)
}

fn parse_mail(rest: &[u8], context: &ParseContext) -> Result<Command, CommandError> {
    const MAIL: &str = "MAIL";
    let rest = strip_keyword(rest, "FROM:").ok_or(syntax(MAIL, "expected FROM:<address>"))?;
    let (path, after) = split_path(MAIL, trim_leading_blanks(rest))?;
    if !after.is_empty() && after[0] != b' ' {
        return Err(syntax(MAIL, "expected a space before parameters"));
    }
    let mut params = MailParams::default();
    for param in split_params(MAIL, after)? {
        let duplicate = || syntax(MAIL, "duplicate parameter");
        if param.keyword.eq_ignore_ascii_case("SIZE") {
            let value = param.value.ok_or(syntax(MAIL, "SIZE needs a value"))?;
            if params.size.is_some() {
                return Err(duplicate());
            }
            if !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax(MAIL, "SIZE must be a number"));
            }
            params.size = Some(value.bytes().fold(0u64, |acc, d| {
                acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            }));
        } else if param.keyword.eq_ignore_ascii_case("BODY") {
            let value = param.value.ok_or(syntax(MAIL, "BODY needs a value"))?;
            if params.body.is_some() {
                return Err(duplicate());
            }
            params.body = Some(if value.eq_ignore_ascii_case("7BIT") {
                Body::SevenBit
            } else if value.eq_ignore_ascii_case("8BITMIME") {
                Body::EightBitMime
            } else if value.eq_ignore_ascii_case("BINARYMIME") {
                return Err(CommandError::UnsupportedParameter {
                    command: MAIL,
                    keyword: "BODY",
                    value: value.to_string(),
                });
            } else {
                return Err(syntax(MAIL, "BODY must be 7BIT or 8BITMIME"));
            });
        } else if param.keyword.eq_ignore_ascii_case("SMTPUTF8") {
            if param.value.is_some() {
                return Err(syntax(MAIL, "SMTPUTF8 takes no value"));
            }
            if params.smtputf8 {
                return Err(duplicate());
            }
            params.smtputf8 = true;
        } else if param.keyword.eq_ignore_ascii_case("AUTH") {
            let value = param.value.ok_or(syntax(MAIL, "AUTH needs a value"))?;
            if params.auth.is_some() {
                return Err(duplicate());
            }
            params.auth = Some(value.to_string());
        } else {
            return Err(CommandError::UnknownParameter {
                command: MAIL,
                keyword: param.keyword.chars().take(32).collect(),
            });
        }
    }
    let from = if path.is_empty() {
        None
    } else {
        Some(mailbox(MAIL, path, params.smtputf8 || context.smtputf8)?)
    };
    Ok(Command::Mail { from, params })
}

fn parse_rcpt(rest: &[u8], context: &ParseContext) -> Result<Command, CommandError> {
    const RCPT: &str = "RCPT";
    let rest = strip_keyword(rest, "TO:").ok_or(syntax(RCPT, "expected TO:<address>"))?;
    let (path, after) = split_path(RCPT, trim_leading_blanks(rest))?;
    if !after.is_empty() && after[0] != b' ' {
        return Err(syntax(RCPT, "expected a space before parameters"));
    }
    if let Some(param) = split_params(RCPT, after)?.first() {
        return Err(CommandError::UnknownParameter {
            command: RCPT,
            keyword: param.keyword.chars().take(32).collect(),
        });
    }
    if path.is_empty() {
        return Err(address(RCPT, "the null path <> is not a recipient"));
    }
    // RFC 5321 section 4.1.1.3: "Postmaster" without a domain must be accepted.
    if path.eq_ignore_ascii_case(b"postmaster") {
        let to = String::from_utf8_lossy(path).into_owned();
        return Ok(Command::Rcpt { to });
    }
    Ok(Command::Rcpt {
        to: mailbox(RCPT, path, context.smtputf8)?,
    })
}

/// Validates `[source-route:]local@domain` and returns `local@domain` as written.
fn mailbox(command: &'static str, path: &[u8], utf8: bool) -> Result<String, CommandError> {
    let path = std::str::from_utf8(path).map_err(|_| address(command, "invalid UTF-8"))?;
    if !path.is_ascii() && !utf8 {
        return Err(CommandError::NonAsciiAddress { command });
    }
    // A source route (`@a,@b:`) is obsolete; RFC 5321 section 4.1.1.3 says to ignore it.
    let mailbox = if path.starts_with('@') {
        let (route, mailbox) = path
            .split_once(':')
            .ok_or(address(command, "source route without ':'"))?;
        for hop in route.split(',') {
            let domain = hop
                .strip_prefix('@')
                .ok_or(address(command, "malformed source route"))?;
            check_domain(command, domain, utf8)?;
        }
        mailbox
    } else {
        path
    };
    let local_len = local_part_len(command, mailbox, utf8)?;
    if local_len > MAX_LOCAL_PART {
        return Err(address(command, "local part longer than 64 octets"));
    }
    let domain = mailbox[local_len..]
        .strip_prefix('@')
        .ok_or(address(command, "expected @domain after the local part"))?;
    if domain.starts_with('[') {
        check_address_literal(command, domain)?;
    } else {
        check_domain(command, domain, utf8)?;
    }
    Ok(mailbox.to_string())
}

/// RFC 5322 `atext`, plus UTF-8 under SMTPUTF8 (RFC 6531 section 3.3).
fn is_atext(c: char, utf8: bool) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (utf8 && !c.is_ascii())
}

/// The length in octets of the local part at the start of `mailbox` (dot-string or
/// quoted-string), after checking its syntax.
fn local_part_len(command: &'static str, mailbox: &str, utf8: bool) -> Result<usize, CommandError> {
    if let Some(quoted) = mailbox.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            if escaped {
                if !(' '..='~').contains(&c) {
                    return Err(address(command, "invalid quoted pair"));
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Ok(i + 2);
            } else if !((' '..='~').contains(&c) || (utf8 && !c.is_ascii())) {
                return Err(address(command, "invalid character in quoted local part"));
            }
        }
        return Err(address(command, "unterminated quoted local part"));
    }
    let end = mailbox
        .rfind('@')
        .ok_or(address(command, "missing @domain"))?;
    let local = &mailbox[..end];
    if local.is_empty() {
        return Err(address(command, "empty local part"));
    }
    for atom in local.split('.') {
        if atom.is_empty() {
            return Err(address(command, "empty atom in local part"));
        }
        if !atom.chars().all(|c| is_atext(c, utf8)) {
            return Err(address(command, "invalid character in local part"));
        }
    }
    Ok(end)
}

/// RFC 5321 `Domain`: dot-separated labels of letters, digits and inner hyphens; U-labels
/// (UTF-8) under SMTPUTF8.
fn check_domain(command: &'static str, domain: &str, utf8: bool) -> Result<(), CommandError> {
    if domain.is_empty() {
        return Err(address(command, "empty domain"));
    }
    if domain.len() > MAX_DOMAIN {
        return Err(address(command, "domain longer than 255 octets"));
    }
    for label in domain.split('.') {
        let let_dig = |c: char| c.is_ascii_alphanumeric() || (utf8 && !c.is_ascii());
        let ok = label.len() <= 63
            && label.chars().next().is_some_and(let_dig)
            && label.chars().last().is_some_and(let_dig)
            && label.chars().all(|c| let_dig(c) || c == '-');
        if !ok {
            return Err(address(command, "invalid domain"));
        }
    }
    Ok(())
}

/// RFC 5321 `address-literal`: `[IPv4]`, `[IPv6:addr]` or `[tag:content]`.
fn check_address_literal(command: &'static str, literal: &str) -> Result<(), CommandError> {
    let inner = literal
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(address(command, "unterminated address literal"))?;
    if inner.len() > MAX_DOMAIN {
        return Err(address(command, "address literal too long"));
    }
    let valid = if let Some(v6) = strip_prefix_ignore_case(inner, "IPv6:") {
        v6.parse::<Ipv6Addr>().is_ok()
    } else if let Some((tag, content)) = inner.split_once(':') {
        // General-address-literal: Standardized-tag ":" 1*dcontent.
        !tag.is_empty()
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !content.is_empty()
            && content
                .bytes()
                .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
    } else {
        inner.parse::<Ipv4Addr>().is_ok()
    };
    if valid {
        Ok(())
    } else {
        Err(address(command, "invalid address literal"))
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_auth(rest: &[u8]) -> Result<Command, CommandError> {
    const AUTH: &str = "AUTH";
    let rest = std::str::from_utf8(rest).map_err(|_| syntax(AUTH, "invalid UTF-8"))?;
    let mut tokens = rest.split(' ').filter(|t| !t.is_empty());
    let name = tokens
        .next()
        .ok_or(syntax(AUTH, "a mechanism is required"))?;
    let initial_response = tokens.next().map(str::to_string);
    if tokens.next().is_some() {
        return Err(syntax(AUTH, "too many arguments"));
    }
    let mechanism = if name.eq_ignore_ascii_case("PLAIN") {
        Mechanism::Plain
    } else if name.eq_ignore_ascii_case("LOGIN") {
        Mechanism::Login
    } else if name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CommandError::UnsupportedMechanism {
            mechanism: name.to_string(),
        });
    } else {
        return Err(syntax(AUTH, "malformed mechanism name"));
    };
    if let Some(response) = &initial_response {
        let base64_ok = response == "="
            || response
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !base64_ok {
            return Err(syntax(AUTH, "the initial response must be base64"));
        }
    }
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, CommandError> {
        Command::parse(line.as_bytes(), &ParseContext::default())
    }

    fn parse_utf8(line: &str) -> Result<Command, CommandError> {
        Command::parse(
            line.as_bytes(),
            &ParseContext {
                smtputf8: true,
                ..ParseContext::default()
            },
        )
    }

    fn code(line: &str) -> u16 {
        match parse(line) {
            Ok(command) => panic!("{line:?} parsed as {command:?}"),
            Err(e) => e.reply().code,
        }
    }

    fn mail(from: Option<&str>, params: MailParams) -> Command {
        Command::Mail {
            from: from.map(str::to_string),
            params,
        }
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(
            parse("ehlo client.example.jp\r\n"),
            Ok(Command::Ehlo {
                domain: "client.example.jp".into()
            })
        );
        assert_eq!(parse("QuIt"), Ok(Command::Quit));
        assert_eq!(
            parse("mail from:<a@example.jp>"),
            Ok(mail(Some("a@example.jp"), MailParams::default()))
        );
        assert_eq!(
            parse("rcpt To:<b@example.jp>"),
            Ok(Command::Rcpt {
                to: "b@example.jp".into()
            })
        );
        assert_eq!(parse("starttls"), Ok(Command::StartTls));
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse("DATA"), Ok(Command::Data));
        assert_eq!(parse("RSET"), Ok(Command::Rset));
        assert_eq!(parse("NOOP"), Ok(Command::Noop));
        assert_eq!(parse("NOOP anything at all"), Ok(Command::Noop));
        assert_eq!(parse("HELP"), Ok(Command::Help { topic: None }));
        assert_eq!(
            parse("HELP MAIL"),
            Ok(Command::Help {
                topic: Some("MAIL".into())
            })
        );
        assert_eq!(
            parse("VRFY tanaka"),
            Ok(Command::Vrfy {
                argument: "tanaka".into()
            })
        );
        assert_eq!(
            parse("HELO [192.0.2.1]"),
            Ok(Command::Helo {
                domain: "[192.0.2.1]".into()
            })
        );
    }

    #[test]
    fn unknown_commands_are_500_and_bad_arguments_501() {
        assert_eq!(code("BDAT 100 LAST"), 500);
        assert_eq!(code("XYZZY"), 500);
        assert_eq!(code(""), 500);
        assert_eq!(code("\u{0}\u{1}"), 500);
        assert_eq!(code("DATA now"), 501);
        assert_eq!(code("QUIT please"), 501);
        assert_eq!(code("STARTTLS x"), 501);
        assert_eq!(code("EHLO"), 501);
        assert_eq!(code("HELO   "), 501);
        assert_eq!(code("VRFY"), 501);
        assert_eq!(code("EHLO a\u{7}b"), 501);
        assert_eq!(code("MAIL TO:<a@b>"), 501);
        assert_eq!(code("MAIL FROM a@b"), 501);
        assert_eq!(code("RCPT FROM:<a@b>"), 501);
    }

    #[test]
    fn null_reverse_path_is_only_for_mail() {
        assert_eq!(parse("MAIL FROM:<>"), Ok(mail(None, MailParams::default())));
        assert_eq!(code("RCPT TO:<>"), 501);
    }

    #[test]
    fn tolerates_space_after_colon_and_trailing_blanks() {
        assert_eq!(
            parse("MAIL FROM: <a@example.jp>  \r\n"),
            Ok(mail(Some("a@example.jp"), MailParams::default()))
        );
        assert_eq!(
            parse("RCPT TO: <b@example.jp>\t"),
            Ok(Command::Rcpt {
                to: "b@example.jp".into()
            })
        );
    }

    #[test]
    fn paths_require_angle_brackets_and_valid_mailboxes() {
        assert_eq!(code("MAIL FROM:a@example.jp"), 501);
        assert_eq!(code("MAIL FROM:<a@example.jp"), 501);
        assert_eq!(code("RCPT TO:<a>"), 501);
        assert_eq!(code("RCPT TO:<@example.jp>"), 501);
        assert_eq!(code("RCPT TO:<a@>"), 501);
        assert_eq!(code("RCPT TO:<a..b@example.jp>"), 501);
        assert_eq!(code("RCPT TO:<.a@example.jp>"), 501);
        assert_eq!(code("RCPT TO:<a b@example.jp>"), 501);
        assert_eq!(code("RCPT TO:<a@-example.jp>"), 501);
        assert_eq!(code("RCPT TO:<a@example..jp>"), 501);
        assert_eq!(code("RCPT TO:<a@example.jp.>"), 501);
        assert_eq!(code("RCPT TO:<a@b@example.jp>"), 501);
        assert_eq!(code("RCPT TO:<a@example.jp>x"), 501);
        let err = parse("MAIL FROM:<a@>").expect_err("bad");
        assert_eq!(err.reply().enhanced, Some((5, 1, 7)));
        let err = parse("RCPT TO:<a@>").expect_err("bad");
        assert_eq!(err.reply().enhanced, Some((5, 1, 3)));
    }

    #[test]
    fn quoted_local_parts_and_address_literals() {
        for to in [
            r#""john doe"@example.jp"#,
            r#""a>b"@example.jp"#,
            r#""a\"b@c"@example.jp"#,
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "user+tag@sub.example.co.jp",
            "o'brien@example.ie",
        ] {
            assert_eq!(
                parse(&format!("RCPT TO:<{to}>")),
                Ok(Command::Rcpt { to: to.into() }),
                "{to}"
            );
        }
        assert_eq!(code(r#"RCPT TO:<"unterminated@example.jp>"#), 501);
        assert_eq!(code("RCPT TO:<user@[300.0.0.1]>"), 501);
        assert_eq!(code("RCPT TO:<user@[IPv6:zz::1]>"), 501);
    }

    #[test]
    fn postmaster_without_domain_and_source_routes() {
        assert_eq!(
            parse("RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: "Postmaster".into()
            })
        );
        assert_eq!(
            parse("RCPT TO:<@relay1.example,@relay2.example:user@example.jp>"),
            Ok(Command::Rcpt {
                to: "user@example.jp".into()
            })
        );
        assert_eq!(code("RCPT TO:<@relay1.example user@example.jp>"), 501);
    }

    #[test]
    fn length_limits_follow_rfc_5321() {
        let local64 = "a".repeat(64);
        assert!(parse(&format!("RCPT TO:<{local64}@example.jp>")).is_ok());
        assert_eq!(code(&format!("RCPT TO:<{local64}a@example.jp>")), 501);
        // A domain of 4 labels of 63 octets is 255 octets.
        let label = "b".repeat(63);
        let domain = [label.as_str(); 4].join(".");
        assert_eq!(domain.len(), 255);
        let context = ParseContext {
            max_line: 1000,
            smtputf8: false,
        };
        let long = Command::parse(format!("RCPT TO:<a@{domain}>").as_bytes(), &context);
        // The path (a@ + 255 + brackets = 259) is over 256 octets.
        assert!(matches!(long, Err(CommandError::Address { .. })));
        assert_eq!(code(&format!("RCPT TO:<a@{}.jp>", "b".repeat(64))), 501);
    }

    #[test]
    fn line_length_limit_is_configurable() {
        let line = format!("NOOP {}", "x".repeat(505)); // 510 octets + CRLF = 512
        assert_eq!(parse(&line), Ok(Command::Noop));
        let line = format!("NOOP {}", "x".repeat(506));
        assert_eq!(
            parse(&line),
            Err(CommandError::LineTooLong { len: 513, max: 512 })
        );
        assert_eq!(code(&line), 500);
        let tolerant = ParseContext {
            max_line: 2048,
            smtputf8: false,
        };
        assert_eq!(
            Command::parse(line.as_bytes(), &tolerant),
            Ok(Command::Noop)
        );
    }

    #[test]
    fn mail_parameters() {
        assert_eq!(
            parse("MAIL FROM:<a@example.jp> SIZE=12345 BODY=8BITMIME SMTPUTF8 AUTH=<>"),
            Ok(mail(
                Some("a@example.jp"),
                MailParams {
                    size: Some(12345),
                    body: Some(Body::EightBitMime),
                    smtputf8: true,
                    auth: Some("<>".into()),
                }
            ))
        );
        assert_eq!(
            parse("MAIL FROM:<> body=7bit size=0"),
            Ok(mail(
                None,
                MailParams {
                    size: Some(0),
                    body: Some(Body::SevenBit),
                    ..MailParams::default()
                }
            ))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b.jp> SIZE=99999999999999999999999999"),
            Ok(mail(
                Some("a@b.jp"),
                MailParams {
                    size: Some(u64::MAX),
                    ..MailParams::default()
                }
            ))
        );
    }

    #[test]
    fn mail_parameter_errors_map_to_501_504_555() {
        assert_eq!(code("MAIL FROM:<a@b.jp> SIZE=abc"), 501);
        assert_eq!(code("MAIL FROM:<a@b.jp> SIZE"), 501);
        assert_eq!(code("MAIL FROM:<a@b.jp> SIZE=1 SIZE=2"), 501);
        assert_eq!(code("MAIL FROM:<a@b.jp> BODY=8BIT"), 501);
        assert_eq!(code("MAIL FROM:<a@b.jp> BODY=BINARYMIME"), 504);
        assert_eq!(code("MAIL FROM:<a@b.jp> SMTPUTF8=yes"), 501);
        assert_eq!(code("MAIL FROM:<a@b.jp> RET=HDRS"), 555);
        assert_eq!(code("MAIL FROM:<a@b.jp> X-FOO"), 555);
        assert_eq!(code("MAIL FROM:<a@b.jp> =x"), 501);
        assert_eq!(code("RCPT TO:<a@b.jp> NOTIFY=NEVER"), 555);
        assert_eq!(code("RCPT TO:<a@b.jp> ORCPT=rfc822;a@b.jp"), 555);
    }

    #[test]
    fn utf8_addresses_need_smtputf8() {
        assert_eq!(code("MAIL FROM:<田中@例え.jp>"), 553);
        assert_eq!(
            parse("MAIL FROM:<田中@例え.jp> SMTPUTF8"),
            Ok(mail(
                Some("田中@例え.jp"),
                MailParams {
                    smtputf8: true,
                    ..MailParams::default()
                }
            ))
        );
        assert_eq!(code("RCPT TO:<山田@example.jp>"), 553);
        assert_eq!(
            parse_utf8("RCPT TO:<山田@example.jp>"),
            Ok(Command::Rcpt {
                to: "山田@example.jp".into()
            })
        );
        assert_eq!(
            parse_utf8(r#"RCPT TO:<"山 田"@example.jp>"#),
            Ok(Command::Rcpt {
                to: r#""山 田"@example.jp"#.into()
            })
        );
        // Invalid UTF-8 is a syntax error even under SMTPUTF8.
        let bytes = b"RCPT TO:<\xff@example.jp>";
        let context = ParseContext {
            smtputf8: true,
            ..ParseContext::default()
        };
        assert!(matches!(
            Command::parse(bytes, &context),
            Err(CommandError::Address { .. })
        ));
    }

    #[test]
    fn auth_mechanisms() {
        assert_eq!(
            parse("AUTH PLAIN"),
            Ok(Command::Auth {
                mechanism: Mechanism::Plain,
                initial_response: None
            })
        );
        assert_eq!(
            parse("auth plain AHRhbmFrYQBzZWNyZXQ="),
            Ok(Command::Auth {
                mechanism: Mechanism::Plain,
                initial_response: Some("AHRhbmFrYQBzZWNyZXQ=".into())
            })
        );
        assert_eq!(
            parse("AUTH LOGIN ="),
            Ok(Command::Auth {
                mechanism: Mechanism::Login,
                initial_response: Some("=".into())
            })
        );
        assert_eq!(code("AUTH CRAM-MD5"), 504);
        assert_eq!(code("AUTH XOAUTH2 abc"), 504);
        assert_eq!(code("AUTH"), 501);
        assert_eq!(code("AUTH PLAIN a b"), 501);
        assert_eq!(code("AUTH PLAIN not*base64"), 501);
    }

    #[test]
    fn display_writes_lines_that_parse_back() {
        let context = ParseContext {
            max_line: 4096,
            smtputf8: true,
        };
        for line in [
            "EHLO mx.example.jp",
            "HELO x",
            "MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8 AUTH=<>",
            "MAIL FROM:<\"a b\"@example.jp>",
            "RCPT TO:<Postmaster>",
            "RCPT TO:<東京@例え.jp>",
            "DATA",
            "RSET",
            "NOOP",
            "QUIT",
            "VRFY x",
            "HELP",
            "HELP x",
            "STARTTLS",
            "AUTH PLAIN",
            "AUTH LOGIN dXNlcg==",
        ] {
            let command = Command::parse(line.as_bytes(), &context).expect(line);
            assert_eq!(command.to_string(), line);
            assert_eq!(
                Command::parse(command.to_string().as_bytes(), &context),
                Ok(command)
            );
        }
    }
}
