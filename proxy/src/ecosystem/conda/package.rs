//! Packages (`.conda`, `.tar.bz2`) and CEP 16 shards: immutable, cached forever, and verified
//! before they are committed: a package against the SHA-256 its subdir's index lists
//! (`digests.rs`), a shard against the digest it is named by. Rattler asks for shards with
//! `Cache-Control: no-store`; repox ignores request cache directives, and a content-addressed
//! file cannot be stale.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, Method};

use super::channel::{ChannelPath, FileKind, shard_digest};
use super::digests;
use crate::repository::{Repository, Resource, Verify};

/// Serves a package or shard.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    mut res: Resource,
    cp: &ChannelPath<'_>,
) -> Response {
    if !matches!(repo.services.store.get(&res.key).await, Ok(Some(_))) {
        let digest = match cp.kind {
            FileKind::Shard => shard_digest(cp.file).map(str::to_ascii_lowercase),
            _ => digests::sha256(repo, cp).await,
        };
        if let Some(d) = digest {
            res.verify = Verify::Sha256(d);
        }
    }
    repo.serve(res, method, req).await
}
