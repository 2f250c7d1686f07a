//! pipenv's `Pipfile.lock`: `default` and `develop` map each project to `==version`, markers and
//! the sha256 of every acceptable file, but name no files. Each entry becomes a pinned
//! [`PypiRequirement`](super::PypiRequirement) whose hashes select the files on its index
//! (`_meta.sources`). Entries from git, local paths and editables are skipped.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::{
    Hash, IndexRole, LOCAL_SOURCE, Plan, PypiRequirement, SkipKind, Source, VCS_CHECKOUT, Want,
    is_http, pypi_file_from_url,
};

const FIX: &str = "regenerate it with `pipenv lock`";

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "_meta", default)]
    meta: Meta,
    #[serde(default)]
    default: BTreeMap<String, Entry>,
    #[serde(default)]
    develop: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    sources: Vec<IndexSource>,
}

#[derive(Deserialize)]
struct IndexSource {
    name: String,
    url: String,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    index: Option<String>,
    markers: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    git: Option<String>,
    path: Option<String>,
    file: Option<String>,
    #[serde(default)]
    editable: bool,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.json(FIX)?;
    let mut plan = Plan::default();
    let mut cursor = 0;
    let mut indexes = BTreeMap::new();
    for index in &lock.meta.sources {
        let origin = source.origin(source.find_line(&format!("\"{}\"", index.url), &mut 0));
        match Url::parse(&index.url) {
            Ok(url) => {
                plan.add_index(url.clone(), IndexRole::Source, origin);
                indexes.insert(index.name.as_str(), url);
            }
            Err(err) => plan.skip(
                format!("source {}", index.name),
                origin,
                SkipKind::Invalid,
                format!(
                    "`{}` is not a URL ({err}); pipenv expands ${{VARS}} only in Pipfile",
                    index.url
                ),
            ),
        }
    }
    for (section, entries) in [("default", &lock.default), ("develop", &lock.develop)] {
        // Keys are sorted in the file as in the map, so each lookup continues from the last.
        source.find_line(&format!("\"{section}\""), &mut cursor);
        for (name, entry) in entries {
            let origin = source.origin(source.find_line(&format!("\"{name}\": {{"), &mut cursor));
            let version = entry.version.as_deref().filter(|v| *v != "*").unwrap_or("");
            let what = format!("{name}{version}");
            if entry.git.is_some() {
                plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
                continue;
            }
            if entry.editable || entry.path.is_some() {
                plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
                continue;
            }
            let hashes: Result<Vec<Hash>, String> = entry
                .hashes
                .iter()
                .map(|h| Hash::parse_prefixed(h, ':'))
                .collect();
            let hashes = match hashes {
                Ok(hashes) => hashes,
                Err(why) => {
                    plan.skip(what, origin, SkipKind::Invalid, why);
                    continue;
                }
            };
            if let Some(file) = &entry.file {
                match Url::parse(file) {
                    Ok(url) if is_http(&url) => {
                        let project = pep508_rs::PackageName::new(name.clone()).ok();
                        match pypi_file_from_url(&url, project, None, hashes, None, origin.clone())
                        {
                            Some(file) => plan.items.push(Want::PypiFile(file)),
                            None => plan.skip(
                                what,
                                origin,
                                SkipKind::Invalid,
                                "the URL does not end in a file name",
                            ),
                        }
                    }
                    _ => plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE),
                }
                continue;
            }
            let index = match entry.index.as_deref() {
                Some(index) => match indexes.get(index) {
                    Some(url) => Some(url.clone()),
                    None => {
                        let why = format!("index `{index}` is not in `_meta.sources`");
                        plan.skip(what, origin, SkipKind::Invalid, why);
                        continue;
                    }
                },
                None => None,
            };
            let extras = if entry.extras.is_empty() {
                String::new()
            } else {
                format!("[{}]", entry.extras.join(","))
            };
            let markers = entry
                .markers
                .as_deref()
                .map(|m| format!(" ; {m}"))
                .unwrap_or_default();
            match super::pep508::requirement(&format!("{name}{extras}{version}{markers}")) {
                Ok(requirement) => plan.items.push(Want::PypiRequirement(PypiRequirement {
                    requirement,
                    hashes,
                    index,
                    origin,
                })),
                Err(err) => {
                    let err: pep508_rs::Pep508Error<Url> = err;
                    plan.skip(what, origin, SkipKind::Invalid, err.message.to_string());
                }
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error_text, fixture, items, skipped};
    use super::super::{Format, parse_file};

    #[test]
    fn default_and_develop() {
        let plan = parse_file(&fixture("Pipfile.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "24 pypi-requirement certifi==2024.8.30 ; python_full_version >= '3.6' index=https://pypi.org/simple sha256:922820b53db7a7257ffbda3f597266d435245903d80737e34f05a47f9e46d4f6 sha256:bec941d2aa8195e248a60b31ff9f0558284cf01a52591ceda73ea9afffd69fd9",
                "59 pypi-file internal-tool 0.3 internal_tool-0.3.zip url=https://artifacts.example.com/python/internal_tool-0.3.zip",
                "37 pypi-requirement requests[socks]==2.32.3 index=https://pypi.org/simple sha256:55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760 sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
                "52 pypi-requirement torch==2.5.1+cpu index=https://download.pytorch.org/whl/cpu sha256:4856f9d6925121d13c2df07aa7580b767f449dfe71ae5acde9c27535d5da4840",
                "70 pypi-requirement certifi==2024.8.30 ; python_full_version >= '3.6' index=https://pypi.org/simple sha256:922820b53db7a7257ffbda3f597266d435245903d80737e34f05a47f9e46d4f6",
                "78 pypi-requirement pytest==8.3.3 ; python_full_version >= '3.8' sha256:a0c3f5a1e1b0a0b4a8e6b3a1ce9e0d4ce4c2b7e2f0c04d9f54c1a0a5f1e4e2d6",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "33 mylib: local source (path, directory or editable): nothing to fetch",
                "48 plugin: VCS checkout: warm does not cache git/hg/svn sources",
                "! 65 badindex==1.0: index `nowhere` is not in `_meta.sources`",
            ]
        );
        assert_eq!(
            plan.indexes
                .iter()
                .map(|i| i.origin.line.unwrap())
                .collect::<Vec<_>>(),
            [13, 18]
        );
    }

    #[test]
    fn invalid_json_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Pipfile.lock");
        fs_err::write(
            &path,
            "{\n  \"_meta\": {},\n  \"default\": {\n    \"six\": {,}\n  }\n}\n",
        )
        .unwrap();
        let err = error_text(&parse_file(&path, Some(Format::PipfileLock)).unwrap_err());
        assert!(err.contains("Pipfile.lock:4: invalid JSON: key must be a string | hint: regenerate it with `pipenv lock`"), "{err}");
    }
}
