//! Which kind of input a file is: by its name first (`uv.lock`, `pom.xml`), then by its content,
//! so `spec.txt` holding `@EXPLICIT` or a renamed lock file is still read right. `--format`
//! overrides both.

use std::fmt;
use std::path::Path;

use super::maven;

/// Input formats `repox warm` reads; the names are the `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// pip requirements file (`-r`/`-c` includes, options, hashes)
    Requirements,
    /// PEP 751 `pylock.toml`
    Pylock,
    /// `uv.lock`
    UvLock,
    /// `poetry.lock`
    PoetryLock,
    /// pipenv `Pipfile.lock`
    PipfileLock,
    /// `pdm.lock`
    PdmLock,
    /// conda `@EXPLICIT` spec (`conda list --explicit`)
    CondaExplicit,
    /// `conda-lock.yml`
    CondaLock,
    /// `pixi.lock`
    PixiLock,
    /// npm `package-lock.json` / `npm-shrinkwrap.json`
    PackageLock,
    /// Yarn classic (v1) `yarn.lock`
    YarnLock,
    /// `Cargo.lock`
    CargoLock,
    /// text file of `group:artifact:version[:classifier][@ext]` lines
    MavenList,
    /// Maven `pom.xml`
    Pom,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use clap::ValueEnum;
        match self.to_possible_value() {
            Some(value) => f.write_str(value.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

/// The format of `path` from its name, then its content; `None` when neither tells.
pub fn detect_format(path: &Path, text: &str) -> Option<Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_name = match name.as_str() {
        "pylock.toml" => Some(Format::Pylock),
        "uv.lock" => Some(Format::UvLock),
        "poetry.lock" => Some(Format::PoetryLock),
        "pipfile.lock" => Some(Format::PipfileLock),
        "pdm.lock" => Some(Format::PdmLock),
        "pixi.lock" => Some(Format::PixiLock),
        "package-lock.json" | "npm-shrinkwrap.json" => Some(Format::PackageLock),
        "yarn.lock" => Some(Format::YarnLock),
        "cargo.lock" => Some(Format::CargoLock),
        "pom.xml" => Some(Format::Pom),
        n if n.starts_with("pylock.") && n.ends_with(".toml") => Some(Format::Pylock),
        n if n.ends_with(".pom") => Some(Format::Pom),
        n if n.ends_with("conda-lock.yml") || n.ends_with("conda-lock.yaml") => {
            Some(Format::CondaLock)
        }
        n if n.starts_with("requirements") && n.ends_with(".txt") => Some(Format::Requirements),
        _ => None,
    };
    by_name.or_else(|| sniff(&name, text))
}

/// The format from content alone, for files with other names (`spec.txt`, `deps.lock`).
pub(super) fn sniff(name: &str, text: &str) -> Option<Format> {
    let text = text.trim_start_matches('\u{feff}');
    let lines = || text.lines().map(str::trim);
    let has_line = |prefix: &str| lines().any(|l| l.starts_with(prefix));
    let trimmed = text.trim_start();
    if lines().any(|l| l == "@EXPLICIT") {
        return Some(Format::CondaExplicit);
    }
    if trimmed.starts_with('<') && text.contains("<project") {
        return Some(Format::Pom);
    }
    if trimmed.starts_with('{') {
        if text.contains("\"lockfileVersion\"") {
            return Some(Format::PackageLock);
        }
        if text.contains("\"_meta\"") && text.contains("\"default\"") {
            return Some(Format::PipfileLock);
        }
        return None;
    }
    if text.contains("# yarn lockfile v1") {
        return Some(Format::YarnLock);
    }
    if has_line("[[packages]]") && has_line("lock-version") {
        return Some(Format::Pylock);
    }
    if has_line("[[package]]") {
        if has_line("source = \"registry+") || has_line("source = \"sparse+") {
            return Some(Format::CargoLock);
        }
        if has_line("lock_version") {
            return Some(Format::PdmLock);
        }
        if has_line("lock-version") || has_line("content-hash") {
            return Some(Format::PoetryLock);
        }
        if has_line("revision =") || has_line("requires-python =") || has_line("source = {") {
            return Some(Format::UvLock);
        }
        return None;
    }
    if has_line("environments:") && has_line("packages:") && has_line("version:") {
        return Some(Format::PixiLock);
    }
    if has_line("package:") && has_line("manager:") {
        return Some(Format::CondaLock);
    }
    if maven::looks_like_list(text) {
        return Some(Format::MavenList);
    }
    if name.ends_with(".txt") || name.ends_with(".in") {
        return Some(Format::Requirements);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn format_names_are_the_flag_values() {
        use clap::ValueEnum;
        let names: Vec<String> = Format::value_variants()
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "requirements",
                "pylock",
                "uv-lock",
                "poetry-lock",
                "pipfile-lock",
                "pdm-lock",
                "conda-explicit",
                "conda-lock",
                "pixi-lock",
                "package-lock",
                "yarn-lock",
                "cargo-lock",
                "maven-list",
                "pom",
            ]
        );
        assert_eq!(Format::from_str("uv-lock", false), Ok(Format::UvLock));
    }

    #[test]
    fn detects_by_name() {
        let cases = [
            ("requirements.txt", Format::Requirements),
            ("requirements-dev.txt", Format::Requirements),
            ("pylock.toml", Format::Pylock),
            ("pylock.dev.toml", Format::Pylock),
            ("uv.lock", Format::UvLock),
            ("poetry.lock", Format::PoetryLock),
            ("Pipfile.lock", Format::PipfileLock),
            ("pdm.lock", Format::PdmLock),
            ("conda-lock.yml", Format::CondaLock),
            ("linux.conda-lock.yml", Format::CondaLock),
            ("pixi.lock", Format::PixiLock),
            ("package-lock.json", Format::PackageLock),
            ("npm-shrinkwrap.json", Format::PackageLock),
            ("yarn.lock", Format::YarnLock),
            ("Cargo.lock", Format::CargoLock),
            ("pom.xml", Format::Pom),
            ("guava-33.2.0-jre.pom", Format::Pom),
        ];
        for (name, format) in cases {
            assert_eq!(
                detect_format(Path::new("x").join(name).as_path(), ""),
                Some(format),
                "{name}"
            );
        }
    }

    #[test]
    fn detects_fixtures_by_content() {
        let cases = [
            ("requirements/requirements.txt", Format::Requirements),
            ("pylock.toml", Format::Pylock),
            ("uv.lock", Format::UvLock),
            ("poetry.lock", Format::PoetryLock),
            ("Pipfile.lock", Format::PipfileLock),
            ("pdm.lock", Format::PdmLock),
            ("conda/explicit.txt", Format::CondaExplicit),
            ("conda/conda-lock.yml", Format::CondaLock),
            ("conda/pixi.lock", Format::PixiLock),
            ("npm/v1/package-lock.json", Format::PackageLock),
            ("npm/v3/package-lock.json", Format::PackageLock),
            ("npm/yarn.lock", Format::YarnLock),
            ("cargo/v3/Cargo.lock", Format::CargoLock),
            ("cargo/v4/Cargo.lock", Format::CargoLock),
            ("maven/artifacts.txt", Format::MavenList),
            ("maven/pom.xml", Format::Pom),
        ];
        for (rel, format) in cases {
            let text = fs_err::read_to_string(fixture(rel)).unwrap();
            // A neutral name, so only the content decides (`.txt` allows the requirements
            // fallback, as for `constraints.txt`).
            assert_eq!(sniff("input.txt", &text), Some(format), "{rel}");
        }
        assert_eq!(sniff("notes.md", "hello\n"), None);
        assert_eq!(sniff("input", "requests==2.0\n"), None);
    }
}
