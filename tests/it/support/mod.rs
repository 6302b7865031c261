//! Real Redis for tests: `redis-server` processes on free loopback ports, started by the
//! tests and stopped by pid when their guard drops.
//!
//! Without `redis-server` on the PATH the Redis tests skip with a notice, unless
//! `KICKOUT_REQUIRE_REDIS=1` (CI sets it), which turns a missing Redis into a failure.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kickout::store::RedisStore;

/// Whether Redis tests can run here; panics in CI when they cannot.
pub fn redis_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("KICKOUT_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
            panic!("redis-server is not installed but KICKOUT_REQUIRE_REDIS=1");
        }
        eprintln!(
            "NOTICE: redis-server not found; skipping Redis tests (./scripts/test installs it)"
        );
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Sends `signal` (`-STOP`, `-9`, …) to `target`: a pid, or `-pgid` for a process
/// group. Whether `kill` succeeded.
pub fn signal_to(target: &str, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, "--", target])
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port whose cluster bus port (10,000 above it) is free too: a Cluster
/// node binds both, and the bus port of an ephemeral pick can be any client's
/// ephemeral port.
pub fn free_cluster_port() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        if port <= u16::MAX - 10_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port with a free cluster bus port");
}

/// How often a server on a picked port is started again on a fresh pick: another
/// process may bind a picked port before the server does.
const START_ATTEMPTS: usize = 5;

/// A server started by `start` on a port `pick` gives, picked again while `start`
/// reports that the server did not come up on it (`None`): a picked port is free
/// only until someone else binds it.
pub fn start_picking<T>(
    what: &str,
    pick: impl Fn() -> u16,
    mut start: impl FnMut(u16) -> Option<T>,
) -> T {
    for _ in 0..START_ATTEMPTS {
        if let Some(server) = start(pick()) {
            return server;
        }
    }
    panic!("{what} did not start on {START_ATTEMPTS} fresh ports");
}

/// One `redis-server` process, killed when dropped.
pub struct RedisProcess {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    /// What `redis-cli` needs to reach it (TLS: the flag and the CA).
    cli_args: Vec<String>,
}

impl RedisProcess {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_picking(free_port, extra)
    }

    /// A server on a port `pick` gives, picked again when the server could not bind it.
    fn start_picking(pick: impl Fn() -> u16, extra: &[&str]) -> Self {
        start_picking("redis-server", pick, |port| Self::try_start_on(port, extra))
    }

    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        Self::try_start_on(port, extra)
            .unwrap_or_else(|| panic!("redis-server on port {port} did not start"))
    }

    /// A server that speaks TLS only, with the certificate of `certs` (clients need show
    /// none unless `extra` says `--tls-auth-clients yes`).
    pub fn start_tls(certs: &tls::TestCerts, extra: &[&str]) -> Self {
        Self::start_tls_picking(free_port, certs, extra)
    }

    fn start_tls_picking(pick: impl Fn() -> u16, certs: &tls::TestCerts, extra: &[&str]) -> Self {
        let (cert, key, ca) = (
            certs.path("cert.pem"),
            certs.path("key.pem"),
            certs.path("ca.pem"),
        );
        start_picking("redis-server (TLS)", pick, |port| {
            let tls_port = port.to_string();
            let mut args = vec![
                "--port",
                "0",
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
            ];
            args.extend_from_slice(extra);
            let cli = [
                "--tls".to_owned(),
                "--cacert".to_owned(),
                ca.clone(),
                "--cert".to_owned(),
                certs.path("client.pem"),
                "--key".to_owned(),
                certs.path("client-key.pem"),
            ];
            Self::try_start(port, &args, cli.to_vec())
        })
    }

    /// A server on `port`; `None` if it exited or did not answer within ten seconds
    /// (dropping it stops it and removes its directory).
    fn try_start_on(port: u16, extra: &[&str]) -> Option<Self> {
        Self::try_start(port, extra, Vec::new())
    }

    fn try_start(port: u16, extra: &[&str], cli_args: Vec<String>) -> Option<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kickout-redis-{}-{}-{port}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut process = Self {
            port,
            child,
            dir,
            cli_args,
        };
        process.wait_ready().then_some(process)
    }

    pub fn url(&self) -> String {
        let scheme = if self.cli_args.is_empty() {
            "redis"
        } else {
            "rediss"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Whether the server answers within ten seconds; `false` at once if it exited (its
    /// port was taken).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if self.pings() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the port answers `PING` with `PONG` within half a second (whoever else
    /// took the port may never answer).
    fn pings(&self) -> bool {
        use std::io::{Read, Write};
        if !self.cli_args.is_empty() {
            // TLS: through redis-cli, bounded as it does not bound itself.
            return Command::new("timeout")
                .args([
                    "2",
                    "redis-cli",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                ])
                .args(&self.cli_args)
                .arg("ping")
                .output()
                .is_ok_and(|out| out.stdout.starts_with(b"PONG"));
        }
        let timeout = Duration::from_millis(500);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.set_read_timeout(Some(timeout)).is_ok()
            && stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Runs `redis-cli` against this server; its stdout, if it ran.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_args)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Freezes the server (`SIGSTOP`): its connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        assert!(
            signal_to(&self.child.id().to_string(), signal),
            "kill {signal}"
        );
    }

    /// Stops the server (by pid) as a crash would, keeping its port for a restart.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Cuts this replica off its primary, as a partition would (it follows an address
    /// nobody serves, keeping its data): it gets no more writes until `attach`.
    pub fn detach(&self) {
        self.cli(&["replicaof", "127.0.0.1", "1"])
            .expect("replicaof");
    }

    /// Makes this server a replica of `primary` again, and waits until it is in sync.
    pub fn attach(&self, primary: &RedisProcess) {
        let port = primary.port.to_string();
        self.cli(&["replicaof", "127.0.0.1", &port])
            .expect("replicaof");
        self.wait_in_sync(primary);
    }

    /// A replica of this server, started and in sync.
    pub fn replica(&self) -> RedisProcess {
        let replica = RedisProcess::start(&["--replicaof", "127.0.0.1", &self.port.to_string()]);
        replica.wait_in_sync(self);
        replica
    }

    /// Waits until this replica has everything `primary` wrote.
    pub fn wait_in_sync(&self, primary: &RedisProcess) {
        let field = |server: &RedisProcess, name: &str| {
            let info = server.cli(&["info", "replication"]).unwrap_or_default();
            info.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_default()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let linked = field(self, "master_link_status:") == "up";
            let offset = field(primary, "master_repl_offset:");
            if linked && !offset.is_empty() && field(self, "slave_repl_offset:") == offset {
                return;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many times each command ran, from `INFO commandstats`.
    pub fn command_calls(&self) -> std::collections::HashMap<String, u64> {
        let info = self.cli(&["info", "commandstats"]).unwrap_or_default();
        info.lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh standalone server and a store on it, or `None` to skip.
pub async fn standalone() -> Option<(RedisProcess, RedisStore)> {
    if !redis_available() {
        return None;
    }
    let server = RedisProcess::start(&[]);
    let store = RedisStore::connect(&server.url()).await.expect("connect");
    Some((server, store))
}

/// The settings of a Cluster node.
const CLUSTER_NODE: &[&str] = &[
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
];

/// A three-node Redis Cluster (masters only), created with `redis-cli --cluster create`.
pub struct Cluster {
    pub nodes: Vec<RedisProcess>,
}

impl Cluster {
    pub fn start() -> Option<Self> {
        // Each port picked just before its node starts, so no two picks collide.
        Self::start_with(|_| RedisProcess::start_picking(free_cluster_port, CLUSTER_NODE))
    }

    /// The same on three given ports.
    pub fn start_on(ports: [u16; 3]) -> Option<Self> {
        Self::start_with(|i| RedisProcess::start_on(ports[i], CLUSTER_NODE))
    }

    /// The same speaking TLS only (clients, bus, replication), with the certificate of
    /// `certs`: it must name 127.0.0.1, the address the nodes announce. `extra` goes to
    /// every node.
    pub fn start_tls(certs: &tls::TestCerts, extra: &[&str]) -> Option<Self> {
        let mut node: Vec<&str> = CLUSTER_NODE.to_vec();
        node.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
        node.extend_from_slice(extra);
        Self::start_with(|_| RedisProcess::start_tls_picking(free_cluster_port, certs, &node))
    }

    /// Three primaries with a replica each (which node is which, `redis-cli` picks:
    /// see [`Cluster::replicas`]).
    pub fn start_with_replicas() -> Option<Self> {
        Self::start_sized(6, |_| {
            RedisProcess::start_picking(free_cluster_port, CLUSTER_NODE)
        })
    }

    /// The nodes that are replicas.
    pub fn replicas(&self) -> Vec<&RedisProcess> {
        self.nodes
            .iter()
            .filter(|n| {
                n.cli(&["info", "replication"])
                    .is_some_and(|i| i.contains("role:slave"))
            })
            .collect()
    }

    fn start_with(node: impl Fn(usize) -> RedisProcess) -> Option<Self> {
        Self::start_sized(3, node)
    }

    fn start_sized(count: usize, node: impl Fn(usize) -> RedisProcess) -> Option<Self> {
        if !redis_available() {
            return None;
        }
        let nodes: Vec<RedisProcess> = (0..count).map(node).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(&nodes[0].cli_args)
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", if count > 3 { "1" } else { "0" }])
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(status.success(), "cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        // Every node sees the cluster whole, and every replica is in sync.
        while !nodes.iter().all(|n| {
            n.cli(&["cluster", "info"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
                && n.cli(&["info", "replication"]).is_some_and(|i| {
                    !i.contains("role:slave") || i.contains("master_link_status:up")
                })
        }) {
            assert!(Instant::now() < deadline, "cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { nodes })
    }

    /// The demos' `REDIS_URL` form: comma-separated node URLs.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(RedisProcess::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A store on the cluster under a prefix no other case uses.
    pub async fn store(&self) -> RedisStore {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        RedisStore::builder(&self.urls())
            .prefix(format!("case{}:", SEQ.fetch_add(1, Ordering::Relaxed)))
            .connect()
            .await
            .expect("connect to cluster")
    }
}

/// A TCP proxy on loopback to `upstream` that holds every reply for the delay it is set
/// to (none at first): a slow network. It can also go silent on the connections it has
/// (no reset, as a failed-over host's address does) while it serves new ones, or send
/// a request twice, as a client that re-sends it does. Stops when dropped.
pub struct SlowProxy {
    pub port: u16,
    delay_ms: std::sync::Arc<AtomicU64>,
    /// Connections numbered below this forward nothing any more.
    silent_below: std::sync::Arc<AtomicU64>,
    accepted: std::sync::Arc<AtomicU64>,
    doubling: Doubling,
    task: tokio::task::JoinHandle<()>,
}

/// Which request a proxy sends twice: the next that names the marker, until one whose
/// first answer says it wrote. The server runs it, the answer is dropped, then it runs
/// again and the client reads the second answer: a re-send after a lost reply. A
/// script's "declare these keys too" answer (`{{key, ...}}`: `*1` then `*`) and error
/// answers say it did not write.
#[derive(Clone, Default)]
struct Doubling {
    marker: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    doubled: std::sync::Arc<AtomicU64>,
}

impl Doubling {
    fn names_marker(&self, request: &[u8]) -> bool {
        let marker = self.marker.lock().unwrap();
        marker
            .as_deref()
            .is_some_and(|m| request.windows(m.len()).any(|w| w == m))
    }

    /// The dropped first answer: the doubling is done if it wrote.
    fn answered(&self, reply: &[u8]) {
        if reply.starts_with(b"*") && !reply.starts_with(b"*1\r\n*") {
            *self.marker.lock().unwrap() = None;
            self.doubled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl SlowProxy {
    pub async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = std::sync::Arc::new(AtomicU64::new(0));
        let silent_below = std::sync::Arc::new(AtomicU64::new(0));
        let accepted = std::sync::Arc::new(AtomicU64::new(0));
        let (delay, silent, count) = (delay_ms.clone(), silent_below.clone(), accepted.clone());
        let doubling = Doubling::default();
        let doubles = doubling.clone();
        let task = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut pairs = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let id = count.fetch_add(1, Ordering::SeqCst);
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let quiet = silent.clone();
                // A doubled request's first answer is dropped, then it goes again.
                let dropping = std::sync::Arc::new(std::sync::Mutex::new(None));
                let (marks, drop_next) = (doubles.clone(), dropping.clone());
                pairs.spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        if id < quiet.load(Ordering::SeqCst) {
                            std::future::pending::<()>().await;
                        }
                        let mut dropped = None;
                        if marks.names_marker(&buf[..n]) {
                            let (tell, told) = tokio::sync::oneshot::channel();
                            *drop_next.lock().unwrap() = Some(tell);
                            dropped = Some(told);
                        }
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        if let Some(told) = dropped
                            && (told.await.is_err()
                                || to_server.write_all(&buf[..n]).await.is_err())
                        {
                            break;
                        }
                    }
                });
                // Latency, not a queue: each chunk leaves `delay` after it came, so the
                // pieces of one reply (and replies sent together) leave together.
                let (held, mut due) = tokio::sync::mpsc::unbounded_channel();
                let (delay, quiet, doubles) = (delay.clone(), silent.clone(), doubles.clone());
                pairs.spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        let read = from_server.read(&mut buf).await;
                        // Silent: not even the server's close comes through.
                        if id < quiet.load(Ordering::SeqCst) {
                            std::future::pending::<()>().await;
                        }
                        let Ok(n @ 1..) = read else { break };
                        let tell = dropping.lock().unwrap().take();
                        if let Some(tell) = tell {
                            doubles.answered(&buf[..n]);
                            let _ = tell.send(());
                            continue;
                        }
                        let ms = delay.load(Ordering::Relaxed);
                        let at = tokio::time::Instant::now() + Duration::from_millis(ms);
                        if held.send((at, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                let quiet = silent.clone();
                pairs.spawn(async move {
                    while let Some((at, chunk)) = due.recv().await {
                        tokio::time::sleep_until(at).await;
                        if id < quiet.load(Ordering::SeqCst) {
                            std::future::pending::<()>().await;
                        }
                        if to_client.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            port,
            delay_ms,
            silent_below,
            accepted,
            doubling,
            task,
        }
    }

    /// Sends the next request that names `marker` twice, until one of them wrote (see
    /// `Doubling`).
    pub fn double_next_write(&self, marker: &str) {
        *self.doubling.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    /// Sends every request once.
    pub fn double_none(&self) {
        *self.doubling.marker.lock().unwrap() = None;
    }

    /// How many writes it has sent twice.
    pub fn doubled(&self) -> u64 {
        self.doubling.doubled.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Holds each reply from now on for `delay`.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap();
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// The connections it has forward nothing from now on, and are never closed; new
    /// ones are served.
    pub fn silence_existing(&self) {
        let accepted = self.accepted.load(Ordering::SeqCst);
        self.silent_below.store(accepted, Ordering::SeqCst);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        // The connections' tasks end with the set that holds them.
        self.task.abort();
    }
}

/// What `tracing` prints at warn and above while `f` runs on this thread (a one-thread
/// runtime: the store's tasks included), without colours.
pub async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    let bytes = capture.0.lock().unwrap().clone();
    (out, String::from_utf8(bytes).unwrap())
}

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod tls;

#[cfg(test)]
mod tests {
    // Paths, no imports: the benches include this file and drop the tests.

    /// A port picker that gives `taken` first and free ports after, counting its picks.
    pub(super) fn taken_first(taken: u16, picks: &std::cell::Cell<u32>) -> impl Fn() -> u16 + '_ {
        move || {
            picks.set(picks.get() + 1);
            if picks.get() == 1 {
                taken
            } else {
                super::free_port()
            }
        }
    }

    #[test]
    fn a_server_whose_picked_port_is_taken_starts_on_the_next_pick() {
        if !super::redis_available() {
            return;
        }
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let picks = std::cell::Cell::new(0);
        let server = super::RedisProcess::start_picking(taken_first(taken_port, &picks), &[]);
        assert_eq!(picks.get(), 2);
        assert_ne!(server.port, taken_port);
        assert!(
            server
                .cli(&["ping"])
                .is_some_and(|out| out.trim() == "PONG")
        );
    }

    #[test]
    fn a_cluster_port_has_its_bus_port_free() {
        let port = super::free_cluster_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok());
    }
}
