//! Reading chunks of a local file for a response body, the hot loop of every hit on a file.
//!
//! Three costs dominated this loop when each chunk was a fresh zeroed `Vec` filled on the blocking
//! pool: a thread hop per chunk, the page faults of a new 256 KiB allocation, and zeroing it.
//! Here a chunk is read straight from the page cache on the calling task with `preadv2` and
//! `RWF_NOWAIT` (Linux; it fails rather than waiting for the disk), and only what is not cached
//! yet goes to the blocking pool. Chunks are read into buffers kept in a small process-wide pool
//! ([`POOLED`] buffers of [`CHUNK`] bytes): a buffer comes back to the pool when hyper has
//! written the last [`Bytes`] that points into it, so a busy server reuses a few warm buffers
//! instead of allocating one per chunk. When every pooled buffer is in flight (hundreds of
//! clients at once), further chunks are [`SMALL_CHUNK`] bytes, so memory stays bounded by
//! `POOLED × CHUNK` plus `SMALL_CHUNK` per client. The pool gives its free buffers back to the
//! allocator once none was taken for [`KEEP`], so those 2 MiB are held only while serving.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

/// Bytes per chunk while pooled buffers are free.
pub(crate) const CHUNK: usize = 256 * 1024;
/// Bytes per chunk once every pooled buffer is in flight.
const SMALL_CHUNK: usize = 8 * 1024;
/// Pooled buffers: at most `POOLED × CHUNK` bytes (2 MiB) of them exist at once.
const POOLED: usize = 8;
/// How long the pool keeps its free buffers once no chunk has been read into one: an idle
/// server gives their memory back (`benches/memory.sh`, "idle after the load"), a busy one
/// never lets them go.
const KEEP: Duration = Duration::from_secs(2);

/// The process's pool of chunk buffers.
static POOL: Pool = Pool::new(KEEP);

/// At most [`POOLED`] buffers of [`CHUNK`] bytes, free or lent; the free ones are dropped when
/// none was taken for `keep` (checked by a task on the runtime, started when a buffer comes back
/// and ended when the pool is empty).
struct Pool {
    free: Mutex<Free>,
    /// Pooled buffers handed out and not back yet.
    lent: AtomicUsize,
    keep: Duration,
}

struct Free {
    bufs: Vec<Vec<u8>>,
    /// [`Pool::now`] when a buffer was last taken.
    taken_at: u64,
    /// Whether a task is watching for the pool to go idle.
    watched: bool,
}

impl Pool {
    const fn new(keep: Duration) -> Pool {
        Pool {
            free: Mutex::new(Free {
                bufs: Vec::new(),
                taken_at: 0,
                watched: false,
            }),
            lent: AtomicUsize::new(0),
            keep,
        }
    }

    fn free(&self) -> std::sync::MutexGuard<'_, Free> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now() -> u64 {
        super::clock::monotonic_millis()
    }

    /// A buffer for up to `want` bytes: pooled when `want` is large and one is free.
    fn take(&'static self, want: usize) -> Buf {
        if want > SMALL_CHUNK {
            if self.lent.fetch_add(1, Ordering::AcqRel) < POOLED {
                let data = {
                    let mut free = self.free();
                    free.taken_at = Self::now();
                    free.bufs.pop()
                };
                return Buf {
                    data: data.unwrap_or_else(|| vec![0; CHUNK]),
                    len: 0,
                    pool: Some(self),
                };
            }
            self.lent.fetch_sub(1, Ordering::AcqRel);
        }
        Buf {
            data: vec![0; want.min(SMALL_CHUNK)],
            len: 0,
            pool: None,
        }
    }

    /// Takes back a buffer [`Pool::take`] lent, and makes sure a task will drop the free ones
    /// once the pool is idle (none outside a runtime: those wait for a return inside one).
    fn give_back(&'static self, data: Vec<u8>) {
        let mut free = self.free();
        free.bufs.push(data);
        if !free.watched
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            free.watched = true;
            runtime.spawn(self.drop_when_idle());
        }
        drop(free);
        self.lent.fetch_sub(1, Ordering::AcqRel);
    }

    /// Drops the free buffers once none was taken for `keep`, then ends.
    async fn drop_when_idle(&'static self) {
        /// Lets the next return start a new task, however this one ends (its runtime may stop).
        struct Watching(&'static Pool);
        impl Drop for Watching {
            fn drop(&mut self) {
                self.0.free().watched = false;
            }
        }
        let watching = Watching(self);
        loop {
            tokio::time::sleep(self.keep).await;
            if self.drop_if_idle(Self::now()) {
                std::mem::forget(watching); // the flag is down already, under the lock
                return;
            }
        }
    }

    /// Drops the free buffers if none was taken in the `keep` before `now` (ending the watch);
    /// whether it did.
    fn drop_if_idle(&self, now: u64) -> bool {
        let mut free = self.free();
        if now.saturating_sub(free.taken_at) < self.keep.as_millis() as u64 {
            return false;
        }
        let idle = std::mem::take(&mut free.bufs);
        free.watched = false;
        drop(free);
        drop(idle); // outside the lock
        true
    }
}

/// A buffer holding one chunk; the pooled ones go back to their pool when dropped.
struct Buf {
    data: Vec<u8>,
    len: usize,
    pool: Option<&'static Pool>,
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool {
            pool.give_back(std::mem::take(&mut self.data));
        }
    }
}

/// The next chunk of `file` at `offset`: at most `max` bytes, fewer when buffers are scarce
/// (never zero when `max` is not). A file shorter than `offset + max` is an error.
pub(crate) async fn read_chunk(file: &Arc<File>, offset: u64, max: usize) -> io::Result<Bytes> {
    read_chunk_with(&POOL, file, offset, max).await
}

async fn read_chunk_with(
    pool: &'static Pool,
    file: &Arc<File>,
    offset: u64,
    max: usize,
) -> io::Result<Bytes> {
    let mut buf = pool.take(max.min(CHUNK));
    let len = max.min(buf.data.len());
    let filled = read_cached(file, &mut buf.data[..len], offset);
    if filled < len {
        let file = file.clone();
        buf = tokio::task::spawn_blocking(move || {
            super::read_exact_at(&file, &mut buf.data[filled..len], offset + filled as u64)?;
            Ok::<_, io::Error>(buf)
        })
        .await
        .map_err(io::Error::other)??;
    }
    buf.len = len;
    Ok(Bytes::from_owner(buf))
}

/// Reads into `buf` what the page cache holds at `offset`, without waiting for the disk; how
/// many bytes it read. Anything short of `buf.len()` (not cached, an error, an old kernel) is
/// left for a blocking read, which reports errors and end of file.
#[cfg(target_os = "linux")]
fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> usize {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let mut filled = 0;
    while filled < buf.len() {
        let mut slices = [io::IoSliceMut::new(&mut buf[filled..])];
        match preadv2(
            file,
            &mut slices,
            offset + filled as u64,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(_) => break,
        }
    }
    filled
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &File, _buf: &mut [u8], _offset: u64) -> usize {
    0
}

/// Whether the page cache holds `[offset, offset + len)` of `file` (`len` > 0), judged by its
/// first and last byte: reads of one byte with `RWF_NOWAIT`, which fail instead of waiting for
/// the disk. A file is read front to back and its pages are evicted about together, so the ends
/// of a chunk speak for its middle; when they are wrong, a `sendfile` of the chunk waits for the
/// disk on the calling thread (see `edge/zerocopy.rs`). `false` where the kernel cannot tell.
///
/// A stretch found cached is taken as still cached for [`PROOF_MS`] without probing again (see
/// [`Proofs`]): a hot file hit thousands of times a second costs two `preadv2` calls every
/// 100 ms instead of two per hit.
pub(crate) fn is_cached(file: &Arc<File>, offset: u64, len: usize) -> bool {
    let proof = Proofs::key(file, offset, len);
    let now = Proofs::now();
    if PROOFS.holds(proof, now) {
        return true;
    }
    let cached = probe(file, offset, len);
    if cached {
        PROOFS.note(proof, now);
    }
    cached
}

fn probe(file: &File, offset: u64, len: usize) -> bool {
    const PAGE: u64 = 4096;
    let last = offset + len.max(1) as u64 - 1;
    let mut byte = [0u8; 1];
    read_cached(file, &mut byte, offset) == 1
        && (last / PAGE == offset / PAGE || read_cached(file, &mut byte, last) == 1)
}

/// How long a probe that found a stretch cached stands for it, in milliseconds. The trade-off:
/// pages evicted within this window (memory pressure right after a hit) make one `sendfile`
/// of at most a chunk wait for the disk on a runtime worker, the cost the probe's "the ends
/// speak for the middle" already accepts; a longer window saves nothing measurable.
const PROOF_MS: u32 = 100;
/// Slots of [`PROOFS`]: more than the hot stretches a server sends within [`PROOF_MS`] usually.
const PROOF_SLOTS: usize = 1024;

/// Recent proofs that a stretch of an open file was cached: a direct-mapped table of
/// `tag << 32 | time`, where the slot and the 32-bit tag come from a hash of the open file's
/// address and the stretch (offset, length), and the time is in milliseconds. Lock-free: one
/// load per hit, one store per probe. Two stretches that share a slot take turns (each probes
/// when the other overwrote it). An open file's address is reused only after the file was
/// closed, so a proof can outlive its file only by pointing at a new file at the same address,
/// with the same stretch, within [`PROOF_MS`]: the same bounded cost as an eviction in the
/// window, never wrong bytes.
struct Proofs([AtomicU64; PROOF_SLOTS]);

static PROOFS: Proofs = Proofs([const { AtomicU64::new(0) }; PROOF_SLOTS]);

/// A stretch's slot and tag.
#[derive(Clone, Copy)]
struct Proof {
    slot: usize,
    tag: u64,
}

impl Proofs {
    fn key(file: &Arc<File>, offset: u64, len: usize) -> Proof {
        let at = Arc::as_ptr(file) as usize as u64;
        let h = (at ^ offset.rotate_left(24) ^ (len as u64).rotate_left(48))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Proof {
            slot: (h >> 54) as usize % PROOF_SLOTS,
            tag: h & 0xFFFF_FFFF_0000_0000,
        }
    }

    /// Milliseconds (wraps after 49 days; only differences count).
    fn now() -> u32 {
        super::clock::monotonic_millis() as u32
    }

    fn holds(&self, proof: Proof, now: u32) -> bool {
        let mark = self.0[proof.slot].load(Ordering::Relaxed);
        mark != 0
            && mark & 0xFFFF_FFFF_0000_0000 == proof.tag
            && now.wrapping_sub(mark as u32) < PROOF_MS
    }

    fn note(&self, proof: Proof, now: u32) {
        self.0[proof.slot].store(proof.tag | u64::from(now), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_stands_for_its_stretch_only_and_only_for_a_while() {
        let files = [
            Arc::new(tempfile::tempfile().unwrap()),
            Arc::new(tempfile::tempfile().unwrap()),
        ];
        let proofs = Proofs([const { AtomicU64::new(0) }; PROOF_SLOTS]);
        let proof = Proofs::key(&files[0], 0, 100_000);
        assert!(!proofs.holds(proof, 5), "nothing proven yet");
        proofs.note(proof, 5);
        assert!(proofs.holds(proof, 5));
        assert!(proofs.holds(proof, 5 + PROOF_MS - 1));
        assert!(!proofs.holds(proof, 5 + PROOF_MS), "too old: probe again");
        for other in [
            Proofs::key(&files[1], 0, 100_000),
            Proofs::key(&files[0], 1, 100_000),
            Proofs::key(&files[0], 0, 99_999),
        ] {
            assert!(
                other.slot != proof.slot || other.tag != proof.tag,
                "another file or stretch has its own proof"
            );
            assert!(!proofs.holds(other, 6));
        }
        // Across the clock's wrap.
        proofs.note(proof, u32::MAX - 10);
        assert!(proofs.holds(proof, 20));
    }

    #[tokio::test]
    async fn chunks_match_the_file_and_buffers_come_back() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut file, &data).unwrap();
        let file = Arc::new(file);
        // More chunks held at once than the pool has buffers: the rest are small, all correct.
        let mut held = Vec::new();
        let mut pos = 0u64;
        while pos < data.len() as u64 {
            let want = (data.len() as u64 - pos).min(CHUNK as u64) as usize;
            let chunk = read_chunk(&file, pos, want).await.unwrap();
            assert!(!chunk.is_empty() && chunk.len() <= want);
            assert_eq!(chunk, &data[pos as usize..pos as usize + chunk.len()]);
            pos += chunk.len() as u64;
            held.push(chunk);
        }
        assert_eq!(held.concat(), data);
        for _ in 0..3 * POOLED {
            held.push(read_chunk(&file, 1, CHUNK).await.unwrap());
        }
        assert!(
            held.iter().any(|c| c.len() == SMALL_CHUNK),
            "the pool ran out"
        );
        assert!(POOL.lent.load(Ordering::Acquire) <= POOLED);
        drop(held);
        let big = read_chunk(&file, 0, CHUNK).await.unwrap();
        assert_eq!(big.len(), CHUNK, "buffers came back to the pool");
        assert!(read_chunk(&file, 999_999, 2).await.is_err(), "past the end");
    }

    fn file_of(data: &[u8]) -> Arc<File> {
        let mut file = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut file, data).unwrap();
        Arc::new(file)
    }

    #[tokio::test]
    async fn an_idle_pool_drops_its_buffers_and_serves_again() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(Duration::from_millis(100))));
        let data: Vec<u8> = (0..3 * CHUNK as u32).map(|i| (i % 251) as u8).collect();
        let file = file_of(&data);
        let mut held = Vec::new();
        for i in 0..3 * POOLED {
            let at = (i * 1000) as u64;
            let chunk = read_chunk_with(pool, &file, at, CHUNK).await.unwrap();
            assert_eq!(chunk, &data[at as usize..at as usize + chunk.len()]);
            held.push(chunk);
        }
        let pooled = held.iter().filter(|c| c.len() == CHUNK).count();
        assert_eq!(pooled, POOLED, "never more pooled buffers than the cap");
        assert_eq!(pool.lent.load(Ordering::Acquire), POOLED);
        drop(held);
        assert_eq!(pool.lent.load(Ordering::Acquire), 0);
        assert_eq!(pool.free().bufs.len(), POOLED, "the buffers came back");
        assert!(
            pool.free().watched,
            "a task watches for the pool to go idle"
        );

        // Idle: the task drops them, then ends.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.free().watched || !pool.free().bufs.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the idle pool kept its buffers"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // Serving again: fresh buffers, the right bytes, watched again once back.
        for at in [0, CHUNK as u64 + 7, 2 * CHUNK as u64] {
            let chunk = read_chunk_with(pool, &file, at, CHUNK).await.unwrap();
            assert_eq!(chunk.len(), CHUNK);
            assert_eq!(chunk, &data[at as usize..at as usize + CHUNK]);
        }
        assert_eq!(pool.free().bufs.len(), 1, "one buffer, reused");
        assert!(pool.free().watched);
    }

    #[test]
    fn a_pool_keeps_its_buffers_while_one_was_taken_recently() {
        let keep = Duration::from_millis(2000);
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(keep)));
        // Outside a runtime: no task, the buffers stay until something drops them.
        drop([pool.take(CHUNK), pool.take(CHUNK)]);
        let free = pool.free();
        let (taken_at, kept, watched) = (free.taken_at, free.bufs.len(), free.watched);
        drop(free);
        assert_eq!((kept, watched), (2, false));
        let keep = keep.as_millis() as u64;
        assert!(
            !pool.drop_if_idle(taken_at + keep - 1),
            "taken too recently"
        );
        assert_eq!(pool.free().bufs.len(), 2);
        assert!(pool.drop_if_idle(taken_at + keep));
        assert!(pool.free().bufs.is_empty());
        assert_eq!(pool.lent.load(Ordering::Acquire), 0);
    }
}
