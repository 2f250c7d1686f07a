//! Test upstreams and a proxy harness. Upstreams are real HTTP servers on 127.0.0.1 that log
//! every request and can be told to be slow, hang, stall mid-body, answer 404/500, or serve an
//! HTML page instead of the file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use repox_proxy::config::{Config, Kind, RepoName, RepositoryConfig, ServerConfig, UpstreamConfig};
use sha1::{Digest, Sha1};
use tokio::sync::oneshot;
use url::Url;

/// How a test upstream answers one path.
#[derive(Debug, Clone)]
pub struct Behavior {
    pub delay: Duration,
    pub status: Option<u16>,
    pub hang: bool,
    pub html: bool,
    pub ranges: bool,
    /// On the first full GET: send this many bytes, then stop sending (but keep the connection).
    pub stall_after: Option<usize>,
    /// Send the body in 16 KiB chunks with this pause between them.
    pub chunk_delay: Option<Duration>,
    pub checksum_header: bool,
    /// `Last-Modified` sent instead of `Tue, 02 Jan 2024 03:04:05 GMT`.
    pub last_modified: Option<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            delay: Duration::ZERO,
            status: None,
            hang: false,
            html: false,
            ranges: true,
            stall_after: None,
            chunk_delay: None,
            checksum_header: false,
            last_modified: None,
        }
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct UpState {
    files: Mutex<HashMap<String, Bytes>>,
    behaviors: Mutex<HashMap<String, Behavior>>,
    default: Mutex<Behavior>,
    stalled: Mutex<Vec<String>>,
    log: Mutex<Vec<Logged>>,
}

/// An upstream repository on 127.0.0.1.
pub struct TestUpstream {
    pub url: Url,
    state: Arc<UpState>,
}

impl TestUpstream {
    pub async fn start() -> TestUpstream {
        let state = Arc::new(UpState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestUpstream {
            url: Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
        }
    }

    /// Serves `body` at `path` (no leading slash).
    pub fn put(&self, path: &str, body: impl Into<Bytes>) -> &Self {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.into());
        self
    }

    /// Serves `body` at `path` and its SHA-1 at `path.sha1`.
    pub fn put_with_sha1(&self, path: &str, body: impl Into<Bytes>) -> &Self {
        let body = body.into();
        let sha1 = hex::encode(Sha1::digest(&body));
        self.put(&format!("{path}.sha1"), sha1);
        self.put(path, body)
    }

    pub fn behave(&self, path: &str, behavior: Behavior) -> &Self {
        self.state
            .behaviors
            .lock()
            .unwrap()
            .insert(path.to_owned(), behavior);
        self
    }

    pub fn behave_always(&self, behavior: Behavior) -> &Self {
        *self.state.default.lock().unwrap() = behavior;
        self
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests with `method` for `path`.
    pub fn count(&self, method: Method, path: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == method && l.path == path)
            .count()
    }

    pub fn total(&self) -> usize {
        self.log().len()
    }
}

async fn handle(State(st): State<Arc<UpState>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let headers = req.headers().clone();
    st.log.lock().unwrap().push(Logged {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
    });
    let b = st
        .behaviors
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_else(|| st.default.lock().unwrap().clone());
    tokio::time::sleep(b.delay).await;
    if b.hang {
        std::future::pending::<()>().await;
    }
    if let Some(status) = b.status {
        return (StatusCode::from_u16(status).unwrap(), "upstream says no").into_response();
    }
    if b.html {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Index of /</body></html>",
        )
            .into_response();
    }
    let Some(body) = st.files.lock().unwrap().get(&path).cloned() else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = format!("\"{}\"", &hex::encode(Sha1::digest(&body))[..16]);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap() == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut resp = Response::builder()
        .header(
            header::LAST_MODIFIED,
            b.last_modified
                .as_deref()
                .unwrap_or("Tue, 02 Jan 2024 03:04:05 GMT"),
        )
        .header(header::ETAG, &etag)
        .header(header::CONTENT_TYPE, "application/java-archive");
    if b.ranges {
        resp = resp.header(header::ACCEPT_RANGES, "bytes");
    }
    if b.checksum_header {
        resp = resp.header("x-checksum-sha1", hex::encode(Sha1::digest(&body)));
    }
    let range_start = headers
        .get(header::RANGE)
        .and_then(|v| {
            v.to_str()
                .ok()?
                .strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        })
        .filter(|_| b.ranges);
    let (status, body) = match range_start {
        Some(start) if start < body.len() => {
            resp = resp.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
            );
            (StatusCode::PARTIAL_CONTENT, body.slice(start..))
        }
        _ => (StatusCode::OK, body),
    };
    resp = resp
        .status(status)
        .header(header::CONTENT_LENGTH, body.len());
    if method == Method::HEAD {
        return resp.body(Body::empty()).unwrap();
    }
    let stall = b.stall_after.filter(|_| {
        let mut stalled = st.stalled.lock().unwrap();
        let first = range_start.is_none() && !stalled.contains(&path);
        if first {
            stalled.push(path.clone());
        }
        first
    });
    if let Some(n) = stall {
        let head = body.slice(..n.min(body.len()));
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) })
            .chain(futures_util::stream::pending());
        return resp.body(Body::from_stream(stream)).unwrap();
    }
    if let Some(pause) = b.chunk_delay {
        let chunks: Vec<Bytes> = body.chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
        let stream = futures_util::stream::iter(chunks).then(move |c| async move {
            tokio::time::sleep(pause).await;
            Ok::<_, std::io::Error>(c)
        });
        return resp.body(Body::from_stream(stream)).unwrap();
    }
    resp.body(Body::from(body)).unwrap()
}

use futures_util::StreamExt;

/// A Maven repository config over `upstreams` (name, upstream, priority).
pub fn maven(upstreams: &[(&str, &TestUpstream, i32)]) -> RepositoryConfig {
    RepositoryConfig {
        kind: Kind::Maven,
        negative_ttl: None,
        metadata_ttl: None,
        index_ttl: None,
        block: Vec::new(),
        min_age: None,
        min_age_exempt: Vec::new(),
        deny: Vec::new(),
        max_file_size: None,
        max_download_time: None,
        min_rate: None,
        generate_metadata: None,
        upstreams: upstreams
            .iter()
            .map(|(name, up, priority)| {
                let mut u = UpstreamConfig::new(name, up.url.clone());
                u.priority = *priority;
                u.idle_timeout = Duration::from_millis(500);
                u.connect_timeout = Duration::from_millis(500);
                u
            })
            .collect(),
        ..RepositoryConfig::new(Kind::Maven)
    }
}

/// A running proxy on 127.0.0.1 with its own cache directory.
pub struct Proxy {
    pub url: Url,
    pub cache: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(repo: RepositoryConfig) -> Proxy {
        Proxy::start_in(Arc::new(tempfile::tempdir().unwrap()), repo, false).await
    }

    pub async fn start_in(
        cache: Arc<tempfile::TempDir>,
        repo: RepositoryConfig,
        offline: bool,
    ) -> Proxy {
        Proxy::start_repos_in(cache, vec![("maven", repo)], offline).await
    }

    /// A proxy serving each `(name, config)` at `/name/`.
    pub async fn start_repos(repos: Vec<(&str, RepositoryConfig)>) -> Proxy {
        Proxy::start_repos_in(Arc::new(tempfile::tempdir().unwrap()), repos, false).await
    }

    /// [`Proxy::start_repos`] over an existing cache directory.
    pub async fn start_repos_in(
        cache: Arc<tempfile::TempDir>,
        repos: Vec<(&str, RepositoryConfig)>,
        offline: bool,
    ) -> Proxy {
        let mut repositories = std::collections::BTreeMap::new();
        for (name, repo) in repos {
            let name: RepoName = serde_json::from_value(serde_json::json!(name)).unwrap();
            repositories.insert(name, repo);
        }
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(cache.path().to_owned()),
                offline,
                ..ServerConfig::default()
            },
            repositories,
            auth: Default::default(),
            storage: Default::default(),
        };
        let server = bind(config).await;
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Proxy {
            url,
            cache,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it is gone.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.task.take().unwrap().await;
        self.cache.clone()
    }

    pub fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    /// `GET path` with a fresh [`client`].
    pub async fn get(&self, path: &str) -> reqwest::Response {
        client().get(self.at(path)).send().await.unwrap()
    }

    /// `GET path` until it is served from the cache: a body of 8 MiB or more is committed just
    /// after its last byte (its recorded-only digests are computed from the staged file first).
    pub async fn wait_for_hit(&self, path: &str) -> reqwest::Response {
        for _ in 0..200 {
            let resp = self.get(path).await;
            if resp
                .headers()
                .get("x-repox-cache")
                .is_some_and(|v| v == "hit")
            {
                return resp;
            }
            let _ = resp.bytes().await;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{path} was never committed");
    }
}

/// `Server::bind`, for a test that starts a server again on the cache directory of one it has
/// just stopped. The stopped server's cache lock (an `flock`, see `lock.rs`) is released only
/// when every copy of its file descriptor is closed, and a child process another test spawns
/// at that moment holds a copy from its fork until its `exec`: on a loaded machine a start
/// right after a stop can find the directory still locked (600 stop-and-start rounds beside a
/// thread spawning `true` in a loop hit it often enough to wait 264 times). So a lock held is
/// waited for, 5 s at most; any other error fails the test at once.
pub async fn bind(config: Config) -> repox_proxy::Server {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match repox_proxy::Server::bind(config.clone()).await {
            Ok(server) => return server,
            Err(repox_proxy::StartError::Locked(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("the test server does not start: {e:?}"),
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The response says it never changes (`Cache-Control: immutable`).
#[track_caller]
pub fn assert_immutable(response: &reqwest::Response) {
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
}

/// Runs a client command without blocking the runtime the proxy lives on; panics with its
/// output when it fails.
pub async fn run(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// `len` random bytes, none of them zero: a zero-copy placeholder or a gap that leaked into a
/// body shows as zeros.
pub fn nonzero(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 255) as u8 + 1
        })
        .collect::<Vec<u8>>()
        .into()
}

/// The status and headers (names and values trimmed) of one response read off a raw HTTP/1.1
/// connection, up to the blank line.
pub async fn read_head(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
) -> (u16, Vec<(String, String)>) {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    conn.read_line(&mut line).await.unwrap();
    let status: u16 = line
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    (status, headers)
}
