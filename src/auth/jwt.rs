//! JWT mode's entry points on the handle: the builder's switch to it, and logins with
//! the application's own claims.

use super::{Auth, AuthBuilder, Login, LoginOptions};
use crate::error::Error;
use crate::limits::MAX_CLAIMS_LEN;
use crate::mode::SessionMode;
use crate::mode::jwt::Jwt;
use crate::store::JwtStore;

#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
impl<S> AuthBuilder<S, SessionMode> {
    /// JWT mode: issue signed tokens with `jwt`'s key instead of opaque ones. Logout,
    /// kickout, ban and the concurrent-login rules work as in session mode (see
    /// [`JwtState`](crate::store::jwt::JwtState)); the store must implement
    /// [`JwtStore`](crate::store::JwtStore). [`Auth::renew`] is session mode only; the
    /// idle timeout is [`AuthBuilder::idle_timeout`] here too.
    ///
    /// Every setting made before the switch holds after it, the idle timeout included;
    /// only [`touch_interval`](AuthBuilder::touch_interval) (JWT mode writes a token's
    /// last sight at a fixed tenth of the idle timeout, at most a minute) and
    /// [`expired_retention`](AuthBuilder::expired_retention) (a signed expiry answers
    /// `token_expired` for ever) are left behind.
    ///
    /// ```
    /// use kickout::{Auth, JwtAuth, jwt::{Jwt, JwtKey}, store::MemoryStore};
    ///
    /// let jwt = Jwt::new(JwtKey::hs256(b"a secret of at least thirty-two bytes!!")).unwrap();
    /// let auth: JwtAuth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
    /// # let _ = auth;
    /// ```
    pub fn jwt(self, mut jwt: Jwt) -> AuthBuilder<S, Jwt> {
        // The order of the builder's calls must not decide the idle timeout; a `Jwt`
        // cloned from another handle keeps that handle's only if none was set here.
        jwt.idle_ms = self.mode.idle_ms.or(jwt.idle_ms);
        self.with_mode(jwt)
    }
}

impl<S> AuthBuilder<S, Jwt> {
    /// End tokens unused for this long (default: no idle timeout; at least a second, at
    /// most ten years), as in session mode: the store keeps each token's last sight,
    /// written by each instance at most once per tenth of the timeout (at most a
    /// minute), and a request checks it in the same round trip as the revocation
    /// state. A token idle that long answers `token_expired` and stays so. Each token
    /// carries the timeout in force at its login (or none), which every instance holds
    /// it to: a new setting applies to the logins made under it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kickout::{Auth, jwt::{Jwt, JwtKey}, store::MemoryStore};
    ///
    /// let jwt = Jwt::new(JwtKey::hs256(b"a secret of at least thirty-two bytes!!")).unwrap();
    /// let auth = Auth::builder(MemoryStore::new())
    ///     .jwt(jwt)
    ///     .idle_timeout(Duration::from_secs(15 * 60))
    ///     .build();
    /// # let _ = auth;
    /// ```
    pub fn idle_timeout(self, idle: std::time::Duration) -> Self {
        self.map_mode(|jwt| jwt.idle_ms = Some(crate::limits::lifetime_ms(idle)))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
impl<S: JwtStore> Auth<S, Jwt> {
    /// [`Auth::login_with`], putting the application's own `claims` in the token (the
    /// `ext` claim); handlers read them with [`Claims`](crate::Claims) or
    /// [`Identity::claims`](crate::Identity::claims). Claims that do not serialize, or
    /// take more than [`MAX_CLAIMS_LEN`] bytes of JSON, are
    /// [`Error::InvalidInput`] before any store work: the token must fit the
    /// requests' [`MAX_TOKEN_LEN`](crate::limits::MAX_TOKEN_LEN).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, LoginOptions, jwt::{Jwt, JwtKey}, store::MemoryStore};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Role { role: String }
    ///
    /// let jwt = Jwt::new(JwtKey::hs256(b"a secret of at least thirty-two bytes!!")).unwrap();
    /// let auth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
    /// let role = Role { role: "admin".into() };
    /// let login = auth.login_with_claims("10001", "web", LoginOptions::new(), &role).await?;
    /// let me = auth.authenticate(login.token.as_str()).await.unwrap();
    /// assert_eq!(me.claims::<Role>().unwrap().unwrap(), role);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn login_with_claims<T: serde::Serialize>(
        &self,
        user_id: &str,
        device: &str,
        options: LoginOptions,
        claims: &T,
    ) -> Result<Login, Error> {
        let raw = serde_json::value::to_raw_value(claims)
            .ok()
            .filter(|raw| raw.get().len() <= MAX_CLAIMS_LEN)
            .ok_or(Error::InvalidInput { field: "claims" })?;
        let request = self.login_request(user_id, device, &options)?;
        let admission = self
            .inner
            .mode
            .issue(&self.inner.store, request, Some(&raw))
            .await?;
        self.admitted(request, admission)
    }
}
