//! Session mode: an opaque random token names a record in the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::{EndScope, Issued, LoginRequest, ModeImpl, random, unavailable};
use crate::error::Error;
use crate::identity::{Checked, Identity};
use crate::limits::LAST_SEEN_STEP_MS;
use crate::note::Note;
use crate::policy::OwnIdle;
use crate::rejection::{Reason, Refusal};
use crate::store::{
    Admission, Elevated, Elevation, EndReason, Ends, NewSession, Page, PageRequest, Renewal,
    Rotated, Rotation, SessionEntry, SessionInfo, SessionRecord, SessionStore, StoreError, Target,
    Touch,
};
use crate::token::{RefreshKey, SessionKey, user_tag};

/// Session mode, the default: opaque random tokens, each naming a record in the store.
///
/// Its settings are the session-only ones of the builder: the idle timeout, its touch
/// interval, and how long an expired session keeps answering `token_expired`.
#[derive(Clone, Debug)]
pub struct SessionMode {
    pub(crate) idle_ms: Option<u64>,
    /// The touch interval asked for, if any.
    pub(crate) touch_step: Option<u64>,
    /// The touch interval in force (see [`SessionMode::resolve_touch_step`]).
    touch_step_ms: u64,
    pub(crate) retain_ms: u64,
}

impl Default for SessionMode {
    fn default() -> Self {
        Self {
            idle_ms: None,
            touch_step: None,
            touch_step_ms: LAST_SEEN_STEP_MS,
            retain_ms: 30 * 60_000,
        }
    }
}

impl SessionMode {
    /// The touch interval in force for the idle timeout and the interval asked for.
    pub(crate) fn resolve_touch_step(&mut self) {
        self.touch_step_ms = match (self.touch_step, self.idle_ms) {
            // A step as long as the idle timeout would never renew: keep it under half.
            (Some(step), Some(idle)) => step.min(idle / 2),
            (Some(step), None) => step,
            (None, Some(idle)) => (idle / 10).min(LAST_SEEN_STEP_MS),
            (None, None) => LAST_SEEN_STEP_MS,
        };
    }

    /// The idle renewal to ask for with a lookup at `now`, if there is an idle timeout.
    /// The renewal a request at `now` asks for: always its last sight, and its idle
    /// deadline if there is an idle timeout.
    fn touch(&self, now: u64) -> Touch {
        Touch {
            deadline_ms: self.idle_ms.map(|idle| now.saturating_add(idle)),
            min_step_ms: self.touch_step_ms,
        }
    }

    /// A fresh lifetime for the session of `token` (its own, else `ttl_ms`): `None`
    /// if it is not live.
    pub(crate) async fn renew<S: SessionStore>(
        &self,
        store: &S,
        token: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, Error> {
        let key = SessionKey::parse(token).ok_or(Reason::InvalidToken)?;
        // The session's own lifetime and idle timeout (the handle's for records that
        // keep none).
        let Some(record) = store.lookup(&key, None, now_ms).await? else {
            return Ok(None);
        };
        // A token a request would refuse (its own end passed, say) renews nothing.
        if refusal(&record, now_ms).is_some() {
            return Ok(None);
        }
        let lifetime = if record.lifetime_ms > 0 {
            record.lifetime_ms
        } else {
            ttl_ms
        };
        let expires_at_ms = now_ms.saturating_add(lifetime);
        let idle = record
            .idle_ms
            .or(self.idle_ms.filter(|_| record.idle_deadline_ms.is_some()));
        // The store caps the idle deadline at the session's end: with a refresh token
        // that is past the access token's `expires_at_ms`.
        let renewal = Renewal {
            key: &key,
            expires_at_ms,
            idle_deadline_ms: idle.map(|i| now_ms.saturating_add(i)),
        };
        Ok(store.renew(renewal, now_ms).await?)
    }
}

impl<S: SessionStore> ModeImpl<S> for SessionMode {
    type Token = SessionKey;
    type Check = SessionCheck<S::Lookup>;

    fn prepare(&self, token: &str, _now_ms: u64) -> Result<SessionKey, Reason> {
        SessionKey::parse(token).ok_or(Reason::InvalidToken)
    }

    fn check(&self, store: &S, key: SessionKey, touch: bool, now_ms: u64) -> Self::Check {
        let touch = touch.then(|| self.touch(now_ms));
        SessionCheck {
            lookup: store.lookup(&key, touch, now_ms),
            key,
            now_ms,
        }
    }

    fn token_of(identity: &Identity) -> Option<SessionKey> {
        match identity.checked()? {
            Checked::Key(key) => Some(*key),
            Checked::Other(_) => None,
        }
    }

    // The record holds the session's end.
    async fn follow(
        &self,
        store: &S,
        key: SessionKey,
        _end_ms: u64,
        now_ms: u64,
    ) -> Result<Identity, Refusal> {
        // The session's end, not one token's: it lives on while its refresh token does
        // (the record carries no access token's end).
        let read = store.lookup_session(key.session_id(), now_ms).await;
        verdict(read.map_err(|e| unavailable(&e))?, key, now_ms)
    }

    async fn login(&self, store: &S, login: LoginRequest<'_>) -> Result<Admission<Issued>, Error> {
        let now = login.now_ms;
        let (token, key) = SessionKey::generate(user_tag(login.user_id)).map_err(random)?;
        // With refresh tokens the session lives while either token does.
        let (access_until, refresh) = match login.refresh {
            None => (now.saturating_add(login.ttl_ms), None),
            Some(plan) => {
                let (token, new, access) = plan.issue(key.session_id(), login.ttl_ms, now)?;
                (access, Some((token, new)))
            }
        };
        let expires_at_ms = refresh
            .as_ref()
            .map_or(access_until, |(_, r)| access_until.max(r.expires_at_ms));
        let idle_ms = OwnIdle::or_default(login.idle, self.idle_ms);
        let info = SessionInfo {
            session_id: key.session_id(),
            user_id: Arc::from(login.user_id),
            device: Arc::from(login.device),
            issued_at_ms: now,
            expires_at_ms,
        };
        let new = NewSession {
            key,
            info: info.clone(),
            idle_deadline_ms: idle_ms.map(|idle| now.saturating_add(idle).min(expires_at_ms)),
            idle_ms,
            retain_ms: self.retain_ms,
            rule: login.rule,
            class: Arc::from(login.class),
            meta: login.meta.clone(),
            access_until_ms: refresh.as_ref().map(|_| access_until),
            refresh: refresh.as_ref().map(|(_, r)| r.clone()),
        };
        Ok(store.create(new, now).await?.map(|replaced| Issued {
            token,
            token_expires_at_ms: access_until,
            session: info,
            replaced,
            refresh: refresh.map(|(token, r)| (token, r.expires_at_ms)),
        }))
    }

    async fn end(
        &self,
        store: &S,
        scope: EndScope<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let key;
        let target = match scope {
            EndScope::Token(token) => {
                let Some(parsed) = SessionKey::parse(token) else {
                    return Ok(Ends::default());
                };
                key = parsed;
                Target::Token(&key)
            }
            EndScope::Session(id) => Target::Session(id),
            EndScope::Own {
                user_id,
                session_id,
            } => Target::SessionOf {
                user_id,
                session_id,
            },
            EndScope::User { user_id, device } => Target::User { user_id, device },
            EndScope::Others { user_id, keep } => Target::Others { user_id, keep },
        };
        Ok(store.end(target, reason, note, now_ms).await?.into())
    }

    async fn ban(
        &self,
        store: &S,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        store.ban(user_id, until_ms, note, now_ms).await
    }

    async fn sessions(
        &self,
        store: &S,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        store.sessions(user_id, now_ms).await
    }

    async fn elevate(
        &self,
        store: &S,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        store.elevate(elevation, now_ms).await
    }

    async fn close_elevation(
        &self,
        store: &S,
        user_id: &str,
        session_id: crate::token::SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        store
            .close_elevation(user_id, session_id, scope, now_ms)
            .await
    }

    async fn online(
        &self,
        store: &S,
        page: PageRequest<'_>,
        now_ms: u64,
    ) -> Result<Page, StoreError> {
        store.online(page, now_ms).await
    }

    async fn refresh(&self, store: &S, token: &str, now_ms: u64) -> Result<Rotated<Issued>, Error> {
        let presented = RefreshKey::parse(token).ok_or(Reason::InvalidToken)?;
        let id = presented.session_id();
        let (access, akey) = SessionKey::generate_for(id).map_err(random)?;
        let (refresh, rkey) = presented.next().map_err(random)?;
        let rotation = Rotation {
            presented: &presented,
            access: &akey,
            refresh: &rkey,
            idle_deadline_ms: self.idle_ms.map(|idle| now_ms.saturating_add(idle)),
        };
        Ok(store.refresh(rotation, now_ms).await?.map(|r| Issued {
            token: access,
            token_expires_at_ms: r.access_until_ms,
            session: r.session,
            replaced: Vec::new(),
            refresh: Some((refresh, r.refresh_until_ms)),
        }))
    }
}

/// Session mode's check: the lookup of a token's record, then the verdict.
pub struct SessionCheck<L> {
    lookup: L,
    key: SessionKey,
    now_ms: u64,
}

impl<L> std::fmt::Debug for SessionCheck<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCheck").finish_non_exhaustive()
    }
}

impl<L> Future for SessionCheck<L>
where
    L: Future<Output = Result<Option<SessionRecord>, StoreError>> + Unpin,
{
    type Output = Result<Identity, Refusal>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let verdict = match ready!(Pin::new(&mut this.lookup).poll(cx)) {
            Ok(record) => verdict(record, this.key, this.now_ms),
            Err(error) => Err(unavailable(&error).into()),
        };
        Poll::Ready(verdict)
    }
}

/// What a record (or its absence) means for a request at `now` with the token of `key`.
fn verdict(record: Option<SessionRecord>, key: SessionKey, now: u64) -> Result<Identity, Refusal> {
    let Some(record) = record else {
        return Err(Reason::InvalidToken.into());
    };
    match refusal(&record, now) {
        Some(refusal) => Err(refusal),
        // Built in one piece: the identity is moved on to the handler, so every byte
        // built and moved again shows in a request's cost.
        None => Ok(Identity::of_check(
            (record.info, None),
            Checked::Key(key),
            (record.restrictions, record.elevations),
            record.idle_deadline_ms,
            now,
        )),
    }
}

/// Why a request with the token of `record` is refused at `now`, if it is.
fn refusal(record: &SessionRecord, now: u64) -> Option<Refusal> {
    // Past its lifetime, or the access token's own (the session lives on for its refresh
    // token), a tombstone's cause no longer matters: the token would be over anyway, and
    // says so as a signed one does.
    if now >= record.info.expires_at_ms || record.access_until_ms.is_some_and(|a| now >= a) {
        return Some(Reason::TokenExpired.into());
    }
    // Unused past its idle timeout, the same: an end after that is not why it is over.
    let idle_at = record.idle_deadline_ms;
    match &record.ended {
        Some(ended) if ended.after_idle(idle_at) => Some(Reason::TokenExpired.into()),
        Some(ended) => Some(ended.clone().refusal(record.ban_until_ms.is_some())),
        None if idle_at.is_some_and(|d| now >= d) => Some(Reason::TokenExpired.into()),
        None => None,
    }
}
