//! Turning a [`Rejection`] into the response the client gets.

use bytes::Bytes;
use http::Response;

use crate::rejection::Rejection;

/// Builds the response for a refused request.
///
/// Implemented by [`JsonRejection`] (the default) and by any
/// `Fn(Rejection) -> Response<B> + Clone`, so an application can answer in its own error
/// format:
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::Response;
/// use kickout::{Auth, AuthLayer, Rejection, store::MemoryStore};
///
/// let layer = AuthLayer::new(Auth::new(MemoryStore::new())).on_rejection(|r: Rejection| {
///     Response::builder()
///         .status(r.status())
///         .body(Body::from(format!("<h1>{}</h1>", r.reason().message())))
///         .unwrap()
/// });
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
/// ```
pub trait OnRejection<B>: Clone {
    /// The response for `rejection`.
    fn on_rejection(&self, rejection: Rejection) -> Response<B>;
}

/// The default: status, `WWW-Authenticate` challenge and JSON body of
/// [`Rejection::into_http`].
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonRejection;

impl<B: From<Bytes>> OnRejection<B> for JsonRejection {
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        rejection.into_http()
    }
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(Rejection) -> Response<B> + Clone,
{
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        self(rejection)
    }
}
