//! Free space on the cache disk. A full disk must not stop the server: cached files are still
//! served. At start-up the operator gets one warning saying so, instead of a stream of failed
//! writes with no context.

use std::path::Path;

/// Below this many free bytes the cache disk counts as full.
const FULL_BELOW: u64 = 1024 * 1024;

/// Bytes an unprivileged process may still write on the filesystem of `dir`.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Logs one warning when the cache disk under `dir` is (nearly) full.
pub fn warn_if_full(dir: &Path) {
    match available(dir) {
        Ok(free) if free < FULL_BELOW => tracing::warn!(
            "cache disk full ({free} bytes free under `{}`): cached files are served, but new downloads cannot be cached and fail until space is freed",
            dir.display()
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!("cannot tell the free space under `{}`: {e}", dir.display()),
    }
}
