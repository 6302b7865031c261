//! The revocation feed: scripts publish the sessions they end on `<prefix>revoked`;
//! every instance subscribes and forwards them to its watches.
//!
//! On a Cluster, a `PUBLISH` on any node reaches subscribers on every node, so one
//! subscription to any node suffices; the task moves to the next node when one fails.
//! After each (re)subscription it sends [`Revoked::Resync`]: messages published while it
//! was away are lost, so watches re-check the store instead of trusting silence; audit
//! receivers get a gap marker for the same reason. A ping every five seconds finds a
//! connection that died without closing.
//!
//! The audit events a store's handles report go out through one publisher task, in
//! order. Whatever it cannot publish (its queue full, a `PUBLISH` refused or late) is
//! counted and announced to every instance by a gap marker where the events were lost,
//! before anything later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};

use super::{Conn, end_reason};

/// How often an idle subscription checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How often a gap marker not yet published is tried again when no event comes.
const GAP_RETRY: Duration = Duration::from_secs(1);
use crate::note::Note;
use crate::store::Revoked;
use crate::store::audit::{AuditEvent, AuditKind, DropLog, Missed};
use crate::token::SessionId;

/// The channels a store listens to.
pub(super) struct Channels {
    /// Sessions ended.
    pub(super) revoked: String,
    /// Audit events.
    pub(super) audit: String,
}

/// Keeps a subscription to the channels up, forwarding what it hears to `feed` and
/// `audit`.
pub(super) async fn subscribe(
    urls: Vec<String>,
    channels: Channels,
    feed: broadcast::Sender<Revoked>,
    audit: broadcast::Sender<AuditEvent>,
    timeout: Duration,
) {
    // Failed attempts since the last subscription that went through.
    let mut failures = 0u32;
    let mut heard = Heard::default();
    for url in urls.iter().cycle() {
        let senders = (&feed, &audit);
        match listen(url, &channels, senders, timeout, &mut failures, &mut heard).await {
            Ok(()) => {}
            Err(error) => {
                failures = failures.saturating_add(1);
                // One line per outage; the retries are at debug.
                if failures == 1 {
                    tracing::warn!(%error, "revocation feed lost; resubscribing until it is back");
                } else {
                    tracing::debug!(%error, "revocation feed: subscription failed; retrying");
                }
            }
        }
        let backoff = Duration::from_millis(100u64 << failures.min(4));
        tokio::time::sleep(backoff).await;
    }
}

/// What the subscriptions so far heard of the audit channel.
#[derive(Default)]
struct Heard {
    /// A subscription went through before.
    subscribed: bool,
    /// The time of the latest audit event: what a lost subscription misses is later.
    last_at_ms: u64,
}

/// One subscription, until its connection ends.
async fn listen(
    url: &str,
    channels: &Channels,
    (feed, audit): (&broadcast::Sender<Revoked>, &broadcast::Sender<AuditEvent>),
    timeout: Duration,
    failures: &mut u32,
    heard: &mut Heard,
) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
    let both = [channels.revoked.as_str(), channels.audit.as_str()];
    tokio::time::timeout(timeout, pubsub.subscribe(&both))
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out")))??;
    if *failures > 0 {
        tracing::info!("revocation feed back");
    }
    // What was published while no subscription was up is gone (before the first one,
    // only if an attempt failed: the store was in use without it).
    if heard.subscribed || *failures > 0 {
        let _ = audit.send(AuditEvent::gap(None, heard.last_at_ms));
    }
    heard.subscribed = true;
    *failures = 0;
    let _ = feed.send(Revoked::Resync);
    let (mut sink, mut messages) = pubsub.split();
    // A connection that died without a word (no FIN) is found by a ping unanswered.
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                let Ok(payload) = message.get_payload::<String>() else { continue };
                if message.get_channel_name() == channels.audit {
                    if let Some(event) = parse_audit(&payload) {
                        heard.last_at_ms = event.at_ms;
                        let _ = audit.send(event);
                    }
                } else if let Some(revoked) = parse(&payload) {
                    let _ = feed.send(revoked);
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

/// What announces an elevation of session `id` (`lua/elevate.lua` publishes it):
/// `e|s|<session id>`, or in JWT mode `e|j|<tag hex>|<jti>`.
pub(super) fn elevated_message(id: SessionId, jwt: bool) -> String {
    if jwt {
        format!("e|j|{:04x}|{}", id.tag(), id.jti())
    } else {
        format!("e|s|{id}")
    }
}

/// `s|<reason>|<session id>,...`, `j|<reason>|<tag hex>|<jti>,...` (either followed by
/// `|<note>` if the revocation has one), `g|<tag hex>`, or an elevation (see
/// [`elevated_message`]).
fn parse(payload: &str) -> Option<Revoked> {
    let kind = payload.split('|').next()?;
    if kind == "e" {
        let mut parts = payload.split('|').skip(1);
        let id = match (parts.next()?, parts.next()?, parts.next()) {
            ("s", id, None) => id.parse().ok()?,
            ("j", tag, Some(jti)) => SessionId::from_jti(u16::from_str_radix(tag, 16).ok()?, jti)?,
            _ => return None,
        };
        return Some(Revoked::Elevated(id));
    }
    // A note comes last, and its message may hold anything: it is the rest.
    let mut parts = payload.splitn(if kind == "j" { 5 } else { 4 }, '|');
    parts.next();
    if kind == "g" {
        return Some(Revoked::Changed(
            u16::from_str_radix(parts.next()?, 16).ok()?,
        ));
    }
    let reason = end_reason(parts.next()?).ok()??;
    let ids: Vec<SessionId> = match kind {
        "s" => parts
            .next()?
            .split(',')
            .filter_map(|id| id.parse().ok())
            .collect(),
        "j" => {
            let tag = u16::from_str_radix(parts.next()?, 16).ok()?;
            parts
                .next()?
                .split(',')
                .filter_map(|jti| SessionId::from_jti(tag, jti))
                .collect()
        }
        _ => return None,
    };
    let note = parts.next().and_then(Note::from_stored);
    Some(Revoked::Sessions(
        ids.into_iter().map(|id| (id, reason)).collect(),
        note,
    ))
}

/// An audit event on the wire.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireAudit {
    k: String,
    u: String,
    s: Option<String>,
    d: Option<String>,
    a: u64,
    n: Option<String>,
    /// A gap's count (an instance that predates gaps ignores the whole event: its kind
    /// is unknown to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<u64>,
    /// A restriction's or an elevation's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

fn audit_json(e: &AuditEvent) -> String {
    serde_json::to_string(&WireAudit {
        k: e.kind.code().to_owned(),
        u: e.user_id.to_string(),
        s: e.session_id.map(|s| s.to_string()),
        d: e.device.as_deref().map(str::to_owned),
        a: e.at_ms,
        n: e.note.as_ref().map(|n| n.as_stored().to_owned()),
        m: match e.kind {
            AuditKind::Gap { missed } => missed,
            _ => None,
        },
        c: e.scope.as_ref().map(|c| c.as_str().to_owned()),
    })
    .unwrap_or_default()
}

/// An audit event another instance published; `None` for anything else.
fn parse_audit(payload: &str) -> Option<AuditEvent> {
    let w: WireAudit = serde_json::from_str(payload).ok()?;
    if w.k == "gap" {
        return Some(AuditEvent::gap(w.m, w.a));
    }
    let kind = AuditKind::from_code(&w.k)?;
    let mut event = AuditEvent::new(kind, w.u.into(), w.a)
        .with_note(w.n.as_deref().and_then(Note::from_stored));
    if let (Some(s), Some(d)) = (w.s, w.d) {
        event = event.of_session(s.parse().ok()?, d.into());
    }
    if let Some(scope) = w.c {
        event = event.with_scope(crate::restriction::Scope::new(&scope).ok()?);
    }
    Some(event)
}

/// One audit event for the publisher: its message, its time, and the events dropped
/// at the full queue just before it (a gap marker goes out first).
pub(super) struct Outgoing {
    json: String,
    at_ms: u64,
    after: Missed,
}

/// The audit events a store could not publish: those dropped at its full queue and not
/// yet carried by a later event, and the log of every drop.
#[derive(Debug)]
pub(super) struct AuditDrops {
    /// Whether `pending` holds any: the common case takes no lock.
    any: AtomicBool,
    pending: Mutex<Missed>,
    log: DropLog,
}

impl Default for AuditDrops {
    fn default() -> Self {
        Self {
            any: AtomicBool::new(false),
            pending: Mutex::new(Missed::NONE),
            log: DropLog::default(),
        }
    }
}

impl AuditDrops {
    /// Hands an event to the publisher; never waits: a full queue drops it, and the
    /// next event queued carries the count.
    pub(super) fn queue(&self, out: &mpsc::Sender<Outgoing>, event: &AuditEvent) {
        let outgoing = Outgoing {
            json: audit_json(event),
            at_ms: event.at_ms,
            after: self.take(),
        };
        if let Err(refused) = out.try_send(outgoing) {
            let mut missed = refused.into_inner().after;
            missed.merge(Missed::one(event.at_ms));
            self.put(missed);
            tracing::debug!("audit event dropped: the queue is full");
            self.log.dropped(event.at_ms);
        }
    }

    fn take(&self) -> Missed {
        if !self.any.load(Ordering::Acquire) {
            return Missed::NONE;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.any.store(false, Ordering::Release);
        std::mem::replace(&mut *pending, Missed::NONE)
    }

    fn put(&self, missed: Missed) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.merge(missed);
        self.any.store(!pending.is_none(), Ordering::Release);
    }
}

/// Publishes the queued audit events in order, each within the timeout; a gap marker
/// before the first event after a loss, and on its own when none follows.
pub(super) async fn publish_audit(
    conn: Conn,
    channel: String,
    mut queue: mpsc::Receiver<Outgoing>,
    timeout: Duration,
    drops: Arc<AuditDrops>,
) {
    let publish = |message: String| {
        let mut conn = conn.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&channel).arg(message);
        async move {
            match tokio::time::timeout(timeout, cmd.query_async::<u64>(&mut conn)).await {
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
    };
    // Lost and not yet announced.
    let mut missed = Missed::NONE;
    loop {
        let next = match queue.try_recv() {
            Ok(next) => next,
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Dropped after the last queued event: no later event carries them.
                missed.merge(drops.take());
                if !missed.is_none() && publish(audit_json(&missed.gap())).await {
                    missed = Missed::NONE;
                }
                let next = if missed.is_none() {
                    queue.recv().await
                } else {
                    match tokio::time::timeout(GAP_RETRY, queue.recv()).await {
                        Ok(next) => next,
                        Err(_) => continue,
                    }
                };
                match next {
                    Some(next) => next,
                    None => return,
                }
            }
        };
        missed.merge(next.after);
        if !missed.is_none() && publish(audit_json(&missed.gap())).await {
            missed = Missed::NONE;
        }
        // Never ahead of its gap: the marker must stand where the events were lost.
        if !missed.is_none() || !publish(next.json).await {
            missed.merge(Missed::one(next.at_ms));
            drops.log.dropped(next.at_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EndReason;
    use std::sync::Arc;

    #[test]
    fn messages_parse() {
        let id: SessionId = "AAECAwQFBgcICQoLDA0".parse().unwrap();
        let got = parse("s|k|AAECAwQFBgcICQoLDA0,junk").unwrap();
        assert_eq!(
            got,
            Revoked::Sessions(Arc::new([(id, EndReason::KickedOut)]), None)
        );
        let jti = "AAAAAAAAAAAAAAAA";
        let got = parse(&format!("j|b|00ff|{jti}")).unwrap();
        let jwt = SessionId::from_jti(0xff, jti).unwrap();
        assert_eq!(
            got,
            Revoked::Sessions(Arc::new([(jwt, EndReason::Banned)]), None)
        );
        // A note is the rest of the message, whatever its message holds.
        let note = Note::new("fraud").unwrap().with_message("a|b: c").unwrap();
        let got = parse(&format!("j|b|00ff|{jti}|fraud:a|b: c")).unwrap();
        assert_eq!(
            got,
            Revoked::Sessions(Arc::new([(jwt, EndReason::Banned)]), Some(note.clone()))
        );
        let got = parse("s|k|AAECAwQFBgcICQoLDA0|fraud:a|b: c").unwrap();
        assert_eq!(
            got,
            Revoked::Sessions(Arc::new([(id, EndReason::KickedOut)]), Some(note))
        );
        assert_eq!(parse("g|00ff"), Some(Revoked::Changed(0xff)));
        assert_eq!(
            parse(&elevated_message(id, false)),
            Some(Revoked::Elevated(id))
        );
        assert_eq!(
            parse(&elevated_message(jwt, true)),
            Some(Revoked::Elevated(jwt))
        );
        assert!(parse("e|s|").is_none());
        assert!(parse("e|j|00ff").is_none());
        let audit = AuditEvent::new(AuditKind::KickedOut, "u\"1".into(), 7)
            .of_session(id, "web".into())
            .with_note(Note::new("x").unwrap().with_message("a \"b\"").ok());
        assert_eq!(parse_audit(&audit_json(&audit)), Some(audit));
        for gap in [AuditEvent::gap(Some(3), 9), AuditEvent::gap(None, 0)] {
            assert_eq!(parse_audit(&audit_json(&gap)), Some(gap));
        }
        // Other events' wire form is unchanged.
        assert!(!audit_json(&AuditEvent::new(AuditKind::Login, "u".into(), 1)).contains("\"m\""));
        assert_eq!(parse_audit("{}"), None);
        assert!(parse("g|zz").is_none());
        assert!(parse("x|k|a").is_none());
        assert!(parse("s|?|a").is_none());
        assert!(parse("").is_none());
    }

    proptest::proptest! {
        /// Whatever arrives on the channel, parsing never panics; an elevation's message
        /// names its session in either mode.
        #[test]
        fn any_message_parses_or_is_dropped(payload in "\\PC{0,80}", bytes in proptest::prelude::any::<[u8; 14]>()) {
            let _ = parse(&payload);
            let _ = parse_audit(&payload);
            let id = SessionId::from_bytes(bytes);
            proptest::prop_assert_eq!(parse(&elevated_message(id, false)), Some(Revoked::Elevated(id)));
            if let Some(jwt) = SessionId::from_jti(id.tag(), &id.jti()) {
                proptest::prop_assert_eq!(parse(&elevated_message(jwt, true)), Some(Revoked::Elevated(jwt)));
            }
        }

        /// An audit event of a scope comes back as it went.
        #[test]
        fn scoped_audit_events_round_trip(scope in "[a-z0-9_.-]{1,64}", user in "\\PC{1,20}", at in 0u64..(1 << 53)) {
            let event = AuditEvent::new(AuditKind::Restricted, user.as_str().into(), at)
                .with_scope(crate::restriction::Scope::new(&scope).unwrap());
            proptest::prop_assert_eq!(parse_audit(&audit_json(&event)), Some(event));
        }
    }
}
