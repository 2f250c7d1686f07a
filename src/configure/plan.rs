//! What `repox configure` is about to do, and doing it: the planned file contents of each
//! client, shown as a unified diff, confirmed (or not), then written atomically with the previous
//! bytes pushed on the undo stack.
//!
//! Client modules only compute plans; this module owns every side effect, so `--dry-run` can
//! promise that nothing is written and the undo stack sees every write.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::env::Env;
use super::files;
use super::history::{Change, History};
use super::target::{Target, mask};
use super::text::Malformed;
use super::{Client, Scope};
use crate::settings::Hinted;

/// What a client editor works with.
#[derive(Debug, Clone)]
pub struct Context {
    pub env: Env,
    pub target: Target,
    pub scope: Scope,
}

/// The new contents of one file (`None`: the file is removed or stays absent).
#[derive(Debug, Clone)]
pub struct FileEdit {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Holds a credential: a new file is created readable by its owner only.
    pub secret: bool,
}

impl FileEdit {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }

    /// Reads `path` and runs a pure editor on it (empty text for a missing file). A malformed file
    /// becomes a one-line error naming the file and its line.
    pub fn compute(
        client: Client,
        path: &Path,
        secret: bool,
        edit: impl FnOnce(&str) -> Result<String, Malformed>,
    ) -> anyhow::Result<FileEdit> {
        let before = files::read(path)?;
        let (bom, body) = files::split_bom(before.as_deref().unwrap_or(""));
        let after = edit(body).map_err(|e| malformed(client, path, &e))?;
        Ok(FileEdit {
            path: path.to_path_buf(),
            after: Some(format!("{bom}{after}")),
            before,
            secret,
        })
    }
}

/// The error for a file repox refuses to edit.
pub fn malformed(client: Client, path: &Path, e: &Malformed) -> anyhow::Error {
    Hinted {
        message: format!("{}:{}: {}", path.display(), e.line, e.message),
        hint: format!(
            "repox left the file untouched; fix line {} (or move the file away), then run \
             `repox configure {}` again",
            e.line,
            client.name()
        ),
    }
    .into()
}

/// Everything one client needs changed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub client: Client,
    pub scope: Scope,
    pub edits: Vec<FileEdit>,
    /// Said to the user after the change (what else was done, what to run next).
    pub notes: Vec<String>,
    /// Spellings of the secret to show as `***` in diffs.
    pub masks: Vec<String>,
}

impl Plan {
    pub fn new(client: Client, scope: Scope) -> Plan {
        Plan {
            client,
            scope,
            edits: Vec::new(),
            notes: Vec::new(),
            masks: Vec::new(),
        }
    }

    pub fn changed(&self) -> impl Iterator<Item = &FileEdit> {
        self.edits.iter().filter(|e| e.changed())
    }

    pub fn is_noop(&self) -> bool {
        self.changed().next().is_none()
    }
}

/// How changes are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Show the diff, write nothing.
    DryRun,
    /// Write without asking.
    Yes,
    /// Show the diff and ask on the terminal.
    Ask,
}

impl Mode {
    /// The mode `--dry-run` and `--yes` ask for; `undo` for `--undo`, which has no dry run.
    pub fn from_flags(dry_run: bool, yes: bool, undo: bool) -> anyhow::Result<Mode> {
        if dry_run {
            Ok(Mode::DryRun)
        } else if yes {
            Ok(Mode::Yes)
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            Ok(Mode::Ask)
        } else {
            let hint = if undo {
                "pass --yes to put the files back without asking"
            } else {
                "pass --yes to write without asking, or --dry-run to only see the diff"
            };
            Err(Hinted {
                message: "no terminal to confirm the change on".to_owned(),
                hint: hint.to_owned(),
            }
            .into())
        }
    }
}

/// A unified diff of one edit, with `~`-shortened paths.
pub fn diff(env: &Env, edit: &FileEdit) -> String {
    let shown = env.display(&edit.path);
    let old_name = if edit.before.is_some() {
        shown.clone()
    } else {
        "/dev/null".to_owned()
    };
    let new_name = if edit.after.is_some() {
        shown
    } else {
        "/dev/null".to_owned()
    };
    let old = edit.before.as_deref().unwrap_or("");
    let new = edit.after.as_deref().unwrap_or("");
    let diff = similar::TextDiff::from_lines(old, new);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Shows `plan` and asks for confirmation as `mode` says. Returns whether to write it.
pub fn confirm(env: &Env, plan: &Plan, mode: Mode) -> anyhow::Result<bool> {
    let name = plan.client.name();
    if plan.is_noop() {
        let paths: Vec<String> = plan.edits.iter().map(|e| env.display(&e.path)).collect();
        println!(
            "{name}: nothing to change ({} already up to date)",
            paths.join(", ")
        );
        return Ok(false);
    }
    if mode != Mode::Yes {
        for edit in plan.changed() {
            print!("{}", mask(&diff(env, edit), &plan.masks));
        }
    }
    match mode {
        Mode::DryRun => {
            println!("{name}: dry run, nothing written");
            return Ok(false);
        }
        Mode::Ask => {
            let count = plan.changed().count();
            let prompt = if count == 1 {
                format!("{name}: write this change?")
            } else {
                format!("{name}: write these changes to {count} files?")
            };
            let yes = dialoguer::Confirm::new()
                .with_prompt(prompt)
                .default(true)
                .interact()
                .context("cannot read the answer from the terminal")?;
            if !yes {
                println!("{name}: nothing written");
                return Ok(false);
            }
        }
        Mode::Yes => {}
    }
    Ok(true)
}

/// Writes a confirmed plan. With a history, the previous bytes are recorded for `--undo` first;
/// if a write fails, the files already written are put back and the record is dropped.
pub fn write(env: &Env, history: Option<&History>, plan: &Plan) -> anyhow::Result<()> {
    let entry = match history {
        Some(history) => {
            let changes: Vec<Change> = plan
                .changed()
                .map(|e| Change {
                    path: e.path.clone(),
                    before: e.before.clone(),
                    after: e.after.clone(),
                })
                .collect();
            Some(
                history
                    .push(plan.client, plan.scope, &changes)
                    .with_context(|| {
                        format!(
                            "cannot save the undo record under {}",
                            history.root().display()
                        )
                    })?,
            )
        }
        None => None,
    };
    let mut written: Vec<&FileEdit> = Vec::new();
    for edit in plan.changed() {
        let result = match &edit.after {
            Some(text) => files::write_atomic(&edit.path, text.as_bytes(), edit.secret),
            None => files::remove(&edit.path),
        };
        if let Err(e) = result {
            for done in written.iter().rev() {
                let _ = match &done.before {
                    Some(text) => files::write_atomic(&done.path, text.as_bytes(), done.secret),
                    None => files::remove(&done.path),
                };
            }
            if let (Some(history), Some(entry)) = (history, &entry) {
                let _ = history.discard(entry);
            }
            return Err(e);
        }
        written.push(edit);
    }
    for edit in &written {
        let verb = match (&edit.before, &edit.after) {
            (None, Some(_)) => "created",
            (Some(_), None) => "removed",
            _ => "updated",
        };
        println!("{}: {verb} {}", plan.client.name(), env.display(&edit.path));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configure::env::Os;

    #[test]
    fn diff_of_a_new_file() {
        let env = Env::fake(Path::new("/home/u"), Path::new("/"), Os::Linux, &[]);
        let edit = FileEdit {
            path: "/home/u/.npmrc".into(),
            before: None,
            after: Some("registry=http://x/\n".into()),
            secret: false,
        };
        let text = diff(&env, &edit);
        assert!(text.starts_with("--- /dev/null\n+++ ~"), "{text}");
        assert!(text.contains("+registry=http://x/\n"), "{text}");
    }

    #[test]
    fn dry_run_masks_the_secret() {
        let env = Env::fake(Path::new("/home/u"), Path::new("/"), Os::Linux, &[]);
        let creds = super::super::target::Credentials {
            username: Some("al".into()),
            token: "pa/ss".into(),
            password: false,
        };
        let edit = FileEdit {
            path: "/home/u/.npmrc".into(),
            before: None,
            after: Some(format!("a=pa/ss\nb=pa%2Fss\nc={}\n", creds.basic_header())),
            secret: true,
        };
        let shown = mask(&diff(&env, &edit), &creds.secret_forms());
        assert!(
            !shown.contains("pa/ss") && !shown.contains("pa%2Fss"),
            "{shown}"
        );
        assert!(!shown.contains("YWw6cGEvc3M="), "{shown}");
        assert!(shown.contains("+a=***\n+b=***\n+c=Basic ***\n"), "{shown}");
    }

    #[test]
    fn write_then_undo_record() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::fake(dir.path(), dir.path(), Os::Linux, &[]);
        let history = History::new(&env);
        let path = dir.path().join(".npmrc");
        std::fs::write(&path, "a=1\n").unwrap();
        let mut plan = Plan::new(Client::Npm, Scope::User);
        plan.edits.push(FileEdit {
            path: path.clone(),
            before: Some("a=1\n".into()),
            after: Some("a=1\nregistry=x\n".into()),
            secret: false,
        });
        write(&env, Some(&history), &plan).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=1\nregistry=x\n");
        let entry = history.last(Client::Npm).unwrap().unwrap();
        assert_eq!(entry.changes[0].before.as_deref(), Some("a=1\n"));
    }
}
