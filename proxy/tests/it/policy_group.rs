//! A group's own rules: `deny`, `min_age` and snapshot dates set on a group apply on top of its
//! members' (which have none here), in every ecosystem whose group merges documents: the
//! versions leave the merged npm packument, cargo index file, conda repodata, PyPI pages (and
//! the root index for a project denied whole) and `maven-metadata.xml`, and their files answer
//! 403 through the group with the proxies' body, counted under the group's name.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use repox_proxy::config::{Kind, RepositoryConfig, UpstreamConfig};
use serde_json::Value;
use sha2::Digest;

use crate::cargo::Registry;
use crate::npm_support::{NpmRegistry, repo};
use crate::policy_support::{
    PEP691, filenames, json, metrics, name, pep691_page, projects, refusals, repodata, text,
    time_ago, versions,
};
use crate::pypi::fixture::pypi;
use crate::support::{Proxy, TestUpstream, maven};

const DAY: Duration = Duration::from_secs(86400);
const YEARS: Duration = Duration::from_secs(3 * 365 * 86400);

fn ago(d: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() - d).to_string()
}

/// A group of `kind` over `members` with the rules in `extra` (TOML).
fn group(kind: Kind, members: &[&str], extra: &str) -> RepositoryConfig {
    let mut g: RepositoryConfig =
        toml::from_str(&format!("kind = \"{}\"\n{extra}", kind.as_str())).unwrap();
    g.members = members.iter().map(|m| name(m)).collect();
    g
}

/// The 403 body of `path`, asserted to be a 403.
async fn refused(proxy: &Proxy, path: &str) -> String {
    let resp = proxy.get(path).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    assert_eq!(
        resp.headers().get("x-repox-cache").unwrap(),
        "blocked",
        "{path}"
    );
    resp.text().await.unwrap()
}

#[tokio::test]
async fn an_npm_group_s_deny_min_age_and_snapshot_apply_over_both_members() {
    // `a` has 1.0.0 (years old) and 1.1.0 (an hour old); `b` has 0.9.0 (years old) and 1.2.0
    // (100 days old).
    let (a, b) = (NpmRegistry::start().await, NpmRegistry::start().await);
    for (reg, v, age) in [
        (&a, "1.0.0", YEARS),
        (&a, "1.1.0", Duration::from_secs(3600)),
        (&b, "0.9.0", YEARS),
        (&b, "1.2.0", 100 * DAY),
    ] {
        reg.publish("fixture-a", v, &[]);
        reg.set_time("fixture-a", v, &ago(age));
    }
    let proxy = Proxy::start_repos(vec![
        ("npm-a", repo(Kind::Npm, &[("a", &a.url, 0)])),
        ("npm-b", repo(Kind::Npm, &[("b", &b.url, 0)])),
        (
            "npm-all",
            group(
                Kind::Npm,
                &["npm-a", "npm-b"],
                "min_age = \"7d\"\ndeny = [\"fixture-a@0.9.0\"]",
            ),
        ),
    ])
    .await;
    // The members alone list everything (they have no rules).
    let alone = json(&proxy, "npm-a/fixture-a", "application/json").await;
    assert_eq!(versions(&alone), ["1.0.0", "1.1.0"]);
    for accept in ["application/json", "application/vnd.npm.install-v1+json"] {
        let doc = json(&proxy, "npm-all/fixture-a", accept).await;
        assert_eq!(versions(&doc), ["1.0.0", "1.2.0"], "{accept}: {doc}");
        assert_eq!(doc["dist-tags"]["latest"], "1.2.0", "{accept}");
    }
    let why = refused(&proxy, "npm-all/fixture-a/-/fixture-a-0.9.0.tgz").await;
    let why: Value = serde_json::from_str(&why).unwrap();
    assert_eq!(
        why["error"],
        "fixture-a 0.9.0 is denied by the rule `fixture-a@0.9.0` of repository `npm-all` (deny)"
    );
    let young = refused(&proxy, "npm-all/fixture-a/-/fixture-a-1.1.0.tgz").await;
    assert!(
        young.contains("less than min_age = \\\"7days\\\" ago"),
        "{young}"
    );
    refused(&proxy, "npm-all/fixture-a/1.1.0").await;
    // A tag names what the group's `dist-tags` say: `a`'s own `latest` is the young 1.1.0.
    let latest = proxy.get("npm-all/fixture-a/latest").await;
    assert_eq!(latest.status(), StatusCode::OK);
    let latest: Value = serde_json::from_slice(&latest.bytes().await.unwrap()).unwrap();
    assert_eq!(latest["version"], "1.2.0", "{latest}");
    let ok = proxy.get("npm-all/fixture-a/-/fixture-a-1.0.0.tgz").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        a.count(http::Method::GET, "fixture-a/-/fixture-a-1.1.0.tgz"),
        0
    );

    // Through the group's snapshot URL, the members and the group see the same date.
    let date = &ago(200 * DAY)[..10];
    let snap = json(
        &proxy,
        &format!("npm-all/@{date}/fixture-a"),
        "application/json",
    )
    .await;
    assert_eq!(versions(&snap), ["1.0.0"], "{snap}");
    let later = refused(
        &proxy,
        &format!("npm-all/@{date}/fixture-a/-/fixture-a-1.2.0.tgz"),
    )
    .await;
    assert!(later.contains("after the snapshot date"), "{later}");

    let m = metrics(&proxy).await;
    assert!(
        m.contains(&format!("{} 1", refusals("npm-all", "fixture-a@0.9.0"))),
        "{m}"
    );
    assert!(
        m.contains(&format!("{} 2", refusals("npm-all", "min_age"))),
        "{m}"
    );
    // The members saw the snapshot first: the version left their packuments, and the member
    // that has it refused its tarball (the group passes the request on). The date is the
    // group's, so the refusal is counted under the group the client asked.
    assert!(
        m.contains(&format!("{} 1", refusals("npm-all", "snapshot"))),
        "{m}"
    );
    assert!(!m.contains(&refusals("npm-b", "snapshot")), "{m}");
    // The member's own snapshot URL still counts under the member.
    refused(
        &proxy,
        &format!("npm-b/@{date}/fixture-a/-/fixture-a-1.2.0.tgz"),
    )
    .await;
    let m = metrics(&proxy).await;
    assert!(
        m.contains(&format!("{} 1", refusals("npm-b", "snapshot"))),
        "{m}"
    );
    assert!(
        m.contains(&format!("{} 1", refusals("npm-all", "snapshot"))),
        "{m}"
    );
}

#[tokio::test]
async fn a_cargo_group_s_rules_filter_the_merged_index_and_refuse_downloads() {
    let (a, b) = (Registry::start().await, Registry::start().await);
    for (reg, v, age) in [
        (&a, "1.0.0", YEARS),
        (&a, "1.1.0", Duration::from_secs(3600)),
        (&b, "1.2.0", YEARS),
    ] {
        reg.publish("fixture-leaf", v, &[]);
        reg.set_pubtime(
            "fixture-leaf",
            v,
            &humantime::format_rfc3339_seconds(SystemTime::now() - age).to_string(),
        );
    }
    let proxy = Proxy::start_repos(vec![
        ("cargo-a", repo(Kind::Cargo, &[("a", &a.index.url, 0)])),
        ("cargo-b", repo(Kind::Cargo, &[("b", &b.index.url, 0)])),
        (
            "cargo-all",
            group(
                Kind::Cargo,
                &["cargo-a", "cargo-b"],
                "min_age = \"7d\"\ndeny = [\"fixture-leaf@1.2.0\"]",
            ),
        ),
    ])
    .await;
    let index = text(&proxy, "cargo-all/index/fi/xt/fixture-leaf").await;
    assert_eq!(index.lines().count(), 1, "{index}");
    assert!(index.contains("\"1.0.0\""), "{index}");
    let denied = refused(&proxy, "cargo-all/dl/fixture-leaf/1.2.0/download").await;
    assert!(
        denied.contains("denied by the rule `fixture-leaf@1.2.0` of repository `cargo-all`"),
        "{denied}"
    );
    let young = refused(&proxy, "cargo-all/dl/fixture-leaf/1.1.0/download").await;
    assert!(young.contains("min_age"), "{young}");
    assert_eq!(
        proxy
            .get("cargo-all/dl/fixture-leaf/1.0.0/download")
            .await
            .status(),
        StatusCode::OK
    );
    let member = text(&proxy, "cargo-b/index/fi/xt/fixture-leaf").await;
    assert!(
        member.contains("\"1.2.0\""),
        "the member has no rule: {member}"
    );
    let m = metrics(&proxy).await;
    assert!(
        m.contains(&refusals("cargo-all", "fixture-leaf@1.2.0")),
        "{m}"
    );
    assert!(m.contains(&refusals("cargo-all", "min_age")), "{m}");
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Channel `fixture/noarch` with `records` (name, version, age).
pub async fn channel(records: &[(&str, &str, Duration)]) -> TestUpstream {
    let up = TestUpstream::start().await;
    let mut listed = serde_json::Map::new();
    for (name, version, age) in records {
        let file = format!("{name}-{version}-0.conda");
        let body = format!("package {file}");
        up.put(&format!("fixture/noarch/{file}"), body.clone());
        listed.insert(
            file,
            serde_json::json!({
                "name": name, "version": version, "build": "0", "build_number": 0,
                "depends": [], "subdir": "noarch",
                "sha256": hex::encode(sha2::Sha256::digest(body.as_bytes())),
                "timestamp": now_ms() - age.as_millis() as i64,
            }),
        );
    }
    let repodata = serde_json::json!({
        "info": {"subdir": "noarch"}, "packages": {}, "packages.conda": listed,
        "repodata_version": 1,
    });
    up.put(
        "fixture/noarch/repodata.json",
        serde_json::to_vec(&repodata).unwrap(),
    );
    up
}

#[tokio::test]
async fn a_conda_group_s_rules_filter_the_merged_repodata_and_refuse_packages() {
    let a = channel(&[
        ("pkg", "1.0", YEARS),
        ("pkg", "2.0", Duration::from_secs(3600)),
    ])
    .await;
    let b = channel(&[("evil", "1.0", YEARS), ("other", "1.0", YEARS)]).await;
    let proxy = Proxy::start_repos(vec![
        ("conda-a", repo(Kind::Conda, &[("a", &a.url, 0)])),
        ("conda-b", repo(Kind::Conda, &[("b", &b.url, 0)])),
        (
            "conda-all",
            group(
                Kind::Conda,
                &["conda-a", "conda-b"],
                "min_age = \"7d\"\ndeny = [\"evil\"]",
            ),
        ),
    ])
    .await;
    for file in ["repodata.json", "repodata.json.zst"] {
        let doc = repodata(&proxy, &format!("conda-all/fixture/noarch/{file}")).await;
        let mut files: Vec<&String> = doc["packages.conda"].as_object().unwrap().keys().collect();
        files.sort();
        assert_eq!(files, ["other-1.0-0.conda", "pkg-1.0-0.conda"], "{file}");
    }
    let denied = refused(&proxy, "conda-all/fixture/noarch/evil-1.0-0.conda").await;
    assert!(
        denied.contains("evil 1.0 is denied by the rule `evil` of repository `conda-all`"),
        "{denied}"
    );
    let young = refused(&proxy, "conda-all/fixture/noarch/pkg-2.0-0.conda").await;
    assert!(young.contains("min_age"), "{young}");
    let ok = proxy.get("conda-all/fixture/noarch/pkg-1.0-0.conda").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "package pkg-1.0-0.conda");
    let m = metrics(&proxy).await;
    assert!(m.contains(&refusals("conda-all", "evil")), "{m}");
}

/// A PyPI index with PEP 691 pages of `projects` (name, files with their ages) and a root.
async fn index(projects: &[(&str, &[(&str, Duration)])]) -> TestUpstream {
    let up = TestUpstream::start().await;
    let mut names = Vec::new();
    for (project, files) in projects {
        names.push(serde_json::json!({"name": project}));
        pep691_page(&up, project, files);
    }
    let root = serde_json::json!({"meta": {"api-version": "1.1"}, "projects": names});
    up.put("simple/", serde_json::to_vec(&root).unwrap());
    up
}

fn pypi_proxy(up: &TestUpstream) -> RepositoryConfig {
    let mut base = UpstreamConfig::new("pypi", up.url.join("simple/").unwrap());
    base.idle_timeout = Duration::from_secs(5);
    pypi(vec![base])
}

#[tokio::test]
async fn a_pypi_group_s_rules_filter_its_pages_and_root_index_and_refuse_files() {
    let a = index(&[(
        "lib-a",
        &[
            ("lib_a-1.0-py3-none-any.whl", YEARS),
            ("lib_a-2.0-py3-none-any.whl", Duration::from_secs(3600)),
        ],
    )])
    .await;
    let b = index(&[("lib-c", &[("lib_c-1.0+cpu-py3-none-any.whl", YEARS)])]).await;
    let proxy = Proxy::start_repos(vec![
        ("pypi-a", pypi_proxy(&a)),
        ("pypi-b", pypi_proxy(&b)),
        (
            "pypi-all",
            group(
                Kind::Pypi,
                &["pypi-a", "pypi-b"],
                "min_age = \"7d\"\ndeny = [\"lib-c\"]",
            ),
        ),
    ])
    .await;
    let page = json(&proxy, "pypi-all/simple/lib-a/", PEP691).await;
    assert_eq!(filenames(&page), ["lib_a-1.0-py3-none-any.whl"], "{page}");
    let html = text(&proxy, "pypi-all/simple/lib-a/").await;
    assert!(
        html.contains("lib_a-1.0-py3-none-any.whl") && !html.contains("lib_a-2.0"),
        "{html}"
    );
    let c = json(&proxy, "pypi-all/simple/lib-c/", PEP691).await;
    assert!(filenames(&c).is_empty(), "{c}");
    // Files at the paths the members' pages give (the group's pages keep them).
    let path = |member: &Value, filename: &str| -> String {
        let file = member["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filename"] == filename)
            .unwrap();
        format!(
            "pypi-all/{}",
            file["url"].as_str().unwrap().trim_start_matches("../../")
        )
    };
    let member_a = json(&proxy, "pypi-a/simple/lib-a/", PEP691).await;
    let member_c = json(&proxy, "pypi-b/simple/lib-c/", PEP691).await;
    let young = refused(&proxy, &path(&member_a, "lib_a-2.0-py3-none-any.whl")).await;
    assert!(young.contains("lib-a 2.0 was published at"), "{young}");
    let denied = refused(&proxy, &path(&member_c, "lib_c-1.0+cpu-py3-none-any.whl")).await;
    assert!(
        denied.contains("denied by the rule `lib-c` of repository `pypi-all`"),
        "{denied}"
    );
    let ok = proxy
        .get(&path(&member_a, "lib_a-1.0-py3-none-any.whl"))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        a.count(http::Method::GET, "packages/lib_a-2.0-py3-none-any.whl"),
        0
    );

    // The root index: a project denied whole leaves it; a versions-only rule does not.
    let root = json(&proxy, "pypi-all/simple/", PEP691).await;
    assert_eq!(projects(&root), ["lib-a"], "{root}");
    let html = text(&proxy, "pypi-all/simple/").await;
    assert!(html.contains("lib-a") && !html.contains("lib-c"), "{html}");
    // The legacy JSON API through the group: the group's rules apply as on its pages.
    let file = |v: &str, age: Duration| {
        serde_json::json!({
            "filename": format!("lib_a-{v}-py3-none-any.whl"),
            "url": format!("../../packages/lib_a-{v}-py3-none-any.whl"),
            "upload_time_iso_8601": time_ago(age),
        })
    };
    let legacy = serde_json::json!({
        "info": {"name": "lib-a", "version": "2.0"},
        "urls": [file("2.0", Duration::from_secs(3600))],
        "releases": {"1.0": [file("1.0", YEARS)], "2.0": [file("2.0", Duration::from_secs(3600))]},
    });
    a.put("pypi/lib-a/json", legacy.to_string());
    let one = serde_json::json!({"info": {"name": "lib-a", "version": "2.0"}, "urls": [file("2.0", Duration::from_secs(3600))]});
    a.put("pypi/lib-a/2.0/json", one.to_string());
    let doc = json(&proxy, "pypi-all/pypi/lib-a/json", "application/json").await;
    let releases: Vec<&String> = doc["releases"].as_object().unwrap().keys().collect();
    assert_eq!(releases, ["1.0"], "{doc}");
    let member_doc = json(&proxy, "pypi-a/pypi/lib-a/json", "application/json").await;
    assert_eq!(member_doc["releases"].as_object().unwrap().len(), 2);
    let young = refused(&proxy, "pypi-all/pypi/lib-a/2.0/json").await;
    assert!(young.contains("lib-a 2.0 was published at"), "{young}");

    let member = json(&proxy, "pypi-b/simple/", PEP691).await;
    assert_eq!(member["projects"][0]["name"], "lib-c");
    let m = metrics(&proxy).await;
    assert!(m.contains(&refusals("pypi-all", "lib-c")), "{m}");
    assert!(m.contains(&refusals("pypi-all", "min_age")), "{m}");
}

#[tokio::test]
async fn a_proxy_s_root_index_leaves_out_projects_denied_whole() {
    let up = index(&[
        ("lib-a", &[("lib_a-1.0-py3-none-any.whl", YEARS)]),
        ("lib-c", &[("lib_c-1.0+cpu-py3-none-any.whl", YEARS)]),
    ])
    .await;
    let mut only_versions = pypi_proxy(&up);
    only_versions.deny = vec!["lib-a==1.0".into()];
    let mut whole = pypi_proxy(&up);
    whole.deny = vec!["lib-*".into()];
    let proxy = Proxy::start_repos(vec![("versions", only_versions), ("whole", whole)]).await;
    assert_eq!(
        projects(&json(&proxy, "versions/simple/", PEP691).await),
        ["lib-a", "lib-c"]
    );
    assert!(projects(&json(&proxy, "whole/simple/", PEP691).await).is_empty());
    let html = text(&proxy, "whole/simple/").await;
    assert!(!html.contains("lib-"), "{html}");
}

#[tokio::test]
async fn a_maven_group_s_rules_filter_merged_metadata_and_refuse_files() {
    let (a, b) = (TestUpstream::start().await, TestUpstream::start().await);
    for (up, v) in [(&a, "1.0"), (&a, "2.0"), (&b, "3.0")] {
        up.put_with_sha1(
            &format!("org/ex/lib/{v}/lib-{v}.pom"),
            format!("<project>{v}</project>"),
        );
        up.put_with_sha1(&format!("org/ex/lib/{v}/lib-{v}.jar"), format!("jar {v}"));
    }
    let listing = |versions: &[&str]| {
        let vs: String = versions
            .iter()
            .map(|v| format!("<version>{v}</version>"))
            .collect();
        let last = versions.last().unwrap();
        format!(
            "<metadata><groupId>org.ex</groupId><artifactId>lib</artifactId><versioning><latest>{last}</latest><release>{last}</release><versions>{vs}</versions><lastUpdated>20240102030405</lastUpdated></versioning></metadata>"
        )
    };
    a.put("org/ex/lib/maven-metadata.xml", listing(&["1.0", "2.0"]));
    b.put("org/ex/lib/maven-metadata.xml", listing(&["3.0"]));
    let proxy = Proxy::start_repos(vec![
        ("maven-a", maven(&[("a", &a, 0)])),
        ("maven-b", maven(&[("b", &b, 0)])),
        (
            "maven-all",
            group(
                Kind::Maven,
                &["maven-a", "maven-b"],
                "deny = [\"org.ex:lib:3.0\"]",
            ),
        ),
    ])
    .await;
    let xml = text(&proxy, "maven-all/org/ex/lib/maven-metadata.xml").await;
    assert!(
        xml.contains("<version>1.0</version>")
            && xml.contains("<version>2.0</version>")
            && !xml.contains("3.0"),
        "{xml}"
    );
    assert!(xml.contains("<release>2.0</release>"), "{xml}");
    let sha1 = text(&proxy, "maven-all/org/ex/lib/maven-metadata.xml.sha1").await;
    assert_eq!(sha1, hex::encode(sha1::Sha1::digest(xml.as_bytes())));
    let denied = refused(&proxy, "maven-all/org/ex/lib/3.0/lib-3.0.jar").await;
    assert!(
        denied.contains(
            "org.ex:lib 3.0 is denied by the rule `org.ex:lib:3.0` of repository `maven-all`"
        ),
        "{denied}"
    );
    assert_eq!(b.count(http::Method::GET, "org/ex/lib/3.0/lib-3.0.jar"), 0);
    assert_eq!(
        proxy
            .get("maven-all/org/ex/lib/2.0/lib-2.0.jar")
            .await
            .status(),
        StatusCode::OK
    );
    // The test upstreams date every POM 2024-01-02: through the group's snapshot of the day
    // before, no version is left, and files answer 403 by the POM's `Last-Modified`.
    let snap = text(
        &proxy,
        "maven-all/@2024-01-01/org/ex/lib/maven-metadata.xml",
    )
    .await;
    assert!(!snap.contains("<version>"), "{snap}");
    let later = refused(&proxy, "maven-all/@2024-01-01/org/ex/lib/1.0/lib-1.0.jar").await;
    assert!(
        later.contains("after the snapshot date 2024-01-01"),
        "{later}"
    );
}

#[tokio::test]
async fn a_maven_group_s_cooldown_judges_versions_by_the_pom_its_members_serve() {
    // `a` has 1.0 (POM years old) and 1.1 (POM an hour old); the members have no rules.
    let a = TestUpstream::start().await;
    for (v, age) in [("1.0", YEARS), ("1.1", Duration::from_secs(3600))] {
        a.put_with_sha1(
            &format!("org/ex/lib/{v}/lib-{v}.pom"),
            format!("<project>{v}</project>"),
        );
        a.behave(
            &format!("org/ex/lib/{v}/lib-{v}.pom"),
            crate::support::Behavior {
                last_modified: Some(httpdate::fmt_http_date(SystemTime::now() - age)),
                ..crate::support::Behavior::default()
            },
        );
        a.put_with_sha1(&format!("org/ex/lib/{v}/lib-{v}.jar"), format!("jar {v}"));
    }
    let updated: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    a.put(
        "org/ex/lib/maven-metadata.xml",
        format!(
            "<metadata><groupId>org.ex</groupId><artifactId>lib</artifactId><versioning><latest>1.1</latest><release>1.1</release><versions><version>1.0</version><version>1.1</version></versions><lastUpdated>{updated}</lastUpdated></versioning></metadata>"
        ),
    );
    let proxy = Proxy::start_repos(vec![
        ("maven-a", maven(&[("a", &a, 0)])),
        (
            "maven-all",
            group(Kind::Maven, &["maven-a"], "min_age = \"7d\""),
        ),
    ])
    .await;
    let xml = text(&proxy, "maven-all/org/ex/lib/maven-metadata.xml").await;
    assert!(
        xml.contains("<version>1.0</version>")
            && !xml.contains("<version>1.1</version>")
            && xml.contains("<release>1.0</release>"),
        "{xml}"
    );
    let member = text(&proxy, "maven-a/org/ex/lib/maven-metadata.xml").await;
    assert!(member.contains("<version>1.1</version>"), "{member}");
    let young = refused(&proxy, "maven-all/org/ex/lib/1.1/lib-1.1.jar").await;
    assert!(
        young.contains("org.ex:lib 1.1 was published at") && young.contains("maven-all"),
        "{young}"
    );
    assert_eq!(
        proxy
            .get("maven-all/org/ex/lib/1.0/lib-1.0.jar")
            .await
            .status(),
        StatusCode::OK
    );
}
