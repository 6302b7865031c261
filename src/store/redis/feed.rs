//! The revocation feed: scripts publish the sessions they end on `<prefix>revoked`;
//! every instance subscribes and forwards them to its watches.
//!
//! On a Cluster, a `PUBLISH` on any node reaches subscribers on every node, so one
//! subscription to any node suffices; the task moves to the next node when one fails.
//! When a subscription ends or an attempt fails it sends [`Revoked::Lost`], and after
//! each (re)subscription [`Revoked::Resync`]: messages published while it was away are
//! lost, so near caches cache nothing meanwhile and watches re-check the store instead
//! of trusting silence; audit receivers get a gap marker for the same reason. A ping every five seconds finds a
//! connection that died without closing.
//!
//! The audit events a store's handles report go out through one publisher task, in
//! order. Whatever it cannot publish (its queue full, a `PUBLISH` refused or late) is
//! counted and announced to every instance by a gap marker where the events were lost,
//! before anything later.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::link::Link;
use super::tls::Given;
use crate::store::wire::{self, parse_audit};

/// How often an idle subscription checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
use crate::store::audit::AuditEvent;
use crate::store::contract::Revoked;
use crate::store::feed::FeedSender;

/// The channels a store listens to.
pub(super) struct Channels {
    /// Sessions ended.
    pub(super) revoked: String,
    /// Audit events.
    pub(super) audit: String,
}

/// The subscription task: where it connects, what it forwards where, and what the
/// subscriptions so far went through.
pub(super) struct Subscriber {
    pub(super) urls: Vec<String>,
    pub(super) tls: Given,
    pub(super) channels: Channels,
    /// Where ended sessions go.
    pub(super) feed: FeedSender,
    /// Where audit events go.
    pub(super) audit: broadcast::Sender<AuditEvent>,
    /// The bound on connecting, subscribing and each ping.
    pub(super) timeout: Duration,
}

/// What the subscriptions so far went through.
#[derive(Default)]
struct Heard {
    /// Failed attempts since the last subscription that went through.
    failures: u32,
    /// A subscription went through before.
    subscribed: bool,
    /// The time of the latest audit event: what a lost subscription misses is later.
    last_at_ms: u64,
    /// Who waits for the first subscription (the store's `connect`).
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Subscriber {
    /// Keeps a subscription to the channels up, moving to the next URL when one fails;
    /// tells `ready` when the first one is up.
    pub(super) async fn run(self, ready: tokio::sync::oneshot::Sender<()>) {
        let mut heard = Heard {
            ready: Some(ready),
            ..Heard::default()
        };
        for url in self.urls.iter().cycle() {
            let ended = self.listen(url, &mut heard).await;
            // Down until the next resync: caches stop trusting silence.
            self.feed.send(Revoked::Lost);
            if let Err(error) = ended {
                heard.failures = heard.failures.saturating_add(1);
                // One line per outage; the retries are at debug.
                if heard.failures == 1 {
                    tracing::warn!(%error, "revocation feed lost; resubscribing until it is back");
                } else {
                    tracing::debug!(%error, "revocation feed: subscription failed; retrying");
                }
            }
            let backoff = Duration::from_millis(100u64 << heard.failures.min(4));
            tokio::time::sleep(backoff).await;
        }
    }

    /// One subscription through `url`, until its connection ends.
    async fn listen(&self, url: &str, heard: &mut Heard) -> redis::RedisResult<()> {
        let (channels, timeout) = (&self.channels, self.timeout);
        let client = super::tls::client(url, &self.tls)?;
        let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
        let both = [channels.revoked.as_str(), channels.audit.as_str()];
        tokio::time::timeout(timeout, pubsub.subscribe(&both))
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out"))
            })??;
        if heard.failures > 0 {
            tracing::info!("revocation feed back");
        }
        // What was published while no subscription was up is gone (before the first one,
        // only if the store was in use without it: an attempt failed, or `connect` gave
        // up waiting).
        let unwaited = heard.ready.as_ref().is_some_and(|r| r.is_closed());
        if heard.subscribed || heard.failures > 0 || unwaited {
            let _ = self.audit.send(AuditEvent::gap(None, heard.last_at_ms));
        }
        heard.subscribed = true;
        heard.failures = 0;
        self.feed.send(Revoked::Resync);
        if let Some(ready) = heard.ready.take() {
            let _ = ready.send(());
        }
        let (mut sink, mut messages) = pubsub.split();
        // A connection that died without a word (no FIN) is found by a ping unanswered.
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Ok(()) };
                    let payload = message.get_payload::<String>().ok();
                    if message.get_channel_name() == channels.audit {
                        if let Some(event) = payload.as_deref().and_then(parse_audit) {
                            heard.last_at_ms = event.at_ms;
                            let _ = self.audit.send(event);
                        }
                    } else {
                        self.feed.send(wire::heard(payload.as_deref()));
                    }
                }
                _ = keepalive.tick() => {
                    tokio::time::timeout(timeout, sink.ping::<redis::Value>())
                        .await
                        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "ping timed out")))??;
                }
            }
        }
    }
}

/// Publishes one audit message on `channel` within `timeout`: whether it went out.
pub(super) async fn publish(
    conn: Link,
    channel: String,
    timeout: Duration,
    message: String,
) -> bool {
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(&channel).arg(message);
    let published = async |mut conn| cmd.query_async::<u64>(&mut conn).await;
    match conn.within(timeout, published).await {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            tracing::debug!(%error, "audit event not published");
            false
        }
        Err(_) => {
            tracing::debug!("audit event not published in time");
            false
        }
    }
}
