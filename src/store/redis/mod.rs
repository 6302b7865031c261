//! The Redis store: many instances, one truth — standalone Redis or Redis Cluster.
//!
//! # Key layout
//!
//! With the default prefix `kickout:` and a user whose slot tag is `tttt` (four hex
//! digits: two bytes of SHA-256 of the user id, also carried by each of the user's
//! tokens):
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `kickout:{tttt}:s:<session id>` | string (JSON) | one session record or tombstone | its purge time: the earlier deadline plus retention; a tombstone, its lifetime plus retention |
//! | `kickout:{tttt}:m:<session id>` | string (JSON) | what the application said of one session (`NewSession::meta`: label, fields), read by listings only | as its session record |
//! | `kickout:{tttt}:u:<user id>` | sorted set | ids of the user's sessions that may be live, scored by issue time; then the user's tombstones (ended sessions whose records are kept), scored by 2^50 plus when each record is due to be gone: at most `MAX_ENDED`, past which the one due first is forgotten with its `m:` and `e:` keys | the latest lifetime-plus-retention of its members |
//! | `kickout:{tttt}:b:<user id>` | string | end of the user's ban (Unix ms), both modes | `PRUNE_GRACE_MS` after the ban ends |
//! | `kickout:{tttt}:rs` | string (JSON) | the restrictions of the tag's users, both modes: `{user: {scope: [level, until, note?]}}` (per tag, so a request can read it beside its record knowing only its token's tag) | `PRUNE_GRACE_MS` after the last of them lifts |
//! | `kickout:{tttt}:e:<session id>` | string (JSON) | one session's step-up windows: `{a: last elevated at, s: {scope: until}}` | when the last window closes |
//! | `kickout:{tttt}:j:<user id>` | string (JSON) | JWT mode: the user's revocation state (generations, bumps, blacklist), read by validation | the latest expiry of the user's tokens |
//! | `kickout:{tttt}:ji:<user id>` | string (JSON) | JWT mode: the index of issued, live tokens (rules, listings, counts) | same |
//! | `kickout:{tttt}:jf:<user id>` | sorted set | JWT mode: `jti`s of the user's refresh records (`jr:`), scored by when each is due to be gone; at most `MAX_REFRESH_TOKENS`, past which a login forgets the one due first | the latest due time of its members |
//! | `kickout:{tttt}:jt:<jti>` | string (JSON) | JWT mode: a live token's own entry (user, device, issue, end, class, idle timeout), for revocation by session id and the directory | the token's expiry plus `PRUNE_GRACE_MS`, as long as its revocation would be kept (a verifier's leeway, by a clock behind Redis's) |
//! | `kickout:{tttt}:je:<jti>` | string (JSON) | JWT mode: one token's step-up windows, as `e:` | when the last window closes |
//! | `kickout:{tttt}:jm:<jti>` | string (JSON) | JWT mode: what the application said of one token, as `m:` | as its `jt:` |
//! | `kickout:{tttt}:jl:<jti>` | string | JWT mode: when a request last came with the token (Unix ms), for the idle timeout and listings | until the session could go idle on it, with the verifiers' leeway |
//! | `kickout:{tttt}:jr:<jti>` | string (JSON) | JWT mode: the session's refresh record (`scripts` lists its fields) | the session's end plus `PRUNE_GRACE_MS` |
//! | `kickout:{tttt}:d` | sorted set | the tag's directory: ids (`jti`s in JWT mode) of its sessions, for `online` and `kickout_all` | the latest end-plus-retention of its members |
//! | `kickout:{tttt}:dx` | sorted set | the same members scored by when each is due to be over; each login of the tag sweeps `DIR_SWEEP` due ones, so `d` sheds expired sessions with no walk (an ended session leaves both at once) | as `d` |
//! | `kickout:{tttt}:w`, `kickout:{dt}:w` | string | a write's stamp, written with its `WAIT` (`wait_for_replicas` only), so the `WAIT` covers whatever the primary wrote before | one second |
//! | `kickout:{dt}` | sorted set | the slot tags that have a directory, for walks of every tag (at most 65,536 members; a tag is written once a day per instance) | a day past the longest session lifetime after its last write |
//!
//! The token is never stored: a record holds the SHA-256 digest of the token, and the
//! session id in its key is the tag plus 12 random bytes (the token's first 14 bytes;
//! the secret is the rest). Every key has a TTL,
//! so tombstones, indexes and bans vanish by themselves.
//!
//! **Why it is correct on a Cluster:** the `{tttt}` hash tag is the same for every key of
//! one user, so all of them sit in one hash slot; each write (login with its rule,
//! logout, kickout, ban, renew, idle renewal) is one Lua script over that slot, hence
//! atomic, and declares every key it touches: a write that learns from an index which
//! records it needs returns their names first, writing nothing, and runs again with them
//! (two round trips when the user has sessions). In a slot migration a script therefore
//! runs whole on one node or is refused (`TRYAGAIN`, an error), never half. A request's
//! token carries the tag, so its lookup goes straight to the right node.
//!
//! **Why a lookup is a plain `MGET`:** a record is one JSON string, and what a guard
//! needs beside it (the tag's restrictions, the session's step-up windows) sits in keys
//! the token names, in the same slot: validating a request costs Redis one `MGET` of
//! three keys (a script costs it about five times more, which is what limits throughput
//! under concurrency). Two cases add a round trip, never
//! on a plain validated request: the idle renewal, once per touch interval per session
//! (an `EVALSHA` that re-checks and moves the deadline atomically), and a token ended by
//! a ban (a `GET` of the ban, to say `banned` or `kicked_out`).
//!
//! Times come from the application's clock (passed in), while TTLs are relative
//! (`PEXPIRE`), so a skew between the application and Redis clocks never expires a key
//! early; records past their purge time are treated as gone even before Redis drops them.

mod codec;
mod directory;
mod feed;
#[cfg(feature = "jwt")]
mod jwt;
mod keys;
mod link;
mod scripts;
mod session;
mod tls;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::{Cmd, FromRedisValue, ScriptInvocation, Value};
use tokio::sync::broadcast;

use self::codec::{corrupt, end_code, end_reason, infos, meta_json, meta_of, num, rule_args};
use self::codec::{ended_reply, hex, refresh_fields};
use self::link::{Conn, Dial, Link, Pinned};
use self::scripts::Scripts;
use super::audit::{AUDIT_CAPACITY, AuditEvent};
use super::contract::{Elevated, Elevation, Revoked, Store, StoreError};
use crate::note::Note;
use crate::restriction::{Restriction, Restrictions, Scope};
use crate::token::{SessionId, user_tag};

/// The future of a Redis read on the request path (a lookup, a JWT check): it owns a
/// connection handle and its arguments.
pub type RedisFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// Default bound on one store operation, connection included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Sessions in Redis, shared by every instance of the application.
///
/// Connect with [`RedisStore::connect`] (one URL: a standalone server; several,
/// comma-separated: a Cluster) or [`RedisStore::builder`]. Clones share the connection.
/// The connection reconnects by itself after Redis restarts; while Redis is away every
/// operation fails within the timeout (default one second) with
/// [`StoreError::Unavailable`], so requests get 503 and never hang.
///
/// ```no_run
/// # async fn run() -> Result<(), kickout::store::StoreError> {
/// use kickout::{Auth, store::RedisStore};
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let auth = Auth::new(store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Link,
    /// Where writes go: `conn` itself, or with [`RedisStoreBuilder::wait_for_replicas`]
    /// a connection of their own, so a `WAIT` never holds up a request's read.
    writes: Link,
    shared: Arc<Shared>,
}

/// The family of a session whose step-up windows a script changes (its keys differ).
#[derive(Clone, Copy)]
pub(super) enum Family {
    Session,
    #[cfg(feature = "jwt")]
    Jwt,
}

/// How many replicas must acknowledge each write, within what time.
#[derive(Clone, Copy, Debug)]
struct Replicas {
    count: u32,
    timeout: Duration,
}

struct Shared {
    prefix: String,
    timeout: Duration,
    replicas: Option<Replicas>,
    scripts: Scripts,
    /// `<prefix>revoked`: where scripts publish the sessions they end.
    channel: String,
    /// Sessions ended on any instance, from the channel. The subscription task holds
    /// the only sender: if it ends with its runtime, the feed closes, and what follows
    /// it stops trusting it (a near cache caches nothing, watches re-check).
    feed: crate::store::feed::FeedSource,
    /// What handles heard on `<prefix>audit` (its sender held by the same task), and
    /// the queue of what they publish there (one task, so events keep their order),
    /// with what it could not.
    audit: broadcast::WeakSender<AuditEvent>,
    audit_out: tokio::sync::mpsc::Sender<crate::store::wire::Outgoing>,
    audit_drops: Arc<crate::store::wire::AuditDrops>,
    publisher: tokio::task::JoinHandle<()>,
    subscriber: tokio::task::JoinHandle<()>,
    /// Slot tags this store already put in the directory's tag set (one bit each).
    dir_tags: directory::TagBits,
    /// Set if the eviction check, deferred because the server could not be reached at
    /// connect, found a policy that may evict: every operation then fails with it.
    evicting: Arc<OnceLock<String>>,
    /// The deferred check, while it waits for the server.
    eviction_check: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.subscriber.abort();
        self.publisher.abort();
        if let Some(check) = &self.eviction_check {
            check.abort();
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.conn.is_cluster())
            .field("prefix", &self.shared.prefix)
            .field("timeout", &self.shared.timeout)
            .field("replicas", &self.shared.replicas)
            .finish()
    }
}

/// Builds a [`RedisStore`].
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
    allow_eviction: bool,
    replicas: Option<Replicas>,
    tls: tls::Given,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs may carry a password (`redis://:secret@host`): never print it.
        let urls: Vec<String> = self.urls.iter().map(|u| redacted(u)).collect();
        f.debug_struct("RedisStoreBuilder")
            .field("urls", &urls)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("allow_eviction", &self.allow_eviction)
            .field("replicas", &self.replicas)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Refuses a server whose eviction policy may drop keys, or does not say (see
/// [`RedisStoreBuilder::allow_eviction`]): `Ok(false)` if it could not be reached (ask
/// again later).
async fn check_eviction(conn: &Link, timeout: Duration) -> Result<bool, StoreError> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg("maxmemory-policy");
    let reply: Result<Result<Vec<String>, _>, _> = conn
        .within(timeout, async |mut conn| cmd.query_async(&mut conn).await)
        .await;
    // Managed services that refuse `CONFIG` commonly evict by default (`volatile-lru`):
    // a policy that cannot be read is refused like an evicting one.
    let unread = |why: &dyn fmt::Display| {
        StoreError::Misconfigured(format!(
            "could not read maxmemory-policy ({why}): an evicting policy would drop bans and \
             tombstones, and revoked tokens would work again; set noeviction on the server, \
             then connect with allow_eviction()"
        ))
    };
    match reply {
        Ok(Ok(pair)) => match pair.get(1).map(String::as_str) {
            Some("noeviction") => Ok(true),
            Some(policy) => Err(StoreError::Misconfigured(format!(
                "maxmemory-policy is {policy}: it may evict bans and tombstones, and revoked \
                 tokens would work again; set noeviction, or opt in with allow_eviction()"
            ))),
            None => Err(unread(&"no such setting")),
        },
        Ok(Err(e)) if e.is_io_error() || e.is_connection_refusal() => Ok(false),
        Ok(Err(e)) => Err(unread(&e)),
        Err(_) => Ok(false),
    }
}

/// How often a deferred eviction check asks a server it could not reach.
const EVICTION_RECHECK: Duration = Duration::from_secs(1);

/// The eviction check of a server that was down at connect: asked again until it
/// answers. An evicting policy then fails every operation of the store (503s, and an
/// error in the log), as it would have failed `connect`.
async fn check_eviction_later(conn: Link, timeout: Duration, evicting: Arc<OnceLock<String>>) {
    loop {
        tokio::time::sleep(EVICTION_RECHECK).await;
        match check_eviction(&conn, timeout).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(refused) => {
                tracing::error!(error = %refused, "Redis store refused: every operation fails");
                let _ = evicting.set(refused.to_string());
                return;
            }
        }
    }
}

/// A URL with its credentials (anything between `://` and the last `@` of its
/// authority) replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_owned(),
    }
}

impl RedisStoreBuilder {
    /// Key prefix, so several applications share one Redis (default `"kickout:"`).
    /// Braces are not allowed: they would change the hash slot of the keys.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound on each operation, connecting included (default one second, at least a
    /// millisecond).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Accept a Redis whose `maxmemory-policy` may evict keys, or cannot be read. Every
    /// key of the store has a TTL, so any policy but `noeviction` (`volatile-*` included)
    /// can drop a ban or a tombstone under memory pressure, and a revoked token then
    /// works again; by default [`connect`](RedisStoreBuilder::connect) refuses such a
    /// server (one it cannot reach is asked when it comes up, and evicting, fails every
    /// operation of the store). It refuses a server that does not let it read the policy
    /// too: managed services that refuse `CONFIG` commonly evict by default. Set
    /// `noeviction` in the service's settings, then connect with this.
    pub fn allow_eviction(mut self) -> Self {
        self.allow_eviction = true;
        self
    }

    /// Waits for `count` replicas to acknowledge every write (login, logout, kickout,
    /// ban, unban, renew) with Redis's `WAIT`, for at most `timeout`; a write not
    /// acknowledged in time returns [`StoreError::Unavailable`], so a helper never
    /// reports a revocation done that a failover could undo. (The write did reach the
    /// primary: repeating a logout, kickout or ban is harmless.) The idle renewal of a
    /// request is not waited for: losing one only ends a session earlier. Nor is a
    /// refresh's rotation: its token is spent once the primary has it, so it is answered
    /// (a 503 would bring the client back with the spent token, taken for a reuse); a
    /// rotation lost in a failover costs a new login. A reuse it detects is waited for.
    ///
    /// Off by default: replication is asynchronous, and a revocation acknowledged by a
    /// primary that dies before its replicas have it is lost in the failover (see the
    /// README's "What holds when Redis fails"). `timeout` must be above zero and within
    /// the operation [`timeout`](Self::timeout). Writes use a connection of their own,
    /// so waiting never delays a request's validation.
    ///
    /// On a Cluster the `WAIT` goes to the primary that serves the user's slot when the
    /// write returns; a failover in between can make it answer for the new primary.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), kickout::store::StoreError> {
    /// use std::time::Duration;
    /// use kickout::store::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .wait_for_replicas(1, Duration::from_millis(200))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_replicas(mut self, count: u32, timeout: Duration) -> Self {
        self.replicas = (count > 0).then_some(Replicas { count, timeout });
        self
    }

    /// For `rediss://` URLs, trust only the CA certificates of `pem` (one or more PEM
    /// blocks: a private CA, a cloud provider's bundle) instead of the public roots. The
    /// server's certificate is verified against them, host name included.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kickout::store::RedisStore;
    ///
    /// let ca = std::fs::read("/etc/ssl/redis-ca.pem")?;
    /// let store = RedisStore::builder("rediss://:secret@redis.internal:6380")
    ///     .tls_root_certificates(&ca)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn tls_root_certificates(mut self, pem: &[u8]) -> Self {
        self.tls.roots = Some(Arc::from(pem));
        self
    }

    /// For `rediss://` URLs, show the server this client certificate (its chain, PEM)
    /// and prove it with its private key (PEM), for a server that asks for one
    /// (`tls-auth-clients yes`). The key is never printed.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kickout::store::RedisStore;
    ///
    /// let store = RedisStore::builder("rediss://redis.internal:6380")
    ///     .tls_root_certificates(&std::fs::read("/etc/ssl/redis-ca.pem")?)
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

    /// Treat the URLs as Cluster nodes even if there is only one.
    pub fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// Connects. A standalone connection is made lazily, so an application can start
    /// while Redis is down (its requests get 503 until Redis is up); a Cluster
    /// connection needs the nodes at start to learn the slot map.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        if self.prefix.contains(['{', '}']) {
            return Err(StoreError::Misconfigured(
                "the key prefix must not contain braces".into(),
            ));
        }
        if self.urls.is_empty() {
            return Err(StoreError::Misconfigured("no Redis URL".into()));
        }
        if let Some(r) = self.replicas {
            // `WAIT n 0` would block forever.
            if r.timeout.as_millis() == 0 || r.timeout > self.timeout {
                return Err(StoreError::Misconfigured(
                    "wait_for_replicas: the timeout must be at least a millisecond and \
                     within the operation timeout"
                        .into(),
                ));
            }
        }
        tls::check(&self.urls, &self.tls)?;
        let dial = Dial {
            urls: self.urls.clone(),
            cluster: self.cluster,
            tls: self.tls.clone(),
            timeout: self.timeout,
        };
        let conn = Link::new(dial.open().await?, dial.clone());
        let writes = match self.replicas {
            Some(_) => Link::new(dial.open().await?, dial),
            None => conn.clone(),
        };
        let unchecked = !self.allow_eviction && !check_eviction(&conn, self.timeout).await?;
        let evicting = Arc::new(OnceLock::new());
        let eviction_check = unchecked.then(|| {
            tokio::spawn(check_eviction_later(
                conn.clone(),
                self.timeout,
                evicting.clone(),
            ))
        });
        let channel = keys::Keys::new(&self.prefix).channel();
        let audit_channel = keys::Keys::new(&self.prefix).audit_channel();
        let (feed, feed_of) = super::feed::feed();
        let audit = broadcast::channel(AUDIT_CAPACITY).0;
        let audit_of = audit.downgrade();
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        let subscriber = tokio::spawn(
            feed::Subscriber {
                urls: self.urls.clone(),
                tls: self.tls.clone(),
                channels: feed::Channels {
                    revoked: channel.clone(),
                    audit: audit_channel.clone(),
                },
                feed,
                audit,
                timeout: self.timeout,
            }
            .run(ready),
        );
        let (audit_out, queue) = tokio::sync::mpsc::channel(AUDIT_CAPACITY);
        let audit_drops = Arc::new(crate::store::wire::AuditDrops::default());
        let (conn_out, timeout) = (writes.clone(), self.timeout);
        let publisher = tokio::spawn(crate::store::wire::publish_audit(
            move |message| feed::publish(conn_out.clone(), audit_channel.clone(), timeout, message),
            queue,
            audit_drops.clone(),
        ));
        let timeout = self.timeout;
        let store = RedisStore {
            conn,
            writes,
            shared: Arc::new(Shared {
                prefix: self.prefix,
                timeout: self.timeout,
                replicas: self.replicas,
                scripts: Scripts::new(),
                channel,
                feed: feed_of,
                audit: audit_of,
                audit_out,
                audit_drops,
                publisher,
                subscriber,
                dir_tags: directory::TagBits::default(),
                evicting,
                eviction_check,
            }),
        };
        // A store that answers hears revocations and audit events from then on, as the
        // PostgreSQL store does (if the subscription cannot be made in time, the store
        // still serves: the feed then catches up with a resync and a gap marker). After
        // the store owns its tasks: a caller giving up on `connect` here drops them too.
        let _ = tokio::time::timeout(timeout, subscribed).await;
        Ok(store)
    }
}

impl RedisStore {
    /// Connects with default settings: one URL is a standalone server, a comma-separated
    /// list the nodes of a Cluster (the demos' `REDIS_URL`). `rediss://` URLs speak TLS,
    /// the server's certificate verified against the public roots (or
    /// [`tls_root_certificates`](RedisStoreBuilder::tls_root_certificates)).
    pub async fn connect(urls: &str) -> Result<Self, StoreError> {
        Self::builder(urls).connect().await
    }

    /// A builder for the comma-separated `urls`.
    pub fn builder(urls: &str) -> RedisStoreBuilder {
        RedisStoreBuilder {
            urls: urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
            cluster: false,
            prefix: "kickout:".into(),
            timeout: DEFAULT_TIMEOUT,
            allow_eviction: false,
            replicas: None,
            tls: tls::Given::default(),
        }
    }

    /// The key builder.
    fn keys(&self) -> keys::Keys<'_> {
        keys::Keys::new(&self.shared.prefix)
    }

    /// Runs `lua/elevate.lua` for the session `id` of `user_id`, of `family`: opens a
    /// window of `scope` until `until_ms`, or closes it (`None`). The script's reply.
    async fn windows(
        &self,
        family: Family,
        (user_id, id): (&str, SessionId),
        scope: &Scope,
        until_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<String, StoreError> {
        let keys = self.keys();
        // The session's record (to check it is live and the user's), its windows, and
        // in JWT mode its last sight (the idle rule).
        let (declared, kind) = match family {
            Family::Session => (vec![keys.session(id), keys.elevations(id)], "s"),
            #[cfg(feature = "jwt")]
            Family::Jwt => {
                let declared = vec![
                    keys.jwt_token(id),
                    keys.jwt_elevations(id),
                    keys.jwt_seen(id),
                ];
                (declared, "j")
            }
        };
        let message = crate::store::wire::updated_message(id, kind == "j");
        let until = until_ms.map(|u| u.to_string()).unwrap_or_default();
        self.write(&self.shared.scripts.elevate, declared, |call| {
            call.arg(now_ms)
                .arg(user_id)
                .arg(scope.as_str())
                .arg(&until)
                .arg(kind)
                .arg(&message)
                .arg(&self.shared.channel);
        })
        .await
    }

    /// Opens a step-up window ([`SessionStore::elevate`], `JwtStore::jwt_elevate`).
    pub(super) async fn elevate_in(
        &self,
        family: Family,
        e: Elevation<'_>,
        now_ms: u64,
    ) -> Result<Elevated, StoreError> {
        let who = (e.user_id, e.session_id);
        let reply = self
            .windows(family, who, e.scope, Some(e.until_ms), now_ms)
            .await?;
        Ok(match reply.as_str() {
            "0" => Elevated::NotLive,
            "-1" => Elevated::TooMany,
            until => Elevated::Until(num(until)?),
        })
    }

    /// Closes a step-up window early; whether one was open.
    pub(super) async fn close_in(
        &self,
        family: Family,
        who: (&str, SessionId),
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.windows(family, who, scope, None, now_ms).await? == "1")
    }

    /// A `GET`.
    pub(super) async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.read_cmd(cmd).await
    }

    /// A command that only reads, within the timeout; retried once on a dead
    /// connection.
    async fn read_cmd<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, StoreError> {
        self.within_timeout(&self.conn.pin(), async |mut conn| {
            match cmd.query_async(&mut conn).await {
                Err(e) if dead_connection(&e) => cmd.query_async(&mut conn).await,
                reply => reply,
            }
        })
        .await
    }

    /// An `MGET` that also records a sight (`SET note value`, expiring in `ttl_ms`), in
    /// one round trip to the keys' node (all share a slot).
    #[cfg(feature = "jwt")]
    pub(super) async fn get_many_noting<const N: usize>(
        &self,
        keys: [&str; N],
        note: &str,
        value: u64,
        ttl_ms: u64,
    ) -> Result<[Option<String>; N], StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("MGET")
            .arg(&keys[..])
            .cmd("SET")
            .arg(note)
            .arg(value)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .ignore();
        self.within_timeout(&self.conn.pin(), async |mut conn| {
            let (got,): (Vec<Option<String>>,) = pipe.query_async(&mut conn).await?;
            Ok(got)
        })
        .await?
        .try_into()
        .map_err(|_| corrupt("an MGET reply of the wrong length"))
    }

    /// Keys of one slot in one round trip (`MGET`).
    pub(super) async fn get_many<const N: usize>(
        &self,
        keys: [&str; N],
    ) -> Result<[Option<String>; N], StoreError> {
        // Sized once: each request sends one (growing it cost a few reallocations).
        let data = "MGET".len() + keys.iter().map(|k| k.len()).sum::<usize>();
        let mut cmd = Cmd::with_capacity(N + 1, data);
        cmd.arg("MGET").arg(&keys[..]);
        let got: Vec<Option<String>> = self.read_cmd(cmd).await?;
        got.try_into()
            .map_err(|_| corrupt("an MGET reply of the wrong length"))
    }

    /// `SET key value PX ttl_ms`.
    #[cfg(feature = "jwt")]
    pub(super) async fn set_px(
        &self,
        key: &str,
        value: u64,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(ttl_ms.max(1));
        self.within_timeout(&self.conn.pin(), async |mut conn| {
            cmd.query_async::<()>(&mut conn).await
        })
        .await
    }

    /// `attempt` on `conn` within the operation timeout, its error as the store's (none
    /// on a server found to evict after `connect`).
    async fn within_timeout<T>(
        &self,
        conn: &Pinned<'_>,
        attempt: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        if let Some(refused) = self.shared.evicting.get() {
            return Err(StoreError::Misconfigured(refused.clone()));
        }
        conn.within(self.shared.timeout, attempt)
            .await?
            .map_err(unavailable)
    }

    /// Runs a script invocation within the timeout, on `conn`. A script that only
    /// reads (or only renews an idle deadline) is retried once on a dead connection; a
    /// write is not, as its lost reply may hide that it ran.
    async fn run_on<T: FromRedisValue>(
        &self,
        conn: &Pinned<'_>,
        call: ScriptInvocation<'_>,
        retry: bool,
    ) -> Result<T, StoreError> {
        self.within_timeout(conn, async |mut conn| {
            match call.invoke_async(&mut conn).await {
                Err(e) if retry && dead_connection(&e) => call.invoke_async(&mut conn).await,
                reply => reply,
            }
        })
        .await
    }

    /// Runs a script that reads, or that writes what need not be waited for (the idle
    /// renewal).
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        call: ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run_on(&self.conn.pin(), call, true).await
    }

    /// Runs a script that writes (declaring `keys` and those it asks for), then waits
    /// for the replicas if the store was asked to: an error unless they acknowledged in
    /// time.
    pub(super) async fn write<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: Vec<String>,
        args: impl Fn(&mut ScriptInvocation<'_>),
    ) -> Result<T, StoreError> {
        let slot_key = keys.first().cloned().unwrap_or_default();
        // The write and its `WAIT` on one connection: `WAIT` counts only its own.
        let conn = self.writes.pin();
        let reply = self.keyed(&conn, false, script, keys, args).await?;
        if let Some(replicas) = self.shared.replicas {
            self.wait(&conn, replicas, &slot_key).await?;
        }
        reply
    }

    /// [`write`](Self::write) for a refresh script: a rotation the primary committed
    /// (`'ok'`) is answered even when the replicas did not confirm it in time. Its
    /// presented token is spent either way, so a 503 would send the client back with
    /// it, and that retry would be taken for a reuse and end the session; a rotation
    /// lost in a failover costs at most a new login. Any other outcome (a reuse ending
    /// the session is a revocation) waits as every write does.
    pub(super) async fn write_rotation(
        &self,
        script: &redis::Script,
        keys: Vec<String>,
        args: impl Fn(&mut ScriptInvocation<'_>),
    ) -> Result<Vec<String>, StoreError> {
        let slot_key = keys.first().cloned().unwrap_or_default();
        let conn = self.writes.pin();
        let reply: Vec<String> = self.keyed(&conn, false, script, keys, args).await??;
        if let Some(replicas) = self.shared.replicas
            && let Err(error) = self.wait(&conn, replicas, &slot_key).await
        {
            if reply.first().map(String::as_str) != Some("ok") {
                return Err(error);
            }
            tracing::warn!(%error, "a refresh is not yet on the replicas; answered, since its token is spent");
        }
        Ok(reply)
    }

    /// Runs a script that only reads (see [`write`](Self::write) for `keys`).
    pub(super) async fn read<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: Vec<String>,
        args: impl Fn(&mut ScriptInvocation<'_>),
    ) -> Result<T, StoreError> {
        self.keyed(&self.conn.pin(), true, script, keys, args)
            .await?
    }

    /// Runs a script that names the further keys it needs (`lua/declare.lua`): with
    /// `keys`, then again with those it asked for, until it has them all. More rounds
    /// than [`MAX_KEY_ROUNDS`] mean the user's keys changed under every attempt. A reply
    /// that is not a `T` is the inner error (the script ran).
    async fn keyed<T: FromRedisValue>(
        &self,
        conn: &Pinned<'_>,
        retry: bool,
        script: &redis::Script,
        mut keys: Vec<String>,
        args: impl Fn(&mut ScriptInvocation<'_>),
    ) -> Result<Result<T, StoreError>, StoreError> {
        for _ in 0..MAX_KEY_ROUNDS {
            let mut call = script.prepare_invoke();
            for key in &keys {
                call.key(key);
            }
            args(&mut call);
            let reply: Value = self.run_on(conn, call, retry).await?;
            match undeclared(&reply) {
                Some(more) => keys.extend(more),
                None => {
                    return Ok(T::from_redis_value(reply).map_err(|_| corrupt("a script reply")));
                }
            }
        }
        Err(StoreError::Unavailable(
            "the user's keys changed under every attempt".into(),
        ))
    }

    /// `WAIT` on `conn` (the one the write went through), at the node that holds `key`.
    /// Its own timer: a `WAIT` that takes its time says replicas lag, not that the
    /// connection is gone.
    ///
    /// `WAIT` counts the writes of its own connection, and a script run may write
    /// nothing: a Cluster client sends a script again on a new connection when the
    /// first lost its reply, and that second run finds its work done by the first. So
    /// the connection first writes a stamp of its own (`w`, gone in a second), in one
    /// pipeline with the `WAIT`: the `WAIT` then covers what the primary wrote before
    /// the stamp, the first run included. (A failover between the runs can still lose
    /// the first run's writes with the old primary: the second then does the work.)
    async fn wait(
        &self,
        conn: &Pinned<'_>,
        replicas: Replicas,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut stamp = redis::cmd("SET");
        stamp.arg(keys::stamp(key)).arg(1).arg("PX").arg(STAMP_MS);
        let mut cmd = redis::cmd("WAIT");
        let ms = u64::try_from(replicas.timeout.as_millis()).unwrap_or(u64::MAX);
        cmd.arg(replicas.count).arg(ms);
        // One pipeline: a client that sends it again sends the stamp with the `WAIT`.
        let mut both = redis::pipe();
        both.add_command(stamp).add_command(cmd);
        let acked = async |conn| match conn {
            Conn::Single(mut c) => both.query_async::<((), u64)>(&mut c).await.map(|(_, n)| n),
            Conn::Cluster(mut c) => {
                use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
                let route = Route::with_key(key, SlotAddr::Master);
                let to = SingleNodeRoutingInfo::SpecificNode(route);
                // Both replies: the client follows a redirect of the stamp only if it
                // sees it, and a stamp refused is no stamp.
                let mut replies = c.route_pipeline(both, 0, 2, to).await?.into_iter();
                replies.next().unwrap_or(Value::Nil).extract_error()?;
                let reply = replies.next().unwrap_or(Value::Nil).extract_error()?;
                u64::from_redis_value(reply).map_err(redis::RedisError::from)
            }
        };
        let acked = tokio::time::timeout(self.shared.timeout, acked(conn.conn()))
            .await
            .map_err(|_| link::late())?
            .map_err(unavailable)?;
        if acked < u64::from(replicas.count) {
            return Err(StoreError::Unavailable(format!(
                "the write reached {acked} of {} replicas in time: a failover could undo it",
                replicas.count
            )));
        }
        Ok(())
    }
}

/// How long a write's stamp lives (see [`RedisStore::wait`]): only its write counts.
const STAMP_MS: u64 = 1_000;

/// Attempts of a script that finds more keys to declare: the first learns them, the
/// others follow concurrent changes. A round is lost only to a write of the same user
/// that went through, so `n` concurrent writers of one user need at most `n + 1`.
const MAX_KEY_ROUNDS: usize = 32;

/// The keys a script asked to be declared: its reply `{{key, ...}}`.
fn undeclared(reply: &Value) -> Option<Vec<String>> {
    match reply {
        Value::Array(outer) => match outer.as_slice() {
            [keys @ Value::Array(_)] => Vec::<String>::from_redis_value(keys.clone()).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A connection that died under a command (a Redis restart, a dropped link): a second
/// attempt gets a fresh one.
fn dead_connection(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error()
}

/// An error building a client: the URL (never printed: it may hold a password) or a
/// setting is wrong.
fn misconfigured(e: redis::RedisError) -> StoreError {
    StoreError::Misconfigured(format!(
        "the Redis URL or settings are invalid ({:?})",
        e.kind()
    ))
}

pub(super) fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Store for RedisStore {
    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let declared = vec![self.keys().ban(user_id)];
        let lifted: u8 = self
            .write(&self.shared.scripts.unban, declared, |call| {
                call.arg(now_ms);
            })
            .await?;
        Ok(lifted == 1)
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let until = self.get(&self.keys().ban(user_id)).await?;
        Ok(until.map(|u| num(&u)).transpose()?.filter(|&u| u > now_ms))
    }

    async fn restrict(
        &self,
        user_id: &str,
        restriction: &Restriction,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let declared = vec![self.keys().restrictions(user_tag(user_id))];
        let note = restriction
            .note
            .as_ref()
            .map_or("", Note::as_stored)
            .to_owned();
        let set: u8 = self
            .write(&self.shared.scripts.restrict, declared, |call| {
                call.arg(now_ms)
                    .arg(user_id)
                    .arg("set")
                    .arg(restriction.scope.as_str())
                    .arg(restriction.level.get())
                    .arg(restriction.until_ms)
                    .arg(note.as_str())
                    .arg(&self.shared.channel);
            })
            .await?;
        Ok(set == 1)
    }

    async fn unrestrict(
        &self,
        user_id: &str,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let declared = vec![self.keys().restrictions(user_tag(user_id))];
        let held: u8 = self
            .write(&self.shared.scripts.restrict, declared, |call| {
                call.arg(now_ms)
                    .arg(user_id)
                    .arg("lift")
                    .arg(scope.as_str())
                    .arg(&self.shared.channel);
            })
            .await?;
        Ok(held == 1)
    }

    async fn restrictions(&self, user_id: &str, now_ms: u64) -> Result<Restrictions, StoreError> {
        let raw = self
            .get(&self.keys().restrictions(user_tag(user_id)))
            .await?;
        codec::restrictions_of(raw.as_deref(), user_id, now_ms)
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
        // (Redis slow or away) drops it, and a gap marker says so.
        self.shared.audit_drops.queue(&self.shared.audit_out, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_password() {
        let builder = RedisStore::builder(
            "redis://:s3cret@127.0.0.1:6379/0,rediss://user:hunter2@[::1]:7000?x=1",
        );
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("***@127.0.0.1:6379/0"), "{shown}");
        assert_eq!(redacted("redis://127.0.0.1"), "redis://127.0.0.1");
        assert_eq!(redacted("unix:/tmp/x"), "unix:/tmp/x");
    }
}
