//! Answering a refused request, shared by the middleware (refusals at the first poll)
//! and its response future (refusals after a pending store read).

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::body::EitherBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};

use super::to_actix;
use crate::http::Pipeline;
use crate::mode::Mode;
use crate::rejection::Rejection;
use crate::store::Store;

/// An application's own answer to a refused request.
pub(super) type OnRejection = Arc<dyn Fn(Rejection) -> HttpResponse + Send + Sync>;

/// The pipeline of a route, and how it answers refusals.
pub(super) struct Refuser<S, M> {
    pub(super) pipeline: Arc<Pipeline<S, M>>,
    pub(super) on_rejection: Option<OnRejection>,
}

impl<S, M> Clone for Refuser<S, M> {
    fn clone(&self) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S: Store, M: Mode<S>> Refuser<S, M> {
    /// The response to a refused request: the application's, or the default JSON.
    pub(super) fn refuse<B>(
        &self,
        req: ServiceRequest,
        rejection: Rejection,
    ) -> ServiceResponse<EitherBody<B>> {
        let response = match &self.on_rejection {
            Some(f) => f(rejection),
            None => to_actix(rejection.into_http()),
        };
        req.into_response(response).map_into_right_body()
    }
}
