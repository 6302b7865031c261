//! One bounded, sharded map for the crate's in-process caches (verified JWTs, the near
//! cache): readers share a lock per shard, and a full shard first drops what its owner
//! says is stale, then starts over — never unbounded, never an LRU's bookkeeping on
//! the read path.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARDS: usize = 16;

/// Where a key's entry goes: by its hash, unless the key belongs to a group whose
/// entries are dropped together ([`Bounded::retain_group`]), which then share a shard.
pub(crate) trait Grouped {
    /// The key's group, if it has one.
    fn group(&self) -> Option<u64> {
        None
    }
}

impl Grouped for str {}
impl Grouped for Box<str> {}
#[cfg(test)]
impl Grouped for u32 {}

/// At most about `capacity` entries, in [`SHARDS`] shards.
pub(crate) struct Bounded<K, V, H = foldhash::fast::RandomState> {
    shards: Box<[RwLock<HashMap<K, V, H>>]>,
    per_shard: usize,
    hasher: H,
}

impl<K: Hash + Eq + Grouped, V, H: BuildHasher + Clone + Default> Bounded<K, V, H> {
    /// An empty map of about `capacity` entries; 0 keeps nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let hasher = H::default();
        let shards = if per_shard == 0 { 0 } else { SHARDS };
        Self {
            shards: (0..shards)
                .map(|_| RwLock::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            per_shard,
            hasher,
        }
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    /// About how many entries it holds at most (what [`Bounded::new`] was given,
    /// rounded up to whole shards).
    pub(crate) fn capacity(&self) -> usize {
        self.per_shard.saturating_mul(self.shards.len())
    }

    fn shard<Q: Hash + Grouped + ?Sized>(&self, key: &Q) -> Option<&RwLock<HashMap<K, V, H>>> {
        // The high bits of the hash pick the shard; the map inside uses the whole hash.
        self.shard_of(
            key.group()
                .unwrap_or_else(|| self.hasher.hash_one(key) >> 32),
        )
    }

    fn shard_of(&self, pick: u64) -> Option<&RwLock<HashMap<K, V, H>>> {
        let count = u64::try_from(self.shards.len()).ok().filter(|&n| n > 0)?;
        self.shards.get(usize::try_from(pick % count).ok()?)
    }

    /// What `read` makes of the entry of `key`, if there is one.
    pub(crate) fn get<Q, R>(&self, key: &Q, read: impl FnOnce(&V) -> Option<R>) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + Grouped + ?Sized,
    {
        read_lock(self.shard(key)?).get(key).and_then(read)
    }

    /// Inserts an entry. A full shard first keeps only the entries `keep` accepts; if
    /// that frees nothing it is emptied.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn insert(&self, key: K, value: V, keep: impl Fn(&V) -> bool) {
        self.insert_if(key, value, keep, || true);
    }

    /// [`Bounded::insert`] if `still` holds, asked under the shard's lock: a writer that
    /// makes it false before removing the key cannot be overtaken by this insert.
    pub(crate) fn insert_if(
        &self,
        key: K,
        value: V,
        keep: impl Fn(&V) -> bool,
        still: impl FnOnce() -> bool,
    ) {
        let Some(shard) = self.shard(&key) else {
            return;
        };
        let mut shard = write_lock(shard);
        if !still() {
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, v| keep(v));
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(key, value);
    }

    /// Forgets the entry of `key`.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + Grouped + ?Sized,
    {
        if let Some(shard) = self.shard(key) {
            write_lock(shard).remove(key);
        }
    }

    /// Keeps only the entries of `group`'s shard that `keep` accepts: the only shard
    /// where keys of that group are.
    pub(crate) fn retain_group(&self, group: u64, keep: impl Fn(&K, &V) -> bool) {
        if let Some(shard) = self.shard_of(group) {
            write_lock(shard).retain(|k, v| keep(k, v));
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            write_lock(shard).clear();
        }
    }
}

// A panic elsewhere cannot leave a map half-written (each operation is one call), so a
// poisoned lock is still usable.
fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_evicts_what_its_owner_calls_stale() {
        let map: Bounded<u32, u32> = Bounded::new(64);
        for i in 0..10_000 {
            map.insert(i, i, |v| *v % 2 == 0);
        }
        let kept = (0..10_000)
            .filter(|i| map.get(i, |_| Some(())).is_some())
            .count();
        assert!(kept <= 64 + SHARDS, "{kept}");
        assert_eq!(map.get(&9_999, |v| Some(*v)), Some(9_999));
        map.remove(&9_999);
        assert_eq!(map.get(&9_999, |v| Some(*v)), None);
        map.clear();
        assert_eq!(
            (0..10_000)
                .filter(|i| map.get(i, |_| Some(())).is_some())
                .count(),
            0
        );
    }

    /// A key of a group (the second field).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    struct Member(u32, u64);

    impl Grouped for Member {
        fn group(&self) -> Option<u64> {
            Some(self.1)
        }
    }

    #[test]
    fn a_group_is_dropped_from_its_own_shard() {
        let map: Bounded<Member, ()> = Bounded::new(16 * 1024);
        let members: Vec<Member> = (0..600).map(|i| Member(i, u64::from(i % 40))).collect();
        for m in &members {
            map.insert(*m, (), |_| true);
        }
        // Group 17 shares its shard with groups 1 and 33: only `keep` spares them.
        map.retain_group(17, |m, _| m.1 != 17);
        for m in &members {
            let held = map.get(m, |_| Some(())).is_some();
            assert_eq!(held, m.1 != 17, "{m:?}");
        }
        // Every member of a group is in the one shard it walks.
        map.retain_group(3, |_, _| false);
        assert!(
            members
                .iter()
                .filter(|m| m.1 == 3)
                .all(|m| map.get(m, |_| Some(())).is_none())
        );
        assert!(map.get(&Member(4, 4), |_| Some(())).is_some());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let map: Bounded<u32, u32> = Bounded::new(0);
        map.insert(1, 1, |_| true);
        assert_eq!(map.get(&1, |v| Some(*v)), None);
    }
}
