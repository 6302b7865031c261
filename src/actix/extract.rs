//! The actix-web extractors: `Identity`, `UserId`, `MaybeIdentity` and `Claims<T>`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::http::{Anonymous, Found, IdentityRejection, identity, required};
use crate::identity::{Identity, UserId};

const LAYER: &str = "kickout::actix::KickoutAuth";

/// What an extractor makes of the request's identity, read in place.
fn with_found<T>(
    req: &HttpRequest,
    f: impl for<'a> FnOnce(Found<'a, &'a dyn Fn() -> Option<&'a Anonymous>>) -> T,
) -> T {
    let extensions = req.extensions();
    let anonymous = || extensions.get::<Anonymous>();
    f(Found {
        identity: extensions.get::<Identity>(),
        anonymous: &anonymous,
    })
}

impl FromRequest for Identity {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_found(req, |found| required(found, LAYER)))
    }
}

impl FromRequest for UserId {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_found(req, |found| {
            required(found, LAYER).map(|id| UserId(id.user_id_arc().clone()))
        }))
    }
}

/// `Option<Identity>` in actix: `None` for an anonymous request, 500 without the
/// middleware (actix's own `Option<T>` extractor would swallow that error).
///
/// Use it rather than `Option<Identity>`, `Option<UserId>` or `Option<Claims<T>>`:
/// actix-web turns any error of an `Option`'s extractor into `None`, so a missing
/// middleware, or claims that do not fit `T`, would pass as an anonymous request (and
/// skip the handle's `on_rejection`). For optional claims, take `MaybeIdentity` and
/// read `Identity::claims` (JWT mode).
#[derive(Clone, Debug)]
pub struct MaybeIdentity(pub Option<Identity>);

impl FromRequest for MaybeIdentity {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_found(req, |found| {
            identity(found, LAYER).map(MaybeIdentity)
        }))
    }
}

#[cfg(feature = "jwt")]
impl<T: serde::de::DeserializeOwned> FromRequest for crate::http::Claims<T> {
    type Error = IdentityRejection;
    type Future = Ready<Result<Self, IdentityRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_found(req, |found| {
            required(found, LAYER).and_then(|id| crate::http::claims(&id))
        }))
    }
}
