//! The examples a team copies (`examples/axum_app.rs`, `examples/actix_app.rs`),
//! driven over real HTTP with one list of steps: their own user check, tokens, "sign
//! out my other devices", an operator's kickout with a note, and their own JSON shape
//! for every refusal — the middleware's and the helpers' alike. Each runs as its `main`
//! runs it, on the embedded store and on the `REDIS_URL` / `DATABASE_URL` its header
//! names (a server the test starts).

#[allow(dead_code)]
#[path = "../../examples/axum_app.rs"]
mod axum_app;

#[cfg(feature = "actix")]
#[allow(dead_code)]
#[path = "../../examples/actix_app.rs"]
mod actix_app;

use crate::support::{self, RedisProcess};
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

/// Where an app keeps its sessions: the embedded store, or the URL its `main` reads.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// The URLs of `backend` as `main` reads them (`DATABASE_URL`, `REDIS_URL`) and what
/// keeps the server alive, or `None` to skip (the server is not installed).
async fn urls(backend: Backend) -> Option<(Option<String>, Option<String>, Option<RedisProcess>)> {
    match backend {
        Backend::Memory => Some((None, None, None)),
        Backend::Redis => {
            if !support::redis_available() {
                return None;
            }
            let server = RedisProcess::start(&[]);
            Some((None, Some(server.url()), Some(server)))
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let database = support::postgres::fresh_database().await?;
            Some((Some(database), None, None))
        }
    }
}

/// Whether the configured server holds the app's sessions (the app used it, not an
/// embedded store).
async fn kept_there(database: Option<&str>, redis: Option<&RedisProcess>) -> bool {
    if let Some(server) = redis {
        return server.cli(&["DBSIZE"]).is_some_and(|n| n.trim() != "0");
    }
    match database {
        #[cfg(feature = "postgres")]
        Some(url) => {
            let client = support::postgres::client(url).await;
            let row = client
                .query_one("SELECT count(*) FROM kickout.sessions", &[])
                .await
                .expect("the app's schema");
            row.get::<_, i64>(0) > 0
        }
        _ => true,
    }
}

/// Runs the axum app as its `main` does, on `backend`, and walks the steps.
async fn axum_app_on(backend: Backend) {
    let Some((database, redis, server)) = urls(backend).await else {
        return;
    };
    let store = axum_app::store(database.as_deref(), redis.as_deref());
    let auth = axum_app::auth(store.await.expect("the store of the configuration"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served =
        tokio::spawn(axum::serve(listener, axum_app::app(auth, "k3y".to_owned())).into_future());
    the_app_answers_in_its_own_shape(Client {
        base,
        http: reqwest::Client::new(),
    })
    .await;
    served.abort();
    assert!(
        kept_there(database.as_deref(), server.as_ref()).await,
        "{backend:?}"
    );
}

/// Runs the actix app as its `main` does, on `backend`, and walks the steps.
#[cfg(feature = "actix")]
async fn actix_app_on(backend: Backend) {
    let Some((database, redis, server)) = urls(backend).await else {
        return;
    };
    let (db, url) = (database.clone(), redis.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // The app's own runtime, as `#[actix_web::main]` gives it: the store is made there.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let store = actix_app::store(db.as_deref(), url.as_deref());
            let auth = actix_app::auth(store.await.expect("the store of the configuration"));
            let serve = actix_app::serve(listener, auth, "k3y".to_owned());
            tokio::select! {
                served = serve => served.expect("serve"),
                _ = stopped => {}
            }
        })
    });
    the_app_answers_in_its_own_shape(Client {
        base,
        http: reqwest::Client::new(),
    })
    .await;
    let _ = stop.send(());
    thread.join().unwrap();
    assert!(
        kept_there(database.as_deref(), server.as_ref()).await,
        "{backend:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_app_answers_in_its_own_shape() {
    axum_app_on(Backend::Memory).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_app_runs_on_redis_url() {
    axum_app_on(Backend::Redis).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_app_runs_on_database_url() {
    axum_app_on(Backend::Postgres).await;
}

#[cfg(feature = "actix")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actix_app_answers_in_its_own_shape() {
    actix_app_on(Backend::Memory).await;
}

#[cfg(all(feature = "actix", feature = "redis"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actix_app_runs_on_redis_url() {
    actix_app_on(Backend::Redis).await;
}

#[cfg(all(feature = "actix", feature = "postgres"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actix_app_runs_on_database_url() {
    actix_app_on(Backend::Postgres).await;
}

/// Both URLs set: the app refuses to guess.
#[tokio::test]
async fn an_app_given_two_stores_refuses_to_start() {
    let both = axum_app::store(Some("postgres://a@127.0.0.1/b"), Some("redis://127.0.0.1"));
    let refused = both.await.expect_err("refused").to_string();
    assert!(refused.contains("not both"), "{refused}");
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
    // A body that is not a kickout's JSON kicks no one (actix's `Option<Json>` took it
    // for none).
    let (status, body) = c
        .send("POST", "/admin/kickout/alice", None, json!({"note": 5}))
        .await;
    assert_eq!(
        (status, &body["problem"]["code"]),
        (400, &json!("invalid_request"))
    );
    // Another method on a known path: 405, not a 401 or 404 from the routes behind
    // the token check.
    for (method, path) in [("GET", "/login"), ("POST", "/me"), ("GET", "/logout")] {
        let (status, _) = c.send(method, path, Some(&laptop_token), Value::Null).await;
        assert_eq!(status, 405, "{method} {path}");
    }
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
