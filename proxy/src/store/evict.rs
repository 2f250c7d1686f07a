//! Eviction: `[storage] max_size` and `unused_for` applied to the entries of the index.
//! Uploaded files (keys under `~hosted/`, see `hosted/mod.rs`) are never removed.
//!
//! `unused_for` removes every entry whose last access is older than the limit; `max_size` then
//! removes the least recently used *immutable* entries until the total is under the limit.
//! Mutable index documents (pages, metadata) are only removed by `unused_for`: while an
//! upstream is down they may be the only copy clients can resolve from. Victims come from the
//! index's `(last_access)` orders, so each one costs an index seek (O(log n)), never a scan.
//! Removal goes through [`Store::delete`], which also forgets the index row and drops the hot
//! in-memory copy. A client being served an evicted file keeps reading it: on Unix an open file
//! outlives its name.
//!
//! The server runs [`upkeep`] in the background: it re-reads the totals every second (so
//! `repox cache rm` from another process shows in the size gauge), writes the noted accesses
//! about once a minute, evicts as soon as the size is over the limit and applies `unused_for`
//! hourly. `repox cache gc` calls [`collect`] directly.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Store;
use super::index::{Index, IndexError, Indexed, now_millis};
use crate::config::StorageConfig;

/// Victims fetched from the index per query.
const PAGE: usize = 512;
/// Ticks of one second between access flushes.
const FLUSH_EVERY: u64 = 60;
/// Ticks between `unused_for` sweeps.
const SWEEP_EVERY: u64 = 3600;

/// What a collection removed (or, dry, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Entries older than `unused_for`.
    pub unused: Vec<Indexed>,
    /// Least recently used immutable entries removed to get under `max_size`.
    pub over_size: Vec<Indexed>,
    /// Bytes of cached entries held afterwards (dry: what would be held); uploads (`~hosted/`)
    /// are not counted.
    pub bytes_after: u64,
}

impl Collected {
    /// Bytes freed.
    pub fn freed(&self) -> u64 {
        self.unused
            .iter()
            .chain(&self.over_size)
            .map(|e| e.size)
            .sum()
    }
}

/// Runs an index call on the blocking pool (SQLite may wait for another process's lock).
async fn blocking<T: Send + 'static>(
    index: &Arc<Index>,
    f: impl FnOnce(&Index) -> Result<T, IndexError> + Send + 'static,
) -> Result<T, IndexError> {
    let index = index.clone();
    match tokio::task::spawn_blocking(move || f(&index)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The next page of least recently used entries of one kind after `after`.
async fn page(
    index: &Arc<Index>,
    mutable: bool,
    after: &Option<(u64, String)>,
) -> Result<Vec<Indexed>, IndexError> {
    let cursor = after.clone();
    blocking(index, move |i| {
        let cursor = cursor.as_ref().map(|(t, k)| (*t, k.as_str()));
        i.oldest(mutable, cursor, PAGE)
    })
    .await
}

/// Applies `limits` now. With `dry_run`, nothing is removed and the report says what would be.
pub async fn collect(
    store: &dyn Store,
    index: &Arc<Index>,
    limits: &StorageConfig,
    dry_run: bool,
) -> Result<Collected, IndexError> {
    blocking(index, |i| i.flush()).await?;
    let mut out = Collected::default();
    let mut chosen = HashSet::new();
    let mut bytes = blocking(index, |i| i.refresh().and_then(|()| evictable(i))).await?;
    if let Some(unused_for) = limits.unused_for {
        let cutoff = now_millis().saturating_sub(unused_for.as_millis() as u64);
        // Artifacts, then index documents: each kind in its own order of the index.
        for mutable in [false, true] {
            let mut after = None;
            'pages: loop {
                let entries = page(index, mutable, &after).await?;
                let Some(last) = entries.last() else { break };
                after = Some((last.last_access, last.key.clone()));
                for e in entries {
                    if e.last_access >= cutoff {
                        break 'pages;
                    }
                    if crate::hosted::is_hosted_key(&e.key) {
                        continue;
                    }
                    remove(store, index, &e, dry_run).await;
                    bytes = bytes.saturating_sub(e.size);
                    chosen.insert(e.key.clone());
                    out.unused.push(e);
                }
            }
        }
    }
    if let Some(max) = limits.max_size {
        let mut after = None;
        'size: while bytes > max {
            let entries = page(index, false, &after).await?;
            let Some(last) = entries.last() else { break };
            after = Some((last.last_access, last.key.clone()));
            for e in entries {
                if bytes <= max {
                    break 'size;
                }
                if chosen.contains(&e.key) || crate::hosted::is_hosted_key(&e.key) {
                    continue;
                }
                remove(store, index, &e, dry_run).await;
                bytes = bytes.saturating_sub(e.size);
                out.over_size.push(e);
            }
        }
    }
    out.bytes_after = if dry_run {
        bytes
    } else {
        blocking(index, |i| i.refresh().and_then(|()| evictable(i))).await?
    };
    Ok(out)
}

/// The bytes `max_size` limits: uploads (`~hosted/`) are not a cache and do not count.
fn evictable(i: &Index) -> Result<u64, IndexError> {
    let hosted = crate::hosted::KEY_PREFIX.trim_end_matches('/');
    let uploads: u64 = i
        .usage()?
        .iter()
        .filter(|u| u.repo == hosted)
        .map(|u| u.bytes)
        .sum();
    Ok(i.bytes().saturating_sub(uploads))
}

async fn remove(store: &dyn Store, index: &Index, e: &Indexed, dry_run: bool) {
    if dry_run {
        return;
    }
    match store.delete(&e.key).await {
        Ok(_) => index.count_evictions(1),
        Err(err) => tracing::warn!(key = %e.key, "cannot evict: {err}"),
    }
}

/// The server's background care of the index: the one-time walk of an unindexed cache
/// (`walk.rs`), totals re-read every second, accesses written every minute, eviction when over
/// `max_size`, `unused_for` hourly. Ends when the store is dropped, the walk too: a stopping
/// runtime waits for its blocking threads, and a server must stop at once. Returns the walk's
/// task, if a walk was started.
pub fn upkeep(
    store: Weak<dyn Store>,
    index: &Arc<Index>,
    limits: StorageConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    let walk = index.files().map(Path::to_owned).map(|root| {
        let walker = index.clone();
        let gone = store.clone();
        tokio::task::spawn_blocking(move || {
            let stop = || gone.strong_count() == 0;
            if let Err(e) = super::walk::walk_once(&walker, &root, &stop) {
                tracing::warn!("cannot index the cache directory: {e}");
            }
        })
    });
    let weak_index = Arc::downgrade(index);
    tokio::spawn(async move {
        let mut tick: u64 = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tick += 1;
            let (Some(store), Some(index)) = (store.upgrade(), weak_index.upgrade()) else {
                break;
            };
            if tick.is_multiple_of(FLUSH_EVERY) {
                log(blocking(&index, |i| i.flush()).await);
            }
            log(blocking(&index, |i| i.refresh()).await);
            let over = match limits.max_size {
                Some(max) if index.bytes() > max => {
                    blocking(&index, evictable).await.is_ok_and(|b| b > max)
                }
                _ => false,
            };
            let sweep = limits.unused_for.is_some() && tick % SWEEP_EVERY == 1;
            if over || sweep {
                let now = StorageConfig {
                    unused_for: limits.unused_for.filter(|_| sweep),
                    ..limits.clone()
                };
                let started = std::time::Instant::now();
                match collect(&*store, &index, &now, false).await {
                    Ok(done) if !done.unused.is_empty() || !done.over_size.is_empty() => {
                        tracing::info!(
                            unused = done.unused.len(),
                            over_size = done.over_size.len(),
                            freed = done.freed(),
                            bytes = done.bytes_after,
                            millis = started.elapsed().as_millis() as u64,
                            "evicted cache entries"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("eviction failed: {e}"),
                }
            }
        }
    });
    walk
}

fn log(r: Result<(), IndexError>) {
    if let Err(e) = r {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Digests, FsStore, Meta, Verification};

    async fn put(store: &FsStore, _dir: &Path, key: &str, len: usize, v: Verification) {
        let mut miss = store.begin(key).await.unwrap();
        miss.write(&vec![b'x'; len]).unwrap();
        let meta = Meta {
            len: len as u64,
            digests: Digests {
                sha256: "ab".repeat(32),
                ..Default::default()
            },
            verification: v,
            ..Default::default()
        };
        miss.finish(meta).await.unwrap();
    }

    #[tokio::test]
    async fn the_walk_of_an_unindexed_cache_stops_with_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        put(&store, dir.path(), "m/a/b.jar", 10, Verification::Sha1).await;
        drop(store);
        // As if written by an older version: no index, so the server walks the directory.
        std::fs::remove_file(dir.path().join(crate::store::index::FILE_NAME)).unwrap();
        let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
        let index = store.index().unwrap().clone();
        let weak = Arc::downgrade(&store);
        // The server stopped before the walk began: nothing may keep its runtime waiting.
        drop(store);
        let walk = upkeep(weak, &index, StorageConfig::default()).unwrap();
        walk.await.unwrap();
        assert!(index.state(super::super::walk::WALKED).unwrap().is_none());
        assert_eq!(index.entries(), 0);
    }

    fn disk_bytes(root: &Path) -> u64 {
        let mut total = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.len();
                }
            }
        }
        total
    }

    /// Sets the last access of `key` to `age` seconds ago.
    fn age(dir: &Path, key: &str, age: u64) {
        let conn = rusqlite::Connection::open(dir.join(super::super::index::FILE_NAME)).unwrap();
        conn.execute(
            "UPDATE entries SET last_access = ?2 WHERE key = ?1",
            rusqlite::params![key, (now_millis() - age * 1000) as i64],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn max_size_evicts_least_recently_used_artifacts_and_keeps_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let index = store.index().unwrap().clone();
        for i in 0..10 {
            let key = format!("m/a{i}.jar");
            put(&store, dir.path(), &key, 1000, Verification::Sha1).await;
            age(dir.path(), &key, 1000 - i);
        }
        put(
            &store,
            dir.path(),
            "m/maven-metadata.xml",
            1000,
            Verification::Length,
        )
        .await;
        age(dir.path(), "m/maven-metadata.xml", 5000);
        // a0 is the oldest artifact, but it was just used.
        assert!(store.get("m/a0.jar").await.unwrap().is_some());
        let root = dir.path().join("data-v1");
        assert_eq!(index.bytes(), disk_bytes(&root));
        let size = |key: &str| index.list(key, None, 1).unwrap()[0].size;
        let limit = 5 * size("m/a0.jar") + size("m/maven-metadata.xml");
        let limits = StorageConfig {
            max_size: Some(limit),
            unused_for: None,
            ..StorageConfig::default()
        };
        let dry = collect(&store, &index, &limits, true).await.unwrap();
        assert_eq!(dry.over_size.len(), 5);
        assert_eq!(index.entries(), 11, "a dry run removes nothing");
        let done = collect(&store, &index, &limits, false).await.unwrap();
        assert_eq!(done.over_size, dry.over_size);
        let evicted: Vec<&str> = done.over_size.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            evicted,
            ["m/a1.jar", "m/a2.jar", "m/a3.jar", "m/a4.jar", "m/a5.jar"]
        );
        assert!(index.bytes() <= limit);
        assert_eq!(
            index.bytes(),
            disk_bytes(&root),
            "gauge equals the bytes on disk"
        );
        assert_eq!(index.evictions(), 5);
        for kept in ["m/a0.jar", "m/a9.jar", "m/maven-metadata.xml"] {
            assert!(store.get(kept).await.unwrap().is_some(), "{kept}");
        }
        assert!(store.get("m/a1.jar").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn unused_for_removes_old_entries_of_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let index = store.index().unwrap().clone();
        put(&store, dir.path(), "m/old.jar", 10, Verification::Sha1).await;
        put(&store, dir.path(), "m/old/", 10, Verification::Length).await;
        put(&store, dir.path(), "m/new.jar", 10, Verification::Sha1).await;
        age(dir.path(), "m/old.jar", 200 * 86400);
        age(dir.path(), "m/old/", 181 * 86400);
        age(dir.path(), "m/new.jar", 179 * 86400);
        let limits = StorageConfig {
            max_size: None,
            unused_for: Some(Duration::from_secs(180 * 86400)),
            ..StorageConfig::default()
        };
        let done = collect(&store, &index, &limits, false).await.unwrap();
        let removed: Vec<&str> = done.unused.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(removed, ["m/old.jar", "m/old/"]);
        assert!(store.get("m/new.jar").await.unwrap().is_some());
        assert!(store.get("m/old/").await.unwrap().is_none());
        assert_eq!(index.entries(), 1);
        assert_eq!(index.bytes(), disk_bytes(&dir.path().join("data-v1")));
    }
}
