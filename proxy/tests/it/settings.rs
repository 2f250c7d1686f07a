//! The settings API (`/-/api/config`, `/-/api/repositories/NAME`, undo) on a server with a
//! config file: each endpoint, refusal of an invalid change, undo, comments kept, and changes
//! that leave downloads in flight alone; `ca_certificates` files keep their spelling through a
//! save, and `PUT /-/api/server` sets the server-wide one.

use std::path::PathBuf;
use std::time::Duration;

use http::{Method, StatusCode};
use repox_proxy::config::Config;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;

use crate::support::{Behavior, TestUpstream, bytes, client};

const JAR: &str = "org/ex/a/1/a-1.jar";

/// A server started from a config file, as `repox serve` runs it.
struct Served {
    url: Url,
    file: PathBuf,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Served {
    async fn start(text: &str) -> Served {
        Served::start_in(tempfile::tempdir().unwrap(), text).await
    }

    /// [`Served::start`] with the config file in `dir`, where the test put other files.
    async fn start_in(dir: tempfile::TempDir, text: &str) -> Served {
        let file = dir.path().join("repox.toml");
        std::fs::write(&file, text).unwrap();
        let mut config = Config::parse(text, &file).unwrap();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.cache_dir = Some(dir.path().join("cache"));
        let server = repox_proxy::Server::bind(config).await.unwrap();
        server.app().live().set_file(file.clone());
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Served {
            url,
            file,
            _dir: dir,
            _stop: stop,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = client()
            .request(method, self.url.join(path).unwrap())
            .header("x-repox-csrf", "1");
        if let Some(body) = body {
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn config(&self) -> Value {
        let (status, body) = self.call(Method::GET, "-/api/config", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn put(&self, name: &str, repo: Value) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("-/api/repositories/{name}"),
            Some(repo),
        )
        .await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(self.url.join(path).unwrap())
            .send()
            .await
            .unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }
}

fn two_upstreams(a: &TestUpstream, b: &TestUpstream) -> String {
    format!(
        r#"# Team repox.
[server]
listen = "127.0.0.1:1" # replaced by the test

# Our mirror.
[repositories.m]
kind = "maven"
negative_ttl = "1m"

# The fast one first.
[[repositories.m.upstreams]]
name = "a"
url = "{}"
idle_timeout = "2s" # keep it short

# The other one.
[[repositories.m.upstreams]]
name = "b"
url = "{}"
priority = 1
password_env = "HOME"
"#,
        a.url, b.url
    )
}

async fn pair() -> (TestUpstream, TestUpstream) {
    let (a, b) = (TestUpstream::start().await, TestUpstream::start().await);
    for (up, seed) in [(&a, 1), (&b, 2)] {
        up.put_with_sha1(JAR, bytes(1000, seed));
        up.put_with_sha1("org/ex/b/1/b-1.jar", bytes(1000, seed + 10));
    }
    (a, b)
}

#[tokio::test]
async fn get_shows_each_repository_with_the_file_keys_and_no_secret() {
    let (a, b) = pair().await;
    let mut secret_url = b.url.clone();
    secret_url.set_username("deploy").unwrap();
    secret_url.set_password(Some("s3cret")).unwrap();
    let text = two_upstreams(&a, &b).replace(b.url.as_str(), secret_url.as_str());
    let served = Served::start(&text).await;
    let body = served.config().await;
    assert_eq!(body["file"], json!(served.file.display().to_string()));
    assert_eq!(body["can_undo"], json!(false));
    let m = &body["repositories"]["m"];
    assert_eq!(m["kind"], "maven");
    assert_eq!(m["negative_ttl"], "1m");
    assert_eq!(m["metadata_ttl"], Value::Null);
    assert_eq!(m["upstreams"][0]["name"], "a");
    assert_eq!(m["upstreams"][0]["idle_timeout"], "2s");
    assert_eq!(m["upstreams"][0]["connect_timeout"], "5s");
    assert_eq!(m["upstreams"][1]["priority"], 1);
    assert_eq!(m["upstreams"][1]["enabled"], true);
    assert!(
        body["repositories"]["pypi"].is_object(),
        "built-ins listed too"
    );
    let shown = body.to_string();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("deploy@"),
        "the user name is no secret: {shown}"
    );
    assert_eq!(m["upstreams"][1]["password_env"], "HOME");
    let home = std::env::var("HOME").unwrap();
    assert!(!shown.contains(&format!("\"{home}\"")), "{shown}");

    // The repository sent back as shown keeps the password in the file.
    let (status, resp) = served.put("m", m.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert!(served.text().contains("s3cret"), "{}", served.text());
    assert!(!resp.to_string().contains("s3cret"));
}

#[tokio::test]
async fn put_applies_at_once_and_writes_the_file_with_its_comments() {
    let (a, b) = pair().await;
    let served = Served::start(&two_upstreams(&a, &b)).await;
    let resp = served.get(&format!("m/{JAR}")).await;
    assert_eq!(resp.bytes().await.unwrap(), bytes(1000, 1), "a first");

    let mut m = served.config().await["repositories"]["m"].clone();
    m["upstreams"][0]["priority"] = json!(2);
    m["upstreams"][1]["connect_timeout"] = json!("3s");
    let (status, body) = served.put("m", m).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["repository"]["upstreams"][0]["priority"], 2);

    let resp = served.get("m/org/ex/b/1/b-1.jar").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.bytes().await.unwrap(),
        bytes(1000, 12),
        "b is first now"
    );
    assert_eq!(a.count(Method::GET, "org/ex/b/1/b-1.jar"), 0);

    let text = served.text();
    for kept in [
        "# Team repox.",
        "listen = \"127.0.0.1:1\" # replaced by the test",
        "# Our mirror.",
        "# The fast one first.",
        "idle_timeout = \"2s\" # keep it short",
        "# The other one.",
    ] {
        assert!(text.contains(kept), "lost `{kept}`:\n{text}");
    }
    assert!(text.contains("priority = 2"), "{text}");
    assert!(text.contains("connect_timeout = \"3s\""), "{text}");
    assert_eq!(served.config().await["can_undo"], json!(true));
}

#[tokio::test]
async fn an_invalid_change_is_refused_and_nothing_changes() {
    let (a, b) = pair().await;
    let served = Served::start(&two_upstreams(&a, &b)).await;
    let before_text = served.text();
    let before = served.config().await;
    let m = before["repositories"]["m"].clone();

    let mut zero = m.clone();
    zero["upstreams"][1]["connect_timeout"] = json!("0s");
    let mut dup = m.clone();
    dup["upstreams"][1]["name"] = json!("a");
    let mut unknown = m.clone();
    unknown["upstreams"][0]["colour"] = json!("red");
    let mut bad_url = m.clone();
    bad_url["upstreams"][0]["url"] = json!("ftp://127.0.0.1/");
    let mut bad_glob = m.clone();
    bad_glob["block"] = json!(["a["]);
    let mut unset_secret = m.clone();
    unset_secret["upstreams"][0]["password_env"] = json!("REPOX_TEST_SURELY_UNSET_VARIABLE");
    let mut missing_ca = m.clone();
    missing_ca["upstreams"][0]["ca_certificates"] = json!("missing-ca.pem");
    // A relative path is beside the config file, as in the file itself.
    let ca_says = format!(
        "upstream `a`: cannot use `ca_certificates` file `{}`: No such file",
        served.file.with_file_name("missing-ca.pem").display()
    );
    for (repo, says) in [
        (zero, "`upstreams[1].connect_timeout`"),
        (dup, "two upstreams are named `a`"),
        (unknown, "colour"),
        (bad_url, "`upstreams[0].url`"),
        (bad_glob, "repositories.m.block: bad glob `a[`"),
        (unset_secret, "REPOX_TEST_SURELY_UNSET_VARIABLE"),
        (missing_ca, ca_says.as_str()),
        (json!("not an object"), "repositories.m"),
    ] {
        let (status, body) = served.put("m", repo).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{error}");
        assert!(error.starts_with("repositories.m"), "{error}");
    }
    let (status, body) = served.put("no%20space", json!({"kind": "maven"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(served.text(), before_text);
    assert_eq!(served.config().await, before);
    let resp = served.get(&format!("m/{JAR}")).await;
    assert_eq!(resp.bytes().await.unwrap(), bytes(1000, 1));

    // A file broken by hand is not overwritten: fix it first.
    std::fs::write(&served.file, "[repositories.m\n").unwrap();
    let (status, body) = served.put("m", m).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not valid TOML"),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(&served.file).unwrap(),
        "[repositories.m\n"
    );
}

#[tokio::test]
async fn undo_restores_the_version_before_the_last_change() {
    let (a, b) = pair().await;
    let served = Served::start(&two_upstreams(&a, &b)).await;
    let before_text = served.text();
    let before = served.config().await;
    let (status, body) = served.call(Method::POST, "-/api/config/undo", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let mut m = before["repositories"]["m"].clone();
    m["upstreams"].as_array_mut().unwrap().remove(0);
    let (status, body) = served.put("m", m).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = served.get(&format!("m/{JAR}")).await;
    assert_eq!(
        resp.bytes().await.unwrap(),
        bytes(1000, 2),
        "only b is left"
    );

    let (status, body) = served.call(Method::POST, "-/api/config/undo", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["repositories"], before["repositories"]);
    assert_eq!(body["can_undo"], json!(false));
    assert_eq!(served.text(), before_text);
    let resp = served.get("m/org/ex/b/1/b-1.jar").await;
    assert_eq!(
        resp.bytes().await.unwrap(),
        bytes(1000, 11),
        "a is back first"
    );
    let (status, _) = served.call(Method::POST, "-/api/config/undo", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn put_creates_and_delete_removes_a_repository() {
    let (a, b) = pair().await;
    let served = Served::start(&two_upstreams(&a, &b)).await;
    let new = json!({
        "kind": "maven",
        "upstreams": [{"name": "only", "url": b.url.as_str()}],
        "metadata_ttl": "10m",
        "index_ttl": null,
    });
    let (status, body) = served.put("extra", new).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["repository"]["metadata_ttl"], "10m");
    let resp = served.get(&format!("extra/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), bytes(1000, 2));
    let metrics = served.get("-/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("repox_upstream_up{upstream=\"only\"} 1"),
        "{metrics}"
    );
    let text = served.text();
    assert!(text.contains("[repositories.extra]"), "{text}");
    assert!(text.contains("# The other one."), "{text}");

    let (status, body) = served
        .call(Method::DELETE, "-/api/repositories/extra", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = served.get(&format!("extra/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!served.text().contains("extra"));
    let metrics = served.get("-/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("repox_upstream_up{upstream=\"only\"}"),
        "{metrics}"
    );
    let (status, _) = served
        .call(Method::DELETE, "-/api/repositories/extra", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = served
        .call(Method::DELETE, "-/api/repositories/pypi", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("built-in"),
        "{body}"
    );
}

#[tokio::test]
async fn a_server_without_its_file_yet_creates_it() {
    let (a, _b) = pair().await;
    let served = Served::start("").await;
    std::fs::remove_file(&served.file).unwrap();
    assert_eq!(served.config().await["file"], Value::Null);
    let repo = json!({"kind": "maven", "upstreams": [{"name": "a", "url": a.url.as_str()}]});
    let (status, body) = served.put("m", repo).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = served.text();
    assert!(text.starts_with("# repox configuration"), "{text}");
    let config = served.config().await;
    assert_eq!(config["file"], json!(served.file.display().to_string()));
    let (status, _) = served.call(Method::POST, "-/api/config/undo", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served.text(), "");
    let resp = served.get(&format!("m/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Polls until `upstream` has seen a GET of `path` (bounded).
async fn until_requested(upstream: &TestUpstream, path: &str) {
    for _ in 0..200 {
        if upstream.count(Method::GET, path) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the upstream never saw GET {path}");
}

#[tokio::test]
async fn downloads_in_flight_survive_a_change_and_unchanged_repositories_keep_coalescing() {
    let (a, b) = pair().await;
    let big = bytes(512 * 1024, 7);
    for up in [&a, &b] {
        up.put_with_sha1("org/ex/big/1/big-1.jar", big.clone());
        up.behave(
            "org/ex/big/1/big-1.jar",
            Behavior {
                chunk_delay: Some(Duration::from_millis(40)),
                ..Behavior::default()
            },
        );
    }
    let text = format!(
        "{}\n[repositories.n]\nkind = \"maven\"\n[[repositories.n.upstreams]]\nname = \"a\"\nurl = \"{}\"\n",
        two_upstreams(&a, &b),
        a.url
    );
    let served = std::sync::Arc::new(Served::start(&text).await);
    let path = "org/ex/big/1/big-1.jar";
    let fetch = |repo: &str| {
        let served = served.clone();
        let url = format!("{repo}/{path}");
        tokio::spawn(async move {
            let resp = served.get(&url).await;
            assert_eq!(resp.status(), StatusCode::OK);
            resp.bytes().await.unwrap()
        })
    };
    let on_n = fetch("n");
    until_requested(&a, path).await;
    // Change m (n is untouched) while n's download runs: a second request for the same file
    // on n joins the running fill.
    let mut m = served.config().await["repositories"]["m"].clone();
    m["upstreams"][0]["url"] = json!(b.url.as_str());
    let (status, body) = served.put("m", m).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again_on_n = fetch("n");
    assert_eq!(on_n.await.unwrap(), big);
    assert_eq!(again_on_n.await.unwrap(), big);
    assert_eq!(
        a.count(Method::GET, path),
        1,
        "the second request joined the fill"
    );

    // Change n's upstream URL while its own download runs: the download finishes.
    let other = "org/ex/big/1/big-1.pom";
    for up in [&a, &b] {
        up.put_with_sha1(other, big.clone());
        up.behave(
            other,
            Behavior {
                chunk_delay: Some(Duration::from_millis(40)),
                ..Behavior::default()
            },
        );
    }
    let on_n = {
        let served = served.clone();
        tokio::spawn(async move {
            served
                .get(&format!("n/{other}"))
                .await
                .bytes()
                .await
                .unwrap()
        })
    };
    until_requested(&a, other).await;
    let mut n = served.config().await["repositories"]["n"].clone();
    n["upstreams"][0]["url"] = json!(b.url.as_str());
    let (status, body) = served.put("n", n).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(on_n.await.unwrap(), big);
    let resp = served.get("n/org/ex/b/1/b-1.jar").await;
    assert_eq!(resp.bytes().await.unwrap(), bytes(1000, 12), "n now asks b");
}

/// A PEM file holding a fresh self-signed CA certificate.
fn ca_pem() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "settings test CA");
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn relative_ca_files_keep_their_spelling_and_the_server_wide_one_is_set_live() {
    let (a, b) = pair().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/ca.pem"), ca_pem()).unwrap();
    let text = two_upstreams(&a, &b).replace(
        "idle_timeout = \"2s\" # keep it short\n",
        "idle_timeout = \"2s\" # keep it short\nca_certificates = \"certs/ca.pem\"\n",
    );
    let served = Served::start_in(dir, &text).await;
    let body = served.config().await;
    let m = body["repositories"]["m"].clone();
    assert_eq!(m["upstreams"][0]["ca_certificates"], "certs/ca.pem");
    assert_eq!(body["server"], json!({ "ca_certificates": null }));

    // Sent back as shown: the file is byte-identical.
    let (status, resp) = served.put("m", m.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(served.text(), text);
    // Another key changed: the relative line stays as it was.
    let mut changed = m.clone();
    changed["upstreams"][1]["priority"] = json!(3);
    let (status, resp) = served.put("m", changed).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(
        resp["repository"]["upstreams"][0]["ca_certificates"],
        "certs/ca.pem"
    );
    assert_eq!(
        served.text(),
        text.replace("priority = 1\n", "priority = 3\n")
    );
    let resp = served.get(&format!("m/{JAR}")).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // The server-wide file: set as written, in force at once, the same value changes nothing.
    let put_server = |value: Value| served.call(Method::PUT, "-/api/server", Some(value));
    let before = served.text();
    let (status, resp) = put_server(json!({ "ca_certificates": "certs/ca.pem" })).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["server"]["ca_certificates"], "certs/ca.pem");
    let with_server = served.text();
    assert_eq!(
        with_server,
        before.replace(
            "# replaced by the test\n",
            "# replaced by the test\nca_certificates = \"certs/ca.pem\"\n"
        )
    );
    assert_eq!(
        served.config().await["server"]["ca_certificates"],
        "certs/ca.pem"
    );
    let (status, _) = put_server(json!({ "ca_certificates": "certs/ca.pem" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served.text(), with_server);

    // A file that does not exist is refused with one line naming the key and the resolved
    // path; nothing changes. So is a key that needs a restart.
    let missing = served.file.with_file_name("missing.pem");
    let (status, resp) = put_server(json!({ "ca_certificates": "missing.pem" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    let error = resp["error"].as_str().unwrap();
    let says = format!(
        "cannot use `[server] ca_certificates` file `{}`: No such file",
        missing.display()
    );
    assert!(error.starts_with(&says), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    let (status, resp) = put_server(json!({ "listen": "0.0.0.0:1" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert!(
        resp["error"].as_str().unwrap().contains("restart"),
        "{resp}"
    );
    assert_eq!(served.text(), with_server);
    assert_eq!(
        served.config().await["server"]["ca_certificates"],
        "certs/ca.pem"
    );

    // `null` takes it out again.
    let (status, resp) = put_server(json!({ "ca_certificates": null })).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(served.text(), before);
}
