//! `repox configure --undo <client>`: put back the exact bytes a client's files had before the
//! newest recorded configure, then drop that record, so repeated undos walk back in time.
//!
//! Undo is shown and confirmed like any other change. A file edited by hand since repox wrote it
//! is still restored (the diff shows what is lost) after a warning.

use std::process::ExitCode;

use super::Client;
use super::env::Env;
use super::files;
use super::history::History;
use super::plan::{self, FileEdit, Mode, Plan};
use crate::settings::Hinted;

pub fn run(
    env: &Env,
    history: &History,
    clients: &[Client],
    mode: Mode,
) -> anyhow::Result<ExitCode> {
    for &client in clients {
        let name = client.name();
        let Some(entry) = history.last(client)? else {
            println!("{name}: nothing to undo");
            continue;
        };
        let scope = match entry.scope.as_str() {
            "project" => super::Scope::Project,
            "global" => super::Scope::Global,
            _ => super::Scope::User,
        };
        println!(
            "{name}: restoring the files as they were before the configure of {}",
            ago(entry.created_unix)
        );
        let mut undo = Plan::new(client, scope);
        for change in &entry.changes {
            let current = files::read(&change.path)?;
            if current != change.after {
                eprintln!(
                    "{name}: warning: {} changed since repox wrote it; undo restores the older \
                     version anyway",
                    env.display(&change.path)
                );
            }
            undo.edits.push(FileEdit {
                path: change.path.clone(),
                before: current,
                after: change.before.clone(),
                secret: true,
            });
        }
        if undo.is_noop() {
            history.discard(&entry)?;
            println!("{name}: files already as they were before the last configure");
            continue;
        }
        if plan::confirm(env, &undo, mode)? {
            plan::write(env, None, &undo)?;
            history.discard(&entry)?;
            let left = history.depth(client)?;
            if left > 0 {
                println!("{name}: {left} earlier configure(s) can still be undone");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "5 minutes ago" for a Unix time.
fn ago(unix: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(unix);
    let (n, unit) = match secs {
        0..60 => (secs, "second"),
        60..3600 => (secs / 60, "minute"),
        3600..86400 => (secs / 3600, "hour"),
        _ => (secs / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The error for `--undo` without a client: name those that have something to undo.
pub fn no_client_named(history: &History) -> anyhow::Error {
    let with_history: Vec<&str> = Client::ALL
        .iter()
        .filter(|c| history.depth(**c).unwrap_or(0) > 0)
        .map(|c| c.name())
        .collect();
    let hint = if with_history.is_empty() {
        "repox has not changed any client's configuration yet".to_owned()
    } else {
        format!(
            "name the client, e.g. `repox configure --undo {}` (undo records exist for: {})",
            with_history[0],
            with_history.join(", ")
        )
    };
    Hinted {
        message: "--undo needs the client(s) to restore".to_owned(),
        hint,
    }
    .into()
}
