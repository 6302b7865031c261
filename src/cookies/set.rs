//! [`SetCookies`]: the `Set-Cookie` headers of a browser session, for any framework.

use std::fmt;

use http::HeaderValue;
use http::header::SET_COOKIE;

/// `Set-Cookie` headers that set or clear a browser session's cookies
/// ([`Cookies::login`](super::Cookies::login), [`Cookies::clear`](super::Cookies::clear)):
/// with axum, a response part (`(cookies, Json(body))`); with actix-web,
/// [`SetCookies::apply_actix`]; anywhere, [`SetCookies::apply`] or
/// [`SetCookies::headers`]. `Debug` shows no value: they hold tokens.
pub struct SetCookies {
    headers: Vec<HeaderValue>,
    csrf_token: Option<String>,
}

impl fmt::Debug for SetCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetCookies")
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

impl SetCookies {
    pub(super) fn new(headers: Vec<HeaderValue>, csrf_token: Option<String>) -> Self {
        Self {
            headers,
            csrf_token,
        }
    }

    /// The `Set-Cookie` values.
    pub fn headers(&self) -> &[HeaderValue] {
        &self.headers
    }

    /// The CSRF token a login set, for the page (it also reads it from its cookie) —
    /// `None` when clearing.
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }

    /// Appends the headers to a response (any `http` 1 response: tower, hyper).
    pub fn apply<B>(&self, response: &mut http::Response<B>) {
        for value in &self.headers {
            response.headers_mut().append(SET_COOKIE, value.clone());
        }
    }

    /// Appends the headers to an actix-web response under construction.
    ///
    /// ```
    /// use actix_web::HttpResponse;
    /// use kickout::cookies::Cookies;
    ///
    /// let mut res = HttpResponse::NoContent();
    /// Cookies::default().clear().apply_actix(&mut res);
    /// assert_eq!(res.finish().headers().get_all("set-cookie").count(), 3);
    /// ```
    #[cfg(feature = "actix")]
    #[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
    pub fn apply_actix(&self, response: &mut actix_web::HttpResponseBuilder) {
        for value in &self.headers {
            response.append_header((SET_COOKIE.as_str(), value.as_bytes()));
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponseParts for SetCookies {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum_core::response::ResponseParts,
    ) -> Result<axum_core::response::ResponseParts, Self::Error> {
        for value in self.headers {
            res.headers_mut().append(SET_COOKIE, value);
        }
        Ok(res)
    }
}
