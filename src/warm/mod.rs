//! The input side of `repox warm FILE...`: recognise requirement, lock and manifest files and
//! turn each into a [`Plan`] of things to fetch, without touching the network.
//!
//! The plan separates what is pinned to an exact file ([`PypiFile`], [`CondaPackage`],
//! [`NpmTarball`], [`Crate`], [`MavenArtifact`]) from what still needs a resolver
//! ([`PypiRequirement`]), and lists everything it will not fetch in [`Plan::skipped`] with the
//! file, line and reason, so one odd line in a big lock file costs a warning, not the whole run.
//! Files that cannot be read at all (invalid TOML/JSON/YAML, a missing file) are errors naming
//! the file, the line and a fix.
//!
//! `plan` is the data model, `format` the detection; one module per input family parses.
//!
//! The output side fills repox with what a plan names: `session` runs a warm against the
//! repox `endpoint` (started in-process when none is running), `targets` maps pinned items onto
//! repox URLs, `pypi` resolves Python requirements for the `tags` of each target environment,
//! `fetch` downloads and verifies, and `report` shows progress and the summary.

mod cargo_lock;
mod conda;
mod dist_filename;
mod endpoint;
pub mod fetch;
mod format;
#[cfg(test)]
mod fuzz_tests;
mod hash;
mod input_file;
mod locked_file;
pub(crate) mod login;
mod maven;
mod npm;
mod pdm_lock;
mod pep508;
mod pipfile_lock;
mod pixi_lock;
mod plan;
mod poetry_lock;
mod pylock;
mod pypi;
pub mod report;
mod requirements;
pub mod session;
mod source;
pub mod tags;
mod targets;
mod uv_lock;
mod yarn_lock;

use std::path::Path;

pub use format::{Format, detect_format};
pub use hash::{Hash, HashAlgorithm};
pub use plan::{
    CondaPackage, Crate, IndexRole, MavenArtifact, NpmTarball, Origin, PipOptions, Plan, PypiFile,
    PypiRequirement, SkipKind, Skipped, Want, redacted,
};

use crate::settings::Hinted;
use locked_file::{LockedFile, is_http, pypi_file_from_url, url_filename, without_fragment};
use plan::{LOCAL_FILE, LOCAL_SOURCE, VCS_CHECKOUT};
use source::{Source, bad_input};

/// Parse one input file, detecting its format unless `forced`.
pub fn parse_file(path: &Path, forced: Option<Format>) -> anyhow::Result<Plan> {
    parse_file_with_env(path, forced, &|name| std::env::var(name).ok())
}

/// [`parse_file`] with the environment used for `${VAR}` in requirements files made explicit.
pub fn parse_file_with_env(
    path: &Path,
    forced: Option<Format>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Plan> {
    let bytes = input_file::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
    let format = match forced {
        Some(format) => format,
        None => detect_format(path, &String::from_utf8_lossy(&bytes)).ok_or_else(|| {
            use clap::ValueEnum;
            let names: Vec<String> = Format::value_variants()
                .iter()
                .map(Format::to_string)
                .collect();
            Hinted {
                message: format!("{}: cannot tell what kind of file this is", path.display()),
                hint: format!("pass --format ({})", names.join(", ")),
            }
        })?,
    };
    tracing::debug!(path = %path.display(), %format, "parsing warm input");
    if format == Format::Requirements {
        let mut plan = requirements::parse(path, &bytes, env)?;
        plan.dedup();
        return Ok(plan);
    }
    let text = utf8(path, bytes)?;
    let source = Source::new(path, &text);
    let mut plan = match format {
        Format::Requirements => unreachable!("handled above"),
        Format::Pylock => pylock::parse(&source)?,
        Format::UvLock => uv_lock::parse(&source)?,
        Format::PoetryLock => poetry_lock::parse(&source)?,
        Format::PipfileLock => pipfile_lock::parse(&source)?,
        Format::PdmLock => pdm_lock::parse(&source)?,
        Format::CondaExplicit => conda::parse_explicit(&source),
        Format::CondaLock => conda::parse_conda_lock(&source)?,
        Format::PixiLock => pixi_lock::parse(&source)?,
        Format::PackageLock => npm::parse(&source)?,
        Format::YarnLock => yarn_lock::parse(&source)?,
        Format::CargoLock => cargo_lock::parse(&source)?,
        Format::MavenList => maven::parse_list(&source),
        Format::Pom => maven::parse_pom(&source)?,
    };
    plan.dedup();
    Ok(plan)
}

fn utf8(path: &Path, bytes: Vec<u8>) -> anyhow::Result<String> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..3);
            }
            Ok(text)
        }
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let line = err.as_bytes()[..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Err(Hinted {
                message: format!("{}:{line}: not valid UTF-8", path.display()),
                hint: "save the file as UTF-8".to_string(),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    pub(super) fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/warm")
            .join(rel)
    }

    /// `line want` for each item, so tests compare readable lists.
    pub(super) fn items(plan: &Plan) -> Vec<String> {
        plan.items
            .iter()
            .map(|w| match w.origin().line {
                Some(line) => format!("{line} {w}"),
                None => format!("- {w}"),
            })
            .collect()
    }

    /// `line what: why` for each skipped entry (`!` marks invalid input).
    pub(super) fn skipped(plan: &Plan) -> Vec<String> {
        plan.skipped
            .iter()
            .map(|s| {
                let mark = match s.kind {
                    SkipKind::Unsupported => "",
                    SkipKind::Invalid => "! ",
                };
                let line = s.origin.line.map_or("-".to_string(), |l| l.to_string());
                format!("{mark}{line} {}: {}", s.what, s.why)
            })
            .collect()
    }

    /// The error as main prints it: the message, then the hint.
    pub(super) fn error_text(err: &anyhow::Error) -> String {
        let hint = err
            .downcast_ref::<Hinted>()
            .map(|h| format!(" | hint: {}", h.hint))
            .unwrap_or_default();
        format!("{err:#}{hint}")
    }

    #[test]
    fn unknown_format_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deps.lst");
        fs_err::write(&path, "hello world\n").unwrap();
        let err = parse_file(&path, None).unwrap_err();
        let text = error_text(&err);
        assert!(
            text.ends_with(
                "deps.lst: cannot tell what kind of file this is | hint: pass --format \
                 (requirements, pylock, uv-lock, poetry-lock, pipfile-lock, pdm-lock, \
                 conda-explicit, conda-lock, pixi-lock, package-lock, yarn-lock, cargo-lock, \
                 maven-list, pom)"
            ),
            "{text}"
        );
        // Forcing a format reads it anyway.
        let plan = parse_file(&path, Some(Format::MavenList)).unwrap();
        assert_eq!(skipped(&plan).len(), 1);
    }

    #[test]
    fn not_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.lock");
        fs_err::write(&path, b"version = 3\n\n# caf\xe9\n").unwrap();
        let text = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            text.ends_with("Cargo.lock:3: not valid UTF-8 | hint: save the file as UTF-8"),
            "{text}"
        );
    }
}
