//! The store conformance suite: the whole contract, driven through a real axum router
//! and the `Auth` helpers, generic over the store and the mode. Every store runs it with
//! identical expectations (`run_suite!` in each store's test module), in both modes.
//!
//! The cases are split by topic: `sessions`, `rules`, `bounds`, `lifetimes`, `events`;
//! `all_cases!` below is the one list of them.

mod bounds;
mod directory;
mod events;
mod lifetimes;
mod notes;
mod refresh;
mod restrictions;
mod rules;
mod sessions;

pub use bounds::*;
pub use directory::*;
pub use events::*;
pub use lifetimes::*;
pub use notes::*;
pub use refresh::*;
pub use restrictions::*;
pub use rules::*;
pub use sessions::*;

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
pub trait Stores: SessionStore + JwtStore + Clone {}

impl<T: SessionStore + JwtStore + Clone> Stores for T {}

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
    /// The idle timeout, in either mode.
    fn idle(builder: AuthBuilder<S, Self::M>, d: Duration) -> AuthBuilder<S, Self::M>;
    /// `Auth::renew`, which only session mode has (a signed expiry cannot move): `None`
    /// in JWT mode.
    fn renew(
        auth: &Auth<S, Self::M>,
        token: &str,
    ) -> impl std::future::Future<Output = Option<Result<kickout::store::SessionInfo, Error>>>;
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

    fn idle(builder: AuthBuilder<S>, d: Duration) -> AuthBuilder<S> {
        builder.idle_timeout(d)
    }

    async fn renew(
        auth: &Auth<S>,
        token: &str,
    ) -> Option<Result<kickout::store::SessionInfo, Error>> {
        Some(auth.renew(token).await)
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

    fn idle(
        builder: AuthBuilder<S, kickout::jwt::Jwt>,
        d: Duration,
    ) -> AuthBuilder<S, kickout::jwt::Jwt> {
        builder.idle_timeout(d)
    }

    async fn renew(
        _: &Auth<S, kickout::jwt::Jwt>,
        _: &str,
    ) -> Option<Result<kickout::store::SessionInfo, Error>> {
        None
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

/// Two instances of one application on one shared store (handles under a
/// one-per-device rule): what either revokes, the other refuses at once.
pub async fn revocations_hold_across_instances<S: SessionStore>(a: &Auth<S>, b: &Auth<S>) {
    let (app_a, app_b) = (app(a), app(b));
    let t = a.login("1", "web").await.unwrap().token;
    assert_eq!(me(&app_b, t.as_str()).await, Ok("1:web".into()));
    assert_eq!(b.kickout("1").await.unwrap(), 1);
    assert_eq!(me(&app_a, t.as_str()).await, err(Reason::KickedOut));
    let t = b.login("2", "web").await.unwrap().token;
    assert!(a.logout(t.as_str()).await.unwrap());
    assert_eq!(me(&app_b, t.as_str()).await, err(Reason::InvalidToken));
    let t = a.login("3", "web").await.unwrap().token;
    assert_eq!(b.ban("3", secs(60)).await.unwrap(), 1);
    assert_eq!(me(&app_a, t.as_str()).await, err(Reason::Banned));
    assert!(
        a.login("3", "web").await.is_err(),
        "the ban holds there too"
    );
    let old = a.login("4", "web").await.unwrap().token;
    let new = b.login("4", "web").await.unwrap().token;
    assert_eq!(me(&app_a, old.as_str()).await, err(Reason::Replaced));
    assert_eq!(me(&app_a, new.as_str()).await, Ok("4:web".into()));
    assert_eq!(a.sessions("4").await.unwrap().len(), 1);
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
                // Boxed: the cases in one future would be one frame of their sum on a
                // test thread's stack (debug builds do not overlap them well).
                Box::pin(suite::$name::<_, $mode>(store)).await;
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
            names_with_escaped_characters_come_back_whole,
            unknown_and_garbage_tokens_are_invalid,
            a_session_id_collision_is_refused,
            a_jti_collision_is_refused,
            logout_ends_one_session,
            a_logout_reaches_a_token_in_a_slower_clocks_leeway,
            a_ban_stands_on_a_slower_clock,
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
            a_skewed_instance_never_makes_a_session_unreachable,
            a_lagging_event_receiver_slows_nothing,
            jwt_state_stays_bounded,
            an_idle_end_past_the_blacklist_bound_tells_what_it_replaced,
            live_sessions_per_user_are_capped,
            ended_sessions_per_user_are_capped,
            absolute_expiry_then_retention_then_gone,
            an_end_after_the_idle_timeout_says_expired,
            idle_timeout_expires_inactive_sessions,
            idle_renewal_is_throttled,
            idle_renewal_never_passes_absolute_lifetime,
            a_late_clock_never_moves_the_last_sight_back,
            an_idle_timeout_holds_on_an_instance_without_one,
            ends_count_no_idle_session,
            tombstones_keep_their_reason_until_expiry,
            events_report_every_change,
            names_are_validated,
            configuration_extremes_are_bounded,
            users_sign_out_their_own_sessions,
            signing_out_the_others_keeps_the_callers_session,
            signing_out_the_others_races_logins_atomically,
            sessions_list_what_the_login_said,
            sessions_say_when_they_were_last_used,
            device_classes_express_openim_policies,
            logins_choose_their_own_lifetimes,
            revocations_carry_their_notes,
            bad_notes_are_refused_before_any_store_work,
            refresh_rotates_within_one_session,
            a_spent_refresh_token_ends_the_session,
            a_watch_follows_its_session_across_refreshes,
            reuse_is_detected_however_many_rotations_ago,
            logout_with_the_replaced_access_token_ends_the_session,
            renew_keeps_a_refresh_sessions_ends,
            a_refused_refresh_answers_as_a_request_would,
            concurrent_refreshes_yield_at_most_one_pair,
            revocations_end_refresh_tokens,
            revocations_end_every_token_of_a_refreshed_session,
            a_revoked_token_past_its_own_end_is_expired,
            a_refresh_racing_a_revocation_leaves_nothing_open,
            refresh_tokens_expire,
            a_refresh_past_the_end_is_expired_after_the_store_forgot_the_session,
            refresh_and_access_tokens_are_not_interchangeable,
            refresh_is_opt_in_per_handle_and_login,
            refresh_tokens_per_user_are_capped,
            the_directory_lists_every_live_session_once,
            a_walk_lists_sessions_live_throughout_exactly_once,
            kickout_all_ends_every_session,
            both_modes_on_one_store_keep_each_others_directory,
            a_ban_ends_the_users_sessions_of_both_modes,
            bad_directory_requests_are_refused,
            a_page_stops_short_rather_than_read_everything,
            idle_sessions_leave_the_directory_and_walks_go_on,
            the_audit_stream_spans_instances,
            restrictions_hold_until_they_lift,
            bad_restrictions_change_nothing,
            guards_hold_restrictions_from_the_next_request,
            a_restriction_stands_on_a_slower_clock,
            lifted_restrictions_make_room_in_one_order,
            step_up_windows_belong_to_one_session,
            the_last_elevation_outlives_a_moved_end,
            a_restriction_holds_from_the_moment_it_answered,
                        an_elevation_racing_a_kickout_never_outlives_it,
                        an_idle_session_opens_no_window,
            a_window_ends_with_its_session_however_it_ends,
        }
    };
}
pub(crate) use all_cases;
