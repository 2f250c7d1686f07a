//! Property tests of the legacy JSON API rewrite (see `crate::fuzz`): a document of any content
//! is rewritten or refused without panicking, and in a generated one every file URL, in `urls`
//! and in `releases`, is pointed at repox and leads back to a valid repox path.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::rewrite;
use crate::fuzz;
use crate::path::RepoPath;

const BASE: &str = "http://127.0.0.1:8078/pypi/";
const PAGE: &str = "https://pypi.org/pypi/demo/json";

const SAMPLE: &str = r#"{"info":{"name":"demo","project_url":"https://pypi.org/project/demo/"},
"urls":[{"filename":"demo-1.0.tar.gz","url":"https://files.pythonhosted.org/packages/aa/bb/cc/demo-1.0.tar.gz"}],
"releases":{"0.9":[{"filename":"demo-0.9.zip","url":"../../d/demo-0.9.zip"}],"1.0":[],"x":{}}}"#;

fn check_links(out: &[u8]) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_slice(out).map_err(fuzz::fail)?;
    let urls = v["urls"].as_array().into_iter().flatten();
    let releases = v["releases"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values());
    let files = urls.chain(releases.filter_map(Value::as_array).flatten());
    for f in files {
        let url = f["url"].as_str().unwrap_or_default();
        let below = url.strip_prefix(BASE);
        prop_assert!(below.is_some(), "{} is not under {}", url, BASE);
        let path = RepoPath::parse(below.unwrap_or_default());
        prop_assert!(
            path.is_ok(),
            "{} does not lead to a repox path: {:?}",
            url,
            path
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_document_is_rewritten_or_refused_without_panic(
        body in fuzz::bytes(),
        doc in fuzz::mutated(&[SAMPLE]),
    ) {
        let _ = rewrite(&body, PAGE, "pypi", "demo", BASE);
        let _ = rewrite(doc.as_bytes(), PAGE, "pypi", "demo", BASE);
    }

    #[test]
    fn every_file_url_points_at_repox(
        files in prop::collection::vec(
            (
                "[A-Za-z0-9][A-Za-z0-9._+ -]{0,10}[A-Za-z0-9]",
                prop_oneof![
                    "https://files\\.pythonhosted\\.org/packages/[a-f0-9]{2}/[a-f0-9]{2}/",
                    "https://mirror\\.example/[a-z/]{0,8}",
                    "(\\.\\./){0,3}[a-z]{0,4}/?",
                ],
            ),
            0..6,
        ),
    ) {
        let entries: Vec<Value> = files
            .iter()
            .map(|(name, dir)| json!({"filename": name, "url": format!("{dir}{name}")}))
            .collect();
        let doc = json!({"info": {"name": "demo"}, "urls": entries, "releases": {"1.0": entries}});
        let out = rewrite(doc.to_string().as_bytes(), PAGE, "pypi", "demo", BASE);
        prop_assert!(out.is_some());
        check_links(&out.unwrap_or_default())?;
    }
}
