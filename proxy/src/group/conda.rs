//! conda groups: one `repodata.json` per subdir merged from the members' repodata, in order.
//!
//! A file name comes from the first member that lists it; [`Merged::sources`] says which, so the
//! group serves the package from that member (whose index verifies it). Dependency-confusion
//! rule: a package *name* listed by any hosted member is taken only from hosted members, so an
//! upstream's `internal-lib 99.0` never appears beside the hosted `internal-lib 1.0` (unless the
//! group sets `allow_shadowing`). Records are relative to the subdir (no CEP 15 `base_url`), as
//! the group serves every file at its own URL.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::first_found;
use super::merged::{self, Answer, member_answer};
use crate::config::Role;
use crate::hosted::conda::package;
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::Entry;

/// Serves one GET or HEAD below a conda group; `rest` is the raw path below it.
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
    let Some((file, dir)) = segments.split_last() else {
        return not_found();
    };
    let Some(subdir) = dir.last().copied().filter(|s| package::valid_subdir(s)) else {
        let all: Vec<&Arc<Repository>> = members.iter().collect();
        return first_found(&all, parts, rest).await;
    };
    let dir = dir.join("/");
    match *file {
        "repodata.json" | "repodata.json.zst" => {
            let (json, mut outcome) =
                match merged_repodata(group, members, parts, &dir, subdir).await {
                    Ok(Some(merged)) => merged,
                    Ok(None) => return not_found(),
                    Err(resp) => return resp,
                };
            let entry = Entry::from_bytes(json, "application/json", None, crate::store::now_secs());
            let filter = |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
                crate::policy::documents::conda_repodata(p, body, up, now)
                    .ok()
                    .flatten()
            };
            let entry =
                match super::own_rules(group, "conda-group-policy", &dir, entry, filter).await {
                    Ok(entry) => entry,
                    Err(resp) => return resp,
                };
            let entry = if *file == "repodata.json" {
                entry
            } else {
                // Compressed once per merged (and filtered) document.
                let key = Some(format!("zst\0{}", entry.meta.digests.sha256));
                let z = match merged::get::<Bytes>(group, key.as_deref()) {
                    Some(z) => z,
                    None => {
                        let json = match entry.bytes().await {
                            Ok(json) => json,
                            Err(e) => return crate::error::Failure::internal(e).into_response(),
                        };
                        match package::compress(&json) {
                            Ok(z) => {
                                // Compressing is the costly part of this answer: a miss.
                                outcome = Outcome::Miss;
                                let z = Bytes::from(z);
                                merged::keep(group, key, z.clone(), z.len());
                                z
                            }
                            Err(e) => return crate::error::Failure::internal(e).into_response(),
                        }
                    }
                };
                Entry::from_bytes(z, "application/zstd", None, crate::store::now_secs())
            };
            let resp = crate::hosted::serve_entry(
                &parts.method,
                &parts.headers,
                &entry,
                CacheControl::MaxAge(0),
            );
            tagged(resp, outcome, None)
        }
        f if package::Format::of(f).is_some() => {
            let policy = crate::policy::current(group);
            if policy.is_active() {
                match merged_repodata(group, members, parts, &dir, subdir).await {
                    Ok(Some((json, _))) => {
                        if let Some(refused) = refused(group, &policy, &json, f) {
                            return refused;
                        }
                    }
                    Ok(None) => {}
                    Err(resp) => return resp,
                }
            }
            package_file(group, members, parts, rest, &dir, f).await
        }
        _ => not_found(),
    }
}

/// The 403 for package `file` when the group's rules refuse its record in the merged
/// repodata `json` (by name, version and `timestamp`).
fn refused(
    group: &Repository,
    policy: &crate::policy::Policy,
    json: &[u8],
    file: &str,
) -> Option<Response> {
    let doc: Value = serde_json::from_slice(json).ok()?;
    let record = KEYS
        .iter()
        .find_map(|k| doc.get(*k).and_then(|m| m.get(file)))?;
    let name = name_of(record)?;
    let version = record.get("version").and_then(Value::as_str).unwrap_or("");
    let at = record
        .get("timestamp")
        .and_then(Value::as_i64)
        .map(crate::policy::documents::conda_seconds);
    let verdict = policy.judge(name, version, at, None, crate::policy::now());
    (!verdict.allows()).then(|| crate::policy::refuse(group, name, version, &verdict))
}

/// The members' `repodata.json` of `dir` merged (before the group's own rules), from the memo
/// when no member's answer changed; `None` when no member has the subdir.
async fn merged_repodata(
    group: &Repository,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    dir: &str,
    subdir: &str,
) -> Result<Option<(Bytes, Outcome)>, Response> {
    let rest = format!("{dir}/repodata.json");
    let mut answers = Vec::new();
    for m in members {
        answers.push((m, member_answer(m, parts, &rest).await?));
    }
    if answers.iter().all(|(_, a)| a.is_none()) {
        return Ok(None);
    }
    let key = {
        let identities: Vec<(&str, Option<&Answer>)> = answers
            .iter()
            .map(|(m, a)| (m.name.as_str(), a.as_ref()))
            .collect();
        merged::key(group, parts, &rest, &identities)
    };
    if let Some(json) = merged::get::<Bytes>(group, key.as_deref()) {
        return Ok(Some((json, Outcome::Hit)));
    }
    let mut list = Vec::new();
    for (m, answer) in answers {
        let hosted = m.config.role() == Role::Hosted;
        // What a hosted member's own rules leave out still keeps the name from the proxies.
        let held = if hosted && m.policy.is_active() {
            crate::hosted::conda::held_names(m, dir).await?
        } else {
            HashSet::new()
        };
        let Some(answer) = answer else {
            if !held.is_empty() {
                list.push(Member {
                    hosted,
                    repodata: Value::Null,
                    held,
                });
            }
            continue;
        };
        let body = answer.body().await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(repodata) => list.push(Member {
                hosted,
                repodata,
                held,
            }),
            Err(_) => tracing::warn!("{}: {dir}/repodata.json is not JSON", m.name),
        }
    }
    if list.is_empty() {
        return Ok(None);
    }
    let merged = merge(subdir, &list, group.config.allow_shadowing);
    let json = Bytes::from(serde_json::to_vec(&merged.repodata).unwrap_or_default());
    merged::keep(group, key, json.clone(), json.len());
    Ok(Some((json, Outcome::Miss)))
}

/// A package of the group: from a hosted member that has it, else, unless a hosted member
/// has a package of that name, from the first other member that has it.
async fn package_file(
    group: &Repository,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
    dir: &str,
    file: &str,
) -> Response {
    let (hosted, others): (Vec<&Arc<Repository>>, Vec<&Arc<Repository>>) = members
        .iter()
        .partition(|m| m.config.role() == Role::Hosted);
    let resp = first_found(&hosted, parts, rest).await;
    if resp.status() != http::StatusCode::NOT_FOUND {
        return resp;
    }
    // `<name>-<version>-<build>.<ext>`: version and build hold no `-`.
    let stem = package::Format::of(file).map_or(file, |(_, stem)| stem);
    let name = stem.rsplitn(3, '-').nth(2).unwrap_or(stem);
    if !group.config.allow_shadowing {
        for m in &hosted {
            // Every record it holds counts, those its own rules refuse included.
            let Ok(held) = crate::hosted::conda::held_names(m, dir).await else {
                continue;
            };
            if held.contains(name) {
                return tagged(
                    crate::error::Failure::NotFound.into_response(),
                    Outcome::Miss,
                    None,
                );
            }
        }
    }
    first_found(&others, parts, rest).await
}

/// One member's repodata of the subdir.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member is a hosted repository.
    pub hosted: bool,
    /// Its parsed `repodata.json`.
    pub repodata: Value,
    /// For a hosted member, the names of every record it holds, those its own rules leave
    /// out of `repodata` included: they keep other members' records of the name out too.
    pub held: HashSet<String>,
}

/// A merged repodata document and where each file comes from.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The group's `repodata.json`.
    pub repodata: Value,
    /// File name to member position.
    pub sources: HashMap<String, usize>,
}

const KEYS: [&str; 2] = ["packages", "packages.conda"];

fn records(doc: &Value) -> impl Iterator<Item = (&String, &Value)> {
    KEYS.iter()
        .filter_map(|k| doc.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.iter())
}

fn name_of(record: &Value) -> Option<&str> {
    record.get("name").and_then(Value::as_str)
}

/// Merges the members' repodata of `subdir`.
pub fn merge(subdir: &str, members: &[Member], allow_shadowing: bool) -> Merged {
    let hosted_names: HashSet<&str> = if allow_shadowing {
        HashSet::new()
    } else {
        members
            .iter()
            .filter(|m| m.hosted)
            .flat_map(|m| {
                records(&m.repodata)
                    .filter_map(|(_, r)| name_of(r))
                    .chain(m.held.iter().map(String::as_str))
            })
            .collect()
    };
    let mut out: [Map<String, Value>; 2] = [Map::new(), Map::new()];
    let mut sources = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        for (slot, key) in KEYS.iter().enumerate() {
            let Some(listed) = m.repodata.get(*key).and_then(Value::as_object) else {
                continue;
            };
            for (file, record) in listed {
                let shadowed =
                    !m.hosted && name_of(record).is_some_and(|n| hosted_names.contains(n));
                if shadowed || sources.contains_key(file) {
                    continue;
                }
                sources.insert(file.clone(), i);
                out[slot].insert(file.clone(), record.clone());
            }
        }
    }
    let [packages, conda] = out;
    let repodata = serde_json::json!({
        "info": { "subdir": subdir },
        "packages": packages,
        "packages.conda": conda,
        "removed": [],
        "repodata_version": 1,
    });
    Merged { repodata, sources }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repodata(name: &str, versions: &[&str], sha: &str) -> Value {
        let mut conda = Map::new();
        for v in versions {
            conda.insert(
                format!("{name}-{v}-0.conda"),
                json!({"name": name, "version": v, "build": "0", "sha256": sha}),
            );
        }
        json!({"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": conda})
    }

    #[test]
    fn a_hosted_name_hides_the_upstream_builds() {
        let up = Member {
            hosted: false,
            repodata: repodata("internal-lib", &["1.0", "99.0"], "up"),
            held: HashSet::new(),
        };
        let other = Member {
            hosted: false,
            repodata: repodata("numpy", &["2.0"], "np"),
            held: HashSet::new(),
        };
        let mine = Member {
            hosted: true,
            repodata: repodata("internal-lib", &["1.0"], "mine"),
            held: HashSet::new(),
        };
        let m = merge("noarch", &[up.clone(), other.clone(), mine.clone()], false);
        let files = m.repodata["packages.conda"].as_object().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files["internal-lib-1.0-0.conda"]["sha256"], "mine");
        assert_eq!(m.sources["internal-lib-1.0-0.conda"], 2);
        assert_eq!(m.sources["numpy-2.0-0.conda"], 1);
        assert!(!m.sources.contains_key("internal-lib-99.0-0.conda"));

        // A name the hosted member holds but its own rules leave out still hides the builds.
        let denied = Member {
            hosted: true,
            repodata: repodata("numpy", &[], "none"),
            held: HashSet::from(["numpy".to_owned()]),
        };
        let m = merge("noarch", &[other.clone(), denied], false);
        assert!(m.repodata["packages.conda"].as_object().unwrap().is_empty());

        let m = merge("noarch", &[up, other, mine], true);
        assert_eq!(m.repodata["packages.conda"].as_object().unwrap().len(), 3);
        assert_eq!(m.sources["internal-lib-1.0-0.conda"], 0);
        assert_eq!(m.repodata["info"]["subdir"], "noarch");
    }

    proptest::proptest! {
        /// Without shadowing, no merged record of a hosted name comes from a proxy member.
        #[test]
        fn hosted_names_come_from_hosted_members(
            members in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), "[ab]", proptest::collection::vec("[1-3]\\.0", 0..3)),
                1..4),
        ) {
            let ms: Vec<Member> = members.iter().map(|(h, n, vs)| {
                let vs: Vec<&str> = vs.iter().map(String::as_str).collect();
                Member { hosted: *h, repodata: repodata(n, &vs, "x"), held: HashSet::new() }
            }).collect();
            let m = merge("noarch", &ms, false);
            let hosted: HashSet<&str> = members.iter().filter(|(h, _, vs)| *h && !vs.is_empty()).map(|(_, n, _)| n.as_str()).collect();
            for (file, i) in &m.sources {
                let name = file.split('-').next().unwrap();
                proptest::prop_assert!(!hosted.contains(name) || members[*i].0);
            }
        }
    }
}
