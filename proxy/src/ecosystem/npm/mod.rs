//! The npm registry protocol (npm, pnpm, yarn, bun) under one prefix, e.g. `/npm/`.
//!
//! - `/<name>` and `/@scope/<name>` (also spelled `@scope%2fname`, see `server.rs`) are
//!   packuments, `/<name>/<version>` version documents: mutable, and rewritten so that every
//!   `dist.tarball` points at repox (`packument.rs`);
//! - `/<name>/-/<file>.tgz` and `/@scope/<name>/-/<file>.tgz` are tarballs: immutable and
//!   verified against the packument's integrity (`tarball.rs`). npm rewrites lock-file tarball
//!   URLs onto the configured registry's host and drops its path, so `server.rs` routes these
//!   paths here from the server root too;
//! - search, audit, ping and dist-tags under `/-/` are passed through uncached
//!   (`passthrough.rs`); `npm audit` is the one POST repox accepts. Every other `/-/` endpoint
//!   (`whoami`, tokens, `user/org.couchdb.user:…`, login) is answered 404 here: forwarding them
//!   would let any client act with repox's own registry credentials.

mod corgi;
mod derived;
#[cfg(test)]
mod fuzz_tests;
mod packument;
pub(crate) mod passthrough;
mod tarball;

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::error::Failure;
use crate::path::{RepoPath, encode_segment};
use crate::repository::{Outcome, Repository, tagged};

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
        let Some((upstream_segments, credentials)) = read_only_endpoint(&segments) else {
            let why = "repox does not forward this npm endpoint: log in to the registry itself \
                       for accounts and tokens\n";
            return tagged(
                (StatusCode::NOT_FOUND, why).into_response(),
                Outcome::Pass,
                None,
            );
        };
        let targets = passthrough::below_bases(repo, &upstream_segments, uri.query());
        return passthrough::forward(repo, targets, method.clone(), req, None, credentials).await;
    }
    let (name, rest) = match segments.as_slice() {
        [scope, name, rest @ ..] if scope.starts_with('@') => (format!("{scope}/{name}"), rest),
        [scope] if scope.starts_with('@') => {
            return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
        }
        [name, rest @ ..] => ((*name).to_owned(), rest),
        [] => return tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
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
        _ => tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
    }
}

/// The `/-/` endpoints passed through (GET/HEAD), as encoded upstream segments, and whether
/// repox's credentials go along: search needs them on a private registry; ping and dist-tags
/// are public reads. `None` for everything else.
fn read_only_endpoint(segments: &[&str]) -> Option<(Vec<String>, bool)> {
    let owned = |s: &[&str]| s.iter().map(|s| encode_segment(s)).collect::<Vec<_>>();
    match segments {
        ["-", "v1", "search"] => Some((owned(segments), true)),
        ["-", "ping"] => Some((owned(segments), false)),
        ["-", "package", name @ .., "dist-tags"] if matches!(name.len(), 1 | 2) => {
            let name = match name {
                [scope, name] if scope.starts_with('@') => {
                    format!("{}%2f{}", encode_segment(scope), encode_segment(name))
                }
                [name] if !name.starts_with('@') => encode_segment(name),
                _ => return None,
            };
            Some((
                vec!["-".into(), "package".into(), name, "dist-tags".into()],
                false,
            ))
        }
        _ => None,
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
                Outcome::Pass,
                None,
            );
        }
    };
    let raw = parts.uri.path().trim_start_matches('/');
    let below = raw.split_once('/').map_or("", |(_, rest)| rest);
    if !is_audit(below) {
        return tagged(Failure::NotFound.into_response(), Outcome::Pass, None);
    }
    let segments: Vec<String> = below
        .trim_end_matches('/')
        .split('/')
        .map(encode_segment)
        .collect();
    let targets = passthrough::below_bases(repo, &segments, parts.uri.query());
    passthrough::forward(
        repo,
        targets,
        Method::POST,
        &parts.headers,
        Some(body),
        true,
    )
    .await
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

    #[test]
    fn login_token_and_user_endpoints_are_not_forwarded() {
        for refused in [
            &["-", "whoami"][..],
            &["-", "npm", "v1", "tokens"],
            &["-", "npm", "v1", "tokens", "token", "abc"],
            &["-", "user", "org.couchdb.user:x"],
            &["-", "v1", "login"],
            &["-", "npm", "v1", "user"],
            &["-", "org", "acme", "user"],
            &["-", "package", "@evil", "x", "y", "dist-tags"],
        ] {
            assert!(read_only_endpoint(refused).is_none(), "{refused:?}");
        }
        let (search, creds) = read_only_endpoint(&["-", "v1", "search"]).unwrap();
        assert_eq!((search.join("/").as_str(), creds), ("-/v1/search", true));
        let (tags, creds) = read_only_endpoint(&["-", "package", "@s", "n", "dist-tags"]).unwrap();
        assert_eq!(
            (tags.join("/").as_str(), creds),
            ("-/package/@s%2fn/dist-tags", false)
        );
    }
}
