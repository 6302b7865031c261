//! A near cache of validated sessions, in front of a shared store.

use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{
    Created, EndReason, JwtEntry, JwtIssued, JwtStatus, JwtTarget, JwtToken, NewSession, Revoked,
    SessionInfo, SessionRecord, Store, StoreError, Target, Touch,
};
use crate::policy::LoginRule;
use crate::token::{SessionId, SessionKey};

const SHARDS: usize = 16;

/// Keeps validated sessions for at most `max_age` in this process, so most requests
/// skip the network round trip; invalidated by the store's revocation feed (Redis
/// pub/sub) and by every write through it. Off unless you wrap your store in it.
///
/// **Staleness bound**: a revocation made on another instance reaches this one through
/// the feed at once; if its message is lost, the cached session is refused anyway once
/// its entry is `max_age` old. A lost feed connection clears the cache when it comes
/// back. So a revoked token is accepted for at most `max_age` after the revocation, and
/// only when a message was lost. Requests that renew an idle timeout always go to the
/// store (the renewal is a write).
///
/// ```no_run
/// # async fn run() -> Result<(), kickout::store::StoreError> {
/// use std::time::Duration;
/// use kickout::{Auth, store::{NearCache, RedisStore}};
///
/// let store = NearCache::new(RedisStore::connect("redis://127.0.0.1:6379").await?, Duration::from_secs(1));
/// let auth = Auth::new(store);
/// # Ok(()) }
/// ```
pub struct NearCache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for NearCache<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

enum Cached {
    Session(SessionRecord),
    Jwt(JwtStatus),
}

struct Shared {
    shards: Vec<RwLock<HashMap<SessionId, (Cached, Instant)>>>,
    max_age: Duration,
    per_shard: usize,
    listening: AtomicBool,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl Shared {
    fn shard(&self, id: &SessionId) -> &RwLock<HashMap<SessionId, (Cached, Instant)>> {
        &self.shards[usize::from(id.as_bytes()[13]) % SHARDS]
    }

    fn forget(&self, ids: impl IntoIterator<Item = SessionId>) {
        for id in ids {
            self.shard(&id)
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    fn put(&self, id: SessionId, value: Cached) {
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard {
            let max_age = self.max_age;
            shard.retain(|_, (_, at)| at.elapsed() < max_age);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(id, (value, Instant::now()));
    }

    fn get_session(&self, id: &SessionId) -> Option<SessionRecord> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match shard.get(id) {
            Some((Cached::Session(record), at)) if at.elapsed() < self.max_age => {
                Some(record.clone())
            }
            _ => None,
        }
    }

    fn get_jwt(&self, id: &SessionId) -> Option<JwtStatus> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match shard.get(id) {
            Some((Cached::Jwt(status), at)) if at.elapsed() < self.max_age => Some(*status),
            _ => None,
        }
    }
}

impl<S: Store> NearCache<S> {
    /// Caches `inner`'s validated sessions for at most `max_age` (keep it short: it is
    /// the staleness bound when a message is lost), up to 65,536 sessions.
    pub fn new(inner: S, max_age: Duration) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                max_age,
                per_shard: 65_536 / SHARDS,
                listening: AtomicBool::new(false),
                listener: Mutex::new(None),
            }),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Starts following the store's revocation feed; until then nothing is cached.
    fn listening(&self) -> bool {
        if self.shared.listening.load(Ordering::Acquire) {
            return true;
        }
        let mut listener = self
            .shared
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if listener.is_none() {
            let (Some(feed), Ok(runtime)) = (
                self.inner.revocations(),
                tokio::runtime::Handle::try_current(),
            ) else {
                return false;
            };
            let weak = Arc::downgrade(&self.shared);
            *listener = Some(runtime.spawn(follow(weak, feed)));
            self.shared.listening.store(true, Ordering::Release);
        }
        self.shared.listening.load(Ordering::Acquire)
    }

    fn forget_infos(&self, infos: &[SessionInfo]) {
        self.shared.forget(infos.iter().map(|s| s.session_id));
    }
}

async fn follow(shared: std::sync::Weak<Shared>, mut feed: broadcast::Receiver<Revoked>) {
    loop {
        let message = feed.recv().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match message {
            Ok(Revoked::Sessions(ended)) => shared.forget(ended.iter().map(|(id, _)| *id)),
            Ok(Revoked::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => shared.clear(),
            Err(broadcast::error::RecvError::Closed) => {
                shared.clear();
                shared.listening.store(false, Ordering::Release);
                return;
            }
        }
    }
}

/// A lookup through the cache: answered from it, or from the store (then cached).
pub struct CachedLookup<F>(Via<F, Option<SessionRecord>>);

/// A JWT check through the cache.
pub struct CachedJwtCheck<F>(Via<F, JwtStatus>);

enum Via<F, T> {
    Hit(Ready<Result<T, StoreError>>),
    Miss(F, Option<(Arc<Shared>, SessionId)>),
}

impl<F> Future for CachedLookup<F>
where
    F: Future<Output = Result<Option<SessionRecord>, StoreError>> + Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.get_mut().0 {
            Via::Hit(ready) => Pin::new(ready).poll(cx),
            Via::Miss(fut, cache) => {
                let out = std::task::ready!(Pin::new(fut).poll(cx));
                if let (Ok(Some(record)), Some((shared, id))) = (&out, cache.take()) {
                    if record.ended.is_none() {
                        shared.put(id, Cached::Session(record.clone()));
                    }
                }
                Poll::Ready(out)
            }
        }
    }
}

impl<F> Future for CachedJwtCheck<F>
where
    F: Future<Output = Result<JwtStatus, StoreError>> + Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.get_mut().0 {
            Via::Hit(ready) => Pin::new(ready).poll(cx),
            Via::Miss(fut, cache) => {
                let out = std::task::ready!(Pin::new(fut).poll(cx));
                if let (Ok(status), Some((shared, id))) = (&out, cache.take()) {
                    if status.known && status.ended.is_none() {
                        shared.put(id, Cached::Jwt(*status));
                    }
                }
                Poll::Ready(out)
            }
        }
    }
}

impl<S: Store> Store for NearCache<S> {
    type Lookup = CachedLookup<S::Lookup>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        let id = key.session_id();
        // An idle renewal is a write: it goes to the store.
        let cacheable = touch.is_none() && self.listening();
        if cacheable {
            if let Some(record) = self.shared.get_session(&id) {
                // The cache holds only records whose digest matched once.
                return CachedLookup(Via::Hit(ready(Ok(Some(record)))));
            }
        }
        let cache = cacheable.then(|| (self.shared.clone(), id));
        CachedLookup(Via::Miss(self.inner.lookup(key, touch, now_ms), cache))
    }

    type JwtCheck = CachedJwtCheck<S::JwtCheck>;

    fn jwt_check(&self, user_id: &str, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let id = SessionId::from_jti(token.tag, token.jti);
        let cacheable = self.listening();
        if let (true, Some(id)) = (cacheable, id) {
            if let Some(status) = self.shared.get_jwt(&id) {
                return CachedJwtCheck(Via::Hit(ready(Ok(status))));
            }
        }
        let cache = id.filter(|_| cacheable).map(|id| (self.shared.clone(), id));
        CachedJwtCheck(Via::Miss(
            self.inner.jwt_check(user_id, token, now_ms),
            cache,
        ))
    }

    async fn create(
        &self,
        s: NewSession,
        rule: LoginRule,
        now_ms: u64,
    ) -> Result<Created, StoreError> {
        let created = self.inner.create(s, rule, now_ms).await?;
        if let Created::Created { replaced } = &created {
            self.forget_infos(replaced);
        }
        Ok(created)
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        if let Target::Token(key) = target {
            self.shared.forget([key.session_id()]);
        }
        let ended = self.inner.end(target, reason, now_ms).await?;
        self.forget_infos(&ended);
        Ok(ended)
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.inner.ban(user_id, until_ms, now_ms).await?;
        self.forget_infos(&ended);
        Ok(ended)
    }

    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.inner.unban(user_id, now_ms).await
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        self.inner.banned_until(user_id, now_ms).await
    }

    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.sessions(user_id, now_ms).await
    }

    async fn jwt_issue(
        &self,
        user_id: &str,
        jti: &str,
        entry: JwtEntry,
        rule: LoginRule,
        fresh_epoch: u64,
        now_ms: u64,
    ) -> Result<JwtIssued, StoreError> {
        let issued = self
            .inner
            .jwt_issue(user_id, jti, entry, rule, fresh_epoch, now_ms)
            .await?;
        if let JwtIssued::Issued { replaced, .. } = &issued {
            let tag = crate::token::user_tag(user_id);
            self.shared.forget(
                replaced
                    .iter()
                    .filter_map(|(j, _)| SessionId::from_jti(tag, j)),
            );
        }
        Ok(issued)
    }

    async fn jwt_end(
        &self,
        user_id: &str,
        target: JwtTarget<'_>,
        reason: EndReason,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.inner.jwt_end(user_id, target, reason, now_ms).await?;
        self.forget_infos(&ended);
        Ok(ended)
    }

    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let ended = self.inner.jwt_ban(user_id, until_ms, now_ms).await?;
        self.forget_infos(&ended);
        Ok(ended)
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.jwt_sessions(user_id, now_ms).await
    }

    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        self.inner.revocations()
    }

    async fn renew(
        &self,
        key: &SessionKey,
        expires_at_ms: u64,
        idle_deadline_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.shared.forget([key.session_id()]);
        self.inner
            .renew(key, expires_at_ms, idle_deadline_ms, now_ms)
            .await
    }
}
