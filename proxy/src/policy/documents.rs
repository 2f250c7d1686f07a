//! Index documents with the versions a [`Policy`] refuses left out, for the ecosystems whose
//! documents are JSON repox otherwise passes through: npm packuments (`time`), cargo index
//! files (`pubtime`) and conda repodata (`timestamp`). PyPI pages are filtered on repox's own
//! page model instead (`ecosystem/pypi/page.rs`).
//!
//! Each filter returns `None` when nothing is left out, so the upstream bytes are served as
//! they are; otherwise the new bytes, how many versions were left out and by which rules, and
//! when the result stops holding (the first hidden version to come of age).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Policy, Verdict, parse_time};

/// A document with refused versions left out.
#[derive(Debug, Clone)]
pub struct Filtered {
    /// The new document.
    pub body: Bytes,
    /// Versions left out, by rule name (for `/-/metrics`).
    pub hidden: BTreeMap<String, u64>,
    /// When the result may change with the clock alone (Unix seconds).
    pub until: Option<i64>,
}

/// What filtering has found so far.
#[derive(Default)]
struct Tally {
    hidden: BTreeMap<String, u64>,
    until: Option<i64>,
}

impl Tally {
    /// Records `verdict`; true when the version stays.
    fn keep(&mut self, verdict: &Verdict) -> bool {
        if let Some(u) = verdict.until() {
            self.until = Some(self.until.map_or(u, |t| t.min(u)));
        }
        if verdict.allows() {
            return true;
        }
        *self.hidden.entry(verdict.rule().to_owned()).or_default() += 1;
        false
    }

    fn done(self, body: impl Into<Bytes>) -> Filtered {
        Filtered {
            body: body.into(),
            hidden: self.hidden,
            until: self.until,
        }
    }
}

/// An npm packument without the versions `policy` refuses (by its `time` map): they leave
/// `versions` and `time`, a `dist-tags` entry naming one moves (`latest`: to the newest
/// version left, by semver) or goes.
pub fn npm_packument(
    policy: &Policy,
    name: &str,
    body: &[u8],
    upstream: &str,
    now: i64,
) -> Result<Option<Filtered>, serde_json::Error> {
    let mut doc: Map<String, Value> = serde_json::from_slice(body)?;
    let times: BTreeMap<String, i64> = doc
        .get("time")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(v, at)| Some((v.clone(), parse_time(at.as_str()?)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut tally = Tally::default();
    let mut removed = Vec::new();
    if let Some(versions) = doc.get("versions").and_then(Value::as_object) {
        for v in versions.keys() {
            let verdict = policy.judge(name, v, times.get(v).copied(), Some(upstream), now);
            if !tally.keep(&verdict) {
                removed.push(v.clone());
            }
        }
    }
    if removed.is_empty() {
        return Ok(None);
    }
    if let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) {
        for v in &removed {
            versions.remove(v);
        }
    }
    if let Some(time) = doc.get_mut("time").and_then(Value::as_object_mut) {
        for v in &removed {
            time.remove(v);
        }
    }
    let left: Vec<String> = doc
        .get("versions")
        .and_then(Value::as_object)
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(tags) = doc.get_mut("dist-tags").and_then(Value::as_object_mut) {
        let gone: Vec<String> = tags
            .iter()
            .filter(|(_, v)| v.as_str().is_some_and(|v| removed.iter().any(|r| r == v)))
            .map(|(t, _)| t.clone())
            .collect();
        for tag in gone {
            tags.remove(&tag);
            if tag == "latest"
                && let Some(newest) = newest(&left)
            {
                tags.insert(tag, Value::String(newest));
            }
        }
    }
    Ok(Some(tally.done(serde_json::to_vec(&doc)?)))
}

/// True when `/<name>/<segment>` names a dist-tag rather than a version: a tag never starts
/// like a version (a digit, or `v` and a digit), since npm would read it as a version or a
/// range (`npm dist-tag add` refuses such tags).
pub fn npm_is_tag(segment: &str) -> bool {
    let b = segment.as_bytes();
    let versionish = b.first().is_some_and(u8::is_ascii_digit)
        || (b.first() == Some(&b'v') && b.get(1).is_some_and(u8::is_ascii_digit));
    !segment.is_empty() && !versionish
}

/// The version the dist-tag `tag` names in the packument `body`, as the packument is served:
/// after [`npm_packument`], a tag that named a refused version has moved (`latest`) or gone,
/// so `/<name>/<tag>` never resolves to a refused version. `None` when there is no such tag.
pub fn npm_dist_tag(body: &[u8], tag: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default, rename = "dist-tags")]
        dist_tags: BTreeMap<String, Value>,
    }
    let doc: Doc = serde_json::from_slice(body).ok()?;
    doc.dist_tags.get(tag)?.as_str().map(str::to_owned)
}

/// The highest release among `versions` by semver (pre-releases only when there is nothing
/// else), as npm's `latest` would be.
fn newest(versions: &[String]) -> Option<String> {
    let parsed: Vec<(semver::Version, &String)> = versions
        .iter()
        .filter_map(|v| Some((semver::Version::parse(v).ok()?, v)))
        .collect();
    let best = |pre: bool| {
        parsed
            .iter()
            .filter(|(v, _)| pre || v.pre.is_empty())
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, s)| (*s).clone())
    };
    best(false).or_else(|| best(true))
}

#[derive(Deserialize)]
struct CargoLine<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    vers: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    pubtime: Option<std::borrow::Cow<'a, str>>,
}

/// A cargo sparse index file without the lines (versions) `policy` refuses, by `pubtime`
/// (RFC 3339, written by crates.io since 2025; lines without it have no time).
pub fn cargo_index(policy: &Policy, body: &[u8], upstream: &str, now: i64) -> Option<Filtered> {
    let mut tally = Tally::default();
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let keep = match serde_json::from_slice::<CargoLine>(line.trim_ascii()) {
            Ok(l) => {
                let at = l.pubtime.as_deref().and_then(parse_time);
                tally.keep(&policy.judge(&l.name, &l.vers, at, Some(upstream), now))
            }
            Err(_) => true,
        };
        if keep {
            out.extend_from_slice(line);
        }
    }
    if tally.hidden.is_empty() {
        return None;
    }
    Some(tally.done(out))
}

/// A conda record's `timestamp` in seconds: milliseconds since the epoch, or seconds in old
/// records (the two cannot be confused before the year 5138).
pub fn conda_seconds(t: i64) -> i64 {
    if t > 100_000_000_000 { t / 1000 } else { t }
}

/// The `pubtime` of `version` in a cargo index file.
pub fn cargo_pubtime(body: &[u8], version: &str) -> Option<i64> {
    body.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<CargoLine>(line.trim_ascii()).ok())
        .find(|l| l.vers == version)
        .and_then(|l| parse_time(l.pubtime.as_deref()?))
}

/// conda repodata without the records `policy` refuses, by their `timestamp` (milliseconds
/// since the epoch; older records wrote seconds), in both `packages` and `packages.conda`.
pub fn conda_repodata(
    policy: &Policy,
    body: &[u8],
    upstream: &str,
    now: i64,
) -> Result<Option<Filtered>, serde_json::Error> {
    let mut doc: Map<String, Value> = serde_json::from_slice(body)?;
    let mut tally = Tally::default();
    for key in ["packages", "packages.conda"] {
        let Some(records) = doc.get_mut(key).and_then(Value::as_object_mut) else {
            continue;
        };
        records.retain(|_, r| {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            let version = r.get("version").and_then(Value::as_str).unwrap_or("");
            let at = r
                .get("timestamp")
                .and_then(Value::as_i64)
                .map(conda_seconds);
            tally.keep(&policy.judge(name, version, at, Some(upstream), now))
        });
    }
    if tally.hidden.is_empty() {
        return Ok(None);
    }
    Ok(Some(tally.done(serde_json::to_vec(&doc)?)))
}

/// The version in a PyPI distribution's filename: a wheel's (or egg's) second `-` part, an
/// sdist's last one (PEP 625 / the legacy `name-version.tar.gz`).
pub fn pypi_version(filename: &str) -> Option<&str> {
    if filename.ends_with(".whl") || filename.ends_with(".egg") {
        return filename.split('-').nth(1);
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    stem.rsplit_once('-').map(|(_, v)| v)
}

/// PEP 700 `upload-time` among a file's JSON members as repox's page model keeps them
/// (`,"key":value` each, keys written by serde, values as the upstream wrote them).
pub fn pypi_upload_time(members: &str) -> Option<i64> {
    const KEY: &str = "\"upload-time\":";
    let at = members.find(KEY)? + KEY.len();
    let rest = members[at..].trim_start().strip_prefix('"')?;
    parse_time(&rest[..rest.find('"')?])
}

/// What filtering a PyPI legacy JSON document found.
#[derive(Debug, Default)]
pub struct PypiJson {
    /// Files left out, by rule name.
    pub hidden: BTreeMap<String, u64>,
    /// When the result may change with the clock alone (Unix seconds).
    pub until: Option<i64>,
    /// The verdict on the document's own version (`info.version`) when `urls` listed files
    /// and every one of them is refused.
    pub refused: Option<Verdict>,
}

/// A PyPI legacy JSON API document (`/pypi/<project>[/<version>]/json`) without the files
/// `policy` refuses, judged as the simple pages judge them (the version in the filename, the
/// file's upload time): they leave `urls` and `releases`, and a release left without files
/// leaves `releases`. `info` (the newest version's metadata) is kept as it is.
pub fn pypi_json(
    policy: &Policy,
    project: &str,
    doc: &mut Value,
    upstream: &str,
    now: i64,
) -> PypiJson {
    let mut tally = Tally::default();
    let mut first: Option<Verdict> = None;
    let mut keep = |release: &str, file: &Value, first: &mut Option<Verdict>| {
        let filename = file.get("filename").and_then(Value::as_str).unwrap_or("");
        let version = pypi_version(filename).unwrap_or(release);
        let at = ["upload_time_iso_8601", "upload_time"]
            .iter()
            .find_map(|k| parse_time(file.get(*k)?.as_str()?));
        let verdict = policy.judge(project, version, at, Some(upstream), now);
        let kept = tally.keep(&verdict);
        if !kept && first.is_none() {
            *first = Some(verdict);
        }
        kept
    };
    let current = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut refused = None;
    if let Some(Value::Array(urls)) = doc.get_mut("urls") {
        let listed = urls.len();
        let mut found = None;
        urls.retain(|f| keep(&current, f, &mut found));
        if listed > 0 && urls.is_empty() {
            refused = found;
        }
    }
    if let Some(Value::Object(releases)) = doc.get_mut("releases") {
        releases.retain(|release, files| {
            let Value::Array(list) = files else {
                return true;
            };
            let listed = list.len();
            list.retain(|f| keep(release, f, &mut first));
            listed == 0 || !list.is_empty()
        });
    }
    PypiJson {
        hidden: tally.hidden,
        until: tally.until,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepositoryConfig;

    fn policy(kind: &str, extra: &str) -> Policy {
        let c: RepositoryConfig =
            toml::from_str(&format!("kind = \"{kind}\"\nmin_age = \"7d\"\n{extra}")).unwrap();
        Policy::new(&c)
    }

    const NOW: i64 = 1_800_000_000;

    fn at(secs: i64) -> String {
        super::super::format_time(secs)
    }

    #[test]
    fn pypi_files_give_their_version_and_upload_time() {
        assert_eq!(pypi_version("lib_a-1.0-py3-none-any.whl"), Some("1.0"));
        assert_eq!(pypi_version("zope.interface-6.0.tar.gz"), Some("6.0"));
        assert_eq!(pypi_version("my-pkg-2.0.zip"), Some("2.0"));
        assert_eq!(pypi_version("README"), None);
        let members =
            r#","hashes":{"sha256":"00"},"upload-time": "1970-01-01T00:01:00.5Z","size":1"#;
        assert_eq!(pypi_upload_time(members), Some(60));
        assert_eq!(pypi_upload_time(r#","size":1"#), None);
    }

    #[test]
    fn npm_hides_young_versions_and_moves_latest() {
        let doc = serde_json::json!({
            "name": "lib",
            "dist-tags": {"latest": "2.0.0", "next": "2.0.0", "old": "1.0.0"},
            "versions": {"1.0.0": {}, "1.1.0": {}, "2.0.0": {}, "1.2.0-rc.1": {}},
            "time": {"created": at(0), "modified": at(NOW),
                     "1.0.0": at(NOW - 400 * 86400), "1.1.0": at(NOW - 300 * 86400),
                     "1.2.0-rc.1": at(NOW - 200 * 86400), "2.0.0": at(NOW - 3600)},
        });
        let body = serde_json::to_vec(&doc).unwrap();
        let p = policy("npm", "");
        let f = npm_packument(&p, "lib", &body, "up", NOW).unwrap().unwrap();
        let out: Value = serde_json::from_slice(&f.body).unwrap();
        assert!(out["versions"].get("2.0.0").is_none());
        assert!(out["time"].get("2.0.0").is_none());
        assert_eq!(out["dist-tags"]["latest"], "1.1.0");
        assert!(out["dist-tags"].get("next").is_none());
        assert_eq!(out["dist-tags"]["old"], "1.0.0");
        let served = serde_json::to_vec(&out).unwrap();
        assert_eq!(npm_dist_tag(&served, "latest").as_deref(), Some("1.1.0"));
        assert_eq!(
            npm_dist_tag(&served, "next"),
            None,
            "the tag of a refused version is gone"
        );
        assert_eq!(npm_dist_tag(&served, "old").as_deref(), Some("1.0.0"));
        assert!(npm_is_tag("latest") && npm_is_tag("next") && npm_is_tag("beta-2"));
        assert!(!npm_is_tag("1.1.0") && !npm_is_tag("2.0.0-beta.1") && !npm_is_tag("1.0"));
        assert!(!npm_is_tag("v1.0.0") && !npm_is_tag(""));
        assert_eq!(f.hidden["min_age"], 1);
        assert_eq!(f.until, Some(NOW - 3600 + 7 * 86400));
        let later = npm_packument(&p, "lib", &body, "up", NOW + 7 * 86400).unwrap();
        assert!(later.is_none(), "of age a week later");
        let exempt = policy("npm", "min_age_exempt = [\"lib@2.0.0\"]");
        assert!(
            npm_packument(&exempt, "lib", &body, "up", NOW)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn cargo_keeps_lines_without_pubtime_and_old_ones() {
        let body = format!(
            "{{\"name\":\"c\",\"vers\":\"1.0.0\",\"cksum\":\"00\"}}\n\
             {{\"name\":\"c\",\"vers\":\"1.1.0\",\"cksum\":\"00\",\"pubtime\":\"{}\"}}\n\
             {{\"name\":\"c\",\"vers\":\"1.2.0\",\"cksum\":\"00\",\"pubtime\":\"{}\"}}\n",
            at(NOW - 86400 * 400),
            at(NOW - 60),
        );
        let f = cargo_index(&policy("cargo", ""), body.as_bytes(), "up", NOW).unwrap();
        let text = String::from_utf8(f.body.to_vec()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(cargo_pubtime(body.as_bytes(), "1.2.0"), Some(NOW - 60));
        assert_eq!(cargo_pubtime(body.as_bytes(), "1.0.0"), None);
        assert!(!text.contains("1.2.0"));
        let deny = policy("cargo", "deny = [\"c@1.0.0\"]");
        let f = cargo_index(&deny, body.as_bytes(), "up", NOW - 86400 * 30).unwrap();
        assert_eq!(f.hidden["c@1.0.0"], 1);
    }

    #[test]
    fn pypi_json_leaves_out_refused_files_and_empty_releases() {
        let mut doc = serde_json::json!({
            "info": {"name": "lib", "version": "2.0"},
            "urls": [{"filename": "lib-2.0.tar.gz", "upload_time_iso_8601": at(NOW - 60)}],
            "releases": {
                "1.0": [{"filename": "lib-1.0.tar.gz", "upload_time": at(NOW - 400 * 86400).trim_end_matches('Z')}],
                "1.5": [{"filename": "lib-1.5.tar.gz", "upload_time_iso_8601": at(NOW - 300 * 86400)}],
                "2.0": [{"filename": "lib-2.0.tar.gz", "upload_time_iso_8601": at(NOW - 60)}],
                "0.1": [],
            },
        });
        let p = policy("pypi", "deny = [\"lib==1.5\"]");
        let f = pypi_json(&p, "lib", &mut doc, "pypi", NOW);
        assert_eq!(doc["urls"], serde_json::json!([]));
        let releases: Vec<&String> = doc["releases"].as_object().unwrap().keys().collect();
        assert_eq!(releases, ["0.1", "1.0"]);
        assert_eq!(f.hidden["min_age"], 2);
        assert_eq!(f.hidden["lib==1.5"], 1);
        assert_eq!(f.until, Some(NOW - 60 + 7 * 86400));
        assert!(matches!(f.refused, Some(Verdict::Young { .. })));
        assert_eq!(doc["info"]["version"], "2.0", "info is kept");
    }

    #[test]
    fn conda_filters_both_package_maps() {
        let doc = serde_json::json!({
            "info": {"subdir": "noarch"},
            "packages": {"a-1-0.tar.bz2": {"name": "a", "version": "1", "timestamp": (NOW - 400 * 86400) * 1000}},
            "packages.conda": {"a-2-0.conda": {"name": "a", "version": "2", "timestamp": (NOW - 60) * 1000},
                               "a-0-0.conda": {"name": "a", "version": "0"}},
        });
        let body = serde_json::to_vec(&doc).unwrap();
        let f = conda_repodata(&policy("conda", ""), &body, "up", NOW)
            .unwrap()
            .unwrap();
        let out: Value = serde_json::from_slice(&f.body).unwrap();
        assert!(out["packages.conda"].get("a-2-0.conda").is_none());
        assert!(out["packages.conda"].get("a-0-0.conda").is_some());
        assert!(out["packages"].get("a-1-0.tar.bz2").is_some());
    }
}
