//! pip: `index-url` in `pip.conf` (`pip.ini` on Windows).
//!
//! repox sets `[global] index-url` so that `pip install`, `download` and `wheel` all use it, and
//! rewrites `index-url` in any command section (`[install]`, …) that would otherwise override
//! it. `trusted-host` is added only for plain http to a non-loopback host: pip already treats
//! `localhost`, `127.0.0.0/8` and `::1` as secure origins (`network/session.py`). Files are
//! located as pip's `configuration.py` does; `pip config` itself would drop comments
//! (`RawConfigParser.write`), so the file is edited line by line instead.

use std::path::PathBuf;

use super::env::{Env, Os};
use super::ini;
use super::netrc;
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::{Malformed, Splices, needs_separator};
use super::{Client, Scope};
use crate::settings::Hinted;

/// Keys pip reads as the index URL (`--index-url` and its alias `--pypi-url`).
const INDEX_KEYS: &[&str] = &["index-url", "pypi-url"];
const TRUSTED_KEYS: &[&str] = &["trusted-host"];

/// Sets the index URL (and `trusted-host` when needed) in the text of a `pip.conf`.
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    let ini = ini::parse(old)?;
    let lines = super::text::lines(old);
    let url = target.pypi_simple();
    let trusted = target.is_insecure_remote().then(|| target.host_port());
    let mut splices = Splices::default();

    for section in &ini.sections {
        for entry in section.find(INDEX_KEYS) {
            if entry.value != url {
                splices.replace(
                    entry.first,
                    entry.end,
                    vec![ini::with_value(lines[entry.first], &url)],
                );
            }
        }
        if let Some(host) = &trusted {
            for entry in section.find(TRUSTED_KEYS) {
                let present = entry
                    .value
                    .split_whitespace()
                    .any(|h| h == host || h == target.host());
                if !present {
                    // Append to the option's last line: a one-line value grows in place, a
                    // multi-line value gets the host on its last continuation line.
                    let last = super::text::content(lines[entry.end - 1]);
                    let line = format!("{} {host}", last.trim_end());
                    splices.replace(entry.end - 1, entry.end, vec![line]);
                }
            }
        }
    }

    let mut new_global = Vec::new();
    match ini.section("global") {
        Some(global) => {
            if global.find(INDEX_KEYS).next().is_none() {
                new_global.push(format!("index-url = {url}"));
            }
            if let Some(host) = &trusted
                && global.find(TRUSTED_KEYS).next().is_none()
            {
                new_global.push(format!("trusted-host = {host}"));
            }
            if !new_global.is_empty() {
                splices.insert(global.insertion_point(), new_global);
            }
        }
        None => {
            let mut block = Vec::new();
            if needs_separator(old) {
                block.push(String::new());
            }
            block.push("[global]".to_owned());
            block.push(format!("index-url = {url}"));
            if let Some(host) = &trusted {
                block.push(format!("trusted-host = {host}"));
            }
            splices.insert(ini.len, block);
        }
    }
    let new = splices.apply(old);
    verify(&new, &url)?;
    Ok(new)
}

/// Parses the result again, with pip's rules and with the `configparser` crate, and checks that
/// `[global] index-url` is the URL.
fn verify(new: &str, url: &str) -> Result<(), Malformed> {
    let ini = ini::parse(new)?;
    let ok = ini
        .section("global")
        .and_then(|s| s.find(INDEX_KEYS).next())
        .is_some_and(|e| e.value == url);
    let mut crate_view = configparser::ini::Ini::new_cs();
    crate_view.set_multiline(true);
    crate_view.set_inline_comment_symbols(Some(&[]));
    let crate_ok = crate_view
        .read(new.to_owned())
        .ok()
        .and_then(|_| {
            crate_view
                .get("global", "index-url")
                .or_else(|| crate_view.get("global", "index_url"))
        })
        .is_some_and(|v| v == url);
    if ok && crate_ok {
        Ok(())
    } else {
        Err(Malformed::new(
            1,
            "internal error: the edited file does not read back",
        ))
    }
}

fn file_name(os: Os) -> &'static str {
    if os == Os::Windows {
        "pip.ini"
    } else {
        "pip.conf"
    }
}

/// The current user file: `%APPDATA%\pip\pip.ini`; on macOS `~/Library/Application
/// Support/pip/pip.conf` when that directory exists; else `$XDG_CONFIG_HOME/pip/pip.conf`.
fn user_file(env: &Env) -> PathBuf {
    match env.os {
        Os::Windows => env.appdata().join("pip").join("pip.ini"),
        Os::Mac if env.mac_app_support().join("pip").is_dir() => {
            env.mac_app_support().join("pip").join("pip.conf")
        }
        _ => env.xdg_config_home().join("pip").join("pip.conf"),
    }
}

fn legacy_user_file(env: &Env) -> PathBuf {
    env.home
        .join(if env.os == Os::Windows { "pip" } else { ".pip" })
        .join(file_name(env.os))
}

fn global_files(env: &Env) -> Vec<PathBuf> {
    match env.os {
        Os::Windows => vec![env.programdata().join("pip").join("pip.ini")],
        Os::Mac => vec![PathBuf::from("/Library/Application Support/pip/pip.conf")],
        Os::Linux => {
            let dirs = env.var("XDG_CONFIG_DIRS").unwrap_or("/etc/xdg");
            let mut files: Vec<PathBuf> = std::env::split_paths(dirs)
                .filter(|d| d.is_absolute())
                .map(|d| d.join("pip").join("pip.conf"))
                .collect();
            files.push(PathBuf::from("/etc/pip.conf"));
            files
        }
    }
}

/// The active virtualenv (`$VIRTUAL_ENV`, else a `.venv` of the project).
fn venv(env: &Env) -> Option<PathBuf> {
    env.path_var("VIRTUAL_ENV")
        .or_else(|| env.find_up(&[".venv"]).map(|d| d.join(".venv")))
}

/// The file `scope` edits.
pub fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => user_file(env),
        Scope::Global => global_files(env).pop().expect("at least one global file"),
        Scope::Project => venv(env)
            .ok_or_else(|| Hinted {
                message: "pip has no project file; --scope project means the active virtualenv, \
                          and none is active ($VIRTUAL_ENV is unset, no .venv found)"
                    .to_owned(),
                hint: "activate the virtualenv first, or use --scope user".to_owned(),
            })?
            .join(file_name(env.os)),
    })
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let mut plan = Plan::new(Client::Pip, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Pip, &path, false, |old| {
            edit(old, &ctx.target)
        })?);
    plan.edits.extend(netrc::plan_edit(ctx, Client::Pip)?);
    if let Some(repo) = &ctx.target.publish {
        let pypirc = ctx.env.home.join(".pypirc");
        plan.edits.push(FileEdit::compute(
            Client::Pip,
            &pypirc,
            ctx.target.credentials.is_some(),
            |old| super::pypirc::edit(old, &ctx.target, repo),
        )?);
        plan.notes.push(format!(
            "publish with `twine upload -r {} dist/*` (to /{repo}/)",
            super::pypirc::SECTION
        ));
    }
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    ["pip", "pip3"].iter().any(|e| env.which(e).is_some()) || user_file(env).exists()
}

/// Every file and variable that sets pip's index, in pip's load order (later wins; a command
/// section such as `[install]` beats `[global]` whatever the file; `PIP_*` variables beat files).
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Pip, "https://pypi.org/simple", &ctx.target);
    let config_file = env.var("PIP_CONFIG_FILE").map(PathBuf::from);
    if config_file
        .as_deref()
        .is_some_and(|p| p == std::path::Path::new("/dev/null") || p.as_os_str() == "nul")
    {
        status.note("PIP_CONFIG_FILE disables every pip config file");
    } else {
        let skip_user = config_file.as_deref().is_some_and(|p| p.exists());
        let mut files = global_files(env);
        if skip_user {
            status.note("PIP_CONFIG_FILE names an existing file, so pip skips the user files");
        } else {
            files.push(legacy_user_file(env));
            files.push(user_file(env));
        }
        if let Some(venv) = venv(env) {
            files.push(venv.join(file_name(env.os)));
        }
        files.extend(config_file);
        let (mut global, mut install) = (None, None);
        for path in files {
            let Some(ini) = status.read(env, &path, ini::parse) else {
                continue;
            };
            for section in &ini.sections {
                let setting = |key: &str| format!("[{}] {key}", section.name);
                for entry in section.find(INDEX_KEYS) {
                    let i = status.file(env, &path, setting(&entry.key), &entry.value);
                    match section.name.as_str() {
                        "global" => global = Some(i),
                        "install" => install = Some(i),
                        _ => {}
                    }
                }
                for entry in section.find(&["extra-index-url"]) {
                    for url in entry.value.split_whitespace() {
                        let i = status.file(env, &path, setting(&entry.key), url);
                        status.extra(i);
                    }
                }
            }
        }
        if let Some(i) = install.or(global) {
            status.set_effective(i);
        }
    }
    for name in ["PIP_INDEX_URL", "PIP_PYPI_URL"] {
        if let Some(value) = env.var(name) {
            let i = status.var(name, value);
            status.set_effective(i);
        }
    }
    if let Some(value) = env.var("PIP_EXTRA_INDEX_URL") {
        for url in value.split_whitespace() {
            let i = status.var("PIP_EXTRA_INDEX_URL", url);
            status.extra(i);
        }
    }
    find_credentials(ctx, &mut status);
    status
}

/// The netrc entry pip would send to repox.
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

    const BEFORE: &str = "\
# pip configuration — managed by hand
[global]
timeout = 60
index-url = https://mirrors.example.cn/pypi/simple
# cert = /etc/ssl/corp.pem

[install]
; per-command override
index-url = https://pypi.org/simple
no-compile = yes

[freeze]
timeout = 10
";

    #[test]
    fn before_after() {
        let after = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("pip_loopback", after);
    }

    #[test]
    fn remote_http_adds_trusted_host() {
        let after = edit(BEFORE, &target("http://repox.lan:8078/")).unwrap();
        insta::assert_snapshot!("pip_remote_http", after);
        assert_eq!(
            edit(&after, &target("http://repox.lan:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn existing_trusted_host_grows() {
        let before =
            "[global]\ntrusted-host =\n    a.example\n    b.example\n[install]\ntrusted-host = c\n";
        let after = edit(before, &target("http://repox.lan/")).unwrap();
        assert_eq!(
            after,
            "[global]\ntrusted-host =\n    a.example\n    b.example repox.lan\nindex-url = http://repox.lan/pypi/simple/\n[install]\ntrusted-host = c repox.lan\n"
        );
    }

    #[test]
    fn empty_and_missing_global() {
        let t = target("http://127.0.0.1:8078/");
        assert_eq!(
            edit("", &t).unwrap(),
            "[global]\nindex-url = http://127.0.0.1:8078/pypi/simple/\n"
        );
        assert_eq!(
            edit("[install]\nno-compile = yes", &t).unwrap(),
            "[install]\nno-compile = yes\n\n[global]\nindex-url = http://127.0.0.1:8078/pypi/simple/\n"
        );
    }

    #[test]
    fn idempotent_and_crlf() {
        let t = target("http://127.0.0.1:8078/");
        let crlf = BEFORE.replace('\n', "\r\n");
        let once = edit(&crlf, &t).unwrap();
        assert!(
            !once.replace("\r\n", "").contains('\n'),
            "mixed line endings: {once:?}"
        );
        assert_eq!(edit(&once, &t).unwrap(), once);
    }

    #[test]
    fn credentials_go_to_netrc_not_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::fake(dir.path(), dir.path(), Os::Linux, &[]);
        let mut t = target("https://repox.corp/");
        t.credentials = Some(super::super::target::Credentials {
            username: Some("ci".into()),
            token: "repox-s3cret".into(),
            password: false,
        });
        let ctx = Context {
            env,
            target: t,
            scope: Scope::User,
        };
        let plan = plan(&ctx).unwrap();
        assert_eq!(
            plan.edits[0].after.as_deref(),
            Some("[global]\nindex-url = https://repox.corp/pypi/simple/\n")
        );
        assert_eq!(plan.edits[1].path, dir.path().join(".netrc"));
        assert!(plan.edits[1].secret);
        assert_eq!(
            plan.edits[1].after.as_deref(),
            Some("machine repox.corp login ci password repox-s3cret\n")
        );
    }

    #[test]
    fn malformed_is_reported_with_line() {
        let err = edit(
            "[global]\nindex-url = a\noops\n",
            &target("http://127.0.0.1/"),
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn locations() {
        let home = std::path::Path::new("/home/u");
        let env = Env::fake(home, home, Os::Linux, &[("XDG_CONFIG_HOME", "/cfg")]);
        assert_eq!(
            file(&env, Scope::User).unwrap(),
            PathBuf::from("/cfg/pip/pip.conf")
        );
        assert_eq!(
            file(&env, Scope::Global).unwrap(),
            PathBuf::from("/etc/pip.conf")
        );
        let env = Env::fake(home, home, Os::Linux, &[("VIRTUAL_ENV", "/w/.venv")]);
        assert_eq!(
            file(&env, Scope::Project).unwrap(),
            PathBuf::from("/w/.venv/pip.conf")
        );
        let env = Env::fake(
            home,
            home,
            Os::Windows,
            &[("APPDATA", "C:/Users/u/AppData/Roaming")],
        );
        assert!(file(&env, Scope::User).unwrap().ends_with("pip/pip.ini"));
    }
}
