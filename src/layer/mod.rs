//! The tower middleware: bearer token in, [`Identity`](crate::Identity) or rejection out.
//!
//! Works on any `tower::Service<http::Request<B>>`: axum routers, tonic, hyper services.
//!
//! ```
//! use axum::{Router, routing::get};
//! use kickout::{Auth, AuthLayer, Identity, store::MemoryStore};
//!
//! async fn me(identity: Identity) -> String {
//!     format!("hello {}", identity.user_id())
//! }
//!
//! let auth = Auth::new(MemoryStore::new());
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route_layer(AuthLayer::new(auth.clone()));
//! ```

mod future;
mod service;

#[doc(inline)]
pub use self::future::ResponseFuture;
#[doc(inline)]
pub use self::service::{AuthLayer, AuthService};
