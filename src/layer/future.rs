//! [`ResponseFuture`]: the store read, then the inner service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::http::{Carried, Pipeline};
use crate::mode::Mode;
use crate::store::Store;

pin_project! {
    /// The response future of [`AuthService`](super::AuthService).
    pub struct ResponseFuture<Svc, ReqB, S, M>
    where
        Svc: Service<Request<ReqB>>,
        S: Store,
        M: Mode<S>,
    {
        #[pin]
        state: State<Svc, ReqB, S, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Svc, ReqB, S, M>
    where
        Svc: Service<Request<ReqB>>,
        S: Store,
        M: Mode<S>,
    {
        // Boxed: only a store that must wait (a network store) gets here, and a small
        // future is cheaper to move on every request.
        Checking {
            pending: Box<Pending<Svc, ReqB, S, M>>,
        },
        Calling {
            #[pin]
            future: Instrumented<Svc::Future>,
        },
        Responding {
            response: Option<Svc::Response>,
        },
    }
}

/// A request waiting for its store read.
struct Pending<Svc, ReqB, S: Store, M: Mode<S>> {
    check: M::Check,
    carried: Carried,
    call: Option<(Svc, Request<ReqB>)>,
    pipeline: Arc<Pipeline<S, M>>,
}

impl<Svc, ReqB, S, M> ResponseFuture<Svc, ReqB, S, M>
where
    Svc: Service<Request<ReqB>>,
    S: Store,
    M: Mode<S>,
{
    pub(super) fn check(
        (check, carried): (M::Check, Carried),
        ready: Svc,
        req: Request<ReqB>,
        pipeline: Arc<Pipeline<S, M>>,
    ) -> Self {
        Self {
            state: State::Checking {
                pending: Box::new(Pending {
                    check,
                    carried,
                    call: Some((ready, req)),
                    pipeline,
                }),
            },
        }
    }

    /// The inner service's future, in the request's span.
    pub(super) fn call(future: Svc::Future, span: tracing::Span) -> Self {
        Self {
            state: State::Calling {
                future: future.instrument(span),
            },
        }
    }

    pub(super) fn respond(response: Svc::Response) -> Self {
        Self {
            state: State::Responding {
                response: Some(response),
            },
        }
    }
}

impl<Svc, ReqB, ResB, S, M> Future for ResponseFuture<Svc, ReqB, S, M>
where
    Svc: Service<Request<ReqB>, Response = Response<ResB>>,
    S: Store,
    M: Mode<S>,
    ResB: From<Bytes>,
{
    type Output = Result<Response<ResB>, Svc::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Checking { pending } => {
                    let verdict = ready!(Pin::new(&mut pending.check).poll(cx));
                    let next = match (
                        pending.pipeline.finish(verdict, pending.carried),
                        pending.call.take(),
                    ) {
                        (Ok((identity, span)), Some((mut svc, mut req))) => {
                            req.extensions_mut().insert(identity);
                            let future = {
                                let _entered = span.enter();
                                svc.call(req)
                            };
                            State::Calling {
                                future: future.instrument(span),
                            }
                        }
                        (Err(rejection), _) => {
                            return Poll::Ready(Ok(rejection.into_http()));
                        }
                        (Ok(_), None) => panic!("ResponseFuture polled after completion"),
                    };
                    state.set(next);
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Responding { response } => {
                    let response = response
                        .take()
                        .unwrap_or_else(|| panic!("ResponseFuture polled after completion"));
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}
