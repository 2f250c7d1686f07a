//! What the `repox warm` end-to-end tests share: a fixture upstream serving a directory tree
//! (the registries the warm fills repox from), a repox config naming it, the `repox warm`
//! command, and `repox serve` on the warmed cache for a real client once the upstream is gone.
//!
//! The upstream serves `tests/fixtures/warm/e2e/upstream` (built by its `build.py`): a directory
//! answers with its `index.json` or `index.html` (npm packuments, PyPI pages), `{{UPSTREAM}}` in
//! JSON and HTML is replaced by the server's own URL (registries put absolute URLs in their
//! documents), a missing `X.sha1` is computed from `X` (as Maven Central has one next to every
//! file), and every request is counted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};

/// The e2e fixture tree.
pub fn e2e(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/warm/e2e")
        .join(rel)
}

/// A static upstream on `127.0.0.1:<free port>`, stopped when dropped.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    root: PathBuf,
    base: String,
    requests: Mutex<BTreeMap<String, usize>>,
}

impl Upstream {
    pub fn start(root: &Path) -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("upstream runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the upstream");
        let addr = listener.local_addr().expect("upstream address");
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            base: format!("http://{addr}"),
            requests: Mutex::default(),
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Upstream {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Requests so far, by path (`HEAD path` for HEAD requests; every status).
    pub fn requests(&self) -> BTreeMap<String, usize> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Stops serving: later connections are refused.
    pub fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Upstream {
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
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .expect("valid response")
}

async fn read(shared: &Shared, path: &str) -> Option<(Vec<u8>, &'static str)> {
    let safe = path.split('/').enumerate().all(|(i, s)| {
        (i > 0 || !s.is_empty()) && s != "." && s != ".." && !s.contains(['%', '\\'])
    });
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

/// A free loopback port (bound and released: good enough for a test's config).
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("find a free port")
        .local_addr()
        .unwrap()
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

/// `repox serve` with `config`, for clients; killed on drop.
pub struct Serve {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Serve {
    /// Starts it and waits for `/-/health`. The listen address comes from the config.
    pub fn start(config: &Path) -> Serve {
        let text = fs_err::read_to_string(config).unwrap();
        let listen = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("listen in config");
        let addr: SocketAddr = listen.parse().unwrap();
        let log = config.with_file_name("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_repox"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("REPOX_OFFLINE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs_err::File::create(&log).unwrap().into_file())
            .spawn()
            .expect("start repox serve");
        let serve = Serve { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_status(addr, "/-/health") == Some(200) {
                return serve;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("repox serve did not start:\n{}", serve.log());
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn log(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether a log line containing `needle` appears within a few seconds: repox writes its
    /// log in batches, a moment after the requests.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// True when `program --version` runs; otherwise says the test is skipped (and fails in CI,
/// where `.ci/run` installs the clients).
pub fn have(program: &str, install: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let message = format!("needs `{program}`: {install}");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("skipped: {message}");
    }
    ok
}

/// Runs a client command, failing with its output (and repox's log) unless it succeeds.
pub fn run_client(command: &mut Command, serve: &Serve, what: &str) -> Output {
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
