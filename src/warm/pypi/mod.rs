//! Python items: files pinned by a lock (found by name on their project page) and requirements
//! the resolver turns into files, per target environment. For each file the warm fetches the
//! project page in both variants clients negotiate (PEP 691 JSON and PEP 503 HTML), the
//! file's PEP 658 `.metadata` when the index has one, and the file itself.
//!
//! Pages come from repox's PyPI repository whose upstream matches the index the input names
//! (`--index-url`, a lock file's source); an index repox does not know falls back to the
//! default PyPI repository with a warning, since the file may well be there too.

#[cfg(test)]
mod fuzz_tests;
mod index;
mod resolver;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use pep508_rs::PackageName;
use url::Url;

use super::endpoint::Endpoint;
use super::fetch::{Fetch, Fetcher};
use super::report::Failure;
use super::tags::Environment;
use super::targets::repository_for;
use super::{IndexRole, Origin, Plan, PypiFile, SkipKind, Skipped, Want};
use index::{ACCEPT_HTML, ACCEPT_JSON, DistFile, Index, metadata_url};
use resolver::{Request, RootRequirement, ranges_of};

/// What the Python part could not do.
#[derive(Default)]
pub struct Outcome {
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failure>,
}

/// Warms every Python item of `plan` (only those), submitting downloads to `submit`.
pub async fn warm(
    fetcher: &Fetcher,
    endpoint: &Endpoint,
    plan: Plan,
    environments: &[Environment],
    submit: &(dyn Fn(Fetch) + Sync),
) -> Outcome {
    let mut outcome = Outcome::default();
    let progress = fetcher.progress().clone();
    let Some(default_repo) = endpoint.default_repository("pypi") else {
        for item in &plan.items {
            outcome
                .failed
                .push(failure(item, "this repox has no PyPI repository".into()));
        }
        return outcome;
    };
    let base_of = |repo: &str| {
        endpoint
            .url(repo, "simple/")
            .expect("a repository name forms a URL")
    };
    let mut warned = HashSet::new();
    let mut repo_for_index = |url: &Url| -> String {
        match repository_for(endpoint, "pypi", url) {
            Some(repo) => repo.name.clone(),
            None => {
                if warned.insert(url.clone()) {
                    progress.warn(&format!(
                        "index {} is not an upstream of this repox; looking in /{}/ instead \
                         (add it to the config to warm it as such)",
                        super::redacted(url),
                        default_repo.name
                    ));
                }
                default_repo.name.clone()
            }
        }
    };

    // Where projects are looked up: `--index-url` replaces the default, extra indexes add to it.
    let mut defaults: Vec<String> = Vec::new();
    if let Some(primary) = plan
        .indexes
        .iter()
        .rev()
        .find(|i| i.role == IndexRole::Primary)
    {
        defaults.push(repo_for_index(&primary.url));
    } else {
        defaults.push(default_repo.name.clone());
    }
    for extra in plan.indexes.iter().filter(|i| i.role == IndexRole::Extra) {
        let repo = repo_for_index(&extra.url);
        if !defaults.contains(&repo) {
            defaults.push(repo);
        }
    }
    let mut per_project: HashMap<PackageName, Vec<Url>> = HashMap::new();
    for item in &plan.items {
        let (project, index) = match item {
            Want::PypiRequirement(r) => (Some(&r.requirement.name), r.index.as_ref()),
            Want::PypiFile(f) => (f.project.as_ref(), f.index.as_ref()),
            _ => (None, None),
        };
        if let (Some(project), Some(index)) = (project, index) {
            let repo = repo_for_index(index);
            per_project.insert(project.clone(), vec![base_of(&repo)]);
        }
    }
    let index = Index::new(
        fetcher.clone(),
        defaults.iter().map(|r| base_of(r)).collect(),
        per_project,
    );

    if plan.pip.no_index {
        for item in &plan.items {
            outcome.skipped.push(Skipped {
                what: describe(item),
                origin: item.origin().clone(),
                why: "--no-index: the requirements only use local files".into(),
                kind: SkipKind::Unsupported,
            });
        }
        return outcome;
    }

    let mut requirements = Vec::new();
    let mut warmed_pages = HashSet::new();
    let mut warm_page = |page: &Url, submit: &(dyn Fn(Fetch) + Sync)| {
        if warmed_pages.insert(page.clone()) {
            let project = page
                .path_segments()
                .and_then(|mut s| s.rfind(|s| !s.is_empty()))
                .unwrap_or("")
                .to_owned();
            submit(
                Fetch::index(page.clone(), format!("{project} (project page)")).accept(ACCEPT_JSON),
            );
            submit(
                Fetch::index(page.clone(), format!("{project} (project page, HTML)"))
                    .accept(ACCEPT_HTML),
            );
        }
    };

    // Files pinned by name (every lock format): find each on its project page.
    let mut pages = Vec::new();
    for item in &plan.items {
        match item {
            Want::PypiFile(file) => match &file.project {
                Some(project) => pages.push((file, index.page(project))),
                None => outcome.skipped.push(Skipped {
                    what: file.filename.clone(),
                    origin: file.origin.clone(),
                    why: "cannot tell which project this file belongs to, so repox cannot \
                          find it on an index"
                        .into(),
                    kind: SkipKind::Unsupported,
                }),
            },
            Want::PypiRequirement(r) => requirements.push(r.clone()),
            _ => {}
        }
    }
    for (file, page) in pages {
        match page.await {
            Err(e) => outcome
                .failed
                .push(failure(&Want::PypiFile(file.clone()), e)),
            Ok(page) => match page.files.iter().find(|f| same_file(f, file)) {
                Some(found) => {
                    if let Some(url) = &page.url {
                        warm_page(url, submit);
                    }
                    submit_file(found, &file.hashes, Some(&file.origin), submit);
                }
                None => outcome.failed.push(failure(
                    &Want::PypiFile(file.clone()),
                    format!(
                        "{} is not on the project page {}",
                        file.filename,
                        page.url.as_ref().map(Url::as_str).unwrap_or("")
                    ),
                )),
            },
        }
    }

    if requirements.is_empty() {
        return outcome;
    }
    // Resolve the requirements for every environment at once; the index is shared.
    let follow = !plan.pip.require_hashes;
    let request = Arc::new(Request {
        requirements: requirements
            .iter()
            .map(|r| RootRequirement {
                requirement: r.requirement.clone(),
                hashes: r.hashes.clone(),
            })
            .collect(),
        constraints: plan
            .constraints
            .iter()
            .map(|c| c.requirement.clone())
            .collect(),
        options: plan.pip.clone(),
        follow,
        pinned: requirements
            .iter()
            .all(|r| resolver::is_pinned(&r.requirement)),
    });
    let mut hints: HashMap<PackageName, pubgrub::Ranges<pep508_rs::pep440_rs::Version>> =
        HashMap::new();
    for r in request
        .requirements
        .iter()
        .map(|r| &r.requirement)
        .chain(&request.constraints)
    {
        if let Some(range) = ranges_of(r) {
            let e = hints
                .entry(r.name.clone())
                .or_insert_with(pubgrub::Ranges::full);
            *e = e.intersection(&range);
        }
    }
    index.enable_prefetch(environments.to_vec(), hints);
    for r in &request.requirements {
        drop(index.page(&r.requirement.name));
    }
    let origins: BTreeMap<PackageName, Origin> = requirements
        .iter()
        .map(|r| (r.requirement.name.clone(), r.origin.clone()))
        .collect();
    progress.phase(&format!(
        "resolving {} for {}",
        crate::warm::report::count(requirements.len(), "requirement"),
        environments
            .iter()
            .map(Environment::short)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let handle = tokio::runtime::Handle::current();
    let mut runs = Vec::new();
    for env in environments {
        let (index, env, request, handle) =
            (index.clone(), env.clone(), request.clone(), handle.clone());
        runs.push(tokio::task::spawn_blocking(move || {
            let result = resolver::resolve(handle, &index, &env, &request);
            (env, result)
        }));
    }
    let mut picked = HashSet::new();
    for run in runs {
        let (env, result) = match run.await {
            Ok(r) => r,
            Err(e) => {
                outcome.failed.push(Failure {
                    what: "Python resolution".into(),
                    url: None,
                    origin: None,
                    error: format!("the resolver crashed: {e}"),
                });
                continue;
            }
        };
        match result {
            Err(e) => outcome.failed.push(Failure {
                what: format!("resolving for {env}"),
                url: None,
                origin: requirements
                    .first()
                    .map(|r| r.origin.path.display().to_string()),
                error: e,
            }),
            Ok(resolution) => {
                for w in resolution.warnings {
                    progress.warn(&format!("{}: {w}", env.short()));
                }
                tracing::debug!(
                    "{env}: {}",
                    resolution
                        .picks
                        .iter()
                        .map(|p| format!("{}=={}", p.project, p.version))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                for pick in resolution.picks {
                    if let Some(page) = &pick.page {
                        warm_page(page, submit);
                    }
                    if picked.insert(pick.file.url.clone()) {
                        let origin = origins.get(&pick.project);
                        let expected = requirements
                            .iter()
                            .filter(|r| r.requirement.name == pick.project)
                            .flat_map(|r| r.hashes.iter().cloned())
                            .collect::<Vec<_>>();
                        submit_file(&pick.file, &expected, origin, submit);
                    }
                }
            }
        }
    }
    outcome
}

/// The file, and its `.metadata` when the index has one.
fn submit_file(
    file: &DistFile,
    lock_hashes: &[super::Hash],
    origin: Option<&Origin>,
    submit: &(dyn Fn(Fetch) + Sync),
) {
    if file.has_metadata {
        submit(
            Fetch::index(
                metadata_url(&file.url),
                format!("{}.metadata", file.filename),
            )
            .expect(file.metadata_hashes.clone())
            .origin(origin.cloned()),
        );
    }
    // The lock's digests are checked; the index's are checked by repox itself.
    let expect = if lock_hashes.is_empty() {
        file.hashes.clone()
    } else {
        lock_hashes.to_vec()
    };
    submit(
        Fetch::package(file.url.clone(), file.filename.clone())
            .expect(expect)
            .origin(origin.cloned()),
    );
}

/// A lock's file on a page: by name (the URL's host differs: the page is repox's).
fn same_file(listed: &DistFile, wanted: &PypiFile) -> bool {
    listed.filename == wanted.filename
        || percent_encoding::percent_decode_str(&listed.filename).decode_utf8_lossy()
            == wanted.filename
}

fn describe(item: &Want) -> String {
    match item {
        Want::PypiRequirement(r) => r.requirement.to_string(),
        Want::PypiFile(f) => f.filename.clone(),
        other => other.to_string(),
    }
}

fn failure(item: &Want, error: String) -> Failure {
    Failure {
        what: describe(item),
        url: None,
        origin: Some(item.origin().to_string()),
        error,
    }
}
