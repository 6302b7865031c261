//! The tower side of [`Guard`]: a [`Layer`], its [`GuardService`] and [`GuardFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::Guard;
use crate::http::{Anonymous, Found};
use crate::identity::Identity;

impl<Svc> Layer<Svc> for Guard {
    type Service = GuardService<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service of a [`Guard`] used as a tower layer: the inner service runs only for a
/// request whose identity the guard admits.
#[derive(Clone, Debug)]
pub struct GuardService<Svc> {
    inner: Svc,
    guard: Guard,
}

impl<Svc, ReqB, ResB> Service<Request<ReqB>> for GuardService<Svc>
where
    Svc: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: From<Bytes>,
{
    type Response = Response<ResB>;
    type Error = Svc::Error;
    type Future = GuardFuture<Svc::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let extensions = req.extensions();
        let found = Found {
            identity: extensions.get::<Identity>(),
            anonymous: || extensions.get::<Anonymous>(),
        };
        match self.guard.admit(found, "kickout::AuthLayer") {
            None => GuardFuture {
                state: State::Inner {
                    future: self.inner.call(req),
                },
            },
            Some(refused) => GuardFuture {
                state: State::Refused {
                    response: Some(refused),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`GuardService`].
    pub struct GuardFuture<F, ResB> {
        #[pin]
        state: State<F, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResB> {
        // The guard admitted the request.
        Inner {
            #[pin]
            future: F,
        },
        // The guard refused it.
        Refused {
            response: Option<Response<ResB>>,
        },
    }
}

impl<F, ResB, E> Future for GuardFuture<F, ResB>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it answered: a caller's bug, answered as pending
                // rather than with a panic.
                None => Poll::Pending,
            },
        }
    }
}
