//! The request pipeline: token source → parse → (anonymous?) → store check → verdict.

use std::sync::Arc;

use crate::auth::Auth;
use crate::identity::Identity;
use crate::mode::Mode;
use crate::rejection::{Reason, Refusal, Rejection, Responses};
use crate::store::Store;
use crate::token::TokenSource;
use crate::token::extract::Carrier;

/// How requests are authenticated on one route: the handle, where the token is read,
/// and whether a request without one passes. Configured once, used by every adapter.
pub(crate) struct Pipeline<S, M> {
    pub(crate) auth: Auth<S, M>,
    pub(crate) source: TokenSource,
    pub(crate) optional: bool,
}

impl<S, M> Clone for Pipeline<S, M> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            source: self.source.clone(),
            optional: self.optional,
        }
    }
}

/// How a request starts.
pub(crate) enum Start<C> {
    /// No token, on a route that lets anonymous requests through.
    Anonymous,
    /// The token's store read, under way.
    Check(C),
    /// Refused before any store work.
    Refuse(Refusal),
}

/// Put into an anonymous request's extensions: a layer ran and found no token. Lets
/// extractors answer in the handle's realm, and tell a wiring mistake (no marker, no
/// identity) from an anonymous request.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous(#[allow(dead_code)] Arc<Responses>);

#[cfg(any(feature = "axum", feature = "actix"))]
impl Anonymous {
    pub(crate) fn rejection(&self, reason: Reason) -> Rejection {
        self.0.rejection(reason)
    }
}

impl<S: Store, M: Mode<S>> Pipeline<S, M> {
    /// A pipeline reading `Authorization: Bearer`, refusing requests without a token.
    pub(crate) fn new(auth: Auth<S, M>) -> Self {
        Self {
            auth,
            source: TokenSource::bearer(),
            optional: false,
        }
    }

    /// Reads the token of a request and starts its check.
    pub(crate) fn start<'a>(&self, request: impl Carrier<'a>) -> Start<M::Check> {
        match self.source.extract(request) {
            Ok(Some(token)) => {
                let now = self.auth.now_ms();
                match self.auth.prepare(&token, now) {
                    Ok(token) => Start::Check(self.auth.check(token, now)),
                    Err(reason) => Start::Refuse(reason.into()),
                }
            }
            Ok(None) if self.optional => Start::Anonymous,
            Ok(None) => Start::Refuse(Reason::MissingToken.into()),
            Err(reason) => Start::Refuse(reason.into()),
        }
    }

    /// The rejection of a refused request, in the handle's realm.
    pub(crate) fn refuse(&self, refusal: Refusal) -> Rejection {
        tracing::debug!(%refusal, "request refused");
        self.auth.refused(refusal, self.auth.now_ms())
    }

    /// The marker of an anonymous request.
    pub(crate) fn anonymous(&self) -> Anonymous {
        Anonymous(self.auth.responses().clone())
    }
}

/// The span an authenticated request's handler runs in: who, which session — never the
/// token. At `DEBUG`, as tower-http's trace spans. Built only when a subscriber wants it:
/// `tracing`'s `log` fallback (on in most dependency trees) would otherwise format the
/// fields of every request's span, a third of the request's cost.
pub(crate) fn request_span(identity: &Identity) -> tracing::Span {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        "kickout",
        user_id = identity.user_id(),
        session_id = %identity.session_id(),
    )
}
