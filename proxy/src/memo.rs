//! A bounded in-memory cache for documents repox derives from upstream bodies (rendered PyPI
//! pages, rewritten npm packuments and legacy JSON, conda repodata with its `base_url` replaced,
//! digest indexes).
//!
//! Deriving such a document can mean parsing tens of megabytes, so the result is kept keyed by
//! what it was derived from (the upstream body's SHA-256, plus the origin when it embeds
//! absolute URLs). Keys are content addresses, so an entry never goes stale: a changed upstream
//! body has a different digest. The least recently used entries go when the byte budget is
//! exceeded.

use std::collections::HashMap;
use std::sync::Mutex;

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
}
