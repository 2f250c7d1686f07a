//! `config.json` at the index root: where cargo downloads crates (`dl`) and finds the web API
//! (`api`).
//!
//! Each upstream's own `config.json` is cached (revalidated after `index_ttl`) because repox
//! needs its `dl` template to download crates from that upstream. Clients get the first
//! upstream's document with `dl` and `api` pointing at repox and other keys passed through,
//! except `auth-required`: repox authenticates to upstreams itself, so it is `true` exactly
//! when repox wants its own clients to log in (`[auth] anonymous = "none"`; only then does cargo
//! send its token). The URLs are absolute (cargo requires it), built from the origin the client used.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};
use url::Url;

use super::index;
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, tagged};
use crate::respond::{self, Presentation};
use crate::server::request_origin;
use crate::store::Entry;

/// The cached `config.json` of upstream `i`.
fn resource(repo: &Repository, i: usize) -> Resource {
    let up = &repo.upstreams[i];
    let path = RepoPath::parse("config.json").expect("a valid path");
    let mut res = Resource::new(repo, path);
    res.key = format!("{}/upstream-config/{}", repo.name, up.name);
    res.class = Class::Mutable(repo.config.index_ttl());
    res.targets = Some(
        up.url_for(&res.path)
            .ok()
            .map(|url| (i, url))
            .into_iter()
            .collect(),
    );
    res
}

/// Serves repox's `config.json`.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
) -> Response {
    let mut last = Failure::NotFound;
    for i in 0..repo.upstreams.len() {
        let res = resource(repo, i);
        let (entry, cache) = match repo.entry(&res).await {
            Ok(found) => found,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let body = match entry.bytes().await {
            Ok(b) => b,
            Err(e) => return tagged(Failure::internal(e).into_response(), cache, None),
        };
        let base = format!("{}/{}", request_origin(req, uri), repo.name);
        let Some(rewritten) = rewrite(&body, &base, repo.services.auth_required) else {
            let why = format!(
                "{}: config.json is not a JSON object",
                repo.upstreams[i].name
            );
            return tagged(Failure::Upstream(why).into_response(), cache, None);
        };
        let served = Entry::from_bytes(
            rewritten.into(),
            "application/json",
            entry.meta.upstream_last_modified.clone(),
            entry.meta.fetched_at,
        );
        let presentation = Presentation {
            cache_control: repo.presentation(&res, entry.meta.fetched_at).cache_control,
            checksum_headers: false,
        };
        let mut resp = respond::entry_response(method, req, &served, presentation);
        respond::vary_on_origin(resp.headers_mut());
        return tagged(resp, cache, Some(entry.meta.upstream.clone()));
    }
    tagged(last.into_response(), Outcome::Miss, None)
}

/// The upstream document with `dl` and `api` at `base` (`http://host/cargo`), and
/// `auth-required` as repox needs it.
fn rewrite(upstream: &[u8], base: &str, auth_required: bool) -> Option<Vec<u8>> {
    let serde_json::Value::Object(mut doc) = serde_json::from_slice(upstream).ok()? else {
        return None;
    };
    doc.insert("dl".into(), format!("{base}/dl").into());
    doc.insert("api".into(), base.into());
    doc.remove("auth-required");
    if auth_required {
        doc.insert("auth-required".into(), true.into());
    }
    serde_json::to_vec_pretty(&doc).ok()
}

/// Upstream `i`'s `config.json` as parsed JSON: the cached copy whatever its age (only the
/// download template and API URL are read, and they hardly ever change), else fetched now.
pub(super) async fn of_upstream(repo: &Arc<Repository>, i: usize) -> Option<serde_json::Value> {
    let res = resource(repo, i);
    let entry = match repo.services.store.get(&res.key).await {
        Ok(Some(entry)) => entry,
        _ => repo.entry(&res).await.ok()?.0,
    };
    serde_json::from_slice(&entry.bytes().await.ok()?).ok()
}

/// Where upstream `i` serves `name`-`version`.crate, from its `dl` template.
pub(super) async fn download_url(
    repo: &Arc<Repository>,
    i: usize,
    name: &str,
    version: &str,
    cksum: Option<&str>,
) -> Option<Url> {
    let config = of_upstream(repo, i).await?;
    let dl = config.get("dl")?.as_str()?;
    Url::parse(&expand(dl, name, version, cksum)?).ok()
}

/// The `dl` template filled in as cargo does (`registry-index.md`): with no marker, cargo
/// appends `/{crate}/{version}/download`. `None` when the template needs a checksum that is
/// not known.
pub(super) fn expand(dl: &str, name: &str, version: &str, cksum: Option<&str>) -> Option<String> {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !MARKERS.iter().any(|m| dl.contains(m)) {
        return Some(format!("{dl}/{name}/{version}/download"));
    }
    let expanded = dl
        .replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &index::prefix(name))
        .replace("{lowerprefix}", &index::prefix(&name.to_ascii_lowercase()));
    match cksum {
        Some(c) => Some(expanded.replace("{sha256-checksum}", c)),
        None if expanded.contains("{sha256-checksum}") => None,
        None => Some(expanded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dl_and_api_point_at_repox_and_other_keys_survive() {
        let up = br#"{"dl":"https://static.crates.io/crates","api":"https://crates.io","auth-required":true,"x-extra":1}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&rewrite(up, "http://h:1/cargo", false).unwrap()).unwrap();
        assert_eq!(out["dl"], "http://h:1/cargo/dl");
        assert_eq!(out["api"], "http://h:1/cargo");
        assert_eq!(out["x-extra"], 1);
        assert!(out.get("auth-required").is_none());
        assert!(rewrite(b"[1]", "x", false).is_none());
        let out: serde_json::Value =
            serde_json::from_slice(&rewrite(b"{}", "http://h:1/cargo", true).unwrap()).unwrap();
        assert_eq!(out["auth-required"], true);
    }

    #[test]
    fn download_templates_expand_like_cargo() {
        let c = "ab".repeat(32);
        assert_eq!(
            expand("https://static.crates.io/crates", "serde", "1.0.0", None).unwrap(),
            "https://static.crates.io/crates/serde/1.0.0/download"
        );
        assert_eq!(
            expand(
                "https://m/{prefix}/{lowerprefix}/{crate}-{version}.crate?h={sha256-checksum}",
                "Serde",
                "1.0.0",
                Some(&c)
            )
            .unwrap(),
            format!("https://m/Se/rd/se/rd/Serde-1.0.0.crate?h={c}")
        );
        assert_eq!(
            expand("https://m/{sha256-checksum}", "a", "1.0.0", None),
            None
        );
    }
}
