//! The store's connection to Redis, replaced when a command gets no answer in time.
//!
//! A server gone silent (a failed-over host whose address drops packets: no reset)
//! leaves a connection that looks open, and neither client reconnects on a timeout: every
//! command would wait on it until the kernel gives up, many minutes on. So a command that
//! timed out marks its connection stale, and a fresh one is opened in the background to
//! take its place; commands under way finish on the old one. A server merely slow costs a
//! reconnect per timeout at most.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, Value};

use super::{misconfigured, tls, unavailable};
use crate::store::StoreError;

/// How to open a connection: a Cluster's, or a lazy standalone one.
#[derive(Clone)]
pub(super) struct Dial {
    pub(super) urls: Vec<String>,
    pub(super) cluster: bool,
    pub(super) tls: tls::Given,
    pub(super) timeout: Duration,
}

impl Dial {
    pub(super) async fn open(&self) -> Result<Conn, StoreError> {
        Ok(if self.cluster || self.urls.len() > 1 {
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
    /// Counts replacements: a timeout replaces the connection it happened on, once.
    generation: u64,
    /// A replacement is being opened.
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

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.current().1, Conn::Cluster(_))
    }

    /// The connection in use, and its generation.
    fn current(&self) -> (u64, Conn) {
        // Nothing can panic while the lock is held: a poisoned lock is still sound.
        let current = self
            .0
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (current.generation, current.conn.clone())
    }

    /// `attempt` on the connection in use, within `timeout`. If it gets no answer in
    /// time, its connection is replaced.
    pub(super) async fn within<T>(
        &self,
        timeout: Duration,
        attempt: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>,
    ) -> Result<redis::RedisResult<T>, StoreError> {
        let (generation, conn) = self.current();
        match tokio::time::timeout(timeout, attempt(conn)).await {
            Ok(reply) => Ok(reply),
            Err(_) => {
                self.timed_out(generation);
                Err(StoreError::Unavailable(
                    "redis did not answer in time".into(),
                ))
            }
        }
    }

    /// Opens a replacement for connection `generation`, unless it was replaced or is
    /// being replaced already.
    fn timed_out(&self, generation: u64) {
        {
            let mut current = self
                .0
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if current.generation != generation || current.replacing {
                return;
            }
            current.replacing = true;
        }
        let (dial, link) = (self.0.dial.clone(), Arc::downgrade(&self.0));
        tokio::spawn(async move {
            let opened = dial.open().await;
            let Some(shared) = Weak::upgrade(&link) else {
                return;
            };
            let mut current = shared
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            current.replacing = false;
            match opened {
                Ok(conn) => {
                    current.conn = conn;
                    current.generation = current.generation.wrapping_add(1);
                    tracing::debug!("a Redis connection that timed out was replaced");
                }
                // The next timeout tries again.
                Err(error) => tracing::debug!(%error, "could not replace a Redis connection"),
            }
        });
    }
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
