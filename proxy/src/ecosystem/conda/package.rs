//! Packages (`.conda`, `.tar.bz2`) and CEP 16 shards: immutable, cached forever, and verified
//! before they are committed: a package against the SHA-256 its subdir's index lists
//! (`digests.rs`), a shard against the digest it is named by. A package asked for before any
//! index of its subdir is cached makes repox fetch the subdir's `repodata.json` first (through
//! the same engine, so it is cached too); a package that index does not list is a 404, and an
//! index that cannot be fetched fails the package (502/504), never an unverified commit.
//! Rattler asks for shards with `Cache-Control: no-store`; repox ignores request cache
//! directives, and a content-addressed file cannot be stale.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};

use super::channel::{ChannelPath, FileKind, shard_digest};
use super::digests;
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, Verify, tagged};

/// Serves a package or shard.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    mut res: Resource,
    cp: &ChannelPath<'_>,
) -> Response {
    if !matches!(repo.services.store.head(&res.key).await, Ok(Some(_))) {
        let digest = match cp.kind {
            FileKind::Shard => shard_digest(cp.file).map(str::to_ascii_lowercase),
            _ => match digests::sha256(repo, cp).await {
                Some(d) => Some(d),
                None if method == Method::GET && !repo.services.offline => {
                    match from_fresh_repodata(repo, &res, cp).await {
                        Ok(d) => Some(d),
                        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
                    }
                }
                None => None,
            },
        };
        if let Some(d) = digest {
            res.verify = Verify::Sha256(d);
        }
    }
    repo.serve(res, method, req).await
}

/// Fetches the subdir's `repodata.json` and reads the package's SHA-256 from it.
async fn from_fresh_repodata(
    repo: &Arc<Repository>,
    package: &Resource,
    cp: &ChannelPath<'_>,
) -> Result<String, Failure> {
    let dir = package
        .path
        .as_str()
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir);
    let path = RepoPath::parse(&format!("{dir}/repodata.json")).map_err(|_| Failure::NotFound)?;
    let index_cp = ChannelPath::parse(path.as_str());
    let mut res = Resource::new(repo, path.clone());
    res.key = index_cp.key(repo);
    res.class = Class::Mutable(repo.config.index_ttl());
    res.reject_html = true;
    res.targets = package.targets.as_ref().map(|targets| {
        targets
            .iter()
            .filter_map(|(i, url)| url.join("repodata.json").ok().map(|u| (*i, u)))
            .collect()
    });
    repo.entry(&res).await?;
    digests::sha256(repo, cp).await.ok_or(Failure::NotFound)
}
