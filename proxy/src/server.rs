//! The HTTP server: one port, one path prefix per repository (`/maven/`, `/pypi/`, …), operator
//! endpoints under `/-/`, one log line and one metrics update per request, and a graceful stop.
//!
//! The accept loop is hyper's own (not `axum::serve`) so that it can guard the edge (`edge.rs`):
//! a client that does not finish its request headers within `[server] header_read_timeout`
//! (30 s) is disconnected, one address holds at most `[server] max_connections_per_ip`
//! connections, HTTPS is served with rustls when `[server] tls_cert`/`tls_key` are set, and
//! every request knows its peer address (the router's as `ConnectInfo<SocketAddr>`). A panic in
//! a handler is caught and answered 500 (`catch_panic`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::FutureExt;
use futures_util::future::Either;
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Kind, Role};
use crate::ecosystem::{cargo, conda, maven, npm, pypi};
use crate::edge::{
    ConnTimer, Lane, PerAddress, RequestBody, serve_connection, serve_plain, tls_acceptor,
    with_peer,
};
use crate::error::{Failure, redact};
use crate::metrics::Metrics;
use crate::negative::NegativeCache;
use crate::path::RepoPath;
use crate::repository::{Notes, Outcome, Repository, Served, Services, tagged};
use crate::store;
use crate::upstream::UpstreamSetupError;
use crate::{group, hosted};

pub use crate::origin::request_origin;

/// Says whether the answer came from the cache (`hit`, `miss`, `stale`, ...).
const X_REPOX_CACHE: HeaderName = HeaderName::from_static("x-repox-cache");

/// Time allowed for a TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Another server uses the cache directory.
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
    /// `tls_cert` or `tls_key` cannot be used.
    #[error("TLS: cannot use `{}` ([server] {key}): {why}", path.display())]
    Tls {
        /// `tls_cert` or `tls_key`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, with the fix.
        why: String,
    },
}

/// The repositories by name, as one immutable snapshot: a request takes one snapshot and keeps
/// it, so a configuration change swaps the whole map without disturbing requests in flight.
pub type Repositories = BTreeMap<String, Arc<Repository>>;

/// Everything a request handler needs.
pub struct App {
    repositories: ArcSwap<Repositories>,
    pub(crate) services: Arc<Services>,
    auth: Arc<crate::auth::Auth>,
    live: crate::live::Live,
    pub(crate) started: Instant,
}

impl App {
    /// Opens the cache and builds every repository of `config`.
    pub fn new(config: &Config) -> Result<Arc<App>, StartError> {
        let cache_dir = store::cache_dir(config);
        let cache_err = |source| StartError::Cache {
            path: cache_dir.clone(),
            source,
        };
        // One budget for every document the server keeps in memory: the store's and the
        // derived ones (`memo.rs`).
        let memos = crate::memo::Memos::new(
            config
                .server
                .memory_budget
                .unwrap_or(crate::memo::DEFAULT_BUDGET),
        );
        let store = store::open(config, &memos).map_err(cache_err)?;
        let negative = NegativeCache::open(&cache_dir);
        store.clean_staging(staging_max_age(config));
        crate::disk::warn_if_full(&cache_dir);
        let services = Arc::new(Services {
            store,
            negative,
            metrics: Metrics::default(),
            stats: crate::stats::Stats::default(),
            memos,
            offline: config.server.offline,
            auth_required: config.auth.anonymous == crate::config::Anonymous::None,
            advisories: crate::policy::advisories::Book::open(&cache_dir),
        });
        if let Some(index) = services.store.index() {
            services.metrics.track_cache(index.clone());
            let store = Arc::downgrade(&services.store);
            store::evict::upkeep(store, index, config.storage.clone());
        }
        let mut repositories = BTreeMap::new();
        let server_ca = config.server.ca_certificates.as_ref().map(|f| f.path());
        for (name, repo) in &config.repositories {
            let repository =
                Repository::new(name.as_str(), repo.clone(), services.clone(), server_ca)?;
            for up in &repository.upstreams {
                services.metrics.upstream_known(&up.name);
            }
            repositories.insert(name.as_str().to_owned(), Arc::new(repository));
        }
        Ok(Arc::new(App {
            repositories: ArcSwap::from_pointee(repositories),
            services,
            auth: Arc::new(crate::auth::Auth::new(config)?),
            live: crate::live::Live::new(config),
            started: Instant::now(),
        }))
    }

    /// A repository by name.
    pub fn repository(&self, name: &str) -> Option<Arc<Repository>> {
        self.repositories.load().get(name).cloned()
    }

    /// The current repositories: a snapshot that stays valid while the configuration changes.
    pub fn repositories(&self) -> Arc<Repositories> {
        self.repositories.load_full()
    }

    /// Replaces the repositories at once; requests in flight keep the snapshot they took.
    pub fn replace_repositories(&self, repositories: Repositories) {
        self.repositories.store(Arc::new(repositories));
    }

    /// Live configuration: the configuration in force, its file, changes.
    pub fn live(&self) -> &crate::live::Live {
        &self.live
    }

    pub(crate) fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub(crate) fn auth(&self) -> &crate::auth::Auth {
        &self.auth
    }

    /// The router for this app.
    pub fn router(self: &Arc<Self>) -> Router {
        let router = Router::new()
            .route("/", get(crate::ui::root))
            .route("/-/health", get(health))
            .route("/-/metrics", get(metrics))
            .route("/-/api/advisories", get(advisories))
            .route("/-/hosted/{*rest}", any(hosted_admin))
            .merge(crate::api::routes())
            .merge(crate::ui::routes());
        // Lets the unit tests prove that a panic is one failed request; absent from builds.
        #[cfg(test)]
        let router = router
            .route("/-/test-panic", get(tests::panic_handler))
            .route("/-/test-peer", get(tests::peer_handler));
        router
            .fallback(dispatch)
            .layer(middleware::from_fn_with_state(self.clone(), log_request))
            .with_state(self.clone())
    }
}

/// How old a staging file must be to belong to no running download: twice the longest
/// `max_download_time`.
fn staging_max_age(config: &Config) -> Duration {
    let longest = config
        .repositories
        .values()
        .map(|r| r.max_download_time())
        .max()
        .unwrap_or(Duration::from_secs(3600));
    longest.saturating_mul(2)
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    cache_dir: PathBuf,
    tls: Option<TlsAcceptor>,
    max_per_ip: usize,
    header_timeout: Duration,
    /// Held while the server lives: one server per cache directory.
    _lock: crate::lock::CacheLock,
}

impl Server {
    /// Binds the listener, then locks and opens the cache and builds the repositories: a
    /// server that cannot listen leaves no trace in the cache directory, and a second server on
    /// one cache directory is refused.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let tls = tls_acceptor(&config.server)?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let lock = crate::lock::CacheLock::acquire(&store::cache_dir(&config))?;
        let app = App::new(&config)?;
        if let Ok(bound) = listener.local_addr() {
            app.auth.listening_on(bound);
        }
        // Staging files of killed processes, also while this one runs for months.
        let max_age = staging_max_age(&config);
        let services = Arc::downgrade(&app.services);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(600)).await;
                let Some(services) = services.upgrade() else {
                    break;
                };
                let _ = tokio::task::spawn_blocking(move || services.store.clean_staging(max_age))
                    .await;
            }
        });
        let cache_dir = config.server.cache_dir.unwrap_or_default();
        Ok(Server {
            listener,
            app,
            cache_dir,
            tls,
            max_per_ip: config.server.max_connections_per_ip.max(1),
            header_timeout: config.server.header_read_timeout,
            _lock: lock,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// True when the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
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
        let front = Front::new(&self.app);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The HTTP/1 timer (only the header-read timeout uses it) is each connection's own,
        // set below (`edge/timer.rs`).
        builder
            .http1()
            .max_buf_size(crate::edge::HTTP1_MAX_BUF)
            // Body chunks stay separate buffers down to the IO, which zero-copy needs
            // (`edge/zerocopy.rs`): no copy into one write buffer.
            .writev(true)
            .header_read_timeout(self.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        let lane = Arc::new(Lane::new(self.header_timeout));
        let limit = Arc::new(PerAddress::new(self.max_per_ip));
        loop {
            let (tcp, peer) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = limit.take(peer.ip()) else {
                // At most one line a second: a flood of refusals must not flood the log.
                if limit.may_log_refusal() {
                    tracing::warn!(
                        "refusing connections from {}: it already has {} open (max_connections_per_ip)",
                        peer.ip(),
                        self.max_per_ip
                    );
                }
                continue;
            };
            // Bodies of fills in progress end with a small write (the held-back last byte):
            // without TCP_NODELAY it could wait for the client's delayed ACK.
            let _ = tcp.set_nodelay(true);
            let (front, lane) = (front.clone(), lane.clone());
            let (mut builder, watcher, tls) =
                (builder.clone(), graceful.watcher(), self.tls.clone());
            builder.http1().timer(ConnTimer::default());
            tokio::spawn(async move {
                let _slot = slot;
                match tls {
                    None => serve_plain(&builder, watcher, tcp, front, peer, &lane).await,
                    Some(acceptor) => {
                        let service = with_peer(front, peer, None);
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                serve_connection(&builder, watcher, stream, service).await;
                            }
                            Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                            Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                        }
                    }
                }
            });
        }
        drop(self.listener);
        lane.stop();
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(10)) => {
                tracing::warn!("open requests did not finish within 10 s; stopping anyway");
            }
        }
        Ok(())
    }
}

/// Turns a panic in a handler into a 500 and a log line naming the request, so one bug fails
/// one request instead of dropping the client's connection. Runs inside [`log_request`], which
/// then logs and counts the 500 like any other answer.
async fn catch_panic(
    method: &Method,
    uri: &Uri,
    handler: impl Future<Output = Response>,
) -> Response {
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            tracing::error!("{method} {} panicked: {what}", redact(uri.path()));
            Failure::Internal("the request failed inside repox; see its log".into()).into_response()
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
        .repositories()
        .values()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "kind": r.config.kind.as_str(),
                "upstreams": r.upstreams.iter().map(|u| {
                    let b = u.breaker.snapshot();
                    serde_json::json!({
                        "name": u.name,
                        "url": crate::breaker::redact(u.base.as_str()),
                        "priority": u.priority,
                        "state": b.state,
                        "consecutive_failures": b.consecutive_failures,
                        "down_until": b.down_until,
                        "last_error": b.last_error,
                        "trips": b.trips,
                    })
                }).collect::<Vec<_>>(),
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

/// The imported advisories (`repox advisories import`), malicious ones marked `blocked`.
async fn advisories(State(app): State<Arc<App>>) -> Response {
    let current = app.services.advisories.current();
    let list: Vec<_> = current
        .list
        .advisories
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or_default();
            v["blocked"] = serde_json::Value::Bool(a.malicious && a.kind().is_some());
            v
        })
        .collect();
    axum::Json(serde_json::json!({ "advisories": list })).into_response()
}

/// `/-/hosted/REPO/...`, the admin API of hosted repositories (`hosted/mod.rs`).
async fn hosted_admin(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_start_matches("/-/hosted/").to_owned();
    hosted::admin(&app.repositories(), &parts.method, &path, body).await
}

/// The router's fallback: every path that is not a route.
async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    route(&app, req).await
}

/// A request below a repository's prefix (or npm's root tarball URLs), to that repository. Its
/// body (hyper's own, from [`Front`]) is boxed as axum's only for the few handlers that read one.
async fn route<B>(app: &App, req: http::Request<B>) -> Response
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (parts, body) = req.into_parts();
    let body = move || axum::body::Body::new(body);
    let repositories = app.repositories();
    {
        let raw = parts.uri.path().trim_start_matches('/');
        let (name, rest) = raw.split_once('/').unwrap_or((raw, ""));
        if let Some(repo) = repositories.get(name) {
            match repo.config.role() {
                // Boxed, like every branch a hit does not take: this future stays small.
                Role::Hosted => return Box::pin(hosted::handle(repo, &parts, rest, body())).await,
                Role::Group => {
                    return Box::pin(group::handle(&repositories, repo, &parts, rest)).await;
                }
                Role::Proxy => {}
            }
        }
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        // `npm audit` POSTs to the registry; it is passed through uncached.
        let raw = parts.uri.path().trim_start_matches('/');
        if parts.method == Method::POST
            && let Some((name, rest)) = raw.split_once('/')
            && let Some(repo) = repositories.get(name)
            && repo.config.kind == Kind::Npm
            && npm::is_audit(rest)
        {
            return Box::pin(npm::audit(repo, &parts, body())).await;
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
    if !repositories.contains_key(name)
        && let Some(npm) = repositories.values().find(|r| r.config.kind == Kind::Npm)
        && npm::is_root_tarball(raw)
    {
        // npm rewrites lock-file tarball URLs onto the registry host and drops its path prefix.
        return match RepoPath::parse(raw) {
            Ok(path) => Box::pin(serve_path(npm, &parts, path)).await,
            Err(e) => Failure::BadRequest(e.to_string()).into_response(),
        };
    }
    let Some(repo) = repositories.get(name) else {
        let names: Vec<&str> = repositories.keys().map(String::as_str).collect();
        let msg = format!(
            "no repository at /{name}/; this server has /{}/\n",
            names.join("/, /")
        );
        return (StatusCode::NOT_FOUND, msg).into_response();
    };
    // `/<repo>/@2025-06-01/…`: the repository as it was at that date (`policy/snapshot.rs`).
    if let Some((snapshot, below)) = crate::policy::snapshot::split(rest) {
        return match snapshot {
            Ok(s) => {
                Box::pin(crate::policy::snapshot::scope(
                    s,
                    serve_below(repo, &parts, below),
                ))
                .await
            }
            Err(e) => Failure::BadRequest(e).into_response(),
        };
    }
    serve_below(repo, &parts, rest).await
}

/// Serves `rest`, the path below the repository's prefix.
async fn serve_below(repo: &Arc<Repository>, parts: &http::request::Parts, rest: &str) -> Response {
    if rest.is_empty() {
        // A person trying the repository's URL: say what it is and how to use it.
        let origin = request_origin(&parts.headers, &parts.uri);
        return crate::ui::setup::repository_text(repo, &origin).into_response();
    }
    // npm spells scoped packages `@scope%2fname`; the scope is a path segment of its own here.
    let rest = match repo.config.kind {
        Kind::Npm => std::borrow::Cow::Owned(rest.replace("%2f", "/").replace("%2F", "/")),
        _ => std::borrow::Cow::Borrowed(rest),
    };
    match RepoPath::parse(&rest) {
        Ok(path) => serve_path(repo, parts, path).await,
        Err(e) => Failure::BadRequest(e.to_string()).into_response(),
    }
}

/// Serves `path` below proxy `repo`: block rules answer first, then the repository's ecosystem.
pub(crate) async fn serve_path(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    path: RepoPath,
) -> Response {
    if let Some(rule) = repo.blocked(path.as_str()) {
        return tagged(
            Failure::Blocked(rule.to_owned()).into_response(),
            Outcome::Blocked,
            None,
        );
    }
    let (method, headers, uri) = (&parts.method, &parts.headers, &parts.uri);
    // Each handler's future is boxed where it is made: inline, the largest of the five would
    // be the size of this future and of every one around it ([`envelope`], the auth gate,
    // [`catch_panic`]), copied whole each time one is built into the next, on every hit.
    let handler: std::pin::Pin<Box<dyn Future<Output = Response> + Send + '_>> =
        match repo.config.kind {
            Kind::Maven => Box::pin(maven::handle(repo, method, headers, path)),
            Kind::Pypi => Box::pin(pypi::handle(repo, method, headers, uri, path)),
            Kind::Conda => Box::pin(conda::handle(repo, method, headers, uri, path)),
            Kind::Npm => Box::pin(npm::handle(repo, method, headers, uri, path)),
            Kind::Cargo => Box::pin(cargo::handle(repo, method, headers, uri, path)),
        };
    let resp = handler.await;
    crate::error::name_offline_miss(resp, uri.path())
}

/// The service every connection calls (`edge.rs` passes it each request with the peer
/// address). A repository path (anything but `/` and `/-/…`) is the hot one, a cache hit above
/// all: it goes straight to [`envelope`] and [`route`], without axum's router, its `from_fn`
/// layer and their boxed futures and clones. `/` and `/-/…` (console, API, operator endpoints)
/// go through the [`App::router`], whose one middleware is the same envelope; since none of its
/// routes lies outside `/-/` but `/`, both ways answer every request alike. One allocation per
/// request (the boxed future) where axum's way made several; the request's body stays hyper's
/// own (axum's `Body` boxed it, one more) unless a handler reads it ([`route`]).
#[derive(Clone)]
pub(crate) struct Front {
    app: Arc<App>,
    router: Router,
}

impl Front {
    pub(crate) fn new(app: &Arc<App>) -> Front {
        Front {
            app: app.clone(),
            router: app.router(),
        }
    }

    /// Answers one request from `peer`. Only the router's requests carry the peer as
    /// `ConnectInfo` (its handlers may extract it); a repository path hands it to the auth gate
    /// directly: the request's extension map and its entry were three allocations a hit.
    pub(crate) fn call(
        &self,
        mut req: http::Request<RequestBody>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + 'static + use<> {
        let path = req.uri().path();
        if path == "/" || path.starts_with("/-/") {
            req.extensions_mut().insert(ConnectInfo(peer));
            let routed = tower::ServiceExt::oneshot(self.router.clone(), req);
            // Boxed too: inline, the router's future made this `Either` (and every future
            // holding it) as large as itself, copied whole on a hit's way through hyper.
            return Either::Left(Box::pin(async move {
                match routed.await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }));
        }
        let app = self.app.clone();
        // Boxed once: unboxed, this future (every ecosystem's handler inline) is copied whole
        // each time hyper and `edge.rs` move it, which cost more than the allocation.
        Either::Right(Box::pin(async move {
            let method = req.method().clone();
            let resp = envelope(&app, Some(peer.ip()), req, |req| route(&app, req)).await;
            top_level(&method, resp)
        }))
    }
}

/// What axum's router does to every answer (`RouteFuture`), for those [`Front`] sends around
/// it: a `Content-Length` from a body of known size, and no body for `HEAD`. (A `CONNECT` is
/// answered 405 by [`route`], which axum leaves as is.)
fn top_level(method: &Method, mut resp: Response) -> Response {
    if *method == Method::CONNECT {
        return resp;
    }
    if !resp.headers().contains_key(header::CONTENT_LENGTH)
        && let Some(size) = axum::body::HttpBody::size_hint(resp.body()).exact()
    {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    if *method == Method::HEAD {
        *resp.body_mut() = axum::body::Body::empty();
    }
    resp
}

/// The router's middleware: the [`envelope`] around the route.
async fn log_request(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    envelope(&app, None, req, |req| next.run(req)).await
}

/// The envelope of every request: lets the auth gate (`auth::gate`) pass or answer the request,
/// catches a panic below it ([`catch_panic`]), then writes one log line, counts the answer in
/// the metrics and the dashboard, and says how the cache took part (`X-Repox-Cache`). Every hit
/// pays for this, so it copies nothing but the dashboard's record.
async fn envelope<B, F, Fut>(
    app: &App,
    peer: Option<IpAddr>,
    req: http::Request<B>,
    next: F,
) -> Response
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    F: FnOnce(http::Request<B>) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let method = req.method().clone();
    // Shares the bytes of the request's URI (the gate may rewrite the request's own).
    let uri = req.uri().clone();
    let handled = crate::auth::gate(&app.auth, peer, req, next);
    let mut resp = catch_panic(&method, &uri, handled).await;
    let status = resp.status();
    let raw = uri.path();
    let first = raw.trim_start_matches('/').split('/').next().unwrap_or("");
    let repositories = app.repositories.load();
    // What the answer counts into, found with the repository (`tally.rs`).
    let tally = repositories.get(first).map(|repo| &repo.tally);
    let repository = if tally.is_some() { first } else { "-" };
    let served = resp
        .extensions_mut()
        .get_mut::<Notes>()
        .and_then(|notes| notes.served.take());
    let outcome = served.as_ref().map(|s| s.cache);
    let cache = outcome.map_or("-", Outcome::as_str);
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
    match tally {
        Some(tally) => &tally.requests,
        None => app.services.metrics.unrouted(),
    }
    .count(status.as_u16(), outcome, bytes);
    let ended = Instant::now();
    let elapsed = ended.saturating_duration_since(started);
    let ms = elapsed.as_secs_f64() * 1000.0;
    // conda's `/t/<token>/` is a credential: never in the log.
    let path = redacted(raw);
    if path.starts_with("/-/") {
        tracing::debug!(
            "{method} {path} {} {}ms",
            status.as_u16(),
            crate::access_log::Tenths(elapsed)
        );
    } else {
        let upstream = served.as_ref().and_then(Served::upstream);
        crate::access_log::write(&crate::access_log::Line {
            method: &method,
            path: &path,
            status: status.as_u16(),
            cache,
            upstream,
            elapsed,
            at: ended,
        });
        // The console's own requests (`/-/`) would drown the feed: only client requests count.
        let dashboard = tally.map(|tally| &*tally.dashboard);
        app.services.stats.request(
            dashboard,
            &crate::stats::Answered {
                // The coarse clock: a precise read is a fifth of a microsecond on every hit.
                at: crate::store::clock::unix_millis() / 1000,
                method: &method,
                path: &path,
                repository,
                status: status.as_u16(),
                cache,
                upstream,
                ms,
                bytes,
            },
        );
    }
    resp
}

/// `path` with credentials masked ([`redact`]), copied only when there is one to mask.
fn redacted(path: &str) -> Cow<'_, str> {
    if path.contains("/t/") {
        Cow::Owned(redact(path))
    } else {
        Cow::Borrowed(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;

    pub(super) async fn peer_handler(
        axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    ) -> String {
        peer.ip().to_string()
    }

    #[test]
    fn log_lines_write_tenths_of_milliseconds_and_mask_tokens() {
        let line = |micros| crate::access_log::Tenths(Duration::from_micros(micros)).to_string();
        assert_eq!(line(0), "0.0");
        assert_eq!(line(1_249), "1.2");
        assert_eq!(line(1_250), "1.3");
        assert_eq!(line(123_456), "123.5");
        assert_eq!(redacted("/conda/t/tk-1/x"), "/conda/t/***/x");
        assert!(matches!(
            redacted("/maven/a/b"),
            Cow::Borrowed("/maven/a/b")
        ));
    }

    #[tokio::test]
    async fn requests_carry_the_peer_address() {
        let cache = tempfile::tempdir().unwrap();
        let (addr, _stop) = start(config(&cache)).await;
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{addr}/-/test-peer"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "127.0.0.1");
    }

    #[tokio::test]
    async fn answers_around_the_router_get_its_length_and_lose_head_bodies() {
        use http_body_util::BodyExt;
        let sized = || "four".into_response();
        let get = top_level(&Method::GET, sized());
        assert_eq!(get.headers()[header::CONTENT_LENGTH], "4");
        assert_eq!(get.into_body().collect().await.unwrap().to_bytes(), "four");
        let head = top_level(&Method::HEAD, sized());
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "4");
        assert!(
            head.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .is_empty()
        );
        // A length the handler set stays; a body of unknown size gets none.
        let mut told = sized();
        told.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("9"));
        let told = top_level(&Method::HEAD, told);
        assert_eq!(told.headers()[header::CONTENT_LENGTH], "9");
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("x"))]);
        let unsized_ = Response::new(axum::body::Body::from_stream(stream));
        let unsized_ = top_level(&Method::GET, unsized_);
        assert!(!unsized_.headers().contains_key(header::CONTENT_LENGTH));
    }

    pub(super) async fn panic_handler() -> Response {
        panic!("a test asked for a panic")
    }

    async fn start(server: ServerConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let config = Config {
            server,
            repositories: BTreeMap::new(),
            auth: Default::default(),
            storage: Default::default(),
        };
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    fn config(cache: &tempfile::TempDir) -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(cache.path().to_owned()),
            ..ServerConfig::default()
        }
    }

    #[tokio::test]
    async fn a_panic_is_one_failed_request_on_a_connection_that_keeps_serving() {
        let cache = tempfile::tempdir().unwrap();
        let (addr, _stop) = start(config(&cache)).await;
        // One connection for all requests: a dropped connection would fail the next one.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .http1_only()
            .build()
            .unwrap();
        for _ in 0..3 {
            let resp = client
                .get(format!("http://{addr}/-/test-panic"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!resp.text().await.unwrap().contains("a test asked"));
            let health = client
                .get(format!("http://{addr}/-/health"))
                .send()
                .await
                .unwrap();
            assert_eq!(health.status(), StatusCode::OK);
        }
    }

    #[tokio::test]
    async fn connections_beyond_the_per_address_limit_are_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cache = tempfile::tempdir().unwrap();
        let (addr, _stop) = start(ServerConfig {
            max_connections_per_ip: 2,
            ..config(&cache)
        })
        .await;
        // Two idle connections hold both slots.
        let held = [
            tokio::net::TcpStream::connect(addr).await.unwrap(),
            tokio::net::TcpStream::connect(addr).await.unwrap(),
        ];
        // The server counts a connection when it accepts it: a request on each proves both
        // are accepted before the third arrives.
        let mut held = held;
        for conn in &mut held {
            conn.write_all(b"GET /-/health HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 12];
            conn.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"HTTP/1.1 200");
        }
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = third
            .write_all(b"GET /-/health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let read = third.read_to_end(&mut buf).await;
        assert!(
            read.is_err() || buf.is_empty(),
            "the third connection was served"
        );
        drop(held);
        // Once they close, the address may connect again (bounded retries: the server sees
        // the close asynchronously).
        let mut served = false;
        for _ in 0..50 {
            let resp = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("http://{addr}/-/health"))
                .send()
                .await;
            if resp.is_ok_and(|r| r.status() == StatusCode::OK) {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served);
    }

    #[tokio::test]
    async fn tls_settings_name_the_file_that_is_wrong() {
        let cache = tempfile::tempdir().unwrap();
        let missing = cache.path().join("nope.pem");
        let settings = Config {
            server: ServerConfig {
                tls_cert: Some(missing.clone()),
                tls_key: Some(missing.clone()),
                ..config(&cache)
            },
            repositories: BTreeMap::new(),
            auth: Default::default(),
            storage: Default::default(),
        };
        let err = Server::bind(settings).await.err().unwrap().to_string();
        assert!(
            err.contains("nope.pem") && err.contains("tls_cert"),
            "{err}"
        );
        let only_cert = ServerConfig {
            tls_cert: Some(missing),
            ..config(&cache)
        };
        let err = tls_acceptor(&only_cert).err().unwrap().to_string();
        assert!(err.contains("tls_key"), "{err}");
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cache = tempfile::tempdir().unwrap();
        let (addr, _stop) = start(ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            ..config(&cache)
        })
        .await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /-/health HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        // Without the timeout this read never ends; the outer bound only keeps a failing test
        // from hanging.
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "the server kept a half-sent request open");
    }

    /// Reads one response off `conn` (head and `Content-Length` body); `None` once it closed.
    async fn read_response(conn: &mut tokio::net::TcpStream) -> Option<String> {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            if conn.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            got.push(byte[0]);
        }
        let head = String::from_utf8(got).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse()
                    .ok()
            })
            .unwrap();
        let mut body = vec![0; len];
        conn.read_exact(&mut body).await.ok()?;
        Some(head)
    }

    #[tokio::test]
    async fn each_request_head_has_its_own_deadline_and_an_idle_connection_is_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cache = tempfile::tempdir().unwrap();
        let timeout = Duration::from_millis(300);
        let (addr, _stop) = start(ServerConfig {
            header_read_timeout: timeout,
            ..config(&cache)
        })
        .await;
        let request = b"GET /-/health HTTP/1.1\r\nhost: x\r\n\r\n";
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Requests 150 ms apart, four times: longer than the timeout in all, never one head.
        for i in 0..4 {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            conn.write_all(request).await.unwrap();
            let head = read_response(&mut conn).await;
            assert!(
                head.as_deref()
                    .is_some_and(|h| h.starts_with("HTTP/1.1 200")),
                "request {i}: {head:?}"
            );
        }
        // Idle after its last answer: closed once the timeout passes, not before.
        let idle = Instant::now();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(60), conn.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "an idle connection was kept open");
        // Less a margin: the deadline counts from the server's (coarse) clock reading after the
        // answer went out, a few milliseconds either way (`edge/timer.rs`).
        assert!(idle.elapsed() >= timeout - Duration::from_millis(50));

        // A head sent a few bytes at a time is cut off after the timeout, even on a connection
        // that was answered before (whose timer is filed further out than this head's).
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(request).await.unwrap();
        assert!(read_response(&mut slow).await.is_some());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let mut cut = false;
        for chunk in b"GET /-/health HTTP/1.1\r\nx-slow: 1234567890123456789\r\n".chunks(2) {
            if slow.write_all(chunk).await.is_err() {
                cut = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if started.elapsed() > timeout * 4 {
                break;
            }
        }
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut rest)).await;
        assert!(cut || read.is_ok(), "a trickled head kept its connection");
    }
}
