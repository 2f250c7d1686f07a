//! The built `repox serve` binary as a child process on a free loopback port, for tests that put
//! a real client (mvn, pip, npm, …) in front of it. The child is killed when the handle drops; its
//! stderr (one log line per request) is kept in a file so a failing test can show it.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `repox serve`.
pub struct RepoxServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl RepoxServer {
    /// Writes `config` (a repox TOML file) into `dir` and starts `repox serve` with it, a cache
    /// below `dir`, and a free port; returns once `/-/health` answers 200.
    pub fn start(dir: &Path, config: &str) -> RepoxServer {
        let config_path = dir.join("repox.toml");
        fs_err::write(&config_path, config).unwrap();
        // The free port is found by binding and releasing it, so another process may take it
        // before repox binds: try a few ports before giving up.
        for _ in 0..3 {
            let addr = free_port();
            let args = [
                "--listen".into(),
                addr.to_string().into(),
                "--cache-dir".into(),
                dir.join("cache").into(),
            ];
            if let Some(server) = RepoxServer::spawn(&config_path, addr, &args) {
                return server;
            }
        }
        panic!(
            "repox serve did not become healthy; its log:\n{}",
            fs_err::read_to_string(dir.join("repox.log")).unwrap_or_default()
        );
    }

    /// Starts `repox serve` with an existing config file, which names the listen address (so
    /// `repox warm` with the same file finds this server) and the cache.
    pub fn with_config(config: &Path) -> RepoxServer {
        let text = fs_err::read_to_string(config).unwrap();
        let listen = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("listen in config");
        RepoxServer::spawn(config, listen.parse().unwrap(), &[]).unwrap_or_else(|| {
            panic!(
                "repox serve did not become healthy; its log:\n{}",
                fs_err::read_to_string(config.with_file_name("repox.log")).unwrap_or_default()
            )
        })
    }

    /// `repox --config CONFIG serve ARGS…` answering on `addr`, logging next to the config; `None`
    /// when it exits or stays unhealthy for 30 s.
    fn spawn(config: &Path, addr: SocketAddr, args: &[OsString]) -> Option<RepoxServer> {
        let log = config.with_file_name("repox.log");
        let child = Command::new(env!("CARGO_BIN_EXE_repox"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .args(args)
            .env_remove("REPOX_OFFLINE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs_err::File::create(&log).unwrap().into_file())
            .spawn()
            .expect("start repox serve");
        let mut server = RepoxServer { child, addr, log };
        server
            .wait_healthy(Duration::from_secs(30))
            .then_some(server)
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The process id of `repox serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What repox wrote to stderr so far.
    pub fn log(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether a log line containing `needle` appears within a few seconds: repox writes its
    /// log in batches, a moment after the requests.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn wait_healthy(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http_status(self.addr, "/-/health") == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for RepoxServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released: good enough for a test's config).
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("find a free port");
    listener.local_addr().unwrap()
}

/// The status of `GET path`, by hand over one HTTP/1.1 connection: enough for a health check
/// without an async client.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}
