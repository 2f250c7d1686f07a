//! Hosted npm: what `npm publish`, `npm dist-tag`, `npm deprecate` and `npm unpublish` send,
//! checked, and the packument repox keeps and serves for each hosted package.
//!
//! npm speaks CouchDB-era JSON (libnpmpublish, npm-profile):
//! - `npm publish` is `PUT /<name>` with a packument holding one version and its tarball as a
//!   base64 `_attachments` entry; the tarball is refused unless it matches the
//!   `dist.integrity`/`dist.shasum` the client computed ([`Publish::parse`]);
//! - `npm deprecate` and `npm unpublish <name>@<version>` fetch `/<name>?write=true`, edit it and
//!   `PUT` it back (to `/<name>` or `/<name>/-rev/<rev>`) without attachments: repox takes from
//!   that document only the `deprecated` messages, the dist-tags and which versions are gone
//!   ([`Document::update`]); everything else in a published manifest is immutable;
//! - `npm unpublish <name>` (or of the only version) is `DELETE /<name>/-rev/<rev>`;
//! - `npm dist-tag add|rm|ls` use `/-/package/<name>/dist-tags[/<tag>]`.
//!
//! A [`Document`] is the stored state of one package; [`Document::render`] turns it into the
//! full or abbreviated packument with absolute tarball URLs for the origin the client used.
//! A version number once published is never reused, even after an unpublish (as on npmjs).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Why a publish or an edit was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NpmError {
    /// The request is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// The tarball does not match the digest the client sent, or is cut short (400).
    #[error("{0}")]
    Digest(String),
    /// The version exists or existed, or the document changed meanwhile (409).
    #[error("{0}")]
    Conflict(String),
    /// The unpublish policy forbids it (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such package, version or tag (404).
    #[error("{0}")]
    NotFound(String),
}

impl NpmError {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            NpmError::Invalid(_) | NpmError::Digest(_) => http::StatusCode::BAD_REQUEST,
            NpmError::Conflict(_) => http::StatusCode::CONFLICT,
            NpmError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            NpmError::NotFound(_) => http::StatusCode::NOT_FOUND,
        }
    }
}

fn invalid(why: impl Into<String>) -> NpmError {
    NpmError::Invalid(why.into())
}

/// True for a package name npm accepts for new packages: `name` or `@scope/name`, each part
/// lowercase URL-safe characters (`validate-npm-package-name`), at most 214 characters.
pub fn valid_name(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.starts_with('_')
            && p.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'_' | b'~')
            })
    };
    if name.len() > 214 {
        return false;
    }
    match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, base)| part(scope) && part(base)),
        None => part(name),
    }
}

/// True for a semver version: ASCII letters, digits, `.`, `-`, `+`, starting with a digit.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 256
        && version.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// True for a dist-tag: URL-safe, and not something npm would read as a version or range.
pub fn valid_tag(tag: &str) -> bool {
    crate::policy::documents::npm_is_tag(tag)
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The tarball file name of a version: `<name>-<version>.tgz`, the scope left out.
pub fn tarball_file(name: &str, version: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    format!("{base}-{version}.tgz")
}

/// One `npm publish`, checked.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The package name.
    pub name: String,
    /// The version published.
    pub version: String,
    /// The version's manifest as the client sent it (`package.json` plus `dist`, `_id`, …).
    pub manifest: Map<String, Value>,
    /// The dist-tag to point at it (`latest` unless `--tag`).
    pub tag: String,
    /// The tarball, verified against the manifest's `dist`.
    pub tarball: Vec<u8>,
    /// Package-level fields kept for the packument (`description`, `readme`).
    pub description: Option<String>,
    /// The package's readme, if sent.
    pub readme: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    data: String,
    length: Option<u64>,
}

impl Publish {
    /// Parses a publish body for the package named in the URL, and verifies the attached
    /// tarball against the digests the client sent.
    pub fn parse(url_name: &str, body: &[u8]) -> Result<Publish, NpmError> {
        let doc: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the publish body is not a JSON object: {e}")))?;
        let name = doc
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the publish body has no `name`"))?;
        if name != url_name {
            return Err(invalid(format!(
                "the body publishes `{name}` but the URL names `{url_name}`"
            )));
        }
        if !valid_name(name) {
            return Err(invalid(format!(
                "`{name}` is not a valid npm package name (lowercase letters, digits, `-._~`, \
                 optionally `@scope/`)"
            )));
        }
        let versions = doc
            .get("versions")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("the publish body has no `versions`"))?;
        let [(version, manifest)] = versions.iter().collect::<Vec<_>>()[..] else {
            return Err(invalid("a publish carries exactly one version"));
        };
        if !valid_version(version) {
            return Err(invalid(format!("`{version}` is not a semver version")));
        }
        let manifest = manifest
            .as_object()
            .ok_or_else(|| invalid(format!("version {version} is not a JSON object")))?;
        if manifest.get("name").and_then(Value::as_str) != Some(name)
            || manifest.get("version").and_then(Value::as_str) != Some(version)
        {
            return Err(invalid(format!(
                "the manifest of {version} does not name {name}@{version}"
            )));
        }
        let tag = match doc.get("dist-tags").and_then(Value::as_object) {
            Some(tags) => match tags.iter().find(|(_, v)| v.as_str() == Some(version)) {
                Some((tag, _)) => tag.clone(),
                None => return Err(invalid(format!("no dist-tag points at {version}"))),
            },
            None => "latest".to_owned(),
        };
        if !valid_tag(&tag) {
            return Err(invalid(format!("`{tag}` is not a valid dist-tag")));
        }
        let tarball = attachment(&doc, name, version)?;
        let dist = manifest
            .get("dist")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid(format!("the manifest of {version} has no `dist`")))?;
        verify(dist, &tarball, &tarball_file(name, version))?;
        let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Publish {
            name: name.to_owned(),
            version: version.clone(),
            manifest: manifest.clone(),
            tag,
            tarball,
            description: text("description"),
            readme: text("readme"),
        })
    }
}

/// The one tarball attachment of a publish, decoded and checked against its stated length.
fn attachment(doc: &Map<String, Value>, name: &str, version: &str) -> Result<Vec<u8>, NpmError> {
    let attachments = doc
        .get("_attachments")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("the publish body has no tarball in `_attachments`"))?;
    // npm names the attachment with the full (scoped) name; the file on the registry drops it.
    let expected = format!("{name}-{version}.tgz");
    let raw = attachments.get(&expected).ok_or_else(|| {
        invalid(format!(
            "the publish body has no attachment named `{expected}`"
        ))
    })?;
    let other = attachments
        .keys()
        .find(|k| **k != expected && k.ends_with(".tgz"));
    if let Some(other) = other {
        return Err(invalid(format!("unexpected second tarball `{other}`")));
    }
    let att: Attachment = serde_json::from_value(raw.clone())
        .map_err(|e| invalid(format!("attachment `{expected}`: {e}")))?;
    let tarball = base64::engine::general_purpose::STANDARD
        .decode(att.data.as_bytes())
        .map_err(|e| NpmError::Digest(format!("attachment `{expected}` is not base64: {e}")))?;
    if let Some(length) = att.length
        && length != tarball.len() as u64
    {
        return Err(NpmError::Digest(format!(
            "attachment `{expected}` holds {} bytes but says {length}: the upload was cut short",
            tarball.len()
        )));
    }
    Ok(tarball)
}

/// Checks the tarball against every digest in `dist.integrity` (SRI) and `dist.shasum`; at
/// least one must be present.
fn verify(dist: &Map<String, Value>, tarball: &[u8], file: &str) -> Result<(), NpmError> {
    let mut checked = 0;
    let mismatch = |what: &str| {
        NpmError::Digest(format!(
            "{file} does not match the {what} the client sent: the upload is corrupt or cut short"
        ))
    };
    if let Some(sri) = dist.get("integrity").and_then(Value::as_str) {
        for token in sri.split_whitespace() {
            let Some((algorithm, b64)) = token.split_once('-') else {
                continue;
            };
            let b64 = b64.split('?').next().unwrap_or("");
            let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                return Err(invalid(format!(
                    "`{token}` in dist.integrity is not base64"
                )));
            };
            let actual = match algorithm {
                "sha512" => Sha512::digest(tarball).to_vec(),
                "sha256" => Sha256::digest(tarball).to_vec(),
                "sha1" => Sha1::digest(tarball).to_vec(),
                _ => continue,
            };
            if actual != expected {
                return Err(mismatch("dist.integrity"));
            }
            checked += 1;
        }
    }
    if let Some(shasum) = dist.get("shasum").and_then(Value::as_str) {
        if !shasum.eq_ignore_ascii_case(&hex::encode(Sha1::digest(tarball))) {
            return Err(mismatch("dist.shasum"));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(invalid(format!(
            "the manifest of {file} has neither dist.integrity nor dist.shasum to verify it"
        )));
    }
    Ok(())
}

/// Who may unpublish: anyone with write access within `window` of each version's publication,
/// admins always (npmjs allows 72 hours).
#[derive(Debug, Clone, Copy)]
pub struct UnpublishPolicy {
    /// How long after publication a writer may still unpublish.
    pub window: Duration,
    /// The request comes from an admin.
    pub admin: bool,
}

/// The stored state of one hosted package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The package name.
    pub name: String,
    /// Bumped on every change; the `_rev` clients send back.
    pub rev: u64,
    /// Package description from the latest publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Readme from the latest publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    /// Tag to version.
    pub dist_tags: BTreeMap<String, String>,
    /// Version to manifest, without `dist.tarball` (added when rendered).
    pub versions: BTreeMap<String, Map<String, Value>>,
    /// Version to publication time (RFC 3339), kept after unpublish.
    pub published: BTreeMap<String, String>,
    /// Creation time of the package (RFC 3339).
    pub created: String,
    /// Time of the last change (RFC 3339).
    pub modified: String,
}

/// RFC 3339 with milliseconds, as npm writes `time`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// What an edit took away, so the caller can delete the tarballs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Versions unpublished.
    pub versions: Vec<String>,
}

impl Document {
    /// The document of a package before its first publish.
    pub fn new(name: &str, now: SystemTime) -> Document {
        Document {
            name: name.to_owned(),
            rev: 0,
            description: None,
            readme: None,
            dist_tags: BTreeMap::new(),
            versions: BTreeMap::new(),
            published: BTreeMap::new(),
            created: timestamp(now),
            modified: timestamp(now),
        }
    }

    /// The `_rev` clients see: the counter and a short digest of the package name.
    pub fn rev_string(&self) -> String {
        let digest = hex::encode(Sha256::digest(format!("{}@{}", self.name, self.rev)));
        format!("{}-{}", self.rev, &digest[..16])
    }

    /// Refuses an edit made against an older revision (CouchDB's optimistic locking).
    pub fn check_rev(&self, rev: Option<&str>) -> Result<(), NpmError> {
        match rev {
            Some(rev) if rev != self.rev_string() => Err(NpmError::Conflict(format!(
                "{} changed since revision {rev} (now {}): fetch it again",
                self.name,
                self.rev_string()
            ))),
            _ => Ok(()),
        }
    }

    fn touch(&mut self, now: SystemTime) {
        self.rev += 1;
        self.modified = timestamp(now);
    }

    /// Adds a published version; a version that exists or once existed is refused.
    pub fn publish(&mut self, p: &Publish, now: SystemTime) -> Result<(), NpmError> {
        if p.name != self.name {
            return Err(invalid(format!("{} is not {}", p.name, self.name)));
        }
        if self.published.contains_key(&p.version) {
            return Err(NpmError::Conflict(format!(
                "{}@{} was already published: versions are immutable, publish a new version",
                p.name, p.version
            )));
        }
        let mut manifest = p.manifest.clone();
        if let Some(Value::Object(dist)) = manifest.get_mut("dist") {
            dist.remove("tarball");
        }
        // Private fields of the client are not part of the registry's document.
        manifest.retain(|k, _| !k.starts_with('_') || k == "_id" || k == "_hasShrinkwrap");
        manifest.insert("_id".into(), format!("{}@{}", p.name, p.version).into());
        self.versions.insert(p.version.clone(), manifest);
        self.published.insert(p.version.clone(), timestamp(now));
        self.dist_tags.insert(p.tag.clone(), p.version.clone());
        if !self.dist_tags.contains_key("latest") {
            self.dist_tags.insert("latest".into(), p.version.clone());
        }
        if p.description.is_some() {
            self.description.clone_from(&p.description);
        }
        if p.readme.is_some() {
            self.readme.clone_from(&p.readme);
        }
        self.touch(now);
        Ok(())
    }

    /// Points `tag` at `version` (`npm dist-tag add`).
    pub fn set_tag(&mut self, tag: &str, version: &str, now: SystemTime) -> Result<(), NpmError> {
        if !valid_tag(tag) {
            return Err(invalid(format!("`{tag}` is not a valid dist-tag")));
        }
        if !self.versions.contains_key(version) {
            return Err(NpmError::NotFound(format!(
                "{}@{version} is not published",
                self.name
            )));
        }
        self.dist_tags.insert(tag.to_owned(), version.to_owned());
        self.touch(now);
        Ok(())
    }

    /// Removes `tag` (`npm dist-tag rm`); `latest` stays while versions exist.
    pub fn remove_tag(&mut self, tag: &str, now: SystemTime) -> Result<(), NpmError> {
        if tag == "latest" {
            return Err(invalid("the `latest` tag cannot be removed, only moved"));
        }
        if self.dist_tags.remove(tag).is_none() {
            return Err(NpmError::NotFound(format!(
                "`{tag}` is not a dist-tag of {}",
                self.name
            )));
        }
        self.touch(now);
        Ok(())
    }

    /// Whether the versions may be unpublished now under `policy`.
    pub fn may_unpublish<'a>(
        &self,
        versions: impl IntoIterator<Item = &'a String>,
        now: SystemTime,
        policy: UnpublishPolicy,
    ) -> Result<(), NpmError> {
        if policy.admin {
            return Ok(());
        }
        for version in versions {
            let at = self.published.get(version).and_then(|t| parse_time(t));
            let age = at.and_then(|at| now.duration_since(at).ok());
            if age.is_none_or(|age| age > policy.window) {
                return Err(NpmError::Forbidden(format!(
                    "{}@{version} was published more than {} ago: only an admin may unpublish \
                     it now (deprecate it instead: npm deprecate)",
                    self.name,
                    humantime::format_duration(policy.window)
                )));
            }
        }
        Ok(())
    }

    /// Applies a packument the client edited and sent back without attachments (`npm
    /// deprecate`, `npm unpublish <name>@<version>`): its `deprecated` messages, its
    /// dist-tags, and the versions it left out. Nothing else of a version can change.
    pub fn update(
        &mut self,
        body: &[u8],
        now: SystemTime,
        policy: UnpublishPolicy,
    ) -> Result<Removed, NpmError> {
        let doc: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the packument is not a JSON object: {e}")))?;
        if doc
            .get("_attachments")
            .and_then(Value::as_object)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(invalid(
                "an edit of an existing package cannot carry tarballs: publish a new version",
            ));
        }
        if doc.get("name").and_then(Value::as_str) != Some(self.name.as_str()) {
            return Err(invalid(format!(
                "the packument does not name {}",
                self.name
            )));
        }
        let empty = Map::new();
        let incoming = doc
            .get("versions")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(extra) = incoming.keys().find(|v| !self.versions.contains_key(*v)) {
            return Err(invalid(format!(
                "{}@{extra} is not published: publish it with its tarball",
                self.name
            )));
        }
        let gone: Vec<String> = self
            .versions
            .keys()
            .filter(|v| !incoming.contains_key(*v))
            .cloned()
            .collect();
        if !gone.is_empty() && gone.len() == self.versions.len() {
            return Err(invalid(
                "an edit cannot remove every version: unpublish the package (npm unpublish NAME)",
            ));
        }
        self.may_unpublish(&gone, now, policy)?;
        let mut next = self.clone();
        for v in &gone {
            next.versions.remove(v);
        }
        for (version, manifest) in incoming {
            let Some(mine) = next.versions.get_mut(version) else {
                continue;
            };
            match manifest.get("deprecated") {
                Some(Value::String(m)) if !m.is_empty() => {
                    mine.insert("deprecated".into(), m.clone().into());
                }
                Some(Value::String(_)) | None => {
                    mine.remove("deprecated");
                }
                Some(_) => return Err(invalid(format!("`deprecated` of {version} is not text"))),
            }
        }
        if let Some(tags) = doc.get("dist-tags").and_then(Value::as_object) {
            let mut new_tags = BTreeMap::new();
            for (tag, version) in tags {
                let version = version
                    .as_str()
                    .filter(|v| next.versions.contains_key(*v))
                    .ok_or_else(|| {
                        invalid(format!("dist-tag `{tag}` points at no published version"))
                    })?;
                if !valid_tag(tag) {
                    return Err(invalid(format!("`{tag}` is not a valid dist-tag")));
                }
                new_tags.insert(tag.clone(), version.to_owned());
            }
            next.dist_tags = new_tags;
        }
        next.dist_tags.retain(|_, v| next.versions.contains_key(v));
        if !next.dist_tags.contains_key("latest")
            && let Some(highest) = next.highest()
        {
            next.dist_tags.insert("latest".into(), highest);
        }
        next.touch(now);
        *self = next;
        Ok(Removed { versions: gone })
    }

    /// The highest version by semver precedence (release over pre-release).
    fn highest(&self) -> Option<String> {
        self.versions
            .keys()
            .max_by(|a, b| semver_cmp(a, b))
            .cloned()
    }

    /// The packument for a client: `full` for `npm view` and edits, else the abbreviated
    /// install document; `tarball_base` is the repository URL ending in `/`.
    pub fn render(&self, tarball_base: &str, full: bool) -> Value {
        let mut versions = Map::new();
        for (version, manifest) in &self.versions {
            let mut m = if full {
                manifest.clone()
            } else {
                abbreviate(manifest)
            };
            let url = format!(
                "{tarball_base}{}/-/{}",
                self.name,
                tarball_file(&self.name, version)
            );
            let dist = m.entry("dist").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(dist) = dist {
                dist.insert("tarball".into(), url.into());
            }
            versions.insert(version.clone(), Value::Object(m));
        }
        let tags = serde_json::to_value(&self.dist_tags).unwrap_or_default();
        if !full {
            return serde_json::json!({
                "name": self.name,
                "modified": self.modified,
                "dist-tags": tags,
                "versions": versions,
            });
        }
        let mut time = Map::new();
        time.insert("created".into(), self.created.clone().into());
        time.insert("modified".into(), self.modified.clone().into());
        for (version, at) in &self.published {
            if self.versions.contains_key(version) {
                time.insert(version.clone(), at.clone().into());
            }
        }
        let mut doc = serde_json::json!({
            "_id": self.name,
            "_rev": self.rev_string(),
            "name": self.name,
            "dist-tags": tags,
            "versions": versions,
            "time": time,
        });
        if let Value::Object(o) = &mut doc {
            if let Some(d) = &self.description {
                o.insert("description".into(), d.clone().into());
            }
            if let Some(r) = &self.readme {
                o.insert("readme".into(), r.clone().into());
            }
        }
        doc
    }
}

/// The fields of a version that installs need (the registry's "corgi" document).
fn abbreviate(manifest: &Map<String, Value>) -> Map<String, Value> {
    const KEEP: &[&str] = &[
        "name",
        "version",
        "deprecated",
        "dependencies",
        "optionalDependencies",
        "devDependencies",
        "bundleDependencies",
        "bundledDependencies",
        "peerDependencies",
        "peerDependenciesMeta",
        "acceptDependencies",
        "bin",
        "directories",
        "dist",
        "engines",
        "os",
        "cpu",
        "libc",
        "funding",
        "license",
        "_hasShrinkwrap",
        "hasInstallScript",
    ];
    manifest
        .iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Semver precedence, lenient: numeric `major.minor.patch`, a release above its
/// pre-releases, pre-release identifiers compared numerically when both are numbers.
pub fn semver_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<&str>) {
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        (
            core.split('.').map(|n| n.parse().unwrap_or(0)).collect(),
            pre,
        )
    }
    let ((ca, pa), (cb, pb)) = (split(a), split(b));
    ca.cmp(&cb).then_with(|| match (pa, pb) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            for (i, j) in xs.iter().zip(&ys) {
                let o = match (i.parse::<u64>(), j.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                    (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                    (Err(_), Err(_)) => i.cmp(j),
                };
                if o.is_ne() {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
    })
}

/// Parses the body of `npm dist-tag add`: a JSON string naming the version.
pub fn parse_tag_body(body: &[u8]) -> Result<String, NpmError> {
    serde_json::from_slice::<String>(body)
        .map_err(|_| invalid("a dist-tag body is a JSON string naming a version, e.g. \"1.0.0\""))
}

/// The user name and password of `npm login` (`PUT /-/user/org.couchdb.user:NAME`), checked
/// against the name in the URL.
pub fn parse_login(url_user: &str, body: &[u8]) -> Result<(String, String), NpmError> {
    #[derive(Deserialize)]
    struct Login {
        name: String,
        password: String,
    }
    let login: Login = serde_json::from_slice(body)
        .map_err(|_| invalid("a login body is a JSON object with `name` and `password`"))?;
    if login.name != url_user {
        return Err(invalid("the login body names another user than the URL"));
    }
    Ok((login.name, login.password))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn publish_body(name: &str, version: &str, tarball: &[u8], tag: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let integrity = format!("sha512-{}", b64.encode(Sha512::digest(tarball)));
        let shasum = hex::encode(Sha1::digest(tarball));
        serde_json::to_vec(&serde_json::json!({
            "_id": name,
            "name": name,
            "description": "a test package",
            "dist-tags": { tag: version },
            "versions": { version: {
                "name": name,
                "version": version,
                "dependencies": { "left-pad": "^1.0.0" },
                "scripts": { "test": "true" },
                "_npmVersion": "11.0.0",
                "dist": {
                    "integrity": integrity,
                    "shasum": shasum,
                    "tarball": format!("http://x/{name}/-/{}", tarball_file(name, version)),
                },
            }},
            "access": null,
            "_attachments": { format!("{name}-{version}.tgz"): {
                "content_type": "application/octet-stream",
                "data": b64.encode(tarball),
                "length": tarball.len(),
            }},
        }))
        .unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
    }

    const WRITER: UnpublishPolicy = UnpublishPolicy {
        window: Duration::from_secs(72 * 3600),
        admin: false,
    };

    fn published(versions: &[&str]) -> Document {
        let mut doc = Document::new("@acme/lib", at(0));
        for v in versions {
            let p = Publish::parse("@acme/lib", &publish_body("@acme/lib", v, b"tgz", "latest"))
                .unwrap();
            doc.publish(&p, at(0)).unwrap();
        }
        doc
    }

    #[test]
    fn a_publish_is_parsed_and_verified() {
        let body = publish_body("@acme/lib", "1.0.0", b"tarball bytes", "beta");
        let p = Publish::parse("@acme/lib", &body).unwrap();
        assert_eq!((p.version.as_str(), p.tag.as_str()), ("1.0.0", "beta"));
        assert_eq!(p.tarball, b"tarball bytes");
        assert_eq!(p.description.as_deref(), Some("a test package"));
    }

    #[test]
    fn corrupt_truncated_or_unverifiable_tarballs_are_refused() {
        let body = publish_body("lib", "1.0.0", b"tarball bytes", "latest");
        let mut doc: Value = serde_json::from_slice(&body).unwrap();
        let att = &mut doc["_attachments"]["lib-1.0.0.tgz"];
        let b64 = base64::engine::general_purpose::STANDARD;
        att["data"] = b64.encode(b"tarball bytez").into();
        let e = Publish::parse("lib", &serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(matches!(e, NpmError::Digest(_)), "{e}");

        att_mut(&mut doc)["data"] = b64.encode(b"tarball").into();
        let e = Publish::parse("lib", &serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");

        // Only the shasum: still checked.
        let mut doc: Value = serde_json::from_slice(&body).unwrap();
        doc["versions"]["1.0.0"]["dist"]
            .as_object_mut()
            .unwrap()
            .remove("integrity");
        att_mut(&mut doc)["data"] = b64.encode(b"tarball bytez").into();
        att_mut(&mut doc)["length"] = 13.into();
        let e = Publish::parse("lib", &serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(matches!(e, NpmError::Digest(_)), "{e}");

        // No digest at all: refused, not trusted.
        doc["versions"]["1.0.0"]["dist"]
            .as_object_mut()
            .unwrap()
            .remove("shasum");
        let e = Publish::parse("lib", &serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }

    fn att_mut(doc: &mut Value) -> &mut Value {
        let atts = doc["_attachments"].as_object_mut().unwrap();
        atts.values_mut().next().unwrap()
    }

    #[test]
    fn names_and_versions_must_agree_with_the_url() {
        let body = publish_body("lib", "1.0.0", b"x", "latest");
        assert!(Publish::parse("other", &body).is_err());
        let body = publish_body("Lib", "1.0.0", b"x", "latest");
        assert!(Publish::parse("Lib", &body).is_err());
        let body = publish_body("lib", "../1", b"x", "latest");
        assert!(Publish::parse("lib", &body).is_err());
        assert!(Publish::parse("lib", b"[]").is_err());
        assert!(Publish::parse("lib", b"{\"name\":\"lib\"}").is_err());
    }

    #[test]
    fn a_version_is_never_published_twice_even_after_unpublish() {
        let mut doc = published(&["1.0.0", "1.1.0"]);
        let again = Publish::parse(
            "@acme/lib",
            &publish_body("@acme/lib", "1.0.0", b"y", "latest"),
        )
        .unwrap();
        assert!(matches!(
            doc.publish(&again, at(1)),
            Err(NpmError::Conflict(_))
        ));
        let mut edited = doc.render("http://h/npm/", true);
        edited["versions"].as_object_mut().unwrap().remove("1.0.0");
        let removed = doc
            .update(&serde_json::to_vec(&edited).unwrap(), at(2), WRITER)
            .unwrap();
        assert_eq!(removed.versions, ["1.0.0"]);
        assert!(matches!(
            doc.publish(&again, at(3)),
            Err(NpmError::Conflict(_))
        ));
    }

    #[test]
    fn packuments_carry_time_tags_and_absolute_tarballs() {
        let doc = published(&["1.0.0", "2.0.0-rc.1"]);
        let full = doc.render("http://h:1/npm-releases/", true);
        assert_eq!(full["dist-tags"]["latest"], "2.0.0-rc.1");
        assert_eq!(
            full["versions"]["1.0.0"]["dist"]["tarball"],
            "http://h:1/npm-releases/@acme/lib/-/lib-1.0.0.tgz"
        );
        assert!(full["time"]["1.0.0"].as_str().unwrap().ends_with('Z'));
        assert!(full["time"]["created"].is_string());
        assert_eq!(full["_rev"], doc.rev_string());
        assert!(full["versions"]["1.0.0"].get("_npmVersion").is_none());
        let short = doc.render("http://h:1/npm-releases/", false);
        assert!(short["versions"]["1.0.0"].get("scripts").is_none());
        assert!(short["versions"]["1.0.0"]["dependencies"].is_object());
        assert!(short.get("time").is_none());
    }

    #[test]
    fn dist_tags_move_and_latest_stays() {
        let mut doc = published(&["1.0.0", "1.1.0"]);
        doc.set_tag("stable", "1.0.0", at(1)).unwrap();
        assert_eq!(doc.dist_tags["stable"], "1.0.0");
        assert!(doc.set_tag("stable", "9.9.9", at(1)).is_err());
        assert!(doc.set_tag("1.0", "1.0.0", at(1)).is_err());
        doc.remove_tag("stable", at(2)).unwrap();
        assert!(matches!(
            doc.remove_tag("stable", at(2)),
            Err(NpmError::NotFound(_))
        ));
        assert!(doc.remove_tag("latest", at(2)).is_err());
        assert_eq!(parse_tag_body(b"\"1.0.0\"").unwrap(), "1.0.0");
        assert!(parse_tag_body(b"1").is_err());
    }

    #[test]
    fn deprecate_sets_and_clears_messages_but_nothing_else() {
        let mut doc = published(&["1.0.0"]);
        let mut edited = doc.render("http://h/", true);
        edited["versions"]["1.0.0"]["deprecated"] = "use 2".into();
        edited["versions"]["1.0.0"]["dependencies"] = serde_json::json!({"evil": "*"});
        doc.update(&serde_json::to_vec(&edited).unwrap(), at(1), WRITER)
            .unwrap();
        assert_eq!(doc.versions["1.0.0"]["deprecated"], "use 2");
        assert_eq!(doc.versions["1.0.0"]["dependencies"]["left-pad"], "^1.0.0");
        assert!(doc.versions["1.0.0"]["dependencies"].get("evil").is_none());
        let mut edited = doc.render("http://h/", true);
        edited["versions"]["1.0.0"]["deprecated"] = "".into();
        doc.update(&serde_json::to_vec(&edited).unwrap(), at(2), WRITER)
            .unwrap();
        assert!(doc.versions["1.0.0"].get("deprecated").is_none());
    }

    #[test]
    fn unpublish_follows_the_policy() {
        let mut doc = published(&["1.0.0", "1.1.0"]);
        let mut edited = doc.render("http://h/", true);
        edited["versions"].as_object_mut().unwrap().remove("1.1.0");
        edited["dist-tags"]["latest"] = "1.0.0".into();
        let body = serde_json::to_vec(&edited).unwrap();
        let late = at(73 * 3600);
        let e = doc.clone().update(&body, late, WRITER).unwrap_err();
        assert!(matches!(e, NpmError::Forbidden(_)), "{e}");
        let admin = UnpublishPolicy {
            admin: true,
            ..WRITER
        };
        let mut by_admin = doc.clone();
        by_admin.update(&body, late, admin).unwrap();
        assert_eq!(by_admin.dist_tags["latest"], "1.0.0");
        doc.update(&body, at(3600), WRITER).unwrap();
        assert_eq!(doc.versions.keys().collect::<Vec<_>>(), ["1.0.0"]);
        assert!(doc.render("http://h/", true)["time"].get("1.1.0").is_none());
    }

    #[test]
    fn edits_cannot_add_versions_or_carry_tarballs() {
        let mut doc = published(&["1.0.0"]);
        let mut edited = doc.render("http://h/", true);
        edited["versions"]["2.0.0"] = edited["versions"]["1.0.0"].clone();
        assert!(
            doc.update(&serde_json::to_vec(&edited).unwrap(), at(1), WRITER)
                .is_err()
        );
        let body = publish_body("@acme/lib", "1.0.0", b"tgz", "latest");
        assert!(doc.update(&body, at(1), WRITER).is_err());
    }

    #[test]
    fn stale_revisions_are_refused() {
        let mut doc = published(&["1.0.0"]);
        let old = doc.rev_string();
        doc.check_rev(Some(&old)).unwrap();
        doc.set_tag("next", "1.0.0", at(1)).unwrap();
        assert!(matches!(
            doc.check_rev(Some(&old)),
            Err(NpmError::Conflict(_))
        ));
        doc.check_rev(None).unwrap();
    }

    #[test]
    fn logins_name_the_user_of_the_url() {
        let body =
            br#"{"_id":"org.couchdb.user:alice","name":"alice","password":"pw","type":"user"}"#;
        assert_eq!(
            parse_login("alice", body).unwrap(),
            ("alice".to_owned(), "pw".to_owned())
        );
        assert!(parse_login("bob", body).is_err());
        assert!(parse_login("alice", b"{}").is_err());
    }

    #[test]
    fn semver_precedence() {
        use std::cmp::Ordering::*;
        assert_eq!(semver_cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(semver_cmp("1.0.0", "1.0.0-rc.1"), Greater);
        assert_eq!(semver_cmp("1.0.0-rc.10", "1.0.0-rc.9"), Greater);
        assert_eq!(semver_cmp("1.0.0-alpha", "1.0.0-alpha.1"), Less);
    }

    proptest! {
        /// Any tarball round-trips through publish, and any change to it is caught.
        #[test]
        fn publish_verifies_any_tarball(
            tarball in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<prop::sample::Index>(),
        ) {
            let body = publish_body("p", "1.2.3", &tarball, "latest");
            let p = Publish::parse("p", &body).unwrap();
            prop_assert_eq!(&p.tarball, &tarball);
            if !tarball.is_empty() {
                let mut doc: Value = serde_json::from_slice(&body).unwrap();
                let mut bad = tarball.clone();
                let i = flip.index(bad.len());
                bad[i] ^= 1;
                let b64 = base64::engine::general_purpose::STANDARD;
                att_mut(&mut doc)["data"] = b64.encode(&bad).into();
                let e = Publish::parse("p", &serde_json::to_vec(&doc).unwrap()).unwrap_err();
                prop_assert!(matches!(e, NpmError::Digest(_)));
            }
        }

        /// Whatever JSON a client PUTs back, the stored document stays consistent: every tag
        /// points at a version, `latest` exists while versions do, versions never reappear.
        #[test]
        fn updates_keep_the_document_consistent(
            keep in proptest::collection::vec(any::<bool>(), 3),
            tags in proptest::collection::btree_map("[a-z]{1,5}", "1\\.[0-3]\\.0", 0..4),
            deprecated in proptest::option::of("[ -~]{0,10}"),
        ) {
            let mut doc = published(&["1.0.0", "1.1.0", "1.2.0"]);
            let mut edited = doc.render("http://h/", true);
            for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].iter().enumerate() {
                if !keep[i] {
                    edited["versions"].as_object_mut().unwrap().remove(*v);
                } else if let Some(d) = &deprecated {
                    edited["versions"][*v]["deprecated"] = d.clone().into();
                }
            }
            edited["dist-tags"] = serde_json::to_value(&tags).unwrap();
            let before = doc.clone();
            let admin = UnpublishPolicy { admin: true, ..WRITER };
            match doc.update(&serde_json::to_vec(&edited).unwrap(), at(1), admin) {
                Ok(_) => {
                    prop_assert!(!doc.versions.is_empty());
                    prop_assert!(doc.dist_tags.contains_key("latest"));
                    for v in doc.dist_tags.values() {
                        prop_assert!(doc.versions.contains_key(v));
                    }
                    for v in doc.versions.keys() {
                        prop_assert!(before.versions.contains_key(v));
                    }
                }
                Err(_) => prop_assert_eq!(&doc, &before),
            }
        }
    }
}
