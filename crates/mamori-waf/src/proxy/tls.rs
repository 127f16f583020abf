//! TLS termination: one certificate per site, chosen by SNI (the first site's certificate when
//! the client sends no name), HTTP/2 and HTTP/1.1 offered by ALPN.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCertUsingSni;
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

fn certified_key(
    provider: &rustls::crypto::CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading certificates from {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading private key from {}: {e}", key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable private key: {e}"))?;
    Ok(CertifiedKey::new(certs, signing))
}

/// Resolves a certificate by SNI, falling back to the first one for clients without SNI.
#[derive(Debug)]
struct Resolver {
    by_name: ResolvesServerCertUsingSni,
    fallback: Arc<CertifiedKey>,
}

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if hello.server_name().is_none() {
            return Some(self.fallback.clone());
        }
        self.by_name.resolve(hello)
    }
}

/// A server configuration for `(host names, cert file, key file)` per site.
pub fn server_config(
    sites: &[(Vec<String>, &Path, &Path)],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut by_name = ResolvesServerCertUsingSni::new();
    let mut fallback = None;
    for (hosts, cert, key) in sites {
        let ck = certified_key(&provider, cert, key)?;
        let ck = Arc::new(ck);
        for host in hosts.iter().filter(|h| h.as_str() != "*" && !h.is_empty()) {
            by_name
                .add(host, (*ck).clone())
                .map_err(|e| format!("certificate {} for {host}: {e}", cert.display()))?;
        }
        fallback.get_or_insert(ck);
    }
    let fallback = fallback.ok_or("no site has a certificate")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver { by_name, fallback }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
