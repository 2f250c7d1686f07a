//! Maven specifics: merged and revalidated `maven-metadata.xml`, mutable SNAPSHOT files,
//! `/.meta/prefixes.txt`, block rules, and Ivy-layout paths through the same endpoint.

use std::time::Duration;

use http::{Method, StatusCode, header};

use crate::support::{Behavior, Proxy, TestUpstream, bytes, client, maven};

const META: &str = "org/example/lib/maven-metadata.xml";

fn metadata(versions: &[&str]) -> String {
    let vs: String = versions
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    let last = versions.last().unwrap();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata><groupId>org.example</groupId><artifactId>lib</artifactId>\
         <versioning><latest>{last}</latest><release>{last}</release><versions>{vs}</versions>\
         <lastUpdated>20240101000000</lastUpdated></versioning></metadata>\n"
    )
}

#[tokio::test]
async fn metadata_is_merged_and_its_checksums_match_the_merge() {
    let (central, private) = (TestUpstream::start().await, TestUpstream::start().await);
    central.put(META, metadata(&["1.0", "1.1"]));
    private.put(META, metadata(&["1.1", "2.0-internal"]));
    let proxy = Proxy::start(maven(&[("central", &central, 0), ("private", &private, 1)])).await;
    let c = client();
    let xml = c
        .get(proxy.at(&format!("maven/{META}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for v in ["1.0", "1.1", "2.0-internal"] {
        assert!(xml.contains(&format!("<version>{v}</version>")), "{xml}");
    }
    assert_eq!(xml.matches("<version>1.1</version>").count(), 1);
    let sha1 = c
        .get(proxy.at(&format!("maven/{META}.sha1")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    use sha1::Digest;
    assert_eq!(sha1, hex::encode(sha1::Sha1::digest(xml.as_bytes())));
    let md5 = c
        .get(proxy.at(&format!("maven/{META}.md5")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(md5.len(), 32);
    assert_eq!(
        central.count(Method::GET, &format!("{META}.sha1")),
        0,
        "checksums come from the merge"
    );
    assert_eq!(central.count(Method::GET, META), 1);
}

#[tokio::test]
async fn metadata_is_revalidated_after_its_ttl_and_served_stale_when_upstream_fails() {
    let up = TestUpstream::start().await;
    up.put(META, metadata(&["1.0"]));
    let mut repo = maven(&[("a", &up, 0)]);
    repo.metadata_ttl = Some(Duration::from_secs(1));
    let proxy = Proxy::start(repo).await;
    let c = client();
    let get = || c.get(proxy.at(&format!("maven/{META}"))).send();
    assert!(get().await.unwrap().text().await.unwrap().contains("1.0"));
    get().await.unwrap();
    assert_eq!(
        up.count(Method::GET, META),
        1,
        "fresh metadata is served from the cache"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(get().await.unwrap().text().await.unwrap().contains("1.0"));
    let log = up.log();
    let last = log.iter().rev().find(|l| l.path == META).unwrap();
    assert!(
        last.headers.contains_key(header::IF_NONE_MATCH),
        "revalidation is conditional"
    );

    up.put(META, metadata(&["1.0", "1.1"]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        get().await.unwrap().text().await.unwrap().contains("1.1"),
        "a changed file is picked up"
    );

    up.behave_always(Behavior {
        status: Some(503),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text().await.unwrap().contains("1.1"),
        "stale metadata is served when upstream fails"
    );
}

#[tokio::test]
async fn non_unique_snapshots_are_revalidated_timestamped_ones_are_not() {
    let up = TestUpstream::start().await;
    let snap = "org/example/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.jar";
    let stamped = "org/example/lib/1.0-SNAPSHOT/lib-1.0-20240115.093012-7.jar";
    up.put(snap, bytes(100, 1)).put(stamped, bytes(100, 2));
    let mut repo = maven(&[("a", &up, 0)]);
    repo.metadata_ttl = Some(Duration::from_secs(1));
    let proxy = Proxy::start(repo).await;
    let c = client();
    for p in [snap, stamped] {
        c.get(proxy.at(&format!("maven/{p}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    up.put(snap, bytes(100, 3));
    let new = c
        .get(proxy.at(&format!("maven/{snap}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(new, bytes(100, 3));
    c.get(proxy.at(&format!("maven/{stamped}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(up.count(Method::GET, stamped), 1);
}

#[tokio::test]
async fn prefixes_file_and_blocked_paths_are_404_without_upstream() {
    let up = TestUpstream::start().await;
    up.put(".meta/prefixes.txt", "## repository-prefixes/2.0\n/org\n");
    up.put("org/example/lib/1.0/lib-1.0-javadoc.jar", bytes(10, 1));
    let mut repo = maven(&[("a", &up, 0)]);
    repo.block = vec!["**/*-javadoc.jar".into()];
    let proxy = Proxy::start(repo).await;
    let c = client();
    for p in [
        ".meta/prefixes.txt",
        "org/example/lib/1.0/lib-1.0-javadoc.jar",
    ] {
        let r = c.get(proxy.at(&format!("maven/{p}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
    }
    assert_eq!(up.total(), 0);
}

#[tokio::test]
async fn ivy_layout_paths_work_through_the_same_endpoint() {
    let up = TestUpstream::start().await;
    let ivy = "com.github.ddispaltro/sbt-reactjs/scala_2.10/sbt_0.13/0.6.8/ivys/ivy.xml";
    let jar = "com.github.ddispaltro/sbt-reactjs/scala_2.10/sbt_0.13/0.6.8/jars/sbt-reactjs.jar";
    up.put(ivy, "<ivy-module version=\"2.0\"/>")
        .put(jar, bytes(1000, 5));
    let proxy = Proxy::start(maven(&[("a", &up, 0)])).await;
    let c = client();
    let r = c
        .get(proxy.at(&format!("maven/{ivy}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "<ivy-module version=\"2.0\"/>");
    let r = c
        .get(proxy.at(&format!("maven/{jar}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), bytes(1000, 5));
}

#[tokio::test]
async fn directory_listings_are_cached_as_mutable() {
    let up = TestUpstream::start().await;
    up.put("org/example/lib/", "<html><a href=\"1.0/\">1.0/</a></html>");
    let mut repo = maven(&[("a", &up, 0)]);
    repo.metadata_ttl = Some(Duration::from_secs(60));
    let proxy = Proxy::start(repo).await;
    let c = client();
    for _ in 0..2 {
        let r = c
            .get(proxy.at("maven/org/example/lib/"))
            .send()
            .await
            .unwrap();
        assert!(r.text().await.unwrap().contains("1.0/"));
    }
    assert_eq!(up.count(Method::GET, "org/example/lib/"), 1);
}
