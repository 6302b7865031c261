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
//! | `kickout:{tttt}:u:<user id>` | sorted set | ids of the user's sessions that may be live, scored by issue time | the latest lifetime-plus-retention of its members |
//! | `kickout:{tttt}:b:<user id>` | string | end of the user's ban (Unix ms), both modes | when the ban ends |
//! | `kickout:{tttt}:j:<user id>` | string (JSON) | JWT mode: the user's revocation state (generations, bumps, blacklist), read by validation | the latest expiry of the user's tokens |
//! | `kickout:{tttt}:ji:<user id>` | string (JSON) | JWT mode: the index of issued, live tokens (rules, listings, counts) | same |
//! | `kickout:{tttt}:jt:<jti>` | string | JWT mode: the user of a live token, for revocation by session id | the token's expiry |
//!
//! The token is never stored: a record holds the SHA-256 digest of the token, and the
//! session id in its key is the tag plus 12 bytes of that digest. Every key has a TTL,
//! so tombstones, indexes and bans vanish by themselves.
//!
//! **Why it is correct on a Cluster:** the `{tttt}` hash tag is the same for every key of
//! one user, so all of them sit in one hash slot; each write (login with its rule,
//! logout, kickout, ban, renew, idle renewal) is one Lua script over that slot, hence
//! atomic and one round trip. A request's token carries the tag, so its lookup goes
//! straight to the right node.
//!
//! **Why a lookup is a plain `GET`:** a record is one JSON string, so validating a
//! request costs Redis what a `GET` costs (a script costs it about five times more,
//! which is what limits throughput under concurrency). Two cases add a round trip, never
//! on a plain validated request: the idle renewal, once per touch interval per session
//! (an `EVALSHA` that re-checks and moves the deadline atomically), and a token ended by
//! a ban (a `GET` of the ban, to say `banned` or `kicked_out`).
//!
//! Times come from the application's clock (passed in), while TTLs are relative
//! (`PEXPIRE`), so a skew between the application and Redis clocks never expires a key
//! early; records past their purge time are treated as gone even before Redis drops them.

mod feed;
mod scripts;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, ScriptInvocation, Value};

use self::scripts::Scripts;
use super::jwt::{Bump, DeviceGen, JwtEntry, JwtIssued, JwtState, JwtToken};
use super::{
    Created, EndReason, Ended, JwtStatus, JwtTarget, NewSession, Revoked, SessionInfo,
    SessionRecord, Store, StoreError, Target, Touch,
};
use crate::policy::{Limit, LoginRule, Overflow};
use crate::token::{SessionId, SessionKey, user_tag};
use tokio::sync::broadcast;

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
    conn: Conn,
    shared: Arc<Shared>,
}

struct Shared {
    prefix: String,
    timeout: Duration,
    scripts: Scripts,
    /// `<prefix>revoked`: where scripts publish the sessions they end.
    channel: String,
    /// Sessions ended on any instance, from the channel.
    feed: broadcast::Sender<Revoked>,
    subscriber: tokio::task::JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.conn, Conn::Cluster(_)))
            .field("prefix", &self.shared.prefix)
            .field("timeout", &self.shared.timeout)
            .finish()
    }
}

/// Builds a [`RedisStore`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RedisStoreBuilder {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
}

impl RedisStoreBuilder {
    /// Key prefix, so several applications share one Redis (default `"kickout:"`).
    /// Braces are not allowed: they would change the hash slot of the keys.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound on each operation, connecting included (default one second).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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
            return Err(StoreError::Unavailable(
                "the key prefix must not contain braces".into(),
            ));
        }
        let conn = if self.cluster || self.urls.len() > 1 {
            let client = ClusterClient::builder(self.urls.clone())
                .connection_timeout(self.timeout)
                .response_timeout(self.timeout)
                .retries(1)
                .build()
                .map_err(unavailable)?;
            let conn = tokio::time::timeout(self.timeout * 5, client.get_async_connection())
                .await
                .map_err(|_| StoreError::Unavailable("timed out connecting to the cluster".into()))?
                .map_err(unavailable)?;
            Conn::Cluster(conn)
        } else {
            let url = self.urls.first().map(String::as_str).unwrap_or_default();
            let client = redis::Client::open(url).map_err(unavailable)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1)
                .set_max_delay(self.timeout);
            Conn::Single(
                ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?,
            )
        };
        let channel = format!("{}revoked", self.prefix);
        let feed = broadcast::channel(1024).0;
        let subscriber = tokio::spawn(feed::subscribe(
            self.urls.clone(),
            channel.clone(),
            feed.clone(),
            self.timeout,
        ));
        Ok(RedisStore {
            conn,
            shared: Arc::new(Shared {
                prefix: self.prefix,
                timeout: self.timeout,
                scripts: Scripts::new(),
                channel,
                feed,
                subscriber,
            }),
        })
    }
}

impl RedisStore {
    /// Connects with default settings: one URL is a standalone server, a comma-separated
    /// list the nodes of a Cluster (the demos' `REDIS_URL`).
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
        }
    }

    /// `<prefix>{tttt}:`, the start of every key of users with slot tag `tag`.
    fn base(&self, tag: u16) -> String {
        format!("{}{{{tag:04x}}}:", self.shared.prefix)
    }

    fn session_key(&self, id: SessionId) -> (String, String) {
        let base = self.base(id.tag());
        let key = format!("{base}s:{id}");
        (base, key)
    }

    fn user_key(&self, user_id: &str) -> (String, String) {
        let base = self.base(user_tag(user_id));
        let key = format!("{base}u:{user_id}");
        (base, key)
    }

    /// Runs a script invocation within the timeout.
    async fn run<T: FromRedisValue>(&self, call: ScriptInvocation<'_>) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(self.shared.timeout, call.invoke_async(&mut conn))
            .await
            .map_err(|_| StoreError::Unavailable("redis did not answer in time".into()))?
            .map_err(unavailable)
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn num(s: &str) -> Result<u64, StoreError> {
    s.parse().map_err(|_| corrupt("a number field"))
}

/// Session infos from a script's flat `{sid, user, device, issued, expires, ...}`.
fn infos(flat: &[String]) -> Result<Vec<SessionInfo>, StoreError> {
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

fn end_code(reason: EndReason) -> &'static str {
    match reason {
        EndReason::LoggedOut => "o",
        EndReason::KickedOut => "k",
        EndReason::Replaced => "r",
        EndReason::Banned => "b",
    }
}

fn end_reason(code: &str) -> Result<Option<EndReason>, StoreError> {
    Ok(Some(match code {
        "" => return Ok(None),
        "o" => EndReason::LoggedOut,
        "k" => EndReason::KickedOut,
        "r" => EndReason::Replaced,
        "b" => EndReason::Banned,
        _ => return Err(corrupt("an end reason")),
    }))
}

/// A record as stored (see `scripts.rs`); times are decimal strings.
#[derive(serde::Deserialize)]
struct Stored {
    d: String,
    u: String,
    v: String,
    i: String,
    e: String,
    l: Option<String>,
    r: String,
    x: Option<String>,
    a: Option<String>,
}

/// Lower-case hex of a digest, as records keep it.
fn hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What a stored record says, or `None` if it belongs to another token or is past its
/// purge time.
fn record(
    id: SessionId,
    digest: &str,
    raw: &str,
    now_ms: u64,
) -> Result<Option<SessionRecord>, StoreError> {
    let rec: Stored = serde_json::from_str(raw).map_err(|_| corrupt("a session record"))?;
    if rec.d != digest {
        return Ok(None);
    }
    let ended = match end_reason(rec.x.as_deref().unwrap_or_default())? {
        Some(reason) => Some(Ended {
            reason,
            at_ms: num(rec.a.as_deref().unwrap_or_default())?,
        }),
        None => None,
    };
    let record = SessionRecord {
        info: SessionInfo {
            session_id: id,
            user_id: Arc::from(rec.u),
            device: Arc::from(rec.v),
            issued_at_ms: num(&rec.i)?,
            expires_at_ms: num(&rec.e)?,
        },
        idle_deadline_ms: rec.l.as_deref().map(num).transpose()?,
        ended,
        ban_until_ms: None,
    };
    Ok((record.purge_at(num(&rec.r)?) > now_ms).then_some(record))
}

/// JWT mode's state as stored (see `scripts.rs`): bumps are `[reason, at, until]`.
#[derive(serde::Deserialize)]
struct WireState {
    #[serde(default)]
    ep: String,
    g: u64,
    #[serde(default)]
    gb: std::collections::BTreeMap<String, (String, String, String)>,
    #[serde(default)]
    d: std::collections::BTreeMap<String, WireDevice>,
    #[serde(default)]
    bl: std::collections::BTreeMap<String, (String, String, String)>,
    mx: String,
}

#[derive(serde::Deserialize)]
struct WireDevice {
    g: u64,
    #[serde(default)]
    b: std::collections::BTreeMap<String, (String, String, String)>,
}

fn bump((reason, at, until): &(String, String, String)) -> Result<Bump, StoreError> {
    Ok(Bump {
        reason: end_reason(reason)?.ok_or_else(|| corrupt("a bump"))?,
        at_ms: num(at)?,
        until_ms: num(until)?,
    })
}

fn bumps(
    wire: &std::collections::BTreeMap<String, (String, String, String)>,
) -> Result<std::collections::BTreeMap<u64, Bump>, StoreError> {
    wire.iter().map(|(g, b)| Ok((num(g)?, bump(b)?))).collect()
}

/// The validation part of a stored JWT state (the index is not read).
fn jwt_state(raw: &str) -> Result<JwtState, StoreError> {
    let wire: WireState = serde_json::from_str(raw).map_err(|_| corrupt("a JWT state"))?;
    Ok(JwtState {
        epoch: if wire.ep.is_empty() {
            0
        } else {
            num(&wire.ep)?
        },
        generation: wire.g,
        bumps: bumps(&wire.gb)?,
        devices: wire
            .d
            .iter()
            .map(|(name, d)| {
                Ok((
                    name.clone(),
                    DeviceGen {
                        generation: d.g,
                        bumps: bumps(&d.b)?,
                    },
                ))
            })
            .collect::<Result<_, StoreError>>()?,
        revoked: wire
            .bl
            .iter()
            .map(|(j, b)| Ok((j.clone(), bump(b)?)))
            .collect::<Result<_, StoreError>>()?,
        max_exp_ms: num(&wire.mx)?,
        index: Default::default(),
    })
}

/// JWT session infos from a script's flat `{jti, device, iat, exp, ...}`.
fn jwt_infos(user_id: &str, tag: u16, flat: &[String]) -> Result<Vec<SessionInfo>, StoreError> {
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

/// A JWT check in flight.
pub type RedisJwtCheck = Pin<Box<dyn Future<Output = Result<JwtStatus, StoreError>> + Send>>;

/// A lookup in flight: it owns a connection handle and its arguments.
pub type RedisLookup =
    Pin<Box<dyn Future<Output = Result<Option<SessionRecord>, StoreError>> + Send>>;

impl Store for RedisStore {
    type Lookup = RedisLookup;

    fn lookup(&self, key: &SessionKey, touch: Option<Touch>, now_ms: u64) -> Self::Lookup {
        let store = self.clone();
        let key = *key;
        Box::pin(async move { store.lookup_now(&key, touch, now_ms).await })
    }

    async fn create(
        &self,
        session: NewSession,
        rule: LoginRule,
        now_ms: u64,
    ) -> Result<Created, StoreError> {
        let info = &session.info;
        let (base, ukey) = self.user_key(&info.user_id);
        let (max, per_device) = match rule.limit() {
            Limit::Unlimited => (0, 0),
            Limit::PerDevice(n) => (n, 1),
            Limit::PerUser(n) => (n, 0),
        };
        let mut call = self.shared.scripts.create.key(ukey);
        call.arg(base)
            .arg(info.session_id.to_string())
            .arg(hex(session.key.digest()))
            .arg(&*info.user_id)
            .arg(&*info.device)
            .arg(info.issued_at_ms)
            .arg(info.expires_at_ms)
            .arg(
                session
                    .idle_deadline_ms
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            )
            .arg(session.retain_ms)
            .arg(now_ms)
            .arg(max)
            .arg(per_device)
            .arg(u8::from(rule.overflow() == Overflow::RefuseNew))
            .arg(&self.shared.channel);
        let reply: Vec<String> = self.run(call).await?;
        match reply.split_first() {
            Some((status, rest)) if status == "ok" => Ok(Created::Created {
                replaced: infos(rest)?,
            }),
            Some((status, [until])) if status == "banned" => Ok(Created::Banned {
                until_ms: num(until)?,
            }),
            Some((status, [])) if status == "limit" => Ok(Created::LimitReached),
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
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let reply: Vec<String> = match target {
            Target::User { user_id, device } => {
                let (base, ukey) = self.user_key(user_id);
                let mut call = self.shared.scripts.end.key(ukey);
                call.arg(base)
                    .arg("u")
                    .arg(end_code(reason))
                    .arg(now_ms)
                    .arg(device.unwrap_or_default())
                    .arg("")
                    .arg(&self.shared.channel);
                self.run(call).await?
            }
            Target::Token(key) => {
                self.end_session(key.session_id(), Some(key), reason, now_ms)
                    .await?
            }
            Target::Session(id) => self.end_session(id, None, reason, now_ms).await?,
        };
        infos(&reply)
    }

    async fn ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let base = self.base(user_tag(user_id));
        let mut call = self.shared.scripts.ban.key(format!("{base}b:{user_id}"));
        call.arg(base)
            .arg(user_id)
            .arg(until_ms)
            .arg(now_ms)
            .arg(&self.shared.channel);
        let reply: Vec<String> = self.run(call).await?;
        infos(&reply)
    }

    async fn unban(&self, user_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let base = self.base(user_tag(user_id));
        let mut call = self.shared.scripts.unban.key(format!("{base}b:{user_id}"));
        call.arg(now_ms);
        let lifted: u8 = self.run(call).await?;
        Ok(lifted == 1)
    }

    async fn banned_until(&self, user_id: &str, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let base = self.base(user_tag(user_id));
        let until = self.get(&format!("{base}b:{user_id}")).await?;
        Ok(until.map(|u| num(&u)).transpose()?.filter(|&u| u > now_ms))
    }

    async fn sessions(&self, user_id: &str, now_ms: u64) -> Result<Vec<SessionInfo>, StoreError> {
        let (base, ukey) = self.user_key(user_id);
        let mut call = self.shared.scripts.sessions.key(ukey);
        call.arg(base).arg(now_ms);
        let reply: Vec<String> = self.run(call).await?;
        infos(&reply)
    }

    fn revocations(&self) -> Option<broadcast::Receiver<Revoked>> {
        Some(self.shared.feed.subscribe())
    }

    type JwtCheck = RedisJwtCheck;

    fn jwt_check(&self, user_id: &str, token: JwtToken<'_>, now_ms: u64) -> Self::JwtCheck {
        let store = self.clone();
        let base = self.base(token.tag);
        let skey = format!("{base}j:{user_id}");
        let bkey = format!("{base}b:{user_id}");
        let (jti, device) = (token.jti.to_owned(), token.device.to_owned());
        let (user_gen, device_gen, epoch) = (token.user_gen, token.device_gen, token.epoch);
        Box::pin(async move {
            let Some(raw) = store.get(&skey).await? else {
                return Ok(JwtStatus::default());
            };
            let state = jwt_state(&raw)?;
            let token = JwtToken {
                epoch,
                tag: 0,
                jti: &jti,
                device: &device,
                user_gen,
                device_gen,
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
            Ok(JwtStatus {
                known: true,
                ended,
                ban_until_ms,
            })
        })
    }

    async fn jwt_issue(
        &self,
        user_id: &str,
        jti: &str,
        entry: JwtEntry,
        rule: LoginRule,
        fresh_epoch: u64,
        now_ms: u64,
    ) -> Result<JwtIssued, StoreError> {
        let tag = user_tag(user_id);
        let base = self.base(tag);
        let (max, per_device) = match rule.limit() {
            Limit::Unlimited => (0, 0),
            Limit::PerDevice(n) => (n, 1),
            Limit::PerUser(n) => (n, 0),
        };
        let mut call = self
            .shared
            .scripts
            .jwt_issue
            .key(format!("{base}j:{user_id}"));
        call.arg(&base)
            .arg(user_id)
            .arg(jti)
            .arg(&*entry.device)
            .arg(entry.issued_at_ms)
            .arg(entry.expires_at_ms)
            .arg(now_ms)
            .arg(max)
            .arg(per_device)
            .arg(u8::from(rule.overflow() == Overflow::RefuseNew))
            .arg(fresh_epoch.to_string())
            .arg(&self.shared.channel);
        let reply: Vec<String> = self.run(call).await?;
        match reply.split_first() {
            Some((status, [epoch, user_gen, device_gen, rest @ ..])) if status == "ok" => {
                let replaced = jwt_infos(user_id, tag, rest)?
                    .into_iter()
                    .map(|info| {
                        let entry = JwtEntry {
                            device: info.device,
                            issued_at_ms: info.issued_at_ms,
                            expires_at_ms: info.expires_at_ms,
                            seq: 0,
                        };
                        (info.session_id.jti(), entry)
                    })
                    .collect();
                Ok(JwtIssued::Issued {
                    epoch: num(epoch)?,
                    user_gen: num(user_gen)?,
                    device_gen: num(device_gen)?,
                    replaced,
                })
            }
            Some((status, [until])) if status == "banned" => Ok(JwtIssued::Banned {
                until_ms: num(until)?,
            }),
            Some((status, [])) if status == "limit" => Ok(JwtIssued::LimitReached),
            _ => Err(corrupt("a JWT login reply")),
        }
    }

    async fn jwt_end(
        &self,
        user_id: &str,
        target: JwtTarget<'_>,
        reason: EndReason,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let (tag, key, mode, what) = match target {
            JwtTarget::User => {
                let tag = user_tag(user_id);
                (
                    tag,
                    format!("{}j:{user_id}", self.base(tag)),
                    "u",
                    String::new(),
                )
            }
            JwtTarget::Device(device) => {
                let tag = user_tag(user_id);
                (
                    tag,
                    format!("{}j:{user_id}", self.base(tag)),
                    "d",
                    device.to_owned(),
                )
            }
            JwtTarget::Session(id) => {
                let jti = id.jti();
                (
                    id.tag(),
                    format!("{}jt:{jti}", self.base(id.tag())),
                    "t",
                    jti,
                )
            }
        };
        let mut call = self.shared.scripts.jwt_end.key(key);
        call.arg(self.base(tag))
            .arg(mode)
            .arg(end_code(reason))
            .arg(now_ms)
            .arg(what)
            .arg(user_id)
            .arg(&self.shared.channel);
        let reply: Vec<String> = self.run(call).await?;
        match reply.split_first() {
            Some((user, rest)) => jwt_infos(user, tag, rest),
            None => Ok(Vec::new()),
        }
    }

    async fn jwt_ban(
        &self,
        user_id: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let tag = user_tag(user_id);
        let base = self.base(tag);
        let mut call = self
            .shared
            .scripts
            .jwt_ban
            .key(format!("{base}b:{user_id}"));
        call.arg(&base)
            .arg(user_id)
            .arg(until_ms)
            .arg(now_ms)
            .arg(&self.shared.channel);
        let reply: Vec<String> = self.run(call).await?;
        jwt_infos(user_id, tag, &reply)
    }

    async fn jwt_sessions(
        &self,
        user_id: &str,
        now_ms: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let tag = user_tag(user_id);
        let base = self.base(tag);
        let mut call = self
            .shared
            .scripts
            .jwt_sessions
            .key(format!("{base}ji:{user_id}"));
        call.arg(now_ms);
        let reply: Vec<String> = self.run(call).await?;
        jwt_infos(user_id, tag, &reply)
    }

    async fn renew(
        &self,
        key: &SessionKey,
        expires_at_ms: u64,
        idle_deadline_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let id = key.session_id();
        let (base, skey) = self.session_key(id);
        let mut call = self.shared.scripts.renew.key(skey);
        call.arg(base)
            .arg(hex(key.digest()))
            .arg(expires_at_ms)
            .arg(idle_deadline_ms.map(|d| d.to_string()).unwrap_or_default())
            .arg(now_ms);
        let reply: Option<Vec<String>> = self.run(call).await?;
        reply
            .map(|r| match r.as_slice() {
                [user, device, issued] => Ok(SessionInfo {
                    session_id: id,
                    user_id: Arc::from(user.as_str()),
                    device: Arc::from(device.as_str()),
                    issued_at_ms: num(issued)?,
                    expires_at_ms,
                }),
                _ => Err(corrupt("a renew reply")),
            })
            .transpose()
    }
}

impl RedisStore {
    async fn lookup_now(
        &self,
        key: &SessionKey,
        touch: Option<Touch>,
        now_ms: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let id = key.session_id();
        let (base, skey) = self.session_key(id);
        let Some(raw) = self.get(&skey).await? else {
            return Ok(None);
        };
        let digest = hex(key.digest());
        let Some(mut record) = record(id, &digest, &raw, now_ms)? else {
            return Ok(None);
        };
        if record.ended.is_some_and(|e| e.reason == EndReason::Banned) {
            let ban = self
                .get(&format!("{base}b:{}", record.info.user_id))
                .await?;
            record.ban_until_ms = ban.map(|b| num(&b)).transpose()?.filter(|&b| b > now_ms);
        }
        if let (Some(touch), Some(idle)) = (touch, record.idle_deadline_ms) {
            let deadline = touch.deadline_ms.min(record.info.expires_at_ms);
            if record.is_live(now_ms) && deadline >= idle.saturating_add(touch.min_step_ms) {
                let mut call = self.shared.scripts.touch.key(skey);
                call.arg(digest)
                    .arg(now_ms)
                    .arg(deadline)
                    .arg(touch.min_step_ms);
                let _moved: u8 = self.run(call).await?;
            }
        }
        Ok(Some(record))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        tokio::time::timeout(self.shared.timeout, cmd.query_async(&mut conn))
            .await
            .map_err(|_| StoreError::Unavailable("redis did not answer in time".into()))?
            .map_err(unavailable)
    }

    async fn end_session(
        &self,
        id: SessionId,
        key: Option<&SessionKey>,
        reason: EndReason,
        now_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let (base, skey) = self.session_key(id);
        let mut call = self.shared.scripts.end.key(skey);
        call.arg(base)
            .arg("s")
            .arg(end_code(reason))
            .arg(now_ms)
            .arg(id.to_string())
            .arg(key.map(|k| hex(k.digest())).unwrap_or_default())
            .arg(&self.shared.channel);
        self.run(call).await
    }
}

/// A standalone or a Cluster connection, behind one `ConnectionLike`.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
