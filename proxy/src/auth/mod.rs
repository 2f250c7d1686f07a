//! Users, tokens and permissions: who may use the server, checked by one middleware in front of
//! every route.
//!
//! The middleware ([`gate`]) first settles where the request came from (trusted proxies,
//! `origin.rs`), then reads the credentials the client sent ([`credentials`], or conda's
//! `/t/TOKEN/` path prefix, which it strips when TOKEN is a repox token), checks them against
//! the users file ([`directory`]), and lets [`permission::authorize`] decide. `/-/health` is
//! always open. Failed logins are counted per client address ([`ratelimit`]). No secret is ever
//! logged or echoed: the only log line is the client address of a failed login.

pub mod credentials;
pub mod directory;
mod login;
pub mod permission;
pub mod ratelimit;
pub mod secret;
pub mod users;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, Uri, header};
use ipnet::IpNet;

use crate::config::{Anonymous, Config, Kind};
use crate::ecosystem::{conda, npm};
use crate::origin;
use credentials::Credentials;
use directory::{Directory, Identity};
use permission::{Action, Decision, Target, authorize};
use ratelimit::FailureLimiter;
use secret::Secret;
pub use users::UsersError;

/// The authentication state of one server.
pub struct Auth {
    anonymous: Anonymous,
    directory: Directory,
    limiter: FailureLimiter,
    trusted: Vec<IpNet>,
    /// Repository kinds by name; replaced when the configuration changes (`live/`).
    kinds: arc_swap::ArcSwap<HashMap<String, Kind>>,
    /// The configured listen address, until the server knows the one it really bound.
    configured: SocketAddr,
    bound: OnceLock<SocketAddr>,
}

impl Auth {
    /// Reads the users file named by `config` and sets up the checks.
    pub fn new(config: &Config) -> Result<Auth, UsersError> {
        let directory = Directory::open(config.auth.users_file.clone())?;
        if let Some(path) = &config.auth.users_file {
            tracing::info!(
                "anonymous access: {}; users file {} ({} users)",
                match config.auth.anonymous {
                    Anonymous::Read => "read",
                    Anonymous::None => "none",
                },
                path.display(),
                directory.current().len()
            );
        }
        if config.auth.anonymous == Anonymous::Read
            && directory.current().is_empty()
            && config.repositories.values().any(|r| r.hosted)
        {
            tracing::warn!(
                "no users yet, so anyone who reaches the port may upload to the hosted \
                 repositories; add one with `repox user add NAME --role write`"
            );
        }
        if config.auth.anonymous == Anonymous::None && directory.current().is_empty() {
            tracing::warn!(
                "[auth] anonymous = \"none\" and no users yet: every request but /-/health gets \
                 401; add one with `repox user add`"
            );
        }
        Ok(Auth {
            anonymous: config.auth.anonymous,
            directory,
            limiter: FailureLimiter::default(),
            trusted: config.server.trusted_proxies.clone(),
            kinds: arc_swap::ArcSwap::from_pointee(kinds(config)),
            configured: config.server.listen,
            bound: OnceLock::new(),
        })
    }

    /// Takes the repositories of a new configuration (their kinds decide npm audit and conda
    /// tokens).
    pub fn set_repositories(&self, config: &Config) {
        self.kinds.store(Arc::new(kinds(config)));
    }

    /// Tells the checks the address the server really listens on (port 0 resolved).
    pub fn listening_on(&self, addr: SocketAddr) {
        let _ = self.bound.set(addr);
    }

    fn local_addr(&self) -> SocketAddr {
        self.bound.get().copied().unwrap_or(self.configured)
    }

    /// What a request does to what.
    fn classify<'a>(&self, method: &Method, path: &'a str) -> (Target<'a>, Action) {
        let raw = path.trim_start_matches('/');
        let (first, rest) = raw.split_once('/').unwrap_or((raw, ""));
        let console =
            rest == "ui" || rest == "api" || rest.starts_with("ui/") || rest.starts_with("api/");
        let target = match first {
            "-" if console => Target::Console,
            "-" => Target::Operator,
            name => Target::Repository(name),
        };
        let read = method == Method::GET
            || method == Method::HEAD
            // `npm audit` POSTs a lock file; it reads advisories, it writes nothing.
            || (method == Method::POST
                && self.kinds.load().get(first) == Some(&Kind::Npm)
                && npm::is_audit(rest));
        (target, if read { Action::Read } else { Action::Write })
    }

    /// `(repository, token, path without the prefix)` of `/CONDA-REPO/t/TOKEN/…`.
    fn conda_token<'a>(&self, path: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
        let (name, rest) = path.trim_start_matches('/').split_once('/')?;
        // The path's shape first: it is cheaper than the (hashed) look-up of the name's kind.
        let (token, below) = conda::split_token(rest)?;
        if self.kinds.load().get(name) != Some(&Kind::Conda) {
            return None;
        }
        Some((name, token, below))
    }
}

fn kinds(config: &Config) -> HashMap<String, Kind> {
    config
        .repositories
        .iter()
        .map(|(name, repo)| (name.as_str().to_owned(), repo.kind))
        .collect()
}

/// The middleware: authenticates, authorizes, and passes the request on to `next` or answers
/// 401, 403 or 429. The server's request envelope (`server.rs`, `log_request`) calls it in the
/// same layer, so a hit pays for one middleware, not two.
///
/// `peer` is the client's address: the server's fast path passes it here (`server.rs`,
/// `Front`) and puts no `ConnectInfo` into the request; `None` takes the request's
/// `ConnectInfo`, when it has one.
///
/// The request's body is of any type (a hit's stays hyper's own, unboxed: `server.rs`).
pub async fn gate<B, F, Fut>(
    auth: &Auth,
    peer: Option<IpAddr>,
    mut req: http::Request<B>,
    next: F,
) -> Response
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    F: FnOnce(http::Request<B>) -> Fut,
    Fut: Future<Output = Response>,
{
    let peer = peer.or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    });
    let trusted_peer = peer.is_some_and(|p| origin::is_trusted(p, &auth.trusted));
    let uri = req.uri().clone();
    origin::sanitize(req.headers_mut(), &uri, trusted_peer, auth.local_addr());
    // Without a peer address (in-process use) every client shares one bucket.
    let client = origin::client_addr(peer, req.headers(), &auth.trusted)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if uri.path() == "/-/health" {
        return next(req).await;
    }
    if let Some(user) = auth.npm_login_user(req.method(), uri.path()) {
        let body = axum::body::Body::new(req.into_body());
        return auth.npm_login(user, client, body).await;
    }
    let mut credentials = Credentials::from_headers(req.headers());
    if let Some((name, token, below)) = auth.conda_token(uri.path())
        && token.starts_with(secret::TOKEN_PREFIX)
    {
        // A repox token is a login, never an anaconda.org channel token: it is taken off the
        // path so that it is never sent upstream nor used in a cache key. Other tokens stay and
        // go upstream as before.
        credentials = Ok(Some(Credentials::Token(Secret::new(token))));
        match strip_path(&uri, name, below) {
            Some(stripped) => *req.uri_mut() = stripped,
            None => return unauthorized("malformed request path"),
        }
    }
    req.headers_mut().remove(header::AUTHORIZATION);
    if auth.anonymous == Anonymous::Read && auth.directory.is_empty() {
        // Zero-config use: with no users there is nobody to check, so everything stays as it
        // always was; credentials a client sends anyway (say, from an old
        // `configure --token-env`) are ignored.
        return next(req).await;
    }
    let users = auth.directory.current();
    let identity: Option<Identity> = match credentials {
        Ok(None) => None,
        presented => {
            if let Some(wait) = auth.limiter.locked(client, Instant::now()) {
                return too_many(wait);
            }
            let found = match presented {
                Ok(Some(c)) => {
                    let found = auth.directory.authenticate(&users, c.clone()).await;
                    let fresh = auth.directory.fresh();
                    match found {
                        None if !Arc::ptr_eq(&users, &fresh) => {
                            auth.directory.authenticate(&fresh, c).await
                        }
                        found => found,
                    }
                }
                _ => None,
            };
            if found.is_none() {
                auth.limiter.failed(client, Instant::now());
                tracing::warn!("failed login from {client}");
                return unauthorized("wrong user name, password or token");
            }
            found
        }
    };
    let (target, action) = auth.classify(req.method(), uri.path());
    match authorize(
        identity.as_ref().map(|i| &i.user),
        auth.anonymous,
        target,
        action,
    ) {
        Decision::Allow => {
            if let Some(identity) = identity {
                req.extensions_mut().insert(identity);
            }
            next(req).await
        }
        Decision::Unauthenticated => {
            unauthorized("this repox needs a user name and password or token")
        }
        Decision::Forbidden => {
            let who = identity.map(|i| i.name).unwrap_or_default();
            let what = match (target, action) {
                (Target::Operator, _) => "use the operator endpoints".to_owned(),
                (Target::Console, Action::Read) => "read the console".to_owned(),
                (Target::Console, Action::Write) => {
                    "change anything through the console (needs admin)".to_owned()
                }
                (Target::Repository(r), Action::Read) => format!("read /{r}/"),
                (Target::Repository(r), Action::Write) => format!("write to /{r}/"),
            };
            let body = format!("user `{who}` may not {what}\n");
            (StatusCode::FORBIDDEN, body).into_response()
        }
    }
}

/// `uri` with `/NAME/t/TOKEN/` turned into `/NAME/`.
fn strip_path(uri: &Uri, name: &str, below: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(q) => format!("/{name}/{below}?{q}"),
        None => format!("/{name}/{below}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn unauthorized(why: &str) -> Response {
    let mut resp = (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"repox\""),
    );
    resp
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins from this address; try again in {secs} s\n"),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_repository_and_method() {
        let auth = Auth::new(&Config::embedded()).unwrap();
        let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
        assert_eq!(
            auth.classify(&get, "/pypi/simple/x/"),
            (Target::Repository("pypi"), Action::Read)
        );
        assert_eq!(
            auth.classify(&Method::HEAD, "/-/metrics"),
            (Target::Operator, Action::Read)
        );
        assert_eq!(
            auth.classify(&post, "/npm/-/npm/v1/security/advisories/bulk"),
            (Target::Repository("npm"), Action::Read),
            "npm audit only reads"
        );
        assert_eq!(
            auth.classify(&post, "/maven/-/npm/v1/security/advisories/bulk"),
            (Target::Repository("maven"), Action::Write)
        );
        assert_eq!(
            auth.classify(&get, "/-/api/stats"),
            (Target::Console, Action::Read)
        );
        assert_eq!(
            auth.classify(&Method::DELETE, "/-/api/cache/npm/x"),
            (Target::Console, Action::Write)
        );
        assert_eq!(
            auth.classify(&get, "/-/ui/"),
            (Target::Console, Action::Read)
        );
        assert_eq!(
            auth.classify(&get, "/-/uix"),
            (Target::Operator, Action::Read)
        );
        assert_eq!(
            auth.classify(&put, "/npm/left-pad"),
            (Target::Repository("npm"), Action::Write)
        );
    }

    #[test]
    fn a_new_configuration_brings_its_repository_kinds() {
        let mut config = Config::embedded();
        config
            .repositories
            .retain(|name, _| name.as_str() != "conda");
        let auth = Auth::new(&config).unwrap();
        assert_eq!(auth.conda_token("/conda/t/repox-abc/cf/x.json"), None);
        auth.set_repositories(&Config::embedded());
        assert!(auth.conda_token("/conda/t/repox-abc/cf/x.json").is_some());
    }

    #[test]
    fn conda_tokens_are_found_only_below_conda_repositories() {
        let auth = Auth::new(&Config::embedded()).unwrap();
        assert_eq!(
            auth.conda_token("/conda/t/repox-abc/conda-forge/noarch/x.json"),
            Some(("conda", "repox-abc", "conda-forge/noarch/x.json"))
        );
        assert_eq!(auth.conda_token("/pypi/t/repox-abc/x"), None);
        assert_eq!(auth.conda_token("/conda/t//x"), None);
        let uri: Uri = "/conda/t/repox-abc/cf/noarch/x.json?a=1".parse().unwrap();
        let stripped = strip_path(&uri, "conda", "cf/noarch/x.json").unwrap();
        assert_eq!(stripped.to_string(), "/conda/cf/noarch/x.json?a=1");
    }
}
