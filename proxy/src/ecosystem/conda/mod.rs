//! conda channels (conda, mamba, micromamba, pixi, rattler) under one prefix usable as conda's
//! `channel_alias`: `/conda/<channel>/<subdir>/<file>` is `<upstream url><channel>/…` on each
//! upstream whose `channels` globs admit the channel (`channel.rs`), so `conda-forge`,
//! `conda-forge/label/dev` and `pkgs/main` each reach the right hosts, and upstreams of one
//! priority that serve a channel are raced.
//!
//! - repodata (`repodata.json`, `.zst`, `.bz2`, `current_repodata.json*`), the shard index and
//!   other channel metadata are mutable (`repodata.rs`);
//! - packages and shards are immutable and verified (`package.rs`, `digests.rs`);
//! - `repodata.jlap` is answered 404: conda then falls back to whole repodata, which repox
//!   caches and revalidates itself.

mod base_url;
mod channel;
mod codec;
mod digests;
#[cfg(test)]
mod fuzz_tests;
mod package;
mod repodata;

pub use channel::split_token;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, tagged};

use channel::{ChannelPath, FileKind};

/// Serves one request below the repository prefix.
pub async fn handle(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    path: RepoPath,
) -> Response {
    let p = path.as_str();
    let cp = ChannelPath::parse(p);
    // No channel starts with `~`; repox keeps derived entries there (`repodata.rs`).
    if cp.kind == FileKind::Jlap || cp.dir().is_empty() || p.starts_with('~') {
        return tagged(Failure::NotFound.into_response(), Outcome::Blocked, None);
    }
    let targets: Result<Vec<_>, _> = repo
        .upstreams
        .iter()
        .enumerate()
        .filter(|(i, _)| channel::serves(channels(repo, *i), parent(p)))
        .map(|(i, u)| u.url_for(&path).map(|url| (i, url)))
        .collect();
    let targets = match targets {
        Ok(t) => t,
        Err(e) => return tagged(Failure::from(e).into_response(), Outcome::Miss, None),
    };
    if targets.is_empty() {
        return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
    }
    let policy = crate::policy::current(repo);
    if policy.is_active() {
        match cp.kind {
            // Shards are not filtered: clients fall back to the repodata, which is.
            FileKind::ShardIndex | FileKind::Shard => {
                return tagged(Failure::NotFound.into_response(), Outcome::Blocked, None);
            }
            FileKind::Package => {
                if let Some(refused) = repodata::refused(repo, &policy, &cp).await {
                    return refused;
                }
            }
            _ => {}
        }
    }
    let mut res = Resource::new(repo, path.clone());
    res.key = cp.key(repo);
    res.targets = Some(targets);
    res.reject_html = !path.is_dir();
    match cp.kind {
        FileKind::Package | FileKind::Shard => package::serve(repo, method, req, res, &cp).await,
        kind => {
            res.class = Class::Mutable(repo.config.index_ttl());
            repodata::serve(repo, method, req, uri, &res, kind).await
        }
    }
}

/// The directory part of a path, token prefix included: `channels` globs are matched against
/// it, so `t/<token>/…` only reaches upstreams that serve every channel (or whose patterns
/// name `t/*/<channel>`), never a mirror restricted to public channels.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The `channels` patterns of upstream `i`.
fn channels(repo: &Repository, i: usize) -> &[String] {
    let name = &repo.upstreams[i].name;
    repo.config
        .upstreams
        .iter()
        .find(|u| &u.name == name)
        .map_or(&[], |u| u.channels.as_slice())
}

/// repox's URL for an absolute upstream URL (`https://conda.anaconda.org/c/noarch/` →
/// `http://HOST/conda/c/noarch/`), when it lies under the base of an upstream that serves its
/// channel.
fn to_repox(repo: &Repository, url: &str, origin: &str) -> Option<String> {
    repo.upstreams.iter().enumerate().find_map(|(i, up)| {
        let rest = url.strip_prefix(up.base.as_str())?;
        channel::serves(channels(repo, i), parent(&format!("{rest}x")))
            .then(|| format!("{origin}/{}/{rest}", repo.name))
    })
}
