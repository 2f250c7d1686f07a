//! conda through repox: the channel_alias layout (channels, labels, `pkgs/*`, alternate
//! upstreams raced), repodata variants with HEAD answered exactly as GET, revalidation and
//! stale serving, packages and shards verified, absolute `base_url`s rewritten, token channels
//! cached apart, and py-rattler solving and installing through repox.

use std::time::Duration;

use http::{Method, StatusCode, header};
use repox_proxy::config::{Kind, RepositoryConfig};

use crate::conda_support::{
    Channel, RATTLER_SCRIPT, Variants, package, rattler_python, unzstd, zstd,
};
use crate::npm_support::{JsonBody, assert_refused, isolated, repo};
use crate::support::{Behavior, Proxy, TestUpstream, assert_immutable, client, run};

const ALL: Variants = Variants {
    zst: true,
    bz2: true,
    shards: true,
};

fn conda(upstreams: &[(&str, &TestUpstream, i32, &[&str])]) -> RepositoryConfig {
    let list: Vec<_> = upstreams
        .iter()
        .map(|(name, up, priority, _)| (*name, &up.url, *priority))
        .collect();
    let mut config = repo(Kind::Conda, &list);
    for (u, (_, _, _, channels)) in config.upstreams.iter_mut().zip(upstreams) {
        u.channels = channels.iter().map(|s| s.to_string()).collect();
    }
    config
}

async fn conda_proxy(config: RepositoryConfig) -> Proxy {
    Proxy::start_repos(vec![("conda", config)]).await
}

#[tokio::test]
async fn channels_labels_and_defaults_reach_their_upstreams() {
    let (org, pkgs, mirror) = (
        TestUpstream::start().await,
        TestUpstream::start().await,
        TestUpstream::start().await,
    );
    let forge = Channel::new(&org, "fixture", ALL);
    let _mirrored = Channel::new(&mirror, "fixture", ALL);
    let _label = Channel::new(&org, "fixture/label/dev", ALL);
    let _main = Channel::new(&pkgs, "pkgs/main", ALL);
    let _other = Channel::new(&org, "other", ALL);
    let proxy = conda_proxy(conda(&[
        ("org", &org, 0, &["!pkgs/*"]),
        ("mirror", &mirror, 0, &["fixture"]),
        ("pkgs", &pkgs, 0, &["pkgs/*"]),
    ]))
    .await;
    let c = client();
    let get = |p: &str| c.get(proxy.at(&format!("conda/{p}"))).send();

    // The mirror is raced with anaconda.org for its channel: make anaconda.org slow.
    org.behave(
        "fixture/noarch/repodata.json",
        Behavior {
            delay: Duration::from_millis(500),
            ..Behavior::default()
        },
    );
    let r = get("fixture/noarch/repodata.json").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), forge.repodata("noarch"));
    assert_eq!(mirror.count(Method::GET, "fixture/noarch/repodata.json"), 1);

    let r = get("fixture/label/dev/noarch/repodata.json").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        org.count(Method::GET, "fixture/label/dev/noarch/repodata.json"),
        1
    );

    let r = get("pkgs/main/linux-64/repodata.json").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        pkgs.count(Method::GET, "pkgs/main/linux-64/repodata.json"),
        1
    );
    assert_eq!(
        org.count(Method::GET, "pkgs/main/linux-64/repodata.json"),
        0
    );

    // A channel only anaconda.org serves never reaches the mirror.
    let r = get("other/noarch/repodata.json").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(mirror.count(Method::GET, "other/noarch/repodata.json"), 0);

    let jlap = get("fixture/noarch/repodata.jlap").await.unwrap();
    assert_eq!(jlap.status(), StatusCode::NOT_FOUND);
    assert_eq!(org.count(Method::GET, "fixture/noarch/repodata.jlap"), 0);
}

#[tokio::test]
async fn head_answers_exactly_as_get_for_every_repodata_variant() {
    let up = TestUpstream::start().await;
    let ch = Channel::new(
        &up,
        "fixture",
        Variants {
            zst: true,
            bz2: false,
            shards: true,
        },
    );
    ch.publish("noarch", &[&package("a", "1.0", &[], "noarch")]);
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let c = client();
    for file in [
        "repodata.json.zst",
        "repodata.json.bz2",
        "repodata.json",
        "current_repodata.json",
        "repodata_shards.msgpack.zst",
        "run_exports.json",
    ] {
        let url = proxy.at(&format!("conda/fixture/noarch/{file}"));
        // HEAD first, while nothing is cached, then GET, then HEAD from the cache.
        let head = c.head(url.clone()).send().await.unwrap();
        let get = c.get(url.clone()).send().await.unwrap();
        let (status, headers) = (get.status(), get.headers().clone());
        let body = get.bytes().await.unwrap();
        let again = c.head(url.clone()).send().await.unwrap();
        for h in [&head, &again] {
            assert_eq!(h.status(), status, "{file}");
            for name in [header::CONTENT_LENGTH, header::ETAG, header::CONTENT_TYPE] {
                assert_eq!(h.headers().get(&name), headers.get(&name), "{file} {name}");
            }
        }
        if status == StatusCode::OK {
            assert_eq!(
                headers[header::CONTENT_LENGTH],
                body.len().to_string().as_str()
            );
            let cond = c
                .get(url)
                .header(header::IF_NONE_MATCH, headers[header::ETAG].clone())
                .send()
                .await
                .unwrap();
            assert_eq!(cond.status(), StatusCode::NOT_MODIFIED, "{file}");
        }
        let expected = match file {
            "repodata.json.bz2" | "run_exports.json" => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected, "{file}");
    }
    // Each variant reached the upstream once (the HEAD filled the cache).
    assert_eq!(up.count(Method::GET, "fixture/noarch/repodata.json.zst"), 1);
    assert_eq!(
        up.count(Method::HEAD, "fixture/noarch/repodata.json.zst"),
        0
    );
    let zst = c
        .get(proxy.at("conda/fixture/noarch/repodata.json.zst"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        unzstd(&zst),
        ch.repodata("noarch"),
        "bytes pass through untouched"
    );
}

#[tokio::test]
async fn repodata_is_revalidated_after_the_ttl_and_served_stale_on_failure() {
    let up = TestUpstream::start().await;
    let ch = Channel::new(&up, "fixture", ALL);
    let mut config = conda(&[("org", &up, 0, &[])]);
    config.index_ttl = Some(Duration::from_secs(1));
    let proxy = conda_proxy(config).await;
    let c = client();
    let url = proxy.at("conda/fixture/noarch/repodata.json");
    let first = c.get(url.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(
        first.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        c.get(url.clone()).send().await.unwrap().status(),
        StatusCode::OK
    );
    let asks: Vec<_> = up
        .log()
        .into_iter()
        .filter(|l| l.path == "fixture/noarch/repodata.json")
        .collect();
    assert_eq!(asks.len(), 2);
    assert!(asks[1].headers.contains_key(header::IF_NONE_MATCH));

    ch.publish("noarch", &[&package("new", "1.0", &[], "noarch")]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = c
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, ch.repodata("noarch"));

    up.behave(
        "fixture/noarch/repodata.json",
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = c.get(url.clone()).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap(), ch.repodata("noarch"));
    let head = c.head(url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn packages_are_verified_against_repodata_and_cached_forever() {
    let up = TestUpstream::start().await;
    let ch = Channel::new(&up, "fixture", ALL);
    let (good, bad) = (
        package("good", "1.0", &[], "noarch"),
        package("bad", "1.0", &[], "noarch"),
    );
    ch.publish("noarch", &[&good, &bad]);
    up.put("fixture/noarch/bad-1.0-0.tar.bz2", b"tampered".to_vec());
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let c = client();
    let repodata = c
        .get(proxy.at("conda/fixture/noarch/repodata.json.zst"))
        .send()
        .await
        .unwrap();
    assert_eq!(repodata.status(), StatusCode::OK);
    for _ in 0..2 {
        let r = c
            .get(proxy.at(&format!("conda/fixture/noarch/{}", good.file)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_immutable(&r);
        assert_eq!(r.bytes().await.unwrap(), good.bytes);
    }
    assert_eq!(
        up.count(Method::GET, &format!("fixture/noarch/{}", good.file)),
        1
    );
    let r = c
        .get(proxy.at(&format!("conda/fixture/noarch/{}", bad.file)))
        .send()
        .await
        .unwrap();
    assert_refused(r).await;
}

#[tokio::test]
async fn shards_are_verified_by_name_and_packages_by_their_shard() {
    let up = TestUpstream::start().await;
    let ch = Channel::new(&up, "fixture", ALL);
    let pkg = package("sharded", "1.0", &[], "noarch");
    ch.publish("noarch", &[&pkg]);
    up.put("fixture/noarch/sharded-1.0-0.tar.bz2", b"tampered".to_vec());
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let c = client();
    let index = c
        .get(proxy.at("conda/fixture/noarch/repodata_shards.msgpack.zst"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let doc = rmpv::decode::read_value(&mut unzstd(&index).as_slice()).unwrap();
    let shards = doc
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() == Some("shards"))
        .unwrap();
    let hash = hex::encode(shards.1.as_map().unwrap()[0].1.as_slice().unwrap());
    let shard_path = format!("fixture/noarch/shards/{hash}.msgpack.zst");
    let shard = c
        .get(proxy.at(&format!("conda/{shard_path}")))
        .header(header::CACHE_CONTROL, "no-store")
        .send()
        .await
        .unwrap();
    assert_eq!(shard.status(), StatusCode::OK);
    assert_immutable(&shard);
    shard.bytes().await.unwrap();
    // The last byte reaches the client as the entry is committed: wait for the commit.
    let stored = proxy
        .cache
        .path()
        .join(format!("data-v1/conda/{shard_path}"));
    for _ in 0..100 {
        if stored.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored.exists(), "{stored:?}");
    // Only the shard knows the package digest (repodata.json was never fetched): the tampered
    // package is refused.
    let r = c
        .get(proxy.at("conda/fixture/noarch/sharded-1.0-0.tar.bz2"))
        .send()
        .await
        .unwrap();
    assert_refused(r).await;
    assert_eq!(up.count(Method::GET, "fixture/noarch/repodata.json"), 0);

    // A shard whose bytes do not match its name is refused too.
    let fake = format!("fixture/noarch/shards/{}.msgpack.zst", "0".repeat(64));
    up.put(&fake, zstd(b"\x80"));
    let r = c
        .get(proxy.at(&format!("conda/{fake}")))
        .send()
        .await
        .unwrap();
    assert_refused(r).await;
}

#[tokio::test]
async fn absolute_base_urls_are_rewritten_to_repox_and_the_rest_passes_through() {
    let up = TestUpstream::start().await;
    let ch = Channel::new(&up, "fixture", ALL);
    let pkg = package("a", "1.0", &[], "noarch");
    let base = format!("{}fixture/noarch/", up.url);
    ch.info
        .lock()
        .unwrap()
        .insert("base_url".into(), base.clone().into());
    ch.info
        .lock()
        .unwrap()
        .insert("shards_base_url".into(), format!("{base}shards/").into());
    ch.publish("noarch", &[&pkg]);
    let outside = Channel::new(&up, "elsewhere", ALL);
    outside.info.lock().unwrap().insert(
        "base_url".into(),
        "https://cdn.example/elsewhere/noarch/".into(),
    );
    outside.publish("noarch", &[&pkg]);
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let c = client();
    let want = proxy.at("conda/fixture/noarch/").to_string();
    for (file, decode) in [
        (
            "repodata.json",
            (|b: &[u8]| b.to_vec()) as fn(&[u8]) -> Vec<u8>,
        ),
        ("repodata.json.zst", |b: &[u8]| unzstd(b)),
        ("repodata.json.bz2", |b: &[u8]| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut bzip2::read::BzDecoder::new(b), &mut out).unwrap();
            out
        }),
    ] {
        let url = proxy.at(&format!("conda/fixture/noarch/{file}"));
        let head = c.head(url.clone()).send().await.unwrap();
        let resp = c.get(url).send().await.unwrap();
        assert_eq!(
            head.headers()[header::CONTENT_LENGTH],
            resp.headers()[header::CONTENT_LENGTH]
        );
        assert_eq!(head.headers()[header::ETAG], resp.headers()[header::ETAG]);
        let body = decode(&resp.bytes().await.unwrap());
        let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(served["info"]["base_url"], want.as_str(), "{file}");
        let mut original: serde_json::Value =
            serde_json::from_slice(&ch.repodata("noarch")).unwrap();
        original["info"]["base_url"] = want.clone().into();
        assert_eq!(served, original, "{file}: only base_url changed");
        let expected_len = ch.repodata("noarch").len() - base.len() + want.len();
        assert_eq!(
            body.len(),
            expected_len,
            "{file}: spliced, not re-serialized"
        );
    }
    let index = c
        .get(proxy.at("conda/fixture/noarch/repodata_shards.msgpack.zst"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let doc = rmpv::decode::read_value(&mut unzstd(&index).as_slice()).unwrap();
    let info = &doc
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() == Some("info"))
        .unwrap()
        .1;
    let field = |name: &str| {
        info.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .unwrap()
            .1
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(field("base_url"), want);
    assert_eq!(field("shards_base_url"), format!("{want}shards/"));

    // A base_url outside every upstream cannot be proxied: the bytes pass through untouched.
    let body = c
        .get(proxy.at("conda/elsewhere/noarch/repodata.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, outside.repodata("noarch"));
    // Rewritten copies are stored where no request path reaches.
    let hidden = c
        .get(proxy.at("conda/~rewritten/x/fixture/noarch/repodata.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn token_channels_never_share_the_public_cache() {
    let up = TestUpstream::start().await;
    let public = Channel::new(&up, "private", ALL);
    let secret = Channel::new(&up, "t/tok-1/private", ALL);
    secret.publish("noarch", &[&package("secret", "1.0", &[], "noarch")]);
    // A mirror of the public channel is raced for it, but never receives a token.
    let mirror = TestUpstream::start().await;
    let _mirrored = Channel::new(&mirror, "private", ALL);
    let proxy = conda_proxy(conda(&[
        ("org", &up, 0, &[]),
        ("mirror", &mirror, 0, &["private"]),
    ]))
    .await;
    let c = client();
    let get = |p: &str| c.get(proxy.at(&format!("conda/{p}"))).send();
    let mine = get("t/tok-1/private/noarch/repodata.json").await.unwrap();
    assert_eq!(mine.bytes().await.unwrap(), secret.repodata("noarch"));
    let theirs = get("private/noarch/repodata.json").await.unwrap();
    assert_eq!(theirs.bytes().await.unwrap(), public.repodata("noarch"));
    let pkg = get("t/tok-1/private/noarch/secret-1.0-0.tar.bz2")
        .await
        .unwrap();
    assert_eq!(pkg.status(), StatusCode::OK);
    // Another token is a different namespace: it goes upstream (which refuses it).
    let other = get("t/tok-2/private/noarch/repodata.json").await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        up.count(Method::GET, "t/tok-2/private/noarch/repodata.json"),
        1
    );
    let public_pkg = get("private/noarch/secret-1.0-0.tar.bz2").await.unwrap();
    assert_eq!(public_pkg.status(), StatusCode::NOT_FOUND);
    assert!(
        mirror.log().iter().all(|l| !l.path.starts_with("t/")),
        "{:?}",
        mirror.log()
    );
    assert!(mirror.count(Method::GET, "private/noarch/repodata.json") == 1);
    // The token never names a file in the cache.
    let mut stack = vec![proxy.cache.path().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            assert!(
                !e.file_name().to_string_lossy().contains("tok-1"),
                "{:?}",
                e.path()
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_rattler_solves_and_installs_through_repox() {
    let Some(python) = rattler_python() else {
        return;
    };
    let up = TestUpstream::start().await;
    let ch = Channel::new(&up, "fixture", ALL);
    let (app, lib, old) = (
        package("fixture-app", "1.0", &["fixture-lib >=2"], "noarch"),
        package("fixture-lib", "2.1", &[], "noarch"),
        package("fixture-lib", "1.0", &[], "noarch"),
    );
    ch.publish("noarch", &[&app, &lib, &old]);
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let alias = proxy.at("conda/").to_string();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("solve.py");
    std::fs::write(&script, RATTLER_SCRIPT).unwrap();

    let solve = |run_name: &str, sharded: bool| {
        let dir = work.path().join(run_name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = isolated(&python, &dir);
        cmd.arg(&script)
            .arg(&alias)
            .arg("fixture")
            .arg(dir.join("cache"))
            .arg(dir.join("env"))
            .arg(if sharded { "1" } else { "0" })
            .arg("fixture-app");
        (cmd, dir)
    };
    let artifacts = |up: &TestUpstream| {
        up.log()
            .iter()
            .filter(|l| l.path.ends_with(".tar.bz2") || l.path.contains("/shards/"))
            .count()
    };

    let (cmd, dir) = solve("first", true);
    let out = run(cmd).await;
    let urls: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(urls.iter().all(|u| u.starts_with(&alias)), "{urls:?}");
    assert!(
        urls.iter()
            .any(|u| u.ends_with("fixture-lib-2.1-0.tar.bz2"))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("env/share/fixture-lib/hello.txt")).unwrap(),
        "hello from fixture-lib 2.1\n"
    );
    assert!(up.count(Method::GET, "fixture/noarch/repodata_shards.msgpack.zst") == 1);
    let (total, fetched) = (up.total(), artifacts(&up));
    assert!(
        fetched >= 3,
        "two packages and their shards: {:?}",
        up.log()
    );

    // Same solve with empty client caches: nothing new upstream.
    let (cmd, dir) = solve("second", true);
    run(cmd).await;
    assert!(dir.join("env/share/fixture-app/hello.txt").exists());
    assert_eq!(up.total(), total, "{:?}", &up.log()[total..]);

    // Without shards rattler probes repodata.json.zst/.bz2 with HEAD and downloads the .zst;
    // packages still come from repox's cache.
    let (cmd, dir) = solve("unsharded", false);
    run(cmd).await;
    assert!(dir.join("env/share/fixture-lib/hello.txt").exists());
    assert_eq!(artifacts(&up), fetched, "no package fetched upstream again");
    assert_eq!(up.count(Method::GET, "fixture/noarch/repodata.json.zst"), 1);
    assert_eq!(up.count(Method::GET, "fixture/noarch/repodata.json"), 0);
}

#[tokio::test]
async fn channeldata_and_listings_pass_through() {
    let up = TestUpstream::start().await;
    up.put(
        "fixture/channeldata.json",
        r#"{"channeldata_version":1,"packages":{}}"#,
    );
    let proxy = conda_proxy(conda(&[("org", &up, 0, &[])])).await;
    let doc = proxy
        .get("conda/fixture/channeldata.json")
        .await
        .json_value()
        .await;
    assert_eq!(doc["channeldata_version"], 1);
}
