//! [`AuthLayer`] and the service it wraps around the inner one.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use crate::auth::Auth;
use crate::cookies::Cookies;
use crate::http::{Begin, Pipeline};
use crate::mode::{Mode, SessionMode};
use crate::store::{MemoryStore, Store};
use crate::token::TokenSource;
use crate::token::extract::HttpParts;

/// A [`Layer`] that authenticates every request with an [`Auth`] handle.
///
/// On success the request reaches the inner service with an
/// [`Identity`](crate::Identity) in its extensions; on failure the client gets the
/// [`Rejection`](crate::Rejection) (in the handle's own shape if it was built with
/// [`on_rejection`](crate::AuthBuilder::on_rejection)) and the inner service is not
/// called. The response body is any type built from `Bytes` (axum's, hyper's `Full`). One store read
/// per request at most; malformed, over-long and foreign tokens cost none.
///
/// With axum, prefer [`Router::route_layer`] for a router that has public routes too:
/// `.layer` also runs for paths no route matches, which then answer 401 instead of 404.
///
/// [`Router::route_layer`]: https://docs.rs/axum/latest/axum/struct.Router.html#method.route_layer
///
/// ```
/// use axum::{Router, routing::get};
/// use axum::http::HeaderName;
/// use kickout::{Auth, AuthLayer, Identity, TokenSource, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// let protected = Router::new()
///     .route("/me", get(|id: Identity| async move { id.user_id().to_owned() }))
///     .route_layer(AuthLayer::new(auth.clone()));
/// // A public page that greets logged-in users: anonymous requests pass, bad tokens don't.
/// let public = Router::new()
///     .route("/", get(|id: Option<Identity>| async move { format!("{:?}", id.map(|i| i.device().to_owned())) }))
///     .route_layer(AuthLayer::new(auth.clone()).optional());
/// // Tokens from a header of our own instead of Authorization.
/// let custom = AuthLayer::new(auth).source(TokenSource::header(HeaderName::from_static("x-token")));
/// let app: Router = protected.merge(public);
/// # let _ = custom;
/// ```
pub struct AuthLayer<S = MemoryStore, M = SessionMode> {
    pipeline: Arc<Pipeline<S, M>>,
}

impl<S, M> Clone for AuthLayer<S, M> {
    fn clone(&self) -> Self {
        Self {
            pipeline: Arc::clone(&self.pipeline),
        }
    }
}

impl<S, M> std::fmt::Debug for AuthLayer<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("source", &self.pipeline.source)
            .field("optional", &self.pipeline.optional)
            .finish_non_exhaustive()
    }
}

impl<S: Store, M: Mode<S>> AuthLayer<S, M> {
    /// Authenticates with `auth`, reading `Authorization: Bearer`.
    pub fn new(auth: Auth<S, M>) -> Self {
        Self {
            pipeline: Arc::new(Pipeline::new(auth)),
        }
    }

    fn pipeline_mut(&mut self) -> &mut Pipeline<S, M> {
        // Layers are configured before they are cloned; otherwise this copies once.
        Arc::make_mut(&mut self.pipeline)
    }

    /// Where to read the token (default `Authorization: Bearer`).
    pub fn source(mut self, source: TokenSource) -> Self {
        self.pipeline_mut().set_source(source);
        self
    }

    /// Let requests without a token through without an identity; bad, expired or
    /// revoked tokens are still refused.
    pub fn optional(mut self) -> Self {
        self.pipeline_mut().optional = true;
        self
    }

    /// Browser sessions: also read the access cookie of `cookies` (a bearer header and
    /// the cookie together are `invalid_request`), refuse an unsafe cookie request from
    /// another site with 403 `csrf_rejected`, and clear the cookies when a cookie-borne
    /// token is refused with 401 (or a lone access cookie that is no token with 400).
    /// See [`cookies`](crate::cookies).
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use kickout::{Auth, AuthLayer, Identity, cookies::Cookies, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/me/logout-others", post(|me: Identity| async move { me.user_id().to_owned() }))
    ///     .route_layer(AuthLayer::new(auth).cookies(Cookies::default()));
    /// ```
    pub fn cookies(mut self, cookies: Cookies) -> Self {
        self.pipeline_mut().set_cookies(cookies);
        self
    }
}

impl<Svc, S, M> Layer<Svc> for AuthLayer<S, M> {
    type Service = AuthService<Svc, S, M>;

    fn layer(&self, inner: Svc) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug)]
pub struct AuthService<Svc, S = MemoryStore, M = SessionMode> {
    inner: Svc,
    layer: AuthLayer<S, M>,
}

impl<Svc: Clone, S, M> Clone for AuthService<Svc, S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<Svc, S, M, ReqB, ResB> Service<Request<ReqB>> for AuthService<Svc, S, M>
where
    Svc: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    S: Store,
    M: Mode<S>,
    ResB: From<Bytes>,
{
    type Response = Response<ResB>;
    type Error = Svc::Error;
    type Future = ResponseFuture<Svc, ReqB, S, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        match self
            .layer
            .pipeline
            .begin(HttpParts::new(req.method(), req.uri(), req.headers()))
        {
            Begin::Pass(identity, span) => {
                req.extensions_mut().insert(identity);
                let future = {
                    // Entered, not `in_scope`: a closure would move the request once more.
                    let _entered = span.enter();
                    self.inner.call(req)
                };
                ResponseFuture::call(future, span)
            }
            Begin::Anonymous(mark) => {
                req.extensions_mut().insert(mark);
                ResponseFuture::call(self.inner.call(req), tracing::Span::none())
            }
            Begin::Refuse(rejection) => ResponseFuture::respond(rejection.into_http()),
            Begin::Wait(check, carried) => {
                // The ready service goes into the future; a clone takes its place here.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let pipeline = self.layer.pipeline.clone();
                ResponseFuture::check((check, carried), ready, req, pipeline)
            }
        }
    }
}
