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
                    code.extend(joined.lines().map(str::to_owned));
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
    for (i, span) in prose.split('`').enumerate() {
        if i % 2 == 1 {
            code.push(span.split_whitespace().collect::<Vec<_>>().join(" "));
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
    let mut argv = words(line.trim());
    while let Some((k, v)) = argv.first().and_then(|w| w.split_once('=')) {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
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
