//! uv: a default `[[index]]` named `repox` plus `[pip] index-url` in `uv.toml` (or
//! `[tool.uv]` of a project's `pyproject.toml`).
//!
//! uv uses the first index marked `default = true` as the lowest-priority fallback, so repox's
//! entry is placed before any other default one. The legacy top-level `index-url`, if present,
//! is updated too. uv merges configuration project > user > system and concatenates index lists,
//! so `--status` lists every `[[index]]` of every file (astral-sh/uv
//! `docs/concepts/configuration-files.md`). With `--user` the URL stays credential-free: the login
//! goes to netrc, and `authenticate = "always"` makes uv send it from the first request.

use std::path::{Path, PathBuf};

use toml_edit::{Item, Table};

use super::env::{Env, Os};
use super::netrc;
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::tomldoc;
use super::{Client, Scope};

/// The name of repox's `[[index]]` entry.
const INDEX_NAME: &str = "repox";

/// Sets repox as the default index in a `uv.toml` (`prefix` = `[]`) or a `pyproject.toml`
/// (`prefix` = `["tool", "uv"]`).
pub fn edit_at(old: &str, target: &Target, prefix: &[&str]) -> Result<String, Malformed> {
    let mut doc = tomldoc::parse(old)?;
    let url = target.pypi_simple();
    let root = tomldoc::table_mut(doc.as_table_mut(), prefix)?;

    let indexes = root
        .entry("index")
        .or_insert_with(|| Item::ArrayOfTables(Default::default()));
    let indexes = indexes.as_array_of_tables_mut().ok_or_else(|| {
        Malformed::new(
            1,
            format!(
                "`{}` is not an array of tables ([[index]])",
                dotted(prefix, "index")
            ),
        )
    })?;
    let is_ours = |t: &Table| t.get("name").and_then(Item::as_str) == Some(INDEX_NAME);
    let is_default = |t: &Table| t.get("default").and_then(Item::as_bool) == Some(true);
    let ours = indexes.iter().position(is_ours);
    let first_other_default = indexes
        .iter()
        .enumerate()
        .position(|(i, t)| Some(i) != ours && is_default(t));
    match (ours, first_other_default) {
        (Some(i), Some(d)) if d < i => {
            let table = indexes.remove(i);
            indexes.insert(d, table);
        }
        (Some(_), _) => {}
        (None, d) => {
            let mut table = Table::new();
            table.insert("name", toml_edit::value(INDEX_NAME));
            let at = d.unwrap_or(indexes.len());
            indexes.insert(at, table);
        }
    }
    let i = indexes.iter().position(is_ours).expect("just ensured");
    let table = indexes.get_mut(i).expect("index in range");
    tomldoc::set_str(table, "url", &url);
    tomldoc::set_bool(table, "default", true);
    if target.credentials.is_some() {
        // Look the netrc login up before the first request instead of after a 401, and fail
        // clearly when it is missing.
        tomldoc::set_str(table, "authenticate", "always");
    }

    if root.contains_key("index-url") {
        tomldoc::set_str(root, "index-url", &url);
    }
    if let Some(publish) = target.publish_url() {
        // `uv publish` uploads here (uv's `publish-url` setting); the login comes from netrc.
        tomldoc::set_str(root, "publish-url", &publish);
    }
    let pip = tomldoc::table_mut(root, &["pip"])?;
    tomldoc::set_str(pip, "index-url", &url);

    let new = doc.to_string();
    verify(&new, &url, prefix)?;
    Ok(new)
}

/// `uv.toml` editor.
#[cfg(test)]
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    edit_at(old, target, &[])
}

fn dotted(prefix: &[&str], key: &str) -> String {
    prefix
        .iter()
        .chain([&key])
        .copied()
        .collect::<Vec<_>>()
        .join(".")
}

/// Parses the result with the `toml` crate and checks the default index.
fn verify(new: &str, url: &str, prefix: &[&str]) -> Result<(), Malformed> {
    let value: toml::Value = toml::from_str(new)
        .map_err(|e| Malformed::new(1, format!("internal error: result is not TOML: {e}")))?;
    let mut root = &value;
    for key in prefix {
        root = root.get(key).unwrap_or(root);
    }
    let default = root
        .get("index")
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .find(|t| t.get("default").and_then(|d| d.as_bool()) == Some(true))
        })
        .and_then(|t| t.get("url"))
        .and_then(|u| u.as_str());
    if default == Some(url) {
        Ok(())
    } else {
        Err(Malformed::new(
            1,
            "internal error: the default index does not read back",
        ))
    }
}

fn user_file(env: &Env) -> PathBuf {
    match env.os {
        Os::Windows => env.appdata().join("uv").join("uv.toml"),
        _ => env.xdg_config_home().join("uv").join("uv.toml"),
    }
}

fn system_file(env: &Env) -> PathBuf {
    match env.os {
        Os::Windows => env.programdata().join("uv").join("uv.toml"),
        _ => {
            let dirs = env.var("XDG_CONFIG_DIRS").unwrap_or("/etc/xdg");
            std::env::split_paths(dirs)
                .map(|d| d.join("uv").join("uv.toml"))
                .find(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("/etc/uv/uv.toml"))
        }
    }
}

/// The project file uv reads: the nearest `uv.toml`, or `pyproject.toml` with `[tool.uv]`, from
/// the working directory up (`uv.toml` wins in the same directory).
fn project_file(env: &Env) -> Option<(PathBuf, bool)> {
    for dir in env.ancestors() {
        let uv_toml = dir.join("uv.toml");
        if uv_toml.is_file() {
            return Some((uv_toml, false));
        }
        let pyproject = dir.join("pyproject.toml");
        if has_tool_uv(&pyproject) {
            return Some((pyproject, true));
        }
    }
    None
}

fn has_tool_uv(pyproject: &Path) -> bool {
    std::fs::read_to_string(pyproject)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.get("tool").and_then(|t| t.get("uv")).is_some())
}

/// The file to edit for `scope`, and whether it is a `pyproject.toml`.
fn file(env: &Env, scope: Scope) -> (PathBuf, bool) {
    match scope {
        Scope::User => (user_file(env), false),
        Scope::Global => (system_file(env), false),
        Scope::Project => project_file(env).unwrap_or_else(|| {
            // A new uv.toml next to the project's pyproject.toml (or here).
            let root = env
                .find_up(&["pyproject.toml"])
                .unwrap_or_else(|| env.cwd.clone());
            (root.join("uv.toml"), false)
        }),
    }
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let (path, pyproject) = file(&ctx.env, ctx.scope);
    let prefix: &[&str] = if pyproject { &["tool", "uv"] } else { &[] };
    let mut plan = Plan::new(Client::Uv, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Uv, &path, false, |old| {
            edit_at(old, &ctx.target, prefix)
        })?);
    plan.edits.extend(netrc::plan_edit(ctx, Client::Uv)?);
    if ctx.scope == Scope::Project {
        plan.notes.push(
            "uv.lock records index URLs: run `uv lock` to re-resolve through repox".to_owned(),
        );
    }
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    env.which("uv").is_some() || user_file(env).exists()
}

/// Default and additional indexes of every file uv reads, then the environment.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Uv, "https://pypi.org/simple", &ctx.target);
    let files: Vec<(PathBuf, bool)> = if let Some(file) = env.path_var("UV_CONFIG_FILE") {
        status.note("UV_CONFIG_FILE replaces every other uv config file");
        vec![(file, false)]
    } else if env.var("UV_NO_CONFIG").is_some() {
        status.note("UV_NO_CONFIG disables uv config files");
        Vec::new()
    } else {
        // Lowest precedence first.
        let mut files = vec![(system_file(env), false), (user_file(env), false)];
        files.extend(project_file(env));
        files
    };
    for (path, pyproject) in files {
        let Some(doc) = status.read(env, &path, tomldoc::parse) else {
            continue;
        };
        let prefix: &[&str] = if pyproject { &["tool", "uv"] } else { &[] };
        let Some(root) = tomldoc::table(doc.as_table(), prefix) else {
            continue;
        };
        let mut default = None;
        if let Some(indexes) = root.get("index").and_then(Item::as_array_of_tables) {
            for table in indexes.iter() {
                let Some(url) = table.get("url").and_then(Item::as_str) else {
                    continue;
                };
                let name = table.get("name").and_then(Item::as_str).unwrap_or("?");
                let i = status.file(
                    env,
                    &path,
                    format!("[[{}]] {name}", dotted(prefix, "index")),
                    url,
                );
                let is_default = table.get("default").and_then(Item::as_bool) == Some(true);
                let explicit = table.get("explicit").and_then(Item::as_bool) == Some(true);
                if is_default {
                    default = default.or(Some(i));
                } else if !explicit {
                    status.extra(i);
                }
            }
        }
        if let Some(url) = root.get("index-url").and_then(Item::as_str) {
            let i = status.file(env, &path, dotted(prefix, "index-url"), url);
            default = default.or(Some(i));
        }
        if let Some(url) = root
            .get("pip")
            .and_then(Item::as_table_like)
            .and_then(|t| t.get("index-url"))
            .and_then(Item::as_str)
        {
            status.file(
                env,
                &path,
                dotted(prefix, "pip.index-url (uv pip only)"),
                url,
            );
        }
        if let Some(i) = default {
            status.set_effective(i);
        }
    }
    for name in ["UV_INDEX_URL", "UV_DEFAULT_INDEX"] {
        if let Some(url) = env.var(name) {
            let i = status.var(name, url);
            status.set_effective(i);
        }
    }
    for name in ["UV_INDEX", "UV_EXTRA_INDEX_URL"] {
        if let Some(value) = env.var(name) {
            for url in value.split_whitespace() {
                let url = url.split_once('=').map_or(url, |(_, u)| u);
                let i = status.var(name, url);
                status.extra(i);
            }
        }
    }
    find_credentials(ctx, &mut status);
    status
}

/// The netrc entry uv would send to repox.
fn find_credentials(ctx: &Context, status: &mut Status) {
    netrc::status(&ctx.env, status);
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn publish_sets_the_upload_url() {
        let mut t = target("http://127.0.0.1:8078/");
        t.publish = Some("pypi-releases".into());
        let new = edit("", &t).unwrap();
        assert!(
            new.contains("publish-url = \"http://127.0.0.1:8078/pypi-releases/\""),
            "{new}"
        );
        assert_eq!(edit(&new, &t).unwrap(), new);
        assert!(
            !edit("", &target("http://127.0.0.1:8078/"))
                .unwrap()
                .contains("publish-url")
        );
    }

    const BEFORE: &str = r#"# uv user configuration
native-tls = true   # corporate proxy

[[index]]
name = "pytorch"
url = "https://download.pytorch.org/whl/cpu"
explicit = true

# the old mirror
[[index]]
name = "tuna"
url = "https://pypi.tuna.tsinghua.edu.cn/simple"
default = true

[pip]
# keep compiled bytecode
compile-bytecode = true
"#;

    #[test]
    fn before_after() {
        let after = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("uv_before_after", after);
        assert_eq!(
            edit(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn empty_file() {
        let after = edit("", &target("http://127.0.0.1:8078/")).unwrap();
        assert_eq!(
            after,
            "[[index]]\nname = \"repox\"\nurl = \"http://127.0.0.1:8078/pypi/simple/\"\ndefault = true\n\n[pip]\nindex-url = \"http://127.0.0.1:8078/pypi/simple/\"\n"
        );
    }

    #[test]
    fn credentials_make_uv_authenticate_from_the_first_request() {
        let mut t = target("http://127.0.0.1:8078/");
        t.credentials = Some(super::super::target::Credentials {
            username: Some("al".into()),
            token: "repox-t".into(),
            password: false,
        });
        let after = edit("", &t).unwrap();
        assert!(after.contains("authenticate = \"always\"\n"), "{after}");
        assert!(!after.contains("repox-t"), "{after}");
        assert_eq!(edit(&after, &t).unwrap(), after);
    }

    #[test]
    fn url_change_updates_in_place() {
        let once = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        let twice = edit(&once, &target("http://127.0.0.1:9000/")).unwrap();
        assert_eq!(twice, once.replace(":8078/", ":9000/"));
    }

    #[test]
    fn legacy_index_url_and_pyproject() {
        let before =
            "[project]\nname = \"app\"\n\n[tool.uv]\nindex-url = \"https://pypi.org/simple\"\n";
        let after = edit_at(before, &target("http://127.0.0.1:8078/"), &["tool", "uv"]).unwrap();
        insta::assert_snapshot!("uv_pyproject", after);
    }

    #[test]
    fn malformed() {
        let err = edit("[pip]\nindex-url = \n", &target("http://127.0.0.1:8078/")).unwrap_err();
        assert_eq!(err.line, 2);
        let err = edit("index = 3\n", &target("http://127.0.0.1:8078/")).unwrap_err();
        assert!(err.message.contains("array of tables"), "{}", err.message);
    }
}
