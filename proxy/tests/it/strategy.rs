//! The upstream strategy, point by point: cached files answer with zero upstream requests;
//! first HEADs race every upstream; first GETs skip known-missing upstreams, race the best tier,
//! fall to the next, coalesce, stream through, survive client disconnects and stalls, verify
//! checksums, and answer 404 only when every upstream said 404.

use std::time::{Duration, Instant};

use http::{Method, StatusCode, header};

use crate::support::{Behavior, Proxy, TestUpstream, bytes, client, maven};

const JAR: &str = "org/example/lib/1.0/lib-1.0.jar";

#[tokio::test]
async fn cached_file_answers_get_and_head_without_upstream() {
    let up = TestUpstream::start().await;
    let body = bytes(50_000, 1);
    up.put_with_sha1(JAR, body.clone());
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();

    let first = c
        .get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.bytes().await.unwrap(), body);
    let before = up.total();

    let second = c
        .get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let h = second.headers().clone();
    assert_eq!(second.bytes().await.unwrap(), body);
    let head = c
        .head(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(up.total(), before, "a cached file must not reach upstream");

    assert_eq!(h[header::CONTENT_LENGTH], "50000");
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert_eq!(h[header::LAST_MODIFIED], "Tue, 02 Jan 2024 03:04:05 GMT");
    assert!(h.contains_key(header::ETAG));
    use sha1::Digest;
    assert_eq!(h["x-checksum-sha1"], hex::encode(sha1::Sha1::digest(&body)));
    assert_eq!(h["x-checksum-md5"].len(), 32);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "50000");
    assert_eq!(head.headers()[header::ETAG], h[header::ETAG]);
}

#[tokio::test]
async fn cached_file_ranges_and_conditionals() {
    let up = TestUpstream::start().await;
    let body = bytes(1000, 2);
    up.put(JAR, body.clone());
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();
    let url = proxy.at(&format!("maven/{JAR}"));
    c.get(url.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let etag = c.get(url.clone()).send().await.unwrap().headers()[header::ETAG].clone();

    let get = |range: &'static str| c.get(url.clone()).header(header::RANGE, range).send();
    let r = get("bytes=10-19").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 10-19/1000");
    assert_eq!(r.bytes().await.unwrap(), body.slice(10..20));
    let r = get("bytes=990-").await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), body.slice(990..));
    let r = get("bytes=-5").await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 995-999/1000");
    assert_eq!(r.bytes().await.unwrap(), body.slice(995..));
    let r = get("bytes=1000-").await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */1000");

    let r = c
        .get(url.clone())
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()[header::ETAG], etag);
    let r = c
        .get(url.clone())
        .header(header::IF_MODIFIED_SINCE, "Tue, 02 Jan 2024 03:04:05 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c
        .get(url.clone())
        .header(header::IF_MODIFIED_SINCE, "Mon, 01 Jan 2024 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(up.count(Method::GET, JAR), 1);
}

#[tokio::test]
async fn first_head_races_all_upstreams_and_remembers_404s() {
    let (slow, fast, missing) = (
        TestUpstream::start().await,
        TestUpstream::start().await,
        TestUpstream::start().await,
    );
    slow.put(JAR, bytes(10, 0)).behave_always(Behavior {
        delay: Duration::from_secs(3),
        ..Default::default()
    });
    fast.put(JAR, bytes(10, 0));
    // Priority is ignored for HEAD: the low-priority upstream is asked too.
    let proxy = Proxy::start(maven(&[
        ("slow", &slow, 0),
        ("missing", &missing, 0),
        ("fast", &fast, 5),
    ]))
    .await;
    let started = Instant::now();
    let r = client()
        .head(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "10");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "HEAD waited for the slow upstream"
    );
    assert_eq!(fast.count(Method::HEAD, JAR), 1);
    assert_eq!(missing.count(Method::HEAD, JAR), 1);
    assert_eq!(slow.count(Method::HEAD, JAR), 1);

    // The 404 is remembered: the next GET skips `missing`.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(missing.count(Method::GET, JAR), 0);
}

#[tokio::test]
async fn negative_cache_survives_restart() {
    let (a, b) = (TestUpstream::start().await, TestUpstream::start().await);
    let proxy = Proxy::start(maven(&[("a", &a, 0), ("b", &b, 0)])).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(a.count(Method::GET, JAR) + b.count(Method::GET, JAR), 2);
    let cache = proxy.stop().await;

    let proxy = Proxy::start_in(cache, maven(&[("a", &a, 0), ("b", &b, 0)]), false).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        a.total() + b.total(),
        2,
        "known 404s must not be asked again after a restart"
    );
}

#[tokio::test]
async fn get_races_the_best_tier_then_falls_to_the_next() {
    let (t0a, t0b, t1, t2) = (
        TestUpstream::start().await,
        TestUpstream::start().await,
        TestUpstream::start().await,
        TestUpstream::start().await,
    );
    t1.put(JAR, bytes(100, 3));
    t2.put(JAR, bytes(100, 3));
    let proxy = Proxy::start(maven(&[
        ("t0a", &t0a, 0),
        ("t0b", &t0b, 0),
        ("t1", &t1, 1),
        ("t2", &t2, 2),
    ]))
    .await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), bytes(100, 3));
    assert_eq!(t0a.count(Method::GET, JAR), 1);
    assert_eq!(t0b.count(Method::GET, JAR), 1);
    assert_eq!(t1.count(Method::GET, JAR), 1);
    assert_eq!(
        t2.count(Method::GET, JAR),
        0,
        "a later tier must not be asked once a tier succeeded"
    );
}

#[tokio::test]
async fn same_tier_race_takes_the_fastest() {
    let (slow, fast) = (TestUpstream::start().await, TestUpstream::start().await);
    slow.put(JAR, bytes(100, 4)).behave_always(Behavior {
        delay: Duration::from_secs(3),
        ..Default::default()
    });
    fast.put(JAR, bytes(100, 4));
    let proxy = Proxy::start(maven(&[("slow", &slow, 0), ("fast", &fast, 0)])).await;
    let started = Instant::now();
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), bytes(100, 4));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn all_404_is_404_but_errors_are_502_or_504() {
    let (a, b) = (TestUpstream::start().await, TestUpstream::start().await);
    let proxy = Proxy::start(maven(&[("a", &a, 0), ("b", &b, 1)])).await;
    let r = proxy.get("maven/x/y/1/y-1.jar").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    b.behave_always(Behavior {
        status: Some(500),
        ..Default::default()
    });
    let r = proxy.get("maven/x/z/1/z-1.jar").await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_GATEWAY,
        "a 500 must never become a 404"
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("b: HTTP 500"), "{text}");

    b.behave_always(Behavior {
        hang: true,
        ..Default::default()
    });
    let started = Instant::now();
    let r = proxy.get("maven/x/w/1/w-1.jar").await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn html_for_an_artifact_means_not_there() {
    let (mirror, real) = (TestUpstream::start().await, TestUpstream::start().await);
    mirror.behave_always(Behavior {
        html: true,
        ..Default::default()
    });
    real.put(JAR, bytes(64, 5)).behave_always(Behavior {
        delay: Duration::from_millis(200),
        ..Default::default()
    });
    let proxy = Proxy::start(maven(&[("mirror", &mirror, 0), ("real", &real, 0)])).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), bytes(64, 5));
    let only_html = Proxy::start(maven(&[("mirror", &mirror, 0)])).await;
    let r = only_html.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fifty_concurrent_gets_make_one_upstream_get() {
    let up = TestUpstream::start().await;
    let body = bytes(300_000, 6);
    up.put_with_sha1(JAR, body.clone()).behave(
        JAR,
        Behavior {
            delay: Duration::from_millis(200),
            chunk_delay: Some(Duration::from_millis(5)),
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();
    let url = proxy.at(&format!("maven/{JAR}"));
    let gets = (0..50).map(|_| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await.unwrap().bytes().await.unwrap() }
    });
    let bodies = futures_util::future::join_all(gets).await;
    assert!(
        bodies.iter().all(|b| *b == body),
        "every client gets the same complete body"
    );
    assert_eq!(up.count(Method::GET, JAR), 1);
}

#[tokio::test]
async fn client_disconnect_does_not_abort_the_download() {
    let up = TestUpstream::start().await;
    let body = bytes(400_000, 7);
    up.put(JAR, body.clone()).behave(
        JAR,
        Behavior {
            chunk_delay: Some(Duration::from_millis(10)),
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();
    let url = proxy.at(&format!("maven/{JAR}"));
    let mut r = c.get(url.clone()).send().await.unwrap();
    let first = r.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(r);
    // The fill goes on without the client; wait for it to commit.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head = c.head(url.clone()).send().await.unwrap();
        if head.headers().contains_key(header::ETAG) || Instant::now() > deadline {
            break;
        }
    }
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), body);
    assert_eq!(up.count(Method::GET, JAR), 1);
}

#[tokio::test]
async fn first_client_streams_before_the_download_ends() {
    let up = TestUpstream::start().await;
    let body = bytes(64 * 1024 * 20, 8);
    up.put(JAR, body.clone()).behave(
        JAR,
        Behavior {
            chunk_delay: Some(Duration::from_millis(50)),
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let started = Instant::now();
    let mut r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(
        r.headers()[header::CONTENT_LENGTH],
        body.len().to_string().as_str()
    );
    let first = r.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    // 80 chunks at 50 ms each take 4 s upstream; the first bytes arrive long before that.
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut got = first.to_vec();
    while let Some(chunk) = r.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, body);
}

#[tokio::test]
async fn a_stalled_download_resumes_with_range() {
    let up = TestUpstream::start().await;
    let body = bytes(200_000, 9);
    up.put_with_sha1(JAR, body.clone()).behave(
        JAR,
        Behavior {
            stall_after: Some(70_000),
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.bytes().await.unwrap(),
        body,
        "the client sees one continuous body"
    );
    let ranged: Vec<_> = up
        .log()
        .into_iter()
        .filter(|l| l.path == JAR && l.headers.contains_key(header::RANGE))
        .collect();
    assert_eq!(ranged.len(), 1);
    assert_eq!(ranged[0].headers[header::RANGE], "bytes=70000-");
}

#[tokio::test]
async fn a_stall_without_ranges_fails_over_to_another_upstream() {
    let (stalling, other) = (TestUpstream::start().await, TestUpstream::start().await);
    let body = bytes(150_000, 10);
    stalling.put(JAR, body.clone()).behave(
        JAR,
        Behavior {
            stall_after: Some(50_000),
            ranges: false,
            ..Default::default()
        },
    );
    other.put(JAR, body.clone()).behave(
        JAR,
        Behavior {
            ranges: false,
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("stalling", &stalling, 0), ("other", &other, 1)])).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), body);
    assert_eq!(other.count(Method::GET, JAR), 1);
}

#[tokio::test]
async fn wrong_bytes_are_never_cached_and_the_next_upstream_is_used() {
    let (liar, honest) = (TestUpstream::start().await, TestUpstream::start().await);
    let good = bytes(20_000, 11);
    use sha1::Digest;
    liar.put(JAR, bytes(20_000, 99)).put(
        &format!("{JAR}.sha1"),
        hex::encode(sha1::Sha1::digest(&good)),
    );
    honest.put_with_sha1(JAR, good.clone());
    let proxy = Proxy::start(maven(&[("liar", &liar, 0), ("honest", &honest, 1)])).await;
    let c = client();
    let url = proxy.at(&format!("maven/{JAR}"));
    // The first client may be cut off (it was streaming the liar's bytes): it never gets a
    // complete wrong body.
    if let Ok(r) = c.get(url.clone()).send().await
        && let Ok(b) = r.bytes().await
    {
        assert_eq!(b, good);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = None;
    while Instant::now() < deadline {
        let r = c.get(url.clone()).send().await.unwrap();
        if r.status() == StatusCode::OK
            && let Ok(b) = r.bytes().await
        {
            last = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.as_ref(), Some(&good));
    assert_eq!(honest.count(Method::GET, JAR), 1);
    assert_eq!(
        liar.count(Method::GET, JAR),
        1,
        "the liar is remembered as not having the file"
    );
}

#[tokio::test]
async fn x_checksum_header_saves_the_sha1_request() {
    let up = TestUpstream::start().await;
    up.put(JAR, bytes(5000, 12)).behave(
        JAR,
        Behavior {
            checksum_header: true,
            ..Default::default()
        },
    );
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), bytes(5000, 12));
    assert_eq!(up.count(Method::GET, &format!("{JAR}.sha1")), 0);
}

#[tokio::test]
async fn offline_serves_cache_and_504s_misses() {
    let up = TestUpstream::start().await;
    up.put(JAR, bytes(100, 13));
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    proxy
        .get(&format!("maven/{JAR}"))
        .await
        .bytes()
        .await
        .unwrap();
    let cache = proxy.stop().await;
    let offline = Proxy::start_in(cache, maven(&[("a", &up, 0)]), true).await;
    let before = up.total();
    let r = offline.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), bytes(100, 13));
    let r = offline.get("maven/org/other/1/other-1.jar").await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        r.text().await.unwrap(),
        "repox is offline and /maven/org/other/1/other-1.jar is not cached\n"
    );
    assert_eq!(up.total(), before);
}

#[tokio::test]
async fn bad_paths_are_400_and_never_leave_the_cache() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    // reqwest normalizes `..` itself, so send raw requests.
    for raw in [
        "/maven/a/%2e%2e/%2e%2e/etc/passwd",
        "/maven/a//b.jar",
        "/maven/a/%2fetc/b.jar",
        "/maven/a/..%5c..%5cb",
    ] {
        let mut stream =
            tokio::net::TcpStream::connect(proxy.url.socket_addrs(|| None).unwrap()[0])
                .await
                .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(
                format!("GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut resp = String::new();
        stream.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 400"), "{raw}: {resp}");
    }
    assert_eq!(up.total(), 0);
}

#[tokio::test]
async fn health_and_metrics() {
    let up = TestUpstream::start().await;
    up.put(JAR, bytes(10, 14));
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();
    c.get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    c.get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(
        &c.get(proxy.at("-/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["repositories"][0]["name"], "maven");
    let metrics = c
        .get(proxy.at("-/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("repox_requests_total{repository=\"maven\",status=\"200\",cache=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("repox_requests_total{repository=\"maven\",status=\"200\",cache=\"miss\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("repox_upstream_requests_total{upstream=\"a\",result=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("repox_bytes_served_total{repository=\"maven\"} 20"),
        "{metrics}"
    );
}

#[tokio::test]
async fn upstream_credentials_come_from_the_environment() {
    let up = TestUpstream::start().await;
    up.put(JAR, bytes(10, 15));
    let mut repo = maven(&[("private", &up, 0)]);
    repo.upstreams[0].username = Some("ci".into());
    // `cargo test` sets CARGO_PKG_NAME in the test's environment: a stand-in for a secret.
    repo.upstreams[0].password_env = Some("CARGO_PKG_NAME".into());
    let proxy = Proxy::start(repo).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let auth =
        up.log().iter().find(|l| l.path == JAR).unwrap().headers[header::AUTHORIZATION].clone();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.to_str().unwrap().strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(decoded, b"ci:repox-proxy");
}

#[tokio::test]
async fn each_upstream_can_have_its_own_http_proxy() {
    // The test server plays the HTTP proxy: it receives absolute-form requests for a host that
    // does not exist and answers them from its files.
    let corp_proxy = TestUpstream::start().await;
    corp_proxy.put(JAR, bytes(10, 16));
    let mut repo = maven(&[("behind-proxy", &corp_proxy, 0)]);
    repo.upstreams[0].url = url::Url::parse("http://repo.example.invalid/").unwrap();
    repo.upstreams[0].proxy = Some(corp_proxy.url.clone());
    let proxy = Proxy::start(repo).await;
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.bytes().await.unwrap(), bytes(10, 16));
    assert_eq!(corp_proxy.count(Method::GET, JAR), 1);
}

#[tokio::test]
async fn head_false_probes_with_get() {
    let up = TestUpstream::start().await;
    up.put(JAR, bytes(10, 17));
    let mut repo = maven(&[("no-head", &up, 0)]);
    repo.upstreams[0].head = false;
    let proxy = Proxy::start(repo).await;
    let r = client()
        .head(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "10");
    assert_eq!(up.count(Method::HEAD, JAR), 0);
    assert_eq!(up.count(Method::GET, JAR), 1);
}
