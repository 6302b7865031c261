//! A verified token — what a JWT-mode check hands to the store read — and the cache
//! that keeps it, so a token's signature is checked once per instance.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::cache::Bounded;
use crate::token::SessionId;

/// A token whose signature and claims checked out, awaiting its store read. (Public
/// only as the sealed mode's token type; nothing outside the crate can name it.)
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct Verified {
    pub(crate) user_id: Arc<str>,
    /// The user's slot tag, computed once.
    pub(crate) tag: u16,
    /// The session's id (tag and `jti`), computed once.
    pub(crate) session_id: SessionId,
    pub(crate) device: Arc<str>,
    pub(crate) jti: Box<str>,
    pub(crate) epoch: u64,
    pub(crate) user_gen: u64,
    pub(crate) device_gen: u64,
    pub(crate) issued_at_ms: u64,
    pub(crate) expires_at_ms: u64,
    pub(crate) ext: Option<Arc<str>>,
    /// The token's own idle timeout, else the handle's.
    pub(crate) idle: Option<crate::policy::OwnIdle>,
    /// When this instance last told the store it saw the token (at first, its issue,
    /// which the store takes as its first sight).
    pub(crate) told_seen_ms: std::sync::atomic::AtomicU64,
}

impl Verified {
    /// Whether to tell the store the token was seen at `now_ms`: once per `step` per
    /// instance (one caller wins).
    pub(crate) fn due(&self, now_ms: u64, step_ms: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let told = self.told_seen_ms.load(Relaxed);
        now_ms >= told.saturating_add(step_ms)
            && self
                .told_seen_ms
                .compare_exchange(told, now_ms, Relaxed, Relaxed)
                .is_ok()
    }
}

pub(super) use crate::limits::VERIFIED_CACHE as DEFAULT_CACHE;

/// The cache of verified tokens, by whole token.
pub(super) type Cache = Bounded<Box<str>, Arc<Verified>, TailHash>;

/// Hashes only the last 16 bytes of what it is given: a token's tail is signature bytes,
/// uniformly spread, so it picks a bucket as well as the whole token would at a
/// fraction of the cost. Equality still compares whole tokens, and only tokens whose
/// signature checked out are ever cached, so no one can fill a bucket on purpose.
#[derive(Clone, Default)]
pub(super) struct TailHash(foldhash::fast::RandomState);

impl BuildHasher for TailHash {
    type Hasher = Tail<foldhash::fast::FoldHasher>;

    fn build_hasher(&self) -> Self::Hasher {
        Tail(self.0.build_hasher())
    }
}

pub(super) struct Tail<H>(H);

impl<H: Hasher> Hasher for Tail<H> {
    fn finish(&self) -> u64 {
        self.0.finish()
    }

    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(16)..).unwrap_or(bytes);
        self.0.write(tail);
    }
}
