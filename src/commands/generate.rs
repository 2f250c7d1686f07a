//! Hidden `repox generate`: shell completions and man pages from the clap definitions, checked
//! in under `completions/` and `man/` (a test fails when they are stale).
//!
//! Both are made from a copy of the command without what a user cannot call: hidden
//! subcommands (`generate` itself) and the `help` pseudo-subcommand, which has no man page. Man
//! synopses are written here, with each option's value (`--listen <ADDR>`): clap_mangen's own
//! synopsis lists bare flag names.

use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgAction, Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs};

pub fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let completions = args.out_dir.join("completions");
    let man = args.out_dir.join("man");
    fs_err::create_dir_all(&completions)?;
    fs_err::create_dir_all(&man)?;
    let mut cmd = public(&Cli::command(), true);
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "repox", &completions)
            .with_context(|| format!("cannot write {shell} completions"))?;
    }
    let mut cmd = public(&Cli::command(), false);
    cmd.build();
    write_man(&cmd, "repox", &man)?;
    for sub in cmd.get_subcommands() {
        let name = format!("repox-{}", sub.get_name());
        write_man(sub, &name, &man)?;
        for subsub in sub.get_subcommands() {
            write_man(subsub, &format!("{name}-{}", subsub.get_name()), &man)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cmd` and its subcommands without hidden subcommands; with clap's `help` subcommands only
/// when `help` (completions offer `repox help serve`; there is no man page to link for it).
fn public(cmd: &Command, help: bool) -> Command {
    let subcommands: Vec<Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| public(s, help))
        .collect();
    // clap cannot remove a subcommand: copy the rest onto a new command.
    copy_settings(cmd, Command::new(cmd.get_name().to_owned()))
        .disable_help_subcommand(!help || subcommands.is_empty())
        .subcommands(subcommands)
}

/// The arguments and texts of `from` on `to`.
fn copy_settings(from: &Command, to: Command) -> Command {
    let mut to = to.args(from.get_arguments().filter(|a| !is_generated(a)).cloned());
    if let Some(about) = from.get_about() {
        to = to.about(about.clone());
    }
    if let Some(long) = from.get_long_about() {
        to = to.long_about(long.clone());
    }
    if let Some(version) = from.get_version() {
        to = to.version(version.to_owned());
    }
    if from.is_subcommand_required_set() {
        to = to.subcommand_required(true);
    }
    to
}

/// `--help` and `--version`, which clap adds by itself.
fn is_generated(arg: &clap::Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn write_man(cmd: &Command, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let cmd = cmd
        .clone()
        .name(name.to_owned())
        .version(env!("CARGO_PKG_VERSION"))
        .override_usage(synopsis(cmd));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).date("").render(&mut out)?;
    fs_err::write(dir.join(format!("{name}.1")), out)?;
    Ok(())
}

/// `repox serve [--listen <ADDR>] [--offline] …`: every visible option with its value, then the
/// positional arguments, then the subcommand.
fn synopsis(cmd: &Command) -> String {
    let name = cmd
        .get_bin_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let mut line = vec![name];
    let visible = cmd.get_arguments().filter(|a| !a.is_hide_set());
    let (positionals, options): (Vec<_>, Vec<_>) = visible.partition(|a| a.is_positional());
    for opt in options {
        let flag = match (opt.get_short(), opt.get_long()) {
            (Some(s), Some(l)) => format!("-{s}|--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => continue,
        };
        let takes_value = matches!(opt.get_action(), ArgAction::Set | ArgAction::Append);
        let value = match opt.get_value_names() {
            Some(names) if takes_value => format!(" <{}>", names.join("> <")),
            None if takes_value => format!(" <{}>", opt.get_id().as_str().to_uppercase()),
            _ => String::new(),
        };
        let repeat = if matches!(opt.get_action(), ArgAction::Count | ArgAction::Append) {
            "..."
        } else {
            ""
        };
        line.push(if opt.is_required_set() {
            format!("{flag}{value}{repeat}")
        } else {
            format!("[{flag}{value}]{repeat}")
        });
    }
    for pos in positionals {
        let value = pos
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| pos.get_id().as_str().to_uppercase());
        let repeat = if matches!(pos.get_action(), ArgAction::Append) {
            "..."
        } else {
            ""
        };
        line.push(if pos.is_required_set() {
            format!("<{value}>{repeat}")
        } else {
            format!("[{value}]{repeat}")
        });
    }
    if cmd.has_subcommands() {
        line.push("<COMMAND>".to_owned());
    }
    line.join(" ")
}
