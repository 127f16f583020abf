//! TLS checks: old protocol versions (our own ClientHello), the certificate (fetched with
//! rustls through a verifier that records the chain and webpki's verdict instead of
//! failing), and expiry read from the DER ourselves.

use crate::error::Error;
use crate::finding::Finding;
use crate::http::{timed, Gate};
use crate::wire::der::{parse_certificate, CertInfo};
use crate::wire::tls_hello::{client_hello, parse_reply, OldVersion, Reply};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether the server at `addr` accepts `version`: `Ok(true)` when it answers with a
/// ServerHello for exactly that version, `Ok(false)` on an alert, a close or non-TLS.
pub async fn probe_old_version(
    addr: &str,
    sni: Option<&str>,
    version: OldVersion,
    timeout: Duration,
) -> Result<bool, Error> {
    let mut stream = timed(timeout, addr, "connect", TcpStream::connect(addr)).await?;
    let hello = client_hello(version, sni, random32());
    timed(
        timeout,
        addr,
        "sending ClientHello",
        stream.write_all(&hello),
    )
    .await?;
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(reply) = parse_reply(&buf) {
            tracing::debug!(addr, version = version.name(), ?reply, "old TLS probe");
            return Ok(matches!(reply, Reply::ServerHello { version: v } if v == version.wire()));
        }
        if buf.len() > 4096 {
            return Ok(false);
        }
        let n = match timed(
            timeout,
            addr,
            "reading ServerHello",
            stream.read(&mut chunk),
        )
        .await
        {
            Ok(n) => n,
            // A reset is how some servers refuse; that is a refusal, not a scan error.
            Err(Error::Io { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn random32() -> [u8; 32] {
    use std::hash::{BuildHasher, RandomState};
    let mut out = [0u8; 32];
    let s = RandomState::new();
    for (i, c) in out.chunks_mut(8).enumerate() {
        c.copy_from_slice(&s.hash_one(i).to_le_bytes());
    }
    out
}

/// What the certificate check learned during one handshake.
#[derive(Debug, Clone)]
pub struct CertReport {
    pub leaf: Option<CertInfo>,
    /// Chain length sent by the server (leaf included).
    pub chain_len: usize,
    /// webpki's verdict on the chain, judged at a time inside the leaf's validity so that
    /// an expired certificate still tells us whether it is trusted.
    pub trust: Result<(), String>,
    pub self_signed: bool,
    pub name: Result<(), String>,
    /// The leaf failed to parse.
    pub parse_error: Option<String>,
}

#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertReport>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (leaf, parse_error) = match parse_certificate(end_entity) {
            Ok(i) => (Some(i), None),
            Err(e) => (None, Some(e)),
        };
        let at = leaf
            .as_ref()
            .map(|l| {
                let now_s = now.as_secs() as i64;
                let (nb, na) = (l.not_before.unix_timestamp(), l.not_after.unix_timestamp());
                if now_s < nb || now_s > na {
                    UnixTime::since_unix_epoch(Duration::from_secs((nb / 2 + na / 2).max(0) as u64))
                } else {
                    now
                }
            })
            .unwrap_or(now);
        let trust = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, at)
            .map(|_| ())
            .map_err(describe);
        let name = rustls::server::ParsedCertificate::try_from(end_entity)
            .and_then(|p| rustls::client::verify_server_name(&p, server_name))
            .map_err(describe);
        let report = CertReport {
            self_signed: leaf.as_ref().is_some_and(|l| l.self_issued()),
            leaf,
            chain_len: 1 + intermediates.len(),
            trust,
            name,
            parse_error,
        };
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(report);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn describe(e: rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "unknown issuer".into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "certificate not valid for this name".into(),
        other => other.to_string(),
    }
}

/// The public roots plus the configured extra anchors.
pub fn root_store(extra: &[std::path::PathBuf]) -> Result<RootCertStore, Error> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in extra {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| Error::File {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        for c in certs {
            let c = c.map_err(|e| Error::File {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            roots.add(c).map_err(|e| Error::File {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    Ok(roots)
}

/// Handshakes with `addr` as `host` and reports on its certificate.
pub async fn fetch_certificate(
    addr: &str,
    host: &str,
    roots: Arc<RootCertStore>,
    timeout: Duration,
) -> Result<CertReport, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |reason: String| Error::Tls {
        addr: addr.to_string(),
        reason,
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| tls_err(e.to_string()))?;
    let recorder = Arc::new(Recorder {
        inner,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| tls_err(format!("invalid server name {host:?}: {e}")))?;
    let stream = timed(timeout, addr, "connect", TcpStream::connect(addr)).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = timed(
        timeout,
        addr,
        "TLS handshake",
        connector.connect(name, stream),
    )
    .await;
    let seen = recorder.seen.lock().ok().and_then(|mut s| s.take());
    match (seen, handshake) {
        (Some(report), _) => Ok(report),
        (None, Err(e)) => Err(tls_err(e.to_string())),
        (None, Ok(_)) => Err(tls_err("no certificate was presented".into())),
    }
}

/// Findings about a fetched certificate, as seen at `now`.
pub fn certificate_findings(report: &CertReport, url: &str, now: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(leaf) = &report.leaf else {
        let why = report.parse_error.clone().unwrap_or_default();
        out.push(Finding::builtin(
            "cert_chain_incomplete",
            url,
            format!("TLS handshake with {url}\n→ certificate could not be read: {why}"),
        ));
        return out;
    };
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let who = format!(
        "TLS handshake with {url}\n→ certificate subject CN={} issuer CN={} notBefore={} notAfter={} (chain of {})",
        leaf.subject_cn.as_deref().unwrap_or("-"),
        leaf.issuer_cn.as_deref().unwrap_or("-"),
        fmt(leaf.not_before),
        fmt(leaf.not_after),
        report.chain_len,
    );
    if now > leaf.not_after {
        let days = (now - leaf.not_after).whole_days();
        out.push(Finding::builtin(
            "cert_expired",
            url,
            format!("{who}\nexpired {days} days ago"),
        ));
    } else if now < leaf.not_before {
        out.push(Finding::builtin("cert_not_yet_valid", url, who.clone()));
    } else if leaf.not_after - now < time::Duration::days(30) {
        let days = (leaf.not_after - now).whole_days();
        out.push(Finding::builtin(
            "cert_expiring",
            url,
            format!("{who}\nexpires in {days} days"),
        ));
    }
    if let Err(why) = &report.trust {
        if report.self_signed {
            out.push(Finding::builtin(
                "cert_self_signed",
                url,
                format!("{who}\nissuer equals subject; {why}"),
            ));
        } else {
            out.push(Finding::builtin(
                "cert_chain_incomplete",
                url,
                format!("{who}\n{why}"),
            ));
        }
    }
    if let Err(why) = &report.name {
        out.push(Finding::builtin(
            "cert_name_mismatch",
            url,
            format!("{who}\n{why}"),
        ));
    }
    out
}

/// Runs the old-version probes through the gate.
pub async fn old_version_findings(
    gate: &Gate,
    host: &str,
    addr: &str,
    url: &str,
    timeout: Duration,
    errors: &mut Vec<String>,
) -> Vec<Finding> {
    let sni = host.parse::<std::net::IpAddr>().is_err().then_some(host);
    let mut out = Vec::new();
    for (version, id) in [
        (OldVersion::Tls10, "tls10_enabled"),
        (OldVersion::Tls11, "tls11_enabled"),
    ] {
        if let Err(e) = gate.permit(host, addr).await {
            errors.push(e.to_string());
            break;
        }
        match probe_old_version(addr, sni, version, timeout).await {
            Ok(true) => out.push(Finding::builtin(
                id,
                url,
                format!(
                    "ClientHello offering only {} sent to {addr}\n→ ServerHello with version {}",
                    version.name(),
                    version.name()
                ),
            )),
            Ok(false) => {}
            Err(e) => errors.push(format!("{} probe: {e}", version.name())),
        }
    }
    out
}
