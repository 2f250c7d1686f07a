//! What the user typed: clap definitions only. Resolution into settings lives in `settings.rs`;
//! commands take settings, not these structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A caching proxy for PyPI, conda, Maven/Ivy, npm and cargo repositories.
///
/// Run `repox serve`, point your clients at it with `repox configure`, and every file is
/// downloaded from the internet once.
#[derive(Debug, Parser)]
#[command(name = "repox", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line and environment, exiting with clap's message on bad input; a bad
    /// value read from an environment variable (`REPOX_LISTEN=garbage`) is blamed on the
    /// variable, not on the flag the user never typed.
    pub fn parse_blaming_env() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let mut cmd = Cli::command();
        let parsed = cmd
            .try_get_matches_from_mut(std::env::args_os())
            .and_then(|m| Cli::from_arg_matches(&m));
        match parsed {
            Ok(cli) => cli,
            Err(err) => match blame_env(&cmd, &err) {
                Some(message) => {
                    eprintln!("error: {message}");
                    std::process::exit(2);
                }
                None => err.format(&mut cmd).exit(),
            },
        }
    }
}

/// When `err` is a bad value that came from an environment variable rather than the command
/// line, the message naming the variable.
fn blame_env(cmd: &clap::Command, err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else {
        return None;
    };
    let long = arg.split([' ', '=']).next()?.strip_prefix("--")?;
    let (var, flag) = env_of(cmd, long)?;
    let typed =
        std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    if typed || std::env::var(&var).ok().as_deref() != Some(value.as_str()) {
        return None;
    }
    let why = std::error::Error::source(err)
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    Some(format!(
        "invalid value '{value}' in the environment variable {var} (read as --{flag}){why}\n\n\
         hint: fix or unset {var}"
    ))
}

/// The environment variable and long flag of the argument `--long`, searched in every
/// subcommand.
fn env_of(cmd: &clap::Command, long: &str) -> Option<(String, String)> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long) && a.get_env().is_some())
        .and_then(|a| Some((a.get_env()?.to_str()?.to_owned(), long.to_owned())))
        .or_else(|| cmd.get_subcommands().find_map(|sub| env_of(sub, long)))
}

/// Flags shared by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file [default: ~/.config/repox/repox.toml when it exists]
    #[arg(long, global = true, env = "REPOX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the caching proxy.
    Serve(ServeArgs),
    /// Show or write the repox configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox.
    Configure(ConfigureArgs),
    /// Pre-fetch what a requirements or lock file needs into the cache.
    #[command(long_about = WARM_LONG_ABOUT)]
    Warm(WarmArgs),
    /// Manage the users who may log in to a shared repox.
    #[command(subcommand, long_about = USER_LONG_ABOUT)]
    User(UserCommand),
    /// Create, list and revoke users' access tokens.
    #[command(subcommand, long_about = TOKEN_LONG_ABOUT)]
    Token(TokenCommand),
    /// Show, list, remove and evict cache entries.
    #[command(subcommand, long_about = CACHE_LONG_ABOUT)]
    Cache(CacheCommand),
    /// Import security advisories: versions of malicious packages are refused.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// Upload conda packages (.conda, .tar.bz2) to a hosted conda repository.
    #[command(long_about = UPLOAD_LONG_ABOUT)]
    Upload(UploadArgs),
    /// Write shell completions and man pages (for maintainers).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// `repox serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8078]
    #[arg(long, env = "REPOX_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Cache directory [default: ~/.cache/repox]
    #[arg(long, env = "REPOX_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Serve only what is cached: misses get 504, stale metadata is served as is.
    #[arg(long, env = "REPOX_OFFLINE")]
    pub offline: bool,
    /// Threads serving requests, like nginx's `worker_processes` ([server] workers)
    /// [default: one per CPU core]
    #[arg(long, env = "REPOX_WORKERS", value_name = "N")]
    pub workers: Option<std::num::NonZeroUsize>,
}

/// `repox cache`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries and bytes held, in total and per repository.
    Stats(CacheArgs),
    /// List the entries whose path starts with PREFIX: path, size in bytes, last access.
    Ls {
        /// A path prefix such as `maven/org/apache/`; none lists everything.
        #[arg(value_name = "PREFIX")]
        prefix: Option<String>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Remove one entry, or every entry under a path prefix.
    Rm {
        /// An entry (`pypi/files/ab/cd/x.whl`) or a prefix (`npm/lodash`, `maven/org/`): the
        /// entry itself and everything below it.
        #[arg(value_name = "PATH|PREFIX")]
        path: String,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Apply `[storage] max_size` and `unused_for` now.
    Gc {
        /// Print what would be removed and remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// `repox advisories`.
#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Load an OSV export (the zip of one ecosystem's advisories, e.g.
    /// https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache
    /// directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with
    /// 403 and left out of index pages; the others are listed at /-/api/advisories. A running
    /// `repox serve` on the same cache applies the new list at once.
    Import {
        /// The OSV zip.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// The cache a `repox cache` command works on.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Cache directory [default: from the config, else ~/.cache/repox]
    #[arg(long, env = "REPOX_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

const CACHE_LONG_ABOUT: &str = "\
Show, list, remove and evict cache entries.

The commands read the cache's entry index (index-v1.sqlite in the cache directory) and work
whether or not a server is running on that directory; a running server notices removals within
about a second. Paths are cache keys: the repository name, then the path clients request, e.g.
`maven/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.jar`.";

/// `repox config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults, file and flags combined) as TOML.
    Show(ServeArgs),
    /// Write the default configuration, with comments explaining each key.
    Init {
        /// Where to write [default: ~/.config/repox/repox.toml]
        #[arg(value_name = "FILE")]
        path: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `repox configure`.
#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Clients to configure; none: choose among the clients found on this machine.
    #[arg(value_enum, value_name = "CLIENT")]
    pub clients: Vec<crate::configure::Client>,
    /// Base URL of the repox server [default: from the effective config's listen address]
    #[arg(long, value_name = "URL")]
    pub url: Option<url::Url>,
    /// Which config file to edit.
    #[arg(long, value_enum, default_value = "user")]
    pub scope: crate::configure::Scope,
    /// Print the change as a unified diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Restore the file as it was before the last `repox configure` of these clients.
    #[arg(long, conflicts_with_all = ["dry_run", "status"])]
    pub undo: bool,
    /// For every client, show the effective index URL and every file or variable that sets it.
    #[arg(long)]
    pub status: bool,
    /// Maven: mirror only external repositories (`external:*`) instead of all (`*`).
    #[arg(long)]
    pub maven_external_only: bool,
    /// Point clients at the repositories as they were at this date (YYYY-MM-DD): the same
    /// requirements resolve the same versions on every run (e.g. `/pypi/@2025-06-01/simple/`).
    #[arg(long, value_name = "DATE", value_parser = parse_snapshot)]
    pub snapshot: Option<String>,
    /// Store credentials for this repox user where each client keeps them (netrc, settings.xml
    /// `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or
    /// --password-env, else from a hidden prompt.
    #[arg(long, visible_alias = "username", value_name = "NAME")]
    pub user: Option<String>,
    /// Environment variable holding a repox token (`repox token create`), the best secret for
    /// every client; without --user, basic-auth clients send it as user `__token__`.
    #[arg(long, value_name = "VAR", conflicts_with = "password_env")]
    pub token_env: Option<String>,
    /// Environment variable holding the password of --user.
    #[arg(long, value_name = "VAR", requires = "user")]
    pub password_env: Option<String>,
    /// Also set up publishing to this hosted repository of repox (`hosted = true`): pip writes
    /// twine's `~/.pypirc` (`twine upload -r repox`), uv its `publish-url` (`uv publish`), Maven
    /// prints the `<distributionManagement>` to add to the project (deploying with the
    /// `<server>` that --user stores), npm stores the login for the repository's URL (`npm
    /// publish --registry URL`), cargo adds `[registries.REPO]` with its token (`cargo publish
    /// --registry REPO`).
    #[arg(long, value_name = "REPO")]
    pub publish: Option<String>,
}

/// A `--snapshot` date, checked.
fn parse_snapshot(s: &str) -> Result<String, String> {
    s.parse::<repox_proxy::policy::Snapshot>()?;
    Ok(s.to_owned())
}

/// `repox upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Packages to upload; each goes to the subdir its info/index.json names.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The channel's URL in a hosted conda repository, e.g.
    /// http://HOST:8078/conda-releases/team
    #[arg(long, value_name = "URL")]
    pub to: url::Url,
    /// Log in as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the
    /// netrc entry of the host. Without --user, REPOX_TOKEN is sent as a bearer token.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

const UPLOAD_LONG_ABOUT: &str = "\
Upload conda packages (.conda, .tar.bz2) to a hosted conda repository.

Each file is checked first (it must be a conda package whose name matches its info/index.json), \
then sent with HTTP PUT to <URL>/<subdir>/<file> with its SHA-256, which repox verifies before \
it adds the package to that subdir's repodata.json. An existing file is refused (409).

Examples:
  repox upload --to http://127.0.0.1:8078/conda-releases/team dist/noarch/mypkg-1.0-0.conda
  REPOX_TOKEN=... repox upload --to https://repox.internal/conda-releases/team *.tar.bz2";

/// `repox warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Requirements, lock or list files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read every FILE as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<crate::warm::Format>,
    /// Python version to resolve requirements for, e.g. 3.12 [default: the `python3` on PATH]
    #[arg(long, value_name = "X.Y", action = clap::ArgAction::Append)]
    pub python: Vec<String>,
    /// Wheel platform tag to resolve for, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64,
    /// win_amd64; repeat for several [default: this machine]
    #[arg(long, value_name = "TAG", action = clap::ArgAction::Append)]
    pub platform: Vec<String>,
    /// The repox to fill [default: the configured server if it answers, else an in-process
    /// proxy on the configured cache directory]
    #[arg(long, value_name = "URL")]
    pub server: Option<url::Url>,
    /// Log in to repox as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else
    /// from the netrc entry of the server's host. Without --user, REPOX_TOKEN is sent as a bearer
    /// token, and a netrc entry for the host is used when there is one.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Parallel downloads.
    #[arg(long, short = 'j', default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Resolve and list what would be fetched; download no package files.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

const WARM_LONG_ABOUT: &str = "\
Pre-fetch what a requirements or lock file needs into the cache, so that later installs are \
instant and work with the upstreams unreachable.

Reads requirements.txt, pylock.toml, uv.lock, poetry.lock, Pipfile.lock, pdm.lock, conda \
@EXPLICIT files, conda-lock.yml, pixi.lock, package-lock.json, yarn.lock (v1), Cargo.lock, \
Maven coordinate lists and pom.xml. Besides the package files it warms what clients ask for \
first: PyPI project pages (JSON and HTML) and .metadata files, conda repodata.json(.zst), npm \
packuments, the cargo index and Maven .pom, .sha1 and maven-metadata.xml files.

Requirements that are not pinned to files are resolved like pip would, through the PEP 658 \
metadata, for every --python and --platform given: each wheel is the one pip picks there. \
Hashes from lock files are checked against the downloaded bytes.

Talks to the repox at --server (default: the configured listen address); when none answers, \
runs the proxy in-process on the configured cache directory.

Examples:
  repox warm requirements.txt
  repox warm --python 3.12 --platform manylinux_2_28_x86_64 --platform macosx_11_0_arm64 \\
      --platform win_amd64 requirements.txt
  repox warm package-lock.json Cargo.lock uv.lock
  repox warm --dry-run --json conda-lock.yml
  repox warm --server http://cache.internal:8078 pom.xml

The exit status is 1 when any file failed; the others are still fetched.";

/// `repox generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory that receives `completions/` and `man/`.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// A user's role.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Read every repository.
    Read,
    /// Read, and upload to hosted repositories.
    Write,
    /// Write, and use the operator endpoints (/-/metrics).
    Admin,
}

/// `repox user`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; asks for the password twice unless --password-stdin or --no-password.
    Add {
        /// User name: letters, digits and `._@+-`.
        #[arg(value_name = "NAME")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// No password: the user logs in with tokens only (`repox token create`).
        #[arg(long)]
        no_password: bool,
        /// The user's role on every repository.
        #[arg(long, value_enum, default_value = "read")]
        role: RoleArg,
        /// A different role on one repository, e.g. `--repo pypi=write`; repeatable.
        #[arg(long = "repo", value_name = "REPO=ROLE", action = clap::ArgAction::Append)]
        repos: Vec<String>,
    },
    /// Set a user's password; asks twice unless --password-stdin. Their tokens stay valid.
    Passwd {
        /// User name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their role and number of tokens.
    List,
    /// Remove a user and all their tokens.
    Remove {
        /// User name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `repox token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for USER and print it (only the token, on standard output). It is shown
    /// this once; only its hash is kept.
    Create {
        /// The user the token logs in as.
        #[arg(value_name = "USER")]
        user: String,
        /// A label to tell tokens apart, e.g. `ci` or `laptop`.
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
        /// Lifetime, e.g. `90d`, `12h`, `1y` [default: never expires]
        #[arg(long, value_name = "DURATION", value_parser = repox_proxy::config::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List tokens (ids, users, labels, dates; never the tokens themselves).
    List {
        /// Only this user's tokens.
        #[arg(value_name = "USER")]
        user: Option<String>,
    },
    /// Revoke a token by its id (from `repox token list`).
    Revoke {
        /// Token id.
        #[arg(value_name = "ID")]
        id: String,
    },
}

const USER_LONG_ABOUT: &str = "\
Manage the users who may log in to a shared repox.

Users and tokens live in the users file: `[auth] users_file` in the config, by default \
users.toml beside the config file (--config, REPOX_CONFIG, ~/.config/repox/repox.toml). It keeps \
only argon2id password hashes and SHA-256 token hashes, is written atomically with mode 0600, and \
a running `repox serve` re-reads it when it changes: no restart needed.

Set `[auth] anonymous = \"none\"` in the config so that every request needs a login. Clients \
send the user name with the password or a token (HTTP Basic), or a token alone (Bearer, \
cargo, conda's /t/TOKEN/ prefix). `repox configure CLIENT --user NAME` stores them where each \
client looks.

Roles: read (download from every repository), write (read, and upload to hosted repositories), \
admin (write, and the operator endpoints such as /-/metrics). --repo gives a user another role \
on one repository.

Examples:
  repox user add alice
  echo \"$PASSWORD\" | repox user add ci --password-stdin --role read --repo pypi=write
  repox user add deploy --no-password
  repox user passwd alice
  repox user list
  repox user remove alice";

const TOKEN_LONG_ABOUT: &str = "\
Create, list and revoke access tokens. A token logs in as its user, with that user's role; \
give each machine or CI job its own, so one can be revoked without touching the others.

`repox token create` prints the token, and nothing else, on standard output: it is shown only \
this once. Tokens look like `repox-` followed by 40 letters and digits.

Examples:
  repox token create alice --name laptop --expires 90d
  TOKEN=$(repox token create ci --name github-actions --expires 30d)
  repox token list alice
  repox token revoke 3f9a2b1c0d4e";
