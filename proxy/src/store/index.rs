//! The entry index: per cached entry its key, size on disk, last access and whether it is a
//! mutable index document, plus running totals per repository, so the cache size is known at
//! start-up without a walk and eviction picks the least recently used entry in O(log n).
//!
//! It is a SQLite database (`<cache_dir>/index-v1.sqlite`, WAL mode, through `rusqlite` with the
//! bundled library). SQLite was chosen over an append-only log or `redb`/`sled` because several
//! processes share a cache directory (a running server and `repox cache rm`/`gc` from the CLI):
//! SQLite's file locking lets both read and write it safely, and the totals are kept by triggers
//! in the same transaction as the entry rows, so they cannot drift whoever writes. Opening it is
//! one read of the totals table, whatever the number of entries.
//!
//! Writes: a commit or removal is one small transaction (no fsync in WAL with
//! `synchronous=NORMAL`). Accesses are only noted in memory ([`Index::touch`]) and written in
//! one transaction by [`Index::flush`], which the server calls about once a minute, so a hit
//! costs a map update and an entry gets at most one access record per flush.
//!
//! A cache directory from a version without the index is indexed once by a background walk
//! (`walk.rs`); the `walked` state row records that it finished, so it never runs again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::meta::{Meta, Verification};

/// The index file under a cache directory.
pub const FILE_NAME: &str = "index-v1.sqlite";

/// Accesses noted in memory between flushes; past this, new keys wait for the next flush.
const MAX_PENDING: usize = 200_000;
/// The noted accesses are split over this many maps by key, each with its own lock: a map
/// that grows rehashes what it holds under its lock, and one map of 100,000 keys took the hits
/// of both worker threads waiting milliseconds for that.
const PENDING_SHARDS: usize = 16;
/// Access updates per transaction of a flush. The connection is released between them, so a
/// commit waits for one chunk (milliseconds), not for the whole flush (seconds at 200,000).
const FLUSH_CHUNK: usize = 2_000;

// One secondary index, `(mutable, last_access)` (the key follows, as the primary key of a
// `WITHOUT ROWID` table): both kinds of eviction walk it, kind by kind. Every index is one more
// B-tree that each commit, removal and access update rewrites; the `(last_access)` index an
// earlier version had made the walk of 1,000,000 entries and a flush of accesses a third slower
// and is dropped.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_access INTEGER NOT NULL,
    mutable INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_kind_access ON entries (mutable, last_access);
DROP INDEX IF EXISTS entries_by_access;
CREATE TABLE IF NOT EXISTS totals (
    repo TEXT PRIMARY KEY,
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS entries_insert AFTER INSERT ON entries BEGIN
    INSERT INTO totals (repo, entries, bytes) VALUES (new.repo, 1, new.size)
    ON CONFLICT (repo) DO UPDATE SET entries = entries + 1, bytes = bytes + new.size;
END;
CREATE TRIGGER IF NOT EXISTS entries_delete AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - old.size WHERE repo = old.repo;
END;
CREATE TRIGGER IF NOT EXISTS entries_resize AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - old.size + new.size WHERE repo = new.repo;
END;
";

/// The running totals: a read of one row per repository, whatever the number of entries.
const TOTALS: &str = "SELECT COALESCE(SUM(entries), 0), COALESCE(SUM(bytes), 0) FROM totals";
/// Removal of one entry (the trigger updates its repository's totals).
const FORGET: &str = "DELETE FROM entries WHERE key = ?1";
/// One access noted by [`Index::touch`].
const TOUCH: &str = "UPDATE entries SET last_access = ?2 WHERE key = ?1 AND last_access < ?2";
/// A page of the least recently used entries of one kind after a `(last_access, key)` cursor:
/// a seek in `entries_by_kind_access`, then reading on in its order.
const OLDEST: &str = "SELECT key, size, last_access, mutable FROM entries
    WHERE mutable = ?1 AND (last_access, key) > (?2, ?3) ORDER BY last_access, key LIMIT ?4";

/// The index could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("cache index `{}`: {source}", path.display())]
pub struct IndexError {
    /// The database file.
    pub path: PathBuf,
    /// What SQLite said.
    pub source: rusqlite::Error,
}

impl From<IndexError> for std::io::Error {
    fn from(e: IndexError) -> Self {
        std::io::Error::other(e)
    }
}

/// Accesses noted and not yet written: key to milliseconds since the epoch.
type Accesses = HashMap<Box<str>, u64>;

/// One indexed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    /// The store key (`REPO/PATH`).
    pub key: String,
    /// Bytes on disk.
    pub size: u64,
    /// Milliseconds since the epoch of the last access (or commit): fine enough to order a
    /// burst of requests.
    pub last_access: u64,
    /// A mutable index document (only `unused_for` removes it).
    pub mutable: bool,
}

/// Entries and bytes of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUsage {
    /// Repository name (the first key segment).
    pub repo: String,
    /// Number of entries.
    pub entries: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Size and access accounting of one cache directory.
pub struct Index {
    path: PathBuf,
    /// Where the entry files are, for the one-time walk.
    files: Option<PathBuf>,
    conn: Mutex<Connection>,
    /// Accesses not yet written: key to milliseconds since the epoch, in [`PENDING_SHARDS`]
    /// maps chosen by `shard_of`'s hash of the key.
    pending: Box<[Mutex<Accesses>]>,
    shard_of: std::hash::RandomState,
    bytes: AtomicU64,
    entries: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// True for entries that are the mutable documents of an index (pages, metadata, listings):
/// they are never evicted for size, because while an upstream is down they may be the only
/// copy clients can resolve from. Digest-checked and length-less artifacts are immutable.
pub fn is_mutable(key: &str, meta: &Meta) -> bool {
    key.ends_with('/')
        || matches!(
            meta.verification,
            Verification::Length | Verification::Derived
        )
}

/// Milliseconds since the epoch, now: the unit of [`Indexed::last_access`].
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn repo_of(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

impl Index {
    /// Opens (creating) the index of `cache_dir`. A file that is not a readable database is
    /// moved aside (`index-v1.sqlite.broken`) and rebuilt by a walk; a file that cannot be
    /// written (full disk) is replaced by an in-memory index for this run.
    pub fn open(cache_dir: &Path) -> Result<Index, IndexError> {
        let path = cache_dir.join(FILE_NAME);
        let conn = match Self::connect(&path) {
            Ok(conn) => conn,
            Err(e) if is_corrupt(&e) => {
                tracing::warn!(
                    "cache index `{}` is damaged ({e}); rebuilding it",
                    path.display()
                );
                let aside = path.with_extension("sqlite.broken");
                let _ = std::fs::rename(&path, &aside);
                let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
                let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
                Self::connect(&path).map_err(|source| IndexError {
                    path: path.clone(),
                    source,
                })?
            }
            // A full or read-only disk must not keep the server from serving what it has:
            // count in memory (the one-time walk fills it) until a restart finds room.
            Err(e) => {
                tracing::warn!(
                    "cannot use the cache index `{}` ({e}); keeping it in memory for this run",
                    path.display()
                );
                Self::connect(Path::new(":memory:")).map_err(|source| IndexError {
                    path: path.clone(),
                    source,
                })?
            }
        };
        let index = Index {
            path,
            files: None,
            conn: Mutex::new(conn),
            pending: (0..PENDING_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            shard_of: std::hash::RandomState::new(),
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        };
        index.refresh()?;
        Ok(index)
    }

    /// Names the directory of the entry files, which the one-time walk (`walk.rs`) indexes.
    pub fn of_files(mut self, root: PathBuf) -> Index {
        self.files = Some(root);
        self
    }

    /// The directory of the entry files, when the store has one.
    pub fn files(&self) -> Option<&Path> {
        self.files.as_deref()
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A walk or a flush at 1,000,000 entries grows the WAL past 100 MB; a checkpoint then
        // cuts it back to this instead of keeping the file at its largest.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    }

    fn err(&self, source: rusqlite::Error) -> IndexError {
        IndexError {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes on disk of all indexed entries, as of the last write or [`Index::refresh`].
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of indexed entries.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// Entries removed by eviction (`max_size`, `unused_for`) since this process opened it.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    pub(crate) fn count_evictions(&self, n: u64) {
        self.evictions.fetch_add(n, Ordering::Relaxed);
    }

    /// Re-reads the totals (also picks up what other processes, e.g. `repox cache rm`, did).
    pub fn refresh(&self) -> Result<(), IndexError> {
        let conn = self.conn();
        self.reload(&conn).map_err(|e| self.err(e))
    }

    fn reload(&self, conn: &Connection) -> rusqlite::Result<()> {
        let (entries, bytes): (i64, i64) = conn
            .prepare_cached(TOTALS)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        self.entries.store(entries.max(0) as u64, Ordering::Relaxed);
        self.bytes.store(bytes.max(0) as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Records a committed entry of `size` bytes on disk (replacing what the key held).
    pub fn record(&self, key: &str, size: u64, mutable: bool) -> Result<(), IndexError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO entries (key, repo, size, last_access, mutable) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET size = excluded.size,
                 last_access = excluded.last_access, mutable = excluded.mutable",
            params![key, repo_of(key), size as i64, now_millis() as i64, mutable],
        )
        .and_then(|_| self.reload(&conn))
        .map_err(|e| self.err(e))
    }

    /// Forgets a removed entry.
    pub fn forget(&self, key: &str) -> Result<(), IndexError> {
        let conn = self.conn();
        conn.prepare_cached(FORGET)
            .and_then(|mut q| q.execute([key]))
            .and_then(|_| self.reload(&conn))
            .map_err(|e| self.err(e))
    }

    /// Notes an access, in memory only; [`Index::flush`] writes it.
    pub fn touch(&self, key: &str) {
        let now = super::clock::unix_millis();
        let shard = std::hash::BuildHasher::hash_one(&self.shard_of, key) as usize % PENDING_SHARDS;
        let mut pending = self.pending[shard]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(at) = pending.get_mut(key) {
            *at = now;
        } else if pending.len() < MAX_PENDING / PENDING_SHARDS {
            pending.insert(key.into(), now);
        }
    }

    /// Writes the accesses noted since the last flush, in key order (the updates then walk the
    /// table's B-tree instead of jumping around it: 40% faster at 1,000,000 entries), in
    /// transactions of [`FLUSH_CHUNK`].
    pub fn flush(&self) -> Result<(), IndexError> {
        let mut pending: Vec<(Box<str>, u64)> = Vec::new();
        for shard in &self.pending {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
            pending.extend(taken);
        }
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let run = |conn: &mut Connection, chunk: &[(Box<str>, u64)]| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut update = tx.prepare_cached(TOUCH)?;
                for (key, at) in chunk {
                    update.execute(params![&**key, *at as i64])?;
                }
            }
            tx.commit()
        };
        for chunk in pending.chunks(FLUSH_CHUNK) {
            run(&mut self.conn(), chunk).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Inserts entries found by a walk; entries already indexed keep their (newer) records.
    pub fn insert_found(&self, found: &[Indexed]) -> Result<(), IndexError> {
        let mut conn = self.conn();
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO entries (key, repo, size, last_access, mutable)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
                )?;
                for e in found {
                    insert.execute(params![
                        e.key,
                        repo_of(&e.key),
                        e.size as i64,
                        e.last_access as i64,
                        e.mutable
                    ])?;
                }
            }
            tx.commit()?;
            self.reload(conn)
        };
        run(&mut conn).map_err(|e| self.err(e))
    }

    /// A state value (`walked`: the one-time walk finished).
    pub fn state(&self, name: &str) -> Result<Option<String>, IndexError> {
        self.conn()
            .query_row("SELECT value FROM state WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a state value.
    pub fn set_state(&self, name: &str, value: &str) -> Result<(), IndexError> {
        self.conn()
            .execute(
                "INSERT INTO state (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [name, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Entries and bytes per repository.
    pub fn usage(&self) -> Result<Vec<RepoUsage>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<RepoUsage>> {
            let mut q = conn.prepare(
                "SELECT repo, entries, bytes FROM totals WHERE entries > 0 ORDER BY repo",
            )?;
            let rows = q.query_map([], |r| {
                Ok(RepoUsage {
                    repo: r.get(0)?,
                    entries: r.get::<_, i64>(1)?.max(0) as u64,
                    bytes: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Entries whose key starts with `prefix`, in key order, at most `limit`, after `after`.
    pub fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Indexed>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<Indexed>> {
            // `key >= prefix` uses the primary key; the prefix test ends the range.
            let mut q = conn.prepare_cached(
                "SELECT key, size, last_access, mutable FROM entries
                 WHERE key >= ?1 AND key > ?2 ORDER BY key LIMIT ?3",
            )?;
            let mut out = Vec::new();
            let mut rows = q.query(params![prefix, after.unwrap_or(""), limit as i64])?;
            while let Some(r) = rows.next()? {
                let key: String = r.get(0)?;
                if !key.starts_with(prefix) {
                    break;
                }
                out.push(Indexed {
                    key,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    last_access: r.get::<_, i64>(2)?.max(0) as u64,
                    mutable: r.get(3)?,
                });
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    /// The least recently used entries of one kind (mutable index documents or immutable
    /// artifacts) after the cursor `(last_access, key)`, oldest first. A page is one index seek
    /// (O(log n)) and `limit` steps along the index.
    pub fn oldest(
        &self,
        mutable: bool,
        after: Option<(u64, &str)>,
        limit: usize,
    ) -> Result<Vec<Indexed>, IndexError> {
        let conn = self.conn();
        let (at, key) = after.map_or((-1, ""), |(at, key)| (at as i64, key));
        let run = || -> rusqlite::Result<Vec<Indexed>> {
            let mut q = conn.prepare_cached(OLDEST)?;
            let rows = q.query_map(params![mutable, at, key, limit as i64], |r| {
                Ok(Indexed {
                    key: r.get(0)?,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    last_access: r.get::<_, i64>(2)?.max(0) as u64,
                    mutable: r.get(3)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("{e}");
        }
    }
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_records_rewrites_and_removals_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        index.record("maven/a.jar", 100, false).unwrap();
        index.record("pypi/simple/x/", 10, true).unwrap();
        assert_eq!((index.entries(), index.bytes()), (2, 110));
        index.record("maven/a.jar", 40, false).unwrap();
        assert_eq!(
            (index.entries(), index.bytes()),
            (2, 50),
            "a rewrite replaces"
        );
        index.forget("pypi/simple/x/").unwrap();
        index.forget("pypi/never").unwrap();
        assert_eq!((index.entries(), index.bytes()), (1, 40));
        drop(index);
        let index = Index::open(dir.path()).unwrap();
        assert_eq!((index.entries(), index.bytes()), (1, 40), "known at open");
        assert_eq!(
            index.usage().unwrap(),
            vec![RepoUsage {
                repo: "maven".into(),
                entries: 1,
                bytes: 40
            }]
        );
    }

    #[test]
    fn touches_reorder_the_lru_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let found: Vec<Indexed> = ["m/a", "m/b", "m/c"]
            .iter()
            .enumerate()
            .map(|(i, k)| Indexed {
                key: (*k).into(),
                size: 1,
                last_access: 1000 + i as u64,
                mutable: false,
            })
            .collect();
        index.insert_found(&found).unwrap();
        index.touch("m/a");
        let keys = |v: Vec<Indexed>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert_eq!(
            keys(index.oldest(false, None, 10).unwrap()),
            ["m/a", "m/b", "m/c"]
        );
        index.flush().unwrap();
        assert_eq!(
            keys(index.oldest(false, None, 10).unwrap()),
            ["m/b", "m/c", "m/a"]
        );
        assert_eq!(
            keys(index.oldest(false, Some((1001, "m/b")), 10).unwrap()),
            ["m/c", "m/a"]
        );
        assert_eq!(
            keys(index.list("m/", Some("m/a"), 10).unwrap()),
            ["m/b", "m/c"]
        );
        assert!(index.list("n/", None, 10).unwrap().is_empty());
    }

    #[test]
    fn touches_of_many_keys_are_all_written() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let found: Vec<Indexed> = (0..200)
            .map(|i| Indexed {
                key: format!("m/k{i}"),
                size: 1,
                last_access: 1000,
                mutable: false,
            })
            .collect();
        index.insert_found(&found).unwrap();
        for e in &found[..100] {
            index.touch(&e.key);
        }
        index.flush().unwrap();
        let oldest = index.oldest(false, None, 200).unwrap();
        let untouched: Vec<&str> = oldest[..100].iter().map(|e| e.key.as_str()).collect();
        let mut expected: Vec<String> = (100..200).map(|i| format!("m/k{i}")).collect();
        expected.sort();
        assert_eq!(untouched, expected, "every touched key left the oldest");
        assert!(oldest[100..].iter().all(|e| e.last_access > 1000));
        index.flush().unwrap();
    }

    /// The plan SQLite chose for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut q = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = vec![rusqlite::types::Null; q.parameter_count()];
        let steps: Vec<String> = q
            .query_map(rusqlite::params_from_iter(unbound), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        steps.join("\n")
    }

    #[test]
    fn size_and_eviction_queries_seek_an_index_instead_of_scanning() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        // Some rows and statistics, so the planner chooses as it would on a real cache.
        let found: Vec<Indexed> = (0..2000)
            .map(|i| Indexed {
                key: format!("m/g{}/a-{i}.jar", i % 20),
                size: 100,
                last_access: 1000 + i % 300,
                mutable: i % 10 == 0,
            })
            .collect();
        index.insert_found(&found).unwrap();
        drop(index);
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        for analyzed in [false, true] {
            if analyzed {
                conn.execute_batch("ANALYZE").unwrap();
            }
            // The size at start-up and after every write: the totals, never the entries.
            let totals = plan(&conn, TOTALS);
            assert_eq!(totals, "SCAN totals", "analyzed: {analyzed}");
            // Eviction: a seek, then reading on in index order (no sort of the whole table).
            let oldest = plan(&conn, OLDEST);
            assert!(
                oldest.starts_with("SEARCH entries USING INDEX entries_by_kind_access")
                    && oldest.contains("(mutable=? AND (last_access,key)>(?,?))"),
                "analyzed: {analyzed}\n{oldest}"
            );
            assert!(!oldest.contains("TEMP B-TREE"), "{oldest}");
            // Removal of a victim and an access update: one key seek each.
            for sql in [FORGET, TOUCH] {
                let p = plan(&conn, sql);
                assert_eq!(p, "SEARCH entries USING PRIMARY KEY (key=?)", "{sql}");
            }
        }
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            indexes,
            ["entries_by_kind_access"],
            "one B-tree per write beside the table"
        );
    }

    #[test]
    fn the_dropped_access_index_goes_at_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Index::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch("CREATE INDEX entries_by_access ON entries (last_access)")
            .unwrap();
        drop(conn);
        drop(Index::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'entries_by_access'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_damaged_index_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![7u8; 8192]).unwrap();
        let index = Index::open(dir.path()).unwrap();
        assert_eq!(index.entries(), 0);
        assert!(index.state("walked").unwrap().is_none(), "to be rebuilt");
    }
}
