//! Large misses (8 MiB and more): only the digest that checks a published checksum is computed
//! while the body streams; the digests that are only recorded are computed from the staged file
//! after the last byte was handed on, before the commit. These tests check that this changed
//! nothing a client or the cache can see: a wrong checksum still cuts the body and commits
//! nothing, an unchecked body commits with every digest right, and clients tailing one fill get
//! the same bytes.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::support::{Behavior, Proxy, TestUpstream, bytes, client, maven};

const JAR: &str = "org/x/big/1.0/big-1.0.jar";
/// Above `hashing::LATE_FROM` (8 MiB).
const LEN: usize = 9 * 1024 * 1024 + 12_345;

/// Reads a response body to its end; `Err` when the stream failed.
async fn read_all(resp: reqwest::Response) -> Result<Bytes, reqwest::Error> {
    resp.bytes().await
}

#[tokio::test]
async fn a_large_body_whose_published_sha1_differs_is_cut_and_not_committed() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 3);
    up.put(JAR, body.clone());
    up.put(
        &format!("{JAR}.sha1"),
        "0123456789012345678901234567890123456789",
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let path = format!("maven/{JAR}");

    let resp = proxy.get(&path).await;
    if resp.status() == StatusCode::OK {
        // Cut short (an error) is what a client must see; never the whole body.
        if let Ok(got) = read_all(resp).await {
            assert!(got.len() < LEN, "a body that failed its check came whole");
        }
    } else {
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    }
    let committed = proxy.cache.path().join("data-v1/maven").join(JAR);
    assert!(!committed.exists(), "nothing committed");

    // Once the upstream's checksum is right, the body is fetched again and served whole.
    up.put_with_sha1(JAR, body.clone());
    let resp = proxy.get(&path).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_all(resp).await.unwrap(), body);
    assert_eq!(up.count(Method::GET, JAR), 2, "the bad copy was not kept");
    proxy.wait_for_hit(&path).await;
    assert!(
        committed.exists(),
        "the good copy is where a bad one was looked for"
    );
}

#[tokio::test]
async fn a_large_body_without_a_published_checksum_commits_every_digest() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 7);
    up.put(JAR, body.clone()); // no .sha1: verified by length only
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let path = format!("maven/{JAR}");

    let resp = proxy.get(&path).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_all(resp).await.unwrap(), body);

    let hit = proxy.wait_for_hit(&path).await;
    let h = hit.headers().clone();
    let sha256 = hex::encode(Sha256::digest(&body));
    assert_eq!(h["x-checksum-sha256"], sha256.as_str());
    assert_eq!(
        h["x-checksum-sha1"],
        hex::encode(Sha1::digest(&body)).as_str()
    );
    assert_eq!(
        h["x-checksum-md5"],
        hex::encode(Md5::digest(&body)).as_str()
    );
    assert_eq!(h[header::ETAG], format!("\"{}\"", &sha256[..32]).as_str());
    assert_eq!(read_all(hit).await.unwrap(), body);
    assert_eq!(up.count(Method::GET, JAR), 1);
    let staged = std::fs::read_dir(proxy.cache.path().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(staged, 0, "the staging file became the entry");
}

#[tokio::test]
async fn a_large_body_checked_against_its_sha1_header_records_the_other_digests() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 11);
    up.put(JAR, body.clone()).behave(
        JAR,
        Behavior {
            checksum_header: true,
            ..Behavior::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let path = format!("maven/{JAR}");

    let resp = proxy.get(&path).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_all(resp).await.unwrap(), body);
    let hit = proxy.wait_for_hit(&path).await;
    let h = hit.headers();
    assert_eq!(
        h["x-checksum-sha256"],
        hex::encode(Sha256::digest(&body)).as_str()
    );
    assert_eq!(
        h["x-checksum-sha1"],
        hex::encode(Sha1::digest(&body)).as_str()
    );
    assert_eq!(
        h["x-checksum-md5"],
        hex::encode(Md5::digest(&body)).as_str()
    );
    assert_eq!(up.count(Method::GET, &format!("{JAR}.sha1")), 0);
}

#[tokio::test]
async fn clients_tailing_one_large_fill_get_identical_bytes() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 13);
    // 16 KiB chunks with a pause: the clients join while the body is still coming in.
    up.put_with_sha1(JAR, body.clone()).behave(
        JAR,
        Behavior {
            chunk_delay: Some(Duration::from_micros(500)),
            ..Behavior::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let url = proxy.at(&format!("maven/{JAR}"));

    let mut clients = Vec::new();
    for i in 0..5u64 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40 * i)).await;
            let resp = client().get(url).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            read_all(resp).await.unwrap()
        }));
    }
    for c in clients {
        let got = c.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == body, "a tailing client got other bytes");
    }
    assert_eq!(up.count(Method::GET, JAR), 1, "one upstream download");
}
