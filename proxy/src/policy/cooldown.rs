//! The release cooldown: `min_age = "7d"` on a repository or on one upstream hides versions
//! published less than that long ago, except those `min_age_exempt` names.
//!
//! The verdict moves with the clock: a hidden version carries the time it comes of age, so
//! documents filtered once stay valid exactly until then (see [`super::Verdict::until`]).

use std::collections::HashMap;
use std::time::Duration;

use super::{Rule, Verdict};
use crate::config::RepositoryConfig;

/// `min_age` of a repository and its upstreams, with the exemptions.
#[derive(Debug, Clone)]
pub struct Cooldown {
    repository: Option<Duration>,
    upstreams: HashMap<String, Duration>,
    exempt: Vec<Rule>,
}

impl Cooldown {
    /// From a repository's configuration; `exempt` are its parsed `min_age_exempt` rules.
    pub fn new(config: &RepositoryConfig, exempt: Vec<Rule>) -> Cooldown {
        Cooldown {
            repository: config.min_age.filter(|d| !d.is_zero()),
            upstreams: config
                .upstreams
                .iter()
                .filter_map(|u| Some((u.name.clone(), u.min_age?)))
                .collect(),
            exempt,
        }
    }

    /// True when some `min_age` is set.
    pub fn is_on(&self) -> bool {
        self.repository.is_some() || self.upstreams.values().any(|d| !d.is_zero())
    }

    /// The `min_age` for files of `upstream`: its own, else the repository's.
    fn min_age(&self, upstream: Option<&str>) -> Option<Duration> {
        upstream
            .and_then(|u| self.upstreams.get(u).copied())
            .or(self.repository)
            .filter(|d| !d.is_zero())
    }

    /// The verdict on `version` of `name` (normalized) published at `published`, at `now`.
    pub fn judge(
        &self,
        name: &str,
        version: &str,
        published: i64,
        upstream: Option<&str>,
        now: i64,
    ) -> Verdict {
        let Some(min_age) = self.min_age(upstream) else {
            return Verdict::Allow;
        };
        let until = published.saturating_add(min_age.as_secs() as i64);
        if until <= now || self.exempt.iter().any(|r| r.matches(name, version)) {
            return Verdict::Allow;
        }
        Verdict::Young {
            published,
            until,
            min_age,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    #[test]
    fn an_upstream_min_age_overrides_the_repository_one() {
        let config: RepositoryConfig = toml::from_str(
            "kind = \"npm\"\nmin_age = \"7d\"\nmin_age_exempt = [\"fix@1.0.1\"]\n\
             [[upstreams]]\nname = \"internal\"\nurl = \"http://127.0.0.1:1/\"\nmin_age = \"0s\"\n\
             [[upstreams]]\nname = \"public\"\nurl = \"http://127.0.0.1:2/\"\n",
        )
        .unwrap();
        let exempt = vec![Rule::parse(Kind::Npm, "fix@1.0.1").unwrap()];
        let c = Cooldown::new(&config, exempt);
        let now = 1_000_000;
        assert!(c.judge("a", "1", now - 10, Some("internal"), now).allows());
        assert!(!c.judge("a", "1", now - 10, Some("public"), now).allows());
        assert!(!c.judge("a", "1", now - 10, None, now).allows());
        assert!(c.judge("a", "1", now - 8 * 86400, None, now).allows());
        assert!(c.judge("fix", "1.0.1", now - 10, None, now).allows());
        assert!(!c.judge("fix", "1.0.2", now - 10, None, now).allows());
    }
}
