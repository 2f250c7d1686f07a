//! pip requirements files, read the way pip reads them (`pip/_internal/req/req_file.py`): decode,
//! join `\` continuations, strip comments, expand `${VAR}`, then split each line into the
//! requirement and its options. `-r`/`-c` includes are followed relative to the including file.
//! Lines pip would accept but warm cannot fetch (editables, VCS, local paths) and lines pip
//! would reject are collected in [`Plan::skipped`] with their file and line.

mod lines;
mod options;

use std::path::{Component, Path, PathBuf};

use pep508_rs::{Pep508ErrorSource, VersionOrUrl};
use url::Url;

use lines::{break_args_options, decode, expand_env, logical_lines};
use options::{Opt, parse_options, pip_hash, split_list};

use super::{
    Hash, HashAlgorithm, IndexRole, Origin, Plan, PypiRequirement, SkipKind, Want, bad_input,
    is_http, pypi_file_from_url,
};

/// Parse `path` (whose content is `bytes`) and every file it includes.
pub(super) fn parse(
    path: &Path,
    bytes: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Plan> {
    let text = decode(bytes).map_err(|(line, what)| {
        bad_input(&Origin::new(path, line), what, "save the file as UTF-8")
    })?;
    let mut parser = Parser {
        env,
        plan: Plan::default(),
        stack: vec![fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())],
    };
    parser.file(path, &text, false);
    Ok(parser.plan)
}

struct Parser<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    plan: Plan,
    /// Canonical paths of the files being read, outermost first, to refuse include cycles.
    stack: Vec<PathBuf>,
}

impl Parser<'_> {
    fn file(&mut self, path: &Path, text: &str, constraint: bool) {
        for (number, line) in logical_lines(text) {
            let line = expand_env(&line, self.env);
            let origin = Origin::new(path, Some(number));
            let (requirement, options) = break_args_options(&line);
            if requirement.is_empty() {
                self.option_line(path, &line, options, origin, constraint);
            } else {
                self.requirement_line(&line, requirement, options, origin, constraint);
            }
        }
    }

    fn option_line(
        &mut self,
        path: &Path,
        line: &str,
        options: &str,
        origin: Origin,
        constraint: bool,
    ) {
        let options = match parse_options(options) {
            Ok(options) => options,
            Err(why) => return self.plan.skip(line, origin, SkipKind::Invalid, why),
        };
        for (opt, value) in options {
            match opt {
                Opt::IndexUrl | Opt::ExtraIndexUrl | Opt::FindLinks => {
                    self.index(line, opt, &value, origin.clone());
                }
                Opt::Requirement => self.include(path, line, &value, origin.clone(), false),
                Opt::Constraint => self.include(path, line, &value, origin.clone(), true),
                Opt::Editable => self.plan.skip(
                    line,
                    origin.clone(),
                    SkipKind::Unsupported,
                    "editable requirement: warm does not cache local or VCS checkouts",
                ),
                Opt::NoIndex => self.plan.pip.no_index = true,
                Opt::Pre => self.plan.pip.pre = true,
                Opt::PreferBinary => self.plan.pip.prefer_binary = true,
                Opt::RequireHashes => self.plan.pip.require_hashes = true,
                Opt::NoRequireHashes => self.plan.pip.require_hashes = false,
                Opt::OnlyBinary => self.plan.pip.only_binary.extend(split_list(&value)),
                Opt::NoBinary => self.plan.pip.no_binary.extend(split_list(&value)),
                Opt::AllReleases => self.plan.pip.all_releases.extend(split_list(&value)),
                Opt::OnlyFinal => self.plan.pip.only_final.extend(split_list(&value)),
                Opt::Hash => self.plan.skip(
                    line,
                    origin.clone(),
                    SkipKind::Invalid,
                    "--hash without a requirement: put it on the requirement's line \
                     (end the previous line with `\\` to continue it)",
                ),
                Opt::TrustedHost | Opt::UseFeature | Opt::ConfigSettings | Opt::GlobalOption => {}
            }
        }
        let _ = constraint;
    }

    fn index(&mut self, line: &str, opt: Opt, value: &str, origin: Origin) {
        let role = match opt {
            Opt::IndexUrl => IndexRole::Primary,
            Opt::ExtraIndexUrl => IndexRole::Extra,
            _ => IndexRole::FindLinks,
        };
        match Url::parse(value) {
            Ok(url) if is_http(&url) => self.plan.add_index(url, role, origin),
            Ok(url) if url.scheme() == "file" && role == IndexRole::FindLinks => {
                self.plan
                    .skip(line, origin, SkipKind::Unsupported, LOCAL_LINKS);
            }
            Err(url::ParseError::RelativeUrlWithoutBase) if role == IndexRole::FindLinks => {
                self.plan
                    .skip(line, origin, SkipKind::Unsupported, LOCAL_LINKS);
            }
            Ok(url) => self.plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                format!(
                    "`{}` index URLs are not supported; use http or https",
                    url.scheme()
                ),
            ),
            Err(err) => self.plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                format!("`{value}` is not a URL ({err})"),
            ),
        }
    }

    /// `-r`/`-c`: read the named file relative to the including one. pip reads a `-r` inside a
    /// constraints file as requirements, so `constraint` is what this option says, not the
    /// including file's kind.
    fn include(&mut self, path: &Path, line: &str, value: &str, origin: Origin, constraint: bool) {
        if value.contains("://") {
            return self.plan.skip(
                line,
                origin,
                SkipKind::Unsupported,
                "remote requirements file: download it and pass the copy to `repox warm`",
            );
        }
        let target = join_lexically(path.parent().unwrap_or(Path::new("")), Path::new(value));
        let loaded = super::input_file::read(&target).and_then(|bytes| {
            let canonical = std::fs::canonicalize(&target)?;
            Ok((canonical, bytes))
        });
        let (canonical, bytes) = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                let why = format!("cannot read {}: {err}", target.display());
                return self.plan.skip(line, origin, SkipKind::Invalid, why);
            }
        };
        if self.stack.contains(&canonical) {
            return self.plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                "include cycle: that file is already being read; remove this line",
            );
        }
        let text = match decode(&bytes) {
            Ok(text) => text,
            Err((at, what)) => {
                let at = at.map(|l| format!(":{l}")).unwrap_or_default();
                return self.plan.skip(
                    line,
                    origin,
                    SkipKind::Invalid,
                    format!("{}{at}: {what}; save it as UTF-8", target.display()),
                );
            }
        };
        self.stack.push(canonical);
        self.file(&target, &text, constraint);
        self.stack.pop();
    }

    fn requirement_line(
        &mut self,
        line: &str,
        requirement: &str,
        options: &str,
        origin: Origin,
        constraint: bool,
    ) {
        let mut hashes = Vec::new();
        match parse_options(options) {
            Ok(options) => {
                for (opt, value) in options {
                    if opt != Opt::Hash {
                        // pip parses but ignores other options on a requirement line.
                        continue;
                    }
                    match pip_hash(&value) {
                        Ok(hash) => hashes.push(hash),
                        Err(why) => return self.plan.skip(line, origin, SkipKind::Invalid, why),
                    }
                }
            }
            Err(why) => return self.plan.skip(line, origin, SkipKind::Invalid, why),
        }
        if !hashes.is_empty() {
            // pip: any `--hash` turns on hash-checking mode for the whole install.
            self.plan.pip.require_hashes = true;
        }

        // pip splits markers off URL and path requirements at "; ".
        let bare = requirement
            .split_once("; ")
            .map_or(requirement, |(spec, _)| spec)
            .trim();
        if is_vcs(bare) {
            return self.plan.skip(line, origin, SkipKind::Unsupported, VCS);
        }
        if is_url(bare) {
            return self.url_line(line, bare, hashes, origin, constraint);
        }
        if looks_like_path(requirement) {
            return self
                .plan
                .skip(line, origin, SkipKind::Unsupported, LOCAL_PATH);
        }

        let parsed = match super::pep508::requirement(requirement) {
            Ok(parsed) => parsed,
            Err(err) => {
                if let Pep508ErrorSource::UrlError(url::ParseError::RelativeUrlWithoutBase) =
                    err.message
                {
                    return self
                        .plan
                        .skip(line, origin, SkipKind::Unsupported, LOCAL_PATH);
                }
                return self.plan.skip(
                    line,
                    origin,
                    SkipKind::Invalid,
                    format!("not a PEP 508 requirement: {}", err.message),
                );
            }
        };
        let url = match &parsed.version_or_url {
            Some(VersionOrUrl::Url(url)) if !constraint => url.clone(),
            _ => {
                let want = PypiRequirement {
                    requirement: parsed,
                    hashes,
                    index: None,
                    origin,
                };
                if constraint {
                    self.plan.constraints.push(want);
                } else {
                    self.plan.items.push(Want::PypiRequirement(want));
                }
                return;
            }
        };
        if is_vcs(url.as_str()) {
            return self.plan.skip(line, origin, SkipKind::Unsupported, VCS);
        }
        if url.scheme() == "file" {
            return self
                .plan
                .skip(line, origin, SkipKind::Unsupported, LOCAL_PATH);
        }
        self.url_file(line, &url, Some(parsed.name), hashes, origin);
    }

    /// A bare URL line: `https://host/pkg-1.0-py3-none-any.whl#sha256=…`.
    fn url_line(
        &mut self,
        line: &str,
        spec: &str,
        hashes: Vec<Hash>,
        origin: Origin,
        constraint: bool,
    ) {
        if constraint {
            return self.plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                "a constraint must name its project (`name @ URL`), as pip requires",
            );
        }
        let url = match Url::parse(spec) {
            Ok(url) => url,
            Err(err) => {
                return self.plan.skip(
                    line,
                    origin,
                    SkipKind::Invalid,
                    format!("not a valid URL: {err}"),
                );
            }
        };
        if url.scheme() == "file" {
            return self
                .plan
                .skip(line, origin, SkipKind::Unsupported, LOCAL_PATH);
        }
        let project = fragment_value(&url, "egg").and_then(|egg| {
            // `#egg=name-1.0` and `#egg=name[extra]` occur; the name is the first part.
            let name = egg.split(['[', '-']).next().unwrap_or(&egg).to_string();
            pep508_rs::PackageName::new(name).ok()
        });
        self.url_file(line, &url, project, hashes, origin);
    }

    fn url_file(
        &mut self,
        line: &str,
        url: &Url,
        project: Option<pep508_rs::PackageName>,
        mut hashes: Vec<Hash>,
        origin: Origin,
    ) {
        if !is_http(url) {
            return self.plan.skip(
                line,
                origin,
                SkipKind::Unsupported,
                format!(
                    "`{}` URLs cannot be fetched; use http or https",
                    url.scheme()
                ),
            );
        }
        // pip's Link reads `#<algorithm>=<hex>` from the fragment.
        for (key, value) in url.fragment().map(fragment_pairs).unwrap_or_default() {
            if HashAlgorithm::from_name(&key).is_some() {
                match Hash::parse_prefixed(&format!("{key}={value}"), '=') {
                    Ok(hash) if !hashes.contains(&hash) => hashes.push(hash),
                    Ok(_) => {}
                    Err(why) => return self.plan.skip(line, origin, SkipKind::Invalid, why),
                }
            }
        }
        match pypi_file_from_url(url, project, None, hashes, None, origin.clone()) {
            Some(file) => self.plan.items.push(Want::PypiFile(file)),
            None => self.plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                "the URL does not end in a file name",
            ),
        }
    }
}

const VCS: &str = "VCS requirement: warm cannot cache a checkout; depend on a released version \
                   or an archive URL instead";
const LOCAL_PATH: &str = "local path: already on disk, nothing to fetch";
const LOCAL_LINKS: &str = "local --find-links directory: already on disk, nothing to fetch";

fn is_vcs(spec: &str) -> bool {
    let lower = spec.to_ascii_lowercase();
    ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// `scheme://…` or `file:…`.
fn is_url(spec: &str) -> bool {
    if spec.to_ascii_lowercase().starts_with("file:") {
        return true;
    }
    match spec.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// pip treats a requirement as a path when it has a path separator or starts with `.`, or
/// names an archive (and is not `name @ url`).
fn looks_like_path(spec: &str) -> bool {
    let spec = spec.split(';').next().unwrap_or(spec).trim();
    if spec.contains('@') {
        let before = spec.split('@').next().unwrap_or(spec);
        return before.contains(['/', '\\']) || before.starts_with('.');
    }
    let lower = spec.to_ascii_lowercase();
    spec.contains(['/', '\\'])
        || spec.starts_with('.')
        || [
            ".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn fragment_pairs(fragment: &str) -> Vec<(String, String)> {
    fragment
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fragment_value(url: &Url, key: &str) -> Option<String> {
    fragment_pairs(url.fragment()?)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `base/rel` with `.` and `name/..` removed, so origins read `reqs/shared/x.txt`, not
/// `reqs/base/../shared/x.txt`.
fn join_lexically(base: &Path, rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in base.join(rel).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, items, skipped};
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PYPI_TOKEN" => Some("s3cret".to_string()),
            "EXTRA_HOST" => Some("download.pytorch.org".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn parse_fixture(rel: &str) -> Plan {
        let path = fixture(rel);
        let bytes = fs_err::read(&path).unwrap();
        parse(&path, &bytes, &env).unwrap()
    }

    /// Origins relative to the fixture directory: `file:line`.
    fn origins<'a>(origins: impl Iterator<Item = &'a Origin>) -> Vec<String> {
        let root = fixture("requirements");
        origins
            .map(|o| {
                let rel = o.path.strip_prefix(&root).unwrap().display().to_string();
                format!("{rel}:{}", o.line.unwrap())
            })
            .collect()
    }

    #[test]
    fn the_full_grammar() {
        let plan = parse_fixture("requirements/requirements.txt");
        assert_eq!(
            items(&plan),
            [
                "2 pypi-requirement attrs==25.1.0 sha256:c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a",
                "2 pypi-requirement idna>=3.7",
                "10 pypi-requirement requests[socks]>=2.31,<3 ; python_full_version >= '3.9'",
                "11 pypi-requirement numpy==2.2.3 sha256:83807d445817326b4bcdaaaf8e8e9f1753da04341eceec705c001ff342002e5d sha256:3b787adbf04b0db1967798dba8da1af07e387908ed1553a0d6e74c084d1ceafe",
                "14 pypi-file urllib3 ? 1.26.8.zip url=https://github.com/urllib3/urllib3/archive/refs/tags/1.26.8.zip",
                "15 pypi-file foo 1.0 foo-1.0-py3-none-any.whl url=https://example.org/pkgs/foo-1.0-py3-none-any.whl sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                "16 pypi-file private-pkg 1.0 private_pkg-1.0.tar.gz url=https://***@pypi.corp.example/files/private_pkg-1.0.tar.gz",
                "21 pypi-requirement django>=4.2,<5.0 sha256:922820b53db7a7257ffbda3f597266d435245903d80737e34f05a47f9e46d4f6",
                "22 pypi-requirement torch==2.3.0+cpu ; sys_platform == 'linux'",
                "23 pypi-requirement flask[async,dotenv]~=3.0",
                "24 pypi-requirement zope-interface==6.0",
                "29 pypi-file bar 2.0 bar-2.0.tar.gz url=https://example.org/pkgs/bar-2.0.tar.gz sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
                "31 pypi-requirement six==1.16.0",
            ]
        );
        // The token was expanded from the environment; listings redact it.
        let Want::PypiFile(private) = &plan.items[6] else {
            panic!("{:?}", plan.items[6])
        };
        assert_eq!(
            private.url.as_ref().unwrap().as_str(),
            "https://s3cret@pypi.corp.example/files/private_pkg-1.0.tar.gz"
        );
        // Which file each item came from: includes keep their own path and lines.
        assert_eq!(
            origins(plan.items.iter().map(Want::origin))[..3],
            [
                "base/common.txt:2",
                "shared/extra.txt:2",
                "requirements.txt:10"
            ]
        );
        let root = format!("{}/", fixture("requirements").display());
        assert_eq!(
            skipped(&plan)
                .iter()
                .map(|s| s.replace(&root, "<dir>/"))
                .collect::<Vec<_>>(),
            [
                "! 3 -r ../requirements.txt: include cycle: that file is already being read; remove this line",
                "5 -e .: editable requirement: warm does not cache local or VCS checkouts",
                "17 -e ./libs/mylib: editable requirement: warm does not cache local or VCS checkouts",
                "18 --editable git+https://github.com/org/proj.git@v1.2#egg=proj: editable requirement: warm does not cache local or VCS checkouts",
                "19 git+https://github.com/org/other.git@main#egg=other: VCS requirement: warm cannot cache a checkout; depend on a released version or an archive URL instead",
                "20 ./dist/local_pkg-0.1-py3-none-any.whl: local path: already on disk, nothing to fetch",
                "! 25 bogus===: not a PEP 508 requirement: Unexpected end of version specifier, expected version",
                "! 26 weak==1.0 --hash=md5:d41d8cd98f00b204e9800998ecf8427e: pip accepts only sha256, sha384 and sha512 hashes, not md5",
                "! 27 -r missing.txt: cannot read <dir>/missing.txt: No such file or directory (os error 2)",
                "! 28 pkg-token==${UNSET_VERSION}: not a PEP 508 requirement: expected version to start with a number, but no leading ASCII digits were found",
                "30 shared-lib @ ../shared/lib-1.0.tar.gz: local path: already on disk, nothing to fetch",
            ]
        );
        assert_eq!(
            origins(plan.skipped.iter().map(|s| &s.origin))[..3],
            [
                "shared/extra.txt:3",
                "base/common.txt:5",
                "requirements.txt:17"
            ]
        );
        assert_eq!(
            plan.indexes
                .iter()
                .map(|i| format!("{:?} {} {}", i.role, i.url, i.origin.line.unwrap()))
                .collect::<Vec<_>>(),
            [
                "Primary http://127.0.0.1:8080/pypi/simple/ 3",
                "Extra https://download.pytorch.org/whl/cpu 4",
            ]
        );
        assert_eq!(
            plan.constraints
                .iter()
                .map(|c| format!("{} {}", c.origin.line.unwrap(), c.requirement))
                .collect::<Vec<_>>(),
            [
                "2 charset-normalizer<4",
                "3 urllib3<2 ; python_full_version < '3.10'",
                "1 packaging==24.1",
            ]
        );
        assert_eq!(
            origins(plan.constraints.iter().map(|c| &c.origin)),
            ["constraints.txt:2", "constraints.txt:3", "more.txt:1"]
        );
        assert!(plan.pip.pre);
        assert!(plan.pip.require_hashes, "implied by --hash");
        assert_eq!(plan.pip.only_binary, [":all:"]);
        assert_eq!(plan.pip.no_binary, ["pyyaml", "lxml"]);
    }

    #[test]
    fn include_cycle_and_undecodable_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        fs_err::write(&a, "-r b.txt\nsix\n").unwrap();
        fs_err::write(dir.path().join("b.txt"), "-r ./a.txt\nidna\n").unwrap();
        let plan = parse(&a, &fs_err::read(&a).unwrap(), &env).unwrap();
        assert_eq!(
            items(&plan),
            ["2 pypi-requirement idna", "2 pypi-requirement six"]
        );
        assert_eq!(plan.skipped.len(), 1);
        assert!(plan.skipped[0].origin.path.ends_with("b.txt"));
        assert!(
            plan.skipped[0].why.contains("include cycle"),
            "{:?}",
            plan.skipped
        );

        let path = dir.path().join("requirements.txt");
        let err = parse(&path, b"idna\n# caf\xe9\n", &env).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("requirements.txt:2: not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn includes_of_devices_are_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("requirements.txt");
        fs_err::write(&a, "-r /dev/zero\n-c /dev/zero\nsix\n").unwrap();
        let plan = parse(&a, &fs_err::read(&a).unwrap(), &env).unwrap();
        assert_eq!(items(&plan), ["3 pypi-requirement six"]);
        assert_eq!(plan.skipped.len(), 2, "{:?}", plan.skipped);
        for skipped in &plan.skipped {
            assert!(
                skipped
                    .why
                    .starts_with("cannot read /dev/zero: it is a device"),
                "{:?}",
                plan.skipped
            );
        }
    }

    #[test]
    fn paths_join_lexically() {
        assert_eq!(
            join_lexically(Path::new("reqs/base"), Path::new("../shared/./x.txt")),
            Path::new("reqs/shared/x.txt")
        );
        assert_eq!(
            join_lexically(Path::new(""), Path::new("../x.txt")),
            Path::new("../x.txt")
        );
    }
}
