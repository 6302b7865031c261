//! Every Redis key the store uses, built in one place (the layout table is in the
//! module docs). Each of a user's keys starts with the user's base,
//! `<prefix>{tttt}:`, so they all share one hash slot.

use super::codec;
use crate::token::{SessionId, user_tag};

/// The write stamp of `key`'s hash slot: `key` through its hash tag (`{tttt}`, or
/// `{dt}`), then `:w`. Every key has a tag (a prefix has no braces); one without would
/// be taken whole as the tag, which hashes the same.
pub(super) fn stamp(key: &str) -> String {
    let tag = key
        .find('{')
        .and_then(|open| key[open..].find('}').map(|close| open + close));
    match tag {
        Some(close) => format!("{}:w", &key[..=close]),
        None => format!("{{{key}}}:w"),
    }
}

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
        self.start(tag, "", 0)
    }

    /// The base of `tag`, then `kind`, with room for `more` bytes: one allocation and
    /// no formatting machinery, since a request builds three keys.
    fn start(self, tag: u16, kind: &str, more: usize) -> String {
        const TAG: usize = "{tttt}:".len();
        let mut key = String::with_capacity(self.prefix.len() + TAG + kind.len() + more);
        key.push_str(self.prefix);
        key.push('{');
        codec::push_hex(&mut key, &tag.to_be_bytes());
        key.push_str("}:");
        key.push_str(kind);
        key
    }

    /// `…<kind><user id>`.
    fn of_user(self, kind: &str, user_id: &str) -> String {
        let mut key = self.start(user_tag(user_id), kind, user_id.len());
        key.push_str(user_id);
        key
    }

    /// `…<kind><session id>`.
    fn of_session(self, kind: &str, id: SessionId) -> String {
        let mut key = self.start(id.tag(), kind, SessionId::TEXT_LEN);
        id.push_text(&mut key);
        key
    }

    /// `…<kind><jti>`.
    #[cfg(feature = "jwt")]
    fn of_jti(self, kind: &str, id: SessionId) -> String {
        let mut key = self.start(id.tag(), kind, SessionId::JTI_LEN);
        id.push_jti(&mut key);
        key
    }

    /// One session record: `…s:<session id>`.
    pub(super) fn session(self, id: SessionId) -> String {
        self.of_session("s:", id)
    }

    /// What the application said of one session: `…m:<session id>`.
    pub(super) fn meta(self, id: SessionId) -> String {
        self.of_session("m:", id)
    }

    /// The user's index of sessions that may be live: `…u:<user id>`.
    pub(super) fn user(self, user_id: &str) -> String {
        self.of_user("u:", user_id)
    }

    /// The directory of one slot tag's sessions: `…d` (a sorted set of session ids, or
    /// of `jti`s in JWT mode).
    pub(super) fn dir(self, tag: u16) -> String {
        self.start(tag, "d", 0)
    }

    /// When each member of the tag's directory is due to be over: `…dx` (a sorted set
    /// scored by Unix milliseconds), which logins sweep.
    pub(super) fn dir_due(self, tag: u16) -> String {
        self.start(tag, "dx", 0)
    }

    /// The slot tags with a directory: `<prefix>{dt}` (at most 65,536 members).
    pub(super) fn dir_tags(self) -> String {
        format!("{}{{dt}}", self.prefix)
    }

    /// The restrictions of the users of slot tag `tag`: `…rs` (JSON, see
    /// `lua/restrict.lua`).
    pub(super) fn restrictions(self, tag: u16) -> String {
        self.start(tag, "rs", 0)
    }

    /// One session's step-up windows: `…e:<session id>` (JSON, see `lua/elevate.lua`).
    pub(super) fn elevations(self, id: SessionId) -> String {
        self.of_session("e:", id)
    }

    /// JWT mode: one token's step-up windows, `…je:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_elevations(self, id: SessionId) -> String {
        self.of_jti("je:", id)
    }

    /// The user's ban: `…b:<user id>`.
    pub(super) fn ban(self, user_id: &str) -> String {
        self.of_user("b:", user_id)
    }

    /// JWT mode: the user's revocation state, `…j:<user id>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_state(self, user_id: &str) -> String {
        self.of_user("j:", user_id)
    }

    /// JWT mode: the user's index of live tokens, `…ji:<user id>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_index(self, user_id: &str) -> String {
        self.of_user("ji:", user_id)
    }

    /// JWT mode: the user of one live token, `…jt:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_token(self, id: SessionId) -> String {
        self.of_jti("jt:", id)
    }

    /// JWT mode: what the application said of one token, `…jm:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_meta(self, id: SessionId) -> String {
        self.of_jti("jm:", id)
    }

    /// JWT mode: when a request was last seen with one token, `…jl:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_seen(self, id: SessionId) -> String {
        self.of_jti("jl:", id)
    }

    /// JWT mode: a session's refresh token, `…jr:<jti>`.
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_refresh(self, id: SessionId) -> String {
        self.of_jti("jr:", id)
    }

    /// JWT mode: the user's refresh records, `…jf:<user id>` (a sorted set of `jti`s
    /// scored by when each `jr:` is due to be gone; at most `MAX_REFRESH_TOKENS`).
    #[cfg(feature = "jwt")]
    pub(super) fn jwt_refreshes(self, user_id: &str) -> String {
        self.of_user("jf:", user_id)
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

    /// Each key as the layout table writes it.
    #[test]
    fn every_key_follows_the_layout() {
        let keys = Keys::new("app:");
        let jti = "AAECAwQFBgcICQoL";
        for tag in [0, 0x00af, 0xbeef, u16::MAX] {
            let id = SessionId::from_jti(tag, jti).unwrap();
            assert_eq!(id.to_string().len(), SessionId::TEXT_LEN);
            assert_eq!(jti.len(), SessionId::JTI_LEN);
            let base = format!("app:{{{tag:04x}}}:");
            assert_eq!(keys.base(tag), base);
            assert_eq!(keys.session(id), format!("{base}s:{id}"));
            assert_eq!(keys.meta(id), format!("{base}m:{id}"));
            assert_eq!(keys.elevations(id), format!("{base}e:{id}"));
            assert_eq!(keys.dir(tag), format!("{base}d"));
            assert_eq!(keys.dir_due(tag), format!("{base}dx"));
            assert_eq!(keys.restrictions(tag), format!("{base}rs"));
            assert_eq!(stamp(&keys.dir(tag)), format!("{base}w"));
            #[cfg(feature = "jwt")]
            for (key, kind) in [
                (keys.jwt_elevations(id), "je"),
                (keys.jwt_token(id), "jt"),
                (keys.jwt_meta(id), "jm"),
                (keys.jwt_seen(id), "jl"),
                (keys.jwt_refresh(id), "jr"),
            ] {
                assert_eq!(key, format!("{base}{kind}:{jti}"));
            }
        }
        assert_eq!(stamp("plain"), "{plain}:w");
        assert_eq!(stamp(&keys.dir_tags()), "app:{dt}:w");
        let user = format!("app:{{{:04x}}}:", user_tag("ü 1"));
        assert_eq!(keys.user("ü 1"), format!("{user}u:ü 1"));
        assert_eq!(keys.ban("ü 1"), format!("{user}b:ü 1"));
        #[cfg(feature = "jwt")]
        {
            assert_eq!(keys.jwt_state("ü 1"), format!("{user}j:ü 1"));
            assert_eq!(keys.jwt_index("ü 1"), format!("{user}ji:ü 1"));
            assert_eq!(keys.jwt_refreshes("ü 1"), format!("{user}jf:ü 1"));
        }
    }
}
