//! A fixture npm registry on 127.0.0.1 that builds real tarballs and serves both packument
//! representations, plus helpers shared by the ecosystem tests: repository configs for any
//! kind, `.tar.gz` archives, and real clients (npm, cargo, python) with their homes and caches
//! in temporary directories so the machine's configuration cannot interfere.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use repox_proxy::config::{Kind, RepositoryConfig, UpstreamConfig};
use sha1::Digest;
use url::Url;

use crate::support::Logged;

/// A repository of `kind` over `(name, base URL, priority)` upstreams with short timeouts.
pub fn repo(kind: Kind, upstreams: &[(&str, &Url, i32)]) -> RepositoryConfig {
    RepositoryConfig {
        kind,
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
            .map(|(name, url, priority)| {
                let mut u = UpstreamConfig::new(name, (*url).clone());
                u.priority = *priority;
                u.idle_timeout = Duration::from_millis(2000);
                u.connect_timeout = Duration::from_millis(500);
                u
            })
            .collect(),
        ..RepositoryConfig::new(kind)
    }
}

/// A gzipped tar of `(path, contents)` with fixed metadata, so equal inputs give equal bytes.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Bytes {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, contents) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(contents.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, path, *contents).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().into()
}

/// True when `program version_args…` runs; a missing client fails the test unless
/// `REPOX_SKIP_MISSING_CLIENTS` is set (see `clients_support`).
pub fn have(program: &str, version_args: &[&str]) -> bool {
    let install = if program.ends_with("npm") {
        "apt-get install nodejs npm"
    } else {
        "install it and put it on PATH"
    };
    crate::clients_support::client_runs(program, version_args, install)
}

/// A command with an empty environment but `PATH` and `HOME`.
pub fn isolated(program: &str, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear().env("HOME", home);
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c
}

/// One published version.
struct Published {
    tarball: Bytes,
    dependencies: Vec<(String, String)>,
    /// The full packument's `time` for this version.
    time: String,
}

#[derive(Default)]
struct RegState {
    url: Mutex<String>,
    packages: Mutex<BTreeMap<String, BTreeMap<String, Published>>>,
    corrupt: Mutex<HashSet<String>>,
    down: AtomicBool,
    log: Mutex<Vec<Logged>>,
    posted: Mutex<Vec<Bytes>>,
}

/// An npm registry on 127.0.0.1.
pub struct NpmRegistry {
    pub url: Url,
    state: Arc<RegState>,
}

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

impl NpmRegistry {
    pub async fn start() -> NpmRegistry {
        let state = Arc::new(RegState::default());
        let app = axum::Router::new()
            .fallback(registry)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        *state.url.lock().unwrap() = url.to_string();
        NpmRegistry { url, state }
    }

    /// Publishes `name@version` with `dependencies`; returns its tarball.
    pub fn publish(&self, name: &str, version: &str, dependencies: &[(&str, &str)]) -> Bytes {
        let deps: serde_json::Map<String, serde_json::Value> = dependencies
            .iter()
            .map(|(n, r)| ((*n).to_owned(), serde_json::json!(r)))
            .collect();
        let manifest = serde_json::json!({
            "name": name, "version": version, "main": "index.js", "dependencies": deps,
        });
        let tarball = tar_gz(&[
            ("package/package.json", manifest.to_string().as_bytes()),
            (
                "package/index.js",
                format!("module.exports = '{name}@{version}';\n").as_bytes(),
            ),
        ]);
        self.state
            .packages
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .insert(
                version.to_owned(),
                Published {
                    tarball: tarball.clone(),
                    dependencies: dependencies
                        .iter()
                        .map(|(n, r)| ((*n).to_owned(), (*r).to_owned()))
                        .collect(),
                    time: "2024-01-02T03:04:05.000Z".to_owned(),
                },
            );
        tarball
    }

    /// Sets the publication time (`time[version]` of the full packument) of `name@version`.
    pub fn set_time(&self, name: &str, version: &str, time: &str) {
        if let Some(p) = self
            .state
            .packages
            .lock()
            .unwrap()
            .get_mut(name)
            .and_then(|v| v.get_mut(version))
        {
            p.time = time.to_owned();
        }
    }

    /// The raw request path of `name@version`'s tarball (`@s/p/-/p-1.0.0.tgz`).
    pub fn tarball_path(name: &str, version: &str) -> String {
        let base = name.rsplit('/').next().unwrap();
        format!("{name}/-/{base}-{version}.tgz")
    }

    /// Serves other bytes than the packument's integrity promises for this tarball path.
    pub fn corrupt(&self, tarball_path: &str) {
        self.state
            .corrupt
            .lock()
            .unwrap()
            .insert(tarball_path.to_owned());
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests with `method` for the raw path `path`.
    pub fn count(&self, method: Method, path: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == method && l.path == path)
            .count()
    }

    /// Tarball GETs so far.
    pub fn tarball_gets(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == Method::GET && l.path.ends_with(".tgz"))
            .count()
    }

    /// Bodies POSTed so far.
    pub fn posted(&self) -> Vec<Bytes> {
        self.state.posted.lock().unwrap().clone()
    }
}

fn dist(base: &str, name: &str, version: &str, tarball: &[u8]) -> serde_json::Value {
    let sha512 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(tarball));
    serde_json::json!({
        "tarball": format!("{base}{}", NpmRegistry::tarball_path(name, version)),
        "integrity": format!("sha512-{sha512}"),
        "shasum": hex::encode(sha1::Sha1::digest(tarball)),
    })
}

fn packument(
    base: &str,
    name: &str,
    versions: &BTreeMap<String, Published>,
    abbreviated: bool,
) -> serde_json::Value {
    let latest = versions.keys().last().cloned().unwrap_or_default();
    let mut vs = serde_json::Map::new();
    for (v, p) in versions {
        let deps: serde_json::Map<String, serde_json::Value> = p
            .dependencies
            .iter()
            .map(|(n, r)| (n.clone(), serde_json::json!(r)))
            .collect();
        let mut doc = serde_json::json!({
            "name": name, "version": v, "dependencies": deps,
            "dist": dist(base, name, v, &p.tarball),
        });
        if !abbreviated {
            doc["description"] = serde_json::json!(format!("{name} for tests"));
            doc["_id"] = serde_json::json!(format!("{name}@{v}"));
        }
        vs.insert(v.clone(), doc);
    }
    let mut doc = serde_json::json!({
        "name": name,
        "dist-tags": { "latest": latest },
        "versions": vs,
        "modified": "2024-01-02T03:04:05.000Z",
    });
    if !abbreviated {
        doc["readme"] = serde_json::json!(format!("# {name}\n"));
        let mut time = serde_json::json!({ "modified": "2024-01-02T03:04:05.000Z" });
        for (v, p) in versions {
            time[v] = serde_json::json!(p.time);
        }
        doc["time"] = time;
    }
    doc
}

fn json(status: StatusCode, content_type: &str, body: Vec<u8>, req: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", &hex::encode(sha1::Sha1::digest(&body))[..16]);
    if req
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap() == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ETAG, etag)
        .header(header::LAST_MODIFIED, "Tue, 02 Jan 2024 03:04:05 GMT")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .body(Body::from(body))
        .unwrap()
}

async fn registry(State(st): State<Arc<RegState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().trim_start_matches('/').to_owned();
    st.log.lock().unwrap().push(Logged {
        method: parts.method.clone(),
        path: raw.clone(),
        headers: parts.headers.clone(),
    });
    if st.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let base = st.url.lock().unwrap().clone();
    if parts.method == Method::POST {
        let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
        st.posted.lock().unwrap().push(body);
        return if raw == "-/npm/v1/security/advisories/bulk" {
            json(
                StatusCode::OK,
                "application/json",
                b"{}".to_vec(),
                &parts.headers,
            )
        } else {
            (StatusCode::NOT_FOUND, "no such endpoint").into_response()
        };
    }
    if raw == "-/v1/search" {
        let text = parts.uri.query().unwrap_or("").to_owned();
        let body = serde_json::json!({"objects": [], "total": 0, "query": text});
        return json(
            StatusCode::OK,
            "application/json",
            body.to_string().into_bytes(),
            &parts.headers,
        );
    }
    let decoded = percent_encoding::percent_decode_str(&raw)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let packages = st.packages.lock().unwrap();
    if raw.ends_with(".tgz") {
        let found = packages.iter().find_map(|(name, versions)| {
            versions
                .iter()
                .find(|(v, _)| NpmRegistry::tarball_path(name, v) == raw)
                .map(|(_, p)| p.tarball.clone())
        });
        let Some(mut tarball) = found else {
            return (StatusCode::NOT_FOUND, "no such tarball").into_response();
        };
        if st.corrupt.lock().unwrap().contains(&raw) {
            let mut bad = tarball.to_vec();
            bad[20] ^= 0xff;
            tarball = bad.into();
        }
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, tarball.len())
            .body(if parts.method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(tarball)
            })
            .unwrap();
    }
    // `/<name>/latest` names the newest version, as the packument's `dist-tags` do.
    let tagged = |vs: &BTreeMap<String, Published>, v: &str| match v {
        "latest" => vs.keys().last().cloned(),
        _ => Some(v.to_owned()),
    };
    if let Some((name, version)) = decoded.rsplit_once('/')
        && let Some(vs) = packages.get(name)
        && let Some(version) = tagged(vs, version)
        && let Some(p) = vs.get(&version)
    {
        let doc = serde_json::json!({
            "name": name, "version": version, "dist": dist(&base, name, &version, &p.tarball),
        });
        return json(
            StatusCode::OK,
            "application/json",
            doc.to_string().into_bytes(),
            &parts.headers,
        );
    }
    let Some(versions) = packages.get(&decoded) else {
        return (StatusCode::NOT_FOUND, "{\"error\":\"Not found\"}").into_response();
    };
    let abbreviated = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(ABBREVIATED));
    let doc = packument(&base, &decoded, versions, abbreviated);
    let ct = if abbreviated {
        ABBREVIATED
    } else {
        "application/json"
    };
    json(
        StatusCode::OK,
        ct,
        doc.to_string().into_bytes(),
        &parts.headers,
    )
}

/// Reads a response body as JSON (reqwest is built without its `json` feature).
pub trait JsonBody {
    async fn json_value(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        let body = self.bytes().await.unwrap();
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
    }
}

/// Asserts that a download failing verification did not reach the client whole: either a 502,
/// or (when repox had already started streaming it) a 200 whose body breaks off.
pub async fn assert_refused(resp: reqwest::Response) {
    let status = resp.status();
    if status == StatusCode::OK {
        assert!(
            resp.bytes().await.is_err(),
            "a body that failed verification was delivered whole"
        );
    } else {
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }
}
