//! A bounded in-memory cache for documents repox derives from upstream bodies (rendered PyPI
//! pages, rewritten npm packuments and legacy JSON, conda repodata with its `base_url` replaced,
//! digest indexes).
//!
//! Deriving such a document can mean parsing tens of megabytes, so the result is kept keyed by
//! what it was derived from (the upstream body's SHA-256, plus the origin when it embeds
//! absolute URLs). Keys are content addresses, so an entry never goes stale: a changed upstream
//! body has a different digest. The least recently used entries go when the byte budget is
//! exceeded.
//!
//! The memos belong to the server ([`Memos`] in `Services`), not to the process, so two servers
//! in one process (tests, reloads) share nothing, and one budget (`[server] memory_budget`)
//! bounds them all: every kind of derived document competes in one least-recently-used map.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Memory for derived documents when `[server] memory_budget` is not set: small, because
/// documents too large for memory go to the store (npm packuments over 4 MiB) or are made again
/// when asked for, and the working set of an install (a few hundred index pages and packuments
/// of tens to hundreds of KiB) fits.
pub const DEFAULT_BUDGET: u64 = 16 << 20;

/// Every derived document a server keeps, under one byte budget.
pub struct Memos {
    memo: Memo<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Memos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memos")
            .field("budget", &self.memo.budget)
            .finish_non_exhaustive()
    }
}

impl Memos {
    /// Empty memos holding up to `budget` bytes together.
    pub fn new(budget: u64) -> Memos {
        Memos {
            memo: Memo::new(usize::try_from(budget).unwrap_or(usize::MAX)),
        }
    }

    /// The `kind` document for `key` (a kind names what was derived, so keys of different
    /// kinds never meet), marking it recently used.
    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self, kind: &str, key: &str) -> Option<T> {
        let value = self.memo.get(&format!("{kind}\0{key}"))?;
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value` as the `kind` document for `key`, weighing `weight` bytes.
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &self,
        kind: &str,
        key: String,
        value: T,
        weight: usize,
    ) {
        self.memo
            .insert(format!("{kind}\0{key}"), Arc::new(value), weight);
    }
}

/// A byte-budgeted least-recently-used map.
pub(crate) struct Memo<V> {
    budget: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    map: HashMap<String, Slot<V>>,
    used: usize,
    clock: u64,
}

struct Slot<V> {
    value: V,
    weight: usize,
    used_at: u64,
}

impl<V: Clone> Memo<V> {
    /// An empty memo holding up to `budget` bytes (by the weights given on insert).
    pub(crate) fn new(budget: usize) -> Memo<V> {
        Memo {
            budget,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                used: 0,
                clock: 0,
            }),
        }
    }

    /// The value for `key`, marking it recently used.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let mut inner = self.inner.lock().expect("memo lock");
        inner.clock += 1;
        let now = inner.clock;
        let slot = inner.map.get_mut(key)?;
        slot.used_at = now;
        Some(slot.value.clone())
    }

    /// Stores `value` as weighing `weight` bytes; values larger than the budget are not kept.
    pub(crate) fn insert(&self, key: String, value: V, weight: usize) {
        if weight > self.budget {
            return;
        }
        let mut inner = self.inner.lock().expect("memo lock");
        inner.clock += 1;
        let used_at = inner.clock;
        if let Some(old) = inner.map.insert(
            key,
            Slot {
                value,
                weight,
                used_at,
            },
        ) {
            inner.used -= old.weight;
        }
        inner.used += weight;
        while inner.used > self.budget {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, s)| s.used_at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = inner.map.remove(&oldest) {
                inner.used -= gone.weight;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_beyond_budget() {
        let memo = Memo::new(10);
        memo.insert("a".into(), 1, 4);
        memo.insert("b".into(), 2, 4);
        assert_eq!(memo.get("a"), Some(1));
        memo.insert("c".into(), 3, 4);
        assert_eq!(memo.get("b"), None, "b was least recently used");
        assert_eq!(memo.get("a"), Some(1));
        assert_eq!(memo.get("c"), Some(3));
        memo.insert("huge".into(), 4, 11);
        assert_eq!(memo.get("huge"), None);
    }

    #[test]
    fn kinds_share_one_budget_and_never_mix() {
        let memos = Memos::new(10);
        memos.insert("page", "k".into(), String::from("html"), 6);
        memos.insert("index", "k".into(), 7u32, 2);
        assert_eq!(memos.get::<String>("page", "k").as_deref(), Some("html"));
        assert_eq!(memos.get::<u32>("index", "k"), Some(7));
        assert_eq!(
            memos.get::<u32>("page", "k"),
            None,
            "a kind's type is its own"
        );
        memos.insert("other", "x".into(), 1u8, 6);
        assert_eq!(
            memos.get::<String>("page", "k"),
            None,
            "the least recently used document went to make room"
        );
        assert_eq!(Memos::new(DEFAULT_BUDGET).get::<u32>("index", "k"), None);
    }
}
