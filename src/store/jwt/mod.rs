//! JWT mode's revocation state of one user: generations, bumps, a blacklist, and the
//! index of issued tokens.
//!
//! A signed token carries its user's *generation* (`ug`) and its device's (`dg`) at
//! issue. Kicking a user out raises the user generation — one write, whatever the
//! number of tokens — and every token with an older one is refused; kicking a device
//! out raises that device's generation. A *bump* remembers why a generation ended, so
//! an older token answers `kicked_out`, `replaced` or `banned`. Generations are
//! counters, not times: clock skew between instances cannot let an old token through,
//! and a login in the same second as a kickout gets the new generation.
//!
//! One token is revoked (logout, or a rule replacing the oldest of several) through the
//! blacklist, until its expiry. Every record here ends: bumps and blacklist entries
//! when the tokens they end have expired, index entries with their token.
//!
//! The index lists every issued, unexpired, not-ended token of the user, so rules,
//! `sessions` and the `kicked` counts work as in session mode; validation reads only a
//! token's last sight and step-up windows from it. An end (but the login bound's sweep)
//! leaves an idle token's entry in place until it is pruned, so its sight says the token
//! was over before the end (`Ended::after_idle`); the Redis scripts pin the sight's own
//! key instead.
//!
//! This module is the contract of a JWT-mode store ([`JwtStore`] and what it reads and
//! writes); the state machine every store applies is [`JwtState`], in `state.rs`.

mod refresh;
mod state;

pub use self::refresh::{JwtRefreshState, JwtRefreshStep, JwtRefreshes};
pub use self::state::{Bump, DeviceGen, JwtEntry, JwtState, Tokens, answered};
pub(crate) use self::state::{idle_deadline, idle_over, jti_collision};

use std::future::Future;
use std::sync::Arc;

use super::contract::{
    Admission, Elevated, Elevation, EndReason, Ended, Ends, SessionEntry, SessionInfo, SessionMeta,
    Store, StoreError,
};
use super::directory::{Page, PageRequest};
use super::refresh::{JwtRotation, NewRefresh, Refreshed, Rotated};
use crate::note::Note;
use crate::policy::LoginRule;
use crate::token::SessionId;

/// The generations a token carries, and its id: what validation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwtToken<'a> {
    /// Its user.
    pub user_id: &'a str,
    /// The epoch of the user's state it was issued under.
    pub epoch: u64,
    /// Its user's slot tag (see [`crate::SessionKey::tag`]).
    pub tag: u16,
    /// The token's `jti`.
    pub jti: &'a str,
    /// Its device.
    pub device: &'a str,
    /// User generation at issue.
    pub user_gen: u64,
    /// Device generation at issue.
    pub device_gen: u64,
    /// Set to the token's expiry when the store should record that it was seen now
    /// (for listings and the idle timeout; at most once per touch interval per
    /// instance).
    pub seen_until_ms: Option<u64>,
    /// With an idle timeout: `(idle, issued_at_ms)`. The store then returns the last
    /// sight, and records no sight for a token idle that long (it stays over).
    pub idle: Option<(u64, u64)>,
    /// A watch's periodic re-check, which makes good a lost message: a cache in front
    /// of the store reads the store itself (session mode's twin is
    /// [`SessionStore::lookup_session`](crate::store::session::SessionStore::lookup_session)).
    pub recheck: bool,
}

impl JwtToken<'_> {
    /// Whether a token last seen at `last_seen_ms` (none: never since its issue) is past
    /// its idle timeout at `now_ms`.
    pub fn idle_over(&self, last_seen_ms: Option<u64>, now_ms: u64) -> bool {
        idle_over(self.idle, last_seen_ms, now_ms)
    }
}

/// A JWT-mode login to record: [`JwtStore::jwt_issue`].
#[derive(Clone, Debug)]
pub struct JwtIssue {
    /// The user.
    pub user_id: Arc<str>,
    /// The new token's `jti`.
    pub jti: String,
    /// Its device.
    pub device: Arc<str>,
    /// Issue time, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// The concurrent-login rule to apply first.
    pub rule: LoginRule,
    /// The epoch of the user's state if this login creates it (see [`JwtState::epoch`]).
    pub fresh_epoch: u64,
    /// The device's class: the scope of a per-device rule.
    pub class: Arc<str>,
    /// The token's idle timeout, if it has one: listings leave out tokens idle longer.
    pub idle_ms: Option<u64>,
    /// What the application said of the session, kept for listings only.
    pub meta: SessionMeta,
    /// The session's refresh token, if it has one: then `expires_at_ms` is the session's
    /// end (the later of its access and refresh tokens'), not the signed `exp`.
    pub refresh: Option<JwtRefresh>,
}

/// A JWT-mode session's refresh token, and what a refresh signs into the new token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtRefresh {
    /// The refresh token and the session's cap.
    pub refresh: NewRefresh,
    /// The application's claims of the login, serialized (`login_with_claims`).
    pub claims: Option<String>,
    /// The idle timeout in force at login, which its tokens carry (`Some(0)`: none,
    /// whatever the verifying handle's; `None`, from records written before it
    /// travelled: the verifying handle's).
    pub own_idle_ms: Option<u64>,
}

/// What a JWT-mode refresh returns to sign the new access token with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtRefreshed {
    /// The session and the new tokens' ends.
    pub refreshed: Refreshed,
    /// The state's epoch and the session's generations, as at its login.
    pub epoch: u64,
    /// User generation.
    pub user_gen: u64,
    /// Device generation.
    pub device_gen: u64,
    /// As recorded at login.
    pub claims: Option<String>,
    /// As recorded at login.
    pub own_idle_ms: Option<u64>,
}

/// What an admitted JWT-mode login embeds in its token, and what it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtGrant {
    /// The state's epoch.
    pub epoch: u64,
    /// User generation.
    pub user_gen: u64,
    /// Device generation.
    pub device_gen: u64,
    /// Tokens ended by the rule.
    pub replaced: Vec<SessionInfo>,
    /// Whether a generation moved: then tokens no list names ended too (those in their
    /// leeway), and the store announces a change of the user's slot tag
    /// ([`Revoked::Changed`](crate::store::Revoked::Changed)); else `replaced` is all
    /// that ended.
    pub bumped: bool,
}

/// Which tokens a JWT-mode revocation ends.
#[derive(Clone, Copy, Debug)]
pub enum JwtTarget<'a> {
    /// Every token of the user, or of one device (one generation bump).
    User {
        /// The user.
        user_id: &'a str,
        /// Only tokens on this device, if set.
        device: Option<&'a str>,
    },
    /// One token of a known user (a logout, or a user ending one of their sessions by
    /// id): nothing if the token is not that user's.
    Token {
        /// Its user.
        user_id: &'a str,
        /// Its session id (tag and `jti`).
        session_id: SessionId,
    },
    /// One token by its session id alone (an operator's call): the store finds its user.
    Session(SessionId),
    /// Every token of a user but one ("sign out my other devices"), each revoked on its
    /// own (a generation bump would end the kept one too), atomically: those past their
    /// expiry by the caller's clock but still in the index too, for a verifier's leeway.
    Others {
        /// The user.
        user_id: &'a str,
        /// The token that stays.
        keep: SessionId,
    },
}

/// What JWT-mode validation learns from the store about one token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtStatus {
    /// Whether the store knows the user's state. A validly signed, unexpired token
    /// always has one; none means the store lost its data, and the token is refused.
    pub known: bool,
    /// Set if the token was ended.
    pub ended: Option<Ended>,
    /// For a token ended by a ban: the ban's end, if the ban still stands.
    pub ban_until_ms: Option<u64>,
    /// When a request was last seen with the token, if the token asked
    /// ([`JwtToken::idle`]) and the store holds a sight (none: not since its login, as
    /// far as the store knows). An end must keep the sight of a token idle by then (see
    /// [`JwtState::index`]): an ended token whose sight says it went idle before its
    /// end is refused as expired; one without a sight is told the end's reason.
    pub last_seen_ms: Option<u64>,
    /// The user's restrictions ([`Store::restrict`]), read with the state so a guarded
    /// route costs no other round trip.
    pub restrictions: crate::restriction::Restrictions,
    /// The token's session's step-up windows ([`JwtStore::jwt_elevate`]).
    pub elevations: crate::restriction::Elevations,
}

/// The storage contract of JWT mode: one [`JwtState`] per user, read on every request
/// and changed atomically by logins, logouts, kickouts and bans.
///
/// The same atomicity as [`SessionStore`](super::session::SessionStore): once
/// [`jwt_end`](JwtStore::jwt_end) or [`jwt_ban`](JwtStore::jwt_ban) returned, every
/// [`jwt_check`](JwtStore::jwt_check) sees the revocation.
pub trait JwtStore: Store {
    /// The future of [`JwtStore::jwt_check`]; `'static` and `Unpin` like
    /// [`SessionStore::Lookup`](super::session::SessionStore::Lookup).
    type JwtCheck: Future<Output = Result<JwtStatus, StoreError>> + Send + Unpin + 'static;

    /// JWT mode's one read per request: whether `token` was ended, and why
    /// ([`JwtState::ended`]), and for a ban whether it still stands. A token not
    /// [issued](JwtState::issued) under the stored state is unknown.
    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck;

    /// JWT mode's login: refuse if the user is banned, else apply the rule and record
    /// the token ([`JwtState::issue`]), atomically. A `jti` the slot tag already holds
    /// (any user's token, one of the user's revocations, a refresh record kept past its
    /// session's end) is refused with [`StoreError::Corrupt`], nothing of the login
    /// written: two sessions of one id would end together, and a kept refresh record
    /// could name the new one.
    fn jwt_issue(
        &self,
        issue: JwtIssue,
        now_ms: u64,
    ) -> impl Future<Output = Result<Admission<JwtGrant>, StoreError>> + Send;

    /// JWT mode's step-up: opens a window for the live token `elevation.session_id`
    /// ([`JwtState::elevate`]), atomically with its liveness, as
    /// [`SessionStore::elevate`](super::session::SessionStore::elevate); from then on
    /// [`jwt_check`](JwtStore::jwt_check) of the token returns it in
    /// [`JwtStatus::elevations`].
    fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Elevated, StoreError>> + Send;

    /// JWT mode's [`SessionStore::close_elevation`](super::session::SessionStore::close_elevation)
    /// ([`JwtState::close_elevation`]).
    fn jwt_close_elevation(
        &self,
        user_id: &str,
        session_id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// JWT mode's logout and kickouts ([`JwtState::end_user`], [`JwtState::end_token`],
    /// [`JwtState::end_others`]), kept with `note`; returns the tokens ended, and those a
    /// blacklist overflow replaced. A revocation one by one (a token, the others) lists
    /// the tokens it revoked that [`answered`] keeps: those past their expiry by this
    /// clock included (the mode counts what its own leeway accepts), idle ones not (they
    /// were over). It announces every token it revoked, idle ones too: no bump reaches
    /// them, and other instances' caches learn of each from the feed. A generation bump
    /// lists those live by this clock, and announces the change of the user's tag.
    fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Ends, StoreError>> + Send;

    /// JWT mode's ban: ends every token with [`EndReason::Banned`] (one generation bump)
    /// and sets the ban that [`Store::unban`] and [`Store::banned_until`] read. A store
    /// that also serves session mode ends the user's sessions too, as
    /// [`SessionStore::ban`](crate::store::session::SessionStore::ban) does.
    fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// JWT mode's refresh, atomically, with the rules of
    /// [`SessionStore::refresh`](super::session::SessionStore::refresh): the session must not be
    /// ended ([`JwtState::ended`] with its login's generations), its refresh token and
    /// index entry not past their time (nor its idle timeout); the entry's end becomes
    /// the later of the new tokens' ends. A spent token presented again revokes the
    /// session's `jti` with [`EndReason::RefreshReused`].
    fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Rotated<JwtRefreshed>, StoreError>> + Send;

    /// JWT mode's directory page, as [`SessionStore::online`](super::session::SessionStore::online).
    fn jwt_online(
        &self,
        page: PageRequest<'_>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// The user's live tokens, oldest first, with their metadata.
    fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionEntry>, StoreError>> + Send;
}
