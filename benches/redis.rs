//! Redis-backed validation, in one run next to its baselines (a real `redis-server` on
//! loopback, started by the bench):
//! - `memory`: the kickout layer with the memory store;
//! - `floor`: a hand-written layer doing one `GET` per request on the same kind of
//!   multiplexed connection (the least a Redis-backed bearer check can cost);
//! - `kickout_redis`: the kickout layer with `RedisStore` (one `EVALSHA` per request);
//!
//! each one request at a time and 64 at once; plus login and kickout throughput.

#[path = "common/remote_floor.rs"]
mod remote_floor;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kickout::store::{MemoryStore, NearCache, RedisStore};
use kickout::{Auth, AuthLayer, LoginRule};

#[path = "common/refresh.rs"]
mod refresh_bench;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use refresh_bench::refresh_group;
use remote_floor::{BoxFuture, FloorLayer, Lookup, call, call_64, floor_routes, kickout_routes};

/// The floor's one read: a `GET` on the same kind of multiplexed connection.
impl Lookup for ConnectionManager {
    fn user(&self, token: String) -> BoxFuture<Option<String>> {
        let mut conn = self.clone();
        Box::pin(async move { conn.get(format!("floor:{token}")).await.ok().flatten() })
    }
}

fn bench(c: &mut Criterion) {
    if !support::redis_available() {
        return;
    }
    let server = support::RedisProcess::start(&[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (memory, redis, floor, tokens, redis_auth, near) = rt.block_on(async {
        let memory_auth = Auth::new(MemoryStore::new());
        let redis_auth = Auth::builder(RedisStore::connect(&server.url()).await.unwrap())
            .login_rule(LoginRule::one_per_device())
            .build();
        let client = redis::Client::open(server.url()).unwrap();
        let mut conn = ConnectionManager::new(client).await.unwrap();
        let memory_token = memory_auth
            .login("user1", "web")
            .await
            .unwrap()
            .token
            .into_string();
        let redis_token = redis_auth
            .login("user1", "web")
            .await
            .unwrap()
            .token
            .into_string();
        let floor_token = "floor-token-0123456789".to_owned();
        let _: () = conn
            .set(format!("floor:{floor_token}"), "user1")
            .await
            .unwrap();
        // The same Redis behind a near cache of one second (see NearCache).
        let near_store = NearCache::new(
            RedisStore::connect(&server.url()).await.unwrap(),
            Duration::from_secs(1),
        );
        let near = kickout_routes().layer(AuthLayer::new(Auth::new(near_store)));
        (
            kickout_routes().layer(AuthLayer::new(memory_auth)),
            kickout_routes().layer(AuthLayer::new(redis_auth.clone())),
            floor_routes().layer(FloorLayer(conn)),
            [memory_token, floor_token, redis_token],
            redis_auth,
            near,
        )
    });
    let [memory_token, floor_token, redis_token] = &tokens;

    let mut group = c.benchmark_group("redis_per_request");
    group.bench_function("memory", |b| {
        b.to_async(&rt).iter(|| call(&memory, memory_token))
    });
    group.bench_function("floor_get", |b| {
        b.to_async(&rt).iter(|| call(&floor, floor_token))
    });
    group.bench_function("kickout_redis", |b| {
        b.to_async(&rt).iter(|| call(&redis, redis_token))
    });
    group.bench_function("kickout_redis_near_cache", |b| {
        b.to_async(&rt).iter(|| call(&near, redis_token))
    });
    group.finish();

    let mut group = c.benchmark_group("redis_64_concurrent");
    group.bench_function("memory", |b| {
        b.to_async(&rt).iter(|| call_64(&memory, memory_token))
    });
    group.bench_function("floor_get", |b| {
        b.to_async(&rt).iter(|| call_64(&floor, floor_token))
    });
    group.bench_function("kickout_redis", |b| {
        b.to_async(&rt).iter(|| call_64(&redis, redis_token))
    });
    group.bench_function("kickout_redis_near_cache", |b| {
        b.to_async(&rt).iter(|| call_64(&near, redis_token))
    });
    group.finish();

    let mut group = c.benchmark_group("redis_helpers");
    let mut i = 0u64;
    group.bench_function("login", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let auth = redis_auth.clone();
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
            let auth = redis_auth.clone();
            async move {
                let user = format!("user{}", i % 10_000);
                auth.login(&user, "web").await.unwrap();
                assert!(auth.kickout(&user).await.unwrap() >= 1);
            }
        })
    });
    group.finish();

    let refreshing = rt.block_on(async {
        Auth::builder(
            RedisStore::builder(&server.url())
                .prefix("refresh:")
                .connect()
                .await
                .unwrap(),
        )
        .ttl(Duration::from_secs(15 * 60))
        .refresh_tokens(Duration::from_secs(30 * 24 * 3600))
        .login_rule(LoginRule::one_per_device())
        .build()
    });
    refresh_group(c, &rt, "refresh_redis", refreshing);

    // Capacity: bytes per session in Redis, from MEMORY USAGE on real keys.
    rt.block_on(async {
        let auth = Auth::new(
            RedisStore::builder(&server.url())
                .prefix("cap:")
                .connect()
                .await
                .unwrap(),
        );
        for u in 0..100 {
            auth.login(&format!("capacity-user-{u:06}"), "web")
                .await
                .unwrap();
        }
    });
    report_usage(&server, "cap:", "session");
    // With a refresh token, refreshed often enough that the spent list is full.
    rt.block_on(async {
        let auth = Auth::builder(
            RedisStore::builder(&server.url())
                .prefix("rcap:")
                .connect()
                .await
                .unwrap(),
        )
        .refresh_tokens(Duration::from_secs(30 * 24 * 3600))
        .build();
        for u in 0..100 {
            let mut login = auth
                .login(&format!("capacity-user-{u:06}"), "web")
                .await
                .unwrap();
            for _ in 0..5 {
                let token = login.refresh.unwrap().token;
                login = auth.refresh(token.as_str()).await.unwrap();
            }
        }
    });
    report_usage(
        &server,
        "rcap:",
        "session with a refresh token (4 spent kept)",
    );
    drop(server);
}

/// Bytes per session record and per user index under `prefix`, from MEMORY USAGE.
fn report_usage(server: &support::RedisProcess, prefix: &str, what: &str) {
    let keys = server
        .cli(&["--scan", "--pattern", &format!("{prefix}*")])
        .unwrap_or_default();
    let (mut records, mut indexes, mut n_records) = (0u64, 0u64, 0u64);
    for key in keys.lines() {
        let bytes: u64 = server
            .cli(&["memory", "usage", key, "samples", "0"])
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(0);
        if key.contains("}:s:") {
            records += bytes;
            n_records += 1;
        } else if key.contains("}:u:") {
            indexes += bytes;
        }
    }
    if let (Some(per_record), Some(per_index)) = (
        records.checked_div(n_records),
        indexes.checked_div(n_records),
    ) {
        println!(
            "capacity: {per_record} bytes per {what} record + {per_index} bytes of user \
             index (MEMORY USAGE, {n_records} sessions)"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
