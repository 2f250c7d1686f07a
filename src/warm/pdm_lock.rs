//! `pdm.lock`: each package lists its files as `{file, hash}` (looked up by name on the index) or,
//! with `pdm lock --static-urls`, as `{url, hash}` (fetched directly). Lock files before 4.0 kept
//! the files in `[metadata.files]` under `"name version"` keys. Git, path and editable packages
//! are skipped.

use std::collections::BTreeMap;

use pep508_rs::PackageName;
use serde::Deserialize;
use toml::Spanned;

use super::{Hash, LOCAL_SOURCE, LockedFile, Plan, SkipKind, Source, VCS_CHECKOUT};

const FIX: &str = "regenerate it with `pdm lock`";

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    files: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    files: Vec<File>,
    git: Option<String>,
    path: Option<String>,
    /// A direct-URL requirement: the archive itself.
    url: Option<String>,
    #[serde(default)]
    editable: bool,
}

#[derive(Deserialize)]
struct File {
    file: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    hash: Option<String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.toml(FIX)?;
    let mut plan = Plan::default();
    for package in &lock.package {
        let origin = source.origin_at(package.name.span().start);
        let version = package.version.as_deref();
        let what = format!("{} {}", package.name.get_ref(), version.unwrap_or(""))
            .trim_end()
            .to_string();
        let project = match PackageName::new(package.name.get_ref().clone()) {
            Ok(project) => project,
            Err(err) => {
                plan.skip(what, origin, SkipKind::Invalid, err.to_string());
                continue;
            }
        };
        if package.git.is_some() {
            plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            continue;
        }
        if package.editable || package.path.is_some() {
            plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            continue;
        }
        let legacy_key = format!("{} {}", package.name.get_ref(), version.unwrap_or(""));
        let files = if package.files.is_empty() {
            lock.metadata
                .files
                .get(&legacy_key)
                .map(Vec::as_slice)
                .unwrap_or_default()
        } else {
            &package.files
        };
        if files.is_empty() {
            match &package.url {
                Some(url) => plan.add_locked_file(LockedFile {
                    what,
                    project: &project,
                    version,
                    filename: None,
                    url: Some(url),
                    path: None,
                    hashes: Vec::new(),
                    index: None,
                    origin,
                }),
                None => plan.skip(what, origin, SkipKind::Invalid, "no `files` listed"),
            }
            continue;
        }
        for file in files {
            let at = file
                .url
                .as_ref()
                .or(file.file.as_ref())
                .map(|s| s.span().start);
            let origin = at.map_or_else(|| origin.clone(), |at| source.origin_at(at));
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
                version,
                filename: file.file.as_ref().map(|f| f.get_ref().clone()),
                url: file.url.as_ref().map(|u| u.get_ref().as_str()),
                path: None,
                hashes,
                index: None,
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
    fn files_urls_and_legacy_metadata() {
        let plan = parse_file(&fixture("pdm.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "19 pypi-file certifi 2024.8.30 certifi-2024.8.30-py3-none-any.whl sha256:922820b53db7a7257ffbda3f597266d435245903d80737e34f05a47f9e46d4f6",
                "20 pypi-file certifi 2024.8.30 certifi-2024.8.30.tar.gz sha256:bec941d2aa8195e248a60b31ff9f0558284cf01a52591ceda73ea9afffd69fd9",
                "29 pypi-file idna 3.10 idna-3.10-py3-none-any.whl url=https://files.pythonhosted.org/packages/76/c6/c88e154df9c4e1a2a66ccf0005a88dfb2650c1dffb6f5ce603dfbd452ce3/idna-3.10-py3-none-any.whl sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3",
                "33 pypi-file internal-tool 0.3 internal_tool-0.3.zip url=https://artifacts.example.com/python/internal_tool-0.3.zip",
                "59 pypi-file six 1.16.0 six-1.16.0-py2.py3-none-any.whl sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "39 plugin 1.0.0: VCS checkout: warm does not cache git/hg/svn sources",
                "46 mylib 0.1.0: local source (path, directory or editable): nothing to fetch",
            ]
        );
    }
}
