//! Groups (`members = [...]`): one URL over several repositories of one kind, asked in order.
//!
//! A group holds nothing itself. Each request resolves the members through the server's current
//! snapshot of repositories (`App::repositories()`), so a reconfiguration that replaces a member
//! is seen by the next request. Index documents are merged in member order by the ecosystem
//! (`pypi.rs`: project pages and the root index; `maven.rs`: `maven-metadata.xml`); any other
//! path is served by the first member that has it ([`first_found`]).
//!
//! **Dependency confusion.** When a name (a PyPI project, a Maven `groupId:artifactId`) exists in
//! a hosted member, the group serves that name from its hosted members only and never mixes in
//! an upstream's versions of it: a public `internal-lib 99.0` cannot shadow the team's
//! `internal-lib 1.0`. `allow_shadowing = true` on the group turns this off ([`Shadowing`]).
//!
//! **Policies.** A group's own `deny`, `min_age`, `min_age_exempt` and the request's snapshot
//! date (`/<group>/@2025-06-01/…`, which its members see too) apply on top of its members'
//! rules: each ecosystem filters the merged document with the proxies' filter ([`own_rules`])
//! and answers a file of a refused version with the proxies' 403, judged by the times in the
//! merged document.
//!
//! A group is read-only: uploads go to a hosted member's own URL.

pub mod cargo;
pub mod conda;
pub mod maven;
pub mod merged;
pub mod npm;
pub mod pypi;

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use crate::config::{Kind, Role};
use crate::path::{BadPath, RepoPath};
use crate::policy::Policy;
use crate::policy::documents::Filtered;
use crate::repository::{Outcome, Repository, tagged};
use crate::server::Repositories;
use crate::store::Entry;

/// The members of `group`, in order, as the current snapshot has them. A member that is gone
/// (a reconfiguration removed it) is skipped.
pub fn members(snapshot: &Repositories, group: &Repository) -> Vec<Arc<Repository>> {
    group
        .config
        .members
        .iter()
        .filter_map(|name| snapshot.get(name.as_str()).cloned())
        .filter(|m| m.config.kind == group.config.kind && m.config.role() != Role::Group)
        .collect()
}

/// Whether a group may mix other members' versions into a name its hosted members have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shadowing {
    /// The default: a hosted name is served from hosted members only.
    Protected,
    /// `allow_shadowing = true`: every member contributes.
    Allowed,
}

impl Shadowing {
    /// The group's setting.
    pub fn of(group: &Repository) -> Shadowing {
        if group.config.allow_shadowing {
            Shadowing::Allowed
        } else {
            Shadowing::Protected
        }
    }

    /// The members that may serve a name, given which of `members` have it (`has[i]`): the
    /// dependency-confusion rule in one place.
    pub fn eligible<'a>(
        self,
        members: &'a [Arc<Repository>],
        has: &[bool],
    ) -> Vec<&'a Arc<Repository>> {
        let hosted_has = members
            .iter()
            .zip(has)
            .any(|(m, has)| *has && m.config.role() == Role::Hosted);
        members
            .iter()
            .zip(has)
            .filter(|(m, has)| match (self, hosted_has) {
                (Shadowing::Protected, true) => **has && m.config.role() == Role::Hosted,
                _ => true,
            })
            .map(|(m, _)| m)
            .collect()
    }
}

/// The path below a member for `rest` of the request, as the server parses it for that kind.
pub fn parse_path(kind: Kind, rest: &str) -> Result<RepoPath, BadPath> {
    // npm spells scoped packages `@scope%2fname`; the scope is a path segment of its own here.
    match kind {
        Kind::Npm => RepoPath::parse(&rest.replace("%2f", "/").replace("%2F", "/")),
        _ => RepoPath::parse(rest),
    }
}

/// Asks one member for `rest` (GET or HEAD), as if the request had been sent to it.
pub async fn serve_member(
    member: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    if member.config.role() == Role::Hosted {
        return crate::hosted::handle(member, parts, rest, Body::empty()).await;
    }
    match parse_path(member.config.kind, rest) {
        Ok(path) => crate::server::serve_path(member, parts, path).await,
        Err(e) => crate::error::Failure::BadRequest(e.to_string()).into_response(),
    }
}

/// The first answer of `members` (in order) that is not a 404. When none has the path, the
/// first failure other than 404 is answered (an upstream that timed out must not look like a
/// missing file), else 404.
pub async fn first_found(
    members: &[&Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let mut failure = None;
    for member in members {
        let resp = serve_member(member, parts, rest).await;
        match resp.status() {
            StatusCode::NOT_FOUND => {}
            s if s.is_success() || s.is_redirection() => return resp,
            _ => {
                failure.get_or_insert(resp);
            }
        }
    }
    failure.unwrap_or_else(|| {
        tagged(
            (
                StatusCode::NOT_FOUND,
                "not found in any member of this group\n",
            )
                .into_response(),
            Outcome::Miss,
            None,
        )
    })
}

/// Serves any request to `group`.
pub async fn handle(
    snapshot: &Repositories,
    group: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let members = members(snapshot, group);
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let hosted: Vec<String> = members
            .iter()
            .filter(|m| m.config.role() == Role::Hosted)
            .map(|m| format!("/{}/", m.name))
            .collect();
        let hint = match hosted.as_slice() {
            [] => String::new(),
            names => format!("; upload to {}", names.join(" or ")),
        };
        let mut resp = (
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "/{}/ is a group: it only serves GET and HEAD{hint}\n",
                group.name
            ),
        )
            .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return tagged(resp, Outcome::Pass, None);
    }
    if rest.is_empty() {
        return crate::error::Failure::NotFound.into_response();
    }
    // `/<group>/@2025-06-01/…`: the group and its members as they were at that date.
    if let Some((snapshot, below)) = crate::policy::snapshot::split(rest) {
        return match snapshot {
            Ok(s) if !below.is_empty() => {
                Box::pin(crate::policy::snapshot::group_scope(
                    s,
                    &group.name,
                    serve_kind(group, &members, parts, below),
                ))
                .await
            }
            Ok(_) => crate::error::Failure::NotFound.into_response(),
            Err(e) => crate::error::Failure::BadRequest(e).into_response(),
        };
    }
    serve_kind(group, &members, parts, rest).await
}

/// Serves a GET or HEAD of `rest` below `group` by its kind's merge rules.
async fn serve_kind(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    match group.config.kind {
        Kind::Pypi => pypi::handle(group, members, parts, rest).await,
        Kind::Maven => maven::handle(group, members, parts, rest).await,
        Kind::Npm => npm::handle(group, members, parts, rest).await,
        Kind::Cargo => cargo::handle(group, members, parts, rest).await,
        Kind::Conda => conda::handle(group, members, parts, rest).await,
    }
}

/// `entry`, a merged document of `group`, without what the group's own rules (`deny`,
/// `min_age`, the request's snapshot date, advisories) refuse, left out by `filter`, the same
/// filter a proxy applies to its upstream's document; memoized by the merged bytes' digest.
pub async fn own_rules<F>(
    group: &Repository,
    kind: &str,
    name: &str,
    entry: Entry,
    filter: F,
) -> Result<Entry, Response>
where
    F: FnOnce(&Policy, &[u8], &str, i64) -> Option<Filtered> + Send + 'static,
{
    let policy = crate::policy::current(group);
    crate::policy::filter::own(group, &policy, kind, name, entry, filter).await
}

/// The request as members are asked it for a merge: under a cooldown or snapshot of the group,
/// npm's abbreviated packument (which has no times) is asked as the full one.
pub fn for_members(group: &Repository, parts: &http::request::Parts) -> http::request::Parts {
    let mut parts = parts.clone();
    if group.config.kind == Kind::Npm && crate::policy::current(group).uses_time() {
        parts
            .headers
            .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    parts
}

/// Limit on a member's index document read for a merge (conda-forge's linux-64 repodata is
/// a few hundred megabytes).
pub const MAX_MERGED: usize = 1 << 30;

/// The body of a member's answer to `GET rest` (no conditionals, whole): `Ok(None)` on 404, the
/// member's answer itself when it failed otherwise.
pub async fn member_body(
    member: &Arc<Repository>,
    parts: &http::request::Parts,
    rest: &str,
) -> Result<Option<bytes::Bytes>, Response> {
    match merged::member_answer(member, parts, rest).await? {
        Some(answer) => answer.body().await.map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepositoryConfig;
    use crate::repository::Services;

    fn repo(name: &str, hosted: bool) -> Arc<Repository> {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::FsStore::open(dir.path()).unwrap());
        let services = Services::for_tests(store, dir.path());
        let config = RepositoryConfig {
            hosted,
            ..RepositoryConfig::new(Kind::Pypi)
        };
        Arc::new(Repository::new(name, config, services, None).unwrap())
    }

    #[test]
    fn members_come_from_the_snapshot_in_the_group_s_order() {
        let group = Repository::new(
            "all",
            RepositoryConfig {
                members: ["snap", "gone", "rel"]
                    .iter()
                    .map(|n| serde_json::from_value(serde_json::json!(n)).unwrap())
                    .collect(),
                ..RepositoryConfig::new(Kind::Pypi)
            },
            repo("x", false).services.clone(),
            None,
        )
        .unwrap();
        let mut snapshot = Repositories::new();
        snapshot.insert("rel".into(), repo("rel", true));
        snapshot.insert("snap".into(), repo("snap", true));
        let names: Vec<String> = members(&snapshot, &group)
            .iter()
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(
            names,
            ["snap", "rel"],
            "a member missing from the snapshot is skipped"
        );
        // The next snapshot (a reconfiguration) is what the next request sees.
        snapshot.insert("gone".into(), repo("gone", false));
        assert_eq!(members(&snapshot, &group).len(), 3);
    }

    #[test]
    fn a_hosted_name_is_served_from_hosted_members_only() {
        let members = [repo("rel", true), repo("pypi", false), repo("snap", true)];
        let names = |v: Vec<&Arc<Repository>>| -> Vec<String> {
            v.into_iter().map(|m| m.name.clone()).collect()
        };
        let p = Shadowing::Protected;
        assert_eq!(names(p.eligible(&members, &[true, true, false])), ["rel"]);
        assert_eq!(
            names(p.eligible(&members, &[false, true, false])),
            ["rel", "pypi", "snap"]
        );
        assert_eq!(
            names(p.eligible(&members, &[true, true, true])),
            ["rel", "snap"]
        );
        let a = Shadowing::Allowed;
        assert_eq!(
            names(a.eligible(&members, &[true, true, false])),
            ["rel", "pypi", "snap"]
        );
    }
}
