//! Hosted repositories under `deny` rules and imported malicious-package advisories: an upload
//! of a refused name or version is refused with 403 and the reason (nothing is stored); what
//! was uploaded before a rule or an advisory came is left out of the repository's documents
//! (and of a group's merge over it), its files answer 403 (a file it does not hold stays 404
//! whatever the rules say, so a group asks its other members), and a project denied whole
//! leaves PyPI's root index.

use std::sync::Arc;

use base64::Engine;
use http::{StatusCode, header};
use repox_proxy::config::{Kind, RepositoryConfig};
use serde_json::Value;
use sha2::Digest;

use crate::hosted_pypi::{fields, form, wheel};
use crate::policy_support::{
    PEP691, filenames, json, metrics, name, projects, refusals, repodata, text, versions,
};
use crate::support::{Proxy, client};

fn hosted(kind: Kind, deny: &[&str]) -> RepositoryConfig {
    RepositoryConfig {
        hosted: true,
        deny: deny.iter().map(|d| (*d).to_owned()).collect(),
        ..RepositoryConfig::new(kind)
    }
}

fn group(kind: Kind, members: &[&str]) -> RepositoryConfig {
    RepositoryConfig {
        members: members.iter().map(|m| name(m)).collect(),
        ..RepositoryConfig::new(kind)
    }
}

/// Imports one malicious-package advisory into `cache` as `repox advisories import` would.
fn advisory(cache: &tempfile::TempDir, ecosystem: &str, package: &str, version: &str) {
    let dir = cache.path().join("advisories-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let list = serde_json::json!({"advisories": [{
        "id": "MAL-2099-1", "ecosystem": ecosystem, "package": package,
        "summary": "malicious code", "malicious": true, "versions": [version],
        "all_versions": false,
    }]});
    std::fs::write(dir.join("advisories.json"), list.to_string()).unwrap();
}

fn npm_publish(name: &str, version: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let tarball = format!("tarball of {name} {version}").into_bytes();
    serde_json::to_vec(&serde_json::json!({
        "_id": name, "name": name,
        "dist-tags": { "latest": version },
        "versions": { version: {
            "name": name, "version": version,
            "dist": {
                "integrity": format!("sha512-{}", b64.encode(sha2::Sha512::digest(&tarball))),
                "shasum": hex::encode(sha1::Sha1::digest(&tarball)),
                "tarball": format!("http://x/{name}/-/{name}-{version}.tgz"),
            },
        }},
        "_attachments": { format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": b64.encode(&tarball),
            "length": tarball.len(),
        }},
    }))
    .unwrap()
}

async fn publish(proxy: &Proxy, name: &str, version: &str) -> reqwest::Response {
    client()
        .put(proxy.at(&format!("npm-releases/{name}")))
        .header(header::CONTENT_TYPE, "application/json")
        .body(npm_publish(name, version))
        .send()
        .await
        .unwrap()
}

/// The versions the packument at `path` lists (asked for with no `Accept`), sorted.
async fn npm_versions(proxy: &Proxy, path: &str) -> Vec<String> {
    let resp = proxy.get(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    versions(&serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
}

#[tokio::test]
async fn hosted_npm_refuses_denied_publishes_and_hides_what_rules_came_to_name() {
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("npm-releases", hosted(Kind::Npm, &[]))],
        false,
    )
    .await;
    for (n, v) in [("lib", "1.0.0"), ("lib", "1.1.0"), ("evil-x", "1.0.0")] {
        assert_eq!(publish(&before, n, v).await.status(), StatusCode::CREATED);
    }
    let beta = client()
        .put(before.at("npm-releases/-/package/lib/dist-tags/beta"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("\"1.1.0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(beta.status(), StatusCode::OK);
    let cache = before.stop().await;
    advisory(&cache, "npm", "lib", "1.1.0");
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            ("npm-releases", hosted(Kind::Npm, &["evil-*"])),
            ("npm-all", group(Kind::Npm, &["npm-releases"])),
            (
                "npm-cool",
                RepositoryConfig {
                    min_age: Some(std::time::Duration::from_secs(7 * 86400)),
                    min_age_exempt: vec!["evil-x".into()],
                    ..group(Kind::Npm, &["npm-releases"])
                },
            ),
        ],
        false,
    )
    .await;
    assert_eq!(npm_versions(&proxy, "npm-releases/lib").await, ["1.0.0"]);
    let doc: Value =
        serde_json::from_slice(&proxy.get("npm-releases/lib").await.bytes().await.unwrap())
            .unwrap();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let malicious = proxy.get("npm-releases/lib/-/lib-1.1.0.tgz").await;
    assert_eq!(malicious.status(), StatusCode::FORBIDDEN);
    let why: Value = serde_json::from_slice(&malicious.bytes().await.unwrap()).unwrap();
    assert_eq!(
        why["error"],
        "lib 1.1.0 is malicious according to the advisory MAL-2099-1 (repox advisories import)"
    );
    assert_eq!(
        proxy.get("npm-releases/lib/1.1.0").await.status(),
        StatusCode::FORBIDDEN
    );
    // A tag resolves as the served `dist-tags` say: `latest` moved to 1.0.0, `beta` (1.1.0)
    // is gone; the same through a group, and under the group's cooldown nothing is left.
    for repo in ["npm-releases", "npm-all"] {
        let latest = proxy.get(&format!("{repo}/lib/latest")).await;
        assert_eq!(latest.status(), StatusCode::OK, "{repo}");
        let latest: Value = serde_json::from_slice(&latest.bytes().await.unwrap()).unwrap();
        assert_eq!(latest["version"], "1.0.0", "{repo}: {latest}");
        let beta = proxy.get(&format!("{repo}/lib/beta")).await;
        assert_eq!(beta.status(), StatusCode::NOT_FOUND, "{repo}");
    }
    assert_eq!(
        proxy.get("npm-cool/lib/latest").await.status(),
        StatusCode::NOT_FOUND
    );
    // No snapshot URL on the hosted repository itself: one line that points to a group, for
    // reads and uploads alike; the group's snapshot URL serves its versions.
    let snap = proxy.get("npm-releases/@2025-06-01/lib").await;
    assert_eq!(snap.status(), StatusCode::NOT_FOUND);
    let why = snap.text().await.unwrap();
    assert_eq!(
        why,
        "/npm-releases/ is a hosted repository: it has no date snapshots; ask a group over it \
         (/<group>/@YYYY-MM-DD/…), which applies the date to this repository's versions too\n"
    );
    let put = client()
        .put(proxy.at("npm-releases/@2025-06-01/lib"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(npm_publish("lib", "9.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    let tomorrow = humantime::format_rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(86400),
    )
    .to_string();
    assert_eq!(
        npm_versions(&proxy, &format!("npm-all/@{}/lib", &tomorrow[..10])).await,
        ["1.0.0"]
    );
    assert!(npm_versions(&proxy, "npm-releases/evil-x").await.is_empty());
    let denied = proxy.get("npm-releases/evil-x/-/evil-x-1.0.0.tgz").await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let why = denied.text().await.unwrap();
    assert!(
        why.contains("evil-x 1.0.0 is denied by the rule `evil-*` of repository `npm-releases`"),
        "{why}"
    );
    // The rule refuses only tarballs it holds: one of a denied name it lacks is a 404.
    assert_eq!(
        proxy
            .get("npm-releases/evil-x/-/evil-x-2.0.0.tgz")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The version document likewise, directly and through a group: 403 with the same body
    // and count for the version it holds, 404 for one it lacks.
    for repo in ["npm-releases", "npm-all"] {
        let counted = || async { refusal_count(&proxy, "npm-releases", "evil-*").await };
        let tarball = proxy
            .get(&format!("{repo}/evil-x/-/evil-x-1.0.0.tgz"))
            .await;
        assert_eq!(tarball.status(), StatusCode::FORBIDDEN, "{repo}");
        let tarball = tarball.bytes().await.unwrap();
        let before = counted().await;
        let held = proxy.get(&format!("{repo}/evil-x/1.0.0")).await;
        assert_eq!(held.status(), StatusCode::FORBIDDEN, "{repo}");
        assert_eq!(held.bytes().await.unwrap(), tarball, "{repo}");
        assert_eq!(counted().await, before + 1, "{repo}");
        let lacking = proxy.get(&format!("{repo}/evil-x/2.0.0")).await;
        assert_eq!(lacking.status(), StatusCode::NOT_FOUND, "{repo}");
        assert_eq!(counted().await, before + 1, "{repo}: a 404 is no refusal");
    }
    // Uploads: a denied name is refused whole, with the reason; an allowed one is stored.
    let refused = publish(&proxy, "evil-y", "1.0.0").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let why = refused.text().await.unwrap();
    assert!(why.contains("denied by the rule `evil-*`"), "{why}");
    assert_eq!(
        proxy.get("npm-releases/evil-y").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        publish(&proxy, "lib", "1.2.0").await.status(),
        StatusCode::CREATED
    );
    // Through a group over it, the same.
    assert_eq!(
        npm_versions(&proxy, "npm-all/lib").await,
        ["1.0.0", "1.2.0"]
    );
    assert_eq!(
        proxy.get("npm-all/lib/-/lib-1.1.0.tgz").await.status(),
        StatusCode::FORBIDDEN
    );
    // A group's cooldown covers its hosted members' versions too (all published just now),
    // except what its `min_age_exempt` names; the member's own deny still applies.
    assert!(npm_versions(&proxy, "npm-cool/lib").await.is_empty());
    let young = proxy.get("npm-cool/lib/-/lib-1.0.0.tgz").await;
    assert_eq!(young.status(), StatusCode::FORBIDDEN);
    let why = young.text().await.unwrap();
    assert!(
        why.contains("repository `npm-cool` serves it from"),
        "{why}"
    );
    assert!(npm_versions(&proxy, "npm-cool/evil-x").await.is_empty());
    let m = metrics(&proxy).await;
    assert!(m.contains(&refusals("npm-cool", "min_age")), "{m}");
    assert!(m.contains(&refusals("npm-releases", "evil-*")), "{m}");
    assert!(m.contains(&refusals("npm-releases", "MAL-2099-1")), "{m}");
}

/// How many refusals `/-/metrics` counts for `repository` by `rule` (0 before the first).
async fn refusal_count(proxy: &Proxy, repository: &str, rule: &str) -> u64 {
    let name = refusals(repository, rule);
    metrics(proxy)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&name)?.trim().parse().ok())
        .unwrap_or(0)
}

async fn upload(proxy: &Proxy, project: &str, version: &str) -> (StatusCode, String) {
    let (filename, body) = wheel(project, version, &[]);
    let sha = hex::encode(sha2::Sha256::digest(&body));
    let resp = client()
        .post(proxy.at("pypi-releases/"))
        .header(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=repox-test-boundary",
        )
        .body(form(&fields(project, version, &sha), &filename, &body))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn hosted_pypi_refuses_denied_uploads_and_leaves_denied_projects_out_of_every_index() {
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("pypi-releases", hosted(Kind::Pypi, &[]))],
        false,
    )
    .await;
    for (p, v) in [
        ("evil-pkg", "1.0"),
        ("good-lib", "1.0"),
        ("good-lib", "2.0"),
    ] {
        let (status, text) = upload(&before, p, v).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let cache = before.stop().await;
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            (
                "pypi-releases",
                hosted(Kind::Pypi, &["evil-*", "good-lib==2.0"]),
            ),
            ("pypi-all", group(Kind::Pypi, &["pypi-releases"])),
        ],
        false,
    )
    .await;
    for repo in ["pypi-releases", "pypi-all"] {
        let root = json(&proxy, &format!("{repo}/simple/"), PEP691).await;
        assert_eq!(projects(&root), ["good-lib"], "{repo}: {root}");
        let html = text(&proxy, &format!("{repo}/simple/")).await;
        assert!(
            html.contains("good-lib") && !html.contains("evil"),
            "{repo}: {html}"
        );
        let page = json(&proxy, &format!("{repo}/simple/good-lib/"), PEP691).await;
        assert_eq!(
            filenames(&page),
            ["good_lib-1.0-py3-none-any.whl"],
            "{repo}"
        );
        let evil = json(&proxy, &format!("{repo}/simple/evil-pkg/"), PEP691).await;
        assert!(filenames(&evil).is_empty(), "{repo}: {evil}");
    }
    for file in [
        "good_lib-2.0-py3-none-any.whl",
        "good_lib-2.0-py3-none-any.whl.metadata",
    ] {
        for repo in ["pypi-releases", "pypi-all"] {
            let resp = proxy.get(&format!("{repo}/dist/good-lib/{file}")).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{repo} {file}");
            let why = resp.text().await.unwrap();
            assert!(
                why.contains("good-lib 2.0 is denied by the rule `good-lib==2.0`"),
                "{why}"
            );
        }
    }
    assert_eq!(
        proxy
            .get("pypi-releases/dist/good-lib/good_lib-1.0-py3-none-any.whl")
            .await
            .status(),
        StatusCode::OK
    );
    // The rules refuse only files it holds: one of a denied name (or version) it lacks is a 404.
    for file in [
        "evil-pkg/evil_pkg-9.0-py3-none-any.whl",
        "good-lib/good_lib-2.0.tar.gz",
    ] {
        for repo in ["pypi-releases", "pypi-all"] {
            let resp = proxy.get(&format!("{repo}/dist/{file}")).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{repo} {file}");
        }
    }
    let (status, why) = upload(&proxy, "evil-pkg", "3.0").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        why.contains("evil-pkg 3.0 is denied by the rule `evil-*` of repository `pypi-releases`")
            && why.contains("nothing was stored"),
        "{why}"
    );
    let (status, text) = upload(&proxy, "good-lib", "3.0").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let m = metrics(&proxy).await;
    assert!(m.contains(&refusals("pypi-releases", "evil-*")), "{m}");
}

#[tokio::test]
async fn hosted_maven_refuses_denied_deploys_and_leaves_denied_versions_out_of_its_metadata() {
    let put = |proxy: &Proxy, path: &str, body: &'static str| {
        client()
            .put(proxy.at(&format!("maven-releases/{path}")))
            .body(body)
            .send()
    };
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("maven-releases", hosted(Kind::Maven, &[]))],
        false,
    )
    .await;
    for path in ["org/ex/lib/1.0/lib-1.0.jar", "org/ex/lib/2.0/lib-2.0.jar"] {
        let resp = put(&before, path, "jar").await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{path}");
    }
    let cache = before.stop().await;
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            ("maven-releases", hosted(Kind::Maven, &["org.ex:lib:2.0"])),
            ("maven-all", group(Kind::Maven, &["maven-releases"])),
        ],
        false,
    )
    .await;
    for repo in ["maven-releases", "maven-all"] {
        let xml = text(&proxy, &format!("{repo}/org/ex/lib/maven-metadata.xml")).await;
        assert!(
            xml.contains("<version>1.0</version>") && !xml.contains("2.0"),
            "{repo}: {xml}"
        );
        let jar = proxy
            .get(&format!("{repo}/org/ex/lib/2.0/lib-2.0.jar"))
            .await;
        assert_eq!(jar.status(), StatusCode::FORBIDDEN, "{repo}");
        // The rule refuses only files it holds: one of the denied version it lacks is a 404,
        // and so is its checksum; the checksum of a held denied file is a 403 like the file.
        for (path, status) in [
            ("lib-2.0-sources.jar", StatusCode::NOT_FOUND),
            ("lib-2.0-sources.jar.sha1", StatusCode::NOT_FOUND),
            ("lib-2.0.jar.sha1", StatusCode::FORBIDDEN),
        ] {
            let resp = proxy.get(&format!("{repo}/org/ex/lib/2.0/{path}")).await;
            assert_eq!(resp.status(), status, "{repo} {path}");
        }
    }
    let sha1 = text(&proxy, "maven-releases/org/ex/lib/maven-metadata.xml.sha1").await;
    let xml = proxy
        .get("maven-releases/org/ex/lib/maven-metadata.xml")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha1, hex::encode(sha1::Sha1::digest(&xml)));
    let refused = put(&proxy, "org/ex/lib/2.0/lib-2.0.pom", "pom")
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let why = refused.text().await.unwrap();
    assert!(
        why.contains("org.ex:lib 2.0 is denied by the rule"),
        "{why}"
    );
    let ok = put(&proxy, "org/ex/lib/3.0/lib-3.0.jar", "jar")
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
}

fn cargo_frame(name: &str, vers: &str) -> Vec<u8> {
    let root = format!("{name}-{vers}");
    let manifest = format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\n");
    let krate = crate::npm_support::tar_gz(&[(&format!("{root}/Cargo.toml"), manifest.as_bytes())]);
    crate::hosted_cargo::frame(name, vers, &krate)
}

#[tokio::test]
async fn hosted_cargo_refuses_denied_publishes_and_leaves_denied_versions_out_of_its_index() {
    let publish = |proxy: &Proxy, name: &str, vers: &str| {
        client()
            .put(proxy.at("cargo-releases/api/v1/crates/new"))
            .body(cargo_frame(name, vers))
            .send()
    };
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("cargo-releases", hosted(Kind::Cargo, &[]))],
        false,
    )
    .await;
    for v in ["1.0.0", "1.1.0"] {
        let resp = publish(&before, "leaf", v).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{v}");
    }
    let cache = before.stop().await;
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            (
                "cargo-releases",
                hosted(Kind::Cargo, &["leaf@1.1.0", "evil"]),
            ),
            ("cargo-all", group(Kind::Cargo, &["cargo-releases"])),
            (
                "cargo-cool",
                RepositoryConfig {
                    min_age: Some(std::time::Duration::from_secs(7 * 86400)),
                    ..group(Kind::Cargo, &["cargo-releases"])
                },
            ),
        ],
        false,
    )
    .await;
    for repo in ["cargo-releases", "cargo-all"] {
        let index = text(&proxy, &format!("{repo}/index/le/af/leaf")).await;
        assert!(
            index.contains("\"1.0.0\"") && !index.contains("\"1.1.0\""),
            "{repo}: {index}"
        );
        let dl = proxy.get(&format!("{repo}/dl/leaf/1.1.0/download")).await;
        assert_eq!(dl.status(), StatusCode::FORBIDDEN, "{repo}");
        // The rules refuse only crates it holds: one of a denied name it lacks is a 404.
        let lacking = proxy.get(&format!("{repo}/dl/evil/0.1.0/download")).await;
        assert_eq!(lacking.status(), StatusCode::NOT_FOUND, "{repo}");
    }
    let ok = proxy.get("cargo-releases/dl/leaf/1.0.0/download").await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Published lines carry `pubtime`, so a group's cooldown covers them (just published).
    let index = text(&proxy, "cargo-releases/index/le/af/leaf").await;
    assert!(index.contains("\"pubtime\":\"20"), "{index}");
    let cool = text(&proxy, "cargo-cool/index/le/af/leaf").await;
    assert!(cool.trim().is_empty(), "{cool}");
    let young = proxy.get("cargo-cool/dl/leaf/1.0.0/download").await;
    assert_eq!(young.status(), StatusCode::FORBIDDEN);
    let refused = publish(&proxy, "evil", "0.1.0").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let why = refused.text().await.unwrap();
    assert!(
        why.contains("evil 0.1.0 is denied by the rule `evil` of repository `cargo-releases`"),
        "{why}"
    );
    assert_eq!(
        proxy.get("cargo-releases/index/4/evil").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn hosted_conda_refuses_denied_uploads_and_leaves_denied_records_out_of_its_repodata() {
    let upload = |proxy: &Proxy, p: &crate::conda_support::Package| {
        client()
            .put(proxy.at(&format!("conda-releases/team/noarch/{}", p.file)))
            .body(p.bytes.clone())
            .send()
    };
    let lib = crate::conda_support::package("internal-lib", "1.0", &[], "noarch");
    let evil = crate::conda_support::package("evil", "1.0", &[], "noarch");
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("conda-releases", hosted(Kind::Conda, &[]))],
        false,
    )
    .await;
    for p in [&lib, &evil] {
        let resp = upload(&before, p).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", p.file);
    }
    let cache = before.stop().await;
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            ("conda-releases", hosted(Kind::Conda, &["evil"])),
            ("conda-all", group(Kind::Conda, &["conda-releases"])),
        ],
        false,
    )
    .await;
    for repo in ["conda-releases", "conda-all"] {
        for file in ["repodata.json", "repodata.json.zst"] {
            let doc = repodata(&proxy, &format!("{repo}/team/noarch/{file}")).await;
            let names: Vec<&str> = ["packages", "packages.conda"]
                .iter()
                .filter_map(|k| doc[*k].as_object())
                .flat_map(|m| m.values())
                .map(|r| r["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["internal-lib"], "{repo} {file}: {doc}");
        }
        let file = proxy
            .get(&format!("{repo}/team/noarch/{}", evil.file))
            .await;
        assert_eq!(file.status(), StatusCode::FORBIDDEN, "{repo}");
    }
    let evil2 = crate::conda_support::package("evil", "2.0", &[], "noarch");
    let refused = upload(&proxy, &evil2).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let why = refused.text().await.unwrap();
    assert!(
        why.contains("evil 2.0 is denied by the rule `evil`"),
        "{why}"
    );
}

#[tokio::test]
async fn a_name_a_hosted_conda_member_holds_keeps_the_upstream_s_records_out_even_when_denied() {
    // The hosted member holds `evil` (uploaded before its rule) and `internal-lib`; the
    // upstream has `evil 2.0` and `other`. The member's deny applies to its own records, and
    // the name it holds keeps the upstream's records of it out of the group, as in every
    // other ecosystem.
    let (proxy, up) = conda_group_denying_evil(
        &[("internal-lib", "1.0"), ("evil", "1.0")],
        &[("evil", "2.0"), ("other", "1.0")],
    )
    .await;
    for file in ["repodata.json", "repodata.json.zst"] {
        let doc = repodata(&proxy, &format!("conda-all/fixture/noarch/{file}")).await;
        assert_eq!(
            record_names(&doc),
            ["internal-lib", "other"],
            "{file}: {doc}"
        );
    }
    // The hosted member holds the name but not this file: the group answers 404 by the
    // dependency-confusion rule, and the upstream is not asked.
    let upstream_evil = proxy.get("conda-all/fixture/noarch/evil-2.0-0.conda").await;
    assert_eq!(upstream_evil.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        up.count(http::Method::GET, "fixture/noarch/evil-2.0-0.conda"),
        0
    );
    // The proxy member alone still serves it: the hosted member's rule is its own.
    let alone = repodata(&proxy, "conda-up/fixture/noarch/repodata.json").await;
    assert_eq!(record_names(&alone), ["evil", "other"]);
}

#[tokio::test]
async fn a_hosted_conda_member_s_deny_does_not_hide_a_file_it_lacks_from_the_other_members() {
    // The hosted member denies `evil` but holds no `evil` (only `internal-lib`); the upstream
    // has `evil 2.0`. The member's rule refuses only its own files: it answers 404 for the
    // upstream's, and the group goes on to the upstream.
    let (proxy, up) =
        conda_group_denying_evil(&[("internal-lib", "1.0")], &[("evil", "2.0")]).await;
    let path = "fixture/noarch/evil-2.0-0.conda";
    let via_group = proxy.get(&format!("conda-all/{path}")).await;
    assert_eq!(via_group.status(), StatusCode::OK);
    assert_eq!(via_group.bytes().await.unwrap(), "package evil-2.0-0.conda");
    assert_eq!(up.count(http::Method::GET, path), 1);
    let own = proxy.get(&format!("conda-releases/{path}")).await;
    assert_eq!(own.status(), StatusCode::NOT_FOUND);
    // The group's repodata lists the upstream's `evil` beside the member's own package.
    let doc = repodata(&proxy, "conda-all/fixture/noarch/repodata.json").await;
    assert_eq!(record_names(&doc), ["evil", "internal-lib"], "{doc}");
}

/// A conda group `conda-all` over a hosted `conda-releases` (holding `held`, uploaded before its
/// rule `deny = ["evil"]`) and a proxy `conda-up` of a channel with `upstream`'s packages, a
/// year old; the channel too.
async fn conda_group_denying_evil(
    held: &[(&str, &str)],
    upstream: &[(&str, &str)],
) -> (Proxy, crate::support::TestUpstream) {
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let before = Proxy::start_repos_in(
        cache.clone(),
        vec![("conda-releases", hosted(Kind::Conda, &[]))],
        false,
    )
    .await;
    for (name, version) in held {
        let p = crate::conda_support::package(name, version, &[], "noarch");
        let resp = client()
            .put(before.at(&format!("conda-releases/fixture/noarch/{}", p.file)))
            .body(p.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", p.file);
    }
    let cache = before.stop().await;
    let year = std::time::Duration::from_secs(365 * 86400);
    let packages: Vec<(&str, &str, std::time::Duration)> =
        upstream.iter().map(|&(n, v)| (n, v, year)).collect();
    let up = crate::policy_group::channel(&packages).await;
    let proxy = Proxy::start_repos_in(
        cache,
        vec![
            ("conda-releases", hosted(Kind::Conda, &["evil"])),
            (
                "conda-up",
                crate::npm_support::repo(Kind::Conda, &[("up", &up.url, 0)]),
            ),
            (
                "conda-all",
                group(Kind::Conda, &["conda-releases", "conda-up"]),
            ),
        ],
        false,
    )
    .await;
    (proxy, up)
}

/// The names of a conda repodata document's records, sorted.
fn record_names(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = ["packages", "packages.conda"]
        .iter()
        .filter_map(|k| doc[*k].as_object())
        .flat_map(|m| m.values())
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// A server started from a config file (as `repox serve` runs it), so that the settings API
/// can save changes; its URL.
async fn served_from_file(dir: &tempfile::TempDir, text: &str) -> url::Url {
    let file = dir.path().join("repox.toml");
    std::fs::write(&file, text).unwrap();
    let mut config = repox_proxy::config::Config::parse(text, &file).unwrap();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.cache_dir = Some(dir.path().join("cache"));
    let server = repox_proxy::Server::bind(config).await.unwrap();
    server.app().live().set_file(file);
    let url = url::Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));
    url
}

#[tokio::test]
async fn the_settings_api_refuses_a_hosted_cooldown_and_applies_a_new_deny_rule_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = served_from_file(
        &dir,
        "[repositories.npm-releases]\nkind = \"npm\"\nhosted = true\ndeny = [\"other\"]\n",
    )
    .await;
    let put = |repo: Value| {
        client()
            .put(url.join("-/api/repositories/npm-releases").unwrap())
            .header("x-repox-csrf", "1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(repo.to_string())
            .send()
    };
    let resp = client()
        .put(url.join("npm-releases/lib").unwrap())
        .header(header::CONTENT_TYPE, "application/json")
        .body(npm_publish("lib", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let listed = |url: url::Url| async move {
        let doc: Value = serde_json::from_slice(
            &client()
                .get(url.join("npm-releases/lib").unwrap())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        doc["versions"].as_object().unwrap().len()
    };
    // Filtered (nothing left out) and kept in memory under the rules in force.
    assert_eq!(listed(url.clone()).await, 1);

    let resp = put(serde_json::json!({"kind": "npm", "hosted": true, "min_age": "7d"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "repositories.npm-releases.min_age: a hosted repository applies no release cooldown"
        ),
        "{error}"
    );

    let resp = put(serde_json::json!({"kind": "npm", "hosted": true, "deny": ["lib@1.0.0"]}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(listed(url.clone()).await, 0, "the new rule applies at once");
    let tarball = client()
        .get(url.join("npm-releases/lib/-/lib-1.0.0.tgz").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tarball.status(), StatusCode::FORBIDDEN);
}
