//! The documents a server keeps in memory, under one byte budget (`[server] memory_budget`):
//!
//! - **derived documents** repox makes from upstream bodies (rendered PyPI pages, rewritten npm
//!   packuments and legacy JSON, conda repodata with its `base_url` replaced, digest indexes).
//!   Deriving one can mean parsing tens of megabytes, so the result is kept keyed by what it was
//!   derived from (the upstream body's SHA-256, plus the origin when it embeds absolute URLs).
//!   Keys are content addresses, so an entry never goes stale: a changed upstream body has a
//!   different digest;
//! - **stored documents**: small cache entries (index pages, metadata, and the bodies of hot
//!   artifacts of up to 16 KiB, served from memory) the filesystem store keeps as bytes after
//!   reading them (`store/fs/hot.rs`), keyed by their file's path. The store forgets one
//!   whenever it replaces or removes the entry.
//!
//! Both kinds compete in one cache, so memory for documents has one bound, whatever the mix of
//! the day. quick_cache evicts the least used entries first (CLOCK-Pro: an entry read again
//! since it came in outlives one that was not), so a stream of one-off documents does not push
//! out an index page read on every install. An evicted document is only a cost: it is derived
//! or read from disk again when next asked for.
//!
//! The memos belong to the server ([`Memos`] in `Services`, shared with its store), not to the
//! process, so two servers in one process (tests, reloads) share nothing.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::Weighter;

/// Memory for documents when `[server] memory_budget` is not set: small, because documents too
/// large for memory go to the store (npm packuments over 4 MiB) or are made again when asked
/// for, and the working set of an install (a few hundred index pages and packuments of tens to
/// hundreds of KiB) fits.
pub const DEFAULT_BUDGET: u64 = 16 << 20;

/// What an entry costs beyond its key and the weight it was given: the cache's slot and the
/// value's `Arc` (a stored document's metadata is in the weight its store gives it).
const ENTRY_OVERHEAD: u64 = 256;

/// Every document a server keeps in memory, under one byte budget; clones share it.
#[derive(Clone)]
pub struct Memos {
    cache: Arc<quick_cache::sync::Cache<Key, Doc, Weight>>,
}

impl std::fmt::Debug for Memos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memos")
            .field("budget", &self.cache.capacity())
            .field("used", &self.cache.weight())
            .finish_non_exhaustive()
    }
}

/// A derived document is keyed by its kind and key, a stored one by its file's path.
#[derive(Clone, PartialEq, Eq)]
enum Key {
    /// Its kind and key.
    Derived(Box<str>, Box<str>),
    Stored(Box<[u8]>),
}

/// A [`Key`] borrowed for a lookup: a hit allocates nothing.
enum KeyRef<'a> {
    Derived(&'a str, &'a str),
    Stored(&'a [u8]),
}

// `Key` and `KeyRef` must hash alike: written out rather than derived for both.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Derived(kind, key) => KeyRef::Derived(kind, key).hash(state),
            Key::Stored(path) => KeyRef::Stored(path).hash(state),
        }
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyRef::Derived(kind, key) => {
                state.write_u8(0);
                kind.hash(state);
                key.hash(state);
            }
            KeyRef::Stored(path) => {
                state.write_u8(1);
                path.hash(state);
            }
        }
    }
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (KeyRef::Derived(kind, key), Key::Derived(k, v)) => *kind == &**k && *key == &**v,
            (KeyRef::Stored(a), Key::Stored(b)) => *a == &**b,
            _ => false,
        }
    }
}

impl Key {
    fn len(&self) -> usize {
        match self {
            Key::Derived(kind, key) => kind.len() + key.len(),
            Key::Stored(path) => path.len(),
        }
    }
}

#[derive(Clone)]
struct Doc {
    value: Arc<dyn Any + Send + Sync>,
    weight: u64,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Doc> for Weight {
    fn weight(&self, key: &Key, doc: &Doc) -> u64 {
        doc.weight + key.len() as u64 + ENTRY_OVERHEAD
    }
}

impl Memos {
    /// Empty memos holding up to `budget` bytes together.
    pub fn new(budget: u64) -> Memos {
        let options = quick_cache::OptionsBuilder::new()
            // One shard: quick_cache splits the budget evenly between shards and refuses an
            // entry heavier than its shard's part, while a derived document may rightly take
            // most of the budget. A hit takes the shard's lock for reading only.
            .shards(1)
            .estimated_items_capacity(usize::try_from(budget / 8192).unwrap_or(usize::MAX).max(64))
            .weight_capacity(budget)
            .build();
        let options = match options {
            Ok(options) => options,
            // Only an invalid allocation ratio fails, and none is set.
            Err(_) => unreachable!("quick_cache options without ratios are valid"),
        };
        Memos {
            cache: Arc::new(quick_cache::sync::Cache::with_options(
                options,
                Weight,
                Default::default(),
                Default::default(),
            )),
        }
    }

    /// The `kind` document for `key` (a kind names what was derived, so keys of different
    /// kinds never meet), marking it used.
    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self, kind: &str, key: &str) -> Option<T> {
        let doc = self.cache.get(&KeyRef::Derived(kind, key))?;
        doc.value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value` as the `kind` document for `key`, weighing `weight` bytes; a document
    /// heavier than the whole budget is not kept.
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &self,
        kind: &str,
        key: String,
        value: T,
        weight: usize,
    ) {
        let key = Key::Derived(kind.into(), key.into_boxed_str());
        self.keep(key, Arc::new(value), weight as u64);
    }

    /// The stored document kept for the file at `path` (a store's own type), marking it used.
    pub(crate) fn stored<T: Clone + Send + Sync + 'static>(&self, path: &[u8]) -> Option<T> {
        let doc = self.cache.get(&KeyRef::Stored(path))?;
        doc.value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value`, the document read from the file at `path`, weighing `weight` bytes.
    pub(crate) fn keep_stored<T: Send + Sync + 'static>(&self, path: &[u8], value: T, weight: u64) {
        self.keep(Key::Stored(path.into()), Arc::new(value), weight);
    }

    /// Forgets the stored document of the file at `path`, if any.
    pub(crate) fn forget_stored(&self, path: &[u8]) {
        self.cache.remove(&KeyRef::Stored(path));
    }

    fn keep(&self, key: Key, value: Arc<dyn Any + Send + Sync>, weight: u64) {
        let doc = Doc { value, weight };
        if Weight.weight(&key, &doc) > self.cache.capacity() {
            // quick_cache would refuse it too, but drop any older value of the key first.
            self.cache.remove(&key);
            return;
        }
        self.cache.insert(key, doc);
    }

    /// The bytes held now, by the weights given (at most the budget).
    pub fn used(&self) -> u64 {
        self.cache.weight()
    }

    /// The budget.
    pub fn budget(&self) -> u64 {
        self.cache.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_share_one_budget_and_never_mix() {
        let memos = Memos::new(DEFAULT_BUDGET);
        memos.insert("page", "k".into(), String::from("html"), 6);
        memos.insert("index", "k".into(), 7u32, 2);
        assert_eq!(memos.get::<String>("page", "k").as_deref(), Some("html"));
        assert_eq!(memos.get::<u32>("index", "k"), Some(7));
        assert_eq!(
            memos.get::<u32>("page", "k"),
            None,
            "a kind's type is its own"
        );
        memos.keep_stored(b"k", 9u64, 6);
        assert_eq!(memos.stored::<u64>(b"k"), Some(9));
        assert_eq!(
            memos.get::<String>("page", "k").as_deref(),
            Some("html"),
            "a path and a derived key never meet"
        );
        memos.forget_stored(b"k");
        assert_eq!(memos.stored::<u64>(b"k"), None);
        assert_eq!(memos.get::<u32>("index", "k"), Some(7));
    }

    #[test]
    fn never_above_the_budget_whatever_the_mix() {
        let budget = 64 * 1024;
        let memos = Memos::new(budget);
        for i in 0..2000u64 {
            let weight = (i * 7919) % 5000;
            if i % 2 == 0 {
                memos.keep_stored(format!("/c/data-v1/p{i}").as_bytes(), i, weight);
            } else {
                memos.insert("page", format!("{i}"), i, weight as usize);
            }
            assert!(
                memos.used() <= budget,
                "{} > {budget} after {i}",
                memos.used()
            );
        }
        assert!(
            memos.used() > budget / 2,
            "the budget is used: {}",
            memos.used()
        );
    }

    #[test]
    fn documents_used_again_outlive_one_off_documents() {
        let memos = Memos::new(64 * 1024);
        memos.keep_stored(b"/c/simple/numpy/", 1u8, 1000);
        memos.insert("pypi-page", "numpy".into(), 2u8, 1000);
        for i in 0..500 {
            // Each install asks for the hot two again between one-off documents.
            if i % 10 == 0 {
                assert_eq!(
                    memos.stored::<u8>(b"/c/simple/numpy/"),
                    Some(1),
                    "round {i}"
                );
                assert_eq!(memos.get::<u8>("pypi-page", "numpy"), Some(2), "round {i}");
            }
            memos.keep_stored(format!("/c/once/{i}").as_bytes(), 0u8, 2000);
        }
        assert_eq!(memos.stored::<u8>(b"/c/simple/numpy/"), Some(1));
        assert_eq!(memos.get::<u8>("pypi-page", "numpy"), Some(2));
        let kept = (0..500)
            .filter(|i| {
                memos
                    .stored::<u8>(format!("/c/once/{i}").as_bytes())
                    .is_some()
            })
            .count();
        assert!(
            kept < 40,
            "one-off documents were evicted: {kept} of 500 kept"
        );
    }

    #[test]
    fn a_document_heavier_than_the_budget_is_not_kept_nor_its_older_value() {
        let memos = Memos::new(10_000);
        memos.insert("page", "k".into(), 1u8, 100);
        memos.insert("page", "k".into(), 2u8, 20_000);
        assert_eq!(memos.get::<u8>("page", "k"), None);
        memos.insert("page", "big".into(), 3u8, 9000);
        assert_eq!(
            memos.get::<u8>("page", "big"),
            Some(3),
            "most of the budget fits"
        );
        assert!(memos.used() <= 10_000);
    }
}
