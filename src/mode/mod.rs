//! The two ways a token is made and checked: [`SessionMode`] (opaque tokens naming
//! store records) and `jwt::Jwt` (signed tokens with a revocation state per user,
//! feature `jwt`).
//!
//! The mode is a type parameter of [`Auth`](crate::Auth), chosen by the builder
//! ([`AuthBuilder::jwt`](crate::AuthBuilder::jwt) switches to JWT mode), so the handle
//! never asks which mode it runs: each mode owns its login, validation, ends, ban,
//! listing and refresh (and session mode its renewal), over the store contract of its mode
//! ([`SessionStore`](crate::store::SessionStore), `JwtStore`). The handle keeps what
//! both share: the clock, the default rule, the responses, events and watches.

#[cfg(feature = "jwt")]
pub(crate) mod jwt;
pub(crate) mod session;

pub use session::SessionMode;

use crate::store::StoreError;

/// A login mode over store `S`: [`SessionMode`] or `jwt::Jwt` (feature `jwt`).
///
/// Sealed: the crate's two modes are the only ones. It appears in bounds of code that is
/// generic over the mode, as in `fn app<S, M: Mode<S>>(auth: Auth<S, M>)`.
pub trait Mode<S>: sealed::ModeImpl<S> {}

impl<S, M: sealed::ModeImpl<S>> Mode<S> for M {}

pub(crate) use sealed::{EndScope, Issued, LoginRequest, ModeImpl, RefreshPlan};

// A sealed trait: public so it can bound `Mode`, in a private module so no one else
// can name or implement it.
#[allow(unreachable_pub)]
mod sealed {
    use std::future::Future;

    use crate::error::Error;
    use crate::identity::Identity;
    use crate::note::Note;
    use crate::policy::LoginRule;
    use crate::rejection::{Reason, Refusal};
    use crate::store::{
        Admission, Elevated, Elevation, EndReason, Ends, NewRefresh, Page, PageRequest, Rotated,
        SessionEntry, SessionInfo, SessionMeta, StoreError,
    };
    use crate::token::{RefreshKey, SessionId, Token};

    /// A login, with the handle's settings and the per-login options applied.
    #[derive(Clone, Copy, Debug)]
    pub struct LoginRequest<'a> {
        pub user_id: &'a str,
        pub device: &'a str,
        /// The device's class (its name unless the handle maps it).
        pub class: &'a str,
        /// The session's own idle timeout, else the mode's.
        pub idle: Option<crate::policy::OwnIdle>,
        pub meta: &'a SessionMeta,
        pub rule: LoginRule,
        pub ttl_ms: u64,
        /// Refresh tokens for this session, if it gets them.
        pub refresh: Option<RefreshPlan>,
        pub now_ms: u64,
    }

    /// A session's refresh tokens: its cap from login, and each refresh token's window.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RefreshPlan {
        pub ttl_ms: u64,
        pub window_ms: Option<u64>,
    }

    impl RefreshPlan {
        /// A login's refresh token under this plan, in either mode: the token, what the
        /// store records of it, and the end of the login's access token.
        pub fn issue(
            self,
            id: SessionId,
            access_ttl_ms: u64,
            now_ms: u64,
        ) -> Result<(Token, NewRefresh, u64), Error> {
            let cap_ms = now_ms.saturating_add(self.ttl_ms);
            let (access, until) = NewRefresh::ends(access_ttl_ms, self.window_ms, cap_ms, now_ms);
            let (token, key) = RefreshKey::generate_for(id).map_err(super::random)?;
            let new = NewRefresh {
                digest: *key.digest(),
                chain: *key.chain(),
                expires_at_ms: until,
                cap_ms,
                window_ms: self.window_ms,
                access_ttl_ms,
            };
            Ok((token, new, access))
        }
    }

    /// An admitted login (or a refresh): the token and its end, its session, the
    /// sessions it replaced, and the refresh token with its end.
    #[derive(Debug)]
    pub struct Issued {
        pub token: Token,
        pub token_expires_at_ms: u64,
        pub session: SessionInfo,
        pub replaced: Vec<SessionInfo>,
        pub refresh: Option<(Token, u64)>,
    }

    /// Which sessions an end reaches; each mode maps it to its store's target in one
    /// place. Its `Debug` never shows a token.
    #[derive(Clone, Copy)]
    pub enum EndScope<'a> {
        /// The session of this token (a logout); nothing for a token not ours.
        Token(&'a str),
        /// One session by id, whoever's (an operator's call).
        Session(SessionId),
        /// One session by id, only if it is `user_id`'s.
        Own {
            user_id: &'a str,
            session_id: SessionId,
        },
        /// Every session of a user, or of one device of theirs.
        User {
            user_id: &'a str,
            device: Option<&'a str>,
        },
        /// Every session of a user but `keep`, atomically.
        Others { user_id: &'a str, keep: SessionId },
    }

    impl std::fmt::Debug for EndScope<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                EndScope::Token(_) => f.write_str("Token(<redacted>)"),
                EndScope::Session(id) => f.debug_tuple("Session").field(id).finish(),
                EndScope::Own {
                    user_id,
                    session_id,
                } => f
                    .debug_struct("Own")
                    .field("user_id", user_id)
                    .field("session_id", session_id)
                    .finish(),
                EndScope::User { user_id, device } => f
                    .debug_struct("User")
                    .field("user_id", user_id)
                    .field("device", device)
                    .finish(),
                EndScope::Others { user_id, keep } => f
                    .debug_struct("Others")
                    .field("user_id", user_id)
                    .field("keep", keep)
                    .finish(),
            }
        }
    }

    /// What a mode does; see [`Mode`](super::Mode).
    pub trait ModeImpl<S>: Send + Sync + 'static {
        /// Whether identities carry the application's claims, whose extractor may refuse
        /// them and so must answer as the handle does.
        const CLAIMS: bool = false;

        /// A token that passed the synchronous checks (parse, signature): what a store
        /// read checks, and what a watch re-checks.
        type Token: Clone + Send + Sync + 'static;

        /// The store read of a token, then the verdict. `Unpin`, so the layer polls it
        /// in place and holds it inline.
        type Check: Future<Output = Result<Identity, Refusal>> + Send + Unpin + 'static;

        /// Parses (and verifies) a token; refuses what cannot be ours without the store.
        fn prepare(&self, token: &str, now_ms: u64) -> Result<Self::Token, Reason>;

        /// Starts the store read; `touch` renews an idle deadline (a request does, a
        /// watch's re-check does not).
        fn check(&self, store: &S, token: Self::Token, touch: bool, now_ms: u64) -> Self::Check;

        /// The token a checked identity came with, to check it again.
        fn token_of(identity: &Identity) -> Option<Self::Token>;

        /// A watch's re-check: the session of `token` as it stands now, followed across
        /// the refreshes that replace its tokens, `end_ms` the session's end as the
        /// watch last read it. The session's identity (no touch), refused only for
        /// what ends the session (not for its current access token's end), and
        /// carrying the session's end (in JWT mode at least the one it was told: an
        /// end only moves on).
        fn follow(
            &self,
            store: &S,
            token: Self::Token,
            end_ms: u64,
            now_ms: u64,
        ) -> impl Future<Output = Result<Identity, Refusal>> + Send;

        fn login(
            &self,
            store: &S,
            login: LoginRequest<'_>,
        ) -> impl Future<Output = Result<Admission<Issued>, Error>> + Send;

        /// Ends the sessions of `scope`; what ended (live by this handle's clock and
        /// leeway), and what a bound replaced along the way.
        fn end(
            &self,
            store: &S,
            scope: EndScope<'_>,
            reason: EndReason,
            note: Option<&Note>,
            now_ms: u64,
        ) -> impl Future<Output = Result<Ends, StoreError>> + Send;

        fn ban(
            &self,
            store: &S,
            user_id: &str,
            until_ms: u64,
            note: Option<&Note>,
            now_ms: u64,
        ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

        fn sessions(
            &self,
            store: &S,
            user_id: &str,
            now_ms: u64,
        ) -> impl Future<Output = Result<Vec<SessionEntry>, StoreError>> + Send;

        /// Closes a session's step-up window early; whether one was open.
        fn close_elevation(
            &self,
            store: &S,
            user_id: &str,
            session_id: SessionId,
            scope: &crate::restriction::Scope,
            now_ms: u64,
        ) -> impl Future<Output = Result<bool, StoreError>> + Send;

        /// Opens a step-up window for a live session.
        fn elevate(
            &self,
            store: &S,
            elevation: Elevation<'_>,
            now_ms: u64,
        ) -> impl Future<Output = Result<Elevated, StoreError>> + Send;

        /// A page of the directory of every user's live sessions.
        fn online(
            &self,
            store: &S,
            page: PageRequest<'_>,
            now_ms: u64,
        ) -> impl Future<Output = Result<Page, StoreError>> + Send;

        /// Spends a refresh token (refused by its format before any store work): the
        /// new pair of the same session, or why not.
        fn refresh(
            &self,
            store: &S,
            token: &str,
            now_ms: u64,
        ) -> impl Future<Output = Result<Rotated<Issued>, Error>> + Send;
    }
}

/// The random source failed.
pub(crate) fn random(e: getrandom::Error) -> crate::error::Error {
    crate::error::Error::Internal(e.to_string())
}

/// A store that failed a request's read: the request is refused, never let through.
/// (The handle logs the outage once per interval.)
pub(crate) fn unavailable(error: &StoreError) -> crate::rejection::Reason {
    tracing::debug!(%error, "session store unavailable; request refused");
    crate::rejection::Reason::StoreUnavailable
}

#[cfg(test)]
mod tests {
    use super::EndScope;

    #[test]
    fn an_end_scope_never_shows_its_token() {
        let token = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj";
        let shown = format!("{:?}", EndScope::Token(token));
        assert!(!shown.contains(token), "{shown}");
        assert_eq!(shown, "Token(<redacted>)");
    }
}
