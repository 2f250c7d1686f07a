//! Admission to the hot files (`hot.rs`): an entry file is kept open only when it is read a
//! second time within a window, so a read that comes once (random hits over a cache far larger
//! than the 2,048 hot files: nearly every hit over a million entries) costs no insert into the
//! hot set and no eviction of another entry; its file is closed when its response ends.
//!
//! `quick_cache` has no admission of its own: its S3-FIFO-like policy keeps one-off entries
//! from pushing out the reused ones, but it takes every insert into its probation queue and
//! evicts one for it. This is the doorkeeper of TinyLFU (Einziger et al., 2017): a Bloom filter
//! of the keys read since the last reset, two bits a key, cleared when a window of distinct
//! keys has been noted. Lock-free: hits on the worker threads set bits with `fetch_or`; a lost
//! race admits one entry a read late or early, which only moves a cost.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bits per key of the window: at the window's end at most an eighth of the bits are set, so a
/// key never read is taken for one read before 1.4% of the time, 0.5% on average.
const BITS_PER_KEY: usize = 16;

/// Keys read once, recently.
pub(super) struct Doorkeeper {
    words: Box<[AtomicU64]>,
    /// Bit index mask (the number of bits is a power of two).
    mask: usize,
    /// Keys noted since the last reset; at `window`, every bit is cleared.
    noted: AtomicUsize,
    window: usize,
    hasher: std::hash::RandomState,
}

impl Doorkeeper {
    /// A doorkeeper that remembers about `window` distinct keys.
    pub(super) fn new(window: usize) -> Doorkeeper {
        let bits = (window.max(64) * BITS_PER_KEY).next_power_of_two();
        Doorkeeper {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
            noted: AtomicUsize::new(0),
            window: window.max(1),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Whether `key` was read since the last reset (then it is admitted); notes it if not.
    pub(super) fn admit(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        let at = [hash as usize & self.mask, (hash >> 32) as usize & self.mask];
        if at
            .iter()
            .all(|&i| self.word(i).load(Ordering::Relaxed) & bit(i) != 0)
        {
            return true;
        }
        for i in at {
            self.word(i).fetch_or(bit(i), Ordering::Relaxed);
        }
        if self.noted.fetch_add(1, Ordering::Relaxed) + 1 >= self.window {
            self.noted.store(0, Ordering::Relaxed);
            for word in &self.words {
                word.store(0, Ordering::Relaxed);
            }
        }
        false
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        // `i` is masked to the bits, so `i / 64` is within the words.
        &self.words[i / 64]
    }
}

fn bit(i: usize) -> u64 {
    1 << (i % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_read_within_the_window_is_admitted() {
        let door = Doorkeeper::new(1000);
        assert!(!door.admit(b"m/a.jar"), "a first read is only noted");
        assert!(door.admit(b"m/a.jar"), "the second is admitted");
        assert!(door.admit(b"m/a.jar"));
        assert!(!door.admit(b"m/b.jar"));
    }

    #[test]
    fn one_off_reads_are_rarely_admitted() {
        let door = Doorkeeper::new(1000);
        // Keys read once each, many windows' worth: what random hits over a million do.
        let admitted = (0..100_000)
            .filter(|i| door.admit(format!("m/g{}/a-{i}.jar", i / 1000).as_bytes()))
            .count();
        assert!(
            admitted < 1_000,
            "{admitted} of 100,000 one-off reads admitted"
        );
    }

    #[test]
    fn the_window_forgets() {
        let door = Doorkeeper::new(1000);
        assert!(!door.admit(b"m/early.jar"));
        let mut i = 0;
        while door.noted.load(Ordering::Relaxed) != 0 {
            door.admit(format!("m/other-{i}").as_bytes());
            i += 1;
        }
        // A few keys are taken for read before (false positives) and not noted.
        assert!(
            (999..1100).contains(&i),
            "reset after a window of keys ({i})"
        );
        assert!(
            !door.admit(b"m/early.jar"),
            "a read a window ago is forgotten"
        );
    }
}
