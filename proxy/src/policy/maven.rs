//! `maven-metadata.xml` with the versions a [`Policy`] refuses left out.
//!
//! Maven and Gradle resolve dynamic versions (`LATEST`, `RELEASE`, ranges such as `[1.0,2.0)`,
//! Gradle's `1.+`) from the artifact-level metadata: `<versions>`, `<latest>` and `<release>`.
//! A refused version listed there is picked and then answered 403; left out, the resolver picks
//! the highest version still allowed. The upstream's document is edited, not rewritten: the
//! refused `<version>` lines go, `<latest>`/`<release>` move to the highest version left (Maven
//! order) when they named a refused one, and everything else (`<lastUpdated>`, plugins,
//! comments) stays as the upstream wrote it.
//!
//! Maven metadata carries no time per version. A version's time is its POM's `Last-Modified`,
//! the time the 403 on its files is judged by, so the listing and the files agree. Asking for
//! every POM costs a request per version, so `<lastUpdated>` bounds them first: the upstream
//! writes it when it adds a version, so no listed version is younger than it, and a version
//! that would pass even if it had been published at `<lastUpdated>` passes without its POM
//! ([`needs_time`]). Only the rest (an artifact with a release inside the cooldown, or after a
//! snapshot date) has its POMs asked, once: POMs are cached like any file.

use std::collections::BTreeMap;
use std::ops::Range;

use super::documents::Filtered;
use super::{Policy, Verdict};
use crate::ecosystem::maven_metadata::compare_versions;

/// What the file check knows about a version: its POM's `Last-Modified` and the upstream that
/// sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// `Last-Modified` of the POM, Unix seconds; `None` when the upstream sent none.
    pub at: Option<i64>,
    /// The upstream the POM came from.
    pub upstream: Option<String>,
    /// The POM could not be fetched (not a 404): the version is let through for now and the
    /// document filtered again soon.
    pub failed: bool,
}

/// How soon a document filtered without some POM (upstream down) is filtered again.
const RETRY_SECS: i64 = 60;

/// One element's text and where it sits in the document.
#[derive(Debug, Clone)]
struct Element {
    /// The text inside, unescaped and trimmed.
    text: String,
    /// From `<` of the start tag to `>` of the end tag.
    outer: Range<usize>,
    /// Between the tags.
    inner: Range<usize>,
}

/// The parts of an artifact-level document a policy edits.
#[derive(Debug, Default)]
struct Listing {
    versions: Vec<Element>,
    latest: Option<Element>,
    release: Option<Element>,
    last_updated: Option<i64>,
}

impl Listing {
    /// Every version the document names, listed or as `<latest>`/`<release>`, once each.
    fn named(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self
            .versions
            .iter()
            .chain(&self.latest)
            .chain(&self.release);
        for e in all {
            if !e.text.is_empty() && !out.contains(&e.text.as_str()) {
                out.push(&e.text);
            }
        }
        out
    }
}

fn scan(text: &str) -> Option<Listing> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    // Open elements: name, where the start tag begins, where it ends.
    let mut stack: Vec<(String, usize, usize)> = Vec::new();
    let mut out = Listing::default();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().ok()?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => stack.push((e.name().0.to_owned(), before, after)),
            Event::End(_) => {
                let names: Vec<&str> = stack.iter().map(|(n, ..)| n.as_str()).collect();
                let slot = match names.as_slice() {
                    ["metadata", "versioning", "versions", "version"] => Some(0),
                    ["metadata", "versioning", "latest"] => Some(1),
                    ["metadata", "versioning", "release"] => Some(2),
                    ["metadata", "versioning", "lastUpdated"] => Some(3),
                    _ => None,
                };
                let (_, start, inner_start) = stack.pop()?;
                let Some(slot) = slot else { continue };
                let raw = text.get(inner_start..before)?;
                let element = Element {
                    text: quick_xml::escape::unescape(raw.trim()).ok()?.into_owned(),
                    outer: start..after,
                    inner: inner_start..before,
                };
                match slot {
                    0 => out.versions.push(element),
                    1 => out.latest = Some(element),
                    2 => out.release = Some(element),
                    _ => out.last_updated = last_updated(&element.text),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some(out)
}

/// `group:artifact` and the version of a file in a version directory (`g/a/v/a-v*`), by which
/// its refusals are judged; `None` for any other path.
pub fn file_version(path: &str) -> Option<(String, &str)> {
    let segments: Vec<&str> = path.split('/').collect();
    let [group @ .., artifact, version, file] = &segments[..] else {
        return None;
    };
    if group.is_empty() || !file.starts_with(&format!("{artifact}-{version}")) {
        return None;
    }
    Some((format!("{}:{artifact}", group.join(".")), version))
}

/// `group:artifact` of artifact-level metadata at `path` (`g/a/maven-metadata.xml`); `None`
/// for SNAPSHOT-level and plugin-group documents and any other path.
pub fn metadata_package(path: &str) -> Option<String> {
    let dir = path.strip_suffix("maven-metadata.xml")?;
    let segments: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let [group @ .., artifact] = &segments[..] else {
        return None;
    };
    if group.is_empty() || artifact.ends_with("-SNAPSHOT") {
        return None;
    }
    Some(format!("{}:{artifact}", group.join(".")))
}

/// `<lastUpdated>` (`yyyyMMddHHmmss`, UTC) in Unix seconds.
pub fn last_updated(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() != 14 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[..4],
        &t[4..6],
        &t[6..8],
        &t[8..10],
        &t[10..12],
        &t[12..]
    );
    super::parse_time(&rfc3339)
}

/// The upstreams a document came from (`central,google` for a merge), each as the cooldown
/// looks them up; a document of no named upstream is judged by the repository's `min_age`.
fn sources(upstreams: &str) -> Vec<Option<&str>> {
    let names: Vec<Option<&str>> = upstreams
        .split(',')
        .filter(|u| !u.is_empty())
        .map(Some)
        .collect();
    if names.is_empty() { vec![None] } else { names }
}

/// The versions `body` names whose verdict depends on their own publication time: those the
/// policy would refuse if they had been published at the document's `<lastUpdated>` (every
/// one, when it has none), and that no `deny` rule refuses anyway. Their POMs are asked.
pub fn needs_time(
    policy: &Policy,
    package: &str,
    body: &[u8],
    upstreams: &str,
    now: i64,
) -> Vec<String> {
    if !policy.uses_time() {
        return Vec::new();
    }
    let Some(listing) = std::str::from_utf8(body).ok().and_then(scan) else {
        return Vec::new();
    };
    let sources = sources(upstreams);
    listing
        .named()
        .into_iter()
        .filter(|v| policy.judge(package, v, None, None, now).allows())
        .filter(|v| {
            listing.last_updated.is_none_or(|at| {
                sources
                    .iter()
                    .any(|u| !policy.judge(package, v, Some(at), *u, now).allows())
            })
        })
        .map(str::to_owned)
        .collect()
}

/// `body` (artifact-level `maven-metadata.xml` of `package`, `group:artifact`) without the
/// versions `policy` refuses; `times` has the POM of each version [`needs_time`] named. `None`
/// when nothing is left out (SNAPSHOT-level and plugin-group documents list no versions).
pub fn metadata(
    policy: &Policy,
    package: &str,
    body: &[u8],
    times: &BTreeMap<String, Published>,
    now: i64,
) -> Option<Filtered> {
    let text = std::str::from_utf8(body).ok()?;
    let listing = scan(text)?;
    let mut hidden: BTreeMap<String, u64> = BTreeMap::new();
    let mut until: Option<i64> = None;
    let mut refused: Vec<&str> = Vec::new();
    for v in listing.named() {
        let verdict = match times.get(v) {
            Some(p) => {
                if p.failed {
                    until = Some(until.map_or(now + RETRY_SECS, |u| u.min(now + RETRY_SECS)));
                }
                policy.judge(package, v, p.at, p.upstream.as_deref(), now)
            }
            // Passes by `<lastUpdated>` (or has no time): only `deny` can refuse it.
            None => policy.judge(package, v, None, None, now),
        };
        if let Some(u) = verdict.until() {
            until = Some(until.map_or(u, |t| t.min(u)));
        }
        if verdict != Verdict::Allow {
            *hidden.entry(verdict.rule().to_owned()).or_default() += 1;
            refused.push(v);
        }
    }
    if refused.is_empty() {
        // A document judged without some POM is made again soon (see `Published::failed`).
        return until.map(|u| Filtered {
            body: bytes::Bytes::copy_from_slice(body),
            hidden,
            until: Some(u),
        });
    }
    let left: Vec<&str> = listing
        .versions
        .iter()
        .map(|e| e.text.as_str())
        .filter(|v| !refused.contains(v))
        .collect();
    let highest = |release: bool| {
        left.iter()
            .filter(|v| !release || !v.ends_with("-SNAPSHOT"))
            .max_by(|a, b| compare_versions(a, b))
            .map(|v| (*v).to_owned())
    };
    // (range, replacement) edits of the original text.
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for e in &listing.versions {
        if refused.contains(&e.text.as_str()) {
            edits.push((whole_line(text, &e.outer), String::new()));
        }
    }
    for (element, release) in [(&listing.latest, false), (&listing.release, true)] {
        let Some(e) = element else { continue };
        if !refused.contains(&e.text.as_str()) {
            continue;
        }
        match highest(release) {
            Some(v) => edits.push((
                e.inner.clone(),
                quick_xml::escape::escape(v.as_str()).into_owned(),
            )),
            None => edits.push((whole_line(text, &e.outer), String::new())),
        }
    }
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, new) in edits {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&new);
        at = range.end;
    }
    out.push_str(&text[at..]);
    Some(Filtered {
        body: out.into(),
        hidden,
        until,
    })
}

/// `range` widened over the indentation before it and the line break ending the line before,
/// so that removing an element on a line of its own removes the line.
fn whole_line(text: &str, range: &Range<usize>) -> Range<usize> {
    let head = &text[..range.start];
    let indent = head.len() - head.trim_end_matches([' ', '\t']).len();
    let mut start = range.start - indent;
    if text[..start].ends_with("\r\n") {
        start -= 2;
    } else if text[..start].ends_with('\n') {
        start -= 1;
    } else {
        start = range.start;
    }
    start..range.end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepositoryConfig;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86400;

    fn policy(extra: &str) -> Policy {
        let c: RepositoryConfig = toml::from_str(&format!("kind = \"maven\"\n{extra}")).unwrap();
        Policy::new(&c)
    }

    fn stamp(secs: i64) -> String {
        super::super::format_time(secs)
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    }

    fn doc(updated: i64) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>org.ex</groupId>\n  \
             <artifactId>lib</artifactId>\n  <versioning>\n    <latest>2.0-SNAPSHOT</latest>\n    \
             <release>1.2</release>\n    <versions>\n      <version>1.0</version>\n      \
             <version>1.1</version>\n      <version>1.2</version>\n      \
             <version>2.0-SNAPSHOT</version>\n    </versions>\n    <lastUpdated>{}</lastUpdated>\n  \
             </versioning>\n</metadata>\n",
            stamp(updated)
        )
    }

    fn at(days_ago: i64) -> Published {
        Published {
            at: Some(NOW - days_ago * DAY),
            upstream: Some("central".into()),
            failed: false,
        }
    }

    fn versions(xml: &str) -> Vec<&str> {
        xml.lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("<version>")?
                    .strip_suffix("</version>")
            })
            .collect()
    }

    #[test]
    fn last_updated_reads_maven_timestamps() {
        assert_eq!(last_updated("19700101000100"), Some(60));
        assert_eq!(last_updated(&stamp(NOW)), Some(NOW));
        assert_eq!(last_updated("2024"), None);
        assert_eq!(last_updated("2024010100000x"), None);
    }

    #[test]
    fn an_old_last_updated_spares_every_pom() {
        let p = policy("min_age = \"7d\"\ndeny = [\"org.ex:lib:1.1\"]");
        let old = doc(NOW - 30 * DAY);
        assert!(needs_time(&p, "org.ex:lib", old.as_bytes(), "central", NOW).is_empty());
        // The deny rule still applies, without times.
        let f = metadata(&p, "org.ex:lib", old.as_bytes(), &BTreeMap::new(), NOW).unwrap();
        let xml = std::str::from_utf8(&f.body).unwrap();
        assert_eq!(versions(xml), ["1.0", "1.2", "2.0-SNAPSHOT"], "{xml}");
        assert_eq!(f.hidden["org.ex:lib:1.1"], 1);
        assert_eq!(f.until, None);
        // A recent one needs the POM of each version no rule refuses already.
        let recent = doc(NOW - DAY);
        let needed = needs_time(&p, "org.ex:lib", recent.as_bytes(), "central", NOW);
        assert_eq!(needed, ["1.0", "1.2", "2.0-SNAPSHOT"]);
        let no_time = policy("deny = [\"org.ex:lib:1.1\"]");
        assert!(needs_time(&no_time, "org.ex:lib", recent.as_bytes(), "", NOW).is_empty());
    }

    #[test]
    fn young_and_denied_versions_leave_and_release_moves_down() {
        let p = policy("min_age = \"7d\"\ndeny = [\"org.ex:lib:1.1\"]");
        let body = doc(NOW - DAY);
        let times = BTreeMap::from([
            ("1.0".to_owned(), at(100)),
            ("1.2".to_owned(), at(2)),
            ("2.0-SNAPSHOT".to_owned(), at(1)),
        ]);
        let f = metadata(&p, "org.ex:lib", body.as_bytes(), &times, NOW).unwrap();
        let xml = std::str::from_utf8(&f.body).unwrap();
        assert_eq!(versions(xml), ["1.0"], "{xml}");
        assert!(xml.contains("<latest>1.0</latest>"), "{xml}");
        assert!(xml.contains("<release>1.0</release>"), "{xml}");
        assert!(
            xml.contains(&format!("<lastUpdated>{}</lastUpdated>", stamp(NOW - DAY))),
            "{xml}"
        );
        assert!(
            !xml.contains("\n\n"),
            "removed lines leave no blank ones:\n{xml}"
        );
        assert_eq!(f.hidden["min_age"], 2);
        assert_eq!(
            f.until,
            Some(NOW - 2 * DAY + 7 * DAY),
            "1.2 comes of age first"
        );
        // A week later the young ones are back.
        let later = metadata(&p, "org.ex:lib", body.as_bytes(), &times, NOW + 7 * DAY).unwrap();
        let xml = std::str::from_utf8(&later.body).unwrap();
        assert_eq!(versions(xml), ["1.0", "1.2", "2.0-SNAPSHOT"], "{xml}");
        assert!(xml.contains("<release>1.2</release>"), "{xml}");
    }

    #[test]
    fn nothing_left_drops_latest_and_release_and_failures_retry() {
        let p = policy("deny = [\"org.ex:lib\"]");
        let body = "<metadata><versioning><latest>1</latest><release>1</release>\
                    <versions><version>1</version></versions></versioning></metadata>";
        let f = metadata(&p, "org.ex:lib", body.as_bytes(), &BTreeMap::new(), NOW).unwrap();
        assert_eq!(
            std::str::from_utf8(&f.body).unwrap(),
            "<metadata><versioning><versions></versions></versioning></metadata>"
        );
        // Nothing refused, but a POM could not be asked: the same bytes, made again soon.
        let p = policy("min_age = \"7d\"");
        let times = BTreeMap::from([(
            "1".to_owned(),
            Published {
                failed: true,
                ..Published::default()
            },
        )]);
        let f = metadata(&p, "g:a", body.as_bytes(), &times, NOW).unwrap();
        assert_eq!(&f.body[..], body.as_bytes());
        assert_eq!(f.until, Some(NOW + RETRY_SECS));
        assert!(metadata(&p, "g:a", body.as_bytes(), &BTreeMap::new(), NOW).is_none());
    }

    #[test]
    fn snapshot_and_plugin_documents_pass_through() {
        let p = policy("deny = [\"org.ex:*\"]");
        let snapshot = "<metadata><version>1.0-SNAPSHOT</version><versioning><snapshot>\
                        <timestamp>20240101.000000</timestamp></snapshot></versioning></metadata>";
        assert!(metadata(&p, "org.ex:lib", snapshot.as_bytes(), &BTreeMap::new(), NOW).is_none());
        let plugins = "<metadata><plugins><plugin><prefix>x</prefix></plugin></plugins></metadata>";
        assert!(metadata(&p, "org:ex", plugins.as_bytes(), &BTreeMap::new(), NOW).is_none());
        assert!(metadata(&p, "org:ex", b"<not xml", &BTreeMap::new(), NOW).is_none());
    }
}
