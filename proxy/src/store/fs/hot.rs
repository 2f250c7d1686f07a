//! The filesystem store's hot entries: hits served without opening the entry's file again
//! (nginx's `open_file_cache`, plus bytes in memory for documents and small artifacts).
//!
//! Three kinds:
//! - **small documents** (directory listings, index pages, metadata of up to 256 KiB: entries
//!   `fs/read.rs` reads as bytes) are kept as bytes in the server's [`Memos`], under
//!   the one budget of every document it holds (`[server] memory_budget`, `memo.rs`): the
//!   ecosystems read and rewrite them, and bytes in memory spare each of those reads a trip to
//!   the blocking pool;
//! - **small artifacts** (a body of up to [`HELD`] bytes: poms, checksums, small wheels and
//!   tarballs) are kept as bytes too, in the same memos under the same budget, and served from
//!   them: the response's head and body leave in one `writev`, where a file body costs a
//!   `sendmsg(MSG_MORE)` for the head and a `sendfile` (the kernel's splice machinery) for a few
//!   KiB, a third of the CPU of such a hit (`docs/performance.md`, "Small hot artifacts from
//!   memory"). The body is read once, when the entry becomes hot, not per hit. They share the
//!   documents' budget rather than have one of their own: an operator sets one bound on the
//!   bytes repox keeps in memory (`memory_budget`), whatever the mix of documents and artifacts
//!   of the day, and CLOCK-Pro keeps whichever are read most; an artifact pushed out is read
//!   from disk on its next hit (and kept again if it is still read often). One is held only
//!   where the budget has room for [`HELD_PER_BUDGET`] of them, so a tiny budget keeps artifacts
//!   as open files rather than churn;
//! - **everything else** (above all the larger artifacts clients download) is kept as its
//!   open file and metadata, no bytes: a hit costs no `open` and no metadata read on the
//!   blocking pool, and the body goes to the socket with `sendfile` (`edge/zerocopy.rs`). Each
//!   costs one file descriptor, so there are at most [`open_files_bound`] of them: a quarter
//!   of the process's `RLIMIT_NOFILE` soft limit, at most 2048, leaving the rest for
//!   connections and downloads.
//!
//! An artifact is kept on its second read within a window (`doorkeeper.rs`): over a cache far
//! larger than the bounds, most reads come once, and keeping each would evict another. An
//! artifact shorter than a page read once is served from the bytes its read took
//! (`fs/read.rs`) and its file closed at once.
//!
//! At most every `recheck` a `stat` checks that the file is still the one that was read (inode,
//! length, mtime), bytes held or open file alike: the store drops a hot entry whenever it
//! replaces or removes the entry itself, and another process sharing the directory replaces
//! entries by rename, which changes the inode, so its changes show within that interval. An
//! open file replaced by another process keeps its disk space until that check (or the bound)
//! drops it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::memo::Memos;
use crate::store::{Body, Entry, Meta};

use super::FileId;
use super::doorkeeper::Doorkeeper;

/// What a stored document costs beside its bytes: its metadata, file identity and clock.
const DOCUMENT_OVERHEAD: u64 = 1024;

/// The largest artifact body kept hot as bytes in memory rather than as its open file
/// (measured: `docs/performance.md`, "Small hot artifacts from memory").
pub(super) const HELD: u64 = 16 * 1024;

/// How many of the largest held artifacts the memory budget must have room for before
/// artifacts are held in memory at all.
const HELD_PER_BUDGET: u64 = 16;

/// Hot entries of one store.
pub(super) struct HotEntries {
    documents: Memos,
    /// Keyed by the path's bytes: hashing a `Path` goes component by component, which was
    /// as dear as the rest of the lookup on every hit.
    files: quick_cache::sync::Cache<Box<[u8]>, Hot>,
    /// Which files read once are kept on their next read.
    doorkeeper: Doorkeeper,
}

#[derive(Clone)]
struct Hot {
    id: FileId,
    entry: Entry,
    /// When the file was last seen unchanged, in milliseconds of the store's coarse monotonic
    /// clock (`store/clock.rs`).
    checked: Arc<AtomicU64>,
}

impl HotEntries {
    /// Hot entries whose documents count against `documents`' budget.
    pub(super) fn new(documents: Memos) -> HotEntries {
        let bound = open_files_bound();
        HotEntries {
            documents,
            files: quick_cache::sync::Cache::new(bound),
            // Reads of 4 × as many other entries as the hot files before a second one.
            doorkeeper: Doorkeeper::new(4 * bound),
        }
    }

    fn find(&self, path: &Path) -> Option<(Hot, bool)> {
        // Artifacts are the hits that count: look there first.
        if let Some(hot) = self.files.get(bytes(path)) {
            return Some((hot, true));
        }
        self.documents
            .stored::<Hot>(bytes(path))
            .map(|hot| (hot, false))
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
                    self.files.remove(bytes(path));
                } else {
                    self.documents.forget_stored(bytes(path));
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

    /// Whether the file at `path`, read now and not hot, is to be kept open: it was read
    /// before within the doorkeeper's window. Notes the read.
    pub(super) fn admit(&self, path: &Path) -> bool {
        self.doorkeeper.admit(bytes(path))
    }

    /// Whether a hot artifact whose body is `len` bytes is to be kept as those bytes (see the
    /// module comment) rather than as its open file.
    pub(super) fn holds_in_memory(&self, len: u64) -> bool {
        len <= HELD
            && (HELD + DOCUMENT_OVERHEAD).saturating_mul(HELD_PER_BUDGET) <= self.documents.budget()
    }

    /// Keeps `entry`, just read from `path` (whose file was `id`), checked at `now`: bytes (a
    /// document's, or a small artifact's the caller read for [`HotEntries::holds_in_memory`])
    /// in the memos, any other entry's open file among the hot files (the caller asked
    /// [`HotEntries::admit`]).
    pub(super) fn insert(&self, path: &Path, id: FileId, entry: &Entry, now: u64) {
        let hot = Hot {
            id,
            entry: entry.clone(),
            checked: Arc::new(AtomicU64::new(now)),
        };
        match &entry.body {
            Body::Bytes(bytes_) => {
                let weight = bytes_.len() as u64 + DOCUMENT_OVERHEAD;
                self.documents.keep_stored(bytes(path), hot, weight);
            }
            _ => {
                self.files.insert(bytes(path).into(), hot);
            }
        }
    }

    /// Whether the file of the entry at `path` is kept open.
    #[cfg(test)]
    pub(super) fn holds_file(&self, path: &Path) -> bool {
        self.files.get(bytes(path)).is_some()
    }

    /// Whether the entry at `path` is kept as bytes in the memos.
    #[cfg(test)]
    pub(super) fn holds_bytes(&self, path: &Path) -> bool {
        self.documents.stored::<Hot>(bytes(path)).is_some()
    }

    pub(super) fn remove(&self, path: &Path) {
        self.files.remove(bytes(path));
        self.documents.forget_stored(bytes(path));
    }
}

/// A path as the bytes that key its stored document.
fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
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
    use super::*;
    use crate::store::{FsStore, Store};

    #[test]
    fn the_open_file_bound_follows_the_limit() {
        let bound = super::open_files_bound();
        assert!((16..=2048).contains(&bound), "{bound}");
    }

    /// `key`'s document of `len` bytes, each its own.
    fn body(key: &str, len: usize) -> Vec<u8> {
        let seed = key
            .bytes()
            .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        (0..len)
            .map(|i| seed.wrapping_add((i % 253) as u8))
            .collect()
    }

    async fn put(store: &FsStore, key: &str, body: &[u8]) {
        let mut miss = store.begin(key).await.unwrap();
        miss.write(body).unwrap();
        let meta = Meta {
            len: body.len() as u64,
            ..Default::default()
        };
        miss.finish(meta).await.unwrap();
    }

    async fn read(store: &FsStore, key: &str) -> Entry {
        let entry = store.get(key).await.unwrap().expect("stored");
        assert!(matches!(entry.body, Body::Bytes(_)), "{key} is a document");
        assert_eq!(entry.bytes().await.unwrap(), body(key, 8000), "{key}");
        entry
    }

    fn is_hot(store: &FsStore, memos: &Memos, key: &str) -> bool {
        memos.stored::<Hot>(bytes(&store.file_path(key))).is_some()
    }

    /// The whole body of `entry`, and the bytes `[start, end)` read as a range.
    async fn read_range(entry: &Entry, start: u64, end: u64) -> Vec<u8> {
        use futures_util::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = entry.range(start, end).try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn a_file_is_kept_open_from_its_second_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let len = HELD as usize + 1;
        for key in ["m/a.jar", "m/b.jar"] {
            put(&store, key, &body(key, len)).await;
        }
        let (a, b) = (store.file_path("m/a.jar"), store.file_path("m/b.jar"));
        let first = store.get("m/a.jar").await.unwrap().expect("stored");
        assert!(matches!(first.body, Body::File(_)), "a large artifact");
        assert!(!store.hot.holds_file(&a), "a first read is not kept");
        store.get("m/b.jar").await.unwrap().expect("stored");
        let second = store.get("m/a.jar").await.unwrap().expect("stored");
        assert!(
            matches!(second.body, Body::File(_)),
            "a kept artifact past the bound is its open file"
        );
        assert!(store.hot.holds_file(&a), "the second read is kept");
        assert!(!store.hot.holds_bytes(&a), "and not its bytes");
        assert!(!store.hot.holds_file(&b), "b was read once");
        for _ in 0..2 {
            let entry = store.get("m/a.jar").await.unwrap().expect("stored");
            assert_eq!(entry.bytes().await.unwrap(), body("m/a.jar", len));
        }
        store.delete("m/a.jar").await.unwrap();
        assert!(!store.hot.holds_file(&a), "a removed entry is dropped");
        assert!(store.get("m/a.jar").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn small_artifacts_are_kept_and_served_as_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        // Read by one short read, read whole after a `statx`, by its tail (the body read once
        // more when kept) at the bound, one byte past it, and far past it.
        for len in [0, 1000, 10_000, HELD as usize, HELD as usize + 1, 40_000] {
            let key = format!("m/{len}.jar");
            let want = body(&key, len);
            put(&store, &key, &want).await;
            let path = store.file_path(&key);
            let first = store.get(&key).await.unwrap().expect("stored");
            assert!(!store.hot.holds_bytes(&path), "{len}: read once, not kept");
            assert_eq!(first.bytes().await.unwrap(), want, "{len}");
            let second = store.get(&key).await.unwrap().expect("stored");
            let held = len as u64 <= HELD;
            assert_eq!(store.hot.holds_bytes(&path), held, "{len}");
            assert_eq!(store.hot.holds_file(&path), !held, "{len}");
            for entry in [second, store.get(&key).await.unwrap().expect("hot")] {
                assert_eq!(
                    matches!(entry.body, Body::Bytes(_)),
                    held,
                    "{len}: a held entry is served from its bytes"
                );
                assert_eq!(entry.bytes().await.unwrap(), want, "{len}");
                if len > 0 {
                    let (s, e) = (len as u64 / 3, len as u64 - 1);
                    let range = read_range(&entry, s, e).await;
                    assert_eq!(range, want[s as usize..e as usize], "{len}: a range");
                }
            }
            assert_eq!(
                store.head(&key).await.unwrap().expect("hot").len,
                len as u64
            );
            store.delete(&key).await.unwrap();
            assert!(
                !store.hot.holds_bytes(&path),
                "{len}: a removed entry is dropped"
            );
            assert!(store.get(&key).await.unwrap().is_none(), "{len}");
        }
    }

    #[tokio::test]
    async fn held_bytes_follow_replacements_by_the_store_and_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ours, theirs) = (
            FsStore::open(dir.path()).unwrap(),
            FsStore::open(dir.path()).unwrap(),
        );
        ours.recheck = std::time::Duration::from_secs(3600);
        let key = "m/r.jar";
        let path = ours.file_path(key);
        let (old, newer, ours_again) = (vec![1u8; 12_000], vec![2u8; 12_000], vec![3u8; 9000]);
        put(&ours, key, &old).await;
        for _ in 0..2 {
            ours.get(key).await.unwrap().expect("stored");
        }
        assert!(ours.hot.holds_bytes(&path));
        // Another process renames a new file of the same length into place.
        put(&theirs, key, &newer).await;
        let stale = ours.get(key).await.unwrap().expect("hot");
        assert_eq!(
            stale.bytes().await.unwrap(),
            old,
            "the held bytes are served until they are due for a check"
        );
        ours.recheck = std::time::Duration::ZERO;
        let fresh = ours.get(key).await.unwrap().expect("stored");
        assert_eq!(
            fresh.bytes().await.unwrap(),
            newer,
            "the recheck drops them"
        );
        ours.recheck = std::time::Duration::from_secs(3600);
        for _ in 0..2 {
            ours.get(key).await.unwrap().expect("stored");
        }
        assert!(ours.hot.holds_bytes(&path), "the new file is held again");
        // The store's own replacement drops what it held at once.
        put(&ours, key, &ours_again).await;
        assert!(!ours.hot.holds_bytes(&path));
        let entry = ours.get(key).await.unwrap().expect("stored");
        assert_eq!(entry.bytes().await.unwrap(), ours_again);
    }

    #[tokio::test]
    async fn the_budget_bounds_the_artifacts_held() {
        let dir = tempfile::tempdir().unwrap();
        // Room for the bound's 16 of the largest: 80 of 12 KB (about 39 fit) do not.
        let budget = 512 * 1024;
        let memos = Memos::new(budget);
        let store = FsStore::open_within(dir.path(), memos.clone()).unwrap();
        let keys: Vec<String> = (0..80).map(|i| format!("m/g/a-{i}.jar")).collect();
        for key in &keys {
            put(&store, key, &body(key, 12_000)).await;
        }
        for _ in 0..2 {
            for key in &keys {
                let entry = store.get(key).await.unwrap().expect("stored");
                assert_eq!(entry.bytes().await.unwrap(), body(key, 12_000), "{key}");
                assert!(memos.used() <= budget, "{} > {budget}", memos.used());
            }
        }
        let held = |store: &FsStore| {
            keys.iter()
                .filter(|k| store.hot.holds_bytes(&store.file_path(k)))
                .count()
        };
        let before = held(&store);
        assert!(before >= 10, "the budget is used: {before} held");
        assert!(before < 45, "no more than the budget holds: {before} of 80");
        // Every one is served right, from its bytes or, pushed out, from its file again.
        let mut from_disk = 0;
        for key in &keys {
            if !store.hot.holds_bytes(&store.file_path(key)) {
                from_disk += 1;
            }
            let entry = store.get(key).await.unwrap().expect("stored");
            assert_eq!(entry.bytes().await.unwrap(), body(key, 12_000), "{key}");
        }
        assert!(from_disk > 0, "some were read from disk");
        assert!(memos.used() <= budget);
    }

    #[tokio::test]
    async fn a_budget_too_small_keeps_artifacts_as_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open_within(dir.path(), Memos::new(128 * 1024)).unwrap();
        let want = body("m/s.jar", 3000);
        put(&store, "m/s.jar", &want).await;
        for _ in 0..3 {
            let entry = store.get("m/s.jar").await.unwrap().expect("stored");
            assert_eq!(entry.bytes().await.unwrap(), want);
        }
        let path = store.file_path("m/s.jar");
        assert!(store.hot.holds_file(&path) && !store.hot.holds_bytes(&path));
    }

    #[tokio::test]
    async fn documents_count_against_the_servers_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 64 * 1024;
        let memos = Memos::new(budget);
        let store = FsStore::open_within(dir.path(), memos.clone()).unwrap();
        let keys: Vec<String> = (0..40).map(|i| format!("pypi/simple/p{i}/")).collect();
        for key in &keys {
            put(&store, key, &body(key, 8000)).await;
        }
        read(&store, &keys[0]).await;
        assert!(
            is_hot(&store, &memos, &keys[0]),
            "kept in the server's memos"
        );
        assert!(memos.used() >= 8000);
        memos.insert("pypi-page", "x".into(), 1u8, 30_000);
        for key in &keys[1..] {
            read(&store, key).await;
            // The first one is the page every install asks for again.
            read(&store, &keys[0]).await;
            assert!(memos.used() <= budget, "{} > {budget}", memos.used());
        }
        assert!(
            is_hot(&store, &memos, &keys[0]),
            "the document used again stayed"
        );
        let hot = keys.iter().filter(|k| is_hot(&store, &memos, k)).count();
        assert!(hot < 8, "no more than the budget holds: {hot} of 40 hot");
        assert!(hot >= 2, "the budget is used: {hot} hot");
        let gone = keys
            .iter()
            .find(|k| !is_hot(&store, &memos, k))
            .expect("documents were evicted");
        read(&store, gone).await;
        assert!(
            is_hot(&store, &memos, gone),
            "an evicted document is still a hit, read from disk and kept again"
        );
        store.delete(gone).await.unwrap();
        assert!(
            !is_hot(&store, &memos, gone),
            "a removed entry leaves the memos"
        );
        assert!(store.get(gone).await.unwrap().is_none());
    }
}
