//! The CSRF rule for requests authenticated by a cookie, pure over a request's headers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderName;
use http::header::{ORIGIN, UPGRADE};

use crate::error::Error;
use crate::token::extract::{Carrier, Wanted};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The header a page's script repeats the CSRF cookie in.
pub(crate) const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// Where the site's own origins are: the origins allowed besides the request's own,
/// and whether the site is served over TLS (then an `http://` origin is another's,
/// except on loopback, where browsers count plain HTTP as secure).
pub(crate) struct Site<'o> {
    pub(crate) origins: &'o [String],
    pub(crate) secure: bool,
}

/// Whether an unsafe request authenticated by a cookie shows it comes from the site:
/// `Sec-Fetch-Site: same-origin` or `none`; an `Origin` that is an allowed one (a front
/// end of another host sends `same-site` or `cross-site`); with no `Sec-Fetch-Site`, an
/// `Origin` that is the request's own; else an `X-CSRF-Token` equal to the CSRF cookie
/// (`csrf_cookie`, read only then). A safe request always passes: it changes nothing
/// ([`changes_nothing`]). A header sent twice says nothing, but a `Sec-Fetch-Site` sent
/// twice still rules out the own-`Origin` fallback.
pub(crate) fn allows<'a>(
    req: impl Carrier<'a>,
    site: &Site<'_>,
    csrf_cookie: impl FnOnce() -> Option<&'a str>,
) -> bool {
    if changes_nothing(req) || one(req, &SEC_FETCH_SITE).is_some_and(own_fetch) {
        return true;
    }
    if origin_vouches(req, site) {
        return true;
    }
    match (one(req, &CSRF_HEADER), csrf_cookie()) {
        (Some(header), Some(cookie)) => !cookie.is_empty() && same(header, cookie.as_bytes()),
        _ => false,
    }
}

/// Whether a request a browser sent says it came from another site: its Fetch Metadata
/// or its `Origin` names one (an allowed origin is not another site). A client that
/// sends neither (not a browser, or one from before both) says nothing, and is not
/// taken for one. For a request that carries no credential yet, such as a cookie login
/// (login CSRF: another site signing the user into the attacker's account).
pub(crate) fn from_another_site<'a>(req: impl Carrier<'a>, site: &Site<'_>) -> bool {
    if changes_nothing(req)
        || one(req, &SEC_FETCH_SITE).is_some_and(own_fetch)
        || origin_vouches(req, site)
    {
        return false;
    }
    sent(req, &SEC_FETCH_SITE) || sent(req, &ORIGIN)
}

/// Whether the request's one `Origin` is an allowed one, or — when the browser sent no
/// Fetch Metadata to go by — the request's own.
fn origin_vouches<'a>(req: impl Carrier<'a>, site: &Site<'_>) -> bool {
    one(req, &ORIGIN).is_some_and(|origin| {
        allowed(origin, site) || !sent(req, &SEC_FETCH_SITE) && own(origin, req.host(), site)
    })
}

/// A safe method, and no WebSocket handshake: that is a `GET` with `Upgrade:
/// websocket`, but what it opens reads and writes as the user, and browsers let any page
/// open one (no CORS), so it needs the same proof as a `POST`.
fn changes_nothing<'a>(req: impl Carrier<'a>) -> bool {
    req.safe_method()
        && !req
            .values(Wanted::Header(&UPGRADE))
            .any(|v| v.windows(9).any(|w| w.eq_ignore_ascii_case(b"websocket")))
}

/// Whether the request has a header `name`, once or more.
fn sent<'a>(req: impl Carrier<'a>, name: &HeaderName) -> bool {
    req.values(Wanted::Header(name)).next().is_some()
}

/// `same-origin`, or `none` (the user typed it or opened a bookmark).
fn own_fetch(site: &[u8]) -> bool {
    site.eq_ignore_ascii_case(b"same-origin") || site == b"none"
}

/// The value of a header sent exactly once.
fn one<'a>(req: impl Carrier<'a>, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = req.values(Wanted::Header(name));
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Whether `origin` is one of the site's allowed origins.
fn allowed(origin: &[u8], site: &Site<'_>) -> bool {
    site.origins
        .iter()
        .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
}

/// Whether `origin` is the request's own: its host (a proxy may end TLS, so the `Host`
/// says nothing of the scheme), over `https` when the site is secure — `http` only on
/// loopback.
fn own(origin: &[u8], host: Option<&[u8]>, site: &Site<'_>) -> bool {
    let Some(authority) = authority_of(origin) else {
        return false;
    };
    let own = host.is_some_and(|host| !host.is_empty() && authority.eq_ignore_ascii_case(host));
    let scheme_ok = !site.secure
        || origin.len() > 8 && origin[..8].eq_ignore_ascii_case(b"https://")
        || loopback(authority);
    own && scheme_ok
}

/// `localhost`, `127.0.0.1` or `[::1]`, with any port.
fn loopback(authority: &[u8]) -> bool {
    let host = match authority.iter().rposition(|&b| b == b':') {
        Some(i) if !authority.ends_with(b"]") => &authority[..i],
        _ => authority,
    };
    host.eq_ignore_ascii_case(b"localhost") || host == b"127.0.0.1" || host == b"[::1]"
}

/// The `host[:port]` of a serialized origin `scheme://host[:port]`; `None` for anything
/// else (`null`, a path, user info).
pub(crate) fn authority_of(origin: &[u8]) -> Option<&[u8]> {
    let at = origin.windows(3).position(|w| w == b"://")?;
    let (scheme, rest) = (&origin[..at], &origin[at + 3..]);
    let scheme_ok = !scheme.is_empty() && scheme.iter().all(u8::is_ascii_alphabetic);
    let rest_ok = rest
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    (scheme_ok && rest_ok).then_some(rest)
}

/// Equality that takes as long whatever the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh CSRF token: 32 random bytes, base64url.
pub(crate) fn new_token() -> Result<String, Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(crate::mode::random)?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::extract::HttpParts;
    use proptest::prelude::*;

    fn check(method: &str, headers: &[(&str, &[u8])]) -> bool {
        let mut req = http::Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(()).unwrap();
        let parts = HttpParts::new(req.method(), req.uri(), req.headers());
        let origins = ["https://app.example.com".to_owned()];
        let site = Site {
            origins: &origins,
            secure: true,
        };
        allows(parts, &site, || Some("tok"))
    }

    fn foreign(method: &str, headers: &[(&str, &[u8])]) -> bool {
        let mut req = http::Request::builder().method(method).uri("/login");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(()).unwrap();
        let parts = HttpParts::new(req.method(), req.uri(), req.headers());
        let origins = ["https://app.example.com".to_owned()];
        let site = Site {
            origins: &origins,
            secure: true,
        };
        from_another_site(parts, &site)
    }

    #[test]
    fn login_csrf_needs_evidence() {
        let host: (&str, &[u8]) = ("host", b"api.example.com");
        // A client that says nothing (curl, a server) is not a browser of another site.
        assert!(!foreign("POST", &[host]));
        assert!(foreign("POST", &[host, ("sec-fetch-site", b"cross-site")]));
        assert!(foreign("POST", &[host, ("sec-fetch-site", b"same-site")]));
        assert!(!foreign(
            "POST",
            &[host, ("sec-fetch-site", b"same-origin")]
        ));
        assert!(foreign(
            "POST",
            &[host, ("origin", b"https://evil.example")]
        ));
        assert!(foreign("POST", &[host, ("origin", b"null")]));
        assert!(!foreign(
            "POST",
            &[host, ("origin", b"https://api.example.com")]
        ));
        // Plain HTTP is another origin of a secure site, except on loopback.
        assert!(foreign(
            "POST",
            &[host, ("origin", b"http://api.example.com")]
        ));
        let local: (&str, &[u8]) = ("host", b"127.0.0.1:3000");
        assert!(!foreign(
            "POST",
            &[local, ("origin", b"http://127.0.0.1:3000")]
        ));
        let six: (&str, &[u8]) = ("host", b"[::1]:8080");
        assert!(!foreign("POST", &[six, ("origin", b"http://[::1]:8080")]));
        assert!(!foreign("GET", &[host, ("sec-fetch-site", b"cross-site")]));
        // An allowed front end on another host: browsers say `same-site` (or
        // `cross-site`) and name it in `Origin`.
        for fetch in [&b"same-site"[..], b"cross-site"] {
            let app: (&str, &[u8]) = ("origin", b"https://app.example.com");
            assert!(!foreign("POST", &[host, ("sec-fetch-site", fetch), app]));
        }
        // Fetch Metadata sent twice still rules out the own-origin fallback.
        let own: (&str, &[u8]) = ("origin", b"https://api.example.com");
        let twice: [(&str, &[u8]); 2] = [("sec-fetch-site", b"cross-site"); 2];
        assert!(foreign("POST", &[host, twice[0], twice[1], own]));
        assert!(foreign("POST", &[host, twice[0], twice[1]]));
    }

    #[test]
    fn the_rule() {
        let host: (&str, &[u8]) = ("host", b"api.example.com");
        // Safe methods change nothing.
        assert!(check("GET", &[("sec-fetch-site", b"cross-site")]));
        // Fetch Metadata decides when present.
        assert!(check("POST", &[("sec-fetch-site", b"same-origin")]));
        assert!(check("POST", &[("sec-fetch-site", b"none")]));
        assert!(!check(
            "POST",
            &[
                ("sec-fetch-site", b"same-site"),
                host,
                ("origin", b"https://api.example.com")
            ]
        ));
        assert!(!check("POST", &[("sec-fetch-site", b"cross-site")]));
        // An allowed origin passes whatever the Fetch Metadata: a front end on another
        // host is `same-site` (or `cross-site`) to the API.
        for fetch in [&b"same-site"[..], b"cross-site"] {
            let app: (&str, &[u8]) = ("origin", b"https://app.example.com");
            assert!(check("POST", &[host, ("sec-fetch-site", fetch), app]));
        }
        // Sent twice, Fetch Metadata vouches for nothing and still rules out the
        // own-origin fallback.
        let own: (&str, &[u8]) = ("origin", b"https://api.example.com");
        let twice: [(&str, &[u8]); 2] = [("sec-fetch-site", b"same-origin"); 2];
        assert!(!check("POST", &[host, twice[0], twice[1], own]));
        // Without it, the Origin: the request's own, or an allowed one.
        assert!(check(
            "POST",
            &[host, ("origin", b"https://api.example.com")]
        ));
        // Over plain HTTP a secure site's host is another origin (a network attacker's).
        assert!(!check(
            "POST",
            &[host, ("origin", b"http://api.example.com")]
        ));
        let local: (&str, &[u8]) = ("host", b"localhost:3000");
        assert!(check(
            "POST",
            &[local, ("origin", b"http://localhost:3000")]
        ));
        assert!(check(
            "DELETE",
            &[host, ("origin", b"https://app.example.com")]
        ));
        assert!(!check("POST", &[host, ("origin", b"https://evil.example")]));
        assert!(!check("POST", &[host, ("origin", b"null")]));
        assert!(!check("POST", &[host]));
        // A prefix of the host is not the host.
        assert!(!check(
            "POST",
            &[host, ("origin", b"https://api.example.com.evil")]
        ));
        // The double submit, whatever else.
        assert!(check(
            "POST",
            &[("sec-fetch-site", b"cross-site"), ("x-csrf-token", b"tok")]
        ));
        assert!(!check("POST", &[("x-csrf-token", b"tok2")]));
        assert!(!check(
            "POST",
            &[("x-csrf-token", b"tok"), ("x-csrf-token", b"tok")]
        ));
        // Two Origin headers are none.
        assert!(!check(
            "POST",
            &[
                host,
                ("origin", b"https://api.example.com"),
                ("origin", b"https://api.example.com")
            ]
        ));
    }

    proptest! {
        /// No header soup passes an unsafe request unless it carries an allowed origin,
        /// its own origin without fetch metadata, `same-origin`/`none` fetch metadata,
        /// or the token; and nothing panics.
        #[test]
        fn only_the_site_passes(
            site in proptest::option::of(prop::collection::vec(any::<u8>(), 0..24)),
            origin in proptest::option::of(prop::collection::vec(any::<u8>(), 0..48)),
            token in proptest::option::of(prop::collection::vec(any::<u8>(), 0..8)),
        ) {
            let mut headers: Vec<(&str, Vec<u8>)> = vec![("host", b"api.example.com".to_vec())];
            let ok = |v: &Vec<u8>| http::HeaderValue::from_bytes(v).is_ok();
            if let Some(s) = site.as_ref().filter(|v| ok(v)) { headers.push(("sec-fetch-site", s.clone())); }
            if let Some(o) = origin.as_ref().filter(|v| ok(v)) { headers.push(("origin", o.clone())); }
            if let Some(t) = token.as_ref().filter(|v| ok(v)) { headers.push(("x-csrf-token", t.clone())); }
            let refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let passed = check("POST", &refs);
            let site = site.filter(|v| ok(v));
            let fetch_ok = site.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(b"same-origin") || s == b"none");
            let origin_ok = origin.filter(|v| ok(v)).is_some_and(|o| {
                let o = o.to_ascii_lowercase();
                o == b"https://app.example.com" || site.is_none() && o == b"https://api.example.com"
            });
            let token_ok = token.filter(|v| ok(v)).is_some_and(|t| t == b"tok");
            prop_assert_eq!(passed, fetch_ok || origin_ok || token_ok);
        }
    }
}
