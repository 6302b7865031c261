//! Route guards: a restriction's scope and level, or a step-up scope, that a route
//! declares, checked against what the request's [`Identity`] came with — no store round
//! trip of its own.
//!
//! A [`Guard`] comes from the handle ([`Auth::guard`](crate::Auth::guard),
//! [`Auth::step_up`](crate::Auth::step_up)) and goes
//! inside the layer that authenticates: a tower [`Layer`](tower_layer::Layer) for
//! axum and any tower stack, an actix-web middleware (`wrap`) with the `actix`
//! feature, or [`Guard::check`] in a handler.
//!
//! ```
//! use axum::{Router, routing::post};
//! use kickout::{Auth, AuthLayer, store::MemoryStore};
//!
//! # fn main() -> Result<(), kickout::Error> {
//! let auth = Auth::new(MemoryStore::new());
//! let app: Router = Router::new()
//!     // Refused with 403 `restricted` while the user is restricted in `content` at
//!     // level 1 or above.
//!     .route("/content/publish", post(|| async {}).route_layer(auth.guard("content", 1)?))
//!     .route_layer(AuthLayer::new(auth));
//! # Ok(()) }
//! ```

mod service;

pub use service::{GuardFuture, GuardService};

use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use crate::auth::Auth;
use crate::auth::restrict::invalid;
use crate::error::Error;
use crate::http::{Anonymous, Found, IdentityRejection};
use crate::identity::Identity;
use crate::mode::Mode;
use crate::rejection::{Reason, Rejection, Responses};
use crate::restriction::{Level, Scope};
use crate::store::Store;

/// What a route asks of the request's identity: that the user is not restricted in a
/// scope at or above a level ([`Auth::guard`](crate::Auth::guard)), or that the session
/// is elevated for a scope ([`Auth::step_up`](crate::Auth::step_up)). Cheap to clone.
#[derive(Clone)]
pub struct Guard {
    scope: Scope,
    /// `Some` for a restriction guard, `None` for a step-up guard.
    level: Option<Level>,
    /// How the handle answers refusals (its realm, its `on_rejection`).
    responses: Arc<Responses>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Guard");
        d.field("scope", &self.scope);
        match self.level {
            Some(level) => d.field("level", &level.get()),
            None => d.field("step_up", &true),
        };
        d.finish_non_exhaustive()
    }
}

// The handle makes guards here, so the handle's module needs nothing of this one.
impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// A guard for routes of an action in `scope` at `level` (1 to 5): a request passes
    /// unless its user is restricted in `scope` at `level` or above, else 403
    /// `restricted` (in this handle's shape). It reads what the request's identity came
    /// with: no store round trip of its own. Put it inside the layer that authenticates
    /// (see [`guard`](crate::guard)). A bad scope or level is [`Error::InvalidInput`].
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use kickout::{Auth, AuthLayer, store::MemoryStore};
    ///
    /// # fn main() -> Result<(), kickout::Error> {
    /// let auth = Auth::new(MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/content/publish", post(|| async {}).route_layer(auth.guard("content", 1)?))
    ///     .route("/content/comment", post(|| async {}).route_layer(auth.guard("content", 2)?))
    ///     .route_layer(AuthLayer::new(auth));
    /// # Ok(()) }
    /// ```
    pub fn guard(&self, scope: &str, level: u8) -> Result<Guard, Error> {
        let scope = Scope::new(scope).map_err(invalid)?;
        let level = Level::new(level).map_err(invalid)?;
        Ok(Guard {
            scope,
            level: Some(level),
            responses: self.responses().clone(),
        })
    }

    /// A guard for routes that need a fresh re-authentication for `scope` ("sudo mode"):
    /// a request passes while its session is elevated for `scope`
    /// ([`Auth::elevate`](crate::Auth::elevate)), else 403 `step_up_required`. No store
    /// round trip of its own; a bad scope is [`Error::InvalidInput`].
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use kickout::{Auth, AuthLayer, store::MemoryStore};
    ///
    /// # fn main() -> Result<(), kickout::Error> {
    /// let auth = Auth::new(MemoryStore::new());
    /// let app: Router = Router::new()
    ///     .route("/payments", post(|| async {}).route_layer(auth.step_up("payment")?))
    ///     .route_layer(AuthLayer::new(auth));
    /// # Ok(()) }
    /// ```
    pub fn step_up(&self, scope: &str) -> Result<Guard, Error> {
        Ok(Guard {
            scope: Scope::new(scope).map_err(invalid)?,
            level: None,
            responses: self.responses().clone(),
        })
    }
}

impl Guard {
    /// The scope it guards.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The level of the guarded action; `None` for a step-up guard.
    pub fn level(&self) -> Option<Level> {
        self.level
    }

    /// Whether `identity` may pass, as of when its request was checked: the rejection if
    /// not — 403 `restricted` (naming the restriction) if the user was restricted in the
    /// guard's scope at or above its level, 403 `step_up_required` if a step-up guard's
    /// scope was not elevated. For a handler that decides at run time what it guards.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let comment = auth.guard("content", 2)?;
    /// auth.restrict("10001", "content", 2, Duration::from_secs(3_600)).await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// let refused = comment.check(&me).unwrap_err();
    /// assert_eq!(refused.reason(), Reason::Restricted);
    /// assert_eq!(refused.restriction().unwrap().level.get(), 2);
    /// // A step-up guard's refusal names the scope to step up for.
    /// let pay = auth.step_up("payment")?;
    /// assert_eq!(pay.check(&me).unwrap_err().scope().unwrap().as_str(), "payment");
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn check(&self, identity: &Identity) -> Result<(), Rejection> {
        match self.level {
            Some(level) => match identity.restricted(&self.scope, level) {
                Some(restriction) => Err(self.responses.restricted(restriction)),
                None => Ok(()),
            },
            None => match identity.elevated(&self.scope) {
                Some(_) => Ok(()),
                None => Err(self.responses.step_up(&self.scope)),
            },
        }
    }

    /// Until when (Unix ms) `identity`, which passes, is sure to pass: a step-up window's
    /// end; `u64::MAX` for a restriction guard (a new restriction comes with a message).
    pub(crate) fn passes_until(&self, identity: &Identity) -> u64 {
        match self.level {
            Some(_) => u64::MAX,
            None => identity.elevated_until_ms(&self.scope).unwrap_or(u64::MAX),
        }
    }

    /// What the guard answers a request whose extensions hold `found`: nothing to let
    /// it through, else the refusal.
    pub(crate) fn admit<'a, B: From<Bytes>>(
        &self,
        found: Found<'a, impl FnOnce() -> Option<&'a Anonymous>>,
        layer: &'static str,
    ) -> Option<Response<B>> {
        if let Some(identity) = found.identity {
            return self.check(identity).err().map(Rejection::into_http);
        }
        match (found.anonymous)() {
            Some(anonymous) => Some(anonymous.rejection(Reason::MissingToken).into_http()),
            None => {
                tracing::error!(layer, "a kickout Guard ran on a route without a layer");
                Some(IdentityRejection::MissingLayer { layer }.into_http())
            }
        }
    }
}
