//! Property tests of what repox reads from a conda channel (see `crate::fuzz`): repodata of any
//! content is scanned for `info.base_url` without panicking (the digest index has its own tests
//! in `digests/fuzz_tests.rs`), the scan agrees with a full JSON parse on well-formed
//! documents, a splice replaces exactly the value found, msgpack shard indexes of any bytes are
//! read safely, and request paths classify without panicking or leaking a token into a cache
//! key.

use std::io::Cursor;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use super::base_url::{locate, map_get, msgpack_info, set_msgpack_info, splice};
use super::channel::{ChannelPath, shard_digest};
use crate::fuzz;

const REPODATA: &str = r#"{
  "info": {"subdir": "linux-64", "base_url": "https://conda.anaconda.org/conda-forge/linux-64/"},
  "packages": {
    "zlib-1.2.13-h166bdaf_4.tar.bz2": {"build": "h166bdaf_4", "depends": ["libgcc-ng >=12"], "md5": "f3f9de449d32ca9b9c66a22863c96f41", "name": "zlib", "sha256": "9c1a4a3e4b7e1ef6a1b1bd6fd1a9a0b3aeb7e0b8f5d6f6ac1b8eb4c2e0d5f7a1", "size": 94000, "version": "1.2.13"}
  },
  "packages.conda": {
    "python-3.12.0-h1_0.conda": {"name": "python", "sha256": "00", "version": "3.12.0", "depends": []}
  },
  "removed": [],
  "repodata_version": 1
}"#;

const NO_INFO_FIRST: &str = r#"{"packages":{"a-1-0.conda":{"sha256":"x","info":{"base_url":"nope"}}},"info":{"base_url":"../base/"}}"#;

/// A well-formed repodata document, `info` at a random place, random values.
pub(super) fn repodata() -> impl Strategy<Value = (String, Option<String>, Vec<(String, String)>)> {
    let record = (
        "[a-z][a-z0-9_.-]{0,8}-[0-9.]{1,6}-[a-z0-9_]{1,6}",
        select(&[".conda", ".tar.bz2"][..]),
        prop_oneof!["[0-9a-f]{64}", "[0-9a-fA-FxZ]{0,66}"],
        fuzz::text(),
    );
    (
        proptest::option::of(fuzz::text()),
        prop::collection::vec(record, 0..6),
        any::<bool>(),
        fuzz::text(),
    )
        .prop_map(|(base_url, records, info_last, subdir)| {
            let mut info = Map::new();
            info.insert("subdir".into(), json!(subdir));
            if let Some(b) = &base_url {
                info.insert("base_url".into(), json!(b));
            }
            let mut packages = Map::new();
            let mut conda = Map::new();
            let mut digests = Vec::new();
            for (stem, ext, sha, text) in records {
                let file = format!("{stem}{ext}");
                let record = json!({
                    "name": text, "sha256": sha, "depends": [text], "info": {"base_url": text},
                });
                let section = if ext == ".conda" {
                    &mut conda
                } else {
                    &mut packages
                };
                section.insert(file.clone(), record);
                digests.push((file, sha));
            }
            let pkgs = json!({"packages": packages, "packages.conda": conda});
            let (pkgs, info) = (pkgs.to_string(), json!({"info": info}).to_string());
            // Two objects' members, concatenated in the chosen order.
            let (first, second) = if info_last {
                (&pkgs, &info)
            } else {
                (&info, &pkgs)
            };
            let doc = format!("{},{}", &first[..first.len() - 1], &second[1..]);
            // Later duplicates win in a JSON parse; records are keyed by file, keep the last.
            let mut seen = std::collections::HashMap::new();
            for (file, sha) in digests {
                seen.insert(file, sha);
            }
            (doc, base_url, seen.into_iter().collect())
        })
}

/// Path segments that mean something to the classifier.
const FILES: &[&str] = &[
    "t",
    "repodata.json",
    "repodata.json.zst",
    "repodata.json.bz2",
    "current_repodata.json",
    "repodata_shards.msgpack.zst",
    "repodata.jlap",
    "x.conda",
    "x.tar.bz2",
    ".json",
    ".zst",
];

fn check_locate(doc: &[u8]) -> Result<(), TestCaseError> {
    let Ok(Some(found)) = locate(Cursor::new(doc)) else {
        return Ok(());
    };
    let (s, e) = found.span;
    prop_assert!(
        s < e && e <= doc.len(),
        "span {:?} of {} bytes",
        found.span,
        doc.len()
    );
    let literal: Option<String> = serde_json::from_slice(&doc[s..e]).ok();
    prop_assert_eq!(literal.as_ref(), Some(&found.value));
    let out = splice(doc, found.span, "http://127.0.0.1:8078/conda/c/linux-64/");
    let again = locate(Cursor::new(&out)).ok().flatten().map(|f| f.value);
    prop_assert_eq!(
        again.as_deref(),
        Some("http://127.0.0.1:8078/conda/c/linux-64/")
    );
    prop_assert_eq!(&out[..s], &doc[..s]);
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_bytes_are_scanned_and_indexed_without_panic(body in fuzz::bytes()) {
        check_locate(&body)?;
        if let Ok(mut doc) = rmpv::decode::read_value(&mut body.as_slice()) {
            let _ = msgpack_info(&doc, "shards_base_url");
            let _ = map_get(&doc, "shards").and_then(|s| s.as_map()).map(Vec::len);
            set_msgpack_info(&mut doc, "base_url", "http://x/");
        }
    }

    #[test]
    fn mutated_repodata_is_scanned_and_indexed_without_panic(
        doc in fuzz::mutated(&[REPODATA, NO_INFO_FIRST]),
    ) {
        check_locate(doc.as_bytes())?;
    }

    #[test]
    fn the_scan_agrees_with_a_json_parse((doc, base_url, digests) in repodata()) {
        let parsed: Value = serde_json::from_str(&doc).map_err(fuzz::fail)?;
        prop_assert_eq!(parsed["info"]["base_url"].as_str(), base_url.as_deref());
        let found = locate(Cursor::new(doc.as_bytes())).map_err(fuzz::fail)?;
        prop_assert_eq!(found.as_ref().map(|f| f.value.as_str()), base_url.as_deref(), "{}", doc);
        check_locate(doc.as_bytes())?;
        let _ = digests;
    }

    #[test]
    fn request_paths_classify_without_leaking_the_token(
        segments in prop::collection::vec(
            prop_oneof![
                "[a-z0-9_.-]{0,12}",
                select(FILES).prop_map(str::to_owned),
                "[0-9a-f]{64}\\.msgpack\\.zst",
            ],
            1..6,
        ),
    ) {
        let path = segments.join("/");
        let cp = ChannelPath::parse(&path);
        prop_assert!(path.ends_with(cp.below));
        prop_assert!(cp.below.ends_with(cp.file));
        if let Some(token) = cp.token {
            let prefix = format!("t/{token}/");
            prop_assert!(path.starts_with(&prefix));
            prop_assert_eq!(&path[token.len() + 3..], cp.below);
        }
        let _ = cp.dir();
        let _ = shard_digest(cp.file);
    }
}
