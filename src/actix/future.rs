//! [`ResponseFuture`]: the store read (only when the store must wait), then the inner
//! service — the tower layer's shape, in actix-web's types.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use pin_project_lite::pin_project;
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::respond::refuse;
use crate::http::{Carried, Pipeline};
use crate::mode::Mode;
use crate::store::Store;

pin_project! {
    /// The response future of [`KickoutAuthMiddleware`](super::KickoutAuthMiddleware).
    pub struct ResponseFuture<Svc, B, S, M>
    where
        Svc: Service<ServiceRequest, Response = ServiceResponse<B>>,
        S: Store,
        M: Mode<S>,
    {
        #[pin]
        state: State<Svc, B, S, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Svc, B, S, M>
    where
        Svc: Service<ServiceRequest, Response = ServiceResponse<B>>,
        S: Store,
        M: Mode<S>,
    {
        // Boxed: only a store that must wait (a network store) gets here.
        Checking {
            pending: Box<Pending<Svc, S, M>>,
        },
        Calling {
            #[pin]
            future: Instrumented<Svc::Future>,
        },
        Refused {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
    }
}

/// A request waiting for its store read.
struct Pending<Svc, S: Store, M: Mode<S>> {
    check: M::Check,
    carried: Carried,
    req: Option<ServiceRequest>,
    service: Rc<Svc>,
    pipeline: Arc<Pipeline<S, M>>,
}

impl<Svc, B, S, M> std::fmt::Debug for ResponseFuture<Svc, B, S, M>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>>,
    S: Store,
    M: Mode<S>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<Svc, B, S, M> ResponseFuture<Svc, B, S, M>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S: Store,
    M: Mode<S>,
{
    pub(super) fn check(
        (check, carried): (M::Check, Carried),
        req: ServiceRequest,
        service: Rc<Svc>,
        pipeline: Arc<Pipeline<S, M>>,
    ) -> Self {
        let pending = Box::new(Pending {
            check,
            carried,
            req: Some(req),
            service,
            pipeline,
        });
        Self {
            state: State::Checking { pending },
        }
    }

    pub(super) fn call(future: Svc::Future, span: tracing::Span) -> Self {
        Self {
            state: State::Calling {
                future: future.instrument(span),
            },
        }
    }

    pub(super) fn respond(response: ServiceResponse<EitherBody<B>>) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<Svc, B, S, M> Future for ResponseFuture<Svc, B, S, M>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S: Store,
    M: Mode<S>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Checking { pending } => {
                    let verdict = ready!(Pin::new(&mut pending.check).poll(cx));
                    let Some(req) = pending.req.take() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let next = match pending.pipeline.finish(verdict, pending.carried) {
                        Ok((identity, span)) => {
                            req.extensions_mut().insert(identity);
                            let future = {
                                let _entered = span.enter();
                                pending.service.call(req)
                            };
                            State::Calling {
                                future: future.instrument(span),
                            }
                        }
                        Err(rejection) => State::Refused {
                            response: Some(refuse(req, rejection)),
                        },
                    };
                    state.set(next);
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map_into_left_body()));
                }
                StateProj::Refused { response } => {
                    return Poll::Ready(response.take().ok_or_else(polled_after_completion));
                }
            }
        }
    }
}

/// A future polled again after it completed: a bug of its caller, answered as a 500
/// rather than a panic.
fn polled_after_completion() -> Error {
    actix_web::error::ErrorInternalServerError("kickout's response future polled after completion")
}
