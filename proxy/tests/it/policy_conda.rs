//! conda under policies: repodata in every compression leaves out records refused by their
//! `timestamp` or a deny rule, the refused package answers 403, and shards are not offered
//! (clients fall back to the filtered repodata).

use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use repox_proxy::config::{Kind, RepositoryConfig};
use sha2::Digest;

use crate::conda_support::{unzstd, zstd};
use crate::npm_support::repo;
use crate::support::{Proxy, TestUpstream};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Channel `fixture/noarch` with `pkg` 1.0 (years old), 2.0 (an hour old), and `evil` 1.0.
async fn channel() -> TestUpstream {
    let up = TestUpstream::start().await;
    let mut records = serde_json::Map::new();
    for (name, version, age_ms) in [
        ("pkg", "1.0", 3 * 365 * 86_400_000_i64),
        ("pkg", "2.0", 3_600_000),
        ("evil", "1.0", 3 * 365 * 86_400_000),
    ] {
        let file = format!("{name}-{version}-0.conda");
        let body = format!("package {file}");
        up.put(&format!("fixture/noarch/{file}"), body.clone());
        records.insert(
            file,
            serde_json::json!({
                "name": name, "version": version, "build": "0", "build_number": 0,
                "depends": [], "subdir": "noarch",
                "sha256": hex::encode(sha2::Sha256::digest(body.as_bytes())),
                "timestamp": now_ms() - age_ms,
            }),
        );
    }
    let repodata = serde_json::json!({
        "info": {"subdir": "noarch"}, "packages": {}, "packages.conda": records,
        "repodata_version": 1,
    });
    let text = serde_json::to_vec(&repodata).unwrap();
    up.put("fixture/noarch/repodata.json.zst", zstd(&text));
    up.put("fixture/noarch/repodata.json", text);
    up.put("fixture/noarch/repodata_shards.msgpack.zst", zstd(b"\x80"));
    up
}

#[tokio::test]
async fn repodata_leaves_out_refused_records_and_their_packages_answer_403() {
    let up = channel().await;
    let mut config: RepositoryConfig =
        toml::from_str("kind = \"conda\"\nmin_age = \"7d\"\ndeny = [\"evil\"]").unwrap();
    config.upstreams = repo(Kind::Conda, &[("up", &up.url, 0)]).upstreams;
    let proxy = Proxy::start_repos(vec![("conda", config)]).await;
    let plain = proxy
        .get("conda/fixture/noarch/repodata.json")
        .await
        .bytes()
        .await
        .unwrap();
    let zst = proxy
        .get("conda/fixture/noarch/repodata.json.zst")
        .await
        .bytes()
        .await
        .unwrap();
    for body in [plain.to_vec(), unzstd(&zst)] {
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let files: Vec<&String> = doc["packages.conda"].as_object().unwrap().keys().collect();
        assert_eq!(files, ["pkg-1.0-0.conda"]);
    }
    let young = proxy.get("conda/fixture/noarch/pkg-2.0-0.conda").await;
    assert_eq!(young.status(), StatusCode::FORBIDDEN);
    let why = young.text().await.unwrap();
    assert!(why.contains("pkg 2.0 was published at 20"), "{why}");
    let evil = proxy.get("conda/fixture/noarch/evil-1.0-0.conda").await;
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.text().await.unwrap().contains("rule `evil`"));
    let ok = proxy.get("conda/fixture/noarch/pkg-1.0-0.conda").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let shards = proxy
        .get("conda/fixture/noarch/repodata_shards.msgpack.zst")
        .await;
    assert_eq!(shards.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        up.count(http::Method::GET, "fixture/noarch/pkg-2.0-0.conda"),
        0
    );
}

#[tokio::test]
async fn a_snapshot_channel_serves_repodata_as_it_was() {
    let up = channel().await;
    let mut config: RepositoryConfig = toml::from_str("kind = \"conda\"").unwrap();
    config.upstreams = repo(Kind::Conda, &[("up", &up.url, 0)]).upstreams;
    let proxy = Proxy::start_repos(vec![("conda", config)]).await;
    let day_ago = SystemTime::now() - std::time::Duration::from_secs(86400);
    let yesterday = humantime::format_rfc3339(day_ago).to_string()[..10].to_owned();
    for _ in 0..2 {
        let body = proxy
            .get(&format!("conda/@{yesterday}/fixture/noarch/repodata.json"))
            .await
            .bytes()
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let files: Vec<&String> = doc["packages.conda"].as_object().unwrap().keys().collect();
        assert_eq!(files, ["evil-1.0-0.conda", "pkg-1.0-0.conda"]);
    }
    let live = proxy.get("conda/fixture/noarch/repodata.json").await;
    let doc: serde_json::Value = serde_json::from_slice(&live.bytes().await.unwrap()).unwrap();
    assert_eq!(doc["packages.conda"].as_object().unwrap().len(), 3);
    let later = proxy
        .get(&format!(
            "conda/@{yesterday}/fixture/noarch/pkg-2.0-0.conda"
        ))
        .await;
    assert_eq!(later.status(), StatusCode::FORBIDDEN);
}
