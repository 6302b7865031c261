//! axum integration: extractors for the identity, and responses for rejections.
//!
//! - [`Identity`] and [`UserId`] extract the authenticated user. On an
//!   [`optional`](crate::AuthLayer::optional) route an anonymous request gets 401
//!   `missing_token` in the handle's realm; on a route the
//!   [`AuthLayer`](crate::AuthLayer) does not cover, 500 with a body naming the layer
//!   ([`IdentityRejection`]) — a wiring mistake is not the client's fault.
//! - `Option<Identity>` and `Option<UserId>` are `None` for an anonymous request, and
//!   fail the same way without a layer.
//! - [`Rejection`], [`Error`] and [`IdentityRejection`] are `IntoResponse`, so handlers
//!   can return them with `?`.
//!
//! ```
//! use axum::{Router, routing::{get, post}, extract::State};
//! use kickout::{Auth, AuthLayer, Identity, UserId, store::MemoryStore};
//!
//! async fn me(UserId(user): UserId) -> String {
//!     format!("hello {user}")
//! }
//!
//! async fn logout(State(auth): State<Auth>, me: Identity) -> Result<&'static str, kickout::Error> {
//!     auth.logout_session(&me, me.session_id()).await?;
//!     Ok("bye")
//! }
//!
//! let auth = Auth::new(MemoryStore::new());
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/logout", post(logout))
//!     .route_layer(AuthLayer::new(auth.clone()))
//!     .with_state(auth);
//! ```

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::error::Error;
use crate::http::{Anonymous, Found, IdentityRejection, identity, required};
use crate::identity::{Identity, UserId};
use crate::rejection::Rejection;

const LAYER: &str = "kickout::AuthLayer";

fn found<'a>(parts: &'a Parts) -> Found<'a, impl FnOnce() -> Option<&'a Anonymous>> {
    Found {
        identity: parts.extensions.get(),
        anonymous: || parts.extensions.get(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required(found(parts), LAYER)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        identity(found(parts), LAYER)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required(found(parts), LAYER).map(|id| UserId(id.user_id_arc().clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for UserId {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(identity(found(parts), LAYER)?.map(|id| UserId(id.user_id_arc().clone())))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.into_http::<Body>()
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        self.into_http::<Body>()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_detail();
        self.into_http::<Body>()
    }
}

#[cfg(feature = "jwt")]
impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S>
    for crate::http::Claims<T>
{
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        crate::http::claims(&required(found(parts), LAYER)?)
    }
}
