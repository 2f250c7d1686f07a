//! cargo through repox: `config.json` pointing downloads and the API at repox, index files
//! revalidated with the upstream's validators, `.crate` files verified against the index
//! `cksum`, and the real cargo fetching a project through repox.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use repox_proxy::config::Kind;
use sha2::Digest;

use crate::npm_support::{JsonBody, assert_refused, have, isolated, repo, tar_gz};
use crate::support::{Proxy, TestUpstream, assert_immutable, client, run};

/// A sparse index upstream and a separate download host, like index.crates.io and
/// static.crates.io.
pub(crate) struct Registry {
    pub(crate) index: TestUpstream,
    pub(crate) dl: TestUpstream,
    lines: Mutex<BTreeMap<String, String>>,
}

fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

impl Registry {
    pub(crate) async fn start() -> Registry {
        let (index, dl) = (TestUpstream::start().await, TestUpstream::start().await);
        let config = serde_json::json!({
            "dl": format!("{}crates", dl.url),
            "api": index.url.as_str().trim_end_matches('/'),
        });
        index.put("config.json", config.to_string());
        Registry {
            index,
            dl,
            lines: Mutex::default(),
        }
    }

    /// Publishes a crate version depending on `deps` (name, requirement); returns the `.crate`.
    pub(crate) fn publish(&self, name: &str, version: &str, deps: &[(&str, &str)]) -> Bytes {
        let dep_toml: String = deps
            .iter()
            .map(|(n, r)| format!("{n} = \"{r}\"\n"))
            .collect();
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\n[dependencies]\n{dep_toml}"
        );
        let root = format!("{name}-{version}");
        let krate = tar_gz(&[
            (&format!("{root}/Cargo.toml"), manifest.as_bytes()),
            (&format!("{root}/src/lib.rs"), b"pub fn f() {}\n"),
        ]);
        let line = serde_json::json!({
            "name": name,
            "vers": version,
            "deps": deps.iter().map(|(n, r)| serde_json::json!({
                "name": n, "req": r, "features": [], "optional": false,
                "default_features": true, "target": null, "kind": "normal",
            })).collect::<Vec<_>>(),
            "cksum": hex::encode(sha2::Sha256::digest(&krate)),
            "features": {},
            "yanked": false,
        });
        let path = index_path(name);
        let mut lines = self.lines.lock().unwrap();
        let file = lines.entry(path.clone()).or_default();
        file.push_str(&format!("{line}\n"));
        self.index.put(&path, file.clone());
        self.dl
            .put(&format!("crates/{name}/{version}/download"), krate.clone());
        krate
    }
}

impl Registry {
    /// Sets the index `pubtime` of `name` `version`.
    pub(crate) fn set_pubtime(&self, name: &str, version: &str, time: &str) {
        let path = index_path(name);
        let mut lines = self.lines.lock().unwrap();
        let file = lines.get_mut(&path).unwrap();
        *file = file
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if v["vers"] == version {
                    v["pubtime"] = serde_json::json!(time);
                }
                format!("{v}\n")
            })
            .collect();
        self.index.put(&path, file.clone());
    }
}

async fn cargo_proxy(reg: &Registry, ttl: Option<Duration>) -> Proxy {
    let mut config = repo(Kind::Cargo, &[("crates-io", &reg.index.url, 0)]);
    config.index_ttl = ttl;
    Proxy::start_repos(vec![("cargo", config)]).await
}

#[tokio::test]
async fn config_json_points_downloads_and_the_api_at_repox() {
    let reg = Registry::start().await;
    let proxy = cargo_proxy(&reg, None).await;
    let c = client();
    let resp = c
        .get(proxy.at("cargo/index/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let etag = resp.headers()[header::ETAG].clone();
    let len = resp.headers()[header::CONTENT_LENGTH].clone();
    let config = resp.json_value().await;
    assert_eq!(config["dl"], proxy.at("cargo/dl").as_str());
    assert_eq!(config["api"], proxy.at("cargo").as_str());
    let head = c
        .head(proxy.at("cargo/index/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::ETAG], etag);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], len);
    let again = c
        .get(proxy.at("cargo/index/config.json"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(reg.index.count(Method::GET, "config.json"), 1);
}

#[tokio::test]
async fn index_files_are_revalidated_with_the_upstream_validators() {
    let reg = Registry::start().await;
    reg.publish("serde", "1.0.0", &[]);
    let proxy = cargo_proxy(&reg, Some(Duration::from_secs(1))).await;
    let c = client();
    let url = proxy.at("cargo/index/se/rd/serde");
    let first = c.get(url.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()[header::ETAG].clone();
    assert!(first.text().await.unwrap().contains("\"vers\":\"1.0.0\""));

    // cargo revalidates its copy against repox's ETag.
    let cond = c
        .get(url.clone())
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cond.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(reg.index.count(Method::GET, "se/rd/serde"), 1);

    // After the TTL repox revalidates upstream with the upstream's ETag.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let same = c.get(url.clone()).send().await.unwrap();
    assert_eq!(same.headers()[header::ETAG], etag);
    let asks: Vec<_> = reg
        .index
        .log()
        .into_iter()
        .filter(|l| l.path == "se/rd/serde")
        .collect();
    assert_eq!(asks.len(), 2);
    assert!(asks[1].headers.contains_key(header::IF_NONE_MATCH));

    // A new version shows up after the next revalidation.
    reg.publish("serde", "1.0.1", &[]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = c
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(newer.contains("\"vers\":\"1.0.1\""), "{newer}");

    // Unknown crates are 404, and names cargo never asks for are not forwarded.
    let missing = c
        .get(proxy.at("cargo/index/no/ne/nonesuch"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let odd = c
        .get(proxy.at("cargo/index/xx/yy/serde"))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), StatusCode::NOT_FOUND);
    assert_eq!(reg.index.count(Method::GET, "xx/yy/serde"), 0);
}

#[tokio::test]
async fn crates_are_verified_against_the_index_checksum() {
    let reg = Registry::start().await;
    let krate = reg.publish("good", "1.0.0", &[]);
    reg.publish("evil", "1.0.0", &[]);
    reg.dl.put(
        "crates/evil/1.0.0/download",
        b"not the published crate".to_vec(),
    );
    let proxy = cargo_proxy(&reg, None).await;
    let c = client();
    for _ in 0..2 {
        let resp = c
            .get(proxy.at("cargo/dl/good/1.0.0/download"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_immutable(&resp);
        assert_eq!(resp.bytes().await.unwrap(), krate);
    }
    assert_eq!(reg.dl.count(Method::GET, "crates/good/1.0.0/download"), 1);
    let bad = c
        .get(proxy.at("cargo/dl/evil/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_refused(bad).await;
}

#[tokio::test]
async fn the_web_api_is_passed_through_uncached() {
    let reg = Registry::start().await;
    reg.index
        .put("api/v1/crates", r#"{"crates":[],"meta":{"total":0}}"#);
    let proxy = cargo_proxy(&reg, None).await;
    let c = client();
    for _ in 0..2 {
        let resp = c
            .get(proxy.at("cargo/api/v1/crates?q=serde&per_page=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    }
    assert_eq!(reg.index.count(Method::GET, "api/v1/crates"), 2);
    let query = reg
        .index
        .log()
        .into_iter()
        .find(|l| l.path == "api/v1/crates")
        .unwrap();
    assert_eq!(query.method, Method::GET);
}

/// cargo with its home in `cargo_home`, crates-io replaced by repox.
pub(crate) fn cargo(
    cargo_home: &std::path::Path,
    project: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let home = cargo_home.parent().unwrap();
    // The toolchain's own cargo (not the rustup proxy), so the temporary HOME does not matter.
    let mut c = isolated(env!("CARGO"), home);
    c.args(args)
        .current_dir(project)
        .env("CARGO_HOME", cargo_home)
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_NET_RETRY", "0");
    for var in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "RUSTC"] {
        if let Some(v) = std::env::var_os(var) {
            c.env(var, v);
        }
    }
    if std::env::var_os("RUSTUP_HOME").is_none()
        && let Some(real) = std::env::var_os("HOME")
    {
        c.env("RUSTUP_HOME", std::path::Path::new(&real).join(".rustup"));
    }
    c
}

fn cargo_home(dir: &std::path::Path, proxy: &Proxy) -> std::path::PathBuf {
    let home = dir.join(".cargo");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"repox\"\n\n[source.repox]\nregistry = \"sparse+{}\"\n",
            proxy.at("cargo/index/")
        ),
    )
    .unwrap();
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_fetch_through_repox() {
    if !have(env!("CARGO"), &["--version"]) {
        return;
    }
    let reg = Registry::start().await;
    reg.publish("fixture-leaf", "1.0.0", &[]);
    reg.publish("fixture-leaf", "1.2.0", &[]);
    reg.publish("fixture-app-dep", "0.3.0", &[("fixture-leaf", "^1.1")]);
    let proxy = cargo_proxy(&reg, None).await;

    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nfixture-app-dep = \"0.3\"\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();

    let first = work.path().join("first");
    run(cargo(&cargo_home(&first, &proxy), &project, &["fetch"])).await;
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"fixture-leaf\"\nversion = \"1.2.0\""),
        "{lock}"
    );
    assert_eq!(
        reg.dl
            .count(Method::GET, "crates/fixture-leaf/1.2.0/download"),
        1
    );
    assert_eq!(
        reg.dl
            .count(Method::GET, "crates/fixture-app-dep/0.3.0/download"),
        1
    );
    assert!(reg.index.count(Method::GET, "config.json") >= 1);

    // A second fetch with an empty cargo home: nothing new upstream.
    let (index_before, dl_before) = (reg.index.total(), reg.dl.total());
    let second = work.path().join("second");
    run(cargo(
        &cargo_home(&second, &proxy),
        &project,
        &["fetch", "--locked"],
    ))
    .await;
    assert!(
        std::fs::read_dir(second.join(".cargo/registry/cache"))
            .unwrap()
            .next()
            .is_some(),
        "the second cargo home got the crates"
    );
    assert_eq!(
        reg.dl.total(),
        dl_before,
        "no crate downloaded upstream again"
    );
    assert_eq!(
        reg.index.total(),
        index_before,
        "no index request upstream again"
    );
}

#[tokio::test]
async fn a_crate_whose_index_fails_is_not_downloaded_unverified() {
    let reg = Registry::start().await;
    let krate = reg.publish("flaky", "1.0.0", &[]);
    let failing = crate::support::Behavior {
        status: Some(500),
        ..Default::default()
    };
    reg.index.behave(&index_path("flaky"), failing);
    let proxy = cargo_proxy(&reg, None).await;
    let url = proxy.at("cargo/dl/flaky/1.0.0/download");
    let resp = client().get(url.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(reg.dl.count(Method::GET, "crates/flaky/1.0.0/download"), 0);
    reg.index
        .behave(&index_path("flaky"), crate::support::Behavior::default());
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), krate);
    let meta =
        crate::faults::stored_meta(proxy.cache.path(), "cargo/crates/flaky/flaky-1.0.0.crate")
            .unwrap();
    assert_eq!(meta["verification"], "cksum");
}
