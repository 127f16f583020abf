//! SMTP replies: the three-digit code, the optional enhanced status code, and the text.
//!
//! A [`Reply`] is what a server says after each command (RFC 5321 section 4.2). This module
//! formats replies for the server, with multi-line replies written as `250-first`,
//! `250-middle`, `250 last`, and the enhanced status code of RFC 2034/3463 (`2.1.0`) on every
//! line when one is set. The named constructors ([`Reply::sender_ok`],
//! [`Reply::too_many_recipients`], …) are the replies the server and handlers use, so that
//! the same situation always gets the same code everywhere.
//!
//! [`ReplyParser`] is the other direction, for the client: it reads reply lines from a next
//! hop, checks that they belong together, and splits off the enhanced code. It is pure and
//! bounded (a limit on lines per reply) so that a hostile server cannot make it grow without
//! end.
//!
//! Not here: deciding which reply a command gets (that is [`crate::server`] and the
//! [`crate::Handler`]), and reading lines from a socket.

use std::fmt;

/// An enhanced status code `class.subject.detail` (RFC 3463), such as `(5, 7, 1)`.
pub type EnhancedCode = (u8, u16, u16);

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200–599 (and 334/354 for intermediate replies).
    pub code: u16,
    /// The enhanced status code, written at the start of every line when set. The greeting,
    /// EHLO/HELO replies and intermediate (3xx) replies carry none.
    pub enhanced: Option<EnhancedCode>,
    /// The text lines, without code, enhanced code or line ending. An empty list is sent as
    /// one line with no text.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            lines: vec![text.into()],
        }
    }

    /// A reply with several lines (sent as a multi-line reply).
    pub fn with_lines(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Self {
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    /// `2xx`: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// `3xx`: the server waits for more (354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// `4xx`: failed now, may succeed later; a queue retries.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// `5xx`: failed for good; a queue bounces.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// All lines joined with a space, for logs and bounce messages.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// Appends the reply in wire format (CRLF line endings) to `out`.
    ///
    /// CR, LF and other control characters in the text are replaced by spaces, so text from a
    /// handler or a next hop can never break the framing or inject a second reply.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let code = self.code % 1000;
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() {
            &empty
        } else {
            &self.lines
        };
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            let mut head = format!("{code:03}{separator}");
            if let Some((class, subject, detail)) = self.enhanced {
                head.push_str(&format!("{class}.{subject}.{detail}"));
                if !line.is_empty() {
                    head.push(' ');
                }
            }
            out.extend_from_slice(head.as_bytes());
            out.extend(
                line.bytes()
                    .map(|b| if b < 0x20 || b == 0x7f { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply in wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    // ---- Standard replies. Codes follow RFC 5321 section 4.2.2/4.5.3, enhanced codes
    // ---- RFC 3463 and the IANA registry; names say when each one is used.

    /// `220 host ESMTP Mamori`: the greeting (no enhanced code, RFC 2034 section 3).
    pub fn greeting(hostname: &str) -> Self {
        Reply::new(220, None, format!("{hostname} ESMTP Mamori"))
    }

    /// `221 2.0.0`: answer to QUIT.
    pub fn closing(hostname: &str) -> Self {
        Reply::new(
            221,
            Some((2, 0, 0)),
            format!("{hostname} closing connection"),
        )
    }

    /// `250 2.0.0 OK`: RSET, NOOP.
    pub fn ok() -> Self {
        Reply::new(250, Some((2, 0, 0)), "OK")
    }

    /// `250 2.1.0`: MAIL FROM accepted.
    pub fn sender_ok() -> Self {
        Reply::new(250, Some((2, 1, 0)), "Sender OK")
    }

    /// `250 2.1.5`: RCPT TO accepted.
    pub fn recipient_ok() -> Self {
        Reply::new(250, Some((2, 1, 5)), "Recipient OK")
    }

    /// `250 2.0.0 Queued as ID`: what a handler answers once the message is durably stored.
    pub fn queued(id: &str) -> Self {
        Reply::new(250, Some((2, 0, 0)), format!("Queued as {id}"))
    }

    /// `252 2.5.0`: VRFY is not answered (RFC 5321 section 3.5.3), but mail is accepted.
    pub fn cannot_verify() -> Self {
        Reply::new(
            252,
            Some((2, 5, 0)),
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }

    /// `214 2.0.0`: answer to HELP.
    pub fn help() -> Self {
        Reply::new(
            214,
            Some((2, 0, 0)),
            "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        )
    }

    /// `354`: go ahead with the message.
    pub fn start_data() -> Self {
        Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
    }

    /// `220 2.0.0`: answer to STARTTLS, after which the TLS handshake starts.
    pub fn ready_for_tls() -> Self {
        Reply::new(220, Some((2, 0, 0)), "Ready to start TLS")
    }

    /// `334 challenge`: the server waits for the next SASL response (base64 challenge).
    pub fn auth_challenge(challenge_base64: &str) -> Self {
        Reply::new(334, None, challenge_base64)
    }

    /// `235 2.7.0`: AUTH succeeded.
    pub fn auth_succeeded() -> Self {
        Reply::new(235, Some((2, 7, 0)), "Authentication successful")
    }

    /// `535 5.7.8`: wrong user name or password (RFC 4954).
    pub fn auth_failed() -> Self {
        Reply::new(535, Some((5, 7, 8)), "Authentication credentials invalid")
    }

    /// `501 5.0.0`: the client cancelled AUTH with `*` (RFC 4954 section 4).
    pub fn auth_cancelled() -> Self {
        Reply::new(501, Some((5, 0, 0)), "Authentication cancelled")
    }

    /// `501 5.5.2`: a SASL response that is not valid base64 or not a valid PLAIN message.
    pub fn auth_malformed() -> Self {
        Reply::new(
            501,
            Some((5, 5, 2)),
            "Cannot decode authentication response",
        )
    }

    /// `538 5.7.11`: AUTH on a connection that is not encrypted yet (RFC 4954 section 6).
    pub fn encryption_required() -> Self {
        Reply::new(
            538,
            Some((5, 7, 11)),
            "Encryption required for requested authentication mechanism; use STARTTLS first",
        )
    }

    /// `530 5.7.0`: MAIL before AUTH on a listener that requires authentication.
    pub fn auth_required() -> Self {
        Reply::new(530, Some((5, 7, 0)), "Authentication required")
    }

    /// `503 5.5.1`: a command out of order (RCPT before MAIL, DATA before RCPT, …).
    pub fn bad_sequence(text: impl Into<String>) -> Self {
        Reply::new(503, Some((5, 5, 1)), text)
    }

    /// `502 5.5.1`: a known command this listener does not offer (STARTTLS without a
    /// certificate, AUTH when authentication is off).
    pub fn not_implemented(text: impl Into<String>) -> Self {
        Reply::new(502, Some((5, 5, 1)), text)
    }

    /// `554 5.5.1`: DATA without any accepted recipient (RFC 5321 section 3.3).
    pub fn no_valid_recipients() -> Self {
        Reply::new(554, Some((5, 5, 1)), "No valid recipients")
    }

    /// `452 4.5.3`: one recipient more than the limit (RFC 5321 section 4.5.3.1.10); the
    /// client sends the rest in another transaction.
    pub fn too_many_recipients() -> Self {
        Reply::new(452, Some((4, 5, 3)), "Too many recipients")
    }

    /// `552 5.3.4`: the message (or its declared SIZE) is over the limit (RFC 1870).
    pub fn message_too_big(limit: u64) -> Self {
        Reply::new(
            552,
            Some((5, 3, 4)),
            format!("Message size exceeds fixed maximum message size of {limit} octets"),
        )
    }

    /// `500 5.5.6`: a command or message line over the limit.
    pub fn line_too_long() -> Self {
        Reply::new(500, Some((5, 5, 6)), "Line too long")
    }

    /// `421 4.4.2`: the client was silent too long, or the session hit its time limit; the
    /// server closes the connection after sending it.
    pub fn timeout(hostname: &str, why: &str) -> Self {
        Reply::new(
            421,
            Some((4, 4, 2)),
            format!("{hostname} {why}, closing connection"),
        )
    }

    /// `421 4.3.2`: the server is shutting down; the client retries later.
    pub fn shutting_down(hostname: &str) -> Self {
        Reply::new(
            421,
            Some((4, 3, 2)),
            format!("{hostname} shutting down, try again later"),
        )
    }

    /// `421 4.7.0`: too many connections, errors or failed logins; the connection closes.
    pub fn too_many(hostname: &str, what: &str) -> Self {
        Reply::new(
            421,
            Some((4, 7, 0)),
            format!("{hostname} too many {what}, closing connection"),
        )
    }

    /// `451 4.3.0`: the handler could not store the message; the client retries.
    pub fn local_error() -> Self {
        Reply::new(
            451,
            Some((4, 3, 0)),
            "Local error in processing, try again later",
        )
    }

    /// `550 5.1.1`: a recipient that does not exist.
    pub fn no_such_user() -> Self {
        Reply::new(550, Some((5, 1, 1)), "No such user here")
    }

    /// `550 5.7.1`: refused by policy (relaying denied, sender not allowed, …).
    pub fn policy_rejection(text: impl Into<String>) -> Self {
        Reply::new(550, Some((5, 7, 1)), text)
    }
}

impl fmt::Display for Reply {
    /// The reply on one line, as in logs: `550 5.7.1 Relaying denied`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// Why a line from a next hop is not a valid reply line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedReply {
    /// The line does not start with three digits followed by space, `-` or the end.
    #[error("not a reply line")]
    NotAReply,
    /// A continuation line carries another code than the first line.
    #[error("reply code changed from {first} to {line} inside a multi-line reply")]
    CodeChanged { first: u16, line: u16 },
    /// More lines in one reply than the parser accepts.
    #[error("reply has more than {max} lines")]
    TooManyLines { max: usize },
}

/// Assembles one reply from the lines a server sends, for the client.
///
/// Feed each line (without its line ending) to [`ReplyParser::push_line`]; it answers
/// `Ok(Some(reply))` after the last line of the reply.
#[derive(Debug)]
pub struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
    max_lines: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new(ReplyParser::DEFAULT_MAX_LINES)
    }
}

impl ReplyParser {
    /// EHLO replies list a dozen extensions; 100 lines is far beyond any honest server.
    pub const DEFAULT_MAX_LINES: usize = 100;

    /// A parser that refuses replies longer than `max_lines` lines.
    pub fn new(max_lines: usize) -> Self {
        ReplyParser {
            code: None,
            lines: Vec::new(),
            max_lines,
        }
    }

    /// Takes the next line. Non-UTF-8 text is replaced lossily; replies are for people.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, MalformedReply> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(MalformedReply::NotAReply);
        }
        let code = line[..3]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        if !(200..600).contains(&code) {
            return Err(MalformedReply::NotAReply);
        }
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(MalformedReply::NotAReply),
        };
        match self.code {
            Some(first) if first != code => {
                return Err(MalformedReply::CodeChanged { first, line: code })
            }
            _ => self.code = Some(code),
        }
        if self.lines.len() >= self.max_lines {
            return Err(MalformedReply::TooManyLines {
                max: self.max_lines,
            });
        }
        let text = line.get(4..).unwrap_or_default();
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if !last {
            return Ok(None);
        }
        let mut lines = std::mem::take(&mut self.lines);
        self.code = None;
        let enhanced = lines
            .first()
            .and_then(|first| split_enhanced(first, code))
            .map(|(enhanced, _)| enhanced);
        if let Some(enhanced) = enhanced {
            for line in &mut lines {
                if let Some((e, rest)) = split_enhanced(line, code) {
                    if e == enhanced {
                        *line = rest.to_string();
                    }
                }
            }
        }
        Ok(Some(Reply {
            code,
            enhanced,
            lines,
        }))
    }
}

/// Splits `"5.7.1 text"` into the enhanced code and the rest, when the code's class matches
/// the reply's first digit (so a text that merely starts with a version number stays text).
fn split_enhanced(text: &str, code: u16) -> Option<(EnhancedCode, &str)> {
    let (token, rest) = match text.split_once(' ') {
        Some((token, rest)) => (token, rest),
        None => (text, ""),
    };
    let mut parts = token.split('.');
    let class: u8 = parse_digits(parts.next()?, 1)?;
    let subject: u16 = parse_digits(parts.next()?, 3)?;
    let detail: u16 = parse_digits(parts.next()?, 3)?;
    if parts.next().is_some() || u16::from(class) != code / 100 {
        return None;
    }
    Some(((class, subject, detail), rest))
}

fn parse_digits<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply) -> String {
        String::from_utf8(reply.to_bytes()).expect("replies are UTF-8")
    }

    #[test]
    fn single_line_reply_has_code_enhanced_code_and_crlf() {
        assert_eq!(wire(&Reply::sender_ok()), "250 2.1.0 Sender OK\r\n");
        assert_eq!(
            wire(&Reply::greeting("mx.example.jp")),
            "220 mx.example.jp ESMTP Mamori\r\n"
        );
    }

    #[test]
    fn multi_line_reply_uses_dash_on_all_but_the_last_line() {
        let reply = Reply::with_lines(
            250,
            None,
            vec![
                "mx greets you".into(),
                "PIPELINING".into(),
                "SIZE 10".into(),
            ],
        );
        assert_eq!(
            wire(&reply),
            "250-mx greets you\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
        );
        let reply = Reply::with_lines(550, Some((5, 7, 1)), vec!["a".into(), "b".into()]);
        assert_eq!(wire(&reply), "550-5.7.1 a\r\n550 5.7.1 b\r\n");
    }

    #[test]
    fn control_characters_in_text_cannot_inject_lines() {
        let reply = Reply::new(550, Some((5, 7, 1)), "bad\r\n250 OK");
        assert_eq!(wire(&reply), "550 5.7.1 bad  250 OK\r\n");
    }

    #[test]
    fn empty_reply_is_one_line() {
        assert_eq!(wire(&Reply::with_lines(250, None, vec![])), "250 \r\n");
        assert_eq!(wire(&Reply::auth_challenge("")), "334 \r\n");
    }

    #[test]
    fn parser_reads_back_what_the_server_writes() {
        for reply in [
            Reply::sender_ok(),
            Reply::with_lines(250, None, vec!["mx".into(), "8BITMIME".into()]),
            Reply::with_lines(452, Some((4, 5, 3)), vec!["a".into(), "b".into()]),
            Reply::start_data(),
        ] {
            let bytes = reply.to_bytes();
            let mut parser = ReplyParser::default();
            let mut parsed = None;
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                parsed = parser.push_line(line).expect("valid line");
            }
            assert_eq!(parsed, Some(reply));
        }
    }

    #[test]
    fn parser_accepts_a_bare_code_and_rejects_garbage() {
        let mut parser = ReplyParser::default();
        assert_eq!(
            parser.push_line(b"250").expect("valid"),
            Some(Reply::with_lines(250, None, vec![String::new()]))
        );
        assert_eq!(parser.push_line(b"hello"), Err(MalformedReply::NotAReply));
        assert_eq!(parser.push_line(b"25x OK"), Err(MalformedReply::NotAReply));
        assert_eq!(parser.push_line(b"099 OK"), Err(MalformedReply::NotAReply));
        assert_eq!(parser.push_line(b"250_OK"), Err(MalformedReply::NotAReply));
    }

    #[test]
    fn parser_refuses_changed_codes_and_endless_replies() {
        let mut parser = ReplyParser::default();
        assert_eq!(parser.push_line(b"250-a"), Ok(None));
        assert_eq!(
            parser.push_line(b"251 b"),
            Err(MalformedReply::CodeChanged {
                first: 250,
                line: 251
            })
        );
        let mut parser = ReplyParser::new(3);
        for _ in 0..3 {
            assert_eq!(parser.push_line(b"250-x"), Ok(None));
        }
        assert_eq!(
            parser.push_line(b"250-x"),
            Err(MalformedReply::TooManyLines { max: 3 })
        );
    }

    #[test]
    fn enhanced_code_is_only_taken_when_its_class_matches() {
        let mut parser = ReplyParser::default();
        let reply = parser
            .push_line(b"250 1.2.3 version banner")
            .expect("valid")
            .expect("complete");
        assert_eq!(reply.enhanced, None);
        assert_eq!(reply.text(), "1.2.3 version banner");
    }

    #[test]
    fn display_is_one_line_for_logs() {
        let reply = Reply::with_lines(550, Some((5, 1, 1)), vec!["No".into(), "user".into()]);
        assert_eq!(reply.to_string(), "550 5.1.1 No user");
        assert!(reply.is_permanent() && !reply.is_transient() && !reply.is_positive());
    }
}
