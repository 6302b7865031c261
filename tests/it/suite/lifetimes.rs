//! Lifetimes: absolute expiry, idle timeout and its throttled renewal, tombstones and retention.

use super::*;

pub async fn absolute_expiry_then_retention_then_gone<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::retention(K::builder(store, &clock).ttl(secs(60)), secs(600)).build();
    let app = app(&auth);
    // Mid-second: a token ends to the millisecond, in JWT mode too (`exp` is seconds).
    clock.advance(Duration::from_millis(500));
    let a = auth.login("10001", "web").await.unwrap();
    clock.advance(Duration::from_millis(59_999));
    assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:web".into()));
    clock.advance(Duration::from_millis(1));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    assert!(auth.sessions("10001").await.unwrap().is_empty());
    assert_eq!(
        auth.kickout("10001").await.unwrap(),
        0,
        "expired is not live"
    );
    clock.advance(secs(599));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    clock.advance(secs(1));
    // A session record is forgotten after the retention; a signed token keeps saying
    // when it expired.
    let gone = if K::JWT {
        Reason::TokenExpired
    } else {
        Reason::InvalidToken
    };
    assert_eq!(me(&app, a.token.as_str()).await, err(gone));
}

pub async fn idle_timeout_expires_inactive_sessions<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3600))
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    // Active every 50 s for ten minutes: never idle.
    for _ in 0..12 {
        clock.advance(secs(50));
        assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:web".into()));
    }
    clock.advance(secs(60));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    // Idle-expired is over for good: activity does not revive it.
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    assert!(auth.sessions("10001").await.unwrap().is_empty());
}

/// A sight by an instance whose clock is behind never moves the last sight back: the
/// session goes idle by the latest activity any instance saw.
pub async fn a_late_clock_never_moves_the_last_sight_back<S: Stores, K: Kind<S>>(store: S) {
    let behind = clock();
    let ahead = kickout::clock::ManualClock::new(kickout::clock::Clock::now_ms(&behind) + 30_000);
    let idle = |c| K::idle(K::builder(store.clone(), c).ttl(secs(3_600)), secs(60)).build();
    let (late, early) = (idle(&behind), idle(&ahead));
    let a = late.login("10001", "web").await.unwrap();
    // Seen at +30 s by the instance ahead, then at +10 s by the one behind.
    early.authenticate(a.token.as_str()).await.unwrap();
    behind.advance(secs(10));
    late.authenticate(a.token.as_str()).await.unwrap();
    // At +75 s by the late clock: 45 s after the latest sight, not idle.
    behind.advance(secs(65));
    ahead.advance(secs(65));
    late.authenticate(a.token.as_str())
        .await
        .expect("seen 45 s ago, with a 60 s idle timeout");
}

/// A session gone idle by the timeout it was given at login stays over on an instance
/// configured without one (a rolling deploy): that instance neither passes it nor
/// renews it for the others, and after the incident switch it stays refused. The other
/// way round, a session logged in without one never goes idle, on any instance.
pub async fn an_idle_timeout_holds_on_an_instance_without_one<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let strict = K::idle(K::builder(store.clone(), &clock), secs(60))
        .ttl(secs(3_600))
        .build();
    let lax = K::builder(store, &clock).ttl(secs(3_600)).build();
    let a = strict.login("10001", "web").await.unwrap();
    clock.advance(secs(30));
    lax.authenticate(a.token.as_str())
        .await
        .expect("within its idle timeout");
    clock.advance(secs(61));
    for auth in [&lax, &strict, &lax] {
        let refused = auth.authenticate(a.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::TokenExpired);
    }
    strict.kickout_all().await.unwrap();
    // Still over, as it was before the switch.
    let refused = lax.authenticate(a.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::TokenExpired);

    let b = lax.login("10002", "web").await.unwrap();
    clock.advance(secs(61));
    for auth in [&strict, &lax, &strict] {
        auth.authenticate(b.token.as_str())
            .await
            .expect("no idle timeout at its login");
    }
}

/// An idle session is over: ending it (by id, as the others, with the user, or by a
/// ban) still refuses its token, but counts and answers as nothing live ended, in both
/// modes.
pub async fn ends_count_no_idle_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3_600))
        .refresh_tokens(secs(7_200))
        .build();
    let idle = |device: &'static str| {
        let auth = auth.clone();
        async move { auth.login("10001", device).await.unwrap() }
    };
    let (a, b, c, d) = (
        idle("a").await,
        idle("b").await,
        idle("c").await,
        idle("d").await,
    );
    clock.advance(secs(61));
    let live = auth.login("10001", "live").await.unwrap();
    let me = auth.authenticate(live.token.as_str()).await.unwrap();
    assert!(
        !auth
            .logout_session(&me, a.session.session_id)
            .await
            .unwrap()
    );
    assert!(!auth.kickout_session(b.session.session_id).await.unwrap());
    assert_eq!(auth.kickout_device("10001", "c").await.unwrap(), 0);
    assert_eq!(auth.logout_others(&me).await.unwrap(), 0, "d is idle");
    assert_eq!(auth.kickout("10001").await.unwrap(), 1, "the live one");
    for login in [&a, &b, &c, &d, &live] {
        assert!(auth.authenticate(login.token.as_str()).await.is_err());
    }
    let e = auth.login("10002", "web").await.unwrap();
    clock.advance(secs(61));
    assert_eq!(auth.ban("10002", secs(60)).await.unwrap(), 0);
    assert!(auth.authenticate(e.token.as_str()).await.is_err());

    // A spent refresh token of an idle session: refused as a reuse, which ends
    // nothing live, so no event says a session ended.
    let f = auth.login("10003", "web").await.unwrap();
    let spent = f.refresh.as_ref().unwrap().token.as_str().to_owned();
    auth.refresh(&spent).await.unwrap();
    clock.advance(secs(61));
    let mut events = auth.events();
    let refused = auth.refresh(&spent).await.unwrap_err();
    assert_eq!(refused.reason(), Some(Reason::RefreshReused));
    assert!(events.try_recv().is_err(), "nothing live ended");
}

/// A session ended after it went idle was over by then: its token says `token_expired`,
/// whatever ended it later (a login replacing its device's tokens, a kickout, an end by
/// id, a ban), in both modes, as a tombstone's reason lasts only until the token would
/// have expired anyway. One still live when it was ended says why, then and later.
pub async fn an_end_after_the_idle_timeout_says_expired<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth_store = store.clone();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3_600))
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    let idle = auth.login("10001", "web").await.unwrap();
    let used = auth.login("10001", "phone").await.unwrap();
    let kicked = auth.login("10002", "web").await.unwrap();
    let by_id = auth.login("10003", "web").await.unwrap();
    let banned = auth.login("10004", "web").await.unwrap();
    clock.advance(secs(40));
    // Seen at +40 s: live until +100 s.
    assert!(me(&app, used.token.as_str()).await.is_ok());
    clock.advance(secs(21));
    // The first login on `web` replaces nothing live; the second replaces the first,
    // and in JWT mode its device's generation ends the idle token too.
    let first = auth.login("10001", "web").await.unwrap();
    auth.login("10001", "web").await.unwrap();
    auth.login("10001", "phone").await.unwrap();
    auth.kickout("10002").await.unwrap();
    auth.kickout_session(by_id.session.session_id)
        .await
        .unwrap();
    auth.ban("10004", secs(600)).await.unwrap();
    for login in [&idle, &kicked, &by_id, &banned] {
        assert_eq!(
            me(&app, login.token.as_str()).await,
            err(Reason::TokenExpired),
            "{}",
            login.session.user_id
        );
    }
    // A refresh token of a session that went idle, then was kicked out: expired too.
    let refreshing = K::idle(K::builder(auth_store.clone(), &clock), secs(60))
        .ttl(secs(3_600))
        .refresh_tokens(secs(7_200))
        .build();
    let pair = refreshing.login("10005", "web").await.unwrap();
    clock.advance(secs(61));
    refreshing.kickout("10005").await.unwrap();
    let refused = refreshing
        .refresh(pair.refresh.as_ref().unwrap().token.as_str())
        .await
        .unwrap_err();
    assert_eq!(refused.reason(), Some(Reason::TokenExpired));
    assert_eq!(
        me(&app, pair.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    // Live when replaced (its last sight, not its login, says so), and still replaced
    // once its idle timeout would have passed.
    for _ in 0..2 {
        assert_eq!(me(&app, used.token.as_str()).await, err(Reason::Replaced));
        assert_eq!(me(&app, first.token.as_str()).await, err(Reason::Replaced));
        clock.advance(secs(70));
    }
}

pub async fn idle_renewal_is_throttled<S: Stores, K: Kind<S>>(store: S) {
    if K::JWT {
        return; // session mode only: a signed expiry cannot move
    }
    let clock = clock();
    let auth = session_builder(store, &clock)
        .ttl(secs(3600))
        .idle_timeout(secs(60))
        .touch_interval(secs(10))
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    // At +5 s the deadline would move by 5 s (< 10 s): no write, it stays at +60 s.
    clock.advance(secs(5));
    assert!(me(&app, a.token.as_str()).await.is_ok());
    clock.advance(secs(55));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));

    let b = auth.login("10001", "phone").await.unwrap();
    // At +59 s it moves by 59 s: written, so the session lives on to +119 s.
    clock.advance(secs(59));
    assert!(me(&app, b.token.as_str()).await.is_ok());
    clock.advance(secs(59));
    assert!(me(&app, b.token.as_str()).await.is_ok());
}

pub async fn idle_renewal_never_passes_absolute_lifetime<S: Stores, K: Kind<S>>(store: S) {
    if K::JWT {
        return; // session mode only: a signed expiry cannot move
    }
    let clock = clock();
    let auth = session_builder(store, &clock)
        .ttl(secs(100))
        .idle_timeout(secs(60))
        .touch_interval(Duration::ZERO)
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(50));
    assert!(me(&app, a.token.as_str()).await.is_ok());
    clock.advance(Duration::from_millis(49_999));
    assert!(me(&app, a.token.as_str()).await.is_ok());
    clock.advance(Duration::from_millis(1));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
}

pub async fn tombstones_keep_their_reason_until_expiry<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::retention(K::builder(store, &clock).ttl(secs(100)), secs(100))
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    let kicked = auth.login("1", "web").await.unwrap();
    let replaced = auth.login("2", "web").await.unwrap();
    auth.login("2", "web").await.unwrap();
    let banned = auth.login("3", "web").await.unwrap();
    let out = auth.login("4", "web").await.unwrap();
    auth.kickout("1").await.unwrap();
    auth.ban("3", secs(1000)).await.unwrap();
    auth.logout(out.token.as_str()).await.unwrap();
    let all = [
        (&kicked, Reason::KickedOut),
        (&replaced, Reason::Replaced),
        (&banned, Reason::Banned),
        (&out, Reason::InvalidToken),
    ];
    clock.advance(Duration::from_millis(99_999));
    for (login, reason) in all {
        assert_eq!(me(&app, login.token.as_str()).await, err(reason));
    }
    clock.advance(Duration::from_millis(1));
    for (login, _) in all {
        assert_eq!(
            me(&app, login.token.as_str()).await,
            err(Reason::TokenExpired)
        );
    }
    clock.advance(secs(100));
    let gone = if K::JWT {
        Reason::TokenExpired
    } else {
        Reason::InvalidToken
    };
    for (login, _) in all {
        assert_eq!(me(&app, login.token.as_str()).await, err(gone));
    }
}

pub async fn logins_choose_their_own_lifetimes<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3600))
        .class_idle_timeout("tv", None)
        .class_ttl("tv", secs(7200))
        .build();
    let app = app(&auth);
    let remember = LoginOptions::new().no_idle_timeout().ttl(secs(86_400));
    let remember = auth.login_with("1", "web", remember).await.unwrap();
    assert_eq!(remember.session.expires_at_ms, T0 + 86_400_000);
    let kiosk = LoginOptions::new().idle_timeout(secs(300));
    let kiosk = auth.login_with("1", "kiosk", kiosk).await.unwrap();
    let tv = auth.login("1", "tv").await.unwrap();
    assert_eq!(
        tv.session.expires_at_ms,
        T0 + 7_200_000,
        "the class's lifetime"
    );
    let plain = auth.login("1", "phone").await.unwrap();
    // Past the handle's idle timeout, within the kiosk's.
    clock.advance(secs(120));
    assert_eq!(
        me(&app, plain.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    for (t, who) in [
        (&remember.token, "1:web"),
        (&kiosk.token, "1:kiosk"),
        (&tv.token, "1:tv"),
    ] {
        assert_eq!(me(&app, t.as_str()).await, Ok(who.into()));
    }
    let listed: Vec<_> = auth
        .sessions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.info.session_id)
        .collect();
    let working = [&remember, &kiosk, &tv].map(|l| l.session.session_id);
    assert_eq!(listed, working);
    clock.advance(secs(301));
    assert_eq!(
        me(&app, kiosk.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    assert_eq!(me(&app, remember.token.as_str()).await, Ok("1:web".into()));
    // A renewal gives the session its own lifetime again, not the handle's.
    if !K::JWT {
        let renewed = K::renew(&auth, remember.token.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renewed.expires_at_ms, T0 + 421_000 + 86_400_000);
        let renewed = K::renew(&auth, tv.token.as_str()).await.unwrap().unwrap();
        assert_eq!(renewed.expires_at_ms, T0 + 421_000 + 7_200_000);
    }
}
