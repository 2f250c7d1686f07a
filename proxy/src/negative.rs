//! The negative cache: which upstream lacked which path, and until when.
//!
//! Repox remembers every upstream 404 per (key, upstream) so that later GETs skip upstreams known
//! to lack a file, and answer 404 at once when all of them do. Unlike the original Repox the
//! memory survives a restart: each fact is appended as a JSON line to
//! `<cache_dir>/negative-v1.jsonl`, which is read back (expired lines dropped) and compacted at
//! start-up.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::now_secs;

#[derive(Serialize, Deserialize)]
struct Line {
    /// Cache key.
    k: String,
    /// Upstream name.
    u: String,
    /// Expiry, seconds since the epoch.
    e: u64,
}

/// Persistent (key, upstream) → expiry map.
#[derive(Debug)]
pub struct NegativeCache {
    map: Mutex<HashMap<String, Vec<(String, u64)>>>,
    log: Mutex<Option<File>>,
    path: PathBuf,
}

impl NegativeCache {
    /// Loads the log under `cache_dir`, dropping expired facts, and rewrites it compacted.
    pub fn open(cache_dir: &Path) -> io::Result<NegativeCache> {
        let path = cache_dir.join("negative-v1.jsonl");
        let now = now_secs();
        let mut map: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(Line { k, u, e }) = serde_json::from_str(&line?) else {
                    continue;
                };
                if e > now {
                    let ups = map.entry(k).or_default();
                    ups.retain(|(name, _)| *name != u);
                    ups.push((u, e));
                }
            }
        }
        let compact = path.with_extension("jsonl.tmp");
        {
            let mut out = io::BufWriter::new(File::create(&compact)?);
            for (k, ups) in &map {
                for (u, e) in ups {
                    serde_json::to_writer(
                        &mut out,
                        &Line {
                            k: k.clone(),
                            u: u.clone(),
                            e: *e,
                        },
                    )?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
        }
        std::fs::rename(&compact, &path)?;
        let log = OpenOptions::new().append(true).open(&path)?;
        Ok(NegativeCache {
            map: Mutex::new(map),
            log: Mutex::new(Some(log)),
            path,
        })
    }

    /// A cache that forgets everything at exit (for tests and tools).
    pub fn in_memory() -> NegativeCache {
        NegativeCache {
            map: Mutex::default(),
            log: Mutex::new(None),
            path: PathBuf::new(),
        }
    }

    /// True when `upstream` is known to lack `key`.
    pub fn lacks(&self, key: &str, upstream: &str) -> bool {
        let now = now_secs();
        let map = self.map.lock().expect("negative cache lock");
        map.get(key)
            .is_some_and(|ups| ups.iter().any(|(u, e)| u == upstream && *e > now))
    }

    /// Remembers that `upstream` lacks `key` for `ttl_secs`.
    pub fn insert(&self, key: &str, upstream: &str, ttl_secs: u64) {
        let e = now_secs() + ttl_secs;
        {
            let mut map = self.map.lock().expect("negative cache lock");
            let ups = map.entry(key.to_owned()).or_default();
            ups.retain(|(u, exp)| u != upstream && *exp > e.saturating_sub(ttl_secs));
            ups.push((upstream.to_owned(), e));
        }
        let mut log = self.log.lock().expect("negative log lock");
        if let Some(file) = log.as_mut() {
            let mut line = serde_json::to_vec(&Line {
                k: key.to_owned(),
                u: upstream.to_owned(),
                e,
            })
            .expect("json");
            line.push(b'\n');
            if let Err(err) = file.write_all(&line) {
                tracing::warn!(path = %self.path.display(), "cannot record a negative-cache entry: {err}");
            }
        }
    }

    /// Forgets what is known about `key` (e.g. after a successful fetch).
    pub fn forget(&self, key: &str) {
        self.map.lock().expect("negative cache lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        {
            let neg = NegativeCache::open(dir.path()).unwrap();
            neg.insert("maven/a.jar", "central", 3600);
            neg.insert("maven/b.jar", "central", 0);
            assert!(neg.lacks("maven/a.jar", "central"));
            assert!(!neg.lacks("maven/a.jar", "google"));
        }
        let neg = NegativeCache::open(dir.path()).unwrap();
        assert!(neg.lacks("maven/a.jar", "central"));
        assert!(!neg.lacks("maven/b.jar", "central"));
    }
}
