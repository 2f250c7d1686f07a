//! PEP 658 core metadata generated for wheels whose upstream page does not offer it.
//!
//! Without `core-metadata`, pip and uv download whole wheels to learn their dependencies, and
//! resolution through a proxy of such an index is slow. Pages repox serves announce
//! `core-metadata` for every wheel (`generate_metadata = true`, the default; see `page.rs`), and
//! a request for `<wheel>.metadata` the upstream cannot answer is served from the wheel itself:
//!
//! - from the cached wheel, when repox has it (its sha256 was verified when it was stored, and
//!   is checked again against the page here);
//! - else by HTTP range requests to the upstream that lists the wheel, at the URL its page gave
//!   (fenced like every such URL: `Upstream::allows`, credentials only to its own origin): the
//!   last 64 KiB (end record and, usually, the central directory and `.dist-info` files), then
//!   whatever else is needed — one or two requests more at most (see [`super::wheel_zip`]);
//! - else, when the upstream ignores `Range` (a `200` answer), by downloading the wheel through
//!   the engine, which verifies and caches it; pip would have downloaded it anyway.
//!
//! The result is stored under the `.metadata` path (so later requests are plain hits) and
//! answered with its own digests. Metadata read by range cannot be checked against the wheel's
//! hash (that needs the whole file); the zip's CRC-32 is checked instead.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode, header};
use url::Url;

use super::link::Link;
use super::model::{Merged, Metadata};
use super::wheel_zip::{self, Span, TAIL, ZipError};
use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::fill::Done;
use crate::repository::{Outcome, Repository, Resource, Verify, tagged};
use crate::respond::{self, CacheControl, Presentation};
use crate::store::Entry;
use crate::upstream::Verdict;

/// Whether repox generates metadata for `filename` listed without it.
pub fn applies(repo: &Repository, filename: &str) -> bool {
    repo.config.generate_metadata() && filename.to_ascii_lowercase().ends_with(".whl")
}

/// Announces metadata for every wheel of `page` that lacks it, in both formats (`json` carries
/// PEP 714's older name too, for pips before 23.3). Links were recorded before this, so a
/// request for such a `.metadata` finds no upstream one and is generated ([`serve`]).
pub fn announce(page: &mut Merged) {
    for (_, d) in &mut page.files {
        if d.core_metadata.is_none() && d.filename.to_ascii_lowercase().ends_with(".whl") {
            d.core_metadata = Some(Metadata::Unhashed);
            d.push_json("core-metadata", &true);
            d.push_json("data-dist-info-metadata", &true);
        }
    }
}

/// Answers `GET`/`HEAD` of `<wheel>.metadata` (at `path`) for the wheel at `wheel` (a repox
/// path), listed by its page as `found`, when the store has no copy.
pub async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: &RepoPath,
    wheel: &str,
    found: &Link,
) -> Response {
    let key = format!("{}/{}", repo.name, path.as_str());
    let made = repo
        .coalesce(&format!("pep658/{key}"), generate(repo, &key, wheel, found))
        .await;
    match made {
        Ok(entry) => {
            let pres = Presentation {
                cache_control: CacheControl::Immutable,
                checksum_headers: false,
            };
            tagged(
                respond::entry_response(method, req, &entry, pres),
                Outcome::Miss,
                Some(found.upstream.to_string()),
            )
        }
        Err(e) => tagged(e.into_response(), Outcome::Miss, None),
    }
}

/// Reads the wheel's `METADATA` (cached wheel, ranges, or whole download) and stores it.
async fn generate(
    repo: &Arc<Repository>,
    key: &str,
    wheel: &str,
    found: &Link,
) -> Result<Entry, Failure> {
    if let Ok(Some(entry)) = repo.services.store.get(key).await {
        return Ok(entry);
    }
    let wheel_key = format!("{}/{wheel}", repo.name);
    let bytes = match repo.services.store.get(&wheel_key).await {
        Ok(Some(entry)) => from_entry(&entry, &found.verify).await?,
        _ if repo.services.offline => return Err(Failure::Offline(key.to_owned())),
        _ => match by_ranges(repo, found).await? {
            Some(bytes) => bytes,
            None => {
                let entry = download(repo, wheel, found).await?;
                from_entry(&entry, &found.verify).await?
            }
        },
    };
    repo.store_bytes(
        key,
        Bytes::from(bytes),
        Some("application/octet-stream"),
        &found.upstream,
        &found.url,
    )
    .await
    .map_err(Failure::internal)
}

/// An unreadable wheel is the upstream's fault: 502 naming it.
fn bad_wheel(found: &Link, e: ZipError) -> Failure {
    Failure::Upstream(format!(
        "cannot read METADATA from the wheel `{}` listed by `{}`: {e}",
        found.url, found.upstream
    ))
}

/// `METADATA` of a whole wheel in the store, after checking it is the file the page names.
async fn from_entry(entry: &Entry, verify: &Verify) -> Result<Vec<u8>, Failure> {
    if let Verify::Sha256(want) = verify
        && !entry.meta.digests.sha256.eq_ignore_ascii_case(want)
    {
        return Err(Failure::Upstream(format!(
            "the cached wheel `{}` does not have the sha256 its page gives",
            entry.meta.url
        )));
    }
    let len = entry.meta.len;
    let read = |s: Span| async move {
        entry
            .body
            .read(s.start, s.len)
            .await
            .map_err(Failure::internal)
    };
    let tail_start = len.saturating_sub(TAIL);
    let tail = read(Span {
        start: tail_start,
        len: len - tail_start,
    })
    .await?;
    let zip_err = |e: ZipError| Failure::Upstream(format!("the wheel `{}`: {e}", entry.meta.url));
    let cd = wheel_zip::central_directory(&tail, tail_start, len).map_err(zip_err)?;
    let cd_bytes = match within(&tail, tail_start, cd) {
        Some(b) => b,
        None => read(cd).await?,
    };
    let member = wheel_zip::find_metadata(&cd_bytes, cd).map_err(zip_err)?;
    let span = member.span().map_err(zip_err)?;
    let local = match within(&tail, tail_start, span) {
        Some(b) => b,
        None => read(span).await?,
    };
    member.extract(&local).map_err(zip_err)
}

/// The bytes of `span` if `have` (starting at `have_start`) holds all of them.
fn within(have: &Bytes, have_start: u64, span: Span) -> Option<Bytes> {
    let from = span.start.checked_sub(have_start)?;
    let to = from.checked_add(span.len)?;
    (to <= have.len() as u64).then(|| have.slice(from as usize..to as usize))
}

/// The wheel's upstream and URL, fenced.
fn target(repo: &Repository, found: &Link) -> Result<(usize, Url), Failure> {
    let i = repo
        .upstreams
        .iter()
        .position(|u| *u.name == *found.upstream)
        .ok_or(Failure::NotFound)?;
    let url = Url::parse(&found.url)
        .map_err(|_| Failure::Upstream(format!("the page gives a bad URL: {}", found.url)))?;
    repo.upstreams[i]
        .allows(&url)
        .map_err(|why| Failure::Upstream(format!("refused the wheel URL: {why}")))?;
    Ok((i, url))
}

/// `METADATA` by range requests; `None` when the upstream does not do ranges.
async fn by_ranges(repo: &Arc<Repository>, found: &Link) -> Result<Option<Vec<u8>>, Failure> {
    let (i, url) = target(repo, found)?;
    let Some((tail, len)) = ranged(repo, i, &url, Ask::Suffix(TAIL)).await? else {
        return Ok(None);
    };
    let tail_start = len - tail.len() as u64;
    let cd = wheel_zip::central_directory(&tail, tail_start, len).map_err(|e| bad_wheel(found, e))?;
    let cd_bytes = match within(&tail, tail_start, cd) {
        Some(b) => b,
        None => fetch(repo, i, &url, cd).await?,
    };
    let member = wheel_zip::find_metadata(&cd_bytes, cd).map_err(|e| bad_wheel(found, e))?;
    let span = member.span().map_err(|e| bad_wheel(found, e))?;
    let local = match within(&tail, tail_start, span) {
        Some(b) => b,
        None => fetch(repo, i, &url, span).await?,
    };
    member
        .extract(&local)
        .map(Some)
        .map_err(|e| bad_wheel(found, e))
}

/// What to ask for.
#[derive(Clone, Copy)]
enum Ask {
    /// The last `n` bytes (`bytes=-n`).
    Suffix(u64),
    /// This span.
    Span(Span),
}

/// A span the upstream must answer with `206`.
async fn fetch(repo: &Arc<Repository>, i: usize, url: &Url, span: Span) -> Result<Bytes, Failure> {
    if span.len == 0 {
        return Ok(Bytes::new());
    }
    match ranged(repo, i, url, Ask::Span(span)).await? {
        Some((bytes, _)) => Ok(bytes),
        None => Err(Failure::Upstream(format!(
            "`{}` stopped answering range requests",
            repo.upstreams[i].name
        ))),
    }
}

/// One range request: `Some((bytes, file length))` for a `206` that is exactly what was asked,
/// `None` for a `200` (no range support; its body is not read).
async fn ranged(
    repo: &Arc<Repository>,
    i: usize,
    url: &Url,
    ask: Ask,
) -> Result<Option<(Bytes, u64)>, Failure> {
    let up = &repo.upstreams[i];
    let range = match ask {
        Ask::Suffix(n) => format!("bytes=-{n}"),
        Ask::Span(s) => format!("bytes={}-{}", s.start, s.end() - 1),
    };
    let request = up
        .request(Method::GET, url.clone())
        .header(header::RANGE, range);
    let resp = match repo.ask(i, request, false).await.1 {
        Verdict::Found(resp) => resp,
        Verdict::Missing => return Err(Failure::NotFound),
        Verdict::NotModified => return Err(Failure::Upstream("unexpected 304".into())),
        Verdict::Failed(why) => return Err(Failure::Upstream(format!("{}: {why}", up.name))),
        Verdict::TimedOut => return Err(Failure::Timeout(up.name.clone())),
    };
    if resp.status() != StatusCode::PARTIAL_CONTENT {
        return Ok(None);
    }
    let bad = |why: &str| Failure::Upstream(format!("`{}` answered a range request {why}", up.name));
    let (start, end, total) = resp
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(content_range)
        .ok_or_else(|| bad("without a usable Content-Range"))?;
    let expected = match ask {
        Ask::Suffix(n) => end + 1 == total && end + 1 - start == n.min(total),
        Ask::Span(s) => start == s.start && end + 1 == s.end(),
    };
    if !expected {
        return Err(bad("with another range than asked"));
    }
    let want = end + 1 - start;
    let mut body = BytesMut::with_capacity(want.min(1 << 20) as usize);
    let mut stream = resp.bytes_stream();
    loop {
        let next = tokio::time::timeout(up.idle_timeout, stream.next())
            .await
            .map_err(|_| Failure::Timeout(up.name.clone()))?;
        match next {
            Some(Ok(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > want {
                    return Err(bad("with more bytes than its Content-Range"));
                }
                body.extend_from_slice(&chunk);
            }
            Some(Err(e)) => return Err(Failure::Upstream(format!("{}: {e}", up.name))),
            None => break,
        }
    }
    if body.len() as u64 != want {
        return Err(bad("with fewer bytes than its Content-Range"));
    }
    Ok(Some((body.freeze(), total)))
}

/// `bytes <start>-<end>/<total>` (RFC 9110 §14.4), consistent.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total) = (
        start.trim().parse::<u64>().ok()?,
        end.trim().parse::<u64>().ok()?,
        total.trim().parse::<u64>().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

/// The whole wheel through the engine (verified against the page, then cached).
async fn download(repo: &Arc<Repository>, wheel: &str, found: &Link) -> Result<Entry, Failure> {
    let (i, url) = target(repo, found)?;
    let path = RepoPath::parse(wheel).map_err(|_| Failure::NotFound)?;
    let mut res = Resource::new(repo, path);
    res.verify = found.verify.clone();
    res.targets = Some(vec![(i, url)]);
    match Repository::outcome(repo.start_fill(res, None)).await? {
        Done::Stored(entry) => Ok(entry),
        Done::NotModified => Err(Failure::Internal("unexpected revalidation".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(content_range("bytes 5-4/10"), None);
        assert_eq!(content_range("bytes 0-10/10"), None);
        assert_eq!(content_range("bytes */10"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }

    #[test]
    fn spans_within_what_was_read() {
        let have = Bytes::from_static(b"0123456789");
        let s = |start, len| Span { start, len };
        assert_eq!(within(&have, 100, s(102, 3)).as_deref(), Some(&b"234"[..]));
        assert_eq!(within(&have, 100, s(99, 3)), None);
        assert_eq!(within(&have, 100, s(108, 3)), None);
        assert_eq!(within(&have, 100, s(u64::MAX, 3)), None);
    }
}
