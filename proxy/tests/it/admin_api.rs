//! The admin API (`/-/api/`) and the console (`/-/ui/`) on a running server: stats and the feed
//! after real requests, cache listing, search, tree, deletion and purges, the negative cache,
//! the CSRF rule, refusal of bad input, permissions with authentication on, and what `/` and a
//! bare repository root answer.

use std::collections::BTreeMap;

use base64::Engine;
use http::{Method, StatusCode, header};
use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{Anonymous, AuthConfig, Config, RepoName, ServerConfig};
use serde_json::Value;
use url::Url;

use crate::support::{Proxy, TestUpstream, client, maven};

const JAR: &str = "org/x/lib/1.0/lib-1.0.jar";
const OTHER: &str = "org/y/app/2.0/app-2.0.jar";

async fn upstream() -> TestUpstream {
    let up = TestUpstream::start().await;
    up.put_with_sha1(JAR, "jar bytes");
    up.put_with_sha1(OTHER, "other jar");
    up
}

/// `method path` with the CSRF header (and JSON `body`); returns status and JSON.
async fn call(
    proxy: &Proxy,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client()
        .request(method.clone(), proxy.at(path))
        .header("x-repox-csrf", "1");
    if let Some(body) = body {
        req = req
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{method} {path}: not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

/// Waits (bounded) until `path` is a committed cache entry: the client may get the last byte
/// of a download just before the fill commits it.
async fn committed(proxy: &Proxy, path: &str) {
    for _ in 0..200 {
        let found = get_json(proxy, &format!("-/api/cache/maven?prefix={path}")).await;
        if found["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["path"] == path))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{path} was never committed");
}

async fn get_json(proxy: &Proxy, path: &str) -> Value {
    let (status, json) = call(proxy, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {json}");
    json
}

#[tokio::test]
async fn stats_count_hits_bytes_and_upstream_latency_and_the_feed_shows_requests() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    let resp = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    committed(&proxy, JAR).await;
    let resp = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        proxy.get("maven/org/nope/1/nope-1.jar").await.status(),
        StatusCode::NOT_FOUND
    );

    let stats = get_json(&proxy, "-/api/stats").await;
    let m = &stats["repositories"]["maven"];
    assert_eq!(m["kind"], "maven");
    assert_eq!(m["requests"], 3);
    assert_eq!(m["hits"], 1);
    assert_eq!(m["bytes_served"], 18);
    assert_eq!(
        m["bytes_fetched"], 9,
        "the jar (its .sha1 is a sidecar): {m}"
    );
    assert_eq!(m["bytes_saved"], 9);
    assert_eq!(m["history"].as_array().unwrap().len(), 60);
    assert_eq!(m["history"][59][1], 3, "this minute: {}", m["history"][59]);
    assert!(m["cache_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));

    let one = get_json(&proxy, "-/api/stats/maven").await;
    assert_eq!(one["requests"], 3);
    let (status, missing) = call(&proxy, Method::GET, "-/api/stats/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        missing["error"].as_str().unwrap().contains("maven"),
        "{missing}"
    );

    // The 404 is remembered as the fill ends, which may be just after the answer went out.
    let mut ups = get_json(&proxy, "-/api/upstreams").await;
    for _ in 0..100 {
        if ups["upstreams"][0]["negative_entries"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        ups = get_json(&proxy, "-/api/upstreams").await;
    }
    let central = &ups["upstreams"][0];
    assert_eq!(central["name"], "central");
    assert_eq!(central["state"], "up");
    assert!(central["requests"].as_u64().unwrap() >= 2, "{central}");
    assert!(central["p50_ms"].as_u64().is_some(), "{central}");
    assert_eq!(central["negative_entries"], 1, "{central}");

    let feed = get_json(&proxy, "-/api/requests?after=0").await;
    let reqs = feed["requests"].as_array().unwrap();
    assert_eq!(
        reqs.len(),
        3,
        "the console's own /-/ calls are not in the feed: {feed}"
    );
    assert_eq!(reqs[0]["path"], format!("/maven/{JAR}"));
    assert_eq!(reqs[0]["cache"], "miss");
    assert_eq!(reqs[0]["upstream"], "central");
    assert_eq!(reqs[1]["cache"], "hit");
    assert_eq!(reqs[2]["status"], 404);
    let last = feed["last"].as_u64().unwrap();
    let none = get_json(&proxy, &format!("-/api/requests?after={last}")).await;
    assert!(none["requests"].as_array().unwrap().is_empty());
    let (status, _) = call(&proxy, Method::GET, "-/api/requests?after=x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A long poll returns as soon as a request arrives.
    let waiting = {
        let url = proxy.at(&format!("-/api/requests?after={last}&wait=30"));
        tokio::spawn(async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    proxy.get(&format!("maven/{JAR}")).await;
    let woke: Value = serde_json::from_str(&waiting.await.unwrap()).unwrap();
    assert_eq!(woke["requests"][0]["path"], format!("/maven/{JAR}"));
}

#[tokio::test]
async fn the_cache_is_listed_searched_and_entries_deleted_and_purged() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    for path in [JAR, OTHER] {
        assert_eq!(
            proxy.get(&format!("maven/{path}")).await.status(),
            StatusCode::OK
        );
        committed(&proxy, path).await;
    }
    let tree = get_json(&proxy, "-/api/cache/maven?tree=1").await;
    assert_eq!(tree["dirs"], serde_json::json!(["org/"]), "{tree}");
    let tree = get_json(&proxy, "-/api/cache/maven?tree=1&prefix=org/").await;
    assert_eq!(
        tree["dirs"],
        serde_json::json!(["org/x/", "org/y/"]),
        "{tree}"
    );

    let found = get_json(&proxy, "-/api/cache/maven?q=LIB-1.0.JAR").await;
    let entries = found["entries"].as_array().unwrap();
    let jar = entries
        .iter()
        .find(|e| e["path"] == JAR)
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(jar["upstream"], "central");
    assert_eq!(jar["verification"], "sha1");
    assert!(jar["size"].as_u64().unwrap() >= 9);
    assert!(jar["fetched_at"].as_u64().is_some() && jar["last_access"].as_u64().is_some());
    assert!(
        entries
            .iter()
            .all(|e| e["path"].as_str().unwrap().contains("lib-1.0.jar"))
    );

    let page = get_json(&proxy, "-/api/cache/maven?limit=1").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap().to_owned();
    let page2 = get_json(&proxy, &format!("-/api/cache/maven?limit=1&cursor={next}")).await;
    assert_ne!(page2["entries"][0]["path"], page["entries"][0]["path"]);

    // Delete: gone from the listing, and the next request fetches it again.
    let (status, deleted) = call(
        &proxy,
        Method::DELETE,
        &format!("-/api/cache/maven/{JAR}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let found = get_json(&proxy, "-/api/cache/maven?q=lib-1.0.jar").await;
    assert!(
        found["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["path"] != JAR),
        "{found}"
    );
    let (status, _) = call(
        &proxy,
        Method::DELETE,
        &format!("-/api/cache/maven/{JAR}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(up.count(Method::GET, JAR), 2);

    // Refusals.
    for (method, path, body) in [
        (Method::DELETE, "-/api/cache/maven/org/a%2F..%2Fb", None),
        (Method::GET, "-/api/cache/maven?prefix=../", None),
        (
            Method::POST,
            "-/api/cache/maven/purge",
            Some(serde_json::json!({"prefix": ""})),
        ),
        (
            Method::POST,
            "-/api/cache/maven/purge",
            Some(serde_json::json!({"prefix": "a", "project": "b"})),
        ),
        (
            Method::POST,
            "-/api/cache/maven/purge",
            Some(serde_json::json!({"nope": 1})),
        ),
        (
            Method::POST,
            "-/api/cache/maven/purge",
            Some(serde_json::json!({"project": "a/b"})),
        ),
    ] {
        let (status, json) = call(&proxy, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.contains('\n')),
            "{json}"
        );
    }
    let (status, _) = call(&proxy, Method::GET, "-/api/cache/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&proxy, Method::GET, "-/api/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Purge a project, then a prefix.
    let (status, purged) = call(
        &proxy,
        Method::POST,
        "-/api/cache/maven/purge",
        Some(serde_json::json!({"project": "org.x:lib"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert!(purged["entries"].as_u64().unwrap() >= 1, "{purged}");
    let left = get_json(&proxy, "-/api/cache/maven").await;
    let left: Vec<&str> = left["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(left.iter().all(|p| !p.starts_with("org/x/")), "{left:?}");
    assert!(left.contains(&OTHER), "{left:?}");
    let (status, purged) = call(
        &proxy,
        Method::POST,
        "-/api/cache/maven/purge",
        Some(serde_json::json!({"prefix": "org/y/"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(purged["entries"].as_u64().unwrap() >= 1);
    let empty = get_json(&proxy, "-/api/cache/maven").await;
    assert!(empty["entries"].as_array().unwrap().is_empty(), "{empty}");
}

#[tokio::test]
async fn the_negative_cache_is_listed_and_cleared() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    let missing = "org/nope/1/nope-1.jar";
    assert_eq!(
        proxy.get(&format!("maven/{missing}")).await.status(),
        StatusCode::NOT_FOUND
    );
    // Remembered as the fill ends, which may be just after the answer went out.
    let mut listed = get_json(&proxy, "-/api/negative/maven").await;
    for _ in 0..100 {
        if !listed["entries"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        listed = get_json(&proxy, "-/api/negative/maven").await;
    }
    proxy.get(&format!("maven/{missing}")).await;
    assert_eq!(
        up.count(Method::GET, missing),
        1,
        "the second 404 came from the negative cache"
    );
    assert_eq!(listed["entries"][0]["path"], missing, "{listed}");
    assert_eq!(listed["entries"][0]["upstream"], "central");
    let (status, _) = call(
        &proxy,
        Method::DELETE,
        "-/api/negative/maven?prefix=..%2Fx",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, cleared) = call(
        &proxy,
        Method::DELETE,
        "-/api/negative/maven?prefix=org/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["cleared"], 1);
    proxy.get(&format!("maven/{missing}")).await;
    assert_eq!(
        up.count(Method::GET, missing),
        2,
        "cleared: the upstream is asked again"
    );
}

#[tokio::test]
async fn state_changes_need_the_csrf_header_from_the_same_origin() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    proxy.get(&format!("maven/{JAR}")).await;
    committed(&proxy, JAR).await;
    let path = proxy.at(&format!("-/api/cache/maven/{JAR}"));
    let own = proxy.url.as_str().trim_end_matches('/').to_owned();
    let refused = [
        client().delete(path.clone()),
        client().delete(path.clone()).header("x-repox-csrf", "yes"),
        client()
            .delete(path.clone())
            .header("x-repox-csrf", "1")
            .header(header::ORIGIN, "http://evil.example"),
        client()
            .post(proxy.at("-/api/cache/maven/purge"))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(r#"{"prefix":"org/"}"#),
    ];
    for req in refused {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let json: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert!(json["error"].as_str().is_some(), "{json}");
    }
    let found = get_json(&proxy, "-/api/cache/maven?q=lib-1.0.jar").await;
    assert!(
        !found["entries"].as_array().unwrap().is_empty(),
        "nothing was deleted"
    );
    let resp = client()
        .delete(path)
        .header("x-repox-csrf", "1")
        .header(header::ORIGIN, own)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn root_and_repository_roots_say_what_they_are() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    let resp = proxy.get("").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert!(text.contains(&format!("{}maven/", proxy.url)), "{text}");

    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .get(proxy.url.clone())
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()[header::LOCATION], "/-/ui/");

    for path in ["maven/", "maven"] {
        let resp = proxy.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(up.url.as_str()), "names its upstream: {text}");
        assert!(text.contains("repox configure --url"), "{text}");
        assert!(
            text.contains(&format!("<url>{}maven/</url>", proxy.url)),
            "{text}"
        );
    }
}

#[tokio::test]
async fn the_console_pages_and_assets_are_served() {
    let up = upstream().await;
    let proxy = Proxy::start(maven(&[("central", &up, 0)])).await;
    for (path, wanted) in [
        ("-/ui/", "data-page=\"dashboard\""),
        ("-/ui/cache", "<option>maven</option>"),
        ("-/ui/setup", "&lt;mirrorOf&gt;*&lt;/mirrorOf&gt;"),
        ("-/ui/settings", "data-page=\"settings\""),
        ("-/ui/app.js", "X-Repox-Csrf"),
        ("-/ui/app.css", "font-family"),
    ] {
        let resp = proxy.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(wanted), "{path} lacks {wanted}");
    }
    let setup = proxy.get("-/ui/setup").await.text().await.unwrap();
    assert!(setup.contains(&format!("{}maven/", proxy.url)), "{setup}");
}

fn basic(user: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {b64}")
}

#[tokio::test]
async fn with_authentication_reading_needs_read_and_changing_needs_admin() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let mut file = UsersFile::default();
    file.add_user("reader", Role::Read, Some("r-pw"), BTreeMap::new())
        .unwrap();
    let grants = BTreeMap::from([("maven".to_owned(), Role::Admin)]);
    file.add_user("writer", Role::Write, Some("w-pw"), grants)
        .unwrap();
    file.add_user("root", Role::Admin, Some("root-pw"), BTreeMap::new())
        .unwrap();
    file.save(&users).unwrap();
    let name: RepoName = serde_json::from_value(serde_json::json!("maven")).unwrap();
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            ..ServerConfig::default()
        },
        repositories: BTreeMap::from([(name, maven(&[("central", &up, 0)]))]),
        auth: AuthConfig {
            anonymous: Anonymous::None,
            users_file: Some(users),
        },
        storage: Default::default(),
    };
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));
    let status = |method: Method, path: &str, who: Option<(&str, &str)>| {
        let mut req = client()
            .request(method, url.join(path).unwrap())
            .header("x-repox-csrf", "1");
        if let Some((user, pw)) = who {
            req = req.header(header::AUTHORIZATION, basic(user, pw));
        }
        async move { req.send().await.unwrap().status() }
    };
    let reader = Some(("reader", "r-pw"));
    let writer = Some(("writer", "w-pw"));
    let root = Some(("root", "root-pw"));
    assert_eq!(
        status(Method::GET, "-/api/stats", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(Method::GET, "-/ui/", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(Method::GET, "-/api/stats", reader).await,
        StatusCode::OK
    );
    assert_eq!(status(Method::GET, "-/ui/", reader).await, StatusCode::OK);
    assert_eq!(
        status(Method::GET, "-/api/cache/maven", reader).await,
        StatusCode::OK
    );
    // Other operator endpoints keep needing admin.
    assert_eq!(
        status(Method::GET, "-/metrics", reader).await,
        StatusCode::FORBIDDEN
    );
    let delete = format!("-/api/cache/maven/{JAR}");
    assert_eq!(
        status(Method::DELETE, &delete, reader).await,
        StatusCode::FORBIDDEN
    );
    // A repository grant is not the console's admin.
    assert_eq!(
        status(Method::DELETE, &delete, writer).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(Method::DELETE, "-/api/negative/maven", writer).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(Method::DELETE, &delete, root).await,
        StatusCode::NOT_FOUND,
        "allowed; nothing cached"
    );
    assert_eq!(
        status(Method::DELETE, "-/api/negative/maven", root).await,
        StatusCode::OK
    );
}
