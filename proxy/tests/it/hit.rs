//! The hit path of a file body (larger than what the store holds in memory): ranges across chunk
//! boundaries, `HEAD`, `If-Range` and the conditionals stay exact, and more clients at once than
//! the read-buffer pool has buffers all get whole, correct bodies (`store/chunks.rs`).

use std::time::Duration;

use http::{Method, StatusCode, header};

use crate::support::{Proxy, TestUpstream, bytes, client, maven};

const JAR: &str = "org/example/big/1.0/big-1.0.jar";
const LEN: usize = 3_000_000;

/// A proxy on `up` whose fills are not restarted by a loaded test machine (the tests' default
/// idle timeout, 500 ms, can cut the first, streamed, GET short): these tests are about hits.
async fn proxy(up: &TestUpstream) -> Proxy {
    let mut repo = maven(&[("a", up, 0)]);
    for u in &mut repo.upstreams {
        u.idle_timeout = Duration::from_secs(30);
    }
    Proxy::start(repo).await
}

#[tokio::test]
async fn file_hits_answer_ranges_head_and_conditionals_exactly() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 7);
    up.put(JAR, body.clone());
    let proxy = proxy(&up).await;
    let c = client();
    let url = proxy.at(&format!("maven/{JAR}"));
    assert_eq!(
        c.get(url.clone())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        body
    );
    let whole = c.get(url.clone()).send().await.unwrap();
    assert_eq!(whole.headers()["x-repox-cache"], "hit");
    let etag = whole.headers()[header::ETAG].clone();
    let last_modified = whole.headers()[header::LAST_MODIFIED].clone();
    assert_eq!(whole.bytes().await.unwrap(), body);

    let range = |r: &str| {
        c.get(url.clone())
            .header(header::RANGE, r.to_owned())
            .send()
    };
    // Across the 256 KiB chunk boundary, to the end, a suffix, one byte, past the end.
    for (spec, start, end) in [
        ("bytes=262100-524400", 262_100, 524_401),
        ("bytes=100-", 100, LEN),
        ("bytes=-300000", LEN - 300_000, LEN),
        ("bytes=2999999-2999999", LEN - 1, LEN),
        ("bytes=2000000-9000000", 2_000_000, LEN),
    ] {
        let r = range(spec).await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes {}-{}/{LEN}", start, end - 1).as_str(),
            "{spec}"
        );
        assert_eq!(
            r.headers()[header::CONTENT_LENGTH],
            (end - start).to_string().as_str()
        );
        assert_eq!(r.bytes().await.unwrap(), body.slice(start..end), "{spec}");
    }
    let r = range("bytes=3000000-").await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */3000000");

    // If-Range: the current validator gets the range, another one the whole body.
    let r = c
        .get(url.clone())
        .header(header::RANGE, "bytes=10-19")
        .header(header::IF_RANGE, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), body.slice(10..20));
    let r = c
        .get(url.clone())
        .header(header::RANGE, "bytes=10-19")
        .header(header::IF_RANGE, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), body);

    // HEAD: the GET's headers, no body; with a range, the range's.
    let head = c.head(url.clone()).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        LEN.to_string().as_str()
    );
    assert_eq!(head.headers()[header::ETAG], etag);
    assert!(head.bytes().await.unwrap().is_empty());
    let head = c
        .head(url.clone())
        .header(header::RANGE, "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "10");
    assert!(head.bytes().await.unwrap().is_empty());

    // Conditionals: If-None-Match wins over If-Modified-Since.
    let r = c
        .get(url.clone())
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .get(url.clone())
        .header(header::IF_MODIFIED_SINCE, last_modified.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c
        .get(url.clone())
        .header(header::IF_NONE_MATCH, "\"other\"")
        .header(header::IF_MODIFIED_SINCE, last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), body);
    assert_eq!(
        up.count(Method::GET, JAR),
        1,
        "every answer came from the cache"
    );
}

#[tokio::test]
async fn more_clients_than_pooled_buffers_all_get_whole_bodies() {
    let up = TestUpstream::start().await;
    let body = bytes(LEN, 9);
    up.put(JAR, body.clone());
    let proxy = proxy(&up).await;
    let url = proxy.at(&format!("maven/{JAR}"));
    client()
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // Each client holds its response open, reading one chunk, before any finishes: the pool
    // (8 buffers) runs dry and later chunks come from small buffers.
    let mut responses = Vec::new();
    for _ in 0..40 {
        let mut r = client().get(url.clone()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let first = r.chunk().await.unwrap().unwrap();
        responses.push((r, first));
    }
    for (mut r, first) in responses {
        let mut got = first.to_vec();
        while let Some(chunk) = r.chunk().await.unwrap() {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got.len(), LEN);
        assert!(got == body, "a body came back different");
    }
    assert_eq!(up.count(Method::GET, JAR), 1);
}
