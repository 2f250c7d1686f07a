//! What repox knows about a cached body: size, type, digests, where it came from and the
//! upstream's validators for revalidation.

use std::borrow::Cow;
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
    /// How the body was checked before it was committed.
    #[serde(default)]
    pub verification: Verification,
    /// Ecosystem-specific data (e.g. the per-upstream sources of merged Maven metadata).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// How an entry's body was checked before it was committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// Against a SHA-1 the upstream published (Maven `.sha1` / `X-Checksum-SHA1`, npm `shasum`).
    Sha1,
    /// Against a SHA-256 an index listed (PyPI, conda repodata, content-addressed shards).
    Sha256,
    /// Against a SHA-512 (an npm `integrity`, a PyPI `sha512=` link).
    Sha512,
    /// Against the `cksum` of the cargo index.
    Cksum,
    /// Only its declared length (or complete HTTP framing) was checked: the resource has no
    /// digest anywhere (index pages, metadata).
    Length,
    /// The upstream publishes no digest for it (e.g. Maven `.sha1` answered 404); complete by
    /// length only.
    Unavailable,
    /// Written by repox itself (merged metadata, rewritten documents, a kept checksum file).
    Derived,
    /// Written by a repox version that did not record it.
    #[default]
    Unknown,
}

impl Verification {
    /// True when a digest published upstream was checked.
    pub fn is_digest(self) -> bool {
        matches!(
            self,
            Verification::Sha1 | Verification::Sha256 | Verification::Sha512 | Verification::Cksum
        )
    }

    /// The lowercase name stored in metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Sha1 => "sha1",
            Verification::Sha256 => "sha256",
            Verification::Sha512 => "sha512",
            Verification::Cksum => "cksum",
            Verification::Length => "length",
            Verification::Unavailable => "unavailable",
            Verification::Derived => "derived",
            Verification::Unknown => "unknown",
        }
    }
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
        let sha256 = &self.digests.sha256;
        // `get`: a digest read from a damaged sidecar may not split at 32 bytes.
        let digits = sha256.get(..32).unwrap_or(sha256);
        let mut etag = String::with_capacity(digits.len() + 2);
        etag.push('"');
        etag.push_str(digits);
        etag.push('"');
        etag
    }

    /// The Last-Modified repox serves: the upstream's (borrowed: every hit asks), else the
    /// fetch time.
    pub fn last_modified(&self) -> Cow<'_, str> {
        match &self.upstream_last_modified {
            Some(upstream) => Cow::Borrowed(upstream),
            None => Cow::Owned(httpdate::fmt_http_date(
                UNIX_EPOCH + Duration::from_secs(self.fetched_at),
            )),
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_older_versions_read_as_unknown() {
        let old = r#"{"len":3,"digests":{"sha256":"ab"},"fetched_at":1}"#;
        let meta: Meta = serde_json::from_str(old).unwrap();
        assert_eq!(meta.verification, Verification::Unknown);
        let mut new = meta.clone();
        new.verification = Verification::Cksum;
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.contains(r#""verification":"cksum""#), "{text}");
        assert_eq!(serde_json::from_str::<Meta>(&text).unwrap(), new);
    }
}
