//! [`AuthBuilder`]: the handle's settings, typed by mode.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::broadcast;

use super::{Auth, Inner, Settings};
use crate::clock::{Clock, SystemClock, millis};
use crate::limits::{MAX_LIFETIME_MS, MIN_RECHECK_MS, lifetime_ms};
use crate::mode::SessionMode;
use crate::policy::{LoginRule, OwnIdle};
use crate::rejection::{DEFAULT_REALM, Rejection, Render, Responses};

/// Builds an [`Auth`] handle; see [`Auth::builder`].
///
/// The builder starts in session mode (`M` = [`SessionMode`]). `jwt` (feature `jwt`)
/// turns it into a JWT-mode builder and keeps every setting made before it, in
/// whichever order they come, except the two that exist in session mode only:
/// [`touch_interval`](AuthBuilder::touch_interval) and
/// [`expired_retention`](AuthBuilder::expired_retention) (see
/// [`jwt`](AuthBuilder::jwt)). [`idle_timeout`](AuthBuilder::idle_timeout) exists in
/// both.
#[must_use]
pub struct AuthBuilder<S, M = SessionMode> {
    store: S,
    clock: Box<dyn Clock>,
    settings: Settings,
    realm: String,
    render: Option<Render>,
    event_capacity: usize,
    pub(super) mode: M,
}

impl<S, M: std::fmt::Debug> std::fmt::Debug for AuthBuilder<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("settings", &self.settings)
            .field("realm", &self.realm)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<S> AuthBuilder<S> {
    pub(super) fn new(store: S) -> Self {
        Self {
            store,
            clock: Box::new(SystemClock),
            settings: Settings {
                ttl_ms: 3_600_000,
                rule: LoginRule::unlimited(),
                classes: Default::default(),
                watch_recheck_ms: 10_000,
                refresh: None,
                refresh_window_ms: None,
            },
            realm: DEFAULT_REALM.to_owned(),
            render: None,
            event_capacity: 1024,
            mode: SessionMode::default(),
        }
    }
}

impl<S, M> AuthBuilder<S, M> {
    /// The same settings in another mode (the typestate switch of `jwt`).
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(super) fn with_mode<M2>(self, mode: M2) -> AuthBuilder<S, M2> {
        AuthBuilder {
            store: self.store,
            clock: self.clock,
            settings: self.settings,
            realm: self.realm,
            render: self.render,
            event_capacity: self.event_capacity,
            mode,
        }
    }

    /// Changes the mode's own settings.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(super) fn map_mode(mut self, change: impl FnOnce(&mut M)) -> Self {
        change(&mut self.mode);
        self
    }

    /// Absolute lifetime of a session (default one hour; at least a second, at most ten
    /// years: a value outside is taken as the nearest bound).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl_ms = lifetime_ms(ttl);
        self
    }

    /// Refresh tokens for every login: [`Auth::login`] then also returns a refresh token,
    /// and [`Auth::refresh`] trades it for a new pair of the same session. `ttl` caps the
    /// session from its login (no refresh passes it; 30 days is the usual choice,
    /// [`DEFAULT_REFRESH_TTL_MS`](crate::limits::DEFAULT_REFRESH_TTL_MS)); the
    /// access tokens keep the handle's [`ttl`](Self::ttl), short. Same bounds as `ttl`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .ttl(Duration::from_secs(15 * 60))
    ///     .refresh_tokens(Duration::from_secs(30 * 24 * 3600))
    ///     .build();
    /// let login = auth.login("10001", "phone").await?;
    /// let refresh = login.refresh.expect("refresh tokens are on");
    /// let next = auth.refresh(refresh.token.as_str()).await?;
    /// assert_eq!(next.session.session_id, login.session.session_id);
    /// assert!(auth.authenticate(next.token.as_str()).await.is_ok());
    /// // The spent refresh token, presented again, ends the whole session.
    /// assert!(auth.refresh(refresh.token.as_str()).await.is_err());
    /// assert!(auth.authenticate(next.token.as_str()).await.is_err());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn refresh_tokens(mut self, ttl: Duration) -> Self {
        self.settings.refresh = Some(lifetime_ms(ttl));
        self
    }

    /// An idle window for refresh tokens: each one expires this long after it was
    /// issued if it is not used by then (the session's cap still holds). None by
    /// default. Same bounds as [`ttl`](Self::ttl).
    pub fn refresh_idle(mut self, window: Duration) -> Self {
        self.settings.refresh_window_ms = Some(lifetime_ms(window));
        self
    }

    /// The concurrent-login rule (default [`LoginRule::unlimited`]).
    pub fn login_rule(mut self, rule: LoginRule) -> Self {
        self.settings.rule = rule;
        self
    }

    /// Puts `device` in device class `class`: a per-device rule
    /// ([`LoginRule::one_per_device`], [`LoginRule::max_per_device`]) then counts the
    /// class's sessions together, and the class's own rule and lifetime
    /// ([`class_rule`](Self::class_rule), [`class_ttl`](Self::class_ttl)) apply to its
    /// logins. A device no one mapped is its own class. Per-login options still win.
    ///
    /// ```
    /// use kickout::{Auth, LoginRule, store::MemoryStore};
    ///
    /// // One phone and one desktop at a time; the web is unlimited.
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .login_rule(LoginRule::one_per_device())
    ///     .device_class("ios", "mobile")
    ///     .device_class("android", "mobile")
    ///     .device_class("mac", "pc")
    ///     .device_class("windows", "pc")
    ///     .class_rule("web", LoginRule::unlimited())
    ///     .build();
    /// # let _ = auth;
    /// ```
    pub fn device_class(mut self, device: &str, class: &str) -> Self {
        self.settings.classes.map(device, class);
        self
    }

    /// The concurrent-login rule of logins of device class `class` (a device name is a
    /// class of its own too), instead of the handle's.
    pub fn class_rule(mut self, class: &str, rule: LoginRule) -> Self {
        self.settings.classes.set_rule(class, rule);
        self
    }

    /// The absolute lifetime of sessions of device class `class`, instead of the
    /// handle's (same bounds as [`ttl`](Self::ttl)).
    pub fn class_ttl(mut self, class: &str, ttl: Duration) -> Self {
        self.settings.classes.set_ttl(class, lifetime_ms(ttl));
        self
    }

    /// The idle timeout of sessions of device class `class` (`None`: none), instead of
    /// the handle's, in either mode.
    pub fn class_idle_timeout(mut self, class: &str, idle: Option<Duration>) -> Self {
        let idle = idle.map_or(OwnIdle::Never, |d| OwnIdle::After(lifetime_ms(d)));
        self.settings.classes.set_idle(class, idle);
        self
    }

    /// How often a [`SessionWatch`](crate::watch::SessionWatch) re-checks its session
    /// against the store (default 10 s): the longest a missed revocation message can
    /// keep an open connection alive. At least a tenth of a second
    /// ([`MIN_RECHECK_MS`]), at most ten years.
    pub fn watch_recheck(mut self, interval: Duration) -> Self {
        self.settings.watch_recheck_ms = millis(interval).clamp(MIN_RECHECK_MS, MAX_LIFETIME_MS);
        self
    }

    /// The clock (default the system clock); tests pass a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The realm of `WWW-Authenticate` challenges (default `"api"`). Only printable
    /// ASCII fits a header's quoted-string: other characters, quotes and backslashes are
    /// left out of the challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Answer every refused token of this handle with `f` instead of the default JSON:
    /// the one place an application gives refusals its own shape. It covers the tower
    /// layer and the actix middleware, the `Identity`, `UserId` and `Claims` extractors
    /// (an anonymous request on an optional route, claims of the wrong shape) and
    /// [`Error::Rejected`](crate::Error::Rejected) from the helpers (`refresh`,
    /// `renew`), whose `into_http`, `IntoResponse` and `ResponseError` all answer
    /// through it. Helpers' other errors are not refusals of a token: map
    /// [`Error`](crate::Error) with your own `From` (its `status` and `code` are stable).
    ///
    /// `f` receives the [`Rejection`](crate::Rejection) without this hook, so
    /// `rejection.into_http()` inside it is the default answer, to amend.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use kickout::{Auth, Rejection, store::MemoryStore};
    ///
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .on_rejection(|r: Rejection| {
    ///         let body = format!(r#"{{"problem":"{}"}}"#, r.reason().code());
    ///         let mut res = r.into_http::<Bytes>();
    ///         *res.body_mut() = Bytes::from(body);
    ///         res
    ///     })
    ///     .build();
    /// # drop(auth);
    /// ```
    pub fn on_rejection(
        mut self,
        f: impl Fn(Rejection) -> http::Response<bytes::Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.render = Some(Render::new(f));
        self
    }

    /// How many of this handle's events ([`Auth::events`]) a slow receiver may fall
    /// behind before it loses the oldest (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }
}

impl<S: crate::store::Store, M> AuthBuilder<S, M> {
    /// The handle.
    pub fn build(self) -> Auth<S, M> {
        let (events, _) = broadcast::channel(self.event_capacity);
        let audit_local = self
            .store
            .audit_feed()
            .is_none()
            .then(|| broadcast::channel(crate::store::audit::AUDIT_CAPACITY).0);
        Auth {
            inner: Arc::new(Inner {
                store: self.store,
                mode: self.mode,
                clock: self.clock,
                latest_ms: AtomicU64::new(0),
                settings: self.settings,
                responses: Arc::new(Responses::new(&self.realm, self.render)),
                events,
                audit_local,
                watchers: Arc::default(),
                outage: Default::default(),
            }),
        }
    }
}

impl<S> AuthBuilder<S, SessionMode> {
    /// End sessions idle for this long (default: no idle timeout; at least a second, at
    /// most ten years). Activity renews the idle deadline, never past the absolute
    /// lifetime.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.mode.idle_ms = Some(lifetime_ms(idle));
        self.mode.resolve_touch_step();
        self
    }

    /// Renew the idle deadline only when it would move by at least this much (default:
    /// a tenth of the idle timeout, at most a minute). Fewer store writes; the idle
    /// timeout then ends a session between `idle - interval` and `idle` after its last
    /// request.
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.mode.touch_step = Some(millis(interval).min(MAX_LIFETIME_MS));
        self.mode.resolve_touch_step();
        self
    }

    /// How long an expired session keeps answering `token_expired` instead of
    /// `invalid_token` before its record is forgotten (default 30 minutes, at most ten
    /// years).
    pub fn expired_retention(mut self, retention: Duration) -> Self {
        self.mode.retain_ms = millis(retention).min(MAX_LIFETIME_MS);
        self
    }
}
