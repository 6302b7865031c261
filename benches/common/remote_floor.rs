//! The floor of a store over the network: a hand-written layer that looks the bearer
//! token up with one read of the same client the store uses (`Lookup`), and nothing
//! else — the least a remote bearer check can cost. With the routes and the calls the
//! Redis and PostgreSQL benches share.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::{Request, Response, StatusCode};
use kickout::Identity;
use tower::{Layer, Service, ServiceExt};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One read: the user of a token, if any.
pub trait Lookup: Clone + Send + Sync + 'static {
    fn user(&self, token: String) -> BoxFuture<Option<String>>;
}

#[derive(Clone)]
struct FloorUser(String);

#[derive(Clone)]
pub struct FloorLayer<L>(pub L);

#[derive(Clone)]
pub struct Floor<S, L> {
    inner: S,
    lookup: L,
}

impl<S, L: Clone> Layer<S> for FloorLayer<L> {
    type Service = Floor<S, L>;
    fn layer(&self, inner: S) -> Floor<S, L> {
        Floor {
            inner,
            lookup: self.0.clone(),
        }
    }
}

impl<S, L> Service<Request<Body>> for Floor<S, L>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    L: Lookup,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let token = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let user = match token {
                Some(t) => lookup.user(t).await,
                None => None,
            };
            match user {
                Some(user) => {
                    req.extensions_mut().insert(FloorUser(user));
                    inner.call(req).await
                }
                None => {
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::UNAUTHORIZED;
                    Ok(res)
                }
            }
        })
    }
}

pub fn floor_routes() -> Router {
    Router::new().route(
        "/me",
        get(|Extension(u): Extension<FloorUser>| async move { if u.0.is_empty() { "?" } else { "ok" } }),
    )
}

pub fn kickout_routes() -> Router {
    Router::new().route(
        "/me",
        get(|me: Identity| async move { if me.user_id().is_empty() { "?" } else { "ok" } }),
    )
}

pub async fn call(app: &Router, token: &str) {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

pub async fn call_64(app: &Router, token: &str) {
    futures::future::join_all((0..64).map(|_| call(app, token))).await;
}
