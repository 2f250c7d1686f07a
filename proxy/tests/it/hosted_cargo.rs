//! Hosted cargo over HTTP: the publish frame is checked whole, the index line carries the
//! `.crate`'s SHA-256, yank flips it, writes need `write`, and a group serves a hosted crate's
//! index from the hosted member only, downloading each version from the member that listed it.

use http::{StatusCode, header};
use repox_proxy::config::Kind;
use sha2::Digest;

use crate::cargo::Registry;
use crate::hosted_support::{Hosted, bearer};
use crate::npm_support::{JsonBody, tar_gz};
use crate::support::client;

/// The body of `cargo publish` for `name` `vers` with the `.crate` `krate`.
pub fn frame(name: &str, vers: &str, krate: &[u8]) -> Vec<u8> {
    let meta = serde_json::json!({
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": null, "license": "MIT", "links": null,
    });
    let json = serde_json::to_vec(&meta).unwrap();
    let mut body = (json.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&json);
    body.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    body.extend_from_slice(krate);
    body
}

async fn publish(
    h: &Hosted,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut req = client()
        .put(h.at("cargo-releases/api/v1/crates/new"))
        .body(body);
    if let Some(t) = token {
        // cargo sends the token as is.
        req = req.header(header::AUTHORIZATION, t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    // The auth gate answers in text, the registry in JSON.
    let body = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_publish_becomes_an_index_line_with_its_checksum() {
    let reg = Registry::start().await;
    let h = Hosted::start(Kind::Cargo, &reg.index.url).await;
    let krate = tar_gz(&[("internal-lib-1.0.0/Cargo.toml", b"[package]\n")]);

    let whole = frame("internal-lib", "1.0.0", &krate);
    let (status, _) = publish(&h, None, whole.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = publish(&h, Some(&h.reader), whole.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = publish(&h, Some(&h.writer), whole[..whole.len() - 5].to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{body}"
    );
    let index = client()
        .get(h.at("cargo-releases/index/in/te/internal-lib"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        index.status(),
        StatusCode::NOT_FOUND,
        "a cut publish left an index line"
    );

    let (status, body) = publish(&h, Some(&h.writer), whole.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = publish(&h, Some(&h.writer), whole).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let index = client()
        .get(h.at("cargo-releases/index/in/te/internal-lib"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(index.trim()).unwrap();
    assert_eq!(line["cksum"], hex::encode(sha2::Sha256::digest(&krate)));
    assert_eq!(line["yanked"], false);
    let dl = client()
        .get(h.at("cargo-releases/dl/internal-lib/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.bytes().await.unwrap(), krate);
    let config = client()
        .get(h.at("cargo-releases/index/config.json"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        config["api"],
        h.at("cargo-releases").as_str().trim_end_matches('/')
    );

    let yank = client()
        .delete(h.at("cargo-releases/api/v1/crates/internal-lib/1.0.0/yank"))
        .header(header::AUTHORIZATION, &h.writer)
        .send()
        .await
        .unwrap();
    assert_eq!(yank.status(), StatusCode::OK);
    let index = client()
        .get(h.at("cargo-releases/index/in/te/internal-lib"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("\"yanked\":true"), "{index}");
}

#[tokio::test]
async fn the_group_serves_a_hosted_crate_from_the_hosted_member_only() {
    let reg = Registry::start().await;
    reg.publish("internal-lib", "99.0.0", &[]);
    let public = reg.publish("serde", "1.0.0", &[]);
    let h = Hosted::start(Kind::Cargo, &reg.index.url).await;
    let mine = tar_gz(&[("internal-lib-1.0.0/Cargo.toml", b"[package]\n")]);
    let (status, _) = publish(
        &h,
        Some(&bearer(&h.writer)),
        frame("internal-lib", "1.0.0", &mine),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let index = client()
        .get(h.at("cargo-public/index/in/te/internal-lib"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(index.lines().count(), 1, "{index}");
    assert!(index.contains("\"vers\":\"1.0.0\""), "{index}");
    assert_eq!(reg.index.count(http::Method::GET, "/in/te/internal-lib"), 0);
    let dl = client()
        .get(h.at("cargo-public/dl/internal-lib/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.bytes().await.unwrap(), mine);
    let hidden = client()
        .get(h.at("cargo-public/dl/internal-lib/99.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let serde = client()
        .get(h.at("cargo-public/dl/serde/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(serde.status(), StatusCode::OK);
    assert_eq!(serde.bytes().await.unwrap(), public);
    let config = client()
        .get(h.at("cargo-public/index/config.json"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        config["dl"],
        format!(
            "{}/dl/{{crate}}/{{version}}/download",
            h.at("cargo-public").as_str().trim_end_matches('/')
        )
    );
}

#[tokio::test]
async fn the_group_index_file_is_merged_again_only_when_a_member_changed() {
    let reg = Registry::start().await;
    let h = Hosted::start(Kind::Cargo, &reg.index.url).await;
    let h = &h;
    let release = |vers: &'static str| async move {
        let krate = tar_gz(&[("internal-lib/Cargo.toml", vers.as_bytes())]);
        let body = frame("internal-lib", vers, &krate);
        publish(h, Some(&bearer(&h.writer)), body).await.0
    };
    assert_eq!(release("1.0.0").await, StatusCode::OK);
    let get = || async {
        let resp = client()
            .get(h.at("cargo-public/index/in/te/internal-lib"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let cache = resp.headers()["x-repox-cache"].to_str().unwrap().to_owned();
        (cache, resp.text().await.unwrap())
    };
    let mut merges = 0;
    for _ in 0..3 {
        let (cache, index) = get().await;
        merges += usize::from(cache == "miss");
        assert_eq!(index.lines().count(), 1, "{index}");
    }
    assert_eq!(merges, 1, "merged once for three requests");
    assert_eq!(release("1.1.0").await, StatusCode::OK);
    let (cache, index) = get().await;
    assert_eq!(cache, "miss", "a publish changed the hosted member");
    assert_eq!(index.lines().count(), 2, "{index}");
    assert_eq!(get().await.0, "hit");
    // Downloads find their member through the kept merge.
    let dl = client()
        .get(h.at("cargo-public/dl/internal-lib/1.1.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status(), StatusCode::OK);
}
