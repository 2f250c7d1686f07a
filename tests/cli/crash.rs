//! Crash safety of the cache: `repox serve` is killed with SIGKILL at pseudo-random moments
//! (fixed seed, five rounds) while clients download several files at once from a slow
//! upstream, then restarted on the same cache. Every entry that was committed must hold
//! exactly the bytes of its file (checked against the known SHA-1), nothing half-written may
//! be served, and the staging files the killed processes left are removed at start-up. Also
//! here: cache writes that fail (a staging directory that cannot be written, as on a full disk;
//! a commit whose rename cannot succeed) are logged with the key, upstream and cause, and never
//! answered as a complete file.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::repox_server::RepoxServer;

const FILES: usize = 6;

fn jar(i: usize) -> String {
    format!("org/crash/f{i}/1.0/f{i}-1.0.jar")
}

/// File `i` is `i + 1` times 256 KiB: at 16 KiB per 10 ms, 0.16 s to 0.96 s of download, so a
/// kill between 50 and 600 ms lands while some files are done and others are not.
fn body(i: usize) -> Vec<u8> {
    (0..(i + 1) * 256 * 1024)
        .map(|n| {
            (n as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u32 * 7) as u8
                ^ (n >> 11) as u8
        })
        .collect()
}

/// A slow upstream: each file in 16 KiB chunks, 10 ms apart, and its `.sha1` at once. One thread per connection; it lives as long as the test process.
pub(crate) fn slow_upstream(files: BTreeMap<String, Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let files = std::sync::Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &files);
            });
        }
    });
    addr
}

fn answer(mut stream: TcpStream, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/');
    let (body, slow) = match path.strip_suffix(".sha1") {
        Some(file) => match files.get(file) {
            Some(b) => (Some(hex(&Sha1::digest(b)).into_bytes()), false),
            None => (None, false),
        },
        None => (files.get(path).cloned(), true),
    };
    let Some(body) = body else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/java-archive\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    for chunk in body.chunks(16 * 1024) {
        stream.write_all(chunk)?;
        if slow {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET path` over one connection; the body when the answer is a complete 200.
fn get(addr: &str, path: &str) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut all = Vec::new();
    stream.read_to_end(&mut all).ok()?;
    let split = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    let body = all[split + 4..].to_vec();
    (head.starts_with("http/1.1 200") && body.len() == len).then_some(body)
}

/// Committed entries under `data-v1/maven/`: (key, body, metadata).
fn entries(cache: &Path) -> Vec<(String, Vec<u8>, serde_json::Value)> {
    let mut out = Vec::new();
    let mut stack = vec![cache.join("data-v1")];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let file = fs_err::read(&path).unwrap();
            assert!(
                file.len() >= 16 && &file[file.len() - 8..] == b"REPOXv1\n",
                "{path:?} has no trailer"
            );
            let meta_len =
                u64::from_le_bytes(file[file.len() - 16..file.len() - 8].try_into().unwrap())
                    as usize;
            let body_end = file.len() - 16 - meta_len;
            let meta: serde_json::Value =
                serde_json::from_slice(&file[body_end..file.len() - 16]).unwrap();
            let key = path
                .strip_prefix(cache.join("data-v1"))
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((key, file[..body_end].to_vec(), meta));
        }
    }
    out
}

#[test]
fn kill_9_during_downloads_never_leaves_a_bad_entry() {
    let files: BTreeMap<String, Vec<u8>> = (0..FILES).map(|i| (jar(i), body(i))).collect();
    let upstream = slow_upstream(files.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"slow\"\nurl = \"http://{upstream}/\"\n"
    );
    let mut seed: u64 = 0x5eed_cafe;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let (mut left_behind, mut checked) = (0, 0);
    for _round in 0..5 {
        let server = RepoxServer::start(dir.path(), &config);
        let addr = server
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let clients: Vec<_> = (0..FILES)
            .map(|i| {
                let addr = addr.clone();
                std::thread::spawn(move || get(&addr, &format!("maven/{}", jar(i))))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + next() % 550));
        // `Child::kill` is SIGKILL: no destructor, no cleanup in repox runs.
        drop(server);
        for c in clients {
            let _ = c.join();
        }
        left_behind += fs_err::read_dir(dir.path().join("cache/tmp"))
            .map(|d| d.count())
            .unwrap_or(0);
        for (key, bytes, meta) in entries(&dir.path().join("cache")) {
            let file = key.strip_prefix("maven/").unwrap_or(&key);
            if let Some(jar) = file.strip_suffix(".sha1") {
                // The checksum file repox keeps beside a verified jar.
                let want = hex(&Sha1::digest(&files[jar]));
                assert_eq!(String::from_utf8_lossy(&bytes).trim(), want, "{key}");
                continue;
            }
            let want = &files
                .get(file)
                .unwrap_or_else(|| panic!("unexpected entry {key}"));
            assert_eq!(
                bytes.len(),
                want.len(),
                "{key}: a committed entry is complete"
            );
            assert_eq!(
                hex(&Sha1::digest(&bytes)),
                hex(&Sha1::digest(want)),
                "{key}: bytes"
            );
            assert_eq!(meta["verification"], "sha1", "{key}");
            checked += 1;
        }
    }
    eprintln!("5 kills: {left_behind} staging files left behind, {checked} entry checks passed");
    assert!(
        left_behind > 0,
        "no kill landed mid-download: the test proves nothing"
    );
    // A restart removes what the killed processes left in staging, and serves every file whole.
    let server = RepoxServer::start(dir.path(), &config);
    let left = fs_err::read_dir(dir.path().join("cache/tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        left, 0,
        "staging files of killed processes were removed at start-up"
    );
    let addr = server
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    for (i, want) in files.values().enumerate() {
        assert_eq!(
            get(&addr, &format!("maven/{}", jar(i))).as_ref(),
            Some(want),
            "{}",
            jar(i)
        );
    }
}

#[test]
fn a_commit_that_fails_is_logged_and_the_checked_body_still_served_whole() {
    let files: BTreeMap<String, Vec<u8>> = (0..1).map(|i| (jar(i), body(i))).collect();
    let upstream = slow_upstream(files);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"slow\"\nurl = \"http://{upstream}/\"\n"
    );
    // A file where the entry's directory must go: the commit's rename cannot succeed.
    let blocker = dir.path().join("cache/data-v1/maven/org/crash");
    fs_err::create_dir_all(blocker.parent().unwrap()).unwrap();
    fs_err::write(&blocker, b"in the way").unwrap();
    let server = RepoxServer::start(dir.path(), &config);
    let addr = server
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // The body arrived whole and matched its length: the client gets it, the cache does not.
    assert_eq!(get(&addr, &format!("maven/{}", jar(0))), Some(body(0)));
    assert!(
        server.logged("cannot commit the download"),
        "{}",
        server.log()
    );
    assert!(server.log().contains(&format!("maven/{}", jar(0))));
}

#[test]
fn a_fill_that_cannot_write_is_logged_with_key_upstream_and_cause() {
    let files: BTreeMap<String, Vec<u8>> = (0..1).map(|i| (jar(i), body(i))).collect();
    let upstream = slow_upstream(files);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"slow\"\nurl = \"http://{upstream}/\"\n"
    );
    let server = RepoxServer::start(dir.path(), &config);
    // The staging directory becomes a file: every staged write fails, as on a full disk.
    let staging = dir.path().join("cache/tmp");
    fs_err::remove_dir_all(&staging).unwrap();
    fs_err::write(&staging, b"not a directory").unwrap();
    let addr = server
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(get(&addr, &format!("maven/{}", jar(0))), None);
    assert!(server.logged("download failed"), "{}", server.log());
    let log = server.log();
    let line = log.lines().find(|l| l.contains("download failed")).unwrap();
    assert!(line.contains(&format!("maven/{}", jar(0))), "{line}");
    assert!(line.contains("slow"), "{line}");
}
