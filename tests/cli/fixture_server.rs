//! A real HTTP upstream for end-to-end tests: it serves the files below a directory and counts
//! the requests it gets per path, so a test can assert that a client run never reached upstream.
//!
//! It owns a small tokio runtime, so synchronous tests that drive child processes (`repox serve`,
//! `mvn`, `repox warm`) can use it without becoming async. Symlinks are followed: Debian's
//! `/usr/share/maven-repo` is mostly links into `/usr/share/java`.
//!
//! A directory answers with its `index.json` or `index.html` (npm packuments, PyPI pages),
//! `{{UPSTREAM}}` in JSON and HTML is replaced by the server's own URL (registries put absolute
//! URLs in their documents), and a missing `X.sha1` is computed from `X`, as Maven Central has
//! one next to every file; this lets both repox and Maven verify what they download.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};

/// A static file server on `127.0.0.1:<free port>`, stopped when dropped.
pub struct FixtureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    root: PathBuf,
    base: String,
    requests: Mutex<BTreeMap<String, usize>>,
    /// Send each file's modification time as `Last-Modified`.
    last_modified: bool,
}

impl FixtureServer {
    /// Serves `root`.
    pub fn start(root: &Path) -> FixtureServer {
        FixtureServer::serve(root, false)
    }

    /// Serves `root` with each file's modification time as `Last-Modified` (as Maven Central
    /// sends its upload time), for tests of repox's release cooldown.
    pub fn start_with_last_modified(root: &Path) -> FixtureServer {
        FixtureServer::serve(root, true)
    }

    fn serve(root: &Path, last_modified: bool) -> FixtureServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fixture server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fixture server");
        let addr = listener.local_addr().expect("fixture server address");
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            base: format!("http://{addr}"),
            requests: Mutex::default(),
            last_modified,
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FixtureServer {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Base URL, with a trailing `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Requests so far, by path below the root (`HEAD path` for HEAD requests; every status).
    pub fn requests(&self) -> BTreeMap<String, usize> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests were made for `path` (`HEAD path` for HEAD requests).
    pub fn count(&self, path: &str) -> usize {
        self.requests().get(path).copied().unwrap_or(0)
    }

    /// Stops serving: later connections are refused.
    pub fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    // npm spells scoped names `@scope%2fname`.
    let path = uri
        .path()
        .trim_start_matches('/')
        .replace("%2f", "/")
        .replace("%2F", "/");
    let key = if method == Method::HEAD {
        format!("HEAD {path}")
    } else {
        path.clone()
    };
    *shared.requests.lock().unwrap().entry(key).or_default() += 1;
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some((body, content_type)) = read(&shared, &path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = body.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, len);
    if shared.last_modified
        && let Ok(modified) = tokio::fs::metadata(shared.root.join(&path))
            .await
            .and_then(|m| m.modified())
    {
        resp = resp.header(header::LAST_MODIFIED, httpdate::fmt_http_date(modified));
    }
    resp.body(body).expect("valid response")
}

/// The bytes for `path` and their content type: the file (or the index of a directory), or the
/// SHA-1 of its base file for a missing `.sha1`.
async fn read(shared: &Shared, path: &str) -> Option<(Vec<u8>, &'static str)> {
    // Only plain relative paths: no `..`, no empty or dot segments (but the trailing `/` of a
    // directory), nothing left to decode.
    let safe = path
        .strip_suffix('/')
        .unwrap_or(path)
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['%', '\\']));
    if !safe {
        return None;
    }
    let full = shared.root.join(path.trim_end_matches('/'));
    let (file, kind) = if full.is_dir() {
        if full.join("index.json").is_file() {
            (full.join("index.json"), "application/json")
        } else {
            (full.join("index.html"), "text/html")
        }
    } else if path.ends_with(".json") {
        (full, "application/json")
    } else {
        (full, "application/octet-stream")
    };
    if let Ok(bytes) = tokio::fs::read(&file).await {
        if kind == "application/octet-stream" {
            return Some((bytes, kind));
        }
        let text = String::from_utf8_lossy(&bytes).replace("{{UPSTREAM}}", &shared.base);
        return Some((text.into_bytes(), kind));
    }
    let base = path.strip_suffix(".sha1")?;
    let bytes = tokio::fs::read(shared.root.join(base)).await.ok()?;
    let digest = Sha1::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some((hex.into_bytes(), "text/plain"))
}

#[test]
fn fixture_server_serves_files_synthesizes_sha1_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("g/a/1.0")).unwrap();
    fs_err::write(dir.path().join("g/a/1.0/a-1.0.jar"), b"hello").unwrap();
    let server = FixtureServer::start(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let fetch = |method: reqwest::Method, path: &str| {
        let request = client.request(method, format!("{}{path}", server.url()));
        runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let length = response.headers().get("content-length").cloned();
            (status, length, response.bytes().await.unwrap())
        })
    };
    let (status, _, body) = fetch(reqwest::Method::GET, "g/a/1.0/a-1.0.jar");
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
    let (status, _, body) = fetch(reqwest::Method::GET, "g/a/1.0/a-1.0.jar.sha1");
    assert_eq!(status, 200);
    assert_eq!(body, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
    let (status, length, body) = fetch(reqwest::Method::HEAD, "g/a/1.0/a-1.0.jar");
    assert_eq!(
        (status, length.unwrap(), body.len()),
        (200, "5".parse().unwrap(), 0)
    );
    assert_eq!(fetch(reqwest::Method::GET, "g/a/1.0/a-1.0.jar.md5").0, 404);
    for unsafe_path in ["g/../g/a/1.0/a-1.0.jar", "/etc/passwd", "g//a", "g/a%2F1.0"] {
        assert_eq!(runtime.block_on(read(&server.shared, unsafe_path)), None);
    }
    assert_eq!(server.count("g/a/1.0/a-1.0.jar"), 1);
    assert_eq!(server.count("HEAD g/a/1.0/a-1.0.jar"), 1);
    assert_eq!(server.count("g/a/1.0/a-1.0.jar.md5"), 1);
}
