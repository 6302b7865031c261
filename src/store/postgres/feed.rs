//! The revocation feed on `LISTEN`/`NOTIFY`: writes `pg_notify` what they end inside
//! their transaction (so a message goes out on commit, never for a rolled-back end);
//! every instance listens on a connection of its own and forwards what it hears.
//!
//! When a connection ends or an attempt fails it sends [`Revoked::Lost`], and after each
//! (re)connection [`Revoked::Resync`]: what was notified while it was away is lost, so
//! near caches cache nothing meanwhile and watches re-check the store instead of
//! trusting silence; audit receivers get a gap marker for the same reason. A query every five
//! seconds finds a connection that died without closing. The message formats are
//! Redis's ([`crate::store::wire`]).

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

use super::tls::Tls;

use crate::store::audit::AuditEvent;
use crate::store::contract::Revoked;
use crate::store::feed::FeedSender;
use crate::store::wire::{self, parse_audit};

/// The listening connection's `application_name`.
pub(super) const APPLICATION_NAME: &str = "kickout-feed";

/// How often an idle listener checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);

/// Keeps a listening connection up on `[revoked, audit]`, forwarding what it hears;
/// `ready` hears when the first one listens.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: Tls,
    channels: [String; 2],
    (feed, audit): (FeedSender, broadcast::Sender<AuditEvent>),
    timeout: Duration,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut failures = 0u32;
    // Whether a connection went through before; the latest audit event's time.
    let (mut listened, mut last_at_ms) = (false, 0u64);
    loop {
        let error = match connect(&config, &tls, &channels, timeout).await {
            Ok((client, mut heard, driver)) => {
                if failures > 0 {
                    tracing::info!("revocation feed back");
                }
                // Before the first connection, only if the store was in use without it
                // (an attempt failed, or `connect` gave up waiting).
                let unwaited = ready.as_ref().is_some_and(|r| r.is_closed());
                if listened || failures > 0 || unwaited {
                    let _ = audit.send(AuditEvent::gap(None, last_at_ms));
                }
                (listened, failures) = (true, 0);
                feed.send(Revoked::Resync);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                // Pinged beside the reading, never instead of it: the answer comes after
                // the notifications before it, which may be more than the queue holds.
                let mut pings = std::pin::pin!(keepalive(&client, timeout));
                let error = loop {
                    tokio::select! {
                        error = &mut pings => break error,
                        note = heard.recv() => {
                            let Some((channel, payload)) = note else {
                                break "connection closed".to_owned();
                            };
                            if channel == channels[1] {
                                if let Some(event) = parse_audit(&payload) {
                                    last_at_ms = event.at_ms;
                                    let _ = audit.send(event);
                                }
                            } else {
                                feed.send(wire::heard(Some(&payload)));
                            }
                        }
                    }
                };
                driver.abort();
                error
            }
            Err(error) => error,
        };
        // Down until the next resync: caches stop trusting silence.
        feed.send(Revoked::Lost);
        failures = failures.saturating_add(1);
        if failures == 1 {
            tracing::warn!(%error, "revocation feed lost; listening again until it is back");
        } else {
            tracing::debug!(%error, "revocation feed: listening failed; retrying");
        }
        let backoff = Duration::from_millis(100u64 << failures.min(4));
        tokio::time::sleep(backoff).await;
    }
}

/// Queries `client` every [`KEEPALIVE`] until one fails or gets no answer within
/// `timeout` (a connection that died without closing): why.
async fn keepalive(client: &tokio_postgres::Client, timeout: Duration) -> String {
    let mut every = tokio::time::interval(KEEPALIVE);
    every.tick().await;
    loop {
        every.tick().await;
        match tokio::time::timeout(timeout, client.simple_query("")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return e.to_string(),
            Err(_) => return "keepalive timed out".to_owned(),
        }
    }
}

/// A connection of its own, listening on `channels`: the client, what it hears, and the
/// task that drives it.
async fn connect(
    config: &tokio_postgres::Config,
    tls: &Tls,
    channels: &[String; 2],
    timeout: Duration,
) -> Result<
    (
        tokio_postgres::Client,
        mpsc::Receiver<(String, String)>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let (tx, heard) = mpsc::channel(crate::store::follow::FEED_CAPACITY);
    let (client, driver) = match tls {
        Some(tls) => {
            let (client, connection) = within(timeout, config.connect(tls.clone())).await?;
            (client, drive(connection, tx))
        }
        None => {
            let (client, connection) = within(timeout, config.connect(NoTls)).await?;
            (client, drive(connection, tx))
        }
    };
    let listen = format!("LISTEN \"{}\"; LISTEN \"{}\"", channels[0], channels[1]);
    match tokio::time::timeout(timeout, client.batch_execute(&listen)).await {
        Ok(Ok(())) => Ok((client, heard, driver)),
        Ok(Err(e)) => {
            driver.abort();
            Err(e.to_string())
        }
        Err(_) => {
            driver.abort();
            Err("LISTEN timed out".to_owned())
        }
    }
}

/// Sends one audit message on `channel` within `timeout`: whether it went out.
pub(super) async fn notify(
    pool: deadpool_postgres::Pool,
    channel: String,
    timeout: Duration,
    message: String,
) -> bool {
    let send = async {
        let mut lent = super::Lent::new(pool.get().await.ok()?);
        let sent = lent
            .client()?
            .execute("SELECT pg_notify($1, $2)", &[&channel, &message])
            .await;
        // Answered, even with an error: the connection may serve another.
        lent.finished();
        sent.ok()
    };
    match tokio::time::timeout(timeout, send).await {
        Ok(Some(_)) => true,
        Ok(None) => {
            tracing::debug!("audit event not published");
            false
        }
        Err(_) => {
            tracing::debug!("audit event not published in time");
            false
        }
    }
}

/// A connection made within `timeout`.
async fn within<C>(
    timeout: Duration,
    connecting: impl Future<Output = Result<C, tokio_postgres::Error>>,
) -> Result<C, String> {
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| super::with_causes(&e))
}

/// Drives a listening connection, sending on what it hears until it closes or no one
/// takes its messages.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: mpsc::Sender<(String, String)>,
) -> tokio::task::JoinHandle<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let heard = (n.channel().to_owned(), n.payload().to_owned());
                if tx.send(heard).await.is_err() {
                    return;
                }
            }
        }
    })
}
