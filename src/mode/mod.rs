//! How a token is checked: the validator seam between the framework adapters and the
//! modes.
//!
//! Adapters (the tower layer, extractors) see only [`Auth::prepare`] — the synchronous
//! part (parse, and in a signed-token mode the signature check), which refuses garbage
//! before any store work — and [`Auth::check`], a named future doing the one store read.
//! Neither knows which mode runs.

#[cfg(feature = "jwt")]
pub mod jwt;
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
#[derive(Clone, Debug)]
pub(crate) enum Prepared {
    Session(SessionKey),
    #[cfg(feature = "jwt")]
    Jwt(std::sync::Arc<jwt::Verified>),
}

/// The store read of a prepared token, then the verdict: the identity, or why not.
/// `Unpin`, so the layer polls it in place and holds it inline.
pub struct Check<S: Store> {
    read: Read<S>,
    now_ms: u64,
}

enum Read<S: Store> {
    Session(S::Lookup, SessionKey),
    #[cfg(feature = "jwt")]
    Jwt(S::JwtCheck, std::sync::Arc<jwt::Verified>),
}

impl<S: Store> Auth<S> {
    /// Parses a token; refuses what cannot be one of ours without touching the store.
    pub(crate) fn prepare(&self, token: &str) -> Result<Prepared, Reason> {
        #[cfg(feature = "jwt")]
        if let Some(jwt) = self.jwt() {
            return jwt.verify(token, self.now_ms()).map(Prepared::Jwt);
        }
        SessionKey::parse(token)
            .map(Prepared::Session)
            .ok_or(Reason::InvalidToken)
    }

    /// Starts the store read for a prepared token (renewing the idle deadline).
    pub(crate) fn check(&self, prepared: Prepared) -> Check<S> {
        self.check_with(prepared, true)
    }

    /// The same read without renewing the idle deadline: a watch re-checking a session
    /// is no activity of its user.
    pub(crate) fn check_quietly(&self, prepared: Prepared) -> Check<S> {
        self.check_with(prepared, false)
    }

    fn check_with(&self, prepared: Prepared, touch: bool) -> Check<S> {
        let now_ms = self.now_ms();
        let read = match prepared {
            Prepared::Session(key) => {
                let touch = if touch { self.touch(now_ms) } else { None };
                Read::Session(self.store().lookup(&key, touch, now_ms), key)
            }
            #[cfg(feature = "jwt")]
            Prepared::Jwt(v) => {
                let token = crate::store::JwtToken {
                    epoch: v.epoch,
                    tag: v.tag,
                    jti: &v.jti,
                    device: &v.device,
                    user_gen: v.user_gen,
                    device_gen: v.device_gen,
                };
                Read::Jwt(self.store().jwt_check(&v.user_id, token, now_ms), v)
            }
        };
        Check { read, now_ms }
    }
}

impl<S: Store> Future for Check<S> {
    type Output = Result<Identity, Reason>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let verdict = match &mut this.read {
            Read::Session(lookup, key) => match ready!(Pin::new(lookup).poll(cx)) {
                Ok(record) => session::verdict(record, this.now_ms)
                    .map(|id| id.checked_by(Prepared::Session(*key))),
                Err(error) => Err(unavailable(&error)),
            },
            #[cfg(feature = "jwt")]
            Read::Jwt(check, verified) => match ready!(Pin::new(check).poll(cx)) {
                Ok(status) => jwt_verdict(status, verified)
                    .map(|id| id.checked_by(Prepared::Jwt(verified.clone()))),
                Err(error) => Err(unavailable(&error)),
            },
        };
        Poll::Ready(verdict)
    }
}

fn unavailable(error: &crate::store::StoreError) -> Reason {
    tracing::warn!(%error, "session store unavailable; request refused");
    Reason::StoreUnavailable
}

/// What the store's answer means for a verified JWT.
#[cfg(feature = "jwt")]
fn jwt_verdict(status: crate::store::JwtStatus, v: &jwt::Verified) -> Result<Identity, Reason> {
    use crate::store::SessionInfo;
    if !status.known {
        // A signed, unexpired token always has a state: the store lost it. Fail closed.
        return Err(Reason::InvalidToken);
    }
    if let Some(ended) = status.ended {
        return Err(ended.reason.rejection(status.ban_until_ms.is_some()));
    }
    let identity = Identity::new(SessionInfo {
        session_id: v.session_id,
        user_id: v.user_id.clone(),
        device: v.device.clone(),
        issued_at_ms: v.issued_at_ms,
        expires_at_ms: v.expires_at_ms,
    });
    Ok(identity.with_claims(v.ext.clone()))
}
