//! JWT mode in memory: each user's revocation state ([`JwtState`]) and index, the
//! refresh records, the directory kept in step with the index, and [`JwtStore`].

use std::cmp::Reverse;
use std::future::{Ready, ready};
use std::sync::Arc;

use super::{Due, MemoryStore, Shard, read, write};
use crate::note::Note;
use crate::restriction::{Closed, Scope};
use crate::store::jwt::{
    JwtEntry, JwtGrant, JwtIssue, JwtRefresh, JwtRefreshState, JwtRefreshed, JwtState, JwtStatus,
    JwtStore, JwtTarget, JwtToken, answered,
};
use crate::store::refresh::JwtRotation;
use crate::store::{
    contract::{
        Admission, Elevated, Elevation, EndReason, Ended, Ends, SessionEntry, SessionInfo,
        StoreError,
    },
    directory::{OnlineSession, Page, PageRequest},
    refresh::Rotated,
};
use crate::token::{SessionId, user_tag};

/// Removes the entries in `from..=to` that `keep` refuses.
trait RetainRange<K, V> {
    fn retain_range(&mut self, from: K, to: K, keep: impl FnMut(&K, &V) -> bool);
}

impl<K: Ord + Copy, V> RetainRange<K, V> for std::collections::BTreeMap<K, V> {
    fn retain_range(&mut self, from: K, to: K, mut keep: impl FnMut(&K, &V) -> bool) {
        let gone: Vec<K> = self
            .range(from..=to)
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.remove(&k);
        }
    }
}

impl Shard {
    /// JWT mode: the directory holds exactly the tokens in the user's index.
    pub(super) fn sync_jwt_dir(&mut self, user_id: &str) {
        let tag = user_tag(user_id);
        // A set: a user may have 1,024 tokens, and this runs under the shard's lock.
        let listed: std::collections::HashSet<SessionId> = match self.jwt.get(user_id) {
            Some(state) => state
                .index
                .keys()
                .filter_map(|jti| SessionId::from_jti(tag, jti))
                .collect(),
            None => std::collections::HashSet::new(),
        };
        let (from, to) = SessionId::tag_bounds(tag);
        // The user's session-mode entries stay (both modes may share this store).
        let sessions = &self.sessions;
        self.dir.retain_range(from, to, |id, user| {
            **user != *user_id || listed.contains(id) || sessions.contains_key(id)
        });
        for id in listed {
            self.dir.entry(id).or_insert_with(|| Arc::from(user_id));
        }
    }
}

impl Shard {
    /// The user's JWT state, created (and queued for expiry) if absent.
    fn jwt_state(&mut self, user_id: &str, fresh_epoch: u64) -> &mut JwtState {
        if !self.jwt.contains_key(user_id) {
            let user: Arc<str> = Arc::from(user_id);
            let state = JwtState {
                epoch: fresh_epoch,
                ..JwtState::default()
            };
            self.jwt.insert(user.clone(), state);
            // Looked at again at its expiry; rescheduled while it lives.
            self.queue.push(Reverse((0, Due::Jwt(user))));
        }
        self.jwt.entry(Arc::from(user_id)).or_default()
    }

    /// Records a JWT login's refresh token, and forgets the user's records past their
    /// bound.
    fn keep_refresh(&mut self, issue: &JwtIssue, grant: &JwtGrant, r: &JwtRefresh, now_ms: u64) {
        let record = JwtRefreshState::new(issue, grant, r);
        let purge_at = record.purge_at();
        self.queue
            .push(Reverse((purge_at, Due::JwtRefresh(issue.jti.clone()))));
        self.jwt_refresh.insert(issue.jti.clone(), record);
        let records = self.jwt_refreshes.entry(issue.user_id.clone()).or_default();
        let index = self.jwt.get(&issue.user_id).map(|st| &st.index);
        let live = |j: &str| index.is_some_and(|ix| ix.contains_key(j));
        for jti in records.file(&issue.jti, purge_at, now_ms, live) {
            self.jwt_refresh.remove(&jti);
            self.stale += 1;
        }
    }

    /// The record of `jti`, `user_id`'s, due at `purge_at`, is gone.
    pub(super) fn forget_refresh(&mut self, user_id: &str, jti: &str, purge_at: u64) {
        if let Some(records) = self.jwt_refreshes.get_mut(user_id) {
            records.forget(jti, purge_at);
            if records.is_empty() {
                self.jwt_refreshes.remove(user_id);
            }
        }
    }

    /// Spends a JWT-mode refresh token (see [`JwtStore::jwt_refresh`]).
    fn jwt_refresh(&mut self, rotation: JwtRotation<'_>, now_ms: u64) -> Rotated<JwtRefreshed> {
        let id = rotation.presented.session_id();
        let Some(rec) = self.jwt_refresh.get_mut(&id.jti()) else {
            return Rotated::Unknown;
        };
        let user = rec.user_id().clone();
        let before = rec.purge_at();
        let step = rec.refresh(id, self.jwt.get_mut(&*user), &rotation, now_ms);
        let after = rec.purge_at();
        if let Some(records) = self.jwt_refreshes.get_mut(&user) {
            records.moved(&id.jti(), before, after);
        }
        step.rotated(
            self,
            |shard| shard.ban_until(&user, now_ms).is_some(),
            |shard, ended, overflow| {
                shard.sync_jwt_dir(&user);
                Ends {
                    ended: shard.jwt_infos(&user, id.tag(), &ended),
                    replaced: shard.jwt_infos(&user, id.tag(), &overflow),
                }
            },
        )
    }

    /// Ends every JWT of the user (one bump, if the user has a state): the infos of
    /// those it ended, or `None` without a state.
    pub(super) fn ban_tokens(
        &mut self,
        user_id: &str,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Option<Vec<SessionInfo>> {
        let state = self.jwt.get_mut(user_id)?;
        let ended = state.end_user(None, EndReason::Banned, note, now_ms).0;
        self.sync_jwt_dir(user_id);
        Some(self.jwt_infos(user_id, user_tag(user_id), &ended))
    }

    fn jwt_infos(&self, user_id: &str, tag: u16, ended: &[(String, JwtEntry)]) -> Vec<SessionInfo> {
        let user = self
            .jwt
            .get_key_value(user_id)
            .map_or_else(|| Arc::from(user_id), |(k, _)| k.clone());
        ended
            .iter()
            .filter_map(|(jti, e)| e.info(&user, tag, jti))
            .collect()
    }
}

impl JwtStore for MemoryStore {
    type JwtCheck = Ready<Result<JwtStatus, StoreError>>;

    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let user_id = token.user_id;
        if token.seen_until_ms.is_some() {
            // Once per touch interval: a write (none for a token idle too long).
            let mut shard = write(self.shard(token.tag));
            if let Some(e) = shard
                .jwt
                .get_mut(user_id)
                .and_then(|st| st.index.get_mut(token.jti))
                .filter(|e| !token.idle_over(Some(e.last_seen_ms), now_ms))
            {
                e.last_seen_ms = e.last_seen_ms.max(now_ms);
            }
        }
        let shard = read(self.shard(token.tag));
        let status = match shard.jwt.get(user_id).filter(|st| st.issued(token)) {
            None => JwtStatus::default(),
            Some(state) => {
                let ended = state.ended(token);
                let ban_until_ms = match &ended {
                    Some(Ended {
                        reason: EndReason::Banned,
                        ..
                    }) => shard.ban_until(user_id, now_ms),
                    _ => None,
                };
                let entry = state.index.get(token.jti);
                let last_seen_ms = token.idle.and(entry).map(|e| e.last_seen_ms);
                JwtStatus {
                    known: true,
                    ended,
                    ban_until_ms,
                    last_seen_ms,
                    restrictions: shard.restrictions_of(user_id),
                    elevations: entry.map(|e| e.elevations.clone()).unwrap_or_default(),
                }
            }
        };
        ready(Ok(status))
    }

    async fn jwt_issue(
        &self,
        issue: JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<JwtGrant>, StoreError> {
        let user_id = &*issue.user_id;
        let tag = user_tag(user_id);
        let issued = self.write(tag, now_ms, |shard| {
            if let Some(until_ms) = shard.ban_until(user_id, now_ms) {
                return Ok(Admission::Banned { until_ms });
            }
            // A session of this id, any user's, either mode; or a refresh record (kept
            // past its session's end). The state refuses a revoked one of the user's.
            let listed =
                SessionId::from_jti(tag, &issue.jti).is_some_and(|id| shard.dir.contains_key(&id));
            if listed || shard.jwt_refresh.contains_key(&issue.jti) {
                return Err(crate::store::jwt::jti_collision());
            }
            let state = shard.jwt_state(user_id, issue.fresh_epoch);
            let issued = state.issue(&issue, now_ms);
            if let (Ok(Admission::Admitted(grant)), Some(r)) = (&issued, &issue.refresh) {
                shard.keep_refresh(&issue, grant, r, now_ms);
            }
            // Refused or not, the state was pruned: the directory follows.
            shard.sync_jwt_dir(user_id);
            issued
        })?;
        if let Admission::Admitted(grant) = &issued {
            self.publish_infos(&grant.replaced, EndReason::Replaced, None);
            if grant.bumped {
                self.publish_changed(user_tag(user_id));
            }
        }
        Ok(issued)
    }

    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        let (user_id, tag) = (elevation.user_id, elevation.session_id.tag());
        let jti = elevation.session_id.jti();
        let elevated = self.write(tag, now_ms, |shard| {
            shard
                .jwt
                .get_mut(user_id)
                .map_or(Elevated::NotLive, |st| st.elevate(&jti, &elevation, now_ms))
        });
        if matches!(elevated, Elevated::Until(_)) {
            self.publish_updated(elevation.session_id);
        }
        Ok(elevated)
    }

    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let jti = id.jti();
        let closed = self.write(id.tag(), now_ms, |shard| {
            shard.jwt.get_mut(user_id).map_or(Closed::Nothing, |st| {
                st.close_elevation(&jti, scope, now_ms)
            })
        });
        if closed.changed() {
            self.publish_updated(id);
        }
        Ok(closed.was_open())
    }

    async fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let tag = match target {
            JwtTarget::Session(id) | JwtTarget::Token { session_id: id, .. } => id.tag(),
            JwtTarget::User { user_id, .. } | JwtTarget::Others { user_id, .. } => {
                user_tag(user_id)
            }
        };
        // What the end answers, and every token it ended (to announce, idle ones too).
        let (ends, all) = self.write(tag, now_ms, |shard| {
            let (user, ended, replaced) = match target {
                JwtTarget::User { user_id, device } => {
                    let Some(state) = shard.jwt.get_mut(user_id) else {
                        return Default::default();
                    };
                    let (ended, replaced) = state.end_user(device, reason, note, now_ms);
                    (user_id.to_owned(), ended, replaced)
                }
                JwtTarget::Others { user_id, keep } => {
                    let Some(state) = shard.jwt.get_mut(user_id) else {
                        return Default::default();
                    };
                    let (ended, replaced) = state.end_others(&keep.jti(), reason, note, now_ms);
                    (user_id.to_owned(), ended, replaced)
                }
                JwtTarget::Token { session_id: id, .. } | JwtTarget::Session(id) => {
                    // A logout names its user, and only that user's token may end; an
                    // operator's call by id finds the user among this shard's states.
                    let jti = id.jti();
                    let found = match target {
                        JwtTarget::Token { user_id, .. } => shard
                            .jwt
                            .get_key_value(user_id)
                            .map(|(user, _)| user.clone()),
                        _ => shard
                            .jwt
                            .iter()
                            .find(|(_, st)| st.index.contains_key(&jti))
                            .map(|(user, _)| user.clone()),
                    };
                    let Some((user, state)) =
                        found.and_then(|u| shard.jwt.get_mut(&u).map(|st| (u, st)))
                    else {
                        return Default::default();
                    };
                    match state.end_token(&jti, reason, note, now_ms) {
                        Some((entry, overflow)) => (user.to_string(), vec![(jti, entry)], overflow),
                        None => (user.to_string(), Vec::new(), Vec::new()),
                    }
                }
            };
            shard.sync_jwt_dir(&user);
            let all = shard.jwt_infos(&user, tag, &ended);
            let ends = Ends {
                ended: shard.jwt_infos(&user, tag, &answered(&ended, now_ms)),
                replaced: shard.jwt_infos(&user, tag, &replaced),
            };
            (ends, all)
        });
        self.publish_infos(&all, reason, note);
        self.publish_infos(&ends.replaced, EndReason::Replaced, None);
        if matches!(target, JwtTarget::User { .. }) || !ends.replaced.is_empty() {
            self.publish_changed(tag);
        }
        Ok(ends)
    }

    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        Ok(self.ban_user(user_id, until_ms, note, now_ms))
    }

    async fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<JwtRefreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let rotated = self.write(id.tag(), now_ms, |shard| {
            shard.jwt_refresh(rotation, now_ms)
        });
        if let Rotated::Reused(ends) = &rotated {
            // The presented session, reported only if live by this clock but ended for
            // every instance: a slower verifier may still accept its token.
            self.publish([id], EndReason::RefreshReused, None);
            self.publish_infos(&ends.replaced, EndReason::Replaced, None);
            if !ends.replaced.is_empty() {
                self.publish_changed(id.tag());
            }
        }
        Ok(rotated)
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        Ok(self.online_page(page, |shard, id, user| {
            let (user, state) = shard.jwt.get_key_value(&**user)?;
            let jti = id.jti();
            let e = state.index.get(&jti).filter(|e| e.is_live(now_ms))?;
            let info = e.info(user, id.tag(), &jti)?;
            Some(OnlineSession::new(info, e.last_seen_ms, e.class.clone()))
        }))
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let tag = user_tag(user_id);
        let shard = read(self.shard(tag));
        let Some((user, state)) = shard.jwt.get_key_value(user_id) else {
            return Ok(Vec::new());
        };
        Ok(state.listing(user, tag, now_ms))
    }
}
