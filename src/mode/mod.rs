//! How a token is checked: the validator seam between the framework adapters and the
//! modes.
//!
//! Adapters (the tower layer, extractors) see only [`Auth::prepare`] — the synchronous
//! part (parse, and in a signed-token mode the signature check), which refuses garbage
//! before any store work — and [`Auth::check`], a named future doing the one store read.
//! Neither knows which mode runs.

pub(crate) mod session;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::auth::Auth;
use crate::identity::Identity;
use crate::rejection::Reason;
use crate::store::Store;
use crate::token::SessionKey;

/// A token that passed the synchronous checks and awaits its store read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prepared {
    Session(SessionKey),
}

/// The store read of a prepared token, then the verdict: the identity, or why not.
/// `Unpin`, so the layer polls it in place and holds it inline.
pub struct Check<S: Store> {
    lookup: S::Lookup,
    now_ms: u64,
}

impl<S: Store> Auth<S> {
    /// Parses a token; refuses what cannot be one of ours without touching the store.
    pub(crate) fn prepare(&self, token: &str) -> Result<Prepared, Reason> {
        SessionKey::parse(token)
            .map(Prepared::Session)
            .ok_or(Reason::InvalidToken)
    }

    /// Starts the store read for a prepared token.
    pub(crate) fn check(&self, prepared: Prepared) -> Check<S> {
        let now_ms = self.now_ms();
        let lookup = match prepared {
            Prepared::Session(key) => self.store().lookup(&key, self.touch(now_ms), now_ms),
        };
        Check { lookup, now_ms }
    }
}

impl<S: Store> Future for Check<S> {
    type Output = Result<Identity, Reason>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let verdict = match ready!(Pin::new(&mut this.lookup).poll(cx)) {
            Ok(record) => session::verdict(record, this.now_ms),
            Err(error) => {
                tracing::warn!(%error, "session store unavailable; request refused");
                Err(Reason::StoreUnavailable)
            }
        };
        Poll::Ready(verdict)
    }
}
