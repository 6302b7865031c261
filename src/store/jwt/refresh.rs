//! A JWT-mode session's refresh token and the rule that spends it, pure: what a store
//! keeps by `jti` beside the user's [`JwtState`], and applies under the same atomicity.

use std::sync::Arc;

use super::state::Tokens;
use super::{JwtGrant, JwtIssue, JwtRefresh, JwtRefreshed, JwtState, JwtToken};
use crate::limits::{MAX_REFRESH_TOKENS, kept_until};
use crate::store::contract::{EndReason, Ended, Ends, SessionInfo};
use crate::store::due::DueFirst;
use crate::store::refresh::{JwtRotation, NewRefresh, Presented, Refreshed, Rotated};
use crate::token::SessionId;

/// A JWT-mode session's refresh token, with what its refreshes sign. Digests only.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone)]
pub struct JwtRefreshState {
    user: Arc<str>,
    device: Arc<str>,
    issued_at_ms: u64,
    access_ttl_ms: u64,
    grant: (u64, u64, u64),
    digest: [u8; 32],
    chain: [u8; 32],
    expires_at_ms: u64,
    cap_ms: u64,
    window_ms: Option<u64>,
    /// The session's end: the record may go [`PRUNE_GRACE_MS`](crate::limits::PRUNE_GRACE_MS) after it.
    end_ms: u64,
    claims: Option<String>,
    own_idle_ms: Option<u64>,
}

impl std::fmt::Debug for JwtRefreshState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtRefreshState")
            .field("user", &self.user)
            .field("end_ms", &self.end_ms)
            .finish_non_exhaustive()
    }
}

/// A user's refresh records by `jti`, nearest their forgetting first: what bounds them
/// at [`MAX_REFRESH_TOKENS`], so no number of logins grows a user's records. Only
/// records of sessions that are over go: a live session is in the user's index, which
/// holds at most [`MAX_LIVE_TOKENS`](crate::limits::MAX_LIVE_TOKENS), so the rest are
/// ended or expired sessions' records, kept only to say why a refresh is refused. A
/// store files each record it writes ([`file`](Self::file)) and forgets the records
/// handed back; it tells when a refresh moves a record's purge time
/// ([`moved`](Self::moved)), and when it purges one on time ([`forget`](Self::forget)).
///
/// ```
/// use kickout::store::jwt::JwtRefreshes;
///
/// let mut records = JwtRefreshes::default();
/// // One record, due at 60,000, of a live session: nothing past the bound.
/// assert!(records.file("AAECAwQFBgcICQoL", 60_000, 0, |_| true).is_empty());
/// records.forget("AAECAwQFBgcICQoL", 60_000);
/// assert!(records.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct JwtRefreshes(DueFirst<String>);

impl JwtRefreshes {
    /// Files the record of `jti`, due at `purge_at`, and drops those due by `now_ms`
    /// (the store forgets them on time anyway). Returns the `jti`s past
    /// [`MAX_REFRESH_TOKENS`], nearest their forgetting first among those `live` says
    /// are not in the user's index (after the login that filed this one): the store
    /// removes their records.
    pub fn file(
        &mut self,
        jti: &str,
        purge_at: u64,
        now_ms: u64,
        live: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        self.0.insert(purge_at, jti.to_owned());
        self.0.over(now_ms, MAX_REFRESH_TOKENS, |j| !live(j))
    }

    /// A refresh moved the purge time of `jti`'s record from `from` to `to`.
    pub fn moved(&mut self, jti: &str, from: u64, to: u64) {
        if from != to && self.0.remove(from, jti.to_owned()) {
            self.0.insert(to, jti.to_owned());
        }
    }

    /// The store forgot the record of `jti`, due at `purge_at`.
    pub fn forget(&mut self, jti: &str, purge_at: u64) {
        self.0.remove(purge_at, jti.to_owned());
    }

    /// How many records the store holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What presenting a refresh token means ([`JwtRefreshState::refresh`]); the store
/// turns it into a [`Rotated`](crate::store::refresh::Rotated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtRefreshStep {
    /// Not a token of this chain, or of a state the store still holds: nothing changed.
    Unknown,
    /// Past its time, or its session's: nothing changed.
    Expired,
    /// The session was ended before (the store adds whether a ban still stands).
    Ended(Ended),
    /// A spent token of the chain: the session was ended now
    /// ([`EndReason::RefreshReused`]) in the user's state — `ended` if it was live,
    /// and what the state's bound dropped. The store reports both and syncs its
    /// directory.
    Reused {
        /// The session, if it was live.
        ended: Tokens,
        /// Entries the state's bound dropped on the way.
        overflow: Tokens,
    },
    /// Rotated: sign the new access token with this.
    Done(JwtRefreshed),
}

impl JwtRefreshStep {
    /// The store's answer ([`JwtStore::jwt_refresh`](super::JwtStore::jwt_refresh)) for
    /// this step, with the store's own `maps`: `ban_stands` is asked for an ended
    /// session; `infos` turns a reuse's ended and dropped index entries into sessions
    /// (a store with a directory syncs it there).
    pub fn rotated<T: ?Sized>(
        self,
        maps: &mut T,
        ban_stands: impl FnOnce(&T) -> bool,
        infos: impl FnOnce(&mut T, Tokens, Tokens) -> Ends,
    ) -> Rotated<JwtRefreshed> {
        match self {
            JwtRefreshStep::Unknown => Rotated::Unknown,
            JwtRefreshStep::Expired => Rotated::Expired,
            JwtRefreshStep::Done(refreshed) => Rotated::Done(refreshed),
            JwtRefreshStep::Ended(ended) => Rotated::Ended {
                ended,
                ban_stands: ban_stands(maps),
            },
            JwtRefreshStep::Reused { ended, overflow } => {
                Rotated::Reused(infos(maps, ended, overflow))
            }
        }
    }
}

impl JwtRefreshState {
    /// The refresh token of a JWT login `grant`ed for `issue`.
    pub fn new(issue: &JwtIssue, grant: &JwtGrant, r: &JwtRefresh) -> Self {
        Self {
            user: issue.user_id.clone(),
            device: issue.device.clone(),
            issued_at_ms: issue.issued_at_ms,
            access_ttl_ms: r.refresh.access_ttl_ms,
            grant: (grant.epoch, grant.user_gen, grant.device_gen),
            digest: r.refresh.digest,
            chain: r.refresh.chain,
            expires_at_ms: r.refresh.expires_at_ms,
            cap_ms: r.refresh.cap_ms,
            window_ms: r.refresh.window_ms,
            end_ms: issue.expires_at_ms,
            claims: r.claims.clone(),
            own_idle_ms: r.own_idle_ms,
        }
    }

    /// The user whose state (the `user` of [`refresh`](Self::refresh)) it belongs to.
    pub fn user_id(&self) -> &Arc<str> {
        &self.user
    }

    /// When the store may forget it; every answer treats it as gone from then on.
    pub fn purge_at(&self) -> u64 {
        kept_until(self.end_ms)
    }

    /// Presents a refresh token of session `id` (this record's `jti`): spends the
    /// current one for `rotation.refresh`, ends the session on a spent one, or says
    /// why not. `user` is the state of [`user_id`](Self::user_id), if the store holds
    /// one.
    pub fn refresh(
        &mut self,
        id: SessionId,
        user: Option<&mut JwtState>,
        rotation: &JwtRotation<'_>,
        now_ms: u64,
    ) -> JwtRefreshStep {
        if self.purge_at() <= now_ms {
            return JwtRefreshStep::Unknown;
        }
        let jti = id.jti();
        let (epoch, user_gen, device_gen) = self.grant;
        let token = JwtToken {
            user_id: &self.user,
            epoch,
            tag: id.tag(),
            jti: &jti,
            device: &self.device,
            user_gen,
            device_gen,
            seen_until_ms: None,
            idle: None,
            recheck: false,
        };
        // A session the state does not hold as issued: past its end it is over,
        // before it the token is not one the store knows.
        let not_held = match now_ms >= self.end_ms {
            true => JwtRefreshStep::Expired,
            false => JwtRefreshStep::Unknown,
        };
        // A state dropped once every token of it was over (and perhaps made anew since).
        let Some(state) = user.filter(|st| st.epoch == epoch) else {
            return not_held;
        };
        let current = match Presented::of(rotation.presented, &self.digest, &self.chain) {
            Presented::Foreign => return JwtRefreshStep::Unknown,
            Presented::Current => true,
            Presented::Spent => false,
        };
        if let Some(ended) = state.ended(token) {
            // An end keeps an idle token's entry (and its last sight).
            let idle_at = state.index.get(&*jti).and_then(|e| e.idle_deadline());
            if ended.after_idle(idle_at) {
                return JwtRefreshStep::Expired;
            }
            return JwtRefreshStep::Ended(ended);
        }
        if !state.issued(token) {
            // Generations the state never reached (a rolled-back store), or a device it
            // forgot since the session ended.
            return not_held;
        }
        if !current {
            // A spent token again: whoever holds it, the session is no longer safe.
            let Some((entry, overflow)) =
                state.end_token(&jti, EndReason::RefreshReused, None, now_ms)
            else {
                return JwtRefreshStep::Expired;
            };
            // Counted only if live (not expired, not idle), as an end by id answers.
            let ended = if entry.is_live(now_ms) {
                vec![(jti, entry)]
            } else {
                Vec::new()
            };
            return JwtRefreshStep::Reused { ended, overflow };
        }
        if now_ms >= self.expires_at_ms || now_ms >= self.cap_ms {
            return JwtRefreshStep::Expired;
        }
        let (access, until) =
            NewRefresh::ends(self.access_ttl_ms, self.window_ms, self.cap_ms, now_ms);
        let end = access.max(until);
        let Some(entry) = state.index.get_mut(&jti).filter(|e| e.is_live(now_ms)) else {
            return JwtRefreshStep::Expired;
        };
        entry.expires_at_ms = end;
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        let device = entry.device.clone();
        state.max_exp_ms = state.max_exp_ms.max(end);
        self.digest = *rotation.refresh.digest();
        self.expires_at_ms = until;
        self.end_ms = end;
        JwtRefreshStep::Done(JwtRefreshed {
            refreshed: Refreshed {
                session: SessionInfo {
                    session_id: id,
                    user_id: self.user.clone(),
                    device,
                    issued_at_ms: self.issued_at_ms,
                    expires_at_ms: end,
                },
                access_until_ms: access,
                refresh_until_ms: until,
            },
            epoch,
            user_gen,
            device_gen,
            claims: self.claims.clone(),
            own_idle_ms: self.own_idle_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jti(n: usize) -> String {
        format!("j{n:05}")
    }

    #[test]
    fn only_records_of_sessions_over_are_forgotten_due_first() {
        let mut records = JwtRefreshes::default();
        // The even ones are live; every record is due later than the one before.
        let live = |j: &str| j[1..].parse::<usize>().is_ok_and(|n| n % 2 == 0);
        for n in 0..MAX_REFRESH_TOKENS {
            assert!(records.file(&jti(n), 1_000 + n as u64, 0, live).is_empty());
        }
        // One more, due before all of them: it is live, so the earliest over one goes.
        assert_eq!(records.file(&jti(1_000_000), 10, 0, live), vec![jti(1)]);
        assert_eq!(records.len(), MAX_REFRESH_TOKENS);
        // With every session live nothing goes, and the bound yields to them.
        assert!(records.file(&jti(1_000_002), 20, 0, |_| true).is_empty());
        assert_eq!(records.len(), MAX_REFRESH_TOKENS + 1);
        // Due ones are dropped first, whatever their session: six by 1,004 (at 10, 20,
        // 1,000, 1,002, 1,003, 1,004), and one more filed.
        let gone = records.file(&jti(1_000_004), 5_000, 1_004, live);
        assert!(gone.is_empty(), "{gone:?}");
        assert_eq!(records.len(), MAX_REFRESH_TOKENS + 1 - 6 + 1);
    }

    #[test]
    fn a_moved_record_is_forgotten_at_its_new_time() {
        let mut records = JwtRefreshes::default();
        records.file("a", 100, 0, |_| true);
        records.moved("a", 100, 200);
        records.forget("a", 100);
        assert_eq!(records.len(), 1);
        records.forget("a", 200);
        assert!(records.is_empty());
    }
}
