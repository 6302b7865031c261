//! Browser sessions in cookies: the access token, the refresh token and a CSRF token,
//! each in its own cookie with secure defaults, and the rule that keeps a cookie-borne
//! token from being an ambient credential.
//!
//! A browser cannot keep a token from an injected script unless the token is in an
//! `HttpOnly` cookie; a cookie is sent with every request to its site, even one another
//! site makes the browser send. So a request authenticated by a cookie, with a method
//! other than GET, HEAD or OPTIONS (or a WebSocket handshake: a GET with
//! `Upgrade: websocket`),
//! passes only when it shows it comes from the site
//! itself: Fetch Metadata `Sec-Fetch-Site: same-origin` (or `none`, typed by the user);
//! an `Origin` that is an [allowed one](CookiesBuilder::allowed_origin); without
//! `Sec-Fetch-Site`, an `Origin` that is the request's own; or a header that repeats the
//! CSRF cookie (which only the site's own scripts can read).
//! Else it is refused, 403 [`csrf_rejected`](crate::Reason::CsrfRejected), before any
//! store work. Requests with a bearer header are not subject to it: no browser adds one
//! by itself.
//!
//! ```
//! use kickout::cookies::Cookies;
//! use kickout::{Auth, AuthLayer, store::MemoryStore};
//!
//! let auth = Auth::new(MemoryStore::new());
//! let cookies = Cookies::default();
//! // The layer reads the access cookie (and the bearer header), under the CSRF rule.
//! let layer = AuthLayer::new(auth).cookies(cookies.clone());
//! # let _ = layer;
//! ```

pub(crate) mod csrf;
mod set;

pub use set::SetCookies;

use std::fmt;
use std::sync::Arc;

use cookie::Cookie;
use http::HeaderValue;

use crate::auth::Login;
use crate::error::Error;
use crate::rejection::Reason;
use crate::token::extract::{Carrier, HttpParts, cookie_values};

/// The `SameSite` attribute of a cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only with requests from the same site.
    Strict,
    /// Also sent with top-level navigations from other sites (GET links).
    Lax,
    /// Sent with every request: only with `Secure`.
    None,
}

impl SameSite {
    fn to_cookie(self) -> cookie::SameSite {
        match self {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }
    }
}

/// One cookie's name and attributes.
#[derive(Clone, Debug)]
struct Jar {
    name: String,
    path: String,
    same_site: SameSite,
    http_only: bool,
}

/// Why a cookie configuration was refused ([`CookiesBuilder::build`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// A cookie name that is not an RFC 6265 token, or two cookies with one name.
    #[error("invalid cookie name {0:?}")]
    Name(String),
    /// A path that does not start with `/`, or holds `;` or control characters.
    #[error("invalid cookie path {0:?}")]
    Path(String),
    /// A domain with characters a cookie attribute cannot hold.
    #[error("invalid cookie domain {0:?}")]
    Domain(String),
    /// `SameSite=None` without `Secure`: browsers refuse such a cookie.
    #[error("SameSite=None requires Secure")]
    NoneWithoutSecure,
    /// A `__Host-` cookie must be `Secure`, with `Path=/` and no `Domain`; a `__Secure-`
    /// one must be `Secure`. Browsers refuse it otherwise.
    #[error("the prefix of cookie {0:?} requires Secure (and for __Host-: Path=/, no Domain)")]
    Prefix(String),
    /// An allowed origin that is not `scheme://host[:port]`.
    #[error("invalid origin {0:?}")]
    Origin(String),
}

/// How a browser session lives in cookies: names, attributes, the origins allowed to
/// make unsafe requests — and the `Set-Cookie` headers that set and clear them. Cheap to
/// clone.
///
/// The defaults (the demo servers'): the access token in `__Host-kickout` (`Path=/`,
/// `SameSite=Lax`), the refresh token in `__Secure-kickout-refresh` (`Path=/refresh`,
/// `SameSite=Strict`), both `HttpOnly`; the CSRF token in `__Host-kickout-csrf`
/// (`SameSite=Lax`, readable by the page's scripts); all `Secure` (browsers treat
/// `http://localhost` and `http://127.0.0.1` as secure, so this works in development).
///
/// ```
/// use kickout::cookies::{Cookies, SameSite};
///
/// let cookies = Cookies::builder()
///     .refresh_path("/auth/refresh")
///     .allowed_origin("https://app.example.com")
///     .build()?;
/// // Unsafe combinations are refused when the configuration is built.
/// let bad = Cookies::builder().secure(false).build();
/// assert!(bad.is_err()); // a __Host- cookie must be Secure
/// let bad = Cookies::builder().access_same_site(SameSite::None).secure(false)
///     .access_name("sid").refresh_name("rt").csrf_name("csrf").build();
/// assert!(bad.is_err()); // SameSite=None without Secure
/// # let _ = cookies;
/// # Ok::<(), kickout::cookies::CookieError>(())
/// ```
#[derive(Clone)]
pub struct Cookies(Arc<Config>);

struct Config {
    access: Jar,
    refresh: Jar,
    csrf: Jar,
    domain: Option<String>,
    secure: bool,
    /// Origins besides the request's own, lowercase.
    origins: Vec<String>,
    /// What clears all three, built once.
    clear: Arc<Vec<HeaderValue>>,
}

impl fmt::Debug for Cookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        f.debug_struct("Cookies")
            .field("access", &c.access)
            .field("refresh", &c.refresh)
            .field("csrf", &c.csrf)
            .field("domain", &c.domain)
            .field("secure", &c.secure)
            .field("origins", &c.origins)
            .finish()
    }
}

impl Default for Cookies {
    fn default() -> Self {
        // The defaults pass every check of `build`.
        let built = CookiesBuilder::default().build();
        built.unwrap_or_else(|e| unreachable!("the default cookie configuration is valid: {e}"))
    }
}

/// A [`Cookies`] configuration under construction ([`Cookies::builder`]).
#[derive(Clone, Debug)]
#[must_use]
pub struct CookiesBuilder {
    access: Jar,
    refresh: Jar,
    csrf: Jar,
    domain: Option<String>,
    secure: bool,
    origins: Vec<String>,
}

impl Default for CookiesBuilder {
    fn default() -> Self {
        let jar = |name: &str, path: &str, same_site, http_only| Jar {
            name: name.to_owned(),
            path: path.to_owned(),
            same_site,
            http_only,
        };
        Self {
            access: jar("__Host-kickout", "/", SameSite::Lax, true),
            refresh: jar(
                "__Secure-kickout-refresh",
                "/refresh",
                SameSite::Strict,
                true,
            ),
            csrf: jar("__Host-kickout-csrf", "/", SameSite::Lax, false),
            domain: None,
            secure: true,
            origins: Vec::new(),
        }
    }
}

impl CookiesBuilder {
    /// The access token's cookie name (default `__Host-kickout`).
    pub fn access_name(mut self, name: impl Into<String>) -> Self {
        self.access.name = name.into();
        self
    }

    /// The refresh token's cookie name (default `__Secure-kickout-refresh`).
    pub fn refresh_name(mut self, name: impl Into<String>) -> Self {
        self.refresh.name = name.into();
        self
    }

    /// The CSRF token's cookie name (default `__Host-kickout-csrf`).
    pub fn csrf_name(mut self, name: impl Into<String>) -> Self {
        self.csrf.name = name.into();
        self
    }

    /// The path of the access and CSRF cookies (default `/`).
    pub fn access_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.access.path.clone_from(&path);
        self.csrf.path = path;
        self
    }

    /// The path of the refresh cookie: the refresh route, so no other request carries it
    /// (default `/refresh`).
    pub fn refresh_path(mut self, path: impl Into<String>) -> Self {
        self.refresh.path = path.into();
        self
    }

    /// A `Domain` for all three (default none: the host alone). Not with `__Host-` names.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `SameSite` of the access and CSRF cookies (default `Lax`).
    pub fn access_same_site(mut self, same_site: SameSite) -> Self {
        self.access.same_site = same_site;
        self.csrf.same_site = same_site;
        self
    }

    /// `SameSite` of the refresh cookie (default `Strict`).
    pub fn refresh_same_site(mut self, same_site: SameSite) -> Self {
        self.refresh.same_site = same_site;
        self
    }

    /// `Secure` on all three (default `true`). Turning it off also needs names without
    /// the `__Host-` / `__Secure-` prefixes: browsers refuse those without it.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// An origin (`scheme://host[:port]`) allowed to make unsafe cookie requests besides
    /// the request's own, e.g. a front end served from another host: its requests pass
    /// the CSRF rule (and [`login_guard`](Cookies::login_guard)) by their `Origin`,
    /// whatever their `Sec-Fetch-Site` (`same-site` from a sibling host). Its cookies
    /// must reach the API: a sibling host of the same site does with the default
    /// `SameSite=Lax`; another site needs [`SameSite::None`].
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// The configuration, or why browsers would refuse (or an attacker enjoy) it.
    pub fn build(self) -> Result<Cookies, CookieError> {
        let jars = [&self.access, &self.refresh, &self.csrf];
        for (i, jar) in jars.iter().enumerate() {
            let token = !jar.name.is_empty() && jar.name.bytes().all(is_tchar);
            if !token || jars[..i].iter().any(|j| j.name == jar.name) {
                return Err(CookieError::Name(jar.name.clone()));
            }
            let path_ok = jar.path.starts_with('/')
                && jar.path.bytes().all(|b| b.is_ascii_graphic() && b != b';');
            if !path_ok {
                return Err(CookieError::Path(jar.path.clone()));
            }
            if jar.same_site == SameSite::None && !self.secure {
                return Err(CookieError::NoneWithoutSecure);
            }
            // Browsers read the prefixes whatever their case (RFC 6265bis).
            let has = |prefix: &str| {
                jar.name
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            };
            let host = has("__Host-");
            let prefixed = host || has("__Secure-");
            let host_ok = !host || (jar.path == "/" && self.domain.is_none());
            if prefixed && (!self.secure || !host_ok) {
                return Err(CookieError::Prefix(jar.name.clone()));
            }
        }
        if let Some(domain) = &self.domain {
            let ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
            if !ok {
                return Err(CookieError::Domain(domain.clone()));
            }
        }
        let mut origins = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            let lower = origin.to_ascii_lowercase();
            let ok = csrf::authority_of(lower.as_bytes()).is_some_and(|a| !a.is_empty());
            if !ok {
                return Err(CookieError::Origin(origin.clone()));
            }
            origins.push(lower);
        }
        let mut config = Config {
            access: self.access,
            refresh: self.refresh,
            csrf: self.csrf,
            domain: self.domain,
            secure: self.secure,
            origins,
            clear: Arc::default(),
        };
        let clear: Vec<HeaderValue> = [&config.access, &config.refresh, &config.csrf]
            .into_iter()
            .filter_map(|jar| config.header(jar, "", 0))
            .collect();
        config.clear = Arc::new(clear);
        Ok(Cookies(Arc::new(config)))
    }
}

/// RFC 9110 `tchar`, which RFC 6265 asks of a cookie name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Config {
    /// The `Set-Cookie` value of `jar` holding `value` for `max_age_s` seconds (0:
    /// clears it, with the cookie's own path and attributes, or a browser keeps it).
    fn header(&self, jar: &Jar, value: &str, max_age_s: u64) -> Option<HeaderValue> {
        let max_age = i64::try_from(max_age_s).unwrap_or(i64::MAX);
        let mut cookie = Cookie::build((jar.name.as_str(), value))
            .path(jar.path.as_str())
            .secure(self.secure)
            .http_only(jar.http_only)
            .same_site(jar.same_site.to_cookie())
            .max_age(cookie::time::Duration::seconds(max_age));
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.as_str());
        }
        HeaderValue::from_str(&cookie.build().to_string()).ok()
    }
}

impl Cookies {
    /// A configuration to adjust; [`Cookies::default`] is the default one.
    pub fn builder() -> CookiesBuilder {
        CookiesBuilder::default()
    }

    /// The access cookie's name: what [`AuthLayer::cookies`](crate::AuthLayer::cookies)
    /// reads.
    pub fn access_name(&self) -> &str {
        &self.0.access.name
    }

    /// The `Set-Cookie` headers for a login or a refresh: the access token until its
    /// end, the refresh token (if the session has one) until its end, and a fresh CSRF
    /// token until the session's end — its value also in
    /// [`SetCookies::csrf_token`] for the page. `Err` only if the OS has no randomness.
    pub fn login(&self, login: &Login) -> Result<SetCookies, Error> {
        let c = &*self.0;
        let csrf = csrf::new_token()?;
        let secs = |end_ms: u64| end_ms.saturating_sub(login.issued_at_ms()) / 1000;
        let mut headers = Vec::with_capacity(3);
        headers.extend(c.header(&c.access, login.token.as_str(), login.expires_in()));
        if let Some(refresh) = &login.refresh {
            let value = refresh.token.as_str();
            headers.extend(c.header(&c.refresh, value, secs(refresh.expires_at_ms)));
        }
        headers.extend(c.header(&c.csrf, &csrf, secs(login.session.expires_at_ms)));
        Ok(SetCookies::new(headers, Some(csrf)))
    }

    /// The `Set-Cookie` headers that clear all three: for a logout (a refused cookie
    /// request gets them by itself).
    pub fn clear(&self) -> SetCookies {
        SetCookies::new(self.0.clear.as_ref().clone(), None)
    }

    pub(crate) fn clear_headers(&self) -> &Arc<Vec<HeaderValue>> {
        &self.0.clear
    }

    /// The refresh cookie of a refresh route's request (`http` 1 types: tower, axum),
    /// under the CSRF rule: the token to pass to [`Auth::refresh`](crate::Auth::refresh),
    /// or why not — 403 `csrf_rejected` from another site, 401 `missing_token` without
    /// the cookie (clearing nothing), 400 `invalid_request` for two of them. Answer a
    /// refusal with [`Auth::rejection`](crate::Auth::rejection), so it takes the
    /// handle's realm and `on_rejection` shape like every other refusal.
    ///
    /// ```
    /// use kickout::cookies::Cookies;
    /// use kickout::{Auth, Reason, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// let cookies = Cookies::default();
    /// let req = http::Request::post("/refresh")
    ///     .header("cookie", "__Secure-kickout-refresh=abc")
    ///     .header("sec-fetch-site", "cross-site")
    ///     .body(())
    ///     .unwrap();
    /// let refused = cookies.refresh_token(req.method(), req.uri(), req.headers());
    /// assert_eq!(refused, Err(Reason::CsrfRejected));
    /// // Answered in the handle's realm, in its `on_rejection` shape if it has one.
    /// assert_eq!(auth.rejection(Reason::CsrfRejected).status(), 403);
    /// ```
    pub fn refresh_token(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Result<String, Reason> {
        self.refresh_of(HttpParts::new(method, uri, headers))
    }

    /// [`Cookies::refresh_token`] over any framework's request.
    pub(crate) fn refresh_of<'a>(&self, req: impl Carrier<'a>) -> Result<String, Reason> {
        let Some(token) = one_cookie(req, &self.0.refresh.name)? else {
            // Nothing ambient was used, so no CSRF question; and nothing is cleared: a
            // cross-site request never carries the `Strict` refresh cookie, and clearing
            // the others would let any site sign the user out.
            return Err(Reason::MissingToken);
        };
        if !self.allows(req) {
            return Err(Reason::CsrfRejected);
        }
        Ok(token.to_owned())
    }

    /// Whether an unsafe request authenticated by a cookie may pass ([`csrf`]).
    pub(crate) fn allows<'a>(&self, req: impl Carrier<'a>) -> bool {
        let c = &*self.0;
        csrf::allows(req, &self.site(), || {
            one_cookie(req, &c.csrf.name).ok().flatten()
        })
    }

    fn site(&self) -> csrf::Site<'_> {
        csrf::Site {
            origins: &self.0.origins,
            secure: self.0.secure,
        }
    }

    /// Guards a cookie login against login CSRF (another site signing the user into
    /// the attacker's account with a cross-site form): 403 `csrf_rejected` when the
    /// request's Fetch Metadata or `Origin` names another site; a client that sends
    /// neither (not a browser) passes. Call it before the login whose result
    /// [`Cookies::login`] sets; answer a refusal with
    /// [`Auth::rejection`](crate::Auth::rejection).
    ///
    /// ```
    /// use kickout::cookies::Cookies;
    ///
    /// let cookies = Cookies::default();
    /// let req = http::Request::post("/login")
    ///     .header("origin", "https://evil.example")
    ///     .body(())
    ///     .unwrap();
    /// assert!(cookies.login_guard(req.method(), req.uri(), req.headers()).is_err());
    /// let req = http::Request::post("/login").body(()).unwrap();
    /// assert!(cookies.login_guard(req.method(), req.uri(), req.headers()).is_ok());
    /// ```
    pub fn login_guard(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Result<(), Reason> {
        self.login_guard_of(HttpParts::new(method, uri, headers))
    }

    /// [`Cookies::login_guard`] over any framework's request.
    pub(crate) fn login_guard_of<'a>(&self, req: impl Carrier<'a>) -> Result<(), Reason> {
        if csrf::from_another_site(req, &self.site()) {
            return Err(Reason::CsrfRejected);
        }
        Ok(())
    }
}

/// The value of the one cookie named `name`: `None` if absent, `Err` if there are two.
fn one_cookie<'a>(req: impl Carrier<'a>, name: &str) -> Result<Option<&'a str>, Reason> {
    let mut found = None;
    for value in cookie_values(req, name) {
        if found.replace(value).is_some() {
            return Err(Reason::InvalidRequest);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(headers: &[(&str, &[u8])]) -> (http::Method, http::Uri, http::HeaderMap) {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v);
            }
        }
        (http::Method::POST, http::Uri::from_static("/refresh"), map)
    }

    fn refresh(headers: &[(&str, &[u8])]) -> Result<String, Reason> {
        let (m, u, h) = parts(headers);
        Cookies::default().refresh_token(&m, &u, &h)
    }

    #[test]
    fn unsafe_configurations_are_refused() {
        let plain = || {
            Cookies::builder()
                .access_name("a")
                .refresh_name("r")
                .csrf_name("c")
        };
        assert!(plain().secure(false).build().is_ok());
        let cases = [
            (
                Cookies::builder().secure(false).build(),
                "prefix without Secure",
            ),
            (
                Cookies::builder().domain("example.com").build(),
                "__Host- with a Domain",
            ),
            (
                Cookies::builder().access_path("/app").build(),
                "__Host- with a path",
            ),
            (
                plain()
                    .access_same_site(SameSite::None)
                    .secure(false)
                    .build(),
                "None, not Secure",
            ),
            (
                plain().secure(false).access_name("__host-a").build(),
                "a prefix in lower case, not Secure",
            ),
            (
                plain()
                    .domain("example.com")
                    .refresh_name("__HOST-r")
                    .build(),
                "a prefix in upper case, with a Domain",
            ),
            (
                plain().secure(false).csrf_name("__secure-c").build(),
                "__secure- not Secure",
            ),
            (plain().access_name("a b").build(), "a name with a space"),
            (plain().access_name("").build(), "an empty name"),
            (plain().csrf_name("a").build(), "two cookies of one name"),
            (plain().refresh_path("refresh").build(), "a relative path"),
            (plain().refresh_path("/a;b").build(), "a path with ;"),
            (plain().domain("exa mple.com").build(), "a bad domain"),
            (
                plain().allowed_origin("app.example.com").build(),
                "an origin without scheme",
            ),
            (
                plain().allowed_origin("https://a.example/path").build(),
                "an origin with a path",
            ),
        ];
        for (built, what) in cases {
            assert!(built.is_err(), "{what}");
        }
        assert!(
            plain()
                .domain("example.com")
                .allowed_origin("https://app.example.com")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn clearing_headers_keep_each_cookies_path_and_secure() {
        let set = Cookies::default().clear();
        let parsed: Vec<Cookie<'_>> = set
            .headers()
            .iter()
            .map(|v| Cookie::parse(v.to_str().unwrap()).unwrap())
            .collect();
        let want = [
            ("__Host-kickout", "/"),
            ("__Secure-kickout-refresh", "/refresh"),
            ("__Host-kickout-csrf", "/"),
        ];
        assert_eq!(parsed.len(), 3);
        for (c, (name, path)) in parsed.iter().zip(want) {
            assert_eq!((c.name(), c.value(), c.path()), (name, "", Some(path)));
            assert_eq!(c.max_age(), Some(cookie::time::Duration::ZERO));
            assert_eq!(c.secure(), Some(true));
            // No Expires: it would read the wall clock.
            assert_eq!(c.expires(), None);
        }
        assert!(set.csrf_token().is_none());
        assert_eq!(format!("{set:?}"), "SetCookies { headers: 3, .. }");
    }

    #[test]
    fn the_refresh_cookie_is_read_under_the_csrf_rule() {
        let same = ("sec-fetch-site", &b"same-origin"[..]);
        assert_eq!(
            refresh(&[("cookie", b"__Secure-kickout-refresh=abc"), same]),
            Ok("abc".into())
        );
        assert_eq!(
            refresh(&[("cookie", b"x=1; __Secure-kickout-refresh=\"abc\""), same]),
            Ok("abc".into())
        );
        assert_eq!(
            refresh(&[("cookie", b"__Secure-kickout-refresh=abc")]),
            Err(Reason::CsrfRejected)
        );
        // Absent: nothing ambient was used, so no CSRF question.
        assert_eq!(
            refresh(&[("cookie", b"other=1")]),
            Err(Reason::MissingToken)
        );
        // Two, in one header or two: ambiguous.
        assert_eq!(
            refresh(&[
                (
                    "cookie",
                    b"__Secure-kickout-refresh=a; __Secure-kickout-refresh=b"
                ),
                same
            ]),
            Err(Reason::InvalidRequest)
        );
        assert_eq!(
            refresh(&[
                ("cookie", b"__Secure-kickout-refresh=a"),
                ("cookie", b"__Secure-kickout-refresh=b"),
                same
            ]),
            Err(Reason::InvalidRequest)
        );
        // A pair that is not UTF-8 offers nothing; a name is matched exactly.
        assert_eq!(
            refresh(&[("cookie", b"__Secure-kickout-refresh=\xff"), same]),
            Err(Reason::MissingToken)
        );
        assert_eq!(
            refresh(&[("cookie", b"__secure-kickout-refresh=a"), same]),
            Err(Reason::MissingToken)
        );
        // A huge header of many pairs: read, not choked on.
        let mut huge = "p=1; ".repeat(10_000);
        huge.push_str("__Secure-kickout-refresh=z");
        assert_eq!(
            refresh(&[("cookie", huge.as_bytes()), same]),
            Ok("z".into())
        );
    }

    proptest! {
        /// Any `Cookie` headers: reading never panics, and a value it returns is one a
        /// pair of the exact name carried.
        #[test]
        fn hostile_cookie_headers(
            headers in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..4),
            insert in any::<bool>(),
        ) {
            let mut all: Vec<Vec<u8>> = headers;
            if insert {
                all.push(b"__Secure-kickout-refresh=tok".to_vec());
            }
            let pairs: Vec<(&str, &[u8])> = all.iter().map(|v| ("cookie", v.as_slice())).collect();
            let mut with_site = pairs.clone();
            with_site.push(("sec-fetch-site", b"same-origin"));
            if let Ok(token) = refresh(&with_site) {
                let needle = format!("__Secure-kickout-refresh={token}");
                let quoted = format!("__Secure-kickout-refresh=\"{token}\"");
                let carried = all.iter().any(|h| {
                    let h = String::from_utf8_lossy(h);
                    h.contains(&needle) || h.contains(&quoted)
                });
                prop_assert!(carried);
            }
        }
    }
}
