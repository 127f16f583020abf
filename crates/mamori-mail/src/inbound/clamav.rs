//! `mail.virus`: what ClamAV found, through clamd's `INSTREAM` command.
//!
//! Scanning is I/O, so it is not part of [`crate::check`]: the gateway calls [`scan`] with
//! the raw message (clamd decodes MIME and archives itself) when a clamd address is
//! configured, and puts the signature name into
//! [`CheckContext::virus`](crate::CheckContext); this check turns it into a reason. The
//! client speaks the documented protocol — `zINSTREAM\0`, chunks each prefixed with a
//! 4-byte big-endian length, a zero-length chunk, then one reply ending in NUL — over TCP
//! (`127.0.0.1:3310`) or a Unix socket (`unix:/run/clamav/clamd.ctl`), with a timeout.

use crate::policy::{CheckContext, Policy};
use crate::report::Reason;
use crate::Error;
use std::io::{Read, Write};
use std::time::Duration;

pub const CODE: &str = "mail.virus";
const SCORE: f64 = 15.0;
const CHUNK: usize = 64 * 1024;
const MAX_REPLY: usize = 4096;

pub fn check(ctx: &CheckContext, policy: &Policy) -> Option<Reason> {
    let signature = ctx.virus.as_deref()?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("ウイルス対策エンジン（ClamAV）がこのメールからマルウェア「{signature}」を検出しました。"),
        format!("The antivirus engine (ClamAV) found malware in this mail: {signature}."),
    ))
}

/// Sends `raw` to clamd at `address` and returns the signature name when it finds
/// something, `None` when the mail is clean.
pub fn scan(address: &str, raw: &[u8], timeout: Duration) -> Result<Option<String>, Error> {
    let fail = |what: &str, e: std::io::Error| Error::Clamd(format!("{what} {address}: {e}"));
    if let Some(path) = address.strip_prefix("unix:") {
        #[cfg(unix)]
        {
            let mut s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| fail("connecting to", e))?;
            s.set_read_timeout(Some(timeout))
                .map_err(|e| fail("configuring", e))?;
            s.set_write_timeout(Some(timeout))
                .map_err(|e| fail("configuring", e))?;
            return instream(&mut s, raw, address);
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            return Err(Error::Clamd(format!(
                "{address}: Unix sockets are not available here"
            )));
        }
    }
    let addr = address
        .parse::<std::net::SocketAddr>()
        .map_err(|e| Error::Clamd(format!("{address}: not host:port or unix:/path ({e})")))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| fail("connecting to", e))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| fail("configuring", e))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| fail("configuring", e))?;
    instream(&mut s, raw, address)
}

fn instream(
    stream: &mut (impl Read + Write),
    raw: &[u8],
    address: &str,
) -> Result<Option<String>, Error> {
    let io = |e: std::io::Error| Error::Clamd(format!("talking to {address}: {e}"));
    stream.write_all(b"zINSTREAM\0").map_err(io)?;
    for chunk in raw.chunks(CHUNK) {
        stream
            .write_all(&(chunk.len() as u32).to_be_bytes())
            .map_err(io)?;
        stream.write_all(chunk).map_err(io)?;
    }
    stream.write_all(&0u32.to_be_bytes()).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while reply.len() < MAX_REPLY && !reply.contains(&0) {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    parse_reply(&reply).map_err(|m| Error::Clamd(format!("{address}: {m}")))
}

/// `stream: OK`, `stream: Name FOUND`, or an error line.
pub fn parse_reply(reply: &[u8]) -> Result<Option<String>, String> {
    let text = String::from_utf8_lossy(reply);
    let line = text.trim_end_matches(['\0', '\n', '\r']).trim();
    let body = line.strip_prefix("stream:").map(str::trim).unwrap_or(line);
    if body == "OK" {
        Ok(None)
    } else if let Some(name) = body.strip_suffix("FOUND") {
        Ok(Some(name.trim().to_string()))
    } else {
        Err(format!("unexpected reply {line:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_understood() {
        assert_eq!(parse_reply(b"stream: OK\0"), Ok(None));
        assert_eq!(
            parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0"),
            Ok(Some("Win.Test.EICAR_HDB-1".into()))
        );
        assert!(parse_reply(b"INSTREAM size limit exceeded. ERROR\0").is_err());
    }

    #[test]
    fn a_finding_becomes_a_reason() {
        let ctx = CheckContext {
            virus: Some("Win.Trojan.Emotet-1".into()),
            ..CheckContext::default()
        };
        let r = check(&ctx, &Policy::default()).expect("reason");
        assert_eq!(r.code, CODE);
        assert!(r.message_ja.contains("Win.Trojan.Emotet-1"));
        assert!(check(&CheckContext::default(), &Policy::default()).is_none());
    }
}
