//! A near cache of validated sessions, in front of a shared store.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::broadcast;

#[cfg(feature = "jwt")]
use super::contract::Ends;
use super::follow::{FEED_CAPACITY, Follower, Following};
#[cfg(feature = "jwt")]
use super::jwt::JwtRefreshed;
#[cfg(feature = "jwt")]
use super::jwt::{JwtGrant, JwtIssue, JwtStatus, JwtStore, JwtTarget, JwtToken};
#[cfg(feature = "jwt")]
use super::refresh::JwtRotation;
use super::{
    contract::{
        Admission, Elevated, Elevation, EndReason, Revoked, SessionEntry, SessionInfo, Store,
        StoreError,
    },
    directory::{Page, PageRequest},
    refresh::{Refreshed, Rotated, Rotation},
    session::{NewSession, Renewal, SessionRecord, SessionStore, Target, Touch},
};
use crate::cache::{Bounded, Grouped};
use crate::clock::millis;
use crate::note::Note;
use crate::token::{SessionId, SessionKey};

use crate::limits::NEAR_CACHE_CAPACITY as CAPACITY;

/// Keeps validated sessions for at most `max_age` in this process, so most requests
/// skip the network round trip; invalidated by the store's revocation feed (Redis
/// pub/sub) and by every write through it. Off unless you wrap your store in it.
///
/// **Staleness bound**: a revocation made through this cache holds for the next request
/// here. One made on another instance reaches this one with the feed's message (its
/// delivery time: milliseconds on a local network), and until then a cached session
/// still passes; if the message is lost, the cached session is refused anyway once its
/// entry is `max_age` old. When the feed says its connection is down (at once when it
/// closes; within the store's keepalive when it dies without a word; again after each
/// failed attempt to get it back), the cache empties and caches nothing until the feed
/// says it is back (a cache that starts following during an outage hears of it at
/// once). So a revoked token is accepted here
/// for the feed's delivery time, and for at most `max_age` after the revocation when a
/// message was lost. A request whose renewal is
/// due (a session's last sight and idle deadline, written at most once per touch
/// interval) goes to the store, since the renewal is a write; so does one past a
/// deadline of its cached copy (its end, its idle deadline, its access token's end),
/// which a renewal, a refresh or a request elsewhere may have moved: the cache never
/// answers `token_expired` on its own word. Ages are measured on the
/// handle's clock (the `now_ms` every store call carries), never the wall clock.
///
/// ```
/// use std::time::Duration;
/// use kickout::{Auth, store::{MemoryStore, NearCache}};
///
/// // In production the wrapped store is a shared one: `RedisStore` (feature `redis`).
/// let auth = Auth::new(NearCache::new(MemoryStore::new(), Duration::from_secs(1)));
/// # let _ = auth;
/// ```
pub struct NearCache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for NearCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("inner", &self.inner)
            .field("max_age_ms", &self.shared.max_age_ms)
            .finish_non_exhaustive()
    }
}

impl<S: Clone> Clone for NearCache<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// What the cache holds for a session: the answer of a lookup or of a JWT check.
#[derive(Clone)]
enum Cached {
    /// A record, and the whole digest of the token it answered (a session id holds only
    /// 96 bits of it): a hit must present the same token, as a store lookup must.
    Session(SessionRecord, [u8; 32]),
    #[cfg(feature = "jwt")]
    Jwt(JwtStatus),
}

struct Shared {
    /// Entries and their time of caching (handle time, Unix ms).
    entries: Bounded<SessionId, (Cached, u64)>,
    max_age_ms: u64,
    /// The task following the store's feed: until it runs, and after it ended,
    /// nothing is cached.
    following: Following,
    /// The feed said its connection is down ([`Revoked::Lost`]) and no resync came
    /// since: nothing is cached, as nothing would say it went stale.
    lost: AtomicBool,
    /// Raised by every invalidation before it removes anything: a store read that began
    /// before an invalidation does not put its (possibly revoked) answer in afterwards.
    invalidations: AtomicU64,
    /// The feed as the cache's followers see it: each message once the cache has
    /// forgotten what it names, so a watch woken by a change never reads the entry the
    /// change made stale (following the store's feed beside the cache, it could).
    relay: broadcast::Sender<Revoked>,
}

impl Shared {
    fn forget(&self, ids: impl IntoIterator<Item = SessionId>) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            self.entries.remove(&id);
        }
    }

    /// Forgets the sessions of the users with slot tag `tag`: one shard's walk.
    fn forget_tag(&self, tag: u16) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries
            .retain_group(u64::from(tag), |id, _| id.tag() != tag);
    }

    fn forget_all(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }

    fn fresh(&self, at_ms: u64, now_ms: u64) -> bool {
        now_ms >= at_ms && now_ms - at_ms < self.max_age_ms
    }

    /// Caches a store's answer, unless an invalidation came since the read began (at
    /// `invalidations == seen`).
    fn put(&self, id: SessionId, value: Cached, now_ms: u64, seen: u64) {
        self.entries.insert_if(
            id,
            (value, now_ms),
            |(_, at)| self.fresh(*at, now_ms),
            || self.invalidations.load(Ordering::SeqCst) == seen,
        );
    }

    fn get(&self, id: &SessionId, now_ms: u64) -> Option<Cached> {
        self.entries.get(id, |(cached, at)| {
            self.fresh(*at, now_ms).then(|| cached.clone())
        })
    }
}

// A tag's sessions share a shard: a change of one tag's users (a ban, a JWT bump, a
// restriction), which users can cause at will, walks that shard, not the whole cache.
impl Grouped for SessionId {
    fn group(&self) -> Option<u64> {
        Some(u64::from(self.tag()))
    }
}

// Each message is passed on to the relay after the cache forgot what it names (no
// receiver yet is no error: nothing watches).
impl Follower for Shared {
    fn ended(&self, ended: &[(SessionId, EndReason)], note: Option<&Note>) {
        self.forget(ended.iter().map(|(id, _)| *id));
        let _ = self
            .relay
            .send(Revoked::Sessions(ended.into(), note.cloned()));
    }

    fn resync(&self) {
        self.forget_all();
        self.lost.store(false, Ordering::SeqCst);
        let _ = self.relay.send(Revoked::Resync);
    }

    fn lost(&self) {
        // Raised before the entries go: a read that began before is voided by the
        // invalidation, one that begins after finds the flag.
        self.lost.store(true, Ordering::SeqCst);
        self.forget_all();
        let _ = self.relay.send(Revoked::Lost);
    }

    fn changed(&self, tag: u16) {
        self.forget_tag(tag);
        let _ = self.relay.send(Revoked::Changed(tag));
    }

    fn updated(&self, id: SessionId) {
        self.forget([id]);
        let _ = self.relay.send(Revoked::Updated(id));
    }

    fn closed(&self) {
        self.forget_all();
    }
}

/// The record of a session-mode read that names a session not ended: what the cache
/// keeps (a lookup), and without which it forgets its copy (a watch's re-check).
fn open(read: &Result<Option<SessionRecord>, StoreError>) -> Option<&SessionRecord> {
    read.as_ref().ok()?.as_ref().filter(|r| r.ended.is_none())
}

impl<S: Store> NearCache<S> {
    /// Caches `inner`'s validated sessions for at most `max_age` (keep it short: it is
    /// the staleness bound when a message is lost), up to 65,536 sessions.
    pub fn new(inner: S, max_age: Duration) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                entries: Bounded::new(CAPACITY),
                max_age_ms: millis(max_age),
                following: Following::default(),
                lost: AtomicBool::new(false),
                invalidations: AtomicU64::new(0),
                relay: broadcast::channel(FEED_CAPACITY).0,
            }),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Starts following the store's revocation feed; until then nothing is cached.
    fn listening(&self) -> bool {
        self.shared.following.alive()
            || self
                .shared
                .following
                .ensure(&self.shared, || self.inner.revocations())
    }

    fn forget_infos(&self, infos: &[SessionInfo]) {
        self.shared.forget(infos.iter().map(|s| s.session_id));
    }
}

/// A store read through the cache: answered from it, or from the store (then cached
/// if the answer is a live session). The future of both [`SessionStore::lookup`] and
/// `JwtStore::jwt_check` of a [`NearCache`].
pub struct CachedCheck<F: Future>(Source<F>);

impl<F: Future> std::fmt::Debug for CachedCheck<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0 {
            Source::Hit(_) => "hit",
            Source::Miss(..) => "miss",
        };
        f.debug_tuple("CachedCheck").field(&state).finish()
    }
}

/// Where a cached check's answer comes from: the cache, or the store (then kept).
enum Source<F: Future> {
    Hit(Ready<F::Output>),
    Miss(F, Option<Fill<F::Output>>),
}

/// Where a store's answer goes once it arrives: the cache, if it names a live session
/// and `keep`; else (a watch's re-check) an answer that names no live session takes the
/// stale copy out, so requests read the store too.
struct Fill<O> {
    shared: Arc<Shared>,
    id: SessionId,
    now_ms: u64,
    /// The invalidation count when the read began.
    seen: u64,
    /// The digest of the token read (session mode).
    digest: [u8; 32],
    live: fn(&O, [u8; 32]) -> Option<Cached>,
    keep: bool,
}

impl<F, T> Future for CachedCheck<F>
where
    F: Future<Output = Result<T, StoreError>> + Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.get_mut().0 {
            Source::Hit(ready) => Pin::new(ready).poll(cx),
            Source::Miss(fut, fill) => {
                let out = std::task::ready!(Pin::new(fut).poll(cx));
                if let Some(fill) = fill.take() {
                    match ((fill.live)(&out, fill.digest), fill.keep) {
                        (Some(cached), true) => {
                            fill.shared.put(fill.id, cached, fill.now_ms, fill.seen);
                        }
                        (None, false) => fill.shared.forget([fill.id]),
                        _ => {}
                    }
                }
                Poll::Ready(out)
            }
        }
    }
}

impl<S: Store> NearCache<S> {
    /// A read of session `id` through the cache: `hit` turns a cached entry into the
    /// answer, `live` a store answer into an entry. A read that is not `cacheable` (a
    /// watch's re-check) goes to the store, and takes out the entry if the answer shows
    /// it stale.
    #[allow(clippy::too_many_arguments)]
    fn through<F, T>(
        &self,
        id: Option<SessionId>,
        digest: [u8; 32],
        cacheable: bool,
        now_ms: u64,
        hit: impl FnOnce(Cached) -> Option<T>,
        live: fn(&Result<T, StoreError>, [u8; 32]) -> Option<Cached>,
        read: impl FnOnce() -> F,
    ) -> CachedCheck<F>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        // Read before the store is asked, and before the feed is found followed: an
        // invalidation from now on (the feed's end included) voids the answer.
        let seen = self.shared.invalidations.load(Ordering::SeqCst);
        let id = id.filter(|_| self.listening() && !self.shared.lost.load(Ordering::SeqCst));
        let cached = id
            .filter(|_| cacheable)
            .and_then(|id| self.shared.get(&id, now_ms));
        if let Some(value) = cached.and_then(hit) {
            return CachedCheck(Source::Hit(ready(Ok(value))));
        }
        let fill = id.map(|id| Fill {
            shared: self.shared.clone(),
            id,
            now_ms,
            seen,
            digest,
            live,
            keep: cacheable,
        });
        CachedCheck(Source::Miss(read(), fill))
    }
}

impl<S: Store> Store for NearCache<S> {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.inner.unban(user_id, now_ms).await
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        self.inner.banned_until(user_id, now_ms).await
    }

    async fn restrict(
        &self,
        user_id: &str,
        restriction: &crate::restriction::Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let done = self.inner.restrict(user_id, restriction, now_ms).await;
        // Every request of the user reads its restrictions from here on.
        self.shared.forget_tag(crate::token::user_tag(user_id));
        done
    }

    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let done = self.inner.unrestrict(user_id, scope, now_ms).await;
        // Every request of the user reads its restrictions from here on.
        self.shared.forget_tag(crate::token::user_tag(user_id));
        done
    }

    async fn restrictions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<crate::restriction::Restrictions, StoreError> {
        self.inner.restrictions(user_id, now_ms).await
    }

    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        // While the cache follows the store, what follows the cache hears each message
        // after the cache acted on it; otherwise the cache holds nothing to be stale.
        if self.listening() {
            Some(self.shared.relay.subscribe())
        } else {
            self.inner.revocations()
        }
    }

    fn audit_feed(&self) -> Option<broadcast::Receiver<super::audit::AuditEvent>> {
        self.inner.audit_feed()
    }

    fn audit(&self, event: &super::audit::AuditEvent) {
        self.inner.audit(event);
    }

    fn audit_wanted(&self) -> bool {
        self.inner.audit_wanted()
    }
}

impl<S: SessionStore> SessionStore for NearCache<S> {
    type Lookup = CachedCheck<S::Lookup>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        // A renewal that is due is a write: it goes to the store (whose answer shows
        // it, so the next hits are not due). A hit must present the whole digest the
        // record was read with.
        let digest = *key.digest();
        let due = move |r: &SessionRecord| touch.is_some_and(|t| t.due(r.last_seen_ms, now_ms));
        self.through(
            Some(key.session_id()),
            digest,
            true,
            now_ms,
            |cached| match cached {
                // A record that would not open this request goes to the store: a
                // request, a renewal or a refresh on another instance may have moved
                // its deadlines (the store's word on time).
                Cached::Session(record, d)
                    if d == digest && !due(&record) && record.token_is_live(now_ms) =>
                {
                    Some(Some(record))
                }
                Cached::Session(..) => None,
                #[cfg(feature = "jwt")]
                Cached::Jwt(_) => None,
            },
            |read, digest| open(read).map(|r| Cached::Session(r.clone(), digest)),
            || self.inner.lookup(key, touch, now_ms),
        )
    }

    // A watch's re-check of a session by id reads the store: no request reads a
    // record this way, so there is no copy to keep. One that finds the session over
    // takes out the copy requests read (the re-check makes good a lost message).
    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let read = self.inner.lookup_session(id, now_ms).await;
        if open(&read).is_none() {
            self.shared.forget([id]);
        }
        read
    }

    async fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let tag = session.key.session_id().tag();
        let created = self.inner.create(session, now_ms).await;
        // The user's sessions go, not only those the answer names: a call may have run
        // and its answer named nothing (an error after a lost reply, or a network
        // store's client sending it again, whose second run replaces nothing). One
        // shard's walk.
        if matches!(created, Ok(Admission::Admitted(_)) | Err(_)) {
            self.shared.forget_tag(tag);
        }
        created
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        if let Target::Token(key) = target {
            self.shared.forget([key.session_id()]);
        }
        let ended = self.inner.end(target, reason, note, now_ms).await;
        if let Ok(ended) = &ended {
            self.forget_infos(ended);
        }
        // What the target names goes whatever the answer: a call may have run and its
        // answer named nothing (an error after a lost reply, or a network store's client
        // sending the call again, whose second run finds nothing left to end). For a
        // token, again: a read since the first forget may have put it back.
        match target {
            Target::Token(key) => self.shared.forget([key.session_id()]),
            Target::Session(id) | Target::SessionOf { session_id: id, .. } => {
                self.shared.forget([id]);
            }
            Target::User { user_id, .. } | Target::Others { user_id, .. } => {
                self.shared.forget_tag(crate::token::user_tag(user_id));
            }
        }
        ended
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.inner.ban(user_id, until_ms, note, now_ms).await;
        // A ban ends the user's JWTs too (one generation bump): see jwt_end. Whatever
        // it answered, some of it may have been done.
        self.shared.forget_tag(crate::token::user_tag(user_id));
        ended
    }

    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner.sessions(user_id, now_ms).await
    }

    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        let elevated = self.inner.elevate(elevation, now_ms).await;
        // The session's next request reads its window (other instances learn of it
        // through the feed).
        self.shared.forget([elevation.session_id]);
        elevated
    }

    async fn close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let closed = self.inner.close_elevation(user_id, id, scope, now_ms).await;
        self.shared.forget([id]);
        closed
    }

    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let id = renewal.key.session_id();
        self.shared.forget([id]);
        let renewed = self.inner.renew(renewal, now_ms).await;
        // Again after it: a lookup that read the record between the first forget and the
        // renewal would otherwise keep serving the old deadline.
        self.shared.forget([id]);
        renewed
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.inner.online(page, now_ms).await
    }

    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        let rotated = self.inner.refresh(rotation, now_ms).await;
        // Whatever it did, the session's cached record is stale.
        self.shared.forget([rotation.presented.session_id()]);
        rotated
    }
}

#[cfg(feature = "jwt")]
impl<S: JwtStore> JwtStore for NearCache<S> {
    type JwtCheck = CachedCheck<S::JwtCheck>;

    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        // A JWT's session id is its whole `jti`: nothing more to compare. A sight to
        // record goes to the store, and so does a watch's re-check (it makes good a
        // message the cache may have missed).
        let seen = token.seen_until_ms.is_some();
        self.through(
            SessionId::from_jti(token.tag, token.jti),
            [0; 32],
            !token.recheck,
            now_ms,
            |cached| match cached {
                // Idle by the cached sight: another instance may have seen it since.
                Cached::Jwt(status) if !seen && !token.idle_over(status.last_seen_ms, now_ms) => {
                    Some(status)
                }
                Cached::Jwt(_) => None,
                Cached::Session(..) => None,
            },
            |status, _| match status {
                Ok(s) if s.known && s.ended.is_none() => Some(Cached::Jwt(s.clone())),
                _ => None,
            },
            || self.inner.jwt_check(token, now_ms),
        )
    }

    async fn jwt_issue(
        &self,
        issue: JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<JwtGrant>, StoreError> {
        let tag = crate::token::user_tag(&issue.user_id);
        let issued = self.inner.jwt_issue(issue, now_ms).await;
        // As for a session-mode login: the user's tokens go, whatever the answer named
        // (a bump also ends tokens no list names, those in their leeway).
        if matches!(issued, Ok(Admission::Admitted(_)) | Err(_)) {
            self.shared.forget_tag(tag);
        }
        issued
    }

    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        let elevated = self.inner.jwt_elevate(elevation, now_ms).await;
        self.shared.forget([elevation.session_id]);
        elevated
    }

    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let closed = self
            .inner
            .jwt_close_elevation(user_id, id, scope, now_ms)
            .await;
        self.shared.forget([id]);
        closed
    }

    async fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let ends = match self.inner.jwt_end(target, reason, note, now_ms).await {
            Ok(ends) => ends,
            Err(error) => {
                // It may have run (a lost reply), a bump included: the user's tokens
                // are read again, or a retry that finds nothing left would forget
                // nothing.
                let tag = match target {
                    JwtTarget::User { user_id, .. } | JwtTarget::Others { user_id, .. } => {
                        crate::token::user_tag(user_id)
                    }
                    JwtTarget::Token { session_id, .. } | JwtTarget::Session(session_id) => {
                        session_id.tag()
                    }
                };
                self.shared.forget_tag(tag);
                return Err(error);
            }
        };
        match target {
            // A generation bump ends every older token of the user (or device), also
            // ones its index no longer lists (pruned by another instance's clock); and
            // the others of a user go whatever the answer named (see `end`).
            JwtTarget::User { user_id, .. } | JwtTarget::Others { user_id, .. } => {
                self.shared.forget_tag(crate::token::user_tag(user_id));
            }
            // The token goes whatever the answer: a call a network store's client sent
            // again answers its second run, which finds nothing left to end.
            JwtTarget::Token { session_id, .. } | JwtTarget::Session(session_id) => {
                self.forget_infos(&ends.ended);
                self.shared.forget([session_id]);
                // A blacklist overflow is a bump.
                if !ends.replaced.is_empty() {
                    self.shared.forget_tag(session_id.tag());
                }
            }
        }
        Ok(ends)
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.inner.jwt_online(page, now_ms).await
    }

    async fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<JwtRefreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let rotated = self.inner.jwt_refresh(rotation, now_ms).await;
        self.shared.forget([id]);
        match &rotated {
            // A blacklist overflow is a bump; a failed call may have been one.
            Ok(Rotated::Reused(ends)) if !ends.replaced.is_empty() => {
                self.shared.forget_tag(id.tag());
            }
            Err(_) => self.shared.forget_tag(id.tag()),
            Ok(_) => {}
        }
        rotated
    }

    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.inner.jwt_ban(user_id, until_ms, note, now_ms).await;
        // One generation bump (see jwt_end), and the user's sessions: see `ban`.
        self.shared.forget_tag(crate::token::user_tag(user_id));
        ended
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner.jwt_sessions(user_id, now_ms).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{contract::SessionInfo, memory::MemoryStore};
    use std::sync::Arc as StdArc;

    /// Two tokens whose session ids agree (96 bits of digest) but whose digests do not:
    /// a hit needs the whole digest, as the store's lookup does.
    #[tokio::test]
    async fn a_hit_needs_the_whole_digest() {
        let near = NearCache::new(MemoryStore::new(), Duration::from_secs(60));
        let (_, key) = SessionKey::generate(7).unwrap();
        let mut forged = *key.digest();
        forged[31] ^= 1;
        let twin = SessionKey::from_parts(key.session_id(), forged);
        assert_eq!(twin.session_id(), key.session_id());
        let record = SessionRecord {
            info: SessionInfo {
                session_id: key.session_id(),
                user_id: StdArc::from("u"),
                device: StdArc::from("web"),
                issued_at_ms: 0,
                expires_at_ms: u64::MAX,
            },
            idle_deadline_ms: None,
            ended: None,
            ban_until_ms: None,
            last_seen_ms: 0,
            lifetime_ms: u64::MAX,
            idle_ms: None,
            access_until_ms: None,
            restrictions: Default::default(),
            elevations: Default::default(),
        };
        let now = 1_000;
        assert!(near.listening(), "the memory store's feed is followed");
        let seen = near.shared.invalidations.load(Ordering::SeqCst);
        near.shared.put(
            key.session_id(),
            Cached::Session(record, *key.digest()),
            now,
            seen,
        );
        assert!(
            near.lookup(&key, None, now).await.unwrap().is_some(),
            "the real token hits"
        );
        // The twin misses the cache and asks the store, which knows no such token.
        assert!(near.lookup(&twin, None, now).await.unwrap().is_none());
    }
}
