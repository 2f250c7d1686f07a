//! Writing repository settings (and `[server] ca_certificates`, the one live server key) back
//! into the config file, keeping the user's comments and layout (`toml_edit`).
//!
//! The editors are pure functions from the old text to the new one. A key whose meaning did not
//! change is left exactly as written (`"300s"` stays `"300s"` when the new value is 5 minutes);
//! a changed value keeps the comments around it; keys are added only when they differ from the
//! default, so a file stays as short as the user made it. Upstreams are matched by name, so an
//! upstream moved up or down takes its comments along. Saving the text (atomically, with a
//! backup for undo) is [`save`]'s job.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::{RepoName, RepositoryConfig, UpstreamConfig};

/// Starts a config file that the settings API creates (zero-config runs).
const NEW_FILE_HEADER: &str = "# repox configuration, created by a change in the settings page or API.\n\
# Every key is described in the file `repox config init` writes; repositories not named here\n\
# keep their built-in settings.\n";

/// Why the config text could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file on disk is not valid TOML (a broken manual edit).
    #[error(
        "the config file is not valid TOML ({0}); fix it (or undo) before changing settings here"
    )]
    Unparsable(String),
    /// `repositories` or the repository is not a table.
    #[error("`{0}` in the config file is not a table; fix it by hand")]
    NotATable(String),
}

/// `text` with `[repositories.NAME]` set to `repo`.
pub fn set_repository(
    text: &str,
    name: &RepoName,
    repo: &RepositoryConfig,
) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unparsable(e.message().to_owned()))?;
    let created = text.trim().is_empty();
    let repositories = doc
        .entry("repositories")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| EditError::NotATable("repositories".into()))?;
    let new = as_table(repo);
    match repositories.get_mut(name.as_str()) {
        Some(item) => {
            let table = item
                .as_table_mut()
                .ok_or_else(|| EditError::NotATable(format!("repositories.{name}")))?;
            merge_repository(table, &new, repo);
        }
        None => {
            let mut table = Table::new();
            merge_repository(&mut table, &new, repo);
            if !created {
                table.decor_mut().set_prefix("\n");
            }
            repositories.insert(name.as_str(), Item::Table(table));
        }
    }
    let mut out = doc.to_string();
    if created {
        out.insert_str(0, NEW_FILE_HEADER);
    }
    Ok(out)
}

/// `text` with `[server] ca_certificates` set to `file` as written, or removed when `None`. The
/// same value leaves the text as it was.
pub fn set_server_ca(text: &str, file: Option<&Path>) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unparsable(e.message().to_owned()))?;
    let created = text.trim().is_empty();
    let new = file.map(|f| f.to_string_lossy().into_owned());
    if !doc.contains_key("server") {
        if new.is_none() {
            return Ok(text.to_owned());
        }
        let mut table = Table::new();
        if !created {
            table.decor_mut().set_prefix("\n");
        }
        doc.insert("server", Item::Table(table));
    }
    let server = doc["server"]
        .as_table_mut()
        .ok_or_else(|| EditError::NotATable("server".into()))?;
    let old = server.get("ca_certificates").and_then(Item::as_str);
    if old == new.as_deref() {
        return Ok(text.to_owned());
    }
    match (server.get_mut("ca_certificates"), new) {
        (_, None) => {
            server.remove("ca_certificates");
        }
        (Some(Item::Value(current)), Some(new)) => {
            let decor = current.decor().clone();
            let mut value = Value::from(new);
            *value.decor_mut() = decor;
            *current = value;
        }
        (_, Some(new)) => {
            server.insert("ca_certificates", toml_edit::value(new));
        }
    }
    let mut out = doc.to_string();
    if created {
        out.insert_str(0, NEW_FILE_HEADER);
    }
    Ok(out)
}

/// `text` without `[repositories.NAME]` (and its upstreams); `None` when the file does not
/// name it.
pub fn remove_repository(text: &str, name: &RepoName) -> Result<Option<String>, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unparsable(e.message().to_owned()))?;
    let Some(repositories) = doc.get_mut("repositories") else {
        return Ok(None);
    };
    let repositories = repositories
        .as_table_like_mut()
        .ok_or_else(|| EditError::NotATable("repositories".into()))?;
    Ok(repositories.remove(name.as_str()).map(|_| doc.to_string()))
}

/// A value serialized as the config file would hold it, as a table.
fn as_table<T: Serialize>(value: &T) -> Table {
    toml::to_string(value)
        .ok()
        .and_then(|text| text.parse::<DocumentMut>().ok())
        .map(DocumentMut::into_table)
        .unwrap_or_default()
}

/// What the keys of `table` (sub-tables left out) mean, written back in the serializer's
/// canonical form; `None` when they do not parse as a `T`.
fn normalized<T: Serialize + DeserializeOwned>(table: &Table) -> Option<Table> {
    let mut values = Table::new();
    for (key, item) in table.iter() {
        if let Item::Value(v) = item {
            values.insert(key, Item::Value(v.clone()));
        }
    }
    let parsed: T = toml::from_str(&DocumentMut::from(values).to_string()).ok()?;
    Some(as_table(&parsed))
}

/// A value's text without the spaces and comments around it.
fn bare(value: &Value) -> String {
    let mut value = value.clone();
    value.decor_mut().clear();
    value.to_string()
}

/// Sets the plain keys of `table` to those of `new`: unchanged meanings keep their text, new
/// keys equal to `defaults` are not written, keys `new` lacks are removed. `skip` names keys
/// handled elsewhere.
fn merge_keys(table: &mut Table, new: &Table, old: Option<&Table>, defaults: &Table, skip: &str) {
    let gone: Vec<String> = table
        .iter()
        .filter(|(k, item)| *k != skip && item.is_value() && !new.contains_key(k))
        .map(|(k, _)| k.to_owned())
        .collect();
    for key in gone {
        table.remove(&key);
    }
    for (key, item) in new.iter() {
        let Some(value) = item.as_value() else {
            continue;
        };
        if key == skip {
            continue;
        }
        let was = old.and_then(|o| o.get(key)).and_then(Item::as_value);
        match table.get_mut(key) {
            Some(Item::Value(current)) => {
                if was.is_some_and(|w| bare(w) == bare(value)) {
                    continue;
                }
                let decor = current.decor().clone();
                let mut value = value.clone();
                *value.decor_mut() = decor;
                *current = value;
            }
            _ => {
                let default = defaults.get(key).and_then(Item::as_value);
                if default.is_some_and(|d| bare(d) == bare(value)) {
                    continue;
                }
                let mut value = value.clone();
                value.decor_mut().clear();
                table.insert(key, Item::Value(value));
            }
        }
    }
}

fn merge_repository(table: &mut Table, new: &Table, repo: &RepositoryConfig) {
    let old = normalized::<RepositoryConfig>(table);
    // Every other key of a repository is optional: unset is its default.
    let mut defaults = Table::new();
    defaults.insert("block", toml_edit::value(toml_edit::Array::new()));
    merge_keys(table, new, old.as_ref(), &defaults, "upstreams");

    let mut existing: Vec<Table> = match table.remove("upstreams") {
        Some(Item::ArrayOfTables(a)) => a.into_iter().collect(),
        _ => Vec::new(),
    };
    let mut upstreams = ArrayOfTables::new();
    for up in &repo.upstreams {
        let new_up = as_table(up);
        let found = existing
            .iter()
            .position(|t| t.get("name").and_then(Item::as_str) == Some(up.name.as_str()));
        let mut up_table = match found {
            Some(i) => existing.remove(i),
            None => Table::new(),
        };
        let old_up = normalized::<UpstreamConfig>(&up_table);
        let defaults = as_table(&UpstreamConfig::new(&up.name, up.url.clone()));
        let mut defaults = defaults;
        defaults.remove("name");
        defaults.remove("url");
        merge_keys(&mut up_table, &new_up, old_up.as_ref(), &defaults, "");
        if found.is_none() {
            up_table.decor_mut().set_prefix("\n");
        }
        // Without a position a table is written right after the one before it: the upstreams
        // follow their repository in their new order.
        up_table.set_position(None);
        upstreams.push(up_table);
    }
    if !upstreams.is_empty() {
        table.insert("upstreams", Item::ArrayOfTables(upstreams));
    }
}

/// Writes `text` to `path` atomically (a temporary file in the same directory, then a rename),
/// first keeping the current text as `PATH.bak` for undo (empty when the file did not exist).
/// A symbolic link is followed, so the file it points at is the one replaced.
pub fn save(path: &Path, previous: &str, text: &str) -> std::io::Result<()> {
    let target = real_path(path);
    write_atomic(&backup_path(&target), previous)?;
    write_atomic(&target, text)
}

/// Where the version before the last change is kept.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// The file a path names, through symbolic links (the path itself when it does not exist).
pub fn real_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Replaces `path` with `text` by a rename; a new file keeps the old one's permissions.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().sync_all()?;
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::Permissions::from_mode(0o644)
        });
    std::fs::set_permissions(temp.path(), permissions)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::config::Config;

    const FILE: &str = r#"# my repox
[server]
listen = "127.0.0.1:9000" # the port

# Our Maven mirror.
[repositories.m]
kind = "maven"
metadata_ttl = "300s" # five minutes
block = ["**/*-javadoc.jar"]

# Corporate first.
[[repositories.m.upstreams]]
name = "corp"
url = "http://127.0.0.1:1/m2"
idle_timeout = "20s" # slow VPN

# Then the world.
[[repositories.m.upstreams]]
name = "central"
url = "http://127.0.0.1:2/"
priority = 1
"#;

    fn repo(text: &str, name: &str) -> RepositoryConfig {
        let config = Config::parse(text, Path::new("r.toml")).unwrap();
        config.repositories[&RepoName::parse(name).unwrap()].clone()
    }

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn an_unchanged_repository_leaves_the_text_as_it_was() {
        let out = set_repository(FILE, &name("m"), &repo(FILE, "m")).unwrap();
        assert_eq!(out, FILE);
    }

    #[test]
    fn a_changed_value_keeps_its_comments_and_the_rest_of_the_file() {
        let mut m = repo(FILE, "m");
        m.upstreams[0].idle_timeout = std::time::Duration::from_secs(30);
        let out = set_repository(FILE, &name("m"), &m).unwrap();
        assert_eq!(
            out,
            FILE.replace("idle_timeout = \"20s\"", "idle_timeout = \"30s\"")
        );
    }

    #[test]
    fn moving_an_upstream_moves_its_comments_and_new_keys_are_only_the_non_defaults() {
        let mut m = repo(FILE, "m");
        m.upstreams.swap(0, 1);
        m.upstreams[0].priority = -1;
        m.upstreams[1].head = false;
        let out = set_repository(FILE, &name("m"), &m).unwrap();
        let central = out.find("# Then the world.").unwrap();
        let corp = out.find("# Corporate first.").unwrap();
        assert!(central < corp, "{out}");
        assert!(out.contains("priority = -1\n"), "{out}");
        assert!(
            out.contains("idle_timeout = \"20s\" # slow VPN\nhead = false\n"),
            "{out}"
        );
        assert!(!out.contains("enabled"), "defaults are not written: {out}");
        assert!(
            out.contains("listen = \"127.0.0.1:9000\" # the port"),
            "{out}"
        );
        let again = repo(&out, "m");
        assert_eq!(again.upstreams[0].name, "central");
        assert_eq!(again.upstreams[0].priority, -1);
        assert!(!again.upstreams[1].head);
    }

    #[test]
    fn removed_keys_and_upstreams_go_new_ones_come() {
        let mut m = repo(FILE, "m");
        m.metadata_ttl = None;
        m.block.clear();
        m.upstreams.remove(1);
        let mut extra = UpstreamConfig::new("extra", "http://127.0.0.1:3/".parse().unwrap());
        extra.password_env = Some("EXTRA_TOKEN".into());
        m.upstreams.push(extra);
        let out = set_repository(FILE, &name("m"), &m).unwrap();
        assert!(!out.contains("metadata_ttl"), "{out}");
        assert!(!out.contains("central"), "{out}");
        assert!(out.contains("[[repositories.m.upstreams]]\nname = \"extra\"\nurl = \"http://127.0.0.1:3/\"\npassword_env = \"EXTRA_TOKEN\"\n"), "{out}");
        assert!(out.contains("# Corporate first."), "{out}");
        let again = repo(&out, "m");
        assert_eq!(again.upstreams.len(), 2);
        assert_eq!(again.metadata_ttl, None);
    }

    #[test]
    fn a_new_repository_is_appended_and_removal_takes_it_away() {
        let mut r = repo(FILE, "m");
        r.kind = crate::config::Kind::Npm;
        r.block.clear();
        let out = set_repository(FILE, &name("js"), &r).unwrap();
        assert!(out.starts_with(FILE), "{out}");
        assert!(
            out.contains("\n[repositories.js]\nkind = \"npm\"\n"),
            "{out}"
        );
        assert_eq!(repo(&out, "js").upstreams.len(), 2);
        let back = remove_repository(&out, &name("js")).unwrap().unwrap();
        assert_eq!(back.trim_end(), FILE.trim_end());
        assert_eq!(remove_repository(FILE, &name("js")).unwrap(), None);
    }

    #[test]
    fn an_empty_file_gets_a_header_and_the_repository() {
        let r = repo(FILE, "m");
        let out = set_repository("", &name("m"), &r).unwrap();
        assert!(out.starts_with("# repox configuration"), "{out}");
        let again = Config::parse(&out, Path::new("r.toml")).unwrap();
        assert_eq!(again.repositories[&name("m")].upstreams.len(), 2);
    }

    #[test]
    fn the_commented_default_file_keeps_every_comment_through_edits() {
        let text = crate::config::DEFAULT_TOML;
        let comments = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.trim_start().starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        let mut maven = repo(text, "maven");
        maven.upstreams.swap(0, 4);
        maven.upstreams[1].connect_timeout = std::time::Duration::from_secs(2);
        maven.upstreams[2].enabled = false;
        let out = set_repository(text, &name("maven"), &maven).unwrap();
        assert_eq!(comments(&out), comments(text));
        let again = repo(&out, "maven");
        assert_eq!(again.upstreams[0].name, "typesafe-ivy");
        assert_eq!(again.upstreams[4].name, "central");
        assert!(!again.upstreams[2].enabled);
        assert_eq!(
            set_repository(&out, &name("maven"), &again).unwrap(),
            out,
            "idempotent"
        );
        assert_eq!(
            repo(&out, "pypi").upstreams[0].url.as_str(),
            "https://pypi.org/simple/"
        );
    }

    #[test]
    fn the_server_ca_file_is_set_kept_as_written_and_removed() {
        let file = Some(Path::new("certs/corp-ca.pem"));
        let out = set_server_ca(FILE, file).unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "# the port\n",
                "# the port\nca_certificates = \"certs/corp-ca.pem\"\n"
            )
        );
        assert_eq!(set_server_ca(&out, file).unwrap(), out, "the same value");
        let config = Config::parse(&out, Path::new("/etc/repox/repox.toml")).unwrap();
        let ca = config.server.ca_certificates.unwrap();
        assert_eq!(ca.path(), Path::new("/etc/repox/certs/corp-ca.pem"));
        let commented = out.replace("corp-ca.pem\"", "corp-ca.pem\" # the proxy's CA");
        let moved = set_server_ca(&commented, Some(Path::new("/etc/ssl/ca.pem"))).unwrap();
        assert!(
            moved.contains("ca_certificates = \"/etc/ssl/ca.pem\" # the proxy's CA\n"),
            "{moved}"
        );
        assert_eq!(set_server_ca(&out, None).unwrap(), FILE);
        assert_eq!(set_server_ca(FILE, None).unwrap(), FILE);
        // A file without `[server]` gets one; an empty file a header too.
        let bare = "[repositories.m]\nkind = \"maven\"\n";
        let out = set_server_ca(bare, file).unwrap();
        let config = Config::parse(&out, Path::new("r.toml")).unwrap();
        assert!(config.server.ca_certificates.is_some(), "{out}");
        assert!(out.starts_with(bare), "{out}");
        let out = set_server_ca("", file).unwrap();
        assert!(out.starts_with("# repox configuration"), "{out}");
        assert!(
            out.ends_with("[server]\nca_certificates = \"certs/corp-ca.pem\"\n"),
            "{out}"
        );
        assert_eq!(set_server_ca("", None).unwrap(), "");
    }

    #[test]
    fn broken_text_is_refused() {
        let err = set_repository("[repositories\n", &name("m"), &repo(FILE, "m")).unwrap_err();
        assert!(err.to_string().contains("not valid TOML"), "{err}");
    }

    #[test]
    fn save_keeps_a_backup_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repox.toml");
        std::fs::write(&path, "old").unwrap();
        save(&path, "old", "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left behind");
    }
}
