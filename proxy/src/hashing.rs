//! Digests of a body computed while it streams in.
//!
//! A download computes up to four digests: SHA-256 always, SHA-1 and MD5 for Maven checksum
//! headers and `.sha1` verification, SHA-512 for npm integrity. Computed in turn on the task that
//! reads the network, they cap a download at the speed of their sum (MD5 alone runs at a few
//! hundred MB/s). A large body therefore gets one blocking thread per digest, fed the chunks
//! through a short channel, so the digests run side by side and beside the network reads; small
//! bodies, most of what a proxy fetches, are hashed in place, where a thread costs more than it
//! saves.

use std::io;

use bytes::Bytes;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::repository::{Resource, Verify};
use crate::store::Digests;

/// Bodies at least this large (by their `Content-Length`) are hashed on threads.
const THREADED_FROM: u64 = 8 * 1024 * 1024;
/// Chunks queued per digest thread before the download waits for it; the fill hands over
/// chunks of up to 256 KiB (`fill.rs`, `Coalesce`), so this is about 1 MiB.
const QUEUE: usize = 4;

/// The digests of one download.
pub struct Hashers {
    sha256: Hasher<Sha256>,
    sha1: Option<Hasher<Sha1>>,
    md5: Option<Hasher<Md5>>,
    sha512: Option<Hasher<Sha512>>,
}

impl Hashers {
    /// The digests `res` needs, for a body of `len` bytes when known.
    pub fn new(res: &Resource, len: Option<u64>) -> Hashers {
        let threaded = len.is_some_and(|l| l >= THREADED_FROM);
        let want_sha1 = res.checksums || matches!(res.verify, Verify::Sidecar | Verify::Sha1(_));
        Hashers {
            sha256: Hasher::new(threaded),
            sha1: want_sha1.then(|| Hasher::new(threaded)),
            md5: res.checksums.then(|| Hasher::new(threaded)),
            sha512: matches!(res.verify, Verify::Sha512(_)).then(|| Hasher::new(threaded)),
        }
    }

    /// Adds the next chunk of the body.
    pub async fn update(&mut self, chunk: &Bytes) -> io::Result<()> {
        self.sha256.update(chunk).await?;
        if let Some(h) = &mut self.sha1 {
            h.update(chunk).await?;
        }
        if let Some(h) = &mut self.md5 {
            h.update(chunk).await?;
        }
        if let Some(h) = &mut self.sha512 {
            h.update(chunk).await?;
        }
        Ok(())
    }

    /// The digests of everything added, as lowercase hex.
    pub async fn finish(self) -> io::Result<Digests> {
        Ok(Digests {
            sha256: self.sha256.finish().await?,
            sha1: finish(self.sha1).await?,
            md5: finish(self.md5).await?,
            sha512: finish(self.sha512).await?,
        })
    }
}

async fn finish<D: Digest + Send + 'static>(h: Option<Hasher<D>>) -> io::Result<Option<String>> {
    match h {
        Some(h) => h.finish().await.map(Some),
        None => Ok(None),
    }
}

/// One digest, computed here or on a thread of its own.
enum Hasher<D> {
    Here(D),
    Thread {
        chunks: mpsc::Sender<Bytes>,
        digest: JoinHandle<String>,
    },
}

impl<D: Digest + Send + 'static> Hasher<D> {
    fn new(threaded: bool) -> Hasher<D> {
        if !threaded {
            return Hasher::Here(D::new());
        }
        let (chunks, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let digest = tokio::task::spawn_blocking(move || {
            let mut d = D::new();
            while let Some(chunk) = rx.blocking_recv() {
                d.update(&chunk);
            }
            hex::encode(d.finalize())
        });
        Hasher::Thread { chunks, digest }
    }

    async fn update(&mut self, chunk: &Bytes) -> io::Result<()> {
        match self {
            Hasher::Here(d) => {
                d.update(chunk);
                Ok(())
            }
            Hasher::Thread { chunks, .. } => chunks
                .send(chunk.clone())
                .await
                .map_err(|_| io::Error::other("a digest thread stopped early")),
        }
    }

    async fn finish(self) -> io::Result<String> {
        match self {
            Hasher::Here(d) => Ok(hex::encode(d.finalize())),
            Hasher::Thread { chunks, digest } => {
                drop(chunks);
                digest.await.map_err(io::Error::other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn threads_and_in_place_give_the_same_digests() {
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut results = Vec::new();
        for threaded in [false, true] {
            let mut sha256 = Hasher::<Sha256>::new(threaded);
            let mut md5 = Hasher::<Md5>::new(threaded);
            for chunk in body.chunks(65_536) {
                let chunk = Bytes::copy_from_slice(chunk);
                sha256.update(&chunk).await.unwrap();
                md5.update(&chunk).await.unwrap();
            }
            results.push((sha256.finish().await.unwrap(), md5.finish().await.unwrap()));
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0].0, hex::encode(Sha256::digest(&body)));
        assert_eq!(results[0].1, hex::encode(Md5::digest(&body)));
    }
}
