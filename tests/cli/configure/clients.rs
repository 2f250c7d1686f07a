//! Real clients read what `repox configure` wrote and fetch through it: pip, uv, npm, cargo and
//! mvn, each under the sandbox HOME, against the test server, with the credentials repox put in
//! their files. A client that is not installed fails the test unless `REPOX_SKIP_MISSING_CLIENTS`
//! is set (see `clients_support`).

use std::path::{Path, PathBuf};

use super::http::{Server, base64, start_with_own_url};
use super::{Sandbox, text, which};

/// The client's path; without it the test fails, or returns when `REPOX_SKIP_MISSING_CLIENTS`
/// is set.
macro_rules! require {
    ($($tool:expr),+) => {
        match None$(.or_else(|| which($tool)))+ {
            Some(path) => path,
            None => {
                let tools = [$($tool),+].join(" / ");
                crate::clients_support::clients_present(&[&tools], "install it (scripts/test does)");
                return;
            }
        }
    };
}

const TOKEN: &str = "s3cret-t0ken";

#[test]
fn pip_reads_the_index_and_sends_the_token() {
    let pip = require!("pip", "pip3");
    let page = "<!DOCTYPE html><html><body>\
        <a href=\"../../packages/tinypkg-1.0.tar.gz\">tinypkg-1.0.tar.gz</a>\
        <a href=\"../../packages/tinypkg-1.1.tar.gz\">tinypkg-1.1.tar.gz</a>\
        </body></html>";
    let server = Server::start(
        vec![(
            "/pypi/simple/tinypkg/".to_owned(),
            "text/html",
            page.to_owned(),
        )],
        vec![format!("Basic {}", base64(&format!("ci:{TOKEN}")))],
    );
    let sandbox = Sandbox::new();
    let out = sandbox.repox_env(
        &[
            "pip",
            "--yes",
            "--url",
            &server.url,
            "--user",
            "ci",
            "--token-env",
            "REPOX_TOKEN",
        ],
        &[("REPOX_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(TOKEN), "{}", text(&out.stdout));

    let run = |args: &[&str]| {
        let out = sandbox
            .command(&pip)
            .args(args)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .output()
            .unwrap();
        (out.status.success(), text(&out.stdout) + &text(&out.stderr))
    };
    // The index URL is credential-free; the login is in ~/.netrc, private to the user.
    let (ok, listed) = run(&["config", "list"]);
    let expected = format!("global.index-url='{}pypi/simple/'", server.url);
    assert!(
        ok && listed.contains(&expected),
        "pip config list:\n{listed}"
    );
    let netrc = sandbox.path(".netrc");
    assert_eq!(
        std::fs::read_to_string(&netrc).unwrap(),
        format!("machine 127.0.0.1 login ci password {TOKEN}\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&netrc).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let (ok, versions) = run(&["index", "versions", "tinypkg"]);
    assert!(
        ok && versions.contains("tinypkg (1.1)"),
        "pip index versions:\n{versions}"
    );
    let seen = server.seen("/pypi/simple/tinypkg/");
    assert!(
        seen.iter().any(|s| s.authorization.as_deref()
            == Some(&format!("Basic {}", base64(&format!("ci:{TOKEN}")))[..])),
        "{seen:?}"
    );
}

#[test]
fn uv_resolves_through_the_default_index_with_the_token() {
    let uv = require!("uv");
    // PEP 658: the metadata next to the wheel is enough to resolve; no wheel is downloaded.
    let page = "<!DOCTYPE html><html><body>\
        <a href=\"../../packages/tinypkg-1.1-py3-none-any.whl\" data-core-metadata=\"true\" \
        data-dist-info-metadata=\"true\">tinypkg-1.1-py3-none-any.whl</a></body></html>";
    let metadata = "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.1\n";
    let basic = format!("Basic {}", base64(&format!("ci:{TOKEN}")));
    let server = Server::start(
        vec![
            (
                "/pypi/simple/tinypkg/".to_owned(),
                "text/html",
                page.to_owned(),
            ),
            (
                "/pypi/packages/tinypkg-1.1-py3-none-any.whl.metadata".to_owned(),
                "text/plain",
                metadata.to_owned(),
            ),
        ],
        vec![basic.clone()],
    );
    let sandbox = Sandbox::new();
    let out = sandbox.repox_env(
        &[
            "uv",
            "--yes",
            "--url",
            &server.url,
            "--user",
            "ci",
            "--token-env",
            "REPOX_TOKEN",
        ],
        &[("REPOX_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(sandbox.work.join("requirements.in"), "tinypkg\n").unwrap();
    let out = sandbox
        .command(&uv)
        .args(["pip", "compile", "requirements.in", "--no-header"])
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_PROGRESS", "1")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("tinypkg==1.1"),
        "uv pip compile:\n{stdout}{}",
        text(&out.stderr)
    );
    // `uv lock` ignores `[pip]`: it resolves through the default `[[index]]`.
    let project = sandbox.work.join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"tinypkg\"]\n",
    )
    .unwrap();
    let before = server.seen("/pypi/simple/tinypkg/").len();
    let out = sandbox
        .command(&uv)
        .current_dir(&project)
        .args(["lock"])
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_PROGRESS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "uv lock:\n{}", text(&out.stderr));
    let lock = std::fs::read_to_string(project.join("uv.lock")).unwrap();
    let source = format!("source = {{ registry = \"{}pypi/simple/\" }}", server.url);
    assert!(lock.contains(&source), "{lock}");
    let seen = server.seen("/pypi/simple/tinypkg/");
    assert!(seen.len() > before, "uv lock did not query repox");
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(basic.as_str())),
        "{seen:?}"
    );
}

#[test]
fn npm_reads_the_registry_and_sends_the_token() {
    let npm = require!("npm");
    let server_packument = r#"{"name":"tinypkg","dist-tags":{"latest":"1.2.3"},"versions":{"1.2.3":{"name":"tinypkg","version":"1.2.3","dist":{"tarball":"http://127.0.0.1:9/tinypkg-1.2.3.tgz","shasum":"0000000000000000000000000000000000000000"}}}}"#;
    let server = Server::start(
        vec![(
            "/npm/tinypkg".to_owned(),
            "application/json",
            server_packument.to_owned(),
        )],
        vec![format!("Bearer {TOKEN}")],
    );
    let sandbox = Sandbox::new();
    let out = sandbox.repox_env(
        &[
            "npm",
            "--yes",
            "--url",
            &server.url,
            "--token-env",
            "REPOX_TOKEN",
        ],
        &[("REPOX_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = |args: &[&str]| {
        let out = sandbox
            .command(&npm)
            .args(args)
            .env("NPM_CONFIG_UPDATE_NOTIFIER", "false")
            .env("NPM_CONFIG_FUND", "false")
            .output()
            .unwrap();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, registry, err) = run(&["config", "get", "registry"]);
    assert!(ok, "{err}");
    assert_eq!(registry.trim(), format!("{}npm/", server.url));
    let (ok, version, err) = run(&["view", "tinypkg", "version"]);
    assert!(ok && version.trim() == "1.2.3", "npm view: {version}{err}");
    let seen = server.seen("/npm/tinypkg");
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])),
        "{seen:?}"
    );
    assert!(!seen.is_empty());
}

fn cargo_project(sandbox: &Sandbox) -> PathBuf {
    let project = sandbox.work.join("app");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ntinycrate = \"0.1\"\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
    project
}

fn cargo_index(server_url: &str, auth_required: bool) -> Vec<(String, &'static str, String)> {
    let config = format!(
        r#"{{"dl":"{server_url}cargo/api/v1/crates","api":"{server_url}cargo","auth-required":{auth_required}}}"#
    );
    let entry = format!(
        r#"{{"name":"tinycrate","vers":"0.1.0","deps":[],"cksum":"{}","features":{{}},"yanked":false}}"#,
        "ab".repeat(32)
    );
    vec![
        (
            "/cargo/index/config.json".to_owned(),
            "application/json",
            config,
        ),
        (
            "/cargo/index/ti/ny/tinycrate".to_owned(),
            "text/plain",
            entry + "\n",
        ),
    ]
}

/// `cargo generate-lockfile` resolves a dependency through the replaced source.
fn generate_lockfile(sandbox: &Sandbox, project: &Path) -> (bool, String) {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| which("cargo"))
        .unwrap();
    let mut cmd = sandbox.command(&cargo);
    cmd.current_dir(project)
        .env("CARGO_HOME", sandbox.home.join(".cargo"))
        .env("CARGO_NET_RETRY", "0")
        .arg("generate-lockfile");
    for var in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    let out = cmd.output().unwrap();
    (out.status.success(), text(&out.stderr))
}

#[test]
fn cargo_resolves_through_the_sparse_replacement() {
    let server = start_with_own_url(|url| cargo_index(url, false), Vec::new());
    let sandbox = Sandbox::new();
    sandbox.ok(&["cargo", "--yes", "--url", &server.url]);
    let project = cargo_project(&sandbox);
    let (ok, stderr) = generate_lockfile(&sandbox, &project);
    assert!(ok, "cargo generate-lockfile failed:\n{stderr}");
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"tinycrate\"\nversion = \"0.1.0\""),
        "{lock}"
    );
    assert!(!server.seen("/cargo/index/ti/ny/tinycrate").is_empty());
}

#[test]
fn cargo_sends_the_token_from_credentials_toml() {
    let server = start_with_own_url(|url| cargo_index(url, true), vec![TOKEN.to_owned()]);
    let sandbox = Sandbox::new();
    let out = sandbox.repox_env(
        &[
            "cargo",
            "--yes",
            "--url",
            &server.url,
            "--token-env",
            "REPOX_TOKEN",
        ],
        &[("REPOX_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let credentials = std::fs::read_to_string(sandbox.path(".cargo/credentials.toml")).unwrap();
    assert_eq!(
        credentials,
        format!("[registries.repox]\ntoken = \"{TOKEN}\"\n")
    );
    let project = cargo_project(&sandbox);
    let (ok, stderr) = generate_lockfile(&sandbox, &project);
    assert!(ok, "cargo generate-lockfile failed:\n{stderr}");
    let seen = server.seen("/cargo/index/ti/ny/tinycrate");
    assert!(
        seen.iter()
            .any(|s| s.authorization.as_deref() == Some(TOKEN)),
        "{seen:?}"
    );
}

#[test]
fn maven_fetches_a_parent_pom_through_the_mirror_with_credentials() {
    let mvn = require!("mvn");
    let parent = "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
        <groupId>com.example.repox</groupId><artifactId>parent</artifactId><version>1.0</version>\
        <packaging>pom</packaging></project>";
    let pom_path = "/maven/com/example/repox/parent/1.0/parent-1.0.pom";
    let basic = format!("Basic {}", base64(&format!("ci:{TOKEN}")));
    let server = Server::start(
        vec![(pom_path.to_owned(), "application/xml", parent.to_owned())],
        vec![basic.clone()],
    );
    let sandbox = Sandbox::new();
    let out = sandbox.repox_env(
        &[
            "maven",
            "--yes",
            "--url",
            &server.url,
            "--token-env",
            "REPOX_TOKEN",
            "--username",
            "ci",
        ],
        &[("REPOX_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The only way to the parent POM is the mirror: Maven Central is unreachable in tests,
    // and a build without the parent fails at model building.
    let project = sandbox.work.join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pom.xml"),
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <parent><groupId>com.example.repox</groupId><artifactId>parent</artifactId><version>1.0</version><relativePath/></parent>\
         <artifactId>app</artifactId><packaging>pom</packaging></project>",
    )
    .unwrap();
    let mut cmd = sandbox.command(&mvn);
    cmd.current_dir(&project)
        // Java takes the home from the password database, not $HOME.
        .env(
            "MAVEN_OPTS",
            format!("-Duser.home={}", sandbox.home.display()),
        )
        .args(["-B", "validate"]);
    if let Some(java_home) = std::env::var_os("JAVA_HOME") {
        cmd.env("JAVA_HOME", java_home);
    }
    let out = cmd.output().unwrap();
    let log = text(&out.stdout) + &text(&out.stderr);
    assert!(
        out.status.success() && log.contains("BUILD SUCCESS"),
        "mvn validate:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "Downloaded from repox: {}maven/com/example/repox/parent/1.0/parent-1.0.pom",
            server.url
        )),
        "{log}"
    );
    let seen = server.seen(pom_path);
    assert!(
        seen.iter()
            .any(|s| s.authorization.as_deref() == Some(basic.as_str())),
        "{seen:?}"
    );
}
