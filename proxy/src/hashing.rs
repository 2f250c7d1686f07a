//! Digests of a download's body, and when each one is computed.
//!
//! An entry records up to four digests: SHA-256 always (the ETag derives from it), SHA-1 and MD5
//! for Maven's checksum headers and files, SHA-512 for npm integrity. Only one of them can verify
//! the download against a checksum the upstream published (the *gate*, [`gate`]): it must be
//! ready before a client gets the last byte (`respond::tail_limits`). The others are recorded
//! metadata, and computing them on the client's path capped a large miss at the speed of their
//! sum (MD5 alone runs at a few hundred MB/s and has no CPU instructions).
//!
//! - Small bodies (below [`LATE_FROM`], or of unknown length) get every digest in place
//!   ([`Inline`]), on the thread that writes the staging file, after each chunk is handed on to
//!   the clients (`fill.rs`, `BodyWriter`): neither the network reads nor the first bytes to the
//!   clients wait for them, and a small body's digests cost less than another thread.
//! - Large bodies: the network loop only writes the staging file. The gate digest is computed by
//!   a thread that is handed each chunk once the writer wrote it ([`Follower`]): the clients get
//!   the chunk without waiting for it, and only the end waits for it to catch up (when it falls
//!   more than a few MiB behind, the writer, then the network, waits for it). When the
//!   upstream turns out to have published no checksum for it (a Maven upstream without the
//!   `.sha1` file), the gate digest is only recorded: the commit waits for it, the clients not;
//!   when that is known while the body still streams, the follower is stopped
//!   ([`Follower::stopper`]) and the digest is computed from the staged file with the others.
//!   The other digests are computed from the staged file after the last byte was handed on
//!   ([`digest_file`]), before the commit: the commit waits, the clients do not. The file is
//!   read once for all of them, each slice handed to one thread per digest.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use tokio::task::JoinHandle;

use crate::repository::{Resource, Verify};
use crate::store::{Body, Digests};

/// Bodies at least this large (by their `Content-Length`) compute only their gate digest while
/// they stream, and the others after the last byte was handed on.
pub const LATE_FROM: u64 = 8 * 1024 * 1024;
/// Bytes read from the staged file at once and handed to every late digest.
const SLICE: usize = 512 * 1024;
/// Slices a late digest's thread may hold before the reader waits for it.
const SLICES_AHEAD: usize = 2;

/// A digest algorithm an entry may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256.
    Sha256,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// Its usual name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Md5 => "MD5",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// This digest in `digests`, when computed.
    pub fn get(self, digests: &Digests) -> Option<&str> {
        match self {
            Algorithm::Sha256 => Some(digests.sha256.as_str()).filter(|h| !h.is_empty()),
            Algorithm::Sha1 => digests.sha1.as_deref(),
            Algorithm::Md5 => digests.md5.as_deref(),
            Algorithm::Sha512 => digests.sha512.as_deref(),
        }
    }

    fn set(self, digests: &mut Digests, hex: String) {
        match self {
            Algorithm::Sha256 => digests.sha256 = hex,
            Algorithm::Sha1 => digests.sha1 = Some(hex),
            Algorithm::Md5 => digests.md5 = Some(hex),
            Algorithm::Sha512 => digests.sha512 = Some(hex),
        }
    }
}

/// The digests an entry of `res` records.
pub fn recorded(res: &Resource) -> Vec<Algorithm> {
    let mut all = vec![Algorithm::Sha256];
    if res.checksums || matches!(res.verify, Verify::Sidecar | Verify::Sha1(_)) {
        all.push(Algorithm::Sha1);
    }
    if res.checksums {
        all.push(Algorithm::Md5);
    }
    if matches!(res.verify, Verify::Sha512(_)) {
        all.push(Algorithm::Sha512);
    }
    all
}

/// The digest that may verify a body against a published checksum (Maven's `.sha1` is one
/// only when the upstream has it, but which cannot be known before the body ends).
pub fn gate(verify: &Verify) -> Option<Algorithm> {
    match verify {
        Verify::None => None,
        Verify::Sidecar | Verify::Sha1(_) => Some(Algorithm::Sha1),
        Verify::Sha256(_) | Verify::Cksum(_) => Some(Algorithm::Sha256),
        Verify::Sha512(_) => Some(Algorithm::Sha512),
    }
}

/// The algorithms of `wanted` that `digests` still lacks.
pub fn missing(digests: &Digests, wanted: &[Algorithm]) -> Vec<Algorithm> {
    wanted
        .iter()
        .copied()
        .filter(|a| a.get(digests).is_none())
        .collect()
}

/// One running digest of any algorithm.
enum Running {
    Sha256(Sha256),
    Sha1(Sha1),
    Md5(Md5),
    Sha512(Sha512),
}

impl Running {
    fn new(algorithm: Algorithm) -> Running {
        match algorithm {
            Algorithm::Sha256 => Running::Sha256(Sha256::new()),
            Algorithm::Sha1 => Running::Sha1(Sha1::new()),
            Algorithm::Md5 => Running::Md5(Md5::new()),
            Algorithm::Sha512 => Running::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Running::Sha256(d) => d.update(data),
            Running::Sha1(d) => d.update(data),
            Running::Md5(d) => d.update(data),
            Running::Sha512(d) => d.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            Running::Sha256(d) => hex::encode(d.finalize()),
            Running::Sha1(d) => hex::encode(d.finalize()),
            Running::Md5(d) => hex::encode(d.finalize()),
            Running::Sha512(d) => hex::encode(d.finalize()),
        }
    }
}

/// Digests computed in place, chunk by chunk, by whoever holds the body's chunks.
pub struct Inline(Vec<(Algorithm, Running)>);

impl Inline {
    /// Computes `algorithms`.
    pub fn new(algorithms: &[Algorithm]) -> Inline {
        Inline(algorithms.iter().map(|&a| (a, Running::new(a))).collect())
    }

    /// Adds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        for (_, d) in &mut self.0 {
            d.update(chunk);
        }
    }

    /// Records the digests of everything added into `digests`.
    pub fn finish(self, digests: &mut Digests) {
        for (a, d) in self.0 {
            a.set(digests, d.finish());
        }
    }
}

/// Batches a [`Follower`] may hold before the writer that feeds it waits (of up to 256 KiB
/// each, the fill's batches: a few MiB).
const FEED: usize = 16;

/// Where the writer of a staged file hands each chunk it wrote to a [`Follower`]. Dropping it
/// says the body is complete (or abandoned).
pub struct Feed(std::sync::mpsc::SyncSender<Vec<Bytes>>);

impl Feed {
    /// Hands on the next chunks of the body (a batch the writer wrote at once), waiting while
    /// the follower is [`FEED`] batches behind. A follower that stopped (abandoned) drops them.
    pub fn send(&self, batch: Vec<Bytes>) {
        let _ = self.0.send(batch);
    }
}

/// One digest computed on a blocking thread from the chunks of a body while it is written.
///
/// It is handed the chunks the writer just wrote (references, not copies): reading them back
/// from the staged file cost a copy of every byte on the thread that bounds a large miss.
pub struct Follower {
    algorithm: Algorithm,
    done: JoinHandle<io::Result<(u64, String)>>,
    stop: Arc<AtomicBool>,
}

impl Follower {
    /// Starts hashing with `algorithm` the chunks handed to the returned [`Feed`].
    pub fn start(algorithm: Algorithm) -> (Follower, Feed) {
        Follower::with_queue(algorithm, FEED)
    }

    /// [`Follower::start`], the feed waiting once `batches` are queued.
    fn with_queue(algorithm: Algorithm, batches: usize) -> (Follower, Feed) {
        let (feed, chunks) = std::sync::mpsc::sync_channel::<Vec<Bytes>>(batches);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut digest = Running::new(algorithm);
            let mut hashed = 0u64;
            while let Ok(batch) = chunks.recv() {
                if stopped.load(Ordering::Relaxed) {
                    return Err(io::Error::other("digest abandoned"));
                }
                for chunk in &batch {
                    digest.update(chunk);
                    hashed += chunk.len() as u64;
                }
            }
            Ok((hashed, digest.finish()))
        });
        (
            Follower {
                algorithm,
                done,
                stop,
            },
            Feed(feed),
        )
    }

    /// The digest it computes.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// A handle that stops it (at its next chunk) when its digest turns out to be only
    /// recorded: computed from the staged file after the last byte instead, it no longer paces
    /// the writer (and the network) while the body streams.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Its digest, if it hashed the whole body (`len` bytes) before it was stopped; `None` when
    /// it was stopped short.
    pub async fn finish_if_done(self, len: u64, digests: &mut Digests) -> Option<()> {
        self.finish(len, digests).await.ok()
    }

    /// Waits until the whole body (`len` bytes, its [`Feed`] dropped) is hashed and records
    /// the digest into `digests`.
    pub async fn finish(mut self, len: u64, digests: &mut Digests) -> io::Result<()> {
        let (hashed, hex) = (&mut self.done).await.map_err(io::Error::other)??;
        if hashed != len {
            return Err(io::Error::other(format!(
                "{} covered {hashed} of {len} bytes",
                self.algorithm.name()
            )));
        }
        self.algorithm.set(digests, hex);
        Ok(())
    }
}

/// Stops a [`Follower`] from another task ([`Follower::stopper`]).
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// Stops the follower at its next chunk.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Stopper::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Computes `algorithms` over the first `len` bytes of `body` (a staged file) and records them
/// into `digests`. A body shorter than `len` is an error.
///
/// The file is read once, by one blocking thread, in slices of [`SLICE`] bytes that it hands to
/// a [`Follower`] per algorithm (the same slice, no copy), so the digests still run beside each
/// other; a thread per digest reading the file itself copied every byte out of the page cache
/// once per digest (three times for a Maven artifact: SHA-256, SHA-1, MD5).
pub async fn digest_file(
    body: &Body,
    len: u64,
    algorithms: &[Algorithm],
    digests: &mut Digests,
) -> io::Result<()> {
    if algorithms.is_empty() {
        return Ok(());
    }
    let (followers, feeds): (Vec<Follower>, Vec<Feed>) = algorithms
        .iter()
        .map(|&a| Follower::with_queue(a, SLICES_AHEAD))
        .unzip();
    let body = body.clone();
    let read = tokio::task::spawn_blocking(move || read_slices(&body, len, &feeds))
        .await
        .map_err(io::Error::other)?;
    // The feeds are dropped: the followers end once they hashed what they were handed.
    read?;
    for follower in followers {
        follower.finish(len, digests).await?;
    }
    Ok(())
}

/// Reads the first `len` bytes of `body` and hands them to every feed, slice by slice.
fn read_slices(body: &Body, len: u64, feeds: &[Feed]) -> io::Result<()> {
    let mut reader = body.blocking_reader(len);
    // Slices handed out, oldest first: one is read into again once every digest is done with it.
    let mut handed: VecDeque<Bytes> = VecDeque::new();
    let mut read = 0u64;
    loop {
        let mut buf = match handed.pop_front().map(Bytes::try_into_mut) {
            Some(Ok(buf)) => buf,
            Some(Err(busy)) => {
                handed.push_front(busy);
                BytesMut::new()
            }
            None => BytesMut::new(),
        };
        buf.resize(SLICE, 0);
        let mut filled = 0;
        while filled < SLICE {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            break;
        }
        buf.truncate(filled);
        read += filled as u64;
        let slice = buf.freeze();
        for feed in feeds {
            feed.send(vec![slice.clone()]);
        }
        handed.push_back(slice);
        if handed.len() > SLICES_AHEAD + 2 {
            handed.pop_front();
        }
    }
    if read != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("staged body has {read} of {len} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const ALL: [Algorithm; 4] = [
        Algorithm::Sha256,
        Algorithm::Sha1,
        Algorithm::Md5,
        Algorithm::Sha512,
    ];

    fn body() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn expected(body: &[u8]) -> Digests {
        Digests {
            sha256: hex::encode(Sha256::digest(body)),
            sha1: Some(hex::encode(Sha1::digest(body))),
            md5: Some(hex::encode(Md5::digest(body))),
            sha512: Some(hex::encode(Sha512::digest(body))),
        }
    }

    #[tokio::test]
    async fn in_place_following_and_from_the_file_give_the_same_digests() {
        let data = body();
        let mut inline = Inline::new(&ALL);
        for chunk in data.chunks(65_536) {
            inline.update(chunk);
        }
        let mut in_place = Digests::default();
        inline.finish(&mut in_place);
        assert_eq!(in_place, expected(&data));

        // The followers are handed the chunks as the writer writes them.
        let mut file = tempfile::tempfile().unwrap();
        let staged = Body::File(Arc::new(file.try_clone().unwrap()));
        let mut followed = Digests::default();
        let mut followers = Vec::new();
        let mut feeds = Vec::new();
        for a in ALL {
            let (f, feed) = Follower::start(a);
            followers.push(f);
            feeds.push(feed);
        }
        let mut written = 0u64;
        for chunk in data.chunks(300_001) {
            file.write_all(chunk).unwrap();
            written += chunk.len() as u64;
            for feed in &feeds {
                feed.send(vec![Bytes::copy_from_slice(chunk)]);
            }
            tokio::task::yield_now().await;
        }
        drop(feeds);
        for f in followers {
            f.finish(written, &mut followed).await.unwrap();
        }
        assert_eq!(followed, expected(&data));

        let mut late = Digests::default();
        digest_file(&staged, written, &ALL, &mut late)
            .await
            .unwrap();
        assert_eq!(late, expected(&data));
    }

    #[tokio::test]
    async fn a_short_staged_file_fails_the_late_pass() {
        let data = body();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let staged = Body::File(Arc::new(file));
        let mut digests = Digests::default();
        let err = digest_file(&staged, data.len() as u64 + 1, &ALL, &mut digests)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(missing(&digests, &ALL), ALL);
    }

    #[tokio::test]
    async fn an_empty_staged_file_has_the_digests_of_nothing() {
        let staged = Body::File(Arc::new(tempfile::tempfile().unwrap()));
        let mut digests = Digests::default();
        digest_file(&staged, 0, &ALL, &mut digests).await.unwrap();
        assert_eq!(digests, expected(&[]));
    }

    #[tokio::test]
    async fn a_follower_whose_writer_stopped_short_is_an_error() {
        let (f, feed) = Follower::start(Algorithm::Md5);
        feed.send(vec![Bytes::from(body()).slice(..1000)]);
        drop(feed);
        let mut digests = Digests::default();
        assert!(f.finish(2000, &mut digests).await.is_err());
        assert_eq!(digests.md5, None);
    }

    #[tokio::test]
    async fn a_stopped_follower_leaves_its_digest_unless_it_was_done() {
        let whole = Bytes::from(body());
        // Stopped before the body ended: no digest, and the writer is not held up.
        let (f, feed) = Follower::start(Algorithm::Sha1);
        feed.send(vec![whole.slice(..1000)]);
        f.stopper().stop();
        for _ in 0..FEED * 4 {
            feed.send(vec![whole.slice(1000..1001)]);
        }
        drop(feed);
        let mut digests = Digests::default();
        assert!(
            f.finish_if_done(whole.len() as u64, &mut digests)
                .await
                .is_none()
        );
        assert_eq!(digests.sha1, None);
        // Stopped once the whole body was handed over and hashed: its digest stands.
        let (f, feed) = Follower::start(Algorithm::Sha1);
        feed.send(vec![whole.slice(..1000), whole.slice(1000..)]);
        drop(feed);
        while !f.done.is_finished() {
            tokio::task::yield_now().await;
        }
        let stopper = f.stopper();
        stopper.stop();
        assert!(stopper.stopped());
        let mut digests = Digests::default();
        assert!(
            f.finish_if_done(whole.len() as u64, &mut digests)
                .await
                .is_some()
        );
        assert_eq!(digests.sha1, Some(hex::encode(Sha1::digest(&whole))));
    }

    #[tokio::test]
    async fn a_dropped_follower_does_not_hold_up_its_writer() {
        let (f, feed) = Follower::start(Algorithm::Sha1);
        drop(f);
        // More chunks than the feed holds: once the follower is gone they are dropped.
        for _ in 0..FEED * 4 {
            feed.send(vec![Bytes::from_static(b"abc")]);
        }
    }
}
