//! The npm registry protocol (npm, pnpm, yarn, bun) under one prefix, e.g. `/npm/`.
//!
//! - `/<name>` and `/@scope/<name>` (also spelled `@scope%2fname`, see `server.rs`) are
//!   packuments, `/<name>/<version>` version documents: mutable, and rewritten so that every
//!   `dist.tarball` points at repox (`packument.rs`);
//! - `/<name>/-/<file>.tgz` and `/@scope/<name>/-/<file>.tgz` are tarballs: immutable and
//!   verified against the packument's integrity (`tarball.rs`). npm rewrites lock-file tarball
//!   URLs onto the configured registry's host and drops its path, so `server.rs` routes these
//!   paths here from the server root too;
//! - everything under `/-/` (search, audit, ping, dist-tags) is passed through uncached
//!   (`passthrough.rs`); `npm audit` is the one POST repox accepts.

#[cfg(test)]
mod fuzz_tests;
mod packument;
pub(crate) mod passthrough;
mod tarball;

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Repository, tagged};

/// Audit requests are JSON lists of installed packages; a large tree is a few megabytes.
const AUDIT_BODY_LIMIT: usize = 64 << 20;

/// Serves one request below the repository prefix (or a root-level tarball path).
pub async fn handle(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    path: RepoPath,
) -> Response {
    let p = path.as_str();
    let segments: Vec<&str> = p.trim_end_matches('/').split('/').collect();
    if segments[0] == "-" {
        let target = raw_below_prefix(repo, uri);
        let targets = passthrough::below_bases(repo, &target);
        return passthrough::forward(repo, targets, method.clone(), req, None).await;
    }
    let (name, rest) = match segments.as_slice() {
        [scope, name, rest @ ..] if scope.starts_with('@') => (format!("{scope}/{name}"), rest),
        [scope] if scope.starts_with('@') => {
            return tagged(Failure::NotFound.into_response(), "miss", None);
        }
        [name, rest @ ..] => ((*name).to_owned(), rest),
        [] => return tagged(Failure::NotFound.into_response(), "miss", None),
    };
    match rest {
        [] => packument::serve(repo, method, req, uri, path.clone(), &name, None).await,
        ["-", file] if file.ends_with(".tgz") => {
            let file = (*file).to_owned();
            tarball::serve(repo, method, req, path, &name, &file).await
        }
        [version] if *version != "-" => {
            let version = (*version).to_owned();
            packument::serve(repo, method, req, uri, path, &name, Some(&version)).await
        }
        _ => tagged(Failure::NotFound.into_response(), "miss", None),
    }
}

/// The request's raw path below `/<repository>/`, with its query: what a pass-through sends
/// upstream (`@scope%2fname` stays escaped).
fn raw_below_prefix(repo: &Repository, uri: &Uri) -> String {
    let raw = uri.path().trim_start_matches('/');
    let below = raw
        .strip_prefix(repo.name.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(raw);
    match uri.query() {
        Some(q) => format!("{below}?{q}"),
        None => below.to_owned(),
    }
}

/// True for `<name>/-/<file>.tgz` and `@scope/<name>/-/<file>.tgz` at the server root.
pub fn is_root_tarball(raw: &str) -> bool {
    let segments: Vec<&str> = raw.split('/').collect();
    let tarball = |s: &[&str]| s.len() == 3 && s[1] == "-" && s[2].ends_with(".tgz");
    tarball(&segments)
        || (segments.first().is_some_and(|s| s.starts_with('@')) && tarball(&segments[1..]))
}

/// True for the audit endpoints `npm audit` (and `npm install`) POST to.
pub fn is_audit(below_prefix: &str) -> bool {
    matches!(
        below_prefix.trim_end_matches('/'),
        "-/npm/v1/security/advisories/bulk"
            | "-/npm/v1/security/audits/quick"
            | "-/npm/v1/security/audits"
    )
}

/// Passes an audit POST through to the upstreams, uncached.
pub async fn audit(repo: &Arc<Repository>, parts: &http::request::Parts, body: Body) -> Response {
    let body = match axum::body::to_bytes(body, AUDIT_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            return tagged(
                Failure::BadRequest(format!("cannot read the audit request: {e}")).into_response(),
                "pass",
                None,
            );
        }
    };
    let target = raw_below_prefix(repo, &parts.uri);
    let targets = passthrough::below_bases(repo, &target);
    passthrough::forward(repo, targets, Method::POST, &parts.headers, Some(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_tarballs_and_audit_paths() {
        assert!(is_root_tarball("lodash/-/lodash-4.17.21.tgz"));
        assert!(is_root_tarball("@types/node/-/node-20.0.0.tgz"));
        assert!(!is_root_tarball("lodash"));
        assert!(!is_root_tarball("maven/org/x.tgz"));
        assert!(is_audit("-/npm/v1/security/advisories/bulk"));
        assert!(!is_audit("-/v1/search"));
    }
}
