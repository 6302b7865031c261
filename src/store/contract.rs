//! What every store shares, whichever mode it serves: the [`Store`] trait (bans,
//! restrictions, the feeds), its error, and the records both contracts speak in.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::system_time;
use crate::note::Note;
use crate::restriction::{Restriction, Restrictions, Scope};
use crate::token::SessionId;

/// A session as listed to operators: whose, which device, when.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// What the application said about a session at login ("Alice's phone", where from,
/// which browser, its own few fields), listed with it by
/// [`Auth::sessions`](crate::Auth::sessions). Bounded by
/// [`limits`](crate::limits); never read on the request path.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionMeta {
    /// A name the user recognizes the session by.
    pub label: Option<Arc<str>>,
    /// The client's address at login.
    pub ip: Option<Arc<str>>,
    /// The client's `User-Agent` at login (its first
    /// [`MAX_USER_AGENT_LEN`](crate::limits::MAX_USER_AGENT_LEN) bytes).
    pub user_agent: Option<Arc<str>>,
    /// The application's own fields, in key order.
    pub fields: Vec<(Arc<str>, Arc<str>)>,
}

impl SessionMeta {
    /// Whether nothing was said.
    pub fn is_empty(&self) -> bool {
        self.label.is_none()
            && self.ip.is_none()
            && self.user_agent.is_none()
            && self.fields.is_empty()
    }
}

/// A live session as a listing shows it: the session and what was said of it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEntry {
    /// Whose, which device, when.
    pub info: SessionInfo,
    /// What the application said at login.
    pub meta: SessionMeta,
    /// When a request last used it, Unix milliseconds: accurate to the handle's touch
    /// interval (at most a minute by default), never before its issue.
    pub last_seen_ms: u64,
}

impl SessionEntry {
    /// A listing entry.
    pub fn new(info: SessionInfo, meta: SessionMeta, last_seen_ms: u64) -> Self {
        Self {
            last_seen_ms: last_seen_ms.max(info.issued_at_ms),
            info,
            meta,
        }
    }

    /// When a request last used it.
    pub fn last_seen(&self) -> SystemTime {
        system_time(self.last_seen_ms)
    }
}

/// Why a session ended before its time; kept in its tombstone.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// A spent refresh token was presented again: `refresh_reused`.
    RefreshReused,
}

impl EndReason {
    /// The reason its token answers with: a ban's tokens say `banned` while the ban
    /// stands, `kicked_out` after.
    pub fn rejection(self, ban_stands: bool) -> crate::rejection::Reason {
        use crate::rejection::Reason;
        match self {
            EndReason::LoggedOut => Reason::InvalidToken,
            EndReason::KickedOut => Reason::KickedOut,
            EndReason::Replaced => Reason::Replaced,
            EndReason::Banned if ban_stands => Reason::Banned,
            EndReason::Banned => Reason::KickedOut,
            EndReason::RefreshReused => Reason::RefreshReused,
        }
    }

    /// The reason its token answers with the moment the session ended (a ban then
    /// stands): what watches and the revocation feed tell at once.
    pub fn reason_now(self) -> crate::rejection::Reason {
        self.rejection(true)
    }
}

/// A tombstone: how and when a session ended.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Why.
    pub reason: EndReason,
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// The note the revocation was given, if any.
    pub note: Option<Note>,
}

impl Ended {
    /// Whether the session had gone idle (at `idle_deadline_ms`) by this end: it was
    /// over first, and its tokens say `token_expired`, not why it ended later. Every
    /// verdict and refresh of both modes applies it; a store that answers a refresh
    /// itself does too.
    ///
    /// ```
    /// use kickout::store::{EndReason, Ended};
    ///
    /// let kicked = Ended { reason: EndReason::KickedOut, at_ms: 5_000, note: None };
    /// assert!(kicked.after_idle(Some(4_000)));
    /// assert!(!kicked.after_idle(Some(6_000)));
    /// assert!(!kicked.after_idle(None));
    /// ```
    pub fn after_idle(&self, idle_deadline_ms: Option<u64>) -> bool {
        idle_deadline_ms.is_some_and(|at| at <= self.at_ms)
    }

    /// What a token of this session is told; `ban_stands` as in [`EndReason::rejection`].
    pub fn refusal(self, ban_stands: bool) -> crate::rejection::Refusal {
        crate::rejection::Refusal::new(self.reason.rejection(ban_stands), self.note)
    }
}

/// A step-up window to open for one live session ([`SessionStore::elevate`](crate::store::SessionStore::elevate),
/// `JwtStore::jwt_elevate`): the application checked the user again.
#[derive(Clone, Copy, Debug)]
pub struct Elevation<'a> {
    /// Whose session: another user's session is not found.
    pub user_id: &'a str,
    /// The session.
    pub session_id: SessionId,
    /// What it opens.
    pub scope: &'a Scope,
    /// The window's end asked for, Unix milliseconds (the store caps it at the
    /// session's end).
    pub until_ms: u64,
}

/// What an [`Elevation`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elevated {
    /// Open until then, Unix milliseconds: never past the session's end.
    Until(u64),
    /// The session is not live, or not the user's: nothing changed.
    NotLive,
    /// The session has [`MAX_ELEVATIONS`](crate::limits::MAX_ELEVATIONS) other open windows:
    /// nothing changed.
    TooMany,
}

/// What a login did, in either mode: admitted (with what the mode's store grants), or
/// refused with nothing written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// The login is recorded.
    Admitted(T),
    /// Nothing was written: the user is banned until then (Unix milliseconds).
    Banned {
        /// End of the ban.
        until_ms: u64,
    },
    /// Nothing was written: the rule refuses new logins while the limit is reached.
    LimitReached,
}

impl<T> Admission<T> {
    /// The same answer, with what an admitted login grants made into another value (a
    /// mode's answer from its store's, say).
    ///
    /// ```
    /// use kickout::store::Admission;
    ///
    /// assert_eq!(Admission::Admitted(2).map(|n| n * 10), Admission::Admitted(20));
    /// assert_eq!(Admission::<u8>::LimitReached.map(|n| n * 10), Admission::LimitReached);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Admission<U> {
        match self {
            Admission::Admitted(granted) => Admission::Admitted(f(granted)),
            Admission::Banned { until_ms } => Admission::Banned { until_ms },
            Admission::LimitReached => Admission::LimitReached,
        }
    }
}

/// What an end operation ended: the sessions it was asked to end, and those a bound
/// replaced along the way (JWT mode's blacklist overflow, see
/// [`MAX_REVOKED`](crate::limits::MAX_REVOKED)); those answer `replaced`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// Ended with the operation's reason.
    pub ended: Vec<SessionInfo>,
    /// Ended with [`EndReason::Replaced`].
    pub replaced: Vec<SessionInfo>,
}

impl From<Vec<SessionInfo>> for Ends {
    fn from(ended: Vec<SessionInfo>) -> Self {
        Self {
            ended,
            replaced: Vec::new(),
        }
    }
}

/// What a store's revocation feed says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// These sessions ended (through any handle, on any instance sharing the store),
    /// with the note of the operation that ended them.
    Sessions(Arc<[(SessionId, EndReason)]>, Option<Note>),
    /// The state of a user whose slot tag is this changed beyond a list of ended
    /// sessions: a restriction was set or lifted, or (JWT mode) a generation moved,
    /// ending every older token of the user or a device, listed or not (a token the
    /// writer's clock called over may still be live by another instance's). Caches of
    /// that tag's sessions are stale; watches re-check.
    Changed(u16),
    /// A session changed beyond an end: its step-up windows ([`SessionStore::elevate`](crate::store::SessionStore::elevate):
    /// opened, or closed early), or a refresh replaced its tokens (session mode: the
    /// token before the one it replaced no longer opens it). Caches of it read again,
    /// and its watch re-checks.
    Updated(SessionId),
    /// Messages may have been missed (a feed connection was lost and is back):
    /// re-check watched sessions against the store.
    Resync,
    /// The feed's connection is down: sent when it is lost, and again after each
    /// attempt to get it back that failed. Until the next [`Resync`](Self::Resync)
    /// nothing is heard, so silence proves nothing: a [`NearCache`](super::NearCache) caches nothing
    /// meanwhile.
    Lost,
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
    /// The store cannot work as configured: a URL or setting that does not parse, a
    /// missing right (PostgreSQL), or a backend configured so that revocations could
    /// be lost (e.g. a Redis eviction policy that may drop bans and tombstones).
    #[error("session store misconfigured: {0}")]
    Misconfigured(String),
}

/// What every store offers, whichever mode it serves: bans, and the feed of ends.
///
/// A ban is set by the mode's own ban operation ([`SessionStore::ban`](crate::store::SessionStore::ban),
/// `JwtStore::jwt_ban`), which also ends the user's sessions; it is read and lifted
/// here, the same way in both modes. Bans are bounded in time: one may be forgotten
/// from its end on.
pub trait Store: Send + Sync + 'static {
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

    /// Restricts a user in `restriction`'s scope (replacing any restriction of that
    /// scope), atomically: [`Restrictions::restrict`](crate::restriction::Restrictions::restrict).
    /// `Ok(false)` when the user already holds
    /// [`MAX_RESTRICTIONS`](crate::limits::MAX_RESTRICTIONS) other live scopes: nothing
    /// changed. Sessions are not ended. Like a ban, a restriction is kept
    /// [`PRUNE_GRACE_MS`](crate::limits::PRUNE_GRACE_MS) past its end, room permitting:
    /// a store never drops one by the writer's clock alone.
    fn restrict(
        &self,
        user_id: &str,
        restriction: &Restriction,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Lifts the user's restriction of `scope`; `true` if one held at `now_ms`.
    fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The user's restrictions: at least every one live at `now_ms`, and maybe ones
    /// over but kept for the grace ([`Restrictions::prune`](crate::restriction::Restrictions::prune));
    /// a reader takes them by its own clock ([`Restrictions::live`](crate::restriction::Restrictions::live)).
    fn restrictions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Restrictions, StoreError>> + Send;

    /// The feed of sessions ended through any handle of this store, on any instance:
    /// what lets [`Auth::watch`](crate::Auth::watch) end open connections. `None` (the
    /// default) for a store without one, or whose feed has ended (the task that heard
    /// it gone with its runtime; a feed that ends closes, so what follows it knows):
    /// watches then learn of ends through their own handle and by re-checking the
    /// store, and a [`NearCache`](super::NearCache) caches nothing. A feed over a connection says when
    /// that connection is down ([`Revoked::Lost`]) and when it is back
    /// ([`Revoked::Resync`]).
    fn revocations(&self) -> Option<tokio::sync::broadcast::Receiver<Revoked>> {
        None
    }

    /// The audit events of every handle of this store, on any instance (see
    /// [`audit`](super::audit)); `None` (the default) for a store without a shared stream, or whose
    /// stream has ended (as [`revocations`](Self::revocations)): a handle built then
    /// streams its own. Where the stream lost events (a subscription down, events
    /// an instance could not publish) it carries a gap marker,
    /// [`AuditEvent::gap`](super::audit::AuditEvent::gap).
    fn audit_feed(&self) -> Option<tokio::sync::broadcast::Receiver<super::audit::AuditEvent>> {
        None
    }

    /// Shares an audit event with every instance; never waits (a network store sends it
    /// in the background and drops it if it cannot, then owes every instance a gap
    /// marker). The default drops it.
    fn audit(&self, _event: &super::audit::AuditEvent) {}

    /// Whether [`Store::audit`] would reach anyone, so a handle builds no event for
    /// nobody (a network store cannot know of other instances' listeners: `true`).
    fn audit_wanted(&self) -> bool {
        false
    }
}
