//! `poetry.lock`: pins every distribution file by name and hash but not by URL, so each file is
//! looked up on its index page: PyPI, or the `legacy` source named in `[package.source]`.
//! Lock format 1.x kept the files in `[metadata.files]`; 2.x keeps them per package.

use std::collections::BTreeMap;

use pep508_rs::PackageName;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{
    Hash, IndexRole, LOCAL_SOURCE, LockedFile, Plan, PypiRequirement, SkipKind, Source,
    VCS_CHECKOUT, Want,
};

const FIX: &str = "regenerate it with `poetry lock`";

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Package>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize, Default)]
struct Metadata {
    /// Lock format 1.x: `name = [{file, hash}]`.
    #[serde(default)]
    files: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: String,
    #[serde(default)]
    files: Vec<File>,
    source: Option<PackageSource>,
}

#[derive(Deserialize)]
struct File {
    file: Spanned<String>,
    hash: Option<String>,
}

#[derive(Deserialize)]
struct PackageSource {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.toml(FIX)?;
    let mut plan = Plan::default();
    for package in &lock.package {
        let origin = source.origin_at(package.name.span().start);
        let what = format!("{} {}", package.name.get_ref(), package.version);
        let project = match PackageName::new(package.name.get_ref().clone()) {
            Ok(project) => project,
            Err(err) => {
                plan.skip(what, origin, SkipKind::Invalid, err.to_string());
                continue;
            }
        };
        // `[package.source]`: absent for PyPI; `legacy` is another index; `url` a direct URL.
        let (index, direct_url) = match &package.source {
            None => (None, None),
            Some(src) => match (src.kind.as_str(), src.url.as_deref()) {
                ("git", _) => {
                    plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
                    continue;
                }
                ("file" | "directory", _) => {
                    plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
                    continue;
                }
                ("legacy", Some(url)) => match Url::parse(url) {
                    Ok(url) => {
                        plan.add_index(url.clone(), IndexRole::Source, origin.clone());
                        (Some(url), None)
                    }
                    Err(err) => {
                        let why = format!("bad source URL `{url}`: {err}");
                        plan.skip(what, origin, SkipKind::Invalid, why);
                        continue;
                    }
                },
                ("url", Some(url)) => (None, Some(url)),
                (kind @ ("legacy" | "url"), None) => {
                    let why = format!("a `{kind}` source needs a `url`");
                    plan.skip(what, origin, SkipKind::Invalid, why);
                    continue;
                }
                (kind, _) => {
                    let why = format!("unknown source type `{kind}`");
                    plan.skip(what, origin, SkipKind::Invalid, why);
                    continue;
                }
            },
        };
        let files = if package.files.is_empty() {
            lock.metadata
                .files
                .get(package.name.get_ref())
                .map(Vec::as_slice)
                .unwrap_or_default()
        } else {
            &package.files
        };
        if files.is_empty() {
            // Nothing pinned by file: let the resolver find the exact version.
            match format!("{}=={}", project, package.version).parse() {
                Ok(requirement) => plan.items.push(Want::PypiRequirement(PypiRequirement {
                    requirement,
                    hashes: Vec::new(),
                    index,
                    origin,
                })),
                Err(err) => {
                    let why = format!("bad version: {}", err.message);
                    plan.skip(what, origin, SkipKind::Invalid, why);
                }
            }
            continue;
        }
        for file in files {
            let origin = source.origin_at(file.file.span().start);
            let hashes = match file.hash.as_deref().map(|h| Hash::parse_prefixed(h, ':')) {
                Some(Ok(hash)) => vec![hash],
                Some(Err(why)) => {
                    plan.skip(what.clone(), origin, SkipKind::Invalid, why);
                    continue;
                }
                None => Vec::new(),
            };
            plan.add_locked_file(LockedFile {
                what: what.clone(),
                project: &project,
                version: Some(&package.version),
                filename: Some(file.file.get_ref().clone()),
                url: direct_url,
                path: None,
                hashes,
                index: index.as_ref(),
                origin,
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{fixture, items, skipped};

    #[test]
    fn files_by_name_on_their_index() {
        let plan = parse_file(&fixture("poetry.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "11 pypi-file anyio 4.13.0 anyio-4.13.0-py3-none-any.whl sha256:08b310f9e24a9594186fd75b4f73f4a4152069e3853f1ed8bfbf58369f4ad708",
                "12 pypi-file anyio 4.13.0 anyio-4.13.0.tar.gz sha256:334b70e641fd2221c1505b3890c69882fe4a2df910cba14d97019b90b24439dc",
                "26 pypi-file torch 2.5.1+cpu torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl index=https://download.pytorch.org/whl/cpu sha256:4856f9d6925121d13c2df07aa7580b767f449dfe71ae5acde9c27535d5da4840",
                "42 pypi-file internal-tool 0.3 internal_tool-0.3.zip url=https://artifacts.example.com/python/internal_tool-0.3.zip sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
                "79 pypi-requirement nofiles==1.2",
                "102 pypi-file six 1.16.0 six-1.16.0-py2.py3-none-any.whl sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "50 plugin 1.0.0: VCS checkout: warm does not cache git/hg/svn sources",
                "65 mylib 0.1.0: local source (path, directory or editable): nothing to fetch",
            ]
        );
        assert_eq!(plan.indexes.len(), 1);
        assert_eq!(plan.indexes[0].origin.line, Some(19));
    }
}
