//! The directory of live sessions across users: pages with a stable cursor, for an
//! operator's "who is online".
//!
//! Stores keep an index of sessions by slot tag (one small index per tag, written in
//! the same atomic operation as the login) and walk it in a fixed order: tag, then the
//! session's place within the tag. A page reads at most a fixed multiple of its size, so
//! its cost does not grow with the number of sessions; an index entry of a session that
//! ended is skipped, and dropped on the way. A walk that follows the cursor until it is
//! `None` lists each session that stayed live throughout exactly once.

use std::fmt;
use std::sync::Arc;

use super::contract::SessionInfo;
use crate::token::SessionId;

pub use crate::limits::{MAX_PAGE, SCAN_FACTOR};

/// A live session as the directory lists it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnlineSession {
    /// Whose, which device, when.
    pub info: SessionInfo,
    /// When a request last used it, Unix milliseconds.
    pub last_seen_ms: u64,
    /// Its device's class.
    pub class: Arc<str>,
}

impl OnlineSession {
    /// A directory entry.
    pub fn new(info: SessionInfo, last_seen_ms: u64, class: Arc<str>) -> Self {
        Self {
            last_seen_ms: last_seen_ms.max(info.issued_at_ms),
            info,
            class,
        }
    }
}

/// Where a walk of the directory goes on from: after the index entry `member` of slot
/// tag `tag`. Opaque to clients: `<tag hex>.<member>`.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "String", try_from = "String")
)]
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    tag: u16,
    member: String,
}

impl Cursor {
    /// After `member` of tag `tag` (a store's own index member: a session id, a `jti`).
    pub fn new(tag: u16, member: impl Into<String>) -> Self {
        Self {
            tag,
            member: member.into(),
        }
    }

    /// The slot tag.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// The member within the tag.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// Parses a cursor of a page's making; `None` for anything else. Its member is
    /// empty (the tag's start), a session id of that tag, or a `jti` (what the pages
    /// of the two modes hand out), each in its one canonical spelling.
    pub fn parse(text: &str) -> Option<Self> {
        let (tag, member) = text.split_once('.')?;
        // Four hex digits exactly: `from_str_radix` would also take a sign.
        if tag.len() != 4 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tag = u16::from_str_radix(tag, 16).ok()?;
        let ok_member = match member.len() {
            0 => true,
            SessionId::TEXT_LEN => member.parse::<SessionId>().is_ok_and(|id| id.tag() == tag),
            SessionId::JTI_LEN => SessionId::from_jti(tag, member).is_some(),
            _ => false,
        };
        ok_member.then(|| Self::new(tag, member))
    }

    /// The session it names, or the start of its tag: where a walk of a store whose
    /// entries are session ids goes on after.
    pub(crate) fn session(&self) -> SessionId {
        match self.member.len() {
            SessionId::TEXT_LEN => self.member.parse().ok(),
            SessionId::JTI_LEN => SessionId::from_jti(self.tag, &self.member),
            _ => None,
        }
        .unwrap_or_else(|| SessionId::tag_bounds(self.tag).0)
    }
}

// A cursor travels as its text, and is read back through `Cursor::parse`.
#[cfg(feature = "serde")]
impl From<Cursor> for String {
    fn from(cursor: Cursor) -> String {
        cursor.to_string()
    }
}

#[cfg(feature = "serde")]
impl TryFrom<String> for Cursor {
    type Error = &'static str;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Cursor::parse(&text).ok_or("not a directory cursor")
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}.{}", self.tag, self.member)
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

/// A page to read.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest<'a> {
    /// Go on after this cursor (`None`: from the start).
    pub after: Option<&'a Cursor>,
    /// At most this many sessions (1 to [`MAX_PAGE`]).
    pub limit: usize,
    /// Only sessions of this device class.
    pub class: Option<&'a str>,
}

/// One page of the directory.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// Live sessions, in the walk's order.
    pub sessions: Vec<OnlineSession>,
    /// Where the next page starts; `None` at the end. A page may hold fewer than its
    /// limit (even none) and still have a next one.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page.
    pub fn new(sessions: Vec<OnlineSession>, next: Option<Cursor>) -> Self {
        Self { sessions, next }
    }
}

impl PageRequest<'_> {
    /// The session the page starts after: the cursor's, or the start of its tag.
    pub fn start_after(&self) -> Option<SessionId> {
        self.after.map(Cursor::session)
    }

    /// Walks `candidates` — a store's directory entries after
    /// [`start_after`](Self::start_after), in id order — into a page: `pick` says
    /// whether an entry is a live session (and which), the page's class filter applies,
    /// and the walk stops at the page's limit or after looking at [`SCAN_FACTOR`]
    /// times it, with a cursor to go on from.
    pub fn walk<T>(
        &self,
        candidates: impl IntoIterator<Item = T>,
        id: impl Fn(&T) -> SessionId,
        mut pick: impl FnMut(T) -> Option<OnlineSession>,
    ) -> Page {
        let limit = self.limit.clamp(1, MAX_PAGE);
        let (mut found, mut looked, mut last) = (Vec::new(), 0usize, None);
        for candidate in candidates {
            if found.len() >= limit || looked >= limit.saturating_mul(SCAN_FACTOR) {
                // Everything up to `last` was looked at; more remains.
                let next = last.map(|l: SessionId| Cursor::new(l.tag(), l.to_string()));
                return Page::new(found, next);
            }
            looked += 1;
            last = Some(id(&candidate));
            if let Some(session) =
                pick(candidate).filter(|s| self.class.is_none_or(|c| *s.class == *c))
            {
                found.push(session);
            }
        }
        Page::new(found, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_back_and_refuse_the_rest() {
        let id = SessionId::from_bytes([0x0a, 0x1f, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        let c = Cursor::new(0x0a1f, id.to_string());
        assert_eq!(Cursor::parse(&c.to_string()), Some(c.clone()));
        assert_eq!(c.session(), id);
        assert_eq!(Cursor::parse("0a1f.").map(|c| c.tag()), Some(0x0a1f));
        let jti = Cursor::parse(&format!("0a1f.{}", id.jti())).expect("a jti");
        assert_eq!(jti.session(), id, "the same session, as JWT mode names it");
        let other_tag = SessionId::from_bytes([0x0a, 0x20, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        let mut not_canonical = id.to_string();
        not_canonical.replace_range(18.., "B");
        for bad in [
            "",
            ".",
            "0a1f",
            "zzzz.a",
            "0a1f.a b",
            "00a1f.a",
            "0a1f.é",
            "0a1f.abc",
            "+fff.",
            "-fff.",
            // Of another tag than the cursor's.
            &format!("0a1f.{other_tag}"),
            // A spelling no page writes (trailing bits set past the last byte).
            &format!("0a1f.{not_canonical}"),
            "0a1f.AAAAAAAAAAAAAAAAAAA",
            "0a1f.AAAAAAAAAAAAAAA=",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,80}") {
            if let Some(c) = Cursor::parse(&text) {
                proptest::prop_assert_eq!(Cursor::parse(&c.to_string()), Some(c));
            }
        }
    }
}
