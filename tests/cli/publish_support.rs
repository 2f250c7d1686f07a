//! A `repox serve` with, per ecosystem, a proxy repository on the fixture upstream, a hosted
//! repository and a group over both (`<kind>`, `<kind>-releases`, `<kind>-public`), a user
//! `alice` with `write` and a token, and a throwaway HOME: what the publishing tests put real
//! clients (npm, cargo, py-rattler) in front of.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::auth_clients::{repox, run_with_stdin};
use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{config, e2e};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Hosting {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
    pub home: PathBuf,
    pub token: String,
    pub serve: RepoxServer,
    _upstream: FixtureServer,
}

impl Hosting {
    /// `kind` and the path of its upstream below the fixture server (e.g. `npm/`).
    pub fn start(kind: &str, below: &str) -> Hosting {
        let tmp = tempfile::tempdir().unwrap();
        let upstream = FixtureServer::start(&e2e("upstream"));
        let config = config(tmp.path(), &[(kind, format!("{}{below}", upstream.url()))]);
        let mut toml = fs_err::read_to_string(&config).unwrap();
        toml.push_str(&format!(
            "\n[repositories.{kind}-releases]\nkind = \"{kind}\"\nhosted = true\n\
             \n[repositories.{kind}-public]\nkind = \"{kind}\"\n\
             members = [\"{kind}-releases\", \"{kind}\"]\n"
        ));
        fs_err::write(&config, toml).unwrap();
        let home = tmp.path().join("home");
        fs_err::create_dir_all(&home).unwrap();
        let mut add = repox(&config, &home);
        add.args(["user", "add", USER, "--password-stdin", "--role", "write"]);
        let out = run_with_stdin(add, &format!("{PASSWORD}\n"));
        assert!(
            out.status.success(),
            "repox user add: {}",
            text(&out.stderr)
        );
        let out = repox(&config, &home)
            .args(["token", "create", USER, "--name", "publish"])
            .output()
            .unwrap();
        assert!(out.status.success(), "token create: {}", text(&out.stderr));
        let token = text(&out.stdout).trim().to_owned();
        let serve = RepoxServer::with_config(&config);
        Hosting {
            tmp,
            config,
            home,
            token,
            serve,
            _upstream: upstream,
        }
    }

    /// `http://127.0.0.1:PORT/REPO/`.
    pub fn url(&self, repo: &str) -> String {
        format!("{}{repo}/", self.serve.url())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.serve
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// A client command with only the HOME and `PATH` (plus what toolchains need) from outside.
    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdin(Stdio::null());
        for var in [
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
            "CARGO_HOME_FOR_RUSTUP",
            "JAVA_HOME",
        ] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd
    }

    /// `repox ARGS…` with this config and HOME.
    pub fn repox(&self) -> Command {
        repox(&self.config, &self.home)
    }

    /// Runs a command that must succeed; panics with both streams and repox's log.
    pub fn succeeds(&self, cmd: &mut Command, what: &str) -> Output {
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

    /// Runs a command that must fail with `expected` somewhere in its output.
    pub fn fails(&self, cmd: &mut Command, what: &str, expected: &str) -> Output {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(!out.status.success(), "{what} succeeded:\n{all}");
        assert!(
            all.contains(expected),
            "{what}: no {expected:?} in its output:\n{all}\nrepox log:\n{}",
            self.serve.log()
        );
        out
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Hosting {
    /// The body of `GET path` (below the server root), by hand over one HTTP/1.1 connection.
    pub fn get(&self, path: &str) -> String {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(self.host()).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host()
        )
        .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = text(&raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        assert!(head.contains("chunked") || !head.is_empty(), "{head}");
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
