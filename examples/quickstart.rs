//! The shortest honest program: protect a route, log in, call it, kick the user out,
//! call it again. Run with `cargo run --example quickstart`.

use axum::{Router, body::Body, routing::get};
use http::{Request, Response};
use http_body_util::BodyExt;
use kickout::{Auth, AuthLayer, Identity, store::MemoryStore};
use tower::ServiceExt;

async fn me(identity: Identity) -> String {
    format!("hello {} on {}", identity.user_id(), identity.device())
}

async fn call(app: &Router, token: &str) -> Response<Body> {
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a valid request");
    app.clone().oneshot(request).await.expect("infallible")
}

async fn show(step: &str, response: Response<Body>) {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    println!("{step}: {status} {}", String::from_utf8_lossy(&body));
}

#[tokio::main]
async fn main() -> Result<(), kickout::Error> {
    let auth = Auth::new(MemoryStore::new());
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(AuthLayer::new(auth.clone()));

    let login = auth.login("10001", "web").await?;
    println!(
        "logged in 10001 on web, session {}",
        login.session.session_id
    );
    show("GET /me", call(&app, login.token.as_str()).await).await;

    let kicked = auth.kickout("10001").await?;
    println!("kicked out 10001: {kicked} session(s) ended");
    show("GET /me again", call(&app, login.token.as_str()).await).await;
    Ok(())
}
