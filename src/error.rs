//! Errors of the helpers: login, logout, kickout, ban, sessions, renew.

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::rejection::{DEFAULT_REALM, Reason, Rejection, challenge, json_body};
use crate::store::StoreError;

/// Why a helper did not do what it was asked. An error is never a revocation reported
/// as done; call again to be sure it is. Each store operation is atomic, so it is done
/// whole or not at all, but an error does not always mean not at all: a store's reply
/// lost on the way (a timeout), replicas that did not confirm a write the primary took
/// (the Redis store's `wait_for_replicas`), or [`Auth::kickout_all`](crate::Auth::kickout_all), which goes on past a user it could
/// not kick out. Every helper is safe to call again.
///
/// Two texts, for two readers: [`Error::message`] is the sentence a client may see
/// (the same style as [`Reason::message`], and never a driver's or the OS's words);
/// `Display` is the detail for logs, which may carry them.
///
/// ```
/// use kickout::{Error, store::StoreError};
///
/// let e = Error::Store(StoreError::Unavailable("Connection refused (os error 111)".into()));
/// assert_eq!(e.message(), "The session store is unavailable; try again shortly.");
/// assert!(e.to_string().contains("os error 111")); // for the logs only
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The account is banned: login refused (403 `banned`, with the `banned` challenge
    /// of the default realm, `"api"`: an error knows no handle).
    #[error("the account is banned")]
    Banned {
        /// When the ban ends.
        until: SystemTime,
    },
    /// The concurrent-login rule refuses a new session while the others live (409).
    #[error("the concurrent-login rule refuses another session")]
    SessionLimit,
    /// An input is outside its bounds (400), before any store work: a user id, device or
    /// class name (1 to 128 bytes without control characters), or a label, fields,
    /// claims, note, page limit or cursor (see the method that takes it).
    #[error("invalid {field}{}", rule_of(field))]
    InvalidInput {
        /// What was invalid: `"user_id"`, `"device"`, `"class"`, `"label"`, `"fields"`,
        /// `"claims"`, `"note"`, `"limit"`, `"cursor"`, …
        field: &'static str,
    },
    /// The token was refused: the whole [`Rejection`] a request with it gets — reason,
    /// the revocation's note, the challenge in the handle's realm — and it answers as
    /// the layer does.
    #[error("the token was refused: {0}")]
    Rejected(Rejection),
    /// The store could not answer (503); what was asked is not known to be done (see
    /// [`Error`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something of the server's own failed, not the client's input nor the store: the
    /// OS random source, signing a token (500). The detail is in `Display`, never in
    /// the answer; the adapters log it at `error`.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl Error {
    /// The stable `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Banned { .. } => Reason::Banned.code(),
            Error::SessionLimit => "session_limit",
            Error::InvalidInput { .. } => Reason::InvalidRequest.code(),
            Error::Rejected(rejection) => rejection.reason().code(),
            Error::Store(_) => Reason::StoreUnavailable.code(),
            Error::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Banned { .. } => StatusCode::FORBIDDEN,
            Error::SessionLimit => StatusCode::CONFLICT,
            Error::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Error::Rejected(rejection) => rejection.status(),
            Error::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The sentence a client may be shown: what the `"message"` of
    /// [`Error::into_http`]'s body says (a refusal rendered by the handle's
    /// [`on_rejection`](crate::AuthBuilder::on_rejection) says what that hook writes).
    /// A store failure says only that the store is unavailable, an internal one that the
    /// server failed; their detail is in `Display`, for the logs.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            Error::Banned { .. } => Cow::Borrowed(Reason::Banned.message()),
            Error::SessionLimit => {
                Cow::Borrowed("The login rule allows no further session; sign one out first.")
            }
            Error::InvalidInput { field } => {
                Cow::Owned(format!("Invalid {field}{}.", rule_of(field)))
            }
            Error::Rejected(rejection) => Cow::Borrowed(rejection.reason().message()),
            Error::Store(_) => Cow::Borrowed(Reason::StoreUnavailable.message()),
            Error::Internal(_) => Cow::Borrowed("The server failed; try again later."),
        }
    }

    /// Why the token was refused, for [`Error::Rejected`].
    pub fn reason(&self) -> Option<Reason> {
        self.rejection().map(Rejection::reason)
    }

    /// The refusal, for [`Error::Rejected`]: map it to your own format as the layer's
    /// rejections are.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// The JSON response `{"error": "<code>", "message": "<text>"}` with [`Error::status`]
    /// and `Cache-Control: no-store`; a refused token answers exactly as the layer's
    /// [`Rejection`] does (its challenge, and its `note`).
    ///
    /// ```
    /// let res: http::Response<Vec<u8>> = kickout::Error::SessionLimit.into_http();
    /// assert_eq!(res.status(), 409);
    /// assert!(String::from_utf8_lossy(res.body()).contains(r#""error":"session_limit""#));
    /// ```
    pub fn into_http<B: From<Bytes>>(self) -> Response<B> {
        match self {
            // Moved, not cloned: the rejection renders itself.
            Error::Rejected(rejection) => rejection.into_http(),
            other => other.to_http(),
        }
    }

    /// What an answer leaves out, for the logs, as an adapter answers with it: a failure
    /// of the server's own at `error`; a store's at `debug` (the layer logs outages, once
    /// per 10 s).
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn log_detail(&self) {
        match self {
            Error::Internal(detail) => tracing::error!(%detail, "internal failure"),
            Error::Store(error) => tracing::debug!(%error, "session store unavailable"),
            _ => {}
        }
    }

    /// [`Error::into_http`] without consuming the error.
    pub fn to_http<B: From<Bytes>>(&self) -> Response<B> {
        if let Error::Rejected(rejection) = self {
            return rejection.clone().into_http();
        }
        let message = self.message();
        let mut res = Response::new(B::from(json_body(self.code(), &message)));
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // A refused login of a banned account carries the `banned` challenge, as the
        // account's refused tokens do (in the default realm: an error knows no handle).
        if let Error::Banned { .. } = self
            && let Some(challenge) = challenge(DEFAULT_REALM, Reason::Banned)
        {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

impl From<crate::note::InvalidNote> for Error {
    fn from(e: crate::note::InvalidNote) -> Self {
        Error::InvalidInput { field: e.field }
    }
}

impl From<Reason> for Error {
    /// A refusal in the default realm: the handle's helpers answer in their own.
    fn from(reason: Reason) -> Self {
        Error::Rejected(Rejection::new(reason))
    }
}

impl From<Rejection> for Error {
    fn from(rejection: Rejection) -> Self {
        Error::Rejected(rejection)
    }
}

/// The rule an input broke, for the inputs `InvalidInput` reports (else nothing more):
/// said from the bounds themselves, so a message never disagrees with the check.
fn rule_of(field: &str) -> String {
    use crate::limits::{MAX_LABEL_LEN, MAX_NAME_LEN, MAX_SCOPE_LEN};
    use crate::store::directory::MAX_PAGE;
    match field {
        "user_id" | "device" | "class" => {
            format!(": must be 1 to {MAX_NAME_LEN} bytes without control characters")
        }
        "label" => format!(": must be 1 to {MAX_LABEL_LEN} bytes without control characters"),
        "note" | "note message" => format!(": {}", crate::note::rule_of(field)),
        "scope" => format!(": must be 1 to {MAX_SCOPE_LEN} characters of a-z, 0-9, '_', '.', '-'"),
        "level" => format!(": must be 1 to {}", crate::restriction::Level::MAX),
        "limit" => format!(": a page holds 1 to {MAX_PAGE} sessions"),
        "cursor" => ": must be the `next` cursor of an earlier page".to_owned(),
        "duration" => ": must be at least a millisecond".to_owned(),
        "scopes" => ": the user is restricted in as many scopes as allowed".to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn an_invalid_input_says_its_rule_from_the_bounds() {
        let said = |field| Error::InvalidInput { field }.to_string();
        assert_eq!(
            said("limit"),
            format!(
                "invalid limit: a page holds 1 to {} sessions",
                crate::store::directory::MAX_PAGE
            )
        );
        assert!(said("cursor").contains("cursor of an earlier page"));
        assert!(said("user_id").contains(&crate::limits::MAX_NAME_LEN.to_string()));
        assert!(said("note").contains("characters of a-z"));
        assert_eq!(said("elsewhere"), "invalid elsewhere");
    }

    #[test]
    fn a_client_reads_sentences_and_never_the_drivers_words() {
        use crate::store::StoreError;
        let driver = "Connection refused (os error 111)";
        let errors = [
            Error::Banned {
                until: std::time::UNIX_EPOCH,
            },
            Error::SessionLimit,
            Error::InvalidInput { field: "limit" },
            Error::InvalidInput { field: "scope" },
            Error::Rejected(crate::Reason::KickedOut.into()),
            Error::Store(StoreError::Unavailable(driver.into())),
            Error::Store(StoreError::Corrupt(driver.into())),
            Error::Internal(driver.into()),
        ];
        for e in &errors {
            let message = e.message();
            let first = message.chars().next().unwrap_or(' ');
            assert!(first.is_uppercase() && message.ends_with('.'), "{message}");
            assert!(!message.contains("os error"), "{message}");
            let res: http::Response<Vec<u8>> = e.to_http();
            let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(body["message"], *message, "{e}");
            assert_eq!(body["error"], e.code());
        }
        // The log text keeps the detail.
        assert!(errors[5].to_string().contains(driver));
    }
}
