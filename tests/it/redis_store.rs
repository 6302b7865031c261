//! The conformance suite on a real standalone Redis and a real 3-node Redis Cluster,
//! and what only a shared store promises: several instances agree, commands are one
//! round trip, secrets stay out of keys, and an outage is survived.

#![cfg(feature = "redis")]

use crate::suite;
use crate::support;

use suite::{run_in_sequence, run_suite};

/// A handle on `store` with a live session, whose connections `silence` makes silent,
/// writes again within `timeouts` refusals (a write is not retried: it must find the
/// connection replaced by itself), and reads.
pub(crate) async fn answers_again_after(
    store: kickout::store::RedisStore,
    silence: impl FnOnce(),
    timeouts: u32,
) {
    use kickout::{Auth, Error, Reason};
    let auth = Auth::new(store);
    let token = auth.login("silent", "web").await.unwrap().token;
    assert!(auth.authenticate(token.as_str()).await.is_ok());
    silence();
    let mut refused = 0;
    while let Err(error) = auth.logout(token.as_str()).await {
        assert!(matches!(error, Error::Store(_)), "{error:?}");
        refused += 1;
        assert!(
            refused <= timeouts,
            "still refused after {refused} timeouts"
        );
    }
    let refused = auth.authenticate(token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::InvalidToken);
}

mod standalone {
    use super::*;

    suite::all_cases!(run_suite!(support::standalone().await, suite::Session));
}

mod standalone_jwt {
    use super::*;

    suite::all_cases!(run_suite!(support::standalone().await, suite::Jwt));
}

/// A near cache over Redis: the suite again, through the cache.
async fn near() -> Option<(
    support::RedisProcess,
    kickout::store::NearCache<kickout::store::RedisStore>,
)> {
    let (server, store) = support::standalone().await?;
    let near = kickout::store::NearCache::new(store, std::time::Duration::from_secs(1));
    Some((server, near))
}

mod near_cache {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Session));
}

mod near_cache_jwt {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Jwt));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_on_a_three_node_cluster() {
    let Some(cluster) = support::Cluster::start() else {
        return;
    };
    suite::all_cases!(run_in_sequence!(cluster.store().await, suite::Session));
    suite::all_cases!(run_in_sequence!(cluster.store().await, suite::Jwt));
    // A timeout of Duration::MAX is a timeout that never fires, not an overflow panic.
    let store = kickout::store::RedisStore::builder(&cluster.urls())
        .timeout(std::time::Duration::MAX)
        .connect()
        .await;
    assert!(store.is_ok());
}

mod shared {
    use std::time::Duration;

    use kickout::store::RedisStore;
    use kickout::{Auth, LoginRule, Reason};

    use super::{suite, support};

    /// Two application instances: two handles, two connections, one Redis.
    async fn two_instances() -> Option<(support::RedisProcess, Auth<RedisStore>, Auth<RedisStore>)>
    {
        let (server, first) = support::standalone().await?;
        let second = RedisStore::connect(&server.url()).await.unwrap();
        let build = |store| {
            Auth::builder(store)
                .login_rule(LoginRule::one_per_device())
                .build()
        };
        Some((server, build(first), build(second)))
    }

    #[tokio::test]
    async fn a_revocation_on_one_instance_holds_on_the_other_at_once() {
        let Some((_server, a, b)) = two_instances().await else {
            return;
        };
        suite::revocations_hold_across_instances(&a, &b).await;
    }

    #[tokio::test]
    async fn one_command_per_validated_request() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::builder(store)
            .idle_timeout(Duration::from_secs(600))
            .build();
        let app = suite::app(&auth);
        let token = auth.login("1", "web").await.unwrap().token;
        // Warm up: the first call may load the script (NOSCRIPT, SCRIPT LOAD).
        assert!(suite::me(&app, token.as_str()).await.is_ok());
        let before = server.command_calls();
        for _ in 0..100 {
            assert!(suite::me(&app, token.as_str()).await.is_ok());
        }
        let after = server.command_calls();
        let mut grown: Vec<(String, u64)> = after
            .iter()
            .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
            .filter(|(_, d)| *d > 0)
            .collect();
        grown.sort();
        // One MGET each (the record and the user's restrictions): the only command of a
        // validated request (`info` is this probe; the idle renewal is throttled and
        // not due yet).
        assert_eq!(grown, [("info".to_owned(), 1), ("mget".to_owned(), 100)]);
        // When it is due, the renewal is one more command, once per touch interval.
        let clock_free_auth = Auth::builder(auth.store().clone())
            .idle_timeout(Duration::from_secs(600))
            .touch_interval(Duration::ZERO)
            .build();
        let app = suite::app(&clock_free_auth);
        // Warm up: the renewal script's first call loads it (NOSCRIPT, SCRIPT LOAD).
        assert!(suite::me(&app, token.as_str()).await.is_ok());
        let before = server.command_calls();
        assert!(suite::me(&app, token.as_str()).await.is_ok());
        let after = server.command_calls();
        // (The script's own read of the record shows as a `get`.)
        assert_eq!(after["mget"] - before["mget"], 1);
        assert_eq!(after["get"] - before.get("get").copied().unwrap_or(0), 1);
        assert_eq!(
            after["evalsha"] - before.get("evalsha").copied().unwrap_or(0),
            1
        );
        // Garbage never reaches Redis.
        let before = server.command_calls();
        for _ in 0..10 {
            assert!(suite::me(&app, "not-a-token").await.is_err());
        }
        let after = server.command_calls();
        assert_eq!(
            (after.get("get"), after.get("mget"), after.get("evalsha")),
            (before.get("get"), before.get("mget"), before.get("evalsha"))
        );
    }

    /// Members of the directory's per-tag sets, summed.
    fn directory_members(server: &support::RedisProcess) -> u64 {
        let keys = server.cli(&["--scan", "--pattern", "*}:d"]).unwrap();
        keys.lines()
            .map(|k| {
                server
                    .cli(&["zcard", k])
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    }

    async fn ended_sessions_leave_the_directory<K: suite::Kind<RedisStore>>() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = suite::clock();
        let auth = K::builder(store, &clock).build();
        let mut tokens = Vec::new();
        for u in 0..10 {
            tokens.push(auth.login(&format!("d{u}"), "web").await.unwrap().token);
            auth.login(&format!("d{u}"), "phone").await.unwrap();
        }
        assert_eq!(directory_members(&server), 20);
        // Without any page read: each way of ending takes the session out.
        auth.logout(tokens[0].as_str()).await.unwrap();
        auth.kickout("d1").await.unwrap();
        auth.kickout_device("d2", "web").await.unwrap();
        auth.ban("d3", Duration::from_secs(60)).await.unwrap();
        assert_eq!(directory_members(&server), 20 - 1 - 2 - 1 - 2);
        auth.kickout_all().await.unwrap();
        assert_eq!(directory_members(&server), 0);
    }

    #[tokio::test]
    async fn ended_sessions_leave_the_directory_in_session_mode() {
        ended_sessions_leave_the_directory::<suite::Session>().await;
    }

    #[tokio::test]
    async fn ended_sessions_leave_the_directory_in_jwt_mode() {
        ended_sessions_leave_the_directory::<suite::Jwt>().await;
    }

    /// One account logging in again and again, with metadata and step-up windows: its
    /// records, their metadata and windows, its tombstones and the tag's due times stay
    /// within the bounds (day-long sessions: no key of the loop expires during it). In
    /// JWT mode an ended token's entry and metadata go at once (its state says why it
    /// ended); its last sight and windows keep their TTLs.
    async fn one_account_logging_in_without_end<K: suite::Kind<RedisStore>>() {
        use kickout::LoginOptions;
        use kickout::limits::MAX_ENDED;
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = suite::clock();
        let auth = K::builder(store, &clock)
            .ttl(Duration::from_secs(86_400))
            .refresh_tokens(Duration::from_secs(30 * 86_400))
            .login_rule(LoginRule::one_per_device())
            .build();
        for i in 0..2 * MAX_ENDED + 10 {
            let options = LoginOptions::new().user_agent("curl/8.5");
            let login = auth.login_with("10001", "web", options).await.unwrap();
            if i % 5 == 0 {
                let me = auth.authenticate(login.token.as_str()).await.unwrap();
                auth.elevate(&me, "payment", Duration::from_secs(600))
                    .await
                    .unwrap();
            }
            if i % 100 == 0 {
                auth.kickout("10001").await.unwrap();
            }
            clock.advance(Duration::from_millis(10));
        }
        let keys = |pattern: &str| {
            let found = server.cli(&["--scan", "--pattern", pattern]).unwrap();
            found.lines().map(str::to_owned).collect::<Vec<_>>()
        };
        let zcard =
            |key: &str| -> usize { server.cli(&["zcard", key]).unwrap().trim().parse().unwrap() };
        let own: &[&str] = if K::JWT {
            &["jt", "jm"]
        } else {
            &["s", "m", "e"]
        };
        for kind in own {
            let n = keys(&format!("*}}:{kind}:*")).len();
            if K::JWT {
                assert!(n <= 1, "{n} {kind}: keys");
            } else {
                assert!(n <= MAX_ENDED + 1, "{n} {kind}: keys");
                assert!(n > MAX_ENDED / 10, "{n} {kind}: keys");
            }
        }
        if K::JWT {
            // Refresh records are kept to their session's end, up to their own bound.
            let records = keys("*}:jr:*").len();
            assert_eq!(records, kickout::limits::MAX_REFRESH_TOKENS);
            assert_eq!(zcard(&keys("*}:jf:10001")[0]), records);
        } else {
            // The index: the live session, then the tombstones (scored from 2^50 on).
            let index = keys("*}:u:10001");
            assert_eq!(index.len(), 1);
            assert_eq!(zcard(&index[0]), MAX_ENDED + 1);
            let ended = server.cli(&["zcount", &index[0], "1125899906842624", "+inf"]);
            assert_eq!(ended.unwrap().trim(), MAX_ENDED.to_string());
        }
        let due = keys("*}:dx");
        assert_eq!(due.len(), 1);
        assert_eq!(zcard(&due[0]), 1, "only the live session is due");
    }

    #[tokio::test]
    async fn one_account_logging_in_without_end_stays_bounded_in_session_mode() {
        one_account_logging_in_without_end::<suite::Session>().await;
    }

    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn one_account_logging_in_without_end_stays_bounded_in_jwt_mode() {
        one_account_logging_in_without_end::<suite::Jwt>().await;
    }

    /// A ban's key lives past the ban's end by `PRUNE_GRACE_MS` (its readers compare
    /// the end with their own clocks): a ban set by an instance whose clock is ahead
    /// would otherwise lift early, in real time, for every instance.
    #[tokio::test]
    async fn a_ban_key_outlives_its_end_by_the_grace() {
        use kickout::limits::PRUNE_GRACE_MS;
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let session = Auth::new(store.clone());
        let key = kickout::jwt::JwtKey::hs256(b"suite secret, thirty-two bytes!!");
        let jwt = Auth::builder(store)
            .jwt(kickout::jwt::Jwt::new(key).unwrap())
            .build();
        session.ban("carol", Duration::from_secs(2)).await.unwrap();
        jwt.ban("dave", Duration::from_secs(2)).await.unwrap();
        for user in ["carol", "dave"] {
            let keys = server
                .cli(&["--scan", "--pattern", &format!("*b:{user}")])
                .unwrap();
            let key = keys.lines().next().expect("the ban's key");
            let ttl: u64 = server.cli(&["pttl", key]).unwrap().trim().parse().unwrap();
            assert!(ttl > PRUNE_GRACE_MS, "{key}: {ttl} ms");
            assert!(ttl <= 2_000 + PRUNE_GRACE_MS, "{key}: {ttl} ms");
        }
    }

    #[tokio::test]
    async fn a_restrictions_key_outlives_their_end_by_the_grace() {
        use kickout::limits::PRUNE_GRACE_MS;
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        auth.restrict("erin", "chat", 1, Duration::from_secs(2))
            .await
            .unwrap();
        let keys = server.cli(&["--scan", "--pattern", "*:rs"]).unwrap();
        let key = keys.lines().next().expect("the restrictions' key");
        let ttl: u64 = server.cli(&["pttl", key]).unwrap().trim().parse().unwrap();
        assert!(ttl > PRUNE_GRACE_MS, "{key}: {ttl} ms");
        assert!(ttl <= 2_000 + PRUNE_GRACE_MS, "{key}: {ttl} ms");
    }

    /// A record the scripts pass over as unreadable (here: no creation order), so no
    /// kickout, ban or listing reaches it, opens no request either: 503, not a pass.
    #[tokio::test]
    async fn a_record_the_scripts_cannot_read_opens_no_request() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        let token = auth.login("jo", "web").await.unwrap().token;
        assert!(auth.authenticate(token.as_str()).await.is_ok());
        let keys = server.cli(&["--scan", "--pattern", "*}:s:*"]).unwrap();
        let key = keys.lines().next().expect("the session's record");
        let strip = "local r = cjson.decode(redis.call('GET', KEYS[1])) r.n = nil \
                     return redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')";
        server.cli(&["eval", strip, "1", key]).unwrap();
        let refused = auth.authenticate(token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
    }

    /// JWT mode with an idle timeout: a token's last sight is kept as long as the
    /// session could stay active on it, not just to the token's end (and leeway). A
    /// refresh after the access token's end reads it; gone, the refresh read the
    /// login's time and called an active session idle.
    #[tokio::test]
    async fn a_jwt_sight_lives_as_long_as_the_idle_timeout() {
        use crate::suite::Kind;
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = kickout::clock::ManualClock::starting_now();
        let auth = <crate::suite::Jwt as Kind<_>>::builder(store, &clock)
            .ttl(Duration::from_secs(300))
            .idle_timeout(Duration::from_secs(3600))
            .refresh_tokens(Duration::from_secs(7200))
            .build();
        let login = auth.login("ivy", "phone").await.unwrap();
        // Past the step between two sights.
        clock.advance(Duration::from_secs(90));
        auth.authenticate(login.token.as_str()).await.unwrap();
        let keys = server.cli(&["--scan", "--pattern", "*jl:*"]).unwrap();
        let key = keys.lines().next().expect("the token's last sight");
        let ttl: u64 = server.cli(&["pttl", key]).unwrap().trim().parse().unwrap();
        assert!(ttl > 3_500_000, "{key}: {ttl} ms");
    }

    #[tokio::test]
    async fn keys_hold_no_token_and_all_expire() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::builder(store)
            .login_rule(LoginRule::one_per_device())
            .build();
        let mut tokens = Vec::new();
        for user in ["alice", "bob"] {
            tokens.push(auth.login(user, "web").await.unwrap().token);
            tokens.push(auth.login(user, "web").await.unwrap().token);
        }
        auth.kickout("alice").await.unwrap();
        auth.ban("carol", Duration::from_secs(60)).await.unwrap();
        let keys = server.cli(&["--scan", "--pattern", "*"]).unwrap();
        let keys: Vec<&str> = keys.lines().collect();
        assert!(keys.len() >= 6, "{keys:?}");
        let dump = server.cli(&["--no-raw", "eval", "local o={} for _,k in ipairs(redis.call('keys','*')) do if redis.call('type',k).ok=='hash' then for _,v in ipairs(redis.call('hvals',k)) do table.insert(o,v) end end end return o", "0"]).unwrap();
        for key in &keys {
            assert!(key.starts_with("kickout:{"), "{key}");
            let ttl: i64 = server.cli(&["pttl", key]).unwrap().trim().parse().unwrap();
            assert!(ttl > 0, "{key} has no TTL");
            for t in &tokens {
                assert!(
                    !key.contains(t.as_str()) && !dump.contains(t.as_str()),
                    "token stored"
                );
            }
        }
    }

    /// A Redis that will not say its eviction policy (a managed service refusing
    /// `CONFIG`, here an ACL) is refused as an evicting one, unless the application
    /// opts in: such services commonly evict by default.
    #[tokio::test]
    async fn a_redis_that_hides_its_policy_is_refused_unless_allowed() {
        if !support::redis_available() {
            return;
        }
        let acl = [
            "--user", "default", "on", "nopass", "~*", "&*", "+@all", "-config",
        ];
        let server = support::RedisProcess::start(&acl);
        let refused = RedisStore::connect(&server.url()).await.unwrap_err();
        assert!(
            matches!(refused, kickout::store::StoreError::Misconfigured(_)),
            "{refused}"
        );
        let message = refused.to_string();
        assert!(
            message.contains("could not read maxmemory-policy"),
            "{message}"
        );
        assert!(message.contains("allow_eviction"), "{message}");
        let store = RedisStore::builder(&server.url())
            .allow_eviction()
            .connect()
            .await
            .unwrap();
        let auth = Auth::new(store);
        let token = auth.login("1", "web").await.unwrap().token;
        assert!(auth.authenticate(token.as_str()).await.is_ok());
    }

    /// A Redis that may evict keys could drop bans and tombstones: refused at connect,
    /// unless the application opts in.
    #[tokio::test]
    async fn an_evicting_redis_is_refused_unless_allowed() {
        if !support::redis_available() {
            return;
        }
        let server = support::RedisProcess::start(&["--maxmemory-policy", "allkeys-lru"]);
        let refused = RedisStore::connect(&server.url()).await.unwrap_err();
        assert!(
            matches!(refused, kickout::store::StoreError::Misconfigured(_)),
            "{refused}"
        );
        assert!(refused.to_string().contains("allkeys-lru"), "{refused}");
        assert!(
            RedisStore::builder(&server.url())
                .allow_eviction()
                .connect()
                .await
                .is_ok()
        );
        // A server that is down is not refused: its requests get 503 until it is up,
        // and then the check is made. Evicting, it fails every operation, as `connect`
        // would have.
        let port = server.port;
        drop(server);
        for (policy, works) in [("allkeys-lru", false), ("noeviction", true)] {
            let url = format!("redis://127.0.0.1:{port}");
            let auth = Auth::new(RedisStore::connect(&url).await.unwrap());
            assert!(auth.login("1", "web").await.is_err());
            let _server = support::RedisProcess::start_on(port, &["--maxmemory-policy", policy]);
            let started = std::time::Instant::now();
            let settled = loop {
                let login = auth.login("1", "web").await;
                let refused = matches!(
                    &login,
                    Err(kickout::Error::Store(kickout::store::StoreError::Misconfigured(m)))
                        if m.contains("allkeys-lru")
                );
                if started.elapsed() > Duration::from_secs(4) || refused {
                    break login;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert_eq!(settled.is_ok(), works, "{policy}: {:?}", settled.err());
            if !works {
                let kicked = auth.kickout("1").await;
                assert!(kicked.is_err(), "{policy}");
            }
        }
    }

    /// JWT mode on `store`, on the wall clock.
    #[cfg(feature = "jwt")]
    fn jwt_mode(store: RedisStore) -> kickout::AuthBuilder<RedisStore, kickout::jwt::Jwt> {
        Auth::builder(store).jwt(
            kickout::jwt::Jwt::new(kickout::jwt::JwtKey::hs256(
                b"a secret of thirty-two bytes!!!!",
            ))
            .unwrap(),
        )
    }

    /// 10,000 re-logins on ever new device names (each a device generation bump) keep
    /// the state a request reads within a stated size, and a request's cost flat.
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn device_churn_keeps_the_jwt_state_bounded() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = jwt_mode(store)
            .login_rule(LoginRule::one_per_device())
            .build();
        let app = suite::app(&auth);
        let first = auth.login("1", "d0").await.unwrap().token;
        let mut last = first.clone();
        let mut largest = 0usize;
        for i in 0..10_000 {
            let device = format!("d{i}");
            auth.login("1", &device).await.unwrap();
            last = auth.login("1", &device).await.unwrap().token;
            if i % 500 == 0 {
                let key = server.cli(&["--scan", "--pattern", "*}:j:1"]).unwrap();
                let len: usize = server
                    .cli(&["strlen", key.trim()])
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                largest = largest.max(len);
            }
        }
        // 64 devices with a bump or two each, plus the user's bumps: a few kilobytes.
        assert!(largest < 16 * 1024, "the state grew to {largest} bytes");
        assert_eq!(
            suite::me(&app, first.as_str()).await,
            suite::err(Reason::Replaced)
        );
        assert_eq!(suite::me(&app, last.as_str()).await, Ok("1:d9999".into()));
    }

    /// A JWT state rolled back (a failover that lost a kickout and a login after it):
    /// the login's token is refused, and the next kickout, reported done, ends it —
    /// neither counts from the rolled-back generation. A refresh token of the lost
    /// login is refused too.
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn a_rolled_back_jwt_state_lets_no_later_token_through() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = kickout::clock::ManualClock::starting_now();
        let auth = jwt_mode(store)
            .clock(clock.clone())
            .refresh_tokens(Duration::from_secs(3_600))
            .build();
        let app = suite::app(&auth);
        for device_level in [false, true] {
            let user = if device_level { "rb2" } else { "rb1" };
            auth.login(user, "web").await.unwrap();
            let keys = server.cli(&["keys", &format!("*:j:{user}")]).unwrap();
            let key = keys.trim().to_owned();
            let saved = server.cli(&["get", &key]).unwrap();
            clock.advance(Duration::from_secs(1));
            if device_level {
                auth.kickout_device(user, "web").await.unwrap();
            } else {
                auth.kickout(user).await.unwrap();
            }
            clock.advance(Duration::from_secs(1));
            let later = auth.login(user, "web").await.unwrap();
            assert_eq!(
                suite::me(&app, later.token.as_str()).await,
                Ok(format!("{user}:web"))
            );
            // The failover: the state as it was before the kickout.
            server.cli(&["set", &key, saved.trim()]).unwrap();
            assert_eq!(
                suite::me(&app, later.token.as_str()).await,
                suite::err(Reason::InvalidToken),
                "device level {device_level}"
            );
            let refresh = later.refresh.as_ref().unwrap();
            assert!(auth.refresh(refresh.token.as_str()).await.is_err());
            // The next end, reported done, ends it, with its own reason.
            clock.advance(Duration::from_secs(1));
            let reason = if device_level {
                auth.kickout_device(user, "web").await.unwrap();
                Reason::KickedOut
            } else {
                auth.ban(user, Duration::from_secs(60)).await.unwrap();
                Reason::Banned
            };
            assert_eq!(
                suite::me(&app, later.token.as_str()).await,
                suite::err(reason),
                "device level {device_level}"
            );
        }
    }

    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn a_lost_jwt_state_never_revives_tokens() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = jwt_mode(store).build();
        let app = suite::app(&auth);
        let kicked = auth.login("1", "web").await.unwrap().token;
        auth.kickout("1").await.unwrap();
        // Redis loses everything (a restart without persistence, an eviction).
        server.cli(&["flushall"]).unwrap();
        assert_eq!(
            suite::me(&app, kicked.as_str()).await,
            suite::err(Reason::InvalidToken)
        );
        // A new login starts a new state: the generations restart, the old token does not.
        let fresh = auth.login("1", "web").await.unwrap().token;
        assert_eq!(suite::me(&app, fresh.as_str()).await, Ok("1:web".into()));
        assert_eq!(
            suite::me(&app, kicked.as_str()).await,
            suite::err(Reason::InvalidToken)
        );
    }

    /// A JWT token's own entry that is neither an entry nor a user's name is corrupt:
    /// ending the token by it fails (503), not "nothing to end" while the token lives.
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn an_unreadable_token_entry_fails_its_logout() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = jwt_mode(store).build();
        let long = "x".repeat(kickout::limits::MAX_NAME_LEN + 1);
        for garbage in ["", "tab\there", long.as_str()] {
            let login = auth.login("1", "web").await.unwrap();
            let keys = server.cli(&["keys", "*:jt:*"]).unwrap();
            let key = keys.lines().next().unwrap().to_owned();
            server.cli(&["set", &key, garbage]).unwrap();
            assert!(
                auth.logout(login.token.as_str()).await.is_err(),
                "{garbage:?}"
            );
            assert!(
                auth.kickout_session(login.session.session_id)
                    .await
                    .is_err(),
                "{garbage:?}"
            );
            assert!(auth.authenticate(login.token.as_str()).await.is_ok());
            server.cli(&["del", &key]).unwrap();
            auth.kickout("1").await.unwrap();
        }
    }

    /// A user's JWT records that do not decode do not stop a ban. An index that does
    /// not decode goes (the ban's bump ends every token): the ban is done. A state that
    /// does not decode fails the ban (503: not reported done), but the ban stands all
    /// the same, set before any record is read: logins are refused, the user's session
    /// tokens answer `banned` and their JWTs 503, as every request of that state does.
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn an_unreadable_jwt_state_fails_a_ban_that_still_stands() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let sessions = Auth::new(store.clone());
        let jwts = jwt_mode(store).build();
        for (n, (kind, garbage)) in [
            ("j", "{not json"),
            ("ji", "{not json"),
            ("ji", "5"),
            ("ji", r#"{"a":5}"#),
            ("ji", r#"{"a":{}}"#),
        ]
        .into_iter()
        .enumerate()
        {
            let user = format!("banned{n}");
            let session = sessions.login(&user, "web").await.unwrap().token;
            let jwt = jwts.login(&user, "phone").await.unwrap().token;
            let tag = kickout::store::user_tag(&user);
            let key = format!("kickout:{{{tag:04x}}}:{kind}:{user}");
            server.cli(&["set", &key, garbage]).unwrap();
            let banned = sessions.ban(&user, Duration::from_secs(60)).await;
            assert_eq!(banned.is_ok(), kind == "ji", "{kind}: {banned:?}");
            let refused = sessions.authenticate(session.as_str()).await.err();
            assert_eq!(refused.map(|r| r.reason()), Some(Reason::Banned), "{kind}");
            let refused = jwts.authenticate(jwt.as_str()).await.err();
            let want = if kind == "j" {
                Reason::StoreUnavailable
            } else {
                Reason::Banned
            };
            assert_eq!(refused.map(|r| r.reason()), Some(want), "{kind}");
            assert!(
                matches!(
                    sessions.login(&user, "web").await,
                    Err(kickout::Error::Banned { .. })
                ),
                "{kind}"
            );
            server.cli(&["del", &key]).unwrap();
        }
    }

    /// An index entry whose idle timeout does not read stops no ban halfway: the ban's
    /// script reads it as an entry without one, and its bump ends the token.
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn an_unreadable_idle_timeout_stops_no_ban() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let jwts = jwt_mode(store).build();
        let jwt = jwts.login("banned", "phone").await.unwrap().token;
        let tag = kickout::store::user_tag("banned");
        let key = format!("kickout:{{{tag:04x}}}:ji:banned");
        let stored = server.cli(&["get", &key]).unwrap();
        let mut index: serde_json::Value = serde_json::from_str(&stored).unwrap();
        for entry in index.as_object_mut().unwrap().values_mut() {
            entry["k"] = "x".into();
        }
        server.cli(&["set", &key, &index.to_string()]).unwrap();
        assert_eq!(
            jwts.ban("banned", Duration::from_secs(60)).await.unwrap(),
            1
        );
        let refused = jwts.authenticate(jwt.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Banned);
    }

    /// A token ended while live keeps its end's reason once its last sight's key is
    /// gone (it lives only so long): the login's time is no sight, and would make the
    /// token look idle before its end. An idle one's sight an end pins (the suite).
    #[cfg(feature = "jwt")]
    #[tokio::test]
    async fn a_lapsed_sight_leaves_an_end_its_reason() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = suite::clock();
        let jwts = jwt_mode(store)
            .clock(clock.clone())
            .idle_timeout(Duration::from_secs(60))
            .ttl(Duration::from_secs(3_600))
            .refresh_tokens(Duration::from_secs(7_200))
            .build();
        let login = jwts.login("lapsed", "web").await.unwrap();
        clock.advance(Duration::from_secs(50));
        jwts.authenticate(login.token.as_str()).await.unwrap();
        clock.advance(Duration::from_secs(50));
        assert_eq!(jwts.kickout("lapsed").await.unwrap(), 1, "live");
        let tag = kickout::store::user_tag("lapsed");
        let jti = login.session.session_id.jti();
        let key = format!("kickout:{{{tag:04x}}}:jl:{jti}");
        assert!(server.cli(&["del", &key]).unwrap().contains('1'));
        let refused = jwts.authenticate(login.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::KickedOut);
        let refresh = login.refresh.as_ref().unwrap().token.as_str();
        let refused = jwts.refresh(refresh).await.unwrap_err();
        assert_eq!(refused.reason(), Some(Reason::KickedOut));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_that_stops_answering_gets_503_within_the_timeout() {
        if !support::redis_available() {
            return;
        }
        let server = support::RedisProcess::start(&[]);
        let timeout = Duration::from_millis(300);
        let store = RedisStore::builder(&server.url())
            .timeout(timeout)
            .connect()
            .await
            .unwrap();
        let auth = Auth::new(store);
        let app = suite::app(&auth);
        let token = auth.login("1", "web").await.unwrap().token;
        assert_eq!(suite::me(&app, token.as_str()).await, Ok("1:web".into()));
        // Frozen: the connection stays open, no answer comes. Each request ends at the
        // store's timeout (the outer bound only keeps a failing test from hanging).
        server.pause();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let answer =
                tokio::time::timeout(Duration::from_secs(5), suite::me(&app, token.as_str()))
                    .await
                    .expect("a request waited for a Redis that does not answer");
            assert_eq!(answer, suite::err(Reason::StoreUnavailable));
            assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
        }
        let login = tokio::time::timeout(Duration::from_secs(5), auth.login("2", "web")).await;
        assert!(matches!(login, Ok(Err(_))), "{login:?}");
        // Answering again: the same connection serves requests, no restart needed.
        server.resume();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while suite::me(&app, token.as_str()).await != Ok("1:web".into()) {
            assert!(std::time::Instant::now() < deadline, "no recovery");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A Redis behind a proxy that can hold its replies, and a store on it whose
    /// timeout is two seconds (a round trip held 1.2 s fits with 0.8 s to spare on a loaded
    /// machine; two do not).
    async fn behind_a_slow_proxy() -> Option<(support::RedisProcess, support::SlowProxy, RedisStore)>
    {
        if !support::redis_available() {
            return None;
        }
        let server = support::RedisProcess::start(&[]);
        let proxy = support::SlowProxy::start(server.port).await;
        let store = RedisStore::builder(&proxy.url())
            .timeout(Duration::from_millis(2_000))
            .connect()
            .await
            .unwrap();
        Some((server, proxy, store))
    }

    /// With each reply held 1.2 s, a check of `token` whose request makes two calls
    /// (2.4 s) is refused as unavailable at the store's two-second timeout: not
    /// answered after 2.4 s.
    async fn two_calls_get_one_timeout<M: kickout::Mode<RedisStore>>(
        auth: &Auth<RedisStore, M>,
        proxy: &support::SlowProxy,
        token: &str,
    ) {
        proxy.set_delay(Duration::from_millis(1_200));
        let started = std::time::Instant::now();
        let refused = auth.authenticate(token).await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
        // At the budget's end (timers never fire early), long before a second call's own.
        assert!(waited >= Duration::from_millis(1_950), "{waited:?}");
        assert!(waited < Duration::from_millis(4_000), "{waited:?}");
        proxy.set_delay(Duration::ZERO);
        // What the proxy still holds, so the next check starts on a quiet connection.
        tokio::time::sleep(Duration::from_millis(1_600)).await;
    }

    /// A read and the renewal it makes due are one request: on a slow network the two
    /// together get the store's timeout, not one each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_and_its_renewal_share_one_timeout() {
        let Some((_server, proxy, store)) = behind_a_slow_proxy().await else {
            return;
        };
        let clock = kickout::clock::ManualClock::starting_now();
        let auth = Auth::builder(store)
            .clock(clock.clone())
            .idle_timeout(Duration::from_secs(600))
            .build();
        let token = auth.login("slow", "web").await.unwrap().token;
        // A first renewal loads its script, so the next is one round trip.
        clock.advance(Duration::from_secs(120));
        assert!(auth.authenticate(token.as_str()).await.is_ok());
        // The next request renews the idle deadline again: refused, not a pass after
        // 2.4 s.
        clock.advance(Duration::from_secs(120));
        two_calls_get_one_timeout(&auth, &proxy, token.as_str()).await;
        // One round trip fits: with the renewal behind it, the same token passes.
        assert!(auth.authenticate(token.as_str()).await.is_ok());
        proxy.set_delay(Duration::from_millis(1_200));
        assert!(auth.authenticate(token.as_str()).await.is_ok());
    }

    /// The refusal of a banned user's session reads the ban's end after the session:
    /// the two reads share the request's timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_banned_sessions_read_and_its_ban_read_share_one_timeout() {
        let Some((_server, proxy, store)) = behind_a_slow_proxy().await else {
            return;
        };
        let auth = Auth::new(store);
        let token = auth.login("slow", "web").await.unwrap().token;
        auth.ban("slow", Duration::from_secs(3_600)).await.unwrap();
        // Refused as unavailable, not as banned after 2.4 s.
        two_calls_get_one_timeout(&auth, &proxy, token.as_str()).await;
        let refused = auth.authenticate(token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Banned);
    }

    /// After a failover that leaves the old server's address silent (no reset, as a
    /// host gone from the network), the store's connection still looks open and the
    /// client never reconnects on its own. A connection that let a command time out is
    /// replaced, so the store is back after a timeout or two (before, every request
    /// went on failing on it until the kernel gave up, many minutes later).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_that_timed_out_is_replaced() {
        let Some((_server, proxy, store)) = behind_a_slow_proxy().await else {
            return;
        };
        super::answers_again_after(store, || proxy.silence_existing(), 3).await;
    }

    /// The look at a connection that timed out runs as a task: one whose runtime ended
    /// before it ran (a request on a runtime shut down right after) must not leave the
    /// connection marked as being looked at, which would stop every later look.
    #[test]
    fn a_look_its_runtime_dropped_does_not_stop_the_next() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let Some((_server, proxy, store)) = runtime.block_on(behind_a_slow_proxy()) else {
            return;
        };
        let auth = Auth::new(store);
        let token = runtime.block_on(async {
            let token = auth.login("dropped", "web").await.unwrap().token;
            // The login's audit event goes out in the background: let it, so the first
            // timeout is the one below.
            tokio::time::sleep(Duration::from_millis(300)).await;
            token
        });
        proxy.silence_existing();
        // One thread, never idle until the timeout answers: its look never runs.
        let brief = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(brief.block_on(auth.kickout("dropped")).is_err());
        drop(brief);
        runtime.block_on(async {
            let mut refused = 0;
            while auth.logout(token.as_str()).await.is_err() {
                refused += 1;
                assert!(refused <= 3, "still refused after {refused} timeouts");
            }
        });
    }

    /// A server slow but alive is not a silent one: after a command timed out, its
    /// connection is looked at, and a replacement (if any) connects before it serves, so
    /// requests that fit in the timeout pass again rather than each paying a new
    /// connection's setup and timing out on and on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_server_does_not_keep_its_connection_replaced() {
        let Some((_server, proxy, store)) = behind_a_slow_proxy().await else {
            return;
        };
        let auth = Auth::new(store);
        let token = auth.login("slow", "web").await.unwrap().token;
        proxy.set_delay(Duration::from_millis(2_400));
        let refused = auth.authenticate(token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::StoreUnavailable);
        // Slow, within the timeout: one round trip of 1.2 s.
        proxy.set_delay(Duration::from_millis(1_200));
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        let mut passed = 0;
        for _ in 0..8 {
            match auth.authenticate(token.as_str()).await {
                Ok(_) => passed += 1,
                Err(refusal) => assert_eq!(refusal.reason(), Reason::StoreUnavailable),
            }
        }
        assert!(passed >= 6, "{passed} of 8 passed");
    }

    /// JWT mode with an idle timeout writes a token's sighting after reading its state:
    /// the write gets what the read left of the request's timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jwt_read_and_its_sighting_share_one_timeout() {
        use suite::Kind;
        let Some((_server, proxy, store)) = behind_a_slow_proxy().await else {
            return;
        };
        let clock = kickout::clock::ManualClock::starting_now();
        let auth = suite::Jwt::builder(store, &clock)
            .idle_timeout(Duration::from_secs(600))
            .build();
        let token = auth.login("slow", "web").await.unwrap().token;
        // A sighting is due: refused, not a pass after 2.4 s.
        clock.advance(Duration::from_secs(120));
        two_calls_get_one_timeout(&auth, &proxy, token.as_str()).await;
        // One round trip fits: with the sighting written, the same token passes.
        assert!(auth.authenticate(token.as_str()).await.is_ok());
        proxy.set_delay(Duration::from_millis(1_200));
        assert!(auth.authenticate(token.as_str()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_going_away_answers_503_quickly_and_recovery_needs_no_restart() {
        let Some((mut server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        let app = suite::app(&auth);
        let token = auth.login("1", "web").await.unwrap().token;
        let traffic = {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let mut seen = std::collections::BTreeMap::<String, u32>::new();
                for _ in 0..300 {
                    let answer = suite::me(&app, token.as_str()).await;
                    *seen.entry(format!("{answer:?}")).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let port = server.port;
        server.kill();
        // While Redis is away: 503 within the timeout, never 200, never a hang.
        for _ in 0..5 {
            let started = std::time::Instant::now();
            assert_eq!(
                suite::me(&app, token.as_str()).await,
                suite::err(Reason::StoreUnavailable)
            );
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
        }
        assert!(auth.login("1", "web").await.is_err());
        assert!(auth.kickout("1").await.is_err());
        // Back (empty, as after a crash without persistence): requests are answered again.
        let _restarted = support::RedisProcess::start_on(port, &[]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let fresh = loop {
            match auth.login("2", "web").await {
                Ok(login) => break login.token,
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("no recovery: {e}"),
            }
        };
        assert_eq!(suite::me(&app, fresh.as_str()).await, Ok("2:web".into()));
        let seen = traffic.await.unwrap();
        assert!(
            seen.keys().all(|k| k.contains("2:web")
                || k.contains("1:web")
                || k.contains("store_unavailable")
                || k.contains("invalid_token")),
            "{seen:?}"
        );
        drop(server);
    }

    #[tokio::test]
    async fn lost_or_corrupt_metadata_never_touches_validation() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        let options = kickout::LoginOptions::new().label("phone");
        let a = auth
            .login_with("m1", "phone", options.clone())
            .await
            .unwrap();
        let b = auth.login_with("m2", "phone", options).await.unwrap();
        let meta_key = |id: kickout::SessionId| {
            let keys = server.cli(&["keys", "*:m:*"]).unwrap();
            keys.lines()
                .find(|k| k.ends_with(&id.to_string()))
                .unwrap()
                .to_owned()
        };
        // Lost: listed without it.
        server
            .cli(&["del", &meta_key(a.session.session_id)])
            .unwrap();
        let list = auth.sessions("m1").await.unwrap();
        assert!(list[0].meta.is_empty());
        // Corrupt: the listing says so; requests never read it.
        server
            .cli(&["set", &meta_key(b.session.session_id), "{not json"])
            .unwrap();
        assert!(matches!(
            auth.sessions("m2").await,
            Err(kickout::Error::Store(kickout::store::StoreError::Corrupt(
                _
            )))
        ));
        assert!(auth.authenticate(b.token.as_str()).await.is_ok());
    }

    /// A session record the scripts would read as ended but a plain reading as live (an
    /// end without its reason, a `null` field) is corrupt: 503, never a pass — the
    /// scripts could not end it again.
    #[tokio::test]
    async fn a_record_neither_live_nor_ended_is_refused() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        use serde_json::json;
        let auth = Auth::new(store);
        for (user, field) in [
            ("x1", json!({"x": ""})),
            ("x2", json!({"x": null})),
            ("x3", json!({"l": null})),
            ("x4", json!({"ae": null})),
        ] {
            let login = auth.login(user, "web").await.unwrap();
            let pattern = format!("*:s:{}", login.session.session_id);
            let key = server.cli(&["keys", &pattern]).unwrap().trim().to_owned();
            let mut record: serde_json::Value =
                serde_json::from_str(server.cli(&["get", &key]).unwrap().trim()).unwrap();
            for (name, value) in field.as_object().unwrap() {
                record[name] = value.clone();
            }
            server
                .cli(&["set", &key, &record.to_string(), "keepttl"])
                .unwrap();
            let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
            assert_eq!(refused.reason(), Reason::StoreUnavailable, "{field}");
        }
    }

    /// A session record that does not read stops no write of its user (see the case).
    #[tokio::test]
    async fn a_record_that_does_not_read_stops_no_revocation_of_its_user() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let garbage = ["{not json", "[1,2]", r#"{"u":"y0"}"#, r#"{"e":"soon"}"#];
        suite::a_record_that_does_not_read_stops_no_revocation(store, &garbage, |id, text| {
            let key = server.cli(&["keys", &format!("*:s:{id}")]).unwrap();
            server.cli(&["set", key.trim(), text, "keepttl"]).unwrap();
            std::future::ready(())
        })
        .await;
    }

    /// A tag's restrictions that do not decode are never written over: a write would
    /// drop every other user's restrictions of the tag, and their guards would pass.
    #[tokio::test]
    async fn restrictions_that_do_not_decode_are_not_written_over() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        let hour = Duration::from_secs(3_600);
        auth.restrict("r1", "content", 2, hour).await.unwrap();
        let key = server.cli(&["keys", "*:rs"]).unwrap();
        let key = key.lines().next().unwrap().to_owned();
        for garbage in ["{not json", "[1,2]", "\"text\""] {
            server.cli(&["set", &key, garbage]).unwrap();
            assert!(
                auth.restrict("r1", "chat", 1, hour).await.is_err(),
                "{garbage}"
            );
            assert!(auth.unrestrict("r1", "content").await.is_err(), "{garbage}");
            assert_eq!(server.cli(&["get", &key]).unwrap().trim(), garbage);
            assert!(auth.restrictions("r1").await.is_err(), "{garbage}");
        }
    }

    /// A message on the revocation channel that the feed cannot read (a newer
    /// version's reason, a damaged one) may have ended sessions: a near cache reads
    /// everything again rather than go on serving what it holds.
    #[tokio::test]
    async fn an_unreadable_revocation_message_empties_the_near_cache() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(kickout::store::NearCache::new(
            store,
            Duration::from_secs(60),
        ));
        let login = auth.login("f1", "web").await.unwrap();
        let id = login.session.session_id;
        // The first request makes the cache follow the feed; the next ones are cached.
        for _ in 0..3 {
            auth.authenticate(login.token.as_str()).await.unwrap();
        }
        // Ended in Redis without a message (as a newer instance's script might).
        let key = server.cli(&["keys", &format!("*:s:{id}")]).unwrap();
        let key = key.trim();
        let mut record: serde_json::Value =
            serde_json::from_str(server.cli(&["get", key]).unwrap().trim()).unwrap();
        record["x"] = "k".into();
        record["a"] = "1".into();
        server
            .cli(&["set", key, &record.to_string(), "keepttl"])
            .unwrap();
        assert!(
            auth.authenticate(login.token.as_str()).await.is_ok(),
            "served from the near cache"
        );
        server
            .cli(&["publish", "kickout:revoked", &format!("s|q|{id}")])
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match auth.authenticate(login.token.as_str()).await {
                Err(refused) => {
                    assert_eq!(refused.reason(), Reason::KickedOut);
                    break;
                }
                Ok(_) => assert!(
                    std::time::Instant::now() < deadline,
                    "still served after 5 s"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_bump_that_lists_nothing_still_empties_other_caches() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_bump_that_lists_nothing_still_empties_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_renewal_elsewhere_outlives_a_cached_end() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_renewal_elsewhere_outlives_a_cached_end(store).await;
    }

    #[tokio::test]
    async fn a_replacing_login_announces_a_change_only_with_a_bump() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_replacing_login_announces_a_change_only_with_a_bump(store).await;
    }

    #[tokio::test]
    async fn an_end_over_for_its_writer_reaches_other_caches() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::an_end_over_for_its_writer_reaches_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_reuse_over_for_its_writer_reaches_other_caches() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_reuse_over_for_its_writer_reaches_other_caches::<_, suite::Session>(store.clone())
            .await;
        suite::a_reuse_over_for_its_writer_reaches_other_caches::<_, suite::Jwt>(store).await;
    }

    #[tokio::test]
    async fn a_lift_over_for_its_writer_reaches_other_caches() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_lift_over_for_its_writer_reaches_other_caches(store).await;
    }

    #[tokio::test]
    async fn a_refresh_is_announced_to_other_caches() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        suite::a_refresh_is_announced_to_other_caches(store).await;
    }

    #[tokio::test]
    async fn an_outage_logs_one_line_per_interval_not_one_per_request() {
        // Nothing listens on port 1: every store call fails at once.
        let store = RedisStore::connect("redis://127.0.0.1:1").await.unwrap();
        let clock = suite::clock();
        let auth = Auth::builder(store).clock(clock.clone()).build();
        let app = suite::app(&auth);
        let token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let count = |text: &str| text.matches("session store unavailable").count();
        let ((), text) = support::logged(async {
            for _ in 0..20 {
                assert_eq!(
                    suite::me(&app, token).await,
                    suite::err(Reason::StoreUnavailable)
                );
            }
        })
        .await;
        assert_eq!(count(&text), 1, "{text}");
        // An interval later, the next refusal reports again: the 19 held back, and itself.
        let ((), text) = support::logged(async {
            clock.advance(Duration::from_secs(10));
            for _ in 0..3 {
                let _ = auth.authenticate(token).await;
            }
        })
        .await;
        assert_eq!(count(&text), 1, "{text}");
        assert!(text.contains("refused=20"), "{text}");
    }

    #[tokio::test]
    async fn after_a_redis_restart_the_first_request_on_an_idle_instance_succeeds() {
        if !support::redis_available() {
            return;
        }
        // Persistence on, so the sessions outlive the restart.
        let dir = std::env::temp_dir().join(format!("kickout-aof-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_arg = dir.to_string_lossy().into_owned();
        let args = [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &dir_arg,
        ];
        let mut server = support::RedisProcess::start(&args);
        let url = server.url();
        let instances = [
            Auth::new(RedisStore::connect(&url).await.unwrap()),
            Auth::new(RedisStore::connect(&url).await.unwrap()),
        ];
        let token = instances[0].login("1", "web").await.unwrap().token;
        for auth in &instances {
            assert!(auth.authenticate(token.as_str()).await.is_ok());
        }
        let port = server.port;
        server.kill();
        let _restarted = support::RedisProcess::start_on(port, &args);
        // Each idle instance's connection died with the server: the first request must
        // not pay for finding out.
        for auth in &instances {
            let me = auth.authenticate(token.as_str()).await;
            assert!(me.is_ok(), "{:?}", me.err().map(|e| e.reason()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_wrong_url_or_prefix_is_a_configuration_error() {
        use kickout::store::StoreError;
        for url in ["http://127.0.0.1:6379", "redis://127.0.0.1:notaport", ""] {
            let store = RedisStore::connect(url).await;
            assert!(
                matches!(store, Err(StoreError::Misconfigured(_))),
                "{url}: {store:?}"
            );
        }
        let store = RedisStore::builder("redis://127.0.0.1:1")
            .prefix("app{1}:")
            .connect()
            .await;
        assert!(
            matches!(store, Err(StoreError::Misconfigured(_))),
            "{store:?}"
        );
    }
}

/// The tag's directory on a real Redis, with real expiry (Redis TTLs count in its own
/// time): what renews a session keeps it listed, and what expires leaves with no walk.
mod directory_upkeep {
    use std::time::Duration;

    use kickout::store::RedisStore;
    use kickout::{Auth, LoginOptions};
    use sha2::{Digest, Sha256};

    use super::support;

    fn user_tag(user: &str) -> u16 {
        let d = Sha256::digest(user.as_bytes());
        u16::from_be_bytes([d[0], d[1]])
    }

    /// A user id of slot tag `tag`.
    fn user_of_tag(tag: u16, stem: &str) -> String {
        (0u64..)
            .map(|n| format!("{stem}{n}"))
            .find(|u| user_tag(u) == tag)
            .unwrap()
    }

    fn zcard(server: &support::RedisProcess, key: &str) -> usize {
        server.cli(&["ZCARD", key]).unwrap().trim().parse().unwrap()
    }

    /// Two first logins of one slot tag at once, while the tag set cannot be written:
    /// no login creates a session before its tag is in the set (the second used to go
    /// ahead while the first was still writing it, and the first then failed), so the
    /// incident switch finds every session a login answered for.
    #[tokio::test]
    async fn no_login_goes_ahead_of_its_tag_in_the_directory() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth: Auth<RedisStore> = Auth::new(store);
        // The wrong type: ZADD fails.
        server.cli(&["SET", "kickout:{dt}", "x"]).unwrap();
        let (a, b) = tokio::join!(auth.login("u", "a"), auth.login("u", "b"));
        server.cli(&["DEL", "kickout:{dt}"]).unwrap();
        let answered: Vec<_> = [a, b].into_iter().filter_map(Result::ok).collect();
        // A user of another tag: a later login of this one would put the tag back.
        assert_ne!(user_tag("u"), user_tag("v"));
        let later = auth.login("v", "c").await.unwrap();
        assert_eq!(auth.kickout_all().await.unwrap(), answered.len() + 1);
        for login in answered.iter().chain([&later]) {
            let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
            assert_eq!(refused.reason(), kickout::Reason::KickedOut);
        }
    }

    #[tokio::test]
    async fn a_renewed_session_stays_in_the_directory() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        // Real time (the Lua reads the keys' TTLs): margins of 1.5 s or more each way.
        let auth: Auth<RedisStore> = Auth::builder(store)
            .ttl(Duration::from_secs(4))
            .expired_retention(Duration::ZERO)
            .build();
        let login = auth.login("renewed", "web").await.unwrap();
        let tag = login.session.session_id.tag();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        auth.renew(login.token.as_str()).await.unwrap();
        // Past the login's end plus retention: only the renewal keeps it.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(auth.authenticate(login.token.as_str()).await.is_ok());
        let dir = format!("kickout:{{{tag:04x}}}:d");
        assert_eq!(zcard(&server, &dir), 1, "still listed");
        let page = auth.online(None, 10, None).await.unwrap();
        assert_eq!(page.sessions.len(), 1);
        assert_eq!(auth.online_count().await.unwrap().sessions, 1);
        assert_eq!(auth.kickout_all().await.unwrap(), 1, "the switch finds it");
        assert!(auth.authenticate(login.token.as_str()).await.is_err());
    }

    #[tokio::test]
    async fn expired_sessions_leave_the_directory_as_logins_go_on() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth: Auth<RedisStore> = Auth::builder(store)
            .ttl(Duration::from_secs(1))
            .expired_retention(Duration::ZERO)
            .build();
        // A busy tag: another user of it keeps logging in, so its directory never
        // expires as a whole.
        let tag = user_tag("gone");
        let keeper = user_of_tag(tag, "keeper");
        let long = LoginOptions::new().ttl(Duration::from_secs(60));
        auth.login_with(&keeper, "k", long.clone()).await.unwrap();
        // One account's 200 sessions that expire on their own: its index expires with
        // them, so only a sweep can find their directory entries.
        for i in 0..200 {
            auth.login("gone", &format!("d{i}")).await.unwrap();
        }
        let (dir, due) = (
            format!("kickout:{{{tag:04x}}}:d"),
            format!("kickout:{{{tag:04x}}}:dx"),
        );
        assert_eq!(zcard(&server, &dir), 201);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The keeper goes on logging in; nobody walks the directory.
        for i in 0..30 {
            auth.login_with(&keeper, &format!("k{i}"), long.clone())
                .await
                .unwrap();
        }
        assert_eq!(zcard(&server, &dir), 31, "only the live sessions are left");
        assert_eq!(zcard(&server, &due), 31);
        assert_eq!(auth.online_count().await.unwrap().sessions, 31);
    }

    /// JWT mode: a token's directory entry goes once its `jt:` key is gone (its expiry
    /// plus `PRUNE_GRACE_MS`, in Redis time: emulated here by expiring the keys early).
    #[tokio::test]
    async fn expired_tokens_leave_the_directory_as_logins_go_on() {
        use crate::suite::{self, Kind};
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = suite::clock();
        let auth = <suite::Jwt as Kind<RedisStore>>::builder(store, &clock)
            .ttl(Duration::from_secs(1))
            .build();
        let tag = user_tag("gone");
        let keeper = user_of_tag(tag, "keeper");
        let long = LoginOptions::new().ttl(Duration::from_secs(3600));
        auth.login_with(&keeper, "k", long.clone()).await.unwrap();
        let mut gone = Vec::new();
        for i in 0..50 {
            let login = auth.login("gone", &format!("d{i}")).await.unwrap();
            gone.push(login.session.session_id.jti());
        }
        let dir = format!("kickout:{{{tag:04x}}}:d");
        assert_eq!(zcard(&server, &dir), 51);
        // Past their expiry plus the grace their index entries and `jt:` keys keep.
        clock.advance(Duration::from_millis(
            kickout::limits::PRUNE_GRACE_MS + 60_000,
        ));
        for jti in &gone {
            server.cli(&["PEXPIRE", &format!("kickout:{{{tag:04x}}}:jt:{jti}"), "1"]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..10 {
            auth.login_with(&keeper, &format!("k{i}"), long.clone())
                .await
                .unwrap();
        }
        assert_eq!(zcard(&server, &dir), 11, "only the live tokens are left");
    }

    /// JWT mode: a page reads each listed token's own entry, never its user's whole
    /// index (up to 1,024 entries): the index is left untouched (its idle time grows).
    #[tokio::test]
    async fn a_jwt_page_never_reads_a_users_index() {
        use crate::suite::{self, Kind};
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let clock = suite::clock();
        let auth = <suite::Jwt as Kind<RedisStore>>::builder(store, &clock).build();
        let mut jtis = Vec::new();
        for i in 0..300 {
            let login = auth.login("big", &format!("d{i}")).await.unwrap();
            jtis.push(login.session.session_id.jti());
        }
        let tag = user_tag("big");
        let index = format!("kickout:{{{tag:04x}}}:ji:big");
        let idle = |key: &str| -> u64 {
            server
                .cli(&["OBJECT", "IDLETIME", key])
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let page = auth.online(None, 50, None).await.unwrap();
        assert_eq!(page.sessions.len(), 50);
        assert!(page.sessions.iter().all(|s| &*s.info.user_id == "big"));
        // Idle for two seconds before the page; a read would make it 0 (Redis counts
        // idle time in whole seconds from a clock it updates between commands).
        assert!(idle(&index) >= 1, "the page read the user's index");
        // An entry written by an earlier version names only its user: still listed.
        let old = format!("kickout:{{{tag:04x}}}:jt:{}", jtis[0]);
        server.cli(&["SET", &old, "big", "KEEPTTL"]).unwrap();
        // Every page, 100 at a time: how many sessions they list.
        let listed = || async {
            let (mut listed, mut cursor) = (0, None);
            loop {
                let page = auth.online(cursor.as_deref(), 100, None).await.unwrap();
                listed += page.sessions.len();
                match page.next {
                    Some(next) => cursor = Some(next.to_string()),
                    None => return listed,
                }
            }
        };
        assert_eq!(listed().await, 300);
        // One that does not read at all fails the pages, naming its key: left out, the
        // incident switch would miss its user (here with one session) and report
        // itself done.
        let alone = auth.login("alone", "web").await.unwrap();
        let jti = alone.session.session_id.jti();
        let broken = format!("kickout:{{{:04x}}}:jt:{jti}", user_tag("alone"));
        server.cli(&["SET", &broken, "", "KEEPTTL"]).unwrap();
        let refused = auth.kickout_all().await.unwrap_err();
        assert!(refused.to_string().contains(&broken), "{refused}");
        assert!(auth.online(None, 1000, None).await.is_err());
    }

    /// What a login said of a session lives as long as the session: idle renewals and
    /// a renew move its metadata's expiry with the record's (real Redis time).
    #[tokio::test]
    async fn metadata_lives_as_long_as_its_session() {
        let Some((_server, store)) = support::standalone().await else {
            return;
        };
        let auth: Auth<RedisStore> = Auth::builder(store)
            .ttl(Duration::from_secs(60))
            .idle_timeout(Duration::from_secs(2))
            .touch_interval(Duration::from_millis(200))
            .expired_retention(Duration::ZERO)
            .build();
        let options = LoginOptions::new().label("Alice's phone");
        let login = auth.login_with("meta", "phone", options).await.unwrap();
        // Requests keep it alive past its first idle deadline.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(auth.authenticate(login.token.as_str()).await.is_ok());
        }
        let listed = auth.sessions("meta").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].meta.label.as_deref(),
            Some("Alice's phone"),
            "the label outlives the first idle deadline"
        );
    }
}

/// TLS (`rediss://`), on servers that speak nothing else, with a certificate of a test
/// CA: commands and the pub/sub feed go through, verified; a server that cannot prove
/// itself is refused.
mod tls {
    use std::time::Duration;

    use kickout::store::RedisStore;
    use kickout::{Auth, Reason};

    use super::support;
    use support::tls::TestCerts;

    /// Waits while the watch makes its first check of the store (the session is live),
    /// so what ends it later can only come through the feed, not that check.
    async fn feed_up(watch: &mut kickout::watch::SessionWatch<RedisStore>) {
        let waited = tokio::time::timeout(Duration::from_millis(500), watch.ended()).await;
        assert!(waited.is_err(), "the session is live: {waited:?}");
    }

    /// Twelve users logged in on `a`: on a Cluster, some on every node's slots.
    async fn users_on_every_node(a: &Auth<RedisStore>) -> Vec<kickout::Token> {
        let mut tokens = Vec::new();
        for i in 0..12 {
            tokens.push(a.login(&format!("u{i}"), "web").await.unwrap().token);
        }
        tokens
    }

    /// Each user of `tokens` passes on `a`, is kicked out on `b`, and is refused on `a`.
    async fn kicked_out_across(
        a: &Auth<RedisStore>,
        b: &Auth<RedisStore>,
        tokens: &[kickout::Token],
    ) {
        for (i, token) in tokens.iter().enumerate() {
            assert!(a.authenticate(token.as_str()).await.is_ok());
            b.kickout(&format!("u{i}")).await.unwrap();
            assert_eq!(
                a.authenticate(token.as_str()).await.unwrap_err().reason(),
                Reason::KickedOut
            );
        }
    }

    async fn store(urls: &str, certs: &TestCerts) -> RedisStore {
        RedisStore::builder(urls)
            .tls_root_certificates(certs.ca.as_bytes())
            .connect()
            .await
            .expect("connect over TLS")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standalone_server_is_reached_and_its_feed_heard() {
        if !support::redis_available() {
            return;
        }
        let certs = TestCerts::new(&["localhost", "127.0.0.1"]);
        let server = support::RedisProcess::start_tls(&certs, &[]);
        let a = Auth::new(store(&server.url(), &certs).await);
        let b = Auth::new(store(&server.url(), &certs).await);
        let token = a.login("u1", "web").await.unwrap().token;
        let me = a.authenticate(token.as_str()).await.unwrap();
        let mut watch = a.watch(&me);
        feed_up(&mut watch).await;
        b.kickout("u1").await.unwrap();
        // Through the feed, not the 10 s re-check.
        let ended = tokio::time::timeout(Duration::from_secs(2), watch.ended()).await;
        assert_eq!(ended.expect("the feed").reason(), Reason::KickedOut);
        assert_eq!(
            a.authenticate(token.as_str()).await.unwrap_err().reason(),
            Reason::KickedOut
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_is_reached_over_tls() {
        let certs = TestCerts::new(&["localhost", "127.0.0.1"]);
        let Some(cluster) = support::Cluster::start_tls(&certs, &[]) else {
            return;
        };
        let a = Auth::new(store(&cluster.urls(), &certs).await);
        let b = Auth::new(store(&cluster.urls(), &certs).await);
        let tokens = users_on_every_node(&a).await;
        kicked_out_across(&a, &b, &tokens).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_cannot_prove_itself_is_refused() {
        if !support::redis_available() {
            return;
        }
        let certs = TestCerts::new(&["localhost"]);
        let server = support::RedisProcess::start_tls(&certs, &[]);
        let refused = |store: RedisStore| async move {
            let error = Auth::new(store).login("u1", "web").await.unwrap_err();
            assert!(matches!(error, kickout::Error::Store(_)), "{error}");
            error.to_string()
        };
        // Signed by a CA the public roots do not hold.
        let localhost = server.url().replace("127.0.0.1", "localhost");
        let unknown = RedisStore::connect(&localhost).await.unwrap();
        let said = refused(unknown).await;
        assert!(said.contains("certificate"), "{said}");
        // A trusted CA, but the certificate names another host.
        let misnamed = store(&server.url(), &certs).await;
        let said = refused(misnamed).await;
        assert!(said.contains("certificate"), "{said}");
        // A server without TLS.
        let plain = support::RedisProcess::start(&[]);
        let url = plain.url().replace("redis://", "rediss://");
        refused(store(&url, &certs).await).await;
        // The right CA and name: the same server answers.
        let fine = store(&localhost, &certs).await;
        assert!(Auth::new(fine).login("u1", "web").await.is_ok());
    }

    /// A server that asks clients for a certificate: the store's, signed by the CA the
    /// server trusts, is taken; none, or one of another CA, is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_certificate_is_shown_where_the_server_asks_for_one() {
        if !support::redis_available() {
            return;
        }
        let certs = TestCerts::new(&["localhost", "127.0.0.1"]);
        let server = support::RedisProcess::start_tls(&certs, &["--tls-auth-clients", "yes"]);
        let (cert, key) = certs.client("app");
        let builder =
            || RedisStore::builder(&server.url()).tls_root_certificates(certs.ca.as_bytes());
        let shown = builder()
            .tls_client_certificate(cert.as_bytes(), key.as_bytes())
            .connect()
            .await
            .unwrap();
        let a = Auth::new(shown);
        let token = a.login("u1", "web").await.unwrap().token;
        assert!(a.authenticate(token.as_str()).await.is_ok());
        let debug = format!(
            "{:?}",
            builder().tls_client_certificate(cert.as_bytes(), key.as_bytes())
        );
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        let none = Auth::new(builder().connect().await.unwrap());
        assert!(none.login("u2", "web").await.is_err());
        let (stranger, stranger_key) = TestCerts::new(&["localhost"]).client("app");
        let other = builder()
            .tls_client_certificate(stranger.as_bytes(), stranger_key.as_bytes())
            .connect()
            .await
            .unwrap();
        assert!(Auth::new(other).login("u3", "web").await.is_err());
    }

    /// The same on a Cluster: the client certificate reaches every node, through the
    /// store's connections and its feed's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_takes_the_client_certificate_on_every_node() {
        let certs = TestCerts::new(&["localhost", "127.0.0.1"]);
        let Some(cluster) = support::Cluster::start_tls(&certs, &["--tls-auth-clients", "yes"])
        else {
            return;
        };
        let (cert, key) = certs.client("app");
        let builder =
            || RedisStore::builder(&cluster.urls()).tls_root_certificates(certs.ca.as_bytes());
        let shown = || async {
            let store = builder()
                .tls_client_certificate(cert.as_bytes(), key.as_bytes())
                .connect()
                .await
                .expect("connect with a client certificate");
            Auth::new(store)
        };
        let (a, b) = (shown().await, shown().await);
        let tokens = users_on_every_node(&a).await;
        let me = a.authenticate(tokens[0].as_str()).await.unwrap();
        let mut watch = a.watch(&me);
        feed_up(&mut watch).await;
        kicked_out_across(&a, &b, &tokens).await;
        // Through the feed, not the 10 s re-check.
        let ended = tokio::time::timeout(Duration::from_secs(2), watch.ended()).await;
        assert_eq!(ended.expect("the feed").reason(), Reason::KickedOut);
        // Without one, the nodes refuse the store.
        let refused = match builder().connect().await {
            Ok(store) => Auth::new(store).login("u1", "web").await.is_err(),
            Err(_) => true,
        };
        assert!(refused);
    }

    /// Certificates given for URLs that do not ask for TLS are a mistake said at
    /// connect, not a connection without TLS.
    #[tokio::test]
    async fn certificates_without_rediss_are_refused() {
        let certs = TestCerts::new(&["localhost"]);
        let (cert, key) = certs.client("app");
        for builder in [
            RedisStore::builder("redis://127.0.0.1:6379")
                .tls_root_certificates(certs.ca.as_bytes()),
            RedisStore::builder("redis://127.0.0.1:6379")
                .tls_client_certificate(cert.as_bytes(), key.as_bytes()),
        ] {
            let refused = builder.connect().await.unwrap_err();
            assert!(refused.to_string().contains("rediss://"), "{refused}");
        }
    }
}
