//! Serving a miss without caching it, for when the cache disk is full: the upstreams are raced
//! as for a fill, and the winner's body is streamed straight to the client. Nothing is staged,
//! so nothing can be cut short by "no space left on device", and nothing is committed. The body
//! is not verified either (there is no entry to protect); a stall longer than the upstream's
//! `idle_timeout` ends it with an error, so the client sees a failed transfer, never a short
//! file passed off as whole (the `Content-Length` is the upstream's).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::repository::{Outcome, Repository, Resource, tagged};

/// Response headers passed on from the upstream.
const RELAYED: [header::HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::LAST_MODIFIED,
    header::ETAG,
];

impl Repository {
    /// Answers a GET miss from the upstreams without caching it.
    pub(crate) async fn pass_through(&self, res: &Resource) -> Response {
        let (i, _, resp) = match self.race_get(res, &[]).await {
            Ok(winner) => winner,
            Err(e) => return tagged(e.into_response(), Outcome::Uncached, None),
        };
        let up = &self.upstreams[i];
        let mut headers = HeaderMap::new();
        for name in RELAYED {
            if let Some(v) = resp.headers().get(&name) {
                headers.insert(name, v.clone());
            }
        }
        if let Some(v) = resp.headers().get(header::CONTENT_ENCODING) {
            headers.insert(header::CONTENT_ENCODING, v.clone());
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let idle = up.idle_timeout;
        let body = stream::unfold(Some(resp.bytes_stream()), move |inner| async move {
            let mut inner = inner?;
            match tokio::time::timeout(idle, inner.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(inner))),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Err(_) => Some((Err(std::io::Error::other("the upstream stalled")), None)),
            }
        });
        let mut out = Response::new(Body::from_stream(body));
        *out.status_mut() = StatusCode::OK;
        *out.headers_mut() = headers;
        tagged(out, Outcome::Uncached, Some(up.name.clone()))
    }
}
