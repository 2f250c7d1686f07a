//! Property tests of every `repox warm` input format (see `crate::fuzz`): the fixtures of
//! `tests/fixtures/warm` with random edits, generated lines for the line formats, and random
//! bytes, each parsed as its format (forced, and detected), must give a plan or an error naming
//! the file, never a panic. The `--python`/`--platform` values, wheel and sdist file names and
//! hash strings are checked the same way (what warm reads from indexes: `pypi/fuzz_tests.rs`).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::select;

use super::tags::{Environment, WheelName};
use super::{Format, Hash, detect_format, dist_filename, parse_file_with_env};
use crate::fuzz;

macro_rules! fixture {
    ($rel:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/warm/",
            $rel
        ))
    };
}

const REQUIREMENTS: &[&str] = &[
    fixture!("requirements/requirements.txt"),
    fixture!("e2e/inputs/requirements-hashed.txt"),
    "--index-url https://${HOST}/simple\n-e git+https://g/x.git#egg=x\n./local.whl\n\
     pkg[extra1,extra2] >=1.0, <2 ; python_version < \"3.12\" \\\n  --hash=sha256:00\n\
     https://files.example/p/a-1.0-py3-none-any.whl#sha256=abc\n-r base/common.txt\n-c constraints.txt\n",
];
const PYLOCK: &[&str] = &[fixture!("pylock.toml"), fixture!("e2e/inputs/pylock.toml")];
const UV_LOCK: &[&str] = &[fixture!("uv.lock"), fixture!("e2e/inputs/uv.lock")];
const POETRY_LOCK: &[&str] = &[fixture!("poetry.lock"), fixture!("e2e/inputs/poetry.lock")];
const PIPFILE_LOCK: &[&str] = &[
    fixture!("Pipfile.lock"),
    fixture!("e2e/inputs/Pipfile.lock"),
];
const PDM_LOCK: &[&str] = &[fixture!("pdm.lock"), fixture!("e2e/inputs/pdm.lock")];
const CONDA_EXPLICIT: &[&str] = &[fixture!("conda/explicit.txt")];
const CONDA_LOCK: &[&str] = &[fixture!("conda/conda-lock.yml")];
const PIXI_LOCK: &[&str] = &[fixture!("conda/pixi.lock"), fixture!("conda/v5/pixi.lock")];
const PACKAGE_LOCK: &[&str] = &[
    fixture!("npm/v1/package-lock.json"),
    fixture!("npm/v3/package-lock.json"),
];
const YARN_LOCK: &[&str] = &[fixture!("npm/yarn.lock")];
const CARGO_LOCK: &[&str] = &[
    fixture!("cargo/v3/Cargo.lock"),
    fixture!("cargo/v4/Cargo.lock"),
];
const MAVEN_LIST: &[&str] = &[fixture!("maven/artifacts.txt")];
const POM: &[&str] = &[fixture!("maven/pom.xml")];

/// Platform tags without a version in them.
const PLATFORMS: &[&str] = &[
    "manylinux2014_x86_64",
    "manylinux1_i686",
    "win_amd64",
    "win32",
    "win_arm64",
    "linux_x86_64",
];

/// A copy of the requirements fixture tree, so `-r`/`-c` includes resolve.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warm/requirements"),
        dir.path(),
    );
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("pypi.example".into()),
        "LOOP" => Some("${LOOP}".into()),
        _ => None,
    }
}

/// Parses `bytes` as `format` from a file named `name` in `dir`, then lets the format be
/// detected; an error must name the file.
fn check(dir: &Path, name: &str, format: Format, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path: PathBuf = dir.join(name);
    fs_err::write(&path, bytes).map_err(fuzz::fail)?;
    for forced in [Some(format), None] {
        if let Err(err) = parse_file_with_env(&path, forced, &env) {
            let text = format!("{err:#}");
            prop_assert!(
                text.contains(name),
                "the error does not name the file: {}",
                text
            );
        }
    }
    let _ = detect_format(&path, &String::from_utf8_lossy(bytes));
    Ok(())
}

/// Requirement lines from pieces of pip's grammar with random names and values.
fn requirement_lines() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[A-Za-z0-9._-]{1,10}",
        select(
            &[
                "==",
                ">=",
                "~=",
                "!=",
                "===",
                "<",
                ",",
                ";",
                " ",
                "[",
                "]",
                "@",
                "#",
                "\\\n",
                "\n",
                "--hash=sha256:",
                "-r ",
                "-c ",
                "-e ",
                "--index-url ",
                "--extra-index-url ",
                "--find-links ",
                "--no-binary :all:",
                "--only-binary=",
                "--pre",
                "-f",
                "-i",
                "python_version",
                "sys_platform == 'linux'",
                "'",
                "\"",
                "${HOST}",
                "${LOOP}",
                "${MISSING}",
                "https://",
                "file://",
                "git+https://",
                "./",
                "../",
                "/",
                ".whl",
                ".tar.gz",
                "#egg=",
                "#sha256=",
                "more.txt",
                "base/common.txt",
                "constraints.txt",
                "requirements.txt",
            ][..]
        )
        .prop_map(str::to_owned),
        fuzz::text(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// Coordinate lines with random parts.
fn maven_lines() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-z0-9._-]{0,8}",
        select(
            &[
                "${x}",
                "[1.0,2.0)",
                "LATEST",
                "RELEASE",
                "1.0-SNAPSHOT",
                "@",
                "#"
            ][..]
        )
        .prop_map(str::to_owned),
        fuzz::text(),
    ];
    prop::collection::vec(
        (
            prop::collection::vec(part, 1..7),
            select(&[":", "@", " "][..]),
        ),
        0..8,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .map(|(parts, sep)| parts.join(sep) + "\n")
            .collect()
    })
}

/// Explicit-file lines: URLs with random names and digests.
fn conda_explicit_lines() -> impl Strategy<Value = String> {
    let line = (
        select(
            &[
                "https://conda.anaconda.org/c/linux-64/",
                "file:///tmp/",
                "",
                "./",
            ][..],
        ),
        "[a-z0-9_.-]{0,10}",
        select(&[".conda", ".tar.bz2", ".zip", ""][..]),
        select(&["#", "#md5=", "#sha256:", "#sha256=", ""][..]),
        "[0-9a-fA-Fz]{0,66}",
    )
        .prop_map(|(base, name, ext, sep, digest)| format!("{base}{name}{ext}{sep}{digest}\n"));
    prop::collection::vec(line, 0..8).prop_map(|l| format!("@EXPLICIT\n{}", l.concat()))
}

macro_rules! format_tests {
    ($($test:ident: $format:expr, $file:literal, $samples:expr;)+) => {
        proptest! {
            #![proptest_config(fuzz::config())]
            $(
                #[test]
                fn $test(doc in fuzz::mutated($samples), bytes in fuzz::bytes()) {
                    let dir = workdir();
                    check(dir.path(), $file, $format, doc.as_bytes())?;
                    check(dir.path(), $file, $format, &bytes)?;
                }
            )+
        }
    };
}

format_tests! {
    requirements_txt: Format::Requirements, "requirements.txt", REQUIREMENTS;
    pylock_toml: Format::Pylock, "pylock.toml", PYLOCK;
    uv_lock: Format::UvLock, "uv.lock", UV_LOCK;
    poetry_lock: Format::PoetryLock, "poetry.lock", POETRY_LOCK;
    pipfile_lock: Format::PipfileLock, "Pipfile.lock", PIPFILE_LOCK;
    pdm_lock: Format::PdmLock, "pdm.lock", PDM_LOCK;
    conda_explicit: Format::CondaExplicit, "explicit.txt", CONDA_EXPLICIT;
    conda_lock_yml: Format::CondaLock, "conda-lock.yml", CONDA_LOCK;
    pixi_lock: Format::PixiLock, "pixi.lock", PIXI_LOCK;
    package_lock_json: Format::PackageLock, "package-lock.json", PACKAGE_LOCK;
    yarn_lock: Format::YarnLock, "yarn.lock", YARN_LOCK;
    cargo_lock: Format::CargoLock, "Cargo.lock", CARGO_LOCK;
    maven_list: Format::MavenList, "artifacts.txt", MAVEN_LIST;
    pom_xml: Format::Pom, "pom.xml", POM;
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn generated_requirement_lines(text in requirement_lines()) {
        let dir = workdir();
        check(dir.path(), "requirements.txt", Format::Requirements, text.as_bytes())?;
    }

    #[test]
    fn generated_maven_coordinates(text in maven_lines()) {
        let dir = workdir();
        check(dir.path(), "artifacts.txt", Format::MavenList, text.as_bytes())?;
    }

    #[test]
    fn generated_conda_explicit_lines(text in conda_explicit_lines()) {
        let dir = workdir();
        check(dir.path(), "explicit.txt", Format::CondaExplicit, text.as_bytes())?;
    }

    #[test]
    fn target_environments_are_built_or_refused_in_bounded_time(
        python in prop_oneof![
            "3\\.[0-9]{1,3}(\\.[0-9]{1,3})?",
            "[0-9]{1,21}(\\.[0-9]{1,21}){0,3}",
            fuzz::text(),
        ],
        platform in prop_oneof![
            "(manylinux|musllinux|macosx)_[0-9]{1,12}_[0-9]{1,12}_(x86_64|aarch64|arm64|universal2|i686|[a-z]{0,4})",
            select(PLATFORMS).prop_map(str::to_owned),
            fuzz::text(),
        ],
    ) {
        if let Ok(env) = Environment::new(&python, &platform) {
            let _ = env.short();
        }
    }

    #[test]
    fn file_names_and_hashes_are_read_without_panic(
        file in prop_oneof![
            "[A-Za-z0-9_.]{1,8}-[0-9.]{1,6}(-[0-9]{1,2}[a-z_]{0,3})?-(cp|py)[0-9]{1,3}-[a-z0-9_]{1,8}-[a-z0-9_.]{1,20}\\.whl",
            "[A-Za-z0-9_.-]{1,12}\\.(tar\\.gz|zip|tar\\.bz2)",
            fuzz::text(),
        ],
        hash in prop_oneof![
            "(sha256|sha512|sha1|md5|SHA256|blake2b)[:=-][0-9a-zA-Z+/=]{0,90}( [a-z0-9]+-[A-Za-z0-9+/=?]{0,90})?",
            fuzz::text(),
        ],
    ) {
        let _ = dist_filename::parse(&file);
        let _ = file.parse::<WheelName>();
        let _ = Hash::parse_sri(&hash);
        let _ = Hash::parse_prefixed(&hash, ':');
        let _ = Hash::parse_prefixed(&hash, '=');
    }
}

/// Found by `target_environments_are_built_or_refused_in_bounded_time`: one tag per older
/// version made these run out of memory.
#[test]
fn huge_versions_in_targets_are_refused() {
    for (python, platform) in [
        ("3.4000000000", "win_amd64"),
        ("3.12", "manylinux_2_4000000000_x86_64"),
        ("3.12", "musllinux_1_4000000000_x86_64"),
        ("3.12", "macosx_4000000000_0_arm64"),
    ] {
        let err = Environment::new(python, platform).err();
        assert!(err.is_some(), "{python} {platform}");
    }
}

/// `[[package]]` entries of a Cargo.lock: (name, version, source, checksum).
fn cargo_packages() -> impl Strategy<Value = Vec<(String, String, Option<String>, Option<String>)>>
{
    let source = proptest::option::of(prop_oneof![
        Just("registry+https://github.com/rust-lang/crates.io-index".to_owned()),
        Just("sparse+https://index.crates.io/".to_owned()),
        Just("sparse+https://corp.example/index/".to_owned()),
        Just("git+https://github.com/o/r?rev=1#abc".to_owned()),
        Just("registry+https://corp.example/git-index".to_owned()),
        fuzz::text(),
    ]);
    let checksum = proptest::option::of(prop_oneof!["[0-9a-f]{64}", fuzz::text()]);
    prop::collection::btree_map(
        (
            "[a-z][a-z0-9_-]{0,10}",
            "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        ),
        (source, checksum),
        0..8,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|((name, version), (source, checksum))| (name, version, source, checksum))
            .collect()
    })
}

proptest! {
    #![proptest_config(fuzz::config())]

    /// Every package of a well-formed Cargo.lock that has a source is planned or reported as
    /// skipped, never dropped in silence.
    #[test]
    fn every_cargo_lock_package_is_planned_or_skipped(packages in cargo_packages()) {
        let mut doc = String::from("version = 3\n");
        for (name, version, source, checksum) in &packages {
            doc += &format!("\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n");
            if let Some(s) = source {
                doc += &format!("source = {}\n", toml_string(s));
            }
            if let Some(c) = checksum {
                doc += &format!("checksum = {}\n", toml_string(c));
            }
        }
        let dir = workdir();
        let path = dir.path().join("Cargo.lock");
        fs_err::write(&path, &doc).map_err(fuzz::fail)?;
        let plan = parse_file_with_env(&path, Some(Format::CargoLock), &env).map_err(fuzz::fail)?;
        let sourced = packages.iter().filter(|p| p.2.is_some()).count();
        prop_assert_eq!(plan.items.len() + plan.skipped.len(), sourced, "{}", doc);
    }
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out + "\""
}
