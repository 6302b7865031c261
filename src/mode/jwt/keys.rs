//! JWT mode's keys: the signing key, keys that only verify (rotation), and the check
//! that a key's family matches its algorithm.

use std::fmt;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Sha256, Sha384, Sha512};

/// One key: its algorithm, the key to verify with, and (for the signing key) the key to
/// sign with.
///
/// HMAC secrets have shortcuts; RSA, EC and EdDSA keys come from `jsonwebtoken`'s own
/// constructors (PEM or DER). [`Jwt::new`](super::Jwt::new) and
/// [`Jwt::verify_with`](super::Jwt::verify_with) refuse a key of another family than its
/// algorithm (a public key taken as an HMAC secret would let its holders sign) and an
/// HMAC secret shorter than the hash (32, 48, 64 bytes):
///
/// ```
/// use kickout::jwt::{Algorithm, DecodingKey, JwtKey};
///
/// let current = JwtKey::hs256(b"a secret of at least thirty-two bytes!!").kid("2026-11");
/// // Verification only (the public half of a retired or foreign signing key):
/// let public = JwtKey::verify_only(Algorithm::HS256, DecodingKey::from_secret(b"last month's secret, 32 bytes long")).kid("2026-10");
/// # let _ = (current, public);
/// ```
pub struct JwtKey {
    pub(super) alg: Algorithm,
    pub(super) encoding: Option<EncodingKey>,
    pub(super) decoding: DecodingKey,
    pub(super) kid: Option<String>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("signs", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// A key that signs and verifies.
    pub fn new(alg: Algorithm, encoding: EncodingKey, decoding: DecodingKey) -> Self {
        Self {
            alg,
            encoding: Some(encoding),
            decoding,
            kid: None,
        }
    }

    /// A key that only verifies.
    pub fn verify_only(alg: Algorithm, decoding: DecodingKey) -> Self {
        Self {
            alg,
            encoding: None,
            decoding,
            kid: None,
        }
    }

    /// An HS256 secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::new(
            Algorithm::HS256,
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        )
    }

    /// Names the key (`kid` header), so tokens find their key while several are valid.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

/// The secret of an HMAC key, at least as long as the hash's output (RFC 7518 §3.2).
fn hmac_secret(alg: Algorithm, key: &DecodingKey) -> Result<&[u8], JwtKeyError> {
    let secret = key
        .try_get_as_bytes()
        .map_err(|e| JwtKeyError(e.to_string()))?;
    let min = match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    };
    if secret.len() < min {
        return Err(JwtKeyError(format!(
            "an {alg:?} secret needs at least {min} bytes (RFC 7518 section 3.2), not {}",
            secret.len()
        )));
    }
    Ok(secret)
}

/// A key ready to verify.
#[derive(Clone)]
pub(super) struct Verifying {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
    pub(super) verifier: Verifier,
}

/// HMAC keys are keyed once and cloned per check (keying is most of an HMAC's cost);
/// public keys go through `jsonwebtoken`'s verifier, whose signature check dominates.
#[derive(Clone)]
pub(super) enum Verifier {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
    Public(DecodingKey),
}

impl Verifier {
    fn new(alg: Algorithm, key: &DecodingKey) -> Result<Self, JwtKeyError> {
        // A key of another family would be read as raw bytes: an RSA or EC public key
        // taken as an HMAC secret lets anyone who has the public key sign tokens.
        if key.family() != alg.family() {
            return Err(JwtKeyError(format!(
                "a {:?} key cannot verify {alg:?} tokens",
                key.family()
            )));
        }
        let secret = || hmac_secret(alg, key);
        let bad = |_| JwtKeyError("an HMAC secret of a bad length".into());
        Ok(match alg {
            Algorithm::HS256 => Self::Hs256(Hmac::new_from_slice(secret()?).map_err(bad)?),
            Algorithm::HS384 => Self::Hs384(Hmac::new_from_slice(secret()?).map_err(bad)?),
            Algorithm::HS512 => Self::Hs512(Hmac::new_from_slice(secret()?).map_err(bad)?),
            // jsonwebtoken slices the first 32 bytes of an Ed25519 key, panicking on a
            // shorter one and ignoring the rest of a longer one.
            Algorithm::EdDSA if key.try_get_as_bytes().map_or(true, |k| k.len() != 32) => {
                return Err(JwtKeyError(
                    "an EdDSA (Ed25519) public key is 32 bytes".into(),
                ));
            }
            _ => {
                // Build once now so a key of the wrong kind fails at start, not per request.
                (DEFAULT_PROVIDER.verifier_factory)(&alg, key)
                    .map_err(|e| JwtKeyError(e.to_string()))?;
                Self::Public(key.clone())
            }
        })
    }

    pub(super) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        fn mac<M: Mac + Clone>(keyed: &M, message: &[u8], signature: &[u8]) -> bool {
            let mut m = keyed.clone();
            m.update(message);
            m.verify_slice(signature).is_ok()
        }
        match self {
            Self::Hs256(k) => mac(k, message, signature),
            Self::Hs384(k) => mac(k, message, signature),
            Self::Hs512(k) => mac(k, message, signature),
            Self::Public(key) => (DEFAULT_PROVIDER.verifier_factory)(&alg, key)
                .is_ok_and(|v| v.verify(message, &signature.to_vec()).is_ok()),
        }
    }
}

/// A key or configuration `jsonwebtoken` refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid JWT key: {0}")]
pub struct JwtKeyError(pub(super) String);

pub(super) fn verifying(key: &JwtKey) -> Result<Verifying, JwtKeyError> {
    Ok(Verifying {
        alg: key.alg,
        kid: key.kid.clone(),
        verifier: Verifier::new(key.alg, &key.decoding)?,
    })
}
