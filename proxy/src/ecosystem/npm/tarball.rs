//! npm tarballs: immutable, cached under `NAME/tarballs/<package>/<file>`, and verified before
//! they are committed against the `dist.integrity` (SRI, usually SHA-512) or `dist.shasum`
//! (SHA-1) of their packument.
//!
//! Packuments can be tens of megabytes, so when repox rewrites one it also records a small
//! tarball index for the package (file name → upstream URL and digests) in the store; a
//! tarball miss reads that index instead of the packument. The index also keeps the upstream
//! URL for registries whose tarballs do not live at `<base>/<name>/-/<file>`. A tarball asked
//! for before any packument (`npm ci` from a lock file) makes repox fetch the packument first
//! (cached like any other), so every tarball is verified; one its packument does not list is
//! a 404, and a packument that cannot be fetched fails the tarball (502/504), never an
//! unverified commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use url::Url;

use super::packument;
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Outcome, Repository, Resource, Verify, tagged};

/// Where a package's tarballs come from and what they must hash to.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct TarballIndex {
    /// The upstream whose packument listed them.
    pub upstream: String,
    /// By file name (the last segment of `dist.tarball`).
    pub files: BTreeMap<String, TarballInfo>,
}

/// One version's `dist`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TarballInfo {
    /// `dist.tarball` as the upstream wrote it.
    pub url: String,
    /// `dist.integrity` (SRI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
    /// `dist.shasum` (SHA-1 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shasum: Option<String>,
}

fn index_key(repo: &Repository, name: &str) -> String {
    format!("{}/tarball-index/{name}", repo.name)
}

/// Serves `<name>/-/<file>` (`path`), at the repository prefix or at the server root.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: RepoPath,
    name: &str,
    file: &str,
) -> Response {
    let policy = crate::policy::current(repo);
    let base = name.rsplit('/').next().unwrap_or(name);
    if policy.is_active()
        && let Some(version) = file
            .strip_prefix(base)
            .and_then(|f| f.strip_prefix('-'))
            .and_then(|f| f.strip_suffix(".tgz"))
        && let Err(refused) = packument::admit(repo, &policy, name, version).await
    {
        return refused;
    }
    let mut res = Resource::new(repo, path);
    res.key = format!("{}/tarballs/{name}/{file}", repo.name);
    let cached = matches!(repo.services.store.head(&res.key).await, Ok(Some(_)));
    let mut found = None;
    if !cached {
        found = lookup(repo, name, file).await;
        if found.is_none() && method == Method::GET && !repo.services.offline {
            // Asked for before its packument: fetch that first, it holds the digest.
            let listed = match RepoPath::parse(name) {
                Ok(p) => packument::fetch_index(repo, p, name).await,
                Err(_) => Err(Failure::NotFound),
            };
            if let Err(e) = listed {
                return tagged(e.into_response(), Outcome::Miss, None);
            }
            found = lookup(repo, name, file).await;
            if found.is_none() {
                let e = Failure::NotFound;
                return tagged(e.into_response(), Outcome::Miss, None);
            }
        }
    }
    if let Some((upstream, info)) = found {
        res.verify = verify_for(&info);
        let standard = repo.upstreams.iter().any(|u| {
            u.url_for(&res.path)
                .is_ok_and(|url| url.as_str() == info.url)
        });
        if !standard && let Ok(url) = Url::parse(&info.url) {
            let i = repo
                .upstreams
                .iter()
                .position(|u| u.name == upstream)
                .unwrap_or(0);
            res.targets = Some(vec![(i, url)]);
        }
    }
    repo.serve(res, method, req).await
}

/// The recorded `dist` of `file`, with the upstream that listed it.
async fn lookup(repo: &Repository, name: &str, file: &str) -> Option<(String, TarballInfo)> {
    let entry = repo
        .services
        .store
        .get(&index_key(repo, name))
        .await
        .ok()??;
    let body = entry.bytes().await.ok()?;
    let mut index: TarballIndex = serde_json::from_slice(&body).ok()?;
    let info = index.files.remove(file)?;
    Some((index.upstream, info))
}

/// Stores the tarball index derived from the upstream body with digest `source`, unless the
/// stored one already came from it.
pub(super) async fn record(repo: &Repository, name: &str, index: &TarballIndex, source: &str) {
    let key = index_key(repo, name);
    if let Ok(Some(old)) = repo.services.store.head(&key).await
        && old.extra.get("source").and_then(|s| s.as_str()) == Some(source)
    {
        return;
    }
    let Ok(body) = serde_json::to_vec(index) else {
        return;
    };
    let extra = serde_json::json!({ "source": source });
    if let Err(e) = repo
        .store_bytes_with(
            &key,
            Bytes::from(body),
            Some("application/json"),
            &index.upstream,
            "",
            extra,
        )
        .await
    {
        tracing::warn!(%key, "cannot store the tarball index: {e}");
    }
}

/// The strongest digest npm published for a tarball.
pub(super) fn verify_for(info: &TarballInfo) -> Verify {
    let mut best = Verify::None;
    for token in info.integrity.as_deref().unwrap_or("").split_whitespace() {
        let Some((algorithm, b64)) = token.split_once('-') else {
            continue;
        };
        // SRI allows `?options` after the digest.
        let b64 = b64.split('?').next().unwrap_or("");
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        let hex = hex::encode(raw);
        match (algorithm, &best) {
            ("sha512", _) if hex.len() == 128 => return Verify::Sha512(hex),
            ("sha256", Verify::None | Verify::Sha1(_)) if hex.len() == 64 => {
                best = Verify::Sha256(hex);
            }
            ("sha1", Verify::None) if hex.len() == 40 => best = Verify::Sha1(hex),
            _ => {}
        }
    }
    if best == Verify::None
        && let Some(sha1) = &info.shasum
        && sha1.len() == 40
        && sha1.bytes().all(|b| b.is_ascii_hexdigit())
    {
        best = Verify::Sha1(sha1.to_ascii_lowercase());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(integrity: Option<&str>, shasum: Option<&str>) -> TarballInfo {
        TarballInfo {
            url: String::new(),
            integrity: integrity.map(str::to_owned),
            shasum: shasum.map(str::to_owned),
        }
    }

    #[test]
    fn integrity_prefers_sha512_then_shasum() {
        use sha2::Digest;
        let body = b"tarball";
        let b64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body));
        let hex512 = hex::encode(sha2::Sha512::digest(body));
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(
            verify_for(&info(
                Some(&format!("sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0= sha512-{b64}")),
                None
            )),
            Verify::Sha512(hex512)
        );
        assert_eq!(
            verify_for(&info(None, Some(sha1))),
            Verify::Sha1(sha1.to_owned())
        );
        assert_eq!(
            verify_for(&info(Some("sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), None)),
            Verify::Sha1(sha1.to_owned())
        );
        assert_eq!(verify_for(&info(Some("md5-xx"), None)), Verify::None);
    }
}
