//! Signing in and checking tokens: the handle's constructors, logins, the check every
//! request makes, and the renewals that keep a session going (refresh; `renew` in
//! session mode).

use super::check_name;
use super::{Auth, AuthBuilder, Login, LoginOptions, OwnRefresh, RefreshToken};
use crate::clock::system_time;
use crate::error::Error;
use crate::events::EventKind;
use crate::identity::Identity;
use crate::limits::{MAX_TOKEN_LEN, lifetime_ms};
use crate::mode::{Issued, LoginRequest, Mode, RefreshPlan, SessionMode};
use crate::rejection::{Reason, Refusal, Rejection};
use crate::store::{Admission, EndReason, Ends, Rotated, SessionInfo, SessionStore, Store};

impl<S: Store> Auth<S> {
    /// A session-mode handle with default settings over `store`.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder over `store`, in session mode until [`AuthBuilder::jwt`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use kickout::{Auth, LoginRule, store::MemoryStore};
    ///
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .ttl(Duration::from_secs(8 * 3600))
    ///     .idle_timeout(Duration::from_secs(30 * 60))
    ///     .login_rule(LoginRule::one_per_device())
    ///     .build();
    /// # let _ = auth;
    /// ```
    pub fn builder(store: S) -> AuthBuilder<S> {
        AuthBuilder::new(store)
    }
}

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// Logs a user in on a device, under the handle's concurrent-login rule.
    ///
    /// Fails with [`Error::Banned`] while the user is banned, [`Error::SessionLimit`] when
    /// a refusing rule is full, [`Error::InvalidInput`] for an empty, over-long (more than
    /// 128 bytes) or control-character user id or device.
    pub async fn login(&self, user_id: &str, device: &str) -> Result<Login, Error> {
        self.login_with(user_id, device, LoginOptions::new()).await
    }

    /// [`Auth::login`] with per-login overrides.
    pub async fn login_with(
        &self,
        user_id: &str,
        device: &str,
        options: LoginOptions,
    ) -> Result<Login, Error> {
        let request = self.login_request(user_id, device, &options)?;
        let admission = self.inner.mode.login(&self.inner.store, request).await?;
        self.admitted(request, admission)
    }

    /// The login as the mode gets it: names checked, settings and options applied.
    pub(crate) fn login_request<'a>(
        &'a self,
        user_id: &'a str,
        device: &'a str,
        options: &'a LoginOptions,
    ) -> Result<LoginRequest<'a>, Error> {
        check_name("user_id", user_id)?;
        check_name("device", device)?;
        let settings = self.settings();
        // The login's own settings, else its class's, else the handle's.
        let class = settings.classes.class_of(device);
        let rule = options.rule.or(settings.classes.rule(class));
        let ttl_ms = options.ttl.map(lifetime_ms);
        let idle = options.idle.or(settings.classes.idle(class));
        Ok(LoginRequest {
            user_id,
            device,
            class,
            idle,
            meta: options.checked_meta()?,
            rule: rule.unwrap_or(settings.rule),
            ttl_ms: ttl_ms
                .or(settings.classes.ttl_ms(class))
                .unwrap_or(settings.ttl_ms),
            refresh: match options.refresh {
                Some(OwnRefresh::Off) => None,
                Some(OwnRefresh::Cap(ttl_ms)) => Some(ttl_ms),
                None => settings.refresh,
            }
            .map(|ttl_ms| RefreshPlan {
                ttl_ms,
                window_ms: settings.refresh_window_ms,
            }),
            now_ms: self.now_ms(),
        })
    }

    /// Reports what a login did: logs, events and watches for an admitted one, the
    /// error for a refused one.
    pub(crate) fn admitted(
        &self,
        request: LoginRequest<'_>,
        admission: Admission<Issued>,
    ) -> Result<Login, Error> {
        let LoginRequest {
            user_id,
            device,
            now_ms,
            ..
        } = request;
        let issued = match admission {
            Admission::Admitted(issued) => issued,
            Admission::Banned { until_ms } => {
                tracing::info!(user_id, device, "login refused: banned");
                return Err(Error::Banned {
                    until: system_time(until_ms),
                });
            }
            Admission::LimitReached => {
                tracing::info!(user_id, device, "login refused: session limit");
                return Err(Error::SessionLimit);
            }
        };
        tracing::info!(user_id, device, session_id = %issued.session.session_id, replaced = issued.replaced.len(), "login");
        self.emit(now_ms, || EventKind::LoggedIn {
            session: issued.session.clone(),
        });
        self.replaced(&issued.replaced, issued.session.session_id, now_ms);
        Ok(login(issued, now_ms))
    }

    /// Checks a token as the layer does: the identity, or the rejection to answer with.
    /// A token longer than [`MAX_TOKEN_LEN`](crate::limits::MAX_TOKEN_LEN) is
    /// `invalid_token` before any work, as the layer's default source refuses it.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(self.rejection(Reason::InvalidToken));
        }
        let now = self.now_ms();
        let verdict = match self.prepare(token, now) {
            Ok(prepared) => self.check(prepared, now).await,
            Err(reason) => Err(reason.into()),
        };
        verdict.map_err(|refusal| self.refused(refusal, now))
    }

    /// Parses a token as of `now_ms`; refuses what cannot be one of ours without
    /// touching the store.
    pub(crate) fn prepare(&self, token: &str, now_ms: u64) -> Result<M::Token, Reason> {
        self.inner.mode.prepare(token, now_ms)
    }

    /// Starts the store read of a prepared token (renewing the idle deadline). A request
    /// reads the time once, for both steps.
    pub(crate) fn check(&self, token: M::Token, now_ms: u64) -> M::Check {
        self.inner
            .mode
            .check(&self.inner.store, token, true, now_ms)
    }

    /// The same read without renewing the idle deadline: a watch re-checking a session
    /// is no activity of its user.
    pub(crate) fn check_quietly(&self, token: M::Token) -> M::Check {
        self.inner
            .mode
            .check(&self.inner.store, token, false, self.now_ms())
    }

    /// A watch's re-check of the session of `token`, which it last read ends at
    /// `end_ms` ([`ModeImpl::follow`]).
    pub(crate) async fn follow(&self, token: M::Token, end_ms: u64) -> Result<Identity, Refusal> {
        let now_ms = self.now_ms();
        let (mode, store) = (&self.inner.mode, &self.inner.store);
        mode.follow(store, token, end_ms, now_ms).await
    }

    /// The rejection of a refused request; an unavailable store is counted toward the
    /// outage's next log line.
    pub(crate) fn refused(&self, refusal: Refusal, now_ms: u64) -> Rejection {
        if refusal == Reason::StoreUnavailable {
            self.inner.outage.refused(now_ms);
        }
        self.inner.responses.refusal(refusal)
    }

    /// Trades a refresh token for a new pair of the same session (same session id, one
    /// entry in [`Auth::sessions`]), in one atomic store operation; the presented token
    /// is spent. Fails with [`Error::Rejected`]:
    /// - `refresh_reused` when the token was already spent: the whole session ends at
    ///   once, its tokens old and new, on every instance (its watches end, and an
    ///   [`EventKind::RefreshReused`] is sent). Of concurrent presentations of one
    ///   token at most one gets a working pair; there is no grace window for a
    ///   retried request, so a client whose answer was lost logs in again.
    /// - the session's reason when it ended (`kicked_out`, `replaced`, `banned`,
    ///   `invalid_token` after a logout); `token_expired` past the refresh token's
    ///   window, the session's cap or its idle timeout; `invalid_token` for anything
    ///   else, an access token included (refused by its format, before any store work).
    ///
    /// The new access token lives the session's access lifetime, the new refresh token
    /// its window, neither past the cap; the replaced access token stays valid until its
    /// own end (in session mode: or until the next refresh, whichever comes first; a
    /// session keeps one replaced access token).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Login, Error> {
        // Refused by its format before any store work (a refresh token has one length).
        let now = self.now_ms();
        let rotated = self.in_realm(
            self.inner
                .mode
                .refresh(&self.inner.store, refresh_token, now)
                .await,
        )?;
        let refusal = match rotated {
            Rotated::Done(issued) => {
                let session = &issued.session;
                tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, "refresh");
                self.emit(now, || EventKind::Refreshed {
                    session: issued.session.clone(),
                });
                return Ok(login(issued, now));
            }
            Rotated::Unknown => Reason::InvalidToken.into(),
            Rotated::Expired => Reason::TokenExpired.into(),
            // Told as a request with the session's token is: with the revocation's note.
            Rotated::Ended { ended, ban_stands } => {
                Refusal::new(ended.reason.rejection(ban_stands), ended.note)
            }
            Rotated::Reused(Ends { ended, replaced }) => {
                self.announce(&ended, EndReason::RefreshReused, None);
                if let Some(first) = ended.first() {
                    self.replaced(&replaced, first.session_id, now);
                }
                for session in ended {
                    tracing::warn!(user_id = &*session.user_id, session_id = %session.session_id, "a spent refresh token was presented again: session ended");
                    self.emit(now, || EventKind::RefreshReused { session });
                }
                Reason::RefreshReused.into()
            }
        };
        Err(Error::Rejected(self.refused(refusal, now)))
    }

    /// A helper's result with any refusal in it answered in this handle's realm (a mode
    /// refuses malformed tokens before it knows the handle).
    fn in_realm<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| match e {
            Error::Rejected(r) => Error::Rejected(
                self.inner
                    .responses
                    .refusal(Refusal::new(r.reason(), r.note().cloned())),
            ),
            other => other,
        })
    }
}

/// What a login or a refresh hands back.
fn login(issued: Issued, now_ms: u64) -> Login {
    Login {
        token: issued.token,
        token_expires_at_ms: issued.token_expires_at_ms,
        session: issued.session,
        replaced: issued.replaced,
        refresh: issued.refresh.map(|(token, expires_at_ms)| RefreshToken {
            token,
            expires_at_ms,
        }),
        issued_at_ms: now_ms,
    }
}

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
            // Say why, as a request with this token would be told; reading it quietly,
            // since asking is no activity of the session. A token that still opens
            // requests (the access token a refresh replaced) renews nothing.
            None => {
                let now = self.now_ms();
                let why = match self.prepare(token, now) {
                    Ok(token) => self.check_quietly(token).await.err(),
                    Err(reason) => Some(reason.into()),
                };
                Err(Error::Rejected(match why {
                    Some(refusal) => self.refused(refusal, now),
                    None => self.rejection(Reason::InvalidToken),
                }))
            }
        }
    }
}
