//! What a network store's builder was given for TLS, the same for every such store.

use std::sync::Arc;

/// PEM text, shared by a builder's clones and the store's tasks.
pub(crate) type Pem = Arc<[u8]>;

/// The roots to trust instead of the public ones, and a client certificate chain with
/// its key.
#[derive(Clone, Default)]
pub(crate) struct Certificates {
    pub(crate) roots: Option<Pem>,
    pub(crate) client: Option<(Pem, Pem)>,
}

impl Certificates {
    /// Whether anything was given: then the URL must ask for TLS.
    pub(crate) fn any(&self) -> bool {
        self.roots.is_some() || self.client.is_some()
    }
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Certificates")
            .field("own_roots", &self.roots.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}
