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

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::{HeaderMap, Method};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::policy::documents::Filtered;
use crate::policy::maven::Published;
use crate::repository::{Class, Outcome, Repository, Resource, Verify, tagged};
use crate::store::Entry;

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
        // Boxed, as is the policy check: a hit on an artifact builds neither future.
        return Box::pin(maven_metadata::serve(repo, method, req, &path, checksum)).await;
    }
    let policy = crate::policy::current(repo);
    if policy.is_active()
        && let Some(refused) = Box::pin(refused(repo, &policy, p)).await
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
    let published = if policy.uses_time() {
        let dir = &p[..p.len() - file.len() - version.len() - 1];
        pom_published(repo, dir, artifact, version).await
    } else {
        Published::default()
    };
    let verdict = policy.judge(
        &package,
        version,
        published.at,
        published.upstream.as_deref(),
        crate::policy::now(),
    );
    (!verdict.allows()).then(|| crate::policy::refuse(repo, &package, version, &verdict))
}

/// The `Last-Modified` of `dir` (`g/a/`) `version`'s POM and the upstream that sent it: the
/// time Maven versions are judged by, for their files and in `maven-metadata.xml` alike.
async fn pom_published(
    repo: &Arc<Repository>,
    dir: &str,
    artifact: &str,
    version: &str,
) -> Published {
    let Ok(pom) = RepoPath::parse(&format!("{dir}{version}/{artifact}-{version}.pom")) else {
        return Published::default();
    };
    match repo.entry(&resource(repo, pom)).await {
        Ok((entry, _)) => Published {
            at: entry
                .meta
                .upstream_last_modified
                .as_deref()
                .and_then(http_date_secs),
            upstream: Some(entry.meta.upstream.clone()),
            failed: false,
        },
        Err(Failure::NotFound) => Published::default(),
        Err(_) => Published {
            failed: true,
            ..Published::default()
        },
    }
}

/// A `Last-Modified` value as seconds since the epoch.
pub(crate) fn http_date_secs(value: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(value).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_secs() as i64)
}

/// How many POMs one `maven-metadata.xml` asks for at once.
const POM_LOOKUPS: usize = 8;

/// The artifact-level metadata `body` of `package` (`group:artifact`, from `upstream`) without
/// the versions `policy` refuses; the versions a rule must date are dated by `published` (their
/// POM's `Last-Modified`), at most [`POM_LOOKUPS`] at once. Shared by a proxy's metadata and a
/// group's merged one.
pub(crate) async fn metadata_without_refused<P, Fut>(
    policy: &crate::policy::Policy,
    package: &str,
    body: &[u8],
    upstream: &str,
    published: P,
) -> Option<Filtered>
where
    P: Fn(String) -> Fut,
    Fut: Future<Output = Published>,
{
    let now = crate::policy::now();
    let needed = crate::policy::maven::needs_time(policy, package, body, upstream, now);
    let times: BTreeMap<String, Published> = futures_util::stream::iter(needed)
        .map(|v| {
            let lookup = published(v.clone());
            async move { (v, lookup.await) }
        })
        .buffer_unordered(POM_LOOKUPS)
        .collect()
        .await;
    crate::policy::maven::metadata(policy, package, body, &times, crate::policy::now())
}

/// `entry`, the artifact-level `maven-metadata.xml` at `path`, without the versions the
/// request's policy refuses (`policy/maven.rs`), memoized like the other ecosystems' filtered
/// documents. Other metadata (SNAPSHOT and plugin-group level) passes as it is.
pub(crate) async fn filtered_metadata(
    repo: &Arc<Repository>,
    path: &RepoPath,
    entry: Entry,
) -> Result<Entry, Failure> {
    let policy = crate::policy::current(repo);
    let dir = path.as_str().trim_end_matches("maven-metadata.xml");
    let segments: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let [group @ .., artifact] = &segments[..] else {
        return Ok(entry);
    };
    if !policy.is_active() || group.is_empty() || artifact.ends_with("-SNAPSHOT") {
        return Ok(entry);
    }
    let package = format!("{}:{artifact}", group.join("."));
    let (dir, artifact) = (dir.to_owned(), (*artifact).to_owned());
    let p = policy.clone();
    crate::policy::filter::memoized(
        repo,
        &policy,
        "maven-policy",
        &package.clone(),
        entry,
        |body, upstream| async move {
            let (dir, artifact) = (&dir, &artifact);
            let published = |v: String| async move { pom_published(repo, dir, artifact, &v).await };
            Ok(metadata_without_refused(&p, &package, &body, &upstream, published).await)
        },
    )
    .await
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
