//! `repox cache stats|ls|rm|gc` end to end on a cache directory filled through the store, and
//! `repox cache rm` beside a running `repox serve`, whose size gauge follows within a second or so.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use repox_proxy::store::{Digests, FsStore, Meta, Store, Verification};

use crate::repox_server::RepoxServer;

fn repox(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repox"))
        .env_clear()
        .env("HOME", config.parent().unwrap())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "failed:\n{stdout}\n{stderr}");
    stdout
}

fn disk_bytes(cache: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![cache.join("data-v1")];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(dir).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// Commits entries as the server would.
fn fill(cache: &Path, entries: &[(&str, usize, Verification)]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = FsStore::open(cache).unwrap();
        for (key, len, verification) in entries {
            let mut miss = store.begin(key).await.unwrap();
            miss.write(&vec![b'x'; *len]).unwrap();
            let meta = Meta {
                len: *len as u64,
                digests: Digests {
                    sha256: "ab".repeat(32),
                    ..Default::default()
                },
                verification: *verification,
                ..Default::default()
            };
            miss.finish(meta).await.unwrap();
        }
    });
}

/// The `total` row of `repox cache stats`: (entries, bytes).
fn totals(stats: &str) -> (u64, u64) {
    let row = stats
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap_or_else(|| panic!("no total in\n{stats}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    (cols[1].parse().unwrap(), cols[2].parse().unwrap())
}

#[test]
fn stats_ls_gc_and_rm_on_a_stopped_servers_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let config = dir.path().join("repox.toml");
    fs_err::write(&config, "[storage]\nmax_size = \"1KiB\"\n").unwrap();
    fill(
        &cache,
        &[
            ("maven/g/a/1/a-1.jar", 3000, Verification::Sha1),
            ("maven/g/a/2/a-2.jar", 3000, Verification::Sha1),
            ("maven/g/a/maven-metadata.xml", 500, Verification::Length),
            ("pypi/simple/foo/", 300, Verification::Length),
        ],
    );
    let c = cache.to_str().unwrap();
    let stats = ok(repox(&config, &["cache", "stats", "--cache-dir", c]));
    assert_eq!(totals(&stats), (4, disk_bytes(&cache)), "{stats}");
    assert!(
        stats
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["maven", "3"])),
        "{stats}"
    );

    let ls = ok(repox(
        &config,
        &["cache", "ls", "maven/g/a/", "--cache-dir", c],
    ));
    let keys: Vec<&str> = ls.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "maven/g/a/1/a-1.jar",
            "maven/g/a/2/a-2.jar",
            "maven/g/a/maven-metadata.xml"
        ]
    );
    let size: u64 = ls
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 3000, "{ls}");

    let dry = ok(repox(
        &config,
        &["cache", "gc", "--dry-run", "--cache-dir", c],
    ));
    assert!(dry.contains("would remove maven/g/a/1/a-1.jar"), "{dry}");
    assert!(dry.contains("would remove maven/g/a/2/a-2.jar"), "{dry}");
    assert!(
        !dry.contains("metadata"),
        "mutable entries are not evicted for size:\n{dry}"
    );
    assert_eq!(
        totals(&ok(repox(&config, &["cache", "stats", "--cache-dir", c]))).0,
        4
    );
    ok(repox(&config, &["cache", "gc", "--cache-dir", c]));
    let stats = ok(repox(&config, &["cache", "stats", "--cache-dir", c]));
    assert_eq!(totals(&stats), (2, disk_bytes(&cache)), "{stats}");
    assert!(!cache.join("data-v1/maven/g/a/1/a-1.jar").exists());

    let rm = ok(repox(
        &config,
        &["cache", "rm", "pypi/simple/foo", "--cache-dir", c],
    ));
    assert!(rm.contains("Removed 1 entries"), "{rm}");
    let stats = ok(repox(&config, &["cache", "stats", "--cache-dir", c]));
    assert_eq!(totals(&stats), (1, disk_bytes(&cache)), "{stats}");

    let missing = repox(&config, &["cache", "rm", "npm/nothing", "--cache-dir", c]);
    assert!(!missing.status.success());
    let err = String::from_utf8(missing.stderr).unwrap();
    assert!(err.contains("nothing cached at `npm/nothing`"), "{err}");
    assert!(err.contains("hint:"), "{err}");

    let nowhere = repox(
        &config,
        &["cache", "stats", "--cache-dir", "/nonexistent/x"],
    );
    assert!(!nowhere.status.success());
    let err = String::from_utf8(nowhere.stderr).unwrap();
    assert!(err.contains("no repox cache in `/nonexistent/x`"), "{err}");
}

#[test]
fn rm_beside_a_running_server_shows_in_its_size_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fill(&cache, &[("maven/g/a/1/a-1.jar", 4000, Verification::Sha1)]);
    let server = RepoxServer::start(dir.path(), "");
    let gauge = || -> u64 {
        let text = http::get_text(&format!("{}-/metrics", server.url()));
        text.lines()
            .find_map(|l| l.strip_prefix("repox_cache_size_bytes "))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(gauge(), disk_bytes(&cache));
    assert!(gauge() > 4000);
    let config = dir.path().join("repox.toml");
    let c = cache.to_str().unwrap();
    ok(repox(
        &config,
        &["cache", "rm", "maven/g", "--cache-dir", c],
    ));
    let mut size = gauge();
    for _ in 0..50 {
        if size == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        size = gauge();
    }
    assert_eq!(size, 0, "the server noticed the removal");
}

mod http {
    /// A plain HTTP/1.1 GET of a loopback URL, body as text.
    pub fn get_text(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }
}
