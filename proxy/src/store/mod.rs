//! The cache store: where committed entries live, behind a small interface so that an
//! object-store backend can sit beside the filesystem one.
//!
//! An entry is a body plus its [`Meta`]. Bodies are written first to a [`Staged`] file in the
//! local staging directory (the fill streams into it and concurrent clients tail it); only a
//! complete, verified body is handed to [`Store::put`], which makes it visible atomically. A
//! staged file dropped without `put` is deleted, so a partial or corrupt download never becomes
//! a cache entry.
//!
//! Keys are `REPO/PATH` strings built from validated [`crate::path::RepoPath`]s. A key ending in
//! `/` is a directory listing. A key must not be both a file and the prefix of another key
//! (`a/b` and `a/b/c`); ecosystems whose URLs do that choose distinct keys.

pub mod evict;
mod fs;
pub mod index;
mod meta;
mod staging;
pub mod walk;

pub use fs::FsStore;
pub use index::Index;
pub use meta::{Digests, Meta, Verification, now_secs};
pub use staging::clean_staging;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

/// A committed entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What is known about the body.
    pub meta: Arc<Meta>,
    /// The body itself.
    pub body: Body,
}

impl Entry {
    /// An entry made in memory (a rewritten page), with its own digest-based ETag.
    pub fn from_bytes(
        body: Bytes,
        content_type: &str,
        upstream_last_modified: Option<String>,
        fetched_at: u64,
    ) -> Entry {
        use sha2::Digest;
        let meta = Meta {
            len: body.len() as u64,
            content_type: Some(content_type.to_owned()),
            digests: Digests {
                sha256: hex::encode(sha2::Sha256::digest(&body)),
                ..Digests::default()
            },
            upstream_last_modified,
            fetched_at,
            ..Meta::default()
        };
        Entry {
            meta: Arc::new(meta),
            body: Body::Bytes(body),
        }
    }

    /// The whole body in memory (reads the file for large entries).
    pub async fn bytes(&self) -> io::Result<Bytes> {
        match &self.body {
            Body::Bytes(b) => Ok(b.clone()),
            Body::File(f) => {
                let (file, len) = (f.clone(), self.meta.len as usize);
                tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; len];
                    let mut filled = 0;
                    while filled < len {
                        let n = read_at(&file, &mut buf[filled..], filled as u64)?;
                        if n == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "cache entry shorter than its metadata",
                            ));
                        }
                        filled += n;
                    }
                    Ok(Bytes::from(buf))
                })
                .await
                .map_err(io::Error::other)?
            }
        }
    }
}

/// Where an entry's body can be read.
#[derive(Debug, Clone)]
pub enum Body {
    /// Small bodies are read whole with the metadata.
    Bytes(Bytes),
    /// Larger bodies are read from an open file, `len` bytes from offset 0.
    File(Arc<File>),
}

/// A storage backend for committed entries.
pub trait Store: Send + Sync + 'static {
    /// Looks up an entry. A missing, truncated or unreadable entry is `None`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Entry>>>;
    /// Commits a staged body under `key` with `meta`, replacing any previous entry atomically.
    fn put<'a>(&'a self, key: &'a str, body: Staged, meta: Meta) -> BoxFuture<'a, io::Result<()>>;
    /// Removes an entry, if present.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;
    /// Total bytes held, computed by a walk (used once at start-up for the size metric).
    fn usage(&self) -> BoxFuture<'_, io::Result<u64>>;
}

/// A body being written in the staging directory, deleted on drop unless committed.
#[derive(Debug)]
pub struct Staged {
    file: tempfile::NamedTempFile,
}

impl Staged {
    /// Creates an empty staged file in `dir` (created if needed).
    pub fn create(dir: &Path) -> io::Result<Staged> {
        std::fs::create_dir_all(dir)?;
        let file = tempfile::Builder::new()
            .prefix(&staging::prefix())
            .tempfile_in(dir)?;
        Ok(Staged { file })
    }

    /// A second handle on the same file, for positional reads while it grows.
    pub fn reader(&self) -> io::Result<File> {
        self.file.as_file().try_clone()
    }

    /// The writable file.
    pub fn file(&self) -> &File {
        self.file.as_file()
    }

    /// Where the file is (for backends that upload it).
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub(crate) fn into_inner(self) -> tempfile::NamedTempFile {
        self.file
    }
}

/// Reads up to `buf.len()` bytes at `offset` without moving any shared cursor.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; a shorter file is an error.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = read_at(file, &mut buf[filled..], offset + filled as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "cache file shorter than expected",
            ));
        }
        filled += n;
    }
    Ok(())
}

/// Reads `len` bytes at `offset` on a blocking thread.
pub async fn read_bytes_at(file: Arc<File>, offset: u64, len: usize) -> io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; len];
        read_exact_at(&file, &mut buf, offset)?;
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(io::Error::other)?
}

/// The staging directory under a cache dir.
pub fn staging_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("tmp")
}
