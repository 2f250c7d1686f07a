//! npm through repox: packuments in both representations with tarball URLs rewritten,
//! tarballs verified against their integrity and served at the prefix and at the server root,
//! scoped names in every spelling, revalidation and stale serving, audit and search passed
//! through, and the real npm client installing from a fixture registry.

use std::time::Duration;

use http::{Method, StatusCode, header};
use repox_proxy::config::Kind;

use crate::npm_support::{JsonBody, NpmRegistry, assert_refused, have, isolated, repo};
use crate::support::{Proxy, assert_immutable, client, run};

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

async fn npm_proxy(registry: &NpmRegistry) -> Proxy {
    Proxy::start_repos(vec![("npm", repo(Kind::Npm, &[("up", &registry.url, 0)]))]).await
}

#[tokio::test]
async fn packuments_come_in_two_variants_with_tarballs_pointing_at_repox() {
    let reg = NpmRegistry::start().await;
    let tarball = reg.publish("left-pad", "1.3.0", &[]);
    let proxy = npm_proxy(&reg).await;
    let c = client();
    let get = |accept: &'static str| {
        c.get(proxy.at("npm/left-pad"))
            .header(header::ACCEPT, accept)
            .send()
    };

    let corgi = get(ABBREVIATED).await.unwrap();
    assert_eq!(corgi.status(), StatusCode::OK);
    assert_eq!(corgi.headers()[header::CONTENT_TYPE], ABBREVIATED);
    assert_eq!(
        corgi.headers()[header::VARY],
        "Accept, Host, X-Forwarded-Host, X-Forwarded-Proto"
    );
    let etag = corgi.headers()[header::ETAG].clone();
    let corgi: serde_json::Value = corgi.json_value().await;
    let url = corgi["versions"]["1.3.0"]["dist"]["tarball"]
        .as_str()
        .unwrap();
    assert_eq!(url, proxy.at("npm/left-pad/-/left-pad-1.3.0.tgz").as_str());
    assert!(corgi.get("readme").is_none());

    let full: serde_json::Value = get("application/json").await.unwrap().json_value().await;
    assert_eq!(full["readme"], "# left-pad\n");
    assert_eq!(full["versions"]["1.3.0"]["dist"]["tarball"], url);

    // Each variant was fetched once, with its own Accept, and is now cached.
    for _ in 0..3 {
        assert_eq!(get(ABBREVIATED).await.unwrap().status(), StatusCode::OK);
        assert_eq!(
            get("application/json").await.unwrap().status(),
            StatusCode::OK
        );
    }
    let asks: Vec<String> = reg
        .log()
        .iter()
        .filter(|l| l.path == "left-pad")
        .map(|l| l.headers[header::ACCEPT].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(asks.len(), 2, "{asks:?}");
    assert!(asks[0].starts_with(ABBREVIATED));
    assert_eq!(asks[1], "application/json");

    // Conditional and HEAD requests agree with GET.
    let not_modified = c
        .get(proxy.at("npm/left-pad"))
        .header(header::ACCEPT, ABBREVIATED)
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let head = c
        .head(proxy.at("npm/left-pad"))
        .header(header::ACCEPT, ABBREVIATED)
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()[header::ETAG], etag);

    // The tarball is fetched once, then served from the cache.
    for _ in 0..2 {
        let t = c.get(url).send().await.unwrap();
        assert_eq!(t.status(), StatusCode::OK);
        assert_immutable(&t);
        assert_eq!(t.bytes().await.unwrap(), tarball);
    }
    assert_eq!(reg.tarball_gets(), 1);
}

#[tokio::test]
async fn scoped_names_in_every_spelling_share_one_cache_entry() {
    let reg = NpmRegistry::start().await;
    let tarball = reg.publish("@fixture/b", "2.0.0", &[]);
    let proxy = npm_proxy(&reg).await;
    let c = client();
    for spelling in ["npm/@fixture%2fb", "npm/@fixture%2Fb", "npm/@fixture/b"] {
        let doc: serde_json::Value = c
            .get(proxy.at(spelling))
            .header(header::ACCEPT, ABBREVIATED)
            .send()
            .await
            .unwrap()
            .json_value()
            .await;
        assert_eq!(
            doc["versions"]["2.0.0"]["dist"]["tarball"],
            proxy.at("npm/@fixture/b/-/b-2.0.0.tgz").as_str(),
            "{spelling}"
        );
    }
    assert_eq!(reg.count(Method::GET, "@fixture%2fb"), 1, "{:?}", reg.log());
    // Both the prefixed and the root-level tarball path (npm drops the registry path when it
    // moves lock-file URLs onto the registry host) reach the same cache entry.
    for path in ["npm/@fixture/b/-/b-2.0.0.tgz", "@fixture/b/-/b-2.0.0.tgz"] {
        let t = c.get(proxy.at(path)).send().await.unwrap();
        assert_eq!(t.status(), StatusCode::OK, "{path}");
        assert_eq!(t.bytes().await.unwrap(), tarball);
    }
    assert_eq!(reg.tarball_gets(), 1);
}

#[tokio::test]
async fn tarballs_at_the_root_work_before_any_packument() {
    let reg = NpmRegistry::start().await;
    let tarball = reg.publish("lodash", "4.17.21", &[]);
    let proxy = npm_proxy(&reg).await;
    let c = client();
    let head = c
        .head(proxy.at("lodash/-/lodash-4.17.21.tgz"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        tarball.len().to_string().as_str()
    );
    let t = c
        .get(proxy.at("lodash/-/lodash-4.17.21.tgz"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), StatusCode::OK);
    assert_eq!(t.bytes().await.unwrap(), tarball);
    let missing = c
        .get(proxy.at("lodash/-/lodash-0.0.1.tgz"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_tarball_that_does_not_match_its_integrity_is_refused_and_not_cached() {
    let reg = NpmRegistry::start().await;
    reg.publish("evil", "1.0.0", &[]);
    reg.corrupt("evil/-/evil-1.0.0.tgz");
    let proxy = npm_proxy(&reg).await;
    let c = client();
    let doc = c.get(proxy.at("npm/evil")).send().await.unwrap();
    assert_eq!(doc.status(), StatusCode::OK);
    let t = c
        .get(proxy.at("npm/evil/-/evil-1.0.0.tgz"))
        .send()
        .await
        .unwrap();
    assert_refused(t).await;
    // Not cached: asking again never yields the bad bytes whole.
    let t = c
        .get(proxy.at("npm/evil/-/evil-1.0.0.tgz"))
        .send()
        .await
        .unwrap();
    if t.status() == StatusCode::OK {
        assert!(t.bytes().await.is_err());
    }
    assert!(reg.tarball_gets() >= 1);
}

#[tokio::test]
async fn packuments_are_revalidated_after_the_ttl_and_served_stale_when_upstream_fails() {
    let reg = NpmRegistry::start().await;
    reg.publish("pkg", "1.0.0", &[]);
    let mut config = repo(Kind::Npm, &[("up", &reg.url, 0)]);
    config.index_ttl = Some(Duration::from_secs(1));
    let proxy = Proxy::start_repos(vec![("npm", config)]).await;
    let c = client();
    let get = || {
        c.get(proxy.at("npm/pkg"))
            .header(header::ACCEPT, ABBREVIATED)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    let revalidation = reg
        .log()
        .into_iter()
        .filter(|l| l.path == "pkg")
        .nth(1)
        .unwrap();
    assert!(
        revalidation.headers.contains_key(header::IF_NONE_MATCH),
        "revalidation is conditional"
    );

    // A new version appears after the next revalidation.
    reg.publish("pkg", "1.1.0", &[]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let doc: serde_json::Value = get().await.unwrap().json_value().await;
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert_eq!(
        doc["versions"]["1.1.0"]["dist"]["tarball"],
        proxy.at("npm/pkg/-/pkg-1.1.0.tgz").as_str()
    );

    reg.set_down(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = get().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    let doc: serde_json::Value = stale.json_value().await;
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
}

#[tokio::test]
async fn version_documents_are_rewritten_too() {
    let reg = NpmRegistry::start().await;
    reg.publish("@s/pkg", "1.0.0", &[]);
    let proxy = npm_proxy(&reg).await;
    let c = client();
    let doc: serde_json::Value = c
        .get(proxy.at("npm/@s%2fpkg/1.0.0"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        doc["dist"]["tarball"],
        proxy.at("npm/@s/pkg/-/pkg-1.0.0.tgz").as_str()
    );
    assert_eq!(
        reg.count(Method::GET, "@s%2fpkg/1.0.0"),
        1,
        "{:?}",
        reg.log()
    );
    let missing = c.get(proxy.at("npm/@s/pkg/9.9.9")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audit_and_search_pass_through_uncached() {
    let reg = NpmRegistry::start().await;
    let proxy = npm_proxy(&reg).await;
    let c = client();
    for _ in 0..2 {
        let audit = c
            .post(proxy.at("npm/-/npm/v1/security/advisories/bulk"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"left-pad":["1.3.0"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(audit.status(), StatusCode::OK);
        assert_eq!(audit.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(audit.text().await.unwrap(), "{}");
        let search = c
            .get(proxy.at("npm/-/v1/search?text=pad&size=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(search.status(), StatusCode::OK);
        let found: serde_json::Value = search.json_value().await;
        assert_eq!(found["query"], "text=pad&size=2");
    }
    assert_eq!(
        reg.count(Method::POST, "-/npm/v1/security/advisories/bulk"),
        2
    );
    assert_eq!(reg.count(Method::GET, "-/v1/search"), 2);
    assert_eq!(
        reg.posted()[0].as_ref(),
        br#"{"left-pad":["1.3.0"]}"#.as_slice()
    );
    // Other writes stay refused.
    let put = c
        .put(proxy.at("npm/left-pad"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
}

fn npm(
    home: &std::path::Path,
    project: &std::path::Path,
    registry: &str,
    args: &[&str],
) -> std::process::Command {
    let mut c = isolated("npm", home);
    c.args(args)
        .current_dir(project)
        .env("npm_config_userconfig", home.join(".npmrc"))
        .env("npm_config_globalconfig", home.join("global-npmrc"))
        .env("npm_config_cache", home.join("npm-cache"))
        .env("npm_config_registry", registry)
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fetch_retries", "0")
        .env("npm_config_loglevel", "warn");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_install_and_ci_through_repox() {
    if !have("npm", &["--version"]) {
        return;
    }
    let reg = NpmRegistry::start().await;
    reg.publish("fixture-c", "1.0.0", &[]);
    reg.publish("fixture-a", "1.0.0", &[("fixture-c", "^1.0.0")]);
    reg.publish("fixture-a", "1.1.0", &[("fixture-c", "^1.0.0")]);
    reg.publish("@fixture/b", "2.0.0", &[]);
    let proxy = npm_proxy(&reg).await;
    let registry = proxy.at("npm/").to_string();

    let work = tempfile::tempdir().unwrap();
    let (home, project) = (work.path().join("home"), work.path().join("app"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"fixture-a":"^1.0.0","@fixture/b":"^2.0.0"}}"#,
    )
    .unwrap();

    run(npm(&home, &project, &registry, &["install"])).await;
    let installed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.join("node_modules/fixture-a/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(installed["version"], "1.1.0");
    assert!(project.join("node_modules/@fixture/b/index.js").exists());
    assert!(project.join("node_modules/fixture-c/index.js").exists());
    let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
    assert!(
        lock.contains(&format!(
            "\"resolved\": \"{registry}fixture-a/-/fixture-a-1.1.0.tgz\""
        )),
        "{lock}"
    );
    assert_eq!(reg.tarball_gets(), 3);
    assert!(
        reg.count(Method::POST, "-/npm/v1/security/advisories/bulk") >= 1,
        "npm install's audit reached the registry through repox"
    );
    run(npm(&home, &project, &registry, &["audit"])).await;

    // A second install from the lock file with empty client caches: nothing new upstream.
    let before = reg
        .log()
        .iter()
        .filter(|l| l.method != Method::POST)
        .count();
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    std::fs::remove_dir_all(home.join("npm-cache")).unwrap();
    run(npm(&home, &project, &registry, &["ci", "--no-audit"])).await;
    assert!(project.join("node_modules/fixture-c/index.js").exists());
    assert_eq!(
        reg.log()
            .iter()
            .filter(|l| l.method != Method::POST)
            .count(),
        before,
        "the second run made no upstream requests"
    );

    // A lock file resolved against registry.npmjs.org: npm moves the tarball URLs onto repox's
    // host without the /npm/ path, so they arrive at the server root.
    let public = lock.replace(&registry, "https://registry.npmjs.org/");
    assert_ne!(public, lock);
    std::fs::write(project.join("package-lock.json"), public).unwrap();
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    std::fs::remove_dir_all(home.join("npm-cache")).unwrap();
    let fresh = npm_proxy(&reg).await;
    let fresh_registry = fresh.at("npm/").to_string();
    run(npm(&home, &project, &fresh_registry, &["ci", "--no-audit"])).await;
    assert!(project.join("node_modules/fixture-a/index.js").exists());
    assert_eq!(
        reg.tarball_gets(),
        6,
        "the fresh proxy fetched each tarball once, via root-level paths"
    );
}
