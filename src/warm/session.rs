//! One warm from plan to summary: connect to repox (or start it in-process), turn every item
//! into requests, run them with at most `--jobs` in flight, and collect what happened.
//!
//! Items become requests as soon as they are known: pinned files at once, a cargo registry's
//! crates once its `config.json` says where downloads live, the parents and imported BOMs of a
//! Maven POM once the POM is in, Python files once the resolver has picked them. So downloads
//! overlap with the planning that is still going on. With `--dry-run`, package files are only
//! asked about with `HEAD` (size, already cached?) and listed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use repox_proxy::config::Config;
use tokio::task::JoinSet;
use url::Url;

use super::endpoint::Endpoint;
use super::fetch::{Fetch, FetchError, Fetched, Fetcher, Role};
use super::report::{Failure, Planned, Recorder, Summary};
use super::tags::Environment;
use super::targets::{self, Seen};
use super::{Crate, Origin, Plan, Want, pypi};

/// How to warm.
pub struct Options {
    pub jobs: usize,
    pub dry_run: bool,
    pub server: Option<Url>,
    /// Target environments for Python requirements.
    pub environments: Vec<Environment>,
    /// `--user`: log in to repox as this user (see [`super::login`]).
    pub user: Option<String>,
}

/// Runs the warm; the summary says what happened to every file.
pub async fn run(
    config: &Config,
    plan: Plan,
    options: &Options,
    recorder: Arc<Recorder>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    // Every request of a warm goes to repox, so its credentials ride on every request; reqwest
    // drops them on a redirect to another host.
    let server = options
        .server
        .clone()
        .unwrap_or_else(|| crate::settings::server_url(config));
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = super::login::authorization(
        options.user.as_deref(),
        &server,
        &|name| std::env::var(name).ok(),
        super::login::read_netrc().as_deref(),
    )? {
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let headers_empty = headers.is_empty();
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        // repox gives up on a stalled upstream itself (`idle_timeout`); this only guards
        // against a repox that stops answering altogether.
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(300))
        .pool_max_idle_per_host(options.jobs.max(8))
        .user_agent(concat!("repox-warm/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let endpoint =
        Endpoint::connect(&http, config, options.server.as_ref(), !headers_empty).await?;
    let fetcher = Fetcher::new(
        http,
        endpoint.base.clone(),
        options.jobs,
        recorder.clone(),
        endpoint.evictor(),
    );
    let endpoint = Arc::new(endpoint);
    let sink = Sink::new(fetcher.clone(), options.dry_run);
    let failed = Arc::new(Mutex::new(Vec::new()));
    let fail = {
        let failed = failed.clone();
        move |what: String, origin: Option<&Origin>, error: String| {
            failed.lock().expect("failures").push(Failure {
                what,
                url: None,
                origin: origin.map(Origin::to_string),
                error,
            });
        }
    };

    let mut skipped = plan.skipped.clone();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut crates: BTreeMap<String, Vec<Crate>> = BTreeMap::new();
    let mut python = Vec::new();
    for item in &plan.items {
        match item {
            Want::MavenArtifact(a) => {
                let fetches = targets::maven(&endpoint, &mut seen.lock().expect("seen"), a);
                match fetches {
                    Ok(fetches) => {
                        for f in fetches {
                            submit_maven(&sink, &endpoint, &seen, f);
                        }
                    }
                    Err(e) => fail(targets::artifact_label(a), Some(&a.origin), e),
                }
            }
            Want::NpmTarball(t) => {
                match targets::npm(&endpoint, &mut seen.lock().expect("seen"), t) {
                    Ok(fetches) => sink.submit_index_first(fetches),
                    Err(e) => fail(format!("{}@{}", t.name, t.version), Some(&t.origin), e),
                }
            }
            Want::CondaPackage(p) => {
                match targets::conda(&endpoint, &mut seen.lock().expect("seen"), p) {
                    Ok(fetches) => sink.submit_index_first(fetches),
                    Err(e) => fail(p.filename.clone(), Some(&p.origin), e),
                }
            }
            Want::Crate(c) => match targets::cargo_repository(&endpoint, c.registry.as_deref()) {
                Ok(repo) => crates.entry(repo.name.clone()).or_default().push(c.clone()),
                Err(e) => fail(format!("{} {}", c.name, c.version), Some(&c.origin), e),
            },
            Want::PypiRequirement(_) | Want::PypiFile(_) => python.push(item.clone()),
        }
    }

    for (repo, items) in crates {
        warm_crates(&sink, &endpoint, &repo, items, &fail).await;
    }

    if !python.is_empty() {
        let python_plan = Plan {
            items: python,
            ..plan.clone()
        };
        let outcome = pypi::warm(
            &fetcher,
            &endpoint,
            python_plan,
            &options.environments,
            &|f| sink.submit(f),
        )
        .await;
        skipped.extend(outcome.skipped);
        failed.lock().expect("failures").extend(outcome.failed);
    }

    sink.wait().await;
    fetcher.drain().await;
    let mut would_fetch = Vec::new();
    if options.dry_run {
        would_fetch = sink.plan_heads().await;
    }
    let endpoint = Arc::into_inner(endpoint);
    if let Some(endpoint) = endpoint {
        endpoint.shutdown().await;
    }
    let failed = std::mem::take(&mut *failed.lock().expect("failures"));
    let mut summary = Summary::new(
        recorder.records(),
        &skipped,
        failed,
        recorder.warnings(),
        options.dry_run,
        started.elapsed().as_secs_f64(),
    );
    summary.would_fetch = would_fetch;
    Ok(summary)
}

/// Where planned requests go: run (or listed, with `--dry-run`), and waited for at the end.
pub struct Sink {
    fetcher: Fetcher,
    dry_run: bool,
    tasks: Mutex<JoinSet<()>>,
    planned: Mutex<Vec<Fetch>>,
}

impl Sink {
    fn new(fetcher: Fetcher, dry_run: bool) -> Arc<Sink> {
        Arc::new(Sink {
            fetcher,
            dry_run,
            tasks: Mutex::default(),
            planned: Mutex::default(),
        })
    }

    /// Runs `fetch` in the background.
    pub fn submit(&self, fetch: Fetch) {
        self.submit_then(fetch, |_| Box::pin(async {}));
    }

    /// Runs `fetch`, then `then` with its outcome (not at all with `--dry-run`, where the
    /// package files are only listed; index files a plan depends on are fetched directly).
    pub fn submit_then(
        &self,
        fetch: Fetch,
        then: impl FnOnce(Result<Fetched, FetchError>) -> BoxFuture<'static, ()> + Send + 'static,
    ) {
        if self.dry_run {
            self.planned.lock().expect("planned").push(fetch);
            return;
        }
        let request = self.fetcher.get(fetch);
        self.tasks
            .lock()
            .expect("tasks")
            .spawn(async move { then(request.await).await });
    }

    /// Runs the index files of `fetches` at once and the package files after them: repox
    /// verifies a package against the index entry it has cached (npm `integrity`, conda
    /// repodata, cargo `cksum`), so the index should be in first. Index files asked for twice
    /// are fetched once.
    pub fn submit_index_first(&self, fetches: Vec<Fetch>) {
        let (index, packages): (Vec<Fetch>, Vec<Fetch>) =
            fetches.into_iter().partition(|f| f.role == Role::Index);
        if self.dry_run {
            let mut planned = self.planned.lock().expect("planned");
            planned.extend(index);
            planned.extend(packages);
            return;
        }
        let before: Vec<_> = index.into_iter().map(|f| self.fetcher.get(f)).collect();
        let fetcher = self.fetcher.clone();
        self.tasks.lock().expect("tasks").spawn(async move {
            futures_util::future::join_all(before).await;
            let after: Vec<_> = packages.into_iter().map(|f| fetcher.get(f)).collect();
            futures_util::future::join_all(after).await;
        });
    }

    /// Waits for every request, including those submitted while waiting.
    async fn wait(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks"));
            if tasks.is_empty() {
                return;
            }
            while let Some(result) = tasks.join_next().await {
                if let Err(e) = result {
                    tracing::warn!("a download task failed: {e}");
                }
            }
        }
    }

    /// `--dry-run`: HEAD every planned file, `--jobs` at a time.
    async fn plan_heads(&self) -> Vec<Planned> {
        let planned = std::mem::take(&mut *self.planned.lock().expect("planned"));
        let mut set = JoinSet::new();
        for (i, fetch) in planned.into_iter().enumerate() {
            let fetcher = self.fetcher.clone();
            set.spawn(async move {
                let head = if fetch.role == Role::Package {
                    fetcher.head(&fetch.url).await.ok()
                } else {
                    None
                };
                let planned = Planned {
                    role: fetch.role,
                    label: fetch.label,
                    url: fetch.url.to_string(),
                    origin: fetch.origin.as_ref().map(Origin::to_string),
                    bytes: head.as_ref().and_then(|(len, _)| *len),
                    cached: head.map(|(_, cache)| cache == "hit"),
                };
                (i, planned)
            });
        }
        let mut out: Vec<(usize, Planned)> = set.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, p)| p).collect()
    }
}

/// Maven: once a POM is in, its parent and imported BOMs are warmed too (Maven reads them to
/// build the model of every artifact it resolves).
fn submit_maven(sink: &Arc<Sink>, endpoint: &Arc<Endpoint>, seen: &Arc<Mutex<Seen>>, fetch: Fetch) {
    if !fetch.keep_body {
        return sink.submit(fetch);
    }
    let label = PathBuf::from(fetch.url.path());
    let (sink2, endpoint, seen) = (sink.clone(), endpoint.clone(), seen.clone());
    sink.submit_then(fetch, move |result| {
        Box::pin(async move {
            let Some(body) = result.ok().and_then(|f| f.body) else {
                return;
            };
            let text = String::from_utf8_lossy(&body);
            for parent in super::maven::pom_references(&label, &text) {
                let fetches = {
                    let mut seen = seen.lock().expect("seen");
                    if !seen.first_artifact(&parent) {
                        continue;
                    }
                    targets::maven(&endpoint, &mut seen, &parent)
                };
                for f in fetches.into_iter().flatten() {
                    submit_maven(&sink2, &endpoint, &seen, f);
                }
            }
        })
    });
}

/// cargo: the registry's `config.json` (through repox, so `dl` points at repox), then each
/// crate's index file and `.crate`.
async fn warm_crates(
    sink: &Sink,
    endpoint: &Endpoint,
    repo: &str,
    items: Vec<Crate>,
    fail: &impl Fn(String, Option<&Origin>, String),
) {
    let config = match endpoint.url(repo, "index/config.json") {
        Ok(url) => Fetch::index(url, format!("{repo} index config.json")).keep_body(),
        Err(e) => return fail(format!("{repo} config.json"), None, e.to_string()),
    };
    let dl = match sink.fetcher.get(config).await {
        Ok(fetched) => {
            serde_json::from_slice::<serde_json::Value>(&fetched.body.unwrap_or_default())
                .ok()
                .and_then(|v| v.get("dl")?.as_str().map(String::from))
                .ok_or_else(|| "the registry's config.json has no `dl`".to_string())
        }
        Err(e) => Err(format!("cannot read the registry's config.json: {e}")),
    };
    let dl = match dl {
        Ok(dl) => dl,
        Err(why) => {
            for c in &items {
                fail(
                    format!("{} {}", c.name, c.version),
                    Some(&c.origin),
                    why.clone(),
                );
            }
            return;
        }
    };
    for c in items {
        let what = format!("{} {}", c.name, c.version);
        let origin = Some(c.origin.clone());
        let index_path = targets::crate_index_path(&c.name);
        let index = match endpoint.url(repo, &format!("index/{index_path}")) {
            Ok(url) => Fetch::index(url, format!("{} (index)", c.name)).origin(origin.clone()),
            Err(e) => {
                fail(what, origin.as_ref(), e.to_string());
                continue;
            }
        };
        match targets::crate_download_url(&dl, &c) {
            Ok(url) => sink.submit_index_first(vec![
                index,
                Fetch::package(url, format!("{}-{}.crate", c.name, c.version))
                    .expect(c.checksum.clone().into_iter().collect())
                    .origin(origin),
            ]),
            Err(e) => fail(what, origin.as_ref(), e),
        }
    }
}
