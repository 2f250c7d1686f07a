//! The cache store: where committed entries live, behind one interface so that an object-store
//! backend (S3) can sit beside the filesystem one. The shape follows pingora-cache's storage:
//!
//! - a **hit handle** ([`Entry`]): the [`Meta`] plus a [`Body`] read whole, as a stream from an
//!   offset, or by range; a backend on the local disk also exposes the open file, so the hit
//!   path stays positional reads (and zero-copy later);
//! - a **miss handle** ([`Miss`], from [`Store::begin`]): the fill writes chunks into it, clients
//!   coalesced on the fill tail it while it grows ([`Miss::tail`]), and [`Miss::finish`] commits
//!   it atomically. A miss dropped without `finish` is discarded, so a partial or corrupt
//!   download never becomes a cache entry;
//! - [`Store::head`] (metadata only, for existence checks), [`Store::list`] of a key prefix,
//!   [`Store::delete`] and [`Store::purge`] of a prefix, [`Store::usage`];
//! - the staging area, which belongs to the backend ([`Store::clean_staging`], [`Store::has_room`]).
//!
//! [`open`] builds the configured backend: [`FsStore`] on `cache_dir`, or [`S3Store`] when
//! `[storage] url` names an S3-compatible bucket.
//!
//! Keys are `REPO/PATH` strings built from validated [`crate::path::RepoPath`]s. A key ending in
//! `/` is a directory listing. A key must not be both a file and the prefix of another key
//! (`a/b` and `a/b/c`); ecosystems whose URLs do that choose distinct keys.

mod body;
mod chunks;
pub mod clock;
pub mod evict;
mod fs;
pub mod index;
mod meta;
mod s3;
mod staging;
pub mod walk;

pub use body::{Body, RangeRead};
pub use fs::FsStore;
pub use index::Index;
pub use meta::{Digests, Meta, Verification, now_secs};
pub use s3::S3Store;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::config::Config;
use crate::memo::Memos;

/// A committed entry: the hit handle.
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
        self.body.read(0, self.meta.len).await
    }

    /// The bytes `[start, end)` of the body as a stream of chunks.
    pub fn range(&self, start: u64, end: u64) -> BoxStream<'static, io::Result<Bytes>> {
        self.body.stream(start, end.min(self.meta.len))
    }

    /// The body from `offset` to its end as a stream of chunks.
    pub fn stream_from(&self, offset: u64) -> BoxStream<'static, io::Result<Bytes>> {
        self.range(offset, self.meta.len)
    }
}

/// One committed entry as [`Store::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Bytes it takes in the store (body and metadata).
    pub size: u64,
    /// When its body was fetched (Unix seconds), from its metadata.
    pub fetched_at: u64,
}

/// What a [`Store::purge`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Entries removed.
    pub entries: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// A body being written for one key: the miss handle.
///
/// Dropped without [`Miss::finish`], it is discarded and nothing becomes visible.
pub trait Miss: Send + 'static {
    /// Appends a chunk. This may block on disk or network I/O: call it from a blocking thread.
    fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Appends `chunks` in order: one vectored write where the backend can (a fill hands on
    /// the upstream's chunks as they came, rather than joining them into one buffer first).
    fn write_chunks(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        chunks.iter().try_for_each(|chunk| self.write(chunk))
    }
    /// A reader of what was written so far, for the clients that tail the download while it
    /// grows. Read only bytes the writer reported as written.
    fn tail(&self) -> io::Result<Body>;
    /// Commits the body under its key with `meta` (whose `len` must equal the bytes written),
    /// replacing any previous entry atomically, and returns the committed entry.
    fn finish(self: Box<Self>, meta: Meta) -> BoxFuture<'static, io::Result<Entry>>;
}

/// What [`Store::claim`] found for a key about to be downloaded.
pub enum Claim {
    /// This process downloads it. Other processes sharing the store wait while the guard lives;
    /// dropping it releases the key. `None`: the backend has no such guard.
    Fill(Option<Box<dyn std::any::Any + Send + Sync>>),
    /// Another node committed the key while this one waited: read it from the store.
    Committed,
}

/// A storage backend for committed entries.
pub trait Store: Send + Sync + 'static {
    /// Looks up an entry. A missing, truncated or unreadable entry is `None`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Entry>>>;
    /// The metadata of an entry, without opening its body: for existence checks.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Arc<Meta>>>>;
    /// Starts writing a new body for `key`; see [`Miss`].
    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Box<dyn Miss>>>;
    /// Every committed entry whose key starts with `prefix` (`""` lists all), in no particular
    /// order. Damaged files are skipped.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, io::Result<Listed>>;
    /// Removes an entry; returns the bytes freed, `None` when there was none.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>>;
    /// Removes every entry whose key starts with `prefix`.
    fn purge<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Purged>>;
    /// Total bytes held, computed by a walk (used once at start-up for the size metric).
    fn usage(&self) -> BoxFuture<'_, io::Result<u64>>;
    /// Removes staging leftovers of ended processes and anything staged longer than `max_age`
    /// ago; returns how many. Blocking.
    fn clean_staging(&self, max_age: Duration) -> usize;
    /// False when new bodies cannot be staged (a full disk): misses are then passed through.
    fn has_room(&self) -> bool;
    /// Called before a cold download of `key`. A store shared by several nodes (S3) returns
    /// when this node may download it, or when another node's download of it was committed,
    /// so that the nodes download it once in total. Default: download now.
    fn claim<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, io::Result<Claim>> {
        Box::pin(async { Ok(Claim::Fill(None)) })
    }
    /// The entry index that accounts for this store's size and accesses (`index.rs`), if any.
    fn index(&self) -> Option<&Arc<Index>> {
        None
    }
}

/// Opens the store `config` asks for: the bucket of `[storage] url`, else the filesystem store
/// under `[server] cache_dir`. The documents it keeps in memory count against `memos`' budget.
pub fn open(config: &Config, memos: &Memos) -> io::Result<Arc<dyn Store>> {
    if let Some(url) = &config.storage.url {
        return Ok(Arc::new(s3::open(config, url, memos)?));
    }
    Ok(Arc::new(FsStore::open_within(
        &cache_dir(config),
        memos.clone(),
    )?))
}

/// The cache directory of `config` (`repox-cache` when unset).
pub fn cache_dir(config: &Config) -> PathBuf {
    config
        .server
        .cache_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("repox-cache"))
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
