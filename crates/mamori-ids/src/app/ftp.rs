//! FTP control connections: each command paired with its reply.
//!
//! Client lines are commands (`USER anonymous`), server lines replies (`331 Password
//! required`, multi-line replies `230-…` up to `230 …`). A command is handed out with its
//! reply lines and completion codes once a final (non-`1xx`) reply arrives, as Suricata's
//! EVE `ftp` record: `command`, `command_data`, `reply`, `completion_code`, `reply_received`,
//! and for `PASV`/`EPSV` replies and `PORT`/`EPRT` commands the data connection's
//! `dynamic_port` and `mode`. `AUTH TLS` answered with `234` hands over to TLS. Data
//! connections themselves are not followed here.

use super::line::{printable, trim_eol, trim_ws, LineReader};
use super::{AppConfig, AppEvent, Fault, Next, StreamParser, Timestamp};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// Commands waiting for their reply.
pub const MAX_PENDING: usize = 32;
/// Reply lines kept per command.
pub const MAX_REPLY_LINES: usize = 16;

/// A command and its reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FtpCommand {
    pub command: Vec<u8>,
    pub command_data: Vec<u8>,
    pub reply: Vec<Vec<u8>>,
    pub completion_code: Vec<Vec<u8>>,
    pub reply_received: bool,
    pub dynamic_port: Option<u16>,
    /// `passive` or `active`, when a data connection was announced.
    pub mode: Option<&'static str>,
}

impl FtpCommand {
    /// The EVE `ftp` object.
    pub fn to_eve(&self) -> Value {
        let mut o = Map::new();
        o.insert("command".into(), json!(printable(&self.command)));
        if !self.command_data.is_empty() {
            o.insert("command_data".into(), json!(printable(&self.command_data)));
        }
        let texts = |v: &[Vec<u8>]| v.iter().map(|l| printable(l)).collect::<Vec<_>>();
        if !self.reply.is_empty() {
            o.insert("reply".into(), json!(texts(&self.reply)));
        }
        if !self.completion_code.is_empty() {
            o.insert(
                "completion_code".into(),
                json!(texts(&self.completion_code)),
            );
        }
        if let Some(port) = self.dynamic_port {
            o.insert("dynamic_port".into(), json!(port));
        }
        if let Some(mode) = self.mode {
            o.insert("mode".into(), json!(mode));
        }
        o.insert(
            "reply_received".into(),
            json!(if self.reply_received { "yes" } else { "no" }),
        );
        Value::Object(o)
    }
}

/// The port of `h1,h2,h3,h4,p1,p2` (PORT argument, PASV reply).
fn port_from_tuple(text: &[u8]) -> Option<u16> {
    let start = text.iter().position(u8::is_ascii_digit)?;
    let nums: Vec<u16> = text[start..]
        .split(|b| *b == b',')
        .take(6)
        .map(|n| {
            let digits: Vec<u8> = n.iter().copied().take_while(u8::is_ascii_digit).collect();
            std::str::from_utf8(&digits).ok()?.parse::<u16>().ok()
        })
        .collect::<Option<Vec<u16>>>()?;
    match nums.as_slice() {
        [_, _, _, _, p1, p2] if *p1 < 256 && *p2 < 256 => Some(p1 * 256 + p2),
        _ => None,
    }
}

/// The port of `|||port|` (EPSV reply) or `|1|addr|port|` (EPRT argument).
fn port_from_extended(text: &[u8]) -> Option<u16> {
    let start = text.iter().position(|b| *b == b'|')?;
    let fields: Vec<&[u8]> = text[start + 1..].split(|b| *b == b'|').collect();
    let port = fields.get(2)?;
    std::str::from_utf8(port).ok()?.parse().ok()
}

/// The FTP parser of one flow.
pub(crate) struct FtpParser {
    lines: [LineReader; 2],
    pending: VecDeque<FtpCommand>,
    /// The code of a multi-line reply in progress.
    multi: Option<Vec<u8>>,
}

impl FtpParser {
    pub(crate) fn new(config: &AppConfig) -> Self {
        Self {
            lines: [
                LineReader::new(config.max_buffer),
                LineReader::new(config.max_buffer),
            ],
            pending: VecDeque::new(),
            multi: None,
        }
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<AppEvent>) {
        let line = trim_eol(line);
        if trim_ws(line).is_empty() {
            return;
        }
        let end = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
        let mut cmd = FtpCommand {
            command: line[..end].to_ascii_uppercase(),
            command_data: trim_ws(&line[end..]).to_vec(),
            ..FtpCommand::default()
        };
        match cmd.command.as_slice() {
            b"PORT" => {
                cmd.dynamic_port = port_from_tuple(&cmd.command_data);
                cmd.mode = Some("active");
            }
            b"EPRT" => {
                cmd.dynamic_port = port_from_extended(&cmd.command_data);
                cmd.mode = Some("active");
            }
            _ => {}
        }
        if self.pending.len() >= MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                out.push(AppEvent::Ftp(Box::new(old)));
            }
        }
        self.pending.push_back(cmd);
    }

    /// A reply line; `true` when `AUTH TLS` was accepted.
    fn reply(&mut self, line: &[u8], out: &mut Vec<AppEvent>) -> bool {
        let line = trim_eol(line);
        let code = line
            .get(..3)
            .filter(|c| c.iter().all(u8::is_ascii_digit))
            .map(<[u8]>::to_vec);
        let sep = line.get(3).copied();
        let text = line.get(4..).unwrap_or_default();
        let last = match (&self.multi, &code) {
            (Some(open), Some(code)) => code == open && sep != Some(b'-'),
            (Some(_), None) => false,
            (None, Some(code)) => {
                if sep == Some(b'-') {
                    self.multi = Some(code.clone());
                    false
                } else {
                    true
                }
            }
            (None, None) => true,
        };
        if last {
            self.multi = None;
        }
        let Some(cmd) = self.pending.front_mut() else {
            // The greeting, or a reply to something we did not see.
            return false;
        };
        if cmd.reply.len() < MAX_REPLY_LINES {
            cmd.reply
                .push(if code.is_some() { text } else { line }.to_vec());
        }
        let Some(code) = code.filter(|_| last) else {
            return false;
        };
        cmd.completion_code.push(code.clone());
        match code.as_slice() {
            b"227" => {
                cmd.dynamic_port = port_from_tuple(text);
                cmd.mode = Some("passive");
            }
            b"229" => {
                cmd.dynamic_port = port_from_extended(text);
                cmd.mode = Some("passive");
            }
            _ => {}
        }
        if code.first() == Some(&b'1') {
            // Preliminary: the final reply follows.
            return false;
        }
        let starttls = code == b"234" && cmd.command == b"AUTH";
        if let Some(mut done) = self.pending.pop_front() {
            done.reply_received = true;
            out.push(AppEvent::Ftp(Box::new(done)));
        }
        starttls
    }
}

impl StreamParser for FtpParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        _ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let mut pos = 0;
        let dir = usize::from(to_server);
        while let Some(line) = self.lines[dir].next_line(data, &mut pos)? {
            let line = line.to_vec();
            if to_server {
                self.command(&line, out);
            } else if self.reply(&line, out) {
                return Ok(Next::StartTls { consumed: pos });
            }
        }
        Ok(Next::Continue)
    }

    fn gap(&mut self, _: bool, len: u64, _: &mut Vec<AppEvent>) -> Result<(), Fault> {
        Err(Fault::Gap(len))
    }

    fn finish(&mut self, out: &mut Vec<AppEvent>) {
        while let Some(cmd) = self.pending.pop_front() {
            out.push(AppEvent::Ftp(Box::new(cmd)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn run(chunks: &[(bool, &[u8])]) -> Vec<FtpCommand> {
        let mut p = FtpParser::new(&AppConfig::default());
        let mut out = Vec::new();
        for (dir, data) in chunks {
            p.feed(*dir, data, UNIX_EPOCH, &mut out).unwrap();
        }
        p.finish(&mut out);
        out.into_iter()
            .filter_map(|e| match e {
                AppEvent::Ftp(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn commands_pair_with_replies() {
        let cmds = run(&[
            (false, b"220 FTP ready\r\n"),
            (true, b"USER anonymous\r\n"),
            (false, b"331 Password required\r\n"),
            (true, b"PASS x\r\nPASV\r\n"),
            (false, b"230-Welcome\r\n more text\r\n230 Logged in\r\n"),
            (
                false,
                b"227 Entering Passive Mode (192,168,1,2,195,80).\r\n",
            ),
            (true, b"RETR f\r\n"),
            (false, b"150 Opening\r\n226 Done\r\n"),
            (true, b"QUIT\r\n"),
        ]);
        assert_eq!(cmds.len(), 5);
        assert_eq!(
            cmds[0].to_eve(),
            json!({"command": "USER", "command_data": "anonymous", "reply": ["Password required"],
                   "completion_code": ["331"], "reply_received": "yes"})
        );
        assert_eq!(cmds[1].reply.len(), 3);
        assert_eq!(cmds[1].completion_code, vec![b"230".to_vec()]);
        assert_eq!(cmds[2].dynamic_port, Some(195 * 256 + 80));
        assert_eq!(cmds[2].mode, Some("passive"));
        assert_eq!(
            cmds[3].completion_code,
            vec![b"150".to_vec(), b"226".to_vec()]
        );
        assert!(!cmds[4].reply_received);
    }

    #[test]
    fn extended_ports_and_auth_tls() {
        assert_eq!(
            port_from_extended(b"Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(port_from_extended(b"|1|132.235.1.2|6275|"), Some(6275));
        assert_eq!(port_from_tuple(b"10,0,0,1,4,1"), Some(1025));
        assert_eq!(port_from_tuple(b"10,0,0,1,400,1"), None);
        let mut p = FtpParser::new(&AppConfig::default());
        let mut out = Vec::new();
        p.feed(true, b"AUTH TLS\r\n", UNIX_EPOCH, &mut out).unwrap();
        let next = p
            .feed(false, b"234 AUTH TLS OK.\r\n", UNIX_EPOCH, &mut out)
            .unwrap();
        assert_eq!(next, Next::StartTls { consumed: 18 });
    }
}
