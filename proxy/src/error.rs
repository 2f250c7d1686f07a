//! Why a request could not be served, and who is to blame: the client (4xx), the upstreams
//! (502/504), or repox itself (500). Only "every upstream said 404" becomes 404: Maven and
//! coursier remember a 404 for a day, so a timeout must never look like one.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A request that ends without the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Every upstream answered 404 (or is known to lack the path).
    #[error("not found on any upstream")]
    NotFound,
    /// A block rule matched.
    #[error("blocked by the rule `{0}`")]
    Blocked(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// `--offline` and the file is not cached.
    #[error("repox is offline and `{0}` is not cached")]
    Offline(String),
    /// No upstream answered in time.
    #[error("upstream timed out: {0}")]
    Timeout(String),
    /// An upstream failed otherwise (5xx, 401/403, connection error, bad checksum).
    #[error("upstream failed: {0}")]
    Upstream(String),
    /// repox could not read or write its cache.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Failure {
    /// The status code this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound | Failure::Blocked(_) => StatusCode::NOT_FOUND,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Offline(_) | Failure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Failure::Upstream(_) => StatusCode::BAD_GATEWAY,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wraps an I/O error of the cache.
    pub fn internal(e: impl std::fmt::Display) -> Failure {
        Failure::Internal(e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), format!("{self}\n")).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
