//! The cargo sparse registry protocol under one prefix: the index at `/cargo/index/`
//! (`sparse+http://HOST/cargo/index/`), crate downloads at `/cargo/dl/`, the web API at
//! `/cargo/api/`.
//!
//! - `index/config.json` is rewritten so that `dl` and `api` point at repox
//!   (`registry_config.rs`);
//! - other index files (`index/se/rd/serde`) pass through byte for byte and are revalidated with
//!   the upstream's ETag or Last-Modified after `index_ttl`; they are answered once complete,
//!   with repox's ETag, which cargo revalidates its own copies against;
//! - `dl/<crate>/<version>/download` serves `.crate` files, immutable and verified against the
//!   index `cksum` (`download.rs`);
//! - `api/v1/crates?q=…` (`cargo search`) is passed through uncached to the upstream's `api`;
//!   the rest of the web API (publish, yank, owners, tokens) is answered 404, so no client acts
//!   with repox's registry credentials.

mod download;
#[cfg(test)]
mod fuzz_tests;
mod index;
pub use index::{path_of as index_path, prefix as index_prefix};
mod registry_config;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use crate::error::Failure;
use crate::fence::push_under;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, tagged};
use crate::respond;

use super::npm::passthrough;

/// Serves one request below the repository prefix.
pub async fn handle(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    path: RepoPath,
) -> Response {
    let p = path.as_str();
    let segments: Vec<&str> = p.split('/').collect();
    match segments.as_slice() {
        ["index", "config.json"] => registry_config::serve(repo, method, req, uri).await,
        ["index", rest @ ..] if !rest.is_empty() && !p.ends_with('/') => {
            match index_resource(repo, &rest.join("/")) {
                Some(res) => serve_whole(repo, &res, method, req).await,
                None => tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
            }
        }
        ["dl", name, version, "download"] if valid_name(name) => {
            if !valid_version(version) {
                let why = format!("`{version}` is not a crate version (semver characters only)");
                return tagged(
                    Failure::BadRequest(why).into_response(),
                    Outcome::Miss,
                    None,
                );
            }
            let (name, version) = ((*name).to_owned(), (*version).to_owned());
            download::serve(repo, method, req, path, &name, &version).await
        }
        ["api", "v1", "crates"] => api(repo, method, req, uri).await,
        ["api", ..] => {
            let why = "repox passes only `cargo search` (api/v1/crates) to the registry's web \
                       API; publish, yank, owners and tokens go to the registry itself\n";
            tagged(
                (http::StatusCode::NOT_FOUND, why).into_response(),
                Outcome::Pass,
                None,
            )
        }
        _ => tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
    }
}

/// An index file below the index root, e.g. `se/rd/serde`; `None` for names cargo never asks
/// for.
fn index_resource(repo: &Repository, below_index: &str) -> Option<Resource> {
    let name = below_index.rsplit('/').next()?;
    if !valid_name(name) || below_index != index::path_of(name) {
        return None;
    }
    let path = RepoPath::parse(below_index).ok()?;
    let mut res = Resource::new(repo, path);
    res.key = format!("{}/index/{below_index}", repo.name);
    res.class = Class::Mutable(repo.config.index_ttl());
    Some(res)
}

/// Serves a small mutable file once it is complete, so that even the first answer carries the
/// ETag cargo revalidates with next time (a streamed miss cannot: its digest is not known yet).
async fn serve_whole(
    repo: &Arc<Repository>,
    res: &Resource,
    method: &Method,
    req: &HeaderMap,
) -> Response {
    match repo.entry(res).await {
        Ok((entry, cache)) => {
            let policy = crate::policy::current(repo);
            let entry = if policy.is_active() {
                let name = res.path.as_str().rsplit('/').next().unwrap_or("");
                let filter = crate::policy::documents::cargo_index;
                match crate::policy::filter::entry(
                    repo,
                    &policy,
                    "cargo-policy",
                    name,
                    entry,
                    filter,
                )
                .await
                {
                    Ok(e) => e,
                    Err(e) => return tagged(e.into_response(), cache, None),
                }
            } else {
                entry
            };
            let presentation = repo.presentation(res, entry.meta.fetched_at);
            let resp = respond::entry_response(method, req, &entry, presentation);
            tagged(resp, cache, Some(entry.meta.upstream.clone()))
        }
        Err(e) => tagged(e.into_response(), Outcome::Miss, None),
    }
}

/// Crate names are ASCII letters, digits, `-` and `_` (cargo `restricted_names`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Versions are semver: ASCII letters, digits, `.`, `-` and `+` (build metadata).
fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 128
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
        && version.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Passes a search (`api/v1/crates?q=…`) to each upstream's `api` in turn, uncached.
async fn api(repo: &Arc<Repository>, method: &Method, req: &HeaderMap, uri: &Uri) -> Response {
    let mut targets = Vec::new();
    for i in 0..repo.upstreams.len() {
        let Some(config) = registry_config::of_upstream(repo, i).await else {
            continue;
        };
        let Some(api) = config.get("api").and_then(|a| a.as_str()) else {
            continue;
        };
        let Ok(base) = url::Url::parse(&format!("{}/", api.trim_end_matches('/'))) else {
            continue;
        };
        if let Ok(mut url) = push_under(&base, ["api", "v1", "crates"], false) {
            url.set_query(uri.query());
            targets.push((i, url));
        }
    }
    passthrough::forward(repo, targets, method.clone(), req, None, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_are_checked() {
        assert!(valid_name("serde_json"));
        assert!(valid_name("a-b"));
        assert!(!valid_name("é"));
        assert!(!valid_name(""));
        assert!(!valid_name("a.b"));
    }

    #[test]
    fn versions_are_checked() {
        assert!(valid_version("1.0.0"));
        assert!(valid_version("1.0.0-rc.1+build.5"));
        for bad in ["1.0.0?a=b", "%2e%2e", "..", "", "1.0/../x", "1.0.0#x", "v1"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}
