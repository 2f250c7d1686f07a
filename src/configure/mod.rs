//! `repox configure` (placeholder until the client editors land).

use std::process::ExitCode;

use crate::cli::{ConfigureArgs, GlobalArgs};

/// Clients repox can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Pip,
    Uv,
    Conda,
    Pixi,
    Sbt,
    Coursier,
    Maven,
    Gradle,
    Npm,
    Cargo,
}

/// Which file of a client to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    User,
    Project,
    Global,
}

pub fn run(_global: &GlobalArgs, _args: &ConfigureArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`repox configure` is not implemented yet")
}
