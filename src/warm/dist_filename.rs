//! Project name and version from a Python distribution's file name. Direct URLs, conda-lock's
//! `pip` entries and bare URL lines name only a file; the wheel and sdist naming rules
//! (PEP 427, PEP 625) recover which project it belongs to, so its index page can be warmed too.

use pep508_rs::PackageName;

/// Extensions of source distributions pip accepts, longest first.
const SDIST_EXTENSIONS: &[&str] = &[
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tar.lz",
    ".tar.lzma",
    ".tar",
    ".tgz",
    ".tbz",
    ".txz",
    ".zip",
];

/// `(project, version)` for `requests-2.31.0-py3-none-any.whl` or `python-dateutil-2.9.0.tar.gz`;
/// `None` when the name follows neither rule (`1.26.8.zip` from a GitHub archive URL).
pub fn parse(filename: &str) -> Option<(PackageName, String)> {
    let (name, version) = if let Some(stem) = filename.strip_suffix(".whl") {
        // {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl; names use `_` for `-`.
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        if parts.count() < 3 {
            return None;
        }
        (name, version)
    } else if let Some(stem) = filename.strip_suffix(".egg") {
        let mut parts = stem.split('-');
        (parts.next()?, parts.next()?)
    } else {
        let lower = filename.to_ascii_lowercase();
        let ext = SDIST_EXTENSIONS.iter().find(|ext| lower.ends_with(*ext))?;
        let stem = &filename[..filename.len() - ext.len()];
        // Legacy sdists may have `-` in the name; the version is after the last one.
        stem.rsplit_once('-')?
    };
    if name.is_empty() || version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((
        PackageName::new(name.to_string()).ok()?,
        version.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(filename: &str) -> Option<(String, String)> {
        parse(filename).map(|(n, v)| (n.to_string(), v))
    }

    #[test]
    fn wheels_and_sdists() {
        let pair = |n: &str, v: &str| Some((n.to_string(), v.to_string()));
        assert_eq!(
            names("requests-2.31.0-py3-none-any.whl"),
            pair("requests", "2.31.0")
        );
        assert_eq!(
            names("torch-2.3.0+cpu-cp311-cp311-linux_x86_64.whl"),
            pair("torch", "2.3.0+cpu")
        );
        assert_eq!(
            names("zope.interface-6.0-1-cp311-cp311-manylinux_2_17_x86_64.whl"),
            pair("zope-interface", "6.0")
        );
        assert_eq!(
            names("python-dateutil-2.9.0.post0.tar.gz"),
            pair("python-dateutil", "2.9.0.post0")
        );
        assert_eq!(names("Foo_Bar-1.0.ZIP"), pair("foo-bar", "1.0"));
        assert_eq!(names("1.26.8.zip"), None);
        assert_eq!(names("foo-1.0-py3.whl"), None);
        assert_eq!(names("foo-latest.tar.gz"), None);
        assert_eq!(names("README.md"), None);
    }
}
