//! Reading an entry file: what a hit costs when its entry is not hot (`hot.rs`).
//!
//! Over a large cache most hits are of this kind (a million entries, 2,048 hot files), so it
//! makes the fewest system calls the format allows: one `open`, one `statx` on the open file
//! (its identity for `hot.rs` and its length), and one `pread`: of the whole file when it is
//! small (an artifact of a few hundred bytes, a metadata document), else of its last 4 KiB,
//! which hold the trailer and nearly always the whole metadata. The file is opened with
//! `O_NOATIME` where the process may (it owns the files): under `relatime` the first read of a
//! file since it was written updates its access time, one inode write per entry read.
//!
//! On Linux the read is first tried on the calling task ([`try_cached`]): `openat2` with
//! `RESOLVE_CACHED` fails instead of reading a directory or inode from the disk, and `preadv2`
//! with `RWF_NOWAIT` fails instead of waiting for it, so an entry whose path and pages are in
//! memory is read without the trip to the blocking pool (two thread wake-ups and the pool's
//! lock: a fifth of the CPU of such hits in a profile over a million entries). What would wait
//! for the disk is finished on the blocking pool ([`finish`]), with the file already open.
//!
//! The path is opened whole, from the working directory. An `openat2` relative to the data
//! root, kept open, was tried and measured: the dentry lookups stayed 11% of the CPU, because
//! what they cost is the last components (`g123/a-123456.jar`, cache misses in a dentry table
//! that a million entries fill), not the root's, whose dentries stay hot.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::{FileId, SMALL, TRAILER, corrupt, parse_meta, parse_trailer};
use crate::store::index::is_mutable;
use crate::store::{Body, Entry, Meta};

/// How much of a large file's end one read takes: the trailer and, nearly always, the metadata.
const TAIL: u64 = 4096;

/// Set once an `O_NOATIME` open was refused (files owned by another user): later opens do
/// without it.
static NOATIME_REFUSED: AtomicBool = AtomicBool::new(false);

/// An entry file opened, with what one `statx` said of it.
#[derive(Debug)]
pub(super) struct Opened {
    file: File,
    id: FileId,
}

/// How far [`try_cached`] got without waiting for the disk.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The entry, or that there is none, or an error.
    Done(io::Result<Option<(Entry, FileId)>>),
    /// Finish with [`finish`] on the blocking pool: the path or the pages are not in memory.
    /// `Some` when the file is already open.
    Blocked(Option<Opened>),
}

/// Whether a call may wait for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Yes,
    No,
}

/// A read that would have waited for the disk (only with [`Wait::No`]).
fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// Reads the entry of `key` at `path` if that needs no disk access (see the module comment).
pub(super) fn try_cached(key: &str, path: &Path) -> Attempt {
    let opened = match open(path, Wait::No) {
        Ok(Some(opened)) => opened,
        Ok(None) => return Attempt::Done(Ok(None)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Attempt::Blocked(None),
        Err(e) => return Attempt::Done(Err(e)),
    };
    match load(key, &opened, Wait::No) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Attempt::Blocked(Some(opened)),
        loaded => Attempt::Done(loaded.map(|loaded| Some(entry(opened, loaded)))),
    }
}

/// Finishes what [`try_cached`] left, waiting for the disk (call on the blocking pool).
pub(super) fn finish(
    key: &str,
    path: &Path,
    opened: Option<Opened>,
) -> io::Result<Option<(Entry, FileId)>> {
    let opened = match opened {
        Some(opened) => opened,
        None => match open(path, Wait::Yes)? {
            Some(opened) => opened,
            None => return Ok(None),
        },
    };
    let loaded = load(key, &opened, Wait::Yes)?;
    Ok(Some(entry(opened, loaded)))
}

/// The entry of `key` at `path`, waiting for the disk (call on the blocking pool). A small
/// document is read whole into memory; any other entry keeps its file open as its body.
#[cfg(test)]
pub(super) fn read_entry(key: &str, path: &Path) -> io::Result<Option<(Entry, FileId)>> {
    finish(key, path, None)
}

/// The metadata of the entry at `path`, and the file's size (blocking).
pub(crate) fn read_head(path: &Path) -> io::Result<Option<(Meta, u64)>> {
    let Some(opened) = open(path, Wait::Yes)? else {
        return Ok(None);
    };
    let len = opened.id.len;
    Ok(Some((tail_meta(&opened.file, len, Wait::Yes)?, len)))
}

/// What [`load`] read: the metadata, and the body when it is a small document.
struct Loaded {
    meta: Meta,
    bytes: Option<Bytes>,
}

fn entry(opened: Opened, loaded: Loaded) -> (Entry, FileId) {
    let body = match loaded.bytes {
        // The file is closed here: the bytes are the body.
        Some(bytes) => Body::Bytes(bytes),
        // An artifact: clients download it, repox does not read it, and a file body is sent
        // with `sendfile` (`edge/zerocopy.rs`) and holds no memory while hot.
        None => Body::File(Arc::new(opened.file)),
    };
    let entry = Entry {
        meta: Arc::new(loaded.meta),
        body,
    };
    (entry, opened.id)
}

/// Reads the metadata of the open entry file (and a small document's body).
fn load(key: &str, opened: &Opened, wait: Wait) -> io::Result<Loaded> {
    let len = opened.id.len;
    if len < TRAILER {
        return Err(corrupt("too short"));
    }
    if len > SMALL + 4096 {
        let meta = tail_meta(&opened.file, len, wait)?;
        return Ok(Loaded { meta, bytes: None });
    }
    // Room for one byte more than the file had: a file that grew since the `statx` is not
    // trusted. A read that returns the `len` bytes asked for ends it (one `pread`, no second
    // one to see the end of the file).
    let mut all = vec![0u8; len as usize + 1];
    let n = read_full(&opened.file, &mut all, len as usize, 0, wait)?;
    if n as u64 != len {
        return Err(corrupt("changed while read"));
    }
    all.truncate(n);
    let meta_len = parse_trailer(&all[n - TRAILER as usize..], len)?;
    let body_len = len - TRAILER - meta_len;
    let meta = parse_meta(&all[body_len as usize..(len - TRAILER) as usize], body_len)?;
    let bytes = is_mutable(key, &meta).then(|| {
        let mut bytes = Bytes::from(all);
        bytes.truncate(body_len as usize);
        bytes
    });
    Ok(Loaded { meta, bytes })
}

/// Reads the metadata at the end of an open entry file of `len` bytes: one read of its last
/// [`TAIL`] bytes, a second only for metadata longer than that.
fn tail_meta(file: &File, len: u64, wait: Wait) -> io::Result<Meta> {
    if len < TRAILER {
        return Err(corrupt("too short"));
    }
    let tail_len = len.min(TAIL);
    let mut tail = vec![0u8; tail_len as usize];
    if (read_full(file, &mut tail, tail_len as usize, len - tail_len, wait)? as u64) < tail_len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "cache file shorter than expected",
        ));
    }
    let meta_len = parse_trailer(&tail[(tail_len - TRAILER) as usize..], len)?;
    let body_len = len - TRAILER - meta_len;
    if meta_len + TRAILER <= tail_len {
        let start = (tail_len - TRAILER - meta_len) as usize;
        return parse_meta(&tail[start..(tail_len - TRAILER) as usize], body_len);
    }
    let mut json = vec![0u8; meta_len as usize];
    if (read_full(file, &mut json, meta_len as usize, body_len, wait)? as u64) < meta_len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "cache file shorter than expected",
        ));
    }
    parse_meta(&json, body_len)
}

/// Reads into `buf` from `offset` until it holds at least `want` bytes or the file ends; the
/// bytes read. [`Wait::No`]: `WouldBlock` instead of waiting for the disk.
fn read_full(
    file: &File,
    buf: &mut [u8],
    want: usize,
    offset: u64,
    wait: Wait,
) -> io::Result<usize> {
    let mut filled = 0;
    while filled < want.min(buf.len()) {
        let at = offset + filled as u64;
        let n = match wait {
            Wait::Yes => crate::store::read_at(file, &mut buf[filled..], at),
            Wait::No => read_nowait(file, &mut buf[filled..], at),
        };
        match n {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One `pread` that fails with `WouldBlock` rather than wait for the disk.
#[cfg(target_os = "linux")]
fn read_nowait(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let mut slices = [io::IoSliceMut::new(buf)];
    match preadv2(file, &mut slices, offset, ReadWriteFlags::NOWAIT) {
        Ok(n) => Ok(n),
        Err(Errno::INTR) => Err(io::ErrorKind::Interrupted.into()),
        // Not cached, or a filesystem that cannot tell: the blocking pool reads it.
        Err(_) => Err(would_block()),
    }
}

#[cfg(not(target_os = "linux"))]
fn read_nowait(_file: &File, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
    Err(would_block())
}

/// Opens the entry file at `path` and `statx`es it; `None` when there is none.
/// [`Wait::No`]: `WouldBlock` when finding the file would read the disk.
fn open(path: &Path, wait: Wait) -> io::Result<Option<Opened>> {
    let file = match open_file(path, wait) {
        Ok(file) => file,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    // `File::metadata` is one `statx` of the open file.
    let id = FileId::of(&file.metadata()?);
    Ok(Some(Opened { file, id }))
}

#[cfg(target_os = "linux")]
fn open_file(path: &Path, wait: Wait) -> io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;
    /// Set once `openat2` turned out to be missing (before Linux 5.6, or filtered).
    static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
    loop {
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let noatime = !NOATIME_REFUSED.load(Ordering::Relaxed);
        if noatime {
            flags |= OFlags::NOATIME;
        }
        let opened = match wait {
            Wait::Yes => rustix::fs::open(path, flags, Mode::empty()),
            Wait::No if NO_OPENAT2.load(Ordering::Relaxed) => return Err(would_block()),
            Wait::No => openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED),
        };
        match opened {
            Ok(fd) => return Ok(File::from(fd)),
            // `O_NOATIME` is for the files' owner (or `CAP_FOWNER`).
            Err(Errno::PERM) if noatime => NOATIME_REFUSED.store(true, Ordering::Relaxed),
            Err(Errno::NOENT) => return Err(io::ErrorKind::NotFound.into()),
            Err(Errno::NOTDIR) => return Err(io::ErrorKind::NotADirectory.into()),
            Err(Errno::INTR) => {}
            Err(e) if wait == Wait::No => {
                if e == Errno::NOSYS {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                // `EAGAIN`: a part of the path is not in the dentry cache. Any other error is
                // left for the blocking open to report.
                return Err(would_block());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn open_file(path: &Path, wait: Wait) -> io::Result<File> {
    match wait {
        Wait::Yes => File::open(path),
        Wait::No => Err(would_block()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Digests;
    use crate::store::fs::MAGIC;

    /// An entry file as `FsMiss::finish` writes it, with metadata padded to `meta_pad` bytes
    /// of URL.
    fn entry_file(body: &[u8], meta_pad: usize) -> (Vec<u8>, Meta) {
        let meta = Meta {
            len: body.len() as u64,
            digests: Digests {
                sha256: "ab".repeat(32),
                ..Default::default()
            },
            url: "u".repeat(meta_pad),
            verification: crate::store::Verification::Sha256,
            ..Default::default()
        };
        let json = serde_json::to_vec(&meta).unwrap();
        let mut file = body.to_vec();
        file.extend_from_slice(&json);
        file.extend_from_slice(&(json.len() as u64).to_le_bytes());
        file.extend_from_slice(MAGIC);
        (file, meta)
    }

    /// Both ways of reading: on the task (the file was just written, so it is cached) and on
    /// the blocking pool.
    fn both(key: &str, path: &Path) -> [io::Result<Option<(Entry, FileId)>>; 2] {
        let cached = match try_cached(key, path) {
            Attempt::Done(done) => done,
            Attempt::Blocked(opened) => finish(key, path, opened),
        };
        [cached, read_entry(key, path)]
    }

    #[test]
    fn entries_read_the_same_on_the_task_and_on_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        // Small artifact (one read of the whole file), small document (kept as bytes), large
        // artifact with short metadata (one read of the tail) and with metadata longer than
        // the tail (a second read).
        for (key, body_len, pad) in [
            ("m/a.jar", 200usize, 10usize),
            ("m/dir/", 3000, 10),
            ("m/big.jar", 300_000, 10),
            ("m/big-meta.jar", 300_000, 9000),
            ("m/tiny.jar", 0, 0),
        ] {
            let body: Vec<u8> = (0..body_len).map(|i| (i % 251) as u8).collect();
            let (bytes, meta) = entry_file(&body, pad);
            let path = dir.path().join(key.replace('/', "_"));
            std::fs::write(&path, &bytes).unwrap();
            for read in both(key, &path) {
                let (entry, id) = read.unwrap().expect("an entry");
                assert_eq!(*entry.meta, meta, "{key}");
                assert_eq!(id.len, bytes.len() as u64);
                match (&entry.body, key.ends_with('/')) {
                    (Body::Bytes(b), true) => assert_eq!(&b[..], &body[..]),
                    (Body::File(f), false) => {
                        let mut read = vec![0u8; body_len];
                        crate::store::read_exact_at(f, &mut read, 0).unwrap();
                        assert_eq!(read, body, "{key}");
                    }
                    _ => panic!("{key}: documents are bytes, artifacts files"),
                }
            }
            let (head, len) = read_head(&path).unwrap().unwrap();
            assert_eq!((head, len), (meta, bytes.len() as u64));
        }
    }

    #[test]
    fn missing_torn_and_grown_files_are_not_entries() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none/x.jar");
        for read in both("m/x.jar", &missing) {
            assert!(read.unwrap().is_none());
        }
        assert!(read_head(&missing).unwrap().is_none());
        let (whole, _) = entry_file(b"0123456789", 5);
        let cut = dir.path().join("cut");
        std::fs::write(&cut, &whole[..whole.len() - 3]).unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, b"REPOXv1\n").unwrap();
        for path in [&cut, &short] {
            for read in both("m/x.jar", path) {
                let e = read.expect_err("an error");
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            }
        }
        // A trailer whose length points before the file's start.
        let mut lying = whole.clone();
        let at = lying.len() - 16;
        lying[at..at + 8].copy_from_slice(&(whole.len() as u64).to_le_bytes());
        let lying_path = dir.path().join("lying");
        std::fs::write(&lying_path, &lying).unwrap();
        assert!(read_head(&lying_path).is_err());
        for read in both("m/x.jar", &lying_path) {
            assert!(read.is_err());
        }
    }

    #[test]
    fn a_file_that_grows_after_its_statx_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jar");
        let (bytes, _) = entry_file(b"body", 5);
        std::fs::write(&path, &bytes).unwrap();
        for wait in [Wait::No, Wait::Yes] {
            let opened = open(&path, Wait::Yes).unwrap().unwrap();
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut f| io::Write::write_all(&mut f, b"more"))
                .unwrap();
            let e = load("m/x.jar", &opened, wait).err().expect("refused");
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{wait:?}: {e}");
            std::fs::write(&path, &bytes).unwrap();
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_not_in_the_page_cache_is_finished_on_the_pool_with_its_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jar");
        let (bytes, meta) = entry_file(&[7u8; 10_000], 5);
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        if read_nowait(&file, &mut [0u8; 1], 0).is_ok() {
            // tmpfs and the like keep their pages: nothing to test here.
            return;
        }
        let Attempt::Blocked(Some(opened)) = try_cached("m/x.jar", &path) else {
            panic!("the read would wait for the disk: left for the pool, the file open");
        };
        let (entry, id) = finish("m/x.jar", Path::new("/nonexistent"), Some(opened))
            .unwrap()
            .expect("read from the file already open, not the path");
        assert_eq!((*entry.meta).clone(), meta);
        assert_eq!(id.len, bytes.len() as u64);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_cached_file_is_read_on_the_task_without_updating_its_access_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jar");
        let (bytes, meta) = entry_file(b"body", 5);
        std::fs::write(&path, &bytes).unwrap();
        // An access time older than the modification time: a `relatime` read would update it.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_accessed(old))
            .unwrap();
        match try_cached("m/x.jar", &path) {
            Attempt::Done(Ok(Some((entry, _)))) => assert_eq!(*entry.meta, meta),
            other => panic!("a file just written is read on the task: {other:?}"),
        }
        let accessed = std::fs::metadata(&path).unwrap().accessed().unwrap();
        if !NOATIME_REFUSED.load(Ordering::Relaxed) {
            assert_eq!(accessed, old, "O_NOATIME: the read left the access time");
        }
    }
}
