//! The audit stream: what happened to sessions, shared by every instance that uses the
//! store (Redis pub/sub on `<prefix>audit`; in-process for the memory store).
//!
//! It carries logins, logouts, kickouts, replacements, bans, unbans, refresh reuse,
//! restrictions and their lifts (with their scope), and step-ups (with theirs), with
//! notes. It does not carry natural expiry or idle-out (nothing happens at that
//! moment: a token simply stops working; watches report it), renewals and refreshes.
//! It is a live view, not a log, and sending never waits; but a loss is never silent:
//!
//! - a store that lost events sends a gap marker, an event of kind [`AuditKind::Gap`],
//!   where they would have been: when its subscription was lost and re-established
//!   (what was published meanwhile is gone), and when an instance could not publish
//!   its own events (its queue was full, or Redis refused or timed out), on every
//!   instance once it can publish again;
//! - a receiver that falls behind by more than [`AUDIT_CAPACITY`] loses the oldest and
//!   is told by its next `recv`: `Err(RecvError::Lagged(n))` is that receiver's own gap.
//!
//! ```
//! use kickout::store::audit::{AuditEvent, AuditKind};
//! use tokio::sync::broadcast::{Receiver, error::RecvError};
//!
//! /// The next event, or how many were lost before it (`None`: an unknown number).
//! async fn next(audit: &mut Receiver<AuditEvent>) -> Option<Result<AuditEvent, Option<u64>>> {
//!     match audit.recv().await {
//!         Ok(AuditEvent { kind: AuditKind::Gap { missed, .. }, .. }) => Some(Err(missed)),
//!         Ok(event) => Some(Ok(event)),
//!         Err(RecvError::Lagged(n)) => Some(Err(Some(n))),
//!         Err(RecvError::Closed) => None,
//!     }
//! }
//! ```

use std::sync::Arc;

use crate::note::Note;
use crate::restriction::Scope;
#[cfg(any(feature = "redis", feature = "postgres"))]
use crate::throttle::Throttle;
use crate::token::SessionId;

pub use crate::limits::AUDIT_CAPACITY;

/// What happened.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A session began.
    Login,
    /// A session was logged out by its holder.
    Logout,
    /// An operator ended a session.
    KickedOut,
    /// A newer login took a session's place.
    Replaced,
    /// A user was banned (every session ended).
    Banned,
    /// A ban was lifted.
    Unbanned,
    /// A spent refresh token came back: the session ended.
    RefreshReused,
    /// A user was restricted in a scope (their sessions go on).
    Restricted,
    /// A user's restriction of a scope was lifted.
    Unrestricted,
    /// A session was elevated for a scope (a step-up window opened).
    Elevated,
    /// Events were lost here: the stream cannot say what happened in between, so a
    /// consumer that keeps state from it should read the store again (the directory,
    /// the user's sessions). Its event has an empty `user_id`, no session, and as
    /// `at_ms` a time the lost events did not precede, as far as the instances' clocks
    /// agree (0 if unknown). A receiver's own `RecvError::Lagged` is not sent as one.
    #[non_exhaustive]
    Gap {
        /// How many: known when an instance could not publish its own events, `None`
        /// when a subscription was down (nobody knows what was published meanwhile).
        missed: Option<u64>,
    },
}

impl AuditKind {
    /// The stable name: `login`, `logout`, `kicked_out`, `replaced`, `banned`,
    /// `unbanned`, `refresh_reused`, `restricted`, `unrestricted`, `elevated`, `gap`.
    pub const fn code(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Logout => "logout",
            AuditKind::KickedOut => "kicked_out",
            AuditKind::Replaced => "replaced",
            AuditKind::Banned => "banned",
            AuditKind::Unbanned => "unbanned",
            AuditKind::RefreshReused => "refresh_reused",
            AuditKind::Restricted => "restricted",
            AuditKind::Unrestricted => "unrestricted",
            AuditKind::Elevated => "elevated",
            AuditKind::Gap { .. } => "gap",
        }
    }

    /// The kind of a name [`code`](Self::code) gives; `None` for `gap`, whose count a
    /// name does not carry.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            AuditKind::Login,
            AuditKind::Logout,
            AuditKind::KickedOut,
            AuditKind::Replaced,
            AuditKind::Banned,
            AuditKind::Unbanned,
            AuditKind::RefreshReused,
            AuditKind::Restricted,
            AuditKind::Unrestricted,
            AuditKind::Elevated,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// One audit event: what, to whom, when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The user.
    pub user_id: Arc<str>,
    /// The session, unless the event concerns the whole user (a ban, an unban).
    pub session_id: Option<SessionId>,
    /// The session's device, likewise.
    pub device: Option<Arc<str>>,
    /// When, Unix milliseconds, by the clock of the instance it happened on.
    pub at_ms: u64,
    /// The note of the revocation (or the restriction), if it had one.
    pub note: Option<Note>,
    /// The scope of a restriction, its lifting, or an elevation.
    pub scope: Option<Scope>,
}

impl AuditEvent {
    /// An event.
    pub fn new(kind: AuditKind, user_id: Arc<str>, at_ms: u64) -> Self {
        Self {
            kind,
            user_id,
            session_id: None,
            device: None,
            at_ms,
            note: None,
            scope: None,
        }
    }

    /// The same event, of a scope.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The same event, of one session.
    pub fn of_session(mut self, session_id: SessionId, device: Arc<str>) -> Self {
        self.session_id = Some(session_id);
        self.device = Some(device);
        self
    }

    /// The same event, with a note.
    pub fn with_note(mut self, note: Option<Note>) -> Self {
        self.note = note;
        self
    }

    /// A gap marker: `missed` events (`None`: an unknown number) lost, none of them
    /// before `at_ms` (see [`AuditKind::Gap`]). For a store of one's own that loses
    /// events.
    ///
    /// ```
    /// use kickout::store::audit::{AuditEvent, AuditKind};
    ///
    /// let gap = AuditEvent::gap(Some(3), 1_700_000_000_000);
    /// assert!(matches!(gap.kind, AuditKind::Gap { missed: Some(3), .. }));
    /// assert_eq!((gap.kind.code(), &*gap.user_id), ("gap", ""));
    /// ```
    pub fn gap(missed: Option<u64>, at_ms: u64) -> Self {
        Self::new(AuditKind::Gap { missed }, "".into(), at_ms)
    }
}

#[cfg(any(feature = "redis", feature = "postgres"))]
/// Events an instance lost before it could say so: how many, none before when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Missed {
    count: u64,
    since_ms: u64,
}

#[cfg(any(feature = "redis", feature = "postgres"))]
impl Missed {
    /// Nothing lost.
    pub(crate) const NONE: Self = Self {
        count: 0,
        since_ms: u64::MAX,
    };

    /// One event, of `at_ms`.
    pub(crate) const fn one(at_ms: u64) -> Self {
        Self {
            count: 1,
            since_ms: at_ms,
        }
    }

    pub(crate) const fn is_none(&self) -> bool {
        self.count == 0
    }

    /// Both counts, from the earlier time.
    pub(crate) fn merge(&mut self, other: Self) {
        self.count = self.count.saturating_add(other.count);
        self.since_ms = self.since_ms.min(other.since_ms);
    }

    /// The gap marker that says so.
    pub(crate) fn gap(&self) -> AuditEvent {
        AuditEvent::gap(Some(self.count), self.since_ms)
    }
}

#[cfg(any(feature = "redis", feature = "postgres"))]
/// Counts audit events a store dropped and reports them at most once per
/// [`REPORT_INTERVAL_MS`](crate::throttle::REPORT_INTERVAL_MS), by the times of the
/// dropped events (a store has no clock of its own: these are its callers').
#[derive(Debug, Default)]
pub(crate) struct DropLog(Throttle);

#[cfg(any(feature = "redis", feature = "postgres"))]
impl DropLog {
    /// One event of `at_ms` dropped; logs at warn, with the count since the last line,
    /// if that line is an interval old.
    pub(crate) fn dropped(&self, at_ms: u64) {
        if let Some(dropped) = self.0.count(at_ms) {
            tracing::warn!(
                dropped,
                "audit events not published (queue full or the store failing; each at debug): \
                 every instance's audit stream gets a gap marker"
            );
        }
    }
}

#[cfg(all(test, feature = "redis"))]
mod tests {
    use super::*;

    #[test]
    fn missed_events_add_up_from_the_earliest() {
        let mut missed = Missed::NONE;
        assert!(missed.is_none());
        missed.merge(Missed::one(20));
        missed.merge(Missed::one(10));
        missed.merge(Missed::NONE);
        assert_eq!(missed.gap(), AuditEvent::gap(Some(2), 10));
        assert_eq!(AuditKind::from_code("gap"), None);
        assert_eq!(AuditKind::Gap { missed: None }.code(), "gap");
    }
}
