//! Project names and distribution filenames.
//!
//! PyPI identifies a project by its normalized name (PEP 503: runs of `-`, `_`, `.` become one
//! `-`, lowercased), and that name is both the URL segment and the cache key. Filenames matter
//! because a file URL (`/packages/ab/cd/…/numpy-2.1.0-….whl`, copied from a lock file) carries
//! no project: repox reads the project from the filename to find the page that lists it, and
//! reads versions from filenames when an HTML-only upstream gives no PEP 700 `versions` list.

/// PEP 503 normalization: `Foo.Bar__baz` → `foo-bar-baz`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// True for names PEP 508 allows (`[A-Za-z0-9]`, inner `.`, `-`, `_`); anything else cannot be
/// a project, so it is answered 404 without asking upstream.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

const SDIST_SUFFIXES: &[&str] = &[
    ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.Z", ".tar", ".zip", ".tgz", ".tbz", ".txz",
];

/// The part of an sdist filename before its archive suffix, if it is one.
fn sdist_stem(filename: &str) -> Option<&str> {
    SDIST_SUFFIXES.iter().find_map(|s| filename.strip_suffix(s))
}

/// Binary formats whose name and version are the first two `-` fields (PEP 427 wheels, eggs).
fn binary_stem(filename: &str) -> Option<&str> {
    filename
        .strip_suffix(".whl")
        .or_else(|| filename.strip_suffix(".egg"))
}

/// Normalized project names `filename` may belong to, most likely first. A wheel names its
/// project exactly; an sdist `foo-bar-2-1.0.tar.gz` could be `foo-bar` or `foo-bar-2`, so every
/// split before a `-<digit>` is offered.
pub fn projects_of(filename: &str) -> Vec<String> {
    if let Some(stem) = binary_stem(filename) {
        return stem
            .split('-')
            .next()
            .filter(|n| !n.is_empty())
            .map(|n| vec![normalize(n)])
            .unwrap_or_default();
    }
    let Some(stem) = sdist_stem(filename) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, _) in stem.match_indices('-') {
        if i > 0 && stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()) {
            let name = normalize(&stem[..i]);
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The version in a distribution filename of the (normalized) `project`, if it can be read.
pub fn version_of(filename: &str, project: &str) -> Option<String> {
    if let Some(stem) = binary_stem(filename) {
        let mut fields = stem.split('-');
        let name = fields.next()?;
        let version = fields.next()?;
        return (normalize(name) == project && !version.is_empty()).then(|| version.to_owned());
    }
    let stem = sdist_stem(filename)?;
    stem.match_indices('-').find_map(|(i, _)| {
        let version = &stem[i + 1..];
        (normalize(&stem[..i]) == project && !version.is_empty()).then(|| version.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_pep_503() {
        assert_eq!(normalize("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("A-_-.b"), "a-b");
        assert_eq!(normalize("requests"), "requests");
    }

    #[test]
    fn valid_names() {
        assert!(is_valid("zope.interface"));
        assert!(is_valid("a"));
        assert!(!is_valid("-a"));
        assert!(!is_valid("a b"));
        assert!(!is_valid("a+b"));
        assert!(!is_valid(""));
    }

    #[test]
    fn projects_from_filenames() {
        assert_eq!(
            projects_of("Django-5.1-py3-none-any.whl"),
            vec!["django".to_owned()]
        );
        assert_eq!(
            projects_of("torch-2.3.0+cpu-cp311-cp311-linux_x86_64.whl"),
            vec!["torch".to_owned()]
        );
        assert_eq!(
            projects_of("python-dateutil-2.8.2.tar.gz"),
            vec!["python-dateutil".to_owned()]
        );
        assert_eq!(
            projects_of("foo-bar-2-1.0.zip"),
            vec!["foo-bar".to_owned(), "foo-bar-2".to_owned()]
        );
        assert_eq!(
            projects_of("zope_interface-6.0.tar.gz"),
            vec!["zope-interface".to_owned()]
        );
        assert!(projects_of("README.txt").is_empty());
    }

    #[test]
    fn versions_from_filenames() {
        assert_eq!(
            version_of("lib_c-1.0+cpu-py3-none-any.whl", "lib-c").as_deref(),
            Some("1.0+cpu")
        );
        assert_eq!(
            version_of("python-dateutil-2.8.2.tar.gz", "python-dateutil").as_deref(),
            Some("2.8.2")
        );
        assert_eq!(version_of("other-1.0.tar.gz", "lib"), None);
        assert_eq!(
            version_of("foo-bar-2-1.0.zip", "foo-bar-2").as_deref(),
            Some("1.0")
        );
    }
}
