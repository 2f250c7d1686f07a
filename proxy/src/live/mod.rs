//! Live configuration: a running server takes new repository settings without a restart.
//!
//! A change comes from the settings API (`api/settings.rs`), from an edit of the config file
//! ([`watch`]: file watch and SIGHUP) or from an undo. Each one is checked whole
//! ([`prepare`]: every changed repository validated and built) before anything is swapped in
//! ([`commit`]), so an invalid change leaves the server exactly as it was. Repositories whose
//! settings did not change keep their `Arc<Repository>`: their downloads in flight, coalescing
//! and freshness memory are untouched. A changed repository is built anew; requests already
//! running keep the old one (they hold its `Arc`) and finish on it, new requests get the new one.
//!
//! Only `[repositories]` and `[server] ca_certificates` (which every upstream trusts, so a
//! change of it rebuilds them) are live. The rest of `[server]`, `[auth]` and `[storage]` are
//! read at start-up; an edit of them is reported as taking effect at the next restart.

pub mod edit;
mod watch;

pub use watch::watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::config::{Config, RepositoryConfig};
use crate::repository::Repository;
use crate::server::{App, Repositories};

/// The live-configuration state of one server.
pub struct Live {
    /// The configuration in force: the start-up one with the repositories of the last change.
    current: ArcSwap<Config>,
    /// The config file `repox serve` reads, whether or not it exists yet.
    file: OnceLock<PathBuf>,
    /// One change at a time: API writes, file reloads and undo.
    changing: tokio::sync::Mutex<()>,
    /// Why the last reload of the file was refused, until one succeeds.
    last_error: Mutex<Option<String>>,
    /// `[server]`, `[auth]` and `[storage]` as the file had them when last read: a change of
    /// them needs a restart, which a reload says.
    restart_only: Mutex<Option<String>>,
}

impl Live {
    pub(crate) fn new(config: &Config) -> Live {
        Live {
            current: ArcSwap::from_pointee(config.clone()),
            file: OnceLock::new(),
            changing: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
            restart_only: Mutex::new(None),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// The config file changes are written to and read from, once set.
    pub fn file(&self) -> Option<&Path> {
        self.file.get().map(PathBuf::as_path)
    }

    /// Names the config file of this server (set once; later calls are ignored). The file
    /// need not exist: the first change through the API creates it.
    pub fn set_file(&self, path: PathBuf) {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(config) = Config::parse(&text, &path)
        {
            *self.restart_only.lock().expect("live lock") = Some(restart_only(&config));
        }
        let _ = self.file.set(path);
    }

    /// Why the last reload of the config file was refused, if it was (cleared by a good one).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("live lock").clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().expect("live lock") = error;
    }

    /// Waits for the other changes to finish; hold the guard through prepare, write, commit.
    pub(crate) async fn begin(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changing.lock().await
    }
}

/// `[server]` (but its live `ca_certificates`), `[auth]` and `[storage]`, to notice that a
/// reload changed them.
fn restart_only(config: &Config) -> String {
    let mut server = config.server.clone();
    server.ca_certificates = None;
    format!(
        "{}\n{}\n{}",
        toml::to_string(&server).unwrap_or_default(),
        toml::to_string(&config.auth).unwrap_or_default(),
        toml::to_string(&config.storage).unwrap_or_default()
    )
}

/// Which repositories a change touched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// New repositories.
    pub added: Vec<String>,
    /// Repositories whose settings changed (rebuilt).
    pub changed: Vec<String>,
    /// Repositories no longer served.
    pub removed: Vec<String>,
}

impl Changes {
    /// True when no repository changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, names) in [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        match parts.is_empty() {
            true => f.write_str("no repository changed"),
            false => f.write_str(&parts.join("; ")),
        }
    }
}

/// A checked change, ready to be swapped in by [`commit`].
pub(crate) struct Prepared {
    repositories: Repositories,
    config: Config,
    changes: Changes,
    /// `(key prefix, upstream)`: upstreams whose URL changed; their remembered 404s are void.
    forget: Vec<(String, String)>,
    started: Instant,
}

impl Prepared {
    /// The configuration it puts in force.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}

/// True when two repository settings are the same (compared as the JSON the API shows, so that
/// `"5m"` and `"300s"` are equal).
fn same(a: &RepositoryConfig, b: &RepositoryConfig) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Checks the repositories of `next` (a configuration from [`Config::parse`]) and builds the
/// ones that are new or changed, without touching what is served. Of `next`, the
/// repositories and `[server] ca_certificates` are taken. The error is one line naming the
/// repository and the key.
pub(crate) fn prepare(app: &App, next: Config) -> Result<Prepared, String> {
    let Config {
        repositories,
        server: next_server,
        ..
    } = next;
    let started = Instant::now();
    let live = app.live();
    let old = app.repositories();
    let mut built = Repositories::new();
    let mut changes = Changes::default();
    let mut forget = Vec::new();
    // Every upstream trusts the server's CA file: a change of it (its name or its content)
    // rebuilds them all.
    let server_ca = next_server.ca_certificates.as_ref().map(|f| f.path());
    for (name, repo) in &repositories {
        let name = name.as_str();
        let previous = old.get(name);
        // A repository whose settings are the same is kept, unless a CA file its upstreams
        // trust changed (its own or the server's, the name or the content): a reload reads
        // those files again.
        if let Some(previous) = previous
            && same(&previous.config, repo)
            && !previous.upstreams.iter().any(|u| {
                repo.upstreams
                    .iter()
                    .find(|c| c.name == u.name)
                    .is_none_or(|c| u.trust_changed(c, server_ca))
            })
        {
            built.insert(name.to_owned(), previous.clone());
            continue;
        }
        repo.validate()
            .map_err(|problem| problem.in_repository(name))?;
        let repository = Repository::new(name, repo.clone(), app.services().clone(), server_ca)
            .map_err(|e| match e.is_server_wide() {
                true => chain(&e),
                false => format!("repositories.{name}: {}", chain(&e)),
            })?;
        match previous {
            Some(previous) => {
                changes.changed.push(name.to_owned());
                for up in &repo.upstreams {
                    let moved = previous
                        .config
                        .upstreams
                        .iter()
                        .any(|o| o.name == up.name && o.url != up.url);
                    if moved {
                        forget.push((format!("{name}/"), up.name.clone()));
                    }
                }
            }
            None => changes.added.push(name.to_owned()),
        }
        built.insert(name.to_owned(), Arc::new(repository));
    }
    changes.removed = old
        .keys()
        .filter(|name| !built.contains_key(*name))
        .cloned()
        .collect();
    let mut config = (*live.config()).clone();
    config.repositories = repositories;
    config.server.ca_certificates = next_server.ca_certificates;
    Ok(Prepared {
        repositories: built,
        config,
        changes,
        forget,
        started,
    })
}

/// [`prepare`] on a blocking thread: building an upstream's HTTP client (TLS roots) takes
/// milliseconds that must not hold up a runtime worker serving requests.
pub(crate) async fn prepare_apart(app: &Arc<App>, next: Config) -> Result<Prepared, String> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || prepare(&app, next))
        .await
        .map_err(|e| format!("the change failed inside repox: {e}"))?
}

/// Puts a prepared change in force: one swap of the repositories, then what depends on them
/// (the kinds the auth gate knows, the upstreams metrics report, void 404 memories).
pub(crate) fn commit(app: &App, prepared: Prepared) -> Changes {
    let Prepared {
        repositories,
        config,
        changes,
        forget,
        started,
    } = prepared;
    let services = app.services();
    for name in changes.added.iter().chain(&changes.changed) {
        if let Some(repo) = repositories.get(name) {
            for up in &repo.upstreams {
                services.metrics.upstream_known(&up.name);
            }
        }
    }
    let names = |repos: &Repositories| -> std::collections::BTreeSet<String> {
        repos
            .values()
            .flat_map(|r| r.upstreams.iter().map(|u| u.name.clone()))
            .collect()
    };
    let kept = names(&repositories);
    for gone in names(&app.repositories()).difference(&kept) {
        services.metrics.upstream_gone(gone);
    }
    for (prefix, upstream) in &forget {
        services.negative.forget_upstream(prefix, upstream);
    }
    let before = app.repositories();
    app.replace_repositories(repositories);
    if !forget.is_empty() {
        let moved = forget
            .iter()
            .filter_map(|(prefix, _)| before.get(prefix.trim_end_matches('/')).cloned())
            .collect();
        forget_again_when_unused(services.clone(), moved, forget);
    }
    app.auth().set_repositories(&config);
    app.live().current.store(Arc::new(config));
    if !changes.is_empty() {
        tracing::info!(
            "configuration applied in {:.1} ms: {changes}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    changes
}

/// A request that started on a repository before its upstream moved may still be asking the
/// old URL, and remember its 404 after [`commit`] forgot that upstream's: forget them again once
/// no request uses the old repositories (each request holds its `Arc`). A 404 the new URL gave
/// meanwhile goes too, which costs one more upstream request.
fn forget_again_when_unused(
    services: Arc<crate::repository::Services>,
    old: Vec<Arc<Repository>>,
    forget: Vec<(String, String)>,
) {
    // A download may hold its repository up to its `max_download_time` (1 h by default).
    const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(3 * 3600);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let started = Instant::now();
        for repo in old {
            while Arc::strong_count(&repo) > 1 {
                if started.elapsed() > GIVE_UP {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        for (prefix, upstream) in &forget {
            services.negative.forget_upstream(prefix, upstream);
        }
    });
}

/// Reads the config file again and applies it. A refused file is logged with its error (file,
/// line, key), kept for the API (`last_error`), and the configuration in force stays.
pub async fn reload(app: &Arc<App>) -> Result<Changes, String> {
    let live = app.live();
    let Some(path) = live.file() else {
        return Err("this server has no config file to reload".to_owned());
    };
    let _guard = live.begin().await;
    let result = match read(path) {
        Ok(config) => prepare_apart(app, config.clone())
            .await
            .map(|prepared| (config, prepared)),
        Err(e) => Err(e),
    };
    match result {
        Ok((config, prepared)) => {
            live.set_last_error(None);
            let now = restart_only(&config);
            let mut seen = live.restart_only.lock().expect("live lock");
            if seen.as_ref().is_some_and(|before| *before != now) {
                tracing::warn!(
                    "{}: changes of [server], [auth] and [storage] take effect at the next restart; \
                     repositories are applied now",
                    path.display()
                );
            }
            *seen = Some(now);
            drop(seen);
            Ok(commit(app, prepared))
        }
        Err(error) => {
            tracing::error!(
                "config reload refused: {error}; the previous configuration stays in force"
            );
            live.set_last_error(Some(error.clone()));
            Err(error)
        }
    }
}

/// The file's configuration. A file that disappears is not taken as "back to the defaults":
/// it is more often the first half of a replacement (or a mistake) than a wish to drop every
/// repository it named.
fn read(path: &Path) -> Result<Config, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Config::parse(&text, path).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "config file `{}` does not exist; create it (an empty file means the built-in \
             defaults)",
            path.display()
        )),
        Err(e) => Err(format!("cannot read config file `{}`: {e}", path.display())),
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Kind, RepoName, UpstreamConfig};
    use std::collections::BTreeMap;

    fn repo(url: &str) -> RepositoryConfig {
        RepositoryConfig {
            upstreams: vec![UpstreamConfig::new("up", url.parse().unwrap())],
            ..RepositoryConfig::new(Kind::Maven)
        }
    }

    fn with(config: &Config, repositories: BTreeMap<RepoName, RepositoryConfig>) -> Config {
        Config {
            repositories,
            ..config.clone()
        }
    }

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[tokio::test]
    async fn unchanged_repositories_keep_their_arc_and_changed_ones_are_rebuilt() {
        let cache = tempfile::tempdir().unwrap();
        let mut config = Config::embedded();
        config.server.cache_dir = Some(cache.path().to_owned());
        config.repositories = BTreeMap::from([
            (name("a"), repo("http://127.0.0.1:1/")),
            (name("b"), repo("http://127.0.0.1:2/")),
            (name("c"), repo("http://127.0.0.1:3/")),
        ]);
        let app = App::new(&config).unwrap();
        let (a, b) = (app.repository("a").unwrap(), app.repository("b").unwrap());

        let mut next = config.repositories.clone();
        next.get_mut(&name("b")).unwrap().upstreams[0].priority = 1;
        next.remove(&name("c"));
        next.insert(name("d"), repo("http://127.0.0.1:4/"));
        let changes = commit(&app, prepare(&app, with(&config, next.clone())).unwrap());
        assert_eq!(
            changes,
            Changes {
                added: vec!["d".into()],
                changed: vec!["b".into()],
                removed: vec!["c".into()],
            }
        );
        assert!(Arc::ptr_eq(&a, &app.repository("a").unwrap()));
        assert!(!Arc::ptr_eq(&b, &app.repository("b").unwrap()));
        assert!(app.repository("c").is_none());
        let keys: Vec<_> = app.live().config().repositories.keys().cloned().collect();
        assert_eq!(keys, [name("a"), name("b"), name("d")]);

        // The same settings again: nothing is rebuilt.
        let b = app.repository("b").unwrap();
        assert!(commit(&app, prepare(&app, with(&config, next.clone())).unwrap()).is_empty());
        assert!(Arc::ptr_eq(&b, &app.repository("b").unwrap()));

        // An invalid change is refused whole: d's bad glob keeps b's change out too.
        let mut bad = next.clone();
        bad.get_mut(&name("b")).unwrap().upstreams[0].priority = 2;
        bad.get_mut(&name("d")).unwrap().block = vec!["a[".into()];
        let err = prepare(&app, with(&config, bad)).err().unwrap();
        assert!(err.starts_with("repositories.d.block: bad glob"), "{err}");
        assert!(Arc::ptr_eq(&b, &app.repository("b").unwrap()));
    }

    #[tokio::test]
    async fn a_404_a_request_on_the_old_repository_remembers_after_a_move_is_forgotten_too() {
        let cache = tempfile::tempdir().unwrap();
        let mut config = Config::embedded();
        config.server.cache_dir = Some(cache.path().to_owned());
        config.repositories = BTreeMap::from([(name("a"), repo("http://127.0.0.1:1/"))]);
        let app = App::new(&config).unwrap();
        let negative = &app.services().negative;
        let in_flight = app.repository("a").unwrap();

        let mut moved = config.repositories.clone();
        moved.get_mut(&name("a")).unwrap().upstreams[0].url =
            "http://127.0.0.1:2/".parse().unwrap();
        let changes = commit(&app, prepare(&app, with(&config, moved)).unwrap());
        assert_eq!(changes.changed, ["a"]);
        // The request that started before the move ends now, with the old URL's 404.
        negative.insert("a/x/1/x-1.jar", "up", 3600);
        assert!(negative.lacks("a/x/1/x-1.jar", "up"));
        drop(in_flight);
        for _ in 0..100 {
            if !negative.lacks("a/x/1/x-1.jar", "up") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the late 404 of the old URL is still remembered");
    }
}
