//! Package rules in each ecosystem's own spelling, for `deny` and `min_age_exempt`.
//!
//! | ecosystem | a version | every version |
//! |---|---|---|
//! | PyPI | `requests==2.32.0` | `requests` |
//! | npm | `event-stream@3.3.6`, `@scope/name@1.0.0` | `event-stream` |
//! | Maven | `org.example:lib:1.0` | `org.example:lib` |
//! | conda | `name==1.0`, `name=1.0` | `name` |
//! | cargo | `name@1.0.0` | `name` |
//!
//! The name may be a glob (`evil-*`, `@evil/*`), and so may the version (`1.2.*`). Names are
//! compared the way the ecosystem compares them: PyPI's PEP 503 normalization, cargo's
//! `-`/`_` equivalence and case-insensitivity, lowercase for conda; npm and Maven as written.

use globset::{Glob, GlobMatcher};

use crate::config::Kind;

/// One rule: a package name (or glob) and optionally a version (or glob).
#[derive(Debug, Clone)]
pub struct Rule {
    text: String,
    name: GlobMatcher,
    version: Option<GlobMatcher>,
}

impl Rule {
    /// Parses `text` in `kind`'s spelling; the error says what is wrong.
    pub fn parse(kind: Kind, text: &str) -> Result<Rule, String> {
        let t = text.trim();
        let (name, version) = split(kind, t);
        if name.is_empty() || version.is_some_and(str::is_empty) {
            return Err(format!(
                "`{text}` names no package; write {}",
                example(kind)
            ));
        }
        let glob = |s: &str| {
            Glob::new(s)
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("`{text}`: bad glob `{s}`: {e}"))
        };
        Ok(Rule {
            text: t.to_owned(),
            name: glob(&normalize(kind, name))?,
            version: version.map(glob).transpose()?,
        })
    }

    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the rule covers `version` of `name` (`name` already normalized).
    pub fn matches(&self, name: &str, version: &str) -> bool {
        self.name.is_match(name) && self.version.as_ref().is_none_or(|v| v.is_match(version))
    }

    /// True when the rule names no version: it refuses whole packages.
    pub fn is_package_wide(&self) -> bool {
        self.version.is_none()
    }

    /// True when the rule covers every version of `name` (`name` already normalized).
    pub fn covers_package(&self, name: &str) -> bool {
        self.version.is_none() && self.name.is_match(name)
    }
}

/// How to write a rule of `kind`, for error messages.
pub fn example(kind: Kind) -> &'static str {
    match kind {
        Kind::Pypi => "`name` or `name==1.2.3`",
        Kind::Npm => "`name`, `name@1.2.3` or `@scope/name@1.2.3`",
        Kind::Maven => "`group:artifact` or `group:artifact:1.2.3`",
        Kind::Conda => "`name`, `name==1.2.3` or `name=1.2.3`",
        Kind::Cargo => "`name` or `name@1.2.3`",
    }
}

/// (name, version) of a rule's text.
fn split(kind: Kind, t: &str) -> (&str, Option<&str>) {
    match kind {
        Kind::Pypi => match t.split_once("==") {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (t, None),
        },
        Kind::Conda => match t.split_once("==").or_else(|| t.split_once('=')) {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (t, None),
        },
        // The scope's `@` is the first character; the version's is the last `@` after it.
        Kind::Npm | Kind::Cargo => match t.rfind('@') {
            Some(i) if i > 0 => (&t[..i], Some(&t[i + 1..])),
            _ => (t, None),
        },
        Kind::Maven => {
            let parts: Vec<&str> = t.split(':').collect();
            match parts[..] {
                [g, a, v] => (&t[..g.len() + 1 + a.len()], Some(v)),
                [_, _] => (t, None),
                _ => ("", None),
            }
        }
    }
}

/// A package name as `kind` compares names.
pub fn normalize(kind: Kind, name: &str) -> String {
    match kind {
        // PEP 503: runs of `-`, `_`, `.` are one `-`, lowercase.
        Kind::Pypi => {
            let mut out = String::with_capacity(name.len());
            let mut sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    sep = true;
                    continue;
                }
                if sep && !out.is_empty() {
                    out.push('-');
                }
                sep = false;
                out.push(c.to_ascii_lowercase());
            }
            out
        }
        Kind::Cargo => name.to_ascii_lowercase().replace('_', "-"),
        Kind::Conda => name.to_ascii_lowercase(),
        Kind::Npm | Kind::Maven => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: Kind, t: &str) -> Rule {
        Rule::parse(kind, t).unwrap()
    }

    #[test]
    fn each_ecosystem_spells_versions_its_way() {
        let r = rule(Kind::Pypi, "Requests==2.32.0");
        assert!(r.matches(&normalize(Kind::Pypi, "requests"), "2.32.0"));
        assert!(!r.matches("requests", "2.31.0"));
        assert!(rule(Kind::Pypi, "zope.interface").matches("zope-interface", "6.0"));
        let r = rule(Kind::Npm, "event-stream@3.3.6");
        assert!(r.matches("event-stream", "3.3.6") && !r.matches("event-stream", "3.3.5"));
        let r = rule(Kind::Npm, "@evil/*");
        assert!(r.matches("@evil/pkg", "1.0.0") && !r.matches("@good/pkg", "1.0.0"));
        assert!(rule(Kind::Npm, "@s/p@1.0.0").matches("@s/p", "1.0.0"));
        let r = rule(Kind::Maven, "org.ex:lib:1.0");
        assert!(r.matches("org.ex:lib", "1.0") && !r.matches("org.ex:lib", "1.1"));
        assert!(rule(Kind::Maven, "org.ex:*").matches("org.ex:other", "2"));
        assert!(rule(Kind::Conda, "numpy=1.26.0").matches("numpy", "1.26.0"));
        assert!(rule(Kind::Conda, "NumPy==1.26.0").matches("numpy", "1.26.0"));
        let r = rule(Kind::Cargo, "Serde_Json@1.0.0");
        assert!(r.matches(&normalize(Kind::Cargo, "serde-json"), "1.0.0"));
        let r = rule(Kind::Pypi, "evil-*");
        assert!(r.matches("evil-pkg", "1") && r.covers_package("evil-pkg"));
        assert!(rule(Kind::Pypi, "lib==1.*").matches("lib", "1.4"));
    }

    #[test]
    fn bad_rules_say_how_to_write_one() {
        let e = Rule::parse(Kind::Pypi, "==1.0").unwrap_err();
        assert!(e.contains("name==1.2.3"), "{e}");
        assert!(Rule::parse(Kind::Maven, "justone").is_err());
        assert!(Rule::parse(Kind::Npm, "a[@1").is_err());
    }
}
