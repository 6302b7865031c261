//! A store chosen at run time: [`AnyStore`] holds any store behind one type, so an
//! application picks memory, Redis or PostgreSQL from its configuration and the rest of
//! it (handlers, state, the layer) names one concrete `Auth<AnyStore>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::audit::AuditEvent;
use super::contract::{
    Admission, Elevated, Elevation, EndReason, Revoked, SessionEntry, SessionInfo, Store,
    StoreError,
};
use super::directory::{Page, PageRequest};
use super::refresh::{Refreshed, Rotated, Rotation};
use super::session::{NewSession, Renewal, SessionRecord, SessionStore, Target, Touch};
use crate::note::Note;
use crate::restriction::{Restriction, Restrictions, Scope};
use crate::token::{SessionId, SessionKey};

/// A store's answer, boxed: what [`AnyStore`]'s futures are.
pub type AnyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Any store, chosen at run time: the memory store, `RedisStore`, `PostgresStore`, a
/// `NearCache` over one of them, or a store of your own. Clones share the store.
///
/// Each operation costs one allocation more than on the store itself (its future is
/// boxed); the store's own work (a lock, a round trip) is the same.
///
/// ```
/// use kickout::{Auth, store::{AnyStore, MemoryStore}};
///
/// // What the configuration says (here: nothing, so the embedded store).
/// let store = match std::env::var("REDIS_URL").ok() {
///     // Some(url) => AnyStore::new(RedisStore::connect(&url).await?),
///     _ => AnyStore::new(MemoryStore::new()),
/// };
/// let auth: Auth<AnyStore> = Auth::new(store);
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct AnyStore(Arc<dyn Erased>);

impl std::fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnyStore").finish_non_exhaustive()
    }
}

impl AnyStore {
    /// Holds `store` (a store of both modes when the `jwt` feature is on).
    #[cfg(feature = "jwt")]
    pub fn new<S: SessionStore + super::jwt::JwtStore>(store: S) -> Self {
        Self(Arc::new(store))
    }

    /// Holds `store`.
    #[cfg(not(feature = "jwt"))]
    pub fn new<S: SessionStore>(store: S) -> Self {
        Self(Arc::new(store))
    }
}

/// The store contracts with boxed futures, so one type can hold any store.
trait Erased: Send + Sync + 'static {
    fn unban<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, bool>;
    fn banned_until<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Option<u64>>;
    fn restrict<'a>(
        &'a self,
        user_id: &'a str,
        r: &'a Restriction,
        now_ms: u64,
    ) -> AnyFuture<'a, bool>;
    fn unrestrict<'a>(
        &'a self,
        user_id: &'a str,
        scope: &'a Scope,
        now_ms: u64,
    ) -> AnyFuture<'a, bool>;
    fn restrictions<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Restrictions>;
    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>>;
    fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>>;
    fn audit(&self, event: &AuditEvent);
    fn audit_wanted(&self) -> bool;

    fn create(&self, new: NewSession, now_ms: u64) -> AnyFuture<'_, Admission<Vec<SessionInfo>>>;
    fn lookup(
        &self,
        key: &SessionKey,
        touch: Option<Touch>,
        now_ms: u64,
    ) -> AnyFuture<'static, Option<SessionRecord>>;
    fn lookup_session(&self, id: SessionId, now_ms: u64) -> AnyFuture<'_, Option<SessionRecord>>;
    fn end<'a>(
        &'a self,
        target: Target<'a>,
        reason: EndReason,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, Vec<SessionInfo>>;
    fn ban<'a>(
        &'a self,
        user_id: &'a str,
        until_ms: u64,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, Vec<SessionInfo>>;
    fn sessions<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Vec<SessionEntry>>;
    fn elevate<'a>(&'a self, elevation: Elevation<'a>, now_ms: u64) -> AnyFuture<'a, Elevated>;
    fn close_elevation<'a>(
        &'a self,
        user_id: &'a str,
        id: SessionId,
        scope: &'a Scope,
        now_ms: u64,
    ) -> AnyFuture<'a, bool>;
    fn renew<'a>(&'a self, renewal: Renewal<'a>, now_ms: u64)
    -> AnyFuture<'a, Option<SessionInfo>>;
    fn refresh<'a>(
        &'a self,
        rotation: Rotation<'a>,
        now_ms: u64,
    ) -> AnyFuture<'a, Rotated<Refreshed>>;
    fn online<'a>(&'a self, page: PageRequest<'a>, now_ms: u64) -> AnyFuture<'a, Page>;

    #[cfg(feature = "jwt")]
    fn jwt(&self) -> &dyn ErasedJwt;
}

/// JWT mode's contract, boxed likewise.
#[cfg(feature = "jwt")]
trait ErasedJwt: Send + Sync {
    fn check(
        &self,
        token: super::jwt::JwtToken<'_>,
        now_ms: u64,
    ) -> AnyFuture<'static, super::jwt::JwtStatus>;
    fn issue(
        &self,
        issue: super::jwt::JwtIssue,
        now_ms: u64,
    ) -> AnyFuture<'_, Admission<super::jwt::JwtGrant>>;
    fn elevate<'a>(&'a self, elevation: Elevation<'a>, now_ms: u64) -> AnyFuture<'a, Elevated>;
    fn close_elevation<'a>(
        &'a self,
        user_id: &'a str,
        id: SessionId,
        scope: &'a Scope,
        now_ms: u64,
    ) -> AnyFuture<'a, bool>;
    fn end<'a>(
        &'a self,
        target: super::jwt::JwtTarget<'a>,
        reason: EndReason,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, super::contract::Ends>;
    fn ban<'a>(
        &'a self,
        user_id: &'a str,
        until_ms: u64,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, Vec<SessionInfo>>;
    fn refresh<'a>(
        &'a self,
        rotation: super::refresh::JwtRotation<'a>,
        now_ms: u64,
    ) -> AnyFuture<'a, Rotated<super::jwt::JwtRefreshed>>;
    fn online<'a>(&'a self, page: PageRequest<'a>, now_ms: u64) -> AnyFuture<'a, Page>;
    fn sessions<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Vec<SessionEntry>>;
}

/// Every store is erasable: each method boxes the store's own future.
macro_rules! erase_session {
    () => {
        fn unban<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, bool> {
            Box::pin(Store::unban(self, user_id, now_ms))
        }
        fn banned_until<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Option<u64>> {
            Box::pin(Store::banned_until(self, user_id, now_ms))
        }
        fn restrict<'a>(
            &'a self,
            user_id: &'a str,
            r: &'a Restriction,
            now_ms: u64,
        ) -> AnyFuture<'a, bool> {
            Box::pin(Store::restrict(self, user_id, r, now_ms))
        }
        fn unrestrict<'a>(
            &'a self,
            user_id: &'a str,
            scope: &'a Scope,
            now_ms: u64,
        ) -> AnyFuture<'a, bool> {
            Box::pin(Store::unrestrict(self, user_id, scope, now_ms))
        }
        fn restrictions<'a>(
            &'a self,
            user_id: &'a str,
            now_ms: u64,
        ) -> AnyFuture<'a, Restrictions> {
            Box::pin(Store::restrictions(self, user_id, now_ms))
        }
        fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
            Store::revocations(self)
        }
        fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>> {
            Store::audit_feed(self)
        }
        fn audit(&self, event: &AuditEvent) {
            Store::audit(self, event)
        }
        fn audit_wanted(&self) -> bool {
            Store::audit_wanted(self)
        }
        fn create(
            &self,
            new: NewSession,
            now_ms: u64,
        ) -> AnyFuture<'_, Admission<Vec<SessionInfo>>> {
            Box::pin(SessionStore::create(self, new, now_ms))
        }
        fn lookup(
            &self,
            key: &SessionKey,
            touch: Option<Touch>,
            now_ms: u64,
        ) -> AnyFuture<'static, Option<SessionRecord>> {
            Box::pin(SessionStore::lookup(self, key, touch, now_ms))
        }
        fn lookup_session(
            &self,
            id: SessionId,
            now_ms: u64,
        ) -> AnyFuture<'_, Option<SessionRecord>> {
            Box::pin(SessionStore::lookup_session(self, id, now_ms))
        }
        fn end<'a>(
            &'a self,
            target: Target<'a>,
            reason: EndReason,
            note: Option<&'a Note>,
            now_ms: u64,
        ) -> AnyFuture<'a, Vec<SessionInfo>> {
            Box::pin(SessionStore::end(self, target, reason, note, now_ms))
        }
        fn ban<'a>(
            &'a self,
            user_id: &'a str,
            until_ms: u64,
            note: Option<&'a Note>,
            now_ms: u64,
        ) -> AnyFuture<'a, Vec<SessionInfo>> {
            Box::pin(SessionStore::ban(self, user_id, until_ms, note, now_ms))
        }
        fn sessions<'a>(
            &'a self,
            user_id: &'a str,
            now_ms: u64,
        ) -> AnyFuture<'a, Vec<SessionEntry>> {
            Box::pin(SessionStore::sessions(self, user_id, now_ms))
        }
        fn elevate<'a>(&'a self, elevation: Elevation<'a>, now_ms: u64) -> AnyFuture<'a, Elevated> {
            Box::pin(SessionStore::elevate(self, elevation, now_ms))
        }
        fn close_elevation<'a>(
            &'a self,
            user_id: &'a str,
            id: SessionId,
            scope: &'a Scope,
            now_ms: u64,
        ) -> AnyFuture<'a, bool> {
            Box::pin(SessionStore::close_elevation(
                self, user_id, id, scope, now_ms,
            ))
        }
        fn renew<'a>(
            &'a self,
            renewal: Renewal<'a>,
            now_ms: u64,
        ) -> AnyFuture<'a, Option<SessionInfo>> {
            Box::pin(SessionStore::renew(self, renewal, now_ms))
        }
        fn refresh<'a>(
            &'a self,
            rotation: Rotation<'a>,
            now_ms: u64,
        ) -> AnyFuture<'a, Rotated<Refreshed>> {
            Box::pin(SessionStore::refresh(self, rotation, now_ms))
        }
        fn online<'a>(&'a self, page: PageRequest<'a>, now_ms: u64) -> AnyFuture<'a, Page> {
            Box::pin(SessionStore::online(self, page, now_ms))
        }
    };
}

#[cfg(feature = "jwt")]
impl<S: SessionStore + super::jwt::JwtStore> Erased for S {
    erase_session!();

    fn jwt(&self) -> &dyn ErasedJwt {
        self
    }
}

#[cfg(not(feature = "jwt"))]
impl<S: SessionStore> Erased for S {
    erase_session!();
}

#[cfg(feature = "jwt")]
impl<S: super::jwt::JwtStore> ErasedJwt for S {
    fn check(
        &self,
        token: super::jwt::JwtToken<'_>,
        now_ms: u64,
    ) -> AnyFuture<'static, super::jwt::JwtStatus> {
        Box::pin(super::jwt::JwtStore::jwt_check(self, token, now_ms))
    }
    fn issue(
        &self,
        issue: super::jwt::JwtIssue,
        now_ms: u64,
    ) -> AnyFuture<'_, Admission<super::jwt::JwtGrant>> {
        Box::pin(super::jwt::JwtStore::jwt_issue(self, issue, now_ms))
    }
    fn elevate<'a>(&'a self, elevation: Elevation<'a>, now_ms: u64) -> AnyFuture<'a, Elevated> {
        Box::pin(super::jwt::JwtStore::jwt_elevate(self, elevation, now_ms))
    }
    fn close_elevation<'a>(
        &'a self,
        user_id: &'a str,
        id: SessionId,
        scope: &'a Scope,
        now_ms: u64,
    ) -> AnyFuture<'a, bool> {
        Box::pin(super::jwt::JwtStore::jwt_close_elevation(
            self, user_id, id, scope, now_ms,
        ))
    }
    fn end<'a>(
        &'a self,
        target: super::jwt::JwtTarget<'a>,
        reason: EndReason,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, super::contract::Ends> {
        Box::pin(super::jwt::JwtStore::jwt_end(
            self, target, reason, note, now_ms,
        ))
    }
    fn ban<'a>(
        &'a self,
        user_id: &'a str,
        until_ms: u64,
        note: Option<&'a Note>,
        now_ms: u64,
    ) -> AnyFuture<'a, Vec<SessionInfo>> {
        Box::pin(super::jwt::JwtStore::jwt_ban(
            self, user_id, until_ms, note, now_ms,
        ))
    }
    fn refresh<'a>(
        &'a self,
        rotation: super::refresh::JwtRotation<'a>,
        now_ms: u64,
    ) -> AnyFuture<'a, Rotated<super::jwt::JwtRefreshed>> {
        Box::pin(super::jwt::JwtStore::jwt_refresh(self, rotation, now_ms))
    }
    fn online<'a>(&'a self, page: PageRequest<'a>, now_ms: u64) -> AnyFuture<'a, Page> {
        Box::pin(super::jwt::JwtStore::jwt_online(self, page, now_ms))
    }
    fn sessions<'a>(&'a self, user_id: &'a str, now_ms: u64) -> AnyFuture<'a, Vec<SessionEntry>> {
        Box::pin(super::jwt::JwtStore::jwt_sessions(self, user_id, now_ms))
    }
}

impl Store for AnyStore {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.0.unban(user_id, now_ms).await
    }
    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        self.0.banned_until(user_id, now_ms).await
    }
    async fn restrict(
        &self,
        user_id: &str,
        restriction: &Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.0.restrict(user_id, restriction, now_ms).await
    }
    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.0.unrestrict(user_id, scope, now_ms).await
    }
    async fn restrictions(&self, user_id: &str, now_ms: u64) -> Result<Restrictions, StoreError> {
        self.0.restrictions(user_id, now_ms).await
    }
    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        self.0.revocations()
    }
    fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>> {
        self.0.audit_feed()
    }
    fn audit(&self, event: &AuditEvent) {
        self.0.audit(event);
    }
    fn audit_wanted(&self) -> bool {
        self.0.audit_wanted()
    }
}

impl SessionStore for AnyStore {
    type Lookup = AnyFuture<'static, Option<SessionRecord>>;

    async fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        self.0.create(session, now_ms).await
    }
    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        self.0.lookup(key, touch, now_ms)
    }
    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.0.lookup_session(id, now_ms).await
    }
    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.0.end(target, reason, note, now_ms).await
    }
    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.0.ban(user_id, until_ms, note, now_ms).await
    }
    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionEntry>, StoreError> {
        self.0.sessions(user_id, now_ms).await
    }
    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        self.0.elevate(elevation, now_ms).await
    }
    async fn close_elevation(
        &self,
        user_id: &str,
        session_id: SessionId,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.0
            .close_elevation(user_id, session_id, scope, now_ms)
            .await
    }
    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.0.renew(renewal, now_ms).await
    }
    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        self.0.refresh(rotation, now_ms).await
    }
    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.0.online(page, now_ms).await
    }
}

#[cfg(feature = "jwt")]
impl super::jwt::JwtStore for AnyStore {
    type JwtCheck = AnyFuture<'static, super::jwt::JwtStatus>;

    fn jwt_check(&self, token: super::jwt::JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        self.0.jwt().check(token, now_ms)
    }
    async fn jwt_issue(
        &self,
        issue: super::jwt::JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<super::jwt::JwtGrant>, StoreError> {
        self.0.jwt().issue(issue, now_ms).await
    }
    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        self.0.jwt().elevate(elevation, now_ms).await
    }
    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        session_id: SessionId,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.0
            .jwt()
            .close_elevation(user_id, session_id, scope, now_ms)
            .await
    }
    async fn jwt_end(
        &self,
        target: super::jwt::JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<super::contract::Ends, StoreError> {
        self.0.jwt().end(target, reason, note, now_ms).await
    }
    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.0.jwt().ban(user_id, until_ms, note, now_ms).await
    }
    async fn jwt_refresh(
        &self,
        rotation: super::refresh::JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<super::jwt::JwtRefreshed>, StoreError> {
        self.0.jwt().refresh(rotation, now_ms).await
    }
    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.0.jwt().online(page, now_ms).await
    }
    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.0.jwt().sessions(user_id, now_ms).await
    }
}
