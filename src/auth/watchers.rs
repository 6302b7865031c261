//! The registry of sessions watched through one handle, and the task that forwards the
//! store's revocation feed to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, watch};

use crate::note::Note;
use crate::rejection::Refusal;
use crate::store::follow::{Follower, Following};
use crate::store::{EndReason, Revoked};
use crate::token::SessionId;

const SHARDS: usize = 16;

type Shard = Mutex<HashMap<SessionId, Watched>>;

/// A watched session: the channel its watches hear on, and how many watches hold it
/// (counted here, under the shard's lock: a receiver's own count drops only after its
/// watch's `Drop`, so two watches leaving at once would each see the other and leave
/// the entry behind).
struct Watched {
    sender: watch::Sender<Option<Refusal>>,
    watches: usize,
}

/// The sessions being watched through one handle.
pub(crate) struct Watchers {
    shards: Vec<Shard>,
    /// Bumped when every watch must re-check against the store.
    resync: watch::Sender<u64>,
    /// The task forwarding the store's feed, once a watch asked for it.
    following: Following,
}

impl Default for Watchers {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            resync: watch::channel(0).0,
            following: Following::default(),
        }
    }
}

impl Watchers {
    /// By the user's slot tag, so a change of one tag's users looks at one shard.
    fn shard_of(&self, tag: u16) -> &Shard {
        &self.shards[usize::from(tag) % SHARDS]
    }

    fn shard(&self, id: &SessionId) -> &Shard {
        self.shard_of(id.tag())
    }

    /// Tells the watchers of these sessions that they ended.
    pub(crate) fn notify(&self, ended: impl IntoIterator<Item = (SessionId, Refusal)>) {
        for (id, refusal) in ended {
            let shard = self
                .shard(&id)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(watched) = shard.get(&id) {
                watched.sender.send_replace(Some(refusal));
            }
        }
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

    pub(crate) fn subscribe(&self, id: SessionId) -> watch::Receiver<Option<Refusal>> {
        let mut shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let watched = shard.entry(id).or_insert_with(|| Watched {
            sender: watch::channel(None).0,
            watches: 0,
        });
        watched.watches += 1;
        watched.sender.subscribe()
    }

    pub(crate) fn unsubscribe(&self, id: SessionId) {
        let mut shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(watched) = shard.get_mut(&id) {
            watched.watches = watched.watches.saturating_sub(1);
            if watched.watches == 0 {
                shard.remove(&id);
            }
        }
    }

    /// Starts forwarding the store's feed, once, if the store has one and a runtime runs
    /// (again if the task ended with its runtime; every watch then re-checks).
    pub(crate) fn listen(
        self: &Arc<Self>,
        feed: impl FnOnce() -> Option<broadcast::Receiver<Revoked>>,
    ) {
        self.following.ensure(self, feed);
    }
}

impl Follower for Watchers {
    fn ended(&self, ended: &[(SessionId, EndReason)], note: Option<&Note>) {
        self.notify(
            ended
                .iter()
                .map(|(id, end)| (*id, Refusal::new(end.reason_now(), note.cloned()))),
        );
    }

    // Messages may have been missed: every watch re-checks the store.
    fn resync(&self) {
        self.resync.send_modify(|n| *n = n.wrapping_add(1));
    }

    // A session changed (a step-up window may have closed early): its watch
    // re-checks, which a guarded watch needs.
    fn updated(&self, id: SessionId) {
        let shard = self
            .shard(&id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(watched) = shard.get(&id) {
            watched.sender.send_modify(|_| ());
        }
    }

    // The state of this tag's users changed (a restriction, a JWT generation): their
    // watches re-check, and no other. A change without an end wakes a watch to ask.
    fn changed(&self, tag: u16) {
        let shard = self
            .shard_of(tag)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, watched) in shard.iter().filter(|(id, _)| id.tag() == tag) {
            watched.sender.send_modify(|_| ());
        }
    }
}
