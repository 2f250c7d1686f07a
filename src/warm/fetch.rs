//! The downloader: GETs from repox with at most `--jobs` requests in flight, hashing the bytes as
//! they stream past and checking them against the digests the lock file gave.
//!
//! Every request a warm makes goes through here, index pages and metadata included, so each is
//! made once (requests are memoized by URL and `Accept`), counted in the summary and shown in the
//! progress display. Whether repox already had a file comes from the `x-repox-cache` response
//! header (`hit`, `miss`, `revalidated`, `stale`).
//!
//! Bodies are kept in memory only when asked for (index documents the resolver reads); package
//! files are hashed and dropped.
//!
//! A digest mismatch is an error for that file. repox verified the bytes against the index
//! before committing them (PyPI page hashes, npm `integrity`, cargo `cksum`, conda repodata,
//! Maven `.sha1`), so a mismatch means the lock file disagrees with the index; the index is what
//! the proxy trusts. When the proxy runs in-process the entry is removed again so nothing the
//! lock rejects stays cached; a separate server keeps it and the failure says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use tokio::sync::{Notify, Semaphore};
use url::Url;

use super::report::Progress;
use super::{Hash, HashAlgorithm, Origin};

/// One request to make.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub url: Url,
    /// `Accept` to send (PyPI pages and npm packuments come in several variants).
    pub accept: Option<&'static str>,
    /// Digests the body must match (one per algorithm must match; any listed value will do).
    pub expect: Vec<Hash>,
    /// What the user would call it: a file name, `npm packument lodash`.
    pub label: String,
    pub role: Role,
    /// The input line that asked for it, for messages.
    pub origin: Option<Origin>,
    /// Keep the body (small index documents the warm reads).
    pub keep_body: bool,
    /// A 404 is not a failure: the file is one some upstreams lack (`maven-metadata.xml`,
    /// `repodata.json.zst`), recorded as `absent`.
    pub optional: bool,
}

/// What a request is for, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A package file: wheel, sdist, tarball, crate, jar.
    Package,
    /// What clients read before the package: pages, packuments, repodata, POMs, checksums.
    Index,
}

impl Fetch {
    pub fn package(url: Url, label: impl Into<String>) -> Fetch {
        Fetch {
            url,
            accept: None,
            expect: Vec::new(),
            label: label.into(),
            role: Role::Package,
            origin: None,
            keep_body: false,
            optional: false,
        }
    }

    pub fn index(url: Url, label: impl Into<String>) -> Fetch {
        Fetch {
            role: Role::Index,
            ..Fetch::package(url, label)
        }
    }

    pub fn accept(mut self, accept: &'static str) -> Fetch {
        self.accept = Some(accept);
        self
    }

    pub fn expect(mut self, hashes: Vec<Hash>) -> Fetch {
        self.expect = hashes;
        self
    }

    pub fn origin(mut self, origin: Option<Origin>) -> Fetch {
        self.origin = origin;
        self
    }

    pub fn keep_body(mut self) -> Fetch {
        self.keep_body = true;
        self
    }

    pub fn optional(mut self) -> Fetch {
        self.optional = true;
        self
    }

    fn key(&self) -> (Url, Option<&'static str>) {
        (self.url.clone(), self.accept)
    }
}

/// A completed request.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `hit`, `miss`, `revalidated`, `stale`, `absent` (an optional file upstreams lack), or
    /// `?` when the server did not say.
    pub cache: String,
    pub bytes: u64,
    /// The body, when the fetch asked to keep it.
    pub body: Option<Bytes>,
}

impl Fetched {
    /// True when repox had the file before this request.
    pub fn was_cached(&self) -> bool {
        matches!(self.cache.as_str(), "hit" | "revalidated" | "stale")
    }
}

/// Why a request failed, in one line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{status}{detail}")]
    Status { status: u16, detail: String },
    #[error("{0}")]
    Transport(String),
    #[error(
        "{algorithm} of the download is {actual}, the lock file says {expected}{}",
        if *.removed { " (removed from the cache again)" } else { " (repox verified it against the index and keeps it)" }
    )]
    Mismatch {
        algorithm: HashAlgorithm,
        expected: String,
        actual: String,
        removed: bool,
    },
}

impl FetchError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, FetchError::Status { status: 404, .. })
    }
}

type Outcome = Result<Fetched, FetchError>;
type SharedOutcome = Shared<BoxFuture<'static, Outcome>>;

/// Removes a cache entry when a download fails the lock file's digest; `None` when the proxy
/// is not ours.
pub type Evict = Arc<dyn Fn(&str) -> BoxFuture<'static, bool> + Send + Sync>;

/// The shared downloader.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Server base URL, for eviction keys.
    base: Url,
    permits: Semaphore,
    progress: Arc<dyn Progress>,
    memo: Mutex<HashMap<(Url, Option<&'static str>), SharedOutcome>>,
    next_id: AtomicU64,
    evict: Option<Evict>,
    /// Requests started and not finished (prefetches nobody waits for included).
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Fetcher {
    pub fn new(
        http: reqwest::Client,
        base: Url,
        jobs: usize,
        progress: Arc<dyn Progress>,
        evict: Option<Evict>,
    ) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                http,
                base,
                permits: Semaphore::new(jobs.max(1)),
                progress,
                memo: Mutex::default(),
                next_id: AtomicU64::new(1),
                evict,
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }

    pub fn progress(&self) -> &Arc<dyn Progress> {
        &self.inner.progress
    }

    /// Makes the request (once per URL and `Accept`, however often it is asked for) and reports
    /// it. The download runs on its own task, so it completes even if the caller stops waiting.
    pub fn get(&self, fetch: Fetch) -> impl Future<Output = Outcome> + Send + 'static {
        let mut memo = self.inner.memo.lock().expect("fetch memo");
        if let Some(shared) = memo.get(&fetch.key()) {
            return shared.clone();
        }
        let inner = self.inner.clone();
        let key = fetch.key();
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let task = tokio::spawn(async move {
            let result = inner.clone().run(fetch).await;
            if inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.idle.notify_waiters();
            }
            result
        });
        let shared = async move {
            task.await
                .unwrap_or_else(|e| Err(FetchError::Transport(format!("download task: {e}"))))
        }
        .boxed()
        .shared();
        memo.insert(key, shared.clone());
        shared
    }

    /// Waits until no request is running, prefetches included: the proxy must not stop
    /// under them.
    pub async fn drain(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// `GET` of `range` (`bytes=-n` or `bytes=a-b`) of a file: its bytes (at most `max`) and the
    /// file's length, from a `206` answer. Not reported (the file itself is fetched as usual);
    /// a server that ignores `Range` is an error, before its body is read.
    pub async fn range(
        &self,
        url: &Url,
        range: &str,
        max: u64,
    ) -> Result<(Bytes, u64), FetchError> {
        let _permit = self.inner.permits.acquire().await.expect("open semaphore");
        let resp = self
            .inner
            .http
            .get(url.clone())
            .header(reqwest::header::RANGE, range)
            .send()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        let status = resp.status();
        if status != reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(FetchError::Status {
                status: status.as_u16(),
                detail: " (expected 206 Partial Content to a range request)".into(),
            });
        }
        let total = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse::<u64>().ok())
            .ok_or_else(|| FetchError::Transport("a 206 answer without Content-Range".into()))?;
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Transport(error_chain(&e)))?;
            if (body.len() + chunk.len()) as u64 > max {
                return Err(FetchError::Transport(
                    "a range answer larger than asked".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), total))
    }

    /// `HEAD`: the size and whether repox has the file, for `--dry-run`. Not reported.
    pub async fn head(&self, url: &Url) -> Result<(Option<u64>, String), FetchError> {
        let _permit = self.inner.permits.acquire().await.expect("open semaphore");
        let resp = self
            .inner
            .http
            .head(url.clone())
            .send()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                detail: format!(" {}", status.canonical_reason().unwrap_or("")),
            });
        }
        let len = resp
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Ok((len, cache_status(resp.headers())))
    }
}

impl Inner {
    async fn run(self: Arc<Self>, fetch: Fetch) -> Outcome {
        let _permit = self.permits.acquire().await.expect("open semaphore");
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.progress.started(id, &fetch);
        let result = self.download(id, &fetch).await;
        let result = match result {
            Err(FetchError::Mismatch {
                algorithm,
                expected,
                actual,
                ..
            }) => {
                let removed = self.evict(&fetch.url).await;
                Err(FetchError::Mismatch {
                    algorithm,
                    expected,
                    actual,
                    removed,
                })
            }
            Err(e) if fetch.optional && e.is_not_found() => Ok(Fetched {
                cache: "absent".to_owned(),
                bytes: 0,
                body: None,
            }),
            other => other,
        };
        self.progress.finished(id, &fetch, &result);
        result
    }

    async fn download(&self, id: u64, fetch: &Fetch) -> Outcome {
        let mut req = self.http.get(fetch.url.clone());
        if let Some(accept) = fetch.accept {
            req = req.header(reqwest::header::ACCEPT, accept);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        let status = resp.status();
        let cache = cache_status(resp.headers());
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let first = text.lines().next().unwrap_or("").trim();
            let detail = if first.is_empty() {
                format!(" {}", status.canonical_reason().unwrap_or(""))
            } else {
                format!(": {first}")
            };
            return Err(FetchError::Status {
                status: status.as_u16(),
                detail,
            });
        }
        self.progress.sized(id, resp.content_length());
        let mut hashers = Hashers::new(&fetch.expect);
        let mut body = fetch.keep_body.then(Vec::new);
        let mut bytes = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                FetchError::Transport(format!("download interrupted: {}", error_chain(&e)))
            })?;
            hashers.update(&chunk);
            if let Some(body) = &mut body {
                body.extend_from_slice(&chunk);
            }
            bytes += chunk.len() as u64;
            self.progress.advanced(id, chunk.len() as u64);
        }
        hashers.check(&fetch.expect)?;
        Ok(Fetched {
            cache,
            bytes,
            body: body.map(Bytes::from),
        })
    }

    async fn evict(&self, url: &Url) -> bool {
        let Some(evict) = &self.evict else {
            return false;
        };
        let Some(path) = super::endpoint::strip_base(&self.base, url) else {
            return false;
        };
        let key = percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned();
        evict(&key).await
    }
}

fn cache_status(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("x-repox-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned()
}

/// The error and its causes on one line (reqwest's own message is only the outermost layer).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// One running digest per algorithm the lock file names.
struct Hashers {
    running: Vec<(HashAlgorithm, Running)>,
}

enum Running {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hashers {
    fn new(expect: &[Hash]) -> Hashers {
        let mut algorithms: Vec<HashAlgorithm> = expect.iter().map(|h| h.algorithm).collect();
        algorithms.sort();
        algorithms.dedup();
        let running = algorithms
            .into_iter()
            .map(|a| {
                let r = match a {
                    HashAlgorithm::Md5 => Running::Md5(Md5::new()),
                    HashAlgorithm::Sha1 => Running::Sha1(Sha1::new()),
                    HashAlgorithm::Sha224 => Running::Sha224(Sha224::new()),
                    HashAlgorithm::Sha256 => Running::Sha256(Sha256::new()),
                    HashAlgorithm::Sha384 => Running::Sha384(Sha384::new()),
                    HashAlgorithm::Sha512 => Running::Sha512(Sha512::new()),
                };
                (a, r)
            })
            .collect();
        Hashers { running }
    }

    fn update(&mut self, chunk: &[u8]) {
        for (_, r) in &mut self.running {
            match r {
                Running::Md5(h) => h.update(chunk),
                Running::Sha1(h) => h.update(chunk),
                Running::Sha224(h) => h.update(chunk),
                Running::Sha256(h) => h.update(chunk),
                Running::Sha384(h) => h.update(chunk),
                Running::Sha512(h) => h.update(chunk),
            }
        }
    }

    /// Every algorithm must match one of the digests listed for it (pip accepts any of several
    /// `--hash` values; conda-lock lists md5 and sha256 of the same file).
    fn check(self, expect: &[Hash]) -> Result<(), FetchError> {
        for (algorithm, running) in self.running {
            let actual = match running {
                Running::Md5(h) => hex(&h.finalize()),
                Running::Sha1(h) => hex(&h.finalize()),
                Running::Sha224(h) => hex(&h.finalize()),
                Running::Sha256(h) => hex(&h.finalize()),
                Running::Sha384(h) => hex(&h.finalize()),
                Running::Sha512(h) => hex(&h.finalize()),
            };
            let listed: Vec<&str> = expect
                .iter()
                .filter(|h| h.algorithm == algorithm)
                .map(|h| h.hex.as_str())
                .collect();
            if !listed.contains(&actual.as_str()) {
                return Err(FetchError::Mismatch {
                    algorithm,
                    expected: listed.join(" or "),
                    actual,
                    removed: false,
                });
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_must_match_one_listed_digest() {
        // sha256("") and md5("").
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let h = |a, x: &str| Hash::from_hex(a, x).unwrap();
        let other = "0".repeat(64);
        let ok = vec![
            h(HashAlgorithm::Sha256, &other),
            h(HashAlgorithm::Sha256, sha),
        ];
        assert!(Hashers::new(&ok).check(&ok).is_ok());
        let both = vec![h(HashAlgorithm::Md5, md5), h(HashAlgorithm::Sha256, sha)];
        assert!(Hashers::new(&both).check(&both).is_ok());
        let bad = vec![h(HashAlgorithm::Md5, md5), h(HashAlgorithm::Sha256, &other)];
        let err = Hashers::new(&bad).check(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "sha256 of the download is {sha}, the lock file says {other} (repox verified it \
                 against the index and keeps it)"
            )
        );
    }
}
