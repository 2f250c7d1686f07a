//! Maven under policies: a denied `group:artifact:version` answers 403 for every file of the
//! version, and a snapshot date judges a version by its POM's `Last-Modified` (the test
//! upstream sends 2024-01-02 for everything).

use http::StatusCode;
use repox_proxy::config::RepositoryConfig;

use crate::support::{Proxy, TestUpstream, maven};

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
