//! Every Redis key the store uses, built in one place (the layout table is in the
//! module docs). Each of a user's keys starts with the user's base,
//! `<prefix>{tttt}:`, so they all share one hash slot.

use crate::token::{SessionId, user_tag};

/// The key builder of one store (its prefix).
#[derive(Clone, Copy)]
pub(super) struct Keys<'a> {
    prefix: &'a str,
}

impl<'a> Keys<'a> {
    pub(super) fn new(prefix: &'a str) -> Self {
        Self { prefix }
    }

    /// `<prefix>{tttt}:`, the start of every key of users with slot tag `tag`; the
    /// scripts build a user's further keys from it.
    pub(super) fn base(self, tag: u16) -> String {
        format!("{}{{{tag:04x}}}:", self.prefix)
    }

    fn of_user(self, kind: &str, user_id: &str) -> String {
        format!("{}{kind}:{user_id}", self.base(user_tag(user_id)))
    }

    /// One session record: `…s:<session id>`.
    pub(super) fn session(self, id: SessionId) -> String {
        format!("{}s:{id}", self.base(id.tag()))
    }

    /// What the application said of one session: `…m:<session id>`.
    pub(super) fn meta(self, id: SessionId) -> String {
        format!("{}m:{id}", self.base(id.tag()))
    }

    /// The user's index of sessions that may be live: `…u:<user id>`.
    pub(super) fn user(self, user_id: &str) -> String {
        self.of_user("u", user_id)
    }

    /// The directory of one slot tag's sessions: `…d` (a sorted set of session ids, or
    /// of `jti`s in JWT mode).
    pub(super) fn dir(self, tag: u16) -> String {
        format!("{}d", self.base(tag))
    }

    /// When each member of the tag's directory is due to be over: `…dx` (a sorted set
    /// scored by Unix milliseconds), which logins sweep.
    pub(super) fn dir_due(self, tag: u16) -> String {
        format!("{}dx", self.base(tag))
    }

    /// The slot tags with a directory: `<prefix>{dt}` (at most 65,536 members).
    pub(super) fn dir_tags(self) -> String {
        format!("{}{{dt}}", self.prefix)
    }

    /// The restrictions of the users of slot tag `tag`: `…rs` (JSON, see
    /// `lua/restrict.lua`).
    pub(super) fn restrictions(self, tag: u16) -> String {
        format!("{}rs", self.base(tag))
    }

    /// One session's step-up windows: `…e:<session id>` (JSON, see `lua/elevate.lua`).
    pub(super) fn elevations(self, id: SessionId) -> String {
        format!("{}e:{id}", self.base(id.tag()))
    }

    /// JWT mode: one token's step-up windows, `…je:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_elevations(self, id: SessionId) -> String {
        format!("{}je:{}", self.base(id.tag()), id.jti())
    }

    /// The user's ban: `…b:<user id>`.
    pub(super) fn ban(self, user_id: &str) -> String {
        self.of_user("b", user_id)
    }

    /// JWT mode: the user's revocation state, `…j:<user id>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_state(self, user_id: &str) -> String {
        self.of_user("j", user_id)
    }

    /// JWT mode: the user's index of live tokens, `…ji:<user id>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_index(self, user_id: &str) -> String {
        self.of_user("ji", user_id)
    }

    /// JWT mode: the user of one live token, `…jt:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_token(self, id: SessionId) -> String {
        format!("{}jt:{}", self.base(id.tag()), id.jti())
    }

    /// JWT mode: what the application said of one token, `…jm:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_meta(self, id: SessionId) -> String {
        format!("{}jm:{}", self.base(id.tag()), id.jti())
    }

    /// JWT mode: when a request was last seen with one token, `…jl:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_seen(self, id: SessionId) -> String {
        format!("{}jl:{}", self.base(id.tag()), id.jti())
    }

    /// JWT mode: a session's refresh token, `…jr:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_refresh(self, id: SessionId) -> String {
        format!("{}jr:{}", self.base(id.tag()), id.jti())
    }

    /// The revocation channel: `<prefix>revoked`.
    pub(super) fn channel(self) -> String {
        format!("{}revoked", self.prefix)
    }

    /// The audit channel: `<prefix>audit`.
    pub(super) fn audit_channel(self) -> String {
        format!("{}audit", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_keys_share_one_hash_tag() {
        let keys = Keys::new("kickout:");
        let tag = user_tag("10001");
        let base = keys.base(tag);
        assert_eq!(base, format!("kickout:{{{tag:04x}}}:"));
        for key in [keys.user("10001"), keys.ban("10001")] {
            assert!(key.starts_with(&base), "{key}");
        }
        assert_eq!(keys.channel(), "kickout:revoked");
    }
}
