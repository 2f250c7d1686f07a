//! A channel's mutable files: repodata in every variant, the shard index, `channeldata.json`,
//! `run_exports.json` and the like. They are revalidated upstream after `index_ttl`, served
//! stale when every upstream fails, and always answered from the complete entry, so a HEAD
//! gets exactly the status, length and validators a GET would (rattler remembers a failed HEAD
//! on `repodata.json.zst` for 14 days and then downloads the plain JSON, 5–10 times larger).
//!
//! Bytes pass through untouched unless the index carries an absolute URL under an upstream's
//! base (`base_url.rs`); then the copy served points at repox, is recompressed like the
//! original, and is stored per file and origin until the upstream body changes.

use std::io::Read;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};

use super::base_url::{self, SHARD_INDEX_URLS};
use super::channel::{Compression, FileKind};
use super::codec;
use crate::error::Failure;
use crate::origin::request_origin;
use crate::repository::{Outcome, Repository, Resource, tagged};
use crate::respond;
use crate::store::Entry;

/// An absolute URL found in an index: which field, its value, and for JSON its byte range.
#[derive(Debug, Clone)]
struct Absolute {
    field: &'static str,
    value: String,
    span: Option<(usize, usize)>,
}

/// Rewritten copies of one file kept on disk at most (one per origin slot).
const REWRITTEN_SLOTS: u8 = 4;

/// Serves a mutable channel file.
pub(super) async fn serve(
    repo: &Arc<Repository>,
    method: &Method,
    req: &HeaderMap,
    uri: &Uri,
    res: &Resource,
    kind: FileKind,
) -> Response {
    let (entry, cache) = match repo.entry(res).await {
        Ok(found) => found,
        Err(e) => return tagged(e.into_response(), Outcome::Miss, None),
    };
    let upstream = Some(entry.meta.upstream.clone());
    let presentation = repo.presentation(res, entry.meta.fetched_at);
    let rewritten = match kind {
        FileKind::Repodata(_) | FileKind::ShardIndex => {
            rewritten(repo, res, &entry, kind, &request_origin(req, uri)).await
        }
        _ => Ok(None),
    };
    let policy = crate::policy::current(repo);
    let rewritten = match (rewritten, kind) {
        (Ok(found), FileKind::Repodata(compression)) if policy.is_active() => {
            let source = found.unwrap_or_else(|| entry.clone());
            let filter = move |p: &crate::policy::Policy, body: &[u8], up: &str, now| {
                let raw = Entry::from_bytes(bytes::Bytes::copy_from_slice(body), "", None, 0);
                let mut plain = Vec::new();
                codec::decoded(&raw, compression)
                    .ok()?
                    .read_to_end(&mut plain)
                    .ok()?;
                let mut f = crate::policy::documents::conda_repodata(p, &plain, up, now).ok()??;
                f.body = codec::encode(&f.body, compression).ok()?.into();
                Some(f)
            };
            let name = res.path.as_str();
            crate::policy::filter::entry(repo, &policy, "conda-policy", name, source, filter)
                .await
                .map(Some)
        }
        (other, _) => other,
    };
    let resp = match rewritten {
        Ok(Some(rewritten)) => {
            let mut resp = respond::entry_response(method, req, &rewritten, presentation);
            respond::vary_on_origin(resp.headers_mut());
            resp
        }
        Ok(None) => respond::entry_response(method, req, &entry, presentation),
        Err(e) => e.into_response(),
    };
    tagged(resp, cache, upstream)
}

/// The 403 for a package `policy` refuses, judged by its name and version and the `timestamp`
/// of its record in the subdir's cached repodata.
pub(super) async fn refused(
    repo: &Repository,
    policy: &crate::policy::Policy,
    cp: &super::channel::ChannelPath<'_>,
) -> Option<Response> {
    let stem = cp
        .file
        .strip_suffix(".conda")
        .or_else(|| cp.file.strip_suffix(".tar.bz2"))?;
    let mut parts = stem.rsplitn(3, '-');
    let (_build, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    let mut published = None;
    let mut upstream = None;
    if policy.uses_time() {
        let dir_key = cp.key(repo).rsplit_once('/')?.0.to_owned();
        for (file, compression) in [
            ("repodata.json.zst", super::channel::Compression::Zstd),
            ("repodata.json", super::channel::Compression::None),
            ("repodata.json.bz2", super::channel::Compression::Bzip2),
        ] {
            let Ok(Some(entry)) = repo.services.store.get(&format!("{dir_key}/{file}")).await
            else {
                continue;
            };
            upstream = Some(entry.meta.upstream.clone());
            let read = move |e: &Entry| -> Option<Box<dyn Read + Send>> {
                Some(codec::decoded(e, compression).ok()?)
            };
            let times = crate::policy::filter::conda_times(repo, &entry, read).await;
            if let Some(t) = times.get(cp.file) {
                published = Some(*t);
                break;
            }
        }
    }
    let verdict = policy.judge(
        name,
        version,
        published,
        upstream.as_deref(),
        crate::policy::now(),
    );
    (!verdict.allows()).then(|| crate::policy::refuse(repo, name, version, &verdict))
}

/// The copy to serve instead of `entry`, when it carries absolute URLs repox can map.
async fn rewritten(
    repo: &Repository,
    res: &Resource,
    entry: &Entry,
    kind: FileKind,
    origin: &str,
) -> Result<Option<Entry>, Failure> {
    let digest = entry.meta.digests.sha256.clone();
    let (absolute, first_look) = match repo
        .services
        .memos
        .get::<Arc<Vec<Absolute>>>("conda-inspected", &digest)
    {
        Some(found) => (found, false),
        None => {
            let e = entry.clone();
            let found = tokio::task::spawn_blocking(move || inspect(&e, kind))
                .await
                .map_err(Failure::internal)?;
            let found = Arc::new(found);
            repo.services
                .memos
                .insert("conda-inspected", digest.clone(), found.clone(), 64);
            (found, true)
        }
    };
    let replacements: Vec<(Absolute, String)> = absolute
        .iter()
        .filter_map(|a| {
            let mapped = super::to_repox(repo, &a.value, origin);
            if mapped.is_none() && first_look {
                tracing::warn!(
                    url = %a.value,
                    "conda: `{}` of {} points outside every upstream; clients will fetch from there directly",
                    a.field,
                    entry.meta.url
                );
            }
            Some((a.clone(), mapped?))
        })
        .collect();
    if replacements.is_empty() {
        return Ok(None);
    }
    // Rewritten copies can be hundreds of megabytes: they are stored under `~rewritten/` (no
    // channel starts with `~`, so no request path reaches them), in one of a few slots per file
    // chosen by the origin. Any number of `Host` values thus costs at most
    // `REWRITTEN_SLOTS` copies of a file on disk; two origins sharing a slot take turns.
    let below = res
        .key
        .strip_prefix(&format!("{}/", repo.name))
        .unwrap_or(&res.key);
    let slot = Sha256::digest(origin.as_bytes())[0] % REWRITTEN_SLOTS;
    let key = format!("{}/~rewritten/{slot}/{below}", repo.name);
    let current = |e: &Entry| {
        e.meta.extra.get("source").and_then(|s| s.as_str()) == Some(&digest)
            && e.meta.extra.get("origin").and_then(|s| s.as_str()) == Some(origin)
    };
    repo.coalesce(&format!("conda-rewritten/{key}"), async {
        if let Ok(Some(done)) = repo.services.store.get(&key).await
            && current(&done)
        {
            return Ok(Some(done));
        }
        let e = entry.clone();
        let body = tokio::task::spawn_blocking(move || rewrite(&e, kind, &replacements))
            .await
            .map_err(Failure::internal)?
            .map_err(|why| {
                Failure::Internal(format!("cannot rewrite {}: {why}", entry.meta.url))
            })?;
        let done = repo
            .store_bytes_with(
                &key,
                body.into(),
                entry.meta.content_type.as_deref(),
                &entry.meta.upstream,
                &entry.meta.url,
                serde_json::json!({ "source": digest, "origin": origin }),
            )
            .await
            .map_err(Failure::internal)?;
        Ok(Some(done))
    })
    .await
}

fn compression(kind: FileKind) -> Compression {
    match kind {
        FileKind::Repodata(c) => c,
        _ => Compression::Zstd,
    }
}

/// The absolute URLs in an index (none when it cannot be read).
fn inspect(entry: &Entry, kind: FileKind) -> Vec<Absolute> {
    let absolute = |field: &'static str, value: &str, span| {
        base_url::is_absolute(value).then(|| Absolute {
            field,
            value: value.to_owned(),
            span,
        })
    };
    match kind {
        FileKind::Repodata(c) => codec::decoded(entry, c)
            .and_then(base_url::locate)
            .ok()
            .flatten()
            .and_then(|found| absolute("base_url", &found.value, Some(found.span)))
            .into_iter()
            .collect(),
        _ => {
            let Some(doc) = decode_msgpack(entry) else {
                return Vec::new();
            };
            SHARD_INDEX_URLS
                .iter()
                .filter_map(|field| absolute(field, base_url::msgpack_info(&doc, field)?, None))
                .collect()
        }
    }
}

/// A zstd-compressed msgpack document (shard index, shard).
pub(super) fn decode_msgpack(entry: &Entry) -> Option<rmpv::Value> {
    let mut reader = codec::decoded(entry, Compression::Zstd).ok()?;
    rmpv::decode::read_value(&mut reader).ok()
}

fn rewrite(
    entry: &Entry,
    kind: FileKind,
    replacements: &[(Absolute, String)],
) -> Result<Vec<u8>, String> {
    let c = compression(kind);
    let mut plain = Vec::new();
    codec::decoded(entry, c)
        .and_then(|mut r| r.read_to_end(&mut plain))
        .map_err(|e| e.to_string())?;
    let out = match kind {
        FileKind::Repodata(_) => {
            let [(found, new)] = replacements else {
                return Err("expected one base_url".into());
            };
            let span = found.span.ok_or("no position")?;
            base_url::splice(&plain, span, new)
        }
        _ => {
            let mut doc =
                rmpv::decode::read_value(&mut plain.as_slice()).map_err(|e| e.to_string())?;
            for (found, new) in replacements {
                base_url::set_msgpack_info(&mut doc, found.field, new);
            }
            let mut out = Vec::new();
            rmpv::encode::write_value(&mut out, &doc).map_err(|e| e.to_string())?;
            out
        }
    };
    codec::encode(&out, c).map_err(|e| e.to_string())
}
