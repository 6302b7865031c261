//! Errors of the helpers: login, logout, kickout, ban, sessions, renew.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};

use crate::rejection::{Reason, json_body};
use crate::store::StoreError;

/// Why a helper did not do what it was asked. Nothing was changed when it returns one
/// (each store operation is atomic), so a revocation is never half done and reported
/// as done.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The account is banned: login refused (403 `banned`).
    #[error("the account is banned")]
    Banned {
        /// When the ban ends.
        until: SystemTime,
    },
    /// The concurrent-login rule refuses a new session while the others live (409).
    #[error("the concurrent-login rule refuses another session")]
    SessionLimit,
    /// A user id or device name is empty, too long or has control characters (400).
    #[error("invalid {field}: must be 1 to 128 bytes without control characters")]
    InvalidInput {
        /// `"user_id"` or `"device"`.
        field: &'static str,
    },
    /// The token does not open a live session (401 with the reason).
    #[error("the token does not open a live session: {0}")]
    Rejected(Reason),
    /// The store could not answer (503); nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operating system's random source, or signing, failed (500).
    #[error("the OS random source or signing failed: {0}")]
    Random(String),
    /// The operation does not exist in this mode (e.g. renew in JWT mode) (400).
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}

impl Error {
    /// The stable `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Banned { .. } => Reason::Banned.code(),
            Error::SessionLimit => "session_limit",
            Error::InvalidInput { .. } => Reason::InvalidRequest.code(),
            Error::Rejected(reason) => reason.code(),
            Error::Store(_) => Reason::StoreUnavailable.code(),
            Error::Random(_) => "internal_error",
            Error::Unsupported(_) => "unsupported",
        }
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Banned { .. } => StatusCode::FORBIDDEN,
            Error::SessionLimit => StatusCode::CONFLICT,
            Error::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Error::Rejected(reason) => reason.status(),
            Error::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Random(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unsupported(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON response `{"error": "<code>", "message": "<text>"}` with [`Error::status`].
    ///
    /// ```
    /// let res: http::Response<Vec<u8>> = kickout::Error::SessionLimit.into_http();
    /// assert_eq!(res.status(), 409);
    /// assert!(String::from_utf8_lossy(res.body()).contains(r#""error":"session_limit""#));
    /// ```
    pub fn into_http<B: From<Bytes>>(self) -> Response<B> {
        self.to_http()
    }

    /// [`Error::into_http`] without consuming the error.
    pub fn to_http<B: From<Bytes>>(&self) -> Response<B> {
        // Store and OS details stay in the logs, not in the answer.
        let message = match self {
            Error::Store(_) => Reason::StoreUnavailable.message().to_owned(),
            Error::Random(_) => "Internal error.".to_owned(),
            other => other.to_string(),
        };
        let mut res = Response::new(B::from(json_body(self.code(), &message)));
        *res.status_mut() = self.status();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res
    }
}

impl From<crate::note::InvalidNote> for Error {
    fn from(e: crate::note::InvalidNote) -> Self {
        Error::InvalidInput { field: e.field }
    }
}

impl From<Reason> for Error {
    fn from(reason: Reason) -> Self {
        Error::Rejected(reason)
    }
}
