//! Users, tokens and permissions on a running server: every way a client sends credentials,
//! 401/403/429, token expiry and revocation, the users file re-read while running, cargo's
//! `auth-required`, conda's `/t/TOKEN/` prefix, and `X-Forwarded-*` only from trusted proxies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http::{Method, StatusCode, header};
use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{Anonymous, AuthConfig, Config, Kind, RepoName, ServerConfig};
use url::Url;

use crate::npm_support::repo;
use crate::support::{TestUpstream, client};

const JAR: &str = "maven/org/x/lib/1.0/lib-1.0.jar";

/// A server with `[auth]` set up, and the users file it reads.
struct Team {
    url: Url,
    users: PathBuf,
    _dir: tempfile::TempDir,
}

impl Team {
    async fn start(
        anonymous: Anonymous,
        trusted_proxies: &[&str],
        repos: Vec<(&str, repox_proxy::config::RepositoryConfig)>,
        file: &UsersFile,
    ) -> Team {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        file.save(&users).unwrap();
        let mut repositories = BTreeMap::new();
        for (name, repo) in repos {
            let name: RepoName = serde_json::from_value(serde_json::json!(name)).unwrap();
            repositories.insert(name, repo);
        }
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(dir.path().join("cache")),
                trusted_proxies: trusted_proxies
                    .iter()
                    .map(|n| match n.parse::<std::net::IpAddr>() {
                        Ok(addr) => addr.into(),
                        Err(_) => n.parse().unwrap(),
                    })
                    .collect(),
                ..ServerConfig::default()
            },
            repositories,
            auth: AuthConfig {
                anonymous,
                users_file: Some(users.clone()),
            },
            storage: Default::default(),
        };
        let server = repox_proxy::Server::bind(config).await.unwrap();
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        tokio::spawn(server.run(std::future::pending()));
        Team {
            url,
            users,
            _dir: dir,
        }
    }

    fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    async fn status(&self, path: &str, auth: Option<&str>) -> StatusCode {
        let mut req = client().get(self.at(path));
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.send().await.unwrap().status()
    }

    /// Rewrites the users file and waits (bounded) until the server answers `path` with
    /// `expected` for `auth`.
    async fn change_users(
        &self,
        edit: impl FnOnce(&mut UsersFile),
        path: &str,
        auth: &str,
        expected: StatusCode,
    ) {
        let mut file = UsersFile::load(&self.users).unwrap();
        edit(&mut file);
        file.save(&self.users).unwrap();
        for _ in 0..100 {
            if self.status(path, Some(auth)).await == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never answered {expected} after the users file changed");
    }
}

fn basic(user: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {b64}")
}

/// alice (read, password `alice-pw`, write on `maven`), bob (read, token only) and root (admin,
/// password `root-pw`); returns the file and bob's token.
fn team_file() -> (UsersFile, String) {
    let mut f = UsersFile::default();
    let grants = BTreeMap::from([("maven".to_owned(), Role::Write)]);
    f.add_user("alice", Role::Read, Some("alice-pw"), grants)
        .unwrap();
    f.add_user("bob", Role::Read, None, BTreeMap::new())
        .unwrap();
    f.add_user("root", Role::Admin, Some("root-pw"), BTreeMap::new())
        .unwrap();
    let (_, token) = f
        .create_token("bob", Some("ci"), None, SystemTime::now())
        .unwrap();
    (f, token)
}

async fn maven_upstream() -> TestUpstream {
    let up = TestUpstream::start().await;
    up.put_with_sha1("org/x/lib/1.0/lib-1.0.jar", "jar bytes");
    up
}

#[tokio::test]
async fn every_client_scheme_is_accepted_and_the_rest_refused() {
    let up = maven_upstream().await;
    let (file, token) = team_file();
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    let team = Team::start(Anonymous::None, &[], vec![("maven", maven)], &file).await;

    let resp = client().get(team.at(JAR)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"repox\""
    );
    assert_eq!(up.total(), 0, "nothing reaches upstream without a login");

    let ok = StatusCode::OK;
    let denied = StatusCode::UNAUTHORIZED;
    let cases = [
        (basic("alice", "alice-pw"), ok, "Basic with a password"),
        (basic("bob", &token), ok, "Basic with the user's token"),
        (
            basic("__token__", &token),
            ok,
            "Basic __token__ with a token",
        ),
        (format!("Bearer {token}"), ok, "Bearer (npm)"),
        (token.clone(), ok, "raw token (cargo)"),
        (basic("alice", "wrong"), denied, "wrong password"),
        (basic("nobody", "alice-pw"), denied, "unknown user"),
        (basic("alice", &token), denied, "another user's token"),
        (basic("bob", ""), denied, "token-only user without a token"),
        (format!("Bearer {token}x"), denied, "unknown token"),
        ("Bearer repox-".to_owned(), denied, "empty token"),
        ("Basic !!".to_owned(), denied, "malformed Basic"),
        ("Digest x".to_owned(), denied, "unknown scheme"),
    ];
    for (auth, expected, what) in &cases {
        assert_eq!(team.status(JAR, Some(auth)).await, *expected, "{what}");
    }
    // Twice the same password: the second check comes from the verification cache and must
    // agree.
    assert_eq!(
        team.status(JAR, Some(&basic("alice", "alice-pw"))).await,
        ok
    );

    // /-/health stays open; the operator endpoints need admin.
    assert_eq!(team.status("-/health", None).await, ok);
    assert_eq!(team.status("-/metrics", None).await, denied);
    let metrics_as = |auth: String| {
        let team = &team;
        async move { team.status("-/metrics", Some(&auth)).await }
    };
    assert_eq!(
        metrics_as(basic("alice", "alice-pw")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        metrics_as(format!("Bearer {token}")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(metrics_as(basic("root", "root-pw")).await, ok);

    // Writes need the write role on that repository: alice has it on maven, bob does not.
    let put = |auth: String| {
        let team = &team;
        async move {
            client()
                .put(team.at(JAR))
                .header(header::AUTHORIZATION, auth)
                .body("x")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let bob_put = put(format!("Bearer {token}")).await;
    assert_eq!(bob_put, StatusCode::FORBIDDEN);
    let alice_put = put(basic("alice", "alice-pw")).await;
    assert_eq!(
        alice_put,
        StatusCode::METHOD_NOT_ALLOWED,
        "allowed, then refused by the read-only proxy"
    );
}

#[tokio::test]
async fn anonymous_read_keeps_working_and_bad_credentials_are_still_refused() {
    let up = maven_upstream().await;
    let (file, token) = team_file();
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    let team = Team::start(Anonymous::Read, &[], vec![("maven", maven)], &file).await;
    assert_eq!(team.status(JAR, None).await, StatusCode::OK);
    assert_eq!(team.status("-/metrics", None).await, StatusCode::OK);
    assert_eq!(
        team.status(JAR, Some(&format!("Bearer {token}"))).await,
        StatusCode::OK
    );
    assert_eq!(
        team.status(JAR, Some(&basic("alice", "nope"))).await,
        StatusCode::UNAUTHORIZED
    );

    // Without any user, credentials a client sends anyway are ignored, as before.
    let up = maven_upstream().await;
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    let alone = Team::start(
        Anonymous::Read,
        &[],
        vec![("maven", maven)],
        &UsersFile::default(),
    )
    .await;
    assert_eq!(
        alone.status(JAR, Some(&basic("someone", "whatever"))).await,
        StatusCode::OK
    );
    let put = client().put(alone.at(JAR)).body("x").send().await.unwrap();
    assert_eq!(
        put.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "no users: writes as before"
    );
    let put = client().put(team.at(JAR)).body("x").send().await.unwrap();
    assert_eq!(
        put.status(),
        StatusCode::UNAUTHORIZED,
        "with users, a write needs a login"
    );
    let none = Team::start(Anonymous::None, &[], vec![], &UsersFile::default()).await;
    assert_eq!(
        none.status("-/metrics", Some(&basic("x", "y"))).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn expired_and_revoked_tokens_and_changed_users_take_effect_while_running() {
    let up = maven_upstream().await;
    let (mut file, token) = team_file();
    let long_ago = SystemTime::now() - Duration::from_secs(7200);
    let (_, expired) = file
        .create_token("bob", None, Some(Duration::from_secs(3600)), long_ago)
        .unwrap();
    let (_, later) = file
        .create_token(
            "bob",
            None,
            Some(Duration::from_secs(86400)),
            SystemTime::now(),
        )
        .unwrap();
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    let team = Team::start(Anonymous::None, &[], vec![("maven", maven)], &file).await;
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        team.status(JAR, Some(&bearer(&expired))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        team.status(JAR, Some(&bearer(&later))).await,
        StatusCode::OK
    );

    // Revoking a token in the file locks it out of the running server.
    let token_hash = repox_proxy::auth::secret::token_hash(&token);
    team.change_users(
        |f| {
            let id = f
                .tokens
                .iter()
                .find(|(_, t)| t.sha256 == token_hash)
                .map(|(id, _)| id.clone())
                .unwrap();
            f.revoke_token(&id).unwrap();
        },
        JAR,
        &bearer(&token),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        team.status(JAR, Some(&bearer(&later))).await,
        StatusCode::OK
    );

    // A user added while running can log in.
    team.change_users(
        |f| {
            f.add_user("carol", Role::Read, Some("carol-pw"), BTreeMap::new())
                .unwrap()
        },
        JAR,
        &basic("carol", "carol-pw"),
        StatusCode::OK,
    )
    .await;
    // A changed password replaces the old one at once, verified-password cache or not.
    assert_eq!(
        team.status(JAR, Some(&basic("alice", "alice-pw"))).await,
        StatusCode::OK
    );
    team.change_users(
        |f| {
            f.remove_user("alice").unwrap();
            f.add_user("alice", Role::Read, Some("new-pw"), BTreeMap::new())
                .unwrap();
        },
        JAR,
        &basic("alice", "new-pw"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        team.status(JAR, Some(&basic("alice", "alice-pw"))).await,
        StatusCode::UNAUTHORIZED
    );
    // A removed user's tokens go with them.
    team.change_users(
        |f| {
            f.remove_user("bob").unwrap();
        },
        JAR,
        &bearer(&later),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A broken users file is refused and the previous users stay.
    std::fs::write(&team.users, "[users.x]\nrole = \"boss\"\n").unwrap();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            team.status(JAR, Some(&basic("carol", "carol-pw"))).await,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address() {
    let up = maven_upstream().await;
    let (file, _) = team_file();
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    // 127.0.0.1 is a trusted proxy, so X-Forwarded-For names the client.
    let team = Team::start(
        Anonymous::None,
        &["127.0.0.1"],
        vec![("maven", maven)],
        &file,
    )
    .await;
    let attempt = |from: &'static str, auth: String| {
        let team = &team;
        async move {
            client()
                .get(team.at(JAR))
                .header(header::AUTHORIZATION, auth)
                .header("x-forwarded-for", from)
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..repox_proxy::auth::ratelimit::MAX_FAILURES {
        let resp = attempt("203.0.113.7", basic("alice", "guess")).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused from that address...
    let resp = attempt("203.0.113.7", basic("alice", "alice-pw")).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // ...but not from another one.
    let resp = attempt("203.0.113.8", basic("alice", "alice-pw")).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_rate_limit_bucket() {
    let up = maven_upstream().await;
    let (file, _) = team_file();
    let maven = repo(Kind::Maven, &[("up", &up.url, 0)]);
    let team = Team::start(
        Anonymous::None,
        &["10.0.0.0/8"],
        vec![("maven", maven)],
        &file,
    )
    .await;
    for i in 0..repox_proxy::auth::ratelimit::MAX_FAILURES {
        let resp = client()
            .get(team.at(JAR))
            .header(header::AUTHORIZATION, basic("alice", "guess"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = client()
        .get(team.at(JAR))
        .header(header::AUTHORIZATION, basic("alice", "alice-pw"))
        .header("x-forwarded-for", "198.51.100.200")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A cargo index upstream serving `config.json`.
async fn cargo_index() -> TestUpstream {
    let index = TestUpstream::start().await;
    let config = serde_json::json!({"dl": format!("{}crates", index.url), "api": "http://x"});
    index.put("config.json", config.to_string());
    index
}

async fn config_json(
    team: &Team,
    auth: Option<&str>,
    headers: &[(&str, &str)],
) -> serde_json::Value {
    let mut req = client().get(team.at("cargo/index/config.json"));
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn cargo_is_told_to_authenticate_exactly_when_anonymous_is_none() {
    let index = cargo_index().await;
    let (file, token) = team_file();
    let cargo = || repo(Kind::Cargo, &[("crates-io", &index.url, 0)]);
    let closed = Team::start(Anonymous::None, &[], vec![("cargo", cargo())], &file).await;
    assert_eq!(
        closed.status("cargo/index/config.json", None).await,
        StatusCode::UNAUTHORIZED
    );
    let doc = config_json(&closed, Some(&token), &[]).await;
    assert_eq!(doc["auth-required"], true);
    let open = Team::start(Anonymous::Read, &[], vec![("cargo", cargo())], &file).await;
    let doc = config_json(&open, None, &[]).await;
    assert!(doc.get("auth-required").is_none(), "{doc}");
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let index = cargo_index().await;
    let cargo = || repo(Kind::Cargo, &[("crates-io", &index.url, 0)]);
    let users = UsersFile::default();
    let forwarded = [
        ("x-forwarded-host", "repo.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let trusted = Team::start(
        Anonymous::Read,
        &["127.0.0.1"],
        vec![("cargo", cargo())],
        &users,
    )
    .await;
    let doc = config_json(&trusted, None, &forwarded).await;
    assert_eq!(doc["dl"], "https://repo.example.com/cargo/dl");

    let untrusted = Team::start(
        Anonymous::Read,
        &["10.0.0.0/8"],
        vec![("cargo", cargo())],
        &users,
    )
    .await;
    let doc = config_json(&untrusted, None, &forwarded).await;
    assert_eq!(doc["dl"], untrusted.at("cargo/dl").as_str());

    // A Host that cannot go into a URL gives the address the server listens on, not :8078.
    let doc = config_json(&untrusted, None, &[("host", "evil\"host")]).await;
    assert_eq!(doc["dl"], untrusted.at("cargo/dl").as_str());
}

#[tokio::test]
async fn a_repox_token_in_a_conda_path_logs_in_and_never_goes_upstream() {
    let up = TestUpstream::start().await;
    up.put("fixture/channeldata.json", r#"{"channeldata_version":1}"#);
    up.put(
        "t/anaconda-tok/private/channeldata.json",
        r#"{"channeldata_version":2}"#,
    );
    let (file, token) = team_file();
    let conda = || repo(Kind::Conda, &[("up", &up.url, 0)]);
    let closed = Team::start(Anonymous::None, &[], vec![("conda", conda())], &file).await;
    let path = format!("conda/t/{token}/fixture/channeldata.json");
    let resp = client().get(closed.at(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), r#"{"channeldata_version":1}"#);
    assert!(
        up.log().iter().all(|l| !l.path.contains(&token)),
        "the token reached upstream: {:?}",
        up.log().iter().map(|l| &l.path).collect::<Vec<_>>()
    );
    assert_eq!(up.count(Method::GET, "fixture/channeldata.json"), 1);
    // A wrong repox token is refused, not forwarded.
    let wrong = format!("conda/t/{token}x/fixture/channeldata.json");
    assert_eq!(closed.status(&wrong, None).await, StatusCode::UNAUTHORIZED);
    // An anaconda.org token is no login...
    let channel = "conda/t/anaconda-tok/private/channeldata.json";
    assert_eq!(closed.status(channel, None).await, StatusCode::UNAUTHORIZED);
    assert!(up.log().iter().all(|l| !l.path.contains("anaconda-tok")));
    // ...and where anonymous reading is allowed it still goes upstream, as before.
    let open = Team::start(Anonymous::Read, &[], vec![("conda", conda())], &file).await;
    let resp = client().get(open.at(channel)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        up.count(Method::GET, "t/anaconda-tok/private/channeldata.json"),
        1
    );
    let wrong_open = format!("conda/t/repox-{}/fixture/channeldata.json", "0".repeat(40));
    assert_eq!(
        open.status(&wrong_open, None).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The real cargo against a repox with anonymous access off: without a token it fails, with a
/// repox token (sent because `config.json` says `auth-required`) it fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_fetches_with_a_token_and_fails_without() {
    if !crate::npm_support::have(env!("CARGO"), &["--version"]) {
        return;
    }
    let reg = crate::cargo::Registry::start().await;
    reg.publish("fixture-leaf", "1.0.0", &[]);
    let (file, token) = team_file();
    let cargo_repo = repo(Kind::Cargo, &[("crates-io", &reg.index.url, 0)]);
    let team = Team::start(Anonymous::None, &[], vec![("cargo", cargo_repo)], &file).await;

    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nfixture-leaf = \"1\"\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
    let cargo_home = |name: &str| {
        let home = work.path().join(name).join(".cargo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!(
                "[registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n[source.crates-io]\nreplace-with = \"repox\"\n\n[registries.repox]\nindex = \"sparse+{}\"\n",
                team.at("cargo/index/")
            ),
        )
        .unwrap();
        home
    };

    let without = crate::cargo::cargo(&cargo_home("anon"), &project, &["fetch"]);
    let out = tokio::task::spawn_blocking(move || { without }.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success(), "cargo fetched without a token");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no token found"), "{stderr}");

    let mut with = crate::cargo::cargo(&cargo_home("user"), &project, &["fetch"]);
    with.env("CARGO_REGISTRIES_REPOX_TOKEN", &token);
    crate::support::run(with).await;
    assert_eq!(
        reg.dl
            .count(Method::GET, "crates/fixture-leaf/1.0.0/download"),
        1
    );
}

#[tokio::test]
async fn a_bad_users_file_stops_the_server_from_starting_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, "[users.x]\nrole = \"boss\"\n").unwrap();
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(dir.path().join("cache")),
            ..ServerConfig::default()
        },
        repositories: BTreeMap::new(),
        auth: AuthConfig {
            anonymous: Anonymous::None,
            users_file: Some(users.clone()),
        },
        storage: Default::default(),
    };
    let Err(err) = repox_proxy::Server::bind(config).await else {
        panic!("the server started with a broken users file");
    };
    let err = err.to_string();
    assert!(
        err.contains(&format!("users file `{}` is invalid", users.display())),
        "{err}"
    );
}
