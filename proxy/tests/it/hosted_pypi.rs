//! Hosted PyPI and PyPI groups on a running server: uploads through the legacy upload API (by
//! hand, with twine and with uv publish), permissions, digest checks, 409 on re-upload, the
//! generated PEP 691 pages with PEP 658/700 data, yank and delete, the dependency-confusion rule,
//! and pip and uv installing from the group: the private package from the hosted member, its
//! public dependency from a proxy member over a test index on 127.0.0.1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use http::{StatusCode, header};
use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{AuthConfig, Config, Kind, RepoName, RepositoryConfig, ServerConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::pypi::fixture::{Dist, Index, Mode, fixture_dists, have_clients, isolated, pypi};
use crate::support::{client, run};

const BOUNDARY: &str = "repox-test-boundary";

/// A server with `pypi-releases` (hosted), `pypi` (a proxy of `index`) and `pypi-public` (the
/// group of both), and users: alice (write), reader (read), root (admin).
pub struct Team {
    pub url: Url,
    pub dir: tempfile::TempDir,
}

pub fn basic(user: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {b64}")
}

impl Team {
    pub async fn start(index: &Index, shadowing: bool) -> Team {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        let mut file = UsersFile::default();
        for (name, role) in [
            ("alice", Role::Write),
            ("reader", Role::Read),
            ("root", Role::Admin),
        ] {
            file.add_user(name, role, Some(&format!("{name}-pw")), BTreeMap::new())
                .unwrap();
        }
        file.create_token("alice", Some("ci"), None, SystemTime::now())
            .unwrap();
        file.save(&users).unwrap();
        let hosted = RepositoryConfig {
            hosted: true,
            ..RepositoryConfig::new(Kind::Pypi)
        };
        let group = RepositoryConfig {
            members: vec![name("pypi-releases"), name("pypi")],
            allow_shadowing: shadowing,
            ..RepositoryConfig::new(Kind::Pypi)
        };
        let repositories = BTreeMap::from([
            (name("pypi-releases"), hosted),
            (name("pypi"), pypi(vec![index.upstream("pypi", 0)])),
            (name("pypi-public"), group),
        ]);
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(dir.path().join("cache")),
                ..ServerConfig::default()
            },
            repositories,
            auth: AuthConfig {
                users_file: Some(users),
                ..AuthConfig::default()
            },
            storage: Default::default(),
        };
        let server = repox_proxy::Server::bind(config).await.unwrap();
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        tokio::spawn(server.run(std::future::pending()));
        Team { url, dir }
    }

    pub fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let resp = client()
            .get(self.at(path))
            .header(header::ACCEPT, "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

fn name(s: &str) -> RepoName {
    serde_json::from_value(serde_json::json!(s)).unwrap()
}

/// `sha256=<urlsafe base64>` as a wheel's RECORD writes it.
fn record_hash(body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(body));
    format!("sha256={b64}")
}

/// The core metadata of `project` `version`, requiring `requires`.
pub fn metadata(project: &str, version: &str, requires: &[&str]) -> String {
    let mut m = format!(
        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nRequires-Python: >=3.8\n"
    );
    for r in requires {
        m.push_str(&format!("Requires-Dist: {r}\n"));
    }
    m
}

/// A pure-Python wheel whose module `<project>` has `VERSION = "<version>"`.
pub fn wheel(project: &str, version: &str, requires: &[&str]) -> (String, Bytes) {
    let module = project.replace('-', "_");
    let dist_info = format!("{module}-{version}.dist-info");
    let files = [
        (
            format!("{module}/__init__.py"),
            format!("VERSION = \"{version}\"\n"),
        ),
        (
            format!("{dist_info}/METADATA"),
            metadata(project, version, requires),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: repox-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
    ];
    let mut record = String::new();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (path, body) in &files {
        zip.start_file(path.as_str(), options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
        record.push_str(&format!(
            "{path},{},{}\n",
            record_hash(body.as_bytes()),
            body.len()
        ));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), options)
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    (
        format!("{module}-{version}-py3-none-any.whl"),
        Bytes::from(bytes),
    )
}

/// An sdist holding `PKG-INFO` and a `pyproject.toml`.
pub fn sdist(project: &str, version: &str, requires: &[&str]) -> (String, Bytes) {
    let module = project.replace('-', "_");
    let root = format!("{module}-{version}");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let pyproject = format!("[project]\nname = \"{project}\"\nversion = \"{version}\"\n");
    for (path, body) in [
        (
            format!("{root}/PKG-INFO"),
            metadata(project, version, requires),
        ),
        (format!("{root}/pyproject.toml"), pyproject),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, &path, body.as_bytes())
            .unwrap();
    }
    let gz = tar.into_inner().unwrap().finish().unwrap();
    (format!("{root}.tar.gz"), Bytes::from(gz))
}

/// A legacy-API upload form; `fields` come first, the file last, as twine sends them.
pub fn form(fields: &[(&str, &str)], filename: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// The fields twine sends for a file.
pub fn fields<'a>(project: &'a str, version: &'a str, sha256: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", project),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("metadata_version", "2.1"),
        ("sha256_digest", sha256),
        ("requires_python", ">=3.8"),
    ]
}

/// POSTs `form` to `/pypi-releases/` as `auth`.
pub async fn post(team: &Team, auth: Option<&str>, form: Vec<u8>) -> (StatusCode, String) {
    let mut req = client()
        .post(team.at("pypi-releases/"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Uploads a wheel of `project` `version` as alice and checks it was accepted.
pub async fn upload_wheel(
    team: &Team,
    project: &str,
    version: &str,
    requires: &[&str],
) -> (String, Bytes) {
    let (filename, body) = wheel(project, version, requires);
    let sha = hex::encode(Sha256::digest(&body));
    let (status, text) = post(
        team,
        Some(&basic("alice", "alice-pw")),
        form(&fields(project, version, &sha), &filename, &body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    (filename, body)
}

#[tokio::test]
async fn uploads_need_write_and_a_matching_sha256_and_are_never_replaced() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let team = Team::start(&index, false).await;
    let (filename, body) = wheel("internal-app", "1.0", &["lib-a"]);
    let sha = hex::encode(Sha256::digest(&body));
    let good = || form(&fields("internal-app", "1.0", &sha), &filename, &body);

    let (status, _) = post(&team, None, good()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no credentials");
    let (status, _) = post(&team, Some(&basic("reader", "reader-pw")), good()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read only");

    let alice = basic("alice", "alice-pw");
    let wrong = "00".repeat(32);
    let (status, text) = post(
        &team,
        Some(&alice),
        form(&fields("internal-app", "1.0", &wrong), &filename, &body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("sha256"), "{text}");
    let (status, text) = post(
        &team,
        Some(&alice),
        form(&fields("other-name", "1.0", &sha), &filename, &body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // A form that ends in the middle of the file: refused whole.
    let mut cut = good();
    cut.truncate(cut.len() - 100);
    let (status, text) = post(&team, Some(&alice), cut).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");

    let (status, text) = post(&team, Some(&alice), good()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = post(&team, Some(&alice), good()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");

    let (status, page) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(status, StatusCode::OK);
    let file = &page["files"][0];
    assert_eq!(file["filename"], filename.as_str());
    assert_eq!(file["hashes"]["sha256"], sha.as_str());
    assert_eq!(file["size"], body.len());
    assert_eq!(file["requires-python"], ">=3.8");
    assert!(
        file["upload-time"].as_str().unwrap().ends_with('Z'),
        "{file}"
    );
    let expected_metadata = metadata("internal-app", "1.0", &["lib-a"]);
    assert_eq!(
        file["core-metadata"]["sha256"],
        hex::encode(Sha256::digest(expected_metadata.as_bytes())).as_str()
    );
    assert_eq!(page["versions"], serde_json::json!(["1.0"]));
    let href = page_url(&team, "pypi-releases", "internal-app", file);
    let got = client().get(href.clone()).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap(), body);
    let md = client()
        .get(format!("{href}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(md.text().await.unwrap(), expected_metadata);
    let html = client()
        .get(team.at("pypi-releases/simple/internal-app/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("#sha256={sha}")), "{html}");
    let (_, root) = team.json("pypi-releases/simple/").await;
    assert_eq!(
        root["projects"],
        serde_json::json!([{"name": "internal-app"}])
    );
}

fn page_url(team: &Team, repo: &str, project: &str, file: &Value) -> Url {
    team.at(&format!("{repo}/simple/{project}/"))
        .join(file["url"].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn admins_yank_and_delete_files() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let team = Team::start(&index, false).await;
    let (filename, _) = upload_wheel(&team, "internal-app", "1.0", &[]).await;
    let yank = team.at(&format!(
        "-/hosted/pypi-releases/yank/internal-app/{filename}"
    ));
    let as_alice = client()
        .post(yank.clone())
        .header(header::AUTHORIZATION, basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_alice.status(),
        StatusCode::FORBIDDEN,
        "yank is for admins"
    );
    let root = basic("root", "root-pw");
    let resp = client()
        .post(yank)
        .header(header::AUTHORIZATION, &root)
        .body("broken build")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, page) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(page["files"][0]["yanked"], "broken build");

    let listing = client()
        .get(team.at("-/hosted/pypi-releases/"))
        .header(header::AUTHORIZATION, &root)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    let paths: Vec<&str> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&format!("dist/internal-app/{filename}").as_str()),
        "{listing}"
    );

    let delete = team.at(&format!(
        "-/hosted/pypi-releases/dist/internal-app/{filename}"
    ));
    let resp = client()
        .delete(delete)
        .header(header::AUTHORIZATION, &root)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, _) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let gone = client()
        .get(team.at(&format!("pypi-releases/dist/internal-app/{filename}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

fn versions_of(page: &Value) -> Vec<String> {
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_group_serves_a_hosted_name_only_from_its_hosted_members() {
    let mut dists = fixture_dists();
    let (public_name, public_body) = wheel("internal-lib", "99.0", &[]);
    dists.push(Dist::new("internal-lib", &public_name, public_body));
    let index = Index::start(Mode::Json, dists).await;
    let team = Team::start(&index, false).await;
    let (hosted_name, _) = upload_wheel(&team, "internal-lib", "1.0", &[]).await;

    let (status, page) = team.json("pypi-public/simple/internal-lib/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions_of(&page), std::slice::from_ref(&hosted_name));
    assert_eq!(page["versions"], serde_json::json!(["1.0"]));
    assert_eq!(
        index.count(http::Method::GET, "simple/internal-lib/"),
        0,
        "the private name never reached the public index"
    );
    let file = page_url(&team, "pypi-public", "internal-lib", &page["files"][0]);
    assert!(file.path().starts_with("/pypi-public/"), "{file}");
    assert_eq!(
        client().get(file).send().await.unwrap().status(),
        StatusCode::OK
    );
    // A public name is served from the proxy member, with links through the group.
    let (status, page) = team.json("pypi-public/simple/lib-a/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index.count(http::Method::GET, "simple/lib-a/"), 1);
    let file = page_url(&team, "pypi-public", "lib-a", &page["files"][0]);
    assert!(file.path().starts_with("/pypi-public/"), "{file}");
    assert_eq!(
        client().get(file).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (_, root) = team.json("pypi-public/simple/").await;
    let names: Vec<&str> = root["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"internal-lib") && names.contains(&"lib-a"),
        "{names:?}"
    );

    // With `allow_shadowing`, both are listed, the hosted member's first.
    let open = Team::start(&index, true).await;
    upload_wheel(&open, "internal-lib", "1.0", &[]).await;
    let (_, page) = open.json("pypi-public/simple/internal-lib/").await;
    assert_eq!(versions_of(&page), [hosted_name, public_name]);
}

/// A page of the group, its `X-Repox-Cache` (`miss` when merged, `hit` from memory) and body.
async fn group_page(team: &Team, path: &str, accept: &str) -> (String, String) {
    let resp = client()
        .get(team.at(&format!("pypi-public/{path}")))
        .header(header::ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(resp.headers()[header::VARY], "Accept");
    let cache = resp.headers()["x-repox-cache"].to_str().unwrap().to_owned();
    (cache, resp.text().await.unwrap())
}

#[tokio::test]
async fn group_pages_are_merged_again_only_when_a_member_changed() {
    let mut dists = fixture_dists();
    let (public_name, public_body) = wheel("internal-lib", "99.0", &[]);
    dists.push(Dist::new("internal-lib", &public_name, public_body));
    let index = Index::start(Mode::Json, dists).await;
    // Shadowing allowed, so the page merges the hosted and the proxy member.
    let team = Team::start(&index, true).await;
    let (first, _) = upload_wheel(&team, "internal-lib", "1.0", &[]).await;
    let json = "application/vnd.pypi.simple.v1+json";
    let html = "application/vnd.pypi.simple.v1+html";

    let mut merges = 0;
    for _ in 0..3 {
        let (cache, body) = group_page(&team, "simple/internal-lib/", json).await;
        merges += usize::from(cache == "miss");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(versions_of(&page), [first.clone(), public_name.clone()]);
    }
    assert_eq!(merges, 1, "merged once for three requests");
    // The HTML form is another merge, kept too.
    let (cache, body) = group_page(&team, "simple/internal-lib/", html).await;
    assert_eq!(cache, "miss");
    assert!(
        body.contains(&first) && body.contains(&public_name),
        "{body}"
    );
    let (cache, _) = group_page(&team, "simple/internal-lib/", html).await;
    assert_eq!(cache, "hit");

    // An upload changes the hosted member's page: the next request merges again.
    let (second, _) = upload_wheel(&team, "internal-lib", "1.1", &[]).await;
    let (cache, body) = group_page(&team, "simple/internal-lib/", json).await;
    assert_eq!(cache, "miss");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert!(versions_of(&page).contains(&second), "{body}");
    let (cache, _) = group_page(&team, "simple/internal-lib/", json).await;
    assert_eq!(cache, "hit");
    let (cache, body) = group_page(&team, "simple/internal-lib/", html).await;
    assert_eq!(cache, "miss", "the HTML form changed too");
    assert!(body.contains(&second), "{body}");

    // A proxied name alone is kept too, and the root index likewise.
    let (first, _) = group_page(&team, "simple/lib-a/", json).await;
    let (again, _) = group_page(&team, "simple/lib-a/", json).await;
    assert_eq!((first.as_str(), again.as_str()), ("miss", "hit"));
    let (first, _) = group_page(&team, "simple/", json).await;
    let (again, body) = group_page(&team, "simple/", json).await;
    assert_eq!((first.as_str(), again.as_str()), ("miss", "hit"));
    assert!(!body.contains("new-project"), "{body}");
    upload_wheel(&team, "new-project", "1.0", &[]).await;
    let (cache, body) = group_page(&team, "simple/", json).await;
    assert_eq!(cache, "miss", "a new hosted project changes the index");
    assert!(body.contains("new-project"), "{body}");
}

#[tokio::test]
async fn a_group_is_read_only() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let team = Team::start(&index, false).await;
    let resp = client()
        .post(team.at("pypi-public/"))
        .header(header::AUTHORIZATION, basic("alice", "alice-pw"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.text().await.unwrap().contains("/pypi-releases/"));
}

/// twine and uv publish upload a wheel and an sdist built here; pip and uv install the private
/// package from the group, and its public dependencies come from the proxy member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twine_and_uv_publish_then_pip_and_uv_install_from_the_group() {
    use crate::clients_support::client_runs;
    if !have_clients() || !client_runs("twine", &["--version"], "pip install twine") {
        return;
    }
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let team = Team::start(&index, false).await;
    let home = team.dir.path().join("home");
    let out = team.dir.path().join("dist");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let write = |(name, body): (String, Bytes)| -> PathBuf {
        let path = out.join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let app_wheel = write(wheel("internal-app", "1.0", &["lib-a"]));
    let app_sdist = write(sdist("internal-app", "1.0", &["lib-a"]));
    let tool_wheel = write(wheel("internal-tool", "2.0", &[]));
    let tool_sdist = write(sdist("internal-tool", "2.0", &[]));
    let upload_url = team.at("pypi-releases/").to_string();

    let mut twine = isolated("twine", &home);
    twine
        .args(["upload", "--non-interactive", "--disable-progress-bar"])
        .args(["--repository-url", &upload_url])
        .env("TWINE_USERNAME", "alice")
        .env("TWINE_PASSWORD", "alice-pw")
        .arg(&app_wheel)
        .arg(&app_sdist);
    run(twine).await;

    let mut uv = isolated("uv", &home);
    uv.args(["publish", "--publish-url", &upload_url])
        .args(["--username", "alice", "--password", "alice-pw"])
        .arg(&tool_wheel)
        .arg(&tool_sdist);
    run(uv).await;

    let (_, page) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(versions_of(&page).len(), 2, "{page}");
    let (_, page) = team.json("pypi-releases/simple/internal-tool/").await;
    assert_eq!(versions_of(&page).len(), 2, "{page}");

    // A second twine upload of the same file is refused (409).
    let mut again = isolated("twine", &home);
    again
        .args(["upload", "--non-interactive", "--disable-progress-bar"])
        .args(["--repository-url", &upload_url])
        .env("TWINE_USERNAME", "alice")
        .env("TWINE_PASSWORD", "alice-pw")
        .arg(&app_wheel);
    let failed = tokio::task::spawn_blocking(move || again.output().unwrap())
        .await
        .unwrap();
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr).to_string()
        + &String::from_utf8_lossy(&failed.stdout);
    assert!(said.contains("409"), "{said}");

    let group = team.at("pypi-public/simple/").to_string();
    for (n, installer) in ["pip", "uv"].into_iter().enumerate() {
        let venv = team.dir.path().join(format!("venv{n}"));
        let mut cmd = isolated("python3", &home);
        cmd.args(["-m", "venv", "--without-pip"]).arg(&venv);
        run(cmd).await;
        let python = venv.join("bin/python");
        let cmd = if installer == "pip" {
            let mut cmd = isolated("python3", &home);
            cmd.args(["-m", "pip", "--python"])
                .arg(&python)
                .args(["install", "--no-cache-dir", "--index-url", &group])
                .args(["internal-app", "internal-tool"]);
            cmd
        } else {
            let mut cmd = isolated("uv", &home);
            cmd.args(["pip", "install", "--no-cache", "--python"])
                .arg(&python)
                .args(["--index-url", &group, "internal-app", "internal-tool"]);
            cmd
        };
        run(cmd).await;
        check(&home, &venv).await;
    }
}

async fn check(home: &Path, venv: &Path) {
    let mut cmd = isolated(venv.join("bin/python").to_str().unwrap(), home);
    cmd.args([
        "-c",
        "import internal_app, internal_tool, lib_a, lib_c; print(internal_app.VERSION, internal_tool.VERSION, lib_a.VERSION)",
    ]);
    let out = run(cmd).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.0 2.0 1.0");
}

/// Hostile or broken upload forms: each is refused with a 4xx, and nothing is stored.
#[tokio::test]
async fn hostile_forms_are_refused_and_store_nothing() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let team = Team::start(&index, false).await;
    let alice = basic("alice", "alice-pw");
    let (filename, body) = wheel("internal-app", "1.0", &[]);
    let sha = hex::encode(Sha256::digest(&body));
    let ok_fields = fields("internal-app", "1.0", &sha);
    let without = |key: &str| -> Vec<(&str, &str)> {
        ok_fields
            .iter()
            .copied()
            .filter(|(k, _)| *k != key)
            .collect()
    };
    let mut two_files = form(&ok_fields, &filename, &body);
    two_files.truncate(two_files.len() - format!("--{BOUNDARY}--\r\n").len());
    two_files.extend_from_slice(&form(&[], &filename, &body)[..]);
    let huge = "x".repeat(5 << 20);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "no sha256",
            form(&without("sha256_digest"), &filename, &body),
        ),
        (
            "sha256 not hex",
            form(&fields("internal-app", "1.0", "zz"), &filename, &body),
        ),
        ("no name", form(&without("name"), &filename, &body)),
        (
            "bad name",
            form(&fields("../x", "1.0", &sha), &filename, &body),
        ),
        (
            "traversal",
            form(&ok_fields, "../../internal_app-1.0-py3-none-any.whl", &body),
        ),
        (
            "slash",
            form(&ok_fields, "a/internal_app-1.0-py3-none-any.whl", &body),
        ),
        (
            "dot file",
            form(&ok_fields, ".internal_app-1.0-py3-none-any.whl", &body),
        ),
        ("empty filename", form(&ok_fields, "", &body)),
        ("not a wheel", {
            let junk = b"not a zip at all";
            let junk_sha = hex::encode(Sha256::digest(junk));
            form(&fields("internal-app", "1.0", &junk_sha), &filename, junk)
        }),
        ("other action", {
            let mut f = ok_fields.clone();
            f[0] = (":action", "remove_pkg");
            form(&f, &filename, &body)
        }),
        ("two files", two_files),
        (
            "no file",
            form(&ok_fields, &filename, &body)[..200].to_vec(),
        ),
        (
            "huge field",
            form(
                &[("name", "internal-app"), ("summary", &huge)],
                &filename,
                &body,
            ),
        ),
        ("garbage", b"\x00\xff--\r\n\r\n".to_vec()),
    ];
    let tried = cases.len();
    for (what, form) in cases {
        let (status, text) = post(&team, Some(&alice), form).await;
        assert!(status.is_client_error(), "{what}: {status} {text}");
    }
    let resp = client()
        .post(team.at("pypi-releases/"))
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "not multipart");
    let (status, _) = team.json("pypi-releases/simple/internal-app/").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "none of {tried} forms stored anything"
    );
    let (_, root) = team.json("pypi-releases/simple/").await;
    assert_eq!(root["projects"], serde_json::json!([]));
}
