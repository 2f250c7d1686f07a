//! Requests repox forwards without caching: npm's audit and search endpoints, cargo's web API.
//!
//! Their answers depend on the request body or change with every call, so caching them would
//! only serve wrong answers. The request goes to the first upstream (in priority order) that
//! answers at all and the answer streams back as it came, marked `Cache-Control: no-store`.
//! The client's `Authorization` is never forwarded; repox's own credentials for that upstream
//! go only with the read-only endpoints that need them (audit, search) and only to the
//! upstream's own origin. Which endpoints pass at all is decided by the callers, from an
//! allow-list: login, token and user endpoints never do.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderMap, HeaderValue, Method, header};
use url::Url;

use crate::error::Failure;
use crate::fence::push_under;
use crate::repository::{Outcome, Repository, tagged};
use crate::upstream::error_chain;

/// Request headers that describe the body or the wanted answer.
const REQUEST_HEADERS: &[header::HeaderName] = &[
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::ACCEPT,
];

/// Response headers passed back to the client.
const RESPONSE_HEADERS: &[header::HeaderName] = &[
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LENGTH,
    header::WWW_AUTHENTICATE,
];

/// Sends `method` with `body` to each of `targets` (upstream index, URL) in turn until one
/// answers, and relays that answer whatever its status.
pub(crate) async fn forward(
    repo: &Repository,
    targets: Vec<(usize, Url)>,
    method: Method,
    req: &HeaderMap,
    body: Option<Bytes>,
    credentials: bool,
) -> Response {
    let mut failures = Vec::new();
    let mut all_timeouts = true;
    for (i, url) in targets {
        let up = &repo.upstreams[i];
        up.learn_reach().await;
        if let Err(why) = up.allows(&url) {
            tracing::warn!(upstream = %up.name, "not forwarding to {url}: {why}");
            continue;
        }
        let mut request = if credentials {
            up.request(method.clone(), url)
        } else {
            up.anonymous_request(method.clone(), url)
        };
        for name in REQUEST_HEADERS {
            if let Some(v) = req.get(name) {
                request = request.header(name, v.clone());
            }
        }
        if let Some(body) = &body {
            request = request.body(body.clone());
        }
        let resp = match tokio::time::timeout(up.header_timeout(), request.send()).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                all_timeouts &= e.is_timeout();
                failures.push(format!("{}: {}", up.name, error_chain(&e)));
                continue;
            }
            Err(_) => {
                failures.push(format!("{}: no response in time", up.name));
                continue;
            }
        };
        let mut headers = HeaderMap::new();
        for name in RESPONSE_HEADERS {
            if let Some(v) = resp.headers().get(name) {
                headers.insert(name, v.clone());
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let status = resp.status();
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from_stream(resp.bytes_stream().map_err(std::io::Error::other))
        };
        let mut out = Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        return tagged(out, Outcome::Pass, Some(up.name.clone()));
    }
    let failure = if failures.is_empty() {
        Failure::NotFound
    } else if all_timeouts {
        Failure::Timeout(failures.join("; "))
    } else {
        Failure::Upstream(failures.join("; "))
    };
    tagged(failure.into_response(), Outcome::Pass, None)
}

/// Each upstream's URL for the (already encoded) `segments` below its base, with `query`, in
/// priority order.
pub(crate) fn below_bases(
    repo: &Repository,
    segments: &[String],
    query: Option<&str>,
) -> Vec<(usize, Url)> {
    repo.upstreams
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            let mut url = push_under(&u.base, segments, false).ok()?;
            url.set_query(query);
            Some((i, url))
        })
        .collect()
}
