//! cargo: `[source.crates-io] replace-with = "repox"` and a sparse `[source.repox]` in
//! `$CARGO_HOME/config.toml`.
//!
//! Source replacement is cargo's mirror mechanism (rust-lang/cargo `source-replacement.md`); the
//! sparse protocol needs the `sparse+` prefix (cargo ≥ 1.68). cargo only sends tokens to
//! registries it knows by name, so with credentials the replacement is a `[registries.repox]`
//! entry instead and the token goes to `$CARGO_HOME/credentials.toml`, where `cargo login` would
//! put it; the server must then say `"auth-required": true` in its index `config.json`.

use std::path::PathBuf;

use toml_edit::Item;

use super::env::Env;
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::Malformed;
use super::tomldoc;
use super::{Client, Scope};
use crate::settings::Hinted;

const NAME: &str = "repox";

/// Sets the crates.io replacement in the text of a cargo `config.toml`.
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    let mut doc = tomldoc::parse(old)?;
    let index = target.cargo_sparse();
    let root = doc.as_table_mut();
    tomldoc::set_str(
        tomldoc::table_mut(root, &["source", "crates-io"])?,
        "replace-with",
        NAME,
    );
    if target.credentials.is_some() {
        // A [source.repox] would shadow the registry (and its token); drop ours if present.
        let sources = tomldoc::table_mut(root, &["source"])?;
        if sources
            .get(NAME)
            .and_then(|s| s.get("registry"))
            .and_then(Item::as_str)
            .is_some_and(|r| target.serves(r))
        {
            sources.remove(NAME);
        }
        let registry = tomldoc::table_mut(root, &["registries", NAME])?;
        tomldoc::set_str(registry, "index", &index);
        // cargo refuses an authenticated registry without a credential provider
        // (registry-authentication.md); `cargo:token` reads credentials.toml.
        tomldoc::set_str(registry, "credential-provider", "cargo:token");
    } else {
        tomldoc::set_str(
            tomldoc::table_mut(root, &["source", NAME])?,
            "registry",
            &index,
        );
    }
    if let Some((name, index)) = publish_registry(target) {
        let registry = tomldoc::table_mut(doc.as_table_mut(), &["registries", &name])?;
        tomldoc::set_str(registry, "index", &index);
        tomldoc::set_str(registry, "credential-provider", "cargo:token");
    }
    let new = doc.to_string();
    verify(&new, target)?;
    Ok(new)
}

/// `--publish REPO`: the registry name `cargo publish --registry NAME` uses (the repository's
/// name when cargo accepts it, else `repox-publish`) and its sparse index URL.
pub fn publish_registry(target: &Target) -> Option<(String, String)> {
    let repo = target.publish.as_deref()?;
    let cargo_name = repo
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && repo != NAME;
    let name = if cargo_name { repo } else { "repox-publish" };
    Some((
        name.to_owned(),
        format!("sparse+{}", target.join(&format!("{repo}/index/"))),
    ))
}

fn verify(new: &str, target: &Target) -> Result<(), Malformed> {
    let value: toml::Table = toml::from_str(new)
        .map_err(|e| Malformed::new(1, format!("internal error: result is not TOML: {e}")))?;
    let get = |path: &[&str]| {
        let mut v = value.get(path[0])?;
        for key in &path[1..] {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_owned)
    };
    let replaced = get(&["source", "crates-io", "replace-with"]).as_deref() == Some(NAME);
    let url = if target.credentials.is_some() {
        get(&["registries", NAME, "index"])
    } else {
        get(&["source", NAME, "registry"])
    };
    if replaced && url == Some(target.cargo_sparse()) {
        Ok(())
    } else {
        Err(Malformed::new(
            1,
            "internal error: the replacement does not read back",
        ))
    }
}

/// Sets the registry token in the text of `credentials.toml`.
#[cfg(test)]
pub fn edit_credentials(old: &str, token: &str) -> Result<String, Malformed> {
    edit_credentials_of(old, &[NAME], token)
}

/// Sets the token of each of `registries` in the text of `credentials.toml`.
fn edit_credentials_of(old: &str, registries: &[&str], token: &str) -> Result<String, Malformed> {
    let mut doc = tomldoc::parse(old)?;
    for name in registries {
        tomldoc::set_str(
            tomldoc::table_mut(doc.as_table_mut(), &["registries", name])?,
            "token",
            token,
        );
    }
    Ok(doc.to_string())
}

/// What cargo sends as `Authorization`, verbatim: a token as is, a password as basic auth.
fn cargo_token(creds: &super::target::Credentials) -> String {
    if creds.is_token() {
        creds.token.clone()
    } else {
        creds.basic_header()
    }
}

fn cargo_home(env: &Env) -> PathBuf {
    env.path_var("CARGO_HOME")
        .unwrap_or_else(|| env.home.join(".cargo"))
}

/// `config` without extension wins when both exist (cargo warns about it).
fn config_in(dir: PathBuf) -> PathBuf {
    let legacy = dir.join("config");
    if legacy.is_file() {
        legacy
    } else {
        dir.join("config.toml")
    }
}

fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => config_in(cargo_home(env)),
        Scope::Project => {
            let root = env
                .find_up(&["Cargo.lock"])
                .or_else(|| env.find_up(&["Cargo.toml"]))
                .unwrap_or_else(|| env.cwd.clone());
            config_in(root.join(".cargo"))
        }
        Scope::Global => {
            return Err(Hinted {
                message: "cargo has no machine-wide configuration file".to_owned(),
                hint: "use --scope user (or point CARGO_HOME at a shared directory)".to_owned(),
            }
            .into());
        }
    })
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let mut plan = Plan::new(Client::Cargo, ctx.scope);
    plan.edits
        .push(FileEdit::compute(Client::Cargo, &path, false, |old| {
            edit(old, &ctx.target)
        })?);
    if let Some(creds) = &ctx.target.credentials {
        let home = cargo_home(&ctx.env);
        let legacy = home.join("credentials");
        let credentials = if legacy.is_file() {
            legacy
        } else {
            home.join("credentials.toml")
        };
        plan.edits.push(FileEdit::compute(
            Client::Cargo,
            &credentials,
            true,
            |old| {
                let publish = publish_registry(&ctx.target).map(|(name, _)| name);
                let mut names = vec![NAME];
                names.extend(publish.as_deref());
                edit_credentials_of(old, &names, &cargo_token(creds))
            },
        )?);
        plan.notes.push(
            "cargo sends the token only if the index's config.json has \"auth-required\": true"
                .to_owned(),
        );
    }
    if let Some((name, _)) = publish_registry(&ctx.target) {
        let mut note = format!(
            "publish with `cargo publish --registry {name}`; depend on its crates with \
             `{{ version = \"…\", registry = \"{name}\" }}` (or a group's index)"
        );
        if ctx.target.credentials.is_none() {
            note.push_str("\n(publishing needs a token: run again with --user NAME)");
        }
        plan.notes.push(note);
    }
    Ok(plan)
}

pub fn detect(env: &Env) -> bool {
    env.which("cargo").is_some() || cargo_home(env).is_dir()
}

/// The config files cargo merges, from `$CARGO_HOME` (lowest) to the working directory
/// (highest), and the URL `crates-io` is replaced with.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(
        Client::Cargo,
        "sparse+https://index.crates.io/",
        &ctx.target,
    );
    let mut files: Vec<PathBuf> = vec![config_in(cargo_home(env))];
    let mut dirs: Vec<PathBuf> = env.ancestors().map(|d| d.join(".cargo")).collect();
    dirs.reverse();
    files.extend(dirs.into_iter().map(config_in));
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));

    let mut replace_with: Option<String> = None;
    let mut urls: std::collections::BTreeMap<String, (PathBuf, String, String)> =
        Default::default();
    for path in &files {
        let Some(doc) = status.read(env, path, tomldoc::parse) else {
            continue;
        };
        let table = doc.as_table();
        if let Some(name) = tomldoc::table(table, &["source", "crates-io"])
            .and_then(|t| t.get("replace-with"))
            .and_then(Item::as_str)
        {
            status.info(env.display(path), "source.crates-io.replace-with", name);
            replace_with = Some(name.to_owned());
        }
        for (section, key) in [("source", "registry"), ("registries", "index")] {
            if let Some(tables) = table.get(section).and_then(Item::as_table_like) {
                for (name, item) in tables.iter() {
                    if let Some(url) = item.get(key).and_then(Item::as_str) {
                        // Later (closer) files win.
                        urls.insert(
                            name.to_owned(),
                            (
                                path.clone(),
                                format!("{section}.{name}.{key}"),
                                url.to_owned(),
                            ),
                        );
                    }
                }
            }
        }
    }
    if let Some(name) = env.var("CARGO_SOURCE_CRATES_IO_REPLACE_WITH") {
        status.info("$CARGO_SOURCE_CRATES_IO_REPLACE_WITH".to_owned(), "", name);
        replace_with = Some(name.to_owned());
    }
    if let Some(name) = replace_with {
        match urls.get(&name) {
            Some((path, setting, url)) => {
                let i = status.file(env, path, setting.clone(), url);
                status.set_effective(i);
            }
            None => status.note(format!(
                "crates-io is replaced with `{name}`, which no config file defines"
            )),
        }
    }
    find_credentials(ctx, &mut status);
    status
}

/// The token of the `repox` registry in cargo's credentials file.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let home = cargo_home(&ctx.env);
    for path in [home.join("credentials.toml"), home.join("credentials")] {
        let Some(doc) = status.read(&ctx.env, &path, tomldoc::parse) else {
            continue;
        };
        let has_token = tomldoc::table(doc.as_table(), &["registries", NAME])
            .and_then(|t| t.get("token"))
            .and_then(Item::as_str)
            .is_some();
        if has_token {
            status.credentials_in(&ctx.env, &path, "registries.repox.token", None);
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

    const BEFORE: &str = r#"# ~/.cargo/config.toml
[build]
jobs = 8 # laptop

[source.crates-io]
replace-with = "ustc"  # faster from here

[source.ustc]
registry = "sparse+https://mirrors.ustc.edu.cn/crates.io-index/"

[net]
git-fetch-with-cli = true
"#;

    #[test]
    fn before_after() {
        let after = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("cargo_before_after", after);
        assert_eq!(
            edit(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn with_credentials_uses_a_registry() {
        let mut t = target("https://repox.corp/");
        let plain = edit("", &t).unwrap();
        t.credentials = Some(super::super::target::Credentials {
            username: None,
            token: "cio_tok".into(),
            password: false,
        });
        let after = edit(&plain, &t).unwrap();
        insta::assert_snapshot!("cargo_credentials", after);
        assert_eq!(
            edit_credentials("", "cio_tok").unwrap(),
            "[registries.repox]\ntoken = \"cio_tok\"\n"
        );
    }

    #[test]
    fn publish_adds_a_registry_for_the_hosted_repository() {
        let mut t = target("http://127.0.0.1:8078/");
        t.publish = Some("cargo-releases".into());
        let after = edit("[net]\nretry = 3\n", &t).unwrap();
        let doc: toml::Table = toml::from_str(&after).unwrap();
        assert_eq!(
            doc["registries"]["cargo-releases"]["index"].as_str(),
            Some("sparse+http://127.0.0.1:8078/cargo-releases/index/")
        );
        assert_eq!(
            doc["registries"]["cargo-releases"]["credential-provider"].as_str(),
            Some("cargo:token")
        );
        assert_eq!(
            doc["net"]["retry"].as_integer(),
            Some(3),
            "unrelated keys stay"
        );
        assert_eq!(edit(&after, &t).unwrap(), after, "idempotent");
        t.publish = Some("my.releases".into());
        assert_eq!(publish_registry(&t).unwrap().0, "repox-publish");
        let creds = edit_credentials_of("", &["repox", "cargo-releases"], "tok").unwrap();
        let doc: toml::Table = toml::from_str(&creds).unwrap();
        assert_eq!(
            doc["registries"]["cargo-releases"]["token"].as_str(),
            Some("tok")
        );
        assert_eq!(doc["registries"]["repox"]["token"].as_str(), Some("tok"));
    }

    #[test]
    fn new_file() {
        assert_eq!(
            edit("", &target("http://127.0.0.1:8078/")).unwrap(),
            "[source.crates-io]\nreplace-with = \"repox\"\n\n[source.repox]\nregistry = \"sparse+http://127.0.0.1:8078/cargo/index/\"\n"
        );
    }
}
