//! A fill: the one download of a key, shared by every client that wants it meanwhile.
//!
//! The fill task owns the upstream transfer; it does not belong to any client, so a client that
//! disconnects does not abort it (but a fill no client has waited for during a short grace is
//! cancelled, unless nearly done). It streams the body into the store's miss handle
//! ([`crate::store::Miss`]) and publishes its progress on a `watch` channel ([`FillStatus`]);
//! clients tail the miss handle up to `written` bytes (see `respond::tail_limits`). Fills are
//! coalesced by key through `flight.rs`. When the upstream stalls (no bytes for `idle_timeout`, or
//! fewer than `min_rate`) or closes early, the fill resumes with `Range` from the same upstream
//! if it accepts ranges, else from another upstream, skipping the bytes it already has, so
//! clients see one continuous body. `max_file_size` and `max_download_time` bound it.
//!
//! At the end the body is verified (a known digest, or Maven's `X-Checksum-SHA1` / `.sha1` from
//! the same upstream). A copy that fails (wrong digest, cut short, an HTML page where a binary
//! belongs, a checksum file that cannot be fetched) is a failure of that upstream: the next one
//! is tried, and 502 is answered when none is left; it is never remembered as "not there". Only
//! a complete body is committed (`Miss::finish`, atomic), and its metadata records how it was
//! verified; a body whose end cannot be told from a dropped connection and that has no digest
//! is given to the waiting clients but not committed.
//!
//! The clients get the last byte once the body is verified and, when every digest the entry
//! records is already known, committed. A large body computes only its verifying digest while
//! it streams; the digests it merely records (MD5, an unchecked SHA-1 or SHA-256) are computed
//! from the staged file after the last byte is handed on, and the commit waits for them
//! (`hashing.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use http::{HeaderMap, Method, StatusCode, header};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use url::Url;

use super::race::Failures;
use crate::error::Failure;
use crate::flight::Lead;
use crate::hashing::{self, Algorithm, Follower, Inline};
use crate::repository::{Freshness, Repository, Resource, Verify};
use crate::store::{Body, Claim, Digests, Entry, Meta, Miss, Verification, now_secs};
use crate::upstream::{Verdict, binary_artifact, error_chain, looks_like_html};

/// Progress of a fill, as seen by the clients waiting on it.
#[derive(Debug, Clone, Default)]
pub struct FillStatus {
    /// Increases each time the fill starts over with another upstream; a client streaming an
    /// older attempt must fail.
    pub attempt: u32,
    /// Response details, once an upstream answered.
    pub head: Option<Arc<StreamHead>>,
    /// Bytes in the staged file.
    pub written: u64,
    /// The whole body is present and verified; the last byte may be sent.
    pub verified: bool,
    /// The outcome.
    pub done: Option<Result<Done, Failure>>,
}

/// How a fill ended well.
#[derive(Debug, Clone)]
pub enum Done {
    /// A new entry was committed.
    Stored(Entry),
    /// The stale entry was confirmed by the upstream (304).
    NotModified,
}

/// What the winning upstream said about the body.
#[derive(Debug)]
pub struct StreamHead {
    /// Upstream name.
    pub upstream: String,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Length, when given and not content-encoded.
    pub len: Option<u64>,
    /// Last-Modified.
    pub last_modified: Option<String>,
    /// ETag.
    pub etag: Option<String>,
    /// `X-Checksum-SHA1`.
    pub sha1: Option<String>,
    /// The body being written, for tailing.
    pub file: Body,
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Why one attempt ended without an entry.
enum AttemptError {
    /// This upstream's answer cannot be used (wrong digest, cut short, an HTML page, too large,
    /// its checksum file failed): try the next upstream. Never "this upstream lacks it".
    Failed(String),
    /// Give up.
    Fatal(Failure),
}

impl From<std::io::Error> for AttemptError {
    fn from(e: std::io::Error) -> Self {
        AttemptError::Fatal(Failure::internal(e))
    }
}

/// A download nobody waits for any more is cancelled after this long...
const ORPHAN_GRACE: Duration = Duration::from_secs(3);
/// ...unless at least this share of its known length is in (percent).
const NEARLY_DONE: u64 = 90;
/// Bytes held back before the first write so that an HTML page can be told from an artifact.
const SNIFF: usize = 512;

/// Bounds of one fill, from the repository's config.
struct Limits {
    max_size: u64,
    deadline: Instant,
    max_time: Duration,
    min_rate: u64,
}

impl Limits {
    fn of(repo: &Repository) -> Limits {
        let max_time = repo.config.max_download_time();
        Limits {
            max_size: repo.config.max_file_size(),
            deadline: Instant::now() + max_time,
            max_time,
            min_rate: repo.config.min_rate(),
        }
    }
}

/// The fill task: fetch `res` (or revalidate `stale`), then publish the outcome.
pub(crate) async fn run(
    repo: Arc<Repository>,
    res: Resource,
    stale: Option<Entry>,
    lead: Lead<FillStatus>,
) {
    // The lead takes the fill out of the in-flight map however the task ends (even by panic).
    let tx = &lead.tx;
    let outcome = match stale {
        Some(entry) => revalidate(&repo, &res, &entry, tx).await,
        None => fetch(&repo, &res, None, tx).await,
    };
    // Publish the outcome before leaving the in-flight map: a request that joins in between
    // sees the committed entry, never a half-finished stream.
    tx.send_modify(|s| s.done = Some(outcome));
    drop(lead);
}

async fn revalidate(
    repo: &Repository,
    res: &Resource,
    entry: &Entry,
    tx: &watch::Sender<FillStatus>,
) -> Result<Done, Failure> {
    let meta = &entry.meta;
    let Some(i) = repo.upstreams.iter().position(|u| u.name == meta.upstream) else {
        return fetch(repo, res, None, tx).await;
    };
    let Some(url) = Url::parse(&meta.url)
        .ok()
        .or_else(|| repo.upstreams[i].url_for(&res.path).ok())
    else {
        return fetch(repo, res, None, tx).await;
    };
    let mut request = repo.upstreams[i].request(Method::GET, url.clone());
    if let Some(accept) = &res.accept {
        request = request.header(header::ACCEPT, accept.clone());
    }
    if let Some(etag) = &meta.upstream_etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(lm) = &meta.upstream_last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, lm);
    }
    match repo.ask(i, request, res.reject_html).await.1 {
        Verdict::NotModified => {
            repo.mark_fresh(&res.key);
            Ok(Done::NotModified)
        }
        Verdict::Found(resp) => fetch(repo, res, Some((i, url, resp)), tx).await,
        Verdict::Missing => {
            repo.remember_missing(res, i);
            let outcome = fetch(repo, res, None, tx).await;
            if outcome.as_ref().is_err_and(|e| *e == Failure::NotFound) {
                let _ = repo.services.store.delete(&res.key).await;
            }
            outcome
        }
        other => {
            let mut failures = Failures::default();
            failures.add(&repo.upstreams[i].name, &other);
            Err(failures.into_failure())
        }
    }
}

async fn fetch(
    repo: &Repository,
    res: &Resource,
    mut first: Option<(usize, Url, reqwest::Response)>,
    tx: &watch::Sender<FillStatus>,
) -> Result<Done, Failure> {
    // Held until the download is committed or abandoned.
    let mut _claim = None;
    // A fill that finished just before this one started may have committed the entry: the
    // store is read again, beside the first upstream request rather than before it (the read
    // is on the way to the client's first byte; losing that rare race costs one dropped
    // request).
    let mut recheck = first.is_none();
    if first.is_none() {
        // Nodes sharing a store (S3) download a key once: wait for the one that claimed it.
        match repo.services.store.claim(&res.key).await {
            Ok(Claim::Fill(guard)) => _claim = guard,
            Ok(Claim::Committed) => {
                if let Some(entry) = fresh_entry(repo, res).await {
                    return Ok(Done::Stored(entry));
                }
                recheck = false;
            }
            Err(e) => tracing::debug!(key = %res.key, "downloading without a claim: {e}"),
        }
    }
    let mut excluded = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let limits = Limits::of(repo);
    loop {
        let mut staged = None;
        let (i, url, resp) = match first.take() {
            Some(winner) => winner,
            // The staging file is created while the upstreams are asked, not after: it is on
            // the way to the client's first byte. It is asked for one yield after the request,
            // so that the request is written first: the blocking thread that creates the file
            // would otherwise compete for a core with the upstream's connection task (and, on a
            // small machine, with the upstream itself) before the request has left.
            None => {
                let committed = async {
                    match std::mem::take(&mut recheck) {
                        true => fresh_entry(repo, res).await,
                        false => None,
                    }
                };
                let staging = async {
                    tokio::task::yield_now().await;
                    repo.services.store.begin(&res.key).await
                };
                let (asked, miss, committed) =
                    tokio::join!(repo.race_get(res, &excluded), staging, committed);
                if let Some(entry) = committed {
                    return Ok(Done::Stored(entry));
                }
                match asked {
                    Ok(winner) => {
                        staged = miss.ok();
                        winner
                    }
                    Err(e) => match e {
                        e if failed.is_empty() => return Err(e),
                        // Some upstream had the file but its copy was unusable: that is not a
                        // 404.
                        Failure::NotFound => return Err(Failure::Upstream(failed.join("; "))),
                        Failure::Upstream(why) | Failure::Timeout(why) => {
                            failed.push(why);
                            return Err(Failure::Upstream(failed.join("; ")));
                        }
                        e => return Err(e),
                    },
                }
            }
        };
        let attempt = tx.borrow().attempt + 1;
        let name = &repo.upstreams[i].name;
        match download(repo, res, i, url, resp, staged, attempt, &limits, tx).await {
            Ok(entry) => return Ok(Done::Stored(entry)),
            Err(AttemptError::Fatal(e)) => {
                tracing::warn!(key = %res.key, upstream = %name, "download failed: {e}");
                return Err(e);
            }
            Err(AttemptError::Failed(why)) => {
                let why = format!("{name}: {why}");
                tracing::warn!(key = %res.key, upstream = %name, "discarding download: {why}");
                excluded.push(i);
                failed.push(why);
            }
        }
    }
}

/// The store's entry for `res`, if it is there and fresh.
async fn fresh_entry(repo: &Repository, res: &Resource) -> Option<Entry> {
    match repo.services.store.get(&res.key).await {
        Ok(Some(entry)) if repo.freshness(res, Some(&entry)) == Freshness::Fresh => Some(entry),
        _ => None,
    }
}

fn header_string(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The first 40-hex-digit word of a `.sha1` file (`<hex>`, `<hex>  <filename>`, or openssl's
/// `SHA1(<filename>)= <hex>`, which some old Maven uploads have).
pub fn parse_sha1_file(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

/// Fetches `<url>.sha1` from the same upstream: `Ok(None)` when the upstream has none (404, or
/// an HTML page), an error when it could not say (5xx, timeout, connection error, garbage).
async fn fetch_sidecar(
    repo: &Repository,
    i: usize,
    url: &Url,
) -> Result<Option<(String, Bytes)>, String> {
    let sidecar =
        Url::parse(&format!("{url}.sha1")).map_err(|e| format!("checksum file URL: {e}"))?;
    let up = &repo.upstreams[i];
    let (_, verdict) = repo.ask(i, up.request(Method::GET, sidecar), true).await;
    let resp = match verdict {
        Verdict::Found(resp) => resp,
        Verdict::Missing => return Ok(None),
        Verdict::TimedOut => return Err("checksum file: no response in time".into()),
        Verdict::Failed(why) => return Err(format!("checksum file: {why}")),
        Verdict::NotModified => return Err("checksum file: unexpected 304".into()),
    };
    let body = match tokio::time::timeout(up.idle_timeout, resp.bytes()).await {
        Err(_) => return Err("checksum file: no data in time".into()),
        Ok(Err(e)) => return Err(format!("checksum file: {}", error_chain(&e))),
        Ok(Ok(body)) => body,
    };
    if body.len() > 4096 {
        return Err("checksum file: larger than 4 KiB".into());
    }
    match parse_sha1_file(&body) {
        Some(hex) => Ok(Some((hex, body))),
        None => Err("checksum file: no SHA-1 in it".into()),
    }
}

/// True when the response's own framing tells a complete body from a cut one: a
/// `Content-Length`, chunked encoding (hyper fails a body without its last chunk) or HTTP/2
/// (a reset stream is an error). A close-delimited HTTP/1 body ends the same way whether it is
/// complete or the upstream died.
fn framed(resp: &reqwest::Response) -> bool {
    resp.version() >= http::Version::HTTP_2
        || resp.headers().contains_key(header::CONTENT_LENGTH)
        || resp
            .headers()
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
            })
}

#[allow(clippy::too_many_arguments)]
async fn download(
    repo: &Repository,
    res: &Resource,
    i: usize,
    url: Url,
    resp: reqwest::Response,
    staged: Option<Box<dyn Miss>>,
    attempt: u32,
    limits: &Limits,
    tx: &watch::Sender<FillStatus>,
) -> Result<Entry, AttemptError> {
    let upstream = &repo.upstreams[i];
    let headers = resp.headers().clone();
    let encoded = headers.contains_key(header::CONTENT_ENCODING);
    let len = if encoded { None } else { resp.content_length() };
    if let Some(declared) = resp.content_length()
        && declared > limits.max_size
    {
        return Err(AttemptError::Failed(format!(
            "declares {declared} bytes, more than max_file_size ({} bytes)",
            limits.max_size
        )));
    }
    let framed = framed(&resp);
    let miss = match staged {
        Some(miss) => miss,
        None => repo.services.store.begin(&res.key).await?,
    };
    let reader = miss.tail()?;
    let header_sha1 = header_string(&headers, "x-checksum-sha1")
        .filter(|h| parse_sha1_file(h.as_bytes()).is_some());
    let head = Arc::new(StreamHead {
        upstream: upstream.name.clone(),
        content_type: header_string(&headers, header::CONTENT_TYPE),
        len,
        last_modified: header_string(&headers, header::LAST_MODIFIED),
        etag: header_string(&headers, header::ETAG),
        sha1: header_sha1.clone(),
        file: reader.clone(),
    });
    let publish = || {
        tx.send_modify(|s| {
            s.attempt = attempt;
            s.head = Some(head.clone());
            s.written = 0;
            s.verified = false;
        })
    };
    // A binary artifact's head waits until its first bytes show it is not an HTML page, so
    // that a client of a refused page gets a clean 502.
    let sniff = binary_artifact(res.path.as_str());
    if !sniff {
        publish();
    }
    let wants_sidecar = res.verify == Verify::Sidecar && header_sha1.is_none();
    // Digests: everything in place for a small body; for a large one only the digest that may
    // verify it, on a thread handed each chunk once written, the rest after the last byte.
    let recorded = hashing::recorded(res);
    let large = len.is_some_and(|l| l >= hashing::LATE_FROM);
    let in_place: &[Algorithm] = if large { &[] } else { &recorded };
    let inline = Inline::new(in_place);
    let (follower, feed) = match hashing::gate(&res.verify).filter(|_| large) {
        Some(gate) => {
            let (follower, feed) = Follower::start(gate);
            (Some(follower), Some(feed))
        }
        None => (None, None),
    };
    let stopper = follower.as_ref().map(Follower::stopper);
    let sidecar = async {
        if !wants_sidecar {
            return Ok(None);
        }
        // Asked for once the body's first bytes are on their way to the clients (when they
        // came with the response head): sent in the same poll, the request held them back.
        tokio::task::yield_now().await;
        let found = fetch_sidecar(repo, i, &url).await;
        // The upstream published no `.sha1` (it usually says so long before the body ends): the
        // follower's SHA-1 is only recorded, so it stops pacing the writer and is computed from
        // the staged file after the last byte, like the other recorded digests.
        if matches!(found, Ok(None))
            && let Some(stopper) = &stopper
        {
            stopper.stop();
        }
        found
    };
    let mut writer = BodyWriter::start(miss, tx.clone(), feed, inline);
    let transfer = Transfer {
        repo,
        res,
        len,
        limits,
        tx,
        publish: &publish,
    };
    let body = transfer.receive(i, &url, resp, &mut writer);
    let (received, sidecar) = tokio::join!(body, sidecar);
    // Whatever happened, no write of this attempt may land after it ends.
    let (miss, inline) = writer.finish().await?;
    received?;
    let mut sidecar = sidecar.map_err(AttemptError::Failed)?;
    let written = tx.borrow().written;
    let mut digests = Digests::default();
    inline.finish(&mut digests);

    let (expected, verification) = match &res.verify {
        Verify::None => (None, Verification::Length),
        Verify::Sidecar => match header_sha1.or_else(|| sidecar.as_ref().map(|(h, _)| h.clone())) {
            Some(h) => (Some((Algorithm::Sha1, h)), Verification::Sha1),
            None => (None, Verification::Unavailable),
        },
        Verify::Sha1(h) => (Some((Algorithm::Sha1, h.clone())), Verification::Sha1),
        Verify::Sha256(h) => (Some((Algorithm::Sha256, h.clone())), Verification::Sha256),
        Verify::Cksum(h) => (Some((Algorithm::Sha256, h.clone())), Verification::Cksum),
        Verify::Sha512(h) => (Some((Algorithm::Sha512, h.clone())), Verification::Sha512),
    };
    // The follower's digest holds the last byte back only when it checks a published checksum:
    // a Maven upstream without `.sha1` files published none, and its SHA-1 is then only
    // recorded, like the late digests.
    let mut follower = follower;
    if let Some(f) = follower.take_if(|_| stopper.as_ref().is_some_and(|s| s.stopped())) {
        // Stopped short, it leaves its digest to the pass over the staged file below.
        f.finish_if_done(written, &mut digests).await;
    }
    if let Some(f) =
        follower.take_if(|f| expected.as_ref().is_some_and(|(a, _)| *a == f.algorithm()))
    {
        f.finish(written, &mut digests).await?;
    }
    if let Some((algorithm, want)) = &expected {
        let got = algorithm.get(&digests).unwrap_or_default();
        if !got.eq_ignore_ascii_case(want) {
            return Err(AttemptError::Failed(format!(
                "{} is {got}, expected {want}",
                algorithm.name()
            )));
        }
    }
    let late: Vec<Algorithm> = hashing::missing(&digests, &recorded)
        .into_iter()
        .filter(|a| follower.as_ref().is_none_or(|f| f.algorithm() != *a))
        .collect();
    if !late.is_empty() || follower.is_some() {
        // The body is whole and checked: the clients get the last byte now. The digests left
        // are only recorded, so the commit waits for them, the clients do not; if they cannot
        // be computed, nothing is committed.
        keep_sidecar(repo, res, &upstream.name, &url, sidecar.take()).await;
        tx.send_modify(|s| s.verified = true);
        hashing::digest_file(&reader, written, &late, &mut digests).await?;
        if let Some(f) = follower {
            f.finish(written, &mut digests).await?;
        }
    }
    let meta = Meta {
        len: written,
        content_type: head.content_type.clone(),
        digests,
        upstream: upstream.name.clone(),
        url: url.to_string(),
        upstream_etag: head.etag.clone(),
        upstream_last_modified: head.last_modified.clone(),
        fetched_at: now_secs(),
        verification,
        extra: serde_json::Value::Null,
    };
    if expected.is_none() && !framed {
        // Nothing proves the body whole: the waiting clients get it, the cache does not.
        tracing::warn!(
            key = %res.key,
            upstream = %upstream.name,
            "not caching a body of unknown length with no digest to check it against"
        );
        tx.send_modify(|s| s.verified = true);
        return Ok(Entry {
            meta: Arc::new(meta),
            body: reader,
        });
    }
    let entry = match miss.finish(meta.clone()).await {
        Ok(entry) => entry,
        Err(e) => {
            // The body is whole and checked; only storing it failed (a full disk, a bucket
            // that refused the upload): the waiting clients get it, the cache does not.
            tracing::warn!(key = %res.key, upstream = %upstream.name, "cannot commit the download, serving it uncached: {e}");
            tx.send_modify(|s| s.verified = true);
            return Ok(Entry {
                meta: Arc::new(meta),
                body: reader,
            });
        }
    };
    repo.services.metrics.cache_grew(written);
    repo.services.stats.fetched(&repo.name, written);
    if !verification.is_digest() {
        repo.services.metrics.unverified_commit(&repo.name);
    }
    repo.mark_fresh(&res.key);
    keep_sidecar(repo, res, &upstream.name, &url, sidecar).await;
    // Only now may clients get the last byte (when no digest was left to compute): the entry
    // (and its checksum file) is committed, so a client that asks again at once is answered
    // from the cache.
    tx.send_modify(|s| s.verified = true);
    Ok(entry)
}

/// Caches the `.sha1` file fetched to verify a download (a failure costs only a later fetch).
async fn keep_sidecar(
    repo: &Repository,
    res: &Resource,
    upstream: &str,
    url: &Url,
    sidecar: Option<(String, Bytes)>,
) {
    let Some((_, body)) = sidecar else {
        return;
    };
    let key = format!("{}.sha1", res.key);
    if let Err(e) = repo
        .store_bytes(
            &key,
            body,
            Some("text/plain"),
            upstream,
            &format!("{url}.sha1"),
        )
        .await
    {
        tracing::warn!(%key, "cannot cache checksum file: {e}");
    }
}

/// What one attempt's body loop needs besides the body.
struct Transfer<'a> {
    repo: &'a Repository,
    res: &'a Resource,
    len: Option<u64>,
    limits: &'a Limits,
    tx: &'a watch::Sender<FillStatus>,
    /// Shows the response to the clients (deferred while sniffing).
    publish: &'a (dyn Fn() + Sync),
}

impl Transfer<'_> {
    /// Hands the body's chunks to the writer, resuming after stalls, and
    /// enforcing the limits: size, total time, minimum rate, someone still waiting.
    async fn receive(
        &self,
        i: usize,
        url: &Url,
        resp: reqwest::Response,
        writer: &mut BodyWriter,
    ) -> Result<(), AttemptError> {
        let (repo, res, len, limits) = (self.repo, self.res, self.len, self.limits);
        let mut accepts_ranges = resp
            .headers()
            .get(header::ACCEPT_RANGES)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"bytes"));
        let mut received = 0u64;
        let mut body: Coalesce<ByteStream> = Coalesce::new(Box::pin(resp.bytes_stream()));
        let (mut source, mut source_url) = (i, url.clone());
        let mut resumes = 0;
        // Chunks held back until the start of the body shows it is not an HTML page.
        let mut sniffing = binary_artifact(res.path.as_str()).then(Vec::<Bytes>::new);
        let mut window = (Instant::now(), 0u64);
        let mut orphaned: Option<Instant> = None;
        loop {
            let idle = repo.upstreams[source].idle_timeout;
            let left = limits.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AttemptError::Fatal(Failure::Timeout(format!(
                    "{}: download took longer than max_download_time ({})",
                    repo.upstreams[source].name,
                    humantime::format_duration(limits.max_time)
                ))));
            }
            self.check_waiting(&mut orphaned, received)?;
            let problem = match tokio::time::timeout(idle.min(left), body.next()).await {
                Ok(Some(Ok(batch))) => {
                    let n = batch_len(&batch);
                    let pending = pending_len(&sniffing);
                    let total = received + pending + n;
                    if len.is_some_and(|l| total > l) {
                        return Err(AttemptError::Failed(
                            "more bytes than its Content-Length".into(),
                        ));
                    }
                    if total > limits.max_size {
                        return Err(AttemptError::Failed(format!(
                            "body grew past max_file_size ({} bytes)",
                            limits.max_size
                        )));
                    }
                    window.1 += n;
                    match &mut sniffing {
                        Some(held) if pending + n < SNIFF as u64 => {
                            held.extend(batch);
                        }
                        Some(held) => {
                            held.extend(batch);
                            let held = std::mem::take(held);
                            sniffing = None;
                            received += flush(held, writer, self.publish).await?;
                        }
                        None if n == 0 => {}
                        None => {
                            received += n;
                            writer.write(batch).await?;
                        }
                    }
                    let elapsed = window.0.elapsed();
                    if elapsed < idle {
                        continue;
                    }
                    let rate = window.1 as f64 / elapsed.as_secs_f64();
                    window = (Instant::now(), 0);
                    if rate >= limits.min_rate as f64 {
                        continue;
                    }
                    format!(
                        "{rate:.0} bytes/s, below min_rate ({} bytes/s)",
                        limits.min_rate
                    )
                }
                Ok(None) if len.is_none_or(|l| received + pending_len(&sniffing) == l) => {
                    if let Some(held) = sniffing.take() {
                        flush(held, writer, self.publish).await?;
                    }
                    return Ok(());
                }
                Ok(None) => format!(
                    "connection closed after {received} of {} bytes",
                    len.unwrap_or(0)
                ),
                Ok(Some(Err(e))) => error_chain(&e),
                Err(_) if left <= idle => continue,
                Err(_) => format!("no data for {}", humantime::format_duration(idle)),
            };
            if let Some(held) = &mut sniffing {
                // Resuming starts from what was written: bytes held back are fetched again.
                held.clear();
            }
            window = (Instant::now(), 0);
            resumes += 1;
            let name = &repo.upstreams[source].name;
            if resumes > repo.upstreams.len() + 2 {
                return Err(AttemptError::Failed(format!("{problem}; giving up")));
            }
            tracing::warn!(key = %res.key, "{name}: {problem}; resuming at byte {received}");
            match resume(repo, res, source, &source_url, accepts_ranges, received).await {
                Some((j, j_url, stream, ranges)) => {
                    (source, source_url, accepts_ranges) = (j, j_url, ranges);
                    body = Coalesce::new(stream);
                }
                None => {
                    return Err(AttemptError::Failed(format!(
                        "{problem}; no upstream could resume"
                    )));
                }
            }
        }
    }

    /// Fails the attempt when no client has waited for it for [`ORPHAN_GRACE`], unless it is
    /// nearly done. The in-flight map holds one receiver; every waiting client holds another.
    fn check_waiting(
        &self,
        since: &mut Option<Instant>,
        received: u64,
    ) -> Result<(), AttemptError> {
        if self.tx.receiver_count() > 1 {
            *since = None;
            return Ok(());
        }
        let since = *since.get_or_insert_with(Instant::now);
        let nearly_done = self
            .len
            .is_some_and(|l| received.saturating_mul(100) >= l.saturating_mul(NEARLY_DONE));
        if since.elapsed() >= ORPHAN_GRACE && !nearly_done {
            return Err(AttemptError::Fatal(Failure::Upstream(
                "download cancelled: no client is waiting for it".into(),
            )));
        }
        Ok(())
    }
}

fn pending_len(sniffing: &Option<Vec<Bytes>>) -> u64 {
    sniffing.as_deref().map_or(0, batch_len)
}

fn batch_len(batch: &[Bytes]) -> u64 {
    batch.iter().map(|c| c.len() as u64).sum()
}

/// Writes the chunks held back for sniffing, refusing an HTML page; returns their length.
async fn flush(
    held: Vec<Bytes>,
    writer: &mut BodyWriter,
    publish: &(dyn Fn() + Sync),
) -> Result<u64, AttemptError> {
    let start: Vec<u8> = held
        .iter()
        .flat_map(|c| c.iter().copied())
        .take(SNIFF)
        .collect();
    if looks_like_html(&start) {
        return Err(AttemptError::Failed(
            "sent an HTML page instead of the file".into(),
        ));
    }
    publish();
    let n = batch_len(&held);
    writer.write(held).await?;
    Ok(n)
}

/// Appends a download's batches of chunks to its miss handle and publishes each one to the
/// clients tailing it as soon as it is written. The first batch is written in place, on the
/// fill's own task: it is what the clients' first bytes wait for, and handing it to another
/// thread cost two thread wake-ups on the way to them (the writer's, then the client's from
/// there), each a scheduler delay of 0.2–3 ms on a loaded machine. One write of at most
/// [`BATCH`] bytes into the page cache takes tens of microseconds. The batches after it go to a
/// blocking thread (one vectored write each, [`Miss::write_chunks`]), so the network reads never
/// wait for the disk; that thread is started only after the clients had their turn to send the
/// first bytes. The in-place digests ([`Inline`]: every digest of a small body) are
/// computed on that thread too, after each chunk is published (the first batch's included):
/// neither the network task nor the clients (which may share a worker thread with it) wait for
/// them.
struct BodyWriter {
    state: Writer,
    tx: watch::Sender<FillStatus>,
}

enum Writer {
    /// Nothing written yet: the handle, the digest follower's feed and the in-place digests.
    Idle(Box<dyn Miss>, Option<hashing::Feed>, Inline),
    /// The blocking thread owns them; each batch comes with whether it is already written.
    Running {
        chunks: mpsc::Sender<(Vec<Bytes>, bool)>,
        done: tokio::task::JoinHandle<std::io::Result<(Box<dyn Miss>, Inline)>>,
    },
    /// The first write failed (its error, until [`BodyWriter::finish`] reports it): no
    /// further write may land.
    Failed(Option<std::io::Error>),
}

impl BodyWriter {
    /// Batches (of up to [`BATCH`] bytes) queued before the download waits for the disk.
    const QUEUE: usize = 4;

    /// Also hands each chunk, once written, to a digest [`Follower`] (`feed`, dropped at the
    /// end).
    fn start(
        miss: Box<dyn Miss>,
        tx: watch::Sender<FillStatus>,
        feed: Option<hashing::Feed>,
        digests: Inline,
    ) -> BodyWriter {
        BodyWriter {
            state: Writer::Idle(miss, feed, digests),
            tx,
        }
    }

    async fn write(&mut self, batch: Vec<Bytes>) -> std::io::Result<()> {
        match std::mem::replace(&mut self.state, Writer::Failed(None)) {
            // At most a batch in place (the S3 store's `write` blocks on the upload only once a
            // part of 8 MiB is pending, never for a first batch); a larger one, from an
            // upstream sending huge chunks, goes to the thread like the rest.
            Writer::Idle(miss, feed, digests) if batch_len(&batch) > BATCH as u64 => {
                self.state = Self::spawn(miss, self.tx.clone(), feed, digests, 0);
                self.queue(batch, false).await
            }
            Writer::Idle(mut miss, feed, digests) => {
                if let Err(e) = miss.write_chunks(&batch) {
                    let copy = std::io::Error::new(e.kind(), e.to_string());
                    self.state = Writer::Failed(Some(e));
                    return Err(copy);
                }
                let written = batch_len(&batch);
                self.tx.send_modify(|s| s.written = written);
                // The clients just woken (often on this worker thread) send the head and these
                // bytes now, rather than after this task's next network read, and before the
                // writer thread is woken: it would compete for a core with them (and with the
                // client that receives them) while it hashes this batch.
                tokio::task::yield_now().await;
                self.state = Self::spawn(miss, self.tx.clone(), feed, digests, written);
                self.queue(batch, true).await
            }
            other => {
                self.state = other;
                self.queue(batch, false).await
            }
        }
    }

    /// The blocking thread that writes the batches after the first (`written` bytes so far).
    fn spawn(
        mut miss: Box<dyn Miss>,
        tx: watch::Sender<FillStatus>,
        feed: Option<hashing::Feed>,
        mut digests: Inline,
        mut written: u64,
    ) -> Writer {
        let (chunks, mut rx) = mpsc::channel::<(Vec<Bytes>, bool)>(Self::QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            while let Some((batch, already)) = rx.blocking_recv() {
                if !already {
                    miss.write_chunks(&batch)?;
                    written += batch_len(&batch);
                    tx.send_modify(|s| s.written = written);
                }
                for chunk in &batch {
                    digests.update(chunk);
                }
                if let Some(feed) = &feed {
                    feed.send(batch);
                }
            }
            Ok((miss, digests))
        });
        Writer::Running { chunks, done }
    }

    async fn queue(&mut self, batch: Vec<Bytes>, written: bool) -> std::io::Result<()> {
        let Writer::Running { chunks, .. } = &self.state else {
            return Err(std::io::Error::other("the staging writer stopped"));
        };
        chunks
            .send((batch, written))
            .await
            .map_err(|_| std::io::Error::other("the staging writer stopped"))
    }

    /// Waits until every chunk handed over is written and gives the miss handle and the
    /// in-place digests back; the writer's own error, if it failed.
    async fn finish(self) -> std::io::Result<(Box<dyn Miss>, Inline)> {
        match self.state {
            Writer::Idle(miss, _, digests) => Ok((miss, digests)),
            Writer::Running { chunks, done } => {
                drop(chunks);
                done.await.map_err(std::io::Error::other)?
            }
            Writer::Failed(e) => {
                Err(e.unwrap_or_else(|| std::io::Error::other("the staging write failed")))
            }
        }
    }
}

/// Continues a transfer at byte `from`: the same upstream with `Range` if it accepts ranges,
/// then the other upstreams (a 206 continues, a 200 is read past the bytes already written).
async fn resume(
    repo: &Repository,
    res: &Resource,
    source: usize,
    source_url: &Url,
    accepts_ranges: bool,
    from: u64,
) -> Option<(usize, Url, ByteStream, bool)> {
    let mut order: Vec<(usize, Url)> = Vec::new();
    if accepts_ranges {
        order.push((source, source_url.clone()));
    }
    order.extend(
        repo.targets(res)
            .into_iter()
            .filter(|(j, _)| *j != source && !repo.lacks(res, *j)),
    );
    if !accepts_ranges {
        order.push((source, source_url.clone()));
    }
    for (j, url) in order {
        let request = repo.upstreams[j]
            .request(Method::GET, url.clone())
            .header(header::RANGE, format!("bytes={from}-"));
        let Verdict::Found(resp) = repo.ask(j, request, res.reject_html).await.1 else {
            continue;
        };
        let ranges = resp
            .headers()
            .get(header::ACCEPT_RANGES)
            .is_some_and(|v| v.as_bytes() == b"bytes");
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let starts_at = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if starts_at == Some(from) {
                    return Some((j, url, Box::pin(resp.bytes_stream()), true));
                }
            }
            StatusCode::OK => {
                return Some((
                    j,
                    url,
                    skip_prefix(Box::pin(resp.bytes_stream()), from),
                    ranges,
                ));
            }
            _ => {}
        }
    }
    None
}

/// Drops the first `n` bytes of a stream, yielding an empty chunk per dropped chunk so that
/// the idle timer keeps seeing progress.
fn skip_prefix(inner: ByteStream, n: u64) -> ByteStream {
    Box::pin(stream::unfold((inner, n), |(mut inner, n)| async move {
        match inner.next().await? {
            Ok(mut chunk) if n > 0 => {
                let drop = (chunk.len() as u64).min(n);
                let rest = chunk.split_off(drop as usize);
                Some((Ok(rest), (inner, n - drop)))
            }
            item => Some((item, (inner, n))),
        }
    }))
}

/// Bytes a download hands to the writer and the digest threads at once, at most.
const BATCH: usize = 256 * 1024;
/// Chunks in one batch, at most (well below `IOV_MAX`, 1024 on Linux).
const PIECES: usize = 256;

/// Gathers the chunks a body stream has ready into batches of up to [`BATCH`] bytes, without
/// copying them: the writer writes a batch with one vectored write and the digests read the
/// chunks where they are.
///
/// The upstream client yields chunks of 8–16 KiB; each one handed on costs a wake-up of the
/// writer thread, of every digest thread and of the clients tailing the fill, which bounded a
/// 1 GB miss at a fraction of the upstream's speed. What is ready is yielded as soon as the
/// stream would wait, so a slow upstream's bytes are not held back; an error is yielded after
/// the bytes that came before it; an empty chunk (from [`skip_prefix`]) passes as an empty batch
/// when nothing is gathered, so the idle timer still sees it.
struct Coalesce<S: Stream> {
    inner: S,
    /// An item that did not fit in the last batch, or an error that came after its bytes.
    held: Option<S::Item>,
    done: bool,
}

impl<S: Stream + Unpin> Coalesce<S> {
    fn new(inner: S) -> Coalesce<S> {
        Coalesce {
            inner,
            held: None,
            done: false,
        }
    }
}

impl<S, E> Stream for Coalesce<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Unpin,
{
    type Item = Result<Vec<Bytes>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut batch: Vec<Bytes> = Vec::new();
        let mut size = 0;
        while size < BATCH && batch.len() < PIECES {
            let item = match this.held.take() {
                Some(item) => item,
                None if this.done => break,
                None => match Pin::new(&mut this.inner).poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => {
                        this.done = true;
                        break;
                    }
                    Poll::Ready(Some(item)) => item,
                },
            };
            match item {
                Ok(chunk) if batch.is_empty() && chunk.is_empty() => {
                    return Poll::Ready(Some(Ok(vec![chunk])));
                }
                Ok(chunk) if chunk.is_empty() => {}
                Ok(chunk) if batch.is_empty() || size + chunk.len() <= BATCH => {
                    size += chunk.len();
                    batch.push(chunk);
                }
                Err(e) if batch.is_empty() => return Poll::Ready(Some(Err(e))),
                item => {
                    this.held = Some(item);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            return Poll::Ready(Some(Ok(batch)));
        }
        if this.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl Repository {
    /// Commits a small body made or fetched in memory.
    pub async fn store_bytes(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        upstream: &str,
        url: &str,
    ) -> std::io::Result<Entry> {
        self.store_bytes_with(
            key,
            body,
            content_type,
            upstream,
            url,
            serde_json::Value::Null,
        )
        .await
    }

    /// [`Repository::store_bytes`] with ecosystem data in the metadata.
    pub async fn store_bytes_with(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        upstream: &str,
        url: &str,
        extra: serde_json::Value,
    ) -> std::io::Result<Entry> {
        let mut miss = self.services.store.begin(key).await?;
        let chunk = body.clone();
        let miss = tokio::task::spawn_blocking(move || miss.write(&chunk).map(|()| miss))
            .await
            .map_err(std::io::Error::other)??;
        let meta = Meta {
            len: body.len() as u64,
            content_type: content_type.map(str::to_owned),
            digests: Digests {
                sha256: hex::encode(Sha256::digest(&body)),
                sha1: Some(hex::encode(Sha1::digest(&body))),
                md5: Some(hex::encode(Md5::digest(&body))),
                sha512: None,
            },
            upstream: upstream.to_owned(),
            url: url.to_owned(),
            upstream_etag: None,
            upstream_last_modified: None,
            fetched_at: now_secs(),
            verification: Verification::Derived,
            extra,
        };
        miss.finish(meta.clone()).await?;
        self.services.metrics.cache_grew(body.len() as u64);
        Ok(Entry {
            meta: Arc::new(meta),
            body: Body::Bytes(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_files_in_both_spellings() {
        let hex = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(parse_sha1_file(hex.as_bytes()).as_deref(), Some(hex));
        assert_eq!(
            parse_sha1_file(format!("{}  abc.jar\n", hex.to_uppercase()).as_bytes()).as_deref(),
            Some(hex)
        );
        assert_eq!(
            parse_sha1_file(format!("SHA1(abc.jar)= {hex}\n").as_bytes()).as_deref(),
            Some(hex)
        );
        assert_eq!(parse_sha1_file(b"<html>not found</html>"), None);
    }

    /// An upstream on 127.0.0.1 serving `body` at every path, with its `Content-Length`.
    async fn upstream(body: Bytes) -> Url {
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move { body }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A filesystem store whose staged bodies cannot be read back (a disk error after the
    /// write), so that the digests computed from the staged file fail.
    struct UnreadableStaging(crate::store::FsStore);

    #[derive(Debug)]
    struct Unreadable;

    impl crate::store::RangeRead for Unreadable {
        fn read(
            &self,
            _: u64,
            _: usize,
        ) -> futures_util::future::BoxFuture<'static, std::io::Result<Bytes>> {
            Box::pin(async { Err(std::io::Error::other("injected read error")) })
        }
    }

    struct UnreadableMiss(Box<dyn Miss>);

    impl Miss for UnreadableMiss {
        fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
            self.0.write(chunk)
        }
        fn tail(&self) -> std::io::Result<Body> {
            Ok(Body::Ranged(Arc::new(Unreadable)))
        }
        fn finish(
            self: Box<Self>,
            meta: Meta,
        ) -> futures_util::future::BoxFuture<'static, std::io::Result<Entry>> {
            self.0.finish(meta)
        }
    }

    impl crate::store::Store for UnreadableStaging {
        fn get<'a>(
            &'a self,
            key: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<Option<Entry>>> {
            self.0.get(key)
        }
        fn head<'a>(
            &'a self,
            key: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<Option<Arc<Meta>>>> {
            self.0.head(key)
        }
        fn begin<'a>(
            &'a self,
            key: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<Box<dyn Miss>>> {
            Box::pin(async move {
                let miss = self.0.begin(key).await?;
                Ok(Box::new(UnreadableMiss(miss)) as Box<dyn Miss>)
            })
        }
        fn list<'a>(
            &'a self,
            prefix: &'a str,
        ) -> futures_util::stream::BoxStream<'a, std::io::Result<crate::store::Listed>> {
            self.0.list(prefix)
        }
        fn delete<'a>(
            &'a self,
            key: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<Option<u64>>> {
            self.0.delete(key)
        }
        fn purge<'a>(
            &'a self,
            prefix: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<crate::store::Purged>> {
            self.0.purge(prefix)
        }
        fn usage(&self) -> futures_util::future::BoxFuture<'_, std::io::Result<u64>> {
            self.0.usage()
        }
        fn clean_staging(&self, max_age: Duration) -> usize {
            self.0.clean_staging(max_age)
        }
        fn has_room(&self) -> bool {
            true
        }
    }

    /// A Maven repository named `maven` with one upstream `a` at `url`, over `store`.
    fn maven_over(
        url: &Url,
        store: Arc<dyn crate::store::Store>,
        dir: &std::path::Path,
    ) -> Arc<Repository> {
        use crate::config::{Kind, RepositoryConfig, UpstreamConfig};
        let services = crate::repository::Services::for_tests(store, dir);
        let config = RepositoryConfig {
            upstreams: vec![UpstreamConfig::new("a", url.clone())],
            ..RepositoryConfig::new(Kind::Maven)
        };
        Arc::new(Repository::new("maven", config, services, None).unwrap())
    }

    /// The store is looked at again beside the first upstream request (a fill that finished
    /// just before this one started may have committed the entry): when the entry is there, it
    /// is the outcome, not the upstream's answer, and no staged file is left behind.
    #[tokio::test]
    async fn an_entry_committed_before_the_fill_started_is_its_outcome() {
        use crate::store::{FsStore, Store};

        let url = upstream(Bytes::from_static(b"the upstream's bytes")).await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
        let repo = maven_over(&url, store.clone(), dir.path());
        let path = crate::path::RepoPath::parse("org/x/a/1.0/a-1.0.jar").unwrap();
        let res = Resource::new(&repo, path);
        let committed = Bytes::from_static(b"the committed bytes");
        repo.store_bytes(&res.key, committed.clone(), None, "a", url.as_str())
            .await
            .unwrap();
        // As if the request had looked before the commit: the fill starts all the same.
        let outcome = Repository::outcome(repo.start_fill(res.clone(), None)).await;
        let Ok(Done::Stored(entry)) = outcome else {
            panic!("the fill did not end with an entry: {outcome:?}");
        };
        assert_eq!(entry.bytes().await.unwrap(), committed);
        let stored = store.get(&res.key).await.unwrap().unwrap();
        assert_eq!(stored.bytes().await.unwrap(), committed);
        let staged = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert_eq!(staged, 0, "no staged file is left behind");
    }

    /// A large Maven jar whose upstream has no `.sha1` for it: its SHA-1, computed while it
    /// streams, is only recorded (the clients get the last byte without waiting for it), and
    /// the entry is committed with every digest right and "no checksum available".
    #[tokio::test]
    async fn a_large_jar_without_a_published_checksum_records_its_sha1() {
        use crate::store::{FsStore, Store};

        let body: Bytes = (0..hashing::LATE_FROM as u32 + 54_321)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into();
        let served = body.clone();
        let app = axum::Router::new().fallback(move |uri: http::Uri| {
            let body = served.clone();
            async move {
                match uri.path().ends_with(".sha1") {
                    true => (StatusCode::NOT_FOUND, Bytes::new()),
                    false => (StatusCode::OK, body),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
        let repo = maven_over(&url, store.clone(), dir.path());
        let path = crate::path::RepoPath::parse("org/x/big/1.0/big-1.0.jar").unwrap();
        let mut res = Resource::new(&repo, path);
        res.checksums = true;
        res.verify = Verify::Sidecar;
        let (entry, _) = repo.entry(&res).await.unwrap();
        assert_eq!(entry.meta.verification, Verification::Unavailable);
        let committed = store.get(&res.key).await.unwrap().unwrap();
        let d = &committed.meta.digests;
        assert_eq!(d.sha1, Some(hex::encode(Sha1::digest(&body))));
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&body)));
        assert_eq!(d.md5, Some(hex::encode(Md5::digest(&body))));
        assert_eq!(committed.bytes().await.unwrap(), body);
    }

    /// A large body without a published checksum: its digests are computed from the staged
    /// file after the download; when that fails, nothing is committed and no staged file stays.
    /// With the same store reading normally, the entry is committed with every digest.
    #[tokio::test]
    async fn a_failed_late_digest_pass_commits_nothing() {
        use crate::store::{FsStore, Store};

        let body: Bytes = (0..hashing::LATE_FROM as u32 + 12_345)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>()
            .into();
        let url = upstream(body.clone()).await;
        for unreadable in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let fs = FsStore::open(dir.path()).unwrap();
            let store: Arc<dyn Store> = if unreadable {
                Arc::new(UnreadableStaging(fs))
            } else {
                Arc::new(fs)
            };
            let repo = maven_over(&url, store.clone(), dir.path());
            let path = crate::path::RepoPath::parse("org/x/big/1.0/big-1.0.bin").unwrap();
            let mut res = Resource::new(&repo, path);
            res.checksums = true;
            let outcome = repo.entry(&res).await;
            let staged = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
            assert_eq!(staged, 0, "no staged file is left behind");
            if unreadable {
                assert!(outcome.is_err(), "the fill fails");
                assert!(store.get(&res.key).await.unwrap().is_none(), "no entry");
                continue;
            }
            let (entry, _) = outcome.unwrap();
            let committed = store.get(&res.key).await.unwrap().unwrap();
            assert_eq!(committed.meta, entry.meta);
            let d = &committed.meta.digests;
            assert_eq!(d.sha256, hex::encode(Sha256::digest(&body)));
            assert_eq!(d.sha1, Some(hex::encode(Sha1::digest(&body))));
            assert_eq!(d.md5, Some(hex::encode(Md5::digest(&body))));
            assert_eq!(committed.bytes().await.unwrap(), body);
        }
    }

    /// The first batch is written in place: its bytes are in the staged file and published
    /// when `write` returns (the clients' first bytes never wait for the writer thread); the
    /// batches after it go through the thread; the digests, in place and the follower's,
    /// cover every byte once, the first batch's included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_batch_is_written_in_place_and_hashed_once() {
        use crate::store::{FsStore, Store};
        use std::io::Read;

        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let miss = store.begin("maven/x/a.jar").await.unwrap();
        let reader = miss.tail().unwrap();
        let (tx, rx) = watch::channel(FillStatus::default());
        let (follower, feed) = Follower::start(Algorithm::Sha1);
        let mut writer = BodyWriter::start(miss, tx, Some(feed), Inline::new(&[Algorithm::Sha256]));
        let first = vec![
            Bytes::from(vec![1u8; 70_000]),
            Bytes::from(vec![2u8; 30_000]),
        ];
        writer.write(first).await.unwrap();
        assert_eq!(rx.borrow().written, 100_000, "published when write returns");
        let mut staged = Vec::new();
        reader
            .blocking_reader(100_000)
            .read_to_end(&mut staged)
            .unwrap();
        assert_eq!(
            staged.len(),
            100_000,
            "in the staged file when write returns"
        );
        for i in 3..10u8 {
            writer
                .write(vec![Bytes::from(vec![i; 50_000])])
                .await
                .unwrap();
        }
        let (_miss, inline) = writer.finish().await.unwrap();
        let mut all = vec![1u8; 70_000];
        all.extend(vec![2u8; 30_000]);
        for i in 3..10u8 {
            all.extend(vec![i; 50_000]);
        }
        assert_eq!(rx.borrow().written, all.len() as u64);
        let mut digests = Digests::default();
        inline.finish(&mut digests);
        follower
            .finish(all.len() as u64, &mut digests)
            .await
            .unwrap();
        assert_eq!(digests.sha256, hex::encode(Sha256::digest(&all)));
        assert_eq!(digests.sha1, Some(hex::encode(Sha1::digest(&all))));
        let mut staged = Vec::new();
        reader
            .blocking_reader(all.len() as u64)
            .read_to_end(&mut staged)
            .unwrap();
        assert_eq!(staged, all);
    }

    type Item = Result<Bytes, &'static str>;

    async fn collect(items: Vec<Poll<Option<Item>>>) -> Vec<Result<Bytes, &'static str>> {
        let mut items = items.into_iter();
        let inner = stream::poll_fn(move |cx| match items.next() {
            Some(Poll::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(ready) => ready,
            None => Poll::Ready(None),
        });
        let batches: Vec<Result<Vec<Bytes>, &'static str>> =
            Coalesce::new(Box::pin(inner)).collect().await;
        // Each batch as the bytes it stands for, joined here (the fill writes them vectored).
        batches
            .into_iter()
            .map(|b| b.map(|chunks| chunks.concat().into()))
            .collect()
    }

    fn chunk(n: usize, byte: u8) -> Poll<Option<Item>> {
        Poll::Ready(Some(Ok(Bytes::from(vec![byte; n]))))
    }

    #[tokio::test]
    async fn ready_chunks_are_joined_up_to_a_batch_and_keep_their_bytes() {
        let small: Vec<_> = (0..100u8).map(|i| chunk(10_000, i)).collect();
        let out = collect(small).await;
        let lens: Vec<usize> = out.iter().map(|c| c.as_ref().unwrap().len()).collect();
        assert_eq!(lens, [260_000, 260_000, 260_000, 220_000]);
        let joined: Vec<u8> = out.iter().flat_map(|c| c.clone().unwrap()).collect();
        let want: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 10_000]).collect();
        assert_eq!(joined, want);
    }

    #[tokio::test]
    async fn what_is_ready_goes_on_when_the_stream_waits() {
        let items = vec![chunk(5, 1), chunk(5, 2), Poll::Pending, chunk(5, 3)];
        let lens: Vec<usize> = collect(items)
            .await
            .iter()
            .map(|c| c.as_ref().unwrap().len())
            .collect();
        assert_eq!(lens, [10, 5]);
    }

    #[tokio::test]
    async fn an_error_comes_after_the_bytes_before_it_and_empty_chunks_pass() {
        let items = vec![
            chunk(0, 0),
            chunk(7, 1),
            Poll::Ready(Some(Err("cut"))),
            chunk(BATCH + 1, 2),
        ];
        let out = collect(items).await;
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().len(), 0);
        assert_eq!(out[1].as_ref().unwrap().len(), 7);
        assert_eq!(out[2], Err("cut"));
        assert_eq!(out[3].as_ref().unwrap().len(), BATCH + 1);
    }
}
