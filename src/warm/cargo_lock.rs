//! `Cargo.lock` (formats 1 to 4): every registry package becomes a [`Crate`] with its sha256
//! `checksum` (format 1 kept checksums in `[metadata]`). Crates.io is recognised under both index
//! protocols; other sparse registries are kept with their source. Path packages (the workspace
//! itself) are left out; git packages and git-index alternate registries are skipped.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Crate, Hash, HashAlgorithm, Plan, SkipKind, Source, Want, bad_input};

const FIX: &str = "regenerate it with `cargo generate-lockfile`";
const CRATES_IO_GIT: &str = "registry+https://github.com/rust-lang/crates.io-index";
const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

#[derive(Deserialize)]
struct Lock {
    version: Option<Spanned<u32>>,
    #[serde(default)]
    package: Vec<Package>,
    /// Format 1: `"checksum <name> <version> (<source>)" = "<sha256>"`.
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.toml(FIX)?;
    if let Some(version) = &lock.version
        && !(1..=4).contains(version.get_ref())
    {
        return Err(bad_input(
            &source.origin_at(version.span().start),
            format!(
                "Cargo.lock version {} is not supported (1 to 4 are)",
                version.get_ref()
            ),
            "update repox, or regenerate the lock with an older cargo",
        ));
    }
    let mut plan = Plan::default();
    for package in &lock.package {
        let Some(src) = &package.source else {
            continue;
        };
        let origin = source.origin_at(package.name.span().start);
        let name = package.name.get_ref();
        let what = format!("{name} {}", package.version);
        let registry = if src == CRATES_IO_GIT || src == CRATES_IO_SPARSE {
            None
        } else if src.starts_with("sparse+") {
            Some(src.clone())
        } else if src.starts_with("git+") {
            plan.skip(
                what,
                origin,
                SkipKind::Unsupported,
                "git dependency: cargo fetches it with git, not from a registry",
            );
            continue;
        } else if src.starts_with("registry+") {
            plan.skip(
                what,
                origin,
                SkipKind::Unsupported,
                "registry with a git index: only crates.io and sparse (`sparse+https://…`) \
                 registries can be warmed",
            );
            continue;
        } else {
            plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                format!("unknown source `{src}`"),
            );
            continue;
        };
        let checksum = package.checksum.clone().or_else(|| {
            let key = format!("checksum {name} {} ({src})", package.version);
            lock.metadata.get(&key).filter(|c| *c != "<none>").cloned()
        });
        let checksum = match checksum.map(|c| Hash::from_hex(HashAlgorithm::Sha256, &c)) {
            Some(Ok(hash)) => Some(hash),
            Some(Err(why)) => {
                plan.skip(
                    what,
                    origin,
                    SkipKind::Invalid,
                    format!("bad checksum: {why}"),
                );
                continue;
            }
            None => None,
        };
        plan.items.push(Want::Crate(Crate {
            name: name.clone(),
            version: package.version.clone(),
            checksum,
            registry,
            origin,
        }));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{error_text, fixture, items, skipped};

    #[test]
    fn version_3_with_git_and_path() {
        let plan = parse_file(&fixture("cargo/v3/Cargo.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "6 crate anyhow 1.0.89 sha256:86fdf8605db99b54d3cd748a44c6d04df638eb5dafb219b135d0149bd0db01f6",
                "12 crate itoa 1.0.11 sha256:49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b",
                "43 crate serde 1.0.210 sha256:c8e3592472072e6e22e0a54d5904d9febf8508f65fb8552499a1abc7d1078c3a",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "32 my-fork 0.2.0: git dependency: cargo fetches it with git, not from a registry",
                "37 internal 1.1.0: registry with a git index: only crates.io and sparse (`sparse+https://…`) registries can be warmed",
                "! 49 broken 0.1.0: bad checksum: `xyz` is not a sha256 digest (64 hex digits)",
            ]
        );
    }

    #[test]
    fn version_4_sparse_registries() {
        let plan = parse_file(&fixture("cargo/v4/Cargo.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "6 crate cfg-if 1.0.0 sha256:baf1de4339761588bc0619e3cbc0120ee582ebb74b53b4efbf79117bd2da40fd",
                "12 crate corp-utils 2.3.1 registry=sparse+https://cargo.corp.example/index/ sha256:d3b07384d113edec49eaa6238ad5ff00d3b07384d113edec49eaa6238ad5ff00",
            ]
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn version_1_metadata_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.lock");
        fs_err::write(
            &path,
            "[[package]]\nname = \"libc\"\nversion = \"0.2.50\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
             [metadata]\n\"checksum libc 0.2.50 (registry+https://github.com/rust-lang/crates.io-index)\" = \"aab692d7759f5cd8c859e169db98ae5b52c924add2af5fbbca11d12fefb567c1\"\n",
        )
        .unwrap();
        let plan = parse_file(&path, None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "2 crate libc 0.2.50 sha256:aab692d7759f5cd8c859e169db98ae5b52c924add2af5fbbca11d12fefb567c1"
            ]
        );
        fs_err::write(&path, "version = 5\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("Cargo.lock:1: Cargo.lock version 5 is not supported (1 to 4 are)"),
            "{err}"
        );
    }
}
