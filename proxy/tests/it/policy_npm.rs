//! npm under policies: a release cooldown removes the young version from packuments (both
//! representations) and moves `dist-tags.latest`, its tarball answers 403 with a reason npm
//! prints; a denied version is reported by `npm ci`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use http::{StatusCode, header};
use repox_proxy::config::{Kind, RepositoryConfig};

use crate::npm_support::{NpmRegistry, have, isolated, repo};
use crate::support::{Proxy, client, run};

fn ago(d: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() - d).to_string()
}

/// `fixture-a` 1.0.0 (years old) and 1.1.0 (an hour old), both on `fixture-c` 1.0.0.
fn registry_versions(reg: &NpmRegistry) {
    reg.publish("fixture-c", "1.0.0", &[]);
    reg.publish("fixture-a", "1.0.0", &[("fixture-c", "^1.0.0")]);
    reg.publish("fixture-a", "1.1.0", &[("fixture-c", "^1.0.0")]);
    let years = Duration::from_secs(3 * 365 * 86400);
    reg.set_time("fixture-c", "1.0.0", &ago(years));
    reg.set_time("fixture-a", "1.0.0", &ago(years));
    reg.set_time("fixture-a", "1.1.0", &ago(Duration::from_secs(3600)));
}

async fn proxy(reg: &NpmRegistry, extra: &str) -> Proxy {
    let mut config: RepositoryConfig = toml::from_str(&format!("kind = \"npm\"\n{extra}")).unwrap();
    config.upstreams = repo(Kind::Npm, &[("up", &reg.url, 0)]).upstreams;
    Proxy::start_repos(vec![("npm", config)]).await
}

fn npm(home: &Path, project: &Path, registry: &str, args: &[&str]) -> Command {
    let mut c = isolated("npm", home);
    c.args(args)
        .current_dir(project)
        .env("npm_config_userconfig", home.join(".npmrc"))
        .env("npm_config_globalconfig", home.join("global-npmrc"))
        .env("npm_config_cache", home.join("npm-cache"))
        .env("npm_config_registry", registry)
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fetch_retries", "0")
        .env("npm_config_loglevel", "warn");
    c
}

async fn output(cmd: Command) -> Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// A project depending on `fixture-a` at `range`, with its home.
fn project(dir: &Path, range: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (home, project) = (dir.join("home"), dir.join("app"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        format!(r#"{{"name":"app","version":"1.0.0","private":true,"dependencies":{{"fixture-a":"{range}"}}}}"#),
    )
    .unwrap();
    (home, project)
}

fn installed_version(project: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.join("node_modules/fixture-a/package.json")).unwrap(),
    )
    .unwrap();
    v["version"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_cooldown_removes_the_young_version_and_refuses_its_tarball() {
    let reg = NpmRegistry::start().await;
    registry_versions(&reg);
    let proxy = proxy(&reg, "min_age = \"7d\"").await;
    for accept in ["application/vnd.npm.install-v1+json", "application/json"] {
        let doc: serde_json::Value = serde_json::from_slice(
            &client()
                .get(proxy.at("npm/fixture-a"))
                .header(header::ACCEPT, accept)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "{accept}");
        assert!(doc["versions"].get("1.1.0").is_none(), "{accept}");
        assert!(
            doc["versions"]["1.0.0"]["dist"]["tarball"]
                .as_str()
                .unwrap()
                .starts_with(proxy.at("npm/").as_str())
        );
    }
    let resp = proxy.get("npm/fixture-a/-/fixture-a-1.1.0.tgz").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let why = body["error"].as_str().unwrap();
    assert!(why.contains("fixture-a 1.1.0 was published at 20"), "{why}");
    let doc = proxy.get("npm/fixture-a/1.1.0").await;
    assert_eq!(doc.status(), StatusCode::FORBIDDEN);
    // A tag resolves as the filtered packument's `dist-tags` say (the upstream's `latest` is
    // the young 1.1.0); a tag that is not there is 404.
    let latest = proxy.get("npm/fixture-a/latest").await;
    assert_eq!(latest.status(), StatusCode::OK);
    let latest: serde_json::Value = serde_json::from_slice(&latest.bytes().await.unwrap()).unwrap();
    assert_eq!(latest["version"], "1.0.0", "{latest}");
    assert_eq!(
        proxy.get("npm/fixture-a/next").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.count(http::Method::GET, "fixture-a/-/fixture-a-1.1.0.tgz"),
        0
    );
    let old = proxy.get("npm/fixture-a/-/fixture-a-1.0.0.tgz").await;
    assert_eq!(old.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_snapshot_registry_serves_packuments_as_they_were() {
    let reg = NpmRegistry::start().await;
    registry_versions(&reg);
    let proxy = proxy(&reg, "").await;
    let yesterday = ago(Duration::from_secs(86400))[..10].to_owned();
    for _ in 0..2 {
        let doc: serde_json::Value = serde_json::from_slice(
            &proxy
                .get(&format!("npm/@{yesterday}/fixture-a"))
                .await
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert!(doc["versions"].get("1.1.0").is_none());
    }
    let live: serde_json::Value =
        serde_json::from_slice(&proxy.get("npm/fixture-a").await.bytes().await.unwrap()).unwrap();
    assert_eq!(live["dist-tags"]["latest"], "1.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_installs_the_newest_version_old_enough() {
    if !have("npm", &["--version"]) {
        return;
    }
    let reg = NpmRegistry::start().await;
    registry_versions(&reg);
    for (extra, want) in [("min_age = \"7d\"", "1.0.0"), ("", "1.1.0")] {
        let proxy = proxy(&reg, extra).await;
        let work = tempfile::tempdir().unwrap();
        let (home, project) = project(work.path(), "^1.0.0");
        run(npm(
            &home,
            &project,
            proxy.at("npm/").as_str(),
            &["install"],
        ))
        .await;
        assert_eq!(installed_version(&project), want, "with `{extra}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_reports_a_denied_version() {
    if !have("npm", &["--version"]) {
        return;
    }
    let reg = NpmRegistry::start().await;
    registry_versions(&reg);
    let open = proxy(&reg, "").await;
    let denying = proxy(&reg, "deny = [\"fixture-a@1.1.0\"]").await;
    let work = tempfile::tempdir().unwrap();
    let (home, project) = project(work.path(), "^1.0.0");
    // A lock file written before the rule, pointing at the denying proxy.
    run(npm(&home, &project, open.at("npm/").as_str(), &["install"])).await;
    let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
    let lock = lock.replace(open.at("npm/").as_str(), denying.at("npm/").as_str());
    std::fs::write(project.join("package-lock.json"), lock).unwrap();
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    std::fs::remove_dir_all(home.join("npm-cache")).unwrap();
    let out = output(npm(&home, &project, denying.at("npm/").as_str(), &["ci"])).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(
        text.contains("denied by the rule `fixture-a@1.1.0`"),
        "{text}"
    );
    // A fresh resolution picks the version left.
    std::fs::remove_file(project.join("package-lock.json")).unwrap();
    run(npm(
        &home,
        &project,
        denying.at("npm/").as_str(),
        &["install"],
    ))
    .await;
    assert_eq!(installed_version(&project), "1.0.0");
    let metrics = denying.get("-/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .contains("repox_policy_refusals_total{repository=\"npm\",rule=\"fixture-a@1.1.0\"}"),
        "{metrics}"
    );
}

/// The cached packument is not fetched again, yet the young version is listed once it is
/// `min_age` old: the filtered document lasts until its first hidden version comes of age.
#[tokio::test]
async fn a_hidden_version_appears_once_it_comes_of_age() {
    let reg = NpmRegistry::start().await;
    registry_versions(&reg);
    reg.set_time("fixture-a", "1.1.0", &ago(Duration::ZERO));
    let proxy = proxy(&reg, "min_age = \"20s\"\nindex_ttl = \"1h\"").await;
    let latest = || async {
        let doc: serde_json::Value =
            serde_json::from_slice(&proxy.get("npm/fixture-a").await.bytes().await.unwrap())
                .unwrap();
        doc["dist-tags"]["latest"].as_str().unwrap().to_owned()
    };
    assert_eq!(latest().await, "1.0.0");
    let mut now = String::new();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now = latest().await;
        if now == "1.1.0" {
            break;
        }
    }
    assert_eq!(now, "1.1.0");
    assert_eq!(reg.count(http::Method::GET, "fixture-a"), 1);
}
