//! Refresh tokens: rotation, reuse detection, revocation, expiry, in both modes.

use super::*;

const ACCESS: u64 = 15 * 60;
const CAP: u64 = 30 * 24 * 3600;

/// A handle with short access tokens and thirty-day refresh tokens.
fn refreshing<S: Stores, K: Kind<S>>(store: S, clock: &ManualClock) -> Auth<S, K::M> {
    refreshing_builder::<S, K>(store, clock).build()
}

/// The same, to set more on.
fn refreshing_builder<S: Stores, K: Kind<S>>(
    store: S,
    clock: &ManualClock,
) -> AuthBuilder<S, K::M> {
    K::builder(store, clock)
        .ttl(secs(ACCESS))
        .refresh_tokens(secs(CAP))
}

fn refused(result: Result<kickout::Login, Error>) -> Reason {
    match result {
        Err(Error::Rejected(rejection)) => rejection.reason(),
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("refreshed"),
    }
}

fn refresh_of(login: &kickout::Login) -> String {
    login
        .refresh
        .as_ref()
        .expect("a refresh token")
        .token
        .as_str()
        .to_owned()
}

pub async fn refresh_rotates_within_one_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let mut events = auth.events();
    let login = auth.login("10001", "phone").await.unwrap();
    assert_eq!(login.expires_in(), ACCESS);
    assert_eq!(login.refresh_expires_in(), Some(CAP));
    assert!(login.session.expires_at_ms >= T0 + CAP * 1000);
    clock.advance(secs(10 * 60));
    let next = auth.refresh(&refresh_of(&login)).await.unwrap();
    assert_eq!(next.session.session_id, login.session.session_id);
    assert_eq!(next.session.issued_at_ms, T0, "the session's login time");
    assert_ne!(next.token, login.token);
    assert_eq!(next.expires_in(), ACCESS);
    assert_eq!(
        next.refresh_expires_in(),
        Some(CAP - 10 * 60),
        "capped from login"
    );
    assert_eq!(
        me(&app, next.token.as_str()).await,
        Ok("10001:phone".into())
    );
    // The replaced access token lives until its own end, then expires.
    assert_eq!(
        me(&app, login.token.as_str()).await,
        Ok("10001:phone".into())
    );
    let listed = auth.sessions("10001").await.unwrap();
    assert_eq!(listed.len(), 1, "one session");
    assert_eq!(listed[0].info.session_id, login.session.session_id);
    clock.advance(secs(6 * 60));
    assert_eq!(
        me(&app, login.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    assert_eq!(
        me(&app, next.token.as_str()).await,
        Ok("10001:phone".into())
    );
    // Past the new access token's end too, the session lives on: refresh again.
    clock.advance(secs(20 * 60));
    assert_eq!(
        me(&app, next.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 1);
    let third = auth.refresh(&refresh_of(&next)).await.unwrap();
    assert_eq!(
        me(&app, third.token.as_str()).await,
        Ok("10001:phone".into())
    );
    assert_eq!(third.session.session_id, login.session.session_id);
    let mut refreshed = 0;
    while let Ok(event) = events.try_recv() {
        if let EventKind::Refreshed { session } = event.kind {
            assert_eq!(session.session_id, login.session.session_id);
            refreshed += 1;
        }
    }
    assert_eq!(refreshed, 2);
}

pub async fn a_spent_refresh_token_ends_the_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store.clone(), &clock);
    // Another instance: the reuse is presented there, and its end reaches this one.
    let other = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let login = auth.login("10001", "phone").await.unwrap();
    let bystander = auth.login("10001", "laptop").await.unwrap();
    let spent = refresh_of(&login);
    let next = auth.refresh(&spent).await.unwrap();
    let me_now = auth.authenticate(next.token.as_str()).await.unwrap();
    let mut watch = auth.watch(&me_now);
    let mut events = other.events();
    assert_eq!(refused(other.refresh(&spent).await), Reason::RefreshReused);
    let ended = tokio::time::timeout(secs(5), watch.ended()).await.unwrap();
    assert_eq!(ended, Reason::RefreshReused);
    for token in [&login.token, &next.token] {
        assert_eq!(me(&app, token.as_str()).await, err(Reason::RefreshReused));
    }
    assert_eq!(
        refused(auth.refresh(&refresh_of(&next)).await),
        Reason::RefreshReused
    );
    assert_eq!(refused(auth.refresh(&spent).await), Reason::RefreshReused);
    assert_eq!(
        me(&app, bystander.token.as_str()).await,
        Ok("10001:laptop".into())
    );
    let listed = auth.sessions("10001").await.unwrap();
    assert_eq!(listed.len(), 1, "only the other session is left");
    let event = events.try_recv().unwrap();
    assert!(
        matches!(&event.kind, EventKind::RefreshReused { session } if session.session_id == login.session.session_id),
        "{event:?}"
    );
}

pub async fn concurrent_refreshes_yield_at_most_one_pair<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let login = auth.login("10001", "phone").await.unwrap();
    let token = refresh_of(&login);
    let tries = (0..8).map(|_| {
        let auth = auth.clone();
        let token = token.clone();
        tokio::spawn(async move { auth.refresh(&token).await })
    });
    let mut pairs = Vec::new();
    for task in futures::future::join_all(tries).await {
        match task.unwrap() {
            Ok(pair) => pairs.push(pair),
            Err(e) if e.reason() == Some(Reason::RefreshReused) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(pairs.len() <= 1, "{} callers got a pair", pairs.len());
    let mut working = 0;
    for pair in &pairs {
        if auth.authenticate(pair.token.as_str()).await.is_ok() {
            working += 1;
        }
    }
    assert!(working <= 1);
    // Seven presentations of a spent token: the session is over for everyone.
    if pairs.len() == 1 {
        assert_eq!(working, 0, "the reuse ended the winner's session too");
        assert_eq!(
            refused(auth.refresh(&refresh_of(&pairs[0])).await),
            Reason::RefreshReused
        );
    }
}

pub async fn revocations_end_refresh_tokens<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing_builder::<S, K>(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let out = auth.login("20001", "web").await.unwrap();
    auth.logout(out.token.as_str()).await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&out)).await),
        Reason::InvalidToken
    );

    let kicked = auth.login("20002", "web").await.unwrap();
    let by_device = auth.login("20002", "phone").await.unwrap();
    let by_id = auth.login("20002", "tablet").await.unwrap();
    auth.kickout_device("20002", "phone").await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&by_device)).await),
        Reason::KickedOut
    );
    auth.kickout_session(by_id.session.session_id)
        .await
        .unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&by_id)).await),
        Reason::KickedOut
    );
    auth.kickout("20002").await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&kicked)).await),
        Reason::KickedOut
    );

    let replaced = auth.login("20003", "web").await.unwrap();
    auth.login("20003", "web").await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&replaced)).await),
        Reason::Replaced
    );

    let keep = auth.login("20004", "web").await.unwrap();
    let other = auth.login("20004", "phone").await.unwrap();
    let me_now = auth.authenticate(keep.token.as_str()).await.unwrap();
    assert_eq!(auth.logout_others(&me_now).await.unwrap(), 1);
    assert_eq!(
        refused(auth.refresh(&refresh_of(&other)).await),
        Reason::InvalidToken
    );
    assert!(
        auth.refresh(&refresh_of(&keep)).await.is_ok(),
        "the caller's own goes on"
    );

    let banned = auth.login("20005", "web").await.unwrap();
    auth.ban("20005", secs(3600)).await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&banned)).await),
        Reason::Banned
    );
    auth.unban("20005").await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&banned)).await),
        Reason::KickedOut
    );
}

/// Every revocation ends every token of a session refreshed once: the access token the
/// refresh replaced (valid until its own end), the current one and the refresh token, each
/// with the revocation's reason. A ban that then runs out by time lets none back in.
pub async fn revocations_end_every_token_of_a_refreshed_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing_builder::<S, K>(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    let refreshed = async |user: &str, device: &str| {
        let first = auth.login(user, device).await.unwrap();
        clock.advance(secs(1));
        let next = auth.refresh(&refresh_of(&first)).await.unwrap();
        let who = Ok(format!("{user}:{device}"));
        assert_eq!(
            me(&app, first.token.as_str()).await,
            who,
            "the replaced one"
        );
        assert_eq!(me(&app, next.token.as_str()).await, who);
        (first, next)
    };
    let ended = async |(first, next): &(kickout::Login, kickout::Login), reason: Reason| {
        for token in [&first.token, &next.token] {
            assert_eq!(
                me(&app, token.as_str()).await,
                err(reason),
                "{}",
                next.session.user_id
            );
        }
        assert_eq!(
            refused(auth.refresh(&refresh_of(next)).await),
            reason,
            "{}",
            next.session.user_id
        );
    };

    let s = refreshed("30001", "web").await;
    assert_eq!(auth.kickout("30001").await.unwrap(), 1);
    ended(&s, Reason::KickedOut).await;

    let s = refreshed("30002", "phone").await;
    assert_eq!(auth.kickout_device("30002", "phone").await.unwrap(), 1);
    ended(&s, Reason::KickedOut).await;

    let s = refreshed("30003", "web").await;
    assert!(auth.kickout_session(s.1.session.session_id).await.unwrap());
    ended(&s, Reason::KickedOut).await;

    let s = refreshed("30004", "web").await;
    assert!(auth.logout(s.1.token.as_str()).await.unwrap());
    ended(&s, Reason::InvalidToken).await;

    let s = refreshed("30005", "phone").await;
    let keep = auth.login("30005", "web").await.unwrap();
    let me_now = auth.authenticate(keep.token.as_str()).await.unwrap();
    assert_eq!(auth.logout_others(&me_now).await.unwrap(), 1);
    ended(&s, Reason::InvalidToken).await;
    assert_eq!(me(&app, keep.token.as_str()).await, Ok("30005:web".into()));

    let s = refreshed("30006", "web").await;
    auth.login("30006", "web").await.unwrap();
    ended(&s, Reason::Replaced).await;

    // Ten minutes of ban, shorter than the access tokens' own quarter hour.
    let s = refreshed("30007", "web").await;
    assert_eq!(auth.ban("30007", secs(600)).await.unwrap(), 1);
    ended(&s, Reason::Banned).await;
    clock.advance(secs(660));
    assert!(auth.banned_until("30007").await.unwrap().is_none());
    ended(&s, Reason::KickedOut).await;

    let s = refreshed("30008", "web").await;
    auth.kickout_all().await.unwrap();
    ended(&s, Reason::KickedOut).await;
}

/// Past an access token's own end, a revoked session's token answers `token_expired`
/// in both modes, as tombstones carry their reason only until the token would have
/// expired anyway; the session's refresh token, within its own end, still tells why.
pub async fn a_revoked_token_past_its_own_end_is_expired<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    for (user, reason) in [
        ("40001", Reason::KickedOut),
        ("40002", Reason::InvalidToken),
        ("40003", Reason::Banned),
    ] {
        let first = auth.login(user, "web").await.unwrap();
        clock.advance(secs(ACCESS / 2));
        let next = auth.refresh(&refresh_of(&first)).await.unwrap();
        match reason {
            Reason::KickedOut => assert_eq!(auth.kickout(user).await.unwrap(), 1),
            Reason::InvalidToken => assert!(auth.logout(next.token.as_str()).await.unwrap()),
            _ => assert_eq!(auth.ban(user, secs(CAP)).await.unwrap(), 1),
        }
        // Past the replaced token's end, within the current one's.
        clock.advance(secs(ACCESS / 2 + 1));
        let answers = async || {
            (
                me(&app, first.token.as_str()).await,
                me(&app, next.token.as_str()).await,
            )
        };
        assert_eq!(
            answers().await,
            (err(Reason::TokenExpired), err(reason)),
            "{user}"
        );
        // Past both.
        clock.advance(secs(ACCESS / 2));
        assert_eq!(
            answers().await,
            (err(Reason::TokenExpired), err(Reason::TokenExpired)),
            "{user}"
        );
        assert_eq!(
            refused(auth.refresh(&refresh_of(&next)).await),
            reason,
            "{user}"
        );
    }
}

/// A refresh racing a kickout, a ban or a logout: whichever the store ran first, once
/// both answered no token of the session opens anything, the pair a refresh handed out
/// included, and its refresh token refreshes nothing.
pub async fn a_refresh_racing_a_revocation_leaves_nothing_open<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    for round in 0..30 {
        let user = format!("4000{round}");
        let first = auth.login(&user, "web").await.unwrap();
        let refresh = refresh_of(&first);
        let revoke = async {
            match round % 3 {
                0 => auth.kickout(&user).await.map(|_| ()),
                1 => auth.ban(&user, secs(3_600)).await.map(|_| ()),
                _ => auth.logout(first.token.as_str()).await.map(|_| ()),
            }
        };
        // Sent first in turn: on a network store both are in flight at once.
        let (refreshed, revoked) = if round % 2 == 0 {
            tokio::join!(auth.refresh(&refresh), revoke)
        } else {
            let (revoked, refreshed) = tokio::join!(revoke, auth.refresh(&refresh));
            (refreshed, revoked)
        };
        revoked.unwrap();
        let mut tokens = vec![first.token.as_str().to_owned()];
        if let Ok(next) = &refreshed {
            tokens.push(next.token.as_str().to_owned());
            assert!(auth.refresh(&refresh_of(next)).await.is_err(), "{round}");
        }
        for token in &tokens {
            assert!(me(&app, token).await.is_err(), "{round}: still opens");
        }
        assert!(auth.refresh(&refresh).await.is_err(), "{round}");
        assert!(auth.sessions(&user).await.unwrap().is_empty(), "{round}");
    }
}

pub async fn refresh_tokens_expire<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let cap = 4 * 3600;
    let auth = K::builder(store, &clock)
        .ttl(secs(ACCESS))
        .refresh_tokens(secs(cap))
        .refresh_idle(secs(3600))
        .build();
    let app = app(&auth);
    let login = auth.login("10001", "phone").await.unwrap();
    assert_eq!(login.refresh_expires_in(), Some(3600), "the idle window");
    // Used within its window, it slides; never past the cap.
    let mut pair = login;
    for _ in 0..4 {
        clock.advance(secs(50 * 60));
        pair = auth.refresh(&refresh_of(&pair)).await.unwrap();
        let refresh_end = pair.refresh.as_ref().unwrap().expires_at_ms;
        assert!(refresh_end <= T0 + cap * 1000);
        assert!(
            pair.token_expires_at_ms <= T0 + cap * 1000,
            "the access token too"
        );
        assert!(pair.session.expires_at_ms <= T0 + cap * 1000);
    }
    // 200 minutes in: the cap (240) limits this refresh token's end.
    assert_eq!(
        pair.refresh.as_ref().unwrap().expires_at_ms,
        T0 + cap * 1000
    );
    clock.advance(secs(40 * 60));
    assert_eq!(
        refused(auth.refresh(&refresh_of(&pair)).await),
        Reason::TokenExpired
    );
    assert_eq!(
        me(&app, pair.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    assert!(auth.sessions("10001").await.unwrap().is_empty());

    // Not used within its window: over.
    let idle = auth.login("10002", "phone").await.unwrap();
    clock.advance(secs(61 * 60));
    assert_eq!(
        refused(auth.refresh(&refresh_of(&idle)).await),
        Reason::TokenExpired
    );
    assert!(auth.sessions("10002").await.unwrap().is_empty());
}

/// A refresh token presented past its session's end answers `token_expired`, also
/// once the store forgot the session (JWT mode: its index entry, and the generation of
/// its device, bumped before the login) while keeping its refresh record.
pub async fn a_refresh_past_the_end_is_expired_after_the_store_forgot_the_session<
    S: Stores,
    K: Kind<S>,
>(
    store: S,
) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .ttl(secs(ACCESS))
        .refresh_tokens(secs(4 * 3600))
        .refresh_idle(secs(3600))
        .build();
    auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(30 * 60));
    auth.kickout_device("10001", "phone").await.unwrap();
    let login = auth.login("10001", "phone").await.unwrap();
    // Past its end (90 min) and the verifiers' leeway; within the record's grace.
    clock.advance(secs(67 * 60));
    // A write for the user prunes what is over.
    auth.login("10001", "tablet").await.unwrap();
    assert_eq!(
        refused(auth.refresh(&refresh_of(&login)).await),
        Reason::TokenExpired
    );
}

pub async fn refresh_and_access_tokens_are_not_interchangeable<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let login = auth.login("10001", "phone").await.unwrap();
    let refresh = refresh_of(&login);
    assert_eq!(me(&app, &refresh).await, err(Reason::InvalidToken));
    assert!(auth.authenticate(&refresh).await.is_err());
    assert!(!auth.logout(&refresh).await.unwrap(), "no access token");
    assert_eq!(
        refused(auth.refresh(login.token.as_str()).await),
        Reason::InvalidToken
    );
    for junk in ["", "x", &"A".repeat(51), &"!".repeat(51), &"A".repeat(5000)] {
        assert_eq!(
            refused(auth.refresh(junk).await),
            Reason::InvalidToken,
            "{junk:.10}"
        );
    }
    // A well-formed refresh token no session has: its chain secret changed.
    let mut forged = refresh.clone().into_bytes();
    forged[25] = if forged[25] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(refused(auth.refresh(&forged).await), Reason::InvalidToken);
    // Nothing was spent, or ended, by all that.
    assert_eq!(
        me(&app, login.token.as_str()).await,
        Ok("10001:phone".into())
    );
    assert!(auth.refresh(&refresh).await.is_ok());
}

pub async fn refresh_is_opt_in_per_handle_and_login<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let plain = K::builder(store.clone(), &clock).build();
    let login = plain.login("10001", "web").await.unwrap();
    assert!(login.refresh.is_none());
    assert_eq!(login.refresh_expires_in(), None);
    let own = plain
        .login_with(
            "10001",
            "phone",
            LoginOptions::new().refresh_ttl(secs(7200)),
        )
        .await
        .unwrap();
    assert_eq!(own.refresh_expires_in(), Some(7200));
    assert!(plain.refresh(&refresh_of(&own)).await.is_ok());
    let with = refreshing::<S, K>(store, &clock);
    let none = with
        .login_with("10002", "web", LoginOptions::new().no_refresh())
        .await
        .unwrap();
    assert!(none.refresh.is_none());
    assert_eq!(none.expires_in(), ACCESS);
}

/// A thief who rotates the stolen token again and again cannot make the victim's copy
/// "too old to count": any token of the session's chain, however many rotations ago,
/// ends it. A session id alone forges nothing.
pub async fn reuse_is_detected_however_many_rotations_ago<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let victim = auth.login("10001", "phone").await.unwrap();
    let stolen = refresh_of(&victim);
    let mut thief = auth.refresh(&stolen).await.unwrap();
    for _ in 0..49 {
        clock.advance(secs(1));
        thief = auth.refresh(&refresh_of(&thief)).await.unwrap();
    }
    // One character of the chain secret changed: a token of no session's chain.
    let current = refresh_of(&thief);
    let mut forged = current.clone().into_bytes();
    forged[25] = if forged[25] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(refused(auth.refresh(&forged).await), Reason::InvalidToken);
    assert_eq!(
        me(&app, thief.token.as_str()).await,
        Ok("10001:phone".into()),
        "a forgery ends nothing"
    );
    // The victim's copy, fifty rotations old.
    assert_eq!(refused(auth.refresh(&stolen).await), Reason::RefreshReused);
    assert_eq!(
        me(&app, thief.token.as_str()).await,
        err(Reason::RefreshReused)
    );
    assert_eq!(refused(auth.refresh(&current).await), Reason::RefreshReused);
    assert!(auth.sessions("10001").await.unwrap().is_empty());
}

/// After a refresh the replaced access token still works until its own end: logging
/// out with it ends the whole session, as with the current one.
pub async fn logout_with_the_replaced_access_token_ends_the_session<S: Stores, K: Kind<S>>(
    store: S,
) {
    let clock = clock();
    let auth = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let a = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(60));
    let b = auth.refresh(&refresh_of(&a)).await.unwrap();
    assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:phone".into()));
    assert!(
        auth.logout(a.token.as_str()).await.unwrap(),
        "a live session ended"
    );
    for token in [&a.token, &b.token] {
        assert_eq!(me(&app, token.as_str()).await, err(Reason::InvalidToken));
    }
    assert_eq!(
        refused(auth.refresh(&refresh_of(&b)).await),
        Reason::InvalidToken
    );
    assert!(auth.sessions("10001").await.unwrap().is_empty());
}

/// A watch follows its session, not the token it was opened with: refreshes through
/// another instance replace that token, and past its end the watch goes on while the
/// session lives. It ends with the session: by a logout with the newest token, or at
/// the session's end (for a session never refreshed, its refresh token's).
pub async fn a_watch_follows_its_session_across_refreshes<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = refreshing_builder::<S, K>(store.clone(), &clock)
        .watch_recheck(Duration::from_millis(200))
        .build();
    let other = refreshing::<S, K>(store, &clock);
    let app = app(&auth);
    let phone = auth.login("10001", "phone").await.unwrap();
    let laptop = auth.login("10001", "laptop").await.unwrap();
    let watch = async |login: &kickout::Login| {
        let me = auth.authenticate(login.token.as_str()).await.unwrap();
        let mut watch = auth.watch(&me);
        let first = tokio::time::timeout(Duration::from_millis(300), watch.ended());
        assert!(first.await.is_err(), "the session lives");
        watch
    };
    let (mut on_phone, mut on_laptop) = (watch(&phone).await, watch(&laptop).await);
    // Two refreshes, the second past the first access token's end.
    clock.advance(secs(10 * 60));
    let next = other.refresh(&refresh_of(&phone)).await.unwrap();
    clock.advance(secs(10 * 60));
    let newest = other.refresh(&refresh_of(&next)).await.unwrap();
    assert!(
        me(&app, phone.token.as_str()).await.is_err(),
        "a spent token"
    );
    assert_eq!(
        me(&app, laptop.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    // Both sessions live (the laptop's for its refresh token), and so do their
    // watches, through several re-checks.
    for watch in [&mut on_phone, &mut on_laptop] {
        let ended = tokio::time::timeout(Duration::from_millis(700), watch.ended()).await;
        assert!(ended.is_err(), "{watch:?} ended while its session lives");
    }
    assert!(other.logout(newest.token.as_str()).await.unwrap());
    let ended = tokio::time::timeout(secs(5), on_phone.ended()).await;
    assert_eq!(ended.unwrap(), Reason::InvalidToken);
    clock.advance(secs(CAP));
    let ended = tokio::time::timeout(secs(5), on_laptop.ended()).await;
    assert_eq!(ended.unwrap(), Reason::TokenExpired);
}

/// `renew` of a refresh session moves its access token's end, never past the cap, and
/// never cuts the session short of its refresh token's end.
pub async fn renew_keeps_a_refresh_sessions_ends<S: Stores, K: Kind<S>>(store: S) {
    if K::JWT {
        return; // session mode only: a signed expiry cannot move
    }
    let clock = clock();
    let hour = 3600;
    let auth = K::retention(
        K::builder(store.clone(), &clock)
            .ttl(secs(ACCESS))
            .refresh_tokens(secs(hour)),
        secs(60),
    )
    .build();
    let app = app(&auth);
    let a = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(10 * 60));
    let renewed = K::renew(&auth, a.token.as_str()).await.unwrap().unwrap();
    assert_eq!(
        renewed.expires_at_ms,
        T0 + hour * 1000,
        "the refresh token's end"
    );
    // Past the renewed access token's end and the retention: the session is there.
    clock.advance(secs(ACCESS + 120));
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::TokenExpired));
    let b = auth.refresh(&refresh_of(&a)).await.unwrap();
    // Renewed just before the cap: not past it.
    clock.advance(secs(hour - 10 * 60 - ACCESS - 120 - 60));
    let c = auth.refresh(&refresh_of(&b)).await.unwrap();
    let again = K::renew(&auth, c.token.as_str()).await.unwrap().unwrap();
    assert_eq!(again.expires_at_ms, T0 + hour * 1000);
    clock.advance(secs(61));
    assert_eq!(me(&app, c.token.as_str()).await, err(Reason::TokenExpired));

    // With an idle timeout longer than the access token: a renewal moves the idle
    // deadline as a request would, not to the renewed access token's end.
    let clock = super::clock();
    let auth = K::idle(
        K::builder(store, &clock)
            .ttl(secs(ACCESS))
            .refresh_tokens(secs(hour)),
        secs(4 * ACCESS),
    )
    .build();
    let a = auth.login("10002", "phone").await.unwrap();
    K::renew(&auth, a.token.as_str()).await.unwrap().unwrap();
    clock.advance(secs(2 * ACCESS));
    let b = auth
        .refresh(&refresh_of(&a))
        .await
        .expect("not idle: seen two access lifetimes ago, with four to go idle");
    let c = auth.refresh(&refresh_of(&b)).await.unwrap();
    let seen = auth.sessions("10002").await.unwrap()[0].last_seen_ms;

    // The access token a refresh replaced still opens requests, but renews nothing, and
    // asking is no activity of the session.
    clock.advance(secs(60));
    let refused = K::renew(&auth, b.token.as_str())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Rejected(r) if r.reason() == Reason::InvalidToken),
        "{refused:?}"
    );
    assert_eq!(auth.sessions("10002").await.unwrap()[0].last_seen_ms, seen);
    assert!(auth.authenticate(b.token.as_str()).await.is_ok());
    assert!(auth.authenticate(c.token.as_str()).await.is_ok());
}

/// A refused refresh is a rejection like a request's: the same status, challenge (in
/// the handle's realm), `Cache-Control`, body and note, from `Error::into_http`.
pub async fn a_refused_refresh_answers_as_a_request_would<S: Stores, K: Kind<S>>(store: S) {
    use kickout::Note;
    let clock = clock();
    let auth = refreshing_builder::<S, K>(store, &clock)
        .realm("shop")
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "phone").await.unwrap();
    let note = Note::new("password_changed")
        .unwrap()
        .with_message("Sign in with the new one.")
        .unwrap();
    auth.with_note(note).kickout("10001").await.unwrap();
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {}", a.token.as_str()))
        .body(Body::empty())
        .unwrap();
    let layer = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = layer.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let error = auth.refresh(&refresh_of(&a)).await.unwrap_err();
    assert_eq!(error.reason(), Some(Reason::KickedOut));
    assert_eq!(
        error.rejection().and_then(|r| r.note()).map(Note::code),
        Some("password_changed")
    );
    let helper: http::Response<Vec<u8>> = error.into_http();
    assert_eq!(helper.status(), parts.status);
    for name in ["www-authenticate", "cache-control", "content-type"] {
        assert_eq!(
            helper.headers().get(name),
            parts.headers.get(name),
            "{name}"
        );
    }
    assert!(
        parts.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"realm="shop""#)
    );
    assert_eq!(parts.headers["cache-control"], "no-store");
    let (ours, theirs): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(helper.body()).unwrap(),
        serde_json::from_slice(&body).unwrap(),
    );
    assert_eq!(ours, theirs);
    assert_eq!(ours["note_message"], "Sign in with the new one.");
    // Refused by its format: in the handle's realm too.
    let garbage: http::Response<Vec<u8>> = auth.refresh("garbage").await.unwrap_err().into_http();
    assert_eq!(garbage.status(), 401);
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"realm="shop", error="invalid_token""#)
    );
}

pub async fn refresh_tokens_per_user_are_capped<S: Stores, K: Kind<S>>(store: S) {
    // One account logging in again and again with refresh tokens: each login's record
    // is kept to its session's end (30 days) to say why a refresh is refused, but no
    // more of them than the bound (in session mode the tombstones' bound comes first).
    // Only sessions that are over lose theirs: a live one keeps it, however old.
    use kickout::limits::MAX_REFRESH_TOKENS;
    let clock = clock();
    let auth = refreshing_builder::<S, K>(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let desktop = auth.login("30001", "desktop").await.unwrap();
    clock.advance(Duration::from_millis(1));
    let first = auth.login("30001", "web").await.unwrap();
    let mut earlier = first.clone();
    let mut last = first.clone();
    for _ in 0..MAX_REFRESH_TOKENS {
        clock.advance(Duration::from_millis(1));
        earlier = last;
        last = auth.login("30001", "web").await.unwrap();
    }
    assert_eq!(
        refused(auth.refresh(&refresh_of(&first)).await),
        Reason::InvalidToken
    );
    assert_eq!(
        refused(auth.refresh(&refresh_of(&earlier)).await),
        Reason::Replaced
    );
    let app = app(&auth);
    for live in [&last, &desktop] {
        let renewed = auth.refresh(&refresh_of(live)).await.unwrap();
        let device = &renewed.session.device;
        assert_eq!(
            me(&app, renewed.token.as_str()).await,
            Ok(format!("30001:{device}"))
        );
    }
    // A login whose record is due before every other one's keeps it too.
    let short = LoginOptions::new().refresh_ttl(secs(2 * ACCESS));
    let tablet = auth.login_with("30001", "tablet", short).await.unwrap();
    assert!(auth.refresh(&refresh_of(&tablet)).await.is_ok());
}
