//! JWT mode: signed, self-describing tokens that can still be logged out, kicked out and
//! banned.
//!
//! A token is checked with one signature verification (keys and verifiers built once,
//! payload parsed once) and then one store read of its user's revocation state
//! ([`JwtState`](crate::store::jwt::JwtState)). [`Jwt`] is both the configuration and the
//! mode: `Auth<S, Jwt>` ([`JwtAuth`](crate::JwtAuth)).

mod config;
mod keys;
mod verified;
mod verify;

pub use config::Jwt;
pub use keys::{JwtKey, JwtKeyError};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use serde_json::value::RawValue;

use self::verified::Verified;
use self::verify::{Claims, new_jti};
use super::{EndScope, Issued, LoginRequest, ModeImpl, random, unavailable};
use crate::error::Error;
use crate::identity::{Checked, Identity};
use crate::note::Note;
use crate::policy::OwnIdle;
use crate::rejection::{Reason, Refusal};
use crate::store::jwt::{JwtRefresh, JwtRefreshed};
use crate::store::refresh::JwtRotation;
use crate::store::{
    Admission, Elevated, Elevation, EndReason, Ends, JwtIssue, JwtStatus, JwtStore, JwtTarget,
    JwtToken, Page, PageRequest, Rotated, SessionEntry, SessionInfo, StoreError,
};
use crate::token::{RefreshKey, SessionId, Token};

impl Jwt {
    /// Records and signs a token: the login of both `login` and `login_with_claims`.
    pub(crate) async fn issue<S: JwtStore>(
        &self,
        store: &S,
        login: LoginRequest<'_>,
        claims: Option<&RawValue>,
    ) -> Result<Admission<Issued>, Error> {
        let now = login.now_ms;
        let jti = new_jti().map_err(|e| Error::Internal(e.to_string()))?;
        let access_until = now.saturating_add(login.ttl_ms);
        let user: Arc<str> = Arc::from(login.user_id);
        let device: Arc<str> = Arc::from(login.device);
        let tag = crate::token::user_tag(login.user_id);
        let session_id =
            SessionId::from_jti(tag, &jti).ok_or(Error::Internal("a malformed jti".into()))?;
        // The idle timeout in force at login travels with the token (0: none), so an
        // instance configured with another one, or none, holds the session to it as the
        // store's index does, and as session mode's record does.
        let idle_ms = OwnIdle::or_default(login.idle, self.idle_ms);
        let own_idle_ms = Some(idle_ms.unwrap_or(0));
        // With refresh tokens the session lives while either token does.
        let (refresh, access_until) = match login.refresh {
            None => (None, access_until),
            Some(plan) => {
                let (token, new, access) = plan.issue(session_id, login.ttl_ms, now)?;
                let end = access.max(new.expires_at_ms);
                let refresh = JwtRefresh {
                    refresh: new,
                    claims: claims.map(|c| c.get().to_owned()),
                    own_idle_ms,
                };
                (Some((token, refresh)), access.min(end))
            }
        };
        let expires_at_ms = refresh.as_ref().map_or(access_until, |(_, r)| {
            access_until.max(r.refresh.expires_at_ms)
        });
        let issue = JwtIssue {
            user_id: user.clone(),
            jti: jti.clone(),
            device: device.clone(),
            issued_at_ms: now,
            expires_at_ms,
            rule: login.rule,
            fresh_epoch: fresh_epoch()?,
            class: Arc::from(login.class),
            idle_ms,
            meta: login.meta.clone(),
            refresh: refresh.as_ref().map(|(_, r)| r.clone()),
        };
        let grant = match store.jwt_issue(issue, now).await? {
            Admission::Admitted(grant) => grant,
            Admission::Banned { until_ms } => return Ok(Admission::Banned { until_ms }),
            Admission::LimitReached => return Ok(Admission::LimitReached),
        };
        let token = self.sign_access(Access {
            user_id: login.user_id,
            device: login.device,
            jti: &jti,
            generations: (grant.epoch, grant.user_gen, grant.device_gen),
            now_ms: now,
            expires_at_ms: access_until,
            claims,
            own_idle_ms,
        })?;
        Ok(Admission::Admitted(Issued {
            token,
            token_expires_at_ms: access_until,
            session: SessionInfo {
                session_id,
                user_id: user,
                device,
                issued_at_ms: now,
                expires_at_ms,
            },
            replaced: grant.replaced,
            refresh: refresh.map(|(token, r)| (token, r.refresh.expires_at_ms)),
        }))
    }

    /// Signs an access token.
    fn sign_access(&self, a: Access<'_>) -> Result<Token, Error> {
        let (ep, ug, dg) = a.generations;
        let token = self
            .sign(&Claims {
                sub: a.user_id.into(),
                dev: a.device.into(),
                iat: a.now_ms / 1000,
                exp: a.expires_at_ms / 1000,
                expm: Some(a.expires_at_ms),
                nbf: None,
                jti: a.jti.into(),
                ep,
                ug,
                dg,
                iatm: a.now_ms,
                iss: self.issuer_claim().map(Into::into),
                aud: self.audience_claim().map(Into::into),
                ext: a.claims,
                idl: a.own_idle_ms,
            })
            .map_err(Error::Internal)?;
        Ok(Token::new(token))
    }
}

/// What an access token says.
struct Access<'a> {
    user_id: &'a str,
    device: &'a str,
    jti: &'a str,
    /// Epoch, user and device generations.
    generations: (u64, u64, u64),
    now_ms: u64,
    expires_at_ms: u64,
    claims: Option<&'a RawValue>,
    own_idle_ms: Option<u64>,
}

impl<S: JwtStore> ModeImpl<S> for Jwt {
    const CLAIMS: bool = true;

    type Token = Arc<Verified>;
    type Check = JwtCheck<S::JwtCheck>;

    fn prepare(&self, token: &str, now_ms: u64) -> Result<Arc<Verified>, Reason> {
        self.verify(token, now_ms)
    }

    fn check(&self, store: &S, v: Arc<Verified>, touch: bool, now_ms: u64) -> Self::Check {
        self.read(store, v, touch, false, now_ms)
    }

    fn token_of(identity: &Identity) -> Option<Arc<Verified>> {
        match identity.checked()? {
            Checked::Other(any) => any.clone().downcast::<Verified>().ok(),
            Checked::Key(_) => None,
        }
    }

    async fn follow(
        &self,
        store: &S,
        v: Arc<Verified>,
        end_ms: u64,
        now_ms: u64,
    ) -> Result<Identity, Refusal> {
        // The session lives at least to the later of this token's end and the end last
        // read: a refresh only moves it on. The revocation state applies to every token
        // of the session (one `jti`, one device, its generations).
        let known = end_ms.max(v.expires_at_ms);
        if now_ms < known {
            return Ok(self
                .read(store, v, false, true, now_ms)
                .await?
                .ending_at(known));
        }
        // Past it, the session lives on while its refresh token does, as the store's
        // listing says (its index holds every live session). Read first, so an end in
        // between shows in the check, with its reason.
        let listed = store.jwt_sessions(&v.user_id, now_ms).await;
        let listed = listed.map_err(|e| unavailable(&e))?;
        let end = listed
            .iter()
            .find(|s| s.info.session_id == v.session_id)
            .map(|s| s.info.expires_at_ms)
            .filter(|&end| now_ms < end);
        let identity = self.read(store, v, false, true, now_ms).await?;
        match end {
            Some(end) => Ok(identity.ending_at(end)),
            None => Err(Reason::TokenExpired.into()),
        }
    }

    async fn login(&self, store: &S, login: LoginRequest<'_>) -> Result<Admission<Issued>, Error> {
        self.issue(store, login, None).await
    }

    async fn end(
        &self,
        store: &S,
        scope: EndScope<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let verified;
        let target = match scope {
            // Only a token we signed can be logged out; an expired one still names its
            // session, which may live on for its refresh token.
            EndScope::Token(token) => {
                let Ok(v) = self.verify_even_expired(token, now_ms) else {
                    return Ok(Ends::default());
                };
                verified = v;
                JwtTarget::Token {
                    user_id: &verified.user_id,
                    session_id: verified.session_id,
                }
            }
            EndScope::Session(id) => JwtTarget::Session(id),
            EndScope::Own {
                user_id,
                session_id,
            } => JwtTarget::Token {
                user_id,
                session_id,
            },
            EndScope::User { user_id, device } => JwtTarget::User { user_id, device },
            EndScope::Others { user_id, keep } => JwtTarget::Others { user_id, keep },
        };
        let ends = store.jwt_end(target, reason, note, now_ms).await?;
        // One rule for every end: what this handle's leeway still accepts was live.
        Ok(self.accepted(ends, now_ms))
    }

    async fn ban(
        &self,
        store: &S,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        store.jwt_ban(user_id, until_ms, note, now_ms).await
    }

    async fn sessions(
        &self,
        store: &S,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        store.jwt_sessions(user_id, now_ms).await
    }

    async fn elevate(
        &self,
        store: &S,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        store.jwt_elevate(elevation, now_ms).await
    }

    async fn close_elevation(
        &self,
        store: &S,
        user_id: &str,
        session_id: crate::token::SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        store
            .jwt_close_elevation(user_id, session_id, scope, now_ms)
            .await
    }

    async fn online(
        &self,
        store: &S,
        page: PageRequest<'_>,
        now_ms: u64,
    ) -> Result<Page, StoreError> {
        store.jwt_online(page, now_ms).await
    }

    async fn refresh(&self, store: &S, token: &str, now_ms: u64) -> Result<Rotated<Issued>, Error> {
        let presented = RefreshKey::parse(token).ok_or(Reason::InvalidToken)?;
        let (refresh, rkey) = presented.next().map_err(random)?;
        let rotation = JwtRotation {
            presented: &presented,
            refresh: &rkey,
        };
        let rotated = store.jwt_refresh(rotation, now_ms).await?;
        rotated.try_map(|done| {
            let JwtRefreshed {
                refreshed,
                epoch,
                user_gen,
                device_gen,
                claims,
                own_idle_ms,
            } = done;
            let claims = claims
                .map(RawValue::from_string)
                .transpose()
                .map_err(|_| StoreError::Corrupt("a refresh token's claims".into()))?;
            let session = refreshed.session;
            let access_until = refreshed.access_until_ms.min(session.expires_at_ms);
            let token = self.sign_access(Access {
                user_id: &session.user_id,
                device: &session.device,
                jti: &session.session_id.jti(),
                generations: (epoch, user_gen, device_gen),
                now_ms,
                expires_at_ms: access_until,
                claims: claims.as_deref(),
                own_idle_ms,
            })?;
            Ok(Issued {
                token,
                token_expires_at_ms: access_until,
                session,
                replaced: Vec::new(),
                refresh: Some((refresh, refreshed.refresh_until_ms)),
            })
        })
    }
}

/// JWT mode's check: the read of the user's revocation state, then the verdict.
pub struct JwtCheck<C> {
    check: C,
    verified: Arc<Verified>,
    idle_ms: Option<u64>,
    now_ms: u64,
}

impl<C> std::fmt::Debug for JwtCheck<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCheck").finish_non_exhaustive()
    }
}

impl<C> Future for JwtCheck<C>
where
    C: Future<Output = Result<JwtStatus, StoreError>> + Unpin,
{
    type Output = Result<Identity, Refusal>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let verdict = match ready!(Pin::new(&mut this.check).poll(cx)) {
            Ok(status) => verdict(status, &this.verified, this.idle_ms, this.now_ms),
            Err(error) => Err(unavailable(&error).into()),
        };
        Poll::Ready(verdict)
    }
}

impl Jwt {
    /// The store's check of `v` ([`ModeImpl::check`]); a watch's `recheck` reads past
    /// any cache.
    fn read<S: JwtStore>(
        &self,
        store: &S,
        v: Arc<Verified>,
        touch: bool,
        recheck: bool,
        now_ms: u64,
    ) -> JwtCheck<S::JwtCheck> {
        let idle_ms = OwnIdle::or_default(v.idle, self.idle_ms);
        let seen = touch && v.due(now_ms, Jwt::seen_step_ms(idle_ms));
        let token = JwtToken {
            user_id: &v.user_id,
            epoch: v.epoch,
            tag: v.tag,
            jti: &v.jti,
            device: &v.device,
            user_gen: v.user_gen,
            device_gen: v.device_gen,
            seen_until_ms: seen.then_some(v.expires_at_ms),
            idle: idle_ms.map(|idle_ms| (idle_ms, v.issued_at_ms)),
            recheck,
        };
        JwtCheck {
            check: store.jwt_check(token, now_ms),
            verified: v,
            idle_ms,
            now_ms,
        }
    }

    /// Of the tokens a revocation by id ended, those this handle would still accept:
    /// stores keep tokens past `exp` for any verifier's leeway, and revoke them, but
    /// only this handle's own leeway makes them live.
    fn accepted(&self, mut ends: Ends, now_ms: u64) -> Ends {
        let leeway = self.leeway_ms();
        ends.ended
            .retain(|s| s.expires_at_ms.saturating_add(leeway) > now_ms);
        ends
    }
}

/// What the store's answer means for a verified JWT.
fn verdict(
    status: JwtStatus,
    v: &Arc<Verified>,
    idle_ms: Option<u64>,
    now_ms: u64,
) -> Result<Identity, Refusal> {
    if !status.known {
        // A signed, unexpired token always has a state: the store lost it. Fail closed.
        return Err(Reason::InvalidToken.into());
    }
    // As of the last sight the store holds (this request's may not be written yet).
    let idle = idle_ms.map(|idle| (idle, v.issued_at_ms));
    let idle_deadline_ms = crate::store::jwt::idle_deadline(idle, status.last_seen_ms);
    if let Some(ended) = status.ended {
        // Only by a sight the store holds (see `JwtStatus::last_seen_ms`).
        if status.last_seen_ms.is_some() && ended.after_idle(idle_deadline_ms) {
            return Err(Reason::TokenExpired.into());
        }
        return Err(ended.refusal(status.ban_until_ms.is_some()));
    }
    if idle_deadline_ms.is_some_and(|at| now_ms >= at) {
        return Err(Reason::TokenExpired.into());
    }
    let session = SessionInfo {
        session_id: v.session_id,
        user_id: v.user_id.clone(),
        device: v.device.clone(),
        issued_at_ms: v.issued_at_ms,
        expires_at_ms: v.expires_at_ms,
    };
    let guarded = (status.restrictions, status.elevations);
    let checked = Checked::Other(v.clone());
    Ok(Identity::of_check(
        (session, v.ext.clone()),
        checked,
        guarded,
        idle_deadline_ms,
        now_ms,
    ))
}

/// A random epoch for a JWT state this login may create (below 2^53, so every JSON
/// reader keeps it exact).
fn fresh_epoch() -> Result<u64, Error> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(random)?;
    Ok(u64::from_le_bytes(raw) >> 11)
}
