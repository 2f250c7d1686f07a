//! Project pages (`/simple/<project>/`) and the root index (`/simple/`), merged across upstreams.
//!
//! Each upstream's page is its own mutable cache entry (`<repo>/pages/<project>/<upstream>`),
//! fetched by the engine with JSON preferred and HTML accepted, kept for `index_ttl`, then
//! revalidated with the upstream's validators, and served stale when the upstream fails. The
//! pages of all upstreams are fetched at once, parsed, merged (best priority wins a filename),
//! their links rewritten to repox, and rendered as both HTML and JSON. The result is memoized by
//! the upstream pages' digests, so a warm request is a store lookup per upstream plus a memo hit,
//! and repox answers with its own ETag (from the rendered bytes of the negotiated variant),
//! `Cache-Control: max-age=<freshness left>` and `Vary: Accept`, so pip and uv revalidate with a
//! cheap 304.
//!
//! The stored upstream pages are also the record of where every file comes from: a file request
//! after a restart finds its upstream URL and hash by parsing the stored page again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::join_all;
use http::{HeaderMap, HeaderValue, Method, header};
use url::Url;

use super::link::{self, Link};
use super::negotiate::Variant;
use super::{html, json, metadata, model, name};
use crate::error::Failure;
use crate::path::RepoPath;
use crate::policy::{self, Policy, Verdict};
use crate::repository::{Class, Outcome, Repository, Resource, tagged};
use crate::respond::{self, CacheControl, Presentation};
use crate::store::{Entry, now_secs};

/// What repox asks upstreams for: JSON preferred, HTML for indexes without PEP 691 (uv's string).
const UPSTREAM_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// A page rendered in every variant, with the links it hands out.
pub struct Rendered {
    text_html: Entry,
    html: Entry,
    json: Entry,
    /// Repox path (below the repository) → where that file comes from.
    pub links: HashMap<String, Link>,
    /// Files the repository's policy leaves out of the page: repox path → version and verdict.
    pub refused: HashMap<String, (String, Verdict)>,
    /// When the policy's verdicts may change with the clock alone (Unix seconds).
    until: Option<i64>,
}

impl Rendered {
    fn new(html: Vec<u8>, json: Vec<u8>, links: HashMap<String, Link>) -> Rendered {
        let now = now_secs();
        let html = Bytes::from(html);
        let text_html =
            Entry::from_bytes(html.clone(), Variant::TextHtml.content_type(), None, now);
        let mut meta = (*text_html.meta).clone();
        meta.content_type = Some(Variant::Html.content_type().to_owned());
        let html = Entry {
            meta: Arc::new(meta),
            body: text_html.body.clone(),
        };
        let json = Entry::from_bytes(json.into(), Variant::Json.content_type(), None, now);
        Rendered {
            text_html,
            html,
            json,
            links,
            refused: HashMap::new(),
            until: None,
        }
    }

    /// The page in `variant`.
    pub(crate) fn entry(&self, variant: Variant) -> &Entry {
        match variant {
            Variant::TextHtml => &self.text_html,
            Variant::Html => &self.html,
            Variant::Json => &self.json,
        }
    }

    fn weight(&self) -> usize {
        (self.html.meta.len + self.json.meta.len) as usize + self.links.len() * 320
    }
}

/// The upstream pages behind one response.
pub struct Gathered {
    sources: Vec<(usize, Entry)>,
    /// How they were obtained, worst first: `stale`, `miss`, `revalidated`, `hit`.
    cache: Outcome,
    /// Seconds until the first of them must be revalidated (0 when an upstream failed).
    max_age: u64,
}

impl Gathered {
    fn upstreams(&self, repo: &Repository) -> Option<String> {
        let names: Vec<&str> = self
            .sources
            .iter()
            .map(|(i, _)| repo.upstreams[*i].name.as_str())
            .collect();
        (!names.is_empty()).then(|| names.join(","))
    }
}

/// What a page resource is for.
#[derive(Clone, Copy)]
enum Which<'a> {
    Project(&'a str),
    Index,
}

/// The placeholder path of the root index (a constant that parses).
fn index_path() -> RepoPath {
    RepoPath::parse("index/").unwrap_or_else(|_| unreachable!("`index/` is a valid path"))
}

fn resource(repo: &Repository, i: usize, which: Which<'_>) -> Resource {
    let up = &repo.upstreams[i];
    let (key, path) = match which {
        Which::Project(p) => (
            format!("{}/pages/{p}/{}", repo.name, link::segment(&up.name)),
            format!("{p}/"),
        ),
        // The root index is the base URL itself; `path` only names it.
        Which::Index => (
            format!("{}/index/{}", repo.name, link::segment(&up.name)),
            "index/".to_owned(),
        ),
    };
    // A normalized project name is one plain segment; anything else gets no upstream at all.
    let (path, url) = match (RepoPath::parse(&path), which) {
        (Ok(path), Which::Project(_)) => {
            let url = up.url_for(&path).ok();
            (path, url)
        }
        (Ok(path), Which::Index) => (path, Some(up.base.clone())),
        (Err(_), _) => (index_path(), None),
    };
    let mut res = Resource::new(repo, path);
    res.key = key;
    res.class = Class::Mutable(repo.config.index_ttl());
    res.accept = Some(HeaderValue::from_static(UPSTREAM_ACCEPT));
    res.targets = Some(url.map(|url| (i, url)).into_iter().collect());
    res
}

fn rank(cache: Outcome) -> u8 {
    match cache {
        Outcome::Stale => 3,
        Outcome::Miss => 2,
        Outcome::Revalidated => 1,
        _ => 0,
    }
}

/// Every upstream's page, fetched or revalidated as the engine decides. Upstreams that lack it
/// are left out; 404 only when all of them do. A failed upstream is left out too (its stale copy
/// is used when there is one), but then the answer is not cacheable downstream.
async fn gather(repo: &Arc<Repository>, which: Which<'_>) -> Result<Gathered, Failure> {
    let resources: Vec<Resource> = (0..repo.upstreams.len())
        .map(|i| resource(repo, i, which))
        .collect();
    let answers = join_all(resources.iter().map(|r| repo.entry(r))).await;
    let ttl = repo.config.index_ttl();
    let mut out = Gathered {
        sources: Vec::new(),
        cache: Outcome::Hit,
        max_age: ttl.as_secs(),
    };
    let mut failure = None;
    for (i, (res, answer)) in resources.iter().zip(answers).enumerate() {
        match answer {
            Ok((entry, how)) => {
                out.max_age = out
                    .max_age
                    .min(repo.fresh_for(&res.key, entry.meta.fetched_at, ttl));
                if rank(how) > rank(out.cache) {
                    out.cache = how;
                }
                out.sources.push((i, entry));
            }
            Err(Failure::NotFound) => {}
            Err(e) => {
                tracing::warn!(key = %res.key, "leaving out upstream `{}`: {e}", repo.upstreams[i].name);
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) if out.sources.is_empty() => Err(e),
        None if out.sources.is_empty() => Err(Failure::NotFound),
        Some(_) => {
            out.max_age = 0;
            Ok(out)
        }
        None => Ok(out),
    }
}

/// The upstream pages repox holds for `project`, however old, without asking anyone.
async fn stored(repo: &Repository, project: &str) -> Vec<(usize, Entry)> {
    let mut out = Vec::new();
    for i in 0..repo.upstreams.len() {
        let key = resource(repo, i, Which::Project(project)).key;
        if let Ok(Some(entry)) = repo.services.store.get(&key).await {
            out.push((i, entry));
        }
    }
    out
}

fn memo_key(repo: &Repository, which: Which<'_>, sources: &[(usize, Entry)]) -> String {
    let mut key = match which {
        Which::Project(p) => format!(
            "{}\0{p}\0{}\0{}",
            repo.name,
            u8::from(repo.config.generate_metadata()),
            metadata::epoch(repo, p)
        ),
        Which::Index => format!("{}\0", repo.name),
    };
    for (i, e) in sources {
        key.push('\0');
        key.push_str(&repo.upstreams[*i].name);
        key.push('\0');
        key.push_str(&e.meta.url);
        key.push('\0');
        key.push_str(&e.meta.digests.sha256);
    }
    key
}

/// One upstream page ready to parse.
struct Body {
    upstream: usize,
    bytes: Bytes,
    content_type: Option<String>,
    url: Url,
}

/// The rendered page for these sources, from the memo or parsed now (once per key).
async fn rendered(
    repo: &Arc<Repository>,
    which: Which<'_>,
    sources: &[(usize, Entry)],
) -> Result<Arc<Rendered>, Failure> {
    let policy = policy::current(repo);
    let mut key = memo_key(repo, which, sources);
    key.push_str(&policy.memo_key());
    // A page filtered by a cooldown is made again once a hidden file comes of age.
    let current = |r: &Arc<Rendered>| r.until.is_none_or(|u| u > policy::now());
    if let Some(r) = repo.services.memos.get::<Arc<Rendered>>("pypi-page", &key)
        && current(&r)
    {
        return Ok(r);
    }
    repo.coalesce(&format!("pypi-page/{key}"), async {
        if let Some(r) = repo.services.memos.get::<Arc<Rendered>>("pypi-page", &key)
            && current(&r)
        {
            return Ok(r);
        }
        let mut bodies = Vec::with_capacity(sources.len());
        for (i, entry) in sources {
            let up = &repo.upstreams[*i];
            bodies.push(Body {
                upstream: *i,
                bytes: entry.bytes().await.map_err(Failure::internal)?,
                content_type: entry.meta.content_type.clone(),
                url: Url::parse(&entry.meta.url).unwrap_or_else(|_| up.base.clone()),
            });
        }
        let names: Vec<String> = repo.upstreams.iter().map(|u| u.name.clone()).collect();
        let project = match which {
            Which::Project(p) => Some(p.to_owned()),
            Which::Index => None,
        };
        let generated = match &project {
            Some(p) if repo.config.generate_metadata() => Some(metadata::known(repo, p).await),
            _ => None,
        };
        let built = tokio::task::spawn_blocking(move || match project {
            Some(p) => build_project(&p, bodies, &names, generated, &policy),
            None => build_index(bodies, &names, &policy),
        })
        .await
        .map_err(Failure::internal)??;
        let built = Arc::new(built);
        repo.services
            .memos
            .insert("pypi-page", key, built.clone(), built.weight());
        Ok(built)
    })
    .await
}

fn is_json(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type.map(str::to_ascii_lowercase) {
        Some(ct) if ct.contains("json") => true,
        Some(ct) if ct.contains("html") => false,
        _ => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    }
}

/// Parses, merges, rewrites and renders one project's upstream pages; with `generated`,
/// announces PEP 658 metadata for wheels that lack it, with the hashes of those generated
/// already ([`metadata`]).
fn build_project(
    project: &str,
    bodies: Vec<Body>,
    upstreams: &[String],
    generated: Option<metadata::Known>,
    policy: &Policy,
) -> Result<Rendered, Failure> {
    let mut pages = Vec::with_capacity(bodies.len());
    let mut errors = Vec::new();
    for b in bodies {
        let parsed = if is_json(b.content_type.as_deref(), &b.bytes) {
            json::parse(&b.bytes, &b.url)
        } else {
            Ok(html::parse(&b.bytes, &b.url))
        };
        match parsed {
            Ok(page) => pages.push((b.upstream, page)),
            Err(e) => {
                tracing::warn!(url = %b.url, "ignoring an unreadable page: {e}");
                errors.push(format!("{}: {e}", upstreams[b.upstream]));
            }
        }
    }
    if pages.is_empty() {
        return Err(Failure::Upstream(errors.join("; ")));
    }
    let mut merged = model::merge(project, pages);
    let names: Vec<Arc<str>> = upstreams.iter().map(|u| Arc::from(u.as_str())).collect();
    let mut hrefs = Vec::with_capacity(merged.files.len());
    let mut links = HashMap::with_capacity(merged.files.len());
    for (i, d) in &merged.files {
        let loc = link::locate(&d.url, &d.filename, &upstreams[*i], project);
        hrefs.push(format!("../../{}", loc.href));
        links.insert(
            loc.path,
            Link {
                upstream: names[*i].clone(),
                url: d.url.clone(),
                verify: d.verify(),
                metadata: d.metadata_check(),
                gpg_sig: d.gpg_sig == Some(true),
                size: d.size,
            },
        );
    }
    if let Some(known) = &generated {
        metadata::announce(&mut merged, known);
    }
    if !policy.is_active() {
        let html = html::render(&merged, &hrefs);
        let json = json::render(&merged, &hrefs);
        return Ok(Rendered::new(html, json, links));
    }
    let (merged, hrefs, refused, until) = filtered(project, merged, hrefs, upstreams, policy);
    let html = html::render(&merged, &hrefs);
    let json = json::render(&merged, &hrefs);
    let mut rendered = Rendered::new(html, json, links);
    rendered.refused = refused;
    rendered.until = until;
    Ok(rendered)
}

/// The merged page without the files `policy` refuses (by their version and PEP 700
/// `upload-time`; files without one are kept), with what was refused by repox path and when
/// the verdicts may change. A version whose every file is refused leaves `versions` too.
#[allow(clippy::type_complexity)]
pub(crate) fn filtered(
    project: &str,
    mut merged: model::Merged,
    hrefs: Vec<String>,
    upstreams: &[String],
    policy: &Policy,
) -> (
    model::Merged,
    Vec<String>,
    HashMap<String, (String, Verdict)>,
    Option<i64>,
) {
    let now = policy::now();
    let mut refused = HashMap::new();
    let mut until: Option<i64> = None;
    let (mut kept_versions, mut gone_versions) = (HashSet::new(), HashSet::new());
    let mut files = Vec::with_capacity(merged.files.len());
    let mut kept_hrefs = Vec::with_capacity(hrefs.len());
    for ((i, d), href) in std::mem::take(&mut merged.files).into_iter().zip(hrefs) {
        let version = policy::documents::pypi_version(&d.filename).unwrap_or("");
        let published = policy::documents::pypi_upload_time(&d.json);
        let verdict = policy.judge(project, version, published, Some(&upstreams[i]), now);
        if let Some(u) = verdict.until() {
            until = Some(until.map_or(u, |t: i64| t.min(u)));
        }
        if verdict.allows() {
            kept_versions.insert(version.to_owned());
            files.push((i, d));
            kept_hrefs.push(href);
        } else {
            gone_versions.insert(version.to_owned());
            let path = href.trim_start_matches("../../");
            let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            refused.insert(path.into_owned(), (version.to_owned(), verdict));
        }
    }
    merged.files = files;
    merged
        .versions
        .retain(|v| kept_versions.contains(v) || !gone_versions.contains(v));
    (merged, kept_hrefs, refused, until)
}

/// The policy's verdict on the file at `file` (a repox path), from the page that lists it:
/// `Some((project, version, verdict))` when the page leaves it out.
pub async fn refused(repo: &Arc<Repository>, file: &str) -> Option<(String, String, Verdict)> {
    for p in super::files::projects(file) {
        let page = match project_stored(repo, &p).await {
            Some(page) if page.links.contains_key(file) => page,
            _ => project(repo, &p).await.ok()?.0,
        };
        if let Some((version, verdict)) = page.refused.get(file) {
            return Some((p, version.clone(), verdict.clone()));
        }
        if page.links.contains_key(file) {
            return None;
        }
    }
    None
}

/// Parses and merges the root indexes of every upstream, without the projects `policy`
/// refuses entirely (a `deny` rule naming no version, an advisory covering every version).
fn build_index(
    bodies: Vec<Body>,
    upstreams: &[String],
    policy: &Policy,
) -> Result<Rendered, Failure> {
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    let mut parsed_any = false;
    for b in bodies {
        let parsed = if is_json(b.content_type.as_deref(), &b.bytes) {
            json::parse_index(&b.bytes)
        } else {
            Ok(html::parse_index(&b.bytes))
        };
        match parsed {
            Ok(list) => {
                parsed_any = true;
                for n in list {
                    if seen.insert(name::normalize(&n)) {
                        names.push(n);
                    }
                }
            }
            Err(e) => errors.push(format!("{}: {e}", upstreams[b.upstream])),
        }
    }
    if !parsed_any {
        return Err(Failure::Upstream(errors.join("; ")));
    }
    if policy.refuses_packages() {
        names.retain(|n| policy.refuses_package(n).is_none());
    }
    Ok(Rendered::new(
        html::render_index(&names),
        json::render_index(&names),
        HashMap::new(),
    ))
}

/// The merged page of `project` as clients should see it now.
pub async fn project(
    repo: &Arc<Repository>,
    project: &str,
) -> Result<(Arc<Rendered>, Gathered), Failure> {
    let gathered = gather(repo, Which::Project(project)).await?;
    let page = rendered(repo, Which::Project(project), &gathered.sources).await?;
    Ok((page, gathered))
}

/// The merged page of `project` from what is stored, however old (`None` if nothing is).
pub async fn project_stored(repo: &Arc<Repository>, project: &str) -> Option<Arc<Rendered>> {
    let sources = stored(repo, project).await;
    if sources.is_empty() {
        return None;
    }
    rendered(repo, Which::Project(project), &sources).await.ok()
}

fn respond(
    repo: &Repository,
    method: &Method,
    req: &HeaderMap,
    page: &Rendered,
    gathered: &Gathered,
    variant: Variant,
) -> Response {
    let pres = Presentation {
        cache_control: CacheControl::MaxAge(gathered.max_age),
        checksum_headers: false,
    };
    let mut resp = respond::entry_response(method, req, page.entry(variant), pres);
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    tagged(resp, gathered.cache, gathered.upstreams(repo))
}

/// Answers `/simple/<project>/`.
pub async fn serve_project(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    name: &str,
    variant: Variant,
) -> Response {
    match project(repo, name).await {
        Ok((page, gathered)) => respond(repo, method, req, &page, &gathered, variant),
        Err(e) => tagged(e.into_response(), Outcome::Miss, None),
    }
}

/// Answers `/simple/`.
pub async fn serve_index(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    variant: Variant,
) -> Response {
    let outcome = async {
        let gathered = gather(repo, Which::Index).await?;
        let page = rendered(repo, Which::Index, &gathered.sources).await?;
        Ok::<_, Failure>((page, gathered))
    };
    match outcome.await {
        Ok((page, gathered)) => respond(repo, method, req, &page, &gathered, variant),
        Err(e) => tagged(e.into_response(), Outcome::Miss, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_policy() -> Policy {
        Policy::new(&toml::from_str("kind = \"pypi\"").unwrap())
    }

    /// A PyPI-like JSON page with `n` files, all with metadata, sizes and upload times.
    pub fn synthetic(n: usize) -> Vec<u8> {
        let files: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let f = format!("big-1.{i}-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
                let h = format!("{:064x}", i);
                serde_json::json!({
                    "filename": f,
                    "url": format!("https://files.pythonhosted.org/packages/{}/{}/{}/{f}", &h[..2], &h[2..4], &h[4..]),
                    "hashes": {"sha256": h},
                    "requires-python": ">=3.9",
                    "core-metadata": {"sha256": h},
                    "data-dist-info-metadata": {"sha256": h},
                    "size": 1_000_000 + i,
                    "upload-time": "2024-01-02T03:04:05.123456Z",
                    "yanked": i % 100 == 0,
                    "provenance": null,
                })
            })
            .collect();
        let versions: Vec<String> = (0..n).map(|i| format!("1.{i}")).collect();
        serde_json::to_vec(&serde_json::json!({
            "meta": {"api-version": "1.4", "_last-serial": 1},
            "name": "big",
            "versions": versions,
            "files": files,
        }))
        .unwrap()
    }

    /// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), so that the figure is
    /// the work done, not the time spent waiting for a CPU on a busy machine.
    fn on_cpu_ns() -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The figure `benches/pypi.sh` reports (run with `--release --nocapture`).
    #[test]
    #[allow(clippy::print_stderr)]
    fn a_2000_file_page_renders_in_20_ms() {
        let body = Bytes::from(synthetic(2_500));
        let url = Url::parse("https://pypi.org/simple/big/").unwrap();
        let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
        for _ in 0..10 {
            let bodies = vec![Body {
                upstream: 0,
                bytes: body.clone(),
                content_type: Some("application/vnd.pypi.simple.v1+json".into()),
                url: url.clone(),
            }];
            let (started, cpu_start) = (std::time::Instant::now(), on_cpu_ns());
            let page = build_project("big", bodies, &["pypi".into()], None, &no_policy()).unwrap();
            wall = wall.min(started.elapsed().as_secs_f64() * 1000.0);
            if let (Some(a), Some(b)) = (cpu_start, on_cpu_ns()) {
                cpu = cpu.min((b - a) as f64 / 1e6);
            }
            assert_eq!(page.links.len(), 2_500);
        }
        eprintln!(
            "parse + merge + render of a 2,500-file page ({} KB): {cpu:.1} ms on CPU, {wall:.1} ms wall",
            body.len() / 1024,
        );
        if !cfg!(debug_assertions) {
            let work = if cpu < f64::MAX { cpu } else { wall };
            assert!(work <= 20.0, "took {work:.1} ms");
        }
    }

    #[test]
    fn rendered_links_are_relative_and_recorded() {
        let body = Bytes::from(synthetic(3));
        let bodies = vec![Body {
            upstream: 0,
            bytes: body,
            content_type: None,
            url: Url::parse("https://pypi.org/simple/big/").unwrap(),
        }];
        let page = build_project("big", bodies, &["pypi".into()], None, &no_policy()).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&page.entry(Variant::Json).bytes_now()).unwrap();
        let url = json["files"][1]["url"].as_str().unwrap();
        assert!(url.starts_with("../../packages/00/00/"), "{url}");
        let path = url.trim_start_matches("../../");
        let found = &page.links[path];
        assert!(
            found
                .url
                .as_str()
                .starts_with("https://files.pythonhosted.org/packages/")
        );
        assert_eq!(json["files"][1]["size"], 1_000_001);
        assert_eq!(json["meta"]["api-version"], "1.4");
        let html = String::from_utf8(page.entry(Variant::TextHtml).bytes_now().to_vec()).unwrap();
        assert!(html.contains(&format!("href=\"{url}#sha256=")), "{html}");
        assert_eq!(
            page.entry(Variant::Html).meta.content_type.as_deref(),
            Some("application/vnd.pypi.simple.v1+html")
        );
        assert_eq!(
            page.entry(Variant::Html).meta.etag(),
            page.entry(Variant::TextHtml).meta.etag()
        );
    }

    impl Entry {
        fn bytes_now(&self) -> Bytes {
            match &self.body {
                crate::store::Body::Bytes(b) => b.clone(),
                _ => unreachable!("rendered pages are in memory"),
            }
        }
    }
}
