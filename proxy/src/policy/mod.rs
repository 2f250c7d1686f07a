//! Policies: which versions a repository lets clients resolve and download.
//!
//! Three rules decide, in this order, for one (package, version, publication time):
//!
//! - `deny = [...]` ([`deny`]): versions refused outright, in each ecosystem's spelling, and
//!   versions named by an imported malicious-package advisory ([`advisories`]);
//! - a date snapshot ([`snapshot`]): under `/<repo>/@2025-06-01/…` only what was published
//!   before that date exists;
//! - the release cooldown ([`cooldown`]): `min_age = "7d"` hides versions younger than that,
//!   unless `min_age_exempt` names them.
//!
//! Ecosystems call in at two places: when they serve an index document (a PyPI page, an npm
//! packument, a cargo index file, conda repodata, `maven-metadata.xml`) they leave out what
//! [`Policy::judge`] refuses, so resolvers pick another version; when they serve a file they
//! answer 403 with [`refusal`]'s text for a refused version. Verdicts that depend on the clock
//! carry the time they stop holding ([`Verdict::until`]), so a filtered document memoized by an
//! ecosystem is made again when a hidden version comes of age, never on every request.

pub mod advisories;
pub mod cooldown;
pub mod deny;
pub mod documents;
pub mod filter;
pub mod maven;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

use crate::config::{Kind, RepositoryConfig};
use crate::error::Failure;
use crate::repository::{Outcome, Repository, tagged};
pub use deny::Rule;
pub use snapshot::Snapshot;

/// The rules of one repository, with the snapshot date of the request when there is one.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Arc<Rules>,
    snapshot: Option<Snapshot>,
}

#[derive(Debug)]
struct Rules {
    kind: Kind,
    cooldown: cooldown::Cooldown,
    deny: Vec<Rule>,
    malicious: advisories::Malicious,
    /// Identifies the configured rules in memo keys, so that a live reload that changes them
    /// makes every filtered document again.
    fingerprint: u64,
}

/// A digest of the rules `config` sets (`deny`, `min_age`, `min_age_exempt`, the upstreams'
/// `min_age`).
fn fingerprint(config: &RepositoryConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    config.deny.hash(&mut h);
    config.min_age_exempt.hash(&mut h);
    config.min_age.hash(&mut h);
    for u in &config.upstreams {
        (&u.name, u.min_age).hash(&mut h);
    }
    h.finish()
}

/// What a policy says about one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Served.
    Allow,
    /// A `deny` rule matched (the rule as written).
    Denied(String),
    /// An imported malicious-package advisory names it (its id).
    Malicious(String),
    /// Published less than `min_age` ago: hidden until `until` (Unix seconds).
    Young {
        /// Publication time, Unix seconds.
        published: i64,
        /// When it comes of age.
        until: i64,
        /// The `min_age` that applies.
        min_age: Duration,
    },
    /// Published after the snapshot's date.
    Later {
        /// Publication time, Unix seconds.
        published: i64,
        /// The snapshot.
        snapshot: Snapshot,
    },
}

impl Verdict {
    /// True when the version is served.
    pub fn allows(&self) -> bool {
        *self == Verdict::Allow
    }

    /// When this verdict may change with the clock alone (a cooldown ending).
    pub fn until(&self) -> Option<i64> {
        match self {
            Verdict::Young { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// The rule's name in `/-/metrics`.
    pub fn rule(&self) -> &str {
        match self {
            Verdict::Allow => "",
            Verdict::Denied(rule) | Verdict::Malicious(rule) => rule,
            Verdict::Young { .. } => "min_age",
            Verdict::Later { .. } => "snapshot",
        }
    }
}

impl Policy {
    /// The policy of a repository, from its configuration (checked when it was loaded: a rule
    /// that does not parse is ignored here).
    pub fn new(config: &RepositoryConfig) -> Policy {
        let kind = config.kind;
        let parse = |list: &[String]| -> Vec<Rule> {
            list.iter()
                .filter_map(|r| Rule::parse(kind, r).ok())
                .collect()
        };
        Policy {
            rules: Arc::new(Rules {
                kind,
                cooldown: cooldown::Cooldown::new(config, parse(&config.min_age_exempt)),
                deny: parse(&config.deny),
                malicious: advisories::Malicious::default(),
                fingerprint: fingerprint(config),
            }),
            snapshot: None,
        }
    }

    /// The same rules, also refusing the versions the malicious-package advisories of a
    /// [`advisories::Book`] name (as the book has them at each verdict).
    pub fn with_advisories(self, malicious: advisories::Malicious) -> Policy {
        let rules = &self.rules;
        Policy {
            rules: Arc::new(Rules {
                kind: rules.kind,
                cooldown: rules.cooldown.clone(),
                deny: rules.deny.clone(),
                malicious,
                fingerprint: rules.fingerprint,
            }),
            snapshot: self.snapshot,
        }
    }

    /// The same rules, seen through a date snapshot.
    pub fn at(&self, snapshot: Snapshot) -> Policy {
        Policy {
            rules: self.rules.clone(),
            snapshot: Some(snapshot),
        }
    }

    /// The snapshot this policy sees through, if any.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot
    }

    /// True when some rule may refuse something: documents need filtering.
    pub fn is_active(&self) -> bool {
        !self.rules.deny.is_empty() || !self.rules.malicious.is_empty() || self.uses_time()
    }

    /// True when verdicts depend on publication times (a cooldown or a snapshot).
    pub fn uses_time(&self) -> bool {
        self.snapshot.is_some() || self.rules.cooldown.is_on()
    }

    /// What sets filtered documents of this policy apart in memo keys: the snapshot date, the
    /// generation of the advisory list (an import makes every filtered document again) and the
    /// configured rules (so does a reload that changes them).
    pub fn memo_key(&self) -> String {
        let generation = self.rules.malicious.generation();
        let rules = self.rules.fingerprint;
        match self.snapshot {
            Some(s) => format!("@{s}#{generation}~{rules:x}"),
            None => format!("#{generation}~{rules:x}"),
        }
    }

    /// The rule (as written) or the advisory id that refuses every version of `package`, if
    /// any: such a package leaves lists of names (PyPI's root index), not only its versions.
    pub fn refuses_package(&self, package: &str) -> Option<String> {
        let name = deny::normalize(self.rules.kind, package);
        if let Some(rule) = self.rules.deny.iter().find(|r| r.covers_package(&name)) {
            return Some(rule.text().to_owned());
        }
        self.rules.malicious.find_package(&name)
    }

    /// True when [`Policy::refuses_package`] may name something: lists of names need
    /// filtering.
    pub fn refuses_packages(&self) -> bool {
        self.rules.deny.iter().any(Rule::is_package_wide) || !self.rules.malicious.is_empty()
    }

    /// The verdict on `version` of `package` (in any spelling: names are normalized per
    /// ecosystem), published at `published` (Unix seconds; `None` when the upstream gives no
    /// time: then only `deny` can refuse it) and listed by `upstream`, at `now`.
    pub fn judge(
        &self,
        package: &str,
        version: &str,
        published: Option<i64>,
        upstream: Option<&str>,
        now: i64,
    ) -> Verdict {
        let name = deny::normalize(self.rules.kind, package);
        if let Some(rule) = self.rules.deny.iter().find(|r| r.matches(&name, version)) {
            return Verdict::Denied(rule.text().to_owned());
        }
        if let Some(id) = self.rules.malicious.find(&name, version) {
            return Verdict::Malicious(id);
        }
        let Some(published) = published else {
            return Verdict::Allow;
        };
        if let Some(snapshot) = self.snapshot
            && published >= snapshot.cutoff()
        {
            return Verdict::Later {
                published,
                snapshot,
            };
        }
        self.rules
            .cooldown
            .judge(&name, version, published, upstream, now)
    }
}

/// The policy that applies to the request being served: the repository's, seen through the
/// request's snapshot date when it has one.
pub fn current(repo: &Repository) -> Policy {
    match snapshot::current() {
        Some(s) => repo.policy.at(s),
        None => repo.policy.clone(),
    }
}

/// The text of a 403 for `package` `version` refused by `verdict`.
pub fn refusal(repo: &str, package: &str, version: &str, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow => format!("{package} {version} is allowed"),
        Verdict::Denied(rule) => format!(
            "{package} {version} is denied by the rule `{rule}` of repository `{repo}` (deny)"
        ),
        Verdict::Malicious(id) => format!(
            "{package} {version} is malicious according to the advisory {id} (repox advisories import)"
        ),
        Verdict::Young {
            published,
            until,
            min_age,
        } => format!(
            "{package} {version} was published at {}, less than min_age = \"{}\" ago: repository `{repo}` serves it from {} (min_age_exempt lets it through sooner)",
            format_time(*published),
            humantime::format_duration(*min_age),
            format_time(*until),
        ),
        Verdict::Later {
            published,
            snapshot,
        } => format!(
            "{package} {version} was published at {}, after the snapshot date {snapshot}",
            format_time(*published)
        ),
    }
}

/// The 403 answer for a refused version, counted in `/-/metrics`.
pub fn refuse(repo: &Repository, package: &str, version: &str, verdict: &Verdict) -> Response {
    // A date asked through a group is the group's rule, whichever member refuses by it.
    let counted = match verdict {
        Verdict::Later { .. } => snapshot::counted_under(&repo.name),
        _ => repo.name.clone(),
    };
    repo.services
        .metrics
        .policy_refusal(&counted, verdict.rule());
    let text = refusal(&repo.name, package, version, verdict);
    let mut resp = Failure::Refused(text.clone()).into_response();
    if repo.config.kind == Kind::Npm {
        // npm prints a JSON error body's `error` after the status line (npm-registry-fetch).
        let body = serde_json::json!({ "error": text }).to_string();
        *resp.body_mut() = axum::body::Body::from(body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    tagged(resp, Outcome::Blocked, None)
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An RFC 3339 time (`2024-01-02T03:04:05.123456Z`, offsets allowed) in Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(text.trim()).ok())?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(secs)
}

/// Unix seconds as RFC 3339 (`2024-01-02T03:04:05Z`).
pub fn format_time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: Kind, toml: &str) -> RepositoryConfig {
        let text = format!("kind = \"{}\"\n{toml}", kind.as_str());
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn times_parse_in_the_spellings_upstreams_use() {
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_time("1970-01-01T00:01:00.123456Z"), Some(60));
        assert_eq!(parse_time("1970-01-01T00:01:00.123Z"), Some(60));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(60), "1970-01-01T00:01:00Z");
    }

    #[test]
    fn deny_comes_first_then_the_snapshot_then_the_cooldown() {
        let p = Policy::new(&config(
            Kind::Pypi,
            "min_age = \"7d\"\ndeny = [\"Evil_Pkg\", \"requests==2.32.0\"]\nmin_age_exempt = [\"urgent\"]",
        ));
        let now = 100 * 86400;
        let old = Some(now - 30 * 86400);
        let young = Some(now - 3600);
        assert_eq!(
            p.judge("evil-pkg", "1.0", old, None, now),
            Verdict::Denied("Evil_Pkg".into())
        );
        assert!(!p.judge("requests", "2.32.0", old, None, now).allows());
        assert!(p.judge("requests", "2.31.0", old, None, now).allows());
        let v = p.judge("requests", "2.33.0", young, None, now);
        assert_eq!(v.until(), Some(now - 3600 + 7 * 86400));
        assert!(p.judge("Urgent", "1.0", young, None, now).allows());
        assert!(p.judge("requests", "2.33.0", None, None, now).allows());
        let snap = p.at("1970-03-01".parse().unwrap());
        assert!(snap.memo_key().starts_with("@1970-03-01#0~"));
        let other = Policy::new(&config(
            Kind::Pypi,
            "min_age = \"7d\"\ndeny = [\"Evil_Pkg\"]",
        ));
        assert_ne!(
            p.memo_key(),
            other.memo_key(),
            "a reload that changes the rules makes filtered documents again"
        );
        assert_eq!(p.memo_key(), p.clone().memo_key());
        assert!(matches!(
            snap.judge("requests", "2.0", old, None, now),
            Verdict::Later { .. }
        ));
        assert!(snap.judge("requests", "1.0", Some(0), None, now).allows());
    }

    #[test]
    fn refusals_name_the_version_and_the_time() {
        let v = Verdict::Young {
            published: 60,
            until: 120,
            min_age: Duration::from_secs(60),
        };
        let text = refusal("pypi", "lib", "1.0", &v);
        assert!(text.contains("lib 1.0"), "{text}");
        assert!(text.contains("1970-01-01T00:01:00Z"), "{text}");
        assert!(text.contains("1970-01-01T00:02:00Z"), "{text}");
        let text = refusal("npm", "x", "3.3.6", &Verdict::Denied("x@3.3.6".into()));
        assert!(text.contains("`x@3.3.6`"), "{text}");
    }
}
