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
    Warm(WarmArgs),
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
}

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
    /// Environment variable holding the token or password the server needs, if any.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// User name to pair with --token-env, for clients that use basic auth.
    #[arg(long, value_name = "NAME", requires = "token_env")]
    pub username: Option<String>,
}

/// `repox warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Requirements, lock or list files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `repox generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory that receives `completions/` and `man/`.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,
}
