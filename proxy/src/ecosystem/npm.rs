//! npm registry (not implemented yet: answers 501).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::path::RepoPath;
use crate::repository::Repository;

/// Serves one request below the repository prefix.
pub async fn handle(
    _repo: &Arc<Repository>,
    _method: &Method,
    _req: &HeaderMap,
    _uri: &Uri,
    _path: RepoPath,
) -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        "npm repositories are not supported by this build yet\n",
    )
        .into_response()
}

/// True for `<name>/-/<file>.tgz` and `@scope/<name>/-/<file>.tgz` at the server root.
pub fn is_root_tarball(raw: &str) -> bool {
    let segments: Vec<&str> = raw.split('/').collect();
    let tarball = |s: &[&str]| s.len() == 3 && s[1] == "-" && s[2].ends_with(".tgz");
    tarball(&segments)
        || (segments.first().is_some_and(|s| s.starts_with('@')) && tarball(&segments[1..]))
}
