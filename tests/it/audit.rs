//! The audit stream never loses events silently: a store sends a gap marker where it
//! lost some (a subscription lost and back, events an instance could not publish), a
//! receiver's own lag is tokio's `Lagged`, and the demos' admin stream turns both into
//! a `gap` event. Drops are logged at warn, once per ten seconds with their count.

use std::time::Duration;

use futures::StreamExt;
use kickout::Auth;
use kickout::store::MemoryStore;
use kickout::store::audit::{AUDIT_CAPACITY, AuditEvent, AuditKind};
use tokio::sync::broadcast::error::RecvError;

// The demos' admin stream, as they serve it.
#[allow(dead_code, unreachable_pub, clippy::duplicate_mod)]
#[path = "../../examples/demo/shared.rs"]
mod demo_shared;

/// Whether `event` is a gap marker.
fn is_gap(event: &AuditEvent) -> bool {
    matches!(event.kind, AuditKind::Gap { .. })
}

/// How many events the gap marker `event` stands for (`None`: an unknown number).
fn missed(event: &AuditEvent) -> Option<u64> {
    match event.kind {
        AuditKind::Gap { missed, .. } => missed,
        _ => panic!("not a gap marker: {event:?}"),
    }
}

#[tokio::test]
async fn on_the_memory_store_a_lagging_receiver_is_told_and_the_demo_stream_says_gap() {
    let auth = Auth::new(MemoryStore::new());
    let mut audit = auth.audit();
    let sse = demo_shared::audit_stream(auth.audit());
    let mut sse = std::pin::pin!(sse);
    let over = 6;
    for i in 0..AUDIT_CAPACITY + over {
        auth.login(&format!("u{i}"), "web").await.unwrap();
    }
    // The receiver's own gap is tokio's, with the count; the store adds no marker.
    assert!(
        matches!(audit.recv().await, Err(RecvError::Lagged(n)) if n == over as u64),
        "the receiver is told how many it lost"
    );
    let mut rest = Vec::new();
    while let Ok(event) = audit.try_recv() {
        rest.push(event);
    }
    assert_eq!(rest.len(), AUDIT_CAPACITY);
    assert_eq!(&*rest[0].user_id, format!("u{over}"));
    assert!(!rest.iter().any(is_gap), "no marker in memory");
    // The admin stream: a `gap` event with the count, then the rest.
    let gap = sse.next().await.flatten();
    assert_eq!(gap, Some(("gap", r#"{"missed":6}"#.to_owned())));
    let (kind, data) = sse.next().await.flatten().unwrap();
    assert_eq!(kind, "login");
    assert!(data.contains(r#""user_id":"u6""#), "{data}");
}

#[cfg(feature = "redis")]
mod on_redis {

    use kickout::store::{RedisStore, Store};
    use tokio::sync::broadcast::Receiver;

    use super::*;
    use crate::support::{self, RedisProcess};

    /// The next audit event, within 5 s.
    async fn next(audit: &mut Receiver<AuditEvent>) -> AuditEvent {
        tokio::time::timeout(Duration::from_secs(5), audit.recv())
            .await
            .expect("an audit event within 5 s")
            .expect("no lag")
    }

    /// Waits until `n` connections listen on the audit channel.
    async fn subscribed(server: &RedisProcess, n: u64) {
        for _ in 0..500 {
            let out = server.cli(&["pubsub", "numsub", "kickout:audit"]);
            let count = out
                .as_deref()
                .and_then(|o| o.lines().nth(1)?.trim().parse().ok());
            if count == Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} subscriptions to the audit channel within 5 s");
    }

    /// `PUBLISH` commands the server refused.
    fn refused_publishes(server: &RedisProcess) -> u64 {
        let info = server.cli(&["info", "commandstats"]).unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_publish:"))
            .and_then(|stats| {
                let rejected = stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("rejected_calls="));
                rejected?.parse().ok()
            })
            .unwrap_or(0)
    }

    fn event(user: &str, at_ms: u64) -> AuditEvent {
        AuditEvent::new(AuditKind::Login, user.into(), at_ms)
    }

    const DROPPED: &str = "audit events not published";

    #[tokio::test]
    async fn a_subscription_lost_and_back_is_a_gap() {
        let Some((server, store)) = support::standalone().await else {
            return;
        };
        let auth = Auth::new(store);
        let mut audit = auth.audit();
        subscribed(&server, 1).await;
        auth.login("g0", "web").await.unwrap();
        let before = next(&mut audit).await;
        assert_eq!(&*before.user_id, "g0");
        let killed = server.cli(&["client", "kill", "type", "pubsub"]).unwrap();
        assert_eq!(killed.trim(), "1", "the store's subscription dropped");
        // Back on its own, and a marker first: what was published meanwhile is gone.
        let gap = next(&mut audit).await;
        assert_eq!(missed(&gap), None, "an unknown number");
        assert_eq!((gap.kind.code(), &*gap.user_id), ("gap", ""));
        assert_eq!(
            gap.at_ms, before.at_ms,
            "nothing lost before the last event heard"
        );
        auth.login("g1", "web").await.unwrap();
        let after = next(&mut audit).await;
        assert_eq!((after.kind, &*after.user_id), (AuditKind::Login, "g1"));
    }

    #[tokio::test]
    async fn a_redis_restart_is_a_gap() {
        let Some((mut server, store)) = support::standalone().await else {
            return;
        };
        let mut audit = store.audit_feed().unwrap();
        subscribed(&server, 1).await;
        store.audit(&event("r0", 7));
        assert_eq!(&*next(&mut audit).await.user_id, "r0");
        server.kill();
        // The feed fails to resubscribe at least once.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _server = RedisProcess::start_on(server.port, &[]);
        let gap = next(&mut audit).await;
        assert_eq!(missed(&gap), None, "an unknown number");
        assert_eq!(gap.at_ms, 7);
    }

    #[tokio::test]
    async fn events_dropped_at_a_full_queue_are_a_gap_where_they_were_lost() {
        let Some((server, here)) = support::standalone().await else {
            return;
        };
        let there = RedisStore::connect(&server.url()).await.unwrap();
        let mut audit = there.audit_feed().unwrap();
        subscribed(&server, 2).await;
        let over = 76;
        let ((), logs) = support::logged(async {
            // Nothing else runs meanwhile on this one-thread runtime: the publisher
            // takes none off the queue, which holds AUDIT_CAPACITY.
            for i in 0..AUDIT_CAPACITY + over {
                here.audit(&event(&format!("q{i}"), i as u64 + 1));
            }
        })
        .await;
        for i in 0..AUDIT_CAPACITY {
            let got = next(&mut audit).await;
            assert_eq!(&*got.user_id, format!("q{i}"), "{got:?}");
        }
        let gap = next(&mut audit).await;
        assert_eq!(missed(&gap), Some(over as u64));
        assert_eq!(gap.at_ms, AUDIT_CAPACITY as u64 + 1, "from the first lost");
        here.audit(&event("later", 9_999));
        assert_eq!(&*next(&mut audit).await.user_id, "later");
        // Logged at warn, once within ten seconds of the events' clock, with the count.
        assert_eq!(logs.matches(DROPPED).count(), 1, "{logs}");
        assert!(
            logs.contains("WARN") && logs.contains("dropped=1"),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn events_redis_refused_are_a_gap_on_every_instance_once_it_takes_them() {
        let Some((server, here)) = support::standalone().await else {
            return;
        };
        let there = RedisStore::connect(&server.url()).await.unwrap();
        let mut audit = there.audit_feed().unwrap();
        subscribed(&server, 2).await;
        here.audit(&event("p0", 1));
        assert_eq!(&*next(&mut audit).await.user_id, "p0");
        let ((), logs) = support::logged(async {
            server
                .cli(&["acl", "setuser", "default", "-publish"])
                .unwrap();
            // The last one ten seconds (of the events' clock) after the first.
            for (user, at_ms) in [("p1", 11), ("p2", 12), ("p3", 13), ("p4", 10_011)] {
                here.audit(&event(user, at_ms));
            }
            // All four refused or held back: one PUBLISH, then a gap before each other.
            for _ in 0..500 {
                if refused_publishes(&server) >= 4 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(refused_publishes(&server) >= 4, "the publisher tried");
            server
                .cli(&["acl", "setuser", "default", "+publish"])
                .unwrap();
            // The subscriptions stayed up: the other instance hears the marker.
            let gap = next(&mut audit).await;
            assert_eq!(missed(&gap), Some(4));
            assert_eq!(gap.at_ms, 11);
            here.audit(&event("p5", 10_012));
            assert_eq!(&*next(&mut audit).await.user_id, "p5");
        })
        .await;
        // One line at the first drop, the next ten seconds later with the count since.
        assert_eq!(logs.matches(DROPPED).count(), 2, "{logs}");
        let first = logs.find("dropped=1").expect("the first line");
        let second = logs.find("dropped=3").expect("the second line");
        assert!(first < second, "{logs}");
    }
}
