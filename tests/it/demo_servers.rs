//! The demo servers (`axum_session`, `axum_jwt`, `actix_session`, `actix_jwt`), driven
//! over real HTTP on loopback by one suite of their contract (DESIGN.md): login, /me,
//! logout, admin kickout / ban / sessions, bad input — with identical expectations for
//! both adapters in both modes, on the memory store, a standalone Redis and a Cluster.

// The actix demo shares `demo/shared.rs` with the axum one: each example includes it.
#[cfg(feature = "actix")]
#[allow(dead_code, unreachable_pub, clippy::duplicate_mod)]
#[path = "../../examples/actix_demo/mod.rs"]
mod actix_demo;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/demo/mod.rs"]
mod demo;
#[cfg(feature = "redis")]
use crate::support;

use std::time::Duration;

use kickout::store::MemoryStore;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Server {
    base: String,
    http: Client,
}

fn config(mode: demo::DemoMode) -> demo::Config {
    demo::Config {
        mode,
        admin_key: "k3y".into(),
        ttl: Duration::from_secs(3600),
        idle_timeout: None,
        refresh_ttl: Duration::from_secs(2_592_000),
        jwt_secret: "demo test secret, thirty-two bytes".into(),
        device_classes: vec![
            ("ios".into(), "mobile".into()),
            ("android".into(), "mobile".into()),
        ],
    }
}

/// The axum demo on `store`, on a free loopback port.
async fn axum_server<S: demo::DemoStore>(mode: demo::DemoMode, store: S) -> Server {
    let app = demo::router(store, &config(mode));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(demo::serve(listener, app));
    Server {
        base,
        http: Client::builder()
            .user_agent("kickout-tests")
            .build()
            .unwrap(),
    }
}

/// The actix demo on `store`, on a free loopback port, in its own actix system thread
/// (it lives until the test process ends).
#[cfg(feature = "actix")]
async fn actix_server<S: demo::DemoStore>(mode: demo::DemoMode, store: S) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = actix_demo::Config::from_env(match mode {
        demo::DemoMode::Session => actix_demo::DemoMode::Session,
        demo::DemoMode::Jwt => actix_demo::DemoMode::Jwt,
    })
    .unwrap();
    let ours = config(mode);
    (cfg.admin_key, cfg.ttl, cfg.idle_timeout, cfg.jwt_secret) =
        (ours.admin_key, ours.ttl, ours.idle_timeout, ours.jwt_secret);
    cfg.refresh_ttl = ours.refresh_ttl;
    cfg.device_classes = ours.device_classes;
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(actix_demo::serve_store(listener, store, cfg))
    });
    Server {
        base,
        http: Client::builder()
            .user_agent("kickout-tests")
            .build()
            .unwrap(),
    }
}

impl Server {
    async fn login(&self, user: &str, device: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({ "user_id": user, "password": "123456" });
        if let Some(d) = device {
            body["device"] = json!(d);
        }
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, user: &str, device: &str) -> String {
        let (status, body) = self.login(user, Some(device)).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn me(&self, token: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-admin-key", "k3y");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }
}

macro_rules! contract {
    ($start:ident, $mode:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&$start($mode, MemoryStore::new()).await).await;
            }
        )*
        /// The same cases against the demo on a real Redis, standalone and Cluster.
        #[cfg(feature = "redis")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_redis_standalone_and_cluster() {
            if !support::redis_available() {
                return;
            }
            let single = support::RedisProcess::start(&[]);
            let cluster = support::Cluster::start().unwrap();
            for urls in [single.url(), cluster.urls()] {
                let store = kickout::store::RedisStore::connect(&urls).await.unwrap();
                let server = $start($mode, store).await;
                $( super::$case(&server).await; )*
            }
        }
    };
}

mod axum_session {
    use super::*;
    contract!(axum_server, demo::DemoMode::Session; login_me_logout, bad_login_input, admin_kickout_ban_and_sessions, events_stream, self_service_sessions, one_session_per_device_class, admin_notes, refresh_flow, admin_directory, admin_audit_stream);
}

mod axum_jwt {
    use super::*;
    contract!(axum_server, demo::DemoMode::Jwt; login_me_logout, bad_login_input, admin_kickout_ban_and_sessions, events_stream, self_service_sessions, one_session_per_device_class, admin_notes, refresh_flow, admin_directory, admin_audit_stream);
}

#[cfg(feature = "actix")]
mod actix_session {
    use super::*;
    contract!(actix_server, demo::DemoMode::Session; login_me_logout, bad_login_input, admin_kickout_ban_and_sessions, events_stream, self_service_sessions, one_session_per_device_class, admin_notes, refresh_flow, admin_directory, admin_audit_stream);
}

#[cfg(feature = "actix")]
mod actix_jwt {
    use super::*;
    contract!(actix_server, demo::DemoMode::Jwt; login_me_logout, bad_login_input, admin_kickout_ban_and_sessions, events_stream, self_service_sessions, one_session_per_device_class, admin_notes, refresh_flow, admin_directory, admin_audit_stream);
}

async fn login_me_logout(s: &Server) {
    let (status, body) = s.login("10001", Some("web")).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["token"].as_str().unwrap();
    let (status, me) = s.me(token).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&me["user_id"], &me["device"]),
        (&json!("10001"), &json!("web"))
    );
    assert!(
        me["session_id"]
            .as_str()
            .is_some_and(|id| id.parse::<kickout::SessionId>().is_ok()),
        "{me}"
    );
    // Device defaults to "default".
    let t2 = s.login("10001", None).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.me(&t2).await.1["device"], "default");

    let res = s
        .http
        .post(format!("{}/logout", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = s.me(token).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let res = s.http.get(format!("{}/me", s.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);
}

impl Server {
    /// A login with a label, and the `User-Agent` the client sends.
    async fn labelled(&self, user: &str, device: &str, label: &str) -> (StatusCode, Value) {
        let body =
            json!({ "user_id": user, "password": "123456", "device": device, "label": label });
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }
}

/// `/me/sessions`, signing out one of mine, signing out the others, and an operator's
/// kickout of one session.
async fn self_service_sessions(s: &Server) {
    use reqwest::Method;
    let (laptop, phone, tablet) = (
        s.token("self-1", "laptop").await,
        s.token("self-1", "phone").await,
        s.token("self-1", "tablet").await,
    );
    let stranger = s.token("self-2", "web").await;
    let id_of = |me: Value| me["session_id"].as_str().unwrap().to_owned();
    let phone_id = id_of(s.me(&phone).await.1);
    let (status, list) = s.call(Method::GET, "/me/sessions", &laptop).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0]["label"], Value::Null);
    assert_eq!(list[0]["ip"], "127.0.0.1");
    assert_eq!(list[0]["user_agent"], "kickout-tests");
    let (issued, seen) = (list[0]["issued_at"].as_u64(), list[0]["last_seen"].as_u64());
    assert!(seen >= issued && issued.is_some(), "{:?}", list[0]);
    let devices: Vec<_> = list.iter().map(|e| e["device"].as_str().unwrap()).collect();
    assert_eq!(devices, ["laptop", "phone", "tablet"]);
    let current: Vec<_> = list.iter().map(|e| e["current"] == json!(true)).collect();
    assert_eq!(current, [true, false, false]);
    // Another user's session is not found, and not ended.
    let path = format!("/me/sessions/{phone_id}");
    assert_eq!(s.call(Method::DELETE, &path, &stranger).await.0, 404);
    assert_eq!(s.me(&phone).await.0, 200);
    assert_eq!(
        s.call(Method::DELETE, "/me/sessions/garbage", &laptop)
            .await
            .0,
        404
    );
    assert_eq!(s.call(Method::DELETE, &path, &laptop).await.0, 204);
    assert_eq!(s.me(&phone).await.1["error"], "invalid_token");
    assert_eq!(s.call(Method::DELETE, &path, &laptop).await.0, 404);
    // Sign out the others: the caller's stays.
    let (status, body) = s.call(Method::POST, "/me/logout-others", &laptop).await;
    assert_eq!((status.as_u16(), body), (200, json!({"ended": 1})));
    assert_eq!(s.me(&tablet).await.1["error"], "invalid_token");
    assert_eq!(s.me(&laptop).await.0, 200);
    assert_eq!(s.me(&stranger).await.0, 200);
    // An operator ends one session by id.
    let stranger_id = id_of(s.me(&stranger).await.1);
    // A label comes back; a bad one is refused.
    let (status, body) = s.labelled("self-3", "phone", "Alice's phone").await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, list) = s.call(Method::GET, "/me/sessions", &token).await;
    assert_eq!(list[0]["label"], "Alice's phone");
    for label in ["", &"x".repeat(129)] {
        let (status, body) = s.labelled("self-3", "web", label).await;
        assert!([400, 422].contains(&status.as_u16()), "{status} {body}");
        assert_eq!(body["error"], "invalid_request");
    }
    let path = format!("/admin/kickout-session/{stranger_id}");
    let (status, body) = s.admin(Method::POST, &path, None).await;
    assert_eq!((status.as_u16(), body), (200, json!({"kicked": 1})));
    assert_eq!(s.me(&stranger).await.1["error"], "kicked_out");
    let (_, body) = s.admin(Method::POST, &path, None).await;
    assert_eq!(body, json!({"kicked": 0}));
    let (status, _) = s
        .admin(Method::POST, "/admin/kickout-session/nope", None)
        .await;
    assert_eq!(status, 400);
}

/// The demos' rule: one live session per device class (`DEVICE_CLASSES` puts ios and
/// android in "mobile" here).
async fn one_session_per_device_class(s: &Server) {
    let ios = s.token("classes-1", "ios").await;
    let web = s.token("classes-1", "web").await;
    let android = s.token("classes-1", "android").await;
    assert_eq!(s.me(&ios).await.1["error"], "replaced");
    assert_eq!(s.me(&web).await.0, 200);
    assert_eq!(s.me(&android).await.0, 200);
}

async fn bad_login_input(s: &Server) {
    let post = |body: Vec<u8>, ct: Option<&'static str>| {
        let mut req = s.http.post(format!("{}/login", s.base)).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let wrong = json!({"user_id": "20001", "password": "nope"})
        .to_string()
        .into_bytes();
    assert_eq!(
        post(wrong, Some("application/json"))
            .await
            .unwrap()
            .status(),
        401
    );
    for (body, ct) in [
        (b"not json".to_vec(), Some("application/json")),
        (b"".to_vec(), None),
        (b"{\"user_id\": 1}".to_vec(), Some("application/json")),
        (b"[1,2]".to_vec(), Some("text/plain")),
        (b"{\"user_id\":\"a\"}".to_vec(), None),
    ] {
        let status = post(body.clone(), ct).await.unwrap().status().as_u16();
        assert!(
            status == 400 || status == 422,
            "{:?} -> {status}",
            String::from_utf8_lossy(&body)
        );
    }
    let long = "u".repeat(129);
    for body in [
        json!({"user_id": long, "password": "123456"}),
        json!({"user_id": "", "password": "123456"}),
        json!({"user_id": "u", "password": "123456", "device": long}),
        json!({"user_id": "u", "password": "123456", "device": ""}),
    ] {
        let status = post(body.to_string().into_bytes(), Some("application/json"))
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 400 || status == 422, "{body} -> {status}");
    }
    let huge = format!(
        r#"{{"user_id":"u","password":"123456","device":"{}"}}"#,
        "x".repeat(20_000)
    );
    let status = post(huge.into_bytes(), Some("application/json"))
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(status == 413 || status == 400, "{status}");
    // Still serving.
    assert_eq!(s.login("20001", None).await.0, 200);
}

async fn admin_kickout_ban_and_sessions(s: &Server) {
    use reqwest::Method;
    let web = s.token("30001", "web").await;
    let phone = s.token("30001", "phone").await;
    // Same device again: the first web session is replaced.
    let web2 = s.token("30001", "web").await;
    assert_eq!(s.me(&web).await.1["error"], "replaced");

    let res = s
        .http
        .post(format!("{}/admin/kickout/30001", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no admin key");
    let res = s
        .http
        .post(format!("{}/admin/kickout/30001", s.base))
        .header("x-admin-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "wrong admin key");

    let (status, list) = s.admin(Method::GET, "/admin/sessions/30001", None).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for entry in list {
        let issued = entry["issued_at"].as_u64().unwrap();
        assert!(issued.abs_diff(now) < 60);
        // With refresh tokens a session lasts until its refresh cap (REFRESH_TTL_SECS).
        let lifetime = entry["expires_at"].as_u64().unwrap() - issued;
        assert!(lifetime == 2_592_000 || lifetime == 2_592_001, "{entry}");
    }
    assert_eq!(
        s.admin(Method::GET, "/admin/sessions/nobody", None).await.1,
        json!([])
    );

    assert_eq!(
        s.admin(Method::POST, "/admin/kickout/30001/phone", None)
            .await
            .1,
        json!({"kicked": 1})
    );
    assert_eq!(s.me(&phone).await.1["error"], "kicked_out");
    assert_eq!(s.me(&web2).await.0, 200);
    assert_eq!(
        s.admin(Method::POST, "/admin/kickout/30001", None).await.1,
        json!({"kicked": 1})
    );
    assert_eq!(s.me(&web2).await.1["error"], "kicked_out");
    assert_eq!(
        s.admin(Method::POST, "/admin/kickout/nobody", None).await.1,
        json!({"kicked": 0})
    );

    let fresh = s.token("30001", "web").await;
    for bad in [
        json!({"seconds": 0}),
        json!({"seconds": -5}),
        json!({}),
        json!({"seconds": "x"}),
    ] {
        let status = s
            .admin(Method::POST, "/admin/ban/30001", Some(bad.clone()))
            .await
            .0
            .as_u16();
        assert!(status == 400 || status == 422, "{bad} -> {status}");
    }
    assert_eq!(
        s.admin(
            Method::POST,
            "/admin/ban/30001",
            Some(json!({"seconds": 60}))
        )
        .await
        .1,
        json!({"kicked": 1})
    );
    assert_eq!(s.me(&fresh).await.1["error"], "banned");
    let (status, body) = s.login("30001", Some("web")).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (403, Some("banned"))
    );
    assert_eq!(
        s.admin(Method::DELETE, "/admin/ban/30001", None).await.0,
        204
    );
    let again = s.token("30001", "web").await;
    assert_eq!(s.me(&again).await.0, 200);
    assert_eq!(
        s.me(&fresh).await.0,
        401,
        "a banned token stays refused after unban"
    );
}

async fn admin_notes(s: &Server) {
    use reqwest::Method;
    let web = s.token("31001", "web").await;
    let phone = s.token("31001", "phone").await;
    let tv = s.token("31001", "tv").await;
    let banned = s.token("31002", "web").await;
    // A bad note, or a bad body, is refused and ends nothing.
    for (path, body) in [
        ("/admin/kickout/31001", json!({"note": "Bad Note"})),
        ("/admin/kickout/31001/web", json!({"note": ""})),
        ("/admin/kickout/31001", json!({"note": "x".repeat(65)})),
        ("/admin/kickout/31001", json!({"note": 5})),
        ("/admin/ban/31002", json!({"seconds": 60, "note": "a b"})),
    ] {
        let (status, answer) = s.admin(Method::POST, path, Some(body.clone())).await;
        assert!(status == 400 || status == 422, "{path} {body} -> {status}");
        assert_eq!(answer["error"], "invalid_request", "{answer}");
    }
    let res = s
        .http
        .post(format!("{}/admin/kickout/31001", s.base))
        .header("x-admin-key", "k3y")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(s.me(&web).await.0, 200, "nothing ended");
    assert_eq!(s.me(&banned).await.0, 200, "nothing ended");

    let note = json!({"note": "password_changed"});
    assert_eq!(
        s.admin(Method::POST, "/admin/kickout/31001/web", Some(note))
            .await
            .1,
        json!({"kicked": 1})
    );
    let body = s.me(&web).await.1;
    assert_eq!(
        (&body["error"], &body["note"]),
        (&json!("kicked_out"), &json!("password_changed"))
    );
    let (_, me) = s.me(&phone).await;
    let id = me["session_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/kickout-session/{id}");
    let lost = json!({"note": "lost_phone"});
    assert_eq!(
        s.admin(Method::POST, &path, Some(lost)).await.1,
        json!({"kicked": 1})
    );
    assert_eq!(s.me(&phone).await.1["note"], "lost_phone");
    // Without a body, no note.
    assert_eq!(
        s.admin(Method::POST, "/admin/kickout/31001", None).await.1,
        json!({"kicked": 1})
    );
    let body = s.me(&tv).await.1;
    assert_eq!(body["error"], "kicked_out");
    assert!(body.get("note").is_none(), "{body}");
    let ban = json!({"seconds": 60, "note": "fraud"});
    assert_eq!(
        s.admin(Method::POST, "/admin/ban/31002", Some(ban)).await.1,
        json!({"kicked": 1})
    );
    let body = s.me(&banned).await.1;
    assert_eq!(
        (&body["error"], &body["note"]),
        (&json!("banned"), &json!("fraud"))
    );
}

async fn refresh_flow(s: &Server) {
    let (status, login) = s.login("32001", Some("phone")).await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["refresh_expires_in"], 2_592_000);
    assert_eq!(login["expires_in"], 3600);
    let session_id = login["session_id"].as_str().unwrap().to_owned();
    let access = login["token"].as_str().unwrap().to_owned();
    let spent = login["refresh_token"].as_str().unwrap().to_owned();
    let post = |body: Value| {
        s.http
            .post(format!("{}/refresh", s.base))
            .json(&body)
            .send()
    };
    // Not interchangeable: a refresh token is no bearer token, and the reverse.
    assert_eq!(s.me(&spent).await.1["error"], "invalid_token");
    let res = post(json!({"refresh_token": access})).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");
    for bad in [json!({}), json!({"refresh_token": 5}), json!([1])] {
        let status = post(bad.clone()).await.unwrap().status().as_u16();
        assert!(status == 400 || status == 422, "{bad} -> {status}");
    }
    let res = s
        .http
        .post(format!("{}/refresh", s.base))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let res = post(json!({"refresh_token": spent})).await.unwrap();
    assert_eq!(res.status(), 200);
    let pair: Value = res.json().await.unwrap();
    assert_eq!(pair["session_id"], session_id.as_str());
    assert_eq!(pair["token_type"], "Bearer");
    let token = pair["token"].as_str().unwrap().to_owned();
    assert_ne!(token, access);
    assert_eq!(s.me(&token).await.1["session_id"], session_id.as_str());
    let listed = s
        .http
        .get(format!("{}/me/sessions", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // The stream of the new token ends when the spent one comes back.
    let mut events = s
        .http
        .get(format!("{}/events?access_token={token}", s.base))
        .send()
        .await
        .unwrap();
    assert!(read_until(&mut events, "event: tick").await.1);
    let res = post(json!({"refresh_token": spent})).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "refresh_reused"
    );
    let (seen, found) = read_until(&mut events, "event: revoked\ndata: refresh_reused").await;
    assert!(found, "{seen}");
    for t in [&access, &token] {
        assert_eq!(s.me(t).await.1["error"], "refresh_reused");
    }
    let next = pair["refresh_token"].as_str().unwrap();
    let res = post(json!({"refresh_token": next})).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "refresh_reused"
    );

    // A kicked session's refresh token answers with the kickout.
    let (_, login) = s.login("32002", Some("phone")).await;
    s.admin(reqwest::Method::POST, "/admin/kickout/32002", None)
        .await;
    let res = post(json!({"refresh_token": login["refresh_token"]}))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "kicked_out");
}

async fn admin_directory(s: &Server) {
    use reqwest::Method;
    let mut mine = std::collections::HashSet::new();
    let mut tokens = Vec::new();
    for u in 0..6 {
        for d in ["web", "ios"] {
            let token = s.token(&format!("33{u:03}"), d).await;
            mine.insert(
                s.me(&token).await.1["session_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            tokens.push(token);
        }
    }
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("/admin/online?limit=5&cursor={c}"),
            None => "/admin/online?limit=5".to_owned(),
        };
        let (status, page) = s.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let list = page["sessions"].as_array().unwrap();
        assert!(list.len() <= 5);
        for entry in list {
            for field in ["user_id", "device", "issued_at", "expires_at", "last_seen"] {
                assert!(!entry[field].is_null(), "{entry}");
            }
            seen.push(entry["session_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "each session once");
    assert!(mine.is_subset(&unique));
    let (status, count) = s.admin(Method::GET, "/admin/online/count", None).await;
    assert_eq!(status, 200);
    assert_eq!(count["sessions"].as_u64().unwrap() as usize, unique.len());
    assert!(count["users"].as_u64().unwrap() >= 6);
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=nope",
        "cursor=zz.a",
        "cursor=0001.abc",
    ] {
        let (status, body) = s
            .admin(Method::GET, &format!("/admin/online?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request");
    }
    let res = s
        .http
        .get(format!("{}/admin/online", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no admin key");

    let (status, kicked) = s.admin(Method::POST, "/admin/kickout-all", None).await;
    assert_eq!(status, 200);
    assert!(kicked["kicked"].as_u64().unwrap() >= 12, "{kicked}");
    for token in &tokens {
        assert_eq!(s.me(token).await.1["error"], "kicked_out");
    }
    assert_eq!(
        s.admin(Method::GET, "/admin/online/count", None).await.1["sessions"],
        0
    );
    let fresh = s.token("33000", "web").await;
    assert_eq!(s.me(&fresh).await.0, 200, "new logins work");
}

async fn admin_audit_stream(s: &Server) {
    let res = s
        .http
        .get(format!("{}/admin/events", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no admin key");
    let mut res = s
        .http
        .get(format!("{}/admin/events", s.base))
        .header("x-admin-key", "k3y")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.token("34001", "web").await;
    // Events of an earlier case on the same store may still arrive first (Redis
    // pub/sub is asynchronous): read until this login.
    let (seen, found) = read_until(&mut res, r#""user_id":"34001""#).await;
    assert!(found && seen.contains("event: login"), "{seen}");
    let note = json!({"note": "audit_check"});
    s.admin(reqwest::Method::POST, "/admin/kickout/34001", Some(note))
        .await;
    let (seen, found) = read_until(&mut res, r#""note":"audit_check""#).await;
    assert!(found, "{seen}");
    // This case's event, whatever an earlier case's left in the stream.
    let data = seen
        .split("event: kicked_out\ndata: ")
        .filter_map(|rest| rest.lines().next())
        .find(|line| line.contains("audit_check"))
        .unwrap();
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["user_id"], "34001");
    assert_eq!(data["device"], "web");
    assert_eq!(data["note"], "audit_check");
    assert!(
        data["session_id"].is_string() && data["at"].is_u64(),
        "{data}"
    );
    s.admin(
        reqwest::Method::POST,
        "/admin/ban/34002",
        Some(json!({"seconds": 60})),
    )
    .await;
    let (seen, found) = read_until(&mut res, r#""user_id":"34002""#).await;
    assert!(found, "{seen}");
    let banned = seen
        .split("event: banned\ndata: ")
        .filter_map(|rest| rest.lines().next())
        .find(|line| line.contains("34002"))
        .unwrap();
    assert!(banned.contains(r#""session_id":null"#), "{seen}");
}

/// Reads the event stream until `want` shows up (or it ends): everything read so far.
async fn read_until(res: &mut reqwest::Response, want: &str) -> (String, bool) {
    let mut seen = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(3), res.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains(want) {
                    return (seen, true);
                }
            }
            Ok(Ok(None)) => return (seen, false),
            other => panic!("stream stalled: {other:?}; so far: {seen}"),
        }
    }
}

async fn events_stream(s: &Server) {
    use reqwest::Method;
    let res = s
        .http
        .get(format!("{}/events", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no token");
    for (user, revoke, reason) in [
        ("40001", "kick", "kicked_out"),
        ("40002", "replace", "replaced"),
        ("40003", "ban", "banned"),
        ("40004", "logout", "invalid_token"),
    ] {
        let token = s.token(user, "web").await;
        // EventSource cannot set headers: the query string carries the token here.
        let mut res = s
            .http
            .get(format!("{}/events?access_token={token}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let (_, ticked) = read_until(&mut res, "event: tick").await;
        assert!(ticked);
        let started = std::time::Instant::now();
        match revoke {
            "kick" => {
                s.admin(Method::POST, &format!("/admin/kickout/{user}"), None)
                    .await;
            }
            "replace" => {
                s.token(user, "web").await;
            }
            "ban" => {
                s.admin(
                    Method::POST,
                    &format!("/admin/ban/{user}"),
                    Some(json!({"seconds": 60})),
                )
                .await;
            }
            _ => {
                let out = s
                    .http
                    .post(format!("{}/logout", s.base))
                    .bearer_auth(&token)
                    .send()
                    .await;
                assert_eq!(out.unwrap().status(), 204);
            }
        }
        let want = format!("event: revoked\ndata: {reason}");
        let (seen, found) = read_until(&mut res, &want).await;
        assert!(found, "{user}: {seen}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{user}: {:?}",
            started.elapsed()
        );
        // Then the stream closes.
        let (rest, _) = read_until(&mut res, "never").await;
        assert!(
            !rest.contains("event: tick"),
            "{user}: ticks after revocation: {rest}"
        );
    }
    // The header works on /events too; the query string is refused elsewhere.
    let token = s.token("40005", "web").await;
    let mut res = s
        .http
        .get(format!("{}/events", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(read_until(&mut res, "event: tick").await.1);
    let res = s
        .http
        .get(format!("{}/me?access_token={token}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// An event stream on one instance ends when another instance, on the same Redis,
/// kicks the user out.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_end_when_another_instance_revokes() {
    if !support::redis_available() {
        return;
    }
    let redis = support::RedisProcess::start(&[]);
    let url = redis.url();
    let store = || kickout::store::RedisStore::connect(&url);
    let a = axum_server(demo::DemoMode::Session, store().await.unwrap()).await;
    #[cfg(feature = "actix")]
    let b = actix_server(demo::DemoMode::Session, store().await.unwrap()).await;
    #[cfg(not(feature = "actix"))]
    let b = axum_server(demo::DemoMode::Session, store().await.unwrap()).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // subscriptions up
    let token = a.token("50001", "web").await;
    let mut res = a
        .http
        .get(format!("{}/events?access_token={token}", a.base))
        .send()
        .await
        .unwrap();
    assert!(read_until(&mut res, "event: tick").await.1);
    // The audit stream of one instance hears what the other does.
    let mut audit = a
        .http
        .get(format!("{}/admin/events", a.base))
        .header("x-admin-key", "k3y")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (status, body) = b
        .admin(reqwest::Method::POST, "/admin/kickout/50001", None)
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({"kicked": 1})));
    let (seen, found) = read_until(&mut res, "event: revoked\ndata: kicked_out").await;
    assert!(found, "{seen}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (seen, found) = read_until(&mut audit, "event: kicked_out").await;
    assert!(found && seen.contains("50001"), "{seen}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// The pages in a real browser: headless Chromium from Debian's packages, driven over
/// WebDriver by ChromeDriver (both installed by `scripts/test` when missing; a machine
/// without them skips, unless `KICKOUT_REQUIRE_BROWSER=1`).
mod browser {
    use super::*;
    use fantoccini::{Client as Browser, ClientBuilder, Locator};

    fn browser_available() -> bool {
        let found = ["chromium", "chromedriver"].iter().all(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !found {
            if std::env::var("KICKOUT_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!("chromium or chromedriver is missing but KICKOUT_REQUIRE_BROWSER=1");
            }
            eprintln!("NOTICE: chromium/chromedriver not found; skipping the browser tests");
        }
        found
    }

    /// A ChromeDriver on a free loopback port, stopped (by pid) when dropped.
    struct Driver {
        child: std::process::Child,
        url: String,
    }

    impl Driver {
        async fn start() -> Self {
            let port = support::free_port();
            let mut child = std::process::Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, url };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not start");
        }

        /// A browser session of its own (its own profile, so its own storage).
        async fn session(&self) -> Browser {
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                json!({
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", "--window-size=1100,900",
                    ],
                }),
            );
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&self.url)
                .await
                .expect("a browser session")
        }
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn text(b: &Browser, id: &str) -> String {
        b.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
    }

    /// Waits until `check` holds, at most `secs`.
    async fn until<F: std::future::Future<Output = bool>>(
        secs: u64,
        mut check: impl FnMut() -> F,
    ) -> bool {
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < end {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    async fn reason(b: &Browser) -> Option<String> {
        let banner = b.find(Locator::Id("banner")).await.ok()?;
        banner.attr("data-reason").await.ok().flatten()
    }

    /// Signs `user` in on the user page of `base`.
    async fn sign_in(b: &Browser, base: &str, user: &str) {
        b.goto(&format!("{base}/")).await.unwrap();
        let field = b.find(Locator::Id("user")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(user).await.unwrap();
        b.find(Locator::Id("signin"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(
            until(5, || async { text(b, "who").await == user }).await,
            "signed in"
        );
        // The page's event stream is open before anything is revoked.
        assert!(until(5, || async { text(b, "status").await == "live" }).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// On the admin page of `base`: connects with the key and kicks `user` out; the
    /// time of the click.
    async fn kick(b: &Browser, base: &str, user: &str) -> std::time::Instant {
        b.goto(&format!("{base}/admin/")).await.unwrap();
        let key = b.find(Locator::Id("key")).await.unwrap();
        key.clear().await.unwrap();
        key.send_keys("k3y").await.unwrap();
        b.find(Locator::Id("connect"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let row = format!("tr[data-user='{user}'] button.kick");
        assert!(
            until(5, || async { b.find(Locator::Css(&row)).await.is_ok() }).await,
            "the user is listed online"
        );
        let started = std::time::Instant::now();
        b.find(Locator::Css(&row))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        started
    }

    fn save(name: &str, png: &[u8]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    async fn kicked_from_another_browser(user_base: &str, admin_base: &str, shots: &str) {
        let driver = Driver::start().await;
        let (person, operator) = (driver.session().await, driver.session().await);
        sign_in(&person, user_base, "60001").await;
        let started = kick(&operator, admin_base, "60001").await;
        assert!(
            until(3, || async {
                reason(&person).await.as_deref() == Some("kicked_out")
            })
            .await,
            "the user page shows the kickout"
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "shown after {took:?}");
        // The audit feed of the admin page shows it too.
        assert!(
            until(3, || async {
                text(&operator, "feed").await.contains("kicked_out 60001")
            })
            .await,
            "the audit feed"
        );
        save(
            &format!("{shots}-user.png"),
            &person.screenshot().await.unwrap(),
        );
        save(
            &format!("{shots}-admin.png"),
            &operator.screenshot().await.unwrap(),
        );
        person.close().await.unwrap();
        operator.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kick_from_the_admin_page_shows_on_the_user_page_at_once() {
        if !browser_available() {
            return;
        }
        let server = axum_server(demo::DemoMode::Session, MemoryStore::new()).await;
        kicked_from_another_browser(&server.base, &server.base, "memory").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_across_two_instances_sharing_redis() {
        if !browser_available() || !support::redis_available() {
            return;
        }
        let redis = support::RedisProcess::start(&[]);
        let url = redis.url();
        let store = || kickout::store::RedisStore::connect(&url);
        let a = axum_server(demo::DemoMode::Jwt, store().await.unwrap()).await;
        #[cfg(feature = "actix")]
        let b = actix_server(demo::DemoMode::Jwt, store().await.unwrap()).await;
        #[cfg(not(feature = "actix"))]
        let b = axum_server(demo::DemoMode::Jwt, store().await.unwrap()).await;
        tokio::time::sleep(Duration::from_millis(300)).await; // subscriptions up
        kicked_from_another_browser(&a.base, &b.base, "redis").await;
    }
}
