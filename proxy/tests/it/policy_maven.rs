//! Maven under policies: a denied `group:artifact:version` answers 403 for every file of the
//! version, and a snapshot date or a cooldown judges a version by its POM's `Last-Modified`
//! (the test upstream sends 2024-01-02 unless told otherwise). `maven-metadata.xml` leaves
//! refused versions out, so that ranges and `LATEST`/`RELEASE` resolve an allowed one.

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use repox_proxy::config::{Kind, RepositoryConfig};
use sha1::{Digest, Sha1};

use crate::support::{Behavior, Proxy, TestUpstream, maven};

#[tokio::test]
async fn denied_versions_and_versions_after_a_snapshot_answer_403() {
    let up = TestUpstream::start().await;
    for v in ["1.0", "2.0"] {
        up.put_with_sha1(
            &format!("org/ex/lib/{v}/lib-{v}.pom"),
            format!("<project>{v}</project>"),
        );
        up.put_with_sha1(&format!("org/ex/lib/{v}/lib-{v}.jar"), format!("jar {v}"));
    }
    let mut config: RepositoryConfig =
        toml::from_str("kind = \"maven\"\ndeny = [\"org.ex:lib:2.0\"]").unwrap();
    config.upstreams = maven(&[("central", &up, 0)]).upstreams;
    let proxy = Proxy::start(config).await;
    let denied = proxy.get("maven/org/ex/lib/2.0/lib-2.0.jar").await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let why = denied.text().await.unwrap();
    assert!(
        why.contains("org.ex:lib 2.0 is denied by the rule `org.ex:lib:2.0`"),
        "{why}"
    );
    assert_eq!(up.count(http::Method::GET, "org/ex/lib/2.0/lib-2.0.jar"), 0);
    assert_eq!(
        proxy.get("maven/org/ex/lib/1.0/lib-1.0.jar").await.status(),
        StatusCode::OK
    );

    let before = proxy
        .get("maven/@2024-01-01/org/ex/lib/1.0/lib-1.0.jar")
        .await;
    assert_eq!(before.status(), StatusCode::FORBIDDEN);
    let why = before.text().await.unwrap();
    assert!(
        why.contains("published at 2024-01-02T03:04:05Z, after the snapshot date 2024-01-01"),
        "{why}"
    );
    let after = proxy
        .get("maven/@2024-01-03/org/ex/lib/1.0/lib-1.0.jar")
        .await;
    assert_eq!(after.status(), StatusCode::OK);
}

/// `yyyyMMddHHmmss` of `secs` ago, as `<lastUpdated>` writes it.
fn stamp(ago: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - ago)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

fn metadata(artifact: &str, versions: &[&str], updated: Duration) -> String {
    let vs: String = versions
        .iter()
        .map(|v| format!("      <version>{v}</version>\n"))
        .collect();
    let last = versions.last().unwrap();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>org.ex</groupId>\n  \
         <artifactId>{artifact}</artifactId>\n  <versioning>\n    <latest>{last}</latest>\n    \
         <release>{last}</release>\n    <versions>\n{vs}    </versions>\n    \
         <lastUpdated>{}</lastUpdated>\n  </versioning>\n</metadata>\n",
        stamp(updated)
    )
}

/// Serves `versions` of `org.ex:artifact` (POM and jar, each POM with `Last-Modified` that
/// long ago) and their `maven-metadata.xml`, last updated when the newest one was; returns its
/// `<lastUpdated>` element.
fn publish(up: &TestUpstream, artifact: &str, versions: &[(&str, Duration)]) -> String {
    for (v, ago) in versions {
        let pom = format!("org/ex/{artifact}/{v}/{artifact}-{v}.pom");
        up.put_with_sha1(&pom, format!("<project>{v}</project>"));
        up.behave(
            &pom,
            Behavior {
                last_modified: Some(httpdate::fmt_http_date(SystemTime::now() - *ago)),
                ..Behavior::default()
            },
        );
        up.put_with_sha1(
            &format!("org/ex/{artifact}/{v}/{artifact}-{v}.jar"),
            format!("jar {v}"),
        );
    }
    let newest = versions.iter().map(|(_, ago)| *ago).min().unwrap();
    let names: Vec<&str> = versions.iter().map(|(v, _)| *v).collect();
    let xml = metadata(artifact, &names, newest);
    up.put(
        &format!("org/ex/{artifact}/maven-metadata.xml"),
        xml.clone(),
    );
    let line = xml.lines().find(|l| l.contains("<lastUpdated>")).unwrap();
    line.trim().to_owned()
}

fn listed(xml: &str) -> Vec<&str> {
    xml.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("<version>")?
                .strip_suffix("</version>")
        })
        .collect()
}

const DAY: Duration = Duration::from_secs(86400);

#[tokio::test]
async fn metadata_leaves_out_young_and_denied_versions_and_moves_release() {
    let up = TestUpstream::start().await;
    let updated = publish(
        &up,
        "lib",
        &[("1.0", 400 * DAY), ("1.1", 300 * DAY), ("1.2", DAY)],
    );
    publish(&up, "old", &[("1.0", 400 * DAY), ("2.0", 300 * DAY)]);
    let mut config: RepositoryConfig = toml::from_str(
        "kind = \"maven\"\nmin_age = \"7d\"\ndeny = [\"org.ex:lib:1.1\", \"org.ex:old:2.0\"]",
    )
    .unwrap();
    config.upstreams = maven(&[("central", &up, 0)]).upstreams;
    let proxy = Proxy::start(config).await;

    let resp = proxy.get("maven/org/ex/lib/maven-metadata.xml").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let xml = resp.text().await.unwrap();
    assert_eq!(listed(&xml), ["1.0"], "{xml}");
    assert!(xml.contains("<latest>1.0</latest>"), "{xml}");
    assert!(xml.contains("<release>1.0</release>"), "{xml}");
    assert!(xml.contains(&updated), "{updated} is kept: {xml}");
    // The checksum is the served document's, so `mvn --strict-checksums` accepts it.
    let sha1 = proxy
        .get("maven/org/ex/lib/maven-metadata.xml.sha1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(sha1, hex::encode(Sha1::digest(xml.as_bytes())));
    // The young version's POM told its age; the denied one's was never asked.
    assert_eq!(up.count(Method::GET, "org/ex/lib/1.2/lib-1.2.pom"), 1);
    assert_eq!(up.count(Method::GET, "org/ex/lib/1.1/lib-1.1.pom"), 0);
    // Served again from memory: no POM asked twice.
    let again = proxy.get("maven/org/ex/lib/maven-metadata.xml").await;
    assert_eq!(again.text().await.unwrap(), xml);
    assert_eq!(up.count(Method::GET, "org/ex/lib/1.0/lib-1.0.pom"), 1);
    // The listing and the files agree.
    for (v, status) in [
        ("1.0", StatusCode::OK),
        ("1.1", StatusCode::FORBIDDEN),
        ("1.2", StatusCode::FORBIDDEN),
    ] {
        let path = format!("maven/org/ex/lib/{v}/lib-{v}.jar");
        assert_eq!(proxy.get(&path).await.status(), status, "{path}");
    }

    // Last updated long ago: no version can be young, no POM is asked; deny still applies.
    let xml = proxy
        .get("maven/org/ex/old/maven-metadata.xml")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(listed(&xml), ["1.0"], "{xml}");
    assert!(xml.contains("<release>1.0</release>"), "{xml}");
    let poms = up
        .log()
        .iter()
        .filter(|l| l.path.starts_with("org/ex/old/") && l.path.ends_with(".pom"))
        .count();
    assert_eq!(poms, 0);

    // A snapshot date between 1.1 and 1.2 hides 1.2 by its POM as well.
    let snapshot = humantime::format_rfc3339(SystemTime::now() - 100 * DAY).to_string();
    let xml = proxy
        .get(&format!(
            "maven/@{}/org/ex/lib/maven-metadata.xml",
            &snapshot[..10]
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(listed(&xml), ["1.0"], "{xml}");
}

#[tokio::test]
async fn a_group_merges_its_members_filtered_metadata() {
    let central = TestUpstream::start().await;
    publish(&central, "lib", &[("1.0", 400 * DAY), ("1.2", DAY)]);
    let other = TestUpstream::start().await;
    publish(&other, "lib", &[("0.9", 500 * DAY)]);
    let mut guarded: RepositoryConfig =
        toml::from_str("kind = \"maven\"\nmin_age = \"7d\"").unwrap();
    guarded.upstreams = maven(&[("central", &central, 0)]).upstreams;
    let group = RepositoryConfig {
        members: vec![
            serde_json::from_value(serde_json::json!("central")).unwrap(),
            serde_json::from_value(serde_json::json!("other")).unwrap(),
        ],
        ..RepositoryConfig::new(Kind::Maven)
    };
    let proxy = Proxy::start_repos(vec![
        ("central", guarded),
        ("other", maven(&[("other", &other, 0)])),
        ("public", group),
    ])
    .await;
    let xml = proxy
        .get("public/org/ex/lib/maven-metadata.xml")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(listed(&xml), ["0.9", "1.0"], "{xml}");
    assert!(xml.contains("<release>1.0</release>"), "{xml}");
    assert!(xml.contains("<latest>1.0</latest>"), "{xml}");
}
