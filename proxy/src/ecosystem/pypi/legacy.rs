//! The legacy JSON API, `/pypi/<project>/json` and `/pypi/<project>/<version>/json`.
//!
//! Not part of the simple API, but some tools (older Poetry and PDM paths, `pip-audit`, IDEs)
//! read it. It is fetched from upstreams whose base URL ends in `/simple/` (PyPI's layout: the
//! API sits at `../pypi/`), kept like a project page (`index_ttl`, revalidated, stale on
//! failure), and its file URLs (`urls[].url`, `releases.*[].url`) are rewritten to the same
//! repox locations the simple pages use. Those must be absolute (the API has no "relative to
//! the page" rule), so they are built from the request's origin; the rewritten body is memoized
//! by (upstream body digest, origin, policy).
//!
//! Under a policy the files it refuses leave `urls` and `releases`, judged as the simple pages
//! judge them (`policy::documents::pypi_json`); `/pypi/<project>/<version>/json` of a version
//! whose every file is refused answers the 403 its files would.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::Value;
use url::Url;

use super::link;
use crate::error::Failure;
use crate::fence::push_under;
use crate::path::{RepoPath, encode_segment};
use crate::repository::{Class, Outcome, Repository, Resource, tagged};
use crate::respond::{self, CacheControl, Presentation};
use crate::server::request_origin;
use crate::store::{Entry, now_secs};

/// Answers `/pypi/<project>[/<version>]/json` (`project` normalized and valid).
pub async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    project: &str,
    version: Option<&str>,
) -> Response {
    let (key, segments) = match version {
        None => (
            format!("{}/api/{project}/json", repo.name),
            vec![encode_segment(project), "json".to_owned()],
        ),
        Some(v) => (
            format!("{}/api/{project}/v/{v}", repo.name),
            vec![
                encode_segment(project),
                encode_segment(v),
                "json".to_owned(),
            ],
        ),
    };
    // The API sits beside the simple index: `<base>/../pypi/`, a constant, then pushed segments.
    let targets: Vec<(usize, Url)> = repo
        .upstreams
        .iter()
        .enumerate()
        .filter(|(_, u)| u.base.path().ends_with("/simple/"))
        .filter_map(|(i, u)| {
            let api = u.base.join("../pypi/").ok()?;
            Some((i, push_under(&api, &segments, false).ok()?))
        })
        .collect();
    if targets.is_empty() {
        return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
    }
    let path = match RepoPath::parse(&format!("pypi/{}/json", encode_segment(project))) {
        Ok(path) => path,
        Err(e) => {
            return tagged(
                Failure::BadRequest(e.to_string()).into_response(),
                Outcome::Miss,
                None,
            );
        }
    };
    let mut res = Resource::new(repo, path);
    res.key = key;
    res.class = Class::Mutable(repo.config.index_ttl());
    res.accept = Some(HeaderValue::from_static("application/json"));
    res.targets = Some(targets);
    let (entry, cache) = match repo.entry(&res).await {
        Ok(found) => found,
        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
    };
    let origin = request_origin(req, uri);
    let policy = crate::policy::current(repo);
    let memo_key = format!(
        "{}\0{project}\0{}\0{}\0{}\0{origin}\0{}",
        repo.name,
        entry.meta.upstream,
        entry.meta.url,
        entry.meta.digests.sha256,
        policy.memo_key()
    );
    let now = crate::policy::now();
    let rewritten = match repo
        .services
        .memos
        .get::<Rewritten>("pypi-legacy", &memo_key)
    {
        Some(r) if r.until.is_none_or(|u| u > now) => r,
        _ => {
            let body = match entry.bytes().await {
                Ok(b) => b,
                Err(e) => return tagged(Failure::internal(e).into_response(), cache, None),
            };
            let base = format!("{origin}/{}/", repo.name);
            let (meta_url, meta_upstream) = (&entry.meta.url, &entry.meta.upstream);
            let Some(out) = prepare(&body, meta_url, meta_upstream, project, &base, &policy, now)
            else {
                let e = Failure::Upstream(format!("{}: not a JSON document", entry.meta.url));
                return tagged(e.into_response(), cache, None);
            };
            let len = out.entry.meta.len as usize;
            repo.services
                .memos
                .insert("pypi-legacy", memo_key, out.clone(), len);
            out
        }
    };
    if let (Some(v), Some(verdict)) = (version, &rewritten.refused) {
        return crate::policy::refuse(repo, project, v, verdict);
    }
    let rewritten = rewritten.entry;
    let pres = Presentation {
        cache_control: CacheControl::MaxAge(repo.fresh_for(
            &res.key,
            entry.meta.fetched_at,
            repo.config.index_ttl(),
        )),
        checksum_headers: false,
    };
    let upstream = Some(entry.meta.upstream.clone());
    let mut resp = respond::entry_response(method, req, &rewritten, pres);
    respond::vary_on_origin(resp.headers_mut());
    tagged(resp, cache, upstream)
}

/// A rewritten document, until when it holds (a cooldown), and the policy's verdict on the
/// version of a `/pypi/<project>/<version>/json` whose files are all refused.
#[derive(Clone)]
struct Rewritten {
    entry: Entry,
    until: Option<i64>,
    refused: Option<crate::policy::Verdict>,
}

/// [`rewrite`], then the files `policy` refuses left out.
fn prepare(
    body: &[u8],
    page: &str,
    upstream: &str,
    project: &str,
    base: &str,
    policy: &crate::policy::Policy,
    now: i64,
) -> Option<Rewritten> {
    let out = rewrite(body, page, upstream, project, base)?;
    if !policy.is_active() {
        return Some(Rewritten {
            entry: Entry::from_bytes(Bytes::from(out), "application/json", None, now_secs()),
            until: None,
            refused: None,
        });
    }
    let mut doc: Value = serde_json::from_slice(&out).ok()?;
    let filtered = crate::policy::documents::pypi_json(policy, project, &mut doc, upstream, now);
    let out = serde_json::to_vec(&doc).ok()?;
    Some(Rewritten {
        entry: Entry::from_bytes(Bytes::from(out), "application/json", None, now_secs()),
        until: filtered.until,
        refused: filtered.refused,
    })
}

/// Rewrites every file URL of a legacy JSON document to `base` + its repox location.
fn rewrite(body: &[u8], page: &str, upstream: &str, project: &str, base: &str) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(body).ok()?;
    let page = Url::parse(page).ok()?;
    let fix = |file: &mut Value| {
        let Some(obj) = file.as_object_mut() else {
            return;
        };
        let (Some(filename), Some(url)) = (
            obj.get("filename").and_then(Value::as_str),
            obj.get("url").and_then(Value::as_str),
        ) else {
            return;
        };
        let Ok(url) = page.join(url) else {
            return;
        };
        let loc = link::locate(url.as_str(), filename, upstream, project);
        obj.insert("url".into(), Value::String(format!("{base}{}", loc.href)));
    };
    if let Some(Value::Array(urls)) = doc.get_mut("urls") {
        urls.iter_mut().for_each(fix);
    }
    if let Some(Value::Object(releases)) = doc.get_mut("releases") {
        for files in releases.values_mut() {
            if let Value::Array(files) = files {
                files.iter_mut().for_each(fix);
            }
        }
    }
    serde_json::to_vec(&doc).ok()
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_urls_and_releases() {
        let body = br#"{"info":{"name":"demo","project_url":"https://pypi.org/project/demo/"},
            "urls":[{"filename":"demo-1.0.tar.gz","url":"https://files.pythonhosted.org/packages/aa/bb/cc/demo-1.0.tar.gz"}],
            "releases":{"0.9":[{"filename":"demo-0.9.zip","url":"https://mirror.example/d/demo-0.9.zip"}],"1.0":[]}}"#;
        let out = rewrite(
            body,
            "https://pypi.org/pypi/demo/json",
            "pypi",
            "demo",
            "http://h:8078/pypi/",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["urls"][0]["url"],
            "http://h:8078/pypi/packages/aa/bb/cc/demo-1.0.tar.gz"
        );
        assert_eq!(
            v["releases"]["0.9"][0]["url"],
            "http://h:8078/pypi/files/pypi/demo/demo-0.9.zip"
        );
        assert_eq!(v["info"]["project_url"], "https://pypi.org/project/demo/");
    }
}
