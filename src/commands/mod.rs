//! One module per subcommand; `run` dispatches.

mod advisories;
mod cache;
mod config;
mod generate;
mod serve;
mod token;
mod upload;
mod user;
mod warm;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, &args),
        Command::Config(cmd) => config::run(&cli.global, cmd),
        Command::Configure(args) => crate::configure::run(&cli.global, &args),
        Command::Warm(args) => warm::run(&cli.global, &args),
        Command::User(cmd) => user::run(&cli.global, cmd),
        Command::Token(cmd) => token::run(&cli.global, cmd),
        Command::Cache(cmd) => cache::run(&cli.global, cmd),
        Command::Advisories(cmd) => advisories::run(&cli.global, cmd),
        Command::Upload(args) => upload::run(&cli.global, &args),
        Command::Generate(args) => generate::run(&args),
    }
}
