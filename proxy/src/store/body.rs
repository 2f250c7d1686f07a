//! A body as a backend hands it out: in memory, an open local file, or a source read by range
//! (an object store). Every reader goes through the same three calls, so the hit path, the tail
//! of a growing download and the ecosystems' parsers do not care where the bytes live; code that
//! can do better with a local file asks for [`Body::local_file`]. File bodies stream through
//! `chunks.rs` (page-cache reads on the task, pooled buffers).

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};

pub(crate) use super::chunks::CHUNK;

/// A body read by byte range, for backends whose bodies are not local files.
pub trait RangeRead: std::fmt::Debug + Send + Sync + 'static {
    /// Exactly `len` bytes at `offset`; fewer is an error.
    fn read(&self, offset: u64, len: usize) -> BoxFuture<'static, io::Result<Bytes>>;
}

/// Where an entry's body can be read.
#[derive(Debug, Clone)]
pub enum Body {
    /// Small bodies are read whole with the metadata.
    Bytes(Bytes),
    /// Larger bodies are read from an open file, `len` bytes from offset 0.
    File(Arc<File>),
    /// Bodies read by range from elsewhere.
    Ranged(Arc<dyn RangeRead>),
}

impl Body {
    /// The most a file body reads at once (see `chunks.rs`).
    pub(crate) const CHUNK: usize = CHUNK;

    /// Whether `[offset, offset + len)` of a file body is in the page cache, so that sending it
    /// does not wait for the disk (see `chunks.rs`); `false` for other bodies.
    pub(crate) fn is_cached(&self, offset: u64, len: usize) -> bool {
        match self {
            Body::File(f) => super::chunks::is_cached(f, offset, len),
            _ => false,
        }
    }

    /// Exactly `len` bytes at `offset`.
    pub async fn read(&self, offset: u64, len: u64) -> io::Result<Bytes> {
        let short = || io::Error::new(io::ErrorKind::UnexpectedEof, "body shorter than asked");
        match self {
            Body::Bytes(b) => {
                let end = offset.checked_add(len).ok_or_else(short)?;
                if end > b.len() as u64 {
                    return Err(short());
                }
                Ok(b.slice(offset as usize..end as usize))
            }
            Body::File(f) => super::read_bytes_at(f.clone(), offset, len as usize).await,
            Body::Ranged(r) => r.read(offset, len as usize).await,
        }
    }

    /// At least one and at most `max` bytes at `offset` (`max` > 0): a file body gives what its
    /// next read buffer holds (see `chunks.rs`), other bodies exactly `max`.
    pub async fn read_some(&self, offset: u64, max: u64) -> io::Result<Bytes> {
        match self {
            Body::File(f) => {
                super::chunks::read_chunk(f, offset, max.min(CHUNK as u64) as usize).await
            }
            _ => self.read(offset, max).await,
        }
    }

    /// The bytes `[start, end)` as a stream of chunks of at most 256 KiB.
    pub fn stream(&self, start: u64, end: u64) -> BoxStream<'static, io::Result<Bytes>> {
        if let Body::Bytes(b) = self {
            let (s, e) = (start.min(end) as usize, (end as usize).min(b.len()));
            let whole = b.slice(s.min(e)..e);
            return stream::once(async move { Ok(whole) })
                .filter(|c| std::future::ready(!matches!(c, Ok(b) if b.is_empty())))
                .boxed();
        }
        let body = self.clone();
        stream::try_unfold(start, move |pos| {
            let body = body.clone();
            async move {
                if pos >= end {
                    return Ok(None);
                }
                let chunk = body.read_some(pos, (end - pos).min(CHUNK as u64)).await?;
                let next = pos + chunk.len() as u64;
                Ok(Some((chunk, next)))
            }
        })
        .boxed()
    }

    /// The open local file, for backends that have one.
    pub fn local_file(&self) -> Option<&Arc<File>> {
        match self {
            Body::File(f) => Some(f),
            _ => None,
        }
    }

    /// A blocking reader of the first `len` bytes (call from a blocking thread).
    pub fn blocking_reader(&self, len: u64) -> Box<dyn io::Read + Send> {
        match self {
            Body::Bytes(b) => Box::new(io::Cursor::new(b.slice(..(len as usize).min(b.len())))),
            _ => Box::new(BlockingReader {
                body: self.clone(),
                pos: 0,
                len,
            }),
        }
    }
}

/// Reads a file or ranged body from the start on a blocking thread.
struct BlockingReader {
    body: Body,
    pos: u64,
    len: u64,
}

impl io::Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = match &self.body {
            Body::File(f) => super::read_at(f, &mut buf[..want], self.pos)?,
            Body::Bytes(_) => unreachable!("bytes are read through a cursor"),
            Body::Ranged(r) => {
                let want = want.min(CHUNK);
                let chunk = tokio::runtime::Handle::current().block_on(r.read(self.pos, want))?;
                buf[..chunk.len()].copy_from_slice(&chunk);
                chunk.len()
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    #[tokio::test]
    async fn ranges_of_memory_and_file_bodies_agree() {
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut file, &data).unwrap();
        for body in [
            Body::Bytes(Bytes::from(data.clone())),
            Body::File(Arc::new(file)),
        ] {
            for (s, e) in [(0, 600_000), (10, 20), (300_000, 600_000), (5, 5)] {
                let got: Vec<Bytes> = body.stream(s, e).try_collect().await.unwrap();
                assert_eq!(
                    got.concat(),
                    &data[s as usize..e as usize],
                    "{body:?} {s}..{e}"
                );
            }
            assert_eq!(body.read(1, 3).await.unwrap(), &data[1..4]);
            assert!(body.read(599_999, 2).await.is_err(), "past the end");
            let mut all = Vec::new();
            let reader = body.clone();
            let all = tokio::task::spawn_blocking(move || {
                io::Read::read_to_end(&mut reader.blocking_reader(600_000), &mut all).map(|_| all)
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(all, data);
        }
    }
}
