//! Hosted Maven: `mvn deploy`, Gradle's `maven-publish`, sbt's `publish` (Maven or Ivy layout).
//!
//! Deployers `PUT` each file, then its checksum files (`.sha1`, `.md5`, and `.sha256`/`.sha512`
//! with newer resolvers), then `maven-metadata.xml` and its checksums. repox stores the files
//! (checking `X-Checksum-Sha1`/`-Sha256`/`-Md5` headers when a client sends them) and answers
//! everything else from what it stored:
//!
//! - a checksum file `PUT` is compared with the digest repox computed for the file; a mismatch
//!   is 400, and a file uploaded in the last minutes (the same deploy) is then removed, so a
//!   corrupted deploy leaves nothing behind. Checksum files are never stored: a `GET` of one is
//!   answered from the file's digests;
//! - `maven-metadata.xml` sent by clients is read and dropped: repox generates it from the
//!   files, at artifact level (`<versions>`, `<latest>`, `<release>`, `<lastUpdated>`) and at
//!   SNAPSHOT-version level (`<snapshot>` and `<snapshotVersions>` of the unique, timestamped
//!   SNAPSHOT files), so the document can never disagree with what is stored;
//! - a release file that exists is refused with 409 unless the repository has
//!   `allow_redeploy = true`; files below a `-SNAPSHOT` directory may always be replaced.
//!
//! Paths are opaque otherwise, so Ivy-layout publishing works on the same endpoint (without
//! generated metadata, which Ivy does not use).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::{Expect, Stored, Upload, UploadError};
use crate::ecosystem::maven_metadata::compare_versions;
use crate::path::RepoPath;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::{Digests, Entry, now_secs};

const CHECKSUMS: &[&str] = &["sha1", "md5", "sha256", "sha512"];
/// A checksum file that disagrees with a file uploaded this recently removes the file.
const SAME_DEPLOY_SECS: u64 = 600;

/// Serves one request below a hosted Maven repository.
pub async fn handle(
    repo: &Arc<Repository>,
    parts: &http::request::Parts,
    path: RepoPath,
    body: Body,
) -> Response {
    let p = path.as_str();
    if path.is_dir() || p.starts_with(".meta/") {
        return super::not_found();
    }
    let (base, checksum) = split_checksum(p);
    let is_metadata = base.rsplit('/').next() == Some("maven-metadata.xml");
    match parts.method {
        Method::GET | Method::HEAD => {
            let (method, req) = (&parts.method, &parts.headers);
            if is_metadata {
                return match metadata(repo, base).await {
                    Ok(Some(xml)) => {
                        let xml = match own_rules(repo, base, xml).await {
                            Ok(xml) => xml,
                            Err(resp) => return resp,
                        };
                        serve_bytes(method, req, xml, checksum, CacheControl::MaxAge(0))
                    }
                    Ok(None) => super::not_found(),
                    Err(e) => e.into_response(),
                };
            }
            let key = super::key(&repo.name, base);
            let cache = if is_snapshot(base) {
                CacheControl::MaxAge(0)
            } else {
                CacheControl::Immutable
            };
            // A file it does not hold (or its checksum) is a 404 whatever its rules say: they
            // refuse only its own files, and a group asks its other members past a 404, not
            // past a 403.
            let refused = || {
                crate::policy::maven::file_version(base)
                    .and_then(|(package, version)| super::refused(repo, &package, version))
            };
            match checksum {
                None => super::serve_held(repo, method, req, &key, cache, refused).await,
                Some(algorithm) => match repo.services.store.head(&key).await {
                    Ok(Some(meta)) => match (refused(), digest_of(&meta.digests, algorithm)) {
                        (Some(refused), _) => refused,
                        (None, Some(hex)) => {
                            serve_bytes(method, req, Bytes::from(hex), None, cache)
                        }
                        (None, None) => super::not_found(),
                    },
                    Ok(None) => super::not_found(),
                    Err(e) => UploadError::internal(e).into_response(),
                },
            }
        }
        Method::PUT => {
            let done = if is_metadata {
                // Generated from the files instead; the client's copy is read and dropped.
                drain(body).await
            } else if let Some(algorithm) = checksum {
                check_sidecar(repo, base, algorithm, body).await
            } else if let Some((package, version)) = crate::policy::maven::file_version(base)
                && let Err(e) = super::admit(repo, &package, version)
            {
                Err(e)
            } else {
                deploy(repo, &parts.headers, base, body).await
            };
            match done {
                Ok(()) => tagged(StatusCode::CREATED.into_response(), Outcome::Pass, None),
                Err(e) => e.into_response(),
            }
        }
        _ => super::method_not_allowed("GET, HEAD, PUT"),
    }
}

/// `x.jar.sha1` → (`x.jar`, Some("sha1")).
fn split_checksum(p: &str) -> (&str, Option<&'static str>) {
    for algorithm in CHECKSUMS {
        if let Some(base) = p.strip_suffix(algorithm).and_then(|b| b.strip_suffix('.')) {
            return (base, Some(algorithm));
        }
    }
    (p, None)
}

/// True for files below a `…-SNAPSHOT/` version directory.
fn is_snapshot(path: &str) -> bool {
    let mut segments = path.rsplit('/');
    segments.next();
    segments.next().is_some_and(|v| v.ends_with("-SNAPSHOT"))
}

fn digest_of(d: &Digests, algorithm: &str) -> Option<String> {
    match algorithm {
        "sha256" => Some(d.sha256.clone()),
        "sha1" => d.sha1.clone(),
        "md5" => d.md5.clone(),
        "sha512" => d.sha512.clone(),
        _ => None,
    }
}

/// Serves `body`, or its checksum.
fn serve_bytes(
    method: &Method,
    req: &HeaderMap,
    body: Bytes,
    checksum: Option<&str>,
    cache: CacheControl,
) -> Response {
    let (body, content_type) = match checksum {
        None => (body, "application/xml"),
        Some(algorithm) => (Bytes::from(checksum_of(&body, algorithm)), "text/plain"),
    };
    let entry = Entry::from_bytes(body, content_type, None, now_secs());
    super::serve_entry(method, req, &entry, cache)
}

/// The hex `algorithm` digest of `body`.
pub fn checksum_of(body: &[u8], algorithm: &str) -> String {
    match algorithm {
        "sha1" => hex::encode(Sha1::digest(body)),
        "md5" => hex::encode(Md5::digest(body)),
        "sha512" => hex::encode(Sha512::digest(body)),
        _ => hex::encode(Sha256::digest(body)),
    }
}

async fn drain(body: Body) -> Result<(), UploadError> {
    axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|_| ())
        .map_err(|e| UploadError::Truncated(e.to_string()))
}

/// Stores one deployed file.
async fn deploy(
    repo: &Arc<Repository>,
    req: &HeaderMap,
    path: &str,
    body: Body,
) -> Result<(), UploadError> {
    let replace = repo.config.allow_redeploy || is_snapshot(path);
    let key = super::key(&repo.name, path);
    let mut expect = Vec::new();
    for (header, algorithm) in [
        ("x-checksum-sha1", "sha1"),
        ("x-checksum-sha256", "sha256"),
        ("x-checksum-md5", "md5"),
    ] {
        if let Some(value) = req.get(header).and_then(|v| v.to_str().ok()) {
            let parsed = Expect::parse(algorithm, value).ok_or_else(|| {
                UploadError::BadRequest(format!("`{header}: {value}` is not a hex digest"))
            })?;
            expect.push(parsed);
        }
    }
    let mut upload = Upload::begin(
        &repo.services.store,
        key,
        repo.config.max_file_size(),
        replace,
    )
    .await
    .map_err(|e| match e {
        UploadError::Exists(file) => UploadError::Redeploy(file),
        e => e,
    })?;
    upload.write_body(body).await?;
    upload
        .finish(&expect, content_type(path), serde_json::Value::Null)
        .await?;
    tracing::info!(repository = %repo.name, %path, "deployed");
    Ok(())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("pom") | Some("xml") => "application/xml",
        Some("jar") | Some("war") | Some("ear") => "application/java-archive",
        Some("asc") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Compares an uploaded checksum file with the stored file's digest.
async fn check_sidecar(
    repo: &Arc<Repository>,
    path: &str,
    algorithm: &str,
    body: Body,
) -> Result<(), UploadError> {
    let sent = axum::body::to_bytes(body, 4096)
        .await
        .map_err(|e| UploadError::Truncated(e.to_string()))?;
    // `sha1sum` style (`<hex>  <file>`) is accepted too.
    let text = String::from_utf8_lossy(&sent);
    let sent = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let store = &repo.services.store;
    let key = super::key(&repo.name, path);
    let Some(meta) = store.head(&key).await.map_err(UploadError::internal)? else {
        return Err(UploadError::BadRequest(format!(
            "`{path}.{algorithm}` names a file that was not uploaded; upload `{path}` first"
        )));
    };
    let actual = digest_of(&meta.digests, algorithm).unwrap_or_default();
    if sent == actual {
        return Ok(());
    }
    if now_secs().saturating_sub(meta.fetched_at) < SAME_DEPLOY_SECS {
        let _ = store.delete(&key).await;
        tracing::warn!(repository = %repo.name, %path, "removed: its {algorithm} did not match");
    }
    Err(UploadError::Digest {
        algorithm: match algorithm {
            "sha1" => "sha1",
            "md5" => "md5",
            "sha512" => "sha512",
            _ => "sha256",
        },
        expected: sent,
        actual,
    })
}

/// The generated `maven-metadata.xml` at `path`, `None` when nothing is stored below it.
async fn metadata(repo: &Repository, path: &str) -> Result<Option<Bytes>, UploadError> {
    let dir = path.strip_suffix("maven-metadata.xml").unwrap_or(path);
    let segments: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let files = super::list(&repo.services.store, &repo.name, dir).await?;
    if files.is_empty() {
        return Ok(None);
    }
    let xml = match segments.as_slice() {
        [group @ .., artifact, version] if version.ends_with("-SNAPSHOT") && !group.is_empty() => {
            snapshot_metadata(&group.join("."), artifact, version, dir, &files)
        }
        [group @ .., artifact] if !group.is_empty() => {
            artifact_metadata(&group.join("."), artifact, dir, &files)
        }
        _ => None,
    };
    Ok(xml.map(Bytes::from))
}

/// Generated artifact-level metadata `xml` at `path` without the versions the repository's
/// rules refuse (the proxies' filter, `policy/maven.rs`, with no times: a hosted repository
/// has no cooldown).
async fn own_rules(repo: &Repository, path: &str, xml: Bytes) -> Result<Bytes, Response> {
    let Some(package) = crate::policy::maven::metadata_package(path) else {
        return Ok(xml);
    };
    let entry = Entry::from_bytes(xml, "application/xml", None, crate::store::now_secs());
    let n = package.clone();
    let filter = move |p: &crate::policy::Policy, body: &[u8], _: &str, now| {
        crate::policy::maven::metadata(p, &n, body, &std::collections::BTreeMap::new(), now)
    };
    let entry = super::own_rules(repo, "maven-hosted-policy", &package, entry, filter).await?;
    entry
        .bytes()
        .await
        .map_err(|e| UploadError::internal(e).into_response())
}

/// `yyyyMMddHHmmss` in UTC, as `<lastUpdated>` is written.
fn last_updated(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Artifact-level metadata: every version directory holding a file of the artifact.
fn artifact_metadata(group: &str, artifact: &str, dir: &str, files: &[Stored]) -> Option<String> {
    let mut versions = BTreeSet::new();
    let mut updated = 0;
    for f in files {
        let below = f.path.strip_prefix(dir).unwrap_or(&f.path);
        if let Some((version, file)) = below.split_once('/')
            && !file.contains('/')
            && file.starts_with(&format!("{artifact}-"))
        {
            versions.insert(version.to_owned());
            updated = updated.max(f.uploaded);
        }
    }
    if versions.is_empty() {
        return None;
    }
    let mut versions: Vec<String> = versions.into_iter().collect();
    versions.sort_by(|a, b| compare_versions(a, b));
    let latest = versions.last().cloned().unwrap_or_default();
    let release = versions.iter().rev().find(|v| !v.ends_with("-SNAPSHOT"));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    out.push_str(&format!("  <groupId>{}</groupId>\n", esc(group)));
    out.push_str(&format!("  <artifactId>{}</artifactId>\n", esc(artifact)));
    out.push_str("  <versioning>\n");
    out.push_str(&format!("    <latest>{}</latest>\n", esc(&latest)));
    if let Some(r) = release {
        out.push_str(&format!("    <release>{}</release>\n", esc(r)));
    }
    out.push_str("    <versions>\n");
    for v in &versions {
        out.push_str(&format!("      <version>{}</version>\n", esc(v)));
    }
    out.push_str("    </versions>\n");
    out.push_str(&format!(
        "    <lastUpdated>{}</lastUpdated>\n",
        last_updated(updated)
    ));
    out.push_str("  </versioning>\n</metadata>\n");
    Some(out)
}

/// One unique SNAPSHOT file name, split: `a-1.0-20240115.093012-7-sources.jar`.
#[derive(Debug, PartialEq, Eq)]
struct SnapshotFile {
    timestamp: String,
    build: u32,
    classifier: String,
    extension: String,
}

fn parse_snapshot_file(file: &str, artifact: &str, base: &str) -> Option<SnapshotFile> {
    let rest = file.strip_prefix(&format!("{artifact}-{base}-"))?;
    let (timestamp, rest) = rest.split_at_checked(15)?;
    let ok = timestamp.as_bytes().iter().enumerate().all(|(i, b)| {
        if i == 8 {
            *b == b'.'
        } else {
            b.is_ascii_digit()
        }
    });
    let rest = rest.strip_prefix('-').filter(|_| ok)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let build: u32 = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    let (classifier, extension) = if let Some(c) = rest.strip_prefix('-') {
        c.split_once('.')?
    } else {
        ("", rest.strip_prefix('.')?)
    };
    Some(SnapshotFile {
        timestamp: timestamp.to_owned(),
        build,
        classifier: classifier.to_owned(),
        extension: extension.to_owned(),
    })
}

/// SNAPSHOT-version metadata: the newest timestamp and build, and the newest file of each
/// classifier and extension.
fn snapshot_metadata(
    group: &str,
    artifact: &str,
    version: &str,
    dir: &str,
    files: &[Stored],
) -> Option<String> {
    let base = version.strip_suffix("-SNAPSHOT")?;
    let mut newest: Option<(String, u32)> = None;
    let mut by_kind: BTreeMap<(String, String), (String, u32, u64)> = BTreeMap::new();
    let mut updated = 0;
    for f in files {
        let file = f.path.strip_prefix(dir).unwrap_or(&f.path);
        let Some(s) = parse_snapshot_file(file, artifact, base) else {
            continue;
        };
        updated = updated.max(f.uploaded);
        let stamp = (s.timestamp.clone(), s.build);
        if newest.as_ref().is_none_or(|n| stamp > *n) {
            newest = Some(stamp.clone());
        }
        let slot = by_kind
            .entry((s.classifier, s.extension))
            .or_insert((String::new(), 0, 0));
        if (stamp.0.as_str(), stamp.1) >= (slot.0.as_str(), slot.1) {
            *slot = (stamp.0, stamp.1, f.uploaded);
        }
    }
    let (timestamp, build) = newest?;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata modelVersion=\"1.1.0\">\n",
    );
    out.push_str(&format!("  <groupId>{}</groupId>\n", esc(group)));
    out.push_str(&format!("  <artifactId>{}</artifactId>\n", esc(artifact)));
    out.push_str(&format!("  <version>{}</version>\n", esc(version)));
    out.push_str("  <versioning>\n    <snapshot>\n");
    out.push_str(&format!(
        "      <timestamp>{}</timestamp>\n",
        esc(&timestamp)
    ));
    out.push_str(&format!("      <buildNumber>{build}</buildNumber>\n"));
    out.push_str("    </snapshot>\n");
    out.push_str(&format!(
        "    <lastUpdated>{}</lastUpdated>\n",
        last_updated(updated)
    ));
    out.push_str("    <snapshotVersions>\n");
    for ((classifier, extension), (ts, b, up)) in &by_kind {
        out.push_str("      <snapshotVersion>\n");
        if !classifier.is_empty() {
            out.push_str(&format!(
                "        <classifier>{}</classifier>\n",
                esc(classifier)
            ));
        }
        out.push_str(&format!(
            "        <extension>{}</extension>\n",
            esc(extension)
        ));
        out.push_str(&format!(
            "        <value>{}-{}-{}</value>\n",
            esc(base),
            esc(ts),
            b
        ));
        out.push_str(&format!(
            "        <updated>{}</updated>\n",
            last_updated(*up)
        ));
        out.push_str("      </snapshotVersion>\n");
    }
    out.push_str("    </snapshotVersions>\n  </versioning>\n</metadata>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(path: &str, uploaded: u64) -> Stored {
        Stored {
            path: path.to_owned(),
            size: 1,
            uploaded,
        }
    }

    #[test]
    fn artifact_metadata_lists_versions_in_maven_order() {
        let files = [
            stored("org/acme/lib/1.10/lib-1.10.jar", 100),
            stored("org/acme/lib/1.9/lib-1.9.pom", 50),
            stored(
                "org/acme/lib/2.0-SNAPSHOT/lib-2.0-20240101.120000-1.jar",
                200,
            ),
            stored("org/acme/lib/1.9/other-1.9.txt", 60),
        ];
        let xml = artifact_metadata("org.acme", "lib", "org/acme/lib/", &files).unwrap();
        assert!(xml.contains("<groupId>org.acme</groupId>"), "{xml}");
        assert!(xml.contains("<latest>2.0-SNAPSHOT</latest>"), "{xml}");
        assert!(xml.contains("<release>1.10</release>"), "{xml}");
        let order: Vec<&str> = xml
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("<version>")?
                    .strip_suffix("</version>")
            })
            .collect();
        assert_eq!(order, ["1.9", "1.10", "2.0-SNAPSHOT"]);
        assert!(xml.contains(&format!("<lastUpdated>{}</lastUpdated>", last_updated(200))));
        assert_eq!(last_updated(0), "19700101000000");
    }

    #[test]
    fn snapshot_metadata_names_the_newest_build_of_each_file() {
        let dir = "org/acme/lib/1.0-SNAPSHOT/";
        let files = [
            stored(&format!("{dir}lib-1.0-20240101.120000-1.jar"), 1),
            stored(&format!("{dir}lib-1.0-20240101.120000-1.pom"), 1),
            stored(&format!("{dir}lib-1.0-20240102.080000-2.jar"), 2),
            stored(&format!("{dir}lib-1.0-20240102.080000-2-sources.jar"), 2),
            stored(&format!("{dir}lib-1.0-SNAPSHOT.jar"), 3),
        ];
        let xml = snapshot_metadata("org.acme", "lib", "1.0-SNAPSHOT", dir, &files).unwrap();
        assert!(
            xml.contains("<timestamp>20240102.080000</timestamp>"),
            "{xml}"
        );
        assert!(xml.contains("<buildNumber>2</buildNumber>"), "{xml}");
        assert!(
            xml.contains("<value>1.0-20240101.120000-1</value>"),
            "{xml}"
        );
        assert!(xml.contains("<classifier>sources</classifier>"), "{xml}");
        assert_eq!(
            xml.matches("<value>1.0-20240102.080000-2</value>").count(),
            2
        );
        assert_eq!(
            parse_snapshot_file("lib-1.0-20240102.080000-12-tests.tar.gz", "lib", "1.0"),
            Some(SnapshotFile {
                timestamp: "20240102.080000".into(),
                build: 12,
                classifier: "tests".into(),
                extension: "tar.gz".into(),
            })
        );
        assert_eq!(
            parse_snapshot_file("lib-1.0-SNAPSHOT.jar", "lib", "1.0"),
            None
        );
    }

    #[test]
    fn checksum_paths_split() {
        assert_eq!(split_checksum("a/b.jar.sha1"), ("a/b.jar", Some("sha1")));
        assert_eq!(
            split_checksum("a/b.jar.sha512"),
            ("a/b.jar", Some("sha512"))
        );
        assert_eq!(split_checksum("a/b.jar"), ("a/b.jar", None));
        assert!(is_snapshot("g/a/1.0-SNAPSHOT/a-1.0-20240101.120000-1.jar"));
        assert!(!is_snapshot("g/a/1.0/a-1.0.jar"));
    }
}
