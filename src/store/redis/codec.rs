//! What the store writes and reads back, in one place: digests as hex, times as
//! decimal strings (exact in Lua below 2^53), a refresh token's fields, a session's
//! metadata, the scripts' flat replies, end reasons' one-letter codes and a rule's
//! arguments. The record fields themselves are listed in `scripts.rs`.

use std::sync::Arc;

use crate::policy::{Limit, LoginRule};
use crate::store::contract::{SessionInfo, SessionMeta, StoreError};
pub(super) use crate::store::wire::{end_code, end_reason};
use crate::token::SessionId;

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// Lower-case hex of a digest, as records keep it.
pub(super) fn hex(digest: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    push_hex(&mut s, digest);
    s
}

/// Appends the lower-case hex of `bytes` (each request writes a digest and three slot
/// tags: no formatting machinery).
pub(super) fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// A refresh token's fields, as the scripts keep them: its digest, its end, the cap,
/// the access lifetime, and the window if any.
pub(super) fn refresh_fields(r: &crate::store::refresh::NewRefresh) -> serde_json::Value {
    let mut fields = serde_json::json!({
        "f": hex(&r.digest),
        "fk": hex(&r.chain),
        "fe": r.expires_at_ms.to_string(),
        "fc": r.cap_ms.to_string(),
        "w": r.access_ttl_ms.to_string(),
    });
    if let Some(w) = r.window_ms {
        fields["fw"] = w.to_string().into();
    }
    fields
}

/// A refresh script's `{'ended', reason, at, note|'', ban end|''}`.
pub(super) fn ended_reply<T>(
    reason: &str,
    at: &str,
    note: &str,
    ban: &str,
) -> Result<crate::store::refresh::Rotated<T>, StoreError> {
    Ok(crate::store::refresh::Rotated::Ended {
        ended: crate::store::contract::Ended {
            reason: end_reason(reason)?,
            at_ms: num(at)?,
            note: crate::note::Note::from_stored(note),
        },
        ban_stands: !ban.is_empty(),
    })
}

pub(super) fn num(s: &str) -> Result<u64, StoreError> {
    s.parse().map_err(|_| corrupt("a number field"))
}

/// What the application said of a session, as its meta key holds it (JSON; absent when
/// nothing was said): label, address, user agent, fields.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct WireMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    f: Vec<(String, String)>,
}

/// A session's metadata as its meta key holds it, `""` for none.
pub(super) fn meta_json(meta: &SessionMeta) -> String {
    if meta.is_empty() {
        return String::new();
    }
    let s = |v: &Option<Arc<str>>| v.as_deref().map(str::to_owned);
    let wire = WireMeta {
        l: s(&meta.label),
        i: s(&meta.ip),
        a: s(&meta.user_agent),
        f: meta
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Metadata from its meta key's value (`""` for none).
pub(super) fn meta_of(raw: &str) -> Result<SessionMeta, StoreError> {
    if raw.is_empty() {
        return Ok(SessionMeta::default());
    }
    let wire: WireMeta = serde_json::from_str(raw).map_err(|_| corrupt("session metadata"))?;
    let a = |v: Option<String>| v.map(Arc::from);
    Ok(SessionMeta {
        label: a(wire.l),
        ip: a(wire.i),
        user_agent: a(wire.a),
        fields: wire
            .f
            .into_iter()
            .map(|(k, v)| (Arc::from(k), Arc::from(v)))
            .collect(),
    })
}

/// Session infos from a script's flat `{sid, user, device, issued, expires, ...}`.
pub(super) fn infos(flat: &[String]) -> Result<Vec<SessionInfo>, StoreError> {
    flat.chunks(5)
        .map(|c| match c {
            [sid, user, device, issued, expires] => Ok(SessionInfo {
                session_id: sid.parse().map_err(|_| corrupt("a session id"))?,
                user_id: Arc::from(user.as_str()),
                device: Arc::from(device.as_str()),
                issued_at_ms: num(issued)?,
                expires_at_ms: num(expires)?,
            }),
            _ => Err(corrupt("a session list")),
        })
        .collect()
}

/// JWT session infos from a script's flat `{jti, device, iat, exp, ...}`, all of
/// `user_id` (whose tag is `tag`).
pub(super) fn token_infos(
    user_id: &str,
    tag: u16,
    flat: &[String],
) -> Result<Vec<SessionInfo>, StoreError> {
    let user: Arc<str> = Arc::from(user_id);
    flat.chunks(4)
        .map(|c| match c {
            [jti, device, issued, expires] => Ok(SessionInfo {
                session_id: SessionId::from_jti(tag, jti).ok_or_else(|| corrupt("a jti"))?,
                user_id: user.clone(),
                device: Arc::from(device.as_str()),
                issued_at_ms: num(issued)?,
                expires_at_ms: num(expires)?,
            }),
            _ => Err(corrupt("a token list")),
        })
        .collect()
}

/// `(max, per_device)` of a rule, as the scripts take them (0: unlimited).
pub(super) fn rule_args(rule: LoginRule) -> (u32, u8) {
    match rule.limit() {
        Limit::Unlimited => (0, 0),
        Limit::PerDevice(n) => (n, 1),
        Limit::PerUser(n) => (n, 0),
    }
}

/// One user's restrictions in the JSON of their slot tag's key (`lua/restrict.lua`):
/// only that user's entry is read, so other users' entries cost a scan of their text,
/// never a parse, and cannot fail this user's request.
pub(super) fn restrictions_of(
    raw: Option<&str>,
    user_id: &str,
    now_ms: u64,
) -> Result<crate::restriction::Restrictions, StoreError> {
    use crate::restriction::{Level, Restriction, Restrictions, Scope};
    use serde_json::value::RawValue;
    let mut out = Restrictions::default();
    let Some(raw) = raw else {
        return Ok(out);
    };
    let all: std::collections::HashMap<String, &RawValue> =
        serde_json::from_str(raw).map_err(|_| corrupt("restrictions"))?;
    let Some(mine) = all.get(user_id) else {
        return Ok(out);
    };
    type Scopes = std::collections::HashMap<String, Vec<String>>;
    let mine: Scopes = serde_json::from_str(mine.get()).map_err(|_| corrupt("restrictions"))?;
    for (scope, fields) in &mine {
        let bad = || corrupt("restriction");
        let scope = Scope::new(scope).map_err(|_| bad())?;
        let level = fields
            .first()
            .and_then(|l| l.parse().ok())
            .ok_or_else(bad)?;
        let level = Level::new(level).map_err(|_| bad())?;
        let until_ms = num(fields.get(1).ok_or_else(bad)?)?;
        let note = match fields.get(2) {
            Some(text) => Some(crate::note::Note::from_stored(text).ok_or_else(bad)?),
            None => None,
        };
        let restriction = Restriction::new(scope, level, until_ms).with_note(note);
        // Kept as stored: the script held the bound when it wrote them.
        if restriction.is_live(now_ms) {
            out.restrict(restriction, now_ms).map_err(|_| bad())?;
        }
    }
    Ok(out)
}

/// A session's step-up windows as `lua/elevate.lua` keeps them: `{"u": user, "a": last
/// elevated at, "s": {scope: until}}` (numbers as strings); none without the key, or
/// for another user (the key is named by the session's token; a token of another user
/// that named it would find nothing).
pub(super) fn elevations_of(
    raw: Option<&str>,
    user_id: &str,
) -> Result<crate::restriction::Elevations, StoreError> {
    use crate::restriction::{Elevations, Scope};
    #[derive(serde::Deserialize)]
    struct Wire {
        u: String,
        a: Option<String>,
        #[serde(default)]
        s: std::collections::HashMap<String, String>,
    }
    let Some(raw) = raw else {
        return Ok(Elevations::default());
    };
    let bad = || corrupt("step-up windows");
    let wire: Wire = serde_json::from_str(raw).map_err(|_| bad())?;
    if wire.u != user_id {
        return Ok(Elevations::default());
    }
    let windows = wire
        .s
        .iter()
        .map(|(scope, until)| Ok((Scope::new(scope).map_err(|_| bad())?, num(until)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let last = wire.a.as_deref().map(num).transpose()?;
    Ok(Elevations::from_parts(windows, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_request_reads_only_its_own_users_entry() {
        let raw = r#"{"a\"b": {"content": ["2", "5000"]}, "other": "not even a map"}"#;
        let mine = restrictions_of(Some(raw), "a\"b", 1_000).unwrap();
        assert_eq!(mine.live(1_000).count(), 1);
        // Another user's broken entry costs this user nothing; their own would be corrupt.
        assert!(
            restrictions_of(Some(raw), "nobody", 1_000)
                .unwrap()
                .is_empty()
        );
        assert!(restrictions_of(Some(raw), "other", 1_000).is_err());
        // Lifted by the reader's clock.
        assert!(
            restrictions_of(Some(raw), "a\"b", 5_000)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn windows_are_read_for_their_own_user_only() {
        let raw = r#"{"u": "10001", "a": "100", "s": {"payment": "400"}}"#;
        let mine = elevations_of(Some(raw), "10001").unwrap();
        let payment = crate::restriction::Scope::new("payment").unwrap();
        assert_eq!(
            (mine.open(&payment, 200), mine.last_at_ms()),
            (Some(400), Some(100))
        );
        assert!(elevations_of(Some(raw), "10002").unwrap().is_empty());
        assert!(elevations_of(Some("[]"), "10001").is_err());
    }

    proptest! {
        /// Whatever a key holds, reading it never panics: it parses, or it is corrupt.
        #[test]
        fn stored_text_never_panics(raw in "\\PC{0,200}", user in "\\PC{0,10}", now in any::<u64>()) {
            let _ = restrictions_of(Some(&raw), &user, now);
            let _ = elevations_of(Some(&raw), &user);
        }
    }
}
