//! The CSRF rule for requests authenticated by a cookie, pure over a request's headers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderName;
use http::header::ORIGIN;

use crate::error::Error;
use crate::token::extract::{Carrier, Wanted};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The header a page's script repeats the CSRF cookie in.
pub(crate) const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// Whether an unsafe request authenticated by a cookie shows it comes from the site:
/// `Sec-Fetch-Site: same-origin` or `none`; else, with no `Sec-Fetch-Site`, an `Origin`
/// whose host is the request's own or one of `origins`; else an `X-CSRF-Token` equal to
/// the CSRF cookie (`csrf_cookie`, read only then). A safe method always passes: it
/// changes nothing. A header sent twice counts as absent.
pub(crate) fn allows<'a>(
    req: impl Carrier<'a>,
    origins: &[String],
    csrf_cookie: impl FnOnce() -> Option<&'a str>,
) -> bool {
    if req.safe_method() {
        return true;
    }
    match one(req, &SEC_FETCH_SITE) {
        Some(site) if site.eq_ignore_ascii_case(b"same-origin") || site == b"none" => {
            return true;
        }
        Some(_) => {}
        None => {
            if one(req, &ORIGIN).is_some_and(|origin| trusted(origin, req.host(), origins)) {
                return true;
            }
        }
    }
    match (one(req, &CSRF_HEADER), csrf_cookie()) {
        (Some(header), Some(cookie)) => !cookie.is_empty() && same(header, cookie.as_bytes()),
        _ => false,
    }
}

/// The value of a header sent exactly once.
fn one<'a>(req: impl Carrier<'a>, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = req.values(Wanted::Header(name));
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Whether `origin` is the request's own (its host, whatever the scheme: a proxy may end
/// TLS) or one of the allowed ones.
fn trusted(origin: &[u8], host: Option<&[u8]>, origins: &[String]) -> bool {
    let Some(authority) = authority_of(origin) else {
        return false;
    };
    host.is_some_and(|host| !host.is_empty() && authority.eq_ignore_ascii_case(host))
        || origins
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
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
        allows(parts, &["https://app.example.com".to_owned()], || {
            Some("tok")
        })
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
        // Without it, the Origin: the request's own, or an allowed one.
        assert!(check(
            "POST",
            &[host, ("origin", b"https://api.example.com")]
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
        /// No header soup passes an unsafe request unless it carries a trusted origin,
        /// `same-origin`/`none` fetch metadata, or the token; and nothing panics.
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
            let origin_ok = site.is_none() && origin.filter(|v| ok(v)).is_some_and(|o| {
                let o = o.to_ascii_lowercase();
                o.ends_with(b"://api.example.com") || o == b"https://app.example.com"
            });
            let token_ok = token.filter(|v| ok(v)).is_some_and(|t| t == b"tok");
            prop_assert_eq!(passed, fetch_ok || origin_ok || token_ok);
        }
    }
}
