//! JWT mode's configuration: the signing key, further verification keys (rotation),
//! issuer, audience and clock leeway; verifying and signing are in `verify.rs`.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::clock::millis;
use crate::limits::MAX_LEEWAY_MS;

use super::keys::{JwtKey, JwtKeyError, Verifying, verifying};
use super::verified::{Cache, DEFAULT_CACHE};

/// JWT mode's configuration: the signing key, further verification keys (rotation),
/// issuer, audience and clock leeway.
///
/// ```
/// use std::time::Duration;
/// use kickout::{Auth, jwt::{Jwt, JwtKey}, store::MemoryStore};
///
/// let jwt = Jwt::new(JwtKey::hs256(b"new secret, at least 32 bytes long!").kid("k2"))
///     .unwrap()
///     .verify_with(JwtKey::hs256(b"old secret, at least 32 bytes long!").kid("k1"))
///     .unwrap()
///     .issuer("https://auth.example")
///     .audience("api")
///     .leeway(Duration::from_secs(5));
/// let auth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
/// # let _ = auth;
/// ```
pub struct Jwt {
    pub(super) cache: Cache,
    pub(super) signing_alg: Algorithm,
    pub(super) signing_kid: Option<String>,
    pub(super) encoding: EncodingKey,
    /// The header segment our tokens carry: a token with it needs no header parse.
    pub(super) header_b64: String,
    pub(super) keys: Vec<Verifying>,
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) leeway_ms: u64,
    /// The idle timeout, if any (set through the builder).
    pub(crate) idle_ms: Option<u64>,
}

impl Clone for Jwt {
    /// The same keys and settings, with a cache of verified tokens of its own (as
    /// large): a clone serves another handle, or another worker of a server.
    fn clone(&self) -> Self {
        Self {
            cache: Cache::new(self.cache.capacity()),
            signing_alg: self.signing_alg,
            signing_kid: self.signing_kid.clone(),
            encoding: self.encoding.clone(),
            header_b64: self.header_b64.clone(),
            keys: self.keys.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_ms: self.leeway_ms,
            idle_ms: self.idle_ms,
        }
    }
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("alg", &self.signing_alg)
            .field("kid", &self.signing_kid)
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_ms", &self.leeway_ms)
            .field("idle_ms", &self.idle_ms)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// Signs (and verifies) with `key`, which must be able to sign.
    pub fn new(key: JwtKey) -> Result<Self, JwtKeyError> {
        let verifier = verifying(&key)?;
        let encoding = key
            .encoding
            .ok_or_else(|| JwtKeyError("the signing key has no private half".into()))?;
        if encoding.family() != key.alg.family() {
            return Err(JwtKeyError(format!(
                "a {:?} key cannot sign {:?} tokens",
                encoding.family(),
                key.alg
            )));
        }
        let mut header = Header::new(key.alg);
        header.kid = key.kid.clone();
        // Encode once to learn our header segment exactly as jsonwebtoken writes it.
        let probe = jsonwebtoken::encode(&header, &serde_json::json!({}), &encoding)
            .map_err(|e| JwtKeyError(e.to_string()))?;
        let header_b64 = probe.split('.').next().unwrap_or_default().to_owned();
        Ok(Self {
            cache: Cache::new(DEFAULT_CACHE),
            signing_alg: key.alg,
            signing_kid: key.kid,
            encoding,
            header_b64,
            keys: vec![verifier],
            issuer: None,
            audience: None,
            leeway_ms: 0,
            idle_ms: None,
        })
    }

    /// Also accept tokens signed with `key` (a previous signing key during rotation).
    pub fn verify_with(mut self, key: JwtKey) -> Result<Self, JwtKeyError> {
        self.keys.push(verifying(&key)?);
        Ok(self)
    }

    /// Put `iss` in tokens and require it.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Put `aud` in tokens and require it.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Keep up to `entries` verified tokens (default 16,384; 0 turns the cache off), so a
    /// token seen again skips its signature check and claims parse. Entries are whole
    /// tokens, so a forged variant never matches; revocation is still read from the
    /// store on every request.
    pub fn verified_cache(mut self, entries: usize) -> Self {
        self.cache = Cache::new(entries);
        self
    }

    /// Tolerate this much clock difference on `exp` and `nbf` (default none; at most
    /// five minutes, so revocations outlive every token they end, see
    /// [`PRUNE_GRACE_MS`](crate::limits::PRUNE_GRACE_MS)).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway_ms = millis(leeway).min(MAX_LEEWAY_MS);
        self
    }

    /// How often this instance tells the store it saw a token: a tenth of the idle
    /// timeout, at most [`LAST_SEEN_STEP_MS`](crate::limits::LAST_SEEN_STEP_MS).
    pub(crate) fn seen_step_ms(idle_ms: Option<u64>) -> u64 {
        use crate::limits::LAST_SEEN_STEP_MS;
        idle_ms.map_or(LAST_SEEN_STEP_MS, |idle| (idle / 10).min(LAST_SEEN_STEP_MS))
    }

    /// The leeway in force, in milliseconds.
    pub(crate) fn leeway_ms(&self) -> u64 {
        self.leeway_ms
    }
}
