//! What the benches of the memory store and of Redis share.

use criterion::Criterion;
use kickout::Auth;

/// Login and refresh on one refresh-token handle, in one group: refresh walks 1,000
/// sessions, each step spending the session's current refresh token.
pub fn refresh_group<S: kickout::store::SessionStore>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    auth: Auth<S>,
) {
    let chains: Vec<String> = rt.block_on(async {
        let mut chains = Vec::new();
        for u in 0..1000 {
            let login = auth.login(&format!("chain{u}"), "phone").await.unwrap();
            chains.push(login.refresh.unwrap().token.into_string());
        }
        chains
    });
    let chains = std::sync::Arc::new(std::sync::Mutex::new(chains));
    let mut group = c.benchmark_group(name);
    let mut i = 0u64;
    group.bench_function("login", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let auth = auth.clone();
            async move {
                auth.login(&format!("user{}", i % 10_000), "web")
                    .await
                    .unwrap();
            }
        })
    });
    group.bench_function("refresh", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (auth, chains) = (auth.clone(), chains.clone());
            async move {
                let at = usize::try_from(i % 1000).unwrap();
                let token = chains.lock().unwrap()[at].clone();
                let next = auth.refresh(&token).await.unwrap();
                chains.lock().unwrap()[at] = next.refresh.unwrap().token.into_string();
            }
        })
    });
    group.finish();
}
