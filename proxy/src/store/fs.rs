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
//! (`a/b/`) as `a/b/~listing`, so no key can name a file repox uses itself or escape the tree.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::{Body, Entry, Meta, Staged, Store, read_exact_at};

const MAGIC: &[u8; 8] = b"REPOXv1\n";
const TRAILER: u64 = 16;
/// Bodies up to this size are read into memory together with their metadata.
const SMALL: u64 = 256 * 1024;

/// Memory held by the hot-entry cache.
const HOT_BYTES: u64 = 32 * 1024 * 1024;
/// How long a hot entry is served without checking its file again.
const RECHECK: Duration = Duration::from_secs(1);

/// Entries as files under a cache directory.
///
/// Small entries are also kept in memory (up to [`HOT_BYTES`]), so a hit on a hot file costs no
/// system call at all, instead of an open and a read on the blocking pool. At most every
/// [`RECHECK`] a `stat` checks that the file is still the one that was read (inode, length,
/// mtime): this process drops the hot copy whenever it replaces or removes an entry itself, and
/// another process sharing the directory replaces entries by rename, which changes the inode, so
/// its changes show within that interval.
pub struct FsStore {
    root: PathBuf,
    hot: quick_cache::sync::Cache<PathBuf, Hot, HotWeight>,
    /// The clock hot entries' check times count from.
    epoch: Instant,
    recheck: Duration,
}

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Hot {
    id: FileId,
    entry: Entry,
    /// When the file was last seen unchanged, in milliseconds since [`FsStore::epoch`].
    checked: Arc<AtomicU64>,
}

#[derive(Clone)]
struct HotWeight;

impl quick_cache::Weighter<PathBuf, Hot> for HotWeight {
    fn weight(&self, key: &PathBuf, hot: &Hot) -> u64 {
        hot.entry.meta.len + key.as_os_str().len() as u64 + 512
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
    /// Opens (creating) the store under `cache_dir`.
    pub fn open(cache_dir: &Path) -> io::Result<FsStore> {
        let root = cache_dir.join("data-v1");
        std::fs::create_dir_all(&root)?;
        let hot = quick_cache::sync::Cache::with_weighter(4096, HOT_BYTES, HotWeight);
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
            hot,
            epoch: Instant::now(),
            recheck: RECHECK,
        })
    }

    fn file_path(&self, key: &str) -> PathBuf {
        let mut path = self.root.clone();
        let (body, dir) = match key.strip_suffix('/') {
            Some(body) => (body, true),
            None => (key, false),
        };
        for segment in body.split('/') {
            if segment.starts_with('.') || segment.starts_with('~') {
                path.push(format!("~{segment}"));
            } else {
                path.push(segment);
            }
        }
        if dir {
            path.push("~listing");
        }
        path
    }
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

fn parse_trailer(trailer: &[u8], file_len: u64) -> io::Result<u64> {
    if &trailer[8..16] != MAGIC {
        return Err(corrupt("bad trailer"));
    }
    let meta_len = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
    // A corrupt length near u64::MAX must not wrap around.
    if meta_len
        .checked_add(TRAILER)
        .is_none_or(|end| end > file_len)
    {
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

fn read_entry(path: &Path) -> io::Result<Option<(Entry, FileId)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let stat = file.metadata()?;
    let id = FileId::of(&stat);
    let len = stat.len();
    if len < TRAILER {
        return Err(corrupt("too short"));
    }
    if len <= SMALL + 4096 {
        let mut all = Vec::with_capacity(len as usize);
        file.read_to_end(&mut all)?;
        if all.len() as u64 != len {
            return Err(corrupt("changed while read"));
        }
        let meta_len = parse_trailer(&all[all.len() - TRAILER as usize..], len)?;
        let body_len = len - TRAILER - meta_len;
        let meta = parse_meta(&all[body_len as usize..(len - TRAILER) as usize], body_len)?;
        let mut bytes = Bytes::from(all);
        bytes.truncate(body_len as usize);
        let entry = Entry {
            meta: Arc::new(meta),
            body: Body::Bytes(bytes),
        };
        return Ok(Some((entry, id)));
    }
    let mut trailer = [0u8; TRAILER as usize];
    file.seek(SeekFrom::Start(len - TRAILER))?;
    file.read_exact(&mut trailer)?;
    let meta_len = parse_trailer(&trailer, len)?;
    let body_len = len - TRAILER - meta_len;
    let mut json = vec![0u8; meta_len as usize];
    read_exact_at(&file, &mut json, body_len)?;
    let meta = parse_meta(&json, body_len)?;
    let entry = Entry {
        meta: Arc::new(meta),
        body: Body::File(Arc::new(file)),
    };
    Ok(Some((entry, id)))
}

impl Store for FsStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Entry>>> {
        let path = self.file_path(key);
        Box::pin(async move {
            let now = self.epoch.elapsed().as_millis() as u64;
            if let Some(hot) = self.hot.get(&path) {
                if now.saturating_sub(hot.checked.load(Ordering::Relaxed))
                    < self.recheck.as_millis() as u64
                {
                    return Ok(Some(hot.entry));
                }
                // One stat of a file whose inode is cached: cheap enough for this thread.
                match std::fs::metadata(&path) {
                    Ok(stat) if FileId::of(&stat) == hot.id => {
                        hot.checked.store(now, Ordering::Relaxed);
                        return Ok(Some(hot.entry));
                    }
                    _ => {
                        self.hot.remove(&path);
                    }
                }
            }
            let (result, path) = tokio::task::spawn_blocking(move || (read_entry(&path), path))
                .await
                .map_err(io::Error::other)?;
            match result {
                Ok(Some((entry, id))) => {
                    if matches!(entry.body, Body::Bytes(_)) {
                        self.hot.insert(
                            path,
                            Hot {
                                id,
                                entry: entry.clone(),
                                checked: Arc::new(AtomicU64::new(now)),
                            },
                        );
                    }
                    Ok(Some(entry))
                }
                Ok(None) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    tracing::warn!(path = %path.display(), "ignoring damaged cache entry: {e}");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, body: Staged, meta: Meta) -> BoxFuture<'a, io::Result<()>> {
        let path = self.file_path(key);
        let stale = path.clone();
        Box::pin(async move {
            let result = tokio::task::spawn_blocking(move || {
                let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
                let mut temp = body.into_inner();
                let file = temp.as_file_mut();
                let body_len = file.metadata()?.len();
                if body_len != meta.len {
                    return Err(corrupt("staged body length differs from its metadata"));
                }
                file.seek(SeekFrom::End(0))?;
                file.write_all(&json)?;
                file.write_all(&(json.len() as u64).to_le_bytes())?;
                file.write_all(MAGIC)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                temp.persist(&path).map_err(|e| e.error)?;
                Ok(())
            })
            .await
            .map_err(io::Error::other)?;
            self.hot.remove(&stale);
            result
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        let path = self.file_path(key);
        Box::pin(async move {
            self.hot.remove(&path);
            match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn usage(&self) -> BoxFuture<'_, io::Result<u64>> {
        let root = self.root.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
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
            .await
            .map_err(io::Error::other)?
        })
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Digests, read_at};

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

    #[tokio::test]
    async fn put_then_get_small_and_large() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        for (key, len) in [
            ("m/a/b.jar", 10usize),
            ("m/a/big.jar", 600_000),
            ("m/.meta/x", 3),
            ("m/a/", 4),
        ] {
            let staged = Staged::create(&dir.path().join("tmp")).unwrap();
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            staged.file().write_all(&data).unwrap();
            store.put(key, staged, meta(len as u64)).await.unwrap();
            let entry = store.get(key).await.unwrap().expect("stored");
            assert_eq!(entry.meta.len, len as u64);
            let body = match entry.body {
                Body::Bytes(b) => b.to_vec(),
                Body::File(f) => {
                    let mut buf = vec![0; len];
                    let n = read_at(&f, &mut buf, 0).unwrap();
                    buf.truncate(n);
                    buf
                }
            };
            assert_eq!(body.len(), len);
            assert_eq!(body, data);
        }
        assert!(dir.path().join("data-v1/m/~.meta/x").exists());
        assert!(dir.path().join("data-v1/m/a/~listing").exists());
        assert!(dir.path().join("CACHEDIR.TAG").exists());
        assert!(store.usage().await.unwrap() > 600_000);
    }

    #[tokio::test]
    async fn hot_entries_follow_replacements_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ours, theirs) = (
            FsStore::open(dir.path()).unwrap(),
            FsStore::open(dir.path()).unwrap(),
        );
        ours.recheck = Duration::from_secs(3600);
        let staged = |body: &[u8]| {
            let staged = Staged::create(&dir.path().join("tmp")).unwrap();
            staged.file().write_all(body).unwrap();
            let mut m = meta(body.len() as u64);
            m.url = String::from_utf8_lossy(body).into_owned();
            (staged, m)
        };
        let (s, m) = staged(b"old");
        ours.put("m/meta.xml", s, m).await.unwrap();
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "old"
        );
        assert_eq!(
            ours.get("m/meta.xml").await.unwrap().unwrap().meta.url,
            "old",
            "served hot"
        );
        let (s, m) = staged(b"newer");
        theirs.put("m/meta.xml", s, m).await.unwrap();
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
        theirs.remove("m/meta.xml").await.unwrap();
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
        assert!(store.get("m/missing.jar").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn dropped_staged_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("tmp");
        {
            let staged = Staged::create(&staging).unwrap();
            staged.file().write_all(b"partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
}
