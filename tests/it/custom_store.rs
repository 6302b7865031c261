//! A store written as the store docs tell a newcomer to: storage and atomicity only,
//! every rule from the crate's pure machines — `SessionState` with `admit` and
//! `end_sessions` for session mode, `JwtState` and `JwtRefreshState` for JWT mode,
//! `PageRequest::walk` for the directory. One `Mutex` over a few maps, and the whole
//! conformance suite in both modes. Its size is the measure of what a store must write.

use crate::suite;

use std::collections::{BTreeMap, HashMap};
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kickout::Note;
use kickout::restriction::{Restriction, Restrictions, Scope};
use kickout::store::audit::AuditEvent;
use kickout::store::directory::{Page, PageRequest};
use kickout::store::jwt::{
    JwtGrant, JwtIssue, JwtRefreshState, JwtRefreshed, JwtRefreshes, JwtState, JwtStatus, JwtStore,
    JwtTarget, JwtToken, Tokens,
};
use kickout::store::refresh::{JwtRotation, Refreshed, Rotated, Rotation};
use kickout::store::session::{
    NewSession, Renewal, SessionRecord, SessionState, SessionStore, Swept, Target, Tombstones,
    Touch, admit, end_sessions,
};
use kickout::store::{
    Admission, Elevated, Elevation, EndReason, Ended, Ends, SessionEntry, SessionInfo, Store,
    StoreError, user_tag,
};
use kickout::{SessionId, SessionKey};
use tokio::sync::broadcast;

use suite::run_suite;

/// Everything in one lock: each operation below is one critical section, so each is
/// atomic as the contracts require. Clones share it, and the audit stream.
#[derive(Clone)]
pub struct BTreeStore(Arc<(Mutex<Maps>, broadcast::Sender<AuditEvent>)>);

impl Default for BTreeStore {
    fn default() -> Self {
        Self(Arc::new((Mutex::default(), broadcast::channel(1024).0)))
    }
}

#[derive(Default)]
pub struct Maps {
    sessions: BTreeMap<SessionId, SessionState>,
    /// Each user's session ids, in creation order.
    users: HashMap<String, Vec<SessionId>>,
    /// Each user's ended sessions still held, bounded.
    ended: HashMap<String, Tombstones>,
    bans: HashMap<String, u64>,
    jwt: HashMap<Arc<str>, JwtState>,
    jwt_refresh: HashMap<String, JwtRefreshState>,
    /// Each user's refresh records, bounded (the write's purge leaves due ones in it:
    /// `file` drops them).
    jwt_refreshes: HashMap<Arc<str>, JwtRefreshes>,
    restrictions: HashMap<String, Restrictions>,
}

impl Maps {
    /// What a request reads of its user's restrictions, beside its record.
    fn restrictions_of(&self, user_id: &str) -> Restrictions {
        self.restrictions.get(user_id).cloned().unwrap_or_default()
    }
}

impl BTreeStore {
    /// The maps, with what is past its time dropped first: the store stays bounded
    /// without a sweeper (a linear pass: fine for a test, not for production).
    fn write(&self, now_ms: u64) -> MutexGuard<'_, Maps> {
        let mut maps = self.read();
        maps.sessions.retain(|_, s| s.purge_at() > now_ms);
        maps.jwt_refresh.retain(|_, r| r.purge_at() > now_ms);
        // A ban, as a revocation, is kept for a handle whose clock is behind.
        let grace = kickout::limits::PRUNE_GRACE_MS;
        maps.bans
            .retain(|_, until| until.saturating_add(grace) > now_ms);
        maps.restrictions.retain(|_, held| {
            held.prune(now_ms);
            !held.is_empty()
        });
        maps.jwt.retain(|_, st| {
            st.prune(now_ms);
            !st.is_empty()
        });
        maps
    }

    fn read(&self) -> MutexGuard<'_, Maps> {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Maps {
    fn ban_until(&self, user_id: &str, now_ms: u64) -> Option<u64> {
        self.bans.get(user_id).copied().filter(|&t| t > now_ms)
    }

    fn end(
        &mut self,
        user_id: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        select: impl Fn(&SessionId, &SessionState) -> bool,
    ) -> Vec<SessionInfo> {
        let Some(index) = self.users.get_mut(user_id) else {
            return Vec::new();
        };
        let swept = end_sessions(index, &mut self.sessions, reason, note, now_ms, select);
        self.bury(user_id, swept, now_ms)
    }

    /// Files what an end did among the user's tombstones, and forgets those past the
    /// bound.
    fn bury(&mut self, user_id: &str, swept: Swept, now_ms: u64) -> Vec<SessionInfo> {
        let tombstones = self.ended.entry(user_id.to_owned()).or_default();
        for id in tombstones.bury(&swept.ended, &self.sessions, now_ms) {
            self.sessions.remove(&id);
        }
        swept.reported
    }
}

/// The sessions of a user's index entries.
fn infos(user_id: &str, tag: u16, tokens: &Tokens) -> Vec<SessionInfo> {
    let user: Arc<str> = Arc::from(user_id);
    tokens
        .iter()
        .filter_map(|(jti, e)| e.info(&user, tag, jti))
        .collect()
}

impl Store for BTreeStore {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let mut maps = self.write(now_ms);
        Ok(maps.bans.remove(user_id).is_some_and(|t| t > now_ms))
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.read().ban_until(user_id, now_ms))
    }

    async fn restrict(
        &self,
        user_id: &str,
        r: &Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut maps = self.write(now_ms);
        let held = maps.restrictions.entry(user_id.to_owned()).or_default();
        Ok(held.restrict(r.clone(), now_ms).is_ok())
    }

    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut maps = self.write(now_ms);
        Ok(maps
            .restrictions
            .get_mut(user_id)
            .is_some_and(|h| h.lift(scope, now_ms)))
    }

    async fn restrictions(&self, user_id: &str, now_ms: u64) -> Result<Restrictions, StoreError> {
        let maps = self.read();
        let mut held = maps.restrictions.get(user_id).cloned().unwrap_or_default();
        held.prune(now_ms);
        Ok(held)
    }

    fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>> {
        Some(self.0.1.subscribe())
    }

    fn audit(&self, event: &AuditEvent) {
        let _ = self.0.1.send(event.clone());
    }

    fn audit_wanted(&self) -> bool {
        self.0.1.receiver_count() > 0
    }
}

impl BTreeStore {
    /// A ban is the user's (it refuses logins in both modes): it ends the user's
    /// sessions of both modes.
    fn ban_user(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Vec<SessionInfo> {
        let mut maps = self.write(now_ms);
        let mut ended = maps.end(user_id, EndReason::Banned, note, now_ms, |_, _| true);
        let tokens = maps
            .jwt
            .get_mut(user_id)
            .map(|st| st.end_user(None, EndReason::Banned, note, now_ms).0)
            .unwrap_or_default();
        maps.bans.insert(user_id.to_owned(), until_ms);
        ended.extend(infos(user_id, user_tag(user_id), &tokens));
        ended
    }
}

impl SessionStore for BTreeStore {
    type Lookup = Ready<Result<Option<SessionRecord>, StoreError>>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        let mut maps = self.read();
        let maps = &mut *maps;
        let restrictions = &maps.restrictions;
        let held = |user: &str| restrictions.get(user).cloned().unwrap_or_default();
        let record = maps.sessions.get_mut(&key.session_id()).and_then(|state| {
            let ban = |user: &str| maps.bans.get(user).copied().filter(|&t| t > now_ms);
            let record = state.record(key.digest(), now_ms, ban, held)?;
            if state.touch(&record, touch, now_ms) {
                return state.record(key.digest(), now_ms, |_| record.ban_until_ms, held);
            }
            Some(record)
        });
        ready(Ok(record))
    }

    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let maps = self.read();
        let held = |user: &str| maps.restrictions.get(user).cloned().unwrap_or_default();
        let ban = |user: &str| maps.bans.get(user).copied().filter(|&t| t > now_ms);
        Ok(maps
            .sessions
            .get(&id)
            .and_then(|state| state.current_record(now_ms, ban, held)))
    }

    async fn create(
        &self,
        new: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let mut maps = self.write(now_ms);
        let maps = &mut *maps;
        let user_id = new.info.user_id.to_string();
        if let Some(until_ms) = maps.ban_until(&user_id, now_ms) {
            return Ok(Admission::Banned { until_ms });
        }
        let id = new.key.session_id();
        let index = maps.users.entry(user_id.clone()).or_default();
        Ok(match admit(index, &mut maps.sessions, new, now_ms)? {
            Admission::Admitted((swept, state)) => {
                index.push(id);
                maps.sessions.insert(id, state);
                Admission::Admitted(maps.bury(&user_id, swept, now_ms))
            }
            Admission::Banned { until_ms } => Admission::Banned { until_ms },
            Admission::LimitReached => Admission::LimitReached,
        })
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let mut maps = self.write(now_ms);
        let (id, digest, owner) = match target {
            Target::User { user_id, device } => {
                return Ok(maps.end(user_id, reason, note, now_ms, |_, s| {
                    device.is_none_or(|d| *s.info().device == *d)
                }));
            }
            Target::Others { user_id, keep } => {
                return Ok(maps.end(user_id, reason, note, now_ms, |id, _| *id != keep));
            }
            Target::Token(key) => (key.session_id(), Some(*key.digest()), None),
            Target::Session(id) => (id, None, None),
            Target::SessionOf {
                user_id,
                session_id,
            } => (session_id, None, Some(user_id)),
        };
        let Some(user) = maps.sessions.get(&id).map(|s| s.info().user_id.clone()) else {
            return Ok(Vec::new());
        };
        if owner.is_some_and(|o| *o != *user) {
            return Ok(Vec::new());
        }
        Ok(maps.end(&user, reason, note, now_ms, |other, s| {
            *other == id && digest.is_none_or(|d| s.holds(&d))
        }))
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
        let maps = self.read();
        let ids = maps.users.get(user_id).map_or(&[][..], Vec::as_slice);
        let mut live: Vec<SessionEntry> = ids
            .iter()
            .filter_map(|id| maps.sessions.get(id))
            .filter(|s| s.is_live(now_ms))
            .map(SessionState::entry)
            .collect();
        live.sort_by_key(|s| s.info.issued_at_ms);
        Ok(live)
    }

    async fn close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &kickout::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut maps = self.write(now_ms);
        let state = maps.sessions.get_mut(&id);
        Ok(state.is_some_and(|s| s.close_elevation(user_id, scope, now_ms).was_open()))
    }

    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        let mut maps = self.write(now_ms);
        let state = maps.sessions.get_mut(&elevation.session_id);
        Ok(state.map_or(Elevated::NotLive, |s| s.elevate(&elevation, now_ms)))
    }

    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let mut maps = self.write(now_ms);
        let key = renewal.key;
        Ok(maps.sessions.get_mut(&key.session_id()).and_then(|s| {
            s.renew(
                key.digest(),
                renewal.expires_at_ms,
                renewal.idle_deadline_ms,
                now_ms,
            )
        }))
    }

    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        let mut maps = self.write(now_ms);
        let id = rotation.presented.session_id();
        let Some(state) = maps.sessions.get_mut(&id) else {
            return Ok(Rotated::Unknown);
        };
        let user = state.info().user_id.clone();
        Ok(state.refresh(&rotation, now_ms).rotated(
            &mut *maps,
            |maps| maps.ban_until(&user, now_ms).is_some(),
            |maps| {
                maps.end(&user, EndReason::RefreshReused, None, now_ms, |s, _| {
                    *s == id
                })
            },
        ))
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        use std::ops::Bound;
        let maps = self.read();
        let from = page.start_after().map_or(Bound::Unbounded, Bound::Excluded);
        let entries = maps.sessions.range((from, Bound::Unbounded));
        Ok(page.walk(
            entries,
            |(id, _)| **id,
            |(_, s)| s.is_live(now_ms).then(|| s.online()),
        ))
    }
}

impl JwtStore for BTreeStore {
    type JwtCheck = Ready<Result<JwtStatus, StoreError>>;

    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let mut maps = self.read();
        let ban_until = maps.ban_until(token.user_id, now_ms);
        let status = match maps
            .jwt
            .get_mut(token.user_id)
            .filter(|st| st.issued(token))
        {
            None => JwtStatus::default(),
            Some(state) => {
                let entry = state.index.get_mut(token.jti);
                let last_seen_ms = entry.map(|e| {
                    // Seen now, once per touch interval (not past its idle timeout).
                    if token.seen_until_ms.is_some()
                        && !token.idle_over(Some(e.last_seen_ms), now_ms)
                    {
                        e.last_seen_ms = e.last_seen_ms.max(now_ms);
                    }
                    e.last_seen_ms
                });
                let ended = state.ended(token);
                let elevations = state.index.get(token.jti).map(|e| e.elevations.clone());
                let banned = matches!(
                    ended,
                    Some(Ended {
                        reason: EndReason::Banned,
                        ..
                    })
                );
                JwtStatus {
                    known: true,
                    ban_until_ms: ban_until.filter(|_| banned),
                    ended,
                    last_seen_ms: last_seen_ms.filter(|_| token.idle.is_some()),
                    restrictions: maps.restrictions_of(token.user_id),
                    elevations: elevations.unwrap_or_default(),
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
        let mut maps = self.write(now_ms);
        let maps = &mut *maps;
        if let Some(until_ms) = maps.ban_until(&issue.user_id, now_ms) {
            return Ok(Admission::Banned { until_ms });
        }
        // Another user's token of this id (same tag, same `jti`; a scan: a real store
        // keeps its directory indexed) or a kept refresh record. The state refuses the
        // user's own.
        let tag = user_tag(&issue.user_id);
        let others = maps.jwt.iter().any(|(user, st)| {
            *user != issue.user_id && user_tag(user) == tag && st.index.contains_key(&issue.jti)
        });
        if others || maps.jwt_refresh.contains_key(&issue.jti) {
            return Err(StoreError::Corrupt("jwt token id collision".into()));
        }
        let state = maps
            .jwt
            .entry(issue.user_id.clone())
            .or_insert_with(|| JwtState {
                epoch: issue.fresh_epoch,
                ..JwtState::default()
            });
        let admission = state.issue(&issue, now_ms)?;
        if let (Admission::Admitted(grant), Some(r)) = (&admission, &issue.refresh) {
            let record = JwtRefreshState::new(&issue, grant, r);
            let purge_at = record.purge_at();
            maps.jwt_refresh.insert(issue.jti.clone(), record);
            let records = maps.jwt_refreshes.entry(issue.user_id.clone()).or_default();
            let index = maps.jwt.get(&issue.user_id).map(|st| &st.index);
            let live = |j: &str| index.is_some_and(|ix| ix.contains_key(j));
            for jti in records.file(&issue.jti, purge_at, now_ms, live) {
                maps.jwt_refresh.remove(&jti);
            }
        }
        Ok(admission)
    }

    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &kickout::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut maps = self.write(now_ms);
        let state = maps.jwt.get_mut(user_id);
        Ok(state.is_some_and(|st| st.close_elevation(&id.jti(), scope, now_ms).was_open()))
    }

    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        let mut maps = self.write(now_ms);
        let jti = elevation.session_id.jti();
        let state = maps.jwt.get_mut(elevation.user_id);
        Ok(state.map_or(Elevated::NotLive, |st| st.elevate(&jti, &elevation, now_ms)))
    }

    async fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let mut maps = self.write(now_ms);
        let (user, tag, (ended, replaced)) = match target {
            JwtTarget::User { user_id, device } => {
                let Some(state) = maps.jwt.get_mut(user_id) else {
                    return Ok(Ends::default());
                };
                let ends = state.end_user(device, reason, note, now_ms);
                (user_id.to_owned(), user_tag(user_id), ends)
            }
            JwtTarget::Others { user_id, keep } => {
                let Some(state) = maps.jwt.get_mut(user_id) else {
                    return Ok(Ends::default());
                };
                let ends = state.end_others(&keep.jti(), reason, note, now_ms);
                (user_id.to_owned(), keep.tag(), ends)
            }
            JwtTarget::Token {
                user_id,
                session_id,
            } => {
                let ends = end_token(&mut maps, Some(user_id), session_id, reason, note, now_ms);
                (user_id.to_owned(), session_id.tag(), ends)
            }
            JwtTarget::Session(id) => {
                // An operator's call by id: the user is whoever holds the token.
                let jti = id.jti();
                let user = maps.jwt.iter().find(|(_, st)| st.index.contains_key(&jti));
                let Some(user) = user.map(|(u, _)| u.to_string()) else {
                    return Ok(Ends::default());
                };
                let ends = end_token(&mut maps, Some(&user), id, reason, note, now_ms);
                (user, id.tag(), ends)
            }
        };
        Ok(Ends {
            ended: infos(&user, tag, &kickout::store::jwt::answered(&ended, now_ms)),
            replaced: infos(&user, tag, &replaced),
        })
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
        let mut maps = self.write(now_ms);
        let maps = &mut *maps;
        let id = rotation.presented.session_id();
        let Some(record) = maps.jwt_refresh.get_mut(&id.jti()) else {
            return Ok(Rotated::Unknown);
        };
        let user = record.user_id().clone();
        let before = record.purge_at();
        let step = record.refresh(id, maps.jwt.get_mut(&user), &rotation, now_ms);
        let after = record.purge_at();
        if let Some(records) = maps.jwt_refreshes.get_mut(&user) {
            records.moved(&id.jti(), before, after);
        }
        Ok(step.rotated(
            maps,
            |maps| maps.ban_until(&user, now_ms).is_some(),
            |_, ended, overflow| Ends {
                ended: infos(&user, id.tag(), &ended),
                replaced: infos(&user, id.tag(), &overflow),
            },
        ))
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        // The directory in id order, built per page (a real store keeps it indexed).
        let maps = self.read();
        let after = page.start_after();
        let mut entries: Vec<_> = maps
            .jwt
            .iter()
            .flat_map(|(user, st)| {
                let tag = user_tag(user);
                st.index.iter().filter_map(move |(jti, e)| {
                    let id = SessionId::from_jti(tag, jti)?;
                    Some((id, user, jti, e))
                })
            })
            .filter(|(id, ..)| after.is_none_or(|a| *id > a))
            .collect();
        entries.sort_by_key(|(id, ..)| *id);
        Ok(page.walk(
            entries,
            |(id, ..)| *id,
            |(id, user, jti, e)| {
                let info = e.info(user, id.tag(), jti).filter(|_| e.is_live(now_ms))?;
                Some(kickout::store::directory::OnlineSession::new(
                    info,
                    e.last_seen_ms,
                    e.class.clone(),
                ))
            },
        ))
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let maps = self.read();
        let Some((user, state)) = maps.jwt.get_key_value(user_id) else {
            return Ok(Vec::new());
        };
        Ok(state.listing(user, user_tag(user_id), now_ms))
    }
}

/// Ends one token of `user_id`'s, if it is theirs: what ended, and what the state's
/// bound dropped.
fn end_token(
    maps: &mut Maps,
    user_id: Option<&str>,
    id: SessionId,
    reason: EndReason,
    note: Option<&Note>,
    now_ms: u64,
) -> (Tokens, Tokens) {
    let jti = id.jti();
    let state = user_id.and_then(|u| maps.jwt.get_mut(u));
    match state.and_then(|st| st.end_token(&jti, reason, note, now_ms)) {
        Some((entry, overflow)) => (vec![(jti, entry)], overflow),
        None => (Vec::new(), Vec::new()),
    }
}

fn store() -> Option<((), BTreeStore)> {
    Some(((), BTreeStore::default()))
}

mod session_mode {
    use super::*;
    suite::all_cases!(run_suite!(store(), suite::Session));
}

mod jwt_mode {
    use super::*;
    suite::all_cases!(run_suite!(store(), suite::Jwt));
}
