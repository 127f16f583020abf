//! SMTP sessions as seen on the wire: commands, replies and the envelope.
//!
//! Client lines are commands; `HELO`/`EHLO`, `MAIL FROM`, `RCPT TO` fill the envelope of
//! the current transaction (EVE `smtp`: `helo`, `mail_from`, `rcpt_to`). After `DATA` is
//! answered with `354`, the message is skipped line by line — only the start of each line is
//! looked at, so long lines cost no memory — until the `.` line; `BDAT` chunks are skipped
//! by length. A transaction is handed out when its message ends, on `RSET`, `QUIT`, a new
//! `MAIL FROM`, or the end of the flow. `STARTTLS` answered with `220` hands the flow to the
//! TLS parser. The message itself (MIME, attachments) is not parsed here: that is the mail
//! engine's job.

use super::line::{printable, trim_eol, trim_ws, LineReader};
use super::{AppConfig, AppEvent, Fault, Next, StreamParser, Timestamp};
use memchr::memchr;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// Recipients kept per transaction; more are counted.
pub const MAX_RECIPIENTS: usize = 1024;

/// One mail transaction's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTransaction {
    pub tx_id: u64,
    /// When `MAIL FROM` (or the first envelope command) was seen.
    pub ts: Timestamp,
    pub helo: Option<Vec<u8>>,
    /// The `MAIL FROM` address as sent, angle brackets included, parameters left out.
    pub mail_from: Option<Vec<u8>>,
    pub rcpt_to: Vec<Vec<u8>>,
    pub rcpt_dropped: u32,
    /// The message data ended with `.` (or the last `BDAT`).
    pub data_complete: bool,
    /// Message bytes seen.
    pub data_len: u64,
}

/// The sticky buffers of an SMTP transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpBuffers<'a> {
    pub helo: Option<&'a [u8]>,
    pub mail_from: Option<&'a [u8]>,
    pub rcpt_to: Vec<&'a [u8]>,
}

impl SmtpTransaction {
    pub fn buffers(&self) -> SmtpBuffers<'_> {
        SmtpBuffers {
            helo: self.helo.as_deref(),
            mail_from: self.mail_from.as_deref(),
            rcpt_to: self.rcpt_to.iter().map(Vec::as_slice).collect(),
        }
    }

    /// The EVE `smtp` object.
    pub fn to_eve(&self) -> Value {
        let mut o = Map::new();
        if let Some(helo) = &self.helo {
            o.insert("helo".into(), json!(printable(helo)));
        }
        if let Some(from) = &self.mail_from {
            o.insert("mail_from".into(), json!(printable(from)));
        }
        if !self.rcpt_to.is_empty() {
            let rcpt: Vec<String> = self.rcpt_to.iter().map(|r| printable(r)).collect();
            o.insert("rcpt_to".into(), json!(rcpt));
        }
        Value::Object(o)
    }
}

/// Commands sent and not yet answered.
pub const MAX_AWAITING: usize = 128;

/// What a command's reply decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Data,
    StartTls,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientMode {
    Commands,
    /// Inside DATA: looking for the `.` line.
    Data,
    /// Inside a BDAT chunk: bytes left, and whether it is the last.
    Bdat(u64, bool),
}

/// The argument of `MAIL FROM:` / `RCPT TO:`: up to the first space, as Suricata logs it.
fn path_argument(rest: &[u8]) -> Vec<u8> {
    let rest = trim_ws(rest);
    let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    rest[..end].to_vec()
}

fn strip_prefix_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    line.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &line[prefix.len()..])
}

/// The SMTP parser of one flow.
pub(crate) struct SmtpParser {
    lines: [LineReader; 2],
    mode: ClientMode,
    /// The first bytes of the current message line (at most 3) and its length so far.
    data_line: Vec<u8>,
    /// Commands waiting for their final reply, oldest first (pipelining).
    awaiting: VecDeque<Awaiting>,
    helo: Option<Vec<u8>>,
    tx: Option<SmtpTransaction>,
    next_id: u64,
}

impl SmtpParser {
    pub(crate) fn new(config: &AppConfig) -> Self {
        Self {
            lines: [
                LineReader::new(config.max_buffer),
                LineReader::new(config.max_buffer),
            ],
            mode: ClientMode::Commands,
            data_line: Vec::new(),
            awaiting: VecDeque::new(),
            helo: None,
            tx: None,
            next_id: 0,
        }
    }

    fn tx(&mut self, ts: Timestamp) -> &mut SmtpTransaction {
        let helo = self.helo.clone();
        let next_id = &mut self.next_id;
        self.tx.get_or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            SmtpTransaction {
                tx_id: id,
                ts,
                helo,
                mail_from: None,
                rcpt_to: Vec::new(),
                rcpt_dropped: 0,
                data_complete: false,
                data_len: 0,
            }
        })
    }

    fn close_tx(&mut self, out: &mut Vec<AppEvent>) {
        if let Some(tx) = self.tx.take() {
            out.push(AppEvent::Smtp(Box::new(tx)));
        }
    }

    fn command(&mut self, line: &[u8], ts: Timestamp, out: &mut Vec<AppEvent>) {
        let line = trim_eol(line);
        let verb_end = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
        let verb = line[..verb_end].to_ascii_uppercase();
        let arg = trim_ws(&line[verb_end..]);
        let awaiting = match verb.as_slice() {
            b"DATA" => Awaiting::Data,
            b"STARTTLS" => Awaiting::StartTls,
            _ => Awaiting::Other,
        };
        if self.awaiting.len() >= MAX_AWAITING {
            self.awaiting.pop_front();
        }
        self.awaiting.push_back(awaiting);
        match verb.as_slice() {
            b"HELO" | b"EHLO" => {
                let end = arg.iter().position(|b| *b == b' ').unwrap_or(arg.len());
                self.helo = Some(arg[..end].to_vec());
            }
            b"MAIL" => {
                if let Some(rest) = strip_prefix_ci(arg, b"FROM:") {
                    self.close_tx(out);
                    let from = path_argument(rest);
                    self.tx(ts).mail_from = Some(from);
                }
            }
            b"RCPT" => {
                if let Some(rest) = strip_prefix_ci(arg, b"TO:") {
                    let to = path_argument(rest);
                    let tx = self.tx(ts);
                    if tx.rcpt_to.len() < MAX_RECIPIENTS {
                        tx.rcpt_to.push(to);
                    } else {
                        tx.rcpt_dropped = tx.rcpt_dropped.saturating_add(1);
                    }
                }
            }
            b"BDAT" => {
                let mut words = arg.split(|b| *b == b' ').filter(|w| !w.is_empty());
                let size = words
                    .next()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse::<u64>().ok());
                let last = words
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"LAST"));
                if let Some(size) = size {
                    self.tx(ts);
                    self.mode = ClientMode::Bdat(size, last);
                }
            }
            b"RSET" | b"QUIT" => self.close_tx(out),
            _ => {}
        }
    }

    /// Message bytes after `354`: returns how many belong to the message (up to and
    /// including the `.` line).
    fn data(&mut self, data: &[u8], out: &mut Vec<AppEvent>) -> usize {
        let mut start = 0;
        while let Some(i) = memchr(b'\n', &data[start..]) {
            let rest = &data[start..start + i];
            let short = self.data_line.len() + rest.len() <= 2;
            if short {
                self.data_line.extend_from_slice(rest);
            }
            let is_end = short && trim_eol(&self.data_line) == b".";
            let is_end = is_end || (short && self.data_line == b".\r");
            self.data_line.clear();
            start += i + 1;
            if is_end {
                self.end_data(start as u64, out);
                return start;
            }
        }
        let rest = &data[start..];
        let room = 3usize.saturating_sub(self.data_line.len());
        self.data_line
            .extend_from_slice(&rest[..rest.len().min(room)]);
        if let Some(tx) = self.tx.as_mut() {
            tx.data_len += data.len() as u64;
        }
        data.len()
    }

    fn end_data(&mut self, len: u64, out: &mut Vec<AppEvent>) {
        self.mode = ClientMode::Commands;
        if let Some(tx) = self.tx.as_mut() {
            tx.data_len += len;
            tx.data_complete = true;
        }
        self.close_tx(out);
    }

    /// A server reply line; `true` when STARTTLS was accepted.
    fn reply(&mut self, line: &[u8]) -> bool {
        let line = trim_eol(line);
        let code = line.get(..3).filter(|c| c.iter().all(u8::is_ascii_digit));
        let Some(code) = code else {
            return false;
        };
        if line.get(3) == Some(&b'-') {
            return false;
        }
        match self.awaiting.pop_front() {
            Some(Awaiting::Data) if code == b"354" => {
                self.mode = ClientMode::Data;
                self.data_line.clear();
                false
            }
            Some(Awaiting::StartTls) => code == b"220",
            // The greeting, or replies to commands we did not see.
            _ => false,
        }
    }
}

impl StreamParser for SmtpParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let mut pos = 0;
        if !to_server {
            while let Some(line) = self.lines[0].next_line(data, &mut pos)? {
                let line = line.to_vec();
                if self.reply(&line) {
                    self.close_tx(out);
                    return Ok(Next::StartTls { consumed: pos });
                }
            }
            return Ok(Next::Continue);
        }
        while pos < data.len() {
            match self.mode {
                ClientMode::Data => pos += self.data(&data[pos..], out),
                ClientMode::Bdat(left, last) => {
                    let take =
                        usize::try_from(left).map_or(data.len() - pos, |l| l.min(data.len() - pos));
                    pos += take;
                    if let Some(tx) = self.tx.as_mut() {
                        tx.data_len += take as u64;
                    }
                    let left = left - take as u64;
                    self.mode = ClientMode::Bdat(left, last);
                    if left == 0 {
                        self.mode = ClientMode::Commands;
                        if last {
                            self.end_data(0, out);
                        }
                    }
                }
                ClientMode::Commands => {
                    let Some(line) = self.lines[1].next_line(data, &mut pos)? else {
                        break;
                    };
                    let line = line.to_vec();
                    self.command(&line, ts, out);
                }
            }
        }
        Ok(Next::Continue)
    }

    fn gap(&mut self, to_server: bool, len: u64, _: &mut Vec<AppEvent>) -> Result<(), Fault> {
        match self.mode {
            // Missing message bytes do not matter unless they hold the end.
            ClientMode::Data if to_server => {
                self.data_line.clear();
                self.data_line.extend_from_slice(b"xxx");
                Ok(())
            }
            ClientMode::Bdat(left, last) if to_server && left >= len => {
                self.mode = ClientMode::Bdat(left - len, last);
                Ok(())
            }
            _ => Err(Fault::Gap(len)),
        }
    }

    fn finish(&mut self, out: &mut Vec<AppEvent>) {
        self.close_tx(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn run(p: &mut SmtpParser, chunks: &[(bool, &[u8])]) -> (Vec<SmtpTransaction>, Next) {
        let mut out = Vec::new();
        let mut last = Next::Continue;
        for (dir, data) in chunks {
            last = p.feed(*dir, data, UNIX_EPOCH, &mut out).unwrap();
            if last != Next::Continue {
                break;
            }
        }
        p.finish(&mut out);
        let txs = out
            .into_iter()
            .filter_map(|e| match e {
                AppEvent::Smtp(tx) => Some(*tx),
                _ => None,
            })
            .collect();
        (txs, last)
    }

    fn parser() -> SmtpParser {
        SmtpParser::new(&AppConfig::default())
    }

    const CLIENT: &[u8] = b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=100\r\n\
RCPT TO:<b@example.org>\r\nrcpt to: <c@example.org>\r\nDATA\r\n";
    const BODY: &[u8] =
        b"Subject: hi\r\n\r\n..leading dot\r\nRCPT TO:<not@command>\r\n.\r\nQUIT\r\n";

    #[test]
    fn envelope_and_data() {
        let (txs, _) = run(
            &mut parser(),
            &[
                (false, b"220 mx ESMTP\r\n"),
                (true, CLIENT),
                (
                    false,
                    b"250-mx\r\n250 PIPELINING\r\n250 OK\r\n250 OK\r\n250 OK\r\n354 go\r\n",
                ),
                (true, BODY),
                (false, b"250 queued\r\n221 bye\r\n"),
            ],
        );
        assert_eq!(txs.len(), 1);
        assert_eq!(
            txs[0].to_eve(),
            json!({"helo": "client.example", "mail_from": "<a@example.com>",
                   "rcpt_to": ["<b@example.org>", "<c@example.org>"]})
        );
        assert!(txs[0].data_complete);
        assert_eq!(txs[0].data_len, 56);
        assert_eq!(txs[0].buffers().rcpt_to.len(), 2);
    }

    #[test]
    fn message_split_at_every_byte() {
        let (whole, _) = run(
            &mut parser(),
            &[(true, CLIENT), (false, b"354 go\r\n"), (true, BODY)],
        );
        for split in 0..=BODY.len() {
            let (txs, _) = run(
                &mut parser(),
                &[
                    (true, CLIENT),
                    (false, b"354 go\r\n"),
                    (true, &BODY[..split]),
                    (true, &BODY[split..]),
                ],
            );
            assert_eq!(txs, whole, "split {split}");
        }
    }

    #[test]
    fn rejected_data_keeps_reading_commands() {
        let (txs, _) = run(
            &mut parser(),
            &[
                (true, b"MAIL FROM:<a@x>\r\nDATA\r\n"),
                (false, b"554 no valid recipients\r\n"),
                (true, b"MAIL FROM:<b@x>\r\n"),
            ],
        );
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[1].mail_from.as_deref(), Some(&b"<b@x>"[..]));
    }

    #[test]
    fn bdat_chunks_are_skipped_by_length() {
        let (txs, _) = run(
            &mut parser(),
            &[(
                true,
                b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 5 LAST\r\n.\r\n.\r\nRSET\r\n",
            )],
        );
        assert_eq!(txs.len(), 1);
        assert!(txs[0].data_complete);
        assert_eq!(txs[0].data_len, 5);
    }

    #[test]
    fn starttls_hands_over() {
        let mut p = parser();
        let (_, next) = run(
            &mut p,
            &[
                (true, b"EHLO x\r\nSTARTTLS\r\n"),
                (false, b"250 ok\r\n220 2.0.0 Ready to start TLS\r\n"),
            ],
        );
        assert_eq!(next, Next::StartTls { consumed: 38 });
    }

    #[test]
    fn gaps_inside_data_are_tolerated() {
        let mut p = parser();
        let mut out = Vec::new();
        p.feed(true, b"MAIL FROM:<a@x>\r\nDATA\r\n", UNIX_EPOCH, &mut out)
            .unwrap();
        p.feed(false, b"250 ok\r\n354 go\r\n", UNIX_EPOCH, &mut out)
            .unwrap();
        p.feed(true, b"line\r\n", UNIX_EPOCH, &mut out).unwrap();
        p.gap(true, 100, &mut out).unwrap();
        p.feed(true, b"tail\r\n.\r\n", UNIX_EPOCH, &mut out)
            .unwrap();
        assert!(matches!(&out[0], AppEvent::Smtp(tx) if tx.data_complete));
        assert!(p.gap(true, 1, &mut out).is_err());
    }
}
