//! The allocator (jemalloc) and what an idle server does to give memory back.
//!
//! jemalloc rather than glibc's malloc: after a burst of connections glibc kept the freed memory
//! in its per-thread arenas (an idle server stayed ~13 MiB above where it started), while
//! jemalloc returns it within about a second, from a background thread. Its options are
//! compiled in from `.cargo/config.toml` (`JEMALLOC_SYS_WITH_MALLOC_CONF`); `_RJEM_MALLOC_CONF`
//! overrides them at run time. Measured in `benches/memory.sh` (docs/performance.md, "Memory").
//!
//! What the background thread cannot return is what each thread keeps in its own cache (tcache)
//! of freed blocks for its next allocations: jemalloc trims a tcache only as its thread
//! allocates, so a runtime worker that went idle after a load kept it for good (the larger part
//! of the 1.7 MiB an idle server held after `memory.sh`'s load). [`worker_parks`] flushes a
//! worker's tcache when it runs out of work, at most once a [`FLUSH_EVERY`], so a busy worker
//! keeps its cache warm and an idle one gives it back at its next wake-up (the store's
//! once-a-second tick wakes one).

use std::cell::Cell;

use tikv_jemalloc_ctl::{Access, AsName};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The least time between two flushes of one worker's tcache, in milliseconds.
const FLUSH_EVERY: u64 = 1000;

/// For tokio's `on_thread_park`: a worker is out of work; flushes its tcache unless it did
/// within [`FLUSH_EVERY`].
pub fn worker_parks() {
    thread_local! {
        static FLUSHED_AT: Cell<Option<u64>> = const { Cell::new(None) };
    }
    let now = coarse_millis();
    FLUSHED_AT.with(|at| {
        if flush_due(at.get(), now) {
            at.set(Some(now));
            flush_thread_cache();
        }
    });
}

/// Whether a worker that last flushed at `flushed_at` flushes when it parks at `now`.
fn flush_due(flushed_at: Option<u64>, now: u64) -> bool {
    flushed_at.is_none_or(|at| now.saturating_sub(at) >= FLUSH_EVERY)
}

/// Milliseconds of the store's coarse monotonic clock (`store/clock.rs`): a worker may park
/// thousands of times a second, and the precise clock costs a fifth of a microsecond a read.
fn coarse_millis() -> u64 {
    repox_proxy::store::clock::monotonic_millis()
}

/// Hands the calling thread's cached blocks back to their arena, where the background thread
/// returns the pages to the system after `dirty_decay_ms`. jemalloc's `thread.tcache.flush`
/// takes no value, which the crate's safe API cannot call; turning the tcache off flushes and
/// frees it the same way, and turning it back on starts an empty one.
/// Whether it did (jemalloc accepted both writes).
fn flush_thread_cache() -> bool {
    let enabled = b"thread.tcache.enabled\0".name();
    enabled.write(false).is_ok() && enabled.write(true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_cache_is_flushed_and_on_again() {
        let enabled = b"thread.tcache.enabled\0".name();
        assert_eq!(enabled.read(), Ok(true), "jemalloc caches per thread");
        let freed: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1000]).collect();
        drop(freed);
        assert!(flush_thread_cache());
        assert_eq!(enabled.read(), Ok(true), "the cache is on again, empty");
        let fresh = vec![7u8; 1000];
        assert_eq!(fresh.iter().map(|&b| u64::from(b)).sum::<u64>(), 7000);
    }

    #[test]
    fn a_worker_flushes_at_most_once_a_second() {
        assert!(flush_due(None, 5), "the first park flushes");
        assert!(!flush_due(Some(5), 5));
        assert!(!flush_due(Some(5), 5 + FLUSH_EVERY - 1));
        assert!(flush_due(Some(5), 5 + FLUSH_EVERY));
        assert!(!flush_due(Some(5), 4), "a clock read out of order waits");
        let now = coarse_millis();
        assert!(coarse_millis() >= now);
    }
}
