//! Hosted repositories (`hosted = true`): they hold what users upload and never ask an upstream.
//!
//! This file is the plumbing every ecosystem shares; `pypi.rs` and `maven.rs` (and the other
//! ecosystems beside them) decide what a request means. An upload is an [`Upload`]: it streams
//! the body into the store's miss handle ([`crate::store::Store::begin`]) while hashing it
//! (SHA-256, SHA-1, MD5, SHA-512), refuses a body past `max_file_size`, and commits only in
//! [`Upload::finish`], after the digests the client sent have been checked. A truncated body
//! (the connection ends early, a multipart form without its end) or a wrong digest drops the
//! miss, so nothing of it is ever visible. Only one upload of a key runs at a time.
//!
//! Hosted entries live in the same store as cached ones (so the S3 backend holds them too),
//! under keys that start with [`KEY_PREFIX`] (`~hosted/REPO/...`). No proxied key can start
//! so (a repository name has no `~`), which is how eviction (`store/evict.rs`) knows to leave
//! them alone, and why `repox cache rm REPO` never touches uploads.
//!
//! **Policies.** `deny` rules and imported malicious-package advisories apply here as in a
//! proxy ([`refused`], [`own_rules`]), and an upload of a refused version is refused before
//! anything is stored ([`admit`]): one block list protects every client, whatever repository
//! serves the package. A cooldown does not apply to a team's own uploads (the configuration
//! refuses `min_age` here); a group over the repository may set one.
//!
//! Operators list what a hosted repository holds at `GET /-/hosted/REPO/` (admin only, as every
//! `/-/` endpoint); ecosystems add their own admin actions below it (PyPI's yank and delete).

pub mod cargo;
pub mod conda;
pub mod maven;
pub mod npm;
pub mod pypi;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Method, StatusCode, header};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::config::Kind;
use crate::path::RepoPath;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::{self, CacheControl, Presentation};
use crate::server::Repositories;
use crate::store::{Digests, Entry, Meta, Miss, Store, Verification, now_secs};

/// The first segment of every hosted key: not a possible repository name.
pub const KEY_PREFIX: &str = "~hosted/";

/// True for keys of uploaded files, which eviction never removes.
pub fn is_hosted_key(key: &str) -> bool {
    key.starts_with(KEY_PREFIX)
}

/// The store key of `path` (already validated) in hosted repository `repo`.
pub fn key(repo: &str, path: &str) -> String {
    format!("{KEY_PREFIX}{repo}/{path}")
}

/// Why an upload (or another write to a hosted repository) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The file exists and may not be replaced (409, as PyPI and Nexus answer).
    #[error("`{0}` already exists; a published file cannot be replaced")]
    Exists(String),
    /// A Maven release deployed again without `allow_redeploy` (409).
    #[error(
        "`{0}` is a release that was already deployed; releases are not replaced (set `allow_redeploy = true` on the repository to permit it)"
    )]
    Redeploy(String),
    /// The same file is being uploaded right now.
    #[error("`{0}` is being uploaded by another request; try again when it is done")]
    Busy(String),
    /// A digest the client sent does not match the body.
    #[error(
        "the {algorithm} of the upload is {actual}, but the client sent {expected}; nothing was stored"
    )]
    Digest {
        /// `sha256`, `sha1`, `md5`, `sha512`.
        algorithm: &'static str,
        /// What the client said.
        expected: String,
        /// What repox computed.
        actual: String,
    },
    /// The body ended early or could not be read.
    #[error("the upload was cut short ({0}); nothing was stored")]
    Truncated(String),
    /// Larger than `max_file_size`.
    #[error("the upload is larger than this repository's max_file_size ({0} bytes)")]
    TooLarge(u64),
    /// A `deny` rule or a malicious-package advisory refuses the name and version (403).
    #[error("{0}; nothing was stored")]
    Refused(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl UploadError {
    /// Wraps a store error.
    pub fn internal(e: impl std::fmt::Display) -> UploadError {
        UploadError::Internal(e.to_string())
    }

    /// The status code this is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            UploadError::Exists(_) | UploadError::Redeploy(_) | UploadError::Busy(_) => {
                StatusCode::CONFLICT
            }
            UploadError::Digest { .. } | UploadError::Truncated(_) | UploadError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            UploadError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UploadError::Refused(_) => StatusCode::FORBIDDEN,
            UploadError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        if let UploadError::Internal(e) = &self {
            tracing::error!("hosted write failed: {e}");
        }
        let mut resp = (self.status(), format!("{self}\n")).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        tagged(resp, Outcome::Pass, None)
    }
}

/// A digest the client sent with an upload, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// SHA-256.
    Sha256(String),
    /// SHA-1.
    Sha1(String),
    /// MD5.
    Md5(String),
    /// SHA-512.
    Sha512(String),
}

impl Expect {
    /// Parses a hex digest of `algorithm` sent by a client; `None` for anything else.
    pub fn parse(algorithm: &str, hex: &str) -> Option<Expect> {
        let hex = hex.trim().to_ascii_lowercase();
        let (len, make): (usize, fn(String) -> Expect) = match algorithm {
            "sha256" => (64, Expect::Sha256),
            "sha1" => (40, Expect::Sha1),
            "md5" => (32, Expect::Md5),
            "sha512" => (128, Expect::Sha512),
            _ => return None,
        };
        (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| make(hex))
    }

    fn check(&self, d: &Digests) -> Result<(), UploadError> {
        let (algorithm, expected, actual) = match self {
            Expect::Sha256(e) => ("sha256", e, Some(&d.sha256)),
            Expect::Sha1(e) => ("sha1", e, d.sha1.as_ref()),
            Expect::Md5(e) => ("md5", e, d.md5.as_ref()),
            Expect::Sha512(e) => ("sha512", e, d.sha512.as_ref()),
        };
        let actual = actual.cloned().unwrap_or_default();
        if *expected == actual {
            Ok(())
        } else {
            Err(UploadError::Digest {
                algorithm,
                expected: expected.clone(),
                actual,
            })
        }
    }

    fn verification(&self) -> Verification {
        match self {
            Expect::Sha256(_) => Verification::Sha256,
            Expect::Sha1(_) => Verification::Sha1,
            Expect::Sha512(_) => Verification::Sha512,
            // MD5 proves the body arrived whole, not much more.
            Expect::Md5(_) => Verification::Length,
        }
    }
}

/// Keys with an upload running, per store (two servers in one process have two stores).
static UPLOADING: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Holds a key in [`UPLOADING`] until dropped.
struct KeyLock(String);

impl KeyLock {
    fn take(store: &Arc<dyn Store>, key: &str) -> Option<KeyLock> {
        let id = format!("{:p}/{key}", Arc::as_ptr(store).cast::<()>());
        let mut held = UPLOADING.lock().unwrap_or_else(|e| e.into_inner());
        // Not `then_some(KeyLock(id))`: that builds (and drops, re-locking) a guard on failure.
        if held.get_or_insert_with(HashSet::new).insert(id.clone()) {
            Some(KeyLock(id))
        } else {
            None
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let mut held = UPLOADING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = held.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// One upload being written: the store's miss handle plus running digests. Dropped without
/// [`Upload::finish`], nothing is stored.
pub struct Upload {
    key: String,
    miss: Option<Box<dyn Miss>>,
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5,
    sha512: Sha512,
    len: u64,
    max: u64,
    copy: Option<std::fs::File>,
    _lock: KeyLock,
}

impl Upload {
    /// Starts an upload of `key` (at most `max` bytes). Unless `replace`, an existing entry is
    /// [`UploadError::Exists`].
    pub async fn begin(
        store: &Arc<dyn Store>,
        key: String,
        max: u64,
        replace: bool,
    ) -> Result<Upload, UploadError> {
        let shown = || key.rsplit('/').next().unwrap_or(&key).to_owned();
        let lock = KeyLock::take(store, &key).ok_or_else(|| UploadError::Busy(shown()))?;
        if !replace && exists(store, &key).await? {
            return Err(UploadError::Exists(shown()));
        }
        let miss = store.begin(&key).await.map_err(UploadError::internal)?;
        Ok(Upload {
            key,
            miss: Some(miss),
            sha256: Sha256::new(),
            sha1: Sha1::new(),
            md5: Md5::new(),
            sha512: Sha512::new(),
            len: 0,
            max,
            copy: None,
            _lock: lock,
        })
    }

    /// Also keeps a private local copy of the body (an unnamed temporary file), for an
    /// ecosystem that must read inside it (a wheel's `METADATA`) once it is complete.
    pub fn keep_copy(&mut self) -> Result<(), UploadError> {
        self.copy = Some(tempfile::tempfile().map_err(UploadError::internal)?);
        Ok(())
    }

    /// The key being written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends a chunk.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), UploadError> {
        self.len += chunk.len() as u64;
        if self.len > self.max {
            return Err(UploadError::TooLarge(self.max));
        }
        self.sha256.update(&chunk);
        self.sha1.update(&chunk);
        self.md5.update(&chunk);
        self.sha512.update(&chunk);
        let mut miss = self
            .miss
            .take()
            .ok_or_else(|| UploadError::internal("write after a failed write"))?;
        let mut copy = self.copy.take();
        let (miss, copy) = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            miss.write(&chunk)?;
            if let Some(file) = copy.as_mut() {
                file.write_all(&chunk)?;
            }
            Ok::<_, std::io::Error>((miss, copy))
        })
        .await
        .map_err(UploadError::internal)?
        .map_err(UploadError::internal)?;
        self.miss = Some(miss);
        self.copy = copy;
        Ok(())
    }

    /// Writes a whole request body; a body that ends in an error is [`UploadError::Truncated`].
    pub async fn write_body(&mut self, body: Body) -> Result<(), UploadError> {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UploadError::Truncated(e.to_string()))?;
            self.write(chunk).await?;
        }
        Ok(())
    }

    /// The digests of what was written so far.
    pub fn digests(&self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.clone().finalize()),
            sha1: Some(hex::encode(self.sha1.clone().finalize())),
            md5: Some(hex::encode(self.md5.clone().finalize())),
            sha512: Some(hex::encode(self.sha512.clone().finalize())),
        }
    }

    /// The local copy asked for with [`Upload::keep_copy`], rewound to its start; call it once
    /// the body is complete, to inspect the upload before it is committed.
    pub fn take_copy(&mut self) -> Result<Option<std::fs::File>, UploadError> {
        use std::io::Seek;
        match self.copy.take() {
            Some(mut file) => {
                file.rewind().map_err(UploadError::internal)?;
                Ok(Some(file))
            }
            None => Ok(None),
        }
    }

    /// Checks every digest in `expect`, then commits the body with `content_type` and the
    /// ecosystem's `extra` metadata.
    pub async fn finish(
        mut self,
        expect: &[Expect],
        content_type: &str,
        extra: serde_json::Value,
    ) -> Result<Entry, UploadError> {
        let digests = self.digests();
        for e in expect {
            e.check(&digests)?;
        }
        let verification = expect
            .iter()
            .map(Expect::verification)
            .find(|v| v.is_digest())
            .unwrap_or(Verification::Length);
        let meta = Meta {
            len: self.len,
            content_type: Some(content_type.to_owned()),
            digests,
            upstream: String::new(),
            url: String::new(),
            fetched_at: now_secs(),
            verification,
            extra,
            ..Meta::default()
        };
        let miss = self
            .miss
            .take()
            .ok_or_else(|| UploadError::internal("finish after a failed write"))?;
        miss.finish(meta).await.map_err(UploadError::internal)
    }
}

/// True when `key` holds an entry.
pub async fn exists(store: &Arc<dyn Store>, key: &str) -> Result<bool, UploadError> {
    Ok(store
        .head(key)
        .await
        .map_err(UploadError::internal)?
        .is_some())
}

/// Writes a small document (generated metadata, a sidecar) under `key`, replacing it.
pub async fn put_bytes(
    store: &Arc<dyn Store>,
    key: &str,
    body: Bytes,
    content_type: &str,
    extra: serde_json::Value,
) -> Result<Entry, UploadError> {
    let mut miss = store.begin(key).await.map_err(UploadError::internal)?;
    let entry = Entry::from_bytes(body.clone(), content_type, None, now_secs());
    let mut meta = (*entry.meta).clone();
    meta.verification = Verification::Derived;
    meta.extra = extra;
    let miss = tokio::task::spawn_blocking(move || miss.write(&body).map(|()| miss))
        .await
        .map_err(UploadError::internal)?
        .map_err(UploadError::internal)?;
    miss.finish(meta).await.map_err(UploadError::internal)
}

/// One stored file of a hosted repository, as the listing shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    /// The path below the repository.
    pub path: String,
    /// Bytes in the store.
    pub size: u64,
    /// Upload time, Unix seconds.
    pub uploaded: u64,
}

/// Every stored file of hosted repository `repo` whose path starts with `prefix`, sorted.
pub async fn list(
    store: &Arc<dyn Store>,
    repo: &str,
    prefix: &str,
) -> Result<Vec<Stored>, UploadError> {
    let base = key(repo, "");
    let wanted = format!("{base}{prefix}");
    let mut out = Vec::new();
    let mut listed = store.list(&wanted);
    while let Some(item) = listed.next().await {
        let item = item.map_err(UploadError::internal)?;
        if let Some(path) = item.key.strip_prefix(&base) {
            out.push(Stored {
                path: path.to_owned(),
                size: item.size,
                uploaded: item.fetched_at,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Whether `path` (below a hosted repository of `kind`) is a document repox keeps for itself
/// (npm's `<name>/-/package.json`, conda's `.records.json`, cargo's `names/`, PyPI's `yank/`):
/// never uploaded or downloaded as such, so listings mark it (admin API) or leave it out (console).
pub fn is_internal(kind: Kind, path: &str) -> bool {
    match kind {
        Kind::Npm => path.ends_with("/-/package.json"),
        Kind::Conda => path == conda::RECORDS || path.ends_with(&format!("/{}", conda::RECORDS)),
        Kind::Cargo => path.starts_with("names/"),
        Kind::Pypi => path.starts_with("yank/"),
        Kind::Maven => false,
    }
}

/// The JSON listing of files of hosted repository `repo`: `path`, `size` (of the file, read from
/// its metadata), `uploaded` (Unix seconds) and `internal` ([`is_internal`]).
pub async fn listing(
    store: &Arc<dyn Store>,
    repo: &str,
    kind: Kind,
    files: &[Stored],
) -> Vec<serde_json::Value> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let size = match store.head(&key(repo, &f.path)).await {
            Ok(Some(meta)) => meta.len,
            // Removed since it was listed: its size in the store is all there is.
            _ => f.size,
        };
        out.push(serde_json::json!({
            "path": f.path,
            "size": size,
            "uploaded": f.uploaded,
            "internal": is_internal(kind, &f.path),
        }));
    }
    out
}

/// Serves the stored file at `key` (GET or HEAD), or 404 when the repository does not hold it,
/// whatever its rules say: they refuse only its own files (`refusal`, asked once the file is
/// found), and a group asks its other members past a 404, not past a 403.
pub async fn serve_held(
    repo: &Repository,
    method: &Method,
    req: &http::HeaderMap,
    key: &str,
    cache_control: CacheControl,
    refusal: impl FnOnce() -> Option<Response>,
) -> Response {
    match repo.services.store.get(key).await {
        Ok(Some(entry)) => match refusal() {
            Some(refused) => refused,
            None => serve_entry(method, req, &entry, cache_control),
        },
        Ok(None) => not_found(),
        Err(e) => crate::error::Failure::internal(e).into_response(),
    }
}

/// The verdict of hosted `repo`'s rules on `version` of `package`: its `deny` rules and the
/// imported malicious-package advisories (a hosted repository has no cooldown: the
/// configuration refuses `min_age` on one, and a snapshot date is a group's).
pub fn verdict(repo: &Repository, package: &str, version: &str) -> crate::policy::Verdict {
    repo.policy
        .judge(package, version, None, None, crate::policy::now())
}

/// The 403 for a file of `version` of `package` when `repo`'s rules refuse it, with the body
/// and the count in `/-/metrics` of a proxy's refusal.
pub fn refused(repo: &Repository, package: &str, version: &str) -> Option<Response> {
    if !repo.policy.is_active() {
        return None;
    }
    let verdict = verdict(repo, package, version);
    (!verdict.allows()).then(|| crate::policy::refuse(repo, package, version, &verdict))
}

/// Refuses the upload of `version` of `package` when `repo`'s rules refuse it (403, the
/// reason, counted in `/-/metrics` as a refusal): a denied or malicious version is not stored.
pub fn admit(repo: &Repository, package: &str, version: &str) -> Result<(), UploadError> {
    if !repo.policy.is_active() {
        return Ok(());
    }
    let verdict = verdict(repo, package, version);
    if verdict.allows() {
        return Ok(());
    }
    repo.services
        .metrics
        .policy_refusal(&repo.name, verdict.rule());
    Err(UploadError::Refused(crate::policy::refusal(
        &repo.name, package, version, &verdict,
    )))
}

/// `entry`, a document hosted `repo` generated, without the versions its rules refuse, left
/// out by `filter` (the proxies' filter of the same document); memoized by its digest.
pub async fn own_rules<F>(
    repo: &Repository,
    kind: &str,
    name: &str,
    entry: Entry,
    filter: F,
) -> Result<Entry, Response>
where
    F: FnOnce(
            &crate::policy::Policy,
            &[u8],
            &str,
            i64,
        ) -> Option<crate::policy::documents::Filtered>
        + Send
        + 'static,
{
    crate::policy::filter::own(repo, &repo.policy, kind, name, entry, filter).await
}

/// Serves `body`, a document made for this request, as `content_type`, not to be cached.
pub fn serve_bytes(parts: &http::request::Parts, body: Vec<u8>, content_type: &str) -> Response {
    let entry = Entry::from_bytes(
        Bytes::from(body),
        content_type,
        None,
        crate::store::now_secs(),
    );
    serve_entry(
        &parts.method,
        &parts.headers,
        &entry,
        CacheControl::MaxAge(0),
    )
}

/// Serves an entry made here or read from the store.
pub fn serve_entry(
    method: &Method,
    req: &http::HeaderMap,
    entry: &Entry,
    cache_control: CacheControl,
) -> Response {
    let pres = Presentation {
        cache_control,
        checksum_headers: false,
    };
    tagged(
        respond::entry_response(method, req, entry, pres),
        Outcome::Hit,
        None,
    )
}

/// 404 for a path a hosted repository does not have.
pub fn not_found() -> Response {
    tagged(
        (
            StatusCode::NOT_FOUND,
            "not found in this hosted repository\n",
        )
            .into_response(),
        Outcome::Hit,
        None,
    )
}

/// 405 with the methods a path accepts.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut resp = (
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this path of a hosted repository accepts {allow}\n"),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    tagged(resp, Outcome::Pass, None)
}

/// Serves any request to hosted repository `repo`: reads, and uploads from users with `write`
/// (the auth middleware has already checked that).
/// `rest` is the raw path below the repository.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
    body: Body,
) -> Response {
    if crate::policy::snapshot::split(rest).is_some() {
        return no_snapshot(repo);
    }
    match repo.config.kind {
        Kind::Pypi => pypi::handle(repo, parts, rest, body).await,
        Kind::Maven => match RepoPath::parse(rest) {
            Ok(path) => maven::handle(repo, parts, path, body).await,
            Err(e) => UploadError::BadRequest(e.to_string()).into_response(),
        },
        Kind::Npm => npm::handle(repo, parts, rest, body).await,
        Kind::Cargo => cargo::handle(repo, parts, rest, body).await,
        Kind::Conda => conda::handle(repo, parts, rest, body).await,
    }
}

/// 404 for `/<hosted>/@2025-06-01/…`: a hosted repository has no snapshot URLs of its own
/// (a team's own releases are served as they are); a group over it applies the date to its
/// versions, by their upload times.
fn no_snapshot(repo: &Repository) -> Response {
    let why = format!(
        "/{}/ is a hosted repository: it has no date snapshots; ask a group over it \
         (/<group>/@YYYY-MM-DD/…), which applies the date to this repository's versions too\n",
        repo.name
    );
    tagged(
        (StatusCode::NOT_FOUND, why).into_response(),
        Outcome::Pass,
        None,
    )
}

/// `/-/hosted/REPO/...`: the admin API of hosted repositories (the auth middleware admits only
/// admins to `/-/`). `GET /-/hosted/REPO/` lists the stored files (internal documents marked);
/// the rest is the ecosystem's.
pub async fn admin(
    repositories: &Repositories,
    method: &Method,
    path: &str,
    body: Body,
) -> Response {
    let (name, rest) = path.split_once('/').unwrap_or((path, ""));
    let Some(repo) = repositories
        .get(name)
        .filter(|r| r.config.role() == crate::config::Role::Hosted)
    else {
        let hosted: Vec<&str> = repositories
            .values()
            .filter(|r| r.config.role() == crate::config::Role::Hosted)
            .map(|r| r.name.as_str())
            .collect();
        let msg = format!(
            "no hosted repository `{name}`; hosted here: {}\n",
            if hosted.is_empty() {
                "none".to_owned()
            } else {
                hosted.join(", ")
            }
        );
        return (StatusCode::NOT_FOUND, msg).into_response();
    };
    if rest.is_empty() && *method == Method::GET {
        return match list(&repo.services.store, &repo.name, "").await {
            Ok(files) => axum::Json(serde_json::json!({
                "repository": repo.name,
                "kind": repo.config.kind.as_str(),
                "files": listing(&repo.services.store, &repo.name, repo.config.kind, &files).await,
            }))
            .into_response(),
            Err(e) => e.into_response(),
        };
    }
    match repo.config.kind {
        Kind::Pypi => pypi::admin(repo, method, rest, body).await,
        _ => (
            StatusCode::NOT_FOUND,
            "no such admin action for this repository\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FsStore;

    fn store(dir: &std::path::Path) -> Arc<dyn Store> {
        Arc::new(FsStore::open(dir).unwrap())
    }

    #[test]
    fn internal_documents_are_told_from_files() {
        let internal = [
            (Kind::Npm, "@acme/lib/-/package.json"),
            (Kind::Conda, "team/noarch/.records.json"),
            (Kind::Cargo, "names/serde"),
            (Kind::Pypi, "yank/app/app-1.0.tar.gz"),
        ];
        for (kind, path) in internal {
            assert!(is_internal(kind, path), "{path}");
        }
        let files = [
            (Kind::Npm, "@acme/lib/-/lib-1.0.0.tgz"),
            (Kind::Npm, "package.json/-/package.json.tgz"),
            (Kind::Conda, "team/noarch/repodata.json"),
            (Kind::Cargo, "index/se/rd/serde"),
            (Kind::Pypi, "dist/app/app-1.0.tar.gz"),
            (Kind::Maven, "org/x/names/1.0/names-1.0.jar"),
        ];
        for (kind, path) in files {
            assert!(!is_internal(kind, path), "{path}");
        }
    }

    #[tokio::test]
    async fn a_digest_mismatch_stores_nothing_and_a_match_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let key = key("rel", "a/b.whl");
        let mut up = Upload::begin(&store, key.clone(), 100, false)
            .await
            .unwrap();
        up.write(Bytes::from_static(b"hello")).await.unwrap();
        let wrong = Expect::parse("sha256", &"00".repeat(32)).unwrap();
        let err = up.finish(&[wrong], "x/y", serde_json::Value::Null).await;
        assert!(matches!(err, Err(UploadError::Digest { .. })), "{err:?}");
        assert!(store.get(&key).await.unwrap().is_none());

        let mut up = Upload::begin(&store, key.clone(), 100, false)
            .await
            .unwrap();
        up.write(Bytes::from_static(b"hello")).await.unwrap();
        let right = Expect::parse("sha256", &hex::encode(Sha256::digest(b"hello"))).unwrap();
        let md5 = Expect::parse("md5", &hex::encode(Md5::digest(b"hello"))).unwrap();
        let entry = up
            .finish(&[md5, right], "x/y", serde_json::Value::Null)
            .await
            .unwrap();
        assert_eq!(entry.meta.verification, Verification::Sha256);
        assert_eq!(
            &store
                .get(&key)
                .await
                .unwrap()
                .unwrap()
                .bytes()
                .await
                .unwrap()[..],
            b"hello"
        );
        let again = Upload::begin(&store, key.clone(), 100, false).await;
        assert!(matches!(again, Err(UploadError::Exists(_))));
        assert!(Upload::begin(&store, key, 100, true).await.is_ok());
    }

    #[tokio::test]
    async fn an_upload_past_the_limit_or_cut_short_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let k = key("rel", "big.jar");
        let mut up = Upload::begin(&store, k.clone(), 4, false).await.unwrap();
        let err = up.write(Bytes::from_static(b"hello")).await;
        assert_eq!(err, Err(UploadError::TooLarge(4)));
        drop(up);
        let cut = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"he")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let mut up = Upload::begin(&store, k.clone(), 100, false).await.unwrap();
        let err = up.write_body(Body::from_stream(cut)).await;
        assert!(matches!(err, Err(UploadError::Truncated(_))), "{err:?}");
        drop(up);
        assert!(store.get(&k).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn one_upload_of_a_key_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let k = key("rel", "x.jar");
        let first = Upload::begin(&store, k.clone(), 100, false).await.unwrap();
        let second = Upload::begin(&store, k.clone(), 100, false).await;
        assert!(matches!(second, Err(UploadError::Busy(_))));
        drop(first);
        assert!(Upload::begin(&store, k, 100, false).await.is_ok());
    }

    #[tokio::test]
    async fn hosted_entries_are_never_evicted() {
        use crate::config::StorageConfig;
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(FsStore::open(dir.path()).unwrap());
        let index = fs.index().unwrap().clone();
        let store: Arc<dyn Store> = fs.clone();
        let hosted = key("rel", "a.whl");
        for k in [hosted.as_str(), "proxy/a.jar"] {
            let body = vec![b'x'; 4000];
            let sha = Expect::parse("sha256", &hex::encode(Sha256::digest(&body))).unwrap();
            let mut up = Upload::begin(&store, k.to_owned(), 1 << 20, false)
                .await
                .unwrap();
            up.write(Bytes::from(body)).await.unwrap();
            up.finish(&[sha], "x/y", serde_json::Value::Null)
                .await
                .unwrap();
        }
        let limits = StorageConfig {
            max_size: Some(1),
            unused_for: None,
            ..StorageConfig::default()
        };
        let done = crate::store::evict::collect(&*store, &index, &limits, false)
            .await
            .unwrap();
        let removed: Vec<&str> = done
            .unused
            .iter()
            .chain(&done.over_size)
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(removed, ["proxy/a.jar"]);
        assert!(store.get(&hosted).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn uploads_do_not_count_against_max_size() {
        use crate::config::StorageConfig;
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(FsStore::open(dir.path()).unwrap());
        let index = fs.index().unwrap().clone();
        let store: Arc<dyn Store> = fs.clone();
        for k in [
            key("rel", "a.whl"),
            key("rel", "b.whl"),
            "proxy/a.jar".to_owned(),
        ] {
            let body = vec![b'x'; 4000];
            let sha = Expect::parse("sha256", &hex::encode(Sha256::digest(&body))).unwrap();
            let mut up = Upload::begin(&store, k, 1 << 20, false).await.unwrap();
            up.write(Bytes::from(body)).await.unwrap();
            up.finish(&[sha], "x/y", serde_json::Value::Null)
                .await
                .unwrap();
        }
        let cached = index.list("proxy/", None, 10).unwrap()[0].size;
        let limits = StorageConfig {
            max_size: Some(cached + 100),
            ..StorageConfig::default()
        };
        let done = crate::store::evict::collect(&*store, &index, &limits, false)
            .await
            .unwrap();
        assert!(done.over_size.is_empty(), "{done:?}");
        assert_eq!(done.bytes_after, cached);
        assert!(store.get("proxy/a.jar").await.unwrap().is_some());
    }
}
