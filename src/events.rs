//! A handle's events: who logged in, was logged out, kicked out, replaced, banned,
//! renewed, refreshed, restricted, elevated — and when. The audit stream that every instance shares
//! ([`Auth::audit`](crate::Auth::audit)) carries their projection, [`AuthEvent::audit`].

use std::sync::Arc;

use crate::note::Note;
use crate::restriction::{Restriction, Scope};
use crate::store::SessionInfo;
use crate::store::audit::{AuditEvent, AuditKind};
use crate::token::SessionId;

/// Something that happened to sessions, with its time (Unix milliseconds).
///
/// Receive them with [`Auth::events`](crate::Auth::events). They travel over a bounded
/// broadcast channel: sending never waits, and a receiver that falls behind loses the
/// oldest events (it is told how many) instead of slowing logins or requests down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEvent {
    /// When, Unix milliseconds by the handle's clock.
    pub at_ms: u64,
    /// What.
    pub kind: EventKind,
}

impl AuthEvent {
    /// Its events in the shared audit stream: one per session it concerns, or one for
    /// the user. Renewals and refreshes are this handle's business only: none.
    ///
    /// ```
    /// use kickout::events::{AuthEvent, EventKind};
    /// use kickout::store::audit::AuditKind;
    ///
    /// let event = AuthEvent {
    ///     at_ms: 1,
    ///     kind: EventKind::Unbanned { user_id: "10001".into() },
    /// };
    /// assert_eq!(event.audit()[0].kind, AuditKind::Unbanned);
    /// ```
    pub fn audit(&self) -> Vec<AuditEvent> {
        let at_ms = self.at_ms;
        let of = |k: AuditKind, s: &SessionInfo, note: &Option<Note>| {
            AuditEvent::new(k, s.user_id.clone(), at_ms)
                .of_session(s.session_id, s.device.clone())
                .with_note(note.clone())
        };
        match &self.kind {
            EventKind::LoggedIn { session } => vec![of(AuditKind::Login, session, &None)],
            EventKind::LoggedOut { session, note } => vec![of(AuditKind::Logout, session, note)],
            EventKind::Replaced { sessions, .. } => sessions
                .iter()
                .map(|s| of(AuditKind::Replaced, s, &None))
                .collect(),
            EventKind::KickedOut { sessions, note, .. } => sessions
                .iter()
                .map(|s| of(AuditKind::KickedOut, s, note))
                .collect(),
            EventKind::Banned { user_id, note, .. } => {
                vec![
                    AuditEvent::new(AuditKind::Banned, user_id.clone(), at_ms)
                        .with_note(note.clone()),
                ]
            }
            EventKind::Unbanned { user_id } => {
                vec![AuditEvent::new(AuditKind::Unbanned, user_id.clone(), at_ms)]
            }
            EventKind::RefreshReused { session } => {
                vec![of(AuditKind::RefreshReused, session, &None)]
            }
            EventKind::Restricted {
                user_id,
                restriction,
            } => vec![
                AuditEvent::new(AuditKind::Restricted, user_id.clone(), at_ms)
                    .with_note(restriction.note.clone())
                    .with_scope(restriction.scope.clone()),
            ],
            EventKind::Unrestricted { user_id, scope } => vec![
                AuditEvent::new(AuditKind::Unrestricted, user_id.clone(), at_ms)
                    .with_scope(scope.clone()),
            ],
            EventKind::Elevated { session, scope, .. } => {
                vec![of(AuditKind::Elevated, session, &None).with_scope(scope.clone())]
            }
            EventKind::Renewed { .. } | EventKind::Refreshed { .. } => Vec::new(),
        }
    }
}

/// What happened.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A session began.
    LoggedIn {
        /// The new session.
        session: SessionInfo,
    },
    /// Sessions ended because a newer login took their place.
    Replaced {
        /// The sessions that ended.
        sessions: Vec<SessionInfo>,
        /// The session that replaced them.
        by: SessionId,
    },
    /// A session was logged out by its holder (or by "sign out the others").
    LoggedOut {
        /// The session that ended.
        session: SessionInfo,
        /// The note it was ended with, if any.
        note: Option<Note>,
    },
    /// An operator ended sessions of a user (all, one device, or one session).
    KickedOut {
        /// The user.
        user_id: Arc<str>,
        /// The sessions that ended.
        sessions: Vec<SessionInfo>,
        /// The note they were ended with, if any.
        note: Option<Note>,
    },
    /// A user was banned; their sessions ended.
    Banned {
        /// The user.
        user_id: Arc<str>,
        /// When the ban ends, Unix milliseconds.
        until_ms: u64,
        /// The sessions that ended.
        sessions: Vec<SessionInfo>,
        /// The note the ban was given, if any.
        note: Option<Note>,
    },
    /// A ban was lifted.
    Unbanned {
        /// The user.
        user_id: Arc<str>,
    },
    /// A session was given a new lifetime.
    Renewed {
        /// The session, renewed.
        session: SessionInfo,
    },
    /// A session's refresh token was traded for a new pair.
    Refreshed {
        /// The session, with its new end.
        session: SessionInfo,
    },
    /// A spent refresh token was presented again: the session ended
    /// (`refresh_reused`).
    RefreshReused {
        /// The session that ended.
        session: SessionInfo,
    },
    /// A user was restricted in a scope; their sessions go on.
    Restricted {
        /// The user.
        user_id: Arc<str>,
        /// What holds now.
        restriction: Restriction,
    },
    /// A user's restriction of a scope was lifted by hand.
    Unrestricted {
        /// The user.
        user_id: Arc<str>,
        /// The scope.
        scope: Scope,
    },
    /// A session was elevated for a scope ([`Auth::elevate`](crate::Auth::elevate)).
    Elevated {
        /// The session.
        session: SessionInfo,
        /// What the window opens.
        scope: Scope,
        /// When it closes, Unix milliseconds.
        until_ms: u64,
    },
}
