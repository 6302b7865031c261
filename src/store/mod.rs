//! Where sessions live: the store contracts and the stores that implement them.
//!
//! A store implements [`Store`] (bans and the revocation feed, shared by both modes)
//! and the contract of each mode it serves: [`SessionStore`] for session mode,
//! [`JwtStore`] for JWT mode (feature `jwt`). Each method is one whole atomic
//! operation, so the in-memory store runs it under one short critical section, Redis
//! in one script (run again once with the further keys it names, if any) and
//! PostgreSQL in one transaction. Every method takes `now_ms` from the handle's
//! [`Clock`](crate::clock::Clock): stores never read the time themselves, so every
//! instance and every store agrees on what "expired" means.
//!
//! Most applications only pick a store: [`MemoryStore`] (embedded, the default),
//! `RedisStore` (feature `redis`), `PostgresStore` (feature `postgres`), optionally
//! wrapped in a [`NearCache`]; [`AnyStore`] holds whichever the configuration chose. Writing a
//! store? The contracts and their types are in [`session`] and `jwt`; the bounds every
//! store keeps are in [`limits`].

mod any;
pub mod audit;
mod contract;
pub mod directory;
mod due;
pub(crate) mod follow;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
/// The crate's bounds, where store writers look for them (they live in
/// [`crate::limits`]).
pub use crate::limits;
pub use crate::token::user_tag;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod budget;
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) mod feed;
mod memory;
mod near_cache;
pub mod plan;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
pub mod refresh;
pub mod session;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod tls;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod wire;

pub use any::{AnyFuture, AnyStore};
pub use contract::{
    Admission, Elevated, Elevation, EndReason, Ended, Ends, Revoked, SessionEntry, SessionInfo,
    SessionMeta, Store, StoreError,
};
pub use memory::{MemoryStats, MemoryStore};
pub use near_cache::{CachedCheck, NearCache};
pub use session::SessionStore;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::{PostgresFuture, PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisFuture, RedisStore, RedisStoreBuilder};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::JwtStore;

// The contracts' own types are reached through their modules (`store::session`,
// `store::jwt`) by those who write a store; by the layers above the stores, from here.
// The stores themselves import from the defining module, so nothing under `store/`
// depends on this file.
pub(crate) use directory::{Cursor, OnlineSession, Page, PageRequest};
#[cfg(feature = "jwt")]
pub(crate) use jwt::{JwtIssue, JwtStatus, JwtTarget, JwtToken};
pub(crate) use refresh::{NewRefresh, Rotated, Rotation};
pub(crate) use session::{NewSession, Renewal, SessionRecord, Target, Touch};
