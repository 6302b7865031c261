//! The handle: log in, check tokens, log out, kick out, ban — from anywhere.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::clock::{Clock, SystemClock, millis, system_time};
use crate::error::Error;
use crate::events::{AuthEvent, EventKind};
use crate::identity::Identity;
use crate::policy::LoginRule;
use crate::rejection::{DEFAULT_REALM, Reason, Rejection, Responses};
use crate::store::{Created, EndReason, NewSession, SessionInfo, Store, Target};
use crate::token::{SessionId, SessionKey, Token, user_tag};

/// Longest user id or device name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Longest session lifetime or ban: ten years. Nothing in a store lives forever.
const MAX_LIFETIME_MS: u64 = 10 * 365 * 24 * 3_600_000;

/// The handle to a login system: cheap to clone, no global state.
///
/// Build one per application (with [`Auth::new`] or [`Auth::builder`]), give a clone to
/// the [`AuthLayer`](crate::AuthLayer), and keep clones wherever logins are made or
/// ended: handlers, background jobs, admin tools. Every helper either did what it says
/// on the store or returns an [`Error`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use kickout::{Auth, Reason, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// let login = auth.login("10001", "web").await?;
/// assert!(auth.authenticate(login.token.as_str()).await.is_ok());
///
/// assert_eq!(auth.kickout("10001").await?, 1);
/// let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
/// assert_eq!(refused.reason(), Reason::KickedOut);
/// # Ok::<(), kickout::Error>(())
/// # }).unwrap();
/// ```
pub struct Auth<S = crate::store::MemoryStore> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    clock: Box<dyn Clock>,
    /// The latest time read: the handle's time never runs backwards, so a clock stepped
    /// back cannot revive an expired session that a kickout no longer sees.
    latest_ms: AtomicU64,
    config: Config,
    responses: Responses,
    events: broadcast::Sender<AuthEvent>,
    #[cfg(feature = "jwt")]
    jwt: Option<crate::mode::jwt::Jwt>,
    watchers: Arc<crate::watch::Watchers>,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) ttl_ms: u64,
    pub(crate) idle_ms: Option<u64>,
    pub(crate) touch_step_ms: u64,
    pub(crate) retain_ms: u64,
    pub(crate) rule: LoginRule,
    pub(crate) watch_recheck_ms: u64,
}

impl<S> Clone for Auth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A successful login.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Login {
    /// The bearer token to hand to the client.
    pub token: Token,
    /// The new session.
    pub session: SessionInfo,
    /// Sessions the concurrent-login rule ended to make room (they answer `replaced`).
    pub replaced: Vec<SessionInfo>,
}

impl Login {
    /// Seconds until the session's absolute end, as of its issue (`expires_in` of OAuth).
    pub fn expires_in(&self) -> u64 {
        self.session
            .expires_at_ms
            .saturating_sub(self.session.issued_at_ms)
            / 1000
    }
}

/// Per-login overrides of the handle's settings.
///
/// ```
/// use std::time::Duration;
/// use kickout::{LoginOptions, LoginRule};
///
/// let options = LoginOptions::new()
///     .rule(LoginRule::one_in_all())
///     .ttl(Duration::from_secs(600));
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoginOptions {
    rule: Option<LoginRule>,
    ttl: Option<Duration>,
}

impl LoginOptions {
    /// The handle's settings, unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another concurrent-login rule for this login.
    pub fn rule(mut self, rule: LoginRule) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Another absolute lifetime for this session.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// Builds an [`Auth`] handle; see [`Auth::builder`].
#[must_use]
pub struct AuthBuilder<S> {
    store: S,
    clock: Box<dyn Clock>,
    config: Config,
    touch_step: Option<Duration>,
    realm: String,
    event_capacity: usize,
    #[cfg(feature = "jwt")]
    jwt: Option<crate::mode::jwt::Jwt>,
}

impl<S: Store> AuthBuilder<S> {
    /// Absolute lifetime of a session (default one hour, at most ten years).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl_ms = millis(ttl).min(MAX_LIFETIME_MS);
        self
    }

    /// End sessions idle for this long (default: no idle timeout). Activity renews the
    /// idle deadline, never past the absolute lifetime.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config.idle_ms = Some(millis(idle));
        self
    }

    /// Renew the idle deadline only when it would move by at least this much (default:
    /// a tenth of the idle timeout, at most a minute). Fewer store writes; the idle
    /// timeout then ends a session between `idle - interval` and `idle` after its last
    /// request.
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.touch_step = Some(interval);
        self
    }

    /// How long an expired session keeps answering `token_expired` instead of
    /// `invalid_token` before its record is forgotten (default 30 minutes).
    pub fn expired_retention(mut self, retention: Duration) -> Self {
        self.config.retain_ms = millis(retention);
        self
    }

    /// The concurrent-login rule (default [`LoginRule::unlimited`]).
    pub fn login_rule(mut self, rule: LoginRule) -> Self {
        self.config.rule = rule;
        self
    }

    /// How often a [`SessionWatch`](crate::watch::SessionWatch) re-checks its session
    /// against the store (default 10 s): the longest a missed revocation message can
    /// keep an open connection alive.
    pub fn watch_recheck(mut self, interval: Duration) -> Self {
        self.config.watch_recheck_ms = millis(interval);
        self
    }

    /// The clock (default the system clock); tests pass a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The realm of `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// How many audit events a slow receiver may fall behind before it loses the oldest
    /// (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// JWT mode: issue signed tokens with `jwt`'s key instead of opaque ones. Logout,
    /// kickout, ban and the concurrent-login rules work as in session mode (see
    /// [`crate::store::JwtState`]); the idle timeout and [`Auth::renew`] are session mode
    /// only.
    #[cfg(feature = "jwt")]
    pub fn jwt(mut self, jwt: crate::mode::jwt::Jwt) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// The handle.
    pub fn build(self) -> Auth<S> {
        let mut config = self.config;
        config.touch_step_ms = match (self.touch_step, config.idle_ms) {
            // A step as long as the idle timeout would never renew: keep it under half.
            (Some(step), Some(idle)) => millis(step).min(idle / 2),
            (Some(step), None) => millis(step),
            (None, Some(idle)) => (idle / 10).min(60_000),
            (None, None) => 0,
        };
        let (events, _) = broadcast::channel(self.event_capacity);
        Auth {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock,
                latest_ms: AtomicU64::new(0),
                config,
                responses: Responses::new(&self.realm),
                events,
                #[cfg(feature = "jwt")]
                jwt: self.jwt,
                watchers: Arc::default(),
            }),
        }
    }
}

impl<S: Store> Auth<S> {
    /// A handle with default settings over `store`.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kickout::{Auth, LoginRule, store::MemoryStore};
    ///
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .ttl(Duration::from_secs(8 * 3600))
    ///     .idle_timeout(Duration::from_secs(30 * 60))
    ///     .login_rule(LoginRule::one_per_device())
    ///     .build();
    /// # let _ = auth;
    /// ```
    pub fn builder(store: S) -> AuthBuilder<S> {
        AuthBuilder {
            store,
            clock: Box::new(SystemClock),
            config: Config {
                ttl_ms: 3_600_000,
                idle_ms: None,
                touch_step_ms: 0,
                retain_ms: 30 * 60_000,
                rule: LoginRule::unlimited(),
                watch_recheck_ms: 10_000,
            },
            touch_step: None,
            realm: DEFAULT_REALM.to_owned(),
            event_capacity: 1024,
            #[cfg(feature = "jwt")]
            jwt: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn watchers(&self) -> &Arc<crate::watch::Watchers> {
        &self.inner.watchers
    }

    /// The JWT configuration, in JWT mode.
    #[cfg(feature = "jwt")]
    pub(crate) fn jwt(&self) -> Option<&crate::mode::jwt::Jwt> {
        self.inner.jwt.as_ref()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        let now = self.inner.clock.now_ms();
        let latest = self.inner.latest_ms.load(Ordering::Relaxed);
        if now > latest {
            // At most one write per millisecond: requests within it only read.
            self.inner.latest_ms.fetch_max(now, Ordering::Relaxed);
            now
        } else {
            latest
        }
    }

    /// The rejection for `reason`, in this handle's realm.
    pub fn rejection(&self, reason: Reason) -> Rejection {
        self.inner.responses.rejection(reason)
    }

    /// Audit events from now on: logins, logouts, kickouts, replacements, bans.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, events::EventKind, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let mut events = auth.events();
    /// auth.login("10001", "web").await?;
    /// let event = events.recv().await.unwrap();
    /// assert!(matches!(event.kind, EventKind::LoggedIn { .. }));
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn events(&self) -> broadcast::Receiver<AuthEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, at_ms: u64, kind: impl FnOnce() -> EventKind) {
        // Never waits: with no receiver nothing is built, a full channel drops the oldest.
        if self.inner.events.receiver_count() > 0 {
            let _ = self.inner.events.send(AuthEvent {
                at_ms,
                kind: kind(),
            });
        }
    }

    /// Checks a token as the layer does: the identity, or the rejection to answer with.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Rejection> {
        let verdict = match self.prepare(token) {
            Ok(prepared) => self.check(prepared).await,
            Err(reason) => Err(reason),
        };
        verdict.map_err(|reason| self.rejection(reason))
    }

    /// Logs a user in on a device, under the handle's concurrent-login rule.
    ///
    /// Fails with [`Error::Banned`] while the user is banned, [`Error::SessionLimit`] when
    /// a refusing rule is full, [`Error::InvalidInput`] for an empty, over-long (more than
    /// 128 bytes) or control-character user id or device.
    pub async fn login(&self, user_id: &str, device: &str) -> Result<Login, Error> {
        self.login_with(user_id, device, LoginOptions::new()).await
    }

    /// [`Auth::login`] with per-login overrides.
    pub async fn login_with(
        &self,
        user_id: &str,
        device: &str,
        options: LoginOptions,
    ) -> Result<Login, Error> {
        self.login_inner(user_id, device, options, None).await
    }

    /// JWT mode: [`Auth::login_with`], putting the application's own `claims` in the
    /// token (the `ext` claim); handlers read them with [`Identity::claims`]. In session
    /// mode the claims are not kept.
    #[cfg(feature = "jwt")]
    pub async fn login_with_claims<T: serde::Serialize>(
        &self,
        user_id: &str,
        device: &str,
        options: LoginOptions,
        claims: &T,
    ) -> Result<Login, Error> {
        let raw = serde_json::value::to_raw_value(claims)
            .map_err(|_| Error::InvalidInput { field: "claims" })?;
        self.login_inner(user_id, device, options, Some(&raw)).await
    }

    async fn login_inner(
        &self,
        user_id: &str,
        device: &str,
        options: LoginOptions,
        #[cfg_attr(not(feature = "jwt"), allow(unused_variables))] claims: Option<&ExtClaims>,
    ) -> Result<Login, Error> {
        check_name("user_id", user_id)?;
        check_name("device", device)?;
        let config = self.config();
        let rule = options.rule.unwrap_or(config.rule);
        let ttl_ms = options
            .ttl
            .map_or(config.ttl_ms, millis)
            .min(MAX_LIFETIME_MS);
        let now = self.now_ms();
        #[cfg(feature = "jwt")]
        if let Some(jwt) = self.jwt() {
            return self
                .login_jwt(jwt, user_id, device, rule, ttl_ms, now, claims)
                .await;
        }
        let (token, key) =
            SessionKey::generate(user_tag(user_id)).map_err(|e| Error::Random(e.to_string()))?;
        let expires_at_ms = now.saturating_add(ttl_ms);
        let info = SessionInfo {
            session_id: key.session_id(),
            user_id: Arc::from(user_id),
            device: Arc::from(device),
            issued_at_ms: now,
            expires_at_ms,
        };
        let new = NewSession {
            key,
            info: info.clone(),
            idle_deadline_ms: config
                .idle_ms
                .map(|idle| now.saturating_add(idle).min(expires_at_ms)),
            retain_ms: config.retain_ms,
        };
        match self.store().create(new, rule, now).await? {
            Created::Created { replaced } => Ok(self.logged_in(token, info, replaced, now)),
            Created::Banned { until_ms } => Err(self.refused_banned(user_id, device, until_ms)),
            Created::LimitReached => Err(self.refused_limit(user_id, device)),
        }
    }

    #[cfg(feature = "jwt")]
    #[allow(clippy::too_many_arguments)]
    async fn login_jwt(
        &self,
        jwt: &crate::mode::jwt::Jwt,
        user_id: &str,
        device: &str,
        rule: LoginRule,
        ttl_ms: u64,
        now: u64,
        claims: Option<&ExtClaims>,
    ) -> Result<Login, Error> {
        use crate::mode::jwt::{Claims, new_jti};
        use crate::store::{JwtEntry, JwtIssued};
        let jti = new_jti().map_err(|e| Error::Random(e.to_string()))?;
        // `exp` is in whole seconds: round the end up to one.
        let expires_at_ms = now
            .saturating_add(ttl_ms)
            .div_ceil(1000)
            .saturating_mul(1000);
        let entry = JwtEntry {
            device: Arc::from(device),
            issued_at_ms: now,
            expires_at_ms,
            seq: 0,
        };
        let tag = user_tag(user_id);
        let user: Arc<str> = Arc::from(user_id);
        match self
            .store()
            .jwt_issue(user_id, &jti, entry.clone(), rule, fresh_epoch()?, now)
            .await?
        {
            JwtIssued::Issued {
                epoch,
                user_gen,
                device_gen,
                replaced,
            } => {
                let token = jwt
                    .sign(&Claims {
                        sub: user_id.into(),
                        dev: device.into(),
                        iat: now / 1000,
                        exp: expires_at_ms / 1000,
                        nbf: None,
                        jti: jti.as_str().into(),
                        ep: epoch,
                        ug: user_gen,
                        dg: device_gen,
                        iatm: now,
                        iss: jwt.issuer_claim().map(Into::into),
                        aud: jwt.audience_claim().map(Into::into),
                        ext: claims,
                    })
                    .map_err(Error::Random)?;
                let info = crate::store::jwt_info(&user, tag, &jti, &entry)
                    .ok_or(Error::Random("a malformed jti".into()))?;
                let replaced = replaced
                    .iter()
                    .filter_map(|(j, e)| crate::store::jwt_info(&user, tag, j, e))
                    .collect();
                Ok(self.logged_in(Token::new(token), info, replaced, now))
            }
            JwtIssued::Banned { until_ms } => Err(self.refused_banned(user_id, device, until_ms)),
            JwtIssued::LimitReached => Err(self.refused_limit(user_id, device)),
        }
    }

    fn logged_in(
        &self,
        token: Token,
        info: SessionInfo,
        replaced: Vec<SessionInfo>,
        now: u64,
    ) -> Login {
        tracing::info!(user_id = &*info.user_id, device = &*info.device, session_id = %info.session_id, replaced = replaced.len(), "login");
        self.emit(now, || EventKind::LoggedIn {
            session: info.clone(),
        });
        self.announce(&replaced, EndReason::Replaced);
        if !replaced.is_empty() {
            self.emit(now, || EventKind::Replaced {
                sessions: replaced.clone(),
                by: info.session_id,
            });
        }
        Login {
            token,
            session: info,
            replaced,
        }
    }

    fn refused_banned(&self, user_id: &str, device: &str, until_ms: u64) -> Error {
        tracing::info!(user_id, device, "login refused: banned");
        Error::Banned {
            until: system_time(until_ms),
        }
    }

    fn refused_limit(&self, user_id: &str, device: &str) -> Error {
        tracing::info!(user_id, device, "login refused: session limit");
        Error::SessionLimit
    }

    /// Ends sessions in whichever mode the handle runs.
    async fn end(
        &self,
        what: Ends<'_>,
        reason: EndReason,
        now: u64,
    ) -> Result<Vec<SessionInfo>, Error> {
        #[cfg(feature = "jwt")]
        if self.jwt().is_some() {
            use crate::store::JwtTarget;
            let (user, target) = match what {
                Ends::Session(id) => ("", JwtTarget::Session(id)),
                Ends::User(user, None) => (user, JwtTarget::User),
                Ends::User(user, Some(d)) => (user, JwtTarget::Device(d)),
                Ends::Token(_) => return Ok(Vec::new()),
                #[cfg(feature = "jwt")]
                Ends::Jwt(user, id) => (user, JwtTarget::Session(id)),
            };
            return Ok(self.store().jwt_end(user, target, reason, now).await?);
        }
        let target = match what {
            Ends::Session(id) => Target::Session(id),
            Ends::User(user_id, device) => Target::User { user_id, device },
            Ends::Token(key) => Target::Token(key),
            #[cfg(feature = "jwt")]
            Ends::Jwt(..) => return Ok(Vec::new()),
        };
        Ok(self.store().end(target, reason, now).await?)
    }

    /// Logs out the session of `token`; `true` if a live session ended, `false` if the
    /// token was unknown, malformed or already ended. The token then answers
    /// `invalid_token`.
    pub async fn logout(&self, token: &str) -> Result<bool, Error> {
        #[cfg(feature = "jwt")]
        if let Some(jwt) = self.jwt() {
            // Only a token we signed can be logged out; expired ones are over anyway.
            let Ok(v) = jwt.verify(token, self.now_ms()) else {
                return Ok(false);
            };
            let id = v.session_id;
            return self
                .end_one(Ends::Jwt(&v.user_id, id), EndReason::LoggedOut)
                .await;
        }
        let Some(key) = SessionKey::parse(token) else {
            return Ok(false);
        };
        self.end_one(Ends::Token(&key), EndReason::LoggedOut).await
    }

    /// Logs out a session by id (for a handler that has the [`Identity`]); the token
    /// then answers `invalid_token`.
    pub async fn logout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.end_one(Ends::Session(session_id), EndReason::LoggedOut)
            .await
    }

    /// Ends one session by id as an operator: its token answers `kicked_out`.
    pub async fn kickout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.end_one(Ends::Session(session_id), EndReason::KickedOut)
            .await
    }

    async fn end_one(&self, what: Ends<'_>, reason: EndReason) -> Result<bool, Error> {
        let now = self.now_ms();
        let mut ended = self.end(what, reason, now).await?;
        self.announce(&ended, reason);
        let Some(session) = ended.pop() else {
            return Ok(false);
        };
        tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, ?reason, "session ended");
        self.emit(now, || match reason {
            EndReason::LoggedOut => EventKind::LoggedOut {
                session: session.clone(),
            },
            _ => EventKind::KickedOut {
                user_id: session.user_id.clone(),
                sessions: vec![session.clone()],
            },
        });
        Ok(true)
    }

    /// Ends every live session of a user; returns how many. Their tokens answer
    /// `kicked_out`, also after the user logged in again. In JWT mode this is one store
    /// write whatever the number of tokens.
    pub async fn kickout(&self, user_id: &str) -> Result<usize, Error> {
        self.kick(user_id, None).await
    }

    /// Ends the user's live sessions on one device; returns how many.
    pub async fn kickout_device(&self, user_id: &str, device: &str) -> Result<usize, Error> {
        self.kick(user_id, Some(device)).await
    }

    async fn kick(&self, user_id: &str, device: Option<&str>) -> Result<usize, Error> {
        let now = self.now_ms();
        let ended = self
            .end(Ends::User(user_id, device), EndReason::KickedOut, now)
            .await?;
        self.announce(&ended, EndReason::KickedOut);
        tracing::info!(user_id, device, kicked = ended.len(), "kickout");
        let count = ended.len();
        if count > 0 {
            self.emit(now, || EventKind::KickedOut {
                user_id: Arc::from(user_id),
                sessions: ended,
            });
        }
        Ok(count)
    }

    /// Bans a user for `duration`: ends every live session (their tokens answer `banned`
    /// while the ban lasts) and refuses logins until it ends. Returns how many sessions
    /// ended. A second ban replaces the first. Bans last at most ten years.
    pub async fn ban(&self, user_id: &str, duration: Duration) -> Result<usize, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        let until_ms = now.saturating_add(millis(duration).min(MAX_LIFETIME_MS));
        #[cfg(feature = "jwt")]
        let ended = if self.jwt().is_some() {
            self.store().jwt_ban(user_id, until_ms, now).await?
        } else {
            self.store().ban(user_id, until_ms, now).await?
        };
        #[cfg(not(feature = "jwt"))]
        let ended = self.store().ban(user_id, until_ms, now).await?;
        self.announce(&ended, EndReason::Banned);
        tracing::info!(user_id, until_ms, kicked = ended.len(), "ban");
        let count = ended.len();
        self.emit(now, || EventKind::Banned {
            user_id: Arc::from(user_id),
            until_ms,
            sessions: ended,
        });
        Ok(count)
    }

    /// Lifts a ban; `true` if one stood. Tokens ended by the ban stay refused
    /// (`kicked_out`).
    pub async fn unban(&self, user_id: &str) -> Result<bool, Error> {
        let now = self.now_ms();
        let lifted = self.store().unban(user_id, now).await?;
        if lifted {
            tracing::info!(user_id, "unban");
            self.emit(now, || EventKind::Unbanned {
                user_id: Arc::from(user_id),
            });
        }
        Ok(lifted)
    }

    /// When the user's ban ends, if one stands.
    pub async fn banned_until(
        &self,
        user_id: &str,
    ) -> Result<Option<std::time::SystemTime>, Error> {
        let now = self.now_ms();
        Ok(self
            .store()
            .banned_until(user_id, now)
            .await?
            .map(system_time))
    }

    /// The user's live sessions, oldest first.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, Error> {
        #[cfg(feature = "jwt")]
        if self.jwt().is_some() {
            return Ok(self.store().jwt_sessions(user_id, self.now_ms()).await?);
        }
        Ok(self.store().sessions(user_id, self.now_ms()).await?)
    }

    /// Gives the session of `token` a fresh absolute lifetime (the handle's TTL from now)
    /// and idle deadline; fails with [`Error::Rejected`] if it is not live.
    pub async fn renew(&self, token: &str) -> Result<SessionInfo, Error> {
        #[cfg(feature = "jwt")]
        if self.jwt().is_some() {
            // A signed expiry cannot move; the client logs in again.
            return Err(Error::Unsupported("renew in JWT mode"));
        }
        let key = SessionKey::parse(token).ok_or(Reason::InvalidToken)?;
        let now = self.now_ms();
        let config = self.config();
        let expires_at_ms = now.saturating_add(config.ttl_ms);
        let idle = config
            .idle_ms
            .map(|idle| now.saturating_add(idle).min(expires_at_ms));
        match self.store().renew(&key, expires_at_ms, idle, now).await? {
            Some(session) => {
                tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, "renew");
                self.emit(now, || EventKind::Renewed {
                    session: session.clone(),
                });
                Ok(session)
            }
            // Say why, as a request with this token would be told.
            None => Err(Error::Rejected(
                self.authenticate(token)
                    .await
                    .err()
                    .map_or(Reason::InvalidToken, |r| r.reason()),
            )),
        }
    }
}

/// What to end, in either mode.
#[derive(Clone, Copy)]
enum Ends<'a> {
    Token(&'a SessionKey),
    Session(SessionId),
    User(&'a str, Option<&'a str>),
    /// A verified JWT of this user.
    #[cfg(feature = "jwt")]
    Jwt(&'a str, SessionId),
}

#[cfg(feature = "jwt")]
type ExtClaims = serde_json::value::RawValue;
#[cfg(not(feature = "jwt"))]
type ExtClaims = str;

/// A random epoch for a JWT state this login may create (below 2^53, so every JSON
/// reader keeps it exact).
#[cfg(feature = "jwt")]
fn fresh_epoch() -> Result<u64, Error> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| Error::Random(e.to_string()))?;
    Ok(u64::from_le_bytes(raw) >> 11)
}

/// 1 to 128 bytes, no control characters.
pub(crate) fn valid_name(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_NAME_LEN && !value.chars().any(char::is_control)
}

fn check_name(field: &'static str, value: &str) -> Result<(), Error> {
    if valid_name(value) {
        Ok(())
    } else {
        Err(Error::InvalidInput { field })
    }
}
