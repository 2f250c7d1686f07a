//! npm groups: one packument merged from the members' packuments, in member order.
//!
//! A version comes from the first member that lists it, with that member's tarball URL (the
//! client downloads from the member, which verifies it); a dist-tag from the first member whose
//! tag points at a version the merge kept. Dependency-confusion rule: when a hosted member has
//! the package, only hosted members contribute to it, so an upstream's `internal-lib@99.0.0`
//! never reaches a client of the group (unless the group sets `allow_shadowing`). Tarballs and
//! version documents asked of the group follow the same rule.
//!
//! Works on the full and the abbreviated documents alike; `_rev` is dropped, since edits go to
//! the hosted repository itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use serde_json::{Map, Value};

use super::first_found;
use super::merged::{self, Answer, member_answer};
use crate::config::Role;
use crate::hosted::npm::semver_cmp;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::Entry;

/// Serves one GET or HEAD below an npm group; `rest` is the raw path below it.
pub async fn handle(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let decoded = rest.replace("%2f", "/").replace("%2F", "/");
    let segments: Vec<&str> = decoded.trim_end_matches('/').split('/').collect();
    let all: Vec<&Arc<Repository>> = members.iter().collect();
    let (name, below) = match segments.as_slice() {
        ["-", ..] => return first_found(&all, parts, rest).await,
        [scope, name, below @ ..] if scope.starts_with('@') => (format!("{scope}/{name}"), below),
        [name, below @ ..] => ((*name).to_owned(), below),
        [] => return first_found(&all, parts, rest).await,
    };
    let name_path = if name.starts_with('@') {
        name.replacen('/', "%2f", 1)
    } else {
        name.clone()
    };
    let shadowing = group.config.allow_shadowing;
    let asked = super::for_members(group, parts);
    // Hosted members are asked first: when one has the name, the proxies are not asked at all
    // (unless shadowing is allowed), so a private name never reaches a public registry.
    let mut order: Vec<(usize, &Arc<Repository>)> = members.iter().enumerate().collect();
    order.sort_by_key(|(i, m)| (m.config.role() != Role::Hosted, *i));
    let mut found = Vec::new();
    let mut failure = None;
    for (i, m) in order {
        let hosted_has = found
            .iter()
            .any(|(_, m, _): &(usize, &Arc<Repository>, Answer)| m.config.role() == Role::Hosted);
        if hosted_has && !shadowing && m.config.role() != Role::Hosted {
            break;
        }
        match member_answer(m, &asked, &name_path).await {
            Ok(Some(answer)) => found.push((i, m, answer)),
            Ok(None) => {}
            // A hosted member that cannot answer must not let the proxies speak for it.
            Err(resp) if m.config.role() == Role::Hosted => return resp,
            Err(resp) => {
                failure.get_or_insert(resp);
            }
        }
    }
    found.sort_by_key(|(i, _, _)| *i);
    let hosted_has = found
        .iter()
        .any(|(_, m, _)| m.config.role() == Role::Hosted);
    if !below.is_empty() {
        let eligible: Vec<&Arc<Repository>> = members
            .iter()
            .filter(|m| shadowing || !hosted_has || m.config.role() == Role::Hosted)
            .collect();
        // A tag names what the group's packument (merged, under the group's rules) says, so
        // `/<name>/latest` never resolves to a version a member or the group refuses.
        if let [tag] = below
            && crate::policy::documents::npm_is_tag(tag)
        {
            let served = match served(group, &asked, &name, &name_path, found).await {
                Ok(Some((entry, _))) => entry,
                Ok(None) => return failure.unwrap_or_else(not_found),
                Err(resp) => return resp,
            };
            let version = match served.bytes().await {
                Ok(body) => crate::policy::documents::npm_dist_tag(&body, tag),
                Err(e) => return crate::error::Failure::internal(e).into_response(),
            };
            return match version {
                Some(v) => first_found(&eligible, parts, &format!("{name_path}/{v}")).await,
                None => not_found(),
            };
        }
        // A tarball or a version document: refused as the group's merged packument leaves
        // the version out.
        let policy = crate::policy::current(group);
        if policy.is_active()
            && let Some(version) = version_of(&name, below)
        {
            let times = match merged_packument(group, &asked, &name, &name_path, found).await {
                Ok(Some(((body, _), _))) => times_of(&body),
                Ok(None) => BTreeMap::new(),
                Err(resp) => return resp,
            };
            let at = times.get(&version).copied();
            let verdict = policy.judge(&name, &version, at, None, crate::policy::now());
            if !verdict.allows() {
                return crate::policy::refuse(group, &name, &version, &verdict);
            }
        }
        return first_found(&eligible, parts, rest).await;
    }
    let (entry, outcome) = match served(group, &asked, &name, &name_path, found).await {
        Ok(Some(served)) => served,
        Ok(None) => return failure.unwrap_or_else(not_found),
        Err(resp) => return resp,
    };
    let mut resp = crate::hosted::serve_entry(
        &parts.method,
        &parts.headers,
        &entry,
        CacheControl::MaxAge(0),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    tagged(resp, outcome, None)
}

fn not_found() -> Response {
    tagged(
        crate::error::Failure::NotFound.into_response(),
        Outcome::Miss,
        None,
    )
}

/// The group's packument of `name` as clients read it: the members' answers in `found`
/// merged, without what the group's own rules refuse; `None` when no member has the package.
async fn served(
    group: &Arc<Repository>,
    asked: &http::request::Parts,
    name: &str,
    name_path: &str,
    found: Vec<(usize, &Arc<Repository>, Answer)>,
) -> Result<Option<(Entry, Outcome)>, Response> {
    let ((body, content_type), outcome) =
        match merged_packument(group, asked, name, name_path, found).await? {
            Some(merged) => merged,
            None => return Ok(None),
        };
    let entry = Entry::from_bytes(body, content_type, None, crate::store::now_secs());
    let n = name.to_owned();
    let filter = move |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
        crate::policy::documents::npm_packument(p, &n, body, up, now)
            .ok()
            .flatten()
    };
    let entry = super::own_rules(group, "npm-group-policy", name, entry, filter).await?;
    Ok(Some((entry, outcome)))
}

/// The version a request below a package names: `-/<base>-<version>.tgz` or `<version>`.
fn version_of(name: &str, below: &[&str]) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    match below {
        ["-", file] => file
            .strip_prefix(base)?
            .strip_prefix('-')?
            .strip_suffix(".tgz")
            .map(str::to_owned),
        [version] if !version.starts_with('-') => Some((*version).to_owned()),
        _ => None,
    }
}

/// The publication times of a packument's versions (its `time` map).
fn times_of(body: &[u8]) -> BTreeMap<String, i64> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        time: Map<String, Value>,
    }
    let doc: Doc = serde_json::from_slice(body).unwrap_or(Doc { time: Map::new() });
    doc.time
        .iter()
        .filter_map(|(v, t)| Some((v.clone(), crate::policy::parse_time(t.as_str()?)?)))
        .collect()
}

/// The members' packuments of `name` (their answers in `found`, in member order) merged, from
/// the memo when no member's answer changed; `None` when none has the package.
#[allow(clippy::type_complexity)]
async fn merged_packument(
    group: &Repository,
    asked: &http::request::Parts,
    name: &str,
    name_path: &str,
    found: Vec<(usize, &Arc<Repository>, Answer)>,
) -> Result<Option<((Bytes, &'static str), Outcome)>, Response> {
    let key = {
        let identities: Vec<(&str, Option<&Answer>)> = found
            .iter()
            .map(|(_, m, a)| (m.name.as_str(), Some(a)))
            .collect();
        merged::key(group, asked, name_path, &identities)
    };
    if let Some(kept) = merged::get::<(Bytes, &'static str)>(group, key.as_deref()) {
        return Ok(Some((kept, Outcome::Hit)));
    }
    let mut merged_members = Vec::new();
    for (_, m, answer) in found {
        let body = answer.body().await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(packument) => merged_members.push(Member {
                hosted: m.config.role() == Role::Hosted,
                packument,
            }),
            Err(_) => tracing::warn!("{}: the packument of {name} is not JSON", m.name),
        }
    }
    let Some(merged) = merge(&merged_members, group.config.allow_shadowing) else {
        return Ok(None);
    };
    let content_type = if merged.get("time").is_none() {
        "application/vnd.npm.install-v1+json"
    } else {
        "application/json"
    };
    let body = Bytes::from(serde_json::to_vec(&merged).unwrap_or_default());
    let len = body.len();
    merged::keep(group, key, (body.clone(), content_type), len);
    Ok(Some(((body, content_type), Outcome::Miss)))
}

/// One member's packument of the package, if it has one.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member is a hosted repository.
    pub hosted: bool,
    /// Its packument, with absolute tarball URLs.
    pub packument: Value,
}

/// Merges the members' packuments of one package, in order; `None` when no member has it.
pub fn merge(members: &[Member], allow_shadowing: bool) -> Option<Value> {
    let hosted_has_it = members.iter().any(|m| m.hosted);
    let docs: Vec<&Map<String, Value>> = members
        .iter()
        .filter(|m| allow_shadowing || !hosted_has_it || m.hosted)
        .filter_map(|m| m.packument.as_object())
        .collect();
    let first = *docs.first()?;
    let mut out = Map::new();
    for (k, v) in first {
        if !matches!(
            k.as_str(),
            "_rev" | "versions" | "dist-tags" | "time" | "modified"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    let mut versions = Map::new();
    let mut time = Map::new();
    for doc in &docs {
        let Some(vs) = doc.get("versions").and_then(Value::as_object) else {
            continue;
        };
        for (version, manifest) in vs {
            if versions.contains_key(version) {
                continue;
            }
            versions.insert(version.clone(), manifest.clone());
            if let Some(t) = doc.get("time").and_then(|t| t.get(version)) {
                time.insert(version.clone(), t.clone());
            }
        }
    }
    let mut tags = Map::new();
    for doc in &docs {
        let Some(ts) = doc.get("dist-tags").and_then(Value::as_object) else {
            continue;
        };
        for (tag, version) in ts {
            let kept = version.as_str().is_some_and(|v| versions.contains_key(v));
            if kept && !tags.contains_key(tag) {
                tags.insert(tag.clone(), version.clone());
            }
        }
    }
    if !tags.contains_key("latest")
        && let Some(highest) = versions
            .keys()
            .filter(|v| !v.contains('-'))
            .max_by(|a, b| semver_cmp(a, b))
            .or_else(|| versions.keys().max_by(|a, b| semver_cmp(a, b)))
    {
        tags.insert("latest".into(), highest.clone().into());
    }
    // RFC 3339 UTC strings of one format order as text.
    let stamps = |key: &str| -> BTreeSet<String> {
        docs.iter()
            .filter_map(|d| {
                d.get("time")
                    .and_then(|t| t.get(key))
                    .or_else(|| (key == "modified").then(|| d.get("modified")).flatten())
            })
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let modified = stamps("modified").last().cloned();
    if first.contains_key("time") {
        if let Some(created) = stamps("created").first() {
            time.insert("created".into(), created.clone().into());
        }
        if let Some(m) = &modified {
            time.insert("modified".into(), m.clone().into());
        }
        out.insert("time".into(), Value::Object(time));
    }
    if first.contains_key("modified")
        && let Some(m) = modified
    {
        out.insert("modified".into(), m.into());
    }
    out.insert("dist-tags".into(), Value::Object(tags));
    out.insert("versions".into(), Value::Object(versions));
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc(base: &str, versions: &[&str], latest: &str) -> Value {
        let mut vs = Map::new();
        let mut time = Map::new();
        for v in versions {
            vs.insert(
                (*v).into(),
                json!({"name": "internal-lib", "version": v,
                       "dist": {"tarball": format!("{base}/internal-lib/-/internal-lib-{v}.tgz")}}),
            );
            time.insert((*v).into(), "2026-01-01T00:00:00.000Z".into());
        }
        time.insert("created".into(), "2026-01-01T00:00:00.000Z".into());
        time.insert(
            "modified".into(),
            format!("2026-0{}-01T00:00:00.000Z", versions.len()).into(),
        );
        json!({"_id": "internal-lib", "_rev": "3-abc", "name": "internal-lib",
               "dist-tags": {"latest": latest}, "versions": vs, "time": time})
    }

    #[test]
    fn a_hosted_name_hides_the_upstream_versions() {
        let hosted = Member {
            hosted: true,
            packument: doc("http://h/npm-releases", &["1.0.0"], "1.0.0"),
        };
        let upstream = Member {
            hosted: false,
            packument: doc("http://h/npm", &["1.0.0", "99.0.0"], "99.0.0"),
        };
        let merged = merge(&[upstream.clone(), hosted.clone()], false).unwrap();
        assert_eq!(merged["versions"].as_object().unwrap().len(), 1);
        assert_eq!(merged["dist-tags"]["latest"], "1.0.0");
        assert_eq!(
            merged["versions"]["1.0.0"]["dist"]["tarball"],
            "http://h/npm-releases/internal-lib/-/internal-lib-1.0.0.tgz"
        );
        assert!(merged.get("_rev").is_none());

        let shadowed = merge(&[hosted, upstream], true).unwrap();
        assert_eq!(shadowed["versions"].as_object().unwrap().len(), 2);
        assert_eq!(shadowed["dist-tags"]["latest"], "1.0.0");
        assert_eq!(
            shadowed["versions"]["1.0.0"]["dist"]["tarball"],
            "http://h/npm-releases/internal-lib/-/internal-lib-1.0.0.tgz"
        );
        assert_eq!(shadowed["time"]["modified"], "2026-02-01T00:00:00.000Z");
    }

    #[test]
    fn proxies_alone_merge_in_order() {
        let a = Member {
            hosted: false,
            packument: doc("http://a", &["1.0.0"], "1.0.0"),
        };
        let b = Member {
            hosted: false,
            packument: doc("http://b", &["1.0.0", "2.0.0"], "2.0.0"),
        };
        let merged = merge(&[a, b], false).unwrap();
        assert_eq!(merged["dist-tags"]["latest"], "1.0.0");
        assert_eq!(
            merged["versions"]["1.0.0"]["dist"]["tarball"],
            "http://a/internal-lib/-/internal-lib-1.0.0.tgz"
        );
        assert_eq!(merged["versions"]["2.0.0"]["version"], "2.0.0");
        assert!(merge(&[], false).is_none());
    }

    proptest! {
        /// Every tag of a merge points at a version of it, and with a hosted member present no
        /// version comes from a proxy member.
        #[test]
        fn merges_are_consistent(
            members in proptest::collection::vec(
                (any::<bool>(), proptest::collection::btree_set("[1-9]\\.[0-9]\\.0", 0..4)),
                1..4,
            ),
        ) {
            let ms: Vec<Member> = members
                .iter()
                .enumerate()
                .map(|(i, (hosted, vs))| {
                    let vs: Vec<&str> = vs.iter().map(String::as_str).collect();
                    let latest = vs.first().copied().unwrap_or("0.0.0");
                    Member { hosted: *hosted, packument: doc(&format!("http://m{i}"), &vs, latest) }
                })
                .collect();
            let merged = merge(&ms, false).unwrap();
            let versions = merged["versions"].as_object().unwrap();
            for v in merged["dist-tags"].as_object().unwrap().values() {
                prop_assert!(versions.contains_key(v.as_str().unwrap()));
            }
            if members.iter().any(|(h, _)| *h) {
                for m in versions.values() {
                    let url = m["dist"]["tarball"].as_str().unwrap();
                    let i: usize = url["http://m".len()..].split('/').next().unwrap().parse().unwrap();
                    prop_assert!(members[i].0);
                }
            }
        }
    }
}
