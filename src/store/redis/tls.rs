//! TLS to Redis, for `rediss://` URLs: the redis crate's rustls connections, the
//! server's certificate verified against the public roots or the builder's own.

use std::sync::Arc;

use redis::TlsCertificates;

use crate::store::StoreError;

/// The CA certificates (PEM) trusted instead of the public roots, if any.
pub(super) type Roots = Option<Arc<[u8]>>;

/// A client for `url`, trusting `roots` if given.
pub(super) fn client(url: &str, roots: &Roots) -> redis::RedisResult<redis::Client> {
    match roots {
        Some(pem) => redis::Client::build_with_tls(url, certificates(pem)),
        None => redis::Client::open(url),
    }
}

/// The redis crate's form of `roots`.
pub(super) fn certificates(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// The redis crate builds each TLS connection on rustls's process-wide provider, which
/// rustls picks by itself when one provider is built in (this crate's *ring*) and
/// panics over when there are several and the application installed none. Asked here,
/// at connect, that is an error that says what to do, not a panic at the first
/// connection.
pub(super) fn check_provider(urls: &[String]) -> Result<(), StoreError> {
    let tls = urls.iter().any(|u| u.starts_with("rediss://"));
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
