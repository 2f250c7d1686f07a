//! Logging in end to end (issue 10, "Done when"): a `repox serve` with `[auth] anonymous = "none"`
//! in front of the fixture upstreams, a user and a token made with `repox user add` and
//! `repox token create`, `repox configure <client> --user … --token-env …` into a throwaway HOME,
//! and then real pip, uv, npm, cargo and mvn install through it with what configure wrote. Without
//! the credential, or with a wrong one, each client fails and repox logs the 401.
//!
//! A missing client fails its test unless `REPOX_SKIP_MISSING_CLIENTS` is set, like the other
//! real-client tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{config, e2e};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

/// A repox that requires a login, its fixture upstream, a user with a token, and a HOME.
struct Team {
    tmp: tempfile::TempDir,
    config: PathBuf,
    home: PathBuf,
    token: String,
    serve: RepoxServer,
    _upstream: FixtureServer,
}

impl Team {
    /// `kind` and the path of its upstream below the fixture server (e.g. `pypi/simple/`).
    fn start(kind: &str, upstream_root: &Path, below: &str) -> Team {
        let tmp = tempfile::tempdir().unwrap();
        let upstream = FixtureServer::start(upstream_root);
        let config = config(tmp.path(), &[(kind, format!("{}{below}", upstream.url()))]);
        let mut toml = fs_err::read_to_string(&config).unwrap();
        toml.push_str("\n[auth]\nanonymous = \"none\"\n");
        fs_err::write(&config, toml).unwrap();
        let home = tmp.path().join("home");
        fs_err::create_dir_all(&home).unwrap();

        let mut add = repox(&config, &home);
        add.args(["user", "add", USER, "--password-stdin", "--role", "read"]);
        let out = run_with_stdin(add, &format!("{PASSWORD}\n"));
        assert!(
            out.status.success(),
            "repox user add: {}",
            text(&out.stderr)
        );
        let out = repox(&config, &home)
            .args(["token", "create", USER, "--name", "e2e"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "repox token create: {}",
            text(&out.stderr)
        );
        let token = text(&out.stdout).trim().to_owned();
        assert!(
            token.starts_with("repox-") && !token.contains(char::is_whitespace),
            "token create printed {token:?}"
        );
        let serve = RepoxServer::with_config(&config);
        Team {
            tmp,
            config,
            home,
            token,
            serve,
            _upstream: upstream,
        }
    }

    /// `repox configure CLIENT --user alice --token-env REPOX_TOKEN --yes` into the HOME.
    fn configure(&self, client: &str) {
        let out = repox(&self.config, &self.home)
            .args(["configure", client, "--yes", "--user", USER])
            .args(["--token-env", "REPOX_TOKEN"])
            .env("REPOX_TOKEN", &self.token)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "repox configure {client}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            !text(&out.stdout).contains(&self.token),
            "configure printed the token"
        );
    }

    /// `repox configure CLIENT --user alice --password-env REPOX_PASSWORD --yes` into the HOME.
    fn configure_password(&self, client: &str) {
        let out = repox(&self.config, &self.home)
            .args(["configure", client, "--yes", "--user", USER])
            .args(["--password-env", "REPOX_PASSWORD"])
            .env("REPOX_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "repox configure {client} with a password: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// A client command with only the HOME and `PATH` (plus what toolchains need) from outside.
    fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("NO_COLOR", "1")
            .current_dir(self.tmp.path())
            .stdin(Stdio::null());
        for var in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "JAVA_HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd
    }

    /// Runs a client that must succeed.
    fn succeeds(&self, cmd: &mut Command, what: &str) -> Output {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed\nstdout:\n{}\nstderr:\n{}\nrepox log:\n{}",
            text(&out.stdout),
            text(&out.stderr),
            self.serve.log()
        );
        out
    }

    /// Runs a client that must fail, saying why (`expected`, in its output), with repox
    /// answering 401 to `path_prefix`.
    fn fails(&self, cmd: &mut Command, what: &str, expected: &[&str], path_prefix: &str) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(!out.status.success(), "{what} succeeded:\n{all}");
        assert!(
            expected.iter().any(|e| all.contains(e)),
            "{what}: none of {expected:?} in its output:\n{all}"
        );
        let request = format!("GET {path_prefix}");
        assert!(
            self.logged_line(|l| l.contains(&request) && l.contains(" 401 ")),
            "{what}: repox logged no 401 for {path_prefix}:\n{}",
            self.serve.log()
        );
        assert!(
            !self.serve.log().contains(&self.token),
            "the token reached repox's log"
        );
    }

    /// Whether a line of repox's log matches within a few seconds (repox batches its log).
    fn logged_line(&self, matches: impl Fn(&str) -> bool) -> bool {
        for _ in 0..250 {
            if self.serve.log().lines().any(&matches) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }
}

pub(crate) fn repox(config: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repox"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null());
    cmd
}

pub(crate) fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `program` runs; a missing one fails the test (see `clients_support`).
fn have(program: &str, install: &str) -> bool {
    crate::clients_support::client_runs(program, &["--version"], install)
}

#[test]
fn pip_installs_with_the_netrc_login_and_fails_without_it() {
    if !have("pip3", "apt-get install python3-pip") {
        return;
    }
    let team = Team::start("pypi", &e2e("upstream"), "pypi/simple/");
    team.configure("pip");
    let pip = |target: &str| {
        let mut cmd = team.client("pip3");
        cmd.args(["install", "--no-cache-dir", "--disable-pip-version-check"])
            .args(["--no-input", "--target"])
            .arg(team.tmp.path().join(target))
            .arg("app")
            .env("PIP_NO_INPUT", "1");
        cmd
    };
    team.succeeds(&mut pip("ok"), "pip install with the netrc login");
    assert!(team.tmp.path().join("ok/app/__init__.py").is_file());

    // pip reports an index page it may not read as a project without versions; the 401 is in
    // repox's log.
    fs_err::remove_file(team.path(".netrc")).unwrap();
    team.fails(
        &mut pip("no-login"),
        "pip install without the netrc login",
        &["401", "No matching distribution found for app"],
        "/pypi/",
    );
    assert!(!team.tmp.path().join("no-login/app").exists());
}

#[test]
fn uv_installs_with_the_netrc_login_and_fails_without_it() {
    if !have("uv", "pip install uv") {
        return;
    }
    let team = Team::start("pypi", &e2e("upstream"), "pypi/simple/");
    team.configure("uv");
    let uv = |target: &str| {
        let mut cmd = team.client("uv");
        cmd.args([
            "pip",
            "install",
            "--no-cache",
            "--python",
            "python3",
            "--target",
        ])
        .arg(team.tmp.path().join(target))
        .arg("app")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_PROGRESS", "1");
        cmd
    };
    team.succeeds(&mut uv("ok"), "uv pip install with the netrc login");
    assert!(team.tmp.path().join("ok/app/__init__.py").is_file());

    // A wrong secret in the netrc entry: repox refuses it.
    let netrc = fs_err::read_to_string(team.path(".netrc")).unwrap();
    fs_err::write(
        team.path(".netrc"),
        netrc.replace(
            &team.token,
            "repox-wrongwrongwrongwrongwrongwrongwrongwrong",
        ),
    )
    .unwrap();
    team.fails(
        &mut uv("wrong"),
        "uv pip install with a wrong token",
        &["401", "Unauthorized"],
        "/pypi/",
    );
}

#[test]
fn npm_installs_with_the_auth_token_and_fails_without_it() {
    if !have("npm", "apt-get install npm") {
        return;
    }
    let team = Team::start("npm", &e2e("upstream"), "npm/");
    team.configure("npm");
    let project = team.tmp.path().join("app");
    fs_err::create_dir_all(&project).unwrap();
    for file in ["package.json", "package-lock.json"] {
        fs_err::copy(e2e("inputs/npm").join(file), project.join(file)).unwrap();
    }
    let npm = |cache: &str| {
        let mut cmd = team.client("npm");
        cmd.current_dir(&project)
            .args(["ci", "--no-audit", "--no-fund"])
            .env("npm_config_cache", team.tmp.path().join(cache))
            .env("npm_config_update_notifier", "false");
        cmd
    };
    team.succeeds(&mut npm("cache-ok"), "npm ci with the _authToken");
    assert!(project.join("node_modules/left-pad/package.json").is_file());

    let npmrc = fs_err::read_to_string(team.path(".npmrc")).unwrap();
    let without: String = npmrc
        .lines()
        .filter(|l| !l.contains(":_authToken="))
        .map(|l| format!("{l}\n"))
        .collect();
    fs_err::write(team.path(".npmrc"), without).unwrap();
    fs_err::remove_dir_all(project.join("node_modules")).unwrap();
    team.fails(
        &mut npm("cache-none"),
        "npm ci without the _authToken",
        &["E401", "401"],
        "/npm/",
    );
}

#[test]
fn cargo_fetches_with_the_registry_token_and_fails_with_a_wrong_one() {
    let team = Team::start("cargo", &e2e("upstream"), "cargo/index/");
    team.configure("cargo");
    let project = team.tmp.path().join("app");
    fs_err::create_dir_all(project.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs_err::copy(e2e("inputs/cargo").join(file), project.join(file)).unwrap();
    }
    let cargo_home = team.path(".cargo");
    let cargo = || {
        let mut cmd = team.client(
            std::env::var_os("CARGO")
                .map(PathBuf::from)
                .unwrap_or_else(|| "cargo".into()),
        );
        cmd.current_dir(&project)
            .args(["fetch", "--locked"])
            .env("CARGO_HOME", &cargo_home)
            .env("CARGO_NET_RETRY", "0");
        cmd
    };
    team.succeeds(&mut cargo(), "cargo fetch with the registry token");

    let credentials = cargo_home.join("credentials.toml");
    let toml = fs_err::read_to_string(&credentials).unwrap();
    fs_err::write(
        &credentials,
        toml.replace(
            &team.token,
            "repox-wrongwrongwrongwrongwrongwrongwrongwrong",
        ),
    )
    .unwrap();
    fs_err::remove_dir_all(cargo_home.join("registry")).unwrap();
    team.fails(
        &mut cargo(),
        "cargo fetch with a wrong token",
        &["401"],
        "/cargo/",
    );
}

#[test]
fn mvn_resolves_with_the_server_credentials_and_fails_without_them() {
    if !have("mvn", "apt-get install maven") {
        return;
    }
    // A Maven repository holding one parent POM: `mvn validate` of a child needs nothing else.
    let upstream = tempfile::tempdir().unwrap();
    let dir = upstream.path().join("com/example/auth/parent/1.0");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(
        dir.join("parent-1.0.pom"),
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <groupId>com.example.auth</groupId><artifactId>parent</artifactId><version>1.0</version>\
         <packaging>pom</packaging></project>",
    )
    .unwrap();
    let team = Team::start("maven", upstream.path(), "");
    team.configure("maven");
    let project = team.tmp.path().join("app");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(
        project.join("pom.xml"),
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <parent><groupId>com.example.auth</groupId><artifactId>parent</artifactId>\
         <version>1.0</version><relativePath/></parent>\
         <artifactId>app</artifactId><packaging>pom</packaging></project>",
    )
    .unwrap();
    let mvn = |repo: &str| {
        let mut cmd = team.client("mvn");
        cmd.current_dir(&project)
            .env("MAVEN_SKIP_RC", "1")
            // Java takes the home from the password database, not $HOME.
            .env("MAVEN_OPTS", format!("-Duser.home={}", team.home.display()))
            .args(["-B", "validate"])
            .arg(format!(
                "-Dmaven.repo.local={}",
                team.tmp.path().join(repo).display()
            ));
        cmd
    };
    let out = team.succeeds(
        &mut mvn("m2-ok"),
        "mvn validate with the <server> credentials",
    );
    assert!(text(&out.stdout).contains("BUILD SUCCESS"));

    let settings = team.path(".m2/settings.xml");
    let xml = fs_err::read_to_string(&settings).unwrap();
    let start = xml.find("<servers>").unwrap();
    let end = xml.find("</servers>").unwrap() + "</servers>".len();
    fs_err::write(&settings, format!("{}{}", &xml[..start], &xml[end..])).unwrap();
    team.fails(
        &mut mvn("m2-none"),
        "mvn validate without the <server> credentials",
        &["401", "Unauthorized"],
        "/maven/",
    );
}

#[test]
fn warm_logs_in_with_the_user_and_is_refused_without() {
    let team = Team::start("cargo", &e2e("upstream"), "cargo/index/");
    let lock = e2e("inputs/cargo/Cargo.lock");
    let warm = |args: &[&str], token: Option<&str>| {
        let mut cmd = repox(&team.config, &team.home);
        cmd.arg("warm").args(args).arg(&lock);
        if let Some(token) = token {
            cmd.env("REPOX_TOKEN", token);
        }
        cmd.output().unwrap()
    };
    let out = warm(&[], None);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("requires a login"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: pass --user NAME"), "{stderr}");

    let out = warm(&["--user", USER, "--json"], Some(&team.token));
    assert!(
        out.status.success(),
        "{}{}\nrepox log:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        team.serve.log()
    );
    assert!(text(&out.stdout).contains("tiny-lib-1.2.3.crate"));
    assert!(!team.serve.log().contains(&team.token));

    // The netrc entry `configure pip --user` wrote is enough, with neither --user nor a variable.
    team.configure("pip");
    let out = warm(&["--json"], None);
    assert!(
        out.status.success(),
        "warm with the netrc login: {}",
        text(&out.stderr)
    );

    // Wrong credentials last: failed logins count towards the per-address lockout.
    let out = warm(
        &["--user", USER],
        Some("repox-wrongwrongwrongwrongwrongwrongwrong"),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
}

#[test]
fn npm_and_cargo_log_in_with_a_password_too() {
    let team = Team::start("cargo", &e2e("upstream"), "cargo/index/");
    team.configure_password("cargo");
    let project = team.tmp.path().join("app");
    fs_err::create_dir_all(project.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs_err::copy(e2e("inputs/cargo").join(file), project.join(file)).unwrap();
    }
    // cargo sends the stored value verbatim: `Basic base64(alice:PASSWORD)`.
    let credentials = fs_err::read_to_string(team.path(".cargo/credentials.toml")).unwrap();
    assert!(credentials.contains("token = \"Basic "), "{credentials}");
    let mut cargo = team.client(
        std::env::var_os("CARGO")
            .map(PathBuf::from)
            .unwrap_or_else(|| "cargo".into()),
    );
    cargo
        .current_dir(&project)
        .args(["fetch", "--locked"])
        .env("CARGO_HOME", team.path(".cargo"))
        .env("CARGO_NET_RETRY", "0");
    team.succeeds(&mut cargo, "cargo fetch with the password");

    if !have("npm", "apt-get install npm") {
        return;
    }
    let team = Team::start("npm", &e2e("upstream"), "npm/");
    team.configure_password("npm");
    let npmrc = fs_err::read_to_string(team.path(".npmrc")).unwrap();
    assert!(npmrc.contains("/npm/:_password="), "{npmrc}");
    let project = team.tmp.path().join("app");
    fs_err::create_dir_all(&project).unwrap();
    for file in ["package.json", "package-lock.json"] {
        fs_err::copy(e2e("inputs/npm").join(file), project.join(file)).unwrap();
    }
    let mut npm = team.client("npm");
    npm.current_dir(&project)
        .args(["ci", "--no-audit", "--no-fund"])
        .env("npm_config_cache", team.tmp.path().join("npm-cache"))
        .env("npm_config_update_notifier", "false");
    team.succeeds(&mut npm, "npm ci with the password");
    assert!(project.join("node_modules/left-pad/package.json").is_file());
}
