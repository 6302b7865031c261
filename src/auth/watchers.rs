//! The registry of sessions watched through one handle, and the task that forwards the
//! store's revocation feed to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{broadcast, watch};

use crate::rejection::Reason;
use crate::store::{EndReason, Revoked};
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
pub(crate) fn reason_of(end: EndReason) -> Reason {
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

    /// Resyncs from now on: bumped when every watch must re-check against the store.
    pub(crate) fn resyncs(&self) -> watch::Receiver<u64> {
        self.resync.subscribe()
    }

    /// How many sessions are watched now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub(crate) fn subscribe(&self, id: SessionId) -> watch::Receiver<Option<Reason>> {
        let mut shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    pub(crate) fn unsubscribe(&self, id: SessionId) {
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
    pub(crate) fn listen(self: &Arc<Self>, feed: Option<broadcast::Receiver<Revoked>>) {
        let mut listener = self.listener.lock().unwrap_or_else(PoisonError::into_inner);
        // A task that ended (its runtime stopped) is started again.
        if listener.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let (Some(feed), Ok(runtime)) = (feed, tokio::runtime::Handle::try_current()) else {
            return;
        };
        *listener = Some(runtime.spawn(forward(Arc::downgrade(self), feed)));
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
