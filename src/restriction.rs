//! Scoped, tiered restrictions of a user and step-up windows of a session — the pure
//! rules (Sa-Token's `disable(service, level)` and `openSafe`). A restriction bars a user
//! from part of a service for a while without logging them out: at level 1 from the
//! gentlest guarded action of its scope, at higher levels from more. A step-up window
//! marks one session as freshly re-authenticated for a scope.
//!
//! These are the machines stores apply, as `store::jwt::JwtState` and
//! `store::session::SessionState` are: bounded (at most
//! [`MAX_RESTRICTIONS`] scopes per user, [`MAX_ELEVATIONS`] per session), on the
//! caller's clock, pruned as they go. A restriction that lifted by itself is kept
//! [`PRUNE_GRACE_MS`] longer, as bans and revocations are, room permitting: each
//! instance reads it against its own clock, so a writer whose clock runs ahead lifts
//! it early for no one but itself.
//!
//! ```
//! use kickout::restriction::{Level, Restriction, Restrictions, Scope};
//!
//! let content = Scope::new("content")?;
//! let mut user = Restrictions::default();
//! // No comments (level 2) for an hour from t = 0: publishing (level 1) is barred too.
//! user.restrict(Restriction::new(content.clone(), Level::new(2)?, 3_600_000), 0)?;
//! assert!(user.blocking(&content, Level::new(1)?, 1_000).is_some());
//! assert!(user.blocking(&content, Level::new(2)?, 1_000).is_some());
//! assert!(user.blocking(&content, Level::new(3)?, 1_000).is_none());
//! // It lifts by itself.
//! assert!(user.blocking(&content, Level::new(1)?, 3_600_000).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use crate::limits::PRUNE_GRACE_MS;
use crate::limits::kept_until;
pub use crate::limits::{MAX_ELEVATIONS, MAX_RESTRICTIONS, MAX_SCOPE_LEN};
use crate::note::Note;

/// What broke a restriction's or an elevation's bounds (400 as a helper's error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRestriction {
    /// A scope that is not 1 to [`MAX_SCOPE_LEN`] characters of `a-z0-9_.-`.
    #[error("invalid scope: 1 to 64 characters of a-z, 0-9, '_', '.', '-'")]
    Scope,
    /// A level outside 1 to [`Level::MAX`].
    #[error("invalid level: 1 to 5")]
    Level,
    /// A user already restricted in [`MAX_RESTRICTIONS`] other live scopes, or a session
    /// elevated in [`MAX_ELEVATIONS`] other live scopes.
    #[error("too many scopes")]
    TooMany,
}

/// The name of what a restriction or a step-up covers, such as `content` or `payment`:
/// 1 to [`MAX_SCOPE_LEN`] characters of `a-z`, `0-9`, `_`, `.`, `-` (so it fits a store
/// key, a JSON string and a log line as it is).
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "String", try_from = "String")
)]
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(Arc<str>);

impl Scope {
    /// The scope named `name`, or why not.
    pub fn new(name: &str) -> Result<Self, InvalidRestriction> {
        let ok = !name.is_empty()
            && name.len() <= MAX_SCOPE_LEN
            && name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(Arc::from(name)))
        } else {
            Err(InvalidRestriction::Scope)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// How far a restriction reaches within its scope, 1 to [`Level::MAX`]: a guarded action
/// of level `n` is barred by a restriction of level `n` or above.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "u8", try_from = "u8")
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// The highest level.
    pub const MAX: u8 = 5;

    /// Level `n`, or why not.
    pub fn new(n: u8) -> Result<Self, InvalidRestriction> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidRestriction::Level)
        }
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A restriction of one scope: its level, its end (Unix milliseconds), and why.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restriction {
    /// What it covers.
    pub scope: Scope,
    /// How far it reaches.
    pub level: Level,
    /// When it lifts by itself, Unix milliseconds.
    pub until_ms: u64,
    /// Why, for the refused client and the operator.
    pub note: Option<Note>,
}

impl Restriction {
    /// A restriction without a note.
    pub fn new(scope: Scope, level: Level, until_ms: u64) -> Self {
        Self {
            scope,
            level,
            until_ms,
            note: None,
        }
    }

    /// The same with a note.
    pub fn with_note(mut self, note: Option<Note>) -> Self {
        self.note = note;
        self
    }

    /// Whether it still holds at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms
    }
}

/// A user's restrictions, one per scope.
///
/// Read beside every request's record, so a clone is cheap: the map is shared (and
/// copied only when changed), and an empty set holds nothing at all.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "Vec<Restriction>", into = "Vec<Restriction>")
)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restrictions {
    by_scope: Option<Arc<BTreeMap<Scope, Restriction>>>,
}

impl Restrictions {
    fn map(&self) -> impl Iterator<Item = &Restriction> {
        self.by_scope.iter().flat_map(|m| m.values())
    }

    fn map_mut(&mut self) -> &mut BTreeMap<Scope, Restriction> {
        Arc::make_mut(self.by_scope.get_or_insert_with(Default::default))
    }

    /// Sets `restriction`, replacing any of its scope (a shorter or lighter one too: the
    /// operator's latest word stands). Refused, changing nothing, when the user already
    /// has [`MAX_RESTRICTIONS`] other live scopes. Lifted ones kept for the grace make
    /// room, the earliest lifted first: at most [`MAX_RESTRICTIONS`] are kept in all.
    pub fn restrict(
        &mut self,
        restriction: Restriction,
        now_ms: u64,
    ) -> Result<(), InvalidRestriction> {
        self.prune(now_ms);
        let held = self
            .live(now_ms)
            .filter(|r| r.scope != restriction.scope)
            .count();
        if held >= MAX_RESTRICTIONS {
            return Err(InvalidRestriction::TooMany);
        }
        let map = self.map_mut();
        map.insert(restriction.scope.clone(), restriction);
        // At most `MAX_RESTRICTIONS` are live, so this ends within the bound.
        while map.len() > MAX_RESTRICTIONS {
            let Some(first) = map
                .values()
                .filter(|r| !r.is_live(now_ms))
                .min_by_key(|r| r.until_ms)
                .map(|r| r.scope.clone())
            else {
                break;
            };
            map.remove(&first);
        }
        Ok(())
    }

    /// Lifts the restriction of `scope` (an operator's lift: for every instance at
    /// once, kept for no grace); whether one held at `now_ms`.
    pub fn lift(&mut self, scope: &Scope, now_ms: u64) -> bool {
        let held = self.blocking(scope, Level(1), now_ms).is_some();
        if self
            .by_scope
            .as_ref()
            .is_some_and(|m| m.contains_key(scope))
        {
            self.map_mut().remove(scope);
        }
        self.prune(now_ms);
        held
    }

    /// The live restriction that bars an action of `scope` at `level`, if one does.
    pub fn blocking(&self, scope: &Scope, level: Level, now_ms: u64) -> Option<&Restriction> {
        self.by_scope
            .as_ref()?
            .get(scope)
            .filter(|r| r.is_live(now_ms) && r.level >= level)
    }

    /// The live restrictions, by scope.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &Restriction> {
        self.map().filter(move |r| r.is_live(now_ms))
    }

    /// Drops what lifted more than [`PRUNE_GRACE_MS`] ago.
    pub fn prune(&mut self, now_ms: u64) {
        if self.map().any(|r| !kept(r, now_ms)) {
            self.map_mut().retain(|_, r| kept(r, now_ms));
        }
        if self.by_scope.as_ref().is_some_and(|m| m.is_empty()) {
            self.by_scope = None;
        }
    }

    /// When [`prune`](Self::prune) next drops one (when a store looks at the set
    /// again), if any is kept.
    pub fn next_prune_ms(&self) -> Option<u64> {
        self.map().map(keep_until).min()
    }

    /// When [`prune`](Self::prune) drops the last of them (a store's expiry for the
    /// whole set), if any is kept.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.map().map(keep_until).max()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.by_scope.as_ref().is_none_or(|m| m.is_empty())
    }
}

/// Until when a store keeps `r`: [`PRUNE_GRACE_MS`] past its end.
fn keep_until(r: &Restriction) -> u64 {
    kept_until(r.until_ms)
}

/// Whether a store still keeps `r` at `now_ms`.
fn kept(r: &Restriction, now_ms: u64) -> bool {
    now_ms < keep_until(r)
}

/// A session's step-up windows, one per scope: set by the application after it checked
/// the user again (a password, a second factor), for this session only. Read beside every
/// request's record, so it is one pointer: a clone is cheap, and a session never elevated
/// holds nothing.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Elevations(Option<Arc<Windows>>);

/// What closing a step-up window found ([`Elevations::close`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// No window of the scope: nothing changed.
    Nothing,
    /// A window whose end had passed by this clock: removed all the same, and a store
    /// writes and announces it, since an instance whose clock is behind still reads it
    /// open.
    Over,
    /// An open window: closed.
    Open,
}

impl Closed {
    /// Whether a window was open (what `Auth::close_elevation` answers).
    pub fn was_open(self) -> bool {
        self == Closed::Open
    }

    /// Whether the windows changed: a store writes them and announces the change.
    pub fn changed(self) -> bool {
        self != Closed::Nothing
    }
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Windows {
    until_ms: BTreeMap<Scope, u64>,
    /// When the session was last elevated, for any scope.
    last_at_ms: Option<u64>,
}

impl Elevations {
    /// The windows as kept, with when the session was last elevated (what a store read
    /// back from its own record).
    pub fn from_parts(
        windows: impl IntoIterator<Item = (Scope, u64)>,
        last_at_ms: Option<u64>,
    ) -> Self {
        let until_ms: BTreeMap<Scope, u64> = windows.into_iter().collect();
        if until_ms.is_empty() && last_at_ms.is_none() {
            return Self::default();
        }
        Self(Some(Arc::new(Windows {
            until_ms,
            last_at_ms,
        })))
    }

    fn windows(&self) -> impl Iterator<Item = (&Scope, u64)> {
        self.0
            .iter()
            .flat_map(|w| w.until_ms.iter().map(|(s, u)| (s, *u)))
    }

    /// Elevates for `scope` until `until_ms`, never past `session_end_ms` (a window never
    /// outlives its session); the window's end. A scope already elevated gets the later
    /// of the two ends. Refused, changing nothing, beyond [`MAX_ELEVATIONS`] live scopes.
    pub fn elevate(
        &mut self,
        scope: Scope,
        until_ms: u64,
        session_end_ms: u64,
        now_ms: u64,
    ) -> Result<u64, InvalidRestriction> {
        self.prune(now_ms);
        let end = until_ms.min(session_end_ms);
        let held = self.0.as_ref().map_or(0, |w| {
            w.until_ms.len() - usize::from(w.until_ms.contains_key(&scope))
        });
        if held >= MAX_ELEVATIONS {
            return Err(InvalidRestriction::TooMany);
        }
        let w = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        let kept = w.until_ms.entry(scope).or_insert(end);
        *kept = (*kept).max(end);
        let kept = *kept;
        w.last_at_ms = Some(w.last_at_ms.map_or(now_ms, |t| t.max(now_ms)));
        Ok(kept)
    }

    /// Closes the window for `scope` before its end (Sa-Token's `closeSafe`): what it
    /// found. When the session was last elevated stays known.
    pub fn close(&mut self, scope: &Scope, now_ms: u64) -> Closed {
        let open = self.open(scope, now_ms).is_some();
        let held = self
            .0
            .as_ref()
            .is_some_and(|w| w.until_ms.contains_key(scope));
        if !held {
            return Closed::Nothing;
        }
        let w = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        w.until_ms.remove(scope);
        if open { Closed::Open } else { Closed::Over }
    }

    /// The end of the window for `scope`, if one is open at `now_ms`.
    pub fn open(&self, scope: &Scope, now_ms: u64) -> Option<u64> {
        self.0
            .as_ref()?
            .until_ms
            .get(scope)
            .copied()
            .filter(|&until| now_ms < until)
    }

    /// The windows open at `now_ms`, by scope, with their ends.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = (&Scope, u64)> {
        self.windows().filter(move |(_, until)| now_ms < *until)
    }

    /// The latest end of any open window (when a store may forget them all), if one is
    /// open.
    pub fn latest(&self, now_ms: u64) -> Option<u64> {
        self.live(now_ms).map(|(_, until)| until).max()
    }

    /// When the session was last elevated, for any scope, if it ever was (kept while a
    /// window is, and after).
    pub fn last_at_ms(&self) -> Option<u64> {
        self.0.as_ref()?.last_at_ms
    }

    /// Drops closed windows.
    pub fn prune(&mut self, now_ms: u64) {
        if self.windows().any(|(_, until)| now_ms >= until) {
            let w = Arc::make_mut(self.0.get_or_insert_with(Default::default));
            w.until_ms.retain(|_, until| now_ms < *until);
        }
    }

    /// Whether no window is kept.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|w| w.until_ms.is_empty())
    }
}

// The serialized forms: a scope as its name, a level as its number, a set as its
// list; what a store reads back passes the same checks as what a caller gives.
#[cfg(feature = "serde")]
mod serialized {
    use super::*;

    impl From<Scope> for String {
        fn from(scope: Scope) -> String {
            scope.as_str().to_owned()
        }
    }

    impl TryFrom<String> for Scope {
        type Error = InvalidRestriction;
        fn try_from(name: String) -> Result<Self, Self::Error> {
            Scope::new(&name)
        }
    }

    impl From<Level> for u8 {
        fn from(level: Level) -> u8 {
            level.get()
        }
    }

    impl TryFrom<u8> for Level {
        type Error = InvalidRestriction;
        fn try_from(n: u8) -> Result<Self, Self::Error> {
            Level::new(n)
        }
    }

    impl From<Restrictions> for Vec<Restriction> {
        fn from(held: Restrictions) -> Self {
            held.map().cloned().collect()
        }
    }

    impl From<Vec<Restriction>> for Restrictions {
        fn from(list: Vec<Restriction>) -> Self {
            let map: BTreeMap<Scope, Restriction> =
                list.into_iter().map(|r| (r.scope.clone(), r)).collect();
            Restrictions {
                by_scope: (!map.is_empty()).then(|| Arc::new(map)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::PRUNE_GRACE_MS;
    use proptest::prelude::*;

    fn scope(s: &str) -> Scope {
        Scope::new(s).unwrap()
    }

    fn level(n: u8) -> Level {
        Level::new(n).unwrap()
    }

    #[test]
    fn names_and_levels_keep_their_bounds() {
        for ok in [
            "content",
            "a",
            "pay.v2",
            "x_y-z",
            &"a".repeat(MAX_SCOPE_LEN),
        ] {
            assert!(Scope::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Content",
            "a b",
            "é",
            "a/b",
            "a:b",
            &"a".repeat(MAX_SCOPE_LEN + 1),
        ] {
            assert_eq!(Scope::new(bad), Err(InvalidRestriction::Scope), "{bad}");
        }
        assert_eq!(Level::new(0), Err(InvalidRestriction::Level));
        assert_eq!(Level::new(6), Err(InvalidRestriction::Level));
        assert_eq!(level(5).get(), 5);
    }

    #[test]
    fn a_restriction_bars_its_level_and_below_until_it_lifts() {
        let mut r = Restrictions::default();
        r.restrict(Restriction::new(scope("content"), level(1), 100), 0)
            .unwrap();
        assert!(r.blocking(&scope("content"), level(1), 99).is_some());
        assert!(r.blocking(&scope("content"), level(2), 99).is_none());
        assert!(r.blocking(&scope("chat"), level(1), 99).is_none());
        assert!(r.blocking(&scope("content"), level(1), 100).is_none());
        // The latest word stands, lighter or shorter.
        r.restrict(Restriction::new(scope("content"), level(3), 50), 10)
            .unwrap();
        assert!(r.blocking(&scope("content"), level(3), 49).is_some());
        assert!(r.blocking(&scope("content"), level(1), 50).is_none());
        assert!(r.lift(&scope("content"), 20));
        assert!(!r.lift(&scope("content"), 20));
        assert!(r.is_empty());
    }

    #[test]
    fn a_lifted_restriction_is_kept_for_the_grace() {
        let mut r = Restrictions::default();
        r.restrict(Restriction::new(scope("chat"), level(1), 100), 0)
            .unwrap();
        // A writer whose clock is past its end keeps it for slower clocks.
        r.restrict(Restriction::new(scope("content"), level(1), 500), 200)
            .unwrap();
        assert!(r.blocking(&scope("chat"), level(1), 99).is_some());
        assert_eq!(r.live(200).count(), 1);
        assert_eq!(r.next_prune_ms(), Some(100 + PRUNE_GRACE_MS));
        assert_eq!(r.expires_at_ms(), Some(500 + PRUNE_GRACE_MS));
        r.prune(100 + PRUNE_GRACE_MS - 1);
        assert_eq!(r.map().count(), 2);
        r.prune(100 + PRUNE_GRACE_MS);
        assert_eq!(r.map().count(), 1);
        // A lift is the operator's word: gone at once.
        r.lift(&scope("content"), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn scopes_per_user_and_per_session_are_bounded() {
        let mut r = Restrictions::default();
        for i in 0..MAX_RESTRICTIONS {
            let s = scope(&format!("s{i}"));
            r.restrict(Restriction::new(s, level(1), 100), 0).unwrap();
        }
        let extra = Restriction::new(scope("extra"), level(1), 300);
        assert_eq!(
            r.restrict(extra.clone(), 0),
            Err(InvalidRestriction::TooMany)
        );
        // An existing scope can still change; once they lift, room is made.
        r.restrict(Restriction::new(scope("s0"), level(2), 200), 0)
            .unwrap();
        assert_eq!(r.restrict(extra, 150), Ok(()));
        assert_eq!(r.live(150).count(), 2);
        // The lifted ones made that room: the earliest lifted went, the others are kept.
        assert_eq!(r.map().count(), MAX_RESTRICTIONS);
        assert!(r.map().all(|x| x.scope != scope("s1")));

        let mut e = Elevations::default();
        for i in 0..MAX_ELEVATIONS {
            e.elevate(scope(&format!("s{i}")), 100, 1_000, 0).unwrap();
        }
        assert_eq!(
            e.elevate(scope("extra"), 100, 1_000, 0),
            Err(InvalidRestriction::TooMany)
        );
        assert_eq!(e.elevate(scope("extra"), 300, 1_000, 100), Ok(300));
    }

    #[test]
    fn a_window_never_outlives_its_session() {
        let mut e = Elevations::default();
        assert_eq!(e.elevate(scope("payment"), 500, 300, 0), Ok(300));
        assert_eq!(e.open(&scope("payment"), 299), Some(300));
        assert_eq!(e.open(&scope("payment"), 300), None);
        assert_eq!(e.open(&scope("other"), 0), None);
        // A later elevation extends it; an earlier one does not shorten it.
        assert_eq!(e.elevate(scope("payment"), 250, 1_000, 100), Ok(300));
        assert_eq!(e.elevate(scope("payment"), 900, 1_000, 100), Ok(900));
        assert_eq!(e.latest(100), Some(900));
    }

    proptest! {
        /// Any sequence of restrictions and lifts: at most `MAX_RESTRICTIONS` scopes are
        /// kept, and `blocking` answers as a plain reading of the latest word per scope.
        #[test]
        fn the_rule_matches_a_plain_model(
            ops in prop::collection::vec((0u8..24, 1u8..=5, 0u64..50, any::<bool>()), 0..80),
        ) {
            let mut r = Restrictions::default();
            let mut model: BTreeMap<u8, (u8, u64)> = BTreeMap::new();
            let mut now = 0u64;
            for (s, l, d, lift) in ops {
                now += 1;
                let sc = scope(&format!("s{s}"));
                model.retain(|_, (_, until)| now < *until);
                if lift {
                    r.lift(&sc, now);
                    model.remove(&s);
                } else {
                    let res = r.restrict(Restriction::new(sc, level(l), now + d), now);
                    let fits = model.contains_key(&s) || model.len() < MAX_RESTRICTIONS;
                    prop_assert_eq!(res.is_ok(), fits);
                    if fits {
                        model.insert(s, (l, now + d));
                    }
                }
                prop_assert!(r.map().count() <= MAX_RESTRICTIONS);
                for probe in 0u8..24 {
                    for lv in 1u8..=5 {
                        let want = model.get(&probe).is_some_and(|(l, until)| now < *until && *l >= lv);
                        let got = r.blocking(&scope(&format!("s{probe}")), level(lv), now).is_some();
                        prop_assert_eq!(got, want);
                    }
                }
            }
        }

        /// Scope parsing never panics and accepts exactly its alphabet.
        #[test]
        fn scope_parsing(name in "\\PC{0,70}") {
            let ok = !name.is_empty() && name.len() <= MAX_SCOPE_LEN
                && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
            prop_assert_eq!(Scope::new(&name).is_ok(), ok);
        }
    }
}
