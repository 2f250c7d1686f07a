//! The one model of a project page that both formats parse into and render from.
//!
//! Upstreams answer in PEP 691 JSON or PEP 503 HTML; clients ask for either. Each file keeps
//! the keys repox acts on in typed form (hashes, PEP 658/714 metadata, PEP 592 yank, PEP 700
//! size, …) and, for JSON clients, every key but `filename` and `url` exactly as the upstream
//! wrote it (`raw`), so that what repox does not know (`upload-time`, future keys) reaches them
//! untouched and re-emitting a page costs little more than a copy. HTML parsing fills both from
//! the `data-*` attributes. The `url` is held apart: resolved against the upstream page, and
//! replaced by a repox link when rendered. Pages from several upstreams are merged here: the
//! best-priority upstream wins a filename listed by more than one.

use std::collections::HashSet;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
    /// `project-status`, …), as the upstream wrote them.
    pub extra: Extra,
}

/// Top-level keys repox passes through, as the upstream wrote them.
pub type Extra = Vec<(String, Box<RawValue>)>;

/// PEP 658 metadata of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// `true`: it exists, no hash given.
    Unhashed,
    /// Its hashes.
    Hashes(Vec<(String, String)>),
}

/// One file of a page.
#[derive(Debug, Clone, Default)]
pub struct Dist {
    /// The filename (PEP 503: the link text; PEP 691: `filename`).
    pub filename: String,
    /// Where the upstream serves it: absolute, without the hash fragment.
    pub url: String,
    /// `hashes` (name, hex), in upstream order.
    pub hashes: Vec<(String, String)>,
    /// `requires-python`.
    pub requires_python: Option<String>,
    /// `core-metadata` (or the older `dist-info-metadata`).
    pub core_metadata: Option<Metadata>,
    /// PEP 592: `None` = not yanked, `Some(reason)` = yanked (an empty reason = none given).
    pub yanked: Option<String>,
    /// `gpg-sig`.
    pub gpg_sig: Option<bool>,
    /// PEP 740 `provenance` URL, absolute.
    pub provenance: Option<String>,
    /// PEP 700 `size`.
    pub size: Option<u64>,
    /// Every PEP 691 key but `filename` and `url` as JSON object members, each after a comma
    /// (`,"hashes":{…},"size":1`), in upstream order: one string per file, copied as it is into
    /// JSON pages.
    pub json: String,
}

/// Hash names PEP 503 lets a fragment carry, as `hashlib` spells them.
pub const HASH_NAMES: &[&str] = &[
    "sha256", "sha512", "sha384", "sha224", "sha1", "md5", "blake2b", "blake2s", "sha3_256",
    "sha3_512",
];

/// A small value as raw JSON.
pub fn raw(v: &impl serde::Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("plain values serialize")
}

fn pairs(h: &[(String, String)]) -> Map<String, Value> {
    h.iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

impl Dist {
    /// Appends `,"<key>":<value>` to `json`.
    pub fn push_json(&mut self, key: &str, value: &impl serde::Serialize) {
        self.json.push(',');
        self.json
            .push_str(&serde_json::to_string(key).expect("a string serializes"));
        self.json.push(':');
        self.json
            .push_str(&serde_json::to_string(value).expect("plain values serialize"));
    }

    /// Fills `json` from the typed fields (for files read from HTML).
    pub fn fill_json(&mut self) {
        self.json.clear();
        let hashes: Map<String, Value> = pairs(&self.hashes);
        self.push_json("hashes", &hashes);
        if let Some(rp) = self.requires_python.clone() {
            self.push_json("requires-python", &rp);
        }
        match self.core_metadata.clone() {
            Some(Metadata::Unhashed) => self.push_json("core-metadata", &true),
            Some(Metadata::Hashes(h)) => self.push_json("core-metadata", &pairs(&h)),
            None => {}
        }
        if let Some(sig) = self.gpg_sig {
            self.push_json("gpg-sig", &sig);
        }
        match self.yanked.clone() {
            Some(reason) if reason.is_empty() => self.push_json("yanked", &true),
            Some(reason) => self.push_json("yanked", &reason),
            None => {}
        }
        if let Some(p) = self.provenance.clone() {
            self.push_json("provenance", &p);
        }
    }

    /// The hash to put in a link fragment: sha256 if known, else the first one.
    pub fn fragment_hash(&self) -> Option<(&str, &str)> {
        self.hashes
            .iter()
            .find(|(k, _)| k == "sha256")
            .or_else(|| self.hashes.first())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// What a download of the file must match.
    pub fn verify(&self) -> Verify {
        verify_from(&self.hashes)
    }

    /// PEP 658/714: `None` = no metadata file; `Some(v)` = served, to be checked against `v`.
    pub fn metadata_check(&self) -> Option<Verify> {
        match self.core_metadata.as_ref()? {
            Metadata::Unhashed => Some(Verify::None),
            Metadata::Hashes(h) => Some(verify_from(h)),
        }
    }
}

/// The strongest digest the engine can check, from `hashes`.
fn verify_from(hashes: &[(String, String)]) -> Verify {
    let hex = |name: &str, len: usize| {
        hashes
            .iter()
            .find(|(k, v)| k == name && v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if let Some(h) = hex("sha256", 64) {
        Verify::Sha256(h)
    } else if let Some(h) = hex("sha512", 128) {
        Verify::Sha512(h)
    } else if let Some(h) = hex("sha1", 40) {
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
    pub extra: Extra,
    /// (upstream index, file) in priority order, one per filename.
    pub files: Vec<(usize, Dist)>,
    /// Every file has a `size` (PEP 700 makes it mandatory in JSON from 1.1 on).
    pub all_sized: bool,
}

impl Merged {
    /// A top-level key of the best upstream, parsed.
    pub fn extra_value(&self, key: &str) -> Option<Value> {
        let (_, v) = self.extra.iter().find(|(k, _)| k == key)?;
        serde_json::from_str(v.get()).ok()
    }
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
    let mut first: Option<(Map<String, Value>, Extra)> = None;
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
            all_sized &= dist.size.is_some();
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
        let mut d = Dist {
            filename: filename.into(),
            url: format!("https://{host}/{filename}"),
            size,
            ..Dist::default()
        };
        if let Some(sha) = sha {
            d.hashes.push(("sha256".into(), sha.into()));
        }
        d.fill_json();
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
            dist("..", "pypi", Some("dd"), Some(1)),
            dist("a/../../b.whl", "pypi", Some("dd"), Some(1)),
        ];
        let m = merge("demo", vec![(0, a), (1, b)]);
        assert_eq!(m.versions, vec!["1.0", "2.0"]);
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[0].0, 0);
        assert_eq!(m.files[0].1.url, "https://private/demo-1.0.tar.gz");
        assert_eq!(m.meta["api-version"], "1.1");
        assert!(m.all_sized);
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
        md5.hashes.push(("md5".into(), "00".into()));
        assert_eq!(md5.verify(), Verify::None);
        assert_eq!(md5.fragment_hash(), Some(("md5", "00")));
    }

    #[test]
    fn json_follows_the_typed_fields() {
        let mut d = dist("a-1.0.tar.gz", "h", Some("aa"), None);
        d.yanked = Some(String::new());
        d.core_metadata = Some(Metadata::Unhashed);
        d.fill_json();
        assert_eq!(
            d.json,
            r#","hashes":{"sha256":"aa"},"core-metadata":true,"yanked":true"#
        );
    }
}
