//! Counters for `/-/metrics`, rendered in the Prometheus text format. A handful of series do
//! not justify a metrics framework: maps behind mutexes are enough, and updates happen once per
//! request or upstream call, never per byte. Request counters, touched by every hit, are keyed
//! so that counting allocates nothing; label text is only built when the page is rendered. The
//! cache size and eviction count come from the entry index (`store/index.rs`), which keeps them
//! exact across rewrites, removals, evictions and restarts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::breaker::Transition;
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
    /// Per repository: answers by (status, cache outcome), and body bytes, in stripes that
    /// [`Metrics::render`] adds up: each thread counts in its own stripe, so the runtime's
    /// workers do not take turns at one lock (and its cache line) on every request.
    requests: Striped<Mutex<BTreeMap<String, Answers>>>,
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

#[derive(Debug, Default)]
struct Answers {
    count: BTreeMap<(u16, &'static str), u64>,
    bytes: u64,
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

    /// One answered request.
    pub fn request(&self, repository: &str, status: u16, cache: &'static str, bytes: u64) {
        let mut requests = self.requests.mine().lock().expect("metrics lock");
        // One lookup for a known repository; its name is copied only the first time.
        let count = |answers: &mut Answers| {
            *answers.count.entry((status, cache)).or_default() += 1;
            answers.bytes += bytes;
        };
        match requests.get_mut(repository) {
            Some(answers) => count(answers),
            None => count(requests.entry(repository.to_owned()).or_default()),
        }
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
        let mut requests: BTreeMap<String, Answers> = BTreeMap::new();
        for stripe in self.requests.iter() {
            for (repository, answers) in stripe.lock().expect("metrics lock").iter() {
                let sum = requests.entry(repository.clone()).or_default();
                for (key, n) in &answers.count {
                    *sum.count.entry(*key).or_default() += n;
                }
                sum.bytes += answers.bytes;
            }
        }
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
                    for (repository, answers) in requests.iter() {
                        for ((status, cache), n) in &answers.count {
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
                    for (repository, answers) in requests.iter().filter(|(_, a)| a.bytes > 0) {
                        let pairs = [("repository", repository.as_str())];
                        let _ = writeln!(out, "{family}{{{}}} {}", labels(&pairs), answers.bytes);
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
        m.request("maven", 200, "hit", 10);
        m.request("maven", 200, "hit", 5);
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
}
