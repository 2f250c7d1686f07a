//! The plan a warm input becomes: what to fetch ([`Want`]), what narrows a resolver
//! (constraints, indexes, pip options) and what will not be fetched ([`Skipped`]), each with the
//! file and line it came from. This is the contract between the parsers and the fetch engine.
//!
//! How each item is meant to be fetched (none of it happens here):
//! - [`PypiRequirement`]: resolve against [`Plan::indexes`] (or its own `index`) with
//!   [`Plan::constraints`] and [`Plan::pip`]; with hashes, only files with a listed digest.
//! - [`PypiFile`]: `url` when set; otherwise find `filename` on `{index}/{project}/` (PyPI when
//!   `index` is `None`). Warm the project page too, so offline installs get past the index.
//! - [`CondaPackage`]: `url`; warm `{channel}/{subdir}/repodata.json` (and `noarch`) too.
//! - [`NpmTarball`]: `tarball`, or `{registry}/{name}/-/{unscoped name}-{version}.tgz`; warm the
//!   packument `{registry}/{name}` too.
//! - [`Crate`]: `{dl}/{name}/{version}/download` of its registry (crates.io when `None`), plus
//!   the index entry.
//! - [`MavenArtifact`]: [`MavenArtifact::repository_path`] in each repository, plus the `.pom`
//!   and checksums next to it.
//!
//! Every digest in `hashes`/`checksum` should be checked before the bytes are admitted.

use std::fmt;
use std::path::{Path, PathBuf};

use pep508_rs::PackageName;
use url::Url;

use super::Hash;

/// Everything one or more input files ask to have in the cache.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// What to fetch, in file order.
    pub items: Vec<Want>,
    /// pip constraints (`-c` files): they narrow what the resolver may pick for
    /// [`Want::PypiRequirement`] items but are never fetched on their own.
    pub constraints: Vec<PypiRequirement>,
    /// Python package indexes the files name (`--index-url`, lock-file sources), in file order.
    pub indexes: Vec<Index>,
    /// pip resolution options from requirements files (`--pre`, `--only-binary`, …).
    pub pip: PipOptions,
    /// Entries that will not be fetched, with where and why; the command should print them.
    pub skipped: Vec<Skipped>,
}

/// One thing to put in the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    PypiRequirement(PypiRequirement),
    PypiFile(PypiFile),
    CondaPackage(CondaPackage),
    NpmTarball(NpmTarball),
    Crate(Crate),
    MavenArtifact(MavenArtifact),
}

/// A PEP 508 requirement that is not pinned to a file: a resolver must pick the version (when
/// the specifier is not `==`) and the files (always). With `hashes`, only files whose digest is
/// listed may be picked (pip's hash-checking mode; Pipfile.lock pins this way).
#[derive(Debug, Clone, PartialEq)]
pub struct PypiRequirement {
    /// Name, extras, specifiers and markers. Never a URL in `items` (URL requirements become
    /// [`PypiFile`]); may be one in [`Plan::constraints`].
    pub requirement: pep508_rs::Requirement<Url>,
    pub hashes: Vec<Hash>,
    /// The index this requirement must come from; `None` means the plan's indexes (or PyPI).
    pub index: Option<Url>,
    pub origin: Origin,
}

/// One Python distribution file (wheel or sdist) pinned by name.
#[derive(Debug, Clone, PartialEq)]
pub struct PypiFile {
    /// Normalized project name; `None` when only a URL was given and its file name follows
    /// neither wheel nor sdist naming.
    pub project: Option<PackageName>,
    /// Version as written by the lock (or parsed from the file name); `None` when unknown.
    pub version: Option<String>,
    /// The distribution's file name, e.g. `anyio-4.13.0-py3-none-any.whl`.
    pub filename: String,
    /// Where to download it, when the input says (without any `#fragment`). When `None`, find
    /// `filename` on the project's page of `index` (poetry.lock, pdm.lock).
    pub url: Option<Url>,
    /// Expected digests; empty when the input has none.
    pub hashes: Vec<Hash>,
    /// The index the file belongs to; `None` means the default index (PyPI).
    pub index: Option<Url>,
    pub origin: Origin,
}

/// One conda package archive (`.conda` or `.tar.bz2`) at an exact URL.
#[derive(Debug, Clone, PartialEq)]
pub struct CondaPackage {
    /// Full URL of the archive: `{channel}/{subdir}/{filename}`.
    pub url: Url,
    /// The channel URL, e.g. `https://conda.anaconda.org/conda-forge` (no trailing slash).
    pub channel: Url,
    /// Platform directory: `linux-64`, `noarch`, …; warm its `repodata.json` too.
    pub subdir: String,
    pub filename: String,
    pub hashes: Vec<Hash>,
    pub origin: Origin,
}

/// One npm package tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct NpmTarball {
    /// Real package name (aliases resolved), scoped names included: `@babel/core`.
    pub name: String,
    pub version: String,
    /// The lock's `resolved` URL (without `#fragment`); `None` when the lock omits it, in which
    /// case the tarball is `{registry}/{name}/-/{unscoped name}-{version}.tgz`.
    pub tarball: Option<Url>,
    /// From `integrity` (SRI) and yarn's `#sha1` URL suffix.
    pub hashes: Vec<Hash>,
    pub origin: Origin,
}

/// One crate from a Cargo registry (`{dl}/{name}/{version}/download`).
#[derive(Debug, Clone, PartialEq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// sha256 of the `.crate` file, from `checksum`.
    pub checksum: Option<Hash>,
    /// `None` for crates.io (either index protocol); otherwise the `sparse+https://…` source.
    pub registry: Option<String>,
    pub origin: Origin,
}

/// One file in a Maven 2 repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MavenArtifact {
    pub group: String,
    pub artifact: String,
    pub version: String,
    pub classifier: Option<String>,
    /// File extension: `jar`, `pom`, `war`, …
    pub extension: String,
    pub origin: Origin,
}

impl MavenArtifact {
    /// Path inside a Maven 2 repository:
    /// `{group/with/slashes}/{artifact}/{version}/{artifact}-{version}[-{classifier}].{ext}`.
    pub fn repository_path(&self) -> String {
        let classifier = self
            .classifier
            .as_ref()
            .map(|c| format!("-{c}"))
            .unwrap_or_default();
        format!(
            "{}/{a}/{v}/{a}-{v}{classifier}.{}",
            self.group.replace('.', "/"),
            self.extension,
            a = self.artifact,
            v = self.version,
        )
    }
}

/// A package index named by an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub url: Url,
    pub role: IndexRole,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexRole {
    /// pip `--index-url`/`-i`: replaces PyPI (the last one wins, as in pip).
    Primary,
    /// pip `--extra-index-url`: searched in addition.
    Extra,
    /// pip `--find-links`: an HTML page of links.
    FindLinks,
    /// Named by a lock file (uv, poetry, Pipfile, pylock, pixi); items that need it carry it in
    /// their own `index` field.
    Source,
}

/// pip options that change what a resolver picks, from requirements files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipOptions {
    pub no_index: bool,
    pub pre: bool,
    pub prefer_binary: bool,
    /// `--require-hashes` (any `--hash` implies it too).
    pub require_hashes: bool,
    /// Values of `--only-binary`, `--no-binary`, `--all-releases`, `--only-final` in order:
    /// project names or `:all:`/`:none:`.
    pub only_binary: Vec<String>,
    pub no_binary: Vec<String>,
    pub all_releases: Vec<String>,
    pub only_final: Vec<String>,
}

/// Where an item came from: the file (as given, or joined onto the including file's directory)
/// and the 1-based line, when the format lets us know it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub path: PathBuf,
    pub line: Option<u32>,
}

impl Origin {
    pub fn new(path: &Path, line: Option<u32>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// An entry warm will not fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry as the user would recognise it: the line, or `name version`.
    pub what: String,
    pub origin: Origin,
    /// Why, and what to do about it, in one line.
    pub why: String,
    pub kind: SkipKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// Valid input that warm does not fetch by design: editable installs, VCS checkouts, local
    /// paths, versions that need a resolver.
    Unsupported,
    /// Input warm could not understand; the file should be fixed.
    Invalid,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.what, self.why)
    }
}

/// Skip reasons shared by the parsers.
pub(super) const LOCAL_FILE: &str = "local file: already on disk, nothing to fetch";
pub(super) const LOCAL_SOURCE: &str =
    "local source (path, directory or editable): nothing to fetch";
pub(super) const VCS_CHECKOUT: &str = "VCS checkout: warm does not cache git/hg/svn sources";

impl Plan {
    /// Append `other`'s entries after this plan's (for `repox warm A B`).
    pub fn merge(&mut self, other: Plan) {
        self.items.extend(other.items);
        self.constraints.extend(other.constraints);
        self.indexes.extend(other.indexes);
        self.skipped.extend(other.skipped);
        let (pip, o) = (&mut self.pip, other.pip);
        pip.no_index |= o.no_index;
        pip.pre |= o.pre;
        pip.prefer_binary |= o.prefer_binary;
        pip.require_hashes |= o.require_hashes;
        pip.only_binary.extend(o.only_binary);
        pip.no_binary.extend(o.no_binary);
        pip.all_releases.extend(o.all_releases);
        pip.only_final.extend(o.only_final);
    }

    /// Drop items that name the same file as an earlier one (a noarch conda package listed once
    /// per platform, a crate in two lock files), and repeated indexes. Requirements are kept:
    /// two requirements on one project both constrain the resolver.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.items.retain(|item| match item.file_key() {
            Some(key) => seen.insert(key),
            None => true,
        });
        let mut seen = std::collections::HashSet::new();
        self.indexes
            .retain(|index| seen.insert((index.url.clone(), index.role as u8)));
    }

    pub(super) fn skip(
        &mut self,
        what: impl Into<String>,
        origin: Origin,
        kind: SkipKind,
        why: impl Into<String>,
    ) {
        self.skipped.push(Skipped {
            what: what.into(),
            origin,
            why: why.into(),
            kind,
        });
    }

    pub(super) fn add_index(&mut self, url: Url, role: IndexRole, origin: Origin) {
        self.indexes.push(Index { url, role, origin });
    }
}

impl Want {
    pub fn origin(&self) -> &Origin {
        match self {
            Want::PypiRequirement(w) => &w.origin,
            Want::PypiFile(w) => &w.origin,
            Want::CondaPackage(w) => &w.origin,
            Want::NpmTarball(w) => &w.origin,
            Want::Crate(w) => &w.origin,
            Want::MavenArtifact(w) => &w.origin,
        }
    }

    /// What makes two items the same file; `None` for requirements.
    fn file_key(&self) -> Option<String> {
        match self {
            Want::PypiRequirement(_) => None,
            Want::PypiFile(w) => Some(match (&w.url, &w.index) {
                (Some(url), _) => format!("pypi {url}"),
                (None, Some(index)) => format!("pypi {index} {}", w.filename),
                (None, None) => format!("pypi {}", w.filename),
            }),
            Want::CondaPackage(w) => Some(format!("conda {}", w.url)),
            Want::NpmTarball(w) => Some(match &w.tarball {
                Some(url) => format!("npm {url}"),
                None => format!("npm {}@{}", w.name, w.version),
            }),
            Want::Crate(w) => Some(format!(
                "crate {} {} {}",
                w.registry.as_deref().unwrap_or("crates.io"),
                w.name,
                w.version
            )),
            Want::MavenArtifact(w) => Some(format!("maven {}", w.repository_path())),
        }
    }
}

/// One line per item, for `--dry-run` listings and tests:
/// `<kind> <identity> <where from> <hashes>`.
impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn hashes(f: &mut fmt::Formatter<'_>, hashes: &[Hash]) -> fmt::Result {
            hashes.iter().try_for_each(|h| write!(f, " {h}"))
        }
        match self {
            Want::PypiRequirement(w) => {
                write!(f, "pypi-requirement {}", w.requirement)?;
                if let Some(index) = &w.index {
                    write!(f, " index={}", redacted(index))?;
                }
                hashes(f, &w.hashes)
            }
            Want::PypiFile(w) => {
                let project = w.project.as_ref().map_or("?", |p| p.as_ref());
                let version = w.version.as_deref().unwrap_or("?");
                write!(f, "pypi-file {project} {version} {}", w.filename)?;
                if let Some(url) = &w.url {
                    write!(f, " url={}", redacted(url))?;
                }
                if let Some(index) = &w.index {
                    write!(f, " index={}", redacted(index))?;
                }
                hashes(f, &w.hashes)
            }
            Want::CondaPackage(w) => {
                write!(
                    f,
                    "conda {} {} {}",
                    redacted(&w.channel),
                    w.subdir,
                    w.filename
                )?;
                hashes(f, &w.hashes)
            }
            Want::NpmTarball(w) => {
                write!(f, "npm {}@{}", w.name, w.version)?;
                if let Some(url) = &w.tarball {
                    write!(f, " {}", redacted(url))?;
                }
                hashes(f, &w.hashes)
            }
            Want::Crate(w) => {
                write!(f, "crate {} {}", w.name, w.version)?;
                if let Some(registry) = &w.registry {
                    write!(f, " registry={registry}")?;
                }
                match &w.checksum {
                    Some(h) => write!(f, " {h}"),
                    None => Ok(()),
                }
            }
            Want::MavenArtifact(w) => {
                write!(f, "maven {}:{}:{}", w.group, w.artifact, w.version)?;
                if let Some(classifier) = &w.classifier {
                    write!(f, ":{classifier}")?;
                }
                write!(f, "@{}", w.extension)
            }
        }
    }
}

/// The URL with any user name and password replaced by `***`, for listings: requirement files
/// often carry tokens (`https://${TOKEN}@host/…`).
pub fn redacted(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("***");
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maven_path_and_display() {
        let a = MavenArtifact {
            group: "org.lwjgl".into(),
            artifact: "lwjgl".into(),
            version: "3.3.3".into(),
            classifier: Some("natives-linux".into()),
            extension: "jar".into(),
            origin: Origin::new(Path::new("x"), None),
        };
        assert_eq!(
            a.repository_path(),
            "org/lwjgl/lwjgl/3.3.3/lwjgl-3.3.3-natives-linux.jar"
        );
        assert_eq!(
            Want::MavenArtifact(a).to_string(),
            "maven org.lwjgl:lwjgl:3.3.3:natives-linux@jar"
        );
    }

    #[test]
    fn merge_and_dedup() {
        let origin = |line| Origin::new(Path::new("a"), Some(line));
        let krate = |line| {
            Want::Crate(Crate {
                name: "serde".into(),
                version: "1.0.0".into(),
                checksum: None,
                registry: None,
                origin: origin(line),
            })
        };
        let mut plan = Plan {
            items: vec![krate(1)],
            ..Plan::default()
        };
        plan.merge(Plan {
            items: vec![krate(2)],
            pip: PipOptions {
                pre: true,
                ..PipOptions::default()
            },
            ..Plan::default()
        });
        assert_eq!(plan.items.len(), 2);
        assert!(plan.pip.pre);
        plan.dedup();
        assert_eq!(plan.items, vec![krate(1)]);
    }
}
