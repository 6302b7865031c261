//! JWT mode's state machine: one user's generations, bumps, blacklist and index, and
//! the rules that change them (see the module above for the ideas). Pure: every store
//! loads it, applies one operation, and saves it atomically (the Redis scripts hold a
//! Lua copy, checked against the same cases; where this keeps an idle token's entry
//! through an end, they keep its last sight's key).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{JwtGrant, JwtIssue, JwtToken};
use crate::limits::{MAX_BUMPS, MAX_DEVICES, MAX_LIVE_TOKENS, MAX_REVOKED, PRUNE_GRACE_MS};
use crate::note::Note;
use crate::policy::{Limit, Overflow};
use crate::restriction::{Closed, Elevations, Scope};
use crate::store::contract::{
    Admission, Elevated, Elevation, EndReason, Ended, SessionEntry, SessionInfo, SessionMeta,
    StoreError,
};
use crate::token::{SessionId, user_tag};

/// Why and when a generation (or one token) ended, and until when that matters.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bump {
    /// Why.
    pub reason: EndReason,
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// Until when a token it ended could still be presented (its latest expiry).
    pub until_ms: u64,
    /// The note the revocation was given, if any.
    pub note: Option<Note>,
}

/// The generation of one device of a user.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceGen {
    /// Current generation.
    pub generation: u64,
    /// Ended generations, by generation.
    pub bumps: BTreeMap<u64, Bump>,
}

/// One issued token in the index.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtEntry {
    /// The device.
    pub device: Arc<str>,
    /// Issue time, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Creation order among the user's tokens.
    pub seq: u64,
    /// What the application said of it at login.
    pub meta: SessionMeta,
    /// When a request was last seen with it, Unix milliseconds (its issue until then).
    pub last_seen_ms: u64,
    /// Its device's class (the scope of a per-device rule).
    pub class: Arc<str>,
    /// Its idle timeout, if it has one.
    pub idle_ms: Option<u64>,
    /// Its session's step-up windows.
    pub elevations: Elevations,
}

impl JwtEntry {
    /// `(idle, issued_at_ms)` if it has an idle timeout (see [`JwtToken::idle`]).
    pub fn idle(&self) -> Option<(u64, u64)> {
        self.idle_ms.map(|idle| (idle, self.issued_at_ms))
    }

    /// Whether a request with it would pass at `now_ms`, as far as the entry knows: not
    /// expired, not idle too long (what listings and the directory show).
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms > now_ms && !self.is_idle(now_ms)
    }

    /// When it goes idle, by its last sight; none without an idle timeout.
    pub fn idle_deadline(&self) -> Option<u64> {
        idle_deadline(self.idle(), Some(self.last_seen_ms))
    }

    /// Whether it was unused for longer than its idle timeout at `now_ms`: over for
    /// every instance (its tokens carry the timeout), so an end that takes it announces
    /// it but does not count it.
    pub fn is_idle(&self, now_ms: u64) -> bool {
        idle_over(self.idle(), Some(self.last_seen_ms), now_ms)
    }

    /// Its session, as `user_id`'s token `jti` under slot tag `tag` (`None` for a `jti`
    /// that is not one of ours).
    pub fn info(&self, user_id: &Arc<str>, tag: u16, jti: &str) -> Option<SessionInfo> {
        Some(SessionInfo {
            session_id: SessionId::from_jti(tag, jti)?,
            user_id: user_id.clone(),
            device: self.device.clone(),
            issued_at_ms: self.issued_at_ms,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

/// [`JwtToken::idle_over`] for a token's `idle`.
pub(crate) fn idle_over(idle: Option<(u64, u64)>, last_seen_ms: Option<u64>, now_ms: u64) -> bool {
    idle_deadline(idle, last_seen_ms).is_some_and(|at| now_ms >= at)
}

/// When a token with `idle` (its timeout and issue time), last seen at `last_seen_ms`
/// (none: never since its issue), goes idle; none without an idle timeout.
pub(crate) fn idle_deadline(idle: Option<(u64, u64)>, last_seen_ms: Option<u64>) -> Option<u64> {
    idle.map(|(idle, issued)| last_seen_ms.unwrap_or(0).max(issued).saturating_add(idle))
}

/// What a store answers for a login whose `jti` another session holds.
pub(crate) fn jti_collision() -> StoreError {
    StoreError::Corrupt("jwt token id collision".into())
}

/// The revocation state of one user in JWT mode.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtState {
    /// Random, chosen when the state is created: a token issued under an earlier state
    /// (one the store lost or forgot) never matches, so lost generations cannot revive
    /// tokens they had ended.
    pub epoch: u64,
    /// Current user generation.
    pub generation: u64,
    /// Ended user generations, by generation.
    pub bumps: BTreeMap<u64, Bump>,
    /// Device generations, by device.
    pub devices: BTreeMap<String, DeviceGen>,
    /// Revoked single tokens, by `jti`.
    pub revoked: BTreeMap<String, Bump>,
    /// The latest expiry of any token issued to the user, Unix milliseconds.
    pub max_exp_ms: u64,
    /// Issued, unexpired tokens, by `jti`: those not ended, and idle ones an end left in
    /// it (until [`prune`](Self::prune) drops them), so their last sights say they were
    /// over before it (not needed for validation otherwise).
    pub index: BTreeMap<String, JwtEntry>,
}

impl JwtState {
    /// Why the token ended, if it did: the earliest of a revocation of the token, a bump
    /// of the user generation past it, and a bump of its device generation past it.
    pub fn ended(&self, token: JwtToken<'_>) -> Option<Ended> {
        let first_bump = |bumps: &'_ BTreeMap<u64, Bump>, from: u64| {
            bumps
                .range(from..)
                .next()
                // None at or past it: a store rolled back, whose latest bump jumped
                // past it (see `next_generation`).
                .or_else(|| bumps.range(..from).next_back())
                .map(|(_, b)| b.clone())
                // A bump is kept until every token it ended expired: none left to name it.
                .unwrap_or(Bump {
                    reason: EndReason::KickedOut,
                    at_ms: 0,
                    until_ms: 0,
                    note: None,
                })
        };
        // The most specific first: of two ends at one time (a bound folded into a user
        // bump along with the end that crossed it), the token's or its device's says why.
        let mut candidates = Vec::with_capacity(3);
        if let Some(b) = self.revoked.get(token.jti) {
            candidates.push(b.clone());
        }
        if let Some(d) = self.devices.get(token.device)
            && token.device_gen < d.generation
        {
            candidates.push(first_bump(&d.bumps, token.device_gen));
        }
        if token.user_gen < self.generation {
            candidates.push(first_bump(&self.bumps, token.user_gen));
        }
        candidates
            .into_iter()
            .min_by_key(|b| b.at_ms)
            .map(|b| Ended {
                reason: b.reason,
                at_ms: b.at_ms,
                note: b.note,
            })
    }

    /// Whether `token` was issued under this state: its epoch (see [`JwtState::epoch`]),
    /// and generations the state has reached. A token naming a later one outlived a
    /// rollback of the store (a failover that lost writes, a restored backup): a kickout
    /// counting from the rolled-back generation would not end it. An ended token counts
    /// as issued, so it is refused with its reason.
    pub fn issued(&self, token: JwtToken<'_>) -> bool {
        if self.epoch != token.epoch {
            return false;
        }
        // Most tokens name no device generation: no lookup for them.
        let device_reached = token.device_gen == 0
            || self
                .devices
                .get(token.device)
                .is_some_and(|d| token.device_gen <= d.generation);
        (token.user_gen <= self.generation && device_reached) || self.ended(token).is_some()
    }

    /// Drops what no token can need any more: index entries, revocations and bumps
    /// [`PRUNE_GRACE_MS`] after the expiry of their token or of what they ended. An
    /// index entry is what a logout finds its token by, so it lives as long as a
    /// revocation would: a verifier accepts a token until its expiry plus a leeway of
    /// up to [`MAX_LEEWAY_MS`](crate::limits::MAX_LEEWAY_MS) by its own clock, which
    /// may be behind this one.
    pub fn prune(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(PRUNE_GRACE_MS);
        self.index.retain(|_, e| e.expires_at_ms > cutoff);
        self.revoked.retain(|_, b| b.until_ms > cutoff);
        self.bumps.retain(|_, b| b.until_ms > cutoff);
        let index = &self.index;
        self.devices.retain(|device, d| {
            d.bumps.retain(|_, b| b.until_ms > cutoff);
            // A device's generation may restart only when no token of it lives.
            !d.bumps.is_empty() || index.values().any(|e| *e.device == **device)
        });
    }

    /// Nothing left: the state may be forgotten.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
            && self.revoked.is_empty()
            && self.bumps.is_empty()
            && self.devices.is_empty()
    }

    /// When the state may be forgotten at the latest (Unix ms).
    pub fn expires_at_ms(&self) -> u64 {
        crate::limits::kept_until(self.max_exp_ms)
    }

    fn bump_user(&mut self, reason: EndReason, note: Option<&Note>, now_ms: u64) {
        let bump = Bump {
            reason,
            at_ms: now_ms,
            until_ms: self.max_exp_ms,
            note: note.cloned(),
        };
        push_bump(&mut self.bumps, self.generation, bump);
        match next_generation(self.generation, now_ms) {
            Some(next) => self.generation = next,
            None => self.start_over(),
        }
    }

    /// What a generation counter at its end calls for (only a corrupt store holds one:
    /// a wrapped counter would revive every token it had ended). The state starts over
    /// under another epoch, so no token issued before is accepted.
    fn start_over(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.generation = 0;
        self.bumps.clear();
        self.devices.clear();
        self.revoked.clear();
    }

    /// Bumps one device's generation; past [`MAX_DEVICES`] devices, one user bump
    /// replaces every live token instead, and those are returned.
    fn bump_device(
        &mut self,
        device: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Vec<(String, JwtEntry)> {
        let until_ms = self.max_exp_ms;
        let d = self.devices.entry(device.to_owned()).or_default();
        let bump = Bump {
            reason,
            at_ms: now_ms,
            until_ms,
            note: note.cloned(),
        };
        push_bump(&mut d.bumps, d.generation, bump);
        let Some(next) = next_generation(d.generation, now_ms) else {
            // Every token of the user ends, as past the device bound.
            self.start_over();
            return std::mem::take(&mut self.index).into_iter().collect();
        };
        d.generation = next;
        if self.devices.len() <= MAX_DEVICES {
            return Vec::new();
        }
        // Every token older than the user bump is ended by it, so no device generation
        // is needed any more: they may all restart — but this one's, which keeps the
        // reason and note of the end that crossed the bound.
        let kept = self.devices.remove_entry(device);
        self.bump_user(EndReason::Replaced, None, now_ms);
        self.devices.clear();
        self.devices.extend(kept);
        self.take_unidle(now_ms)
    }

    /// What a fold replaces: every token but the idle ones, whose entries stay (as an
    /// end leaves them) so their last sights say they were over first.
    fn take_unidle(&mut self, now_ms: u64) -> Vec<(String, JwtEntry)> {
        let (idle, taken) = std::mem::take(&mut self.index)
            .into_iter()
            .partition(|(_, e)| e.is_idle(now_ms));
        self.index = idle;
        taken.into_iter().collect()
    }

    /// Revokes one token; past [`MAX_REVOKED`], one user bump replaces every live token,
    /// and those are returned (they answer `replaced`; the token revoked keeps its own
    /// reason).
    fn revoke(&mut self, jti: &str, bump: Bump) -> Vec<(String, JwtEntry)> {
        let at_ms = bump.at_ms;
        self.revoked.insert(jti.to_owned(), bump);
        if self.revoked.len() <= MAX_REVOKED {
            return Vec::new();
        }
        let kept = self.revoked.remove_entry(jti);
        self.bump_user(EndReason::Replaced, None, at_ms);
        self.revoked.clear();
        self.revoked.extend(kept);
        self.take_unidle(at_ms)
    }

    /// Index entries in a login's scope, oldest first.
    fn oldest_first(&self, keep: impl Fn(&JwtEntry) -> bool) -> Vec<(&String, &JwtEntry)> {
        let mut list: Vec<_> = self.index.iter().filter(|(_, e)| keep(e)).collect();
        list.sort_by_key(|(_, e)| (e.issued_at_ms, e.seq));
        list
    }

    /// Applies `rule` for a new token on `device` and records it: the generations to
    /// embed, or why not. Assumes no ban (checked by the store).
    ///
    /// A `jti` the state still holds (a live token's, or a revoked one's) is refused
    /// with [`StoreError::Corrupt`], never written over: 96 random bits within a slot
    /// tag make the odds nil, but two sessions sharing an id would end together and list
    /// as one. A store also refuses a `jti` another user's token or refresh record of
    /// the tag holds.
    pub fn issue(
        &mut self,
        issue: &JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<JwtGrant>, StoreError> {
        self.prune(now_ms);
        if self.index.contains_key(&issue.jti) || self.revoked.contains_key(&issue.jti) {
            return Err(jti_collision());
        }
        let rule = issue.rule;
        let entry = JwtEntry {
            device: issue.device.clone(),
            issued_at_ms: issue.issued_at_ms,
            expires_at_ms: issue.expires_at_ms,
            seq: 0,
            meta: issue.meta.clone(),
            last_seen_ms: issue.issued_at_ms,
            class: issue.class.clone(),
            idle_ms: issue.idle_ms,
            elevations: Elevations::default(),
        };
        // What a bump moves: the user's generation, or this device's.
        let generations = |s: &Self| {
            (
                s.generation,
                s.devices.get(&*issue.device).map(|d| d.generation),
            )
        };
        let before = generations(self);
        let mut replaced = Vec::new();
        if let Some(max) = rule.max_sessions() {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            // The rule counts sessions live now; tokens in their leeway or idle too long
            // are over for it.
            let scope: Vec<String> = self
                .oldest_first(|e| e.is_live(now_ms) && rule.same_scope(&e.class, &entry.class))
                .into_iter()
                .map(|(j, _)| j.clone())
                .collect();
            if scope.len() >= max {
                if rule.overflow() == Overflow::RefuseNew {
                    return Ok(Admission::LimitReached);
                }
                let excess = scope.len() + 1 - max;
                let mut pending = Vec::new();
                // A device's generation ends only its own tokens: it serves a class
                // only when the class holds no other device.
                let per_device = matches!(rule.limit(), Limit::PerDevice(_));
                let one_device = self
                    .index
                    .values()
                    .all(|e| e.class != entry.class || e.device == entry.device);
                if excess == scope.len() && (!per_device || one_device) {
                    // Every token in scope goes: one generation bump ends them all.
                    if let Limit::PerDevice(_) = rule.limit() {
                        // Remove the scope first: what a device bound folds is the rest.
                        for j in &scope {
                            if let Some(e) = self.index.remove(j) {
                                replaced.push((j.clone(), e));
                            }
                        }
                        // The bump also ends the device's tokens in their leeway: they
                        // leave the index too (unreported: over for this clock). Idle
                        // ones stay, their last sights saying they were over first.
                        self.index
                            .retain(|_, e| e.device != entry.device || e.is_idle(now_ms));
                        let overflow =
                            self.bump_device(&entry.device, EndReason::Replaced, None, now_ms);
                        replaced.extend(overflow);
                    } else {
                        // The scope goes (below); what else the index holds (in its
                        // leeway, or idle too long) is ended by the bump too, unreported:
                        // over for this clock. Idle ones stay, as above.
                        for j in &scope {
                            if let Some(e) = self.index.remove(j) {
                                replaced.push((j.clone(), e));
                            }
                        }
                        self.index.retain(|_, e| e.is_idle(now_ms));
                        self.bump_user(EndReason::Replaced, None, now_ms);
                    }
                } else {
                    for j in scope.iter().take(excess) {
                        if let Some(e) = self.index.get(j) {
                            let bump = Bump {
                                reason: EndReason::Replaced,
                                at_ms: now_ms,
                                until_ms: e.expires_at_ms,
                                note: None,
                            };
                            pending.push((j.clone(), bump));
                        }
                    }
                }
                for j in scope.iter().take(excess) {
                    if let Some(e) = self.index.remove(j) {
                        replaced.push((j.clone(), e));
                    }
                }
                for (j, bump) in pending {
                    let overflow = self.revoke(&j, bump);
                    replaced.extend(overflow);
                }
            }
        }
        if self.index.len() >= MAX_LIVE_TOKENS {
            self.bump_user(EndReason::Replaced, None, now_ms);
            replaced.extend(std::mem::take(&mut self.index));
        }
        let device_gen = self.devices.get(&*entry.device).map_or(0, |d| d.generation);
        let seq = self
            .index
            .values()
            .map(|e| e.seq.saturating_add(1))
            .max()
            .unwrap_or(0);
        self.max_exp_ms = self.max_exp_ms.max(entry.expires_at_ms);
        self.index
            .insert(issue.jti.clone(), JwtEntry { seq, ..entry });
        let tag = user_tag(&issue.user_id);
        Ok(Admission::Admitted(JwtGrant {
            epoch: self.epoch,
            user_gen: self.generation,
            device_gen,
            replaced: replaced
                .iter()
                .filter_map(|(jti, e)| e.info(&issue.user_id, tag, jti))
                .collect(),
            bumped: generations(self) != before,
        }))
    }

    /// Ends every token of the user (or of one device) with one generation bump;
    /// returns those that were live (not expired, not idle), and those a device bound
    /// replaced (see
    /// [`MAX_DEVICES`]).
    pub fn end_user(
        &mut self,
        device: Option<&str>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> (Tokens, Tokens) {
        self.prune(now_ms);
        // Tokens past their expiry but within a verifier's leeway, and idle ones, are
        // ended too, though not counted: for this handle's clock they are over.
        let mut ended: Tokens = self
            .oldest_first(|e| device.is_none_or(|d| *e.device == *d))
            .into_iter()
            .map(|(j, e)| (j.clone(), e.clone()))
            .collect();
        // The bump happens even with nothing listed: the index is pruned by the
        // caller's clock, and an instance whose clock is behind may still accept a
        // token this one dropped from it. Not for a device the state never knew with
        // nothing listed: each would take a place among `MAX_DEVICES`, and past it the
        // fold ends every session of the user (kicking out stale device names).
        let bump = device.is_none_or(|d| !ended.is_empty() || self.devices.contains_key(d));
        for (j, e) in &ended {
            if !e.is_idle(now_ms) {
                self.index.remove(j);
            }
        }
        ended.retain(|(_, e)| e.is_live(now_ms));
        let replaced = match device {
            None => {
                self.bump_user(reason, note, now_ms);
                Vec::new()
            }
            Some(d) if bump => self.bump_device(d, reason, note, now_ms),
            Some(_) => Vec::new(),
        };
        (ended, replaced)
    }

    /// Revokes every listed token but `keep`, one by one (a generation bump would end
    /// `keep` too); returns them all, and those a blacklist overflow replaced (see
    /// [`MAX_REVOKED`]). As [`end_token`](Self::end_token)'s, the list holds tokens past
    /// their expiry by this clock too: with no bump to reach them, caches and watches
    /// learn of each from the list, and the mode counts what its own leeway accepts.
    pub fn end_others(
        &mut self,
        keep: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> (Tokens, Tokens) {
        self.prune(now_ms);
        let others: Vec<String> = self
            .oldest_first(|_| true)
            .into_iter()
            .map(|(j, _)| j.clone())
            .filter(|j| j != keep)
            .collect();
        let (mut ended, mut replaced) = (Vec::new(), Vec::new());
        for jti in others {
            if let Some((entry, overflow)) = self.end_token(&jti, reason, note, now_ms) {
                ended.push((jti, entry));
                replaced.extend(overflow);
            }
        }
        (ended, replaced)
    }

    /// Opens a step-up window for the session of token `jti` if it is live (in the
    /// index, not expired): its window, capped at the entry's end (the session's).
    pub fn elevate(&mut self, jti: &str, elevation: &Elevation<'_>, now_ms: u64) -> Elevated {
        let Some(entry) = self.index.get_mut(jti).filter(|e| e.is_live(now_ms)) else {
            return Elevated::NotLive;
        };
        let (scope, end) = (elevation.scope.clone(), entry.expires_at_ms);
        match entry
            .elevations
            .elevate(scope, elevation.until_ms, end, now_ms)
        {
            Ok(until) => Elevated::Until(until),
            Err(_) => Elevated::TooMany,
        }
    }

    /// Closes the window of `scope` of the session of token `jti`: what it found (see
    /// [`Closed`]).
    pub fn close_elevation(&mut self, jti: &str, scope: &Scope, now_ms: u64) -> Closed {
        self.index
            .get_mut(jti)
            .map_or(Closed::Nothing, |e| e.elevations.close(scope, now_ms))
    }

    /// Revokes one token; returns it if the index held it (past its expiry too, within
    /// a verifier's leeway), with the tokens a blacklist overflow replaced (see
    /// [`MAX_REVOKED`]).
    pub fn end_token(
        &mut self,
        jti: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Option<(JwtEntry, Vec<(String, JwtEntry)>)> {
        self.prune(now_ms);
        let entry = match self.index.get(jti)? {
            idle if idle.is_idle(now_ms) => idle.clone(),
            _ => self.index.remove(jti)?,
        };
        let bump = Bump {
            reason,
            at_ms: now_ms,
            until_ms: entry.expires_at_ms,
            note: note.cloned(),
        };
        let overflow = self.revoke(jti, bump);
        Some((entry, overflow))
    }

    /// Live tokens, oldest first.
    pub fn live(&self, now_ms: u64) -> Vec<(&String, &JwtEntry)> {
        self.oldest_first(|e| e.expires_at_ms > now_ms)
    }

    /// The user's own listing ([`JwtStore::jwt_sessions`](super::JwtStore::jwt_sessions)):
    /// live tokens, oldest first, idle ones left out as a request would be told.
    pub fn listing(&self, user_id: &Arc<str>, tag: u16, now_ms: u64) -> Vec<SessionEntry> {
        self.live(now_ms)
            .into_iter()
            .filter(|(_, e)| e.is_live(now_ms))
            .filter_map(|(jti, e)| {
                let info = e.info(user_id, tag, jti)?;
                Some(SessionEntry::new(info, e.meta.clone(), e.last_seen_ms))
            })
            .collect()
    }
}

/// Index entries by `jti`, as operations return them.
pub type Tokens = Vec<(String, JwtEntry)>;

/// Of the tokens an end by id took ([`JwtState::end_token`], [`JwtState::end_others`]:
/// past their expiry too, for the mode's leeway), those a store answers with: the idle
/// ones are over already. A store announces them all the same.
pub fn answered(ended: &[(String, JwtEntry)], now_ms: u64) -> Tokens {
    ended
        .iter()
        .filter(|(_, e)| !e.is_idle(now_ms))
        .cloned()
        .collect()
}

/// The generation after `current`, bumped at `now_ms`: one more, or the bumping
/// instance's clock if that is ahead. Counters never go back, whatever the clocks say;
/// the jump to the clock is for a store rolled back (a failover that lost writes): a
/// kickout then still passes the generation of tokens issued under the lost one, unless
/// its clock is not ahead of the lost bump's. `None` at the counter's end (see
/// `JwtState::start_over`).
fn next_generation(current: u64, now_ms: u64) -> Option<u64> {
    current.checked_add(1).map(|next| next.max(now_ms))
}

/// Records a bump, forgetting the oldest past [`MAX_BUMPS`].
fn push_bump(bumps: &mut BTreeMap<u64, Bump>, generation: u64, bump: Bump) {
    bumps.insert(generation, bump);
    while bumps.len() > MAX_BUMPS {
        bumps.pop_first();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_LEEWAY_MS;
    use crate::policy::LoginRule;
    use proptest::prelude::*;

    const TTL: u64 = 100_000;

    /// A state and the tokens it issued, as a verifier would present them.
    #[derive(Default)]
    struct Harness {
        state: JwtState,
        issued: Vec<Issued>,
        now: u64,
    }

    #[derive(Clone)]
    struct Issued {
        jti: String,
        device: String,
        grant: JwtGrant,
    }

    impl Issued {
        fn token(&self) -> JwtToken<'_> {
            JwtToken {
                user_id: "u",
                epoch: self.grant.epoch,
                tag: 0,
                jti: &self.jti,
                device: &self.device,
                user_gen: self.grant.user_gen,
                device_gen: self.grant.device_gen,
                seen_until_ms: None,
                idle: None,
                recheck: false,
            }
        }
    }

    impl Harness {
        fn login(&mut self, device: &str, rule: LoginRule) -> Admission<JwtGrant> {
            let jti = format!("{:0>16}", self.issued.len());
            let issue = self.issue(&jti, device, rule);
            let admission = self.state.issue(&issue, self.now).unwrap();
            if let Admission::Admitted(grant) = &admission {
                self.issued.push(Issued {
                    jti,
                    device: device.to_owned(),
                    grant: grant.clone(),
                });
            }
            admission
        }

        fn issue(&self, jti: &str, device: &str, rule: LoginRule) -> JwtIssue {
            JwtIssue {
                user_id: Arc::from("u"),
                jti: jti.to_owned(),
                device: Arc::from(device),
                issued_at_ms: self.now,
                expires_at_ms: self.now + TTL,
                rule,
                fresh_epoch: 7,
                class: Arc::from(device),
                idle_ms: None,
                meta: Default::default(),
                refresh: None,
            }
        }

        fn reason(&self, i: usize) -> Option<EndReason> {
            self.state.ended(self.issued[i].token()).map(|e| e.reason)
        }
    }

    /// A `jti` the state holds, live or revoked, is refused, and the state stays as it
    /// was; once the revocation is pruned, the id is free again.
    #[test]
    fn a_jti_the_state_holds_is_refused() {
        let mut h = Harness::default();
        h.login("web", LoginRule::unlimited());
        h.login("web", LoginRule::unlimited());
        let (live, revoked) = (h.issued[0].jti.clone(), h.issued[1].jti.clone());
        h.state
            .end_token(&revoked, EndReason::LoggedOut, None, h.now)
            .unwrap();
        for jti in [&live, &revoked] {
            let before = h.state.clone();
            let twin = h.issue(jti, "phone", LoginRule::unlimited());
            let refused = h.state.issue(&twin, h.now);
            assert!(
                matches!(refused, Err(StoreError::Corrupt(_))),
                "{refused:?}"
            );
            assert_eq!(h.state, before);
        }
        h.now += TTL + PRUNE_GRACE_MS + MAX_LEEWAY_MS;
        let twin = h.issue(&revoked, "phone", LoginRule::unlimited());
        assert!(matches!(
            h.state.issue(&twin, h.now),
            Ok(Admission::Admitted(_))
        ));
    }

    #[test]
    fn one_per_device_replaces_the_older_token_of_that_device_only() {
        let mut h = Harness::default();
        h.login("web", LoginRule::one_per_device());
        h.login("phone", LoginRule::one_per_device());
        h.now += 1;
        let Admission::Admitted(grant) = h.login("web", LoginRule::one_per_device()) else {
            panic!("admitted");
        };
        assert_eq!(grant.replaced.len(), 1);
        assert_eq!(h.reason(0), Some(EndReason::Replaced));
        assert_eq!((h.reason(1), h.reason(2)), (None, None));
        assert!(h.state.issued(h.issued[2].token()));
    }

    /// A grant says whether a generation moved: replacing every token in scope bumps one
    /// (tokens in their leeway end too), replacing some revokes those alone, and a login
    /// past the blacklist's bound bumps the user's.
    #[test]
    fn a_grant_says_whether_the_login_bumped_a_generation() {
        let bumped = |admission: Admission<JwtGrant>| match admission {
            Admission::Admitted(grant) => (grant.bumped, grant.replaced.len()),
            _ => panic!("admitted"),
        };
        let two = LoginRule::max_per_user(2);
        let mut h = Harness::default();
        assert_eq!(bumped(h.login("a", two)), (false, 0));
        assert_eq!(bumped(h.login("b", two)), (false, 0));
        assert_eq!(bumped(h.login("c", two)), (false, 1));
        assert_eq!(bumped(h.login("c", LoginRule::one_per_device())), (true, 1));
        assert_eq!(bumped(h.login("d", LoginRule::one_in_all())), (true, 2));
        // Each login revokes the oldest token, until the blacklist is full.
        let mut h = Harness::default();
        h.login("a", two);
        h.login("b", two);
        for i in 0..MAX_REVOKED {
            assert_eq!(bumped(h.login(&format!("d{i}"), two)), (false, 1), "{i}");
        }
        assert!(
            bumped(h.login("last", two)).0,
            "the blacklist's bound was crossed"
        );
    }

    /// A store rolled back (a failover that lost writes) holds generations older than
    /// tokens it issued: those are refused, before and after the next kickout, which
    /// would otherwise count from the old generation and miss them.
    #[test]
    fn a_token_of_a_generation_the_state_never_reached_is_refused() {
        for device_level in [false, true] {
            let mut h = Harness {
                now: 1_000,
                ..Harness::default()
            };
            h.login("web", LoginRule::unlimited());
            let before = h.state.clone();
            let device = device_level.then_some("web");
            h.state.end_user(device, EndReason::KickedOut, None, h.now);
            h.now += 1;
            h.login("web", LoginRule::unlimited());
            assert!(h.state.issued(h.issued[1].token()));
            assert_eq!(h.reason(1), None);
            let refused = |h: &Harness, i: usize| {
                let token = h.issued[i].token();
                !h.state.issued(token) || h.state.ended(token).is_some()
            };
            // The kickout and the login are lost: the new token is refused, and the
            // next kickout, at a later time, ends it for good.
            h.state = before;
            assert!(h.state.issued(h.issued[0].token()));
            assert!(refused(&h, 1), "device {device_level}");
            // (A ban, so the reason is the bump's, not the fallback's.)
            h.state.end_user(device, EndReason::Banned, None, h.now + 1);
            assert!(refused(&h, 1), "device {device_level}");
            assert_eq!(h.reason(1), Some(EndReason::Banned));
            assert_eq!(h.reason(0), Some(EndReason::Banned));
        }
    }

    /// A store may hold anything: a generation at its end must not wrap to 0 (where
    /// every token it ended, and the one it should end now, would pass again).
    #[test]
    fn a_generation_at_its_end_ends_every_token_instead_of_wrapping() {
        for device_level in [false, true] {
            let mut h = Harness::default();
            if device_level {
                h.state.devices.insert(
                    "web".to_owned(),
                    DeviceGen {
                        generation: u64::MAX,
                        // One earlier bump, so the device is kept by `prune`.
                        bumps: BTreeMap::from([(
                            u64::MAX - 1,
                            Bump {
                                reason: EndReason::KickedOut,
                                at_ms: 0,
                                until_ms: u64::MAX,
                                note: None,
                            },
                        )]),
                    },
                );
            } else {
                h.state.generation = u64::MAX;
            }
            h.state.max_exp_ms = u64::MAX;
            h.login("web", LoginRule::unlimited());
            h.login("phone", LoginRule::unlimited());
            h.now += 1;
            let device = device_level.then_some("web");
            h.state.end_user(device, EndReason::KickedOut, None, h.now);
            for i in 0..2 {
                let token = h.issued[i].token();
                assert!(
                    !h.state.issued(token) || h.state.ended(token).is_some(),
                    "device level {device_level}: token {i} passes"
                );
            }
            // And the state goes on: a new login passes, and a kickout ends it.
            h.login("web", LoginRule::unlimited());
            assert!(h.state.issued(h.issued[2].token()));
            assert_eq!(h.reason(2), None);
            h.state.end_user(None, EndReason::KickedOut, None, h.now);
            assert_eq!(h.reason(2), Some(EndReason::KickedOut));
        }
    }

    #[test]
    fn a_kickout_is_one_bump_and_a_later_login_is_not_ended() {
        let mut h = Harness::default();
        for device in ["a", "b", "c"] {
            h.login(device, LoginRule::unlimited());
        }
        let (ended, _) = h.state.end_user(None, EndReason::KickedOut, None, h.now);
        assert_eq!(ended.len(), 3);
        assert_eq!(h.state.bumps.len(), 1);
        // The same millisecond: generations, not times, tell old from new.
        h.login("a", LoginRule::unlimited());
        assert_eq!(h.reason(0), Some(EndReason::KickedOut));
        assert_eq!(h.reason(3), None);
    }

    #[test]
    fn a_blacklist_overflow_replaces_every_live_token_and_says_which() {
        let mut h = Harness::default();
        h.login("kept", LoginRule::unlimited());
        for i in 0..MAX_REVOKED {
            h.login(&format!("d{i}"), LoginRule::unlimited());
            let jti = h.issued[i + 1].jti.clone();
            let (_, overflow) = h
                .state
                .end_token(&jti, EndReason::LoggedOut, None, h.now)
                .unwrap();
            assert!(overflow.is_empty());
        }
        assert_eq!(h.state.revoked.len(), MAX_REVOKED);
        let n = h.issued.len();
        h.login("last", LoginRule::unlimited());
        let jti = h.issued[n].jti.clone();
        let (_, overflow) = h
            .state
            .end_token(&jti, EndReason::LoggedOut, None, h.now)
            .unwrap();
        assert_eq!(overflow.len(), 1, "the one live token left");
        assert_eq!(overflow[0].0, h.issued[0].jti);
        assert_eq!(h.reason(0), Some(EndReason::Replaced));
        // The token whose logout crossed the bound says it was logged out.
        assert_eq!(h.reason(n), Some(EndReason::LoggedOut));
        assert_eq!(h.state.revoked.len(), 1);
        assert!(h.state.index.is_empty());
    }

    /// A device kickout that crosses the device bound folds every device into a user
    /// bump, but the kicked device's tokens still answer the kickout, with its note;
    /// the others answer `replaced`.
    #[test]
    fn a_device_kickout_past_the_device_bound_keeps_its_reason() {
        let mut h = Harness::default();
        h.login("phone", LoginRule::unlimited());
        h.login("web", LoginRule::unlimited());
        for i in 0..MAX_DEVICES {
            let device = format!("d{i}");
            h.login(&device, LoginRule::unlimited());
            h.state
                .end_user(Some(&device), EndReason::KickedOut, None, h.now);
        }
        assert_eq!(h.state.devices.len(), MAX_DEVICES);
        let note = Note::new("lost_phone").unwrap();
        h.now += 1;
        let (ended, folded) =
            h.state
                .end_user(Some("phone"), EndReason::KickedOut, Some(&note), h.now);
        assert_eq!(h.state.devices.len(), 1, "folded");
        assert_eq!(ended.len() + folded.len(), 2);
        let why = h.state.ended(h.issued[0].token()).unwrap();
        assert_eq!((why.reason, why.note), (EndReason::KickedOut, Some(note)));
        assert_eq!(h.reason(1), Some(EndReason::Replaced));
        // A new login on the kicked device lives.
        h.login("phone", LoginRule::unlimited());
        assert_eq!(h.reason(h.issued.len() - 1), None);
    }

    /// Kicking out a device the state never knew, with nothing listed, takes no place
    /// among `MAX_DEVICES`: stale device names never fold every session away.
    #[test]
    fn a_kickout_of_an_unknown_device_keeps_no_generation() {
        let mut h = Harness::default();
        h.login("phone", LoginRule::unlimited());
        for i in 0..=MAX_DEVICES {
            let (ended, folded) =
                h.state
                    .end_user(Some(&format!("d{i}")), EndReason::KickedOut, None, h.now);
            assert!(ended.is_empty() && folded.is_empty());
        }
        assert!(h.state.devices.is_empty());
        assert_eq!(h.reason(0), None);
    }

    #[test]
    fn logins_on_ever_new_devices_keep_the_state_bounded() {
        let mut h = Harness::default();
        // Each device twice: the second login replaces the first with a device bump.
        for i in 0..10_000 {
            let device = format!("d{i}");
            h.login(&device, LoginRule::one_per_device());
            h.login(&device, LoginRule::one_per_device());
            h.now += 1;
        }
        assert!(
            h.state.devices.len() <= MAX_DEVICES,
            "{}",
            h.state.devices.len()
        );
        assert!(h.state.index.len() <= MAX_LIVE_TOKENS);
        assert!(h.state.bumps.len() <= MAX_BUMPS);
        // Whatever was folded, the state agrees with itself: a token is live exactly
        // when it is listed.
        for (i, t) in h.issued.iter().enumerate() {
            let listed = h.state.index.contains_key(&t.jti);
            assert_eq!(h.state.ended(t.token()).is_none(), listed, "token {i}");
        }
        // The last token of the last device lives.
        assert!(
            h.state
                .ended(h.issued[h.issued.len() - 1].token())
                .is_none()
        );
    }

    #[test]
    fn prune_forgets_what_no_token_can_need() {
        let mut h = Harness::default();
        h.login("web", LoginRule::unlimited());
        h.state.end_user(None, EndReason::KickedOut, None, h.now);
        h.now += TTL + PRUNE_GRACE_MS - 1;
        h.state.prune(h.now);
        assert!(
            !h.state.bumps.is_empty(),
            "kept until the grace after expiry"
        );
        h.now += 1;
        h.state.prune(h.now);
        assert!(h.state.is_empty());
    }

    /// One step of a random history.
    #[derive(Clone, Debug)]
    enum Op {
        Login(usize, usize),
        Kickout,
        KickoutDevice(usize),
        Logout(usize),
        Wait(u64),
    }

    const DEVICES: [&str; 3] = ["web", "phone", "pc"];
    const RULES: [LoginRule; 6] = [
        LoginRule::unlimited(),
        LoginRule::one_per_device(),
        LoginRule::one_in_all(),
        LoginRule::max_per_user(2),
        LoginRule::max_per_device(2),
        LoginRule::max_per_user(2).refuse_new(),
    ];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..DEVICES.len(), 0..RULES.len()).prop_map(|(d, r)| Op::Login(d, r)),
            1 => Just(Op::Kickout),
            1 => (0..DEVICES.len()).prop_map(Op::KickoutDevice),
            2 => (0..64usize).prop_map(Op::Logout),
            2 => (0..60_000u64).prop_map(Op::Wait),
        ]
    }

    /// The model: each issued token, when it first ended, and why. Several ends in the
    /// same millisecond cannot be ordered (bumps carry times, not a sequence): any of
    /// their reasons may be the one told.
    #[derive(Clone, PartialEq, Debug)]
    struct Model {
        device: usize,
        at: u64,
        ended: Option<(u64, Vec<EndReason>)>,
    }

    impl Model {
        fn live(&self, now: u64) -> bool {
            self.ended.is_none() && now < self.at + TTL
        }

        /// Still in the index, so a logout reaches it: a verifier with the largest
        /// leeway, by a clock behind this one, may accept it.
        fn revocable(&self, now: u64) -> bool {
            self.ended.is_none() && now < self.at + TTL + PRUNE_GRACE_MS
        }

        /// An end at `now` for `reason`: the first, or one more candidate of its
        /// millisecond.
        fn end(&mut self, now: u64, reason: EndReason) {
            match &mut self.ended {
                None => self.ended = Some((now, vec![reason])),
                Some((at, reasons)) if *at == now => reasons.push(reason),
                Some(_) => {}
            }
        }
    }

    proptest! {
        /// Random histories of logins under every rule, kickouts, logouts and time: the
        /// state ends exactly the tokens a plain list says are ended, for the first
        /// reason each ended, and stays within its bounds.
        #[test]
        fn the_state_agrees_with_a_plain_list(ops in proptest::collection::vec(op(), 1..30)) {
            let mut h = Harness::default();
            let mut model: Vec<Model> = Vec::new();
            for op in ops {
                let now = h.now;
                match op {
                    Op::Login(d, r) => {
                        let rule = RULES[r];
                        let in_scope: Vec<usize> = (0..model.len())
                            .filter(|&i| model[i].live(now) && rule.same_scope(DEVICES[model[i].device], DEVICES[d]))
                            .collect();
                        let full = rule.max_sessions().is_some_and(|m| in_scope.len() >= m as usize);
                        let admitted = matches!(h.login(DEVICES[d], rule), Admission::Admitted(_));
                        prop_assert_eq!(admitted, !(full && rule.overflow() == Overflow::RefuseNew));
                        if admitted {
                            if let (true, Some(max)) = (full, rule.max_sessions()) {
                                let excess = in_scope.len() + 1 - max as usize;
                                if excess == in_scope.len() {
                                    // One bump of the scope's generation: every older token
                                    // of the scope's device (or of the user) is covered.
                                    let per_device = matches!(rule.limit(), Limit::PerDevice(_));
                                    for t in model.iter_mut().filter(|t| !per_device || t.device == d) {
                                        t.end(now, EndReason::Replaced);
                                    }
                                } else {
                                    // The oldest go, one by one (issue order is (time, seq)).
                                    for &i in in_scope.iter().take(excess) {
                                        model[i].end(now, EndReason::Replaced);
                                    }
                                }
                            }
                            model.push(Model { device: d, at: now, ended: None });
                        }
                    }
                    Op::Kickout => {
                        let n = h.state.end_user(None, EndReason::KickedOut, None, now).0.len();
                        let live = model.iter().filter(|t| t.live(now)).count();
                        prop_assert_eq!(n, live);
                        // One bump, listed tokens or not: it covers every older token.
                        for t in &mut model {
                            t.end(now, EndReason::KickedOut);
                        }
                    }
                    Op::KickoutDevice(d) => {
                        h.state.end_user(Some(DEVICES[d]), EndReason::KickedOut, None, now);
                        for t in model.iter_mut().filter(|t| t.device == d) {
                            t.end(now, EndReason::KickedOut);
                        }
                    }
                    Op::Logout(i) => {
                        if let Some(t) = h.issued.get(i).cloned() {
                            let ended = h.state.end_token(&t.jti, EndReason::LoggedOut, None, now);
                            prop_assert_eq!(ended.is_some(), model[i].revocable(now));
                            if ended.is_some() {
                                model[i].end(now, EndReason::LoggedOut);
                            }
                        }
                    }
                    Op::Wait(ms) => h.now += ms,
                }
                // Every token a verifier could still accept (unexpired) agrees, and
                // counts as issued under the state (ended ones too: they answer with
                // their reason).
                for (i, m) in model.iter().enumerate() {
                    if h.now < m.at + TTL {
                        prop_assert!(
                            h.state.issued(h.issued[i].token()),
                            "token {} after {:?}", i, op
                        );
                        let told = h.reason(i);
                        match &m.ended {
                            None => prop_assert_eq!(told, None, "token {} after {:?}", i, op),
                            Some((_, reasons)) => prop_assert!(
                                told.is_some_and(|r| reasons.contains(&r)),
                                "token {} told {:?}, ended for {:?}, after {:?}", i, told, reasons, op
                            ),
                        }
                    }
                }
                let live_now = model.iter().filter(|m| m.live(h.now)).count();
                prop_assert_eq!(h.state.live(h.now).len(), live_now);
                prop_assert!(h.state.index.len() <= MAX_LIVE_TOKENS);
                prop_assert!(h.state.revoked.len() <= MAX_REVOKED);
                prop_assert!(h.state.bumps.len() <= MAX_BUMPS);
                prop_assert!(h.state.devices.values().all(|d| d.bumps.len() <= MAX_BUMPS));
                prop_assert!(h.state.devices.len() <= MAX_DEVICES);
            }
        }
    }
}
