//! PyPI simple API (not implemented yet: answers 501).

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
        "PyPI repositories are not supported by this build yet\n",
    )
        .into_response()
}
