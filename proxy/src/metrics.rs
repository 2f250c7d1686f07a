//! Counters for `/-/metrics`, rendered in the Prometheus text format. A handful of series do
//! not justify a metrics framework: maps behind mutexes are enough, and updates happen once per
//! request or upstream call, never per byte. The request counters, touched by every hit, are
//! the exception: a repository's ([`RepoRequests`]) are found by name once, when the repository
//! is built (`tally.rs`), and a request adds to atomics in its thread's stripe, with no lock
//! and no look-up; label text is only built when the page is rendered. The cache size and
//! eviction count come from the entry index (`store/index.rs`), which keeps them exact across
//! rewrites, removals, evictions and restarts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::breaker::Transition;
use crate::repository::Outcome;
use crate::store::Index;

/// Metric families: name, type, help.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "repox_requests_total",
        "counter",
        "Requests answered, by repository, status and cache outcome.",
    ),
    (
        "repox_bytes_served_total",
        "counter",
        "Body bytes sent to clients, by repository.",
    ),
    (
        "repox_upstream_requests_total",
        "counter",
        "Requests sent to upstreams, by upstream and result.",
    ),
    (
        "repox_upstream_errors_total",
        "counter",
        "Upstream requests that failed (timeouts, 5xx, connection errors), by upstream.",
    ),
    (
        "repox_upstream_latency_seconds_sum",
        "counter",
        "Total time to response headers, by upstream.",
    ),
    (
        "repox_upstream_latency_seconds_count",
        "counter",
        "Number of timed upstream requests, by upstream.",
    ),
    (
        "repox_unverified_commits_total",
        "counter",
        "Entries committed without a digest check (verification `length` or `unavailable`), by repository.",
    ),
    (
        "repox_policy_refusals_total",
        "counter",
        "Requests and index entries refused by a policy (deny rule, min_age, snapshot, advisory), by repository and rule.",
    ),
    (
        "repox_upstream_up",
        "gauge",
        "1 while the upstream is asked, 0 while its circuit breaker holds it down.",
    ),
    (
        "repox_upstream_breaker_trips_total",
        "counter",
        "Times the upstream was marked down after consecutive failures, by upstream.",
    ),
    (
        "repox_cache_size_bytes",
        "gauge",
        "Bytes held in the cache.",
    ),
    ("repox_cache_entries", "gauge", "Entries held in the cache."),
    (
        "repox_cache_evictions_total",
        "counter",
        "Entries removed by [storage] max_size or unused_for.",
    ),
];

/// All counters of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per repository name (`-` for requests that named none): answers by (status, cache
    /// outcome), and body bytes. Looked up when a repository is built, not per request.
    requests: Mutex<BTreeMap<String, Arc<RepoRequests>>>,
    /// The counters of `-`, once a request named no repository.
    unrouted: OnceLock<Arc<RepoRequests>>,
    /// Upstream series: (family, label text) to value.
    series: Mutex<BTreeMap<(&'static str, String), f64>>,
    cache_bytes: AtomicU64,
    /// The entry index, once the store has one: the source of the cache gauges.
    index: OnceLock<Arc<Index>>,
}

/// How many stripes striped counters are split into.
const STRIPES: usize = 8;

/// A value split into per-thread stripes, each on cache lines of its own: each thread writes
/// only its own stripe ([`Striped::mine`]), so the runtime's workers do not take turns at one
/// cache line on every request; a reader (rare: a page, an API call) adds the stripes up.
/// Used for the request counters here and the dashboard's counters (`stats.rs`).
#[derive(Debug, Default)]
pub(crate) struct Striped<T>([Stripe<T>; STRIPES]);

/// One stripe, on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe<T>(T);

thread_local! {
    /// This thread's stripe: threads take them in turn as they first count.
    static STRIPE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
    };
}

impl<T> Striped<T> {
    /// The calling thread's stripe.
    pub(crate) fn mine(&self) -> &T {
        let stripe = STRIPE.try_with(|s| *s).unwrap_or(0);
        &self.0[stripe].0
    }

    /// Every stripe, for a reader to add up.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|s| &s.0)
    }
}

/// Statuses with counters of their own: what hits answer (a file, a range, a revalidation, a
/// remembered 404). Any other status is counted in a map behind its stripe's lock.
const STATUSES: [u16; 4] = [200, 206, 304, 404];

/// Cache outcomes, `-` (none) first; [`outcome_index`] is the position of one here.
const OUTCOMES: [Option<Outcome>; 8] = [
    None,
    Some(Outcome::Hit),
    Some(Outcome::Miss),
    Some(Outcome::Revalidated),
    Some(Outcome::Stale),
    Some(Outcome::Blocked),
    Some(Outcome::Uncached),
    Some(Outcome::Pass),
];

/// The position of `cache` in [`OUTCOMES`] (a match, so a new outcome cannot be forgotten).
fn outcome_index(cache: Option<Outcome>) -> usize {
    match cache {
        None => 0,
        Some(Outcome::Hit) => 1,
        Some(Outcome::Miss) => 2,
        Some(Outcome::Revalidated) => 3,
        Some(Outcome::Stale) => 4,
        Some(Outcome::Blocked) => 5,
        Some(Outcome::Uncached) => 6,
        Some(Outcome::Pass) => 7,
    }
}

/// The outcome's label value.
fn outcome_name(cache: Option<Outcome>) -> &'static str {
    cache.map_or("-", Outcome::as_str)
}

/// The request counters of one repository, in per-thread stripes that [`Metrics::render`] adds
/// up. Handed to the repository when it is built (`tally.rs`), so a request counts without
/// finding it: a few relaxed atomic adds on its own thread's lines.
#[derive(Debug, Default)]
pub struct RepoRequests {
    stripes: Striped<Answers>,
}

/// One stripe's share of a repository's request counters.
#[derive(Debug, Default)]
struct Answers {
    /// Body bytes sent.
    bytes: AtomicU64,
    /// Answers with a status of [`STATUSES`], by it and [`OUTCOMES`].
    common: [[AtomicU64; OUTCOMES.len()]; STATUSES.len()],
    /// Answers with any other status, by it and the outcome's name.
    rare: Mutex<BTreeMap<(u16, &'static str), u64>>,
}

/// A repository's answers by (status, outcome name), and its body bytes.
type Totals = (BTreeMap<(u16, &'static str), u64>, u64);

/// Locks `mutex`; a panic elsewhere while it was held leaves counters that are still counters.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl RepoRequests {
    /// One answered request.
    pub fn count(&self, status: u16, cache: Option<Outcome>, bytes: u64) {
        let answers = self.stripes.mine();
        if bytes > 0 {
            answers.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        match STATUSES.iter().position(|&s| s == status) {
            Some(row) => {
                answers.common[row][outcome_index(cache)].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                *lock(&answers.rare)
                    .entry((status, outcome_name(cache)))
                    .or_default() += 1
            }
        }
    }

    /// Answers by (status, outcome name), the stripes added up, and body bytes.
    fn totals(&self) -> Totals {
        let mut count: BTreeMap<(u16, &'static str), u64> = BTreeMap::new();
        let mut bytes = 0;
        for answers in self.stripes.iter() {
            bytes += answers.bytes.load(Ordering::Relaxed);
            for (status, row) in STATUSES.iter().zip(&answers.common) {
                for (cache, n) in OUTCOMES.iter().zip(row) {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        *count.entry((*status, outcome_name(*cache))).or_default() += n;
                    }
                }
            }
            for (key, n) in lock(&answers.rare).iter() {
                *count.entry(*key).or_default() += n;
            }
        }
        (count, bytes)
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

impl Metrics {
    fn add(&self, name: &'static str, pairs: &[(&str, &str)], v: f64) {
        let mut series = self.series.lock().expect("metrics lock");
        *series.entry((name, labels(pairs))).or_default() += v;
    }

    /// The request counters of the repository `name`, made the first time it is asked for:
    /// the same ones for the same name, so they survive a live reconfiguration.
    pub fn repository(&self, name: &str) -> Arc<RepoRequests> {
        let mut requests = lock(&self.requests);
        match requests.get(name) {
            Some(found) => found.clone(),
            None => requests.entry(name.to_owned()).or_default().clone(),
        }
    }

    /// The request counters of requests that named no repository (label `-`).
    pub fn unrouted(&self) -> &RepoRequests {
        self.unrouted.get_or_init(|| self.repository("-"))
    }

    /// One upstream call with its time to headers; `result` is `ok`, `not_found` or `error`.
    pub fn upstream(&self, upstream: &str, result: &str, latency: Duration) {
        self.add(
            "repox_upstream_requests_total",
            &[("upstream", upstream), ("result", result)],
            1.0,
        );
        if result == "error" {
            self.add(
                "repox_upstream_errors_total",
                &[("upstream", upstream)],
                1.0,
            );
        }
        self.add(
            "repox_upstream_latency_seconds_sum",
            &[("upstream", upstream)],
            latency.as_secs_f64(),
        );
        self.add(
            "repox_upstream_latency_seconds_count",
            &[("upstream", upstream)],
            1.0,
        );
    }

    /// One entry committed without a digest check.
    pub fn unverified_commit(&self, repository: &str) {
        self.add(
            "repox_unverified_commits_total",
            &[("repository", repository)],
            1.0,
        );
    }

    /// One refusal by a policy rule (`policy/`): a 403 answered, or a version left out of an
    /// index document.
    pub fn policy_refusal(&self, repository: &str, rule: &str) {
        self.add(
            "repox_policy_refusals_total",
            &[("repository", repository), ("rule", rule)],
            1.0,
        );
    }

    /// Declares an upstream, so that its breaker series exist (up, no trips) before any event.
    pub fn upstream_known(&self, upstream: &str) {
        let mut series = self.series.lock().expect("metrics lock");
        let pairs = labels(&[("upstream", upstream)]);
        series.insert(("repox_upstream_up", pairs.clone()), 1.0);
        series
            .entry(("repox_upstream_breaker_trips_total", pairs))
            .or_default();
    }

    /// Forgets the state gauge of an upstream no repository has any more (a live
    /// configuration change removed it); its counters stay, as counters do.
    pub fn upstream_gone(&self, upstream: &str) {
        let pairs = labels(&[("upstream", upstream)]);
        let mut series = self.series.lock().expect("metrics lock");
        series.remove(&("repox_upstream_up", pairs));
    }

    /// The breaker state after an upstream call.
    pub fn breaker(&self, upstream: &str, transition: Transition, up: bool) {
        let pairs = labels(&[("upstream", upstream)]);
        let mut series = self.series.lock().expect("metrics lock");
        if transition == Transition::Tripped {
            *series
                .entry(("repox_upstream_breaker_trips_total", pairs.clone()))
                .or_default() += 1.0;
        }
        series.insert(("repox_upstream_up", pairs), if up { 1.0 } else { 0.0 });
    }

    /// Adds to the cache size gauge; only used while no index is tracked (the index counts
    /// commits, rewrites and removals itself).
    pub fn cache_grew(&self, bytes: u64) {
        self.cache_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes the cache gauges from `index` from now on.
    pub fn track_cache(&self, index: Arc<Index>) {
        let _ = self.index.set(index);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let requests: Vec<(String, Totals)> = lock(&self.requests)
            .iter()
            .map(|(repository, counters)| (repository.clone(), counters.totals()))
            .collect();
        let series = self.series.lock().expect("metrics lock");
        let mut out = String::new();
        for (family, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} {kind}");
            match *family {
                "repox_cache_size_bytes" => {
                    let bytes = match self.index.get() {
                        Some(index) => index.bytes(),
                        None => self.cache_bytes.load(Ordering::Relaxed),
                    };
                    let _ = writeln!(out, "{family} {bytes}");
                    continue;
                }
                "repox_cache_entries" => {
                    let entries = self.index.get().map_or(0, |i| i.entries());
                    let _ = writeln!(out, "{family} {entries}");
                    continue;
                }
                "repox_cache_evictions_total" => {
                    let evicted = self.index.get().map_or(0, |i| i.evictions());
                    let _ = writeln!(out, "{family} {evicted}");
                    continue;
                }
                "repox_requests_total" => {
                    for (repository, (count, _)) in &requests {
                        for ((status, cache), n) in count {
                            let status = status.to_string();
                            let pairs = [
                                ("repository", repository.as_str()),
                                ("status", &status),
                                ("cache", cache),
                            ];
                            let _ = writeln!(out, "{family}{{{}}} {n}", labels(&pairs));
                        }
                    }
                    continue;
                }
                "repox_bytes_served_total" => {
                    for (repository, (_, bytes)) in requests.iter().filter(|r| r.1.1 > 0) {
                        let pairs = [("repository", repository.as_str())];
                        let _ = writeln!(out, "{family}{{{}}} {bytes}", labels(&pairs));
                    }
                    continue;
                }
                _ => {}
            }
            for ((name, labels), v) in series.range((*family, String::new())..) {
                if name != family {
                    break;
                }
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.repository("maven").count(200, Some(Outcome::Hit), 10);
        m.repository("maven").count(200, Some(Outcome::Hit), 5);
        m.upstream("cen\"tral", "error", Duration::from_millis(500));
        m.cache_grew(42);
        let text = m.render();
        assert!(
            text.contains(
                "repox_requests_total{repository=\"maven\",status=\"200\",cache=\"hit\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("repox_bytes_served_total{repository=\"maven\"} 15\n"));
        assert!(text.contains("repox_upstream_errors_total{upstream=\"cen\\\"tral\"} 1\n"));
        assert!(
            text.contains("repox_upstream_latency_seconds_sum{upstream=\"cen\\\"tral\"} 0.5\n")
        );
        assert!(text.contains("# TYPE repox_cache_size_bytes gauge\nrepox_cache_size_bytes 42\n"));
    }

    #[test]
    fn breaker_series() {
        let m = Metrics::default();
        m.upstream_known("central");
        m.upstream_known("google");
        m.breaker("central", Transition::Tripped, false);
        let text = m.render();
        assert!(
            text.contains("repox_upstream_up{upstream=\"central\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("repox_upstream_up{upstream=\"google\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("repox_upstream_breaker_trips_total{upstream=\"central\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("repox_upstream_breaker_trips_total{upstream=\"google\"} 0\n"),
            "{text}"
        );
        m.breaker("central", Transition::Recovered, true);
        assert!(
            m.render()
                .contains("repox_upstream_up{upstream=\"central\"} 1\n")
        );
    }

    /// Every status and outcome, from many threads: each answer counted exactly once, in the
    /// order and the text the page always had (a map by (status, outcome name) per repository).
    #[test]
    fn request_counts_from_many_threads_add_up_exactly() {
        const THREADS: u64 = 12;
        const EACH: u64 = 3000;
        let statuses = [200, 206, 304, 404, 500, 416, 200];
        let m = Metrics::default();
        let repos = [m.repository("pypi"), m.repository("maven")];
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (m, repos) = (&m, &repos);
                scope.spawn(move || {
                    for i in 0..EACH {
                        let status = statuses[(i % 7) as usize];
                        let cache = OUTCOMES[((i + t) % 8) as usize];
                        match (t + i) % 3 {
                            0 => m.unrouted().count(status, cache, 1),
                            n => repos[n as usize - 1].count(status, cache, i % 2),
                        }
                    }
                });
            }
        });
        // The same answers, counted the old way: one map for all.
        let mut expected: BTreeMap<(&str, u16, &str), u64> = BTreeMap::new();
        let mut bytes: BTreeMap<&str, u64> = BTreeMap::new();
        for t in 0..THREADS {
            for i in 0..EACH {
                let status = statuses[(i % 7) as usize];
                let cache = outcome_name(OUTCOMES[((i + t) % 8) as usize]);
                let (repository, b) = match (t + i) % 3 {
                    0 => ("-", 1),
                    1 => ("pypi", i % 2),
                    _ => ("maven", i % 2),
                };
                *expected.entry((repository, status, cache)).or_default() += 1;
                *bytes.entry(repository).or_default() += b;
            }
        }
        let mut text = String::from("# TYPE repox_requests_total counter\n");
        for ((repository, status, cache), n) in &expected {
            let _ = writeln!(
                text,
                "repox_requests_total{{repository=\"{repository}\",status=\"{status}\",cache=\"{cache}\"}} {n}"
            );
        }
        text.push_str("# HELP repox_bytes_served_total");
        let rendered = m.render();
        assert!(rendered.contains(&text), "{rendered}\n---\n{text}");
        for (repository, b) in bytes {
            let line = format!("repox_bytes_served_total{{repository=\"{repository}\"}} {b}\n");
            assert!(rendered.contains(&line), "{line}");
        }
        assert_eq!(
            expected.values().sum::<u64>(),
            THREADS * EACH,
            "every answer in the expected text"
        );
    }

    #[test]
    fn a_repository_is_listed_once_it_has_answered() {
        let m = Metrics::default();
        let quiet = m.repository("quiet");
        let again = m.repository("quiet");
        assert!(Arc::ptr_eq(&quiet, &again));
        assert!(!m.render().contains("quiet"));
        quiet.count(304, Some(Outcome::Revalidated), 0);
        let text = m.render();
        assert!(
            text.contains(
                "repox_requests_total{repository=\"quiet\",status=\"304\",cache=\"revalidated\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("repox_bytes_served_total{repository=\"quiet\"}"));
    }
}
