//! The `rust-version` of Cargo.toml holds for what the library pulls in: no crate it
//! builds with, under any feature, asks for a newer Rust. (No other toolchain can be
//! fetched where the tests run; clippy's `incompatible_msrv`, on under `-D warnings`,
//! checks the standard library items the crate itself uses against the same version.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// `1.88` or `1.88.0` as comparable numbers.
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap());
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    (major, minor, parts.next().unwrap_or(0))
}

#[test]
fn no_dependency_needs_a_newer_rust_than_the_crate_declares() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let root = meta["resolve"]["root"].as_str().unwrap();
    let ours = version(env!("CARGO_PKG_RUST_VERSION"));
    assert_eq!(
        packages[root]["rust_version"].as_str().map(version),
        Some(ours)
    );
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    // Everything reachable from the library by normal and build dependencies: the dev
    // dependencies (test and bench tools) never reach a user's build.
    let (mut seen, mut todo) = (BTreeSet::from([root]), vec![root]);
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let shipped = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            let dep_id = dep["pkg"].as_str().unwrap();
            if shipped && seen.insert(dep_id) {
                todo.push(dep_id);
            }
        }
    }
    assert!(seen.len() > 50, "the walk found {} crates", seen.len());
    let newer: Vec<String> = seen
        .iter()
        .filter_map(|id| {
            let p = packages[id];
            let needs = p["rust_version"].as_str()?;
            (version(needs) > ours).then(|| {
                format!(
                    "{} {} needs {needs}",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(
        newer.is_empty(),
        "Cargo.toml says rust-version {}, but: {newer:?}",
        env!("CARGO_PKG_RUST_VERSION")
    );
}
