//! Hosted cargo: a sparse registry repox writes itself, over the index files of `index.rs`.
//!
//! Layout below the repository (and in the store, under `~hosted/REPO/`):
//!
//! | path | what |
//! |---|---|
//! | `index/config.json` | generated: `dl` and `api` point at this repository |
//! | `index/<se>/<rd>/<name>` | the crate's index file, one line per version |
//! | `dl/<name>/<version>/download` | the `.crate` (store: `crates/<name>/<version>.crate`) |
//! | `api/v1/crates/new` | `cargo publish` (PUT) |
//! | `api/v1/crates/<name>/<version>/yank`, `…/unyank` | `cargo yank` (DELETE), `--undo` (PUT) |
//! | (store only) `names/<canonical name>` | the spelling a crate was first published with |
//!
//! A publish holds the index file's upload lock from the read to the commit; the `.crate` is
//! committed before the line that lists it, so a crash in between leaves an unlisted file that
//! the next publish of that version replaces.

pub mod index;

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::Value;

pub use index::{CargoError, IndexLine, Publish};

use super::{Expect, Upload, UploadError};
use crate::ecosystem::cargo::index_path;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;

/// Metadata JSON beside the `.crate` in a publish body, at most.
const MAX_METADATA: u64 = 16 << 20;

impl IntoResponse for CargoError {
    fn into_response(self) -> Response {
        json(self.status(), &self.body())
    }
}

fn json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, axum::Json(body.clone())).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tagged(resp, Outcome::Pass, None)
}

/// cargo shows `errors[].detail` of a failed API call.
fn upload_error(e: UploadError) -> Response {
    let status = e.status();
    json(status, &CargoError::Invalid(e.to_string()).body())
}

fn index_key(repo: &Repository, name: &str) -> String {
    super::key(&repo.name, &format!("index/{}", index_path(name)))
}

fn crate_key(repo: &Repository, name: &str, version: &str) -> String {
    super::key(
        &repo.name,
        &format!("crates/{}/{version}.crate", name.to_ascii_lowercase()),
    )
}

fn names_key(repo: &Repository, name: &str) -> String {
    super::key(&repo.name, &format!("names/{}", index::canonical(name)))
}

/// Serves one request below a hosted cargo registry; `rest` is the raw path below it.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
    body: Body,
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let method = &parts.method;
    let read = *method == Method::GET || *method == Method::HEAD;
    match segments.as_slice() {
        ["index", "config.json"] if read => {
            let base = format!(
                "{}/{}",
                crate::origin::request_origin(&parts.headers, &parts.uri),
                repo.name
            );
            let doc = index::config_json(&base, repo.services.auth_required);
            super::serve_bytes(
                parts,
                serde_json::to_vec(&doc).unwrap_or_default(),
                "application/json",
            )
        }
        ["index", path @ ..] if read && !path.is_empty() => {
            let below = path.join("/");
            let name = path.last().copied().unwrap_or("");
            if !index::valid_name(name) || index_path(name) != below {
                return super::not_found();
            }
            // Index files change on every publish and yank: cargo revalidates with the ETag.
            match repo.services.store.get(&index_key(repo, name)).await {
                Ok(Some(entry)) => {
                    let filter = crate::policy::documents::cargo_index;
                    match super::own_rules(repo, "cargo-hosted-policy", name, entry, filter).await {
                        Ok(entry) => super::serve_entry(
                            method,
                            &parts.headers,
                            &entry,
                            CacheControl::MaxAge(0),
                        ),
                        Err(resp) => resp,
                    }
                }
                Ok(None) => super::not_found(),
                Err(e) => upload_error(UploadError::internal(e)),
            }
        }
        ["dl", name, version, "download"] if read => {
            if !index::valid_name(name) || !index::valid_version(version) {
                return super::not_found();
            }
            let key = crate_key(repo, name, version);
            super::serve_held(
                repo,
                method,
                &parts.headers,
                &key,
                CacheControl::Immutable,
                || super::refused(repo, name, version),
            )
            .await
        }
        ["api", "v1", "crates", "new"] if *method == Method::PUT => {
            match publish(repo, body).await {
                Ok(()) => json(StatusCode::OK, &index::published_body()),
                Err(r) => r,
            }
        }
        [
            "api",
            "v1",
            "crates",
            name,
            version,
            action @ ("yank" | "unyank"),
        ] => {
            let yanked = *action == "yank";
            let expected = if yanked { Method::DELETE } else { Method::PUT };
            if *method != expected {
                return super::method_not_allowed(if yanked { "DELETE" } else { "PUT" });
            }
            yank(repo, name, version, yanked).await
        }
        ["api", ..] => tagged(
            (
                StatusCode::NOT_FOUND,
                "a hosted cargo registry answers publish and yank only\n",
            )
                .into_response(),
            Outcome::Pass,
            None,
        ),
        _ if !read => super::method_not_allowed("GET, HEAD"),
        _ => super::not_found(),
    }
}

async fn read_stored(repo: &Repository, key: &str) -> Result<Option<Bytes>, UploadError> {
    match repo
        .services
        .store
        .get(key)
        .await
        .map_err(UploadError::internal)?
    {
        Some(entry) => Ok(Some(entry.bytes().await.map_err(UploadError::internal)?)),
        None => Ok(None),
    }
}

/// Writes `bytes` through an upload that already holds the key's lock.
async fn commit(mut up: Upload, bytes: Vec<u8>, content_type: &str) -> Result<(), UploadError> {
    up.write(Bytes::from(bytes)).await?;
    up.finish(&[], content_type, Value::Null).await?;
    Ok(())
}

/// `cargo publish`.
async fn publish(repo: &Arc<Repository>, body: Body) -> Result<(), Response> {
    // The frame is read whole; `index::MAX_CRATE` bounds it below `max_file_size`.
    let limit = repo
        .config
        .max_file_size()
        .min(index::MAX_CRATE as u64)
        .saturating_add(MAX_METADATA);
    let body = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            CargoError::Invalid(format!("cannot read the publish request: {e}")).into_response()
        })?;
    let mut p = Publish::parse(&body).map_err(IntoResponse::into_response)?;
    p.line.pubtime =
        Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    let name = p.line.name.clone();
    super::admit(repo, &name, &p.line.vers).map_err(upload_error)?;
    let store = &repo.services.store;
    let lock = Upload::begin(store, index_key(repo, &name), MAX_METADATA, true)
        .await
        .map_err(upload_error)?;
    let old = read_stored(repo, &index_key(repo, &name))
        .await
        .map_err(upload_error)?
        .unwrap_or_default();
    let first = read_stored(repo, &names_key(repo, &name))
        .await
        .map_err(upload_error)?;
    if let Some(first) = first.filter(|f| f[..] != *name.as_bytes()) {
        return Err(CargoError::Conflict(format!(
            "the crate is published as `{}`; `{name}` differs only in case or `-`/`_`",
            String::from_utf8_lossy(&first)
        ))
        .into_response());
    }
    let new = index::add(&old, &p.line).map_err(IntoResponse::into_response)?;
    let file = async {
        let mut up = Upload::begin(
            store,
            crate_key(repo, &name, &p.line.vers),
            repo.config.max_file_size(),
            true,
        )
        .await?;
        up.write(Bytes::from(p.file.clone())).await?;
        let expect: Vec<Expect> = Expect::parse("sha256", &p.line.cksum).into_iter().collect();
        up.finish(&expect, "application/x-tar", Value::Null).await
    };
    file.await.map_err(upload_error)?;
    super::put_bytes(
        store,
        &names_key(repo, &name),
        Bytes::from(name.clone().into_bytes()),
        "text/plain",
        Value::Null,
    )
    .await
    .map_err(upload_error)?;
    commit(lock, new, "application/json")
        .await
        .map_err(upload_error)?;
    tracing::info!("cargo publish {name}@{} to {}", p.line.vers, repo.name);
    Ok(())
}

/// `cargo yank` / `cargo yank --undo`.
async fn yank(repo: &Arc<Repository>, name: &str, version: &str, yanked: bool) -> Response {
    if !index::valid_name(name) || !index::valid_version(version) {
        return CargoError::NotFound(format!("{name}@{version} is not published here"))
            .into_response();
    }
    let store = &repo.services.store;
    let lock = match Upload::begin(store, index_key(repo, name), MAX_METADATA, true).await {
        Ok(l) => l,
        Err(e) => return upload_error(e),
    };
    let old = match read_stored(repo, &index_key(repo, name)).await {
        Ok(Some(old)) => old,
        Ok(None) => {
            return CargoError::NotFound(format!("crate `{name}` is not published here"))
                .into_response();
        }
        Err(e) => return upload_error(e),
    };
    let new = match index::set_yanked(&old, version, yanked) {
        Ok(new) => new,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = commit(lock, new, "application/json").await {
        return upload_error(e);
    }
    json(StatusCode::OK, &serde_json::json!({ "ok": true }))
}
