//! [`ResponseFuture`]: the store read, then the inner service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::on_rejection::OnRejection;
use crate::mode::CheckFuture;

pin_project! {
    /// The response future of [`AuthService`](super::AuthService).
    pub struct ResponseFuture<Svc, ReqB, R>
    where
        Svc: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<Svc, ReqB, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Svc, ReqB, R>
    where
        Svc: Service<Request<ReqB>>,
    {
        Checking {
            check: CheckFuture,
            pending: Option<(Svc, Request<ReqB>)>,
            on_rejection: R,
        },
        Calling {
            #[pin]
            future: Svc::Future,
        },
        Responding {
            response: Option<Svc::Response>,
        },
    }
}

impl<Svc, ReqB, R> ResponseFuture<Svc, ReqB, R>
where
    Svc: Service<Request<ReqB>>,
{
    pub(super) fn check(
        check: CheckFuture,
        ready: Svc,
        req: Request<ReqB>,
        on_rejection: R,
    ) -> Self {
        Self {
            state: State::Checking {
                check,
                pending: Some((ready, req)),
                on_rejection,
            },
        }
    }

    pub(super) fn call(future: Svc::Future) -> Self {
        Self {
            state: State::Calling { future },
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

impl<Svc, ReqB, ResB, R> Future for ResponseFuture<Svc, ReqB, R>
where
    Svc: Service<Request<ReqB>, Response = Response<ResB>>,
    R: OnRejection<ResB>,
{
    type Output = Result<Response<ResB>, Svc::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Checking {
                    check,
                    pending,
                    on_rejection,
                } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let next = match (verdict, pending.take()) {
                        (Ok(identity), Some((mut svc, mut req))) => {
                            req.extensions_mut().insert(identity);
                            State::Calling {
                                future: svc.call(req),
                            }
                        }
                        (Err(rejection), _) => {
                            tracing::debug!(reason = %rejection.reason(), "request refused");
                            return Poll::Ready(Ok(on_rejection.on_rejection(rejection)));
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
