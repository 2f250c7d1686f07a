//! The SHA-256 a package must have, from whatever index of its subdir repox has cached:
//! repodata in any variant (parsed once per upstream body into a file name → digest map), or
//! the package's CEP 16 shard (found through the cached shard index).
//!
//! Clients always read an index before they download, so a package miss normally finds its
//! digest here; when none is cached, `package.rs` fetches the subdir's repodata first.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::base_url::{map_get, msgpack_info};
use super::channel::{ChannelPath, Compression};
use super::{codec, repodata};
use crate::repository::Repository;
use crate::store::Entry;

/// File name → SHA-256, as listed by one repodata body.
type Index = Arc<HashMap<String, [u8; 32]>>;

/// Repodata variants consulted, most complete first.
const REPODATA: &[(&str, Compression)] = &[
    ("repodata.json.zst", Compression::Zstd),
    ("repodata.json", Compression::None),
    ("repodata.json.bz2", Compression::Bzip2),
    ("repodata_from_packages.json", Compression::None),
    ("current_repodata.json.zst", Compression::Zstd),
    ("current_repodata.json", Compression::None),
    ("current_repodata.json.bz2", Compression::Bzip2),
];

/// The hex SHA-256 of the package at `cp`, if a cached index lists it.
pub(super) async fn sha256(repo: &Repository, cp: &ChannelPath<'_>) -> Option<String> {
    let key = cp.key(repo);
    let dir_key = key.rsplit_once('/')?.0.to_owned();
    for (name, compression) in REPODATA {
        let Ok(Some(entry)) = repo.services.store.get(&format!("{dir_key}/{name}")).await else {
            continue;
        };
        if let Some(index) = repodata_index(repo, entry, *compression).await
            && let Some(d) = index.get(cp.file)
        {
            return Some(hex::encode(d));
        }
    }
    from_shard(repo, cp, &key, &dir_key).await
}

async fn repodata_index(
    repo: &Repository,
    entry: Entry,
    compression: Compression,
) -> Option<Index> {
    let digest = entry.meta.digests.sha256.clone();
    if let Some(index) = repo.services.memos.get::<Index>("conda-index", &digest) {
        return Some(index);
    }
    // Rattler downloads dozens of packages at once: build each index once.
    repo.coalesce(&format!("conda-digests/{digest}"), async {
        if let Some(index) = repo.services.memos.get::<Index>("conda-index", &digest) {
            return Some(index);
        }
        let index = tokio::task::spawn_blocking(move || {
            let reader = codec::decoded(&entry, compression).ok()?;
            let parsed: Repodata = serde_json::from_reader(reader).ok()?;
            let mut all = parsed.packages.0;
            all.extend(parsed.conda.0);
            Some(Arc::new(all))
        })
        .await
        .ok()??;
        repo.services
            .memos
            .insert("conda-index", digest, index.clone(), index.len() * 120);
        Some(index)
    })
    .await
}

#[derive(serde::Deserialize)]
struct Repodata {
    #[serde(default)]
    packages: Records,
    #[serde(default, rename = "packages.conda")]
    conda: Records,
}

#[derive(serde::Deserialize)]
struct Record {
    #[serde(default)]
    sha256: Option<String>,
}

/// A `packages` map reduced to file name → SHA-256 while it is parsed.
#[derive(Default)]
struct Records(HashMap<String, [u8; 32]>);

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Records;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of package records")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Records, A::Error> {
                let mut out = HashMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let record: Record = map.next_value()?;
                    if let Some(d) = record.sha256.as_deref().and_then(digest_of_hex) {
                        out.insert(name, d);
                    }
                }
                Ok(Records(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn digest_of_hex(hex: &str) -> Option<[u8; 32]> {
    let mut d = [0u8; 32];
    hex::decode_to_slice(hex, &mut d).ok()?;
    Some(d)
}

/// `name` of `name-version-build.conda`.
fn package_name(file: &str) -> Option<&str> {
    let stem = file
        .strip_suffix(".conda")
        .or_else(|| file.strip_suffix(".tar.bz2"))?;
    let mut parts = stem.rsplitn(3, '-');
    let (_build, _version) = (parts.next()?, parts.next()?);
    parts.next()
}

/// The digest from the package's shard, when the shard index and the shard are cached.
async fn from_shard(
    repo: &Repository,
    cp: &ChannelPath<'_>,
    key: &str,
    dir_key: &str,
) -> Option<String> {
    let index = repo
        .services
        .store
        .get(&format!("{dir_key}/repodata_shards.msgpack.zst"))
        .await
        .ok()??;
    let shards = shard_index(repo, index).await?;
    let hex = shards.hashes.get(package_name(cp.file)?)?;
    let file = cp.file.to_owned();
    // Keys are `<namespace><below>`; the shard's key follows from its URL relative to the index.
    let namespace = key.strip_suffix(cp.below)?;
    let local = url::Url::parse("http://repox.invalid/")
        .ok()?
        .join(&format!("{}/", cp.dir()))
        .ok()?;
    let shard = local
        .join(&shards.base)
        .ok()?
        .join(&format!("{hex}.msgpack.zst"))
        .ok()?;
    let shard_key = if shard.host_str() == Some("repox.invalid") {
        format!("{namespace}{}", shard.path().trim_start_matches('/'))
    } else {
        // An absolute shards_base_url under an upstream's base was fetched through repox.
        let rest = repo
            .upstreams
            .iter()
            .find_map(|u| shard.as_str().strip_prefix(u.base.as_str()))?;
        format!("{namespace}{rest}")
    };
    let shard = repo.services.store.get(&shard_key).await.ok()??;
    tokio::task::spawn_blocking(move || {
        let doc = repodata::decode_msgpack(&shard)?;
        ["packages.conda", "packages"].iter().find_map(|section| {
            let record = map_get(map_get(&doc, section)?, &file)?;
            match map_get(record, "sha256")? {
                rmpv::Value::Binary(b) if b.len() == 32 => Some(hex::encode(b)),
                rmpv::Value::String(s) => s.as_str().and_then(digest_of_hex).map(hex::encode),
                _ => None,
            }
        })
    })
    .await
    .ok()?
}

/// What a shard index says about where shards are.
struct ShardIndex {
    /// Package name → hex SHA-256 of its shard.
    hashes: HashMap<String, String>,
    /// `info.shards_base_url`.
    base: String,
}

async fn shard_index(repo: &Repository, index: Entry) -> Option<Arc<ShardIndex>> {
    let digest = index.meta.digests.sha256.clone();
    if let Some(parsed) = repo
        .services
        .memos
        .get::<Arc<ShardIndex>>("conda-shard-index", &digest)
    {
        return Some(parsed);
    }
    repo.coalesce(&format!("conda-shard-index/{digest}"), async {
        if let Some(parsed) = repo
            .services
            .memos
            .get::<Arc<ShardIndex>>("conda-shard-index", &digest)
        {
            return Some(parsed);
        }
        let parsed = tokio::task::spawn_blocking(move || {
            let doc = repodata::decode_msgpack(&index)?;
            let hashes = map_get(&doc, "shards")?
                .as_map()?
                .iter()
                .filter_map(|(name, hash)| {
                    let hex = match hash {
                        rmpv::Value::Binary(b) => hex::encode(b),
                        rmpv::Value::String(s) => s.as_str()?.to_owned(),
                        _ => return None,
                    };
                    Some((name.as_str()?.to_owned(), hex))
                })
                .collect::<HashMap<_, _>>();
            let base = msgpack_info(&doc, "shards_base_url")
                .unwrap_or("")
                .to_owned();
            Some(Arc::new(ShardIndex { hashes, base }))
        })
        .await
        .ok()??;
        let weight = parsed.hashes.len() * 120;
        repo.services
            .memos
            .insert("conda-shard-index", digest, parsed.clone(), weight);
        Some(parsed)
    })
    .await
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_come_from_file_names() {
        assert_eq!(package_name("numpy-2.0.0-py312h1_0.conda"), Some("numpy"));
        assert_eq!(
            package_name("python-dateutil-2.9.0-pyhd8ed1ab_0.tar.bz2"),
            Some("python-dateutil")
        );
        assert_eq!(package_name("x.whl"), None);
    }

    #[test]
    fn records_keep_only_digests() {
        let a = "ab".repeat(32);
        let doc = format!(
            r#"{{"info":{{}},"packages":{{"a-1-0.tar.bz2":{{"name":"a","depends":["b >=1"],"sha256":"{a}"}},"old-1-0.tar.bz2":{{"md5":"x"}}}},"packages.conda":{{"a-1-0.conda":{{"sha256":"{a}","size":3}}}},"removed":[]}}"#
        );
        let parsed: Repodata = serde_json::from_str(&doc).unwrap();
        assert_eq!(parsed.packages.0.len(), 1);
        assert_eq!(hex::encode(parsed.conda.0["a-1-0.conda"]), a);
    }
}
