//! How a token is checked: the validator seam between the framework adapters and the
//! modes.
//!
//! Adapters (the tower layer, extractors) see only [`Auth::prepare`] — the synchronous
//! part (parse, and in a signed-token mode the signature check), which refuses garbage
//! before any store work — and [`Auth::check`], the one store read. Neither knows which
//! mode runs.

pub(crate) mod session;

use std::future::Future;
use std::pin::Pin;

use crate::auth::Auth;
use crate::identity::Identity;
use crate::rejection::{Reason, Rejection};
use crate::store::Store;
use crate::token::SessionKey;

/// A token that passed the synchronous checks and awaits its store read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prepared {
    Session(SessionKey),
}

/// The store read of a prepared token, boxed so adapters can hold it.
pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = Result<Identity, Rejection>> + Send>>;

impl<S: Store> Auth<S> {
    /// Parses a token; refuses what cannot be one of ours without touching the store.
    pub(crate) fn prepare(&self, token: &str) -> Result<Prepared, Reason> {
        SessionKey::parse(token)
            .map(Prepared::Session)
            .ok_or(Reason::InvalidToken)
    }

    /// Reads the store for a prepared token: the identity, or why not.
    pub(crate) fn check(&self, prepared: Prepared) -> CheckFuture {
        let auth = self.clone();
        Box::pin(async move {
            let result = match prepared {
                Prepared::Session(key) => session::check(&auth, &key).await,
            };
            result.map_err(|reason| auth.rejection(reason))
        })
    }
}
