//! Real PostgreSQL for tests: `initdb` into a temporary directory and `postgres` on a
//! free loopback port, started by the tests and stopped by pid.
//!
//! Most tests share one server per test binary (a fresh schema each: `initdb` takes
//! seconds); a watchdog shell stops it by pid when the test binary exits. The tests that
//! kill a server start their own. Without Debian's `postgresql` the tests skip with a
//! notice, unless `KICKOUT_REQUIRE_POSTGRES=1` (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kickout::store::PostgresStore;

use super::free_port;

pub const PASSWORD: &str = "kickout-test-secret";

/// A file's path as a URL's query value: percent-encoded, so a temporary directory
/// holding `&`, `%`, `#` or a space is still one value.
pub fn in_url(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A file's path as a quoted value of a libpq `key=value` string.
pub fn quoted(path: &str) -> String {
    format!("'{}'", path.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Where Debian keeps the server's binaries (they are not on the PATH).
fn bin(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .collect::<Vec<_>>()
    });
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|v| v.path().join("bin").join(name));
    let mut found: Vec<PathBuf> = debian.chain(on_path).filter(|p| p.exists()).collect();
    // The newest installed major version first.
    found.sort();
    found.pop()
}

/// Whether PostgreSQL tests can run here; panics in CI when they cannot.
pub fn available() -> bool {
    let found = ["initdb", "postgres", "pg_isready"]
        .iter()
        .all(|b| bin(b).is_some());
    if !found {
        if std::env::var("KICKOUT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL is not installed but KICKOUT_REQUIRE_POSTGRES=1");
        }
        eprintln!("NOTICE: PostgreSQL not found; skipping its tests (./scripts/test installs it)");
    }
    found
}

/// `initdb` refuses root: as root, the server runs as Debian's `postgres` user.
fn run_as() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

fn command(name: &str, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(bin(name).expect("checked by available()"));
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// One PostgreSQL server in its own data directory, stopped (and the directory
/// removed) when dropped.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    user: Option<(u32, u32)>,
    watchdog: Option<Child>,
    /// Settings of its own (`name=value`), on every start.
    settings: Vec<String>,
}

impl PgServer {
    /// `initdb` (password login for user `kickout`) and a started server.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// The same, with settings of its own (`name=value`).
    pub fn start_with(settings: &[&str]) -> Self {
        Self::start_picking(free_port, settings)
    }

    /// A server on a port `pick` gives, picked again when the server could not bind it.
    fn start_picking(pick: impl Fn() -> u16, settings: &[&str]) -> Self {
        let mut server = Self::init(settings);
        server.run_picking(pick);
        server
    }

    fn run_picking(&mut self, pick: impl Fn() -> u16) {
        super::start_picking("postgres", pick, |port| {
            self.port = port;
            self.run().then_some(())
        });
    }

    /// A server that offers TLS (and still takes connections without it) with this
    /// certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_tls_with(cert_pem, key_pem, None)
    }

    /// The same; with `client_ca`, a TLS connection logs in by a client certificate
    /// that CA signed for the user (the `cert` method), and one without TLS by password.
    pub fn start_tls_with(cert_pem: &str, key_pem: &str, client_ca: Option<&str>) -> Self {
        let mut server = Self::init(&[]);
        if let Some(ca_pem) = client_ca {
            let (ca, hba) = (
                server.dir.join("client-ca.crt"),
                server.dir.join("hba.conf"),
            );
            std::fs::write(&ca, ca_pem).expect("write the client CA");
            let rules = "local all all trust\n\
                         hostssl all all 127.0.0.1/32 cert\n\
                         host all all 127.0.0.1/32 scram-sha-256\n";
            std::fs::write(&hba, rules).expect("write the hba file");
            if let Some((uid, gid)) = server.user {
                for file in [&ca, &hba] {
                    std::os::unix::fs::chown(file, Some(uid), Some(gid)).expect("chown");
                }
            }
            server.settings.extend([
                format!("ssl_ca_file={}", ca.display()),
                format!("hba_file={}", hba.display()),
            ]);
        }
        let (cert, key) = (server.dir.join("server.crt"), server.dir.join("server.key"));
        std::fs::write(&cert, cert_pem).expect("write the certificate");
        std::fs::write(&key, key_pem).expect("write the key");
        // The server reads its key only if no one else may.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if let Some((uid, gid)) = server.user {
            for file in [&cert, &key] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid)).expect("chown");
            }
        }
        server.settings.extend([
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
        ]);
        server.run_picking(free_port);
        server
    }

    /// The same on `port`.
    pub fn start_on(port: u16, settings: &[&str]) -> Self {
        let mut server = Self::init(settings);
        server.port = port;
        server.restart();
        server
    }

    /// A server directory after `initdb`, not started (`initdb` takes seconds: a server
    /// started again on another port keeps it).
    fn init(settings: &[&str]) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kickout-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let user = run_as();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("the password file");
        if let Some((uid, gid)) = user {
            let owner = format!("{uid}:{gid}");
            let status = Command::new("chown")
                .args(["-R", &owner])
                .arg(&dir)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown the data directory"
            );
        }
        let data = dir.join("data");
        let out = command("initdb", user)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "kickout",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            port: 0,
            dir,
            user,
            watchdog: None,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server on its directory and port (again, after [`Self::kill9`]), and
    /// waits until it takes connections.
    pub fn restart(&mut self) {
        assert!(
            self.run(),
            "postgres did not start on port {}: {}",
            self.port,
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Starts the server on its directory and port, and waits until it takes
    /// connections; `false` if it stopped first (another process had its port).
    fn run(&mut self) -> bool {
        let postgres = bin("postgres").expect("checked by available()");
        // The server's command line, run by the watchdog as its arguments ("$@"): paths
        // are never pasted into the script, so any temporary directory works.
        let mut server: Vec<String> = Vec::new();
        if let Some((uid, gid)) = self.user {
            server.extend([
                "setpriv".to_owned(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".to_owned(),
            ]);
        }
        server.push(postgres.display().to_string());
        server.extend(["-D".to_owned(), self.data().display().to_string()]);
        server.extend(["-p".to_owned(), self.port.to_string()]);
        server.extend(["-k".to_owned(), self.dir.display().to_string()]);
        for setting in [
            "listen_addresses=127.0.0.1",
            "max_connections=300",
            "shared_buffers=32MB",
        ]
        .into_iter()
        .chain(self.settings.iter().map(String::as_str))
        {
            server.extend(["-c".to_owned(), setting.to_owned()]);
        }
        // The watchdog stops the server (SIGINT: fast shutdown) and removes its directory
        // when this test binary exits, however it exits; when the server dies it goes
        // too.
        let script = "log=$1; dir=$2; parent=$3; shift 3; \
             \"$@\" >\"$log\" 2>&1 & pg=$!; \
             while kill -0 \"$parent\" 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
             kill -INT $pg 2>/dev/null; wait $pg; kill -0 \"$parent\" 2>/dev/null || rm -rf \"$dir\"";
        let child = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(self.dir.join("log"))
            .arg(&self.dir)
            .arg(std::process::id().to_string())
            .args(&server)
            .stdin(Stdio::null())
            .spawn()
            .expect("sh starts");
        self.watchdog = Some(child);
        let start = Instant::now();
        loop {
            if self.ready() {
                return true;
            }
            // The watchdog ends when the server does.
            let stopped = |w: &mut Child| !matches!(w.try_wait(), Ok(None));
            if self.watchdog.as_mut().is_some_and(stopped) {
                return false;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "postgres did not start: {}",
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether this server takes connections, not whoever else may listen on its port:
    /// its own pid file says it is ready on its port, with a live postmaster (the file
    /// of a killed one stays behind), and the port answers.
    fn ready(&self) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(self.data().join("postmaster.pid")) else {
            return false;
        };
        // Lines: pid, data directory, start time, port, socket directory, listen
        // address, shared memory key, status.
        let lines: Vec<&str> = pid_file.lines().map(str::trim).collect();
        let port = self.port.to_string();
        let ours = lines.len() >= 8
            && lines[3] == port
            && lines[7] == "ready"
            && super::signal_to(lines[0], "-0");
        ours && Command::new(bin("pg_isready").expect("checked"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The postmaster's pid, from its pid file.
    fn pid(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next().map(str::to_owned)
    }

    /// `kill -9` of the server (the watchdog goes with it): no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid() {
            super::signal_to(&pid, "-9");
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
        // Its backends notice the postmaster is gone and exit; the next start waits
        // for them.
        std::thread::sleep(Duration::from_millis(300));
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://kickout:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            super::signal_to(&pid, "-INT");
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server this test binary shares (started on first use), or `None` to skip.
pub fn shared() -> Option<&'static Mutex<PgServer>> {
    static SERVER: OnceLock<Option<Mutex<PgServer>>> = OnceLock::new();
    SERVER
        .get_or_init(|| available().then(|| Mutex::new(PgServer::start())))
        .as_ref()
}

/// The shared server's URL, or `None` to skip.
pub fn shared_url() -> Option<String> {
    let server = shared()?;
    Some(server.lock().unwrap_or_else(|e| e.into_inner()).url())
}

/// A fresh schema name: every store of the tests starts empty.
pub fn fresh_schema() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL of a fresh database on the shared server, or `None` to skip: for code that
/// connects with a URL alone (the store's default schema), as an application does.
pub async fn fresh_database() -> Option<String> {
    let url = shared_url()?;
    let name = fresh_schema();
    let admin = client(&url).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    Some(format!("{}/{name}", url.trim_end_matches("/postgres")))
}

/// A store in a fresh schema of the shared server, or `None` to skip.
pub async fn store() -> Option<((), PostgresStore)> {
    let url = shared_url()?;
    let store = PostgresStore::builder(&url)
        .schema(&fresh_schema())
        .pool_size(4)
        .connect()
        .await
        .expect("connect");
    Some(((), store))
}

/// A plain client on `url`, for what a test checks with SQL of its own.
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// A store on `url` in `schema`.
pub async fn store_on(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder(url)
        .schema(schema)
        .pool_size(4)
        .connect()
        .await
        .expect("connect")
}

/// Two instances of one application: two stores (two pools, two listeners) on one
/// schema of the shared server, or `None` to skip.
pub async fn two_stores() -> Option<(PostgresStore, PostgresStore)> {
    let url = shared_url()?;
    let schema = fresh_schema();
    Some((store_on(&url, &schema).await, store_on(&url, &schema).await))
}

#[cfg(test)]
mod tests {
    // Paths, no imports: the benches include this file and drop the tests.

    #[test]
    fn a_server_whose_picked_port_another_postgres_answers_on_starts_on_the_next_pick() {
        let Some(shared) = super::shared() else {
            return;
        };
        // Another server answers on the first pick: ours cannot bind it, and the other
        // one's answers must not pass for ours.
        let taken_port = shared.lock().unwrap_or_else(|e| e.into_inner()).port;
        let picks = std::cell::Cell::new(0);
        let pick = super::super::tests::taken_first(taken_port, &picks);
        let server = super::PgServer::start_picking(pick, &[]);
        assert_eq!(picks.get(), 2);
        assert_ne!(server.port, taken_port);
        assert!(server.ready());
    }
}
