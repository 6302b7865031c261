//! The tables of a [`PostgresStore`](super::PostgresStore) (listed in its documentation),
//! their statements, and the steps that create and upgrade them.

use super::{Client, db_error};
use crate::store::contract::StoreError;

/// The statements of a store on one schema, with its name in place.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) struct Sql {
    pub(crate) schema: String,
    pub(crate) lock_user: String,
    pub(crate) save_user: String,
    pub(crate) ban_of: String,
    pub(crate) restrictions_of: String,
    pub(crate) purge: String,
    pub(crate) lookup: String,
    pub(crate) session_user: String,
    pub(crate) session_state: String,
    pub(crate) user_sessions: String,
    pub(crate) save_sessions: String,
    pub(crate) insert_sessions: String,
    pub(crate) bury_sessions: String,
    pub(crate) online_sessions: String,
    pub(crate) jwt_check: String,
    pub(crate) jwt_seen: String,
    pub(crate) jwt_tokens_of: String,
    pub(crate) save_jwt_tokens: String,
    pub(crate) drop_jwt_tokens: String,
    pub(crate) jwt_user_of: String,
    pub(crate) jwt_refresh: String,
    pub(crate) insert_jwt_refresh: String,
    pub(crate) save_jwt_refresh: String,
    pub(crate) bury_jwt_refresh: String,
    pub(crate) online_jwt: String,
}

/// A schema name this store accepts: `[a-z][a-z0-9_]{0,47}` (room for the channel names'
/// suffixes within PostgreSQL's 63 bytes).
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Each step of the schema, in order; `{s}` is the schema. A step is never edited once
/// released: a change is a new step.
const STEPS: &[&str] = &[
    r#"
CREATE TABLE {s}.users (
    user_id text PRIMARY KEY,
    ban_until bigint,
    restrictions text,
    jwt text,
    jwt_until bigint NOT NULL DEFAULT 0,
    purge_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX users_purge ON {s}.users (purge_at);
CREATE TABLE {s}.sessions (
    id bytea PRIMARY KEY,
    user_id text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    class text NOT NULL,
    live_until bigint NOT NULL,
    purge_at bigint NOT NULL,
    state text NOT NULL
);
CREATE INDEX sessions_user ON {s}.sessions (user_id, seq);
CREATE INDEX sessions_purge ON {s}.sessions (purge_at);
CREATE TABLE {s}.jwt_tokens (
    id bytea PRIMARY KEY,
    user_id text NOT NULL,
    jti text NOT NULL,
    class text NOT NULL,
    live_until bigint NOT NULL,
    purge_at bigint NOT NULL,
    seen bigint NOT NULL,
    entry text NOT NULL
);
CREATE INDEX jwt_tokens_user ON {s}.jwt_tokens (user_id);
CREATE INDEX jwt_tokens_purge ON {s}.jwt_tokens (purge_at);
CREATE TABLE {s}.jwt_refresh (
    jti text PRIMARY KEY,
    user_id text NOT NULL,
    purge_at bigint NOT NULL,
    state text NOT NULL
);
CREATE INDEX jwt_refresh_purge ON {s}.jwt_refresh (purge_at);
"#,
    r#"
-- What the application said about a session at login, apart from the state a request
-- reads. Rows of step 1 hold it in their state until their next write moves it here.
ALTER TABLE {s}.sessions ADD COLUMN meta text;
ALTER TABLE {s}.jwt_tokens ADD COLUMN meta text;
"#,
    r#"
-- A user's live sessions in creation order (a login and a listing read them), without
-- the tombstones the user's own logins leave within the retention.
CREATE INDEX sessions_live ON {s}.sessions (user_id, seq) WHERE live_until > 0;
DROP INDEX {s}.sessions_user;
"#,
    r#"
-- A user's tombstones, nearest their forgetting last: each end keeps the latest
-- `MAX_ENDED` of them and deletes the rest. The same for JWT mode's refresh records
-- at each login (`MAX_REFRESH_TOKENS`).
CREATE INDEX sessions_ended ON {s}.sessions (user_id, purge_at) WHERE live_until = 0;
CREATE INDEX jwt_refresh_user ON {s}.jwt_refresh (user_id, purge_at);
"#,
];

/// A directory page's candidates from `table`: the run of `$2` ids after `$1` (the
/// walk's bound), each with `n`, its rank among those live by `$3` and of the class `$4`
/// asks for (`NULL`: any); the caller carries `cols` only up to rank `$5` (the page's
/// size), so what a page skips or does not reach costs an id, not a record. A page that
/// reaches a live row it did not carry (its own check refused one the SQL counted)
/// stops there, with a cursor.
fn page_of(s: &str, table: &str, cols: &str) -> String {
    format!(
        "SELECT id, {cols}, CASE WHEN ok THEN count(*) FILTER (WHERE ok) OVER (ORDER BY id) END AS n \
         FROM (SELECT id, {cols}, live_until > $3 AND ($4::text IS NULL OR class = $4) AS ok \
         FROM {s}.{table} WHERE id > $1 ORDER BY id LIMIT $2) AS run"
    )
}

/// Deletes up to `$2` rows past their time (`$1`) from `table`, skipping rows another
/// transaction holds.
fn purge_of(s: &str, table: &str, key: &str) -> String {
    format!(
        "DELETE FROM {s}.{table} WHERE {key} IN (SELECT {key} FROM {s}.{table} \
         WHERE purge_at <= $1 ORDER BY purge_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    )
}

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let s = format!("\"{schema}\"");
        let purges = [
            ("sessions", "id"),
            ("jwt_tokens", "id"),
            ("jwt_refresh", "jti"),
            ("users", "user_id"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (table, key))| format!("p{i} AS ({})", purge_of(&s, table, key)))
        .collect::<Vec<_>>()
        .join(", ");
        Self {
            schema: schema.to_owned(),
            lock_user: format!(
                "INSERT INTO {s}.users AS u (user_id) VALUES ($1) ON CONFLICT (user_id) \
                 DO UPDATE SET user_id = EXCLUDED.user_id RETURNING u.ban_until, u.restrictions, u.jwt"
            ),
            save_user: format!(
                "UPDATE {s}.users SET ban_until = $2, restrictions = $3, jwt = $4, \
                 jwt_until = COALESCE($6, jwt_until), purge_at = GREATEST($5, COALESCE($6, jwt_until)) \
                 WHERE user_id = $1"
            ),
            ban_of: format!("SELECT ban_until FROM {s}.users WHERE user_id = $1"),
            restrictions_of: format!("SELECT restrictions FROM {s}.users WHERE user_id = $1"),
            purge: format!("WITH {purges} SELECT 1"),
            lookup: format!(
                "SELECT s.state, u.ban_until, u.restrictions, s.live_until FROM {s}.sessions s \
                 LEFT JOIN {s}.users u ON u.user_id = s.user_id WHERE s.id = $1"
            ),
            session_user: format!("SELECT user_id FROM {s}.sessions WHERE id = $1"),
            session_state: format!(
                "SELECT state, live_until FROM {s}.sessions WHERE id = $1 AND user_id = $2"
            ),
            user_sessions: format!(
                "SELECT id, state, meta FROM {s}.sessions WHERE user_id = $1 AND live_until > 0 \
                 ORDER BY seq"
            ),
            // The metadata never changes after login: a row keeps what it has (a write
            // of a state read without it writes none).
            save_sessions: format!(
                "INSERT INTO {s}.sessions (id, user_id, class, live_until, purge_at, state, meta) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::int8[], $5::int8[], \
                 $6::text[], $7::text[]) \
                 ON CONFLICT (id) DO UPDATE SET live_until = EXCLUDED.live_until, \
                 purge_at = EXCLUDED.purge_at, state = EXCLUDED.state, \
                 meta = COALESCE({s}.sessions.meta, EXCLUDED.meta)"
            ),
            // A new session's row: never over another (a session-id collision).
            insert_sessions: format!(
                "INSERT INTO {s}.sessions (id, user_id, class, live_until, purge_at, state, meta) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::int8[], $5::int8[], \
                 $6::text[], $7::text[]) \
                 ON CONFLICT (id) DO NOTHING"
            ),
            // The user's (`$1`) tombstones not due by `$2` past the latest `$3`: nearest
            // their forgetting first, as every store forgets them.
            bury_sessions: format!(
                "DELETE FROM {s}.sessions WHERE id IN (SELECT id FROM {s}.sessions \
                 WHERE user_id = $1 AND live_until = 0 AND purge_at > $2 \
                 ORDER BY purge_at DESC, id DESC OFFSET $3)"
            ),
            online_sessions: format!(
                "SELECT id, CASE WHEN n <= $5 THEN state END, n IS NOT NULL FROM ({}) AS page \
                 ORDER BY id",
                page_of(&s, "sessions", "state")
            ),
            jwt_check: format!(
                "SELECT u.jwt, u.ban_until, u.restrictions, t.entry, t.seen FROM {s}.users u \
                 LEFT JOIN {s}.jwt_tokens t ON t.id = $2 AND t.user_id = u.user_id \
                 WHERE u.user_id = $1"
            ),
            jwt_seen: format!(
                "UPDATE {s}.jwt_tokens SET seen = GREATEST(seen, $3) WHERE id = $1 AND user_id = $2"
            ),
            jwt_tokens_of: format!(
                "SELECT jti, entry, seen, meta FROM {s}.jwt_tokens WHERE user_id = $1"
            ),
            save_jwt_tokens: format!(
                "INSERT INTO {s}.jwt_tokens (id, user_id, jti, class, live_until, purge_at, seen, entry, meta) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                 $6::int8[], $7::int8[], $8::text[], $9::text[]) \
                 ON CONFLICT (id) DO UPDATE SET class = EXCLUDED.class, live_until = EXCLUDED.live_until, \
                 purge_at = EXCLUDED.purge_at, entry = EXCLUDED.entry, \
                 seen = GREATEST({s}.jwt_tokens.seen, EXCLUDED.seen), \
                 meta = COALESCE({s}.jwt_tokens.meta, EXCLUDED.meta) \
                 WHERE {s}.jwt_tokens.user_id = EXCLUDED.user_id"
            ),
            drop_jwt_tokens: format!("DELETE FROM {s}.jwt_tokens WHERE id = ANY($1)"),
            jwt_user_of: format!("SELECT user_id FROM {s}.jwt_tokens WHERE id = $1"),
            jwt_refresh: format!("SELECT user_id, state FROM {s}.jwt_refresh WHERE jti = $1"),
            // A login's record: never over another's (a `jti` collision).
            insert_jwt_refresh: format!(
                "INSERT INTO {s}.jwt_refresh (jti, user_id, purge_at, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (jti) DO NOTHING"
            ),
            save_jwt_refresh: format!(
                "INSERT INTO {s}.jwt_refresh (jti, user_id, purge_at, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (jti) DO UPDATE SET purge_at = EXCLUDED.purge_at, state = EXCLUDED.state"
            ),
            // The user's (`$1`) refresh records not due by `$2` past `$3` of them, due
            // first among those of sessions over (not in the user's index `$4`).
            bury_jwt_refresh: format!(
                "DELETE FROM {s}.jwt_refresh WHERE jti IN (SELECT jti FROM {s}.jwt_refresh \
                 WHERE user_id = $1 AND purge_at > $2 AND jti <> ALL($4::text[]) \
                 ORDER BY purge_at DESC, jti DESC OFFSET GREATEST(0, $3 - (SELECT count(*) \
                 FROM {s}.jwt_refresh WHERE user_id = $1 AND purge_at > $2 AND jti = ANY($4::text[]))))"
            ),
            online_jwt: format!(
                "SELECT id, CASE WHEN n <= $5 THEN entry END, n IS NOT NULL, user_id, jti, seen \
                 FROM ({}) AS page ORDER BY id",
                page_of(&s, "jwt_tokens", "entry, user_id, jti, seen")
            ),
        }
    }
}

/// Creates the schema or brings it up to date, under an advisory lock, within `budget`
/// (the connection's own bounds are a request's: another instance migrating, or a
/// table lock waiting for old instances' transactions, may take longer).
pub(crate) async fn migrate(
    client: &mut Client,
    sql: &Sql,
    budget: std::time::Duration,
) -> Result<(), StoreError> {
    let s = format!("\"{}\"", sql.schema);
    let tx = client.transaction().await.map_err(db_error)?;
    // Milliseconds, passed as a parameter (`SET` takes none; `set_config` does).
    let ms = budget.as_millis().max(1).to_string();
    tx.execute(
        "SELECT pg_catalog.set_config('lock_timeout', $1, true), \
                pg_catalog.set_config('statement_timeout', $1, true)",
        &[&ms],
    )
    .await
    .map_err(db_error)?;
    tx.execute(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))",
        &[&sql.schema],
    )
    .await
    .map_err(db_error)?;
    // Created only if missing: `CREATE SCHEMA IF NOT EXISTS` asks for the right to
    // create schemas even when it exists, which a role given its own schema lacks.
    let exists = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&sql.schema],
        )
        .await
        .map_err(db_error)?;
    if !super::col::<bool>(&exists, 0)? {
        tx.batch_execute(&format!("CREATE SCHEMA {s}"))
            .await
            .map_err(db_error)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL)"
    ))
    .await
    .map_err(db_error)?;
    let row = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await
        .map_err(db_error)?;
    let at = usize::try_from(super::col::<i32>(&row, 0)?).unwrap_or(usize::MAX);
    if at > STEPS.len() {
        return Err(StoreError::Misconfigured(format!(
            "schema {} is at version {at}, newer than this kickout knows ({})",
            sql.schema,
            STEPS.len()
        )));
    }
    for (n, step) in STEPS.iter().enumerate().skip(at) {
        tx.batch_execute(&step.replace("{s}", &s))
            .await
            .map_err(db_error)?;
        let version = i32::try_from(n + 1).unwrap_or(i32::MAX);
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["kickout", "a", "auth_2", &"a".repeat(48)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "2a", "_a", "A", "a-b", "a\"b", "a b", &"a".repeat(49)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
