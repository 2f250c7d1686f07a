//! npm, pnpm and Yarn: `registry=` in `.npmrc` (read by npm, pnpm and Yarn 1) and
//! `npmRegistryServer` in `.yarnrc.yml` (Yarn 2+).
//!
//! npm's `.npmrc` is `key=value` lines with `#`/`;` comments (npm `ini`); only top-level keys
//! (before any `[section]`) matter. Credentials are written as npm expects them, scoped to the
//! registry URL without its scheme: `//host:port/npm/:_authToken=…` (npm `npmrc.md`). Yarn Berry
//! refuses plain http to any host missing from `unsafeHttpWhitelist`, loopback included
//! (yarnpkg/berry `httpUtils`), so the host is added there for http URLs. `.yarnrc.yml` is only
//! written when it exists or `yarn` is installed.

use std::path::PathBuf;

use yaml_serde::Value;

use super::env::Env;
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::{self, Malformed, Splices};
use super::yaml::{self, Node};
use super::{Client, Scope};

/// A top-level `key=value` line of an `.npmrc`.
#[derive(Debug, Clone)]
struct Line {
    key: String,
    value: String,
    line: usize,
}

/// Top-level entries (before the first `[section]`) and the line where that region ends.
fn parse(input: &str) -> (Vec<Line>, usize) {
    let lines = text::lines(input);
    let mut entries = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = text::content(raw).trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return (entries, i);
        }
        let (key, value) = line.split_once('=').unwrap_or((line, "true"));
        entries.push(Line {
            key: key.trim().to_owned(),
            value: unquote(value.trim()).to_owned(),
            line: i,
        });
    }
    (entries, lines.len())
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// npm's "nerf dart" of a registry URL: `//host[:port]/path/`.
fn nerf_dart(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    format!("//{}", rest.trim_end_matches('/')) + "/"
}

/// Per-registry credential keys of `.npmrc` (after the nerf dart): a token, or a user name with a
/// base64 password (npm sends the latter as basic auth).
const AUTH_KEYS: &[&str] = &[":_authToken", ":username", ":_password", ":_auth"];

/// Sets `registry=` (and the credentials) in the text of an `.npmrc`.
pub fn edit_npmrc(old: &str, target: &Target) -> Result<String, Malformed> {
    use base64::Engine as _;
    let registry = target.npm();
    // The registry's credentials, and with --publish the hosted repository's too: npm sends a
    // token only to the URL it was written for.
    let mut nerfs = vec![nerf_dart(&registry)];
    nerfs.extend(target.publish_url().map(|u| nerf_dart(&u)));
    let mut wanted = vec![("registry".to_owned(), registry.clone())];
    if let Some(creds) = &target.credentials {
        for nerf in &nerfs {
            if creds.is_token() {
                wanted.push((format!("{nerf}:_authToken"), creds.token.clone()));
            } else {
                wanted.push((format!("{nerf}:username"), creds.username().to_owned()));
                wanted.push((
                    format!("{nerf}:_password"),
                    base64::engine::general_purpose::STANDARD.encode(&creds.token),
                ));
            }
        }
    }
    let (entries, region_end) = parse(old);
    let lines = text::lines(old);
    let mut splices = Splices::default();
    let mut missing = Vec::new();
    for (key, value) in &wanted {
        let found: Vec<&Line> = entries.iter().filter(|e| e.key == *key).collect();
        if found.is_empty() {
            missing.push(format!("{key}={value}"));
        }
        for entry in found {
            if entry.value != *value {
                splices.replace(
                    entry.line,
                    entry.line + 1,
                    vec![super::ini::with_value(lines[entry.line], value)],
                );
            }
        }
    }
    if target.credentials.is_some() {
        // Credentials of the other kind for the same registry would compete with the new ones.
        for entry in &entries {
            let stale = nerfs
                .iter()
                .any(|nerf| AUTH_KEYS.iter().any(|k| entry.key == format!("{nerf}{k}")))
                && !wanted.iter().any(|(k, _)| *k == entry.key);
            if stale {
                splices.replace(entry.line, entry.line + 1, Vec::new());
            }
        }
    }
    if !missing.is_empty() {
        let at = entries
            .last()
            .map_or(region_end.min(lines.len()), |e| e.line + 1);
        splices.insert(at, missing);
    }
    let new = splices.apply(old);
    let (reread, _) = parse(&new);
    for (key, value) in &wanted {
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

/// Sets `npmRegistryServer` (and the http allow-list and token) in a `.yarnrc.yml`.
pub fn edit_yarnrc(old: &str, target: &Target) -> Result<String, Malformed> {
    let doc = yaml::parse(old)?;
    let mut wanted = vec![(
        "npmRegistryServer",
        Node::Str(target.npm().trim_end_matches('/').to_owned()),
    )];
    if target.is_http() {
        let mut hosts: Vec<String> = match doc.get("unsafeHttpWhitelist") {
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if !hosts.iter().any(|h| h == target.host()) {
            hosts.push(target.host().to_owned());
        }
        wanted.push(("unsafeHttpWhitelist", Node::List(hosts)));
    }
    if let Some(creds) = &target.credentials {
        if creds.is_token() {
            wanted.push(("npmAuthToken", Node::Str(creds.token.clone())));
        } else {
            let ident = format!("{}:{}", creds.username(), creds.token);
            wanted.push(("npmAuthIdent", Node::Str(ident)));
        }
        wanted.push(("npmAlwaysAuth", Node::Bool(true)));
    }
    let new = yaml::set(old, &doc, &wanted);
    let reread = yaml::parse(&new)?;
    for (key, node) in &wanted {
        if reread.get(key) != Some(&node.to_value()) {
            return Err(Malformed::new(
                1,
                format!("internal error: {key} does not read back"),
            ));
        }
    }
    Ok(new)
}

/// npm's project directory: the nearest ancestor with `package.json` or `node_modules`.
fn project_dir(env: &Env) -> Option<PathBuf> {
    env.find_up(&["package.json", "node_modules"])
}

fn user_npmrc(env: &Env) -> PathBuf {
    env.path_var("NPM_CONFIG_USERCONFIG")
        .unwrap_or_else(|| env.home.join(".npmrc"))
}

/// npm's global config file, as npm itself reports it.
fn global_npmrc(env: &Env) -> anyhow::Result<PathBuf> {
    if let Some(path) = env.path_var("NPM_CONFIG_GLOBALCONFIG") {
        return Ok(path);
    }
    let npm = env.which("npm").ok_or_else(|| crate::settings::Hinted {
        message: "cannot find npm to ask for its global config file".to_owned(),
        hint: "set NPM_CONFIG_GLOBALCONFIG to the file, or use --scope user".to_owned(),
    })?;
    let out = std::process::Command::new(npm)
        .args(["config", "get", "globalconfig"])
        .output()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(
        out.status.success() && !path.is_empty(),
        "`npm config get globalconfig` failed"
    );
    Ok(PathBuf::from(path))
}

fn files(env: &Env, scope: Scope) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let yarn_wanted =
        |path: PathBuf| (path.exists() || env.which("yarn").is_some()).then_some(path);
    Ok(match scope {
        Scope::User => (user_npmrc(env), yarn_wanted(env.home.join(".yarnrc.yml"))),
        Scope::Project => {
            let dir = project_dir(env).unwrap_or_else(|| env.cwd.clone());
            (dir.join(".npmrc"), yarn_wanted(dir.join(".yarnrc.yml")))
        }
        Scope::Global => (global_npmrc(env)?, None),
    })
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let (npmrc, yarnrc) = files(&ctx.env, ctx.scope)?;
    let secret = ctx.target.credentials.is_some();
    let mut plan = Plan::new(Client::Npm, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Npm, &npmrc, secret, |old| {
            edit_npmrc(old, &ctx.target)
        })?);
    if let Some(yarnrc) = yarnrc {
        plan.edits
            .push(FileEdit::compute(Client::Npm, &yarnrc, secret, |old| {
                edit_yarnrc(old, &ctx.target)
            })?);
    }
    plan.notes.push(
        "lockfiles keep their `resolved` URLs: npm swaps only registry.npmjs.org for the \
         configured registry (replace-registry-host=npmjs)"
            .to_owned(),
    );
    if let Some(url) = ctx.target.publish_url() {
        let mut note = format!(
            "publish with `npm publish --registry {url}`, or add to the package's package.json: \
             \"publishConfig\": {{\"registry\": \"{url}\"}}"
        );
        if !secret {
            note.push_str("\n(publishing needs a login: run again with --user NAME)");
        }
        plan.notes.push(note);
    }
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    ["npm", "pnpm", "yarn"]
        .iter()
        .any(|e| env.which(e).is_some())
        || user_npmrc(env).exists()
}

/// `.npmrc` files from global to project, the environment, then Yarn's files.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Npm, "https://registry.npmjs.org/", &ctx.target);
    let mut npmrcs: Vec<PathBuf> = Vec::new();
    if let Some(path) = env.path_var("NPM_CONFIG_GLOBALCONFIG") {
        npmrcs.push(path);
    } else {
        npmrcs.push(PathBuf::from("/etc/npmrc"));
        if let Some(prefix) = env.path_var("NPM_CONFIG_PREFIX") {
            npmrcs.push(prefix.join("etc").join("npmrc"));
        }
    }
    npmrcs.push(user_npmrc(env));
    npmrcs.extend(project_dir(env).map(|d| d.join(".npmrc")));
    let mut seen = std::collections::BTreeSet::new();
    npmrcs.retain(|p| seen.insert(p.clone()));
    for path in npmrcs {
        let Some((entries, _)) = status.read(env, &path, |t| Ok(parse(t))) else {
            continue;
        };
        if let Some(entry) = entries.iter().rev().find(|e| e.key == "registry") {
            let i = status.file(env, &path, "registry", &entry.value);
            status.set_effective(i);
        }
        for entry in entries
            .iter()
            .filter(|e| e.key.starts_with('@') && e.key.ends_with(":registry"))
        {
            let i = status.file(env, &path, entry.key.clone(), &entry.value);
            status.extra(i);
        }
    }
    for (name, value) in env.vars_with_prefix("npm_config_registry") {
        if name.eq_ignore_ascii_case("npm_config_registry") {
            let i = status.var(name, value);
            status.set_effective(i);
        }
    }
    // Yarn Berry: the closest .yarnrc.yml wins, the home one last.
    let mut yarnrcs: Vec<PathBuf> = vec![env.home.join(".yarnrc.yml")];
    let mut project: Vec<PathBuf> = env.ancestors().map(|d| d.join(".yarnrc.yml")).collect();
    project.reverse();
    yarnrcs.extend(
        project
            .into_iter()
            .filter(|p| p != &env.home.join(".yarnrc.yml")),
    );
    let mut yarn = None;
    for path in yarnrcs {
        let Some(doc) = status.read(env, &path, yaml::parse) else {
            continue;
        };
        if let Some(url) = doc.get("npmRegistryServer").and_then(Value::as_str) {
            yarn = Some(status.file(env, &path, "npmRegistryServer (yarn 2+)", url));
        }
    }
    if let Some(url) = env.var("YARN_NPM_REGISTRY_SERVER") {
        yarn = Some(status.var("YARN_NPM_REGISTRY_SERVER", url));
    }
    if let Some(i) = yarn {
        status.extra(i);
    }
    find_credentials(ctx, &mut status);
    status
}

/// Per-registry credentials for repox's registry in the `.npmrc` files npm reads.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let env = &ctx.env;
    let nerf = nerf_dart(&ctx.target.npm());
    let mut files = vec![user_npmrc(env)];
    files.extend(project_dir(env).map(|d| d.join(".npmrc")));
    for path in files {
        let Some((entries, _)) = status.read(env, &path, |t| Ok(parse(t))) else {
            continue;
        };
        let value = |suffix: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e.key == format!("{nerf}{suffix}"))
                .map(|e| e.value.clone())
        };
        let user = value(":username");
        if value(":_authToken").is_some() {
            status.credentials_in(env, &path, &format!("{nerf}:_authToken"), None);
        } else if value(":_password").is_some() || value(":_auth").is_some() {
            status.credentials_in(env, &path, &format!("{nerf}:_password"), user.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn publish_adds_the_hosted_repositorys_token() {
        let mut t = target("http://127.0.0.1:8078/");
        t.publish = Some("npm-releases".into());
        t.credentials = Some(super::super::target::Credentials {
            username: None,
            token: "repox-tok".into(),
            password: false,
        });
        let after = edit_npmrc("save-exact=true\n", &t).unwrap();
        assert!(
            after.contains("//127.0.0.1:8078/npm/:_authToken=repox-tok"),
            "{after}"
        );
        assert!(
            after.contains("//127.0.0.1:8078/npm-releases/:_authToken=repox-tok"),
            "{after}"
        );
        assert!(after.starts_with("save-exact=true\n"), "{after}");
        assert_eq!(edit_npmrc(&after, &t).unwrap(), after, "idempotent");
        // A password login replaces the token, for both URLs.
        t.credentials = Some(super::super::target::Credentials {
            username: Some("alice".into()),
            token: "pw".into(),
            password: true,
        });
        let again = edit_npmrc(&after, &t).unwrap();
        assert!(!again.contains(":_authToken="), "{again}");
        assert!(
            again.contains("//127.0.0.1:8078/npm-releases/:username=alice"),
            "{again}"
        );
    }

    const NPMRC: &str = "\
; user npm config
save-exact=true
registry = https://registry.npmmirror.com/
@corp:registry=https://npm.corp.example/
//npm.corp.example/:_authToken=${CORP_TOKEN}
";

    #[test]
    fn npmrc_before_after() {
        let after = edit_npmrc(NPMRC, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("npmrc_before_after", after);
        assert_eq!(
            edit_npmrc(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn npmrc_token_and_sections() {
        let mut t = target("http://repox.lan:8078/");
        t.credentials = Some(super::super::target::Credentials {
            username: None,
            token: "npm_tok".into(),
            password: false,
        });
        let before = "# comment\nfund=false\n\n[some-section]\nregistry=ignored\n";
        let after = edit_npmrc(before, &t).unwrap();
        assert_eq!(
            after,
            "# comment\nfund=false\nregistry=http://repox.lan:8078/npm/\n//repox.lan:8078/npm/:_authToken=npm_tok\n\n[some-section]\nregistry=ignored\n"
        );
        assert_eq!(edit_npmrc(&after, &t).unwrap(), after);
        assert_eq!(edit_npmrc("", &t).unwrap().lines().count(), 2);
    }

    #[test]
    fn npmrc_password_is_basic_auth_and_replaces_a_token() {
        let mut t = target("http://repox.lan:8078/");
        t.credentials = Some(super::super::target::Credentials {
            username: Some("al".into()),
            token: "pw".into(),
            password: true,
        });
        let before = "registry=http://repox.lan:8078/npm/\n//repox.lan:8078/npm/:_authToken=old\n//other/:_authToken=keep\n";
        let after = edit_npmrc(before, &t).unwrap();
        assert_eq!(
            after,
            "registry=http://repox.lan:8078/npm/\n//other/:_authToken=keep\n//repox.lan:8078/npm/:username=al\n//repox.lan:8078/npm/:_password=cHc=\n"
        );
        assert_eq!(edit_npmrc(&after, &t).unwrap(), after);
    }

    #[test]
    fn yarnrc_before_after() {
        let before = "# yarn berry\nnodeLinker: node-modules\nunsafeHttpWhitelist:\n  - \"*.corp.example\"\nnpmRegistryServer: \"https://registry.yarnpkg.com\"\n";
        let after = edit_yarnrc(before, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("yarnrc_before_after", after);
        assert_eq!(
            edit_yarnrc(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn nerf_darts() {
        assert_eq!(
            nerf_dart("http://127.0.0.1:8078/npm/"),
            "//127.0.0.1:8078/npm/"
        );
        assert_eq!(nerf_dart("https://r.example"), "//r.example/");
    }
}
