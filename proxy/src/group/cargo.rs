//! cargo groups: one sparse index file merged from the members' index files, in member order.
//!
//! A version comes from the first member that lists it; [`merge`] says which member that is, so
//! the group's download route fetches the `.crate` from the member whose `cksum` the client got.
//! Dependency-confusion rule: when a hosted member has the crate, only hosted members contribute
//! to it (unless the group sets `allow_shadowing`). Lines pass through byte for byte.

use std::collections::HashSet;

use serde::Deserialize;

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
