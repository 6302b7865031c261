//! axum integration: extractors for the identity, and responses for rejections.
//!
//! - [`Identity`] and [`UserId`] extract the authenticated user; without one (the
//!   [`AuthLayer`](crate::AuthLayer) is missing, or it is [`optional`](crate::AuthLayer::optional)
//!   and the request is anonymous) they answer 401 `missing_token`.
//! - `Option<Identity>` and `Option<UserId>` never fail: `None` when anonymous.
//! - [`Rejection`] and [`Error`] are `IntoResponse`, so handlers can return them with `?`.
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
//!     auth.logout_session(me.session_id()).await?;
//!     Ok("bye")
//! }
//!
//! let auth = Auth::new(MemoryStore::new());
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/logout", post(logout))
//!     .layer(AuthLayer::new(auth.clone()))
//!     .with_state(auth);
//! ```

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::error::Error;
use crate::identity::{Identity, UserId};
use crate::rejection::{Reason, Rejection};

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| Rejection::new(Reason::MissingToken))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .map(|id| UserId(id.user_id_arc().clone()))
            .ok_or_else(|| Rejection::new(Reason::MissingToken))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for UserId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Identity>()
            .map(|id| UserId(id.user_id_arc().clone())))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        Rejection::into_response::<Body>(self)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Store(error) = &self {
            tracing::warn!(%error, "session store unavailable");
        }
        Error::into_response::<Body>(self)
    }
}
