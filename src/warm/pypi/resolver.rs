//! Picking versions for unpinned Python requirements, per target environment, the way pip
//! would: the newest version that satisfies every constraint, dependencies followed through
//! their PEP 658 metadata, PEP 508 markers evaluated for the environment, extras followed.
//!
//! The solver is PubGrub (the algorithm uv uses), so a conflict is reported as the chain of
//! requirements that cannot hold together. Extras are virtual packages: `requests[socks]` at
//! version V depends on `requests == V` and on the requirements marked `extra == "socks"`.
//! A version is available in an environment when it has a wheel pip could install there, or an
//! sdist (unless `--only-binary`); files yanked (PEP 592) count only for `==` pins, and
//! `requires-python` must admit the target Python. Pre-releases are taken with `--pre`, or when
//! nothing else satisfies a requirement (PEP 440).
//!
//! pubgrub is synchronous; it runs on a blocking thread and waits for the async [`Index`],
//! which prefetches ahead of it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use pep508_rs::pep440_rs::Version;
use pep508_rs::{ExtraName, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter,
};
use url::Url;

use super::super::tags::Environment;
use super::super::{Hash, PipOptions};
use super::index::{DistFile, Index, Metadata, ProjectPage, best_file};

/// A node of the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    Root,
    Project(PackageName),
    Extra(PackageName, ExtraName),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str(ROOT),
            Pkg::Project(name) => write!(f, "{name}"),
            Pkg::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

const ROOT: &str = "<requirements>";

/// One top-level requirement, as the resolver takes it.
#[derive(Debug, Clone)]
pub struct RootRequirement {
    pub requirement: Requirement<Url>,
    /// Only files with one of these digests may be used (hash-checking mode).
    pub hashes: Vec<Hash>,
}

/// What a resolution is asked.
pub struct Request {
    pub requirements: Vec<RootRequirement>,
    pub constraints: Vec<Requirement<Url>>,
    pub options: PipOptions,
    /// Follow dependencies (off in hash-checking mode, where the file lists every package).
    pub follow: bool,
    /// Every requirement is an exact `==` pin (a compiled file such as `uv pip compile`
    /// writes): its dependencies are pinned in it too, so one whose metadata cannot be read is
    /// not worth a warning.
    pub pinned: bool,
}

/// Whether `requirement` pins one exact version (`==1.2.3`, `===1.2.3`; not `==1.*`).
pub fn is_pinned(requirement: &Requirement<Url>) -> bool {
    use pep508_rs::pep440_rs::Operator;
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(spec)) => spec
            .iter()
            .any(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual)),
        _ => false,
    }
}

/// The file picked for one project in one environment.
#[derive(Debug, Clone)]
pub struct Pick {
    pub project: PackageName,
    pub version: Version,
    pub file: DistFile,
    /// The project page it came from.
    pub page: Option<Url>,
}

/// A resolution's result.
pub struct Resolution {
    pub picks: Vec<Pick>,
    /// Things the user should know (a dependency not followed, an unknown extra).
    pub warnings: Vec<String>,
}

/// The version ranges of a requirement (`None`: it names a URL, which warm cannot resolve).
pub fn ranges_of(requirement: &Requirement<Url>) -> Option<Ranges<Version>> {
    match &requirement.version_or_url {
        None => Some(Ranges::full()),
        Some(VersionOrUrl::VersionSpecifier(spec)) => Some(Ranges::from(spec.clone())),
        Some(VersionOrUrl::Url(_)) => None,
    }
}

/// Resolves `request` for `env`. Blocking: call from a blocking thread.
pub fn resolve(
    handle: tokio::runtime::Handle,
    index: &Index,
    env: &Environment,
    request: &Request,
) -> Result<Resolution, String> {
    let provider = Provider::new(handle, index, env, request)?;
    match pubgrub::resolve(&provider, Pkg::Root, Version::new([0])) {
        Ok(solution) => {
            let mut picks = Vec::new();
            for (pkg, version) in solution {
                let Pkg::Project(name) = pkg else {
                    continue;
                };
                let Some((file, page)) = provider.file_for(&name, &version) else {
                    continue;
                };
                picks.push(Pick {
                    project: name,
                    version,
                    file,
                    page,
                });
            }
            picks.sort_by(|a, b| a.project.cmp(&b.project));
            Ok(Resolution {
                picks,
                warnings: provider.warnings.take(),
            })
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            Err(readable(&DefaultStringReporter::report(&tree)))
        }
        Err(PubGrubError::ErrorRetrievingDependencies {
            package,
            version,
            source,
        }) => Err(format!(
            "cannot read the dependencies of {package} {version}: {source}"
        )),
        Err(PubGrubError::ErrorChoosingVersion { package, source }) => {
            Err(format!("cannot list the versions of {package}: {source}"))
        }
        Err(PubGrubError::ErrorInShouldCancel(e)) => Err(e.to_string()),
    }
}

/// pubgrub's report with the root spelled as words.
fn readable(report: &str) -> String {
    report
        .replace(&format!("{ROOT} 0 is forbidden"), "they cannot all be met")
        .replace(
            &format!("{ROOT} 0 depends on "),
            "the requirements ask for ",
        )
        .replace(&format!("{ROOT} 0 "), "the requirements ")
        .replace(&format!("{ROOT} 0"), "the requirements")
}

/// Why the provider could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(String);

/// The versions of one project usable in the environment: version → the file pip would use.
type Candidates = BTreeMap<Version, DistFile>;

/// A project's candidates and the page they come from.
type Listing = Arc<(Candidates, Option<Url>)>;

struct Provider<'a> {
    handle: tokio::runtime::Handle,
    index: &'a Index,
    env: &'a Environment,
    root: DependencyConstraints<Pkg, Ranges<Version>>,
    constraints: HashMap<PackageName, Ranges<Version>>,
    hashes: HashMap<PackageName, Vec<Hash>>,
    options: &'a PipOptions,
    follow: bool,
    pinned: bool,
    candidates: RefCell<HashMap<PackageName, Listing>>,
    warnings: RefCell<Vec<String>>,
}

impl<'a> Provider<'a> {
    fn new(
        handle: tokio::runtime::Handle,
        index: &'a Index,
        env: &'a Environment,
        request: &'a Request,
    ) -> Result<Provider<'a>, String> {
        let mut constraints: HashMap<PackageName, Ranges<Version>> = HashMap::new();
        for c in &request.constraints {
            if !c.marker.evaluate(&env.markers, &[]) {
                continue;
            }
            if let Some(r) = ranges_of(c) {
                let e = constraints
                    .entry(c.name.clone())
                    .or_insert_with(Ranges::full);
                *e = e.intersection(&r);
            }
        }
        let mut provider = Provider {
            handle,
            index,
            env,
            root: DependencyConstraints::default(),
            constraints,
            hashes: HashMap::new(),
            options: &request.options,
            follow: request.follow,
            pinned: request.pinned,
            candidates: RefCell::default(),
            warnings: RefCell::default(),
        };
        let mut root = DependencyConstraints::default();
        for r in &request.requirements {
            let req = &r.requirement;
            if !req.marker.evaluate(&env.markers, &[]) {
                continue;
            }
            let Some(range) = ranges_of(req) else {
                return Err(format!("{req}: a URL requirement cannot be resolved"));
            };
            if !r.hashes.is_empty() {
                provider
                    .hashes
                    .entry(req.name.clone())
                    .or_default()
                    .extend(r.hashes.iter().cloned());
            }
            provider.add(&mut root, Pkg::Project(req.name.clone()), range.clone());
            for extra in &req.extras {
                provider.add(
                    &mut root,
                    Pkg::Extra(req.name.clone(), extra.clone()),
                    range.clone(),
                );
            }
        }
        provider.root = root;
        Ok(provider)
    }

    /// Adds a dependency, intersecting with what is there and with the constraints.
    fn add(
        &self,
        deps: &mut DependencyConstraints<Pkg, Ranges<Version>>,
        pkg: Pkg,
        range: Ranges<Version>,
    ) {
        let name = match &pkg {
            Pkg::Project(n) | Pkg::Extra(n, _) => Some(n),
            Pkg::Root => None,
        };
        let mut range = range;
        if let Some(c) = name.and_then(|n| self.constraints.get(n)) {
            range = range.intersection(c);
        }
        let e = deps.entry(pkg).or_insert_with(Ranges::full);
        *e = e.intersection(&range);
    }

    fn warn(&self, message: String) {
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&message) {
            w.push(message);
        }
    }

    fn page(&self, name: &PackageName) -> Result<Arc<ProjectPage>, IndexError> {
        self.handle
            .block_on(self.index.page(name))
            .map_err(IndexError)
    }

    fn only_binary(&self, name: &PackageName) -> bool {
        let listed = |list: &[String]| {
            list.iter().any(|v| {
                v.split(',').any(|item| {
                    let item = item.trim();
                    item == ":all:" || PackageName::new(item.to_owned()).is_ok_and(|n| &n == name)
                })
            })
        };
        listed(&self.options.only_binary) && !listed(&self.options.no_binary)
    }

    fn no_binary(&self, name: &PackageName) -> bool {
        self.options.no_binary.iter().any(|v| {
            v.split(',').any(|item| {
                let item = item.trim();
                item == ":all:" || PackageName::new(item.to_owned()).is_ok_and(|n| &n == name)
            })
        })
    }

    /// Versions usable here, each with the file pip would take.
    fn candidates(&self, name: &PackageName) -> Result<Listing, IndexError> {
        if let Some(c) = self.candidates.borrow().get(name) {
            return Ok(c.clone());
        }
        let page = self.page(name)?;
        let allowed = self.hashes.get(name);
        let only_binary = self.only_binary(name);
        let no_binary = self.no_binary(name);
        let mut out = Candidates::new();
        for (version, files) in page.versions() {
            let files: Vec<&DistFile> = files
                .into_iter()
                .filter(|f| {
                    allowed.is_none_or(|hashes| f.hashes.iter().any(|h| hashes.contains(h)))
                })
                .filter(|f| !(no_binary && f.wheel.is_some()))
                .collect();
            if let Some(file) = best_file(self.env, &files, only_binary) {
                out.insert(version.0, file.clone());
            }
        }
        let c = Arc::new((out, page.url.clone()));
        self.candidates.borrow_mut().insert(name.clone(), c.clone());
        Ok(c)
    }

    fn file_for(&self, name: &PackageName, version: &Version) -> Option<(DistFile, Option<Url>)> {
        let c = self.candidates.borrow().get(name)?.clone();
        Some((c.0.get(version)?.clone(), c.1.clone()))
    }

    fn metadata(
        &self,
        file: &DistFile,
        name: &PackageName,
        version: &Version,
    ) -> Option<Arc<Metadata>> {
        let source = if file.has_metadata {
            Some(file.clone())
        } else {
            // An sdist (or an old wheel) without PEP 658 metadata: any wheel of the same
            // version that has it lists the same requirements, markers aside.
            let page = self.page(name).ok()?;
            page.files
                .iter()
                .find(|f| &f.version == version && f.has_metadata)
                .cloned()
        };
        let Some(source) = source else {
            // A wheel has it inside (the warm downloads the picked file anyway).
            let wheel = if file.wheel.is_some() {
                Some(file.clone())
            } else {
                self.page(name).ok().and_then(|page| {
                    page.files
                        .iter()
                        .find(|f| &f.version == version && f.wheel.is_some())
                        .cloned()
                })
            };
            if let Some(wheel) = wheel {
                return match self.handle.block_on(self.index.wheel_metadata(&wheel)) {
                    Ok(m) => Some(m),
                    Err(e) if self.pinned => {
                        tracing::debug!("{name} {version}: {e}");
                        None
                    }
                    Err(e) => {
                        self.warn(format!("{name} {version}: dependencies not followed: {e}"));
                        None
                    }
                };
            }
            if self.pinned {
                tracing::debug!(
                    "{name} {version}: no metadata; the pinned file lists its dependencies"
                );
                return None;
            }
            self.warn(format!(
                "{name} {version}: its dependencies are not followed (the index has no PEP 658 \
                 metadata for {}); list them in the requirements to warm them",
                file.filename
            ));
            return None;
        };
        match self.handle.block_on(self.index.metadata(&source)) {
            Ok(m) => Some(m),
            Err(e) => {
                self.warn(format!("{name} {version}: dependencies not followed: {e}"));
                None
            }
        }
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = IndexError;
    type Priority = (u32, std::cmp::Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Pinned packages first (they cost nothing to decide), then by conflicts seen.
        let pinned = usize::from(range.as_singleton().is_some());
        let root = usize::from(matches!(package, Pkg::Root));
        (stats.conflict_count(), std::cmp::Reverse(2 - pinned - root))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, IndexError> {
        let name = match package {
            Pkg::Root => return Ok(Some(Version::new([0]))),
            Pkg::Project(n) | Pkg::Extra(n, _) => n,
        };
        let candidates = self.candidates(name)?;
        let pinned = range.as_singleton();
        let usable =
            |v: &Version, f: &DistFile| range.contains(v) && (!f.yanked || pinned == Some(v));
        let pre = self.options.pre;
        let stable = candidates
            .0
            .iter()
            .rev()
            .find(|(v, f)| usable(v, f) && (pre || !v.any_prerelease()));
        // PEP 440: pre-releases are fine when nothing else satisfies the requirement.
        let chosen = stable.or_else(|| candidates.0.iter().rev().find(|(v, f)| usable(v, f)));
        Ok(chosen.map(|(v, _)| v.clone()))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, String>, IndexError> {
        let (name, extra) = match package {
            Pkg::Root => return Ok(Dependencies::Available(self.root.clone())),
            Pkg::Project(n) => (n, None),
            Pkg::Extra(n, e) => (n, Some(e)),
        };
        let mut deps = DependencyConstraints::default();
        if extra.is_some() {
            deps.insert(
                Pkg::Project(name.clone()),
                Ranges::singleton(version.clone()),
            );
        }
        if !self.follow {
            return Ok(Dependencies::Available(deps));
        }
        let Some((file, _)) = self.file_for(name, version) else {
            return Ok(Dependencies::Unavailable(format!(
                "no file of {name} {version} fits"
            )));
        };
        let Some(metadata) = self.metadata(&file, name, version) else {
            return Ok(Dependencies::Available(deps));
        };
        if let Some(extra) = extra
            && !metadata.provides_extra.contains(extra)
            && !metadata.requires_dist.iter().any(|r| {
                r.marker
                    .evaluate(&self.env.markers, std::slice::from_ref(extra))
                    && !r.marker.evaluate(&self.env.markers, &[])
            })
        {
            self.warn(format!(
                "{name} {version} does not provide the extra `{extra}`"
            ));
        }
        let extras: Vec<ExtraName> = extra.into_iter().cloned().collect();
        for r in &metadata.requires_dist {
            if !r.marker.evaluate(&self.env.markers, &extras) {
                continue;
            }
            // With an extra, only what the extra adds: the base requirements come with the
            // project itself.
            if extra.is_some() && r.marker.evaluate(&self.env.markers, &[]) {
                continue;
            }
            let Some(range) = ranges_of(r) else {
                self.warn(format!(
                    "{name} {version} requires `{r}`: URL dependencies are not warmed"
                ));
                continue;
            };
            if &r.name == name && r.extras.is_empty() {
                continue;
            }
            if &r.name != name {
                self.add(&mut deps, Pkg::Project(r.name.clone()), range.clone());
            }
            for e in &r.extras {
                self.add(
                    &mut deps,
                    Pkg::Extra(r.name.clone(), e.clone()),
                    range.clone(),
                );
            }
        }
        Ok(Dependencies::Available(deps))
    }
}
