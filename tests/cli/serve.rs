//! `repox serve` and `repox config` as a user runs them: no config at all, a config file,
//! flags and environment overrides, errors that name the file, line and key, and a graceful
//! stop on SIGTERM.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub(crate) fn repox(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repox"));
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    cmd
}

/// Spawns `cmd`, a `repox … serve` told to listen on port 0, with its stderr in `log`; returns
/// it with the address it bound, read from its start-up line (panics with its log if it exits
/// or says nothing).
pub(crate) fn spawn_serve(cmd: &mut Command, log: &Path) -> (Child, SocketAddr) {
    let mut child = cmd
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    match crate::repox_server::announced(&mut child, log) {
        Some(addr) => (child, addr),
        None => {
            let _ = child.kill();
            let status = child.wait();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("repox serve did not say where it listens ({status:?}): {log}");
        }
    }
}

/// The `/-/health` answer of the `repox serve` child at `addr`; panics with its log (`log`,
/// its stderr) if it exits first.
pub(crate) fn wait_healthy(addr: SocketAddr, child: &mut Child, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            use std::io::Write;
            stream
                .write_all(b"GET /-/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut resp = String::new();
            stream.read_to_string(&mut resp).unwrap();
            return resp;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("repox serve exited early: {status}: {log}");
        }
        assert!(Instant::now() < deadline, "repox serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_with_no_config_uses_the_embedded_default_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("repox.log");
    let (mut child, addr) = spawn_serve(
        repox(home.path()).args(["serve", "--listen", "127.0.0.1:0"]),
        &log,
    );
    // The start-up line shows the port bound, not the `0` asked for.
    assert_ne!(addr.port(), 0);
    let health = wait_healthy(addr, &mut child, &log);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"name\":\"maven\""), "{health}");
    // The default cache directory is the platform cache dir under the (temporary) home.
    let cache = home.path().join(".cache/repox");
    assert!(cache.join("CACHEDIR.TAG").exists());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "repox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains(&format!("listening on http://{addr} ")),
        "{log}"
    );
    assert!(log.contains("shutting down"), "{log}");
    let staging: Vec<_> = std::fs::read_dir(cache.join("tmp")).unwrap().collect();
    assert!(staging.is_empty(), "no staging file is left behind");
}

#[test]
fn config_show_combines_default_file_env_and_flags() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("repox.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:9999\"\n\n[repositories.maven]\nkind = \"maven\"\nnegative_ttl = \"2h\"\n\
         [[repositories.maven.upstreams]]\nname = \"corp\"\nurl = \"https://repo.corp.example/maven2\"\n",
    )
    .unwrap();
    let out = repox(home.path())
        .args([
            "--config",
            file.to_str().unwrap(),
            "config",
            "show",
            "--cache-dir",
            "/srv/cache",
        ])
        .env("REPOX_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("listen = \"127.0.0.1:9999\""), "{shown}");
    assert!(shown.contains("cache_dir = \"/srv/cache\""), "{shown}");
    assert!(shown.contains("offline = true"), "{shown}");
    assert!(shown.contains("negative_ttl = \"2h\""), "{shown}");
    assert!(
        shown.contains("url = \"https://repo.corp.example/maven2/\""),
        "{shown}"
    );
    assert!(
        !shown.contains("repo.maven.apache.org"),
        "the file's maven repository replaces the default one"
    );

    let out = repox(home.path())
        .args(["config", "show", "--listen", "0.0.0.0:1234"])
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("listen = \"0.0.0.0:1234\""), "{shown}");
    assert!(shown.contains("repo.maven.apache.org"), "{shown}");
}

#[test]
fn config_show_hides_passwords_written_in_urls() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("repox.toml");
    std::fs::write(
        &file,
        "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"corp\"\n\
         url = \"https://alice:hunter2@repo.corp.example/maven2\"\nproxy = \"http://p:pw-77@proxy.corp:3128\"\n",
    )
    .unwrap();
    let out = repox(home.path())
        .args(["--config", file.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.contains("hunter2") && !shown.contains("pw-77"),
        "{shown}"
    );
    assert!(
        shown.contains("url = \"https://alice:***@repo.corp.example/maven2/\""),
        "{shown}"
    );
}

#[test]
fn config_init_writes_the_commented_default_once() {
    let home = tempfile::tempdir().unwrap();
    let out = repox(home.path())
        .args(["config", "init"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = home.path().join(".config/repox/repox.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# How long \"this upstream lacks this path\" is remembered"));
    assert!(text.contains("[repositories.maven]"));

    let again = repox(home.path())
        .args(["config", "init"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("hint: pass --force"),
        "{err}"
    );

    // The written file is picked up by default and is valid.
    let out = repox(home.path())
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_names_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\n\n[repositories.maven]\nkind = \"maven\"\nmetadata_ttl = \"soon\"\n").unwrap();
    let out = repox(home.path())
        .args(["serve"])
        .env("REPOX_CONFIG", &file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "error: {}:6: `metadata_ttl`: invalid duration",
            file.display()
        )),
        "{err}"
    );

    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\ncolour = true\n").unwrap();
    let out = repox(home.path())
        .args(["--config", file.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3: unknown field `colour`"), "{err}");
}

/// Sends SIGTERM to `child` and returns its stderr (`log`) once it has exited successfully.
fn stop(mut child: Child, log: &Path) -> String {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "repox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn the_start_up_line_says_when_the_server_is_offline() {
    let home = tempfile::tempdir().unwrap();
    for offline in [false, true] {
        let log = home.path().join(format!("offline-{offline}.log"));
        let mut cmd = repox(home.path());
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        if offline {
            cmd.arg("--offline");
        }
        let (mut child, addr) = spawn_serve(&mut cmd, &log);
        wait_healthy(addr, &mut child, &log);
        let log = stop(child, &log);
        let line = log.lines().find(|l| l.contains("listening on")).unwrap();
        assert_eq!(line.contains("offline"), offline, "{line}");
    }
}

#[test]
fn workers_come_from_the_flag_the_environment_or_the_file() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("repox.toml");
    // Not the default (one per core), so that a file that went unread is seen.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::fs::write(&config, format!("[server]\nworkers = {}\n", cores + 1)).unwrap();
    let from_file = format!("; {} workers", cores + 1);
    // The flag beats the environment, which beats the file.
    for (i, (flag, env, want)) in [
        (None, None, from_file.as_str()),
        (None, Some("1"), "; 1 worker)"),
        (Some("3"), Some("1"), "; 3 workers"),
    ]
    .into_iter()
    .enumerate()
    {
        let log = home.path().join(format!("workers-{i}.log"));
        let mut cmd = repox(home.path());
        cmd.arg("--config").arg(&config);
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        if let Some(n) = flag {
            cmd.args(["--workers", n]);
        }
        match env {
            Some(n) => cmd.env("REPOX_WORKERS", n),
            None => cmd.env_remove("REPOX_WORKERS"),
        };
        let (mut child, addr) = spawn_serve(&mut cmd, &log);
        wait_healthy(addr, &mut child, &log);
        let log = stop(child, &log);
        let line = log.lines().find(|l| l.contains("listening on")).unwrap();
        assert!(line.contains(want), "{want}: {line}");
    }
    let out = repox(home.path())
        .args(["serve", "--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--workers"), "{err}");
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let home = tempfile::tempdir().unwrap();
    let out = repox(home.path())
        .args(["serve"])
        .env("REPOX_LISTEN", "garbage")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "error: invalid value 'garbage' in the environment variable REPOX_LISTEN (read as --listen)"
        ),
        "{err}"
    );
    assert!(err.contains("hint: fix or unset REPOX_LISTEN"), "{err}");
    // Typed on the command line, the flag is to blame, as clap says.
    let out = repox(home.path())
        .args(["serve", "--listen", "garbage"])
        .env("REPOX_LISTEN", "garbage")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("REPOX_LISTEN"), "{err}");
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn a_server_that_cannot_listen_leaves_no_cache_directory() {
    let home = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cache = home.path().join("cache");
    let out = repox(home.path())
        .args(["serve", "--listen", &addr, "--cache-dir"])
        .arg(&cache)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!cache.exists(), "the cache directory was created");
}

#[test]
fn a_second_server_on_one_cache_directory_is_refused_naming_the_holder() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let first_log = home.path().join("first.log");
    let (mut first, addr) = spawn_serve(
        repox(home.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--cache-dir"])
            .arg(&cache),
        &first_log,
    );
    wait_healthy(addr, &mut first, &first_log);
    let out = repox(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--cache-dir"])
        .arg(&cache)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let first_line = err.lines().next().unwrap();
    assert!(first_line.starts_with("error: "), "{err}");
    assert!(
        first_line.contains(&format!("`{}`", cache.display()))
            && first_line.contains(&format!("PID {}", first.id())),
        "{err}"
    );
    // The first server is unharmed, and once it is gone the directory is free again.
    stop(first, &first_log);
    let again_log = home.path().join("again.log");
    let (mut again, addr) = spawn_serve(
        repox(home.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--cache-dir"])
            .arg(&cache),
        &again_log,
    );
    wait_healthy(addr, &mut again, &again_log);
    stop(again, &again_log);
}

#[test]
fn warm_beside_a_server_on_its_cache_directory_points_at_that_server() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let log = home.path().join("repox.log");
    let (mut server, addr) = spawn_serve(
        repox(home.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--cache-dir"])
            .arg(&cache),
        &log,
    );
    wait_healthy(addr, &mut server, &log);
    // The config names another address, where nothing answers: warm would run its own proxy.
    let config = home.path().join("repox.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{}\"\ncache_dir = \"{}\"\n",
            crate::repox_server::free_port(),
            cache.display()
        ),
    )
    .unwrap();
    let requirements = home.path().join("requirements.txt");
    std::fs::write(&requirements, "attrs==23.1.0\n").unwrap();
    let out = repox(home.path())
        .arg("--config")
        .arg(&config)
        .arg("warm")
        .arg(&requirements)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("PID {}", server.id())), "{err}");
    assert!(
        err.contains("hint: warm through the running repox: pass its URL with --server"),
        "{err}"
    );
    stop(server, &log);
}
