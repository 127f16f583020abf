//! TLS settings of the delivery client: which server certificates it trusts.
//!
//! Mail between servers uses *opportunistic* STARTTLS: encrypt when the next hop offers it,
//! but MX hosts commonly present self-signed or mismatched certificates, and refusing them
//! would mean sending in clear instead (RFC 7435). So the choice is explicit:
//! [`CertificateCheck::AcceptAny`] encrypts without authenticating the server (what Postfix
//! calls `may`), [`CertificateCheck::WebPkiRoots`] and [`CertificateCheck::Roots`] verify
//! the chain and the host name (for a smarthost, or MTA-STS/DANE-like policies decided by
//! the caller).
//!
//! All configs use rustls with the *ring* provider explicitly, so nothing depends on a
//! process-wide default provider.
//!
//! Not here: the server side, whose `rustls::ServerConfig` the caller builds from its
//! certificate files and passes in [`crate::ServerConfig::tls`].

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Which server certificates the client accepts after STARTTLS.
#[derive(Debug, Clone)]
pub enum CertificateCheck {
    /// Verify against the Mozilla root store bundled by `webpki-roots`.
    WebPkiRoots,
    /// Verify against these roots (a company CA, or a test certificate).
    Roots(Arc<RootCertStore>),
    /// Accept any certificate: encryption against passive eavesdropping only, no protection
    /// against an active attacker. The usual choice for opportunistic MX delivery.
    AcceptAny,
}

/// The ring provider, shared by all configs.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client's rustls configuration for a certificate policy.
pub(crate) fn client_config(
    check: &CertificateCheck,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match check {
        CertificateCheck::WebPkiRoots => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        CertificateCheck::Roots(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        CertificateCheck::AcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Accepts any certificate but still checks that the server holds its key (the handshake
/// signatures), so the session keys are not trivially forged.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
