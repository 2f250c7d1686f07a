//! Hosted PyPI: uploads through the legacy upload API, and the simple API generated from them.
//!
//! `twine upload --repository-url http://HOST/REPO/` and `uv publish --publish-url
//! http://HOST/REPO/` send a multipart `POST` to the repository URL (`legacy/` below it is
//! accepted too, as Nexus and Artifactory spell it): form fields first (`name`, `version`,
//! `sha256_digest`, `requires_python`, …), the file last (`content`). The file streams into
//! the store; the `sha256_digest` the client sent (required) and the `md5_digest` (when sent)
//! are checked before it is committed. A file that exists is refused with 409, as on PyPI; a
//! file must belong to the project it is uploaded as.
//!
//! Layout below the repository (and in the store, under `~hosted/REPO/`):
//!
//! | path | what |
//! |---|---|
//! | `simple/`, `simple/<project>/` | PEP 503 HTML / PEP 691 JSON, generated from the files |
//! | `dist/<project>/<file>` | an uploaded file |
//! | `dist/<project>/<file>.metadata` | a wheel's `METADATA` (PEP 658), extracted at upload |
//! | `yank/<project>/<file>` | (store only) the PEP 592 yank reason of a file |
//!
//! Pages carry PEP 700 `size` and `upload-time`, PEP 592 `yanked` and PEP 658 `core-metadata`
//! with its sha256. Admins yank (`POST /-/hosted/REPO/yank/<project>/<file>`, the body is the
//! reason), un-yank (`DELETE` of the same) and delete (`DELETE /-/hosted/REPO/dist/<project>/
//! <file>`).

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;

use super::{Expect, Upload, UploadError};
use crate::ecosystem::pypi::model::{Dist, Metadata, Page, merge};
use crate::ecosystem::pypi::negotiate::Variant;
use crate::ecosystem::pypi::{html, json, name, not_acceptable, redirect, variant};
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::{Entry, now_secs};

/// A wheel's `METADATA` larger than this is refused (PyPI's own limit is far below).
const MAX_METADATA: u64 = 16 << 20;
/// A form field other than the file larger than this is refused (long descriptions fit).
const MAX_FIELD: usize = 4 << 20;

/// Serves one request below a hosted PyPI repository; `rest` is the raw path below it.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
    body: Body,
) -> Response {
    let (method, req, uri) = (&parts.method, &parts.headers, &parts.uri);
    if rest.is_empty() || rest == "legacy/" || rest == "legacy" {
        return match *method {
            Method::POST => match upload(repo, req, body).await {
                Ok(()) => tagged(
                    (StatusCode::OK, "uploaded\n").into_response(),
                    Outcome::Pass,
                    None,
                ),
                Err(e) => e.into_response(),
            },
            _ => super::method_not_allowed("POST"),
        };
    }
    if *method != Method::GET && *method != Method::HEAD {
        return super::method_not_allowed("GET, HEAD");
    }
    let segments: Vec<&str> = rest.split('/').collect();
    match segments[..] {
        ["simple"] => redirect(&format!("/{}/simple/", repo.name), uri),
        ["simple", ""] => match variant(req, uri) {
            Ok(v) => match projects(repo).await {
                Ok(mut names) => {
                    if repo.policy.refuses_packages() {
                        names.retain(|n| repo.policy.refuses_package(n).is_none());
                    }
                    page_response(
                        method,
                        req,
                        v,
                        html::render_index(&names),
                        json::render_index(&names),
                    )
                }
                Err(e) => e.into_response(),
            },
            Err(e) => not_acceptable(e),
        },
        ["simple", project] | ["simple", project, ""] => {
            if !name::is_valid(project) {
                return super::not_found();
            }
            let normalized = name::normalize(project);
            if normalized != project || !rest.ends_with('/') {
                return redirect(&format!("/{}/simple/{normalized}/", repo.name), uri);
            }
            let v = match variant(req, uri) {
                Ok(v) => v,
                Err(e) => return not_acceptable(e),
            };
            match project_page(repo, project).await {
                Ok(Some(page)) => render_own(repo, method, req, v, project, page),
                Ok(None) => super::not_found(),
                Err(e) => e.into_response(),
            }
        }
        ["dist", project, file] if is_filename(file) && name::is_valid(project) => {
            let key = super::key(&repo.name, &format!("dist/{project}/{file}"));
            let refusal = || {
                let (dist, _) = crate::ecosystem::pypi::link::split_suffix(file);
                crate::policy::documents::pypi_version(dist)
                    .and_then(|version| super::refused(repo, project, version))
            };
            super::serve_held(repo, method, req, &key, CacheControl::Immutable, refusal).await
        }
        _ => super::not_found(),
    }
}

/// A filename repox stores: ASCII letters, digits and `._+!-`, not starting with `.`.
fn is_filename(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 255
        && !f.starts_with('.')
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'!' | b'-'))
}

/// What the form said about the file, besides the file.
#[derive(Default)]
struct Form {
    action: Option<String>,
    name: Option<String>,
    sha256: Option<String>,
    md5: Option<String>,
    requires_python: Option<String>,
}

/// A filled upload: the form and the file, not committed yet.
struct Received {
    project: String,
    filename: String,
    upload: Upload,
}

/// Reads the multipart form and commits the file it carries.
async fn upload(
    repo: &Arc<Repository>,
    req: &http::HeaderMap,
    body: Body,
) -> Result<(), UploadError> {
    let content_type = req
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        UploadError::BadRequest(
            "an upload is a multipart/form-data POST (the legacy upload API, as twine and uv publish send it)".into(),
        )
    })?;
    let mut form = Form::default();
    let mut received: Option<Received> = None;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let broken = |e: multer::Error| UploadError::Truncated(format!("the form is incomplete: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let field_name = field.name().unwrap_or("").to_owned();
        if field_name == "content" {
            if received.is_some() {
                return Err(UploadError::BadRequest("the form carries two files".into()));
            }
            let filename = field.file_name().unwrap_or("").to_owned();
            let mut r = start(repo, &form, filename).await?;
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                r.upload.write(chunk).await?;
            }
            received = Some(r);
            continue;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(broken)? {
            if value.len() + chunk.len() > MAX_FIELD {
                return Err(UploadError::BadRequest(format!(
                    "the form field `{field_name}` is larger than {MAX_FIELD} bytes"
                )));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8_lossy(&value).trim().to_owned();
        let slot = match field_name.as_str() {
            ":action" => &mut form.action,
            "name" => &mut form.name,
            "sha256_digest" => &mut form.sha256,
            "md5_digest" => &mut form.md5,
            "requires_python" => &mut form.requires_python,
            _ => continue,
        };
        if !value.is_empty() {
            *slot = Some(value);
        }
    }
    if let Some(action) = &form.action
        && action != "file_upload"
    {
        return Err(UploadError::BadRequest(format!(
            "`:action = {action}` is not supported; only file_upload"
        )));
    }
    let Some(mut r) = received else {
        return Err(UploadError::BadRequest(
            "the form has no `content` file".into(),
        ));
    };
    let mut expect = Vec::new();
    match form.sha256.as_deref().map(|h| Expect::parse("sha256", h)) {
        Some(Some(e)) => expect.push(e),
        Some(None) => {
            return Err(UploadError::BadRequest(
                "`sha256_digest` is not a hex SHA-256".into(),
            ));
        }
        None => {
            return Err(UploadError::BadRequest(
                "the form has no `sha256_digest`; repox checks it before storing a file".into(),
            ));
        }
    }
    if let Some(md5) = form.md5.as_deref() {
        // twine sends MD5 as hex; some clients send it base64url, which is not checked.
        if let Some(e) = Expect::parse("md5", md5) {
            expect.push(e);
        }
    }
    let metadata = match r.upload.take_copy()? {
        Some(file) => {
            let filename = r.filename.clone();
            let read = tokio::task::spawn_blocking(move || wheel_metadata(file, &filename))
                .await
                .map_err(UploadError::internal)?;
            Some(read.map_err(|e| {
                UploadError::BadRequest(format!("`{}` is not a readable wheel: {e}", r.filename))
            })?)
        }
        None => None,
    };
    let extra = json!({
        "project": r.project,
        "requires_python": form.requires_python,
    });
    let store = &repo.services.store;
    let key = r.upload.key().to_owned();
    r.upload
        .finish(&expect, "application/octet-stream", extra)
        .await?;
    if let Some(metadata) = metadata {
        super::put_bytes(
            store,
            &format!("{key}.metadata"),
            Bytes::from(metadata),
            "text/plain; charset=utf-8",
            serde_json::Value::Null,
        )
        .await?;
    }
    tracing::info!(repository = %repo.name, file = %r.filename, "uploaded");
    Ok(())
}

/// Checks the file's name against the form and opens its upload.
async fn start(
    repo: &Arc<Repository>,
    form: &Form,
    filename: String,
) -> Result<Received, UploadError> {
    let Some(project) = form.name.as_deref() else {
        return Err(UploadError::BadRequest(
            "the form field `name` must come before the file".into(),
        ));
    };
    if !name::is_valid(project) {
        return Err(UploadError::BadRequest(format!(
            "`{project}` is not a valid project name"
        )));
    }
    let project = name::normalize(project);
    if let Some(version) = crate::policy::documents::pypi_version(&filename) {
        super::admit(repo, &project, version)?;
    }
    if !is_filename(&filename) {
        return Err(UploadError::BadRequest(format!(
            "`{filename}` is not an acceptable filename (letters, digits and ._+!- only)"
        )));
    }
    let wheel = filename.ends_with(".whl");
    if !name::projects_of(&filename).contains(&project) {
        return Err(UploadError::BadRequest(format!(
            "`{filename}` is not a distribution of `{project}`"
        )));
    }
    let key = super::key(&repo.name, &format!("dist/{project}/{filename}"));
    let mut upload = Upload::begin(
        &repo.services.store,
        key,
        repo.config.max_file_size(),
        false,
    )
    .await?;
    if wheel {
        upload.keep_copy()?;
    }
    Ok(Received {
        project,
        filename,
        upload,
    })
}

/// The `METADATA` of a wheel: `<name>-<version>.dist-info/METADATA` (PEP 427), else the only
/// top-level `*.dist-info/METADATA`.
fn wheel_metadata(file: std::fs::File, filename: &str) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let stem = filename.strip_suffix(".whl").unwrap_or(filename);
    let mut fields = stem.split('-');
    let expected = format!(
        "{}-{}.dist-info/METADATA",
        fields.next().unwrap_or(""),
        fields.next().unwrap_or("")
    );
    let candidates: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| {
            n.strip_suffix(".dist-info/METADATA")
                .is_some_and(|dir| !dir.contains('/'))
        })
        .map(|n| n.into_owned())
        .collect();
    let chosen = candidates
        .iter()
        .find(|n| n.eq_ignore_ascii_case(&expected))
        .or(match candidates.as_slice() {
            [one] => Some(one),
            _ => None,
        })
        .ok_or_else(|| format!("it has no {expected}"))?;
    let entry = zip.by_name(chosen).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    entry
        .take(MAX_METADATA + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > MAX_METADATA {
        return Err(format!("its METADATA is larger than {MAX_METADATA} bytes"));
    }
    Ok(out)
}

/// The normalized names of every project with a file.
pub async fn projects(repo: &Repository) -> Result<Vec<String>, UploadError> {
    let files = super::list(&repo.services.store, &repo.name, "dist/").await?;
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.path.split('/').nth(1).map(str::to_owned))
        .collect();
    Ok(names.into_iter().collect())
}

/// The page of `project` with links relative to `/REPO/simple/<project>/`, or `None` when the
/// repository holds no file of it.
pub async fn project_page(repo: &Repository, project: &str) -> Result<Option<Page>, UploadError> {
    let store = &repo.services.store;
    let files = super::list(store, &repo.name, &format!("dist/{project}/")).await?;
    let yanks = super::list(store, &repo.name, &format!("yank/{project}/")).await?;
    let names: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.path.rsplit('/').next())
        .collect();
    let mut page = Page::default();
    page.meta.insert("api-version".into(), json!("1.1"));
    for file in files.iter().filter(|f| !f.path.ends_with(".metadata")) {
        let filename = file.path.rsplit('/').next().unwrap_or("");
        let key = super::key(&repo.name, &file.path);
        let Some(meta) = store.head(&key).await.map_err(UploadError::internal)? else {
            continue;
        };
        let mut d = Dist {
            filename: filename.to_owned(),
            url: format!("../../dist/{project}/{filename}"),
            hashes: vec![("sha256".into(), meta.digests.sha256.clone())],
            requires_python: meta
                .extra
                .get("requires_python")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            size: Some(meta.len),
            ..Dist::default()
        };
        if names.contains(format!("{filename}.metadata").as_str()) {
            let md = store
                .head(&format!("{key}.metadata"))
                .await
                .map_err(UploadError::internal)?;
            if let Some(md) = md {
                d.core_metadata = Some(Metadata::Hashes(vec![(
                    "sha256".into(),
                    md.digests.sha256.clone(),
                )]));
            }
        }
        if yanks
            .iter()
            .any(|y| y.path.rsplit('/').next() == Some(filename))
        {
            let yank_key = super::key(&repo.name, &format!("yank/{project}/{filename}"));
            let reason = match store.get(&yank_key).await.map_err(UploadError::internal)? {
                Some(e) => e.bytes().await.map_err(UploadError::internal)?,
                None => Bytes::new(),
            };
            d.yanked = Some(String::from_utf8_lossy(&reason).trim().to_owned());
        }
        d.fill_json();
        d.push_json("size", &meta.len);
        // PEP 700: ISO 8601 in UTC.
        let uploaded = std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.fetched_at);
        d.push_json(
            "upload-time",
            &humantime::format_rfc3339_micros(uploaded).to_string(),
        );
        page.files.push(d);
    }
    Ok((!page.files.is_empty()).then_some(page))
}

/// [`render`] of the page without the files the repository's rules refuse.
fn render_own(
    repo: &Repository,
    method: &Method,
    req: &http::HeaderMap,
    v: Variant,
    project: &str,
    page: Page,
) -> Response {
    render(method, req, v, project, own_rules(repo, project, page))
}

/// `page` of `project` without the files whose version the repository's rules refuse (`deny`,
/// advisories): what its own page and a group's merge show.
pub fn own_rules(repo: &Repository, project: &str, mut page: Page) -> Page {
    if repo.policy.is_active() {
        page.files.retain(|d| {
            let version = crate::policy::documents::pypi_version(&d.filename).unwrap_or("");
            super::verdict(repo, project, version).allows()
        });
    }
    page
}

/// Renders one page (its `url`s are the hrefs) in the negotiated variant.
pub fn render(
    method: &Method,
    req: &http::HeaderMap,
    v: Variant,
    project: &str,
    page: Page,
) -> Response {
    let merged = merge(project, vec![(0, page)]);
    let hrefs: Vec<String> = merged.files.iter().map(|(_, d)| d.url.clone()).collect();
    page_response(
        method,
        req,
        v,
        html::render(&merged, &hrefs),
        json::render(&merged, &hrefs),
    )
}

/// Answers with the variant's body: revalidated every time (uploads change pages at once).
pub fn page_response(
    method: &Method,
    req: &http::HeaderMap,
    v: Variant,
    html: Vec<u8>,
    json: Vec<u8>,
) -> Response {
    let body = match v {
        Variant::Json => json,
        Variant::Html | Variant::TextHtml => html,
    };
    let entry = Entry::from_bytes(Bytes::from(body), v.content_type(), None, now_secs());
    let mut resp = super::serve_entry(method, req, &entry, CacheControl::MaxAge(0));
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// `/-/hosted/REPO/…` actions: yank, un-yank, delete.
pub async fn admin(repo: &Arc<Repository>, method: &Method, rest: &str, body: Body) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let store = &repo.services.store;
    let result = match (method, &segments[..]) {
        (&Method::POST, ["yank", project, file])
            if is_filename(file) && name::is_valid(project) =>
        {
            let dist = super::key(&repo.name, &format!("dist/{project}/{file}"));
            match super::exists(store, &dist).await {
                Ok(true) => {
                    let reason = axum::body::to_bytes(body, 64 << 10)
                        .await
                        .unwrap_or_default();
                    let key = super::key(&repo.name, &format!("yank/{project}/{file}"));
                    super::put_bytes(
                        store,
                        &key,
                        reason,
                        "text/plain; charset=utf-8",
                        serde_json::Value::Null,
                    )
                    .await
                    .map(|_| "yanked\n")
                }
                Ok(false) => return super::not_found(),
                Err(e) => Err(e),
            }
        }
        (&Method::DELETE, ["yank", project, file])
            if is_filename(file) && name::is_valid(project) =>
        {
            let key = super::key(&repo.name, &format!("yank/{project}/{file}"));
            store
                .delete(&key)
                .await
                .map(|_| "un-yanked\n")
                .map_err(UploadError::internal)
        }
        (&Method::DELETE, ["dist", project, file])
            if is_filename(file) && name::is_valid(project) =>
        {
            let key = super::key(&repo.name, &format!("dist/{project}/{file}"));
            match store.delete(&key).await {
                Ok(Some(_)) => {
                    let _ = store.delete(&format!("{key}.metadata")).await;
                    let yank = super::key(&repo.name, &format!("yank/{project}/{file}"));
                    let _ = store.delete(&yank).await;
                    tracing::info!(repository = %repo.name, %file, "deleted");
                    Ok("deleted\n")
                }
                Ok(None) => return super::not_found(),
                Err(e) => Err(UploadError::internal(e)),
            }
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                "admin actions here: POST or DELETE yank/<project>/<file>, DELETE dist/<project>/<file>\n",
            )
                .into_response();
        }
    };
    match result {
        Ok(done) => (StatusCode::OK, done).into_response(),
        Err(e) => e.into_response(),
    }
}
