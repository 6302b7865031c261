//! The store's connection to Redis, replaced when a command gets no answer in time.
//!
//! A server gone silent (a failed-over host whose address drops packets: no reset)
//! leaves a connection that looks open, and neither client reconnects on a timeout: every
//! command would wait on it until the kernel gives up, many minutes on. So a command that
//! timed out has its connection looked at in the background: if it still answers a ping
//! within the timeout (a server merely slow) it stays; if not, a fresh connection is
//! opened, and takes its place once connected. Commands under way finish on the old one.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, Value};

use super::{misconfigured, tls, unavailable};
use crate::store::contract::StoreError;

/// How to open a connection: a Cluster's, or a lazy standalone one.
#[derive(Clone)]
pub(super) struct Dial {
    pub(super) urls: Vec<String>,
    pub(super) cluster: bool,
    pub(super) tls: tls::Given,
    pub(super) timeout: Duration,
}

impl Dial {
    /// A connection for `connect`: a standalone one connects on first use, so a store
    /// made while its server is down works once it is up.
    pub(super) async fn open(&self) -> Result<Conn, StoreError> {
        Ok(if self.is_cluster() {
            // One retry: the counter that follows MOVED and ASK also re-sends a command
            // whose connection dropped, so the write scripts know their own second run.
            let mut client = ClusterClient::builder(self.urls.clone())
                .connection_timeout(self.timeout)
                .response_timeout(self.timeout)
                .retries(1);
            if let Some(certificates) = tls::certificates(&self.tls) {
                client = client.certs(certificates);
            }
            let client = client.build().map_err(misconfigured)?;
            let wait = self.timeout.saturating_mul(5);
            let conn = tokio::time::timeout(wait, client.get_async_connection())
                .await
                .map_err(|_| StoreError::Unavailable("timed out connecting to the cluster".into()))?
                .map_err(unavailable)?;
            Conn::Cluster(conn)
        } else {
            let url = self.urls.first().map(String::as_str).unwrap_or_default();
            let client = tls::client(url, &self.tls).map_err(misconfigured)?;
            // No response timeout of the client's own: every command runs under the
            // store's (`Link::within`), which bounds a retry too. A second timer per
            // command cost each request a timer registration and about 5 % of a
            // loopback round trip.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(None)
                .set_number_of_retries(1)
                .set_max_delay(self.timeout);
            Conn::Single(
                ConnectionManager::new_lazy_with_config(client, config).map_err(misconfigured)?,
            )
        })
    }

    /// Several URLs, or asked for: a Cluster.
    fn is_cluster(&self) -> bool {
        self.cluster || self.urls.len() > 1
    }

    /// A replacement: connected before it is handed out, so its first command does not
    /// pay for the connection within its own timeout.
    async fn open_connected(&self) -> Result<Conn, StoreError> {
        let conn = self.open().await?;
        let (mut ping, cmd) = (conn.clone(), redis::cmd("PING"));
        let wait = self.timeout.saturating_mul(5);
        match tokio::time::timeout(wait, cmd.query_async::<()>(&mut ping)).await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(StoreError::Unavailable("timed out connecting".into())),
        }
    }

    /// Whether `conn` answers a ping within the timeout.
    async fn answers(&self, mut conn: Conn) -> bool {
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(self.timeout, ping.query_async::<()>(&mut conn));
        matches!(answer.await, Ok(Ok(())))
    }
}

/// A connection of the store, and how to replace it. Clones share it.
#[derive(Clone)]
pub(super) struct Link(Arc<Shared>);

struct Shared {
    current: RwLock<Current>,
    dial: Dial,
}

struct Current {
    conn: Conn,
    /// Counts replacements: a timeout has the connection it happened on looked at, once.
    generation: u64,
    /// The connection is being looked at (and perhaps replaced).
    replacing: bool,
}

impl Link {
    pub(super) fn new(conn: Conn, dial: Dial) -> Self {
        Link(Arc::new(Shared {
            current: RwLock::new(Current {
                conn,
                generation: 0,
                replacing: false,
            }),
            dial,
        }))
    }

    /// Read from how it dials: no lock, no clone of the connection.
    pub(super) fn is_cluster(&self) -> bool {
        self.0.dial.is_cluster()
    }

    /// The connection in use, for commands that must share one (a write and the `WAIT`
    /// that counts its replicas: `WAIT` sees only its own connection's writes).
    pub(super) fn pin(&self) -> Pinned<'_> {
        // Nothing can panic while the lock is held: a poisoned lock is still sound.
        let current = self
            .0
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Pinned {
            link: self,
            generation: current.generation,
            conn: current.conn.clone(),
        }
    }

    /// `attempt` on the connection in use, within `timeout` (see [`Pinned::within`]).
    pub(super) async fn within<T>(
        &self,
        timeout: Duration,
        attempt: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>,
    ) -> Result<redis::RedisResult<T>, StoreError> {
        self.pin().within(timeout, attempt).await
    }

    /// Looks at connection `generation` in the background, unless it was replaced or is
    /// being looked at already: kept if it answers, else replaced once a new one is up.
    fn timed_out(&self, generation: u64) {
        let conn = {
            let mut current = self
                .0
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if current.generation != generation || current.replacing {
                return;
            }
            current.replacing = true;
            current.conn.clone()
        };
        let (dial, link) = (self.0.dial.clone(), Arc::downgrade(&self.0));
        // However the task ends (its runtime may drop it, even before it first runs,
        // which drops what it owns), a later timeout may have the connection looked at
        // again.
        let done = Looked(link.clone());
        tokio::spawn(async move {
            let _done = done;
            if dial.answers(conn).await {
                return;
            }
            let opened = dial.open_connected().await;
            let Some(shared) = Weak::upgrade(&link) else {
                return;
            };
            match opened {
                Ok(conn) => {
                    let mut current = shared
                        .current
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    current.conn = conn;
                    current.generation = current.generation.wrapping_add(1);
                    tracing::debug!("a Redis connection that stopped answering was replaced");
                }
                Err(error) => tracing::debug!(%error, "could not replace a Redis connection"),
            }
        });
    }
}

/// Clears a link's `replacing` when the task looking at its connection ends.
struct Looked(Weak<Shared>);

impl Drop for Looked {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .replacing = false;
        }
    }
}

/// A link's connection at one moment, and where a timeout on it is reported.
pub(super) struct Pinned<'a> {
    link: &'a Link,
    generation: u64,
    conn: Conn,
}

impl Pinned<'_> {
    /// The connection itself.
    pub(super) fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// `attempt` on this connection, within `timeout`. If it gets no answer in time
    /// (the store's timer, or a client's own: a Cluster's), the connection is looked at.
    pub(super) async fn within<T>(
        &self,
        timeout: Duration,
        attempt: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>,
    ) -> Result<redis::RedisResult<T>, StoreError> {
        match tokio::time::timeout(timeout, attempt(self.conn.clone())).await {
            Ok(Err(e)) if e.is_timeout() => {
                self.link.timed_out(self.generation);
                Ok(Err(e))
            }
            Ok(reply) => Ok(reply),
            Err(_) => {
                self.link.timed_out(self.generation);
                Err(late())
            }
        }
    }
}

/// What a command that got no answer within its timeout fails with.
pub(super) fn late() -> StoreError {
    StoreError::Unavailable("redis did not answer in time".into())
}

/// A standalone or a Cluster connection, behind one `ConnectionLike`.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> redis::RedisFuture<'a, Value> {
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
    ) -> redis::RedisFuture<'a, Vec<Value>> {
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
