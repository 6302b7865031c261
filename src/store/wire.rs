//! What stores send between instances, whatever carries it (Redis `PUBLISH`,
//! PostgreSQL `NOTIFY`): the revocation messages, the audit events' wire form, end
//! reasons' one-letter codes, and the publisher that sends audit events in order with a
//! gap marker where some were lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::note::Note;
use crate::store::audit::{AuditEvent, AuditKind, DropLog, Missed};
use crate::store::contract::{EndReason, Revoked, StoreError};
use crate::token::SessionId;

/// How often a gap marker not yet published is tried again when no event comes.
const GAP_RETRY: Duration = Duration::from_secs(1);

pub(crate) fn end_code(reason: EndReason) -> &'static str {
    match reason {
        EndReason::LoggedOut => "o",
        EndReason::KickedOut => "k",
        EndReason::Replaced => "r",
        EndReason::Banned => "b",
        EndReason::RefreshReused => "f",
    }
}

/// The reason of an end code; anything else (the empty code included: a tombstone
/// without a reason must not read as a live session) is corrupt.
pub(crate) fn end_reason(code: &str) -> Result<EndReason, StoreError> {
    Ok(match code {
        "o" => EndReason::LoggedOut,
        "k" => EndReason::KickedOut,
        "r" => EndReason::Replaced,
        "b" => EndReason::Banned,
        "f" => EndReason::RefreshReused,
        _ => return Err(StoreError::Corrupt("an end reason".to_owned())),
    })
}

/// Most session ids in one revocation message: with the longest note it stays well
/// within PostgreSQL's 8,000-byte `NOTIFY` payload.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const IDS_PER_MESSAGE: usize = 256;

/// What announces that `ids` ended: `s|<reason>|<id>,...` (and `|<note>` if the
/// revocation has one), in messages of at most [`IDS_PER_MESSAGE`] ids.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn ended_messages(
    ids: &[SessionId],
    reason: EndReason,
    note: Option<&Note>,
) -> Vec<String> {
    ids.chunks(IDS_PER_MESSAGE)
        .map(|chunk| {
            let list: Vec<String> = chunk.iter().map(SessionId::to_string).collect();
            let mut message = format!("s|{}|{}", end_code(reason), list.join(","));
            if let Some(note) = note {
                message.push('|');
                message.push_str(note.as_stored());
            }
            message
        })
        .collect()
}

/// What announces that the state of users of slot tag `tag` changed: `g|<tag hex>`.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn changed_message(tag: u16) -> String {
    format!("g|{tag:04x}")
}

/// What announces a change of session `id` ([`Revoked::Updated`]: an elevation, a
/// refresh; `lua/elevate.lua` and `lua/refresh.lua` publish it): `e|s|<session id>`, or
/// in JWT mode `e|j|<tag hex>|<jti>`.
pub(crate) fn updated_message(id: SessionId, jwt: bool) -> String {
    if jwt {
        format!("e|j|{:04x}|{}", id.tag(), id.jti())
    } else {
        format!("e|s|{id}")
    }
}

/// `s|<reason>|<session id>,...`, `j|<reason>|<tag hex>|<jti>,...` (either followed by
/// `|<note>` if the revocation has one), `g|<tag hex>`, or a session's change (see
/// [`updated_message`]); `None` for anything else.
pub(crate) fn parse(payload: &str) -> Option<Revoked> {
    let kind = payload.split('|').next()?;
    if kind == "e" {
        let mut parts = payload.split('|').skip(1);
        let id = match (parts.next()?, parts.next()?, parts.next()) {
            ("s", id, None) => id.parse().ok()?,
            ("j", tag, Some(jti)) => SessionId::from_jti(u16::from_str_radix(tag, 16).ok()?, jti)?,
            _ => return None,
        };
        return Some(Revoked::Updated(id));
    }
    // A note comes last, and its message may hold anything: it is the rest.
    let mut parts = payload.splitn(if kind == "j" { 5 } else { 4 }, '|');
    parts.next();
    if kind == "g" {
        return Some(Revoked::Changed(
            u16::from_str_radix(parts.next()?, 16).ok()?,
        ));
    }
    let reason = end_reason(parts.next()?).ok()?;
    let ids: Vec<SessionId> = match kind {
        // One id that does not parse makes the whole message unreadable: the caller
        // then reads everything again rather than miss the sessions it named.
        "s" => parts
            .next()?
            .split(',')
            .map(|id| id.parse().ok())
            .collect::<Option<_>>()?,
        "j" => {
            let tag = u16::from_str_radix(parts.next()?, 16).ok()?;
            parts
                .next()?
                .split(',')
                .map(|jti| SessionId::from_jti(tag, jti))
                .collect::<Option<_>>()?
        }
        _ => return None,
    };
    let note = parts.next().and_then(Note::from_stored);
    Some(Revoked::Sessions(
        ids.into_iter().map(|id| (id, reason)).collect(),
        note,
    ))
}

/// What a message of the revocation channel means to a subscriber: one it cannot read
/// (another version's, a damaged one) may have ended sessions, so caches and watches
/// read everything again rather than keep serving them.
pub(crate) fn heard(payload: Option<&str>) -> Revoked {
    payload.and_then(parse).unwrap_or(Revoked::Resync)
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

pub(crate) fn audit_json(e: &AuditEvent) -> String {
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
pub(crate) fn parse_audit(payload: &str) -> Option<AuditEvent> {
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
pub(crate) struct Outgoing {
    json: String,
    at_ms: u64,
    after: Missed,
}

/// The audit events a store could not publish: those dropped at its full queue and not
/// yet carried by a later event, and the log of every drop.
#[derive(Debug)]
pub(crate) struct AuditDrops {
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
    pub(crate) fn queue(&self, out: &mpsc::Sender<Outgoing>, event: &AuditEvent) {
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

/// Publishes the queued audit events in order through `publish` (`true`: it went out); a gap marker
/// before the first event after a loss, and on its own when none follows.
pub(crate) async fn publish_audit<F, Fut>(
    publish: F,
    mut queue: mpsc::Receiver<Outgoing>,
    drops: Arc<AuditDrops>,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
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
    use crate::store::contract::EndReason;
    use std::sync::Arc;

    #[test]
    fn messages_parse() {
        let id: SessionId = "AAECAwQFBgcICQoLDA0".parse().unwrap();
        let got = parse("s|k|AAECAwQFBgcICQoLDA0").unwrap();
        assert_eq!(
            got,
            Revoked::Sessions(Arc::new([(id, EndReason::KickedOut)]), None)
        );
        // A message that is not all readable means "read everything again": its other
        // ids, or a reason of a newer version, may have ended sessions.
        for unreadable in [
            "s|k|AAECAwQFBgcICQoLDA0,junk",
            "j|b|00ff|AAAAAAAAAAAAAAAA,x",
            "s|q|AAECAwQFBgcICQoLDA0",
            "s|k|",
        ] {
            assert!(parse(unreadable).is_none(), "{unreadable}");
            assert_eq!(heard(Some(unreadable)), Revoked::Resync);
        }
        assert_eq!(heard(None), Revoked::Resync);
        assert_eq!(
            heard(Some("g|00ff")),
            parse("g|00ff").unwrap(),
            "what parses is what is heard"
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
            Revoked::Sessions(Arc::new([(id, EndReason::KickedOut)]), Some(note.clone()))
        );
        assert_eq!(parse("g|00ff"), Some(Revoked::Changed(0xff)));
        assert_eq!(
            parse(&updated_message(id, false)),
            Some(Revoked::Updated(id))
        );
        assert_eq!(
            parse(&updated_message(jwt, true)),
            Some(Revoked::Updated(jwt))
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
        // What a Rust store sends parses back, in chunks.
        let many: Vec<SessionId> = (0..=IDS_PER_MESSAGE as u64)
            .map(|n| {
                let mut bytes = [0u8; 14];
                bytes[..8].copy_from_slice(&n.to_be_bytes());
                SessionId::from_bytes(bytes)
            })
            .collect();
        let messages = ended_messages(&many, EndReason::Banned, Some(&note));
        assert_eq!(messages.len(), 2);
        let back: Vec<SessionId> = messages
            .iter()
            .flat_map(|m| match parse(m) {
                Some(Revoked::Sessions(ids, Some(n))) if n == note => {
                    ids.iter().map(|(id, _)| *id).collect::<Vec<_>>()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back, many);
        assert_eq!(
            parse(&changed_message(0x0a1f)),
            Some(Revoked::Changed(0x0a1f))
        );
    }

    proptest::proptest! {
        /// Whatever arrives on the channel, parsing never panics; an elevation's message
        /// names its session in either mode.
        #[test]
        fn any_message_parses_or_is_dropped(payload in "\\PC{0,80}", bytes in proptest::prelude::any::<[u8; 14]>()) {
            let _ = parse(&payload);
            let _ = parse_audit(&payload);
            let id = SessionId::from_bytes(bytes);
            proptest::prop_assert_eq!(parse(&updated_message(id, false)), Some(Revoked::Updated(id)));
            if let Some(jwt) = SessionId::from_jti(id.tag(), &id.jti()) {
                proptest::prop_assert_eq!(parse(&updated_message(jwt, true)), Some(Revoked::Updated(jwt)));
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
