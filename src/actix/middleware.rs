//! [`KickoutAuth`] and the service it wraps around the inner one.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{HttpMessage, HttpRequest};

use super::future::ResponseFuture;
use super::respond::refuse;
use crate::auth::Auth;
use crate::cookies::Cookies;
use crate::http::{Begin, Pipeline};
use crate::mode::{Mode, SessionMode};
use crate::rejection::Reason;
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

    fn safe_method(self) -> bool {
        use actix_web::http::Method;
        matches!(
            *self.0.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
    }

    fn host(self) -> Option<&'a [u8]> {
        match self.0.headers().get(actix_web::http::header::HOST) {
            Some(host) => Some(host.as_bytes()),
            None => self.0.uri().authority().map(|a| a.as_str().as_bytes()),
        }
    }
}

impl Cookies {
    /// [`Cookies::refresh_token`] for an actix-web request: the refresh cookie under the
    /// CSRF rule, or why not (answer it with [`Auth::rejection`](crate::Auth::rejection)).
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// use kickout::{Reason, cookies::Cookies};
    ///
    /// let req = TestRequest::post()
    ///     .insert_header(("cookie", "__Secure-kickout-refresh=abc"))
    ///     .insert_header(("sec-fetch-site", "same-origin"))
    ///     .to_http_request();
    /// assert_eq!(Cookies::default().refresh_token_actix(&req).unwrap(), "abc");
    /// ```
    pub fn refresh_token_actix(&self, req: &HttpRequest) -> Result<String, Reason> {
        self.refresh_of(ActixParts(req))
    }

    /// [`Cookies::login_guard`] for an actix-web request.
    pub fn login_guard_actix(&self, req: &HttpRequest) -> Result<(), Reason> {
        self.login_guard_of(ActixParts(req))
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
/// let events = KickoutAuth::new(auth.clone()).source(TokenSource::bearer().with_query("access_token"));
/// let app = App::new().service(web::scope("/events").wrap(events));
/// # let _ = (public, app);
/// ```
///
/// Refusals answer as the tower layer's: the default JSON, or the handle's own shape
/// ([`AuthBuilder::on_rejection`](crate::AuthBuilder::on_rejection)).
pub struct KickoutAuth<S = MemoryStore, M = SessionMode> {
    pipeline: Arc<Pipeline<S, M>>,
}

impl<S, M> std::fmt::Debug for KickoutAuth<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KickoutAuth")
            .field("source", &self.pipeline.source)
            .field("optional", &self.pipeline.optional)
            .finish_non_exhaustive()
    }
}

impl<S, M> Clone for KickoutAuth<S, M> {
    fn clone(&self) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
        }
    }
}

impl<S: Store, M: Mode<S>> KickoutAuth<S, M> {
    /// Authenticates with `auth`, reading `Authorization: Bearer`.
    pub fn new(auth: Auth<S, M>) -> Self {
        Self {
            pipeline: Arc::new(Pipeline::new(auth)),
        }
    }

    /// Where to read the token (default `Authorization: Bearer`).
    pub fn source(mut self, source: TokenSource) -> Self {
        Arc::make_mut(&mut self.pipeline).set_source(source);
        self
    }

    /// Let requests without a token through without an identity.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.pipeline).optional = true;
        self
    }

    /// Browser sessions, as the tower layer's
    /// [`AuthLayer::cookies`](crate::AuthLayer::cookies): the access cookie too, the
    /// CSRF rule, cookies cleared when a cookie-borne token is refused.
    ///
    /// ```
    /// use actix_web::{App, web};
    /// use kickout::{Auth, actix::KickoutAuth, cookies::Cookies, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let app = App::new().service(
    ///     web::scope("/me").wrap(KickoutAuth::new(auth).cookies(Cookies::default())),
    /// );
    /// # let _ = app;
    /// ```
    pub fn cookies(mut self, cookies: Cookies) -> Self {
        Arc::make_mut(&mut self.pipeline).set_cookies(cookies);
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
            pipeline: self.pipeline.clone(),
        }))
    }
}

/// The service of [`KickoutAuth`].
pub struct KickoutAuthMiddleware<Svc, S = MemoryStore, M = SessionMode> {
    service: Rc<Svc>,
    pipeline: Arc<Pipeline<S, M>>,
}

impl<Svc, S, M> std::fmt::Debug for KickoutAuthMiddleware<Svc, S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KickoutAuthMiddleware")
            .field("source", &self.pipeline.source)
            .field("optional", &self.pipeline.optional)
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
    type Future = ResponseFuture<Svc, B, S, M>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match self.pipeline.begin(ActixParts(req.request())) {
            Begin::Pass(identity, span) => {
                req.extensions_mut().insert(identity);
                let future = {
                    // Entered, not `in_scope`: a closure would move the request once more.
                    let _entered = span.enter();
                    self.service.call(req)
                };
                ResponseFuture::call(future, span)
            }
            Begin::Anonymous(mark) => {
                req.extensions_mut().insert(mark);
                ResponseFuture::call(self.service.call(req), tracing::Span::none())
            }
            Begin::Refuse(rejection) => ResponseFuture::respond(refuse(req, rejection)),
            Begin::Wait(check, carried) => ResponseFuture::check(
                (check, carried),
                req,
                Rc::clone(&self.service),
                self.pipeline.clone(),
            ),
        }
    }
}
