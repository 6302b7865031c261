//! The conformance suite on the memory store, and what only the memory store promises:
//! bounded memory under churn.

use crate::suite;

use std::sync::Arc;
use std::time::Duration;

use kickout::store::{MemoryStats, MemoryStore, NearCache};
use kickout::{Auth, LoginRule};

use suite::run_suite;

mod session_mode {
    use super::*;
    suite::all_cases!(run_suite!(Some(((), MemoryStore::new())), suite::Session));
}

mod jwt_mode {
    use super::*;
    suite::all_cases!(run_suite!(Some(((), MemoryStore::new())), suite::Jwt));
}

/// The near cache keeps every promise of the store it wraps: the whole suite, on the
/// suite's manual clock (the cache ages entries on the handle's time).
fn near() -> Option<((), NearCache<MemoryStore>)> {
    Some((
        (),
        NearCache::new(MemoryStore::new(), Duration::from_secs(1)),
    ))
}

mod near_cache_session_mode {
    use super::*;
    suite::all_cases!(run_suite!(near(), suite::Session));
}

mod near_cache_jwt_mode {
    use super::*;
    suite::all_cases!(run_suite!(near(), suite::Jwt));
}

#[tokio::test]
async fn memory_stays_bounded_under_login_churn() {
    let store = MemoryStore::with_shards(8);
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock)
        .ttl(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(30))
        .expired_retention(Duration::from_secs(60))
        .login_rule(LoginRule::max_per_user(3))
        .build();
    // 100,000 logins over simulated hours: short sessions, kicks, bans, logouts.
    let mut peak = MemoryStats::default();
    for i in 0..100_000u32 {
        let user = format!("user{}", i % 5_000);
        let login = auth
            .login(&user, if i % 2 == 0 { "web" } else { "phone" })
            .await;
        match i % 10 {
            0 => {
                auth.kickout(&user).await.unwrap();
            }
            1 => {
                auth.logout(login.unwrap().token.as_str()).await.unwrap();
            }
            2 if i % 1000 == 2 => {
                auth.ban(&user, Duration::from_secs(5)).await.unwrap();
            }
            _ => {}
        }
        clock.advance(Duration::from_millis(100));
        let stats = store.stats();
        peak.sessions = peak.sessions.max(stats.sessions);
        peak.users = peak.users.max(stats.users);
    }
    // In steady state a session lives at most 60 s + 60 s retention = 1,200 logins.
    assert!(peak.sessions < 2_500, "peak {peak:?}");
    // Long after, everything is due; writes alone purge it, shard by shard.
    clock.advance(Duration::from_secs(3600));
    for i in 0..2_000 {
        auth.kickout(&format!("nobody{i}")).await.unwrap();
    }
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

#[tokio::test]
async fn one_account_logging_in_without_end_stays_bounded() {
    use kickout::limits::{MAX_ENDED, MAX_LIVE_TOKENS};
    // Day-long sessions: nothing is due for the whole loop, so only the bound on a
    // user's tombstones (and the queue's own cleaning) holds memory down.
    let store = MemoryStore::with_shards(1);
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock)
        .ttl(Duration::from_secs(86_400))
        .login_rule(LoginRule::one_per_device())
        .build();
    for i in 0..4 * MAX_ENDED {
        let login = auth.login("10001", "web").await.unwrap();
        if i % 3 == 0 {
            auth.logout(login.token.as_str()).await.unwrap();
        }
        if i % 100 == 0 {
            auth.kickout("10001").await.unwrap();
        }
        clock.advance(Duration::from_millis(10));
        let stats = store.stats();
        assert!(stats.sessions <= MAX_ENDED + 1, "{i}: {stats:?}");
        assert!(stats.queued <= 2 * (MAX_ENDED + 1) + 64, "{i}: {stats:?}");
    }
    // One user on ever new devices: live sessions are bounded by the live cap, ended
    // ones by this one.
    for i in 0..MAX_LIVE_TOKENS + MAX_ENDED + 10 {
        auth.login("10002", &format!("d{i}")).await.unwrap();
    }
    auth.kickout("10002").await.unwrap();
    let stats = store.stats();
    assert!(stats.sessions <= 2 * (MAX_ENDED + 1), "{stats:?}");
    clock.advance(Duration::from_secs(200_000));
    store.purge(suite::T0 + 200_000_000);
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn jwt_logins_without_end_keep_refresh_records_bounded() {
    use kickout::limits::MAX_REFRESH_TOKENS;
    use suite::Kind;
    let store = MemoryStore::with_shards(1);
    let clock = suite::clock();
    let auth = <suite::Jwt as Kind<MemoryStore>>::builder(store.clone(), &clock)
        .ttl(Duration::from_secs(60))
        .refresh_tokens(Duration::from_secs(30 * 86_400))
        .build();
    // Unlimited logins whose access tokens expire: the index sheds them, the refresh
    // records (kept to the sessions' end) are what could pile up.
    // Four times the bound: the queue items of forgotten records must go too.
    for _ in 0..4 * MAX_REFRESH_TOKENS {
        auth.login("10001", "web").await.unwrap();
        clock.advance(Duration::from_secs(1));
        let stats = store.stats();
        assert!(stats.jwt_refresh <= MAX_REFRESH_TOKENS, "{stats:?}");
        assert!(stats.queued <= 2 * MAX_REFRESH_TOKENS + 1_100, "{stats:?}");
    }
    clock.advance(Duration::from_secs(32 * 86_400));
    store.purge(suite::T0 + 40 * 86_400_000);
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

#[tokio::test]
async fn restrictions_repeated_and_lifted_leave_nothing_behind() {
    let store = MemoryStore::with_shards(8);
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock).build();
    // An automated moderator repeating itself: the same restrictions, over and over.
    for i in 0..10_000u32 {
        let user = format!("user{}", i % 50);
        let scope = format!("s{}", i % 4);
        let duration = Duration::from_secs(3_600 + u64::from(i % 7));
        auth.restrict(&user, &scope, 2, duration).await.unwrap();
        if i % 3 == 0 {
            auth.unrestrict(&user, &scope).await.unwrap();
        }
    }
    let stats = store.stats();
    assert!(stats.restricted <= 50, "{stats:?}");
    // The expiry queue holds about a user's scopes each, not one item per call.
    assert!(stats.queued <= 50 * 8, "{stats:?}");
    // Lifted ones are kept for the grace (a slower clock may still hold them).
    let gone = 3_700_000 + kickout::limits::PRUNE_GRACE_MS;
    clock.advance(Duration::from_millis(gone));
    store.purge(suite::T0 + gone);
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

#[tokio::test]
async fn repeated_bans_keep_one_queue_item_per_user() {
    let store = MemoryStore::with_shards(8);
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock).build();
    for i in 0..5_000u64 {
        let user = format!("user{}", i % 20);
        // Longer and shorter bans, over and over.
        auth.ban(&user, Duration::from_secs(600 + (i * 7) % 300))
            .await
            .unwrap();
    }
    let stats = store.stats();
    assert!(stats.queued <= 20 * 4, "{stats:?}");
    // Each lifts at its own end, whatever the order of the calls.
    assert!(auth.banned_until("user0").await.unwrap().is_some());
    clock.advance(Duration::from_secs(900));
    assert!(auth.banned_until("user0").await.unwrap().is_none());
    // Forgotten once past its end by the grace a slower clock may need.
    store.purge(suite::T0 + 900_000 + kickout::limits::PRUNE_GRACE_MS);
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

/// An automated moderator banning and lifting, restricting and lifting, and moving one
/// ban ever earlier, with year-long spans: each lift forgets its entry, and the entry's
/// queue item goes too. Before, every cycle left an item for the year.
#[tokio::test]
async fn lifted_bans_and_restrictions_leave_no_queue_items_behind() {
    use kickout::limits::MEMORY_PURGE_BUDGET;
    let store = MemoryStore::with_shards(1);
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock).build();
    let year = 365 * 86_400;
    for i in 0..3_000u64 {
        let user = format!("user{}", i % 20);
        auth.ban(&user, Duration::from_secs(year)).await.unwrap();
        assert!(auth.unban(&user).await.unwrap());
        auth.restrict(&user, "chat", 1, Duration::from_secs(year))
            .await
            .unwrap();
        assert!(auth.unrestrict(&user, "chat").await.unwrap());
        auth.ban("steady", Duration::from_secs(year - i))
            .await
            .unwrap();
        clock.advance(Duration::from_millis(100));
        let stats = store.stats();
        assert!(
            stats.queued <= 2 * MEMORY_PURGE_BUDGET + 64,
            "{i}: {stats:?}"
        );
    }
    assert!(auth.banned_until("steady").await.unwrap().is_some());
    let gone = year * 1_000 + 2 * kickout::limits::PRUNE_GRACE_MS;
    clock.advance(Duration::from_millis(gone));
    store.purge(suite::T0 + 300_000 + gone);
    assert_eq!(store.stats(), MemoryStats::default(), "nothing leaks");
}

#[tokio::test]
async fn purge_sweeps_everything_due() {
    let store = MemoryStore::new();
    let clock = suite::clock();
    let auth = suite::session_builder(store.clone(), &clock)
        .ttl(Duration::from_secs(10))
        .expired_retention(Duration::ZERO)
        .build();
    for i in 0..1000 {
        auth.login(&format!("u{i}"), "web").await.unwrap();
    }
    auth.ban("u1", Duration::from_secs(20)).await.unwrap();
    assert_eq!(store.stats().sessions, 1000);
    store.purge(suite::T0 + 10_000);
    let stats = store.stats();
    assert_eq!(
        (stats.sessions, stats.users),
        (0, 1),
        "the ban stands: {stats:?}"
    );
    store.purge(suite::T0 + 20_000 + kickout::limits::PRUNE_GRACE_MS);
    assert_eq!(store.stats(), MemoryStats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn once_kickout_returns_no_request_with_the_kicked_token_succeeds() {
    let auth = Auth::new(MemoryStore::new());
    let app = suite::app(&auth);
    for round in 0..20 {
        let user = format!("racer{round}");
        let tokens: Vec<_> = futures_tokens(&auth, &user, 8).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let kicked_at = std::sync::Arc::new(tokio::sync::OnceCell::<()>::new());
        let mut tasks = Vec::new();
        for t in 0..16 {
            let (app, token) = (app.clone(), tokens[t % tokens.len()].clone());
            let (stop, kicked_at) = (stop.clone(), kicked_at.clone());
            tasks.push(tokio::spawn(async move {
                let mut after = 0;
                while !stop.load(std::sync::atomic::Ordering::Acquire) || after < 5 {
                    // Read "kickout has returned" before sending the request.
                    let kicked = kicked_at.initialized();
                    let answer = suite::me(&app, &token).await;
                    if kicked {
                        assert_eq!(answer, suite::err(kickout::Reason::KickedOut));
                        after += 1;
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(auth.kickout(&user).await.unwrap(), 8);
        kicked_at.set(()).unwrap();
        stop.store(true, std::sync::atomic::Ordering::Release);
        for task in tasks {
            task.await.unwrap();
        }
    }
}

async fn futures_tokens(auth: &Auth, user: &str, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..n {
        let login = auth.login(user, &format!("d{i}")).await.unwrap();
        tokens.push(login.token.into_string());
    }
    tokens
}

/// A memory store whose lookups the test can hold open: the answer is read at once, and
/// handed over only when the gate lets it through.
#[derive(Clone)]
struct Held {
    inner: MemoryStore,
    gate: Arc<tokio::sync::Semaphore>,
    holding: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            inner: MemoryStore::new(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            holding: Arc::default(),
        }
    }
}

mod held_impl {
    use super::*;
    use kickout::SessionKey;
    use kickout::store::session::{NewSession, Renewal, SessionRecord, Target, Touch};
    use kickout::store::{Admission, EndReason, SessionInfo, SessionStore, Store, StoreError};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::Ordering;

    type Answer = Pin<Box<dyn Future<Output = Result<Option<SessionRecord>, StoreError>> + Send>>;

    impl Store for Held {
        async fn unban(&self, u: &str, now: u64) -> Result<bool, StoreError> {
            self.inner.unban(u, now).await
        }
        async fn banned_until(&self, u: &str, now: u64) -> Result<Option<u64>, StoreError> {
            self.inner.banned_until(u, now).await
        }
        async fn restrict(
            &self,
            u: &str,
            r: &kickout::restriction::Restriction,
            now: u64,
        ) -> Result<bool, StoreError> {
            self.inner.restrict(u, r, now).await
        }
        async fn unrestrict(
            &self,
            u: &str,
            s: &kickout::restriction::Scope,
            now: u64,
        ) -> Result<bool, StoreError> {
            self.inner.unrestrict(u, s, now).await
        }
        async fn restrictions(
            &self,
            u: &str,
            now: u64,
        ) -> Result<kickout::restriction::Restrictions, StoreError> {
            self.inner.restrictions(u, now).await
        }
        fn revocations(&self) -> Option<tokio::sync::broadcast::Receiver<kickout::store::Revoked>> {
            self.inner.revocations()
        }
    }

    impl SessionStore for Held {
        type Lookup = Answer;
        fn lookup(&self, k: &SessionKey, t: Option<Touch>, now: u64) -> Answer {
            let answer = self.inner.lookup(k, t, now);
            if !self.holding.load(Ordering::SeqCst) {
                return Box::pin(answer);
            }
            let gate = self.gate.clone();
            Box::pin(async move {
                gate.acquire().await.expect("open").forget();
                answer.await
            })
        }
        async fn lookup_session(
            &self,
            id: kickout::SessionId,
            now: u64,
        ) -> Result<Option<SessionRecord>, StoreError> {
            self.inner.lookup_session(id, now).await
        }
        async fn create(
            &self,
            s: NewSession,
            now: u64,
        ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
            self.inner.create(s, now).await
        }
        async fn end(
            &self,
            t: Target<'_>,
            r: EndReason,
            n: Option<&kickout::Note>,
            now: u64,
        ) -> Result<Vec<SessionInfo>, StoreError> {
            self.inner.end(t, r, n, now).await
        }
        async fn ban(
            &self,
            u: &str,
            until: u64,
            n: Option<&kickout::Note>,
            now: u64,
        ) -> Result<Vec<SessionInfo>, StoreError> {
            self.inner.ban(u, until, n, now).await
        }
        async fn sessions(
            &self,
            u: &str,
            now: u64,
        ) -> Result<Vec<kickout::store::SessionEntry>, StoreError> {
            self.inner.sessions(u, now).await
        }
        async fn renew(&self, r: Renewal<'_>, now: u64) -> Result<Option<SessionInfo>, StoreError> {
            self.inner.renew(r, now).await
        }
        async fn elevate(
            &self,
            e: kickout::store::Elevation<'_>,
            now: u64,
        ) -> Result<kickout::store::Elevated, StoreError> {
            self.inner.elevate(e, now).await
        }
        async fn close_elevation(
            &self,
            u: &str,
            id: kickout::SessionId,
            s: &kickout::restriction::Scope,
            now: u64,
        ) -> Result<bool, StoreError> {
            self.inner.close_elevation(u, id, s, now).await
        }
        async fn online(
            &self,
            p: kickout::store::directory::PageRequest<'_>,
            now: u64,
        ) -> Result<kickout::store::directory::Page, StoreError> {
            self.inner.online(p, now).await
        }
        async fn refresh(
            &self,
            r: kickout::store::refresh::Rotation<'_>,
            now: u64,
        ) -> Result<kickout::store::refresh::Rotated<kickout::store::refresh::Refreshed>, StoreError>
        {
            self.inner.refresh(r, now).await
        }
    }
}

/// A lookup that began before a kickout and answers after it cannot put the session back
/// into the near cache: the next request is refused.
#[tokio::test]
async fn a_read_overtaken_by_a_revocation_does_not_refill_the_near_cache() {
    use std::sync::atomic::Ordering;

    let held = Held::default();
    let auth = Auth::new(NearCache::new(held.clone(), Duration::from_secs(60)));
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    // Another session's request makes the near cache follow the feed (it caches nothing
    // before); the session under test is not cached yet.
    let warm = auth
        .login("10002", "web")
        .await
        .unwrap()
        .token
        .into_string();
    assert!(auth.authenticate(&warm).await.is_ok());
    held.holding.store(true, Ordering::SeqCst);
    let early = {
        let (auth, token) = (auth.clone(), token.clone());
        tokio::spawn(async move { auth.authenticate(&token).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(auth.kickout("10001").await.unwrap(), 1);
    held.holding.store(false, Ordering::SeqCst);
    held.gate.add_permits(1);
    // The early request read before the kickout: it may pass. The cache must not keep it.
    let _ = early.await.unwrap();
    let later = auth.authenticate(&token).await.unwrap_err();
    assert_eq!(later.reason(), kickout::Reason::KickedOut);
}

#[tokio::test]
async fn a_bump_that_lists_nothing_still_empties_other_caches() {
    crate::suite::a_bump_that_lists_nothing_still_empties_other_caches(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_renewal_elsewhere_outlives_a_cached_end() {
    crate::suite::a_renewal_elsewhere_outlives_a_cached_end(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_replacing_login_announces_a_change_only_with_a_bump() {
    crate::suite::a_replacing_login_announces_a_change_only_with_a_bump(MemoryStore::new()).await;
}

#[tokio::test]
async fn an_end_over_for_its_writer_reaches_other_caches() {
    crate::suite::an_end_over_for_its_writer_reaches_other_caches(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_reuse_over_for_its_writer_reaches_other_caches() {
    use crate::suite::{Jwt, Session, a_reuse_over_for_its_writer_reaches_other_caches as case};
    case::<_, Session>(MemoryStore::new()).await;
    case::<_, Jwt>(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_lift_over_for_its_writer_reaches_other_caches() {
    crate::suite::a_lift_over_for_its_writer_reaches_other_caches(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_refresh_is_announced_to_other_caches() {
    crate::suite::a_refresh_is_announced_to_other_caches(MemoryStore::new()).await;
}

/// A store chosen at run time: the suite again through `AnyStore`, over the memory store
/// and over a near cache of it.
mod any_store {
    use super::*;
    use kickout::store::AnyStore;

    fn store() -> Option<((), AnyStore)> {
        Some(((), AnyStore::new(MemoryStore::new())))
    }

    fn cached() -> Option<((), AnyStore)> {
        let near = NearCache::new(MemoryStore::new(), std::time::Duration::from_secs(1));
        Some(((), AnyStore::new(near)))
    }

    mod session_mode {
        use super::*;
        suite::all_cases!(run_suite!(store(), suite::Session));
    }

    mod jwt_mode {
        use super::*;
        suite::all_cases!(run_suite!(store(), suite::Jwt));
    }

    mod near_cache {
        use super::*;
        suite::all_cases!(run_suite!(cached(), suite::Session));
    }
}

/// A request whose idle renewal is due reads the session, then takes the write lock to
/// renew it: a ban landing in between must still answer `banned` (it answered
/// `kicked_out`, the ban's end read without its ban).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_landing_during_an_idle_renewal_answers_banned() {
    let auth = Auth::builder(MemoryStore::new())
        .idle_timeout(Duration::from_secs(60))
        .touch_interval(Duration::ZERO)
        .build();
    for round in 0..300 {
        let user = format!("u{round}");
        let token = auth.login(&user, "web").await.unwrap().token.into_string();
        let passed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = {
            let (auth, passed) = (auth.clone(), passed.clone());
            tokio::spawn(async move {
                loop {
                    match auth.authenticate(&token).await {
                        Ok(_) => passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        Err(refused) => return refused.reason(),
                    };
                }
            })
        };
        // The requests run on the other worker while the ban lands.
        while passed.load(std::sync::atomic::Ordering::Relaxed) < 20 {
            std::hint::spin_loop();
        }
        auth.ban(&user, Duration::from_secs(3_600)).await.unwrap();
        assert_eq!(requests.await.unwrap(), kickout::Reason::Banned, "{user}");
    }
}
