//! A fixture conda channel: real `.tar.bz2` packages built here, repodata in every variant
//! (plain, `.zst`, `.bz2`) and CEP 16 sharded repodata, served by a [`TestUpstream`].

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

use bytes::Bytes;
use sha2::Digest;

use crate::support::TestUpstream;

/// One built package.
#[derive(Clone)]
pub struct Package {
    pub file: String,
    pub bytes: Bytes,
    pub record: serde_json::Value,
}

/// Builds `name-version-0.tar.bz2` for `subdir` (noarch packages are `noarch: generic`) with
/// one file, `share/<name>/hello.txt`.
pub fn package(name: &str, version: &str, depends: &[&str], subdir: &str) -> Package {
    let hello = format!("hello from {name} {version}\n");
    let mut index = serde_json::json!({
        "name": name, "version": version, "build": "0", "build_number": 0,
        "depends": depends, "subdir": subdir, "license": "MIT",
        "timestamp": 1_700_000_000_000u64,
    });
    if subdir == "noarch" {
        index["noarch"] = "generic".into();
    }
    let paths = serde_json::json!({
        "paths": [{
            "_path": format!("share/{name}/hello.txt"),
            "path_type": "hardlink",
            "sha256": hex::encode(sha2::Sha256::digest(hello.as_bytes())),
            "size_in_bytes": hello.len(),
        }],
        "paths_version": 1,
    });
    let files = [
        ("info/index.json".to_owned(), index.to_string().into_bytes()),
        ("info/paths.json".to_owned(), paths.to_string().into_bytes()),
        (
            "info/files".to_owned(),
            format!("share/{name}/hello.txt\n").into_bytes(),
        ),
        (format!("share/{name}/hello.txt"), hello.into_bytes()),
    ];
    let bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    let mut tar = tar::Builder::new(bz);
    for (path, contents) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(contents.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, path, contents.as_slice()).unwrap();
    }
    let bytes: Bytes = tar.into_inner().unwrap().finish().unwrap().into();
    let mut record = index;
    record["sha256"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
    record["md5"] = hex::encode(md5::Md5::digest(&bytes)).into();
    record["size"] = bytes.len().into();
    Package {
        file: format!("{name}-{version}-0.tar.bz2"),
        bytes,
        record,
    }
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

pub fn unzstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(data).unwrap()
}

pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bzip2::read::BzEncoder::new(data, bzip2::Compression::default())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Which files a channel publishes besides `repodata.json`.
#[derive(Clone, Copy)]
pub struct Variants {
    pub zst: bool,
    pub bz2: bool,
    pub shards: bool,
}

/// A channel on a test upstream.
pub struct Channel<'a> {
    pub upstream: &'a TestUpstream,
    /// The channel path on the upstream, e.g. `fixture` or `t/tok/private`.
    pub name: String,
    pub variants: Variants,
    subdirs: Mutex<BTreeMap<String, Vec<Package>>>,
    /// Extra `info` keys for repodata (e.g. `base_url`).
    pub info: Mutex<serde_json::Map<String, serde_json::Value>>,
}

impl<'a> Channel<'a> {
    pub fn new(upstream: &'a TestUpstream, name: &str, variants: Variants) -> Channel<'a> {
        let ch = Channel {
            upstream,
            name: name.to_owned(),
            variants,
            subdirs: Mutex::default(),
            info: Mutex::default(),
        };
        ch.write("noarch");
        ch.write("linux-64");
        ch
    }

    /// Adds packages and rewrites the subdir's indexes.
    pub fn publish(&self, subdir: &str, packages: &[&Package]) {
        {
            let mut subdirs = self.subdirs.lock().unwrap();
            let list = subdirs.entry(subdir.to_owned()).or_default();
            for p in packages {
                self.upstream.put(
                    &format!("{}/{subdir}/{}", self.name, p.file),
                    p.bytes.clone(),
                );
                list.push((*p).clone());
            }
        }
        self.write(subdir);
    }

    /// The repodata.json of `subdir` as published.
    pub fn repodata(&self, subdir: &str) -> Vec<u8> {
        let subdirs = self.subdirs.lock().unwrap();
        let mut packages = serde_json::Map::new();
        for p in subdirs.get(subdir).into_iter().flatten() {
            packages.insert(p.file.clone(), p.record.clone());
        }
        let mut info = self.info.lock().unwrap().clone();
        info.insert("subdir".into(), subdir.into());
        serde_json::to_vec(&serde_json::json!({
            "info": info,
            "packages": packages,
            "packages.conda": {},
            "removed": [],
            "repodata_version": 1,
        }))
        .unwrap()
    }

    fn write(&self, subdir: &str) {
        let dir = format!("{}/{subdir}", self.name);
        let repodata = self.repodata(subdir);
        if self.variants.zst {
            self.upstream
                .put(&format!("{dir}/repodata.json.zst"), zstd(&repodata));
        }
        if self.variants.bz2 {
            self.upstream
                .put(&format!("{dir}/repodata.json.bz2"), bz2(&repodata));
        }
        self.upstream
            .put(&format!("{dir}/current_repodata.json"), repodata.clone());
        self.upstream.put(&format!("{dir}/repodata.json"), repodata);
        if self.variants.shards {
            self.write_shards(subdir);
        }
    }

    /// Shards as rattler-index writes them: named by the SHA-256 of the compressed shard,
    /// with digests as bytes, under `./shards/`.
    fn write_shards(&self, subdir: &str) {
        let dir = format!("{}/{subdir}", self.name);
        let subdirs = self.subdirs.lock().unwrap();
        let mut by_name: BTreeMap<String, Vec<&Package>> = BTreeMap::new();
        for p in subdirs.get(subdir).into_iter().flatten() {
            by_name
                .entry(p.record["name"].as_str().unwrap().to_owned())
                .or_default()
                .push(p);
        }
        let mut shards = Vec::new();
        for (name, packages) in by_name {
            let records = packages
                .iter()
                .map(|p| (rmpv::Value::from(p.file.as_str()), to_msgpack(&p.record)))
                .collect();
            let shard = rmpv::Value::Map(vec![
                ("packages".into(), rmpv::Value::Map(records)),
                ("packages.conda".into(), rmpv::Value::Map(vec![])),
                ("removed".into(), rmpv::Value::Array(vec![])),
            ]);
            let mut raw = Vec::new();
            rmpv::encode::write_value(&mut raw, &shard).unwrap();
            let compressed = zstd(&raw);
            let digest = sha2::Sha256::digest(&compressed).to_vec();
            self.upstream.put(
                &format!("{dir}/shards/{}.msgpack.zst", hex::encode(&digest)),
                compressed,
            );
            shards.push((
                rmpv::Value::from(name.as_str()),
                rmpv::Value::Binary(digest),
            ));
        }
        let info = self.info.lock().unwrap().clone();
        let url = |key: &str, default: &str| {
            info.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        let index = rmpv::Value::Map(vec![
            (
                "info".into(),
                rmpv::Value::Map(vec![
                    ("subdir".into(), subdir.into()),
                    ("base_url".into(), url("base_url", "").as_str().into()),
                    (
                        "shards_base_url".into(),
                        url("shards_base_url", "./shards/").as_str().into(),
                    ),
                    ("created_at".into(), "2024-01-02T03:04:05Z".into()),
                ]),
            ),
            ("shards".into(), rmpv::Value::Map(shards)),
        ]);
        let mut raw = Vec::new();
        rmpv::encode::write_value(&mut raw, &index).unwrap();
        self.upstream
            .put(&format!("{dir}/repodata_shards.msgpack.zst"), zstd(&raw));
    }
}

/// A repodata record as msgpack, digests as bytes (CEP 16).
fn to_msgpack(v: &serde_json::Value) -> rmpv::Value {
    match v {
        serde_json::Value::Null => rmpv::Value::Nil,
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) => u.into(),
            None => n.as_i64().map_or(rmpv::Value::Nil, Into::into),
        },
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(to_msgpack).collect()),
        serde_json::Value::Object(o) => rmpv::Value::Map(
            o.iter()
                .map(|(k, v)| {
                    let value = match (k.as_str(), v.as_str()) {
                        ("sha256" | "md5", Some(hex)) => {
                            rmpv::Value::Binary(hex::decode(hex).unwrap())
                        }
                        _ => to_msgpack(v),
                    };
                    (rmpv::Value::from(k.as_str()), value)
                })
                .collect(),
        ),
    }
}

/// The Python interpreter with py-rattler, resolved before the environment is cleared (a
/// pyenv shim would not survive a temporary HOME); `REPOX_TEST_PYTHON` overrides `python3`.
/// Without py-rattler the test fails unless `REPOX_SKIP_MISSING_CLIENTS` is set.
pub fn rattler_python() -> Option<String> {
    let python = std::env::var("REPOX_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = std::process::Command::new(&python)
        .args(["-c", "import sys, rattler; print(sys.executable)"])
        .output();
    let found = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|p| !p.is_empty());
    let missing = match found {
        Some(_) => vec![],
        None => vec!["py-rattler"],
    };
    let install = format!("`{python}` cannot import rattler: pip install py-rattler");
    found.filter(|_| crate::clients_support::clients_present(&missing, &install))
}

/// Solves `specs` against `channel` (below `alias`) and installs into `prefix` with py-rattler.
pub const RATTLER_SCRIPT: &str = r#"
import asyncio, json, os, sys
import rattler
from rattler import Channel, ChannelConfig, Gateway, SourceConfig

alias, channel, cache, prefix, sharded = sys.argv[1:6]
specs = sys.argv[6:]

async def main():
    ch = Channel(channel, ChannelConfig(channel_alias=alias))
    gateway = Gateway(
        cache_dir=cache + "/repodata",
        default_config=SourceConfig(sharded_enabled=(sharded == "1")),
    )
    records = await rattler.solve([ch], specs, gateway=gateway, platforms=["linux-64", "noarch"])
    await rattler.install(records, prefix, cache_dir=cache + "/pkgs", show_progress=False)
    print(json.dumps(sorted(str(r.url) for r in records)))

asyncio.run(main())
# py-rattler can crash while the interpreter tears its runtime down, after all work is done:
# leave without the teardown.
sys.stdout.flush()
os._exit(0)
"#;
