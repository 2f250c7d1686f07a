//! `pixi.lock` (rattler-lock): every conda and PyPI package of every environment and platform,
//! each by URL with sha256 (and md5 for conda). Formats 4 and 5 tag entries with `kind:` and
//! give `url:`; formats 6 and 7 key them by `conda:` / `pypi:` with the location as the value.
//! Source packages (a path instead of an archive URL), editables and git entries are skipped.

use std::collections::BTreeMap;

use pep508_rs::PackageName;
use serde::Deserialize;
use url::Url;

use super::conda::{conda_package, lenient_string};
use super::{
    Hash, HashAlgorithm, IndexRole, LOCAL_SOURCE, LockedFile, Plan, SkipKind, Source, VCS_CHECKOUT,
    Want, bad_input, is_http,
};

const FIX: &str = "regenerate it with `pixi lock`";

#[derive(Deserialize)]
struct Lock {
    version: u32,
    #[serde(default)]
    environments: BTreeMap<String, Environment>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Environment {
    #[serde(default)]
    indexes: Vec<String>,
}

#[derive(Deserialize)]
struct Package {
    /// Formats 6 and 7.
    conda: Option<String>,
    pypi: Option<String>,
    /// Formats 4 and 5.
    kind: Option<String>,
    url: Option<String>,
    path: Option<String>,

    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_option")]
    version: Option<String>,
    sha256: Option<String>,
    md5: Option<String>,
    #[serde(default)]
    editable: bool,
}

fn lenient_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient_string(d).map(Some)
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.yaml(FIX)?;
    if !(4..=7).contains(&lock.version) {
        return Err(bad_input(
            &source.origin(source.find_line("version:", &mut 0)),
            format!(
                "pixi.lock version {} is not supported (4 to 7 are)",
                lock.version
            ),
            "regenerate it with a pixi release from 2024 or later (`pixi lock`)",
        ));
    }
    let mut plan = Plan::default();
    for environment in lock.environments.values() {
        for index in &environment.indexes {
            let origin = source.origin(source.find_line(index, &mut 0));
            match Url::parse(index) {
                Ok(url) => plan.add_index(url, IndexRole::Source, origin),
                Err(err) => plan.skip(
                    index.as_str(),
                    origin,
                    SkipKind::Invalid,
                    format!("not a valid index URL ({err})"),
                ),
            }
        }
    }
    let mut cursor = source.text.find("\npackages:").unwrap_or(0);
    for package in &lock.packages {
        let (is_conda, key, location) = match (&package.conda, &package.pypi) {
            (Some(location), _) => (true, "conda", Some(location)),
            (None, Some(location)) => (false, "pypi", Some(location)),
            (None, None) => match (&package.url, &package.path) {
                (Some(url), _) => (package.kind.as_deref() == Some("conda"), "url", Some(url)),
                (None, path) => (
                    package.kind.as_deref() == Some("conda"),
                    "path",
                    path.as_ref(),
                ),
            },
        };
        let Some(location) = location else {
            // Format 7 source packages and anything newer we do not know.
            let origin = source.origin(None);
            let what = package
                .name
                .clone()
                .unwrap_or_else(|| "package".to_string());
            plan.skip(
                what,
                origin,
                SkipKind::Unsupported,
                "not a conda or PyPI archive",
            );
            continue;
        };
        // `conda: .` is a source package: search with the key so `.` does not match anything.
        let origin = source.origin(source.find_line(&format!("{key}: {location}"), &mut cursor));
        let what = match (&package.name, &package.version) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            _ => location.clone(),
        };
        let mut hashes = Vec::new();
        for (algorithm, hex) in [
            (HashAlgorithm::Md5, &package.md5),
            (HashAlgorithm::Sha256, &package.sha256),
        ] {
            if let Some(hex) = hex {
                match Hash::from_hex(algorithm, hex) {
                    Ok(hash) => hashes.push(hash),
                    Err(why) => {
                        plan.skip(what.clone(), origin.clone(), SkipKind::Invalid, why);
                        hashes.clear();
                        break;
                    }
                }
            }
        }
        if location.starts_with("git+") {
            plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            continue;
        }
        if package.editable {
            plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            continue;
        }
        if is_conda {
            match Url::parse(location) {
                Ok(url) if is_http(&url) => match conda_package(&url, hashes, origin.clone()) {
                    Ok(package) => plan.items.push(Want::CondaPackage(package)),
                    Err(why) => plan.skip(what, origin, SkipKind::Invalid, why),
                },
                _ => plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE),
            }
            continue;
        }
        let Some(project) = package.name.clone().and_then(|n| PackageName::new(n).ok()) else {
            plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                "a PyPI entry needs a valid `name`",
            );
            continue;
        };
        let is_url = Url::parse(location).is_ok();
        plan.add_locked_file(LockedFile {
            what,
            project: &project,
            version: package.version.as_deref(),
            filename: None,
            url: is_url.then_some(location.as_str()),
            path: (!is_url).then_some(location.as_str()),
            hashes,
            index: None,
            origin,
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{error_text, fixture, items, skipped};

    #[test]
    fn version_6_conda_and_pypi() {
        let plan = parse_file(&fixture("conda/pixi.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "20 conda https://conda.anaconda.org/conda-forge linux-64 _libgcc_mutex-0.1-conda_forge.tar.bz2 md5:d7c89558ba9fa0495403155b64376d81 sha256:fe51de6107f9edc7aa4f786a70f4a883943bc9d39b3bb7307c04c41410990726",
                "26 conda https://conda.anaconda.org/conda-forge linux-64 bzip2-1.0.8-h4bc722e_7.conda md5:62ee74e96c5ebb0af99386de58cf9553 sha256:5ced96500d945fb286c9c838e54fa759aa04a7129c59800f0846b4335cee770d",
                "36 conda https://conda.anaconda.org/conda-forge osx-arm64 bzip2-1.0.8-h99b78c6_7.conda md5:fc6948412dbbbe9a4c9ddbbcfe0a79ab sha256:adfa71f158cbd872a36394c56c3568e6034aa55c623634b37a4836bd036e6b91",
                "47 pypi-file requests 2.32.3 requests-2.32.3-py3-none-any.whl url=https://files.pythonhosted.org/packages/f9/9b/335f9764261e915ed497fcdeb11df5dfd6f7bf257d4a6a2a686d80da4d54/requests-2.32.3-py3-none-any.whl sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "42 mypkg 0.1.0: local source (path, directory or editable): nothing to fetch",
                "57 mylib 0.1.0: local source (path, directory or editable): nothing to fetch",
                "63 plugin 1.0: VCS checkout: warm does not cache git/hg/svn sources",
            ]
        );
        assert_eq!(
            plan.indexes
                .iter()
                .map(|i| format!("{} {}", i.origin.line.unwrap(), i.url))
                .collect::<Vec<_>>(),
            ["7 https://pypi.org/simple"]
        );
    }

    #[test]
    fn version_5_kind_tagged() {
        let plan = parse_file(&fixture("conda/v5/pixi.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "16 conda https://conda.anaconda.org/conda-forge linux-64 bzip2-1.0.8-h4bc722e_7.conda md5:62ee74e96c5ebb0af99386de58cf9553 sha256:5ced96500d945fb286c9c838e54fa759aa04a7129c59800f0846b4335cee770d",
                "23 pypi-file requests 2.32.3 requests-2.32.3-py3-none-any.whl url=https://files.pythonhosted.org/packages/f9/9b/335f9764261e915ed497fcdeb11df5dfd6f7bf257d4a6a2a686d80da4d54/requests-2.32.3-py3-none-any.whl sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
            ]
        );
        assert_eq!(
            skipped(&plan),
            ["29 mylib 0.1.0: local source (path, directory or editable): nothing to fetch"]
        );
    }

    #[test]
    fn old_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pixi.lock");
        fs_err::write(&path, "version: 3\nenvironments: {}\npackages: []\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("pixi.lock:1: pixi.lock version 3 is not supported (4 to 7 are)"),
            "{err}"
        );
    }
}
