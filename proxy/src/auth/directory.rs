//! The users file as the running server sees it: re-read when it changes (checked at most once
//! a second), and the credential checks against it. Successful password checks are remembered
//! for a short while, because argon2 is slow on purpose and `pip install` sends the same
//! password with every one of its requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use std::time::{Duration, Instant, SystemTime};

use super::credentials::Credentials;
use super::secret::{self, Secret};
use super::users::{UserRecord, UsersError, UsersFile};

/// How often the file's metadata is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a verified password is taken on trust.
const VERIFIED_FOR: Duration = Duration::from_secs(120);
/// Remembered verifications at most.
const MAX_VERIFIED: usize = 10_000;

/// User name that Basic auth may carry with a token instead of the owner's name (PyPI's
/// convention for API tokens, which pip and twine users know).
const TOKEN_USER: &str = "__token__";

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user's name.
    pub name: String,
    /// Their record.
    pub user: UserRecord,
}

/// One reading of the users file, indexed for lookups.
#[derive(Default)]
pub struct Snapshot {
    file: UsersFile,
    /// Token id by token hash.
    by_hash: HashMap<String, String>,
}

impl Snapshot {
    fn new(file: UsersFile) -> Snapshot {
        let by_hash = file
            .tokens
            .iter()
            .map(|(id, t)| (t.sha256.clone(), id.clone()))
            .collect();
        Snapshot { file, by_hash }
    }

    /// How many users the file defines.
    pub fn len(&self) -> usize {
        self.file.users.len()
    }

    /// Whether the file defines no user at all.
    pub fn is_empty(&self) -> bool {
        self.file.users.is_empty()
    }

    /// The owner of `token`, when it is a current token.
    fn token_owner(&self, token: &Secret) -> Option<&str> {
        if !token.is_token() {
            return None;
        }
        let id = self.by_hash.get(&secret::token_hash(token.expose()))?;
        let record = self.file.tokens.get(id)?;
        (!record.expired(SystemTime::now())).then_some(record.user.as_str())
    }

    fn identity(&self, name: &str) -> Option<Identity> {
        let user = self.file.users.get(name)?.clone();
        Some(Identity {
            name: name.to_owned(),
            user,
        })
    }
}

/// What identifies one version of the file: a rename gives a new inode even within the mtime
/// granularity.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

type VerifiedKey = (String, [u8; 32], [u8; 32]);

/// The users file of a running server.
pub struct Directory {
    path: Option<PathBuf>,
    /// Read by every request: a lock-free snapshot (a lock's count and the `Arc`'s were writes
    /// to lines every request shares).
    current: ArcSwap<Snapshot>,
    checked: Mutex<(Instant, Option<Stamp>)>,
    /// The coarse monotonic millisecond (`store/clock.rs`) from which `checked` is due again:
    /// until then a request takes neither its lock nor the precise time.
    next_check: AtomicU64,
    /// (user, secret fingerprint, password hash fingerprint) → verified until. The password
    /// hash is part of the key, so a changed password invalidates at once.
    verified: Mutex<HashMap<VerifiedKey, Instant>>,
    /// argon2 runs at once at most: each takes 19 MiB and a core for tens of milliseconds, and
    /// a burst of logins must not starve the blocking pool that cache writes use.
    hashing: tokio::sync::Semaphore,
    /// Verifications in progress, shared by the requests that wait for them.
    running: Mutex<HashMap<VerifiedKey, Arc<tokio::sync::OnceCell<bool>>>>,
    /// argon2 verifications run so far (tests check the cache with it).
    argon2_runs: AtomicUsize,
}

impl Directory {
    /// Reads the users file at `path` (`None`: no users). A missing file has no users yet;
    /// a bad one is an error.
    pub fn open(path: Option<PathBuf>) -> Result<Directory, UsersError> {
        let (file, stamp) = match &path {
            Some(p) => (UsersFile::load(p)?, stamp(p)),
            None => (UsersFile::default(), None),
        };
        Ok(Directory {
            path,
            current: ArcSwap::from_pointee(Snapshot::new(file)),
            checked: Mutex::new((Instant::now(), stamp)),
            next_check: AtomicU64::new(0),
            verified: Mutex::default(),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            ),
            running: Mutex::default(),
            argon2_runs: AtomicUsize::new(0),
        })
    }

    /// The users file, if the server has one.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The current users, re-read first when the file changed (looked at once a second).
    pub fn current(&self) -> Arc<Snapshot> {
        self.check(false);
        self.current.load_full()
    }

    /// True when there are no users (the file looked at as by [`Directory::current`]), without
    /// taking a reference to them: what the auth gate asks of every request.
    pub fn is_empty(&self) -> bool {
        self.check(false);
        self.current.load().is_empty()
    }

    /// The current users, the file looked at now: before a login is refused, so that a user or
    /// token added a moment ago works at once.
    pub fn fresh(&self) -> Arc<Snapshot> {
        self.check(true);
        self.current.load_full()
    }

    /// Re-reads the file when it changed: looked at when `now`, else once [`CHECK_EVERY`].
    fn check(&self, now: bool) {
        if let Some(path) = &self.path
            && (now
                || crate::store::clock::monotonic_millis()
                    >= self.next_check.load(Ordering::Relaxed))
        {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if now || checked.0.elapsed() >= CHECK_EVERY {
                checked.0 = Instant::now();
                let due = crate::store::clock::monotonic_millis() + CHECK_EVERY.as_millis() as u64;
                self.next_check.store(due, Ordering::Relaxed);
                let now = stamp(path);
                if now != checked.1 {
                    checked.1 = now;
                    match UsersFile::load(path) {
                        Ok(file) => {
                            tracing::info!("re-read users file {}", path.display());
                            self.current.store(Arc::new(Snapshot::new(file)));
                        }
                        // Keep serving with the users we had; the operator sees why.
                        Err(e) => tracing::error!("{e}; keeping the previous users"),
                    }
                }
            }
        }
    }

    /// Who `credentials` log in as, if anyone.
    pub async fn authenticate(
        &self,
        users: &Snapshot,
        credentials: Credentials,
    ) -> Option<Identity> {
        match credentials {
            Credentials::Token(token) => users.identity(users.token_owner(&token)?),
            Credentials::Basic { user, secret } => {
                if let Some(owner) = users.token_owner(&secret) {
                    return (owner == user || user == TOKEN_USER || user.is_empty())
                        .then(|| users.identity(owner))
                        .flatten();
                }
                let record = users.file.users.get(&user);
                let phc = record.and_then(|r| r.password.clone());
                if self.password_ok(&user, &secret, phc).await {
                    users.identity(&user)
                } else {
                    None
                }
            }
        }
    }

    async fn password_ok(&self, user: &str, password: &Secret, phc: Option<String>) -> bool {
        let Some(phc) = phc else {
            // Unknown user or no password: spend the same time as a real check, so the answer's
            // timing does not tell which user names exist.
            let password = password.clone();
            let _permit = self.hashing.acquire().await;
            let _ = tokio::task::spawn_blocking(move || {
                secret::verify_password(password.expose(), dummy_hash())
            })
            .await;
            return false;
        };
        let key = (
            user.to_owned(),
            secret::fingerprint(password.expose()),
            secret::fingerprint(&phc),
        );
        let known = || {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified
                .get(&key)
                .is_some_and(|until| *until > Instant::now())
        };
        if known() {
            return true;
        }
        // The requests of one `pip install` arrive together with the same password: one of them
        // runs argon2, the others wait for its answer.
        let cell = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            running.entry(key.clone()).or_default().clone()
        };
        let ok = *cell
            .get_or_init(|| async {
                let _permit = self.hashing.acquire().await;
                let password = password.clone();
                self.argon2_runs.fetch_add(1, Ordering::Relaxed);
                tokio::task::spawn_blocking(move || {
                    secret::verify_password(password.expose(), &phc)
                })
                .await
                .unwrap_or(false)
            })
            .await;
        if ok {
            let now = Instant::now();
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= MAX_VERIFIED {
                verified.retain(|_, until| *until > now);
                if verified.len() >= MAX_VERIFIED {
                    verified.clear();
                }
            }
            verified.insert(key.clone(), now + VERIFIED_FOR);
        }
        // Remembered first, then retired: a request in between finds one or the other.
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if running.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                running.remove(&key);
            }
        }
        ok
    }
}

/// A password hash nobody knows the password of.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| secret::hash_password("repox dummy password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::permission::Role;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_argon2_run_serves_a_burst_of_logins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut file = UsersFile::default();
        file.add_user("alice", Role::Read, Some("pw"), BTreeMap::new())
            .unwrap();
        file.save(&path).unwrap();
        let directory = Arc::new(Directory::open(Some(path)).unwrap());
        let login = |secret: &str| Credentials::Basic {
            user: "alice".into(),
            secret: Secret::new(secret),
        };
        let users = directory.current();
        let burst: Vec<_> = (0..8)
            .map(|_| {
                let (directory, users, creds) = (directory.clone(), users.clone(), login("pw"));
                tokio::spawn(async move { directory.authenticate(&users, creds).await })
            })
            .collect();
        for task in burst {
            assert_eq!(task.await.unwrap().unwrap().name, "alice");
        }
        assert_eq!(directory.argon2_runs.load(Ordering::Relaxed), 1);
        // A wrong password is never remembered: each try costs a verification.
        for _ in 0..2 {
            assert!(
                directory
                    .authenticate(&users, login("nope"))
                    .await
                    .is_none()
            );
        }
        assert_eq!(directory.argon2_runs.load(Ordering::Relaxed), 3);
    }
}
