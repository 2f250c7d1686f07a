//! conda inputs that pin exact package URLs: `@EXPLICIT` spec files (`conda list --explicit`)
//! and `conda-lock.yml`. Both become [`CondaPackage`]s; conda-lock's `pip` entries become
//! [`PypiFile`](super::PypiFile)s. (`pixi.lock` has its own module.)

use std::collections::BTreeMap;

use pep508_rs::PackageName;
use serde::Deserialize;
use url::Url;

use super::{
    CondaPackage, Hash, HashAlgorithm, LOCAL_FILE, LockedFile, Origin, Plan, SkipKind, Source,
    VCS_CHECKOUT, Want, bad_input, is_http, url_filename, without_fragment,
};

/// A conda package at `url` (`{channel}/{subdir}/{filename}`), or why it cannot be one.
pub(super) fn conda_package(
    url: &Url,
    hashes: Vec<Hash>,
    origin: Origin,
) -> Result<CondaPackage, String> {
    let url = without_fragment(url);
    let filename = url_filename(&url).ok_or("the URL does not end in a file name")?;
    if !(filename.ends_with(".conda") || filename.ends_with(".tar.bz2")) {
        return Err(format!(
            "`{filename}` is not a conda package (.conda or .tar.bz2)"
        ));
    }
    let mut channel = url.clone();
    let subdir = {
        let mut segments = channel
            .path_segments_mut()
            .map_err(|()| "the URL has no path".to_string())?;
        segments.pop();
        segments.pop();
        url.path_segments()
            .and_then(|s| s.rev().nth(1))
            .filter(|s| !s.is_empty())
            .ok_or("the URL has no platform directory before the file name")?
            .to_string()
    };
    channel.set_query(None);
    Ok(CondaPackage {
        url,
        channel,
        subdir,
        filename,
        hashes,
        origin,
    })
}

/// `conda list --explicit [--md5|--sha256]` output: one URL per line, optionally followed by
/// `#<md5>`, `#<sha256>` or `#sha256:<sha256>` (conda's `misc.py` `url_pat`).
pub(super) fn parse_explicit(source: &Source) -> Plan {
    let mut plan = Plan::default();
    for (number, line) in source.text.lines().enumerate() {
        let origin = source.origin(u32::try_from(number + 1).ok());
        let line = line.trim();
        if line.is_empty() || line == "@EXPLICIT" {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            // conda writes these for packages it has no URL for (installed from a local file).
            if let Some(file) = comment.trim().strip_prefix("no URL for:") {
                plan.skip(
                    file.trim(),
                    origin,
                    SkipKind::Unsupported,
                    "conda recorded no URL for it; install it from its file",
                );
            }
            continue;
        }
        let (location, digest) = match line.split_once('#') {
            Some((location, digest)) => (location.trim(), Some(digest.trim())),
            None => (line, None),
        };
        let hashes = match digest.map(explicit_digest) {
            Some(Ok(hash)) => vec![hash],
            Some(Err(why)) => {
                plan.skip(line, origin, SkipKind::Invalid, why);
                continue;
            }
            None => Vec::new(),
        };
        match Url::parse(location) {
            Ok(url) if is_http(&url) => match conda_package(&url, hashes, origin.clone()) {
                Ok(package) => plan.items.push(Want::CondaPackage(package)),
                Err(why) => plan.skip(line, origin, SkipKind::Invalid, why),
            },
            Ok(url) if url.scheme() != "file" && url.scheme().len() > 1 => plan.skip(
                line,
                origin,
                SkipKind::Unsupported,
                format!("`{}` URLs cannot be fetched", url.scheme()),
            ),
            // conda reads anything else as a local path (`C:\…` parses as scheme `c`).
            _ => plan.skip(line, origin, SkipKind::Unsupported, LOCAL_FILE),
        }
    }
    plan
}

fn explicit_digest(digest: &str) -> Result<Hash, String> {
    let (algorithm, hex) = match digest.strip_prefix("sha256:") {
        Some(hex) => (HashAlgorithm::Sha256, hex),
        None if digest.len() == 64 => (HashAlgorithm::Sha256, digest),
        None => (HashAlgorithm::Md5, digest),
    };
    Hash::from_hex(algorithm, hex)
        .map_err(|_| format!("`#{digest}` is neither an md5 nor a sha256 digest"))
}

const CONDA_LOCK_FIX: &str = "regenerate it with `conda-lock lock`";

#[derive(Deserialize)]
struct CondaLock {
    version: Option<u32>,
    #[serde(default)]
    package: Vec<CondaLockPackage>,
}

#[derive(Deserialize)]
struct CondaLockPackage {
    name: String,
    #[serde(deserialize_with = "lenient_string")]
    version: String,
    manager: String,
    url: String,
    #[serde(default)]
    hash: BTreeMap<String, String>,
}

/// YAML reads `version: 1.10` as a number; take it back as text.
pub(super) fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    })
}

/// `conda-lock.yml` (format version 1): every package of every platform with its URL and hashes;
/// `manager: pip` entries are PyPI files.
pub(super) fn parse_conda_lock(source: &Source) -> anyhow::Result<Plan> {
    let lock: CondaLock = source.yaml(CONDA_LOCK_FIX)?;
    if lock.version != Some(1) {
        return Err(bad_input(
            &source.origin(source.find_line("version:", &mut 0)),
            format!(
                "conda-lock file format {} is not supported (1 is)",
                lock.version
                    .map_or("without a version".to_string(), |v| v.to_string())
            ),
            "regenerate it with conda-lock 1.0 or newer",
        ));
    }
    let mut plan = Plan::default();
    let mut cursor = 0;
    for package in &lock.package {
        let origin = source.origin(source.find_line(&package.url, &mut cursor));
        let what = format!("{} {}", package.name, package.version);
        let hashes: Result<Vec<Hash>, String> = package
            .hash
            .iter()
            .filter_map(|(name, hex)| {
                HashAlgorithm::from_name(name).map(|a| Hash::from_hex(a, hex))
            })
            .collect();
        let hashes = match hashes {
            Ok(hashes) => hashes,
            Err(why) => {
                plan.skip(what, origin, SkipKind::Invalid, why);
                continue;
            }
        };
        match package.manager.as_str() {
            "conda" => match Url::parse(&package.url) {
                Ok(url) if is_http(&url) => match conda_package(&url, hashes, origin.clone()) {
                    Ok(package) => plan.items.push(Want::CondaPackage(package)),
                    Err(why) => plan.skip(what, origin, SkipKind::Invalid, why),
                },
                _ => plan.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE),
            },
            "pip" => {
                let Ok(project) = PackageName::new(package.name.clone()) else {
                    plan.skip(what, origin, SkipKind::Invalid, "not a valid project name");
                    continue;
                };
                if package.url.starts_with("git+") {
                    plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
                    continue;
                }
                plan.add_locked_file(LockedFile {
                    what,
                    project: &project,
                    version: Some(&package.version),
                    filename: None,
                    url: Some(&package.url),
                    path: None,
                    hashes,
                    index: None,
                    origin,
                });
            }
            other => plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                format!("unknown manager `{other}` (conda or pip)"),
            ),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error_text, fixture, items, skipped};
    use super::super::{Format, parse_file};
    use super::*;

    #[test]
    fn explicit_spec_with_md5_and_sha256() {
        let plan = parse_file(&fixture("conda/explicit.txt"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "6 conda https://conda.anaconda.org/conda-forge linux-64 _libgcc_mutex-0.1-conda_forge.tar.bz2 md5:d7c89558ba9fa0495403155b64376d81",
                "7 conda https://conda.anaconda.org/conda-forge linux-64 bzip2-1.0.8-hd590300_5.conda sha256:242c0c324507ee172c0e0dd2045814e746bb303d1eb78870d182ceb0abc726a8",
                "8 conda https://conda.anaconda.org/conda-forge noarch tzdata-2024b-hc8b5060_0.conda sha256:4fde5c3008bf5d2db82f2b50204464314cc3c91c1d953652f7bd01d9e52aefdf",
                "9 conda https://repo.anaconda.com/pkgs/main linux-64 openssl-3.0.15-h5eee18b_0.conda",
                "10 conda https://conda.anaconda.org/t/tk-0123/private linux-64 secret-1.0-0.tar.bz2",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "! 11 https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3.1-hb9d3cd8_2.conda#1234: `#1234` is neither an md5 nor a sha256 digest",
                "12 /opt/pkgs/mypkg-1.0-0.tar.bz2: local file: already on disk, nothing to fetch",
                "13 mylocal-0.1-0.tar.bz2: conda recorded no URL for it; install it from its file",
                "! 14 https://conda.anaconda.org/conda-forge/linux-64/repodata.json: `repodata.json` is not a conda package (.conda or .tar.bz2)",
            ]
        );
    }

    #[test]
    fn channel_and_subdir_from_the_url() {
        let origin = Origin::new(std::path::Path::new("x"), None);
        let url = Url::parse(
            "https://mirror.example/conda/conda-forge/noarch/pip-24.2-pyh8b19718_1.conda?x=1",
        )
        .unwrap();
        let package = conda_package(&url, Vec::new(), origin.clone()).unwrap();
        assert_eq!(
            package.channel.as_str(),
            "https://mirror.example/conda/conda-forge"
        );
        assert_eq!(package.subdir, "noarch");
        assert_eq!(package.filename, "pip-24.2-pyh8b19718_1.conda");
        let url = Url::parse("https://host/pip-24.2-pyh8b19718_1.conda").unwrap();
        assert!(conda_package(&url, Vec::new(), origin).is_err());
    }

    #[test]
    fn conda_lock_with_pip_entries() {
        let plan = parse_file(&fixture("conda/conda-lock.yml"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "23 conda https://conda.anaconda.org/conda-forge linux-64 bzip2-1.0.8-h4bc722e_7.conda md5:62ee74e96c5ebb0af99386de58cf9553 sha256:5ced96500d945fb286c9c838e54fa759aa04a7129c59800f0846b4335cee770d",
                "34 conda https://conda.anaconda.org/conda-forge noarch python_abi-3.12-5_cp312.conda md5:0424ae29b104430108f5218a66db7260 sha256:d10e93d759931ffb6372b45d65ff34d95c6000c61a07e298d162a3bc2accebb0",
                "46 conda https://conda.anaconda.org/conda-forge osx-arm64 bzip2-1.0.8-h99b78c6_7.conda md5:fc6948412dbbbe9a4c9ddbbcfe0a79ab sha256:adfa71f158cbd872a36394c56c3568e6034aa55c623634b37a4836bd036e6b91",
                "69 pypi-file requests 2.32.3 requests-2.32.3-py3-none-any.whl url=https://files.pythonhosted.org/packages/f9/9b/335f9764261e915ed497fcdeb11df5dfd6f7bf257d4a6a2a686d80da4d54/requests-2.32.3-py3-none-any.whl sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
            ]
        );
        assert_eq!(
            skipped(&plan),
            ["79 plugin 1.0: VCS checkout: warm does not cache git/hg/svn sources"]
        );
    }

    #[test]
    fn conda_lock_version_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conda-lock.yml");
        fs_err::write(&path, "metadata: {}\nversion: 2\npackage: []\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("conda-lock.yml:2: conda-lock file format 2 is not supported (1 is)"),
            "{err}"
        );
        fs_err::write(&path, "version: 1\npackage:\n  - name: [\n").unwrap();
        let err = error_text(&parse_file(&path, Some(Format::CondaLock)).unwrap_err());
        assert!(
            err.contains("conda-lock.yml:3: invalid YAML: package[0].name: invalid type: sequence, expected a string"),
            "{err}"
        );
        fs_err::write(&path, "version: 1\npackage:\n- name: \"unterminated\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("conda-lock.yml:4: invalid YAML: found unexpected end of stream, while scanning a quoted scalar | hint"),
            "{err}"
        );
    }
}
