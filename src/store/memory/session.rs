//! Session mode in memory: [`SessionState`]s under their user's shard lock, and
//! [`SessionStore`]. Every rule is the pure machine's; this file holds the locking.

use std::cmp::Reverse;
use std::future::{Ready, ready};

use super::{Due, MemoryStore, Shard, read, write};
use crate::note::Note;
use crate::restriction::{Closed, Scope};
use crate::store::session::{SessionState, Swept, admit, end_sessions};
use crate::store::{
    contract::{Admission, Elevated, Elevation, EndReason, SessionEntry, SessionInfo, StoreError},
    directory::{Page, PageRequest},
    refresh::{Refreshed, Rotated, Rotation},
    session::{NewSession, Renewal, SessionRecord, SessionStore, Target, Touch},
};
use crate::token::{SessionId, SessionKey, user_tag};

impl MemoryStore {
    /// A lookup reads under the shard's read lock; only a due touch (at most once per
    /// touch interval per session) takes the write lock.
    fn lookup_now(
        &self,
        key: &SessionKey,
        touch: Option<Touch>,
        now_ms: u64,
    ) -> Option<SessionRecord> {
        let id = key.session_id();
        {
            let shard = read(self.shard(key.tag()));
            let state = shard.sessions.get(&id)?;
            let ban = |u: &str| shard.ban_until(u, now_ms);
            let record = state.record(key.digest(), now_ms, ban, |u| shard.restrictions_of(u))?;
            match touch {
                Some(t) if SessionState::wants(&record, &t, now_ms) => {}
                _ => return Some(record),
            }
        }
        let mut shard = write(self.shard(key.tag()));
        let shard = &mut *shard;
        let state = shard.sessions.get_mut(&id)?;
        // Read again under the write lock: another request may have touched it, and a
        // ban may have ended it since.
        let (restricted, users) = (&shard.restricted, &shard.users);
        let held = |u: &str| Shard::restrictions_in(restricted, u);
        let ban = |u: &str| Shard::ban_in(users, u, now_ms);
        let fresh = state.record(key.digest(), now_ms, ban, held)?;
        if state.touch(&fresh, touch, now_ms) {
            return state.record(key.digest(), now_ms, ban, held);
        }
        Some(fresh)
    }
}

impl Shard {
    /// Ends the user's sessions `select` picks (see [`end_sessions`]), and drops them
    /// from the directory; those live at `now_ms`.
    pub(super) fn end_sessions(
        &mut self,
        user_id: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        select: impl Fn(&SessionId, &SessionState) -> bool,
    ) -> Swept {
        let Some(user) = self.users.get_mut(user_id) else {
            return Swept::default();
        };
        let swept = end_sessions(
            &mut user.sessions,
            &mut self.sessions,
            reason,
            note,
            now_ms,
            select,
        );
        self.bury(user_id, swept, now_ms)
    }

    /// What an end of `user_id`'s sessions leaves: they leave the directory, and the
    /// user's tombstones past their bound are forgotten.
    fn bury(&mut self, user_id: &str, swept: Swept, now_ms: u64) -> Swept {
        for id in &swept.ended {
            self.dir.remove(id);
        }
        if let Some(user) = self.users.get_mut(user_id) {
            for id in user.ended.bury(&swept.ended, &self.sessions, now_ms) {
                self.sessions.remove(&id);
                self.stale += 1;
            }
        }
        swept
    }

    fn create(&mut self, new: NewSession, now_ms: u64) -> Result<Admission<Swept>, StoreError> {
        let user_id = new.info.user_id.clone();
        if let Some(until_ms) = self.ban_until(&user_id, now_ms) {
            return Ok(Admission::Banned { until_ms });
        }
        let id = new.key.session_id();
        let user = self.users.entry(user_id.clone()).or_default();
        let (swept, state) = match admit(&mut user.sessions, &mut self.sessions, new, now_ms) {
            Ok(Admission::Admitted(admitted)) => admitted,
            Ok(Admission::Banned { until_ms }) => return Ok(Admission::Banned { until_ms }),
            Ok(Admission::LimitReached) => return Ok(Admission::LimitReached),
            Err(collision) => {
                self.forget_user_if_empty(&user_id, now_ms);
                return Err(collision);
            }
        };
        user.sessions.push(id);
        self.queue
            .push(Reverse((state.purge_at(), Due::Session(id))));
        self.sessions.insert(id, state);
        let replaced = self.bury(&user_id, swept, now_ms);
        self.dir.insert(id, user_id);
        Ok(Admission::Admitted(replaced))
    }

    /// Spends a refresh token (see [`SessionStore::refresh`]); with the sessions a reuse
    /// ended, over by this clock or not, to announce.
    fn refresh(
        &mut self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> (Rotated<Refreshed>, Vec<SessionId>) {
        let id = rotation.presented.session_id();
        let Some(state) = self.sessions.get_mut(&id) else {
            return (Rotated::Unknown, Vec::new());
        };
        let user = state.info().user_id.clone();
        let mut reused = Vec::new();
        let rotated = state.refresh(&rotation, now_ms).rotated(
            self,
            |shard| shard.ban_until(&user, now_ms).is_some(),
            // A spent token again: whoever holds it, the session is no longer safe.
            |shard| {
                let swept =
                    shard.end_sessions(&user, EndReason::RefreshReused, None, now_ms, |s, _| {
                        *s == id
                    });
                reused = swept.ended;
                swept.reported
            },
        );
        (rotated, reused)
    }
}

impl SessionStore for MemoryStore {
    async fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let created = self.write(session.key.tag(), now_ms, |shard| {
            shard.create(session, now_ms)
        })?;
        Ok(created.map(|swept| self.announce(swept, EndReason::Replaced, None)))
    }

    type Lookup = Ready<Result<Option<SessionRecord>, StoreError>>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        ready(Ok(self.lookup_now(key, touch, now_ms)))
    }

    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let shard = read(self.shard(id.tag()));
        let ban = |u: &str| shard.ban_until(u, now_ms);
        let held = |u: &str| shard.restrictions_of(u);
        Ok(shard
            .sessions
            .get(&id)
            .and_then(|state| state.current_record(now_ms, ban, held)))
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let (tag, id, digest, owner) = match target {
            Target::Token(key) => (key.tag(), key.session_id(), Some(*key.digest()), None),
            Target::Session(id) => (id.tag(), id, None, None),
            Target::SessionOf {
                user_id,
                session_id,
            } => (session_id.tag(), session_id, None, Some(user_id)),
            Target::User { user_id, device } => {
                let swept = self.write(user_tag(user_id), now_ms, |shard| {
                    shard.end_sessions(user_id, reason, note, now_ms, |_, s| {
                        device.is_none_or(|d| *s.info().device == *d)
                    })
                });
                return Ok(self.announce(swept, reason, note));
            }
            Target::Others { user_id, keep } => {
                let swept = self.write(user_tag(user_id), now_ms, |shard| {
                    shard.end_sessions(user_id, reason, note, now_ms, |id, _| *id != keep)
                });
                return Ok(self.announce(swept, reason, note));
            }
        };
        let swept = self.write(tag, now_ms, |shard| {
            let Some(user) = shard.sessions.get(&id).map(|s| s.info().user_id.clone()) else {
                return Swept::default();
            };
            if owner.is_some_and(|o| *o != *user) {
                return Swept::default();
            }
            // Either access token of the session: the one a refresh replaced too.
            shard.end_sessions(&user, reason, note, now_ms, |other, s| {
                *other == id && digest.is_none_or(|d| s.holds(&d))
            })
        });
        Ok(self.announce(swept, reason, note))
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        Ok(self.ban_user(user_id, until_ms, note, now_ms))
    }

    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionEntry>, StoreError> {
        let shard = read(self.shard(user_tag(user_id)));
        let Some(user) = shard.users.get(user_id) else {
            return Ok(Vec::new());
        };
        let mut live: Vec<SessionEntry> = user
            .sessions
            .iter()
            .filter_map(|id| shard.sessions.get(id))
            .filter(|s| s.is_live(now_ms))
            .map(SessionState::entry)
            .collect();
        live.sort_by_key(|s| s.info.issued_at_ms);
        Ok(live)
    }

    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        let tag = rotation.presented.session_id().tag();
        let (rotated, reused) = self.write(tag, now_ms, |shard| shard.refresh(rotation, now_ms));
        match &rotated {
            Rotated::Reused(_) => self.publish(reused, EndReason::RefreshReused, None),
            // The token before the replaced one no longer opens it: caches read again.
            Rotated::Done(_) => self.publish_updated(rotation.presented.session_id()),
            _ => {}
        }
        Ok(rotated)
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        Ok(self.online_page(page, |shard, id, _| {
            let s = shard.sessions.get(&id).filter(|s| s.is_live(now_ms))?;
            Some(s.online())
        }))
    }

    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        let id = elevation.session_id;
        let elevated = self.write(id.tag(), now_ms, |shard| {
            shard
                .sessions
                .get_mut(&id)
                .map_or(Elevated::NotLive, |s| s.elevate(&elevation, now_ms))
        });
        if matches!(elevated, Elevated::Until(_)) {
            self.publish_updated(id);
        }
        Ok(elevated)
    }

    async fn close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let closed = self.write(id.tag(), now_ms, |shard| {
            shard.sessions.get_mut(&id).map_or(Closed::Nothing, |s| {
                s.close_elevation(user_id, scope, now_ms)
            })
        });
        if closed.changed() {
            self.publish_updated(id);
        }
        Ok(closed.was_open())
    }

    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let Renewal {
            key,
            expires_at_ms,
            idle_deadline_ms,
        } = renewal;
        Ok(self.write(key.tag(), now_ms, |shard| {
            let state = shard.sessions.get_mut(&key.session_id())?;
            state.renew(key.digest(), expires_at_ms, idle_deadline_ms, now_ms)
        }))
    }
}
