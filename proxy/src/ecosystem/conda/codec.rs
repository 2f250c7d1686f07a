//! Reading cached repodata as a stream, through its compression, and compressing rewritten
//! copies the same way. repodata.json for conda-forge is hundreds of megabytes uncompressed,
//! so readers never load a whole entry unless it must be rewritten.

use std::io::{self, BufRead, Cursor, Read};
use std::sync::Arc;

use crate::store::{self, Body, Entry};

use super::channel::Compression;

/// Reads a committed entry's body from the start.
struct FileReader {
    file: Arc<std::fs::File>,
    pos: u64,
    len: u64,
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = store::read_at(&self.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The entry's body as stored (still compressed).
pub(super) fn raw(entry: &Entry) -> Box<dyn Read + Send> {
    match &entry.body {
        Body::Bytes(b) => Box::new(Cursor::new(b.clone())),
        Body::File(f) => Box::new(FileReader {
            file: f.clone(),
            pos: 0,
            len: entry.meta.len,
        }),
        other => other.blocking_reader(entry.meta.len),
    }
}

/// The entry's body decompressed, buffered.
pub(super) fn decoded(
    entry: &Entry,
    compression: Compression,
) -> io::Result<Box<dyn BufRead + Send>> {
    let raw = io::BufReader::with_capacity(256 * 1024, raw(entry));
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Zstd => Box::new(io::BufReader::new(
            zstd::stream::read::Decoder::with_buffer(raw)?,
        )),
        Compression::Bzip2 => {
            Box::new(io::BufReader::new(bzip2::bufread::MultiBzDecoder::new(raw)))
        }
    })
}

/// Compresses a rewritten body like the variant it replaces.
pub(super) fn encode(data: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Zstd => zstd::stream::encode_all(data, 3),
        Compression::Bzip2 => {
            let mut out = Vec::new();
            bzip2::read::BzEncoder::new(data, bzip2::Compression::default())
                .read_to_end(&mut out)?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_every_compression() {
        let data = br#"{"info":{"subdir":"noarch"},"packages":{}}"#;
        for c in [Compression::None, Compression::Zstd, Compression::Bzip2] {
            let encoded = encode(data, c).unwrap();
            let entry = Entry::from_bytes(encoded.into(), "application/octet-stream", None, 0);
            let mut back = Vec::new();
            decoded(&entry, c).unwrap().read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{c:?}");
        }
    }
}
