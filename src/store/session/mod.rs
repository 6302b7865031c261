//! Session mode's storage contract: records named by opaque tokens, and
//! [`SessionState`], the pure machine of one record that a store applies.

mod state;
mod user;

pub use state::{RefreshStep, SessionState};
pub use user::{SessionMap, Swept, Tombstones, admit, end_sessions};

use std::future::Future;
use std::sync::Arc;

use super::contract::{
    Admission, Elevated, Elevation, Ended, SessionEntry, SessionInfo, SessionMeta, Store,
    StoreError,
};
use super::directory::{Page, PageRequest};
use super::refresh::{NewRefresh, Refreshed, Rotated, Rotation};
use crate::note::Note;
use crate::policy::LoginRule;
use crate::token::{SessionId, SessionKey};

/// A session to create.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// What the token is known by.
    pub key: SessionKey,
    /// Who, which device, when.
    pub info: SessionInfo,
    /// The first idle deadline, if the session has an idle timeout.
    pub idle_deadline_ms: Option<u64>,
    /// The session's own idle timeout, kept so its renewals use it.
    pub idle_ms: Option<u64>,
    /// How long the record outlives its end, so an expired token answers
    /// `token_expired` rather than `invalid_token`.
    pub retain_ms: u64,
    /// The concurrent-login rule to apply first.
    pub rule: LoginRule,
    /// The device's class: the scope of a per-device rule (the device name unless the
    /// handle maps it, see [`AuthBuilder::device_class`](crate::AuthBuilder::device_class)).
    pub class: Arc<str>,
    /// What the application said of the session, kept for listings only.
    pub meta: SessionMeta,
    /// With a refresh token: the access token's end (the session's is later).
    pub access_until_ms: Option<u64>,
    /// The refresh token, if the session has one.
    pub refresh: Option<NewRefresh>,
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
    /// When a request last renewed it ([`Touch`]), Unix milliseconds: its issue time
    /// until then.
    pub last_seen_ms: u64,
    /// The session's own absolute lifetime (what a [`Renewal`] gives it again).
    pub lifetime_ms: u64,
    /// The session's own idle timeout, if it has one.
    pub idle_ms: Option<u64>,
    /// For a session with refresh tokens: the end of the token that was looked up (its
    /// current access token, or the one it replaced, until that one's own end).
    pub access_until_ms: Option<u64>,
    /// The user's restrictions ([`Store::restrict`]) for a live session, read with the
    /// record so a guarded route costs no other round trip ([`SessionState::record`]
    /// asks the store for them).
    pub restrictions: crate::restriction::Restrictions,
    /// The session's step-up windows ([`SessionStore::elevate`]).
    pub elevations: crate::restriction::Elevations,
}

impl SessionRecord {
    /// Whether the session still opens requests at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        is_live(
            self.info.expires_at_ms,
            self.idle_deadline_ms,
            self.ended.is_some(),
            now_ms,
        )
    }

    /// Whether the token it was looked up with opens requests at `now_ms`: the session
    /// is live and the token's own end (with refresh tokens) has not passed. Only such
    /// a request renews the session.
    pub fn token_is_live(&self, now_ms: u64) -> bool {
        self.is_live(now_ms) && self.access_until_ms.is_none_or(|a| now_ms < a)
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

/// The one liveness rule of session mode (records and the memory store's entries).
pub(crate) fn is_live(
    expires_at_ms: u64,
    idle_deadline_ms: Option<u64>,
    ended: bool,
    now_ms: u64,
) -> bool {
    !ended && now_ms < expires_at_ms && idle_deadline_ms.is_none_or(|d| now_ms < d)
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

/// The renewal a request asks for along with its lookup: the session was seen now,
/// and with an idle timeout its idle deadline moves.
///
/// A store writes only if the session is live and was last seen at least `min_step_ms`
/// ago (write throttling): it then records `now` as its last sight and moves the idle
/// deadline forward to `deadline_ms`, capped at the absolute end, so activity never
/// extends a session past its lifetime. The record a lookup returns shows the renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The new idle deadline, if the session has an idle timeout (a store that keeps
    /// each session's own idle timeout computes it from that instead).
    pub deadline_ms: Option<u64>,
    /// Write only if the last sight is at least this old.
    pub min_step_ms: u64,
}

impl Touch {
    /// Whether a session last seen at `last_seen_ms` is due for a write at `now_ms`.
    pub fn due(&self, last_seen_ms: u64, now_ms: u64) -> bool {
        now_ms >= last_seen_ms.saturating_add(self.min_step_ms)
    }
}

/// Which sessions an operation ends.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The session of one token.
    Token(&'a SessionKey),
    /// One session by id.
    Session(crate::token::SessionId),
    /// One session by id, only if it is the user's (a user signing out one of their
    /// devices: another user's id is not found).
    SessionOf {
        /// The user it must belong to.
        user_id: &'a str,
        /// The session.
        session_id: crate::token::SessionId,
    },
    /// Every live session of a user, or only those on one device.
    User {
        /// The user.
        user_id: &'a str,
        /// Only sessions on this device, if set.
        device: Option<&'a str>,
    },
    /// Every live session of a user but one ("sign out my other devices"), atomically:
    /// a login that lands before it is ended, one after it is not.
    Others {
        /// The user.
        user_id: &'a str,
        /// The session that stays.
        keep: crate::token::SessionId,
    },
}

/// A new lifetime for a live session.
#[derive(Clone, Copy, Debug)]
pub struct Renewal<'a> {
    /// The session's token.
    pub key: &'a SessionKey,
    /// The new absolute end, Unix milliseconds.
    pub expires_at_ms: u64,
    /// The new idle deadline, if the handle has an idle timeout: the store keeps it no
    /// later than the session's end (with a refresh token, the later of both tokens').
    pub idle_deadline_ms: Option<u64>,
}

/// The storage contract of session mode.
///
/// Every method is one atomic operation: no other operation observes half of it. In
/// particular once [`end`](SessionStore::end) or [`ban`](SessionStore::ban) has
/// returned, every [`lookup`](SessionStore::lookup) sees the tombstones — this is what
/// makes a kickout hold on the very next request. The [`MemoryStore`](super::memory::MemoryStore)
/// is the reference implementation; the conformance suite in `tests/` pins down the
/// semantics below on every store.
///
/// Records are bounded in time: a record may be forgotten from
/// [`SessionRecord::purge_at`] on, a ban from its end; nothing lives forever. They are
/// bounded in number too: a user keeps at most
/// [`MAX_LIVE_TOKENS`](crate::limits::MAX_LIVE_TOKENS) sessions that may be live and
/// [`MAX_ENDED`](crate::limits::MAX_ENDED) tombstones ([`Tombstones`] picks which go).
///
/// A store for session mode implements [`Store`] and this trait, nothing of JWT mode.
///
/// Write one as storage and atomicity only: keep a [`SessionState`] per session and a
/// list of ids per user, and let the pure machines decide — [`SessionState`]'s methods
/// for one record, [`admit`] (the login rule, through
/// [`plan_login`](crate::store::plan::plan_login)) and [`end_sessions`] for a user's
/// index, [`Tombstones`] for the ended ones, [`PageRequest::walk`] for the directory.
/// Here is a whole one, over one
/// `Mutex` (the suite in `tests/it/custom_store.rs` runs the same shape, with JWT mode,
/// through every conformance case):
///
/// ```
/// use std::collections::{BTreeMap, HashMap};
/// use std::future::{Ready, ready};
/// use std::sync::{Arc, Mutex, PoisonError};
///
/// use kickout::store::directory::{Page, PageRequest};
/// use kickout::restriction::{Restriction, Restrictions, Scope};
/// use kickout::store::refresh::{Refreshed, Rotated, Rotation};
/// use kickout::store::session::*;
/// use kickout::store::{Admission, Elevated, Elevation, EndReason, SessionEntry, SessionInfo, Store, StoreError};
/// use kickout::{Auth, Note, SessionId, SessionKey};
///
/// #[derive(Default)]
/// struct Maps {
///     sessions: BTreeMap<SessionId, SessionState>,
///     users: HashMap<String, Vec<SessionId>>, // ids in creation order
///     ended: HashMap<String, Tombstones>,
///     bans: HashMap<String, u64>,
///     restrictions: HashMap<String, Restrictions>,
/// }
///
/// impl Maps {
///     fn ban_until(&self, user: &str, now: u64) -> Option<u64> {
///         self.bans.get(user).copied().filter(|&t| t > now)
///     }
///     fn end(&mut self, user: &str, r: EndReason, n: Option<&Note>, now: u64,
///            pick: impl Fn(&SessionId, &SessionState) -> bool) -> Vec<SessionInfo> {
///         let Some(index) = self.users.get_mut(user) else { return Vec::new() };
///         let swept = end_sessions(index, &mut self.sessions, r, n, now, pick);
///         self.bury(user, swept, now)
///     }
///     /// Ended sessions past the user's bound are forgotten.
///     fn bury(&mut self, user: &str, swept: Swept, now: u64) -> Vec<SessionInfo> {
///         let tombstones = self.ended.entry(user.to_owned()).or_default();
///         for id in tombstones.bury(&swept.ended, &self.sessions, now) {
///             self.sessions.remove(&id);
///         }
///         swept.reported
///     }
/// }
///
/// /// Each method is one critical section: atomic, as the contract asks. (A real
/// /// store also drops what `SessionState::purge_at` says is over.)
/// #[derive(Clone, Default)]
/// struct Small(Arc<Mutex<Maps>>);
///
/// impl Small {
///     fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
///         self.0.lock().unwrap_or_else(PoisonError::into_inner)
///     }
/// }
///
/// impl Store for Small {
///     async fn unban(&self, user: &str, now: u64) -> Result<bool, StoreError> {
///         Ok(self.maps().bans.remove(user).is_some_and(|t| t > now))
///     }
///     async fn banned_until(&self, user: &str, now: u64) -> Result<Option<u64>, StoreError> {
///         Ok(self.maps().ban_until(user, now))
///     }
///     async fn restrict(&self, user: &str, r: &Restriction, now: u64) -> Result<bool, StoreError> {
///         let mut maps = self.maps();
///         Ok(maps.restrictions.entry(user.to_owned()).or_default().restrict(r.clone(), now).is_ok())
///     }
///     async fn unrestrict(&self, user: &str, scope: &Scope, now: u64) -> Result<bool, StoreError> {
///         Ok(self.maps().restrictions.get_mut(user).is_some_and(|r| r.lift(scope, now)))
///     }
///     async fn restrictions(&self, user: &str, now: u64) -> Result<Restrictions, StoreError> {
///         let mut held = self.maps().restrictions.get(user).cloned().unwrap_or_default();
///         held.prune(now);
///         Ok(held)
///     }
/// }
///
/// impl SessionStore for Small {
///     type Lookup = Ready<Result<Option<SessionRecord>, StoreError>>;
///
///     fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now: u64) -> Self::Lookup {
///         let mut maps = self.maps();
///         let maps = &mut *maps;
///         let record = maps.sessions.get_mut(&key.session_id()).and_then(|s| {
///             let ban = |u: &str| maps.bans.get(u).copied().filter(|&t| t > now);
///             // The user's restrictions come with the record (guards read them).
///             let held = |u: &str| maps.restrictions.get(u).cloned().unwrap_or_default();
///             let record = s.record(key.digest(), now, ban, held)?;
///             if s.touch(&record, touch, now) {
///                 return s.record(key.digest(), now, |_| record.ban_until_ms, held);
///             }
///             Some(record)
///         });
///         ready(Ok(record))
///     }
///     async fn lookup_session(&self, id: SessionId, now: u64) -> Result<Option<SessionRecord>, StoreError> {
///         let maps = self.maps();
///         let ban = |u: &str| maps.ban_until(u, now);
///         let held = |u: &str| maps.restrictions.get(u).cloned().unwrap_or_default();
///         Ok(maps.sessions.get(&id).and_then(|s| s.current_record(now, ban, held)))
///     }
///     async fn create(&self, new: NewSession, now: u64) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
///         let mut maps = self.maps();
///         let maps = &mut *maps;
///         if let Some(until_ms) = maps.ban_until(&new.info.user_id, now) {
///             return Ok(Admission::Banned { until_ms });
///         }
///         let id = new.key.session_id();
///         let user = new.info.user_id.to_string();
///         let index = maps.users.entry(user.clone()).or_default();
///         Ok(match admit(index, &mut maps.sessions, new, now)? {
///             Admission::Admitted((swept, state)) => {
///                 index.push(id);
///                 maps.sessions.insert(id, state);
///                 Admission::Admitted(maps.bury(&user, swept, now))
///             }
///             Admission::Banned { until_ms } => Admission::Banned { until_ms },
///             Admission::LimitReached => Admission::LimitReached,
///         })
///     }
///     async fn end(&self, target: Target<'_>, r: EndReason, n: Option<&Note>, now: u64) -> Result<Vec<SessionInfo>, StoreError> {
///         let mut maps = self.maps();
///         let (id, digest, owner) = match target {
///             Target::User { user_id, device } => return Ok(maps.end(user_id, r, n, now, |_, s| {
///                 device.is_none_or(|d| *s.info().device == *d)
///             })),
///             Target::Others { user_id, keep } => return Ok(maps.end(user_id, r, n, now, |id, _| *id != keep)),
///             Target::Token(key) => (key.session_id(), Some(*key.digest()), None),
///             Target::Session(id) => (id, None, None),
///             Target::SessionOf { user_id, session_id } => (session_id, None, Some(user_id)),
///         };
///         let Some(user) = maps.sessions.get(&id).map(|s| s.info().user_id.clone()) else {
///             return Ok(Vec::new());
///         };
///         if owner.is_some_and(|o| *o != *user) {
///             return Ok(Vec::new());
///         }
///         Ok(maps.end(&user, r, n, now, |other, s| *other == id && digest.is_none_or(|d| s.holds(&d))))
///     }
///     async fn ban(&self, user: &str, until: u64, n: Option<&Note>, now: u64) -> Result<Vec<SessionInfo>, StoreError> {
///         let mut maps = self.maps();
///         let ended = maps.end(user, EndReason::Banned, n, now, |_, _| true);
///         maps.bans.insert(user.to_owned(), until);
///         Ok(ended)
///     }
///     async fn sessions(&self, user: &str, now: u64) -> Result<Vec<SessionEntry>, StoreError> {
///         let maps = self.maps();
///         let ids = maps.users.get(user).map_or(&[][..], Vec::as_slice);
///         let mut live: Vec<SessionEntry> = ids.iter().filter_map(|id| maps.sessions.get(id))
///             .filter(|s| s.is_live(now)).map(SessionState::entry).collect();
///         live.sort_by_key(|s| s.info.issued_at_ms);
///         Ok(live)
///     }
///     async fn close_elevation(&self, user: &str, id: SessionId, scope: &Scope, now: u64) -> Result<bool, StoreError> {
///         let mut maps = self.maps();
///         let s = maps.sessions.get_mut(&id);
///         Ok(s.is_some_and(|s| s.close_elevation(user, scope, now).was_open()))
///     }
///     async fn elevate(&self, e: Elevation<'_>, now: u64) -> Result<Elevated, StoreError> {
///         let mut maps = self.maps();
///         let session = maps.sessions.get_mut(&e.session_id);
///         Ok(session.map_or(Elevated::NotLive, |s| s.elevate(&e, now)))
///     }
///     async fn renew(&self, r: Renewal<'_>, now: u64) -> Result<Option<SessionInfo>, StoreError> {
///         let mut maps = self.maps();
///         let state = maps.sessions.get_mut(&r.key.session_id());
///         Ok(state.and_then(|s| s.renew(r.key.digest(), r.expires_at_ms, r.idle_deadline_ms, now)))
///     }
///     async fn refresh(&self, rotation: Rotation<'_>, now: u64) -> Result<Rotated<Refreshed>, StoreError> {
///         let mut maps = self.maps();
///         let id = rotation.presented.session_id();
///         let Some(state) = maps.sessions.get_mut(&id) else { return Ok(Rotated::Unknown) };
///         let user = state.info().user_id.clone();
///         let step = state.refresh(&rotation, now);
///         let reused = |m: &mut Maps| m.end(&user, EndReason::RefreshReused, None, now, |s, _| *s == id);
///         Ok(step.rotated(&mut *maps, |m| m.ban_until(&user, now).is_some(), reused))
///     }
///     async fn online(&self, page: PageRequest<'_>, now: u64) -> Result<Page, StoreError> {
///         use std::ops::Bound;
///         let maps = self.maps();
///         let from = page.start_after().map_or(Bound::Unbounded, Bound::Excluded);
///         let entries = maps.sessions.range((from, Bound::Unbounded));
///         Ok(page.walk(entries, |(id, _)| **id, |(_, s)| s.is_live(now).then(|| s.online())))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = Auth::new(Small::default());
/// let login = auth.login("10001", "web").await?;
/// assert!(auth.authenticate(login.token.as_str()).await.is_ok());
/// auth.kickout("10001").await?;
/// assert!(auth.authenticate(login.token.as_str()).await.is_err());
/// # Ok::<(), kickout::Error>(())
/// # }).unwrap();
/// ```
pub trait SessionStore: Store {
    /// Creates a live session, first applying its rule to the user's live sessions:
    /// refuse if the user is banned at `now_ms`; otherwise, if the sessions in the new
    /// session's scope already number the rule's maximum, either refuse
    /// ([`Overflow::RefuseNew`](crate::Overflow)) or end the oldest of them by issue time
    /// with [`EndReason::Replaced`](super::contract::EndReason) until the new one fits. Whatever the
    /// rule, a user keeps at most [`MAX_LIVE_TOKENS`](crate::limits::MAX_LIVE_TOKENS) live
    /// sessions: the oldest go. Admitted, it returns the sessions it replaced.
    /// [`plan_login`](super::plan::plan_login) is that rule, pure: a store reads the
    /// user's sessions, applies the plan and writes it, in one atomic step.
    fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> impl Future<Output = Result<Admission<Vec<SessionInfo>>, StoreError>> + Send;

    /// The future of [`SessionStore::lookup`]. It owns what it needs (`'static`) and is
    /// `Unpin`, so the layer can poll it once right away — a store that answers from
    /// memory ([`std::future::Ready`]) then costs no box and no extra state — and
    /// hold it inline otherwise. A network store returns a boxed future or one of its own.
    type Lookup: Future<Output = Result<Option<SessionRecord>, StoreError>> + Send + Unpin + 'static;

    /// The record of a token, live or tombstone; `None` if unknown, or forgotten (from
    /// [`SessionRecord::purge_at`] on, whether or not it was physically removed yet). A
    /// record whose token digest differs from `key`'s is unknown.
    ///
    /// A session with refresh tokens knows two access tokens: its current one, and the
    /// one the last refresh replaced (`access_until_ms` says which one's end applies);
    /// other digests are unknown.
    ///
    /// If `touch` is set and the token opens requests at `now_ms`, its idle deadline moves to
    /// `min(touch.deadline_ms, expires_at_ms)` when that is at least `touch.min_step_ms`
    /// later than the current one; the returned record shows the deadline before the
    /// touch. For a session ended by a ban, `ban_until_ms` is the ban's end if it still
    /// stands.
    ///
    /// This is the one store operation of a validated request.
    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup;

    /// The record of session `id` as [`lookup`](SessionStore::lookup) reads it for the
    /// session's current access token, without a touch and with no token's own end
    /// (`access_until_ms` is `None`: [`SessionState::current_record`]); `None` if
    /// unknown or forgotten.
    ///
    /// What a [`SessionWatch`](crate::watch::SessionWatch) re-checks: it follows its
    /// session, whose tokens a refresh replaces, to the session's end. No request
    /// reads a record this way: a token opens requests only by its digest.
    fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Ends the sessions of `target` that are live at `now_ms`, leaving tombstones with
    /// `reason` and `note`; returns the sessions it ended (none if nothing was live).
    fn end(
        &self,
        target: Target<'_>,
        reason: super::contract::EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// Bans a user until `until_ms` (replacing any earlier ban) and ends every live
    /// session with [`EndReason::Banned`](super::contract::EndReason); returns the sessions it
    /// ended, their tombstones kept with `note`. [`Store::unban`] and
    /// [`Store::banned_until`] read the same ban. A store that also serves JWT mode
    /// ends the user's tokens too, as [`JwtStore::jwt_ban`](super::jwt::JwtStore::jwt_ban)
    /// does, and returns them with the rest: the ban refuses logins in both modes, so
    /// neither mode's tokens may outlive it.
    fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// The user's sessions live at `now_ms`, oldest first, with their metadata.
    fn sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionEntry>, StoreError>> + Send;

    /// Opens a step-up window for a live session of the user
    /// ([`SessionState::elevate`]), atomically with its liveness: a session ended
    /// before is [`Elevated::NotLive`], one ended after ends its windows with it. From
    /// then on every [`lookup`](SessionStore::lookup) of the session returns the window
    /// in [`SessionRecord::elevations`] (a store with a revocation feed announces
    /// [`Revoked::Changed`](super::contract::Revoked::Changed), so caches read it again).
    fn elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Elevated, StoreError>> + Send;

    /// Closes the session's step-up window of `scope` before its end
    /// ([`SessionState::close_elevation`]); whether one was open. Announced like an
    /// elevation.
    fn close_elevation(
        &self,
        user_id: &str,
        session_id: crate::token::SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives a live session a new absolute end and idle deadline; returns it renewed,
    /// or `None` if the token's session is not live at `now_ms`.
    fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;

    /// Spends a refresh token, atomically (see [`super::refresh`]):
    /// - the session's current refresh token, the session live and the token within
    ///   its end: the new pair replaces it. The new access token lives the session's
    ///   own access lifetime, the new refresh token its window, neither past the cap;
    ///   the session's end becomes the later of the two, and it counts as seen now.
    ///   The replaced access token stays valid until its own end.
    /// - the current token of an ended session: [`Rotated::Ended`].
    /// - the current token past its end: [`Rotated::Expired`].
    /// - another token of the session's chain ([`Presented::Spent`](super::refresh::Presented)),
    ///   spent however many rotations ago: the session, if live, ends with
    ///   [`EndReason::RefreshReused`](super::contract::EndReason) ([`Rotated::Reused`]); an ended
    ///   one answers as ended.
    /// - anything else: [`Rotated::Unknown`].
    fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Rotated<Refreshed>, StoreError>> + Send;

    /// A page of the directory of sessions live at `now_ms`, of every user (see
    /// [`super::directory`]): at most `limit`, after `after`, of one device class if
    /// asked. Following `next` until `None` lists each session live throughout exactly
    /// once; a page reads at most [`SCAN_FACTOR`](super::directory::SCAN_FACTOR) index
    /// entries per session it may return.
    fn online(
        &self,
        page: PageRequest<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;
}
