//! Per-request cost of the actix-web middleware, in one run next to the bare app (both
//! in-process through `actix_web::test`, memory store, 10,000 live sessions).

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, test, web};
use criterion::{Criterion, criterion_group, criterion_main};
use kickout::actix::KickoutAuth;
use kickout::store::MemoryStore;
use kickout::{Auth, Identity};

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

    let mut group = c.benchmark_group("actix_per_request");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let app = test::init_service(App::new().route(
                    "/me",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                ))
                .await;
                let start = Instant::now();
                for _ in 0..iters {
                    let req = test::TestRequest::get()
                        .uri("/me")
                        .append_header(("authorization", bearer.as_str()))
                        .to_request();
                    assert!(test::call_service(&app, req).await.status().is_success());
                }
                start.elapsed()
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
                let start = Instant::now();
                for _ in 0..iters {
                    let req = test::TestRequest::get()
                        .uri("/me")
                        .append_header(("authorization", bearer.as_str()))
                        .to_request();
                    assert!(test::call_service(&app, req).await.status().is_success());
                }
                start.elapsed()
            })
        })
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
