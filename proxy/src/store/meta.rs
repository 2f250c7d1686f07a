//! What repox knows about a cached body: size, type, digests, where it came from and the
//! upstream's validators for revalidation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Sidecar metadata of an entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Body length in bytes.
    pub len: u64,
    /// Content-Type to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Digests of the body.
    pub digests: Digests,
    /// Name of the upstream it came from (empty for entries repox made itself).
    #[serde(default)]
    pub upstream: String,
    /// The URL it was fetched from.
    #[serde(default)]
    pub url: String,
    /// The upstream's ETag, for conditional revalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_etag: Option<String>,
    /// The upstream's Last-Modified, for conditional revalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_last_modified: Option<String>,
    /// Seconds since the epoch when the body was fetched; served as Last-Modified when the
    /// upstream gave none.
    pub fetched_at: u64,
    /// Ecosystem-specific data (e.g. the per-upstream sources of merged Maven metadata).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// Hex digests computed while streaming.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Digests {
    /// SHA-256, always computed; the ETag derives from it.
    pub sha256: String,
    /// SHA-1 (Maven checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// MD5 (Maven checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-512 (npm integrity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

impl Meta {
    /// The strong ETag repox serves for this body.
    pub fn etag(&self) -> String {
        format!(
            "\"{}\"",
            &self.digests.sha256[..self.digests.sha256.len().min(32)]
        )
    }

    /// The Last-Modified repox serves: the upstream's, else the fetch time.
    pub fn last_modified(&self) -> String {
        self.upstream_last_modified.clone().unwrap_or_else(|| {
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.fetched_at))
        })
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
