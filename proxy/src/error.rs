//! Why a request could not be served, and who is to blame: the client (4xx), the upstreams
//! (502/504), or repox itself (500). Only "every upstream said 404" becomes 404: Maven and
//! coursier remember a 404 for a day, so a timeout must never look like one.
//!
//! Upstream failures name hosts, paths and sometimes tokens: the client gets a short body that
//! names none of them, and the full text goes to the log (with conda `/t/<token>/` masked).

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
    /// A policy (deny rule, release cooldown, date snapshot) refuses the version; the text
    /// names it and says why.
    #[error("{0}")]
    Refused(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// `--offline` and the file is not cached. The answer names the URL the client asked for
    /// (see [`name_offline_miss`]), never the cache key.
    #[error("repox is offline and the file asked for is not cached")]
    Offline,
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
            Failure::Refused(_) => StatusCode::FORBIDDEN,
            Failure::Offline | Failure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
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
        let body = match &self {
            Failure::Timeout(_) | Failure::Upstream(_) => {
                let full = self.to_string();
                tracing::warn!("{}", redact(&full));
                format!("{}\n", without_urls(&full))
            }
            _ => format!("{self}\n"),
        };
        let mut resp = (self.status(), body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self == Failure::Offline {
            resp.extensions_mut().insert(OfflineMiss);
        }
        resp
    }
}

/// Marks the answer of [`Failure::Offline`], which is made deep in a repository where only the
/// cache key (`pypi/pages/attrs/pypi`) is known, so the server can name the URL asked for.
#[derive(Debug, Clone, Copy)]
struct OfflineMiss;

/// `resp` with an offline miss's body naming `path` (the request's path, credentials redacted
/// here) instead of saying "the file asked for"; any other response unchanged.
pub fn name_offline_miss(mut resp: Response, path: &str) -> Response {
    if resp.extensions().get::<OfflineMiss>().is_none() {
        return resp;
    }
    let body = format!("repox is offline and {} is not cached\n", redact(path));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    *resp.body_mut() = axum::body::Body::from(body);
    resp
}

/// `text` with every URL written `<upstream URL>`: what a client may see of an upstream
/// failure (which upstream, what went wrong), not where the upstream is.
pub fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..start]);
        out.push_str("<upstream URL>");
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || c == ')' || c == '`' || c == '"')
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with every conda token (`/t/<token>/`) written `/t/***/`, for log lines.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/t/") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(['/', ' ', '?', ')']).unwrap_or(after.len());
        if end > 0 {
            out.push_str("***");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked() {
        assert_eq!(
            redact("GET /conda/t/tk-123/conda-forge/noarch/x 200"),
            "GET /conda/t/***/conda-forge/noarch/x 200"
        );
        assert_eq!(
            redact("for url (https://conda.example/t/abc/c/repodata.json) /t/xy"),
            "for url (https://conda.example/t/***/c/repodata.json) /t/***"
        );
        assert_eq!(redact("plain /maven/org/x.jar"), "plain /maven/org/x.jar");
    }

    #[tokio::test]
    async fn upstream_failures_do_not_reach_the_client() {
        let failure = Failure::Upstream(
            "central: error sending request for url (http://10.0.0.5:8081/secret/path): refused; b: HTTP 500".into(),
        );
        let resp = failure.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(
            body,
            "upstream failed: central: error sending request for url (<upstream URL>): refused; b: HTTP 500\n"
        );
    }
}
