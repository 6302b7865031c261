//! The revocation feed: scripts publish the sessions they end on `<prefix>revoked`;
//! every instance subscribes and forwards them to its watches.
//!
//! On a Cluster, a `PUBLISH` on any node reaches subscribers on every node, so one
//! subscription to any node suffices; the task moves to the next node when one fails.
//! After each (re)subscription it sends [`Revoked::Resync`]: messages published while it
//! was away are lost, so watches re-check the store instead of trusting silence. A ping
//! every five seconds finds a connection that died without closing.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::end_reason;

/// How often an idle subscription checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
use crate::note::Note;
use crate::store::Revoked;
use crate::store::audit::{AuditEvent, AuditKind};
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
    for url in urls.iter().cycle() {
        match listen(url, &channels, (&feed, &audit), timeout, &mut failures).await {
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

/// One subscription, until its connection ends.
async fn listen(
    url: &str,
    channels: &Channels,
    (feed, audit): (&broadcast::Sender<Revoked>, &broadcast::Sender<AuditEvent>),
    timeout: Duration,
    failures: &mut u32,
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

/// `s|<reason>|<session id>,...`, `j|<reason>|<tag hex>|<jti>,...` (either followed by
/// `|<note>` if the revocation has one) or `g|<tag hex>`.
fn parse(payload: &str) -> Option<Revoked> {
    let kind = payload.split('|').next()?;
    // A note comes last, and its message may hold anything: it is the rest.
    let mut parts = payload.splitn(if kind == "j" { 5 } else { 4 }, '|');
    parts.next();
    if kind == "g" {
        return Some(Revoked::Bumped(
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
}

pub(super) fn audit_json(e: &AuditEvent) -> String {
    serde_json::to_string(&WireAudit {
        k: e.kind.code().to_owned(),
        u: e.user_id.to_string(),
        s: e.session_id.map(|s| s.to_string()),
        d: e.device.as_deref().map(str::to_owned),
        a: e.at_ms,
        n: e.note.as_ref().map(|n| n.as_stored().to_owned()),
    })
    .unwrap_or_default()
}

/// An audit event another instance published; `None` for anything else.
fn parse_audit(payload: &str) -> Option<AuditEvent> {
    let w: WireAudit = serde_json::from_str(payload).ok()?;
    let kind = AuditKind::from_code(&w.k)?;
    let mut event = AuditEvent::new(kind, w.u.into(), w.a)
        .with_note(w.n.as_deref().and_then(Note::from_stored));
    if let (Some(s), Some(d)) = (w.s, w.d) {
        event = event.of_session(s.parse().ok()?, d.into());
    }
    Some(event)
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
        assert_eq!(parse("g|00ff"), Some(Revoked::Bumped(0xff)));
        let audit = AuditEvent::new(AuditKind::KickedOut, "u\"1".into(), 7)
            .of_session(id, "web".into())
            .with_note(Note::new("x").unwrap().with_message("a \"b\"").ok());
        assert_eq!(parse_audit(&audit_json(&audit)), Some(audit));
        assert_eq!(parse_audit("{}"), None);
        assert!(parse("g|zz").is_none());
        assert!(parse("x|k|a").is_none());
        assert!(parse("s|?|a").is_none());
        assert!(parse("").is_none());
    }
}
