//! TLS to Redis, for `rediss://` URLs: the redis crate's rustls connections, the
//! server's certificate verified against the public roots or the builder's own, and a
//! client certificate if the builder has one.

use redis::{ClientTlsConfig, TlsCertificates};

use crate::store::contract::StoreError;
pub(super) use crate::store::tls::Certificates as Given;

/// The redis crate's form of what was given, if anything was.
pub(super) fn certificates(given: &Given) -> Option<TlsCertificates> {
    given.any().then(|| TlsCertificates {
        client_tls: given.client.as_ref().map(|(cert, key)| ClientTlsConfig {
            client_cert: cert.to_vec(),
            client_key: key.to_vec(),
        }),
        root_cert: given.roots.as_ref().map(|pem| pem.to_vec()),
    })
}

/// A client for `url`, with what was given for TLS.
pub(super) fn client(url: &str, given: &Given) -> redis::RedisResult<redis::Client> {
    match certificates(given) {
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
