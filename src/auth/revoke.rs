//! Signing out, kicking out and banning, with or without a note: every end of a
//! session the handle offers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Auth, check_name, span_ms};
use crate::clock::system_time;
use crate::error::Error;
use crate::events::EventKind;
use crate::identity::Identity;
use crate::limits::{MAX_LEEWAY_MS, MAX_TOKEN_LEN};
use crate::mode::{EndScope, Mode, SessionMode};
use crate::note::Note;
use crate::store::{EndReason, Ends, Store};
use crate::token::SessionId;

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// Logs out the session of `token`; `true` if a live session ended, `false` if the
    /// token was unknown, malformed or already ended. The token then answers
    /// `invalid_token`. A token longer than [`MAX_TOKEN_LEN`] is none of ours: `false`
    /// before any work, as [`authenticate`](Auth::authenticate) refuses it. So is a
    /// refresh token, which is no access token (the access token of the same session
    /// ends both).
    pub async fn logout(&self, token: &str) -> Result<bool, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(false);
        }
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let ended = self.end(EndScope::Token(token), reason, None, now).await?;
        Ok(self.ended_one(ended, None, reason, None, now))
    }

    /// Ends one of the caller's own sessions by id — its current one
    /// (`identity.session_id()`: "sign out") or another ("sign out that device"): its
    /// tokens then answer `invalid_token`. `false` unless it was a live session of the
    /// identity's user: an id from a request never ends another user's session. An
    /// operator ends any session with [`Auth::kickout_session`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let phone = auth.login("10001", "phone").await?;
    /// let laptop = auth.login("10001", "laptop").await?;
    /// let stranger = auth.login("10002", "web").await?;
    /// let me = auth.authenticate(laptop.token.as_str()).await.unwrap();
    /// let them = auth.authenticate(stranger.token.as_str()).await.unwrap();
    /// assert!(!auth.logout_session(&them, phone.session.session_id).await?, "not theirs");
    /// assert!(auth.logout_session(&me, phone.session.session_id).await?);
    /// assert!(auth.logout_session(&me, me.session_id()).await?, "and sign out");
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn logout_session(
        &self,
        identity: &Identity,
        session_id: SessionId,
    ) -> Result<bool, Error> {
        self.end_own(identity, session_id, None).await
    }

    async fn end_own(
        &self,
        identity: &Identity,
        session_id: SessionId,
        note: Option<&Note>,
    ) -> Result<bool, Error> {
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let scope = EndScope::Own {
            user_id: identity.user_id(),
            session_id,
        };
        let ends = self.end(scope, reason, note, now).await?;
        Ok(self.ended_one(ends, Some(session_id), reason, note, now))
    }

    /// Ends every other live session of the identity's user in one atomic store
    /// operation ("sign out everywhere else", after a password change, say); returns how
    /// many. The identity's own session keeps working; the others answer
    /// `invalid_token`. A login that lands before it is ended, one after it is kept. It
    /// ends this handle's mode's sessions, as [`kickout`](Self::kickout) does.
    /// (JWT mode ends each other token on its own; should that pass the user's bound of
    /// revoked tokens, [`MAX_REVOKED`](crate::limits::MAX_REVOKED), one
    /// generation bump replaces them all, the identity's included: it fails closed.)
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let laptop = auth.login("10001", "laptop").await?;
    /// auth.login("10001", "phone").await?;
    /// auth.login("10001", "tablet").await?;
    /// let me = auth.authenticate(laptop.token.as_str()).await.unwrap();
    /// assert_eq!(auth.logout_others(&me).await?, 2);
    /// assert!(auth.authenticate(laptop.token.as_str()).await.is_ok());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn logout_others(&self, identity: &Identity) -> Result<usize, Error> {
        self.end_others(identity, None).await
    }

    async fn end_others(&self, identity: &Identity, note: Option<&Note>) -> Result<usize, Error> {
        let now = self.now_ms();
        let reason = EndReason::LoggedOut;
        let user_id = identity.user_id();
        let keep = identity.session_id();
        let scope = EndScope::Others { user_id, keep };
        let Ends { ended, replaced } = self.end(scope, reason, note, now).await?;
        self.announce(&ended, reason, note);
        self.replaced(&replaced, keep, now);
        tracing::info!(
            user_id,
            ended = ended.len(),
            note = note.map(Note::code),
            "logout of the other sessions"
        );
        let count = ended.len();
        for session in ended {
            self.emit(now, || EventKind::LoggedOut {
                session,
                note: note.cloned(),
            });
        }
        Ok(count)
    }

    /// This handle, giving the revocations it makes `note`: the refused tokens then say
    /// it (`"note"` in the JSON body), watches yield it, events carry it. It takes an
    /// `Option<Note>` too (`None`: as the handle itself), for a note that is optional.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, Note, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let note = Note::new("password_changed")?.with_message("Please sign in again.")?;
    /// auth.with_note(note).kickout("10001").await?;
    /// let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
    /// assert_eq!(refused.reason(), Reason::KickedOut);
    /// assert_eq!(refused.note().unwrap().code(), "password_changed");
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_note(&self, note: impl Into<Option<Note>>) -> Noted<'_, S, M> {
        Noted {
            auth: self,
            note: note.into(),
        }
    }

    /// Ends one session by id as an operator: its token answers `kicked_out`.
    pub async fn kickout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.end_session(session_id, EndReason::KickedOut, None)
            .await
    }

    async fn end_session(
        &self,
        id: SessionId,
        reason: EndReason,
        note: Option<&Note>,
    ) -> Result<bool, Error> {
        let now = self.now_ms();
        let ends = self.end(EndScope::Session(id), reason, note, now).await?;
        Ok(self.ended_one(ends, Some(id), reason, note, now))
    }

    /// The mode's end of `scope` on this handle's store.
    async fn end(
        &self,
        scope: EndScope<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now: u64,
    ) -> Result<Ends, Error> {
        Ok(self
            .inner
            .mode
            .end(&self.inner.store, scope, reason, note, now)
            .await?)
    }

    /// Reports the end of one session (a logout or a kickout by id, of `target` if the
    /// caller knows it), and of those a bound replaced with it.
    fn ended_one(
        &self,
        ends: Ends,
        target: Option<SessionId>,
        reason: EndReason,
        note: Option<&Note>,
        now: u64,
    ) -> bool {
        let Ends {
            mut ended,
            replaced,
        } = ends;
        self.announce(&ended, reason, note);
        let session = ended.pop();
        // An end that found nothing live (an idle token) may still cross a bound: what
        // it replaced is over here at once, and told.
        match session.as_ref().map(|s| s.session_id).or(target) {
            Some(by) => self.replaced(&replaced, by, now),
            None => self.announce(&replaced, EndReason::Replaced, None),
        }
        let Some(session) = session else {
            return false;
        };
        tracing::info!(user_id = &*session.user_id, session_id = %session.session_id, ?reason, note = note.map(Note::code), "session ended");
        self.emit(now, || match reason {
            EndReason::LoggedOut => EventKind::LoggedOut {
                session: session.clone(),
                note: note.cloned(),
            },
            _ => EventKind::KickedOut {
                user_id: session.user_id.clone(),
                sessions: vec![session.clone()],
                note: note.cloned(),
            },
        });
        true
    }

    /// Ends every live session of a user; returns how many. Their tokens answer
    /// `kicked_out`, also after the user logged in again. In JWT mode this is one store
    /// write whatever the number of tokens. It ends this handle's mode's sessions (a
    /// [`ban`](Self::ban) ends both modes').
    pub async fn kickout(&self, user_id: &str) -> Result<usize, Error> {
        self.kick(user_id, None, None).await
    }

    /// Ends the user's live sessions on one device; returns how many. An invalid user id
    /// or device name (empty, over 128 bytes, control characters) is
    /// [`Error::InvalidInput`], as at login.
    pub async fn kickout_device(&self, user_id: &str, device: &str) -> Result<usize, Error> {
        self.kick(user_id, Some(device), None).await
    }

    async fn kick(
        &self,
        user_id: &str,
        device: Option<&str>,
        note: Option<&Note>,
    ) -> Result<usize, Error> {
        // An empty or control-character name is no user or device: refused, so no store
        // reads it as "every device" or as nothing.
        check_name("user_id", user_id)?;
        if let Some(device) = device {
            check_name("device", device)?;
        }
        let now = self.now_ms();
        // A generation bump, or tombstones: nothing is replaced along the way.
        let scope = EndScope::User { user_id, device };
        let Ends { ended, .. } = self.end(scope, EndReason::KickedOut, note, now).await?;
        self.announce(&ended, EndReason::KickedOut, note);
        tracing::info!(
            user_id,
            device,
            kicked = ended.len(),
            note = note.map(Note::code),
            "kickout"
        );
        let count = ended.len();
        if count > 0 {
            self.emit(now, || EventKind::KickedOut {
                user_id: Arc::from(user_id),
                sessions: ended,
                note: note.cloned(),
            });
        }
        Ok(count)
    }

    /// Ends every live session of every user (an incident switch): once it returns,
    /// every session live before it answers `kicked_out` on every instance and its
    /// watches end — tokens a JWT leeway or a slower clock still accepts included;
    /// logins made after it work. It walks the directory and kicks each
    /// user out ([`Auth::kickout`]: one write per user, whatever their number of
    /// sessions, in either mode); returns how many sessions ended. "Before it" is
    /// before the call: a login made while the switch runs may survive it (its user's
    /// turn may have passed) — stop logins first if that matters. It ends this handle's
    /// mode's sessions: on a store a session-mode and a JWT-mode handle share, call it
    /// on both.
    ///
    /// An error (the first met) says the switch is not complete: a user whose kickout
    /// failed, or a directory page that did not read, and the users after it, may live
    /// on. It still kicks out every user it could reach; call it again.
    pub async fn kickout_all(&self) -> Result<usize, Error> {
        self.kick_all(None).await
    }

    async fn kick_all(&self, note: Option<&Note>) -> Result<usize, Error> {
        let mut users: Vec<Arc<str>> = Vec::new();
        // Also the users whose sessions ended by this clock within the longest leeway: a
        // verifier's leeway, or an instance whose clock is behind, may still accept them.
        let walked = self
            .walk(MAX_LEEWAY_MS, |page| {
                users.extend(page.into_iter().map(|s| s.info.user_id))
            })
            .await;
        users.sort_unstable();
        users.dedup();
        // An incident switch does what it can: one failure stops no one else's kickout.
        let (mut kicked, mut failed) = (0, walked.err());
        for user in users {
            match self.kick(&user, None, note).await {
                Ok(n) => kicked += n,
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            None => {
                tracing::warn!(kicked, "kickout of every session");
                Ok(kicked)
            }
            Some(error) => {
                tracing::error!(kicked, %error, "kickout of every session incomplete");
                Err(error)
            }
        }
    }

    /// Bans a user for `duration`: ends every live session (their tokens answer `banned`
    /// while the ban lasts) and refuses logins until it ends. Returns how many sessions
    /// ended. A second ban replaces the first. Bans last at most ten years; a duration
    /// under a millisecond bans nothing: `InvalidInput` (`"duration"`), before any store
    /// work. (To end a ban, [`unban`](Self::unban).)
    pub async fn ban(&self, user_id: &str, duration: Duration) -> Result<usize, Error> {
        self.ban_noted(user_id, duration, None).await
    }

    async fn ban_noted(
        &self,
        user_id: &str,
        duration: Duration,
        note: Option<&Note>,
    ) -> Result<usize, Error> {
        check_name("user_id", user_id)?;
        let span = span_ms("duration", duration)?;
        let now = self.now_ms();
        let until_ms = now.saturating_add(span);
        let ended = self
            .inner
            .mode
            .ban(&self.inner.store, user_id, until_ms, note, now)
            .await?;
        self.announce(&ended, EndReason::Banned, note);
        tracing::info!(
            user_id,
            until_ms,
            kicked = ended.len(),
            note = note.map(Note::code),
            "ban"
        );
        let count = ended.len();
        self.emit(now, || EventKind::Banned {
            user_id: Arc::from(user_id),
            until_ms,
            sessions: ended,
            note: note.cloned(),
        });
        Ok(count)
    }

    /// Lifts a ban; `true` if one stood. Tokens ended by the ban stay refused
    /// (`kicked_out`). An invalid user id is [`Error::InvalidInput`].
    pub async fn unban(&self, user_id: &str) -> Result<bool, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        let lifted = self.store().unban(user_id, now).await?;
        if lifted {
            tracing::info!(user_id, "unban");
            self.emit(now, || EventKind::Unbanned {
                user_id: Arc::from(user_id),
            });
        }
        Ok(lifted)
    }

    /// When the user's ban ends, if one stands. An invalid user id is
    /// [`Error::InvalidInput`].
    pub async fn banned_until(&self, user_id: &str) -> Result<Option<SystemTime>, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        Ok(self
            .store()
            .banned_until(user_id, now)
            .await?
            .map(system_time))
    }
}

/// A handle whose revocations carry a [`Note`]: made by [`Auth::with_note`].
///
/// Each method is the handle's method of the same name; the sessions it ends keep the
/// note in their tombstones.
#[derive(Debug)]
pub struct Noted<'a, S, M = SessionMode> {
    pub(super) auth: &'a Auth<S, M>,
    pub(super) note: Option<Note>,
}

impl<S: Store, M: Mode<S>> Noted<'_, S, M> {
    /// [`Auth::logout_session`], with the note: "sign out that device" saying why (say,
    /// `signed_out_remotely`); its tokens answer `invalid_token` with it.
    pub async fn logout_session(
        &self,
        identity: &Identity,
        session_id: SessionId,
    ) -> Result<bool, Error> {
        self.auth
            .end_own(identity, session_id, self.note.as_ref())
            .await
    }

    /// [`Auth::kickout`], with the note.
    pub async fn kickout(&self, user_id: &str) -> Result<usize, Error> {
        self.auth.kick(user_id, None, self.note.as_ref()).await
    }

    /// [`Auth::kickout_device`], with the note.
    pub async fn kickout_device(&self, user_id: &str, device: &str) -> Result<usize, Error> {
        self.auth
            .kick(user_id, Some(device), self.note.as_ref())
            .await
    }

    /// [`Auth::kickout_session`], with the note.
    pub async fn kickout_session(&self, session_id: SessionId) -> Result<bool, Error> {
        self.auth
            .end_session(session_id, EndReason::KickedOut, self.note.as_ref())
            .await
    }

    /// [`Auth::ban`], with the note.
    pub async fn ban(&self, user_id: &str, duration: Duration) -> Result<usize, Error> {
        self.auth
            .ban_noted(user_id, duration, self.note.as_ref())
            .await
    }

    /// [`Auth::kickout_all`], with the note.
    pub async fn kickout_all(&self) -> Result<usize, Error> {
        self.auth.kick_all(self.note.as_ref()).await
    }

    /// [`Auth::logout_others`], with the note: the other sessions answer
    /// `invalid_token` with it (say, `signed_out_elsewhere`).
    pub async fn logout_others(&self, identity: &Identity) -> Result<usize, Error> {
        self.auth.end_others(identity, self.note.as_ref()).await
    }
}
