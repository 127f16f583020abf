//! TLS handshakes: records reassembled across chunks, hellos, the server certificate, and
//! the JA3, JA3S and JA4 fingerprints.
//!
//! Each direction is read record by record (the 5-byte header may itself be split across
//! chunks). Handshake records are joined into handshake messages, which may span several
//! records; a message larger than [`AppConfig::max_buffer`] is skipped, not buffered. Read
//! are the ClientHello (version, SNI, cipher suites, extensions, supported groups, point
//! formats, signature algorithms, ALPN, supported versions), the ServerHello (version
//! including `supported_versions`, cipher, extensions) and, up to TLS 1.2, the first
//! certificate of the Certificate message ([`super::x509`]). Once a direction sends
//! ChangeCipherSpec or application data it is encrypted; once both are (or a ServerHello
//! selects TLS 1.3) the handshake is done and the rest of the flow is not looked at.
//!
//! Fingerprints: JA3 is `SSLVersion,Ciphers,Extensions,EllipticCurves,PointFormats` in
//! decimal with GREASE values removed, and its MD5; JA3S is `SSLVersion,Cipher,Extensions`;
//! JA4 follows FoxIO's specification (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
//!
//! Not done: SSLv2 hellos, DTLS, QUIC, TLS 1.3 certificates (encrypted), session
//! resumption tracking, certificate chains beyond the first certificate.

use super::line::printable;
use super::x509::{self, Certificate};
use super::{AppConfig, AppEvent, Fault, Next, StreamParser, Timestamp, TlsProgress};
use md5::{Digest as _, Md5};
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// A ClientHello as far as logging and fingerprints need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version`.
    pub version: u16,
    pub ciphers: Vec<u16>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    pub sni: Option<Vec<u8>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub alpn: Vec<Vec<u8>>,
    pub supported_versions: Vec<u16>,
}

/// A ServerHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// `legacy_version`.
    pub version: u16,
    /// From the `supported_versions` extension (TLS 1.3).
    pub selected_version: Option<u16>,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    pub alpn: Option<Vec<u8>>,
}

impl ServerHello {
    /// The version the server chose.
    pub fn negotiated_version(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

/// A fingerprint string and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub string: String,
    pub hash: String,
}

/// What a flow's TLS handshake showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSession {
    pub client_hello: Option<ClientHello>,
    pub server_hello: Option<ServerHello>,
    /// The server's (first) certificate, TLS 1.2 and earlier.
    pub certificate: Option<Certificate>,
    /// Why the certificate could not be read, if it could not.
    pub certificate_error: Option<x509::X509Error>,
    /// Certificates in the server's chain.
    pub chain_len: usize,
    pub ja3: Option<Fingerprint>,
    pub ja3s: Option<Fingerprint>,
    pub ja4: Option<String>,
}

/// The sticky buffers of a TLS session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsBuffers<'a> {
    pub sni: Option<&'a [u8]>,
    pub cert_subject: Option<&'a [u8]>,
    pub cert_issuer: Option<&'a [u8]>,
    pub cert_serial: Option<&'a [u8]>,
    pub cert_fingerprint: Option<&'a [u8]>,
    pub ja3_hash: Option<&'a [u8]>,
    pub ja3_string: Option<&'a [u8]>,
    pub ja3s_hash: Option<&'a [u8]>,
    pub ja3s_string: Option<&'a [u8]>,
    pub ja4_hash: Option<&'a [u8]>,
}

/// Suricata's name for a protocol version.
pub fn version_name(version: u16) -> String {
    match version {
        0x0200 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v if v & 0xff00 == 0x7f00 => format!("TLS 1.3 draft-{}", v & 0xff),
        _ => "UNDETERMINED".into(),
    }
}

impl TlsSession {
    /// The negotiated version, or the client's offer when no ServerHello was seen.
    pub fn version(&self) -> Option<u16> {
        match (&self.server_hello, &self.client_hello) {
            (Some(sh), _) => Some(sh.negotiated_version()),
            (None, Some(ch)) => Some(ch.version),
            (None, None) => None,
        }
    }

    pub fn buffers(&self) -> TlsBuffers<'_> {
        let cert = self.certificate.as_ref();
        TlsBuffers {
            sni: self.client_hello.as_ref().and_then(|c| c.sni.as_deref()),
            cert_subject: cert.map(|c| c.subject.as_bytes()),
            cert_issuer: cert.map(|c| c.issuer.as_bytes()),
            cert_serial: cert.map(|c| c.serial.as_bytes()),
            cert_fingerprint: cert.map(|c| c.fingerprint.as_bytes()),
            ja3_hash: self.ja3.as_ref().map(|f| f.hash.as_bytes()),
            ja3_string: self.ja3.as_ref().map(|f| f.string.as_bytes()),
            ja3s_hash: self.ja3s.as_ref().map(|f| f.hash.as_bytes()),
            ja3s_string: self.ja3s.as_ref().map(|f| f.string.as_bytes()),
            ja4_hash: self.ja4.as_deref().map(str::as_bytes),
        }
    }

    /// The EVE `tls` object.
    pub fn to_eve(&self) -> Value {
        let mut o = Map::new();
        if let Some(c) = &self.certificate {
            o.insert("subject".into(), json!(c.subject));
            o.insert("issuerdn".into(), json!(c.issuer));
            o.insert("serial".into(), json!(c.serial));
            o.insert("fingerprint".into(), json!(c.fingerprint));
        }
        if let Some(sni) = self.client_hello.as_ref().and_then(|c| c.sni.as_ref()) {
            o.insert("sni".into(), json!(printable(sni)));
        }
        if let Some(v) = self.version() {
            o.insert("version".into(), json!(version_name(v)));
        }
        if let Some(c) = &self.certificate {
            o.insert("notbefore".into(), json!(c.not_before));
            o.insert("notafter".into(), json!(c.not_after));
        }
        for (key, fp) in [("ja3", &self.ja3), ("ja3s", &self.ja3s)] {
            if let Some(fp) = fp {
                o.insert(key.into(), json!({"hash": fp.hash, "string": fp.string}));
            }
        }
        if let Some(ja4) = &self.ja4 {
            o.insert("ja4".into(), json!(ja4));
        }
        Value::Object(o)
    }
}

/// GREASE values (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn join_decimal<T: ToString>(values: impl Iterator<Item = T>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// JA3 of a ClientHello.
pub fn ja3(ch: &ClientHello) -> Fingerprint {
    let keep = |v: &&u16| !is_grease(**v);
    let string = format!(
        "{},{},{},{},{}",
        ch.version,
        join_decimal(ch.ciphers.iter().filter(keep)),
        join_decimal(ch.extensions.iter().filter(keep)),
        join_decimal(ch.groups.iter().filter(keep)),
        join_decimal(ch.point_formats.iter()),
    );
    Fingerprint {
        hash: md5_hex(&string),
        string,
    }
}

/// JA3S of a ServerHello.
pub fn ja3s(sh: &ServerHello) -> Fingerprint {
    let string = format!(
        "{},{},{}",
        sh.version,
        sh.cipher,
        join_decimal(sh.extensions.iter().filter(|v| !is_grease(**v))),
    );
    Fingerprint {
        hash: md5_hex(&string),
        string,
    }
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First 12 hex characters of the SHA-256 of `s`, or twelve zeros when `s` is empty.
fn ja4_hash(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn hex4_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// JA4 of a ClientHello seen over TCP.
pub fn ja4(ch: &ClientHello) -> String {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(ch.version);
    let sni = if ch.extensions.contains(&0) { 'd' } else { 'i' };
    let mut ciphers: Vec<u16> = ch
        .ciphers
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    let extensions: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    let alpn = match ch.alpn.first() {
        Some(first) if !first.is_empty() => {
            let (a, z) = (first[0], first[first.len() - 1]);
            if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
                format!("{}{}", char::from(a), char::from(z))
            } else {
                let h = hex(first);
                let (head, tail) = (&h[..1], &h[h.len() - 1..]);
                format!("{head}{tail}")
            }
        }
        _ => "00".into(),
    };
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(version),
        sni,
        ciphers.len().min(99),
        extensions.len().min(99),
        alpn
    );
    ciphers.sort_unstable();
    let mut sorted_ext: Vec<u16> = extensions
        .into_iter()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    sorted_ext.sort_unstable();
    let mut c = hex4_list(&sorted_ext);
    let sigs: Vec<u16> = ch
        .signature_algorithms
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    if !sigs.is_empty() && !c.is_empty() {
        c.push('_');
        c.push_str(&hex4_list(&sigs));
    }
    format!("{a}_{}_{}", ja4_hash(&hex4_list(&ciphers)), ja4_hash(&c))
}

/// Why a handshake message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("handshake message ends inside a field")]
    Truncated,
}

impl From<TlsError> for Fault {
    fn from(_: TlsError) -> Self {
        Fault::Malformed("truncated handshake message")
    }
}

/// A bounds-checked reader over a handshake message body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TlsError> {
        if n > self.0.len() {
            return Err(TlsError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, TlsError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TlsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Result<usize, TlsError> {
        let b = self.take(3)?;
        Ok((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn u16_list(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut r = Reader(body);
    let mut ch = ClientHello {
        version: r.u16()?,
        ..ClientHello::default()
    };
    r.take(32)?;
    r.vec8()?;
    ch.ciphers = u16_list(r.vec16()?);
    r.vec8()?;
    if r.is_empty() {
        return Ok(ch);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        ch.extensions.push(ty);
        // A malformed extension body is ignored: the type still counts for fingerprints.
        let _ = client_extension(&mut ch, ty, data);
    }
    Ok(ch)
}

fn client_extension(ch: &mut ClientHello, ty: u16, data: &[u8]) -> Result<(), TlsError> {
    let mut d = Reader(data);
    match ty {
        0x0000 => {
            let mut list = Reader(d.vec16()?);
            while !list.is_empty() {
                let kind = list.u8()?;
                let name = list.vec16()?;
                if kind == 0 && ch.sni.is_none() {
                    ch.sni = Some(name.to_vec());
                }
            }
        }
        0x000a => ch.groups = u16_list(d.vec16()?),
        0x000b => ch.point_formats = d.vec8()?.to_vec(),
        0x000d => ch.signature_algorithms = u16_list(d.vec16()?),
        0x0010 => {
            let mut list = Reader(d.vec16()?);
            while !list.is_empty() {
                ch.alpn.push(list.vec8()?.to_vec());
            }
        }
        0x002b => ch.supported_versions = u16_list(d.vec8()?),
        _ => {}
    }
    Ok(())
}

/// Parses a ServerHello body.
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, TlsError> {
    let mut r = Reader(body);
    let mut sh = ServerHello {
        version: r.u16()?,
        ..ServerHello::default()
    };
    r.take(32)?;
    r.vec8()?;
    sh.cipher = r.u16()?;
    r.u8()?;
    if r.is_empty() {
        return Ok(sh);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        sh.extensions.push(ty);
        let mut d = Reader(data);
        match ty {
            0x002b => sh.selected_version = d.u16().ok(),
            0x0010 => {
                sh.alpn = d
                    .vec16()
                    .ok()
                    .and_then(|l| Reader(l).vec8().ok())
                    .map(<[u8]>::to_vec)
            }
            _ => {}
        }
    }
    Ok(sh)
}

const HANDSHAKE: u8 = 22;
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const APPLICATION_DATA: u8 = 23;
const HEARTBEAT: u8 = 24;
const MAX_RECORD: usize = 16384 + 2048;

/// One direction's record layer.
#[derive(Default)]
struct Direction {
    header: [u8; 5],
    header_len: usize,
    record_type: u8,
    /// Payload bytes left in the current record.
    remaining: usize,
    /// Handshake bytes not yet parsed into messages.
    handshake: Vec<u8>,
    /// Bytes of an oversized handshake message still to skip.
    skip: usize,
    encrypted: bool,
}

/// The TLS parser of one flow.
pub(crate) struct TlsParser {
    dirs: [Direction; 2],
    session: TlsSession,
    max_message: usize,
    done: bool,
    logged: bool,
}

impl TlsParser {
    pub(crate) fn new(config: &AppConfig) -> Self {
        Self {
            dirs: [Direction::default(), Direction::default()],
            session: TlsSession::default(),
            max_message: config.max_buffer,
            done: false,
            logged: false,
        }
    }

    fn event(&self, progress: TlsProgress, out: &mut Vec<AppEvent>) {
        out.push(AppEvent::Tls(Box::new(self.session.clone()), progress));
    }

    fn handshake_bytes(
        &mut self,
        to_server: bool,
        mut bytes: &[u8],
        out: &mut Vec<AppEvent>,
    ) -> Result<(), Fault> {
        let d = &mut self.dirs[usize::from(to_server)];
        if d.skip > 0 {
            let k = d.skip.min(bytes.len());
            d.skip -= k;
            bytes = &bytes[k..];
        }
        d.handshake.extend_from_slice(bytes);
        loop {
            let d = &mut self.dirs[usize::from(to_server)];
            if d.encrypted || d.handshake.len() < 4 {
                return Ok(());
            }
            let h = &d.handshake;
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if len > self.max_message {
                let have = h.len() - 4;
                if have >= len {
                    d.handshake.drain(..4 + len);
                } else {
                    d.skip = len - have;
                    d.handshake.clear();
                }
                continue;
            }
            if h.len() < 4 + len {
                return Ok(());
            }
            let msg: Vec<u8> = d.handshake.drain(..4 + len).collect();
            self.handshake_message(to_server, msg[0], &msg[4..], out)?;
        }
    }

    fn handshake_message(
        &mut self,
        to_server: bool,
        kind: u8,
        body: &[u8],
        out: &mut Vec<AppEvent>,
    ) -> Result<(), Fault> {
        match (to_server, kind) {
            (true, 1) if self.session.client_hello.is_none() => {
                let ch = parse_client_hello(body)?;
                self.session.ja3 = Some(ja3(&ch));
                self.session.ja4 = Some(ja4(&ch));
                self.session.client_hello = Some(ch);
                self.event(TlsProgress::ClientHello, out);
            }
            (false, 2) if self.session.server_hello.is_none() => {
                let sh = parse_server_hello(body)?;
                self.session.ja3s = Some(ja3s(&sh));
                let tls13 = sh.negotiated_version() == 0x0304;
                self.session.server_hello = Some(sh);
                self.event(TlsProgress::ServerHello, out);
                if tls13 {
                    // Everything after the ServerHello is encrypted in TLS 1.3.
                    for d in &mut self.dirs {
                        d.encrypted = true;
                    }
                }
            }
            (false, 11) if self.session.certificate.is_none() => {
                let mut r = Reader(body);
                let list_len = r.u24()?;
                let mut list = Reader(r.take(list_len)?);
                let mut first = true;
                while !list.is_empty() {
                    let n = list.u24()?;
                    let der = list.take(n)?;
                    self.session.chain_len += 1;
                    if first {
                        match x509::parse_certificate(der) {
                            Ok(c) => self.session.certificate = Some(c),
                            Err(e) => self.session.certificate_error = Some(e),
                        }
                        first = false;
                    }
                }
                self.event(TlsProgress::Certificate, out);
            }
            _ => {}
        }
        Ok(())
    }

    fn check_done(&mut self, out: &mut Vec<AppEvent>) {
        if !self.done && self.dirs.iter().all(|d| d.encrypted) {
            self.done = true;
            if !self.logged {
                self.logged = true;
                self.event(TlsProgress::Done, out);
            }
        }
    }
}

impl StreamParser for TlsParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        _ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let mut pos = 0;
        while pos < data.len() && !self.done {
            let d = &mut self.dirs[usize::from(to_server)];
            if d.remaining == 0 {
                let k = (5 - d.header_len).min(data.len() - pos);
                d.header[d.header_len..d.header_len + k].copy_from_slice(&data[pos..pos + k]);
                d.header_len += k;
                pos += k;
                if d.header_len < 5 {
                    break;
                }
                d.header_len = 0;
                let [ty, major, _, hi, lo] = d.header;
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&ty) || major != 3 {
                    return Err(Fault::Malformed("not a TLS record"));
                }
                if len > MAX_RECORD {
                    return Err(Fault::Malformed("TLS record too long"));
                }
                d.record_type = ty;
                d.remaining = len;
                match ty {
                    CHANGE_CIPHER_SPEC | APPLICATION_DATA => {
                        d.encrypted = true;
                        d.handshake.clear();
                    }
                    _ => {}
                }
                self.check_done(out);
                continue;
            }
            let k = d.remaining.min(data.len() - pos);
            let bytes = &data[pos..pos + k];
            d.remaining -= k;
            pos += k;
            match d.record_type {
                HANDSHAKE if !d.encrypted => self.handshake_bytes(to_server, bytes, out)?,
                ALERT | HANDSHAKE | APPLICATION_DATA | CHANGE_CIPHER_SPEC | HEARTBEAT => {}
                _ => {}
            }
            self.check_done(out);
        }
        Ok(Next::Continue)
    }

    fn gap(&mut self, _: bool, len: u64, _: &mut Vec<AppEvent>) -> Result<(), Fault> {
        if self.done {
            Ok(())
        } else {
            Err(Fault::Gap(len))
        }
    }

    fn finish(&mut self, out: &mut Vec<AppEvent>) {
        if !self.logged && self.session.client_hello.is_some() {
            self.logged = true;
            self.event(TlsProgress::Done, out);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
        [
            &ty.to_be_bytes()[..],
            &(data.len() as u16).to_be_bytes(),
            data,
        ]
        .concat()
    }

    fn vec16(data: &[u8]) -> Vec<u8> {
        [&(data.len() as u16).to_be_bytes()[..], data].concat()
    }

    fn u16s(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len();
        [
            &[kind, (len >> 16) as u8, (len >> 8) as u8, len as u8][..],
            body,
        ]
        .concat()
    }

    fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
        [
            &[ty, 3, 1][..],
            &(payload.len() as u16).to_be_bytes(),
            payload,
        ]
        .concat()
    }

    /// A ClientHello with extensions in `order`, built like a browser's.
    pub(crate) fn client_hello_body(ciphers: &[u16], order: &[u16], grease: bool) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(32);
        body.extend_from_slice(&[9u8; 32]);
        let mut cs = ciphers.to_vec();
        if grease {
            cs.insert(0, 0x8a8a);
        }
        body.extend_from_slice(&vec16(&u16s(&cs)));
        body.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        if grease {
            exts.extend_from_slice(&ext(0x1a1a, &[]));
        }
        for ty in order {
            let data = match ty {
                0x0000 => vec16(&[&[0u8][..], &vec16(b"www.example.com")].concat()),
                0x000a => vec16(&u16s(&[0x4a4a, 4588, 29, 23, 24])),
                0x000b => vec![1, 0],
                0x000d => vec16(&u16s(&[
                    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
                ])),
                0x0010 => vec16(&[&[2u8][..], b"h2", &[8], b"http/1.1"].concat()),
                0x002b => {
                    let v = u16s(&[0x5a5a, 0x0304, 0x0303]);
                    [&[v.len() as u8][..], &v].concat()
                }
                _ => Vec::new(),
            };
            exts.extend_from_slice(&ext(*ty, &data));
        }
        if grease {
            exts.extend_from_slice(&ext(0xcaca, &[0]));
        }
        body.extend_from_slice(&vec16(&exts));
        body
    }

    const CHROME_CIPHERS: [u16; 15] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];

    #[test]
    fn ja3_and_ja4_match_published_browser_values() {
        // A Chrome ClientHello as published (ja4_ro and ja3_text of one capture), rebuilt
        // with GREASE values that both fingerprints must ignore.
        let order = [
            0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01,
            0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
        ];
        let ch = parse_client_hello(&client_hello_body(&CHROME_CIPHERS, &order, true)).unwrap();
        let fp = ja3(&ch);
        assert_eq!(
            fp.string,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
        );
        assert_eq!(fp.hash, "98487aa16281980e7d1120d399efb6a4");
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn ja4_matches_the_specification_example() {
        // The extension list of FoxIO's JA4 example, in its original order.
        let order = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let ch = parse_client_hello(&client_hello_body(&CHROME_CIPHERS, &order, true)).unwrap();
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        // Without signature algorithms the hash covers the extensions alone.
        let mut no_sigs = ch.clone();
        no_sigs.signature_algorithms.clear();
        assert!(ja4(&no_sigs).ends_with("_6d807ffa2a79"));
        // No SNI, no ALPN, TLS 1.2 only.
        let mut plain = ch;
        plain
            .extensions
            .retain(|e| *e != 0 && *e != 0x10 && *e != 0x2b);
        plain.alpn.clear();
        plain.supported_versions.clear();
        assert!(ja4(&plain).starts_with("t12i151300_8daaf6152771_"));
    }

    #[test]
    fn ja4_alpn_edge_cases() {
        let mut ch = ClientHello {
            version: 0x0303,
            ..ClientHello::default()
        };
        for (alpn, expected) in [
            (&b"http/1.1"[..], "h1"),
            (b"h", "hh"),
            (&[0xab][..], "ab"),
            (&[0xab, 0xcd][..], "ad"),
            (&[0x30, 0xab][..], "3b"),
            (b"", "00"),
        ] {
            ch.alpn = vec![alpn.to_vec()];
            assert_eq!(&ja4(&ch)[8..10], expected, "{alpn:?}");
        }
        assert_eq!(ja4(&ch), "t12i000000_000000000000_000000000000");
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x8a8a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301) && !is_grease(0x0a0b));
    }

    pub(crate) fn server_flight(tls13: bool) -> Vec<u8> {
        let mut sh = vec![0x03, 0x03];
        sh.extend_from_slice(&[1u8; 32]);
        sh.push(0);
        sh.extend_from_slice(&0x1301u16.to_be_bytes());
        sh.push(0);
        let mut exts = ext(0xff01, &[0]);
        if tls13 {
            exts.extend_from_slice(&ext(0x002b, &0x0304u16.to_be_bytes()));
        }
        exts.extend_from_slice(&ext(0x0010, &vec16(&[&[2u8][..], b"h2"].concat())));
        sh.extend_from_slice(&vec16(&exts));
        let mut flight = handshake(2, &sh);
        if !tls13 {
            let cert = crate::app::x509::tests::sample_certificate();
            let entry = [&[0u8, (cert.len() >> 8) as u8, cert.len() as u8][..], &cert].concat();
            let list = [
                &[0u8, (entry.len() >> 8) as u8, entry.len() as u8][..],
                &entry,
            ]
            .concat();
            flight.extend_from_slice(&handshake(11, &list));
            flight.extend_from_slice(&handshake(14, &[]));
        }
        // Split the flight over two records, cutting through a message.
        let cut = flight.len() / 2;
        [
            record(HANDSHAKE, &flight[..cut]),
            record(HANDSHAKE, &flight[cut..]),
        ]
        .concat()
    }

    pub(crate) fn client_flight() -> Vec<u8> {
        let order = [0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x002b];
        record(
            HANDSHAKE,
            &handshake(1, &client_hello_body(&CHROME_CIPHERS, &order, true)),
        )
    }

    fn run(chunks: &[(bool, &[u8])]) -> (Vec<AppEvent>, Result<(), Fault>) {
        let mut p = TlsParser::new(&AppConfig::default());
        let mut out = Vec::new();
        for (dir, data) in chunks {
            if let Err(e) = p.feed(*dir, data, UNIX_EPOCH, &mut out) {
                return (out, Err(e));
            }
        }
        p.finish(&mut out);
        (out, Ok(()))
    }

    fn done_session(out: &[AppEvent]) -> TlsSession {
        out.iter()
            .find_map(|e| match e {
                AppEvent::Tls(s, TlsProgress::Done) => Some((**s).clone()),
                _ => None,
            })
            .expect("a Done event")
    }

    #[test]
    fn tls12_handshake_with_certificate() {
        let ccs = record(CHANGE_CIPHER_SPEC, &[1]);
        let (out, result) = run(&[
            (true, &client_flight()),
            (false, &server_flight(false)),
            (true, &ccs),
            (false, &ccs),
            (true, &record(APPLICATION_DATA, b"secret")),
        ]);
        result.unwrap();
        let progress: Vec<TlsProgress> = out
            .iter()
            .filter_map(|e| match e {
                AppEvent::Tls(_, p) => Some(*p),
                _ => None,
            })
            .collect();
        assert_eq!(
            progress,
            vec![
                TlsProgress::ClientHello,
                TlsProgress::ServerHello,
                TlsProgress::Certificate,
                TlsProgress::Done
            ]
        );
        let s = done_session(&out);
        let eve = s.to_eve();
        assert_eq!(eve["sni"], "www.example.com");
        assert_eq!(eve["version"], "TLS 1.2");
        assert_eq!(eve["subject"], "CN=www.example.com");
        assert_eq!(eve["issuerdn"], "C=US, O=Let's Encrypt, CN=R3");
        assert_eq!(eve["serial"], "00:8A:01:FF");
        assert_eq!(eve["notbefore"], "2024-01-01T00:00:00");
        assert_eq!(eve["notafter"], "2024-03-31T23:59:59");
        assert_eq!(eve["ja3s"]["string"], "771,4865,65281-16");
        assert_eq!(eve["ja3s"]["hash"], md5_hex("771,4865,65281-16"));
        assert!(eve["ja4"].as_str().unwrap().starts_with("t13d1506h2_"));
        let b = s.buffers();
        assert_eq!(b.sni, Some(&b"www.example.com"[..]));
        assert_eq!(b.cert_issuer, Some(&b"C=US, O=Let's Encrypt, CN=R3"[..]));
        assert_eq!(b.ja3_hash.map(<[u8]>::len), Some(32));
        assert_eq!(
            s.server_hello.as_ref().unwrap().alpn.as_deref(),
            Some(&b"h2"[..])
        );
    }

    #[test]
    fn tls13_is_done_after_server_hello() {
        let (out, result) = run(&[(true, &client_flight()), (false, &server_flight(true))]);
        result.unwrap();
        let s = done_session(&out);
        assert_eq!(s.to_eve()["version"], "TLS 1.3");
        assert!(s.certificate.is_none());
    }

    #[test]
    fn records_split_at_every_byte_give_the_same_session() {
        let client = client_flight();
        let server = server_flight(false);
        let (whole, _) = run(&[(true, &client), (false, &server)]);
        let whole = done_session(&whole);
        for split in 0..=server.len() {
            let (out, r) = run(&[
                (true, &client),
                (false, &server[..split]),
                (false, &server[split..]),
            ]);
            r.unwrap();
            assert_eq!(done_session(&out), whole, "server split at {split}");
        }
        for split in 0..=client.len() {
            let (out, r) = run(&[
                (true, &client[..split]),
                (true, &client[split..]),
                (false, &server),
            ]);
            r.unwrap();
            assert_eq!(done_session(&out), whole, "client split at {split}");
        }
    }

    #[test]
    fn oversized_handshake_messages_are_skipped() {
        let config = AppConfig {
            max_buffer: 50,
            ..AppConfig::default()
        };
        let mut p = TlsParser::new(&config);
        let mut out = Vec::new();
        // A 300-byte unknown handshake message, then the ClientHello, in one record stream.
        let big = handshake(99, &[0u8; 300]);
        let hello = handshake(1, &client_hello_body(&[0x1301], &[0], false));
        let stream = [record(HANDSHAKE, &big), record(HANDSHAKE, &hello)].concat();
        p.feed(true, &stream, UNIX_EPOCH, &mut out).unwrap();
        assert!(
            p.session.client_hello.is_none(),
            "the hello is over the 50-byte limit too"
        );
        let mut p = TlsParser::new(&AppConfig {
            max_buffer: 200,
            ..AppConfig::default()
        });
        p.feed(true, &stream, UNIX_EPOCH, &mut out).unwrap();
        assert!(p.session.client_hello.is_some());
    }

    #[test]
    fn bogus_records_and_gaps() {
        let (_, r) = run(&[(true, b"GET / HTTP/1.1\r\n")]);
        assert_eq!(r, Err(Fault::Malformed("not a TLS record")));
        let (_, r) = run(&[(true, &[22, 3, 1, 0xff, 0xff])]);
        assert!(r.is_err());
        // A truncated ClientHello inside a well-formed record.
        let (_, r) = run(&[(true, &record(HANDSHAKE, &handshake(1, &[3, 3, 0])))]);
        assert!(r.is_err());
        let mut p = TlsParser::new(&AppConfig::default());
        assert_eq!(p.gap(true, 5, &mut Vec::new()), Err(Fault::Gap(5)));
    }
}
