//! A shared store's revocation feed as its connection task sends it: the messages, and
//! whether the connection is up, so a receiver that joins during an outage is told.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast::{self, Receiver};

use super::contract::Revoked;
use super::follow::FEED_CAPACITY;

/// A store's revocation feed, in two halves: [`FeedSender`] for the task that keeps its
/// connection, [`FeedSource`] for the store to hand out receivers. Whether the
/// connection is up is kept beside it: a receiver that joins while it is down hears
/// [`Revoked::Lost`] at once, as those before it did, or a cache that starts following
/// then would trust the silence until the task's next failed attempt.
pub(crate) fn feed() -> (FeedSender, FeedSource) {
    let sender = broadcast::channel(FEED_CAPACITY).0;
    let up = Arc::new(Mutex::new(false));
    let source = FeedSource {
        sender: sender.downgrade(),
        up: up.clone(),
    };
    (FeedSender { sender, up }, source)
}

/// The sending half of a store's feed: the only strong sender, so the feed closes when
/// the task holding it ends.
pub(crate) struct FeedSender {
    sender: broadcast::Sender<Revoked>,
    up: Arc<Mutex<bool>>,
}

impl FeedSender {
    /// Sends `message` to every receiver; [`Revoked::Resync`] marks the feed up,
    /// [`Revoked::Lost`] down (under the lock receivers join by, so none joins between
    /// the mark and the message).
    pub(crate) fn send(&self, message: Revoked) {
        let mut up = self.up.lock().unwrap_or_else(PoisonError::into_inner);
        match message {
            Revoked::Resync => *up = true,
            Revoked::Lost => *up = false,
            _ => {}
        }
        // No receiver yet is no error: no one follows.
        let _ = self.sender.send(message);
    }
}

/// What a store keeps of its feed.
#[derive(Clone, Debug)]
pub(crate) struct FeedSource {
    sender: broadcast::WeakSender<Revoked>,
    up: Arc<Mutex<bool>>,
}

impl FeedSource {
    /// A receiver of the feed, if its task still runs; one that joins while the feed is
    /// down hears `Lost` first. (Those already listening hear it again: they are down
    /// already, since no resync came after the `Lost` they heard.)
    pub(crate) fn subscribe(&self) -> Option<Receiver<Revoked>> {
        let sender = self.sender.upgrade()?;
        let up = self.up.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = sender.subscribe();
        if !*up {
            let _ = sender.send(Revoked::Lost);
        }
        Some(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_joining_while_the_feed_is_down_hears_so_first() {
        let (sender, source) = feed();
        // Down until the first resync.
        let mut early = source.subscribe().unwrap();
        assert_eq!(early.try_recv(), Ok(Revoked::Lost));
        sender.send(Revoked::Resync);
        assert_eq!(early.try_recv(), Ok(Revoked::Resync));
        let mut up = source.subscribe().unwrap();
        assert!(up.try_recv().is_err(), "up: nothing to hear");
        sender.send(Revoked::Lost);
        let mut late = source.subscribe().unwrap();
        assert_eq!(late.try_recv(), Ok(Revoked::Lost));
        assert_eq!(up.try_recv(), Ok(Revoked::Lost));
        drop(sender);
        assert!(source.subscribe().is_none(), "the task ended: no feed");
    }
}
