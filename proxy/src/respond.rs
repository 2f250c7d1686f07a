//! Turning cache entries and in-progress fills into HTTP responses: validators, `304`,
//! single ranges (`a-b`, `a-`, suffix `-N`) with `206`/`416`, `If-Range`, and bodies read from
//! the store's hit handle by range (positional reads for files), including bodies that are still
//! growing.
//!
//! A response for a fill in progress tails the miss handle: it sends bytes as the fill writes
//! them, but holds back the last byte until the fill has verified the whole body, so a client
//! never receives a complete-looking body that failed its checksum (RFC 9110 §8.6: a message
//! shorter than its Content-Length is incomplete).

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use futures_util::stream::{self, Stream};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::sync::watch;

use crate::repository::fill::FillStatus;
use crate::store::{self, Entry, Meta};

const X_CHECKSUM_SHA1: HeaderName = HeaderName::from_static("x-checksum-sha1");
const X_CHECKSUM_MD5: HeaderName = HeaderName::from_static("x-checksum-md5");
const X_CHECKSUM_SHA256: HeaderName = HeaderName::from_static("x-checksum-sha256");

/// Per-resource response details decided by the ecosystem.
#[derive(Debug, Clone, Copy)]
pub struct Presentation {
    /// `Cache-Control` to send.
    pub cache_control: CacheControl,
    /// Send `X-Checksum-SHA1`/`-MD5`/`-SHA256` (Maven clients then skip the `.sha1` request).
    pub checksum_headers: bool,
}

/// Freshness advertised to clients.
#[derive(Debug, Clone, Copy)]
pub enum CacheControl {
    /// Content never changes for this URL.
    Immutable,
    /// Fresh for this many more seconds.
    MaxAge(u64),
}

impl CacheControl {
    fn header(self) -> HeaderValue {
        match self {
            CacheControl::Immutable => {
                HeaderValue::from_static("public, max-age=31536000, immutable")
            }
            CacheControl::MaxAge(s) => {
                HeaderValue::from_str(&format!("public, max-age={s}")).expect("ascii")
            }
        }
    }
}

/// The request headers [`crate::origin::request_origin`] reads.
const ORIGIN_HEADERS: &str = "Host, X-Forwarded-Host, X-Forwarded-Proto";

/// Marks a response whose body embeds the origin the client used (absolute URLs back to repox):
/// a shared cache in front of repox must not answer one host's request with another's copy.
pub fn vary_on_origin(headers: &mut HeaderMap) {
    let value = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(old) if !old.is_empty() => format!("{old}, {ORIGIN_HEADERS}"),
        _ => ORIGIN_HEADERS.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::VARY, v);
    }
}

/// A single byte range requested by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=a-b` or `bytes=a-` (end exclusive; `None` = to the end).
    From(u64, Option<u64>),
    /// `bytes=-N`.
    Suffix(u64),
}

/// Parses a `Range` header; `None` for absent, multi-range or malformed (all served as 200).
pub fn parse_range(headers: &HeaderMap) -> Option<RangeSpec> {
    let value = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = value.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().map(RangeSpec::Suffix);
    }
    let start: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(RangeSpec::From(start, None));
    }
    let last: u64 = b.parse().ok()?;
    // `last` = u64::MAX means "to the end"; `last + 1` would overflow.
    (last >= start).then_some(RangeSpec::From(start, last.checked_add(1)))
}

/// A range that lies outside the body (answered 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Resolves a range against a known length: `Ok(None)` = whole body.
pub fn resolve_range(
    range: Option<RangeSpec>,
    len: u64,
) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    match range {
        None => Ok(None),
        Some(RangeSpec::Suffix(0)) => Err(Unsatisfiable),
        Some(RangeSpec::Suffix(_)) if len == 0 => Err(Unsatisfiable),
        Some(RangeSpec::Suffix(n)) => Ok(Some((len.saturating_sub(n), len))),
        Some(RangeSpec::From(start, _)) if start >= len => Err(Unsatisfiable),
        Some(RangeSpec::From(start, end)) => Ok(Some((start, end.map_or(len, |e| e.min(len))))),
    }
}

fn if_range_allows(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) => v == last_modified,
    }
}

/// RFC 9110 §13.1.2/§13.1.3: If-None-Match wins over If-Modified-Since.
fn not_modified(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let bare = etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == bare);
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        && let (Ok(ims), Ok(lm)) = (
            httpdate::parse_http_date(ims),
            httpdate::parse_http_date(last_modified),
        )
    {
        return lm <= ims;
    }
    false
}

/// Headers describing a stored entry (shared by 200, 206, 304 and HEAD).
fn entry_headers(
    meta: &Meta,
    presentation: Presentation,
    etag: &str,
    last_modified: &str,
) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(12);
    let ct = meta
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    h.insert(header::CONTENT_TYPE, value(ct));
    h.insert(header::ETAG, value(etag));
    h.insert(header::LAST_MODIFIED, value(last_modified));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, presentation.cache_control.header());
    if presentation.checksum_headers {
        if let Some(sha1) = &meta.digests.sha1 {
            h.insert(X_CHECKSUM_SHA1, value(sha1));
        }
        if let Some(md5) = &meta.digests.md5 {
            h.insert(X_CHECKSUM_MD5, value(md5));
        }
        h.insert(X_CHECKSUM_SHA256, value(&meta.digests.sha256));
    }
    h
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Serves a committed entry for GET or HEAD, honouring conditionals and ranges.
pub fn entry_response(
    method: &Method,
    req: &HeaderMap,
    entry: &Entry,
    presentation: Presentation,
) -> Response {
    let meta = &entry.meta;
    let mut headers = shared_headers(meta, presentation.checksum_headers);
    if let CacheControl::MaxAge(_) = presentation.cache_control {
        headers.insert(header::CACHE_CONTROL, presentation.cache_control.header());
    }
    // The validators as text only for a request that asks about them (a hit rarely does).
    let conditional = [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_RANGE,
    ]
    .iter()
    .any(|h| req.contains_key(h));
    let mut range_allowed = true;
    if conditional {
        let (etag, last_modified) = (meta.etag(), meta.last_modified());
        if not_modified(req, &etag, &last_modified) {
            // The last header, so its removal leaves the others in order.
            headers.remove(header::CONTENT_LENGTH);
            return build(StatusCode::NOT_MODIFIED, headers, Body::empty());
        }
        range_allowed = if_range_allows(req, &etag, &last_modified);
    }
    let range = if range_allowed {
        parse_range(req)
    } else {
        None
    };
    let (status, start, end) = match resolve_range(range, meta.len) {
        // The shared headers carry the whole body's length.
        Ok(None) => (StatusCode::OK, 0, meta.len),
        Ok(Some((s, e))) => {
            headers.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes {}-{}/{}", s, e - 1, meta.len)),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(e - s));
            (StatusCode::PARTIAL_CONTENT, s, e)
        }
        Err(Unsatisfiable) => {
            headers.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes */{}", meta.len)),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return build(StatusCode::RANGE_NOT_SATISFIABLE, headers, Body::empty());
        }
    };
    if method == Method::HEAD {
        return build(status, headers, Body::empty());
    }
    match &entry.body {
        store::Body::Bytes(b) => build(
            status,
            headers,
            Body::from(b.slice(start as usize..end as usize)),
        ),
        // The edge may send it with `sendfile` (`edge/zerocopy.rs`).
        store::Body::File(_) => {
            let (body, zero_copy) =
                crate::edge::zerocopy::file_body(entry.body.clone(), start, end);
            let mut resp = build(status, headers, body);
            crate::repository::notes(&mut resp).zero_copy = Some(zero_copy);
            resp
        }
        store::Body::Ranged(_) => {
            build(status, headers, Body::from_stream(entry.range(start, end)))
        }
    }
}

/// How many entries' headers each thread keeps ([`shared_headers`]).
const SHARED_SLOTS: usize = 128;

/// An entry's headers for one choice of checksum headers.
struct Shared {
    meta: Arc<Meta>,
    checksums: bool,
    headers: HeaderMap,
}

thread_local! {
    /// Direct-mapped by the address of the entry's metadata. A slot holds its `Arc<Meta>`, so
    /// the address cannot be reused by other metadata while the slot names it.
    static SHARED: RefCell<Box<[Option<Shared>]>> =
        RefCell::new((0..SHARED_SLOTS).map(|_| None).collect());
}

/// The headers every answer about `meta` starts from: [`entry_headers`] with immutable
/// `Cache-Control` and, last, the whole body's `Content-Length`. Built once per entry and
/// thread, then cloned: a clone copies the map and counts references to its values, where
/// building it formatted, validated, copied and hashed nine headers on every hit. (A
/// placeholder `X-Repox-Cache` here, for the envelope to replace, saved the map's growth but
/// made the clone dearer than that: `docs/performance.md`.)
fn shared_headers(meta: &Arc<Meta>, checksums: bool) -> HeaderMap {
    let make = || {
        let presentation = Presentation {
            cache_control: CacheControl::Immutable,
            checksum_headers: checksums,
        };
        let mut h = entry_headers(meta, presentation, &meta.etag(), &meta.last_modified());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len));
        h
    };
    let at = (Arc::as_ptr(meta) as usize).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let cached = SHARED.try_with(|slots| {
        let mut slots = slots.try_borrow_mut().ok()?;
        let slot = slots.get_mut(at % SHARED_SLOTS)?;
        match slot {
            Some(s) if Arc::ptr_eq(&s.meta, meta) && s.checksums == checksums => {
                Some(s.headers.clone())
            }
            _ => {
                let headers = make();
                *slot = Some(Shared {
                    meta: meta.clone(),
                    checksums,
                    headers: headers.clone(),
                });
                Some(headers)
            }
        }
    });
    cached.ok().flatten().unwrap_or_else(make)
}

/// Builds a response from parts.
pub fn build(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// How far a client may read a body a fill is still writing, for a response of `[start, end)`
/// (`end = None`: until the fill is done): each time that grows past what it yielded last, the
/// new limit, then the end of the stream once the limit is final. The limit is what the fill
/// wrote, less the body's last byte until the fill has verified the whole body. Fails (so the
/// client sees a truncated body) when the fill fails or restarts. The response body reads (or
/// sends with `sendfile`) the staged file up to each limit (`edge/zerocopy.rs`, `growing_body`).
pub fn tail_limits(
    rx: watch::Receiver<FillStatus>,
    attempt: u32,
    start: u64,
    end: Option<u64>,
) -> impl Stream<Item = io::Result<u64>> + Send + 'static {
    stream::try_unfold(
        (start, rx, false),
        move |(given, mut rx, over)| async move {
            if over {
                return Ok(None);
            }
            loop {
                let (limit, finished) = {
                    let st = rx.borrow_and_update();
                    if st.attempt != attempt || matches!(st.done, Some(Err(_))) {
                        return Err(io::Error::other("upstream download failed"));
                    }
                    let complete = st.verified || matches!(st.done, Some(Ok(_)));
                    let available = if complete {
                        st.written
                    } else {
                        st.written.saturating_sub(1)
                    };
                    let limit = end.map_or(available, |e| e.min(available));
                    (limit, complete || end.is_some_and(|e| e <= available))
                };
                if limit > given {
                    return Ok(Some((limit, (limit, rx, finished))));
                }
                if finished {
                    return Ok(None);
                }
                if rx.changed().await.is_err() {
                    return Err(io::Error::other("download abandoned"));
                }
            }
        },
    )
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn ranges_parse_and_resolve() {
        let r = |s: &str| parse_range(&headers(&[(header::RANGE, s)]));
        assert_eq!(resolve_range(r("bytes=0-9"), 100), Ok(Some((0, 10))));
        assert_eq!(resolve_range(r("bytes=90-"), 100), Ok(Some((90, 100))));
        assert_eq!(resolve_range(r("bytes=-10"), 100), Ok(Some((90, 100))));
        assert_eq!(resolve_range(r("bytes=-500"), 100), Ok(Some((0, 100))));
        assert_eq!(resolve_range(r("bytes=95-200"), 100), Ok(Some((95, 100))));
        assert_eq!(resolve_range(r("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(resolve_range(r("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(resolve_range(r("items=0-1"), 100), Ok(None));
        assert_eq!(resolve_range(r("bytes=5-1"), 100), Ok(None));
    }

    #[test]
    fn conditionals_prefer_if_none_match() {
        let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert!(not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"a\", \"b\"")]),
            "\"b\"",
            lm
        ));
        assert!(not_modified(
            &headers(&[(header::IF_NONE_MATCH, "W/\"b\"")]),
            "\"b\"",
            lm
        ));
        assert!(!not_modified(
            &headers(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, lm)
            ]),
            "\"b\"",
            lm
        ));
        assert!(not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, lm)]),
            "\"b\"",
            lm
        ));
        assert!(!not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, "Wed, 21 Oct 2015 07:27:59 GMT")]),
            "\"b\"",
            lm
        ));
    }
}
