//! Per-request cost of the kickout layer, in one run next to its baselines:
//! - `bare`: the router alone;
//! - `floor`: a minimal hand-written layer looking the bearer token up in a `HashMap`
//!   (the least any store-backed bearer check can cost);
//! - `kickout_memory`: the kickout layer with the memory store;
//! - `kickout_guarded`: the same behind a restriction guard and a step-up guard, and
//!   `kickout_two_noop_layers`, behind two route layers that do nothing;
//! - `kickout_cookie`: the token in the access cookie;
//!
//! plus login and kickout throughput. Compare the ratios, not the absolute times.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use kickout::store::MemoryStore;
use kickout::{Auth, AuthLayer, Identity, LoginRule};

#[path = "common/refresh.rs"]
mod refresh_bench;
use pin_project_lite::pin_project;
use refresh_bench::refresh_group;
use tower::{Layer, Service, ServiceExt};

/// What the floor layer puts into extensions.
#[derive(Clone)]
struct FloorUser(Arc<str>);

#[derive(Clone)]
struct FloorLayer(Arc<RwLock<HashMap<String, Arc<str>>>>);

#[derive(Clone)]
struct Floor<S> {
    inner: S,
    tokens: Arc<RwLock<HashMap<String, Arc<str>>>>,
}

impl<S> Layer<S> for FloorLayer {
    type Service = Floor<S>;
    fn layer(&self, inner: S) -> Floor<S> {
        Floor {
            inner,
            tokens: self.0.clone(),
        }
    }
}

pin_project! {
    #[project = FloorProj]
    enum FloorFuture<F> {
        Inner { #[pin] fut: F },
        Reject,
    }
}

impl<F: Future<Output = Result<Response<Body>, E>>, E> Future for FloorFuture<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            FloorProj::Inner { fut } => fut.poll(cx),
            FloorProj::Reject => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::UNAUTHORIZED;
                Poll::Ready(Ok(res))
            }
        }
    }
}

impl<S: Service<Request<Body>, Response = Response<Body>>> Service<Request<Body>> for Floor<S> {
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let user = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.read().ok()?.get(t).cloned());
        match user {
            Some(user) => {
                req.extensions_mut().insert(FloorUser(user));
                FloorFuture::Inner {
                    fut: self.inner.call(req),
                }
            }
            None => FloorFuture::Reject,
        }
    }
}

fn routes() -> Router {
    Router::new().route("/me", get(|| async { "ok" }))
}

/// The same route, reading the floor layer's user like a real handler would.
fn floor_routes() -> Router {
    Router::new().route(
        "/me",
        get(|Extension(user): Extension<FloorUser>| async move {
            if user.0.is_empty() { "?" } else { "ok" }
        }),
    )
}

/// The same route, reading kickout's identity.
fn kickout_routes() -> Router {
    Router::new().route(
        "/me",
        get(|me: Identity| async move { if me.user_id().is_empty() { "?" } else { "ok" } }),
    )
}

fn request(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn call(app: &Router, token: &str) {
    let res = app.clone().oneshot(request(token)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = Auth::new(MemoryStore::new());
    // A populated store: 10,000 users with a session each.
    let mut tokens = Vec::new();
    let mut floor_map = HashMap::new();
    rt.block_on(async {
        for i in 0..10_000 {
            let user = format!("user{i}");
            let login = auth.login(&user, "web").await.unwrap();
            floor_map.insert(login.token.as_str().to_owned(), Arc::from(user.as_str()));
            tokens.push(login.token.into_string());
        }
    });
    let token = tokens[4242].clone();
    let bare = routes();
    let floor = floor_routes().layer(FloorLayer(Arc::new(RwLock::new(floor_map))));
    let kickout = kickout_routes().layer(AuthLayer::new(auth.clone()));

    let mut group = c.benchmark_group("per_request");
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| call(&bare, &token)));
    group.bench_function("floor", |b| b.to_async(&rt).iter(|| call(&floor, &token)));
    group.bench_function("kickout_memory", |b| {
        b.to_async(&rt).iter(|| call(&kickout, &token))
    });
    // The same route behind a restriction guard and a step-up guard, for a session
    // that passes both (elevated): what guards add to a request, with no round trip.
    let guarded_token = tokens[4243].clone();
    rt.block_on(async {
        let me = auth.authenticate(&guarded_token).await.unwrap();
        auth.elevate(&me, "payment", Duration::from_secs(3_600))
            .await
            .unwrap();
    });
    let guarded = kickout_routes()
        .route_layer(auth.guard("content", 1).unwrap())
        .route_layer(auth.step_up("payment").unwrap())
        .layer(AuthLayer::new(auth.clone()));
    group.bench_function("kickout_guarded", |b| {
        b.to_async(&rt).iter(|| call(&guarded, &guarded_token))
    });
    // Its baseline: the same two route layers doing nothing (axum boxes each one).
    let layered = kickout_routes()
        .route_layer(tower::layer::util::Identity::new())
        .route_layer(tower::layer::util::Identity::new())
        .layer(AuthLayer::new(auth.clone()));
    group.bench_function("kickout_two_noop_layers", |b| {
        b.to_async(&rt).iter(|| call(&layered, &guarded_token))
    });
    // The browser path beside it: the token in the access cookie (a GET: no CSRF proof
    // needed), read by the cookie crate.
    let cookies = kickout::cookies::Cookies::default();
    let by_cookie = kickout_routes().layer(AuthLayer::new(auth.clone()).cookies(cookies));
    let cookie = format!("theme=dark; __Host-kickout={token}; __Host-kickout-csrf=x");
    group.bench_function("kickout_cookie", |b| {
        b.to_async(&rt).iter(|| async {
            let req = Request::get("/me")
                .header("cookie", cookie.as_str())
                .body(Body::empty())
                .unwrap();
            let res = by_cookie.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        })
    });
    group.finish();
}

fn helpers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = Auth::builder(MemoryStore::new())
        .login_rule(LoginRule::one_per_device())
        .build();
    let mut group = c.benchmark_group("helpers");
    let mut i = 0u64;
    group.bench_function("login", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let auth = auth.clone();
            async move {
                auth.login(&format!("user{}", i % 10_000), "web")
                    .await
                    .unwrap();
            }
        })
    });
    group.bench_function("login_then_kickout", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let auth = auth.clone();
            async move {
                let user = format!("user{}", i % 10_000);
                auth.login(&user, "web").await.unwrap();
                assert!(auth.kickout(&user).await.unwrap() >= 1);
            }
        })
    });
    group.finish();
}

fn refresh(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = Auth::builder(MemoryStore::new())
        .ttl(Duration::from_secs(15 * 60))
        .refresh_tokens(Duration::from_secs(30 * 24 * 3600))
        .login_rule(LoginRule::one_per_device())
        .build();
    refresh_group(c, &rt, "refresh_memory", auth);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_request, helpers, refresh
}
criterion_main!(benches);
