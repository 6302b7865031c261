//! A WebSocket that closes when its session ends: the server echoes messages, and when
//! the session is logged out, kicked out, replaced, banned or expires — from this
//! instance or, on Redis, any other — it sends a close frame carrying the reason.
//!
//! Its `/login` takes no password: it is password-less demo code that signs anyone in
//! as any user, so never serve it where others can reach it. The operator's route
//! `POST /kickout/{user_id}` needs `X-Admin-Key: <ADMIN_KEY>`; `ADMIN_KEY` is required
//! when `BIND` is not a loopback address (the example refuses to start without it), and
//! on loopback, unset, it is `admin-secret` with a warning on stderr.
//!
//! ```sh
//! cargo run --example axum_websocket
//! # then: POST /login {"user_id": "u1"} gives a token; connect to
//! # ws://127.0.0.1:3000/ws?access_token=<token>; POST /kickout/u1 with
//! # X-Admin-Key: admin-secret closes it.
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kickout::store::{MemoryStore, SessionStore};
use kickout::{Auth, AuthLayer, Identity, TokenSource};
use serde_json::{Value, json};

#[allow(clippy::duplicate_mod)] // the demos include it too, and tests include both
#[path = "demo/startup.rs"]
pub mod startup;

/// The close code sent when the session ended (4000–4999 are for applications); the
/// close reason is the rejection code, e.g. `kicked_out`.
pub const SESSION_ENDED: u16 = 4001;

/// The example's user routes over any store: the password-less `/login` and `/ws`.
pub fn app<S: SessionStore>(auth: Auth<S>) -> Router {
    // Browsers cannot set headers on a WebSocket: the upgrade carries ?access_token=.
    let ws = Router::new().route("/ws", get(upgrade::<S>)).layer(
        AuthLayer::new(auth.clone()).source(TokenSource::bearer().with_query("access_token")),
    );
    Router::new()
        .route("/login", post(login::<S>))
        .merge(ws)
        .with_state(auth)
}

/// The operator's route, `POST /kickout/{user_id}`: only with `X-Admin-Key: <admin_key>`.
pub fn admin<S: SessionStore>(auth: Auth<S>, admin_key: &str) -> Router {
    Router::new()
        .route("/kickout/{user_id}", post(kickout::<S>))
        .with_state((auth, Arc::<str>::from(admin_key)))
}

async fn login<S: SessionStore>(
    State(auth): State<Auth<S>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let user = body["user_id"].as_str().unwrap_or("demo");
    match auth.login(user, "ws").await {
        Ok(login) => Json(json!({ "token": login.token.as_str() })),
        Err(e) => Json(json!({ "error": e.code() })),
    }
}

async fn kickout<S: SessionStore>(
    State((auth, key)): State<(Auth<S>, Arc<str>)>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let given = headers.get("x-admin-key").map(|v| v.as_bytes());
    if !startup::admin_key_ok(given, &key) {
        let body =
            json!({ "error": "unauthorized", "message": "A valid X-Admin-Key is required." });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    match auth.kickout(&user).await {
        Ok(n) => Json(json!({ "kicked": n })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn upgrade<S: SessionStore>(
    State(auth): State<Auth<S>>,
    me: Identity,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| serve(socket, auth, me))
}

async fn serve<S: SessionStore>(mut socket: WebSocket, auth: Auth<S>, me: Identity) {
    let mut watch = auth.watch(&me);
    loop {
        tokio::select! {
            reason = watch.ended() => {
                let frame = CloseFrame { code: SESSION_ENDED, reason: reason.reason().code().into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Serves the example from the environment (`BIND`, `ADMIN_KEY`) until the process ends;
/// an error when it cannot start.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bind = startup::Bind::parse(std::env::var("BIND").ok())?;
    let mut warnings = Vec::new();
    let admin_key = bind.secret(
        "ADMIN_KEY",
        std::env::var("ADMIN_KEY").ok(),
        startup::DEV_ADMIN_KEY,
        &mut warnings,
    )?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let auth = Auth::builder(MemoryStore::new())
        .ttl(Duration::from_secs(3600))
        .build();
    let listener = tokio::net::TcpListener::bind(&bind.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let routes = app(auth.clone()).merge(admin(auth, &admin_key));
    axum::serve(listener, routes).await?;
    Ok(())
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    startup::report(run().await).into()
}
