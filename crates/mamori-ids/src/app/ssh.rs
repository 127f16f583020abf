//! SSH identification banners (`SSH-2.0-OpenSSH_9.6 comment`), client and server.
//!
//! Only the banners are read: protocol version and software version, for EVE `ssh` and the
//! `ssh.proto` / `ssh.software` buffers. A server may send other lines before its banner
//! (RFC 4253 §4.2); up to [`MAX_PRE_BANNER_LINES`] are skipped. Everything after the banners
//! is the binary packet protocol and is not parsed (no key exchange, no HASSH).

use super::line::{printable, trim_eol, LineReader};
use super::{AppEvent, Fault, Next, StreamParser, Timestamp};
use serde_json::{json, Map, Value};

/// Lines a server may send before its banner.
pub const MAX_PRE_BANNER_LINES: usize = 16;
/// Longest banner line accepted (RFC 4253 allows 255).
pub const MAX_BANNER: usize = 1024;

/// One side's banner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshBanner {
    /// `2.0`, `1.99`.
    pub proto_version: Vec<u8>,
    /// `OpenSSH_9.6p1`.
    pub software_version: Vec<u8>,
    /// Text after the software version, if any.
    pub comments: Vec<u8>,
}

/// Both banners of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshSession {
    pub client: Option<SshBanner>,
    pub server: Option<SshBanner>,
}

/// The sticky buffers: `ssh.proto` and `ssh.software` of each side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshBuffers<'a> {
    pub client_proto: Option<&'a [u8]>,
    pub client_software: Option<&'a [u8]>,
    pub server_proto: Option<&'a [u8]>,
    pub server_software: Option<&'a [u8]>,
}

impl SshSession {
    pub fn buffers(&self) -> SshBuffers<'_> {
        SshBuffers {
            client_proto: self.client.as_ref().map(|b| b.proto_version.as_slice()),
            client_software: self.client.as_ref().map(|b| b.software_version.as_slice()),
            server_proto: self.server.as_ref().map(|b| b.proto_version.as_slice()),
            server_software: self.server.as_ref().map(|b| b.software_version.as_slice()),
        }
    }

    /// The EVE `ssh` object.
    pub fn to_eve(&self) -> Value {
        let mut o = Map::new();
        for (key, banner) in [("client", &self.client), ("server", &self.server)] {
            if let Some(b) = banner {
                o.insert(
                    key.into(),
                    json!({
                        "proto_version": printable(&b.proto_version),
                        "software_version": printable(&b.software_version),
                    }),
                );
            }
        }
        Value::Object(o)
    }
}

/// Parses a banner line (without line ending): `SSH-proto-software[ comments]`.
pub fn parse_banner(line: &[u8]) -> Option<SshBanner> {
    let rest = line.strip_prefix(b"SSH-")?;
    let dash = rest.iter().position(|b| *b == b'-')?;
    let (proto, rest) = (&rest[..dash], &rest[dash + 1..]);
    let space = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    Some(SshBanner {
        proto_version: proto.to_vec(),
        software_version: rest[..space].to_vec(),
        comments: rest.get(space + 1..).unwrap_or_default().to_vec(),
    })
}

/// The SSH banner parser of one flow.
pub(crate) struct SshParser {
    lines: [LineReader; 2],
    skipped: [usize; 2],
    session: SshSession,
    logged: bool,
}

impl SshParser {
    pub(crate) fn new() -> Self {
        Self {
            lines: [LineReader::new(MAX_BANNER), LineReader::new(MAX_BANNER)],
            skipped: [0; 2],
            session: SshSession::default(),
            logged: false,
        }
    }

    fn banner(&self, to_server: bool) -> bool {
        if to_server {
            self.session.client.is_some()
        } else {
            self.session.server.is_some()
        }
    }
}

impl StreamParser for SshParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        _ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let dir = usize::from(to_server);
        let mut pos = 0;
        while !self.banner(to_server) {
            let Some(line) = self.lines[dir].next_line(data, &mut pos)? else {
                break;
            };
            match parse_banner(trim_eol(line)) {
                Some(banner) if to_server => self.session.client = Some(banner),
                Some(banner) => self.session.server = Some(banner),
                None if !to_server && self.skipped[dir] < MAX_PRE_BANNER_LINES => {
                    self.skipped[dir] += 1;
                }
                None => return Err(Fault::Malformed("no SSH banner")),
            }
        }
        if !self.logged && self.session.client.is_some() && self.session.server.is_some() {
            self.logged = true;
            out.push(AppEvent::Ssh(Box::new(self.session.clone())));
        }
        Ok(Next::Continue)
    }

    fn gap(&mut self, to_server: bool, len: u64, _: &mut Vec<AppEvent>) -> Result<(), Fault> {
        // After the banner the stream is opaque to us anyway.
        if self.banner(to_server) {
            Ok(())
        } else {
            Err(Fault::Gap(len))
        }
    }

    fn finish(&mut self, out: &mut Vec<AppEvent>) {
        if !self.logged && (self.session.client.is_some() || self.session.server.is_some()) {
            self.logged = true;
            out.push(AppEvent::Ssh(Box::new(self.session.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const SERVER: &[u8] = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n\x00\x00\x01\x14\x0a\x14";
    const CLIENT: &[u8] = b"SSH-2.0-PuTTY_Release_0.80\r\n";

    fn run(chunks: &[(bool, &[u8])]) -> Result<Vec<AppEvent>, Fault> {
        let mut p = SshParser::new();
        let mut out = Vec::new();
        for (dir, data) in chunks {
            p.feed(*dir, data, UNIX_EPOCH, &mut out)?;
        }
        p.finish(&mut out);
        Ok(out)
    }

    #[test]
    fn both_banners_make_one_record() {
        let out = run(&[(false, SERVER), (true, CLIENT)]).unwrap();
        assert_eq!(out.len(), 1);
        let AppEvent::Ssh(s) = &out[0] else {
            panic!("{out:?}");
        };
        assert_eq!(
            s.to_eve(),
            json!({"client": {"proto_version": "2.0", "software_version": "PuTTY_Release_0.80"},
                   "server": {"proto_version": "2.0", "software_version": "OpenSSH_9.6p1"}})
        );
        assert_eq!(s.buffers().server_software, Some(&b"OpenSSH_9.6p1"[..]));
        assert_eq!(s.server.as_ref().unwrap().comments, b"Ubuntu-3ubuntu13");
        for split in 0..=SERVER.len() {
            let again = run(&[
                (false, &SERVER[..split]),
                (false, &SERVER[split..]),
                (true, CLIENT),
            ]);
            assert_eq!(
                format!("{:?}", again.unwrap()),
                format!("{out:?}"),
                "split {split}"
            );
        }
    }

    #[test]
    fn server_lines_before_the_banner_are_skipped() {
        let out = run(&[
            (false, b"Welcome\r\nSSH-1.99-Cisco-1.25\r\n"),
            (true, CLIENT),
        ])
        .unwrap();
        let AppEvent::Ssh(s) = &out[0] else {
            panic!("{out:?}");
        };
        assert_eq!(s.server.as_ref().unwrap().proto_version, b"1.99");
    }

    #[test]
    fn bogus_banners_and_gaps() {
        assert!(run(&[(true, b"HELLO\r\n")]).is_err());
        assert_eq!(run(&[(true, &[b'S'; 2000])]).unwrap_err(), Fault::TooLong);
        assert_eq!(parse_banner(b"SSH-2.0"), None);
        let mut p = SshParser::new();
        assert!(p.gap(true, 1, &mut Vec::new()).is_err());
        p.feed(true, CLIENT, UNIX_EPOCH, &mut Vec::new()).unwrap();
        assert!(p.gap(true, 1, &mut Vec::new()).is_ok());
    }
}
