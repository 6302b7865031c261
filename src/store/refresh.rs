//! Refresh tokens, in either mode: what a login records, and what a refresh asks of a
//! store in one atomic operation.
//!
//! A session with refresh tokens has three ends: its access token's (short: the
//! handle's `ttl`), its refresh token's (an idle window, if set), and its *cap* (the
//! refresh lifetime from login) that no refresh ever passes. The session lives while
//! either token does: its [`SessionInfo::expires_at_ms`](super::contract::SessionInfo) is the
//! later of the two, so rules and listings count it while it can still be refreshed.
//!
//! A refresh spends the presented token. The store keeps two digests per session, the
//! current token's and its chain's ([`RefreshKey::chain`]): a token of the chain that
//! is not the current one was spent, however many rotations ago, and presenting it ends
//! the whole session with [`EndReason::RefreshReused`](super::contract::EndReason)
//! ([`Presented::of`]). Nothing grows with the number of rotations.

use super::contract::{Ended, Ends, SessionInfo};
use crate::token::{RefreshKey, SessionKey};

/// A refresh token to record with a new session. `Debug` shows its ends, not its
/// digests.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRefresh {
    /// SHA-256 of the refresh token.
    pub digest: [u8; 32],
    /// Its chain's digest ([`RefreshKey::chain`]), which every later token of the
    /// session shares.
    pub chain: [u8; 32],
    /// When this refresh token ends, Unix milliseconds (its idle window, or the cap).
    pub expires_at_ms: u64,
    /// The session's cap: no refresh gives a token past it.
    pub cap_ms: u64,
    /// Each new refresh token lives this long, if set (else until the cap).
    pub window_ms: Option<u64>,
    /// Each new access token lives this long (capped).
    pub access_ttl_ms: u64,
}

impl std::fmt::Debug for NewRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No digest: what is derived from a token stays out of logs too.
        f.debug_struct("NewRefresh")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("cap_ms", &self.cap_ms)
            .field("window_ms", &self.window_ms)
            .field("access_ttl_ms", &self.access_ttl_ms)
            .finish_non_exhaustive()
    }
}

impl NewRefresh {
    /// The ends of a token pair made at `now_ms`: `(access, refresh)`.
    pub fn ends(
        access_ttl_ms: u64,
        window_ms: Option<u64>,
        cap_ms: u64,
        now_ms: u64,
    ) -> (u64, u64) {
        let access = now_ms.saturating_add(access_ttl_ms).min(cap_ms);
        let refresh = window_ms.map_or(cap_ms, |w| now_ms.saturating_add(w).min(cap_ms));
        (access, refresh)
    }
}

/// What a presented refresh token is to its session: the one rule every store applies
/// (the Redis scripts in Lua).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// The session's current refresh token: it may be spent now.
    Current,
    /// Another token of the session's chain: one that was spent (`refresh_reused`).
    Spent,
    /// Not a token of this session (forged, or of a chain the session no longer has):
    /// `invalid_token`, and nothing is written.
    Foreign,
}

impl Presented {
    /// Classifies `presented` against a session whose current refresh token has
    /// `current` as its digest and whose chain has `chain`.
    ///
    /// ```
    /// use kickout::store::refresh::Presented;
    ///
    /// assert_eq!(Presented::of_digests(&[1; 32], &[9; 32], &[1; 32], &[9; 32]), Presented::Current);
    /// assert_eq!(Presented::of_digests(&[2; 32], &[9; 32], &[1; 32], &[9; 32]), Presented::Spent);
    /// assert_eq!(Presented::of_digests(&[2; 32], &[8; 32], &[1; 32], &[9; 32]), Presented::Foreign);
    /// ```
    pub fn of(presented: &RefreshKey, current: &[u8; 32], chain: &[u8; 32]) -> Self {
        Self::of_digests(presented.digest(), presented.chain(), current, chain)
    }

    /// [`Presented::of`] with the presented token's two digests.
    pub fn of_digests(
        digest: &[u8; 32],
        its_chain: &[u8; 32],
        current: &[u8; 32],
        chain: &[u8; 32],
    ) -> Self {
        if its_chain != chain {
            Presented::Foreign
        } else if digest == current {
            Presented::Current
        } else {
            Presented::Spent
        }
    }
}

/// A session-mode refresh: spend `presented`, and record the new pair of the same
/// session.
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'a> {
    /// The refresh token presented.
    pub presented: &'a RefreshKey,
    /// The new access token (same session id).
    pub access: &'a SessionKey,
    /// The new refresh token (same session id).
    pub refresh: &'a RefreshKey,
    /// With an idle timeout of the handle's: the new idle deadline (a store keeping the
    /// session's own idle timeout computes it from that instead).
    pub idle_deadline_ms: Option<u64>,
}

/// A JWT-mode refresh: spend `presented`, and record the next refresh token; the new
/// access token is signed from what the store answers.
#[derive(Clone, Copy, Debug)]
pub struct JwtRotation<'a> {
    /// The refresh token presented.
    pub presented: &'a RefreshKey,
    /// The new refresh token (same session id).
    pub refresh: &'a RefreshKey,
}

/// A rotated pair's ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refreshed {
    /// The session, with its new end.
    pub session: SessionInfo,
    /// The new access token's end, Unix milliseconds.
    pub access_until_ms: u64,
    /// The new refresh token's end, Unix milliseconds.
    pub refresh_until_ms: u64,
}

/// What a refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Rotated<T> {
    /// The presented token is spent and the new pair recorded.
    Done(T),
    /// No session has this refresh token (never had, or forgotten): `invalid_token`.
    Unknown,
    /// The refresh token, or its session, is past its time: `token_expired`.
    Expired,
    /// The session was ended before: its reason (`ban_stands` as for a lookup).
    Ended {
        /// How it ended.
        ended: Ended,
        /// For a ban: whether it still stands.
        ban_stands: bool,
    },
    /// A spent token was presented: the session is ended now, with
    /// [`EndReason::RefreshReused`](super::contract::EndReason).
    Reused(Ends),
}

impl<T> Rotated<T> {
    /// The same outcome with the new pair's answer mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Rotated<U> {
        match self.try_map(|t| Ok::<_, std::convert::Infallible>(f(t))) {
            Ok(mapped) => mapped,
            Err(never) => match never {},
        }
    }

    /// [`Rotated::map`] with a fallible mapping.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Rotated<U>, E> {
        Ok(match self {
            Rotated::Done(t) => Rotated::Done(f(t)?),
            Rotated::Unknown => Rotated::Unknown,
            Rotated::Expired => Rotated::Expired,
            Rotated::Ended { ended, ban_stands } => Rotated::Ended { ended, ban_stands },
            Rotated::Reused(ends) => Rotated::Reused(ends),
        })
    }
}
