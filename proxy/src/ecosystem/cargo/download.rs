//! `.crate` downloads (`/cargo/dl/<crate>/<version>/download`): immutable, cached under
//! `NAME/crates/<crate>/<crate>-<version>.crate`, and verified against the `cksum` of the
//! crate's index file before they are committed.
//!
//! cargo reads the index file before it downloads, so the checksum is normally in the cache;
//! otherwise the index file is fetched. Each upstream's own `dl` template says where it serves
//! the file (crates.io: `https://static.crates.io/crates/<crate>/<version>/download`).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};

use super::{index, index_resource, registry_config};
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Repository, Resource, Verify, tagged};

/// Serves one `.crate` file.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: RepoPath,
    name: &str,
    version: &str,
) -> Response {
    let mut res = Resource::new(repo, path);
    res.key = format!("{}/crates/{name}/{name}-{version}.crate", repo.name);
    if !matches!(repo.services.store.get(&res.key).await, Ok(Some(_))) {
        let cksum = checksum(repo, name, version).await;
        if let Some(c) = &cksum {
            res.verify = Verify::Cksum(c.clone());
        }
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
            return tagged(Failure::Upstream(why).into_response(), "miss", None);
        }
        res.targets = Some(targets);
    }
    repo.serve(res, method, req).await
}

/// The crate's `cksum` from its index file: the cached copy, or a fresh one when the cached
/// copy does not list the version yet (or there is none).
async fn checksum(repo: &Arc<Repository>, name: &str, version: &str) -> Option<String> {
    let res = index_resource(repo, &index::path_of(name))?;
    if let Ok(Some(cached)) = repo.services.store.get(&res.key).await
        && let Ok(body) = cached.bytes().await
        && let Some(c) = index::checksum(&body, version)
    {
        return Some(c);
    }
    let (entry, _) = repo.entry(&res).await.ok()?;
    index::checksum(&entry.bytes().await.ok()?, version)
}
