//! actix-web integration: the same guarantees for actix apps, over the same core.
//!
//! [`KickoutAuth`] is a middleware (`App::wrap`, or `Scope::wrap` for one scope) that
//! reads the token with the same [`TokenSource`] rules, checks it with the same
//! [`Auth`] handle (either mode, any store), inserts the same [`Identity`] into the
//! request's extensions, and refuses with the same status, challenge and JSON body as
//! the tower layer. [`Identity`] and [`UserId`] are extractors (`Option<_>` of them
//! never fails); [`Rejection`] and [`Error`] are `ResponseError`s.
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

use crate::auth::Auth;
use crate::error::Error;
use crate::identity::{Identity, UserId};
use crate::rejection::{Reason, Rejection};
use crate::store::{MemoryStore, Store};
use crate::token::TokenSource;
use crate::token::extract::{Carrier, Wanted};

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
/// use actix_web::{App, web};
/// use kickout::{Auth, TokenSource, actix::KickoutAuth, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// // Anonymous requests pass without an identity; bad or revoked tokens do not.
/// let public = KickoutAuth::new(auth.clone()).optional();
/// // A route where browsers' EventSource sends ?access_token=.
/// let events = KickoutAuth::new(auth).source(TokenSource::bearer().with_query("access_token"));
/// let app = App::new().service(web::scope("/events").wrap(events));
/// # let _ = (public, app);
/// ```
pub struct KickoutAuth<S = MemoryStore> {
    auth: Auth<S>,
    config: Arc<Config>,
}

impl<S> Clone for KickoutAuth<S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            config: self.config.clone(),
        }
    }
}

#[derive(Clone)]
struct Config {
    source: TokenSource,
    optional: bool,
}

impl<S: Store> KickoutAuth<S> {
    /// Authenticates with `auth`, reading `Authorization: Bearer`.
    pub fn new(auth: Auth<S>) -> Self {
        Self {
            auth,
            config: Arc::new(Config {
                source: TokenSource::bearer(),
                optional: false,
            }),
        }
    }

    /// Where to read the token (default `Authorization: Bearer`).
    pub fn source(mut self, source: TokenSource) -> Self {
        Arc::make_mut(&mut self.config).source = source;
        self
    }

    /// Let requests without a token through without an identity.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.config).optional = true;
        self
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for KickoutAuth<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: Store,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = KickoutAuthMiddleware<Svc, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(KickoutAuthMiddleware {
            service: Rc::new(service),
            auth: self.auth.clone(),
            config: self.config.clone(),
        }))
    }
}

/// The service of [`KickoutAuth`].
pub struct KickoutAuthMiddleware<Svc, S = MemoryStore> {
    service: Rc<Svc>,
    auth: Auth<S>,
    config: Arc<Config>,
}

impl<Svc, B, S> Service<ServiceRequest> for KickoutAuthMiddleware<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: Store,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let prepared = match self.config.source.extract(ActixParts(req.request())) {
            Ok(Some(token)) => self.auth.prepare(&token).map(Some),
            Ok(None) if self.config.optional => Ok(None),
            Ok(None) => Err(Reason::MissingToken),
            Err(reason) => Err(reason),
        };
        let service = Rc::clone(&self.service);
        let auth = self.auth.clone();
        Box::pin(async move {
            let verdict = match prepared {
                Ok(Some(prepared)) => auth.check(prepared).await.map(Some),
                Ok(None) => Ok(None),
                Err(reason) => Err(reason),
            };
            match verdict {
                Ok(identity) => {
                    if let Some(identity) = identity {
                        req.extensions_mut().insert(identity);
                    }
                    Ok(service.call(req).await?.map_into_left_body())
                }
                Err(reason) => {
                    tracing::debug!(%reason, "request refused");
                    let response = to_actix(auth.rejection(reason).into_response());
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
        to_actix(self.clone().into_response())
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
        to_actix(self.to_response())
    }
}

impl FromRequest for Identity {
    type Error = Rejection;
    type Future = Ready<Result<Self, Rejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Identity>()
                .cloned()
                .ok_or_else(|| Rejection::new(Reason::MissingToken)),
        )
    }
}

impl FromRequest for UserId {
    type Error = Rejection;
    type Future = Ready<Result<Self, Rejection>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let identity = Identity::from_request(req, payload).into_inner();
        ready(identity.map(|id| UserId(id.user_id_arc().clone())))
    }
}
