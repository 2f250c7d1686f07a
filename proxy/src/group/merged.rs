//! Merged documents of groups, kept in memory so that a group does not parse and merge every
//! member's whole document (conda repodata runs to hundreds of megabytes) on every request.
//!
//! A merge is keyed by what it was made from: the group, the document, the client's origin and
//! `Accept` (members put absolute URLs in some documents and npm negotiates the abbreviated
//! packument), and each member's answer identity, its `ETag`, which repox makes from the
//! SHA-256 of the body it serves (`Meta::etag`). The members are still asked on every request
//! (so a proxy member revalidates as usual and a hosted upload is seen at once), but their
//! bodies are read and merged only when one of them changed. An answer without an `ETag` makes
//! the merge uncacheable. PyPI groups read their members' pages without an HTTP answer: a
//! proxy member's page still carries its `ETag`, a hosted member's is identified by a digest of
//! the page it generates. The merged bytes live in the server's [`crate::memo::Memos`], under
//! its one memory budget.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, StatusCode, header};

use super::{MAX_MERGED, serve_member};
use crate::repository::Repository;

/// The memo kind of merged group documents.
const KIND: &str = "group-merge";

/// A member's `200` answer to a merge's `GET`, its body not read yet.
pub struct Answer {
    resp: Response,
}

impl Answer {
    /// The member's `ETag` for the body.
    pub fn etag(&self) -> Option<&str> {
        self.resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
    }

    /// Reads the whole body, up to [`MAX_MERGED`].
    pub async fn body(self) -> Result<Bytes, Response> {
        self.body_up_to(MAX_MERGED).await
    }

    /// Reads the whole body, refusing one over `limit` bytes.
    pub async fn body_up_to(self, limit: usize) -> Result<Bytes, Response> {
        axum::body::to_bytes(self.resp.into_body(), limit)
            .await
            .map_err(|e| crate::error::Failure::internal(e).into_response())
    }
}

/// A member's answer to `GET rest` (no conditionals, whole): `Ok(None)` on 404, the member's
/// answer itself when it failed otherwise.
pub async fn member_answer(
    member: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
) -> Result<Option<Answer>, Response> {
    let mut req = http::Request::new(());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = parts.uri.clone();
    for (name, value) in &parts.headers {
        let conditional = matches!(
            name.as_str(),
            "if-none-match" | "if-modified-since" | "range" | "if-range" | "accept-encoding"
        );
        if !conditional {
            req.headers_mut().append(name.clone(), value.clone());
        }
    }
    let (member_parts, ()) = req.into_parts();
    let resp = serve_member(member, &member_parts, rest).await;
    match resp.status() {
        StatusCode::OK => Ok(Some(Answer { resp })),
        StatusCode::NOT_FOUND => Ok(None),
        _ => Err(resp),
    }
}

/// The memo key of merging document `what` of `group` from `answers` (each member's name and
/// answer, `None` for a 404), or `None` when an answer has no `ETag`.
pub fn key(
    group: &Repository,
    parts: &http::request::Parts,
    what: &str,
    answers: &[(&str, Option<&Answer>)],
) -> Option<String> {
    let mut etags = Vec::with_capacity(answers.len());
    for (member, answer) in answers {
        let etag = match answer {
            Some(a) => a.etag()?,
            None => "-",
        };
        etags.push((*member, etag));
    }
    Some(key_of(group, parts, what, &etags))
}

/// The memo key of merging document `what` of `group` from its members' identities: each
/// member's name and `ETag` (or another digest of what it answered; `-` for a 404).
pub fn key_of(
    group: &Repository,
    parts: &http::request::Parts,
    what: &str,
    etags: &[(&str, &str)],
) -> String {
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin = crate::origin::request_origin(&parts.headers, &parts.uri);
    let mut key = format!("{}\0{what}\0{origin}\0{accept}", group.name);
    for (member, etag) in etags {
        let _ = write!(key, "\0{member}={etag}");
    }
    key
}

/// The merged document kept for `key`.
pub fn get<T: Clone + Send + Sync + 'static>(group: &Repository, key: Option<&str>) -> Option<T> {
    group.services.memos.get::<T>(KIND, key?)
}

/// Keeps `merged` (weighing `bytes`, plus its key) for `key`.
pub fn keep<T: Send + Sync + 'static>(
    group: &Repository,
    key: Option<String>,
    merged: T,
    bytes: usize,
) {
    if let Some(key) = key {
        let weight = bytes + key.len();
        group.services.memos.insert(KIND, key, merged, weight);
    }
}
