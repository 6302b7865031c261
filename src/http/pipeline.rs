//! The request pipeline: token source → parse → (anonymous?) → store check → verdict.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::auth::Auth;
use crate::cookies::Cookies;
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
    /// Browser sessions: the access cookie is a source, under the CSRF rule.
    pub(crate) cookies: Option<Cookies>,
}

impl<S, M> Clone for Pipeline<S, M> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            source: self.source.clone(),
            optional: self.optional,
            cookies: self.cookies.clone(),
        }
    }
}

/// How a request starts.
enum Start<T> {
    /// No token, on a route that lets anonymous requests through.
    Anonymous,
    /// A token that passed the checks without the store, its time, and whether it came
    /// in a cookie. (Its store read is started where it is polled: the read's future
    /// is the largest value of a request, and is built in place, never moved.)
    Prepared(T, u64, Carried),
    /// Refused before any store work.
    Refuse(Refusal, Carried),
}

/// How the request carried its token: a refusal of a cookie-borne token also clears
/// the browser's cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carried {
    /// A header or the query string (or no token).
    Plain,
    /// The access cookie.
    Cookie,
}

/// Where a request stands after the pipeline's first poll: every adapter translates
/// these four into its framework's types, and nothing more.
pub(crate) enum Begin<C> {
    /// Authenticated: the identity for the request's extensions, and the span its
    /// handler runs in.
    Pass(Identity, tracing::Span),
    /// No token on an optional route: the mark for the request's extensions.
    Anonymous(Anonymous),
    /// Refused, in the handle's realm.
    Refuse(Rejection),
    /// The store read is under way: poll it, then [`Pipeline::finish`] its verdict
    /// (with how the token came).
    Wait(C, Carried),
}

/// Put into an anonymous request's extensions: a layer ran and found no token. Lets
/// extractors answer in the handle's realm, and tell a wiring mistake (no marker, no
/// identity) from an anonymous request.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous(Arc<Responses>);

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
            cookies: None,
        }
    }

    /// Reads the access cookie of `cookies` too, under the CSRF rule.
    pub(crate) fn set_cookies(&mut self, cookies: Cookies) {
        self.source = self.source.clone().with_cookie(cookies.access_name());
        self.cookies = Some(cookies);
    }

    /// Where to read the token; with cookies configured, their access cookie too
    /// (whichever of the two was set first).
    pub(crate) fn set_source(&mut self, source: TokenSource) {
        self.source = match &self.cookies {
            Some(cookies) => source.with_cookie(cookies.access_name()),
            None => source,
        };
    }

    /// Reads the token of a request, starts its check and polls it once. A store that
    /// answers from memory is done then, so the request goes straight on with nothing
    /// boxed. Polling with a no-op waker is sound: a pending check is polled again,
    /// with the real waker, by the adapter's response future.
    pub(crate) fn begin<'a>(&self, request: impl Carrier<'a>) -> Begin<M::Check> {
        let (token, now, carried) = match self.start(request) {
            Start::Prepared(token, now, carried) => (token, now, carried),
            Start::Anonymous => return Begin::Anonymous(self.anonymous()),
            Start::Refuse(refusal, carried) => {
                return Begin::Refuse(self.refuse(refusal, carried));
            }
        };
        let mut check = self.auth.check(token, now);
        match Pin::new(&mut check).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(verdict) => match self.finish(verdict, carried) {
                Ok((identity, span)) => Begin::Pass(identity, span),
                Err(rejection) => Begin::Refuse(rejection),
            },
            Poll::Pending => Begin::Wait(check, carried),
        }
    }

    /// What a finished check means: the identity and its handler's span, or the
    /// rejection.
    pub(crate) fn finish(
        &self,
        verdict: Result<Identity, Refusal>,
        carried: Carried,
    ) -> Result<(Identity, tracing::Span), Rejection> {
        match verdict {
            Ok(mut identity) => {
                if M::CLAIMS || carried == Carried::Cookie {
                    // So a claims extractor, or a handler's call refused for this
                    // identity, refuses as this layer does; a bearer request of a mode
                    // without claims pays nothing.
                    identity.answer_as(self.auth.responses(), self.clear_headers(carried));
                }
                let span = request_span(&identity);
                Ok((identity, span))
            }
            Err(refusal) => Err(self.refuse(refusal, carried)),
        }
    }

    /// Reads the token of a request and checks what needs no store.
    fn start<'a>(&self, request: impl Carrier<'a>) -> Start<M::Token> {
        let offered = match self.source.extract(request) {
            Ok(Some(offered)) => offered,
            Ok(None) if self.optional => return Start::Anonymous,
            Ok(None) => return Start::Refuse(Reason::MissingToken.into(), Carried::Plain),
            Err(unreadable) => {
                let carried = if unreadable.cookie {
                    Carried::Cookie
                } else {
                    Carried::Plain
                };
                return Start::Refuse(unreadable.reason.into(), carried);
            }
        };
        let carried = if offered.by_cookie {
            // A cookie goes with every request to the site, whoever makes the browser
            // send it: an unsafe one must show it comes from the site itself.
            // Without a `Cookies` configuration (a bare `TokenSource::cookie`), the
            // same rule with no allowed origin and no CSRF cookie.
            let allowed = match &self.cookies {
                Some(cookies) => cookies.allows(request),
                None => {
                    let site = crate::cookies::csrf::Site {
                        origins: &[],
                        secure: true,
                    };
                    crate::cookies::csrf::allows(request, &site, || None)
                }
            };
            if !allowed {
                return Start::Refuse(Reason::CsrfRejected.into(), Carried::Plain);
            }
            Carried::Cookie
        } else {
            Carried::Plain
        };
        if self.source.too_long(&offered.token) {
            return Start::Refuse(Reason::InvalidToken.into(), carried);
        }
        let now = self.auth.now_ms();
        match self.auth.prepare(&offered.token, now) {
            Ok(token) => Start::Prepared(token, now, carried),
            Err(reason) => Start::Refuse(reason.into(), carried),
        }
    }

    /// The rejection of a refused request, in the handle's realm. A 401 of a token
    /// that came in a cookie, or a 400 of an access cookie that does not read as a
    /// token (a browser would replay it on every request), also clears the browser's
    /// cookies; a 403 `csrf_rejected` clears nothing (any site could sign a user out),
    /// nor does a 503 (an outage signs no one out).
    fn refuse(&self, refusal: Refusal, carried: Carried) -> Rejection {
        tracing::debug!(%refusal, "request refused");
        let rejection = self.auth.refused(refusal, self.auth.now_ms());
        match self.clear_headers(carried) {
            Some(clear) if rejection.clears_cookies() => rejection.clearing(clear.clone()),
            _ => rejection,
        }
    }

    /// The headers clearing the browser's cookies, for a token that came in one.
    fn clear_headers(&self, carried: Carried) -> Option<&Arc<Vec<http::HeaderValue>>> {
        match (&self.cookies, carried) {
            (Some(cookies), Carried::Cookie) => Some(cookies.clear_headers()),
            _ => None,
        }
    }

    /// The marker of an anonymous request.
    fn anonymous(&self) -> Anonymous {
        Anonymous(self.auth.responses().clone())
    }
}

/// The span an authenticated request's handler runs in: who, which session — never the
/// token. At `DEBUG`, as tower-http's trace spans. Built only when a subscriber wants it:
/// `tracing`'s `log` fallback (on in most dependency trees) would otherwise format the
/// fields of every request's span, a third of the request's cost.
fn request_span(identity: &Identity) -> tracing::Span {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        "kickout",
        user_id = identity.user_id(),
        session_id = %identity.session_id(),
    )
}
