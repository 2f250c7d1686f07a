//! Gradle: an init script, `$GRADLE_USER_HOME/init.d/repox.init.gradle`, that sends every Maven
//! and Ivy repository of every build to repox.
//!
//! Gradle runs `init.d/*.gradle` before each build (docs.gradle.org `init_scripts.html`; the
//! `.init.gradle` suffix satisfies both the old and the new naming rule). Credentials stay out of
//! the script: `--user` puts `repoxUsername`/`repoxPassword` in `$GRADLE_USER_HOME/gradle.properties`
//! (Gradle's own place for them, named as `credentials(PasswordCredentials)` would look them up
//! for a repository called `repox`), and the script reads them from there. The script redirects the
//! repositories of settings (`pluginManagement`, `dependencyResolutionManagement`, Gradle ≥ 6.8),
//! of `buildscript` blocks and of projects, including repositories added later, and lists the
//! Gradle Plugin Portal explicitly so the implicit portal is redirected too. The whole file
//! belongs to repox: removing it (or `--undo`) restores Gradle's behaviour.

use std::path::PathBuf;

use super::env::Env;
use super::plan::{Context, FileEdit, Plan};
use super::properties;
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::{Client, Scope};
use crate::settings::Hinted;

const FILE_NAME: &str = "repox.init.gradle";

/// A Groovy single-quoted string literal.
fn groovy(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The init script for `target` (the old text is replaced: the file is repox's).
pub fn edit(_old: &str, target: &Target) -> Result<String, Malformed> {
    let url = target.maven();
    Ok(format!(
        r#"// Written by `repox configure gradle`: every Maven and Ivy repository of every build goes
// through repox. Delete this file (or run `repox configure --undo gradle`) to stop.
def repoxUrl = {url}
// Credentials, if `repox configure gradle --user NAME` stored them in gradle.properties.
def repoxProperties = new Properties()
def repoxPropertiesFile = new File(gradle.gradleUserHomeDir, 'gradle.properties')
if (repoxPropertiesFile.isFile()) repoxPropertiesFile.withInputStream {{ repoxProperties.load(it) }}
def repoxCredentials = repoxProperties.getProperty('repoxPassword') == null ? null :
    [username: repoxProperties.getProperty('repoxUsername', '__token__'),
     password: repoxProperties.getProperty('repoxPassword')]

def repoxRedirect = {{ RepositoryHandler repositories ->
    repositories.configureEach {{ repo ->
        if (!(repo instanceof UrlArtifactRepository)) return
        def current = repo.url?.toString()
        if (current == null || !(current.startsWith('http://') || current.startsWith('https://'))) return
        if (current.startsWith(repoxUrl)) return
        repo.url = repoxUrl
        if (repoxUrl.startsWith('http://')) repo.allowInsecureProtocol = true
        if (repoxCredentials != null && repo instanceof AuthenticationSupported) {{
            repo.credentials {{
                username = repoxCredentials.username
                password = repoxCredentials.password
            }}
        }}
    }}
}}

beforeSettings {{ settings ->
    repoxRedirect(settings.pluginManagement.repositories)
    // Without declared plugin repositories Gradle uses the Plugin Portal implicitly, which no
    // rule can redirect; declared, it is redirected like any other repository.
    settings.pluginManagement.repositories.gradlePluginPortal()
    try {{
        repoxRedirect(settings.dependencyResolutionManagement.repositories)
    }} catch (MissingPropertyException ignored) {{
        // Gradle < 6.8 has no dependencyResolutionManagement.
    }}
}}

allprojects {{
    repoxRedirect(buildscript.repositories)
    repoxRedirect(repositories)
}}
"#,
        url = groovy(&url),
    ))
}

/// Sets `repoxUsername` and `repoxPassword` in the text of a `gradle.properties`.
pub fn edit_properties(old: &str, username: &str, password: &str) -> Result<String, Malformed> {
    let entries = properties::parse(old)?;
    let wanted = [("repoxUsername", username), ("repoxPassword", password)];
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

fn user_home(env: &Env) -> PathBuf {
    env.path_var("GRADLE_USER_HOME")
        .unwrap_or_else(|| env.home.join(".gradle"))
}

/// Where the init script looks for credentials (the user's, whatever the scope of the script).
fn properties_file(env: &Env) -> PathBuf {
    user_home(env).join("gradle.properties")
}

fn gradle_home(env: &Env) -> Option<PathBuf> {
    env.path_var("GRADLE_HOME").or_else(|| {
        let gradle = env.which("gradle")?;
        let gradle = std::fs::canonicalize(&gradle).unwrap_or(gradle);
        gradle.parent()?.parent().map(|p| p.to_path_buf())
    })
}

fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => user_home(env).join("init.d").join(FILE_NAME),
        Scope::Global => gradle_home(env)
            .ok_or_else(|| Hinted {
                message: "cannot find the Gradle installation (no GRADLE_HOME or gradle on PATH)"
                    .to_owned(),
                hint: "set GRADLE_HOME, or use --scope user".to_owned(),
            })?
            .join("init.d")
            .join(FILE_NAME),
        Scope::Project => {
            return Err(Hinted {
                message: "Gradle has no project-level init script".to_owned(),
                hint: "use --scope user (every build of this user), or pass the script with \
                       `gradle -I` after `repox configure gradle --dry-run`"
                    .to_owned(),
            }
            .into());
        }
    })
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let mut plan = Plan::new(Client::Gradle, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Gradle, &path, false, |old| {
            edit(old, &ctx.target)
        })?);
    if let Some(creds) = &ctx.target.credentials {
        let properties = properties_file(&ctx.env);
        plan.edits.push(FileEdit::compute(
            Client::Gradle,
            &properties,
            true,
            |old| edit_properties(old, creds.username(), &creds.token),
        )?);
    }
    plan.notes
        .push("the Gradle wrapper's own download (distributionUrl) is not redirected".to_owned());
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    env.which("gradle").is_some() || env.home.join(".gradle").is_dir()
}

/// The repox init script and any other init script that may change repositories.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(
        Client::Gradle,
        "https://repo.maven.apache.org/maven2/",
        &ctx.target,
    );
    let mut scripts: Vec<PathBuf> = Vec::new();
    for dir in [Some(user_home(env)), gradle_home(env)]
        .into_iter()
        .flatten()
    {
        for name in ["init.gradle", "init.gradle.kts"] {
            scripts.push(dir.join(name));
        }
        if let Ok(read) = std::fs::read_dir(dir.join("init.d")) {
            let mut found: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
            found.sort();
            scripts.extend(found);
        }
    }
    for path in scripts.into_iter().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let repox_url = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("def repoxUrl = "))
            .map(|v| v.trim().trim_matches('\'').to_owned());
        match repox_url {
            Some(url) => {
                let i = status.file(env, &path, "repoxUrl", &url);
                status.set_effective(i);
            }
            None => {
                status.info(
                    env.display(&path),
                    "init script",
                    "may change repositories too",
                );
            }
        }
    }
    find_credentials(ctx, &mut status);
    status
}

/// `repoxPassword` in the `gradle.properties` the init script reads.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let path = properties_file(&ctx.env);
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
    if value("repoxPassword").is_some() {
        let user = value("repoxUsername");
        status.credentials_in(&ctx.env, &path, "repoxPassword", user.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn script() {
        let target = Target::new(&Url::parse("http://127.0.0.1:8078/").unwrap()).unwrap();
        let script = edit("", &target).unwrap();
        insta::assert_snapshot!("gradle_init_script", script);
        assert_eq!(edit(&script, &target).unwrap(), script);
    }

    #[test]
    fn credentials_go_to_gradle_properties() {
        let before = "# build speed\norg.gradle.daemon=true\nrepoxPassword=old\n";
        let after = edit_properties(before, "ci", "it's\\x").unwrap();
        assert_eq!(
            after,
            "# build speed\norg.gradle.daemon=true\nrepoxPassword=it's\\\\x\nrepoxUsername=ci\n"
        );
        assert_eq!(edit_properties(&after, "ci", "it's\\x").unwrap(), after);
        // The script is the same with or without credentials: it reads them at build time.
        let mut target = Target::new(&Url::parse("https://repox.corp/").unwrap()).unwrap();
        let plain = edit("", &target).unwrap();
        target.credentials = Some(super::super::target::Credentials {
            username: None,
            token: "secret".into(),
            password: false,
        });
        assert_eq!(edit("", &target).unwrap(), plain);
        assert!(!plain.contains("secret"));
    }

    #[test]
    fn no_project_scope() {
        let env = Env::fake(
            std::path::Path::new("/h"),
            std::path::Path::new("/h"),
            super::super::env::Os::Linux,
            &[],
        );
        assert!(file(&env, Scope::Project).is_err());
        assert_eq!(
            file(&env, Scope::User).unwrap(),
            PathBuf::from("/h/.gradle/init.d/repox.init.gradle")
        );
    }
}
