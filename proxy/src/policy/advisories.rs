//! OSV advisories imported with `repox advisories import FILE` (the zip of one ecosystem's
//! advisories, e.g. `https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip`).
//!
//! The import keeps, per advisory, the package, the versions it names and whether it is a
//! malicious-package report (an `MAL-` id, or an alias of one). Malicious versions are refused
//! by every repository of the ecosystem like a `deny` rule (a `MAL-` report with a range that
//! starts at `0` and never ends covers every version); the others are listed at
//! `GET /-/api/advisories` for the UI. The list lives in the cache directory
//! (`advisories-v1/advisories.json`, written atomically); a server reads it when it starts, and
//! a later import adds to it (an advisory with the same id is replaced).

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::deny::normalize;
use crate::config::Kind;

/// Where the imported list lives, below the cache directory.
pub const FILE: &str = "advisories-v1/advisories.json";

/// One advisory about one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// OSV id (`MAL-2024-1234`, `GHSA-…`, `PYSEC-…`).
    pub id: String,
    /// OSV ecosystem (`PyPI`, `npm`, `Maven`, `crates.io`).
    pub ecosystem: String,
    /// The package, as OSV names it (Maven: `group:artifact`).
    pub package: String,
    /// OSV `summary`.
    #[serde(default)]
    pub summary: String,
    /// A malicious-package report: its versions are refused.
    pub malicious: bool,
    /// The versions it lists.
    #[serde(default)]
    pub versions: Vec<String>,
    /// A range covers every version (introduced `0`, never fixed).
    #[serde(default)]
    pub all_versions: bool,
}

impl Advisory {
    /// The repository kind of its ecosystem.
    pub fn kind(&self) -> Option<Kind> {
        match self.ecosystem.as_str() {
            "PyPI" => Some(Kind::Pypi),
            "npm" => Some(Kind::Npm),
            "Maven" => Some(Kind::Maven),
            "crates.io" => Some(Kind::Cargo),
            _ => None,
        }
    }

    /// True when it covers `version` of `name` (normalized for its kind).
    pub fn covers(&self, kind: Kind, name: &str, version: &str) -> bool {
        normalize(kind, &self.package) == name
            && (self.all_versions || self.versions.iter().any(|v| v == version))
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a readable zip.
    #[error("`{}` is not an OSV zip export: {source}", path.display())]
    Zip {
        /// The file.
        path: PathBuf,
        /// Why.
        source: zip::result::ZipError,
    },
    /// The file or the cache directory cannot be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The imported advisories.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Advisories {
    /// By id, then package.
    pub advisories: Vec<Advisory>,
}

#[derive(Deserialize)]
struct Osv {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    affected: Vec<Affected>,
}

#[derive(Deserialize)]
struct Affected {
    package: Option<OsvPackage>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    ranges: Vec<Range>,
}

#[derive(Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

impl Advisories {
    /// Reads an OSV zip export (one JSON advisory per member; members that are not advisories
    /// are skipped and counted in the second value).
    pub fn from_zip(
        reader: impl Read + Seek,
        path: &Path,
    ) -> Result<(Advisories, usize), ImportError> {
        let zip_err = |source| ImportError::Zip {
            path: path.to_owned(),
            source,
        };
        let mut archive = zip::ZipArchive::new(reader).map_err(zip_err)?;
        let mut out = Advisories::default();
        let mut skipped = 0;
        for i in 0..archive.len() {
            let mut member = archive.by_index(i).map_err(zip_err)?;
            if !member.is_file() || !member.name().is_ok_and(|n| n.ends_with(".json")) {
                continue;
            }
            let mut text = Vec::new();
            if member.read_to_end(&mut text).is_err() {
                skipped += 1;
                continue;
            }
            match serde_json::from_slice::<Osv>(&text) {
                Ok(osv) => out.add(osv),
                Err(_) => skipped += 1,
            }
        }
        out.sort();
        Ok((out, skipped))
    }

    fn add(&mut self, osv: Osv) {
        let malicious =
            osv.id.starts_with("MAL-") || osv.aliases.iter().any(|a| a.starts_with("MAL-"));
        for a in osv.affected {
            let Some(package) = a.package else { continue };
            let all_versions = a.ranges.iter().any(|r| {
                r.events
                    .iter()
                    .any(|e| e.get("introduced").is_some_and(|v| v == "0"))
                    && !r
                        .events
                        .iter()
                        .any(|e| e.contains_key("fixed") || e.contains_key("last_affected"))
            });
            self.advisories.push(Advisory {
                id: osv.id.clone(),
                ecosystem: package.ecosystem,
                package: package.name,
                summary: osv.summary.clone(),
                malicious,
                versions: a.versions,
                all_versions,
            });
        }
    }

    fn sort(&mut self) {
        self.advisories
            .sort_by(|a, b| (&a.id, &a.package).cmp(&(&b.id, &b.package)));
    }

    /// `newer` laid over these: advisories of the same id are replaced.
    pub fn merge(&mut self, newer: Advisories) {
        let ids: std::collections::HashSet<&str> =
            newer.advisories.iter().map(|a| a.id.as_str()).collect();
        self.advisories.retain(|a| !ids.contains(a.id.as_str()));
        self.advisories.extend(newer.advisories);
        self.sort();
    }

    /// The list stored in `cache_dir`; empty when there is none or it cannot be read (logged).
    pub fn load(cache_dir: &Path) -> Advisories {
        let path = cache_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text).unwrap_or_else(|e| {
                tracing::warn!(
                    "ignoring `{}`: {e}; run `repox advisories import` again",
                    path.display()
                );
                Advisories::default()
            }),
            Err(_) => Advisories::default(),
        }
    }

    /// Writes the list into `cache_dir` atomically.
    pub fn save(&self, cache_dir: &Path) -> Result<PathBuf, ImportError> {
        let path = cache_dir.join(FILE);
        let io = |source| ImportError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().unwrap_or(cache_dir);
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        serde_json::to_writer(&mut tmp, self).map_err(|e| io(e.into()))?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(path)
    }

    /// The malicious-package advisories of `kind`'s ecosystem.
    pub fn malicious(&self, kind: Kind) -> Vec<Advisory> {
        self.advisories
            .iter()
            .filter(|a| a.malicious && a.kind() == Some(kind))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A zip of `(name, json)` members.
    pub fn osv_zip(members: &[(&str, serde_json::Value)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, doc) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(doc.to_string().as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn malicious_reports_are_told_from_the_others() {
        let zip = osv_zip(&[
            (
                "MAL-2024-1.json",
                serde_json::json!({"id": "MAL-2024-1", "summary": "Malicious code in evil-pkg",
                    "affected": [{"package": {"ecosystem": "PyPI", "name": "Evil_Pkg"},
                                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}),
            ),
            (
                "GHSA-x.json",
                serde_json::json!({"id": "GHSA-x", "aliases": ["CVE-1"],
                    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                                  "versions": ["2.31.0"],
                                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}]}]}),
            ),
            ("README.txt", serde_json::json!("not an advisory")),
            ("broken.json", serde_json::json!({"no": "id"})),
        ]);
        let (a, skipped) =
            Advisories::from_zip(std::io::Cursor::new(zip), Path::new("all.zip")).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(a.advisories.len(), 2);
        let mal = a.malicious(Kind::Pypi);
        assert_eq!(mal.len(), 1);
        assert!(mal[0].covers(Kind::Pypi, "evil-pkg", "9.9"));
        assert!(a.malicious(Kind::Npm).is_empty());
        let ghsa = a.advisories.iter().find(|x| x.id == "GHSA-x").unwrap();
        assert!(!ghsa.malicious && !ghsa.all_versions);

        let dir = tempfile::tempdir().unwrap();
        a.save(dir.path()).unwrap();
        let mut back = Advisories::load(dir.path());
        assert_eq!(back.advisories, a.advisories);
        back.merge(a.clone());
        assert_eq!(back.advisories.len(), 2, "same ids are replaced");
        let err = Advisories::from_zip(std::io::Cursor::new(b"nope".to_vec()), Path::new("x.zip"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`x.zip` is not an OSV zip export"), "{err}");
    }
}
