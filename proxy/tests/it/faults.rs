//! Fault injection: a fake upstream that hangs, stalls, resets, cuts bodies short with and
//! without `Content-Length`, sends wrong bytes, a wrong `X-Checksum-SHA1`, a wrong or failing
//! `.sha1`, an HTML page as `application/octet-stream`, an endless body, a drip, or a huge
//! `Content-Length`. For each:
//! what the client sees, and that nothing wrong was committed: once the fault is gone, the
//! next request is fetched again and gets the right bytes (no bad entry, no remembered 404).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use repox_proxy::config::{Kind, RepositoryConfig};
use sha2::Digest;

use crate::fault_upstream::{Fault, FaultUpstream};
use crate::npm_support::repo;
use crate::support::{Proxy, bytes};

const JAR: &str = "org/x/lib/1.0/lib-1.0.jar";
const LEN: usize = 300_000;

/// One Maven upstream with short timeouts (a second without bytes is a stall) and a 1 MiB
/// `max_file_size`, so hangs, stalls and endless bodies end quickly.
fn config(up: &FaultUpstream) -> RepositoryConfig {
    let mut config = repo(Kind::Maven, &[("a", &up.url, 0)]);
    for u in &mut config.upstreams {
        u.idle_timeout = Duration::from_secs(1);
        u.connect_timeout = Duration::from_secs(1);
    }
    config.max_file_size = Some(1 << 20);
    config
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// What a client saw: `200 ok`, `200 WRONG`, `<status> cut` (body broken off), or `<status>`.
async fn seen(resp: reqwest::Response, want: &Bytes) -> String {
    let status = resp.status().as_u16();
    match resp.bytes().await {
        Ok(b) if status == 200 && b == want => "200 ok".into(),
        Ok(b) if status == 200 => format!("200 WRONG ({} bytes)", b.len()),
        Ok(_) => status.to_string(),
        Err(_) => format!("{status} cut"),
    }
}

/// The metadata of a committed entry, read from its file trailer.
pub fn stored_meta(cache: &Path, key: &str) -> Option<serde_json::Value> {
    let file = std::fs::read(cache.join("data-v1").join(key)).ok()?;
    let trailer = &file[file.len() - 16..];
    let meta_len = u64::from_le_bytes(trailer[..8].try_into().unwrap()) as usize;
    let json = &file[file.len() - 16 - meta_len..file.len() - 16];
    serde_json::from_slice(json).ok()
}

/// One fault: how to inject it into the upstream.
struct Case {
    name: &'static str,
    /// The client must see this.
    expect: &'static [&'static str],
    inject: fn(&FaultUpstream, &Bytes),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "hang",
            expect: &["504"],
            inject: |u, _| {
                u.fault(JAR, Fault::Hang);
            },
        },
        Case {
            name: "stall",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::Stall(100_000));
            },
        },
        Case {
            name: "reset",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::Reset(100_000));
            },
        },
        Case {
            name: "cut, with length",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::CutWithLength(100_000));
            },
        },
        Case {
            name: "cut, no length",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::CutNoLength(100_000));
            },
        },
        Case {
            name: "wrong bytes",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::WrongBytes);
            },
        },
        Case {
            name: "wrong X-Checksum-SHA1",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::WrongChecksumHeader);
            },
        },
        Case {
            name: "wrong .sha1",
            expect: &["200 cut"],
            inject: |u, _| {
                u.put(&format!("{JAR}.sha1"), "0".repeat(40));
            },
        },
        Case {
            name: ".sha1 500",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(&format!("{JAR}.sha1"), Fault::Status(500));
            },
        },
        Case {
            name: ".sha1 timeout",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(&format!("{JAR}.sha1"), Fault::Hang);
            },
        },
        Case {
            name: "HTML as octet-stream",
            expect: &["502"],
            inject: |u, _| {
                u.fault(JAR, Fault::Html);
            },
        },
        Case {
            name: "endless body",
            expect: &["200 cut"],
            inject: |u, _| {
                u.fault(JAR, Fault::Endless);
            },
        },
        Case {
            name: "drip (1 byte/50 ms)",
            expect: &["502"],
            inject: |u, _| {
                u.fault(JAR, Fault::Drip);
            },
        },
        Case {
            name: "huge Content-Length",
            expect: &["502"],
            inject: |u, _| {
                u.fault(JAR, Fault::HugeLength);
            },
        },
        Case {
            name: "500",
            expect: &["502"],
            inject: |u, _| {
                u.fault(JAR, Fault::Status(500));
            },
        },
        Case {
            name: "503",
            expect: &["502"],
            inject: |u, _| {
                u.fault(JAR, Fault::Status(503));
            },
        },
    ]
}

/// Runs one case on its own upstream and proxy; returns (what the client saw, held).
async fn run(case: &Case, seed: u8) -> (String, bool) {
    let up = FaultUpstream::start().await;
    let body = bytes(LEN, seed);
    up.put_with_sha1(JAR, body.clone());
    (case.inject)(&up, &body);
    let proxy = Proxy::start_repos(vec![("maven", config(&up))]).await;
    let url = proxy.at(&format!("maven/{JAR}"));
    let saw = seen(client().get(url.clone()).send().await.unwrap(), &body).await;
    // Nothing may have been committed.
    let mut held = stored_meta(proxy.cache.path(), &format!("maven/{JAR}")).is_none();
    // The fault goes away: the next request must reach the upstream again and get the file.
    up.put_with_sha1(JAR, body.clone());
    up.fault(JAR, Fault::None)
        .fault(&format!("{JAR}.sha1"), Fault::None);
    let before = up.hits(JAR);
    let mut fixed = String::new();
    // The failed fill may still be leaving the in-flight map: a few tries, bounded.
    for _ in 0..20 {
        fixed = seen(client().get(url.clone()).send().await.unwrap(), &body).await;
        if fixed == "200 ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    held &= fixed == "200 ok" && up.hits(JAR) > before;
    let meta = stored_meta(proxy.cache.path(), &format!("maven/{JAR}"));
    held &= meta.is_some_and(|m| {
        m["verification"] == "sha1"
            && m["digests"]["sha256"] == hex::encode(sha2::Sha256::digest(&body))
    });
    (saw, held)
}

#[tokio::test]
async fn every_fault_fails_cleanly_and_commits_nothing() {
    let cases = cases();
    let results =
        futures_util::future::join_all(cases.iter().enumerate().map(|(i, c)| run(c, i as u8)))
            .await;
    let mut table = String::from("fault | client saw | held\n");
    let mut bad = Vec::new();
    for (case, (saw, held)) in cases.iter().zip(&results) {
        table.push_str(&format!("{} | {saw} | {held}\n", case.name));
        if !held || !case.expect.contains(&saw.as_str()) {
            bad.push(case.name);
        }
    }
    eprintln!("{table}");
    assert!(bad.is_empty(), "faults that did not hold: {bad:?}\n{table}");
}

#[tokio::test]
async fn a_mismatch_fails_over_to_the_next_upstream_and_is_not_a_404() {
    let (bad, good) = (FaultUpstream::start().await, FaultUpstream::start().await);
    let body = bytes(LEN, 7);
    bad.put_with_sha1(JAR, body.clone())
        .fault(JAR, Fault::WrongBytes);
    good.put_with_sha1(JAR, body.clone());
    let mut two = repo(Kind::Maven, &[("bad", &bad.url, 0), ("good", &good.url, 1)]);
    two.upstreams[0].idle_timeout = Duration::from_millis(500);
    let proxy = Proxy::start_repos(vec![("maven", two)]).await;
    let url = proxy.at(&format!("maven/{JAR}"));
    // The first answer streams the wrong bytes, so this client's body breaks off...
    let first = seen(client().get(url.clone()).send().await.unwrap(), &body).await;
    assert_ne!(first, "200 WRONG (300000 bytes)");
    // ...but the fill went on to the next upstream and committed its verified copy.
    assert_eq!(
        seen(client().get(url.clone()).send().await.unwrap(), &body).await,
        "200 ok"
    );
    assert_eq!(good.hits(JAR), 1);

    // A single upstream with a bad copy: 502, never a remembered 404.
    let only = FaultUpstream::start().await;
    only.put_with_sha1(JAR, body.clone())
        .fault(JAR, Fault::WrongBytes);
    let proxy = Proxy::start_repos(vec![("maven", config(&only))]).await;
    let url = proxy.at(&format!("maven/{JAR}"));
    for _ in 0..2 {
        let saw = seen(client().get(url.clone()).send().await.unwrap(), &body).await;
        assert!(saw.starts_with("200 cut") || saw == "502", "{saw}");
    }
    assert_eq!(
        only.hits(JAR),
        2,
        "the second request asked the upstream again"
    );
}

#[tokio::test]
async fn a_body_cut_without_length_or_digest_is_served_but_not_cached() {
    let up = FaultUpstream::start().await;
    let asc = format!("{JAR}.asc");
    let body = bytes(3000, 3);
    up.put(&asc, body.clone())
        .fault(&asc, Fault::CutNoLength(1000));
    let proxy = Proxy::start_repos(vec![("maven", config(&up))]).await;
    let url = proxy.at(&format!("maven/{asc}"));
    let got = client()
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), 1000, "the client gets what came");
    assert!(stored_meta(proxy.cache.path(), &format!("maven/{asc}")).is_none());
    up.fault(&asc, Fault::None);
    let got = client()
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, body);
    assert_eq!(up.hits(&asc), 2);
    let meta = stored_meta(proxy.cache.path(), &format!("maven/{asc}")).unwrap();
    assert_eq!(meta["verification"], "length");
}

#[tokio::test]
async fn verification_is_recorded_and_unverified_commits_counted() {
    let up = FaultUpstream::start().await;
    let (jar, nosha) = (bytes(5000, 1), bytes(5000, 2));
    let other = "org/x/lib/1.0/lib-1.0-sources.jar";
    up.put_with_sha1(JAR, jar.clone()).put(other, nosha.clone());
    let proxy = Proxy::start_repos(vec![("maven", config(&up))]).await;
    for (path, body) in [(JAR, &jar), (other, &nosha)] {
        let resp = client()
            .get(proxy.at(&format!("maven/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(seen(resp, body).await, "200 ok");
    }
    let meta = |p: &str| stored_meta(proxy.cache.path(), &format!("maven/{p}")).unwrap();
    assert_eq!(meta(JAR)["verification"], "sha1");
    assert_eq!(
        meta(other)["verification"],
        "unavailable",
        "its .sha1 is a 404"
    );
    let metrics = client()
        .get(proxy.at("-/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("repox_unverified_commits_total{repository=\"maven\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_download_nobody_waits_for_is_cancelled() {
    let up = FaultUpstream::start().await;
    up.put_with_sha1(JAR, bytes(1000, 4))
        .fault(JAR, Fault::Endless);
    let mut config = config(&up);
    config.max_file_size = Some(1 << 40);
    let proxy = Proxy::start_repos(vec![("maven", config)]).await;
    let mut resp = client()
        .get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert!(resp.chunk().await.unwrap().is_some());
    drop(resp);
    let mut closed = false;
    for _ in 0..150 {
        if up.finished(JAR) > 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        closed,
        "the endless download was still running 15 s after its client left"
    );
}

#[tokio::test]
async fn max_download_time_bounds_a_download() {
    let up = FaultUpstream::start().await;
    up.put_with_sha1(JAR, bytes(1000, 5))
        .fault(JAR, Fault::Drip);
    let mut config = config(&up);
    config.min_rate = Some(0);
    config.max_download_time = Some(Duration::from_secs(1));
    let proxy = Proxy::start_repos(vec![("maven", config)]).await;
    let resp = client()
        .get(proxy.at(&format!("maven/{JAR}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(stored_meta(proxy.cache.path(), &format!("maven/{JAR}")).is_none());
}

/// An npm packument listing one tarball of `body` under `base`.
fn packument(base: &url::Url, body: &[u8]) -> String {
    use base64::Engine;
    let integrity = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body));
    serde_json::json!({
        "name": "p",
        "dist-tags": { "latest": "1.0.0" },
        "versions": { "1.0.0": {
            "name": "p", "version": "1.0.0",
            "dist": { "tarball": format!("{base}p/-/p-1.0.0.tgz"), "integrity": format!("sha512-{integrity}") }
        } }
    })
    .to_string()
}

#[tokio::test]
async fn an_npm_tarball_asked_for_first_is_verified_and_an_html_page_never_cached() {
    const TGZ: &str = "p/-/p-1.0.0.tgz";
    let up = FaultUpstream::start().await;
    let body = bytes(4000, 9);
    up.put("p", packument(&up.url, &body))
        .put(TGZ, body.clone())
        .fault(TGZ, Fault::Html);
    let proxy = Proxy::start_repos(vec![("npm", repo(Kind::Npm, &[("a", &up.url, 0)]))]).await;
    let url = proxy.at(&format!("npm/{TGZ}"));
    let key = "npm/tarballs/p/p-1.0.0.tgz";
    assert_eq!(
        seen(client().get(url.clone()).send().await.unwrap(), &body).await,
        "502"
    );
    assert_eq!(up.hits("p"), 1, "the packument was fetched first");
    assert!(stored_meta(proxy.cache.path(), key).is_none());
    up.fault(TGZ, Fault::None);
    assert_eq!(
        seen(client().get(url.clone()).send().await.unwrap(), &body).await,
        "200 ok"
    );
    assert_eq!(
        stored_meta(proxy.cache.path(), key).unwrap()["verification"],
        "sha512"
    );

    // A packument that cannot be fetched fails the tarball instead of an unverified commit.
    let up = FaultUpstream::start().await;
    up.put("p", packument(&up.url, &body))
        .put(TGZ, body.clone())
        .fault("p", Fault::Status(500));
    let proxy = Proxy::start_repos(vec![("npm", repo(Kind::Npm, &[("a", &up.url, 0)]))]).await;
    let resp = client()
        .get(proxy.at(&format!("npm/{TGZ}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(up.hits(TGZ), 0);
}

#[tokio::test]
async fn a_conda_package_asked_for_first_is_verified_against_fresh_repodata() {
    const DIR: &str = "conda-forge/noarch";
    let pkg = format!("{DIR}/p-1.0-0.tar.bz2");
    let body = bytes(4000, 11);
    let repodata = serde_json::json!({
        "info": { "subdir": "noarch" },
        "packages": { "p-1.0-0.tar.bz2": {
            "name": "p", "version": "1.0", "build": "0",
            "sha256": hex::encode(sha2::Sha256::digest(&body)),
        } },
        "packages.conda": {},
    })
    .to_string();
    let up = FaultUpstream::start().await;
    up.put(&format!("{DIR}/repodata.json"), repodata.clone())
        .put(&pkg, body.clone())
        .fault(&format!("{DIR}/repodata.json"), Fault::Status(503));
    let proxy = Proxy::start_repos(vec![("conda", repo(Kind::Conda, &[("a", &up.url, 0)]))]).await;
    let url = proxy.at(&format!("conda/{pkg}"));
    let key = format!("conda/{pkg}");
    let resp = client().get(url.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 502, "no repodata, no unverified commit");
    assert_eq!(up.hits(&pkg), 0);
    up.fault(&format!("{DIR}/repodata.json"), Fault::None);
    assert_eq!(
        seen(client().get(url.clone()).send().await.unwrap(), &body).await,
        "200 ok"
    );
    assert_eq!(
        stored_meta(proxy.cache.path(), &key).unwrap()["verification"],
        "sha256"
    );
    // A package the repodata does not list is a 404, and is not fetched.
    let unlisted = format!("{DIR}/q-1.0-0.tar.bz2");
    up.put(&unlisted, body.clone());
    let resp = client()
        .get(proxy.at(&format!("conda/{unlisted}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(up.hits(&unlisted), 0);
}
