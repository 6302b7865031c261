//! # kickout
//!
//! Bearer-token login for axum, any tower stack and actix-web (feature `actix`), where a
//! token the server logged out, kicked out or banned is refused on the very next request,
//! with a reason the client can show — in session mode (opaque tokens) or JWT mode
//! (feature `jwt`), on the embedded memory store or Redis (feature `redis`, standalone
//! or Cluster).
//!
//! - [`Auth`] is the handle: [`login`](Auth::login), [`logout`](Auth::logout),
//!   [`kickout`](Auth::kickout), [`kickout_device`](Auth::kickout_device),
//!   [`ban`](Auth::ban), [`sessions`](Auth::sessions), [`renew`](Auth::renew).
//! - [`AuthLayer`] is the tower middleware that turns the request's bearer token into an
//!   [`Identity`] in its extensions, or answers with a [`Rejection`] (RFC 6750).
//! - [`Guard`]s bar actions without ending sessions: [`Auth::restrict`] a user in a scope
//!   and guard its routes with [`Auth::guard`]; ask for a fresh check with
//!   [`Auth::step_up`] after [`Auth::elevate`] (see [`guard`], [`restriction`]).
//! - [`store`] holds the store contracts ([`Store`](store::Store),
//!   [`SessionStore`](store::SessionStore), `JwtStore`) and the embedded
//!   [`MemoryStore`](store::MemoryStore).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use axum::{Router, routing::get};
//! use kickout::{Auth, AuthLayer, Identity, LoginRule, store::MemoryStore};
//! use tower::ServiceExt;
//!
//! let auth = Auth::builder(MemoryStore::new())
//!     .login_rule(LoginRule::one_per_device())
//!     .build();
//! let app = Router::new()
//!     .route("/me", get(|me: Identity| async move { me.user_id().to_owned() }))
//!     .layer(AuthLayer::new(auth.clone()));
//!
//! let token = auth.login("10001", "web").await?.token;
//! let request = || {
//!     http::Request::get("/me")
//!         .header("authorization", format!("Bearer {}", token.as_str()))
//!         .body(axum::body::Body::empty())
//!         .unwrap()
//! };
//! assert_eq!(app.clone().oneshot(request()).await.unwrap().status(), 200);
//!
//! auth.kickout("10001").await?;
//! let refused = app.oneshot(request()).await.unwrap();
//! assert_eq!(refused.status(), 401);
//! # Ok::<(), kickout::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod cookies;
pub mod events;
pub mod guard;
pub mod layer;
pub mod limits;
pub mod restriction;
pub mod store;
pub mod watch;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
mod auth;
#[cfg(feature = "axum")]
mod axum;
mod cache;
mod error;
mod http;
mod identity;
mod mode;
mod note;
mod policy;
mod rejection;
mod throttle;
mod token;

/// JWT mode's configuration, and the `jsonwebtoken` key types it takes.
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt {
    pub use crate::mode::jwt::{Jwt, JwtKey, JwtKeyError};
    pub use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
}

pub use auth::{Auth, AuthBuilder, Login, LoginOptions, Noted, OnlineCount, RefreshToken};
pub use error::Error;
pub use guard::Guard;
#[cfg(feature = "jwt")]
pub use http::Claims;
pub use http::IdentityRejection;
pub use identity::{Identity, UserId};
pub use layer::{AuthLayer, AuthService};
pub use limits::MAX_NAME_LEN;
pub use mode::{Mode, SessionMode};
pub use note::{InvalidNote, Note};
pub use policy::{Limit, LoginRule, Overflow};
pub use rejection::{Reason, Refusal, Rejection};
pub use token::{
    IntoHeaderName, ParseSessionIdError, RefreshKey, SessionId, SessionKey, Token, TokenSource,
};

// The README's examples are compiled and run with the crate's doctests.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "jwt",
    feature = "redis",
    feature = "actix",
    feature = "postgres"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// A JWT-mode handle: `Auth<S, Jwt>`.
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub type JwtAuth<S = store::MemoryStore> = Auth<S, jwt::Jwt>;
