//! A note on a revocation: why an operator (or the application) ended a session, in a
//! short code the client can map to its own text, and optionally a message.

use std::fmt;
use std::sync::Arc;

use crate::limits::{MAX_NOTE_CODE_LEN, MAX_NOTE_MESSAGE_LEN};

/// A note's code or message broke its bounds (400 `invalid_request` as a
/// [`crate::Error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {}", rule_of(.field))]
pub struct InvalidNote {
    /// `"note"` or `"note message"`.
    pub field: &'static str,
}

/// The rule a note's code or message broke, in words.
pub(crate) fn rule_of(field: &str) -> String {
    use crate::limits::{MAX_NOTE_CODE_LEN, MAX_NOTE_MESSAGE_LEN};
    match field {
        "note message" => {
            format!("at most {MAX_NOTE_MESSAGE_LEN} bytes, no control characters")
        }
        _ => format!("1 to {MAX_NOTE_CODE_LEN} characters of a-z, 0-9, _, . and -"),
    }
}

/// Why sessions were ended, beyond the reason: a code such as `password_changed`
/// (1 to [`MAX_NOTE_CODE_LEN`] characters of `a-z`, `0-9`, `_`, `.`, `-`) and
/// optionally a message for people (at most [`MAX_NOTE_MESSAGE_LEN`] bytes, no control
/// characters).
///
/// Give one with [`Auth::with_note`](crate::Auth::with_note). The stores keep it in the
/// tombstones, so every refused token says it (`"note"` in the JSON body, next to the
/// stable `"error"`), [`SessionWatch::ended`](crate::watch::SessionWatch::ended) yields
/// it and the events carry it.
///
/// ```
/// use kickout::Note;
///
/// let note = Note::new("password_changed")?.with_message("You changed your password.")?;
/// assert_eq!(note.code(), "password_changed");
/// assert_eq!(note.message(), Some("You changed your password."));
/// assert!(Note::new("Password Changed").is_err());
/// # Ok::<(), kickout::Error>(())
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "String", try_from = "String")
)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Note {
    // `code` or `code:message`: one allocation, and the form the stores keep.
    text: Arc<str>,
}

impl Note {
    /// A note with a code and no message; [`InvalidNote`] for a bad code.
    pub fn new(code: &str) -> Result<Self, InvalidNote> {
        if !valid_code(code) {
            return Err(InvalidNote { field: "note" });
        }
        Ok(Self {
            text: Arc::from(code),
        })
    }

    /// The same code with a message; [`InvalidNote`] for an over-long message or one
    /// with control characters.
    pub fn with_message(self, message: &str) -> Result<Self, InvalidNote> {
        if !valid_message(message) {
            return Err(InvalidNote {
                field: "note message",
            });
        }
        Ok(Self {
            text: Arc::from(format!("{}:{message}", self.code())),
        })
    }

    /// The code, e.g. `"password_changed"`.
    pub fn code(&self) -> &str {
        self.text.split_once(':').map_or(&self.text, |(c, _)| c)
    }

    /// The message, if one was given.
    pub fn message(&self) -> Option<&str> {
        self.text.split_once(':').map(|(_, m)| m)
    }

    /// The stored form: `code` or `code:message`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn as_stored(&self) -> &str {
        &self.text
    }

    /// A note read back from a store; `None` for anything this crate would not write,
    /// so store data never turns into a client's text unchecked.
    #[cfg_attr(not(any(feature = "redis", feature = "serde")), allow(dead_code))]
    pub(crate) fn from_stored(text: &str) -> Option<Self> {
        let (code, message) = match text.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (text, None),
        };
        (valid_code(code) && message.is_none_or(valid_message)).then(|| Self {
            text: Arc::from(text),
        })
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("code", &self.code())
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_NOTE_CODE_LEN
        && code
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
}

fn valid_message(message: &str) -> bool {
    message.len() <= MAX_NOTE_MESSAGE_LEN && !message.chars().any(char::is_control)
}

// Serialized as the stores keep it; read back under the same rules as `Note::new`.
#[cfg(feature = "serde")]
impl From<Note> for String {
    fn from(note: Note) -> String {
        note.as_stored().to_owned()
    }
}

#[cfg(feature = "serde")]
impl TryFrom<String> for Note {
    type Error = InvalidNote;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Note::from_stored(&text).ok_or(InvalidNote { field: "note" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_checked() {
        for bad in [
            "",
            "A",
            "a b",
            "a:b",
            "é",
            &"a".repeat(MAX_NOTE_CODE_LEN + 1),
        ] {
            assert!(Note::new(bad).is_err(), "{bad:?}");
        }
        let ok = Note::new(&"a".repeat(MAX_NOTE_CODE_LEN)).unwrap();
        assert!(ok.clone().with_message("line\nbreak").is_err());
        assert!(
            ok.clone()
                .with_message(&"x".repeat(MAX_NOTE_MESSAGE_LEN + 1))
                .is_err()
        );
        let noted = Note::new("x.y-z_1")
            .unwrap()
            .with_message("a: b \"c\"")
            .unwrap();
        assert_eq!(noted.code(), "x.y-z_1");
        assert_eq!(noted.message(), Some("a: b \"c\""));
        assert_eq!(Note::from_stored(noted.as_stored()), Some(noted));
        assert_eq!(Note::from_stored("Bad:x"), None);
        assert_eq!(Note::from_stored("ok:\u{7}"), None);
    }
}
