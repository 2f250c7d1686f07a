//! PyPI: the simple repository API (PEP 503 HTML, PEP 691 JSON) for pip, uv and every other
//! installer, plus the legacy JSON API.
//!
//! URL space below the repository prefix (`/pypi/` by default):
//!
//! | path | what | cache |
//! |---|---|---|
//! | `simple/` | root index, merged across upstreams | `index_ttl`, revalidated |
//! | `simple/<project>/` | project page, merged, links rewritten ([`page`]) | `index_ttl`, revalidated |
//! | `packages/ab/cd/<60 hex>/<file>` | a file from `files.pythonhosted.org`, same path ([`files`]) | forever, sha256-verified |
//! | `files/<upstream>/<project>/<file>` | a file from any other host | forever, sha256-verified |
//! | `…/<file>.metadata` | its PEP 658 core metadata, generated from wheels that lack it ([`metadata`]) | forever, verified |
//! | `pypi/<project>[/<version>]/json` | legacy JSON API, URLs rewritten ([`legacy`]) | `index_ttl` |
//!
//! A non-normalized project name (`/simple/Foo.Bar/`) or a missing trailing slash is answered
//! with a 301 to the normalized URL, as PyPI does: links in pages are relative to it.

pub(crate) mod files;
#[cfg(test)]
mod fuzz_tests;
pub(crate) mod html;
pub(crate) mod json;
mod legacy;
pub(crate) mod link;
mod metadata;
pub(crate) mod model;
pub(crate) mod name;
pub(crate) mod negotiate;
pub(crate) mod page;
pub mod wheel_zip;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Outcome, Repository, tagged};
use negotiate::Variant;

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
    match segments[..] {
        ["simple"] => redirect(&format!("/{}/simple/", repo.name), uri),
        ["simple", ""] => match variant(req, uri) {
            Ok(v) => page::serve_index(repo, method, req, v).await,
            Err(e) => not_acceptable(e),
        },
        ["simple", project] | ["simple", project, ""] => {
            if !name::is_valid(project) {
                return tagged(Failure::NotFound.into_response(), Outcome::Blocked, None);
            }
            let normalized = name::normalize(project);
            if normalized != project || !path.is_dir() {
                return redirect(&format!("/{}/simple/{normalized}/", repo.name), uri);
            }
            match variant(req, uri) {
                Ok(v) => page::serve_project(repo, method, req, project, v).await,
                Err(e) => not_acceptable(e),
            }
        }
        ["packages", ..] | ["files", ..] if !path.is_dir() => {
            files::serve(repo, method, req, path).await
        }
        ["pypi", project, "json"] | ["pypi", project, "json", ""] if name::is_valid(project) => {
            let project = name::normalize(project);
            legacy::serve(repo, method, req, uri, &project, None).await
        }
        ["pypi", project, version, "json"] | ["pypi", project, version, "json", ""]
            if name::is_valid(project) =>
        {
            let project = name::normalize(project);
            legacy::serve(repo, method, req, uri, &project, Some(version)).await
        }
        _ => tagged(Failure::NotFound.into_response(), Outcome::Blocked, None),
    }
}

/// The negotiated variant.
pub(crate) fn variant(req: &HeaderMap, uri: &Uri) -> Result<Variant, negotiate::NotAcceptable> {
    let accept = req.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate::format_param(uri.query());
    negotiate::negotiate(accept, format.as_deref())
}

/// 406 for a `?format=` repox cannot produce.
pub(crate) fn not_acceptable(
    negotiate::NotAcceptable(format): negotiate::NotAcceptable,
) -> Response {
    let msg = format!(
        "cannot serve `{format}`; use text/html, application/vnd.pypi.simple.v1+html or application/vnd.pypi.simple.v1+json\n"
    );
    tagged(
        (StatusCode::NOT_ACCEPTABLE, msg).into_response(),
        Outcome::Blocked,
        None,
    )
}

/// 301 to `location`, keeping the query (`?format=`).
pub(crate) fn redirect(location: &str, uri: &Uri) -> Response {
    // Under a date snapshot, the redirect stays in it.
    let location = &match crate::policy::snapshot::current() {
        Some(s) => location.replacen("/simple", &format!("/@{s}/simple"), 1),
        None => location.to_owned(),
    };
    let target = match uri.query() {
        Some(q) => format!("{location}?{q}"),
        None => location.to_owned(),
    };
    let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    tagged(resp, Outcome::Hit, None)
}
