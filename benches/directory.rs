//! The directory's cost per page: one page of 100 sessions at 10,000 and at 100,000 live
//! sessions, on the memory store, on a real PostgreSQL and on a real `redis-server`
//! (started by the bench), in one run. The two sizes should cost about the same: a page
//! reads what it lists, not the whole directory. Also prints the Redis memory the directory costs per session.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kickout::store::{MemoryStore, RedisStore, SessionStore};
use kickout::{Auth, LoginRule};

const SIZES: [usize; 2] = [10_000, 100_000];

/// `n` live sessions of `n / 2` users, logged in 64 at a time.
async fn fill<S: SessionStore>(auth: &Auth<S>, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let logins = chunk.iter().map(|i| {
            let auth = auth.clone();
            async move {
                let device = if i % 2 == 0 { "web" } else { "phone" };
                auth.login(&format!("user{}", i / 2), device).await.unwrap();
            }
        });
        futures::future::join_all(logins).await;
    }
}

/// A page of 100 from a cursor in the middle of the walk, by the page's own cursor.
fn pages<S: SessionStore>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    make: impl Fn() -> S,
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(30);
    for n in SIZES {
        let auth = Auth::builder(make())
            .login_rule(LoginRule::unlimited())
            .ttl(Duration::from_secs(3600))
            .build();
        rt.block_on(fill(&auth, n));
        // Start somewhere in the middle, then walk on page by page.
        let start = rt.block_on(async {
            let mut cursor = None;
            for _ in 0..3 {
                let page = auth.online(cursor.as_deref(), 1000, None).await.unwrap();
                cursor = page.next.map(|c| c.to_string());
            }
            cursor
        });
        // The cursor of each page is the next one's start.
        let cursor = std::sync::Arc::new(std::sync::Mutex::new(start.clone()));
        group.bench_function(format!("page_of_100_at_{n}"), |b| {
            b.to_async(rt).iter(|| {
                let (auth, cursor, start) = (auth.clone(), cursor.clone(), start.clone());
                async move {
                    let at = cursor.lock().unwrap().take().or(start);
                    let page = auth.online(at.as_deref(), 100, None).await.unwrap();
                    assert!(page.sessions.len() <= 100);
                    *cursor.lock().unwrap() = page.next.map(|c| c.to_string());
                }
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    pages(c, &rt, "directory_memory", MemoryStore::new);
    #[cfg(feature = "postgres")]
    if support::postgres::available() {
        let server = support::postgres::PgServer::start();
        let (url, schema) = (server.url(), std::sync::atomic::AtomicUsize::new(0));
        pages(c, &rt, "directory_postgres", || {
            let n = schema.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Filling 100,000 sessions 64 logins at a time queues for connections.
            let store = kickout::store::PostgresStore::builder(&url)
                .schema(&format!("d{n}"))
                .timeout(Duration::from_secs(30))
                .connect();
            rt.block_on(store).unwrap()
        });
    }
    if !support::redis_available() {
        return;
    }
    let server = support::RedisProcess::start(&[]);
    let url = server.url();
    let prefix = std::sync::atomic::AtomicUsize::new(0);
    pages(c, &rt, "directory_redis", || {
        let p = prefix.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(RedisStore::builder(&url).prefix(format!("d{p}:")).connect())
            .unwrap()
    });
    // The directory's memory: the per-tag sets of the 100,000-session run.
    let keys = server
        .cli(&["--scan", "--pattern", "d1:*}:d"])
        .unwrap_or_default();
    let (mut bytes, mut members) = (0u64, 0u64);
    for key in keys.lines() {
        bytes += server
            .cli(&["memory", "usage", key, "samples", "0"])
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(0);
        members += server
            .cli(&["zcard", key])
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(0);
    }
    let tags: u64 = server
        .cli(&["memory", "usage", "d1:{dt}", "samples", "0"])
        .and_then(|o| o.trim().parse().ok())
        .unwrap_or(0);
    if let Some(per) = bytes.checked_div(members) {
        println!(
            "directory: {per} bytes per session ({members} sessions in {} tag sets), tag set {tags} bytes",
            keys.lines().count()
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
