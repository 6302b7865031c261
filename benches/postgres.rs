//! PostgreSQL-backed validation, in one run next to its baselines (a real PostgreSQL
//! and a real `redis-server` on loopback, started by the bench):
//! - `memory`: the kickout layer with the memory store;
//! - `floor_select`: a hand-written layer doing one `SELECT` by primary key per request,
//!   through the same pool and client (deadpool-postgres, tokio-postgres) and a
//!   prepared statement — the least a PostgreSQL-backed bearer check can cost;
//! - `kickout_postgres`: the kickout layer with `PostgresStore` (one `SELECT` by
//!   primary key per request, joined with the user's row);
//! - `kickout_postgres_near_cache`: the same behind a `NearCache` of one second;
//! - `kickout_redis`: the kickout layer with `RedisStore`, for the comparison;
//!
//! each one request at a time and 64 at once; plus logins and kickouts.

#[path = "common/remote_floor.rs"]
mod remote_floor;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::Duration;

use axum::Router;
use criterion::{Criterion, criterion_group, criterion_main};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kickout::store::{MemoryStore, NearCache, RedisStore};
use kickout::{Auth, AuthLayer, LoginRule};
use remote_floor::{BoxFuture, FloorLayer, Lookup, call, call_64, floor_routes, kickout_routes};
use support::postgres as pg;

/// The floor's one read: a prepared `SELECT` by primary key through the same pool.
impl Lookup for Pool {
    fn user(&self, token: String) -> BoxFuture<Option<String>> {
        let pool = self.clone();
        Box::pin(async move {
            let client = pool.get().await.ok()?;
            let stmt = client
                .prepare_cached("SELECT user_id FROM floor WHERE token = $1")
                .await
                .ok()?;
            let row = client.query_opt(&stmt, &[&token]).await.ok()??;
            Some(row.get(0))
        })
    }
}

async fn token_of<S: kickout::store::SessionStore>(auth: &Auth<S>) -> String {
    auth.login("user1", "web")
        .await
        .unwrap()
        .token
        .into_string()
}

fn bench(c: &mut Criterion) {
    if !pg::available() || !support::redis_available() {
        return;
    }
    let server = pg::PgServer::start();
    let redis = support::RedisProcess::start(&[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    let (apps, tokens, auth) = rt.block_on(async {
        let store = pg::store_on(&url, "kickout").await;
        let pg_auth = Auth::builder(store.clone())
            .login_rule(LoginRule::one_per_device())
            .build();
        let near = Auth::new(NearCache::new(store, Duration::from_secs(1)));
        let memory = Auth::new(MemoryStore::new());
        let redis_auth = Auth::new(RedisStore::connect(&redis.url()).await.unwrap());
        // The floor: the same pool and client, one table keyed by the token.
        let manager = Manager::from_config(
            url.parse().unwrap(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(4).build().unwrap();
        let floor_token = "floor-token-0123456789".to_owned();
        let client = pool.get().await.unwrap();
        client
            .batch_execute(
                "CREATE TABLE floor (token text PRIMARY KEY, user_id text NOT NULL); \
                 INSERT INTO floor VALUES ('floor-token-0123456789', 'user1')",
            )
            .await
            .unwrap();
        drop(client);
        let tokens = [
            token_of(&memory).await,
            floor_token,
            token_of(&pg_auth).await,
            token_of(&redis_auth).await,
        ];
        let apps = [
            kickout_routes().layer(AuthLayer::new(memory)),
            floor_routes().layer(FloorLayer(pool)),
            kickout_routes().layer(AuthLayer::new(pg_auth.clone())),
            kickout_routes().layer(AuthLayer::new(near)),
            kickout_routes().layer(AuthLayer::new(redis_auth)),
        ];
        (apps, tokens, pg_auth)
    });
    let [memory, floor, postgres, near, redis_app] = &apps;
    let [memory_token, floor_token, pg_token, redis_token] = &tokens;

    for (group, many) in [
        ("postgres_per_request", false),
        ("postgres_64_concurrent", true),
    ] {
        let mut group = c.benchmark_group(group);
        let runs: [(&str, &Router, &String); 5] = [
            ("memory", memory, memory_token),
            ("floor_select", floor, floor_token),
            ("kickout_postgres", postgres, pg_token),
            ("kickout_postgres_near_cache", near, pg_token),
            ("kickout_redis", redis_app, redis_token),
        ];
        for (name, app, token) in runs {
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| async {
                    match many {
                        false => call(app, token).await,
                        true => call_64(app, token).await,
                    }
                })
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("postgres_helpers");
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
    drop(apps);
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
