//! Property tests of reading a cache file (see `crate::fuzz`): a file in the cache directory is
//! the body, its metadata and a trailer, and another process, a full disk or a crash can leave
//! anything there. Any content reads as an entry or an error, never a panic, and an intact file
//! reads back as written.

use bytes::Bytes;
use proptest::prelude::*;

use super::MAGIC;
use super::read::read_entry;
use crate::fuzz;
use crate::store::{Entry, Meta};

/// A cache file as the store writes it: body, metadata JSON, metadata length, magic.
fn cache_file(body: &[u8]) -> Vec<u8> {
    let entry = Entry::from_bytes(Bytes::copy_from_slice(body), "text/plain", None, 1);
    let json = serde_json::to_vec(&*entry.meta).unwrap_or_default();
    let mut file = body.to_vec();
    file.extend_from_slice(&json);
    file.extend_from_slice(&(json.len() as u64).to_le_bytes());
    file.extend_from_slice(MAGIC);
    file
}

fn read(bytes: &[u8]) -> Result<Option<(Meta, Option<Bytes>)>, TestCaseError> {
    let dir = tempfile::tempdir().map_err(fuzz::fail)?;
    let path = dir.path().join("entry");
    std::fs::write(&path, bytes).map_err(fuzz::fail)?;
    // A directory listing: a document, whose small body is read into memory.
    Ok(read_entry("m/dir/", &path)
        .ok()
        .flatten()
        .map(|read| (read.meta, read.body)))
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_cache_file_reads_as_an_entry_or_an_error(
        body in prop::collection::vec(any::<u8>(), 0..300),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
        meta_len in proptest::option::of(prop_oneof![
            any::<u64>(),
            0..400u64,
            (0..32u64).prop_map(|d| u64::MAX - d),
        ]),
    ) {
        let mut file = cache_file(&body);
        let intact = file.clone();
        for (at, byte) in flips {
            let at = at % file.len();
            file[at] = byte;
        }
        if let Some(len) = meta_len {
            let at = file.len() - 16;
            file[at..at + 8].copy_from_slice(&len.to_le_bytes());
        }
        if let Some(cut) = cut {
            file.truncate(cut % (file.len() + 1));
        }
        let _ = read(&file)?;
        let Some((meta, Some(read_body))) = read(&intact)? else {
            return Err(TestCaseError::fail("an intact small file did not read back"));
        };
        prop_assert_eq!(&read_body[..], &body[..]);
        prop_assert_eq!(meta.len, body.len() as u64);
    }

    #[test]
    fn any_bytes_read_as_an_entry_or_an_error(bytes in fuzz::bytes()) {
        let _ = read(&bytes)?;
    }
}
