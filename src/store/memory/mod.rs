//! The in-memory store: the embedded default, for one process.
//!
//! Laid out as the Redis store is: this file holds the shards, their expiry queue and
//! what both modes share (bans, the directory's page walk, the feeds);
//! [`session`] holds session records and `SessionStore`, `jwt` JWT mode's states and
//! `JwtStore`.

#[cfg(feature = "jwt")]
mod jwt;
mod session;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::audit::{AUDIT_CAPACITY, AuditEvent};
#[cfg(feature = "jwt")]
use super::jwt::JwtState;
#[cfg(feature = "jwt")]
use super::jwt::{JwtRefreshState, JwtRefreshes};
use super::session::{SessionState, Swept, Tombstones};
use super::{
    contract::{EndReason, Revoked, SessionInfo, Store, StoreError},
    directory::{OnlineSession, Page, PageRequest},
};
use crate::note::Note;
use crate::restriction::{Restriction, Restrictions, Scope};
use crate::token::{SessionId, user_tag};
use tokio::sync::broadcast;

use crate::limits::{MEMORY_PURGE_BUDGET as PURGE_BUDGET, kept_until};

/// Sessions in this process's memory: the embedded default, nothing to install.
///
/// Data is split into shards by the user's slot tag, so all of one user's records sit in
/// one shard and every operation takes one shard lock: lookups share a read lock (the
/// idle renewal is an atomic), writes hold a write lock for a few map operations, and
/// requests for different users rarely meet on a lock.
///
/// Memory stays bounded: each shard keeps an expiry queue, and every write purges due
/// records from its shard and from one other shard in turn, so ended, expired and
/// retained records, empty user entries and lifted bans all go away under churn.
/// [`MemoryStore::purge`] sweeps everything due at once.
///
/// Clones share the same data.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use kickout::{Auth, store::MemoryStore};
///
/// let store = MemoryStore::new();
/// let auth = Auth::new(store.clone());
/// auth.login("10001", "web").await?;
/// assert_eq!(store.stats().sessions, 1);
/// # Ok::<(), kickout::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[RwLock<Shard>]>,
    sweep_cursor: AtomicUsize,
    /// Sessions ended through any handle: the revocation feed.
    feed: broadcast::Sender<Revoked>,
    /// The audit stream of every handle on this store.
    audit: broadcast::Sender<AuditEvent>,
}

#[derive(Default)]
struct Shard {
    /// Keys are digests of random tokens: a fast hasher is enough here.
    sessions: HashMap<SessionId, SessionState, foldhash::fast::RandomState>,
    users: HashMap<Arc<str>, User>,
    /// JWT mode's revocation state, by user.
    #[cfg(feature = "jwt")]
    jwt: HashMap<Arc<str>, JwtState>,
    /// JWT mode's refresh tokens, by `jti` (never read by a request).
    #[cfg(feature = "jwt")]
    jwt_refresh: HashMap<String, JwtRefreshState>,
    /// JWT mode's refresh records by user, bounded.
    #[cfg(feature = "jwt")]
    jwt_refreshes: HashMap<Arc<str>, JwtRefreshes>,
    /// Restricted users' restrictions, apart from `users` so that a request of a shard
    /// without any (the common case) looks nothing up for them.
    restricted: HashMap<Arc<str>, Held>,
    /// The directory: this shard's sessions (either mode) by id, with their user.
    dir: std::collections::BTreeMap<SessionId, Arc<str>>,
    queue: BinaryHeap<Reverse<(u64, Due)>>,
    /// Queue items that no longer look at anything (a tombstone forgotten past its
    /// bound, a ban lifted or moved earlier, restrictions lifted): dropped in one pass
    /// once they outnumber what the shard holds.
    stale: usize,
}

/// A user's restrictions, and when the expiry queue looks at them next.
#[derive(Default)]
struct Held {
    restrictions: Restrictions,
    due_ms: Option<u64>,
}

#[derive(Default)]
struct User {
    /// Ids of the user's sessions that may still be live, in creation order. Ended
    /// sessions leave it at once; expired ones at the next write for the user.
    sessions: Vec<SessionId>,
    /// The user's ended sessions still held, bounded.
    ended: Tombstones,
    ban_until_ms: Option<u64>,
    /// When the expiry queue looks at the ban next, if an item is queued for it.
    ban_due_ms: Option<u64>,
}

/// What an expiry-queue item asks to look at.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Session(SessionId),
    /// A user entry: its ban may have lifted.
    User(Arc<str>),
    /// A user's restrictions: one may be past its grace.
    Restricted(Arc<str>),
    #[cfg(feature = "jwt")]
    Jwt(Arc<str>),
    #[cfg(feature = "jwt")]
    JwtRefresh(String),
}

/// Counts of what a [`MemoryStore`] holds, for capacity checks and leak tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Session records, live and tombstones.
    pub sessions: usize,
    /// User entries (users with records or a ban).
    pub users: usize,
    /// Users with restrictions kept (live, or within their grace).
    pub restricted: usize,
    /// JWT-mode user states.
    pub jwt_users: usize,
    /// Expiry-queue items.
    pub queued: usize,
    /// Directory entries (see [`Auth::online`](crate::Auth::online)).
    pub directory: usize,
    /// JWT-mode refresh records.
    pub jwt_refresh: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("stats", &self.stats())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store with 64 shards.
    pub fn new() -> Self {
        Self::with_shards(64)
    }

    /// An empty store with `n` shards (rounded up to a power of two, at most 65536).
    pub fn with_shards(n: usize) -> Self {
        let n = n.clamp(1, 1 << 16).next_power_of_two();
        Self {
            inner: Arc::new(Inner {
                shards: (0..n).map(|_| RwLock::default()).collect(),
                sweep_cursor: AtomicUsize::new(0),
                feed: broadcast::channel(super::follow::FEED_CAPACITY).0,
                audit: broadcast::channel(AUDIT_CAPACITY).0,
            }),
        }
    }

    /// Forgets everything due at `now_ms` (Unix milliseconds) in every shard.
    pub fn purge(&self, now_ms: u64) {
        for shard in self.inner.shards.iter() {
            write(shard).purge_due(now_ms, usize::MAX);
        }
    }

    /// What the store holds now.
    pub fn stats(&self) -> MemoryStats {
        self.inner
            .shards
            .iter()
            .fold(MemoryStats::default(), |acc, shard| {
                let s = read(shard);
                MemoryStats {
                    sessions: acc.sessions + s.sessions.len(),
                    users: acc.users + s.users.len(),
                    restricted: acc.restricted + s.restricted.len(),
                    #[cfg(feature = "jwt")]
                    jwt_users: acc.jwt_users + s.jwt.len(),
                    #[cfg(not(feature = "jwt"))]
                    jwt_users: 0,
                    queued: acc.queued + s.queue.len(),
                    directory: acc.directory + s.dir.len(),
                    #[cfg(feature = "jwt")]
                    jwt_refresh: acc.jwt_refresh + s.jwt_refresh.len(),
                    #[cfg(not(feature = "jwt"))]
                    jwt_refresh: 0,
                }
            })
    }

    /// Tells the revocation feed, if anyone listens.
    fn publish(
        &self,
        ended: impl IntoIterator<Item = SessionId>,
        reason: EndReason,
        note: Option<&Note>,
    ) {
        if self.inner.feed.receiver_count() > 0 {
            let list: Arc<[(SessionId, EndReason)]> =
                ended.into_iter().map(|id| (id, reason)).collect();
            if !list.is_empty() {
                let _ = self.inner.feed.send(Revoked::Sessions(list, note.cloned()));
            }
        }
    }

    fn publish_infos(&self, ended: &[SessionInfo], reason: EndReason, note: Option<&Note>) {
        self.publish(ended.iter().map(|s| s.session_id), reason, note);
    }

    /// Announces every session `swept` ended, those over by this writer's clock too (an
    /// instance whose clock is behind may still serve them, as Redis and PostgreSQL
    /// announce every end), and answers those it reports.
    fn announce(&self, swept: Swept, reason: EndReason, note: Option<&Note>) -> Vec<SessionInfo> {
        self.publish(swept.ended.iter().copied(), reason, note);
        swept.reported
    }

    /// A directory page: each shard's candidates, merged in id order, cut where the
    /// shard that looked least far stopped.
    fn online_page(
        &self,
        page: PageRequest<'_>,
        pick: impl Fn(&Shard, SessionId, &Arc<str>) -> Option<OnlineSession>,
    ) -> Page {
        // Every shard's entries after the cursor, merged in id order: the page looks at
        // what it lists (and what it skips), whatever the number of sessions. Holding
        // every read lock at once cannot deadlock: a writer holds one lock and only
        // tries a second.
        use std::ops::Bound;
        let from = page.start_after().map_or(Bound::Unbounded, Bound::Excluded);
        let guards: Vec<_> = self.inner.shards.iter().map(read).collect();
        let mut ranges: Vec<_> = guards
            .iter()
            .map(|g| g.dir.range((from, Bound::Unbounded)))
            .collect();
        let mut heads = BinaryHeap::new();
        for (i, range) in ranges.iter_mut().enumerate() {
            if let Some((id, user)) = range.next() {
                heads.push(Reverse((*id, i, user)));
            }
        }
        let merged = std::iter::from_fn(|| {
            let Reverse((id, i, user)) = heads.pop()?;
            if let Some((next, user)) = ranges.get_mut(i).and_then(Iterator::next) {
                heads.push(Reverse((*next, i, user)));
            }
            Some((id, i, user))
        });
        page.walk(
            merged,
            |(id, _, _)| *id,
            |(id, i, user)| pick(guards.get(i)?, id, user),
        )
    }

    /// A restriction change of `user_id`'s, under its shard's lock; announced if the
    /// set changed (a lift of one over by this clock but kept answers `false`, and still
    /// goes for every instance), as PostgreSQL's. Answers what `change` answers.
    fn change_restrictions(
        &self,
        user_id: &str,
        now_ms: u64,
        change: impl FnOnce(&mut Restrictions) -> bool,
    ) -> bool {
        let tag = user_tag(user_id);
        let (answer, changed) = self.write(tag, now_ms, |shard| {
            shard.prune_restrictions(user_id, now_ms);
            let user: Arc<str> = Arc::from(user_id);
            let kept = &mut shard
                .restricted
                .entry(user.clone())
                .or_default()
                .restrictions;
            let before = kept.clone();
            let answer = change(kept);
            let changed = *kept != before;
            shard.prune_restrictions(user_id, now_ms);
            shard.schedule_restrictions(user);
            (answer, changed)
        });
        if changed {
            self.publish_changed(tag);
        }
        answer
    }

    /// A ban, through either mode's call: it ends the user's sessions of both modes (see
    /// `SessionStore::ban`), in one shard write.
    fn ban_user(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Vec<SessionInfo> {
        let tag = user_tag(user_id);
        let (swept, tokens) = self.write(tag, now_ms, |shard| {
            let sessions =
                shard.end_sessions(user_id, EndReason::Banned, note, now_ms, |_, _| true);
            #[cfg(feature = "jwt")]
            let tokens = shard.ban_tokens(user_id, note, now_ms);
            #[cfg(not(feature = "jwt"))]
            let tokens: Option<Vec<SessionInfo>> = None;
            shard.set_ban(user_id, until_ms);
            (sessions, tokens)
        });
        let mut ended = self.announce(swept, EndReason::Banned, note);
        if let Some(tokens) = tokens {
            // A bump ends tokens no list names (see `Revoked::Changed`).
            self.publish_infos(&tokens, EndReason::Banned, note);
            self.publish_changed(tag);
            ended.extend(tokens);
        }
        ended
    }

    /// Announces a change of session `id` ([`Revoked::Updated`]).
    fn publish_updated(&self, id: SessionId) {
        if self.inner.feed.receiver_count() > 0 {
            let _ = self.inner.feed.send(Revoked::Updated(id));
        }
    }

    /// Announces a change of the state of a user with slot tag `tag`
    /// ([`Revoked::Changed`]).
    fn publish_changed(&self, tag: u16) {
        if self.inner.feed.receiver_count() > 0 {
            let _ = self.inner.feed.send(Revoked::Changed(tag));
        }
    }

    fn shard(&self, tag: u16) -> &RwLock<Shard> {
        let shards = &self.inner.shards;
        &shards[usize::from(tag) & (shards.len() - 1)]
    }

    /// Runs `op` under the write lock of `tag`'s shard after purging what is due, then
    /// purges one other shard in turn if it is free.
    fn write<T>(&self, tag: u16, now_ms: u64, op: impl FnOnce(&mut Shard) -> T) -> T {
        let out = {
            let mut shard = write(self.shard(tag));
            shard.purge_due(now_ms, PURGE_BUDGET);
            let out = op(&mut shard);
            shard.drop_stale_items();
            out
        };
        let shards = &self.inner.shards;
        let next = self.inner.sweep_cursor.fetch_add(1, Ordering::Relaxed) & (shards.len() - 1);
        if let Ok(mut other) = shards[next].try_write() {
            other.purge_due(now_ms, PURGE_BUDGET);
        }
        out
    }
}

// A panic while a lock was held cannot leave a record half-written (each field is set
// in one statement), so a poisoned lock is still safe to use.
fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    fn purge_due(&mut self, now_ms: u64, budget: usize) {
        for _ in 0..budget {
            match self.queue.peek() {
                Some(Reverse((due, _))) if *due <= now_ms => {}
                _ => return,
            }
            let Some(Reverse((at, item))) = self.queue.pop() else {
                return;
            };
            match item {
                Due::Session(id) => {
                    let Some(entry) = self.sessions.get(&id) else {
                        continue;
                    };
                    let purge_at = entry.purge_at();
                    if purge_at > now_ms {
                        // Renewed or ended since it was queued: look again later.
                        self.queue.push(Reverse((purge_at, Due::Session(id))));
                        continue;
                    }
                    let user = entry.info().user_id.clone();
                    let ended = entry.ended().is_some();
                    self.sessions.remove(&id);
                    self.dir.remove(&id);
                    if let Some(u) = self.users.get_mut(&user) {
                        u.sessions.retain(|s| *s != id);
                        if ended {
                            u.ended.forget(id, purge_at);
                        }
                    }
                    self.forget_user_if_empty(&user, now_ms);
                }
                Due::User(user) => self.look_at_ban(user, at, now_ms),
                Due::Restricted(user) => self.look_at_restrictions(user, at, now_ms),
                #[cfg(feature = "jwt")]
                Due::Jwt(user) => {
                    if let Some(state) = self.jwt.get_mut(&user) {
                        state.prune(now_ms);
                        if state.is_empty() {
                            self.jwt.remove(&user);
                            self.sync_jwt_dir(&user);
                        } else {
                            let at = state.expires_at_ms().max(now_ms.saturating_add(1));
                            self.queue.push(Reverse((at, Due::Jwt(user))));
                        }
                    }
                }
                #[cfg(feature = "jwt")]
                Due::JwtRefresh(jti) => {
                    let purge_at = self.jwt_refresh.get(&jti).map(JwtRefreshState::purge_at);
                    match purge_at {
                        Some(at) if at > now_ms => {
                            self.queue.push(Reverse((at, Due::JwtRefresh(jti))));
                        }
                        Some(at) => {
                            if let Some(record) = self.jwt_refresh.remove(&jti) {
                                self.forget_refresh(record.user_id(), &jti, at);
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Drops the queue items that look at nothing any more once they outnumber what
    /// the shard holds (a pass over the queue, paid for by as many stale items): an
    /// item of a forgotten record, or of a ban or restrictions whose item is now
    /// another (each holds the time of its one live item).
    fn drop_stale_items(&mut self) {
        let held = self.sessions.len() + self.users.len() + self.restricted.len();
        #[cfg(feature = "jwt")]
        let held = held + self.jwt_refresh.len();
        if self.stale <= held.max(PURGE_BUDGET) {
            return;
        }
        let (sessions, users, restricted) = (&self.sessions, &self.users, &self.restricted);
        #[cfg(feature = "jwt")]
        let refresh = &self.jwt_refresh;
        self.queue.retain(|Reverse((at, due))| match due {
            Due::Session(id) => sessions.contains_key(id),
            Due::User(u) => users.get(u).is_some_and(|u| u.ban_due_ms == Some(*at)),
            Due::Restricted(u) => restricted.get(u).is_some_and(|h| h.due_ms == Some(*at)),
            #[cfg(feature = "jwt")]
            Due::JwtRefresh(jti) => refresh.contains_key(jti),
            #[cfg(feature = "jwt")]
            Due::Jwt(_) => true,
        });
        self.stale = 0;
    }

    fn forget_user_if_empty(&mut self, user_id: &str, now_ms: u64) {
        if let Some(u) = self.users.get_mut(user_id) {
            if u.ban_until_ms.is_some_and(|t| kept_until(t) <= now_ms) {
                u.ban_until_ms = None;
            }
            if u.sessions.is_empty() && u.ended.is_empty() && u.ban_until_ms.is_none() {
                if u.ban_due_ms.is_some() {
                    self.stale += 1;
                }
                self.users.remove(user_id);
            }
        }
    }

    /// Drops the user's restrictions past their grace, and their entry once none is kept.
    fn prune_restrictions(&mut self, user_id: &str, now_ms: u64) {
        if let Some(held) = self.restricted.get_mut(user_id) {
            held.restrictions.prune(now_ms);
            if held.restrictions.is_empty() {
                if held.due_ms.is_some() {
                    self.stale += 1;
                }
                self.restricted.remove(user_id);
            }
        }
    }

    /// A queue item for the user's restrictions, of time `at`, came due: drops what is
    /// past its grace, and has the user looked at again when the next one is.
    fn look_at_restrictions(&mut self, user: Arc<str>, at: u64, now_ms: u64) {
        if let Some(held) = self.restricted.get_mut(&user)
            && held.due_ms.is_some_and(|due| due <= at)
        {
            held.due_ms = None;
        }
        self.prune_restrictions(&user, now_ms);
        self.schedule_restrictions(user);
    }

    /// Queues the user for when their first restriction is past its grace, unless an
    /// item comes at or before it: one item per user, whatever the number of calls.
    fn schedule_restrictions(&mut self, user: Arc<str>) {
        let Some(held) = self.restricted.get_mut(&user) else {
            return;
        };
        let Some(next) = held.restrictions.next_prune_ms() else {
            return;
        };
        if held.due_ms.is_none_or(|due| next < due) {
            if held.due_ms.replace(next).is_some() {
                self.stale += 1;
            }
            self.queue.push(Reverse((next, Due::Restricted(user))));
        }
    }

    /// The user's restrictions, as a request reads them with its record.
    fn restrictions_of(&self, user_id: &str) -> Restrictions {
        Self::restrictions_in(&self.restricted, user_id)
    }

    /// The same from the map alone (while a session of the shard is borrowed).
    fn restrictions_in(restricted: &HashMap<Arc<str>, Held>, user_id: &str) -> Restrictions {
        if restricted.is_empty() {
            return Restrictions::default();
        }
        restricted
            .get(user_id)
            .map(|held| held.restrictions.clone())
            .unwrap_or_default()
    }

    fn ban_until(&self, user_id: &str, now_ms: u64) -> Option<u64> {
        Self::ban_in(&self.users, user_id, now_ms)
    }

    /// The same from the map alone (while a session of the shard is borrowed).
    fn ban_in(users: &HashMap<Arc<str>, User>, user_id: &str, now_ms: u64) -> Option<u64> {
        users
            .get(user_id)
            .and_then(|u| u.ban_until_ms)
            .filter(|&t| t > now_ms)
    }

    /// Sets a ban (replacing any earlier one) and queues its end, unless an item for
    /// the user comes at or before it: one item per user, whatever the number of calls.
    fn set_ban(&mut self, user_id: &str, until_ms: u64) {
        let user: Arc<str> = Arc::from(user_id);
        let entry = self.users.entry(user.clone()).or_default();
        entry.ban_until_ms = Some(until_ms);
        let due_ms = kept_until(until_ms);
        if entry.ban_due_ms.is_none_or(|due| due_ms < due) {
            if entry.ban_due_ms.replace(due_ms).is_some() {
                self.stale += 1;
            }
            self.queue.push(Reverse((due_ms, Due::User(user))));
        }
    }

    /// A queue item for the user's ban, of time `at`, came due: forgets a lifted ban
    /// (and the entry, if nothing else is in it), else looks again at the ban's end.
    fn look_at_ban(&mut self, user: Arc<str>, at: u64, now_ms: u64) {
        if let Some(u) = self.users.get_mut(&user)
            && u.ban_due_ms.is_some_and(|due| due <= at)
        {
            u.ban_due_ms = None;
        }
        self.forget_user_if_empty(&user, now_ms);
        if let Some(u) = self.users.get_mut(&user)
            && let (Some(until), None) = (u.ban_until_ms, u.ban_due_ms)
        {
            let due_ms = kept_until(until);
            u.ban_due_ms = Some(due_ms);
            self.queue.push(Reverse((due_ms, Due::User(user))));
        }
    }
}

impl Store for MemoryStore {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        Ok(self.write(user_tag(user_id), now_ms, |shard| {
            let was = shard.ban_until(user_id, now_ms).is_some();
            if let Some(u) = shard.users.get_mut(user_id) {
                u.ban_until_ms = None;
            }
            shard.forget_user_if_empty(user_id, now_ms);
            was
        }))
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        Ok(read(self.shard(user_tag(user_id))).ban_until(user_id, now_ms))
    }

    async fn restrict(
        &self,
        user_id: &str,
        restriction: &Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.change_restrictions(user_id, now_ms, |held| {
            held.restrict(restriction.clone(), now_ms).is_ok()
        }))
    }

    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.change_restrictions(user_id, now_ms, |held| held.lift(scope, now_ms)))
    }

    async fn restrictions(&self, user_id: &str, now_ms: u64) -> Result<Restrictions, StoreError> {
        let mut restrictions = read(self.shard(user_tag(user_id))).restrictions_of(user_id);
        restrictions.prune(now_ms);
        Ok(restrictions)
    }

    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        Some(self.inner.feed.subscribe())
    }

    fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>> {
        Some(self.inner.audit.subscribe())
    }

    fn audit(&self, event: &AuditEvent) {
        if self.audit_wanted() {
            let _ = self.inner.audit.send(event.clone());
        }
    }

    fn audit_wanted(&self) -> bool {
        self.inner.audit.receiver_count() > 0
    }
}
