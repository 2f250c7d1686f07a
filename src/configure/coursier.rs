//! coursier (`cs`, Scala CLI, Mill, Bloop): a mirror in `mirror.properties` from Maven Central
//! and the other public repositories repox proxies to repox's `/maven/`.
//!
//! The mirror is of type `tree` (coursier `Mirror.java`): it replaces URL prefixes, so it also
//! covers Ivy repositories such as sbt's plugin repository, which repox serves at the same
//! `/maven/` endpoint. coursier looks for the file in its config directory (directories-jvm
//! "Coursier"), which `COURSIER_CONFIG_DIR` overrides; there is no project or system file.
//! With `--user`, the mirror URL stays credential-free and the login goes to
//! `credentials.properties` in the same directory (`repox.host`, `.username`, `.password`, sent
//! without waiting for a 401 (`auto`), and over plain http only when `https-only` is false).

use std::path::PathBuf;

use super::env::{Env, Os};
use super::plan::{Context, FileEdit, Plan};
use super::properties;
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::{Client, Scope};
use crate::settings::Hinted;

/// The mirror's name in the file (`repox.from`, `repox.to`, `repox.type`).
const NAME: &str = "repox";
const CENTRAL: &str = "https://repo1.maven.org/maven2";

/// Sets the repox mirror in the text of a `mirror.properties`.
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    let entries = properties::parse(old)?;
    let from = target.maven_upstreams.join(";");
    let to = target
        .join("maven/")
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let wanted = [
        (format!("{NAME}.from"), from),
        (format!("{NAME}.to"), to),
        (format!("{NAME}.type"), "tree".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = wanted
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let new = properties::set(old, &entries, &pairs);
    let reread = properties::parse(&new)?;
    for (key, value) in &pairs {
        if reread
            .iter()
            .rev()
            .find(|e| e.key == *key)
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

/// Sets repox's login in the text of coursier's `credentials.properties`.
pub fn edit_credentials(old: &str, target: &Target) -> Result<String, Malformed> {
    let Some(creds) = &target.credentials else {
        return Ok(old.to_owned());
    };
    let entries = properties::parse(old)?;
    let https_only = if target.is_http() { "false" } else { "true" };
    let wanted = [
        (format!("{NAME}.host"), target.host().to_owned()),
        (format!("{NAME}.username"), creds.username().to_owned()),
        (format!("{NAME}.password"), creds.token.clone()),
        (format!("{NAME}.https-only"), https_only.to_owned()),
        (format!("{NAME}.auto"), "true".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = wanted
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let new = properties::set(old, &entries, &pairs);
    let reread = properties::parse(&new)?;
    for (key, value) in &pairs {
        if reread
            .iter()
            .rev()
            .find(|e| e.key == *key)
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

fn config_dirs(env: &Env) -> Vec<PathBuf> {
    if let Some(dir) = env.path_var("COURSIER_CONFIG_DIR") {
        return vec![dir];
    }
    match env.os {
        Os::Linux => vec![env.xdg_config_home().join("coursier")],
        Os::Mac => vec![
            env.mac_app_support().join("Coursier"),
            env.home
                .join("Library")
                .join("Preferences")
                .join("Coursier"),
        ],
        Os::Windows => vec![env.appdata().join("Coursier").join("config")],
    }
}

fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    if scope != Scope::User {
        return Err(Hinted {
            message: format!(
                "coursier has no {} configuration file, only a per-user mirror.properties",
                scope.name()
            ),
            hint: "run `repox configure coursier` (user scope); for a shared setup point \
                   COURSIER_CONFIG_DIR at a common directory"
                .to_owned(),
        }
        .into());
    }
    Ok(config_dirs(env)[0].join("mirror.properties"))
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let mut plan = Plan::new(Client::Coursier, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Coursier, &path, false, |old| {
            edit(old, &ctx.target)
        })?);
    if ctx.target.credentials.is_some() {
        let credentials = path.with_file_name("credentials.properties");
        plan.edits.push(FileEdit::compute(
            Client::Coursier,
            &credentials,
            true,
            |old| edit_credentials(old, &ctx.target),
        )?);
    }
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    ["cs", "coursier", "scala-cli"]
        .iter()
        .any(|e| env.which(e).is_some())
        || config_dirs(env)
            .iter()
            .any(|d| d.join("mirror.properties").exists())
}

/// The mirrors of every mirror file; the one covering Maven Central decides.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Coursier, CENTRAL, &ctx.target);
    let mut files: Vec<PathBuf> = match env.path_var("COURSIER_MIRRORS") {
        Some(file) => {
            status.note("COURSIER_MIRRORS replaces the default mirror files");
            vec![file]
        }
        None => config_dirs(env)
            .into_iter()
            .map(|d| d.join("mirror.properties"))
            .collect(),
    };
    files.extend(env.path_var("COURSIER_EXTRA_MIRRORS"));
    for path in files {
        let Some(entries) = status.read(env, &path, properties::parse) else {
            continue;
        };
        for to in entries.iter().filter(|e| e.key.ends_with(".to")) {
            let name = to.key.trim_end_matches(".to");
            let from = entries
                .iter()
                .rev()
                .find(|e| e.key == format!("{name}.from"))
                .map(|e| e.value.clone())
                .unwrap_or_default();
            let i = status.file(env, &path, format!("{} (from {from})", to.key), &to.value);
            if from
                .split(';')
                .any(|f| f.trim().trim_end_matches('/') == CENTRAL)
            {
                status.set_effective(i);
            }
        }
    }
    if let Some(repos) = env.var("COURSIER_REPOSITORIES") {
        for repo in repos.split('|').filter(|r| r.contains("://")) {
            let url = repo.trim_start_matches("ivy:");
            let i = status.var("COURSIER_REPOSITORIES", url);
            status.extra(i);
        }
    }
    find_credentials(ctx, &mut status);
    status
}

/// Entries of `credentials.properties` for repox's host.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let path = config_dirs(&ctx.env)[0].join("credentials.properties");
    let Some(entries) = status.read(&ctx.env, &path, properties::parse) else {
        return;
    };
    let host = status.target_host().to_owned();
    for entry in entries
        .iter()
        .filter(|e| e.key.ends_with(".host") && e.value == host)
    {
        let name = entry.key.trim_end_matches(".host");
        let get = |key: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e.key == format!("{name}.{key}"))
                .map(|e| e.value.clone())
        };
        if get("password").is_some() {
            let what = format!("{name}.host");
            status.credentials_in(&ctx.env, &path, &what, get("username").as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn before_after() {
        let target = Target::new(&Url::parse("http://127.0.0.1:8078/").unwrap()).unwrap();
        let before = "# company snapshots go through nexus\ninternal.from=https://repo.corp/snapshots\ninternal.to=https://nexus.corp/repository/snapshots\n\nrepox.to=http://old:1/maven\n";
        let after = edit(before, &target).unwrap();
        insta::assert_snapshot!("coursier_before_after", after);
        assert_eq!(edit(&after, &target).unwrap(), after);
    }

    #[test]
    fn credentials_properties() {
        let mut target = Target::new(&Url::parse("http://repox.lan:8078/").unwrap()).unwrap();
        target.credentials = Some(super::super::target::Credentials {
            username: Some("ci".into()),
            token: "repox-t".into(),
            password: false,
        });
        let before = "# other server\nnexus.host=nexus.corp\nnexus.password=x\n";
        let after = edit_credentials(before, &target).unwrap();
        insta::assert_snapshot!("coursier_credentials", after);
        assert_eq!(edit_credentials(&after, &target).unwrap(), after);
        assert!(!edit("", &target).unwrap().contains("repox-t"));
    }

    #[test]
    fn only_user_scope() {
        let env = Env::fake(
            std::path::Path::new("/h"),
            std::path::Path::new("/h"),
            Os::Linux,
            &[],
        );
        assert!(file(&env, Scope::Project).is_err());
        assert_eq!(
            file(&env, Scope::User).unwrap(),
            PathBuf::from("/h/.config/coursier/mirror.properties")
        );
    }
}
