//! Just enough of the zip format to take `*.dist-info/METADATA` out of a wheel (PEP 427) read
//! by ranges: the end of central directory record (zip64 included) names the central directory,
//! the central directory names the member, and its local header says where its bytes start.
//!
//! Every input is hostile: it comes from an upstream. Each step is a pure function over bytes
//! already read that either returns the next span to read or fails; spans are checked to lie
//! inside the file and before the central directory, sizes are capped ([`MAX_CENTRAL_DIRECTORY`],
//! [`MAX_METADATA`]) before anything is allocated or inflated, inflation stops at the declared
//! size (no zip bombs), and the CRC-32 is checked.

use std::io::Read;

/// Bytes read from the end of a wheel at first: the end record, its comment (at most 64 KiB,
/// rarely any), and usually the whole central directory and the `.dist-info` files before it.
pub const TAIL: u64 = 64 << 10;

/// Largest central directory repox reads (a wheel with ~100,000 files).
pub const MAX_CENTRAL_DIRECTORY: u64 = 16 << 20;

/// Largest `METADATA` repox serves (PyPI's largest are a few hundred KiB: long descriptions).
pub const MAX_METADATA: u64 = 16 << 20;

/// Why a wheel's metadata could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// No end of central directory record where it must be.
    #[error("not a zip file (no end of central directory record)")]
    NotZip,
    /// A record points outside the file or overlaps another.
    #[error("corrupt zip: {0}")]
    Corrupt(&'static str),
    /// Multi-disk, encrypted or otherwise unsupported.
    #[error("unsupported zip: {0}")]
    Unsupported(&'static str),
    /// No `<name>.dist-info/METADATA`, or more than one.
    #[error("the wheel has {0} `.dist-info/METADATA` files, not one")]
    Metadata(usize),
    /// Larger than the caps above.
    #[error("too large: {0}")]
    TooLarge(&'static str),
}

/// A span `[start, start + len)` of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u64,
    /// Length.
    pub len: u64,
}

impl Span {
    /// Offset past the last byte.
    pub fn end(self) -> u64 {
        self.start + self.len
    }
}

/// The `METADATA` member, as the central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name in the archive.
    pub name: String,
    /// 0 stored, 8 deflated.
    method: u16,
    crc32: u32,
    compressed: u64,
    uncompressed: u64,
    /// Offset of its local header.
    local: u64,
    /// Where the central directory starts: the member's bytes end before it.
    limit: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// The central directory's span, from `tail`: the last bytes of a file of `file_len` bytes,
/// starting at offset `tail_start`.
pub fn central_directory(tail: &[u8], tail_start: u64, file_len: u64) -> Result<Span, ZipError> {
    if tail_start.checked_add(tail.len() as u64) != Some(file_len) {
        return Err(ZipError::Corrupt("the tail does not end the file"));
    }
    // The end record is 22 bytes plus a comment of at most 65,535: search backwards for its
    // signature with a comment length that reaches exactly the end.
    let min = tail.len().saturating_sub(22 + 0xFFFF);
    let mut at = tail.len().checked_sub(22).ok_or(ZipError::NotZip)?;
    let eocd = loop {
        if u32_at(tail, at) == Some(EOCD)
            && u16_at(tail, at + 20).map(usize::from) == Some(tail.len() - at - 22)
        {
            break at;
        }
        if at == min {
            return Err(ZipError::NotZip);
        }
        at -= 1;
    };
    let field = |o| u16_at(tail, eocd + o).ok_or(ZipError::NotZip);
    if field(4)? != 0 || field(6)? != 0 {
        return Err(ZipError::Unsupported("multi-disk archive"));
    }
    let size32 = u32_at(tail, eocd + 12).ok_or(ZipError::NotZip)?;
    let offset32 = u32_at(tail, eocd + 16).ok_or(ZipError::NotZip)?;
    let eocd_abs = tail_start + eocd as u64;
    let (size, offset, end) = if size32 == u32::MAX || offset32 == u32::MAX {
        // Zip64: a 20-byte locator right before the end record points at the zip64 end record.
        let loc = eocd
            .checked_sub(20)
            .ok_or(ZipError::Corrupt("no zip64 locator"))?;
        if u32_at(tail, loc) != Some(ZIP64_LOCATOR) {
            return Err(ZipError::Corrupt("no zip64 locator"));
        }
        let rec_abs = u64_at(tail, loc + 8).ok_or(ZipError::NotZip)?;
        let rec = rec_abs
            .checked_sub(tail_start)
            .and_then(|r| usize::try_from(r).ok())
            .filter(|r| r + 56 <= loc)
            .ok_or(ZipError::Unsupported("zip64 end record outside the tail"))?;
        if u32_at(tail, rec) != Some(ZIP64_EOCD) {
            return Err(ZipError::Corrupt("bad zip64 end record"));
        }
        let size = u64_at(tail, rec + 40).ok_or(ZipError::NotZip)?;
        let offset = u64_at(tail, rec + 48).ok_or(ZipError::NotZip)?;
        (size, offset, rec_abs)
    } else {
        (u64::from(size32), u64::from(offset32), eocd_abs)
    };
    if size > MAX_CENTRAL_DIRECTORY {
        return Err(ZipError::TooLarge("central directory"));
    }
    if offset.checked_add(size).is_none_or(|e| e > end) {
        return Err(ZipError::Corrupt("central directory outside the file"));
    }
    Ok(Span {
        start: offset,
        len: size,
    })
}

/// Whether `name` is `<dir>.dist-info/METADATA` at the top of the archive.
fn is_metadata(name: &str) -> bool {
    name.strip_suffix(".dist-info/METADATA")
        .is_some_and(|dir| !dir.is_empty() && !dir.contains('/'))
}

/// Finds the one `METADATA` in the central directory `cd` (the bytes of `span`).
pub fn find_metadata(cd: &[u8], span: Span) -> Result<Member, ZipError> {
    let mut found = Vec::new();
    let mut at = 0usize;
    while at + 46 <= cd.len() {
        if u32_at(cd, at) != Some(CENTRAL) {
            return Err(ZipError::Corrupt("bad central directory entry"));
        }
        let h = |o| u16_at(cd, at + o).ok_or(ZipError::Corrupt("short entry"));
        let w = |o| u32_at(cd, at + o).ok_or(ZipError::Corrupt("short entry"));
        let (flags, method) = (h(8)?, h(10)?);
        let (name_len, extra_len, comment_len) = (
            usize::from(h(28)?),
            usize::from(h(30)?),
            usize::from(h(32)?),
        );
        let name_at = at + 46;
        let extra_at = name_at + name_len;
        let next = extra_at + extra_len + comment_len;
        let name = cd
            .get(name_at..extra_at)
            .ok_or(ZipError::Corrupt("entry name past the directory"))?;
        let extra = cd
            .get(extra_at..extra_at + extra_len)
            .ok_or(ZipError::Corrupt("entry extra past the directory"))?;
        if let Ok(name) = std::str::from_utf8(name)
            && is_metadata(name)
        {
            let mut member = Member {
                name: name.to_owned(),
                method,
                crc32: w(16)?,
                compressed: u64::from(w(20)?),
                uncompressed: u64::from(w(24)?),
                local: u64::from(w(42)?),
                limit: span.start,
            };
            zip64_extra(extra, &mut member)?;
            if flags & 1 != 0 {
                return Err(ZipError::Unsupported("encrypted METADATA"));
            }
            found.push(member);
        }
        at = next;
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(ZipError::Metadata(n)),
    }
}

/// Applies the zip64 extra field (id 1): the 64-bit sizes and offset replace the 32-bit fields
/// that are `0xFFFFFFFF`, in that order.
fn zip64_extra(extra: &[u8], m: &mut Member) -> Result<(), ZipError> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at).unwrap_or(0);
        let len = usize::from(u16_at(extra, at + 2).unwrap_or(0));
        let data = extra
            .get(at + 4..at + 4 + len)
            .ok_or(ZipError::Corrupt("extra field past its entry"))?;
        if id == 1 {
            let mut p = 0;
            for field in [&mut m.uncompressed, &mut m.compressed, &mut m.local] {
                if *field == u64::from(u32::MAX) {
                    *field = u64_at(data, p).ok_or(ZipError::Corrupt("short zip64 field"))?;
                    p += 8;
                }
            }
        }
        at += 4 + len;
    }
    Ok(())
}

impl Member {
    /// The span holding its local header and data, at most: the local header's own name and
    /// extra lengths are only known once it is read, so the span allows the largest ones, cut
    /// at the central directory.
    pub fn span(&self) -> Result<Span, ZipError> {
        if self.uncompressed > MAX_METADATA || self.compressed > MAX_METADATA + (1 << 16) {
            return Err(ZipError::TooLarge("METADATA"));
        }
        if self.local >= self.limit {
            return Err(ZipError::Corrupt("METADATA after the central directory"));
        }
        let most = 30 + 2 * 0xFFFF + self.compressed;
        let end = self.limit.min(self.local + most);
        Ok(Span {
            start: self.local,
            len: end - self.local,
        })
    }

    /// The member's uncompressed bytes, from `local`: the bytes of [`Member::span`].
    pub fn extract(&self, local: &[u8]) -> Result<Vec<u8>, ZipError> {
        if u32_at(local, 0) != Some(LOCAL) {
            return Err(ZipError::Corrupt("bad local header"));
        }
        let name_len = usize::from(u16_at(local, 26).ok_or(ZipError::Corrupt("short header"))?);
        let extra_len = usize::from(u16_at(local, 28).ok_or(ZipError::Corrupt("short header"))?);
        let start = 30 + name_len + extra_len;
        let len = usize::try_from(self.compressed).map_err(|_| ZipError::TooLarge("METADATA"))?;
        let data = local
            .get(start..start + len)
            .ok_or(ZipError::Corrupt("METADATA data past its span"))?;
        let want =
            usize::try_from(self.uncompressed).map_err(|_| ZipError::TooLarge("METADATA"))?;
        let out = match self.method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(want.min(1 << 20));
                // One byte more than declared: enough to tell a lie without inflating a bomb.
                flate2::read::DeflateDecoder::new(data)
                    .take(self.uncompressed + 1)
                    .read_to_end(&mut out)
                    .map_err(|_| ZipError::Corrupt("bad deflate data"))?;
                out
            }
            _ => return Err(ZipError::Unsupported("compression method")),
        };
        if out.len() != want {
            return Err(ZipError::Corrupt(
                "METADATA size differs from the directory",
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&out);
        if crc.sum() != self.crc32 {
            return Err(ZipError::Corrupt("METADATA CRC-32 mismatch"));
        }
        Ok(out)
    }
}

/// The `METADATA` of a whole wheel in memory (what the tests check the steps with).
#[cfg(test)]
pub fn metadata_of(wheel: &[u8]) -> Result<Vec<u8>, ZipError> {
    let len = wheel.len() as u64;
    let tail_start = len.saturating_sub(TAIL);
    let slice = |s: Span| {
        let end = usize::try_from(s.end()).ok().filter(|&e| e <= wheel.len());
        end.map(|e| &wheel[s.start as usize..e])
            .ok_or(ZipError::Corrupt("span outside the file"))
    };
    let cd = central_directory(&wheel[tail_start as usize..], tail_start, len)?;
    let member = find_metadata(slice(cd)?, cd)?;
    member.extract(slice(member.span()?)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    /// A zip with these (name, content, deflate?) members, built by hand as wheels are.
    pub fn zip(members: &[(&str, &[u8], bool)], comment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, content, deflate) in members {
            let data = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            } else {
                content.to_vec()
            };
            let mut crc = flate2::Crc::new();
            crc.update(content);
            let method: u16 = if *deflate { 8 } else { 0 };
            let local = out.len() as u32;
            out.extend(LOCAL.to_le_bytes());
            out.extend(20u16.to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend(method.to_le_bytes());
            out.extend([0u8; 4]);
            out.extend(crc.sum().to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((content.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(&data);
            central.extend(CENTRAL.to_le_bytes());
            central.extend(20u16.to_le_bytes());
            central.extend(20u16.to_le_bytes());
            central.extend(0u16.to_le_bytes());
            central.extend(method.to_le_bytes());
            central.extend([0u8; 4]);
            central.extend(crc.sum().to_le_bytes());
            central.extend((data.len() as u32).to_le_bytes());
            central.extend((content.len() as u32).to_le_bytes());
            central.extend((name.len() as u16).to_le_bytes());
            central.extend([0u8; 12]);
            central.extend(local.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend(&central);
        out.extend(EOCD.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend((comment.len() as u16).to_le_bytes());
        out.extend(comment);
        out
    }

    const META: &[u8] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: idna\n";

    #[test]
    fn reads_metadata_stored_or_deflated_with_a_comment() {
        for deflate in [false, true] {
            let w = zip(
                &[
                    ("demo/__init__.py", b"x = 1\n", deflate),
                    ("demo-1.0.dist-info/METADATA", META, deflate),
                    ("demo-1.0.dist-info/RECORD", b"", deflate),
                ],
                b"a comment",
            );
            assert_eq!(metadata_of(&w).unwrap(), META);
        }
    }

    #[test]
    fn refuses_what_is_not_one_metadata() {
        let none = zip(&[("demo/METADATA", META, false)], b"");
        assert_eq!(metadata_of(&none), Err(ZipError::Metadata(0)));
        let nested = zip(&[("x/demo-1.0.dist-info/METADATA", META, false)], b"");
        assert_eq!(metadata_of(&nested), Err(ZipError::Metadata(0)));
        let two = zip(
            &[
                ("a-1.dist-info/METADATA", META, false),
                ("b-1.dist-info/METADATA", META, false),
            ],
            b"",
        );
        assert_eq!(metadata_of(&two), Err(ZipError::Metadata(2)));
        assert_eq!(metadata_of(b"PK\x03\x04 not a zip"), Err(ZipError::NotZip));
    }

    #[test]
    fn a_bomb_is_refused_before_inflating() {
        let big = vec![b'a'; 1 << 20];
        let mut w = zip(&[("demo-1.0.dist-info/METADATA", &big, true)], b"");
        // Declare 4 GiB - 2 uncompressed in the central directory: refused by the cap.
        let cd = central_directory(&w, 0, w.len() as u64).unwrap();
        let at = cd.start as usize + 24;
        w[at..at + 4].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        assert_eq!(metadata_of(&w), Err(ZipError::TooLarge("METADATA")));
        // Declare less than it inflates to: inflation stops one byte past it.
        let at = cd.start as usize + 24;
        w[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(
            metadata_of(&w),
            Err(ZipError::Corrupt(
                "METADATA size differs from the directory"
            ))
        );
    }

    #[test]
    fn a_wrong_crc_is_refused() {
        let mut w = zip(&[("demo-1.0.dist-info/METADATA", META, false)], b"");
        let cd = central_directory(&w, 0, w.len() as u64).unwrap();
        w[cd.start as usize + 16] ^= 1;
        assert_eq!(
            metadata_of(&w),
            Err(ZipError::Corrupt("METADATA CRC-32 mismatch"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any bytes: an answer or an error, never a panic, never more than the cap.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            if let Ok(m) = metadata_of(&bytes) {
                prop_assert!(m.len() as u64 <= MAX_METADATA);
            }
        }

        /// A real wheel with bytes overwritten anywhere: an answer that is the original (the
        /// CRC holds) or an error, never a panic.
        #[test]
        fn corrupted_wheels_never_panic_or_lie(
            deflate in any::<bool>(),
            comment in proptest::collection::vec(any::<u8>(), 0..64),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut w = zip(
                &[("demo/__init__.py", b"print(1)\n", deflate), ("demo-1.0.dist-info/METADATA", META, deflate)],
                &comment,
            );
            for (i, b) in edits {
                let i = i.index(w.len());
                w[i] = b;
            }
            if let Ok(m) = metadata_of(&w) {
                // A flipped name byte may still leave a valid METADATA elsewhere; its bytes
                // passed the CRC check, so they are what the directory declared.
                prop_assert!(m.len() as u64 <= MAX_METADATA);
            }
        }

        /// Truncating a wheel at any point fails cleanly.
        #[test]
        fn truncated_wheels_fail(cut in 1usize..200) {
            let w = zip(&[("demo-1.0.dist-info/METADATA", META, true)], b"");
            let short = &w[..w.len().saturating_sub(cut)];
            prop_assert!(metadata_of(short).is_err());
        }
    }
}
