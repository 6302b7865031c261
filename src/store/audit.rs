//! The audit stream: what happened to sessions, shared by every instance that uses the
//! store (Redis pub/sub on `<prefix>audit`; in-process for the memory store).
//!
//! It carries logins, logouts, kickouts, replacements, bans, unbans and refresh reuse,
//! with notes. It does not carry natural expiry or idle-out (nothing happens at that
//! moment: a token simply stops working; watches report it), renewals and refreshes,
//! nor anything published while an instance's subscription was down: it is a live
//! view, not a log. Sending never waits; a receiver that falls behind loses the oldest.

use std::sync::Arc;

use crate::note::Note;
use crate::token::SessionId;

/// How many audit events a receiver may fall behind before it loses the oldest.
pub const AUDIT_CAPACITY: usize = 1024;

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
}

impl AuditKind {
    /// The stable name: `login`, `logout`, `kicked_out`, `replaced`, `banned`,
    /// `unbanned`, `refresh_reused`.
    pub const fn code(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Logout => "logout",
            AuditKind::KickedOut => "kicked_out",
            AuditKind::Replaced => "replaced",
            AuditKind::Banned => "banned",
            AuditKind::Unbanned => "unbanned",
            AuditKind::RefreshReused => "refresh_reused",
        }
    }

    /// The kind of a name [`code`](Self::code) gives.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            AuditKind::Login,
            AuditKind::Logout,
            AuditKind::KickedOut,
            AuditKind::Replaced,
            AuditKind::Banned,
            AuditKind::Unbanned,
            AuditKind::RefreshReused,
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
    /// The note of the revocation, if it had one.
    pub note: Option<Note>,
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
        }
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
}
