//! TLS to the server, when the URL asks for it: rustls, the server's certificate
//! verified (its chain to a trusted root, and the host name), or no TLS at all.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::contract::StoreError;
pub(super) use crate::store::tls::Certificates as Given;

/// How the store's connections reach the server.
pub(super) type Tls = Option<MakeRustlsConnect>;

/// TLS for `sslmode=require`, trusting the certificates of `roots` (PEM) or else the
/// public roots (Mozilla's, as `webpki-roots` ships them). Any other mode connects
/// without TLS: `prefer` (the default) would take TLS with a certificate no one
/// verified as well as none, which protects from no one who can intercept.
pub(super) fn connector(
    config: &mut tokio_postgres::Config,
    given: &Given,
) -> Result<Tls, StoreError> {
    if config.get_ssl_mode() != SslMode::Require {
        if given.any() {
            // Certificates given for a connection that would not use them.
            return Err(misconfigured(
                "TLS certificates are given but the URL does not ask for TLS: add \
                 sslmode=require",
            ));
        }
        config.ssl_mode(SslMode::Disable);
        return Ok(None);
    }
    let mut trusted = RootCertStore::empty();
    match given.roots.as_deref() {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|_| misconfigured("a root certificate is not PEM"))?;
                trusted
                    .add(cert)
                    .map_err(|e| misconfigured(&format!("a root certificate: {e}")))?;
            }
            if trusted.is_empty() {
                return Err(misconfigured(
                    "no certificate in the root certificates' PEM",
                ));
            }
        }
        None => trusted.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // The provider named, not the process default: another crate's choice of one
    // cannot make this panic or change it. *ring*, which tokio-postgres-rustls builds on
    // anyway (rustls deprecates it for want of post-quantum key exchange, not for a
    // flaw), rather than a second cryptography library.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| misconfigured(&format!("TLS: {e}")))?
        .with_root_certificates(trusted);
    let client = match &given.client {
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| misconfigured("the client certificate is not PEM"))?;
            if chain.is_empty() {
                return Err(misconfigured(
                    "no certificate in the client certificate's PEM",
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| misconfigured("the client key is not a PEM private key"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| misconfigured(&format!("the client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Some(MakeRustlsConnect::new(client)))
}

fn misconfigured(what: &str) -> StoreError {
    StoreError::Misconfigured(what.to_owned())
}
