//! Sessions in PostgreSQL (feature `postgres`): storage and atomicity only, every rule
//! from the crate's pure machines ([`SessionState`](crate::store::session::SessionState),
//! `JwtState`, `JwtRefreshState`), applied inside one transaction per write under the
//! user's row lock; the revocation feed on `LISTEN`/`NOTIFY`.
//!
//! The tables (in the store's own schema, created and upgraded at connect) are listed
//! in [`PostgresStore`]'s documentation.

mod directory;
mod feed;
#[cfg(feature = "jwt")]
mod jwt;
mod libpq;
mod purge;
mod schema;
mod session;
mod tls;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use self::schema::Sql;
use super::audit::{AUDIT_CAPACITY, AuditEvent};
use super::contract::{Revoked, Store, StoreError};
use super::wire::{AuditDrops, Outgoing};
use crate::limits::{PURGE_BATCH, kept_until};
use crate::restriction::{Restriction, Restrictions, Scope};
use crate::token::user_tag;

/// The future of a PostgreSQL read on the request path (a lookup, a JWT check).
pub type PostgresFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// Default bound on one store operation, connection included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default number of pooled connections.
const DEFAULT_POOL_SIZE: usize = 16;

/// Sessions in PostgreSQL, shared by every instance of the application that connects to
/// the same database and schema.
///
/// Connect with [`PostgresStore::connect`] or [`PostgresStore::builder`]: it creates (or
/// upgrades) its tables in its schema (`kickout` by default), so the database user needs
/// the right to create a schema, or the schema must exist and be theirs (a missing
/// right is [`StoreError::Misconfigured`] at connect). Clones share
/// the connection pool. While the database is away every operation fails within the
/// timeout (default one second) with [`StoreError::Unavailable`], so requests get 503
/// and never hang.
///
/// Every validated request is one indexed read by primary key; every write is one
/// transaction that locks the user's row, so concurrent logins under a one-per-device
/// rule leave one session. Revocations reach other instances by `NOTIFY` on commit.
///
/// # Tables
///
/// In its own schema (`kickout` by default), created and upgraded at connect under an
/// advisory lock, so instances starting together migrate once. `schema_version` records the steps applied; a
/// schema newer than the running crate is refused rather than misread.
///
/// | table | row | read on a request |
/// |---|---|---|
/// | `users` | per user: `ban_until`, `restrictions` (JSON), `jwt` (JWT mode's revocation state, JSON) and `jwt_until` (when it may go), `purge_at`; its lock orders every write of the user | with the session or token |
/// | `sessions` | per session-mode session, by id: `user_id`, `seq` (creation order), `class`, `live_until` (0 once ended), `purge_at`, `state` (the session's record, JSON), `meta` (what the application said at login, JSON: listings read it, requests do not); a user keeps at most [`MAX_ENDED`](crate::limits::MAX_ENDED) ended rows, each end deleting those past it, due first | by primary key, without `meta` |
/// | `jwt_tokens` | per JWT-mode token, by session id: `user_id`, `jti`, `class`, `live_until`, `purge_at`, `seen`, `entry` (JSON), `meta` (as in `sessions`) | by primary key, with its user, without `meta` |
/// | `jwt_refresh` | per JWT refresh chain, by `jti`: `user_id`, `purge_at`, `state` (JSON); a user keeps at most [`MAX_REFRESH_TOKENS`](crate::limits::MAX_REFRESH_TOKENS), each login deleting those past it, due first | on a refresh |
///
/// Records hold digests of tokens, never tokens. Times are Unix milliseconds from the
/// application's clock, passed as parameters, never the database's own clock: every
/// instance and store agrees on what "expired" means. After every write the store removes up to
/// [`PURGE_BATCH`](crate::limits::PURGE_BATCH) rows past their `purge_at` from each
/// table, so nothing grows without a cron job (one purge at a time, over the batches of
/// the writes that came meanwhile). The revocation channel is `<schema>_revoked`, the audit channel `<schema>_audit`; the
/// listening connection's `application_name` is `kickout-feed`.
///
/// # Durability
///
/// A write answers once PostgreSQL committed it: with the server's defaults
/// (`synchronous_commit = on`, `fsync = on`) a kickout that answered is in the WAL on
/// disk and survives a crash of the server or the machine. With synchronous replicas
/// (`synchronous_standby_names`) it also survives the loss of the primary: a standby
/// promoted after a failover still refuses the token. `synchronous_commit = off`
/// trades that away (a crash can lose the last few hundred milliseconds of commits,
/// revocations included).
///
/// # Deployment
///
/// - **Connect to the primary directly, or through a session-mode pooler.** The store
///   asks for a read-write server (`target_session_attrs=read-write`), so a multi-host
///   URL never reads from a standby. A transaction-mode pooler (PgBouncer's default
///   `pool_mode = transaction`) accepts `LISTEN` and delivers nothing: other instances'
///   revocations would reach `NearCache`s only after `max_age`, and watches only at
///   their re-check.
/// - **Who may connect may announce.** Any role that can connect to the database can
///   `NOTIFY` on the store's channels and so end watches early or write fake audit
///   events (never let a token through: a request always reads the rows). Grant
///   `CONNECT` to the application's roles only.
/// - **TLS with `sslmode=require`** (or libpq's `verify-full`) in the URL: every
///   connection is encrypted with rustls, and the server's certificate is verified,
///   chain and host name, against the public roots or
///   [`tls_root_certificates`](PostgresStoreBuilder::tls_root_certificates). Without
///   `require` the store does not use TLS, also where the server offers it (`prefer`,
///   libpq's default, would accept a certificate no one verified). A client
///   certificate: [`tls_client_certificate`](PostgresStoreBuilder::tls_client_certificate).
///   Or libpq's `sslrootcert=<file>`, `sslcert=<file>` and `sslkey=<file>` in the URL
///   (or a `key=value` string), as cloud providers' guides write them
///   (`?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem`): read once, at connect (a
///   renewed certificate takes a new store), and given either there or to the builder,
///   not both. `sslrootcert=system` means the public roots (Mozilla's, as
///   `webpki-roots` ships them), not the system's store.
/// - Each connection sets `search_path=pg_catalog` (every table the store names is
///   schema-qualified) and the server's `lock_timeout` and `statement_timeout` to the
///   store's timeout, so a statement the store gave up on stops holding its connection.
///
/// ```no_run
/// # async fn run() -> Result<(), kickout::store::StoreError> {
/// use kickout::{Auth, store::PostgresStore};
///
/// let store = PostgresStore::connect("postgres://app:secret@127.0.0.1/app").await?;
/// let auth = Auth::new(store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    sql: Sql,
    timeout: Duration,
    /// The `NOTIFY` channel of revocations.
    revoked: String,
    /// Revocations and audit events heard: the listening task holds their only
    /// senders, so if it ends with its runtime the feeds close, and what follows them
    /// stops trusting them (a near cache caches nothing, watches re-check).
    feed: crate::store::feed::FeedSource,
    audit: broadcast::WeakSender<AuditEvent>,
    audit_out: tokio::sync::mpsc::Sender<Outgoing>,
    audit_drops: Arc<AuditDrops>,
    tasks: [tokio::task::JoinHandle<()>; 2],
    /// The purges writes owe (one runs at a time).
    purges: purge::PurgeDebt,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.shared.sql.schema)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

/// How to connect: [`PostgresStore::builder`].
pub struct PostgresStoreBuilder {
    config: Result<tokio_postgres::Config, StoreError>,
    /// The certificate files the URL names.
    files: libpq::Files,
    schema: String,
    pool_size: usize,
    timeout: Duration,
    /// Certificates for TLS.
    tls: tls::Given,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio-postgres prints a configuration's password as `REDACTED`.
        f.debug_struct("PostgresStoreBuilder")
            .field("config", &self.config.as_ref().ok())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("files", &self.files)
            .field("tls", &self.tls)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with the defaults (schema `kickout`, 16 connections, one-second
    /// timeout): `url` is a `postgres://user:password@host:port/database` URL or a
    /// `key=value` connection string.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// A builder, to choose the schema, the pool size and the timeout.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), kickout::store::StoreError> {
    /// use std::time::Duration;
    /// use kickout::store::PostgresStore;
    ///
    /// let store = PostgresStore::builder("postgres://app:secret@db/app")
    ///     .schema("auth")
    ///     .pool_size(32)
    ///     .timeout(Duration::from_millis(500))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        let (libpq_url, files) = libpq::split(url);
        PostgresStoreBuilder {
            // The parser's own message could quote the URL: say what is wrong, not it.
            config: libpq_url
                .parse()
                .map_err(|_| StoreError::Misconfigured(libpq::unparsed(&libpq_url))),
            files,
            schema: "kickout".to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_TIMEOUT,
            tls: tls::Given::default(),
        }
    }
}

impl PostgresStoreBuilder {
    /// The schema the store keeps its tables in (default `kickout`): 1 to 48 characters
    /// of `a-z`, `0-9` and `_`, starting with a letter. Stores on one schema share their
    /// sessions; another schema is another, separate store.
    pub fn schema(mut self, schema: &str) -> Self {
        schema.clone_into(&mut self.schema);
        self
    }

    /// The most connections the store holds open (default 16, at least 1); the revocation
    /// feed holds one more.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// The bound on each operation, waiting for a connection included (default one
    /// second).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With `sslmode=require` in the URL, trust only the CA certificates of `pem` (one
    /// or more PEM blocks: a private CA, a cloud provider's bundle) instead of the public
    /// roots. The server's certificate is verified against them, host name included.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kickout::store::PostgresStore;
    ///
    /// let ca = std::fs::read("/etc/ssl/db-ca.pem")?;
    /// let store = PostgresStore::builder("postgres://app:secret@db.internal/app?sslmode=require")
    ///     .tls_root_certificates(&ca)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn tls_root_certificates(mut self, pem: &[u8]) -> Self {
        self.tls.roots = Some(Arc::from(pem));
        self
    }

    /// With `sslmode=require`, show the server this client certificate (its chain, PEM)
    /// and prove it with its private key (PEM: PKCS#8, PKCS#1 or SEC1), for a server
    /// that asks for one (`clientcert=verify-full`, or the `cert` login method, where
    /// the certificate's common name is the user). The key is never printed.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kickout::store::PostgresStore;
    ///
    /// let store = PostgresStore::builder("postgres://app@db.internal/app?sslmode=require")
    ///     .tls_root_certificates(&std::fs::read("/etc/ssl/db-ca.pem")?)
    ///     .tls_client_certificate(
    ///         &std::fs::read("/etc/ssl/app.pem")?,
    ///         &std::fs::read("/etc/ssl/app.key")?,
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn tls_client_certificate(mut self, chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls.client = Some((Arc::from(chain_pem), Arc::from(key_pem)));
        self
    }

    /// Connects, creates or upgrades the schema, and starts listening for revocations.
    /// A database that cannot be reached, a refused login or a missing right is an
    /// error here, not at the first request; no message carries the password.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let mut config = self.config?;
        if !schema::valid_name(&self.schema) {
            return Err(StoreError::Misconfigured(format!(
                "schema name {:?}: 1 to 48 characters of a-z, 0-9 and _, starting with a letter",
                self.schema
            )));
        }
        let timeout = self.timeout.min(Duration::from_secs(3600));
        config.connect_timeout(timeout);
        session_settings(&mut config, timeout);
        let given = self.files.read(self.tls, config.get_ssl_mode()).await?;
        let tls = tls::connector(&mut config, &given)?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), recycling),
            None => Manager::from_config(config.clone(), NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| StoreError::Misconfigured(e.to_string()))?;
        let sql = Sql::new(&self.schema);
        {
            let mut client = tokio::time::timeout(timeout.max(Duration::from_secs(5)), pool.get())
                .await
                .map_err(|_| unavailable("connect timed out"))?
                .map_err(pool_error)?;
            let budget = timeout.max(Duration::from_secs(30));
            let migrate = schema::migrate(&mut client, &sql, budget);
            tokio::time::timeout(budget, migrate)
                .await
                .map_err(|_| unavailable("creating the schema timed out"))??;
        }
        let revoked = format!("{}_revoked", self.schema);
        let audit_channel = format!("{}_audit", self.schema);
        let (feed, feed_of) = super::feed::feed();
        let audit = broadcast::channel(AUDIT_CAPACITY).0;
        let audit_of = audit.downgrade();
        let (ready, listening) = tokio::sync::oneshot::channel();
        // Named, so an operator sees which connection listens (`pg_stat_activity`).
        let mut listening_config = config.clone();
        listening_config.application_name(feed::APPLICATION_NAME);
        let listener = tokio::spawn(feed::listen(
            listening_config,
            tls,
            [revoked.clone(), audit_channel.clone()],
            (feed, audit),
            timeout,
            ready,
        ));
        let (audit_out, queue) = tokio::sync::mpsc::channel(AUDIT_CAPACITY);
        let audit_drops = Arc::new(AuditDrops::default());
        let (out_pool, channel) = (pool.clone(), audit_channel.clone());
        let publisher = tokio::spawn(super::wire::publish_audit(
            move |message| feed::notify(out_pool.clone(), channel.clone(), timeout, message),
            queue,
            audit_drops.clone(),
        ));
        let store = PostgresStore {
            shared: Arc::new(Shared {
                pool,
                sql,
                timeout,
                revoked,
                feed: feed_of,
                audit: audit_of,
                audit_out,
                audit_drops,
                tasks: [listener, publisher],
                purges: purge::PurgeDebt::default(),
            }),
        };
        // A store that answers hears revocations from then on (if the listener cannot
        // connect now, it goes on trying, and watches re-check when it does). After the
        // store owns its tasks: a caller giving up on `connect` here drops them too.
        let _ = tokio::time::timeout(timeout, listening).await;
        Ok(store)
    }
}

/// What every connection of the store sets up at its start:
/// - the primary only (`target_session_attrs=read-write`): a revocation committed there
///   is what every read sees, never a standby's older copy;
/// - `search_path=pg_catalog`: every table the store names is schema-qualified, and no
///   function of another schema can stand in for a built-in one;
/// - `READ COMMITTED`, whatever the database's default: a write waits for its user's row
///   lock, then reads what the holder committed (a stricter level would refuse it);
/// - the server's own bounds at the store's timeout (`lock_timeout`,
///   `statement_timeout`, `idle_in_transaction_session_timeout`): a statement the store
///   gave up on does not go on holding its connection, or a user's lock.
fn session_settings(config: &mut tokio_postgres::Config, timeout: Duration) {
    config.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
    let ms = timeout.as_millis().max(1);
    let ours = format!(
        "-c search_path=pg_catalog -c default_transaction_isolation=read\\ committed \
         -c lock_timeout={ms} -c statement_timeout={ms} \
         -c idle_in_transaction_session_timeout={}",
        ms.saturating_mul(2)
    );
    let options = match config.get_options() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    config.options(options);
}

pub(crate) fn unavailable(what: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(what.to_string())
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A driver error: the database refused or went away. Its text names no secret (the
/// driver never prints a password).
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("42") => {
            StoreError::Misconfigured(format!("PostgreSQL: {}", db.message()))
        }
        Some(db) => unavailable(format_args!("PostgreSQL: {}", db.message())),
        None => unavailable(format_args!("PostgreSQL: {}", with_causes(&e))),
    }
}

/// An error and what caused it ("error performing TLS handshake: invalid peer
/// certificate: …"): tokio-postgres says the cause only there.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut said = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        use std::fmt::Write;
        let _ = write!(said, ": {c}");
        cause = c.source();
    }
    said
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => unavailable(format_args!("PostgreSQL pool: {other}")),
    }
}

/// Milliseconds as the tables keep them (`bigint`); later than 2^63 is "never".
pub(crate) fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Milliseconds read back: corrupt if negative (no writer of ours), as a ban read as
/// none would let its user in.
pub(crate) fn from_ms(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt("a time before 1970"))
}

/// An optional time column (`bigint`, milliseconds), read back as [`from_ms`] reads it.
pub(crate) fn time_col(row: &tokio_postgres::Row, i: usize) -> Result<Option<u64>, StoreError> {
    col::<Option<i64>>(row, i)?.map(from_ms).transpose()
}

/// A stored record, parsed: corrupt (never a panic) if it is not one of ours.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    raw: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|_| corrupt(what))
}

/// Column `i` of a session or token row, its metadata: `None` for a row of schema step
/// 1, which keeps its metadata in its state, and for metadata that does not read, with
/// a warning. A request never reads the metadata, so such a session works: failing on
/// it would stop every write of its user, revocations included, and every listing.
pub(crate) fn meta_of(
    row: &tokio_postgres::Row,
    i: usize,
) -> Option<crate::store::contract::SessionMeta> {
    if matches!(row.try_get::<_, Option<&str>>(i), Ok(None)) {
        return None;
    }
    let read = readable(row, i);
    if read.is_none() {
        tracing::warn!("a session's metadata that does not read is left out");
    }
    read
}

/// Column `i` of a row, a JSON record of ours: `None` if it is not one (of another type,
/// `NULL`, or text that does not parse as `T`). For what writes and listings pass over.
pub(crate) fn readable<T: serde::de::DeserializeOwned>(
    row: &tokio_postgres::Row,
    i: usize,
) -> Option<T> {
    serde_json::from_str(row.try_get::<_, &str>(i).ok()?).ok()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| corrupt("a record to write"))
}

/// Column `i` of a row of the store's own statements: a value of another type (a table
/// changed under the store) is corrupt, never a panic.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|_| corrupt("a column of another type"))
}

/// A connection from the pool, within the timeout.
pub(crate) type Client = deadpool_postgres::Object;

/// A pooled connection that goes back to the pool only if its operation finished. Cut
/// short (by the store's timeout, or by a caller dropping the operation at the end of
/// its request's budget), it is closed instead: a reply may still be on its way, or its
/// peer may have gone silent (a failover without a reset), which the pool's check takes
/// for open until the kernel gives up, minutes on.
pub(crate) struct Lent {
    client: Option<Client>,
    finished: bool,
}

impl Lent {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client: Some(client),
            finished: false,
        }
    }

    pub(crate) fn client(&mut self) -> Option<&mut Client> {
        self.client.as_mut()
    }

    /// The operation finished: the connection may serve another.
    pub(crate) fn finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (false, Some(client)) = (self.finished, self.client.take()) {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// A user's row, locked for the rest of the transaction (created if missing): every
/// write of a user's state holds it, so two writes of one user never interleave.
pub(crate) struct UserRow {
    /// The ban, if it stands by the caller's clock.
    pub(crate) ban_until: Option<u64>,
    /// The ban as stored: kept when this clock finds it over, for an instance whose
    /// clock is behind, until the row's purge ([`PRUNE_GRACE_MS`](crate::limits::PRUNE_GRACE_MS) past its end).
    stored_ban: Option<u64>,
    pub(crate) restrictions: Restrictions,
    /// JWT mode's revocation state (without its index), as stored.
    pub(crate) jwt: Option<String>,
}

impl PostgresStore {
    pub(crate) fn sql(&self) -> &Sql {
        &self.shared.sql
    }

    /// Runs `op` with a pooled connection, the whole within the timeout: a database that
    /// does not answer is [`StoreError::Unavailable`], never a hang. A transaction cut
    /// short rolls back.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    {
        let work = async {
            let mut lent = Lent::new(self.shared.pool.get().await.map_err(pool_error)?);
            let client = lent.client().ok_or_else(|| unavailable("no connection"))?;
            let out = op(client).await;
            // Cut short by the timeout below, `lent` is dropped unfinished instead.
            lent.finished();
            out
        };
        tokio::time::timeout(self.shared.timeout, work)
            .await
            .map_err(|_| unavailable("PostgreSQL did not answer in time"))?
    }

    /// The row (if any) of a read `statement` outside a transaction, within the timeout.
    pub(crate) async fn row(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        self.run(async |client| {
            let read = client.prepare_cached(statement).await.map_err(db_error)?;
            client.query_opt(&read, params).await.map_err(db_error)
        })
        .await
    }

    /// The rows of a read `statement` outside a transaction, within the timeout.
    pub(crate) async fn rows(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.run(async |client| {
            let read = client.prepare_cached(statement).await.map_err(db_error)?;
            client.query(&read, params).await.map_err(db_error)
        })
        .await
    }

    /// Runs a write `op` (a transaction under a user's lock), then removes a bounded
    /// batch of what is past its time from every table: ordinary writes keep the store
    /// bounded. The purge is a statement of its own, after the commit: it skips rows
    /// others hold and waits for nothing, so it never joins a deadlock; if it fails,
    /// the write stands and the next write purges. One purge runs at a time, taking the
    /// batches of the writes that came meanwhile ([`purge::PurgeDebt`]).
    pub(crate) async fn write<T, F>(&self, now_ms: u64, op: F) -> Result<T, StoreError>
    where
        F: AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    {
        let out = self.run(op).await?;
        if self.shared.purges.owe(now_ms) {
            // In the background, under a bound of its own: the write's answer waits
            // for it neither in time nor in outcome.
            let purging = Purging {
                store: self.clone(),
                done: false,
            };
            tokio::spawn(async move { purging.run().await });
        }
        Ok(out)
    }

    /// Locks (creating it if need be) `user_id`'s row in `tx`: every write of the user's
    /// state holds it until its transaction ends.
    pub(crate) async fn lock_user(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        user_id: &str,
        now_ms: u64,
    ) -> Result<UserRow, StoreError> {
        let sql = self.sql();
        let lock = tx.prepare_cached(&sql.lock_user).await.map_err(db_error)?;
        let row = tx.query_one(&lock, &[&user_id]).await.map_err(db_error)?;
        let stored_ban = time_col(&row, 0)?;
        let restrictions = held(col(&row, 1)?, now_ms)?;
        Ok(UserRow {
            ban_until: stored_ban.filter(|&t| t > now_ms),
            stored_ban,
            restrictions,
            jwt: col(&row, 2)?,
        })
    }

    /// Writes the user's row back: ban, restrictions and JWT state (with the time it
    /// may go, when JWT mode changed it: `None` keeps the stored one), and when the row
    /// may go.
    pub(crate) async fn save_user(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        user_id: &str,
        user: &UserRow,
        jwt_until_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let restrictions = match user.restrictions.is_empty() {
            true => None,
            false => Some(to_json(&user.restrictions)?),
        };
        // The row may go when its ban, restrictions and JWT state may (the SQL takes
        // the stored JWT time when this write did not change it). A ban is kept past
        // its end, as a revocation is: a writer whose clock is ahead would otherwise
        // lift it early for every instance.
        let ban = user.ban_until.or(user.stored_ban);
        let own = ban
            .map_or(0, kept_until)
            .max(user.restrictions.expires_at_ms().unwrap_or(0));
        let save = tx
            .prepare_cached(&self.sql().save_user)
            .await
            .map_err(db_error)?;
        let (ban, jwt_until) = (ban.map(ms), jwt_until_ms.map(ms));
        let params: [&(dyn ToSql + Sync); 6] = [
            &user_id,
            &ban,
            &restrictions,
            &user.jwt,
            &ms(own),
            &jwt_until,
        ];
        tx.execute(&save, &params).await.map_err(db_error)?;
        Ok(())
    }

    /// Announces `messages` on the revocation channel when `tx` commits.
    pub(crate) async fn announce(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        messages: &[String],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let notify = tx.prepare_cached(
            "SELECT pg_catalog.pg_notify($1, m) FROM pg_catalog.unnest($2::text[]) AS m",
        );
        let notify = notify.await.map_err(db_error)?;
        tx.execute(&notify, &[&self.shared.revoked, &messages])
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// A restriction change of `user_id`'s: the user row, under its lock; saved and
    /// announced if the set changed. Answers what `change` answers.
    async fn change_restrictions(
        &self,
        user_id: &str,
        now_ms: u64,
        change: impl FnOnce(&mut Restrictions) -> bool + Send,
    ) -> Result<bool, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, user_id, now_ms).await?;
            let before = user.restrictions.clone();
            let answer = change(&mut user.restrictions);
            // A lift of one over by this clock but kept answers `false`, and still
            // takes it out for every instance: saved and announced all the same.
            if user.restrictions != before {
                self.save_user(&tx, user_id, &user, None).await?;
                let message = super::wire::changed_message(user_tag(user_id));
                self.announce(&tx, &[message]).await?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(answer)
        })
        .await
    }
}

/// Restrictions as stored (`NULL`: none), those past their grace at `now_ms` dropped.
pub(crate) fn held(raw: Option<String>, now_ms: u64) -> Result<Restrictions, StoreError> {
    let Some(raw) = raw else {
        return Ok(Restrictions::default());
    };
    let mut held: Restrictions = parse(&raw, "restrictions")?;
    held.prune(now_ms);
    Ok(held)
}

/// The purging of a store's owed batches, one statement at a time until none is owed.
/// Dropped before it is done (a failure, its runtime gone), it drops the debt, so the
/// next write starts another.
struct Purging {
    store: PostgresStore,
    done: bool,
}

impl Purging {
    async fn run(mut self) {
        let store = &self.store;
        loop {
            let (writes, now_ms) = store.shared.purges.due();
            let batch = usize::try_from(writes)
                .unwrap_or(usize::MAX)
                .saturating_mul(PURGE_BATCH);
            let (now, batch) = (ms(now_ms), i64::try_from(batch).unwrap_or(i64::MAX));
            if let Err(error) = store.row(&store.sql().purge, &[&now, &batch]).await {
                tracing::debug!(%error, "purge failed; the next write purges");
                return;
            }
            if !store.shared.purges.paid(writes) {
                self.done = true;
                return;
            }
        }
    }
}

impl Drop for Purging {
    fn drop(&mut self) {
        if !self.done {
            self.store.shared.purges.forgive();
        }
    }
}

impl Store for PostgresStore {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.write(now_ms, async |client| {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut user = self.lock_user(&tx, user_id, now_ms).await?;
            let was = user.ban_until.take().is_some();
            user.stored_ban = None;
            self.save_user(&tx, user_id, &user, None).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(was)
        })
        .await
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let row = self.row(&self.sql().ban_of, &[&user_id]).await?;
        let until = match &row {
            Some(row) => time_col(row, 0)?,
            None => None,
        };
        Ok(until.filter(|&t| t > now_ms))
    }

    async fn restrict(
        &self,
        user_id: &str,
        restriction: &Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let restriction = restriction.clone();
        self.change_restrictions(user_id, now_ms, move |held| {
            held.restrict(restriction, now_ms).is_ok()
        })
        .await
    }

    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.change_restrictions(user_id, now_ms, |held| held.lift(scope, now_ms))
            .await
    }

    async fn restrictions(&self, user_id: &str, now_ms: u64) -> Result<Restrictions, StoreError> {
        let row = self.row(&self.sql().restrictions_of, &[&user_id]).await?;
        let raw = match &row {
            Some(row) => col(row, 0)?,
            None => None,
        };
        held(raw, now_ms)
    }

    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        self.shared.feed.subscribe()
    }

    fn audit_feed(&self) -> Option<broadcast::Receiver<AuditEvent>> {
        Some(self.shared.audit.upgrade()?.subscribe())
    }

    fn audit_wanted(&self) -> bool {
        true
    }

    fn audit(&self, event: &AuditEvent) {
        // In the background: an audit event never delays what it reports; a full queue
        // (the database slow or away) drops it, and a gap marker says so.
        self.shared.audit_drops.queue(&self.shared.audit_out, event);
    }
}
