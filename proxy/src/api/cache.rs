//! `/-/api/cache/NAME` and `/-/api/negative/NAME`: browse, search and delete what a repository
//! has cached, and view and clear what its upstreams are remembered to lack.
//!
//! Listing reads the entry index (`store/index.rs`), which is ordered by key: a page is one
//! range scan, and the directory view (`?tree=1`) jumps from one child directory to the next
//! with one index seek each, so browsing a cache of millions of entries stays cheap. A store
//! without an index (S3) is listed by walking it, up to [`WALK_CAP`] entries.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{error, no_repository};
use crate::config::Kind;
use crate::repository::Repository;
use crate::server::App;
use crate::store::{Index, Listed};

/// Most entries one page returns.
const MAX_LIMIT: usize = 1000;
/// Most entries a search looks at for one page (the rest is behind the returned cursor).
const SEARCH_SCAN: usize = 20_000;
/// Most entries listed from a store without an index.
const WALK_CAP: usize = 100_000;
/// Most child directories one tree page returns.
const MAX_DIRS: usize = 1000;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/-/api/cache/{name}", get(list))
        .route("/-/api/cache/{name}/purge", post(purge))
        .route("/-/api/cache/{name}/{*path}", axum::routing::delete(delete))
        .route(
            "/-/api/negative/{name}",
            get(negative_list).delete(negative_clear),
        )
}

/// `?prefix=&q=&limit=&cursor=&tree=`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    /// Path below the repository (`org/example/`), no leading `/`.
    #[serde(default)]
    prefix: String,
    /// Case-insensitive substring of the path.
    #[serde(default)]
    q: String,
    #[serde(default)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// `1`: the directories and files directly under `prefix`.
    #[serde(default)]
    tree: Option<u8>,
}

/// One cached entry.
#[derive(Debug, Serialize)]
pub struct CacheEntry {
    /// Path below the repository.
    pub path: String,
    /// Bytes in the store.
    pub size: u64,
    /// When its body was fetched (Unix seconds).
    pub fetched_at: Option<u64>,
    /// Last time a client got it (Unix seconds; from the index).
    pub last_access: Option<u64>,
    /// The upstream it came from.
    pub upstream: Option<String>,
    /// How it was checked before it was committed (`sha256`, `length`, …).
    pub verification: Option<String>,
}

/// Checks a path below a repository as a client could never send it: no `.`/`..` or empty
/// segments, no `\` or control characters. It is already percent-decoded.
fn checked(path: &str, what: &str) -> Result<(), String> {
    let body = path.strip_suffix('/').unwrap_or(path);
    let bad = body.starts_with('/')
        || (!body.is_empty()
            && body
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."))
        || body.chars().any(|c| c == '\\' || c.is_control());
    if bad {
        return Err(format!(
            "{what} `{path}` is not a path below the repository: no leading `/`, no empty, `.` or `..` segments"
        ));
    }
    Ok(())
}

async fn list(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad query: use ?prefix=PATH&q=TEXT&limit=N&cursor=NEXT&tree=1",
        );
    };
    let Some(repo) = app.repository(&name) else {
        return no_repository(&app, &name);
    };
    if let Err(why) = checked(&query.prefix, "prefix") {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let root = format!("{}/", repo.name);
    let prefix = format!("{root}{}", query.prefix);
    let store = app.services.store.clone();
    let index = store.index().cloned();
    let needle = query.q.to_lowercase();
    let cursor = query.cursor.map(|c| format!("{root}{c}"));
    let tree = query.tree == Some(1);
    let found = tokio::task::spawn_blocking({
        let store = store.clone();
        let needle = needle.clone();
        move || -> std::io::Result<Page> {
            match index {
                Some(index) if tree => tree_page(&index, &prefix, limit),
                Some(index) => flat_page(&index, &prefix, &needle, cursor.as_deref(), limit),
                None => walk_page(&*store, &prefix, &needle, cursor.as_deref(), limit, tree),
            }
        }
    })
    .await;
    let page = match found {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot list the cache of `{name}`: {e}"),
            );
        }
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "listing the cache failed inside repox; see its log",
            );
        }
    };
    let mut entries = Vec::with_capacity(page.entries.len());
    for (key, size, last_access) in page.entries {
        let meta = store.head(&key).await.ok().flatten();
        entries.push(CacheEntry {
            path: key[root.len()..].to_owned(),
            size,
            fetched_at: meta.as_ref().map(|m| m.fetched_at),
            last_access,
            upstream: meta
                .as_ref()
                .map(|m| m.upstream.clone())
                .filter(|u| !u.is_empty()),
            verification: meta.as_ref().and_then(|m| {
                serde_json::to_value(m.verification)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
        });
    }
    let dirs: Vec<String> = page
        .dirs
        .into_iter()
        .map(|d| d[root.len()..].to_owned())
        .collect();
    let next = page.next.map(|n| n[root.len()..].to_owned());
    let mut body = json!({
        "repository": repo.name,
        "prefix": query.prefix,
        "dirs": dirs,
        "entries": entries,
        "next": next,
    });
    if repo.config.role() == crate::config::Role::Hosted {
        match hosted_files(&repo, &query.prefix, &needle, limit).await {
            Ok((files, more)) => {
                body["hosted"] = files.into();
                body["hosted_more"] = more.into();
            }
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot list the uploads of `{name}`: {e}"),
                );
            }
        }
    }
    axum::Json(body).into_response()
}

/// The uploaded files of hosted `repo` under `prefix` whose path contains `needle`, without
/// repox's internal documents; at most `limit`, and whether more matched.
async fn hosted_files(
    repo: &Repository,
    prefix: &str,
    needle: &str,
    limit: usize,
) -> Result<(Vec<serde_json::Value>, bool), crate::hosted::UploadError> {
    let mut files = crate::hosted::list(&repo.services.store, &repo.name, prefix).await?;
    let kind = repo.config.kind;
    files.retain(|f| {
        !crate::hosted::is_internal(kind, &f.path) && f.path.to_lowercase().contains(needle)
    });
    let more = files.len() > limit;
    files.truncate(limit);
    let store = &repo.services.store;
    Ok((
        crate::hosted::listing(store, &repo.name, kind, &files).await,
        more,
    ))
}

/// Keys found for one page: entries `(key, size, last access in seconds)`, child directories
/// (keys ending in `/`), and the cursor of the next page.
#[derive(Default)]
struct Page {
    entries: Vec<(String, u64, Option<u64>)>,
    dirs: Vec<String>,
    next: Option<String>,
}

fn flat_page(
    index: &Index,
    prefix: &str,
    needle: &str,
    cursor: Option<&str>,
    limit: usize,
) -> std::io::Result<Page> {
    let mut page = Page::default();
    let mut after = cursor.map(str::to_owned);
    let mut scanned = 0;
    loop {
        let batch = index.list(prefix, after.as_deref(), 500)?;
        let Some(last) = batch.last() else {
            return Ok(page);
        };
        after = Some(last.key.clone());
        for e in batch {
            scanned += 1;
            if needle.is_empty() || e.key[prefix.len()..].to_lowercase().contains(needle) {
                page.entries
                    .push((e.key.clone(), e.size, Some(e.last_access / 1000)));
                if page.entries.len() == limit {
                    page.next = Some(e.key);
                    return Ok(page);
                }
            }
            if scanned >= SEARCH_SCAN {
                page.next = Some(e.key);
                return Ok(page);
            }
        }
    }
}

/// The directories and entries directly under `prefix` (which ends with `/` or is a
/// repository root), jumping over each child directory's contents with one seek.
fn tree_page(index: &Index, prefix: &str, limit: usize) -> std::io::Result<Page> {
    let mut page = Page::default();
    let mut after: Option<String> = None;
    while page.entries.len() < limit && page.dirs.len() < MAX_DIRS {
        let Some(e) = index.list(prefix, after.as_deref(), 1)?.pop() else {
            break;
        };
        let rest = &e.key[prefix.len()..];
        match rest.split_once('/') {
            Some((child, _)) => {
                let dir = format!("{prefix}{child}/");
                // Past every key below the child: no key has a character above U+10FFFF.
                after = Some(format!("{dir}\u{10ffff}"));
                page.dirs.push(dir);
            }
            None => {
                after = Some(e.key.clone());
                page.entries
                    .push((e.key, e.size, Some(e.last_access / 1000)));
            }
        }
    }
    Ok(page)
}

fn walk_page(
    store: &dyn crate::store::Store,
    prefix: &str,
    needle: &str,
    cursor: Option<&str>,
    limit: usize,
    tree: bool,
) -> std::io::Result<Page> {
    let runtime = tokio::runtime::Handle::current();
    let mut all: Vec<Listed> = runtime.block_on(async {
        let mut out = Vec::new();
        let mut found = store.list(prefix);
        while let Some(item) = found.next().await {
            out.push(item?);
            if out.len() >= WALK_CAP {
                break;
            }
        }
        Ok::<_, std::io::Error>(out)
    })?;
    all.sort_by(|a, b| a.key.cmp(&b.key));
    let mut page = Page::default();
    for e in all {
        if cursor.is_some_and(|c| e.key.as_str() <= c) {
            continue;
        }
        let rest = &e.key[prefix.len()..];
        if tree && let Some((child, _)) = rest.split_once('/') {
            let dir = format!("{prefix}{child}/");
            if page.dirs.last() != Some(&dir) {
                page.dirs.push(dir);
            }
            continue;
        }
        if !needle.is_empty() && !rest.to_lowercase().contains(needle) {
            continue;
        }
        if page.entries.len() == limit {
            page.next = page.entries.last().map(|l| l.0.clone());
            break;
        }
        page.entries.push((e.key, e.size, None));
    }
    Ok(page)
}

async fn delete(
    State(app): State<Arc<App>>,
    Path((name, path)): Path<(String, String)>,
) -> Response {
    let Some(repo) = app.repository(&name) else {
        return no_repository(&app, &name);
    };
    if path.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "name the entry to delete: DELETE /-/api/cache/NAME/PATH; to remove many, POST /-/api/cache/NAME/purge",
        );
    }
    if let Err(why) = checked(&path, "path") {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let key = format!("{}/{path}", repo.name);
    match app.services.store.delete(&key).await {
        Ok(Some(bytes)) => {
            tracing::info!("deleted cache entry {key} ({bytes} bytes) through the admin API");
            axum::Json(json!({ "deleted": path, "bytes": bytes })).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "nothing cached at `{path}` in `{name}`; list entries with GET /-/api/cache/{name}?q=TEXT"
            ),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot delete `{key}`: {e}"),
        ),
    }
}

/// `{"prefix": "org/example/"}` or `{"project": "NAME"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    project: Option<String>,
}

async fn purge(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: Result<axum::Json<PurgeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(repo) = app.repository(&name) else {
        return no_repository(&app, &name);
    };
    let Ok(axum::Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send a JSON body {\"prefix\": \"PATH/\"} or {\"project\": \"NAME\"} with Content-Type: application/json",
        );
    };
    let store = &app.services.store;
    let root = format!("{}/", repo.name);
    let purged = match (body.prefix, body.project) {
        (Some(prefix), None) => {
            if prefix.trim_matches('/').is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "prefix is empty: name a path below the repository (to empty it all, use `repox cache rm NAME`)",
                );
            }
            if let Err(why) = checked(&prefix, "prefix") {
                return error(StatusCode::BAD_REQUEST, why);
            }
            store.purge(&format!("{root}{prefix}")).await
        }
        (None, Some(project)) => {
            let project = project.trim();
            if project.is_empty()
                || project.contains(['/', '\\'])
                || project.chars().any(char::is_control)
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "project `{project}` is not a project name (for Maven: GROUP:ARTIFACT)"
                    ),
                );
            }
            purge_project(&app, &repo, project).await
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"prefix\" and \"project\"",
            );
        }
    };
    match purged {
        Ok(p) => {
            tracing::info!(
                "purged {} entries ({} bytes) of `{name}` through the admin API",
                p.entries,
                p.bytes
            );
            axum::Json(json!({ "entries": p.entries, "bytes": p.bytes })).into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot purge in `{name}`: {e}"),
        ),
    }
}

/// Lower case with `-`, `_` and `.` alike (PEP 503 names; npm and cargo names compare the same
/// way closely enough for finding files).
fn normalize(name: &str) -> String {
    name.to_lowercase().replace(['_', '.'], "-")
}

/// True when `key` (below the repository) belongs to `project`: a path segment is the project,
/// or a file name starts with `project-` (wheels, sdists, conda packages, crates, npm tarballs).
fn of_project(kind: Kind, below: &str, project: &str) -> bool {
    if kind == Kind::Maven {
        // GROUP:ARTIFACT is the directory GROUP/with/slashes/ARTIFACT/.
        let dir = match project.split_once(':') {
            Some((group, artifact)) => format!("{}/{artifact}/", group.replace('.', "/")),
            None => format!("{project}/"),
        };
        return below.starts_with(&dir) || below.contains(&format!("/{dir}"));
    }
    let wanted = normalize(project);
    below.split('/').enumerate().any(|(i, segment)| {
        let segment = normalize(segment);
        let file = i + 1 == below.split('/').count();
        segment == wanted
            || (file
                && segment.strip_prefix(&wanted).is_some_and(|r| {
                    r.starts_with('-') && r[1..].starts_with(|c: char| c.is_ascii_digit())
                }))
    })
}

async fn purge_project(
    app: &App,
    repo: &Repository,
    project: &str,
) -> std::io::Result<crate::store::Purged> {
    let root = format!("{}/", repo.name);
    let store = &app.services.store;
    let mut keys = Vec::new();
    match store.index().cloned() {
        Some(index) => {
            let root = root.clone();
            let kind = repo.config.kind;
            let project = project.to_owned();
            keys = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
                let mut keys = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let batch = index.list(&root, after.as_deref(), 1000)?;
                    let Some(last) = batch.last() else { break };
                    after = Some(last.key.clone());
                    keys.extend(
                        batch
                            .into_iter()
                            .filter(|e| of_project(kind, &e.key[root.len()..], &project))
                            .map(|e| e.key),
                    );
                }
                Ok(keys)
            })
            .await
            .map_err(std::io::Error::other)??;
        }
        None => {
            let mut found = store.list(&root);
            while let Some(item) = found.next().await {
                let item = item?;
                if of_project(repo.config.kind, &item.key[root.len()..], project) {
                    keys.push(item.key);
                }
            }
        }
    }
    let mut purged = crate::store::Purged::default();
    for key in keys {
        if let Some(bytes) = store.delete(&key).await? {
            purged.entries += 1;
            purged.bytes += bytes;
        }
    }
    Ok(purged)
}

/// `?prefix=&limit=`.
#[derive(Debug, Deserialize)]
struct NegativeQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    limit: Option<usize>,
}

async fn negative_list(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    query: Result<Query<NegativeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad query: use ?prefix=PATH&limit=N",
        );
    };
    let Some(repo) = app.repository(&name) else {
        return no_repository(&app, &name);
    };
    let root = format!("{}/", repo.name);
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let entries: Vec<_> = app
        .services
        .negative
        .entries(&format!("{root}{}", query.prefix), limit)
        .into_iter()
        .map(|(key, upstream, expires)| {
            json!({ "path": &key[root.len()..], "upstream": upstream, "expires_at": expires })
        })
        .collect();
    axum::Json(json!({ "repository": repo.name, "entries": entries })).into_response()
}

async fn negative_clear(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    query: Result<Query<NegativeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "bad query: use ?prefix=PATH");
    };
    let Some(repo) = app.repository(&name) else {
        return no_repository(&app, &name);
    };
    if let Err(why) = checked(&query.prefix, "prefix") {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let prefix = format!("{}/{}", repo.name, query.prefix);
    let cleared = app.services.negative.clear(&prefix);
    tracing::info!("cleared {cleared} negative-cache entries under {prefix} through the admin API");
    axum::Json(json!({ "cleared": cleared })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_files_are_found_by_segment_or_file_name() {
        assert!(of_project(Kind::Pypi, "pages/attrs/pypi", "attrs"));
        assert!(of_project(
            Kind::Pypi,
            "packages/ab/cd/attrs-23.1.0-py3-none-any.whl",
            "attrs"
        ));
        assert!(of_project(
            Kind::Pypi,
            "packages/x/Foo_Bar-1.0.tar.gz",
            "foo-bar"
        ));
        assert!(!of_project(
            Kind::Pypi,
            "packages/x/attrs-extra-1.0.tar.gz",
            "attrs"
        ));
        assert!(of_project(
            Kind::Npm,
            "tarballs/left-pad/left-pad-1.3.0.tgz",
            "left-pad"
        ));
        assert!(of_project(
            Kind::Cargo,
            "crates/serde/serde-1.0.0.crate",
            "serde"
        ));
        assert!(!of_project(
            Kind::Cargo,
            "crates/serde_json/serde_json-1.0.0.crate",
            "serde"
        ));
        assert!(of_project(
            Kind::Maven,
            "org/example/lib/1.0/lib-1.0.jar",
            "org.example:lib"
        ));
        assert!(!of_project(
            Kind::Maven,
            "org/example/lib2/1.0/lib2-1.0.jar",
            "org.example:lib"
        ));
    }

    #[test]
    fn paths_that_leave_the_repository_are_refused() {
        for bad in ["../x", "a/../b", "/etc", "a//b", "a/./b", "a\\b", "a\nb"] {
            assert!(checked(bad, "path").is_err(), "{bad}");
        }
        for good in ["", "a/", "org/example/lib-1.0.jar", "~rewritten/x"] {
            assert!(checked(good, "path").is_ok(), "{good}");
        }
    }
}
