//! Lock-file digests are checked against the bytes repox serves, and `repox warm` uses a
//! running repox when there is one.
//!
//! repox verifies every package against its index (here the npm packument's `integrity`), so a
//! lock file whose digest differs gets a failure for that file; when the proxy runs in-process
//! the entry is removed again, so nothing the lock rejects stays cached. A running server is
//! not ours to change: the failure says the file stays.

use std::path::{Path, PathBuf};

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, labels, summary, warm};

/// package-lock.json with left-pad's integrity replaced by the digest of other bytes.
fn tampered_lock(dir: &Path) -> PathBuf {
    let text = fs_err::read_to_string(e2e("inputs/npm/package-lock.json")).unwrap();
    let mut lock: serde_json::Value = serde_json::from_str(&text).unwrap();
    // sha512 of the empty string.
    lock["packages"]["node_modules/left-pad"]["integrity"] = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==".into();
    let path = dir.join("package-lock.json");
    fs_err::write(&path, serde_json::to_string_pretty(&lock).unwrap()).unwrap();
    path
}

fn failure<'a>(summary: &'a serde_json::Value, what: &str) -> &'a str {
    summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["what"] == what)
        .and_then(|f| f["error"].as_str())
        .unwrap_or_else(|| panic!("no failure for {what}: {summary:#}"))
}

#[test]
fn a_digest_the_lock_does_not_expect_fails_and_is_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = config(tmp.path(), &[("npm", format!("{}npm/", upstream.url()))]);
    let bad = tampered_lock(tmp.path());
    let out = warm(&config, &["--json", bad.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a digest mismatch must fail the warm"
    );
    let first = summary(&out);
    let error = failure(&first, "left-pad@1.3.0");
    assert!(
        error.starts_with("sha512 of the download is ")
            && error.contains("the lock file says cf83e1357eefb8bd")
            && error.ends_with("(removed from the cache again)"),
        "{error}"
    );
    // The other package is fine.
    assert!(
        labels(&first, "fetched").contains(&"@scope/util@2.0.0".to_owned()),
        "{first:#}"
    );

    // The entry was removed: the right lock file fetches it anew.
    let good = e2e("inputs/npm/package-lock.json");
    let out = warm(&config, &["--json", good.to_str().unwrap()]);
    assert_success(&out, "repox warm with the right lock file");
    let second = summary(&out);
    assert!(
        labels(&second, "fetched").contains(&"left-pad@1.3.0".to_owned()),
        "{second:#}"
    );
    assert!(
        labels(&second, "cached").contains(&"@scope/util@2.0.0".to_owned()),
        "{second:#}"
    );
}

#[test]
fn a_running_repox_is_warmed_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = config(tmp.path(), &[("npm", format!("{}npm/", upstream.url()))]);
    let serve = RepoxServer::with_config(&config);
    // No --server: the configured listen address answers, so warm talks to that server.
    let good = e2e("inputs/npm/package-lock.json");
    let out = warm(&config, &["--json", good.to_str().unwrap()]);
    assert_success(&out, "repox warm against repox serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warming the repox running at"), "{stderr}");
    assert!(
        serve.logged("GET /npm/left-pad/-/left-pad-1.3.0.tgz 200 miss"),
        "{}",
        serve.log()
    );
    assert_eq!(labels(&summary(&out), "fetched").len(), 6);

    // --server names it explicitly; a mismatch leaves the server's copy alone and says so.
    let bad = tampered_lock(tmp.path());
    let out = warm(
        &config,
        &["--json", "--server", &serve.url(), bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let summary = summary(&out);
    let error = failure(&summary, "left-pad@1.3.0");
    assert!(
        error.ends_with("(repox verified it against the index and keeps it)"),
        "{error}"
    );

    // A --server that does not answer is an error with a hint, not a silent in-process run.
    let out = warm(
        &config,
        &["--server", "http://127.0.0.1:1/", good.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no repox answers at http://127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}
