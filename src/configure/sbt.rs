//! sbt: `[repositories]` in `~/.sbt/repositories` (`local`, then `repox-maven`, then
//! `repox-ivy`) and `-Dsbt.override.build.repos=true` in an sbtopts file.
//!
//! The launcher reads the repositories file line by line (sbt/launcher
//! `ConfigurationParser.scala`): `label` or `label: url[, ivy-pattern][, options]`, `#`
//! comments, duplicate labels are an error, order is resolution order. repox serves Maven and
//! Ivy layouts at the same `/maven/` URL, so the Ivy entry is the same URL with sbt's Ivy pattern;
//! the Maven entry must come first (original Repox's advice). Without the override flag, builds
//! keep their own resolvers and bypass repox. The stock runner reads sbtopts only from
//! `$SBT_ETC_FILE` (default `/etc/sbt/sbtopts`), the project's `.sbtopts` and `SBT_OPTS`, so for
//! the user scope the flag goes to `$SBT_ETC_FILE` or `~/.config/sbt/sbtopts` and the notes say
//! what else is needed.
//!
//! With `--user`, the URLs stay credential-free and the login goes to `~/.sbt/.credentials`
//! (`realm`, `host`, `user`, `password`; Ivy matches the realm of repox's `WWW-Authenticate`
//! challenge and the host name). Builds read it through a global setting in
//! `~/.sbt/1.0/global.sbt`, the launcher through `-Dsbt.boot.credentials` in the same sbtopts.

use std::path::{Path, PathBuf};

use super::env::{Env, Os};
use super::plan::{Context, FileEdit, Plan};
use super::properties;
use super::status::Status;
use super::target::Target;
use super::text::{self, Malformed, Splices, needs_separator};
use super::{Client, Scope};
use crate::settings::Hinted;

const IVY_PATTERN: &str = "[organization]/[module]/(scala_[scalaVersion]/)(sbt_[sbtVersion]/)[revision]/[type]s/[artifact](-[classifier]).[ext]";
const OVERRIDE: &str = "-Dsbt.override.build.repos=true";
const OURS: &[&str] = &["repox-maven", "repox-ivy"];

/// One `label[: value]` line of a section.
#[derive(Debug, Clone)]
struct Repo {
    label: String,
    value: Option<String>,
    line: usize,
}

#[derive(Debug, Clone)]
struct Section {
    name: String,
    header: usize,
    repos: Vec<Repo>,
}

/// Parses a launcher configuration file, rejecting what the launcher rejects.
fn parse(input: &str) -> Result<Vec<Section>, Malformed> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text::lines(input).iter().enumerate() {
        let line = text::content(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(Section {
                name: name.trim().to_owned(),
                header: i,
                repos: Vec::new(),
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(Malformed::new(
                i + 1,
                "entry before the first [section] header",
            ));
        };
        let (label, value) = match line.split_once(':') {
            Some((label, value)) => {
                let value = value.trim();
                if value.is_empty() {
                    return Err(Malformed::new(
                        i + 1,
                        format!("`{label}:` has an empty value"),
                    ));
                }
                (label.trim(), Some(value.to_owned()))
            }
            None => (line, None),
        };
        if section.repos.iter().any(|r| r.label == label) {
            return Err(Malformed::new(
                i + 1,
                format!(
                    "`{label}` appears twice in [{}] (the sbt launcher refuses that)",
                    section.name
                ),
            ));
        }
        section.repos.push(Repo {
            label: label.to_owned(),
            value,
            line: i,
        });
    }
    Ok(sections)
}

/// The realm of repox's basic-auth challenge (`WWW-Authenticate: Basic realm="repox"`).
const REALM: &str = "repox";
/// The global setting that makes every build read the credentials file.
const GLOBAL_SETTING: &str =
    "credentials += Credentials(Path.userHome / \".sbt\" / \".credentials\")";

fn wanted_lines(target: &Target) -> [String; 2] {
    let url = target.join("maven/").to_string();
    let options = if target.is_insecure_remote() {
        ", allowInsecureProtocol"
    } else {
        ""
    };
    [
        format!("repox-maven: {url}{options}"),
        format!("repox-ivy: {url}, {IVY_PATTERN}{options}"),
    ]
}

/// Puts `repox-maven` and `repox-ivy` first in `[repositories]` (after `local`).
pub fn edit_repositories(old: &str, target: &Target) -> Result<String, Malformed> {
    let sections = parse(old)?;
    let lines = text::lines(old);
    let wanted = wanted_lines(target);
    let mut splices = Splices::default();
    match sections.iter().find(|s| s.name == "repositories") {
        Some(section) => {
            let indent = section
                .repos
                .first()
                .map(|r| {
                    let l = text::content(lines[r.line]);
                    l[..l.len() - l.trim_start().len()].to_owned()
                })
                .unwrap_or_else(|| "  ".to_owned());
            let others: Vec<&Repo> = section
                .repos
                .iter()
                .filter(|r| !OURS.contains(&r.label.as_str()))
                .collect();
            let at = match others.first() {
                Some(first) if first.label == "local" && first.value.is_none() => first.line + 1,
                _ => section.header + 1,
            };
            for repo in section
                .repos
                .iter()
                .filter(|r| OURS.contains(&r.label.as_str()))
            {
                splices.replace(repo.line, repo.line + 1, Vec::new());
            }
            splices.insert(at, wanted.iter().map(|l| format!("{indent}{l}")).collect());
        }
        None => {
            let mut block = Vec::new();
            if needs_separator(old) {
                block.push(String::new());
            }
            block.push("[repositories]".to_owned());
            block.push("  local".to_owned());
            block.extend(wanted.iter().map(|l| format!("  {l}")));
            splices.insert(lines.len(), block);
        }
    }
    let new = splices.apply(old);
    // Read back: the section starts with [local,] repox-maven, repox-ivy.
    let reread = parse(&new)?;
    let repos = &reread
        .iter()
        .find(|s| s.name == "repositories")
        .ok_or_else(|| Malformed::new(1, "internal error: no [repositories] after the edit"))?
        .repos;
    let labels: Vec<&str> = repos
        .iter()
        .map(|r| r.label.as_str())
        .filter(|l| *l != "local")
        .take(2)
        .collect();
    if labels != OURS {
        return Err(Malformed::new(
            1,
            "internal error: repox entries are not first",
        ));
    }
    Ok(new)
}

/// Sets `-Dname=value` lines in an sbtopts file (one option per line, `#` comments).
pub fn edit_sbtopts(old: &str, options: &[String]) -> String {
    let lines = text::lines(old);
    let mut splices = Splices::default();
    let mut missing = Vec::new();
    for option in options {
        let name = option.split_once('=').map_or(option.as_str(), |(n, _)| n);
        let mut found = false;
        for (i, raw) in lines.iter().enumerate() {
            let line = text::content(raw).trim();
            let bare = line.strip_prefix("-J").unwrap_or(line);
            if !line.starts_with('#') && bare.split_once('=').is_some_and(|(n, _)| n == name) {
                found = true;
                if line != option {
                    splices.replace(i, i + 1, vec![option.clone()]);
                }
            }
        }
        if !found {
            missing.push(option.clone());
        }
    }
    if !missing.is_empty() {
        splices.insert(lines.len(), missing);
    }
    splices.apply(old)
}

/// Sets the login for `host` in the text of an Ivy credentials file (`~/.sbt/.credentials`).
pub fn edit_credentials(
    old: &str,
    host: &str,
    user: &str,
    password: &str,
) -> Result<String, Malformed> {
    let entries = properties::parse(old)?;
    if let Some(other) = entries
        .iter()
        .rev()
        .find(|e| e.key == "host" && e.value != host)
    {
        // One Ivy credentials file holds one login: never overwrite another server's.
        return Err(Malformed::new(
            other.first + 1,
            format!(
                "holds the login for {}, and a credentials file holds only one; move it to \
                 another file (and its `credentials +=` line)",
                other.value
            ),
        ));
    }
    let wanted = [
        ("realm", REALM),
        ("host", host),
        ("user", user),
        ("password", password),
    ];
    let new = properties::set(old, &entries, &wanted);
    let reread = properties::parse(&new)?;
    for (key, value) in wanted {
        if reread
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
            != Some(value)
        {
            return Err(Malformed::new(
                1,
                format!("internal error: {key} does not read back"),
            ));
        }
    }
    Ok(new)
}

/// Adds the setting that loads `~/.sbt/.credentials` to the text of a global `.sbt` file.
pub fn edit_global_sbt(old: &str) -> String {
    if text::lines(old)
        .iter()
        .any(|l| text::content(l).trim() == GLOBAL_SETTING)
    {
        return old.to_owned();
    }
    let mut splices = Splices::default();
    splices.insert(text::lines(old).len(), vec![GLOBAL_SETTING.to_owned()]);
    splices.apply(old)
}

/// The repositories file and the sbtopts file of `scope`, and the options for the latter.
fn files(env: &Env, scope: Scope) -> anyhow::Result<(PathBuf, PathBuf, Vec<String>)> {
    Ok(match scope {
        Scope::User => (
            env.home.join(".sbt").join("repositories"),
            user_sbtopts(env),
            vec![OVERRIDE.to_owned()],
        ),
        Scope::Project => {
            let root = env
                .find_up(&["build.sbt"])
                .unwrap_or_else(|| env.cwd.clone());
            (
                root.join("project").join("repositories"),
                root.join(".sbtopts"),
                vec![
                    OVERRIDE.to_owned(),
                    "-Dsbt.repository.config=project/repositories".to_owned(),
                ],
            )
        }
        Scope::Global => {
            if env.os == Os::Windows {
                return Err(Hinted {
                    message: "repox does not edit sbt's machine-wide settings on Windows"
                        .to_owned(),
                    hint: "use --scope user, and add -Dsbt.override.build.repos=true to \
                           %SBT_HOME%\\conf\\sbtconfig.txt"
                        .to_owned(),
                }
                .into());
            }
            let repositories = PathBuf::from("/etc/sbt/repositories");
            let option = format!("-Dsbt.repository.config={}", repositories.display());
            (
                repositories,
                etc_sbtopts(env),
                vec![OVERRIDE.to_owned(), option],
            )
        }
    })
}

fn etc_sbtopts(env: &Env) -> PathBuf {
    env.path_var("SBT_ETC_FILE")
        .unwrap_or_else(|| PathBuf::from("/etc/sbt/sbtopts"))
}

/// `$SBT_ETC_FILE` when it points into the home directory, else `~/.config/sbt/sbtopts`.
fn user_sbtopts(env: &Env) -> PathBuf {
    env.path_var("SBT_ETC_FILE")
        .filter(|p| p.starts_with(&env.home))
        .unwrap_or_else(|| env.xdg_config_home().join("sbt").join("sbtopts"))
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let env = &ctx.env;
    let (repositories, sbtopts, options) = files(env, ctx.scope)?;
    let mut plan = Plan::new(Client::Sbt, ctx.scope);
    plan.edits.push(FileEdit::compute(
        Client::Sbt,
        &repositories,
        false,
        |old| edit_repositories(old, &ctx.target),
    )?);
    let mut options = options;
    if let Some(creds) = &ctx.target.credentials {
        let credentials = env.home.join(".sbt").join(".credentials");
        let host = ctx.target.host().to_owned();
        plan.edits
            .push(FileEdit::compute(Client::Sbt, &credentials, true, |old| {
                edit_credentials(old, &host, creds.username(), &creds.token)
            })?);
        let global = env.home.join(".sbt").join("1.0").join("global.sbt");
        plan.edits
            .push(FileEdit::compute(Client::Sbt, &global, false, |old| {
                Ok(edit_global_sbt(old))
            })?);
        options.push(format!("-Dsbt.boot.credentials={}", credentials.display()));
    }
    plan.edits
        .push(FileEdit::compute(Client::Sbt, &sbtopts, false, |old| {
            Ok(edit_sbtopts(old, &options))
        })?);
    let shown = env.display(&sbtopts);
    let read = match ctx.scope {
        Scope::User if env.path_var("SBT_ETC_FILE").as_deref() == Some(sbtopts.as_path()) => {
            "which the sbt runner reads because SBT_ETC_FILE points at it".to_owned()
        }
        Scope::User => format!(
            "which the stock sbt runner reads only when SBT_ETC_FILE points at it: add \
             `export SBT_ETC_FILE={shown}` to your shell profile, or put {OVERRIDE} in SBT_OPTS \
             (IDEs: in the sbt VM options)"
        ),
        Scope::Project => {
            "read by the sbt runner when started from the project directory".to_owned()
        }
        Scope::Global => "read by the sbt runner on every start".to_owned(),
    };
    plan.notes.push(format!(
        "sbt ignores the resolvers declared by builds only with {OVERRIDE}; it is in {shown}, {read}"
    ));
    plan.notes.push(
        "if a build needs an artifact repox cannot serve, run that build with \
         -Dsbt.override.build.repos=false"
            .to_owned(),
    );
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    env.which("sbt").is_some() || env.home.join(".sbt").is_dir()
}

/// Options from `SBT_OPTS`, the project's `.sbtopts` and the runner's etc file.
fn options(env: &Env) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut from_text = |source: String, text: &str| {
        for word in text.split_whitespace() {
            let word = word.trim_matches('"').trim_start_matches("-J");
            found.push((source.clone(), word.to_owned()));
        }
    };
    for path in [etc_sbtopts(env), env.cwd.join(".sbtopts")] {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let text: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join(" ");
            from_text(env.display(&path), &text);
        }
    }
    for var in ["JAVA_OPTS", "SBT_OPTS"] {
        if let Some(value) = env.var(var) {
            from_text(format!("${var}"), value);
        }
    }
    found
}

fn predefined(label: &str) -> Option<&'static str> {
    match label {
        "maven-central" => Some("https://repo1.maven.org/maven2/"),
        "sonatype-oss-releases" => Some("https://oss.sonatype.org/content/repositories/releases/"),
        "sonatype-oss-snapshots" => {
            Some("https://oss.sonatype.org/content/repositories/snapshots/")
        }
        "jcenter" => Some("https://jcenter.bintray.com/"),
        _ => None,
    }
}

/// The launcher repositories in effect and whether builds' resolvers are overridden.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Sbt, "https://repo1.maven.org/maven2/", &ctx.target);
    let opts = options(env);
    let mut repositories = env.home.join(".sbt").join("repositories");
    let mut overridden = None;
    for (source, opt) in &opts {
        if let Some(path) = opt.strip_prefix("-Dsbt.repository.config=") {
            let path = Path::new(path);
            repositories = if path.is_absolute() {
                path.to_path_buf()
            } else {
                env.cwd.join(path)
            };
            status.info(
                source.clone(),
                "-Dsbt.repository.config",
                &path.display().to_string(),
            );
        }
        if let Some(value) = opt.strip_prefix("-Dsbt.override.build.repos=") {
            overridden = Some(value == "true");
            status.info(source.clone(), "-Dsbt.override.build.repos", value);
        }
    }
    if let Some(sections) = status.read(env, &repositories, parse) {
        let repos = sections
            .into_iter()
            .find(|s| s.name == "repositories")
            .map(|s| s.repos)
            .unwrap_or_default();
        let mut first = true;
        for repo in repos
            .iter()
            .filter(|r| !matches!(r.label.as_str(), "local" | "maven-local"))
        {
            let url = match &repo.value {
                Some(v) => v.split(',').next().unwrap_or(v).trim().to_owned(),
                None => predefined(&repo.label).unwrap_or("?").to_owned(),
            };
            let i = status.file(
                env,
                &repositories,
                format!("[repositories] {}", repo.label),
                &url,
            );
            if first {
                status.set_effective(i);
                first = false;
            } else if !url.starts_with("file:") {
                status.extra(i);
            }
        }
    }
    if overridden != Some(true) {
        status.bypass(
            "(sbtopts, SBT_OPTS)".to_owned(),
            "-Dsbt.override.build.repos",
            "not true: builds use their own resolvers too",
        );
    }
    find_credentials(ctx, &mut status);
    status
}

/// `~/.sbt/.credentials` when it holds the login for repox's host.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let path = ctx.env.home.join(".sbt").join(".credentials");
    let Some(entries) = status.read(&ctx.env, &path, properties::parse) else {
        return;
    };
    let value = |key: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
    };
    if value("host").as_deref() == Some(status.target_host()) && value("password").is_some() {
        let what = format!("realm {}", value("realm").unwrap_or_default());
        status.credentials_in(&ctx.env, &path, &what, value("user").as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    const BEFORE: &str = "\
# sbt launcher repositories
[repositories]
    local
    # company releases first
    corp: https://nexus.corp/repository/releases/
    maven-central

[ivy]
  ivy-home: /opt/ivy
";

    #[test]
    fn before_after() {
        let after = edit_repositories(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("sbt_repositories", after);
        assert_eq!(
            edit_repositories(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
        // A new URL replaces the entries in place.
        let moved = edit_repositories(&after, &target("http://repox.lan:8078/")).unwrap();
        assert!(
            moved
                .contains("    repox-maven: http://repox.lan:8078/maven/, allowInsecureProtocol\n"),
            "{moved}"
        );
        assert_eq!(moved.matches("repox-ivy").count(), 1);
    }

    #[test]
    fn new_file() {
        let after = edit_repositories("", &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("sbt_repositories_new", after);
    }

    #[test]
    fn entries_out_of_order_are_moved() {
        let before = "[repositories]\n  local\n  maven-central\n  repox-ivy: http://x/maven/, [a]\n  repox-maven: http://x/maven/\n";
        let after = edit_repositories(before, &target("http://127.0.0.1:8078/")).unwrap();
        let labels: Vec<&str> = after
            .lines()
            .skip(1)
            .map(|l| l.trim().split(':').next().unwrap())
            .collect();
        assert_eq!(
            labels,
            ["local", "repox-maven", "repox-ivy", "maven-central"]
        );
    }

    #[test]
    fn launcher_errors_are_reported() {
        let err = edit_repositories(
            "[repositories]\n local\n local\n",
            &target("http://127.0.0.1/"),
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        let err = edit_repositories("[repositories]\n corp:\n", &target("http://127.0.0.1/"))
            .unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn credentials_file_and_global_setting() {
        let before = "# nexus\nrealm=Sonatype Nexus Repository Manager\nhost=nexus.corp\n";
        let after = edit_credentials("", "repox.lan", "ci", "repox-t").unwrap();
        assert_eq!(
            after,
            "realm=repox\nhost=repox.lan\nuser=ci\npassword=repox-t\n"
        );
        assert_eq!(
            edit_credentials(&after, "repox.lan", "ci", "repox-t").unwrap(),
            after
        );
        // One Ivy credentials file holds one login: another server's is never overwritten.
        let err = edit_credentials(before, "repox.lan", "ci", "repox-t").unwrap_err();
        assert_eq!(err.line, 3);
        let global = edit_global_sbt("ThisBuild / scalaVersion := \"3.3.1\"\n");
        insta::assert_snapshot!("sbt_global_sbt", global);
        assert_eq!(edit_global_sbt(&global), global);
        // URLs stay credential-free.
        let mut t = target("https://repox.lan/");
        t.credentials = Some(super::super::target::Credentials {
            username: Some("ci".into()),
            token: "repox-t".into(),
            password: false,
        });
        assert!(!edit_repositories("", &t).unwrap().contains("repox-t"));
    }

    #[test]
    fn sbtopts_lines() {
        let before = "# memory\n-J-Xmx2G\n-Dsbt.override.build.repos=false\n";
        let after = edit_sbtopts(before, &[OVERRIDE.to_owned()]);
        assert_eq!(
            after,
            "# memory\n-J-Xmx2G\n-Dsbt.override.build.repos=true\n"
        );
        assert_eq!(edit_sbtopts(&after, &[OVERRIDE.to_owned()]), after);
        assert_eq!(
            edit_sbtopts("", &[OVERRIDE.to_owned()]),
            format!("{OVERRIDE}\n")
        );
    }
}
