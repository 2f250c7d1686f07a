//! Free space on the cache disk. A full disk must not stop the server or break downloads:
//! cached files are still served, and a miss is passed through from the upstream without being
//! staged (see `passthrough.rs`), because a staged download that hits "no space left" after its
//! headers went out could only end in a body cut short. The operator gets one warning when the
//! disk fills (at start-up or later) and one line when it has room again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Below this many free bytes the cache disk counts as full.
const FULL_BELOW: u64 = 1024 * 1024;

/// How long one look at the free space answers for (milliseconds of the coarse clock).
const LOOK_EVERY: u64 = 1000;

/// Whether the last check found the disk full (only to log changes once).
static FULL: AtomicBool = AtomicBool::new(false);

/// Bytes an unprivileged process may still write on the filesystem of `dir`.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// One look at the disk under `dir`: whether it has no room for new entries (logged when that
/// changes), and the free bytes found (`None`: unknown, which counts as room: the write itself
/// will tell).
fn look(dir: &Path) -> (bool, Option<u64>) {
    let free = available(dir).ok();
    let full = free.is_some_and(|free| free < FULL_BELOW);
    if FULL.swap(full, Ordering::Relaxed) != full {
        if full {
            tracing::warn!(
                "cache disk full ({} bytes free under `{}`): cached files are served, new downloads are passed through but not cached until space is freed",
                free.unwrap_or(0),
                dir.display()
            );
        } else {
            tracing::info!(
                "cache disk has room again under `{}`: downloads are cached",
                dir.display()
            );
        }
    }
    (full, free)
}

/// Logs one warning when the cache disk under `dir` is (nearly) full at start-up.
pub fn warn_if_full(dir: &Path) {
    FULL.store(false, Ordering::Relaxed);
    look(dir);
}

/// Whether a store's staging disk has room (`Store::has_room`, both stores), asked by every
/// miss on its way to the upstream request. A look ([`look`]) is a `statfs`; when the last one found [`PLENTY`] free, its
/// answer stands for [`LOOK_EVERY`], otherwise every miss looks again, so a disk that is filling
/// up is noticed at once, as before. Filling [`PLENTY`] within a second takes a writer at
/// 256 MiB/s; a write that runs out of space fails its fill, as it would after a look.
#[derive(Debug)]
pub struct Room {
    dir: PathBuf,
    /// The coarse millisecond of the last look that found [`PLENTY`] free, plus one (0: none).
    plenty_at: AtomicU64,
}

/// Free bytes that let one look answer for [`LOOK_EVERY`].
const PLENTY: u64 = 256 * 1024 * 1024;

impl Room {
    /// The free space under `dir`, not looked at yet.
    pub fn new(dir: &Path) -> Room {
        Room {
            dir: dir.to_owned(),
            plenty_at: AtomicU64::new(0),
        }
    }

    /// False when the disk is full (see [`look`]).
    pub fn has_room(&self) -> bool {
        let now = crate::store::clock::monotonic_millis().saturating_add(1);
        if !due(self.plenty_at.load(Ordering::Relaxed), now) {
            return true;
        }
        let (full, free) = look(&self.dir);
        let plenty = free.is_some_and(|free| free >= PLENTY);
        self.plenty_at
            .store(if plenty { now } else { 0 }, Ordering::Relaxed);
        !full
    }
}

/// Whether a look last made at `looked_at` (0: never) is due again at `now`.
fn due(looked_at: u64, now: u64) -> bool {
    looked_at == 0 || now.saturating_sub(looked_at) >= LOOK_EVERY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_space_is_looked_at_first_then_once_a_second() {
        assert!(due(0, 1));
        assert!(!due(5000, 5000));
        assert!(!due(5000, 5000 + LOOK_EVERY - 1));
        assert!(due(5000, 5000 + LOOK_EVERY));
        // A clock read before the last look (another thread's) is not due.
        assert!(!due(5000, 4000));
    }

    #[test]
    fn only_a_look_that_found_plenty_of_room_is_kept() {
        // An unknown free space is room, looked at again by every miss.
        let room = Room::new(Path::new("/nonexistent/repox-staging"));
        assert!(room.has_room());
        assert_eq!(room.plenty_at.load(Ordering::Relaxed), 0);
        let dir = tempfile::tempdir().unwrap();
        let room = Room::new(dir.path());
        assert!(room.has_room());
        let plenty = available(dir.path()).unwrap() >= PLENTY;
        assert_eq!(room.plenty_at.load(Ordering::Relaxed) != 0, plenty);
    }
}
