//! The input side of `repox warm FILE...`: recognise requirement, lock and manifest files and
//! turn each into a [`Plan`] of things to fetch, without touching the network.
//!
//! The plan separates what is pinned to an exact file ([`PypiFile`], [`CondaPackage`],
//! [`NpmTarball`], [`Crate`], [`MavenArtifact`]) from what still needs a resolver
//! ([`PypiRequirement`]), and lists everything it will not fetch in [`Plan::skipped`] with the
//! file, line and reason, so one odd line in a big lock file costs a warning, not the whole run.
//! Files that cannot be read at all (invalid TOML/JSON/YAML, a missing file) are errors naming
//! the file, the line and a fix.

mod cargo_lock;
mod conda;
mod dist_filename;
mod hash;
mod maven;
mod npm;
mod pdm_lock;
mod pipfile_lock;
mod pixi_lock;
mod poetry_lock;
mod pylock;
mod requirements;
mod uv_lock;
mod yarn_lock;

use std::fmt;
use std::path::{Path, PathBuf};

use pep508_rs::PackageName;
use serde::de::DeserializeOwned;
use url::Url;

pub use hash::{Hash, HashAlgorithm};

use crate::settings::Hinted;

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

/// Input formats `repox warm` reads; the names are the `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// pip requirements file (`-r`/`-c` includes, options, hashes)
    Requirements,
    /// PEP 751 `pylock.toml`
    Pylock,
    /// `uv.lock`
    UvLock,
    /// `poetry.lock`
    PoetryLock,
    /// pipenv `Pipfile.lock`
    PipfileLock,
    /// `pdm.lock`
    PdmLock,
    /// conda `@EXPLICIT` spec (`conda list --explicit`)
    CondaExplicit,
    /// `conda-lock.yml`
    CondaLock,
    /// `pixi.lock`
    PixiLock,
    /// npm `package-lock.json` / `npm-shrinkwrap.json`
    PackageLock,
    /// Yarn classic (v1) `yarn.lock`
    YarnLock,
    /// `Cargo.lock`
    CargoLock,
    /// text file of `group:artifact:version[:classifier][@ext]` lines
    MavenList,
    /// Maven `pom.xml`
    Pom,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use clap::ValueEnum;
        match self.to_possible_value() {
            Some(value) => f.write_str(value.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

/// The format of `path` from its name, then its content; `None` when neither tells.
pub fn detect_format(path: &Path, text: &str) -> Option<Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_name = match name.as_str() {
        "pylock.toml" => Some(Format::Pylock),
        "uv.lock" => Some(Format::UvLock),
        "poetry.lock" => Some(Format::PoetryLock),
        "pipfile.lock" => Some(Format::PipfileLock),
        "pdm.lock" => Some(Format::PdmLock),
        "pixi.lock" => Some(Format::PixiLock),
        "package-lock.json" | "npm-shrinkwrap.json" => Some(Format::PackageLock),
        "yarn.lock" => Some(Format::YarnLock),
        "cargo.lock" => Some(Format::CargoLock),
        "pom.xml" => Some(Format::Pom),
        n if n.starts_with("pylock.") && n.ends_with(".toml") => Some(Format::Pylock),
        n if n.ends_with(".pom") => Some(Format::Pom),
        n if n.ends_with("conda-lock.yml") || n.ends_with("conda-lock.yaml") => {
            Some(Format::CondaLock)
        }
        n if n.starts_with("requirements") && n.ends_with(".txt") => Some(Format::Requirements),
        _ => None,
    };
    by_name.or_else(|| sniff(&name, text))
}

/// The format from content alone, for files with other names (`spec.txt`, `deps.lock`).
fn sniff(name: &str, text: &str) -> Option<Format> {
    let text = text.trim_start_matches('\u{feff}');
    let lines = || text.lines().map(str::trim);
    let has_line = |prefix: &str| lines().any(|l| l.starts_with(prefix));
    let trimmed = text.trim_start();
    if lines().any(|l| l == "@EXPLICIT") {
        return Some(Format::CondaExplicit);
    }
    if trimmed.starts_with('<') && text.contains("<project") {
        return Some(Format::Pom);
    }
    if trimmed.starts_with('{') {
        if text.contains("\"lockfileVersion\"") {
            return Some(Format::PackageLock);
        }
        if text.contains("\"_meta\"") && text.contains("\"default\"") {
            return Some(Format::PipfileLock);
        }
        return None;
    }
    if text.contains("# yarn lockfile v1") {
        return Some(Format::YarnLock);
    }
    if has_line("[[packages]]") && has_line("lock-version") {
        return Some(Format::Pylock);
    }
    if has_line("[[package]]") {
        if has_line("source = \"registry+") || has_line("source = \"sparse+") {
            return Some(Format::CargoLock);
        }
        if has_line("lock_version") {
            return Some(Format::PdmLock);
        }
        if has_line("lock-version") || has_line("content-hash") {
            return Some(Format::PoetryLock);
        }
        if has_line("revision =") || has_line("requires-python =") || has_line("source = {") {
            return Some(Format::UvLock);
        }
        return None;
    }
    if has_line("environments:") && has_line("packages:") && has_line("version:") {
        return Some(Format::PixiLock);
    }
    if has_line("package:") && has_line("manager:") {
        return Some(Format::CondaLock);
    }
    if maven::looks_like_list(text) {
        return Some(Format::MavenList);
    }
    if name.ends_with(".txt") || name.ends_with(".in") {
        return Some(Format::Requirements);
    }
    None
}

/// Parse one input file, detecting its format unless `forced`.
pub fn parse_file(path: &Path, forced: Option<Format>) -> anyhow::Result<Plan> {
    parse_file_with_env(path, forced, &|name| std::env::var(name).ok())
}

/// [`parse_file`] with the environment used for `${VAR}` in requirements files made explicit.
pub fn parse_file_with_env(
    path: &Path,
    forced: Option<Format>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Plan> {
    let bytes = fs_err::read(path)?;
    let format = match forced {
        Some(format) => format,
        None => detect_format(path, &String::from_utf8_lossy(&bytes)).ok_or_else(|| Hinted {
            message: format!("{}: cannot tell what kind of file this is", path.display()),
            hint: "pass --format (requirements, pylock, uv-lock, poetry-lock, pipfile-lock, \
                   pdm-lock, conda-explicit, conda-lock, pixi-lock, package-lock, yarn-lock, \
                   cargo-lock, maven-list, pom)"
                .to_string(),
        })?,
    };
    tracing::debug!(path = %path.display(), %format, "parsing warm input");
    if format == Format::Requirements {
        let mut plan = requirements::parse(path, &bytes, env)?;
        plan.dedup();
        return Ok(plan);
    }
    let text = utf8(path, bytes)?;
    let source = Source::new(path, &text);
    let mut plan = match format {
        Format::Requirements => unreachable!("handled above"),
        Format::Pylock => pylock::parse(&source)?,
        Format::UvLock => uv_lock::parse(&source)?,
        Format::PoetryLock => poetry_lock::parse(&source)?,
        Format::PipfileLock => pipfile_lock::parse(&source)?,
        Format::PdmLock => pdm_lock::parse(&source)?,
        Format::CondaExplicit => conda::parse_explicit(&source),
        Format::CondaLock => conda::parse_conda_lock(&source)?,
        Format::PixiLock => pixi_lock::parse(&source)?,
        Format::PackageLock => npm::parse(&source)?,
        Format::YarnLock => yarn_lock::parse(&source)?,
        Format::CargoLock => cargo_lock::parse(&source)?,
        Format::MavenList => maven::parse_list(&source),
        Format::Pom => maven::parse_pom(&source)?,
    };
    plan.dedup();
    Ok(plan)
}

fn utf8(path: &Path, bytes: Vec<u8>) -> anyhow::Result<String> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..3);
            }
            Ok(text)
        }
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let line = err.as_bytes()[..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Err(Hinted {
                message: format!("{}:{line}: not valid UTF-8", path.display()),
                hint: "save the file as UTF-8".to_string(),
            }
            .into())
        }
    }
}

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

    fn skip(
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

    fn add_index(&mut self, url: Url, role: IndexRole, origin: Origin) {
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

/// A fatal problem with an input file: `path:line: what`, with the fix as a `hint:` line.
fn bad_input(origin: &Origin, what: impl fmt::Display, fix: impl Into<String>) -> anyhow::Error {
    Hinted {
        message: format!("{origin}: {what}"),
        hint: fix.into(),
    }
    .into()
}

/// An input file's text with a line index, shared by the per-format parsers.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    fn origin(&self, line: Option<u32>) -> Origin {
        Origin::new(self.path, line)
    }

    fn origin_at(&self, offset: usize) -> Origin {
        self.origin(Some(self.line_of(offset)))
    }

    /// The line of the next occurrence of `needle` at or after `*cursor`, moving the cursor past
    /// it; falls back to the first occurrence anywhere. For formats whose parser keeps no
    /// positions (JSON, YAML): the needle is something unique such as a URL or a quoted key.
    fn find_line(&self, needle: &str, cursor: &mut usize) -> Option<u32> {
        if let Some(pos) = self.text[*cursor..].find(needle) {
            let at = *cursor + pos;
            *cursor = at + needle.len();
            return Some(self.line_of(at));
        }
        self.text.find(needle).map(|at| self.line_of(at))
    }

    fn toml<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        toml::from_str(self.text).map_err(|err| {
            let line = err.span().map(|span| self.line_of(span.start));
            bad_input(
                &self.origin(line),
                format!("invalid TOML: {}", err.message().trim()),
                fix,
            )
        })
    }

    fn json<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        serde_json::from_str(self.text).map_err(|err| {
            let line = u32::try_from(err.line()).ok().filter(|&l| l > 0);
            let message = strip_positions(&err.to_string());
            bad_input(&self.origin(line), format!("invalid JSON: {message}"), fix)
        })
    }

    fn yaml<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        yaml_serde::from_str(self.text).map_err(|err| {
            let line = err.location().and_then(|l| u32::try_from(l.line()).ok());
            let message = strip_positions(&err.to_string());
            bad_input(&self.origin(line), format!("invalid YAML: {message}"), fix)
        })
    }
}

/// Parser messages without their " at line N column M" parts: the origin already says where.
fn strip_positions(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let mut end = digits(after);
        if let Some(column) = after[end..].strip_prefix(" column ") {
            end += " column ".len() + digits(column);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The last path segment of a URL, percent-decoded (`torch-2.3.0%2Bcpu-….whl` → `+cpu`).
fn url_filename(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    if segment.is_empty() {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// The URL without its `#fragment`, which is never sent to a server.
fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// A Python file to fetch from a URL: the project and version come from the lock when it says,
/// else from the file name.
fn pypi_file_from_url(
    url: &Url,
    project: Option<PackageName>,
    version: Option<String>,
    hashes: Vec<Hash>,
    index: Option<Url>,
    origin: Origin,
) -> Option<PypiFile> {
    let filename = url_filename(url)?;
    let parsed = dist_filename::parse(&filename);
    let (project, version) = match (project, parsed) {
        (Some(p), Some((_, v))) => (Some(p), version.or(Some(v))),
        (Some(p), None) => (Some(p), version),
        (None, Some((p, v))) => (Some(p), version.or(Some(v))),
        (None, None) => (None, version),
    };
    Some(PypiFile {
        project,
        version,
        filename,
        url: Some(without_fragment(url)),
        hashes,
        index,
        origin,
    })
}

/// One file named by a Python lock file (pylock.toml, uv.lock, poetry.lock, pdm.lock,
/// conda-lock, pixi.lock).
struct LockedFile<'a> {
    /// `name version`, for skipped entries.
    what: String,
    project: &'a PackageName,
    version: Option<&'a str>,
    /// The file name when the lock gives one; else it comes from the URL.
    filename: Option<String>,
    url: Option<&'a str>,
    /// A local path instead of a URL.
    path: Option<&'a str>,
    hashes: Vec<Hash>,
    index: Option<&'a Url>,
    origin: Origin,
}

impl Plan {
    /// Fetch a locked file by URL when the lock has one, else by file name on its index; local
    /// paths and VCS URLs are skipped.
    fn add_locked_file(&mut self, file: LockedFile<'_>) {
        let LockedFile {
            what,
            project,
            version,
            filename,
            url,
            path,
            hashes,
            index,
            origin,
        } = file;
        if let Some(url) = url {
            let parsed = match Url::parse(url) {
                Ok(parsed) => parsed,
                Err(url::ParseError::RelativeUrlWithoutBase) => {
                    return self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
                }
                Err(err) => {
                    let why = format!("`{url}` is not a valid URL ({err})");
                    return self.skip(what, origin, SkipKind::Invalid, why);
                }
            };
            if parsed.scheme().contains('+') {
                return self.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            }
            if parsed.scheme() == "file" {
                return self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
            }
            if !is_http(&parsed) {
                let why = format!("`{}` URLs cannot be fetched", parsed.scheme());
                return self.skip(what, origin, SkipKind::Unsupported, why);
            }
            let version = version.map(String::from);
            let index = index.cloned();
            match pypi_file_from_url(
                &parsed,
                Some(project.clone()),
                version,
                hashes,
                index,
                origin.clone(),
            ) {
                Some(mut found) => {
                    if let Some(filename) = filename {
                        found.filename = filename;
                    }
                    self.items.push(Want::PypiFile(found));
                }
                None => self.skip(
                    what,
                    origin,
                    SkipKind::Invalid,
                    "the URL does not end in a file name",
                ),
            }
        } else if path.is_some() {
            self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
        } else if let Some(filename) = filename {
            self.items.push(Want::PypiFile(PypiFile {
                project: Some(project.clone()),
                version: version.map(String::from),
                filename,
                url: None,
                hashes,
                index: index.cloned(),
                origin,
            }));
        } else {
            self.skip(
                what,
                origin,
                SkipKind::Invalid,
                "the entry has neither a URL nor a file name",
            );
        }
    }
}

const LOCAL_FILE: &str = "local file: already on disk, nothing to fetch";
const LOCAL_SOURCE: &str = "local source (path, directory or editable): nothing to fetch";
const VCS_CHECKOUT: &str = "VCS checkout: warm does not cache git/hg/svn sources";

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/warm")
            .join(rel)
    }

    /// `line want` for each item, so tests compare readable lists.
    pub(super) fn items(plan: &Plan) -> Vec<String> {
        plan.items
            .iter()
            .map(|w| match w.origin().line {
                Some(line) => format!("{line} {w}"),
                None => format!("- {w}"),
            })
            .collect()
    }

    /// `line what: why` for each skipped entry (`!` marks invalid input).
    pub(super) fn skipped(plan: &Plan) -> Vec<String> {
        plan.skipped
            .iter()
            .map(|s| {
                let mark = match s.kind {
                    SkipKind::Unsupported => "",
                    SkipKind::Invalid => "! ",
                };
                let line = s.origin.line.map_or("-".to_string(), |l| l.to_string());
                format!("{mark}{line} {}: {}", s.what, s.why)
            })
            .collect()
    }

    /// The error as main prints it: the message, then the hint.
    pub(super) fn error_text(err: &anyhow::Error) -> String {
        let hint = err
            .downcast_ref::<Hinted>()
            .map(|h| format!(" | hint: {}", h.hint))
            .unwrap_or_default();
        format!("{err:#}{hint}")
    }

    #[test]
    fn detects_by_name() {
        let cases = [
            ("requirements.txt", Format::Requirements),
            ("requirements-dev.txt", Format::Requirements),
            ("pylock.toml", Format::Pylock),
            ("pylock.dev.toml", Format::Pylock),
            ("uv.lock", Format::UvLock),
            ("poetry.lock", Format::PoetryLock),
            ("Pipfile.lock", Format::PipfileLock),
            ("pdm.lock", Format::PdmLock),
            ("conda-lock.yml", Format::CondaLock),
            ("linux.conda-lock.yml", Format::CondaLock),
            ("pixi.lock", Format::PixiLock),
            ("package-lock.json", Format::PackageLock),
            ("npm-shrinkwrap.json", Format::PackageLock),
            ("yarn.lock", Format::YarnLock),
            ("Cargo.lock", Format::CargoLock),
            ("pom.xml", Format::Pom),
            ("guava-33.2.0-jre.pom", Format::Pom),
        ];
        for (name, format) in cases {
            assert_eq!(
                detect_format(Path::new("x").join(name).as_path(), ""),
                Some(format),
                "{name}"
            );
        }
    }

    #[test]
    fn detects_fixtures_by_content() {
        let cases = [
            ("requirements/requirements.txt", Format::Requirements),
            ("pylock.toml", Format::Pylock),
            ("uv.lock", Format::UvLock),
            ("poetry.lock", Format::PoetryLock),
            ("Pipfile.lock", Format::PipfileLock),
            ("pdm.lock", Format::PdmLock),
            ("conda/explicit.txt", Format::CondaExplicit),
            ("conda/conda-lock.yml", Format::CondaLock),
            ("conda/pixi.lock", Format::PixiLock),
            ("npm/v1/package-lock.json", Format::PackageLock),
            ("npm/v3/package-lock.json", Format::PackageLock),
            ("npm/yarn.lock", Format::YarnLock),
            ("cargo/v3/Cargo.lock", Format::CargoLock),
            ("cargo/v4/Cargo.lock", Format::CargoLock),
            ("maven/artifacts.txt", Format::MavenList),
            ("maven/pom.xml", Format::Pom),
        ];
        for (rel, format) in cases {
            let text = fs_err::read_to_string(fixture(rel)).unwrap();
            // A neutral name, so only the content decides (`.txt` allows the requirements
            // fallback, as for `constraints.txt`).
            assert_eq!(sniff("input.txt", &text), Some(format), "{rel}");
        }
        assert_eq!(sniff("notes.md", "hello\n"), None);
        assert_eq!(sniff("input", "requests==2.0\n"), None);
    }

    #[test]
    fn unknown_format_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deps.lst");
        fs_err::write(&path, "hello world\n").unwrap();
        let err = parse_file(&path, None).unwrap_err();
        let text = error_text(&err);
        assert!(
            text.contains("deps.lst: cannot tell what kind of file this is | hint: pass --format"),
            "{text}"
        );
        // Forcing a format reads it anyway.
        let plan = parse_file(&path, Some(Format::MavenList)).unwrap();
        assert_eq!(skipped(&plan).len(), 1);
    }

    #[test]
    fn not_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.lock");
        fs_err::write(&path, b"version = 3\n\n# caf\xe9\n").unwrap();
        let text = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            text.ends_with("Cargo.lock:3: not valid UTF-8 | hint: save the file as UTF-8"),
            "{text}"
        );
    }

    #[test]
    fn parser_positions_are_stripped() {
        assert_eq!(
            strip_positions("found end at line 4 column 1, while scanning at line 3 column 9"),
            "found end, while scanning"
        );
        assert_eq!(
            strip_positions("key must be a string at line 4"),
            "key must be a string"
        );
        assert_eq!(strip_positions("plain"), "plain");
    }

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
