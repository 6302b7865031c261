//! The in-memory store: the embedded default, for one process.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(feature = "jwt")]
use super::Ends;
use super::audit::{AUDIT_CAPACITY, AuditEvent};
use super::directory::{MAX_PAGE, SCAN_FACTOR};
#[cfg(feature = "jwt")]
use super::jwt::{
    self, JwtEntry, JwtGrant, JwtIssue, JwtRefresh, JwtRefreshed, JwtState, JwtStatus, JwtStore,
    JwtTarget, JwtToken,
};
use super::limits::MAX_LIVE_TOKENS;
#[cfg(feature = "jwt")]
use super::refresh::JwtRotation;
use super::refresh::Presented;
use super::session::{is_live, purge_time};
use super::{
    Admission, Cursor, EndReason, Ended, NewRefresh, NewSession, OnlineSession, Page, PageRequest,
    Refreshed, Renewal, Revoked, Rotated, Rotation, SessionEntry, SessionInfo, SessionMeta,
    SessionRecord, SessionStore, Store, StoreError, Target, Touch,
};
use crate::note::Note;
use crate::policy::Overflow;
use crate::token::{RefreshKey, SessionId, SessionKey, user_tag};
use tokio::sync::broadcast;

/// How many due records one write purges from its own shard, and from one more.
const PURGE_BUDGET: usize = 32;

/// `idle_deadline` value meaning "no idle timeout".
const NO_IDLE: u64 = u64::MAX;

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
    sessions: HashMap<SessionId, Entry, foldhash::fast::RandomState>,
    users: HashMap<Arc<str>, User>,
    /// JWT mode's revocation state, by user.
    #[cfg(feature = "jwt")]
    jwt: HashMap<Arc<str>, JwtState>,
    /// JWT mode's refresh tokens, by `jti` (never read by a request).
    #[cfg(feature = "jwt")]
    jwt_refresh: HashMap<String, JwtRefreshRecord>,
    /// The directory: this shard's sessions (either mode) by id, with their user.
    dir: std::collections::BTreeMap<SessionId, Arc<str>>,
    queue: BinaryHeap<Reverse<(u64, Due)>>,
}

struct Entry {
    digest: [u8; 32],
    info: SessionInfo,
    /// Shared, so a listing clones a pointer.
    meta: Arc<SessionMeta>,
    /// The device's class: the scope of a per-device rule.
    class: Arc<str>,
    /// Its own idle timeout and absolute lifetime.
    idle_ms: Option<u64>,
    lifetime_ms: u64,
    /// When a request last renewed it (`Touch`); its issue time until then.
    last_seen: AtomicU64,
    idle_deadline: AtomicU64,
    ended: Option<Ended>,
    retain_ms: u64,
    /// With a refresh token: the current access token's end, the access token the last
    /// refresh replaced (valid until its own end), and the refresh token.
    access_until: Option<u64>,
    previous: Option<([u8; 32], u64)>,
    refresh: Option<Box<RefreshState>>,
}

/// A session's refresh token, and its chain (every token it ever had).
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

    fn presented(&self, key: &RefreshKey) -> Presented {
        Presented::of(key, &self.digest, &self.chain)
    }
}

#[derive(Default)]
struct User {
    /// Ids of the user's sessions that may still be live, in creation order. Ended
    /// sessions leave it at once; expired ones at the next write for the user.
    sessions: Vec<SessionId>,
    ban_until_ms: Option<u64>,
}

/// The directory ids of users with slot tag `tag`: from, to (inclusive).
#[cfg(feature = "jwt")]
fn tag_range(tag: u16) -> (SessionId, SessionId) {
    let mut from = [0u8; 14];
    from[..2].copy_from_slice(&tag.to_be_bytes());
    let mut to = [0xffu8; 14];
    to[..2].copy_from_slice(&tag.to_be_bytes());
    (SessionId::from_bytes(from), SessionId::from_bytes(to))
}

/// Removes the entries in `from..=to` that `keep` refuses.
#[cfg(feature = "jwt")]
trait RetainRange<K, V> {
    fn retain_range(&mut self, from: K, to: K, keep: impl FnMut(&K, &V) -> bool);
}

#[cfg(feature = "jwt")]
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

/// What an expiry-queue item asks to look at.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Session(SessionId),
    Ban(Arc<str>),
    #[cfg(feature = "jwt")]
    Jwt(Arc<str>),
    #[cfg(feature = "jwt")]
    JwtRefresh(String),
}

/// A JWT-mode session's refresh token, with what its refreshes sign.
#[cfg(feature = "jwt")]
struct JwtRefreshRecord {
    user: Arc<str>,
    device: Arc<str>,
    issued_at_ms: u64,
    access_ttl_ms: u64,
    grant: (u64, u64, u64),
    refresh: RefreshState,
    /// The session's end: the record goes [`PRUNE_GRACE_MS`](super::limits::PRUNE_GRACE_MS)
    /// after it.
    end_ms: u64,
    claims: Option<String>,
    own_idle_ms: Option<u64>,
}

/// Counts of what a [`MemoryStore`] holds, for capacity checks and leak tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Session records, live and tombstones.
    pub sessions: usize,
    /// User entries (users with records or a ban).
    pub users: usize,
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
                feed: broadcast::channel(1024).0,
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

    /// Tells the revocation feed, if anyone listens.
    fn publish(&self, ended: &[SessionInfo], reason: EndReason, note: Option<&Note>) {
        if self.inner.feed.receiver_count() > 0 && !ended.is_empty() {
            let list: Arc<[(SessionId, EndReason)]> =
                ended.iter().map(|s| (s.session_id, reason)).collect();
            let _ = self.inner.feed.send(Revoked::Sessions(list, note.cloned()));
        }
    }

    fn publish_infos(&self, ended: &[SessionInfo], reason: EndReason) {
        self.publish(ended, reason, None);
    }

    /// A directory page: each shard's candidates, merged in id order, cut where the
    /// shard that looked least far stopped.
    fn online_page(
        &self,
        page: PageRequest<'_>,
        pick: impl Fn(&Shard, SessionId, &Arc<str>) -> Option<OnlineSession>,
    ) -> Page {
        let limit = page.limit.clamp(1, MAX_PAGE);
        // A cursor of another store's making starts at its tag.
        let after = page.after.map(|c| {
            c.member().parse::<SessionId>().unwrap_or_else(|_| {
                let mut id = [0u8; 14];
                id[..2].copy_from_slice(&c.tag().to_be_bytes());
                SessionId::from_bytes(id)
            })
        });
        let pick = |shard: &Shard, id: SessionId, user: &Arc<str>| {
            pick(shard, id, user).filter(|s| page.class.is_none_or(|c| *s.class == *c))
        };
        // Every shard's entries after the cursor, merged in id order: the page looks at
        // what it lists (and what it skips), whatever the number of sessions. Holding
        // every read lock at once cannot deadlock: a writer holds one lock and only
        // tries a second.
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let guards: Vec<_> = self.inner.shards.iter().map(read).collect();
        let mut ranges: Vec<_> = guards
            .iter()
            .map(|g| g.dir.range((from, Bound::Unbounded)))
            .collect();
        let mut heads = std::collections::BinaryHeap::new();
        for (i, range) in ranges.iter_mut().enumerate() {
            if let Some((id, user)) = range.next() {
                heads.push(Reverse((*id, i, user)));
            }
        }
        let (mut found, mut looked, mut last) = (Vec::new(), 0usize, None);
        while let Some(Reverse((id, i, user))) = heads.pop() {
            if found.len() >= limit || looked >= limit.saturating_mul(SCAN_FACTOR) {
                // Everything up to `last` was looked at; more remains.
                return Page::new(
                    found,
                    last.map(|l: SessionId| Cursor::new(l.tag(), l.to_string())),
                );
            }
            looked += 1;
            last = Some(id);
            if let (Some(g), Some(range)) = (guards.get(i), ranges.get_mut(i)) {
                if let Some(session) = pick(g, id, user) {
                    found.push(session);
                }
                if let Some((next, user)) = range.next() {
                    heads.push(Reverse((*next, i, user)));
                }
            }
        }
        Page::new(found, None)
    }

    /// Announces a JWT generation bump of a user with slot tag `tag`.
    #[cfg(feature = "jwt")]
    fn publish_bump(&self, tag: u16) {
        if self.inner.feed.receiver_count() > 0 {
            let _ = self.inner.feed.send(Revoked::Bumped(tag));
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
            op(&mut shard)
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

    fn purge_at(&self) -> u64 {
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

impl Shard {
    fn purge_due(&mut self, now_ms: u64, budget: usize) {
        for _ in 0..budget {
            match self.queue.peek() {
                Some(Reverse((due, _))) if *due <= now_ms => {}
                _ => return,
            }
            let Some(Reverse((_, item))) = self.queue.pop() else {
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
                    let user = entry.info.user_id.clone();
                    self.sessions.remove(&id);
                    self.dir.remove(&id);
                    if let Some(u) = self.users.get_mut(&user) {
                        u.sessions.retain(|s| *s != id);
                    }
                    self.forget_user_if_empty(&user, now_ms);
                }
                Due::Ban(user) => self.forget_user_if_empty(&user, now_ms),
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
                    let purge_at = self
                        .jwt_refresh
                        .get(&jti)
                        .map(|r| r.end_ms.saturating_add(super::limits::PRUNE_GRACE_MS));
                    match purge_at {
                        Some(at) if at > now_ms => {
                            self.queue.push(Reverse((at, Due::JwtRefresh(jti))));
                        }
                        Some(_) => {
                            self.jwt_refresh.remove(&jti);
                        }
                        None => {}
                    }
                }
            }
        }
    }

    fn forget_user_if_empty(&mut self, user_id: &str, now_ms: u64) {
        if let Some(u) = self.users.get_mut(user_id) {
            if u.ban_until_ms.is_some_and(|t| t <= now_ms) {
                u.ban_until_ms = None;
            }
            if u.sessions.is_empty() && u.ban_until_ms.is_none() {
                self.users.remove(user_id);
            }
        }
    }

    /// JWT mode: the directory holds exactly the tokens in the user's index.
    #[cfg(feature = "jwt")]
    fn sync_jwt_dir(&mut self, user_id: &str) {
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
        let (from, to) = tag_range(tag);
        self.dir.retain_range(from, to, |id, user| {
            **user != *user_id || listed.contains(id)
        });
        for id in listed {
            self.dir.entry(id).or_insert_with(|| Arc::from(user_id));
        }
    }

    fn ban_until(&self, user_id: &str, now_ms: u64) -> Option<u64> {
        self.users
            .get(user_id)
            .and_then(|u| u.ban_until_ms)
            .filter(|&t| t > now_ms)
    }

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
        let mut replaced = Vec::new();
        if let Some(max) = rule.max_sessions() {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            // Sessions in the new one's scope, oldest first (creation order breaks ties).
            let mut in_scope: Vec<(u64, usize, SessionId)> = self
                .users
                .get(&user_id)
                .map(|u| {
                    u.sessions
                        .iter()
                        .enumerate()
                        .filter_map(|(order, id)| {
                            // The rule counts sessions live now.
                            let e = self.sessions.get(id).filter(|e| e.is_live(now_ms))?;
                            rule.same_scope(&e.class, &new.class).then_some((
                                e.info.issued_at_ms,
                                order,
                                *id,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if in_scope.len() >= max {
                if rule.overflow() == Overflow::RefuseNew {
                    return Admission::LimitReached;
                }
                in_scope.sort_unstable();
                in_scope.truncate(in_scope.len() + 1 - max);
                replaced =
                    self.end_sessions(&user_id, EndReason::Replaced, None, now_ms, |id, _| {
                        in_scope.iter().any(|(_, _, old)| old == id)
                    });
            }
        }
        // Whatever the rule, a user's index holds at most MAX_LIVE_TOKENS sessions: the
        // oldest go, so no account can make its logins (and its shard) slow.
        let members = self.users.get(&user_id).map_or(0, |u| u.sessions.len());
        if members >= MAX_LIVE_TOKENS {
            let excess = members + 1 - MAX_LIVE_TOKENS;
            let oldest: Vec<SessionId> = self
                .users
                .get(&user_id)
                .map(|u| {
                    let mut ids: Vec<(u64, usize, SessionId)> = u
                        .sessions
                        .iter()
                        .enumerate()
                        .filter_map(|(order, id)| {
                            Some((self.sessions.get(id)?.info.issued_at_ms, order, *id))
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.into_iter().take(excess).map(|(_, _, id)| id).collect()
                })
                .unwrap_or_default();
            replaced.extend(self.retire(&user_id, &oldest, EndReason::Replaced, now_ms));
        }
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
        let (access_until, refresh_until) =
            NewRefresh::ends(entry.lifetime_ms, refresh.window_ms, refresh.cap_ms, now_ms);
        refresh.digest = *rotation.refresh.digest();
        refresh.expires_at_ms = refresh_until;
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

    /// Sets a ban (replacing any earlier one) and queues its end.
    fn set_ban(&mut self, user_id: &str, until_ms: u64) {
        let user: Arc<str> = Arc::from(user_id);
        self.users.entry(user.clone()).or_default().ban_until_ms = Some(until_ms);
        self.queue.push(Reverse((until_ms, Due::Ban(user))));
    }
}

#[cfg(feature = "jwt")]
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

    /// Records a JWT login's refresh token.
    fn keep_refresh(&mut self, issue: &JwtIssue, grant: &JwtGrant, r: &JwtRefresh) {
        let record = JwtRefreshRecord {
            user: issue.user_id.clone(),
            device: issue.device.clone(),
            issued_at_ms: issue.issued_at_ms,
            access_ttl_ms: r.refresh.access_ttl_ms,
            grant: (grant.epoch, grant.user_gen, grant.device_gen),
            refresh: RefreshState::new(&r.refresh),
            end_ms: issue.expires_at_ms,
            claims: r.claims.clone(),
            own_idle_ms: r.own_idle_ms,
        };
        self.queue
            .push(Reverse((record.end_ms, Due::JwtRefresh(issue.jti.clone()))));
        self.jwt_refresh.insert(issue.jti.clone(), record);
    }

    /// Spends a JWT-mode refresh token (see [`JwtStore::jwt_refresh`]).
    fn jwt_refresh(&mut self, rotation: JwtRotation<'_>, now_ms: u64) -> Rotated<JwtRefreshed> {
        let id = rotation.presented.session_id();
        let jti = id.jti();
        let purged = |r: &&JwtRefreshRecord| {
            r.end_ms.saturating_add(super::limits::PRUNE_GRACE_MS) <= now_ms
        };
        let Some(rec) = self.jwt_refresh.get(&jti).filter(|r| !purged(r)) else {
            return Rotated::Unknown;
        };
        let (epoch, user_gen, device_gen) = rec.grant;
        let user = rec.user.clone();
        let token = JwtToken {
            user_id: &user,
            epoch,
            tag: id.tag(),
            jti: &jti,
            device: &rec.device,
            user_gen,
            device_gen,
            seen_until_ms: None,
            idle: None,
        };
        let Some(state) = self.jwt.get(&*user).filter(|st| st.issued(token)) else {
            // A state dropped once every token of it was over: this one is over too.
            if !self.jwt.contains_key(&*user) && now_ms >= rec.end_ms {
                return Rotated::Expired;
            }
            return Rotated::Unknown;
        };
        let ended = state.ended(token);
        let current = match rec.refresh.presented(rotation.presented) {
            Presented::Foreign => return Rotated::Unknown,
            Presented::Current => true,
            Presented::Spent => false,
        };
        if let Some(ended) = ended {
            let ban_stands = self.ban_until(&user, now_ms).is_some();
            return Rotated::Ended { ended, ban_stands };
        }
        let tag = id.tag();
        if !current {
            // A spent token again: whoever holds it, the session is no longer safe.
            let Some(state) = self.jwt.get_mut(&*user) else {
                return Rotated::Unknown;
            };
            let Some((entry, overflow)) =
                state.end_token(&jti, EndReason::RefreshReused, None, now_ms)
            else {
                return Rotated::Expired;
            };
            let live = if entry.expires_at_ms > now_ms {
                vec![(jti, entry)]
            } else {
                Vec::new()
            };
            self.sync_jwt_dir(&user);
            return Rotated::Reused(Ends {
                ended: self.jwt_infos(&user, tag, &live),
                replaced: self.jwt_infos(&user, tag, &overflow),
            });
        }
        let refresh = &rec.refresh;
        let (access_ttl_ms, issued_at_ms) = (rec.access_ttl_ms, rec.issued_at_ms);
        if now_ms >= refresh.expires_at_ms || now_ms >= refresh.cap_ms {
            return Rotated::Expired;
        }
        let (access, until) =
            NewRefresh::ends(access_ttl_ms, refresh.window_ms, refresh.cap_ms, now_ms);
        let end = access.max(until);
        let Some(state) = self.jwt.get_mut(&*user) else {
            return Rotated::Unknown;
        };
        let Some(entry) = state.index.get_mut(&jti).filter(|e| {
            e.expires_at_ms > now_ms && !jwt::idle_over(e.idle(), Some(e.last_seen_ms), now_ms)
        }) else {
            return Rotated::Expired;
        };
        entry.expires_at_ms = end;
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        let device = entry.device.clone();
        state.max_exp_ms = state.max_exp_ms.max(end);
        let Some(rec) = self.jwt_refresh.get_mut(&jti) else {
            return Rotated::Unknown;
        };
        let refresh = &mut rec.refresh;
        refresh.digest = *rotation.refresh.digest();
        refresh.expires_at_ms = until;
        rec.end_ms = end;
        Rotated::Done(JwtRefreshed {
            refreshed: Refreshed {
                session: SessionInfo {
                    session_id: id,
                    user_id: user,
                    device,
                    issued_at_ms,
                    expires_at_ms: end,
                },
                access_until_ms: access,
                refresh_until_ms: until,
            },
            epoch,
            user_gen,
            device_gen,
            claims: rec.claims.clone(),
            own_idle_ms: rec.own_idle_ms,
        })
    }

    fn jwt_infos(&self, user_id: &str, tag: u16, ended: &[(String, JwtEntry)]) -> Vec<SessionInfo> {
        let user = self
            .jwt
            .get_key_value(user_id)
            .map_or_else(|| Arc::from(user_id), |(k, _)| k.clone());
        ended
            .iter()
            .filter_map(|(jti, e)| jwt::info(&user, tag, jti, e))
            .collect()
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

#[cfg(feature = "jwt")]
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
                let last_seen_ms = token
                    .idle
                    .and_then(|_| state.index.get(token.jti))
                    .map(|e| e.last_seen_ms);
                JwtStatus {
                    known: true,
                    ended,
                    ban_until_ms,
                    last_seen_ms,
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
        let issued = self.write(user_tag(user_id), now_ms, |shard| {
            if let Some(until_ms) = shard.ban_until(user_id, now_ms) {
                return Admission::Banned { until_ms };
            }
            let state = shard.jwt_state(user_id, issue.fresh_epoch);
            let admission = state.issue(&issue, now_ms);
            if let (Admission::Admitted(grant), Some(r)) = (&admission, &issue.refresh) {
                shard.keep_refresh(&issue, grant, r);
            }
            shard.sync_jwt_dir(user_id);
            admission
        });
        if let Admission::Admitted(grant) = &issued {
            self.publish_infos(&grant.replaced, EndReason::Replaced);
            // What a rule or a bound replaced may be a bump (see `Revoked::Bumped`).
            if !grant.replaced.is_empty() {
                self.publish_bump(user_tag(user_id));
            }
        }
        Ok(issued)
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
        let ends = self.write(tag, now_ms, |shard| {
            let (user, ended, replaced) = match target {
                JwtTarget::User { user_id, device } => {
                    let Some(state) = shard.jwt.get_mut(user_id) else {
                        return Ends::default();
                    };
                    let (ended, replaced) = state.end_user(device, reason, note, now_ms);
                    (user_id.to_owned(), ended, replaced)
                }
                JwtTarget::Others { user_id, keep } => {
                    let Some(state) = shard.jwt.get_mut(user_id) else {
                        return Ends::default();
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
                        return Ends::default();
                    };
                    match state.end_token(&jti, reason, note, now_ms) {
                        Some((entry, overflow)) => (user.to_string(), vec![(jti, entry)], overflow),
                        None => (user.to_string(), Vec::new(), Vec::new()),
                    }
                }
            };
            shard.sync_jwt_dir(&user);
            Ends {
                ended: shard.jwt_infos(&user, tag, &ended),
                replaced: shard.jwt_infos(&user, tag, &replaced),
            }
        });
        self.publish(&ends.ended, reason, note);
        self.publish_infos(&ends.replaced, EndReason::Replaced);
        if matches!(target, JwtTarget::User { .. }) || !ends.replaced.is_empty() {
            self.publish_bump(tag);
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
        let tag = user_tag(user_id);
        let ended = self.write(tag, now_ms, |shard| {
            let ended = shard
                .jwt
                .get_mut(user_id)
                .map(|state| state.end_user(None, EndReason::Banned, note, now_ms).0)
                .unwrap_or_default();
            shard.set_ban(user_id, until_ms);
            shard.sync_jwt_dir(user_id);
            shard.jwt_infos(user_id, tag, &ended)
        });
        self.publish(&ended, EndReason::Banned, note);
        self.publish_bump(tag);
        Ok(ended)
    }

    async fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<JwtRefreshed>, StoreError> {
        let tag = rotation.presented.session_id().tag();
        let rotated = self.write(tag, now_ms, |shard| shard.jwt_refresh(rotation, now_ms));
        if let Rotated::Reused(ends) = &rotated {
            self.publish_infos(&ends.ended, EndReason::RefreshReused);
            self.publish_infos(&ends.replaced, EndReason::Replaced);
            if !ends.replaced.is_empty() {
                self.publish_bump(tag);
            }
        }
        Ok(rotated)
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        Ok(self.online_page(page, |shard, id, user| {
            let (user, state) = shard.jwt.get_key_value(&**user)?;
            let jti = id.jti();
            let e = state
                .index
                .get(&jti)
                .filter(|e| e.expires_at_ms > now_ms)
                .filter(|e| !jwt::idle_over(e.idle(), Some(e.last_seen_ms), now_ms))?;
            let info = jwt::info(user, id.tag(), &jti, e)?;
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
        // Idle too long is over, as a request would be told.
        Ok(state
            .live(now_ms)
            .into_iter()
            .filter(|(_, e)| !super::jwt::idle_over(e.idle(), Some(e.last_seen_ms), now_ms))
            .filter_map(|(jti, e)| {
                let info = jwt::info(user, tag, jti, e)?;
                Some(SessionEntry::new(info, e.meta.clone(), e.last_seen_ms))
            })
            .collect())
    }
}
