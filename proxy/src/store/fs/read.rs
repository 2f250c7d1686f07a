//! Reading an entry file: what a hit costs when its entry is not hot (`hot.rs`).
//!
//! Over a large cache most hits are of this kind (a million entries, 2,048 hot files), so it
//! makes the fewest system calls the format allows. The first is one `pread` of the file's first
//! [`FIRST`] bytes: a file shorter than that (a pom, a checksum, an index page, most metadata) is
//! then read whole, its length known from the read, so it costs `open`, `pread` and `close` and
//! no `statx`, and its body is served from the bytes read (one write with the headers, no
//! `sendfile`). A longer file is `statx`ed for its length, then read whole when it is short
//! ([`READ_WHOLE`]), else only its last 4 KiB, which hold the trailer and nearly always the whole
//! metadata; a document's body (up to `SMALL`) is read too, an artifact's is sent from its file
//! with `sendfile`: past a few KiB, copying the body through a buffer of ours cost more than the
//! two system calls it saves (measured, `docs/performance.md`). The file's identity (the `statx`
//! that `hot.rs` needs to tell it from a replacement) is asked for only when the entry is kept
//! hot ([`Read::id`]). The file is opened with `O_NOATIME` where the process may (it owns the
//! files): under `relatime` the first read of a file since it was written updates its access
//! time, one inode write per entry read.
//!
//! On Linux the read is first tried on the calling task ([`try_cached`]): `openat2` with
//! `RESOLVE_CACHED` fails instead of reading a directory or inode from the disk, and `preadv2`
//! with `RWF_NOWAIT` fails instead of waiting for it, so an entry whose path and pages are in
//! memory is read without the trip to the blocking pool (two thread wake-ups and the pool's
//! lock: a fifth of the CPU of such hits in a profile over a million entries). What would wait
//! for the disk is finished on the blocking pool ([`finish`]), with the file already open, but
//! for the path's look-up: when the `open` was refused (a name not in the dentry cache, which is
//! every miss's), `FsStore::get` looks the path up in place ([`look_up`]) under tokio's
//! `block_in_place`, which hands the worker's other tasks to another thread meanwhile.
//!
//! The path is opened whole, from the working directory. An `openat2` relative to the data
//! root, kept open, was tried and measured: the dentry lookups stayed 11% of the CPU, because
//! what they cost is the last components (`g123/a-123456.jar`, cache misses in a dentry table
//! that a million entries fill), not the root's, whose dentries stay hot.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::{FileId, SMALL, TRAILER, corrupt, parse_meta, parse_trailer};
use crate::store::Meta;
use crate::store::index::is_mutable;

/// How much of a large file's end one read takes: the trailer and, nearly always, the metadata.
const TAIL: u64 = 4096;

/// How much the first read of every file asks for: one page. A regular file's read returns
/// fewer bytes than asked only at the end of the file, or, with `RWF_NOWAIT`, before a page
/// that is not in the page cache; pages are 4 KiB or larger, so a read of one page is either
/// whole or refused, and a short one is the whole file.
const FIRST: usize = 4096;

/// Files up to this size, past the first read, are read whole by one more (their metadata, and
/// a document's body); longer ones by their tail.
const READ_WHOLE: u64 = 16 * 1024;

/// Set once an `O_NOATIME` open was refused (files owned by another user): later opens do
/// without it.
static NOATIME_REFUSED: AtomicBool = AtomicBool::new(false);

/// An entry file read: the open file, its metadata and, when it was read whole, its body.
#[derive(Debug)]
pub(super) struct Read {
    pub(super) file: File,
    pub(super) meta: Meta,
    /// The body, when it was read: a document's of up to `SMALL` bytes, or the body of any
    /// file shorter than [`FIRST`].
    pub(super) body: Option<Bytes>,
    /// What a `statx` said of the file, when the read needed one.
    id: Option<FileId>,
}

impl Read {
    /// What tells the file read from a replacement (`hot.rs`): one `statx` of the open file,
    /// unless the read needed one already.
    pub(super) fn id(&mut self) -> io::Result<FileId> {
        if let Some(id) = &self.id {
            return Ok(id.clone());
        }
        let id = FileId::of(&self.file.metadata()?);
        self.id = Some(id.clone());
        Ok(id)
    }
}

/// How far [`try_cached`] got without waiting for the disk.
// Returned and matched at once on every hit that is not hot: boxing the read would cost an
// allocation each time to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Attempt {
    /// The entry file read, or that there is none, or an error.
    Done(io::Result<Option<Read>>),
    /// Finish with [`finish`] on the blocking pool: the path or the pages are not in memory.
    /// `Some` when the file is already open.
    Blocked(Option<File>),
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

/// Reads the entry file of `key` at `path` if that needs no disk access (see the module
/// comment).
pub(super) fn try_cached(key: &str, path: &Path) -> Attempt {
    attempt(key, path, Wait::No)
}

/// What [`try_cached`] does after its `open` was refused ([`Attempt::Blocked`] without a
/// file): the path looked up even if that reads the disk (a directory's blocks, usually in the
/// page cache), then the file read only if that needs no disk access. The caller runs it where
/// waiting cannot stall other tasks (`FsStore::get`: tokio's `block_in_place`). It is how a
/// name never looked up before (every miss) is told missing without the trip to the blocking
/// pool.
pub(super) fn look_up(key: &str, path: &Path) -> Attempt {
    attempt(key, path, Wait::Yes)
}

/// Opens the entry file (waiting for the disk or not, as `open_wait` says), then reads it if
/// that needs no disk access.
fn attempt(key: &str, path: &Path, open_wait: Wait) -> Attempt {
    let file = match open(path, open_wait) {
        Ok(Some(file)) => file,
        Ok(None) => return Attempt::Done(Ok(None)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Attempt::Blocked(None),
        Err(e) => return Attempt::Done(Err(e)),
    };
    match load(key, &file, Wait::No) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Attempt::Blocked(Some(file)),
        loaded => Attempt::Done(loaded.map(|loaded| Some(loaded.with(file)))),
    }
}

/// Finishes what [`try_cached`] left, waiting for the disk (call on the blocking pool).
pub(super) fn finish(key: &str, path: &Path, file: Option<File>) -> io::Result<Option<Read>> {
    let file = match file {
        Some(file) => file,
        None => match open(path, Wait::Yes)? {
            Some(file) => file,
            None => return Ok(None),
        },
    };
    let loaded = load(key, &file, Wait::Yes)?;
    Ok(Some(loaded.with(file)))
}

/// The entry file of `key` at `path`, waiting for the disk (call on the blocking pool).
#[cfg(test)]
pub(super) fn read_entry(key: &str, path: &Path) -> io::Result<Option<Read>> {
    finish(key, path, None)
}

/// The metadata of the entry at `path`, and the file's size (blocking).
pub(crate) fn read_head(path: &Path) -> io::Result<Option<(Meta, u64)>> {
    let Some(file) = open(path, Wait::Yes)? else {
        return Ok(None);
    };
    let len = file.metadata()?.len();
    Ok(Some((tail_meta(&file, len, Wait::Yes)?, len)))
}

/// The body of the open entry file, `len` bytes from its start, when every page of it is in
/// the page cache (one `preadv2` with `RWF_NOWAIT` for a body of a few pages): `hot.rs` keeps
/// a small artifact's body in memory once, on the read that makes it hot. `None` when reading
/// it would wait for the disk (the entry is then kept as its open file) or the file is short.
pub(super) fn cached_body(file: &File, len: u64) -> Option<Bytes> {
    let len = usize::try_from(len).ok()?;
    let mut buf = vec![0u8; len];
    match read_full(file, &mut buf, len, 0, Wait::No) {
        Ok(n) if n == len => Some(Bytes::from(buf)),
        _ => None,
    }
}

/// What [`load`] read of a file.
struct Loaded {
    meta: Meta,
    body: Option<Bytes>,
    id: Option<FileId>,
}

impl Loaded {
    fn with(self, file: File) -> Read {
        Read {
            file,
            meta: self.meta,
            body: self.body,
            id: self.id,
        }
    }
}

/// Reads the metadata of the open entry file (and its body when it is small).
fn load(key: &str, file: &File, wait: Wait) -> io::Result<Loaded> {
    let mut first = [0u8; FIRST];
    let n = read_once(file, &mut first, 0, wait)?;
    if n < FIRST {
        // The whole file (see `FIRST`): its length is the read's.
        let len = n as u64;
        let (meta, body_len) = whole_meta(&first[..n], len)?;
        let body = Bytes::copy_from_slice(&first[..body_len as usize]);
        return Ok(Loaded {
            meta,
            body: Some(body),
            id: None,
        });
    }
    let id = FileId::of(&file.metadata()?);
    let len = id.len;
    if len < FIRST as u64 {
        return Err(corrupt("changed while read"));
    }
    if len <= READ_WHOLE {
        let mut all = read_prefix(file, &first, len, Whole::Yes, wait)?;
        let (meta, body_len) = whole_meta(&all, len)?;
        all.truncate(body_len as usize);
        let document = is_mutable(key, &meta);
        return Ok(Loaded {
            meta,
            body: document.then(|| Bytes::from(all)),
            id: Some(id),
        });
    }
    let meta = tail_meta(file, len, wait)?;
    // A document is read whole for the ecosystems (and kept in memory); an artifact's body is
    // sent from its file.
    let body = if is_mutable(key, &meta) && meta.len <= SMALL {
        Some(Bytes::from(read_prefix(
            file,
            &first,
            meta.len,
            Whole::No,
            wait,
        )?))
    } else {
        None
    };
    Ok(Loaded {
        meta,
        body,
        id: Some(id),
    })
}

/// Whether [`read_prefix`] reads a whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whole {
    Yes,
    No,
}

/// The first `len` bytes of the file, of which `first` holds the start: the rest read after
/// it. [`Whole::Yes`]: `len` is the file's length from its `statx`, and a file longer than
/// that (it grew since) is refused.
fn read_prefix(
    file: &File,
    first: &[u8],
    len: u64,
    whole: Whole,
    wait: Wait,
) -> io::Result<Vec<u8>> {
    let len = len as usize;
    // Room for one byte more than the file had: a file that grew since the `statx` is not
    // trusted. A read that returns the `len` bytes asked for ends it (no read of the end).
    let mut buf = vec![0u8; len + usize::from(whole == Whole::Yes)];
    let copied = first.len().min(len);
    buf[..copied].copy_from_slice(&first[..copied]);
    let n = read_full(file, &mut buf[copied..], len - copied, copied as u64, wait)?;
    if copied + n != len {
        return Err(corrupt("changed while read"));
    }
    buf.truncate(len);
    Ok(buf)
}

/// The metadata of a whole entry file, and its body's length.
fn whole_meta(all: &[u8], len: u64) -> io::Result<(Meta, u64)> {
    if len < TRAILER {
        return Err(corrupt("too short"));
    }
    let end = (len - TRAILER) as usize;
    let meta_len = parse_trailer(&all[end..], len)?;
    let body_len = len - TRAILER - meta_len;
    let meta = parse_meta(&all[body_len as usize..end], body_len)?;
    Ok((meta, body_len))
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

/// One read into `buf` at `offset` (again when interrupted); the bytes read.
fn read_once(file: &File, buf: &mut [u8], offset: u64, wait: Wait) -> io::Result<usize> {
    loop {
        let n = match wait {
            Wait::Yes => crate::store::read_at(file, buf, offset),
            Wait::No => read_nowait(file, buf, offset),
        };
        match n {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            n => return n,
        }
    }
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

/// Opens the entry file at `path`; `None` when there is none.
/// [`Wait::No`]: `WouldBlock` when finding the file would read the disk.
fn open(path: &Path, wait: Wait) -> io::Result<Option<File>> {
    match open_file(path, wait) {
        Ok(file) => Ok(Some(file)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
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

    /// Every way of reading: on the task (the file was just written, so it is cached), by the
    /// look-up that may wait for the disk (then on the pool if its pages are not in memory),
    /// and on the blocking pool.
    fn both(key: &str, path: &Path) -> [io::Result<Option<Read>>; 3] {
        let finished = |attempt| match attempt {
            Attempt::Done(done) => done,
            Attempt::Blocked(file) => finish(key, path, file),
        };
        [
            finished(try_cached(key, path)),
            finished(look_up(key, path)),
            read_entry(key, path),
        ]
    }

    #[test]
    fn entries_read_the_same_on_the_task_and_on_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        // (key, body length, metadata padding, whether the body is read): files shorter than
        // one page (one read, no `statx`), a document and an artifact read whole after their
        // `statx` (the artifact's body not kept), artifacts of which only the tail is read
        // (metadata shorter and longer than the tail), a document read by its tail and then
        // its body, one too large to read.
        for (key, body_len, pad, read_body) in [
            ("m/a.jar", 200usize, 10usize, true),
            ("m/tiny.jar", 0, 0, true),
            ("m/page.jar", FIRST - 200, 0, true),
            ("m/whole.jar", FIRST, 0, false),
            ("m/dir/", 3000, 10, true),
            ("m/short-dir/", 10_000, 10, true),
            ("m/short.jar", READ_WHOLE as usize - 500, 10, false),
            ("m/mid.jar", 50_000, 10, false),
            ("m/big.jar", 300_000, 10, false),
            ("m/big-meta.jar", 300_000, 9000, false),
            ("m/big-dir/", 200_000, 10, true),
            ("m/huge-dir/", 300_000, 10, false),
        ] {
            let body: Vec<u8> = (0..body_len).map(|i| (i % 251) as u8).collect();
            let (bytes, meta) = entry_file(&body, pad);
            let path = dir.path().join(key.replace('/', "_"));
            std::fs::write(&path, &bytes).unwrap();
            for read in both(key, &path) {
                let mut read = read.unwrap().expect("an entry");
                assert_eq!(read.meta, meta, "{key}");
                assert_eq!(read.id().unwrap().len, bytes.len() as u64, "{key}");
                match &read.body {
                    Some(b) => assert_eq!(&b[..], &body[..], "{key}"),
                    None => assert!(!read_body, "{key}: its body is read"),
                }
                assert_eq!(read.body.is_some(), read_body, "{key}");
                let mut from_file = vec![0u8; body_len];
                crate::store::read_exact_at(&read.file, &mut from_file, 0).unwrap();
                assert_eq!(from_file, body, "{key}: the open file is the entry's");
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
    fn a_file_that_grows_after_its_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jar");
        // Read by one short read, and by a read of its first page, a `statx` and one more.
        for body in [&b"body"[..], &[3u8; 20_000][..]] {
            let (bytes, _) = entry_file(body, 5);
            std::fs::write(&path, &bytes).unwrap();
            for wait in [Wait::No, Wait::Yes] {
                let file = open(&path, Wait::Yes).unwrap().unwrap();
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| io::Write::write_all(&mut f, b"more"))
                    .unwrap();
                let e = load("m/x.jar", &file, wait).err().expect("refused");
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{wait:?}: {e}");
                std::fs::write(&path, &bytes).unwrap();
            }
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
        let Attempt::Blocked(Some(file)) = try_cached("m/x.jar", &path) else {
            panic!("the read would wait for the disk: left for the pool, the file open");
        };
        let mut read = finish("m/x.jar", Path::new("/nonexistent"), Some(file))
            .unwrap()
            .expect("read from the file already open, not the path");
        assert_eq!(read.meta, meta);
        assert_eq!(read.id().unwrap().len, bytes.len() as u64);
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
            Attempt::Done(Ok(Some(read))) => assert_eq!(read.meta, meta),
            other => panic!("a file just written is read on the task: {other:?}"),
        }
        let accessed = std::fs::metadata(&path).unwrap().accessed().unwrap();
        if !NOATIME_REFUSED.load(Ordering::Relaxed) {
            assert_eq!(accessed, old, "O_NOATIME: the read left the access time");
        }
    }
}
