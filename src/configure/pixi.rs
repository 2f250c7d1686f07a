//! pixi (and rattler-build): `[mirrors]` in pixi's `config.toml`.
//!
//! pixi's mirrors are URL prefixes mapped to replacement lists; rattler strips the longest
//! matching prefix and joins the rest onto the mirror URL (`mirror_middleware.rs`), so mirror
//! URLs end with `/`. repox maps conda.anaconda.org (`/conda/`), repo.anaconda.com/pkgs
//! (`/conda/pkgs/`), pypi.org/simple (`/pypi/simple/`) and files.pythonhosted.org (`/pypi/`,
//! since repox serves `files.pythonhosted.org/packages/…` at `/pypi/packages/…`). A more specific
//! key the user already has under one of those prefixes (say a TUNA mirror of
//! `conda.anaconda.org/conda-forge`) would win by length, so it is pointed at repox too.

use std::path::PathBuf;

use toml_edit::{Array, Item, Value};

use super::env::{Env, Os};
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::tomldoc;
use super::{Client, Scope};

/// Upstream prefix → path under the repox base.
const MIRRORS: &[(&str, &str)] = &[
    ("https://conda.anaconda.org", "conda/"),
    ("https://repo.anaconda.com/pkgs", "conda/pkgs/"),
    ("https://pypi.org/simple", "pypi/simple/"),
    ("https://files.pythonhosted.org", "pypi/"),
];

/// The repox URL for a mirror key, if the key lies under one of repox's upstreams.
fn replacement(target: &Target, key: &str) -> Option<String> {
    let key = key.trim().trim_end_matches('/');
    MIRRORS.iter().find_map(|(prefix, path)| {
        let rest = key.strip_prefix(prefix)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let rest = rest.trim_start_matches('/');
        let mut url = target.join_with_userinfo(path).to_string();
        if !rest.is_empty() {
            url.push_str(rest);
            url.push('/');
        }
        Some(url)
    })
}

/// Sets repox's mirrors in the text of a pixi `config.toml`.
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    let mut doc = tomldoc::parse(old)?;
    let mirrors = tomldoc::table_mut(doc.as_table_mut(), &["mirrors"])?;
    let existing: Vec<String> = mirrors.iter().map(|(k, _)| k.to_owned()).collect();
    for key in &existing {
        if let Some(url) = replacement(target, key) {
            set_list(mirrors, key, &url);
        }
    }
    for (prefix, _) in MIRRORS {
        let present = existing.iter().any(|k| k.trim_end_matches('/') == *prefix);
        if !present {
            let url = replacement(target, prefix).expect("a prefix replaces itself");
            set_list(mirrors, prefix, &url);
        }
    }
    let new = doc.to_string();
    verify(&new, target)?;
    Ok(new)
}

/// `mirrors[key] = [url]` unless it already is exactly that.
fn set_list(mirrors: &mut toml_edit::Table, key: &str, url: &str) {
    let current: Option<Vec<&str>> = mirrors
        .get(key)
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    if current.as_deref() == Some(&[url][..]) {
        return;
    }
    let mut array = Array::new();
    array.push(url);
    tomldoc::set(mirrors, key, Value::Array(array));
}

fn verify(new: &str, target: &Target) -> Result<(), Malformed> {
    let value: toml::Table = toml::from_str(new)
        .map_err(|e| Malformed::new(1, format!("internal error: result is not TOML: {e}")))?;
    let mirrors = value.get("mirrors").and_then(|m| m.as_table());
    for (prefix, _) in MIRRORS {
        let first = mirrors
            .and_then(|m| m.get(*prefix))
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(|v| v.as_str());
        if !first.is_some_and(|u| target.serves(u)) {
            return Err(Malformed::new(
                1,
                format!("internal error: mirror of {prefix} does not read back"),
            ));
        }
    }
    Ok(())
}

fn xdg_user_file(env: &Env) -> PathBuf {
    match env.os {
        Os::Windows => env.appdata().join("pixi").join("config.toml"),
        Os::Mac => env.mac_app_support().join("pixi").join("config.toml"),
        Os::Linux => env.xdg_config_home().join("pixi").join("config.toml"),
    }
}

/// Every config file pixi reads, lowest precedence first (pixi `pixi_configuration.md`).
fn files(env: &Env) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match env.os {
        Os::Windows => {
            files.push(env.programdata().join("rattler").join("config.toml"));
            files.push(env.programdata().join("pixi").join("config.toml"));
            files.push(env.appdata().join("rattler").join("config.toml"));
        }
        _ => {
            files.push(PathBuf::from("/etc/rattler/config.toml"));
            files.push(PathBuf::from("/etc/pixi/config.toml"));
            files.push(env.home.join(".config").join("rattler").join("config.toml"));
            if let Some(xdg) = env.path_var("XDG_CONFIG_HOME") {
                files.push(xdg.join("rattler").join("config.toml"));
            }
        }
    }
    files.extend(env.path_var("RATTLER_HOME").map(|d| d.join("config.toml")));
    if env.os != Os::Windows {
        files.push(env.home.join(".config").join("pixi").join("config.toml"));
    }
    files.push(xdg_user_file(env));
    files.push(env.home.join(".pixi").join("config.toml"));
    files.extend(env.path_var("PIXI_HOME").map(|d| d.join("config.toml")));
    files.extend(project_file(env));
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

fn project_file(env: &Env) -> Option<PathBuf> {
    env.find_up(&["pixi.toml"])
        .or_else(|| env.find_up(&["pyproject.toml"]))
        .map(|root| root.join(".pixi").join("config.toml"))
}

/// The file `scope` edits: for the user, the highest-precedence user file that exists
/// (`$PIXI_HOME`, then `~/.pixi`), else the platform config directory.
fn file(env: &Env, scope: Scope) -> PathBuf {
    match scope {
        Scope::User => env
            .path_var("PIXI_HOME")
            .map(|d| d.join("config.toml"))
            .into_iter()
            .chain([env.home.join(".pixi").join("config.toml")])
            .find(|f| f.is_file())
            .unwrap_or_else(|| xdg_user_file(env)),
        Scope::Global => match env.os {
            Os::Windows => env.programdata().join("pixi").join("config.toml"),
            _ => PathBuf::from("/etc/pixi/config.toml"),
        },
        Scope::Project => {
            project_file(env).unwrap_or_else(|| env.cwd.join(".pixi").join("config.toml"))
        }
    }
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope);
    let mut plan = Plan::new(Client::Pixi, ctx.scope);
    plan.edits.push(FileEdit::compute(
        Client::Pixi,
        &path,
        ctx.target.credentials.is_some(),
        |old| edit(old, &ctx.target),
    )?);
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    env.which("pixi").is_some() || xdg_user_file(env).exists() || env.home.join(".pixi").is_dir()
}

/// The mirror of each upstream repox serves, per file (a later file's key wins).
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Pixi, "https://conda.anaconda.org/", &ctx.target);
    let mut last: std::collections::BTreeMap<String, usize> = Default::default();
    if env.var("PIXI_NO_CONFIG").is_some() {
        status.note("PIXI_NO_CONFIG disables pixi config files");
        return status;
    }
    for path in files(env) {
        let Some(doc) = status.read(env, &path, tomldoc::parse) else {
            continue;
        };
        let Some(mirrors) = doc.get("mirrors").and_then(Item::as_table_like) else {
            continue;
        };
        for (key, item) in mirrors.iter() {
            let first = item
                .as_array()
                .and_then(|a| a.iter().next())
                .and_then(Value::as_str);
            if let Some(url) = first {
                let i = status.file(env, &path, format!("mirrors.\"{key}\""), url);
                last.insert(key.trim_end_matches('/').to_owned(), i);
            }
        }
    }
    for (prefix, _) in MIRRORS {
        match last.remove(*prefix) {
            Some(i) if *prefix == MIRRORS[0].0 => status.set_effective(i),
            Some(i) => status.extra(i),
            None if *prefix == MIRRORS[0].0 => {}
            None => {
                status.direct(&format!("mirror of {prefix}"), prefix);
            }
        }
    }
    for i in last.into_values() {
        status.extra(i);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    const BEFORE: &str = r#"# pixi global configuration
default-channels = ["conda-forge"]

[mirrors]
# use the university mirror for conda-forge
"https://conda.anaconda.org/conda-forge" = [
    "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/conda-forge",
]
"https://example.org/internal" = ["https://internal.example.org/"]

[repodata-config]
disable-jlap = true
"#;

    #[test]
    fn before_after() {
        let after = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("pixi_before_after", after);
        assert_eq!(
            edit(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn replacements_keep_the_path() {
        let t = target("http://127.0.0.1:8078/");
        assert_eq!(
            replacement(&t, "https://conda.anaconda.org/conda-forge").as_deref(),
            Some("http://127.0.0.1:8078/conda/conda-forge/")
        );
        assert_eq!(
            replacement(&t, "https://files.pythonhosted.org/").as_deref(),
            Some("http://127.0.0.1:8078/pypi/")
        );
        assert_eq!(replacement(&t, "https://conda.anaconda.org.evil"), None);
        assert_eq!(replacement(&t, "https://example.org/x"), None);
    }

    #[test]
    fn new_file() {
        let after = edit("", &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("pixi_new", after);
    }
}
