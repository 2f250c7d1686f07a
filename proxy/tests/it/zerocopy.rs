//! Zero-copy file hits (`edge/zerocopy.rs`): on plain HTTP/1 a file hit's body is sent with
//! `sendfile` in place of placeholder chunks, which must never reach a client. The bodies here
//! are random bytes with no zero byte, so a leaked placeholder (zeros) cannot go unnoticed: every
//! size around the 256 KiB segment, ranges, `HEAD`, `304`, `If-Range`, keep-alive connections
//! mixing file hits, memory hits and misses, small hot hits served from memory, pipelined
//! requests, a client that leaves mid-body, and the paths that keep copying (HTTP/2 prior
//! knowledge, TLS).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::{Proxy, TestUpstream, client, maven, nonzero, read_head};

const KIB: usize = 1024;
const META: &str = "org/example/zc/maven-metadata.xml";
const METADATA: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata><groupId>org.example</groupId><artifactId>zc</artifactId><versioning><latest>1.0</latest><release>1.0</release><versions><version>1.0</version></versions></versioning></metadata>\n";

fn jar(len: usize) -> String {
    format!("org/example/zc/1.0/zc-1.0-{len}.jar")
}

/// A proxy whose fills are not restarted by a loaded machine (these tests are about hits).
async fn proxy(up: &TestUpstream) -> Proxy {
    let mut repo = maven(&[("a", up, 0)]);
    repo.metadata_ttl = Some(Duration::from_secs(600));
    for u in &mut repo.upstreams {
        u.idle_timeout = Duration::from_secs(30);
    }
    Proxy::start(repo).await
}

/// Puts `len` random bytes at the upstream and fetches them once through `proxy` (a miss).
async fn cached(up: &TestUpstream, proxy: &Proxy, len: usize) -> Bytes {
    let body = nonzero(len, len as u64);
    up.put(&jar(len), body.clone());
    let got = proxy.get(&format!("maven/{}", jar(len))).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert!(
        got.bytes().await.unwrap() == body,
        "the miss of {len} bytes"
    );
    proxy.wait_for_hit(&format!("maven/{}", jar(len))).await;
    body
}

/// One response read off a raw HTTP/1.1 connection.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response; `head` says it answers a HEAD (no body whatever its length).
async fn read_answer(conn: &mut BufReader<TcpStream>, head: bool) -> Answer {
    let (status, headers) = read_head(conn).await;
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if !head && status != 304 {
        let len: usize = answer.header("content-length").unwrap().parse().unwrap();
        answer.body = vec![0; len];
        conn.read_exact(&mut answer.body).await.unwrap();
    }
    answer
}

fn get(path: &str, extra: &str) -> String {
    format!("GET /maven/{path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

async fn connect(proxy: &Proxy) -> BufReader<TcpStream> {
    let addr = format!(
        "{}:{}",
        proxy.url.host_str().unwrap(),
        proxy.url.port().unwrap()
    );
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

#[tokio::test]
async fn file_hits_of_every_size_around_a_segment_are_exact() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    let c = client();
    for len in [
        1,
        255 * KIB,
        256 * KIB,
        256 * KIB + 1,
        3_000_000,
        20_000_000,
    ] {
        let body = cached(&up, &proxy, len).await;
        for _ in 0..2 {
            let r = c
                .get(proxy.at(&format!("maven/{}", jar(len))))
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["x-repox-cache"], "hit", "{len}");
            assert_eq!(r.version(), http::Version::HTTP_11);
            assert!(r.bytes().await.unwrap() == body, "hit of {len} bytes");
        }
        assert_eq!(up.count(Method::GET, &jar(len)), 1);
    }
}

#[tokio::test]
async fn ranges_head_and_conditionals_of_file_hits_are_exact() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    let len = 3_000_000;
    let body = cached(&up, &proxy, len).await;
    let mut conn = connect(&proxy).await;
    let path = jar(len);
    let seg = 256 * KIB;
    // First byte, last byte, a suffix, across one and several segment boundaries, to the end.
    for (spec, start, end) in [
        ("0-0", 0, 1),
        ("2999999-2999999", len - 1, len),
        ("-1", len - 1, len),
        ("-300000", len - 300_000, len),
        (&format!("{}-{}", seg - 1, seg) as &str, seg - 1, seg + 1),
        (
            &format!("{}-{}", seg - 10, 3 * seg + 10),
            seg - 10,
            3 * seg + 11,
        ),
        ("2000000-", 2_000_000, len),
    ] {
        conn.get_mut()
            .write_all(get(&path, &format!("Range: bytes={spec}\r\n")).as_bytes())
            .await
            .unwrap();
        let a = read_answer(&mut conn, false).await;
        assert_eq!(a.status, 206, "{spec}");
        assert_eq!(
            a.header("content-range").unwrap(),
            format!("bytes {}-{}/{len}", start, end - 1),
            "{spec}"
        );
        assert!(a.body == body[start..end], "{spec}");
    }
    conn.get_mut()
        .write_all(get(&path, "").as_bytes())
        .await
        .unwrap();
    let whole = read_answer(&mut conn, false).await;
    assert!(whole.body == body);
    let etag = whole.header("etag").unwrap().to_owned();
    let modified = whole.header("last-modified").unwrap().to_owned();
    // If-Range: the current validator gets the range, another one the whole body.
    for (if_range, status, want) in [
        (etag.as_str(), 206, &body[10..20]),
        ("\"other\"", 200, &body[..]),
        (modified.as_str(), 206, &body[10..20]),
    ] {
        let extra = format!("Range: bytes=10-19\r\nIf-Range: {if_range}\r\n");
        conn.get_mut()
            .write_all(get(&path, &extra).as_bytes())
            .await
            .unwrap();
        let a = read_answer(&mut conn, false).await;
        assert_eq!(a.status, status, "{if_range}");
        assert!(a.body == want, "{if_range}");
    }
    // 304 and HEAD carry no body, and the connection goes on with the next answer intact.
    let extra = format!("If-None-Match: {etag}\r\n");
    conn.get_mut()
        .write_all(get(&path, &extra).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answer(&mut conn, false).await.status, 304);
    let head = format!("HEAD /maven/{path} HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n");
    conn.get_mut().write_all(head.as_bytes()).await.unwrap();
    let a = read_answer(&mut conn, true).await;
    assert_eq!((a.status, a.header("content-length")), (206, Some("10")));
    conn.get_mut()
        .write_all(get(&path, "Range: bytes=-5\r\n").as_bytes())
        .await
        .unwrap();
    assert!(read_answer(&mut conn, false).await.body == body[len - 5..]);
    assert_eq!(up.count(Method::GET, &path), 1);
}

/// Hot small artifacts are served from bytes in memory (`store/fs/hot.rs`), head and body in
/// one write: the same answers as from a file, on either side of the bound (16 KiB).
#[tokio::test]
async fn ranges_head_and_conditionals_of_small_hot_hits_are_exact() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    for len in [1, 3000, 9000, 16 * KIB, 16 * KIB + 1, 40_000] {
        let body = cached(&up, &proxy, len).await;
        let path = jar(len);
        let mut conn = connect(&proxy).await;
        // Made hot by the first reads, then served hot.
        for _ in 0..3 {
            conn.get_mut()
                .write_all(get(&path, "").as_bytes())
                .await
                .unwrap();
            let a = read_answer(&mut conn, false).await;
            assert_eq!((a.status, a.header("x-repox-cache")), (200, Some("hit")));
            assert!(a.body == body, "{len}");
        }
        let etag = {
            conn.get_mut()
                .write_all(get(&path, "Range: bytes=0-0\r\n").as_bytes())
                .await
                .unwrap();
            let a = read_answer(&mut conn, false).await;
            assert_eq!(a.status, 206, "{len}");
            assert_eq!(
                a.header("content-range").unwrap(),
                format!("bytes 0-0/{len}"),
                "{len}"
            );
            assert!(a.body == body[..1], "{len}");
            a.header("etag").unwrap().to_owned()
        };
        let last = len - 1;
        let mid = len / 3;
        for (spec, start, end) in [
            (format!("-{}", len.min(7)), len - len.min(7), len),
            (format!("{mid}-{last}"), mid, len),
            (format!("{mid}-"), mid, len),
        ] {
            let extra = format!("Range: bytes={spec}\r\nIf-Range: {etag}\r\n");
            conn.get_mut()
                .write_all(get(&path, &extra).as_bytes())
                .await
                .unwrap();
            let a = read_answer(&mut conn, false).await;
            assert_eq!(a.status, 206, "{len} {spec}");
            assert!(a.body == body[start..end], "{len} {spec}");
        }
        conn.get_mut()
            .write_all(get(&path, &format!("Range: bytes={len}-\r\n")).as_bytes())
            .await
            .unwrap();
        assert_eq!(read_answer(&mut conn, false).await.status, 416, "{len}");
        conn.get_mut()
            .write_all(get(&path, &format!("If-None-Match: {etag}\r\n")).as_bytes())
            .await
            .unwrap();
        assert_eq!(read_answer(&mut conn, false).await.status, 304, "{len}");
        let head = format!("HEAD /maven/{path} HTTP/1.1\r\nHost: t\r\n\r\n");
        conn.get_mut().write_all(head.as_bytes()).await.unwrap();
        let a = read_answer(&mut conn, true).await;
        let want = len.to_string();
        assert_eq!((a.status, a.header("content-length")), (200, Some(&*want)));
        // Pipelined: two whole bodies back to back, the connection intact after a HEAD.
        let two = format!("{}{}", get(&path, ""), get(&path, ""));
        conn.get_mut().write_all(two.as_bytes()).await.unwrap();
        for _ in 0..2 {
            assert!(read_answer(&mut conn, false).await.body == body, "{len}");
        }
        assert_eq!(up.count(Method::GET, &path), 1, "{len}");
    }
}

#[tokio::test]
async fn one_connection_mixes_file_hits_memory_hits_and_misses_also_pipelined() {
    let up = TestUpstream::start().await;
    up.put(META, METADATA);
    let proxy = proxy(&up).await;
    let big = cached(&up, &proxy, 600_000).await;
    let small = cached(&up, &proxy, 5_000).await;
    let metadata = proxy.get(&format!("maven/{META}")).await;
    assert_eq!(metadata.status(), StatusCode::OK);
    let metadata = metadata.bytes().await.unwrap();
    assert!(metadata.starts_with(b"<?xml"));

    // One after the other on one connection: file hit, memory hit, miss, file hits.
    let missed = nonzero(700_000, 99);
    up.put(&jar(700_000), missed.clone());
    let mut conn = connect(&proxy).await;
    for (path, want, cache) in [
        (jar(600_000), &big, "hit"),
        (META.to_owned(), &metadata, "hit"),
        (jar(700_000), &missed, "miss"),
        (jar(5_000), &small, "hit"),
        (jar(700_000), &missed, "hit"),
        (jar(600_000), &big, "hit"),
    ] {
        conn.get_mut()
            .write_all(get(&path, "").as_bytes())
            .await
            .unwrap();
        let a = read_answer(&mut conn, false).await;
        assert_eq!((a.status, a.header("x-repox-cache")), (200, Some(cache)));
        assert!(a.body == want[..], "{path}");
    }

    // The same requests written in one go, with a HEAD and a range among them.
    let mut all = String::new();
    all += &get(&jar(600_000), "");
    all += &get(META, "");
    all += &format!("HEAD /maven/{} HTTP/1.1\r\nHost: t\r\n\r\n", jar(700_000));
    all += &get(&jar(700_000), "Range: bytes=262143-262145\r\n");
    all += &get(&jar(5_000), "");
    all += &get(&jar(600_000), "");
    conn.get_mut().write_all(all.as_bytes()).await.unwrap();
    assert!(read_answer(&mut conn, false).await.body == big);
    assert!(read_answer(&mut conn, false).await.body == metadata);
    let head = read_answer(&mut conn, true).await;
    assert_eq!(head.header("content-length"), Some("700000"));
    assert!(read_answer(&mut conn, false).await.body == missed[262_143..262_146]);
    assert!(read_answer(&mut conn, false).await.body == small);
    assert!(read_answer(&mut conn, false).await.body == big);
    assert_eq!(up.count(Method::GET, &jar(600_000)), 1);
}

#[tokio::test]
async fn clients_that_leave_mid_body_do_not_hurt_the_server() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    let body = cached(&up, &proxy, 20_000_000).await;
    for _ in 0..8 {
        let mut conn = connect(&proxy).await;
        conn.get_mut()
            .write_all(get(&jar(20_000_000), "").as_bytes())
            .await
            .unwrap();
        let mut some = vec![0; 300_000];
        conn.read_exact(&mut some).await.unwrap();
        drop(conn);
    }
    // Half-read connections left open, then a full read on a fresh one.
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut conn = connect(&proxy).await;
        conn.get_mut()
            .write_all(get(&jar(20_000_000), "").as_bytes())
            .await
            .unwrap();
        let mut some = vec![0; 1000];
        conn.read_exact(&mut some).await.unwrap();
        open.push(conn);
    }
    let r = proxy.get(&format!("maven/{}", jar(20_000_000))).await;
    assert!(r.bytes().await.unwrap() == body);
    drop(open);
    let r = proxy.get(&format!("maven/{}", jar(20_000_000))).await;
    assert!(r.bytes().await.unwrap() == body);
}

#[tokio::test]
async fn http2_prior_knowledge_gets_the_same_bytes() {
    let up = TestUpstream::start().await;
    let proxy = proxy(&up).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for len in [1, 256 * KIB + 1, 3_000_000] {
        let body = cached(&up, &proxy, len).await;
        let r = h2
            .get(proxy.at(&format!("maven/{}", jar(len))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2);
        assert_eq!(r.headers()["x-repox-cache"], "hit");
        assert!(r.bytes().await.unwrap() == body, "{len}");
        let r = h2
            .get(proxy.at(&format!("maven/{}", jar(len))))
            .header(header::RANGE, "bytes=-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert!(r.bytes().await.unwrap() == body[len - 1..]);
    }
}

#[tokio::test]
async fn tls_gets_the_same_bytes() {
    let up = TestUpstream::start().await;
    let len = 3_000_000;
    let body = nonzero(len, 5);
    up.put(&jar(len), body.clone());
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut repo = maven(&[("a", &up, 0)]);
    repo.upstreams[0].idle_timeout = Duration::from_secs(30);
    let name: repox_proxy::config::RepoName = serde_json::from_value("maven".into()).unwrap();
    let config = repox_proxy::config::Config {
        server: repox_proxy::config::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            tls_cert: Some(cert_path),
            tls_key: Some(key_path),
            ..Default::default()
        },
        repositories: [(name, repo)].into_iter().collect(),
        auth: Default::default(),
        storage: Default::default(),
    };
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let port = server.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([root])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/maven/{}", jar(len));
    for cache in ["miss", "hit", "hit"] {
        let r = https.get(&url).send().await.unwrap();
        assert_eq!(r.headers()["x-repox-cache"], cache);
        assert!(r.bytes().await.unwrap() == body);
    }
    let r = https
        .get(&url)
        .header(header::RANGE, "bytes=262143-262144")
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.unwrap() == body[262_143..262_145]);
    let _ = stop.send(());
    let _ = task.await;
}
