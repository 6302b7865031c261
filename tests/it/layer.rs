//! The tower layer and axum extractors over real routers: rejections, sources, optional
//! mode, custom responses, and a store that is down.

use crate::suite;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kickout::store::session::{NewSession, Renewal, SessionRecord, Target, Touch};
use kickout::store::{
    Admission, EndReason, MemoryStore, SessionInfo, SessionStore, Store, StoreError,
};
use kickout::{Auth, AuthLayer, Identity, Reason, Rejection, SessionKey, TokenSource, UserId};
use tower::ServiceExt;

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn get_with(headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut req = Request::get("/me");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).unwrap()
}

fn code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn missing_token_is_401_with_a_bare_challenge() {
    let auth = Auth::new(MemoryStore::new());
    let app = suite::app(&auth);
    let (status, headers, body) = send(&app, get_with(&[])).await;
    assert_eq!(status, 401);
    assert_eq!(headers[WWW_AUTHENTICATE], r#"Bearer realm="api""#);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(code(&body), "missing_token");
    // Another scheme is no bearer token.
    let (status, _, body) = send(&app, get_with(&[("authorization", b"Basic dXNlcjpwdw==")])).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (401, "missing_token".into())
    );
}

#[tokio::test]
async fn malformed_authorization_headers_are_4xx_never_5xx() {
    let auth = Auth::new(MemoryStore::new());
    let app = suite::app(&auth);
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let long = format!("Bearer {}", "a".repeat(10_000));
    let nul_free_binary: Vec<u8> = (0x80..=0xffu8).collect();
    let cases: Vec<(Vec<Vec<u8>>, u16, &str)> = vec![
        (vec![b"Bearer".to_vec()], 400, "invalid_request"),
        (vec![b"Bearer ".to_vec()], 400, "invalid_request"),
        (vec![b"bearer   ".to_vec()], 400, "invalid_request"),
        (vec![b"Bearer a b".to_vec()], 400, "invalid_request"),
        (vec![b"Bearer \"quoted\"".to_vec()], 400, "invalid_request"),
        (
            vec![b"Bearer t\xc3\xb6ken".to_vec()],
            400,
            "invalid_request",
        ),
        (
            vec![[b"Bearer ".as_slice(), &nul_free_binary].concat()],
            400,
            "invalid_request",
        ),
        (vec![b"Bearer a,b".to_vec()], 400, "invalid_request"),
        (vec![b"Bearer ==".to_vec()], 400, "invalid_request"),
        (vec![long.into_bytes()], 401, "invalid_token"),
        (vec![b"Bearer abc".to_vec()], 401, "invalid_token"),
        (vec![b"Bearer a.b.c".to_vec()], 401, "invalid_token"),
        (vec![b"Bearer ~~~~".to_vec()], 401, "invalid_token"),
        (vec![b"Bearer AAAA==".to_vec()], 401, "invalid_token"),
        (vec![b"Basic".to_vec()], 401, "missing_token"),
        (vec![b"".to_vec()], 401, "missing_token"),
        (vec![b"\xff\xfe".to_vec()], 401, "missing_token"),
        (
            vec![
                format!("Bearer {token}").into_bytes(),
                format!("Bearer {token}").into_bytes(),
            ],
            400,
            "invalid_request",
        ),
        (vec![format!("BEARER {token}").into_bytes()], 200, ""),
        (vec![format!("Bearer {token} ").into_bytes()], 200, ""),
        (
            vec![b"Basic x".to_vec(), format!("Bearer {token}").into_bytes()],
            400,
            "invalid_request",
        ),
        (vec![b"Bearer\tabc".to_vec()], 400, "invalid_request"),
        (vec![format!("Bearer  {token}").into_bytes()], 200, ""),
    ];
    for (values, want_status, want_code) in cases {
        let mut req = Request::get("/me");
        for v in &values {
            req = req.header(AUTHORIZATION, v.as_slice());
        }
        let (status, headers, body) = send(&app, req.body(Body::empty()).unwrap()).await;
        assert_eq!(status.as_u16(), want_status, "{values:?}");
        if want_status != 200 {
            assert_eq!(code(&body), want_code, "{values:?}");
            let challenge = headers[WWW_AUTHENTICATE].to_str().unwrap();
            match want_code {
                "missing_token" => assert_eq!(challenge, r#"Bearer realm="api""#),
                c => assert!(
                    challenge.contains(&format!(r#"error="{c}""#)),
                    "{challenge}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn extractors_read_the_identity() {
    let auth = Auth::new(MemoryStore::new());
    let handlers = Router::new()
        .route(
            "/user",
            get(|UserId(u): UserId| async move { u.to_string() }),
        )
        .route(
            "/maybe",
            get(|id: Option<Identity>, user: Option<UserId>| async move {
                format!(
                    "{:?}/{:?}",
                    id.map(|i| i.device().to_owned()),
                    user.map(|u| u.0)
                )
            }),
        );
    let protected = handlers.clone().layer(AuthLayer::new(auth.clone()));
    let optional = handlers
        .clone()
        .layer(AuthLayer::new(auth.clone()).optional());
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let bearer = format!("Bearer {token}");
    let req = |path: &str, auth: Option<&str>| {
        let mut r = Request::get(path);
        if let Some(a) = auth {
            r = r.header(AUTHORIZATION, a);
        }
        r.body(Body::empty()).unwrap()
    };
    assert_eq!(
        send(&protected, req("/user", Some(&bearer))).await.2,
        "10001"
    );
    assert_eq!(
        send(&protected, req("/maybe", Some(&bearer))).await.2,
        r#"Some("web")/Some("10001")"#
    );
    // Optional mode: anonymous requests pass without an identity...
    assert_eq!(send(&optional, req("/maybe", None)).await.2, "None/None");
    // ...the plain extractor then answers 401 missing_token...
    let (status, _, body) = send(&optional, req("/user", None)).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (401, "missing_token".into())
    );
    // ...while with no layer at all, even with a valid token, it is the server's mistake:
    // 500, and the body names the layer to add (the `Option`s do not hide it either).
    for path in ["/user", "/maybe"] {
        let (status, headers, body) = send(&handlers, req(path, Some(&bearer))).await;
        assert_eq!(
            (status.as_u16(), code(&body)),
            (500, "internal_error".into()),
            "{path}"
        );
        assert!(body.contains("kickout::AuthLayer"), "{body}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    // ...and bad or revoked tokens are still refused.
    let (status, _, body) = send(&optional, req("/maybe", Some("Bearer nope"))).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (401, "invalid_token".into())
    );
    auth.kickout("10001").await.unwrap();
    let (status, _, body) = send(&optional, req("/maybe", Some(&bearer))).await;
    assert_eq!((status.as_u16(), code(&body)), (401, "kicked_out".into()));
}

#[tokio::test]
async fn cookie_header_and_query_sources() {
    let auth = Auth::new(MemoryStore::new());
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let me = || {
        Router::new().route(
            "/me",
            get(|id: Identity| async move { id.user_id().to_owned() }),
        )
    };
    let cookie = me().layer(AuthLayer::new(auth.clone()).source(TokenSource::cookie("sid")));
    let header = me().layer(
        AuthLayer::new(auth.clone())
            .source(TokenSource::header(HeaderName::from_static("x-token"))),
    );
    let query = me().layer(
        AuthLayer::new(auth.clone()).source(TokenSource::bearer().with_query("access_token")),
    );
    let c = format!("theme=dark; sid={token}");
    assert_eq!(
        send(&cookie, get_with(&[("cookie", c.as_bytes())])).await.0,
        200
    );
    assert_eq!(
        send(&header, get_with(&[("x-token", token.as_bytes())]))
            .await
            .0,
        200
    );
    // The cookie layer does not read Authorization.
    let b = format!("Bearer {token}");
    assert_eq!(
        send(&cookie, get_with(&[("authorization", b.as_bytes())]))
            .await
            .0,
        401
    );
    let uri = format!("/me?access_token={token}");
    let (status, _, _) = send(&query, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    // Query tokens are off unless enabled.
    let plain = suite::app(&auth);
    assert_eq!(
        send(&plain, Request::get(&uri).body(Body::empty()).unwrap())
            .await
            .0,
        401
    );
    // Header and query at once: two tokens.
    let both = Request::get(&uri)
        .header(AUTHORIZATION, b.as_str())
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&query, both).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn rejections_can_be_answered_in_the_apps_own_format() {
    let custom = Auth::builder(MemoryStore::new())
        .on_rejection(|r: Rejection| {
            Response::builder()
                .status(StatusCode::IM_A_TEAPOT)
                .header("x-reason", r.reason().code())
                .body(bytes::Bytes::from(r.to_string()))
                .unwrap()
        })
        .build();
    let app = Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(AuthLayer::new(custom));
    let auth = Auth::builder(MemoryStore::new()).realm("shop").build();
    let (status, headers, body) = send(&app, get_with(&[])).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(headers["x-reason"], "missing_token");
    assert!(body.starts_with("missing_token: "));
    // The realm of the handle is in its default challenges.
    let plain = suite::app(&auth);
    let (_, headers, _) = send(&plain, get_with(&[])).await;
    assert_eq!(headers[WWW_AUTHENTICATE], r#"Bearer realm="shop""#);
    // What a header cannot carry is left out, never the whole challenge.
    let auth = Auth::builder(MemoryStore::new())
        .realm("Zürich \"shop\"\\ ✓")
        .build();
    let (_, headers, _) = send(&suite::app(&auth), get_with(&[])).await;
    assert_eq!(headers[WWW_AUTHENTICATE], r#"Bearer realm="Zrich shop ""#);
}

#[tokio::test]
async fn handlers_log_out_with_the_identity_and_return_errors() {
    let auth = Auth::new(MemoryStore::new());
    let app = Router::new()
        .route(
            "/logout",
            post(
                |axum::extract::State(auth): axum::extract::State<Auth>, me: Identity| async move {
                    auth.logout_session(&me, me.session_id())
                        .await
                        .map(|_| StatusCode::NO_CONTENT)
                },
            ),
        )
        .layer(AuthLayer::new(auth.clone()))
        .with_state(auth.clone());
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let bearer = format!("Bearer {token}");
    let logout = || {
        Request::post("/logout")
            .header(AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, logout()).await.0, 204);
    let (status, _, body) = send(&app, logout()).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (401, "invalid_token".into())
    );
}

/// A memory store that can be switched off, like a Redis that went away.
#[derive(Clone, Default)]
pub(crate) struct SwitchStore {
    pub(crate) inner: MemoryStore,
    pub(crate) down: Arc<AtomicBool>,
    /// How many sessions were read by id (a watch's re-checks).
    pub(crate) by_id: Arc<std::sync::atomic::AtomicUsize>,
    /// How long a read by id takes to answer, in milliseconds (tokio time).
    pub(crate) by_id_delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Whether it passes on the memory store's revocation feed (off: it has none).
    pub(crate) with_feed: Arc<AtomicBool>,
}

impl SwitchStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("switched off".into()))
        } else {
            Ok(())
        }
    }
}

// A session-only store: it implements the shared contract and session mode's, nothing
// of JWT mode.
impl Store for SwitchStore {
    async fn unban(&self, u: &str, now: u64) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.unban(u, now).await
    }
    async fn banned_until(&self, u: &str, now: u64) -> Result<Option<u64>, StoreError> {
        self.check()?;
        self.inner.banned_until(u, now).await
    }
    async fn restrict(
        &self,
        u: &str,
        r: &kickout::restriction::Restriction,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.restrict(u, r, now).await
    }
    async fn unrestrict(
        &self,
        u: &str,
        s: &kickout::restriction::Scope,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.unrestrict(u, s, now).await
    }
    async fn restrictions(
        &self,
        u: &str,
        now: u64,
    ) -> Result<kickout::restriction::Restrictions, StoreError> {
        self.check()?;
        self.inner.restrictions(u, now).await
    }
    fn revocations(&self) -> Option<tokio::sync::broadcast::Receiver<kickout::store::Revoked>> {
        if self.with_feed.load(Ordering::SeqCst) {
            self.inner.revocations()
        } else {
            None
        }
    }
}

impl SessionStore for SwitchStore {
    async fn create(
        &self,
        s: NewSession,
        now: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        self.check()?;
        self.inner.create(s, now).await
    }
    type Lookup = std::future::Ready<Result<Option<SessionRecord>, StoreError>>;
    fn lookup(&self, k: &SessionKey, t: Option<Touch>, now: u64) -> Self::Lookup {
        match self.check() {
            Ok(()) => self.inner.lookup(k, t, now),
            Err(e) => std::future::ready(Err(e)),
        }
    }
    async fn lookup_session(
        &self,
        id: kickout::SessionId,
        now: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.check()?;
        self.by_id.fetch_add(1, Ordering::SeqCst);
        let delay = self.by_id_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        self.inner.lookup_session(id, now).await
    }
    async fn end(
        &self,
        t: Target<'_>,
        r: EndReason,
        n: Option<&kickout::Note>,
        now: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.check()?;
        self.inner.end(t, r, n, now).await
    }
    async fn ban(
        &self,
        u: &str,
        until: u64,
        n: Option<&kickout::Note>,
        now: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.check()?;
        self.inner.ban(u, until, n, now).await
    }
    async fn sessions(
        &self,
        u: &str,
        now: u64,
    ) -> Result<Vec<kickout::store::SessionEntry>, StoreError> {
        self.check()?;
        self.inner.sessions(u, now).await
    }
    async fn renew(&self, r: Renewal<'_>, now: u64) -> Result<Option<SessionInfo>, StoreError> {
        self.check()?;
        self.inner.renew(r, now).await
    }
    async fn elevate(
        &self,
        e: kickout::store::Elevation<'_>,
        now: u64,
    ) -> Result<kickout::store::Elevated, StoreError> {
        self.check()?;
        self.inner.elevate(e, now).await
    }
    async fn close_elevation(
        &self,
        u: &str,
        id: kickout::SessionId,
        s: &kickout::restriction::Scope,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.close_elevation(u, id, s, now).await
    }
    async fn online(
        &self,
        p: kickout::store::directory::PageRequest<'_>,
        now: u64,
    ) -> Result<kickout::store::directory::Page, StoreError> {
        self.check()?;
        self.inner.online(p, now).await
    }
    async fn refresh(
        &self,
        r: kickout::store::refresh::Rotation<'_>,
        now: u64,
    ) -> Result<kickout::store::refresh::Rotated<kickout::store::refresh::Refreshed>, StoreError>
    {
        self.check()?;
        self.inner.refresh(r, now).await
    }
}

#[tokio::test]
async fn a_store_that_is_down_refuses_everything_with_503() {
    let store = SwitchStore::default();
    let auth = Auth::new(store.clone());
    let app = suite::app(&auth);
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let me = auth.authenticate(&token).await.unwrap();
    let guarded = Router::new()
        .route(
            "/me",
            get(|| async { "passed" }).route_layer(auth.guard("content", 1).unwrap()),
        )
        .route_layer(AuthLayer::new(auth.clone()));
    store.down.store(true, Ordering::SeqCst);
    let bearer = format!("Bearer {token}");
    // A guarded route: the store is not read, so nothing passes.
    let (status, _, body) = send(&guarded, get_with(&[("authorization", bearer.as_bytes())])).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (503, "store_unavailable".into())
    );
    let (status, headers, body) =
        send(&app, get_with(&[("authorization", bearer.as_bytes())])).await;
    assert_eq!(
        (status.as_u16(), code(&body)),
        (503, "store_unavailable".into())
    );
    assert!(headers.get(WWW_AUTHENTICATE).is_none());
    // Garbage is refused without asking the store: still 401.
    let (status, _, _) = send(&app, get_with(&[("authorization", b"Bearer junk")])).await;
    assert_eq!(status, 401);
    // Helpers report the failure; none pretends to have revoked anything.
    let e = auth.login("10001", "web").await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (503, "store_unavailable"));
    assert!(auth.kickout("10001").await.is_err());
    assert!(auth.logout(&token).await.is_err());
    assert!(auth.ban("10001", suite::secs(5)).await.is_err());
    assert!(auth.sessions("10001").await.is_err());
    for e in [
        auth.restrict("10001", "content", 1, suite::secs(60))
            .await
            .map(|_| ())
            .unwrap_err(),
        auth.unrestrict("10001", "content")
            .await
            .map(|_| ())
            .unwrap_err(),
        auth.restrictions("10001").await.map(|_| ()).unwrap_err(),
        auth.elevate(&me, "payment", suite::secs(60))
            .await
            .map(|_| ())
            .unwrap_err(),
        auth.close_elevation(&me, "payment")
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!((e.status().as_u16(), e.code()), (503, "store_unavailable"));
    }
    let res = axum::response::IntoResponse::into_response(e);
    assert_eq!(res.status(), 503);
    // Back up: the same token works again, nothing was lost.
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(suite::me(&app, &token).await, Ok("10001:web".into()));
    assert_eq!(Reason::StoreUnavailable.status(), 503);
}

#[tokio::test]
async fn extractors_answer_in_the_handles_realm() {
    let auth = Auth::builder(MemoryStore::new()).realm("shop").build();
    let app = Router::new()
        .route("/me", get(|u: UserId| async move { u.0.to_string() }))
        .route_layer(AuthLayer::new(auth).optional());
    let (status, headers, _) = send(&app, get_with(&[])).await;
    assert_eq!(status, 401);
    assert_eq!(headers[WWW_AUTHENTICATE], r#"Bearer realm="shop""#);
}

/// A bare cookie source is guarded against cross-site requests too (with no CSRF
/// cookie configured, Fetch Metadata or the request's own `Origin` must show it), and a
/// source set after `cookies` keeps reading the access cookie.
#[tokio::test]
async fn a_bare_cookie_source_is_guarded_and_sources_keep_the_cookie() {
    let auth = Auth::new(MemoryStore::new());
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let send = |app: Router, headers: Vec<(&'static str, String)>| async move {
        let mut req = Request::post("/me");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        res.status().as_u16()
    };
    let me = || {
        Router::new().route(
            "/me",
            axum::routing::post(|id: Identity| async move { id.user_id().to_owned() }),
        )
    };
    let bare = me().layer(AuthLayer::new(auth.clone()).source(TokenSource::cookie("sid")));
    let cookie = format!("sid={token}");
    assert_eq!(
        send(bare.clone(), vec![("cookie", cookie.clone())]).await,
        403
    );
    assert_eq!(
        send(
            bare.clone(),
            vec![
                ("cookie", cookie.clone()),
                ("sec-fetch-site", "cross-site".into())
            ]
        )
        .await,
        403
    );
    assert_eq!(
        send(
            bare.clone(),
            vec![
                ("cookie", cookie.clone()),
                ("sec-fetch-site", "same-origin".into())
            ]
        )
        .await,
        200
    );
    assert_eq!(
        send(
            bare,
            vec![
                ("cookie", cookie),
                ("host", "a.test".into()),
                ("origin", "https://a.test".into())
            ]
        )
        .await,
        200
    );
    // `cookies` then `source`: the access cookie is still read.
    let layered = me().layer(
        AuthLayer::new(auth)
            .cookies(kickout::cookies::Cookies::default())
            .source(TokenSource::header(http::HeaderName::from_static(
                "x-token",
            ))),
    );
    let access = format!("__Host-kickout={token}");
    assert_eq!(
        send(
            layered,
            vec![("cookie", access), ("sec-fetch-site", "same-origin".into())]
        )
        .await,
        200
    );
}

/// A cookie-borne token over the source's length cap is a 401 like any other refused
/// cookie: the answer clears the three cookies (it cleared none).
#[tokio::test]
async fn an_over_long_cookie_token_clears_the_cookies() {
    let (auth, token) = logged_in().await;
    let app = Router::new()
        .route(
            "/me",
            get(|id: Identity| async move { id.user_id().to_owned() }),
        )
        .layer(
            AuthLayer::new(auth)
                .source(TokenSource::bearer().max_len(8))
                .cookies(kickout::cookies::Cookies::default()),
        );
    let cookie = format!("__Host-kickout={token}");
    let res = app
        .clone()
        .oneshot(
            Request::get("/me")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers().get_all("set-cookie").iter().count(), 3);
    // By bearer, the same refusal clears nothing.
    let (status, headers, body) = send(
        &app,
        get_with(&[("authorization", format!("Bearer {token}").as_bytes())]),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("invalid_token"), "{body}");
    assert_eq!(headers.get_all("set-cookie").iter().count(), 0);
}

/// An access cookie that does not read as a token (left by an older configuration,
/// say) is refused as the header would be, 400 `invalid_request`, and the answer clears
/// the cookies: the browser would replay it on every request, on optional routes too.
/// A pair of another cookie that is not UTF-8 hides nothing else of its header.
#[tokio::test]
async fn an_unreadable_access_cookie_is_cleared() {
    let (auth, token) = logged_in().await;
    let cookies = kickout::cookies::Cookies::default();
    let route = || {
        Router::new().route(
            "/me",
            get(|id: Option<Identity>| async move {
                format!("{:?}", id.map(|i| i.user_id().to_owned()))
            }),
        )
    };
    for app in [
        route().layer(AuthLayer::new(auth.clone()).cookies(cookies.clone())),
        route().layer(
            AuthLayer::new(auth.clone())
                .cookies(cookies.clone())
                .optional(),
        ),
    ] {
        let (status, headers, body) =
            send(&app, get_with(&[("cookie", b"__Host-kickout=a\"b")])).await;
        assert_eq!(status, 400);
        assert!(body.contains("invalid_request"), "{body}");
        assert_eq!(headers.get_all("set-cookie").iter().count(), 3);
        // Two cookies (one may be planted), or a bearer header beside a bad cookie:
        // ambiguous, 400, and nothing cleared.
        let bearer = format!("Bearer {token}");
        for headers in [
            vec![(
                "cookie",
                b"__Host-kickout=a\"b; __Host-kickout=x".as_slice(),
            )],
            vec![
                ("cookie", b"__Host-kickout=a\"b".as_slice()),
                ("authorization", bearer.as_bytes()),
            ],
        ] {
            let (status, answer, _) = send(&app, get_with(&headers)).await;
            assert_eq!(status, 400);
            assert_eq!(answer.get_all("set-cookie").iter().count(), 0);
        }
        let mixed = [b"other=\xe9; __Host-kickout=".as_slice(), token.as_bytes()].concat();
        let (status, _, body) = send(&app, get_with(&[("cookie", &mixed)])).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "Some(\"10001\")"));
    }
}

/// A front end on another host of the site, named by `allowed_origin`: browsers send
/// its unsafe requests with `Sec-Fetch-Site: same-site` and its `Origin`, which pass
/// the CSRF rule and the login guard; another origin's do not.
#[tokio::test]
async fn an_allowed_front_end_passes_the_csrf_rule() {
    let (auth, token) = logged_in().await;
    let cookies = kickout::cookies::Cookies::builder()
        .allowed_origin("https://app.example.com")
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/me",
            post(|id: Identity| async move { id.user_id().to_owned() }),
        )
        .layer(AuthLayer::new(auth).cookies(cookies.clone()));
    let request = |origin: &str| {
        Request::post("/me")
            .header("host", "api.example.com")
            .header("cookie", format!("__Host-kickout={token}"))
            .header("sec-fetch-site", "same-site")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(&app, request("https://app.example.com")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "10001"));
    let (status, _, body) = send(&app, request("https://evil.example.com")).await;
    assert_eq!(status, 403);
    assert!(body.contains("csrf_rejected"), "{body}");
    let login = |origin: &str| {
        let req = request(origin);
        cookies.login_guard(req.method(), req.uri(), req.headers())
    };
    assert_eq!(login("https://app.example.com"), Ok(()));
    assert_eq!(login("https://evil.example.com"), Err(Reason::CsrfRejected));
}

/// The cookie helpers' refusals are answered by the handle, so they take its realm and
/// its `on_rejection` shape like every other refusal.
#[tokio::test]
async fn cookie_helper_refusals_answer_in_the_handles_shape() {
    let auth = Auth::builder(MemoryStore::new())
        .realm("shop")
        .on_rejection(|r: Rejection| {
            Response::builder()
                .status(r.status())
                .body(bytes::Bytes::from(format!("shop:{}", r.reason().code())))
                .unwrap()
        })
        .build();
    let cookies = kickout::cookies::Cookies::default();
    let req = Request::post("/refresh")
        .header("cookie", "__Secure-kickout-refresh=abc")
        .header("sec-fetch-site", "cross-site")
        .body(())
        .unwrap();
    let reason = cookies
        .refresh_token(req.method(), req.uri(), req.headers())
        .unwrap_err();
    let res: Response<Body> = auth.rejection(reason).into_http();
    assert_eq!(res.status(), 403);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"shop:csrf_rejected");
}

/// A memory store's handle and the token of a login of user 10001.
async fn logged_in() -> (Auth, String) {
    let auth = Auth::new(MemoryStore::new());
    let token = auth.login("10001", "web").await.unwrap().token;
    (auth, token.into_string())
}
