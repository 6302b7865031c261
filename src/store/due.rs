//! What bounds a user's kept records by count: a set of them ordered by when each is
//! due to be forgotten, that hands back the ones past its bound, due first. Session
//! mode's [`Tombstones`](super::session::Tombstones) and JWT mode's
//! [`JwtRefreshes`](super::jwt::JwtRefreshes) are this, with their own keys and bounds.

use std::collections::BTreeSet;

/// Records by `(due time, key)`.
#[derive(Clone, Debug)]
pub(crate) struct DueFirst<K>(BTreeSet<(u64, K)>);

impl<K> Default for DueFirst<K> {
    fn default() -> Self {
        Self(BTreeSet::new())
    }
}

impl<K: Ord + Clone> DueFirst<K> {
    pub(crate) fn insert(&mut self, due_ms: u64, key: K) {
        self.0.insert((due_ms, key));
    }

    /// Drops those due by `now_ms` (the store forgets them on time anyway), then takes
    /// out and returns the ones past `bound`, due first among those `evictable` allows.
    pub(crate) fn over(
        &mut self,
        now_ms: u64,
        bound: usize,
        evictable: impl Fn(&K) -> bool,
    ) -> Vec<K> {
        while self.0.first().is_some_and(|(at, _)| *at <= now_ms) {
            self.0.pop_first();
        }
        let over = self.0.len().saturating_sub(bound);
        let gone: Vec<(u64, K)> = self
            .0
            .iter()
            .filter(|(_, k)| evictable(k))
            .take(over)
            .cloned()
            .collect();
        for entry in &gone {
            self.0.remove(entry);
        }
        gone.into_iter().map(|(_, k)| k).collect()
    }

    /// Whether `key`, due at `due_ms`, was there (and is no longer).
    pub(crate) fn remove(&mut self, due_ms: u64, key: K) -> bool {
        self.0.remove(&(due_ms, key))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
