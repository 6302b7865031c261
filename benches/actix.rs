//! Per-request cost of the actix-web middleware, in one run next to the bare app and a
//! hand-written floor: a bearer middleware looking tokens up in a `HashMap` (all
//! in-process through `actix_web::test`, 10,000 live sessions).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, test, web};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::{Either, FutureExt, ready};
use kickout::actix::KickoutAuth;
use kickout::store::MemoryStore;
use kickout::{Auth, Identity};

/// `GET /me` with the bearer token (a macro: actix-web does not name its request type).
macro_rules! get_me {
    ($bearer:expr) => {
        || {
            test::TestRequest::get()
                .uri("/me")
                .append_header(("authorization", $bearer))
                .to_request()
        }
    };
}

fn per_request(c: &mut Criterion) {
    let system = actix_web::rt::System::new();
    let auth = Auth::new(MemoryStore::new());
    let token = system.block_on(async {
        for i in 0..10_000 {
            auth.login(&format!("user{i}"), "web").await.unwrap();
        }
        auth.login("user4242", "phone")
            .await
            .unwrap()
            .token
            .into_string()
    });
    let bearer = format!("Bearer {token}");
    // The floor's sessions: token to user, as a hand-written middleware would keep them.
    let mut floor_sessions: HashMap<String, Arc<str>> = (0..10_000)
        .map(|i| {
            (
                format!("token-{i:05}-padding-to-forty-three-chars"),
                Arc::from(format!("user{i}")),
            )
        })
        .collect();
    floor_sessions.insert(token.clone(), Arc::from("user4242"));
    let floor_sessions = Arc::new(floor_sessions);

    let mut group = c.benchmark_group("actix_per_request");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let app = test::init_service(App::new().route(
                    "/me",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                ))
                .await;
                drive(&app, get_me!(bearer.as_str()), iters).await
            })
        })
    });
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let sessions = floor_sessions.clone();
                let app = test::init_service(
                    App::new()
                        .wrap_fn(move |req, srv| {
                            let user = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.strip_prefix("Bearer "))
                                .and_then(|t| sessions.get(t))
                                .cloned();
                            match user {
                                Some(user) => {
                                    req.extensions_mut().insert(FloorUser(user));
                                    Either::Left(
                                        srv.call(req)
                                            .map(|r| r.map(ServiceResponse::map_into_left_body)),
                                    )
                                }
                                None => Either::Right(ready(Ok(req
                                    .into_response(HttpResponse::Unauthorized().finish())
                                    .map_into_right_body()))),
                            }
                        })
                        .route(
                            "/me",
                            web::get().to(|req: HttpRequest| async move {
                                let ext = req.extensions();
                                let user = ext.get::<FloorUser>().map(|u| &*u.0);
                                HttpResponse::Ok().body(if user.is_none() { "?" } else { "ok" })
                            }),
                        ),
                )
                .await;
                drive(&app, get_me!(bearer.as_str()), iters).await
            })
        })
    });
    group.bench_function("kickout_memory", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let app =
                    test::init_service(App::new().wrap(KickoutAuth::new(auth.clone())).route(
                        "/me",
                        web::get().to(|me: Identity| async move {
                            HttpResponse::Ok().body(if me.user_id().is_empty() {
                                "?"
                            } else {
                                "ok"
                            })
                        }),
                    ))
                    .await;
                drive(&app, get_me!(bearer.as_str()), iters).await
            })
        })
    });
    group.finish();
}

/// Sends `iters` authenticated requests through `app`; the time they took.
async fn drive<S, R, B>(app: &S, request: impl Fn() -> R, iters: u64) -> Duration
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let start = Instant::now();
    for _ in 0..iters {
        assert!(
            test::call_service(app, request())
                .await
                .status()
                .is_success()
        );
    }
    start.elapsed()
}

/// The floor's identity in the request's extensions.
#[derive(Clone)]
struct FloorUser(Arc<str>);

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_request
}
criterion_main!(benches);
