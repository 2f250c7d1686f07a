//! npm packuments (`/<name>`, `/@scope/<name>`) and version documents (`/<name>/<version>`),
//! with every `dist.tarball` pointed back at repox.
//!
//! A packument comes in two representations chosen by `Accept`: the abbreviated ("corgi")
//! document npm, pnpm and yarn install from (`application/vnd.npm.install-v1+json`) and the
//! full one (`application/json`, or no `Accept`). Each is cached under its own key and
//! revalidated upstream after `index_ttl`; the answer carries `Vary: Accept`.
//!
//! The rewrite keeps the upstream bytes except for the tarball URLs: the document is parsed
//! only to learn the `dist` of each version, then every JSON string equal to a tarball URL is
//! replaced in place (falling back to a full re-serialization if a URL was written with
//! escapes). The tarball URLs are absolute (npm requires it), so the result depends on the
//! origin the client used and is kept in memory per (upstream digest, origin); its ETag is the
//! digest of the rewritten bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Deserialize;

use super::derived;
use super::tarball::{self, TarballIndex, TarballInfo};
use crate::error::Failure;
use crate::fence::push_under;
use crate::path::RepoPath;
use crate::repository::{Class, Outcome, Repository, Resource, tagged};
use crate::respond::{self, Presentation};
use crate::server::request_origin;
use crate::store::Entry;

/// Characters escaped in a package name or version placed in an upstream URL.
const NAME: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\');

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// The packument representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    /// The install-time subset.
    Abbreviated,
    /// Everything.
    Full,
}

impl Variant {
    /// Chosen by `Accept`, as the registry does: abbreviated only when asked for by name.
    pub(super) fn from_request(req: &HeaderMap) -> Variant {
        let abbreviated = req
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(ABBREVIATED));
        if abbreviated {
            Variant::Abbreviated
        } else {
            Variant::Full
        }
    }

    fn key(self) -> &'static str {
        match self {
            Variant::Abbreviated => "abbreviated",
            Variant::Full => "full",
        }
    }

    fn accept(self) -> HeaderValue {
        match self {
            Variant::Abbreviated => HeaderValue::from_static(
                "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
            ),
            Variant::Full => HeaderValue::from_static("application/json"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Variant::Abbreviated => ABBREVIATED,
            Variant::Full => "application/json",
        }
    }
}

/// Serves the packument of `name`, or with `version` one version's document.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    path: RepoPath,
    name: &str,
    version: Option<&str>,
) -> Response {
    let policy = crate::policy::current(repo);
    let variant = match version {
        Some(_) => Variant::Full,
        // The abbreviated document has no `time`: a cooldown or snapshot filters the full one.
        None if policy.uses_time() => Variant::Full,
        None => Variant::from_request(req),
    };
    // A tag resolves as the filtered packument's `dist-tags` have it, never to a refused
    // version (the upstream's own `/<name>/<tag>` would name it).
    let resolved = match version {
        Some(tag) if policy.is_active() && crate::policy::documents::npm_is_tag(tag) => {
            match tag_version(repo, &policy, name, tag).await {
                Ok(Some(v)) => Some(v),
                Ok(None) => return tagged(Failure::NotFound.into_response(), Outcome::Miss, None),
                Err(resp) => return resp,
            }
        }
        _ => None,
    };
    let version = resolved.as_deref().or(version);
    if let Some(v) = version
        && policy.is_active()
        && let Err(refused) = admit(repo, &policy, name, v).await
    {
        return refused;
    }
    let res = resource(repo, path, name, version, variant);
    let (entry, cache) = match repo.entry(&res).await {
        Ok(found) => found,
        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
    };
    let upstream = Some(entry.meta.upstream.clone());
    let origin = request_origin(req, uri);
    let (entry, index) = match version {
        None if policy.is_active() => {
            let n = name.to_owned();
            let filter = move |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
                crate::policy::documents::npm_packument(p, &n, body, up, now)
                    .ok()
                    .flatten()
            };
            match crate::policy::filter::entry(
                repo,
                &policy,
                "npm-policy",
                name,
                entry.clone(),
                filter,
            )
            .await
            {
                // A filtered packument does not record the tarball index: it lacks versions.
                Ok(f) => {
                    let same = Arc::ptr_eq(&f.meta, &entry.meta);
                    (f, same)
                }
                Err(e) => return tagged(e.into_response(), cache, upstream),
            }
        }
        _ => (entry, version.is_none()),
    };
    let rewritten = match rewritten(repo, &entry, &origin, name, variant, index).await {
        Ok(e) => e,
        Err(e) => return tagged(e.into_response(), cache, upstream),
    };
    let presentation = Presentation {
        cache_control: repo.presentation(&res, entry.meta.fetched_at).cache_control,
        checksum_headers: false,
    };
    let mut resp = respond::entry_response(method, req, &rewritten, presentation);
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    respond::vary_on_origin(resp.headers_mut());
    tagged(resp, cache, upstream)
}

/// The cached resource of `name`'s packument in `variant`, or with `version` one version's
/// document.
fn resource(
    repo: &Repository,
    path: RepoPath,
    name: &str,
    version: Option<&str>,
    variant: Variant,
) -> Resource {
    // npm spells the scope's slash `%2f` (npm-package-arg `escapedName`).
    // Every segment is escaped whole (`/` too) and pushed onto the base, never joined.
    let escaped = utf8_percent_encode(name, NAME)
        .to_string()
        .replacen("%2F", "%2f", 1);
    let (key, upstream_path) = match version {
        None => (
            format!("{}/packuments/{name}/{}", repo.name, variant.key()),
            vec![escaped],
        ),
        Some(v) => (
            format!("{}/versions/{name}/{v}", repo.name),
            vec![escaped, utf8_percent_encode(v, NAME).to_string()],
        ),
    };
    let mut res = Resource::new(repo, path);
    res.key = key;
    res.class = Class::Mutable(repo.config.index_ttl());
    res.accept = Some(variant.accept());
    res.targets = Some(
        repo.upstreams
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((i, push_under(&u.base, &upstream_path, false).ok()?)))
            .collect(),
    );
    res
}

/// The version the dist-tag `tag` of `name` names in the full packument as `policy` filters
/// it (`None`: the tag is gone, or never was).
async fn tag_version(
    repo: &Arc<Repository>,
    policy: &crate::policy::Policy,
    name: &str,
    tag: &str,
) -> Result<Option<String>, Response> {
    let failed = |e: Failure| tagged(e.into_response(), Outcome::Miss, None);
    let path = RepoPath::parse(name).map_err(|_| Failure::NotFound.into_response())?;
    let res = resource(repo, path, name, None, Variant::Full);
    let (entry, _) = repo.entry(&res).await.map_err(failed)?;
    let n = name.to_owned();
    let filter = move |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
        crate::policy::documents::npm_packument(p, &n, body, up, now)
            .ok()
            .flatten()
    };
    let served = crate::policy::filter::entry(repo, policy, "npm-policy", name, entry, filter)
        .await
        .map_err(failed)?;
    let body = served
        .bytes()
        .await
        .map_err(|e| failed(Failure::internal(e)))?;
    Ok(crate::policy::documents::npm_dist_tag(&body, tag))
}

/// Refuses `version` of `name` when `policy` does, by the time in its full packument.
pub(super) async fn admit(
    repo: &Arc<Repository>,
    policy: &crate::policy::Policy,
    name: &str,
    version: &str,
) -> Result<(), Response> {
    let (published, upstream) = if policy.uses_time() {
        let path = RepoPath::parse(name).map_err(|_| Failure::NotFound.into_response())?;
        let res = resource(repo, path, name, None, Variant::Full);
        let (entry, _) = repo
            .entry(&res)
            .await
            .map_err(|e| tagged(e.into_response(), Outcome::Miss, None))?;
        let times = crate::policy::filter::npm_times(repo, &entry)
            .await
            .map_err(|e| tagged(e.into_response(), Outcome::Miss, None))?;
        (
            times.get(version).copied(),
            Some(entry.meta.upstream.clone()),
        )
    } else {
        (None, None)
    };
    let verdict = policy.judge(
        name,
        version,
        published,
        upstream.as_deref(),
        crate::policy::now(),
    );
    if verdict.allows() {
        return Ok(());
    }
    Err(crate::policy::refuse(repo, name, version, &verdict))
}

/// Fetches `name`'s full packument through the engine (so it is cached too) and records its
/// tarball index: what verifies a tarball asked for before its packument (`npm ci`).
pub(super) async fn fetch_index(
    repo: &Arc<Repository>,
    path: RepoPath,
    name: &str,
) -> Result<(), Failure> {
    let res = resource(repo, path, name, None, Variant::Full);
    let (entry, _) = repo.entry(&res).await?;
    rewritten(repo, &entry, "", name, Variant::Full, true).await?;
    Ok(())
}

/// The rewritten document for an upstream entry, from memory or made now (recording the
/// package's tarball index when `index` is set).
async fn rewritten(
    repo: &Repository,
    entry: &Entry,
    origin: &str,
    name: &str,
    variant: Variant,
    index: bool,
) -> Result<Entry, Failure> {
    // The abbreviated document an upstream did not send, and very large packuments.
    if index && derived::handles(entry, variant) {
        return derived::derived(repo, entry, origin, name, variant, index).await;
    }
    let source = entry.meta.digests.sha256.clone();
    let memo_key = format!("{source}\n{origin}\n{}\n{name}", repo.name);
    if let Some(done) = repo.services.memos.get::<Entry>("npm-packument", &memo_key) {
        return Ok(done);
    }
    // Concurrent installs ask for the same packument at once: rewrite it once.
    repo.coalesce(&format!("npm-packument/{memo_key}"), async {
        if let Some(done) = repo.services.memos.get::<Entry>("npm-packument", &memo_key) {
            return Ok(done);
        }
        let body = entry.bytes().await.map_err(Failure::internal)?;
        let prefix = format!("{origin}/{}/{name}/-/", repo.name);
        let upstream = entry.meta.upstream.clone();
        let (body, tarballs) =
            tokio::task::spawn_blocking(move || match rewrite(&body, &prefix, &upstream) {
                Ok((body, tarballs)) => (body, Some(tarballs)),
                Err(e) => {
                    tracing::warn!("cannot parse a packument, passing it through untouched: {e}");
                    (body, None)
                }
            })
            .await
            .map_err(Failure::internal)?;
        if index && let Some(tarballs) = &tarballs {
            tarball::record(repo, name, tarballs, &source).await;
        }
        let content_type = entry
            .meta
            .content_type
            .clone()
            .unwrap_or_else(|| variant.content_type().to_owned());
        let done = Entry::from_bytes(
            body,
            &content_type,
            entry.meta.upstream_last_modified.clone(),
            entry.meta.fetched_at,
        );
        repo.services.memos.insert(
            "npm-packument",
            memo_key,
            done.clone(),
            done.meta.len as usize,
        );
        Ok(done)
    })
    .await
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    versions: Option<HashMap<String, Version>>,
    #[serde(default)]
    dist: Option<Dist>,
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    dist: Option<Dist>,
}

#[derive(Deserialize)]
struct Dist {
    #[serde(default)]
    tarball: Option<String>,
    #[serde(default)]
    integrity: Option<String>,
    #[serde(default)]
    shasum: Option<String>,
}

/// Points every `dist.tarball` of a packument or version document at `prefix` + its file
/// name; returns the new body and the tarball index of the original.
pub(super) fn rewrite(
    body: &[u8],
    prefix: &str,
    upstream: &str,
) -> Result<(Bytes, TarballIndex), serde_json::Error> {
    let doc: Document = serde_json::from_slice(body)?;
    let dists = doc
        .versions
        .into_iter()
        .flat_map(|v| v.into_values().filter_map(|v| v.dist))
        .chain(doc.dist);
    let mut index = TarballIndex {
        upstream: upstream.to_owned(),
        ..TarballIndex::default()
    };
    let mut urls = HashMap::new();
    for dist in dists {
        let Some(url) = dist.tarball else { continue };
        let file = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("");
        if file.is_empty() {
            continue;
        }
        urls.insert(url.clone(), format!("{prefix}{file}"));
        index.files.insert(
            file.to_owned(),
            TarballInfo {
                url,
                integrity: dist.integrity,
                shasum: dist.shasum,
            },
        );
    }
    let (out, found) = replace_strings(body, &urls);
    if found.len() == urls.len() {
        return Ok((Bytes::from(out), index));
    }
    // Some URL was written with escapes: rewrite the parsed document instead.
    let mut value: serde_json::Value = serde_json::from_slice(body)?;
    let fix = |dist: Option<&mut serde_json::Value>| {
        if let Some(t) = dist.and_then(|d| d.get_mut("tarball"))
            && let Some(new) = t.as_str().and_then(|u| urls.get(u))
        {
            *t = serde_json::Value::String(new.clone());
        }
    };
    fix(value.get_mut("dist"));
    if let Some(versions) = value.get_mut("versions").and_then(|v| v.as_object_mut()) {
        for v in versions.values_mut() {
            fix(v.get_mut("dist"));
        }
    }
    Ok((Bytes::from(serde_json::to_vec(&value)?), index))
}

/// Replaces every JSON string literal (without escapes) whose text is a key of `map` by the
/// mapped text; returns the new bytes and which keys were seen.
pub(super) fn replace_strings<'a>(
    json: &[u8],
    map: &'a HashMap<String, String>,
) -> (Vec<u8>, HashSet<&'a str>) {
    let mut out = Vec::with_capacity(json.len() + json.len() / 8);
    let mut found = HashSet::new();
    let (mut i, mut copied) = (0, 0);
    // Outside strings JSON has no quotes, so each quote found here opens a string.
    while let Some(q) = json[i..].iter().position(|&b| b == b'"') {
        let start = i + q;
        let mut end = start + 1;
        let mut escaped = false;
        while end < json.len() && json[end] != b'"' {
            if json[end] == b'\\' {
                escaped = true;
                end += 1;
            }
            end += 1;
        }
        if end >= json.len() {
            break;
        }
        if !escaped
            && let Ok(text) = std::str::from_utf8(&json[start + 1..end])
            && let Some((key, new)) = map.get_key_value(text)
        {
            out.extend_from_slice(&json[copied..start]);
            out.extend_from_slice(serde_json::to_string(new).expect("a string").as_bytes());
            copied = end + 1;
            found.insert(key.as_str());
        }
        i = end + 1;
    }
    out.extend_from_slice(&json[copied..]);
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "https://registry.npmjs.org/";

    #[test]
    fn tarballs_are_replaced_in_place_and_indexed() {
        let doc = format!(
            r#"{{"name":"@s/p","dist-tags":{{"latest":"1.0.0"}},"versions":{{"1.0.0":{{"name":"@s/p","dist":{{"tarball":"{UP}@s/p/-/p-1.0.0.tgz","integrity":"sha512-abc","shasum":"00"}}}},
              "0.9.0": {{ "dist" : {{ "tarball" : "{UP}@s/p/-/p-0.9.0.tgz" }} , "description": "see {UP}@s/p/-/p-0.9.0.tgz"}} }} }}"#
        );
        let (out, index) = rewrite(doc.as_bytes(), "http://h:1/npm/@s/p/-/", "npmjs").unwrap();
        let out = std::str::from_utf8(&out).unwrap();
        assert!(
            out.contains(r#""tarball":"http://h:1/npm/@s/p/-/p-1.0.0.tgz""#),
            "{out}"
        );
        assert!(
            out.contains(r#""tarball" : "http://h:1/npm/@s/p/-/p-0.9.0.tgz""#),
            "{out}"
        );
        assert!(
            out.contains(&format!("\"see {UP}@s/p/-/p-0.9.0.tgz\"")),
            "{out}"
        );
        assert_eq!(
            out.len() + 2 * (UP.len() - "http://h:1/npm/".len()),
            doc.len()
        );
        assert_eq!(index.upstream, "npmjs");
        let one = &index.files["p-1.0.0.tgz"];
        assert_eq!(one.url, format!("{UP}@s/p/-/p-1.0.0.tgz"));
        assert_eq!(one.integrity.as_deref(), Some("sha512-abc"));
        assert_eq!(index.files.len(), 2);
    }

    #[test]
    fn escaped_urls_fall_back_to_reserialization() {
        let doc = r#"{"versions":{"1.0.0":{"dist":{"tarball":"https:\/\/r.example\/a\/-\/a-1.0.0.tgz"}}},"x":"\"quoted\""}"#;
        let (out, index) = rewrite(doc.as_bytes(), "http://h/npm/a/-/", "up").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["versions"]["1.0.0"]["dist"]["tarball"],
            "http://h/npm/a/-/a-1.0.0.tgz"
        );
        assert_eq!(v["x"], "\"quoted\"");
        assert_eq!(
            index.files["a-1.0.0.tgz"].url,
            "https://r.example/a/-/a-1.0.0.tgz"
        );
    }

    #[test]
    fn version_documents_have_a_top_level_dist() {
        let doc = format!(
            r#"{{"name":"a","version":"1.0.0","dist":{{"tarball":"{UP}a/-/a-1.0.0.tgz"}}}}"#
        );
        let (out, _) = rewrite(doc.as_bytes(), "http://h/npm/a/-/", "up").unwrap();
        assert!(
            std::str::from_utf8(&out)
                .unwrap()
                .contains("\"http://h/npm/a/-/a-1.0.0.tgz\"")
        );
    }

    #[test]
    fn variant_follows_accept() {
        let mut h = HeaderMap::new();
        assert_eq!(Variant::from_request(&h), Variant::Full);
        h.insert(header::ACCEPT, Variant::Abbreviated.accept());
        assert_eq!(Variant::from_request(&h), Variant::Abbreviated);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(Variant::from_request(&h), Variant::Full);
    }
}
