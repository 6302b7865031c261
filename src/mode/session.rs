//! Session mode: an opaque random token names a record in the store.

use crate::auth::Auth;
use crate::identity::Identity;
use crate::rejection::Reason;
use crate::store::{SessionRecord, Store, Touch};

impl<S: Store> Auth<S> {
    /// The idle renewal to ask for with a lookup at `now`, if there is an idle timeout.
    pub(crate) fn touch(&self, now: u64) -> Option<Touch> {
        let c = self.config();
        c.idle_ms.map(|idle| Touch {
            deadline_ms: now.saturating_add(idle),
            min_step_ms: c.touch_step_ms,
        })
    }
}

/// What a record (or its absence) means for a request at `now`.
pub(crate) fn verdict(record: Option<SessionRecord>, now: u64) -> Result<Identity, Reason> {
    let Some(record) = record else {
        return Err(Reason::InvalidToken);
    };
    if now >= record.info.expires_at_ms {
        // Past its lifetime a tombstone's cause no longer matters: it would be over anyway.
        return Err(Reason::TokenExpired);
    }
    match record.ended {
        Some(ended) => Err(ended.reason.rejection(record.ban_until_ms.is_some())),
        None if record.idle_deadline_ms.is_some_and(|d| now >= d) => Err(Reason::TokenExpired),
        None => Ok(Identity::new(record.info)),
    }
}
