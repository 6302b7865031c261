//! Every bound of the crate, in one place: the Rust code and the Redis scripts both
//! read them from here (the scripts get them substituted at build of the store), so no
//! number is ever copied.

/// Longest user id or device name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Longest token read from a request by default, and accepted by
/// [`Auth::authenticate`](crate::Auth::authenticate): longer ones are `invalid_token`
/// before any parse or store work.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Longest session lifetime or ban: ten years. Nothing in a store lives forever.
pub const MAX_LIFETIME_MS: u64 = 10 * 365 * 24 * 3_600_000;

/// Shortest session lifetime or idle timeout: one second (a token must outlive its first
/// request).
pub const MIN_LIFETIME_MS: u64 = 1000;

/// Shortest interval between a watch's re-checks: a tenth of a second, so a zero
/// interval never spins on the store.
pub const MIN_RECHECK_MS: u64 = 100;

/// Longest application claims of a JWT login, serialized: with the longest names and
/// the largest signature the token stays within [`MAX_TOKEN_LEN`].
pub const MAX_CLAIMS_LEN: usize = 1024;

/// Default touch interval: a session's last sight (and idle deadline) is written at most
/// once per this much time, so listings say when it was last used to within a minute.
pub const LAST_SEEN_STEP_MS: u64 = 60_000;

/// Longest session label, in bytes.
pub const MAX_LABEL_LEN: usize = MAX_NAME_LEN;

/// How much of a client's `User-Agent` a session keeps, in bytes (the rest is cut, at a
/// character boundary).
pub const MAX_USER_AGENT_LEN: usize = 256;

/// Most application fields per session.
pub const MAX_FIELDS: usize = 8;

/// Longest application field value, in bytes (keys are names: [`MAX_NAME_LEN`]).
pub const MAX_FIELD_LEN: usize = 256;

/// Longest code of a revocation's [`Note`](crate::Note), in characters.
pub const MAX_NOTE_CODE_LEN: usize = 64;

/// Longest message of a revocation's [`Note`](crate::Note), in bytes. Notes ride in
/// JWT mode's revocation state, which every request reads: they stay short.
pub const MAX_NOTE_MESSAGE_LEN: usize = 128;

/// How many due entries of a slot tag's directory each login of the tag looks at (Redis):
/// those whose session is over leave. More than one per login, so the directory sheds
/// expired sessions faster than logins add them, without anyone walking it.
pub const DIR_SWEEP: usize = 8;

/// How long a directory sweep waits before it looks again at a member whose session has
/// less left than this (Redis): the next look finds it over, rather than every login.
pub const DIR_RECHECK_MS: u64 = 1000;

/// How many rows past their time a PostgreSQL store removes from each of its tables
/// for every write: more than a write adds, so the tables shed what is over without a
/// cron job anyone must remember.
pub const PURGE_BATCH: usize = 16;
/// Most writes' batches one PostgreSQL purge statement takes: one purge runs at a time,
/// over the batches of every write since it began (a purge per write, under a burst,
/// would take pool connections from the requests), in statements small enough to stay
/// well within a request's timeout.
pub const PURGE_MAX_WRITES: u64 = 8;
/// Most sessions in one directory page.
pub const MAX_PAGE: usize = 1000;

/// How many index entries a directory page may look at per session it returns: past
/// that, the page ends short (with a cursor), so ended sessions cannot make a page cost
/// more.
pub const SCAN_FACTOR: usize = 4;

/// How many audit events a receiver may fall behind before it loses the oldest.
pub const AUDIT_CAPACITY: usize = 1024;

/// How many messages a store's revocation feed holds for a slow follower, which then
/// resyncs (every store's feed, a near cache's relay of it, PostgreSQL's listener).
pub const FEED_CAPACITY: usize = 1024;

/// How many sessions a near cache keeps at most.
pub const NEAR_CACHE_CAPACITY: usize = 65_536;

/// How many due records one write to the memory store purges from its own shard, and
/// from one more.
pub const MEMORY_PURGE_BUDGET: usize = 32;

/// Default size of JWT mode's cache of verified tokens.
pub const VERIFIED_CACHE: usize = 16_384;

/// Default lifetime of a session with refresh tokens, from its login: thirty days.
pub const DEFAULT_REFRESH_TTL_MS: u64 = 30 * 24 * 3_600_000;

/// A lifetime or idle timeout, in milliseconds within [`MIN_LIFETIME_MS`] and
/// [`MAX_LIFETIME_MS`].
pub(crate) fn lifetime_ms(d: std::time::Duration) -> u64 {
    crate::clock::millis(d).clamp(MIN_LIFETIME_MS, MAX_LIFETIME_MS)
}

/// Most live sessions a user may hold, whatever the rule. In session mode a login past
/// it replaces the oldest; in JWT mode it replaces them all with one generation bump, so
/// the state read on every request stays small. Either way no account can make its
/// logins slow by logging in without end.
pub const MAX_LIVE_TOKENS: usize = 1024;

/// Most ended sessions (tombstones) a store keeps per user in session mode. A tombstone
/// lets a token say why it was refused (`replaced`, `kicked_out`, …) until it would have
/// expired anyway; without a bound, one account logging in and out in a loop would grow
/// the store by a record per login for a whole lifetime. Past it, the tombstone nearest
/// its own forgetting goes first, and its token answers `invalid_token` from then on:
/// refused all the same.
pub const MAX_ENDED: usize = MAX_LIVE_TOKENS;

/// Most refresh records a user's sessions keep in JWT mode: those of sessions in the
/// user's index (at most [`MAX_LIVE_TOKENS`]: live ones, and ones a verifier's leeway
/// or an idle timeout is ending) and of sessions that ended, kept to their end so a
/// refresh says why it is refused. Past it a login forgets the record of a session no
/// longer in the index, the one nearest its own forgetting first (that refresh token
/// then answers `invalid_token`); a live session's record is never forgotten.
pub const MAX_REFRESH_TOKENS: usize = MAX_LIVE_TOKENS + MAX_ENDED;

/// How long past a token's expiry its revocation is kept: a verifier accepts a token
/// until `exp` plus its leeway, and instances' clocks differ a little. JWT mode's leeway
/// is capped below it ([`MAX_LEEWAY_MS`]). A ban and a restriction are kept as long
/// past their ends, in every store: each instance reads them against its own clock, so
/// one whose clock is ahead lifts them early for itself only.
pub const PRUNE_GRACE_MS: u64 = 10 * 60_000;

/// Until when a store keeps what ends at `end_ms` (a revocation, a ban, a
/// restriction): [`PRUNE_GRACE_MS`] past it, so an instance whose clock is behind still
/// finds it to its own end. (Lua writes the same sum with the constant substituted.)
pub(crate) fn kept_until(end_ms: u64) -> u64 {
    end_ms.saturating_add(PRUNE_GRACE_MS)
}

/// Longest JWT leeway: half of [`PRUNE_GRACE_MS`], so revocations outlive every token
/// they end.
pub const MAX_LEEWAY_MS: u64 = PRUNE_GRACE_MS / 2;

/// Most remembered bumps per generation (user, or one device): older ones only name
/// reasons; a token older than every kept bump still has an older generation, so it
/// stays refused (it is told the reason of the oldest kept bump).
pub const MAX_BUMPS: usize = 32;

/// Most revoked single tokens remembered per user; one more turns them all into one
/// user-generation bump (every live token of the user is then `replaced`).
pub const MAX_REVOKED: usize = MAX_LIVE_TOKENS;

/// Most devices with a generation of their own per user in JWT mode: each re-login or
/// kickout on a device keeps its generation (and bumps) for as long as its tokens could
/// live, so without a bound one account could grow the state every request reads by
/// logging in on ever new device names. One more folds them all into one user bump
/// (every live token of the user is then `replaced`).
pub const MAX_DEVICES: usize = 64;

/// Most characters of a restriction's or a step-up's scope name.
pub const MAX_SCOPE_LEN: usize = 64;

/// Most live restriction scopes one user may hold at once (a new scope beyond it is
/// refused, see the `restriction` module).
pub const MAX_RESTRICTIONS: usize = 16;

/// Most live step-up scopes one session may hold at once.
pub const MAX_ELEVATIONS: usize = 8;

/// 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub(crate) fn valid_name(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_NAME_LEN && !value.chars().any(char::is_control)
}
