//! JWT mode on Redis: one revocation state per user, read with the user's restrictions in
//! one `MGET` per request.

use std::sync::Arc;

use super::codec::token_infos;
use super::{
    Family, RedisFuture, RedisStore, codec, corrupt, end_code, end_reason, ended_reply, hex,
    meta_json, meta_of, num, refresh_fields, rule_args,
};
use crate::limits::MAX_LEEWAY_MS;
use crate::note::Note;
use crate::policy::Overflow;
use crate::store::budget::{budget, within};
use crate::store::directory::{Page, PageRequest};
use crate::store::jwt::{Bump, DeviceGen, JwtRefresh, JwtRefreshed, JwtState, idle_over};
use crate::store::refresh::{JwtRotation, Refreshed, Rotated};
use crate::store::{
    contract::{
        Admission, Elevated, Elevation, EndReason, Ended, Ends, SessionEntry, SessionInfo,
        StoreError,
    },
    jwt::{JwtGrant, JwtIssue, JwtStatus, JwtStore, JwtTarget, JwtToken},
};
use crate::token::{SessionId, user_tag};

impl JwtStore for RedisStore {
    type JwtCheck = RedisFuture<JwtStatus>;

    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let store = self.clone();
        let keys = self.keys();
        let skey = keys.jwt_state(token.user_id);
        let bkey = keys.ban(token.user_id);
        // What guards read comes with the state, in the same round trip: the tag's
        // restrictions and the token's step-up windows.
        let rkey = keys.restrictions(token.tag);
        let id = SessionId::from_jti(token.tag, token.jti);
        let ekey = id.map(|id| keys.jwt_elevations(id));
        let user_id = token.user_id.to_owned();
        let (jti, device) = (token.jti.to_owned(), token.device.to_owned());
        let (user_gen, device_gen, epoch) = (token.user_gen, token.device_gen, token.epoch);
        let idle = token.idle;
        let seen_key = id.map(|id| keys.jwt_seen(id));
        // The sight expires with the token (and any verifier's leeway); with an idle
        // timeout, not before the session would go idle: a refresh after the token's
        // end reads it (gone, it would read the login's time and call the session idle).
        let seen = token.seen_until_ms.map(|until| {
            let idle = token
                .idle
                .map_or(0, |(idle, _)| idle.saturating_add(now_ms));
            until
                .max(idle)
                .saturating_add(MAX_LEEWAY_MS)
                .saturating_sub(now_ms)
        });
        Box::pin(async move {
            // One timeout for the request: a sighting written after the read gets what
            // the read left of it.
            let mut budget = std::pin::pin!(budget(store.shared.timeout));
            // A jti that names no key (not one of ours) has no windows: read the state
            // twice instead.
            let ekey = ekey.as_deref().unwrap_or(&skey);
            let ([raw, restricted, elevated], last_seen_ms) = match (idle, seen, &seen_key) {
                // An idle timeout reads the last sight with the state (one round trip),
                // and records a new one only if the token is not idle too long.
                (Some(_), _, Some(note)) => {
                    let [raw, restricted, elevated, last] =
                        store.get_many([&skey, &rkey, ekey, note]).await?;
                    let mut last = last.map(|l| num(&l)).transpose()?;
                    // Never back: an instance whose clock is behind leaves a later sight.
                    let later = last.is_none_or(|l| now_ms > l);
                    if let Some(ttl) = seen.filter(|_| later && !idle_over(idle, last, now_ms)) {
                        within(budget.as_mut(), store.set_px(note, now_ms, ttl)).await?;
                        // What the store now holds (a near cache keeps this answer).
                        last = Some(now_ms);
                    }
                    // An end pins an idle token's sight (`jpin` in the scripts), so an
                    // ended token's says whether it went idle first.
                    ([raw, restricted, elevated], last)
                }
                (_, Some(ttl), Some(note)) => {
                    let keys = [skey.as_str(), &rkey, ekey];
                    (store.get_many_noting(keys, note, now_ms, ttl).await?, None)
                }
                _ => (store.get_many([&skey, &rkey, ekey]).await?, None),
            };
            let elevated = elevated.filter(|_| ekey != skey);
            let Some(raw) = raw else {
                return Ok(JwtStatus::default());
            };
            let state = jwt_state(&raw)?;
            let token = JwtToken {
                user_id: "",
                epoch,
                tag: 0,
                jti: &jti,
                device: &device,
                user_gen,
                device_gen,
                seen_until_ms: None,
                idle: None,
                recheck: false,
            };
            if !state.issued(token) {
                return Ok(JwtStatus::default());
            }
            let ended = state.ended(token);
            let ban_until_ms = match ended {
                Some(Ended {
                    reason: EndReason::Banned,
                    ..
                }) => store
                    .get(&bkey)
                    .await?
                    .map(|b| num(&b))
                    .transpose()?
                    .filter(|&b| b > now_ms),
                _ => None,
            };
            let restrictions = match restricted {
                None => Default::default(),
                raw => codec::restrictions_of(raw.as_deref(), &user_id, now_ms)?,
            };
            Ok(JwtStatus {
                known: true,
                ended,
                ban_until_ms,
                last_seen_ms,
                restrictions,
                elevations: codec::elevations_of(elevated.as_deref(), &user_id)?,
            })
        })
    }

    async fn jwt_issue(
        &self,
        issue: JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<JwtGrant>, StoreError> {
        let user_id = &*issue.user_id;
        let tag = user_tag(user_id);
        let keys = self.keys();
        let (max, per_device) = rule_args(issue.rule);
        let Some(id) = SessionId::from_jti(tag, &issue.jti) else {
            return Err(corrupt("a jti"));
        };
        self.note_tag(tag, now_ms).await?;
        let declared = vec![
            keys.jwt_state(user_id),
            keys.jwt_index(user_id),
            keys.ban(user_id),
            keys.jwt_token(id),
            keys.jwt_meta(id),
            keys.jwt_refresh(id),
            keys.dir(tag),
            keys.dir_due(tag),
            keys.jwt_refreshes(user_id),
        ];
        let meta = meta_json(&issue.meta);
        let refresh = issue.refresh.as_ref().map(refresh_json).unwrap_or_default();
        let refuse = u8::from(issue.rule.overflow() == Overflow::RefuseNew);
        let reply: Vec<String> = self
            .write(&self.shared.scripts.jwt_issue, declared, |call| {
                call.arg(keys.base(tag))
                    .arg(user_id)
                    .arg(&issue.jti)
                    .arg(&*issue.device)
                    .arg(issue.issued_at_ms)
                    .arg(issue.expires_at_ms)
                    .arg(now_ms)
                    .arg(max)
                    .arg(per_device)
                    .arg(refuse)
                    .arg(issue.fresh_epoch.to_string())
                    .arg(&*issue.class)
                    .arg(issue.idle_ms.map(|i| i.to_string()).unwrap_or_default())
                    .arg(&meta)
                    .arg(&refresh)
                    .arg(&self.shared.channel);
            })
            .await?;
        match reply.split_first() {
            Some((status, [epoch, user_gen, device_gen, bumped, rest @ ..])) if status == "ok" => {
                Ok(Admission::Admitted(JwtGrant {
                    epoch: num(epoch)?,
                    user_gen: num(user_gen)?,
                    device_gen: num(device_gen)?,
                    replaced: token_infos(user_id, tag, rest)?,
                    bumped: bumped == "1",
                }))
            }
            Some((status, [until])) if status == "banned" => Ok(Admission::Banned {
                until_ms: num(until)?,
            }),
            Some((status, [])) if status == "limit" => Ok(Admission::LimitReached),
            Some((status, [])) if status == "collision" => Err(crate::store::jwt::jti_collision()),
            _ => Err(corrupt("a JWT login reply")),
        }
    }

    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        self.elevate_in(Family::Jwt, elevation, now_ms).await
    }

    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.close_in(Family::Jwt, (user_id, id), scope, now_ms)
            .await
    }

    async fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let keys = self.keys();
        // A token's user is found from its `jt` key; a named user must be that one.
        let of_user = |user_id| vec![keys.jwt_state(user_id), keys.jwt_index(user_id)];
        let (tag, declared, mode, what, user_id) = match target {
            JwtTarget::User {
                user_id,
                device: None,
            } => (
                user_tag(user_id),
                of_user(user_id),
                "u",
                String::new(),
                user_id,
            ),
            JwtTarget::User {
                user_id,
                device: Some(device),
            } => (
                user_tag(user_id),
                of_user(user_id),
                "d",
                device.to_owned(),
                user_id,
            ),
            JwtTarget::Token {
                session_id: id,
                user_id,
            } => (id.tag(), vec![keys.jwt_token(id)], "t", id.jti(), user_id),
            JwtTarget::Session(id) => (id.tag(), vec![keys.jwt_token(id)], "t", id.jti(), ""),
            JwtTarget::Others { user_id, keep } => (
                user_tag(user_id),
                of_user(user_id),
                "o",
                keep.jti(),
                user_id,
            ),
        };
        let reply: Vec<String> = self
            .write(&self.shared.scripts.jwt_end, declared, |call| {
                call.arg(keys.base(tag))
                    .arg(mode)
                    .arg(end_code(reason))
                    .arg(now_ms)
                    .arg(&what)
                    .arg(user_id)
                    .arg(note.map_or("", Note::as_stored))
                    .arg(&self.shared.channel);
            })
            .await?;
        let Some((user, rest)) = reply.split_first() else {
            return Ok(Ends::default());
        };
        let (ended, replaced) = match rest.iter().position(|v| v == "|") {
            Some(at) => rest.split_at(at),
            None => (rest, &[][..]),
        };
        Ok(Ends {
            ended: token_infos(user, tag, ended)?,
            replaced: token_infos(user, tag, replaced.get(1..).unwrap_or_default())?,
        })
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.walk(page, now_ms, super::directory::Kind::Jwt).await
    }

    async fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<JwtRefreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let keys = self.keys();
        let reply = self
            .write_rotation(
                &self.shared.scripts.jwt_refresh,
                vec![keys.jwt_refresh(id), keys.jwt_elevations(id)],
                |call| {
                    call.arg(keys.base(id.tag()))
                        .arg(id.jti())
                        .arg(hex(rotation.presented.digest()))
                        .arg(hex(rotation.refresh.digest()))
                        .arg(now_ms)
                        .arg(hex(rotation.presented.chain()))
                        .arg(&self.shared.channel);
                },
            )
            .await?;
        jwt_rotated(id, &reply)
    }

    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.ban_user(user_id, until_ms, note, now_ms).await
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let tag = user_tag(user_id);
        let keys = self.keys();
        let declared = vec![keys.jwt_index(user_id)];
        let reply: Vec<String> = self
            .read(&self.shared.scripts.jwt_sessions, declared, |call| {
                call.arg(keys.base(tag)).arg(now_ms);
            })
            .await?;
        // Each token's infos, then its last sight and metadata.
        reply
            .chunks(6)
            .map(|c| match c {
                [info @ .., seen, meta] if info.len() == 4 => Ok(SessionEntry::new(
                    token_infos(user_id, tag, info)?
                        .pop()
                        .ok_or_else(|| corrupt("a token list"))?,
                    meta_of(meta)?,
                    num(seen)?,
                )),
                _ => Err(corrupt("a token list")),
            })
            .collect()
    }
}

/// JWT mode's state as stored (see `scripts.rs`): bumps are `[reason, at, until]`.
#[derive(serde::Deserialize)]
struct WireState {
    #[serde(default, rename = "ep")]
    epoch: String,
    #[serde(rename = "g")]
    generation: u64,
    /// The user generation's bumps, by generation.
    #[serde(default, rename = "gb")]
    bumps: std::collections::BTreeMap<String, WireBump>,
    #[serde(default, rename = "d")]
    devices: std::collections::BTreeMap<String, WireDevice>,
    /// The blacklist: revoked tokens by `jti`.
    #[serde(default, rename = "bl")]
    revoked: std::collections::BTreeMap<String, WireBump>,
    /// The latest end of the user's tokens.
    #[serde(rename = "mx")]
    max_exp: String,
}

#[derive(serde::Deserialize)]
struct WireDevice {
    #[serde(rename = "g")]
    generation: u64,
    #[serde(default, rename = "b")]
    bumps: std::collections::BTreeMap<String, WireBump>,
}

/// `[reason, at, until]` or `[reason, at, until, note]`.
type WireBump = Vec<String>;

fn bump(wire: &WireBump) -> Result<Bump, StoreError> {
    let [reason, at, until, note @ ..] = wire.as_slice() else {
        return Err(corrupt("a bump"));
    };
    Ok(Bump {
        reason: end_reason(reason)?,
        at_ms: num(at)?,
        until_ms: num(until)?,
        note: note.first().and_then(|n| Note::from_stored(n)),
    })
}

fn bumps(
    wire: &std::collections::BTreeMap<String, WireBump>,
) -> Result<std::collections::BTreeMap<u64, Bump>, StoreError> {
    wire.iter().map(|(g, b)| Ok((num(g)?, bump(b)?))).collect()
}

/// The validation part of a stored JWT state (the index is not read).
fn jwt_state(raw: &str) -> Result<JwtState, StoreError> {
    let wire: WireState = serde_json::from_str(raw).map_err(|_| corrupt("a JWT state"))?;
    Ok(JwtState {
        epoch: if wire.epoch.is_empty() {
            0
        } else {
            num(&wire.epoch)?
        },
        generation: wire.generation,
        bumps: bumps(&wire.bumps)?,
        devices: wire
            .devices
            .iter()
            .map(|(name, d)| {
                Ok((
                    name.clone(),
                    DeviceGen {
                        generation: d.generation,
                        bumps: bumps(&d.bumps)?,
                    },
                ))
            })
            .collect::<Result<_, StoreError>>()?,
        revoked: wire
            .revoked
            .iter()
            .map(|(j, b)| Ok((j.clone(), bump(b)?)))
            .collect::<Result<_, StoreError>>()?,
        max_exp_ms: num(&wire.max_exp)?,
        index: Default::default(),
    })
}

/// A login's refresh record, as `jwt_issue.lua` completes it.
fn refresh_json(r: &JwtRefresh) -> String {
    let mut fields = refresh_fields(&r.refresh);
    if let Some(claims) = &r.claims {
        fields["x"] = claims.clone().into();
    }
    if let Some(idle) = r.own_idle_ms {
        fields["k"] = idle.to_string().into();
    }
    fields.to_string()
}

/// What `jwt_refresh.lua` answered.
fn jwt_rotated(id: SessionId, reply: &[String]) -> Result<Rotated<JwtRefreshed>, StoreError> {
    let bad = || corrupt("a JWT refresh reply");
    let Some((status, rest)) = reply.split_first() else {
        return Err(bad());
    };
    let tag = id.tag();
    Ok(match (status.as_str(), rest) {
        (
            "ok",
            [
                user,
                device,
                issued,
                end,
                access,
                refresh,
                epoch,
                ug,
                dg,
                claims,
                idle,
            ],
        ) => Rotated::Done(JwtRefreshed {
            refreshed: Refreshed {
                session: SessionInfo {
                    session_id: id,
                    user_id: Arc::from(user.as_str()),
                    device: Arc::from(device.as_str()),
                    issued_at_ms: num(issued)?,
                    expires_at_ms: num(end)?,
                },
                access_until_ms: num(access)?,
                refresh_until_ms: num(refresh)?,
            },
            epoch: num(epoch)?,
            user_gen: num(ug)?,
            device_gen: num(dg)?,
            claims: (!claims.is_empty()).then(|| claims.clone()),
            own_idle_ms: (!idle.is_empty()).then(|| num(idle)).transpose()?,
        }),
        ("unknown", []) => Rotated::Unknown,
        ("expired", []) => Rotated::Expired,
        ("ended", [reason, at, note, ban]) => ended_reply(reason, at, note, ban)?,
        ("reused", [user, rest @ ..]) => {
            let (ended, replaced) = match rest.iter().position(|v| v == "|") {
                Some(at) => rest.split_at(at),
                None => (rest, &[][..]),
            };
            Rotated::Reused(Ends {
                ended: token_infos(user, tag, ended)?,
                replaced: token_infos(user, tag, replaced.get(1..).unwrap_or_default())?,
            })
        }
        _ => return Err(bad()),
    })
}
