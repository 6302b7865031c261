//! TLS to Redis, for `rediss://` URLs: the redis crate's rustls connections, the
//! server's certificate verified against the public roots or the builder's own, and a
//! client certificate if the builder has one.

use std::sync::Arc;

use redis::{ClientTlsConfig, TlsCertificates};

use crate::store::StoreError;

/// PEM text, shared by the clones of a builder and the feed's task.
pub(super) type Pem = Arc<[u8]>;

/// What the builder was given for TLS: the roots to trust instead of the public ones,
/// and a client certificate chain with its key.
#[derive(Clone, Default)]
pub(super) struct Given {
    pub(super) roots: Option<Pem>,
    pub(super) client: Option<(Pem, Pem)>,
}

impl std::fmt::Debug for Given {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Tls")
            .field("own_roots", &self.roots.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl Given {
    fn any(&self) -> bool {
        self.roots.is_some() || self.client.is_some()
    }

    /// The redis crate's form of what was given, if anything was.
    pub(super) fn certificates(&self) -> Option<TlsCertificates> {
        self.any().then(|| TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.to_vec(),
                client_key: key.to_vec(),
            }),
            root_cert: self.roots.as_ref().map(|pem| pem.to_vec()),
        })
    }
}

/// A client for `url`, with what was given for TLS.
pub(super) fn client(url: &str, given: &Given) -> redis::RedisResult<redis::Client> {
    match given.certificates() {
        Some(certificates) => redis::Client::build_with_tls(url, certificates),
        None => redis::Client::open(url),
    }
}

/// Whether TLS can work as asked: certificates given for URLs that do not ask for TLS
/// are a mistake; and the redis crate builds each TLS connection on rustls's
/// process-wide provider, which rustls picks by itself when one provider is built in
/// (this crate's *ring*) and panics over when there are several and the application
/// installed none. Asked here, at connect, that is an error that says what to do, not a
/// panic at the first connection.
pub(super) fn check(urls: &[String], given: &Given) -> Result<(), StoreError> {
    let tls = urls.iter().any(|u| u.starts_with("rediss://"));
    if !tls && given.any() {
        return Err(StoreError::Misconfigured(
            "TLS certificates are given but no URL asks for TLS: use rediss://".to_owned(),
        ));
    }
    if !tls || rustls::crypto::CryptoProvider::get_default().is_some() {
        return Ok(());
    }
    std::panic::catch_unwind(rustls::ClientConfig::builder)
        .map(|_| ())
        .map_err(|_| {
            StoreError::Misconfigured(
                "several rustls crypto providers are built in and none is installed: install \
                 one (rustls::crypto::CryptoProvider::install_default) before connecting"
                    .to_owned(),
            )
        })
}
