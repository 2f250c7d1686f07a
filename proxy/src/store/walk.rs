//! The one-time walk that indexes a cache directory written by a repox version without the
//! entry index (`index.rs`). It runs in the background after start-up, inserts what it finds
//! in batches (entries the server committed or removed meanwhile keep their newer records) and
//! marks the index `walked` when done, so later starts never walk again. A walk is stopped
//! between directories when its server stops (a large cache takes seconds to walk, and a
//! stopping process waits for its blocking threads); the next start walks again.

use std::path::{Component, Path};
use std::time::UNIX_EPOCH;

use super::fs::read_head;
use super::index::{Index, IndexError, Indexed, is_mutable};

/// Entries inserted per transaction.
const BATCH: usize = 10_000;

/// The state row that records a finished walk.
pub const WALKED: &str = "walked";

/// The store key of a file under the data root, reversing the escapes of `fs.rs`
/// (`~` before segments starting with `.` or `~`, `~listing` for a directory listing).
pub fn key_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let segments: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (last, dirs) = segments.split_last()?;
    let mut key = String::new();
    for s in dirs {
        key.push_str(s.strip_prefix('~').unwrap_or(s));
        key.push('/');
    }
    if *last != "~listing" {
        key.push_str(last.strip_prefix('~').unwrap_or(last));
    }
    Some(key)
}

/// Indexes every entry under `root` unless a walk already finished. Returns how many entries
/// were found (0 when no walk was needed). `stop` is asked before each directory; when it says
/// yes the walk ends there, unfinished, keeping what it inserted.
pub fn walk_once(index: &Index, root: &Path, stop: &dyn Fn() -> bool) -> Result<u64, IndexError> {
    if index.state(WALKED)?.is_some() {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let mut found = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if stop() {
            found += batch.len() as u64;
            insert(index, &mut batch)?;
            tracing::debug!(
                entries = found,
                "cache indexing stopped; the next start resumes it"
            );
            return Ok(found);
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    let Some(key) = key_of(root, &path) else {
                        continue;
                    };
                    // A torn or foreign file is no entry; `get` ignores it too.
                    let Ok(Some((meta, _))) = read_head(&path) else {
                        continue;
                    };
                    let Ok(stat) = entry.metadata() else { continue };
                    let millis = |t: std::io::Result<std::time::SystemTime>| {
                        t.ok()
                            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_millis() as u64)
                    };
                    batch.push(Indexed {
                        mutable: is_mutable(&key, &meta),
                        key,
                        size: stat.len(),
                        last_access: millis(stat.accessed()).max(millis(stat.modified())),
                    });
                    if batch.len() == BATCH {
                        found += batch.len() as u64;
                        insert(index, &mut batch)?;
                        batch.clear();
                    }
                }
                _ => {}
            }
        }
    }
    found += batch.len() as u64;
    insert(index, &mut batch)?;
    index.set_state(WALKED, &super::now_secs().to_string())?;
    tracing::info!(
        entries = found,
        seconds = started.elapsed().as_secs(),
        "indexed a cache directory written without an index"
    );
    Ok(found)
}

/// Inserts a batch in key order: a directory's files come in hash order, and sorted they land
/// in neighbouring leaves of the table's B-tree instead of all over it.
fn insert(index: &Index, batch: &mut [Indexed]) -> Result<(), IndexError> {
    batch.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    index.insert_found(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Digests, FsStore, Meta, Store, Verification};

    #[test]
    fn keys_reverse_the_file_escapes() {
        let root = Path::new("/c/data-v1");
        let k = |p: &str| key_of(root, &root.join(p));
        assert_eq!(k("m/a/b.jar").as_deref(), Some("m/a/b.jar"));
        assert_eq!(k("m/~.meta/x").as_deref(), Some("m/.meta/x"));
        assert_eq!(k("m/a/~listing").as_deref(), Some("m/a/"));
        assert_eq!(k("m/~~listing").as_deref(), Some("m/~listing"));
    }

    #[tokio::test]
    async fn an_unindexed_cache_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        for (key, len, verification) in [
            ("m/a/b.jar", 10usize, Verification::Sha1),
            ("m/.meta/x", 300_000, Verification::Sha256),
            ("m/a/", 4, Verification::Length),
        ] {
            let mut miss = store.begin(key).await.unwrap();
            miss.write(&vec![b'x'; len]).unwrap();
            let meta = Meta {
                len: len as u64,
                digests: Digests {
                    sha256: "ab".repeat(32),
                    ..Default::default()
                },
                verification,
                ..Default::default()
            };
            miss.finish(meta).await.unwrap();
        }
        let on_disk = store.index().unwrap().bytes();
        drop(store);
        // As if written by an older version: no index at all.
        std::fs::remove_file(dir.path().join(crate::store::index::FILE_NAME)).unwrap();
        let index = Index::open(dir.path()).unwrap();
        assert_eq!(index.bytes(), 0);
        let root = dir.path().join("data-v1");
        assert_eq!(walk_once(&index, &root, &|| false).unwrap(), 3);
        assert_eq!((index.entries(), index.bytes()), (3, on_disk));
        let listed = index.list("m/", None, 10).unwrap();
        let kinds: Vec<(&str, bool)> = listed.iter().map(|e| (e.key.as_str(), e.mutable)).collect();
        assert_eq!(
            kinds,
            [("m/.meta/x", false), ("m/a/", true), ("m/a/b.jar", false)]
        );
        assert_eq!(
            walk_once(&index, &root, &|| false).unwrap(),
            0,
            "never twice"
        );
    }

    #[test]
    fn a_stopped_walk_is_not_marked_done_and_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let root = dir.path().join("data-v1");
        std::fs::create_dir_all(root.join("m/a")).unwrap();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let stop_at_once = || {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            true
        };
        assert_eq!(walk_once(&index, &root, &stop_at_once).unwrap(), 0);
        assert_eq!(asked.into_inner(), 1, "stopped before the first directory");
        assert!(index.state(WALKED).unwrap().is_none());
        walk_once(&index, &root, &|| false).unwrap();
        assert!(index.state(WALKED).unwrap().is_some());
    }
}
