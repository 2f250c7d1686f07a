//! A repository: the upstream strategy shared by every ecosystem.
//!
//! An ecosystem turns a request into a [`Resource`] (cache key, upstream path, mutability,
//! how to verify it) and calls [`Repository::serve`], which follows the "succeed fast or fail
//! fast" strategy of the original Repox:
//!
//! - a cached immutable file, or a mutable one still fresh, is answered from the store with no
//!   upstream request;
//! - a stale mutable file is revalidated with a conditional request, and served stale when the
//!   upstream fails;
//! - a first HEAD goes to every upstream at once and the first 2xx wins;
//! - a first GET joins the fill already running for that key, or starts one (see `fill.rs`):
//!   upstreams known to lack the path are skipped, the best tier is raced, the next tier is
//!   tried when a whole tier fails, and 404 is answered only when every upstream said 404.
//!
//! Whether a cached copy may be served is decided once, by [`Repository::freshness`]
//! ([`Freshness`]); how the cache took part in an answer is an [`Outcome`], attached to the
//! response with [`tagged`] for the log, the metrics and `X-Repox-Cache`. Work for one key runs
//! once at a time: downloads through the fills' flights, documents derived from cached bodies
//! through [`Repository::coalesce`] (both in `flight.rs`).
//!
//! This file is the door: [`Repository::serve`] and [`Repository::entry`] read top to bottom
//! (store lookup, freshness, revalidation, fill, response). The two halves of the upstream side
//! live beside it: `race.rs` asks upstreams (HEAD races, tiers, failures to 404/502/504) and
//! [`fill`] runs one download into the store's miss handle.

pub mod fill;
pub(crate) mod race;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use globset::{Glob, GlobSet, GlobSetBuilder};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio::sync::watch;
use url::Url;

use crate::config::RepositoryConfig;
use crate::edge::zerocopy::ZeroCopy;
use crate::error::Failure;
use crate::flight::{Derived, Flights, Joined};
use crate::metrics::Metrics;
use crate::negative::NegativeCache;
use crate::path::RepoPath;
use crate::respond::{self, CacheControl, Presentation};
use crate::store::{Entry, Meta, Store, now_secs};
use crate::upstream::{Upstream, UpstreamSetupError};
use fill::{Done, FillStatus, StreamHead};

/// What all repositories of one server share.
pub struct Services {
    /// Committed entries.
    pub store: Arc<dyn Store>,
    /// Upstream 404 memory.
    pub negative: NegativeCache,
    /// Counters.
    pub metrics: Metrics,
    /// What the dashboard shows.
    pub stats: crate::stats::Stats,
    /// Documents derived from upstream bodies, under `[server] memory_budget`.
    pub memos: crate::memo::Memos,
    /// Serve only what is cached.
    pub offline: bool,
    /// Clients must log in (`[auth] anonymous = "none"`): cargo's `config.json` says so.
    pub auth_required: bool,
    /// Advisories imported with `repox advisories import`, kept current (`policy/advisories.rs`).
    pub advisories: crate::policy::advisories::Book,
}

#[cfg(test)]
impl Services {
    /// Services over `store` for unit tests: the negative cache in `dir`, a 1 MiB memory
    /// budget, online, no login required.
    pub(crate) fn for_tests(store: Arc<dyn Store>, dir: &std::path::Path) -> Arc<Services> {
        Arc::new(Services {
            store,
            negative: NegativeCache::open(dir),
            metrics: Default::default(),
            stats: Default::default(),
            memos: crate::memo::Memos::new(1 << 20),
            offline: false,
            auth_required: false,
            advisories: Default::default(),
        })
    }
}

/// One configured repository with its upstream clients and in-flight fills.
pub struct Repository {
    /// The name, also the URL prefix.
    pub name: String,
    /// Its configuration.
    pub config: RepositoryConfig,
    /// Enabled upstreams, stably sorted by priority.
    pub upstreams: Vec<Upstream>,
    /// Shared services.
    pub services: Arc<Services>,
    /// Deny rules, release cooldown (`policy/`).
    pub policy: crate::policy::Policy,
    block: GlobSet,
    /// Downloads running, by key.
    pub(crate) fills: Arc<Flights<FillStatus>>,
    fresh: Mutex<HashMap<String, Instant>>,
    /// Derived documents being made, by key.
    derived: Arc<Flights<Derived>>,
    /// The counters its answers count into (`tally.rs`).
    pub(crate) tally: crate::tally::Tally,
}

/// How a resource may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Never changes once published: cached forever.
    Immutable,
    /// Revalidated upstream after this long.
    Mutable(Duration),
}

/// Whether the store's copy of a resource may be served without asking an upstream: decided in
/// one place, [`Repository::freshness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Revalidate it first (serve it if every upstream fails).
    Stale,
    /// Not in the store.
    Missing,
}

/// What a fetched body is checked against before it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Nothing to check against.
    None,
    /// The upstream's `X-Checksum-SHA1` header, else its `<url>.sha1` file (Maven).
    Sidecar,
    /// A known SHA-256 (hex).
    Sha256(String),
    /// A known SHA-1 (hex).
    Sha1(String),
    /// A known SHA-512 (hex).
    Sha512(String),
    /// The SHA-256 `cksum` of a cargo index entry (hex).
    Cksum(String),
}

/// A thing to serve: where it is cached, where upstreams have it, and how it behaves.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Store key, `REPO/...`.
    pub key: String,
    /// Path below each upstream's base URL.
    pub path: RepoPath,
    /// Mutability.
    pub class: Class,
    /// Verification before commit.
    pub verify: Verify,
    /// Treat a 2xx HTML page as "not there" (mirrors answering missing files with an index).
    pub reject_html: bool,
    /// Compute SHA-1 and MD5 and send them as `X-Checksum-*` headers.
    pub checksums: bool,
    /// `Accept` to send upstream.
    pub accept: Option<HeaderValue>,
    /// Explicit (upstream index, URL) pairs, when the URL is not `base + path`.
    pub targets: Option<Vec<(usize, Url)>>,
}

impl Resource {
    /// An immutable resource at `path` of `repo`, cached under the same path.
    pub fn new(repo: &Repository, path: RepoPath) -> Resource {
        Resource {
            key: [repo.name.as_str(), path.as_str()].join("/"),
            path,
            class: Class::Immutable,
            verify: Verify::None,
            reject_html: false,
            checksums: false,
            accept: None,
            targets: None,
        }
    }
}

/// How the cache took part in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Served from the store, no upstream asked.
    Hit,
    /// Fetched from an upstream (or failed to be).
    Miss,
    /// A stale entry the upstream confirmed (304).
    Revalidated,
    /// A stale entry served because every upstream failed.
    Stale,
    /// Refused by a `block` rule.
    Blocked,
    /// Passed through without being cached (disk full).
    Uncached,
    /// Not a cacheable resource: forwarded upstream as is (npm audit and search, cargo's API).
    Pass,
}

impl Outcome {
    /// The name in the request log, the metrics and `X-Repox-Cache`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Revalidated => "revalidated",
            Outcome::Stale => "stale",
            Outcome::Blocked => "blocked",
            Outcome::Uncached => "uncached",
            Outcome::Pass => "pass",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a response was produced, for the request log and metrics.
#[derive(Debug, Clone)]
pub struct Served {
    /// The cache's part in it.
    pub cache: Outcome,
    upstream: Option<Supplier>,
}

/// Who supplied a response's bytes: a hit names its entry's upstream without copying the name.
#[derive(Debug, Clone)]
enum Supplier {
    Named(String),
    Entry(Arc<Meta>),
}

impl Served {
    /// The upstream that supplied the bytes, if any.
    pub fn upstream(&self) -> Option<&str> {
        match &self.upstream {
            None => None,
            Some(Supplier::Named(name)) => Some(name),
            Some(Supplier::Entry(meta)) => Some(&meta.upstream),
        }
    }
}

/// What the server learns from a response besides its head and body, as the response's one
/// extension: each extension type of a response is an allocation of its own on every hit (and
/// the first one three). The envelope takes [`Served`], the edge [`ZeroCopy`].
#[derive(Clone, Default)]
pub(crate) struct Notes {
    pub(crate) served: Option<Served>,
    pub(crate) zero_copy: Option<ZeroCopy>,
}

/// The [`Notes`] of `resp`, made empty when it has none yet.
pub(crate) fn notes(resp: &mut Response) -> &mut Notes {
    resp.extensions_mut().get_or_insert_default::<Notes>()
}

/// The [`Served`] attached to `resp`, if any.
pub fn served(resp: &Response) -> Option<&Served> {
    resp.extensions().get::<Notes>()?.served.as_ref()
}

/// Attaches [`Served`] to a response.
pub fn tagged(resp: Response, cache: Outcome, upstream: Option<String>) -> Response {
    tag(resp, cache, upstream.map(Supplier::Named))
}

/// Attaches [`Served`] to a response made from a stored entry, whose upstream it names.
fn tagged_entry(resp: Response, cache: Outcome, meta: Arc<Meta>) -> Response {
    tag(resp, cache, Some(Supplier::Entry(meta)))
}

fn tag(mut resp: Response, cache: Outcome, upstream: Option<Supplier>) -> Response {
    notes(&mut resp).served = Some(Served { cache, upstream });
    resp
}

impl Repository {
    /// Builds a repository and its upstream clients, which trust `server_ca` (the server's
    /// `[server] ca_certificates`, resolved) beside their own CA files.
    pub fn new(
        name: &str,
        config: RepositoryConfig,
        services: Arc<Services>,
        server_ca: Option<&std::path::Path>,
    ) -> Result<Repository, UpstreamSetupError> {
        let mut upstreams = config
            .upstreams
            .iter()
            .filter(|u| u.enabled)
            .map(|u| Upstream::new(u, server_ca))
            .collect::<Result<Vec<_>, _>>()?;
        upstreams.sort_by_key(|u| u.priority);
        let mut block = GlobSetBuilder::new();
        for pattern in &config.block {
            // Patterns were checked when the config was loaded.
            if let Ok(glob) = Glob::new(pattern) {
                block.add(glob);
            }
        }
        Ok(Repository {
            name: name.to_owned(),
            tally: crate::tally::Tally::new(&services, name),
            policy: crate::policy::Policy::new(&config)
                .with_advisories(services.advisories.malicious(config.kind)),
            config,
            upstreams,
            services,
            block: block.build().unwrap_or_else(|_| GlobSet::empty()),
            fills: Arc::default(),
            fresh: Mutex::default(),
            derived: Arc::default(),
        })
    }

    /// Serves a resource for GET or HEAD following the upstream strategy.
    pub async fn serve(
        self: &Arc<Self>,
        res: Resource,
        method: &Method,
        req: &HeaderMap,
    ) -> Response {
        let cached = self.cached(&res).await;
        // One look at the freshness records per hit: the same answer gives `Cache-Control`.
        let (freshness, fresh_for) = self.freshness_for(&res, cached.as_ref());
        if freshness != Freshness::Fresh
            && let Err(e) = Box::pin(self.check_path(&res)).await
        {
            return tagged(e.into_response(), Outcome::Miss, None);
        }
        let offline = self.services.offline;
        match (freshness, cached) {
            // The branches of a miss are boxed: inline they would make this future (built and
            // moved on every hit) as large as the largest of them.
            (Freshness::Stale, Some(entry)) if !offline => {
                Box::pin(self.revalidate(res, entry, method, req)).await
            }
            (_, Some(entry)) => {
                let pres = Self::presentation_of(&res, fresh_for);
                let resp = respond::entry_response(method, req, &entry, pres);
                tagged_entry(resp, Outcome::Hit, entry.meta)
            }
            (_, None) if offline => {
                let resp = Failure::Offline.into_response();
                tagged(resp, Outcome::Miss, None)
            }
            (_, None) if method == Method::HEAD => match self.head_from_fill(&res) {
                Some(resp) => resp,
                None => Box::pin(self.race_head(&res)).await,
            },
            (_, None) if !self.services.store.has_room() => Box::pin(self.pass_through(&res)).await,
            (_, None) => {
                let rx = self.start_fill(res.clone(), None);
                Box::pin(self.respond_to_fill(rx, &res, method, req)).await
            }
        }
    }

    /// The committed entry for a resource, fetched or revalidated as needed, for ecosystems
    /// that parse or rewrite what they serve (index pages, packuments), with how it was
    /// obtained.
    pub async fn entry(self: &Arc<Self>, res: &Resource) -> Result<(Entry, Outcome), Failure> {
        let cached = self.cached(res).await;
        let freshness = self.freshness(res, cached.as_ref());
        if freshness != Freshness::Fresh {
            self.check_path(res).await?;
        }
        let offline = self.services.offline;
        match (freshness, cached) {
            (Freshness::Stale, Some(entry)) if !offline => {
                match Self::outcome(self.start_fill(res.clone(), Some(entry.clone()))).await {
                    Ok(Done::Stored(new)) => Ok((new, Outcome::Miss)),
                    Ok(Done::NotModified) => Ok((entry, Outcome::Revalidated)),
                    Err(Failure::NotFound) => Err(Failure::NotFound),
                    Err(e) => {
                        tracing::warn!(key = %res.key, "serving stale: {e}");
                        Ok((entry, Outcome::Stale))
                    }
                }
            }
            (_, Some(entry)) => Ok((entry, Outcome::Hit)),
            (_, None) if offline => Err(Failure::Offline),
            (_, None) => match Self::outcome(self.start_fill(res.clone(), None)).await? {
                Done::Stored(entry) => Ok((entry, Outcome::Miss)),
                Done::NotModified => Err(Failure::Internal("unexpected revalidation".into())),
            },
        }
    }

    /// The store's copy of a resource; an unreadable one is a miss.
    async fn cached(&self, res: &Resource) -> Option<Entry> {
        self.services.store.get(&res.key).await.unwrap_or_else(|e| {
            tracing::warn!(key = %res.key, "cache read failed, treating as a miss: {e}");
            None
        })
    }

    /// The block rule matching `path`, if any.
    pub fn blocked(&self, path: &str) -> Option<&str> {
        self.block
            .matches(path)
            .first()
            .map(|&i| self.config.block[i].as_str())
    }

    /// (upstream index, URL) pairs for a resource, in priority order. URLs an upstream may not
    /// reach (see [`Upstream::allows`]) are left out, with a warning.
    pub fn targets(&self, res: &Resource) -> Vec<(usize, Url)> {
        let mut t: Vec<(usize, Url)> = match &res.targets {
            Some(t) => t.clone(),
            None => self
                .upstreams
                .iter()
                .enumerate()
                .filter_map(|(i, u)| Some((i, u.url_for(&res.path).ok()?)))
                .collect(),
        };
        t.retain(|(i, url)| match self.upstreams[*i].allows(url) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(key = %res.key, upstream = %self.upstreams[*i].name, "not fetching {}: {why}", crate::error::redact(url.as_str()));
                false
            }
        });
        t.sort_by_key(|(i, _)| self.upstreams[*i].priority);
        t
    }

    /// Refuses a resource whose path cannot be placed under every upstream's base URL. For
    /// explicit targets (URLs from upstream documents), makes sure each upstream knows whether
    /// it is on an internal address before [`Repository::targets`] judges them.
    ///
    /// It guards the URLs built for upstreams, so it runs before any answer that may ask one
    /// (a miss, a revalidation, a stale or offline answer), not before a fresh hit: building
    /// and checking one URL per upstream was about a tenth of a small hit's CPU time.
    async fn check_path(&self, res: &Resource) -> Result<(), Failure> {
        match &res.targets {
            None => {
                for u in &self.upstreams {
                    u.url_for(&res.path)?;
                }
            }
            Some(targets) => {
                for (i, _) in targets {
                    self.upstreams[*i].learn_reach().await;
                }
            }
        }
        Ok(())
    }

    /// True when `upstream` is known to lack the resource.
    pub fn lacks(&self, res: &Resource, upstream: usize) -> bool {
        self.services
            .negative
            .lacks(&res.key, &self.upstreams[upstream].name)
    }

    /// Remembers that `upstream` lacks the resource.
    pub fn remember_missing(&self, res: &Resource, upstream: usize) {
        let ttl = self.config.negative_ttl().as_secs();
        self.services
            .negative
            .insert(&res.key, &self.upstreams[upstream].name, ttl);
    }

    /// Records that a mutable entry was just confirmed current.
    pub fn mark_fresh(&self, key: &str) {
        self.fresh
            .lock()
            .expect("fresh lock")
            .insert(key.to_owned(), Instant::now());
    }

    /// Seconds a mutable entry stays fresh from now (0 = stale).
    pub fn fresh_for(&self, key: &str, fetched_at: u64, ttl: Duration) -> u64 {
        let age = match self.fresh.lock().expect("fresh lock").get(key) {
            Some(checked) => checked.elapsed().as_secs(),
            None => now_secs().saturating_sub(fetched_at),
        };
        ttl.as_secs().saturating_sub(age)
    }

    /// Whether `entry`, the store's copy of `res`, may be served as it is. Immutable entries
    /// are always fresh; mutable ones for their TTL since they were fetched or last confirmed.
    pub fn freshness(&self, res: &Resource, entry: Option<&Entry>) -> Freshness {
        self.freshness_for(res, entry).0
    }

    /// [`Repository::freshness`], and the seconds a mutable entry stays fresh (0 otherwise)
    /// for [`Repository::presentation_of`].
    fn freshness_for(&self, res: &Resource, entry: Option<&Entry>) -> (Freshness, u64) {
        match (entry, res.class) {
            (None, _) => (Freshness::Missing, 0),
            (Some(_), Class::Immutable) => (Freshness::Fresh, 0),
            (Some(e), Class::Mutable(ttl)) => {
                match self.fresh_for(&res.key, e.meta.fetched_at, ttl) {
                    0 => (Freshness::Stale, 0),
                    secs => (Freshness::Fresh, secs),
                }
            }
        }
    }

    /// Runs `make` for `key` unless it is already running, in which case its result is
    /// awaited instead: for ecosystems that derive documents from cached bodies (merged
    /// metadata, rendered pages, digest indexes). A caller whose leader goes away without a
    /// result (its client disconnected) takes over.
    pub async fn coalesce<T, F>(&self, key: &str, make: F) -> T
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = T>,
    {
        self.derived.coalesce(key, make).await
    }

    /// Response details for a resource.
    pub fn presentation(&self, res: &Resource, fetched_at: u64) -> Presentation {
        let fresh_for = match res.class {
            Class::Immutable => 0,
            Class::Mutable(ttl) => self.fresh_for(&res.key, fetched_at, ttl),
        };
        Self::presentation_of(res, fresh_for)
    }

    /// Response details for a resource whose mutable entry stays fresh `fresh_for` seconds.
    fn presentation_of(res: &Resource, fresh_for: u64) -> Presentation {
        let cache_control = match res.class {
            Class::Immutable => CacheControl::Immutable,
            Class::Mutable(_) => CacheControl::MaxAge(fresh_for),
        };
        Presentation {
            cache_control,
            checksum_headers: res.checksums,
        }
    }

    /// The fill for `res.key`, joined if running, else started (`stale`: revalidate that entry).
    pub(crate) fn start_fill(
        self: &Arc<Self>,
        res: Resource,
        stale: Option<Entry>,
    ) -> watch::Receiver<FillStatus> {
        match self.fills.join(&res.key) {
            Joined::Follow(rx) => rx,
            Joined::Lead(lead) => {
                let rx = lead.tx.subscribe();
                tokio::spawn(fill::run(self.clone(), res, stale, lead));
                rx
            }
        }
    }

    /// Waits for a fill's outcome (not its first bytes).
    pub(crate) async fn outcome(mut rx: watch::Receiver<FillStatus>) -> Result<Done, Failure> {
        loop {
            if let Some(done) = &rx.borrow_and_update().done {
                return done.clone();
            }
            if rx.changed().await.is_err() {
                return Err(Failure::Internal(
                    "download task ended without a result".into(),
                ));
            }
        }
    }

    async fn revalidate(
        self: &Arc<Self>,
        res: Resource,
        entry: Entry,
        method: &Method,
        req: &HeaderMap,
    ) -> Response {
        let rx = self.start_fill(res.clone(), Some(entry.clone()));
        let (entry, cache) = match Self::outcome(rx).await {
            Ok(Done::Stored(new)) => (new, Outcome::Miss),
            Ok(Done::NotModified) => (entry, Outcome::Revalidated),
            Err(Failure::NotFound) => {
                return tagged(Failure::NotFound.into_response(), Outcome::Miss, None);
            }
            Err(e) => {
                tracing::warn!(key = %res.key, "serving stale: {e}");
                (entry, Outcome::Stale)
            }
        };
        let pres = self.presentation(&res, entry.meta.fetched_at);
        tagged(
            respond::entry_response(method, req, &entry, pres),
            cache,
            Some(entry.meta.upstream.clone()),
        )
    }

    async fn respond_to_fill(
        &self,
        mut rx: watch::Receiver<FillStatus>,
        res: &Resource,
        method: &Method,
        req: &HeaderMap,
    ) -> Response {
        loop {
            let ready = {
                let st = rx.borrow_and_update();
                match (&st.done, &st.head) {
                    (Some(Ok(Done::Stored(entry))), _) => {
                        let pres = self.presentation(res, entry.meta.fetched_at);
                        let resp = respond::entry_response(method, req, entry, pres);
                        return tagged(resp, Outcome::Miss, Some(entry.meta.upstream.clone()));
                    }
                    (Some(Ok(Done::NotModified)), _) => {
                        let e = Failure::Internal("unexpected revalidation".into());
                        return tagged(e.into_response(), Outcome::Miss, None);
                    }
                    (Some(Err(e)), _) => {
                        return tagged(e.clone().into_response(), Outcome::Miss, None);
                    }
                    (None, Some(head)) => Some((head.clone(), st.attempt)),
                    (None, None) => None,
                }
            };
            if let Some((head, attempt)) = ready {
                let upstream = Some(head.upstream.clone());
                return tagged(
                    self.streaming_response(rx, &head, attempt, res, method, req),
                    Outcome::Miss,
                    upstream,
                );
            }
            if rx.changed().await.is_err() {
                return tagged(
                    Failure::Internal("download task ended".into()).into_response(),
                    Outcome::Miss,
                    None,
                );
            }
        }
    }

    fn streaming_headers(&self, head: &StreamHead, res: &Resource) -> HeaderMap {
        let mut h = HeaderMap::new();
        let ct = head
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(ct)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        if let Some(lm) = head
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(header::LAST_MODIFIED, lm);
        }
        if head.len.is_some() {
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        }
        let pres = self.presentation(res, now_secs());
        if let Ok(v) = HeaderValue::from_str(&match pres.cache_control {
            CacheControl::Immutable => "public, max-age=31536000, immutable".to_owned(),
            CacheControl::MaxAge(s) => format!("public, max-age={s}"),
        }) {
            h.insert(header::CACHE_CONTROL, v);
        }
        if res.checksums
            && let Some(sha1) = head
                .sha1
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert("x-checksum-sha1", sha1);
        }
        h
    }

    fn streaming_response(
        &self,
        rx: watch::Receiver<FillStatus>,
        head: &StreamHead,
        attempt: u32,
        res: &Resource,
        method: &Method,
        req: &HeaderMap,
    ) -> Response {
        let mut headers = self.streaming_headers(head, res);
        let (status, start, end) = match head.len {
            None => (StatusCode::OK, 0, None),
            Some(len) => match respond::resolve_range(respond::parse_range(req), len) {
                Ok(None) => (StatusCode::OK, 0, Some(len)),
                Ok(Some((s, e))) => {
                    let range = format!("bytes {}-{}/{len}", s, e - 1);
                    headers.insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&range).expect("ascii"),
                    );
                    (StatusCode::PARTIAL_CONTENT, s, Some(e))
                }
                Err(respond::Unsatisfiable) => {
                    headers.insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
                    );
                    return respond::build(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        headers,
                        Body::empty(),
                    );
                }
            },
        };
        if let Some(end) = end {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
        }
        if method == Method::HEAD {
            return respond::build(status, headers, Body::empty());
        }
        let limits = Box::pin(respond::tail_limits(rx, attempt, start, end));
        let (body, zero_copy) =
            crate::edge::zerocopy::growing_body(head.file.clone(), start, end, limits);
        let mut resp = respond::build(status, headers, body);
        // The edge may send what the fill has written with `sendfile` (`edge/zerocopy.rs`).
        if head.file.local_file().is_some() {
            notes(&mut resp).zero_copy = Some(zero_copy);
        }
        resp
    }

    fn head_from_fill(&self, res: &Resource) -> Option<Response> {
        let rx = self.fills.get(&res.key)?;
        let st = rx.borrow();
        let head = st.head.as_ref()?;
        let mut headers = self.streaming_headers(head, res);
        if let Some(len) = head.len {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let upstream = Some(head.upstream.clone());
        Some(tagged(
            respond::build(StatusCode::OK, headers, Body::empty()),
            Outcome::Miss,
            upstream,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_the_names_logs_and_metrics_use() {
        let names: Vec<&str> = [
            Outcome::Hit,
            Outcome::Miss,
            Outcome::Revalidated,
            Outcome::Stale,
            Outcome::Blocked,
            Outcome::Uncached,
            Outcome::Pass,
        ]
        .into_iter()
        .map(Outcome::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "hit",
                "miss",
                "revalidated",
                "stale",
                "blocked",
                "uncached",
                "pass"
            ]
        );
    }
}
