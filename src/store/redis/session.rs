//! Session mode on Redis: one JSON record per session, one index per user.

use std::borrow::Cow;
use std::sync::Arc;

use super::codec::token_infos;
use super::{
    Family, RedisFuture, RedisStore, codec, corrupt, end_code, end_reason, ended_reply, hex, infos,
    meta_json, meta_of, num, refresh_fields, rule_args,
};
use crate::note::Note;
use crate::policy::Overflow;
use crate::store::budget::{budget, within};
use crate::store::{
    contract::{
        Admission, Elevated, Elevation, EndReason, Ended, SessionEntry, SessionInfo, StoreError,
    },
    directory::{Page, PageRequest},
    refresh::{NewRefresh, Refreshed, Rotated, Rotation},
    session::{NewSession, Renewal, SessionRecord, SessionStore, Target, Touch},
};
use crate::token::{SessionId, SessionKey, user_tag};

impl SessionStore for RedisStore {
    type Lookup = RedisFuture<Option<SessionRecord>>;

    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        self.elevate_in(Family::Session, elevation, now_ms).await
    }

    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut budget = std::pin::pin!(budget(self.shared.timeout));
        let skey = self.keys().session(id);
        let read = self.read_record((id, &skey), None, now_ms, budget.as_mut());
        // The session's end applies, no token's own (as `SessionState::current_record`).
        Ok(read.await?.map(|record| SessionRecord {
            access_until_ms: None,
            ..record
        }))
    }

    async fn close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.close_in(Family::Session, (user_id, id), scope, now_ms)
            .await
    }

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        let store = self.clone();
        let key = *key;
        Box::pin(async move { store.lookup_now(&key, touch, now_ms).await })
    }

    async fn create(
        &self,
        session: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let info = &session.info;
        let rule = session.rule;
        self.note_tag(info.session_id.tag(), now_ms).await?;
        let keys = self.keys();
        let base = keys.base(user_tag(&info.user_id));
        let (max, per_device) = rule_args(rule);
        let declared = vec![
            keys.user(&info.user_id),
            keys.ban(&info.user_id),
            keys.session(info.session_id),
            keys.meta(info.session_id),
            keys.dir(info.session_id.tag()),
            keys.dir_due(info.session_id.tag()),
        ];
        let meta = meta_json(&session.meta);
        let refresh = refresh_json(session.refresh.as_ref(), session.access_until_ms);
        let digest = hex(session.key.digest());
        let idle = session
            .idle_deadline_ms
            .map(|d| d.to_string())
            .unwrap_or_default();
        let idle_ms = session.idle_ms.map(|d| d.to_string()).unwrap_or_default();
        let refuse = u8::from(rule.overflow() == Overflow::RefuseNew);
        let reply: Vec<String> = self
            .write(&self.shared.scripts.create, declared, |call| {
                call.arg(&base)
                    .arg(info.session_id.to_string())
                    .arg(&digest)
                    .arg(&*info.user_id)
                    .arg(&*info.device)
                    .arg(info.issued_at_ms)
                    .arg(info.expires_at_ms)
                    .arg(&idle)
                    .arg(session.retain_ms)
                    .arg(now_ms)
                    .arg(max)
                    .arg(per_device)
                    .arg(refuse)
                    .arg(&*session.class)
                    .arg(&idle_ms)
                    .arg(&meta)
                    .arg(&refresh)
                    .arg(&self.shared.channel);
            })
            .await?;
        match reply.split_first() {
            Some((status, rest)) if status == "ok" => Ok(Admission::Admitted(infos(rest)?)),
            Some((status, [until])) if status == "banned" => Ok(Admission::Banned {
                until_ms: num(until)?,
            }),
            Some((status, [])) if status == "limit" => Ok(Admission::LimitReached),
            Some((status, [])) if status == "collision" => {
                Err(StoreError::Corrupt("session id collision".into()))
            }
            _ => Err(corrupt("a login reply")),
        }
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let why = (reason, note);
        let reply: Vec<String> = match target {
            Target::User { user_id, device } => {
                self.end_user(user_id, device.unwrap_or_default(), "", why, now_ms)
                    .await?
            }
            Target::Others { user_id, keep } => {
                self.end_user(user_id, "", &keep.to_string(), why, now_ms)
                    .await?
            }
            Target::Token(key) => {
                self.end_session(key.session_id(), Some(key), "", why, now_ms)
                    .await?
            }
            Target::Session(id) => self.end_session(id, None, "", why, now_ms).await?,
            Target::SessionOf {
                user_id,
                session_id,
            } => {
                self.end_session(session_id, None, user_id, why, now_ms)
                    .await?
            }
        };
        infos(&reply)
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.ban_user(user_id, until_ms, note, now_ms).await
    }

    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionEntry>, StoreError> {
        let keys = self.keys();
        let declared = vec![keys.user(user_id)];
        let reply: Vec<String> = self
            .read(&self.shared.scripts.sessions, declared, |call| {
                call.arg(keys.base(user_tag(user_id))).arg(now_ms);
            })
            .await?;
        // Each session's infos, then its last sight and metadata.
        reply
            .chunks(7)
            .map(|c| match c {
                [info @ .., seen, meta] if info.len() == 5 => Ok(SessionEntry::new(
                    infos(info)?
                        .pop()
                        .ok_or_else(|| corrupt("a session list"))?,
                    meta_of(meta)?,
                    num(seen)?,
                )),
                _ => Err(corrupt("a session list")),
            })
            .collect()
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.walk(page, now_ms, super::directory::Kind::Session)
            .await
    }

    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let keys = self.keys();
        let declared = vec![keys.session(id), keys.meta(id), keys.elevations(id)];
        let message = crate::store::wire::updated_message(id, false);
        let idle = rotation
            .idle_deadline_ms
            .map(|d| d.to_string())
            .unwrap_or_default();
        let reply = self
            .write_rotation(&self.shared.scripts.refresh, declared, |call| {
                call.arg(keys.base(id.tag()))
                    .arg(id.to_string())
                    .arg(hex(rotation.presented.digest()))
                    .arg(hex(rotation.access.digest()))
                    .arg(hex(rotation.refresh.digest()))
                    .arg(now_ms)
                    .arg(&idle)
                    .arg(hex(rotation.presented.chain()))
                    .arg(&message)
                    .arg(&self.shared.channel);
            })
            .await?;
        rotated(id, &reply)
    }

    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let Renewal {
            key,
            expires_at_ms,
            idle_deadline_ms,
        } = renewal;
        let id = key.session_id();
        let keys = self.keys();
        let (digest, idle) = (
            hex(key.digest()),
            idle_deadline_ms.map(|d| d.to_string()).unwrap_or_default(),
        );
        let reply: Option<Vec<String>> = self
            .write(
                &self.shared.scripts.renew,
                vec![keys.session(id), keys.meta(id), keys.elevations(id)],
                |call| {
                    call.arg(keys.base(id.tag()))
                        .arg(&digest)
                        .arg(expires_at_ms)
                        .arg(&idle)
                        .arg(now_ms);
                },
            )
            .await?;
        reply
            .map(|r| match r.as_slice() {
                [user, device, issued, end] => Ok(SessionInfo {
                    session_id: id,
                    user_id: Arc::from(user.as_str()),
                    device: Arc::from(device.as_str()),
                    issued_at_ms: num(issued)?,
                    expires_at_ms: num(end)?,
                }),
                _ => Err(corrupt("a renew reply")),
            })
            .transpose()
    }
}

impl RedisStore {
    /// A ban, through either mode's call: it ends the user's sessions of both modes (see
    /// `SessionStore::ban`), and sets the ban, in one script.
    pub(super) async fn ban_user(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let tag = user_tag(user_id);
        let keys = self.keys();
        let declared = vec![keys.ban(user_id), keys.user(user_id)];
        let reply: Vec<String> = self
            .write(&self.shared.scripts.ban, declared, |call| {
                call.arg(keys.base(tag))
                    .arg(user_id)
                    .arg(until_ms)
                    .arg(now_ms)
                    .arg(note.map_or("", Note::as_stored))
                    .arg(&self.shared.channel);
            })
            .await?;
        // The sessions' fields, counted, then the tokens'.
        let bad = || corrupt("a ban reply");
        let (count, rest) = reply.split_first().ok_or_else(bad)?;
        let count: usize = count.parse().map_err(|_| bad())?;
        let (sessions, tokens) = (rest.get(..count), rest.get(count..));
        let (Some(sessions), Some(tokens)) = (sessions, tokens) else {
            return Err(bad());
        };
        Ok([infos(sessions)?, token_infos(user_id, tag, tokens)?].concat())
    }

    /// The record of session `id` (at key `skey`) for the token of `digest` (`None`:
    /// the current one), with what guards read and a ban's end, in one round trip (two
    /// for a session a ban ended).
    async fn read_record(
        &self,
        (id, skey): (SessionId, &str),
        digest: Option<&str>,
        now_ms: u64,
        budget: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // What guards read comes with the record, in the same round trip: the tag's
        // restrictions and the session's step-up windows, whose keys the token names
        // (one slot on a Cluster).
        let keys = self.keys();
        let (rkey, ekey) = (keys.restrictions(id.tag()), keys.elevations(id));
        let [raw, restricted, elevated] = self.get_many([skey, &rkey, &ekey]).await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some(mut record) = record(id, digest, &raw, now_ms)? else {
            return Ok(None);
        };
        if restricted.is_some() {
            record.restrictions =
                codec::restrictions_of(restricted.as_deref(), &record.info.user_id, now_ms)?;
        }
        record.elevations = codec::elevations_of(elevated.as_deref(), &record.info.user_id)?;
        if record
            .ended
            .as_ref()
            .is_some_and(|e| e.reason == EndReason::Banned)
        {
            let ban_key = self.keys().ban(&record.info.user_id);
            let ban = within(budget, self.get(&ban_key)).await?;
            record.ban_until_ms = ban.map(|b| num(&b)).transpose()?.filter(|&b| b > now_ms);
        }
        Ok(Some(record))
    }

    async fn lookup_now(
        &self,
        key: &SessionKey,
        touch: Option<Touch>,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // One timeout for the request, however many calls it makes.
        let mut budget = std::pin::pin!(budget(self.shared.timeout));
        let id = key.session_id();
        let (skey, digest) = (self.keys().session(id), hex(key.digest()));
        let read = self.read_record((id, &skey), Some(&digest), now_ms, budget.as_mut());
        let Some(mut record) = read.await? else {
            return Ok(None);
        };
        if let Some(touch) = touch.filter(|t| t.due(record.last_seen_ms, now_ms))
            && record.token_is_live(now_ms)
        {
            let own = record.idle_ms.map(|idle| now_ms.saturating_add(idle));
            let deadline = own
                .or(touch.deadline_ms)
                .filter(|_| record.idle_deadline_ms.is_some())
                .map(|d| d.min(record.info.expires_at_ms));
            let mut call = self.shared.scripts.touch.key(skey);
            call.key(self.keys().meta(id));
            call.arg(digest)
                .arg(now_ms)
                .arg(deadline.map(|d| d.to_string()).unwrap_or_default())
                .arg(touch.min_step_ms);
            let moved: u8 = within(budget.as_mut(), self.run(call)).await?;
            // The record as it now stands, so a cache of it is not due at once.
            if moved == 1 {
                record.last_seen_ms = now_ms;
                record.idle_deadline_ms = record.idle_deadline_ms.max(deadline);
            }
        }
        Ok(Some(record))
    }

    /// Ends one session (of the token `key`, or of `owner` if not empty).
    async fn end_session(
        &self,
        id: SessionId,
        key: Option<&SessionKey>,
        owner: &str,
        (reason, note): (EndReason, Option<&Note>),
        now_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let keys = self.keys();
        let digest = key.map(|k| hex(k.digest())).unwrap_or_default();
        self.write(&self.shared.scripts.end, vec![keys.session(id)], |call| {
            call.arg(keys.base(id.tag()))
                .arg("s")
                .arg(end_code(reason))
                .arg(now_ms)
                .arg(id.to_string())
                .arg(&digest)
                .arg(owner)
                .arg(note.map_or("", Note::as_stored))
                .arg(&self.shared.channel);
        })
        .await
    }

    /// Ends a user's sessions (on `device` if not empty), but `keep` if not empty.
    async fn end_user(
        &self,
        user_id: &str,
        device: &str,
        keep: &str,
        (reason, note): (EndReason, Option<&Note>),
        now_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let keys = self.keys();
        self.write(&self.shared.scripts.end, vec![keys.user(user_id)], |call| {
            call.arg(keys.base(user_tag(user_id)))
                .arg("u")
                .arg(end_code(reason))
                .arg(now_ms)
                .arg(device)
                .arg(user_id)
                .arg(keep)
                .arg(note.map_or("", Note::as_stored))
                .arg(&self.shared.channel);
        })
        .await
    }
}

/// A record as stored, in the scripts' one- and two-letter names (the table in
/// `scripts.rs`); times are decimal strings, optional fields absent or strings. Its
/// strings borrow from the reply where nothing is escaped: a request reads one.
#[derive(serde::Deserialize)]
struct Stored<'a> {
    #[serde(rename = "d", borrow)]
    digest: Text<'a>,
    #[serde(rename = "u", borrow)]
    user: Text<'a>,
    #[serde(rename = "v", borrow)]
    device: Text<'a>,
    #[serde(rename = "i", borrow)]
    issued: Text<'a>,
    #[serde(rename = "e", borrow)]
    end: Text<'a>,
    #[serde(rename = "l", borrow, default, deserialize_with = "present")]
    idle_deadline: Option<Text<'a>>,
    #[serde(rename = "r", borrow)]
    retention: Text<'a>,
    /// A tombstone's reason and when.
    #[serde(rename = "x", borrow, default, deserialize_with = "present")]
    ended: Option<Text<'a>>,
    #[serde(rename = "a", borrow, default, deserialize_with = "present")]
    ended_at: Option<Text<'a>>,
    /// With a refresh token: the access token's end, and the access token the last
    /// refresh replaced, with its end.
    #[serde(rename = "ae", borrow, default, deserialize_with = "present")]
    access_end: Option<Text<'a>>,
    #[serde(rename = "pd", borrow, default, deserialize_with = "present")]
    previous_digest: Option<Text<'a>>,
    #[serde(rename = "pe", borrow, default, deserialize_with = "present")]
    previous_end: Option<Text<'a>>,
    /// The revocation's note, if it was given one.
    #[serde(rename = "o", borrow, default, deserialize_with = "present")]
    note: Option<Text<'a>>,
    #[serde(rename = "t", borrow, default, deserialize_with = "present")]
    last_seen: Option<Text<'a>>,
    /// Own lifetime and idle timeout (absent in records of older versions).
    #[serde(rename = "w", borrow, default, deserialize_with = "present")]
    lifetime: Option<Text<'a>>,
    #[serde(rename = "k", borrow, default, deserialize_with = "present")]
    idle: Option<Text<'a>>,
    /// The creation order, which the scripts read: checked, not used. A record they
    /// pass over as unreadable (no revocation reaches it) must open no request either.
    #[serde(rename = "n", borrow)]
    order: Text<'a>,
}

/// A string of a record. A newtype, since serde borrows a bare `Cow` but not one inside
/// an `Option`.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// An optional field is absent or a string, never `null`: the scripts write none, and
/// read one as present (a `null` end would be a tombstone to them and a live session to
/// a plain `Option`).
fn present<'de, D: serde::Deserializer<'de>>(field: D) -> Result<Option<Text<'de>>, D::Error> {
    serde::Deserialize::deserialize(field).map(Some)
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A record's last sight: when a request last renewed it (`t`), never before its issue.
fn seen(issued_at_ms: u64, last_seen_ms: Option<u64>) -> u64 {
    last_seen_ms.unwrap_or(issued_at_ms).max(issued_at_ms)
}

/// A new session's refresh fields, as `create.lua` merges them into its record.
fn refresh_json(refresh: Option<&NewRefresh>, access_until_ms: Option<u64>) -> String {
    let Some(r) = refresh else {
        return String::new();
    };
    let mut fields = refresh_fields(r);
    if let Some(a) = access_until_ms {
        fields["ae"] = a.to_string().into();
    }
    fields.to_string()
}

/// What `refresh.lua` answered.
fn rotated(id: SessionId, reply: &[String]) -> Result<Rotated<Refreshed>, StoreError> {
    let bad = || corrupt("a refresh reply");
    let Some((status, rest)) = reply.split_first() else {
        return Err(bad());
    };
    Ok(match (status.as_str(), rest) {
        ("ok", [user, device, issued, end, access, refresh]) => Rotated::Done(Refreshed {
            session: SessionInfo {
                session_id: id,
                user_id: Arc::from(user.as_str()),
                device: Arc::from(device.as_str()),
                issued_at_ms: num(issued)?,
                expires_at_ms: num(end)?,
            },
            access_until_ms: num(access)?,
            refresh_until_ms: num(refresh)?,
        }),
        ("unknown", []) => Rotated::Unknown,
        ("expired", []) => Rotated::Expired,
        ("ended", [reason, at, note, ban]) => ended_reply(reason, at, note, ban)?,
        ("reused", ended) => Rotated::Reused(infos(ended)?.into()),
        _ => return Err(bad()),
    })
}

/// What a stored record says for the token of `digest` (`None`: the current one), or
/// `None` if it belongs to another token or is past its purge time.
fn record(
    id: SessionId,
    digest: Option<&str>,
    raw: &str,
    now_ms: u64,
) -> Result<Option<SessionRecord>, StoreError> {
    let rec: Stored<'_> = serde_json::from_str(raw).map_err(|_| corrupt("a session record"))?;
    num(&rec.order)?;
    let digest = digest.unwrap_or(&rec.digest);
    // The current access token, or the one the last refresh replaced (which says
    // `token_expired` past its end).
    let access_until_ms = if *rec.digest == *digest {
        rec.access_end.as_deref().map(num).transpose()?
    } else {
        match (
            rec.previous_digest.as_deref(),
            rec.previous_end.as_deref().map(num).transpose()?,
        ) {
            (Some(pd), Some(pe)) if pd == digest => Some(pe),
            _ => return Ok(None),
        }
    };
    let ended = match rec.ended.as_deref() {
        Some(code) => Some(Ended {
            reason: end_reason(code)?,
            at_ms: num(rec.ended_at.as_deref().unwrap_or_default())?,
            note: rec.note.as_deref().and_then(Note::from_stored),
        }),
        None => None,
    };
    let record = SessionRecord {
        info: SessionInfo {
            session_id: id,
            user_id: Arc::from(&*rec.user),
            device: Arc::from(&*rec.device),
            issued_at_ms: num(&rec.issued)?,
            expires_at_ms: num(&rec.end)?,
        },
        idle_deadline_ms: rec.idle_deadline.as_deref().map(num).transpose()?,
        ended,
        ban_until_ms: None,
        last_seen_ms: seen(
            num(&rec.issued)?,
            rec.last_seen.as_deref().map(num).transpose()?,
        ),
        lifetime_ms: match rec.lifetime.as_deref() {
            Some(w) => num(w)?,
            None => num(&rec.end)?.saturating_sub(num(&rec.issued)?),
        },
        idle_ms: rec.idle.as_deref().map(num).transpose()?,
        access_until_ms,
        restrictions: Default::default(),
        elevations: Default::default(),
    };
    Ok((record.purge_at(num(&rec.retention)?) > now_ms).then_some(record))
}
