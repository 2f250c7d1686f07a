//! A failing upstream or a damaged cache costs nothing: the circuit breaker keeps a down
//! upstream from being asked (stale entries at once, misses fail over or fail fast, a half-open
//! probe brings it back, the state shows in `/-/health` and `/-/metrics`), and a damaged
//! negative-cache log does not stop the server; a checked body that cannot be stored still
//! reaches its client.

use std::time::Duration;

use http::{Method, StatusCode};
use repox_proxy::config::RepositoryConfig;
use url::Url;

use crate::support::{Behavior, Proxy, TestUpstream, bytes, maven};

const SNAP: &str = "org/example/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.jar";

/// `maven(...)` with breakers that trip after `failures` and stay down for `backoff`.
fn with_breaker(mut repo: RepositoryConfig, failures: u32, backoff: Duration) -> RepositoryConfig {
    for up in &mut repo.upstreams {
        up.breaker_failures = failures;
        up.breaker_backoff = backoff;
        up.breaker_backoff_max = backoff * 4;
    }
    repo
}

async fn health(proxy: &Proxy) -> serde_json::Value {
    let text = proxy.get("-/health").await.text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn metrics(proxy: &Proxy) -> String {
    proxy.get("-/metrics").await.text().await.unwrap()
}

#[tokio::test]
async fn a_hanging_upstream_is_marked_down_and_stale_entries_are_served_without_asking_it() {
    let up = TestUpstream::start().await;
    up.put(SNAP, bytes(1000, 3));
    let mut repo = with_breaker(maven(&[("a", &up, 0)]), 2, Duration::from_secs(600));
    repo.metadata_ttl = Some(Duration::from_secs(1));
    let proxy = Proxy::start(repo).await;
    let path = format!("maven/{SNAP}");
    let first = proxy.get(&path).await;
    assert_eq!(first.status(), StatusCode::OK);
    // The whole body: its fill (and the `.sha1` it asks for) is over before the upstream hangs.
    assert_eq!(first.bytes().await.unwrap(), bytes(1000, 3));

    up.behave_always(Behavior {
        hang: true,
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Two revalidations wait for the timeout and trip the breaker...
    for _ in 0..2 {
        let r = proxy.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-repox-cache"], "stale");
    }
    let asked = up.count(Method::GET, SNAP);
    // ...after which the stale entry is served and the upstream is not asked at all.
    for _ in 0..5 {
        let r = proxy.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-repox-cache"], "stale");
        assert_eq!(r.bytes().await.unwrap(), bytes(1000, 3));
    }
    assert_eq!(
        up.count(Method::GET, SNAP),
        asked,
        "a down upstream is not asked"
    );

    let h = health(&proxy).await;
    let a = &h["repositories"][0]["upstreams"][0];
    assert_eq!(a["state"], "down", "{h}");
    assert_eq!(a["consecutive_failures"], 2, "{h}");
    assert!(a["down_until"].as_str().unwrap().ends_with('Z'), "{h}");
    assert_eq!(a["last_error"], "no response in time", "{h}");
    let m = metrics(&proxy).await;
    assert!(m.contains("repox_upstream_up{upstream=\"a\"} 0\n"), "{m}");
    assert!(
        m.contains("repox_upstream_breaker_trips_total{upstream=\"a\"} 1\n"),
        "{m}"
    );
}

#[tokio::test]
async fn misses_fail_over_past_a_down_upstream() {
    let broken = TestUpstream::start().await;
    broken.behave_always(Behavior {
        status: Some(503),
        ..Default::default()
    });
    let good = TestUpstream::start().await;
    for i in 0..6 {
        good.put_with_sha1(&format!("org/x/{i}/x-{i}.jar"), bytes(500, i));
    }
    let repo = maven(&[("broken", &broken, 0), ("good", &good, 1)]);
    let proxy = Proxy::start(with_breaker(repo, 2, Duration::from_secs(600))).await;
    for i in 0..6u8 {
        let r = proxy.get(&format!("maven/org/x/{i}/x-{i}.jar")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), bytes(500, i));
    }
    assert_eq!(
        broken.total(),
        2,
        "the broken upstream is asked until it trips, then skipped: {:?}",
        broken.log()
    );
    let h = health(&proxy).await;
    assert_eq!(h["repositories"][0]["upstreams"][0]["state"], "down");
    assert_eq!(h["repositories"][0]["upstreams"][1]["state"], "up");
}

#[tokio::test]
async fn a_miss_on_a_lone_down_upstream_fails_fast_saying_until_when() {
    let up = TestUpstream::start().await;
    up.behave_always(Behavior {
        status: Some(500),
        ..Default::default()
    });
    let proxy = Proxy::start(with_breaker(
        maven(&[("a", &up, 0)]),
        3,
        Duration::from_secs(600),
    ))
    .await;
    for i in 0..3 {
        let r = proxy.get(&format!("maven/org/y/{i}/y-{i}.jar")).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    }
    let asked = up.total();
    let r = proxy.get("maven/org/y/9/y-9.jar").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let text = r.text().await.unwrap();
    assert!(text.contains("a: upstream is down until 20"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert_eq!(up.total(), asked, "not asked while down");
}

#[tokio::test]
async fn a_half_open_probe_brings_the_upstream_back() {
    let up = TestUpstream::start().await;
    up.put_with_sha1("org/z/1/z-1.jar", bytes(300, 7));
    up.behave_always(Behavior {
        status: Some(502),
        ..Default::default()
    });
    let proxy = Proxy::start(with_breaker(
        maven(&[("a", &up, 0)]),
        1,
        Duration::from_millis(300),
    ))
    .await;
    let path = "maven/org/z/1/z-1.jar";
    assert_eq!(proxy.get(path).await.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        health(&proxy).await["repositories"][0]["upstreams"][0]["state"],
        "down"
    );

    up.behave_always(Behavior::default());
    let mut ok = false;
    for _ in 0..100 {
        if proxy.get(path).await.status() == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the upstream came back after its back-off");
    let h = health(&proxy).await;
    let a = &h["repositories"][0]["upstreams"][0];
    assert_eq!(a["state"], "up", "{h}");
    assert_eq!(a["consecutive_failures"], 0, "{h}");
    assert!(a["down_until"].is_null(), "{h}");
    assert!(
        metrics(&proxy)
            .await
            .contains("repox_upstream_up{upstream=\"a\"} 1\n")
    );
}

#[tokio::test]
async fn not_found_answers_never_trip_the_breaker() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(with_breaker(
        maven(&[("a", &up, 0)]),
        2,
        Duration::from_secs(600),
    ))
    .await;
    for i in 0..6 {
        let r = proxy.get(&format!("maven/org/n/{i}/n-{i}.jar")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(up.count(Method::GET, "org/n/5/n-5.jar"), 1, "still asked");
    assert_eq!(
        health(&proxy).await["repositories"][0]["upstreams"][0]["state"],
        "up"
    );
}

#[tokio::test]
async fn health_shows_no_credentials_or_query_strings() {
    // A closed port, with credentials in the configured URL. The socket stays bound without
    // listening: connections are refused, and no other test's server can take the port (as it
    // could if it were released).
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let mut repo = maven(&[]);
    let url = Url::parse(&format!("http://bob:hunter2@127.0.0.1:{port}/m2/")).unwrap();
    let mut up = repox_proxy::config::UpstreamConfig::new("closed", url);
    up.connect_timeout = Duration::from_millis(500);
    up.breaker_failures = 1;
    repo.upstreams.push(up);
    let proxy = Proxy::start(repo).await;
    let r = proxy.get("maven/org/c/1/c-1.jar?token=abc").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let h = health(&proxy).await.to_string();
    assert!(h.contains("\"state\":\"down\""), "{h}");
    assert!(!h.contains("hunter2") && !h.contains("bob"), "{h}");
    assert!(!h.contains("token"), "{h}");
    let body = proxy
        .get("maven/org/c/2/c-2.jar")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("down until") && !body.contains("hunter2"),
        "{body}"
    );
}

#[tokio::test]
async fn a_damaged_negative_log_does_not_stop_start_up() {
    let up = TestUpstream::start().await;
    up.put_with_sha1("org/d/1/d-1.jar", bytes(200, 1));
    let cache = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let log = cache.path().join("negative-v1.jsonl");
    // Invalid UTF-8, garbage, and a fact torn inside a two-byte character.
    let mut text = b"\xff\xfe\xfd\nnot json\n".to_vec();
    text.extend_from_slice(&"{\"k\":\"maven/é".as_bytes()[..13]);
    std::fs::write(&log, &text).unwrap();

    let proxy = Proxy::start_in(cache.clone(), maven(&[("a", &up, 0)]), false).await;
    assert_eq!(
        proxy.get("maven/org/d/1/d-1.jar").await.status(),
        StatusCode::OK
    );
    // A 404 is remembered on a line of its own, after the torn one...
    assert_eq!(
        proxy.get("maven/org/d/2/d-2.jar").await.status(),
        StatusCode::NOT_FOUND
    );
    let cache = proxy.stop().await;
    // ...so it survives a restart: the upstream is not asked again.
    let proxy = Proxy::start_in(cache, maven(&[("a", &up, 0)]), false).await;
    assert_eq!(
        proxy.get("maven/org/d/2/d-2.jar").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(up.count(Method::GET, "org/d/2/d-2.jar"), 1);
}

#[tokio::test]
async fn a_checked_body_that_cannot_be_stored_still_reaches_its_client() {
    let up = TestUpstream::start().await;
    let jar = bytes(300_000, 9);
    up.put_with_sha1("g/t/1/t-1.jar", jar.clone());
    // A file where the entry's directory must go: the commit fails, the download was fine.
    let cache = std::sync::Arc::new(tempfile::tempdir().unwrap());
    std::fs::create_dir_all(cache.path().join("data-v1/maven/g")).unwrap();
    std::fs::write(cache.path().join("data-v1/maven/g/t"), b"in the way").unwrap();
    let proxy = Proxy::start_in(cache.clone(), maven(&[("central", &up, 0)]), false).await;
    for round in 1..=2 {
        let resp = proxy.get("maven/g/t/1/t-1.jar").await;
        assert_eq!(resp.status(), StatusCode::OK, "round {round}");
        assert_eq!(
            resp.bytes().await.unwrap(),
            jar,
            "round {round}: the whole body"
        );
        // Nothing was stored, so the second request asks the upstream again.
        assert_eq!(up.count(Method::GET, "g/t/1/t-1.jar"), round);
    }
    proxy.stop().await;
}
