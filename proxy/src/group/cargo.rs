//! cargo groups: one sparse index file merged from the members' index files, in member order.
//!
//! A version comes from the first member that lists it; [`merge`] says which member that is, so
//! the group's download route fetches the `.crate` from the member whose `cksum` the client got.
//! Dependency-confusion rule: when a hosted member has the crate, only hosted members contribute
//! to it (unless the group sets `allow_shadowing`). Lines pass through byte for byte.

use std::collections::HashSet;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

use super::merged::{self, Answer, member_answer};
use super::serve_member;
use crate::config::Role;
use crate::ecosystem::cargo::index_path;
use crate::hosted::cargo::index as hosted_index;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::Entry;

/// Serves one GET or HEAD below a cargo group; `rest` is the raw path below it.
pub async fn handle(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let not_found = || {
        tagged(
            crate::error::Failure::NotFound.into_response(),
            Outcome::Miss,
            None,
        )
    };
    match segments.as_slice() {
        ["index", "config.json"] => {
            let base = format!(
                "{}/{}",
                crate::origin::request_origin(&parts.headers, &parts.uri),
                group.name
            );
            let doc = hosted_index::config_json(&base, group.services.auth_required);
            serve(parts, serde_json::to_vec(&doc).unwrap_or_default())
        }
        ["index", path @ ..] if !path.is_empty() => {
            let name = path.last().copied().unwrap_or("");
            if !hosted_index::valid_name(name) || index_path(name) != path.join("/") {
                return not_found();
            }
            match merged(group, members, parts, name).await {
                Ok(Some((m, outcome))) => {
                    let entry = entry_of(m.index);
                    let filter = crate::policy::documents::cargo_index;
                    match super::own_rules(group, "cargo-group-policy", name, entry, filter).await {
                        Ok(entry) => tagged(serve_entry(parts, &entry), outcome, None),
                        Err(resp) => resp,
                    }
                }
                Ok(None) => not_found(),
                Err(resp) => resp,
            }
        }
        ["dl", name, version, "download"] => {
            if !hosted_index::valid_name(name) || !hosted_index::valid_version(version) {
                return not_found();
            }
            match merged(group, members, parts, name).await {
                Ok(Some((m, _))) => match m.source_of(version) {
                    Some(i) => {
                        let policy = crate::policy::current(group);
                        if policy.is_active() {
                            let at = crate::policy::documents::cargo_pubtime(&m.index, version);
                            let verdict =
                                policy.judge(name, version, at, None, crate::policy::now());
                            if !verdict.allows() {
                                return crate::policy::refuse(group, name, version, &verdict);
                            }
                        }
                        serve_member(&members[i], parts, rest).await
                    }
                    None => {
                        // Left out of a member's index by the member's own rules: its 403
                        // (with the reason) is passed on; only members the merge took lines
                        // from are asked, so no other member can serve the version.
                        let mut contributing: Vec<&Arc<Repository>> = Vec::new();
                        for (_, i) in &m.sources {
                            if !contributing.iter().any(|c| Arc::ptr_eq(c, &members[*i])) {
                                contributing.push(&members[*i]);
                            }
                        }
                        let resp = super::first_found(&contributing, parts, rest).await;
                        if resp.status() == http::StatusCode::FORBIDDEN {
                            resp
                        } else {
                            not_found()
                        }
                    }
                },
                Ok(None) => not_found(),
                Err(resp) => resp,
            }
        }
        _ => not_found(),
    }
}

fn serve(parts: &http::request::Parts, body: Vec<u8>) -> Response {
    serve_entry(parts, &entry_of(body))
}

fn entry_of(body: Vec<u8>) -> Entry {
    Entry::from_bytes(
        Bytes::from(body),
        "application/json",
        None,
        crate::store::now_secs(),
    )
}

fn serve_entry(parts: &http::request::Parts, entry: &Entry) -> Response {
    crate::hosted::serve_entry(
        &parts.method,
        &parts.headers,
        entry,
        CacheControl::MaxAge(0),
    )
}

/// The merged index file of crate `name`; hosted members are asked first, and proxies not at
/// all when a hosted member has the crate (unless shadowing is allowed).
async fn merged(
    group: &Repository,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    name: &str,
) -> Result<Option<(Merged, Outcome)>, Response> {
    let shadowing = group.config.allow_shadowing;
    let rest = format!("index/{}", index_path(name));
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|i| (members[*i].config.role() != Role::Hosted, *i));
    let mut found: Vec<(usize, Answer)> = Vec::new();
    let mut failure = None;
    for i in order {
        let m = &members[i];
        let hosted = m.config.role() == Role::Hosted;
        let hosted_found = found
            .iter()
            .any(|(f, _)| members[*f].config.role() == Role::Hosted);
        if !hosted && !shadowing && hosted_found {
            break;
        }
        match member_answer(m, parts, &rest).await {
            Ok(Some(answer)) => found.push((i, answer)),
            Ok(None) => {}
            Err(resp) if hosted => return Err(resp),
            Err(resp) => {
                failure.get_or_insert(resp);
            }
        }
    }
    if found.is_empty() {
        return failure.map_or(Ok(None), Err);
    }
    found.sort_by_key(|(i, _)| *i);
    let key = {
        let identities: Vec<(&str, Option<&Answer>)> = found
            .iter()
            .map(|(i, a)| (members[*i].name.as_str(), Some(a)))
            .collect();
        merged::key(group, parts, &rest, &identities)
    };
    if let Some(kept) = merged::get::<Merged>(group, key.as_deref()) {
        return Ok(Some((kept, Outcome::Hit)));
    }
    let positions: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
    let mut list = Vec::with_capacity(found.len());
    for (i, answer) in found {
        list.push(Member {
            hosted: members[i].config.role() == Role::Hosted,
            index: answer.body().await?.to_vec(),
        });
    }
    let Some(mut m) = merge(&list, shadowing) else {
        return Ok(None);
    };
    for source in &mut m.sources {
        source.1 = positions[source.1];
    }
    let weight = m.index.len() + m.sources.iter().map(|(v, _)| v.len() + 8).sum::<usize>();
    merged::keep(group, key, m.clone(), weight);
    Ok(Some((m, Outcome::Miss)))
}

/// One member's index file of the crate, if it has one.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member is a hosted repository.
    pub hosted: bool,
    /// The index file's bytes.
    pub index: Vec<u8>,
}

/// A merged index file and, per version, the member it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The index file served by the group.
    pub index: Vec<u8>,
    /// `(version, member position)` in file order.
    pub sources: Vec<(String, usize)>,
}

impl Merged {
    /// The member that provides `version`.
    pub fn source_of(&self, version: &str) -> Option<usize> {
        self.sources
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, i)| *i)
    }
}

#[derive(Deserialize)]
struct Vers {
    vers: String,
}

/// Merges the members' index files of one crate; `None` when none has it.
pub fn merge(members: &[Member], allow_shadowing: bool) -> Option<Merged> {
    let hosted_has_it = members.iter().any(|m| m.hosted);
    let mut seen = HashSet::new();
    let mut out = Merged {
        index: Vec::new(),
        sources: Vec::new(),
    };
    let mut any = false;
    for (i, m) in members.iter().enumerate() {
        if !allow_shadowing && hosted_has_it && !m.hosted {
            continue;
        }
        any = true;
        for line in m.index.split(|&b| b == b'\n') {
            let Ok(Vers { vers }) = serde_json::from_slice::<Vers>(line) else {
                continue;
            };
            if seen.insert(vers.clone()) {
                out.index.extend_from_slice(line);
                out.index.push(b'\n');
                out.sources.push((vers, i));
            }
        }
    }
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(versions: &[&str], tag: &str) -> Vec<u8> {
        versions
            .iter()
            .map(|v| {
                format!("{{\"name\":\"internal-lib\",\"vers\":\"{v}\",\"cksum\":\"{tag}\"}}\n")
            })
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_hosted_crate_hides_the_upstream_versions() {
        let upstream = Member {
            hosted: false,
            index: index(&["1.0.0", "99.0.0"], "up"),
        };
        let hosted = Member {
            hosted: true,
            index: index(&["1.0.0"], "mine"),
        };
        let merged = merge(&[upstream.clone(), hosted.clone()], false).unwrap();
        assert_eq!(merged.index, index(&["1.0.0"], "mine"));
        assert_eq!(merged.source_of("1.0.0"), Some(1));
        assert_eq!(merged.source_of("99.0.0"), None);
        let shadowed = merge(&[hosted, upstream], true).unwrap();
        assert_eq!(shadowed.sources.len(), 2);
        assert_eq!(shadowed.source_of("1.0.0"), Some(0));
        assert_eq!(shadowed.source_of("99.0.0"), Some(1));
        assert!(merge(&[], false).is_none());
    }

    proptest! {
        /// Each version appears once, from the first member (among those allowed) listing it.
        #[test]
        fn versions_are_unique_and_first_wins(
            members in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec("[0-3]\\.[0-3]\\.0", 0..4)), 1..4),
            shadow in any::<bool>(),
        ) {
            let ms: Vec<Member> = members
                .iter()
                .map(|(h, vs)| {
                    let vs: Vec<&str> = vs.iter().map(String::as_str).collect();
                    Member { hosted: *h, index: index(&vs, "x") }
                })
                .collect();
            let merged = merge(&ms, shadow).unwrap();
            let mut seen = HashSet::new();
            let any_hosted = members.iter().any(|(h, _)| *h);
            for (v, i) in &merged.sources {
                prop_assert!(seen.insert(v.clone()));
                prop_assert!(shadow || !any_hosted || members[*i].0);
                let first = members.iter().position(|(h, vs)| {
                    (shadow || !any_hosted || *h) && vs.contains(v)
                });
                prop_assert_eq!(first, Some(*i));
            }
        }
    }
}
