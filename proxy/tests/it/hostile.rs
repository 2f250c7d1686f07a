//! Hostile input at the network edge: request paths built to make repox fetch a URL of the
//! client's choosing (SSRF), crash a handler, or leave an upstream's base path; credentials
//! that must not leak or be lent to clients; redirects; TLS.
//!
//! Every repository kind is served over its own fake upstream, each under a base path of its
//! own, plus a "canary" server that no upstream points at. Requests are written on raw TCP so
//! that nothing (no URL parser on the client side) normalizes `..`, `%2e%2e` or `\` first.

use std::time::Duration;

use http::Method;
use repox_proxy::config::{Kind, RepositoryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::npm_support::repo;
use crate::support::{Proxy, TestUpstream, client};

/// The repository prefixes the corpus is sent to.
const PREFIXES: &[&str] = &[
    "/maven/",
    "/pypi/simple/",
    "/pypi/packages/",
    "/pypi/files/up/",
    "/pypi/pypi/",
    "/conda/",
    "/conda/t/tok/",
    "/npm/",
    "/npm/-/",
    "/cargo/index/",
    "/cargo/dl/",
    "/cargo/dl/serde/",
    "/cargo/api/",
    "/",
];

/// One fake upstream per repository, each under its own base path.
struct Fleet {
    ups: Vec<(&'static str, TestUpstream, String)>,
    canary: TestUpstream,
    proxy: Proxy,
}

impl Fleet {
    async fn start() -> Fleet {
        let canary = TestUpstream::start().await;
        let mut ups = Vec::new();
        let mut repos: Vec<(&str, RepositoryConfig)> = Vec::new();
        for (name, kind, base) in [
            ("maven", Kind::Maven, "base-maven/"),
            // The legacy JSON API lives beside `simple/` (`base-pypi/pypi/…`), by design.
            ("pypi", Kind::Pypi, "base-pypi/simple/"),
            ("conda", Kind::Conda, "base-conda/"),
            ("npm", Kind::Npm, "base-npm/"),
            ("cargo", Kind::Cargo, "base-cargo/index/"),
        ] {
            let up = TestUpstream::start().await;
            let url = up.url.join(base).unwrap();
            repos.push((name, repo(kind, &[("up", &url, 0)])));
            let allowed = match name {
                "pypi" => "base-pypi/".to_owned(),
                "cargo" => "base-cargo/".to_owned(),
                _ => base.to_owned(),
            };
            ups.push((name, up, allowed));
        }
        // cargo's `dl` and `api` come from the upstream's own config.json: under its base too.
        let cargo = &ups[4].1;
        let config = serde_json::json!({
            "dl": format!("{}base-cargo/dl", cargo.url),
            "api": format!("{}base-cargo/api-root", cargo.url),
        });
        cargo.put("base-cargo/index/config.json", config.to_string());
        cargo.put("base-cargo/index/se/rd/serde", "");
        ups[0].1.put("base-maven/org/ok/1.0/ok-1.0.jar", "fine");
        let proxy = Proxy::start_repos(repos).await;
        Fleet { ups, canary, proxy }
    }

    /// Requests that reached an upstream outside its base path, or the canary.
    fn escapes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .canary
            .log()
            .iter()
            .map(|l| format!("canary: {} /{}", l.method, l.path))
            .collect();
        for (name, up, allowed) in &self.ups {
            for l in up.log() {
                if !l.path.starts_with(allowed.as_str()) || has_dot_segment(&l.path) {
                    out.push(format!("{name}: {} /{}", l.method, l.path));
                }
            }
        }
        out
    }

    fn upstream(&self, name: &str) -> &TestUpstream {
        &self.ups.iter().find(|(n, ..)| *n == name).unwrap().1
    }
}

/// True when a segment of `path` is `.` or `..` once decoded (an upstream would step out).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| {
        let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
        decoded == "." || decoded == ".."
    })
}

/// Sends `method target` as written on a fresh connection; the status, or `None` when the
/// server closed the connection without an answer.
async fn raw(proxy: &Proxy, method: &str, target: &str) -> Option<u16> {
    let addr = format!(
        "{}:{}",
        proxy.url.host_str().unwrap(),
        proxy.url.port().unwrap()
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let line = answer.split(|&b| b == b'\n').next()?;
    let status = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    status.parse().ok()
}

/// Deterministic pseudo-random numbers (xorshift64), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Hostile path pieces; `CANARY` stands for the canary's `host:port`.
fn pieces(canary: &str) -> Vec<String> {
    let long = "a".repeat(64 * 1024);
    let mut p: Vec<String> = [
        "http:",
        "https:",
        "ftp:x",
        "file:",
        "http:CANARY/secret.txt",
        "http:%2F%2FCANARY%2Fsecret",
        "//CANARY/",
        "//evil.example/",
        "%2F%2Fevil.example%2F",
        "%2F%2F",
        "%2f",
        "\\",
        "%5C",
        "\\\\CANARY\\x",
        "%00",
        "a%00b",
        "%2500",
        "a%2500b",
        "%255C",
        "%252F",
        "..",
        ".",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e",
        "%252e%252e",
        "%25252e",
        "%3F",
        "a%3Fb=c",
        "%23",
        "x%23frag",
        "%3Fx=http://CANARY/",
        "%0D%0A",
        "a%0D%0AX-Injected:%201",
        "%0A",
        "%09",
        "%20",
        "@",
        "user@CANARY",
        "@CANARY",
        ":",
        "::",
        ":CANARY",
        "%3A",
        "é",
        "%C3%A9",
        "日本",
        "%F0%9F%98%80",
        "%FF",
        "%C0%AE%C0%AE",
        "%",
        "%%",
        "%zz",
        "~",
        "-",
        "index",
        "json",
        "download",
        "config.json",
        "1.0.0",
        "1.0.0%3Fa=b",
        "t",
        "v1",
        "crates",
        "whoami",
        "org.couchdb.user:x",
        "x.tgz",
        "x.jar",
        "repodata.json",
        "serde",
        "maven-metadata.xml",
        "maven-metadata.xml.sha1",
        "maven-metadata.xml.md5",
        "x.metadata",
        "simple",
        "packages",
    ]
    .iter()
    .map(|s| s.replace("CANARY", canary))
    .collect();
    p.push(long);
    p
}

#[tokio::test]
async fn hostile_paths_make_no_escapes_no_5xx_and_the_server_keeps_serving() {
    let fleet = Fleet::start().await;
    let canary = format!(
        "{}:{}",
        fleet.canary.url.host_str().unwrap(),
        fleet.canary.url.port().unwrap()
    );
    let pieces = pieces(&canary);
    let mut targets: Vec<(&str, String)> = Vec::new();
    // Every piece alone, as a directory, and between ordinary segments, under every prefix.
    for prefix in PREFIXES {
        for piece in &pieces {
            for shape in [
                format!("{prefix}{piece}"),
                format!("{prefix}{piece}/"),
                format!("{prefix}{piece}/x.jar"),
                format!("{prefix}a/{piece}/b"),
                format!("{prefix}{piece}/{piece}/download"),
            ] {
                targets.push(("GET", shape));
            }
            // Before the file names each ecosystem treats specially.
            for last in [
                "maven-metadata.xml.sha1",
                "maven-metadata.xml",
                "repodata.json",
                "download",
                "x.tgz",
                "json",
                "x.whl.metadata",
            ] {
                targets.push(("GET", format!("{prefix}{piece}/{last}")));
            }
            targets.push(("HEAD", format!("{prefix}{piece}")));
        }
    }
    // Random combinations with a fixed seed.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let short: Vec<&String> = pieces.iter().filter(|p| p.len() < 100).collect();
    for _ in 0..2000 {
        let prefix = PREFIXES[rng.below(PREFIXES.len())];
        let mut path = prefix.to_owned();
        for n in 0..1 + rng.below(5) {
            if n > 0 {
                path.push_str(["/", "", "%2F", "/./"][rng.below(4)]);
            }
            path.push_str(short[rng.below(short.len())]);
        }
        if rng.below(4) == 0 {
            path.push_str(["?", "#", "?x=http://evil.example/", "/"][rng.below(4)]);
        }
        let method = if rng.below(3) == 0 { "HEAD" } else { "GET" };
        targets.push((method, path));
    }
    let (mut tried, mut server_errors, mut closed) = (0, Vec::new(), 0);
    for (method, target) in &targets {
        tried += 1;
        match raw(&fleet.proxy, method, target).await {
            Some(status) if status >= 500 => {
                server_errors.push(format!("{status} {method} {target}"))
            }
            Some(_) => {}
            // hyper drops requests it cannot parse (raw `\` or `%` are fine; this is a guard).
            None => closed += 1,
        }
    }
    let escapes = fleet.escapes();
    eprintln!(
        "hostile corpus: {tried} requests, {} 5xx (a caught panic is a 500), {closed} closed without answer, {} escapes",
        server_errors.len(),
        escapes.len()
    );
    assert!(
        server_errors.is_empty(),
        "{} 5xx answers, e.g. {:?}",
        server_errors.len(),
        &server_errors[..server_errors.len().min(10)]
    );
    assert!(escapes.is_empty(), "requests left their base: {escapes:?}");
    assert_eq!(closed, 0, "connections closed without an answer");
    // Still serving, and still proxying.
    assert_eq!(raw(&fleet.proxy, "GET", "/-/health").await, Some(200));
    let ok = fleet.proxy.get("maven/org/ok/1.0/ok-1.0.jar").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "fine");
}

#[tokio::test]
async fn the_ssrf_and_panics_of_issue_10_are_gone() {
    let fleet = Fleet::start().await;
    let canary = format!(
        "{}:{}",
        fleet.canary.url.host_str().unwrap(),
        fleet.canary.url.port().unwrap()
    );
    fleet.canary.put("secret.txt", "the secret");
    let status = raw(
        &fleet.proxy,
        "GET",
        &format!("/maven/http:{canary}/secret.txt"),
    )
    .await;
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{status:?}"
    );
    assert_eq!(fleet.canary.total(), 0, "repox fetched the client's URL");
    let maven = fleet.upstream("maven");
    assert_eq!(
        maven.count(Method::GET, &format!("base-maven/http:{canary}/secret.txt")),
        1,
        "the path is a plain path under the base: {:?}",
        maven.log()
    );
    let status = raw(&fleet.proxy, "GET", "/maven/http:").await;
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{status:?}"
    );
    let status = raw(&fleet.proxy, "HEAD", "/maven/ftp:").await;
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{status:?}"
    );
    assert!(fleet.escapes().is_empty(), "{:?}", fleet.escapes());
}

#[tokio::test]
async fn cargo_versions_are_semver_only() {
    let fleet = Fleet::start().await;
    for target in [
        "/cargo/dl/serde/1.0.0%3Fa=b/download",
        "/cargo/dl/serde/%252e%252e/download",
        "/cargo/dl/serde/1.0.0%23x/download",
        "/cargo/dl/serde/1.0.0%2F..%2F..%2Fx/download",
    ] {
        assert_eq!(
            raw(&fleet.proxy, "GET", target).await,
            Some(400),
            "{target}"
        );
    }
    let cargo = fleet.upstream("cargo");
    assert!(
        cargo.log().iter().all(|l| !l.path.contains("dl")),
        "{:?}",
        cargo.log()
    );
}

#[tokio::test]
async fn npm_and_cargo_account_endpoints_never_get_repox_credentials() {
    let npm = TestUpstream::start().await;
    let cargo = TestUpstream::start().await;
    let mut npm_url = npm.url.join("reg/").unwrap();
    npm_url.set_username("alice").unwrap();
    npm_url.set_password(Some("s3cret")).unwrap();
    let mut cargo_url = cargo.url.join("index/").unwrap();
    cargo_url.set_username("bob").unwrap();
    cargo_url.set_password(Some("t0ken")).unwrap();
    let api = cargo.url.as_str().trim_end_matches('/').to_owned();
    cargo.put(
        "index/config.json",
        serde_json::json!({"dl": format!("{api}/dl"), "api": api}).to_string(),
    );
    npm.put("reg/-/v1/search", "{}");
    npm.put("reg/-/ping", "{}");
    cargo.put("api/v1/crates", "{}");
    let proxy = Proxy::start_repos(vec![
        ("npm", repo(Kind::Npm, &[("up", &npm_url, 0)])),
        ("cargo", repo(Kind::Cargo, &[("up", &cargo_url, 0)])),
    ])
    .await;
    for path in [
        "npm/-/whoami",
        "npm/-/npm/v1/tokens",
        "npm/-/npm/v1/tokens/token/abc",
        "npm/-/user/org.couchdb.user:x",
        "npm/-/v1/login",
        "npm/-/org/acme/user",
        "cargo/api/v1/me",
        "cargo/api/v1/crates/serde/owners",
        "cargo/api/v1/crates/new",
        "cargo/api/v1/tokens",
    ] {
        let resp = proxy.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("repox"), "{path}: {body}");
    }
    assert!(
        npm.log()
            .iter()
            .all(|l| l.path.ends_with("search") || l.path.ends_with("ping")),
        "{:?}",
        npm.log()
    );
    assert_eq!(
        cargo
            .log()
            .iter()
            .filter(|l| l.path.contains("api/v1/me"))
            .count(),
        0
    );
    // Search passes with the credential (moved out of the URL into basic auth), ping without.
    assert_eq!(proxy.get("npm/-/v1/search?text=x").await.status(), 200);
    assert_eq!(proxy.get("npm/-/ping").await.status(), 200);
    let log = npm.log();
    let auth = |suffix: &str| {
        log.iter()
            .find(|l| l.path.ends_with(suffix))
            .unwrap()
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:s3cret")
    );
    assert_eq!(auth("search").as_deref(), Some(basic.as_str()));
    assert_eq!(auth("ping"), None);
    assert_eq!(proxy.get("cargo/api/v1/crates?q=serde").await.status(), 200);
    let search = cargo
        .log()
        .into_iter()
        .find(|l| l.path == "api/v1/crates")
        .unwrap();
    assert!(search.headers.contains_key(http::header::AUTHORIZATION));
    // config.json embeds the client's origin: a shared cache must key it by Host.
    let config = proxy.get("cargo/index/config.json").await;
    assert_eq!(config.status(), 200);
    let vary = config.headers()[http::header::VARY].to_str().unwrap();
    assert!(
        vary.contains("Host") && vary.contains("X-Forwarded-Proto"),
        "{vary}"
    );
    // The credentials are not shown by health.
    let health = proxy.get("-/health").await.text().await.unwrap();
    assert!(
        !health.contains("s3cret") && !health.contains("t0ken"),
        "{health}"
    );
    assert!(!health.contains("alice"), "{health}");
}

#[tokio::test]
async fn upstream_failures_do_not_name_the_upstream_to_the_client() {
    let up = TestUpstream::start().await;
    up.behave_always(crate::support::Behavior {
        status: Some(500),
        ..Default::default()
    });
    let base = up.url.join("hidden-base/").unwrap();
    let proxy = Proxy::start_repos(vec![("maven", repo(Kind::Maven, &[("up", &base, 0)]))]).await;
    let resp = proxy.get("maven/org/x/1.0/x-1.0.jar").await;
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("127.0.0.1") && !body.contains("hidden-base") && !body.contains("org/x"),
        "{body}"
    );
}

/// An upstream that redirects `/r/N` to `/r/N+1` forever, and `/to/<url>` to `<url>`.
async fn redirector() -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::response::{IntoResponse, Redirect};
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move |uri: http::Uri| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = uri.path();
            if let Some(n) = path.strip_prefix("/r/").and_then(|n| n.split('/').next()) {
                let n: u32 = n.parse().unwrap_or(0);
                return Redirect::temporary(&format!("/r/{}/x.jar", n + 1)).into_response();
            }
            (http::StatusCode::NOT_FOUND, "no").into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}/")).unwrap(), hits)
}

#[tokio::test]
async fn redirects_stop_after_five_hops() {
    let (url, hits) = redirector().await;
    let proxy = Proxy::start_repos(vec![("maven", repo(Kind::Maven, &[("up", &url, 0)]))]).await;
    let resp = proxy.get("maven/r/0/x.jar").await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    // The first request and five redirects; a second attempt (the resume logic) may repeat it.
    let n = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n >= 6 && n % 6 == 0, "{n} requests");
}

#[tokio::test]
async fn https_is_served_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let config = repox_proxy::config::Config {
        server: repox_proxy::config::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            tls_cert: Some(cert_path),
            tls_key: Some(key_path),
            ..Default::default()
        },
        repositories: Default::default(),
        auth: Default::default(),
        storage: Default::default(),
    };
    let server = repox_proxy::Server::bind(config).await.unwrap();
    assert!(server.is_tls());
    let port = server.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([root])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let resp = https
        .get(format!("https://localhost:{port}/-/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = client()
        .get(format!("http://127.0.0.1:{port}/-/health"))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = stop.send(());
    let _ = task.await;
}

/// Files below `dir`, recursively.
fn files_below(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                files_below(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn many_host_headers_do_not_grow_the_cache_and_origin_documents_vary() {
    use crate::conda_support::{Channel, Variants, package};
    let up = TestUpstream::start().await;
    let variants = Variants {
        zst: false,
        bz2: false,
        shards: false,
    };
    let ch = Channel::new(&up, "fixture", variants);
    let base = format!("{}fixture/noarch/", up.url);
    ch.info
        .lock()
        .unwrap()
        .insert("base_url".into(), base.into());
    ch.publish("noarch", &[&package("a", "1.0", &[], "noarch")]);
    let proxy =
        Proxy::start_repos(vec![("conda", repo(Kind::Conda, &[("org", &up.url, 0)]))]).await;
    let c = client();
    for n in 0..200 {
        let resp = c
            .get(proxy.at("conda/fixture/noarch/repodata.json"))
            .header(http::header::HOST, format!("h{n}.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let vary = resp.headers()[http::header::VARY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            vary.contains("Host") && vary.contains("X-Forwarded-Host"),
            "{vary}"
        );
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!(
            body["info"]["base_url"],
            format!("http://h{n}.example/conda/fixture/noarch/")
        );
    }
    let rewritten = files_below(&proxy.cache.path().join("data-v1/conda/~~rewritten"));
    assert!(
        (1..=8).contains(&rewritten),
        "{rewritten} files for 200 hosts (an entry is a body and its metadata)"
    );
}
