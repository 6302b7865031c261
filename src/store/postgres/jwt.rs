//! JWT mode on PostgreSQL: the user's revocation state ([`JwtState`] without its index)
//! in the user's row, read with the token's own row on every request; the index as one
//! row per live token (what listings and the directory read); refresh chains by `jti`.
//! Every rule is the pure machines', applied under the user's row lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{
    PostgresFuture, PostgresStore, UserRow, col, corrupt, db_error, from_ms, held, meta_of, ms,
    parse, readable, to_json,
};
use crate::limits::{MAX_REFRESH_TOKENS, kept_until};
use crate::note::Note;
use crate::restriction::Closed;
use crate::store::budget::{budget, within};
use crate::store::directory::OnlineSession;
use crate::store::jwt::{
    JwtEntry, JwtGrant, JwtIssue, JwtRefreshState, JwtRefreshed, JwtState, JwtStatus, JwtStore,
    JwtTarget, JwtToken, Tokens, answered,
};
use crate::store::refresh::JwtRotation;
use crate::store::wire::{changed_message, ended_messages, updated_message};
use crate::store::{
    contract::{
        Admission, Elevated, Elevation, EndReason, Ended, Ends, SessionEntry, SessionInfo,
        SessionMeta, StoreError,
    },
    directory::{Page, PageRequest},
    refresh::Rotated,
};
use crate::token::{SessionId, user_tag};

/// A user's JWT state as one transaction read it, and its index as it was then (what a
/// save compares against).
struct Loaded {
    state: Option<JwtState>,
    before: BTreeMap<String, JwtEntry>,
}

impl Loaded {
    /// The state, created under `epoch` if the user has none.
    fn state_or(&mut self, epoch: u64) -> &mut JwtState {
        self.state.get_or_insert_with(|| JwtState {
            epoch,
            ..JwtState::default()
        })
    }

    /// Whether a generation moved since the read: tokens no index lists ended too.
    fn bumped(&self, user: &UserRow) -> Result<bool, StoreError> {
        let Some(now) = &self.state else {
            return Ok(false);
        };
        let before: Option<JwtState> = user
            .jwt
            .as_deref()
            .map(|raw| parse(raw, "a JWT state"))
            .transpose()?;
        Ok(before.is_none_or(|b| {
            b.generation != now.generation
                || now.devices.iter().any(|(d, g)| {
                    b.devices
                        .get(d)
                        .is_none_or(|bg| bg.generation != g.generation)
                })
        }))
    }
}

/// The session ids and infos of index entries of `user_id`'s.
fn infos(user_id: &str, tokens: &Tokens) -> Vec<SessionInfo> {
    let user: Arc<str> = Arc::from(user_id);
    let tag = user_tag(user_id);
    tokens
        .iter()
        .filter_map(|(jti, e)| e.info(&user, tag, jti))
        .collect()
}

fn ids(infos: &[SessionInfo]) -> Vec<SessionId> {
    infos.iter().map(|i| i.session_id).collect()
}

impl PostgresStore {
    /// Whether a refresh record of `jti` exists.
    async fn refresh_held(&self, tx: &Transaction<'_>, jti: &str) -> Result<bool, StoreError> {
        let find = tx
            .prepare_cached(&self.sql().jwt_refresh)
            .await
            .map_err(db_error)?;
        let row = tx.query_opt(&find, &[&jti]).await.map_err(db_error)?;
        Ok(row.is_some())
    }

    /// A ban's JWT half (see `ban_user`): ends every token of the user with one bump,
    /// and saves the user's row (its ban set by the caller) with the state. The infos
    /// of those it ended and the messages announcing them; `None`, and nothing saved,
    /// for a user without a JWT state.
    pub(super) async fn ban_tokens(
        &self,
        tx: &Transaction<'_>,
        user_id: &str,
        user: &mut UserRow,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Option<(Vec<SessionInfo>, Vec<String>)>, StoreError> {
        let mut loaded = self.jwt_load(tx, user_id, user).await?;
        let Some(state) = &mut loaded.state else {
            return Ok(None);
        };
        let ended = state.end_user(None, EndReason::Banned, note, now_ms).0;
        self.jwt_save(tx, user_id, user, &mut loaded, now_ms)
            .await?;
        let ended = infos(user_id, &ended);
        let mut messages = ended_messages(&ids(&ended), EndReason::Banned, note);
        messages.push(changed_message(user_tag(user_id)));
        Ok(Some((ended, messages)))
    }

    /// `user_id`'s JWT state with its index (the caller holds the user's lock).
    async fn jwt_load(
        &self,
        tx: &Transaction<'_>,
        user_id: &str,
        user: &UserRow,
    ) -> Result<Loaded, StoreError> {
        let Some(raw) = &user.jwt else {
            return Ok(Loaded {
                state: None,
                before: BTreeMap::new(),
            });
        };
        let mut state: JwtState = parse(raw, "a JWT state")?;
        let read = tx
            .prepare_cached(&self.sql().jwt_tokens_of)
            .await
            .map_err(db_error)?;
        let tag = user_tag(user_id);
        for row in tx.query(&read, &[&user_id]).await.map_err(db_error)? {
            let Some((jti, entry)) = listed(&row)? else {
                continue;
            };
            // A `jti` that names no session (a hand edit) is passed over as an entry
            // that does not read: no token can present it, and a write could not name
            // its row to drop it.
            if SessionId::from_jti(tag, &jti).is_none() {
                tracing::warn!("a token entry whose jti does not read");
                continue;
            }
            state.index.insert(jti, entry);
        }
        Ok(Loaded {
            before: state.index.clone(),
            state: Some(state),
        })
    }

    /// Writes the state back (pruned): the user's row, and the index rows that changed.
    async fn jwt_save(
        &self,
        tx: &Transaction<'_>,
        user_id: &str,
        user: &mut UserRow,
        loaded: &mut Loaded,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let Some(state) = &mut loaded.state else {
            return Ok(());
        };
        state.prune(now_ms);
        let tag = user_tag(user_id);
        let id = |jti: &str| SessionId::from_jti(tag, jti).ok_or_else(|| corrupt("a jti"));
        let mut gone = Vec::new();
        for jti in loaded
            .before
            .keys()
            .filter(|j| !state.index.contains_key(*j))
        {
            gone.push(id(jti)?.as_bytes().to_vec());
        }
        let mut cols = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for (jti, e) in &state.index {
            if loaded.before.get(jti) == Some(e) {
                continue;
            }
            cols.0.push(id(jti)?.as_bytes().to_vec());
            cols.1.push(user_id.to_owned());
            cols.2.push(jti.clone());
            cols.3.push(e.class.to_string());
            cols.4.push(ms(e.expires_at_ms));
            cols.5.push(ms(kept_until(e.expires_at_ms)));
            cols.6.push(ms(e.last_seen_ms));
            // The metadata in its own column: a request's read parses none of it.
            let slim = JwtEntry {
                meta: SessionMeta::default(),
                ..e.clone()
            };
            cols.7.push(to_json(&slim)?);
            cols.8.push(to_json(&e.meta)?);
        }
        if !gone.is_empty() {
            let drop = tx
                .prepare_cached(&self.sql().drop_jwt_tokens)
                .await
                .map_err(db_error)?;
            tx.execute(&drop, &[&gone]).await.map_err(db_error)?;
        }
        if !cols.0.is_empty() {
            let save = tx
                .prepare_cached(&self.sql().save_jwt_tokens)
                .await
                .map_err(db_error)?;
            let params: [&(dyn ToSql + Sync); 9] = [
                &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6, &cols.7, &cols.8,
            ];
            // A row of another user's by that id (a `jti` collision within the tag:
            // 96 random bits) is neither written over nor counted: refused.
            let written = tx.execute(&save, &params).await.map_err(db_error)?;
            if written != cols.0.len() as u64 {
                return Err(crate::store::jwt::jti_collision());
            }
        }
        // The user's row keeps the state without its index.
        let index = std::mem::take(&mut state.index);
        user.jwt = match state.is_empty() && index.is_empty() {
            true => None,
            false => Some(to_json(&*state)?),
        };
        state.index = index;
        let until = state.expires_at_ms();
        self.save_user(tx, user_id, user, Some(until)).await
    }

    /// A JWT end of `user_id`'s: `end` applies it to the state (`None`: no state); saved,
    /// announced (with a tag message when a generation moved), committed.
    async fn jwt_end_of(
        &self,
        user_id: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        end: impl FnOnce(&mut JwtState) -> (Tokens, Tokens) + Send,
    ) -> Result<Ends, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, user_id, now_ms).await?;
            let mut loaded = self.jwt_load(&tx, user_id, &user).await?;
            let Some(state) = &mut loaded.state else {
                return Ok(Ends::default());
            };
            let (ended, replaced) = end(state);
            let ends = Ends {
                ended: infos(user_id, &answered(&ended, now_ms)),
                replaced: infos(user_id, &replaced),
            };
            let bumped = loaded.bumped(&user)? || !ends.replaced.is_empty();
            self.jwt_save(&tx, user_id, &mut user, &mut loaded, now_ms)
                .await?;
            let mut messages = ended_messages(&ids(&infos(user_id, &ended)), reason, note);
            messages.extend(ended_messages(
                &ids(&ends.replaced),
                EndReason::Replaced,
                None,
            ));
            if bumped {
                messages.push(changed_message(user_tag(user_id)));
            }
            self.announce(&tx, &messages).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(ends)
        })
        .await
    }

    /// A change of one token's entry of `user_id`'s under the lock; `change` says
    /// whether it wrote (then saved, and the elevation announced).
    async fn jwt_change<T: Send>(
        &self,
        user_id: &str,
        id: SessionId,
        now_ms: u64,
        change: impl FnOnce(Option<&mut JwtState>) -> (T, bool) + Send,
    ) -> Result<T, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, user_id, now_ms).await?;
            let mut loaded = self.jwt_load(&tx, user_id, &user).await?;
            let (out, wrote) = change(loaded.state.as_mut());
            if wrote {
                self.jwt_save(&tx, user_id, &mut user, &mut loaded, now_ms)
                    .await?;
                self.announce(&tx, &[updated_message(id, true)]).await?;
                tx.commit().await.map_err(db_error)?;
            }
            Ok(out)
        })
        .await
    }

    /// The user of token `id`, if it is live in the store's index.
    async fn jwt_user_of(&self, id: SessionId) -> Result<Option<String>, StoreError> {
        let id = id.as_bytes().as_slice();
        let row = self.row(&self.sql().jwt_user_of, &[&id]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }
}

/// A row of `jwt_tokens_of`: its `jti`, and its entry with its last sighting and its
/// metadata, or `None` for an entry that does not read (with a warning). Such a token is
/// refused as corrupt (a request reads its entry), so writes and listings pass over it:
/// failing instead, one bad row would stop every revocation of its user.
fn listed(row: &tokio_postgres::Row) -> Result<Option<(String, JwtEntry)>, StoreError> {
    let jti: String = col(row, 0)?;
    let Some(mut entry) = readable::<JwtEntry>(row, 1) else {
        tracing::warn!(jti, "a token entry that does not read");
        return Ok(None);
    };
    // A seen time that does not read adds nothing to the entry's own.
    entry.last_seen_ms = entry.last_seen_ms.max(from_ms(col(row, 2)?).unwrap_or(0));
    if let Some(meta) = meta_of(row, 3) {
        entry.meta = meta;
    }
    Ok(Some((jti, entry)))
}

/// What a request's token reads: the state, the ban, the restrictions, its entry.
struct Checked {
    state: Option<String>,
    ban_until: Option<i64>,
    restrictions: Option<String>,
    entry: Option<String>,
    seen: Option<i64>,
}

impl JwtStore for PostgresStore {
    type JwtCheck = PostgresFuture<JwtStatus>;

    fn jwt_check(&self, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let store = self.clone();
        let user_id = token.user_id.to_owned();
        let (jti, device) = (token.jti.to_owned(), token.device.to_owned());
        let id = SessionId::from_jti(token.tag, token.jti);
        let (epoch, user_gen, device_gen) = (token.epoch, token.user_gen, token.device_gen);
        let (seen_until, idle) = (token.seen_until_ms, token.idle);
        Box::pin(async move {
            // One timeout for the request: the `seen` write after the read gets what
            // the read left of it.
            let mut budget = std::pin::pin!(budget(store.shared.timeout));
            // A jti that names no row of ours reads no entry.
            let id_bytes = id.map(|id| id.as_bytes().to_vec()).unwrap_or_default();
            let row = store
                .row(&store.sql().jwt_check, &[&user_id, &id_bytes])
                .await?;
            let checked = match row {
                Some(r) => Some(Checked {
                    state: col(&r, 0)?,
                    ban_until: col(&r, 1)?,
                    restrictions: col(&r, 2)?,
                    entry: col(&r, 3)?,
                    seen: col(&r, 4)?,
                }),
                None => None,
            };
            let Some(Checked {
                state: Some(raw),
                ban_until,
                restrictions,
                entry,
                seen,
            }) = checked
            else {
                return Ok::<_, StoreError>(JwtStatus::default());
            };
            let state: JwtState = parse(&raw, "a JWT state")?;
            let token = JwtToken {
                user_id: &user_id,
                epoch,
                tag: 0,
                jti: &jti,
                device: &device,
                user_gen,
                device_gen,
                seen_until_ms: seen_until,
                idle,
                recheck: false,
            };
            if !state.issued(token) {
                return Ok(JwtStatus::default());
            }
            let ended = state.ended(token);
            let banned = matches!(
                ended,
                Some(Ended {
                    reason: EndReason::Banned,
                    ..
                })
            );
            let entry: Option<JwtEntry> = entry
                .as_deref()
                .map(|e| parse(e, "a token entry"))
                .transpose()?;
            let seen = seen.map(from_ms).transpose()?.unwrap_or(0);
            let mut last_seen = entry.as_ref().map(|e| e.last_seen_ms.max(seen));
            // Seen now, once per touch interval (not past its idle timeout).
            if let (Some(_), Some(id)) = (seen_until, id.filter(|_| entry.is_some()))
                && !token.idle_over(last_seen, now_ms)
            {
                let write = store.run(async |client| {
                    let write = client
                        .prepare_cached(&store.sql().jwt_seen)
                        .await
                        .map_err(db_error)?;
                    let params: [&(dyn ToSql + Sync); 3] =
                        [&id.as_bytes().as_slice(), &user_id, &ms(now_ms)];
                    client.execute(&write, &params).await.map_err(db_error)
                });
                within(budget.as_mut(), write).await?;
                last_seen = last_seen.map(|l| l.max(now_ms));
            }
            Ok(JwtStatus {
                known: true,
                ban_until_ms: ban_until
                    .map(from_ms)
                    .transpose()?
                    .filter(|&t| banned && t > now_ms),
                ended,
                last_seen_ms: last_seen.filter(|_| idle.is_some()),
                restrictions: held(restrictions, now_ms)?,
                elevations: entry.map(|e| e.elevations).unwrap_or_default(),
            })
        })
    }

    async fn jwt_issue(
        &self,
        issue: JwtIssue,
        now_ms: u64,
    ) -> Result<Admission<JwtGrant>, StoreError> {
        let user_id = issue.user_id.clone();
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, &user_id, now_ms).await?;
            if let Some(until_ms) = user.ban_until {
                return Ok(Admission::Banned { until_ms });
            }
            // A refresh record of this `jti` (another session's, kept past its end) is a
            // collision, found before the rule runs (as the other stores find it), in the
            // same round trip as the load.
            let (mut loaded, held) = tokio::try_join!(
                self.jwt_load(&tx, &user_id, &user),
                self.refresh_held(&tx, &issue.jti),
            )?;
            if held {
                return Err(crate::store::jwt::jti_collision());
            }
            let admission = loaded.state_or(issue.fresh_epoch).issue(&issue, now_ms)?;
            let Admission::Admitted(grant) = &admission else {
                return Ok(admission);
            };
            if let Some(r) = &issue.refresh {
                let record = JwtRefreshState::new(&issue, grant, r);
                let insert = tx
                    .prepare_cached(&self.sql().insert_jwt_refresh)
                    .await
                    .map_err(db_error)?;
                let params: [&(dyn ToSql + Sync); 4] = [
                    &issue.jti,
                    &&*user_id,
                    &ms(record.purge_at()),
                    &to_json(&record)?,
                ];
                // One written since the look above: the transaction rolls back.
                if tx.execute(&insert, &params).await.map_err(db_error)? != 1 {
                    return Err(crate::store::jwt::jti_collision());
                }
                // After the write: it counts the new one.
                let bury = tx
                    .prepare_cached(&self.sql().bury_jwt_refresh)
                    .await
                    .map_err(db_error)?;
                let kept = i64::try_from(MAX_REFRESH_TOKENS).unwrap_or(i64::MAX);
                // Live sessions' records stay: their sessions are in the index.
                let live: Vec<&str> = loaded
                    .state_or(issue.fresh_epoch)
                    .index
                    .keys()
                    .map(String::as_str)
                    .collect();
                tx.execute(&bury, &[&&*user_id, &ms(now_ms), &kept, &live])
                    .await
                    .map_err(db_error)?;
            }
            let replaced = ids(&grant.replaced);
            self.jwt_save(&tx, &user_id, &mut user, &mut loaded, now_ms)
                .await?;
            let mut messages = ended_messages(&replaced, EndReason::Replaced, None);
            if grant.bumped {
                messages.push(changed_message(user_tag(&user_id)));
            }
            self.announce(&tx, &messages).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(admission)
        })
        .await
    }

    async fn jwt_elevate(
        &self,
        elevation: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        let jti = elevation.session_id.jti();
        self.jwt_change(
            elevation.user_id,
            elevation.session_id,
            now_ms,
            |state| match state.map(|st| st.elevate(&jti, &elevation, now_ms)) {
                Some(Elevated::Until(until)) => (Elevated::Until(until), true),
                Some(other) => (other, false),
                None => (Elevated::NotLive, false),
            },
        )
        .await
    }

    async fn jwt_close_elevation(
        &self,
        user_id: &str,
        id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let jti = id.jti();
        self.jwt_change(user_id, id, now_ms, |state| {
            let closed = state.map_or(Closed::Nothing, |st| {
                st.close_elevation(&jti, scope, now_ms)
            });
            (closed.was_open(), closed.changed())
        })
        .await
    }

    async fn jwt_end(
        &self,
        target: JwtTarget<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Ends, StoreError> {
        let (user_id, id) = match target {
            JwtTarget::User { user_id, device } => {
                let end = |st: &mut JwtState| st.end_user(device, reason, note, now_ms);
                return self.jwt_end_of(user_id, reason, note, now_ms, end).await;
            }
            JwtTarget::Others { user_id, keep } => {
                let end = |st: &mut JwtState| st.end_others(&keep.jti(), reason, note, now_ms);
                return self.jwt_end_of(user_id, reason, note, now_ms, end).await;
            }
            JwtTarget::Token {
                user_id,
                session_id,
            } => (user_id.to_owned(), session_id),
            JwtTarget::Session(id) => {
                // An operator's call by id: the user is whoever holds the token.
                let Some(user) = self.jwt_user_of(id).await? else {
                    return Ok(Ends::default());
                };
                (user, id)
            }
        };
        let jti = id.jti();
        self.jwt_end_of(&user_id, reason, note, now_ms, |st| {
            match st.end_token(&jti, reason, note, now_ms) {
                Some((entry, overflow)) => (vec![(jti.clone(), entry)], overflow),
                None => (Vec::new(), Vec::new()),
            }
        })
        .await
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

    async fn jwt_refresh(
        &self,
        rotation: JwtRotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<JwtRefreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let jti = id.jti();
        let row = self.row(&self.sql().jwt_refresh, &[&jti]).await?;
        let Some(user_id) = row.map(|r| col::<String>(&r, 0)).transpose()? else {
            return Ok(Rotated::Unknown);
        };
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, &user_id, now_ms).await?;
            // Read again under the lock: another refresh may have spent it meanwhile.
            let read = tx
                .prepare_cached(&self.sql().jwt_refresh)
                .await
                .map_err(db_error)?;
            let Some(row) = tx.query_opt(&read, &[&jti]).await.map_err(db_error)? else {
                return Ok(Rotated::Unknown);
            };
            let mut record: JwtRefreshState = parse(col(&row, 1)?, "a refresh record")?;
            let mut loaded = self.jwt_load(&tx, &user_id, &user).await?;
            let step = record.refresh(id, loaded.state.as_mut(), &rotation, now_ms);
            let ban = user.ban_until.is_some();
            let rotated = step.rotated(
                &mut loaded,
                |_| ban,
                |_, ended, overflow| Ends {
                    ended: infos(&user_id, &ended),
                    replaced: infos(&user_id, &overflow),
                },
            );
            let messages = match &rotated {
                Rotated::Done(_) => Vec::new(),
                Rotated::Reused(ends) => {
                    // The presented session, reported only if live by this clock but
                    // ended for every instance: a slower verifier may still accept it.
                    let mut m = ended_messages(&[id], EndReason::RefreshReused, None);
                    m.extend(ended_messages(
                        &ids(&ends.replaced),
                        EndReason::Replaced,
                        None,
                    ));
                    if !ends.replaced.is_empty() {
                        m.push(changed_message(user_tag(&user_id)));
                    }
                    m
                }
                _ => return Ok(rotated),
            };
            let save = tx
                .prepare_cached(&self.sql().save_jwt_refresh)
                .await
                .map_err(db_error)?;
            let params: [&(dyn ToSql + Sync); 4] =
                [&jti, &user_id, &ms(record.purge_at()), &to_json(&record)?];
            tx.execute(&save, &params).await.map_err(db_error)?;
            self.jwt_save(&tx, &user_id, &mut user, &mut loaded, now_ms)
                .await?;
            self.announce(&tx, &messages).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(rotated)
        })
        .await
    }

    async fn jwt_online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        let statement = &self.sql().online_jwt;
        self.page(
            statement,
            "a token entry",
            page,
            now_ms,
            |id, mut e: JwtEntry, row| {
                // A seen time that does not read adds nothing (as in `listed`): one bad
                // row would otherwise stop every walk of the directory.
                e.last_seen_ms = e.last_seen_ms.max(from_ms(col(row, 5)?).unwrap_or(0));
                let user: Arc<str> = Arc::from(col::<&str>(row, 3)?);
                let info = e.info(&user, id.tag(), col(row, 4)?);
                let listed = info.filter(|_| e.is_live(now_ms));
                Ok(listed.map(|info| OnlineSession::new(info, e.last_seen_ms, e.class.clone())))
            },
        )
        .await
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let rows = self.rows(&self.sql().jwt_tokens_of, &[&user_id]).await?;
        let mut state = JwtState::default();
        for row in rows {
            if let Some((jti, entry)) = listed(&row)? {
                state.index.insert(jti, entry);
            }
        }
        let user: Arc<str> = Arc::from(user_id);
        Ok(state.listing(&user, user_tag(user_id), now_ms))
    }
}
