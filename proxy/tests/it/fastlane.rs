//! The HTTP/1.1 fast lane (`edge/h1.rs`) on a running server: it serves plain GET/HEAD itself,
//! pipelined or one after another, and hands a connection to hyper at the first request it does
//! not serve (an upload, HTTP/1.0, a head too large, a head with both `Content-Length` and
//! `Transfer-Encoding`), which then answers as it always did. `Connection: close` closes, and a
//! graceful stop does not wait for idle keep-alive connections.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{AuthConfig, Config, Kind, RepositoryConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::hosted_pypi::basic;
use crate::policy_support::name;
use crate::support::{Proxy, TestUpstream, maven, nonzero, read_head};

const JAR: &str = "org/example/fl/1.0/fl-1.0.jar";

/// A proxy of an upstream serving [`JAR`] (`len` bytes), with the jar cached.
async fn proxy_with_hit(len: usize) -> (TestUpstream, Proxy, Bytes) {
    let up = TestUpstream::start().await;
    let body = nonzero(len, 7);
    up.put(JAR, body.clone());
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let got = proxy.get(&format!("maven/{JAR}")).await;
    assert!(got.bytes().await.unwrap() == body);
    proxy.wait_for_hit(&format!("maven/{JAR}")).await;
    (up, proxy, body)
}

async fn connect(url: &url::Url) -> BufReader<TcpStream> {
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

/// One response: status, headers, and the body its `Content-Length` says (none for `HEAD`).
async fn response(
    conn: &mut BufReader<TcpStream>,
    head: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (status, headers) = read_head(conn).await;
    let mut body = Vec::new();
    if !head
        && let Some((_, len)) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        body = vec![0; len.parse().unwrap()];
        conn.read_exact(&mut body).await.unwrap();
    }
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The connection is closed: no more bytes come, within a bound.
async fn closed(conn: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await,
        Ok(Ok(0))
    )
}

#[tokio::test]
async fn pipelined_gets_and_a_head_are_answered_in_order() {
    let (_up, proxy, body) = proxy_with_hit(100_000).await;
    let mut conn = connect(&proxy.url).await;
    let get = format!("GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = format!("HEAD /maven/{JAR} HTTP/1.1\r\nHost: t\r\n\r\n");
    let all = format!("{get}{head}{get}GET /-/health HTTP/1.1\r\nHost: t\r\n\r\n");
    conn.get_mut().write_all(all.as_bytes()).await.unwrap();
    let (status, headers, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-repox-cache"), Some("hit"));
    assert!(header(&headers, "date").is_some());
    assert!(got == body);
    // HEAD: the GET's length and no body (the next response follows at once).
    let (status, headers, _) = response(&mut conn, true).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), Some("100000"));
    let (status, _, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert!(got == body);
    let (status, _, _) = response(&mut conn, false).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn connection_close_closes_after_the_response() {
    let (_up, proxy, body) = proxy_with_hit(5_000).await;
    let mut conn = connect(&proxy.url).await;
    let get = format!("GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    conn.get_mut().write_all(get.as_bytes()).await.unwrap();
    let (status, headers, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(got == body);
    assert!(closed(&mut conn).await, "the connection stayed open");
}

#[tokio::test]
async fn http_1_0_is_answered_by_hyper_as_before() {
    let (_up, proxy, body) = proxy_with_hit(5_000).await;
    let mut conn = connect(&proxy.url).await;
    // A lane request first, then HTTP/1.0 on the same connection.
    let get =
        format!("GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\n\r\nGET /maven/{JAR} HTTP/1.0\r\n\r\n");
    conn.get_mut().write_all(get.as_bytes()).await.unwrap();
    let (status, _, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert!(got == body);
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut conn, &mut line)
        .await
        .unwrap();
    assert!(line.starts_with("HTTP/1.0 200"), "{line:?}");
}

#[tokio::test]
async fn a_head_over_the_limit_gets_431() {
    let (_up, proxy, _body) = proxy_with_hit(10).await;
    let mut conn = connect(&proxy.url).await;
    let big = format!(
        "GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = conn.get_mut().write_all(big.as_bytes()).await;
    let (status, _) = read_head(&mut conn).await;
    assert_eq!(status, 431);
}

/// With both headers the body is chunked and the connection closes after the response (hyper's
/// answer to a possible request smuggling, RFC 9112 6.1/6.3). The lane serving the head would
/// keep the connection and take the chunked body for the next request.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_never_the_lanes() {
    let (_up, proxy, body) = proxy_with_hit(5_000).await;
    let mut conn = connect(&proxy.url).await;
    let smuggle = format!(
        "GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /maven/{JAR} HTTP/1.1\r\nHost: t\r\n\r\n"
    );
    conn.get_mut().write_all(smuggle.as_bytes()).await.unwrap();
    let (status, headers, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert!(got == body);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(closed(&mut conn).await, "the connection stayed open");
}

#[tokio::test]
async fn an_upload_after_a_get_on_one_connection_goes_to_hyper_with_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let mut file = UsersFile::default();
    file.add_user("alice", Role::Write, Some("alice-pw"), BTreeMap::new())
        .unwrap();
    file.save(&users).unwrap();
    let hosted = RepositoryConfig {
        hosted: true,
        ..RepositoryConfig::new(Kind::Maven)
    };
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            ..ServerConfig::default()
        },
        repositories: BTreeMap::from([(name("releases"), hosted)]),
        auth: AuthConfig {
            users_file: Some(users),
            ..AuthConfig::default()
        },
        storage: Default::default(),
    };
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));

    let auth = basic("alice", "alice-pw");
    let jar = nonzero(70_000, 3);
    let mut conn = connect(&url).await;
    let path = "/releases/org/x/up/1.0/up-1.0.jar";
    conn.get_mut()
        .write_all(b"GET /-/health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut conn, false).await.0, 200);
    let put = format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n",
        jar.len()
    );
    conn.get_mut().write_all(put.as_bytes()).await.unwrap();
    conn.get_mut().write_all(&jar).await.unwrap();
    let (status, _, _) = response(&mut conn, false).await;
    assert_eq!(status, 201);
    let get = format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\n\r\n");
    conn.get_mut().write_all(get.as_bytes()).await.unwrap();
    let (status, _, got) = response(&mut conn, false).await;
    assert_eq!(status, 200);
    assert!(
        got == jar,
        "the uploaded bytes, on the connection hyper took over"
    );
}

#[tokio::test]
async fn a_graceful_stop_does_not_wait_for_an_idle_keep_alive_connection() {
    let (_up, proxy, _body) = proxy_with_hit(5_000).await;
    let mut conn = connect(&proxy.url).await;
    let get = format!("GET /maven/{JAR} HTTP/1.1\r\nHost: t\r\n\r\n");
    conn.get_mut().write_all(get.as_bytes()).await.unwrap();
    assert_eq!(response(&mut conn, false).await.0, 200);
    // Idle, kept alive: the stop closes it instead of waiting (10 s at most).
    let started = Instant::now();
    proxy.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stop waited {:?}",
        started.elapsed()
    );
    assert!(closed(&mut conn).await);
}
