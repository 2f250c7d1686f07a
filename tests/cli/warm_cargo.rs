//! `repox warm` for cargo: a Cargo.lock naming crates.io is warmed from a fixture sparse index
//! (its `config.json` sends downloads elsewhere on the fixture); with the index stopped,
//! `cargo fetch --locked` gets every crate through repox.

use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, labels, run_client, summary, warm};

#[test]
fn cargo_lock_then_cargo_fetch_with_the_index_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = config(
        tmp.path(),
        &[("cargo", format!("{}cargo/index/", upstream.url()))],
    );
    let lock = e2e("inputs/cargo/Cargo.lock");
    let out = warm(&config, &["--json", lock.to_str().unwrap()]);
    assert_success(&out, "repox warm");
    let summary = summary(&out);
    assert!(labels(&summary, "failed").is_empty(), "{summary:#}");
    assert_eq!(
        labels(&summary, "fetched"),
        [
            "cargo index config.json",
            "tiny-dep (index)",
            "tiny-dep-0.1.0.crate",
            "tiny-lib (index)",
            "tiny-lib-1.2.3.crate",
        ],
        "{summary:#}"
    );

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let project = tmp.path().join("app");
    fs_err::create_dir_all(project.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs_err::copy(e2e("inputs/cargo").join(file), project.join(file)).unwrap();
    }
    let home = tmp.path().join("cargo-home");
    fs_err::create_dir_all(&home).unwrap();
    fs_err::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"repox\"\n\n[source.repox]\n\
             registry = \"sparse+{}cargo/index/\"\n",
            serve.url()
        ),
    )
    .unwrap();
    run_client(
        Command::new("cargo")
            .current_dir(&project)
            .args(["fetch", "--locked"])
            .env("CARGO_HOME", &home)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_REGISTRIES_CRATES_IO_PROTOCOL"),
        &serve,
        "cargo fetch with the index stopped",
    );
    let cached: Vec<String> = walk(&home.join("registry/cache"));
    for krate in ["tiny-dep-0.1.0.crate", "tiny-lib-1.2.3.crate"] {
        assert!(
            cached.iter().any(|f| f.ends_with(krate)),
            "{krate} not fetched: {cached:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
