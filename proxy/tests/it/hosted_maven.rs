//! Hosted Maven and Maven groups on a running server: deploys by PUT (artifacts, POMs,
//! checksums, client metadata), generated `maven-metadata.xml` at artifact and SNAPSHOT level,
//! 409 on redeploying a release unless `allow_redeploy`, checksum mismatches refused, and a group
//! that merges metadata and keeps an upstream's versions of a hosted artifact out.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{StatusCode, header};
use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{AuthConfig, Config, Kind, RepoName, RepositoryConfig, ServerConfig};
use sha1::{Digest, Sha1};
use url::Url;

use crate::hosted_pypi::basic;
use crate::support::{TestUpstream, client, maven};

/// `releases` (hosted), `central` (a proxy of `upstream`) and `public` (the group of both).
struct Team {
    url: Url,
    _dir: tempfile::TempDir,
}

fn name(s: &str) -> RepoName {
    serde_json::from_value(serde_json::json!(s)).unwrap()
}

impl Team {
    async fn start(upstream: &TestUpstream, redeploy: bool, shadowing: bool) -> Team {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        let mut file = UsersFile::default();
        file.add_user("alice", Role::Write, Some("alice-pw"), BTreeMap::new())
            .unwrap();
        file.add_user("reader", Role::Read, Some("reader-pw"), BTreeMap::new())
            .unwrap();
        file.save(&users).unwrap();
        let hosted = RepositoryConfig {
            hosted: true,
            allow_redeploy: redeploy,
            ..RepositoryConfig::new(Kind::Maven)
        };
        let group = RepositoryConfig {
            members: vec![name("releases"), name("central")],
            allow_shadowing: shadowing,
            ..RepositoryConfig::new(Kind::Maven)
        };
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(dir.path().join("cache")),
                ..ServerConfig::default()
            },
            repositories: BTreeMap::from([
                (name("releases"), hosted),
                (name("central"), maven(&[("up", upstream, 0)])),
                (name("public"), group),
            ]),
            auth: AuthConfig {
                users_file: Some(users),
                ..AuthConfig::default()
            },
            storage: Default::default(),
        };
        let server = repox_proxy::Server::bind(config).await.unwrap();
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        tokio::spawn(server.run(std::future::pending()));
        Team { url, _dir: dir }
    }

    async fn put(&self, path: &str, body: impl Into<Bytes>) -> StatusCode {
        self.put_as(path, body, Some(&basic("alice", "alice-pw")))
            .await
    }

    async fn put_as(&self, path: &str, body: impl Into<Bytes>, auth: Option<&str>) -> StatusCode {
        let mut req = client().put(self.url.join(path).unwrap()).body(body.into());
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.send().await.unwrap().status()
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = client()
            .get(self.url.join(path).unwrap())
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// Deploys `g/a/v` the way `mvn deploy` does: jar, its checksums, POM, its checksums, then
    /// the metadata Maven computed.
    async fn deploy(&self, repo: &str, dir: &str, file: &str, jar: &str) -> StatusCode {
        let base = format!("{repo}/{dir}/{file}");
        for (suffix, body) in [
            ("jar", jar.to_owned()),
            ("pom", format!("<project>{file}</project>")),
        ] {
            let path = format!("{base}.{suffix}");
            let status = self.put(&path, body.clone()).await;
            if status != StatusCode::CREATED {
                return status;
            }
            let sha1 = hex::encode(Sha1::digest(body.as_bytes()));
            assert_eq!(
                self.put(&format!("{path}.sha1"), sha1).await,
                StatusCode::CREATED
            );
        }
        let meta = format!(
            "{repo}/{}/maven-metadata.xml",
            dir.rsplit_once('/').unwrap().0
        );
        assert_eq!(self.put(&meta, "<metadata/>").await, StatusCode::CREATED);
        StatusCode::CREATED
    }
}

fn versions(xml: &str) -> Vec<&str> {
    xml.split("<version>")
        .skip(1)
        .filter_map(|s| s.split("</version>").next())
        .collect()
}

#[tokio::test]
async fn deploys_generate_metadata_and_a_release_is_not_replaced() {
    let upstream = TestUpstream::start().await;
    let team = Team::start(&upstream, false, false).await;
    let dir = "org/acme/lib/1.0";
    assert_eq!(
        team.put_as("releases/org/acme/lib/1.0/lib-1.0.jar", "x", None)
            .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        team.put_as(
            "releases/org/acme/lib/1.0/lib-1.0.jar",
            "x",
            Some(&basic("reader", "reader-pw"))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        team.deploy("releases", dir, "lib-1.0", "v1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        team.deploy("releases", "org/acme/lib/1.10", "lib-1.10", "v2")
            .await,
        StatusCode::CREATED
    );
    let (status, xml) = team.get("releases/org/acme/lib/maven-metadata.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions(&xml), ["1.0", "1.10"]);
    assert!(xml.contains("<release>1.10</release>"), "{xml}");
    assert!(xml.contains("<groupId>org.acme</groupId>"), "{xml}");
    let (_, sha1) = team
        .get("releases/org/acme/lib/maven-metadata.xml.sha1")
        .await;
    assert_eq!(sha1, hex::encode(Sha1::digest(xml.as_bytes())));
    let (status, jar) = team.get("releases/org/acme/lib/1.0/lib-1.0.jar").await;
    assert_eq!((status, jar.as_str()), (StatusCode::OK, "v1"));
    let (_, jar_sha1) = team.get("releases/org/acme/lib/1.0/lib-1.0.jar.sha1").await;
    assert_eq!(jar_sha1, hex::encode(Sha1::digest(b"v1")));

    // The second deploy of the release: 409, the first bytes stay.
    assert_eq!(
        team.deploy("releases", dir, "lib-1.0", "other").await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        team.get("releases/org/acme/lib/1.0/lib-1.0.jar").await.1,
        "v1"
    );

    // A checksum that does not match the file just deployed: refused, and the file removed.
    let path = "releases/org/acme/lib/2.0/lib-2.0.jar";
    assert_eq!(team.put(path, "v3").await, StatusCode::CREATED);
    assert_eq!(
        team.put(&format!("{path}.sha1"), "0".repeat(40)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(team.get(path).await.0, StatusCode::NOT_FOUND);
    // A checksum header that does not match: nothing stored.
    let resp = client()
        .put(team.url.join(path).unwrap())
        .header(header::AUTHORIZATION, basic("alice", "alice-pw"))
        .header("X-Checksum-Sha1", "1".repeat(40))
        .body("v3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(team.get(path).await.0, StatusCode::NOT_FOUND);

    let open = Team::start(&upstream, true, false).await;
    assert_eq!(
        open.deploy("releases", dir, "lib-1.0", "v1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        open.deploy("releases", dir, "lib-1.0", "v2").await,
        StatusCode::CREATED
    );
    assert_eq!(
        open.get("releases/org/acme/lib/1.0/lib-1.0.jar").await.1,
        "v2"
    );
}

#[tokio::test]
async fn snapshots_are_unique_and_get_version_level_metadata() {
    let upstream = TestUpstream::start().await;
    let team = Team::start(&upstream, false, false).await;
    let dir = "releases/org/acme/app/1.0-SNAPSHOT";
    for (stamp, body) in [("20240101.120000-1", "a"), ("20240102.080000-2", "b")] {
        for ext in ["jar", "pom"] {
            let path = format!("{dir}/app-1.0-{stamp}.{ext}");
            assert_eq!(team.put(&path, body).await, StatusCode::CREATED);
        }
    }
    let (status, xml) = team.get(&format!("{dir}/maven-metadata.xml")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        xml.contains("<timestamp>20240102.080000</timestamp>"),
        "{xml}"
    );
    assert!(xml.contains("<buildNumber>2</buildNumber>"), "{xml}");
    assert_eq!(
        xml.matches("<value>1.0-20240102.080000-2</value>").count(),
        2,
        "{xml}"
    );
    let (_, top) = team.get("releases/org/acme/app/maven-metadata.xml").await;
    assert_eq!(versions(&top), ["1.0-SNAPSHOT"]);
    assert!(!top.contains("<release>"), "{top}");
    // A SNAPSHOT file may be deployed again.
    let again = format!("{dir}/app-1.0-20240102.080000-2.jar");
    assert_eq!(team.put(&again, "c").await, StatusCode::CREATED);
}

#[tokio::test]
async fn a_group_merges_metadata_and_keeps_upstream_versions_of_hosted_artifacts_out() {
    let upstream = TestUpstream::start().await;
    let remote_meta = |a: &str, vs: &[&str]| {
        let list: String = vs
            .iter()
            .map(|v| format!("<version>{v}</version>"))
            .collect();
        format!(
            "<?xml version=\"1.0\"?><metadata><groupId>org.acme</groupId><artifactId>{a}</artifactId>\
             <versioning><latest>{0}</latest><release>{0}</release><versions>{list}</versions>\
             <lastUpdated>20200101000000</lastUpdated></versioning></metadata>",
            vs.last().unwrap()
        )
    };
    upstream.put_with_sha1(
        "org/acme/lib/maven-metadata.xml",
        remote_meta("lib", &["99.0"]),
    );
    upstream.put_with_sha1("org/acme/lib/99.0/lib-99.0.jar", "evil");
    upstream.put_with_sha1(
        "org/acme/public/maven-metadata.xml",
        remote_meta("public", &["3.0"]),
    );
    upstream.put_with_sha1("org/acme/public/3.0/public-3.0.jar", "pub");

    let team = Team::start(&upstream, false, false).await;
    team.deploy("releases", "org/acme/lib/1.0", "lib-1.0", "mine")
        .await;
    let (status, xml) = team.get("public/org/acme/lib/maven-metadata.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions(&xml), ["1.0"]);
    assert_eq!(
        team.get("public/org/acme/lib/99.0/lib-99.0.jar").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        team.get("public/org/acme/lib/1.0/lib-1.0.jar").await.1,
        "mine"
    );
    assert_eq!(
        upstream.count(http::Method::GET, "org/acme/lib/99.0/lib-99.0.jar"),
        0,
        "the upstream is never asked for a hosted artifact"
    );
    let (status, xml) = team.get("public/org/acme/public/maven-metadata.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions(&xml), ["3.0"]);
    assert_eq!(
        team.get("public/org/acme/public/3.0/public-3.0.jar")
            .await
            .1,
        "pub"
    );
    assert!(upstream.count(http::Method::GET, "org/acme/public/3.0/public-3.0.jar") >= 1);

    // With `allow_shadowing`, the versions of both are merged.
    let open = Team::start(&upstream, false, true).await;
    open.deploy("releases", "org/acme/lib/1.0", "lib-1.0", "mine")
        .await;
    let (_, xml) = open.get("public/org/acme/lib/maven-metadata.xml").await;
    assert_eq!(versions(&xml), ["1.0", "99.0"]);
    let (_, sha1) = open
        .get("public/org/acme/lib/maven-metadata.xml.sha1")
        .await;
    assert_eq!(sha1, hex::encode(Sha1::digest(xml.as_bytes())));
}

/// sbt's `publishTo` with an Ivy pattern uses the same PUTs on other paths: stored as they are,
/// served from the group, never given Maven metadata.
#[tokio::test]
async fn ivy_layout_publishing_works_on_the_same_endpoint() {
    let upstream = TestUpstream::start().await;
    let team = Team::start(&upstream, false, false).await;
    for (path, body) in [
        ("org.acme/tool/1.0/ivys/ivy.xml", "<ivy-module/>"),
        ("org.acme/tool/1.0/jars/tool.jar", "jar"),
    ] {
        assert_eq!(
            team.put(&format!("releases/{path}"), body).await,
            StatusCode::CREATED
        );
        let sha1 = hex::encode(Sha1::digest(body.as_bytes()));
        assert_eq!(
            team.put(&format!("releases/{path}.sha1"), sha1.clone())
                .await,
            StatusCode::CREATED
        );
        assert_eq!(
            team.get(&format!("public/{path}")).await,
            (StatusCode::OK, body.to_owned())
        );
        assert_eq!(team.get(&format!("public/{path}.sha1")).await.1, sha1);
    }
    assert_eq!(
        team.put("releases/org.acme/tool/1.0/jars/tool.jar", "other")
            .await,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn group_metadata_is_merged_again_only_when_a_member_changed() {
    let upstream = TestUpstream::start().await;
    upstream.put_with_sha1(
        "org/acme/lib/maven-metadata.xml",
        "<?xml version=\"1.0\"?><metadata><groupId>org.acme</groupId><artifactId>lib</artifactId>\
         <versioning><versions><version>0.9</version></versions></versioning></metadata>",
    );
    let team = Team::start(&upstream, false, true).await;
    team.deploy("releases", "org/acme/lib/1.0", "lib-1.0", "one")
        .await;
    let get = |path: &'static str| {
        let req = client().get(team.url.join(path).unwrap());
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let cache = resp.headers()["x-repox-cache"].to_str().unwrap().to_owned();
            (cache, resp.text().await.unwrap())
        }
    };
    let meta = "public/org/acme/lib/maven-metadata.xml";
    let mut merges = 0;
    let mut xml = String::new();
    for _ in 0..3 {
        let (cache, body) = get(meta).await;
        merges += usize::from(cache == "miss");
        assert_eq!(versions(&body), ["0.9", "1.0"]);
        xml = body;
    }
    assert_eq!(merges, 1, "merged once for three requests");
    let (cache, sha1) = get("public/org/acme/lib/maven-metadata.xml.sha1").await;
    assert_eq!(cache, "hit", "the checksum is computed from the kept merge");
    assert_eq!(sha1, hex::encode(Sha1::digest(xml.as_bytes())));

    team.deploy("releases", "org/acme/lib/1.1", "lib-1.1", "two")
        .await;
    let (cache, body) = get(meta).await;
    assert_eq!(cache, "miss", "a deploy changed the hosted member");
    assert_eq!(versions(&body), ["0.9", "1.0", "1.1"]);
    assert_eq!(get(meta).await.0, "hit");
}
