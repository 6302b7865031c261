//! The purges writes owe: one runs at a time, over the batches of every write since it
//! began, so a burst of writes does not queue a purge each for the pool its requests
//! wait on.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::PURGE_MAX_WRITES;

/// Writes whose purge batch is not done yet, and the latest time one was asked at: a
/// purge goes by the latest clock of the store's handles (one process has one clock;
/// its handles' writes purged by their own before, the fastest's included).
#[derive(Debug, Default)]
pub(crate) struct PurgeDebt {
    owed: AtomicU64,
    now_ms: AtomicU64,
}

impl PurgeDebt {
    /// A write at `now_ms` owes a batch: whether the caller starts the purging (none
    /// runs).
    pub(crate) fn owe(&self, now_ms: u64) -> bool {
        self.now_ms.fetch_max(now_ms, Ordering::SeqCst);
        self.owed.fetch_add(1, Ordering::SeqCst) == 0
    }

    /// The next purge: how many writes' batches (at most [`PURGE_MAX_WRITES`]), and as
    /// of when.
    pub(crate) fn due(&self) -> (u64, u64) {
        let owed = self.owed.load(Ordering::SeqCst);
        (
            owed.min(PURGE_MAX_WRITES),
            self.now_ms.load(Ordering::SeqCst),
        )
    }

    /// `writes` batches were purged: whether more are owed (the purging goes on).
    pub(crate) fn paid(&self, writes: u64) -> bool {
        self.owed.fetch_sub(writes, Ordering::SeqCst) > writes
    }

    /// The purging stopped short (it failed, or its task was dropped with its
    /// runtime): what is owed is dropped, and the next write starts it again.
    pub(crate) fn forgive(&self) {
        self.owed.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_purge_runs_at_a_time_over_every_write_since() {
        let debt = PurgeDebt::default();
        assert!(debt.owe(10), "the first write starts it");
        assert!(!debt.owe(30) && !debt.owe(20), "later ones join it");
        assert_eq!(debt.due(), (3, 30));
        // Two more while the purge runs: it goes on for them.
        assert!(!debt.owe(40) && !debt.owe(40));
        assert!(debt.paid(3));
        assert_eq!(debt.due(), (2, 40));
        assert!(!debt.paid(2), "nothing more owed: it stops");
        assert!(debt.owe(50), "the next write starts it again");
    }

    #[test]
    fn a_purge_takes_a_bounded_number_of_batches() {
        let debt = PurgeDebt::default();
        for _ in 0..PURGE_MAX_WRITES + 5 {
            debt.owe(1);
        }
        assert_eq!(debt.due().0, PURGE_MAX_WRITES);
        assert!(debt.paid(PURGE_MAX_WRITES));
        assert_eq!(debt.due().0, 5);
    }

    #[test]
    fn a_purge_that_stops_short_leaves_the_next_write_to_start_one() {
        let debt = PurgeDebt::default();
        assert!(debt.owe(1));
        assert!(!debt.owe(2));
        debt.forgive();
        assert!(debt.owe(3));
    }
}
