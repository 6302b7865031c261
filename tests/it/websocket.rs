//! The WebSocket example over real loopback connections: a kickout closes the socket
//! with a close frame carrying the reason.

#[allow(dead_code)]
#[path = "../../examples/axum_websocket.rs"]
mod example;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kickout::Auth;
use kickout::store::MemoryStore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn a_kickout_closes_the_socket_with_the_reason() {
    let auth = Auth::new(MemoryStore::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The operator's kickout route is apart from the user routes, behind an admin key.
    let app = example::app(auth.clone()).merge(example::admin(auth, "k3y"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("http://{addr}/login"))
        .json(&serde_json::json!({"user_id": "u1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();

    // Without a token, no upgrade.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .is_err()
    );

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?access_token={token}"))
            .await
            .unwrap();
    socket.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::Text("hello".into())
    );

    let kickout = |key: Option<&'static str>| {
        let req = http.post(format!("http://{addr}/kickout/u1"));
        match key {
            Some(key) => req.header("x-admin-key", key),
            None => req,
        }
        .send()
    };
    for key in [None, Some("wrong")] {
        assert_eq!(kickout(key).await.unwrap().status(), 401, "{key:?}");
    }
    assert_eq!(kickout(Some("k3y")).await.unwrap().status(), 200);
    let closing = tokio::time::timeout(Duration::from_secs(1), socket.next())
        .await
        .unwrap();
    match closing {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::from(example::SESSION_ENDED));
            assert_eq!(frame.reason.as_str(), "kicked_out");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}
