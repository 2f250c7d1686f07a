//! The negative cache: which upstream lacked which path, and until when.
//!
//! Repox remembers every upstream 404 per (key, upstream) so that later GETs skip upstreams known
//! to lack a file, and answer 404 at once when all of them do. Unlike the original Repox the
//! memory survives a restart: each fact is appended as a JSON line to
//! `<cache_dir>/negative-v1.jsonl` and read back at start-up; when most of the log has expired
//! it is compacted (at start-up, and by a running server as it grows). A later line for the same
//! (key, upstream) replaces an earlier one, an expired line included: that is how a fact is
//! withdrawn for good (an upstream whose URL changed).
//!
//! The log is only a cache, so it must never stop the server: any bytes are tolerated (invalid
//! UTF-8, a line torn by a full disk or a crash, garbage: skipped, counted, one warning naming
//! the file), it is compacted only when most of it is dead, in place when a temporary copy does
//! not fit, and every failure to read, compact or append is a warning after which the facts are
//! kept in memory only.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::now_secs;

/// The log is compacted at start-up when it holds at least this many lines...
const COMPACT_MIN_LINES: usize = 1024;
/// ...and at most this share of them are live facts (the rest expired, superseded or garbage).
const COMPACT_LIVE_SHARE: f64 = 0.5;
/// A log larger than this is not read (it cannot be one the server wrote in a sane lifetime);
/// it is read up to here and compacted.
const MAX_READ: u64 = 256 * 1024 * 1024;

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
    log: Mutex<Log>,
    path: PathBuf,
}

/// The append side of the log.
#[derive(Debug, Default)]
struct Log {
    file: Option<File>,
    /// The file may end inside a line (torn write): start the next line with a newline.
    torn: bool,
    /// A failed append was already reported.
    warned: bool,
    /// Lines in the file (as far as this process knows).
    lines: usize,
    /// At this many lines a running server checks whether the log is worth compacting.
    next_check: usize,
}

/// When to look at the log again after it holds `lines` lines.
fn next_check(lines: usize) -> usize {
    lines.saturating_mul(2).max(COMPACT_MIN_LINES)
}

/// What reading the log found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// Lines read, including bad ones.
    lines: usize,
    /// Lines that are not a fact (invalid UTF-8, bad JSON, torn).
    bad: usize,
    /// The file does not end with a newline.
    torn_tail: bool,
}

/// Parses log bytes into live facts (expiring after `now`), tolerating anything.
fn scan(bytes: &[u8], now: u64, map: &mut HashMap<String, Vec<(String, u64)>>) -> Scan {
    let mut found = Scan {
        torn_tail: !bytes.is_empty() && !bytes.ends_with(b"\n"),
        ..Scan::default()
    };
    for raw in bytes.split(|&b| b == b'\n') {
        if raw.is_empty() {
            continue;
        }
        found.lines += 1;
        let Ok(Line { k, u, e }) = serde_json::from_slice::<Line>(raw) else {
            found.bad += 1;
            continue;
        };
        // A later line replaces an earlier one of the same pair even when it has expired: an
        // expired line is how a fact is withdrawn (`forget_upstream`).
        let ups = map.entry(k).or_default();
        ups.retain(|(name, _)| *name != u);
        if e > now {
            ups.push((u, e));
        }
    }
    map.retain(|_, ups| !ups.is_empty());
    found
}

/// The live facts as log text.
fn render(map: &HashMap<String, Vec<(String, u64)>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, ups) in map {
        for (u, e) in ups {
            let line = Line {
                k: k.clone(),
                u: u.clone(),
                e: *e,
            };
            // Serializing a struct of strings and an integer into a Vec cannot fail.
            if serde_json::to_writer(&mut out, &line).is_ok() {
                out.push(b'\n');
            }
        }
    }
    out
}

/// Replaces the log with `text`: a temporary file and a rename when it fits, else in place
/// (overwrite from the start, then truncate), which needs no free space because the compacted
/// log is never longer than the old one. A crash during the in-place write leaves a log with
/// some garbage lines, which the next start skips.
fn compact(path: &Path, text: &[u8]) -> io::Result<()> {
    let via_temp = || -> io::Result<()> {
        let tmp = path.with_extension("jsonl.tmp");
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    };
    match via_temp() {
        Ok(()) => Ok(()),
        Err(temp_err) => {
            let mut file = OpenOptions::new().write(true).open(path)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text)?;
            file.set_len(text.len() as u64)?;
            file.sync_all().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{e} (after a temporary copy failed: {temp_err})"),
                )
            })
        }
    }
}

impl NegativeCache {
    /// Loads the log under `cache_dir`, dropping expired facts, and compacts it when most of it
    /// is dead. Never fails: a log that cannot be read, compacted or opened for appending is
    /// reported with a warning naming it, and the facts are then kept in memory only.
    pub fn open(cache_dir: &Path) -> NegativeCache {
        let path = cache_dir.join("negative-v1.jsonl");
        let now = now_secs();
        let mut map = HashMap::new();
        let mut bytes = Vec::new();
        let read = File::open(&path).and_then(|f| f.take(MAX_READ).read_to_end(&mut bytes));
        let found = match read {
            Ok(_) => scan(&bytes, now, &mut map),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Scan::default(),
            Err(e) => {
                tracing::warn!(
                    "cannot read the negative-cache log `{}`: {e}; starting with what could be read",
                    path.display()
                );
                scan(&bytes, now, &mut map)
            }
        };
        let too_big = bytes.len() as u64 >= MAX_READ;
        drop(bytes);
        if found.bad > 0 {
            tracing::warn!(
                "negative-cache log `{}`: skipped {} of {} lines that are not valid entries (torn by a crash or a full disk?)",
                path.display(),
                found.bad,
                found.lines
            );
        }
        let live: usize = map.values().map(Vec::len).sum();
        let dead = found.lines.saturating_sub(live);
        let worth = found.lines >= COMPACT_MIN_LINES
            && (live as f64) <= (found.lines as f64) * COMPACT_LIVE_SHARE;
        let mut torn = found.torn_tail;
        let mut lines = found.lines;
        if (worth || too_big || found.bad > 0) && dead > 0 {
            match compact(&path, &render(&map)) {
                Ok(()) => {
                    torn = false;
                    lines = live;
                    tracing::debug!(path = %path.display(), live, dead, "compacted the negative-cache log");
                }
                Err(e) => tracing::warn!(
                    "cannot compact the negative-cache log `{}`: {e}; it is kept as it is",
                    path.display()
                ),
            }
        }
        let file = match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!(
                    "cannot open the negative-cache log `{}` for appending: {e}; upstream 404s are remembered until the server stops",
                    path.display()
                );
                None
            }
        };
        NegativeCache {
            map: Mutex::new(map),
            log: Mutex::new(Log {
                file,
                torn,
                warned: false,
                lines,
                next_check: next_check(lines),
            }),
            path,
        }
    }

    /// A cache that forgets everything at exit (for tests and tools).
    pub fn in_memory() -> NegativeCache {
        NegativeCache {
            map: Mutex::default(),
            log: Mutex::default(),
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
        let now = now_secs();
        let e = now.saturating_add(ttl_secs);
        {
            let mut map = self.map.lock().expect("negative cache lock");
            let ups = map.entry(key.to_owned()).or_default();
            ups.retain(|(u, exp)| u != upstream && *exp > now);
            ups.push((upstream.to_owned(), e));
        }
        self.append(&[Line {
            k: key.to_owned(),
            u: upstream.to_owned(),
            e,
        }]);
    }

    /// Appends `facts` to the log in one write (nothing when it is not open).
    fn append(&self, facts: &[Line]) {
        let mut log = self.log.lock().expect("negative log lock");
        let log = &mut *log;
        let Some(file) = log.file.as_mut() else {
            return;
        };
        let mut text = Vec::with_capacity(facts.len() * 80);
        if log.torn {
            text.push(b'\n');
        }
        for fact in facts {
            if serde_json::to_writer(&mut text, fact).is_ok() {
                text.push(b'\n');
            }
        }
        match file.write_all(&text) {
            Ok(()) => {
                log.torn = false;
                log.lines = log.lines.saturating_add(facts.len());
                if log.lines >= log.next_check {
                    self.compact_running(log);
                }
                if log.warned {
                    log.warned = false;
                    tracing::info!(path = %self.path.display(), "the negative-cache log is written again");
                }
            }
            Err(err) => {
                // Part of the line may have landed: the next one starts on a line of its own.
                log.torn = true;
                if !log.warned {
                    log.warned = true;
                    tracing::warn!(
                        "cannot append to the negative-cache log `{}`: {err}; upstream 404s are remembered in memory until it can be written again",
                        self.path.display()
                    );
                }
            }
        }
    }

    /// Compacts the log of a running server when most of it is dead, so that it does not grow
    /// with every 404 for as long as the server runs. Called with the log locked.
    fn compact_running(&self, log: &mut Log) {
        let now = now_secs();
        let text = {
            let mut map = self.map.lock().expect("negative cache lock");
            map.retain(|_, ups| {
                ups.retain(|(_, e)| *e > now);
                !ups.is_empty()
            });
            let live: usize = map.values().map(Vec::len).sum();
            if (live as f64) > (log.lines as f64) * COMPACT_LIVE_SHARE {
                log.next_check = next_check(log.lines);
                return;
            }
            render(&map)
        };
        let live = text.iter().filter(|&&b| b == b'\n').count();
        match compact(&self.path, &text).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        }) {
            Ok(file) => {
                log.file = Some(file);
                log.lines = live;
                log.torn = false;
            }
            Err(e) => tracing::warn!(
                "cannot compact the negative-cache log `{}`: {e}; it keeps growing",
                self.path.display()
            ),
        }
        log.next_check = next_check(log.lines);
    }

    /// The live facts whose key starts with `prefix`: `(key, upstream, expiry in Unix seconds)`,
    /// in key order, at most `limit`.
    pub fn entries(&self, prefix: &str, limit: usize) -> Vec<(String, String, u64)> {
        let now = now_secs();
        let map = self.map.lock().expect("negative cache lock");
        let mut out: Vec<(String, String, u64)> = map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(k, ups)| {
                ups.iter()
                    .filter(|(_, e)| *e > now)
                    .map(|(u, e)| (k.clone(), u.clone(), *e))
            })
            .collect();
        out.sort();
        out.truncate(limit);
        out
    }

    /// Live facts per upstream name whose key starts with `prefix`.
    pub fn count_by_upstream(&self, prefix: &str) -> HashMap<String, u64> {
        let now = now_secs();
        let map = self.map.lock().expect("negative cache lock");
        let mut out = HashMap::new();
        for (_, ups) in map.iter().filter(|(k, _)| k.starts_with(prefix)) {
            for (u, _) in ups.iter().filter(|(_, e)| *e > now) {
                *out.entry(u.clone()).or_default() += 1;
            }
        }
        out
    }

    /// Forgets every fact whose key starts with `prefix` and rewrites the log without them
    /// (atomically, like a compaction), so they stay forgotten after a restart. Returns how many
    /// facts were dropped.
    pub fn clear(&self, prefix: &str) -> usize {
        let mut log = self.log.lock().expect("negative log lock");
        let (dropped, text) = {
            let mut map = self.map.lock().expect("negative cache lock");
            let before: usize = map.values().map(Vec::len).sum();
            map.retain(|k, _| !k.starts_with(prefix));
            let after: usize = map.values().map(Vec::len).sum();
            (before - after, render(&map))
        };
        if dropped == 0 || log.file.is_none() {
            return dropped;
        }
        let live = text.iter().filter(|&&b| b == b'\n').count();
        match compact(&self.path, &text).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        }) {
            Ok(file) => {
                log.file = Some(file);
                log.lines = live;
                log.torn = false;
                log.next_check = next_check(live);
            }
            Err(e) => tracing::warn!(
                "cannot rewrite the negative-cache log `{}`: {e}; the cleared entries come back after a restart",
                self.path.display()
            ),
        }
        dropped
    }

    /// Forgets what `upstream` lacked below the key prefix `prefix` (its URL changed, so its
    /// old 404s say nothing about the new one). Each forgotten fact gets an expired line in the
    /// log, which withdraws the older line when the log is read again, so the forgetting
    /// survives a restart. Returns how many facts were forgotten.
    pub fn forget_upstream(&self, prefix: &str, upstream: &str) -> usize {
        let withdrawn: Vec<Line> = {
            let mut map = self.map.lock().expect("negative cache lock");
            let mut withdrawn = Vec::new();
            map.retain(|k, ups| {
                if k.starts_with(prefix) && ups.iter().any(|(u, _)| u == upstream) {
                    ups.retain(|(u, _)| u != upstream);
                    withdrawn.push(Line {
                        k: k.clone(),
                        u: upstream.to_owned(),
                        e: 0,
                    });
                }
                !ups.is_empty()
            });
            withdrawn
        };
        if !withdrawn.is_empty() {
            self.append(&withdrawn);
        }
        withdrawn.len()
    }

    /// Forgets what is known about `key` (e.g. after a successful fetch).
    pub fn forget(&self, key: &str) {
        self.map.lock().expect("negative cache lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(dir: &Path) -> PathBuf {
        dir.join("negative-v1.jsonl")
    }

    #[test]
    fn cleared_entries_stay_cleared_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let neg = NegativeCache::open(dir.path());
            neg.insert("maven/a.jar", "central", 3600);
            neg.insert("maven/b.jar", "central", 3600);
            neg.insert("npm/x", "npmjs", 3600);
            assert_eq!(neg.entries("maven/", 10).len(), 2);
            assert_eq!(neg.count_by_upstream("maven/")["central"], 2);
            assert_eq!(neg.clear("maven/a"), 1);
            neg.insert("maven/c.jar", "central", 3600);
        }
        let neg = NegativeCache::open(dir.path());
        assert!(!neg.lacks("maven/a.jar", "central"));
        assert!(neg.lacks("maven/b.jar", "central"));
        assert!(neg.lacks("maven/c.jar", "central"));
        assert_eq!(
            neg.entries("", 10)
                .into_iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            ["maven/b.jar", "maven/c.jar", "npm/x"]
        );
    }

    #[test]
    fn a_forgotten_upstream_stays_forgotten_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let neg = NegativeCache::open(dir.path());
            neg.insert("maven/a.jar", "central", 3600);
            neg.insert("maven/a.jar", "google", 3600);
            neg.insert("maven/b.jar", "central", 3600);
            neg.insert("npm/a", "central", 3600);
            assert_eq!(neg.forget_upstream("maven/", "central"), 2);
            assert!(!neg.lacks("maven/a.jar", "central"));
            assert!(!neg.lacks("maven/b.jar", "central"));
            // A 404 after the forgetting is a new fact, and is kept.
            neg.insert("maven/b.jar", "central", 3600);
        }
        let neg = NegativeCache::open(dir.path());
        assert!(
            !neg.lacks("maven/a.jar", "central"),
            "the forgotten 404 came back"
        );
        assert!(neg.lacks("maven/b.jar", "central"));
        assert!(
            neg.lacks("maven/a.jar", "google"),
            "another upstream's 404 is kept"
        );
        assert!(neg.lacks("npm/a", "central"), "another prefix is kept");
        assert_eq!(neg.forget_upstream("maven/", "nobody"), 0);
    }

    #[test]
    fn survives_reopen_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        {
            let neg = NegativeCache::open(dir.path());
            neg.insert("maven/a.jar", "central", 3600);
            neg.insert("maven/b.jar", "central", 0);
            assert!(neg.lacks("maven/a.jar", "central"));
            assert!(!neg.lacks("maven/a.jar", "google"));
        }
        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/a.jar", "central"));
        assert!(!neg.lacks("maven/b.jar", "central"));
    }

    #[test]
    fn any_bytes_are_skipped_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_secs() + 3600;
        let mut text = Vec::new();
        text.extend_from_slice(b"\xff\xfe not utf-8 \xc3\n");
        text.extend_from_slice(
            format!("{{\"k\":\"maven/a.jar\",\"u\":\"central\",\"e\":{far}}}\n").as_bytes(),
        );
        text.extend_from_slice(b"garbage\n{\"k\":1}\n\n");
        // A line torn inside a two-byte UTF-8 character, as a full disk leaves it.
        text.extend_from_slice("{\"k\":\"maven/é".as_bytes().split_last().unwrap().1);
        std::fs::write(log_of(dir.path()), &text).unwrap();

        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/a.jar", "central"));
        // The torn tail does not swallow the next fact.
        neg.insert("maven/b.jar", "central", 3600);
        drop(neg);
        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/a.jar", "central"));
        assert!(neg.lacks("maven/b.jar", "central"));
    }

    #[test]
    fn after_a_torn_append_the_next_fact_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let neg = NegativeCache::open(dir.path());
        // What a write cut short by a full disk leaves behind.
        {
            let mut log = neg.log.lock().unwrap();
            log.file
                .as_mut()
                .unwrap()
                .write_all(b"{\"k\":\"maven/\xc3")
                .unwrap();
            log.torn = true;
        }
        neg.insert("maven/b.jar", "central", 3600);
        drop(neg);
        let text = std::fs::read(log_of(dir.path())).unwrap();
        assert!(text.starts_with(b"{\"k\":\"maven/\xc3\n{"), "{text:?}");
        assert!(NegativeCache::open(dir.path()).lacks("maven/b.jar", "central"));
    }

    #[test]
    fn scan_counts_bad_lines_and_a_torn_tail() {
        let mut map = HashMap::new();
        let found = scan(
            b"{\"k\":\"a\",\"u\":\"c\",\"e\":9}\n\xff\n{\"k\":",
            1,
            &mut map,
        );
        assert_eq!(
            found,
            Scan {
                lines: 3,
                bad: 2,
                torn_tail: true
            }
        );
        assert_eq!(map["a"], vec![("c".to_owned(), 9)]);
    }

    #[test]
    fn a_mostly_live_log_is_not_rewritten_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        {
            let neg = NegativeCache::open(dir.path());
            neg.insert("maven/a.jar", "central", 3600);
        }
        let before = std::fs::metadata(log_of(dir.path())).unwrap();
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&before);
        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/a.jar", "central"));
        let after = std::fs::metadata(log_of(dir.path())).unwrap();
        assert_eq!(after.len(), before.len());
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&after), ino);
    }

    #[test]
    fn a_mostly_dead_log_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_secs() + 3600;
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!(
                "{{\"k\":\"maven/{i}.jar\",\"u\":\"central\",\"e\":1}}\n"
            ));
        }
        text.push_str(&format!(
            "{{\"k\":\"maven/live.jar\",\"u\":\"central\",\"e\":{far}}}\n"
        ));
        std::fs::write(log_of(dir.path()), &text).unwrap();
        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/live.jar", "central"));
        let left = std::fs::read_to_string(log_of(dir.path())).unwrap();
        assert_eq!(left.lines().count(), 1, "{left}");
    }

    #[test]
    fn a_running_server_compacts_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let neg = NegativeCache::open(dir.path());
        neg.insert("maven/live.jar", "central", 3600);
        for i in 0..3000 {
            // Expired as soon as written.
            neg.insert(&format!("maven/{i}.jar"), "central", 0);
        }
        neg.insert("maven/last.jar", "central", 3600);
        let lines = std::fs::read_to_string(log_of(dir.path()))
            .unwrap()
            .lines()
            .count();
        assert!(lines < COMPACT_MIN_LINES, "{lines} lines");
        drop(neg);
        let neg = NegativeCache::open(dir.path());
        assert!(neg.lacks("maven/live.jar", "central"));
        assert!(neg.lacks("maven/last.jar", "central"));
    }

    #[test]
    fn in_place_compaction_needs_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_of(dir.path());
        std::fs::write(&path, "0123456789\nabcdef\n").unwrap();
        // A directory where the temporary copy would go makes the rename path fail.
        std::fs::create_dir(path.with_extension("jsonl.tmp")).unwrap();
        compact(&path, b"xyz\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"xyz\n");
    }

    #[test]
    fn an_unreadable_log_is_a_warning_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the log should be: it can be neither read nor appended to.
        std::fs::create_dir(log_of(dir.path())).unwrap();
        let neg = NegativeCache::open(dir.path());
        neg.insert("maven/a.jar", "central", 3600);
        assert!(neg.lacks("maven/a.jar", "central"));
    }
}
