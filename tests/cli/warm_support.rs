//! What the `repox warm` end-to-end tests share: a repox config naming a fixture upstream
//! ([`FixtureServer`] on `tests/fixtures/warm/e2e/upstream`, built by its `build.py`: the
//! registries the warm fills repox from), the `repox warm` command, and running a real client
//! against `repox serve` ([`RepoxServer`]) on the warmed cache once the upstream is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[cfg(doc)]
use crate::fixture_server::FixtureServer;
use crate::repox_server::{RepoxServer, free_port};

/// The e2e fixture tree.
pub fn e2e(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/warm/e2e")
        .join(rel)
}

/// A repox config in `dir`: listen on a free port, cache in `dir/cache`, and each
/// `(kind, url)` as the only upstream of the repository named like the kind.
pub fn config(dir: &Path, repositories: &[(&str, String)]) -> PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"{}\"\ncache_dir = \"{}\"\n",
        free_port(),
        dir.join("cache").display()
    );
    for (kind, url) in repositories {
        text.push_str(&format!(
            "\n[repositories.{kind}]\nkind = \"{kind}\"\n\
             [[repositories.{kind}.upstreams]]\nname = \"fixture\"\nurl = \"{url}\"\n"
        ));
    }
    let path = dir.join("repox.toml");
    fs_err::write(&path, text).unwrap();
    path
}

/// `repox --config CONFIG warm ARGS…`, with nothing from the environment steering it.
pub fn warm(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repox"))
        .arg("--config")
        .arg(config)
        .arg("warm")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("REPOX_OFFLINE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run repox warm")
}

/// Panics with both streams unless the run succeeded.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `repox warm --json` output.
pub fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e})\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The labels of one list of a JSON summary (`fetched`, `cached`, `failed`, …).
pub fn labels(summary: &serde_json::Value, list: &str) -> Vec<String> {
    let mut out: Vec<String> = summary[list]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            r.get("label")
                .or_else(|| r.get("what"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    out.sort();
    out
}

/// True when `program --version` runs; a missing client fails the test unless
/// `REPOX_SKIP_MISSING_CLIENTS` is set (see `clients_support`).
pub fn have(program: &str, install: &str) -> bool {
    crate::clients_support::client_runs(program, &["--version"], install)
}

/// Runs a client command, failing with its output (and repox's log) unless it succeeds.
pub fn run_client(command: &mut Command, serve: &RepoxServer, what: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}\nrepox log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        serve.log()
    );
    output
}
