//! What no clock step, slow receiver or flood of logins can break: time never runs back, events never block, state stays bounded.

use super::*;
use kickout::clock::ManualClock;

pub async fn clock_stepping_back_revives_nothing<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(60)).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(61));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    assert_eq!(auth.kickout("10001").await.unwrap(), 0);
    // NTP steps the clock back: the handle keeps its latest time.
    clock.set(T0);
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    let b = auth.login("10001", "web").await.unwrap();
    assert_eq!(b.session.issued_at_ms, T0 + 61_000);
    assert_eq!(auth.kickout("10001").await.unwrap(), 1);
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::KickedOut));
}

pub async fn a_skewed_instance_never_makes_a_session_unreachable<S: Stores, K: Kind<S>>(store: S) {
    // Two instances on one store; the second's clock runs more than a lifetime ahead
    // (6 minutes more: within what stores keep past a lifetime). It may call sessions
    // over early, so the first may refuse them early; what it must never do is leave a
    // session the first still serves out of reach of a kickout or a ban.
    let (slow, fast) = (clock(), ManualClock::new(T0 + 3_960_000));
    let a = K::builder(store.clone(), &slow).ttl(secs(3600)).build();
    let b = K::builder(store, &fast).ttl(secs(3600)).build();
    let app = app(&a);
    let t = a.login("1", "web").await.unwrap().token;
    // The fast instance logs the user in and kicks out a device: each write reads the
    // user's index by its own clock.
    b.login("1", "phone").await.unwrap();
    assert_eq!(b.kickout_device("1", "tv").await.unwrap(), 0);
    if me(&app, t.as_str()).await.is_ok() {
        // Session mode lists it still; JWT mode's index (which validation never reads)
        // is pruned by the writer's clock, but its kickout is a generation bump.
        if !K::JWT {
            let listed = a.sessions("1").await.unwrap();
            assert!(
                listed.iter().any(|s| &*s.info.device == "web"),
                "{listed:?}"
            );
        }
        a.kickout("1").await.unwrap();
    }
    assert!(me(&app, t.as_str()).await.is_err());
    assert_ne!(me(&app, t.as_str()).await, Ok("1:web".into()));
    // A ban and a kickout through the fast instance reach sessions only the slow one
    // still serves. (In JWT mode the fast instance may have forgotten the user's state
    // as over, and the token is refused as unknown: early, never let through.)
    let u = a.login("2", "web").await.unwrap().token;
    b.ban("2", secs(100_000)).await.unwrap();
    let v = a.login("3", "web").await.unwrap().token;
    b.kickout("3").await.unwrap();
    for (token, reason) in [(&u, Reason::Banned), (&v, Reason::KickedOut)] {
        let got = me(&app, token.as_str()).await;
        if K::JWT {
            assert!(got.is_err(), "{got:?}");
        } else {
            assert_eq!(got, err(reason));
        }
    }
}

pub async fn a_lagging_event_receiver_slows_nothing<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).event_capacity(2).build();
    let mut never_read = auth.events();
    for i in 0..50 {
        auth.login(&format!("u{i}"), "web").await.unwrap();
    }
    // The receiver lost the oldest events and is told how many; logins went through.
    match never_read.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 48),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        never_read.recv().await.unwrap().kind,
        EventKind::LoggedIn { .. }
    ));
}

pub async fn jwt_state_stays_bounded<S: Stores, K: Kind<S>>(store: S) {
    if !K::JWT {
        return; // JWT mode's generations and blacklist
    }
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    // One-per-device replacements bump the device generation each time; only the newest
    // bumps are remembered, and every older token stays refused.
    let first = auth.login("10001", "web").await.unwrap().token;
    for _ in 0..200 {
        auth.login("10001", "web").await.unwrap();
    }
    assert_eq!(me(&app, first.as_str()).await, err(Reason::Replaced));
    // Logouts blacklist tokens; past MAX_REVOKED, one bump replaces every live token.
    let kept = auth.login("10001", "phone").await.unwrap().token;
    for i in 0..kickout::limits::MAX_REVOKED {
        let t = auth.login("10001", &format!("d{i}")).await.unwrap().token;
        auth.logout(t.as_str()).await.unwrap();
    }
    assert_eq!(me(&app, kept.as_str()).await, Ok("10001:phone".into()));
    let t = auth.login("10001", "last").await.unwrap().token;
    auth.logout(t.as_str()).await.unwrap();
    assert_eq!(me(&app, kept.as_str()).await, err(Reason::Replaced));
    // The token whose logout crossed the bound answers its own end.
    assert_eq!(me(&app, t.as_str()).await, err(Reason::InvalidToken));
    assert!(auth.login("10001", "again").await.is_ok());
    // Past MAX_DEVICES device generations (devices kicked out), one bump replaces every
    // live token; the device kickout that crossed the bound still says so, with its note.
    let phone = auth.login("10002", "phone").await.unwrap().token;
    let other = auth.login("10002", "web").await.unwrap().token;
    for i in 0..kickout::limits::MAX_DEVICES {
        let device = format!("d{i}");
        auth.login("10002", &device).await.unwrap();
        assert_eq!(auth.kickout_device("10002", &device).await.unwrap(), 1);
    }
    assert_eq!(me(&app, other.as_str()).await, Ok("10002:web".into()));
    let note = kickout::Note::new("lost_phone").unwrap();
    auth.with_note(note.clone())
        .kickout_device("10002", "phone")
        .await
        .unwrap();
    assert_eq!(me(&app, other.as_str()).await, err(Reason::Replaced));
    let refused = auth.authenticate(phone.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::KickedOut);
    assert_eq!(refused.note(), Some(&note));
    assert!(auth.login("10002", "phone").await.is_ok());
}

/// Ending an idle token ends nothing live, but its revocation may still cross the
/// blacklist's bound (JWT mode): the live tokens that bump replaced are refused at once
/// on this instance, and told as replaced; idle ones are not, and say they expired.
pub async fn an_idle_end_past_the_blacklist_bound_tells_what_it_replaced<S: Stores, K: Kind<S>>(
    store: S,
) {
    if !K::JWT {
        return; // session mode keeps no blacklist: nothing to cross
    }
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3_600))
        .build();
    let app = app(&auth);
    let idle = auth.login("10001", "idle").await.unwrap();
    let other = auth.login("10001", "other").await.unwrap();
    clock.advance(secs(61));
    let kept = auth.login("10001", "phone").await.unwrap();
    assert!(me(&app, kept.token.as_str()).await.is_ok(), "cached here");
    for i in 0..kickout::limits::MAX_REVOKED {
        let t = auth.login("10001", &format!("d{i}")).await.unwrap().token;
        auth.logout(t.as_str()).await.unwrap();
    }
    let mut events = auth.events();
    assert!(!auth.kickout_session(idle.session.session_id).await.unwrap());
    assert_eq!(me(&app, kept.token.as_str()).await, err(Reason::Replaced));
    let mut replaced = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EventKind::Replaced { sessions, by } = event.kind {
            assert_eq!(by, idle.session.session_id);
            replaced.extend(sessions.into_iter().map(|s| s.session_id));
        }
    }
    // Only the live one: the other idle session was over already, and says so.
    assert_eq!(replaced, [kept.session.session_id]);
    assert_eq!(
        me(&app, other.token.as_str()).await,
        err(Reason::TokenExpired)
    );
}

pub async fn live_sessions_per_user_are_capped<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::unlimited())
        .build();
    let app = app(&auth);
    // All in one millisecond: the oldest by creation order goes, on every store.
    let first = auth.login("10001", "d0").await.unwrap();
    for i in 1..kickout::limits::MAX_LIVE_TOKENS {
        auth.login("10001", &format!("d{i}")).await.unwrap();
    }
    assert_eq!(
        auth.sessions("10001").await.unwrap().len(),
        kickout::limits::MAX_LIVE_TOKENS
    );
    let over = auth.login("10001", "one-too-many").await.unwrap();
    assert!(
        over.replaced
            .iter()
            .any(|s| s.session_id == first.session.session_id)
    );
    assert_eq!(me(&app, first.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(
        me(&app, over.token.as_str()).await,
        Ok("10001:one-too-many".into())
    );
    let live = auth.sessions("10001").await.unwrap().len();
    assert!(live <= kickout::limits::MAX_LIVE_TOKENS, "{live}");
}

pub async fn ended_sessions_per_user_are_capped<S: Stores, K: Kind<S>>(store: S) {
    // One account logging in again and again on one device: each login replaces the
    // last and leaves a tombstone. The store keeps `MAX_ENDED` of them; the one nearest
    // its forgetting (the oldest here) goes first, and its token is refused as unknown.
    use kickout::limits::MAX_ENDED;
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    let first = auth.login("10001", "web").await.unwrap();
    clock.advance(Duration::from_millis(1));
    let second = auth.login("10001", "web").await.unwrap();
    let mut last = second.clone();
    for _ in 0..MAX_ENDED {
        clock.advance(Duration::from_millis(1));
        last = auth.login("10001", "web").await.unwrap();
    }
    // MAX_ENDED + 1 sessions ended; in JWT mode a device's generations say it.
    let forgotten = if K::JWT {
        Reason::Replaced
    } else {
        Reason::InvalidToken
    };
    assert_eq!(me(&app, first.token.as_str()).await, err(forgotten));
    assert_eq!(me(&app, second.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(me(&app, last.token.as_str()).await, Ok("10001:web".into()));
    // A kickout and a ban end through the same bound.
    auth.kickout("10001").await.unwrap();
    assert_eq!(me(&app, last.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, second.token.as_str()).await, err(forgotten));
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 0);
}

pub async fn configuration_extremes_are_bounded<S: Stores, K: Kind<S>>(store: S) {
    use kickout::limits::{MAX_LIFETIME_MS, MIN_LIFETIME_MS};
    let clock = clock();
    // The longest of everything: ten years, not an overflow in any store.
    let long = K::retention(K::builder(store.clone(), &clock), Duration::MAX)
        .ttl(Duration::MAX)
        .watch_recheck(Duration::ZERO)
        .build();
    let app = app(&long);
    let a = long.login("1", "web").await.unwrap();
    assert!(a.session.expires_at_ms <= T0 + MAX_LIFETIME_MS);
    assert!(a.session.expires_at_ms >= T0 + MAX_LIFETIME_MS - 1000);
    assert_eq!(me(&app, a.token.as_str()).await, Ok("1:web".into()));
    if !K::JWT {
        assert!(K::renew(&long, a.token.as_str()).await.unwrap().is_ok());
    }
    assert_eq!(long.kickout("1").await.unwrap(), 1);
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::KickedOut));
    // The shortest: a second, so a token outlives its first request.
    let short = K::builder(store.clone(), &clock)
        .ttl(Duration::ZERO)
        .build();
    let b = short
        .login_with("2", "web", LoginOptions::new().ttl(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        b.session.expires_at_ms - b.session.issued_at_ms,
        MIN_LIFETIME_MS
    );
    assert_eq!(me(&app, b.token.as_str()).await, Ok("2:web".into()));
    clock.advance(secs(1));
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::TokenExpired));
    if !K::JWT {
        let idle = session_builder(store, &clock)
            .idle_timeout(Duration::MAX)
            .touch_interval(Duration::ZERO)
            .expired_retention(Duration::MAX)
            .build();
        let app = super::app(&idle);
        let c = idle.login("3", "web").await.unwrap();
        clock.advance(secs(10));
        assert_eq!(me(&app, c.token.as_str()).await, Ok("3:web".into()));
        assert_eq!(idle.kickout("3").await.unwrap(), 1);
    }
}
