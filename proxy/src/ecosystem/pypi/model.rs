//! The one model of a project page that both formats parse into and render from.
//!
//! Upstreams answer in PEP 691 JSON or PEP 503 HTML; clients ask for either. Each file is kept
//! in PEP 691 JSON shape (a map of its keys) so that everything an upstream says, including keys
//! repox does not know (PEP 700 `size`/`upload-time`, PEP 740 `provenance`, future ones), reaches
//! JSON clients untouched; HTML parsing fills the same keys from the `data-*` attributes (PEP
//! 503/592/658/714/740). Only `url` is held apart: it is resolved against the upstream page and
//! replaced by a repox link when rendered. Pages from several upstreams are merged here: the
//! best-priority upstream wins a filename listed by more than one.

use std::collections::HashSet;

use serde_json::{Map, Value};
use url::Url;

use super::name;
use crate::repository::Verify;

/// One upstream's project page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// PEP 691 `meta` (`api-version`, `_last-serial`, `tracks`, …).
    pub meta: Map<String, Value>,
    /// PEP 700 `versions`, when the upstream gave them.
    pub versions: Option<Vec<String>>,
    /// The files, in upstream order.
    pub files: Vec<Dist>,
    /// Top-level keys other than `meta`, `name`, `versions`, `files` (`alternate-locations`,
    /// `project-status`, …), passed through.
    pub extra: Map<String, Value>,
}

/// One file of a page.
#[derive(Debug, Clone)]
pub struct Dist {
    /// The filename (PEP 503: the link text; PEP 691: `filename`).
    pub filename: String,
    /// Where the upstream serves it: absolute, without the hash fragment.
    pub url: Url,
    /// Every other PEP 691 key of the file (`hashes` always present).
    pub fields: Map<String, Value>,
}

/// Hash names PEP 503 lets a fragment carry, as `hashlib` spells them.
pub const HASH_NAMES: &[&str] = &[
    "sha256", "sha512", "sha384", "sha224", "sha1", "md5", "blake2b", "blake2s", "sha3_256",
    "sha3_512",
];

impl Dist {
    /// A dist with empty `hashes`.
    pub fn new(filename: String, url: Url) -> Dist {
        let mut fields = Map::new();
        fields.insert("hashes".into(), Value::Object(Map::new()));
        Dist {
            filename,
            url,
            fields,
        }
    }

    /// The `hashes` map.
    pub fn hashes(&self) -> Option<&Map<String, Value>> {
        self.fields.get("hashes")?.as_object()
    }

    /// The hash to put in a link fragment: sha256 if known, else the first one.
    pub fn fragment_hash(&self) -> Option<(&str, &str)> {
        let hashes = self.hashes()?;
        hashes
            .get_key_value("sha256")
            .and_then(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .or_else(|| {
                hashes
                    .iter()
                    .find_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            })
    }

    /// What a download of the file must match.
    pub fn verify(&self) -> Verify {
        self.hashes().map_or(Verify::None, verify_from)
    }

    /// PEP 658/714: `None` = no metadata file; `Some(v)` = served, to be checked against `v`.
    pub fn core_metadata(&self) -> Option<Verify> {
        match self
            .fields
            .get("core-metadata")
            .or_else(|| self.fields.get("dist-info-metadata"))?
        {
            Value::Bool(true) => Some(Verify::None),
            Value::Object(hashes) => Some(verify_from(hashes)),
            _ => None,
        }
    }

    /// Whether a detached signature (`<file>.asc`) is offered (PEP 503 `data-gpg-sig`).
    pub fn gpg_sig(&self) -> bool {
        self.fields.get("gpg-sig") == Some(&Value::Bool(true))
    }
}

/// The strongest digest the engine can check, from a PEP 691 `hashes` map.
fn verify_from(hashes: &Map<String, Value>) -> Verify {
    let hex = |k: &str| {
        hashes
            .get(k)?
            .as_str()
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
    };
    if let Some(h) = hex("sha256").filter(|h| h.len() == 64) {
        Verify::Sha256(h)
    } else if let Some(h) = hex("sha512").filter(|h| h.len() == 128) {
        Verify::Sha512(h)
    } else if let Some(h) = hex("sha1").filter(|h| h.len() == 40) {
        Verify::Sha1(h)
    } else {
        Verify::None
    }
}

/// The pages of several upstreams as one.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The normalized project name.
    pub name: String,
    /// `meta` of the best upstream, with an `api-version` every merged part satisfies.
    pub meta: Map<String, Value>,
    /// PEP 700 versions: the upstreams' lists, plus versions read from filenames.
    pub versions: Vec<String>,
    /// Top-level keys of the best upstream.
    pub extra: Map<String, Value>,
    /// (upstream index, file) in priority order, one per filename.
    pub files: Vec<(usize, Dist)>,
    /// Every file has a `size` (PEP 700 makes it mandatory in JSON from 1.1 on).
    pub all_sized: bool,
}

fn api_version(meta: &Map<String, Value>) -> (u32, u32) {
    let text = meta
        .get("api-version")
        .and_then(Value::as_str)
        .unwrap_or("1.0");
    let mut parts = text
        .split('.')
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(1), parts.next().unwrap_or(0))
}

/// A filename that can be the last segment of a repox URL (a hostile page could list `../x`).
fn is_filename(f: &str) -> bool {
    !f.is_empty()
        && f != "."
        && f != ".."
        && !f.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Merges pages given as (upstream index, page) in priority order; files whose name cannot be a
/// path segment are dropped.
pub fn merge(project: &str, pages: Vec<(usize, Page)>) -> Merged {
    let mut files = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut versions: Vec<String> = Vec::new();
    let mut known_versions: HashSet<String> = HashSet::new();
    let mut version = (u32::MAX, u32::MAX);
    let mut all_sized = true;
    let mut first: Option<(Map<String, Value>, Map<String, Value>)> = None;
    for (i, page) in pages {
        version = version.min(api_version(&page.meta));
        let mut add_version = |v: String| {
            if known_versions.insert(v.clone()) {
                versions.push(v);
            }
        };
        let listed = page.versions.is_some();
        for v in page.versions.into_iter().flatten() {
            add_version(v);
        }
        for dist in page.files {
            if !is_filename(&dist.filename) || !seen.insert(dist.filename.clone()) {
                continue;
            }
            if !listed && let Some(v) = name::version_of(&dist.filename, project) {
                add_version(v);
            }
            all_sized &= dist.fields.get("size").is_some_and(Value::is_u64);
            files.push((i, dist));
        }
        if first.is_none() {
            first = Some((page.meta, page.extra));
        }
    }
    let (mut meta, extra) = first.unwrap_or_default();
    if version.0 == u32::MAX {
        version = (1, 0);
    }
    meta.insert(
        "api-version".into(),
        Value::String(format!("{}.{}", version.0, version.1)),
    );
    Merged {
        name: project.to_owned(),
        meta,
        versions,
        extra,
        files,
        all_sized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(filename: &str, host: &str, sha: Option<&str>, size: Option<u64>) -> Dist {
        let mut d = Dist::new(
            filename.into(),
            Url::parse(&format!("https://{host}/{filename}")).unwrap(),
        );
        if let Some(sha) = sha {
            d.fields["hashes"]
                .as_object_mut()
                .unwrap()
                .insert("sha256".into(), sha.into());
        }
        if let Some(size) = size {
            d.fields.insert("size".into(), size.into());
        }
        d
    }

    #[test]
    fn best_priority_wins_a_filename_and_versions_are_united() {
        let mut a = Page::default();
        a.meta.insert("api-version".into(), "1.1".into());
        a.versions = Some(vec!["1.0".into()]);
        a.files = vec![dist("demo-1.0.tar.gz", "private", Some("aa"), Some(1))];
        let mut b = Page::default();
        b.meta.insert("api-version".into(), "1.4".into());
        b.versions = Some(vec!["1.0".into(), "2.0".into()]);
        b.files = vec![
            dist("demo-1.0.tar.gz", "pypi", Some("bb"), Some(1)),
            dist("demo-2.0.tar.gz", "pypi", Some("cc"), Some(1)),
        ];
        b.files.push(dist("..", "pypi", Some("dd"), Some(1)));
        b.files
            .push(dist("a/../../b.whl", "pypi", Some("dd"), Some(1)));
        let m = merge("demo", vec![(0, a), (1, b)]);
        assert_eq!(m.versions, vec!["1.0", "2.0"]);
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[0].0, 0);
        assert_eq!(m.files[0].1.url.host_str(), Some("private"));
        assert_eq!(m.meta["api-version"], "1.1");
    }

    #[test]
    fn html_sources_give_versions_from_filenames() {
        let html = Page {
            files: vec![
                dist("demo-1.0-py3-none-any.whl", "h", None, None),
                dist("demo-1.0.tar.gz", "h", None, None),
                dist("demo-1.1+local-py3-none-any.whl", "h", None, None),
            ],
            ..Page::default()
        };
        let m = merge("demo", vec![(0, html)]);
        assert_eq!(m.versions, vec!["1.0", "1.1+local"]);
        assert_eq!(m.meta["api-version"], "1.0");
        assert!(!m.all_sized);
    }

    #[test]
    fn verification_prefers_sha256_and_checks_the_shape() {
        let d = dist("a.whl", "h", Some(&"AB".repeat(32)), None);
        assert_eq!(d.verify(), Verify::Sha256("ab".repeat(32)));
        let bad = dist("a.whl", "h", Some("zz"), None);
        assert_eq!(bad.verify(), Verify::None);
        let mut md5 = dist("a.whl", "h", None, None);
        md5.fields["hashes"]
            .as_object_mut()
            .unwrap()
            .insert("md5".into(), "00".into());
        assert_eq!(md5.verify(), Verify::None);
        assert_eq!(md5.fragment_hash(), Some(("md5", "00")));
    }
}
