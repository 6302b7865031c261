//! Every command the docs give — README, the examples' headers, rustdoc — is one that
//! works as written: it names a target that exists, passes the features that target
//! needs (and the store its URL names), and a bench filter matches a benchmark. With
//! `KICKOUT_RUN_DOC_COMMANDS=1` (`.ci/run` sets it) each `cargo run` and `cargo bench`
//! command is also run as written, on the servers its URLs name, started here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One command of the docs: where it is written, its environment, its words.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DocCommand {
    file: String,
    env: Vec<(String, String)>,
    argv: Vec<String>,
}

impl std::fmt::Display for DocCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, v) in &self.env {
            write!(f, "{k}={v} ")?;
        }
        write!(f, "{} ({})", self.argv.join(" "), self.file)
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documentation text of a file: a Rust file's `//!` and `///` lines, or Markdown.
fn doc_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "rs") {
        text.lines()
            .filter_map(|l| {
                let l = l.trim_start();
                l.strip_prefix("//!").or_else(|| l.strip_prefix("///"))
            })
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text
    }
}

/// The code a reader may type: the lines of shell blocks (continuations joined) and the
/// inline code spans of the prose (whitespace folded: a span may wrap).
fn code_of(text: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut prose = String::new();
    let mut block: Option<(bool, String)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut block, fence) {
            (None, Some(lang)) => {
                let shell = matches!(lang.trim(), "sh" | "bash" | "console" | "shell");
                block = Some((shell, String::new()));
            }
            (Some((shell, body)), Some(_)) => {
                if *shell {
                    let joined = body.replace("\\\n", " ");
                    let unprompted = joined.lines().map(|l| {
                        let l = l.trim_start();
                        l.strip_prefix("$ ").unwrap_or(l).to_owned()
                    });
                    code.extend(unprompted);
                }
                block = None;
            }
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    // Spans pair within a paragraph: a stray backtick cannot flip the rest of a file.
    for paragraph in prose.split("\n\n") {
        for (i, span) in paragraph.split('`').enumerate() {
            if i % 2 == 1 {
                code.push(span.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    code
}

/// Shell words: quotes group, a `#` word starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// A line of code as a command of this crate, if it is one.
fn command(file: &str, line: &str) -> Option<DocCommand> {
    let mut env = Vec::new();
    // `--example=x` is `--example x`.
    let mut argv: Vec<String> = words(line.trim())
        .into_iter()
        .flat_map(|w| match w.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                vec![flag.to_owned(), value.to_owned()]
            }
            _ => vec![w],
        })
        .collect();
    let name = |k: &str| {
        k.starts_with(|c: char| c.is_ascii_uppercase())
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    while let Some((k, v)) = argv.first().and_then(|w| w.split_once('=')) {
        if !name(k) {
            break;
        }
        env.push((k.to_owned(), v.to_owned()));
        argv.remove(0);
    }
    let ours = match argv.first().map(String::as_str) {
        Some("cargo") => matches!(argv.get(1).map(String::as_str), Some("run" | "bench")),
        Some(w) => w.starts_with("./scripts/"),
        None => false,
    };
    ours.then(|| DocCommand {
        file: file.to_owned(),
        env,
        argv,
    })
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every command of the docs, in the order written, each once per file.
fn commands() -> Vec<DocCommand> {
    let mut paths = vec![root().join("README.md")];
    files(&root().join("examples"), &mut paths);
    files(&root().join("src"), &mut paths);
    let mut found = Vec::new();
    for path in paths {
        let file = path.strip_prefix(root()).unwrap().display().to_string();
        for line in code_of(&doc_text(&path)) {
            if let Some(c) = command(&file, &line)
                && !found.contains(&c)
            {
                found.push(c);
            }
        }
    }
    found
}

/// What Cargo.toml says of a target: the features it requires.
struct Manifest {
    features: BTreeMap<String, Vec<String>>,
    targets: BTreeMap<(String, String), Vec<String>>,
}

impl Manifest {
    fn read() -> Self {
        let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let toml: toml::Table = text.parse().unwrap();
        let list = |v: &toml::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let features = toml["features"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), list(v)))
            .collect();
        let mut targets = BTreeMap::new();
        for kind in ["example", "bench"] {
            for t in toml[kind].as_array().unwrap() {
                let name = t["name"].as_str().unwrap().to_owned();
                let required = t.get("required-features").map(list).unwrap_or_default();
                targets.insert((kind.to_owned(), name), required);
            }
        }
        Self { features, targets }
    }

    /// The features a command turns on, with what they turn on in turn.
    fn enabled(&self, argv: &[String]) -> BTreeSet<String> {
        let mut on = BTreeSet::new();
        if !argv.iter().any(|a| a == "--no-default-features") {
            on.insert("default".to_owned());
        }
        let mut args = argv.iter();
        while let Some(a) = args.next() {
            if a == "--all-features" {
                on.extend(self.features.keys().cloned());
            } else if a == "--features" || a == "-F" {
                let list = args.next().map(String::as_str).unwrap_or("");
                on.extend(
                    list.split([',', ' '])
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        let mut todo: Vec<String> = on.iter().cloned().collect();
        while let Some(f) = todo.pop() {
            for g in self.features.get(&f).into_iter().flatten() {
                if !g.starts_with("dep:") && !g.contains('/') && on.insert(g.clone()) {
                    todo.push(g.clone());
                }
            }
        }
        on
    }
}

/// The value of `flag` in a command's words.
fn flag<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    let at = argv.iter().position(|a| a == flag)?;
    argv.get(at + 1).map(String::as_str)
}

/// What is wrong with a command as written, if anything.
fn fault(c: &DocCommand, manifest: &Manifest) -> Option<String> {
    if c.argv[0].starts_with("./scripts/") {
        let script = root().join(&c.argv[0]);
        return (!script.is_file()).then(|| format!("{} does not exist", c.argv[0]));
    }
    let (kind, name) = match (flag(&c.argv, "--example"), flag(&c.argv, "--bench")) {
        (Some(e), None) => ("example", e),
        (None, Some(b)) => ("bench", b),
        _ => return Some("names no single example or bench".to_owned()),
    };
    let Some(required) = manifest.targets.get(&(kind.to_owned(), name.to_owned())) else {
        return Some(format!("there is no {kind} `{name}`"));
    };
    let on = manifest.enabled(&c.argv);
    let missing: Vec<&String> = required.iter().filter(|f| !on.contains(*f)).collect();
    if !missing.is_empty() {
        return Some(format!("{kind} `{name}` needs the features {missing:?}"));
    }
    for (var, feature) in [("REDIS_URL", "redis"), ("DATABASE_URL", "postgres")] {
        if c.env.iter().any(|(k, _)| k == var) && !on.contains(feature) {
            return Some(format!("{var} needs the feature `{feature}`"));
        }
    }
    if kind == "bench" {
        let source = std::fs::read_to_string(root().join(format!("benches/{name}.rs"))).unwrap();
        let after = c.argv.iter().skip_while(|a| *a != "--").skip(1);
        for filter in after.filter(|a| !a.starts_with('-')) {
            if !source.contains(filter.as_str()) {
                return Some(format!("no benchmark of `{name}` matches `{filter}`"));
            }
        }
    }
    None
}

#[test]
fn every_documented_command_names_what_exists_with_the_features_it_needs() {
    let found = commands();
    // The README's first screen, at least, and the examples' headers.
    assert!(found.len() > 20, "{found:#?}");
    let manifest = Manifest::read();
    let faults: Vec<String> = found
        .iter()
        .filter_map(|c| fault(c, &manifest).map(|f| format!("{c}: {f}")))
        .collect();
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn the_reader_of_docs_sees_shell_words_as_a_shell_does() {
    let c = command(
        "f",
        "BIND=0.0.0.0:3000 ADMIN_KEY='a long key' cargo run --features jwt --example x # note",
    )
    .unwrap();
    assert_eq!(
        c.env,
        [
            ("BIND".to_owned(), "0.0.0.0:3000".to_owned()),
            ("ADMIN_KEY".to_owned(), "a long key".to_owned())
        ]
    );
    assert_eq!(
        c.argv,
        ["cargo", "run", "--features", "jwt", "--example", "x"]
    );
    let text =
        "Run `cargo run\n--example quickstart`.\n```sh\nA=1 cargo bench \\\n  --bench b\n```\n";
    let code = code_of(text);
    assert!(
        code.contains(&"cargo run --example quickstart".to_owned()),
        "{code:?}"
    );
    assert!(
        code.contains(&"A=1 cargo bench    --bench b".to_owned()),
        "{code:?}"
    );
    assert!(command("f", "cargo test").is_none());
    assert!(command("f", "curl -s localhost:3000").is_none());
    // A command that names a missing feature is caught.
    let manifest = Manifest::read();
    let wrong = command("f", "cargo run --example axum_session").unwrap();
    assert!(fault(&wrong, &manifest).is_some_and(|f| f.contains("jwt")));
    let wrong = command("f", "REDIS_URL=redis://x cargo run --example axum_app").unwrap();
    assert!(fault(&wrong, &manifest).is_some_and(|f| f.contains("redis")));
    let right = command("f", "cargo run --features jwt --example axum_session").unwrap();
    assert_eq!(fault(&right, &manifest), None);
}

/// The servers the docs' URLs name, on the ports they name, started here.
#[derive(Default)]
struct Servers {
    redis: Vec<crate::support::RedisProcess>,
    cluster: Vec<crate::support::Cluster>,
    #[cfg(feature = "postgres")]
    postgres: Vec<crate::support::postgres::PgServer>,
}

/// A loopback port a documented URL names: it must be free for the server started here.
fn free(port: u16) {
    let taken = std::net::TcpListener::bind(("127.0.0.1", port)).is_err();
    assert!(
        !taken,
        "port {port} is in use: a documented command names it"
    );
}

impl Servers {
    /// Starts what `url` names (once): Redis (one URL, or a comma-separated Cluster) or
    /// PostgreSQL with the URL's role, password and database.
    async fn serve(&mut self, var: &str, url: &str) {
        match var {
            "REDIS_URL" => {
                // Parsed by the clients' own URL parsers, as the demos' stores parse them.
                let port = |u: &str| match redis::IntoConnectionInfo::into_connection_info(u) {
                    Ok(info) => match info.addr() {
                        redis::ConnectionAddr::Tcp(_, port) => *port,
                        other => panic!("{other:?}: not a TCP Redis URL"),
                    },
                    Err(e) => panic!("{u}: {e}"),
                };
                let ports: Vec<u16> = url.split(',').map(port).collect();
                let running = |p: &u16| {
                    self.redis.iter().any(|r| r.port == *p)
                        || self
                            .cluster
                            .iter()
                            .any(|c| c.nodes.iter().any(|n| n.port == *p))
                };
                if ports.iter().all(running) {
                    return;
                }
                ports.iter().copied().for_each(free);
                match ports[..] {
                    [one] => self
                        .redis
                        .push(crate::support::RedisProcess::start_on(one, &[])),
                    [a, b, c] => {
                        let cluster = crate::support::Cluster::start_on([a, b, c]);
                        self.cluster.push(cluster.expect("redis-server"));
                    }
                    _ => panic!("a Redis URL list of {} nodes", ports.len()),
                }
            }
            #[cfg(feature = "postgres")]
            "DATABASE_URL" => {
                let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
                let p = config.get_ports().first().copied().unwrap_or(5432);
                if self.postgres.iter().any(|s| s.port == p) {
                    return;
                }
                free(p);
                let server = crate::support::postgres::PgServer::start_on(p, &[]);
                let user = config.get_user().expect("the URL's role");
                let password = String::from_utf8_lossy(config.get_password().unwrap_or_default());
                let database = config.get_dbname().unwrap_or(user);
                let admin = crate::support::postgres::client(&server.url()).await;
                let setup = format!(
                    "CREATE ROLE {user} LOGIN PASSWORD '{password}'; \
                     CREATE DATABASE {database} OWNER {user}"
                );
                for statement in setup.split("; ") {
                    admin
                        .batch_execute(statement)
                        .await
                        .expect("role and database");
                }
                self.postgres.push(server);
            }
            _ => {}
        }
    }
}

/// What the examples read from their environment: a command runs with only what it
/// writes, not what the caller happens to have set.
const EXAMPLE_VARS: &[&str] = &[
    "ADMIN_KEY",
    "BIND",
    "DATABASE_URL",
    "DEVICE_CLASSES",
    "IDLE_TIMEOUT_SECS",
    "JWT_SECRET",
    "REDIS_MIN_REPLICAS",
    "REDIS_URL",
    "REFRESH_TTL_SECS",
    "TOKEN_TTL_SECS",
];

/// A command's process group, killed whole when dropped: cargo, the compilers it
/// started, and the program (a bench binary is cargo's child, not cargo itself).
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        crate::support::signal_to(&format!("-{}", self.0.id()), "-KILL");
        let _ = self.0.wait();
    }
}

/// Runs one documented command as written, and says what went wrong, if anything.
fn run(c: &DocCommand) -> Result<(), String> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};

    let mut argv = c.argv.clone();
    let bench = argv[1] == "bench";
    if bench {
        // Criterion's test mode: each benchmark of the command once, not measured.
        if !argv.iter().any(|a| a == "--") {
            argv.push("--".to_owned());
        }
        argv.push("--test".to_owned());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    for var in EXAMPLE_VARS {
        command.env_remove(var);
    }
    let child = command
        .args(&argv[1..])
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .current_dir(root())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut group = Group(child);
    // A server prints `listening on <addr>`; other commands run to their end.
    let (lines, said) = std::sync::mpsc::channel();
    let stdout = group.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let (tail_out, tail_in) = std::sync::mpsc::channel();
    let stderr = group.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text).ok();
        let _ = tail_out.send(text);
    });
    // The first run of a feature set compiles it (a bench in release).
    let deadline = Instant::now() + Duration::from_secs(if bench { 900 } else { 300 });
    let outcome = loop {
        if Instant::now() > deadline {
            break Err("no end in time".to_owned());
        }
        match said.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    break answers(&addr.replace("0.0.0.0", "127.0.0.1"));
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout) => {}
        }
        match group.0.try_wait() {
            Ok(Some(status)) if status.success() => break Ok(()),
            Ok(Some(status)) => break Err(format!("ended with {status}")),
            Ok(None) => {}
            Err(e) => break Err(e.to_string()),
        }
    };
    drop(group);
    let stderr = tail_in
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    outcome.map_err(|e| format!("{e}\n{}", tail(&stderr)))
}

/// Whether a server at `addr` answers HTTP.
fn answers(addr: &str) -> Result<(), String> {
    let url = format!("http://{addr}/");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let res = reqwest::get(&url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = res.status().as_u16();
        (status < 500)
            .then_some(())
            .ok_or_else(|| format!("{url}: {status}"))
    })
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Each `cargo run` and `cargo bench` command of the docs, run as written (benches in
/// criterion's test mode): a program runs to success, a server answers HTTP at the
/// address it prints. Only with `KICKOUT_RUN_DOC_COMMANDS=1`: it builds every feature
/// set the docs name (`.ci/run` runs it alone, after the suite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_command_runs_as_written() {
    if !std::env::var("KICKOUT_RUN_DOC_COMMANDS").is_ok_and(|v| v == "1") {
        eprintln!("NOTICE: KICKOUT_RUN_DOC_COMMANDS=1 runs the docs' commands (.ci/run does)");
        return;
    }
    let mut servers = Servers::default();
    let mut seen = BTreeSet::new();
    let mut failed = Vec::new();
    for c in commands() {
        // The test command is what runs this test; `.ci/run` runs it.
        if c.argv[0].starts_with("./scripts/") || !seen.insert((c.env.clone(), c.argv.clone())) {
            continue;
        }
        for (var, value) in &c.env {
            servers.serve(var, value).await;
        }
        eprintln!("running: {c}");
        let ran = tokio::task::spawn_blocking({
            let c = c.clone();
            move || run(&c)
        });
        if let Err(e) = ran.await.unwrap() {
            failed.push(format!("{c}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
