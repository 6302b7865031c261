//! Our `http` answers in actix-web's types: what the middleware, its response future
//! and the `ResponseError`s all send.

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use bytes::Bytes;

use crate::rejection::Rejection;

/// A refused request's answer, in the middleware's body type.
pub(super) fn refuse<B>(
    req: ServiceRequest,
    rejection: Rejection,
) -> ServiceResponse<EitherBody<B>> {
    req.into_response(to_actix(rejection.into_http()))
        .map_into_right_body()
}

/// An `http` response of ours as an actix response.
pub(super) fn to_actix(res: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let mut builder = HttpResponse::build(status(parts.status));
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(BoxBody::new(body))
}

/// An `http` status as actix's (the same numbers, another crate's type).
pub(super) fn status(code: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(code.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
