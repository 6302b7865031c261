//! Who a request is from: what the layer puts into the request's extensions.

use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use crate::clock::system_time;
use crate::rejection::{Reason, Rejection, Responses};
use crate::restriction::{Elevations, Level, Restriction, Restrictions, Scope};
use crate::store::SessionInfo;
use crate::token::{SessionId, SessionKey};

/// How a checked session can be checked again (by a watch): the token as its mode
/// prepared it. Session mode's key is small and `Copy`; a richer mode shares its own.
#[derive(Clone)]
pub(crate) enum Checked {
    Key(SessionKey),
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    Other(Arc<dyn Any + Send + Sync>),
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: only which kind it was.
        f.write_str(match self {
            Checked::Key(_) => "Key",
            Checked::Other(_) => "Other",
        })
    }
}

/// The authenticated user of a request.
///
/// The layer inserts it into the request's extensions once the token checked out;
/// handlers read it with an extractor (`Identity`, `Option<Identity>` or
/// [`UserId`](crate::UserId) with the `axum` feature) or from a plain tower service with
/// `req.extensions().get::<Identity>()`. Cloning it is cheap.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use kickout::Auth;
///
/// let auth = Auth::new(kickout::store::MemoryStore::new());
/// let login = auth.login("10001", "phone").await?;
/// let me = auth.authenticate(login.token.as_str()).await.unwrap();
/// assert_eq!((me.user_id(), me.device()), ("10001", "phone"));
/// assert_eq!(me.session_id(), login.session.session_id);
/// # Ok::<(), kickout::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Identity {
    // One pointer: the identity is cloned into the handler and moved through every
    // future of the request, so it stays small.
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    session: SessionInfo,
    /// JWT mode: the application's own claims, as JSON text.
    claims: Option<Arc<str>>,
    /// How to check this session again (for watches).
    checked: Option<Checked>,
    /// How the handle that checked it answers refusals: set where a claims extractor
    /// may refuse the identity (JWT mode), or a handler's call refuse a cookie-borne one.
    responses: Option<Arc<Responses>>,
    /// With `responses`, for a token that came in the access cookie: the headers that
    /// clear the browser's cookies, which such a refusal carries as the layer's own.
    clear_cookies: Option<Arc<Vec<HeaderValue>>>,
    /// The user's restrictions as the store read them with the session.
    restrictions: Restrictions,
    /// The session's step-up windows as the store read them.
    elevations: Elevations,
    /// When the session was checked (handle time, Unix ms): what "live" means for the
    /// restrictions it came with.
    checked_at_ms: u64,
    /// When the session goes idle unless a request comes first, as of the check (handle
    /// time, Unix ms): a watch wakes then to ask.
    idle_deadline_ms: Option<u64>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("Identity")
            .field("session", &i.session)
            .field("claims", &i.claims)
            .field("checked", &i.checked)
            .field("restrictions", &i.restrictions)
            .field("elevations", &i.elevations)
            .field("checked_at_ms", &i.checked_at_ms)
            .field("idle_deadline_ms", &i.idle_deadline_ms)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.inner.session == other.inner.session && self.inner.claims == other.inner.claims
    }
}

impl Eq for Identity {}

impl Identity {
    /// A checked session's identity: its claims (JWT mode), how to check it again, and
    /// what guards read, as the store read it at `now_ms`.
    pub(crate) fn of_check(
        (session, claims): (SessionInfo, Option<Arc<str>>),
        checked: Checked,
        (restrictions, elevations): (Restrictions, Elevations),
        idle_deadline_ms: Option<u64>,
        now_ms: u64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                session,
                claims,
                checked: Some(checked),
                responses: None,
                clear_cookies: None,
                restrictions,
                elevations,
                checked_at_ms: now_ms,
                idle_deadline_ms,
            }),
        }
    }

    /// The same identity, its session ending at `end_ms` (a watch that followed the
    /// session past its token's end).
    #[cfg(feature = "jwt")]
    pub(crate) fn ending_at(mut self, end_ms: u64) -> Self {
        Arc::make_mut(&mut self.inner).session.expires_at_ms = end_ms;
        self
    }

    /// When the session goes idle unless a request comes first, if it has an idle
    /// timeout (as of the check).
    pub(crate) fn idle_deadline_ms(&self) -> Option<u64> {
        self.inner.idle_deadline_ms
    }

    /// Refusals of this identity's request answer as `responses` does, clearing the
    /// browser's cookies with `clear` (a cookie-borne token) where a 401 or 400 would.
    pub(crate) fn answer_as(
        &mut self,
        responses: &Arc<Responses>,
        clear: Option<&Arc<Vec<HeaderValue>>>,
    ) {
        let inner = Arc::make_mut(&mut self.inner);
        inner.responses = Some(responses.clone());
        inner.clear_cookies = clear.cloned();
    }

    /// A rejection of this identity's request, as the handle that checked it answers.
    #[cfg_attr(
        not(all(feature = "jwt", any(feature = "axum", feature = "actix"))),
        allow(dead_code)
    )]
    pub(crate) fn rejection(&self, reason: Reason) -> Rejection {
        let rejection = match &self.inner.responses {
            Some(responses) => responses.rejection(reason),
            None => Rejection::new(reason),
        };
        self.answering(rejection)
    }

    /// `rejection` as a refusal of this identity's request: one of a cookie-borne token
    /// also clears the browser's cookies where a 401 or 400 would.
    pub(crate) fn answering(&self, rejection: Rejection) -> Rejection {
        match &self.inner.clear_cookies {
            Some(clear) if rejection.clears_cookies() => rejection.clearing(clear.clone()),
            _ => rejection,
        }
    }

    pub(crate) fn checked(&self) -> Option<&Checked> {
        self.inner.checked.as_ref()
    }

    /// JWT mode: the application's own claims given at login
    /// ([`Auth::login_with_claims`](crate::Auth::login_with_claims)), as JSON text.
    pub fn claims_json(&self) -> Option<&str> {
        self.inner.claims.as_deref()
    }

    /// JWT mode: the application's own claims, deserialized.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn claims<T: serde::de::DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.inner.claims.as_deref().map(serde_json::from_str)
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.inner.session.user_id
    }

    /// The user id, shared.
    pub fn user_id_arc(&self) -> &Arc<str> {
        &self.inner.session.user_id
    }

    /// The device name given at login.
    pub fn device(&self) -> &str {
        &self.inner.session.device
    }

    /// The session's id: what [`Auth::logout_session`](crate::Auth::logout_session) and
    /// [`Auth::kickout_session`](crate::Auth::kickout_session) take.
    pub fn session_id(&self) -> SessionId {
        self.inner.session.session_id
    }

    /// When the session began.
    pub fn issued_at(&self) -> SystemTime {
        self.inner.session.issued_at()
    }

    /// When the session's absolute lifetime ends.
    pub fn expires_at(&self) -> SystemTime {
        self.inner.session.expires_at()
    }

    /// The whole session record.
    pub fn session(&self) -> &SessionInfo {
        &self.inner.session
    }

    /// The user's restrictions that held when the request was checked (read with the
    /// session, in the same store round trip), by scope.
    pub fn restrictions(&self) -> impl Iterator<Item = &Restriction> {
        self.inner.restrictions.live(self.inner.checked_at_ms)
    }

    /// Until when this session is elevated for `scope` (a step-up window
    /// [`Auth::elevate`](crate::Auth::elevate) opened), if a window was open when the
    /// request was checked: what a [`step_up`](crate::Auth::step_up) guard asks.
    pub fn elevated(&self, scope: &Scope) -> Option<SystemTime> {
        self.elevated_until_ms(scope).map(system_time)
    }

    /// The end of this session's window for `scope`, Unix ms, if one was open when the
    /// request was checked.
    pub(crate) fn elevated_until_ms(&self, scope: &Scope) -> Option<u64> {
        self.inner.elevations.open(scope, self.inner.checked_at_ms)
    }

    /// When this session was last elevated, for any scope, if it ever was: how fresh
    /// its last re-authentication is.
    pub fn last_elevated(&self) -> Option<SystemTime> {
        self.inner.elevations.last_at_ms().map(system_time)
    }

    /// The restriction that bars this user from an action of `scope` at `level`, if one
    /// held when the request was checked: what a [`Guard`](crate::Guard) refuses.
    pub fn restricted(&self, scope: &Scope, level: Level) -> Option<&Restriction> {
        self.inner
            .restrictions
            .blocking(scope, level, self.inner.checked_at_ms)
    }
}

/// The authenticated user's id, extracted from the request's [`Identity`] (axum and
/// actix-web extractors).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub Arc<str>);

/// The id itself, for `format!("hello {user}")`.
impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
