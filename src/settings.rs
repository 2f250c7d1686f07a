//! Resolved settings: command line > environment > config file > embedded default, decided in
//! one place so that every command sees the same effective configuration.

use std::path::{Path, PathBuf};

use anyhow::Context;
use etcetera::BaseStrategy;
use repox_proxy::config::Config;

use crate::cli::{GlobalArgs, ServeArgs};

/// An error with a suggested next step, printed as a `hint:` line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

fn base() -> anyhow::Result<impl BaseStrategy> {
    etcetera::choose_base_strategy().context("cannot find the home directory")
}

/// `~/.config/repox/repox.toml` (platform equivalent elsewhere).
pub fn default_config_path() -> anyhow::Result<PathBuf> {
    Ok(base()?.config_dir().join("repox").join("repox.toml"))
}

/// `~/.cache/repox` (platform equivalent elsewhere).
pub fn default_cache_dir() -> anyhow::Result<PathBuf> {
    Ok(base()?.cache_dir().join("repox"))
}

/// The config file in effect, if any: `--config`/`REPOX_CONFIG` (must exist), else the default
/// path when it exists.
pub fn config_file(global: &GlobalArgs) -> anyhow::Result<Option<PathBuf>> {
    match &global.config {
        Some(path) => Ok(Some(path.clone())),
        None => {
            let path = default_config_path()?;
            Ok(path.is_file().then_some(path))
        }
    }
}

/// The file a running `repox serve` reloads and the settings API writes: `--config` or
/// `REPOX_CONFIG`, else the default path, which the first change through the API creates.
pub fn live_config_path(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    match &global.config {
        Some(path) => Ok(std::path::absolute(path).unwrap_or_else(|_| path.clone())),
        None => default_config_path(),
    }
}

/// The effective configuration, with `serve` flags applied when given.
pub fn load(global: &GlobalArgs, serve: Option<&ServeArgs>) -> anyhow::Result<Config> {
    let mut config = match config_file(global)? {
        Some(path) => Config::load(&path).map_err(|e| Hinted {
            message: e.to_string(),
            hint: format!(
                "fix the file, or compare it with `repox config init {}.new`",
                display(&path)
            ),
        })?,
        None => Config::embedded(),
    };
    if let Some(args) = serve {
        if let Some(listen) = args.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &args.cache_dir {
            config.server.cache_dir = Some(dir.clone());
        }
        if args.offline {
            config.server.offline = true;
        }
        if args.workers.is_some() {
            config.server.workers = args.workers;
        }
    }
    if config.server.cache_dir.is_none() {
        config.server.cache_dir = Some(default_cache_dir()?);
    }
    if config.auth.users_file.is_none() {
        config.auth.users_file = Some(default_users_file(global)?);
    }
    Ok(config)
}

/// `users.toml` beside the config file in effect (`--config`, `REPOX_CONFIG`, else the default
/// path), whether or not that file exists.
fn default_users_file(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    let config = match &global.config {
        Some(path) => path.clone(),
        None => default_config_path()?,
    };
    let dir = config.parent().unwrap_or(Path::new(""));
    Ok(dir.join("users.toml"))
}

/// The users file of the effective configuration.
pub fn users_file(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    // `repox user add` may come before the config file does.
    if global.config.as_ref().is_some_and(|c| !c.exists()) {
        return default_users_file(global);
    }
    let config = load(global, None)?;
    match config.auth.users_file {
        Some(path) => Ok(path),
        None => default_users_file(global),
    }
}

/// The base URL clients should use for the server described by `config`.
pub fn server_url(config: &Config) -> url::Url {
    let mut addr = config.server.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    url::Url::parse(&format!("http://{addr}/")).expect("socket address forms a URL")
}

pub fn display(path: &Path) -> String {
    path.display().to_string()
}
