//! Where sessions live: the [`Store`] trait and its records.
//!
//! The trait is at the level of the domain operations the core needs, not a key-value
//! bag: each method is one whole atomic operation, so the in-memory store runs it under
//! one short critical section and a network store in one round trip. Every method takes
//! `now_ms` from the handle's [`Clock`](crate::clock::Clock): stores never read the time
//! themselves, so every instance and every store agrees on what "expired" means.

mod jwt;
mod memory;
mod near_cache;
#[cfg(feature = "redis")]
mod redis;

pub use near_cache::{CachedJwtCheck, CachedLookup, NearCache};

#[cfg(feature = "redis")]
pub use self::redis::{RedisJwtCheck, RedisLookup, RedisStore, RedisStoreBuilder};
#[cfg(feature = "jwt")]
pub(crate) use jwt::info as jwt_info;
pub use jwt::{
    Bump, DeviceGen, JwtEntry, JwtIssued, JwtState, JwtToken, MAX_BUMPS, MAX_LIVE_TOKENS,
    MAX_REVOKED, PRUNE_GRACE_MS,
};
pub use memory::{MemoryStats, MemoryStore};

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::system_time;
use crate::policy::LoginRule;
use crate::token::{SessionId, SessionKey};

/// A session as listed to operators: whose, which device, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's id.
    pub session_id: SessionId,
    /// The user who logged in.
    pub user_id: Arc<str>,
    /// The device name given at login.
    pub device: Arc<str>,
    /// Issue time, Unix milliseconds.
    pub issued_at_ms: u64,
    /// End of the absolute lifetime, Unix milliseconds.
    pub expires_at_ms: u64,
}

impl SessionInfo {
    /// Issue time.
    pub fn issued_at(&self) -> SystemTime {
        system_time(self.issued_at_ms)
    }

    /// End of the absolute lifetime.
    pub fn expires_at(&self) -> SystemTime {
        system_time(self.expires_at_ms)
    }
}

/// Why a session ended before its time; kept in its tombstone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The holder logged out: the token then answers `invalid_token`.
    LoggedOut,
    /// An operator ended it: `kicked_out`.
    KickedOut,
    /// A newer login took its place under the concurrent-login rule: `replaced`.
    Replaced,
    /// The user was banned: `banned` while the ban lasts, `kicked_out` after.
    Banned,
}

impl EndReason {
    /// The reason its token answers with: a ban's tokens say `banned` while the ban
    /// stands, `kicked_out` after.
    pub fn rejection(self, ban_stands: bool) -> crate::Reason {
        use crate::Reason;
        match self {
            EndReason::LoggedOut => Reason::InvalidToken,
            EndReason::KickedOut => Reason::KickedOut,
            EndReason::Replaced => Reason::Replaced,
            EndReason::Banned if ban_stands => Reason::Banned,
            EndReason::Banned => Reason::KickedOut,
        }
    }
}

/// A tombstone: how and when a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Why.
    pub reason: EndReason,
    /// When, Unix milliseconds.
    pub at_ms: u64,
}

/// A session to create.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// What the token is known by.
    pub key: SessionKey,
    /// Who, which device, when.
    pub info: SessionInfo,
    /// The first idle deadline, if the handle has an idle timeout.
    pub idle_deadline_ms: Option<u64>,
    /// How long the record outlives its end, so an expired token answers
    /// `token_expired` rather than `invalid_token`.
    pub retain_ms: u64,
}

/// A session record as the store holds it, live or a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Who, which device, when.
    pub info: SessionInfo,
    /// The idle deadline, if the handle has an idle timeout.
    pub idle_deadline_ms: Option<u64>,
    /// Set once the session was ended before its time.
    pub ended: Option<Ended>,
    /// For a session ended by a ban: the ban's end, if the ban still stands.
    pub ban_until_ms: Option<u64>,
}

impl SessionRecord {
    /// Whether the session still opens requests at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.ended.is_none()
            && now_ms < self.info.expires_at_ms
            && self.idle_deadline_ms.is_none_or(|d| now_ms < d)
    }

    /// When the record may be forgotten: a live session `retain_ms` after the earlier of
    /// its deadlines, a tombstone `retain_ms` after its absolute lifetime.
    pub fn purge_at(&self, retain_ms: u64) -> u64 {
        purge_time(
            self.info.expires_at_ms,
            self.idle_deadline_ms,
            self.ended.is_some(),
            retain_ms,
        )
    }
}

/// See [`SessionRecord::purge_at`].
pub(crate) fn purge_time(
    expires_at_ms: u64,
    idle_deadline_ms: Option<u64>,
    ended: bool,
    retain_ms: u64,
) -> u64 {
    let end = match idle_deadline_ms {
        Some(idle) if !ended => idle.min(expires_at_ms),
        _ => expires_at_ms,
    };
    end.saturating_add(retain_ms)
}

/// Idle-timeout renewal requested along with a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The new idle deadline; the store caps it at the session's absolute end, so
    /// activity never extends a session past its lifetime.
    pub deadline_ms: u64,
    /// Write only if the deadline moves forward by at least this much (write throttling).
    pub min_step_ms: u64,
}

/// Which sessions an operation ends.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The session of one token.
    Token(&'a SessionKey),
    /// One session by id.
    Session(SessionId),
    /// Every live session of a user, or only those on one device.
    User {
        /// The user.
        user_id: &'a str,
        /// Only sessions on this device, if set.
        device: Option<&'a str>,
    },
}

/// What [`Store::create`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// The session now lives; these sessions were replaced to make room.
    Created {
        /// Sessions ended with [`EndReason::Replaced`].
        replaced: Vec<SessionInfo>,
    },
    /// Nothing was written: the user is banned until then (Unix milliseconds).
    Banned {
        /// End of the ban.
        until_ms: u64,
    },
    /// Nothing was written: the rule refuses new logins while the limit is reached.
    LimitReached,
}

/// What a store's revocation feed says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// These sessions ended (through any handle, on any instance sharing the store).
    Sessions(Arc<[(SessionId, EndReason)]>),
    /// Messages may have been missed (a feed connection was lost and is back):
    /// re-check watched sessions against the store.
    Resync,
}

/// Which tokens a JWT-mode revocation ends.
#[derive(Clone, Copy, Debug)]
pub enum JwtTarget<'a> {
    /// Every token of the user (one generation bump).
    User,
    /// Every token of the user on one device (one generation bump).
    Device(&'a str),
    /// One token, by session id (its `jti`).
    Session(SessionId),
}

/// What JWT-mode validation learns from the store about one token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JwtStatus {
    /// Whether the store knows the user's state. A validly signed, unexpired token
    /// always has one; none means the store lost its data, and the token is refused.
    pub known: bool,
    /// Set if the token was ended.
    pub ended: Option<Ended>,
    /// For a token ended by a ban: the ban's end, if the ban still stands.
    pub ban_until_ms: Option<u64>,
}

/// A store could not do what it was asked. The request is refused (503), never let
/// through, and a revocation reports the error instead of success.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or did not answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something this crate did not write.
    #[error("session store returned a corrupt record: {0}")]
    Corrupt(String),
}

/// The storage contract of session mode.
///
/// Every method is one atomic operation: no other operation observes half of it. In
/// particular once [`end`](Store::end) or [`ban`](Store::ban) has returned, every
/// [`lookup`](Store::lookup) sees the tombstones — this is what makes a kickout hold on
/// the very next request. The [`crate::store::MemoryStore`] is the reference
/// implementation; the conformance tests in `tests/` pin down the semantics below.
///
/// Records are bounded in time: a record may be forgotten from
/// [`SessionRecord::purge_at`] on, a ban from its end; nothing lives forever.
pub trait Store: Send + Sync + 'static {
    /// Creates a live session, first applying `rule` to the user's live sessions:
    /// refuse if the user is banned at `now_ms`; otherwise, if the sessions in the new
    /// session's scope already number the rule's maximum, either refuse
    /// ([`Overflow::RefuseNew`](crate::policy::Overflow)) or end the oldest of them by
    /// issue time with [`EndReason::Replaced`] until the new one fits.
    fn create(
        &self,
        session: NewSession,
        rule: LoginRule,
        now_ms: u64,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    /// The future of [`Store::lookup`]. It owns what it needs (`'static`) and is `Unpin`,
    /// so the layer can poll it once right away — a store that answers from memory
    /// ([`std::future::Ready`]) then costs no allocation and no extra state — and hold it
    /// inline otherwise. A network store returns a boxed future or one of its own.
    type Lookup: Future<Output = Result<Option<SessionRecord>, StoreError>> + Send + Unpin + 'static;

    /// The record of a token, live or tombstone; `None` if unknown, or forgotten (from
    /// [`SessionRecord::purge_at`] on, whether or not it was physically removed yet). A
    /// record whose token digest differs from `key`'s is unknown.
    ///
    /// If `touch` is set and the session is live at `now_ms`, its idle deadline moves to
    /// `min(touch.deadline_ms, expires_at_ms)` when that is at least `touch.min_step_ms`
    /// later than the current one; the returned record shows the deadline before the
    /// touch. For a session ended by a ban, `ban_until_ms` is the ban's end if it still
    /// stands.
    ///
    /// This is the one store operation of a validated request.
    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup;

    /// Ends the sessions of `target` that are live at `now_ms`, leaving tombstones with
    /// `reason`; returns the sessions it ended (none if nothing was live).
    fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// Bans a user until `until_ms` (replacing any earlier ban) and ends every live
    /// session with [`EndReason::Banned`]; returns the sessions it ended.
    fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// Lifts a ban; `true` if one stood at `now_ms`.
    fn unban(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The end of the user's ban, if one stands at `now_ms`.
    fn banned_until(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The user's sessions live at `now_ms`, oldest first.
    fn sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// The future of [`Store::jwt_check`]; `'static` and `Unpin` like [`Store::Lookup`].
    type JwtCheck: Future<Output = Result<JwtStatus, StoreError>> + Send + Unpin + 'static;

    /// JWT mode's one read per request: whether `token` of `user_id` was ended, and
    /// why ([`JwtState::ended`]), and for a ban whether it still stands. A token not
    /// [issued](JwtState::issued) under the stored state is unknown.
    fn jwt_check(&self, user_id: &str, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck;

    /// JWT mode's login: refuse if the user is banned, else apply `rule` and record
    /// the token ([`JwtState::issue`]), atomically.
    /// `fresh_epoch` is the epoch of the state if this login creates it.
    fn jwt_issue(
        &self,
        user_id: &str,
        jti: &str,
        entry: JwtEntry,
        rule: LoginRule,
        fresh_epoch: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<JwtIssued, StoreError>> + Send;

    /// JWT mode's logout and kickouts ([`JwtState::end_user`], [`JwtState::end_token`]);
    /// returns the tokens that were live. For [`JwtTarget::Session`] the user is found
    /// from the id; `user_id` is ignored.
    fn jwt_end(
        &self,
        user_id: &str,
        target: JwtTarget<'_>,
        reason: EndReason,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// JWT mode's ban: ends every token with [`EndReason::Banned`] (one generation bump)
    /// and sets the ban that [`Store::unban`] and [`Store::banned_until`] share with
    /// session mode.
    fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// JWT mode's live tokens of a user, oldest first.
    fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// The feed of sessions ended through any handle of this store, on any instance:
    /// what lets [`Auth::watch`](crate::Auth::watch) end open connections. `None` (the
    /// default) for a store without one: watches then learn of ends through their own
    /// handle and by re-checking the store.
    fn revocations(&self) -> Option<tokio::sync::broadcast::Receiver<Revoked>> {
        None
    }

    /// Gives a live session a new absolute end and idle deadline; returns it renewed,
    /// or `None` if the token's session is not live at `now_ms`.
    fn renew(
        &self,
        key: &SessionKey,
        expires_at_ms: u64,
        idle_deadline_ms: Option<u64>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;
}
