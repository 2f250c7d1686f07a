//! The Python package index as the warm sees it through repox: PEP 691 JSON project pages
//! (`/pypi/simple/<project>/`) and PEP 658 core metadata (`<file>.metadata`), each fetched
//! once and parsed once, shared by every target environment.
//!
//! The resolver asks synchronously, one package at a time; the index answers from memory when
//! it can. To keep the number of round trips near the depth of the dependency graph rather than
//! its size, reading a package's metadata starts fetching the pages of all its dependencies,
//! and a page that arrives starts fetching the metadata of the version the resolver will most
//! likely pick: uv's prefetching, in small.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName, Requirement};
use repox_proxy::ecosystem::pypi::wheel_zip::{self, Span};
use serde::Deserialize;
use url::Url;

use super::super::dist_filename;
use super::super::fetch::{Fetch, FetchError, Fetcher};
use super::super::tags::{Environment, WheelName};
use super::super::{Hash, HashAlgorithm};

/// `Accept` for PEP 691 JSON (what pip and uv send, JSON first).
pub const ACCEPT_JSON: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
/// `Accept` for the PEP 503 HTML page (older pip, tools that only read HTML).
pub const ACCEPT_HTML: &str = "text/html";

/// One distribution file listed on a project page.
#[derive(Debug, Clone)]
pub struct DistFile {
    pub filename: String,
    /// Absolute URL on repox.
    pub url: Url,
    pub version: Version,
    /// `None` for an sdist.
    pub wheel: Option<WheelName>,
    pub hashes: Vec<Hash>,
    pub requires_python: Option<VersionSpecifiers>,
    pub yanked: bool,
    /// PEP 658: `<url>.metadata` exists.
    pub has_metadata: bool,
    pub metadata_hashes: Vec<Hash>,
}

/// A project page: its files, newest version first.
#[derive(Debug, Default)]
pub struct ProjectPage {
    pub files: Vec<DistFile>,
    /// The repox URL of the page, for warming its other variant.
    pub url: Option<Url>,
}

impl ProjectPage {
    /// Files by version, newest first.
    pub fn versions(&self) -> BTreeMap<std::cmp::Reverse<Version>, Vec<&DistFile>> {
        let mut out: BTreeMap<_, Vec<&DistFile>> = BTreeMap::new();
        for f in &self.files {
            out.entry(std::cmp::Reverse(f.version.clone()))
                .or_default()
                .push(f);
        }
        out
    }
}

/// What the resolver needs from a distribution's core metadata.
#[derive(Debug, Default)]
pub struct Metadata {
    pub requires_dist: Vec<Requirement<Url>>,
    pub provides_extra: Vec<ExtraName>,
}

type PageFuture = Shared<BoxFuture<'static, Result<Arc<ProjectPage>, String>>>;
type MetadataFuture = Shared<BoxFuture<'static, Result<Arc<Metadata>, String>>>;

/// Project pages and metadata through repox, memoized.
#[derive(Clone)]
pub struct Index {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: Fetcher,
    /// `{repox}/{repo}/simple/` bases to look a project up in, merged in order.
    default_bases: Vec<Url>,
    /// Projects pinned to other bases (a lock file's per-package index).
    project_bases: HashMap<PackageName, Vec<Url>>,
    pages: Mutex<HashMap<PackageName, PageFuture>>,
    metadata: Mutex<HashMap<Url, MetadataFuture>>,
    /// Environments and version hints for prefetching.
    prefetch: Mutex<Prefetch>,
}

#[derive(Default)]
struct Prefetch {
    environments: Vec<Environment>,
    /// What the requirements allow, per project (so `django==4.2` does not prefetch 5.x).
    hints: HashMap<PackageName, pubgrub::Ranges<Version>>,
    started: HashSet<PackageName>,
    enabled: bool,
}

impl Index {
    pub fn new(
        fetcher: Fetcher,
        default_bases: Vec<Url>,
        project_bases: HashMap<PackageName, Vec<Url>>,
    ) -> Index {
        Index {
            inner: Arc::new(Inner {
                fetcher,
                default_bases,
                project_bases,
                pages: Mutex::default(),
                metadata: Mutex::default(),
                prefetch: Mutex::default(),
            }),
        }
    }

    /// Turns prefetching on for these environments, with version hints per project.
    pub fn enable_prefetch(
        &self,
        environments: Vec<Environment>,
        hints: HashMap<PackageName, pubgrub::Ranges<Version>>,
    ) {
        let mut p = self.inner.prefetch.lock().expect("prefetch");
        p.environments = environments;
        p.hints = hints;
        p.enabled = true;
    }

    /// The bases a project is looked up in.
    pub fn bases(&self, project: &PackageName) -> Vec<Url> {
        self.inner
            .project_bases
            .get(project)
            .cloned()
            .unwrap_or_else(|| self.inner.default_bases.clone())
    }

    /// The project's page (every base merged; a base that lacks the project is skipped).
    pub fn page(
        &self,
        project: &PackageName,
    ) -> impl Future<Output = Result<Arc<ProjectPage>, String>> + Send + 'static {
        let mut pages = self.inner.pages.lock().expect("pages");
        if let Some(f) = pages.get(project) {
            return f.clone();
        }
        let this = self.clone();
        let name = project.clone();
        let future = async move {
            let result = this.fetch_page(&name).await.map(Arc::new);
            if let Ok(page) = &result {
                this.after_page(&name, page);
            }
            result
        }
        .boxed()
        .shared();
        pages.insert(project.clone(), future.clone());
        drop(pages);
        // Run it even if nobody waits yet (prefetch).
        tokio::spawn(future.clone());
        future
    }

    async fn fetch_page(&self, project: &PackageName) -> Result<ProjectPage, String> {
        let mut merged = ProjectPage::default();
        let mut seen = HashSet::new();
        let mut found = false;
        let mut errors = Vec::new();
        for base in self.bases(project) {
            let url = base
                .join(&format!("{project}/"))
                .map_err(|e| e.to_string())?;
            // Optional: pages are prefetched on speculation (a dependency under a marker
            // that turns out false); a project the resolver really needs and no index has is
            // reported by the resolver.
            let fetch = Fetch::index(url.clone(), format!("{project} (project page)"))
                .accept(ACCEPT_JSON)
                .keep_body()
                .optional();
            match self.inner.fetcher.get(fetch).await {
                Ok(fetched) if fetched.cache == "absent" => {}
                Ok(fetched) => {
                    found = true;
                    let body = fetched.body.unwrap_or_default();
                    let page = parse_page(&body, &url).map_err(|e| format!("{url}: {e}"))?;
                    if merged.url.is_none() {
                        merged.url = Some(url);
                    }
                    for f in page.files {
                        if seen.insert(f.filename.clone()) {
                            merged.files.push(f);
                        }
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        if !found {
            return Err(format!("no index has a project named `{project}`"));
        }
        Ok(merged)
    }

    /// The core metadata of `file` (PEP 658).
    pub fn metadata(
        &self,
        file: &DistFile,
    ) -> impl Future<Output = Result<Arc<Metadata>, String>> + Send + 'static {
        let url = metadata_url(&file.url);
        let mut all = self.inner.metadata.lock().expect("metadata");
        if let Some(f) = all.get(&url) {
            return f.clone();
        }
        let fetch = Fetch::index(url.clone(), format!("{}.metadata", file.filename))
            .expect(file.metadata_hashes.clone())
            .keep_body();
        let this = self.clone();
        let future = async move {
            let fetched = this
                .inner
                .fetcher
                .get(fetch)
                .await
                .map_err(|e: FetchError| e.to_string())?;
            let text = String::from_utf8_lossy(&fetched.body.unwrap_or_default()).into_owned();
            let metadata = Arc::new(parse_metadata(&text));
            this.after_metadata(&metadata);
            Ok(metadata)
        }
        .boxed()
        .shared();
        all.insert(url, future.clone());
        drop(all);
        tokio::spawn(future.clone());
        future
    }

    /// The core metadata of a wheel whose page offers none, read from the wheel itself by
    /// range requests to repox (which caches the wheel as it serves them: the warm wants it
    /// anyway): the zip's end record and central directory, then the `METADATA` member.
    pub fn wheel_metadata(
        &self,
        file: &DistFile,
    ) -> impl Future<Output = Result<Arc<Metadata>, String>> + Send + 'static {
        let url = file.url.clone();
        let mut all = self.inner.metadata.lock().expect("metadata");
        if let Some(f) = all.get(&url) {
            return f.clone();
        }
        let this = self.clone();
        let key = url.clone();
        let future = async move {
            let bytes = read_wheel_metadata(&this.inner.fetcher, &url)
                .await
                .map_err(|e| format!("reading METADATA from {url}: {e}"))?;
            let metadata = Arc::new(parse_metadata(&String::from_utf8_lossy(&bytes)));
            this.after_metadata(&metadata);
            Ok(metadata)
        }
        .boxed()
        .shared();
        all.insert(key, future.clone());
        drop(all);
        tokio::spawn(future.clone());
        future
    }

    /// Prefetch: the metadata of the version each environment will most likely use.
    fn after_page(&self, project: &PackageName, page: &ProjectPage) {
        let (environments, hint) = {
            let p = self.inner.prefetch.lock().expect("prefetch");
            if !p.enabled {
                return;
            }
            (p.environments.clone(), p.hints.get(project).cloned())
        };
        let mut wanted = HashSet::new();
        for env in &environments {
            let best = page.versions().into_iter().find_map(|(v, files)| {
                let ok = hint.as_ref().is_none_or(|h| h.contains(&v.0)) && !v.0.any_prerelease();
                ok.then(|| best_file(env, &files, false))
                    .flatten()
                    .filter(|f| f.has_metadata)
                    .cloned()
            });
            if let Some(file) = best
                && wanted.insert(file.url.clone())
            {
                drop(self.metadata(&file));
            }
        }
    }

    /// Prefetch: the pages of every dependency some environment may need.
    fn after_metadata(&self, metadata: &Metadata) {
        let names: Vec<PackageName> = {
            let mut p = self.inner.prefetch.lock().expect("prefetch");
            if !p.enabled {
                return;
            }
            let environments = p.environments.clone();
            metadata
                .requires_dist
                .iter()
                .filter(|r| {
                    environments
                        .iter()
                        .any(|env| r.marker.evaluate(&env.markers, &[]))
                })
                .filter(|r| p.started.insert(r.name.clone()))
                .map(|r| r.name.clone())
                .collect()
        };
        for name in names {
            drop(self.page(&name));
        }
    }
}

/// `METADATA` of the wheel at `url`, by ranges (see [`wheel_zip`]).
async fn read_wheel_metadata(fetcher: &Fetcher, url: &Url) -> Result<Vec<u8>, String> {
    let get = |span: Span| async move {
        let range = format!("bytes={}-{}", span.start, span.end() - 1);
        fetcher
            .range(url, &range, span.len)
            .await
            .map(|(b, _)| b)
            .map_err(|e| e.to_string())
    };
    let (tail, len) = fetcher
        .range(url, &format!("bytes=-{}", wheel_zip::TAIL), wheel_zip::TAIL)
        .await
        .map_err(|e| e.to_string())?;
    let tail_start = len
        .checked_sub(tail.len() as u64)
        .ok_or("a range answer longer than the file")?;
    let within = |span: Span| {
        let from = span.start.checked_sub(tail_start)?;
        let to = from.checked_add(span.len)?;
        (to <= tail.len() as u64).then(|| tail.slice(from as usize..to as usize))
    };
    let cd = wheel_zip::central_directory(&tail, tail_start, len).map_err(|e| e.to_string())?;
    let cd_bytes = match within(cd) {
        Some(b) => b,
        None => get(cd).await?,
    };
    let member = wheel_zip::find_metadata(&cd_bytes, cd).map_err(|e| e.to_string())?;
    let span = member.span().map_err(|e| e.to_string())?;
    let local = match within(span) {
        Some(b) => b,
        None => get(span).await?,
    };
    member.extract(&local).map_err(|e| e.to_string())
}

/// `<file url>.metadata` (appended to the path, so a query string stays one).
pub fn metadata_url(file: &Url) -> Url {
    let mut url = file.clone();
    url.set_path(&format!("{}.metadata", file.path()));
    url
}

/// The file pip would install from `files` (all of one version) in `env`: the wheel with the
/// best tag (then the highest build number), else the sdist unless `only_binary`.
pub fn best_file<'a>(
    env: &Environment,
    files: &[&'a DistFile],
    only_binary: bool,
) -> Option<&'a DistFile> {
    let python = Version::new([env.python_version.0, env.python_version.1, 0]);
    let usable = |f: &&&DistFile| {
        f.requires_python.as_ref().is_none_or(|spec| {
            pep508_rs::pep440_rs::release_specifiers_to_ranges(spec.clone()).contains(&python)
        })
    };
    let wheel = files
        .iter()
        .filter(usable)
        .filter_map(|f| {
            let w = f.wheel.as_ref()?;
            let priority = env.wheel_priority(&w.tags)?;
            Some((priority, std::cmp::Reverse(w.build.unwrap_or(0)), *f))
        })
        .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
        .map(|(_, _, f)| f);
    if wheel.is_some() || only_binary {
        return wheel;
    }
    files
        .iter()
        .filter(usable)
        .find(|f| f.wheel.is_none())
        .copied()
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: serde_json::Value,
    #[serde(rename = "core-metadata", default)]
    core_metadata: serde_json::Value,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: serde_json::Value,
}

fn hashes_of(map: &BTreeMap<String, String>) -> Vec<Hash> {
    map.iter()
        .filter_map(|(alg, hex)| Hash::from_hex(HashAlgorithm::from_name(alg)?, hex).ok())
        .collect()
}

/// Parses a PEP 691 page; files whose names or versions cannot be read are left out, as pip
/// does.
pub fn parse_page(body: &[u8], page_url: &Url) -> Result<ProjectPage, String> {
    let page: JsonPage =
        serde_json::from_slice(body).map_err(|e| format!("not a PEP 691 JSON page: {e}"))?;
    let mut files = Vec::new();
    for f in page.files {
        let Ok(url) = page_url.join(&f.url) else {
            continue;
        };
        let wheel = f.filename.parse::<WheelName>().ok();
        let version = match &wheel {
            Some(w) => Version::from_str(&w.version).ok(),
            None => dist_filename::parse(&f.filename).and_then(|(_, v)| Version::from_str(&v).ok()),
        };
        let Some(version) = version else {
            continue;
        };
        if wheel.is_none() && !is_sdist(&f.filename) {
            continue;
        }
        let metadata = if f.core_metadata.is_null() {
            &f.dist_info_metadata
        } else {
            &f.core_metadata
        };
        let (has_metadata, metadata_hashes) = match metadata {
            serde_json::Value::Bool(b) => (*b, Vec::new()),
            serde_json::Value::Object(map) => {
                let map: BTreeMap<String, String> = map
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect();
                (true, hashes_of(&map))
            }
            _ => (false, Vec::new()),
        };
        let mut url = url;
        url.set_fragment(None);
        files.push(DistFile {
            filename: f.filename,
            url,
            version,
            wheel,
            hashes: hashes_of(&f.hashes),
            requires_python: f
                .requires_python
                .as_deref()
                .and_then(|s| VersionSpecifiers::from_str(s).ok()),
            yanked: match f.yanked {
                serde_json::Value::Bool(b) => b,
                serde_json::Value::String(_) => true,
                _ => false,
            },
            has_metadata,
            metadata_hashes,
        });
    }
    Ok(ProjectPage {
        files,
        url: Some(page_url.clone()),
    })
}

fn is_sdist(filename: &str) -> bool {
    let lower = filename.to_ascii_lowercase();
    [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// `Requires-Dist` and `Provides-Extra` from a core metadata file (RFC 822 style headers; the
/// body after the first blank line is the description).
pub fn parse_metadata(text: &str) -> Metadata {
    let mut out = Metadata::default();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    for (name, value) in headers {
        match name.as_str() {
            "requires-dist" => match crate::warm::pep508::requirement(&value) {
                Ok(r) => out.requires_dist.push(r),
                Err(e) => tracing::debug!("ignoring Requires-Dist `{value}`: {e}"),
            },
            "provides-extra" => {
                if let Ok(e) = ExtraName::from_str(&value) {
                    out.provides_extra.push(e);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_best_files() {
        let body = br#"{"meta": {"api-version": "1.1"}, "name": "demo", "files": [
            {"filename": "demo-1.0.tar.gz", "url": "../../packages/aa/demo-1.0.tar.gz", "hashes": {"sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
            {"filename": "demo-1.0-py3-none-any.whl", "url": "../../packages/aa/demo-1.0-py3-none-any.whl", "hashes": {}, "core-metadata": {"sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}},
            {"filename": "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "url": "../../packages/aa/demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "hashes": {}, "dist-info-metadata": true, "requires-python": ">=3.12"},
            {"filename": "demo-2.0-cp313-cp313-win_amd64.whl", "url": "x", "yanked": "broken"},
            {"filename": "demo-latest.tar.gz", "url": "y"}
        ]}"#;
        let url = Url::parse("http://r/pypi/simple/demo/").unwrap();
        let page = parse_page(body, &url).unwrap();
        assert_eq!(page.files.len(), 4);
        assert_eq!(
            page.files[0].url.as_str(),
            "http://r/pypi/packages/aa/demo-1.0.tar.gz"
        );
        assert!(page.files[3].yanked);
        assert!(
            page.files[1].has_metadata && page.files[2].has_metadata && !page.files[0].has_metadata
        );
        let versions = page.versions();
        let (_, v1) = versions.iter().nth(1).unwrap();
        let linux = Environment::new("3.12", "manylinux_2_28_x86_64").unwrap();
        let old = Environment::new("3.11", "manylinux_2_28_x86_64").unwrap();
        let win = Environment::new("3.12", "win_amd64").unwrap();
        let pick = |env: &Environment| best_file(env, v1, false).unwrap().filename.clone();
        assert_eq!(
            pick(&linux),
            "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        );
        assert_eq!(pick(&old), "demo-1.0-py3-none-any.whl");
        assert_eq!(pick(&win), "demo-1.0-py3-none-any.whl");
        let sdist_only: Vec<&DistFile> = vec![&page.files[0]];
        assert_eq!(
            best_file(&win, &sdist_only, false).unwrap().filename,
            "demo-1.0.tar.gz"
        );
        assert!(best_file(&win, &sdist_only, true).is_none());
    }

    #[test]
    fn metadata_headers() {
        let text = "Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n\
            Requires-Dist: charset-normalizer (<4,>=2)\nRequires-Dist: idna <4,>=2.5\n\
            Requires-Dist: PySocks !=1.5.7,>=1.5.6 ; extra == 'socks'\n\
            Provides-Extra: socks\nDescription-Content-Type: text/markdown\n\n\
            Requires-Dist: not-a-header\n";
        let m = parse_metadata(text);
        let names: Vec<String> = m.requires_dist.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            names,
            [
                "charset-normalizer>=2,<4",
                "idna>=2.5,<4",
                "pysocks>=1.5.6,!=1.5.7 ; extra == 'socks'"
            ]
        );
        assert_eq!(m.provides_extra.len(), 1);
    }
}
