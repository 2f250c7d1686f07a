//! `repox user add|list|remove`: edits the users file (see `repox_proxy::auth::users`).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;

use crate::cli::{GlobalArgs, RoleArg, UserCommand};
use crate::settings::{self, Hinted};

pub fn role(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Read => Role::Read,
        RoleArg::Write => Role::Write,
        RoleArg::Admin => Role::Admin,
    }
}

pub fn run(global: &GlobalArgs, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let path = settings::users_file(global)?;
    let mut file = UsersFile::load(&path)?;
    match cmd {
        UserCommand::Add {
            name,
            password_stdin,
            no_password,
            role: role_arg,
            repos,
        } => {
            let grants = grants(&repos)?;
            let password = match (no_password, password_stdin) {
                (true, _) => None,
                (false, true) => Some(password_from_stdin()?),
                (false, false) => Some(prompt_password(&name)?),
            };
            file.add_user(&name, role(role_arg), password.as_deref(), grants)?;
            file.save(&path)?;
            eprintln!(
                "Added user `{name}` ({}) to {}",
                role(role_arg).as_str(),
                path.display()
            );
            if password.is_none() {
                eprintln!("Create a token for it with `repox token create {name}`.");
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            if !file.users.contains_key(&name) {
                anyhow::bail!("no user `{name}` in {}", path.display());
            }
            let password = match password_stdin {
                true => password_from_stdin()?,
                false => prompt_password(&name)?,
            };
            file.set_password(&name, &password)?;
            file.save(&path)?;
            eprintln!("Changed the password of `{name}` in {}", path.display());
        }
        UserCommand::List => {
            if file.users.is_empty() {
                eprintln!("No users in {}", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<24} {:<6} {:<9} {:>6}  REPOSITORIES",
                "USER", "ROLE", "PASSWORD", "TOKENS"
            );
            for (name, user) in &file.users {
                let tokens = file.tokens.values().filter(|t| &t.user == name).count();
                let repos: Vec<String> = user
                    .repositories
                    .iter()
                    .map(|(r, g)| format!("{r}={}", g.as_str()))
                    .collect();
                println!(
                    "{name:<24} {:<6} {:<9} {tokens:>6}  {}",
                    user.role.as_str(),
                    if user.password.is_some() { "yes" } else { "no" },
                    repos.join(",")
                );
            }
        }
        UserCommand::Remove { name } => {
            let tokens = file.remove_user(&name)?;
            file.save(&path)?;
            eprintln!(
                "Removed user `{name}` and {tokens} token(s) from {}",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `["pypi=write"]` → `{pypi: Write}`.
fn grants(repos: &[String]) -> anyhow::Result<BTreeMap<String, Role>> {
    repos
        .iter()
        .map(|spec| {
            let (repo, role) = spec
                .split_once('=')
                .filter(|(r, _)| !r.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("--repo `{spec}`: write REPO=ROLE, e.g. pypi=write")
                })?;
            let role: Role = role
                .parse()
                .map_err(|e| anyhow::anyhow!("--repo `{spec}`: {e}"))?;
            Ok((repo.to_owned(), role))
        })
        .collect()
}

fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "--password-stdin: standard input is empty; give the password on its first line"
        );
    }
    Ok(password)
}

fn prompt_password(name: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Hinted {
            message: "no terminal to ask for the password on".into(),
            hint: format!(
                "pipe it in: `echo \"$PASSWORD\" | repox user add {name} --password-stdin`, or \
                 add a token-only user with --no-password"
            ),
        }
        .into());
    }
    let password = dialoguer::Password::new()
        .with_prompt(format!("Password for {name}"))
        .with_confirmation("Repeat the password", "the passwords do not match")
        .interact()?;
    Ok(password)
}
