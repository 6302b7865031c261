//! Audit events, and input validation.

use super::*;

pub async fn events_report_every_change<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let mut events = auth.events();
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "web").await.unwrap();
    if !K::JWT {
        K::renew(&auth, b.token.as_str()).await.unwrap().unwrap();
    }
    auth.logout(b.token.as_str()).await.unwrap();
    let c = auth.login("10001", "phone").await.unwrap();
    auth.kickout("10001").await.unwrap();
    auth.ban("10001", secs(60)).await.unwrap();
    auth.unban("10001").await.unwrap();
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.at_ms, T0);
        kinds.push(event.kind);
    }
    if K::JWT {
        // No renew in JWT mode: put the event the session-mode run sees in its place.
        kinds.insert(
            3,
            EventKind::Renewed {
                session: b.session.clone(),
            },
        );
    }
    let [
        EventKind::LoggedIn { session: s1 },
        EventKind::LoggedIn { session: s2 },
        EventKind::Replaced {
            sessions: replaced,
            by,
        },
        EventKind::Renewed { session: renewed },
        EventKind::LoggedOut {
            session: out,
            note: None,
        },
        EventKind::LoggedIn { session: s3 },
        EventKind::KickedOut {
            user_id,
            sessions: kicked,
            note: None,
        },
        EventKind::Banned {
            sessions: banned,
            until_ms,
            ..
        },
        EventKind::Unbanned { .. },
    ] = kinds.as_slice()
    else {
        panic!("unexpected events: {kinds:#?}");
    };
    assert_eq!(s1.session_id, a.session.session_id);
    assert_eq!(s2.session_id, b.session.session_id);
    assert_eq!(replaced[0].session_id, a.session.session_id);
    assert_eq!(*by, b.session.session_id);
    assert_eq!(renewed.session_id, b.session.session_id);
    assert_eq!(out.session_id, b.session.session_id);
    assert_eq!(s3.session_id, c.session.session_id);
    assert_eq!(&**user_id, "10001");
    assert_eq!(kicked.len(), 1);
    assert!(banned.is_empty());
    assert_eq!(*until_ms, T0 + 60_000);
}

pub async fn names_are_validated<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let long = "u".repeat(129);
    for (user, device) in [
        ("", "web"),
        ("u", ""),
        (long.as_str(), "web"),
        ("u", long.as_str()),
        ("a\nb", "web"),
        ("u", "w\0"),
    ] {
        let e = auth.login(user, device).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{user:?} {device:?}: {e:?}"
        );
        assert_eq!(e.status(), 400);
    }
    let max = "u".repeat(128);
    assert!(auth.login(&max, "日本語").await.is_ok());
    // The same names are refused by kickouts and bans: no store reads "" as every device.
    for (user, device) in [("", None), ("u", Some("")), ("u", Some("w\0"))] {
        let e = match device {
            None => auth.kickout(user).await.unwrap_err(),
            Some(d) => auth.kickout_device(user, d).await.unwrap_err(),
        };
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{user:?} {device:?}"
        );
    }
    assert!(matches!(
        auth.ban("", secs(5)).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    // A ban of no time would end every session and refuse no login: refused, nothing
    // ended.
    for nothing in [Duration::ZERO, Duration::from_micros(999)] {
        assert!(matches!(
            auth.ban(&max, nothing).await.unwrap_err(),
            Error::InvalidInput { field: "duration" }
        ));
    }
    // Reads and the unban refuse them too: bad input gets a 400, not an empty answer.
    for user in ["", long.as_str(), "a\nb"] {
        for e in [
            auth.sessions(user).await.unwrap_err(),
            auth.unban(user).await.unwrap_err(),
            auth.banned_until(user).await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::InvalidInput { .. }), "{user:?}: {e:?}");
        }
    }
    assert_eq!(auth.sessions("u").await.unwrap().len(), 0);
    assert_eq!(
        auth.sessions(&max).await.unwrap().len(),
        1,
        "nothing was kicked"
    );
}

/// Two instances with near caches on one store, the second's clock more than a token's
/// lifetime (and every verifier's leeway) ahead: its kickout finds the token over and
/// lists nothing, yet the generation bump ends it for the first, whose cache must let
/// go of it. (Stores, not the suite, call this: it needs two caches.)
pub async fn a_bump_that_lists_nothing_still_empties_other_caches<S>(store: S)
where
    S: Stores,
{
    use kickout::store::NearCache;
    let (slow, fast) = (clock(), ManualClock::new(T0 + 3_600_000 + 400_000));
    let near = |store: S| NearCache::new(store, secs(60));
    let a = <Jwt as Kind<_>>::builder(near(store.clone()), &slow)
        .ttl(secs(3600))
        .build();
    let b = <Jwt as Kind<_>>::builder(near(store), &fast)
        .ttl(secs(3600))
        .build();
    let token = a.login("1", "web").await.unwrap().token;
    assert!(a.authenticate(token.as_str()).await.is_ok(), "now cached");
    assert_eq!(b.kickout("1").await.unwrap(), 0, "over by the fast clock");
    // Refused (kicked out, or unknown where the fast clock let the state go as over),
    // as soon as the feed's message is in.
    refused_soon(&a, token.as_str()).await;
}

/// JWT mode: a login whose rule replaces some of the user's tokens announces those and
/// nothing more; one that replaces them all bumps a generation, which ends tokens no
/// list names (those in their leeway), and announces the change of the user's slot tag
/// too. Before, every replacing login announced the change, so every instance forgot
/// the tag's cached sessions and woke its watches. (Stores, not the suite, call this.)
pub async fn a_replacing_login_announces_a_change_only_with_a_bump<S: Stores>(store: S) {
    use kickout::store::{EndReason, Revoked};
    let mut feed = store.revocations().expect("a revocation feed");
    let handle = |rule| {
        <Jwt as Kind<_>>::builder(store.clone(), &clock())
            .login_rule(rule)
            .build()
    };
    // Whatever the feed says until it has been quiet for a while.
    let mut heard = async || {
        let mut got = Vec::new();
        let quiet = std::time::Duration::from_millis(700);
        while let Ok(message) = tokio::time::timeout(quiet, feed.recv()).await {
            let message = message.expect("no lag");
            if matches!(message, Revoked::Sessions(..) | Revoked::Changed(_)) {
                got.push(message);
            }
        }
        got
    };
    heard().await;
    let auth = handle(LoginRule::max_per_user(2));
    let id = auth.login("some", "a").await.unwrap().session.session_id;
    auth.login("some", "b").await.unwrap();
    auth.login("some", "c").await.unwrap();
    assert_eq!(
        heard().await,
        [Revoked::Sessions(
            vec![(id, EndReason::Replaced)].into(),
            None
        )]
    );
    let auth = handle(LoginRule::one_per_device());
    let id = auth.login("all", "web").await.unwrap().session.session_id;
    auth.login("all", "web").await.unwrap();
    let got = heard().await;
    assert!(
        got.contains(&Revoked::Sessions(
            vec![(id, EndReason::Replaced)].into(),
            None
        )),
        "{got:?}"
    );
    assert!(got.contains(&Revoked::Changed(id.tag())), "{got:?}");
}

pub async fn the_audit_stream_spans_instances<S: Stores, K: Kind<S>>(store: S) {
    use kickout::store::audit::AuditKind;
    let clock = clock();
    let here = K::builder(store.clone(), &clock)
        .ttl(secs(600))
        .refresh_tokens(secs(3600))
        .login_rule(LoginRule::one_per_device())
        .build();
    let there = K::builder(store, &clock)
        .ttl(secs(600))
        .refresh_tokens(secs(3600))
        .login_rule(LoginRule::one_per_device())
        .build();
    let mut audit = here.audit();
    // What happens on the other instance, in order.
    let out = there.login("a0", "web").await.unwrap();
    assert!(there.logout(out.token.as_str()).await.unwrap());
    let a = there.login("a1", "web").await.unwrap();
    there.login("a1", "web").await.unwrap();
    there.logout(a.token.as_str()).await.ok();
    let b = there.login("a2", "phone").await.unwrap();
    let note = kickout::Note::new("fraud").unwrap();
    there.with_note(note).kickout("a2").await.unwrap();
    there.ban("a3", secs(60)).await.unwrap();
    there.unban("a3").await.unwrap();
    let c = there.login("a4", "web").await.unwrap();
    let spent = c.refresh.unwrap().token;
    there.refresh(spent.as_str()).await.unwrap();
    assert!(there.refresh(spent.as_str()).await.is_err());
    let spam = kickout::Note::new("spam").unwrap();
    there
        .with_note(spam)
        .restrict("a5", "content", 2, secs(60))
        .await
        .unwrap();
    assert!(there.unrestrict("a5", "content").await.unwrap());
    let d = there.login("a6", "web").await.unwrap();
    let me = there.authenticate(d.token.as_str()).await.unwrap();
    there.elevate(&me, "payment", secs(60)).await.unwrap();
    let want = [
        (AuditKind::Login, "a0"),
        (AuditKind::Logout, "a0"),
        (AuditKind::Login, "a1"),
        (AuditKind::Login, "a1"),
        (AuditKind::Replaced, "a1"),
        (AuditKind::Login, "a2"),
        (AuditKind::KickedOut, "a2"),
        (AuditKind::Banned, "a3"),
        (AuditKind::Unbanned, "a3"),
        (AuditKind::Login, "a4"),
        (AuditKind::RefreshReused, "a4"),
        (AuditKind::Restricted, "a5"),
        (AuditKind::Unrestricted, "a5"),
        (AuditKind::Login, "a6"),
        (AuditKind::Elevated, "a6"),
    ];
    let mut got = Vec::new();
    while got.len() < want.len() {
        let event = tokio::time::timeout(secs(5), audit.recv())
            .await
            .expect("an audit event within 5 s")
            .unwrap();
        got.push(event);
    }
    let kinds: Vec<_> = got.iter().map(|e| (e.kind, &*e.user_id)).collect();
    assert_eq!(kinds, want);
    let kicked = &got[6];
    assert_eq!(kicked.session_id, Some(b.session.session_id));
    assert_eq!(kicked.device.as_deref(), Some("phone"));
    assert_eq!(kicked.note.as_ref().map(kickout::Note::code), Some("fraud"));
    assert_eq!(got[7].session_id, None, "a ban concerns the user");
    let scope = |e: &kickout::store::audit::AuditEvent| e.scope.as_ref().map(|c| c.to_string());
    assert_eq!(scope(&got[11]).as_deref(), Some("content"));
    assert_eq!(got[11].note.as_ref().map(kickout::Note::code), Some("spam"));
    assert_eq!(
        (got[11].session_id, scope(&got[12]).as_deref()),
        (None, Some("content"))
    );
    assert_eq!(got[14].session_id, Some(d.session.session_id));
    assert_eq!(scope(&got[14]).as_deref(), Some("payment"));
    assert!(got.iter().all(|e| e.at_ms == T0));
}

/// Session mode: a refresh on one instance is announced, so another instance's near
/// cache forgets the session then, not when its entry ages out (a minute here): the
/// access token two refreshes back, which the store no longer takes, is refused there
/// as soon as the feed's message is in. Before, nothing was announced.
pub async fn a_refresh_is_announced_to_other_caches<S: Stores>(store: S) {
    use kickout::store::NearCache;
    let clock = clock();
    let build = |store: S| {
        <Session as Kind<_>>::builder(NearCache::new(store, secs(60)), &clock)
            .ttl(secs(600))
            .refresh_tokens(secs(3600))
            .build()
    };
    let (here, there) = (build(store.clone()), build(store));
    let login = there.login("1", "web").await.unwrap();
    let first = login.token.as_str();
    // The first request makes the cache follow the feed; the next ones are cached.
    for _ in 0..3 {
        assert!(here.authenticate(first).await.is_ok());
    }
    let refresh = |login: &kickout::Login| {
        let refresh = login.refresh.as_ref().expect("a refresh token");
        refresh.token.as_str().to_owned()
    };
    let next = there.refresh(&refresh(&login)).await.unwrap();
    there.refresh(&refresh(&next)).await.unwrap();
    assert_eq!(
        there.authenticate(first).await.unwrap_err().reason(),
        Reason::InvalidToken
    );
    assert_eq!(
        refused_soon(&here, first).await.reason(),
        Reason::InvalidToken
    );
}

/// A renewal on another instance moves the session's end past what a near cache holds
/// (its entries live two minutes here): at the old end the cache reads the store again
/// instead of answering `token_expired` for a session the store keeps open. Before, a
/// hit re-read only a record past its idle deadline.
pub async fn a_renewal_elsewhere_outlives_a_cached_end<S: Stores>(store: S) {
    use kickout::store::NearCache;
    let clock = clock();
    let build = |store: S| {
        <Session as Kind<_>>::builder(NearCache::new(store, secs(120)), &clock)
            .ttl(secs(40))
            .build()
    };
    let (here, there) = (build(store.clone()), build(store));
    let token = there.login("1", "web").await.unwrap().token;
    let token = token.as_str();
    // The first request makes the cache follow the feed; the next ones are cached.
    for _ in 0..3 {
        assert!(here.authenticate(token).await.is_ok());
    }
    // Within a minute of the cached read: a request records no sight yet, so only
    // the deadlines can send a hit to the store.
    clock.advance(secs(10));
    there.renew(token).await.unwrap();
    clock.advance(secs(35));
    let me = here.authenticate(token).await.unwrap();
    assert_eq!(me.session().expires_at_ms, T0 + 50_000);
    clock.advance(secs(10));
    assert_eq!(
        here.authenticate(token).await.unwrap_err().reason(),
        Reason::TokenExpired
    );
}

/// An end from an instance whose clock finds the session over already is still
/// announced: another instance, whose clock is behind, serves the session from its near
/// cache (a minute here) until the message is in. Before, the memory store announced only
/// the sessions live by its writer's clock, as neither Redis nor PostgreSQL does.
pub async fn an_end_over_for_its_writer_reaches_other_caches<S: Stores>(store: S) {
    use kickout::store::NearCache;
    let (slow, fast) = (clock(), clock());
    let near = |store: S| NearCache::new(store, secs(60));
    let behind = <Session as Kind<_>>::builder(near(store.clone()), &slow)
        .ttl(secs(60))
        .build();
    let ahead = <Session as Kind<_>>::builder(near(store), &fast)
        .ttl(secs(60))
        .build();
    fast.advance(secs(120));
    let token = behind.login("1", "web").await.unwrap().token;
    let token = token.as_str();
    // The first request makes the cache follow the feed; the next ones are cached.
    for _ in 0..3 {
        assert!(behind.authenticate(token).await.is_ok());
    }
    // Over by its own clock: not counted, but ended for every instance.
    assert_eq!(ahead.kickout("1").await.unwrap(), 0);
    let refused = refused_soon(&behind, token).await;
    assert_eq!(refused.reason(), Reason::KickedOut);
}

/// The same for a refresh token's reuse, in either mode: the session the reuse ends is
/// announced though the writer's clock finds it over. (JWT mode: before, the memory and
/// PostgreSQL stores announced nothing then; Redis did.)
pub async fn a_reuse_over_for_its_writer_reaches_other_caches<S, K>(store: S)
where
    S: Stores,
    K: Kind<kickout::store::NearCache<S>>,
{
    use kickout::store::NearCache;
    let (slow, fast) = (clock(), clock());
    let handle = |store: S, clock: &ManualClock| {
        K::builder(NearCache::new(store, secs(60)), clock)
            .ttl(secs(30))
            .refresh_tokens(secs(60))
            .build()
    };
    let (behind, ahead) = (handle(store.clone(), &slow), handle(store, &fast));
    fast.advance(secs(120));
    let first = behind.login("1", "web").await.unwrap();
    let spent = first.refresh.unwrap().token;
    let next = behind.refresh(spent.as_str()).await.unwrap();
    let token = next.token.as_str();
    for _ in 0..3 {
        assert!(behind.authenticate(token).await.is_ok());
    }
    let refused = ahead.refresh(spent.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Some(Reason::RefreshReused));
    let refused = refused_soon(&behind, token).await;
    assert_eq!(refused.reason(), Reason::RefreshReused);
}

/// A lift from an instance whose clock finds the restriction over already is still
/// announced: it takes the restriction out for every instance, so another instance's
/// near cache, which holds it with the session, forgets it as soon as the message is in
/// (its entries live a minute here). Before, nothing was announced for such a lift.
pub async fn a_lift_over_for_its_writer_reaches_other_caches<S: Stores>(store: S) {
    use kickout::store::NearCache;
    let (slow, fast) = (clock(), clock());
    let near = |store: S| NearCache::new(store, secs(60));
    let behind = <Session as Kind<_>>::builder(near(store.clone()), &slow).build();
    let ahead = <Session as Kind<_>>::builder(near(store), &fast).build();
    fast.advance(secs(4));
    let token = behind.login("1", "web").await.unwrap().token;
    let token = token.as_str();
    behind.restrict("1", "content", 1, secs(2)).await.unwrap();
    let held = async || {
        behind
            .authenticate(token)
            .await
            .unwrap()
            .restrictions()
            .count()
    };
    // The first request makes the cache follow the feed; the next ones are cached.
    for _ in 0..3 {
        assert_eq!(held().await, 1);
    }
    assert!(!ahead.unrestrict("1", "content").await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while held().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still held from the cache"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `auth`'s refusal of `token` once its near cache has the feed's message: within two
/// seconds, asking every 10 ms.
async fn refused_soon<S: Stores, M: kickout::Mode<S>>(
    auth: &Auth<S, M>,
    token: &str,
) -> kickout::Rejection {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match auth.authenticate(token).await {
            Err(refused) => return refused,
            Ok(_) => assert!(
                std::time::Instant::now() < deadline,
                "still served from the cache"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
