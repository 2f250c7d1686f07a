//! OSV advisories imported with `repox advisories import FILE` (the zip of one ecosystem's
//! advisories, e.g. `https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip`).
//!
//! The import keeps, per advisory, the package, the versions it names and whether it is a
//! malicious-package report (an `MAL-` id, or an alias of one). Malicious versions are refused
//! by every repository of the ecosystem like a `deny` rule (a `MAL-` report with a range that
//! starts at `0` and never ends covers every version); the others are listed at
//! `GET /-/api/advisories` for the UI. The list lives in the cache directory
//! (`advisories-v1/advisories.json`, written atomically); a later import adds to it (an
//! advisory with the same id is replaced).
//!
//! A running server holds the list in a [`Book`]: read at start-up, then read again whenever the
//! file is replaced (a `notify` watch on its directory, as the live configuration watches the
//! config file), so an import takes effect without a restart. The import writes by rename, so
//! the server never reads half a file; a file that does not parse leaves the list in force.
//! Policies look malicious versions up through the book at each verdict, and a new list bumps
//! its generation, which is part of the memo key of every filtered document
//! ([`super::Policy::memo_key`]): nothing filtered under the old list is served again.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode, Watcher};
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
        Advisories::read(cache_dir).unwrap_or_default()
    }

    /// The list stored in `cache_dir`: empty when there is none, `None` when it cannot be read
    /// or parsed (logged).
    fn read(cache_dir: &Path) -> Option<Advisories> {
        let path = cache_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text)
                .map_err(|e| {
                    tracing::warn!(
                        "ignoring `{}`: {e}; run `repox advisories import` again",
                        path.display()
                    );
                })
                .ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Advisories::default()),
            Err(e) => {
                tracing::warn!("cannot read `{}`: {e}", path.display());
                None
            }
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

    /// Malicious-package advisories by repository kind, then normalized package name.
    fn index(&self) -> Vec<(Kind, HashMap<String, Vec<Advisory>>)> {
        let mut out: Vec<(Kind, HashMap<String, Vec<Advisory>>)> = Vec::new();
        for a in self.advisories.iter().filter(|a| a.malicious) {
            let Some(kind) = a.kind() else { continue };
            let at = match out.iter().position(|(k, _)| *k == kind) {
                Some(i) => i,
                None => {
                    out.push((kind, HashMap::new()));
                    out.len() - 1
                }
            };
            out[at]
                .1
                .entry(normalize(kind, &a.package))
                .or_default()
                .push(a.clone());
        }
        out
    }
}

/// One list as a server holds it, indexed for verdicts.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The list as imported.
    pub list: Advisories,
    malicious: Vec<(Kind, HashMap<String, Vec<Advisory>>)>,
    /// Counts the lists this server has held: part of filtered documents' memo keys.
    pub generation: u64,
}

impl Loaded {
    fn new(list: Advisories, generation: u64) -> Loaded {
        Loaded {
            malicious: list.index(),
            list,
            generation,
        }
    }

    fn of(&self, kind: Kind) -> Option<&HashMap<String, Vec<Advisory>>> {
        self.malicious
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, m)| m)
    }
}

/// The advisories a server holds: the list in `advisories-v1/advisories.json`, read again when
/// an import replaces the file. Cloning shares it; a default book is empty and watches nothing.
#[derive(Clone, Default)]
pub struct Book {
    current: Arc<ArcSwap<Loaded>>,
    /// Kept for as long as the book lives; dropping it ends the watch.
    _watch: Option<Arc<Mutex<notify::RecommendedWatcher>>>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current.load();
        f.debug_struct("Book")
            .field("advisories", &current.list.advisories.len())
            .field("generation", &current.generation)
            .finish()
    }
}

impl Book {
    /// The list stored in `cache_dir`, kept current while the book lives: the file's directory
    /// is watched (and made if missing, so that the first import is seen too).
    pub fn open(cache_dir: &Path) -> Book {
        let current = Arc::new(ArcSwap::from_pointee(Loaded::new(
            Advisories::load(cache_dir),
            0,
        )));
        let watch = watch(cache_dir, current.clone()).map(|w| Arc::new(Mutex::new(w)));
        Book {
            current,
            _watch: watch,
        }
    }

    /// A book holding `list`, watching nothing (tests, servers without a cache directory).
    pub fn of(list: Advisories) -> Book {
        Book {
            current: Arc::new(ArcSwap::from_pointee(Loaded::new(list, 0))),
            _watch: None,
        }
    }

    /// The list in force.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// The malicious-package advisories of `kind`'s ecosystem, as they are at each verdict.
    pub fn malicious(&self, kind: Kind) -> Malicious {
        Malicious {
            book: self.clone(),
            kind: Some(kind),
        }
    }
}

/// Reads the list again when `cache_dir`'s advisory file changes; `None` (logged) when the
/// directory cannot be watched.
fn watch(cache_dir: &Path, current: Arc<ArcSwap<Loaded>>) -> Option<notify::RecommendedWatcher> {
    let path = cache_dir.join(FILE);
    let dir = path.parent()?.to_owned();
    let name = path.file_name()?.to_owned();
    let cache_dir = cache_dir.to_owned();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_))
            || !event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            return;
        }
        let Some(list) = Advisories::read(&cache_dir) else {
            return;
        };
        let old = current.load();
        if old.list.advisories == list.advisories {
            return;
        }
        let loaded = Loaded::new(list, old.generation + 1);
        tracing::info!(
            "advisories: {} entries in force ({} malicious) from {}",
            loaded.list.advisories.len(),
            loaded
                .list
                .advisories
                .iter()
                .filter(|a| a.malicious)
                .count(),
            cache_dir.join(FILE).display()
        );
        current.store(Arc::new(loaded));
    };
    let started = std::fs::create_dir_all(&dir)
        .map_err(notify::Error::io)
        .and_then(|()| notify::recommended_watcher(handler))
        .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w));
    match started {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch {} for imported advisories: {e}; restart repox after `repox advisories import`",
                dir.display()
            );
            None
        }
    }
}

/// The malicious-package advisories of one ecosystem in a [`Book`], for a repository's policy.
#[derive(Debug, Clone, Default)]
pub struct Malicious {
    book: Book,
    kind: Option<Kind>,
}

impl Malicious {
    /// True when no advisory of this ecosystem refuses anything now.
    pub fn is_empty(&self) -> bool {
        let current = self.book.current.load();
        self.kind
            .and_then(|k| current.of(k))
            .is_none_or(|m| m.is_empty())
    }

    /// The id of an advisory that covers `version` of `name` (normalized for the kind).
    pub fn find(&self, name: &str, version: &str) -> Option<String> {
        self.first_of(name, |a, kind| a.covers(kind, name, version))
    }

    /// The id of an advisory that covers every version of `name` (normalized for the kind).
    pub fn find_package(&self, name: &str) -> Option<String> {
        self.first_of(name, |a, _| a.all_versions)
    }

    /// The id of the first advisory of `name` in force that `which` picks.
    fn first_of(&self, name: &str, which: impl Fn(&Advisory, Kind) -> bool) -> Option<String> {
        let kind = self.kind?;
        let current = self.book.current.load();
        current
            .of(kind)?
            .get(name)?
            .iter()
            .find(|a| which(a, kind))
            .map(|a| a.id.clone())
    }

    /// The generation of the list in force.
    pub fn generation(&self) -> u64 {
        self.book.current.load().generation
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
        let book = Book::of(a.clone());
        let mal = book.malicious(Kind::Pypi);
        assert_eq!(mal.find("evil-pkg", "9.9").as_deref(), Some("MAL-2024-1"));
        assert_eq!(mal.find("requests", "2.31.0"), None, "not malicious");
        assert!(!mal.is_empty());
        assert!(book.malicious(Kind::Npm).is_empty());
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

    #[test]
    fn a_book_takes_a_new_import_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let book = Book::open(dir.path());
        let npm = book.malicious(Kind::Npm);
        assert!(npm.is_empty());
        assert_eq!(npm.generation(), 0);
        let list = Advisories {
            advisories: vec![Advisory {
                id: "MAL-1".into(),
                ecosystem: "npm".into(),
                package: "evil".into(),
                summary: String::new(),
                malicious: true,
                versions: vec!["1.0.0".into()],
                all_versions: false,
            }],
        };
        list.save(dir.path()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while npm.find("evil", "1.0.0").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the import was not seen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(npm.generation() >= 1);
        assert_eq!(book.current().list.advisories, list.advisories);
        // A file that does not parse leaves the list in force.
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(npm.find("evil", "1.0.0").as_deref(), Some("MAL-1"));
    }
}
