//! Rendered pages kept in memory, so a warm page request costs a lookup, not a parse.
//!
//! Parsing and rendering numpy's 2,000-file page takes milliseconds; pip and uv ask for it on
//! every install. Results are keyed by what they derive from (each upstream page's SHA-256 and
//! URL), so an entry never goes stale: a changed upstream page has a different key. Least
//! recently used entries are dropped past a byte budget.

use std::collections::HashMap;
use std::sync::Mutex;

/// A byte-budgeted least-recently-used map.
pub struct Memo<V> {
    budget: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    map: HashMap<String, (V, usize, u64)>,
    used: usize,
    clock: u64,
}

impl<V: Clone> Memo<V> {
    /// An empty memo holding values up to `budget` bytes in total.
    pub fn new(budget: usize) -> Memo<V> {
        Memo {
            budget,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                used: 0,
                clock: 0,
            }),
        }
    }

    /// The value for `key`, marked recently used.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut inner = self.inner.lock().expect("memo lock");
        inner.clock += 1;
        let now = inner.clock;
        let slot = inner.map.get_mut(key)?;
        slot.2 = now;
        Some(slot.0.clone())
    }

    /// Keeps `value`, weighing `weight` bytes, evicting the least recently used as needed.
    pub fn insert(&self, key: String, value: V, weight: usize) {
        if weight > self.budget {
            return;
        }
        let mut inner = self.inner.lock().expect("memo lock");
        inner.clock += 1;
        let now = inner.clock;
        if let Some((_, w, _)) = inner.map.insert(key, (value, weight, now)) {
            inner.used -= w;
        }
        inner.used += weight;
        while inner.used > self.budget {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, (_, _, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, w, _)) = inner.map.remove(&oldest) {
                inner.used -= w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_past_the_budget() {
        let m = Memo::new(10);
        m.insert("a".into(), 1, 4);
        m.insert("b".into(), 2, 4);
        assert_eq!(m.get("a"), Some(1));
        m.insert("c".into(), 3, 4);
        assert_eq!(m.get("b"), None);
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.get("c"), Some(3));
        m.insert("huge".into(), 4, 11);
        assert_eq!(m.get("huge"), None);
    }
}
