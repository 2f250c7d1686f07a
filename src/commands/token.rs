//! `repox token create|list|revoke`: a user's access tokens in the users file. `create` prints
//! only the token on stdout, so `TOKEN=$(repox token create ci)` works.

use std::process::ExitCode;
use std::time::SystemTime;

use repox_proxy::auth::users::{UsersFile, format_time};

use crate::cli::{GlobalArgs, TokenCommand};
use crate::settings;

pub fn run(global: &GlobalArgs, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let path = settings::users_file(global)?;
    let mut file = UsersFile::load(&path)?;
    let now = SystemTime::now();
    match cmd {
        TokenCommand::Create {
            user,
            name,
            expires,
        } => {
            let (id, token) = file.create_token(&user, name.as_deref(), expires, now)?;
            file.save(&path)?;
            let until = match file.tokens[&id].expires {
                Some(t) => format!("expires {}", format_time(t)),
                None => "never expires".to_owned(),
            };
            eprintln!("Created token {id} for `{user}` ({until}); it is shown only this once.");
            println!("{token}");
        }
        TokenCommand::List { user } => {
            if let Some(user) = &user
                && !file.users.contains_key(user)
            {
                anyhow::bail!("no user `{user}` in {}", path.display());
            }
            let tokens: Vec<_> = file
                .tokens
                .iter()
                .filter(|(_, t)| user.as_ref().is_none_or(|u| &t.user == u))
                .collect();
            if tokens.is_empty() {
                eprintln!("No tokens in {}", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<12}  {:<20} {:<16} {:<20} EXPIRES",
                "ID", "USER", "NAME", "CREATED"
            );
            for (id, t) in tokens {
                let expires = match t.expires {
                    Some(e) if t.expired(now) => format!("{} (expired)", format_time(e)),
                    Some(e) => format_time(e),
                    None => "never".to_owned(),
                };
                println!(
                    "{id:<12}  {:<20} {:<16} {:<20} {expires}",
                    t.user,
                    t.name.as_deref().unwrap_or("-"),
                    format_time(t.created),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let t = file.revoke_token(&id)?;
            file.save(&path)?;
            eprintln!("Revoked token {id} of `{}`", t.user);
        }
    }
    Ok(ExitCode::SUCCESS)
}
