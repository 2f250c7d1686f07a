//! Hosted conda: channels of uploaded packages, with `repodata.json` regenerated per subdir.
//!
//! Layout below the repository (and in the store, under `~hosted/REPO/`):
//!
//! | path | what |
//! |---|---|
//! | `<channel>/<subdir>/<file>` | a package (`.conda`, `.tar.bz2`); PUT uploads it |
//! | `<channel>/<subdir>/repodata.json`, `.json.zst` | generated after every upload |
//! | (store only) `<channel>/<subdir>/.records.json` | the records repodata is made from |
//!
//! An upload streams into the store while a private copy is kept to read its
//! `info/index.json` (`package.rs`); it is committed only when that agrees with the path and
//! the `X-Checksum-Sha256` (or `X-Checksum-Md5`) the client sent, if any, matches.
//! The subdir's records are then updated under their own upload lock, and both repodata files
//! rewritten. A subdir nothing was uploaded to answers an empty repodata, as conda needs
//! `noarch` to exist in every channel.

pub mod package;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;

pub use package::{CondaError, Format, check, read_index};

use super::{Expect, Upload, UploadError};
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::Entry;

pub(super) const RECORDS: &str = ".records.json";
/// The records of one subdir, at most (a few hundred bytes per package).
const MAX_RECORDS: u64 = 1 << 30;

impl IntoResponse for CondaError {
    fn into_response(self) -> Response {
        UploadError::BadRequest(self.to_string()).into_response()
    }
}

/// A package file name repox stores: ASCII letters, digits and `._+!-`, not starting with `.`.
fn valid_file(f: &str) -> bool {
    Format::of(f).is_some()
        && f.len() <= 255
        && !f.starts_with('.')
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'!' | b'-'))
}

/// Serves one request below a hosted conda repository; `rest` is the raw path below it.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
    body: Body,
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let [channel, subdir, file] = segments[..] else {
        return super::not_found();
    };
    if !package::valid_channel(channel) || !package::valid_subdir(subdir) {
        return super::not_found();
    }
    let method = &parts.method;
    let read = *method == Method::GET || *method == Method::HEAD;
    let key = |f: &str| super::key(&repo.name, &format!("{channel}/{subdir}/{f}"));
    match file {
        "repodata.json" | "repodata.json.zst" if read && repo.policy.is_active() => {
            filtered_repodata(repo, parts, subdir, file, &key("repodata.json")).await
        }
        "repodata.json" | "repodata.json.zst" if read => {
            match repo.services.store.get(&key(file)).await {
                Ok(Some(entry)) => {
                    super::serve_entry(method, &parts.headers, &entry, CacheControl::MaxAge(0))
                }
                Ok(None) => {
                    let empty = package::repodata(subdir, &BTreeMap::new());
                    let (body, content_type) = match file {
                        "repodata.json" => (empty, "application/json"),
                        _ => match package::compress(&empty) {
                            Ok(z) => (z, "application/zstd"),
                            Err(e) => return UploadError::internal(e).into_response(),
                        },
                    };
                    let entry = Entry::from_bytes(
                        Bytes::from(body),
                        content_type,
                        None,
                        crate::store::now_secs(),
                    );
                    super::serve_entry(method, &parts.headers, &entry, CacheControl::MaxAge(0))
                }
                Err(e) => UploadError::internal(e).into_response(),
            }
        }
        f if valid_file(f) && read => {
            super::serve_held(
                repo,
                method,
                &parts.headers,
                &key(f),
                CacheControl::Immutable,
                || name_version(f).and_then(|(name, version)| super::refused(repo, name, version)),
            )
            .await
        }
        f if valid_file(f) && *method == Method::PUT => {
            match upload(repo, parts, channel, subdir, f, body).await {
                Ok(()) => tagged(
                    (StatusCode::CREATED, "uploaded\n").into_response(),
                    Outcome::Pass,
                    None,
                ),
                Err(e) => e.into_response(),
            }
        }
        _ if read => super::not_found(),
        _ => super::method_not_allowed("GET, HEAD, PUT"),
    }
}

/// `(name, version)` of a package file `<name>-<version>-<build>.<ext>` (version and build
/// hold no `-`).
fn name_version(file: &str) -> Option<(&str, &str)> {
    let (_, stem) = package::Format::of(file)?;
    let mut parts = stem.rsplitn(3, '-');
    let (_build, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((name, version))
}

/// The subdir's repodata (`repodata.json`, or compressed for `repodata.json.zst`) without the
/// records the repository's rules refuse.
async fn filtered_repodata(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    subdir: &str,
    file: &str,
    json_key: &str,
) -> Response {
    let entry = match repo.services.store.get(json_key).await {
        Ok(Some(entry)) => entry,
        Ok(None) => Entry::from_bytes(
            Bytes::from(package::repodata(subdir, &BTreeMap::new())),
            "application/json",
            None,
            crate::store::now_secs(),
        ),
        Err(e) => return UploadError::internal(e).into_response(),
    };
    let filter = |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
        crate::policy::documents::conda_repodata(p, body, up, now)
            .ok()
            .flatten()
    };
    let entry = match super::own_rules(repo, "conda-hosted-policy", json_key, entry, filter).await {
        Ok(entry) => entry,
        Err(resp) => return resp,
    };
    if file == "repodata.json" {
        return super::serve_entry(
            &parts.method,
            &parts.headers,
            &entry,
            CacheControl::MaxAge(0),
        );
    }
    match entry.bytes().await.map(|json| package::compress(&json)) {
        Ok(Ok(z)) => super::serve_bytes(parts, z, "application/zstd"),
        Ok(Err(e)) => UploadError::internal(e).into_response(),
        Err(e) => UploadError::internal(e).into_response(),
    }
}

/// The package names of every record hosted `repo` holds in `dir` (`<channel>/<subdir>`),
/// those its own rules leave out of the served repodata included: a group's
/// dependency-confusion rule decides on them, so denying a private name never lets an
/// upstream's records of that name through.
pub async fn held_names(
    repo: &Repository,
    dir: &str,
) -> Result<std::collections::HashSet<String>, Response> {
    let valid = matches!(dir.split('/').collect::<Vec<_>>()[..],
        [channel, subdir] if package::valid_channel(channel) && package::valid_subdir(subdir));
    if !valid {
        return Ok(Default::default());
    }
    let key = super::key(&repo.name, &format!("{dir}/repodata.json"));
    let entry = match repo.services.store.get(&key).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return Ok(Default::default()),
        Err(e) => return Err(UploadError::internal(e).into_response()),
    };
    let body = entry
        .bytes()
        .await
        .map_err(|e| UploadError::internal(e).into_response())?;
    #[derive(serde::Deserialize)]
    struct Record {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        packages: BTreeMap<String, Record>,
        #[serde(default, rename = "packages.conda")]
        conda: BTreeMap<String, Record>,
    }
    let doc: Doc = serde_json::from_slice(&body)
        .map_err(|e| UploadError::internal(format!("{key}: {e}")).into_response())?;
    Ok(doc
        .packages
        .into_values()
        .chain(doc.conda.into_values())
        .map(|r| r.name)
        .collect())
}

/// The digests the client sent with the upload.
fn expected(headers: &http::HeaderMap) -> Vec<Expect> {
    [("x-checksum-sha256", "sha256"), ("x-checksum-md5", "md5")]
        .iter()
        .filter_map(|(h, alg)| {
            let v = headers.get(*h)?.to_str().ok()?;
            Expect::parse(alg, v)
        })
        .collect()
}

async fn upload(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    channel: &str,
    subdir: &str,
    file: &str,
    body: Body,
) -> Result<(), UploadError> {
    // A header that names a digest but cannot be read is a client error, not "no digest".
    for h in ["x-checksum-sha256", "x-checksum-md5"] {
        if parts.headers.contains_key(h) && expected(&parts.headers).is_empty() {
            return Err(UploadError::BadRequest(format!("{h} is not a hex digest")));
        }
    }
    if let Some((name, version)) = name_version(file) {
        super::admit(repo, name, version)?;
    }
    let store = &repo.services.store;
    let key = super::key(&repo.name, &format!("{channel}/{subdir}/{file}"));
    let mut up = Upload::begin(store, key, repo.config.max_file_size(), false).await?;
    up.keep_copy()?;
    up.write_body(body).await?;
    let copy = up
        .take_copy()?
        .ok_or_else(|| UploadError::internal("the upload's copy is missing"))?;
    let file_owned = file.to_owned();
    let subdir_owned = subdir.to_owned();
    let (index, size) = tokio::task::spawn_blocking(move || {
        let size = copy.metadata().map(|m| m.len()).unwrap_or(0);
        let index = read_index(&file_owned, std::io::BufReader::new(copy))?;
        check(&file_owned, &subdir_owned, &index)?;
        Ok::<_, CondaError>((index, size))
    })
    .await
    .map_err(UploadError::internal)?
    .map_err(|e| UploadError::BadRequest(e.to_string()))?;
    let digests = up.digests();
    let record = package::record(
        &index,
        size,
        digests.md5.as_deref().unwrap_or(""),
        &digests.sha256,
    );
    up.finish(
        &expected(&parts.headers),
        "application/octet-stream",
        Value::Null,
    )
    .await?;
    reindex(repo, channel, subdir, file, record).await?;
    tracing::info!("conda upload {channel}/{subdir}/{file} to {}", repo.name);
    Ok(())
}

/// Adds one record to the subdir's records and rewrites its repodata.
async fn reindex(
    repo: &Arc<Repository>,
    channel: &str,
    subdir: &str,
    file: &str,
    record: Value,
) -> Result<(), UploadError> {
    let store = &repo.services.store;
    let key = |f: &str| super::key(&repo.name, &format!("{channel}/{subdir}/{f}"));
    // Uploads to one subdir take turns here; the package itself is already committed, so a
    // busy subdir is retried rather than refused.
    let mut lock = None;
    for _ in 0..200 {
        match Upload::begin(store, key(RECORDS), MAX_RECORDS, true).await {
            Ok(l) => {
                lock = Some(l);
                break;
            }
            Err(UploadError::Busy(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => return Err(e),
        }
    }
    let mut lock = lock.ok_or_else(|| UploadError::Busy(format!("{channel}/{subdir}")))?;
    let mut records: BTreeMap<String, Value> = match store
        .get(&key(RECORDS))
        .await
        .map_err(UploadError::internal)?
    {
        Some(entry) => {
            let bytes = entry.bytes().await.map_err(UploadError::internal)?;
            serde_json::from_slice(&bytes).map_err(UploadError::internal)?
        }
        None => BTreeMap::new(),
    };
    records.insert(file.to_owned(), record);
    let repodata = package::repodata(subdir, &records);
    let zst = package::compress(&repodata).map_err(UploadError::internal)?;
    super::put_bytes(
        store,
        &key("repodata.json"),
        Bytes::from(repodata),
        "application/json",
        Value::Null,
    )
    .await?;
    super::put_bytes(
        store,
        &key("repodata.json.zst"),
        Bytes::from(zst),
        "application/zstd",
        Value::Null,
    )
    .await?;
    let bytes = serde_json::to_vec(&records).map_err(UploadError::internal)?;
    lock.write(Bytes::from(bytes)).await?;
    lock.finish(&[], "application/json", Value::Null).await?;
    Ok(())
}
