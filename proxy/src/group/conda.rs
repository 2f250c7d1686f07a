//! conda groups: one `repodata.json` per subdir merged from the members' repodata, in order.
//!
//! A file name comes from the first member that lists it; [`Merged::sources`] says which, so the
//! group serves the package from that member (whose index verifies it). Dependency-confusion
//! rule: a package *name* listed by any hosted member is taken only from hosted members, so an
//! upstream's `internal-lib 99.0` never appears beside the hosted `internal-lib 1.0` (unless the
//! group sets `allow_shadowing`). Records are relative to the subdir (no CEP 15 `base_url`), as
//! the group serves every file at its own URL.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

/// One member's repodata of the subdir.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member is a hosted repository.
    pub hosted: bool,
    /// Its parsed `repodata.json`.
    pub repodata: Value,
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
            .flat_map(|m| records(&m.repodata).filter_map(|(_, r)| name_of(r)))
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
        };
        let other = Member {
            hosted: false,
            repodata: repodata("numpy", &["2.0"], "np"),
        };
        let mine = Member {
            hosted: true,
            repodata: repodata("internal-lib", &["1.0"], "mine"),
        };
        let m = merge("noarch", &[up.clone(), other.clone(), mine.clone()], false);
        let files = m.repodata["packages.conda"].as_object().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files["internal-lib-1.0-0.conda"]["sha256"], "mine");
        assert_eq!(m.sources["internal-lib-1.0-0.conda"], 2);
        assert_eq!(m.sources["numpy-2.0-0.conda"], 1);
        assert!(!m.sources.contains_key("internal-lib-99.0-0.conda"));

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
                Member { hosted: *h, repodata: repodata(n, &vs, "x") }
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
