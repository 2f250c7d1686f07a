//! The HTTP server: one port, one path prefix per repository (`/maven/`, `/pypi/`, …), operator
//! endpoints under `/-/`, one log line and one metrics update per request, and a graceful stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Kind};
use crate::ecosystem::{cargo, conda, maven, npm, pypi};
use crate::error::Failure;
use crate::metrics::Metrics;
use crate::negative::NegativeCache;
use crate::path::RepoPath;
use crate::repository::{Repository, Served, Services, tagged};
use crate::store::{self, FsStore};
use crate::upstream::UpstreamSetupError;

pub use crate::origin::request_origin;

/// Says whether the answer came from the cache (`hit`, `miss`, `stale`, ...).
const X_REPOX_CACHE: HeaderName = HeaderName::from_static("x-repox-cache");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The cache directory is unusable.
    #[error("cannot use cache directory `{}`", path.display())]
    Cache {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An upstream is misconfigured.
    #[error(transparent)]
    Upstream(#[from] UpstreamSetupError),
    /// The users file is unreadable or invalid.
    #[error(transparent)]
    Users(#[from] crate::auth::UsersError),
    /// The address is taken or not allowed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Everything a request handler needs.
pub struct App {
    repositories: BTreeMap<String, Arc<Repository>>,
    services: Arc<Services>,
    auth: Arc<crate::auth::Auth>,
    started: Instant,
}

impl App {
    /// Opens the cache and builds every repository of `config`.
    pub fn new(config: &Config) -> Result<Arc<App>, StartError> {
        let cache_dir = config
            .server
            .cache_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("repox-cache"));
        let cache_err = |source| StartError::Cache {
            path: cache_dir.clone(),
            source,
        };
        let store = FsStore::open(&cache_dir).map_err(cache_err)?;
        let negative = NegativeCache::open(&cache_dir).map_err(cache_err)?;
        let staging = store::staging_dir(&cache_dir);
        std::fs::create_dir_all(&staging).map_err(cache_err)?;
        store::clean_staging(&staging);
        let services = Arc::new(Services {
            store: Arc::new(store),
            negative,
            metrics: Metrics::default(),
            staging,
            offline: config.server.offline,
            auth_required: config.auth.anonymous == crate::config::Anonymous::None,
        });
        let mut repositories = BTreeMap::new();
        for (name, repo) in &config.repositories {
            let repository = Repository::new(name.as_str(), repo.clone(), services.clone())?;
            repositories.insert(name.as_str().to_owned(), Arc::new(repository));
        }
        Ok(Arc::new(App {
            repositories,
            services,
            auth: Arc::new(crate::auth::Auth::new(config)?),
            started: Instant::now(),
        }))
    }

    /// A repository by name.
    pub fn repository(&self, name: &str) -> Option<&Arc<Repository>> {
        self.repositories.get(name)
    }

    /// The router for this app.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/-/health", get(health))
            .route("/-/metrics", get(metrics))
            .fallback(dispatch)
            .layer(middleware::from_fn_with_state(
                self.auth.clone(),
                crate::auth::gate,
            ))
            .layer(middleware::from_fn_with_state(self.clone(), log_request))
            .with_state(self.clone())
    }
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    cache_dir: PathBuf,
}

impl Server {
    /// Opens the cache, builds the repositories and binds the listener.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let app = App::new(&config)?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        if let Ok(bound) = listener.local_addr() {
            app.auth.listening_on(bound);
        }
        let services = app.services.clone();
        tokio::spawn(async move {
            if let Ok(bytes) = services.store.usage().await {
                services.metrics.cache_grew(bytes);
            }
        });
        let cache_dir = config.server.cache_dir.unwrap_or_default();
        Ok(Server {
            listener,
            app,
            cache_dir,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The app, for running the proxy in-process.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until `signal` resolves, then lets open requests finish for up to 10 seconds.
    /// Fills still running are dropped, which deletes their staging files: no half-written
    /// entry is left behind.
    pub async fn run(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let stopping = stop.clone();
        tokio::spawn(async move {
            signal.await;
            stopping.cancel();
        });
        let graceful = stop.clone();
        let serve = axum::serve(
            // Bodies of fills in progress end with a small write (the held-back last byte):
            // without TCP_NODELAY it could wait for the client's delayed ACK.
            self.listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            self.app
                .router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            graceful.cancelled().await;
        });
        tokio::select! {
            result = serve => result,
            () = async { stop.cancelled().await; tokio::time::sleep(Duration::from_secs(10)).await } => {
                tracing::warn!("open requests did not finish within 10 s; stopping anyway");
                Ok(())
            }
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let repositories: Vec<_> = app
        .repositories
        .values()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "kind": r.config.kind.as_str(),
                "upstreams": r.upstreams.iter().map(|u| serde_json::json!({"name": u.name, "url": u.base.as_str(), "priority": u.priority})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs(),
        "offline": app.services.offline,
        "repositories": repositories,
    });
    axum::Json(body).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut resp = app.services.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method != Method::GET && parts.method != Method::HEAD {
        // `npm audit` POSTs to the registry; it is passed through uncached.
        let raw = parts.uri.path().trim_start_matches('/');
        if parts.method == Method::POST
            && let Some((name, rest)) = raw.split_once('/')
            && let Some(repo) = app.repositories.get(name)
            && repo.config.kind == Kind::Npm
            && npm::is_audit(rest)
        {
            return npm::audit(repo, &parts, body).await;
        }
        let mut resp = (
            StatusCode::METHOD_NOT_ALLOWED,
            "repox is a read-only proxy: only GET and HEAD\n",
        )
            .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let raw = parts.uri.path().trim_start_matches('/');
    let (name, rest) = raw.split_once('/').unwrap_or((raw, ""));
    if !app.repositories.contains_key(name)
        && let Some(npm) = app
            .repositories
            .values()
            .find(|r| r.config.kind == Kind::Npm)
        && npm::is_root_tarball(raw)
    {
        // npm rewrites lock-file tarball URLs onto the registry host and drops its path prefix.
        return match RepoPath::parse(raw) {
            Ok(path) => serve_path(npm, &parts, path).await,
            Err(e) => Failure::BadRequest(e.to_string()).into_response(),
        };
    }
    let Some(repo) = app.repositories.get(name) else {
        let names: Vec<&str> = app.repositories.keys().map(String::as_str).collect();
        let msg = format!(
            "no repository at /{name}/; this server has /{}/\n",
            names.join("/, /")
        );
        return (StatusCode::NOT_FOUND, msg).into_response();
    };
    if rest.is_empty() {
        return Failure::NotFound.into_response();
    }
    // npm spells scoped packages `@scope%2fname`; the scope is a path segment of its own here.
    let rest = match repo.config.kind {
        Kind::Npm => std::borrow::Cow::Owned(rest.replace("%2f", "/").replace("%2F", "/")),
        _ => std::borrow::Cow::Borrowed(rest),
    };
    match RepoPath::parse(&rest) {
        Ok(path) => serve_path(repo, &parts, path).await,
        Err(e) => Failure::BadRequest(e.to_string()).into_response(),
    }
}

/// Serves `path` below `repo`: block rules answer first, then the repository's ecosystem.
async fn serve_path(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    path: RepoPath,
) -> Response {
    if let Some(rule) = repo.blocked(path.as_str()) {
        return tagged(
            Failure::Blocked(rule.to_owned()).into_response(),
            "blocked",
            None,
        );
    }
    let (method, headers, uri) = (&parts.method, &parts.headers, &parts.uri);
    match repo.config.kind {
        Kind::Maven => maven::handle(repo, method, headers, path).await,
        Kind::Pypi => pypi::handle(repo, method, headers, uri, path).await,
        Kind::Conda => conda::handle(repo, method, headers, uri, path).await,
        Kind::Npm => npm::handle(repo, method, headers, uri, path).await,
        Kind::Cargo => cargo::handle(repo, method, headers, uri, path).await,
    }
}

async fn log_request(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let status = resp.status();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let repository = if app.repositories.contains_key(first) {
        first
    } else {
        "-"
    };
    let served = resp.extensions().get::<Served>().cloned();
    let cache = served.as_ref().map_or("-", |s| s.cache);
    let upstream = served
        .as_ref()
        .and_then(|s| s.upstream.as_deref())
        .unwrap_or("-");
    // Tells `repox warm` (and curious operators) whether the file was already cached.
    if served.is_some() {
        resp.headers_mut()
            .insert(X_REPOX_CACHE, HeaderValue::from_static(cache));
    }
    let bytes = if method == Method::HEAD {
        0
    } else {
        resp.headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0)
    };
    app.services
        .metrics
        .request(repository, status.as_u16(), cache, bytes);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if path.starts_with("/-/") {
        tracing::debug!("{method} {path} {} {ms:.1}ms", status.as_u16());
    } else {
        tracing::info!(
            "{method} {path} {} {cache} upstream={upstream} {ms:.1}ms",
            status.as_u16()
        );
    }
    resp
}
