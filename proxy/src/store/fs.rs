//! The filesystem store.
//!
//! Layout: `<cache_dir>/CACHEDIR.TAG`, committed entries under `<cache_dir>/data-v1/<key>`, and
//! staging files under `<cache_dir>/tmp/`. One entry is one file: the body, then the [`Meta`] as
//! JSON, then a 16-byte trailer (metadata length, little-endian u64, and the magic `REPOXv1\n`).
//! Keeping the metadata in the same file makes a commit a single rename and a hit a single open;
//! a reader that opened the old file keeps a consistent view while it is replaced. A file whose
//! trailer or length does not check out is ignored, so a torn write is a miss, never bad bytes.
//!
//! Key segments starting with `.` or `~` are stored with a `~` prefix and a directory listing
//! (`a/b/`) as `a/b/~listing`, so no key can name a file repox uses itself or escape the tree;
//! the mapping is reversible, which is how [`Store::list`] names what it finds.
//!
//! A miss ([`FsMiss`]) is a staging file in `tmp/` (named by [`super::staging`]); `finish`
//! appends the metadata and renames it into place, so the file clients were tailing is the
//! committed entry. Dropping it deletes the staging file.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};

use super::index::{Index, is_mutable};
use super::{Body, Entry, Listed, Meta, Miss, Purged, Store, staging};

mod doorkeeper;
mod hot;
mod read;

use hot::HotEntries;
pub(super) use read::read_head;

const MAGIC: &[u8; 8] = b"REPOXv1\n";
const TRAILER: u64 = 16;
/// Documents up to this size are read into memory together with their metadata.
const SMALL: u64 = 256 * 1024;

/// How long a hot entry is served without checking its file again.
const RECHECK: Duration = Duration::from_secs(1);

/// Entries as files under a cache directory.
///
/// Entries read recently are kept hot (`fs/hot.rs`): small documents and small artifacts in
/// memory, other entries as open files, so a hit on a hot entry costs no `open` and no trip to
/// the blocking pool; at most every [`RECHECK`] a `stat` checks that the file was not replaced.
pub struct FsStore {
    root: PathBuf,
    staging: PathBuf,
    /// Free space under `staging`: looked at once a second while plenty is free (`disk.rs`).
    room: crate::disk::Room,
    hot: Arc<HotEntries>,
    recheck: Duration,
    /// Size and access accounting (`index.rs`).
    index: Arc<Index>,
}

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// What tells one file from its replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileId {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(meta),
        }
    }
}

impl FsStore {
    /// Opens (creating) the store under `cache_dir`, with its staging directory; the documents
    /// it keeps in memory have a budget of their own ([`crate::memo::DEFAULT_BUDGET`]).
    pub fn open(cache_dir: &Path) -> io::Result<FsStore> {
        FsStore::open_within(
            cache_dir,
            crate::memo::Memos::new(crate::memo::DEFAULT_BUDGET),
        )
    }

    /// Opens the store under `cache_dir`, keeping documents in memory within `memos`' budget
    /// (shared with the server's derived documents).
    pub fn open_within(cache_dir: &Path, memos: crate::memo::Memos) -> io::Result<FsStore> {
        let root = cache_dir.join("data-v1");
        std::fs::create_dir_all(&root)?;
        let staging = super::staging_dir(cache_dir);
        std::fs::create_dir_all(&staging)?;
        let hot = Arc::new(HotEntries::new(memos));
        let tag = cache_dir.join("CACHEDIR.TAG");
        if std::fs::metadata(&tag).map_or(true, |m| m.len() == 0) {
            // Only a marker for backup tools: a full disk must not stop the server for it.
            if let Err(e) = std::fs::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n# This directory is a cache made by repox.\n",
            ) {
                tracing::warn!("cannot write `{}`: {e}", tag.display());
            }
        }
        Ok(FsStore {
            root,
            room: crate::disk::Room::new(&staging),
            staging,
            hot,
            recheck: RECHECK,
            index: Arc::new(Index::open(cache_dir)?.of_files(cache_dir.join("data-v1"))),
        })
    }

    fn file_path(&self, key: &str) -> PathBuf {
        // One allocation per hit: room for the key, a `~` per segment at worst and `~listing`.
        let root = self.root.as_os_str();
        let mut path = PathBuf::with_capacity(root.len() + 2 * key.len() + 10);
        path.push(root);
        if plain_key(key) {
            // Every segment maps to itself: one push instead of one per segment (every hit).
            path.push(key);
            return path;
        }
        let (body, dir) = match key.strip_suffix('/') {
            Some(body) => (body, true),
            None => (key, false),
        };
        for segment in body.split('/') {
            path.push(&*encode_segment(segment));
        }
        if dir {
            path.push("~listing");
        }
        path
    }

    /// The directory holding every key that starts with `prefix`.
    fn prefix_dir(&self, prefix: &str) -> PathBuf {
        let mut path = self.root.clone();
        if let Some((dirs, _)) = prefix.rsplit_once('/') {
            for segment in dirs.split('/') {
                path.push(&*encode_segment(segment));
            }
        }
        path
    }
}

/// Whether `key` is a file key whose segments `file_path` keeps as they are: relative, no empty
/// segment, none that `encode_segment` changes, not a listing (`/` at the end).
fn plain_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.last() != Some(&b'/')
        && std::iter::once(0)
            .chain(slashes(bytes).map(|i| i + 1))
            .all(|start| !matches!(bytes.get(start), Some(b'.' | b'~' | b'/') | None))
}

fn slashes(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'/').then_some(i))
}

fn encode_segment(segment: &str) -> std::borrow::Cow<'_, str> {
    if segment.starts_with('.') || segment.starts_with('~') {
        format!("~{segment}").into()
    } else {
        segment.into()
    }
}

/// The key of the file at `rel` (relative to the data root): the inverse of `file_path`.
fn key_of(rel: &Path) -> Option<String> {
    let mut key = String::new();
    let segments: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    let (last, dirs) = segments.split_last()?;
    for segment in dirs {
        key.push_str(segment.strip_prefix('~').unwrap_or(segment));
        key.push('/');
    }
    if *last != "~listing" {
        key.push_str(last.strip_prefix('~').unwrap_or(last));
    } else if dirs.is_empty() {
        return None;
    }
    Some(key)
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

fn parse_trailer(trailer: &[u8], file_len: u64) -> io::Result<u64> {
    if &trailer[8..16] != MAGIC {
        return Err(corrupt("bad trailer"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&trailer[..8]);
    let meta_len = u64::from_le_bytes(len);
    if meta_len.saturating_add(TRAILER) > file_len {
        return Err(corrupt("metadata longer than file"));
    }
    Ok(meta_len)
}

fn parse_meta(json: &[u8], body_len: u64) -> io::Result<Meta> {
    let meta: Meta = serde_json::from_slice(json).map_err(|_| corrupt("bad metadata"))?;
    if meta.len != body_len {
        return Err(corrupt("length mismatch"));
    }
    Ok(meta)
}

/// Damaged entries are misses (logged); other errors are errors.
fn damaged_is_none<T>(path: &Path, result: io::Result<Option<T>>) -> io::Result<Option<T>> {
    match result {
        Err(e)
            if e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::UnexpectedEof =>
        {
            tracing::warn!(path = %path.display(), "ignoring damaged cache entry: {e}");
            Ok(None)
        }
        other => other,
    }
}

/// Runs `f` on this thread if the runtime can hand the worker's other tasks to another thread
/// while it waits (tokio's `block_in_place`, which wakes one blocking-pool thread to take the
/// worker over and takes the worker back if `f` ends first); `None` on a runtime that cannot
/// (current-thread, as in most tests), where the caller uses the blocking pool.
fn in_place<T>(f: impl FnOnce() -> T) -> Option<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => Some(tokio::task::block_in_place(f)),
        _ => None,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)
}

/// Removes the file at `path`; the bytes it held, `None` when it was not there.
fn remove_file(path: &Path) -> io::Result<Option<u64>> {
    let size = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Ok(None),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(size)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Walks `dir` (under `root`) and sends each entry file whose key starts with `prefix`.
fn walk(
    root: &Path,
    dir: PathBuf,
    prefix: &str,
    out: &tokio::sync::mpsc::Sender<io::Result<(Listed, PathBuf)>>,
) {
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                if out.blocking_send(Err(e)).is_err() {
                    return;
                }
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let Some(key) = path.strip_prefix(root).ok().and_then(key_of) else {
                continue;
            };
            if kind.is_dir() {
                // Descend only where keys may still start with the prefix.
                let dir_key = format!("{key}/");
                if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                    stack.push(path);
                }
                continue;
            }
            if !kind.is_file() || !key.starts_with(prefix) {
                continue;
            }
            let listed = match damaged_is_none(&path, read_head(&path)) {
                Ok(Some((meta, size))) => Ok((
                    Listed {
                        key,
                        size,
                        fetched_at: meta.fetched_at,
                    },
                    path,
                )),
                Ok(None) => continue,
                Err(e) => Err(e),
            };
            if out.blocking_send(listed).is_err() {
                return;
            }
        }
    }
}

impl FsStore {
    /// The entry of a file just read for a hit (`now`), kept hot when it should be: a document
    /// read whole as bytes in memory; any other entry as its open file from its second read
    /// within the doorkeeper's window (`hot.rs`). An artifact whose body was read (a file
    /// shorter than a page, `fs/read.rs`) and not kept is served from those bytes and its file
    /// closed at once: over a large cache nearly every hit is one.
    ///
    /// A kept artifact of up to [`hot::HELD`] bytes is kept, and served, as its body's bytes
    /// (`hot.rs`): those the read took, or one more read of the body if its pages are cached.
    fn served(&self, key: &str, path: &Path, mut read: read::Read, now: u64) -> Entry {
        let document = read.body.is_some() && is_mutable(key, &read.meta);
        let keep = document || self.hot.admit(path);
        // The identity is what tells the kept entry from a replacement; without it (a failed
        // `statx`) the entry is served, not kept.
        let id = if keep { read.id().ok() } else { None };
        let held = !document && id.is_some() && self.hot.holds_in_memory(read.meta.len);
        let body = match read.body {
            Some(bytes) if document || id.is_none() || held => Body::Bytes(bytes),
            _ if held => match read::cached_body(&read.file, read.meta.len) {
                Some(bytes) => Body::Bytes(bytes),
                None => Body::File(Arc::new(read.file)),
            },
            _ => Body::File(Arc::new(read.file)),
        };
        let entry = Entry {
            meta: Arc::new(read.meta),
            body,
        };
        if let Some(id) = id {
            self.hot.insert(path, id, &entry, now);
        }
        entry
    }

    /// Like [`Store::list`], with each entry's path.
    fn list_paths(&self, prefix: &str) -> BoxStream<'static, io::Result<(Listed, PathBuf)>> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let (root, dir, prefix) = (
            self.root.clone(),
            self.prefix_dir(prefix),
            prefix.to_owned(),
        );
        tokio::task::spawn_blocking(move || walk(&root, dir, &prefix, &tx));
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }
}

impl Store for FsStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Entry>>> {
        let path = self.file_path(key);
        Box::pin(async move {
            let now = super::clock::monotonic_millis();
            if let Some(entry) = self.hot.get(&path, now, self.recheck.as_millis() as u64) {
                self.index.touch(key);
                return Ok(Some(entry));
            }
            let mut attempt = read::try_cached(key, &path);
            // A name not in the dentry cache (every miss, a cold hit) is looked up on this
            // thread, its worker's other tasks handed to another thread meanwhile, rather than
            // on the blocking pool: one thread wake-up instead of two on the way to a miss's
            // upstream request. Reads of a file's pages not in memory still go to the pool.
            if let read::Attempt::Blocked(None) = attempt
                && let Some(looked) = in_place(|| read::look_up(key, &path))
            {
                attempt = looked;
            }
            let (result, path) = match attempt {
                read::Attempt::Done(result) => (result, path),
                read::Attempt::Blocked(file) => {
                    let owned = key.to_owned();
                    blocking(move || (read::finish(&owned, &path, file), path)).await?
                }
            };
            match damaged_is_none(&path, result)? {
                Some(read) => {
                    // Only hits are noted: a request for a key the cache does not hold would
                    // take a place among the accesses to write.
                    self.index.touch(key);
                    Ok(Some(self.served(key, &path, read, now)))
                }
                None => Ok(None),
            }
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Arc<Meta>>>> {
        let path = self.file_path(key);
        Box::pin(async move {
            let now = super::clock::monotonic_millis();
            if let Some(meta) = self
                .hot
                .fresh_meta(&path, now, self.recheck.as_millis() as u64)
            {
                return Ok(Some(meta));
            }
            let (result, path) = blocking(move || (read_head(&path), path)).await?;
            Ok(damaged_is_none(&path, result)?.map(|(meta, _)| Arc::new(meta)))
        })
    }

    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Box<dyn Miss>>> {
        let path = self.file_path(key);
        let dir = self.staging.clone();
        let hot = self.hot.clone();
        Box::pin(async move {
            let file = blocking(move || {
                let make = || {
                    tempfile::Builder::new()
                        .prefix(&staging::prefix())
                        .tempfile_in(&dir)
                };
                // The directory is made at start-up; made again only when it went away.
                match make() {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        std::fs::create_dir_all(&dir)?;
                        make()
                    }
                    made => made,
                }
            })
            .await??;
            Ok(Box::new(FsMiss {
                file,
                path,
                hot,
                written: 0,
                key: key.to_owned(),
                index: self.index.clone(),
            }) as Box<dyn Miss>)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, io::Result<Listed>> {
        self.list_paths(prefix)
            .map(|r| r.map(|(listed, _)| listed))
            .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>> {
        let path = self.file_path(key);
        Box::pin(async move {
            self.hot.remove(&path);
            let freed = blocking(move || remove_file(&path)).await??;
            forget(&self.index, key).await;
            Ok(freed)
        })
    }

    fn purge<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Purged>> {
        Box::pin(async move {
            let mut purged = Purged::default();
            let mut found = self.list_paths(prefix);
            while let Some(item) = found.next().await {
                let (listed, path) = item?;
                self.hot.remove(&path);
                forget(&self.index, &listed.key).await;
                if let Some(bytes) = blocking(move || remove_file(&path)).await?? {
                    purged.entries += 1;
                    purged.bytes += bytes;
                }
            }
            Ok(purged)
        })
    }

    fn usage(&self) -> BoxFuture<'_, io::Result<u64>> {
        let root = self.root.clone();
        Box::pin(async move {
            blocking(move || {
                let mut total = 0;
                let mut stack = vec![root];
                while let Some(dir) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        match entry.file_type() {
                            Ok(t) if t.is_dir() => stack.push(entry.path()),
                            Ok(_) => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                            Err(_) => {}
                        }
                    }
                }
                Ok(total)
            })
            .await?
        })
    }

    fn clean_staging(&self, max_age: Duration) -> usize {
        staging::clean(&self.staging, max_age)
    }

    fn has_room(&self) -> bool {
        self.room.has_room()
    }

    fn index(&self) -> Option<&Arc<Index>> {
        Some(&self.index)
    }
}

/// Forgets a removed entry in the index, on the blocking pool (SQLite may wait for another
/// process's lock). A failure costs accounting only: it is logged.
async fn forget(index: &Arc<Index>, key: &str) {
    let (index, key) = (index.clone(), key.to_owned());
    match blocking(move || index.forget(&key)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{e}"),
        Err(e) => tracing::warn!("cache index update failed: {e}"),
    }
}

/// A body being written in the staging directory, deleted on drop unless committed.
pub struct FsMiss {
    file: tempfile::NamedTempFile,
    /// Where it goes when finished.
    path: PathBuf,
    hot: Arc<HotEntries>,
    written: u64,
    key: String,
    index: Arc<Index>,
}

impl Miss for FsMiss {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.as_file_mut().write_all(chunk)?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    fn write_chunks(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> = chunks.iter().map(|c| io::IoSlice::new(c)).collect();
        let mut left = &mut slices[..];
        while !left.is_empty() {
            match self.file.as_file_mut().write_vectored(left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n as u64;
                    io::IoSlice::advance_slices(&mut left, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn tail(&self) -> io::Result<Body> {
        Ok(Body::File(Arc::new(self.file.as_file().try_clone()?)))
    }

    fn finish(self: Box<Self>, meta: Meta) -> BoxFuture<'static, io::Result<Entry>> {
        let FsMiss {
            mut file,
            path,
            hot,
            written,
            key,
            index,
        } = *self;
        Box::pin(async move {
            let stale = path.clone();
            let result = blocking(move || {
                if written != meta.len {
                    return Err(corrupt("staged body length differs from its metadata"));
                }
                let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
                let f = file.as_file_mut();
                f.seek(SeekFrom::Start(written))?;
                f.write_all(&json)?;
                f.write_all(&(json.len() as u64).to_le_bytes())?;
                f.write_all(MAGIC)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // The committed file is the one written: its handle reads the entry's body.
                let reader = file.as_file().try_clone()?;
                file.persist(&path).map_err(|e| e.error)?;
                let on_disk = written + json.len() as u64 + TRAILER;
                if let Err(e) = index.record(&key, on_disk, is_mutable(&key, &meta)) {
                    tracing::warn!("{e}");
                }
                Ok(Entry {
                    meta: Arc::new(meta),
                    body: Body::File(Arc::new(reader)),
                })
            })
            .await?;
            hot.remove(&stale);
            result
        })
    }
}

impl std::fmt::Debug for FsMiss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsMiss")
            .field("staged", &self.file.path())
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Digests;
    use futures_util::TryStreamExt;

    fn meta(len: u64) -> Meta {
        Meta {
            len,
            digests: Digests {
                sha256: "ab".repeat(32),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    async fn put(store: &FsStore, key: &str, body: &[u8], mut m: Meta) -> Entry {
        let mut miss = store.begin(key).await.unwrap();
        miss.write(body).unwrap();
        m.len = body.len() as u64;
        miss.finish(m).await.unwrap()
    }

    #[tokio::test]
    async fn write_then_get_small_and_large() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        for (key, len) in [
            ("m/a/b.jar", 10usize),
            ("m/a/big.jar", 600_000),
            ("m/.meta/x", 3),
            ("m/a/", 4),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let committed = put(&store, key, &data, meta(0)).await;
            assert_eq!(
                committed.bytes().await.unwrap(),
                data,
                "the finished handle reads it"
            );
            let entry = store.get(key).await.unwrap().expect("stored");
            assert_eq!(entry.meta.len, len as u64);
            assert_eq!(entry.bytes().await.unwrap(), data);
            let tail: Vec<Bytes> = entry
                .stream_from(len as u64 / 2)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(tail.concat(), &data[len / 2..]);
            assert_eq!(store.head(key).await.unwrap().unwrap().len, len as u64);
        }
        assert!(dir.path().join("data-v1/m/~.meta/x").exists());
        assert!(dir.path().join("data-v1/m/a/~listing").exists());
        assert!(dir.path().join("CACHEDIR.TAG").exists());
        assert!(store.usage().await.unwrap() > 600_000);
        assert!(store.head("m/a/none.jar").await.unwrap().is_none());
    }

    /// A name the kernel has not looked up yet (every miss) is told missing without the
    /// blocking pool, whose only thread is held here: on the pool, the look-up would wait for
    /// it. (`block_in_place` offers the worker to a pool thread at once; with none free, the
    /// worker is taken back when the look-up ends.)
    #[test]
    fn a_name_not_in_the_dentry_cache_is_looked_up_without_the_blocking_pool() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FsStore::open(dir.path()).unwrap());
        rt.block_on(put(&store, "m/a/b.jar", b"body", meta(0)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (holding, hold) = std::sync::mpsc::channel();
        rt.spawn_blocking(move || {
            holding.send(()).unwrap();
            let _ = held.recv();
        });
        hold.recv().unwrap();
        let s = store.clone();
        let answered = rt.block_on(async move {
            let task = tokio::spawn(async move {
                let missing = s.get("m/new/x.jar").await.unwrap().is_none();
                let found = s.get("m/a/b.jar").await.unwrap().is_some();
                (missing, found)
            });
            tokio::time::timeout(Duration::from_secs(10), task).await
        });
        drop(release);
        let (missing, found) = answered
            .expect("answered while the blocking pool was busy")
            .unwrap();
        assert!(missing, "a name never stored is missing");
        assert!(found, "a stored entry is found");
    }

    #[tokio::test]
    async fn a_miss_makes_the_staging_directory_again_when_it_went_away() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        std::fs::remove_dir(&store.staging).unwrap();
        let mut miss = store.begin("m/a.jar").await.unwrap();
        miss.write(b"hello").unwrap();
        miss.finish(meta(5)).await.unwrap();
        assert!(store.staging.is_dir());
        let entry = store.get("m/a.jar").await.unwrap().expect("stored");
        assert_eq!(entry.bytes().await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_miss_is_readable_while_it_grows_and_invisible_until_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let mut miss = store.begin("m/a.jar").await.unwrap();
        miss.write(b"hello ").unwrap();
        let tail = miss.tail().unwrap();
        assert_eq!(tail.read(0, 6).await.unwrap(), "hello ");
        miss.write(b"world").unwrap();
        assert_eq!(tail.read(6, 5).await.unwrap(), "world");
        assert!(store.head("m/a.jar").await.unwrap().is_none());
        assert!(store.get("m/a.jar").await.unwrap().is_none());
        assert!(
            miss.finish(meta(3)).await.is_err(),
            "a length that disagrees with the bytes written is refused"
        );
        assert!(store.get("m/a.jar").await.unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn dropped_miss_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        {
            let mut miss = store.begin("m/a.jar").await.unwrap();
            miss.write(b"partial").unwrap();
            assert_eq!(
                std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
                1
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert!(store.get("m/a.jar").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn list_delete_and_purge_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let keys = [
            "maven/org/a/1/a.jar",
            "maven/org/a/1/a.pom",
            "maven/org/ab/x.jar",
            "maven/org/.hidden/~x",
            "maven/org/",
            "npm/left-pad",
        ];
        for (i, key) in keys.iter().enumerate() {
            let mut m = meta(0);
            m.fetched_at = 1000 + i as u64;
            put(&store, key, key.as_bytes(), m).await;
        }
        std::fs::write(dir.path().join("data-v1/maven/org/junk"), b"no trailer").unwrap();
        let listed = |prefix: &'static str| {
            let store = &store;
            async move {
                let mut got: Vec<Listed> = store.list(prefix).try_collect().await.unwrap();
                got.sort_by(|a, b| a.key.cmp(&b.key));
                got
            }
        };
        let all = listed("").await;
        let mut names: Vec<&str> = all.iter().map(|l| l.key.as_str()).collect();
        let mut expected = keys.to_vec();
        expected.sort();
        names.sort();
        assert_eq!(
            names, expected,
            "every entry, named by its key; damaged files skipped"
        );
        let pom = all.iter().find(|l| l.key == "maven/org/a/1/a.pom").unwrap();
        assert_eq!(pom.fetched_at, 1001);
        assert!(
            pom.size > "maven/org/a/1/a.pom".len() as u64,
            "size counts the whole file"
        );
        let a: Vec<String> = listed("maven/org/a")
            .await
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(
            a,
            [
                "maven/org/a/1/a.jar",
                "maven/org/a/1/a.pom",
                "maven/org/ab/x.jar"
            ],
            "a prefix is a string prefix, not a directory"
        );
        assert_eq!(listed("maven/org/a/").await.len(), 2);
        assert!(listed("pypi/").await.is_empty());

        store.get("npm/left-pad").await.unwrap().expect("now hot");
        let freed = store.delete("npm/left-pad").await.unwrap();
        assert!(freed.is_some_and(|b| b > 12));
        assert!(
            store.get("npm/left-pad").await.unwrap().is_none(),
            "not served hot"
        );
        assert_eq!(store.delete("npm/left-pad").await.unwrap(), None);

        let purged = store.purge("maven/org/a/").await.unwrap();
        assert_eq!(purged.entries, 2);
        let under_a = all.iter().filter(|l| l.key.starts_with("maven/org/a/"));
        assert_eq!(purged.bytes, under_a.map(|l| l.size).sum::<u64>());
        assert!(store.head("maven/org/a/1/a.jar").await.unwrap().is_none());
        assert!(store.head("maven/org/ab/x.jar").await.unwrap().is_some());
        assert_eq!(store.purge("").await.unwrap().entries, 3);
        assert!(listed("").await.is_empty());
    }

    #[test]
    fn plain_keys_map_to_the_same_paths_as_segment_by_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        for key in [
            "m/org/a/1.0/a-1.0.jar",
            "m/a",
            "m",
            "m/.hidden",
            "m/~x/y",
            "m/dir/",
            "m//b",
            "/m/b",
            "m/b.",
            "m/b~",
        ] {
            let mut slow = store.root.clone();
            let (body, listing) = match key.strip_suffix('/') {
                Some(body) => (body, true),
                None => (key, false),
            };
            for segment in body.split('/') {
                slow.push(&*encode_segment(segment));
            }
            if listing {
                slow.push("~listing");
            }
            assert_eq!(store.file_path(key).as_os_str(), slow.as_os_str(), "{key}");
        }
        assert!(plain_key("m/org/a-1.0.jar") && !plain_key("m/.x") && !plain_key("m//x"));
    }

    #[test]
    fn keys_map_to_paths_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        for key in ["m/a/b.jar", "m/.x/~y", "m/a/", "m/~listing", "m/~listing/"] {
            let rel = store.file_path(key);
            let rel = rel.strip_prefix(&store.root).unwrap();
            assert_eq!(key_of(rel).as_deref(), Some(key), "{}", rel.display());
        }
    }

    #[tokio::test]
    async fn hot_entries_follow_replacements_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ours, theirs) = (
            FsStore::open(dir.path()).unwrap(),
            FsStore::open(dir.path()).unwrap(),
        );
        ours.recheck = Duration::from_secs(3600);
        let with_url = |body: &[u8]| {
            let mut m = meta(body.len() as u64);
            m.url = String::from_utf8_lossy(body).into_owned();
            m
        };
        put(&ours, "m/meta.xml", b"old", with_url(b"old")).await;
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "old"
        );
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "old",
            "served hot"
        );
        put(&theirs, "m/meta.xml", b"newer", with_url(b"newer")).await;
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "old",
            "the hot copy is served until it is due for a check"
        );
        ours.recheck = Duration::ZERO;
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "newer"
        );
        theirs.delete("m/meta.xml").await.unwrap();
        assert!(ours.get("m/meta.xml").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn torn_or_foreign_files_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("data-v1/m")).unwrap();
        std::fs::write(
            dir.path().join("data-v1/m/x.jar"),
            b"half a jar without trailer",
        )
        .unwrap();
        assert!(store.get("m/x.jar").await.unwrap().is_none());
        assert!(store.head("m/x.jar").await.unwrap().is_none());
        assert!(store.get("m/missing.jar").await.unwrap().is_none());
    }
}
