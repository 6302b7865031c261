//! Restrictions kept by the store: set, replaced, bounded, listed, lifted by hand and by
//! time, per user, with nothing else changed; and the guards that hold them on every
//! request, read with the request's record.

use super::*;
use kickout::limits::MAX_RESTRICTIONS;

pub async fn restrictions_hold_until_they_lift<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let session = auth.login("10001", "web").await.unwrap();
    let note = kickout::Note::new("spam").unwrap();
    let set = auth
        .with_note(note.clone())
        .restrict("10001", "content", 2, secs(60))
        .await
        .unwrap();
    assert_eq!(
        (set.scope.as_str(), set.level.get(), set.until_ms),
        ("content", 2, T0 + 60_000)
    );
    let held = auth.restrictions("10001").await.unwrap();
    assert_eq!(held, vec![set.clone()]);
    assert_eq!(held[0].note.as_ref(), Some(&note));
    // The sessions are not ended.
    assert!(me(&app, session.token.as_str()).await.is_ok());
    // Another user is not restricted; the latest word per scope stands.
    assert!(auth.restrictions("10002").await.unwrap().is_empty());
    auth.restrict("10001", "content", 1, secs(30))
        .await
        .unwrap();
    let held = auth.restrictions("10001").await.unwrap();
    assert_eq!(
        (held.len(), held[0].level.get(), held[0].note.as_ref()),
        (1, 1, None)
    );
    // It lifts by itself.
    clock.advance(secs(30));
    assert!(auth.restrictions("10001").await.unwrap().is_empty());
    assert!(!auth.unrestrict("10001", "content").await.unwrap());
    // And by hand.
    auth.restrict("10001", "chat", 3, secs(60)).await.unwrap();
    assert!(auth.unrestrict("10001", "chat").await.unwrap());
    assert!(auth.restrictions("10001").await.unwrap().is_empty());
}

pub async fn bad_restrictions_change_nothing<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let field = |r: Result<kickout::restriction::Restriction, Error>| match r {
        Err(Error::InvalidInput { field }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(auth.restrict("1", "Content", 1, secs(60)).await),
        "scope"
    );
    assert_eq!(field(auth.restrict("1", "", 1, secs(60)).await), "scope");
    assert_eq!(
        field(auth.restrict("1", &"a".repeat(65), 1, secs(60)).await),
        "scope"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 0, secs(60)).await),
        "level"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 6, secs(60)).await),
        "level"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 1, Duration::ZERO).await),
        "duration"
    );
    assert_eq!(
        field(auth.restrict("", "content", 1, secs(60)).await),
        "user_id"
    );
    assert!(auth.restrictions("1").await.unwrap().is_empty());
    // A bounded number of scopes per user: one more is refused, an existing one changes.
    for i in 0..MAX_RESTRICTIONS {
        auth.restrict("1", &format!("s{i}"), 1, secs(60))
            .await
            .unwrap();
    }
    assert_eq!(
        field(auth.restrict("1", "extra", 1, secs(60)).await),
        "scopes"
    );
    auth.restrict("1", "s0", 5, secs(120)).await.unwrap();
    let held = auth.restrictions("1").await.unwrap();
    assert_eq!(held.len(), MAX_RESTRICTIONS);
    assert!(held.iter().all(|r| r.scope.as_str() != "extra"));
    // Once they lift, there is room again.
    clock.advance(secs(60));
    auth.restrict("1", "extra", 1, secs(60)).await.unwrap();
    let scopes: Vec<_> = auth
        .restrictions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.scope.to_string())
        .collect();
    assert_eq!(scopes, vec!["extra".to_owned(), "s0".to_owned()]);
}

/// What a guarded route answers `token`: `Ok(())`, or the status and the JSON body.
async fn guarded(app: &Router, path: &str, token: &str) -> Result<(), (u16, serde_json::Value)> {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    match status {
        204 => Ok(()),
        _ => Err((status, serde_json::from_slice(&bytes).unwrap())),
    }
}

fn guarded_app<S: kickout::store::Store, M: Mode<S>>(auth: &Auth<S, M>) -> Router {
    use axum::routing::post;
    let ok = || async { StatusCode::NO_CONTENT };
    Router::new()
        .route(
            "/publish",
            post(ok).route_layer(auth.guard("content", 1).unwrap()),
        )
        .route(
            "/comment",
            post(ok).route_layer(auth.guard("content", 2).unwrap()),
        )
        .route_layer(AuthLayer::new(auth.clone()))
}

pub async fn guards_hold_restrictions_from_the_next_request<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store.clone(), &clock).build();
    // Another instance on the same store: its restriction holds here at once.
    let other = K::builder(store, &clock).build();
    let (app, plain) = (guarded_app(&auth), app(&auth));
    let token = auth.login("10001", "web").await.unwrap().token;
    let token = token.as_str();
    let bystander = auth.login("10002", "web").await.unwrap().token;
    assert_eq!(guarded(&app, "/publish", token).await, Ok(()));
    assert_eq!(guarded(&app, "/comment", token).await, Ok(()));

    // Level 1: no publishing; commenting (level 2) still passes, and so does the rest.
    let note = kickout::Note::new("spam").unwrap();
    other
        .with_note(note)
        .restrict("10001", "content", 1, secs(60))
        .await
        .unwrap();
    let (status, body) = guarded(&app, "/publish", token).await.unwrap_err();
    assert_eq!(status, 403);
    assert_eq!(body["error"], "restricted");
    assert_eq!(body["scope"], "content");
    assert_eq!(body["level"], 1);
    assert_eq!(body["until"], (T0 + 60_000) / 1000);
    assert_eq!(body["note"], "spam");
    assert_eq!(guarded(&app, "/comment", token).await, Ok(()));
    assert!(me(&plain, token).await.is_ok(), "the session is not ended");
    let identity = auth.authenticate(token).await.unwrap();
    assert_eq!(identity.restrictions().count(), 1);
    assert_eq!(
        guarded(&app, "/publish", bystander.as_str()).await,
        Ok(()),
        "another user is not restricted"
    );

    // Level 2 bars both; lifting it (on the other instance) frees both at once.
    other
        .restrict("10001", "content", 2, secs(60))
        .await
        .unwrap();
    let (_, body) = guarded(&app, "/comment", token).await.unwrap_err();
    assert_eq!((body["level"].as_u64(), body.get("note")), (Some(2), None));
    assert!(guarded(&app, "/publish", token).await.is_err());
    assert!(other.unrestrict("10001", "content").await.unwrap());
    assert_eq!(guarded(&app, "/publish", token).await, Ok(()));
    assert_eq!(guarded(&app, "/comment", token).await, Ok(()));

    // A restriction of another scope guards nothing here; one of this scope ends by
    // itself.
    auth.restrict("10001", "chat", 5, secs(60)).await.unwrap();
    auth.restrict("10001", "content", 5, secs(30))
        .await
        .unwrap();
    assert!(guarded(&app, "/publish", token).await.is_err());
    clock.advance(secs(30));
    assert_eq!(guarded(&app, "/publish", token).await, Ok(()));
    // A later login of the user is restricted too.
    auth.restrict("10001", "content", 1, secs(60))
        .await
        .unwrap();
    let later = auth.login("10001", "phone").await.unwrap().token;
    assert_eq!(
        guarded(&app, "/publish", later.as_str())
            .await
            .unwrap_err()
            .0,
        403
    );
}

fn step_up_app<S: kickout::store::Store, M: Mode<S>>(auth: &Auth<S, M>) -> Router {
    use axum::routing::post;
    Router::new()
        .route(
            "/pay",
            post(|| async { StatusCode::NO_CONTENT }).route_layer(auth.step_up("payment").unwrap()),
        )
        .route_layer(AuthLayer::new(auth.clone()))
}

pub async fn step_up_windows_belong_to_one_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store.clone(), &clock)
        .ttl(secs(900))
        .refresh_tokens(secs(86_400))
        .build();
    let other = K::builder(store.clone(), &clock).build();
    let (app, there) = (step_up_app(&auth), step_up_app(&other));
    let web = auth.login("10001", "web").await.unwrap();
    let phone = auth.login("10001", "phone").await.unwrap();
    let (web_token, phone_token) = (web.token.as_str(), phone.token.as_str());
    let (status, body) = guarded(&app, "/pay", web_token).await.unwrap_err();
    assert_eq!(
        (status, &body["error"]),
        (403, &serde_json::json!("step_up_required"))
    );
    assert_eq!(body["scope"], "payment");

    // The application checked the password again: this session only, every instance.
    let me = auth.authenticate(web_token).await.unwrap();
    assert_eq!(me.last_elevated(), None);
    let until = auth.elevate(&me, "payment", secs(300)).await.unwrap();
    assert_eq!(until, at(T0 + 300_000));
    assert_eq!(guarded(&app, "/pay", web_token).await, Ok(()));
    assert_eq!(guarded(&there, "/pay", web_token).await, Ok(()));
    assert_eq!(guarded(&app, "/pay", phone_token).await.unwrap_err().0, 403);
    let me = auth.authenticate(web_token).await.unwrap();
    let payment = kickout::restriction::Scope::new("payment").unwrap();
    assert_eq!(me.elevated(&payment), Some(until));
    assert_eq!(me.last_elevated(), Some(at(T0)));

    // A refresh keeps it (the same session); the window closes by itself.
    clock.advance(secs(100));
    let refreshed = auth
        .refresh(web.refresh.as_ref().unwrap().token.as_str())
        .await
        .unwrap();
    let web_token = refreshed.token.as_str();
    assert_eq!(guarded(&app, "/pay", web_token).await, Ok(()));
    clock.advance(secs(200));
    assert_eq!(guarded(&app, "/pay", web_token).await.unwrap_err().0, 403);
    // Closed, it still says when the session was last checked again.
    let me = auth.authenticate(web_token).await.unwrap();
    assert_eq!(me.last_elevated(), Some(at(T0)));

    // A window never outlives its session (here its refresh token's end).
    let me = auth.authenticate(web_token).await.unwrap();
    let end = auth
        .elevate(&me, "payment", secs(3 * 86_400))
        .await
        .unwrap();
    assert_eq!(end, at(T0 + 86_400_000));
    assert_eq!(guarded(&app, "/pay", web_token).await, Ok(()));

    // Closed early (the session locks itself again), on every instance at once.
    assert!(other.close_elevation(&me, "payment").await.unwrap());
    assert_eq!(guarded(&app, "/pay", web_token).await.unwrap_err().0, 403);
    assert!(!auth.close_elevation(&me, "payment").await.unwrap());
    let phone_me = auth.authenticate(phone_token).await.unwrap();
    assert!(!auth.close_elevation(&phone_me, "payment").await.unwrap());
    assert!(matches!(
        auth.close_elevation(&me, "Pay").await,
        Err(Error::InvalidInput { field: "scope" })
    ));
    let me = auth.authenticate(web_token).await.unwrap();
    assert_eq!(me.last_elevated(), Some(at(T0 + 300_000)));
    auth.elevate(&me, "payment", secs(600)).await.unwrap();
    assert_eq!(guarded(&app, "/pay", web_token).await, Ok(()));

    // Closed by an instance whose clock says the window is over already: written and
    // announced all the same, for this instance still reads it open.
    assert!(auth.close_elevation(&me, "payment").await.unwrap());
    auth.elevate(&me, "payment", secs(1)).await.unwrap();
    assert_eq!(guarded(&app, "/pay", web_token).await, Ok(()));
    let ahead = kickout::clock::ManualClock::new(kickout::clock::Clock::now_ms(&clock) + 2_000);
    let late = K::builder(store, &ahead).build();
    assert!(
        !late.close_elevation(&me, "payment").await.unwrap(),
        "over by its clock"
    );
    assert_eq!(guarded(&app, "/pay", web_token).await.unwrap_err().0, 403);

    // Bad input changes nothing.
    let field = |r: Result<std::time::SystemTime, Error>| match r {
        Err(Error::InvalidInput { field }) => field,
        other => panic!("{other:?}"),
    };
    let phone_me = auth.authenticate(phone_token).await.unwrap();
    assert_eq!(
        field(auth.elevate(&phone_me, "Pay", secs(60)).await),
        "scope"
    );
    assert_eq!(
        field(auth.elevate(&phone_me, "payment", Duration::ZERO).await),
        "window"
    );
    for i in 0..kickout::limits::MAX_ELEVATIONS {
        auth.elevate(&phone_me, &format!("s{i}"), secs(60))
            .await
            .unwrap();
    }
    assert_eq!(
        field(auth.elevate(&phone_me, "payment", secs(60)).await),
        "scopes"
    );
    assert_eq!(guarded(&app, "/pay", phone_token).await.unwrap_err().0, 403);

    // It ends with its session: a kickout ends it, and no window opens after.
    auth.kickout("10001").await.unwrap();
    assert_eq!(guarded(&app, "/pay", web_token).await.unwrap_err().0, 401);
    match auth.elevate(&me, "payment", secs(60)).await {
        Err(Error::Rejected(r)) => assert_eq!(r.reason(), Reason::KickedOut),
        other => panic!("{other:?}"),
    }
}

/// When a session was last elevated stays known while the session lives, also after
/// a refresh (or, in session mode, a renewal) moved its end past the end it had when it
/// was elevated. (On Redis the windows' key expired at the old end, in real time.)
pub async fn the_last_elevation_outlives_a_moved_end<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    // The handles' clock moves with real time here, which a store's own expiry goes by.
    let pass = |ms: u64| {
        let clock = clock.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            clock.advance(Duration::from_millis(ms));
        }
    };
    // Access tokens of three seconds; refresh tokens
    // used within three seconds move the end.
    let refreshing = K::builder(store.clone(), &clock)
        .ttl(secs(3))
        .refresh_tokens(secs(60))
        .refresh_idle(secs(3))
        .build();
    let renewing = K::builder(store, &clock).ttl(secs(3)).build();
    let login = refreshing.login("10001", "web").await.unwrap();
    let renewed = renewing.login("10002", "web").await.unwrap();
    for (auth, token) in [(&refreshing, &login.token), (&renewing, &renewed.token)] {
        let me = auth.authenticate(token.as_str()).await.unwrap();
        auth.elevate(&me, "payment", secs(300)).await.unwrap();
    }
    pass(2_000).await;
    let refreshed = refreshing
        .refresh(login.refresh.as_ref().unwrap().token.as_str())
        .await
        .unwrap();
    assert_eq!(refreshed.session.expires_at_ms, T0 + 5_000);
    let renewal = K::renew(&renewing, renewed.token.as_str()).await;
    if let Some(renewal) = &renewal {
        assert_eq!(renewal.as_ref().unwrap().expires_at_ms, T0 + 5_000);
    }
    // Past the end the sessions had when elevated (a sleep never ends early), and
    // well within their new one.
    pass(1_200).await;
    let me = refreshing
        .authenticate(refreshed.token.as_str())
        .await
        .unwrap();
    assert_eq!(me.last_elevated(), Some(at(T0)));
    if renewal.is_some() {
        let me = renewing.authenticate(renewed.token.as_str()).await.unwrap();
        assert_eq!(me.last_elevated(), Some(at(T0)));
    }
}

/// Unix milliseconds as a time.
fn at(ms: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(ms)
}

pub async fn a_restriction_holds_from_the_moment_it_answered<S: Stores, K: Kind<S>>(store: S) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = guarded_app(&auth);
    let token = auth.login("10001", "web").await.unwrap().token;
    let token = token.as_str().to_owned();
    let answered = Arc::new(AtomicBool::new(false));
    // A burst of requests while the restriction lands: every request that began after
    // `restrict` answered is refused.
    let burst = (0..4).map(|_| {
        let (app, token, answered) = (app.clone(), token.clone(), answered.clone());
        async move {
            // Until ten requests came after the answer, however long the store takes.
            let mut late = 0;
            while late < 10 {
                let after = answered.load(Ordering::SeqCst);
                let result = guarded(&app, "/publish", &token).await;
                if after {
                    assert_eq!(
                        result.unwrap_err().0,
                        403,
                        "a request after the answer passed"
                    );
                    late += 1;
                }
                tokio::task::yield_now().await;
            }
            late
        }
    });
    let restrict = async {
        tokio::task::yield_now().await;
        auth.restrict("10001", "content", 1, secs(60))
            .await
            .unwrap();
        answered.store(true, Ordering::SeqCst);
    };
    let (late, ()) = tokio::join!(futures::future::join_all(burst), restrict);
    assert_eq!(late, [10; 4]);
}

pub async fn an_elevation_racing_a_kickout_never_outlives_it<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = step_up_app(&auth);
    for round in 0..10 {
        let user = format!("race{round}");
        let token = auth.login(&user, "web").await.unwrap().token;
        let me = auth.authenticate(token.as_str()).await.unwrap();
        let (elevated, kicked) =
            tokio::join!(auth.elevate(&me, "payment", secs(300)), auth.kickout(&user));
        assert_eq!(kicked.unwrap(), 1);
        match elevated {
            Ok(_) => {}
            Err(Error::Rejected(r)) => assert_eq!(r.reason(), Reason::KickedOut),
            Err(e) => panic!("{e:?}"),
        }
        // Whichever came first, the session is over and so is its window; a new login
        // of the user is not elevated.
        let (status, body) = guarded(&app, "/pay", token.as_str()).await.unwrap_err();
        assert_eq!(
            (status, &body["error"]),
            (401, &serde_json::json!("kicked_out"))
        );
        let again = auth.login(&user, "web").await.unwrap().token;
        assert_eq!(
            guarded(&app, "/pay", again.as_str()).await.unwrap_err().0,
            403
        );
    }
}

pub async fn an_idle_session_opens_no_window<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60)).build();
    let token = auth.login("10001", "web").await.unwrap().token;
    let me = auth.authenticate(token.as_str()).await.unwrap();
    clock.advance(secs(61));
    match auth.elevate(&me, "payment", secs(300)).await {
        Err(Error::Rejected(r)) => assert_eq!(r.reason(), Reason::TokenExpired),
        other => panic!("{other:?}"),
    }
}

pub async fn a_window_ends_with_its_session_however_it_ends<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(kickout::LoginRule::one_per_device())
        .refresh_tokens(secs(3_600))
        .build();
    let app = step_up_app(&auth);
    let elevated = |user: &'static str| {
        let auth = auth.clone();
        async move {
            let login = auth.login(user, "web").await.unwrap();
            let me = auth.authenticate(login.token.as_str()).await.unwrap();
            auth.elevate(&me, "payment", secs(300)).await.unwrap();
            login
        }
    };
    let ends: [(&str, Reason); 4] = [
        ("logout", Reason::InvalidToken),
        ("ban", Reason::Banned),
        ("replace", Reason::Replaced),
        ("reuse", Reason::RefreshReused),
    ];
    for (user, reason) in ends {
        let login = elevated(user).await;
        let token = login.token.as_str();
        assert_eq!(guarded(&app, "/pay", token).await, Ok(()));
        match user {
            "logout" => assert!(auth.logout(token).await.unwrap()),
            "ban" => assert_eq!(auth.ban(user, secs(60)).await.unwrap(), 1),
            "replace" => drop(auth.login(user, "web").await.unwrap()),
            _ => {
                let spent = login.refresh.as_ref().unwrap().token.as_str();
                auth.refresh(spent).await.unwrap();
                assert!(auth.refresh(spent).await.is_err());
            }
        }
        let (status, body) = guarded(&app, "/pay", token).await.unwrap_err();
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(reason.code())),
            "{user}"
        );
    }
    // A session that replaced an elevated one is not elevated.
    let login = auth.login("replace", "web").await.unwrap();
    let (status, _) = guarded(&app, "/pay", login.token.as_str())
        .await
        .unwrap_err();
    assert_eq!(status, 403);
}

/// A restriction stands on an instance whose clock is behind, whatever an instance
/// that finds it over writes to the user's restrictions meanwhile. Before, every store
/// dropped it by the writer's clock, for every instance.
pub async fn a_restriction_stands_on_a_slower_clock<S: Stores, K: Kind<S>>(store: S) {
    let (slow, fast) = (clock(), clock());
    let behind = K::builder(store.clone(), &slow).build();
    let ahead = K::builder(store, &fast).build();
    fast.advance(secs(4));
    let app = guarded_app(&behind);
    let token = behind.login("10001", "web").await.unwrap().token;
    let token = token.as_str();
    behind
        .restrict("10001", "content", 1, secs(2))
        .await
        .unwrap();
    assert!(ahead.restrictions("10001").await.unwrap().is_empty());
    // The instance ahead writes the user's restrictions: one more scope, then a lift.
    ahead.restrict("10001", "chat", 1, secs(60)).await.unwrap();
    assert!(ahead.unrestrict("10001", "chat").await.unwrap());
    assert_eq!(guarded(&app, "/publish", token).await.unwrap_err().0, 403);
    assert_eq!(behind.restrictions("10001").await.unwrap().len(), 1);
    // A lift is the operator's word: for every instance at once, though the one that
    // lifts it finds it over already. (PostgreSQL wrote nothing for such a lift.)
    assert!(!ahead.unrestrict("10001", "content").await.unwrap());
    assert_eq!(guarded(&app, "/publish", token).await, Ok(()));
    assert!(behind.restrictions("10001").await.unwrap().is_empty());
    // Else its end comes by each clock.
    behind
        .restrict("10001", "content", 1, secs(2))
        .await
        .unwrap();
    assert_eq!(guarded(&app, "/publish", token).await.unwrap_err().0, 403);
    slow.advance(secs(2));
    assert_eq!(guarded(&app, "/publish", token).await, Ok(()));
    assert!(behind.restrictions("10001").await.unwrap().is_empty());
}

/// When a new scope needs room, restrictions over by the writer's clock make it: the
/// earliest lifted first and, between equal ends, by scope name. Every store keeps the
/// same ones, so an instance behind holds the same restrictions whatever the store.
pub async fn lifted_restrictions_make_room_in_one_order<S: Stores, K: Kind<S>>(store: S) {
    let (slow, fast) = (clock(), clock());
    let behind = K::builder(store.clone(), &slow).build();
    let ahead = K::builder(store, &fast).build();
    for i in 0..MAX_RESTRICTIONS - 6 {
        let scope = format!("live{i:02}");
        behind.restrict("1", &scope, 1, secs(60)).await.unwrap();
    }
    // Six that end together, set in no order of their names.
    for scope in ["qq", "bb", "xx", "aa", "mm", "kk"] {
        behind.restrict("1", scope, 1, secs(2)).await.unwrap();
    }
    fast.advance(secs(4));
    for scope in ["new1", "new2", "new3"] {
        ahead.restrict("1", scope, 1, secs(60)).await.unwrap();
    }
    let mut short: Vec<String> = behind
        .restrictions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.scope.to_string())
        .filter(|s| s.len() == 2)
        .collect();
    short.sort();
    assert_eq!(short, ["mm", "qq", "xx"]);
    assert_eq!(
        behind.restrictions("1").await.unwrap().len(),
        MAX_RESTRICTIONS
    );
}
