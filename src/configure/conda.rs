//! conda, mamba and micromamba: `channel_alias`, `default_channels`, and when needed
//! `custom_channels` and `mirrored_channels` in `.condarc`.
//!
//! repox serves `conda.anaconda.org/<channel>` at `/conda/<channel>` and
//! `repo.anaconda.com/pkgs/<name>` at `/conda/pkgs/<name>`, so a `channel_alias` of `…/conda/`
//! sends every bare channel name (`conda-forge`, `bioconda`) through repox and `default_channels`
//! covers `defaults`. Two things can still bypass it, both set outside the user's file in real
//! installs: `custom_channels` entries (conda appends the channel name to the URL,
//! `models/channel.py`), rewritten here when they point at anaconda.org or one of its mirrors; and
//! libmamba's `mirrored_channels`, which Miniforge ships in its base `.condarc` — repox then sets
//! the same channel names to its own URL. Channel lists (`channels:`) are the user's and are not
//! touched; `--status` flags full upstream URLs in them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use yaml_serde::Value;

use super::env::{Env, Os};
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::yaml::{self, Node};
use super::{Client, Scope};
use crate::settings::Hinted;

/// What other rc files of the installation define, which the edited file must override.
#[derive(Debug, Clone, Default)]
pub struct Inherited {
    /// Channel names in some `mirrored_channels`.
    pub mirrored: BTreeSet<String>,
    /// `custom_channels` entries (name → base URL).
    pub custom: BTreeMap<String, String>,
    /// Add `pkgs/msys2` to `default_channels` (conda's default on Windows).
    pub windows: bool,
}

/// Sets repox's channel keys in the text of a `.condarc`.
pub fn edit(old: &str, target: &Target, inherited: &Inherited) -> Result<String, Malformed> {
    let doc = yaml::parse(old)?;
    let base = target.conda();
    let base_no_slash = base.trim_end_matches('/').to_owned();
    let mut wanted: Vec<(&str, Node)> = vec![("channel_alias", Node::Str(base.clone()))];

    let mut defaults = vec![format!("{base}pkgs/main"), format!("{base}pkgs/r")];
    if inherited.windows {
        defaults.push(format!("{base}pkgs/msys2"));
    }
    wanted.push(("default_channels", Node::List(defaults)));

    // custom_channels: this file's entries, plus inherited ones that point at anaconda.org.
    let mut custom: BTreeMap<String, Node> = BTreeMap::new();
    let mut custom_changes = false;
    if let Some(Value::Mapping(map)) = doc.get("custom_channels") {
        for (k, v) in map {
            let (Some(name), Some(url)) = (k.as_str(), v.as_str()) else {
                continue;
            };
            let url = if is_anaconda_like(url) && !target.serves(url) {
                custom_changes = true;
                base_no_slash.clone()
            } else {
                url.to_owned()
            };
            custom.insert(name.to_owned(), Node::Str(url));
        }
    }
    for (name, url) in &inherited.custom {
        if is_anaconda_like(url) && !target.serves(url) && !custom.contains_key(name) {
            custom.insert(name.clone(), Node::Str(base_no_slash.clone()));
            custom_changes = true;
        }
    }
    if custom_changes {
        wanted.push(("custom_channels", Node::Map(custom)));
    }

    // mirrored_channels (libmamba 2): every channel name mirrored anywhere goes to repox only.
    let mut mirrored: BTreeSet<String> = inherited.mirrored.clone();
    if let Some(Value::Mapping(map)) = doc.get("mirrored_channels") {
        mirrored.extend(map.keys().filter_map(|k| k.as_str().map(str::to_owned)));
    }
    if !mirrored.is_empty() {
        let map = mirrored
            .into_iter()
            .map(|name| {
                let url = format!("{base}{name}");
                (name, Node::List(vec![url]))
            })
            .collect();
        wanted.push(("mirrored_channels", Node::Map(map)));
    }

    let new = yaml::set(old, &doc, &wanted);
    verify(&new, &doc, &wanted)?;
    Ok(new)
}

/// Parses the result and checks that the owned keys hold what was wanted and every other key is
/// unchanged.
fn verify(new: &str, old: &yaml::Doc, wanted: &[(&str, Node)]) -> Result<(), Malformed> {
    let doc = yaml::parse(new).map_err(|e| {
        Malformed::new(
            e.line,
            format!("internal error: result does not parse: {}", e.message),
        )
    })?;
    for (key, node) in wanted {
        if doc.get(key) != Some(&node.to_value()) {
            return Err(Malformed::new(
                1,
                format!("internal error: `{key}` does not read back"),
            ));
        }
    }
    if let Some(map) = old.value.as_mapping() {
        for (k, v) in map {
            let owned = k
                .as_str()
                .is_some_and(|k| wanted.iter().any(|(w, _)| *w == k));
            if !owned && doc.value.as_mapping().and_then(|m| m.get(k)) != Some(v) {
                return Err(Malformed::new(1, format!("internal error: {k:?} changed")));
            }
        }
    }
    Ok(())
}

/// anaconda.org itself, prefix.dev, or a mirror of anaconda.org's channels (`…/anaconda/cloud`,
/// the layout of TUNA, USTC, BFSU and other university mirrors).
fn is_anaconda_like(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return false;
    };
    let host = parsed.host_str().unwrap_or("");
    host == "conda.anaconda.org"
        || host == "repo.anaconda.com"
        || host == "prefix.dev"
        || host == "repo.prefix.dev"
        || parsed
            .path()
            .trim_end_matches('/')
            .ends_with("/anaconda/cloud")
}

/// The base installation (`$CONDA_ROOT`, the prefix of `$CONDA_EXE`, `$MAMBA_ROOT_PREFIX`, the
/// prefix of `conda`/`mamba` on `PATH`, or a usual install directory).
fn root(env: &Env) -> Option<PathBuf> {
    let from_exe = |exe: PathBuf| {
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        exe.parent()?.parent().map(Path::to_path_buf)
    };
    env.path_var("CONDA_ROOT")
        .or_else(|| env.path_var("CONDA_EXE").and_then(from_exe))
        .or_else(|| env.path_var("MAMBA_ROOT_PREFIX"))
        .or_else(|| {
            ["conda", "mamba", "micromamba"]
                .iter()
                .find_map(|e| env.which(e))
                .and_then(from_exe)
                .filter(|r| r.join("conda-meta").is_dir())
        })
        .or_else(|| {
            ["miniforge3", "mambaforge", "miniconda3", "anaconda3"]
                .iter()
                .map(|d| env.home.join(d))
                .find(|d| d.join("conda-meta").is_dir())
        })
}

fn system_dir(env: &Env) -> PathBuf {
    match env.os {
        Os::Windows => env.programdata().join("conda"),
        _ => PathBuf::from("/etc/conda"),
    }
}

/// Every rc file conda and mamba read, lowest precedence first (conda `SEARCH_PATH`, libmamba
/// `configuration.cpp`).
fn search_path(env: &Env) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![system_dir(env)];
    if env.os != Os::Windows {
        dirs.push(PathBuf::from("/var/lib/conda"));
    }
    dirs.extend(root(env));
    if let Some(xdg) = env.path_var("XDG_CONFIG_HOME") {
        dirs.push(xdg.join("conda"));
    }
    dirs.push(env.home.join(".config").join("conda"));
    dirs.push(env.home.join(".conda"));
    let mut files = Vec::new();
    let rc_dir = |dir: &Path, files: &mut Vec<PathBuf>| {
        files.push(dir.join(".condarc"));
        files.push(dir.join("condarc"));
        if let Ok(read) = std::fs::read_dir(dir.join("condarc.d")) {
            let mut extra: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect();
            extra.sort();
            files.extend(extra);
        }
    };
    for dir in &dirs {
        rc_dir(dir, &mut files);
    }
    files.push(env.home.join(".condarc"));
    if let Some(prefix) = env.path_var("CONDA_PREFIX") {
        rc_dir(&prefix, &mut files);
    }
    files.extend(env.path_var("CONDARC"));
    files.push(env.home.join(".mambarc"));
    files.extend(env.path_var("MAMBARC"));
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

/// The file `scope` edits.
fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => env.home.join(".condarc"),
        Scope::Global => root(env)
            .unwrap_or_else(|| system_dir(env))
            .join(".condarc"),
        Scope::Project => env
            .path_var("CONDA_PREFIX")
            .ok_or_else(|| Hinted {
                message: "conda has no project file; --scope project means the active \
                          environment, and none is active ($CONDA_PREFIX is unset)"
                    .to_owned(),
                hint: "run `conda activate ENV` first, or use --scope user".to_owned(),
            })?
            .join(".condarc"),
    })
}

fn inherited(env: &Env, edited: &Path) -> Inherited {
    let mut inherited = Inherited {
        windows: env.os == Os::Windows,
        ..Inherited::default()
    };
    for path in search_path(env) {
        if path == edited {
            continue;
        }
        let Ok(Some(text)) = super::files::read(&path) else {
            continue;
        };
        let Ok(doc) = yaml::parse(&text) else {
            continue;
        };
        if let Some(Value::Mapping(map)) = doc.get("mirrored_channels") {
            inherited
                .mirrored
                .extend(map.keys().filter_map(|k| k.as_str().map(str::to_owned)));
        }
        if let Some(Value::Mapping(map)) = doc.get("custom_channels") {
            for (k, v) in map {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                    inherited.custom.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }
    inherited
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let inherited = inherited(&ctx.env, &path);
    let mut plan = Plan::new(Client::Conda, ctx.scope);
    plan.edits.push(FileEdit::compute(
        Client::Conda,
        &path,
        ctx.target.credentials.is_some(),
        |old| edit(old, &ctx.target, &inherited),
    )?);
    plan.notes
        .push("run `conda clean --index-cache` so conda fetches repodata through repox".to_owned());
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    ["conda", "mamba", "micromamba"]
        .iter()
        .any(|e| env.which(e).is_some())
        || env.home.join(".condarc").exists()
        || root(env).is_some()
}

/// Channel settings of every rc file, in conda's load order (scalars: last wins; lists merge).
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Conda, "https://conda.anaconda.org/", &ctx.target);
    let mut custom: BTreeMap<String, usize> = BTreeMap::new();
    let mut mirrored: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for path in search_path(env) {
        let Some(doc) = status.read(env, &path, yaml::parse) else {
            continue;
        };
        if let Some(alias) = doc.get("channel_alias").and_then(Value::as_str) {
            let i = status.file(env, &path, "channel_alias", alias);
            status.set_effective(i);
        }
        for url in strings(doc.get("default_channels")) {
            let i = status.file(env, &path, "default_channels", &url);
            status.extra(i);
        }
        for url in strings(doc.get("channels"))
            .into_iter()
            .filter(|c| c.contains("://"))
        {
            let i = status.file(env, &path, "channels", &url);
            status.extra(i);
        }
        if let Some(Value::Mapping(map)) = doc.get("custom_channels") {
            for (k, v) in map {
                if let (Some(name), Some(url)) = (k.as_str(), v.as_str()) {
                    let full = format!("{}/{name}", url.trim_end_matches('/'));
                    let i = status.file(env, &path, format!("custom_channels.{name}"), &full);
                    custom.insert(name.to_owned(), i);
                }
            }
        }
        if let Some(Value::Mapping(map)) = doc.get("mirrored_channels") {
            for (k, v) in map {
                if let Some(name) = k.as_str() {
                    let found = strings(Some(v))
                        .iter()
                        .map(|url| {
                            status.file(env, &path, format!("mirrored_channels.{name}"), url)
                        })
                        .collect();
                    mirrored.insert(name.to_owned(), found);
                }
            }
        }
    }
    // Per channel name, only the highest-precedence entry is used.
    for i in custom.into_values().chain(mirrored.into_values().flatten()) {
        status.extra(i);
    }
    if let Some(alias) = env.var("CONDA_CHANNEL_ALIAS") {
        let i = status.var("CONDA_CHANNEL_ALIAS", alias);
        status.set_effective(i);
    }
    status
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configure::Scope;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    const BEFORE: &str = "\
# ~/.condarc
channels:
  - conda-forge
  - defaults
show_channel_urls: true

# TUNA mirror, disabled 2024-05
# default_channels:
#   - https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main
custom_channels:
  conda-forge: https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud
  internal: https://conda.corp.example/channels
ssl_verify: true   # corporate CA is in the system store
";

    #[test]
    fn before_after() {
        let after = edit(
            BEFORE,
            &target("http://127.0.0.1:8078/"),
            &Inherited::default(),
        )
        .unwrap();
        insta::assert_snapshot!("condarc_before_after", after);
        assert_eq!(
            edit(
                &after,
                &target("http://127.0.0.1:8078/"),
                &Inherited::default()
            )
            .unwrap(),
            after
        );
    }

    #[test]
    fn miniforge_base_mirrors_are_overridden() {
        let inherited = Inherited {
            mirrored: ["conda-forge".to_owned()].into(),
            custom: [(
                "pytorch".to_owned(),
                "https://conda.anaconda.org".to_owned(),
            )]
            .into(),
            windows: false,
        };
        let after = edit("", &target("http://127.0.0.1:8078/"), &inherited).unwrap();
        insta::assert_snapshot!("condarc_miniforge", after);
    }

    #[test]
    fn credentials_go_in_the_urls() {
        let mut t = target("https://repox.corp/");
        t.credentials = Some(super::super::target::Credentials {
            username: None,
            token: "tok".into(),
            password: false,
        });
        let after = edit("", &t, &Inherited::default()).unwrap();
        assert!(
            after.starts_with("channel_alias: https://__token__:tok@repox.corp/conda/\n"),
            "{after}"
        );
    }

    #[test]
    fn malformed_file_names_the_line() {
        let err = edit(
            "channels:\n  - a\n b: [\n",
            &target("http://127.0.0.1/"),
            &Inherited::default(),
        )
        .unwrap_err();
        assert!(err.line >= 3, "{err}");
    }

    #[test]
    fn miniforge_install_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let root = dir.path().join("miniforge3");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join(".condarc"),
            "channels:\n  - conda-forge\nmirrored_channels:\n  conda-forge:\n    - \"https://conda.anaconda.org/conda-forge\"\n    - \"https://prefix.dev/conda-forge\"\n",
        )
        .unwrap();
        let env = Env::fake(
            &home,
            &home,
            Os::Linux,
            &[("CONDA_ROOT", root.to_str().unwrap())],
        );
        let ctx = Context {
            env,
            target: target("http://127.0.0.1:8078/"),
            scope: Scope::User,
        };
        let before = status(&ctx);
        assert!(!before.all_repox(), "{}", before.render());

        let plan = plan(&ctx).unwrap();
        assert_eq!(plan.edits[0].path, home.join(".condarc"));
        let after = plan.edits[0].after.clone().unwrap();
        assert!(
            after.contains("mirrored_channels:\n  conda-forge:\n    - http://127.0.0.1:8078/conda/conda-forge\n"),
            "{after}"
        );
        std::fs::write(home.join(".condarc"), after).unwrap();
        let status = status(&ctx);
        assert!(status.all_repox(), "{}", status.render());
        assert!(
            status
                .render()
                .starts_with("conda: via repox: http://127.0.0.1:8078/conda/")
        );
    }

    #[test]
    fn anaconda_like_urls() {
        assert!(is_anaconda_like("https://conda.anaconda.org"));
        assert!(is_anaconda_like(
            "https://mirrors.ustc.edu.cn/anaconda/cloud/"
        ));
        assert!(!is_anaconda_like("https://conda.corp.example/channels"));
    }
}
