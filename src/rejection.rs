//! Why a request was refused, and the HTTP answer for it (RFC 6750 §3).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::note::Note;
use crate::restriction::{Restriction, Scope};

/// The stable machine-readable reason a request or a login was refused.
///
/// Its [`code`](Reason::code) is the `error` field of the JSON body, and never changes
/// between versions.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No bearer token was offered (401, challenge without error code).
    MissingToken,
    /// A malformed `Authorization` header, two tokens, or bad characters (400).
    InvalidRequest,
    /// Unknown, forged, malformed or logged-out token (401).
    InvalidToken,
    /// The session passed its absolute lifetime or its idle timeout (401).
    TokenExpired,
    /// An operator ended the session (401).
    KickedOut,
    /// A newer login took this session's place under the concurrent-login rule (401).
    Replaced,
    /// The account is banned (401 on requests, 403 on login).
    Banned,
    /// A spent refresh token was presented again: the whole session is ended (401).
    RefreshReused,
    /// The session store could not answer; the request was refused, not let through (503).
    StoreUnavailable,
    /// A request authenticated by a cookie, with an unsafe method, came from another
    /// site (or could not show it did not): refused before any store work (403).
    CsrfRejected,
    /// The user is restricted in the guarded route's scope at or above its level (403;
    /// the body names the restriction: `scope`, `level`, `until`, `note`). The session
    /// is not ended: other routes still serve it.
    Restricted,
    /// A step-up route, and this session is not elevated for its scope: the user must
    /// prove it is them again (403, no challenge: another token would not help; the body
    /// names the `scope`).
    StepUpRequired,
}

impl Reason {
    /// All reasons, for tables and tests.
    pub const ALL: [Reason; 12] = [
        Reason::MissingToken,
        Reason::InvalidRequest,
        Reason::InvalidToken,
        Reason::TokenExpired,
        Reason::KickedOut,
        Reason::Replaced,
        Reason::Banned,
        Reason::RefreshReused,
        Reason::StoreUnavailable,
        Reason::CsrfRejected,
        Reason::Restricted,
        Reason::StepUpRequired,
    ];

    /// The `error` code of the JSON body, e.g. `"kicked_out"`.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::InvalidRequest => "invalid_request",
            Reason::InvalidToken => "invalid_token",
            Reason::TokenExpired => "token_expired",
            Reason::KickedOut => "kicked_out",
            Reason::Replaced => "replaced",
            Reason::Banned => "banned",
            Reason::RefreshReused => "refresh_reused",
            Reason::StoreUnavailable => "store_unavailable",
            Reason::CsrfRejected => "csrf_rejected",
            Reason::Restricted => "restricted",
            Reason::StepUpRequired => "step_up_required",
        }
    }

    /// A sentence for people, the `message` field of the JSON body.
    pub const fn message(self) -> &'static str {
        match self {
            Reason::MissingToken => "A bearer token is required.",
            Reason::InvalidRequest => "The request carries a malformed or ambiguous token.",
            Reason::InvalidToken => "The token is not valid.",
            Reason::TokenExpired => "The session has expired; please log in again.",
            Reason::KickedOut => "The session was ended by an operator.",
            Reason::Replaced => "A newer login took this session's place.",
            Reason::Banned => "The account is banned.",
            Reason::RefreshReused => {
                "A spent refresh token was used again; the session is ended for safety."
            }
            Reason::StoreUnavailable => "The session store is unavailable; try again shortly.",
            Reason::CsrfRejected => "A cross-site request with a session cookie was refused.",
            Reason::Restricted => "The account is restricted from this action for now.",
            Reason::StepUpRequired => "This action needs a fresh sign-in check.",
        }
    }

    /// The status of a refused request (a banned *login* is 403, see [`crate::Error`]).
    pub const fn status(self) -> StatusCode {
        match self {
            Reason::MissingToken
            | Reason::InvalidToken
            | Reason::TokenExpired
            | Reason::KickedOut
            | Reason::Replaced
            | Reason::Banned
            | Reason::RefreshReused => StatusCode::UNAUTHORIZED,
            Reason::InvalidRequest => StatusCode::BAD_REQUEST,
            Reason::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::CsrfRejected | Reason::Restricted | Reason::StepUpRequired => {
                StatusCode::FORBIDDEN
            }
        }
    }

    /// The RFC 6750 `error` attribute of the challenge, if any.
    const fn challenge_error(self) -> Option<&'static str> {
        match self {
            Reason::MissingToken | Reason::StoreUnavailable => None,
            Reason::InvalidRequest => Some("invalid_request"),

            _ => Some("invalid_token"),
        }
    }

    /// The reason's place in [`Reason::ALL`], if it has one.
    fn index(self) -> Option<usize> {
        let i = self as usize;
        (Reason::ALL.get(i) == Some(&self)).then_some(i)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a token was refused: the [`Reason`], and the [`Note`] its revocation was given,
/// if any. It compares equal to its reason, so `refusal == Reason::KickedOut` reads as
/// it should.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use kickout::{Auth, Note, Reason, store::MemoryStore};
///
/// let auth = Auth::new(MemoryStore::new());
/// let login = auth.login("10001", "web").await?;
/// let me = auth.authenticate(login.token.as_str()).await.unwrap();
/// let mut watch = auth.watch(&me);
/// auth.with_note(Note::new("password_changed")?).kickout("10001").await?;
/// let refusal = watch.ended().await;
/// assert_eq!(refusal, Reason::KickedOut);
/// assert_eq!(refusal.note().map(Note::code), Some("password_changed"));
/// # Ok::<(), kickout::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    reason: Reason,
    note: Option<Note>,
}

impl Refusal {
    /// A refusal for `reason`, with the note of the revocation behind it.
    pub fn new(reason: Reason, note: Option<Note>) -> Self {
        Self { reason, note }
    }

    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The note the session's revocation was given, if any.
    pub fn note(&self) -> Option<&Note> {
        self.note.as_ref()
    }
}

impl From<Reason> for Refusal {
    fn from(reason: Reason) -> Self {
        Self { reason, note: None }
    }
}

impl PartialEq<Reason> for Refusal {
    fn eq(&self, other: &Reason) -> bool {
        self.reason == *other
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.note {
            Some(note) => write!(f, "{} ({note})", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// The JSON body `{"error": "<code>", "message": "<text>"}` for a reason.
pub(crate) fn json_body(code: &str, message: &str) -> Bytes {
    // Codes and messages are our own constants without quotes or backslashes.
    Bytes::from(format!(r#"{{"error":"{code}","message":"{message}"}}"#))
}

/// A reason's body with a note: `"note"` and, if it has one, `"note_message"`.
fn noted_body(reason: Reason, note: &Note) -> Bytes {
    Bytes::from(format!(
        r#"{{"error":"{}","message":"{}"{}}}"#,
        reason.code(),
        reason.message(),
        note_fields(note)
    ))
}

/// An application's own answer to a refused token
/// ([`AuthBuilder::on_rejection`](crate::AuthBuilder::on_rejection)).
#[derive(Clone)]
pub(crate) struct Render(Arc<dyn Fn(Rejection) -> Response<Bytes> + Send + Sync>);

impl Render {
    pub(crate) fn new(f: impl Fn(Rejection) -> Response<Bytes> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl fmt::Debug for Render {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Render(..)")
    }
}

/// One handle's answers: challenges and bodies precomputed for its realm, so a refusal
/// formats nothing, and the application's own answer if it gave one.
#[derive(Clone, Debug)]
pub(crate) struct Responses {
    /// For a reason missing from [`Reason::ALL`]: it is formatted, not indexed past the
    /// tables.
    realm: Box<str>,
    challenges: [Option<HeaderValue>; Reason::ALL.len()],
    bodies: [Bytes; Reason::ALL.len()],
    render: Option<Render>,
}

impl Responses {
    pub(crate) fn new(realm: &str, render: Option<Render>) -> Self {
        Self {
            realm: realm.into(),
            challenges: Reason::ALL.map(|r| challenge(realm, r)),
            bodies: Reason::ALL.map(body),
            render,
        }
    }

    pub(crate) fn rejection(&self, reason: Reason) -> Rejection {
        let (challenge, body) = match reason.index() {
            Some(i) => (self.challenges[i].clone(), self.bodies[i].clone()),
            None => (challenge(&self.realm, reason), body(reason)),
        };
        Rejection {
            reason,
            challenge,
            body,
            note: None,
            render: self.render.clone(),
            more: None,
        }
    }

    /// A refusal by `restriction`: its body names it.
    pub(crate) fn restricted(&self, restriction: &Restriction) -> Rejection {
        let mut rejection = self.rejection(Reason::Restricted);
        rejection.body = restricted_body(restriction);
        rejection.note = restriction.note.clone();
        rejection.more_mut().restriction = Some(restriction.clone());
        rejection
    }

    /// A refusal of a step-up route of `scope`: its body names the scope.
    pub(crate) fn step_up(&self, scope: &Scope) -> Rejection {
        let mut rejection = self.rejection(Reason::StepUpRequired);
        let reason = Reason::StepUpRequired;
        // A scope is `[a-z0-9_.-]`: nothing to escape.
        rejection.body = Bytes::from(format!(
            r#"{{"error":"{}","message":"{}","scope":"{scope}"}}"#,
            reason.code(),
            reason.message(),
        ));
        rejection.more_mut().step_up = Some(scope.clone());
        rejection
    }

    /// The rejection of a refusal: a noted one formats its body, the rest format nothing.
    pub(crate) fn refusal(&self, refusal: Refusal) -> Rejection {
        let mut rejection = self.rejection(refusal.reason);
        if let Some(note) = refusal.note {
            rejection.body = noted_body(refusal.reason, &note);
            rejection.note = Some(note);
        }
        rejection
    }
}

/// The `WWW-Authenticate` value for a reason in a realm (none for 503, nor where another
/// token would not help: a refused cross-site request, a restriction, a step-up).
pub(crate) fn challenge(realm: &str, reason: Reason) -> Option<HeaderValue> {
    if matches!(
        reason,
        Reason::StoreUnavailable
            | Reason::CsrfRejected
            | Reason::Restricted
            | Reason::StepUpRequired
    ) {
        return None;
    }
    // Only printable ASCII fits a header; quotes and backslashes would break the
    // quoted-string.
    let realm: String = realm
        .chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .collect();
    let text = match reason.challenge_error() {
        None => format!(r#"Bearer realm="{realm}""#),
        Some(e) => format!(
            r#"Bearer realm="{realm}", error="{e}", error_description="{}""#,
            reason.message()
        ),
    };
    HeaderValue::from_str(&text).ok()
}

/// `{"error": "restricted", "message", "scope", "level", "until"` (Unix seconds, rounded
/// up), and the note's fields if it has one`}`.
fn restricted_body(r: &Restriction) -> Bytes {
    let reason = Reason::Restricted;
    // A scope and a note's code are `[a-z0-9_.-]`: only the note's message is escaped.
    let mut text = format!(
        r#"{{"error":"{}","message":"{}","scope":"{}","level":{},"until":{}"#,
        reason.code(),
        reason.message(),
        r.scope,
        r.level.get(),
        r.until_ms.div_ceil(1000),
    );
    if let Some(note) = &r.note {
        text.push_str(&note_fields(note));
    }
    text.push('}');
    Bytes::from(text)
}

/// `,"note":"…"` and, if the note has one, `,"note_message":"…"`.
fn note_fields(note: &Note) -> String {
    // A note's code is `[a-z0-9_.-]`; its message has no control characters, so quotes
    // and backslashes are all there is to escape.
    match note.message() {
        None => format!(r#","note":"{}""#, note.code()),
        Some(m) => format!(
            r#","note":"{}","note_message":"{}""#,
            note.code(),
            m.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    }
}

fn body(reason: Reason) -> Bytes {
    json_body(reason.code(), reason.message())
}

/// A refused request: the reason, and the RFC 6750 response that tells the client why.
///
/// The default response is the reason's status, a `WWW-Authenticate: Bearer …` challenge
/// (none for 503), `Cache-Control: no-store`, and the JSON body
/// `{"error": "<code>", "message": "<text>"}` — with `"note"` (and `"note_message"`) when
/// the revocation was given a [`Note`]. A handle built with
/// [`AuthBuilder::on_rejection`](crate::AuthBuilder::on_rejection) answers its own
/// rejections with that function instead, wherever they surface: the layer, the actix
/// middleware, the extractors and [`Error::Rejected`](crate::Error::Rejected). Map it to
/// your own error type with [`Rejection::reason`], or to a response with
/// [`Rejection::into_http`] (with the `axum` feature it is also `IntoResponse`).
///
/// ```
/// use kickout::{Reason, Rejection};
///
/// let rejection = Rejection::new(Reason::KickedOut);
/// let response: http::Response<Vec<u8>> = rejection.into_http();
/// assert_eq!(response.status(), 401);
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     r#"Bearer realm="api", error="invalid_token", error_description="The session was ended by an operator.""#
/// );
/// assert!(String::from_utf8_lossy(response.body()).contains(r#""error":"kicked_out""#));
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    reason: Reason,
    challenge: Option<HeaderValue>,
    body: Bytes,
    note: Option<Note>,
    render: Option<Render>,
    /// What few rejections carry, out of line so every rejection stays small.
    more: Option<Box<More>>,
}

/// What a rejection rarely says beyond its reason and note.
#[derive(Clone, Debug, Default)]
struct More {
    /// What refused a [`Reason::Restricted`] request.
    restriction: Option<Restriction>,
    /// The scope a [`Reason::StepUpRequired`] route needs elevated.
    step_up: Option<Scope>,
    /// `Set-Cookie` values that clear a browser session's cookies: a cookie-borne
    /// token refused with 401, a lone access cookie that is no token (see
    /// [`Cookies`](crate::cookies::Cookies)).
    clear_cookies: Option<Arc<Vec<HeaderValue>>>,
}

/// The realm used when none is configured.
pub(crate) const DEFAULT_REALM: &str = "api";

impl Rejection {
    /// A rejection for `reason`, with the default realm `"api"`.
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            challenge: challenge(DEFAULT_REALM, reason),
            body: body(reason),
            note: None,
            render: None,
            more: None,
        }
    }

    /// The same rejection, answered with `Set-Cookie` headers that clear a browser
    /// session's cookies.
    /// Whether refusing a cookie-borne token so signs the browser out: a 401, or a 400
    /// of an access cookie that is no token (the browser would replay it on every
    /// request); never a 403 (any site could sign a user out) nor a 503 (an outage signs
    /// no one out).
    pub(crate) fn clears_cookies(&self) -> bool {
        matches!(
            self.status(),
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
        )
    }

    pub(crate) fn clearing(mut self, headers: Arc<Vec<HeaderValue>>) -> Self {
        self.more_mut().clear_cookies = Some(headers);
        self
    }

    /// The `Set-Cookie` values its answer carries: those clearing a browser session's
    /// cookies when a cookie-borne token was refused with 401 (or a lone access cookie
    /// with 400: it reads as no token), else none. They are added
    /// to the answer after [`on_rejection`](crate::AuthBuilder::on_rejection), whatever it
    /// returns: a browser must forget a dead session.
    pub fn set_cookies(&self) -> &[HeaderValue] {
        self.more
            .as_ref()
            .and_then(|m| m.clear_cookies.as_deref())
            .map_or(&[], Vec::as_slice)
    }

    fn more_mut(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Why the request was refused.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The note the session's revocation was given, if any.
    pub fn note(&self) -> Option<&Note> {
        self.note.as_ref()
    }

    /// For [`Reason::Restricted`]: the restriction that refused the request (its scope,
    /// level, end and note).
    pub fn restriction(&self) -> Option<&Restriction> {
        self.more.as_ref()?.restriction.as_ref()
    }

    /// The scope a refusal concerns: the restriction's for [`Reason::Restricted`], the
    /// one the route needs elevated for [`Reason::StepUpRequired`] — what a custom
    /// response shape ([`on_rejection`](crate::AuthBuilder::on_rejection)) tells the
    /// client to step up for.
    pub fn scope(&self) -> Option<&Scope> {
        let more = self.more.as_ref()?;
        more.step_up
            .as_ref()
            .or(more.restriction.as_ref().map(|r| &r.scope))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// The `WWW-Authenticate` challenge, if the reason has one.
    pub fn challenge(&self) -> Option<&HeaderValue> {
        self.challenge.as_ref()
    }

    /// The response, in any body type that can be built from bytes: the handle's
    /// [`on_rejection`](crate::AuthBuilder::on_rejection) answer if it has one, else the
    /// default. That function receives the rejection without itself, so calling
    /// `into_http` inside it gives the default.
    pub fn into_http<B: From<Bytes>>(mut self) -> Response<B> {
        let clear = self.more.as_mut().and_then(|m| m.clear_cookies.take());
        let mut response = match self.render.take() {
            Some(Render(render)) => render(self).map(B::from),
            None => self.default_http(),
        };
        for value in clear.iter().flat_map(|c| c.iter()) {
            response.headers_mut().append(SET_COOKIE, value.clone());
        }
        response
    }

    /// The default response.
    fn default_http<B: From<Bytes>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.body));
        *response.status_mut() = self.reason.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // An answer about a token is never cached (RFC 6749 §5.1).
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.reason.message())
    }
}

impl std::error::Error for Rejection {}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Self::new(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_status_and_challenge() {
        for reason in Reason::ALL {
            let res: Response<Vec<u8>> = Rejection::new(reason).into_http();
            assert_eq!(res.status(), reason.status());
            let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(body["error"], reason.code());
            assert_eq!(body["message"], reason.message());
            assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
            let challenge = res.headers().get(WWW_AUTHENTICATE);
            match reason {
                Reason::StoreUnavailable
                | Reason::CsrfRejected
                | Reason::Restricted
                | Reason::StepUpRequired => assert!(challenge.is_none()),
                Reason::MissingToken => assert_eq!(challenge.unwrap(), r#"Bearer realm="api""#),
                Reason::InvalidRequest => assert!(
                    challenge
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .contains(r#"error="invalid_request""#)
                ),

                _ => assert!(
                    challenge
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .contains(r#"error="invalid_token""#)
                ),
            }
        }
    }

    #[test]
    fn a_noted_body_is_json_whatever_the_message() {
        let note = Note::new("password_changed")
            .unwrap()
            .with_message(r#"a "quoted" \ text: é"#)
            .unwrap();
        let r = Responses::new("api", None).refusal(Refusal::new(Reason::KickedOut, Some(note)));
        assert_eq!(r.note().map(Note::code), Some("password_changed"));
        let res: Response<Vec<u8>> = r.into_http();
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["error"], "kicked_out");
        assert_eq!(body["note"], "password_changed");
        assert_eq!(body["note_message"], r#"a "quoted" \ text: é"#);
        let plain = Responses::new("api", None).refusal(Reason::Replaced.into());
        let res: Response<Vec<u8>> = plain.into_http();
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert!(body.get("note").is_none());
    }

    #[test]
    fn tables_are_indexed_by_reason() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), Some(i), "{reason:?}");
        }
    }

    #[test]
    fn realm_cannot_break_the_header() {
        let r = Responses::new("my \"realm\"\\\n", None).rejection(Reason::MissingToken);
        let res: Response<Vec<u8>> = r.into_http();
        assert_eq!(
            res.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="my realm""#
        );
    }
}
