//! The S3-compatible store: committed entries as objects in a bucket that any number of repox
//! nodes share (AWS S3, MinIO, Ceph RGW, Garage, R2...), through the `object_store` crate.
//!
//! Layout: `<prefix>/data-v1/<key>` holds one entry per object in the same shape as a file of
//! [`super::FsStore`]: the body, the [`Meta`] as JSON, then a 16-byte trailer (metadata length,
//! little-endian u64, and the magic). A hit is one GET of the object's last
//! [`TAIL`] bytes: a small entry comes back whole, a large one brings its metadata and the
//! object's size, and its body is then read by range, pinned to that object's ETag so a
//! replacement by another node cannot mix two versions.
//!
//! A miss ([`S3Miss`]) is a local staging file, tailed by clients exactly as with the filesystem
//! store. A large body is uploaded in parts while it downloads (a multipart upload, which S3
//! keeps invisible until it is completed); `finish` completes it, or PUTs a small body whole, so
//! the object appears under its final key only when it is whole and verified. A miss dropped
//! before `finish` aborts its upload; a node killed mid-download leaves at most an incomplete
//! multipart upload, which no reader can see (a bucket lifecycle rule reclaims its parts).
//!
//! Nodes download a key once between them ([`Store::claim`]): the first creates a lease object
//! under `<prefix>/lease-v1/` with a conditional PUT (`If-None-Match: *`), the others poll for
//! the committed object; the lease is renewed while the download runs and deleted when it ends,
//! and one nobody renewed (a dead node) is taken over.
//!
//! Hot immutable entries are also kept on the local disk, in an [`FsStore`] under
//! `<cache_dir>/s3-local/` bounded by `[storage] local_cache_size` through the usual eviction
//! (`evict.rs`): entries never change once committed, so the copy stays right. Mutable documents
//! (index pages, metadata) are always read from the bucket.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::{Path, PathPart};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutPayload, WriteMultipart,
};

use super::index::is_mutable;
use super::{Body, Claim, Entry, FsStore, Listed, Meta, Miss, Purged, RangeRead, Store, staging};
use crate::config::{Config, StorageConfig};

const MAGIC: &[u8; 8] = b"REPOXv1\n";
const TRAILER: u64 = 16;
/// Bytes read from the end of an object on a hit: entries up to about this size are one GET.
const TAIL: u64 = 256 * 1024;
/// Staging files larger than this are uploaded in parts when `finish` uploads them.
const MULTIPART_ABOVE: u64 = 16 * 1024 * 1024;
/// Part size of multipart uploads (S3 wants at least 5 MiB).
const PART: usize = 8 * 1024 * 1024;
/// Parts uploaded at once.
const PART_CONCURRENCY: usize = 4;
/// How long a node waits for another node's download of the same key before downloading it
/// too.
const LEASE_WAIT: Duration = Duration::from_secs(600);
/// A lease not renewed for this long belongs to a dead node and is taken over...
const LEASE_STALE: Duration = Duration::from_secs(20);
/// ...while a live node renews its lease this often.
const LEASE_RENEW: Duration = Duration::from_secs(5);
/// How often a waiting node looks for the committed object.
const LEASE_POLL: Duration = Duration::from_millis(100);
/// Default `local_cache_size`.
const LOCAL_DEFAULT: u64 = 1 << 30;

/// Entries as objects in an S3-compatible bucket.
pub struct S3Store {
    objects: Arc<dyn ObjectStore>,
    /// `<prefix>/data-v1`.
    root: Path,
    /// `<prefix>/lease-v1`: who is downloading what (see [`Store::claim`]).
    leases: Path,
    staging: PathBuf,
    /// Free space under `staging`: looked at once a second while plenty is free (`disk.rs`).
    room: crate::disk::Room,
    /// Local copies of hot immutable entries.
    local: Option<Arc<FsStore>>,
    /// Entries at most this large get a local copy.
    local_max_entry: u64,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// `s3://bucket/prefix` split into the bucket and the prefix's segments.
fn parse_url(url: &str) -> io::Result<(String, Vec<String>)> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("[storage] url `{url}`: {why}; write it as s3://BUCKET or s3://BUCKET/PREFIX"),
        )
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("only s3:// URLs are supported"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket"));
    }
    let segments = prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if segments.iter().any(|s| s == "." || s == "..") {
        return Err(bad("`.` and `..` are not prefix segments"));
    }
    Ok((bucket.to_owned(), segments))
}

impl S3Store {
    /// Opens the bucket `storage.url` names; local copies and staging go under `cache_dir`.
    /// Credentials come from the standard AWS environment variables. Local documents kept in
    /// memory count against `memos`' budget.
    pub fn open(
        storage: &StorageConfig,
        url: &str,
        cache_dir: &FsPath,
        memos: &crate::memo::Memos,
    ) -> io::Result<S3Store> {
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if let Some(region) = &storage.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &storage.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let objects = builder.build().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("[storage] url `{url}`: {e}"),
            )
        })?;
        let under = |dir: &'static str| {
            Path::from_iter(
                prefix
                    .iter()
                    .map(|s| PathPart::from(s.as_str()))
                    .chain([PathPart::from(dir)]),
            )
        };
        let (root, leases) = (under("data-v1"), under("lease-v1"));
        let staging = super::staging_dir(cache_dir);
        std::fs::create_dir_all(&staging)?;
        let local_size = storage.local_cache_size.unwrap_or(LOCAL_DEFAULT);
        let local = if local_size > 0 {
            let local = Arc::new(FsStore::open_within(
                &cache_dir.join("s3-local"),
                memos.clone(),
            )?);
            // The bound is kept by the usual eviction, run while a runtime exists (the server).
            if tokio::runtime::Handle::try_current().is_ok()
                && let Some(index) = local.index()
            {
                let weak: std::sync::Weak<dyn Store> =
                    Arc::downgrade(&(local.clone() as Arc<dyn Store>));
                super::evict::upkeep(
                    weak,
                    index,
                    StorageConfig {
                        max_size: Some(local_size),
                        ..StorageConfig::default()
                    },
                );
            }
            Some(local)
        } else {
            None
        };
        Ok(S3Store {
            objects: Arc::new(objects),
            root,
            leases,
            room: crate::disk::Room::new(&staging),
            staging,
            local,
            local_max_entry: (local_size / 8).min(TAIL * 64),
        })
    }

    /// The object of `key`: segments as in `FsStore` (`.`/`~` get a `~` prefix, a listing is
    /// `~listing`).
    fn object_path(&self, key: &str) -> Path {
        path_under(&self.root, key)
    }

    /// The directory (object prefix) holding every key that starts with `prefix`.
    fn prefix_path(&self, prefix: &str) -> Path {
        let mut parts: Vec<PathPart<'_>> = self.root.parts().collect();
        if let Some((dirs, _)) = prefix.rsplit_once('/') {
            for segment in dirs.split('/') {
                parts.push(PathPart::from(encode_segment(segment)));
            }
        }
        Path::from_iter(parts)
    }

    /// The key of the object at `path`: the inverse of [`S3Store::object_path`].
    fn key_of(&self, path: &Path) -> Option<String> {
        key_of(&self.root, path)
    }

    /// Reads the entry at `path` with one GET of its last `tail` bytes (a second one only when
    /// its metadata is larger than that).
    async fn read(&self, path: &Path, tail: u64) -> io::Result<Option<Entry>> {
        let options = GetOptions {
            range: Some(GetRange::Suffix(tail)),
            ..GetOptions::default()
        };
        let got = match self.objects.get_opts(path, options).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(s3_error(path, e)),
        };
        let size = got.meta.size;
        let etag = got.meta.e_tag.clone();
        let start = got.range.start;
        let bytes = got.bytes().await.map_err(|e| s3_error(path, e))?;
        if size < TRAILER || bytes.len() < TRAILER as usize {
            return Err(corrupt("too short"));
        }
        let trailer = &bytes[bytes.len() - TRAILER as usize..];
        if &trailer[8..16] != MAGIC {
            return Err(corrupt("bad trailer"));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&trailer[..8]);
        let meta_len = u64::from_le_bytes(len);
        if meta_len.saturating_add(TRAILER) > size {
            return Err(corrupt("metadata longer than object"));
        }
        let body_len = size - TRAILER - meta_len;
        let json = if body_len >= start {
            let from = (body_len - start) as usize;
            bytes.slice(from..bytes.len() - TRAILER as usize)
        } else {
            let mut options = GetOptions {
                range: Some(GetRange::Bounded(body_len..size - TRAILER)),
                ..GetOptions::default()
            };
            options.if_match.clone_from(&etag);
            let more = self.objects.get_opts(path, options).await;
            more.map_err(|e| s3_error(path, e))?
                .bytes()
                .await
                .map_err(|e| s3_error(path, e))?
        };
        let meta: Meta = serde_json::from_slice(&json).map_err(|_| corrupt("bad metadata"))?;
        if meta.len != body_len {
            return Err(corrupt("length mismatch"));
        }
        let body = if start == 0 {
            Body::Bytes(bytes.slice(..body_len as usize))
        } else {
            Body::Ranged(Arc::new(ObjectRange {
                objects: self.objects.clone(),
                path: path.clone(),
                etag,
                len: body_len,
            }))
        };
        Ok(Some(Entry {
            meta: Arc::new(meta),
            body,
        }))
    }

    /// Keeps a local copy of a small immutable entry; a failure costs only the copy. True when
    /// the copy was made.
    async fn keep_local(&self, key: &str, entry: &Entry) -> bool {
        let Some(local) = &self.local else {
            return false;
        };
        if entry.meta.len > self.local_max_entry || is_mutable(key, &entry.meta) {
            return false;
        }
        let result = async {
            let bytes = entry.bytes().await?;
            let mut miss = local.begin(key).await?;
            let miss = tokio::task::spawn_blocking(move || miss.write(&bytes).map(|()| miss))
                .await
                .map_err(io::Error::other)??;
            miss.finish((*entry.meta).clone()).await
        }
        .await;
        match result {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(key, "no local copy of an S3 entry: {e}");
                false
            }
        }
    }
}

/// The key of the object at `path` under `root` (segments are percent-decoded: `object_store`
/// encodes `~`, `%` and a few more).
fn key_of(root: &Path, path: &Path) -> Option<String> {
    let rel: Vec<String> = path
        .prefix_match(root)?
        .map(|part| {
            percent_encoding::percent_decode_str(part.as_ref())
                .decode_utf8()
                .map(|s| s.into_owned())
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let (last, dirs) = rel.split_last()?;
    let mut key = String::new();
    for segment in dirs {
        key.push_str(segment.strip_prefix('~').unwrap_or(segment));
        key.push('/');
    }
    if last != "~listing" {
        key.push_str(last.strip_prefix('~').unwrap_or(last));
    } else if dirs.is_empty() {
        return None;
    }
    Some(key)
}

/// The object of `key` under `root`.
fn path_under(root: &Path, key: &str) -> Path {
    let (body, dir) = match key.strip_suffix('/') {
        Some(body) => (body, true),
        None => (key, false),
    };
    let mut parts: Vec<PathPart<'_>> = root.parts().collect();
    for segment in body.split('/') {
        parts.push(PathPart::from(encode_segment(segment)));
    }
    if dir {
        parts.push(PathPart::from("~listing"));
    }
    Path::from_iter(parts)
}

fn encode_segment(segment: &str) -> String {
    if segment.starts_with('.') || segment.starts_with('~') {
        format!("~{segment}")
    } else {
        segment.to_owned()
    }
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// An object-store error as an io error naming the object (never credentials: `object_store`
/// does not put them in its messages).
fn s3_error(path: &Path, e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::Precondition { .. } => io::ErrorKind::Interrupted,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("S3 object `{path}`: {e}"))
}

/// Damaged objects are misses (logged); other errors are errors.
fn damaged_is_none<T>(path: &Path, result: io::Result<Option<T>>) -> io::Result<Option<T>> {
    match result {
        Err(e)
            if e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::UnexpectedEof =>
        {
            tracing::warn!(%path, "ignoring damaged S3 cache object: {e}");
            Ok(None)
        }
        other => other,
    }
}

/// The body of a large object, read by range and pinned to the version first read.
#[derive(Debug)]
struct ObjectRange {
    objects: Arc<dyn ObjectStore>,
    path: Path,
    etag: Option<String>,
    len: u64,
}

impl RangeRead for ObjectRange {
    fn read(&self, offset: u64, len: usize) -> BoxFuture<'static, io::Result<Bytes>> {
        let (objects, path, etag, body_len) = (
            self.objects.clone(),
            self.path.clone(),
            self.etag.clone(),
            self.len,
        );
        Box::pin(async move {
            let end = offset.saturating_add(len as u64);
            if end > body_len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body shorter than asked",
                ));
            }
            if len == 0 {
                return Ok(Bytes::new());
            }
            let options = GetOptions {
                range: Some(GetRange::Bounded(offset..end)),
                if_match: etag,
                ..GetOptions::default()
            };
            let got = objects.get_opts(&path, options).await;
            let bytes = got
                .map_err(|e| s3_error(&path, e))?
                .bytes()
                .await
                .map_err(|e| s3_error(&path, e))?;
            if bytes.len() != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("S3 object `{path}`: short range read"),
                ));
            }
            Ok(bytes)
        })
    }
}

impl Store for S3Store {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Entry>>> {
        Box::pin(async move {
            if let Some(local) = &self.local
                && let Ok(Some(entry)) = local.get(key).await
            {
                return Ok(Some(entry));
            }
            let path = self.object_path(key);
            let entry = damaged_is_none(&path, self.read(&path, TAIL).await)?;
            if let Some(found) = &entry
                && self.keep_local(key, found).await
                && !matches!(found.body, Body::Bytes(_))
                && let Some(local) = &self.local
                && let Ok(Some(copy)) = local.get(key).await
            {
                // A body read by ranges was just copied whole: serve the copy.
                return Ok(Some(copy));
            }
            Ok(entry)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Arc<Meta>>>> {
        Box::pin(async move {
            if let Some(local) = &self.local
                && let Ok(Some(meta)) = local.head(key).await
            {
                return Ok(Some(meta));
            }
            let path = self.object_path(key);
            let entry = damaged_is_none(&path, self.read(&path, 16 * 1024).await)?;
            Ok(entry.map(|e| e.meta))
        })
    }

    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Box<dyn Miss>>> {
        let dir = self.staging.clone();
        Box::pin(async move {
            let file = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                tempfile::Builder::new()
                    .prefix(&staging::prefix())
                    .tempfile_in(&dir)
            })
            .await
            .map_err(io::Error::other)??;
            Ok(Box::new(S3Miss {
                file: Some(file),
                handle: tokio::runtime::Handle::current(),
                pending: Vec::new(),
                parts: None,
                parts_failed: false,
                written: 0,
                key: key.to_owned(),
                path: self.object_path(key),
                objects: self.objects.clone(),
                local: self.local.clone(),
                local_max_entry: self.local_max_entry,
            }) as Box<dyn Miss>)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, io::Result<Listed>> {
        let dir = self.prefix_path(prefix);
        self.objects
            .list(Some(&dir))
            .map_err(move |e| io::Error::other(format!("listing S3 objects under `{prefix}`: {e}")))
            .try_filter_map(move |object| {
                let found = self.key_of(&object.location).and_then(|key| {
                    key.starts_with(prefix).then(|| Listed {
                        key,
                        size: object.size,
                        fetched_at: object.last_modified.timestamp().max(0) as u64,
                    })
                });
                std::future::ready(Ok(found))
            })
            .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move {
            if let Some(local) = &self.local {
                local.delete(key).await?;
            }
            let path = self.object_path(key);
            let size = match self.objects.head(&path).await {
                Ok(meta) => meta.size,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(s3_error(&path, e)),
            };
            match self.objects.delete(&path).await {
                Ok(()) => Ok(Some(size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error(&path, e)),
            }
        })
    }

    fn purge<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Purged>> {
        Box::pin(async move {
            if let Some(local) = &self.local {
                local.purge(prefix).await?;
            }
            let found: Vec<Listed> = self.list(prefix).try_collect().await?;
            let mut purged = Purged::default();
            for listed in found {
                let path = self.object_path(&listed.key);
                match self.objects.delete(&path).await {
                    Ok(()) => {
                        purged.entries += 1;
                        purged.bytes += listed.size;
                    }
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(s3_error(&path, e)),
                }
            }
            Ok(purged)
        })
    }

    fn usage(&self) -> BoxFuture<'_, io::Result<u64>> {
        Box::pin(async move {
            self.list("")
                .try_fold(0u64, |total, l| std::future::ready(Ok(total + l.size)))
                .await
        })
    }

    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Claim>> {
        Box::pin(async move {
            let lease = path_under(&self.leases, key);
            // Bounded: past this a waiter downloads itself (twice is harmless, never corrupt).
            let mut waited = false;
            for _ in 0..LEASE_WAIT.as_millis() / LEASE_POLL.as_millis() {
                let body = format!("{} {}\n", super::now_secs(), std::process::id());
                let created = self
                    .objects
                    .put_opts(&lease, PutPayload::from(body), PutMode::Create.into())
                    .await;
                match created {
                    Ok(_) => {
                        let held = Lease::hold(self.objects.clone(), lease);
                        // After a wait, the lease may be free because its holder committed.
                        if waited && self.head(key).await?.is_some() {
                            return Ok(Claim::Committed);
                        }
                        return Ok(Claim::Fill(Some(Box::new(held))));
                    }
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => {}
                    Err(e) => return Err(s3_error(&lease, e)),
                }
                if self.head(key).await?.is_some() {
                    return Ok(Claim::Committed);
                }
                // A lease nobody renewed is a node that died downloading: take over.
                if let Ok(held) = self.objects.head(&lease).await
                    && (super::now_secs() as i64).saturating_sub(held.last_modified.timestamp())
                        > LEASE_STALE.as_secs() as i64
                {
                    let _ = self.objects.delete(&lease).await;
                    continue;
                }
                tokio::time::sleep(LEASE_POLL).await;
                waited = true;
            }
            Ok(Claim::Fill(None))
        })
    }

    fn clean_staging(&self, max_age: Duration) -> usize {
        staging::clean(&self.staging, max_age)
    }

    fn has_room(&self) -> bool {
        self.room.has_room()
    }
}

/// This node's claim on a key: an object under `lease-v1/` created only if absent (a
/// conditional PUT), rewritten every [`LEASE_RENEW`] while the download runs, deleted when it
/// ends however it ends.
struct Lease {
    objects: Arc<dyn ObjectStore>,
    path: Path,
    handle: tokio::runtime::Handle,
    renew: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn hold(objects: Arc<dyn ObjectStore>, path: Path) -> Lease {
        let (o, p) = (objects.clone(), path.clone());
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEW).await;
                let body = format!("{} {}\n", super::now_secs(), std::process::id());
                if let Err(e) = o.put(&p, PutPayload::from(body)).await {
                    tracing::debug!(path = %p, "cannot renew a download lease: {e}");
                }
            }
        });
        Lease {
            objects,
            path,
            handle: tokio::runtime::Handle::current(),
            renew,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (objects, path) = (self.objects.clone(), self.path.clone());
        self.handle.spawn(async move {
            if let Err(e) = objects.delete(&path).await {
                tracing::debug!(%path, "cannot release a download lease: {e}");
            }
        });
    }
}

/// A body staged locally for one key, deleted on drop. A body larger than [`PART`] is uploaded
/// in parts while it is written (a multipart upload that is invisible until completed at
/// `finish`, and aborted on drop); a smaller one is uploaded at `finish` with one PUT.
pub struct S3Miss {
    file: Option<tempfile::NamedTempFile>,
    written: u64,
    key: String,
    path: Path,
    objects: Arc<dyn ObjectStore>,
    local: Option<Arc<FsStore>>,
    local_max_entry: u64,
    handle: tokio::runtime::Handle,
    /// The first bytes, held until the body proves large enough for parts.
    pending: Vec<u8>,
    /// The multipart upload under way; `None` before it starts or after it failed.
    parts: Option<WriteMultipart>,
    /// A multipart upload failed: `finish` uploads the staging file instead.
    parts_failed: bool,
}

impl std::fmt::Debug for S3Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Miss")
            .field("staged", &self.file.as_ref().map(|f| f.path().to_owned()))
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl S3Miss {
    /// Feeds `chunk` to the multipart upload, starting it once [`PART`] bytes are held. Runs on
    /// the blocking thread `write` is called from. A failure is logged and leaves the upload to
    /// `finish`: the download itself goes on.
    fn upload_part(&mut self, chunk: &[u8]) {
        if self.parts_failed {
            return;
        }
        let parts = match &mut self.parts {
            Some(parts) => parts,
            None => {
                self.pending.extend_from_slice(chunk);
                if self.pending.len() < PART {
                    return;
                }
                let started = self.handle.block_on(self.objects.put_multipart(&self.path));
                match started {
                    Ok(upload) => {
                        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
                        parts.put(Bytes::from(std::mem::take(&mut self.pending)));
                        self.parts = Some(parts);
                    }
                    Err(e) => self.fail_parts(e),
                }
                return;
            }
        };
        parts.write(chunk);
        if let Err(e) = self
            .handle
            .block_on(parts.wait_for_capacity(PART_CONCURRENCY))
        {
            self.fail_parts(e);
        }
    }

    fn fail_parts(&mut self, e: object_store::Error) {
        tracing::warn!(path = %self.path, "S3 multipart upload failed, uploading at the end: {e}");
        self.parts_failed = true;
        self.pending = Vec::new();
        if let Some(parts) = self.parts.take() {
            self.handle.spawn(parts.abort());
        }
    }
}

impl Drop for S3Miss {
    fn drop(&mut self) {
        // Never completed: nothing is visible; the parts already sent are freed.
        if let Some(parts) = self.parts.take() {
            let path = self.path.clone();
            self.handle.spawn(async move {
                if let Err(e) = parts.abort().await {
                    tracing::warn!(%path, "cannot abort an S3 multipart upload: {e}");
                }
            });
        }
    }
}

impl Miss for S3Miss {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("write after finish"))?;
        file.as_file_mut().write_all(chunk)?;
        self.written += chunk.len() as u64;
        self.upload_part(chunk);
        Ok(())
    }

    fn tail(&self) -> io::Result<Body> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("tail after finish"))?;
        Ok(Body::File(Arc::new(file.as_file().try_clone()?)))
    }

    fn finish(mut self: Box<Self>, meta: Meta) -> BoxFuture<'static, io::Result<Entry>> {
        Box::pin(async move {
            if self.written != meta.len {
                return Err(corrupt("staged body length differs from its metadata"));
            }
            let mut file = self
                .file
                .take()
                .ok_or_else(|| io::Error::other("finished twice"))?;
            let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
            let mut tail = json.clone();
            tail.extend_from_slice(&(json.len() as u64).to_le_bytes());
            tail.extend_from_slice(MAGIC);
            let written = self.written;
            let appended = tail.clone();
            let file = tokio::task::spawn_blocking(move || -> io::Result<_> {
                let f = file.as_file_mut();
                f.seek(SeekFrom::Start(written))?;
                f.write_all(&appended)?;
                f.flush()?;
                Ok(file)
            })
            .await
            .map_err(io::Error::other)??;
            let size = file.as_file().metadata()?.len();
            let reader = Arc::new(file.as_file().try_clone()?);
            let path = self.path.clone();
            if let Some(mut parts) = self.parts.take() {
                parts.write(&tail);
                if let Err(e) = parts.finish().await {
                    // WriteMultipart aborts the upload itself when a part or completion fails.
                    return Err(s3_error(&path, e));
                }
            } else {
                upload(&self.objects, &path, &reader, size).await?;
            }
            tracing::debug!(%path, size, "uploaded cache entry");
            let entry = Entry {
                meta: Arc::new(meta),
                body: Body::File(reader),
            };
            let key = self.key.clone();
            if let Some(local) = &self.local
                && entry.meta.len <= self.local_max_entry
                && !is_mutable(&key, &entry.meta)
            {
                // Replace (or drop) any older local copy; a small body is copied in.
                let copy = async {
                    let bytes = entry.bytes().await?;
                    let mut miss = local.begin(&key).await?;
                    let miss =
                        tokio::task::spawn_blocking(move || miss.write(&bytes).map(|()| miss))
                            .await
                            .map_err(io::Error::other)??;
                    miss.finish((*entry.meta).clone()).await
                };
                if let Err(e) = copy.await {
                    tracing::debug!(key, "no local copy of an S3 entry: {e}");
                    let _ = local.delete(&key).await;
                }
            } else if let Some(local) = &self.local {
                let _ = local.delete(&key).await;
            }
            // The staging file's name goes with `file`; `reader` keeps its bytes readable.
            drop(file);
            Ok(entry)
        })
    }
}

/// Uploads the `size` bytes of `file` to `path`: one PUT, or a multipart upload that is
/// completed only when every part is in (aborted on failure), so the object appears whole.
async fn upload(
    objects: &Arc<dyn ObjectStore>,
    path: &Path,
    file: &Arc<std::fs::File>,
    size: u64,
) -> io::Result<()> {
    let read = |offset: u64, len: usize| {
        let file = file.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; len];
                super::read_exact_at(&file, &mut buf, offset)?;
                Ok::<_, io::Error>(Bytes::from(buf))
            })
            .await
            .map_err(io::Error::other)?
        }
    };
    if size <= MULTIPART_ABOVE {
        let bytes = read(0, size as usize).await?;
        objects
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(|e| s3_error(path, e))?;
        return Ok(());
    }
    let upload = objects
        .put_multipart(path)
        .await
        .map_err(|e| s3_error(path, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut offset = 0;
    let parts = async {
        while offset < size {
            writer
                .wait_for_capacity(PART_CONCURRENCY)
                .await
                .map_err(|e| s3_error(path, e))?;
            let len = (size - offset).min(PART as u64) as usize;
            writer.put(read(offset, len).await?);
            offset += len as u64;
        }
        Ok::<_, io::Error>(())
    }
    .await;
    match parts {
        Ok(()) => writer
            .finish()
            .await
            .map(drop)
            .map_err(|e| s3_error(path, e)),
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%path, "cannot abort a failed multipart upload: {abort}");
            }
            Err(e)
        }
    }
}

/// Opens the S3 store when `[storage] url` names a bucket.
pub fn open(config: &Config, url: &str, memos: &crate::memo::Memos) -> io::Result<S3Store> {
    S3Store::open(&config.storage, url, &super::cache_dir(config), memos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_and_object_paths_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            local_cache_size: Some(0),
            ..StorageConfig::default()
        };
        let store = S3Store::open(
            &storage,
            "s3://b/p/q",
            dir.path(),
            &crate::memo::Memos::new(1 << 20),
        )
        .unwrap();
        for key in [
            "m/a/b.jar",
            "m/.meta/x",
            "m/a/",
            "m/~t/%41 x#y",
            "pypi/files/lib_c-1.0+cpu-py3-none-any.whl",
        ] {
            let path = store.object_path(key);
            assert!(path.as_ref().starts_with("p/q/data-v1/"), "{path}");
            assert_eq!(store.key_of(&path).as_deref(), Some(key), "{path}");
        }
        assert_eq!(
            store.object_path("m/a/").as_ref(),
            "p/q/data-v1/m/a/%7Elisting"
        );
        assert_eq!(
            store.key_of(&Path::parse("p/q/data-v1/%7Elisting").unwrap()),
            None
        );
        assert_eq!(store.key_of(&Path::from("elsewhere/m/a")), None);
    }

    #[test]
    fn urls_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(
            parse_url("s3://b/p/q/").unwrap(),
            ("b".to_owned(), vec!["p".to_owned(), "q".to_owned()])
        );
        assert_eq!(parse_url("s3://b").unwrap(), ("b".to_owned(), vec![]));
        for bad in ["http://b/p", "s3:///p", "s3://b/../x"] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("s3://BUCKET"), "{e}");
        }
    }
}
