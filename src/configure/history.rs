//! The undo stack: the bytes of every file as it was before each `repox configure`.
//!
//! Each change that writes something pushes one entry per client under
//! `$XDG_DATA_HOME/repox/configure/<client>/<number>/` (`%APPDATA%\repox\configure` on
//! Windows): a `manifest.json` naming the files, plus `<i>.before` (absent when the file did not
//! exist) and `<i>.after` with the exact bytes. `repox configure --undo <client>` pops the newest
//! entry, so undoing several times walks back through several configures. The directory is
//! private to the user because files may hold credentials.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::env::{Env, Os};
use super::files;
use super::{Client, Scope};

const MANIFEST: &str = "manifest.json";

/// The base URLs `repox configure` pointed clients at, one a line, newest last: `--status`
/// recognises them without `--url` repeated.
const SERVERS: &str = "servers.txt";

/// How many base URLs [`SERVERS`] keeps.
const SERVERS_KEPT: usize = 16;

/// One file of an entry: its path and contents before and after the change.
#[derive(Debug, Clone)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One configure (or nothing) recorded for a client.
#[derive(Debug)]
pub struct Entry {
    dir: PathBuf,
    pub created_unix: u64,
    pub scope: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    client: String,
    scope: String,
    created_unix: u64,
    files: Vec<FileRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileRecord {
    path: PathBuf,
    existed: bool,
    exists_after: bool,
}

/// The stack of backups for all clients.
#[derive(Debug, Clone)]
pub struct History {
    root: PathBuf,
}

impl History {
    pub fn new(env: &Env) -> History {
        let data = match env.os {
            Os::Windows => env.appdata(),
            _ => env.xdg_data_home(),
        };
        History {
            root: data.join("repox").join("configure"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn client_dir(&self, client: Client) -> PathBuf {
        self.root.join(client.name())
    }

    /// Records `changes` as the newest entry of `client`.
    pub fn push(&self, client: Client, scope: Scope, changes: &[Change]) -> anyhow::Result<Entry> {
        let client_dir = self.client_dir(client);
        fs_err::create_dir_all(&client_dir)?;
        for dir in [&self.root, &client_dir] {
            files::restrict(dir)?;
        }
        let next = self.numbers(client)?.last().map_or(1, |n| n + 1);
        let dir = client_dir.join(format!("{next:06}"));
        fs_err::create_dir(&dir)?;
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut records = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            if let Some(before) = &change.before {
                files::write_atomic(&dir.join(format!("{i}.before")), before.as_bytes(), true)?;
            }
            if let Some(after) = &change.after {
                files::write_atomic(&dir.join(format!("{i}.after")), after.as_bytes(), true)?;
            }
            records.push(FileRecord {
                path: change.path.clone(),
                existed: change.before.is_some(),
                exists_after: change.after.is_some(),
            });
        }
        let manifest = Manifest {
            version: 1,
            client: client.name().to_owned(),
            scope: scope.name().to_owned(),
            created_unix,
            files: records,
        };
        let json = serde_json::to_string_pretty(&manifest)?;
        // The manifest goes last: an entry without one is an interrupted push and is ignored.
        files::write_atomic(&dir.join(MANIFEST), json.as_bytes(), true)?;
        Ok(Entry {
            dir,
            created_unix,
            scope: manifest.scope,
            changes: changes.to_vec(),
        })
    }

    /// The newest complete entry of `client`.
    pub fn last(&self, client: Client) -> anyhow::Result<Option<Entry>> {
        for n in self.numbers(client)?.into_iter().rev() {
            let dir = self.client_dir(client).join(format!("{n:06}"));
            let manifest_path = dir.join(MANIFEST);
            let Some(json) = files::read(&manifest_path)? else {
                continue;
            };
            let manifest: Manifest = serde_json::from_str(&json).with_context(|| {
                format!("cannot read the undo record {}", manifest_path.display())
            })?;
            let mut changes = Vec::new();
            for (i, record) in manifest.files.into_iter().enumerate() {
                let before = if record.existed {
                    let path = dir.join(format!("{i}.before"));
                    Some(files::read(&path)?.with_context(|| {
                        format!("the undo record lacks its backup {}", path.display())
                    })?)
                } else {
                    None
                };
                let after = if record.exists_after {
                    files::read(&dir.join(format!("{i}.after")))?
                } else {
                    None
                };
                changes.push(Change {
                    path: record.path,
                    before,
                    after,
                });
            }
            return Ok(Some(Entry {
                dir,
                created_unix: manifest.created_unix,
                scope: manifest.scope,
                changes,
            }));
        }
        Ok(None)
    }

    /// How many entries `client` has.
    pub fn depth(&self, client: Client) -> anyhow::Result<usize> {
        Ok(self.numbers(client)?.len())
    }

    /// Removes an entry (after it was undone, or when its change could not be written).
    pub fn discard(&self, entry: &Entry) -> anyhow::Result<()> {
        fs_err::remove_dir_all(&entry.dir)?;
        Ok(())
    }

    /// Remembers `base` as a server clients were pointed at.
    pub fn remember_server(&self, base: &url::Url) -> anyhow::Result<()> {
        let mut servers = self.servers();
        servers.retain(|s| s != base);
        servers.push(base.clone());
        let skip = servers.len().saturating_sub(SERVERS_KEPT);
        let text: String = servers
            .iter()
            .skip(skip)
            .map(|s| format!("{s}\n"))
            .collect();
        fs_err::create_dir_all(&self.root)?;
        files::restrict(&self.root)?;
        files::write_atomic(&self.root.join(SERVERS), text.as_bytes(), false)
    }

    /// The servers remembered by [`History::remember_server`]; unreadable lines are skipped.
    pub fn servers(&self) -> Vec<url::Url> {
        let Ok(Some(text)) = files::read(&self.root.join(SERVERS)) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| url::Url::parse(line.trim()).ok())
            .collect()
    }

    fn numbers(&self, client: Client) -> anyhow::Result<Vec<u64>> {
        let dir = self.client_dir(client);
        let read = match fs_err::read_dir(&dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut numbers = Vec::new();
        for item in read {
            let item = item?;
            if let Some(n) = item
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u64>().ok())
            {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(dir: &Path) -> History {
        let env = Env::fake(dir, dir, Os::Linux, &[]);
        History::new(&env)
    }

    #[test]
    fn servers_are_remembered_once_each_newest_last() {
        let dir = tempfile::tempdir().unwrap();
        let h = history(dir.path());
        assert!(h.servers().is_empty());
        let a = url::Url::parse("http://repox.lan:8078/").unwrap();
        let b = url::Url::parse("https://repox.example/").unwrap();
        h.remember_server(&a).unwrap();
        h.remember_server(&b).unwrap();
        h.remember_server(&a).unwrap();
        assert_eq!(h.servers(), vec![b, a]);
        // Undo records are directories per client: the file is none of them.
        assert_eq!(h.depth(Client::Pip).unwrap(), 0);
    }

    #[test]
    fn push_and_pop_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let h = history(dir.path());
        assert!(h.last(Client::Pip).unwrap().is_none());
        let path = dir.path().join("pip.conf");
        h.push(
            Client::Pip,
            Scope::User,
            &[Change {
                path: path.clone(),
                before: None,
                after: Some("one".into()),
            }],
        )
        .unwrap();
        h.push(
            Client::Pip,
            Scope::User,
            &[Change {
                path: path.clone(),
                before: Some("one".into()),
                after: Some("two".into()),
            }],
        )
        .unwrap();
        assert_eq!(h.depth(Client::Pip).unwrap(), 2);

        let last = h.last(Client::Pip).unwrap().unwrap();
        assert_eq!(last.changes[0].before.as_deref(), Some("one"));
        assert_eq!(last.changes[0].after.as_deref(), Some("two"));
        h.discard(&last).unwrap();
        let first = h.last(Client::Pip).unwrap().unwrap();
        assert_eq!(first.changes[0].before, None);
        h.discard(&first).unwrap();
        assert!(h.last(Client::Pip).unwrap().is_none());
        assert!(h.last(Client::Npm).unwrap().is_none());
    }

    #[test]
    fn entries_without_manifest_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let h = history(dir.path());
        std::fs::create_dir_all(h.root().join("npm/000007")).unwrap();
        assert!(h.last(Client::Npm).unwrap().is_none());
    }
}
