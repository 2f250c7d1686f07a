//! `repox configure`: edit each client's own configuration so that it fetches through repox,
//! show what is in effect (`--status`), and put files back (`--undo`).
//!
//! Each client lives in its own module with a pure editor (`fn(old_text, &Target) -> new_text`),
//! the location of its files per scope and platform, and a status reader. This module resolves
//! the command line into a [`plan::Context`], asks the client modules for plans, and hands them to
//! [`plan`] for the diff, the confirmation, the atomic write and the undo record.

mod cargo;
mod conda;
mod coursier;
mod env;
mod files;
#[cfg(test)]
mod fuzz_tests;
mod gradle;
mod history;
mod ini;
mod maven;
pub(crate) mod netrc;
mod npm;
mod pip;
mod pixi;
mod plan;
mod properties;
mod pypirc;
mod sbt;
mod status;
mod target;
mod text;
mod tomldoc;
mod undo;
mod uv;
mod xml;
mod yaml;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use crate::cli::{ConfigureArgs, GlobalArgs};
use crate::settings::{self, Hinted};
use env::Env;
use history::History;
use plan::{Context, Mode, Plan};
use status::Status;
use target::{Credentials, Target};

/// Clients repox can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Client {
    Pip,
    Uv,
    Conda,
    Pixi,
    Sbt,
    Coursier,
    Maven,
    Gradle,
    Npm,
    Cargo,
}

impl Client {
    pub const ALL: [Client; 10] = [
        Client::Pip,
        Client::Uv,
        Client::Conda,
        Client::Pixi,
        Client::Sbt,
        Client::Coursier,
        Client::Maven,
        Client::Gradle,
        Client::Npm,
        Client::Cargo,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Client::Pip => "pip",
            Client::Uv => "uv",
            Client::Conda => "conda",
            Client::Pixi => "pixi",
            Client::Sbt => "sbt",
            Client::Coursier => "coursier",
            Client::Maven => "maven",
            Client::Gradle => "gradle",
            Client::Npm => "npm",
            Client::Cargo => "cargo",
        }
    }

    fn plan(self, ctx: &Context) -> anyhow::Result<Plan> {
        match self {
            Client::Pip => pip::plan(ctx),
            Client::Uv => uv::plan(ctx),
            Client::Conda => conda::plan(ctx),
            Client::Pixi => pixi::plan(ctx),
            Client::Sbt => sbt::plan(ctx),
            Client::Coursier => coursier::plan(ctx),
            Client::Maven => maven::plan(ctx),
            Client::Gradle => gradle::plan(ctx),
            Client::Npm => npm::plan(ctx),
            Client::Cargo => cargo::plan(ctx),
        }
    }

    fn status(self, ctx: &Context) -> Status {
        match self {
            Client::Pip => pip::status(ctx),
            Client::Uv => uv::status(ctx),
            Client::Conda => conda::status(ctx),
            Client::Pixi => pixi::status(ctx),
            Client::Sbt => sbt::status(ctx),
            Client::Coursier => coursier::status(ctx),
            Client::Maven => maven::status(ctx),
            Client::Gradle => gradle::status(ctx),
            Client::Npm => npm::status(ctx),
            Client::Cargo => cargo::status(ctx),
        }
    }

    /// Whether the client seems installed or configured on this machine.
    fn detect(self, env: &Env) -> bool {
        match self {
            Client::Pip => pip::detect(env),
            Client::Uv => uv::detect(env),
            Client::Conda => conda::detect(env),
            Client::Pixi => pixi::detect(env),
            Client::Sbt => sbt::detect(env),
            Client::Coursier => coursier::detect(env),
            Client::Maven => maven::detect(env),
            Client::Gradle => gradle::detect(env),
            Client::Npm => npm::detect(env),
            Client::Cargo => cargo::detect(env),
        }
    }
}

/// Which file of a client to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// The current user's file (the default).
    User,
    /// The current project's (or active environment's) file.
    Project,
    /// The machine-wide file (usually needs root).
    Global,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Global => "global",
        }
    }
}

pub fn run(global: &GlobalArgs, args: &ConfigureArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process()?;
    let history = History::new(&env);

    if args.status {
        let mut target = target(global, args, &env, false)?;
        // What `configure --url URL` wrote is repox too, without `--url` repeated.
        if args.url.is_none() {
            for base in history.servers() {
                target.also_serves(base);
            }
        }
        let ctx = Context {
            target,
            env,
            scope: args.scope,
        };
        let clients = if args.clients.is_empty() {
            Client::ALL.to_vec()
        } else {
            unique(&args.clients)
        };
        for (i, client) in clients.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", client.status(&ctx).render());
        }
        return Ok(ExitCode::SUCCESS);
    }

    let clients = if !args.clients.is_empty() {
        unique(&args.clients)
    } else if args.undo {
        return Err(undo::no_client_named(&history));
    } else {
        choose(&env)?
    };
    if clients.is_empty() {
        println!("no client chosen, nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let mode = Mode::from_flags(args.dry_run, args.yes, args.undo)?;
    if args.undo {
        return undo::run(&env, &history, &clients, mode);
    }

    let ctx = Context {
        target: target(global, args, &env, true)?,
        env,
        scope: args.scope,
    };
    if ctx.target.credentials.is_some() && ctx.target.is_insecure_remote() {
        eprintln!(
            "warning: clients will send these credentials over plain http to {}; serve repox \
             over https (or behind a TLS proxy) when it is reached across a network",
            ctx.target.host_port()
        );
    }
    // Every plan is computed before anything is written, so one malformed file stops the whole
    // command with nothing changed.
    let mut plans = clients
        .iter()
        .map(|client| client.plan(&ctx))
        .collect::<anyhow::Result<Vec<Plan>>>()?;
    let masks = ctx
        .target
        .credentials
        .as_ref()
        .map(|c| c.secret_forms())
        .unwrap_or_default();
    // pip and uv share the netrc file: a later plan starts from what an earlier one wrote.
    let mut written: Vec<std::path::PathBuf> = Vec::new();
    for plan in &mut plans {
        plan.masks = masks.clone();
        for edit in &mut plan.edits {
            if written.contains(&edit.path) {
                edit.before = files::read(&edit.path)?;
            }
        }
        let plan = &*plan;
        let write = plan::confirm(&ctx.env, plan, mode)?;
        if write {
            plan::write(&ctx.env, Some(&history), plan)?;
            if let Err(e) = history.remember_server(ctx.target.base()) {
                tracing::warn!("cannot remember the server for `configure --status`: {e:#}");
            }
            written.extend(plan.changed().map(|e| e.path.clone()));
            println!(
                "{}: to put the files back: repox configure --undo {}",
                plan.client.name(),
                plan.client.name()
            );
        }
        let declined = mode == Mode::Ask && !write && !plan.is_noop();
        if declined {
            continue;
        }
        for note in &plan.notes {
            println!("{}: note: {note}", plan.client.name());
        }
        // What the client will use now, unless this was only a preview.
        if mode != Mode::DryRun {
            let status = plan.client.status(&ctx);
            if !status.all_repox() {
                eprintln!(
                    "{}: warning: something still bypasses repox:\n{}",
                    plan.client.name(),
                    status.render()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The netrc file pip and uv read on this machine (for `repox warm`).
pub fn netrc_file() -> Option<std::path::PathBuf> {
    Env::from_process().ok().map(|env| netrc::file(&env))
}

fn unique(clients: &[Client]) -> Vec<Client> {
    let mut out: Vec<Client> = Vec::new();
    for c in clients {
        if !out.contains(c) {
            out.push(*c);
        }
    }
    out
}

/// The repox server to point clients at: `--url`, else the local server of the effective config.
fn target(
    global: &GlobalArgs,
    args: &ConfigureArgs,
    env: &Env,
    with_credentials: bool,
) -> anyhow::Result<Target> {
    // The config is needed for the default URL; with --url it only refines coursier's mirror list.
    let (base, config) = match &args.url {
        Some(url) => (url.clone(), settings::load(global, None).ok()),
        None => {
            let config = settings::load(global, None)?;
            (settings::server_url(&config), Some(config))
        }
    };
    let mut target = Target::new(&base).map_err(|message| Hinted {
        message,
        hint: "pass the server's base URL, e.g. --url http://127.0.0.1:8078/".to_owned(),
    })?;
    if let Some(config) = &config
        && let Some(upstreams) = maven_upstreams(config)
    {
        target.maven_upstreams = upstreams;
    }
    if args.maven_external_only {
        target.maven_mirror_of = "external:*";
    }
    target.snapshot = args.snapshot.clone();
    if with_credentials {
        target.credentials = credentials(args, env)?;
    }
    if let Some(repo) = &args.publish {
        let segment = !repo.is_empty()
            && !repo.starts_with('.')
            && repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !segment {
            return Err(Hinted {
                message: format!("--publish {repo:?} is not a repository name"),
                hint: "pass the name of a hosted repository of repox, e.g. --publish pypi-releases"
                    .to_owned(),
            }
            .into());
        }
        target.publish = Some(repo.clone());
    }
    Ok(target)
}

/// The credentials asked for: `--user` and/or a secret from `--token-env`/`--password-env`,
/// else from a hidden prompt on the terminal.
fn credentials(args: &ConfigureArgs, env: &Env) -> anyhow::Result<Option<Credentials>> {
    let var = args.token_env.as_ref().or(args.password_env.as_ref());
    let token = match (var, &args.user) {
        (None, None) => return Ok(None),
        (Some(var), _) => {
            let flag = if args.token_env.is_some() {
                "--token-env"
            } else {
                "--password-env"
            };
            env.var(var)
                .ok_or_else(|| Hinted {
                    message: format!("{flag} {var}: the variable {var} is not set or empty"),
                    hint: format!(
                        "export the secret first without typing it on the command line, e.g. \
                         `read -rs {var} && export {var}`"
                    ),
                })?
                .to_owned()
        }
        (None, Some(user)) => prompt_secret(user)?,
    };
    if let Some(user) = &args.user
        && (user.is_empty() || user.contains(|c: char| c == ':' || c.is_whitespace()))
    {
        return Err(Hinted {
            message: format!("--user {user:?}: a user name cannot be empty or hold `:` or spaces"),
            hint: "pass the name given to `repox user add`".to_owned(),
        }
        .into());
    }
    let password = args.password_env.is_some()
        || (args.token_env.is_none() && !token.starts_with(target::TOKEN_PREFIX));
    Ok(Some(Credentials {
        username: args.user.clone(),
        token,
        password,
    }))
}

/// Asks for the secret of `user` without echoing it.
fn prompt_secret(user: &str) -> anyhow::Result<String> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Hinted {
            message: format!("--user {user}: no secret given and no terminal to ask for it on"),
            hint: "put a token in a variable and pass --token-env VAR (or the password with \
                   --password-env VAR)"
                .to_owned(),
        }
        .into());
    }
    let secret = dialoguer::Password::new()
        .with_prompt(format!("Token or password of repox user {user}"))
        .interact()
        .map_err(|e| anyhow::anyhow!("cannot read the secret from the terminal: {e}"))?;
    anyhow::ensure!(!secret.is_empty(), "no secret given for --user {user}");
    Ok(secret)
}

/// The upstream URLs of the `maven` repository of the effective config, plus `repo1.maven.org`
/// when Maven Central is among them (coursier calls Central by that name).
fn maven_upstreams(config: &repox_proxy::config::Config) -> Option<Vec<String>> {
    let (_, repo) = config.repositories.iter().find(|(name, repo)| {
        name.as_str() == "maven" && repo.kind == repox_proxy::config::Kind::Maven
    })?;
    let mut urls: Vec<String> = repo
        .upstreams
        .iter()
        .filter(|u| u.enabled)
        .map(|u| u.url.as_str().trim_end_matches('/').to_owned())
        .collect();
    let central = [
        "https://repo.maven.apache.org/maven2",
        "https://repo1.maven.org/maven2",
    ];
    if urls.iter().any(|u| central.contains(&u.as_str())) {
        for c in central {
            if !urls.iter().any(|u| u == c) {
                urls.insert(0, c.to_owned());
            }
        }
    }
    (!urls.is_empty()).then_some(urls)
}

/// Asks which clients to configure, offering the ones found on this machine.
fn choose(env: &Env) -> anyhow::Result<Vec<Client>> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        let names: Vec<&str> = Client::ALL.iter().map(|c| c.name()).collect();
        return Err(Hinted {
            message: "no client named, and no terminal to choose them on".to_owned(),
            hint: format!(
                "name the clients to configure, e.g. `repox configure pip npm` (one or more of: {})",
                names.join(", ")
            ),
        }
        .into());
    }
    let found: Vec<bool> = Client::ALL.iter().map(|c| c.detect(env)).collect();
    let items: Vec<String> = Client::ALL
        .iter()
        .zip(&found)
        .map(|(c, f)| {
            if *f {
                c.name().to_owned()
            } else {
                format!("{} (not found on this machine)", c.name())
            }
        })
        .collect();
    let chosen = dialoguer::MultiSelect::new()
        .with_prompt("Configure which clients? (space toggles, enter confirms)")
        .items(&items)
        .defaults(&found)
        .interact()
        .map_err(|e| anyhow::anyhow!("cannot read the choice from the terminal: {e}"))?;
    Ok(chosen.into_iter().map(|i| Client::ALL[i]).collect())
}
