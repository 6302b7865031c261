//! Tokens: the opaque session token format, its store key, and where a request carries it.
//!
//! A session token is 36 bytes, base64url without padding (48 characters): its
//! session's [`SessionId`] (14 bytes), then 176 bits from the OS CSPRNG. The id starts
//! with the *slot tag* of its user (two bytes of SHA-256 of the user id), which lets a
//! store keep all of a user's records together (one shard of the memory store, one hash
//! slot of a Redis Cluster) while the token alone still finds its record. A refresh
//! token (see [`RefreshKey`]) is the same id, its session's 128-bit *chain secret* and
//! 144 random bits, 64 characters: the two are told apart by their length before any
//! store work, and a refresh hands out a new token of the same session and chain.
//!
//! Stores never see the token: they get a [`SessionKey`], the id plus the SHA-256
//! digest of the token, so a dump of a store hands out nothing that logs anyone in.

pub(crate) mod extract;

pub use extract::{IntoHeaderName, TokenSource};

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Length in characters of a session-mode token: 36 bytes.
pub(crate) const SESSION_TOKEN_LEN: usize = 48;
const SESSION_TOKEN_BYTES: usize = 36;

/// Length in characters of a refresh token: 48 bytes.
pub(crate) const REFRESH_TOKEN_LEN: usize = 64;
const REFRESH_TOKEN_BYTES: usize = 48;
/// A refresh chain's secret: the bytes after the session id.
const CHAIN_SECRET_BYTES: usize = 16;

/// A bearer token handed to a client.
///
/// `Debug` never shows the secret, and there is no `Display`: read it with
/// [`Token::as_str`] to send it to the client.
///
/// ```
/// # tokio_test_block(async {
/// use kickout::Auth;
///
/// let auth = Auth::new(kickout::store::MemoryStore::new());
/// let login = auth.login("10001", "web").await.unwrap();
/// assert_eq!(login.token.as_str().len(), 48);
/// assert!(!format!("{:?}", login.token).contains(login.token.as_str()));
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub(crate) fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The token text, to hand to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<{} bytes redacted>)", self.0.len())
    }
}

/// The slot tag of a user: two bytes of SHA-256 of the user id. Every session id of the
/// user begins with it ([`SessionId::tag`]), so a store can keep all of a user's records
/// together (one shard, one Redis hash slot) and find them from either.
///
/// ```
/// use kickout::store::user_tag;
///
/// assert_eq!(user_tag("10001"), user_tag("10001"));
/// ```
pub fn user_tag(user_id: &str) -> u16 {
    let d = Sha256::digest(user_id.as_bytes());
    u16::from_be_bytes([d[0], d[1]])
}

/// What a store knows a token by: its session's id and the token's digest. A session
/// token's key is a `SessionKey`; a refresh token's, a [`RefreshKey`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey {
    id: SessionId,
    digest: [u8; 32],
}

impl SessionKey {
    /// The user's slot tag carried by the token (two bytes of SHA-256 of the user id).
    pub fn tag(&self) -> u16 {
        self.id.tag()
    }

    /// SHA-256 of the token's raw bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The id of the session this token opens.
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// The key of a session-mode token, as a store receives it; `None` for anything
    /// that is not one (a refresh token included). For a store's own tests and tools:
    /// a request's key reaches the store through the handle.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, SessionKey, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let login = auth.login("10001", "web").await?;
    /// let key = SessionKey::parse(login.token.as_str()).unwrap();
    /// assert_eq!(key.session_id(), login.session.session_id);
    /// assert!(SessionKey::parse("not a token").is_none());
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn parse(token: &str) -> Option<Self> {
        parse_key::<SESSION_TOKEN_BYTES>(token, SESSION_TOKEN_LEN)
    }

    /// A key of these parts (tests: two keys of one session id).
    #[cfg(test)]
    pub(crate) fn from_parts(id: SessionId, digest: [u8; 32]) -> Self {
        Self { id, digest }
    }

    /// A fresh random token for a user with slot tag `tag`, and its key.
    pub(crate) fn generate(tag: u16) -> Result<(Token, Self), getrandom::Error> {
        let mut id = [0u8; SessionId::LEN];
        getrandom::fill(&mut id[2..])?;
        id[..2].copy_from_slice(&tag.to_be_bytes());
        Self::generate_for(SessionId(id))
    }

    /// A fresh random token of session `id` (what a refresh hands out), and its key.
    pub(crate) fn generate_for(id: SessionId) -> Result<(Token, Self), getrandom::Error> {
        generate_key::<SESSION_TOKEN_BYTES>(id)
    }
}

/// What a store knows a refresh token by: its session's id, the token's digest, and
/// the digest of its *chain*.
///
/// Every refresh token of one session carries the same 128-bit chain secret, drawn at
/// login; the store keeps only its digest ([`RefreshKey::chain`]) and the current
/// token's. A token of the right chain that is not the current one was spent — however
/// many rotations ago — so reuse is told from a guess in constant space, and no one who
/// knows only a session id (listings show it) can forge an "old" token to end it.
///
/// A refresh token is never a bearer token: it has its own length, so a request
/// carrying one is refused as `invalid_token` before any store work, and `refresh`
/// refuses an access token the same way.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshKey {
    key: SessionKey,
    chain: [u8; 32],
    secret: [u8; CHAIN_SECRET_BYTES],
}

impl RefreshKey {
    /// The id of the session it refreshes.
    pub fn session_id(&self) -> SessionId {
        self.key.id
    }

    /// SHA-256 of the token's raw bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.key.digest
    }

    /// SHA-256 of the session id and the chain secret: the same for every refresh token
    /// of the session.
    pub fn chain(&self) -> &[u8; 32] {
        &self.chain
    }

    /// Parses a refresh token; `None` for anything that is not one.
    pub(crate) fn parse(token: &str) -> Option<Self> {
        let raw = decode::<REFRESH_TOKEN_BYTES>(token, REFRESH_TOKEN_LEN)?;
        Some(Self::of(&raw))
    }

    /// A fresh refresh token of session `id`, on a new chain, and its key.
    pub(crate) fn generate_for(id: SessionId) -> Result<(Token, Self), getrandom::Error> {
        let mut secret = [0u8; CHAIN_SECRET_BYTES];
        getrandom::fill(&mut secret)?;
        Self::generate_in(id, secret)
    }

    /// The next refresh token of this one's chain (what a refresh hands out), and its
    /// key.
    pub(crate) fn next(&self) -> Result<(Token, Self), getrandom::Error> {
        Self::generate_in(self.key.id, self.secret)
    }

    fn generate_in(
        id: SessionId,
        secret: [u8; CHAIN_SECRET_BYTES],
    ) -> Result<(Token, Self), getrandom::Error> {
        let mut raw = [0u8; REFRESH_TOKEN_BYTES];
        raw[..SessionId::LEN].copy_from_slice(&id.0);
        raw[SessionId::LEN..SessionId::LEN + CHAIN_SECRET_BYTES].copy_from_slice(&secret);
        getrandom::fill(&mut raw[SessionId::LEN + CHAIN_SECRET_BYTES..])?;
        Ok((Token::new(URL_SAFE_NO_PAD.encode(raw)), Self::of(&raw)))
    }

    fn of(raw: &[u8; REFRESH_TOKEN_BYTES]) -> Self {
        let mut secret = [0u8; CHAIN_SECRET_BYTES];
        secret.copy_from_slice(&raw[SessionId::LEN..SessionId::LEN + CHAIN_SECRET_BYTES]);
        Self {
            key: key_of(raw),
            chain: Sha256::digest(&raw[..SessionId::LEN + CHAIN_SECRET_BYTES]).into(),
            secret,
        }
    }
}

/// A token of `N` raw bytes (its session id first) in `len` characters, and its key.
fn parse_key<const N: usize>(token: &str, len: usize) -> Option<SessionKey> {
    decode::<N>(token, len).map(|raw| key_of(&raw))
}

/// The `N` raw bytes of a token of `len` characters.
fn decode<const N: usize>(token: &str, len: usize) -> Option<[u8; N]> {
    if token.len() != len {
        return None;
    }
    let mut raw = [0u8; N];
    let n = URL_SAFE_NO_PAD
        .decode_slice(token.as_bytes(), &mut raw)
        .ok()?;
    (n == N).then_some(raw)
}

fn key_of(raw: &[u8]) -> SessionKey {
    let mut id = [0u8; SessionId::LEN];
    id.copy_from_slice(raw.get(..SessionId::LEN).unwrap_or(&[0; SessionId::LEN]));
    SessionKey {
        id: SessionId(id),
        digest: Sha256::digest(raw).into(),
    }
}

fn generate_key<const N: usize>(id: SessionId) -> Result<(Token, SessionKey), getrandom::Error> {
    let mut raw = [0u8; N];
    raw[..SessionId::LEN].copy_from_slice(&id.0);
    getrandom::fill(&mut raw[SessionId::LEN..])?;
    Ok((Token::new(URL_SAFE_NO_PAD.encode(raw)), key_of(&raw)))
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("session_id", &self.session_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshKey")
            .field("session_id", &self.session_id())
            .finish_non_exhaustive()
    }
}

/// The public id of a session: its user's slot tag and 12 random bytes.
///
/// It names a session to operators (listings, revocation by id) but cannot be used to
/// authenticate. Displayed and parsed as 19 characters of base64url.
///
/// ```
/// use kickout::SessionId;
///
/// let id: SessionId = "AAECAwQFBgcICQoLDA0".parse().unwrap();
/// assert_eq!(id.to_string(), "AAECAwQFBgcICQoLDA0");
/// assert!("not an id".parse::<SessionId>().is_err());
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "String", try_from = "String")
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; SessionId::LEN]);

impl SessionId {
    const LEN: usize = 14;

    /// The slot tag of the session's user.
    pub fn tag(&self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]])
    }

    /// The first and the last id of slot tag `tag`, in id order: a tag's range.
    pub(crate) fn tag_bounds(tag: u16) -> (Self, Self) {
        let (mut first, mut last) = ([0u8; Self::LEN], [0xffu8; Self::LEN]);
        first[..2].copy_from_slice(&tag.to_be_bytes());
        last[..2].copy_from_slice(&tag.to_be_bytes());
        (Self(first), Self(last))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 14] {
        &self.0
    }

    /// Builds an id from its raw bytes (as a store saved them).
    pub fn from_bytes(bytes: [u8; 14]) -> Self {
        Self(bytes)
    }

    /// The id of a JWT-mode session: its user's tag and the 12 bytes of its `jti`
    /// (16 characters of base64url); `None` for another `jti`.
    pub fn from_jti(tag: u16, jti: &str) -> Option<Self> {
        let mut id = [0u8; Self::LEN];
        id[..2].copy_from_slice(&tag.to_be_bytes());
        match URL_SAFE_NO_PAD.decode_slice(jti.as_bytes(), &mut id[2..]) {
            Ok(12) if jti.len() == Self::JTI_LEN => Some(Self(id)),
            _ => None,
        }
    }

    /// The `jti` of a JWT-mode session with this id.
    pub fn jti(&self) -> String {
        let mut jti = String::with_capacity(Self::JTI_LEN);
        self.push_jti(&mut jti);
        jti
    }

    /// The length of its text ([`Display`](fmt::Display)).
    pub(crate) const TEXT_LEN: usize = 19;
    /// The length of its `jti`.
    pub(crate) const JTI_LEN: usize = 16;

    /// Appends its text to `s`, without the formatting machinery (store keys).
    #[cfg(feature = "redis")]
    pub(crate) fn push_text(&self, s: &mut String) {
        URL_SAFE_NO_PAD.encode_string(self.0, s);
    }

    /// Appends its `jti` to `s`.
    pub(crate) fn push_jti(&self, s: &mut String) {
        URL_SAFE_NO_PAD.encode_string(&self.0[2..], s);
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; Self::TEXT_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The text was not a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a session id (19 characters of base64url)")]
pub struct ParseSessionIdError;

#[cfg(feature = "serde")]
impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.to_string()
    }
}

#[cfg(feature = "serde")]
impl TryFrom<String> for SessionId {
    type Error = ParseSessionIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::TEXT_LEN {
            return Err(ParseSessionIdError);
        }
        let mut id = [0u8; 14];
        match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut id) {
            Ok(14) => Ok(Self(id)),
            _ => Err(ParseSessionIdError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_their_key() {
        let (token, key) = SessionKey::generate(0xBEEF).unwrap();
        assert_eq!(token.as_str().len(), SESSION_TOKEN_LEN);
        let parsed = SessionKey::parse(token.as_str()).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.tag(), 0xBEEF);
        assert_eq!(parsed.session_id().tag(), 0xBEEF);
        let id = parsed.session_id();
        assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
    }

    #[test]
    fn garbage_is_not_a_key() {
        for bad in ["", "abc", &"A".repeat(47), &"!".repeat(48), &"é".repeat(24)] {
            assert!(SessionKey::parse(bad).is_none(), "{bad:?}");
            assert!(RefreshKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn refresh_and_access_tokens_are_not_interchangeable() {
        let (access, key) = SessionKey::generate(0xBEEF).unwrap();
        let (refresh, rkey) = RefreshKey::generate_for(key.session_id()).unwrap();
        assert_eq!(refresh.as_str().len(), REFRESH_TOKEN_LEN);
        assert_eq!(rkey.session_id(), key.session_id());
        assert_eq!(RefreshKey::parse(refresh.as_str()), Some(rkey));
        assert!(SessionKey::parse(refresh.as_str()).is_none());
        assert!(RefreshKey::parse(access.as_str()).is_none());
        // A new token of the same session: same id, another secret.
        let (again, next) = SessionKey::generate_for(key.session_id()).unwrap();
        assert_ne!(again, access);
        assert_eq!(next.session_id(), key.session_id());
        assert_ne!(next.digest(), key.digest());
    }

    #[test]
    fn a_refresh_chain_shares_its_digest_and_nothing_else() {
        let (_, key) = SessionKey::generate(0xBEEF).unwrap();
        let (first, a) = RefreshKey::generate_for(key.session_id()).unwrap();
        let (second, b) = a.next().unwrap();
        let (_, c) = b.next().unwrap();
        assert_ne!(first, second);
        assert_eq!(RefreshKey::parse(second.as_str()), Some(b));
        assert_eq!((a.chain(), b.chain()), (c.chain(), c.chain()));
        assert_ne!(a.digest(), b.digest());
        // Another chain of the same session id: another digest.
        let (_, other) = RefreshKey::generate_for(key.session_id()).unwrap();
        assert_ne!(other.chain(), a.chain());
        // The secret never shows.
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.secret)));
    }

    #[test]
    fn tokens_differ() {
        let (a, _) = SessionKey::generate(1).unwrap();
        let (b, _) = SessionKey::generate(1).unwrap();
        assert_ne!(a, b);
    }

    proptest::proptest! {
        /// Any text: parsing never panics; a session id parses back only from its own
        /// form.
        #[test]
        fn parsers_never_panic(text in "\\PC{0,100}") {
            let _ = SessionKey::parse(&text);
            let _ = RefreshKey::parse(&text);
            if let Ok(id) = text.parse::<SessionId>() {
                proptest::prop_assert_eq!(id.to_string(), text);
            }
        }

        /// A token with one character changed is another key: its digest differs, so no
        /// store finds the original's record with it.
        #[test]
        fn a_mutated_token_is_another_key(at in 0usize..SESSION_TOKEN_LEN, to in proptest::num::u8::ANY) {
            let (token, key) = SessionKey::generate(7).unwrap();
            let mut bad = token.as_str().as_bytes().to_vec();
            proptest::prop_assume!(bad[at] != to);
            bad[at] = to;
            if let Some(other) = std::str::from_utf8(&bad).ok().and_then(SessionKey::parse) {
                proptest::prop_assert_ne!(other.digest(), key.digest());
            }
        }
    }
}
