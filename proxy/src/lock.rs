//! One server per cache directory. Two servers writing one directory would each keep their own
//! index, negative cache and staging clean-up, and each would count the other's files wrongly;
//! the second one to start is refused with a line naming the directory and the PID holding it.
//!
//! The lock is an exclusive `flock` on `repox.lock` in the cache directory, held for the
//! server's life: the kernel releases it when the process dies, however it dies, so a crash
//! never leaves a stale lock behind. Only the local directory is locked: nodes sharing an S3
//! bucket each have their own local cache directory and are meant to run side by side.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The lock file's name in the cache directory.
pub const LOCK_FILE: &str = "repox.lock";

/// Why the cache directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "the cache directory `{}` is in use by another repox ({}); stop it, or give this one \
         its own --cache-dir",
        dir.display(),
        holder.map_or_else(|| "PID unknown".to_owned(), |pid| format!("PID {pid}"))
    )]
    Held {
        /// The cache directory.
        dir: PathBuf,
        /// The PID written in the lock file, when readable.
        holder: Option<u32>,
    },
    /// The lock file cannot be created or locked.
    #[error("cannot lock the cache directory: `{}`", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The held lock on a cache directory; dropping it releases the lock.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl CacheLock {
    /// Creates `dir` if needed and takes its lock, writing this process's PID in the lock file.
    pub fn acquire(dir: &Path) -> Result<CacheLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Not truncated on open: the file holds the PID of whoever has the lock.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        // The PID only helps the message of a second server: on a full disk the lock is held
        // all the same, and repox serves on.
        let pid = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        if let Err(e) = pid {
            tracing::debug!("cannot write the PID into {}: {e}", path.display());
        }
        Ok(CacheLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_directory_and_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = CacheLock::acquire(&cache).unwrap();
        let pid = std::process::id();
        let Err(err) = CacheLock::acquire(&cache) else {
            panic!("a second lock on one directory was granted");
        };
        assert!(
            matches!(err, LockError::Held { holder: Some(p), .. } if p == pid),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&cache.display().to_string()), "{text}");
        assert!(text.contains(&format!("PID {pid}")), "{text}");
        drop(first);
        CacheLock::acquire(&cache).unwrap();
    }
}
