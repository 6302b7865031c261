//! Live revocation: a handler awaits the end of its session, so a WebSocket or an
//! event stream opened before a kickout closes with it.
//!
//! Ends reach a [`SessionWatch`] three ways:
//! - at once from this handle's own logout, kickout, ban or replacing login;
//! - from other handles and other instances through the store's revocation feed
//!   ([`Store::revocations`]: in-process for the memory store, Redis pub/sub for Redis);
//! - by a re-check against the store — when the feed reports it may have missed
//!   messages (a lost pub/sub connection, a lagging receiver), when it reports that
//!   the state of users of the session's slot tag changed (a restriction, a JWT
//!   generation: only those watches ask), and every
//!   [`recheck interval`](crate::AuthBuilder::watch_recheck) regardless. A missed
//!   message can delay a disconnect by at most that interval (default 10 s), never keep
//!   a revoked session alive. A re-check the store did not answer is asked again sooner,
//!   from 100 ms on and doubling up to the interval, so a change the watch was woken for
//!   is not left to the next interval by one failed read.
//!
//! A watch [`with_guard`](SessionWatch::with_guard) also ends when the session stops
//! passing the guard: a restriction of its scope (through the same feed), or a step-up
//! window's end.
//!
//! A watch follows its session, not the token it was opened with: a refresh replaces
//! that token, and the watch goes on while the session lives. Its re-checks read the
//! session by id ([`SessionStore::lookup_session`](crate::store::SessionStore::lookup_session);
//! in JWT mode the user's revocation state, and past the end it knows the session's
//! end as the store lists it).
//!
//! Expiry needs no message: the watch ends with `token_expired` at the session's end (its
//! new end, if it was renewed or refreshed), and at its idle deadline unless a request
//! moved it (the watch asks the store then; its own re-checks are no activity). A store
//! that stays unreachable for three re-check intervals ends the watch with
//! `store_unavailable`.

use std::time::Duration;

use tokio::sync::watch;

use crate::auth::Auth;
use crate::guard::Guard;
use crate::identity::Identity;
use crate::limits::MIN_RECHECK_MS;
use crate::mode::Mode;
use crate::rejection::{Reason, Refusal};
use crate::store::Store;
use crate::token::SessionId;

/// The end of one session, awaited: see [`Auth::watch`].
pub struct SessionWatch<S: Store, M: Mode<S> = crate::mode::SessionMode> {
    auth: Auth<S, M>,
    id: SessionId,
    expires_at_ms: u64,
    token: Option<M::Token>,
    ended: watch::Receiver<Option<Refusal>>,
    resync: watch::Receiver<u64>,
    /// A re-check is owed: at the start (an end may have come between the check of the
    /// request and this watch), and after a resync until it completed (cancel safety).
    recheck_due: bool,
    /// Since when (handle time) the store has not answered this watch's re-checks.
    unreachable_since: Option<u64>,
    /// How long after the latest unanswered re-check the next one comes (0 after an
    /// answer): doubling, so an outage is not asked in a tight loop.
    retry_ms: u64,
    /// A guard the session must keep passing, and when to ask it again (a step-up
    /// window's end; `u64::MAX` for none).
    guard: Option<Guard>,
    guard_at_ms: u64,
    /// When the session goes idle unless a request comes first, as last read: the
    /// watch asks the store then (idleness sends no message).
    idle_at_ms: Option<u64>,
    /// When the next periodic re-check is due: kept here, so a caller that drops
    /// [`ended`](Self::ended) and calls again (a stream's tick) does not restart it.
    recheck_at: tokio::time::Instant,
}

impl<S: Store, M: Mode<S>> std::fmt::Debug for SessionWatch<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWatch")
            .field("session_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<S: Store, M: Mode<S>> Drop for SessionWatch<S, M> {
    fn drop(&mut self) {
        self.auth.watchers().unsubscribe(self.id);
    }
}

impl<S: Store, M: Mode<S>> SessionWatch<S, M> {
    /// The session's id.
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// Ends the watch also when the session stops passing `guard`: a restriction of its
    /// scope reaching its level (`restricted`, on every instance through the store's
    /// feed), or a step-up guard's window closing (`step_up_required`). A WebSocket that
    /// may only live in a scope closes then.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// let chat = auth.guard("chat", 1)?;
    /// let mut watch = auth.watch(&me).with_guard(&chat);
    /// auth.restrict("10001", "chat", 1, Duration::from_secs(600)).await?;
    /// assert_eq!(watch.ended().await, Reason::Restricted);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_guard(mut self, guard: &Guard) -> Self {
        self.guard = Some(guard.clone());
        self.recheck_due = true;
        self
    }

    /// Waits until the session ends; why, as its tokens would now be refused
    /// (`kicked_out`, `replaced`, `banned`, `refresh_reused`, `token_expired`, or
    /// `invalid_token` after a logout). Cancel-safe: drop the future and call again (a
    /// stream's tick may); the periodic re-check keeps its own time.
    ///
    /// At the session's end the store is asked first, so a renewed or refreshed
    /// session's watch goes on to its new end; if the store does not answer then, the
    /// watch ends with `store_unavailable`. A store that cannot be reached for three
    /// re-check intervals in a row ends the watch with `store_unavailable` too: a
    /// connection whose revocation cannot be checked is closed, as a request would be
    /// refused.
    ///
    /// The [`Refusal`] compares equal to its [`Reason`], and carries the revocation's
    /// [`Note`](crate::Note) if it was given one.
    pub async fn ended(&mut self) -> Refusal {
        let recheck_ms = self.auth.settings().watch_recheck_ms.max(1);
        let recheck = Duration::from_millis(recheck_ms);
        loop {
            // A message while no one waited: an end returns here; without one, the
            // user's state changed and the store is asked.
            if self.ended.has_changed().unwrap_or(false) {
                self.recheck_due = true;
            }
            if let Some(refusal) = self.ended.borrow_and_update().clone() {
                return refusal;
            }
            if self.recheck_due {
                if let Some(reason) = self.recheck(recheck_ms).await {
                    return reason;
                }
                self.recheck_due = false;
            }
            let now = self.auth.now_ms();
            if now >= self.guard_at_ms || self.idle_at_ms.is_some_and(|at| now >= at) {
                // A step-up window closed (does the guard still pass?), or the idle
                // deadline came (seen since?): the store says, and `recheck` reads both
                // deadlines anew (none if it does not answer: the periodic re-checks
                // go on).
                self.guard_at_ms = u64::MAX;
                self.idle_at_ms = None;
                if let Some(reason) = self.recheck(recheck_ms).await {
                    return reason;
                }
                continue;
            }
            if now >= self.expires_at_ms {
                // Renewed or refreshed since? The store says; `recheck` moves the end if so.
                if let Some(reason) = self.recheck(recheck_ms).await {
                    return reason;
                }
                if self.auth.now_ms() >= self.expires_at_ms {
                    // Unanswered, the store may have moved the end: the watch cannot
                    // tell, and closes as a request would be refused.
                    if self.unreachable_since.is_some() {
                        return Reason::StoreUnavailable.into();
                    }
                    return Reason::TokenExpired.into();
                }
                continue;
            }
            let wake = self
                .expires_at_ms
                .min(self.guard_at_ms)
                .min(self.idle_at_ms.unwrap_or(u64::MAX));
            // At least the shortest re-check interval to a deadline of handle time: a
            // clock that stands still (a test's, or one stepped back) must not make the
            // watch ask the store in a tight loop.
            let until_wake = Duration::from_millis(wake.saturating_sub(now).max(MIN_RECHECK_MS));
            let until_recheck = self
                .recheck_at
                .saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                changed = self.ended.changed() => {
                    if changed.is_err() {
                        // The registry let go of us (cannot happen while we live): re-check.
                        if let Some(reason) = self.recheck(recheck_ms).await { return reason; }
                        tokio::time::sleep(recheck).await;
                    } else {
                        // As at the top.
                        self.recheck_due = true;
                    }
                }
                _ = self.resync.changed() => self.recheck_due = true,
                _ = tokio::time::sleep(until_wake.min(until_recheck)) => {
                    if let Some(reason) = self.recheck(recheck_ms).await { return reason; }
                }
            }
        }
    }

    /// Asks the store; `Some(reason)` if the session ended. A live session's end is
    /// taken from the store (a renewal moves it). A store that does not answer ends
    /// nothing until it has not answered for three intervals.
    async fn recheck(&mut self, interval_ms: u64) -> Option<Refusal> {
        let Some(token) = self.token.clone() else {
            // Nothing to ask with (an identity made without a check): its end stands.
            return (self.auth.now_ms() >= self.expires_at_ms).then(|| Reason::TokenExpired.into());
        };
        // Unanswered since the first attempt that got no answer: one the caller dropped
        // counts too, so a store slower than the caller's tick still ends the watch.
        let since = *self.unreachable_since.get_or_insert(self.auth.now_ms());
        let gave_up = |now: u64| now.saturating_sub(since) >= interval_ms.saturating_mul(3);
        if gave_up(self.auth.now_ms()) {
            return Some(Reason::StoreUnavailable.into());
        }
        // Due until answered: a caller that drops this future gets it asked again.
        self.recheck_due = true;
        let checked = self.auth.follow(token, self.expires_at_ms).await;
        self.recheck_due = false;
        // The next periodic one comes an interval after this answer, however slow.
        self.recheck_at = tokio::time::Instant::now() + Duration::from_millis(interval_ms);
        match checked {
            Ok(identity) => {
                self.unreachable_since = None;
                self.retry_ms = 0;
                self.expires_at_ms = identity.session().expires_at_ms;
                self.idle_at_ms = identity.idle_deadline_ms();
                let guard = self.guard.as_ref()?;
                if let Err(refused) = guard.check(&identity) {
                    return Some(Refusal::new(refused.reason(), refused.note().cloned()));
                }
                self.guard_at_ms = guard.passes_until(&identity);
                None
            }
            Err(refusal) if refusal == Reason::StoreUnavailable => {
                self.retry_ms = self
                    .retry_ms
                    .saturating_mul(2)
                    .max(MIN_RECHECK_MS)
                    .min(interval_ms);
                self.recheck_at =
                    tokio::time::Instant::now() + Duration::from_millis(self.retry_ms);
                gave_up(self.auth.now_ms()).then_some(refusal)
            }
            Err(reason) => Some(reason),
        }
    }
}

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// Watches the session of `identity` (from the layer or an extractor): await
    /// [`SessionWatch::ended`] next to your connection, and close it with the reason.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use kickout::{Auth, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// let mut watch = auth.watch(&me);
    /// auth.kickout("10001").await?;
    /// assert_eq!(watch.ended().await, Reason::KickedOut);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn watch(&self, identity: &Identity) -> SessionWatch<S, M> {
        let watchers = self.watchers();
        watchers.listen(|| self.store().revocations());
        let id = identity.session_id();
        SessionWatch {
            auth: self.clone(),
            id,
            expires_at_ms: identity.session().expires_at_ms,
            token: M::token_of(identity),
            ended: watchers.subscribe(id),
            resync: watchers.resyncs(),
            recheck_due: true,
            unreachable_since: None,
            retry_ms: 0,
            guard: None,
            guard_at_ms: u64::MAX,
            idle_at_ms: identity.idle_deadline_ms(),
            recheck_at: tokio::time::Instant::now(),
        }
    }

    /// How many sessions are being watched through this handle now.
    pub fn watching(&self) -> usize {
        self.watchers().len()
    }
}
