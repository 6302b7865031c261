//! The conformance suite on a real PostgreSQL server (started by the tests: `initdb`
//! into a temporary directory, a free loopback port), in both modes, plain and through
//! a `NearCache`; and what only this store promises: several instances agree through
//! `LISTEN`/`NOTIFY`, the tables stay bounded, an outage answers 503, a kickout that
//! answered survives `kill -9` of the server.

#![cfg(feature = "postgres")]

use crate::suite;
use crate::support::postgres as pg;

use suite::run_suite;

mod session_mode {
    use super::*;

    suite::all_cases!(run_suite!(pg::store().await, suite::Session));
}

mod jwt_mode {
    use super::*;

    suite::all_cases!(run_suite!(pg::store().await, suite::Jwt));
}

/// A near cache over PostgreSQL: the suite again, through the cache.
async fn near() -> Option<((), kickout::store::NearCache<kickout::store::PostgresStore>)> {
    let ((), store) = pg::store().await?;
    let near = kickout::store::NearCache::new(store, std::time::Duration::from_secs(1));
    Some(((), near))
}

mod near_cache {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Session));
}

mod near_cache_jwt {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Jwt));
}

/// Several instances of one application on one database, as production runs them.
mod shared {
    use kickout::store::PostgresStore;
    use kickout::{Auth, LoginRule};

    use super::pg;
    use crate::suite;

    async fn two_instances() -> Option<(Auth<PostgresStore>, Auth<PostgresStore>)> {
        let (a, b) = pg::two_stores().await?;
        let build = |store| {
            Auth::builder(store)
                .login_rule(LoginRule::one_per_device())
                .build()
        };
        Some((build(a), build(b)))
    }

    #[tokio::test]
    async fn a_renewal_elsewhere_outlives_a_cached_end() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_renewal_elsewhere_outlives_a_cached_end(store).await;
    }

    #[tokio::test]
    async fn a_replacing_login_announces_a_change_only_with_a_bump() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_replacing_login_announces_a_change_only_with_a_bump(store).await;
    }

    #[tokio::test]
    async fn a_bump_that_lists_nothing_still_empties_other_caches() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_bump_that_lists_nothing_still_empties_other_caches(store).await;
    }

    #[tokio::test]
    async fn an_end_over_for_its_writer_reaches_other_caches() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::an_end_over_for_its_writer_reaches_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_reuse_over_for_its_writer_reaches_other_caches() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_reuse_over_for_its_writer_reaches_other_caches::<_, suite::Session>(store.clone())
            .await;
        suite::a_reuse_over_for_its_writer_reaches_other_caches::<_, suite::Jwt>(store).await;
    }

    #[tokio::test]
    async fn a_lift_over_for_its_writer_reaches_other_caches() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_lift_over_for_its_writer_reaches_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_refresh_is_announced_to_other_caches() {
        let Some(((), store)) = pg::store().await else {
            return;
        };
        suite::a_refresh_is_announced_to_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_revocation_on_one_instance_holds_on_the_other_at_once() {
        let Some((a, b)) = two_instances().await else {
            return;
        };
        suite::revocations_hold_across_instances(&a, &b).await;
    }

    /// Logins racing on two instances: the user's row lock orders them, so a
    /// one-per-device rule leaves one session, and concurrent logins of many devices
    /// are all kept and listed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_logins_obey_the_rule_and_are_all_listed() {
        let Some((a, b)) = two_instances().await else {
            return;
        };
        let (app_a, app_b) = (suite::app(&a), suite::app(&b));
        for round in 0..8 {
            let user = format!("race{round}");
            let (x, y) = tokio::join!(a.login(&user, "web"), b.login(&user, "web"));
            let (x, y) = (x.unwrap().token, y.unwrap().token);
            assert_eq!(a.sessions(&user).await.unwrap().len(), 1, "round {round}");
            let passed = [
                suite::me(&app_a, x.as_str()).await.is_ok(),
                suite::me(&app_b, y.as_str()).await.is_ok(),
            ];
            assert_eq!(passed.iter().filter(|p| **p).count(), 1, "round {round}");
        }
        let logins = (0..16).map(|d| {
            let auth = if d % 2 == 0 { a.clone() } else { b.clone() };
            async move { auth.login("many", &format!("d{d}")).await.unwrap() }
        });
        let tokens = futures::future::join_all(logins).await;
        assert_eq!(b.sessions("many").await.unwrap().len(), 16);
        for t in &tokens {
            assert!(suite::me(&app_a, t.token.as_str()).await.is_ok());
        }
    }
}

/// Nothing grows without a bound, and no cron is needed: every write removes a bounded
/// batch of what is past its time, so a large population that expired leaves the tables
/// as ordinary logins go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_population_leaves_the_tables_as_writes_go_on() {
    use suite::Kind;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let store = pg::store_on(&url, &schema).await;
    let clock = suite::clock();
    let session = <suite::Session as Kind<_>>::builder(store.clone(), &clock)
        .ttl(suite::secs(60))
        .refresh_tokens(suite::secs(120))
        .build();
    let jwt = <suite::Jwt as Kind<_>>::builder(store, &clock)
        .ttl(suite::secs(60))
        .refresh_tokens(suite::secs(120))
        .build();
    const POPULATION: usize = 600;
    for u in 0..POPULATION {
        session.login(&format!("s{u}"), "web").await.unwrap();
        jwt.login(&format!("j{u}"), "web").await.unwrap();
    }
    let sql = pg::client(&url).await;
    let count = |table: &'static str| {
        let (sql, schema) = (&sql, &schema);
        async move {
            let q = format!("SELECT count(*) FROM \"{schema}\".{table}");
            sql.query_one(&q, &[]).await.unwrap().get::<_, i64>(0)
        }
    };
    assert!(count("sessions").await >= POPULATION as i64);
    assert!(count("jwt_tokens").await >= POPULATION as i64);
    assert!(count("jwt_refresh").await >= POPULATION as i64);
    // A day later everything above is over, retention and grace included.
    clock.advance(suite::secs(86_400));
    // Each write takes up to PURGE_BATCH rows per table: this many writes clear them.
    let writes = POPULATION / kickout::limits::PURGE_BATCH + 8;
    for u in 0..writes {
        session.login(&format!("later{u}"), "web").await.unwrap();
    }
    // The purges run in the background, one at a time: the last ones may still run.
    let settled = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for table in ["sessions", "jwt_tokens", "jwt_refresh"] {
        while count(table).await > writes as i64 && std::time::Instant::now() < settled {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            count(table).await <= writes as i64,
            "{table}: {} rows left",
            count(table).await
        );
    }
    // The users' rows went too (the later logins' own rows stay until their next write).
    assert!(count("users").await <= 2 * writes as i64);
}

/// One account logging in without end, with kickouts between: its ended rows stay at
/// `MAX_ENDED` (day-long sessions: nothing is due for the purge to take), and what an
/// end looks for among them reads the user's tombstones only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_logging_in_without_end_stays_bounded() {
    use kickout::limits::MAX_ENDED;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let store = pg::store_on(&url, &schema).await;
    let clock = suite::clock();
    let auth = suite::session_builder(store, &clock)
        .ttl(suite::secs(86_400))
        .login_rule(kickout::LoginRule::one_per_device())
        .build();
    let sql = pg::client(&url).await;
    let rows = async || {
        let q = format!(
            "SELECT count(*), count(*) FILTER (WHERE live_until = 0) FROM \"{schema}\".sessions"
        );
        let row = sql.query_one(&q, &[]).await.unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    for i in 0..MAX_ENDED + 300 {
        auth.login("10001", "web").await.unwrap();
        if i % 100 == 0 {
            auth.kickout("10001").await.unwrap();
        }
        clock.advance(std::time::Duration::from_millis(10));
    }
    let (all, ended) = rows().await;
    assert_eq!(ended, MAX_ENDED as i64);
    assert_eq!(all, MAX_ENDED as i64 + 1);
    // What an end asks (its `bury_sessions`), planned on a table of many users with
    // its statistics: it reads the user's tombstones, not every row by purge time.
    let plan = plan_among_others(
        &sql,
        &schema,
        "sessions",
        "id, user_id, class, live_until, purge_at, state",
        "SELECT id FROM {t} WHERE user_id = '10001' AND live_until = 0 AND purge_at > 0 \
         ORDER BY purge_at DESC, id DESC OFFSET 1024",
    )
    .await;
    assert!(plan.contains("sessions_ended"), "{plan}");
}

/// JWT mode's twin: what a login asks of its user's refresh records (its
/// `bury_jwt_refresh`) reads that user's, in order, from their index, with statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_login_reads_its_users_refresh_records_by_their_index() {
    use suite::Kind;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let store = pg::store_on(&url, &schema).await;
    let clock = suite::clock();
    let auth = suite::Jwt::builder(store, &clock)
        .refresh_tokens(suite::secs(86_400))
        .build();
    for i in 0..300 {
        auth.login(&format!("{}", 10_000 + i % 3), "web")
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_millis(10));
    }
    let sql = pg::client(&url).await;
    let plan = plan_among_others(
        &sql,
        &schema,
        "jwt_refresh",
        "jti, user_id, purge_at, state",
        "SELECT jti FROM {t} WHERE user_id = '10001' AND purge_at > 0 \
         AND jti <> ALL('{}'::text[]) ORDER BY purge_at DESC, jti DESC OFFSET 10",
    )
    .await;
    assert!(plan.contains("jwt_refresh_user"), "{plan}");
}

/// The plan of `query` (`{t}` the table) once `table` also holds 100,000 rows of
/// 10,000 other users (half of them ended) and is analyzed, as autovacuum would: a
/// table of one user's rows makes any scan as good as reading that user's. `cols`:
/// the columns the rows fill, in order (id or jti, user, then the table's own).
async fn plan_among_others(
    sql: &tokio_postgres::Client,
    schema: &str,
    table: &str,
    cols: &str,
    query: &str,
) -> String {
    let t = format!("\"{schema}\".{table}");
    let values = if table == "sessions" {
        "decode(md5(g::text), 'hex'), 'other' || g % 10000, 'web', \
         CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END, g, 'x'"
    } else {
        "md5(g::text), 'other' || g % 10000, g, 'x'"
    };
    let explain = format!(
        "INSERT INTO {t} ({cols}) SELECT {values} FROM generate_series(1, 100000) AS g; \
         ANALYZE {t}; EXPLAIN (COSTS OFF) {}",
        query.replace("{t}", &t)
    );
    plan_of(sql, &explain).await
}

/// The plan PostgreSQL prints for `explain` (settings, then an `EXPLAIN`), one line
/// per row.
async fn plan_of(sql: &tokio_postgres::Client, explain: &str) -> String {
    sql.simple_query(explain)
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|l| format!("{l}\n")),
            _ => None,
        })
        .collect()
}

/// A store in a fresh schema of the shared server with `pool_size` connections and
/// `timeout`: (its schema, the store).
async fn bounded_store(
    url: &str,
    pool_size: usize,
    timeout: std::time::Duration,
) -> (String, kickout::store::PostgresStore) {
    let schema = pg::fresh_schema();
    let store = kickout::store::PostgresStore::builder(url)
        .schema(&schema)
        .pool_size(pool_size)
        .timeout(timeout)
        .connect()
        .await
        .unwrap();
    (schema, store)
}

/// After a failover that leaves the old primary's address silent (no reset), the pool's
/// connections still look open. One that timed out is dropped, not pooled again, so
/// the store is back after at most one timeout per pooled connection (before, every
/// request went on failing on them until the kernel gave up, minutes later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_timed_out_is_not_pooled_again() {
    use std::time::Duration;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let at = url.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
    let upstream: u16 = url[at..].split('/').next().unwrap().parse().unwrap();
    let proxy = crate::support::SlowProxy::start(upstream).await;
    let proxied = url.replacen(&format!(":{upstream}/"), &format!(":{}/", proxy.port), 1);
    let (_, store) = bounded_store(&proxied, 2, Duration::from_millis(500)).await;
    let auth = kickout::Auth::new(store);
    let token = auth.login("p1", "web").await.unwrap().token;
    // Both pooled connections opened, and idle (the login's purge done).
    let (a, b) = tokio::join!(
        auth.authenticate(token.as_str()),
        auth.authenticate(token.as_str())
    );
    assert!(a.is_ok() && b.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.silence_existing();
    let mut refused = 0;
    while let Err(refusal) = auth.authenticate(token.as_str()).await {
        assert_eq!(refusal.reason(), kickout::Reason::StoreUnavailable);
        refused += 1;
        assert!(refused <= 3, "still refused after {refused} timeouts");
    }
}

/// A login reads the user's live sessions, not the tombstones their earlier logins left
/// within the retention: a user who signs in again and again would otherwise make each
/// login, and each listing of their sessions, read more rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_users_live_sessions_reads_no_tombstone() {
    use std::time::Duration;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let (schema, store) = bounded_store(&url, 2, Duration::from_secs(5)).await;
    let auth = kickout::Auth::builder(store)
        .login_rule(kickout::LoginRule::one_per_device())
        .build();
    // 200 sessions, each replacing the last: 199 tombstones and one live session.
    for _ in 0..200 {
        auth.login("often", "web").await.unwrap();
    }
    assert_eq!(auth.sessions("often").await.unwrap().len(), 1);
    // What the store asks (its `user_sessions`), planned as on a table too large to scan.
    let sql = pg::client(&url).await;
    let explain = format!(
        "SET enable_seqscan = off; SET enable_bitmapscan = off; \
         EXPLAIN (ANALYZE, COSTS OFF) SELECT id, state, meta FROM \"{schema}\".sessions \
         WHERE user_id = 'often' AND live_until > 0 ORDER BY seq"
    );
    let plan = plan_of(&sql, &explain).await;
    assert!(plan.contains("Index Scan"), "{plan}");
    assert!(!plan.contains("Rows Removed by Filter"), "{plan}");
}

/// The listener reads notifications while its keepalive query waits for its answer.
/// Before, it did not: more notifications than its queue holds, arriving while the
/// query was under way, stopped the connection's reader behind the full queue, the
/// query timed out and the feed was taken for lost (every near cache emptied, every
/// watch re-checked, a warning) — on a busy store, every few keepalives.
#[test]
fn a_flood_of_notifications_does_not_stall_the_feed() {
    use std::time::{Duration, Instant};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ((), log) = runtime.block_on(crate::support::logged(async {
        // A keepalive answered behind a flood takes a while on a loaded machine: 5 s.
        let (schema, store) = bounded_store(&url, 2, Duration::from_secs(5)).await;
        let sql = pg::client(&url).await;
        // Floods of 20,000 generation bumps (distinct: one commit sends each once), the
        // next as soon as the feed has read the last: the listener is reading floods
        // nearly all the time, never far behind. Two keepalive queries (every 5 s)
        // meet them.
        use kickout::store::Store;
        let mut heard = store.revocations().unwrap();
        let flood = format!(
            "SELECT pg_notify('{schema}_revoked', 'g|' || to_hex(i)) \
             FROM generate_series(1, 20000) AS i"
        );
        let until = Instant::now() + Duration::from_secs(11);
        while Instant::now() < until {
            sql.batch_execute(&flood).await.unwrap();
            let mut count = 0;
            while count < 20_000 {
                let next = tokio::time::timeout(Duration::from_secs(15), heard.recv()).await;
                count += match next.expect("the feed stalled") {
                    Ok(_) => 1,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => n,
                    Err(closed) => panic!("{closed}"),
                };
            }
        }
        drop(store);
    }));
    assert!(!log.contains("revocation feed lost"), "{log}");
}

/// A notification on the revocation channel that the feed cannot read (a newer
/// version's reason, a damaged one) may have ended sessions: a near cache reads
/// everything again rather than go on serving what it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_revocation_message_empties_the_near_cache() {
    use std::time::{Duration, Instant};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let (schema, store) = bounded_store(&url, 2, Duration::from_secs(5)).await;
    let auth = kickout::Auth::new(kickout::store::NearCache::new(
        store,
        Duration::from_secs(60),
    ));
    let login = auth.login("f1", "web").await.unwrap();
    // The first request makes the cache follow the feed; the next ones are cached.
    for _ in 0..3 {
        auth.authenticate(login.token.as_str()).await.unwrap();
    }
    // Gone from the table without a notification (as a newer instance might end it).
    let sql = pg::client(&url).await;
    sql.batch_execute(&format!("DELETE FROM \"{schema}\".sessions"))
        .await
        .unwrap();
    assert!(
        auth.authenticate(login.token.as_str()).await.is_ok(),
        "served from the near cache"
    );
    let id = login.session.session_id;
    sql.batch_execute(&format!("NOTIFY \"{schema}_revoked\", 's|q|{id}'"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while auth.authenticate(login.token.as_str()).await.is_ok() {
        assert!(Instant::now() < deadline, "still served after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The incident switch does what it can: a user whose kickout fails (their row held
/// past the timeout) stops no one else's; it answers the error, and a second call
/// completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kickout_that_fails_stops_no_other_in_the_incident_switch() {
    use kickout::Reason;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let (schema, store) = bounded_store(&url, 2, std::time::Duration::from_millis(400)).await;
    let auth = kickout::Auth::new(store);
    let mut tokens = Vec::new();
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        tokens.push((user, auth.login(user, "web").await.unwrap().token));
    }
    let other = holding_the_row_of(&url, &schema, "u3").await;
    let refused = auth.kickout_all().await.unwrap_err();
    assert!(matches!(refused, kickout::Error::Store(_)), "{refused}");
    for (user, token) in &tokens {
        let read = auth.authenticate(token.as_str()).await;
        if *user == "u3" {
            assert!(read.is_ok(), "{user}");
        } else {
            assert_eq!(read.unwrap_err().reason(), Reason::KickedOut, "{user}");
        }
    }
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(auth.kickout_all().await.unwrap(), 1);
    let (_, held) = &tokens[2];
    let read = auth.authenticate(held.as_str()).await;
    assert_eq!(read.unwrap_err().reason(), Reason::KickedOut);
}

/// A ban whose time does not read (negative: no writer of ours) is corrupt, not "no
/// ban": logins of its user are refused (503), and the listing of bans says so.
async fn a_ban_time_that_does_not_read_lets_no_one_in<
    K: suite::Kind<kickout::store::PostgresStore>,
>() {
    use kickout::store::Store;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let store = pg::store_on(&url, &schema).await;
    let auth = K::builder(store.clone(), &suite::clock()).build();
    auth.ban("10001", std::time::Duration::from_secs(600))
        .await
        .unwrap();
    pg::client(&url)
        .await
        .batch_execute(&format!(
            "UPDATE \"{schema}\".users SET ban_until = -1 WHERE user_id = '10001'"
        ))
        .await
        .unwrap();
    match auth.login("10001", "web").await {
        Err(kickout::Error::Store(_)) => {}
        Ok(_) => panic!("a banned user signed in"),
        Err(e) => panic!("{e:?}"),
    }
    assert!(store.banned_until("10001", suite::T0).await.is_err());
}

#[tokio::test]
async fn a_ban_time_that_does_not_read_lets_no_one_in_session_mode() {
    a_ban_time_that_does_not_read_lets_no_one_in::<suite::Session>().await;
}

#[tokio::test]
async fn a_ban_time_that_does_not_read_lets_no_one_in_jwt_mode() {
    a_ban_time_that_does_not_read_lets_no_one_in::<suite::Jwt>().await;
}

/// Another client, holding `user_id`'s row in an open transaction (creating it if a
/// purge took it: a session-mode user's row may go between writes) until `ROLLBACK`.
async fn holding_the_row_of(url: &str, schema: &str, user_id: &str) -> tokio_postgres::Client {
    let other = pg::client(url).await;
    let hold = format!(
        "BEGIN; INSERT INTO \"{schema}\".users (user_id) VALUES ('{user_id}') \
         ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id"
    );
    other.batch_execute(&hold).await.unwrap();
    other
}

/// The server bounds the store's statements at the store's timeout (`lock_timeout`
/// and `statement_timeout` on each connection): a write that meets a user's row held by
/// someone else fails within the timeout, and the server stops waiting too — the
/// statement does not linger holding a connection or queueing for the lock — so the
/// one connection of the pool serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_past_the_timeout_fails_the_write_and_the_server_stops_waiting() {
    use std::time::{Duration, Instant};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let (schema, store) = bounded_store(&url, 1, Duration::from_millis(400)).await;
    let auth = kickout::Auth::new(store);
    auth.login("held", "web").await.unwrap();
    let other = holding_the_row_of(&url, &schema, "held").await;
    let started = Instant::now();
    let refused = auth.kickout("held").await.unwrap_err();
    assert!(matches!(refused, kickout::Error::Store(_)), "{refused}");
    // Not a fast failure of another kind: the write waited for the lock, then gave up.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "{waited:?}: {refused}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // While the lock is still held, no statement of ours waits for it on the server.
    // Only this test's statements: they name its schema, quoted (`strpos`, not `LIKE`:
    // `_` would match any character, and `t1_1` is a prefix of `t1_10`).
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND strpos(query, '\"{schema}\".') > 0 AND pid <> pg_backend_pid()"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let n: i64 = other.query_one(&waiting, &[]).await.unwrap().get(0);
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} statements still wait for the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The pool's one connection serves a read of another user meanwhile, and the
    // write once the lock is gone.
    assert!(auth.sessions("someone-else").await.unwrap().is_empty());
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(auth.kickout("held").await.unwrap(), 1);
}

/// A request's calls share one bound: a read that waited most of the timeout leaves a
/// due renewal only the rest, so the request answers within the timeout, not twice it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_and_its_renewal_share_one_timeout() {
    use std::time::{Duration, Instant};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let (schema, store) = bounded_store(&url, 2, Duration::from_millis(800)).await;
    let clock = kickout::clock::ManualClock::starting_now();
    let auth = kickout::Auth::builder(store)
        .clock(clock.clone())
        .idle_timeout(Duration::from_secs(600))
        .build();
    let token = auth.login("held", "web").await.unwrap().token;
    // The next request renews the idle deadline.
    clock.advance(Duration::from_secs(120));
    // The renewal waits for the user's row, held here; the read, for the sessions
    // table, locked for 500 ms.
    let row = holding_the_row_of(&url, &schema, "held").await;
    let table = pg::client(&url).await;
    table
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{schema}\".sessions IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        table.batch_execute("COMMIT").await.unwrap();
    });
    let started = Instant::now();
    let refused = auth.authenticate(token.as_str()).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(refused.reason(), kickout::Reason::StoreUnavailable);
    // The read took 500 ms, the renewal the 300 left: not 500 + 800.
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(waited < Duration::from_millis(1_100), "{waited:?}");
    release.await.unwrap();
    row.batch_execute("ROLLBACK").await.unwrap();
    assert!(auth.authenticate(token.as_str()).await.is_ok());
}

/// What an operator gets wrong is said at connect, and no message or `Debug` output
/// carries the password.
#[tokio::test]
async fn configuration_errors_are_said_at_connect_without_the_password() {
    use kickout::store::{PostgresStore, StoreError};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let secret_free = |e: &StoreError, secret: &str| {
        let (shown, debug) = (e.to_string(), format!("{e:?}"));
        assert!(
            !shown.contains(secret) && !debug.contains(secret),
            "{debug}"
        );
    };
    let bad = PostgresStore::connect("postgres://u:hunter2@[::1")
        .await
        .unwrap_err();
    assert!(matches!(bad, StoreError::Misconfigured(_)), "{bad:?}");
    secret_free(&bad, "hunter2");
    // libpq's certificate files in the URL are read: one that is not there is named.
    let rds = PostgresStore::connect(&format!(
        "{url}?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem"
    ))
    .await
    .unwrap_err();
    assert!(matches!(rds, StoreError::Misconfigured(_)), "{rds:?}");
    assert!(
        rds.to_string().contains("sslrootcert /etc/ssl/rds.pem"),
        "{rds}"
    );
    secret_free(&rds, pg::PASSWORD);
    let client_cert = PostgresStore::connect(&format!("{url}?sslcert=/etc/ssl/me.pem"))
        .await
        .unwrap_err();
    assert!(client_cert.to_string().contains("sslcert"), "{client_cert}");
    let builder = PostgresStore::builder(&url.replace(pg::PASSWORD, "hunter2-wrong"));
    assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
    let wrong = builder.connect().await.unwrap_err();
    secret_free(&wrong, "hunter2-wrong");
    let named = PostgresStore::builder(&url)
        .schema("Not-A-Name")
        .connect()
        .await;
    assert!(matches!(named, Err(StoreError::Misconfigured(_))));
    // A role that may not create the schema.
    let sql = pg::client(&url).await;
    let role = pg::fresh_schema();
    sql.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'weak-secret'"))
        .await
        .unwrap();
    let weak = url.replace(
        &format!("kickout:{}", pg::PASSWORD),
        &format!("{role}:weak-secret"),
    );
    let refused = PostgresStore::builder(&weak)
        .schema(&pg::fresh_schema())
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Misconfigured(_)),
        "{refused:?}"
    );
    secret_free(&refused, "weak-secret");
    // The same role, given a schema of its own by an administrator: it connects (and
    // creates its tables there) though it may create no schema.
    let own = pg::fresh_schema();
    sql.batch_execute(&format!("CREATE SCHEMA {own} AUTHORIZATION {role}"))
        .await
        .unwrap();
    let store = PostgresStore::builder(&weak)
        .schema(&own)
        .connect()
        .await
        .unwrap();
    let auth = kickout::Auth::new(store);
    let login = auth.login("10001", "web").await.unwrap();
    assert!(auth.authenticate(login.token.as_str()).await.is_ok());
    let store = pg::store_on(&url, &pg::fresh_schema()).await;
    assert!(!format!("{store:?}").contains(pg::PASSWORD));
}

/// A session record that does not read stops no write of its user (see the case).
#[tokio::test]
async fn a_record_that_does_not_read_stops_no_revocation_of_its_user() {
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let sql = pg::client(&url).await;
    let corrupt = format!("UPDATE \"{schema}\".sessions SET state = $1 WHERE id = $2");
    let garbage = ["{not json", "[1,2]", r#"{"info":null}"#];
    let store = pg::store_on(&url, &schema).await;
    suite::a_record_that_does_not_read_stops_no_revocation(store, &garbage, |id, text| {
        let (sql, corrupt) = (&sql, &corrupt);
        async move {
            let id = id.as_bytes().to_vec();
            assert_eq!(sql.execute(corrupt, &[&text, &id]).await.unwrap(), 1);
        }
    })
    .await;
}

/// A tombstone whose state lost its end (`"ended": null`, as a hand edit or a bad
/// restore leaves it) opens nothing: its row says ended, so its access token answers 503
/// and its refresh token brings nothing back. Before, the state read as a live session
/// that no end could reach (ends read live rows only).
#[tokio::test]
async fn a_tombstone_that_lost_its_end_opens_nothing() {
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let sql = pg::client(&url).await;
    let auth = kickout::Auth::builder(pg::store_on(&url, &schema).await)
        .refresh_tokens(suite::secs(3_600))
        .build();
    let login = auth.login("10001", "web").await.unwrap();
    let refresh = login.refresh.expect("a refresh token").token;
    assert!(auth.logout(login.token.as_str()).await.unwrap());
    let lose_end = format!(
        "UPDATE \"{schema}\".sessions SET state = jsonb_set(state::jsonb, '{{ended}}', 'null')::text \
         WHERE id = $1 AND state::jsonb->'ended' <> 'null'::jsonb"
    );
    let id = login.session.session_id.as_bytes().to_vec();
    assert_eq!(sql.execute(&lose_end, &[&id]).await.unwrap(), 1);
    let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), kickout::Reason::StoreUnavailable);
    assert!(auth.refresh(refresh.as_str()).await.is_err());
    let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), kickout::Reason::StoreUnavailable);
    // The user's other sessions come and go as before.
    let other = auth.login("10001", "phone").await.unwrap();
    assert!(auth.authenticate(other.token.as_str()).await.is_ok());
    assert_eq!(auth.kickout("10001").await.unwrap(), 1);
}

/// A row whose id (session mode) or `jti` (JWT mode) does not read, as a hand edit
/// leaves it, is passed over as a record that does not read is: every write of its user
/// goes on. Before, each kickout, ban and login of that user failed with 503.
#[tokio::test]
async fn a_row_whose_id_does_not_read_stops_no_revocation_of_its_user() {
    use suite::Kind;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let sql = pg::client(&url).await;
    let clock = suite::clock();
    let store = pg::store_on(&url, &schema).await;
    let session = suite::Session::builder(store.clone(), &clock).build();
    let jwt = suite::Jwt::builder(store, &clock).build();
    let bad = session.login("s", "web").await.unwrap();
    let id = bad.session.session_id.as_bytes().to_vec();
    let short = format!("UPDATE \"{schema}\".sessions SET id = '\\x00'::bytea WHERE id = $1");
    assert_eq!(sql.execute(&short, &[&id]).await.unwrap(), 1);
    jwt.login("j", "web").await.unwrap();
    let garbage =
        format!("UPDATE \"{schema}\".jwt_tokens SET jti = 'not a jti!' WHERE user_id = 'j'");
    assert_eq!(sql.execute(&garbage, &[]).await.unwrap(), 1);
    revocations_go_on(&session, "s").await;
    revocations_go_on(&jwt, "j").await;
}

/// The user's other sessions are listed, kicked out and banned as if the bad row were
/// not there.
async fn revocations_go_on<M: kickout::Mode<kickout::store::PostgresStore>>(
    auth: &kickout::Auth<kickout::store::PostgresStore, M>,
    user: &str,
) {
    let phone = auth.login(user, "phone").await.unwrap().token;
    assert_eq!(auth.sessions(user).await.unwrap().len(), 1, "{user}");
    assert_eq!(auth.kickout(user).await.unwrap(), 1, "{user}");
    let refused = auth.authenticate(phone.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), kickout::Reason::KickedOut, "{user}");
    assert_eq!(auth.ban(user, suite::secs(60)).await.unwrap(), 0, "{user}");
}

/// JWT mode's twin: a token entry that does not read refuses its own token (503), and
/// stops no write of its user. Before, every kickout, ban and login of the user failed.
#[tokio::test]
async fn a_token_entry_that_does_not_read_stops_no_revocation_of_its_user() {
    use suite::Kind;
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let sql = pg::client(&url).await;
    let corrupt = format!("UPDATE \"{schema}\".jwt_tokens SET entry = $1");
    let clock = suite::clock();
    let auth = suite::Jwt::builder(pg::store_on(&url, &schema).await, &clock).build();
    for (i, garbage) in ["{not json", "[1,2]", r#"{"v":null}"#]
        .into_iter()
        .enumerate()
    {
        let user = format!("y{i}");
        let bad = auth.login(&user, "web").await.unwrap().token;
        assert!(sql.execute(&corrupt, &[&garbage]).await.unwrap() >= 1);
        let refused = auth.authenticate(bad.as_str()).await.unwrap_err();
        assert_eq!(
            refused.reason(),
            kickout::Reason::StoreUnavailable,
            "{garbage}"
        );
        let phone = auth.login(&user, "phone").await.unwrap().token;
        assert_eq!(auth.kickout(&user).await.unwrap(), 1, "{garbage}");
        let refused = auth.authenticate(phone.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), kickout::Reason::KickedOut, "{garbage}");
        let again = auth.login(&user, "web").await.unwrap().token;
        assert_eq!(
            auth.ban(&user, suite::secs(3_600)).await.unwrap(),
            1,
            "{garbage}"
        );
        let refused = auth.authenticate(again.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), kickout::Reason::Banned, "{garbage}");
        assert!(auth.sessions(&user).await.unwrap().is_empty(), "{garbage}");
        // The directory passes over it too: the incident switch reaches everyone.
        let other = auth.login(&format!("z{i}"), "web").await.unwrap().token;
        auth.kickout_all().await.expect(garbage);
        let refused = auth.authenticate(other.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), kickout::Reason::KickedOut, "{garbage}");
    }
}

/// Instances starting together: one waits for the other's migration however long its
/// request timeout is (the migration has its own budget; the wait for the lock ran
/// under the connection's `lock_timeout`, the request timeout, and failed).
#[tokio::test]
async fn a_migration_waits_for_another_beyond_the_request_timeout() {
    use std::time::{Duration, Instant};
    let Some(url) = pg::shared_url() else {
        return;
    };
    let schema = pg::fresh_schema();
    let mut other = pg::client(&url).await;
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&schema.as_str()],
    )
    .await
    .unwrap();
    let started = Instant::now();
    let release = async {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        tx.commit().await.unwrap();
    };
    let connect = kickout::store::PostgresStore::builder(&url)
        .schema(&schema)
        .timeout(Duration::from_secs(1))
        .connect();
    let (store, ()) = tokio::join!(connect, release);
    let store = store.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(2_500));
    let auth = kickout::Auth::new(store);
    assert!(auth.login("10001", "web").await.is_ok());
}

/// An operator of another schema cannot stand in for a built-in one the store uses,
/// even where the database searches that schema first: the store's connections search
/// `pg_catalog` alone. (A plain connection to the same database runs the stand-in.)
#[tokio::test]
async fn an_operator_of_another_schema_cannot_stand_in_for_a_built_in_one() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let (_, database) = url.rsplit_once('/').unwrap();
    pg::client(&url)
        .await
        .batch_execute(&format!(
            "CREATE FUNCTION public.stand_in(bytea, bytea) RETURNS boolean \
             LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stand-in ran'; END $$; \
             CREATE OPERATOR public.= (LEFTARG = bytea, RIGHTARG = bytea, \
             FUNCTION = public.stand_in); \
             ALTER DATABASE {database} SET search_path = public, pg_catalog"
        ))
        .await
        .unwrap();
    let hijacked = pg::client(&url)
        .await
        .query("SELECT $1::bytea = $1::bytea", &[&vec![1u8]])
        .await
        .unwrap_err();
    assert!(
        format!("{hijacked:?}").contains("a stand-in ran"),
        "{hijacked:?}"
    );
    // A request reads its session by the `bytea` id.
    let store = kickout::store::PostgresStore::connect(&url).await.unwrap();
    let auth = kickout::Auth::new(store);
    let login = auth.login("u1", "web").await.unwrap();
    assert!(auth.authenticate(login.token.as_str()).await.is_ok());
    assert_eq!(auth.kickout("u1").await.unwrap(), 1);
}

/// The store's locking is written for READ COMMITTED: a write waits for the user's row
/// lock, then reads what the holder committed. A database whose default is SERIALIZABLE
/// (or REPEATABLE READ) would refuse every waiting write (503), so the store sets its
/// own level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_for_one_user_pass_whatever_the_default_isolation() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let (_, database) = url.rsplit_once('/').unwrap();
    pg::client(&url)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {database} SET default_transaction_isolation = 'serializable'"
        ))
        .await
        .unwrap();
    let store = kickout::store::PostgresStore::builder(&url)
        .pool_size(8)
        .connect()
        .await
        .unwrap();
    let auth = kickout::Auth::new(store);
    let logins = (0..16).map(|d| {
        let auth = auth.clone();
        async move { auth.login("many", &format!("d{d}")).await }
    });
    let failed: Vec<_> = futures::future::join_all(logins)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(auth.kickout("many").await.unwrap(), 16);
}

/// The store asks for a read-write server: of a multi-host URL it takes the primary,
/// never a server that only reads (a standby; here a server whose transactions are
/// read-only), and a URL of such servers alone is refused at connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_host_url_reaches_the_writable_server_only() {
    let Some(primary) = pg::shared_url() else {
        return;
    };
    let standby = pg::PgServer::start_with(&["default_transaction_read_only=on"]);
    let hosts = |ports: &[u16]| {
        let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!(
            "postgres://kickout:{}@{}/postgres",
            pg::PASSWORD,
            hosts.join(",")
        )
    };
    let primary_port = primary
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .unwrap();
    let schema = pg::fresh_schema();
    // The read-only server first: it answers, and is passed over.
    let store = pg::store_on(&hosts(&[standby.port, primary_port]), &schema).await;
    let auth = kickout::Auth::new(store);
    auth.login("u1", "web").await.unwrap();
    let rows: i64 = pg::client(&primary)
        .await
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".sessions"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    let refused = kickout::store::PostgresStore::builder(&hosts(&[standby.port]))
        .schema(&pg::fresh_schema())
        .connect()
        .await;
    assert!(refused.is_err());
}

/// TLS (servers of their own, with a certificate a test CA signed for `localhost`):
/// `sslmode=require` encrypts every connection of the store and verifies the server's
/// certificate, chain and host name; without it the store does not use TLS.
mod tls {
    use kickout::Auth;
    use kickout::store::{PostgresStore, StoreError};

    use super::pg;
    use crate::support::tls::TestCerts;

    /// A test CA, and a server certificate it signed for `localhost` only.
    fn certificates() -> (String, String, String) {
        let certs = TestCerts::new(&["localhost"]);
        (certs.ca.clone(), certs.cert.clone(), certs.key.clone())
    }

    /// A test CA, and a server whose TLS connections log in by a client certificate
    /// it signed (`cert`).
    fn cert_login_server() -> Option<(TestCerts, pg::PgServer)> {
        if !pg::available() {
            return None;
        }
        let certs = TestCerts::new(&["localhost"]);
        let server = pg::PgServer::start_tls_with(&certs.cert, &certs.key, Some(&certs.ca));
        Some((certs, server))
    }

    /// A handle on `store` that has logged a user in and checked the token.
    async fn serving(store: PostgresStore) -> Auth<PostgresStore> {
        let auth = Auth::new(store);
        let login = auth.login("u1", "web").await.unwrap();
        assert!(auth.authenticate(login.token.as_str()).await.is_ok());
        auth
    }

    fn url(server: &pg::PgServer, host: &str, query: &str) -> String {
        format!(
            "postgres://kickout:{}@{host}:{}/postgres{query}",
            pg::PASSWORD,
            server.port
        )
    }

    /// Of the server's client connections (the asking one left out): how many use
    /// TLS, and how many there are.
    async fn encrypted(server: &pg::PgServer) -> (i64, i64) {
        let row = pg::client(&server.url())
            .await
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) \
                 WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn require_encrypts_every_connection_of_the_store() {
        if !pg::available() {
            return;
        }
        let (ca, cert, key) = certificates();
        let server = pg::PgServer::start_tls(&cert, &key);
        // libpq's `verify-full` means what `require` does here.
        let mut stores = Vec::new();
        for mode in ["?sslmode=require", "?sslmode=verify-full"] {
            let store = PostgresStore::builder(&url(&server, "localhost", mode))
                .schema(&pg::fresh_schema())
                .tls_root_certificates(ca.as_bytes())
                .connect()
                .await
                .unwrap();
            stores.push(serving(store).await);
        }
        // Two stores: each a pooled connection at least, and its listener.
        let (tls, all) = encrypted(&server).await;
        assert!(all >= 4, "{all} connections");
        assert_eq!(tls, all);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_cannot_prove_itself_is_refused_at_connect() {
        let Some(plain) = pg::shared() else {
            return;
        };
        let (ca, cert, key) = certificates();
        let server = pg::PgServer::start_tls(&cert, &key);
        let connect = |url: String, roots: Option<&str>| {
            let mut builder = PostgresStore::builder(&url).schema("refused");
            if let Some(roots) = roots {
                builder = builder.tls_root_certificates(roots.as_bytes());
            }
            builder.connect()
        };
        // Signed by a CA the public roots do not hold.
        let unknown = connect(url(&server, "localhost", "?sslmode=require"), None)
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("certificate"), "{unknown}");
        // A trusted CA, but the certificate names another host.
        let misnamed = connect(url(&server, "127.0.0.1", "?sslmode=require"), Some(&ca))
            .await
            .unwrap_err();
        assert!(misnamed.to_string().contains("certificate"), "{misnamed}");
        // A server without TLS.
        let port = plain.lock().unwrap_or_else(|e| e.into_inner()).port;
        let plain_url = format!(
            "postgres://kickout:{}@localhost:{port}/postgres?sslmode=require",
            pg::PASSWORD
        );
        assert!(connect(plain_url, Some(&ca)).await.is_err());
        // Roots that hold no certificate.
        let empty = connect(
            url(&server, "localhost", "?sslmode=require"),
            Some("not PEM"),
        )
        .await
        .unwrap_err();
        assert!(matches!(empty, StoreError::Misconfigured(_)), "{empty:?}");
        for refused in [&unknown, &misnamed, &empty] {
            assert!(!format!("{refused:?}").contains(pg::PASSWORD));
        }
        // Nothing was written through any of them.
        assert_eq!(encrypted(&server).await, (0, 0));
    }

    /// A server that logs TLS connections in by client certificate (`cert`): the
    /// store's certificate, signed for the user, logs in; without one, or with one of
    /// another CA, the server refuses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
        let Some((certs, server)) = cert_login_server() else {
            return;
        };
        // No password: the certificate is the login.
        let url = format!(
            "postgres://kickout@localhost:{}/postgres?sslmode=require",
            server.port
        );
        let builder = || {
            PostgresStore::builder(&url)
                .schema("mtls")
                .tls_root_certificates(certs.ca.as_bytes())
        };
        let (cert, key) = certs.client("kickout");
        let store = builder()
            .tls_client_certificate(cert.as_bytes(), key.as_bytes())
            .connect()
            .await
            .unwrap();
        serving(store).await;
        let debug = format!(
            "{:?}",
            builder().tls_client_certificate(cert.as_bytes(), key.as_bytes())
        );
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        // Without a certificate, and with one of another CA.
        assert!(builder().connect().await.is_err());
        let stranger = TestCerts::new(&["localhost"]).client("kickout");
        let refused = builder()
            .tls_client_certificate(stranger.0.as_bytes(), stranger.1.as_bytes())
            .connect()
            .await;
        assert!(refused.is_err());
    }

    /// libpq's certificate files in a URL (as cloud providers' guides write them): read
    /// at connect, as the builder's PEM is; a certificate without its key, a file that
    /// is not there, roots given twice or of another CA are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_urls_certificate_files_are_read_at_connect() {
        // TLS connections log in by certificate: the client files are read too.
        let Some((certs, server)) = cert_login_server() else {
            return;
        };
        let url = |files: &str| {
            format!(
                "postgres://kickout@localhost:{}/postgres?sslmode=verify-full{files}",
                server.port
            )
        };
        let client = format!(
            "&sslcert={}&sslkey={}",
            pg::in_url(&certs.path("client.pem")),
            pg::in_url(&certs.path("client-key.pem"))
        );
        let ca = format!("&sslrootcert={}", pg::in_url(&certs.path("ca.pem")));
        let store = PostgresStore::builder(&url(&format!("{ca}{client}")))
            .schema("libpq_files")
            .connect()
            .await
            .unwrap();
        serving(store).await;
        let refused = |files: String| async move {
            PostgresStore::builder(&url(&files))
                .schema("libpq_files")
                .connect()
                .await
                .unwrap_err()
        };
        let keyless = refused(format!(
            "{ca}&sslcert={}",
            pg::in_url(&certs.path("client.pem"))
        ))
        .await;
        assert!(keyless.to_string().contains("sslkey"), "{keyless}");
        let missing = refused(format!("&sslrootcert=/nowhere/ca.pem{client}")).await;
        assert!(
            missing.to_string().contains("sslrootcert /nowhere/ca.pem"),
            "{missing}"
        );
        let stranger = TestCerts::new(&["localhost"]);
        let foreign = refused(format!(
            "&sslrootcert={}{client}",
            pg::in_url(&stranger.path("ca.pem"))
        ))
        .await;
        assert!(foreign.to_string().contains("certificate"), "{foreign}");
        for error in [&keyless, &missing] {
            assert!(matches!(error, StoreError::Misconfigured(_)), "{error:?}");
        }
        let twice = PostgresStore::builder(&url(&format!("{ca}{client}")))
            .tls_root_certificates(certs.ca.as_bytes())
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(&twice, StoreError::Misconfigured(m) if m.contains("once")),
            "{twice:?}"
        );
    }

    /// The same in a `key=value` connection string, a quoted path among its keys.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_value_strings_root_file_is_read_at_connect() {
        if !pg::available() {
            return;
        }
        let certs = TestCerts::new(&["localhost"]);
        let server = pg::PgServer::start_tls(&certs.cert, &certs.key);
        let store = PostgresStore::builder(&format!(
            "host=localhost port={} user=kickout sslrootcert = {} password='{}' \
             dbname=postgres sslmode=verify-full",
            server.port,
            pg::quoted(&certs.path("ca.pem")),
            pg::PASSWORD
        ))
        .schema(&pg::fresh_schema())
        .connect()
        .await
        .unwrap();
        // Held: its connections stay open while the server's are counted.
        let _auth = serving(store).await;
        let (tls, all) = encrypted(&server).await;
        assert!(all >= 2, "{all} connections");
        assert_eq!(tls, all);
    }

    /// Certificates given for a URL that does not ask for TLS are a mistake said at
    /// connect, not a connection without TLS.
    #[tokio::test]
    async fn certificates_without_require_are_refused() {
        let Some(url) = pg::shared_url() else {
            return;
        };
        let certs = TestCerts::new(&["localhost"]);
        let (cert, key) = certs.client("kickout");
        for builder in [
            PostgresStore::builder(&url).tls_root_certificates(certs.ca.as_bytes()),
            PostgresStore::builder(&url).tls_client_certificate(cert.as_bytes(), key.as_bytes()),
            PostgresStore::builder(&format!(
                "{url}?sslrootcert={}",
                pg::in_url(&certs.path("ca.pem"))
            )),
        ] {
            let refused = builder.connect().await.unwrap_err();
            assert!(
                matches!(refused, StoreError::Misconfigured(_)),
                "{refused:?}"
            );
            assert!(refused.to_string().contains("sslmode=require"), "{refused}");
        }
    }

    /// Without `sslmode=require` the store does not use TLS, even where the server
    /// offers it: TLS with a certificate no one verified is not asked for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_require_the_store_does_not_use_tls() {
        if !pg::available() {
            return;
        }
        let (_, cert, key) = certificates();
        let server = pg::PgServer::start_tls(&cert, &key);
        let mut stores = Vec::new();
        for query in ["", "?sslmode=prefer", "?sslmode=disable"] {
            let store = PostgresStore::builder(&url(&server, "127.0.0.1", query))
                .schema(&pg::fresh_schema())
                .connect()
                .await
                .unwrap();
            let auth = Auth::new(store);
            auth.login("u1", "web").await.unwrap();
            stores.push(auth);
        }
        let (tls, all) = encrypted(&server).await;
        assert!(all >= 6, "{all} connections");
        assert_eq!(tls, 0);
    }
}

/// Servers of their own: these kill them.
mod faults {
    use std::time::{Duration, Instant};

    use kickout::store::PostgresStore;
    use kickout::{Auth, Reason};

    use super::pg;
    use crate::suite;

    async fn connect(server: &pg::PgServer) -> PostgresStore {
        pg::store_on(&server.url(), "kickout").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_database_going_away_answers_503_quickly_and_recovery_needs_no_restart() {
        if !pg::available() {
            return;
        }
        let mut server = pg::PgServer::start();
        let auth = Auth::new(connect(&server).await);
        let app = suite::app(&auth);
        let t = auth.login("1", "web").await.unwrap().token;
        assert!(suite::me(&app, t.as_str()).await.is_ok());
        server.kill9();
        let started = Instant::now();
        assert_eq!(
            suite::me(&app, t.as_str()).await,
            suite::err(Reason::StoreUnavailable)
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(auth.login("2", "web").await.is_err());
        assert!(auth.kickout("1").await.is_err(), "never reported done");
        server.restart();
        let started = Instant::now();
        while suite::me(&app, t.as_str()).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "not back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A kickout that answered is committed: `kill -9` of the server right after it,
    /// a restart, and the tokens stay refused, in both modes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kickout_that_answered_survives_kill_9_of_the_server() {
        use suite::Kind;
        if !pg::available() {
            return;
        }
        let mut server = pg::PgServer::start();
        let clock = suite::clock();
        let store = connect(&server).await;
        let session = <suite::Session as Kind<_>>::builder(store.clone(), &clock).build();
        let jwt = <suite::Jwt as Kind<_>>::builder(store, &clock).build();
        let s = session.login("10001", "web").await.unwrap().token;
        let j = jwt.login("10002", "web").await.unwrap().token;
        assert_eq!(session.kickout("10001").await.unwrap(), 1);
        assert_eq!(jwt.ban("10002", suite::secs(600)).await.unwrap(), 1);
        server.kill9();
        server.restart();
        let store = connect(&server).await;
        let session = <suite::Session as Kind<_>>::builder(store.clone(), &clock).build();
        let jwt = <suite::Jwt as Kind<_>>::builder(store, &clock).build();
        assert_eq!(
            suite::me(&suite::app(&session), s.as_str()).await,
            suite::err(Reason::KickedOut)
        );
        assert_eq!(
            suite::me(&suite::app(&jwt), j.as_str()).await,
            suite::err(Reason::Banned)
        );
    }

    /// A crash in the middle of many kickouts: each is whole or not at all (a
    /// transaction), and each that answered is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_mid_burst_leaves_no_kickout_half_done() {
        if !pg::available() {
            return;
        }
        let mut server = pg::PgServer::start();
        let auth = Auth::new(connect(&server).await);
        const USERS: usize = 40;
        let mut tokens = Vec::new();
        for u in 0..USERS {
            let mut of_user = Vec::new();
            for d in 0..3 {
                let login = auth
                    .login(&format!("u{u}"), &format!("d{d}"))
                    .await
                    .unwrap();
                of_user.push(login.token);
            }
            tokens.push(of_user);
        }
        let (done, mut answered) = tokio::sync::mpsc::unbounded_channel();
        let burst: Vec<_> = (0..USERS)
            .map(|u| {
                let (auth, done) = (auth.clone(), done.clone());
                tokio::spawn(async move {
                    let result = auth.kickout(&format!("u{u}")).await;
                    let _ = done.send(());
                    result.ok()
                })
            })
            .collect();
        for _ in 0..5 {
            answered.recv().await;
        }
        server.kill9();
        let results: Vec<Option<usize>> = futures::future::join_all(burst)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        server.restart();
        let auth = Auth::new(connect(&server).await);
        let app = suite::app(&auth);
        let mut whole = 0;
        for (u, result) in results.iter().enumerate() {
            let mut refused = 0;
            for t in &tokens[u] {
                if suite::me(&app, t.as_str()).await == suite::err(Reason::KickedOut) {
                    refused += 1;
                }
            }
            match result {
                Some(n) => assert_eq!((*n, refused), (3, 3), "user {u}: answered, so done"),
                None => assert!(refused == 0 || refused == 3, "user {u}: {refused} of 3"),
            }
            whole += usize::from(refused == 3);
        }
        assert!(whole >= 5);
    }

    /// A validated request is one statement: PostgreSQL's own count of what ran
    /// (`pg_stat_statements`), in both modes, with a near cache's misses too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_statement_per_validated_request() {
        use suite::Kind;
        if !pg::available() {
            return;
        }
        let server = pg::PgServer::start_with(&["shared_preload_libraries=pg_stat_statements"]);
        let sql = pg::client(&server.url()).await;
        sql.batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
        let clock = suite::clock();
        let store = connect(&server).await;
        let session = <suite::Session as Kind<_>>::builder(store.clone(), &clock).build();
        let jwt = <suite::Jwt as Kind<_>>::builder(store, &clock).build();
        let s = session.login("1", "web").await.unwrap().token;
        let j = jwt.login("2", "web").await.unwrap().token;
        let (session_app, jwt_app) = (suite::app(&session), suite::app(&jwt));
        // The logins' audit events go out in the background first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // What one request of each mode runs, counted by the server.
        let ran = async || {
            let rows = sql
                .query(
                    "SELECT query, calls FROM pg_stat_statements \
                     WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY query",
                    &[],
                )
                .await
                .unwrap();
            let ran: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            ran
        };
        for (app, token) in [(&session_app, s.as_str()), (&jwt_app, j.as_str())] {
            // Counted from a quiet moment: the logins' background statements (their
            // audit events, a purge) may come late on a loaded machine.
            let mut quiet = false;
            for _ in 0..50 {
                sql.batch_execute("SELECT pg_stat_statements_reset()")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                if ran().await.is_empty() {
                    quiet = true;
                    break;
                }
            }
            assert!(quiet, "background statements went on for 5 s");
            for _ in 0..50 {
                assert!(suite::me(app, token).await.is_ok());
            }
            let ran = ran().await;
            assert_eq!(ran.len(), 1, "{ran:?}");
            assert_eq!(ran[0].1, 50, "{ran:?}");
            assert!(ran[0].0.starts_with("SELECT"), "{ran:?}");
        }
    }

    /// Ends every store's listening connection on `server`: how many there were.
    async fn kill_listeners(server: &pg::PgServer) -> usize {
        let sql = pg::client(&server.url()).await;
        let killed = sql
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'kickout-feed'",
                &[],
            )
            .await
            .unwrap();
        killed.len()
    }

    /// The listening connection killed: the feed says it is down (a near cache then
    /// caches nothing), then that it is back and messages may be missed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_listener_says_so() {
        use kickout::store::{Revoked, Store};
        if !pg::available() {
            return;
        }
        let server = pg::PgServer::start();
        let store = connect(&server).await;
        let mut feed = store.revocations().expect("a feed");
        let killed = kill_listeners(&server).await;
        assert_eq!(killed, 1);
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(5), feed.recv())
                .await
                .expect("a message within 5 s")
                .unwrap()
        };
        assert_eq!(next().await, Revoked::Lost);
        assert_eq!(next().await, Revoked::Resync);
    }

    /// The listening connection killed: it comes back, and a watch re-checks what it
    /// may have missed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_listener_is_made_good_by_rechecking() {
        if !pg::available() {
            return;
        }
        let server = pg::PgServer::start();
        let a = Auth::new(connect(&server).await);
        let b = Auth::new(connect(&server).await);
        let token = b.login("10001", "web").await.unwrap().token;
        let mut watch = a.watch(&a.authenticate(token.as_str()).await.unwrap());
        let killed = kill_listeners(&server).await;
        assert_eq!(killed, 2, "one listener per store");
        b.kickout("10001").await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), watch.ended()).await;
        assert_eq!(ended.ok().map(|e| e.reason()), Some(Reason::KickedOut));
    }
}

/// What the application said at login lives in a column of its own: a request's read
/// parses none of it, and no write of what a request read loses it.
mod metadata {
    use std::time::Duration;

    use kickout::clock::{Clock, ManualClock};
    use kickout::store::PostgresStore;
    use kickout::{Auth, LoginOptions};

    use super::pg;
    use crate::suite::{self, Kind};

    fn options() -> LoginOptions {
        LoginOptions::default()
            .label("Alice's phone")
            .user_agent("Firefox/130")
            .field("shelf", "north")
    }

    /// The table and the column a request reads in mode `K`.
    fn read_by<K: Kind<PostgresStore>>() -> (&'static str, &'static str) {
        if K::JWT {
            ("jwt_tokens", "entry")
        } else {
            ("sessions", "state")
        }
    }

    /// The one row's read column and metadata column.
    async fn row<K: Kind<PostgresStore>>(
        db: &tokio_postgres::Client,
        schema: &str,
    ) -> (String, Option<String>) {
        let (table, read) = read_by::<K>();
        let sql = format!("SELECT {read}, meta FROM \"{schema}\".{table}");
        let row = db.query_one(&sql, &[]).await.unwrap();
        (row.get(0), row.get(1))
    }

    /// A write of what a request read (a step-up, then an idle renewal) keeps the
    /// metadata, which the listing shows.
    async fn written_again_and_listed<K: Kind<PostgresStore>>(
        auth: &Auth<PostgresStore, K::M>,
        clock: &ManualClock,
        token: &str,
    ) {
        let me = auth.authenticate(token).await.unwrap();
        auth.elevate(&me, "payment", Duration::from_secs(600))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(120));
        assert!(auth.authenticate(token).await.is_ok());
        let listed = auth.sessions("meta").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].meta.label.as_deref(), Some("Alice's phone"));
        assert_eq!(listed[0].meta.user_agent.as_deref(), Some("Firefox/130"));
        assert_eq!(listed[0].last_seen_ms, clock.now_ms());
    }

    /// A handle in mode `K` with an idle timeout, so a request renews its session.
    fn handle<K: Kind<PostgresStore>>(
        store: PostgresStore,
        clock: &ManualClock,
    ) -> Auth<PostgresStore, K::M> {
        K::idle(K::builder(store, clock), Duration::from_secs(600)).build()
    }

    /// A login with metadata on a store of a fresh schema: the URL, the schema, the
    /// clock, the handle and the token; `None` without PostgreSQL.
    async fn logged_in<K: Kind<PostgresStore>>() -> Option<(
        String,
        String,
        ManualClock,
        Auth<PostgresStore, K::M>,
        kickout::Token,
    )> {
        let url = pg::shared_url()?;
        let schema = pg::fresh_schema();
        let clock = ManualClock::starting_now();
        let auth = handle::<K>(pg::store_on(&url, &schema).await, &clock);
        let login = auth.login_with("meta", "web", options()).await.unwrap();
        Some((url, schema, clock, auth, login.token))
    }

    async fn kept_apart<K: Kind<PostgresStore>>() {
        let Some((url, schema, clock, auth, token)) = logged_in::<K>().await else {
            return;
        };
        let db = pg::client(&url).await;
        for _ in 0..2 {
            let (read, meta) = row::<K>(&db, &schema).await;
            assert!(
                !read.contains("Alice") && !read.contains("Firefox"),
                "{read}"
            );
            let meta = meta.expect("the metadata column");
            assert!(
                meta.contains("Alice's phone") && meta.contains("north"),
                "{meta}"
            );
            written_again_and_listed::<K>(&auth, &clock, token.as_str()).await;
        }
    }

    #[tokio::test]
    async fn session_mode_keeps_it_apart() {
        kept_apart::<suite::Session>().await;
    }

    #[tokio::test]
    async fn jwt_mode_keeps_it_apart() {
        kept_apart::<suite::Jwt>().await;
    }

    /// A schema of step 1 (no metadata column; the metadata inside the state) is
    /// upgraded at connect; its rows list their metadata, and their next write moves it
    /// to the column.
    async fn upgraded<K: Kind<PostgresStore>>() {
        let Some((url, schema, clock, auth, token)) = logged_in::<K>().await else {
            return;
        };
        drop(auth);
        // The row as step 1 wrote it, and the schema as step 1 left it.
        let (table, read) = read_by::<K>();
        let db = pg::client(&url).await;
        db.batch_execute(&format!(
            "UPDATE \"{schema}\".{table} SET {read} = \
                 jsonb_set({read}::jsonb, '{{meta}}', meta::jsonb)::text; \
             ALTER TABLE \"{schema}\".sessions DROP COLUMN meta; \
             ALTER TABLE \"{schema}\".jwt_tokens DROP COLUMN meta; \
             DROP INDEX \"{schema}\".sessions_live; \
             DROP INDEX \"{schema}\".sessions_ended; \
             DROP INDEX \"{schema}\".jwt_refresh_user; \
             CREATE INDEX sessions_user ON \"{schema}\".sessions (user_id, seq); \
             DELETE FROM \"{schema}\".schema_version WHERE version > 1"
        ))
        .await
        .unwrap();
        let store = pg::store_on(&url, &schema).await;
        let version: i32 = db
            .query_one(
                &format!("SELECT max(version) FROM \"{schema}\".schema_version"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(version, 4);
        let (old, meta) = row::<K>(&db, &schema).await;
        assert!(old.contains("Alice's phone") && meta.is_none(), "{old}");
        let auth = handle::<K>(store, &clock);
        let listed = auth.sessions("meta").await.unwrap();
        assert_eq!(listed[0].meta.label.as_deref(), Some("Alice's phone"));
        written_again_and_listed::<K>(&auth, &clock, token.as_str()).await;
        let (read, meta) = row::<K>(&db, &schema).await;
        assert!(!read.contains("Alice"), "{read}");
        assert!(meta.is_some_and(|m| m.contains("Alice's phone")));
    }

    #[tokio::test]
    async fn session_mode_rows_of_step_1_are_upgraded() {
        upgraded::<suite::Session>().await;
    }

    #[tokio::test]
    async fn jwt_mode_rows_of_step_1_are_upgraded() {
        upgraded::<suite::Jwt>().await;
    }
    /// Metadata that does not read (a request never reads it, so its token works)
    /// stops no revocation and no listing: it is left out, and the session is ended
    /// with the others. Before, session mode's writes passed over such a session
    /// (a kickout reported the others ended, and it went on working), and JWT mode's
    /// writes and both listings failed.
    async fn unreadable_metadata<K: Kind<PostgresStore>>() {
        let Some((url, schema, _clock, auth, token)) = logged_in::<K>().await else {
            return;
        };
        let (table, _) = read_by::<K>();
        let db = pg::client(&url).await;
        let bad = format!("UPDATE \"{schema}\".{table} SET meta = '{{\"no\":1}}'");
        assert_eq!(db.execute(&bad, &[]).await.unwrap(), 1);
        assert!(auth.authenticate(token.as_str()).await.is_ok());
        let phone = auth.login("meta", "phone").await.unwrap().token;
        let listed = auth.sessions("meta").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|s| s.meta.label.is_none()));
        assert_eq!(auth.kickout("meta").await.unwrap(), 2);
        for token in [&token, &phone] {
            let refused = auth.authenticate(token.as_str()).await.unwrap_err();
            assert_eq!(refused.reason(), kickout::Reason::KickedOut);
        }
    }

    #[tokio::test]
    async fn session_mode_metadata_that_does_not_read_stops_no_revocation() {
        unreadable_metadata::<suite::Session>().await;
    }

    #[tokio::test]
    async fn jwt_mode_metadata_that_does_not_read_stops_no_revocation() {
        unreadable_metadata::<suite::Jwt>().await;
    }
}
