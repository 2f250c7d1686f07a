//! `GET /-/api/stats`, `/-/api/stats/NAME`, `/-/api/upstreams` and `/-/api/requests`: the
//! numbers behind the dashboard, read from `stats.rs`, the upstreams' circuit breakers, the
//! negative cache and the cache index.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::repository::Repository;
use crate::server::App;
use crate::stats::{RepoSnapshot, UpstreamSnapshot};

/// The longest a `/-/api/requests?wait=` long poll is held.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/-/api/stats", get(all))
        .route("/-/api/stats/{name}", get(one))
        .route("/-/api/upstreams", get(upstreams))
        .route("/-/api/requests", get(requests))
}

/// One repository on the dashboard.
#[derive(Debug, Serialize)]
pub struct RepoStats {
    /// Ecosystem.
    pub kind: &'static str,
    /// Path prefix clients use, `/NAME/`.
    pub path: String,
    /// Traffic counters and the last hour.
    #[serde(flatten)]
    pub counters: RepoSnapshot,
    /// Bytes cached for it (from the entry index; `None` without one).
    pub cache_bytes: Option<u64>,
    /// Entries cached for it.
    pub cache_entries: Option<u64>,
    /// Its upstreams.
    pub upstreams: Vec<UpstreamStats>,
}

/// One upstream on the dashboard.
#[derive(Debug, Serialize)]
pub struct UpstreamStats {
    /// The repository it serves.
    pub repository: String,
    /// Its name.
    pub name: String,
    /// Base URL, without credentials.
    pub url: String,
    /// Tier.
    pub priority: i32,
    /// False when the configuration takes it out of rotation.
    pub enabled: bool,
    /// `up`, `down`, `half-open` (its circuit breaker), or `disabled`.
    pub state: &'static str,
    /// RFC 3339 time of the next probe while down.
    pub down_until: Option<String>,
    /// Times it was marked down.
    pub trips: u64,
    /// Entries of the negative cache that name it (paths it lacks).
    pub negative_entries: u64,
    /// Requests, errors, latency.
    #[serde(flatten)]
    pub counters: UpstreamSnapshot,
}

fn upstream_stats(app: &App, repo: &Repository) -> Vec<UpstreamStats> {
    let services = &app.services;
    let negative = services
        .negative
        .count_by_upstream(&format!("{}/", repo.name));
    let mut out: Vec<UpstreamStats> = repo
        .upstreams
        .iter()
        .map(|u| {
            let breaker = u.breaker.snapshot();
            let mut counters = services.stats.upstream_snapshot(&repo.name, &u.name);
            // The breaker's reason is the one shown in /-/health; prefer it when fresher.
            if counters.last_error.is_none() {
                counters.last_error = breaker.last_error;
            }
            UpstreamStats {
                repository: repo.name.clone(),
                name: u.name.clone(),
                url: crate::breaker::redact(u.base.as_str()),
                priority: u.priority,
                enabled: true,
                state: breaker.state,
                down_until: breaker.down_until,
                trips: breaker.trips,
                negative_entries: negative.get(&u.name).copied().unwrap_or(0),
                counters,
            }
        })
        .collect();
    // Disabled upstreams have no client; they are listed so the dashboard shows the whole set.
    for u in repo.config.upstreams.iter().filter(|u| !u.enabled) {
        out.push(UpstreamStats {
            repository: repo.name.clone(),
            name: u.name.clone(),
            url: crate::breaker::redact(u.url.as_str()),
            priority: u.priority,
            enabled: false,
            state: "disabled",
            down_until: None,
            trips: 0,
            negative_entries: negative.get(&u.name).copied().unwrap_or(0),
            counters: services.stats.upstream_snapshot(&repo.name, &u.name),
        });
    }
    out
}

/// The dashboard's numbers for every repository.
pub fn repositories(app: &App) -> BTreeMap<String, RepoStats> {
    let counters = app.services.stats.repositories();
    let usage: BTreeMap<String, (u64, u64)> = app
        .services
        .store
        .index()
        .and_then(|i| i.usage().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|u| (u.repo, (u.bytes, u.entries)))
        .collect();
    let has_index = app.services.store.index().is_some();
    app.repositories()
        .values()
        .map(|repo| {
            let cached = usage.get(&repo.name).copied();
            let cached = if has_index {
                Some(cached.unwrap_or((0, 0)))
            } else {
                None
            };
            let stats = RepoStats {
                kind: repo.config.kind.as_str(),
                path: format!("/{}/", repo.name),
                counters: counters
                    .get(&repo.name)
                    .cloned()
                    .unwrap_or_else(RepoSnapshot::empty),
                cache_bytes: cached.map(|c| c.0),
                cache_entries: cached.map(|c| c.1),
                upstreams: upstream_stats(app, repo),
            };
            (repo.name.clone(), stats)
        })
        .collect()
}

async fn all(State(app): State<Arc<App>>) -> Response {
    let index = app.services.store.index();
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs(),
        "offline": app.services.offline,
        "cache": {
            "bytes": index.map(|i| i.bytes()),
            "entries": index.map(|i| i.entries()),
            "evictions": index.map(|i| i.evictions()),
        },
        "repositories": repositories(&app),
    }))
    .into_response()
}

async fn one(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match repositories(&app).remove(&name) {
        Some(stats) => axum::Json(stats).into_response(),
        None => super::no_repository(&app, &name),
    }
}

async fn upstreams(State(app): State<Arc<App>>) -> Response {
    let all: Vec<UpstreamStats> = app
        .repositories()
        .values()
        .flat_map(|r| upstream_stats(&app, r))
        .collect();
    axum::Json(json!({ "upstreams": all })).into_response()
}

/// `?after=SEQ&limit=N&wait=SECONDS`.
#[derive(Debug, Deserialize)]
struct FeedQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    wait: Option<u64>,
}

async fn requests(
    State(app): State<Arc<App>>,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return super::error(
            http::StatusCode::BAD_REQUEST,
            "bad query: use ?after=SEQ&limit=N&wait=SECONDS with whole numbers",
        );
    };
    let limit = query.limit.unwrap_or(100).clamp(1, crate::stats::RECENT);
    let stats = &app.services.stats;
    let mut found = stats.recent(query.after, limit);
    if found.is_empty()
        && let Some(wait) = query.wait.filter(|w| *w > 0)
    {
        stats
            .wait_for(query.after, Duration::from_secs(wait).min(MAX_WAIT))
            .await;
        found = stats.recent(query.after, limit);
    }
    let last = found.last().map_or(query.after, |r| r.seq);
    let body: Value = json!({ "requests": found, "last": last });
    axum::Json(body).into_response()
}
