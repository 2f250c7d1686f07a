//! What the dashboard shows (`/-/ui/`, `/-/api/stats`): per repository, requests, hits, bytes
//! served, fetched upstream and saved, with a per-minute history of the last hour; per upstream,
//! latency percentiles, error rate and the last error; and a ring of the most recent requests
//! for the live feed.
//!
//! Every request passes through here (`server.rs` `envelope`), so the hit path touches only
//! atomics and memory its own thread writes: a repository's counters are found by name once,
//! when the repository is built (`tally.rs`; the tables are lock-free snapshots, `arc-swap`,
//! that grow only when a name is seen for the first time), a repository's counters and the
//! recent-request ring are split into per-thread stripes (`metrics.rs` `Striped`) that the rare
//! reader adds up, and each slot of a ring has its own lock. What every request still writes
//! in common is the feed's sequence number. Counters live in the server's state, not the
//! process, and survive a live reconfiguration because they are keyed by name.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::Notify;

use crate::metrics::Striped;
use crate::store::now_secs;

/// Minutes of history kept for the charts.
pub const HISTORY_MINUTES: usize = 60;
/// Requests kept for the live feed.
pub const RECENT: usize = 256;
/// Upper bounds (milliseconds) of the latency histogram's buckets; the last is open.
const LATENCY_BOUNDS_MS: [u64; 16] = [
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    300,
    500,
    1000,
    2000,
    5000,
    10_000,
    30_000,
    u64::MAX,
];

/// All dashboard counters of one server.
#[derive(Default)]
pub struct Stats {
    repos: ArcSwap<BTreeMap<String, Arc<RepoCounters>>>,
    upstreams: ArcSwap<BTreeMap<(String, String), Arc<UpstreamCounters>>>,
    recent: Recent,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

/// Counters of one repository, in per-thread stripes ([`Striped`]) that [`RepoCounters::snapshot`]
/// adds up: every request of every connection counts here, and one shared set of counters was
/// a cache line the runtime's workers took turns writing.
#[derive(Default)]
pub struct RepoCounters {
    stripes: Striped<RepoStripe>,
    /// Counted on a download, not a hit: not striped.
    bytes_fetched: AtomicU64,
}

/// One thread's share of a repository's counters.
struct RepoStripe {
    requests: AtomicU64,
    hits: AtomicU64,
    errors: AtomicU64,
    bytes_served: AtomicU64,
    bytes_saved: AtomicU64,
    history: [Minute; HISTORY_MINUTES],
}

impl Default for RepoStripe {
    fn default() -> Self {
        RepoStripe {
            requests: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            bytes_served: AtomicU64::new(0),
            bytes_saved: AtomicU64::new(0),
            history: std::array::from_fn(|_| Minute::default()),
        }
    }
}

/// One minute of history; `minute` says which (minutes since the epoch), so a slot left from
/// an hour ago is recognised and restarted.
#[derive(Default)]
struct Minute {
    minute: AtomicU64,
    requests: AtomicU64,
    hits: AtomicU64,
}

/// Counters of one upstream of one repository.
#[derive(Default)]
pub struct UpstreamCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    not_found: AtomicU64,
    latency: [AtomicU64; LATENCY_BOUNDS_MS.len()],
    last_error: Mutex<Option<(String, u64)>>,
}

/// One answered request, as the live feed shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Sequence number: the feed asks for records after the last one it saw.
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// HTTP method (a standard one is copied without an allocation).
    #[serde(serialize_with = "method_name")]
    pub method: http::Method,
    /// Path, credentials redacted.
    pub path: String,
    /// Repository, `-` for none.
    pub repository: String,
    /// HTTP status.
    pub status: u16,
    /// Cache outcome (`hit`, `miss`, …, `-`).
    pub cache: &'static str,
    /// Upstream that supplied the bytes, if any.
    pub upstream: Option<String>,
    /// Milliseconds to the response headers.
    pub ms: f64,
    /// Body bytes.
    pub bytes: u64,
}

/// One answered request as the server's envelope has it (`server.rs`): borrowed, so that a
/// request copies its strings into its ring slot's record, whose buffers a later request reuses
/// in place, instead of allocating three strings and freeing the three of the record it
/// replaces.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// Unix seconds.
    pub at: u64,
    /// HTTP method.
    pub method: &'a http::Method,
    /// Path, credentials redacted.
    pub path: &'a str,
    /// Repository, `-` for none.
    pub repository: &'a str,
    /// HTTP status.
    pub status: u16,
    /// Cache outcome (`hit`, `miss`, …, `-`).
    pub cache: &'static str,
    /// Upstream that supplied the bytes, if any.
    pub upstream: Option<&'a str>,
    /// Milliseconds to the response headers.
    pub ms: f64,
    /// Body bytes.
    pub bytes: u64,
}

/// One request as its ring slot keeps it: [`RequestRecord`] with its three strings in one
/// buffer, which a later request of the slot reuses. The slot (with its lock, 128 bytes) and
/// the one buffer are what a request writes of the ring: cold lines, each written once every
/// [`RECENT`] requests of a thread, where a record with three strings of its own had five or six.
struct Kept {
    seq: u64,
    at: u64,
    ms: f64,
    bytes: u64,
    method: http::Method,
    /// The path, the repository and the upstream, one after the other.
    text: String,
    /// Where the path ends in `text`.
    path_end: usize,
    /// Where the repository ends in `text` (the upstream, if any, is the rest).
    repository_end: usize,
    cache: &'static str,
    status: u16,
    upstream: bool,
}

impl Kept {
    /// A new record of `r`, number `seq`.
    fn of(seq: u64, r: &Answered<'_>) -> Kept {
        let mut kept = Kept {
            seq,
            at: r.at,
            ms: r.ms,
            bytes: r.bytes,
            method: r.method.clone(),
            text: String::new(),
            path_end: 0,
            repository_end: 0,
            cache: r.cache,
            status: r.status,
            upstream: false,
        };
        kept.overwrite(seq, r);
        kept
    }

    /// Becomes the record of `r`, number `seq`, in the buffer it has.
    fn overwrite(&mut self, seq: u64, r: &Answered<'_>) {
        self.seq = seq;
        self.at = r.at;
        self.ms = r.ms;
        self.bytes = r.bytes;
        if self.method != *r.method {
            self.method = r.method.clone();
        }
        self.text.clear();
        self.text.push_str(r.path);
        self.path_end = self.text.len();
        self.text.push_str(r.repository);
        self.repository_end = self.text.len();
        self.text.push_str(r.upstream.unwrap_or(""));
        self.cache = r.cache;
        self.status = r.status;
        self.upstream = r.upstream.is_some();
    }

    /// The record the feed shows.
    fn record(&self) -> RequestRecord {
        let part = |range: std::ops::Range<usize>| self.text.get(range).unwrap_or("").to_owned();
        RequestRecord {
            seq: self.seq,
            at: self.at,
            method: self.method.clone(),
            path: part(0..self.path_end),
            repository: part(self.path_end..self.repository_end),
            status: self.status,
            cache: self.cache,
            upstream: self
                .upstream
                .then(|| part(self.repository_end..self.text.len())),
            ms: self.ms,
            bytes: self.bytes,
        }
    }
}

/// One slot of a ring: its lock beside the record, on two cache lines of their own.
#[derive(Default)]
#[repr(align(128))]
struct Slot(Mutex<Option<Kept>>);

fn method_name<S: serde::Serializer>(method: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

/// The ring of recent requests. Each thread writes a ring of its own (a record goes to slot
/// `seq % RECENT` of its thread's stripe): one shared ring had every request write slots the
/// other worker wrote last, and free records another thread allocated. The last [`RECENT`]
/// sequence numbers are all still there (a slot is only overwritten by a number `RECENT` or
/// more later), and [`Recent::after`] shows only those, as one ring did.
struct Recent {
    next: AtomicU64,
    slots: Striped<Slots>,
    arrived: Notify,
    /// Feeds waiting in [`Stats::wait_for`]: while there are none (nearly always), a request
    /// skips [`Notify::notify_waiters`], which takes a lock every request would share.
    waiting: AtomicU64,
}

/// One thread's ring, made by the thread's first request (most of the eight stripes belong to
/// no thread that serves requests, and stay a null pointer).
#[derive(Default)]
struct Slots(OnceLock<Box<[Slot]>>);

impl Slots {
    fn ring(&self) -> &[Slot] {
        self.0
            .get_or_init(|| (0..RECENT).map(|_| Slot::default()).collect())
    }

    fn made(&self) -> &[Slot] {
        self.0.get().map_or(&[], |ring| ring)
    }
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            next: AtomicU64::new(1),
            slots: Striped::default(),
            arrived: Notify::new(),
            waiting: AtomicU64::new(0),
        }
    }
}

/// Whether a cache outcome saved an upstream download.
fn is_hit(cache: &str) -> bool {
    matches!(cache, "hit" | "revalidated" | "stale")
}

/// Finds `key` in a snapshot table, adding it (one copy-on-write of the table) the first time.
fn counters<K: Ord + Clone, V: Default>(table: &ArcSwap<BTreeMap<K, Arc<V>>>, key: &K) -> Arc<V> {
    if let Some(found) = table.load().get(key) {
        return found.clone();
    }
    let mut added = None;
    table.rcu(|old| {
        let mut new = BTreeMap::clone(old);
        let entry = new.entry(key.clone()).or_default().clone();
        added = Some(entry);
        new
    });
    added.unwrap_or_default()
}

impl Stats {
    /// The counters of the repository `name`, made the first time it is asked for: the same
    /// ones for the same name, so they survive a live reconfiguration. A repository takes its
    /// own when it is built (`tally.rs`).
    pub fn repository(&self, name: &str) -> Arc<RepoCounters> {
        counters(&self.repos, &name.to_owned())
    }

    /// One answered request, counted in `repo`, the counters of the repository it named
    /// (`record.repository`), none when it named none.
    pub fn request(&self, repo: Option<&RepoCounters>, record: &Answered<'_>) {
        if let Some(repo) = repo {
            let hit = is_hit(record.cache);
            let repo = repo.stripes.mine();
            repo.requests.fetch_add(1, Relaxed);
            repo.bytes_served.fetch_add(record.bytes, Relaxed);
            if hit {
                repo.hits.fetch_add(1, Relaxed);
                repo.bytes_saved.fetch_add(record.bytes, Relaxed);
            }
            if record.status >= 500 {
                repo.errors.fetch_add(1, Relaxed);
            }
            let minute = record.at / 60;
            let slot = &repo.history[(minute % HISTORY_MINUTES as u64) as usize];
            let seen = slot.minute.load(Relaxed);
            if seen != minute
                && slot
                    .minute
                    .compare_exchange(seen, minute, Relaxed, Relaxed)
                    .is_ok()
            {
                // Restarting a slot races with a request counted in it at the same instant: the
                // chart may be off by one request, never more.
                slot.requests.store(0, Relaxed);
                slot.hits.store(0, Relaxed);
            }
            slot.requests.fetch_add(1, Relaxed);
            if hit {
                slot.hits.fetch_add(1, Relaxed);
            }
        }
        self.recent.push(record);
    }

    /// `bytes` downloaded from an upstream into the cache of `repository`.
    pub fn fetched(&self, repository: &str, bytes: u64) {
        counters(&self.repos, &repository.to_owned())
            .bytes_fetched
            .fetch_add(bytes, Relaxed);
    }

    /// One request to an upstream: `result` is `ok`, `not_found` or `error` (with `error` the
    /// reason, already free of credentials).
    pub fn upstream(
        &self,
        repository: &str,
        upstream: &str,
        latency: Duration,
        error: Option<&str>,
        not_found: bool,
    ) {
        let up = counters(
            &self.upstreams,
            &(repository.to_owned(), upstream.to_owned()),
        );
        up.requests.fetch_add(1, Relaxed);
        let ms = latency.as_millis().min(u128::from(u64::MAX)) as u64;
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(LATENCY_BOUNDS_MS.len() - 1);
        up.latency[bucket].fetch_add(1, Relaxed);
        if not_found {
            up.not_found.fetch_add(1, Relaxed);
        }
        if let Some(why) = error {
            up.errors.fetch_add(1, Relaxed);
            let mut last = up.last_error.lock().unwrap_or_else(|p| p.into_inner());
            *last = Some((why.to_owned(), now_secs()));
        }
    }

    /// The counters of every repository seen so far.
    pub fn repositories(&self) -> BTreeMap<String, RepoSnapshot> {
        let now_minute = now_secs() / 60;
        self.repos
            .load()
            .iter()
            .map(|(name, c)| (name.clone(), c.snapshot(now_minute)))
            .collect()
    }

    /// The counters of one upstream of one repository (zeros when it was never asked).
    pub fn upstream_snapshot(&self, repository: &str, upstream: &str) -> UpstreamSnapshot {
        self.upstreams
            .load()
            .get(&(repository.to_owned(), upstream.to_owned()))
            .map(|c| c.snapshot())
            .unwrap_or_default()
    }

    /// Requests after sequence number `after`, oldest first, at most `limit`.
    pub fn recent(&self, after: u64, limit: usize) -> Vec<RequestRecord> {
        self.recent.after(after, limit)
    }

    /// Waits until a request after `after` is recorded, or `timeout` passes.
    pub async fn wait_for(&self, after: u64, timeout: Duration) {
        let recent = &self.recent;
        let arrived = recent.arrived.notified();
        tokio::pin!(arrived);
        // Counted and registered before the check, so a record pushed in between either is
        // seen by the check or sees this waiter and wakes it (both sides are `SeqCst`).
        let _waiting = Waiting::count(&recent.waiting);
        arrived.as_mut().enable();
        // `next` is at least 1; `after` is the client's and may be `u64::MAX`.
        if recent.next.load(SeqCst) - 1 > after {
            return;
        }
        let _ = tokio::time::timeout(timeout, arrived).await;
    }
}

/// One feed counted in [`Recent::waiting`] while it lives.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicU64) -> Waiting<'a> {
        waiting.fetch_add(1, SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Recent {
    fn push(&self, record: &Answered<'_>) {
        let seq = self.next.fetch_add(1, SeqCst);
        let slot = &self.slots.mine().ring()[(seq % RECENT as u64) as usize];
        {
            let mut slot = slot.0.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *slot {
                Some(old) => old.overwrite(seq, record),
                empty => *empty = Some(Kept::of(seq, record)),
            }
        }
        if self.waiting.load(SeqCst) > 0 {
            self.arrived.notify_waiters();
        }
    }

    fn after(&self, after: u64, limit: usize) -> Vec<RequestRecord> {
        let mut out: Vec<RequestRecord> = self
            .slots
            .iter()
            .flat_map(|ring| ring.made())
            .filter_map(|s| {
                let slot = s.0.lock().unwrap_or_else(|p| p.into_inner());
                slot.as_ref().filter(|k| k.seq > after).map(Kept::record)
            })
            .collect();
        out.sort_by_key(|r| r.seq);
        // Older records left in a quieter thread's ring: one ring would have overwritten them.
        let newest = out.last().map_or(0, |r| r.seq);
        out.retain(|r| r.seq + RECENT as u64 > newest);
        let skip = out.len().saturating_sub(limit);
        out.drain(..skip);
        out
    }
}

/// A repository's counters at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoSnapshot {
    /// Requests answered.
    pub requests: u64,
    /// Answered from the cache (`hit`, `revalidated`, `stale`).
    pub hits: u64,
    /// `hits / requests`, 0 with no requests.
    pub hit_ratio: f64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Body bytes sent to clients.
    pub bytes_served: u64,
    /// Body bytes downloaded from upstreams into the cache.
    pub bytes_fetched: u64,
    /// Body bytes served from the cache: what upstreams did not have to send.
    pub bytes_saved: u64,
    /// The last hour, oldest minute first: `[minute (Unix seconds / 60), requests, hits]`.
    pub history: Vec<[u64; 3]>,
}

impl RepoSnapshot {
    /// A repository that has answered nothing yet: zeros, with an empty hour for the chart.
    pub fn empty() -> RepoSnapshot {
        RepoCounters::default().snapshot(now_secs() / 60)
    }
}

impl RepoCounters {
    fn snapshot(&self, now_minute: u64) -> RepoSnapshot {
        let sum = |field: fn(&RepoStripe) -> &AtomicU64| -> u64 {
            self.stripes.iter().map(|s| field(s).load(Relaxed)).sum()
        };
        let requests = sum(|s| &s.requests);
        let hits = sum(|s| &s.hits);
        let history = (0..HISTORY_MINUTES as u64)
            .rev()
            .map(|ago| {
                let minute = now_minute.saturating_sub(ago);
                let at = (minute % HISTORY_MINUTES as u64) as usize;
                // Each stripe restarts its own slot: only those of this minute count.
                let (requests, hits) = self
                    .stripes
                    .iter()
                    .map(|s| &s.history[at])
                    .filter(|slot| slot.minute.load(Relaxed) == minute)
                    .fold((0, 0), |(r, h), slot| {
                        (r + slot.requests.load(Relaxed), h + slot.hits.load(Relaxed))
                    });
                [minute, requests, hits]
            })
            .collect();
        RepoSnapshot {
            requests,
            hits,
            hit_ratio: if requests == 0 {
                0.0
            } else {
                hits as f64 / requests as f64
            },
            errors: sum(|s| &s.errors),
            bytes_served: sum(|s| &s.bytes_served),
            bytes_fetched: self.bytes_fetched.load(Relaxed),
            bytes_saved: sum(|s| &s.bytes_saved),
            history,
        }
    }
}

/// An upstream's counters at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpstreamSnapshot {
    /// Requests sent.
    pub requests: u64,
    /// Failed: connection errors, timeouts, 5xx.
    pub errors: u64,
    /// Answered 404.
    pub not_found: u64,
    /// `errors / requests`, 0 with no requests.
    pub error_rate: f64,
    /// Latency percentiles to response headers, in milliseconds (the upper bound of the
    /// histogram bucket the percentile falls in); `None` with no requests.
    pub p50_ms: Option<u64>,
    /// 90th percentile.
    pub p90_ms: Option<u64>,
    /// 99th percentile.
    pub p99_ms: Option<u64>,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it happened (Unix seconds).
    pub last_error_at: Option<u64>,
}

impl UpstreamCounters {
    fn snapshot(&self) -> UpstreamSnapshot {
        let counts: Vec<u64> = self.latency.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let percentile = |p: f64| -> Option<u64> {
            if total == 0 {
                return None;
            }
            let rank = ((total as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    // The open bucket reports the largest finite bound, doubled.
                    return Some(match LATENCY_BOUNDS_MS[i] {
                        u64::MAX => 60_000,
                        b => b,
                    });
                }
            }
            None
        };
        let requests = self.requests.load(Relaxed);
        let errors = self.errors.load(Relaxed);
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        UpstreamSnapshot {
            requests,
            errors,
            not_found: self.not_found.load(Relaxed),
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p50_ms: percentile(0.5),
            p90_ms: percentile(0.9),
            p99_ms: percentile(0.99),
            last_error_at: last.as_ref().map(|l| l.1),
            last_error: last.map(|l| l.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RequestRecord {
        fn answered(&self) -> Answered<'_> {
            Answered {
                at: self.at,
                method: &self.method,
                path: &self.path,
                repository: &self.repository,
                status: self.status,
                cache: self.cache,
                upstream: self.upstream.as_deref(),
                ms: self.ms,
                bytes: self.bytes,
            }
        }
    }

    /// Counts `record` as the envelope does, in its repository's counters.
    fn answer(stats: &Stats, record: &Answered<'_>) {
        let repo = (record.repository != "-").then(|| stats.repository(record.repository));
        stats.request(repo.as_deref(), record);
    }

    fn record(repository: &str, cache: &'static str, bytes: u64) -> RequestRecord {
        RequestRecord {
            seq: 0,
            at: now_secs(),
            method: http::Method::GET,
            path: format!("/{repository}/x"),
            repository: repository.into(),
            status: 200,
            cache,
            upstream: None,
            ms: 1.0,
            bytes,
        }
    }

    #[test]
    fn hits_misses_and_bytes_are_counted_per_repository() {
        let stats = Stats::default();
        answer(&stats, &record("pypi", "miss", 100).answered());
        answer(&stats, &record("pypi", "hit", 100).answered());
        answer(&stats, &record("pypi", "hit", 100).answered());
        answer(&stats, &record("npm", "miss", 7).answered());
        answer(&stats, &record("-", "-", 5).answered());
        stats.fetched("pypi", 100);
        let repos = stats.repositories();
        let pypi = &repos["pypi"];
        assert_eq!((pypi.requests, pypi.hits), (3, 2));
        assert_eq!(
            (pypi.bytes_served, pypi.bytes_fetched, pypi.bytes_saved),
            (300, 100, 200)
        );
        assert!((pypi.hit_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(pypi.history.len(), HISTORY_MINUTES);
        assert_eq!(pypi.history.last().unwrap()[1..], [3, 2]);
        assert_eq!(repos["npm"].hits, 0);
        assert!(!repos.contains_key("-"));
    }

    #[test]
    fn a_history_slot_from_an_hour_ago_is_not_shown_as_now() {
        let stats = Stats::default();
        let mut old = record("pypi", "hit", 1);
        old.at -= 3600;
        answer(&stats, &old.answered());
        let pypi = &stats.repositories()["pypi"];
        assert_eq!(pypi.requests, 1);
        assert!(pypi.history.iter().all(|m| m[1] == 0));
        answer(&stats, &record("pypi", "miss", 1).answered());
        let pypi = &stats.repositories()["pypi"];
        assert_eq!(pypi.history.last().unwrap()[1..], [1, 0]);
    }

    #[test]
    fn latency_percentiles_and_errors_per_upstream() {
        let stats = Stats::default();
        for ms in 1..=100 {
            stats.upstream("pypi", "a", Duration::from_millis(ms), None, false);
        }
        stats.upstream("pypi", "a", Duration::from_secs(3), Some("HTTP 503"), false);
        stats.upstream("pypi", "a", Duration::from_millis(3), None, true);
        let a = stats.upstream_snapshot("pypi", "a");
        assert_eq!((a.requests, a.errors, a.not_found), (102, 1, 1));
        assert_eq!(a.p50_ms, Some(50));
        assert_eq!(a.p90_ms, Some(100));
        assert_eq!(a.p99_ms, Some(100));
        assert_eq!(a.last_error.as_deref(), Some("HTTP 503"));
        assert!(a.last_error_at.is_some());
        let none = stats.upstream_snapshot("pypi", "b");
        assert_eq!((none.requests, none.p50_ms), (0, None));
    }

    #[test]
    fn the_feed_keeps_the_latest_requests_in_order() {
        let stats = Stats::default();
        for i in 0..(RECENT as u64 + 10) {
            answer(&stats, &record("pypi", "hit", i).answered());
        }
        let all = stats.recent(0, 1000);
        assert_eq!(all.len(), RECENT);
        assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        assert_eq!(all.last().unwrap().bytes, RECENT as u64 + 9);
        let last_seq = all.last().unwrap().seq;
        assert!(stats.recent(last_seq, 10).is_empty());
        assert_eq!(stats.recent(last_seq - 3, 2).len(), 2);
    }

    #[test]
    fn a_slot_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<Slot>(), 128);
    }

    #[test]
    fn a_reused_slot_shows_only_the_new_request() {
        let stats = Stats::default();
        let mut first = record("pypi", "hit", 1);
        first.path = "/pypi/a/rather/long/path/of/the/first/round".into();
        first.upstream = Some("pypi-org".into());
        for _ in 0..RECENT {
            answer(&stats, &first.answered());
        }
        let mut second = record("npm", "miss", 2);
        second.method = http::Method::HEAD;
        for i in 0..RECENT {
            // Every other one without an upstream, then one with another.
            second.upstream = (i % 2 == 1).then(|| "npmjs".to_owned());
            answer(&stats, &second.answered());
        }
        let feed = stats.recent(0, usize::MAX);
        assert_eq!(feed.len(), RECENT);
        for (i, r) in feed.iter().enumerate() {
            assert_eq!(
                (r.method.as_str(), r.path.as_str(), r.repository.as_str()),
                ("HEAD", "/npm/x", "npm")
            );
            assert_eq!((r.cache, r.bytes, r.status), ("miss", 2, 200));
            assert_eq!(r.upstream.as_deref(), (i % 2 == 1).then_some("npmjs"));
        }
    }

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        const THREADS: u64 = 12;
        const EACH: u64 = 2000;
        let stats = Stats::default();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let stats = &stats;
                scope.spawn(move || {
                    for i in 0..EACH {
                        let cache = if i % 4 == 0 { "miss" } else { "hit" };
                        let mut r = record("pypi", cache, t + 1);
                        if i % 10 == 0 {
                            r.status = 502;
                        }
                        answer(stats, &r.answered());
                    }
                });
            }
        });
        let pypi = &stats.repositories()["pypi"];
        let requests = THREADS * EACH;
        let hits = THREADS * (EACH - EACH / 4);
        let served: u64 = (1..=THREADS).map(|b| b * EACH).sum();
        let saved: u64 = (1..=THREADS).map(|b| b * (EACH - EACH / 4)).sum();
        assert_eq!((pypi.requests, pypi.hits), (requests, hits));
        assert_eq!(pypi.errors, THREADS * EACH / 10);
        assert_eq!((pypi.bytes_served, pypi.bytes_saved), (served, saved));
        // All in this minute or the one before (the test may straddle a minute).
        let last_two: Vec<[u64; 3]> = pypi.history[HISTORY_MINUTES - 2..].to_vec();
        let in_history: (u64, u64) = last_two
            .iter()
            .fold((0, 0), |a, m| (a.0 + m[1], a.1 + m[2]));
        assert_eq!(in_history, (requests, hits));
        // The feed: the last RECENT sequence numbers, in order, from every thread's ring.
        let feed = stats.recent(0, usize::MAX);
        assert_eq!(feed.len(), RECENT);
        assert!(feed.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        assert_eq!(feed.last().map(|r| r.seq), Some(requests));
    }

    #[tokio::test]
    async fn a_cursor_past_every_number_finds_nothing_and_waits() {
        let stats = Stats::default();
        answer(&stats, &record("pypi", "hit", 1).answered());
        assert!(stats.recent(u64::MAX, 10).is_empty());
        // Nothing is after it: the wait runs out (and its check does not overflow).
        stats.wait_for(u64::MAX, Duration::from_millis(20)).await;
        assert_eq!(stats.recent(0, 10).len(), 1);
    }

    #[tokio::test]
    async fn a_waiting_feed_wakes_on_a_new_request() {
        let stats = Arc::new(Stats::default());
        answer(&stats, &record("pypi", "hit", 1).answered());
        let seen = stats.recent(0, 10).last().unwrap().seq;
        let waiter = {
            let stats = stats.clone();
            tokio::spawn(async move {
                stats.wait_for(seen, Duration::from_secs(60)).await;
                stats.recent(seen, 10)
            })
        };
        tokio::task::yield_now().await;
        answer(&stats, &record("npm", "miss", 2).answered());
        let got = waiter.await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].repository, "npm");
    }
}
