//! `repox user` and `repox token` end to end: the users file they write (beside the config,
//! mode 0600, hashes only), what they print, their errors, and a running `repox serve` that
//! lets those users in.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;

use crate::repox_server::RepoxServer;

/// `repox --config DIR/repox.toml ARGS…` with a clean environment; `stdin` is fed as input.
fn repox(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repox"));
    cmd.env_clear()
        .env("HOME", config.parent().unwrap())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn fails(out: Output) -> String {
    assert!(!out.status.success(), "unexpected success");
    String::from_utf8(out.stderr).unwrap()
}

fn users_file(dir: &Path) -> PathBuf {
    dir.join("users.toml")
}

#[test]
fn user_and_token_commands_keep_hashes_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    // The config file need not exist: the users file goes beside where it would be.
    let config = dir.path().join("repox.toml");
    let add = [
        "user",
        "add",
        "alice",
        "--password-stdin",
        "--role",
        "write",
        "--repo",
        "pypi=admin",
    ];
    let (_, stderr) = ok(repox(&config, &add, Some("s3cret-pw\n")));
    let file = users_file(dir.path());
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert!(!text.contains("s3cret-pw"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let err = fails(repox(&config, &add, Some("again\n")));
    assert!(err.contains("user `alice` already exists"), "{err}");
    let err = fails(repox(&config, &["user", "add", "bob"], None));
    assert!(
        err.contains("no terminal") && err.contains("--password-stdin"),
        "{err}"
    );
    let err = fails(repox(
        &config,
        &["user", "add", "bob", "--password-stdin"],
        Some(""),
    ));
    assert!(err.contains("standard input is empty"), "{err}");
    let err = fails(repox(
        &config,
        &["user", "add", "bob:x", "--no-password"],
        None,
    ));
    assert!(err.contains("must be 1 to 64 letters"), "{err}");
    let err = fails(repox(
        &config,
        &["user", "add", "bob", "--no-password", "--repo", "pypi"],
        None,
    ));
    assert!(err.contains("write REPO=ROLE"), "{err}");
    ok(repox(
        &config,
        &["user", "add", "ci", "--no-password", "--role", "admin"],
        None,
    ));

    let (list, _) = ok(repox(&config, &["user", "list"], None));
    let alice = list.lines().find(|l| l.starts_with("alice")).unwrap();
    assert!(
        alice.contains("write") && alice.contains("yes") && alice.contains("pypi=admin"),
        "{list}"
    );
    let ci = list.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(ci.contains("admin") && ci.contains(" no "), "{list}");

    // `token create` prints the token and nothing else on stdout.
    let create = [
        "token",
        "create",
        "alice",
        "--name",
        "laptop",
        "--expires",
        "90d",
    ];
    let (stdout, stderr) = ok(repox(&config, &create, None));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim_end();
    assert!(token.starts_with("repox-") && token.len() >= 46, "{token}");
    assert!(stderr.contains("shown only this once"), "{stderr}");
    assert!(!fs_err::read_to_string(&file).unwrap().contains(token));
    let (second, _) = ok(repox(&config, &["token", "create", "ci"], None));
    assert_ne!(second, stdout);

    let (list, _) = ok(repox(&config, &["token", "list", "alice"], None));
    assert!(!list.contains(token) && !list.contains("repox-"), "{list}");
    let row = list.lines().find(|l| l.contains("laptop")).unwrap();
    assert!(!row.contains("never"), "90d tokens expire: {row}");
    let id = row.split_whitespace().next().unwrap().to_owned();
    let (all, _) = ok(repox(&config, &["token", "list"], None));
    assert_eq!(all.lines().count(), 3, "header and two tokens:\n{all}");
    let err = fails(repox(&config, &["token", "list", "nobody"], None));
    assert!(err.contains("no user `nobody`"), "{err}");

    ok(repox(&config, &["token", "revoke", &id], None));
    let (list, _) = ok(repox(&config, &["token", "list"], None));
    assert!(!list.contains(&id), "{list}");
    let err = fails(repox(&config, &["token", "revoke", &id], None));
    assert!(err.contains(&format!("no token with id `{id}`")), "{err}");

    let before = fs_err::read_to_string(&file).unwrap();
    ok(repox(
        &config,
        &["user", "passwd", "alice", "--password-stdin"],
        Some("n3w-pw\n"),
    ));
    let after = fs_err::read_to_string(&file).unwrap();
    assert_ne!(before, after);
    assert!(!after.contains("n3w-pw"));
    let err = fails(repox(
        &config,
        &["user", "passwd", "nobody", "--password-stdin"],
        Some("x\n"),
    ));
    assert!(err.contains("no user `nobody`"), "{err}");

    let (_, stderr) = ok(repox(&config, &["user", "remove", "ci"], None));
    assert!(stderr.contains("1 token(s)"), "{stderr}");
    let (list, _) = ok(repox(&config, &["user", "list"], None));
    assert!(!list.contains("ci "), "{list}");
    let err = fails(repox(&config, &["user", "remove", "ci"], None));
    assert!(err.contains("no user `ci`"), "{err}");

    // A damaged file is named in the error, and left as it is.
    fs_err::write(&file, "[users.x]\nrole = \"boss\"\n").unwrap();
    let err = fails(repox(&config, &["user", "list"], None));
    assert!(
        err.contains(&format!(
            "users file `{}` is invalid: line 2",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn users_file_in_the_config_is_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("repox.toml");
    fs_err::write(&config, "[auth]\nusers_file = \"team/people.toml\"\n").unwrap();
    ok(repox(
        &config,
        &["user", "add", "dana", "--no-password"],
        None,
    ));
    assert!(dir.path().join("team/people.toml").is_file());
    assert!(!users_file(dir.path()).exists());
}

/// `GET path` with an optional `Authorization`, by hand: the status code.
fn status(addr: SocketAddr, path: &str, auth: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_running_server_lets_in_the_users_the_cli_adds() {
    let dir = tempfile::tempdir().unwrap();
    let server = RepoxServer::start(dir.path(), "[auth]\nanonymous = \"none\"\n");
    let addr: SocketAddr = server.url()["http://".len()..]
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let config = dir.path().join("repox.toml");
    assert_eq!(status(addr, "/-/health", None), 200);
    assert_eq!(status(addr, "/-/metrics", None), 401);

    // Added while the server runs: it re-reads the users file.
    ok(repox(
        &config,
        &["user", "add", "root", "--password-stdin", "--role", "admin"],
        Some("root-pw\n"),
    ));
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("root:root-pw")
    );
    let mut last = 0;
    for _ in 0..100 {
        last = status(addr, "/-/metrics", Some(&basic));
        if last == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(last, 200, "{}", server.log());
    let (token, _) = ok(repox(&config, &["token", "create", "root"], None));
    let bearer = format!("Bearer {}", token.trim_end());
    let mut last = 0;
    for _ in 0..100 {
        last = status(addr, "/-/metrics", Some(&bearer));
        if last == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(last, 200);
    let log = server.log();
    assert!(!log.contains(token.trim_end()), "a token reached the log");
    assert!(!log.contains("root-pw"), "a password reached the log");
    assert!(log.contains("anonymous access: none"), "{log}");
}
