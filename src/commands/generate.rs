//! Hidden `repox generate`: shell completions and man pages from the clap definitions, checked
//! in under `completions/` and `man/` (a test fails when they are stale).

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs};

pub fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let completions = args.out_dir.join("completions");
    let man = args.out_dir.join("man");
    fs_err::create_dir_all(&completions)?;
    fs_err::create_dir_all(&man)?;
    let mut cmd = Cli::command();
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
    cmd.build();
    write_man(&cmd, "repox", &man)?;
    let documented = |s: &&clap::Command| !s.is_hide_set() && s.get_name() != "help";
    for sub in cmd.get_subcommands().filter(documented) {
        let name = format!("repox-{}", sub.get_name());
        write_man(sub, &name, &man)?;
        for subsub in sub.get_subcommands().filter(documented) {
            write_man(subsub, &format!("{name}-{}", subsub.get_name()), &man)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_man(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let cmd = cmd
        .clone()
        .name(name.to_owned())
        .version(env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).date("").render(&mut out)?;
    fs_err::write(dir.join(format!("{name}.1")), out)?;
    Ok(())
}
