//! `uv.lock`: uv's universal lock. Registry packages list the URL and hash of their sdist and of
//! every wheel for every platform, so warming them all makes `uv sync --frozen` work offline on
//! any machine. Git, path, directory, editable and virtual sources are skipped.

use pep508_rs::PackageName;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{
    Hash, IndexRole, LOCAL_SOURCE, LockedFile, Plan, SkipKind, Source, VCS_CHECKOUT, bad_input,
};

const FIX: &str = "regenerate it with `uv lock`";

#[derive(Deserialize)]
struct Lock {
    version: Option<Spanned<u32>>,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    source: PackageSource,
    sdist: Option<Dist>,
    #[serde(default)]
    wheels: Vec<Dist>,
}

/// Exactly one key is set.
#[derive(Deserialize, Default)]
struct PackageSource {
    registry: Option<String>,
    git: Option<String>,
    url: Option<String>,
    path: Option<String>,
    directory: Option<String>,
    editable: Option<String>,
    #[serde(rename = "virtual")]
    virtual_: Option<String>,
}

#[derive(Deserialize)]
struct Dist {
    url: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    /// Wheels from a local find-links directory carry only a file name.
    filename: Option<Spanned<String>>,
    hash: Option<String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.toml(FIX)?;
    if let Some(version) = &lock.version
        && *version.get_ref() != 1
    {
        return Err(bad_input(
            &source.origin_at(version.span().start),
            format!(
                "uv.lock version {} is not supported (1 is)",
                version.get_ref()
            ),
            "update repox, or lock with a uv that writes version 1",
        ));
    }
    let mut plan = Plan::default();
    for package in &lock.package {
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
        let src = &package.source;
        if src.git.is_some() {
            plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            continue;
        }
        if src.path.is_some()
            || src.directory.is_some()
            || src.editable.is_some()
            || src.virtual_.is_some()
        {
            plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            continue;
        }
        // A registry is a URL, or a path for a local flat index (whose files are local too).
        let index = src.registry.as_deref().and_then(|r| Url::parse(r).ok());
        if let Some(index) = &index {
            plan.add_index(index.clone(), IndexRole::Source, origin.clone());
        }
        if package.sdist.is_none() && package.wheels.is_empty() {
            plan.skip(what, origin, SkipKind::Invalid, "no `sdist` or `wheels`");
            continue;
        }
        for dist in package.sdist.iter().chain(&package.wheels) {
            let at = [&dist.url, &dist.path, &dist.filename]
                .into_iter()
                .flatten()
                .next()
                .map(|s| s.span().start);
            let origin = at.map_or_else(|| origin.clone(), |at| source.origin_at(at));
            let hashes = match dist.hash.as_deref().map(|h| Hash::parse_prefixed(h, ':')) {
                Some(Ok(hash)) => vec![hash],
                Some(Err(why)) => {
                    plan.skip(what.clone(), origin, SkipKind::Invalid, why);
                    continue;
                }
                None => Vec::new(),
            };
            // A direct-URL source's sdist has only a hash: the archive is the source URL.
            let url = dist.url.as_ref().map(|u| u.get_ref().as_str()).or(
                if dist.path.is_none() && dist.filename.is_none() {
                    src.url.as_deref()
                } else {
                    None
                },
            );
            let path = dist
                .path
                .as_ref()
                .or(dist.filename.as_ref())
                .map(|p| p.get_ref().as_str());
            plan.add_locked_file(LockedFile {
                what: what.clone(),
                project: &project,
                version: package.version.as_deref(),
                filename: None,
                url,
                path,
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
    use super::super::tests::{error_text, fixture, items, skipped};

    #[test]
    fn registry_url_and_local_sources() {
        let plan = parse_file(&fixture("uv.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "13 pypi-file anyio 4.8.0 anyio-4.8.0.tar.gz url=https://files.pythonhosted.org/packages/a3/73/199a98fc2dae33535d6b8e8e6ec01f8c1d76c9adb096c6b7d64823038cde/anyio-4.8.0.tar.gz index=https://pypi.org/simple sha256:1d9fe889df5212298c0c0723fa20479d1b94883a2df44bd3897aa91083316f7a",
                "15 pypi-file anyio 4.8.0 anyio-4.8.0-py3-none-any.whl url=https://files.pythonhosted.org/packages/46/eb/e7f063ad1fec6b3178a3cd82d1a3c4de82cccf283fc42746168188e1cdd5/anyio-4.8.0-py3-none-any.whl index=https://pypi.org/simple sha256:b5011f270ab5eb0abf13385f851315585cc37ef330dd88e27ec3d34d651fd47a",
                "23 pypi-file torch 2.5.1+cpu torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl url=https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-linux_x86_64.whl index=https://download.pytorch.org/whl/cpu sha256:4856f9d6925121d13c2df07aa7580b767f449dfe71ae5acde9c27535d5da4840",
                "24 pypi-file torch 2.5.1+cpu torch-2.5.1+cpu-cp312-cp312-win_amd64.whl url=https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-win_amd64.whl index=https://download.pytorch.org/whl/cpu sha256:f2f4bb87ba1d5d5f3bb0e0e8a1c4e3b5a6c7d8e9f0a1b2c3d4e5f60718293a4b",
                "28 pypi-file urllib3 1.26.8 1.26.8.zip url=https://github.com/urllib3/urllib3/archive/refs/tags/1.26.8.zip sha256:8f5dd2b9a6a6cdd6c1d4e86bfb1d08eb3e1f3e6ba3f48a5ae3a1c7a2ad1c5a3e",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "34 demo-app 0.1.0: local source (path, directory or editable): nothing to fetch",
                "40 plugin 1.0.0: VCS checkout: warm does not cache git/hg/svn sources",
                "49 vendored 2.0: local file: already on disk, nothing to fetch",
                "! 56 broken 1.0: unknown hash algorithm `crc32` in `crc32:deadbeef`",
            ]
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uv.lock");
        fs_err::write(&path, "version = 9\nrevision = 1\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("uv.lock:1: uv.lock version 9 is not supported (1 is)"),
            "{err}"
        );
    }
}
