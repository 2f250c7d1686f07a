//! Maven 2 and Ivy layouts (Maven, Gradle, sbt, coursier, Leiningen) under one prefix.
//!
//! Paths are treated opaquely, so one endpoint serves both layouts (sbt plugins put the cross
//! version in the directory only; Ivy organisations keep their dots). What matters is
//! mutability:
//! - `maven-metadata.xml` (artifact, group and SNAPSHOT level) and its checksum files are
//!   merged across upstreams and revalidated after `metadata_ttl` (see `maven_metadata.rs`);
//! - directory listings (`…/`) and non-unique `-SNAPSHOT` files are revalidated after
//!   `metadata_ttl`;
//! - everything else, including timestamped snapshots, is immutable and verified against the
//!   upstream's `X-Checksum-SHA1` or `.sha1`.
//!
//! `/.meta/prefixes.txt` is answered 404: passing one upstream's prefix list through would make
//! Maven 3.10+ refuse every path the other upstreams serve.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, Verify, tagged};

use super::maven_metadata;

const CHECKSUM_SUFFIXES: &[&str] = &[".sha1", ".md5", ".sha256", ".sha512"];

/// Serves one request below the Maven repository prefix.
pub async fn handle(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: RepoPath,
) -> Response {
    let p = path.as_str();
    if p.starts_with(".meta/") {
        return tagged(Failure::NotFound.into_response(), Outcome::Blocked, None);
    }
    let (base, checksum) = split_checksum(p);
    if base.rsplit('/').next() == Some("maven-metadata.xml") {
        return maven_metadata::serve(repo, method, req, &path, checksum).await;
    }
    let policy = crate::policy::current(repo);
    if policy.is_active()
        && let Some(refused) = refused(repo, &policy, p).await
    {
        return refused;
    }
    repo.serve(resource(repo, path), method, req).await
}

/// The 403 for a file of a version `policy` refuses (`g/a/v/a-v*`), judged by `group:artifact`,
/// the version, and the `Last-Modified` of the version's POM (fetched and cached as usual).
async fn refused(
    repo: &Arc<Repository>,
    policy: &crate::policy::Policy,
    p: &str,
) -> Option<Response> {
    let segments: Vec<&str> = p.split('/').collect();
    let [group @ .., artifact, version, file] = &segments[..] else {
        return None;
    };
    if group.is_empty() || !file.starts_with(&format!("{artifact}-{version}")) {
        return None;
    }
    let package = format!("{}:{artifact}", group.join("."));
    let mut published = None;
    let mut upstream = None;
    if policy.uses_time() {
        let dir = &p[..p.len() - file.len()];
        let pom = RepoPath::parse(&format!("{dir}{artifact}-{version}.pom")).ok()?;
        if let Ok((entry, _)) = repo.entry(&resource(repo, pom)).await {
            published = entry
                .meta
                .upstream_last_modified
                .as_deref()
                .and_then(|t| httpdate::parse_http_date(t).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            upstream = Some(entry.meta.upstream.clone());
        }
    }
    let verdict = policy.judge(
        &package,
        version,
        published,
        upstream.as_deref(),
        crate::policy::now(),
    );
    (!verdict.allows()).then(|| crate::policy::refuse(repo, &package, version, &verdict))
}

/// `x.jar.sha1` → (`x.jar`, Some("sha1")).
fn split_checksum(p: &str) -> (&str, Option<&str>) {
    for suffix in CHECKSUM_SUFFIXES {
        if let Some(base) = p.strip_suffix(suffix) {
            return (base, Some(&suffix[1..]));
        }
    }
    (p, None)
}

/// True for files that change under the same path: listings and non-unique SNAPSHOT files.
pub fn is_mutable(path: &RepoPath) -> bool {
    if path.is_dir() {
        return true;
    }
    let mut segments = path.as_str().rsplit('/');
    let file = segments.next().unwrap_or("");
    let version_dir = segments.next().unwrap_or("");
    version_dir.ends_with("-SNAPSHOT") && file.contains("-SNAPSHOT")
}

fn resource(repo: &Repository, path: RepoPath) -> Resource {
    let mutable = is_mutable(&path);
    let checksum = split_checksum(path.as_str()).1.is_some();
    let signature = path.as_str().ends_with(".asc");
    let mut res = Resource::new(repo, path);
    if mutable {
        res.class = Class::Mutable(repo.config.metadata_ttl());
    }
    if !res.path.is_dir() {
        res.reject_html = true;
        if !checksum && !signature {
            res.verify = Verify::Sidecar;
            res.checksums = true;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutability_follows_maven_rules() {
        let p = |s: &str| RepoPath::parse(s).unwrap();
        assert!(is_mutable(&p("org/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar")));
        assert!(is_mutable(&p("org/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.pom.sha1")));
        assert!(is_mutable(&p("org/a/")));
        assert!(!is_mutable(&p(
            "org/a/1.0-SNAPSHOT/a-1.0-20240115.093012-7.jar"
        )));
        assert!(!is_mutable(&p("org/a/1.0/a-1.0.jar")));
        assert!(!is_mutable(&p(
            "com.github.x/sbt-y/scala_2.12/sbt_1.0/1.0/jars/sbt-y.jar"
        )));
    }

    #[test]
    fn checksum_suffixes_split() {
        assert_eq!(
            split_checksum("a/maven-metadata.xml.sha1"),
            ("a/maven-metadata.xml", Some("sha1"))
        );
        assert_eq!(split_checksum("a/x.jar"), ("a/x.jar", None));
    }
}
