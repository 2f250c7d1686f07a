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

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};
use url::Url;

use super::{Shadowing, first_found};
use crate::config::Role;
use crate::ecosystem::pypi::model::{Page, merge};
use crate::ecosystem::pypi::negotiate::Variant;
use crate::ecosystem::pypi::{html, json, name, not_acceptable, page, redirect, variant};
use crate::error::Failure;
use crate::hosted;
use crate::repository::{Outcome, Repository, tagged};

/// The base member pages are parsed against, to turn their hrefs back into relative ones.
const BASE: &str = "http://member.invalid/";

/// Serves one request below a PyPI group; `rest` is the raw path below it.
pub async fn handle(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    parts: &http::request::Parts,
    rest: &str,
) -> Response {
    let (method, req, uri) = (&parts.method, &parts.headers, &parts.uri);
    let all: Vec<&Arc<Repository>> = members.iter().collect();
    let segments: Vec<&str> = rest.split('/').collect();
    match segments[..] {
        ["simple"] => redirect(&format!("/{}/simple/", group.name), uri),
        ["simple", ""] => match variant(req, uri) {
            Ok(v) => index(members, method, req, v).await,
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
                Ok(v) => project_page(group, members, method, req, project, v).await,
                Err(e) => not_acceptable(e),
            }
        }
        ["pypi", project, ..] if name::is_valid(project) => {
            let project = name::normalize(project);
            match eligible(group, members, &project).await {
                Ok((eligible, _)) => first_found(&eligible, parts, rest).await,
                Err(e) => e.into_response(),
            }
        }
        _ => first_found(&all, parts, rest).await,
    }
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

/// `simple/<project>/` of the group.
async fn project_page(
    group: &Arc<Repository>,
    members: &[Arc<Repository>],
    method: &Method,
    req: &HeaderMap,
    project: &str,
    v: Variant,
) -> Response {
    let (eligible, mut hosted_pages) = match eligible(group, members, project).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let mut pages: Vec<(usize, Page)> = Vec::new();
    let mut failure = None;
    for (i, m) in members.iter().enumerate() {
        if !eligible.iter().any(|e| Arc::ptr_eq(e, m)) {
            continue;
        }
        if m.config.role() == Role::Hosted {
            if let Some(page) = hosted_pages[i].take() {
                pages.push((i, page));
            }
            continue;
        }
        match proxy_page(m, project).await {
            Ok(page) => pages.push((i, page)),
            Err(Failure::NotFound) => {}
            Err(e) => {
                tracing::warn!(group = %group.name, member = %m.name, "leaving out a member: {e}");
                failure.get_or_insert(e);
            }
        }
    }
    if pages.is_empty() {
        return tagged(
            failure.unwrap_or(Failure::NotFound).into_response(),
            Outcome::Miss,
            None,
        );
    }
    let merged = merge(project, pages);
    let hrefs: Vec<String> = merged.files.iter().map(|(_, d)| d.url.clone()).collect();
    hosted::pypi::page_response(
        method,
        req,
        v,
        html::render(&merged, &hrefs),
        json::render(&merged, &hrefs),
    )
}

/// A proxy member's merged page, its links relative to `simple/<project>/` again.
async fn proxy_page(member: &Arc<Repository>, project: &str) -> Result<Page, Failure> {
    let (rendered, _) = page::project(member, project).await?;
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

/// `simple/` of the group: every member's project names, first spelling wins.
async fn index(
    members: &[Arc<Repository>],
    method: &Method,
    req: &HeaderMap,
    v: Variant,
) -> Response {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |list: Vec<String>| {
        for n in list {
            if seen.insert(name::normalize(&n)) {
                names.push(n);
            }
        }
    };
    for m in members {
        if m.config.role() == Role::Hosted {
            match hosted::pypi::projects(m).await {
                Ok(list) => add(list),
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
            continue;
        }
        // PyPI's own index is tens of megabytes.
        let Ok(body) = axum::body::to_bytes(resp.into_body(), 1 << 30).await else {
            continue;
        };
        if let Ok(list) = json::parse_index(&body) {
            add(list);
        }
    }
    hosted::pypi::page_response(
        method,
        req,
        v,
        html::render_index(&names),
        json::render_index(&names),
    )
}
