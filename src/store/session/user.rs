//! A user's sessions as a store indexes them: the ends and the login that reach over
//! several [`SessionState`]s, pure, over any map of them. With these and the state's
//! own methods, a store in Rust writes its storage and atomicity, nothing of the rules.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::{NewSession, SessionState};
use crate::limits::MAX_ENDED;
use crate::note::Note;
use crate::store::contract::{Admission, EndReason, SessionInfo, StoreError};
use crate::store::due::DueFirst;
use crate::store::plan::{Held, Plan, plan_login};
use crate::token::SessionId;

/// A store's session states by id, as the rules here reach them.
pub trait SessionMap {
    /// The state of `id`, if the store holds it.
    fn state(&self, id: &SessionId) -> Option<&SessionState>;
    /// The same, to change.
    fn state_mut(&mut self, id: &SessionId) -> Option<&mut SessionState>;
}

impl<H: BuildHasher> SessionMap for HashMap<SessionId, SessionState, H> {
    fn state(&self, id: &SessionId) -> Option<&SessionState> {
        self.get(id)
    }
    fn state_mut(&mut self, id: &SessionId) -> Option<&mut SessionState> {
        self.get_mut(id)
    }
}

impl SessionMap for BTreeMap<SessionId, SessionState> {
    fn state(&self, id: &SessionId) -> Option<&SessionState> {
        self.get(id)
    }
    fn state_mut(&mut self, id: &SessionId) -> Option<&mut SessionState> {
        self.get_mut(id)
    }
}

/// What an end over a user's index did.
#[derive(Debug, Default)]
pub struct Swept {
    /// The sessions to report as ended: live by the caller's clock when ended (or, for
    /// a login's bound, every session it retired).
    pub reported: Vec<SessionInfo>,
    /// Every session ended now, reported or not (a store with a directory drops them
    /// from it).
    pub ended: Vec<SessionId>,
}

impl Swept {
    fn end(
        &mut self,
        state: &mut SessionState,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        report: bool,
    ) {
        let info = state.end(reason, note, now_ms);
        self.ended.push(info.session_id);
        if report {
            self.reported.push(info);
        }
    }
}

/// A user's ended sessions that a store still holds, nearest their forgetting first:
/// what bounds them at [`MAX_ENDED`], so no number of logins and logouts grows a user's
/// records. A store files what each end did ([`bury`](Self::bury)) and forgets the
/// records it hands back; when it purges a record on time, it says so
/// ([`forget`](Self::forget)).
///
/// ```
/// use kickout::store::session::{SessionState, Tombstones};
/// use kickout::SessionId;
/// use std::collections::BTreeMap;
///
/// let mut tombstones = Tombstones::default();
/// let map: BTreeMap<SessionId, SessionState> = BTreeMap::new();
/// // Nothing ended (nothing known): nothing to forget.
/// assert!(tombstones.bury(&[], &map, 0).is_empty());
/// assert!(tombstones.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Tombstones(DueFirst<SessionId>);

impl Tombstones {
    /// Files the sessions just ended (`ended`, their states in `map`) and drops those
    /// due by `now_ms` (the store forgets them on time anyway). Returns the sessions
    /// past [`MAX_ENDED`], nearest their forgetting first: the store removes their
    /// records, and their tokens answer `invalid_token` from then on.
    pub fn bury(
        &mut self,
        ended: &[SessionId],
        map: &impl SessionMap,
        now_ms: u64,
    ) -> Vec<SessionId> {
        for id in ended {
            if let Some(state) = map.state(id).filter(|s| s.ended().is_some()) {
                self.0.insert(state.purge_at(), *id);
            }
        }
        self.0.over(now_ms, MAX_ENDED, |_| true)
    }

    /// The store forgot ended session `id`, due at `purge_at` (an ended session's
    /// purge time never moves).
    pub fn forget(&mut self, id: SessionId, purge_at: u64) {
        self.0.remove(purge_at, id);
    }

    /// How many the store holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Ends the sessions of a user's `index` that `select` picks, and drops them — and
/// every session that can never be live again (a tombstone, a forgotten record) — from
/// the index, so logins stay cheap however many tombstones a user leaves behind.
///
/// A session only past its time *by this caller's clock* is ended if picked, and
/// otherwise stays: another instance whose clock is behind may still serve it. A skewed
/// instance may refuse early; it never makes a session unreachable.
pub fn end_sessions(
    index: &mut Vec<SessionId>,
    map: &mut impl SessionMap,
    reason: EndReason,
    note: Option<&Note>,
    now_ms: u64,
    select: impl Fn(&SessionId, &SessionState) -> bool,
) -> Swept {
    let mut swept = Swept::default();
    index.retain(|id| match map.state_mut(id) {
        Some(state) if state.ended().is_none() => {
            if !select(id, state) {
                return true;
            }
            let live = state.is_live(now_ms);
            swept.end(state, reason, note, now_ms, live);
            false
        }
        _ => false,
    });
    swept
}

/// A login's admission over the user's `index` (the ban is the caller's to check
/// first): prunes the index, applies the rule ([`plan_login`]) and ends what it
/// replaces and what the bound on a user's sessions retires. `LimitReached` if the rule
/// refuses; else the ends, and the state to file under `new.key.session_id()` (and to
/// push onto the index).
///
/// `Err` if `map` already holds that id (96 random bits within a slot tag: nil odds,
/// but never written over). A store whose `map` holds only the user's sessions must
/// refuse an id of another user's when it writes the new one.
pub fn admit(
    index: &mut Vec<SessionId>,
    map: &mut impl SessionMap,
    new: NewSession,
    now_ms: u64,
) -> Result<Admission<(Swept, SessionState)>, StoreError> {
    if map.state(&new.key.session_id()).is_some() {
        return Err(StoreError::Corrupt("session id collision".into()));
    }
    // Prune the index of sessions that are over (selects none).
    end_sessions(index, map, EndReason::Replaced, None, now_ms, |_, _| false);
    let plan = {
        let held: Vec<Held<'_>> = index
            .iter()
            .zip(0u64..)
            .filter_map(|(id, order)| Some(map.state(id)?.held(*id, order, now_ms)))
            .collect();
        plan_login(&held, new.rule, &new.class)
    };
    let Plan::Admit { replaced, retired } = plan else {
        return Ok(Admission::LimitReached);
    };
    let mut swept = end_sessions(index, map, EndReason::Replaced, None, now_ms, |id, _| {
        replaced.contains(id)
    });
    index.retain(|id| {
        if !retired.contains(id) {
            return true;
        }
        if let Some(state) = map.state_mut(id).filter(|s| s.ended().is_none()) {
            swept.end(state, EndReason::Replaced, None, now_ms, true);
        }
        false
    });
    Ok(Admission::Admitted((swept, SessionState::new(new))))
}
