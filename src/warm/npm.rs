//! npm `package-lock.json` / `npm-shrinkwrap.json`. Versions 2 and 3 list every installed
//! package in a flat `packages` map keyed by its `node_modules/…` path; version 1 nests them in
//! `dependencies`. Each gives a tarball URL (`resolved`) and an SRI `integrity`. Symlinked
//! workspace packages, workspace folders and bundled dependencies (shipped inside their parent's
//! tarball) are left out without a warning; git and local `file:` dependencies are skipped.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::{
    Hash, LOCAL_SOURCE, NpmTarball, Origin, Plan, SkipKind, Source, VCS_CHECKOUT, Want, bad_input,
    is_http, without_fragment,
};

const FIX: &str = "regenerate it with `npm install --package-lock-only`";

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: Option<u32>,
    packages: Option<BTreeMap<String, Entry>>,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Dependency>,
}

/// An entry of the v2/v3 `packages` map.
#[derive(Deserialize)]
struct Entry {
    /// Set when the folder name is an alias (`"node_modules/lodash4": {"name": "lodash"}`).
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    link: bool,
    #[serde(default, rename = "inBundle")]
    in_bundle: bool,
}

/// A lockfile v1 dependency, with its own nested dependencies.
#[derive(Deserialize)]
struct V1Dependency {
    version: String,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    bundled: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Dependency>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let lock: Lock = source.json(FIX)?;
    let mut plan = Plan::default();
    match (lock.lockfile_version, &lock.packages) {
        (Some(1) | None, None) => add_v1(&mut plan, source, &lock.dependencies, &mut 0),
        (Some(2 | 3) | None, Some(packages)) => {
            let mut cursor = source.text.find("\"packages\"").unwrap_or(0);
            for (key, entry) in packages {
                // "" is the project itself; keys without node_modules/ are workspace folders.
                let Some(at) = key.rfind("node_modules/") else {
                    continue;
                };
                if entry.link || entry.in_bundle {
                    continue;
                }
                let line = source.find_line(&format!("\"{key}\": {{"), &mut cursor);
                let name = entry
                    .name
                    .clone()
                    .unwrap_or_else(|| key[at + "node_modules/".len()..].to_string());
                let Some(version) = &entry.version else {
                    plan.skip(name, source.origin(line), SkipKind::Invalid, "no `version`");
                    continue;
                };
                add(
                    &mut plan,
                    name,
                    version,
                    entry.resolved.as_deref(),
                    entry.integrity.as_deref(),
                    source.origin(line),
                );
            }
        }
        (version, packages) => {
            let what = match (version, packages) {
                (Some(2 | 3), None) => "has no `packages` map".to_string(),
                (Some(v), _) => format!("has lockfileVersion {v}; 1, 2 and 3 are supported"),
                (None, _) => "has no lockfileVersion".to_string(),
            };
            return Err(bad_input(
                &source.origin(source.find_line("\"lockfileVersion\"", &mut 0)),
                format!("this package-lock {what}"),
                FIX,
            ));
        }
    }
    Ok(plan)
}

/// Depth first, in file order, so each key is found after its parent's.
fn add_v1(
    plan: &mut Plan,
    source: &Source,
    dependencies: &BTreeMap<String, V1Dependency>,
    cursor: &mut usize,
) {
    for (key, dependency) in dependencies {
        let line = source.find_line(&format!("\"{key}\": {{"), cursor);
        if !dependency.bundled {
            // Aliases record `"version": "npm:real-name@1.2.3"`.
            let (name, version) = match dependency.version.strip_prefix("npm:") {
                Some(alias) => match alias.rfind('@').filter(|&at| at > 0) {
                    Some(at) => (alias[..at].to_string(), &alias[at + 1..]),
                    None => (key.clone(), alias),
                },
                None => (key.clone(), dependency.version.as_str()),
            };
            // Git and file dependencies put their source in `version`.
            let resolved = dependency
                .resolved
                .as_deref()
                .or(version.contains(':').then_some(version));
            add(
                plan,
                name,
                version,
                resolved,
                dependency.integrity.as_deref(),
                source.origin(line),
            );
        }
        add_v1(plan, source, &dependency.dependencies, cursor);
    }
}

fn add(
    plan: &mut Plan,
    name: String,
    version: &str,
    resolved: Option<&str>,
    integrity: Option<&str>,
    origin: Origin,
) {
    let what = format!("{name}@{version}");
    let tarball = match resolved {
        None => None,
        Some(resolved) => match Url::parse(resolved) {
            Ok(url) if is_http(&url) => Some(without_fragment(&url)),
            // npm's hosted-git shortcuts parse as schemes too (`github:org/repo#sha`).
            Ok(url)
                if url.scheme().starts_with("git")
                    || matches!(url.scheme(), "github" | "gitlab" | "bitbucket" | "gist") =>
            {
                return plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            }
            Ok(url) if url.scheme() == "file" => {
                return plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            }
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            }
            Ok(url) => {
                let why = format!("`{}:` sources cannot be fetched", url.scheme());
                return plan.skip(what, origin, SkipKind::Unsupported, why);
            }
            Err(err) => {
                let why = format!("`resolved` is not a URL ({err})");
                return plan.skip(what, origin, SkipKind::Invalid, why);
            }
        },
    };
    let hashes = match integrity.map(Hash::parse_sri) {
        Some(Ok(hashes)) => hashes,
        Some(Err(why)) => {
            return plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                format!("bad `integrity`: {why}"),
            );
        }
        None => Vec::new(),
    };
    plan.items.push(Want::NpmTarball(NpmTarball {
        name,
        version: version.to_string(),
        tarball,
        hashes,
        origin,
    }));
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{error_text, fixture, items, skipped};

    #[test]
    fn lockfile_v3_packages_map() {
        let plan = parse_file(&fixture("npm/v3/package-lock.json"), None).unwrap();
        // The alias `string-width-cjs` is the same tarball as `string-width` and is dropped.
        assert_eq!(
            items(&plan),
            [
                "23 npm @babel/code-frame@7.26.2 https://registry.npmjs.org/@babel/code-frame/-/code-frame-7.26.2.tgz sha512:4d888033eb968dd426322c85f0921e666266e5930d28ff879e4a3e42f4ba2b817e519b059a390416ed2c42bc30b17a92ded619aa2a28ea471af70b802eb267bb",
                "35 npm bundler@2.0.0 https://registry.npmjs.org/bundler/-/bundler-2.0.0.tgz sha512:b79e24436bf3d799dc44f89d92af6d3525738de53f244e0c8f8f2ed956c3a18622859103362ea064faa21e991c3f656973fe6c2a70f64681fcc0da78fd8b6eb3",
                "48 npm lodash@4.17.21 https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz sha512:596046b727c346b3c8cf1172d0768f71c46b8faefc8bde736b1d8c8b15c9413e514e48c72495ac77f6215b0ab2e04686f4f3950c02bf463c625a2d236a80079c",
                "61 npm string-width@4.2.3 https://registry.npmjs.org/string-width/-/string-width-4.2.3.tgz sha512:593d77681345387ad1c76235d5fd58fcab0e10018062fbff9b11e61b4a3ccbd42470c7fae1663dea211b02125a415b6799f4fef0743cc771b4f71bea6be192ef",
                "72 npm strip-ansi@6.0.1 https://registry.npmjs.org/strip-ansi/-/strip-ansi-6.0.1.tgz sha512:0b68c9c492e3126e8166974b26aed8f3d026674062ce665278861ca071d796737c8d1e07a33130eed85e4280a62350a2c7654cf8336e1069a8aec04353b6b75f sha1:e5569a3fd25d5763fb20b1abd25356421359dfbe",
                "77 npm ansi-regex@5.0.1",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "! 30 broken@1.0.0: bad `integrity`: unknown hash algorithm `md6` in `md6-AAAA`",
                "53 my-fork@1.0.0: VCS checkout: warm does not cache git/hg/svn sources",
            ]
        );
    }

    #[test]
    fn lockfile_v1_nested_dependencies() {
        let plan = parse_file(&fixture("npm/v1/package-lock.json"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "7 npm @types/node@20.11.5 https://registry.npmjs.org/@types/node/-/node-20.11.5.tgz sha1:f21170909a26f39315ca828e866c1c2b11ce1b5e",
                "13 npm debug@2.6.9 https://registry.npmjs.org/debug/-/debug-2.6.9.tgz sha512:225d05b918519458a8fcc1e6493a4e854c004da76f6250b8f52197f47094f71ee984725c31446a1967f0d55f4dc74793dd44d932f2bdf50d77d4288d663bf1ab",
                "21 npm ms@2.0.0 https://registry.npmjs.org/ms/-/ms-2.0.0.tgz sha1:0a1e250d6f21082698575d3e0cbb786d6793f265",
                "31 npm ms@2.1.3 https://registry.npmjs.org/ms/-/ms-2.1.3.tgz sha512:050c889a64c112721b4e22a219b4485e615e53c2f17285a64cceba224444d6f02f7989b0dac8fc553c4d2750946f68f9553a0d878e0cde0f90f3a6432374537f",
                "40 npm string-width@4.2.3 https://registry.npmjs.org/string-width/-/string-width-4.2.3.tgz sha512:593d77681345387ad1c76235d5fd58fcab0e10018062fbff9b11e61b4a3ccbd42470c7fae1663dea211b02125a415b6799f4fef0743cc771b4f71bea6be192ef",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "28 local-lib@file:../local-lib: local source (path, directory or editable): nothing to fetch",
                "36 my-fork@github:org/my-fork#0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c: VCS checkout: warm does not cache git/hg/svn sources",
            ]
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package-lock.json");
        fs_err::write(
            &path,
            "{\n  \"lockfileVersion\": 4,\n  \"packages\": {}\n}\n",
        )
        .unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains(
                "package-lock.json:2: this package-lock has lockfileVersion 4; 1, 2 and 3 are supported"
            ),
            "{err}"
        );
        fs_err::write(&path, "{\"lockfileVersion\": 2, \"dependencies\": {}}").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains(
                "package-lock.json:1: this package-lock has no `packages` map | hint: regenerate"
            ),
            "{err}"
        );
    }
}
