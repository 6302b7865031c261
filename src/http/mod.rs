//! What every framework adapter shares: the request pipeline (token source, optional
//! mode, check, rejection) and what the extractors answer when there is no identity.
//!
//! The tower layer, the actix middleware and the extractors of both frameworks go
//! through here, so a configuration means the same everywhere.

mod extract;
mod pipeline;

pub(crate) use extract::Found;
#[cfg(all(feature = "jwt", any(feature = "axum", feature = "actix")))]
pub(crate) use extract::claims;
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) use extract::{identity, required};
pub(crate) use pipeline::Anonymous;
pub(crate) use pipeline::{Begin, Carried, Pipeline};

use std::fmt;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use crate::rejection::{Rejection, json_body};

/// Why an `Identity` (or `UserId`) extractor found no identity.
///
/// - [`IdentityRejection::Anonymous`]: the route's layer is
///   [`optional`](crate::AuthLayer::optional) and the request carried no token — 401
///   `missing_token`, in the handle's realm.
/// - [`IdentityRejection::MissingLayer`]: no kickout layer ran for this request — a wiring
///   mistake, not the client's: 500, with a body that says which layer to add (as axum's
///   own `Extension` extractor does).
/// - [`IdentityRejection::BadClaims`] and [`IdentityRejection::NotJwt`]: what `Claims<T>`
///   answers when the token's claims do not fit (401), or the route's handle is in
///   session mode (500).
///
/// ```
/// use kickout::IdentityRejection;
///
/// let wiring = IdentityRejection::MissingLayer { layer: "kickout::AuthLayer" };
/// let res: http::Response<Vec<u8>> = wiring.into_http();
/// assert_eq!(res.status(), 500);
/// assert!(String::from_utf8_lossy(res.body()).contains("kickout::AuthLayer"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IdentityRejection {
    /// An anonymous request on an optional route.
    Anonymous(Rejection),
    /// No layer authenticated this request.
    MissingLayer {
        /// The layer to add, e.g. `"kickout::AuthLayer"`.
        layer: &'static str,
    },
    /// JWT mode's `Claims<T>`: the token has no application claims of that shape (a token
    /// issued before the shape changed, or by a login without claims): 401
    /// `invalid_token` in the handle's realm, so the client logs in again.
    BadClaims(Rejection),
    /// `Claims<T>` on a route whose handle is in session mode, whose tokens carry no
    /// claims: a wiring mistake, not the client's (a 401 would make it drop a valid
    /// session): 500.
    NotJwt,
}

impl IdentityRejection {
    /// The HTTP status: 401 for [`Anonymous`](IdentityRejection::Anonymous) and
    /// [`BadClaims`](IdentityRejection::BadClaims), 500 for
    /// [`MissingLayer`](IdentityRejection::MissingLayer) and
    /// [`NotJwt`](IdentityRejection::NotJwt).
    pub fn status(&self) -> StatusCode {
        match self {
            IdentityRejection::Anonymous(rejection) | IdentityRejection::BadClaims(rejection) => {
                rejection.status()
            }
            IdentityRejection::MissingLayer { .. } | IdentityRejection::NotJwt => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The response: the rejection's, or a JSON 500 naming the missing layer.
    pub fn into_http<B: From<Bytes>>(self) -> Response<B> {
        match self {
            IdentityRejection::Anonymous(rejection) | IdentityRejection::BadClaims(rejection) => {
                rejection.into_http()
            }
            IdentityRejection::MissingLayer { .. } | IdentityRejection::NotJwt => {
                let body = json_body("internal_error", &self.to_string());
                let mut res = Response::new(B::from(body));
                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                let headers = res.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                // As every answer of the crate: no cache keeps it.
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
        }
    }
}

impl fmt::Display for IdentityRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityRejection::Anonymous(rejection) | IdentityRejection::BadClaims(rejection) => {
                rejection.fmt(f)
            }
            IdentityRejection::MissingLayer { layer } => write!(
                f,
                "No authentication layer ran for this route: put a {layer} in front of it."
            ),
            IdentityRejection::NotJwt => f.write_str(
                "Claims<T> reads a JWT's claims: this route's handle is in session mode, \
                 whose tokens have none.",
            ),
        }
    }
}

impl std::error::Error for IdentityRejection {}

/// JWT mode: the application's own claims of the request's token, deserialized — the
/// typed extractor of [`Auth::login_with_claims`](crate::Auth::login_with_claims) (axum
/// and actix-web). kickout's own claims (`ep`, `ug`, `dg`, `iatm`, …) are never part of
/// them: only what the application passed at login.
///
/// ```
/// use axum::{Router, routing::get};
/// use kickout::{Auth, AuthLayer, Claims, jwt::{Jwt, JwtKey}, store::MemoryStore};
///
/// #[derive(serde::Deserialize)]
/// struct Role {
///     role: String,
/// }
///
/// async fn admin_only(Claims(r): Claims<Role>) -> String {
///     format!("role {}", r.role)
/// }
///
/// let jwt = Jwt::new(JwtKey::hs256(b"a secret of at least thirty-two bytes!!")).unwrap();
/// let auth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
/// let app: Router = Router::new()
///     .route("/admin", get(admin_only))
///     .route_layer(AuthLayer::new(auth));
/// ```
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims<T>(pub T);
