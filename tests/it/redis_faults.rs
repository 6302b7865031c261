//! What a revocation survives on real Redis: a Cluster slot migration in the middle of
//! a login, a kickout and a ban; a failover to a replica; node addresses gone silent.

#![cfg(feature = "redis")]

use std::collections::BTreeSet;
use std::time::Duration;

use kickout::store::RedisStore;
use kickout::{Auth, LoginRule, Mode, Reason};

use crate::suite::{self, Kind};
use crate::support::{self, Cluster, RedisProcess};

/// The user's slot, the node that holds it and another node.
fn slot_of(cluster: &Cluster, prefix: &str) -> (u16, usize, usize) {
    let pattern = format!("{prefix}*");
    let (source, key) = cluster
        .nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| {
            let keys = n.cli(&["keys", &pattern])?;
            // The user's keys, not the directory's tag set (a slot of its own).
            let key = keys
                .lines()
                .find(|k| !k.is_empty() && !k.ends_with("{dt}"))?;
            Some((i, key.to_owned()))
        })
        .expect("the user's keys");
    let slot = cluster.nodes[source]
        .cli(&["cluster", "keyslot", &key])
        .and_then(|s| s.trim().parse().ok())
        .expect("a slot");
    (slot, source, (source + 1) % cluster.nodes.len())
}

fn node_id(node: &RedisProcess) -> String {
    node.cli(&["cluster", "myid"]).unwrap().trim().to_owned()
}

/// Moves the keys of `prefix` for which `pick` holds from `from` to `to` (the slot is
/// migrating), one `MIGRATE` each.
fn migrate(
    from: &RedisProcess,
    to: &RedisProcess,
    prefix: &str,
    mut pick: impl FnMut(&str) -> bool,
) {
    let keys = from.cli(&["keys", &format!("{prefix}*")]).unwrap();
    // The directory's tag set lives in a slot of its own.
    let in_slot = |k: &&str| !k.is_empty() && !k.ends_with("{dt}");
    for key in keys.lines().filter(in_slot).filter(|k| pick(k)) {
        let port = to.port.to_string();
        let out = from
            .cli(&["migrate", "127.0.0.1", &port, key, "0", "5000"])
            .unwrap();
        assert!(out.trim() == "OK", "MIGRATE {key}: {out}");
    }
}

/// Whether the key is a user's session index or JWT state (moved first, so records and
/// the JWT index lag behind).
fn index_like(key: &str) -> bool {
    [":u:", ":j:", ":b:"].iter().any(|k| key.contains(k))
}

/// The session ids whose tokens work now.
async fn working<M: Mode<RedisStore>>(
    auth: &Auth<RedisStore, M>,
    tokens: &[String],
) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for t in tokens {
        if let Ok(me) = auth.authenticate(t).await {
            ids.insert(me.session_id().to_string());
        }
    }
    ids
}

async fn listed<M: Mode<RedisStore>>(auth: &Auth<RedisStore, M>, user: &str) -> BTreeSet<String> {
    let list = auth.sessions(user).await.expect("sessions after the move");
    list.iter().map(|s| s.info.session_id.to_string()).collect()
}

/// Waits until the client has learnt the new slot map (a script goes through).
async fn settled<M: Mode<RedisStore>>(auth: &Auth<RedisStore, M>, user: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Err(e) = auth.sessions(user).await {
        assert!(std::time::Instant::now() < deadline, "never settled: {e:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn slot_migration_case<K: Kind<RedisStore>>(cluster: &Cluster, case: &str) {
    let prefix = format!("move{case}:");
    let store = RedisStore::builder(&cluster.urls())
        .prefix(&prefix)
        .connect()
        .await
        .unwrap();
    // The wall clock: TTLs in Redis are real time.
    let auth = {
        let clock = kickout::clock::ManualClock::new(now_ms());
        K::builder(store, &clock)
            .login_rule(LoginRule::one_per_device())
            .build()
    };
    let user = "mover";
    let mut tokens = Vec::new();
    for device in ["d1", "d2", "d3"] {
        tokens.push(
            auth.login(user, device)
                .await
                .unwrap()
                .token
                .as_str()
                .to_owned(),
        );
    }
    let (d1, d2) = (tokens[0].clone(), tokens[1].clone());

    let (slot, source, target) = slot_of(cluster, &prefix);
    let (src, dst) = (&cluster.nodes[source], &cluster.nodes[target]);
    let slot_s = slot.to_string();
    assert!(
        dst.cli(&["cluster", "setslot", &slot_s, "importing", &node_id(src)])
            .is_some()
    );
    assert!(
        src.cli(&["cluster", "setslot", &slot_s, "migrating", &node_id(dst)])
            .is_some()
    );

    // Before any key moves, the source still serves the user whole.
    assert_eq!(auth.kickout_device(user, "d1").await.unwrap(), 1, "{case}");
    // The index moves first, the records lag behind.
    migrate(src, dst, &prefix, index_like);
    let kicked = auth.kickout_device(user, "d2").await;
    if let Ok(t) = auth.login(user, "d4").await {
        tokens.push(t.token.as_str().to_owned());
    }
    // Half the records follow; a ban in between.
    let mut half = false;
    migrate(src, dst, &prefix, |_| {
        half = !half;
        half
    });
    let banned = auth.ban(user, Duration::from_secs(600)).await;

    // The move completes.
    migrate(src, dst, &prefix, |_| true);
    let owner = node_id(dst);
    for node in std::iter::once(dst).chain(cluster.nodes.iter().filter(|n| n.port != dst.port)) {
        node.cli(&["cluster", "setslot", &slot_s, "node", &owner])
            .unwrap();
    }

    settled(&auth, user).await;

    // Whatever succeeded in the middle holds, and nothing is lost from the lists.
    assert_eq!(
        auth.authenticate(&d1).await.unwrap_err().reason(),
        Reason::KickedOut
    );
    if kicked.is_ok() {
        assert!(
            auth.authenticate(&d2).await.is_err(),
            "{case}: a kickout that succeeded mid-move holds ({kicked:?})"
        );
    }
    if banned.is_ok() {
        assert!(
            working(&auth, &tokens).await.is_empty(),
            "{case}: the ban holds"
        );
        assert!(
            auth.login(user, "d5").await.is_err(),
            "{case}: the ban holds"
        );
    }
    assert_eq!(
        listed(&auth, user).await,
        working(&auth, &tokens).await,
        "{case}: the listed sessions are the working ones (kickout: {kicked:?}, ban: {banned:?})"
    );

    // Once the slot is stable every operation works, and holds.
    if banned.is_err() {
        let before = working(&auth, &tokens).await.len();
        assert_eq!(
            auth.ban(user, Duration::from_secs(600)).await.unwrap(),
            before
        );
    }
    assert!(working(&auth, &tokens).await.is_empty());
    assert!(listed(&auth, user).await.is_empty());
    let err = auth.authenticate(&d2).await.unwrap_err();
    assert!(
        matches!(err.reason(), Reason::Banned | Reason::KickedOut),
        "{case}: {err:?}"
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migration_in_the_middle_loses_no_revocation() {
    let Some(cluster) = support::Cluster::start() else {
        return;
    };
    slot_migration_case::<suite::Session>(&cluster, "s").await;
    slot_migration_case::<suite::Jwt>(&cluster, "j").await;
}

/// A store on `primary` whose writes wait up to `wait` for one replica. The operation
/// timeout is generous: acknowledgements are slow on a loaded machine (CI runs tests in
/// parallel); a cut-off replica still makes the wait run out.
async fn waiting_store(primary: &RedisProcess, wait: Duration) -> RedisStore {
    RedisStore::builder(&primary.url())
        .timeout(Duration::from_secs(3))
        .wait_for_replicas(1, wait)
        .connect()
        .await
        .unwrap()
}

/// A write the replicas did not acknowledge in time: reported as not done.
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, kickout::Error>) {
    assert!(
        matches!(
            result,
            Err(kickout::Error::Store(
                kickout::store::StoreError::Unavailable(_)
            ))
        ),
        "{result:?}"
    );
}

async fn failover_case<K: Kind<RedisStore>>() {
    let mut primary = RedisProcess::start(&[]);
    let replica = primary.replica();
    let clock = kickout::clock::ManualClock::new(now_ms());
    let waiting = waiting_store(&primary, Duration::from_millis(2500)).await;
    let auth = K::builder(waiting, &clock).build();
    let plain = K::builder(RedisStore::connect(&primary.url()).await.unwrap(), &clock).build();
    let mut tokens = Vec::new();
    for user in ["a", "b", "c", "d"] {
        tokens.push(auth.login(user, "web").await.unwrap().token);
    }

    // The replica held back: the waiting store says the kickout is not safe yet.
    replica.detach();
    let held = auth.kickout("a").await;
    assert_unavailable(held);
    replica.attach(&primary);

    // The replica live: acknowledged, and it survives the primary.
    assert_eq!(auth.kickout("c").await.unwrap(), 1);
    // Without the option, a kickout the replica never saw is reported done...
    replica.detach();
    assert_eq!(plain.kickout("d").await.unwrap(), 1);
    primary.kill();
    replica.cli(&["replicaof", "no", "one"]).unwrap();

    let promoted = K::builder(RedisStore::connect(&replica.url()).await.unwrap(), &clock).build();
    let reason = |i: usize| {
        let promoted = promoted.clone();
        let token = tokens[i].as_str().to_owned();
        async move {
            promoted
                .authenticate(&token)
                .await
                .err()
                .map(|e| e.reason())
        }
    };
    assert_eq!(
        reason(0).await,
        Some(Reason::KickedOut),
        "caught up after the pause"
    );
    assert_eq!(reason(1).await, None);
    assert_eq!(
        reason(2).await,
        Some(Reason::KickedOut),
        "acknowledged by the replica"
    );
    // ...and comes back after the failover.
    assert_eq!(reason(3).await, None, "lost with the primary");
}

#[tokio::test]
async fn a_revocation_acknowledged_by_the_replicas_survives_a_failover() {
    if !support::redis_available() {
        return;
    }
    failover_case::<suite::Session>().await;
    failover_case::<suite::Jwt>().await;
}

/// A write that was done by an earlier run (a Cluster client sends a script again on
/// a new connection when the first lost its reply; here, a store that does not wait)
/// and whose own run finds its work done is not reported replicated until what the
/// first run wrote is: its `WAIT` covers the primary's writes before it, not only its
/// own. `waiting` and `plain` are one store's data; `replicas` all of its replicas.
async fn second_runs_wait_for_the_first<K: Kind<RedisStore>>(
    waiting: RedisStore,
    plain: RedisStore,
    replicas: &[&RedisProcess],
) {
    let clock = kickout::clock::ManualClock::new(now_ms());
    let auth = K::builder(waiting, &clock).build();
    let plain = K::builder(plain, &clock).build();
    // Their scripts loaded first: a frozen replica of a Cluster answers nothing.
    for by_id in [false, true] {
        let warm = auth.login("warm", "web").await.unwrap();
        assert!(plain.logout(warm.token.as_str()).await.unwrap());
        if by_id {
            auth.kickout_session(warm.session.session_id).await.unwrap();
        } else {
            auth.logout(warm.token.as_str()).await.unwrap();
        }
    }
    let login = auth.login("resent", "web").await.unwrap();
    let token = login.token;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Frozen, a replica stays connected and acknowledges nothing more.
    replicas.iter().for_each(|r| r.pause());
    assert!(plain.logout(token.as_str()).await.unwrap(), "the first run");
    let logout = auth.logout(token.as_str()).await;
    let by_id = auth.kickout_session(login.session.session_id).await;
    let kickout = auth.kickout("resent").await;
    replicas.iter().for_each(|r| r.resume());
    assert_unavailable(logout);
    assert_unavailable(by_id);
    assert_unavailable(kickout);
}

#[tokio::test]
async fn a_write_whose_first_run_is_not_replicated_waits_for_it() {
    if !support::redis_available() {
        return;
    }
    let primary = RedisProcess::start(&[]);
    let replica = primary.replica();
    for jwt in [false, true] {
        let waiting = waiting_store(&primary, Duration::from_millis(500)).await;
        let plain = RedisStore::connect(&primary.url()).await.unwrap();
        if jwt {
            second_runs_wait_for_the_first::<suite::Jwt>(waiting, plain, &[&replica]).await;
        } else {
            second_runs_wait_for_the_first::<suite::Session>(waiting, plain, &[&replica]).await;
        }
    }
}

/// The same on a Cluster, where the client itself sends a script again on a new
/// connection when the first lost its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_write_whose_first_run_is_not_replicated_waits_for_it() {
    let Some(cluster) = support::Cluster::start_with_replicas() else {
        return;
    };
    let replicas = cluster.replicas();
    assert_eq!(replicas.len(), 3);
    for prefix in ["s:", "j:"] {
        let store = |wait: bool| {
            let builder = RedisStore::builder(&cluster.urls()).prefix(prefix);
            let builder = if wait {
                builder
                    .timeout(Duration::from_secs(3))
                    .wait_for_replicas(1, Duration::from_millis(500))
            } else {
                builder
            };
            async move { builder.connect().await.unwrap() }
        };
        let (waiting, plain) = (store(true).await, store(false).await);
        if prefix == "j:" {
            second_runs_wait_for_the_first::<suite::Jwt>(waiting, plain, &replicas).await;
        } else {
            second_runs_wait_for_the_first::<suite::Session>(waiting, plain, &replicas).await;
        }
    }
}

#[tokio::test]
async fn waiting_for_replicas_needs_a_bounded_wait() {
    for wait in [Duration::ZERO, Duration::from_secs(5)] {
        let store = RedisStore::builder("redis://127.0.0.1:1")
            .wait_for_replicas(1, wait)
            .connect()
            .await;
        assert!(
            matches!(store, Err(kickout::store::StoreError::Misconfigured(_))),
            "{wait:?}"
        );
    }
}

/// A refresh the primary committed is answered even when the replicas lag: its token is
/// spent, so a 503 would send the client back with it, and that retry would end the
/// session as a reuse. A revocation still waits (503).
async fn lagging_replicas_case<K: Kind<RedisStore>>() {
    let primary = RedisProcess::start(&[]);
    let replica = primary.replica();
    let clock = kickout::clock::ManualClock::new(now_ms());
    let waiting = waiting_store(&primary, Duration::from_millis(1000)).await;
    let auth = K::builder(waiting, &clock)
        .refresh_tokens(Duration::from_secs(3600))
        .build();
    let login = auth.login("u", "web").await.unwrap();
    replica.detach();
    let pair = auth
        .refresh(login.refresh.unwrap().token.as_str())
        .await
        .expect("a committed rotation is answered");
    assert!(auth.authenticate(pair.token.as_str()).await.is_ok());
    auth.refresh(pair.refresh.unwrap().token.as_str())
        .await
        .expect("the session goes on");
    let held = auth.kickout("u").await;
    assert_unavailable(held);
}

#[tokio::test]
async fn a_refresh_is_answered_when_the_replicas_lag() {
    if !support::redis_available() {
        return;
    }
    lagging_replicas_case::<suite::Session>().await;
    lagging_replicas_case::<suite::Jwt>().await;
}

/// A Cluster whose node addresses go silent (no reset, as failed-over hosts): the
/// store's cluster connection, which does not reconnect on a timeout, is replaced, and
/// the store answers again after a timeout or two. The nodes announce proxies in front
/// of them (their bus stays direct), so the test can silence what the client holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_connection_that_timed_out_is_replaced() {
    let Some(cluster) = support::Cluster::start() else {
        return;
    };
    let proxies = announced_through_proxies(&cluster).await;
    let urls: Vec<String> = proxies.iter().map(support::SlowProxy::url).collect();
    let store = RedisStore::builder(&urls.join(","))
        .timeout(Duration::from_millis(1_000))
        .connect()
        .await
        .unwrap();
    let silence = || {
        proxies
            .iter()
            .for_each(support::SlowProxy::silence_existing)
    };
    crate::redis_store::answers_again_after(store, silence, 5).await;
}

/// The Cluster's nodes announce a proxy in front of each (their bus stays direct), so a
/// test can fault what the client holds.
async fn announced_through_proxies(cluster: &Cluster) -> Vec<support::SlowProxy> {
    let mut proxies = Vec::new();
    for node in &cluster.nodes {
        let proxy = support::SlowProxy::start(node.port).await;
        let (port, bus) = (proxy.port.to_string(), (node.port + 10_000).to_string());
        for (name, value) in [
            ("cluster-announce-bus-port", &bus),
            ("cluster-announce-port", &port),
        ] {
            let set = node.cli(&["config", "set", name, value]).unwrap();
            assert_eq!(set.trim(), "OK", "{name}");
        }
        proxies.push(proxy);
    }
    // Every node sees every other's announced address.
    let announced = |n: &RedisProcess| {
        let slots = n.cli(&["cluster", "slots"]).unwrap_or_default();
        proxies.iter().all(|p| slots.contains(&p.port.to_string()))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cluster.nodes.iter().all(announced) {
        assert!(
            std::time::Instant::now() < deadline,
            "addresses not announced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxies
}

/// The Cluster client re-sends a command whose connection dropped before its reply: a
/// login or a refresh that ran may run again. The second run is the same call, not a
/// collision nor the reuse of a spent token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_cluster_client_sends_twice_is_done_once() {
    let Some(cluster) = support::Cluster::start() else {
        return;
    };
    let proxies = announced_through_proxies(&cluster).await;
    let urls: Vec<String> = proxies.iter().map(support::SlowProxy::url).collect();
    resent_writes_case::<suite::Session>(&urls, &proxies, "session:").await;
    resent_writes_case::<suite::Jwt>(&urls, &proxies, "jwt:").await;
}

async fn resent_writes_case<K: Kind<RedisStore>>(
    urls: &[String],
    proxies: &[support::SlowProxy],
    prefix: &str,
) {
    let store = RedisStore::builder(&urls.join(","))
        .prefix(prefix)
        .connect()
        .await
        .unwrap();
    let clock = kickout::clock::ManualClock::new(now_ms());
    let auth = K::builder(store, &clock)
        .refresh_tokens(Duration::from_secs(3600))
        .build();
    // Its scripts loaded first, so the run doubled is one that wrote.
    let warm = auth.login("resent-warm", "web").await.unwrap();
    auth.refresh(warm.refresh.unwrap().token.as_str())
        .await
        .unwrap();
    let user = "resent-user";
    let before: u64 = proxies.iter().map(support::SlowProxy::doubled).sum();
    let doubled = || proxies.iter().map(support::SlowProxy::doubled).sum::<u64>() - before;
    let doubling = |on: bool| {
        for proxy in proxies {
            if on {
                proxy.double_next_write(user);
            } else {
                proxy.double_none();
            }
        }
    };

    doubling(true);
    let login = auth.login(user, "web").await;
    doubling(false);
    let login = login.expect("the login ran once");
    assert_eq!(doubled(), 1, "the login ran twice");
    assert!(auth.authenticate(login.token.as_str()).await.is_ok());
    assert_eq!(auth.sessions(user).await.unwrap().len(), 1);

    clock.advance(Duration::from_secs(1));
    doubling(true);
    let pair = auth.refresh(login.refresh.unwrap().token.as_str()).await;
    doubling(false);
    let pair = pair.expect("the refresh ran once, not as a spent token again");
    assert_eq!(doubled(), 2, "the refresh ran twice");
    assert!(auth.authenticate(pair.token.as_str()).await.is_ok());
    let spent = pair.refresh.unwrap().token;
    let next = auth
        .refresh(spent.as_str())
        .await
        .expect("the session goes on");
    assert_eq!(auth.sessions(user).await.unwrap().len(), 1);

    // A reuse run twice: the second run answers as the first did, so this handle
    // reports the theft (its event), not a presentation to a session already ended.
    let mut events = auth.events();
    clock.advance(Duration::from_secs(1));
    doubling(true);
    let reused = auth.refresh(spent.as_str()).await;
    doubling(false);
    assert_eq!(doubled(), 3, "the reuse ran twice");
    let reason = reused.err().and_then(|e| e.rejection().map(|r| r.reason()));
    assert_eq!(reason, Some(Reason::RefreshReused));
    let mut reported = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let kickout::events::EventKind::RefreshReused { session } = event.kind {
            reported.push(session.session_id);
        }
    }
    assert_eq!(
        reported,
        vec![login.session.session_id],
        "the reuse's event"
    );
    let refused = auth.authenticate(next.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::RefreshReused);
}
