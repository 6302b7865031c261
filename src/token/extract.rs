//! Where a request carries its bearer token, and how it is read (RFC 6750).

use std::borrow::Cow;

use http::HeaderName;

use crate::rejection::Reason;

/// A header a source reads.
#[derive(Clone, Copy)]
pub(crate) enum Wanted<'n> {
    Authorization,
    Cookie,
    Header(&'n HeaderName),
}

/// What a request offers to the token sources and the CSRF rule, whatever the
/// framework's types: its header values by name, its query string, whether its method
/// is safe, and its host.
pub(crate) trait Carrier<'a>: Copy {
    fn values(self, name: Wanted<'_>) -> impl Iterator<Item = &'a [u8]>;
    fn query(self) -> Option<&'a str>;
    /// GET, HEAD or OPTIONS: a method that changes nothing.
    fn safe_method(self) -> bool;
    /// The `Host` header, else the URI's authority (HTTP/2).
    fn host(self) -> Option<&'a [u8]>;
}

/// The carrier of an `http` request (tower, axum).
#[derive(Clone, Copy)]
pub(crate) struct HttpParts<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a http::HeaderMap,
}

impl<'a> HttpParts<'a> {
    pub(crate) fn new(
        method: &'a http::Method,
        uri: &'a http::Uri,
        headers: &'a http::HeaderMap,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }
}

impl<'a> Carrier<'a> for HttpParts<'a> {
    fn values(self, name: Wanted<'_>) -> impl Iterator<Item = &'a [u8]> {
        let values = match name {
            Wanted::Authorization => self.headers.get_all(http::header::AUTHORIZATION),
            Wanted::Cookie => self.headers.get_all(http::header::COOKIE),
            Wanted::Header(name) => self.headers.get_all(name),
        };
        values.into_iter().map(http::HeaderValue::as_bytes)
    }

    fn query(self) -> Option<&'a str> {
        self.uri.query()
    }

    fn safe_method(self) -> bool {
        matches!(
            *self.method,
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        )
    }

    fn host(self) -> Option<&'a [u8]> {
        match self.headers.get(http::header::HOST) {
            Some(host) => Some(host.as_bytes()),
            None => self.uri.authority().map(|a| a.as_str().as_bytes()),
        }
    }
}

/// The values of the cookies named `name` in a request's `Cookie` headers (RFC 6265
/// §5.4, parsed by the `cookie` crate; a pair it cannot parse, or that is not UTF-8,
/// offers nothing — the other pairs of its header still count), a quoted value without
/// its quotes. The name must be exactly `name`, with nothing around it but spaces and
/// tabs (RFC 6265 §5.2): the `cookie` crate trims any Unicode whitespace, and a cookie
/// named `\u{2000}__Host-kickout` is set by a browser without the rules of the
/// `__Host-` prefix (any sibling subdomain may plant it), so it must not pass for one.
pub(crate) fn cookie_values<'a>(
    req: impl Carrier<'a>,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    req.values(Wanted::Cookie)
        .flat_map(|value| value.split(|&b| b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter(move |pair| {
            pair.split_once('=')
                .is_some_and(|(n, _)| n.trim_matches([' ', '\t']) == name)
        })
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name_raw() == Some(name))
        .filter_map(|c| c.value_raw())
        .map(|v| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

/// Why a request's token could not be read, and whether a cookie was at fault (the
/// browser then replays it on every request: the refusal clears it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub(crate) reason: Reason,
    pub(crate) cookie: bool,
}

impl From<Reason> for Unreadable {
    fn from(reason: Reason) -> Self {
        Self {
            reason,
            cookie: false,
        }
    }
}

/// A token a request offered, and whether it came in a cookie (which the CSRF rule
/// then guards).
pub(crate) struct Offered<'a> {
    pub(crate) token: Cow<'a, str>,
    pub(crate) by_cookie: bool,
}

/// A header name of either framework's `http` crate: axum and tower use `http` 1,
/// actix-web 4 its own. Sealed.
pub trait IntoHeaderName: sealed::Sealed {
    /// The name as `http` 1's type.
    fn into_header_name(self) -> HeaderName;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for http::HeaderName {}
    #[cfg(feature = "actix")]
    impl Sealed for actix_web::http::header::HeaderName {}
}

impl IntoHeaderName for HeaderName {
    fn into_header_name(self) -> HeaderName {
        self
    }
}

#[cfg(feature = "actix")]
impl IntoHeaderName for actix_web::http::header::HeaderName {
    fn into_header_name(self) -> HeaderName {
        // A valid actix name is a valid `http` 1 name: both follow RFC 9110's token.
        HeaderName::from_bytes(self.as_str().as_bytes()).unwrap_or(http::header::AUTHORIZATION)
    }
}

/// Default cap on a token's length; longer ones are refused before any store work.
const DEFAULT_MAX_LEN: usize = crate::limits::MAX_TOKEN_LEN;

/// Where the layer looks for the bearer token.
///
/// By default only `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is
/// case-insensitive). A custom header or a cookie can be used instead or as well, and the
/// query string (`?access_token=`, RFC 6750 §2.3) only when explicitly enabled — tokens in
/// URLs end up in logs and `Referer` headers.
///
/// Exactly one token may be offered: two `Authorization` headers, two cookies of the
/// token's name, or a header plus an enabled cookie or query parameter, are refused as
/// `invalid_request`.
///
/// ```
/// use kickout::TokenSource;
///
/// // The default: Authorization: Bearer only.
/// let bearer = TokenSource::bearer();
/// // A cookie instead of the header.
/// let cookie = TokenSource::cookie("session");
/// // The header, and for one route (EventSource cannot set headers) the query string too.
/// let events = TokenSource::bearer().with_query("access_token");
/// # let _ = (bearer, cookie, events);
/// ```
#[derive(Clone, Debug)]
pub struct TokenSource {
    bearer: bool,
    header: Option<HeaderName>,
    cookie: Option<String>,
    query: Option<String>,
    max_len: usize,
}

impl Default for TokenSource {
    fn default() -> Self {
        Self::bearer()
    }
}

impl TokenSource {
    /// `Authorization: Bearer <token>` only.
    pub fn bearer() -> Self {
        Self {
            bearer: true,
            header: None,
            cookie: None,
            query: None,
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// Only the named header, whose whole value is the token (no scheme). Takes the
    /// header name type of `http` 1 (axum, tower) or, with the `actix` feature, of
    /// actix-web.
    pub fn header(name: impl IntoHeaderName) -> Self {
        Self::none().with_header(name)
    }

    /// Only the named cookie. A cookie-borne token is guarded against cross-site
    /// requests: an unsafe request must carry `Sec-Fetch-Site: same-origin` (or `none`)
    /// or, without that header, its own `Origin` over `https` (plain `http` only on
    /// loopback), else 403 `csrf_rejected`. For browser sessions with a CSRF
    /// token, cookies set and cleared for you, use
    /// [`AuthLayer::cookies`](crate::AuthLayer::cookies) instead.
    pub fn cookie(name: impl Into<String>) -> Self {
        Self::none().with_cookie(name)
    }

    fn none() -> Self {
        Self {
            bearer: false,
            ..Self::bearer()
        }
    }

    /// Also accept `Authorization: Bearer`.
    pub fn with_bearer(mut self) -> Self {
        self.bearer = true;
        self
    }

    /// Also accept the named header, whose whole value is the token.
    pub fn with_header(mut self, name: impl IntoHeaderName) -> Self {
        self.header = Some(name.into_header_name());
        self
    }

    /// Also accept the named cookie.
    pub fn with_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Also accept the named query parameter. Off unless called: use it only where a
    /// client cannot send headers (a browser `EventSource`, a WebSocket upgrade).
    pub fn with_query(mut self, name: impl Into<String>) -> Self {
        self.query = Some(name.into());
        self
    }

    /// Refuse tokens longer than `max_len` bytes as `invalid_token` (default 4096).
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Reads the token of a request: `Ok(None)` when none is offered.
    pub(crate) fn extract<'a>(
        &self,
        req: impl Carrier<'a>,
    ) -> Result<Option<Offered<'a>>, Unreadable> {
        let mut found: Option<Cow<'a, str>> = None;
        let mut by_cookie = false;
        let mut offer = |token: Cow<'a, str>| {
            if found.replace(token).is_some() {
                Err(Reason::InvalidRequest)
            } else {
                Ok(())
            }
        };
        if self.bearer {
            let mut values = req.values(Wanted::Authorization);
            if let Some(value) = values.next() {
                // Two Authorization headers are ambiguous, whatever their schemes.
                if values.next().is_some() {
                    return Err(Reason::InvalidRequest.into());
                }
                if let Some(token) = bearer_credentials(value)? {
                    offer(Cow::Borrowed(token))?;
                }
            }
        }
        if let Some(name) = &self.header {
            for value in req.values(Wanted::Header(name)) {
                offer(Cow::Borrowed(b64token(value)?))?;
            }
        }
        if let Some(name) = &self.cookie {
            // Two cookies of the token's name (several paths or domains match) are two
            // tokens, whichever a browser sends first: ambiguous, like two headers, and
            // nothing is cleared (one may be planted). A lone cookie that does not read
            // as a token is the cookie's fault: its refusal clears it.
            let mut values = cookie_values(req, name);
            if let Some(v) = values.next() {
                if values.next().is_some() {
                    return Err(Reason::InvalidRequest.into());
                }
                // With a header too: ambiguous, whatever the cookie holds.
                offer(Cow::Borrowed(v))?;
                b64token(v.as_bytes()).map_err(|reason| Unreadable {
                    reason,
                    cookie: true,
                })?;
                by_cookie = true;
            }
        }
        // The query is looked at only by a source that reads one.
        if let Some(name) = &self.query
            && let Some(query) = req.query()
        {
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                if k == name.as_str() {
                    b64token(v.as_bytes())?;
                    offer(v)?;
                }
            }
        }
        Ok(found.map(|token| Offered { token, by_cookie }))
    }

    /// Whether an offered token is over this source's cap: `invalid_token`, refused
    /// once it is known how the token came (a cookie's refusal clears the cookies).
    pub(crate) fn too_long(&self, token: &str) -> bool {
        token.len() > self.max_len
    }
}

/// The token of an `Authorization` value if its scheme is Bearer; `Ok(None)` for other
/// schemes, `invalid_request` for a malformed Bearer credential.
fn bearer_credentials(value: &[u8]) -> Result<Option<&str>, Reason> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    // 1*SP b64token, tolerating trailing whitespace.
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    let token = rest.get(start..end).ok_or(Reason::InvalidRequest)?;
    b64token(token).map(Some)
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// This runs on every request: the body is checked with no branch per byte.
fn b64token(token: &[u8]) -> Result<&str, Reason> {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let (body, _) = token.split_at(token.len() - padding);
    // `=` is not a body byte, so one in the body fails here as it should.
    let valid = body
        .iter()
        .fold(!body.is_empty(), |ok, &b| ok & b64token_byte(b));
    if !valid {
        return Err(Reason::InvalidRequest);
    }
    // Only ASCII passed the check above.
    std::str::from_utf8(token).map_err(|_| Reason::InvalidRequest)
}

/// Whether `b` may be in a b64token's body.
fn b64token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() | matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Uri};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    type Extracted = Result<Option<String>, Reason>;

    /// What `source` reads from these headers and URI, as an owned token.
    fn ex(source: &TokenSource, h: &HeaderMap, uri: &Uri) -> Extracted {
        let get = http::Method::GET;
        let found = source
            .extract(HttpParts::new(&get, uri, h))
            .map_err(|u| u.reason)?;
        Ok(found.map(|o| o.token.into_owned()))
    }

    fn bearer(pairs: &[(&str, &[u8])]) -> Extracted {
        let h = headers(pairs);
        let uri = Uri::from_static("/");
        ex(&TokenSource::bearer(), &h, &uri)
    }

    #[test]
    fn bearer_header_table() {
        use Reason::*;
        let ok = |s: &str| Ok(Some(s.to_owned()));
        let cases: &[(&[u8], Extracted)] = &[
            (b"Bearer abc", ok("abc")),
            (b"bearer abc", ok("abc")),
            (b"BEARER abc", ok("abc")),
            (b"Bearer   abc  ", ok("abc")),
            (b"Bearer a-b.c_d~e+f/g==", ok("a-b.c_d~e+f/g==")),
            (b"Basic dXNlcjpwYXNz", Ok(None)),
            (b"Bearerabc", Ok(None)),
            (b"Token abc", Ok(None)),
            (b"Bearer", Err(InvalidRequest)),
            (b"Bearer ", Err(InvalidRequest)),
            (b"Bearer    ", Err(InvalidRequest)),
            (b"Bearer ====", Err(InvalidRequest)),
            (b"Bearer a b", Err(InvalidRequest)),
            (b"Bearer a=b", Err(InvalidRequest)),
            (b"Bearer abc,def", Err(InvalidRequest)),
            (b"Bearer \"abc\"", Err(InvalidRequest)),
            (b"Bearer ab\tc", Err(InvalidRequest)),
            (b"Bearer\tabc", Err(InvalidRequest)),
            (b"Bearer \xc3\xa9t\xc3\xa9", Err(InvalidRequest)),
            (b"Bearer \xff", Err(InvalidRequest)),
        ];
        for (value, want) in cases {
            let got = bearer(&[("authorization", value)]);
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(value));
        }
        assert_eq!(bearer(&[]), Ok(None));
    }

    #[test]
    fn a_token_offered_twice_is_invalid_request() {
        assert_eq!(
            bearer(&[
                ("authorization", b"Bearer a"),
                ("authorization", b"Bearer a")
            ]),
            Err(Reason::InvalidRequest)
        );
        let h = headers(&[("authorization", b"Bearer a"), ("cookie", b"x=1; sid=b")]);
        let uri = Uri::from_static("/?access_token=c");
        let both = TokenSource::bearer().with_cookie("sid");
        assert_eq!(ex(&both, &h, &uri), Err(Reason::InvalidRequest));
        let query = TokenSource::bearer().with_query("access_token");
        assert_eq!(ex(&query, &h, &uri), Err(Reason::InvalidRequest));
        // Sources not enabled are not read.
        assert_eq!(ex(&TokenSource::bearer(), &h, &uri), Ok(Some("a".into())));
    }

    #[test]
    fn cookie_header_and_query_sources() {
        let uri = Uri::from_static("/events?x=1&access_token=ab%2Bc");
        let h = headers(&[("cookie", b"a=1; sid=tok; b=2"), ("x-token", b"xt")]);
        let got = |s: TokenSource| ex(&s, &h, &uri);
        assert_eq!(got(TokenSource::cookie("sid")), Ok(Some("tok".into())));
        // Two cookies of the name, in one header or two: two tokens.
        for twice in [
            headers(&[("cookie", b"a=1; sid=tok; b=2; sid=older")]),
            headers(&[("cookie", b"sid=tok"), ("cookie", b"sid=older")]),
        ] {
            assert_eq!(
                ex(&TokenSource::cookie("sid"), &twice, &uri),
                Err(Reason::InvalidRequest)
            );
        }
        // A name padded with other whitespace than spaces and tabs is another name: a
        // browser applies no prefix rule to it, so it may be planted.
        for padded in ["\u{2000}", "\u{a0}", "\u{3000}", "\u{85}"] {
            let planted = format!("{padded}sid=planted; sid=tok");
            let h = headers(&[("cookie", planted.as_bytes())]);
            assert_eq!(
                ex(&TokenSource::cookie("sid"), &h, &uri),
                Ok(Some("tok".into())),
                "{padded:?}"
            );
            let planted = format!("sid{padded}=planted");
            let h = headers(&[("cookie", planted.as_bytes())]);
            assert_eq!(
                ex(&TokenSource::cookie("sid"), &h, &uri),
                Ok(None),
                "{padded:?}"
            );
        }
        let h = headers(&[("cookie", b" \tsid \t= tok")]);
        assert_eq!(
            ex(&TokenSource::cookie("sid"), &h, &uri),
            Ok(Some("tok".into()))
        );
        assert_eq!(
            got(TokenSource::header(HeaderName::from_static("x-token"))),
            Ok(Some("xt".into()))
        );
        let q = TokenSource::bearer().with_query("access_token");
        assert_eq!(ex(&q, &HeaderMap::new(), &uri), Ok(Some("ab+c".into())));
        // Query tokens are off by default.
        assert_eq!(
            ex(&TokenSource::bearer(), &HeaderMap::new(), &uri),
            Ok(None)
        );
    }

    #[test]
    fn over_long_tokens_are_refused() {
        let source = TokenSource::bearer();
        assert!(source.too_long(&"a".repeat(4097)));
        assert!(!source.too_long(&"a".repeat(4096)));
        assert!(source.clone().max_len(8).too_long("abcdefghi"));
    }

    /// The grammar as RFC 6750 writes it, checked byte by byte.
    fn b64token_as_written(token: &[u8]) -> bool {
        let body = token
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
            .count();
        body > 0 && token[body..].iter().all(|&b| b == b'=')
    }

    #[test]
    fn every_byte_is_classified_as_the_grammar_says() {
        for b in 0..=u8::MAX {
            assert_eq!(
                b64token(&[b]).is_ok(),
                b64token_as_written(&[b]),
                "byte {b}"
            );
            assert_eq!(
                b64token(&[b, b'=']).is_ok(),
                b64token_as_written(&[b, b'=']),
                "byte {b}"
            );
        }
    }

    proptest::proptest! {
        /// The one-pass check accepts exactly what the grammar does, on tokens of every
        /// byte, with and without padding.
        #[test]
        fn b64token_is_the_grammar(
            token in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(b"aZ09-._~+/=".to_vec()),
                ],
                0..70,
            ),
        ) {
            proptest::prop_assert_eq!(b64token(&token).is_ok(), b64token_as_written(&token));
        }

        /// Any header bytes, cookies and query strings: extraction never panics, and a
        /// token it returns is a non-empty run of token characters within the cap.
        #[test]
        fn extraction_never_panics(
            auth in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..3),
            cookie in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            query in "[ -~]{0,80}",
        ) {
            let mut map = HeaderMap::new();
            for value in &auth {
                if let Ok(v) = HeaderValue::from_bytes(value) {
                    map.append(http::header::AUTHORIZATION, v);
                }
            }
            if let Ok(v) = HeaderValue::from_bytes(&cookie) {
                map.append(http::header::COOKIE, v);
            }
            let uri: Uri = format!("/?{}", query.replace(['#', ' '], "")).parse().unwrap_or_default();
            let every = TokenSource::bearer()
                .with_cookie("sid")
                .with_query("access_token")
                .max_len(64);
            if let Ok(Some(token)) = ex(&every, &map, &uri) {
                proptest::prop_assert!(!token.is_empty());
                proptest::prop_assert_eq!(every.too_long(&token), token.len() > 64);
            }
        }
    }
}
