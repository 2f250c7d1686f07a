//! npm packuments repox derives itself: the abbreviated document for an upstream that only
//! has the full one (a static mirror ignores `Accept`), and large packuments, derived once into
//! the store and served from it — after a restart too, without parsing the upstream body again.

use std::io::{Seek, SeekFrom, Write};

use http::{StatusCode, header};
use repox_proxy::config::Kind;
use serde_json::{Value, json};

use crate::npm_support::repo;
use crate::support::{Proxy, TestUpstream, client};

const CORGI: &str = "application/vnd.npm.install-v1+json";
const HOST: &str = "repox.test";

/// A packument of `name` with `versions` versions, each with a `filler`-byte description.
fn packument(upstream: &TestUpstream, name: &str, versions: usize, filler: usize) -> Vec<u8> {
    let base = upstream.url.as_str();
    let mut vs = serde_json::Map::new();
    let mut time = serde_json::Map::new();
    for i in 0..versions {
        let v = format!("1.0.{i}");
        let mut doc = json!({
            "name": name, "version": v,
            "description": "x".repeat(filler),
            "readme": "long readme",
            "dependencies": {"dep": format!("^{i}")},
            "dist": {
                "tarball": format!("{base}{name}/-/{name}-{v}.tgz"),
                "shasum": format!("{i:040x}"),
                "integrity": format!("sha512-{i}"),
            },
        });
        if i % 2 == 0 {
            doc["scripts"] = json!({"postinstall": "node build.js"});
        }
        vs.insert(v.clone(), doc);
        time.insert(v, json!("2024-01-01T00:00:00.000Z"));
    }
    time.insert("modified".into(), json!("2024-06-01T00:00:00.000Z"));
    serde_json::to_vec(&json!({
        "_id": name, "name": name, "readme": "top readme",
        "dist-tags": {"latest": format!("1.0.{}", versions - 1)},
        "versions": vs, "time": time,
    }))
    .unwrap()
}

async fn get(proxy: &Proxy, path: &str, accept: Option<&str>) -> (reqwest::Response, Vec<u8>) {
    // One origin for every request, whatever port this proxy got: the documents embed it.
    let mut req = client().get(proxy.at(path)).header(header::HOST, HOST);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = req.send().await.unwrap();
    let copy = http::Response::builder()
        .status(resp.status())
        .body(Vec::<u8>::new())
        .unwrap();
    let mut out = reqwest::Response::from(copy);
    *out.headers_mut() = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    (out, body)
}

fn check_abbreviated(body: &[u8], name: &str, versions: usize) {
    let doc: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(doc["name"], name);
    assert_eq!(doc["modified"], "2024-06-01T00:00:00.000Z");
    assert!(doc.get("readme").is_none() && doc.get("time").is_none());
    let vs = doc["versions"].as_object().unwrap();
    assert_eq!(vs.len(), versions);
    let first = &vs["1.0.0"];
    assert_eq!(first["dependencies"]["dep"], "^0");
    assert_eq!(first["hasInstallScript"], true);
    assert!(vs["1.0.1"].get("hasInstallScript").is_none());
    assert!(first.get("description").is_none() && first.get("readme").is_none());
    assert_eq!(
        first["dist"]["tarball"],
        format!("http://{HOST}/npm/{name}/-/{name}-1.0.0.tgz")
    );
}

#[tokio::test]
async fn an_abbreviated_packument_is_made_when_the_upstream_has_only_the_full_one() {
    let upstream = TestUpstream::start().await;
    let body = packument(&upstream, "small", 3, 10);
    upstream.put("small", body.clone());
    let proxy =
        Proxy::start_repos(vec![("npm", repo(Kind::Npm, &[("up", &upstream.url, 0)]))]).await;

    let (resp, corgi) = get(&proxy, "npm/small", Some(CORGI)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], CORGI);
    check_abbreviated(&corgi, "small", 3);
    let (_, again) = get(&proxy, "npm/small", Some(CORGI)).await;
    assert_eq!(again, corgi);

    let (resp, full) = get(&proxy, "npm/small", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let full: Value = serde_json::from_slice(&full).unwrap();
    assert_eq!(full["readme"], "top readme");
    assert_eq!(full["versions"]["1.0.2"]["readme"], "long readme");

    // The tarball index was recorded: a tarball is verified against the packument's shasum.
    upstream.put("small/-/small-1.0.0.tgz", b"not the tarball".to_vec());
    let tgz = client()
        .get(proxy.at("npm/small/-/small-1.0.0.tgz"))
        .send()
        .await
        .unwrap();
    // Refused: a 502, or (when the transfer had started) a broken body, never the bad bytes.
    if tgz.status() == StatusCode::OK {
        assert!(tgz.bytes().await.is_err());
    } else {
        assert_eq!(tgz.status(), StatusCode::BAD_GATEWAY);
    }
}

/// ~6 MB (above the 4 MiB threshold): derived into the store in one pass, served from there;
/// after a restart, with the cached upstream body overwritten by garbage, the stored document
/// is still served as it was (it was not derived again), in both variants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_packument_is_derived_once_into_the_store() {
    let upstream = TestUpstream::start().await;
    let body = packument(&upstream, "big", 3000, 1800);
    assert!(body.len() > 5 << 20, "{}", body.len());
    upstream.put("big", body.clone());
    let config = repo(Kind::Npm, &[("up", &upstream.url, 0)]);
    let proxy = Proxy::start_repos(vec![("npm", config.clone())]).await;

    let (resp, corgi) = get(&proxy, "npm/big", Some(CORGI)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    check_abbreviated(&corgi, "big", 3000);
    assert!(
        corgi.len() < body.len() / 4,
        "{} of {}",
        corgi.len(),
        body.len()
    );
    let (resp, full) = get(&proxy, "npm/big", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let etag = resp.headers()[header::ETAG].clone();
    let doc: Value = serde_json::from_slice(&full).unwrap();
    assert_eq!(doc["versions"].as_object().unwrap().len(), 3000);
    assert_eq!(
        doc["versions"]["1.0.7"]["dist"]["tarball"],
        format!("http://{HOST}/npm/big/-/big-1.0.7.tgz")
    );
    assert_eq!(doc["versions"]["1.0.7"]["readme"], "long readme");
    // Revalidation with the ETag repox gave.
    let not_modified = client()
        .get(proxy.at("npm/big"))
        .header(header::HOST, HOST)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let requests = upstream.log().len();
    let cache = proxy.stop().await;

    // Garbage in place of the cached upstream bodies (their metadata still says the digest
    // the derived documents were made from).
    for variant in ["abbreviated", "full"] {
        let path = cache
            .path()
            .join(format!("data-v1/npm/packuments/big/{variant}"));
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(&vec![b'#'; 4096]).unwrap();
    }
    let proxy = Proxy::start_repos_in(cache, vec![("npm", config)], true).await;
    let (_, corgi_again) = get(&proxy, "npm/big", Some(CORGI)).await;
    assert!(
        corgi_again == corgi,
        "the abbreviated document was made again"
    );
    let (_, full_again) = get(&proxy, "npm/big", None).await;
    assert!(full_again == full, "the full document was made again");
    assert_eq!(upstream.log().len(), requests);
}
