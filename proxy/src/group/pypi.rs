//! PyPI groups: project pages and the root index merged in member order.
//!
//! A project page of the group is the merge (`ecosystem::pypi::model::merge`: the first member
//! listing a filename wins it) of its members' pages: a hosted member's generated page, a proxy
//! member's merged upstream page. Every member serves its files at the same paths relative to
//! its own `simple/<project>/` (`../../dist/…`, `../../packages/…`, `../../files/…`), so the
//! merged page keeps those hrefs and the group answers a file request by asking its members in
//! order ([`super::first_found`]): the group's URL is the only one a client needs.
//!
//! Hosted members are asked first, whatever their place: when one of them has the project (and
//! the group does not `allow_shadowing`), the proxies are not asked at all, so a private name
//! never even reaches a public index. The legacy JSON API (`pypi/<project>/json`) follows the
//! same rule.
//!
//! Merged project pages and root indexes are kept like the other ecosystems' merges
//! ([`super::merged`]): the members' pages are still built on every request, but the proxy
//! members' JSON is parsed and the group's page rendered again only when a member's page changed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use url::Url;

use super::{Shadowing, first_found, merged};
use crate::config::Role;
use crate::ecosystem::pypi::model::{Page, merge};
use crate::ecosystem::pypi::negotiate::Variant;
use crate::ecosystem::pypi::page::Rendered;
use crate::ecosystem::pypi::{
    files, html, json, link, name, not_acceptable, page, redirect, variant,
};
use crate::error::Failure;
use crate::hosted;
use crate::policy::{self, Verdict};
use crate::repository::{Outcome, Repository, tagged};
use crate::respond::CacheControl;
use crate::store::{Entry, now_secs};

/// The base member pages are parsed against, to turn their hrefs back into relative ones.
const BASE: &str = "http://member.invalid/";

/// Serves one request below a PyPI group; `rest` is the raw path below it.
pub async fn handle(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let (req, uri) = (&parts.headers, &parts.uri);
    let all: Vec<&Arc<Repository>> = members.iter().collect();
    let segments: Vec<&str> = rest.split('/').collect();
    match segments[..] {
        ["simple"] => redirect(&format!("/{}/simple/", group.name), uri),
        ["simple", ""] => match variant(req, uri) {
            Ok(v) => index(group, members, parts, v).await,
            Err(e) => not_acceptable(e),
        },
        ["simple", project] | ["simple", project, ""] => {
            if !name::is_valid(project) {
                return tagged(Failure::NotFound.into_response(), Outcome::Blocked, None);
            }
            let normalized = name::normalize(project);
            if normalized != project || !rest.ends_with('/') {
                return redirect(&format!("/{}/simple/{normalized}/", group.name), uri);
            }
            match variant(req, uri) {
                Ok(v) => project_page(group, members, parts, project, v).await,
                Err(e) => not_acceptable(e),
            }
        }
        ["pypi", project, ..] if name::is_valid(project) => {
            let project = name::normalize(project);
            match eligible(group, members, &project).await {
                Ok((eligible, _)) => {
                    let resp = first_found(&eligible, parts, rest).await;
                    legacy_json(group, parts, &project, segments.len() == 4, resp).await
                }
                Err(e) => e.into_response(),
            }
        }
        _ => match refused_file(group, members, parts, rest).await {
            Some(refused) => refused,
            None => first_found(&all, parts, rest).await,
        },
    }
}

/// A member's legacy JSON API answer (`pypi/<project>[/<version>]/json`) without the files the
/// group's own rules refuse (judged as its pages judge them); `/<version>/json` of a version
/// whose every file is refused answers 403, as from a proxy.
async fn legacy_json(
    group: &Repository,
    parts: &http::request::Parts,
    project: &str,
    one_version: bool,
    resp: Response,
) -> Response {
    let policy = policy::current(group);
    if !policy.is_active() || resp.status() != http::StatusCode::OK {
        return resp;
    }
    let body = match axum::body::to_bytes(resp.into_body(), 256 << 20).await {
        Ok(body) => body,
        Err(e) => return Failure::internal(e).into_response(),
    };
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Failure::Upstream(format!("the JSON API of {project} is not JSON")).into_response();
    };
    let filtered =
        policy::documents::pypi_json(&policy, project, &mut doc, &group.name, policy::now());
    if one_version && let Some(verdict) = &filtered.refused {
        let version = doc
            .pointer("/info/version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned();
        return policy::refuse(group, project, &version, verdict);
    }
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let entry = Entry::from_bytes(Bytes::from(body), "application/json", None, now_secs());
    respond(parts, &entry, Outcome::Miss)
}

/// The members that may serve `project`, with the pages of the hosted members that have it
/// (by member index).
async fn eligible<'a>(
    group: &Repository,
    members: &'a [Arc<Repository>],
    project: &str,
) -> Result<(Vec<&'a Arc<Repository>>, Vec<Option<Page>>), Failure> {
    let mut pages = Vec::with_capacity(members.len());
    let mut has = Vec::with_capacity(members.len());
    for m in members {
        if m.config.role() == Role::Hosted {
            let page = hosted::pypi::project_page(m, project)
                .await
                .map_err(|e| Failure::Internal(e.to_string()))?;
            has.push(page.is_some());
            pages.push(page);
        } else {
            has.push(true);
            pages.push(None);
        }
    }
    Ok((Shadowing::of(group).eligible(members, &has), pages))
}

/// One eligible member's page of a project, before the merge.
enum Source {
    /// A hosted member's generated page, links already relative.
    Hosted(Page),
    /// A proxy member's merged upstream page.
    Proxy(Arc<Rendered>),
}

/// A merged project page of the group (one variant), without the files the group's own rules
/// refuse.
#[derive(Clone)]
struct GroupPage {
    entry: Entry,
    /// When a refused file comes of age (the page is made again then).
    until: Option<i64>,
    /// Refused files by path below the group (`packages/…`, `dist/…`): version and verdict.
    refused: Arc<HashMap<String, (String, Verdict)>>,
}

/// `simple/<project>/` of the group, merged again only when a member's page changed.
async fn project_page(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    project: &str,
    v: Variant,
) -> Response {
    match merged_page(group, members, parts, project, v).await {
        Ok((page, outcome)) => respond(parts, &page.entry, outcome),
        Err(resp) => resp,
    }
}

/// The group's merged page of `project` in variant `v`, from the memo when no member's page
/// changed and no refused file came of age.
async fn merged_page(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    project: &str,
    v: Variant,
) -> Result<(GroupPage, Outcome), Response> {
    let (eligible, mut hosted_pages) = match eligible(group, members, project).await {
        Ok(found) => found,
        Err(e) => return Err(e.into_response()),
    };
    let mut sources: Vec<(usize, &str, Source)> = Vec::new();
    let mut identities: Vec<(&str, String)> = Vec::new();
    let mut failure = None;
    for (i, m) in members.iter().enumerate() {
        if !eligible.iter().any(|e| Arc::ptr_eq(e, m)) {
            continue;
        }
        if m.config.role() == Role::Hosted {
            match hosted_pages[i].take() {
                Some(page) => {
                    // Its own rules apply (whether it has the project is decided above, on
                    // every file, so a denied private name still keeps the proxies out).
                    let page = hosted::pypi::own_rules(m, project, page);
                    identities.push((&m.name, hosted_identity(project, &page)));
                    sources.push((i, &m.name, Source::Hosted(page)));
                }
                None => identities.push((&m.name, "-".into())),
            }
            continue;
        }
        match page::project(m, project).await {
            Ok((rendered, _)) => {
                identities.push((&m.name, rendered.entry(Variant::Json).meta.etag()));
                sources.push((i, &m.name, Source::Proxy(rendered)));
            }
            Err(Failure::NotFound) => identities.push((&m.name, "-".into())),
            Err(e) => {
                tracing::warn!(group = %group.name, member = %m.name, "leaving out a member: {e}");
                failure.get_or_insert(e);
            }
        }
    }
    if sources.is_empty() {
        return Err(tagged(
            failure.unwrap_or(Failure::NotFound).into_response(),
            Outcome::Miss,
            None,
        ));
    }
    let policy = policy::current(group);
    // A merge that leaves out a failing member is not kept: it may answer next time.
    let mut key = failure.is_none().then(|| {
        let ids: Vec<(&str, &str)> = identities.iter().map(|(m, e)| (*m, e.as_str())).collect();
        let what = format!(
            "simple/{project}/\0{}\0{}",
            v.content_type(),
            policy.memo_key()
        );
        merged::key_of(group, parts, &what, &ids)
    });
    if let Some(page) = merged::get::<GroupPage>(group, key.as_deref())
        && page.until.is_none_or(|u| u > policy::now())
    {
        return Ok((page, Outcome::Hit));
    }
    let mut pages: Vec<(usize, Page)> = Vec::with_capacity(sources.len());
    for (i, member, source) in sources {
        match source {
            Source::Hosted(page) => pages.push((i, page)),
            Source::Proxy(rendered) => match relative(&rendered, project).await {
                Ok(page) => pages.push((i, page)),
                Err(e) => {
                    tracing::warn!(group = %group.name, %member, "leaving out a member: {e}");
                    key = None;
                }
            },
        }
    }
    if pages.is_empty() {
        return Err(tagged(
            Failure::NotFound.into_response(),
            Outcome::Miss,
            None,
        ));
    }
    let mut merged = merge(project, pages);
    let mut hrefs: Vec<String> = merged.files.iter().map(|(_, d)| d.url.clone()).collect();
    let (mut refused, mut until) = (HashMap::new(), None);
    if policy.is_active() {
        let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
        (merged, hrefs, refused, until) = page::filtered(project, merged, hrefs, &names, &policy);
    }
    let body = match v {
        Variant::Json => json::render(&merged, &hrefs),
        Variant::Html | Variant::TextHtml => html::render(&merged, &hrefs),
    };
    let entry = Entry::from_bytes(Bytes::from(body), v.content_type(), None, now_secs());
    let weight = entry.meta.len as usize + refused.len() * 128;
    let page = GroupPage {
        entry,
        until,
        refused: Arc::new(refused),
    };
    merged::keep(group, key, page.clone(), weight);
    Ok((page, Outcome::Miss))
}

/// The 403 for a file at `rest` (or its `.metadata` / `.asc`) whose version the group's own
/// rules leave out of the group's page of its project.
async fn refused_file(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Option<Response> {
    let policy = policy::current(group);
    if !policy.is_active() {
        return None;
    }
    let path = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    let (file, _) = link::split_suffix(&path);
    let projects = match file.strip_prefix("dist/").and_then(|d| d.split_once('/')) {
        Some((project, _)) => vec![project.to_owned()],
        None => files::projects(file),
    };
    for project in projects {
        let Ok((page, _)) = merged_page(group, members, parts, &project, Variant::Json).await
        else {
            continue;
        };
        if let Some((version, verdict)) = page.refused.get(file) {
            return Some(policy::refuse(group, &project, version, verdict));
        }
    }
    None
}

/// What identifies a hosted member's page: the SHA-256 of the JSON page the member itself
/// serves, so an upload, a yank or a deletion makes another merge.
fn hosted_identity(project: &str, page: &Page) -> String {
    use sha2::Digest;
    let alone = merge(project, vec![(0, page.clone())]);
    let hrefs: Vec<String> = alone.files.iter().map(|(_, d)| d.url.clone()).collect();
    hex::encode(sha2::Sha256::digest(json::render(&alone, &hrefs)))
}

/// A merged page (or index) of the group, negotiated like a member's (`Vary: Accept`).
fn respond(parts: &http::request::Parts, entry: &Entry, outcome: Outcome) -> Response {
    let mut resp = hosted::serve_entry(
        &parts.method,
        &parts.headers,
        entry,
        CacheControl::MaxAge(0),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    tagged(resp, outcome, None)
}

/// A proxy member's merged page, its links relative to `simple/<project>/` again.
async fn relative(rendered: &Rendered, project: &str) -> Result<Page, Failure> {
    let body = rendered
        .entry(Variant::Json)
        .bytes()
        .await
        .map_err(Failure::internal)?;
    let base = Url::parse(&format!("{BASE}simple/{project}/")).map_err(Failure::internal)?;
    let mut parsed = json::parse(&body, &base).map_err(Failure::Internal)?;
    for d in &mut parsed.files {
        if let Some(below) = d.url.strip_prefix(BASE) {
            d.url = format!("../../{below}");
        }
    }
    Ok(parsed)
}

/// One member's contribution to the group's index, before the merge.
enum Names {
    /// A hosted member's project names.
    Hosted(Vec<String>),
    /// A proxy member's JSON index, not read yet.
    Proxy(Response),
}

/// `simple/` of the group: every member's project names, first spelling wins; merged again
/// only when a member's index changed (PyPI's own is tens of megabytes).
async fn index(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    v: Variant,
) -> Response {
    let mut sources: Vec<Names> = Vec::with_capacity(members.len());
    let mut identities: Vec<(&str, String)> = Vec::with_capacity(members.len());
    let mut keep = true;
    for m in members {
        if m.config.role() == Role::Hosted {
            match hosted::pypi::projects(m).await {
                Ok(mut list) => {
                    if m.policy.refuses_packages() {
                        list.retain(|n| m.policy.refuses_package(n).is_none());
                    }
                    use sha2::Digest;
                    let mut digest = sha2::Sha256::new();
                    for n in &list {
                        digest.update(n.as_bytes());
                        digest.update(b"\n");
                    }
                    identities.push((&m.name, hex::encode(digest.finalize())));
                    sources.push(Names::Hosted(list));
                }
                Err(e) => return e.into_response(),
            }
            continue;
        }
        let mut accept = HeaderMap::new();
        accept.insert(
            header::ACCEPT,
            HeaderValue::from_static(Variant::Json.content_type()),
        );
        let resp = page::serve_index(m, &Method::GET, &accept, Variant::Json).await;
        if !resp.status().is_success() {
            // Left out, as before; not kept, since it may answer next time.
            keep = false;
            continue;
        }
        match resp
            .headers()
            .get(header::ETAG)
            .and_then(|e| e.to_str().ok())
        {
            Some(etag) => identities.push((&m.name, etag.to_owned())),
            None => keep = false,
        }
        sources.push(Names::Proxy(resp));
    }
    let policy = policy::current(group);
    let key = keep.then(|| {
        let ids: Vec<(&str, &str)> = identities.iter().map(|(m, e)| (*m, e.as_str())).collect();
        merged::key_of(
            group,
            parts,
            &format!("simple/\0{}\0{}", v.content_type(), policy.memo_key()),
            &ids,
        )
    });
    if let Some(entry) = merged::get::<Entry>(group, key.as_deref()) {
        return respond(parts, &entry, Outcome::Hit);
    }
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |list: Vec<String>| {
        for n in list {
            if seen.insert(name::normalize(&n)) {
                names.push(n);
            }
        }
    };
    for source in sources {
        match source {
            Names::Hosted(list) => add(list),
            Names::Proxy(resp) => {
                let Ok(body) = axum::body::to_bytes(resp.into_body(), 1 << 30).await else {
                    continue;
                };
                if let Ok(list) = json::parse_index(&body) {
                    add(list);
                }
            }
        }
    }
    if policy.refuses_packages() {
        names.retain(|n| policy.refuses_package(n).is_none());
    }
    let body = match v {
        Variant::Json => json::render_index(&names),
        Variant::Html | Variant::TextHtml => html::render_index(&names),
    };
    let entry = Entry::from_bytes(Bytes::from(body), v.content_type(), None, now_secs());
    let weight = entry.meta.len as usize;
    merged::keep(group, key, entry.clone(), weight);
    respond(parts, &entry, Outcome::Miss)
}
