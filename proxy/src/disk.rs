//! Free space on the cache disk. A full disk must not stop the server or break downloads:
//! cached files are still served, and a miss is passed through from the upstream without being
//! staged (see `passthrough.rs`), because a staged download that hits "no space left" after its
//! headers went out could only end in a body cut short. The operator gets one warning when the
//! disk fills (at start-up or later) and one line when it has room again.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Below this many free bytes the cache disk counts as full.
const FULL_BELOW: u64 = 1024 * 1024;

/// Whether the last check found the disk full (only to log changes once).
static FULL: AtomicBool = AtomicBool::new(false);

/// Bytes an unprivileged process may still write on the filesystem of `dir`.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// True when the disk under `dir` has no room for new entries; logs when that changes. An
/// unknown free space counts as room: the write itself will tell.
pub fn is_full(dir: &Path) -> bool {
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
    full
}

/// Logs one warning when the cache disk under `dir` is (nearly) full at start-up.
pub fn warn_if_full(dir: &Path) {
    FULL.store(false, Ordering::Relaxed);
    is_full(dir);
}
