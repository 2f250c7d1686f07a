//! What the policy tests (a group's rules, hosted repositories' rules) share: naming a
//! repository, PyPI pages for an upstream, reading documents through the proxy (JSON, text, conda repodata plain or
//! zstd-compressed), the versions, files and projects those documents list, and the refusal
//! counters in `/-/metrics`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use http::{StatusCode, header};
use repox_proxy::config::RepoName;
use serde_json::Value;

use crate::support::{Proxy, TestUpstream, client};

pub const PEP691: &str = "application/vnd.pypi.simple.v1+json";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/pypi");

/// The time `ago` before now, as PEP 700 writes it.
pub fn time_ago(ago: Duration) -> String {
    let t = SystemTime::now() - ago;
    humantime::format_rfc3339_micros(t).to_string()
}

/// Puts on `up` the `files` (wheels of `tests/fixtures/pypi`, each with its age) at
/// `packages/<file>` and `project`'s PEP 691 page listing them, with `upload-time`, at
/// `simple/<project>/`.
pub fn pep691_page(up: &TestUpstream, project: &str, files: &[(&str, Duration)]) {
    let files: Vec<Value> = files
        .iter()
        .map(|(f, ago)| {
            let body = std::fs::read(Path::new(FIXTURES).join(f)).unwrap();
            up.put(&format!("packages/{f}"), body.clone());
            serde_json::json!({
                "filename": f,
                "url": format!("../../packages/{f}"),
                "hashes": {"sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))},
                "upload-time": time_ago(*ago),
            })
        })
        .collect();
    let doc = serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": files});
    up.put(
        &format!("simple/{project}/"),
        serde_json::to_vec(&doc).unwrap(),
    );
}

pub fn name(n: &str) -> RepoName {
    serde_json::from_value(serde_json::json!(n)).unwrap()
}

/// The JSON document at `path`, asked for as `accept`, asserted to answer 200.
pub async fn json(proxy: &Proxy, path: &str, accept: &str) -> Value {
    let resp = client()
        .get(proxy.at(path))
        .header(header::ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

/// The body of `path` as text, whatever the status.
pub async fn text(proxy: &Proxy, path: &str) -> String {
    proxy.get(path).await.text().await.unwrap()
}

/// The conda repodata at `path` (`…/repodata.json` or `…/repodata.json.zst`), decompressed.
pub async fn repodata(proxy: &Proxy, path: &str) -> Value {
    let body = proxy.get(path).await.bytes().await.unwrap();
    let body = if path.ends_with(".zst") {
        crate::conda_support::unzstd(&body)
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&body).unwrap()
}

/// The versions an npm packument lists, sorted.
pub fn versions(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

/// The file names a PEP 691 project page lists, sorted.
pub fn filenames(page: &Value) -> Vec<String> {
    let mut f: Vec<String> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect();
    f.sort();
    f
}

/// The project names a PEP 691 root index lists, in its order.
pub fn projects(root: &Value) -> Vec<String> {
    root["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn metrics(proxy: &Proxy) -> String {
    text(proxy, "-/metrics").await
}

/// The name of the counter of `repository`'s refusals by `rule`.
pub fn refusals(repository: &str, rule: &str) -> String {
    format!("repox_policy_refusals_total{{repository=\"{repository}\",rule=\"{rule}\"}}")
}
