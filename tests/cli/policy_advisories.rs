//! `repox advisories import FILE` end to end: an OSV zip built here is imported into the cache
//! directory of a running `repox serve`, which then, without a restart, refuses the versions of
//! the malicious package (403 with the advisory's id, counted by rule in `/-/metrics`) and lists
//! every advisory at `/-/api/advisories`. Also `repox configure --snapshot` writing snapshot
//! URLs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::repox_server::RepoxServer;

fn repox(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repox"))
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .output()
        .unwrap()
}

fn osv_zip(path: &Path) {
    let advisories = [
        serde_json::json!({"id": "MAL-2025-7", "summary": "Malicious code in evil-pkg (npm)",
            "affected": [{"package": {"ecosystem": "npm", "name": "evil-pkg"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}),
        serde_json::json!({"id": "GHSA-aaaa", "summary": "Prototype pollution",
            "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                          "versions": ["4.17.20"],
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]}),
    ];
    let mut zip = zip::ZipWriter::new(fs_err::File::create(path).unwrap().into_file());
    for a in &advisories {
        zip.start_file(
            format!("{}.json", a["id"].as_str().unwrap()),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(a.to_string().as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// `GET path` over one HTTP/1.1 connection: (status, body).
fn get(base: &str, path: &str) -> (u16, String) {
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[test]
fn imported_malicious_versions_are_refused_and_every_advisory_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("npm-all.zip");
    osv_zip(&zip);
    // `RepoxServer` puts its cache in `dir/cache`.
    let cache = dir.path().join("cache");
    // The upstream is never asked: the refusal needs no packument.
    let config = "[repositories.npm]\nkind = \"npm\"\n[[repositories.npm.upstreams]]\n\
                  name = \"nowhere\"\nurl = \"http://127.0.0.1:9/\"\n";
    let server = RepoxServer::start(dir.path(), config);
    let tarball = "/npm/evil-pkg/-/evil-pkg-1.0.0.tgz";
    let (status, body) = get(&server.url(), tarball);
    assert_ne!(status, 403, "nothing is imported yet: {body}");
    let (_, body) = get(&server.url(), "/-/api/advisories");
    assert!(body.contains("\"advisories\":[]"), "{body}");

    let out = repox(
        dir.path(),
        &[
            "advisories",
            "import",
            zip.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported 2 advisory entries"), "{stdout}");
    assert!(stdout.contains("1 malicious"), "{stdout}");
    assert!(stdout.contains("applies them at once"), "{stdout}");
    assert!(cache.join("advisories-v1/advisories.json").is_file());

    // The running server reads the new list as soon as the import has replaced the file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = get(&server.url(), tarball);
        if status == 403 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 403, "{body}\nrepox log:\n{}", server.log());
    assert!(
        body.contains("evil-pkg 1.0.0 is malicious according to the advisory MAL-2025-7"),
        "{body}"
    );
    let (status, body) = get(&server.url(), "/-/api/advisories");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let list = list["advisories"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let blocked: Vec<(&str, bool)> = list
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["blocked"].as_bool().unwrap()))
        .collect();
    assert_eq!(blocked, [("GHSA-aaaa", false), ("MAL-2025-7", true)]);
    let (_, metrics) = get(&server.url(), "/-/metrics");
    assert!(
        metrics.contains("repox_policy_refusals_total{repository=\"npm\",rule=\"MAL-2025-7\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("advisories.json");
    fs_err::write(&bad, "{}").unwrap();
    let out = repox(
        dir.path(),
        &[
            "advisories",
            "import",
            bad.to_str().unwrap(),
            "--cache-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("advisories.json` is not an OSV zip export"),
        "{stderr}"
    );
}

#[test]
fn configure_snapshot_points_clients_at_the_dated_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let out = repox(
        dir.path(),
        &[
            "configure",
            "pip",
            "npm",
            "cargo",
            "--url",
            "http://127.0.0.1:8078/",
            "--snapshot",
            "2025-06-01",
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for url in [
        "http://127.0.0.1:8078/pypi/@2025-06-01/simple/",
        "http://127.0.0.1:8078/npm/@2025-06-01/",
        "sparse+http://127.0.0.1:8078/cargo/@2025-06-01/index/",
    ] {
        assert!(stdout.contains(url), "{url} missing from:\n{stdout}");
    }
    let bad = repox(
        dir.path(),
        &["configure", "pip", "--snapshot", "June", "--dry-run"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}
