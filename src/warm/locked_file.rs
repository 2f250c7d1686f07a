//! How a file named by a URL or a lock entry becomes a plan item: Python files from any of the
//! lock formats (by URL when there is one, else by file name on an index), plus the URL helpers
//! the parsers share (file name, fragment, scheme checks).

use pep508_rs::PackageName;
use url::Url;

use super::{
    Hash, LOCAL_FILE, Origin, Plan, PypiFile, SkipKind, VCS_CHECKOUT, Want, dist_filename,
};

/// The last path segment of a URL, percent-decoded (`torch-2.3.0%2Bcpu-….whl` → `+cpu`).
pub(super) fn url_filename(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    if segment.is_empty() {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

pub(super) fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// The URL without its `#fragment`, which is never sent to a server.
pub(super) fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// A Python file to fetch from a URL: the project and version come from the lock when it says,
/// else from the file name.
pub(super) fn pypi_file_from_url(
    url: &Url,
    project: Option<PackageName>,
    version: Option<String>,
    hashes: Vec<Hash>,
    index: Option<Url>,
    origin: Origin,
) -> Option<PypiFile> {
    let filename = url_filename(url)?;
    let parsed = dist_filename::parse(&filename);
    let (project, version) = match (project, parsed) {
        (Some(p), Some((_, v))) => (Some(p), version.or(Some(v))),
        (Some(p), None) => (Some(p), version),
        (None, Some((p, v))) => (Some(p), version.or(Some(v))),
        (None, None) => (None, version),
    };
    Some(PypiFile {
        project,
        version,
        filename,
        url: Some(without_fragment(url)),
        hashes,
        index,
        origin,
    })
}

/// One file named by a Python lock file (pylock.toml, uv.lock, poetry.lock, pdm.lock,
/// conda-lock, pixi.lock).
pub(super) struct LockedFile<'a> {
    /// `name version`, for skipped entries.
    pub(super) what: String,
    pub(super) project: &'a PackageName,
    pub(super) version: Option<&'a str>,
    /// The file name when the lock gives one; else it comes from the URL.
    pub(super) filename: Option<String>,
    pub(super) url: Option<&'a str>,
    /// A local path instead of a URL.
    pub(super) path: Option<&'a str>,
    pub(super) hashes: Vec<Hash>,
    pub(super) index: Option<&'a Url>,
    pub(super) origin: Origin,
}

impl Plan {
    /// Fetch a locked file by URL when the lock has one, else by file name on its index; local
    /// paths and VCS URLs are skipped.
    pub(super) fn add_locked_file(&mut self, file: LockedFile<'_>) {
        let LockedFile {
            what,
            project,
            version,
            filename,
            url,
            path,
            hashes,
            index,
            origin,
        } = file;
        if let Some(url) = url {
            let parsed = match Url::parse(url) {
                Ok(parsed) => parsed,
                Err(url::ParseError::RelativeUrlWithoutBase) => {
                    return self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
                }
                Err(err) => {
                    let why = format!("`{url}` is not a valid URL ({err})");
                    return self.skip(what, origin, SkipKind::Invalid, why);
                }
            };
            if parsed.scheme().contains('+') {
                return self.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            }
            if parsed.scheme() == "file" {
                return self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
            }
            if !is_http(&parsed) {
                let why = format!("`{}` URLs cannot be fetched", parsed.scheme());
                return self.skip(what, origin, SkipKind::Unsupported, why);
            }
            let version = version.map(String::from);
            let index = index.cloned();
            match pypi_file_from_url(
                &parsed,
                Some(project.clone()),
                version,
                hashes,
                index,
                origin.clone(),
            ) {
                Some(mut found) => {
                    if let Some(filename) = filename {
                        found.filename = filename;
                    }
                    self.items.push(Want::PypiFile(found));
                }
                None => self.skip(
                    what,
                    origin,
                    SkipKind::Invalid,
                    "the URL does not end in a file name",
                ),
            }
        } else if path.is_some() {
            self.skip(what, origin, SkipKind::Unsupported, LOCAL_FILE);
        } else if let Some(filename) = filename {
            self.items.push(Want::PypiFile(PypiFile {
                project: Some(project.clone()),
                version: version.map(String::from),
                filename,
                url: None,
                hashes,
                index: index.cloned(),
                origin,
            }));
        } else {
            self.skip(
                what,
                origin,
                SkipKind::Invalid,
                "the entry has neither a URL nor a file name",
            );
        }
    }
}
