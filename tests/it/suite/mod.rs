//! The store conformance suite: the whole session-mode contract, driven through a real
//! axum router and the `Auth` helpers, generic over the store. Every store runs it with
//! identical expectations (`run_suite!` in each store's test file).

#![allow(dead_code, unused_macros, unused_imports)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kickout::clock::ManualClock;
use kickout::events::EventKind;
use kickout::store::{JwtStore, SessionStore};
use kickout::{
    Auth, AuthBuilder, AuthLayer, Error, Identity, LoginOptions, LoginRule, Mode, Reason,
    SessionMode,
};
use tower::ServiceExt;

/// 2023-11-14, a fixed start for every clock.
pub const T0: u64 = 1_700_000_000_000;

pub fn clock() -> ManualClock {
    ManualClock::new(T0)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A store the suite runs in both modes.
pub trait Stores: SessionStore + JwtStore {}

impl<T: SessionStore + JwtStore> Stores for T {}

/// Which kind of token the handle issues: a type, as the handle's mode is.
pub trait Kind<S>: 'static {
    /// The handle's mode.
    type M: Mode<S>;
    /// Whether this is JWT mode.
    const JWT: bool;
    /// A builder on a manual clock, in this mode.
    fn builder(store: S, clock: &ManualClock) -> AuthBuilder<S, Self::M>;
    /// Session mode's `expired_retention`; JWT mode has none (a signed token always
    /// says when it expired).
    fn retention(builder: AuthBuilder<S, Self::M>, d: Duration) -> AuthBuilder<S, Self::M>;
}

/// Session mode.
pub struct Session;

/// JWT mode.
pub struct Jwt;

impl<S: Stores> Kind<S> for Session {
    type M = SessionMode;
    const JWT: bool = false;

    fn builder(store: S, clock: &ManualClock) -> AuthBuilder<S> {
        Auth::builder(store).clock(clock.clone())
    }

    fn retention(builder: AuthBuilder<S>, d: Duration) -> AuthBuilder<S> {
        builder.expired_retention(d)
    }
}

impl<S: Stores> Kind<S> for Jwt {
    type M = kickout::jwt::Jwt;
    const JWT: bool = true;

    fn builder(store: S, clock: &ManualClock) -> AuthBuilder<S, kickout::jwt::Jwt> {
        Auth::builder(store).clock(clock.clone()).jwt(
            kickout::jwt::Jwt::new(kickout::jwt::JwtKey::hs256(
                b"suite secret, thirty-two bytes!!",
            ))
            .unwrap(),
        )
    }

    fn retention(
        builder: AuthBuilder<S, kickout::jwt::Jwt>,
        _: Duration,
    ) -> AuthBuilder<S, kickout::jwt::Jwt> {
        builder
    }
}

/// A session-mode builder on a manual clock (for the cases of session mode only).
pub fn session_builder<S: Stores>(store: S, clock: &ManualClock) -> AuthBuilder<S> {
    <Session as Kind<S>>::builder(store, clock)
}

pub fn app<S: kickout::store::Store, M: Mode<S>>(auth: &Auth<S, M>) -> Router {
    Router::new()
        .route(
            "/me",
            get(|me: Identity| async move { format!("{}:{}", me.user_id(), me.device()) }),
        )
        .layer(AuthLayer::new(auth.clone()))
}

/// What `GET /me` with `token` answers: `Ok("user:device")`, or `Err(error code)`.
pub async fn me(app: &Router, token: &str) -> Result<String, String> {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    if status == StatusCode::OK {
        return Ok(String::from_utf8(bytes.to_vec()).unwrap());
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let code = body["error"].as_str().unwrap().to_owned();
    let reason = Reason::ALL.into_iter().find(|r| r.code() == code).unwrap();
    assert_eq!(status, reason.status(), "status of {code}");
    Err(code)
}

pub fn err(reason: Reason) -> Result<String, String> {
    Err(reason.code().to_owned())
}

/// One `#[tokio::test]` per case. `$make` yields `Option<(guard, store)>`; `None`
/// skips (a backend that is not installed on a contributor's machine).
macro_rules! run_suite {
    ($make:expr, $mode:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((_guard, store)) = $make else { return };
                suite::$name::<_, $mode>(store).await;
            }
        )*
    };
}
pub(crate) use run_suite;

/// Every case in one test, one after the other (for a backend that is slow to start,
/// like a Redis Cluster). `$make` is evaluated once per case.
macro_rules! run_in_sequence {
    ($make:expr, $mode:ty; $($name:ident),* $(,)?) => {
        $(
            {
                let store = $make;
                eprintln!("case {} ({})", stringify!($name), stringify!($mode));
                suite::$name::<_, $mode>(store).await;
            }
        )*
    };
}
pub(crate) use run_in_sequence;

/// Calls `$run!($make; <every case>)`: the one list of the suite's cases.
macro_rules! all_cases {
    ($run:ident!($make:expr, $mode:ty)) => {
        $run! {$make, $mode;
            login_opens_a_session,
            unknown_and_garbage_tokens_are_invalid,
            logout_ends_one_session,
            logout_session_by_id,
            kickout_ends_every_session_and_sticks,
            kickout_device_ends_one_device,
            kickout_session_by_id,
            kickout_of_unknown_user_is_zero,
            ban_ends_sessions_and_refuses_logins,
            ban_expires_by_itself,
            unban_lifts_a_ban_early,
            sessions_lists_live_sessions_oldest_first,
            renew_extends_a_live_session,
            rule_unlimited,
            rule_one_per_device,
            rule_one_in_all,
            rule_max_per_user_replaces_oldest,
            rule_max_per_device,
            rule_refuse_new,
            rule_override_per_login,
            rule_ties_go_by_creation_order,
            rules_hold_under_simultaneous_logins,
            clock_stepping_back_revives_nothing,
            a_lagging_event_receiver_slows_nothing,
            jwt_state_stays_bounded,
            live_sessions_per_user_are_capped,
            absolute_expiry_then_retention_then_gone,
            idle_timeout_expires_inactive_sessions,
            idle_renewal_is_throttled,
            idle_renewal_never_passes_absolute_lifetime,
            tombstones_keep_their_reason_until_expiry,
            events_report_every_change,
            names_are_validated,
        }
    };
}
pub(crate) use all_cases;

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
        &"A".repeat(43),
        &token[..42],
        &format!("{token}A"),
    ] {
        assert_eq!(me(&app, bad).await, err(Reason::InvalidToken), "{bad}");
    }
    assert_eq!(me(&app, token).await, Ok("10001:web".into()));
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
    assert!(auth.logout_session(a.session.session_id).await.unwrap());
    assert!(!auth.logout_session(a.session.session_id).await.unwrap());
    assert_eq!(me(&app, a.token.as_str()).await, err(Reason::InvalidToken));
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
    let ids: Vec<_> = list.iter().map(|s| s.session_id).collect();
    assert_eq!(
        ids,
        [
            first.session.session_id,
            second.session.session_id,
            third.session.session_id
        ]
    );
    assert_eq!(list[1].device.as_ref(), "phone");
    assert_eq!(list[1].issued_at_ms, T0 + 1000);
    assert_eq!(list[1].expires_at_ms, T0 + 101_000);
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
    let renewed = auth.renew(a.token.as_str()).await.unwrap();
    assert_eq!(renewed.expires_at_ms, T0 + 190_000);
    clock.advance(secs(50));
    assert_eq!(me(&app, a.token.as_str()).await, Ok("10001:web".into()));
    auth.kickout("10001").await.unwrap();
    match auth.renew(a.token.as_str()).await {
        Err(Error::Rejected(Reason::KickedOut)) => {}
        other => panic!("renew of a kicked token: {other:?}"),
    }
    match auth.renew("garbage").await {
        Err(Error::Rejected(Reason::InvalidToken)) => {}
        other => panic!("renew of garbage: {other:?}"),
    }
}

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
    let auth = K::builder(store, &clock)
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
        .map(|s| s.session_id)
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
    for i in 0..kickout::store::limits::MAX_REVOKED {
        let t = auth.login("10001", &format!("d{i}")).await.unwrap().token;
        auth.logout(t.as_str()).await.unwrap();
    }
    assert_eq!(me(&app, kept.as_str()).await, Ok("10001:phone".into()));
    let t = auth.login("10001", "last").await.unwrap().token;
    auth.logout(t.as_str()).await.unwrap();
    assert_eq!(me(&app, kept.as_str()).await, err(Reason::Replaced));
    assert!(auth.login("10001", "again").await.is_ok());
}

pub async fn live_sessions_per_user_are_capped<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::unlimited())
        .build();
    let app = app(&auth);
    let first = auth.login("10001", "d0").await.unwrap();
    for i in 1..kickout::store::limits::MAX_LIVE_TOKENS {
        clock.advance(Duration::from_millis(1));
        auth.login("10001", &format!("d{i}")).await.unwrap();
    }
    assert_eq!(
        auth.sessions("10001").await.unwrap().len(),
        kickout::store::limits::MAX_LIVE_TOKENS
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
    assert!(live <= kickout::store::limits::MAX_LIVE_TOKENS, "{live}");
}

pub async fn absolute_expiry_then_retention_then_gone<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::retention(K::builder(store, &clock).ttl(secs(60)), secs(600)).build();
    let app = app(&auth);
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
    if K::JWT {
        return; // session mode only: a signed expiry cannot move
    }
    let clock = clock();
    let auth = session_builder(store, &clock)
        .ttl(secs(3600))
        .idle_timeout(secs(60))
        .touch_interval(Duration::ZERO)
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

pub async fn events_report_every_change<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .login_rule(LoginRule::one_per_device())
        .build();
    let mut events = auth.events();
    let a = auth.login("10001", "web").await.unwrap();
    let b = auth.login("10001", "web").await.unwrap();
    if !K::JWT {
        auth.renew(b.token.as_str()).await.unwrap();
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
        EventKind::LoggedOut { session: out },
        EventKind::LoggedIn { session: s3 },
        EventKind::KickedOut {
            user_id,
            sessions: kicked,
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
}
