//! [`Guard`] as an actix-web middleware: `wrap` a resource or a scope inside
//! [`KickoutAuth`](super::KickoutAuth).

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use pin_project_lite::pin_project;

use super::respond::to_actix;
use crate::guard::Guard;
use crate::http::{Anonymous, Found};
use crate::identity::Identity;

/// ```
/// use actix_web::{App, HttpResponse, web};
/// use kickout::{Auth, actix::KickoutAuth, store::MemoryStore};
///
/// # fn main() -> Result<(), kickout::Error> {
/// let auth = Auth::new(MemoryStore::new());
/// let publish = web::resource("/content/publish")
///     .wrap(auth.guard("content", 1)?)
///     .route(web::post().to(HttpResponse::NoContent));
/// let app = App::new().service(web::scope("").wrap(KickoutAuth::new(auth)).service(publish));
/// # let _ = app;
/// # Ok(()) }
/// ```
impl<Svc, B> Transform<Svc, ServiceRequest> for Guard
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardMiddleware<Svc>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(GuardMiddleware {
            service: Rc::new(service),
            guard: self.clone(),
        }))
    }
}

/// The actix-web service of a [`Guard`].
#[derive(Debug)]
pub struct GuardMiddleware<Svc> {
    service: Rc<Svc>,
    guard: Guard,
}

impl<Svc, B> Service<ServiceRequest> for GuardMiddleware<Svc>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = GuardResponse<Svc::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let verdict = {
            let extensions = req.extensions();
            let found = Found {
                identity: extensions.get::<Identity>(),
                anonymous: || extensions.get::<Anonymous>(),
            };
            self.guard.admit(found, "kickout::actix::KickoutAuth")
        };
        match verdict {
            None => GuardResponse {
                state: State::Inner {
                    future: self.service.call(req),
                },
            },
            Some(refused) => GuardResponse {
                state: State::Refused {
                    response: Some(req.into_response(to_actix(refused)).map_into_right_body()),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`GuardMiddleware`].
    pub struct GuardResponse<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // The guard admitted the request.
        Inner {
            #[pin]
            future: F,
        },
        // The guard refused it.
        Refused {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
    }
}

impl<F, B> Future for GuardResponse<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => {
                Poll::Ready(ready!(future.poll(cx)).map(ServiceResponse::map_into_left_body))
            }
            StateProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}
