//! Session mode on PostgreSQL: a row per session holding its [`SessionState`], every
//! rule from the pure machines ([`admit`], [`end_sessions`], the state's own methods),
//! each write one transaction under the user's row lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{
    PostgresFuture, PostgresStore, col, db_error, held, meta_of, ms, parse, readable, time_col,
    to_json,
};
use crate::limits::MAX_ENDED;
use crate::note::Note;
use crate::restriction::Closed;
use crate::store::budget::{budget, within};
use crate::store::session::{SessionState, SessionStore, Swept, admit, end_sessions};
use crate::store::wire::{ended_messages, updated_message};
use crate::store::{
    contract::{Admission, Elevated, Elevation, EndReason, SessionEntry, SessionInfo, StoreError},
    directory::{Page, PageRequest},
    refresh::{Refreshed, Rotated, Rotation},
    session::{NewSession, Renewal, SessionRecord, Target, Touch},
};
use crate::token::{SessionId, SessionKey};

/// A user's sessions as one transaction reads them: ids in creation order, states by id.
#[derive(Default)]
struct Sessions {
    index: Vec<SessionId>,
    map: BTreeMap<SessionId, SessionState>,
}

impl Sessions {
    fn end(
        &mut self,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        select: impl Fn(&SessionId, &SessionState) -> bool,
    ) -> Swept {
        end_sessions(&mut self.index, &mut self.map, reason, note, now_ms, select)
    }
}

/// A row of `user_sessions`: its id and its state with its metadata, or `None` for a
/// row whose id or state does not read (with a warning). A record this crate did not
/// write opens no request (a lookup refuses it as corrupt, or cannot name it), so writes
/// and listings pass over it, as over one that is gone: failing instead, one bad row
/// would stop every login, kickout and ban of its user while it lives.
fn listed(row: &tokio_postgres::Row) -> Result<Option<(SessionId, SessionState)>, StoreError> {
    let Ok(id) = id_of(col(row, 0)?) else {
        tracing::warn!("a session record whose id does not read");
        return Ok(None);
    };
    let Some(state) = readable::<SessionState>(row, 1) else {
        tracing::warn!(session_id = %id, "a session record that does not read");
        return Ok(None);
    };
    Ok(Some(match meta_of(row, 2) {
        Some(meta) => (id, state.with_meta(Arc::new(meta))),
        None => (id, state),
    }))
}

/// A session's state (column `state`), read with its row's `live_until` (column
/// `live`): a row the directory holds as ended (0) holds a tombstone. A state that lost
/// its end (`"ended": null`) would open requests again, and no end would reach it (ends
/// read live rows only), so it is corrupt: its requests answer 503.
fn state_of(
    row: &tokio_postgres::Row,
    state: usize,
    live: usize,
) -> Result<SessionState, StoreError> {
    let read: SessionState = parse(col(row, state)?, "a session record")?;
    // Compared as written: `live_until()` is 0 for an end (and for a deadline of 0).
    if col::<i64>(row, live)? == 0 && read.live_until() != 0 {
        return Err(super::corrupt("a session record that lost its end"));
    }
    Ok(read)
}

pub(super) fn id_of(raw: &[u8]) -> Result<SessionId, StoreError> {
    let bytes: [u8; 14] = raw.try_into().map_err(|_| super::corrupt("a session id"))?;
    Ok(SessionId::from_bytes(bytes))
}

/// A session's state as a read finds it, with its user's ban (if it stands) and
/// restrictions.
type Read = (SessionState, Option<u64>, crate::restriction::Restrictions);

impl PostgresStore {
    /// A ban, through either mode's call: it ends the user's sessions of both modes (see
    /// `SessionStore::ban`), in one transaction.
    pub(super) async fn ban_user(
        &self,
        user_id: &str,
        until_ms: u64,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, user_id, now_ms).await?;
            let mut sessions = self.sessions_of(&tx, user_id).await?;
            let swept = sessions.end(EndReason::Banned, note, now_ms, |_, _| true);
            self.save_ended(&tx, &sessions.map, &swept.ended, (user_id, now_ms))
                .await?;
            let mut messages = ended_messages(&swept.ended, EndReason::Banned, note);
            let mut ended = swept.reported;
            user.ban_until = Some(until_ms);
            #[cfg(feature = "jwt")]
            let tokens = self
                .ban_tokens(&tx, user_id, &mut user, note, now_ms)
                .await?;
            #[cfg(not(feature = "jwt"))]
            let tokens: Option<(Vec<SessionInfo>, Vec<String>)> = None;
            match tokens {
                // Saved with the user's row.
                Some((infos, said)) => {
                    ended.extend(infos);
                    messages.extend(said);
                }
                None => self.save_user(&tx, user_id, &user, None).await?,
            }
            self.announce(&tx, &messages).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(ended)
        })
        .await
    }

    /// One indexed read, by the session's id: its state, with its user's ban and
    /// restrictions (what a lookup and a watch read).
    async fn read_session(&self, id: SessionId, now_ms: u64) -> Result<Option<Read>, StoreError> {
        let row = self
            .row(&self.sql().lookup, &[&id.as_bytes().as_slice()])
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state = state_of(&row, 0, 3)?;
        let ban = time_col(&row, 1)?.filter(|&t| t > now_ms);
        Ok(Some((state, ban, held(col(&row, 2)?, now_ms)?)))
    }

    /// Every session of `user_id`'s not ended (the caller holds the user's lock):
    /// tombstones are read by id only, so a login stays cheap however many a user left.
    async fn sessions_of(
        &self,
        tx: &Transaction<'_>,
        user_id: &str,
    ) -> Result<Sessions, StoreError> {
        let read = tx
            .prepare_cached(&self.sql().user_sessions)
            .await
            .map_err(db_error)?;
        let mut sessions = Sessions::default();
        for row in tx.query(&read, &[&user_id]).await.map_err(db_error)? {
            let Some((id, state)) = listed(&row)? else {
                continue;
            };
            sessions.index.push(id);
            sessions.map.insert(id, state);
        }
        Ok(sessions)
    }

    /// One session of `user_id`'s, if it is theirs (the caller holds the user's lock).
    async fn session_of(
        &self,
        tx: &Transaction<'_>,
        user_id: &str,
        id: SessionId,
    ) -> Result<Option<SessionState>, StoreError> {
        let read = tx
            .prepare_cached(&self.sql().session_state)
            .await
            .map_err(db_error)?;
        let row = tx
            .query_opt(&read, &[&id.as_bytes().as_slice(), &user_id])
            .await
            .map_err(db_error)?;
        row.map(|r| state_of(&r, 0, 1)).transpose()
    }

    /// The user of session `id`, if the store holds it (a user never changes: read
    /// before the lock).
    async fn user_of(&self, id: SessionId) -> Result<Option<String>, StoreError> {
        let id = id.as_bytes().as_slice();
        let row = self.row(&self.sql().session_user, &[&id]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    /// Writes the states of `ids` (from `map`) as they are now.
    async fn save_sessions(
        &self,
        tx: &Transaction<'_>,
        map: &BTreeMap<SessionId, SessionState>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        self.write_sessions(tx, &self.sql().save_sessions, map, ids)
            .await
            .map(drop)
    }

    /// Writes the row of new session `id`: `Err` if a row of that id exists (96 random
    /// bits within a slot tag: refused, never written over).
    async fn insert_session(
        &self,
        tx: &Transaction<'_>,
        map: &BTreeMap<SessionId, SessionState>,
        id: SessionId,
    ) -> Result<(), StoreError> {
        let written = self
            .write_sessions(tx, &self.sql().insert_sessions, map, &[id])
            .await?;
        if written != 1 {
            return Err(StoreError::Corrupt("session id collision".into()));
        }
        Ok(())
    }

    /// Writes the rows of the sessions an end of `user_id`'s touched (`ended`), then
    /// forgets the user's tombstones past [`MAX_ENDED`], nearest their forgetting first
    /// (after the write: it counts the new ones).
    async fn save_ended(
        &self,
        tx: &Transaction<'_>,
        map: &BTreeMap<SessionId, SessionState>,
        ended: &[SessionId],
        (user_id, now_ms): (&str, u64),
    ) -> Result<(), StoreError> {
        if ended.is_empty() {
            return Ok(());
        }
        self.save_sessions(tx, map, ended).await?;
        let bury = tx
            .prepare_cached(&self.sql().bury_sessions)
            .await
            .map_err(db_error)?;
        let kept = i64::try_from(MAX_ENDED).unwrap_or(i64::MAX);
        tx.execute(&bury, &[&user_id, &ms(now_ms), &kept])
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Runs `statement` (one of the two above) over the rows of `ids`: how many it wrote.
    async fn write_sessions(
        &self,
        tx: &Transaction<'_>,
        statement: &str,
        map: &BTreeMap<SessionId, SessionState>,
        ids: &[SessionId],
    ) -> Result<u64, StoreError> {
        let mut cols = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (id, state) in ids.iter().filter_map(|id| Some((id, map.get(id)?))) {
            cols.0.push(id.as_bytes().to_vec());
            cols.1.push(state.info().user_id.to_string());
            cols.2.push(state.class().to_string());
            cols.3.push(ms(state.live_until()));
            cols.4.push(ms(state.purge_at()));
            // The metadata in its own column: a request's read parses none of it.
            cols.5
                .push(to_json(&state.clone().with_meta(Arc::default()))?);
            cols.6.push(to_json(&**state.meta())?);
        }
        if cols.0.is_empty() {
            return Ok(0);
        }
        let save = tx.prepare_cached(statement).await.map_err(db_error)?;
        let params: [&(dyn ToSql + Sync); 7] = [
            &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6,
        ];
        tx.execute(&save, &params).await.map_err(db_error)
    }

    /// An end over `user_id`'s sessions: saved, announced, committed.
    async fn end_of_user(
        &self,
        user_id: &str,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
        select: impl Fn(&SessionId, &SessionState) -> bool + Send + Sync,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            self.lock_user(&tx, user_id, now_ms).await?;
            let mut sessions = self.sessions_of(&tx, user_id).await?;
            let swept = sessions.end(reason, note, now_ms, select);
            self.save_ended(&tx, &sessions.map, &swept.ended, (user_id, now_ms))
                .await?;
            self.announce(&tx, &ended_messages(&swept.ended, reason, note))
                .await?;
            tx.commit().await.map_err(db_error)?;
            Ok(swept.reported)
        })
        .await
    }

    /// A change of one session of `user_id`'s under the lock: `change` says whether it
    /// wrote (then the state is saved and `message` announced).
    async fn change_session<T: Send>(
        &self,
        user_id: &str,
        id: SessionId,
        now_ms: u64,
        change: impl FnOnce(Option<&mut SessionState>) -> (T, bool) + Send,
        message: Option<String>,
    ) -> Result<T, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            self.lock_user(&tx, user_id, now_ms).await?;
            let mut state = self.session_of(&tx, user_id, id).await?;
            let (out, wrote) = change(state.as_mut());
            if let (true, Some(state)) = (wrote, state) {
                let map = BTreeMap::from([(id, state)]);
                self.save_sessions(&tx, &map, &[id]).await?;
                self.announce(&tx, message.as_slice()).await?;
                tx.commit().await.map_err(db_error)?;
            }
            Ok(out)
        })
        .await
    }

    /// Records a sight of a session due for one, under the lock: the record as it is
    /// now (`None`: it ended meanwhile, or is gone).
    async fn touch(
        &self,
        key: SessionKey,
        user_id: &str,
        touch: Touch,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let id = key.session_id();
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let user = self.lock_user(&tx, user_id, now_ms).await?;
            let Some(mut state) = self.session_of(&tx, user_id, id).await? else {
                return Ok(None);
            };
            let read = |state: &SessionState| {
                let restrictions = user.restrictions.clone();
                state.record(key.digest(), now_ms, |_| user.ban_until, |_| restrictions)
            };
            let Some(record) = read(&state) else {
                return Ok(None);
            };
            if state.touch(&record, Some(touch), now_ms) {
                let record = read(&state);
                let map = BTreeMap::from([(id, state)]);
                self.save_sessions(&tx, &map, &[id]).await?;
                tx.commit().await.map_err(db_error)?;
                return Ok(record);
            }
            Ok(Some(record))
        })
        .await
    }
}

impl SessionStore for PostgresStore {
    type Lookup = PostgresFuture<Option<SessionRecord>>;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        let (store, key) = (self.clone(), *key);
        Box::pin(async move {
            // One timeout for the request, however many calls it makes: a renewal
            // after the read gets what the read left of it.
            let mut budget = std::pin::pin!(budget(store.shared.timeout));
            let Some((state, ban, restrictions)) =
                store.read_session(key.session_id(), now_ms).await?
            else {
                return Ok(None);
            };
            let Some(record) = state.record(key.digest(), now_ms, |_| ban, |_| restrictions) else {
                return Ok(None);
            };
            match touch.filter(|t| SessionState::wants(&record, t, now_ms)) {
                Some(touch) => {
                    let user_id = record.info.user_id.clone();
                    let renewal = store.touch(key, &user_id, touch, now_ms);
                    within(budget.as_mut(), renewal).await
                }
                None => Ok(Some(record)),
            }
        })
    }

    async fn lookup_session(
        &self,
        id: SessionId,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some((state, ban, restrictions)) = self.read_session(id, now_ms).await? else {
            return Ok(None);
        };
        Ok(state.current_record(now_ms, |_| ban, |_| restrictions))
    }

    async fn create(
        &self,
        new: NewSession,
        now_ms: u64,
    ) -> Result<Admission<Vec<SessionInfo>>, StoreError> {
        let user_id = new.info.user_id.clone();
        self.write(now_ms, async move |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let user = self.lock_user(&tx, &user_id, now_ms).await?;
            if let Some(until_ms) = user.ban_until {
                return Ok(Admission::Banned { until_ms });
            }
            let mut sessions = self.sessions_of(&tx, &user_id).await?;
            let id = new.key.session_id();
            let (swept, state) = match admit(&mut sessions.index, &mut sessions.map, new, now_ms)? {
                Admission::Admitted(admitted) => admitted,
                Admission::Banned { until_ms } => return Ok(Admission::Banned { until_ms }),
                Admission::LimitReached => return Ok(Admission::LimitReached),
            };
            sessions.map.insert(id, state);
            // One round trip for both: the statements of a transaction are pipelined.
            tokio::try_join!(
                self.insert_session(&tx, &sessions.map, id),
                self.save_ended(&tx, &sessions.map, &swept.ended, (&user_id, now_ms)),
            )?;
            let replaced = ended_messages(&swept.ended, EndReason::Replaced, None);
            self.announce(&tx, &replaced).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(Admission::Admitted(swept.reported))
        })
        .await
    }

    async fn end(
        &self,
        target: Target<'_>,
        reason: EndReason,
        note: Option<&Note>,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let (id, digest, owner) = match target {
            Target::User { user_id, device } => {
                let select =
                    |_: &SessionId, s: &SessionState| device.is_none_or(|d| *s.info().device == *d);
                return self
                    .end_of_user(user_id, reason, note, now_ms, select)
                    .await;
            }
            Target::Others { user_id, keep } => {
                let select = |id: &SessionId, _: &SessionState| *id != keep;
                return self
                    .end_of_user(user_id, reason, note, now_ms, select)
                    .await;
            }
            Target::Token(key) => (key.session_id(), Some(*key.digest()), None),
            Target::Session(id) => (id, None, None),
            Target::SessionOf {
                user_id,
                session_id,
            } => (session_id, None, Some(user_id)),
        };
        let Some(user) = self.user_of(id).await? else {
            return Ok(Vec::new());
        };
        if owner.is_some_and(|o| *o != *user) {
            return Ok(Vec::new());
        }
        let select = |other: &SessionId, s: &SessionState| {
            *other == id && digest.is_none_or(|d| s.holds(&d))
        };
        self.end_of_user(&user, reason, note, now_ms, select).await
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
        let rows = self.rows(&self.sql().user_sessions, &[&user_id]).await?;
        let mut live = Vec::new();
        for row in rows {
            let Some((_, state)) = listed(&row)? else {
                continue;
            };
            if state.is_live(now_ms) {
                live.push(state.entry());
            }
        }
        live.sort_by_key(|s| s.info.issued_at_ms);
        Ok(live)
    }

    async fn elevate(&self, elevation: Elevation<'_>, now_ms: u64) -> Result<Elevated, StoreError> {
        let id = elevation.session_id;
        let message = Some(updated_message(id, false));
        self.change_session(
            elevation.user_id,
            id,
            now_ms,
            |state| match state.map(|s| s.elevate(&elevation, now_ms)) {
                Some(Elevated::Until(until)) => (Elevated::Until(until), true),
                Some(other) => (other, false),
                None => (Elevated::NotLive, false),
            },
            message,
        )
        .await
    }

    async fn close_elevation(
        &self,
        user_id: &str,
        session_id: SessionId,
        scope: &crate::restriction::Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let message = Some(updated_message(session_id, false));
        self.change_session(
            user_id,
            session_id,
            now_ms,
            |state| {
                let closed = state.map_or(Closed::Nothing, |s| {
                    s.close_elevation(user_id, scope, now_ms)
                });
                (closed.was_open(), closed.changed())
            },
            message,
        )
        .await
    }

    async fn renew(
        &self,
        renewal: Renewal<'_>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let key = renewal.key;
        let Some(user) = self.user_of(key.session_id()).await? else {
            return Ok(None);
        };
        self.change_session(
            &user,
            key.session_id(),
            now_ms,
            |state| {
                let info = state.and_then(|s| {
                    s.renew(
                        key.digest(),
                        renewal.expires_at_ms,
                        renewal.idle_deadline_ms,
                        now_ms,
                    )
                });
                let wrote = info.is_some();
                (info, wrote)
            },
            None,
        )
        .await
    }

    async fn refresh(
        &self,
        rotation: Rotation<'_>,
        now_ms: u64,
    ) -> Result<Rotated<Refreshed>, StoreError> {
        let id = rotation.presented.session_id();
        let Some(user_id) = self.user_of(id).await? else {
            return Ok(Rotated::Unknown);
        };
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let user = self.lock_user(&tx, &user_id, now_ms).await?;
            // The session alone: a reuse ends this one session, ended or not before.
            let Some(mut state) = self.session_of(&tx, &user_id, id).await? else {
                return Ok(Rotated::Unknown);
            };
            let step = state.refresh(&rotation, now_ms);
            let mut sessions = Sessions {
                index: vec![id],
                map: BTreeMap::from([(id, state)]),
            };
            let mut reused = Vec::new();
            let rotated = step.rotated(
                &mut sessions,
                |_| user.ban_until.is_some(),
                |sessions| {
                    let swept =
                        sessions.end(EndReason::RefreshReused, None, now_ms, |s, _| *s == id);
                    reused = swept.ended;
                    swept.reported
                },
            );
            if matches!(rotated, Rotated::Done(_)) {
                self.save_sessions(&tx, &sessions.map, &[id]).await?;
                // The token before the replaced one no longer opens it: caches read again.
                self.announce(&tx, &[updated_message(id, false)]).await?;
            } else if !reused.is_empty() {
                self.save_ended(&tx, &sessions.map, &reused, (&user_id, now_ms))
                    .await?;
                let messages = ended_messages(&reused, EndReason::RefreshReused, None);
                self.announce(&tx, &messages).await?;
            } else {
                return Ok(rotated);
            }
            tx.commit().await.map_err(db_error)?;
            Ok(rotated)
        })
        .await
    }

    async fn online(&self, page: PageRequest<'_>, now_ms: u64) -> Result<Page, StoreError> {
        let statement = &self.sql().online_sessions;
        self.page(
            statement,
            "a session record",
            page,
            now_ms,
            |_, s: SessionState, _| Ok(s.is_live(now_ms).then(|| s.online())),
        )
        .await
    }
}
