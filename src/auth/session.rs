//! Session mode's entry points on the handle: renewing a session's lifetime, which a
//! signed token cannot have.

use super::Auth;
use crate::error::Error;
use crate::events::EventKind;
use crate::mode::SessionMode;
use crate::rejection::Reason;
use crate::store::{SessionInfo, SessionStore};

impl<S: SessionStore> Auth<S, SessionMode> {
    /// Gives the session of `token` a fresh absolute lifetime from now — the one its
    /// login gave it: the login's own [`ttl`](crate::LoginOptions::ttl), else its device
    /// class's, else the handle's — and a fresh idle deadline; fails with
    /// [`Error::Rejected`] if it is not live. A refresh session's access token moves, never past its cap. Session mode
    /// only: a signed expiry cannot move, so JWT mode's handle has no `renew`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let renewed = auth.renew(login.token.as_str()).await?;
    /// assert_eq!(renewed.session_id, login.session.session_id);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn renew(&self, token: &str) -> Result<SessionInfo, Error> {
        let now = self.now_ms();
        let ttl_ms = self.settings().ttl_ms;
        match self.in_realm(
            self.inner
                .mode
                .renew(&self.inner.store, token, ttl_ms, now)
                .await,
        )? {
            Some(session) => {
                tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, "renew");
                self.emit(now, || EventKind::Renewed {
                    session: session.clone(),
                });
                Ok(session)
            }
            // Say why, as a request with this token would be told.
            None => Err(Error::Rejected(match self.authenticate(token).await {
                Err(rejection) => rejection,
                Ok(_) => self.rejection(Reason::InvalidToken),
            })),
        }
    }
}
