//! [`AuthLayer`] and the service it wraps around the inner one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::on_rejection::{JsonRejection, OnRejection};
use crate::auth::Auth;
use crate::rejection::{Reason, Rejection};
use crate::store::{MemoryStore, Store};
use crate::token::TokenSource;
use crate::token::extract::HttpParts;

/// A [`Layer`] that authenticates every request with an [`Auth`] handle.
///
/// On success the request reaches the inner service with an
/// [`Identity`](crate::Identity) in its extensions; on failure the client gets the
/// rejection (see [`OnRejection`]) and the inner service is not called. One store read
/// per request at most; malformed, over-long and foreign tokens cost none.
///
/// ```
/// use axum::{Router, routing::get};
/// use http::HeaderName;
/// use kickout::{Auth, AuthLayer, Identity, TokenSource, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// let protected = Router::new()
///     .route("/me", get(|id: Identity| async move { id.user_id().to_owned() }))
///     .layer(AuthLayer::new(auth.clone()));
/// // A public page that greets logged-in users: anonymous requests pass, bad tokens don't.
/// let public = Router::new()
///     .route("/", get(|id: Option<Identity>| async move { format!("{:?}", id.map(|i| i.device().to_owned())) }))
///     .layer(AuthLayer::new(auth.clone()).optional());
/// // Tokens from a header of our own instead of Authorization.
/// let custom = AuthLayer::new(auth).source(TokenSource::header(HeaderName::from_static("x-token")));
/// let app: Router = protected.merge(public);
/// # let _ = custom;
/// ```
#[derive(Debug)]
pub struct AuthLayer<S = MemoryStore, R = JsonRejection> {
    auth: Auth<S>,
    config: Arc<LayerConfig>,
    on_rejection: R,
}

impl<S, R: Clone> Clone for AuthLayer<S, R> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            config: Arc::clone(&self.config),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct LayerConfig {
    source: TokenSource,
    optional: bool,
}

impl<S: Store> AuthLayer<S> {
    /// Authenticates with `auth`, reading `Authorization: Bearer`; answers rejections
    /// with [`JsonRejection`].
    pub fn new(auth: Auth<S>) -> Self {
        Self {
            auth,
            config: Arc::new(LayerConfig {
                source: TokenSource::bearer(),
                optional: false,
            }),
            on_rejection: JsonRejection,
        }
    }
}

impl<S: Store, R> AuthLayer<S, R> {
    fn config_mut(&mut self) -> &mut LayerConfig {
        // Layers are configured before they are cloned; otherwise this copies once.
        Arc::make_mut(&mut self.config)
    }

    /// Where to read the token (default `Authorization: Bearer`).
    pub fn source(mut self, source: TokenSource) -> Self {
        self.config_mut().source = source;
        self
    }

    /// Let requests without a token through without an identity; bad, expired or
    /// revoked tokens are still refused.
    pub fn optional(mut self) -> Self {
        self.config_mut().optional = true;
        self
    }

    /// Answer rejections with `on_rejection` instead of the default JSON.
    pub fn on_rejection<R2>(self, on_rejection: R2) -> AuthLayer<S, R2> {
        AuthLayer {
            auth: self.auth,
            config: self.config,
            on_rejection,
        }
    }
}

impl<Svc, S: Store, R: Clone> Layer<Svc> for AuthLayer<S, R> {
    type Service = AuthService<Svc, S, R>;

    fn layer(&self, inner: Svc) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug)]
pub struct AuthService<Svc, S = MemoryStore, R = JsonRejection> {
    inner: Svc,
    layer: AuthLayer<S, R>,
}

impl<Svc: Clone, S, R: Clone> Clone for AuthService<Svc, S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<Svc, S, R, ReqB, ResB> Service<Request<ReqB>> for AuthService<Svc, S, R>
where
    Svc: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    S: Store,
    R: OnRejection<ResB>,
{
    type Response = Response<ResB>;
    type Error = Svc::Error;
    type Future = ResponseFuture<Svc, ReqB, S, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let layer = &self.layer;
        let prepared = match layer
            .config
            .source
            .extract(HttpParts(req.headers(), req.uri()))
        {
            Ok(Some(token)) => layer.auth.prepare(&token),
            Ok(None) if layer.config.optional => return ResponseFuture::call(self.inner.call(req)),
            Ok(None) => Err(Reason::MissingToken),
            Err(reason) => Err(reason),
        };
        let mut check = match prepared {
            Ok(prepared) => layer.auth.check(prepared),
            Err(reason) => return self.reject(layer.auth.rejection(reason)),
        };
        // A store that answers from memory is done at the first poll: go straight to the
        // inner service. Polling with a no-op waker is sound: a pending future is polled
        // again with the real waker by the response future, and registers it then.
        match Pin::new(&mut check).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(identity)) => {
                let mut req = req;
                req.extensions_mut().insert(identity);
                ResponseFuture::call(self.inner.call(req))
            }
            Poll::Ready(Err(reason)) => self.reject(self.layer.auth.rejection(reason)),
            Poll::Pending => {
                // The ready service goes into the future; a clone takes its place here.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let layer = self.layer.clone();
                ResponseFuture::check(check, ready, req, layer.auth, layer.on_rejection)
            }
        }
    }
}

impl<Svc, S, R> AuthService<Svc, S, R>
where
    S: Store,
{
    fn reject<ReqB, ResB>(&self, rejection: Rejection) -> ResponseFuture<Svc, ReqB, S, R>
    where
        Svc: Service<Request<ReqB>, Response = Response<ResB>>,
        R: OnRejection<ResB>,
    {
        tracing::debug!(reason = %rejection.reason(), "request refused");
        ResponseFuture::respond(self.layer.on_rejection.on_rejection(rejection))
    }
}
