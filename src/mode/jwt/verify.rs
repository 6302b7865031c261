//! Verifying a token (signature, claims, the verified-token cache) and signing one.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::limits::valid_name;
use crate::rejection::Reason;
use crate::token::SessionId;

use super::config::Jwt;
use super::keys::Verifying;
use super::verified::Verified;

/// The claims kickout puts in a token.
#[derive(Serialize, Deserialize)]
pub(crate) struct Claims<'a> {
    #[serde(borrow)]
    pub(crate) sub: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) dev: std::borrow::Cow<'a, str>,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
    #[serde(borrow)]
    pub(crate) jti: std::borrow::Cow<'a, str>,
    /// The epoch of the user's revocation state at issue.
    #[serde(default)]
    pub(crate) ep: u64,
    /// User generation at issue.
    pub(crate) ug: u64,
    /// Device generation at issue.
    pub(crate) dg: u64,
    /// Issue time in milliseconds (orders same-second logins).
    pub(crate) iatm: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub(crate) iss: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub(crate) aud: Option<std::borrow::Cow<'a, str>>,
    /// The application's own claims.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub(crate) ext: Option<&'a RawValue>,
    /// The idle timeout of the token's login in milliseconds (0: none); tokens signed
    /// before it travelled have none, and the verifier's applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) idl: Option<u64>,
    /// The end in milliseconds, which the verifier holds the token to: `exp` is whole
    /// seconds (rounded down, for verifiers elsewhere). Tokens signed before it
    /// travelled end at `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expm: Option<u64>,
}

impl Jwt {
    /// Signs claims into a token.
    pub(crate) fn sign(&self, claims: &Claims<'_>) -> Result<String, String> {
        let mut header = Header::new(self.signing_alg);
        header.kid = self.signing_kid.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    pub(crate) fn issuer_claim(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub(crate) fn audience_claim(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Checks signature and claims: `invalid_token` for anything forged or foreign,
    /// `token_expired` past `exp` (with the leeway). A token verified before is taken
    /// from the cache (whole-token match), its expiry checked again.
    pub(crate) fn verify(&self, token: &str, now_ms: u64) -> Result<Arc<Verified>, Reason> {
        if let Some(hit) = self.cache.get(token, |v| Some(v.clone())) {
            return if now_ms >= hit.expires_at_ms.saturating_add(self.leeway_ms) {
                Err(Reason::TokenExpired)
            } else {
                Ok(hit)
            };
        }
        let verified = Arc::new(self.verify_uncached(token, now_ms, false)?);
        self.cache
            .insert(token.into(), verified.clone(), |v| v.expires_at_ms > now_ms);
        Ok(verified)
    }

    /// [`Jwt::verify`], but a token past `exp` passes too: what names a session to end
    /// (a client logs out with the access token it has, expired or not).
    pub(crate) fn verify_even_expired(&self, token: &str, now_ms: u64) -> Result<Verified, Reason> {
        self.verify_uncached(token, now_ms, true)
    }

    fn verify_uncached(
        &self,
        token: &str,
        now_ms: u64,
        expired_ok: bool,
    ) -> Result<Verified, Reason> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reason::InvalidToken);
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Reason::InvalidToken)?;
        let message = token
            .as_bytes()
            .get(..header.len() + 1 + payload.len())
            .ok_or(Reason::InvalidToken)?;
        // The header's key first; without a `kid`, any key of the same algorithm may
        // have signed it (a rotation between kid-less keys).
        let verified = self
            .keys_for(header)?
            .any(|key| key.verifier.verify(key.alg, message, &signature));
        if !verified {
            return Err(Reason::InvalidToken);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Reason::InvalidToken)?;
        let claims: Claims<'_> =
            serde_json::from_slice(&payload).map_err(|_| Reason::InvalidToken)?;
        let now_s = now_ms / 1000;
        let leeway_s = self.leeway_ms / 1000;
        if claims
            .nbf
            .is_some_and(|nbf| now_s.saturating_add(leeway_s) < nbf)
        {
            return Err(Reason::InvalidToken);
        }
        if self.issuer.as_deref() != claims.iss.as_deref()
            || self.audience.as_deref() != claims.aud.as_deref()
        {
            return Err(Reason::InvalidToken);
        }
        // Never past `exp`'s second: the claim others verify bounds the precise one.
        let exp_ms = claims.exp.saturating_mul(1000).saturating_add(999);
        let expires_at_ms = claims
            .expm
            .map_or(claims.exp.saturating_mul(1000), |ms| ms.min(exp_ms));
        if !expired_ok && now_ms >= expires_at_ms.saturating_add(self.leeway_ms) {
            return Err(Reason::TokenExpired);
        }
        if !valid_name(&claims.sub) || !valid_name(&claims.dev) {
            return Err(Reason::InvalidToken);
        }
        let tag = crate::token::user_tag(&claims.sub);
        let session_id = SessionId::from_jti(tag, &claims.jti).ok_or(Reason::InvalidToken)?;
        Ok(Verified {
            user_id: Arc::from(&*claims.sub),
            tag,
            session_id,
            device: Arc::from(&*claims.dev),
            jti: claims.jti.into(),
            epoch: claims.ep,
            user_gen: claims.ug,
            device_gen: claims.dg,
            issued_at_ms: claims.iatm,
            expires_at_ms,
            ext: claims.ext.map(|raw| Arc::from(raw.get())),
            told_seen_ms: claims.iatm.into(),
            idle: claims.idl.map(|ms| match ms {
                0 => crate::policy::OwnIdle::Never,
                ms => crate::policy::OwnIdle::After(ms),
            }),
        })
    }

    /// The keys that may have signed a token with this header, most likely first;
    /// `alg` must be each key's own (no `none`, no RSA public key used as an HMAC secret).
    fn keys_for(&self, header_b64: &str) -> Result<impl Iterator<Item = &Verifying>, Reason> {
        let (alg, kid) = if header_b64 == self.header_b64 {
            // Our own header: no parsing.
            (self.signing_alg, self.signing_kid.clone())
        } else {
            let raw = URL_SAFE_NO_PAD
                .decode(header_b64)
                .map_err(|_| Reason::InvalidToken)?;
            let header: Header = serde_json::from_slice(&raw).map_err(|_| Reason::InvalidToken)?;
            // Extensions the verifier must understand (RFC 7515 §4.1.11): kickout knows
            // none, and jsonwebtoken does not look.
            if header.crit.is_some() {
                return Err(Reason::InvalidToken);
            }
            (header.alg, header.kid)
        };
        Ok(self.keys.iter().filter(move |k| {
            k.alg == alg
                && match (&kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) => false,
                    (None, _) => true,
                }
        }))
    }
}

/// A fresh `jti`: 12 random bytes, 16 characters of base64url.
pub(crate) fn new_jti() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw)?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::jwt::JwtKey;
    use proptest::prelude::*;

    const NOW_MS: u64 = 1_700_000_000_000;

    fn jwt() -> Jwt {
        Jwt::new(JwtKey::hs256(b"a secret of at least thirty-two bytes!!"))
            .unwrap()
            .verified_cache(0)
    }

    fn token(jwt: &Jwt, ext: Option<&RawValue>) -> String {
        jwt.sign(&Claims {
            idl: None,
            expm: None,
            sub: "10001".into(),
            dev: "web".into(),
            iat: NOW_MS / 1000,
            exp: NOW_MS / 1000 + 3600,
            nbf: None,
            jti: "AAAAAAAAAAAAAAAA".into(),
            ep: 7,
            ug: 0,
            dg: 0,
            iatm: NOW_MS,
            iss: None,
            aud: None,
            ext,
        })
        .unwrap()
    }

    const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

    /// A token signed by the right key, whose header names an extension the verifier
    /// must understand (`crit`), is refused: kickout understands none.
    #[test]
    fn a_header_with_critical_extensions_is_refused() {
        let jwt = jwt();
        let good = token(&jwt, None);
        let payload = good.split('.').nth(1).unwrap();
        let key =
            jsonwebtoken::EncodingKey::from_secret(b"a secret of at least thirty-two bytes!!");
        let sign = |header: &str| {
            let header = URL_SAFE_NO_PAD.encode(header);
            let message = format!("{header}.{payload}");
            let signature = jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &key,
                jsonwebtoken::Algorithm::HS256,
            )
            .unwrap();
            format!("{message}.{signature}")
        };
        // The same header written by hand passes: the test signs as the key does.
        assert!(
            jwt.verify(&sign(r#"{"alg":"HS256","typ":"JWT"}"#), NOW_MS)
                .is_ok()
        );
        let critical = sign(r#"{"alg":"HS256","crit":["exp2"],"exp2":1}"#);
        assert_eq!(
            jwt.verify(&critical, NOW_MS).err(),
            Some(Reason::InvalidToken)
        );
    }

    proptest! {
        /// One character of a valid token changed, anywhere: never accepted.
        #[test]
        fn a_mutated_token_is_never_accepted(at in any::<proptest::sample::Index>(), to in 0..B64URL.len()) {
            let jwt = jwt();
            let good = token(&jwt, None);
            prop_assert!(jwt.verify(&good, NOW_MS).is_ok());
            let mut bad = good.clone().into_bytes();
            let i = at.index(bad.len());
            prop_assume!(bad[i] != B64URL[to]);
            bad[i] = B64URL[to];
            let bad = String::from_utf8(bad).unwrap();
            prop_assert!(jwt.verify(&bad, NOW_MS).is_err(), "{bad}");
        }

        /// Arbitrary text, and dotted segments of arbitrary base64url: refused, no panic.
        #[test]
        fn garbage_is_refused_without_panic(
            text in "\\PC{0,300}",
            parts in proptest::collection::vec("[A-Za-z0-9_-]{0,120}", 0..5),
        ) {
            let jwt = jwt();
            prop_assert!(jwt.verify(&text, NOW_MS).is_err());
            prop_assert!(jwt.verify(&parts.join("."), NOW_MS).is_err());
        }

        /// Huge and deeply nested application claims sign and verify, or fail cleanly.
        #[test]
        fn nested_claims_never_panic(depth in 0usize..200, width in 0usize..2000) {
            let jwt = jwt();
            let json = format!("{}\"{}\"{}", "[".repeat(depth), "x".repeat(width), "]".repeat(depth));
            if let Ok(raw) = serde_json::value::RawValue::from_string(json) {
                let t = token(&jwt, Some(&raw));
                let _ = jwt.verify(&t, NOW_MS);
            }
        }
    }
}
