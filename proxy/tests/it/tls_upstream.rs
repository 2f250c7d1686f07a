//! Upstreams over HTTPS: a real TLS origin on 127.0.0.1 whose certificate a test CA signed.
//! With the CA named in `ca_certificates` files come through (HTTP/1.1 and h2); without it, or
//! for a certificate made for another host name, the upstream is refused, the client gets 502
//! and nothing is cached. `[server] ca_certificates` is trusted by every upstream, an upstream's
//! own file adds to it, and it covers an upstream reached through an HTTP proxy or an HTTPS one
//! (whose own certificate it checks too; named by a host name that resolves to an internal
//! address, as corporate proxies are). A plain-http upstream goes through an HTTPS proxy in
//! absolute form (no CONNECT), with the proxy's credentials, and the fence still refuses its
//! redirects to internal addresses. A proxy that asks for credentials (407), to a `CONNECT` or
//! an absolute-form request, marks the upstream down with a last error that says so. A bad CA file (the upstream's or the server's) stops the
//! start and a reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use repox_proxy::config::{
    Config, FilePath, Kind, RepoName, RepositoryConfig, ServerConfig, UpstreamConfig,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use url::Url;

use crate::support::Proxy;

const JAR: &str = "org/corp/lib/1.0/lib-1.0.jar";
const SECRET: &str = "s3cret-deploy-token";

/// A certificate authority of the test's own.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names`, signed by this CA, and its key.
    fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }
}

/// An HTTPS origin on 127.0.0.1, reached as `https://localhost:PORT/`: it serves `files`,
/// offers the ALPN protocols it is given, and logs each request with its HTTP version, the
/// protocol each handshake agreed, and the handshakes that failed.
struct TlsOrigin {
    url: Url,
    requests: Arc<Mutex<Vec<(String, Version)>>>,
    alpn: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    failed_handshakes: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct OriginState {
    files: Arc<HashMap<String, Bytes>>,
    requests: Arc<Mutex<Vec<(String, Version)>>>,
}

async fn origin_handle(State(st): State<OriginState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_owned();
    st.requests
        .lock()
        .unwrap()
        .push((path.clone(), req.version()));
    match st.files.get(&path) {
        Some(body) => (
            [(http::header::CONTENT_TYPE, "application/java-archive")],
            body.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

impl TlsOrigin {
    async fn start(
        (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
        alpn: &[&[u8]],
        files: HashMap<String, Bytes>,
    ) -> TlsOrigin {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let agreed = Arc::new(Mutex::new(Vec::new()));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .fallback(origin_handle)
            .with_state(OriginState {
                files: Arc::new(files),
                requests: requests.clone(),
            });
        let (log, failed) = (agreed.clone(), failed_handshakes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                let (log, failed) = (log.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let protocol = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    log.lock().unwrap().push(protocol);
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        TlsOrigin {
            url: Url::parse(&format!("https://localhost:{port}/")).unwrap(),
            requests,
            alpn: agreed,
            failed_handshakes,
        }
    }

    fn requests(&self) -> Vec<(String, Version)> {
        self.requests.lock().unwrap().clone()
    }
}

/// A body no other test serves, to look for in the cache directory.
fn body() -> Bytes {
    Bytes::from("TLS-ORIGIN-BODY-7f3a9c ".repeat(500))
}

fn files() -> HashMap<String, Bytes> {
    HashMap::from([(JAR.to_owned(), body())])
}

/// A Maven repository with one upstream `corp` at `url`, trusting `ca` if given.
fn repo(url: &Url, ca: Option<&Path>) -> RepositoryConfig {
    let mut up = UpstreamConfig::new("corp", url.clone());
    up.ca_certificates = ca.map(FilePath::from);
    up.breaker_failures = 100;
    RepositoryConfig {
        upstreams: vec![up],
        ..RepositoryConfig::new(Kind::Maven)
    }
}

fn write_ca(dir: &Path, name: &str, ca: &TestCa) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, ca.pem()).unwrap();
    path
}

/// True when some file under `dir` contains `needle`.
fn cache_holds(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            cache_holds(&path, needle)
        } else {
            std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
        }
    })
}

async fn health_of_corp(proxy: &Proxy) -> serde_json::Value {
    let text = proxy.get("-/health").await.text().await.unwrap();
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    let up = health["repositories"][0]["upstreams"][0].clone();
    assert_eq!(up["name"], "corp", "{health}");
    up
}

async fn miss_then_hit(alpn: &[&[u8]], version: Version) {
    let ca = TestCa::new("repox test CA");
    let origin = TlsOrigin::start(ca.leaf(&["localhost"]), alpn, files()).await;
    let dir = tempfile::tempdir().unwrap();
    // Another CA in the same file: a bundle of several is read whole.
    let bundle = format!("{}{}", TestCa::new("unrelated CA").pem(), ca.pem());
    let ca_file = dir.path().join("corp-ca.pem");
    std::fs::write(&ca_file, bundle).unwrap();
    let proxy = Proxy::start(repo(&origin.url, Some(&ca_file))).await;

    for cache in ["miss", "hit"] {
        let r = if cache == "hit" {
            proxy.wait_for_hit(&format!("maven/{JAR}")).await
        } else {
            proxy.get(&format!("maven/{JAR}")).await
        };
        assert_eq!(r.status(), StatusCode::OK, "{cache}");
        assert_eq!(r.headers()["x-repox-cache"], cache);
        assert_eq!(r.bytes().await.unwrap(), body());
    }
    let requests = origin.requests();
    let jar_requests: Vec<_> = requests.iter().filter(|(p, _)| p == JAR).collect();
    assert_eq!(
        jar_requests.len(),
        1,
        "the hit did not reach the origin: {requests:?}"
    );
    assert!(requests.iter().all(|(_, v)| *v == version), "{requests:?}");
    let agreed = origin.alpn.lock().unwrap().clone();
    let expected = alpn.first().map(|p| p.to_vec());
    assert!(
        !agreed.is_empty() && agreed.iter().all(|a| *a == expected),
        "{agreed:?}"
    );
    assert_eq!(origin.failed_handshakes.load(Ordering::SeqCst), 0);
    assert!(cache_holds(proxy.cache.path(), b"TLS-ORIGIN-BODY-7f3a9c"));
    assert_eq!(health_of_corp(&proxy).await["state"], "up");
}

#[tokio::test]
async fn a_private_ca_in_ca_certificates_is_trusted_over_http1() {
    miss_then_hit(&[b"http/1.1"], Version::HTTP_11).await;
}

#[tokio::test]
async fn a_private_ca_in_ca_certificates_is_trusted_over_h2() {
    miss_then_hit(&[b"h2", b"http/1.1"], Version::HTTP_2).await;
}

#[tokio::test]
async fn without_the_ca_the_upstream_is_refused_and_nothing_is_cached() {
    let ca = TestCa::new("repox test CA");
    let origin = TlsOrigin::start(ca.leaf(&["localhost"]), &[b"h2", b"http/1.1"], files()).await;
    let mut url = origin.url.clone();
    url.set_username("deploy").unwrap();
    url.set_password(Some(SECRET)).unwrap();
    let proxy = Proxy::start(repo(&url, None)).await;

    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(origin.requests().is_empty(), "{:?}", origin.requests());
    assert!(origin.failed_handshakes.load(Ordering::SeqCst) >= 1);

    let up = health_of_corp(&proxy).await;
    assert!(up["consecutive_failures"].as_u64().unwrap() >= 1, "{up}");
    let error = up["last_error"].as_str().unwrap();
    assert!(
        error.contains("certificate is not trusted") && error.contains("`ca_certificates`"),
        "{error}"
    );
    assert!(!error.contains(SECRET), "{error}");
    assert!(!cache_holds(proxy.cache.path(), b"TLS-ORIGIN-BODY-7f3a9c"));
    // Still refused, still not cached: no hit comes out of a refused upstream.
    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.headers().get("x-repox-cache").is_none_or(|v| v != "hit"));
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_even_with_the_ca() {
    let ca = TestCa::new("repox test CA");
    let origin = TlsOrigin::start(ca.leaf(&["repo.corp.example"]), &[b"http/1.1"], files()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write_ca(dir.path(), "ca.pem", &ca);
    let proxy = Proxy::start(repo(&origin.url, Some(&ca_file))).await;

    let r = proxy.get(&format!("maven/{JAR}")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(origin.requests().is_empty());
    let up = health_of_corp(&proxy).await;
    let error = up["last_error"].as_str().unwrap();
    assert!(error.contains("not valid for its host name"), "{error}");
    assert!(!cache_holds(proxy.cache.path(), b"TLS-ORIGIN-BODY-7f3a9c"));
}

/// The start-up error for a `ca_certificates` file, as the binary prints it.
async fn start_error(ca_file: &Path) -> String {
    let cache = tempfile::tempdir().unwrap();
    let name = RepoName::parse("maven").unwrap();
    let url = Url::parse("https://localhost:1/").unwrap();
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(cache.path().to_owned()),
            ..ServerConfig::default()
        },
        repositories: [(name, repo(&url, Some(ca_file)))].into_iter().collect(),
        auth: Default::default(),
        storage: Default::default(),
    };
    match repox_proxy::Server::bind(config).await {
        Ok(_) => panic!("{} was accepted", ca_file.display()),
        Err(e) => one_line(&e),
    }
}

/// An error and its causes on one line, as `main` prints them.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_bad_ca_file_stops_the_start_naming_upstream_file_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let der = dir.path().join("ca.der");
    std::fs::write(&der, TestCa::new("der").issuer.der()).unwrap();
    let key_only = dir.path().join("key.pem");
    std::fs::write(&key_only, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, why) in [
        (&missing, "point `ca_certificates` at the PEM file"),
        (&dir.path().to_owned(), "not its directory"),
        (&empty, "no PEM certificate in it"),
        (&der, "no PEM certificate in it"),
        (&key_only, "no PEM certificate in it"),
        (&broken, "not usable as a CA"),
    ] {
        let err = start_error(file).await;
        let head = format!(
            "upstream `corp`: cannot use `ca_certificates` file `{}`: ",
            file.display()
        );
        assert!(err.starts_with(&head), "{err}");
        assert!(err.contains(why), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[tokio::test]
async fn a_reload_rereads_the_ca_file_and_a_bad_one_keeps_the_old_configuration() {
    let (ca, other) = (TestCa::new("first CA"), TestCa::new("second CA"));
    let origin = TlsOrigin::start(ca.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let dir = tempfile::tempdir().unwrap();
    // Trusting the wrong CA at first: the origin is refused.
    let ca_file = write_ca(dir.path(), "corp-ca.pem", &other);
    let file = dir.path().join("repox.toml");
    let text = format!(
        "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"corp\"\nurl = \"{}\"\nca_certificates = \"corp-ca.pem\"\nbreaker_failures = 0\n",
        origin.url
    );
    std::fs::write(&file, &text).unwrap();
    let mut config = Config::load(&file).unwrap();
    assert_eq!(
        config.repositories[&RepoName::parse("maven").unwrap()].upstreams[0]
            .ca_certificates
            .as_ref()
            .map(FilePath::path),
        Some(ca_file.as_path()),
        "a relative path is relative to the config file"
    );
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.cache_dir = Some(dir.path().join("cache"));
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let app = server.app().clone();
    app.live().set_file(file.clone());
    let base = Url::parse(&format!("http://{}/maven/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));
    let get = || async {
        crate::support::client()
            .get(base.join(JAR).unwrap())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(get().await.status(), StatusCode::BAD_GATEWAY);

    // The file now holds the right CA; the config text is the same, the reload rebuilds.
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let changes = repox_proxy::live::reload(&app).await.unwrap();
    assert_eq!(changes.changed, ["maven"]);
    let r = get().await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), body());
    let before = app.repository("maven").unwrap();

    // A broken file is refused naming upstream, file and fix; the working client stays.
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let err = repox_proxy::live::reload(&app).await.unwrap_err();
    assert!(
        err.starts_with(&format!(
            "repositories.maven: upstream `corp`: cannot use `ca_certificates` file `{}`: no PEM certificate",
            ca_file.display()
        )),
        "{err}"
    );
    assert_eq!(app.live().last_error().as_deref(), Some(err.as_str()));
    assert!(Arc::ptr_eq(&before, &app.repository("maven").unwrap()));
    std::fs::remove_file(&ca_file).unwrap();
    let err = repox_proxy::live::reload(&app).await.unwrap_err();
    assert!(
        err.contains("point `ca_certificates` at the PEM file"),
        "{err}"
    );
    assert!(Arc::ptr_eq(&before, &app.repository("maven").unwrap()));

    // The same file back: nothing to rebuild.
    std::fs::write(&ca_file, ca.pem()).unwrap();
    assert!(repox_proxy::live::reload(&app).await.unwrap().is_empty());
    assert!(Arc::ptr_eq(&before, &app.repository("maven").unwrap()));
}

/// A server started from the config file `text` in `dir`, as `repox serve` runs it, and the
/// app to reload it.
async fn serve_file(dir: &Path, text: &str) -> (Arc<repox_proxy::server::App>, Url) {
    let file = dir.join("repox.toml");
    std::fs::write(&file, text).unwrap();
    let mut config = Config::load(&file).unwrap();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.cache_dir = Some(dir.join("cache"));
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let app = server.app().clone();
    app.live().set_file(file);
    let base = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));
    (app, base)
}

async fn status_of(base: &Url, repo: &str) -> StatusCode {
    crate::support::client()
        .get(base.join(&format!("{repo}/{JAR}")).unwrap())
        .send()
        .await
        .unwrap()
        .status()
}

/// The body of `/-/health`.
async fn health_text(base: &Url) -> String {
    crate::support::client()
        .get(base.join("-/health").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// What `/-/health` says of the first upstream of `repo`'s last failure.
async fn last_error_of(base: &Url, repo: &str) -> String {
    let health: serde_json::Value = serde_json::from_str(&health_text(base).await).unwrap();
    let repository = health["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == repo)
        .unwrap_or_else(|| panic!("{repo} in {health}"));
    repository["upstreams"][0]["last_error"]
        .as_str()
        .unwrap_or_else(|| panic!("no last_error: {repository}"))
        .to_owned()
}

/// `[[repositories.NAME.upstreams]]` at `url` with `extra` keys, in a Maven repository `NAME`.
fn repo_text(name: &str, url: &Url, extra: &str) -> String {
    format!(
        "[repositories.{name}]\nkind = \"maven\"\n[[repositories.{name}.upstreams]]\nname = \"{name}\"\nurl = \"{url}\"\nbreaker_failures = 0\n{extra}\n"
    )
}

#[tokio::test]
async fn the_server_wide_ca_is_trusted_by_every_upstream_and_an_own_file_adds_to_it() {
    let (corp, team) = (TestCa::new("corp CA"), TestCa::new("team CA"));
    let by_corp = TlsOrigin::start(corp.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let by_corp_too = TlsOrigin::start(corp.leaf(&["localhost"]), &[b"h2"], files()).await;
    let by_team = TlsOrigin::start(team.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let corp_file = write_ca(&dir.path().join("certs"), "corp.pem", &corp);
    write_ca(dir.path(), "team.pem", &team);
    let text = "[server]\nca_certificates = \"certs/corp.pem\"\n".to_owned()
        // No file of its own: the server's CA.
        + &repo_text("plain", &by_corp.url, "")
        // Its own file for its own server, and the server's CA still trusted beside it.
        + &repo_text("own", &by_team.url, "ca_certificates = \"team.pem\"")
        + &repo_text("both", &by_corp_too.url, "ca_certificates = \"team.pem\"")
        // The team's CA is not the server's: without the file, refused.
        + &repo_text("other", &by_team.url, "");
    let (app, base) = serve_file(dir.path(), &text).await;
    for (repo, status) in [
        ("plain", StatusCode::OK),
        ("own", StatusCode::OK),
        ("both", StatusCode::OK),
        ("other", StatusCode::BAD_GATEWAY),
    ] {
        assert_eq!(status_of(&base, repo).await, status, "{repo}");
    }
    let jars = |origin: &TlsOrigin| origin.requests().iter().filter(|(p, _)| p == JAR).count();
    assert_eq!(jars(&by_corp), 1);
    assert_eq!(jars(&by_corp_too), 1);
    assert_eq!(jars(&by_team), 1, "only `own` reached it");
    assert!(by_team.failed_handshakes.load(Ordering::SeqCst) >= 1);
    assert!(cache_holds(
        &dir.path().join("cache"),
        b"TLS-ORIGIN-BODY-7f3a9c"
    ));
    let error = last_error_of(&base, "other").await;
    assert!(error.contains("`[server] ca_certificates`"), "{error}");

    // The server's file is read again at a reload: another CA in it, and `plain` is refused
    // while `own` (its own file unchanged) still works; every upstream was rebuilt.
    let plain = app.repository("plain").unwrap();
    std::fs::write(&corp_file, TestCa::new("new corp CA").pem()).unwrap();
    let changes = repox_proxy::live::reload(&app).await.unwrap();
    assert!(changes.changed.contains(&"plain".to_owned()), "{changes}");
    assert!(!Arc::ptr_eq(&plain, &app.repository("plain").unwrap()));
    let fresh = base.join("plain/org/corp/lib/1.0/lib-1.0.pom").unwrap();
    let r = crate::support::client().get(fresh).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);

    // A broken server file keeps the old configuration, naming the key, the file and the fix.
    std::fs::write(&corp_file, "not a certificate\n").unwrap();
    let before = app.repository("own").unwrap();
    let err = repox_proxy::live::reload(&app).await.unwrap_err();
    let says = format!(
        "cannot use `[server] ca_certificates` file `{}`: no PEM certificate in it",
        corp_file.display()
    );
    assert!(err.starts_with(&says), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(Arc::ptr_eq(&before, &app.repository("own").unwrap()));
    assert_eq!(status_of(&base, "own").await, StatusCode::OK);
}

#[tokio::test]
async fn a_configuration_built_in_code_trusts_its_server_wide_ca() {
    // No config file and no helper to call: setting `[server] ca_certificates` is enough.
    let corp = TestCa::new("corp CA");
    let origin = TlsOrigin::start(corp.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write_ca(dir.path(), "corp.pem", &corp);
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            ca_certificates: Some(FilePath::from(ca_file.as_path())),
            ..ServerConfig::default()
        },
        repositories: [(RepoName::parse("maven").unwrap(), repo(&origin.url, None))]
            .into_iter()
            .collect(),
        auth: Default::default(),
        storage: Default::default(),
    };
    let server = repox_proxy::Server::bind(config).await.unwrap();
    let base = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
    tokio::spawn(server.run(std::future::pending()));
    assert_eq!(status_of(&base, "maven").await, StatusCode::OK);
    assert_eq!(origin.failed_handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_bad_server_wide_ca_file_stops_the_start_naming_key_file_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repox.toml");
    std::fs::write(&file, "[server]\nca_certificates = \"missing.pem\"\n").unwrap();
    let mut config = Config::load(&file).unwrap();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.cache_dir = Some(dir.path().join("cache"));
    let err = match repox_proxy::Server::bind(config).await {
        Ok(_) => panic!("a missing server-wide CA file was accepted"),
        Err(e) => one_line(&e),
    };
    let says = format!(
        "cannot use `[server] ca_certificates` file `{}`: No such file or directory (os error 2); \
         point `[server] ca_certificates` at the PEM file",
        dir.path().join("missing.pem").display()
    );
    assert!(err.starts_with(&says), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// An HTTP proxy on 127.0.0.1 that tunnels `CONNECT host:port` and counts the tunnels.
async fn connect_proxy() -> (Url, Arc<AtomicUsize>) {
    let (url, tunnels, _) = connect_proxy_over(None).await;
    (url, tunnels)
}

/// [`connect_proxy`], spoken over TLS with `tls` (its certificate and key) when given, reached
/// as `https://localhost:PORT/`; also counts the TLS handshakes that failed.
async fn connect_proxy_over(
    tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> (Url, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let proxy = TestProxy::start(tls, None).await;
    (proxy.url, proxy.tunnels, proxy.refused)
}

/// The request lines a [`TestProxy`] got, each with its `Proxy-Authorization`.
type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// An HTTP proxy on 127.0.0.1 (spoken over TLS when given a certificate and key, then reached
/// as `https://localhost:PORT/`): it tunnels `CONNECT host:port`, and forwards an absolute-form
/// request (`GET http://host:port/path`, a plain-http URL asked of a proxy) to that port on
/// this machine, as origin-form. With `credentials` it answers 407 to a request without them.
struct TestProxy {
    url: Url,
    /// `CONNECT` tunnels opened.
    tunnels: Arc<AtomicUsize>,
    /// TLS handshakes that failed.
    refused: Arc<AtomicUsize>,
    /// Every request line it got, with its `Proxy-Authorization`.
    requests: ProxyLog,
}

impl TestProxy {
    async fn start(
        tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        credentials: Option<(&str, &str)>,
    ) -> TestProxy {
        use base64::Engine;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => Url::parse(&format!("https://localhost:{port}/")).unwrap(),
            None => Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        };
        let acceptor = tls.map(|(cert, key)| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let required = credentials.map(|(user, password)| {
            let b64 = base64::engine::general_purpose::STANDARD;
            format!("Basic {}", b64.encode(format!("{user}:{password}")))
        });
        let proxy = TestProxy {
            url,
            tunnels: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let (tunnels, fails, log) = (
            proxy.tunnels.clone(),
            proxy.refused.clone(),
            proxy.requests.clone(),
        );
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (tunnels, fails, acceptor) = (tunnels.clone(), fails.clone(), acceptor.clone());
                let (log, required) = (log.clone(), required.clone());
                tokio::spawn(async move {
                    match acceptor {
                        None => relay(tcp, tunnels, log, required).await,
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(tls) => relay(tls, tunnels, log, required).await,
                            Err(_) => {
                                fails.fetch_add(1, Ordering::SeqCst);
                            }
                        },
                    }
                });
            }
        });
        proxy
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Answers one request on `stream`: a `CONNECT host:port` opens a tunnel (counted in
/// `tunnels`) and copies bytes both ways; an absolute-form request goes to its port, once
/// (`Connection: close`, so the next request comes to the proxy again).
async fn relay<S>(stream: S, tunnels: Arc<AtomicUsize>, log: ProxyLog, required: Option<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut client = BufReader::new(stream);
    let mut line = String::new();
    if client.read_line(&mut line).await.is_err() {
        return;
    }
    let (method, target, version) = match line.split_whitespace().collect::<Vec<_>>()[..] {
        [method, target, version] => (method.to_owned(), target.to_owned(), version.to_owned()),
        _ => return,
    };
    let mut headers = Vec::new();
    let mut auth = None;
    loop {
        let mut header = String::new();
        if client.read_line(&mut header).await.unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end().to_owned();
        if header.is_empty() {
            break;
        }
        match header.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("proxy-authorization") => {
                auth = Some(value.trim().to_owned());
            }
            Some((name, _))
                if name.eq_ignore_ascii_case("proxy-connection")
                    || name.eq_ignore_ascii_case("connection") => {}
            _ => headers.push(header),
        }
    }
    log.lock()
        .unwrap()
        .push((line.trim_end().to_owned(), auth.clone()));
    if required.is_some() && auth != required {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic \
                  realm=\"proxy\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    // Like a corporate proxy, it resolves the names itself: every name is this machine here.
    let (port, forward) = if method == "CONNECT" {
        let port = target.rsplit_once(':').map_or("443", |(_, p)| p).to_owned();
        (port, None)
    } else {
        let url = Url::parse(&target).unwrap();
        let port = url.port_or_known_default().unwrap().to_string();
        let path = &url[url::Position::BeforePath..];
        let mut head = format!("{method} {path} {version}\r\n");
        for header in &headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        (port, Some(head))
    };
    let mut origin = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    match forward {
        None => {
            tunnels.fetch_add(1, Ordering::SeqCst);
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
        }
        Some(head) => origin.write_all(head.as_bytes()).await.unwrap(),
    }
    // Whatever the client sent past the head (a request body) goes on too.
    let early = client.buffer().to_vec();
    origin.write_all(&early).await.unwrap();
    let mut client = client.into_inner();
    let _ = tokio::io::copy_bidirectional(&mut client, &mut origin).await;
}

#[tokio::test]
async fn an_upstream_behind_an_http_proxy_trusts_the_server_wide_ca() {
    let corp = TestCa::new("corp CA");
    let origin = TlsOrigin::start(corp.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let (proxy, tunnels) = connect_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo_text("maven", &origin.url, &format!("proxy = \"{proxy}\""));
    let (_app, base) = serve_file(dir.path(), &text).await;
    assert_eq!(status_of(&base, "maven").await, StatusCode::OK);
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        1,
        "it went through the proxy"
    );
    assert!(origin.requests().iter().any(|(p, _)| p == JAR));
    assert_eq!(origin.failed_handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_upstream_behind_an_https_proxy_checks_the_proxy_s_certificate_too() {
    // The proxy's certificate and the origin's come from the corporate CA: TLS to the proxy,
    // and TLS to the origin inside the tunnel, both checked against the server-wide CA. The
    // upstream has a public name only the proxy resolves; the proxy is named by a host name
    // that resolves to an internal address, as a corporate proxy's does.
    let corp = TestCa::new("corp CA");
    let leaf = corp.leaf(&["maven.corp.example"]);
    let origin = TlsOrigin::start(leaf, &[b"http/1.1"], files()).await;
    let mut upstream = origin.url.clone();
    upstream.set_host(Some("maven.corp.example")).unwrap();
    let (proxy, tunnels, refused) = connect_proxy_over(Some(corp.leaf(&["localhost"]))).await;
    assert_eq!(proxy.scheme(), "https");
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo_text("maven", &upstream, &format!("proxy = \"{proxy}\""));
    let (_app, base) = serve_file(dir.path(), &text).await;
    assert_eq!(status_of(&base, "maven").await, StatusCode::OK);
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        1,
        "it went through the proxy"
    );
    assert_eq!(refused.load(Ordering::SeqCst), 0);
    assert!(origin.requests().iter().any(|(p, _)| p == JAR));

    // A proxy whose certificate no trusted CA signed is refused before any CONNECT: 502,
    // nothing reaches the origin.
    let leaf = corp.leaf(&["maven.corp.example"]);
    let origin = TlsOrigin::start(leaf, &[b"http/1.1"], files()).await;
    let mut upstream = origin.url.clone();
    upstream.set_host(Some("maven.corp.example")).unwrap();
    // The proxy URL carries credentials, which no error, log or health line may show.
    let stranger = TestCa::new("unknown CA");
    let (proxy, tunnels, refused) = connect_proxy_over(Some(stranger.leaf(&["localhost"]))).await;
    let mut with_secret = proxy.clone();
    with_secret.set_username("deployer").unwrap();
    with_secret.set_password(Some(SECRET)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo_text("maven", &upstream, &format!("proxy = \"{with_secret}\""));
    let (_app, base) = serve_file(dir.path(), &text).await;
    let response = crate::support::client()
        .get(base.join(&format!("maven/{JAR}")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    assert!(!body.contains(SECRET), "{body}");
    // A client sees which end refused, not where the proxy is (URLs are hidden from clients).
    assert!(
        body.contains("the TLS certificate of the upstream's proxy <upstream URL> is not trusted"),
        "{body}"
    );
    assert_eq!(tunnels.load(Ordering::SeqCst), 0);
    assert!(refused.load(Ordering::SeqCst) >= 1);
    assert!(origin.requests().is_empty(), "{:?}", origin.requests());
    // The refusal names the proxy, not the upstream, and says which setting trusts a CA (the
    // same ones cover the proxy).
    let error = last_error_of(&base, "maven").await;
    let shown = format!("https://localhost:{}/", proxy.port().unwrap());
    assert!(
        error.contains(&format!(
            "the TLS certificate of the upstream's proxy {shown} is not trusted"
        )),
        "{error}"
    );
    assert!(error.contains("`[server] ca_certificates`"), "{error}");
    assert!(
        error.contains("the same settings cover the upstream's proxy"),
        "{error}"
    );
    assert!(!error.contains("the upstream's TLS certificate"), "{error}");
    let health = health_text(&base).await;
    assert!(!health.contains(SECRET), "{health}");
    assert!(!health.contains("deployer"), "{health}");

    // Through a trusted proxy, a refused origin certificate is the upstream's, not the
    // proxy's: the tunnel opened, the TLS inside it failed.
    let origin = TlsOrigin::start(
        stranger.leaf(&["maven.corp.example"]),
        &[b"http/1.1"],
        files(),
    )
    .await;
    let mut upstream = origin.url.clone();
    upstream.set_host(Some("maven.corp.example")).unwrap();
    let (proxy, tunnels, _) = connect_proxy_over(Some(corp.leaf(&["localhost"]))).await;
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo_text("maven", &upstream, &format!("proxy = \"{proxy}\""));
    let (_app, base) = serve_file(dir.path(), &text).await;
    assert_eq!(status_of(&base, "maven").await, StatusCode::BAD_GATEWAY);
    assert!(tunnels.load(Ordering::SeqCst) >= 1, "the tunnel opened");
    let error = last_error_of(&base, "maven").await;
    assert!(
        error.contains("the upstream's TLS certificate is not trusted"),
        "{error}"
    );
    assert!(!error.contains("proxy https://"), "{error}");
}

/// A plain-http origin on 127.0.0.1 that serves [`JAR`] and redirects each `(path, location)`;
/// it logs the paths asked.
async fn plain_origin(redirects: Vec<(String, String)>) -> (Url, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (asked, redirects) = (log.clone(), Arc::new(redirects));
    let app = axum::Router::new().fallback(move |req: Request| {
        let (asked, redirects) = (asked.clone(), redirects.clone());
        async move {
            let path = req.uri().path().trim_start_matches('/').to_owned();
            asked.lock().unwrap().push(path.clone());
            if let Some((_, to)) = redirects.iter().find(|(p, _)| *p == path) {
                return axum::response::Redirect::temporary(to).into_response();
            }
            match path == JAR {
                true => body().into_response(),
                false => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        log,
    )
}

#[tokio::test]
async fn a_plain_http_upstream_behind_an_https_proxy_goes_through_it_with_its_credentials() {
    // No CONNECT for a plain-http URL: the request goes to the proxy in absolute form, over
    // TLS to the proxy (checked against the server-wide CA), with the proxy's credentials.
    // The upstream has a public name only the proxy resolves.
    let canary = crate::support::TestUpstream::start().await;
    canary.put("lib-1.0.pom", "<project/>");
    let canary_port = canary.url.port().unwrap();
    let internal = [
        (
            "lib-1.0.pom",
            format!("http://127.0.0.1:{canary_port}/lib-1.0.pom"),
        ),
        (
            "lib-1.0.module",
            format!("http://localhost:{canary_port}/lib-1.0.pom"),
        ),
    ];
    let redirects = internal
        .iter()
        .map(|(file, to)| (format!("org/corp/lib/1.0/{file}"), to.clone()))
        .collect();
    let (origin, asked) = plain_origin(redirects).await;
    let mut upstream = origin.clone();
    upstream.set_host(Some("maven.corp.example")).unwrap();
    let corp = TestCa::new("corp CA");
    let proxy = TestProxy::start(Some(corp.leaf(&["localhost"])), Some(("deployer", SECRET))).await;
    let mut with_secret = proxy.url.clone();
    with_secret.set_username("deployer").unwrap();
    with_secret.set_password(Some(SECRET)).unwrap();
    // A proxy whose certificate no trusted CA signed: the only TLS there is, is the proxy's.
    let stranger =
        TestProxy::start(Some(TestCa::new("unknown CA").leaf(&["localhost"])), None).await;
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo_text("maven", &upstream, &format!("proxy = \"{with_secret}\""))
        // The same proxy without its credentials: 407, which the client sees as a 502.
        + &repo_text("anonymous", &upstream, &format!("proxy = \"{}\"", proxy.url))
        + &repo_text("untrusted", &upstream, &format!("proxy = \"{}\"", stranger.url));
    let (_app, base) = serve_file(dir.path(), &text).await;

    let r = crate::support::client()
        .get(base.join(&format!("maven/{JAR}")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), body());
    let b64 = base64::engine::general_purpose::STANDARD;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&b64, format!("deployer:{SECRET}"))
    );
    // Each request in absolute form (the JAR, then its `.sha1`), with the proxy's credentials.
    let requests = proxy.requests();
    assert_eq!(
        requests[0],
        (format!("GET {upstream}{JAR} HTTP/1.1"), Some(basic.clone())),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|(_, auth)| *auth == Some(basic.clone())),
        "{requests:?}"
    );
    assert_eq!(proxy.tunnels.load(Ordering::SeqCst), 0, "no CONNECT");
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 0);
    assert_eq!(asked.lock().unwrap()[0], JAR);

    // The fence applies to the origin behind the proxy as to one reached directly: its
    // redirects to a loopback address or `localhost` are refused, and never reach the proxy.
    for (file, _) in &internal {
        let path = format!("maven/org/corp/lib/1.0/{file}");
        let r = crate::support::client()
            .get(base.join(&path).unwrap())
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_success(), "{path}: {}", r.status());
        assert!(
            asked
                .lock()
                .unwrap()
                .iter()
                .any(|p| path.ends_with(p.as_str())),
            "the origin was asked for {path}"
        );
    }
    assert_eq!(canary.total(), 0, "{:?}", canary.log());
    let lines: Vec<String> = proxy.requests().into_iter().map(|(l, _)| l).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("GET {upstream}org/corp/lib/1.0/"))),
        "only the upstream was asked through the proxy: {lines:?}"
    );
    let error = last_error_of(&base, "maven").await;
    assert!(error.contains("refused a redirect"), "{error}");

    let before = asked.lock().unwrap().len();
    assert_eq!(status_of(&base, "anonymous").await, StatusCode::BAD_GATEWAY);
    assert_eq!(proxy.requests().last().unwrap().1, None);
    assert_eq!(
        asked.lock().unwrap().len(),
        before,
        "the proxy let nothing through"
    );

    assert_eq!(status_of(&base, "untrusted").await, StatusCode::BAD_GATEWAY);
    assert!(stranger.requests().is_empty());
    assert!(stranger.refused.load(Ordering::SeqCst) >= 1);
    let error = last_error_of(&base, "untrusted").await;
    assert!(
        error.contains(&format!(
            "the TLS certificate of the upstream's proxy {} is not trusted",
            stranger.url
        )),
        "{error}"
    );
    let health = health_text(&base).await;
    assert!(!health.contains(SECRET), "{health}");
    assert!(!health.contains("deployer"), "{health}");
}

#[tokio::test]
async fn a_proxy_that_asks_for_credentials_marks_the_upstream_down_and_says_so() {
    // A proxy's 407 fails every request through it, through a tunnel (an https upstream,
    // `CONNECT`) or in absolute form (a plain-http upstream): an outage, not an answer, and
    // `/-/health` names the proxy and the fix, never its credentials.
    let corp = TestCa::new("corp CA");
    let origin = TlsOrigin::start(corp.leaf(&["localhost"]), &[b"http/1.1"], files()).await;
    let (plain, asked) = plain_origin(Vec::new()).await;
    let proxy = TestProxy::start(None, Some(("deployer", SECRET))).await;
    let mut with_secret = proxy.url.clone();
    with_secret.set_username("deployer").unwrap();
    with_secret.set_password(Some(SECRET)).unwrap();
    let mut wrong = with_secret.clone();
    wrong.set_password(Some("not-the-token")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "corp.pem", &corp);
    let repo = |name: &str, url: &Url, proxy: &Url| {
        format!(
            "[repositories.{name}]\nkind = \"maven\"\n[[repositories.{name}.upstreams]]\n\
             name = \"{name}\"\nurl = \"{url}\"\nproxy = \"{proxy}\"\nbreaker_failures = 1\n\
             breaker_backoff = \"1h\"\n"
        )
    };
    let text = "[server]\nca_certificates = \"corp.pem\"\n".to_owned()
        + &repo("tunnel", &origin.url, &proxy.url)
        + &repo("plain", &plain, &proxy.url)
        + &repo("wrong", &origin.url, &wrong)
        + &repo("granted", &origin.url, &with_secret);
    let (_app, base) = serve_file(dir.path(), &text).await;

    // With its credentials the tunnel opens: the proxy is what refuses the others.
    assert_eq!(status_of(&base, "granted").await, StatusCode::OK);
    assert!(proxy.tunnels.load(Ordering::SeqCst) >= 1);
    for repo in ["tunnel", "plain", "wrong"] {
        assert_eq!(
            status_of(&base, repo).await,
            StatusCode::BAD_GATEWAY,
            "{repo}"
        );
    }
    assert!(
        asked.lock().unwrap().is_empty(),
        "the proxy let nothing through"
    );
    let health: serde_json::Value = serde_json::from_str(&health_text(&base).await).unwrap();
    let shown = proxy.url.to_string();
    for repo in ["tunnel", "plain", "wrong"] {
        let repository = health["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == repo)
            .unwrap();
        let up = &repository["upstreams"][0];
        assert_eq!(up["state"], "down", "{repo}: {up}");
        assert_eq!(up["consecutive_failures"], 1, "{repo}: {up}");
        let error = up["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!(
                "the upstream's proxy {shown} asks for credentials (HTTP 407 Proxy \
                 Authentication Required): set them, or check them, as `user:password@` in \
                 this upstream's `proxy` URL"
            )),
            "{repo}: {error}"
        );
    }
    let granted = &health["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "granted")
        .unwrap()["upstreams"][0];
    assert_eq!(granted["state"], "up", "{granted}");
    let health = health.to_string();
    assert!(!health.contains(SECRET), "{health}");
    assert!(!health.contains("not-the-token"), "{health}");
    assert!(!health.contains("deployer"), "{health}");
    // Down: the next request is not even sent to the proxy.
    let before = proxy.requests().len();
    assert_eq!(status_of(&base, "plain").await, StatusCode::BAD_GATEWAY);
    assert_eq!(proxy.requests().len(), before);
}
