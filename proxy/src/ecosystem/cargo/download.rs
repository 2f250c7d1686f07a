//! `.crate` downloads (`/cargo/dl/<crate>/<version>/download`): immutable, cached under
//! `NAME/crates/<crate>/<crate>-<version>.crate`, and verified against the `cksum` of the
//! crate's index file before they are committed.
//!
//! cargo reads the index file before it downloads, so the checksum is normally in the cache;
//! otherwise the index file is fetched, and a download is never committed without it: an
//! index that fails (5xx, timeout) fails the download. Each upstream's own `dl` template says where it serves
//! the file (crates.io: `https://static.crates.io/crates/<crate>/<version>/download`).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};

use super::{index, index_resource, registry_config};
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Outcome, Repository, Resource, Verify, tagged};

/// Serves one `.crate` file.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: RepoPath,
    name: &str,
    version: &str,
) -> Response {
    let policy = crate::policy::current(repo);
    if policy.is_active() {
        let published = match policy.uses_time() {
            true => match published(repo, name, version).await {
                Ok(p) => p,
                Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
            },
            false => (None, None),
        };
        let verdict = policy.judge(
            name,
            version,
            published.0,
            published.1.as_deref(),
            crate::policy::now(),
        );
        if !verdict.allows() {
            return crate::policy::refuse(repo, name, version, &verdict);
        }
    }
    let mut res = Resource::new(repo, path);
    res.key = format!("{}/crates/{name}/{name}-{version}.crate", repo.name);
    if !matches!(repo.services.store.head(&res.key).await, Ok(Some(_))) {
        // No commit without the index's checksum: a failing index fails the download.
        let cksum = match checksum(repo, name, version).await {
            Ok(c) => c,
            Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
        };
        res.verify = Verify::Cksum(cksum.clone());
        let cksum = Some(cksum);
        let mut targets = Vec::new();
        for i in 0..repo.upstreams.len() {
            if let Some(url) =
                registry_config::download_url(repo, i, name, version, cksum.as_deref()).await
            {
                targets.push((i, url));
            }
        }
        if targets.is_empty() {
            let why = "no upstream config.json says where crates are downloaded".to_owned();
            return tagged(Failure::Upstream(why).into_response(), Outcome::Miss, None);
        }
        res.targets = Some(targets);
    }
    repo.serve(res, method, req).await
}

/// The `pubtime` of `version` by the crate's index file (as fresh as `index_ttl` keeps it),
/// with the upstream it came from.
async fn published(
    repo: &Arc<Repository>,
    name: &str,
    version: &str,
) -> Result<(Option<i64>, Option<String>), Failure> {
    let res = index_resource(repo, &index::path_of(name)).ok_or(Failure::NotFound)?;
    let (entry, _) = repo.entry(&res).await?;
    let body = entry.bytes().await.map_err(Failure::internal)?;
    let at = crate::policy::documents::cargo_pubtime(&body, version);
    Ok((at, Some(entry.meta.upstream.clone())))
}

/// The crate's `cksum` from its index file: the cached copy, or a fresh one when the cached
/// copy does not list the version yet (or there is none). A version the index does not list is
/// 404; an index that cannot be fetched is that failure (502/504).
async fn checksum(repo: &Arc<Repository>, name: &str, version: &str) -> Result<String, Failure> {
    let res = index_resource(repo, &index::path_of(name)).ok_or(Failure::NotFound)?;
    if let Ok(Some(cached)) = repo.services.store.get(&res.key).await
        && let Ok(body) = cached.bytes().await
        && let Some(c) = index::checksum(&body, version)
    {
        return Ok(c);
    }
    let (entry, _) = repo.entry(&res).await?;
    let body = entry.bytes().await.map_err(Failure::internal)?;
    index::checksum(&body, version).ok_or(Failure::NotFound)
}
