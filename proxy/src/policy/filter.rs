//! Cached index documents filtered at serve time.
//!
//! Upstream documents are cached as the upstream sent them; what a policy leaves out is decided
//! when they are served, since a cooldown moves with the clock. The filtered document is
//! memoized by the upstream body's digest and the policy's memo key, and made again only once
//! the first hidden version comes of age ([`super::documents::Filtered::until`]): a warm
//! request costs one memo lookup.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use serde_json::{Map, Value};

use super::documents::Filtered;
use super::{Policy, parse_time};
use crate::error::Failure;
use crate::repository::Repository;
use crate::store::Entry;

/// A filtered document (or the upstream's when nothing is left out) and when it stops holding.
#[derive(Clone)]
struct Memo {
    entry: Entry,
    until: Option<i64>,
}

/// [`entry`] for a document a repository made itself (a group's merge, a hosted repository's
/// own index): `entry` unchanged when `policy` refuses nothing, a failure as its response.
pub async fn own<F>(
    repo: &Repository,
    policy: &Policy,
    kind: &str,
    name: &str,
    entry: Entry,
    filter: F,
) -> Result<Entry, axum::response::Response>
where
    F: FnOnce(&Policy, &[u8], &str, i64) -> Option<Filtered> + Send + 'static,
{
    if !policy.is_active() {
        return Ok(entry);
    }
    self::entry(repo, policy, kind, name, entry, filter)
        .await
        .map_err(axum::response::IntoResponse::into_response)
}

/// `entry` with what `policy` refuses left out by `filter` (run off the async threads), from
/// the memo when it still holds. `kind` names the document kind in memo keys; `name` the package.
pub async fn entry<F>(
    repo: &Repository,
    policy: &Policy,
    kind: &str,
    name: &str,
    entry: Entry,
    filter: F,
) -> Result<Entry, Failure>
where
    F: FnOnce(&Policy, &[u8], &str, i64) -> Option<Filtered> + Send + 'static,
{
    let p = policy.clone();
    memoized(
        repo,
        policy,
        kind,
        name,
        entry,
        move |body, upstream| async move {
            tokio::task::spawn_blocking(move || filter(&p, &body, &upstream, super::now()))
                .await
                .map_err(Failure::internal)
        },
    )
    .await
}

/// [`entry`] for filters that must ask for more than the document (Maven's POM times):
/// `make` gets the upstream body and the upstream's name, and runs only when the memo does
/// not hold.
pub async fn memoized<M, Fut>(
    repo: &Repository,
    policy: &Policy,
    kind: &str,
    name: &str,
    entry: Entry,
    make: M,
) -> Result<Entry, Failure>
where
    M: FnOnce(Bytes, String) -> Fut,
    Fut: Future<Output = Result<Option<Filtered>, Failure>>,
{
    let key = format!(
        "{}\n{}\n{}\n{name}",
        repo.name,
        entry.meta.digests.sha256,
        policy.memo_key()
    );
    let holds = |m: &Memo| m.until.is_none_or(|u| u > super::now());
    if let Some(m) = repo.services.memos.get::<Memo>(kind, &key)
        && holds(&m)
    {
        return Ok(m.entry);
    }
    repo.coalesce(&format!("{kind}/{key}"), async {
        if let Some(m) = repo.services.memos.get::<Memo>(kind, &key)
            && holds(&m)
        {
            return Ok(m.entry);
        }
        let body = entry.bytes().await.map_err(Failure::internal)?;
        let filtered = make(body, entry.meta.upstream.clone()).await?;
        let memo = match filtered {
            None => Memo {
                entry: entry.clone(),
                until: None,
            },
            Some(f) => {
                tracing::debug!(repository = %repo.name, "{name}: left out {:?}", f.hidden);
                let content_type = entry
                    .meta
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".to_owned());
                let new = Entry::from_bytes(
                    f.body,
                    &content_type,
                    entry.meta.upstream_last_modified.clone(),
                    entry.meta.fetched_at,
                );
                Memo {
                    entry: new,
                    until: f.until,
                }
            }
        };
        let weight = if Arc::ptr_eq(&memo.entry.meta, &entry.meta) {
            256
        } else {
            memo.entry.meta.len as usize
        };
        repo.services.memos.insert(kind, key, memo.clone(), weight);
        Ok(memo.entry)
    })
    .await
}

/// The publication times in an npm packument's `time` map, by version, memoized by the
/// packument's digest (a tarball request asks for one of them).
pub async fn npm_times(
    repo: &Repository,
    entry: &Entry,
) -> Result<Arc<BTreeMap<String, i64>>, Failure> {
    let key = entry.meta.digests.sha256.clone();
    if let Some(t) = repo
        .services
        .memos
        .get::<Arc<BTreeMap<String, i64>>>("npm-times", &key)
    {
        return Ok(t);
    }
    let body = entry.bytes().await.map_err(Failure::internal)?;
    let times = tokio::task::spawn_blocking(move || {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(default)]
            time: Map<String, Value>,
        }
        let doc: Doc = serde_json::from_slice(&body).unwrap_or(Doc { time: Map::new() });
        doc.time
            .iter()
            .filter_map(|(v, t)| Some((v.clone(), parse_time(t.as_str()?)?)))
            .collect::<BTreeMap<String, i64>>()
    })
    .await
    .map_err(Failure::internal)?;
    let times = Arc::new(times);
    let weight = times.len() * 48;
    repo.services
        .memos
        .insert("npm-times", key, times.clone(), weight);
    Ok(times)
}

/// The `timestamp` (Unix seconds) of every record in a conda repodata body read with `read`
/// (which undoes its compression), by file name, memoized by the body's digest.
pub async fn conda_times<R>(repo: &Repository, entry: &Entry, read: R) -> Arc<BTreeMap<String, i64>>
where
    R: FnOnce(&Entry) -> Option<Box<dyn std::io::Read + Send>> + Send + 'static,
{
    let key = entry.meta.digests.sha256.clone();
    if let Some(t) = repo
        .services
        .memos
        .get::<Arc<BTreeMap<String, i64>>>("conda-times", &key)
    {
        return t;
    }
    let e = entry.clone();
    let times = tokio::task::spawn_blocking(move || {
        #[derive(serde::Deserialize)]
        struct Record {
            #[serde(default)]
            timestamp: Option<i64>,
        }
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(default)]
            packages: BTreeMap<String, Record>,
            #[serde(default, rename = "packages.conda")]
            conda: BTreeMap<String, Record>,
        }
        let doc: Option<Doc> = read(&e).and_then(|r| serde_json::from_reader(r).ok());
        doc.map(|d| {
            d.packages
                .into_iter()
                .chain(d.conda)
                .filter_map(|(f, r)| Some((f, super::documents::conda_seconds(r.timestamp?))))
                .collect::<BTreeMap<String, i64>>()
        })
        .unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    let times = Arc::new(times);
    let weight = times.len() * 64;
    repo.services
        .memos
        .insert("conda-times", key, times.clone(), weight);
    times
}
