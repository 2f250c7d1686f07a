//! The built `repox serve` binary as a child process on a free loopback port, for tests that put
//! a real client (mvn, pip, npm, …) in front of it. The child is killed when the handle drops; its
//! stderr (one log line per request) is kept in a file so a failing test can show it.

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
        let log = dir.join("repox.log");
        // The free port is found by binding and releasing it, so another process may take it
        // before repox binds: try a few ports before giving up.
        for _ in 0..3 {
            let addr = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_repox"))
                .arg("--config")
                .arg(&config_path)
                .arg("serve")
                .arg("--listen")
                .arg(addr.to_string())
                .arg("--cache-dir")
                .arg(dir.join("cache"))
                .env_remove("REPOX_OFFLINE")
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs_err::File::create(&log).unwrap().into_file())
                .spawn()
                .expect("start repox serve");
            let mut server = RepoxServer {
                child,
                addr,
                log: log.clone(),
            };
            if server.wait_healthy(Duration::from_secs(30)) {
                return server;
            }
            drop(server);
        }
        panic!(
            "repox serve did not become healthy; its log:\n{}",
            fs_err::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// What repox wrote to stderr so far.
    pub fn log(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
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

fn free_port() -> SocketAddr {
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
