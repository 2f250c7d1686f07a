//! The built `repox serve` binary as a child process on a free loopback port, for tests that put
//! a real client (mvn, pip, npm, …) in front of it. The child binds port 0 and the test reads
//! the bound address from its start-up line: a port found free by the test could be taken by
//! another test before the child binds it. The child is killed when the handle drops; its
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
    /// below `dir`, and port 0: the child binds a free port itself and says which; returns once
    /// `/-/health` answers 200.
    pub fn start(dir: &Path, config: &str) -> RepoxServer {
        let config_path = dir.join("repox.toml");
        fs_err::write(&config_path, config).unwrap();
        let args = [
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--cache-dir".into(),
            dir.join("cache").into(),
        ];
        RepoxServer::spawn(&config_path, &args).unwrap_or_else(|| {
            panic!(
                "repox serve did not become healthy; its log:\n{}",
                fs_err::read_to_string(dir.join("repox.log")).unwrap_or_default()
            )
        })
    }

    /// Starts `repox serve` with an existing config file, which names the listen address (so
    /// `repox warm` and `repox configure` with the same file find this server) and the cache.
    /// That port was found free when the file was written, so another process may have taken
    /// it since: then the file gets another free port, a few times.
    pub fn with_config(config: &Path) -> RepoxServer {
        for _ in 0..3 {
            if let Some(server) = RepoxServer::spawn(config, &[]) {
                return server;
            }
            let log =
                fs_err::read_to_string(config.with_file_name("repox.log")).unwrap_or_default();
            if !log.contains("cannot listen on") {
                break;
            }
            let text = fs_err::read_to_string(config).unwrap();
            let text = text
                .lines()
                .map(|l| match l.starts_with("listen = \"") {
                    true => format!("listen = \"{}\"", free_port()),
                    false => l.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            fs_err::write(config, text + "\n").unwrap();
        }
        panic!(
            "repox serve did not become healthy; its log:\n{}",
            fs_err::read_to_string(config.with_file_name("repox.log")).unwrap_or_default()
        )
    }

    /// `repox --config CONFIG serve ARGS…`, logging next to the config, answering on the address
    /// it says it bound; `None` when it exits or stays unhealthy for 30 s.
    fn spawn(config: &Path, args: &[OsString]) -> Option<RepoxServer> {
        let log = config.with_file_name("repox.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_repox"))
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
        let Some(addr) = announced(&mut child, &log) else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
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

/// The address a `repox serve` child, its stderr going to `log`, says it listens on, once it
/// has bound it; `None` when it exits first or says nothing for 30 s.
pub fn announced(child: &mut Child, log: &Path) -> Option<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exited = !matches!(child.try_wait(), Ok(None));
        if let Some(addr) = listening_on(&fs_err::read_to_string(log).unwrap_or_default()) {
            return Some(addr);
        }
        if exited || Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The address in the start-up line `repox listening on http://ADDR (cache: …)`.
pub fn listening_on(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| {
        let (_, rest) = line.split_once("listening on ")?;
        let (_, rest) = rest.split_once("://")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// A loopback port that was free a moment ago (bound and released), for a config file that
/// must name its port before the server starts ([`RepoxServer::with_config`] retries if it
/// was taken since); a child that can listen anywhere is given port 0 instead.
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
