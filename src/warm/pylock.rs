//! PEP 751 `pylock.toml`: the standard Python lock file. Every wheel and sdist carries its URL
//! (or a local path) and hashes, so each becomes a [`PypiFile`](super::PypiFile) fetched as is;
//! `vcs` and `directory` packages are skipped.

use std::collections::BTreeMap;

use pep508_rs::PackageName;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{
    Hash, HashAlgorithm, IndexRole, LOCAL_SOURCE, LockedFile, Plan, SkipKind, Source, VCS_CHECKOUT,
    bad_input,
};

const FIX: &str =
    "regenerate it with the tool that wrote it (`pip lock`, `uv export --format pylock.toml`, …)";

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lock-version")]
    lock_version: Option<Spanned<String>>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    index: Option<String>,
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
    archive: Option<Dist>,
    sdist: Option<Dist>,
    #[serde(default)]
    wheels: Vec<Dist>,
}

/// `packages.sdist`, `packages.wheels[]` and `packages.archive` share these keys.
#[derive(Deserialize)]
struct Dist {
    name: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.toml(FIX)?;
    match &lock.lock_version {
        Some(v) if v.get_ref().split('.').next() == Some("1") => {}
        Some(v) => {
            return Err(bad_input(
                &source.origin_at(v.span().start),
                format!("lock-version {} is not supported (1.x is)", v.get_ref()),
                "regenerate the lock with a tool that writes PEP 751 lock-version 1.0",
            ));
        }
        None => {
            return Err(bad_input(
                &source.origin(None),
                "no `lock-version`: this is not a PEP 751 pylock.toml",
                "pass the right --format, or regenerate the file",
            ));
        }
    }
    let mut plan = Plan::default();
    for package in &lock.packages {
        let origin = source.origin_at(package.name.span().start);
        let what = format!(
            "{} {}",
            package.name.get_ref(),
            package.version.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string();
        let project = match PackageName::new(package.name.get_ref().clone()) {
            Ok(project) => project,
            Err(err) => {
                plan.skip(what, origin, SkipKind::Invalid, err.to_string());
                continue;
            }
        };
        if package.vcs.is_some() {
            plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            continue;
        }
        if package.directory.is_some() {
            plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            continue;
        }
        let index = match package.index.as_deref().map(Url::parse) {
            Some(Ok(url)) => {
                plan.add_index(url.clone(), IndexRole::Source, origin.clone());
                Some(url)
            }
            Some(Err(err)) => {
                plan.skip(
                    what,
                    origin,
                    SkipKind::Invalid,
                    format!("bad `index`: {err}"),
                );
                continue;
            }
            None => None,
        };
        let dists: Vec<&Dist> = package
            .archive
            .iter()
            .chain(&package.sdist)
            .chain(&package.wheels)
            .collect();
        if dists.is_empty() {
            plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                "no `archive`, `sdist`, `wheels`, `vcs` or `directory`",
            );
            continue;
        }
        for dist in dists {
            let at = dist
                .url
                .as_ref()
                .or(dist.path.as_ref())
                .or(dist.name.as_ref())
                .map(|s| s.span().start);
            let origin = at.map_or_else(|| origin.clone(), |at| source.origin_at(at));
            let hashes = match hashes(&dist.hashes) {
                Ok(hashes) => hashes,
                Err(why) => {
                    plan.skip(what.clone(), origin, SkipKind::Invalid, why);
                    continue;
                }
            };
            plan.add_locked_file(LockedFile {
                what: what.clone(),
                project: &project,
                version: package.version.as_deref(),
                filename: dist.name.as_ref().map(|n| n.get_ref().clone()),
                url: dist.url.as_ref().map(|u| u.get_ref().as_str()),
                path: dist.path.as_ref().map(|p| p.get_ref().as_str()),
                hashes,
                index: index.as_ref(),
                origin,
            });
        }
    }
    Ok(plan)
}

/// `hashes = {sha256 = "…"}`: hashlib names; ones we cannot check are left out.
fn hashes(table: &BTreeMap<String, String>) -> Result<Vec<Hash>, String> {
    table
        .iter()
        .filter_map(|(name, hex)| {
            HashAlgorithm::from_name(name).map(|alg| Hash::from_hex(alg, hex))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error_text, fixture, items, skipped};
    use super::super::{Format, parse_file};

    #[test]
    fn packages_with_wheels_sdists_and_archives() {
        let plan = parse_file(&fixture("pylock.toml"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "22 pypi-file attrs 25.1.0 attrs-25.1.0.tar.gz url=https://files.pythonhosted.org/packages/49/7c/fdf464bcc51d23881d110abd74b512a42b3d5d376a55a831b44c603ae17f/attrs-25.1.0.tar.gz index=https://pypi.org/simple sha256:1c97078a80c814273a76b2a298a932eb681c87415c11dee0a6921de7f1b02c3e",
                "15 pypi-file attrs 25.1.0 attrs-25.1.0-py3-none-any.whl url=https://files.pythonhosted.org/packages/fc/30/d4986a882011f9df997a55e6becd864812ccfcd821d64aac8570ee39f719/attrs-25.1.0-py3-none-any.whl index=https://pypi.org/simple sha256:c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a",
                "31 pypi-file torch 2.5.1+cpu torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl url=https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-linux_x86_64.whl index=https://download.pytorch.org/whl/cpu sha256:4856f9d6925121d13c2df07aa7580b767f449dfe71ae5acde9c27535d5da4840",
                "37 pypi-file internal-tool 0.3 internal_tool-0.3.zip url=https://artifacts.example.com/python/internal_tool-0.3.zip sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "40 mylib 0.1: local source (path, directory or editable): nothing to fetch",
                "45 plugin 1.0: VCS checkout: warm does not cache git/hg/svn sources",
                "55 vendored 2.0: local file: already on disk, nothing to fetch",
                "! 61 broken 1.0: `abc` is not a sha256 digest (64 hex digits)",
            ]
        );
        assert_eq!(
            plan.indexes
                .iter()
                .map(|i| format!("{} {:?} {}", i.origin.line.unwrap(), i.role, i.url))
                .collect::<Vec<_>>(),
            [
                "8 Source https://pypi.org/simple",
                "27 Source https://download.pytorch.org/whl/cpu",
            ]
        );
    }

    #[test]
    fn newer_lock_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pylock.toml");
        fs_err::write(&path, "# future\nlock-version = '2.0'\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("pylock.toml:2: lock-version 2.0 is not supported (1.x is)"),
            "{err}"
        );
        fs_err::write(&path, "lock-version = '1.0'\n[[packages]\n").unwrap();
        let err = error_text(&parse_file(&path, Some(Format::Pylock)).unwrap_err());
        assert!(err.contains("pylock.toml:2: invalid TOML: "), "{err}");
        assert!(err.contains("hint: regenerate it"), "{err}");
    }
}
