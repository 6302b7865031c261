//! # kickout
//!
//! Login for axum, any tower stack and actix-web (feature `actix`), where a token the
//! server logged out, kicked out or banned is refused on the very next request, on every
//! instance, with a reason the client can show — in session mode (opaque tokens) or JWT
//! mode (feature `jwt`), on the embedded memory store, Redis (feature `redis`,
//! standalone or Cluster) or PostgreSQL (feature `postgres`). The README is the long
//! guide; this page is where each task starts.
//!
//! ## What do you want to do?
//!
//! | task | start here |
//! |---|---|
//! | Log in and hand out tokens | [`Auth::new`] or [`Auth::builder`], then [`Auth::login`] / [`Auth::login_with`] with [`LoginOptions`] (label, client address, fields) |
//! | Protect routes (axum, tower) | [`AuthLayer`], then the [`Identity`] extractor in handlers; [`AuthLayer::optional`] for routes open to anyone |
//! | Protect routes (actix-web) | `actix::KickoutAuth` (feature `actix`), the same [`Identity`] extractor |
//! | Hand out refresh tokens | [`AuthBuilder::refresh_tokens`], then [`Auth::refresh`] |
//! | Sign out, kick out, ban — and say why | [`Auth::logout`], [`Auth::kickout`], [`Auth::kickout_device`], [`Auth::kickout_session`], [`Auth::ban`]; [`Auth::with_note`] and [`Note`] for the reason clients see |
//! | "Where am I signed in?" | [`Auth::sessions`], [`Auth::logout_session`], [`Auth::logout_others`] |
//! | Limit logins per user or device | [`LoginRule`], [`AuthBuilder::device_class`] |
//! | Browsers: HttpOnly cookies and CSRF | [`cookies`], [`AuthLayer::cookies`] |
//! | Bar an action without ending the session; ask for a fresh check | [`Auth::restrict`] and [`Auth::guard`]; [`Auth::elevate`] and [`Auth::step_up`] (see [`guard`], [`restriction`]) |
//! | Who is online, the incident switch, the audit stream | [`Auth::online`], [`Auth::kickout_all`], [`Auth::events`], [`Auth::audit`] |
//! | Many instances | `store::RedisStore` (feature `redis`), `store::PostgresStore` (feature `postgres`), with a [`store::NearCache`] in front for speed; [`store::AnyStore`] to pick one from configuration; the README's "Which store?" |
//! | End open connections (WebSocket, SSE) when their session ends | [`Auth::watch`], [`watch::SessionWatch`] |
//! | Signed tokens (JWT) that still log out | `jwt::Jwt` and `AuthBuilder::jwt` (feature `jwt`) |
//! | Write your own store | [`store`]: the contracts and the pure rule machines a store applies |
//! | Errors in your own shape | [`AuthBuilder::on_rejection`] for every refusal; [`Rejection`], [`Reason`], [`Error`] |
//! | Tests with a clock you move | [`clock::ManualClock`] and [`AuthBuilder::clock`] |
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use axum::{Router, routing::get};
//! use kickout::{Auth, AuthLayer, Identity, LoginRule, Reason, store::MemoryStore};
//!
//! let auth = Auth::builder(MemoryStore::new())
//!     .login_rule(LoginRule::one_per_device())
//!     .build();
//! let app: Router = Router::new()
//!     .route("/me", get(|me: Identity| async move { me.user_id().to_owned() }))
//!     // route_layer: unknown paths stay 404, not 401.
//!     .route_layer(AuthLayer::new(auth.clone()));
//! // axum::serve(listener, app).await; and in a handler, a job or an admin tool:
//!
//! let token = auth.login("10001", "web").await?.token;
//! # use tower::ServiceExt;
//! # let request = || {
//! #     axum::http::Request::get("/me")
//! #         .header("authorization", format!("Bearer {}", token.as_str()))
//! #         .body(axum::body::Body::empty())
//! #         .unwrap()
//! # };
//! # assert_eq!(app.clone().oneshot(request()).await.unwrap().status(), 200);
//! auth.kickout("10001").await?;
//! // The token's next request, on any route behind the layer: 401 `kicked_out`.
//! # assert_eq!(app.oneshot(request()).await.unwrap().status(), 401);
//! let refused = auth.authenticate(token.as_str()).await.unwrap_err();
//! assert_eq!(refused.reason(), Reason::KickedOut);
//! # Ok::<(), kickout::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// First: rustdoc lists `Auth`'s methods in declaration order, the handle's own before
// those the guard and watch modules add.
mod auth;

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
