//! Hosted conda: uploaded `.conda` and `.tar.bz2` packages, and the `repodata.json` repox
//! regenerates for their subdir after every upload.
//!
//! A package's record is its `info/index.json` (name, version, build, depends, subdir, …) plus
//! the `size`, `md5` and `sha256` of the file, as conda-index writes it. A `.tar.bz2` is a
//! bzip2 tar holding `info/index.json`; a `.conda` (format v2 of conda-package-handling) is an
//! uncompressed zip holding `info-<stem>.tar.zst` with the same file inside.
//! An upload is refused when its file name is not `<name>-<version>-<build>.<ext>` of its own
//! index.json, or its subdir is not the one it was uploaded to: a client could otherwise
//! publish a package under another package's name.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use md5::Md5;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CondaError {
    /// Not a readable conda package, or one that contradicts its path (400).
    #[error("{0}")]
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> CondaError {
    CondaError::Invalid(why.into())
}

/// The two package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.tar.bz2`, listed under `packages`.
    TarBz2,
    /// `.conda`, listed under `packages.conda`.
    Conda,
}

impl Format {
    /// The format of a file name, if it is a package.
    pub fn of(file: &str) -> Option<(Format, &str)> {
        if let Some(stem) = file.strip_suffix(".tar.bz2") {
            Some((Format::TarBz2, stem))
        } else {
            file.strip_suffix(".conda")
                .map(|stem| (Format::Conda, stem))
        }
    }

    /// The repodata key listing packages of this format.
    pub fn key(self) -> &'static str {
        match self {
            Format::TarBz2 => "packages",
            Format::Conda => "packages.conda",
        }
    }
}

/// Subdirs conda knows (`conda/base/constants.py` KNOWN_SUBDIRS), plus `noarch`.
pub fn valid_subdir(subdir: &str) -> bool {
    const KNOWN: &[&str] = &[
        "noarch",
        "emscripten-wasm32",
        "wasi-wasm32",
        "freebsd-64",
        "linux-32",
        "linux-64",
        "linux-aarch64",
        "linux-armv6l",
        "linux-armv7l",
        "linux-ppc64",
        "linux-ppc64le",
        "linux-riscv64",
        "linux-s390x",
        "osx-64",
        "osx-arm64",
        "win-32",
        "win-64",
        "win-arm64",
        "zos-z",
    ];
    KNOWN.contains(&subdir)
}

/// True for a channel name repox hosts: lowercase letters, digits, `-`, `_`, `.`.
pub fn valid_channel(channel: &str) -> bool {
    !channel.is_empty()
        && channel.len() <= 64
        && !channel.starts_with('.')
        && channel.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// The largest `info/index.json` read.
const INDEX_LIMIT: u64 = 1 << 20;

fn index_from_tar(reader: impl Read, file: &str) -> Result<Map<String, Value>, CondaError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("{file}: not a tar archive: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(format!("{file}: unreadable archive: {e}")))?;
        let is_index = entry
            .path()
            .is_ok_and(|p| p.as_os_str() == "info/index.json");
        if is_index {
            let mut text = Vec::new();
            entry
                .take(INDEX_LIMIT)
                .read_to_end(&mut text)
                .map_err(|e| invalid(format!("{file}: unreadable info/index.json: {e}")))?;
            return serde_json::from_slice(&text).map_err(|e| {
                invalid(format!("{file}: info/index.json is not a JSON object: {e}"))
            });
        }
    }
    Err(invalid(format!(
        "{file} has no info/index.json: is it a conda package?"
    )))
}

/// Reads `info/index.json` from a package file named `file`.
pub fn read_index(file: &str, reader: impl Read + Seek) -> Result<Map<String, Value>, CondaError> {
    let Some((format, stem)) = Format::of(file) else {
        return Err(invalid(format!(
            "{file} is not a conda package: the name must end in .conda or .tar.bz2"
        )));
    };
    match format {
        Format::TarBz2 => index_from_tar(bzip2::read::BzDecoder::new(reader), file),
        Format::Conda => {
            let mut zip = zip::ZipArchive::new(reader)
                .map_err(|e| invalid(format!("{file}: not a .conda (zip) archive: {e}")))?;
            let inner = format!("info-{stem}.tar.zst");
            let member = zip
                .by_name(&inner)
                .map_err(|_| invalid(format!("{file} has no {inner}: is it a conda package?")))?;
            let zstd = zstd::stream::read::Decoder::new(member)
                .map_err(|e| invalid(format!("{file}: {inner} is not zstd: {e}")))?;
            index_from_tar(zstd, file)
        }
    }
}

/// Checks that the package's index.json agrees with the name it was uploaded under and its
/// subdir.
pub fn check(file: &str, subdir: &str, index: &Map<String, Value>) -> Result<(), CondaError> {
    let field = |k: &str| {
        index
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| invalid(format!("{file}: info/index.json has no `{k}`")))
    };
    let (name, version, build) = (field("name")?, field("version")?, field("build")?);
    let (_, stem) = Format::of(file).ok_or_else(|| invalid(format!("{file} is not a package")))?;
    let expected = format!("{name}-{version}-{build}");
    if stem != expected {
        return Err(invalid(format!(
            "{file} holds {expected}: upload it under that name"
        )));
    }
    let own = index
        .get("subdir")
        .and_then(Value::as_str)
        .unwrap_or("noarch");
    if own != subdir {
        return Err(invalid(format!(
            "{file} is built for {own}, not {subdir}: upload it to …/{own}/{file}"
        )));
    }
    Ok(())
}

/// The repodata record of a package: its index.json with the file's size and digests (hex).
pub fn record(index: &Map<String, Value>, size: u64, md5: &str, sha256: &str) -> Value {
    let mut r = index.clone();
    r.insert("size".into(), size.into());
    r.insert("md5".into(), md5.into());
    r.insert("sha256".into(), sha256.into());
    Value::Object(r)
}

/// The record of a package held in memory.
pub fn record_of(index: &Map<String, Value>, file: &[u8]) -> Value {
    record(
        index,
        file.len() as u64,
        &hex::encode(Md5::digest(file)),
        &hex::encode(Sha256::digest(file)),
    )
}

/// The `repodata.json` of one subdir from its packages' records, keyed by file name.
pub fn repodata(subdir: &str, records: &BTreeMap<String, Value>) -> Vec<u8> {
    let mut packages = Map::new();
    let mut conda = Map::new();
    for (file, record) in records {
        match Format::of(file) {
            Some((Format::TarBz2, _)) => packages.insert(file.clone(), record.clone()),
            Some((Format::Conda, _)) => conda.insert(file.clone(), record.clone()),
            None => None,
        };
    }
    let doc = serde_json::json!({
        "info": { "subdir": subdir },
        "packages": packages,
        "packages.conda": conda,
        "removed": [],
        "repodata_version": 1,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The `repodata.json.zst` beside it.
pub fn compress(repodata: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::encode_all(repodata, 3)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    pub(crate) fn index_json(name: &str, subdir: &str) -> Value {
        serde_json::json!({
            "name": name, "version": "1.0", "build": "0", "build_number": 0,
            "depends": ["python >=3.8"], "subdir": subdir, "license": "MIT",
            "timestamp": 1_700_000_000_000u64,
        })
    }

    fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A `.tar.bz2` package holding `index`.
    pub(crate) fn tar_bz2(index: &Value) -> Vec<u8> {
        let json = serde_json::to_vec(index).unwrap();
        let tar = tar_with(&[("info/index.json", &json), ("lib/x.txt", b"x")]);
        let mut out = Vec::new();
        let mut enc = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap();
        out
    }

    /// A `.conda` package named `stem` holding `index`.
    pub(crate) fn dot_conda(stem: &str, index: &Value) -> Vec<u8> {
        let json = serde_json::to_vec(index).unwrap();
        let info = zstd::encode_all(&tar_with(&[("info/index.json", &json)])[..], 3).unwrap();
        let pkg = zstd::encode_all(&tar_with(&[("lib/x.txt", b"x")])[..], 3).unwrap();
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("metadata.json", stored).unwrap();
        zip.write_all(br#"{"conda_pkg_format_version": 2}"#)
            .unwrap();
        zip.start_file(format!("pkg-{stem}.tar.zst"), stored)
            .unwrap();
        zip.write_all(&pkg).unwrap();
        zip.start_file(format!("info-{stem}.tar.zst"), stored)
            .unwrap();
        zip.write_all(&info).unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn both_formats_yield_their_index() {
        let index = index_json("mypkg", "noarch");
        let bz2 = tar_bz2(&index);
        let got = read_index("mypkg-1.0-0.tar.bz2", Cursor::new(&bz2)).unwrap();
        assert_eq!(Value::Object(got.clone()), index);
        check("mypkg-1.0-0.tar.bz2", "noarch", &got).unwrap();
        let conda = dot_conda("mypkg-1.0-0", &index);
        let got = read_index("mypkg-1.0-0.conda", Cursor::new(&conda)).unwrap();
        assert_eq!(Value::Object(got), index);
    }

    #[test]
    fn packages_that_contradict_their_path_are_refused() {
        let index = index_json("mypkg", "linux-64");
        let got = read_index("mypkg-1.0-0.tar.bz2", Cursor::new(tar_bz2(&index))).unwrap();
        let e = check("mypkg-1.0-0.tar.bz2", "noarch", &got).unwrap_err();
        assert!(e.to_string().contains("linux-64"), "{e}");
        let e = check("numpy-1.0-0.tar.bz2", "linux-64", &got).unwrap_err();
        assert!(e.to_string().contains("mypkg-1.0-0"), "{e}");
        assert!(read_index("x.whl", Cursor::new(b"")).is_err());
        assert!(read_index("x-1-0.conda", Cursor::new(b"not a zip")).is_err());
        assert!(read_index("x-1-0.tar.bz2", Cursor::new(b"BZh9 nope")).is_err());
        let conda = dot_conda("other-1.0-0", &index);
        assert!(read_index("mypkg-1.0-0.conda", Cursor::new(conda)).is_err());
    }

    #[test]
    fn repodata_lists_records_by_format() {
        let index = index_json("mypkg", "noarch");
        let bz2 = tar_bz2(&index);
        let got = read_index("mypkg-1.0-0.tar.bz2", Cursor::new(&bz2)).unwrap();
        let mut records = BTreeMap::new();
        records.insert("mypkg-1.0-0.tar.bz2".to_owned(), record_of(&got, &bz2));
        records.insert("mypkg-1.0-0.conda".to_owned(), record_of(&got, b"c"));
        let doc: Value = serde_json::from_slice(&repodata("noarch", &records)).unwrap();
        let r = &doc["packages"]["mypkg-1.0-0.tar.bz2"];
        assert_eq!(r["sha256"], hex::encode(Sha256::digest(&bz2)));
        assert_eq!(r["size"], bz2.len());
        assert_eq!(r["depends"][0], "python >=3.8");
        assert_eq!(
            doc["packages.conda"]["mypkg-1.0-0.conda"]["md5"],
            hex::encode(Md5::digest(b"c"))
        );
        assert_eq!(doc["info"]["subdir"], "noarch");
        let raw = repodata("noarch", &records);
        assert_eq!(zstd::decode_all(&compress(&raw).unwrap()[..]).unwrap(), raw);
    }

    #[test]
    fn subdirs_and_channels_are_checked() {
        assert!(valid_subdir("linux-64") && valid_subdir("noarch"));
        assert!(!valid_subdir("..") && !valid_subdir("linux-65"));
        assert!(valid_channel("team-stable"));
        assert!(!valid_channel("..") && !valid_channel("A") && !valid_channel("a/b"));
    }

    proptest::proptest! {
        /// Arbitrary bytes under a package name are refused, never a panic.
        #[test]
        fn arbitrary_files_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = read_index("x-1-0.conda", Cursor::new(&body));
            let _ = read_index("x-1-0.tar.bz2", Cursor::new(&body));
        }
    }
}
