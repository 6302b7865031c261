//! One session's record and every rule that changes it, pure: the twin of JWT mode's
//! [`JwtState`](crate::store::jwt::JwtState). A store keeps a [`SessionState`] per
//! session and applies these methods under its own atomicity (a lock, a transaction);
//! the memory store does, and so can any other written in Rust.

use std::sync::Arc;

use super::{NewSession, SessionRecord, Touch, is_live, purge_time};
use crate::note::Note;
use crate::restriction::{Closed, Elevations, Restrictions, Scope};
use crate::store::plan::Held;
use crate::store::refresh::{NewRefresh, Presented, Refreshed, Rotated, Rotation};
use crate::store::{
    contract::{Elevated, Elevation, EndReason, Ended, SessionEntry, SessionInfo, SessionMeta},
    directory::OnlineSession,
};
use crate::token::{RefreshKey, SessionId};

/// A session as a store keeps it: its access token's digest, its times, its end, its
/// refresh chain. Digests only: nothing here opens a request by itself.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone)]
pub struct SessionState {
    digest: [u8; 32],
    info: SessionInfo,
    /// Shared, so a listing clones a pointer.
    meta: Arc<SessionMeta>,
    class: Arc<str>,
    idle_ms: Option<u64>,
    /// What a renewal gives it again: the access token's lifetime with refresh tokens.
    lifetime_ms: u64,
    last_seen_ms: u64,
    idle_deadline_ms: Option<u64>,
    ended: Option<Ended>,
    retain_ms: u64,
    /// With a refresh token: the current access token's end, and the access token the
    /// last refresh replaced (valid until its own end).
    access_until_ms: Option<u64>,
    previous: Option<([u8; 32], u64)>,
    refresh: Option<RefreshState>,
    /// Its step-up windows.
    elevations: Elevations,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No digest: what is derived from a token stays out of logs too.
        f.debug_struct("SessionState")
            .field("info", &self.info)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A session's refresh token, and its chain (every token it ever had).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone)]
struct RefreshState {
    digest: [u8; 32],
    chain: [u8; 32],
    expires_at_ms: u64,
    cap_ms: u64,
    window_ms: Option<u64>,
}

impl RefreshState {
    fn new(r: &NewRefresh) -> Self {
        Self {
            digest: r.digest,
            chain: r.chain,
            expires_at_ms: r.expires_at_ms,
            cap_ms: r.cap_ms,
            window_ms: r.window_ms,
        }
    }
}

/// What presenting a refresh token to a session means
/// ([`SessionState::refresh`]); the store turns it into a
/// [`Rotated`](crate::store::refresh::Rotated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshStep {
    /// Not a token of this session's chain (or the session has none): nothing changed.
    Unknown,
    /// The session was ended before: its end, for the answer (the store adds whether a
    /// ban still stands).
    Ended(Ended),
    /// A spent token of the chain, the session still live: the store must end it now
    /// ([`EndReason::RefreshReused`]) with the user's index, as any end.
    Reused,
    /// The refresh token or the session is past its time: nothing changed.
    Expired,
    /// Rotated: the new pair is the session's now.
    Done(Refreshed),
}

impl RefreshStep {
    /// The store's answer ([`SessionStore::refresh`]) for this step, with the store's
    /// own `maps`: `ban_stands` is asked for an ended session, `end_reused` must end the
    /// session (through the user's index, as any end) for a reuse.
    ///
    /// [`SessionStore::refresh`]: super::SessionStore::refresh
    pub fn rotated<T: ?Sized>(
        self,
        maps: &mut T,
        ban_stands: impl FnOnce(&T) -> bool,
        end_reused: impl FnOnce(&mut T) -> Vec<SessionInfo>,
    ) -> Rotated<Refreshed> {
        match self {
            RefreshStep::Unknown => Rotated::Unknown,
            RefreshStep::Expired => Rotated::Expired,
            RefreshStep::Done(refreshed) => Rotated::Done(refreshed),
            RefreshStep::Ended(ended) => Rotated::Ended {
                ended,
                ban_stands: ban_stands(maps),
            },
            RefreshStep::Reused => Rotated::Reused(end_reused(maps).into()),
        }
    }
}

impl SessionState {
    /// A new session's state; the store files it under `new.key.session_id()`.
    pub fn new(new: NewSession) -> Self {
        let lifetime_ms = match &new.refresh {
            Some(r) => r.access_ttl_ms,
            None => new.info.expires_at_ms.saturating_sub(new.info.issued_at_ms),
        };
        Self {
            digest: *new.key.digest(),
            last_seen_ms: new.info.issued_at_ms,
            lifetime_ms,
            access_until_ms: new.access_until_ms,
            previous: None,
            refresh: new.refresh.as_ref().map(RefreshState::new),
            info: new.info,
            meta: Arc::new(new.meta),
            class: new.class,
            idle_ms: new.idle_ms,
            idle_deadline_ms: new.idle_deadline_ms,
            ended: None,
            retain_ms: new.retain_ms,
            elevations: Elevations::default(),
        }
    }

    /// Closes the session's window of `scope` if the session is the user's: what it
    /// found (a store writes and announces it if it [`changed`](Closed::changed)).
    pub fn close_elevation(&mut self, user_id: &str, scope: &Scope, now_ms: u64) -> Closed {
        if *self.info.user_id != *user_id {
            return Closed::Nothing;
        }
        self.elevations.close(scope, now_ms)
    }

    /// Opens a step-up window of `elevation`'s scope (see
    /// [`Elevations::elevate`]) if the session is live and the user's.
    pub fn elevate(&mut self, elevation: &Elevation<'_>, now_ms: u64) -> Elevated {
        if !self.is_live(now_ms) || *self.info.user_id != *elevation.user_id {
            return Elevated::NotLive;
        }
        let scope = elevation.scope.clone();
        let end = self.info.expires_at_ms;
        match self
            .elevations
            .elevate(scope, elevation.until_ms, end, now_ms)
        {
            Ok(until) => Elevated::Until(until),
            Err(_) => Elevated::TooMany,
        }
    }

    /// What the application said about it at login.
    pub fn meta(&self) -> &Arc<SessionMeta> {
        &self.meta
    }

    /// The same state with `meta` for what the application said: for a store that
    /// keeps that apart from the state a request reads, so a request's read does not
    /// carry it, and puts it back where it is listed.
    pub fn with_meta(mut self, meta: Arc<SessionMeta>) -> Self {
        self.meta = meta;
        self
    }

    /// Who, which device, when.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The device's class.
    pub fn class(&self) -> &Arc<str> {
        &self.class
    }

    /// Its end, if it was ended before its time.
    pub fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref()
    }

    /// Whether it opens requests at `now_ms` (not ended, within both deadlines).
    pub fn is_live(&self, now_ms: u64) -> bool {
        is_live(
            self.info.expires_at_ms,
            self.idle_deadline_ms,
            self.ended.is_some(),
            now_ms,
        )
    }

    /// Until when it opens requests (0 once ended): what a store indexes its directory by.
    pub fn live_until(&self) -> u64 {
        match (&self.ended, self.idle_deadline_ms) {
            (Some(_), _) => 0,
            (None, Some(idle)) => idle.min(self.info.expires_at_ms),
            (None, None) => self.info.expires_at_ms,
        }
    }

    /// When the store may forget it (see [`SessionRecord::purge_at`]): every answer
    /// treats it as gone from then on, swept or not.
    pub fn purge_at(&self) -> u64 {
        purge_time(
            self.info.expires_at_ms,
            self.idle_deadline_ms,
            self.ended.is_some(),
            self.retain_ms,
        )
    }

    /// Whether an access token with this digest is the session's: its current one, or
    /// the one the last refresh replaced.
    pub fn holds(&self, digest: &[u8; 32]) -> bool {
        self.access(digest).is_ok()
    }

    /// The token's own end if it is the session's (`Ok(None)`: it has none of its own),
    /// `Err` if it is not.
    fn access(&self, digest: &[u8; 32]) -> Result<Option<u64>, ()> {
        if self.digest == *digest {
            return Ok(self.access_until_ms);
        }
        match self.previous {
            Some((d, until)) if d == *digest => Ok(Some(until)),
            _ => Err(()),
        }
    }

    /// What a request with the token of `digest` reads ([`SessionStore::lookup`]): the
    /// record, or `None` if the token is not the session's or the record is past its
    /// purge time. What it reads of the user comes from the store: `ban_until`, asked
    /// only for a session a ban ended, and `restrictions`, asked only for a live one
    /// (what guards read: a store cannot leave them out).
    ///
    /// [`SessionStore::lookup`]: super::SessionStore::lookup
    pub fn record(
        &self,
        digest: &[u8; 32],
        now_ms: u64,
        ban_until: impl FnOnce(&str) -> Option<u64>,
        restrictions: impl FnOnce(&str) -> Restrictions,
    ) -> Option<SessionRecord> {
        let access_until_ms = self.access(digest).ok()?;
        if self.purge_at() <= now_ms {
            return None;
        }
        let ban_until_ms = match &self.ended {
            Some(Ended {
                reason: EndReason::Banned,
                ..
            }) => ban_until(&self.info.user_id),
            _ => None,
        };
        Some(SessionRecord {
            info: self.info.clone(),
            idle_deadline_ms: self.idle_deadline_ms,
            ended: self.ended.clone(),
            ban_until_ms,
            last_seen_ms: self.last_seen_ms,
            lifetime_ms: self.lifetime_ms,
            idle_ms: self.idle_ms,
            access_until_ms,
            restrictions: match self.ended {
                None => restrictions(&self.info.user_id),
                Some(_) => Restrictions::default(),
            },
            elevations: self.elevations.clone(),
        })
    }

    /// What a watch of the session reads ([`SessionStore::lookup_session`]): the record
    /// as [`record`](Self::record) gives it for the session's current access token,
    /// whichever token the watch was opened with, but with no token's own end
    /// (`access_until_ms` is `None`): the session's end applies.
    ///
    /// [`SessionStore::lookup_session`]: super::SessionStore::lookup_session
    pub fn current_record(
        &self,
        now_ms: u64,
        ban_until: impl FnOnce(&str) -> Option<u64>,
        restrictions: impl FnOnce(&str) -> Restrictions,
    ) -> Option<SessionRecord> {
        let digest = self.digest;
        let record = self.record(&digest, now_ms, ban_until, restrictions)?;
        Some(SessionRecord {
            access_until_ms: None,
            ..record
        })
    }

    /// Applies a request's [`Touch`] if `record` (this state's, just read) is due for
    /// one: the session was seen now, and its idle deadline moves (by its own idle
    /// timeout, else the touch's), never past its end. Returns whether it wrote, so a
    /// store reads first and writes only then.
    pub fn touch(&mut self, record: &SessionRecord, touch: Option<Touch>, now_ms: u64) -> bool {
        let Some(touch) = touch.filter(|t| Self::wants(record, t, now_ms)) else {
            return false;
        };
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
        self.move_idle(touch.deadline_ms, self.info.expires_at_ms, now_ms);
        true
    }

    /// Whether a read record is due for a touch: its token is live and the last sight
    /// is old enough.
    pub fn wants(record: &SessionRecord, touch: &Touch, now_ms: u64) -> bool {
        record.token_is_live(now_ms) && touch.due(record.last_seen_ms, now_ms)
    }

    /// Moves the idle deadline (if the session has one) forward to the session's own
    /// idle timeout from now, else `deadline_ms`, capped at `end_ms`.
    fn move_idle(&mut self, deadline_ms: Option<u64>, end_ms: u64, now_ms: u64) {
        let own = self.idle_ms.map(|idle| now_ms.saturating_add(idle));
        if let (Some(deadline), Some(current)) = (own.or(deadline_ms), self.idle_deadline_ms) {
            self.idle_deadline_ms = Some(current.max(deadline.min(end_ms)));
        }
    }

    /// Ends it (whatever the caller's clock says of it: a slower instance may still
    /// serve it); the session, for the caller to report if it was live.
    pub fn end(&mut self, reason: EndReason, note: Option<&Note>, now_ms: u64) -> SessionInfo {
        self.ended = Some(Ended {
            reason,
            at_ms: now_ms,
            note: note.cloned(),
        });
        self.info.clone()
    }

    /// A renewal ([`SessionStore::renew`]) of the session of `digest` (its current
    /// token only): a new end — with refresh tokens the access token's, never past the
    /// cap — and idle deadline. `None` if the token is not current or the session is not
    /// live.
    ///
    /// [`SessionStore::renew`]: super::SessionStore::renew
    pub fn renew(
        &mut self,
        digest: &[u8; 32],
        expires_at_ms: u64,
        idle_deadline_ms: Option<u64>,
        now_ms: u64,
    ) -> Option<SessionInfo> {
        if self.digest != *digest || !self.is_live(now_ms) {
            return None;
        }
        let end = match &self.refresh {
            Some(r) => {
                let access = expires_at_ms.min(r.cap_ms);
                self.access_until_ms = Some(access);
                access.max(r.expires_at_ms)
            }
            None => expires_at_ms,
        };
        self.info.expires_at_ms = end;
        self.idle_deadline_ms = idle_deadline_ms.map(|d| d.min(end));
        Some(self.info.clone())
    }

    /// Presents a refresh token ([`SessionStore::refresh`]): spends the current one for
    /// `rotation`'s pair, or says why not. A refresh is activity: the idle deadline
    /// moves as a request's would.
    ///
    /// [`SessionStore::refresh`]: super::SessionStore::refresh
    pub fn refresh(&mut self, rotation: &Rotation<'_>, now_ms: u64) -> RefreshStep {
        if self.purge_at() <= now_ms {
            return RefreshStep::Unknown;
        }
        let Some(refresh) = &self.refresh else {
            return RefreshStep::Unknown;
        };
        match Presented::of(rotation.presented, &refresh.digest, &refresh.chain) {
            Presented::Foreign => return RefreshStep::Unknown,
            Presented::Spent if self.ended.is_none() => return RefreshStep::Reused,
            Presented::Spent | Presented::Current => {}
        }
        if let Some(ended) = &self.ended {
            if ended.after_idle(self.idle_deadline_ms) {
                return RefreshStep::Expired;
            }
            return RefreshStep::Ended(ended.clone());
        }
        if now_ms >= refresh.expires_at_ms || !self.is_live(now_ms) {
            return RefreshStep::Expired;
        }
        let (access_until, refresh_until) =
            NewRefresh::ends(self.lifetime_ms, refresh.window_ms, refresh.cap_ms, now_ms);
        self.rotate(rotation.refresh, refresh_until);
        let end = access_until.max(refresh_until);
        // The replaced token says `token_expired` past its end (until the next refresh).
        self.previous = self.access_until_ms.map(|until| (self.digest, until));
        self.digest = *rotation.access.digest();
        self.access_until_ms = Some(access_until);
        self.info.expires_at_ms = end;
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
        self.move_idle(rotation.idle_deadline_ms, end, now_ms);
        RefreshStep::Done(Refreshed {
            session: self.info.clone(),
            access_until_ms: access_until,
            refresh_until_ms: refresh_until,
        })
    }

    fn rotate(&mut self, next: &RefreshKey, until_ms: u64) {
        if let Some(r) = &mut self.refresh {
            r.digest = *next.digest();
            r.expires_at_ms = until_ms;
        }
    }

    /// What the login planner knows of it: `order` is its place among the user's
    /// sessions.
    pub fn held(&self, id: SessionId, order: u64, now_ms: u64) -> Held<'_> {
        Held {
            id,
            issued_at_ms: self.info.issued_at_ms,
            order,
            class: &self.class,
            live: self.is_live(now_ms),
        }
    }

    /// Its entry in the user's own listing ([`SessionStore::sessions`]).
    ///
    /// [`SessionStore::sessions`]: super::SessionStore::sessions
    pub fn entry(&self) -> SessionEntry {
        SessionEntry::new(
            self.info.clone(),
            SessionMeta::clone(&self.meta),
            self.last_seen_ms,
        )
    }

    /// Its entry in the directory ([`SessionStore::online`]).
    ///
    /// [`SessionStore::online`]: super::SessionStore::online
    pub fn online(&self) -> OnlineSession {
        OnlineSession::new(self.info.clone(), self.last_seen_ms, self.class.clone())
    }
}
