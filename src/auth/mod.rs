//! The handle: log in, check tokens, log out, kick out, ban — from anywhere.
//!
//! [`Auth`] keeps what both modes share — the store, the clock, the default rule and
//! lifetime, the responses, the audit events and the watches — and hands everything a
//! mode decides to its mode ([`SessionMode`], or `Jwt`).

mod builder;
#[cfg(feature = "jwt")]
mod jwt;
mod outage;
pub(crate) mod restrict;
mod session;
pub(crate) mod watchers;

pub use builder::AuthBuilder;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use self::watchers::Watchers;
use crate::clock::{Clock, millis, system_time};
use crate::error::Error;
use crate::events::{AuthEvent, EventKind};
use crate::identity::Identity;
use crate::limits::{
    MAX_FIELD_LEN, MAX_FIELDS, MAX_LEEWAY_MS, MAX_LIFETIME_MS, MAX_TOKEN_LEN, MAX_USER_AGENT_LEN,
    lifetime_ms, valid_name,
};
use crate::mode::{EndScope, Issued, LoginRequest, Mode, RefreshPlan, SessionMode};
use crate::note::Note;
use crate::policy::{LoginRule, OwnIdle};
use crate::rejection::{Reason, Refusal, Rejection, Responses};
use crate::store::audit::AuditEvent;
use crate::store::directory::MAX_PAGE;
use crate::store::{
    Admission, Cursor, EndReason, Ends, MemoryStore, OnlineSession, Page, PageRequest, Rotated,
    SessionEntry, SessionInfo, SessionMeta, Store,
};
use crate::token::{SessionId, Token};

/// The handle to a login system: cheap to clone, no global state.
///
/// Build one per application (with [`Auth::new`] or [`Auth::builder`]), give a clone to
/// the [`AuthLayer`](crate::AuthLayer), and keep clones wherever logins are made or
/// ended: handlers, background jobs, admin tools. Every helper either did what it says
/// on the store or returns an [`Error`].
///
/// `M` is the mode: [`SessionMode`] (the default) or, with the `jwt` feature, `Jwt`
/// ([`JwtAuth`](crate::JwtAuth)); code generic over both takes `M: Mode<S>`.
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
pub struct Auth<S = MemoryStore, M = SessionMode> {
    inner: Arc<Inner<S, M>>,
}

struct Inner<S, M> {
    store: S,
    mode: M,
    clock: Box<dyn Clock>,
    /// The latest time read: the handle's time never runs backwards, so a clock stepped
    /// back cannot revive an expired session that a kickout no longer sees.
    latest_ms: AtomicU64,
    settings: Settings,
    responses: Arc<Responses>,
    events: broadcast::Sender<AuthEvent>,
    /// This handle's own audit stream, for a store without a shared one.
    audit_local: Option<broadcast::Sender<AuditEvent>>,
    watchers: Arc<Watchers>,
    outage: outage::OutageLog,
}

/// The settings both modes share.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) ttl_ms: u64,
    pub(crate) rule: LoginRule,
    pub(crate) classes: crate::policy::Classes,
    pub(crate) watch_recheck_ms: u64,
    /// Refresh tokens for every login: the sessions' cap.
    pub(crate) refresh: Option<u64>,
    pub(crate) refresh_window_ms: Option<u64>,
}

impl<S, M> Clone for Auth<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, M: fmt::Debug> fmt::Debug for Auth<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.inner.settings)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

/// A successful login, or refresh.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Login {
    /// The bearer token to hand to the client.
    pub token: Token,
    /// When it expires, Unix milliseconds (with a refresh token, before the session).
    pub token_expires_at_ms: u64,
    /// The session (new at a login; with its new end after a refresh).
    pub session: SessionInfo,
    /// Sessions the concurrent-login rule ended to make room (they answer `replaced`).
    pub replaced: Vec<SessionInfo>,
    /// The refresh token, if the session has them.
    pub refresh: Option<RefreshToken>,
    issued_at_ms: u64,
}

impl Login {
    /// Seconds until the token expires, as of its issue (`expires_in` of OAuth).
    pub fn expires_in(&self) -> u64 {
        self.token_expires_at_ms.saturating_sub(self.issued_at_ms) / 1000
    }

    /// When it was issued, Unix milliseconds.
    pub(crate) fn issued_at_ms(&self) -> u64 {
        self.issued_at_ms
    }

    /// Seconds until the refresh token expires, as of its issue (none without one).
    pub fn refresh_expires_in(&self) -> Option<u64> {
        let refresh = self.refresh.as_ref()?;
        Some(refresh.expires_at_ms.saturating_sub(self.issued_at_ms) / 1000)
    }
}

/// How many sessions are live, and of how many users ([`Auth::online_count`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnlineCount {
    /// Live sessions.
    pub sessions: usize,
    /// Users with at least one.
    pub users: usize,
}

/// A refresh token: trade it with [`Auth::refresh`] for a new pair. Keep it as secret
/// as a password; it is never a bearer token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RefreshToken {
    /// The token (`Debug` redacts it).
    pub token: Token,
    /// When it expires, Unix milliseconds (its idle window, or the session's cap).
    pub expires_at_ms: u64,
}

/// Per-login overrides of the handle's settings, and what to remember about the
/// session for its listings ([`Auth::sessions`]).
///
/// ```
/// use std::time::Duration;
/// use kickout::{LoginOptions, LoginRule};
///
/// let options = LoginOptions::new()
///     .rule(LoginRule::one_in_all())
///     .ttl(Duration::from_secs(600))
///     .label("Alice's phone")
///     .client_ip("203.0.113.7".parse().unwrap())
///     .user_agent("Mozilla/5.0 (iPhone)")
///     .field("app_version", "4.2.0");
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
pub struct LoginOptions {
    rule: Option<LoginRule>,
    ttl: Option<Duration>,
    idle: Option<OwnIdle>,
    refresh: Option<OwnRefresh>,
    meta: SessionMeta,
}

/// A login's own choice of refresh tokens.
#[derive(Clone, Copy, Debug)]
enum OwnRefresh {
    Off,
    Cap(u64),
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

    /// Another absolute lifetime for this session (within the same bounds as
    /// [`AuthBuilder::ttl`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Another idle timeout for this session (same bounds as the builder's), in either
    /// mode.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(OwnIdle::After(lifetime_ms(idle)));
        self
    }

    /// No idle timeout for this session, whatever the handle's ("remember me"): it
    /// lives its absolute lifetime.
    pub fn no_idle_timeout(mut self) -> Self {
        self.idle = Some(OwnIdle::Never);
        self
    }

    /// Refresh tokens for this session, capped `ttl` from its login, whether or not
    /// the handle gives them (see [`AuthBuilder::refresh_tokens`]).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh = Some(OwnRefresh::Cap(lifetime_ms(ttl)));
        self
    }

    /// No refresh token for this session, whatever the handle's.
    pub fn no_refresh(mut self) -> Self {
        self.refresh = Some(OwnRefresh::Off);
        self
    }

    /// A name the user will recognize the session by ("Alice's phone"): 1 to
    /// [`MAX_LABEL_LEN`](crate::limits::MAX_LABEL_LEN) bytes, no control
    /// characters, else the login is [`Error::InvalidInput`].
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.meta.label = Some(Arc::from(label.into()));
        self
    }

    /// The client's address.
    pub fn client_ip(mut self, ip: std::net::IpAddr) -> Self {
        self.meta.ip = Some(Arc::from(ip.to_string()));
        self
    }

    /// The client's `User-Agent`, of which the session keeps the first
    /// [`MAX_USER_AGENT_LEN`](crate::limits::MAX_USER_AGENT_LEN) bytes (control
    /// characters dropped).
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        let mut kept = String::new();
        for c in user_agent.chars().filter(|c| !c.is_control()) {
            if kept.len() + c.len_utf8() > MAX_USER_AGENT_LEN {
                break;
            }
            kept.push(c);
        }
        self.meta.user_agent = Some(Arc::from(kept));
        self
    }

    /// One of the application's own fields (a second one of a key replaces the first):
    /// at most [`MAX_FIELDS`](crate::limits::MAX_FIELDS), keys valid names, values
    /// at most [`MAX_FIELD_LEN`](crate::limits::MAX_FIELD_LEN) bytes without
    /// control characters, else the login is [`Error::InvalidInput`].
    pub fn field(mut self, key: &str, value: &str) -> Self {
        let fields = &mut self.meta.fields;
        match fields.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(i) => {
                if let Some(field) = fields.get_mut(i) {
                    field.1 = Arc::from(value);
                }
            }
            Err(i) => fields.insert(i, (Arc::from(key), Arc::from(value))),
        }
        self
    }

    /// The metadata, if every bound holds.
    fn checked_meta(&self) -> Result<&SessionMeta, Error> {
        let meta = &self.meta;
        if meta.label.as_deref().is_some_and(|l| !valid_name(l)) {
            return Err(Error::InvalidInput { field: "label" });
        }
        let field_ok = |(k, v): &(Arc<str>, Arc<str>)| {
            valid_name(k) && v.len() <= MAX_FIELD_LEN && !v.chars().any(char::is_control)
        };
        if meta.fields.len() > MAX_FIELDS || !meta.fields.iter().all(field_ok) {
            return Err(Error::InvalidInput { field: "fields" });
        }
        Ok(meta)
    }
}

impl<S: Store> Auth<S> {
    /// A session-mode handle with default settings over `store`.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`, in session mode until [`AuthBuilder::jwt`].
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
        AuthBuilder::new(store)
    }
}

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The mode and its settings.
    pub fn mode(&self) -> &M {
        &self.inner.mode
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn watchers(&self) -> &Arc<Watchers> {
        &self.inner.watchers
    }

    pub(crate) fn responses(&self) -> &Arc<Responses> {
        &self.inner.responses
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

    /// This handle's events from now on: logins, logouts, kickouts, replacements, bans,
    /// renewals, refreshes. (What every instance shares is [`Auth::audit`], a projection
    /// of these: [`AuthEvent::audit`].)
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

    /// The audit stream of every handle sharing this store, on any instance: logins,
    /// logouts, kickouts, replacements, bans, unbans and refresh reuse, with notes (see
    /// [`store::audit`](crate::store::audit) for what it does not carry). A store
    /// without a shared stream gives this handle's own events.
    ///
    /// A loss is never silent. Where the store lost events (its subscription to Redis
    /// was down, or an instance could not publish its own) the stream carries a gap
    /// marker: an event of kind [`AuditKind::Gap`](crate::store::audit::AuditKind::Gap), with how many when that is known.
    /// A receiver that falls more than
    /// [`AUDIT_CAPACITY`](crate::store::audit::AUDIT_CAPACITY) behind gets
    /// `Err(RecvError::Lagged(n))` from `recv`: its own gap, of `n` events. After
    /// either, read the store again (the directory, the sessions) rather than trust the
    /// silence.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore, store::audit::AuditKind};
    ///
    /// let store = MemoryStore::new();
    /// let (here, there) = (Auth::new(store.clone()), Auth::new(store));
    /// let mut audit = here.audit();
    /// there.login("10001", "web").await?;
    /// assert_eq!(audit.recv().await.unwrap().kind, AuditKind::Login);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn audit(&self) -> broadcast::Receiver<AuditEvent> {
        match &self.inner.audit_local {
            Some(local) => local.subscribe(),
            None => self
                .inner
                .store
                .audit_feed()
                .unwrap_or_else(|| broadcast::channel(1).1),
        }
    }

    pub(crate) fn emit(&self, at_ms: u64, kind: impl FnOnce() -> EventKind) {
        // Never waits: with no one to tell nothing is built, a full channel drops the
        // oldest.
        let audit = match &self.inner.audit_local {
            Some(local) => local.receiver_count() > 0,
            None => self.inner.store.audit_wanted(),
        };
        let events = self.inner.events.receiver_count() > 0;
        if !audit && !events {
            return;
        }
        let event = AuthEvent {
            at_ms,
            kind: kind(),
        };
        if audit {
            for event in event.audit() {
                match &self.inner.audit_local {
                    Some(local) => {
                        let _ = local.send(event);
                    }
                    None => self.inner.store.audit(&event),
                }
            }
        }
        if events {
            let _ = self.inner.events.send(event);
        }
    }

    /// Tells this handle's watches that these sessions ended.
    fn announce(&self, ended: &[SessionInfo], end: EndReason, note: Option<&Note>) {
        if !ended.is_empty() {
            let refusal = Refusal::new(end.reason_now(), note.cloned());
            self.watchers()
                .notify(ended.iter().map(|s| (s.session_id, refusal.clone())));
        }
    }

    /// Reports sessions replaced because of session `by`.
    fn replaced(&self, replaced: &[SessionInfo], by: SessionId, now: u64) {
        self.announce(replaced, EndReason::Replaced, None);
        if !replaced.is_empty() {
            self.emit(now, || EventKind::Replaced {
                sessions: replaced.to_vec(),
                by,
            });
        }
    }

    /// Parses a token as of `now_ms`; refuses what cannot be one of ours without
    /// touching the store.
    pub(crate) fn prepare(&self, token: &str, now_ms: u64) -> Result<M::Token, Reason> {
        self.inner.mode.prepare(token, now_ms)
    }

    /// Starts the store read of a prepared token (renewing the idle deadline). A request
    /// reads the time once, for both steps.
    pub(crate) fn check(&self, token: M::Token, now_ms: u64) -> M::Check {
        self.inner
            .mode
            .check(&self.inner.store, token, true, now_ms)
    }

    /// The same read without renewing the idle deadline: a watch re-checking a session
    /// is no activity of its user.
    pub(crate) fn check_quietly(&self, token: M::Token) -> M::Check {
        self.inner
            .mode
            .check(&self.inner.store, token, false, self.now_ms())
    }

    /// Checks a token as the layer does: the identity, or the rejection to answer with.
    /// A token longer than [`MAX_TOKEN_LEN`](crate::limits::MAX_TOKEN_LEN) is
    /// `invalid_token` before any work, as the layer's default source refuses it.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(self.rejection(Reason::InvalidToken));
        }
        let now = self.now_ms();
        let verdict = match self.prepare(token, now) {
            Ok(prepared) => self.check(prepared, now).await,
            Err(reason) => Err(reason.into()),
        };
        verdict.map_err(|refusal| self.refused(refusal, now))
    }

    /// The rejection of a refused request; an unavailable store is counted toward the
    /// outage's next log line.
    pub(crate) fn refused(&self, refusal: Refusal, now_ms: u64) -> Rejection {
        if refusal == Reason::StoreUnavailable {
            self.inner.outage.refused(now_ms);
        }
        self.inner.responses.refusal(refusal)
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
        let request = self.login_request(user_id, device, &options)?;
        let admission = self.inner.mode.login(&self.inner.store, request).await?;
        self.admitted(request, admission)
    }

    /// The login as the mode gets it: names checked, settings and options applied.
    pub(crate) fn login_request<'a>(
        &'a self,
        user_id: &'a str,
        device: &'a str,
        options: &'a LoginOptions,
    ) -> Result<LoginRequest<'a>, Error> {
        check_name("user_id", user_id)?;
        check_name("device", device)?;
        let settings = self.settings();
        // The login's own settings, else its class's, else the handle's.
        let class = settings.classes.class_of(device);
        let rule = options.rule.or(settings.classes.rule(class));
        let ttl_ms = options.ttl.map(lifetime_ms);
        let idle = options.idle.or(settings.classes.idle(class));
        Ok(LoginRequest {
            user_id,
            device,
            class,
            idle,
            meta: options.checked_meta()?,
            rule: rule.unwrap_or(settings.rule),
            ttl_ms: ttl_ms
                .or(settings.classes.ttl_ms(class))
                .unwrap_or(settings.ttl_ms),
            refresh: match options.refresh {
                Some(OwnRefresh::Off) => None,
                Some(OwnRefresh::Cap(ttl_ms)) => Some(ttl_ms),
                None => settings.refresh,
            }
            .map(|ttl_ms| RefreshPlan {
                ttl_ms,
                window_ms: settings.refresh_window_ms,
            }),
            now_ms: self.now_ms(),
        })
    }

    /// Reports what a login did: logs, events and watches for an admitted one, the
    /// error for a refused one.
    pub(crate) fn admitted(
        &self,
        request: LoginRequest<'_>,
        admission: Admission<Issued>,
    ) -> Result<Login, Error> {
        let LoginRequest {
            user_id,
            device,
            now_ms,
            ..
        } = request;
        let issued = match admission {
            Admission::Admitted(issued) => issued,
            Admission::Banned { until_ms } => {
                tracing::info!(user_id, device, "login refused: banned");
                return Err(Error::Banned {
                    until: system_time(until_ms),
                });
            }
            Admission::LimitReached => {
                tracing::info!(user_id, device, "login refused: session limit");
                return Err(Error::SessionLimit);
            }
        };
        tracing::info!(user_id, device, session_id = %issued.session.session_id, replaced = issued.replaced.len(), "login");
        self.emit(now_ms, || EventKind::LoggedIn {
            session: issued.session.clone(),
        });
        self.replaced(&issued.replaced, issued.session.session_id, now_ms);
        Ok(login(issued, now_ms))
    }

    /// Trades a refresh token for a new pair of the same session (same session id, one
    /// entry in [`Auth::sessions`]), in one atomic store operation; the presented token
    /// is spent. Fails with [`Error::Rejected`]:
    /// - `refresh_reused` when the token was already spent: the whole session ends at
    ///   once, its tokens old and new, on every instance (its watches end, and an
    ///   [`EventKind::RefreshReused`] is sent). Of concurrent presentations of one
    ///   token at most one gets a working pair; there is no grace window for a
    ///   retried request, so a client whose answer was lost logs in again.
    /// - the session's reason when it ended (`kicked_out`, `replaced`, `banned`,
    ///   `invalid_token` after a logout); `token_expired` past the refresh token's
    ///   window, the session's cap or its idle timeout; `invalid_token` for anything
    ///   else, an access token included (refused by its format, before any store work).
    ///
    /// The new access token lives the session's access lifetime, the new refresh token
    /// its window, neither past the cap; the replaced access token stays valid until its
    /// own end.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Login, Error> {
        // Refused by its format before any store work (a refresh token has one length).
        let now = self.now_ms();
        let rotated = self.in_realm(
            self.inner
                .mode
                .refresh(&self.inner.store, refresh_token, now)
                .await,
        )?;
        let refusal = match rotated {
            Rotated::Done(issued) => {
                let session = &issued.session;
                tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, "refresh");
                self.emit(now, || EventKind::Refreshed {
                    session: issued.session.clone(),
                });
                return Ok(login(issued, now));
            }
            Rotated::Unknown => Reason::InvalidToken.into(),
            Rotated::Expired => Reason::TokenExpired.into(),
            // Told as a request with the session's token is: with the revocation's note.
            Rotated::Ended { ended, ban_stands } => {
                Refusal::new(ended.reason.rejection(ban_stands), ended.note)
            }
            Rotated::Reused(Ends { ended, replaced }) => {
                self.announce(&ended, EndReason::RefreshReused, None);
                if let Some(first) = ended.first() {
                    self.replaced(&replaced, first.session_id, now);
                }
                for session in ended {
                    tracing::warn!(user_id = &*session.user_id, session_id = %session.session_id, "a spent refresh token was presented again: session ended");
                    self.emit(now, || EventKind::RefreshReused { session });
                }
                Reason::RefreshReused.into()
            }
        };
        Err(Error::Rejected(self.refused(refusal, now)))
    }

    /// A helper's result with any refusal in it answered in this handle's realm (a mode
    /// refuses malformed tokens before it knows the handle).
    fn in_realm<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| match e {
            Error::Rejected(r) => Error::Rejected(
                self.inner
                    .responses
                    .refusal(Refusal::new(r.reason(), r.note().cloned())),
            ),
            other => other,
        })
    }

    /// Logs out the session of `token`; `true` if a live session ended, `false` if the
    /// token was unknown, malformed or already ended. The token then answers
    /// `invalid_token`.
    pub async fn logout(&self, token: &str) -> Result<bool, Error> {
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let ended = self.end(EndScope::Token(token), reason, None, now).await?;
        Ok(self.ended_one(ended, reason, None, now))
    }

    /// This handle, giving the revocations it makes `note`: the refused tokens then say
    /// it (`"note"` in the JSON body), watches yield it, events carry it. It takes an
    /// `Option<Note>` too (`None`: as the handle itself), for a note that is optional.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, Note, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let note = Note::new("password_changed")?.with_message("Please sign in again.")?;
    /// auth.with_note(note).kickout("10001").await?;
    /// let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
    /// assert_eq!(refused.reason(), Reason::KickedOut);
    /// assert_eq!(refused.note().unwrap().code(), "password_changed");
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_note(&self, note: impl Into<Option<Note>>) -> Noted<'_, S, M> {
        Noted {
            auth: self,
            note: note.into(),
        }
    }

    /// Ends one of the caller's own sessions by id — its current one
    /// (`identity.session_id()`: "sign out") or another ("sign out that device"): its
    /// tokens then answer `invalid_token`. `false` unless it was a live session of the
    /// identity's user: an id from a request never ends another user's session. An
    /// operator ends any session with [`Auth::kickout_session`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let phone = auth.login("10001", "phone").await?;
    /// let laptop = auth.login("10001", "laptop").await?;
    /// let stranger = auth.login("10002", "web").await?;
    /// let me = auth.authenticate(laptop.token.as_str()).await.unwrap();
    /// let them = auth.authenticate(stranger.token.as_str()).await.unwrap();
    /// assert!(!auth.logout_session(&them, phone.session.session_id).await?, "not theirs");
    /// assert!(auth.logout_session(&me, phone.session.session_id).await?);
    /// assert!(auth.logout_session(&me, me.session_id()).await?, "and sign out");
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn logout_session(
        &self,
        identity: &Identity,
        session_id: SessionId,
    ) -> Result<bool, Error> {
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let scope = EndScope::Own {
            user_id: identity.user_id(),
            session_id,
        };
        let ends = self.end(scope, reason, None, now).await?;
        Ok(self.ended_one(ends, reason, None, now))
    }

    /// Ends every other live session of the identity's user in one atomic store
    /// operation ("sign out everywhere else", after a password change, say); returns how
    /// many. The identity's own session keeps working; the others answer
    /// `invalid_token`. A login that lands before it is ended, one after it is kept.
    /// (JWT mode ends each other token on its own; should that pass the user's bound of
    /// revoked tokens, [`MAX_REVOKED`](crate::limits::MAX_REVOKED), one
    /// generation bump replaces them all, the identity's included: it fails closed.)
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let laptop = auth.login("10001", "laptop").await?;
    /// auth.login("10001", "phone").await?;
    /// auth.login("10001", "tablet").await?;
    /// let me = auth.authenticate(laptop.token.as_str()).await.unwrap();
    /// assert_eq!(auth.logout_others(&me).await?, 2);
    /// assert!(auth.authenticate(laptop.token.as_str()).await.is_ok());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn logout_others(&self, identity: &Identity) -> Result<usize, Error> {
        self.end_others(identity, None).await
    }

    async fn end_others(&self, identity: &Identity, note: Option<&Note>) -> Result<usize, Error> {
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let user_id = identity.user_id();
        let keep = identity.session_id();
        let scope = EndScope::Others { user_id, keep };
        let Ends { ended, replaced } = self.end(scope, reason, note, now).await?;
        self.announce(&ended, reason, note);
        self.replaced(&replaced, keep, now);
        tracing::info!(
            user_id,
            ended = ended.len(),
            note = note.map(Note::code),
            "logout of the other sessions"
        );
        let count = ended.len();
        for session in ended {
            self.emit(now, || EventKind::LoggedOut {
                session,
                note: note.cloned(),
            });
        }
        Ok(count)
    }

    /// Ends one session by id as an operator: its token answers `kicked_out`.
    pub async fn kickout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.end_session(session_id, EndReason::KickedOut, None)
            .await
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: EndReason,
        note: Option<&Note>,
    ) -> Result<bool, Error> {
        let now = self.now_ms();
        let ends = self.end(EndScope::Session(id), reason, note, now).await?;
        Ok(self.ended_one(ends, reason, note, now))
    }

    /// The mode's end of `scope` on this handle's store.
    async fn end(
        &self,
        scope: EndScope<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now: u64,
    ) -> Result<Ends, Error> {
        Ok(self
            .inner
            .mode
            .end(&self.inner.store, scope, reason, note, now)
            .await?)
    }

    /// Reports the end of one session (a logout or a kickout by id), and of those a
    /// bound replaced with it.
    fn ended_one(&self, ends: Ends, reason: EndReason, note: Option<&Note>, now: u64) -> bool {
        let Ends {
            mut ended,
            replaced,
        } = ends;
        self.announce(&ended, reason, note);
        let Some(session) = ended.pop() else {
            return false;
        };
        self.replaced(&replaced, session.session_id, now);
        tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, ?reason, note = note.map(Note::code), "session ended");
        self.emit(now, || match reason {
            EndReason::LoggedOut => EventKind::LoggedOut {
                session: session.clone(),
                note: note.cloned(),
            },
            _ => EventKind::KickedOut {
                user_id: session.user_id.clone(),
                sessions: vec![session.clone()],
                note: note.cloned(),
            },
        });
        true
    }

    /// Ends every live session of a user; returns how many. Their tokens answer
    /// `kicked_out`, also after the user logged in again. In JWT mode this is one store
    /// write whatever the number of tokens.
    pub async fn kickout(&self, user_id: &str) -> Result<usize, Error> {
        self.kick(user_id, None, None).await
    }

    /// Ends the user's live sessions on one device; returns how many. An invalid user id
    /// or device name (empty, over 128 bytes, control characters) is
    /// [`Error::InvalidInput`], as at login.
    pub async fn kickout_device(&self, user_id: &str, device: &str) -> Result<usize, Error> {
        self.kick(user_id, Some(device), None).await
    }

    async fn kick(
        &self,
        user_id: &str,
        device: Option<&str>,
        note: Option<&Note>,
    ) -> Result<usize, Error> {
        // An empty or control-character name is no user or device: refused, so no store
        // reads it as "every device" or as nothing.
        check_name("user_id", user_id)?;
        if let Some(device) = device {
            check_name("device", device)?;
        }
        let now = self.now_ms();
        // A generation bump, or tombstones: nothing is replaced along the way.
        let scope = EndScope::User { user_id, device };
        let Ends { ended, .. } = self.end(scope, EndReason::KickedOut, note, now).await?;
        self.announce(&ended, EndReason::KickedOut, note);
        tracing::info!(
            user_id,
            device,
            kicked = ended.len(),
            note = note.map(Note::code),
            "kickout"
        );
        let count = ended.len();
        if count > 0 {
            self.emit(now, || EventKind::KickedOut {
                user_id: Arc::from(user_id),
                sessions: ended,
                note: note.cloned(),
            });
        }
        Ok(count)
    }

    /// Bans a user for `duration`: ends every live session (their tokens answer `banned`
    /// while the ban lasts) and refuses logins until it ends. Returns how many sessions
    /// ended. A second ban replaces the first. Bans last at most ten years.
    pub async fn ban(&self, user_id: &str, duration: Duration) -> Result<usize, Error> {
        self.ban_noted(user_id, duration, None).await
    }

    async fn ban_noted(
        &self,
        user_id: &str,
        duration: Duration,
        note: Option<&Note>,
    ) -> Result<usize, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        let until_ms = now.saturating_add(millis(duration).min(MAX_LIFETIME_MS));
        let ended = self
            .inner
            .mode
            .ban(&self.inner.store, user_id, until_ms, note, now)
            .await?;
        self.announce(&ended, EndReason::Banned, note);
        tracing::info!(
            user_id,
            until_ms,
            kicked = ended.len(),
            note = note.map(Note::code),
            "ban"
        );
        let count = ended.len();
        self.emit(now, || EventKind::Banned {
            user_id: Arc::from(user_id),
            until_ms,
            sessions: ended,
            note: note.cloned(),
        });
        Ok(count)
    }

    /// Lifts a ban; `true` if one stood. Tokens ended by the ban stay refused
    /// (`kicked_out`). An invalid user id is [`Error::InvalidInput`].
    pub async fn unban(&self, user_id: &str) -> Result<bool, Error> {
        check_name("user_id", user_id)?;
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

    /// When the user's ban ends, if one stands. An invalid user id is
    /// [`Error::InvalidInput`].
    pub async fn banned_until(&self, user_id: &str) -> Result<Option<SystemTime>, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        Ok(self
            .store()
            .banned_until(user_id, now)
            .await?
            .map(system_time))
    }

    /// The user's live sessions, oldest first, with what was said of each at login. An
    /// invalid user id is [`Error::InvalidInput`].
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionEntry>, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        Ok(self
            .inner
            .mode
            .sessions(&self.inner.store, user_id, now)
            .await?)
    }

    /// A page of every user's live sessions ("who is online"), `limit` (1 to
    /// [`MAX_PAGE`](crate::store::directory::MAX_PAGE)) at most, after `cursor` (the
    /// previous page's [`Page::next`](crate::store::directory::Page), as text), of one
    /// device class if given. Following the cursor until it is `None` lists every session
    /// live throughout the walk exactly once; a page costs in proportion to its limit,
    /// whatever the number of sessions. A bad limit, cursor or class is
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// for user in 0..5 {
    ///     auth.login(&format!("user{user}"), "web").await?;
    /// }
    /// let (mut seen, mut cursor) = (0, None);
    /// loop {
    ///     let page = auth.online(cursor.as_deref(), 2, None).await?;
    ///     seen += page.sessions.len();
    ///     match page.next {
    ///         Some(next) => cursor = Some(next.to_string()),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen, 5);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn online(
        &self,
        cursor: Option<&str>,
        limit: usize,
        class: Option<&str>,
    ) -> Result<Page, Error> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::InvalidInput { field: "limit" });
        }
        let after = match cursor {
            Some(text) => Some(Cursor::parse(text).ok_or(Error::InvalidInput { field: "cursor" })?),
            None => None,
        };
        if let Some(class) = class {
            check_name("class", class)?;
        }
        let page = PageRequest {
            after: after.as_ref(),
            limit,
            class,
        };
        let now = self.now_ms();
        Ok(self.inner.mode.online(&self.inner.store, page, now).await?)
    }

    /// Every page of the directory, in order, to `each`: the sessions live `lookback_ms`
    /// ago or later.
    async fn walk(
        &self,
        lookback_ms: u64,
        mut each: impl FnMut(Vec<OnlineSession>),
    ) -> Result<(), Error> {
        let mut after: Option<Cursor> = None;
        loop {
            let page = PageRequest {
                after: after.as_ref(),
                limit: MAX_PAGE,
                class: None,
            };
            let now = self.now_ms().saturating_sub(lookback_ms);
            let page = self.inner.mode.online(&self.inner.store, page, now).await?;
            each(page.sessions);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// How many sessions are live, and of how many users: exact while nothing changes.
    /// It walks the whole directory (one read per session, in pages), so it costs in
    /// proportion to the number of sessions: poll it for a dashboard, not per request.
    pub async fn online_count(&self) -> Result<OnlineCount, Error> {
        let (mut sessions, mut users) = (0, std::collections::HashSet::new());
        self.walk(0, |page| {
            sessions += page.len();
            users.extend(page.into_iter().map(|s| s.info.user_id));
        })
        .await?;
        Ok(OnlineCount {
            sessions,
            users: users.len(),
        })
    }

    /// Ends every live session of every user (an incident switch): once it returns,
    /// every session live before it answers `kicked_out` on every instance and its
    /// watches end — tokens a JWT leeway or a slower clock still accepts included;
    /// logins made after it work. It walks the directory and kicks each
    /// user out ([`Auth::kickout`]: one write per user, whatever their number of
    /// sessions, in either mode); returns how many sessions ended.
    pub async fn kickout_all(&self) -> Result<usize, Error> {
        self.kick_all(None).await
    }

    async fn kick_all(&self, note: Option<&Note>) -> Result<usize, Error> {
        let mut users: Vec<Arc<str>> = Vec::new();
        // Also the users whose sessions ended by this clock within the longest leeway: a
        // verifier's leeway, or an instance whose clock is behind, may still accept them.
        self.walk(MAX_LEEWAY_MS, |page| {
            users.extend(page.into_iter().map(|s| s.info.user_id))
        })
        .await?;
        users.sort_unstable();
        users.dedup();
        let mut kicked = 0;
        for user in users {
            kicked += self.kick(&user, None, note).await?;
        }
        tracing::warn!(kicked, "kickout of every session");
        Ok(kicked)
    }
}

/// A handle whose revocations carry a [`Note`]: made by [`Auth::with_note`].
///
/// Each method is the handle's method of the same name; the sessions it ends keep the
/// note in their tombstones.
#[derive(Debug)]
pub struct Noted<'a, S, M = SessionMode> {
    auth: &'a Auth<S, M>,
    note: Option<Note>,
}

impl<S: Store, M: Mode<S>> Noted<'_, S, M> {
    /// [`Auth::kickout`], with the note.
    pub async fn kickout(&self, user_id: &str) -> Result<usize, Error> {
        self.auth.kick(user_id, None, self.note.as_ref()).await
    }

    /// [`Auth::kickout_device`], with the note.
    pub async fn kickout_device(&self, user_id: &str, device: &str) -> Result<usize, Error> {
        self.auth
            .kick(user_id, Some(device), self.note.as_ref())
            .await
    }

    /// [`Auth::kickout_session`], with the note.
    pub async fn kickout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.auth
            .end_session(session_id, EndReason::KickedOut, self.note.as_ref())
            .await
    }

    /// [`Auth::ban`], with the note.
    pub async fn ban(&self, user_id: &str, duration: Duration) -> Result<usize, Error> {
        self.auth
            .ban_noted(user_id, duration, self.note.as_ref())
            .await
    }

    /// [`Auth::kickout_all`], with the note.
    pub async fn kickout_all(&self) -> Result<usize, Error> {
        self.auth.kick_all(self.note.as_ref()).await
    }

    /// [`Auth::logout_others`], with the note: the other sessions answer
    /// `invalid_token` with it (say, `signed_out_elsewhere`).
    pub async fn logout_others(&self, identity: &Identity) -> Result<usize, Error> {
        self.auth.end_others(identity, self.note.as_ref()).await
    }
}

/// What a login or a refresh hands back.
fn login(issued: Issued, now_ms: u64) -> Login {
    Login {
        token: issued.token,
        token_expires_at_ms: issued.token_expires_at_ms,
        session: issued.session,
        replaced: issued.replaced,
        refresh: issued.refresh.map(|(token, expires_at_ms)| RefreshToken {
            token,
            expires_at_ms,
        }),
        issued_at_ms: now_ms,
    }
}

fn check_name(field: &'static str, value: &str) -> Result<(), Error> {
    if valid_name(value) {
        Ok(())
    } else {
        Err(Error::InvalidInput { field })
    }
}
