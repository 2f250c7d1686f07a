//! `repox config show|init`.

use std::process::ExitCode;

use anyhow::Context;
use repox_proxy::config::DEFAULT_TOML;

use crate::cli::{ConfigCommand, GlobalArgs};
use crate::settings::{self, Hinted};

pub fn run(global: &GlobalArgs, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Show(args) => {
            let mut config = settings::load(global, Some(&args))?;
            redact_credentials(&mut config);
            print!("{}", config.to_toml());
        }
        ConfigCommand::Init { path, force } => {
            let path = match path {
                Some(p) => p,
                None => settings::default_config_path()?,
            };
            if path.exists() && !force {
                return Err(Hinted {
                    message: format!("`{}` already exists", path.display()),
                    hint: "pass --force to replace it, or give another path".into(),
                }
                .into());
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs_err::create_dir_all(parent)?;
            }
            let temp = path.with_extension("toml.repox-tmp");
            fs_err::write(&temp, DEFAULT_TOML)?;
            fs_err::rename(&temp, &path)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            eprintln!("Wrote the default configuration to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Passwords written into upstream or proxy URLs (`https://user:pass@host/`) are shown as
/// `***`: `config show` output gets pasted into issues and chats.
fn redact_credentials(config: &mut repox_proxy::config::Config) {
    let hide = |url: &mut url::Url| {
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
    };
    for repo in config.repositories.values_mut() {
        for up in &mut repo.upstreams {
            hide(&mut up.url);
            if let Some(proxy) = &mut up.proxy {
                hide(proxy);
            }
        }
    }
}
