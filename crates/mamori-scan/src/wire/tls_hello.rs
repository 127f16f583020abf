//! A minimal TLS ClientHello for an old protocol version and the parse of the server's
//! first record, enough to tell whether the server would speak that version.
//!
//! We write the hello ourselves because rustls (rightly) cannot offer TLS 1.0 or 1.1.

/// An old protocol version to probe for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldVersion {
    Tls10,
    Tls11,
}

impl OldVersion {
    pub fn wire(self) -> u16 {
        match self {
            OldVersion::Tls10 => 0x0301,
            OldVersion::Tls11 => 0x0302,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OldVersion::Tls10 => "TLS 1.0",
            OldVersion::Tls11 => "TLS 1.1",
        }
    }
}

/// Classic suites any TLS 1.0/1.1 server of the last twenty years supports.
const SUITES: [u16; 10] = [
    0xc014, // ECDHE_RSA_WITH_AES_256_CBC_SHA
    0xc013, // ECDHE_RSA_WITH_AES_128_CBC_SHA
    0xc00a, // ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0xc009, // ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0x0039, // DHE_RSA_WITH_AES_256_CBC_SHA
    0x0033, // DHE_RSA_WITH_AES_128_CBC_SHA
    0x0035, // RSA_WITH_AES_256_CBC_SHA
    0x002f, // RSA_WITH_AES_128_CBC_SHA
    0x000a, // RSA_WITH_3DES_EDE_CBC_SHA
    0x00ff, // EMPTY_RENEGOTIATION_INFO_SCSV
];

/// A complete TLS record holding a ClientHello for `version`. `sni` is sent when it is a
/// DNS name (not an IP address), as servers with several sites need it.
pub fn client_hello(version: OldVersion, sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let name = name.as_bytes();
        let list_len = name.len() + 3;
        push16(&mut ext, 0x0000);
        push16(&mut ext, (list_len + 2) as u16);
        push16(&mut ext, list_len as u16);
        ext.push(0); // host_name
        push16(&mut ext, name.len() as u16);
        ext.extend_from_slice(name);
    }
    // supported_groups: x25519, secp256r1, secp384r1
    push16(&mut ext, 0x000a);
    push16(&mut ext, 8);
    push16(&mut ext, 6);
    for g in [0x001d, 0x0017, 0x0018] {
        push16(&mut ext, g);
    }
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);

    let mut body = Vec::new();
    push16(&mut body, version.wire());
    body.extend_from_slice(&random);
    body.push(0); // session id
    push16(&mut body, (SUITES.len() * 2) as u16);
    for s in SUITES {
        push16(&mut body, s);
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    push16(&mut body, ext.len() as u16);
    body.extend_from_slice(&ext);

    let mut hs = vec![1u8]; // client_hello
    push24(&mut hs, body.len());
    hs.extend_from_slice(&body);

    // Record version 0x0301 is what old clients send; servers read the hello's version.
    let mut rec = vec![22u8, 0x03, 0x01];
    push16(&mut rec, hs.len() as u16);
    rec.extend_from_slice(&hs);
    rec
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn push24(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
}

/// What the server answered to our hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A ServerHello choosing this protocol version.
    ServerHello { version: u16 },
    /// A TLS alert (70 protocol_version and 40 handshake_failure are the usual refusals).
    Alert { level: u8, description: u8 },
    /// Something that is not TLS (an HTTP error page, an SSH banner, garbage).
    NotTls,
}

/// The server's first record, or `None` when more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Option<Reply> {
    let &content_type = buf.first()?;
    if !matches!(content_type, 21 | 22) {
        return Some(Reply::NotTls);
    }
    if buf.len() < 5 {
        return None;
    }
    if buf[1] != 3 {
        return Some(Reply::NotTls);
    }
    let rec = &buf[5..];
    match content_type {
        21 => {
            if rec.len() < 2 {
                return None;
            }
            Some(Reply::Alert {
                level: rec[0],
                description: rec[1],
            })
        }
        _ => {
            // handshake: type(1) length(3) version(2)
            if rec.len() < 6 {
                return None;
            }
            if rec[0] != 2 {
                return Some(Reply::NotTls);
            }
            Some(Reply::ServerHello {
                version: u16::from_be_bytes([rec[4], rec[5]]),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_lengths_are_consistent() {
        let h = client_hello(OldVersion::Tls10, Some("example.jp"), [7; 32]);
        assert_eq!(h[0], 22);
        let rec_len = u16::from_be_bytes([h[3], h[4]]) as usize;
        assert_eq!(rec_len, h.len() - 5);
        let hs_len = ((h[6] as usize) << 16) | ((h[7] as usize) << 8) | h[8] as usize;
        assert_eq!(hs_len, h.len() - 9);
        assert_eq!(&h[9..11], &[3, 1]);
        assert!(h.windows(10).any(|w| w == b"example.jp"));
    }

    #[test]
    fn replies_are_classified() {
        assert_eq!(
            parse_reply(&[22, 3, 1, 0, 80, 2, 0, 0, 70, 3, 1]),
            Some(Reply::ServerHello { version: 0x0301 })
        );
        assert_eq!(
            parse_reply(&[21, 3, 1, 0, 2, 2, 70]),
            Some(Reply::Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(parse_reply(b"HTTP/1.1 400"), Some(Reply::NotTls));
        assert_eq!(parse_reply(&[22, 3]), None);
        assert_eq!(parse_reply(&[]), None);
    }
}
