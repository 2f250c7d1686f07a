//! Hosted conda over HTTP: an upload is checked against its own `info/index.json` and the
//! digest the client sent, listed in the subdir's regenerated repodata (plain and `.zst`), and
//! a group serves a hosted package name from the hosted member only.

use http::{Method, StatusCode, header};
use repox_proxy::config::Kind;
use sha2::Digest;

use crate::conda_support::{Channel, Variants, package, unzstd};
use crate::hosted_support::{Hosted, bearer};
use crate::npm_support::JsonBody;
use crate::support::{TestUpstream, client};

async fn upload(
    h: &Hosted,
    path: &str,
    token: &str,
    body: &[u8],
    sha256: Option<&str>,
) -> StatusCode {
    let mut req = client()
        .put(h.at(path))
        .header(header::AUTHORIZATION, bearer(token))
        .body(body.to_vec());
    if let Some(d) = sha256 {
        req = req.header("X-Checksum-Sha256", d);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn an_upload_is_checked_and_listed_in_the_regenerated_repodata() {
    let up = TestUpstream::start().await;
    let h = Hosted::start(Kind::Conda, &up.url).await;
    let p = package("internal-lib", "1.0", &["python"], "noarch");
    let sha = hex::encode(sha2::Sha256::digest(&p.bytes));
    let path = format!("conda-releases/team/noarch/{}", p.file);

    assert_eq!(
        upload(&h, &path, &h.reader, &p.bytes, None).await,
        StatusCode::FORBIDDEN
    );
    let wrong = "0".repeat(64);
    assert_eq!(
        upload(&h, &path, &h.writer, &p.bytes, Some(&wrong)).await,
        StatusCode::BAD_REQUEST
    );
    let cut = &p.bytes[..p.bytes.len() / 2];
    assert_eq!(
        upload(&h, &path, &h.writer, cut, None).await,
        StatusCode::BAD_REQUEST
    );
    let renamed = "conda-releases/team/noarch/numpy-1.0-0.tar.bz2";
    assert_eq!(
        upload(&h, renamed, &h.writer, &p.bytes, None).await,
        StatusCode::BAD_REQUEST
    );
    let elsewhere = format!("conda-releases/team/linux-64/{}", p.file);
    assert_eq!(
        upload(&h, &elsewhere, &h.writer, &p.bytes, None).await,
        StatusCode::BAD_REQUEST
    );
    let empty = client()
        .get(h.at("conda-releases/team/noarch/repodata.json"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        empty["packages"],
        serde_json::json!({}),
        "refused uploads are not listed"
    );
    assert_eq!(
        client().get(h.at(&path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        upload(&h, &path, &h.writer, &p.bytes, Some(&sha)).await,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&h, &path, &h.writer, &p.bytes, Some(&sha)).await,
        StatusCode::CONFLICT
    );
    let repodata = client()
        .get(h.at("conda-releases/team/noarch/repodata.json"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let record = &repodata["packages"][&p.file];
    assert_eq!(record["sha256"], sha);
    assert_eq!(record["size"], p.bytes.len());
    assert_eq!(record["depends"][0], "python");
    let zst = client()
        .get(h.at("conda-releases/team/noarch/repodata.json.zst"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let unpacked: serde_json::Value = serde_json::from_slice(&unzstd(&zst)).unwrap();
    assert_eq!(unpacked, repodata);
    let file = client().get(h.at(&path)).send().await.unwrap();
    assert_eq!(file.bytes().await.unwrap(), p.bytes);
}

#[tokio::test]
async fn the_group_serves_a_hosted_name_from_the_hosted_member_only() {
    let up = TestUpstream::start().await;
    let channel = Channel::new(
        &up,
        "conda-forge",
        Variants {
            zst: false,
            bz2: false,
            shards: false,
        },
    );
    let theirs = package("internal-lib", "99.0", &[], "noarch");
    let public = package("world", "2.0", &[], "noarch");
    channel.publish("noarch", &[&theirs, &public]);
    let h = Hosted::start(Kind::Conda, &up.url).await;
    let mine = package("internal-lib", "1.0", &[], "noarch");
    let path = format!("conda-releases/conda-forge/noarch/{}", mine.file);
    assert_eq!(
        upload(&h, &path, &h.writer, &mine.bytes, None).await,
        StatusCode::CREATED
    );

    let merged = client()
        .get(h.at("conda-public/conda-forge/noarch/repodata.json"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let files: Vec<&String> = merged["packages"].as_object().unwrap().keys().collect();
    assert_eq!(files, [&mine.file, &public.file], "{merged}");
    let hidden = client()
        .get(h.at(&format!("conda-public/conda-forge/noarch/{}", theirs.file)))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        up.count(Method::GET, &format!("/conda-forge/noarch/{}", theirs.file)),
        0
    );
    let world = client()
        .get(h.at(&format!("conda-public/conda-forge/noarch/{}", public.file)))
        .send()
        .await
        .unwrap();
    assert_eq!(world.bytes().await.unwrap(), public.bytes);
    let ours = client()
        .get(h.at(&format!("conda-public/conda-forge/noarch/{}", mine.file)))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.bytes().await.unwrap(), mine.bytes);
}

#[tokio::test]
async fn the_group_repodata_is_merged_again_only_when_a_member_changed() {
    let up = TestUpstream::start().await;
    let channel = Channel::new(
        &up,
        "conda-forge",
        Variants {
            zst: false,
            bz2: false,
            shards: false,
        },
    );
    let public = package("world", "2.0", &[], "noarch");
    channel.publish("noarch", &[&public]);
    let h = Hosted::start(Kind::Conda, &up.url).await;
    let get = |file: &'static str| {
        let req = client().get(h.at(&format!("conda-public/conda-forge/noarch/{file}")));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let cache = resp.headers()["x-repox-cache"].to_str().unwrap().to_owned();
            (cache, resp.bytes().await.unwrap())
        }
    };
    let mut merges = 0;
    for _ in 0..3 {
        let (cache, body) = get("repodata.json").await;
        merges += usize::from(cache == "miss");
        assert!(String::from_utf8_lossy(&body).contains(&public.file));
    }
    assert_eq!(merges, 1, "merged once for three requests");
    let (cache, zst) = get("repodata.json.zst").await;
    assert_eq!(cache, "miss", "the compressed document is its own merge");
    assert!(String::from_utf8_lossy(&unzstd(&zst)).contains(&public.file));
    assert_eq!(get("repodata.json.zst").await.0, "hit");

    let mine = package("internal-lib", "1.0", &[], "noarch");
    let path = format!("conda-releases/conda-forge/noarch/{}", mine.file);
    assert_eq!(
        upload(&h, &path, &h.writer, &mine.bytes, None).await,
        StatusCode::CREATED
    );
    let (cache, body) = get("repodata.json").await;
    assert_eq!(cache, "miss", "an upload changed the hosted member");
    assert!(String::from_utf8_lossy(&body).contains(&mine.file));
    assert_eq!(get("repodata.json").await.0, "hit");
}
