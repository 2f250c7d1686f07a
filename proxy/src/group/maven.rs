//! Maven groups: `maven-metadata.xml` merged in member order, every other file from the first
//! member that has it.
//!
//! The dependency-confusion rule works on the artifact directory (`groupId/artifactId/`): when a
//! hosted member holds any file below it, the proxies are not asked for anything of that
//! artifact, neither its metadata nor its files, so an upstream's `99.0` of a private artifact
//! can be neither listed nor downloaded through the group. The merged metadata's checksum files
//! are computed from the merged bytes, so the file and its checksums change as one unit.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;

use super::{Shadowing, first_found, merged};
use crate::config::Role;
use crate::ecosystem::{maven, maven_metadata};
use crate::hosted;
use crate::policy::maven::Published;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::{Entry, now_secs};

/// Largest `maven-metadata.xml` read from a member for a merge: real ones are kilobytes.
const MAX_METADATA: usize = 16 << 20;

const CHECKSUMS: &[&str] = &["sha1", "md5", "sha256", "sha512"];

/// Serves one request below a Maven group; `rest` is the raw path below it.
pub async fn handle(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let (base, checksum) = split_checksum(rest);
    let eligible = match artifact_dir(base) {
        Some(dir) => {
            let mut has = Vec::with_capacity(members.len());
            for m in members {
                has.push(m.config.role() != Role::Hosted || holds(m, dir).await);
            }
            Shadowing::of(group).eligible(members, &has)
        }
        None => members.iter().collect(),
    };
    if base.rsplit('/').next() != Some("maven-metadata.xml") {
        let policy = crate::policy::current(group);
        if policy.is_active()
            && let Some(refused) = refused(group, &policy, &eligible, base).await
        {
            return refused;
        }
        return first_found(&eligible, parts, rest).await;
    }
    let get = match http::Request::get(parts.uri.clone()).body(()) {
        Ok(r) => r.into_parts().0,
        Err(_) => return crate::error::Failure::NotFound.into_response(),
    };
    let mut answers = Vec::new();
    for m in &eligible {
        // A member that fails is left out of the merge, as one that lacks the document.
        let answer = merged::member_answer(m, &get, base).await.ok().flatten();
        answers.push((m.name.as_str(), answer));
    }
    if answers.iter().all(|(_, a)| a.is_none()) {
        return tagged(
            (
                StatusCode::NOT_FOUND,
                "not found in any member of this group\n",
            )
                .into_response(),
            Outcome::Miss,
            None,
        );
    }
    let key = {
        let identities: Vec<(&str, Option<&merged::Answer>)> =
            answers.iter().map(|(m, a)| (*m, a.as_ref())).collect();
        merged::key(group, &get, base, &identities)
    };
    let (merged, outcome) = match merged::get::<Bytes>(group, key.as_deref()) {
        Some(kept) => (kept, Outcome::Hit),
        None => {
            let mut bodies: Vec<String> = Vec::new();
            for (_, answer) in answers {
                if let Some(Ok(body)) = match answer {
                    Some(a) => Some(a.body_up_to(MAX_METADATA).await),
                    None => None,
                } {
                    bodies.push(String::from_utf8_lossy(&body).into_owned());
                }
            }
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            let merged = Bytes::from(maven_metadata::merge(&refs));
            merged::keep(group, key, merged.clone(), merged.len());
            (merged, Outcome::Miss)
        }
    };
    let merged = match own_rules(group, &eligible, base, merged).await {
        Ok(filtered) => filtered,
        Err(resp) => return resp,
    };
    let (body, content_type) = match checksum {
        Some(algorithm) => (
            Bytes::from(hosted::maven::checksum_of(&merged, algorithm)),
            "text/plain",
        ),
        None => (merged, "application/xml"),
    };
    let entry = Entry::from_bytes(body, content_type, None, now_secs());
    let resp = hosted::serve_entry(
        &parts.method,
        &parts.headers,
        &entry,
        CacheControl::MaxAge(0),
    );
    tagged(resp, outcome, None)
}

/// The merged artifact-level `merged` metadata at `path` without the versions the group's own
/// rules refuse, judged by their POMs' `Last-Modified` as the members serve them (the proxies'
/// filter, `policy/maven.rs`); other metadata as it is.
async fn own_rules(
    group: &Repository,
    eligible: &[&Arc<Repository>],
    path: &str,
    merged: Bytes,
) -> Result<Bytes, Response> {
    let policy = crate::policy::current(group);
    let Some(package) = crate::policy::maven::metadata_package(path) else {
        return Ok(merged);
    };
    if !policy.is_active() {
        return Ok(merged);
    }
    let dir = path.trim_end_matches("maven-metadata.xml");
    let entry = Entry::from_bytes(merged, "application/xml", None, now_secs());
    let p = policy.clone();
    let filtered = crate::policy::filter::memoized(
        group,
        &policy,
        "maven-group-policy",
        &package.clone(),
        entry,
        |body, _| async move {
            let artifact = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let published =
                |v: String| async move { pom_published(eligible, dir, artifact, &v).await };
            Ok(maven::metadata_without_refused(&p, &package, &body, "", published).await)
        },
    )
    .await
    .map_err(IntoResponse::into_response)?;
    filtered
        .bytes()
        .await
        .map_err(|e| crate::error::Failure::internal(e).into_response())
}

/// The 403 for a file of a version (`g/a/v/a-v*`) the group's own rules refuse, judged by
/// `group:artifact`, the version and its POM's `Last-Modified` as the members serve it.
async fn refused(
    group: &Repository,
    policy: &crate::policy::Policy,
    eligible: &[&Arc<Repository>],
    p: &str,
) -> Option<Response> {
    let (package, version) = crate::policy::maven::file_version(p)?;
    let published = if policy.uses_time() {
        // `g/a/` of `g/a/v/file`.
        let mut up = p.rsplitn(3, '/');
        let (_, _, dir) = (up.next(), up.next(), up.next().unwrap_or(""));
        let artifact = dir.rsplit('/').next().unwrap_or("");
        pom_published(eligible, &format!("{dir}/"), artifact, version).await
    } else {
        Published::default()
    };
    let verdict = policy.judge(&package, version, published.at, None, crate::policy::now());
    (!verdict.allows()).then(|| crate::policy::refuse(group, &package, version, &verdict))
}

/// The `Last-Modified` of `dir` (`g/a/`) `version`'s POM from the first member that has it.
async fn pom_published(
    eligible: &[&Arc<Repository>],
    dir: &str,
    artifact: &str,
    version: &str,
) -> Published {
    let pom = format!("{dir}{version}/{artifact}-{version}.pom");
    let Ok(head) = http::Request::head(format!("/{pom}")).body(()) else {
        return Published::default();
    };
    let (head, ()) = head.into_parts();
    let resp = first_found(eligible, &head, &pom).await;
    match resp.status() {
        StatusCode::NOT_FOUND => Published::default(),
        s if s.is_success() => Published {
            at: resp
                .headers()
                .get(http::header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(maven::http_date_secs),
            upstream: None,
            failed: false,
        },
        _ => Published {
            failed: true,
            ..Published::default()
        },
    }
}

fn split_checksum(p: &str) -> (&str, Option<&'static str>) {
    for algorithm in CHECKSUMS {
        if let Some(base) = p.strip_suffix(algorithm).and_then(|b| b.strip_suffix('.')) {
            return (base, Some(algorithm));
        }
    }
    (p, None)
}

/// The `groupId/artifactId/` directory a path belongs to, with its trailing `/`: the parent of
/// artifact-level metadata, the grandparent of a file in a version directory (also of
/// SNAPSHOT-level metadata).
fn artifact_dir(path: &str) -> Option<&str> {
    let (dir, file) = path.rsplit_once('/')?;
    let parent_end = dir.len() + 1;
    let grandparent = dir.rsplit_once('/').map(|(g, _)| &path[..g.len() + 1]);
    if file == "maven-metadata.xml" && !dir.ends_with("-SNAPSHOT") {
        return Some(&path[..parent_end]);
    }
    grandparent
}

/// True when hosted `member` holds any file below `dir`.
async fn holds(member: &Repository, dir: &str) -> bool {
    use futures_util::StreamExt;
    let prefix = hosted::key(&member.name, dir);
    let mut listed = member.services.store.list(&prefix);
    matches!(listed.next().await, Some(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_artifact_directory() {
        assert_eq!(
            artifact_dir("org/acme/lib/maven-metadata.xml"),
            Some("org/acme/lib/")
        );
        assert_eq!(
            artifact_dir("org/acme/lib/1.0/lib-1.0.jar"),
            Some("org/acme/lib/")
        );
        assert_eq!(
            artifact_dir("org/acme/lib/1.0-SNAPSHOT/maven-metadata.xml"),
            Some("org/acme/lib/")
        );
        assert_eq!(artifact_dir("x.jar"), None);
    }
}
