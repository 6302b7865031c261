//! Session mode in memory: records and their refresh tokens, the login rule applied
//! under the user's shard lock, and [`SessionStore`].

use std::cmp::Reverse;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Due, MemoryStore, Shard, read};
use crate::note::Note;
use crate::store::plan::{Held, Plan, plan_login};
use crate::store::refresh::Presented;
use crate::store::session::{is_live, purge_time};
use crate::store::{
    Admission, EndReason, Ended, NewRefresh, NewSession, OnlineSession, Page, PageRequest,
    Refreshed, Renewal, Rotated, Rotation, SessionEntry, SessionInfo, SessionMeta, SessionRecord,
    SessionStore, StoreError, Target, Touch,
};
use crate::token::{RefreshKey, SessionId, SessionKey, user_tag};

/// `idle_deadline` value meaning "no idle timeout".
const NO_IDLE: u64 = u64::MAX;

pub(super) struct Entry {
    pub(super) digest: [u8; 32],
    pub(super) info: SessionInfo,
    /// Shared, so a listing clones a pointer.
    pub(super) meta: Arc<SessionMeta>,
    /// The device's class: the scope of a per-device rule.
    pub(super) class: Arc<str>,
    /// Its own idle timeout and absolute lifetime.
    pub(super) idle_ms: Option<u64>,
    pub(super) lifetime_ms: u64,
    /// When a request last renewed it (`Touch`); its issue time until then.
    pub(super) last_seen: AtomicU64,
    pub(super) idle_deadline: AtomicU64,
    pub(super) ended: Option<Ended>,
    pub(super) retain_ms: u64,
    /// With a refresh token: the current access token's end, the access token the last
    /// refresh replaced (valid until its own end), and the refresh token.
    pub(super) access_until: Option<u64>,
    pub(super) previous: Option<([u8; 32], u64)>,
    pub(super) refresh: Option<Box<RefreshState>>,
}

/// A session's refresh token, and its chain (every token it ever had).
pub(super) struct RefreshState {
    pub(super) digest: [u8; 32],
    pub(super) chain: [u8; 32],
    pub(super) expires_at_ms: u64,
    pub(super) cap_ms: u64,
    pub(super) window_ms: Option<u64>,
}

impl RefreshState {
    pub(super) fn new(r: &NewRefresh) -> Self {
        Self {
            digest: r.digest,
            chain: r.chain,
            expires_at_ms: r.expires_at_ms,
            cap_ms: r.cap_ms,
            window_ms: r.window_ms,
        }
    }

    /// The ends of the pair a rotation at `now_ms` hands out: (access, refresh).
    pub(super) fn next_ends(&self, access_ttl_ms: u64, now_ms: u64) -> (u64, u64) {
        NewRefresh::ends(access_ttl_ms, self.window_ms, self.cap_ms, now_ms)
    }

    /// Spends the current token for `next`, which lives until `until_ms`.
    pub(super) fn rotate(&mut self, next: &RefreshKey, until_ms: u64) {
        self.digest = *next.digest();
        self.expires_at_ms = until_ms;
    }

    pub(super) fn presented(&self, key: &RefreshKey) -> Presented {
        Presented::of(key, &self.digest, &self.chain)
    }
}

impl Entry {
    fn idle_deadline(&self) -> Option<u64> {
        Some(self.idle_deadline.load(Ordering::Acquire)).filter(|&d| d != NO_IDLE)
    }

    fn record(&self, ban_until_ms: Option<u64>, access_until_ms: Option<u64>) -> SessionRecord {
        SessionRecord {
            info: self.info.clone(),
            idle_deadline_ms: self.idle_deadline(),
            ended: self.ended.clone(),
            ban_until_ms,
            last_seen_ms: self.last_seen.load(Ordering::Acquire),
            lifetime_ms: self.lifetime_ms,
            idle_ms: self.idle_ms,
            access_until_ms,
        }
    }

    /// Whether `digest` is one of the session's access tokens (`Err` if neither), and
    /// its end if it has its own.
    fn access(&self, digest: &[u8; 32]) -> Result<Option<u64>, ()> {
        if self.digest == *digest {
            return Ok(self.access_until);
        }
        match self.previous {
            Some((d, until)) if d == *digest => Ok(Some(until)),
            _ => Err(()),
        }
    }

    fn is_live(&self, now_ms: u64) -> bool {
        is_live(
            self.info.expires_at_ms,
            self.idle_deadline(),
            self.ended.is_some(),
            now_ms,
        )
    }

    pub(super) fn purge_at(&self) -> u64 {
        purge_time(
            self.info.expires_at_ms,
            self.idle_deadline(),
            self.ended.is_some(),
            self.retain_ms,
        )
    }

    fn end(&mut self, reason: EndReason, note: Option<&Note>, now_ms: u64) -> SessionInfo {
        self.ended = Some(Ended {
            reason,
            at_ms: now_ms,
            note: note.cloned(),
        });
        self.info.clone()
    }
}

impl MemoryStore {
    fn lookup_now(
        &self,
        key: &SessionKey,
        touch: Option<Touch>,
        now_ms: u64,
    ) -> Option<SessionRecord> {
        let shard = read(self.shard(key.tag()));
        let entry = shard.sessions.get(&key.session_id())?;
        // Past its purge time a record is gone, whether or not a sweep has run yet.
        let access = entry.access(key.digest()).ok()?;
        if entry.purge_at() <= now_ms {
            return None;
        }
        let ban_until = match &entry.ended {
            Some(Ended {
                reason: EndReason::Banned,
                ..
            }) => shard.ban_until(&entry.info.user_id, now_ms),
            _ => None,
        };
        let mut record = entry.record(ban_until, access);
        if let Some(touch) = touch.filter(|t| t.due(record.last_seen_ms, now_ms)) {
            if record.token_is_live(now_ms) {
                record.last_seen_ms =
                    now_ms.max(entry.last_seen.fetch_max(now_ms, Ordering::AcqRel));
                let own = entry.idle_ms.map(|idle| now_ms.saturating_add(idle));
                if let (Some(deadline), Some(_)) =
                    (own.or(touch.deadline_ms), record.idle_deadline_ms)
                {
                    let deadline = deadline.min(record.info.expires_at_ms);
                    let before = entry.idle_deadline.fetch_max(deadline, Ordering::AcqRel);
                    record.idle_deadline_ms = Some(before.max(deadline));
                }
            }
        }
        Some(record)
    }
}

impl Shard {
    /// Ends the user's sessions that `select` picks (returning those live at `now_ms`),
    /// and drops them — and every session that can never be live again (a tombstone, a
    /// forgotten record) — from the user's index, so logins stay cheap however many
    /// tombstones a user leaves behind.
    ///
    /// A session only past its time *by this caller's clock* is ended if picked, and
    /// otherwise stays: another instance whose clock is behind may still serve it. A
    /// skewed instance may refuse early; it never makes a session unreachable.
    fn end_sessions(
        &mut self,
        user_id: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        select: impl Fn(&SessionId, &Entry) -> bool,
    ) -> Vec<SessionInfo> {
        let Some(user) = self.users.get_mut(user_id) else {
            return Vec::new();
        };
        let mut ended = Vec::new();
        user.sessions.retain(|id| match self.sessions.get_mut(id) {
            Some(entry) if entry.ended.is_none() => {
                if !select(id, entry) {
                    return true;
                }
                // Ended whatever this clock says (a slower one may still serve it);
                // counted only if live by this one.
                let live = entry.is_live(now_ms);
                let info = entry.end(reason, note, now_ms);
                self.dir.remove(id);
                if live {
                    ended.push(info);
                }
                false
            }
            _ => false,
        });
        ended
    }

    /// Ends these sessions of a user whatever this caller's clock says of them (the
    /// bound on a user's index: they leave it), and drops them from the index.
    fn retire(
        &mut self,
        user_id: &str,
        ids: &[SessionId],
        reason: EndReason,
        now_ms: u64,
    ) -> Vec<SessionInfo> {
        let Some(user) = self.users.get_mut(user_id) else {
            return Vec::new();
        };
        let mut ended = Vec::new();
        user.sessions.retain(|id| {
            if !ids.contains(id) {
                return true;
            }
            if let Some(entry) = self.sessions.get_mut(id).filter(|e| e.ended.is_none()) {
                ended.push(entry.end(reason, None, now_ms));
                self.dir.remove(id);
            }
            false
        });
        ended
    }

    fn create(&mut self, new: NewSession, now_ms: u64) -> Admission<Vec<SessionInfo>> {
        let user_id = new.info.user_id.clone();
        let rule = new.rule;
        if let Some(until_ms) = self.ban_until(&user_id, now_ms) {
            return Admission::Banned { until_ms };
        }
        // Prune the index of sessions that are over (selects none).
        self.end_sessions(&user_id, EndReason::Replaced, None, now_ms, |_, _| false);
        // The rule, over the user's index as it now stands (pure: `store::plan`).
        let plan = {
            let held: Vec<Held<'_>> = self
                .users
                .get(&user_id)
                .map(|u| {
                    u.sessions
                        .iter()
                        .zip(0u64..)
                        .filter_map(|(id, order)| {
                            let e = self.sessions.get(id)?;
                            Some(Held {
                                id: *id,
                                issued_at_ms: e.info.issued_at_ms,
                                order,
                                class: &e.class,
                                live: e.is_live(now_ms),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            plan_login(&held, rule, &new.class)
        };
        let Plan::Admit {
            replaced: by_rule,
            retired,
        } = plan
        else {
            return Admission::LimitReached;
        };
        let mut replaced =
            self.end_sessions(&user_id, EndReason::Replaced, None, now_ms, |id, _| {
                by_rule.contains(id)
            });
        replaced.extend(self.retire(&user_id, &retired, EndReason::Replaced, now_ms));
        let id = new.key.session_id();
        let lifetime_ms = match &new.refresh {
            Some(r) => r.access_ttl_ms,
            None => new.info.expires_at_ms.saturating_sub(new.info.issued_at_ms),
        };
        let entry = Entry {
            digest: *new.key.digest(),
            last_seen: AtomicU64::new(new.info.issued_at_ms),
            lifetime_ms,
            access_until: new.access_until_ms,
            previous: None,
            refresh: new.refresh.as_ref().map(|r| Box::new(RefreshState::new(r))),
            info: new.info,
            meta: Arc::new(new.meta),
            class: new.class,
            idle_ms: new.idle_ms,
            idle_deadline: AtomicU64::new(new.idle_deadline_ms.unwrap_or(NO_IDLE)),
            ended: None,
            retain_ms: new.retain_ms,
        };
        self.queue
            .push(Reverse((entry.purge_at(), Due::Session(id))));
        self.sessions.insert(id, entry);
        self.dir.insert(id, user_id.clone());
        self.users.entry(user_id).or_default().sessions.push(id);
        Admission::Admitted(replaced)
    }

    /// Spends a refresh token (see [`SessionStore::refresh`]).
    fn refresh(&mut self, rotation: Rotation<'_>, now_ms: u64) -> Rotated<Refreshed> {
        let id = rotation.presented.session_id();
        let Some(entry) = self.sessions.get(&id).filter(|e| e.purge_at() > now_ms) else {
            return Rotated::Unknown;
        };
        let Some(refresh) = entry.refresh.as_deref() else {
            return Rotated::Unknown;
        };
        match refresh.presented(rotation.presented) {
            Presented::Foreign => return Rotated::Unknown,
            Presented::Current => {}
            Presented::Spent => {
                if let Some(ended) = entry.ended.clone() {
                    let ban_stands = self.ban_until(&entry.info.user_id, now_ms).is_some();
                    return Rotated::Ended { ended, ban_stands };
                }
                // A spent token again: whoever holds it, the session is no longer safe.
                let user = entry.info.user_id.clone();
                let ended =
                    self.end_sessions(&user, EndReason::RefreshReused, None, now_ms, |s, _| {
                        *s == id
                    });
                return Rotated::Reused(ended.into());
            }
        }
        if let Some(ended) = entry.ended.clone() {
            let ban_stands = self.ban_until(&entry.info.user_id, now_ms).is_some();
            return Rotated::Ended { ended, ban_stands };
        }
        if now_ms >= refresh.expires_at_ms || !entry.is_live(now_ms) {
            return Rotated::Expired;
        }
        let Some(entry) = self.sessions.get_mut(&id) else {
            return Rotated::Unknown;
        };
        let Some(refresh) = entry.refresh.as_deref_mut() else {
            return Rotated::Unknown;
        };
        let (access_until, refresh_until) = refresh.next_ends(entry.lifetime_ms, now_ms);
        refresh.rotate(rotation.refresh, refresh_until);
        let end = access_until.max(refresh_until);
        // The replaced token says `token_expired` past its end (until the next refresh).
        entry.previous = entry.access_until.map(|until| (entry.digest, until));
        entry.digest = *rotation.access.digest();
        entry.access_until = Some(access_until);
        entry.info.expires_at_ms = end;
        entry.last_seen.fetch_max(now_ms, Ordering::AcqRel);
        // A refresh is activity: the idle deadline moves as a request's would.
        let own = entry.idle_ms.map(|idle| now_ms.saturating_add(idle));
        if let (Some(deadline), Some(_)) =
            (own.or(rotation.idle_deadline_ms), entry.idle_deadline())
        {
            entry
                .idle_deadline
                .fetch_max(deadline.min(end), Ordering::AcqRel);
        }
        Rotated::Done(Refreshed {
            session: entry.info.clone(),
            access_until_ms: access_until,
            refresh_until_ms: refresh_until,
        })
    }
}

impl SessionStore for MemoryStore {
    async fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let created = self.write(session.key.tag(), now_ms, |shard| {
            if shard.sessions.contains_key(&session.key.session_id()) {
                // 2^-96 odds; refuse rather than overwrite someone's session.
                return Err(StoreError::Corrupt("session id collision".into()));
            }
            Ok(shard.create(session, now_ms))
        })?;
        if let Admission::Admitted(replaced) = &created {
            self.publish_infos(replaced, EndReason::Replaced);
        }
        Ok(created)
    }

    type Lookup = Ready<Result<Option<SessionRecord>, StoreError>>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        ready(Ok(self.lookup_now(key, touch, now_ms)))
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
                let ended = self.write(user_tag(user_id), now_ms, |shard| {
                    shard.end_sessions(user_id, reason, note, now_ms, |_, e| {
                        device.is_none_or(|d| *e.info.device == *d)
                    })
                });
                self.publish(&ended, reason, note);
                return Ok(ended);
            }
            Target::Others { user_id, keep } => {
                let ended = self.write(user_tag(user_id), now_ms, |shard| {
                    shard.end_sessions(user_id, reason, note, now_ms, |id, _| *id != keep)
                });
                self.publish(&ended, reason, note);
                return Ok(ended);
            }
        };
        let ended = self.write(tag, now_ms, |shard| {
            let Some(user) = shard.sessions.get(&id).map(|e| e.info.user_id.clone()) else {
                return Vec::new();
            };
            if owner.is_some_and(|o| *o != *user) {
                return Vec::new();
            }
            // Either access token of the session: the one a refresh replaced too.
            shard.end_sessions(&user, reason, note, now_ms, |other, e| {
                *other == id && digest.is_none_or(|d| e.access(&d).is_ok())
            })
        });
        self.publish(&ended, reason, note);
        Ok(ended)
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.write(user_tag(user_id), now_ms, |shard| {
            let ended = shard.end_sessions(user_id, EndReason::Banned, note, now_ms, |_, _| true);
            shard.set_ban(user_id, until_ms);
            ended
        });
        self.publish(&ended, EndReason::Banned, note);
        Ok(ended)
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
            .filter(|e| e.is_live(now_ms))
            .map(|e| {
                let seen = e.last_seen.load(Ordering::Acquire);
                SessionEntry::new(e.info.clone(), SessionMeta::clone(&e.meta), seen)
            })
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
        let rotated = self.write(tag, now_ms, |shard| shard.refresh(rotation, now_ms));
        if let Rotated::Reused(ends) = &rotated {
            self.publish_infos(&ends.ended, EndReason::RefreshReused);
        }
        Ok(rotated)
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        Ok(self.online_page(page, |shard, id, _| {
            let e = shard.sessions.get(&id).filter(|e| e.is_live(now_ms))?;
            let seen = e.last_seen.load(Ordering::Acquire);
            Some(OnlineSession::new(e.info.clone(), seen, e.class.clone()))
        }))
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
            match shard.sessions.get_mut(&key.session_id()) {
                Some(e) if e.digest == *key.digest() && e.is_live(now_ms) => {
                    // A refresh session's access token gets the new end, never past its
                    // cap; the session lives to the later of it and the refresh token's.
                    let end = match e.refresh.as_deref() {
                        Some(r) => {
                            let access = expires_at_ms.min(r.cap_ms);
                            e.access_until = Some(access);
                            access.max(r.expires_at_ms)
                        }
                        None => expires_at_ms,
                    };
                    e.info.expires_at_ms = end;
                    let idle = idle_deadline_ms.map_or(NO_IDLE, |d| d.min(end));
                    e.idle_deadline.store(idle, Ordering::Release);
                    Some(e.info.clone())
                }
                _ => None,
            }
        }))
    }
}
