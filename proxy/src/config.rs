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
use std::num::NonZeroUsize;
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
    /// Who may read and write: anonymous access and the users file.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Bounds of the cache: size and age limits.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// `[storage]`: how much the cache may hold and for how long. A table that grows with the
/// storage backends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Past this many bytes, the least recently used immutable entries are evicted.
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Entries nobody asked for in this long are removed (mutable index documents too).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub unused_for: Option<Duration>,
    /// Where entries live: `s3://bucket/prefix` for an S3-compatible bucket (`store/s3.rs`);
    /// unset, the local `[server] cache_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The S3 endpoint (MinIO, Ceph RGW, Garage, R2...), path-style; unset, AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The S3 region (default `us-east-1`, or `AWS_REGION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// With an S3 `url`: bytes of hot immutable entries also kept on local disk (default 1GiB;
    /// `0` turns the local copy off).
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub local_cache_size: Option<u64>,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// What a request without credentials may do.
    #[serde(default)]
    pub anonymous: Anonymous,
    /// The users and tokens file; the CLI fills in `users.toml` beside the config file. A
    /// relative path is relative to the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_file: Option<PathBuf>,
}

/// `[auth] anonymous`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// Anyone who reaches the port reads every repository (the zero-config local default).
    #[default]
    Read,
    /// Every request but `/-/health` needs a user's password or token.
    None,
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
    /// Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For`/`-Host`/`-Proto` are
    /// believed; from any other peer those headers are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "nets")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM certificate chain: with `tls_key`, serve HTTPS instead of HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Open connections allowed from one client address; more are closed at once.
    #[serde(default = "max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// A client that has not sent its request headers by then is disconnected.
    #[serde(default = "header_read_timeout", with = "duration")]
    pub header_read_timeout: Duration,
    /// Memory for documents, `"16MiB"` when unset: those derived from upstream bodies (rendered
    /// index pages, rewritten packuments, digest indexes), the small cached ones (index
    /// pages, metadata) kept in memory after a read and the bodies of small hot artifacts (up
    /// to 16 KiB, `store/fs/hot.rs`), all under this one budget (`memo.rs`).
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub memory_budget: Option<u64>,
    /// PEM file of CA certificates every upstream trusts on top of the platform's roots (a
    /// TLS-inspecting corporate proxy, an internal Nexus); an upstream's own `ca_certificates`
    /// adds to it. Relative to the config file's directory. Read at start-up and at each
    /// reload: unlike the rest of `[server]`, a change needs no restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<FilePath>,
    /// Threads that serve requests (the runtime's workers, like nginx's `worker_processes`);
    /// unset means one per CPU core the process may use. Read at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<NonZeroUsize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            cache_dir: None,
            offline: false,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            max_connections_per_ip: max_connections_per_ip(),
            header_read_timeout: header_read_timeout(),
            memory_budget: None,
            ca_certificates: None,
            workers: None,
        }
    }
}

/// A file named in the config file, kept twice: as written, which is what the settings API
/// shows and what a save writes back (a user's `"certs/ca.pem"` stays relative), and as used,
/// a relative path joined to the config file's directory by [`Config::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePath {
    written: PathBuf,
    resolved: PathBuf,
}

impl FilePath {
    /// The file to open.
    pub fn path(&self) -> &Path {
        &self.resolved
    }

    /// The path as the config file spells it.
    pub fn written(&self) -> &Path {
        &self.written
    }

    /// Resolves a relative path against `dir`, the config file's directory.
    fn resolve_in(&mut self, dir: &Path) {
        if self.written.is_relative() {
            self.resolved = dir.join(&self.written);
        }
    }
}

impl From<PathBuf> for FilePath {
    fn from(path: PathBuf) -> FilePath {
        FilePath {
            written: path.clone(),
            resolved: path,
        }
    }
}

impl From<&Path> for FilePath {
    fn from(path: &Path) -> FilePath {
        FilePath::from(path.to_owned())
    }
}

impl Serialize for FilePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.written.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FilePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FilePath, D::Error> {
        PathBuf::deserialize(d).map(FilePath::from)
    }
}

fn max_connections_per_ip() -> usize {
    256
}

fn header_read_timeout() -> Duration {
    Duration::from_secs(30)
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

impl RepoName {
    /// Checks that `s` can be a repository name (one URL path segment, not `-`).
    pub fn parse(s: &str) -> Result<RepoName, String> {
        let ok = !s.is_empty()
            && s != "-"
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !s.starts_with('.');
        if ok {
            Ok(RepoName(s.to_owned()))
        } else {
            Err(format!(
                "repository name `{s}` must be one URL path segment of letters, digits, `-`, `_` or `.`"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RepoName::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
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
    /// Release cooldown: versions published less than this long ago are hidden (`policy/`).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_age: Option<Duration>,
    /// Packages (`name`, `name==1.2.3`, `prefix-*`) the cooldown does not apply to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub min_age_exempt: Vec<String>,
    /// Versions refused with 403, in the ecosystem's spelling (`requests==2.32.0`,
    /// `event-stream@3.3.6`, `g:a:v`, `evil-*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Where files come from.
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    /// Largest file a download may bring (`"8GiB"`): a larger `Content-Length` is refused at
    /// once, a body that grows past it is aborted.
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    /// Longest a single download may run, resumes included.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_download_time: Option<Duration>,
    /// Slowest average rate (per second, over an upstream's `idle_timeout`) that is not a stall.
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub min_rate: Option<u64>,
    /// PyPI: announce PEP 658 metadata for wheels whose upstream page lacks it, and read it
    /// from the wheel (by range requests) when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_metadata: Option<bool>,
    /// A hosted repository: it accepts uploads and never asks an upstream (`hosted/`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub hosted: bool,
    /// A group: one URL over these repositories, asked in this order (`group/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<RepoName>,
    /// Hosted Maven only: a release may be deployed again over itself (refused with 409 when
    /// false, the default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_redeploy: bool,
    /// Groups only: a name present in a hosted member may also be served from the other
    /// members. Off by default, which is the dependency-confusion protection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_shadowing: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a repository does with requests: decided by its keys, one of three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Caches what its upstreams serve (`upstreams = [...]`).
    Proxy,
    /// Holds what users upload (`hosted = true`).
    Hosted,
    /// Merges other repositories (`members = [...]`).
    Group,
}

impl RepositoryConfig {
    /// A repository of `kind` with every other key at its default (a proxy with no upstreams).
    pub fn new(kind: Kind) -> RepositoryConfig {
        RepositoryConfig {
            kind,
            negative_ttl: None,
            metadata_ttl: None,
            index_ttl: None,
            block: Vec::new(),
            upstreams: Vec::new(),
            max_file_size: None,
            max_download_time: None,
            min_rate: None,
            hosted: false,
            members: Vec::new(),
            allow_redeploy: false,
            allow_shadowing: false,
            min_age: None,
            min_age_exempt: Vec::new(),
            deny: Vec::new(),
            generate_metadata: None,
        }
    }

    /// Whether this is a proxy, a hosted repository or a group.
    pub fn role(&self) -> Role {
        if self.hosted {
            Role::Hosted
        } else if !self.members.is_empty() {
            Role::Group
        } else {
            Role::Proxy
        }
    }

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

    /// `max_file_size` with the default (8 GiB) filled in.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size.unwrap_or(8 << 30)
    }

    /// `max_download_time` with the default (1 h) filled in.
    pub fn max_download_time(&self) -> Duration {
        self.max_download_time.unwrap_or(Duration::from_secs(3600))
    }

    /// `generate_metadata` with the default (on) filled in.
    pub fn generate_metadata(&self) -> bool {
        self.generate_metadata.unwrap_or(true)
    }

    /// `min_rate` in bytes per second with the default (1 KiB/s) filled in.
    pub fn min_rate(&self) -> u64 {
        self.min_rate.unwrap_or(1024)
    }

    /// Rules that span several keys (unique upstream names, valid globs), for a repository read
    /// from any source: the config file or the settings API's JSON.
    pub fn validate(&self) -> Result<(), Problem> {
        let mut seen = std::collections::HashSet::new();
        for up in &self.upstreams {
            if !seen.insert(up.name.as_str()) {
                return Err(Problem::DuplicateUpstream(up.name.clone()));
            }
        }
        for up in &self.upstreams {
            for pattern in &up.channels {
                if let Err(e) = globset::Glob::new(pattern.trim_start_matches('!')) {
                    return Err(Problem::ChannelGlob {
                        upstream: up.name.clone(),
                        pattern: pattern.clone(),
                        why: e.to_string(),
                    });
                }
            }
        }
        for pattern in &self.block {
            if let Err(e) = globset::Glob::new(pattern) {
                return Err(Problem::BlockGlob {
                    pattern: pattern.clone(),
                    why: e.to_string(),
                });
            }
        }
        if self.hosted {
            // A cooldown is against fresh upstream releases; a team's own uploads are meant to
            // be used at once. Accepted and ignored would be a surprise, so it is refused.
            if self.min_age.is_some() {
                return Err(Problem::HostedCooldown("min_age"));
            }
            if !self.min_age_exempt.is_empty() {
                return Err(Problem::HostedCooldown("min_age_exempt"));
            }
        }
        for (key, rules) in [
            ("deny", &self.deny),
            ("min_age_exempt", &self.min_age_exempt),
        ] {
            for rule in rules {
                if let Err(why) = crate::policy::Rule::parse(self.kind, rule) {
                    return Err(Problem::Rule {
                        key,
                        rule: rule.clone(),
                        why,
                    });
                }
            }
        }
        Ok(())
    }
}

impl Problem {
    /// The problem named from the top of the file: `repositories.NAME.block: ...`.
    pub fn in_repository(&self, name: &str) -> String {
        match self {
            Problem::DuplicateUpstream(_) => format!("repositories.{name}: {self}"),
            _ => format!("repositories.{name}.{self}"),
        }
    }
}

/// A rule broken across keys of one repository ([`RepositoryConfig::validate`]); displayed
/// relative to the repository (`upstreams ...`, `block: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Two upstreams share a name.
    #[error("two upstreams are named `{0}`; names must be unique")]
    DuplicateUpstream(String),
    /// A `channels` pattern is not a glob.
    #[error("upstreams `{upstream}`: `channels`: bad channel glob `{pattern}`: {why}")]
    ChannelGlob {
        /// The upstream.
        upstream: String,
        /// The pattern.
        pattern: String,
        /// Why.
        why: String,
    },
    /// A `block` pattern is not a glob.
    #[error("block: bad glob `{pattern}`: {why}")]
    BlockGlob {
        /// The pattern.
        pattern: String,
        /// Why.
        why: String,
    },
    /// `min_age` or `min_age_exempt` on a hosted repository.
    #[error(
        "{0}: a hosted repository applies no release cooldown to its own uploads; set min_age on the proxies, or on a group (where it covers hosted members too)"
    )]
    HostedCooldown(&'static str),
    /// A `deny` or `min_age_exempt` rule does not parse.
    #[error("{key}: {why}")]
    Rule {
        /// `deny` or `min_age_exempt`.
        key: &'static str,
        /// The rule.
        rule: String,
        /// Why, with the fix.
        why: String,
    },
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
    #[serde(default = "connect_timeout", with = "connect_timeout_key")]
    pub connect_timeout: Duration,
    /// No bytes for this long means the transfer stalled.
    #[serde(default = "idle_timeout", with = "idle_timeout_key")]
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
    /// PEM file of CA certificates trusted for this upstream on top of the platform's roots
    /// and `[server] ca_certificates` (an internal repository whose certificate comes from a
    /// private CA). A relative path is relative to the config file's directory. Read at
    /// start-up and at each reload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<FilePath>,
    /// conda only: the channels this upstream serves, as globs on the channel name
    /// (`conda-forge`, `pkgs/*`; a pattern also covers the channel's labels); a leading `!`
    /// excludes. Empty: every channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Consecutive failures (connection errors, timeouts, 5xx) after which the upstream is
    /// marked down and not asked for a while; 0 never marks it down.
    #[serde(default = "breaker_failures")]
    pub breaker_failures: u32,
    /// How long an upstream stays down before one probe request is let through.
    #[serde(default = "breaker_backoff", with = "duration")]
    pub breaker_backoff: Duration,
    /// The back-off doubles at each failed probe, up to this.
    #[serde(default = "breaker_backoff_max", with = "duration")]
    pub breaker_backoff_max: Duration,
    /// Release cooldown for the files of this upstream (overrides the repository's `min_age`).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_age: Option<Duration>,
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
            ca_certificates: None,
            channels: Vec::new(),
            breaker_failures: breaker_failures(),
            breaker_backoff: breaker_backoff(),
            breaker_backoff_max: breaker_backoff_max(),
            min_age: None,
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
fn breaker_failures() -> u32 {
    5
}
fn breaker_backoff() -> Duration {
    Duration::from_secs(5)
}
fn breaker_backoff_max() -> Duration {
    Duration::from_secs(300)
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

/// The longest duration any key accepts: far beyond any sane setting, and far enough from the
/// limits of `Instant` and `SystemTime` that adding it to "now" cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What every duration error ends with.
const DURATION_SHAPE: &str =
    "a duration is a number with a unit (s, m, h, d), e.g. \"30s\", \"5m\" or \"1h 30m\"";

/// Parses "90s", "5m", "1h 30m" (at most [`MAX_DURATION`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| match e {
        // humantime's own words ("expected number at 0") say where, not what.
        humantime::DurationError::UnknownUnit { unit, .. } => {
            format!("invalid duration `{s}`: unknown unit `{unit}`; {DURATION_SHAPE}")
        }
        humantime::DurationError::NumberOverflow => {
            format!("duration `{s}` is too long; at most 100 years (\"100y\") is accepted")
        }
        _ => format!("invalid duration `{s}`: {DURATION_SHAPE}"),
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "duration `{s}` is too long; at most 100 years (\"100y\") is accepted"
        ));
    }
    Ok(d)
}

/// [`parse_duration`] within `min..=max`, for timeouts that break the server when too short.
fn parse_bounded(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if d < min || d > max {
        return Err(format!(
            "`{s}` is out of range; write a duration from \"{}\" to \"{}\"",
            show(min),
            show(max)
        ));
    }
    Ok(d)
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
        d.deserialize_any(Text)
    }

    /// A duration is a string; a bare number is refused with what to write instead.
    struct Text;

    impl serde::de::Visitor<'_> for Text {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration such as \"5m\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "`{v}` has no unit; write a duration such as \"{v}m\" or \"{v}s\" (in quotes)"
            )))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "`{v}` has no unit; write a duration such as \"{v}m\" or \"{v}s\" (in quotes)"
            )))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "`{v}` has no unit; write a duration such as \"5m\" (in quotes)"
            )))
        }
    }
}

/// Parses a size: `"8GiB"`, `"500 MB"`, `"1KiB"`, `"4096"` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size `{s}`; write e.g. \"8GiB\", \"500MiB\" or \"1KiB\"");
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let number: f64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A size as the config file writes it: the largest binary unit that divides it exactly
/// (`"8GiB"`, `"1536KiB"`), else bytes (`"1000B"`).
pub fn format_size(n: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n != 0 && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n}B")
}

mod opt_size {
    use super::*;
    pub fn serialize<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => s.serialize_str(&format_size(*n)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        parse_size(&String::deserialize(d)?)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// `connect_timeout`: 0 would fail every connection, and it also bounds the wait for headers.
mod connect_timeout_key {
    use super::*;
    pub use duration::serialize;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_bounded(&s, Duration::from_millis(100), Duration::from_secs(600))
            .map_err(serde::de::Error::custom)
    }
}

/// `idle_timeout`: below a second, ordinary network jitter counts as a stall and nearly every
/// download is cut and resumed.
mod idle_timeout_key {
    use super::*;
    pub use duration::serialize;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_bounded(&s, Duration::from_secs(1), Duration::from_secs(3600))
            .map_err(serde::de::Error::custom)
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

/// Addresses (`10.1.2.3`, `::1`) or networks (`10.0.0.0/8`).
mod nets {
    use super::*;
    use ipnet::IpNet;
    pub fn serialize<S: Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            nets.iter()
                .map(|n| match n.prefix_len() == n.max_prefix_len() {
                    true => n.addr().to_string(),
                    false => n.to_string(),
                }),
        )
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "`{s}` is not an IP address or network; write e.g. \"10.0.0.1\" or \"10.0.0.0/8\""
                        ))
                    })
            })
            .collect()
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
        config.auth = file.auth;
        config.storage = file.storage;
        if let (Some(users), Some(dir)) = (&mut config.auth.users_file, origin.parent())
            && users.is_relative()
        {
            *users = dir.join(&*users);
        }
        if let Some(dir) = origin.parent() {
            let upstreams = config
                .repositories
                .values_mut()
                .flat_map(|r| &mut r.upstreams);
            let files = upstreams.filter_map(|u| u.ca_certificates.as_mut());
            for ca in files.chain(config.server.ca_certificates.as_mut()) {
                ca.resolve_in(dir);
            }
        }
        config.check(text, origin)?;
        Ok(config)
    }

    /// Rules that span several keys, reported at the line of the offending value of `text`.
    fn check(&self, text: &str, origin: &Path) -> Result<(), ConfigError> {
        let spans: Spans = toml::from_str(text).unwrap_or_default();
        let at = |span: Option<std::ops::Range<usize>>, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            line: span.map_or(0, |s| line_of(text, s.start)),
            message,
        };
        for (name, repo) in &self.repositories {
            let found = spans.repositories.get(name.as_str());
            self.check_role(name, repo, found, &at)?;
            let Err(problem) = repo.validate() else {
                continue;
            };
            let upstream_spans = |up: &str| -> Vec<&UpstreamSpans> {
                found
                    .into_iter()
                    .flat_map(|r| &r.upstreams)
                    .filter(|u| u.name.get_ref() == up)
                    .collect()
            };
            let span = match &problem {
                Problem::DuplicateUpstream(up) => upstream_spans(up).get(1).map(|u| u.name.span()),
                Problem::ChannelGlob {
                    upstream, pattern, ..
                } => upstream_spans(upstream)
                    .into_iter()
                    .flat_map(|u| &u.channels)
                    .find(|c| c.get_ref() == pattern)
                    .map(toml::Spanned::span),
                Problem::BlockGlob { pattern, .. } => found
                    .into_iter()
                    .flat_map(|r| &r.block)
                    .find(|b| b.get_ref() == pattern)
                    .map(toml::Spanned::span),
                Problem::HostedCooldown(key) => found.and_then(|r| {
                    if *key == "min_age" {
                        r.min_age.as_ref().map(toml::Spanned::span)
                    } else {
                        r.min_age_exempt.first().map(toml::Spanned::span)
                    }
                }),
                Problem::Rule { key, rule, .. } => found
                    .into_iter()
                    .flat_map(|r| {
                        if *key == "deny" {
                            &r.deny
                        } else {
                            &r.min_age_exempt
                        }
                    })
                    .find(|b| b.get_ref() == rule)
                    .map(toml::Spanned::span),
            };
            return Err(at(span, problem.in_repository(name.as_str())));
        }
        Ok(())
    }

    /// A repository is a proxy, hosted or a group, never two; a group's members exist, speak
    /// its protocol and are not groups themselves.
    fn check_role(
        &self,
        name: &RepoName,
        repo: &RepositoryConfig,
        found: Option<&RepositorySpans>,
        at: &dyn Fn(Option<std::ops::Range<usize>>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let span_of = |f: fn(&RepositorySpans) -> Option<std::ops::Range<usize>>| found.and_then(f);
        let hosted = span_of(|r| r.hosted.as_ref().map(toml::Spanned::span));
        let members = span_of(|r| r.members.first().map(toml::Spanned::span));
        let upstreams = span_of(|r| r.upstreams.first().map(|u| u.name.span()));
        if repo.hosted && !repo.members.is_empty() {
            return Err(at(
                members,
                format!(
                    "repositories.{name}: `hosted = true` and `members` cannot be combined; a \
                     repository is a proxy (upstreams), hosted, or a group (members): make two"
                ),
            ));
        }
        if (repo.hosted || !repo.members.is_empty()) && !repo.upstreams.is_empty() {
            let what = if repo.hosted {
                "hosted = true"
            } else {
                "members"
            };
            return Err(at(
                upstreams.or(hosted).or(members),
                format!(
                    "repositories.{name}: `{what}` and `upstreams` cannot be combined; a \
                     repository is a proxy (upstreams), hosted, or a group (members): put the \
                     proxy in a repository of its own and list both in a group"
                ),
            ));
        }
        if repo.allow_redeploy && !repo.hosted {
            let span = span_of(|r| r.allow_redeploy.as_ref().map(toml::Spanned::span));
            return Err(at(
                span,
                format!(
                    "repositories.{name}: `allow_redeploy` only applies to a hosted repository (`hosted = true`)"
                ),
            ));
        }
        if repo.allow_shadowing && repo.members.is_empty() {
            let span = span_of(|r| r.allow_shadowing.as_ref().map(toml::Spanned::span));
            return Err(at(
                span,
                format!(
                    "repositories.{name}: `allow_shadowing` only applies to a group (`members = [...]`)"
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, member) in repo.members.iter().enumerate() {
            let span = found
                .and_then(|r| r.members.get(i))
                .map(toml::Spanned::span);
            let problem = match self.repositories.get(member) {
                _ if member == name => Some("a group cannot contain itself".to_owned()),
                _ if !seen.insert(member) => Some("it is listed twice".to_owned()),
                None => Some("there is no such repository".to_owned()),
                Some(m) if m.kind != repo.kind => Some(format!(
                    "it is a {} repository and this group is {}",
                    m.kind.as_str(),
                    repo.kind.as_str()
                )),
                Some(m) if m.role() == Role::Group => {
                    Some("it is a group; list its members instead".to_owned())
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                return Err(at(
                    span,
                    format!("repositories.{name}.members: `{member}`: {problem}"),
                ));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }
}

/// Where the values checked across keys are in the file: the same shape as [`Config`], every
/// other key ignored.
#[derive(Debug, Default, Deserialize)]
struct Spans {
    #[serde(default)]
    repositories: BTreeMap<String, RepositorySpans>,
}

#[derive(Debug, Default, Deserialize)]
struct RepositorySpans {
    #[serde(default)]
    block: Vec<toml::Spanned<String>>,
    #[serde(default)]
    deny: Vec<toml::Spanned<String>>,
    #[serde(default)]
    min_age_exempt: Vec<toml::Spanned<String>>,
    #[serde(default)]
    min_age: Option<toml::Spanned<toml::Value>>,
    hosted: Option<toml::Spanned<bool>>,
    #[serde(default)]
    members: Vec<toml::Spanned<String>>,
    #[serde(default)]
    allow_redeploy: Option<toml::Spanned<bool>>,
    #[serde(default)]
    allow_shadowing: Option<toml::Spanned<bool>>,
    #[serde(default)]
    upstreams: Vec<UpstreamSpans>,
}

#[derive(Debug, Deserialize)]
struct UpstreamSpans {
    name: toml::Spanned<String>,
    #[serde(default)]
    channels: Vec<toml::Spanned<String>>,
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// Turns a toml error into "file:line: `key`: message".
fn invalid(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    let (line, key) = match err.span() {
        Some(span) => {
            let line = line_of(text, span.start);
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
    fn workers_is_a_positive_count_and_unset_by_default() {
        let parse = |text: &str| Config::parse(text, Path::new("/x/repox.toml"));
        assert_eq!(parse("").unwrap().server.workers, None);
        let four = parse("[server]\nworkers = 4\n").unwrap();
        assert_eq!(four.server.workers.map(NonZeroUsize::get), Some(4));
        for bad in ["0", "-1", "\"2\""] {
            let err = parse(&format!("[server]\nworkers = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/x/repox.toml:2: "), "{bad}: {err}");
            assert!(err.contains("workers"), "{bad}: {err}");
        }
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
    fn a_cooldown_on_a_hosted_repository_is_refused_and_a_group_s_rules_are_accepted() {
        let text = "[repositories.rel]\nkind = \"pypi\"\nhosted = true\ndeny = [\"evil-*\"]\nmin_age = \"7d\"\n";
        let err = Config::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:5: "), "{err}");
        assert!(
            err.contains(
                "repositories.rel.min_age: a hosted repository applies no release cooldown"
            ),
            "{err}"
        );
        let exempt =
            "[repositories.rel]\nkind = \"npm\"\nhosted = true\nmin_age_exempt = [\"a\"]\n";
        let err = Config::parse(exempt, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repositories.rel.min_age_exempt:"), "{err}");
        // The settings API and live reloads check a repository with `validate`.
        let hosted: RepositoryConfig =
            toml::from_str("kind = \"cargo\"\nhosted = true\nmin_age = \"1d\"\n").unwrap();
        assert_eq!(hosted.validate(), Err(Problem::HostedCooldown("min_age")));
        let ok = "[repositories.rel]\nkind = \"pypi\"\nhosted = true\ndeny = [\"evil-*\"]\n\n[repositories.all]\nkind = \"pypi\"\nmembers = [\"rel\", \"pypi\"]\nmin_age = \"7d\"\nmin_age_exempt = [\"ourco-*\"]\ndeny = [\"bad==1.0\"]\n";
        let c = Config::parse(ok, Path::new("r.toml")).unwrap();
        assert_eq!(c.repositories[&RepoName("all".into())].deny, ["bad==1.0"]);
    }

    #[test]
    fn policy_rules_are_checked_at_their_line() {
        let text = "[repositories.p]\nkind = \"pypi\"\nmin_age = \"7d\"\ndeny = [\n  \"ok==1\",\n  \"==2\",\n]\n";
        let err = Config::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:6: "), "{err}");
        assert!(
            err.contains("repositories.p.deny") && err.contains("name==1.2.3"),
            "{err}"
        );
        let ok = "[repositories.p]\nkind = \"pypi\"\nmin_age = \"7d\"\nmin_age_exempt = [\"a\"]\n";
        let c = Config::parse(ok, Path::new("r.toml")).unwrap();
        let p = &c.repositories[&RepoName("p".into())];
        assert_eq!(p.min_age, Some(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn storage_limits_parse() {
        assert_eq!(Config::embedded().storage, StorageConfig::default());
        let text = "[storage]\nmax_size = \"50GiB\"\nunused_for = \"180d\"\n";
        let c = Config::parse(text, Path::new("repox.toml")).unwrap();
        assert_eq!(c.storage.max_size, Some(50 << 30));
        assert_eq!(c.storage.unused_for, Some(Duration::from_secs(180 * 86400)));
        let bad = "[storage]\nmax_size = \"lots\"\n";
        let err = Config::parse(bad, Path::new("repox.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repox.toml"), "{err}");
        assert!(err.contains("invalid size `lots`"), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("1 KiB"), Ok(1024));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1e400GiB").is_err());
        let text = "[repositories.m]\nkind = \"maven\"\nmax_file_size = \"2 MiB\"\nmin_rate = \"1KiB\"\nmax_download_time = \"30m\"\n";
        let config = Config::parse(text, Path::new("r.toml")).unwrap();
        let m = config
            .repositories
            .iter()
            .find(|(name, _)| name.as_str() == "m")
            .unwrap()
            .1;
        assert_eq!(m.max_file_size(), 2 << 20);
        assert_eq!(m.min_rate(), 1024);
        assert_eq!(m.max_download_time(), Duration::from_secs(1800));
        let server = Config::parse("[server]\nmemory_budget = \"64MiB\"\n", Path::new("r.toml"));
        assert_eq!(server.unwrap().server.memory_budget, Some(64 << 20));
        assert!(Config::parse("[server]\nmemory_budget = \"x\"\n", Path::new("r.toml")).is_err());
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
    fn durations_without_quotes_or_units_say_what_a_duration_looks_like() {
        let parse = |value: &str| {
            let text = format!("[repositories.m]\nkind = \"maven\"\nmetadata_ttl = {value}\n");
            Config::parse(&text, Path::new("r.toml"))
                .unwrap_err()
                .to_string()
        };
        let err = parse("5");
        assert!(
            err.starts_with(
                "r.toml:3: `metadata_ttl`: `5` has no unit; write a duration such as \"5m\""
            ),
            "{err}"
        );
        assert!(!err.contains("expected a string"), "{err}");
        let err = parse("\"soon\"");
        assert!(
            err.contains("invalid duration `soon`: a duration is a number with a unit"),
            "{err}"
        );
        assert!(!err.contains(" at 0"), "{err}");
        let err = parse("\"5 parsecs\"");
        assert!(err.contains("unknown unit `parsecs`"), "{err}");
        let err = parse("true");
        assert!(err.contains("a duration such as \"5m\""), "{err}");
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
    fn a_relative_ca_certificates_path_is_relative_to_the_config_file() {
        let text = upstream_with("ca_certificates = \"certs/corp-ca.pem\"")
            + "[[repositories.m.upstreams]]\nname = \"b\"\nurl = \"https://b.example/\"\nca_certificates = \"/etc/ssl/ca.pem\"\n";
        let c = Config::parse(&text, Path::new("/etc/repox/repox.toml")).unwrap();
        let ups = &c.repositories[&RepoName("m".into())].upstreams;
        let ca = ups[0].ca_certificates.as_ref().unwrap();
        assert_eq!(ca.path(), Path::new("/etc/repox/certs/corp-ca.pem"));
        assert_eq!(ca.written(), Path::new("certs/corp-ca.pem"));
        assert_eq!(
            ups[1].ca_certificates.as_ref().map(FilePath::path),
            Some(Path::new("/etc/ssl/ca.pem"))
        );
        // What is shown and written back is the user's spelling.
        let shown = serde_json::to_value(&ups[0]).unwrap();
        assert_eq!(shown["ca_certificates"], "certs/corp-ca.pem");
    }

    #[test]
    fn the_server_ca_file_is_resolved_beside_the_upstreams_own() {
        let text = "[server]\nca_certificates = \"corp-ca.pem\"\n".to_owned()
            + &upstream_with("ca_certificates = \"/etc/ssl/own.pem\"");
        let c = Config::parse(&text, Path::new("/etc/repox/repox.toml")).unwrap();
        let server = c.server.ca_certificates.as_ref().unwrap();
        assert_eq!(server.path(), Path::new("/etc/repox/corp-ca.pem"));
        assert_eq!(server.written(), Path::new("corp-ca.pem"));
        let own = &c.repositories[&RepoName("m".into())].upstreams[0];
        assert_eq!(
            own.ca_certificates.as_ref().map(FilePath::path),
            Some(Path::new("/etc/ssl/own.pem")),
            "an upstream's own file stays beside the server's"
        );
        // A wrong type is refused at its line like any key.
        let err = Config::parse("[server]\nca_certificates = 1\n", Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:2: "), "{err}");
    }

    fn upstream_with(extra: &str) -> String {
        format!(
            "[repositories.m]\nkind = \"maven\"\n[[repositories.m.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n{extra}\n"
        )
    }

    #[test]
    fn durations_that_overflow_are_refused_at_their_line() {
        for (extra, key) in [
            ("connect_timeout = \"580000000000y\"", "connect_timeout"),
            ("idle_timeout = \"580000000000y\"", "idle_timeout"),
            ("breaker_backoff = \"580000000000y\"", "breaker_backoff"),
        ] {
            let err = Config::parse(&upstream_with(extra), Path::new("r.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("r.toml:6: `{key}`: ")), "{err}");
        }
        let ttl = "[repositories.m]\nkind = \"maven\"\nnegative_ttl = \"580000000000y\"\n";
        let err = Config::parse(ttl, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:3: `negative_ttl`: "), "{err}");
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn zero_timeouts_are_refused() {
        for extra in [
            "idle_timeout = \"0s\"",
            "connect_timeout = \"0s\"",
            "idle_timeout = \"10ms\"",
        ] {
            let err = Config::parse(&upstream_with(extra), Path::new("r.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("r.toml:6: "), "{err}");
            assert!(err.contains("out of range"), "{err}");
        }
        let ok = upstream_with("idle_timeout = \"1s\"\nconnect_timeout = \"100ms\"");
        let c = Config::parse(&ok, Path::new("r.toml")).unwrap();
        assert_eq!(
            c.repositories[&RepoName("m".into())].upstreams[0].idle_timeout,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn cross_key_errors_name_their_line() {
        let dup = "[repositories.m]\nkind = \"maven\"\n\n[[repositories.m.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\n[[repositories.m.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:2/\"\n";
        let err = Config::parse(dup, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:9: "), "{err}");

        let block = "[repositories.m]\nkind = \"maven\"\nblock = [\n  \"ok/**\",\n  \"a[\",\n]\n";
        let err = Config::parse(block, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:5: "), "{err}");

        let channels = "[repositories.c]\nkind = \"conda\"\n[[repositories.c.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\nchannels = [\"a[\"]\n";
        let err = Config::parse(channels, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:7: "), "{err}");
    }

    #[test]
    fn auth_and_trusted_proxies_parse() {
        let c = Config::embedded();
        assert_eq!(c.auth.anonymous, Anonymous::Read);
        assert!(c.server.trusted_proxies.is_empty());
        let text = "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n[auth]\nanonymous = \"none\"\nusers_file = \"u.toml\"\n";
        let c = Config::parse(text, Path::new("/etc/repox/repox.toml")).unwrap();
        assert_eq!(c.auth.anonymous, Anonymous::None);
        assert_eq!(
            c.auth.users_file.as_deref(),
            Some(Path::new("/etc/repox/u.toml"))
        );
        let nets = &c.server.trusted_proxies;
        assert!(nets[0].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        assert!(nets[1].contains(&"10.9.8.7".parse::<std::net::IpAddr>().unwrap()));
        assert!(!nets[1].contains(&"11.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        let again = Config::parse(&c.to_toml(), Path::new("/etc/repox/shown.toml")).unwrap();
        assert_eq!(again.server.trusted_proxies, c.server.trusted_proxies);
        let bad = "[server]\ntrusted_proxies = [\"proxy.example\"]\n";
        let err = Config::parse(bad, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`proxy.example` is not an IP address"),
            "{err}"
        );
        let bad = "[auth]\nanonymous = \"write\"\n";
        let err = Config::parse(bad, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:2: `anonymous`"), "{err}");
    }

    #[test]
    fn hosted_and_group_repositories_parse() {
        let text = "[repositories.rel]\nkind = \"pypi\"\nhosted = true\n\n[repositories.all]\nkind = \"pypi\"\nmembers = [\"rel\", \"pypi\"]\nallow_shadowing = true\n";
        let c = Config::parse(text, Path::new("r.toml")).unwrap();
        let rel = &c.repositories[&RepoName("rel".into())];
        let all = &c.repositories[&RepoName("all".into())];
        assert_eq!(rel.role(), Role::Hosted);
        assert_eq!(all.role(), Role::Group);
        assert_eq!(c.repositories[&RepoName("pypi".into())].role(), Role::Proxy);
        assert!(all.allow_shadowing);
        let again = Config::parse(&c.to_toml(), Path::new("shown.toml")).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }

    #[test]
    fn mixing_proxy_hosted_and_group_is_refused_at_its_line() {
        let cases = [
            (
                "[repositories.r]\nkind = \"pypi\"\nhosted = true\n[[repositories.r.upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n",
                "r.toml:5: ",
                "`upstreams` cannot be combined",
            ),
            (
                "[repositories.r]\nkind = \"pypi\"\nhosted = true\nmembers = [\"pypi\"]\n",
                "r.toml:4: ",
                "`members` cannot be combined",
            ),
            (
                "[repositories.g]\nkind = \"pypi\"\nmembers = [\n  \"pypi\",\n  \"nope\",\n]\n",
                "r.toml:5: ",
                "`nope`: there is no such repository",
            ),
            (
                "[repositories.g]\nkind = \"pypi\"\nmembers = [\"maven\"]\n",
                "r.toml:3: ",
                "it is a maven repository and this group is pypi",
            ),
            (
                "[repositories.g]\nkind = \"pypi\"\nmembers = [\"pypi\"]\n[repositories.h]\nkind = \"pypi\"\nmembers = [\"g\"]\n",
                "r.toml:6: ",
                "it is a group",
            ),
            (
                "[repositories.m]\nkind = \"maven\"\n\nallow_redeploy = true\n",
                "r.toml:4: ",
                "only applies to a hosted repository",
            ),
            (
                "[repositories.m]\nkind = \"maven\"\nhosted = true\nallow_shadowing = true\n",
                "r.toml:4: ",
                "only applies to a group",
            ),
        ];
        for (text, at, what) in cases {
            let err = Config::parse(text, Path::new("r.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(at), "{err}");
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn effective_config_round_trips() {
        let c = Config::embedded();
        let again = Config::parse(&c.to_toml(), Path::new("shown.toml")).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }
}
