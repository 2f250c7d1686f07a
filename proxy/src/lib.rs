//! repox-proxy: the caching proxy server behind `repox`. (work in progress)
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod config;
pub mod negative;
pub mod path;
pub mod store;
pub mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Placeholder server.
pub struct Server {
    addr: SocketAddr,
    cache_dir: PathBuf,
}

impl Server {
    /// Binds.
    pub async fn bind(config: config::Config) -> std::io::Result<Server> {
        Ok(Server {
            addr: config.server.listen,
            cache_dir: config.server.cache_dir.unwrap_or_default(),
        })
    }
    /// Address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Cache dir.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }
    /// Runs.
    pub async fn run(self, _signal: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
