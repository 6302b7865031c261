//! The basics: login, validation, logout, kickouts by user, device and id, bans, listing and renewal.

use super::*;

pub async fn login_opens_a_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(3600)).build();
    let app = app(&auth);
    let login = auth.login("10001", "web").await.unwrap();
    assert_eq!(login.expires_in(), 3600);
    assert_eq!(login.session.issued_at_ms, T0);
    assert_eq!(login.session.expires_at_ms, T0 + 3_600_000);
    assert!(login.replaced.is_empty());
    assert_eq!(me(&app, login.token.as_str()).await, Ok("10001:web".into()));
    let id = auth.authenticate(login.token.as_str()).await.unwrap();
    assert_eq!(id.session_id(), login.session.session_id);
    assert_eq!(id.session(), &login.session);
}

/// User ids and device names keep every character a store's encoding escapes (quotes,
/// backslashes, slashes, non-ASCII): a request reads back what the login was given.
pub async fn names_with_escaped_characters_come_back_whole<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let (user, device) = ("a\"b\\c/d é 😀", "dev/ \"x\" ü");
    let login = auth.login(user, device).await.unwrap();
    let id = auth.authenticate(login.token.as_str()).await.unwrap();
    assert_eq!((id.user_id(), id.device()), (user, device));
    let listed = auth.sessions(user).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (&*listed[0].info.user_id, &*listed[0].info.device),
        (user, device)
    );
    assert_eq!(auth.kickout(user).await.unwrap(), 1);
    assert!(auth.authenticate(login.token.as_str()).await.is_err());
}

/// A new session whose id a stored one already has (96 random bits within a slot
/// tag: the odds are nil, the consequence would not be): refused, never written over.
pub async fn a_session_id_collision_is_refused<S: Stores, K: Kind<S>>(store: S) {
    if K::JWT {
        return;
    }
    let clock = clock();
    let auth = K::builder(store.clone(), &clock).build();
    let login = auth.login("10001", "web").await.unwrap();
    let key = kickout::SessionKey::parse(login.token.as_str()).unwrap();
    let now = kickout::clock::Clock::now_ms(&clock);
    // The same user on another device, and another user of the same slot tag (a real
    // collision is within a tag; a store may read a user's own sessions alone).
    let neighbour = (0u32..)
        .map(|n| format!("n{n}"))
        .find(|u| kickout::store::user_tag(u) == key.tag())
        .unwrap();
    for user in ["10001", neighbour.as_str()] {
        let mut info = login.session.clone();
        info.device = "phone".into();
        info.user_id = user.into();
        let twin = kickout::store::session::NewSession {
            key,
            info,
            idle_deadline_ms: None,
            idle_ms: None,
            retain_ms: 0,
            rule: kickout::LoginRule::unlimited(),
            class: "phone".into(),
            meta: Default::default(),
            access_until_ms: None,
            refresh: None,
        };
        let refused = store.create(twin, now).await;
        assert!(
            matches!(refused, Err(kickout::store::StoreError::Corrupt(_))),
            "{user}: {refused:?}"
        );
    }
    let me = auth.authenticate(login.token.as_str()).await.unwrap();
    assert_eq!(me.device(), "web", "the stored session stands as it was");
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 1);
    assert!(auth.sessions(&neighbour).await.unwrap().is_empty());
}

/// JWT mode's twin: a login whose `jti` a stored token of the slot tag already has,
/// the same user's or another's, is refused, never written over; so is one whose
/// `jti` only a kept refresh record still holds (a kicked-out session's, which answers
/// why its refresh token is refused).
pub async fn a_jti_collision_is_refused<S: Stores, K: Kind<S>>(store: S) {
    if !K::JWT {
        return;
    }
    let clock = clock();
    let auth = K::builder(store.clone(), &clock)
        .refresh_tokens(secs(86_400))
        .build();
    let login = auth.login("10001", "web").await.unwrap();
    let id = login.session.session_id;
    let neighbour = (0u32..)
        .map(|n| format!("n{n}"))
        .find(|u| kickout::store::user_tag(u) == id.tag())
        .unwrap();
    // A login of the same `jti`, with a refresh token or without.
    let twin = |user: &str, refreshing: bool| {
        let now = kickout::clock::Clock::now_ms(&clock);
        let refresh = refreshing.then(|| kickout::store::jwt::JwtRefresh {
            refresh: kickout::store::refresh::NewRefresh {
                digest: [1; 32],
                chain: [2; 32],
                expires_at_ms: now + 86_400_000,
                cap_ms: now + 86_400_000,
                window_ms: None,
                access_ttl_ms: 3_600_000,
            },
            claims: None,
            own_idle_ms: None,
        });
        kickout::store::jwt::JwtIssue {
            user_id: user.into(),
            jti: id.jti(),
            device: "phone".into(),
            issued_at_ms: now,
            expires_at_ms: now + 3_600_000,
            rule: kickout::LoginRule::unlimited(),
            fresh_epoch: 1,
            class: "phone".into(),
            idle_ms: None,
            meta: Default::default(),
            refresh,
        }
    };
    // Twins of the live token, then of the kicked-out one: the kickout takes the token
    // out of the user's index (a generation ends it), and only its refresh record, kept
    // to say why, still holds the id.
    for kicked in [false, true] {
        if kicked {
            assert_eq!(auth.kickout("10001").await.unwrap(), 1);
        }
        for (user, refreshing) in [
            ("10001", false),
            ("10001", true),
            (neighbour.as_str(), false),
            (neighbour.as_str(), true),
        ] {
            let now = kickout::clock::Clock::now_ms(&clock);
            let refused = store.jwt_issue(twin(user, refreshing), now).await;
            assert!(
                matches!(refused, Err(kickout::store::StoreError::Corrupt(_))),
                "kicked out: {kicked}, {user}, with a refresh token: {refreshing}: {refused:?}"
            );
        }
        if !kicked {
            let me = auth.authenticate(login.token.as_str()).await.unwrap();
            assert_eq!(me.device(), "web", "the stored token stands as it was");
            assert_eq!(auth.sessions("10001").await.unwrap().len(), 1);
        }
    }
    let refresh = login.refresh.unwrap().token;
    let refused = auth.refresh(refresh.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Some(Reason::KickedOut));
    assert!(auth.sessions(&neighbour).await.unwrap().is_empty());
}

pub async fn unknown_and_garbage_tokens_are_invalid<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let login = auth.login("10001", "web").await.unwrap();
    let token = login.token.as_str();
    // One character changed: same shape, unknown digest.
    let mut forged = token.as_bytes().to_vec();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_user = format!("AAAA{}", &token[4..]);
    for bad in [
        "x",
        "abc.def.ghi",
        &forged,
        &other_user,
        &"A".repeat(48),
        &token[..42],
        &format!("{token}A"),
    ] {
        assert_eq!(me(&app, bad).await, err(Reason::InvalidToken), "{bad}");
    }
    assert_eq!(me(&app, token).await, Ok("10001:web".into()));
    // authenticate caps a token's length as the layer does: no parse of a megabyte.
    let huge = format!("{token}{}", "A".repeat(1 << 20));
    let refused = auth.authenticate(&huge).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::InvalidToken);
}

/// JWT mode, two instances, the slower one's verifier with the longest leeway: after
/// the faster one wrote for the user (pruning what its clock says is over), a token
/// the slower one still accepts is still found by a logout there, and refused.
pub async fn a_logout_reaches_a_token_in_a_slower_clocks_leeway<S: Stores, K: Kind<S>>(store: S) {
    use kickout::jwt::{Jwt, JwtKey};
    if !K::JWT {
        return;
    }
    let leeway = Duration::from_millis(kickout::limits::MAX_LEEWAY_MS);
    let handle = |store: S, clock: &ManualClock| {
        let key = JwtKey::hs256(b"suite secret, thirty-two bytes!!");
        Auth::builder(store)
            .clock(clock.clone())
            .ttl(secs(60))
            .jwt(Jwt::new(key).unwrap().leeway(leeway))
            .build()
    };
    let (slow, fast) = (clock(), clock());
    let behind = handle(store.clone(), &slow);
    let ahead = handle(store, &fast);
    // A session that outlives it keeps the user's state (its epoch) where it is.
    let long = kickout::LoginOptions::new().ttl(secs(3_600));
    let tablet = behind
        .login_with("10001", "tablet", long)
        .await
        .unwrap()
        .token;
    let token = behind.login("10001", "web").await.unwrap().token;
    let other = behind.login("10001", "laptop").await.unwrap();
    let desk = behind.login("10001", "desk").await.unwrap().token;
    // The token's end plus the leeway is between the two clocks.
    let past = Duration::from_millis(60_000 + kickout::limits::MAX_LEEWAY_MS);
    slow.advance(past - Duration::from_secs(2));
    fast.advance(past + Duration::from_secs(2));
    ahead.login("10001", "phone").await.unwrap();
    assert!(
        behind.authenticate(token.as_str()).await.is_ok(),
        "in the leeway"
    );
    assert!(
        behind.logout(token.as_str()).await.unwrap(),
        "the logout found it"
    );
    let refused = behind.authenticate(token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::InvalidToken);
    // By its session id too (an operator's kickout).
    let id = other.session.session_id;
    assert!(behind.authenticate(other.token.as_str()).await.is_ok());
    assert!(
        behind.kickout_session(id).await.unwrap(),
        "the kickout found it"
    );
    let refused = behind.authenticate(other.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::KickedOut);
    // Every other session, from the instance ahead, for which the token is over: the
    // one behind refuses it at once, through any cache it has (a near cache forgets
    // what the store says it ended). Counted by the caller's own leeway: the phone.
    assert!(behind.authenticate(desk.as_str()).await.is_ok());
    let me = ahead.authenticate(tablet.as_str()).await.unwrap();
    assert_eq!(ahead.logout_others(&me).await.unwrap(), 1);
    let refused = behind.authenticate(desk.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::InvalidToken);
}

/// A session record that does not read stops no write of its user: logins, kickouts
/// and bans pass over it as over one that is gone, as do the directory's pages (the
/// incident switch), and its own token stays refused as corrupt (503). Failing instead, one bad record would keep the user's other sessions
/// open against every kickout and ban while it lives. (Stores that keep records as
/// text call this: `corrupt` writes `garbage` in place of the record of a session.)
pub async fn a_record_that_does_not_read_stops_no_revocation<S, F, Fut>(
    store: S,
    garbage: &[&'static str],
    corrupt: F,
) where
    S: Stores,
    F: Fn(kickout::SessionId, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let auth = Auth::builder(store).refresh_tokens(secs(3_600)).build();
    for (i, &garbage) in garbage.iter().enumerate() {
        let user = format!("y{i}");
        let bad = auth.login(&user, "web").await.unwrap();
        let held = auth.authenticate(bad.token.as_str()).await.unwrap();
        let phone = auth.login(&user, "phone").await.unwrap().token;
        corrupt(bad.session.session_id, garbage).await;
        let refused = auth.authenticate(bad.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable, "{garbage}");
        // What names it by its token reads it as a request does: corrupt, not gone.
        let refresh = bad.refresh.as_ref().unwrap().token.as_str();
        let store_error =
            |r: Result<(), kickout::Error>| matches!(r, Err(kickout::Error::Store(_)));
        assert!(
            store_error(auth.refresh(refresh).await.map(drop)),
            "{garbage}"
        );
        assert!(
            store_error(auth.renew(bad.token.as_str()).await.map(drop)),
            "{garbage}"
        );
        let elevated = auth.elevate(&held, "payments", secs(60)).await.map(drop);
        assert!(store_error(elevated), "{garbage}");
        let tablet = auth.login(&user, "tablet").await.unwrap().token;
        assert_eq!(auth.kickout(&user).await.unwrap(), 2, "{garbage}");
        for token in [&phone, &tablet] {
            let refused = auth.authenticate(token.as_str()).await.unwrap_err();
            assert_eq!(refused.reason(), Reason::KickedOut, "{garbage}");
        }
        let again = auth.login(&user, "web").await.unwrap().token;
        assert_eq!(auth.ban(&user, secs(3_600)).await.unwrap(), 1, "{garbage}");
        let refused = auth.authenticate(again.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Banned, "{garbage}");
        assert!(auth.login(&user, "web").await.is_err(), "{garbage}");
        let refused = auth.authenticate(bad.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable, "{garbage}");
        // The directory passes over it too: the incident switch reaches everyone.
        let other = auth.login(&format!("z{i}"), "web").await.unwrap().token;
        auth.kickout_all().await.expect(garbage);
        let refused = auth.authenticate(other.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::KickedOut, "{garbage}");
    }
}

pub async fn logout_ends_one_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "phone").await.unwrap();
    assert!(auth.logout(a.token.as_str()).await.unwrap());
    assert!(
        !auth.logout(a.token.as_str()).await.unwrap(),
        "second logout"
    );
    assert!(!auth.logout("garbage").await.unwrap());
    let huge = format!("{}.{}.x", "e".repeat(1 << 20), "e".repeat(1 << 20));
    assert!(!auth.logout(&huge).await.unwrap());
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::InvalidToken));
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:phone".into()));
    // A kickout does not turn a logged-out token into a kicked one.
    assert_eq!(auth.kickout("10001").await.unwrap(), 1);
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::InvalidToken));
}

pub async fn logout_session_by_id<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let caller = auth.authenticate(a.token.as_str()).await.unwrap();
    // The caller signs out: the obvious call takes the caller's identity.
    assert!(
        auth.logout_session(&caller, caller.session_id())
            .await
            .unwrap()
    );
    assert!(
        !auth
            .logout_session(&caller, caller.session_id())
            .await
            .unwrap()
    );
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::InvalidToken));
    // A well-formed token of a session no store has: nothing ends, and no error.
    let b = auth.login("10001", "web").await.unwrap();
    let mut unknown = b.token.as_str().as_bytes().to_vec();
    unknown[5] = if unknown[5] == b'A' { b'B' } else { b'A' };
    let unknown = String::from_utf8(unknown).unwrap();
    assert!(!auth.logout(&unknown).await.unwrap());
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:web".into()));
}

pub async fn kickout_ends_every_session_and_sticks<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "phone").await.unwrap();
    let other = auth.login("10002", "web").await.unwrap();
    assert_eq!(auth.kickout("10001").await.unwrap(), 2);
    assert_eq!(
        auth.kickout("10001").await.unwrap(),
        0,
        "nothing live is left"
    );
    // Logging in again does not revive the kicked tokens.
    let c = auth.login("10001", "web").await.unwrap();
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, c.token.as_str()).await, Ok("10001:web".into()));
    assert_eq!(me(&app, other.token.as_str()).await, Ok("10002:web".into()));
}

pub async fn kickout_device_ends_one_device<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let web1 = auth.login("10001", "web").await.unwrap();
    let web2 = auth.login("10001", "web").await.unwrap();
    let phone = auth.login("10001", "phone").await.unwrap();
    assert_eq!(auth.kickout_device("10001", "web").await.unwrap(), 2);
    assert_eq!(auth.kickout_device("10001", "tv").await.unwrap(), 0);
    assert_eq!(me(&app, web1.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, web2.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(
        me(&app, phone.token.as_str()).await,
        Ok("10001:phone".into())
    );
}

pub async fn kickout_session_by_id<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "web").await.unwrap();
    assert!(auth.kickout_session(a.session.session_id).await.unwrap());
    assert!(!auth.kickout_session(a.session.session_id).await.unwrap());
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:web".into()));
}

pub async fn kickout_of_unknown_user_is_zero<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    assert_eq!(auth.kickout("nobody").await.unwrap(), 0);
    assert_eq!(auth.kickout_device("nobody", "web").await.unwrap(), 0);
    assert!(auth.sessions("nobody").await.unwrap().is_empty());
    assert!(!auth.unban("nobody").await.unwrap());
}

pub async fn ban_ends_sessions_and_refuses_logins<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "phone").await.unwrap();
    assert_eq!(auth.ban("10001", secs(600)).await.unwrap(), 2);
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::Banned));
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::Banned));
    match auth.login("10001", "web").await {
        Err(Error::Banned { until }) => {
            assert_eq!(
                until,
                std::time::UNIX_EPOCH + Duration::from_millis(T0 + 600_000)
            );
        }
        other => panic!("login while banned: {other:?}"),
    }
    let refused = auth.login("10001", "web").await.unwrap_err();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.code(), "banned");
    assert!(auth.banned_until("10001").await.unwrap().is_some());
    assert!(auth.sessions("10001").await.unwrap().is_empty());
    // Other users are not touched.
    let other = auth.login("10002", "web").await.unwrap();
    assert_eq!(me(&app, other.token.as_str()).await, Ok("10002:web".into()));
}

pub async fn ban_expires_by_itself<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(3600)).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    auth.ban("10001", secs(60)).await.unwrap();
    clock.advance(secs(59));
    assert!(auth.login("10001", "web").await.is_err());
    clock.advance(secs(1));
    assert_eq!(auth.banned_until("10001").await.unwrap(), None);
    let b = auth.login("10001", "web").await.unwrap();
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:web".into()));
    // The banned token stays refused after the ban; it was ended by an operator.
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::KickedOut));
}

pub async fn unban_lifts_a_ban_early<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    assert_eq!(auth.ban("10001", secs(3600)).await.unwrap(), 1);
    // A second ban replaces the first, ending nothing more.
    assert_eq!(auth.ban("10001", secs(7200)).await.unwrap(), 0);
    assert!(auth.unban("10001").await.unwrap());
    assert!(!auth.unban("10001").await.unwrap());
    assert_eq!(auth.banned_until("10001").await.unwrap(), None);
    let b = auth.login("10001", "web").await.unwrap();
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:web".into()));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::KickedOut));
}

/// A ban stands on an instance whose clock is behind, whatever an instance that finds
/// it over writes to the user meanwhile (its own login is its clock's call: skew may
/// refuse early, never admit a banned user where the ban stands). Before, on
/// PostgreSQL, the faster instance's write dropped the ban for every instance.
pub async fn a_ban_stands_on_a_slower_clock<S: Stores, K: Kind<S>>(store: S) {
    let (slow, fast) = (clock(), clock());
    let behind = K::builder(store.clone(), &slow).build();
    let ahead = K::builder(store, &fast).build();
    fast.advance(secs(4));
    behind.ban("10001", secs(2)).await.unwrap();
    assert_eq!(ahead.banned_until("10001").await.unwrap(), None);
    let token = ahead.login("10001", "web").await.unwrap().token;
    ahead.logout(token.as_str()).await.unwrap();
    ahead.restrict("10001", "chat", 1, secs(60)).await.unwrap();
    assert!(behind.banned_until("10001").await.unwrap().is_some());
    match behind.login("10001", "phone").await {
        Err(Error::Banned { .. }) => {}
        other => panic!("login on the slower clock: {other:?}"),
    }
    // Its end comes by each clock: then both admit.
    slow.advance(secs(2));
    assert_eq!(behind.banned_until("10001").await.unwrap(), None);
    assert!(behind.login("10001", "phone").await.is_ok());
}

pub async fn sessions_lists_live_sessions_oldest_first<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(100)).build();
    let first = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(1));
    let second = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(1));
    let third = auth.login("10001", "tv").await.unwrap();
    clock.advance(secs(1));
    let gone = auth.login("10001", "car").await.unwrap();
    auth.logout(gone.token.as_str()).await.unwrap();
    let list = auth.sessions("10001").await.unwrap();
    let ids: Vec<_> = list.iter().map(|s| s.info.session_id).collect();
    assert_eq!(
        ids,
        [
            first.session.session_id,
            second.session.session_id,
            third.session.session_id
        ]
    );
    assert_eq!(list[1].info.device.as_ref(), "phone");
    assert_eq!(list[1].info.issued_at_ms, T0 + 1000);
    assert_eq!(list[1].info.expires_at_ms, T0 + 101_000);
    // The first expires at T0+100 s.
    clock.advance(secs(97));
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 2);
}

pub async fn renew_extends_a_live_session<S: Stores, K: Kind<S>>(store: S) {
    if K::JWT {
        return; // session mode only: a signed expiry cannot move
    }
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(100)).build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(90));
    let renewed = K::renew(&auth, a.token.as_str()).await.unwrap().unwrap();
    assert_eq!(renewed.expires_at_ms, T0 + 190_000);
    clock.advance(secs(50));
    assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:web".into()));
    auth.kickout("10001").await.unwrap();
    match K::renew(&auth, a.token.as_str()).await.unwrap() {
        Err(e) if e.reason() == Some(Reason::KickedOut) => {}
        other => panic!("renew of a kicked token: {other:?}"),
    }
    match K::renew(&auth, "garbage").await.unwrap() {
        Err(e) if e.reason() == Some(Reason::InvalidToken) => {}
        other => panic!("renew of garbage: {other:?}"),
    }
}

pub async fn users_sign_out_their_own_sessions<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let web = auth.login("1", "web").await.unwrap();
    let phone = auth.login("1", "phone").await.unwrap();
    let other = auth.login("2", "web").await.unwrap();
    let phone_id = phone.session.session_id;
    let (one, two) = (
        auth.authenticate(web.token.as_str()).await.unwrap(),
        auth.authenticate(other.token.as_str()).await.unwrap(),
    );
    // Another user's id is not found, and ends nothing (an id from a request is no
    // licence: listings show ids).
    assert!(!auth.logout_session(&two, phone_id).await.unwrap());
    assert_eq!(me(&app, phone.token.as_str()).await, Ok("1:phone".into()));
    assert!(auth.logout_session(&one, phone_id).await.unwrap());
    assert_eq!(
        me(&app, phone.token.as_str()).await,
        err(Reason::InvalidToken)
    );
    assert!(!auth.logout_session(&one, phone_id).await.unwrap(), "once");
    assert_eq!(me(&app, web.token.as_str()).await, Ok("1:web".into()));
    assert_eq!(me(&app, other.token.as_str()).await, Ok("2:web".into()));
}

pub async fn signing_out_the_others_keeps_the_callers_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let laptop = auth.login("1", "laptop").await.unwrap();
    clock.advance(secs(1));
    let phone = auth.login("1", "phone").await.unwrap();
    let tablet = auth.login("1", "tablet").await.unwrap();
    let stranger = auth.login("2", "web").await.unwrap();
    let me_on_laptop = auth.authenticate(laptop.token.as_str()).await.unwrap();
    assert_eq!(auth.logout_others(&me_on_laptop).await.unwrap(), 2);
    assert_eq!(me(&app, laptop.token.as_str()).await, Ok("1:laptop".into()));
    for t in [&phone.token, &tablet.token] {
        assert_eq!(me(&app, t.as_str()).await, err(Reason::InvalidToken));
    }
    assert_eq!(me(&app, stranger.token.as_str()).await, Ok("2:web".into()));
    // Nothing left to end; a later login is not touched.
    assert_eq!(auth.logout_others(&me_on_laptop).await.unwrap(), 0);
    let later = auth.login("1", "phone").await.unwrap();
    assert_eq!(me(&app, later.token.as_str()).await, Ok("1:phone".into()));
    let listed: Vec<_> = auth
        .sessions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.info.session_id)
        .collect();
    assert_eq!(
        listed,
        [laptop.session.session_id, later.session.session_id]
    );
}

pub async fn signing_out_the_others_races_logins_atomically<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let mine = auth.login("1", "laptop").await.unwrap();
    let me_id = auth.authenticate(mine.token.as_str()).await.unwrap();
    let logins = (0..16).map(|i| {
        let auth = auth.clone();
        async move { auth.login("1", &format!("d{i}")).await.unwrap().token }
    });
    let (tokens, ended) = tokio::join!(futures::future::join_all(logins), async {
        tokio::task::yield_now().await;
        auth.logout_others(&me_id).await.unwrap()
    });
    // Each login landed before (ended) or after (kept): the count says how many before,
    // and the listing is exactly the working sessions.
    let mut working = vec![me_id.session_id()];
    for t in &tokens {
        match auth.authenticate(t.as_str()).await {
            Ok(id) => working.push(id.session_id()),
            Err(r) => assert_eq!(r.reason(), Reason::InvalidToken),
        }
    }
    assert_eq!(ended + working.len(), 17, "ended {ended}");
    let mut listed: Vec<_> = auth
        .sessions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.info.session_id)
        .collect();
    listed.sort();
    working.sort();
    assert_eq!(listed, working);
}

pub async fn sessions_list_what_the_login_said<S: Stores, K: Kind<S>>(store: S) {
    use kickout::limits::{MAX_FIELDS, MAX_USER_AGENT_LEN};
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let agent = format!("Mozilla/5.0 {}", "é".repeat(200));
    let options = LoginOptions::new()
        .label("Alice's phone")
        .client_ip("203.0.113.7".parse().unwrap())
        .user_agent(&agent)
        .field("app_version", "4.2.0")
        .field("os", "ios")
        .field("app_version", "4.2.1");
    let phone = auth.login_with("1", "phone", options).await.unwrap();
    auth.login("1", "web").await.unwrap();
    let list = auth.sessions("1").await.unwrap();
    assert_eq!(list.len(), 2);
    let meta = &list[0].meta;
    assert_eq!(list[0].info.session_id, phone.session.session_id);
    assert_eq!(meta.label.as_deref(), Some("Alice's phone"));
    assert_eq!(meta.ip.as_deref(), Some("203.0.113.7"));
    let kept = meta.user_agent.as_deref().unwrap();
    assert!(
        kept.len() <= MAX_USER_AGENT_LEN && agent.starts_with(kept),
        "{kept}"
    );
    assert!(
        kept.len() > MAX_USER_AGENT_LEN - 2,
        "cut at a character boundary"
    );
    let fields: Vec<(&str, &str)> = meta.fields.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(fields, [("app_version", "4.2.1"), ("os", "ios")]);
    assert!(list[1].meta.is_empty(), "{:?}", list[1].meta);
    // Out of bounds: refused before any store work.
    let bad = [
        LoginOptions::new().label(""),
        LoginOptions::new().label("x".repeat(129)),
        LoginOptions::new().label("tab\there"),
        LoginOptions::new().field("", "v"),
        LoginOptions::new().field("k", &"v".repeat(257)),
        (0..=MAX_FIELDS).fold(LoginOptions::new(), |o, i| o.field(&format!("f{i}"), "v")),
    ];
    for options in bad {
        let refused = auth.login_with("2", "web", options).await;
        assert!(
            matches!(refused, Err(Error::InvalidInput { .. })),
            "{refused:?}"
        );
    }
    assert!(auth.sessions("2").await.unwrap().is_empty());
}

pub async fn sessions_say_when_they_were_last_used<S: Stores, K: Kind<S>>(store: S) {
    use kickout::limits::LAST_SEEN_STEP_MS;
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let t = auth.login("1", "web").await.unwrap().token;
    let last_seen = || async { auth.sessions("1").await.unwrap()[0].last_seen_ms };
    assert_eq!(last_seen().await, T0, "its issue, until a request");
    // Within the touch interval nothing is written; past it, the request's time is.
    clock.advance(secs(30));
    assert!(me(&app, t.as_str()).await.is_ok());
    assert_eq!(last_seen().await, T0);
    clock.advance(secs(40));
    assert!(me(&app, t.as_str()).await.is_ok());
    assert_eq!(last_seen().await, T0 + 70_000);
    clock.advance(secs(10));
    assert!(me(&app, t.as_str()).await.is_ok());
    let seen = last_seen().await;
    assert_eq!(seen, T0 + 70_000);
    assert!(T0 + 80_000 - seen <= LAST_SEEN_STEP_MS);
}
