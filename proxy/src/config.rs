//! The repox configuration file: its shape, the embedded default, and errors that name the file,
//! line and key.
//!
//! The embedded default (`default.toml`) is both the configuration used when no file exists and
//! the text `repox config init` writes, so the documented defaults cannot drift from the real ones.
//! A user file is laid over it: `[server]` keys override one by one, and each
//! `[repositories.NAME]` table replaces the default repository of that name.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// The embedded default configuration, with comments explaining each key.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, cache directory and offline mode.
    #[serde(default)]
    pub server: ServerConfig,
    /// Repositories by name; each is served under `/NAME/`.
    #[serde(default)]
    pub repositories: BTreeMap<RepoName, RepositoryConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Cache directory; `None` means the platform default chosen by the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Serve only what is cached; misses get 504.
    #[serde(default)]
    pub offline: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            cache_dir: None,
            offline: false,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8078))
}

/// The default port, for clients that build URLs before any config is read.
pub const DEFAULT_PORT: u16 = 8078;

/// The protocol a repository speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Maven 2 and Ivy layouts.
    Maven,
    /// PyPI simple API (PEP 503/691).
    Pypi,
    /// conda channels.
    Conda,
    /// npm registry.
    Npm,
    /// cargo sparse registry.
    Cargo,
}

impl Kind {
    /// The lowercase name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Maven => "maven",
            Kind::Pypi => "pypi",
            Kind::Conda => "conda",
            Kind::Npm => "npm",
            Kind::Cargo => "cargo",
        }
    }
}

/// A repository name: one URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RepoName(String);

impl RepoName {
    /// The name as served in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = !s.is_empty()
            && s != "-"
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !s.starts_with('.');
        if ok {
            Ok(RepoName(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "repository name `{s}` must be one URL path segment of letters, digits, `-`, `_` or `.`"
            )))
        }
    }
}

/// `[repositories.NAME]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Protocol.
    pub kind: Kind,
    /// How long an upstream's 404 for a path is remembered.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub negative_ttl: Option<Duration>,
    /// Freshness of mutable files (Maven metadata, SNAPSHOTs, listings).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_ttl: Option<Duration>,
    /// Freshness of index pages (PyPI project pages, npm packuments, cargo index files).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub index_ttl: Option<Duration>,
    /// Glob patterns (on the path below the repository) answered 404 without asking upstream.
    #[serde(default)]
    pub block: Vec<String>,
    /// Where files come from.
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
}

impl RepositoryConfig {
    /// Negative TTL with the per-kind default filled in.
    pub fn negative_ttl(&self) -> Duration {
        self.negative_ttl.unwrap_or(match self.kind {
            Kind::Maven => Duration::from_secs(3600),
            _ => Duration::from_secs(300),
        })
    }

    /// Metadata TTL with the default filled in.
    pub fn metadata_ttl(&self) -> Duration {
        self.metadata_ttl.unwrap_or(Duration::from_secs(300))
    }

    /// Index TTL with the default filled in.
    pub fn index_ttl(&self) -> Duration {
        self.index_ttl.unwrap_or(Duration::from_secs(600))
    }
}

/// `[[repositories.NAME.upstreams]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Name used in logs, metrics and the negative cache.
    pub name: String,
    /// Base URL; a missing trailing `/` is added.
    #[serde(deserialize_with = "base_url")]
    pub url: Url,
    /// Lower tiers are tried first; upstreams of one tier are raced.
    #[serde(default)]
    pub priority: i32,
    /// `false` takes the upstream out of rotation.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `false`: this upstream mishandles HEAD, probe it with GET.
    #[serde(default = "yes")]
    pub head: bool,
    /// TCP/TLS connect timeout.
    #[serde(default = "connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// No bytes for this long means the transfer stalled.
    #[serde(default = "idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// HTTP proxy for this upstream only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Url>,
    /// Basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Name of the environment variable holding the password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// conda only: the channels this upstream serves, as globs on the channel name
    /// (`conda-forge`, `pkgs/*`; a pattern also covers the channel's labels); a leading `!`
    /// excludes. Empty: every channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

impl UpstreamConfig {
    /// An upstream with default settings, for tests and programmatic configs.
    pub fn new(name: &str, url: Url) -> Self {
        UpstreamConfig {
            name: name.to_owned(),
            url: with_trailing_slash(url),
            priority: 0,
            enabled: true,
            head: true,
            connect_timeout: connect_timeout(),
            idle_timeout: idle_timeout(),
            proxy: None,
            username: None,
            password_env: None,
            channels: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn idle_timeout() -> Duration {
    Duration::from_secs(10)
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let s = String::deserialize(d)?;
    let url =
        Url::parse(&s).map_err(|e| serde::de::Error::custom(format!("invalid URL `{s}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(serde::de::Error::custom(format!(
            "URL `{s}` must start with http:// or https://"
        )));
    }
    Ok(with_trailing_slash(url))
}

/// Parses "90s", "5m", "1h 30m".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}` ({e}); write e.g. \"30s\", \"5m\" or \"1h\""))
}

fn format_duration(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

mod duration {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod opt_duration {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration::deserialize(d).map(Some)
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or bad values.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value (0 when unknown).
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Config {
    /// The embedded default configuration.
    pub fn embedded() -> Config {
        toml::from_str(DEFAULT_TOML).expect("the embedded default config is valid")
    }

    /// Reads a config file and lays it over the embedded default.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text (named `origin` in errors) and lays it over the embedded default.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let file: Config = toml::from_str(text).map_err(|e| invalid(text, origin, &e))?;
        let mut config = Config::embedded();
        config.server = file.server;
        config.repositories.extend(file.repositories);
        config.check(origin)?;
        Ok(config)
    }

    /// Rules that span several keys.
    fn check(&self, origin: &Path) -> Result<(), ConfigError> {
        for (name, repo) in &self.repositories {
            let mut seen = std::collections::HashSet::new();
            for up in &repo.upstreams {
                if !seen.insert(up.name.as_str()) {
                    return Err(ConfigError::Invalid {
                        path: origin.to_owned(),
                        line: 0,
                        message: format!(
                            "repositories.{name}: two upstreams are named `{}`; names must be unique",
                            up.name
                        ),
                    });
                }
            }
            for up in &repo.upstreams {
                for pattern in &up.channels {
                    if let Err(e) = globset::Glob::new(pattern.trim_start_matches('!')) {
                        return Err(ConfigError::Invalid {
                            path: origin.to_owned(),
                            line: 0,
                            message: format!(
                                "repositories.{name}.upstreams `{}`: bad channel glob `{pattern}`: {e}",
                                up.name
                            ),
                        });
                    }
                }
            }
            for pattern in &repo.block {
                if let Err(e) = globset::Glob::new(pattern) {
                    return Err(ConfigError::Invalid {
                        path: origin.to_owned(),
                        line: 0,
                        message: format!("repositories.{name}.block: bad glob `{pattern}`: {e}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }
}

/// Turns a toml error into "file:line: `key`: message".
fn invalid(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    let (line, key) = match err.span() {
        Some(span) => {
            let line = text[..span.start].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            let key = line_text.split_once('=').map(|(k, _)| k.trim().to_owned());
            (line, key)
        }
        None => (0, None),
    };
    let message = err.message().trim().to_owned();
    let message = match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("`{key}`: {message}"),
        _ => message,
    };
    ConfigError::Invalid {
        path: origin.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_with_maven() {
        let c = Config::embedded();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8078");
        let maven = &c.repositories[&RepoName("maven".into())];
        assert_eq!(maven.kind, Kind::Maven);
        assert_eq!(maven.upstreams[0].name, "central");
        assert_eq!(maven.upstreams[2].priority, 1);
    }

    #[test]
    fn embedded_default_has_pypi() {
        let c = Config::embedded();
        let pypi = &c.repositories[&RepoName("pypi".into())];
        assert_eq!(pypi.kind, Kind::Pypi);
        assert_eq!(pypi.upstreams[0].url.as_str(), "https://pypi.org/simple/");
        assert_eq!(pypi.index_ttl(), Duration::from_secs(600));
        assert_eq!(pypi.negative_ttl(), Duration::from_secs(300));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n";
        let err = Config::parse(text, Path::new("/x/repox.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/x/repox.toml:3: "), "{err}");
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let text = "[repositories.m]\nkind = \"maven\"\nnegative_ttl = \"5 parsecs\"\n";
        let err = Config::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("r.toml:3: `negative_ttl`: invalid duration"),
            "{err}"
        );
    }

    #[test]
    fn file_repositories_replace_defaults_by_name() {
        let text = "[repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/m2\"\n";
        let c = Config::parse(text, Path::new("r.toml")).unwrap();
        let maven = &c.repositories[&RepoName("maven".into())];
        assert_eq!(maven.upstreams.len(), 1);
        assert_eq!(maven.upstreams[0].url.as_str(), "http://127.0.0.1:1/m2/");
        assert_eq!(maven.negative_ttl(), Duration::from_secs(3600));
    }

    #[test]
    fn conda_channel_globs_are_checked() {
        let ok = "[repositories.c]\nkind = \"conda\"\n[[repositories.c.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\nchannels = [\"!pkgs/*\", \"conda-forge\"]\n";
        let c = Config::parse(ok, Path::new("r.toml")).unwrap();
        assert_eq!(
            c.repositories[&RepoName("c".into())].upstreams[0]
                .channels
                .len(),
            2
        );
        let bad = ok.replace("conda-forge", "a[");
        let err = Config::parse(&bad, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad channel glob `a[`"), "{err}");
    }

    #[test]
    fn effective_config_round_trips() {
        let c = Config::embedded();
        let again = Config::parse(&c.to_toml(), Path::new("shown.toml")).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }
}
