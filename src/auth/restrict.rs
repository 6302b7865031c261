//! Restrictions through the handle: what every mode shares, as bans are (the store keeps
//! them per user, [`Store::restrict`]).

use std::sync::Arc;
use std::time::Duration;

use super::{Auth, Noted, check_name, span_ms};
use std::time::SystemTime;

use crate::clock::system_time;
use crate::error::Error;
use crate::events::EventKind;
use crate::identity::Identity;
use crate::mode::Mode;
use crate::note::Note;
use crate::rejection::{Reason, Rejection};
use crate::restriction::{InvalidRestriction, Level, Restriction, Scope};
use crate::store::Store;
use crate::store::{Elevated, Elevation};

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// Restricts `user_id` in `scope` at `level` (1 to 5) for `duration`, replacing any
    /// restriction of that scope; its sessions are not ended. Returns the restriction.
    /// A bad scope, level, a zero duration, or a user already restricted in
    /// [`MAX_RESTRICTIONS`](crate::limits::MAX_RESTRICTIONS) other live scopes is
    /// [`Error::InvalidInput`], with nothing changed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// auth.restrict("10001", "content", 2, Duration::from_secs(86_400)).await?;
    /// let held = auth.restrictions("10001").await?;
    /// assert_eq!((held[0].scope.as_str(), held[0].level.get()), ("content", 2));
    /// assert!(auth.unrestrict("10001", "content").await?);
    /// assert!(auth.restrict("10001", "Content", 1, Duration::from_secs(1)).await.is_err());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn restrict(
        &self,
        user_id: &str,
        scope: &str,
        level: u8,
        duration: Duration,
    ) -> Result<Restriction, Error> {
        self.restrict_noted(user_id, scope, level, duration, None)
            .await
    }

    async fn restrict_noted(
        &self,
        user_id: &str,
        scope: &str,
        level: u8,
        duration: Duration,
        note: Option<&Note>,
    ) -> Result<Restriction, Error> {
        check_name("user_id", user_id)?;
        let scope = Scope::new(scope).map_err(invalid)?;
        let level = Level::new(level).map_err(invalid)?;
        let span = span_ms("duration", duration)?;
        let now = self.now_ms();
        let until_ms = now.saturating_add(span);
        let restriction = Restriction::new(scope, level, until_ms).with_note(note.cloned());
        if !self.store().restrict(user_id, &restriction, now).await? {
            return Err(invalid(InvalidRestriction::TooMany));
        }
        tracing::info!(
            user_id,
            scope = restriction.scope.as_str(),
            level = level.get(),
            until_ms,
            note = note.map(Note::code),
            "restrict"
        );
        self.emit(now, || EventKind::Restricted {
            user_id: Arc::from(user_id),
            restriction: restriction.clone(),
        });
        Ok(restriction)
    }

    /// Lifts the user's restriction of `scope`; `true` if one held. A bad user id or
    /// scope is [`Error::InvalidInput`].
    pub async fn unrestrict(&self, user_id: &str, scope: &str) -> Result<bool, Error> {
        check_name("user_id", user_id)?;
        let scope = Scope::new(scope).map_err(invalid)?;
        let now = self.now_ms();
        let lifted = self.store().unrestrict(user_id, &scope, now).await?;
        if lifted {
            tracing::info!(user_id, scope = scope.as_str(), "unrestrict");
            self.emit(now, || EventKind::Unrestricted {
                user_id: Arc::from(user_id),
                scope,
            });
        }
        Ok(lifted)
    }

    /// Opens a step-up window for `scope` on the session of `identity`, for `window`:
    /// call it after your application checked the user again (a password, a second
    /// factor). Until the window closes, [`step_up`](Auth::step_up) guards of `scope`
    /// let this session's requests through — this session's only, on every instance
    /// from its next request. The window never outlives the session (with refresh
    /// tokens, the refresh token's end), and ends with it: logout, kickout, replacement, ban, a reused
    /// refresh token. A refresh keeps it (the session is the same). Returns the window's
    /// end.
    ///
    /// A bad scope, a zero window or a session with
    /// [`MAX_ELEVATIONS`](crate::limits::MAX_ELEVATIONS) other open windows is
    /// [`Error::InvalidInput`]; a session that ended is [`Error::Rejected`] with the
    /// reason its requests get. Nothing changes then.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let pay = auth.step_up("payment")?;
    /// let login = auth.login("10001", "web").await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// assert_eq!(pay.check(&me).unwrap_err().reason(), Reason::StepUpRequired);
    /// // The password was checked again:
    /// auth.elevate(&me, "payment", Duration::from_secs(300)).await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// assert!(pay.check(&me).is_ok());
    /// assert!(me.last_elevated().is_some());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn elevate(
        &self,
        identity: &Identity,
        scope: &str,
        window: Duration,
    ) -> Result<SystemTime, Error> {
        let scope = Scope::new(scope).map_err(invalid)?;
        let span = span_ms("window", window)?;
        let now = self.now_ms();
        let elevation = Elevation {
            user_id: identity.user_id(),
            session_id: identity.session_id(),
            scope: &scope,
            until_ms: now.saturating_add(span),
        };
        match self.mode().elevate(self.store(), elevation, now).await? {
            Elevated::Until(until_ms) => {
                tracing::info!(
                    user_id = identity.user_id(),
                    session_id = %identity.session_id(),
                    scope = scope.as_str(),
                    until_ms,
                    "elevate"
                );
                self.emit(now, || EventKind::Elevated {
                    session: identity.session().clone(),
                    scope,
                    until_ms,
                });
                Ok(system_time(until_ms))
            }
            Elevated::TooMany => Err(invalid(InvalidRestriction::TooMany)),
            Elevated::NotLive => Err(Error::Rejected(self.why_not_live(identity).await)),
        }
    }

    /// Closes the step-up window for `scope` of the session of `identity` before its end
    /// (Sa-Token's `closeSafe`): after the sensitive action, say, or when the user locks
    /// the session again. Returns whether one was open; every instance refuses the
    /// session's next step-up request of `scope`. A bad scope is
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// auth.elevate(&me, "payment", Duration::from_secs(300)).await?;
    /// assert!(auth.close_elevation(&me, "payment").await?);
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// assert!(auth.step_up("payment")?.check(&me).is_err());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn close_elevation(&self, identity: &Identity, scope: &str) -> Result<bool, Error> {
        let scope = Scope::new(scope).map_err(invalid)?;
        let now = self.now_ms();
        let (user_id, session_id) = (identity.user_id(), identity.session_id());
        let closed = self
            .mode()
            .close_elevation(self.store(), user_id, session_id, &scope, now)
            .await?;
        if closed {
            tracing::info!(user_id, %session_id, scope = scope.as_str(), "close elevation");
        }
        Ok(closed)
    }

    /// Why the session of `identity` no longer opens requests, as its requests are told.
    async fn why_not_live(&self, identity: &Identity) -> Rejection {
        let refusal = match M::token_of(identity) {
            Some(token) => match self.check_quietly(token).await {
                Err(refusal) => refusal,
                // Live again by the store's read (another instance's clock): not ours.
                Ok(_) => Reason::InvalidToken.into(),
            },
            None => Reason::InvalidToken.into(),
        };
        identity.answering(self.refused(refusal, self.now_ms()))
    }

    /// The user's live restrictions, by scope. A bad user id is [`Error::InvalidInput`].
    pub async fn restrictions(&self, user_id: &str) -> Result<Vec<Restriction>, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        let held = self.store().restrictions(user_id, now).await?;
        Ok(held.live(now).cloned().collect())
    }
}

impl<S: Store, M: Mode<S>> Noted<'_, S, M> {
    /// [`Auth::restrict`], with the note (a refused action says it).
    pub async fn restrict(
        &self,
        user_id: &str,
        scope: &str,
        level: u8,
        duration: Duration,
    ) -> Result<Restriction, Error> {
        self.auth
            .restrict_noted(user_id, scope, level, duration, self.note.as_ref())
            .await
    }
}

/// A restriction's bad input as the helpers' error.
pub(crate) fn invalid(e: InvalidRestriction) -> Error {
    let field = match e {
        InvalidRestriction::Scope => "scope",
        InvalidRestriction::Level => "level",
        _ => "scopes",
    };
    Error::InvalidInput { field }
}
