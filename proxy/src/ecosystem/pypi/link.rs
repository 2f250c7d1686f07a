//! Where repox serves each file a page lists, and where it fetches it from.
//!
//! Clients must download through repox, so every file URL in a page is replaced by a repox URL
//! that keeps the filename as its last segment (pip and uv read wheel tags from it):
//!
//! - `https://files.pythonhosted.org/packages/ab/cd/<60 hex>/<file>` is served at the same path,
//!   `/<repo>/packages/ab/cd/<60 hex>/<file>`, so a lock file written against PyPI maps to repox
//!   by swapping the prefix, and the path is content-addressed (safe to cache forever);
//! - any other URL (a private index's `../../packages/…`, devpi's `+f/…`, the PyTorch CDN, a
//!   presigned S3 link) is served at `/<repo>/files/<upstream>/<project>/<file>`. The upstream
//!   URL is not encoded in it: it is looked up in that upstream's stored page for the project,
//!   which is the persistent record of what repox saw, so the repox URL stays the same when the
//!   upstream URL changes (expiring signatures) and after a restart.
//!
//! Links in pages are relative (`../../packages/…`), so they survive a reverse proxy that changes
//! the scheme or host in front of repox (the PEP 503/691 specs resolve them against the page).

use std::sync::Arc;

use crate::path::{RepoPath, encode_segment};
use crate::repository::Verify;

/// PyPI's file host.
pub const PYTHONHOSTED: &str = "files.pythonhosted.org";

/// Where repox serves one file, below the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Decoded (what a request for it parses to; the cache key below the repository).
    pub path: String,
    /// URL-encoded, for links.
    pub href: String,
}

/// What repox needs to fetch a file it listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The name of the upstream whose page listed it (its proxy settings apply).
    pub upstream: Arc<str>,
    /// The file's absolute URL on that upstream (or the host it links to).
    pub url: String,
    /// What the download must match.
    pub verify: Verify,
    /// PEP 658 metadata: `Some(check)` when `<url>.metadata` exists.
    pub metadata: Option<Verify>,
    /// A `<url>.asc` signature exists.
    pub gpg_sig: bool,
    /// PEP 700 size, when the page gave it.
    pub size: Option<u64>,
}

/// An upstream name as one safe path segment.
pub fn segment(upstream: &str) -> String {
    let s: String = upstream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None if s.is_empty() => "_".into(),
        None => s,
    }
}

/// The repox location of a file listed at `url` (absolute, as `url::Url` prints it) by
/// `upstream`'s page of `project`.
pub fn locate(url: &str, filename: &str, upstream: &str, project: &str) -> Location {
    let on_pythonhosted = ["https://", "http://"].iter().find_map(|scheme| {
        url.strip_prefix(scheme)?
            .strip_prefix(PYTHONHOSTED)?
            .strip_prefix('/')
    });
    if let Some(href) = on_pythonhosted
        && href.starts_with("packages/")
        && !href.contains('?')
    {
        // Fast path for the usual shape: nothing encoded, nothing to normalize.
        let plain = !href.contains(['%', '\\'])
            && !href.contains("//")
            && href.split('/').all(|s| s != "." && s != "..");
        if plain && href.rsplit('/').next() == Some(filename) {
            return Location {
                path: href.to_owned(),
                href: href.to_owned(),
            };
        }
        if let Ok(path) = RepoPath::parse(href)
            && path.file_name() == filename
        {
            return Location {
                path: path.as_str().to_owned(),
                href: href.to_owned(),
            };
        }
    }
    let up = segment(upstream);
    Location {
        path: format!("files/{up}/{project}/{filename}"),
        href: format!("files/{up}/{project}/{}", encode_segment(filename)),
    }
}

/// What a file path below the repository is: `(file path, suffix)` where the suffix is `None`
/// for the file itself, `Some(".metadata")` (PEP 658) or `Some(".asc")`.
pub fn split_suffix(path: &str) -> (&str, Option<&'static str>) {
    for suffix in [".metadata", ".asc"] {
        if let Some(base) = path.strip_suffix(suffix) {
            return (base, Some(suffix));
        }
    }
    (path, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythonhosted_files_keep_their_path() {
        let url = "https://files.pythonhosted.org/packages/97/75/10a9ebee3fd790d20926a90a2547f0bf78f371b2f13aa822c759680ca7b9/tomli-2.0.1-py3-none-any.whl";
        let loc = locate(url, "tomli-2.0.1-py3-none-any.whl", "pypi", "tomli");
        assert_eq!(
            loc.href,
            "packages/97/75/10a9ebee3fd790d20926a90a2547f0bf78f371b2f13aa822c759680ca7b9/tomli-2.0.1-py3-none-any.whl"
        );
        assert_eq!(loc.path, loc.href);
    }

    #[test]
    fn other_hosts_go_under_files_with_the_filename_last() {
        let url = "https://download.pytorch.org/whl/cpu/torch-2.3.0%2Bcpu-cp311-none.whl";
        let loc = locate(
            url,
            "torch-2.3.0+cpu-cp311-none.whl",
            "pytorch cpu",
            "torch",
        );
        assert_eq!(
            loc.path,
            "files/pytorch_cpu/torch/torch-2.3.0+cpu-cp311-none.whl"
        );
        assert_eq!(loc.href, loc.path);
        let odd = locate(url, "a b#c.whl", ".hidden", "a");
        assert_eq!(odd.href, "files/_hidden/a/a%20b%23c.whl");
        assert_eq!(
            RepoPath::parse(&odd.href).unwrap().as_str(),
            odd.path.as_str()
        );
    }

    #[test]
    fn a_pythonhosted_url_whose_name_differs_from_the_filename_is_not_path_mapped() {
        let url = "https://files.pythonhosted.org/packages/aa/bb/x/other.whl";
        let loc = locate(url, "demo-1.0-py3-none-any.whl", "pypi", "demo");
        assert_eq!(loc.path, "files/pypi/demo/demo-1.0-py3-none-any.whl");
    }

    #[test]
    fn encoded_pythonhosted_paths_are_decoded_for_the_key() {
        let url = "https://files.pythonhosted.org/packages/aa/bb/cc/x-1.0%2Bcpu-py3-none-any.whl";
        let loc = locate(url, "x-1.0+cpu-py3-none-any.whl", "pypi", "x");
        assert_eq!(loc.path, "packages/aa/bb/cc/x-1.0+cpu-py3-none-any.whl");
        assert_eq!(loc.href, "packages/aa/bb/cc/x-1.0%2Bcpu-py3-none-any.whl");
        let other = locate(
            "https://files.pythonhosted.org.evil/packages/a/x.whl",
            "x.whl",
            "p",
            "x",
        );
        assert_eq!(other.path, "files/p/x/x.whl");
    }

    #[test]
    fn suffixes() {
        assert_eq!(
            split_suffix("a/x.whl.metadata"),
            ("a/x.whl", Some(".metadata"))
        );
        assert_eq!(split_suffix("a/x.tar.gz.asc"), ("a/x.tar.gz", Some(".asc")));
        assert_eq!(split_suffix("a/x.whl"), ("a/x.whl", None));
    }
}
