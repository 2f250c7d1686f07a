//! What a path below `/conda/` names: an optional anaconda.org token, the channel (labels
//! included), the subdir and the file, and which upstreams serve that channel.
//!
//! Channels are paths of any depth (`conda-forge`, `conda-forge/label/dev`, `pkgs/main`), so
//! repox never splits them out exactly: an upstream's `channels` globs are matched against every
//! leading part of the directory (`pkgs`, `pkgs/main`, `pkgs/main/linux-64`), which makes
//! `conda-forge` cover its labels and `pkgs/*` cover Anaconda's `defaults`.
//!
//! `t/<token>/` (anaconda.org private channels, rattler's `authentication_middleware.rs`) is sent
//! upstream as is but cached under `t/<digest of the token>/`, so private files never share a
//! cache entry with public ones, nor with another token's, and the token is not a file name.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::repository::Repository;

/// The kinds of files a channel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    /// `repodata.json` and its variants: mutable, checked for an absolute `base_url`.
    Repodata(Compression),
    /// `repodata_shards.msgpack.zst` (CEP 16): mutable, checked for absolute URLs.
    ShardIndex,
    /// A CEP 16 shard, named by its SHA-256: immutable.
    Shard,
    /// `.conda` and `.tar.bz2`: immutable, verified against repodata.
    Package,
    /// `repodata.jlap`: answered 404 so that conda falls back to whole repodata.
    Jlap,
    /// Anything else (`channeldata.json`, `run_exports.json`, listings): mutable, passed through.
    Metadata,
}

/// How a repodata variant is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    /// Plain JSON.
    None,
    /// Zstandard (`.zst`).
    Zstd,
    /// bzip2 (`.bz2`).
    Bzip2,
}

/// Splits a `t/<token>/` prefix off a path below the repository: `(token, rest)`.
pub fn split_token(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("t/")
        .and_then(|r| r.split_once('/'))
        .filter(|(token, _)| !token.is_empty())
}

/// A classified path.
#[derive(Debug)]
pub(super) struct ChannelPath<'a> {
    /// The token of a `t/<token>/` prefix.
    pub token: Option<&'a str>,
    /// The path without that prefix.
    pub below: &'a str,
    /// The last segment.
    pub file: &'a str,
    /// What the file is.
    pub kind: FileKind,
}

const REPODATA: &[&str] = &["repodata", "current_repodata", "repodata_from_packages"];

impl<'a> ChannelPath<'a> {
    /// Classifies a validated path.
    pub(super) fn parse(path: &'a str) -> ChannelPath<'a> {
        let (token, below) = match split_token(path) {
            Some((token, below)) => (Some(token), below),
            None => (None, path),
        };
        let file = below.rsplit('/').next().unwrap_or("");
        let kind = if path.ends_with('/') {
            FileKind::Metadata
        } else if file == "repodata_shards.msgpack.zst" {
            FileKind::ShardIndex
        } else if file == "repodata.jlap" {
            FileKind::Jlap
        } else if file.ends_with(".conda") || file.ends_with(".tar.bz2") {
            FileKind::Package
        } else if shard_digest(file).is_some() {
            FileKind::Shard
        } else {
            let (stem, compression) = match file.rsplit_once('.') {
                Some((stem, "zst")) => (stem, Compression::Zstd),
                Some((stem, "bz2")) => (stem, Compression::Bzip2),
                _ => (file, Compression::None),
            };
            match stem.strip_suffix(".json") {
                Some(name) if REPODATA.contains(&name) => FileKind::Repodata(compression),
                _ => FileKind::Metadata,
            }
        };
        ChannelPath {
            token,
            below,
            file,
            kind,
        }
    }

    /// The store key: `REPO/<below>`, or `REPO/t/<token digest>/<below>`.
    pub(super) fn key(&self, repo: &Repository) -> String {
        match self.token {
            None => format!("{}/{}", repo.name, self.below),
            Some(token) => format!("{}/t/{}/{}", repo.name, token_digest(token), self.below),
        }
    }

    /// The directory of the file (`conda-forge/linux-64`), without the token.
    pub(super) fn dir(&self) -> &'a str {
        self.below.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// A short, stable stand-in for a token in cache keys.
pub(super) fn token_digest(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..12])
}

/// The hex digest a shard is named by (`<64 hex>.msgpack.zst`).
pub(super) fn shard_digest(file: &str) -> Option<&str> {
    let hex = file.strip_suffix(".msgpack.zst")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Compiled `channels` globs of one upstream: (include, exclude, has includes).
type Filter = Arc<(GlobSet, GlobSet, bool)>;

static FILTERS: LazyLock<Mutex<HashMap<Vec<String>, Filter>>> = LazyLock::new(Mutex::default);

fn filter(patterns: &[String]) -> Filter {
    let mut cache = FILTERS.lock().expect("filters lock");
    if let Some(f) = cache.get(patterns) {
        return f.clone();
    }
    let (mut include, mut exclude, mut includes) =
        (GlobSetBuilder::new(), GlobSetBuilder::new(), false);
    for pattern in patterns {
        let (negated, glob) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        // Patterns were checked when the config was loaded.
        let Ok(glob) = GlobBuilder::new(glob).literal_separator(true).build() else {
            continue;
        };
        if negated {
            exclude.add(glob);
        } else {
            includes = true;
            include.add(glob);
        }
    }
    let f = Arc::new((
        include.build().unwrap_or_else(|_| GlobSet::empty()),
        exclude.build().unwrap_or_else(|_| GlobSet::empty()),
        includes,
    ));
    cache.insert(patterns.to_vec(), f.clone());
    f
}

/// True when an upstream with these `channels` patterns serves the channel holding `dir` (a
/// path below `/conda/`, file name removed).
pub(super) fn serves(patterns: &[String], dir: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let f = filter(patterns);
    let (include, exclude, includes) = (&f.0, &f.1, f.2);
    let prefixes = dir
        .match_indices('/')
        .map(|(i, _)| &dir[..i])
        .chain(std::iter::once(dir))
        .filter(|p| !p.is_empty());
    let (mut included, mut excluded) = (!includes, false);
    for prefix in prefixes {
        included |= include.is_match(prefix);
        excluded |= exclude.is_match(prefix);
    }
    included && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_classified() {
        let kind = |p: &str| ChannelPath::parse(p).kind;
        assert_eq!(
            kind("conda-forge/linux-64/repodata.json"),
            FileKind::Repodata(Compression::None)
        );
        assert_eq!(
            kind("conda-forge/label/dev/noarch/repodata.json.zst"),
            FileKind::Repodata(Compression::Zstd)
        );
        assert_eq!(
            kind("pkgs/main/noarch/current_repodata.json.bz2"),
            FileKind::Repodata(Compression::Bzip2)
        );
        assert_eq!(
            kind("c/linux-64/repodata_shards.msgpack.zst"),
            FileKind::ShardIndex
        );
        let shard = format!("c/linux-64/shards/{}.msgpack.zst", "ab".repeat(32));
        assert_eq!(kind(&shard), FileKind::Shard);
        assert_eq!(kind("c/linux-64/x-1.0-0.conda"), FileKind::Package);
        assert_eq!(kind("c/noarch/x-1.0-py_0.tar.bz2"), FileKind::Package);
        assert_eq!(kind("c/noarch/repodata.jlap"), FileKind::Jlap);
        assert_eq!(kind("c/channeldata.json"), FileKind::Metadata);
        assert_eq!(kind("c/linux-64/run_exports.json.zst"), FileKind::Metadata);
    }

    #[test]
    fn tokens_get_their_own_namespace() {
        let p = ChannelPath::parse("t/secret-1/private/linux-64/repodata.json");
        assert_eq!(p.token, Some("secret-1"));
        assert_eq!(p.below, "private/linux-64/repodata.json");
        assert_eq!(p.dir(), "private/linux-64");
        assert_eq!(p.file, "repodata.json");
        let public = ChannelPath::parse("private/linux-64/repodata.json");
        assert_eq!(public.token, None);
        let other = ChannelPath::parse("t/secret-2/private/linux-64/repodata.json");
        assert_ne!(token_digest("secret-1"), token_digest("secret-2"));
        assert!(!token_digest("secret-1").contains("secret"));
        assert_eq!(other.below, public.below);
    }

    #[test]
    fn channel_globs_cover_labels_and_exclusions() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let forge = p(&["conda-forge"]);
        assert!(serves(&forge, "conda-forge/linux-64"));
        assert!(serves(&forge, "conda-forge/label/dev/noarch"));
        assert!(serves(&forge, "conda-forge"));
        assert!(!serves(&forge, "bioconda/noarch"));
        let pkgs = p(&["pkgs/*"]);
        assert!(serves(&pkgs, "pkgs/main/linux-64"));
        assert!(!serves(&pkgs, "pkgsx/main/linux-64"));
        let rest = p(&["!pkgs/*"]);
        assert!(!serves(&rest, "pkgs/main/linux-64"));
        assert!(serves(&rest, "bioconda/linux-64"));
        assert!(serves(&[], "anything/noarch"));
        // Token paths are matched with their prefix: named-channel mirrors never see tokens.
        assert!(!serves(&forge, "t/secret/conda-forge/noarch"));
        assert!(serves(&rest, "t/secret/conda-forge/noarch"));
        assert!(serves(&p(&["t/*/corp"]), "t/secret/corp/noarch"));
    }
}
