//! cargo under policies: a release cooldown leaves the young version out of the index file
//! (by `pubtime`), so `cargo fetch` locks the newest version old enough, and its download
//! answers 403; a snapshot index resolves the same versions on every run.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use repox_proxy::config::{Kind, RepositoryConfig};

use crate::cargo::{Registry, cargo};
use crate::npm_support::{have, repo};
use crate::support::{Proxy, run};

fn ago(d: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - d).to_string()
}

async fn registry() -> Registry {
    let reg = Registry::start().await;
    reg.publish("fixture-leaf", "1.0.0", &[]);
    reg.publish("fixture-leaf", "1.2.0", &[]);
    reg.set_pubtime(
        "fixture-leaf",
        "1.0.0",
        &ago(Duration::from_secs(3 * 365 * 86400)),
    );
    reg.set_pubtime("fixture-leaf", "1.2.0", &ago(Duration::from_secs(3600)));
    reg
}

async fn proxy(reg: &Registry, extra: &str) -> Proxy {
    let mut config: RepositoryConfig =
        toml::from_str(&format!("kind = \"cargo\"\n{extra}")).unwrap();
    config.upstreams = repo(Kind::Cargo, &[("crates-io", &reg.index.url, 0)]).upstreams;
    Proxy::start_repos(vec![("cargo", config)]).await
}

/// `cargo fetch` of a project on `fixture-leaf = "1"` through `index`; the locked version.
async fn locked(index: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nfixture-leaf = \"1\"\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
    let home = work.path().join("home/.cargo");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!("[source.crates-io]\nreplace-with = \"repox\"\n\n[source.repox]\nregistry = \"sparse+{index}\"\n"),
    )
    .unwrap();
    run(cargo(&home, &project, &["fetch"])).await;
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    let at = lock.find("name = \"fixture-leaf\"\nversion = \"").unwrap();
    lock[at..]
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("version = ")
        .trim_matches('"')
        .to_owned()
}

#[tokio::test]
async fn a_cooldown_leaves_the_young_version_out_of_the_index_and_refuses_its_download() {
    let reg = registry().await;
    let proxy = proxy(&reg, "min_age = \"7d\"").await;
    let index = proxy
        .get("cargo/index/fi/xt/fixture-leaf")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        index.contains("\"1.0.0\"") && !index.contains("\"1.2.0\""),
        "{index}"
    );
    let resp = proxy.get("cargo/dl/fixture-leaf/1.2.0/download").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let why = resp.text().await.unwrap();
    assert!(
        why.contains("fixture-leaf 1.2.0 was published at 20"),
        "{why}"
    );
    assert_eq!(
        reg.dl
            .count(http::Method::GET, "crates/fixture-leaf/1.2.0/download"),
        0
    );
    let ok = proxy.get("cargo/dl/fixture-leaf/1.0.0/download").await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_locks_the_newest_version_old_enough_and_snapshots_repeat() {
    if !have(env!("CARGO"), &["--version"]) {
        return;
    }
    let reg = registry().await;
    let cooled = proxy(&reg, "min_age = \"7d\"").await;
    assert_eq!(locked(cooled.at("cargo/index/").as_str()).await, "1.0.0");
    let open = proxy(&reg, "").await;
    assert_eq!(locked(open.at("cargo/index/").as_str()).await, "1.2.0");
    let yesterday = ago(Duration::from_secs(86400))[..10].to_owned();
    let snapshot = open.at(&format!("cargo/@{yesterday}/index/"));
    for _ in 0..2 {
        assert_eq!(locked(snapshot.as_str()).await, "1.0.0");
    }
}
