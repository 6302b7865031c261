//! actix-web integration: the same guarantees for actix apps, over the same core.
//!
//! [`KickoutAuth`] is a middleware (`App::wrap`, or `Scope::wrap` for one scope) that
//! runs the same request pipeline as the tower layer: the same [`TokenSource`] rules,
//! the same [`Auth`] handle (either mode, any store), the same [`Identity`] in the
//! request's extensions, and the same status, challenge and JSON body on refusal (or
//! your own, with [`KickoutAuth::on_rejection`]). [`Identity`] and [`UserId`] are
//! extractors, answering like the axum ones (401 on an anonymous request of an optional
//! scope, 500 naming the middleware where none ran); [`Rejection`], [`Error`] and
//! [`IdentityRejection`] are `ResponseError`s.
//!
//! actix-web 4 has its own `http` types: pass its `HeaderName` to
//! [`TokenSource::header`] as it is, and read a rejection's status as actix's with
//! `ResponseError::status_code` (`status()` is `http` 1's, for tower).
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use kickout::{Auth, Identity, actix::KickoutAuth, store::MemoryStore};
//!
//! async fn me(me: Identity) -> HttpResponse {
//!     HttpResponse::Ok().body(me.user_id().to_owned())
//! }
//!
//! let auth = Auth::new(MemoryStore::new());
//! let app = App::new()
//!     .app_data(web::Data::new(auth.clone())) // for login / logout / kickout in handlers
//!     .service(web::scope("/api").wrap(KickoutAuth::new(auth)).route("/me", web::get().to(me)));
//! # let _ = app;
//! ```

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use tracing::Instrument;

use crate::auth::Auth;
use crate::error::Error;
use crate::http::{
    Anonymous, IdentityRejection, Pipeline, Start, identity, request_span, required,
};
use crate::identity::{Identity, UserId};
use crate::mode::{Mode, SessionMode};
use crate::rejection::Rejection;
use crate::store::{MemoryStore, Store};
use crate::token::TokenSource;
use crate::token::extract::{Carrier, Wanted};

const LAYER: &str = "kickout::actix::KickoutAuth";

/// The carrier of an actix request.
#[derive(Clone, Copy)]
struct ActixParts<'a>(&'a HttpRequest);

impl<'a> Carrier<'a> for ActixParts<'a> {
    fn values(self, name: Wanted<'_>) -> impl Iterator<Item = &'a [u8]> {
        use actix_web::http::header::{AUTHORIZATION, COOKIE};
        let headers = self.0.headers();
        let values = match name {
            Wanted::Authorization => headers.get_all(AUTHORIZATION),
            Wanted::Cookie => headers.get_all(COOKIE),
            Wanted::Header(name) => headers.get_all(name.as_str()),
        };
        values.map(|v| v.as_bytes())
    }

    fn query(self) -> Option<&'a str> {
        Some(self.0.query_string()).filter(|q| !q.is_empty())
    }
}

/// The middleware factory: wrap an app or a scope with it.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use kickout::{Auth, TokenSource, actix::KickoutAuth, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// // Anonymous requests pass without an identity; bad or revoked tokens do not.
/// let public = KickoutAuth::new(auth.clone()).optional();
/// // A route where browsers' EventSource sends ?access_token=.
/// let events = KickoutAuth::new(auth.clone()).source(TokenSource::bearer().with_query("access_token"));
/// // Refusals in the application's own format.
/// let custom = KickoutAuth::new(auth)
///     .on_rejection(|r: kickout::Rejection| HttpResponse::Unauthorized().body(r.reason().code()));
/// let app = App::new().service(web::scope("/events").wrap(events));
/// # let _ = (public, custom, app);
/// ```
pub struct KickoutAuth<S = MemoryStore, M = SessionMode> {
    pipeline: Arc<Pipeline<S, M>>,
    on_rejection: Option<OnRejection>,
}

/// An application's own answer to a refused request.
type OnRejection = Arc<dyn Fn(Rejection) -> HttpResponse + Send + Sync>;

impl<S, M> std::fmt::Debug for KickoutAuth<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KickoutAuth")
            .field("source", &self.pipeline.source)
            .field("optional", &self.pipeline.optional)
            .field("on_rejection", &self.on_rejection.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, M> Clone for KickoutAuth<S, M> {
    fn clone(&self) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S: Store, M: Mode<S>> KickoutAuth<S, M> {
    /// Authenticates with `auth`, reading `Authorization: Bearer`.
    pub fn new(auth: Auth<S, M>) -> Self {
        Self {
            pipeline: Arc::new(Pipeline::new(auth)),
            on_rejection: None,
        }
    }

    /// Where to read the token (default `Authorization: Bearer`).
    pub fn source(mut self, source: TokenSource) -> Self {
        Arc::make_mut(&mut self.pipeline).source = source;
        self
    }

    /// Let requests without a token through without an identity.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.pipeline).optional = true;
        self
    }

    /// Answer refused requests with `f` instead of the default JSON (the same hook as
    /// the tower layer's [`on_rejection`](crate::AuthLayer::on_rejection)).
    pub fn on_rejection(
        mut self,
        f: impl Fn(Rejection) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_rejection = Some(Arc::new(f));
        self
    }
}

impl<Svc, B, S, M> Transform<Svc, ServiceRequest> for KickoutAuth<S, M>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: Store,
    M: Mode<S>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = KickoutAuthMiddleware<Svc, S, M>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(KickoutAuthMiddleware {
            service: Rc::new(service),
            auth: self.clone(),
        }))
    }
}

/// The service of [`KickoutAuth`].
pub struct KickoutAuthMiddleware<Svc, S = MemoryStore, M = SessionMode> {
    service: Rc<Svc>,
    auth: KickoutAuth<S, M>,
}

impl<Svc, S, M> std::fmt::Debug for KickoutAuthMiddleware<Svc, S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KickoutAuthMiddleware")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl<Svc, B, S, M> Service<ServiceRequest> for KickoutAuthMiddleware<Svc, S, M>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: Store,
    M: Mode<S>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let start = self.auth.pipeline.start(ActixParts(req.request()));
        let service = Rc::clone(&self.service);
        let auth = self.auth.clone();
        Box::pin(async move {
            let verdict = match start {
                Start::Check(check) => check.await.map(Some),
                Start::Anonymous => Ok(None),
                Start::Refuse(reason) => Err(reason),
            };
            match verdict {
                Ok(Some(identity)) => {
                    let span = request_span(&identity);
                    req.extensions_mut().insert(identity);
                    let response = service.call(req).instrument(span).await?;
                    Ok(response.map_into_left_body())
                }
                Ok(None) => {
                    req.extensions_mut().insert(auth.pipeline.anonymous());
                    Ok(service.call(req).await?.map_into_left_body())
                }
                Err(reason) => {
                    let rejection = auth.pipeline.refuse(reason);
                    let response = match &auth.on_rejection {
                        Some(f) => f(rejection),
                        None => to_actix(rejection.into_http()),
                    };
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

/// A boxed future of one thread (actix services run on one thread each).
type LocalBoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// An `http` response of ours as an actix response.
fn to_actix(res: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let mut builder = HttpResponse::build(status(parts.status));
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(BoxBody::new(body))
}

/// An `http` status as actix's (the same numbers, another crate's type).
fn status(code: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(code.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        to_actix(self.clone().into_http())
    }
}

impl ResponseError for IdentityRejection {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        to_actix(self.clone().into_http())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        if let Error::Store(error) = self {
            tracing::warn!(%error, "session store unavailable");
        }
        to_actix(self.to_http())
    }
}

fn found(req: &HttpRequest) -> (Option<Identity>, Option<Anonymous>) {
    let extensions = req.extensions();
    (
        extensions.get::<Identity>().cloned(),
        extensions.get::<Anonymous>().cloned(),
    )
}

impl FromRequest for Identity {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (id, anonymous) = found(req);
        ready(required(id.as_ref(), anonymous.as_ref(), LAYER))
    }
}

impl FromRequest for UserId {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (id, anonymous) = found(req);
        ready(
            required(id.as_ref(), anonymous.as_ref(), LAYER)
                .map(|id| UserId(id.user_id_arc().clone())),
        )
    }
}

/// `Option<Identity>` in actix: `None` for an anonymous request, 500 without the
/// middleware (actix's own `Option<T>` extractor would swallow that error).
#[derive(Clone, Debug)]
pub struct MaybeIdentity(pub Option<Identity>);

impl FromRequest for MaybeIdentity {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (id, anonymous) = found(req);
        ready(identity(id.as_ref(), anonymous.as_ref(), LAYER).map(MaybeIdentity))
    }
}

#[cfg(feature = "jwt")]
impl<T: serde::de::DeserializeOwned> FromRequest for crate::http::Claims<T> {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (id, anonymous) = found(req);
        ready(
            required(id.as_ref(), anonymous.as_ref(), LAYER)
                .and_then(|id| crate::http::claims(&id)),
        )
    }
}
