//! Property tests of the packument rewrite (see `crate::fuzz`): a packument of any content is
//! rewritten or refused without panicking, and a generated one comes out with every
//! `dist.tarball` pointed at repox, every other byte of meaning unchanged, and every tarball in
//! the index with its digests. The streaming derivation of `corgi.rs` agrees with the
//! rewrite on the full document, and its abbreviated document keeps every version.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::corgi::{Shape, derive};
use super::packument::rewrite;
use super::tarball::verify_for;
use crate::fuzz;

const PREFIX: &str = "http://127.0.0.1:8078/npm/demo/-/";

const PACKUMENT: &str = r#"{"_id":"demo","name":"demo","dist-tags":{"latest":"1.0.1"},
"versions":{"1.0.0":{"name":"demo","version":"1.0.0","dist":{"tarball":"https://registry.npmjs.org/demo/-/demo-1.0.0.tgz","integrity":"sha512-Q2zR2HqSy0YG6CwE2HbqS1yJ8gv3nR2s+vJ1rXG4Q8pY3a0T0V0q0G5a+7Z7s7dR7O8bqJQ0g8s3X3m3X3m3Xw==","shasum":"0123456789abcdef0123456789abcdef01234567"}},
"1.0.1":{"name":"demo","version":"1.0.1","description":"https://registry.npmjs.org/demo/-/demo-1.0.1.tgz","dist":{"tarball":"https:\/\/registry.npmjs.org\/demo\/-\/demo-1.0.1.tgz?x=1#f","integrity":"sha1-ASNFZ4mrze8BI0VniavN7wEjRWc= sha256-bad?opt"}}},
"time":{"1.0.0":"2020-01-01T00:00:00.000Z"}}"#;

const VERSION_DOC: &str = r#"{"name":"demo","version":"2.0.0","dist":{"tarball":"https://r.example/demo-2.0.0.tgz","shasum":"ABCDEF0123456789abcdef0123456789ABCDEF01"}}"#;

/// (version, tarball file, integrity, shasum, written with a `\u0068` escape)
type Release = (String, String, String, String, bool);

fn releases() -> impl Strategy<Value = BTreeMap<String, Release>> {
    let release = (
        "[a-z0-9._+-]{1,10}",
        prop_oneof![
            "sha512-[A-Za-z0-9+/]{86}==",
            "sha1-[A-Za-z0-9+/]{27}=",
            fuzz::text(),
        ],
        prop_oneof!["[0-9a-fA-F]{40}", fuzz::text()],
        any::<bool>(),
    );
    prop::collection::btree_map(
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,6})?",
        release,
        0..6,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(v, (stem, integrity, shasum, escaped))| {
                // The version makes the file name unique, as the registry's names are.
                let file = format!("{stem}-{v}.tgz");
                (v.clone(), (v, file, integrity, shasum, escaped))
            })
            .collect()
    })
}

/// The packument, compact or pretty-printed (whitespace between tokens must not matter).
fn packument(releases: &BTreeMap<String, Release>, pretty: bool) -> String {
    let mut versions = serde_json::Map::new();
    for (v, (_, file, integrity, shasum, _)) in releases {
        versions.insert(
            v.clone(),
            json!({"name": "demo", "version": v, "description": file, "dist": {
                "tarball": format!("https://registry.example/demo/-/{file}"),
                "integrity": integrity,
                "shasum": shasum,
            }}),
        );
    }
    let doc = json!({"name": "demo", "dist-tags": {"latest": "x"}, "versions": versions});
    let mut doc = if pretty {
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    } else {
        doc.to_string()
    };
    for (_, file, _, _, escaped) in releases.values() {
        if *escaped {
            let plain = format!("\"https://registry.example/demo/-/{file}\"");
            let escaped = format!("\"\\u0068ttps://registry.example/demo/-/{file}\"");
            doc = doc.replace(&plain, &escaped);
        }
    }
    doc
}

fn check_any(body: &[u8]) {
    for shape in [Shape::Full, Shape::Abbreviated] {
        let mut out = Vec::new();
        if derive(body, &mut out, shape, PREFIX, "npmjs").is_ok() {
            prop_assert_json(&out);
        }
    }
    if let Ok((out, index)) = rewrite(body, PREFIX, "npmjs") {
        for info in index.files.values() {
            let _ = verify_for(info);
        }
        let _ = out;
    }
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_bytes_are_rewritten_or_refused_without_panic(body in fuzz::bytes()) {
        check_any(&body);
    }

    #[test]
    fn mutated_packuments_are_rewritten_or_refused_without_panic(
        doc in fuzz::mutated(&[PACKUMENT, VERSION_DOC]),
    ) {
        check_any(doc.as_bytes());
    }

    #[test]
    fn every_tarball_points_at_repox_and_nothing_else_changes(
        releases in releases(),
        pretty in any::<bool>(),
    ) {
        let doc = packument(&releases, pretty);
        let (out, index) = rewrite(doc.as_bytes(), PREFIX, "npmjs").map_err(fuzz::fail)?;
        let out: Value = serde_json::from_slice(&out).map_err(fuzz::fail)?;
        let mut want: Value = serde_json::from_str(&doc).map_err(fuzz::fail)?;
        for (v, (_, file, integrity, shasum, _)) in &releases {
            want["versions"][v]["dist"]["tarball"] = json!(format!("{PREFIX}{file}"));
            let info = index.files.get(file);
            prop_assert!(info.is_some(), "{} is not in the index", file);
            if let Some(info) = info {
                prop_assert_eq!(&info.url, &format!("https://registry.example/demo/-/{file}"));
                prop_assert_eq!(info.integrity.as_deref(), Some(integrity.as_str()));
                prop_assert_eq!(info.shasum.as_deref(), Some(shasum.as_str()));
                let _ = verify_for(info);
            }
        }
        prop_assert_eq!(index.files.len(), releases.len());
        prop_assert_eq!(out, want);
    }

    #[test]
    fn streaming_derivation_agrees_with_the_rewrite(
        releases in releases(),
        pretty in any::<bool>(),
    ) {
        let doc = packument(&releases, pretty);
        let (rewritten, index) = rewrite(doc.as_bytes(), PREFIX, "npmjs").map_err(fuzz::fail)?;
        let mut full = Vec::new();
        let streamed = derive(doc.as_bytes(), &mut full, Shape::Full, PREFIX, "npmjs")
            .map_err(fuzz::fail)?;
        let full: Value = serde_json::from_slice(&full).map_err(fuzz::fail)?;
        let rewritten: Value = serde_json::from_slice(&rewritten).map_err(fuzz::fail)?;
        prop_assert_eq!(&full, &rewritten);
        prop_assert_eq!(streamed.files.len(), index.files.len());
        let mut corgi = Vec::new();
        derive(doc.as_bytes(), &mut corgi, Shape::Abbreviated, PREFIX, "npmjs")
            .map_err(fuzz::fail)?;
        let corgi: Value = serde_json::from_slice(&corgi).map_err(fuzz::fail)?;
        for (v, (_, file, integrity, _, _)) in &releases {
            let dist = &corgi["versions"][v]["dist"];
            prop_assert_eq!(&dist["tarball"], &json!(format!("{PREFIX}{file}")));
            prop_assert_eq!(&dist["integrity"], &json!(integrity));
            prop_assert!(corgi["versions"][v].get("description").is_none());
        }
    }
}

/// Whatever the derivation wrote for a document it accepted is JSON.
fn prop_assert_json(out: &[u8]) {
    assert!(
        serde_json::from_slice::<Value>(out).is_ok(),
        "{}",
        String::from_utf8_lossy(out)
    );
}
