//! Concurrent-login rules, applied atomically with the login.

use super::*;

pub async fn rule_unlimited<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::unlimited())
        .build();
    let app = app(&auth);
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(auth.login("10001", "web").await.unwrap().token);
    }
    for t in &tokens {
        assert_eq!(me(&app, t.as_str()).await, Ok("10001:web".into()));
    }
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 5);
}

pub async fn rule_one_per_device<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let app = app(&auth);
    let web1 = auth.login("10001", "web").await.unwrap();
    let phone = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(1));
    let web2 = auth.login("10001", "web").await.unwrap();
    assert_eq!(web2.replaced.len(), 1);
    assert_eq!(web2.replaced[0].session_id, web1.session.session_id);
    assert_eq!(me(&app, web1.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(me(&app, web2.token.as_str()).await, Ok("10001:web".into()));
    assert_eq!(
        me(&app, phone.token.as_str()).await,
        Ok("10001:phone".into())
    );
    // Another user's device of the same name is another scope.
    let other = auth.login("10002", "web").await.unwrap();
    assert!(other.replaced.is_empty());
}

pub async fn rule_one_in_all<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_in_all())
        .build();
    let app = app(&auth);
    let web = auth.login("10001", "web").await.unwrap();
    let phone = auth.login("10001", "phone").await.unwrap();
    assert_eq!(phone.replaced.len(), 1);
    assert_eq!(me(&app, web.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(
        me(&app, phone.token.as_str()).await,
        Ok("10001:phone".into())
    );
}

pub async fn rule_max_per_user_replaces_oldest<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::max_per_user(2))
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(1));
    let b = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(1));
    let c = auth.login("10001", "tv").await.unwrap();
    assert_eq!(c.replaced.len(), 1);
    assert_eq!(
        c.replaced[0].session_id, a.session.session_id,
        "oldest goes"
    );
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(me(&app, b.token.as_str()).await, Ok("10001:phone".into()));
    auth.logout(b.token.as_str()).await.unwrap();
    let d = auth.login("10001", "car").await.unwrap();
    assert!(d.replaced.is_empty(), "a logged-out session does not count");
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 2);
}

pub async fn rule_max_per_device<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::max_per_device(2))
        .build();
    let app = app(&auth);
    let w1 = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(1));
    let w2 = auth.login("10001", "web").await.unwrap();
    let p1 = auth.login("10001", "phone").await.unwrap();
    clock.advance(secs(1));
    let w3 = auth.login("10001", "web").await.unwrap();
    assert_eq!(w3.replaced.len(), 1);
    assert_eq!(me(&app, w1.token.as_str()).await, err(Reason::Replaced));
    for t in [&w2.token, &w3.token, &p1.token] {
        assert!(me(&app, t.as_str()).await.is_ok());
    }
}

pub async fn rule_refuse_new<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store.clone(), &clock)
        .ttl(secs(100))
        .login_rule(LoginRule::one_per_device().refuse_new())
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let refused = auth.login("10001", "web").await.unwrap_err();
    assert!(matches!(refused, Error::SessionLimit));
    assert_eq!(refused.status(), 409);
    assert!(auth.login("10001", "phone").await.is_ok(), "other device");
    assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:web".into()));
    auth.logout(a.token.as_str()).await.unwrap();
    let b = auth.login("10001", "web").await.unwrap();
    // Only a *valid* session blocks: once it expired, a login goes through.
    clock.advance(secs(100));
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::TokenExpired));
    assert!(auth.login("10001", "web").await.is_ok());

    // Nor does one idle too long, in either mode: it opens nothing, nor is it listed.
    let clock = super::clock();
    let auth = K::idle(
        K::builder(store.clone(), &clock)
            .ttl(secs(3_600))
            .login_rule(LoginRule::one_per_device().refuse_new()),
        secs(600),
    )
    .build();
    let app = super::app(&auth);
    // Live by its last sight, not by its login: it still blocks.
    let seen = auth.login("10003", "web").await.unwrap();
    clock.advance(secs(500));
    assert_eq!(me(&app, seen.token.as_str()).await, Ok("10003:web".into()));
    clock.advance(secs(200));
    assert!(matches!(
        auth.login("10003", "web").await.unwrap_err(),
        Error::SessionLimit
    ));
    let idle = auth.login("10002", "web").await.unwrap();
    clock.advance(secs(601));
    assert_eq!(
        me(&app, idle.token.as_str()).await,
        err(Reason::TokenExpired)
    );
    assert!(auth.sessions("10002").await.unwrap().is_empty());
    let next = auth
        .login("10002", "web")
        .await
        .expect("an idle session blocks nothing");
    assert!(next.replaced.is_empty(), "nor is it replaced: it was over");

    // A login that replaces every live session leaves nothing of the idle one either: a
    // kickout finds only the session after it.
    let auth = K::idle(
        K::builder(store, &clock).login_rule(LoginRule::max_per_user(1)),
        secs(600),
    )
    .build();
    auth.login("10004", "phone").await.unwrap();
    clock.advance(secs(601));
    auth.login("10004", "web").await.unwrap();
    let last = auth.login("10004", "tablet").await.unwrap();
    assert_eq!(last.replaced.len(), 1, "the web session");
    assert_eq!(
        auth.kickout("10004").await.unwrap(),
        1,
        "the tablet's alone"
    );
}

pub async fn rule_override_per_login<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::unlimited())
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "phone").await.unwrap();
    let c = auth
        .login_with(
            "10001",
            "web",
            LoginOptions::new()
                .rule(LoginRule::one_in_all())
                .ttl(secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(c.replaced.len(), 2);
    assert_eq!(c.expires_in(), 10);
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::Replaced));
    assert_eq!(me(&app, b.token.as_str()).await, err(Reason::Replaced));
    clock.advance(secs(10));
    assert_eq!(me(&app, c.token.as_str()).await, err(Reason::TokenExpired));
}

pub async fn rule_ties_go_by_creation_order<S: Stores, K: Kind<S>>(store: S) {
    // Same millisecond: the one created first is the oldest.
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::max_per_user(2))
        .build();
    let app = app(&auth);
    let a = auth.login("10001", "a").await.unwrap();
    let b = auth.login("10001", "b").await.unwrap();
    let c = auth.login("10001", "c").await.unwrap();
    assert_eq!(c.replaced[0].session_id, a.session.session_id);
    let d = auth.login("10001", "d").await.unwrap();
    assert_eq!(d.replaced[0].session_id, b.session.session_id);
    assert_eq!(me(&app, c.token.as_str()).await, Ok("10001:c".into()));
    let listed: Vec<_> = auth
        .sessions("10001")
        .await
        .unwrap()
        .iter()
        .map(|s| s.info.session_id)
        .collect();
    assert_eq!(listed, [c.session.session_id, d.session.session_id]);
}

pub async fn rules_hold_under_simultaneous_logins<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_in_all())
        .build();
    let logins = (0..16).map(|i| {
        let auth = auth.clone();
        tokio::spawn(async move { auth.login("10001", &format!("d{i}")).await })
    });
    let mut ok = 0;
    for task in logins {
        ok += usize::from(task.await.unwrap().is_ok());
    }
    assert_eq!(ok, 16);
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 1, "one in all");

    let refusing = auth.clone();
    let logins = (0..16).map(|i| {
        let auth = refusing.clone();
        tokio::spawn(async move {
            auth.login_with(
                "10002",
                &format!("d{i}"),
                LoginOptions::new().rule(LoginRule::one_in_all().refuse_new()),
            )
            .await
        })
    });
    let mut won = 0;
    for task in logins {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::SessionLimit) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one login wins");
    assert_eq!(auth.sessions("10002").await.unwrap().len(), 1);
}

/// OpenIM's multi-login policies, as device classes and rules: which of the earlier
/// sessions each new login leaves working.
pub async fn device_classes_express_openim_policies<S: Stores, K: Kind<S>>(store: S) {
    let mobile_pc = |b: AuthBuilder<S, K::M>| {
        b.device_class("ios", "mobile")
            .device_class("android", "mobile")
            .device_class("ipad", "mobile")
            .device_class("mac", "pc")
            .device_class("windows", "pc")
    };
    #[allow(clippy::type_complexity)]
    let cases: [(
        &str,
        fn(AuthBuilder<S, K::M>) -> AuthBuilder<S, K::M>,
        [bool; 4],
    ); 4] = [
        // Logins in order: ios, android, mac, windows. Which still work at the end?
        (
            "no kick",
            |b| b.login_rule(LoginRule::unlimited()),
            [true; 4],
        ),
        (
            "one per platform",
            |b| b.login_rule(LoginRule::one_per_device()),
            [true; 4],
        ),
        (
            "one per class",
            |b| {
                b.login_rule(LoginRule::one_per_device())
                    .device_class("ios", "mobile")
                    .device_class("android", "mobile")
                    .device_class("mac", "pc")
                    .device_class("windows", "pc")
            },
            [false, true, false, true],
        ),
        (
            "pc unrestricted, one other",
            |b| {
                b.login_rule(LoginRule::one_per_device())
                    .device_class("ios", "other")
                    .device_class("android", "other")
                    .device_class("mac", "pc")
                    .device_class("windows", "pc")
                    .class_rule("pc", LoginRule::unlimited())
            },
            [false, true, true, true],
        ),
    ];
    for (n, (name, policy, expected)) in cases.into_iter().enumerate() {
        let clock = clock();
        let auth = policy(K::builder(store.clone(), &clock)).build();
        let user = format!("openim-{n}");
        let mut tokens = Vec::new();
        for device in ["ios", "android", "mac", "windows"] {
            tokens.push(auth.login(&user, device).await.unwrap().token);
            clock.advance(secs(1));
        }
        let mut working = Vec::new();
        for t in &tokens {
            working.push(auth.authenticate(t.as_str()).await.is_ok());
        }
        assert_eq!(working, expected, "{name}");
        // The listing agrees.
        assert_eq!(
            auth.sessions(&user).await.unwrap().len(),
            expected.iter().filter(|w| **w).count(),
            "{name}"
        );
    }
    // A class of several devices, then a device kickout of one of them: only its own.
    let clock = clock();
    let auth = mobile_pc(K::builder(store.clone(), &clock))
        .login_rule(LoginRule::max_per_device(2))
        .build();
    let ios = auth.login("classes", "ios").await.unwrap().token;
    clock.advance(secs(1));
    let ipad = auth.login("classes", "ipad").await.unwrap().token;
    clock.advance(secs(1));
    let android = auth.login("classes", "android").await.unwrap();
    assert_eq!(
        android.replaced.len(),
        1,
        "two per class: the oldest mobile goes"
    );
    assert_eq!(
        auth.authenticate(ios.as_str()).await.unwrap_err().reason(),
        Reason::Replaced
    );
    assert_eq!(auth.kickout_device("classes", "ipad").await.unwrap(), 1);
    assert!(auth.authenticate(ipad.as_str()).await.is_err());
    assert!(auth.authenticate(android.token.as_str()).await.is_ok());
    // Kicking out devices the user never used (stale names) ends nothing, however many.
    for i in 0..=kickout::limits::MAX_DEVICES {
        let gone = format!("gone{i}");
        assert_eq!(auth.kickout_device("classes", &gone).await.unwrap(), 0);
    }
    assert!(auth.authenticate(android.token.as_str()).await.is_ok());

    // A device whose class changed between deploys holds sessions of both: a login that
    // replaces its class's sessions ends only those in session mode; in JWT mode the
    // device's generation ends them all, and every store's listing says the same.
    let clock = super::clock();
    let before = K::builder(store.clone(), &clock)
        .device_class("ios", "mobile")
        .login_rule(LoginRule::one_per_device())
        .build();
    let after = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let old = before.login("reclassed", "ios").await.unwrap().token;
    clock.advance(secs(1));
    after.login("reclassed", "ios").await.unwrap();
    clock.advance(secs(1));
    let last = after.login("reclassed", "ios").await.unwrap().token;
    let old_works = after.authenticate(old.as_str()).await.is_ok();
    assert_eq!(old_works, !K::JWT, "the other class's session");
    assert!(after.authenticate(last.as_str()).await.is_ok());
    assert_eq!(
        after.sessions("reclassed").await.unwrap().len(),
        1 + usize::from(old_works),
        "the listing agrees"
    );
}
