//! Clients tailing a fill (`respond::tail_limits`, `edge/zerocopy.rs` `growing_body`): on plain
//! HTTP/1 they get what the fill has written with `sendfile`, in place of placeholder chunks
//! that must never reach a client. The bodies are random bytes with no zero byte, so a leaked
//! placeholder (zeros) cannot go unnoticed; the upstream sends them slowly (16 KiB chunks with a
//! pause) so that clients join the fill at different points of it. Each client reads a raw
//! HTTP/1.1 connection to its end, so a body cut short shows as fewer bytes than its
//! `Content-Length`, never hidden by a client library.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use url::Url;

use crate::support::{Behavior, Proxy, TestUpstream, maven, nonzero, read_head};

const KIB: usize = 1024;

fn jar(len: usize) -> String {
    format!("org/example/tail/1.0/tail-1.0-{len}.jar")
}

/// A proxy whose fills are not restarted by a loaded machine.
async fn proxy(up: &TestUpstream) -> Proxy {
    let mut repo = maven(&[("a", up, 0)]);
    for u in &mut repo.upstreams {
        u.idle_timeout = Duration::from_secs(30);
    }
    Proxy::start(repo).await
}

/// What one client saw: status, `X-Repox-Cache`, `Content-Length` and the body bytes that came
/// before the connection ended (cleanly or not).
struct Seen {
    status: u16,
    cache: String,
    len: Option<usize>,
    body: Vec<u8>,
}

/// `GET /maven/<path>` of the proxy at `proxy` on a fresh HTTP/1.1 connection, read until the server closes it (or,
/// with `keep`, until `keep` body bytes came, then the connection is dropped).
async fn fetch(proxy: Url, path: String, keep: Option<usize>) -> Seen {
    let addr = format!("{}:{}", proxy.host_str().unwrap(), proxy.port().unwrap());
    let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let req = format!("GET /maven/{path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).await.unwrap();
    let (status, headers) = read_head(&mut conn).await;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let cache = header("x-repox-cache").unwrap_or_default();
    let len = header("content-length").map(|v| v.parse().unwrap());
    let mut body = Vec::new();
    let mut buf = vec![0; 64 * KIB];
    loop {
        let want = keep.map_or(buf.len(), |k| (k - body.len()).min(buf.len()));
        if want == 0 {
            break;
        }
        match conn.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    Seen {
        status,
        cache,
        len,
        body,
    }
}

/// [`fetch`] after `at`.
async fn fetch_at(at: Duration, proxy: Url, path: String, keep: Option<usize>) -> Seen {
    tokio::time::sleep(at).await;
    fetch(proxy, path, keep).await
}

/// An upstream serving `body` at `path` slowly (16 KiB chunks, `pause` between them).
fn slowly(up: &TestUpstream, path: &str, body: Bytes, pause: Duration) {
    up.put(path, body).behave(
        path,
        Behavior {
            chunk_delay: Some(pause),
            ..Behavior::default()
        },
    );
}

#[tokio::test]
async fn clients_joining_a_fill_at_different_times_get_exact_bytes() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    // Around the 256 KiB segment (and the fill's 256 KiB batches), and one large body whose
    // digest runs beside the writer (8 MiB and more).
    for len in [
        256 * KIB - 1,
        256 * KIB,
        256 * KIB + 1,
        3 * 256 * KIB + 7,
        9 * 1024 * KIB + 3,
    ] {
        let body = nonzero(len, len as u64);
        let pause = Duration::from_micros(if len > 1_000_000 { 300 } else { 3_000 });
        slowly(&up, &jar(len), body.clone(), pause);
        let mut clients = Vec::new();
        for i in 0..4u64 {
            let at = Duration::from_millis(15 * i);
            clients.push(tokio::spawn(fetch_at(
                at,
                proxy.url.clone(),
                jar(len),
                None,
            )));
        }
        let mut misses = 0;
        for c in clients {
            let seen = c.await.unwrap();
            assert_eq!(seen.status, 200, "{len}");
            assert_eq!(seen.len, Some(len));
            assert_eq!(seen.body.len(), len, "{len}: the whole body");
            assert!(seen.body == body, "{len}: other bytes than the upstream's");
            misses += usize::from(seen.cache == "miss");
        }
        assert!(misses >= 1, "{len}: no client tailed the fill");
        assert_eq!(up.count(Method::GET, &jar(len)), 1, "{len}: one download");
    }
}

#[tokio::test]
async fn a_fill_that_fails_its_digest_gives_no_client_a_complete_body() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    // Checked in place (small) and beside the writer (8 MiB and more).
    for len in [600 * KIB + 5, 9 * 1024 * KIB + 3] {
        let body = nonzero(len, 7 + len as u64);
        let pause = Duration::from_micros(if len > 1_000_000 { 300 } else { 3_000 });
        slowly(&up, &jar(len), body.clone(), pause);
        up.put(
            &format!("{}.sha1", jar(len)),
            "0123456789012345678901234567890123456789",
        );
        let mut clients = Vec::new();
        for i in 0..4u64 {
            let at = Duration::from_millis(20 * i);
            clients.push(tokio::spawn(fetch_at(
                at,
                proxy.url.clone(),
                jar(len),
                None,
            )));
        }
        for c in clients {
            let seen = c.await.unwrap();
            if seen.status == 502 {
                continue;
            }
            assert_eq!(seen.status, 200, "{len}");
            assert_eq!(seen.len, Some(len));
            assert!(
                seen.body.len() < len,
                "{len}: a body that failed came whole"
            );
            assert!(
                seen.body[..] == body[..seen.body.len()],
                "{len}: what came before the cut is the upstream's bytes"
            );
        }
        let committed = proxy.cache.path().join("data-v1/maven").join(jar(len));
        assert!(!committed.exists(), "{len}: nothing committed");
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_body_does_not_disturb_the_others() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    let len = 3_000_000;
    let body = nonzero(len, 11);
    slowly(&up, &jar(len), body.clone(), Duration::from_micros(1_000));
    let leaver = tokio::spawn(fetch(proxy.url.clone(), jar(len), Some(300_000)));
    let mut stayers = Vec::new();
    for i in 0..2u64 {
        let at = Duration::from_millis(10 + 30 * i);
        stayers.push(tokio::spawn(fetch_at(
            at,
            proxy.url.clone(),
            jar(len),
            None,
        )));
    }
    let left = leaver.await.unwrap();
    assert_eq!(left.body.len(), 300_000);
    assert!(left.body[..] == body[..300_000]);
    for s in stayers {
        let seen = s.await.unwrap();
        assert_eq!(seen.status, 200);
        assert!(seen.body == body, "a client that stayed got other bytes");
    }
    let hit = proxy.wait_for_hit(&format!("maven/{}", jar(len))).await;
    assert!(hit.bytes().await.unwrap() == body);
    assert_eq!(up.count(Method::GET, &jar(len)), 1, "one download");
}
