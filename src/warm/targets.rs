//! Where on repox each pinned item lives, and which index files a client reads before it: the
//! mapping from a lock file's upstream URLs (`registry.npmjs.org`, `conda.anaconda.org`,
//! crates.io) onto repox paths, for npm, cargo, conda and Maven. Python files need an index page
//! to find their repox URL and live in `pypi.rs`.
//!
//! An item's URL host picks the repository: the repository with an upstream at that address,
//! else, for the public registry the default config mirrors, the default repository of the
//! kind (so a lock written against the internet warms a repox configured with a mirror).
//! Anything else is skipped with the reason.

use std::collections::BTreeSet;

use url::Url;

use super::endpoint::{Endpoint, RepositoryInfo};
use super::fetch::Fetch;
use super::{CondaPackage, Crate, MavenArtifact, NpmTarball};

/// `Accept` values npm sends for the abbreviated and the full packument.
pub const NPM_ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
pub const NPM_FULL: &str = "application/json";

/// Hosts of the public registries the default configuration mirrors.
const PUBLIC_HOSTS: &[(&str, &str)] = &[
    ("npm", "registry.npmjs.org"),
    ("npm", "registry.yarnpkg.com"),
    ("npm", "registry.npmmirror.com"),
    ("conda", "conda.anaconda.org"),
    ("conda", "repo.anaconda.com"),
    ("conda", "prefix.dev"),
    ("conda", "conda.prefix.dev"),
    ("cargo", "index.crates.io"),
    ("cargo", "static.crates.io"),
    ("pypi", "pypi.org"),
    ("pypi", "files.pythonhosted.org"),
];

/// The repository for an upstream URL of `kind`: by upstream, else the default one when `url`
/// is on a public registry.
pub fn repository_for<'a>(
    endpoint: &'a Endpoint,
    kind: &str,
    url: &Url,
) -> Option<&'a RepositoryInfo> {
    endpoint.repository_for(kind, url).or_else(|| {
        let host = url.host_str()?.to_ascii_lowercase();
        PUBLIC_HOSTS
            .iter()
            .any(|(k, h)| *k == kind && *h == host)
            .then(|| endpoint.default_repository(kind))
            .flatten()
    })
}

/// Index files are fetched once however many items need them.
#[derive(Default)]
pub struct Seen(BTreeSet<String>);

impl Seen {
    fn first(&mut self, key: &str) -> bool {
        self.0.insert(key.to_owned())
    }

    /// True the first time a Maven artifact is followed (a POM's parent or BOM).
    pub fn first_artifact(&mut self, artifact: &MavenArtifact) -> bool {
        self.first(&format!("artifact {}", artifact.repository_path()))
    }
}

/// A Maven artifact: the file, its `.sha1`, its POM and the POM's `.sha1`, and the
/// `maven-metadata.xml` of the artifact (absent on some repositories, so optional).
pub fn maven(
    endpoint: &Endpoint,
    seen: &mut Seen,
    artifact: &MavenArtifact,
) -> Result<Vec<Fetch>, String> {
    let repo = endpoint
        .default_repository("maven")
        .ok_or("this repox has no Maven repository")?;
    let url = |path: &str| endpoint.url(&repo.name, path).map_err(|e| e.to_string());
    let origin = Some(artifact.origin.clone());
    let path = artifact.repository_path();
    let label = artifact_label(artifact);
    let mut fetches = Vec::new();
    let file = Fetch::package(url(&path)?, label.clone()).origin(origin.clone());
    // A POM's body is read for its parent and imported BOMs.
    fetches.push(if artifact.extension == "pom" {
        file.keep_body()
    } else {
        file
    });
    // Most repositories have a `.sha1` next to every file; some (Debian's) have none.
    fetches.push(
        Fetch::index(url(&format!("{path}.sha1"))?, format!("{label}.sha1"))
            .origin(origin.clone())
            .optional(),
    );
    if artifact.extension != "pom" || artifact.classifier.is_some() {
        let pom = MavenArtifact {
            classifier: None,
            extension: "pom".into(),
            ..artifact.clone()
        };
        let pom_path = pom.repository_path();
        if seen.first(&format!("maven {pom_path}")) {
            let pom_label = artifact_label(&pom);
            fetches.push(
                Fetch::index(url(&pom_path)?, pom_label.clone())
                    .origin(origin.clone())
                    .keep_body(),
            );
            fetches.push(
                Fetch::index(
                    url(&format!("{pom_path}.sha1"))?,
                    format!("{pom_label}.sha1"),
                )
                .origin(origin.clone())
                .optional(),
            );
        }
    }
    let metadata = format!(
        "{}/{}/maven-metadata.xml",
        artifact.group.replace('.', "/"),
        artifact.artifact
    );
    if seen.first(&format!("maven {metadata}")) {
        let label = format!(
            "{}:{} maven-metadata.xml",
            artifact.group, artifact.artifact
        );
        fetches.push(
            Fetch::index(url(&metadata)?, label)
                .origin(origin)
                .optional(),
        );
    }
    Ok(fetches)
}

/// `g:a:v[:c]@ext`.
pub fn artifact_label(a: &MavenArtifact) -> String {
    match &a.classifier {
        Some(c) => format!(
            "{}:{}:{}:{c}@{}",
            a.group, a.artifact, a.version, a.extension
        ),
        None => format!("{}:{}:{}@{}", a.group, a.artifact, a.version, a.extension),
    }
}

/// An npm tarball and both packument variants of its package.
pub fn npm(endpoint: &Endpoint, seen: &mut Seen, item: &NpmTarball) -> Result<Vec<Fetch>, String> {
    let unscoped = item.name.rsplit('/').next().unwrap_or(&item.name);
    let (repo, file) = match &item.tarball {
        Some(url) => {
            let repo = repository_for(endpoint, "npm", url).or_else(|| {
                // A private registry repox does not know: npm still asks repox's registry.
                url.path()
                    .contains("/-/")
                    .then(|| endpoint.default_repository("npm"))
                    .flatten()
            });
            let Some(repo) = repo else {
                return Err(format!(
                    "{url} is not an npm registry tarball; repox only serves registry packages"
                ));
            };
            let file = url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|f| f.ends_with(".tgz"))
                .map(String::from)
                .unwrap_or_else(|| format!("{unscoped}-{}.tgz", item.version));
            (repo, file)
        }
        None => (
            endpoint
                .default_repository("npm")
                .ok_or("this repox has no npm repository")?,
            format!("{unscoped}-{}.tgz", item.version),
        ),
    };
    let url = |path: &str| endpoint.url(&repo.name, path).map_err(|e| e.to_string());
    let origin = Some(item.origin.clone());
    let mut fetches = Vec::new();
    if seen.first(&format!("npm {} {}", repo.name, item.name)) {
        // npm spells a scoped name `@scope%2fname` in packument URLs.
        let escaped = item.name.replace('/', "%2f");
        let packument = url(&escaped)?;
        fetches.push(
            Fetch::index(
                packument.clone(),
                format!("{} (packument, abbreviated)", item.name),
            )
            .accept(NPM_ABBREVIATED)
            .origin(origin.clone()),
        );
        fetches.push(
            Fetch::index(packument, format!("{} (packument)", item.name))
                .accept(NPM_FULL)
                .origin(origin.clone()),
        );
    }
    fetches.push(
        Fetch::package(
            url(&format!("{}/-/{file}", item.name))?,
            format!("{}@{}", item.name, item.version),
        )
        .expect(item.hashes.clone())
        .origin(origin),
    );
    Ok(fetches)
}

/// A conda package and the `repodata.json` (plus `.zst`) of its subdir and of `noarch`.
pub fn conda(
    endpoint: &Endpoint,
    seen: &mut Seen,
    item: &CondaPackage,
) -> Result<Vec<Fetch>, String> {
    let (repo, channel) = conda_channel(endpoint, &item.channel).ok_or_else(|| {
        format!(
            "channel {} is not served by this repox: add its host as an upstream of a conda \
             repository",
            super::redacted(&item.channel)
        )
    })?;
    let url = |path: &str| endpoint.url(&repo.name, path).map_err(|e| e.to_string());
    let origin = Some(item.origin.clone());
    let mut fetches = Vec::new();
    let mut subdirs = vec![item.subdir.as_str()];
    if item.subdir != "noarch" {
        subdirs.push("noarch");
    }
    for subdir in subdirs {
        if !seen.first(&format!("conda {} {channel}/{subdir}", repo.name)) {
            continue;
        }
        let base = format!("{channel}/{subdir}/repodata.json");
        fetches.push(
            Fetch::index(url(&base)?, format!("{channel}/{subdir}/repodata.json"))
                .origin(origin.clone()),
        );
        fetches.push(
            Fetch::index(
                url(&format!("{base}.zst"))?,
                format!("{channel}/{subdir}/repodata.json.zst"),
            )
            .origin(origin.clone())
            .optional(),
        );
    }
    fetches.push(
        Fetch::package(
            url(&format!("{channel}/{}/{}", item.subdir, item.filename))?,
            format!("{channel}/{}/{}", item.subdir, item.filename),
        )
        .expect(item.hashes.clone())
        .origin(origin),
    );
    Ok(fetches)
}

/// The repository and the channel path below it (`conda-forge`, `pkgs/main`) for a channel URL.
fn conda_channel<'a>(
    endpoint: &'a Endpoint,
    channel: &Url,
) -> Option<(&'a RepositoryInfo, String)> {
    // A channel already on this repox: `/conda/conda-forge`.
    if let Some(below) = super::endpoint::strip_base(&endpoint.base, channel)
        && let Some((name, rest)) = below.split_once('/')
        && let Some(repo) = endpoint
            .repositories
            .iter()
            .find(|r| r.kind == "conda" && r.name == name)
    {
        return Some((repo, rest.trim_matches('/').to_owned()));
    }
    let path = channel.path().trim_matches('/');
    // An upstream whose base URL is a prefix of the channel URL.
    for repo in endpoint.repositories.iter().filter(|r| r.kind == "conda") {
        for up in &repo.upstreams {
            if up.url.host_str() == channel.host_str() && up.url.port() == channel.port() {
                let base = up.url.path().trim_matches('/');
                let rest = path.strip_prefix(base).unwrap_or(path).trim_matches('/');
                if !rest.is_empty() {
                    return Some((repo, rest.to_owned()));
                }
            }
        }
    }
    let repo = repository_for(endpoint, "conda", channel)?;
    (!path.is_empty()).then(|| (repo, path.to_owned()))
}

/// The cargo repository for a crate's registry (`None`: crates.io).
pub fn cargo_repository<'a>(
    endpoint: &'a Endpoint,
    registry: Option<&str>,
) -> Result<&'a RepositoryInfo, String> {
    match registry {
        None => endpoint
            .default_repository("cargo")
            .ok_or_else(|| "this repox has no cargo repository".to_string()),
        Some(source) => {
            let url = source.strip_prefix("sparse+").unwrap_or(source);
            let url = Url::parse(url).map_err(|e| format!("registry `{source}`: {e}"))?;
            repository_for(endpoint, "cargo", &url).ok_or_else(|| {
                format!(
                    "registry {source} is not an upstream of any cargo repository of this repox"
                )
            })
        }
    }
}

/// The sparse-index path of a crate: `1/a`, `2/ab`, `3/a/abc`, `se/rd/serde` (lowercase).
pub fn crate_index_path(name: &str) -> String {
    repox_proxy::ecosystem::cargo::index_path(name)
}

/// The download URL from a registry's `config.json` `dl` (cargo's registry-index docs: the
/// markers `{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`, `{sha256-checksum}`; without
/// any, `/{crate}/{version}/download` is appended).
pub fn crate_download_url(dl: &str, item: &Crate) -> Result<Url, String> {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    let text = if MARKERS.iter().any(|m| dl.contains(m)) {
        let prefix = repox_proxy::ecosystem::cargo::index_prefix(&item.name);
        let checksum = item
            .checksum
            .as_ref()
            .map(|h| h.hex.clone())
            .unwrap_or_default();
        dl.replace("{crate}", &item.name)
            .replace("{version}", &item.version)
            .replace("{prefix}", &prefix)
            .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
            .replace("{sha256-checksum}", &checksum)
    } else {
        format!(
            "{}/{}/{}/download",
            dl.trim_end_matches('/'),
            item.name,
            item.version
        )
    };
    Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Hash, HashAlgorithm, Origin};
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::for_tests(
            "http://127.0.0.1:8078/",
            &[
                ("maven", "maven", "http://127.0.0.1:9999/maven2/"),
                ("npm", "npm", "http://127.0.0.1:9999/npm/"),
                ("conda", "conda", "https://conda.anaconda.org/"),
                ("cargo", "cargo", "http://127.0.0.1:9999/index/"),
            ],
        )
    }

    fn origin() -> Origin {
        Origin::new(Path::new("lock"), Some(1))
    }

    fn urls(fetches: &[Fetch]) -> Vec<String> {
        fetches
            .iter()
            .map(|f| {
                let path = f.url.path();
                match f.accept {
                    Some(a) if a.starts_with("application/vnd.npm") => {
                        format!("{path} [abbreviated]")
                    }
                    Some(_) => format!("{path} [full]"),
                    None => path.to_string(),
                }
            })
            .collect()
    }

    #[test]
    fn maven_artifact_brings_pom_checksums_and_metadata() {
        let e = endpoint();
        let mut seen = Seen::default();
        let a = MavenArtifact {
            group: "org.slf4j".into(),
            artifact: "slf4j-api".into(),
            version: "2.0.13".into(),
            classifier: None,
            extension: "jar".into(),
            origin: origin(),
        };
        let fetches = maven(&e, &mut seen, &a).unwrap();
        assert_eq!(
            urls(&fetches),
            [
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar",
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar.sha1",
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.pom",
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.pom.sha1",
                "/maven/org/slf4j/slf4j-api/maven-metadata.xml",
            ]
        );
        let sources = MavenArtifact {
            classifier: Some("sources".into()),
            ..a
        };
        assert_eq!(
            urls(&maven(&e, &mut seen, &sources).unwrap()),
            [
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13-sources.jar",
                "/maven/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13-sources.jar.sha1",
            ]
        );
    }

    #[test]
    fn npm_tarballs_map_onto_the_registry() {
        let e = endpoint();
        let mut seen = Seen::default();
        let item = |name: &str, url: Option<&str>| NpmTarball {
            name: name.into(),
            version: "7.24.0".into(),
            tarball: url.map(|u| Url::parse(u).unwrap()),
            hashes: vec![],
            origin: origin(),
        };
        let scoped = item(
            "@babel/core",
            Some("https://registry.npmjs.org/@babel/core/-/core-7.24.0.tgz"),
        );
        assert_eq!(
            urls(&npm(&e, &mut seen, &scoped).unwrap()),
            [
                "/npm/@babel%2fcore [abbreviated]",
                "/npm/@babel%2fcore [full]",
                "/npm/@babel/core/-/core-7.24.0.tgz",
            ]
        );
        let private = item(
            "left-pad",
            Some("https://npm.corp.example/repo/left-pad/-/left-pad-7.24.0.tgz"),
        );
        assert_eq!(urls(&npm(&e, &mut seen, &private).unwrap()).len(), 3);
        let github = item("x", Some("https://codeload.github.com/a/x/tar.gz/abc"));
        assert!(
            npm(&e, &mut seen, &github)
                .unwrap_err()
                .contains("not an npm registry tarball")
        );
        let bare = item("@babel/core", None);
        assert_eq!(
            urls(&npm(&e, &mut seen, &bare).unwrap()),
            ["/npm/@babel/core/-/core-7.24.0.tgz"]
        );
    }

    #[test]
    fn conda_packages_bring_repodata_of_their_subdir_and_noarch() {
        let e = endpoint();
        let mut seen = Seen::default();
        let item = |channel: &str, subdir: &str, file: &str| CondaPackage {
            url: Url::parse(&format!("{channel}/{subdir}/{file}")).unwrap(),
            channel: Url::parse(channel).unwrap(),
            subdir: subdir.into(),
            filename: file.into(),
            hashes: vec![],
            origin: origin(),
        };
        let a = item(
            "https://conda.anaconda.org/conda-forge",
            "linux-64",
            "bzip2-1.0.8-h4bc722e_7.conda",
        );
        assert_eq!(
            urls(&conda(&e, &mut seen, &a).unwrap()),
            [
                "/conda/conda-forge/linux-64/repodata.json",
                "/conda/conda-forge/linux-64/repodata.json.zst",
                "/conda/conda-forge/noarch/repodata.json",
                "/conda/conda-forge/noarch/repodata.json.zst",
                "/conda/conda-forge/linux-64/bzip2-1.0.8-h4bc722e_7.conda",
            ]
        );
        let b = item(
            "https://repo.anaconda.com/pkgs/main",
            "noarch",
            "tzdata-2024a-h04d1e81_0.conda",
        );
        assert_eq!(
            urls(&conda(&e, &mut seen, &b).unwrap()),
            [
                "/conda/pkgs/main/noarch/repodata.json",
                "/conda/pkgs/main/noarch/repodata.json.zst",
                "/conda/pkgs/main/noarch/tzdata-2024a-h04d1e81_0.conda",
            ]
        );
        let c = item(
            "http://127.0.0.1:8078/conda/bioconda",
            "noarch",
            "x-1-0.tar.bz2",
        );
        assert_eq!(
            urls(&conda(&e, &mut seen, &c).unwrap())[0],
            "/conda/bioconda/noarch/repodata.json"
        );
        let d = item(
            "https://conda.corp.example/channel",
            "noarch",
            "x-1-0.tar.bz2",
        );
        assert!(conda(&e, &mut seen, &d).is_err());
    }

    #[test]
    fn crates() {
        assert_eq!(crate_index_path("a"), "1/a");
        assert_eq!(crate_index_path("ab"), "2/ab");
        assert_eq!(crate_index_path("Abc"), "3/a/abc");
        assert_eq!(crate_index_path("Serde_json"), "se/rd/serde_json");
        let item = Crate {
            name: "Serde".into(),
            version: "1.0.0".into(),
            checksum: Some(Hash::from_hex(HashAlgorithm::Sha256, &"ab".repeat(32)).unwrap()),
            registry: None,
            origin: origin(),
        };
        assert_eq!(
            crate_download_url("http://r/cargo/api/v1/crates", &item)
                .unwrap()
                .as_str(),
            "http://r/cargo/api/v1/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            crate_download_url(
                "http://r/dl/{lowerprefix}/{crate}/{crate}-{version}.crate?c={sha256-checksum}",
                &item
            )
            .unwrap()
            .as_str(),
            format!(
                "http://r/dl/se/rd/Serde/Serde-1.0.0.crate?c={}",
                "ab".repeat(32)
            )
        );
        let e = endpoint();
        assert_eq!(cargo_repository(&e, None).unwrap().name, "cargo");
        assert_eq!(
            cargo_repository(&e, Some("sparse+http://127.0.0.1:9999/index/"))
                .unwrap()
                .name,
            "cargo"
        );
        assert!(cargo_repository(&e, Some("sparse+https://corp.example/index/")).is_err());
    }
}
