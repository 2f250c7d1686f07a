//! A fixture package index on 127.0.0.1 for the PyPI tests: project pages in PEP 691 JSON or
//! PEP 503 HTML, the root index, the legacy JSON API, and the files themselves (with PEP 658
//! `.metadata`, HEAD and Range), all logged so tests can count what reached the upstream. It can
//! list its files on its own host (relative links), on another host, or on
//! `files.pythonhosted.org` (repox then reaches it by using this server as its HTTP proxy).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use repox_proxy::config::{Kind, RepositoryConfig, UpstreamConfig};
use sha2::{Digest, Sha256};
use url::Url;

use crate::support::Logged;

/// One distribution file the index serves.
#[derive(Debug, Clone)]
pub struct Dist {
    /// Normalized project name.
    pub project: String,
    pub filename: String,
    pub body: Bytes,
    pub sha256: String,
    /// PEP 658 metadata, when the index offers it.
    pub metadata: Option<Bytes>,
    /// PEP 592 yank reason.
    pub yanked: Option<String>,
}

impl Dist {
    pub fn new(project: &str, filename: &str, body: impl Into<Bytes>) -> Dist {
        let body = body.into();
        Dist {
            project: project.to_owned(),
            filename: filename.to_owned(),
            sha256: hex::encode(Sha256::digest(&body)),
            body,
            metadata: None,
            yanked: None,
        }
    }

    /// `packages/ab/cd/<60 hex>/<filename>` (the pythonhosted shape, from the sha256 here).
    pub fn path(&self) -> String {
        let h = &self.sha256;
        let name = utf8_percent_encode(&self.filename);
        format!("packages/{}/{}/{}/{name}", &h[..2], &h[2..4], &h[4..])
    }

    /// The version in the filename: its second `-`-separated part, without `.tar.gz`.
    fn version(&self) -> &str {
        self.filename
            .split('-')
            .nth(1)
            .unwrap()
            .trim_end_matches(".tar.gz")
    }
}

fn utf8_percent_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'#')
        .add(b'%')
        .add(b'+')
        .add(b'?');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The checked-in fixtures of `tests/fixtures/pypi/` (see `build.py` there).
pub fn fixture_dists() -> Vec<Dist> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pypi");
    let mut out = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let filename = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !(filename.ends_with(".whl") || filename.ends_with(".tar.gz")) {
            continue;
        }
        let project = filename.split('-').next().unwrap().replace('_', "-");
        let mut d = Dist::new(&project, &filename, std::fs::read(&path).unwrap());
        d.metadata = std::fs::read(dir.join(format!("{filename}.metadata")))
            .ok()
            .map(Bytes::from);
        if filename == "lib_a-2.0-py3-none-any.whl" {
            d.yanked = Some("broken build".into());
        }
        out.push(d);
    }
    out
}

/// How pages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PEP 691 JSON with every optional key (and an unknown one).
    Json,
    /// PEP 503 HTML.
    Html,
}

/// Where pages say the files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileHost {
    /// This server, by relative links (`../../packages/…`).
    Own,
    /// `http://files.pythonhosted.org/packages/…` (needs this server as repox's proxy).
    Pythonhosted,
    /// Another server (absolute links).
    Other(Url),
}

struct IndexState {
    dists: Mutex<Vec<Dist>>,
    mode: Mutex<Mode>,
    host: Mutex<FileHost>,
    log: Mutex<Vec<Logged>>,
    down: AtomicBool,
    /// Ignore `Range` (answer 200 with the whole file), as some mirrors do.
    no_ranges: AtomicBool,
    corrupt: Mutex<HashSet<String>>,
    origin: Url,
}

/// A package index on 127.0.0.1.
pub struct Index {
    /// `http://127.0.0.1:PORT/`.
    pub origin: Url,
    /// `http://127.0.0.1:PORT/simple/`: what repox is configured with.
    pub simple: Url,
    state: Arc<IndexState>,
}

impl Index {
    pub async fn start(mode: Mode, dists: Vec<Dist>) -> Index {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let origin = Url::parse(&format!("http://{addr}/")).unwrap();
        let state = Arc::new(IndexState {
            dists: Mutex::new(dists),
            mode: Mutex::new(mode),
            host: Mutex::new(FileHost::Own),
            log: Mutex::default(),
            down: AtomicBool::new(false),
            no_ranges: AtomicBool::new(false),
            corrupt: Mutex::default(),
            origin: origin.clone(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Index {
            simple: origin.join("simple/").unwrap(),
            origin,
            state,
        }
    }

    pub fn set_host(&self, host: FileHost) {
        *self.state.host.lock().unwrap() = host;
    }

    /// Every request is answered 503 while down.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Answers range requests with the whole file (`200`) while set.
    pub fn set_no_ranges(&self, no_ranges: bool) {
        self.state.no_ranges.store(no_ranges, Ordering::SeqCst);
    }

    /// Serves `filename` with one byte changed (its hash no longer matches the page).
    pub fn corrupt(&self, filename: &str) {
        self.state
            .corrupt
            .lock()
            .unwrap()
            .insert(filename.to_owned());
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests for files or their metadata (paths under `/packages/`).
    pub fn file_requests(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.path.starts_with("packages/"))
            .count()
    }

    /// Requests with `method` for `path` (no leading slash).
    pub fn count(&self, method: Method, path: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == method && l.path == path)
            .count()
    }

    pub fn dist(&self, filename: &str) -> Dist {
        self.state
            .dists
            .lock()
            .unwrap()
            .iter()
            .find(|d| d.filename == filename)
            .unwrap_or_else(|| panic!("no fixture {filename}"))
            .clone()
    }

    /// A `kind = "pypi"` upstream on this index, with short timeouts.
    pub fn upstream(&self, name: &str, priority: i32) -> UpstreamConfig {
        let mut u = UpstreamConfig::new(name, self.simple.clone());
        u.priority = priority;
        u.idle_timeout = Duration::from_secs(2);
        u.connect_timeout = Duration::from_secs(1);
        if *self.state.host.lock().unwrap() == FileHost::Pythonhosted {
            u.proxy = Some(self.origin.clone());
        }
        u
    }
}

/// A `kind = "pypi"` repository over `upstreams`.
pub fn pypi(upstreams: Vec<UpstreamConfig>) -> RepositoryConfig {
    RepositoryConfig {
        kind: Kind::Pypi,
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
        upstreams,
        ..RepositoryConfig::new(Kind::Pypi)
    }
}

fn file_url(st: &IndexState, d: &Dist) -> String {
    match &*st.host.lock().unwrap() {
        FileHost::Own => format!("../../{}", d.path()),
        FileHost::Pythonhosted => format!("http://files.pythonhosted.org/{}", d.path()),
        FileHost::Other(url) => format!("{url}{}", d.path()),
    }
}

fn json_page(st: &IndexState, project: &str, dists: &[&Dist]) -> (String, Bytes) {
    let mut versions: Vec<String> = Vec::new();
    let files: Vec<serde_json::Value> = dists
        .iter()
        .map(|d| {
            let v = d.version();
            if !versions.iter().any(|x| x == v) {
                versions.push(v.to_owned());
            }
            let mut f = serde_json::json!({
                "filename": d.filename,
                "url": file_url(st, d),
                "hashes": {"sha256": d.sha256},
                "requires-python": ">=3.8",
                "size": d.body.len(),
                "upload-time": "2024-01-02T03:04:05.000000Z",
                "yanked": d.yanked.clone().map_or(serde_json::Value::Bool(false), Into::into),
                "x-unknown": {"kept": true},
            });
            if let Some(m) = &d.metadata {
                f["core-metadata"] = serde_json::json!({"sha256": hex::encode(Sha256::digest(m))});
            }
            f
        })
        .collect();
    let body = serde_json::json!({
        "meta": {"api-version": "1.1", "_last-serial": 7},
        "name": project,
        "versions": versions,
        "files": files,
        "project-status": {"status": "active"},
    });
    (
        "application/vnd.pypi.simple.v1+json".into(),
        serde_json::to_vec(&body).unwrap().into(),
    )
}

fn html_page(st: &IndexState, project: &str, dists: &[&Dist]) -> (String, Bytes) {
    let mut out = format!(
        "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {project}</title></head><body>\n"
    );
    for d in dists {
        let mut attrs = String::from(" data-requires-python=\"&gt;=3.8\"");
        if let Some(m) = &d.metadata {
            attrs.push_str(&format!(
                " data-dist-info-metadata=\"sha256={}\"",
                hex::encode(Sha256::digest(m))
            ));
        }
        if let Some(why) = &d.yanked {
            attrs.push_str(&format!(" data-yanked=\"{why}\""));
        }
        out.push_str(&format!(
            "<a href=\"{}#sha256={}\"{attrs}>{}</a><br/>\n",
            file_url(st, d),
            d.sha256,
            d.filename
        ));
    }
    out.push_str("</body></html>\n");
    ("text/html; charset=utf-8".into(), out.into())
}

fn legacy_json(st: &IndexState, project: &str, dists: &[&Dist]) -> Bytes {
    let url = |d: &Dist| st.origin.join(&d.path()).unwrap().to_string();
    let mut releases = serde_json::Map::new();
    for d in dists {
        let v = d.version();
        releases
            .entry(v.to_owned())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"filename": d.filename, "url": url(d)}));
    }
    let body = serde_json::json!({
        "info": {"name": project},
        "urls": dists.iter().map(|d| serde_json::json!({"filename": d.filename, "url": url(d)})).collect::<Vec<_>>(),
        "releases": releases,
    });
    serde_json::to_vec(&body).unwrap().into()
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → [start, end).
fn range(headers: &HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        let n: usize = b.parse().ok()?;
        return Some((len.saturating_sub(n), len));
    }
    let start: usize = a.parse().ok()?;
    let end = if b.is_empty() {
        len
    } else {
        (b.parse::<usize>().ok()? + 1).min(len)
    };
    (start < len).then_some((start, end))
}

fn document(method: &Method, headers: &HeaderMap, content_type: &str, body: Bytes) -> Response {
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap() == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, "max-age=600, public")
        .body(body)
        .unwrap()
}

async fn handle(State(st): State<Arc<IndexState>>, req: Request) -> Response {
    let method = req.method().clone();
    // Absolute-form URIs (requests sent to this server as an HTTP proxy) have the same path.
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let headers = req.headers().clone();
    st.log.lock().unwrap().push(Logged {
        method: method.clone(),
        path: percent_encoding::percent_decode_str(&path)
            .decode_utf8_lossy()
            .into_owned(),
        headers: headers.clone(),
    });
    if st.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let dists = st.dists.lock().unwrap().clone();
    let mode = *st.mode.lock().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    match segments[..] {
        ["simple", ""] => {
            let mut names: Vec<&str> = dists.iter().map(|d| d.project.as_str()).collect();
            names.dedup();
            let (ct, body) = match mode {
                Mode::Json => (
                    "application/vnd.pypi.simple.v1+json",
                    serde_json::to_vec(&serde_json::json!({
                        "meta": {"api-version": "1.0"},
                        "projects": names.iter().map(|n| serde_json::json!({"name": n})).collect::<Vec<_>>(),
                    }))
                    .unwrap(),
                ),
                Mode::Html => (
                    "text/html",
                    names
                        .iter()
                        .map(|n| format!("<a href=\"/simple/{n}/\">{n}</a>\n"))
                        .collect::<String>()
                        .into_bytes(),
                ),
            };
            document(&method, &headers, ct, body.into())
        }
        ["simple", name, ""] => {
            if normalize(name) != name {
                return Response::builder()
                    .status(StatusCode::MOVED_PERMANENTLY)
                    .header(header::LOCATION, format!("/simple/{}/", normalize(name)))
                    .body(Body::empty())
                    .unwrap();
            }
            let listed: Vec<&Dist> = dists.iter().filter(|d| d.project == name).collect();
            if listed.is_empty() {
                return (StatusCode::NOT_FOUND, "no such project").into_response();
            }
            let (ct, body) = match mode {
                Mode::Json => json_page(&st, name, &listed),
                Mode::Html => html_page(&st, name, &listed),
            };
            document(&method, &headers, &ct, body)
        }
        ["pypi", name, "json"] => {
            let listed: Vec<&Dist> = dists.iter().filter(|d| d.project == name).collect();
            if listed.is_empty() {
                return (StatusCode::NOT_FOUND, "no such project").into_response();
            }
            document(
                &method,
                &headers,
                "application/json",
                legacy_json(&st, name, &listed),
            )
        }
        ["packages", ..] => {
            let decoded = percent_encoding::percent_decode_str(&path)
                .decode_utf8_lossy()
                .into_owned();
            let found = dists.iter().find_map(|d| {
                let p = percent_encoding::percent_decode_str(&d.path())
                    .decode_utf8_lossy()
                    .into_owned();
                if decoded == p {
                    let mut body = d.body.to_vec();
                    if st.corrupt.lock().unwrap().contains(&d.filename) {
                        body[0] ^= 0xff;
                    }
                    Some(Bytes::from(body))
                } else if decoded == format!("{p}.metadata") {
                    d.metadata.clone()
                } else {
                    None
                }
            });
            let Some(body) = found else {
                return (StatusCode::NOT_FOUND, "no such file").into_response();
            };
            let mut resp = Response::builder()
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::ACCEPT_RANGES, "bytes")
                .header(header::LAST_MODIFIED, "Tue, 02 Jan 2024 03:04:05 GMT");
            let ranged = !st.no_ranges.load(Ordering::SeqCst);
            let (status, slice) = match range(&headers, body.len()).filter(|_| ranged) {
                Some((s, e)) => {
                    resp = resp.header(
                        header::CONTENT_RANGE,
                        format!("bytes {s}-{}/{}", e - 1, body.len()),
                    );
                    (StatusCode::PARTIAL_CONTENT, body.slice(s..e))
                }
                None => (StatusCode::OK, body),
            };
            resp = resp
                .status(status)
                .header(header::CONTENT_LENGTH, slice.len());
            if method == Method::HEAD {
                return resp.body(Body::empty()).unwrap();
            }
            resp.body(Body::from(slice)).unwrap()
        }
        _ => (StatusCode::NOT_FOUND, "not here").into_response(),
    }
}

/// True when the real clients (`python3` with pip and venv, and `uv`) run; a missing one fails
/// the test unless `REPOX_SKIP_MISSING_CLIENTS` is set (see `clients_support`).
pub fn have_clients() -> bool {
    use crate::clients_support::{clients_present, runs};
    let missing: Vec<&str> = [
        ("python3", &["-m", "pip", "--version"][..], "pip"),
        ("python3", &["-m", "venv", "--help"][..], "venv"),
        ("uv", &["--version"][..], "uv"),
    ]
    .into_iter()
    .filter(|(program, args, _)| !runs(program, args))
    .map(|(_, _, name)| name)
    .collect();
    clients_present(
        &missing,
        "python3 with pip and venv (apt-get install python3-pip python3-venv), and uv on PATH \
         (pip install uv)",
    )
}

/// A client command that sees none of this machine's pip/uv configuration or proxies.
pub fn isolated(program: &str, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("NO_PROXY", "*");
    for var in ["PATH", "PYENV_ROOT", "PYENV_VERSION", "LANG"] {
        if let Some(v) = std::env::var_os(var) {
            c.env(var, v);
        }
    }
    c
}
