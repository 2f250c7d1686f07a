//! Distribution files, their PEP 658 `.metadata` and `.asc` signatures.
//!
//! All three are immutable: cached forever under their repox path, verified before commit
//! against the hash the page gave (`#sha256=` / `hashes`, `core-metadata` for `.metadata`), and
//! passed to the engine's strategy (stream-through, coalescing, HEAD race, Range including
//! suffix ranges, stall resume). A cached file is answered without looking at any page. For a
//! miss, the page that lists the file says where it lives and what it must hash to: the project
//! comes from the path (`files/<upstream>/<project>/…`) or from the filename (`packages/…`),
//! and the stored page is consulted first, however old, since file URLs never change; only when
//! it does not list the file is the page refreshed.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use url::Url;

use super::link::{self, Link};
use super::{metadata, name, page};
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::fill::Done;
use crate::repository::{Outcome, Repository, Resource, Verify, tagged};
use crate::respond::{self, CacheControl, Presentation};

/// Answers a request for a file (or its `.metadata` / `.asc`) at `path` below the repository.
pub async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: RepoPath,
) -> Response {
    let key = format!("{}/{}", repo.name, path.as_str());
    if crate::policy::current(repo).is_active() {
        let (file, _) = link::split_suffix(path.as_str());
        if let Some((project, version, verdict)) = page::refused(repo, file).await {
            return crate::policy::refuse(repo, &project, &version, &verdict);
        }
    }
    if let Ok(Some(entry)) = repo.services.store.get(&key).await {
        let pres = Presentation {
            cache_control: CacheControl::Immutable,
            checksum_headers: false,
        };
        let upstream = Some(entry.meta.upstream.clone());
        return tagged(
            respond::entry_response(method, req, &entry, pres),
            Outcome::Hit,
            upstream,
        );
    }
    let (file, suffix) = link::split_suffix(path.as_str());
    let found = match find(repo, file).await {
        Ok(found) => found,
        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
    };
    let Ok(file_url) = Url::parse(&found.url) else {
        let e = Failure::Upstream(format!("the page gives a bad URL: {}", found.url));
        return tagged(e.into_response(), Outcome::Miss, None);
    };
    let (url, verify) = match suffix {
        None => (file_url, found.verify.clone()),
        Some(suffix) => {
            let check = match suffix {
                ".metadata" => found.metadata.clone(),
                _ => found.gpg_sig.then_some(Verify::None),
            };
            let Some(check) = check else {
                if suffix == ".metadata" && metadata::applies(repo, file) {
                    return metadata::serve(repo, method, req, &path, file, &found).await;
                }
                return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
            };
            (with_suffix(&file_url, suffix), check)
        }
    };
    let Some(i) = repo
        .upstreams
        .iter()
        .position(|u| *u.name == *found.upstream)
    else {
        return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
    };
    let mut res = Resource::new(repo, path);
    res.verify = verify;
    res.targets = Some(vec![(i, url)]);
    let small = suffix.is_some() || found.size.is_some_and(|s| s <= SMALL);
    if *method == Method::GET && small && !repo.services.offline {
        return whole(repo, req, res, &found.upstream).await;
    }
    let resp = repo.serve(res, method, req).await;
    if resp.status() == StatusCode::NOT_FOUND {
        return listed_but_unavailable(&found.upstream, resp);
    }
    resp
}

/// Files up to this size (by the page's PEP 700 `size`) are answered once downloaded and
/// verified, so a bad copy is a clean 502; larger ones stream as they arrive (the engine holds
/// their last byte until verification, so a bad copy is a broken transfer, never a good-looking
/// wrong file).
const SMALL: u64 = 1 << 20;

/// GET of a small file: wait for the verified, committed entry, then answer from it.
async fn whole(repo: &Arc<Repository>, req: &HeaderMap, res: Resource, upstream: &str) -> Response {
    let rx = repo.start_fill(res, None);
    match Repository::outcome(rx).await {
        Ok(Done::Stored(entry)) => {
            let pres = Presentation {
                cache_control: CacheControl::Immutable,
                checksum_headers: false,
            };
            let from = Some(entry.meta.upstream.clone());
            tagged(
                respond::entry_response(&Method::GET, req, &entry, pres),
                Outcome::Miss,
                from,
            )
        }
        Ok(Done::NotModified) => tagged(
            Failure::Internal("unexpected revalidation".into()).into_response(),
            Outcome::Miss,
            None,
        ),
        Err(Failure::NotFound) => {
            listed_but_unavailable(upstream, Failure::NotFound.into_response())
        }
        Err(e) => tagged(e.into_response(), Outcome::Miss, None),
    }
}

/// The page lists the file, so an upstream that lacks it (or was remembered as lacking it after
/// serving a copy that failed its hash) is at fault: 502, not 404.
fn listed_but_unavailable(upstream: &str, resp: Response) -> Response {
    let why = format!(
        "`{upstream}` lists this file but did not provide it (missing upstream, or a copy that did not match the page's sha256)"
    );
    let served = crate::repository::served(&resp).cloned();
    let mut out = Failure::Upstream(why).into_response();
    if let Some(served) = served {
        crate::repository::notes(&mut out).served = Some(served);
    }
    out
}

/// PEP 658: the metadata lives at the file's URL with `.metadata` appended (to the path, so a
/// signed query string stays a query string).
fn with_suffix(url: &Url, suffix: &str) -> Url {
    let mut u = url.clone();
    u.set_path(&format!("{}{suffix}", url.path()));
    u
}

/// Projects the file at `file` (a repox path) can belong to.
pub(crate) fn projects(file: &str) -> Vec<String> {
    if let Some(rest) = file.strip_prefix("files/") {
        let parts: Vec<&str> = rest.splitn(3, '/').collect();
        return match parts[..] {
            [_, project, filename] if !filename.contains('/') && name::is_valid(project) => {
                vec![project.to_owned()]
            }
            _ => Vec::new(),
        };
    }
    if file.starts_with("packages/") {
        return name::projects_of(file.rsplit('/').next().unwrap_or(""));
    }
    Vec::new()
}

/// Where the file at `file` comes from, by the page that lists it.
async fn find(repo: &Arc<Repository>, file: &str) -> Result<Link, Failure> {
    let projects = projects(file);
    for p in &projects {
        if let Some(page) = page::project_stored(repo, p).await
            && let Some(found) = page.links.get(file)
        {
            return Ok(found.clone());
        }
    }
    let mut failure = Failure::NotFound;
    for p in &projects {
        match page::project(repo, p).await {
            Ok((page, _)) => {
                if let Some(found) = page.links.get(file) {
                    return Ok(found.clone());
                }
            }
            Err(Failure::NotFound) => {}
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_come_from_the_path_or_the_filename() {
        assert_eq!(
            projects("files/pytorch/torch/torch-2.3.0+cpu-cp311-none.whl"),
            ["torch"]
        );
        assert_eq!(
            projects("packages/ab/cd/ef/Django-5.1-py3-none-any.whl"),
            ["django"]
        );
        assert!(projects("files/x/../y").is_empty());
        assert!(projects("elsewhere/a-1.0.tar.gz").is_empty());
    }

    #[test]
    fn metadata_url_keeps_the_query() {
        let u = Url::parse("https://s3.example/a/x.whl?sig=1").unwrap();
        assert_eq!(
            with_suffix(&u, ".metadata").as_str(),
            "https://s3.example/a/x.whl.metadata?sig=1"
        );
    }
}
