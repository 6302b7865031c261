//! JWT validation per request, in one run next to its baselines:
//! - `bare`: the router alone;
//! - `naive`: a hand-written layer doing `jsonwebtoken::decode` and a `HashSet` blacklist
//!   of `jti`s (what most JWT middlewares with "logout" do);
//! - `kickout_jwt`: the kickout layer in JWT mode with the memory store, doing more:
//!   per-token, per-user and per-device revocation and bans;
//! - `kickout_jwt_uncached`: the same without the verified-token cache.

use std::collections::HashSet;
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
use jsonwebtoken::{DecodingKey, Validation};
use kickout::jwt::{Jwt, JwtKey};
use kickout::store::MemoryStore;
use kickout::{Auth, AuthLayer, Identity};
use pin_project_lite::pin_project;
use serde::Deserialize;
use tower::{Layer, Service, ServiceExt};

const SECRET: &[u8] = b"bench secret, at least thirty-two bytes";

#[derive(Clone, Deserialize)]
struct NaiveClaims {
    sub: String,
    jti: String,
}

#[derive(Clone)]
struct Naive {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    blacklist: Arc<RwLock<HashSet<String>>>,
}

#[derive(Clone)]
struct NaiveService<S> {
    inner: S,
    naive: Naive,
}

impl<S> Layer<S> for Naive {
    type Service = NaiveService<S>;
    fn layer(&self, inner: S) -> NaiveService<S> {
        NaiveService {
            inner,
            naive: self.clone(),
        }
    }
}

pin_project! {
    #[project = NaiveProj]
    enum NaiveFuture<F> {
        Inner { #[pin] fut: F },
        Reject,
    }
}

impl<F: Future<Output = Result<Response<Body>, E>>, E> Future for NaiveFuture<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            NaiveProj::Inner { fut } => fut.poll(cx),
            NaiveProj::Reject => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::UNAUTHORIZED;
                Poll::Ready(Ok(res))
            }
        }
    }
}

impl<S: Service<Request<Body>, Response = Response<Body>>> Service<Request<Body>>
    for NaiveService<S>
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = NaiveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let claims = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| {
                jsonwebtoken::decode::<NaiveClaims>(t, &self.naive.key, &self.naive.validation).ok()
            })
            .map(|d| d.claims)
            .filter(|c| {
                self.naive
                    .blacklist
                    .read()
                    .is_ok_and(|b| !b.contains(&c.jti))
            });
        match claims {
            Some(claims) => {
                req.extensions_mut().insert(claims);
                NaiveFuture::Inner {
                    fut: self.inner.call(req),
                }
            }
            None => NaiveFuture::Reject,
        }
    }
}

fn bare_routes() -> Router {
    Router::new().route("/me", get(|| async { "ok" }))
}

fn naive_routes() -> Router {
    Router::new().route(
        "/me",
        get(|Extension(c): Extension<NaiveClaims>| async move {
            if c.sub.is_empty() { "?" } else { "ok" }
        }),
    )
}

fn kickout_routes() -> Router {
    Router::new().route(
        "/me",
        get(|me: Identity| async move { if me.user_id().is_empty() { "?" } else { "ok" } }),
    )
}

async fn call(app: &Router, token: &str) {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let auth = Auth::builder(store.clone())
        .jwt(Jwt::new(JwtKey::hs256(SECRET)).unwrap())
        .build();
    // The same store and key without the verified-token cache: every request checks the
    // signature and parses the claims.
    let uncached = Auth::builder(store)
        .jwt(Jwt::new(JwtKey::hs256(SECRET)).unwrap().verified_cache(0))
        .build();
    let token = rt.block_on(async {
        for i in 0..10_000 {
            auth.login(&format!("user{i}"), "web").await.unwrap();
        }
        auth.login("user4242", "phone")
            .await
            .unwrap()
            .token
            .into_string()
    });
    let blacklist: HashSet<String> = (0..10_000).map(|i| format!("revoked-{i}")).collect();
    let naive = Naive {
        key: Arc::new(DecodingKey::from_secret(SECRET)),
        validation: Arc::new(Validation::default()),
        blacklist: Arc::new(RwLock::new(blacklist)),
    };
    let bare = bare_routes();
    let naive = naive_routes().layer(naive);
    let kickout = kickout_routes().layer(AuthLayer::new(auth));
    let kickout_uncached = kickout_routes().layer(AuthLayer::new(uncached));

    let mut group = c.benchmark_group("jwt_per_request");
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| call(&bare, &token)));
    group.bench_function("naive", |b| b.to_async(&rt).iter(|| call(&naive, &token)));
    group.bench_function("kickout_jwt", |b| {
        b.to_async(&rt).iter(|| call(&kickout, &token))
    });
    group.bench_function("kickout_jwt_uncached", |b| {
        b.to_async(&rt).iter(|| call(&kickout_uncached, &token))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_request
}
criterion_main!(benches);
