//! `maven-metadata.xml` across several upstreams.
//!
//! When more than one upstream has metadata for an artifact (Central and Google both list
//! versions of some artifacts, a private repository adds its own), the client must see the union
//! of versions or it cannot resolve ranges and `LATEST`. Repox fetches the file from every
//! upstream at once, keeps each upstream's copy and validators in the entry's metadata so the
//! next refresh is a set of conditional requests, and serves the merge. The checksum files
//! (`.sha1`, `.md5`, `.sha256`, `.sha512`) are computed from the merged bytes, so the file and
//! its checksums always change as one unit. SNAPSHOT-level and group-level (plugin prefix)
//! metadata are not merged: the newest copy (by `lastUpdated`) wins.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::path::RepoPath;
use crate::repository::race::Failures;
use crate::repository::{Class, Freshness, Outcome, Repository, Resource, tagged};
use crate::respond;
use crate::store::Entry;
use crate::upstream::Verdict;

/// One upstream's copy, kept to revalidate it conditionally.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Source {
    upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    body: String,
}

/// Serves `…/maven-metadata.xml` or one of its checksum files (`checksum` = `sha1`, …).
pub async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    path: &RepoPath,
    checksum: Option<&str>,
) -> Response {
    let meta_path = match checksum {
        Some(algorithm) => match path.strip_suffix(&format!(".{algorithm}")) {
            Some(base) => base,
            None => return tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
        },
        None => path.clone(),
    };
    let mut res = Resource::new(repo, meta_path);
    res.class = Class::Mutable(repo.config.metadata_ttl());
    res.checksums = true;
    res.reject_html = true;
    let (entry, cache) = match current(repo, &res).await {
        Ok(found) => found,
        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
    };
    let upstream = Some(entry.meta.upstream.clone());
    // Versions the policy refuses leave the document (`policy/maven.rs`).
    let entry = match super::maven::filtered_metadata(repo, &res.path, entry).await {
        Ok(entry) => entry,
        Err(e) => return tagged(e.into_response(), cache, upstream),
    };
    let pres = repo.presentation(&res, entry.meta.fetched_at);
    let Some(algorithm) = checksum else {
        return tagged(
            respond::entry_response(method, req, &entry, pres),
            cache,
            upstream,
        );
    };
    let digest = match (algorithm, &entry.body) {
        ("sha1", _) if entry.meta.digests.sha1.is_some() => entry.meta.digests.sha1.clone(),
        ("md5", _) if entry.meta.digests.md5.is_some() => entry.meta.digests.md5.clone(),
        ("sha256", _) => Some(entry.meta.digests.sha256.clone()),
        // A filtered document is made in memory with its SHA-256 only.
        (_, crate::store::Body::Bytes(b)) => Some(crate::hosted::maven::checksum_of(b, algorithm)),
        _ => None,
    };
    let Some(digest) = digest else {
        return tagged(Failure::NotFound.into_response(), cache, upstream);
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(digest.len()));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&entry.meta.last_modified()).expect("http date"),
    );
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(digest)
    };
    tagged(
        respond::build(StatusCode::OK, headers, body),
        cache,
        upstream,
    )
}

/// The merged entry, refreshed when stale.
async fn current(repo: &Arc<Repository>, res: &Resource) -> Result<(Entry, Outcome), Failure> {
    let lookup = || async {
        let entry = repo
            .services
            .store
            .get(&res.key)
            .await
            .map_err(Failure::internal)?;
        let fresh = repo.freshness(res, entry.as_ref()) == Freshness::Fresh;
        Ok::<_, Failure>((entry, fresh))
    };
    let (cached, fresh) = lookup().await?;
    match cached {
        Some(entry) if fresh || repo.services.offline => return Ok((entry, Outcome::Hit)),
        None if repo.services.offline => return Err(Failure::Offline),
        _ => {}
    }
    repo.coalesce(&format!("maven-metadata/{}", res.key), async {
        let (cached, fresh) = lookup().await?;
        match cached {
            Some(entry) if fresh => Ok((entry, Outcome::Hit)),
            cached => refresh(repo, res, cached).await,
        }
    })
    .await
}

async fn refresh(
    repo: &Repository,
    res: &Resource,
    cached: Option<Entry>,
) -> Result<(Entry, Outcome), Failure> {
    let old: Vec<Source> = cached
        .as_ref()
        .and_then(|e| serde_json::from_value(e.meta.extra.get("sources")?.clone()).ok())
        .unwrap_or_default();
    let asks = repo
        .upstreams
        .iter()
        .enumerate()
        .filter(|(i, _)| !repo.lacks(res, *i))
        .filter_map(|(i, up)| Some((i, up, up.url_for(&res.path).ok()?)))
        .map(|(i, up, url)| {
            let prev = old.iter().find(|s| s.upstream == up.name).cloned();
            let mut request = up.request(Method::GET, url);
            if let Some(p) = &prev {
                if let Some(etag) = &p.etag {
                    request = request.header(header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &p.last_modified {
                    request = request.header(header::IF_MODIFIED_SINCE, lm);
                }
            }
            async move {
                let (i, verdict) = repo.ask(i, request, true).await;
                let verdict = match verdict {
                    Verdict::Found(resp) => {
                        let etag = resp
                            .headers()
                            .get(header::ETAG)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let last_modified = resp
                            .headers()
                            .get(header::LAST_MODIFIED)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        match tokio::time::timeout(repo.upstreams[i].idle_timeout, resp.text())
                            .await
                        {
                            Ok(Ok(body)) => Ok(Source {
                                upstream: repo.upstreams[i].name.clone(),
                                etag,
                                last_modified,
                                body,
                            }),
                            Ok(Err(e)) => Err(Verdict::Failed(e.to_string().into())),
                            Err(_) => Err(Verdict::TimedOut),
                        }
                    }
                    other => Err(other),
                };
                (i, prev, verdict)
            }
        });
    let mut sources = Vec::new();
    let mut failures = Failures::default();
    let mut changed = cached.is_none();
    for (i, prev, answer) in join_all(asks).await {
        match answer {
            Ok(source) => {
                changed = true;
                sources.push(source);
            }
            Err(Verdict::NotModified) => sources.extend(prev),
            Err(Verdict::Missing) => {
                repo.remember_missing(res, i);
                changed |= prev.is_some();
            }
            Err(other) => {
                failures.add(&repo.upstreams[i].name, &other);
                sources.extend(prev);
            }
        }
    }
    if sources.is_empty() {
        return match (failures.into_failure(), cached) {
            (Failure::NotFound, _) => {
                let _ = repo.services.store.delete(&res.key).await;
                Err(Failure::NotFound)
            }
            (_, Some(stale)) => Ok((stale, Outcome::Stale)),
            (e, None) => Err(e),
        };
    }
    if let (false, Some(entry)) = (changed, &cached) {
        repo.mark_fresh(&res.key);
        return Ok((entry.clone(), Outcome::Revalidated));
    }
    let merged = merge(&sources.iter().map(|s| s.body.as_str()).collect::<Vec<_>>());
    let names: Vec<&str> = sources.iter().map(|s| s.upstream.as_str()).collect();
    let url = repo
        .upstreams
        .iter()
        .find(|u| u.name == names[0])
        .and_then(|u| u.url_for(&res.path).ok())
        .map(|u| u.to_string());
    let extra = serde_json::json!({ "sources": sources });
    let entry = repo
        .store_bytes_with(
            &res.key,
            merged.into(),
            Some("text/xml"),
            &names.join(","),
            &url.unwrap_or_default(),
            extra,
        )
        .await
        .map_err(Failure::internal)?;
    repo.mark_fresh(&res.key);
    Ok((entry, Outcome::Miss))
}

/// What the merge needs from one copy.
#[derive(Debug, Default)]
struct Parsed {
    group: Option<String>,
    artifact: Option<String>,
    latest: Option<String>,
    release: Option<String>,
    versions: Vec<String>,
    last_updated: Option<String>,
    /// Has `<snapshot>`, `<snapshotVersions>` or `<plugins>`: not a plain version list.
    special: bool,
}

fn parse(xml: &str) -> Option<Parsed> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Parsed::default();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.name().0.to_owned();
                if matches!(name.as_str(), "snapshot" | "snapshotVersions" | "plugins") {
                    out.special = true;
                }
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Empty(e) => {
                if matches!(e.name().0, "snapshot" | "snapshotVersions" | "plugins") {
                    out.special = true;
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().trim().to_owned();
                if text.is_empty() {
                    continue;
                }
                let path: Vec<&str> = stack.iter().map(String::as_str).collect();
                match path.as_slice() {
                    ["metadata", "groupId"] => out.group = Some(text),
                    ["metadata", "artifactId"] => out.artifact = Some(text),
                    ["metadata", "versioning", "latest"] => out.latest = Some(text),
                    ["metadata", "versioning", "release"] => out.release = Some(text),
                    ["metadata", "versioning", "lastUpdated"] => out.last_updated = Some(text),
                    ["metadata", "versioning", "versions", "version"] => out.versions.push(text),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some(out)
}

/// Merges copies given in priority order. One copy is passed through byte for byte.
pub(crate) fn merge(bodies: &[&str]) -> String {
    if let [one] = bodies {
        return (*one).to_owned();
    }
    let parsed: Vec<Option<Parsed>> = bodies.iter().map(|b| parse(b)).collect();
    let newest = || {
        let pick = (0..bodies.len())
            .max_by_key(|&i| {
                (
                    parsed[i].as_ref().and_then(|p| p.last_updated.clone()),
                    std::cmp::Reverse(i),
                )
            })
            .unwrap_or(0);
        bodies[pick].to_owned()
    };
    if parsed.iter().any(|p| p.as_ref().is_none_or(|p| p.special)) {
        return newest();
    }
    let parsed: Vec<Parsed> = parsed.into_iter().flatten().collect();
    let mut versions: Vec<String> = Vec::new();
    for v in parsed.iter().flat_map(|p| &p.versions) {
        if !versions.contains(v) {
            versions.push(v.clone());
        }
    }
    versions.sort_by(|a, b| compare_versions(a, b));
    let max = |f: fn(&Parsed) -> Option<&String>| {
        parsed
            .iter()
            .filter_map(f)
            .max_by(|a, b| compare_versions(a, b))
            .cloned()
    };
    let latest = max(|p| p.latest.as_ref());
    let release = max(|p| p.release.as_ref());
    let last_updated = parsed.iter().filter_map(|p| p.last_updated.clone()).max();
    let group = parsed.iter().find_map(|p| p.group.clone());
    let artifact = parsed.iter().find_map(|p| p.artifact.clone());

    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    if let Some(g) = group {
        out.push_str(&format!("  <groupId>{}</groupId>\n", esc(&g)));
    }
    if let Some(a) = artifact {
        out.push_str(&format!("  <artifactId>{}</artifactId>\n", esc(&a)));
    }
    out.push_str("  <versioning>\n");
    if let Some(l) = latest {
        out.push_str(&format!("    <latest>{}</latest>\n", esc(&l)));
    }
    if let Some(r) = release {
        out.push_str(&format!("    <release>{}</release>\n", esc(&r)));
    }
    out.push_str("    <versions>\n");
    for v in &versions {
        out.push_str(&format!("      <version>{}</version>\n", esc(v)));
    }
    out.push_str("    </versions>\n");
    if let Some(u) = last_updated {
        out.push_str(&format!("    <lastUpdated>{}</lastUpdated>\n", esc(&u)));
    }
    out.push_str("  </versioning>\n</metadata>\n");
    out
}

/// One token of a Maven version.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Number(u64),
    /// Known qualifiers ranked (alpha < beta < milestone < rc < snapshot < release < sp),
    /// unknown ones after them, compared as text.
    Qualifier(u8, String),
}

fn items(version: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut Vec<Item>| {
        if token.is_empty() {
            return;
        }
        let t = std::mem::take(token).to_ascii_lowercase();
        out.push(match t.parse::<u64>() {
            Ok(n) => Item::Number(n),
            Err(_) => {
                let rank = match t.as_str() {
                    "alpha" | "a" => 0,
                    "beta" | "b" => 1,
                    "milestone" | "m" => 2,
                    "rc" | "cr" => 3,
                    "snapshot" => 4,
                    "ga" | "final" | "release" => 5,
                    "sp" => 6,
                    _ => 7,
                };
                Item::Qualifier(rank, t)
            }
        });
    };
    for c in version.chars() {
        if c == '.' || c == '-' || c == '_' {
            flush(&mut token, &mut out);
        } else {
            if token
                .chars()
                .last()
                .is_some_and(|l| l.is_ascii_digit() != c.is_ascii_digit())
            {
                flush(&mut token, &mut out);
            }
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn compare_items(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    let release = Item::Qualifier(5, String::new());
    let zero = Item::Number(0);
    let pad = |other: Option<&Item>| match other {
        Some(Item::Number(_)) => &zero,
        _ => &release,
    };
    let (a, b) = (a.unwrap_or_else(|| pad(b)), b.unwrap_or_else(|| pad(a)));
    match (a, b) {
        (Item::Number(x), Item::Number(y)) => x.cmp(y),
        (Item::Number(_), Item::Qualifier(..)) => Ordering::Greater,
        (Item::Qualifier(..), Item::Number(_)) => Ordering::Less,
        (Item::Qualifier(r, s), Item::Qualifier(q, t)) => r
            .cmp(q)
            .then_with(|| if *r == 7 { s.cmp(t) } else { Ordering::Equal }),
    }
}

/// Orders versions roughly as Maven's `ComparableVersion` does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (x, y) = (items(a), items(b));
    for i in 0..x.len().max(y.len()) {
        match compare_items(x.get(i), y.get(i)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(versions: &[&str], release: &str, updated: &str) -> String {
        let vs: String = versions
            .iter()
            .map(|v| format!("<version>{v}</version>"))
            .collect();
        format!(
            "<?xml version=\"1.0\"?><metadata><groupId>g</groupId><artifactId>a</artifactId><versioning>\
             <latest>{release}</latest><release>{release}</release><versions>{vs}</versions>\
             <lastUpdated>{updated}</lastUpdated></versioning></metadata>"
        )
    }

    #[test]
    fn versions_order_like_maven() {
        let mut v = vec![
            "1.10",
            "1.2",
            "1.2-rc1",
            "1.2-SNAPSHOT",
            "1.2-alpha-1",
            "1.2.1",
            "2.0-beta",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "1.2-alpha-1",
                "1.2-rc1",
                "1.2-SNAPSHOT",
                "1.2",
                "1.2.1",
                "1.10",
                "2.0-beta"
            ]
        );
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
    }

    #[test]
    fn merges_version_lists_of_several_upstreams() {
        let a = doc(&["1.0", "1.1"], "1.1", "20240101000000");
        let b = doc(&["1.1", "2.0"], "2.0", "20230101000000");
        let merged = merge(&[&a, &b]);
        let p = parse(&merged).unwrap();
        assert_eq!(p.versions, ["1.0", "1.1", "2.0"]);
        assert_eq!(p.release.as_deref(), Some("2.0"));
        assert_eq!(p.latest.as_deref(), Some("2.0"));
        assert_eq!(p.last_updated.as_deref(), Some("20240101000000"));
        assert_eq!(p.group.as_deref(), Some("g"));
    }

    #[test]
    fn single_copy_passes_through_and_snapshots_pick_newest() {
        let a = doc(&["1.0"], "1.0", "1");
        assert_eq!(merge(&[&a]), a);
        let s1 = "<metadata><versioning><snapshot><timestamp>1</timestamp></snapshot><lastUpdated>20240101</lastUpdated></versioning></metadata>";
        let s2 = "<metadata><versioning><snapshot><timestamp>2</timestamp></snapshot><lastUpdated>20250101</lastUpdated></versioning></metadata>";
        assert_eq!(merge(&[s1, s2]), s2);
    }
}
