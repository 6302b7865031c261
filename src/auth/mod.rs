//! The handle: log in, check tokens, log out, kick out, ban — from anywhere.
//!
//! [`Auth`] keeps what both modes share — the store, the clock, the default rule and
//! lifetime, the responses, the audit events and the watches — and hands everything a
//! mode decides to its mode ([`SessionMode`], or `Jwt`).

mod builder;
mod outage;
pub(crate) mod watchers;

// In the order a reader needs `Auth`'s methods, which is the order rustdoc lists them:
// submodules' methods in declaration order, then this file's (events, parts).
mod login;

#[cfg(feature = "jwt")]
mod jwt;

mod revoke;

mod listing;

pub(crate) mod restrict;

pub use revoke::Noted;

pub use builder::AuthBuilder;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

use self::watchers::Watchers;
use crate::clock::Clock;
use crate::error::Error;
use crate::events::{AuthEvent, EventKind};
use crate::limits::{MAX_FIELD_LEN, MAX_FIELDS, MAX_USER_AGENT_LEN, lifetime_ms, valid_name};
use crate::mode::{Mode, SessionMode};
use crate::note::Note;
use crate::policy::{LoginRule, OwnIdle};
use crate::rejection::{Reason, Refusal, Rejection, Responses};
use crate::store::audit::AuditEvent;
use crate::store::{EndReason, MemoryStore, SessionInfo, SessionMeta, Store};
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

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// This handle's events from now on: logins, logouts, kickouts, replacements, bans,
    /// renewals, refreshes. (What every instance shares is [`Auth::audit`], a projection
    /// of these: [`AuthEvent::audit`]. Ship that one to a security log: this one is
    /// this process's only.)
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
    /// logouts, kickouts, replacements, bans, unbans, refresh reuse, restrictions and
    /// their lifts, and step-ups, with notes (see
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

    /// The rejection for `reason`, in this handle's realm.
    pub fn rejection(&self, reason: Reason) -> Rejection {
        self.inner.responses.rejection(reason)
    }

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
}

/// An input check of the helpers: a span of time that means something (a ban, a
/// restriction, a step-up window) is a millisecond or more; at most
/// [`MAX_LIFETIME_MS`](crate::limits::MAX_LIFETIME_MS).
fn span_ms(field: &'static str, span: Duration) -> Result<u64, Error> {
    match crate::clock::millis(span) {
        0 => Err(Error::InvalidInput { field }),
        ms => Ok(ms.min(crate::limits::MAX_LIFETIME_MS)),
    }
}

/// An input check of the helpers: a user id, device or class name.
fn check_name(field: &'static str, value: &str) -> Result<(), Error> {
    if valid_name(value) {
        Ok(())
    } else {
        Err(Error::InvalidInput { field })
    }
}
