//! Following a store's revocation feed: one task per follower, for as long as the
//! follower lives (the watch registry of a handle, a near cache).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::broadcast::{self, Receiver, error::RecvError};

use super::contract::{EndReason, Revoked};
use crate::note::Note;
use crate::token::SessionId;

pub(crate) use crate::limits::FEED_CAPACITY;

/// What a follower does with the feed's messages.
pub(crate) trait Follower: Send + Sync + 'static {
    /// These sessions ended, with the note of what ended them.
    fn ended(&self, ended: &[(SessionId, EndReason)], note: Option<&Note>);
    /// Messages may have been missed (a lost connection, a lagging receiver).
    fn resync(&self);
    /// The state of users with this slot tag changed ([`Revoked::Changed`]); by
    /// default, as if messages were missed.
    fn changed(&self, _tag: u16) {
        self.resync();
    }
    /// A session changed beyond an end ([`Revoked::Updated`]); by default, nothing to do.
    fn updated(&self, _id: SessionId) {}
    /// The feed is down until the next resync ([`Revoked::Lost`]); by default, nothing
    /// to do (the resync that comes with it back is what counts).
    fn lost(&self) {}
    /// No one forwards the feed any more: it closed (its store was dropped), or the
    /// forwarding task's runtime shut down.
    fn closed(&self) {}
}

/// The task that forwards a feed to its follower; aborted when dropped.
#[derive(Debug, Default)]
pub(crate) struct Following {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Whether a task forwards the feed: raised before one is spawned, lowered by the
    /// task's end however it comes (before it first ran, inside the spawn itself if its
    /// runtime is shutting down, or while it is dropped). A task's own `is_finished`
    /// turns true only after its drop, so it is not the signal.
    alive: Arc<AtomicBool>,
}

impl Following {
    /// Whether a task forwards the feed now.
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Makes sure a task forwards `feed()` to `follower`, starting one if none runs (a
    /// task ends with its runtime, or when the feed closes); a task started anew first
    /// has the follower resync (messages before it went unheard). `false` if none
    /// could be started: the store has no feed (or it ended), or no runtime runs here.
    pub(crate) fn ensure<F: Follower>(
        &self,
        follower: &Arc<F>,
        feed: impl FnOnce() -> Option<Receiver<Revoked>>,
    ) -> bool {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if self.alive() {
            return true;
        }
        let (Some(feed), Ok(runtime)) = (feed(), tokio::runtime::Handle::try_current()) else {
            return false;
        };
        let weak = Arc::downgrade(follower);
        self.alive.store(true, Ordering::Release);
        // Made here, not in the task: a task its runtime drops before it first runs
        // drops its arguments, and the follower must hear that too. (It takes no lock
        // of ours: it may be dropped inside `spawn`, under `task`'s.)
        let closing = Closing {
            follower: weak.clone(),
            alive: self.alive.clone(),
        };
        // Before the task runs: a `Lost` it forwards first must not be undone by this.
        follower.resync();
        *task = Some(runtime.spawn(forward(weak, feed, closing)));
        drop(task);
        // A runtime shutting down drops the task inside `spawn`: then it never ran (and
        // the follower heard it closed, after the resync).
        self.alive()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// However the task ends (the feed closed, or its runtime shut down and dropped it,
/// run or not), `_closing` tells a follower that still lives that no one forwards to it
/// any more.
async fn forward<F: Follower>(
    follower: Weak<F>,
    mut feed: broadcast::Receiver<Revoked>,
    _closing: Closing<F>,
) {
    loop {
        let message = feed.recv().await;
        let Some(follower) = follower.upgrade() else {
            return;
        };
        match message {
            Ok(Revoked::Sessions(ended, note)) => follower.ended(&ended, note.as_ref()),
            Ok(Revoked::Changed(tag)) => follower.changed(tag),
            Ok(Revoked::Updated(id)) => follower.updated(id),
            Ok(Revoked::Lost) => follower.lost(),
            Ok(Revoked::Resync) | Err(RecvError::Lagged(_)) => follower.resync(),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Tells its follower, when dropped, that the forwarding task ended.
struct Closing<F: Follower> {
    follower: Weak<F>,
    alive: Arc<AtomicBool>,
}

impl<F: Follower> Drop for Closing<F> {
    fn drop(&mut self) {
        // Lowered first: whatever the follower does on hearing it, a later `ensure`
        // starts a new task.
        self.alive.store(false, Ordering::Release);
        if let Some(follower) = self.follower.upgrade() {
            follower.closed();
        }
    }
}
