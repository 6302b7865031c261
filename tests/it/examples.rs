//! The examples a team copies (`examples/axum_app.rs`, `examples/actix_app.rs`),
//! driven over real HTTP with one list of steps: their own user check, tokens, "sign
//! out my other devices", an operator's kickout with a note, and their own JSON shape
//! for every refusal — the middleware's and the helpers' alike.

#[allow(dead_code)]
#[path = "../../examples/axum_app.rs"]
mod axum_app;

#[cfg(feature = "actix")]
#[allow(dead_code)]
#[path = "../../examples/actix_app.rs"]
mod actix_app;

use kickout::store::{AnyStore, MemoryStore};
use kickout::{Auth, LoginRule};
use serde_json::{Value, json};

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if path.starts_with("/admin") {
            req = req.header("x-admin-key", "k3y");
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// The handle both examples run on, as their `main` builds it.
fn handle(refused: fn(kickout::Rejection) -> http::Response<bytes::Bytes>) -> Auth<AnyStore> {
    Auth::builder(AnyStore::new(MemoryStore::new()))
        .refresh_tokens(std::time::Duration::from_secs(3600))
        .login_rule(LoginRule::one_per_device())
        .on_rejection(refused)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_app_answers_in_its_own_shape() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum_app::app(handle(axum_app::refused), "k3y".to_owned());
    tokio::spawn(async move { axum::serve(listener, app).await });
    the_app_answers_in_its_own_shape(Client {
        base,
        http: reqwest::Client::new(),
    })
    .await;
}

#[cfg(feature = "actix")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actix_app_answers_in_its_own_shape() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auth = handle(actix_app::refused);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(actix_app::serve(listener, auth, "k3y".to_owned()))
    });
    the_app_answers_in_its_own_shape(Client {
        base,
        http: reqwest::Client::new(),
    })
    .await;
}

async fn the_app_answers_in_its_own_shape(c: Client) {
    let creds = |device: &str| json!({"user": "alice", "password": "wonderland", "device": device});
    let (status, laptop) = c.send("POST", "/login", None, creds("laptop")).await;
    assert_eq!(status, 200, "{laptop}");
    let laptop_token = laptop["token"].as_str().unwrap().to_owned();
    let (_, phone) = c.send("POST", "/login", None, creds("phone")).await;
    let phone_token = phone["token"].as_str().unwrap().to_owned();
    let (status, me) = c.send("GET", "/me", Some(&laptop_token), Value::Null).await;
    assert_eq!((status, &me["user"]), (200, &json!("alice")));
    // Wrong password, no token, bad note: the app's shape every time.
    let wrong = json!({"user": "alice", "password": "nope"});
    let (status, body) = c.send("POST", "/login", None, wrong).await;
    assert_eq!(
        (status, &body["problem"]["code"]),
        (401, &json!("invalid_credentials"))
    );
    let (status, body) = c.send("GET", "/me", None, Value::Null).await;
    assert_eq!(
        (status, &body["problem"]["code"]),
        (401, &json!("missing_token"))
    );
    let (status, body) = c
        .send("POST", "/admin/kickout/alice", None, json!({"note": "Bad"}))
        .await;
    assert_eq!(
        (status, &body["problem"]["code"]),
        (400, &json!("invalid_request"))
    );
    // Sign out the other devices: the phone is out, the laptop stays.
    let (status, body) = c
        .send("POST", "/sign-out-others", Some(&laptop_token), Value::Null)
        .await;
    assert_eq!((status, body), (200, json!({"signed_out": 1})));
    let (status, _) = c.send("GET", "/me", Some(&phone_token), Value::Null).await;
    assert_eq!(status, 401);
    // A refresh, then an operator's kickout with a note every refused token carries.
    let refresh = json!({"refresh_token": laptop["refresh_token"]});
    let (status, renewed) = c.send("POST", "/refresh", None, refresh).await;
    assert_eq!(status, 200, "{renewed}");
    let renewed_token = renewed["token"].as_str().unwrap().to_owned();
    let note = json!({"note": "password_changed", "message": "Sign in again."});
    let (status, body) = c.send("POST", "/admin/kickout/alice", None, note).await;
    assert_eq!((status, body), (200, json!({"kicked": 1})));
    let (status, body) = c
        .send("GET", "/me", Some(&renewed_token), Value::Null)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["problem"]["code"], "kicked_out");
    assert_eq!(body["problem"]["note"], "password_changed");
    // The spent refresh token, presented again, is refused in the app's shape too.
    let again = json!({"refresh_token": laptop["refresh_token"]});
    let (status, body) = c.send("POST", "/refresh", None, again).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["problem"]["code"].is_string(), "{body}");
    // Logging out ends this session only.
    let (_, fresh) = c.send("POST", "/login", None, creds("tablet")).await;
    let fresh_token = fresh["token"].as_str().unwrap().to_owned();
    let (status, _) = c
        .send("POST", "/logout", Some(&fresh_token), Value::Null)
        .await;
    assert_eq!(status, 204);
    let (status, body) = c.send("GET", "/me", Some(&fresh_token), Value::Null).await;
    assert_eq!(
        (status, &body["problem"]["code"]),
        (401, &json!("invalid_token"))
    );
}
