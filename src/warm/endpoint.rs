//! The repox a warm fills. Warming is nothing but requests to repox: the proxy fetches, verifies
//! and caches exactly as it does for a client, so there is one implementation of fetching and
//! caching, not two. When no repox is running, the proxy runs in-process on the configured cache
//! directory and a loopback port, and the warm talks HTTP to it all the same.
//!
//! `GET /-/health` tells us the server is a repox and which repositories it has (name, kind,
//! upstream URLs), which is how lock-file URLs (`files.pythonhosted.org`, a conda channel, a
//! private npm registry) are mapped onto repox paths.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::FutureExt;
use repox_proxy::config::Config;
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use super::fetch::Evict;
use crate::settings::Hinted;

/// A repox to talk to, and what it serves.
pub struct Endpoint {
    /// `http://host:port/`.
    pub base: Url,
    pub repositories: Vec<RepositoryInfo>,
    /// The proxy we started, if we did.
    in_process: Option<InProcess>,
}

struct InProcess {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    app: Arc<repox_proxy::App>,
}

/// One repository as `/-/health` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryInfo {
    pub name: String,
    /// `maven`, `pypi`, `conda`, `npm`, `cargo`.
    pub kind: String,
    pub upstreams: Vec<UpstreamInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamInfo {
    pub url: Url,
}

#[derive(Deserialize)]
struct Health {
    status: String,
    repositories: Vec<RepositoryInfo>,
}

impl Endpoint {
    /// Connects to `explicit` (which must answer), else to the configured server if it answers,
    /// else starts the proxy in-process with `config`.
    /// `authenticated`: the client sends credentials (for the error when repox refuses them).
    pub async fn connect(
        client: &reqwest::Client,
        config: &Config,
        explicit: Option<&Url>,
        authenticated: bool,
    ) -> anyhow::Result<Endpoint> {
        if let Some(url) = explicit {
            let base = with_slash(url);
            let repositories = health(client, &base).await.map_err(|e| {
                if e.downcast_ref::<Denied>().is_some() {
                    return denied(e, authenticated);
                }
                Hinted {
                    message: format!("no repox answers at {base}: {e:#}"),
                    hint: "start it with `repox serve`, or leave out --server to warm the cache \
                           directly"
                        .to_string(),
                }
                .into()
            })?;
            login_check(client, &base, authenticated).await?;
            return Ok(Endpoint {
                base,
                repositories,
                in_process: None,
            });
        }
        let configured = crate::settings::server_url(config);
        match health(client, &configured).await {
            Ok(repositories) => {
                login_check(client, &configured, authenticated).await?;
                tracing::info!("warming the repox running at {configured}");
                return Ok(Endpoint {
                    base: configured,
                    repositories,
                    in_process: None,
                });
            }
            // It runs but wants a login: warming its cache behind its back is not the answer.
            Err(e) if e.downcast_ref::<Denied>().is_some() => return Err(denied(e, authenticated)),
            Err(_) => {}
        }
        Self::start_in_process(client, config, authenticated).await
    }

    async fn start_in_process(
        client: &reqwest::Client,
        config: &Config,
        authenticated: bool,
    ) -> anyhow::Result<Endpoint> {
        let mut config = config.clone();
        config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // Only this process talks to it, over loopback: plain HTTP.
        config.server.tls_cert = None;
        config.server.tls_key = None;
        let server = match repox_proxy::Server::bind(config).await {
            Ok(server) => server,
            // A repox serves this cache directory, on another address than the configured one.
            Err(repox_proxy::server::StartError::Locked(held)) => {
                return Err(Hinted {
                    message: format!("cannot start the proxy in-process: {held}"),
                    hint: "warm through the running repox: pass its URL with --server".to_owned(),
                }
                .into());
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context("cannot start the proxy in-process"));
            }
        };
        let base = Url::parse(&format!("http://{}/", server.local_addr()))?;
        tracing::info!(
            "no repox is running; warming {} directly",
            server.cache_dir().display()
        );
        let app = server.app().clone();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let repositories = health(client, &base)
            .await
            .context("the in-process proxy does not answer")?;
        login_check(client, &base, authenticated).await?;
        Ok(Endpoint {
            base,
            repositories,
            in_process: Some(InProcess { stop, task, app }),
        })
    }

    /// When we run the proxy ourselves, a way to remove the entry a request path (below the
    /// server root) was served from: a download the lock file rejects is not kept.
    pub fn evictor(&self) -> Option<Evict> {
        let app = self.in_process.as_ref()?.app.clone();
        Some(Arc::new(move |path: &str| {
            let app = app.clone();
            let path = path.to_owned();
            async move {
                let (name, below) = path.split_once('/').unwrap_or((&path, ""));
                let Some(repo) = app.repository(name) else {
                    return false;
                };
                let store = repo.services.store.clone();
                let mut removed = false;
                for key in store_keys(repo.config.kind.as_str(), name, below) {
                    removed |= matches!(store.delete(&key).await, Ok(Some(_)));
                }
                removed
            }
            .boxed()
        }))
    }

    /// Stops the in-process proxy, if any, once its requests are done.
    pub async fn shutdown(self) {
        if let Some(InProcess { stop, task, .. }) = self.in_process {
            let _ = stop.send(());
            match tokio::time::timeout(Duration::from_secs(15), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!("the in-process proxy stopped with an error: {e}"),
                Ok(Err(e)) => tracing::warn!("the in-process proxy failed: {e}"),
                Err(_) => tracing::warn!("the in-process proxy did not stop in time"),
            }
        }
    }

    /// The repository that serves `kind` by default: the one named like the kind (`pypi`), else
    /// the first of that kind.
    pub fn default_repository(&self, kind: &str) -> Option<&RepositoryInfo> {
        self.repositories
            .iter()
            .find(|r| r.kind == kind && r.name == kind)
            .or_else(|| self.repositories.iter().find(|r| r.kind == kind))
    }

    /// The repository of `kind` one of whose upstreams is `url` or a prefix of it; or the
    /// repository at `url` on this repox itself (a requirements file already pointing at repox).
    pub fn repository_for(&self, kind: &str, url: &Url) -> Option<&RepositoryInfo> {
        let of_kind = || self.repositories.iter().filter(|r| r.kind == kind);
        if let Some(below) = strip_base(&self.base, url) {
            let first = below.split('/').next().unwrap_or("");
            if let Some(repo) = of_kind().find(|r| r.name == first) {
                return Some(repo);
            }
        }
        let wanted = normalized(url);
        of_kind().find(|r| {
            r.upstreams.iter().any(|u| {
                let base = normalized(&u.url);
                wanted.starts_with(&base) || base.starts_with(&wanted)
            })
        })
    }

    /// An endpoint at `base` with `(name, kind, upstream URL)` repositories, for unit tests.
    #[cfg(test)]
    pub fn for_tests(base: &str, repositories: &[(&str, &str, &str)]) -> Endpoint {
        Endpoint {
            base: Url::parse(base).unwrap(),
            repositories: repositories
                .iter()
                .map(|&(name, kind, url)| RepositoryInfo {
                    name: name.into(),
                    kind: kind.into(),
                    upstreams: vec![UpstreamInfo {
                        url: Url::parse(url).unwrap(),
                    }],
                })
                .collect(),
            in_process: None,
        }
    }

    /// `{base}{repository}/{path}`.
    pub fn url(&self, repository: &str, path: &str) -> anyhow::Result<Url> {
        self.base
            .join(&format!("{repository}/{path}"))
            .with_context(|| format!("`{repository}/{path}` does not form a URL"))
    }
}

/// The store keys a package file at `below` (the path below `/{repo}/`) may be cached under.
/// Most ecosystems key files by their path; npm tarballs and cargo crates have keys of their
/// own in the proxy (`npm/tarball.rs`, `cargo/download.rs`), mirrored here. The end-to-end test
/// of a rejected digest fails if they drift apart.
fn store_keys(kind: &str, repo: &str, below: &str) -> Vec<String> {
    let mut keys = vec![format!("{repo}/{below}")];
    match kind {
        "npm" => {
            if let Some((name, file)) = below.split_once("/-/") {
                keys.push(format!("{repo}/tarballs/{name}/{file}"));
            }
        }
        "cargo" => {
            let parts: Vec<&str> = below.split('/').collect();
            if let ["dl", name, version, "download"] = parts[..] {
                keys.push(format!("{repo}/crates/{name}/{name}-{version}.crate"));
            }
        }
        _ => {}
    }
    keys
}

/// The path of `url` below `base` when `url` is on the same server.
pub fn strip_base<'a>(base: &Url, url: &'a Url) -> Option<&'a str> {
    if url.scheme() != base.scheme()
        || url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return None;
    }
    url.path().strip_prefix(base.path())
}

/// A URL compared without scheme, credentials, trailing slash or case of the host: `pypi.org/simple`.
fn normalized(url: &Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{host}{port}{}", url.path().trim_end_matches('/'))
}

fn with_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// repox answered 401 or 403: it runs, but not for us as we are.
#[derive(Debug)]
struct Denied {
    url: Url,
    status: reqwest::StatusCode,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GET {}: {}", self.url, self.status)
    }
}

impl std::error::Error for Denied {}

/// The error for a repox that turned us away, with what to do about it.
fn denied(e: anyhow::Error, authenticated: bool) -> anyhow::Error {
    let Some(d) = e.downcast_ref::<Denied>() else {
        return e;
    };
    let (what, hint) = match (d.status.as_u16(), authenticated) {
        (403, _) => (
            "the user may not read from this repox",
            "ask its admin for a user with the read role".to_owned(),
        ),
        (_, true) => (
            "this repox refused the credentials",
            "check --user and REPOX_TOKEN/REPOX_PASSWORD (or the netrc entry of the host); a \
             revoked or expired token needs a new one from `repox token create`"
                .to_owned(),
        ),
        (_, false) => (
            "this repox requires a login",
            "pass --user NAME with REPOX_TOKEN or REPOX_PASSWORD set, or keep the login in \
             ~/.netrc with `repox configure pip --user NAME`"
                .to_owned(),
        ),
    };
    Hinted {
        message: format!("{d}: {what}"),
        hint,
    }
    .into()
}

/// Fails early, with what to do, when repox will refuse every request of the warm.
///
/// `/-/health` is open to everyone, so it cannot tell; `/-/metrics` is the cheapest endpoint
/// behind the login (and free of side effects): 401 means no or wrong credentials, while 403 (a
/// user without the admin role) and 200 mean the login works.
async fn login_check(
    client: &reqwest::Client,
    base: &Url,
    authenticated: bool,
) -> anyhow::Result<()> {
    let url = base.join("-/metrics")?;
    let resp = client
        .get(url.clone())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(denied(Denied { url, status }.into(), authenticated));
    }
    Ok(())
}

async fn health(client: &reqwest::Client, base: &Url) -> anyhow::Result<Vec<RepositoryInfo>> {
    let url = base.join("-/health")?;
    let resp = client
        .get(url.clone())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Denied { url, status }.into());
    }
    if !status.is_success() {
        anyhow::bail!("GET {url}: {status}");
    }
    let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
    let health: Health = serde_json::from_slice(&body)
        .with_context(|| format!("{url} is not a repox health report"))?;
    if health.status != "ok" {
        anyhow::bail!("{url} reports status `{}`", health.status);
    }
    Ok(health.repositories)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::for_tests(
            "http://127.0.0.1:8078/",
            &[
                ("torch", "pypi", "https://download.pytorch.org/whl/cpu/"),
                ("pypi", "pypi", "https://pypi.org/simple/"),
                ("npm", "npm", "https://registry.npmjs.org/"),
            ],
        )
    }

    #[test]
    fn store_keys_of_package_files() {
        assert_eq!(
            store_keys("npm", "npm", "@scope/util/-/util-2.0.0.tgz"),
            [
                "npm/@scope/util/-/util-2.0.0.tgz",
                "npm/tarballs/@scope/util/util-2.0.0.tgz"
            ]
        );
        assert_eq!(
            store_keys("cargo", "cargo", "dl/serde/1.0.0/download")[1],
            "cargo/crates/serde/serde-1.0.0.crate"
        );
        assert_eq!(
            store_keys("pypi", "pypi", "packages/a/b.whl"),
            ["pypi/packages/a/b.whl"]
        );
    }

    #[test]
    fn repositories_by_upstream_or_by_repox_url() {
        let e = endpoint();
        let find = |url: &str| {
            e.repository_for("pypi", &Url::parse(url).unwrap())
                .map(|r| r.name.clone())
        };
        assert_eq!(
            find("https://download.pytorch.org/whl/cpu"),
            Some("torch".into())
        );
        assert_eq!(find("http://PyPI.org/simple/"), Some("pypi".into()));
        assert_eq!(
            find("http://127.0.0.1:8078/pypi/simple/"),
            Some("pypi".into())
        );
        assert_eq!(find("https://elsewhere.example/simple/"), None);
        assert_eq!(e.default_repository("pypi").unwrap().name, "pypi");
        assert!(e.default_repository("cargo").is_none());
    }
}
