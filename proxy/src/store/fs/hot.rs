//! The filesystem store's hot entries: hits served without opening the entry's file again
//! (nginx's `open_file_cache`, plus bytes in memory for documents).
//!
//! Two kinds, each with its own bound:
//! - **small documents** (directory listings, index pages, metadata of up to 256 KiB: entries
//!   `read_entry` in `fs.rs` reads as bytes) are kept as bytes, [`HOT_BYTES`] in all: the
//!   ecosystems read and rewrite them, and bytes in memory spare each of those reads a trip to
//!   the blocking pool;
//! - **everything else** (above all the artifacts clients download, of any size) is kept as its
//!   open file and metadata, no bytes: a hit costs no `open` and no metadata read on the blocking
//!   pool, and the body goes to the socket with `sendfile` (`edge/zerocopy.rs`). Each costs one file
//!   descriptor, so there are at most [`open_files_bound`] of them: a quarter of the process's
//!   `RLIMIT_NOFILE` soft limit, at most 2048, leaving the rest for connections and downloads.
//!
//! At most every `recheck` a `stat` checks that the file is still the one that was read (inode,
//! length, mtime): the store drops a hot entry whenever it replaces or removes the entry itself,
//! and another process sharing the directory replaces entries by rename, which changes the
//! inode, so its changes show within that interval. An open file replaced by another process
//! keeps its disk space until that check (or the bound) drops it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{Body, Entry, Meta};

use super::FileId;

/// Memory held by hot documents.
const HOT_BYTES: u64 = 32 * 1024 * 1024;

/// Hot entries of one store.
pub(super) struct HotEntries {
    documents: quick_cache::sync::Cache<PathBuf, Hot, DocumentWeight>,
    files: quick_cache::sync::Cache<PathBuf, Hot>,
}

#[derive(Clone)]
struct Hot {
    id: FileId,
    entry: Entry,
    /// When the file was last seen unchanged, in milliseconds since the store's epoch.
    checked: Arc<AtomicU64>,
}

#[derive(Clone)]
struct DocumentWeight;

impl quick_cache::Weighter<PathBuf, Hot> for DocumentWeight {
    fn weight(&self, key: &PathBuf, hot: &Hot) -> u64 {
        hot.entry.meta.len + key.as_os_str().len() as u64 + 512
    }
}

impl HotEntries {
    pub(super) fn new() -> HotEntries {
        HotEntries {
            documents: quick_cache::sync::Cache::with_weighter(4096, HOT_BYTES, DocumentWeight),
            files: quick_cache::sync::Cache::new(open_files_bound()),
        }
    }

    fn find(&self, path: &Path) -> Option<(Hot, bool)> {
        // Artifacts are the hits that count: look there first.
        if let Some(hot) = self.files.get(path) {
            return Some((hot, true));
        }
        self.documents.get(path).map(|hot| (hot, false))
    }

    /// The hot entry at `path` (`now` and `recheck` in milliseconds), after a `stat` of its file
    /// when one is due; `None` when it is not hot or its file changed.
    pub(super) fn get(&self, path: &Path, now: u64, recheck: u64) -> Option<Entry> {
        let (hot, file) = self.find(path)?;
        if now.saturating_sub(hot.checked.load(Ordering::Relaxed)) < recheck {
            return Some(hot.entry);
        }
        // One stat of a file whose inode is cached: cheap enough for this thread.
        match std::fs::metadata(path) {
            Ok(stat) if FileId::of(&stat) == hot.id => {
                hot.checked.store(now, Ordering::Relaxed);
                Some(hot.entry)
            }
            _ => {
                if file {
                    self.files.remove(path);
                } else {
                    self.documents.remove(path);
                }
                None
            }
        }
    }

    /// The metadata of the hot entry at `path` if it was checked less than `recheck` ago.
    pub(super) fn fresh_meta(&self, path: &Path, now: u64, recheck: u64) -> Option<Arc<Meta>> {
        let (hot, _) = self.find(path)?;
        (now.saturating_sub(hot.checked.load(Ordering::Relaxed)) < recheck)
            .then_some(hot.entry.meta)
    }

    /// Keeps `entry`, just read from `path` (whose file was `id`), checked at `now`.
    pub(super) fn insert(&self, path: PathBuf, id: FileId, entry: &Entry, now: u64) {
        let hot = Hot {
            id,
            entry: entry.clone(),
            checked: Arc::new(AtomicU64::new(now)),
        };
        match &entry.body {
            Body::Bytes(_) => self.documents.insert(path, hot),
            _ => self.files.insert(path, hot),
        }
    }

    pub(super) fn remove(&self, path: &Path) {
        self.files.remove(path);
        self.documents.remove(path);
    }
}

/// How many open files the hot entries may hold: a quarter of the soft `RLIMIT_NOFILE`
/// (Linux: from `/proc/self/limits`; 1024 assumed elsewhere), between 16 and 2048.
fn open_files_bound() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            let soft = line.split_whitespace().nth(3)?;
            Some(soft.parse::<usize>().unwrap_or(usize::MAX))
        })
        .unwrap_or(1024);
    (soft / 4).clamp(16, 2048)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_file_bound_follows_the_limit() {
        let bound = super::open_files_bound();
        assert!((16..=2048).contains(&bound), "{bound}");
    }
}
