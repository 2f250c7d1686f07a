//! The settings API: read the repositories' configuration, change, add or remove a repository,
//! set `[server] ca_certificates`, undo the last change (`docs/admin-api.md`, "Settings").
//!
//! A change is checked like the config file (same keys, same rules), put in force at once
//! (`live/`), and written into the config file with its comments and layout kept
//! (`live/edit.rs`), the previous text kept for undo. Nothing changes unless everything
//! succeeds. Secrets never leave: an upstream's password comes from the variable named by
//! `password_env`, and a password written into a URL is taken out of what is shown and put back
//! when the same URL comes back without it. Files (`ca_certificates`) are shown and written
//! back as the config file spells them, a relative path staying relative.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::config::{Config, RepoName, RepositoryConfig};
use crate::live::{self, edit};
use crate::server::App;

/// The settings routes, relative to `/-/api`.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/config", get(show))
        .route("/config/undo", post(undo))
        .route("/server", put(set_server))
        .route("/repositories/{name}", put(set).delete(remove))
}

/// An answer `{"error": ...}` with its status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// Keys shown as `null` when unset, so that a client sees every key it may set.
const REPOSITORY_OPTIONAL: &[&str] = &[
    "negative_ttl",
    "metadata_ttl",
    "index_ttl",
    "max_file_size",
    "max_download_time",
    "min_rate",
];
const UPSTREAM_OPTIONAL: &[&str] = &["proxy", "username", "password_env", "ca_certificates"];

/// A repository's settings as JSON, with the keys of the config file; no secret's value.
pub fn repository_json(repo: &RepositoryConfig) -> Value {
    let mut value = serde_json::to_value(repo).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        for key in REPOSITORY_OPTIONAL {
            object.entry(*key).or_insert(Value::Null);
        }
        if let Some(Value::Array(upstreams)) = object.get_mut("upstreams") {
            for up in upstreams.iter_mut().filter_map(Value::as_object_mut) {
                for key in UPSTREAM_OPTIONAL {
                    up.entry(*key).or_insert(Value::Null);
                }
                up.entry("channels").or_insert_with(|| json!([]));
                for key in ["url", "proxy"] {
                    if let Some(Value::String(url)) = up.get_mut(key) {
                        *url = without_password(url);
                    }
                }
            }
        }
    }
    value
}

/// `url` without the password written into it.
fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `GET /-/api/config` (also the answer to an undo).
fn config_body(app: &App) -> Value {
    let live = app.live();
    let config = live.config();
    let file = live.file().filter(|p| p.exists());
    let repositories: BTreeMap<&str, Value> = config
        .repositories
        .iter()
        .map(|(name, repo)| (name.as_str(), repository_json(repo)))
        .collect();
    let mut body = json!({
        "file": file.map(|p| p.display().to_string()),
        "can_undo": live.file().is_some_and(|p| edit::backup_path(&edit::real_path(p)).exists()),
        "server": server_json(&config),
        "repositories": repositories,
    });
    if let Some(e) = live.last_error() {
        body["last_error"] = Value::String(e);
    }
    body
}

/// The `[server]` keys the API may change, as the config file spells them.
fn server_json(config: &Config) -> Value {
    json!({ "ca_certificates": config.server.ca_certificates.as_ref().map(|f| f.written()) })
}

async fn show(State(app): State<Arc<App>>) -> Response {
    axum::Json(config_body(&app)).into_response()
}

/// A repository from the request body: the config file's keys, `null` meaning unset.
fn parse_repository(body: &[u8]) -> Result<RepositoryConfig, String> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not JSON ({e}); send the repository as an object"))?;
    drop_nulls(&mut value);
    serde_path_to_error::deserialize::<_, RepositoryConfig>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => format!("{inner}"),
            _ => format!("`{path}`: {inner}"),
        }
    })
}

/// Removes the `null` members of objects (unset keys) at any depth.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, v| !v.is_null());
            object.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Puts back a password a URL had when the same URL comes back without one.
fn keep_passwords(repo: &mut RepositoryConfig, before: Option<&RepositoryConfig>) {
    let Some(before) = before else {
        return;
    };
    let restore = |new: &mut Url, old: &Url| {
        if new.password().is_none()
            && old.password().is_some()
            && without_password(old.as_str()) == new.as_str()
        {
            *new = old.clone();
        }
    };
    for up in &mut repo.upstreams {
        if let Some(old) = before.upstreams.iter().find(|o| o.name == up.name) {
            restore(&mut up.url, &old.url);
            if let (Some(new), Some(old)) = (&mut up.proxy, &old.proxy) {
                restore(new, old);
            }
        }
    }
}

/// The config file and its text (empty when it does not exist yet).
fn file_text(app: &App) -> Result<(PathBuf, String), ApiError> {
    let Some(path) = app.live().file() else {
        return Err(error(
            StatusCode::CONFLICT,
            "this server was started without a config file, so changes cannot be saved",
        ));
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((path.to_owned(), text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((path.to_owned(), String::new())),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read config file `{}`: {e}", path.display()),
        )),
    }
}

/// Checks `new_text` as the file, applies it, and saves it; nothing changes on failure.
async fn change(
    app: &Arc<App>,
    path: &Path,
    old_text: &str,
    new_text: &str,
) -> Result<Config, ApiError> {
    let config =
        Config::parse(new_text, path).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let prepared = live::prepare_apart(app, config)
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    edit::save(path, old_text, new_text).map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "cannot write config file `{}`: {e}; nothing was changed",
                path.display()
            ),
        )
    })?;
    let config = prepared.config().clone();
    live::commit(app, prepared);
    Ok(config)
}

fn repo_name(name: &str) -> Result<RepoName, ApiError> {
    RepoName::parse(name).map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

async fn set(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = repo_name(&name)?;
    let mut repo = parse_repository(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("repositories.{name}: {e}")))?;
    let _guard = app.live().begin().await;
    let current = app.live().config();
    keep_passwords(&mut repo, current.repositories.get(&name));
    repo.validate().map_err(|problem| {
        error(
            StatusCode::BAD_REQUEST,
            problem.in_repository(name.as_str()),
        )
    })?;
    let (path, text) = file_text(&app)?;
    let new_text = edit::set_repository(&text, &name, &repo)
        .map_err(|e| error(StatusCode::CONFLICT, format!("{}: {e}", path.display())))?;
    let config = change(&app, &path, &text, &new_text).await?;
    let repo = config
        .repositories
        .get(&name)
        .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "the change was lost"))?;
    Ok(axum::Json(json!({ "repository": repository_json(repo) })).into_response())
}

/// `PUT /-/api/server`: `{"ca_certificates": "PATH"}` (or `null`), the server-wide CA file,
/// put in force at once. The other `[server]` keys need a restart: they are refused here.
async fn set_server(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON ({e}); send {{\"ca_certificates\": \"PATH\"}}"),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "send an object: {\"ca_certificates\": \"PATH\"} (or null)",
        ));
    };
    let mut ca = None;
    for (key, value) in object {
        match (key.as_str(), value) {
            ("ca_certificates", Value::Null) => {}
            ("ca_certificates", Value::String(path)) if path.trim().is_empty() => {}
            ("ca_certificates", Value::String(path)) => ca = Some(PathBuf::from(path)),
            ("ca_certificates", other) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("server.ca_certificates: expected a path or null, got {other}"),
                ));
            }
            (key, _) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "server.{key}: only `ca_certificates` can be changed here; edit \
                         `[server]` in the config file and restart repox"
                    ),
                ));
            }
        }
    }
    let _guard = app.live().begin().await;
    let (path, text) = file_text(&app)?;
    let new_text = edit::set_server_ca(&text, ca.as_deref())
        .map_err(|e| error(StatusCode::CONFLICT, format!("{}: {e}", path.display())))?;
    let config = change(&app, &path, &text, &new_text).await?;
    Ok(axum::Json(json!({ "server": server_json(&config) })).into_response())
}

async fn remove(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let name = repo_name(&name)?;
    let _guard = app.live().begin().await;
    if !app.live().config().repositories.contains_key(&name) {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no repository `{name}` on this server"),
        ));
    }
    if Config::embedded().repositories.contains_key(&name) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{name}` is a built-in repository, which a config file cannot remove; \
                 disable its upstreams instead"
            ),
        ));
    }
    let (path, text) = file_text(&app)?;
    let new_text = edit::remove_repository(&text, &name)
        .map_err(|e| error(StatusCode::CONFLICT, format!("{}: {e}", path.display())))?
        .ok_or_else(|| {
            error(
                StatusCode::CONFLICT,
                format!(
                    "`{name}` is not in `{}` (edited since it was loaded?); fix the file first",
                    path.display()
                ),
            )
        })?;
    change(&app, &path, &text, &new_text).await?;
    Ok(axum::Json(json!({ "removed": name.as_str() })).into_response())
}

async fn undo(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let guard = app.live().begin().await;
    let (path, _) = file_text(&app)?;
    let target = edit::real_path(&path);
    let backup = edit::backup_path(&target);
    let previous = match std::fs::read_to_string(&backup) {
        Ok(previous) => previous,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error(StatusCode::CONFLICT, "there is no change to undo"));
        }
        Err(e) => {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read `{}`: {e}", backup.display()),
            ));
        }
    };
    let config = Config::parse(&previous, &path)
        .map_err(|e| error(StatusCode::CONFLICT, format!("cannot undo: {e}")))?;
    let prepared = live::prepare_apart(&app, config)
        .await
        .map_err(|e| error(StatusCode::CONFLICT, format!("cannot undo: {e}")))?;
    edit::write_atomic(&target, &previous).map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write config file `{}`: {e}", path.display()),
        )
    })?;
    // One level of undo: the backup is used up.
    let _ = std::fs::remove_file(&backup);
    live::commit(&app, prepared);
    drop(guard);
    Ok(axum::Json(config_body(&app)).into_response())
}
