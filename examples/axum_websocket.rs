//! A WebSocket that closes when its session ends: the server echoes messages, and when
//! the session is logged out, kicked out, replaced, banned or expires — from this
//! instance or, on Redis, any other — it sends a close frame carrying the reason.
//!
//! ```sh
//! cargo run --example axum_websocket
//! # then: POST /login {"user_id": "u1"} gives a token; connect to
//! # ws://127.0.0.1:3000/ws?access_token=<token>; POST /kickout/u1 closes it.
//! ```

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use kickout::store::{MemoryStore, SessionStore};
use kickout::{Auth, AuthLayer, Identity, TokenSource};
use serde_json::{Value, json};

/// The close code sent when the session ended (4000–4999 are for applications); the
/// close reason is the rejection code, e.g. `kicked_out`.
pub const SESSION_ENDED: u16 = 4001;

/// The example's routes over any store.
pub fn app<S: SessionStore>(auth: Auth<S>) -> Router {
    // Browsers cannot set headers on a WebSocket: the upgrade carries ?access_token=.
    let ws = Router::new().route("/ws", get(upgrade::<S>)).layer(
        AuthLayer::new(auth.clone()).source(TokenSource::bearer().with_query("access_token")),
    );
    Router::new()
        .route("/login", post(login::<S>))
        .route("/kickout/{user_id}", post(kickout::<S>))
        .merge(ws)
        .with_state(auth)
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
    State(auth): State<Auth<S>>,
    Path(user): Path<String>,
) -> Json<Value> {
    Json(json!({ "kicked": auth.kickout(&user).await.unwrap_or(0) }))
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

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = Auth::builder(MemoryStore::new())
        .ttl(Duration::from_secs(3600))
        .build();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(auth)).await?;
    Ok(())
}
