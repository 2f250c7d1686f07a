//! Packuments repox makes with [`corgi`] rather than with the in-memory rewrite of
//! `packument.rs`: the abbreviated document when the upstream sent the full one, and every
//! packument larger than [`LARGE`].
//!
//! Each is derived once per (upstream body, request origin, shape) — the tarball URLs are
//! absolute, so the origin is part of it — and kept:
//!
//! - a small one in memory, in the server's memos, like the rewritten packuments;
//! - a large one in the store (`<repo>/packuments-derived/<name>/<shape>/<origin hash>`, with
//!   the upstream body's digest in its metadata), written as it is made and served from there
//!   as a file, so neither making nor serving it holds the document in memory. Its memo entry
//!   is only the open file. After a restart the stored document is served as it is when the
//!   upstream body is still the one it was made from.

use std::io::{self, BufWriter, Write};

use sha2::{Digest, Sha256};

use super::corgi::{self, Shape};
use super::packument::Variant;
use super::tarball::{self, TarballIndex};
use crate::error::Failure;
use crate::repository::Repository;
use crate::store::{Digests, Entry, Meta, Miss, Verification};

/// Packuments above this size are derived into the store instead of memory.
pub(super) const LARGE: u64 = 4 << 20;

/// What the memo of a file-backed document weighs: its metadata and an open file.
const FILE_WEIGHT: usize = 64 << 10;

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// Whether the packument `entry` (what the upstream sent for `variant`) is made here.
pub(super) fn handles(entry: &Entry, variant: Variant) -> bool {
    entry.meta.len > LARGE || (variant == Variant::Abbreviated && !is_abbreviated(entry))
}

fn is_abbreviated(entry: &Entry) -> bool {
    entry
        .meta
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("vnd.npm.install-v1"))
}

/// The document to serve for the upstream packument `entry` asked for as `variant` by a client
/// at `origin` (empty: only the tarball index is wanted), recording the tarball index when
/// `index` is set.
pub(super) async fn derived(
    repo: &Repository,
    entry: &Entry,
    origin: &str,
    name: &str,
    variant: Variant,
    index: bool,
) -> Result<Entry, Failure> {
    let shape = match variant {
        Variant::Abbreviated if !is_abbreviated(entry) => Shape::Abbreviated,
        _ => Shape::Full,
    };
    let source = entry.meta.digests.sha256.clone();
    let memo_key = format!("{source}\n{origin}\n{}\n{name}\n{shape:?}", repo.name);
    if let Some(done) = repo.services.memos.get::<Entry>("npm-derived", &memo_key) {
        return Ok(done);
    }
    repo.coalesce(&format!("npm-derived/{memo_key}"), async {
        if let Some(done) = repo.services.memos.get::<Entry>("npm-derived", &memo_key) {
            return Ok(done);
        }
        let prefix = format!("{origin}/{}/{name}/-/", repo.name);
        let (done, weight) = if origin.is_empty() {
            let tarballs = derive(entry, shape, prefix, io::sink()).await?.0;
            record(repo, name, index, &tarballs, &source).await;
            return Ok(entry.clone());
        } else if entry.meta.len <= LARGE {
            let (tarballs, body) = derive(entry, shape, prefix, Vec::new()).await?;
            record(repo, name, index, &tarballs, &source).await;
            let done = Entry::from_bytes(
                body.into(),
                content_type(entry, shape),
                entry.meta.upstream_last_modified.clone(),
                entry.meta.fetched_at,
            );
            let weight = done.meta.len as usize;
            (done, weight)
        } else {
            (
                stored(repo, entry, origin, name, shape, prefix, index).await?,
                FILE_WEIGHT,
            )
        };
        repo.services
            .memos
            .insert("npm-derived", memo_key.clone(), done.clone(), weight);
        Ok(done)
    })
    .await
}

async fn record(repo: &Repository, name: &str, index: bool, tarballs: &TarballIndex, source: &str) {
    if index {
        tarball::record(repo, name, tarballs, source).await;
    }
}

fn content_type(entry: &Entry, shape: Shape) -> &str {
    match shape {
        Shape::Abbreviated => ABBREVIATED,
        Shape::Full => entry
            .meta
            .content_type
            .as_deref()
            .unwrap_or("application/json"),
    }
}

/// Runs [`corgi::derive`] over the entry's body on a blocking thread, writing to `out`.
async fn derive<W: Write + Send + 'static>(
    entry: &Entry,
    shape: Shape,
    prefix: String,
    out: W,
) -> Result<(TarballIndex, W), Failure> {
    let body = entry.body.clone();
    let (len, upstream) = (entry.meta.len, entry.meta.upstream.clone());
    tokio::task::spawn_blocking(move || {
        let mut out = BufWriter::with_capacity(256 << 10, out);
        let index = corgi::derive(
            body.blocking_reader(len),
            &mut out,
            shape,
            &prefix,
            &upstream,
        )
        .map_err(|e| {
            Failure::Upstream(format!(
                "`{upstream}` sent a packument repox cannot read: {e}"
            ))
        })?;
        let out = out.into_inner().map_err(|e| Failure::internal(e.error()))?;
        Ok((index, out))
    })
    .await
    .map_err(Failure::internal)?
}

/// A store miss as an `io::Write` that hashes and counts what passes.
struct ToStore {
    miss: Box<dyn Miss>,
    sha256: Sha256,
    len: u64,
}

impl Write for ToStore {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.miss.write(buf)?;
        self.sha256.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The large document from the store when it was made from this upstream body, else made now
/// into the store.
async fn stored(
    repo: &Repository,
    entry: &Entry,
    origin: &str,
    name: &str,
    shape: Shape,
    prefix: String,
    index: bool,
) -> Result<Entry, Failure> {
    let source = &entry.meta.digests.sha256;
    let origin_hash = hex::encode(&Sha256::digest(origin.as_bytes())[..8]);
    let shape_key = match shape {
        Shape::Full => "full",
        Shape::Abbreviated => "abbreviated",
    };
    let key = format!(
        "{}/packuments-derived/{name}/{shape_key}/{origin_hash}",
        repo.name
    );
    if let Ok(Some(kept)) = repo.services.store.get(&key).await
        && kept.meta.extra.get("source").and_then(|s| s.as_str()) == Some(source)
    {
        return Ok(kept);
    }
    let miss = repo
        .services
        .store
        .begin(&key)
        .await
        .map_err(Failure::internal)?;
    let out = ToStore {
        miss,
        sha256: Sha256::new(),
        len: 0,
    };
    let (tarballs, out) = derive(entry, shape, prefix, out).await?;
    record(repo, name, index, &tarballs, source).await;
    let meta = Meta {
        len: out.len,
        content_type: Some(content_type(entry, shape).to_owned()),
        digests: Digests {
            sha256: hex::encode(out.sha256.finalize()),
            ..Digests::default()
        },
        upstream: entry.meta.upstream.clone(),
        url: entry.meta.url.clone(),
        upstream_etag: None,
        upstream_last_modified: entry.meta.upstream_last_modified.clone(),
        fetched_at: entry.meta.fetched_at,
        verification: Verification::Derived,
        extra: serde_json::json!({ "source": source }),
    };
    let done = out.miss.finish(meta).await.map_err(Failure::internal)?;
    repo.services.metrics.cache_grew(done.meta.len);
    tracing::debug!(%key, bytes = done.meta.len, "derived a large packument into the store");
    Ok(done)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn entry(content_type: &str, len: usize) -> Entry {
        Entry::from_bytes(Bytes::from(vec![b' '; len]), content_type, None, 0)
    }

    #[test]
    fn what_is_made_here() {
        let full = entry("application/json", 10);
        let corgi = entry(ABBREVIATED, 10);
        assert!(handles(&full, Variant::Abbreviated));
        assert!(!handles(&full, Variant::Full));
        assert!(!handles(&corgi, Variant::Abbreviated));
        let large = entry("application/json", LARGE as usize + 1);
        assert!(handles(&large, Variant::Full));
    }
}
