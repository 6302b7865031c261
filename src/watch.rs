//! Live revocation: a handler awaits the end of its session, so a WebSocket or an
//! event stream opened before a kickout closes with it.
//!
//! Ends reach a [`SessionWatch`] three ways:
//! - at once from this handle's own logout, kickout, ban or replacing login;
//! - from other handles and other instances through the store's revocation feed
//!   ([`Store::revocations`]: in-process for the memory store, Redis pub/sub for Redis);
//! - by a re-check against the store — when the feed reports it may have missed
//!   messages (a lost pub/sub connection, a lagging receiver), and every
//!   [`recheck interval`](crate::AuthBuilder::watch_recheck) regardless. A missed
//!   message can delay a disconnect by at most that interval (default 10 s), never keep
//!   a revoked session alive.
//!
//! Expiry needs no message: the watch ends with `token_expired` at the session's end.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::auth::Auth;
use crate::identity::Identity;
use crate::mode::Prepared;
use crate::rejection::Reason;
use crate::store::{EndReason, Revoked, Store};
use crate::token::SessionId;

const SHARDS: usize = 16;

type Shard = Mutex<HashMap<SessionId, watch::Sender<Option<Reason>>>>;

/// The sessions being watched through one handle.
pub(crate) struct Watchers {
    shards: Vec<Shard>,
    /// Bumped when every watch must re-check against the store.
    resync: watch::Sender<u64>,
    /// The task forwarding the store's feed, once a watch asked for it.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for Watchers {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            resync: watch::channel(0).0,
            listener: Mutex::new(None),
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// The reason a token gets the moment its session ended this way.
fn reason_of(end: EndReason) -> Reason {
    end.rejection(true)
}

impl Watchers {
    fn shard(&self, id: &SessionId) -> &Shard {
        let i = usize::from(id.as_bytes()[13]) % SHARDS;
        &self.shards[i]
    }

    /// Tells the watchers of these sessions that they ended.
    pub(crate) fn notify(&self, ended: impl IntoIterator<Item = (SessionId, Reason)>) {
        for (id, reason) in ended {
            let shard = self
                .shard(&id)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(sender) = shard.get(&id) {
                sender.send_replace(Some(reason));
            }
        }
    }

    fn resync(&self) {
        self.resync.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many sessions are watched now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn subscribe(&self, id: SessionId) -> watch::Receiver<Option<Reason>> {
        let mut shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn unsubscribe(&self, id: SessionId) {
        let mut shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Called while the leaving receiver still exists: 1 means it was the last.
        if shard.get(&id).is_some_and(|s| s.receiver_count() <= 1) {
            shard.remove(&id);
        }
    }

    /// Starts forwarding the store's feed, once, if the store has one and a runtime runs.
    fn listen(self: &std::sync::Arc<Self>, feed: Option<broadcast::Receiver<Revoked>>) {
        let mut listener = self.listener.lock().unwrap_or_else(PoisonError::into_inner);
        // A task that ended (its runtime stopped) is started again.
        if listener.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let (Some(feed), Ok(runtime)) = (feed, tokio::runtime::Handle::try_current()) else {
            return;
        };
        *listener = Some(runtime.spawn(forward(std::sync::Arc::downgrade(self), feed)));
    }
}

async fn forward(watchers: Weak<Watchers>, mut feed: broadcast::Receiver<Revoked>) {
    loop {
        let message = feed.recv().await;
        let Some(watchers) = watchers.upgrade() else {
            return;
        };
        match message {
            Ok(Revoked::Sessions(ended)) => {
                watchers.notify(ended.iter().map(|(id, end)| (*id, reason_of(*end))));
            }
            // Messages may have been missed: every watch re-checks the store.
            Ok(Revoked::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => watchers.resync(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The end of one session, awaited: see [`Auth::watch`].
pub struct SessionWatch<S: Store> {
    auth: Auth<S>,
    id: SessionId,
    expires_at_ms: u64,
    prepared: Option<Prepared>,
    ended: watch::Receiver<Option<Reason>>,
    resync: watch::Receiver<u64>,
    /// A re-check is owed: at the start (an end may have come between the check of the
    /// request and this watch), and after a resync until it completed (cancel safety).
    recheck_due: bool,
}

impl<S: Store> std::fmt::Debug for SessionWatch<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWatch")
            .field("session_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Drop for SessionWatch<S> {
    fn drop(&mut self) {
        self.auth.watchers().unsubscribe(self.id);
    }
}

impl<S: Store> SessionWatch<S> {
    /// The session's id.
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// Waits until the session ends; the reason its token now gets (`kicked_out`,
    /// `replaced`, `banned`, `token_expired`, or `invalid_token` after a logout).
    /// Cancel-safe: drop the future and call again.
    pub async fn ended(&mut self) -> Reason {
        let recheck = Duration::from_millis(self.auth.config().watch_recheck_ms.max(1));
        loop {
            if let Some(reason) = *self.ended.borrow_and_update() {
                return reason;
            }
            if self.recheck_due {
                if let Some(reason) = self.recheck().await {
                    return reason;
                }
                self.recheck_due = false;
            }
            let now = self.auth.now_ms();
            if now >= self.expires_at_ms {
                return Reason::TokenExpired;
            }
            let until_end = Duration::from_millis(self.expires_at_ms - now);
            tokio::select! {
                changed = self.ended.changed() => {
                    if changed.is_err() {
                        // The registry let go of us (cannot happen while we live): re-check.
                        if let Some(reason) = self.recheck().await { return reason; }
                        tokio::time::sleep(recheck).await;
                    }
                }
                _ = self.resync.changed() => self.recheck_due = true,
                _ = tokio::time::sleep(until_end.min(recheck)) => {
                    if let Some(reason) = self.recheck().await { return reason; }
                }
            }
        }
    }

    /// Asks the store; `Some(reason)` if the session ended. A store that does not
    /// answer ends nothing: the next re-check asks again.
    async fn recheck(&self) -> Option<Reason> {
        let prepared = self.prepared.clone()?;
        match self.auth.check_quietly(prepared).await {
            Ok(_) | Err(Reason::StoreUnavailable) => None,
            Err(reason) => Some(reason),
        }
    }
}

impl<S: Store> Auth<S> {
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
    pub fn watch(&self, identity: &Identity) -> SessionWatch<S> {
        let watchers = self.watchers();
        watchers.listen(self.store().revocations());
        let id = identity.session_id();
        SessionWatch {
            auth: self.clone(),
            id,
            expires_at_ms: identity.session().expires_at_ms,
            prepared: identity.prepared().cloned(),
            ended: watchers.subscribe(id),
            resync: watchers.resync.subscribe(),
            recheck_due: true,
        }
    }

    /// How many sessions are being watched through this handle now.
    pub fn watching(&self) -> usize {
        self.watchers().len()
    }

    /// Tells this handle's watches that these sessions ended.
    pub(crate) fn announce(&self, ended: &[crate::store::SessionInfo], end: EndReason) {
        if !ended.is_empty() {
            let reason = reason_of(end);
            self.watchers()
                .notify(ended.iter().map(|s| (s.session_id, reason)));
        }
    }
}
