//! One table of HTTP cases, run through the tower layer on axum and through the actix-web
//! middleware, in both modes: every outcome (status, reason, challenge) must be the same.

#![cfg(all(feature = "actix", feature = "axum", feature = "jwt"))]

use crate::suite;

use std::time::Duration;

use actix_web::{App, HttpResponse, test as atest, web};
use axum::body::Body;
use http_body_util::BodyExt;
use kickout::actix::KickoutAuth;
use kickout::store::MemoryStore;
use kickout::{Auth, Identity, LoginRule, Mode, TokenSource};
use suite::Kind;
use tower::ServiceExt;

/// What a client sees: status, `error` code (or the body of a 200), challenge.
type Outcome = (u16, String, Option<String>);

/// A request's headers and URI, and what it must get.
type Case<'a> = (Vec<(&'a str, Vec<u8>)>, String, Outcome);

fn handle<K: Kind<MemoryStore>>() -> Auth<MemoryStore, K::M> {
    K::builder(MemoryStore::new(), &suite::clock())
        .login_rule(LoginRule::one_per_device())
        .build()
}

async fn via_axum<M: Mode<MemoryStore>>(
    auth: &Auth<MemoryStore, M>,
    optional: bool,
    headers: &[(&str, Vec<u8>)],
    uri: &str,
) -> Outcome {
    let mut layer = kickout::AuthLayer::new(auth.clone())
        .source(TokenSource::bearer().with_query("access_token"));
    if optional {
        layer = layer.optional();
    }
    let app = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|id: Option<Identity>| async move {
                id.map_or("anonymous".to_owned(), |i| i.user_id().to_owned())
            }),
        )
        .layer(layer);
    let mut req = http::Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, v.as_slice());
    }
    let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, code(status, &body), challenge)
}

async fn via_actix<M: Mode<MemoryStore>>(
    auth: &Auth<MemoryStore, M>,
    optional: bool,
    headers: &[(&str, Vec<u8>)],
    uri: &str,
) -> Outcome {
    let mut mw =
        KickoutAuth::new(auth.clone()).source(TokenSource::bearer().with_query("access_token"));
    if optional {
        mw = mw.optional();
    }
    let app = atest::init_service(App::new().wrap(mw).route(
        "/me",
        web::get().to(|id: Option<Identity>| async move {
            HttpResponse::Ok().body(id.map_or("anonymous".to_owned(), |i| i.user_id().to_owned()))
        }),
    ))
    .await;
    let mut req = atest::TestRequest::get().uri(uri);
    for (k, v) in headers {
        req = req.append_header((*k, v.as_slice()));
    }
    let res = atest::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = atest::read_body(res).await;
    (status, code(status, &body), challenge)
}

fn code(status: u16, body: &[u8]) -> String {
    if status == 200 {
        return String::from_utf8_lossy(body).into_owned();
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["error"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn both_adapters_answer_alike_in_both_modes() {
    both_adapters_answer_alike::<suite::Session>().await;
    both_adapters_answer_alike::<suite::Jwt>().await;
}

async fn both_adapters_answer_alike<K: Kind<MemoryStore>>() {
    let mode = std::any::type_name::<K>();
    {
        let auth = handle::<K>();
        let live = auth.login("live", "web").await.unwrap().token.into_string();
        let kicked = auth
            .login("kicked", "web")
            .await
            .unwrap()
            .token
            .into_string();
        auth.kickout("kicked").await.unwrap();
        let replaced = auth
            .login("replaced", "web")
            .await
            .unwrap()
            .token
            .into_string();
        auth.login("replaced", "web").await.unwrap();
        let banned = auth
            .login("banned", "web")
            .await
            .unwrap()
            .token
            .into_string();
        auth.ban("banned", Duration::from_secs(60)).await.unwrap();
        let out = auth.login("out", "web").await.unwrap().token.into_string();
        auth.logout(&out).await.unwrap();

        let bearer = |t: &str| vec![("authorization", format!("Bearer {t}").into_bytes())];
        let long = "a".repeat(5000);
        let cases: Vec<Case<'_>> = vec![
            (
                vec![],
                "/me".into(),
                (
                    401,
                    "missing_token".into(),
                    Some(r#"Bearer realm="api""#.into()),
                ),
            ),
            (bearer(&live), "/me".into(), (200, "live".into(), None)),
            (
                bearer(&kicked),
                "/me".into(),
                (401, "kicked_out".into(), None),
            ),
            (
                bearer(&replaced),
                "/me".into(),
                (401, "replaced".into(), None),
            ),
            (bearer(&banned), "/me".into(), (401, "banned".into(), None)),
            (
                bearer(&out),
                "/me".into(),
                (401, "invalid_token".into(), None),
            ),
            (
                bearer("nope"),
                "/me".into(),
                (401, "invalid_token".into(), None),
            ),
            (
                bearer(&long),
                "/me".into(),
                (401, "invalid_token".into(), None),
            ),
            (
                vec![("authorization", b"Bearer".to_vec())],
                "/me".into(),
                (400, "invalid_request".into(), None),
            ),
            (
                vec![("authorization", b"Bearer a b".to_vec())],
                "/me".into(),
                (400, "invalid_request".into(), None),
            ),
            (
                vec![("authorization", b"Bearer t\xc3\xb6ken".to_vec())],
                "/me".into(),
                (400, "invalid_request".into(), None),
            ),
            (
                vec![("authorization", b"Bearer \xff\xfe".to_vec())],
                "/me".into(),
                (400, "invalid_request".into(), None),
            ),
            (
                vec![("authorization", b"Basic eDp5".to_vec())],
                "/me".into(),
                (401, "missing_token".into(), None),
            ),
            (
                [bearer(&live), bearer(&live)].concat(),
                "/me".into(),
                (400, "invalid_request".into(), None),
            ),
            (
                vec![],
                format!("/me?access_token={live}"),
                (200, "live".into(), None),
            ),
            (
                bearer(&live),
                format!("/me?access_token={live}"),
                (400, "invalid_request".into(), None),
            ),
        ];
        for (headers, uri, (want_status, want_code, want_challenge)) in cases {
            let axum = via_axum(&auth, false, &headers, &uri).await;
            let actix = via_actix(&auth, false, &headers, &uri).await;
            assert_eq!(axum, actix, "{mode:?} {uri} {headers:?}");
            assert_eq!(
                (axum.0, &axum.1),
                (want_status, &want_code),
                "{mode:?} {uri}"
            );
            if let Some(c) = want_challenge {
                assert_eq!(axum.2.as_deref(), Some(c.as_str()));
            }
        }
        // Optional mode: anonymous passes, a revoked token does not.
        for (headers, want) in [
            (vec![], (200, "anonymous")),
            (bearer(&kicked), (401, "kicked_out")),
        ] {
            let axum = via_axum(&auth, true, &headers, "/me").await;
            let actix = via_actix(&auth, true, &headers, "/me").await;
            assert_eq!(axum, actix);
            assert_eq!((axum.0, axum.1.as_str()), want);
        }
    }
}

#[actix_web::test]
async fn actix_extractors_and_errors() {
    let auth = handle::<suite::Session>();
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .route(
                "/login",
                web::post().to(|auth: web::Data<Auth>| async move {
                    auth.login("", "web")
                        .await
                        .map(|_| HttpResponse::Ok().finish())
                }),
            )
            .service(
                web::scope("/api")
                    .wrap(KickoutAuth::new(auth.clone()))
                    .route(
                        "/user",
                        web::get().to(|u: kickout::UserId| async move { u.0.to_string() }),
                    ),
            )
            .route(
                "/no-layer",
                web::get().to(|id: Identity| async move { id.user_id().to_owned() }),
            ),
    )
    .await;
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let req = atest::TestRequest::get()
        .uri("/api/user")
        .append_header(("authorization", format!("Bearer {token}")))
        .to_request();
    assert_eq!(atest::call_and_read_body(&app, req).await, "10001");
    // No middleware on the route: a wiring mistake, so a 500 naming the middleware (as
    // axum's `Extension` does), not a 401 that blames the client.
    let res = atest::call_service(
        &app,
        atest::TestRequest::get().uri("/no-layer").to_request(),
    )
    .await;
    assert_eq!(res.status(), 500);
    let body = String::from_utf8(atest::read_body(res).await.to_vec()).unwrap();
    assert!(body.contains("kickout::actix::KickoutAuth"), "{body}");
    // Helper errors are ResponseErrors with the same JSON as on axum.
    let res =
        atest::call_service(&app, atest::TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&atest::read_body(res).await).unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[actix_web::test]
async fn actix_speaks_actix_types() {
    use actix_web::ResponseError;
    use actix_web::http::header::HeaderName;

    let auth = <suite::Session as Kind<MemoryStore>>::builder(MemoryStore::new(), &suite::clock())
        .on_rejection(|r: kickout::Rejection| {
            // A rejection's status as actix's type builds an actix response; the handle
            // answers with its `http` twin.
            let res = HttpResponse::build(r.status_code()).finish();
            let mut out = http::Response::new(bytes::Bytes::from(format!("custom {}", r.reason())));
            *out.status_mut() = http::StatusCode::from_u16(res.status().as_u16()).unwrap();
            out
        })
        .build();
    // actix-web's own header name type goes straight into the token source.
    let mw = KickoutAuth::new(auth.clone())
        .source(TokenSource::header(HeaderName::from_static("x-token")));
    let app = atest::init_service(App::new().wrap(mw).route(
        "/me",
        web::get().to(|id: Identity| async move { id.user_id().to_owned() }),
    ))
    .await;
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let req = atest::TestRequest::get()
        .uri("/me")
        .append_header(("x-token", token))
        .to_request();
    assert_eq!(atest::call_and_read_body(&app, req).await, "10001");
    let req = atest::TestRequest::get().uri("/me").to_request();
    let res = atest::call_service(&app, req).await;
    assert_eq!(res.status(), 401);
    assert_eq!(atest::read_body(res).await, "custom missing_token");
}

/// actix's extractors answer as axum's: MaybeIdentity is None for an anonymous request
/// and a 500 without the middleware; a required one answers 401 in the handle's realm;
/// Claims<T> reads the application's claims.
#[actix_web::test]
async fn actix_extractors_answer_like_axum_ones() {
    use kickout::actix::MaybeIdentity;

    let auth = Auth::builder(MemoryStore::new()).realm("shop").build();
    let maybe = || {
        web::get().to(|m: MaybeIdentity| async move {
            m.0.map_or("anonymous".to_owned(), |i| i.user_id().to_owned())
        })
    };
    let app = atest::init_service(
        App::new()
            .service(
                web::scope("/open")
                    .wrap(KickoutAuth::new(auth.clone()).optional())
                    .route("/maybe", maybe())
                    .route(
                        "/me",
                        web::get().to(|id: Identity| async move { id.user_id().to_owned() }),
                    ),
            )
            .route("/bare", maybe()),
    )
    .await;
    let get = |uri: &str| atest::TestRequest::get().uri(uri).to_request();
    assert_eq!(
        atest::call_and_read_body(&app, get("/open/maybe")).await,
        "anonymous"
    );
    let res = atest::call_service(&app, get("/open/me")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        r#"Bearer realm="shop""#
    );
    let res = atest::call_service(&app, get("/bare")).await;
    assert_eq!(res.status(), 500);

    #[derive(serde::Deserialize)]
    struct Role {
        role: String,
    }
    let jwt = kickout::jwt::Jwt::new(kickout::jwt::JwtKey::hs256(
        b"a secret of thirty-two bytes!!!!",
    ))
    .unwrap();
    let jauth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
    let app = atest::init_service(App::new().wrap(KickoutAuth::new(jauth.clone())).route(
        "/role",
        web::get().to(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
    ))
    .await;
    let login = jauth
        .login_with_claims(
            "1",
            "web",
            kickout::LoginOptions::new(),
            &serde_json::json!({"role": "admin"}),
        )
        .await
        .unwrap();
    let req = atest::TestRequest::get()
        .uri("/role")
        .append_header(("authorization", format!("Bearer {}", login.token.as_str())))
        .to_request();
    assert_eq!(atest::call_and_read_body(&app, req).await, "admin");
}

/// A `Claims<T>` refusal of a token that came in the access cookie signs the browser
/// out, as the layer's own 401s do, in both adapters; the same token as a bearer clears
/// nothing.
#[tokio::test]
async fn a_claims_refusal_of_a_cookie_borne_token_clears_the_cookies() {
    use kickout::cookies::Cookies;
    #[derive(serde::Deserialize)]
    struct Role {
        #[allow(dead_code)]
        role: String,
    }
    let jwt = kickout::jwt::Jwt::new(kickout::jwt::JwtKey::hs256(
        b"a secret of thirty-two bytes!!!!",
    ))
    .unwrap();
    let auth = Auth::builder(MemoryStore::new()).jwt(jwt).build();
    // A login without claims: `Claims<Role>` does not fit it.
    let token = auth.login("1", "web").await.unwrap().token.into_string();
    let axum_app = axum::Router::new()
        .route(
            "/role",
            axum::routing::get(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
        )
        .route_layer(kickout::AuthLayer::new(auth.clone()).cookies(Cookies::default()));
    let actix_app = atest::init_service(
        App::new()
            .wrap(KickoutAuth::new(auth.clone()).cookies(Cookies::default()))
            .route(
                "/role",
                web::get().to(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
            ),
    )
    .await;
    for clears in [true, false] {
        let carried = carrying(&token, clears);
        let cleared = axum_refusal(&axum_app, "/role", &carried).await;
        assert_eq!(
            !cleared.is_empty(),
            clears,
            "axum {}: {cleared:?}",
            carried.0
        );
        if clears {
            assert!(
                cleared.iter().any(|v| v.starts_with("__Host-kickout=;")),
                "{cleared:?}"
            );
        }
        let cleared = actix_refusal(&actix_app, "/role", &carried).await;
        assert_eq!(cleared > 0, clears, "actix {}", carried.0);
    }
}

/// How a test request carries `token`: in the access cookie, or as a bearer.
fn carrying(token: &str, cookie: bool) -> (&'static str, String) {
    if cookie {
        ("cookie", format!("__Host-kickout={token}"))
    } else {
        ("authorization", format!("Bearer {token}"))
    }
}

/// `GET path` through the axum app, carrying the token so: a 401, and its `Set-Cookie`
/// values.
async fn axum_refusal(
    app: &axum::Router,
    path: &str,
    (header, value): &(&str, String),
) -> Vec<String> {
    let req = http::Request::get(path).header(*header, value.as_str());
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "axum {header}");
    let cleared = res.headers().get_all("set-cookie").iter();
    cleared.map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The same through the actix app: a 401, and how many `Set-Cookie` headers.
async fn actix_refusal<S, B>(app: &S, path: &str, (header, value): &(&str, String)) -> usize
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    let req = atest::TestRequest::get()
        .uri(path)
        .insert_header((*header, value.as_str()))
        .to_request();
    let res = atest::call_service(app, req).await;
    assert_eq!(res.status(), 401, "actix {header}");
    res.headers().get_all("set-cookie").count()
}

/// A handler's call refused for its identity (the session ended between the layer's
/// check and the call: here the handler ends it itself) signs a cookie session's
/// browser out, as the layer's own 401 does, in both adapters and both modes; the same
/// token as a bearer clears nothing.
async fn a_handlers_refusal_of_a_cookie_borne_token_clears_the_cookies<K: Kind<MemoryStore>>() {
    use axum::response::IntoResponse;
    use kickout::cookies::Cookies;
    let auth = K::builder(MemoryStore::new(), &suite::clock()).build();
    let elevate = |auth: Auth<MemoryStore, K::M>| {
        move |me: Identity| async move {
            auth.kickout(me.user_id()).await.unwrap();
            auth.elevate(&me, "payment", Duration::from_secs(60)).await
        }
    };
    let axum_app =
        axum::Router::new()
            .route(
                "/elevate",
                axum::routing::get({
                    let elevate = elevate(auth.clone());
                    move |me: Identity| async move {
                        elevate(me).await.map(|_| "elevated").into_response()
                    }
                }),
            )
            .route_layer(kickout::AuthLayer::new(auth.clone()).cookies(Cookies::default()));
    let actix_app = atest::init_service(
        App::new()
            .wrap(KickoutAuth::new(auth.clone()).cookies(Cookies::default()))
            .route(
                "/elevate",
                web::get().to({
                    let elevate = elevate(auth.clone());
                    move |me: Identity| {
                        let elevate = elevate.clone();
                        async move { elevate(me).await.map(|_| "elevated") }
                    }
                }),
            ),
    )
    .await;
    for clears in [true, false] {
        // A session each: the handler ends the one it is called with.
        let token = auth.login("1", "web").await.unwrap().token.into_string();
        let carried = carrying(&token, clears);
        let cleared = axum_refusal(&axum_app, "/elevate", &carried).await;
        assert_eq!(
            !cleared.is_empty(),
            clears,
            "axum {}: {cleared:?}",
            carried.0
        );
        let token = auth.login("1", "web").await.unwrap().token.into_string();
        let carried = carrying(&token, clears);
        let cleared = actix_refusal(&actix_app, "/elevate", &carried).await;
        assert_eq!(cleared > 0, clears, "actix {}", carried.0);
    }
}

#[tokio::test]
async fn a_handlers_refusal_of_a_cookie_borne_token_clears_the_cookies_in_session_mode() {
    a_handlers_refusal_of_a_cookie_borne_token_clears_the_cookies::<suite::Session>().await;
}

#[tokio::test]
async fn a_handlers_refusal_of_a_cookie_borne_token_clears_the_cookies_in_jwt_mode() {
    a_handlers_refusal_of_a_cookie_borne_token_clears_the_cookies::<suite::Jwt>().await;
}

/// `Claims<T>` on a session-mode route is a wiring mistake, in both adapters: 500 naming
/// it, not a 401 that would make the client drop a valid session.
#[actix_web::test]
async fn claims_on_a_session_mode_route_is_a_wiring_error() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Role {
        role: String,
    }
    let auth = Auth::new(MemoryStore::new());
    let token = auth.login("1", "web").await.unwrap().token.into_string();
    let bearer = format!("Bearer {token}");
    let axum_app = axum::Router::new()
        .route(
            "/claims",
            axum::routing::get(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
        )
        .route_layer(kickout::AuthLayer::new(auth.clone()));
    let res = axum_app
        .oneshot(
            http::Request::get("/claims")
                .header("authorization", &bearer)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("session mode"));
    let app = atest::init_service(App::new().wrap(KickoutAuth::new(auth)).route(
        "/claims",
        web::get().to(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
    ))
    .await;
    let req = atest::TestRequest::get()
        .uri("/claims")
        .append_header(("authorization", bearer))
        .to_request();
    let res = atest::call_service(&app, req).await;
    assert_eq!(res.status(), 500);
    let body = atest::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("session mode"));
}

/// One hook shapes every refusal of a handle, in both adapters: the layer's, an
/// anonymous request reaching a required extractor on an optional route, claims of the
/// wrong shape, and a helper's refused token.
#[actix_web::test]
async fn one_hook_answers_every_refusal_in_both_adapters() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Role {
        role: String,
    }
    let auth = <suite::Jwt as Kind<MemoryStore>>::builder(MemoryStore::new(), &suite::clock())
        .realm("shop")
        .on_rejection(|r: kickout::Rejection| {
            // The default answer, amended: the hook gets the rejection without itself.
            let mut res = r.clone().into_http::<bytes::Bytes>();
            *res.status_mut() = http::StatusCode::IM_A_TEAPOT;
            res.headers_mut()
                .insert("x-reason", r.reason().code().parse().unwrap());
            res
        })
        .build();
    let token = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let bearer = format!("Bearer {token}");
    // (path, with the token?, the reason the hook must see)
    let cases = [
        ("/me", false, "missing_token"),
        ("/open/me", false, "missing_token"),
        ("/claims", true, "invalid_token"),
        ("/refresh", false, "invalid_token"),
    ];

    let required = kickout::AuthLayer::new(auth.clone());
    let axum_app = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(|i: Identity| async move { i.user_id().to_owned() }),
        )
        .route(
            "/claims",
            axum::routing::get(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
        )
        .route_layer(required)
        .route(
            "/open/me",
            axum::routing::get(|i: Identity| async move { i.user_id().to_owned() })
                .route_layer(kickout::AuthLayer::new(auth.clone()).optional()),
        )
        .route(
            "/refresh",
            axum::routing::get({
                let auth = auth.clone();
                move || async move { auth.refresh("not-a-refresh-token").await.map(|_| "") }
            }),
        );
    let actix_app = {
        let auth = auth.clone();
        atest::init_service(
            App::new()
                .service(
                    web::scope("/open")
                        .wrap(KickoutAuth::new(auth.clone()).optional())
                        .route(
                            "/me",
                            web::get().to(|i: Identity| async move { i.user_id().to_owned() }),
                        ),
                )
                .route(
                    "/refresh",
                    web::get().to({
                        let auth = auth.clone();
                        move || {
                            let auth = auth.clone();
                            async move { auth.refresh("not-a-refresh-token").await.map(|_| "") }
                        }
                    }),
                )
                .service(
                    web::scope("")
                        .wrap(KickoutAuth::new(auth.clone()))
                        .route(
                            "/me",
                            web::get().to(|i: Identity| async move { i.user_id().to_owned() }),
                        )
                        .route(
                            "/claims",
                            web::get().to(|kickout::Claims(r): kickout::Claims<Role>| async move {
                                r.role
                            }),
                        ),
                ),
        )
        .await
    };
    for (path, with_token, reason) in cases {
        let mut req = http::Request::get(path);
        if with_token {
            req = req.header("authorization", &bearer);
        }
        let res = axum_app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (
                res.status().as_u16(),
                res.headers().get("x-reason").map(|v| v.to_str().unwrap())
            ),
            (418, Some(reason)),
            "axum {path}"
        );
        // The default challenge, in the handle's realm, survives the hook's amendment.
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="shop""#),
            "axum {path}: {challenge}"
        );

        let mut req = atest::TestRequest::get().uri(path);
        if with_token {
            req = req.insert_header(("authorization", bearer.as_str()));
        }
        let res = atest::call_service(&actix_app, req.to_request()).await;
        assert_eq!(
            (
                res.status().as_u16(),
                res.headers().get("x-reason").map(|v| v.to_str().unwrap())
            ),
            (418, Some(reason)),
            "actix {path}"
        );
        let challenge = res
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="shop""#),
            "actix {path}: {challenge}"
        );
    }
    // The token itself still passes, in both.
    let req = http::Request::get("/me").header("authorization", &bearer);
    let res = axum_app
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let req = atest::TestRequest::get()
        .uri("/me")
        .insert_header(("authorization", bearer.as_str()))
        .to_request();
    assert_eq!(atest::call_service(&actix_app, req).await.status(), 200);
}

/// What a client sees of a cookie request: status, `error` code (or the body of a
/// 200), and how many cookies the answer clears.
type CookieOutcome = (u16, String, usize);

/// A cookie request's method and headers, and what it must get.
type CookieCase<'a> = (&'a str, Vec<(&'a str, String)>, CookieOutcome);

async fn cookie_via_axum<M: Mode<MemoryStore>>(
    auth: &Auth<MemoryStore, M>,
    method: &str,
    headers: &[(&str, String)],
) -> CookieOutcome {
    let handler = |id: Identity| async move { id.user_id().to_owned() };
    let app = axum::Router::new()
        .route("/act", axum::routing::any(handler))
        .layer(kickout::AuthLayer::new(auth.clone()).cookies(kickout::cookies::Cookies::default()));
    let mut req = http::Request::builder().method(method).uri("/act");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let cleared = res.headers().get_all("set-cookie").iter().count();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, code(status, &body), cleared)
}

async fn cookie_via_actix<M: Mode<MemoryStore>>(
    auth: &Auth<MemoryStore, M>,
    method: &str,
    headers: &[(&str, String)],
) -> CookieOutcome {
    let mw = KickoutAuth::new(auth.clone()).cookies(kickout::cookies::Cookies::default());
    let app = atest::init_service(
        App::new().wrap(mw).route(
            "/act",
            web::route()
                .to(|id: Identity| async move { HttpResponse::Ok().body(id.user_id().to_owned()) }),
        ),
    )
    .await;
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = atest::TestRequest::default().method(method).uri("/act");
    for (k, v) in headers {
        req = req.append_header((*k, v.as_str()));
    }
    let res = atest::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let cleared = res.headers().get_all("set-cookie").count();
    let body = atest::read_body(res).await;
    (status, code(status, &body), cleared)
}

/// The cookie path through both adapters, in both modes: the same table of requests
/// (safe and unsafe methods, every CSRF proof and its forgeries, a bearer beside the
/// cookie, a dead cookie) gives the same answers.
#[actix_web::test]
async fn cookie_requests_answer_alike_in_both_adapters() {
    cookie_requests_answer_alike::<suite::Session>().await;
    cookie_requests_answer_alike::<suite::Jwt>().await;
}

async fn cookie_requests_answer_alike<K: Kind<MemoryStore>>() {
    let auth = handle::<K>();
    let live = auth.login("live", "web").await.unwrap().token.into_string();
    let dead = auth.login("dead", "web").await.unwrap().token.into_string();
    auth.kickout("dead").await.unwrap();
    let cookie = |t: &str| {
        (
            "cookie",
            format!("__Host-kickout={t}; __Host-kickout-csrf=c5rf"),
        )
    };
    let host = ("host", "api.test".to_owned());
    let h = |k: &'static str, v: &str| (k, v.to_owned());
    let ok: CookieOutcome = (200, "live".into(), 0);
    let csrf: CookieOutcome = (403, "csrf_rejected".into(), 0);
    let cases: Vec<CookieCase<'_>> = vec![
        ("GET", vec![cookie(&live)], ok.clone()),
        (
            "HEAD",
            vec![cookie(&live), h("sec-fetch-site", "cross-site")],
            (200, String::new(), 0),
        ),
        ("POST", vec![cookie(&live)], csrf.clone()),
        // A WebSocket handshake is a GET that opens a channel both ways: not safe.
        (
            "GET",
            vec![
                cookie(&live),
                h("connection", "Upgrade"),
                h("upgrade", "websocket"),
                h("sec-fetch-site", "cross-site"),
                host.clone(),
                h("origin", "https://evil.test"),
            ],
            csrf.clone(),
        ),
        (
            "GET",
            vec![cookie(&live), h("upgrade", "WebSocket")],
            csrf.clone(),
        ),
        // Another protocol switch (HTTP/2 over cleartext) is no socket a page opens.
        (
            "GET",
            vec![
                cookie(&live),
                h("connection", "Upgrade"),
                h("upgrade", "h2c"),
            ],
            ok.clone(),
        ),
        (
            "GET",
            vec![
                cookie(&live),
                h("connection", "Upgrade"),
                h("upgrade", "websocket"),
                h("sec-fetch-site", "same-origin"),
                host.clone(),
                h("origin", "https://api.test"),
            ],
            ok.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), h("sec-fetch-site", "same-origin")],
            ok.clone(),
        ),
        (
            "PUT",
            vec![cookie(&live), h("sec-fetch-site", "none")],
            ok.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), h("sec-fetch-site", "same-site")],
            csrf.clone(),
        ),
        (
            "DELETE",
            vec![
                cookie(&live),
                h("sec-fetch-site", "cross-site"),
                host.clone(),
                h("origin", "https://api.test"),
            ],
            csrf.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), host.clone(), h("origin", "https://api.test")],
            ok.clone(),
        ),
        (
            "POST",
            vec![
                cookie(&live),
                host.clone(),
                h("origin", "https://api.test.evil"),
            ],
            csrf.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), host.clone(), h("origin", "null")],
            csrf.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), h("x-csrf-token", "c5rf")],
            ok.clone(),
        ),
        (
            "POST",
            vec![cookie(&live), h("x-csrf-token", "c5rF")],
            csrf.clone(),
        ),
        (
            "PATCH",
            vec![
                cookie(&live),
                h("sec-fetch-site", "cross-site"),
                h("x-csrf-token", "c5rf"),
            ],
            ok.clone(),
        ),
        // A bearer header is no ambient credential: no CSRF rule.
        (
            "POST",
            vec![
                h("authorization", &format!("Bearer {live}")),
                h("sec-fetch-site", "cross-site"),
            ],
            ok.clone(),
        ),
        // Both: ambiguous.
        (
            "GET",
            vec![cookie(&live), h("authorization", &format!("Bearer {live}"))],
            (400, "invalid_request".into(), 0),
        ),
        // Two access cookies: ambiguous.
        (
            "GET",
            vec![h(
                "cookie",
                &format!("__Host-kickout={live}; __Host-kickout={live}"),
            )],
            (400, "invalid_request".into(), 0),
        ),
        // A dead cookie session: 401, and the three cookies cleared; by bearer, nothing.
        ("GET", vec![cookie(&dead)], (401, "kicked_out".into(), 3)),
        (
            "POST",
            vec![cookie(&dead), h("sec-fetch-site", "same-origin")],
            (401, "kicked_out".into(), 3),
        ),
        (
            "GET",
            vec![h("authorization", &format!("Bearer {dead}"))],
            (401, "kicked_out".into(), 0),
        ),
        // A dead cookie from another site: refused before anything else, clearing nothing.
        (
            "POST",
            vec![cookie(&dead), h("sec-fetch-site", "cross-site")],
            csrf.clone(),
        ),
        // A quoted cookie value is the value.
        (
            "GET",
            vec![h("cookie", &format!("__Host-kickout=\"{live}\""))],
            ok.clone(),
        ),
    ];
    for (method, headers, want) in cases {
        let a = cookie_via_axum(&auth, method, &headers).await;
        let mut x = cookie_via_actix(&auth, method, &headers).await;
        if method == "HEAD" {
            // actix's test service keeps a HEAD answer's body; a server drops it.
            x.1.clear();
        }
        assert_eq!(a, want, "axum {method} {headers:?}");
        assert_eq!(x, want, "actix {method} {headers:?}");
    }
}
