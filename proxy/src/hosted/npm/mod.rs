//! Hosted npm: the registry endpoints `npm publish`, `npm install`, `npm dist-tag`,
//! `npm deprecate`, `npm unpublish` and `npm view` use, over the documents of `document.rs`.
//!
//! Layout below the repository (and in the store, under `~hosted/REPO/`):
//!
//! | path | what |
//! |---|---|
//! | `<name>`, `@scope/<name>` (also `@scope%2f<name>`) | the packument, generated |
//! | `<name>/<version or tag>` | one version's manifest |
//! | `<name>/-/<base>-<version>.tgz` | a tarball |
//! | `<name>/-/package.json` | (store only) the package's [`Document`] |
//! | `-/package/<name>/dist-tags[/<tag>]` | dist-tags |
//!
//! Every change to a package holds its document's upload lock from the read to the commit, so
//! two writers never lose each other's change (the second gets 409 and npm retries or reports).
//! The tarball is committed before the document that lists it: a crash in between leaves an
//! unlisted file, which the next publish of that version overwrites.

pub mod document;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

pub use document::{Document, NpmError, Publish, UnpublishPolicy, semver_cmp};

use super::{Expect, Upload, UploadError};
use crate::auth::directory::Identity;
use crate::auth::permission::Role;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::Entry;

/// A publish body holds the tarball in base64: a third larger than the file.
const MAX_JSON_OVERHEAD: u64 = 64 << 20;
/// The publish body is read whole (it is one JSON document), so tarballs are capped below
/// `max_file_size` (npmjs refuses packages far smaller).
const MAX_TARBALL: u64 = 256 << 20;
/// How long after publication a writer may unpublish (npmjs: 72 hours).
const UNPUBLISH_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// Edits other than a publish are small documents.
const MAX_EDIT: usize = 32 << 20;

impl IntoResponse for NpmError {
    fn into_response(self) -> Response {
        json_error(self.status(), &self.to_string())
    }
}

/// npm prints the `error` member of a failed write.
fn json_error(status: StatusCode, why: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "error": why }))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tagged(resp, Outcome::Pass, None)
}

fn upload_error(e: UploadError) -> Response {
    json_error(e.status(), &e.to_string())
}

fn ok_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tagged(resp, Outcome::Pass, None)
}

/// The package name and what follows it, from the segments below the repository.
fn split_name<'a>(segments: &'a [&'a str]) -> Option<(String, &'a [&'a str])> {
    match segments {
        [scope, name, rest @ ..] if scope.starts_with('@') => {
            Some((format!("{scope}/{name}"), rest))
        }
        [name, rest @ ..] if !name.starts_with('@') && !name.is_empty() => {
            Some(((*name).to_owned(), rest))
        }
        _ => None,
    }
    .filter(|(name, _)| document::valid_name(name))
}

fn doc_key(repo: &Repository, name: &str) -> String {
    super::key(&repo.name, &format!("{name}/-/package.json"))
}

fn tarball_key(repo: &Repository, name: &str, file: &str) -> String {
    super::key(&repo.name, &format!("{name}/-/{file}"))
}

/// Serves one request below a hosted npm repository; `rest` is the raw path below it.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
    body: Body,
) -> Response {
    let decoded = rest
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%40", "@");
    let segments: Vec<&str> = decoded.trim_end_matches('/').split('/').collect();
    let method = &parts.method;
    if segments.first() == Some(&"-") {
        return dash(repo, parts, &segments[1..], body).await;
    }
    let Some((name, rest)) = split_name(&segments) else {
        return super::not_found();
    };
    match (method.clone(), rest) {
        (Method::GET | Method::HEAD, []) => packument(repo, parts, &name).await,
        (Method::GET | Method::HEAD, ["-", file]) if file.ends_with(".tgz") => {
            let base = name.rsplit('/').next().unwrap_or(&name);
            let version = file
                .strip_suffix(".tgz")
                .and_then(|f| f.strip_prefix(base))
                .and_then(|f| f.strip_prefix('-'));
            let key = tarball_key(repo, &name, file);
            super::serve_held(
                repo,
                method,
                &parts.headers,
                &key,
                CacheControl::Immutable,
                || version.and_then(|v| super::refused(repo, &name, v)),
            )
            .await
        }
        (Method::GET | Method::HEAD, [version]) => {
            version_document(repo, parts, &name, version).await
        }
        (Method::PUT, []) | (Method::PUT, ["-rev", _]) => {
            let rev = rest.get(1).copied();
            put(repo, parts, &name, rev, body).await
        }
        (Method::DELETE, ["-rev", rev]) => unpublish_all(repo, parts, &name, rev).await,
        (Method::DELETE, ["-", file, "-rev", _]) if file.ends_with(".tgz") => {
            delete_tarball(repo, &name, file).await
        }
        (Method::GET | Method::HEAD, _) => super::not_found(),
        _ => super::method_not_allowed("GET, HEAD, PUT, DELETE"),
    }
}

/// `/-/…`: dist-tags, ping, whoami; login is answered by `login.rs` once the auth gate lets it.
async fn dash(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    segments: &[&str],
    body: Body,
) -> Response {
    let method = &parts.method;
    match segments {
        ["ping"] => ok_json(StatusCode::OK, json!({})),
        ["whoami"] => match parts.extensions.get::<Identity>() {
            Some(who) => ok_json(StatusCode::OK, json!({ "username": who.name })),
            None => json_error(StatusCode::UNAUTHORIZED, "not logged in"),
        },
        ["package", name @ .., "dist-tags"] => {
            let Some((name, [])) = split_name(name) else {
                return super::not_found();
            };
            match *method {
                Method::GET | Method::HEAD => match load(repo, &name).await {
                    Ok(Some(doc)) => ok_json(StatusCode::OK, json!(doc.dist_tags)),
                    Ok(None) => {
                        NpmError::NotFound(format!("{name} is not published here")).into_response()
                    }
                    Err(e) => upload_error(e),
                },
                _ => super::method_not_allowed("GET, HEAD"),
            }
        }
        ["package", name @ .., "dist-tags", tag] => {
            let Some((name, [])) = split_name(name) else {
                return super::not_found();
            };
            let tag = (*tag).to_owned();
            match *method {
                Method::PUT | Method::POST => {
                    let body = match read_body(body).await {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let version = match document::parse_tag_body(&body) {
                        Ok(v) => v,
                        Err(e) => return e.into_response(),
                    };
                    edit(repo, &name, None, |doc, now| {
                        doc.set_tag(&tag, &version, now).map(|()| Vec::new())
                    })
                    .await
                }
                Method::DELETE => {
                    edit(repo, &name, None, |doc, now| {
                        doc.remove_tag(&tag, now).map(|()| Vec::new())
                    })
                    .await
                }
                _ => super::method_not_allowed("PUT, DELETE"),
            }
        }
        _ => tagged(
            (
                StatusCode::NOT_FOUND,
                "not an endpoint of this hosted npm repository\n",
            )
                .into_response(),
            Outcome::Pass,
            None,
        ),
    }
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_EDIT).await.map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            &format!("cannot read the request body: {e}"),
        )
    })
}

/// The stored document of `name`, if it was ever published.
async fn load(repo: &Repository, name: &str) -> Result<Option<Document>, UploadError> {
    let Some(entry) = repo
        .services
        .store
        .get(&doc_key(repo, name))
        .await
        .map_err(UploadError::internal)?
    else {
        return Ok(None);
    };
    let bytes = entry.bytes().await.map_err(UploadError::internal)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| UploadError::internal(format!("the stored document of {name}: {e}")))
}

/// Commits `doc` through the upload that holds its lock.
async fn save(mut lock: Upload, doc: &Document) -> Result<(), UploadError> {
    let bytes = serde_json::to_vec(doc).map_err(UploadError::internal)?;
    lock.write(Bytes::from(bytes)).await?;
    lock.finish(&[], "application/json", Value::Null).await?;
    Ok(())
}

/// Locks the document of `name`, applies `change` (which returns tarballs to delete), saves.
async fn edit<F>(repo: &Arc<Repository>, name: &str, rev: Option<&str>, change: F) -> Response
where
    F: FnOnce(&mut Document, SystemTime) -> Result<Vec<String>, NpmError>,
{
    let store = &repo.services.store;
    let lock = match Upload::begin(store, doc_key(repo, name), MAX_EDIT as u64, true).await {
        Ok(l) => l,
        Err(e) => return upload_error(e),
    };
    let mut doc = match load(repo, name).await {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return NpmError::NotFound(format!("{name} is not published here")).into_response();
        }
        Err(e) => return upload_error(e),
    };
    if let Err(e) = doc.check_rev(rev) {
        return e.into_response();
    }
    let gone = match change(&mut doc, SystemTime::now()) {
        Ok(gone) => gone,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = save(lock, &doc).await {
        return upload_error(e);
    }
    for file in gone {
        if let Err(e) = store.delete(&tarball_key(repo, name, &file)).await {
            tracing::warn!("cannot delete the unpublished {name}/-/{file}: {e}");
        }
    }
    ok_json(
        StatusCode::OK,
        json!({ "ok": true, "id": name, "rev": doc.rev_string() }),
    )
}

fn policy(repo: &Repository, parts: &http::request::Parts) -> UnpublishPolicy {
    let admin = parts.extensions.get::<Identity>().is_some_and(|who| {
        who.user
            .repositories
            .get(&repo.name)
            .copied()
            .unwrap_or(who.user.role)
            >= Role::Admin
    });
    UnpublishPolicy {
        window: UNPUBLISH_WINDOW,
        admin,
    }
}

/// `PUT /<name>`: a publish when it carries a tarball, else an edit of the document.
async fn put(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    name: &str,
    rev: Option<&str>,
    body: Body,
) -> Response {
    let limit = repo
        .config
        .max_file_size()
        .min(MAX_TARBALL)
        .saturating_mul(4)
        / 3
        + MAX_JSON_OVERHEAD;
    let body = match axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX)).await
    {
        Ok(b) => b,
        Err(e) => {
            return upload_error(UploadError::Truncated(format!(
                "cannot read the publish body: {e}"
            )));
        }
    };
    let has_attachments = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("_attachments")
                .and_then(Value::as_object)
                .map(|a| !a.is_empty())
        })
        .unwrap_or(false);
    if has_attachments {
        return publish(repo, name, &body).await;
    }
    let policy = policy(repo, parts);
    edit(repo, name, rev, |doc, now| {
        let removed = doc.update(&body, now, policy)?;
        Ok(removed
            .versions
            .iter()
            .map(|v| document::tarball_file(name, v))
            .collect())
    })
    .await
}

/// `npm publish`: verify, store the tarball, then the document that lists it.
async fn publish(repo: &Arc<Repository>, name: &str, body: &[u8]) -> Response {
    let p = match Publish::parse(name, body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = super::admit(repo, name, &p.version) {
        return upload_error(e);
    }
    let store = &repo.services.store;
    let lock = match Upload::begin(store, doc_key(repo, name), MAX_EDIT as u64, true).await {
        Ok(l) => l,
        Err(e) => return upload_error(e),
    };
    let now = SystemTime::now();
    let mut doc = match load(repo, name).await {
        Ok(Some(doc)) => doc,
        Ok(None) => Document::new(name, now),
        Err(e) => return upload_error(e),
    };
    if let Err(e) = doc.publish(&p, now) {
        return e.into_response();
    }
    let file = document::tarball_file(name, &p.version);
    // The document (under its lock) is the authority: a tarball it does not list is a leftover.
    let stored = async {
        let mut up = Upload::begin(
            store,
            tarball_key(repo, name, &file),
            repo.config.max_file_size(),
            true,
        )
        .await?;
        up.write(Bytes::from(p.tarball.clone())).await?;
        let sha1 = hex::encode(<sha1::Sha1 as sha2::Digest>::digest(&p.tarball));
        let expect: Vec<Expect> = Expect::parse("sha1", &sha1).into_iter().collect();
        up.finish(&expect, "application/octet-stream", Value::Null)
            .await
    };
    if let Err(e) = stored.await {
        return upload_error(e);
    }
    if let Err(e) = save(lock, &doc).await {
        return upload_error(e);
    }
    tracing::info!("npm publish {name}@{} to {}", p.version, repo.name);
    ok_json(
        StatusCode::CREATED,
        json!({ "ok": true, "id": name, "rev": doc.rev_string() }),
    )
}

/// `npm unpublish <name>` (or of its only version).
async fn unpublish_all(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    name: &str,
    rev: &str,
) -> Response {
    let store = &repo.services.store;
    let lock = match Upload::begin(store, doc_key(repo, name), MAX_EDIT as u64, true).await {
        Ok(l) => l,
        Err(e) => return upload_error(e),
    };
    let mut doc = match load(repo, name).await {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return NpmError::NotFound(format!("{name} is not published here")).into_response();
        }
        Err(e) => return upload_error(e),
    };
    if let Err(e) = doc.check_rev(Some(rev)) {
        return e.into_response();
    }
    let now = SystemTime::now();
    let versions: Vec<String> = doc.versions.keys().cloned().collect();
    if let Err(e) = doc.may_unpublish(&versions, now, policy(repo, parts)) {
        return e.into_response();
    }
    // The document stays, empty, so that the versions are never published again.
    doc.versions.clear();
    doc.dist_tags.clear();
    doc.rev += 1;
    doc.modified = document::timestamp(now);
    if let Err(e) = save(lock, &doc).await {
        return upload_error(e);
    }
    for v in versions {
        let key = tarball_key(repo, name, &document::tarball_file(name, &v));
        if let Err(e) = store.delete(&key).await {
            tracing::warn!("cannot delete {key}: {e}");
        }
    }
    tracing::info!("npm unpublish {name} from {}", repo.name);
    ok_json(StatusCode::OK, json!({ "ok": true }))
}

/// The tarball delete npm sends after an unpublish edit: the edit already removed it.
async fn delete_tarball(repo: &Arc<Repository>, name: &str, file: &str) -> Response {
    match load(repo, name).await {
        Ok(Some(doc)) => {
            let listed = doc
                .versions
                .keys()
                .any(|v| document::tarball_file(name, v) == file);
            if listed {
                return NpmError::Conflict(format!(
                    "{file} belongs to a published version: unpublish the version"
                ))
                .into_response();
            }
            let _ = repo
                .services
                .store
                .delete(&tarball_key(repo, name, file))
                .await;
            ok_json(StatusCode::OK, json!({ "ok": true }))
        }
        Ok(None) => super::not_found(),
        Err(e) => upload_error(e),
    }
}

/// The packument, full or abbreviated by `Accept` (`?write=true` always full).
async fn packument(repo: &Arc<Repository>, parts: &http::request::Parts, name: &str) -> Response {
    let doc = match load(repo, name).await {
        Ok(Some(doc)) if !doc.versions.is_empty() => doc,
        Ok(_) => return super::not_found(),
        Err(e) => return upload_error(e),
    };
    let write = parts.uri.query().is_some_and(|q| q.contains("write=true"));
    let full = write
        || !parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("application/vnd.npm.install-v1+json"));
    // The publisher's own read (`?write=true`, before an edit it sends back) sees every version.
    let entry = if write {
        let content_type = "application/json";
        json_entry(&doc.render(&base_url(repo, parts), true), content_type)
    } else {
        match served(repo, parts, name, &doc, full).await {
            Ok(entry) => entry,
            Err(resp) => return resp,
        }
    };
    respond_entry(parts, &entry)
}

/// The URL of this repository as the client reached it, tarball URLs' base.
fn base_url(repo: &Repository, parts: &http::request::Parts) -> String {
    format!(
        "{}/{}/",
        crate::origin::request_origin(&parts.headers, &parts.uri),
        repo.name
    )
}

/// The packument of `doc` as clients read it: full or abbreviated, without what the
/// repository's rules refuse (a `dist-tags` entry naming a refused version moves or goes).
async fn served(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    name: &str,
    doc: &Document,
    full: bool,
) -> Result<Entry, Response> {
    let rendered = doc.render(&base_url(repo, parts), full);
    let content_type = if full {
        "application/json"
    } else {
        "application/vnd.npm.install-v1+json"
    };
    let entry = json_entry(&rendered, content_type);
    let n = name.to_owned();
    let filter = move |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
        crate::policy::documents::npm_packument(p, &n, body, up, now)
            .ok()
            .flatten()
    };
    super::own_rules(repo, "npm-hosted-policy", name, entry, filter).await
}

fn json_entry(value: &Value, content_type: &str) -> Entry {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Entry::from_bytes(
        Bytes::from(bytes),
        content_type,
        None,
        crate::store::now_secs(),
    )
}

fn respond_entry(parts: &http::request::Parts, entry: &Entry) -> Response {
    let mut resp = super::serve_entry(
        &parts.method,
        &parts.headers,
        entry,
        CacheControl::MaxAge(0),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn respond_json(parts: &http::request::Parts, value: &Value, content_type: &str) -> Response {
    respond_entry(parts, &json_entry(value, content_type))
}

/// `GET /<name>/<version or tag>`. A tag resolves as the served packument's `dist-tags` have
/// it, so it never names a refused version (a proxy resolves tags the same way). A version
/// it does not hold is 404, also when the rules would refuse it; one it holds and the rules
/// refuse is 403.
async fn version_document(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    name: &str,
    wanted: &str,
) -> Response {
    let doc = match load(repo, name).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return super::not_found(),
        Err(e) => return upload_error(e),
    };
    let version = if !crate::policy::documents::npm_is_tag(wanted) {
        wanted.to_owned()
    } else if repo.policy.is_active() {
        let entry = match served(repo, parts, name, &doc, true).await {
            Ok(entry) => entry,
            Err(resp) => return resp,
        };
        let body = match entry.bytes().await {
            Ok(body) => body,
            Err(e) => return upload_error(UploadError::internal(e)),
        };
        match crate::policy::documents::npm_dist_tag(&body, wanted) {
            Some(v) => v,
            None => return super::not_found(),
        }
    } else {
        match doc.dist_tags.get(wanted) {
            Some(v) => v.clone(),
            None => return super::not_found(),
        }
    };
    // As for a file (`hosted::serve_held`): a version it does not hold is 404 whatever the
    // rules say (so a group asks its other members), a held one the rules refuse is 403.
    if !doc.versions.contains_key(&version) {
        return super::not_found();
    }
    if let Some(refused) = super::refused(repo, name, &version) {
        return refused;
    }
    match doc.render(&base_url(repo, parts), true)["versions"].get(&version) {
        Some(m) => respond_json(parts, m, "application/json"),
        None => super::not_found(),
    }
}
